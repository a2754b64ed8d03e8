//! The resolver of `resolvers` sections: one plain thread per generation (not per shard),
//! which asks the nameservers for each followed name every `hold valid` and moves servers
//! to the addresses they answer, the way `set server … addr` does
//! ([`ServerState::change_addr`]): new connections and the next health check go to the new
//! address, connections already open stay where they are.
//!
//! Why a thread and not a task on a shard: resolutions are rare (one query per name every
//! few seconds), their waits are long (`timeout retry`), and the shards' executors are
//! pinned to the cores that carry traffic. A blocking UDP socket with a read timeout on a
//! thread of its own keeps that work and its waits off the request path and needs no
//! cross-shard wake-ups; a shard reads the result as it reads any address change, through
//! the server's `ArcSwap`.
//!
//! Servers of one backend that follow the same name with the same settings (several
//! `server` lines, or the slots of a `server-template`) share one resolution, and the
//! answer's addresses are spread over them ([`ServerDns::spread`]).
//!
//! Uses `config` (the sections, `message` over bytes) and `cluster` (server state, the
//! counters of `show resolvers`); used by `runtime` only, which starts the thread.

pub mod message;

use crate::cluster::dns_stats::{self as stats, Counter};
use crate::cluster::state::{ServerState, admin};
use crate::config::resolvers::{Family, Resolvers, ServerDns};
use message::{Outcome, Qtype};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server whose address follows a name.
pub struct Target {
    pub server: Arc<ServerState>,
    /// The backend's index, handed to the `changed` callback (tables to rebuild).
    pub backend: usize,
    pub host: String,
    /// The configured port (`None`: the client's destination port).
    pub port: Option<u16>,
    pub dns: ServerDns,
    /// The index of its `resolvers` section.
    pub resolvers: usize,
}

/// One name of one backend, and the servers that follow it.
struct Resolution {
    servers: Vec<Target>,
    next: Instant,
    /// When an answer last gave addresses (the start counts as one: `hold` runs from it).
    last_valid: Instant,
}

/// What the resolver thread is handed: the sections, the servers, when to stop and whom
/// to tell that a backend's servers changed.
pub struct Resolver {
    sections: Vec<Resolvers>,
    resolutions: Vec<Resolution>,
    stats: Arc<stats::Stats>,
}

impl Resolver {
    /// `None` when no server follows a name (no thread is needed).
    pub fn new(
        sections: Vec<Resolvers>,
        targets: Vec<Target>,
        stats: Arc<stats::Stats>,
    ) -> Option<Resolver> {
        let now = Instant::now();
        let mut resolutions: Vec<Resolution> = Vec::new();
        for t in targets {
            let same = resolutions.iter_mut().find(|r| {
                let f = &r.servers[0];
                f.backend == t.backend
                    && f.resolvers == t.resolvers
                    && f.host.eq_ignore_ascii_case(&t.host)
                    && f.dns.prefer == t.dns.prefer
            });
            match same {
                Some(r) => r.servers.push(t),
                None => resolutions.push(Resolution {
                    servers: vec![t],
                    next: now,
                    last_valid: now,
                }),
            }
        }
        (!resolutions.is_empty()).then_some(Resolver {
            sections,
            resolutions,
            stats,
        })
    }

    /// Runs until `stop()` says so. `changed(backend)` is called after servers of that
    /// backend changed address or maintenance state.
    pub fn run(mut self, stop: impl Fn() -> bool, changed: impl Fn(usize)) {
        // How often `stop` is looked at while nothing is due.
        const TICK: Duration = Duration::from_millis(100);
        while !stop() {
            let now = Instant::now();
            for i in 0..self.resolutions.len() {
                if self.resolutions[i].next > now || stop() {
                    continue;
                }
                let k = self.resolutions[i].servers[0].resolvers;
                let (sec, counters) = (&self.sections[k], &self.stats.sections[k].1);
                let ns = |n: usize| &counters[n].1;
                let (outcome, from) = resolve(sec, &self.resolutions[i].servers[0], &ns);
                let r = &mut self.resolutions[i];
                r.next = Instant::now() + sec.hold.valid.max(sec.timeout_resolve);
                let mut touched = Vec::new();
                apply(sec, r, outcome, &mut touched);
                if let Some(n) = from.filter(|_| !touched.is_empty()) {
                    ns(n).add(Counter::Update);
                }
                touched.dedup();
                for b in touched {
                    changed(b);
                }
            }
            let next = self.resolutions.iter().map(|r| r.next).min();
            let wait = next.map_or(TICK, |n| n.saturating_duration_since(Instant::now()));
            std::thread::sleep(wait.min(TICK));
        }
    }
}

/// What the nameservers said, after the retries.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Outcome(Outcome),
    Timeout,
}

/// The counters of the section's n-th nameserver.
type NsStats<'a> = dyn Fn(usize) -> &'a stats::Nameserver + 'a;

/// Asks for the preferred family, then the other one when the first has no record, as
/// HAProxy does. Also returns which nameserver gave the answer.
fn resolve(sec: &Resolvers, t: &Target, ns: &NsStats<'_>) -> (Answer, Option<usize>) {
    let order = match t.dns.prefer {
        Family::Ipv4 => [Qtype::A, Qtype::Aaaa],
        Family::Ipv6 => [Qtype::Aaaa, Qtype::A],
    };
    let first = query(sec, &t.host, order[0], ns);
    match first.0 {
        Answer::Outcome(Outcome::Valid(ref ips)) if ips.is_empty() => {}
        Answer::Outcome(Outcome::Other) => {}
        _ => return first,
    }
    match query(sec, &t.host, order[1], ns) {
        (Answer::Outcome(Outcome::Valid(ips)), _) if ips.is_empty() => first,
        second => second,
    }
}

/// One query, sent to every nameserver of the section, `resolve_retries` times at most,
/// each waiting `timeout retry`; the first answer wins.
fn query(sec: &Resolvers, host: &str, qtype: Qtype, ns: &NsStats<'_>) -> (Answer, Option<usize>) {
    let mut buf = vec![0u8; usize::from(sec.accepted_payload_size).max(512)];
    for _ in 0..sec.resolve_retries {
        let id = fastrand::u16(..);
        let Ok(q) = message::query(id, host, qtype, sec.accepted_payload_size) else {
            return (Answer::Outcome(Outcome::Other), None);
        };
        let sockets: Vec<(UdpSocket, usize)> = sec
            .nameservers
            .iter()
            .enumerate()
            .filter_map(|(n, server)| {
                let local: SocketAddr = if server.addr.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let send = || -> std::io::Result<UdpSocket> {
                    let s = UdpSocket::bind(local)?;
                    // connect(): the kernel drops datagrams from anyone but the nameserver.
                    s.connect(server.addr)?;
                    s.send(&q)?;
                    s.set_nonblocking(true)?;
                    Ok(s)
                };
                match send() {
                    Ok(s) => {
                        ns(n).add(Counter::Sent);
                        Some((s, n))
                    }
                    Err(_) => {
                        ns(n).add(Counter::SndError);
                        None
                    }
                }
            })
            .collect();
        let deadline = Instant::now() + sec.timeout_retry;
        while Instant::now() < deadline && !sockets.is_empty() {
            for &(ref s, n) in &sockets {
                while let Ok(len) = s.recv(&mut buf) {
                    match message::answer(&buf[..len], id, host, qtype) {
                        Some(o) => {
                            ns(n).add(match &o {
                                Outcome::Valid(ips) if ips.is_empty() => Counter::Other,
                                Outcome::Valid(_) => Counter::Valid,
                                Outcome::NxDomain => Counter::Nx,
                                Outcome::Refused => Counter::Refused,
                                Outcome::Truncated => Counter::Truncated,
                                Outcome::Other => Counter::Other,
                            });
                            if message::has_cname(&buf[..len]) {
                                ns(n).add(Counter::Cname);
                            }
                            return (Answer::Outcome(o), Some(n));
                        }
                        // An answer to an earlier query, or not DNS at all.
                        None if message::is_dns(&buf[..len]) => ns(n).add(Counter::Outdated),
                        None => ns(n).add(Counter::Invalid),
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for &(_, n) in &sockets {
            ns(n).add(Counter::Timeout);
        }
    }
    (Answer::Timeout, None)
}

/// Applies an answer to the servers of a resolution; pushes the backends that changed.
fn apply(sec: &Resolvers, r: &mut Resolution, answer: Answer, touched: &mut Vec<usize>) {
    let now = Instant::now();
    let (hold, why) = match &answer {
        Answer::Outcome(Outcome::Valid(ips)) if !ips.is_empty() => {
            r.last_valid = now;
            let currents: Vec<Option<IpAddr>> = r
                .servers
                .iter()
                .map(|t| {
                    let s = &t.server;
                    (s.admin() & admin::RMAINT == 0).then(|| s.ip_port().0)
                })
                .collect();
            let picks = r.servers[0].dns.spread(&currents, ips);
            for (t, ip) in r.servers.iter().zip(picks) {
                let s = &t.server;
                match ip {
                    Some(ip) => {
                        if let Some(what) = s.change_addr(ip, t.port) {
                            log::warn!("{}/{} {what} by DNS resolution.", s.backend, s.name);
                            touched.push(t.backend);
                        }
                        if s.admin() & admin::RMAINT != 0 {
                            s.set_admin(0, admin::RMAINT);
                            log::warn!(
                                "Server {}/{} ('{}') is UP/READY (resolves again).",
                                s.backend,
                                s.name,
                                t.host
                            );
                            touched.push(t.backend);
                        }
                    }
                    None => enter_maint(t, "No IP for server", touched),
                }
            }
            return;
        }
        Answer::Outcome(Outcome::Valid(_)) => (sec.hold.other, "DNS no expected record"),
        Answer::Outcome(Outcome::NxDomain) => (sec.hold.nx, "DNS NX status"),
        Answer::Outcome(Outcome::Refused) => (sec.hold.refused, "DNS refused status"),
        Answer::Outcome(Outcome::Other | Outcome::Truncated) => {
            (sec.hold.other, "unspecified DNS error")
        }
        Answer::Timeout => (sec.hold.timeout, "DNS timeout status"),
    };
    // The last good answer stays in force for `hold <status>`; past it the servers go
    // into maintenance until the name resolves again.
    if now.duration_since(r.last_valid) >= hold {
        for t in &r.servers {
            enter_maint(t, why, touched);
        }
    }
}

fn enter_maint(t: &Target, why: &str, touched: &mut Vec<usize>) {
    let s = &t.server;
    if s.admin() & admin::RMAINT == 0 {
        s.set_admin(admin::RMAINT, 0);
        log::warn!(
            "Server {}/{} is going DOWN for maintenance ({why}).",
            s.backend,
            s.name
        );
        touched.push(t.backend);
    }
}
