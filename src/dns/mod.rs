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
//! A `tcp@` nameserver is asked over one TCP connection kept open between queries (as
//! HAProxy 2.6 keeps its DNS sessions), each message after its 2-byte length.
//!
//! A name `_service._proto.name` is asked for SRV records: each record gives a server its
//! target, port and weight; the target's address comes from the answer's additional
//! section, else from an A/AAAA query of its own.
//!
//! `http-request do-resolve` asks this thread too, over a channel
//! (`cluster::dns_lookup`); its answers are reused for `hold valid`.
//!
//! Servers of one backend that follow the same name with the same settings (several
//! `server` lines, or the slots of a `server-template`) share one resolution, and the
//! answer's addresses are spread over them ([`ServerDns::spread`]).
//!
//! Uses `config` (the sections, `message` over bytes) and `cluster` (server state, the
//! counters of `show resolvers`); used by `runtime` only, which starts the thread.

pub mod message;

use crate::cluster::dns_lookup::Lookup;
use crate::cluster::dns_stats::{self as stats, Counter};
use crate::cluster::state::{ServerState, admin};
use crate::config::resolvers::{Family, Resolvers, ServerDns, is_srv_name};
use message::{Outcome, Qtype};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
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
    /// SRV names: the record (target, port) each server holds and when an answer last
    /// had it (`hold obsolete` runs from then).
    records: Vec<Option<(String, u16, Instant)>>,
    /// SRV names: the servers without a record, the next record's first: in declaration
    /// order at start, a server that gives its record up at the end (HAProxy's list).
    free: std::collections::VecDeque<usize>,
}

/// The open connection to a `tcp@` nameserver and what it has received so far.
struct TcpConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpConn {
    /// The next whole message, `None` until one has arrived; an error when the
    /// connection is closed or broken.
    fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let [a, b, ..] = self.buf[..] {
                let len = usize::from(u16::from_be_bytes([a, b]));
                if self.buf.len() >= 2 + len {
                    let m = self.buf[2..2 + len].to_vec();
                    self.buf.drain(..2 + len);
                    return Ok(Some(m));
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Sends query `q` to a TCP nameserver, on the kept connection while the server has not
/// closed it, else on a new one.
fn tcp_send(
    slot: &mut Option<TcpConn>,
    addr: SocketAddr,
    q: &[u8],
    timeout: Duration,
) -> std::io::Result<()> {
    // A kept connection the server closed meanwhile reads as closed now; what it holds
    // (late answers) stays in the buffer and is read as outdated.
    let alive = slot.as_ref().is_some_and(|c| peek_open(&c.stream));
    if !alive {
        *slot = None;
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        *slot = Some(TcpConn {
            stream: s,
            buf: Vec::new(),
        });
    }
    let c = slot.as_mut().expect("connected above");
    let len = u16::try_from(q.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(q);
    // A query is far smaller than an empty socket buffer: a short write is a broken
    // connection.
    let sent = c.stream.write_all(&msg);
    if sent.is_err() {
        *slot = None;
    }
    sent
}

/// Whether a non-blocking stream is still open (no EOF or error waiting).
fn peek_open(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// What the resolver thread is handed: the sections, the servers, when to stop and whom
/// to tell that a backend's servers changed.
pub struct Resolver {
    sections: Vec<Resolvers>,
    resolutions: Vec<Resolution>,
    stats: Arc<stats::Stats>,
    /// `http-request do-resolve` requests from the shards.
    lookups: Option<Receiver<Lookup>>,
    /// Their answers, reused for `hold valid` (HAProxy answers do-resolve from its
    /// resolution cache too): by section, family and lower-cased name.
    cache: HashMap<(usize, bool, String), (Instant, Option<IpAddr>)>,
    /// Per section, per nameserver: the connection of a `tcp@` nameserver.
    tcp: Vec<Vec<Option<TcpConn>>>,
}

impl Resolver {
    /// `None` when no server follows a name and no `do-resolve` rule asks (no thread is
    /// needed).
    pub fn new(
        sections: Vec<Resolvers>,
        targets: Vec<Target>,
        stats: Arc<stats::Stats>,
        lookups: Option<Receiver<Lookup>>,
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
                Some(r) => {
                    r.free.push_back(r.servers.len());
                    r.servers.push(t);
                    r.records.push(None);
                }
                None => resolutions.push(Resolution {
                    servers: vec![t],
                    next: now,
                    last_valid: now,
                    records: vec![None],
                    free: [0].into(),
                }),
            }
        }
        let tcp = sections
            .iter()
            .map(|s| s.nameservers.iter().map(|_| None).collect())
            .collect();
        (!resolutions.is_empty() || lookups.is_some()).then_some(Resolver {
            sections,
            resolutions,
            stats,
            lookups,
            cache: HashMap::new(),
            tcp,
        })
    }

    /// Runs until `stop()` says so. `changed(backend)` is called after servers of that
    /// backend changed address, weight or maintenance state.
    pub fn run(mut self, stop: impl Fn() -> bool, changed: impl Fn(usize)) {
        // How often `stop` is looked at while nothing is due.
        const TICK: Duration = Duration::from_millis(100);
        while !stop() {
            let now = Instant::now();
            for i in 0..self.resolutions.len() {
                if self.resolutions[i].next > now || stop() {
                    continue;
                }
                let r = &mut self.resolutions[i];
                let k = r.servers[0].resolvers;
                let (sec, counters) = (&self.sections[k], &self.stats.sections[k].1);
                let ns = |n: usize| &counters[n].1;
                let mut asker = Asker {
                    sec,
                    ns: &ns,
                    tcp: &mut self.tcp[k],
                };
                let t = &r.servers[0];
                let srv = is_srv_name(&t.host);
                let (outcome, from) = if srv {
                    asker.query(&t.host, Qtype::Srv)
                } else {
                    asker.resolve(&t.host, t.dns.prefer)
                };
                r.next = Instant::now() + sec.hold.valid.max(sec.timeout_resolve);
                let mut touched = Vec::new();
                if srv {
                    apply_srv(&mut asker, r, outcome, &mut touched);
                } else {
                    apply(sec, r, outcome, &mut touched);
                }
                if let Some(n) = from.filter(|_| !touched.is_empty()) {
                    ns(n).add(Counter::Update);
                }
                touched.sort_unstable();
                touched.dedup();
                for b in touched {
                    changed(b);
                }
            }
            let next = self.resolutions.iter().map(|r| r.next).min();
            let wait = next.map_or(TICK, |n| n.saturating_duration_since(Instant::now()));
            match &self.lookups {
                // A lookup wakes the thread at once.
                Some(rx) => match rx.recv_timeout(wait.min(TICK)) {
                    Ok(l) => self.lookup(l),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => self.lookups = None,
                },
                None => std::thread::sleep(wait.min(TICK)),
            }
        }
    }

    /// Answers one `do-resolve` request, from the cache while its answer is younger than
    /// `hold valid`.
    fn lookup(&mut self, l: Lookup) {
        let Some(sec) = self.sections.get(l.section) else {
            return l.reply.send(None);
        };
        // Bounded: a client choosing names must not grow it without end.
        const CACHE_MAX: usize = 4096;
        let key = (
            l.section,
            l.prefer == Family::Ipv4,
            l.host.to_ascii_lowercase(),
        );
        let now = Instant::now();
        if let Some((at, ip)) = self.cache.get(&key)
            && now.duration_since(*at) < sec.hold.valid
        {
            return l.reply.send(*ip);
        }
        let counters = &self.stats.sections[l.section].1;
        let ns = |n: usize| &counters[n].1;
        let mut asker = Asker {
            sec,
            ns: &ns,
            tcp: &mut self.tcp[l.section],
        };
        let ip = match asker.resolve(&l.host, l.prefer).0 {
            Answer::Outcome(Outcome::Valid(ips)) => ips.first().copied(),
            _ => None,
        };
        if self.cache.len() >= CACHE_MAX {
            self.cache
                .retain(|_, (at, _)| now.duration_since(*at) < sec.hold.valid);
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
        }
        // Only good answers are kept: a name that fails is asked again next time.
        if ip.is_some() {
            self.cache.insert(key, (Instant::now(), ip));
        }
        l.reply.send(ip);
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

/// Asks the nameservers of one section.
struct Asker<'a, 'b> {
    sec: &'a Resolvers,
    ns: &'a NsStats<'b>,
    tcp: &'a mut [Option<TcpConn>],
}

impl Asker<'_, '_> {
    /// Asks for the preferred family, then the other one when the first has no record, as
    /// HAProxy does. Also returns which nameserver gave the answer.
    fn resolve(&mut self, host: &str, prefer: Family) -> (Answer, Option<usize>) {
        let order = match prefer {
            Family::Ipv4 => [Qtype::A, Qtype::Aaaa],
            Family::Ipv6 => [Qtype::Aaaa, Qtype::A],
        };
        let first = self.query(host, order[0]);
        match first.0 {
            Answer::Outcome(Outcome::Valid(ref ips)) if ips.is_empty() => {}
            Answer::Outcome(Outcome::Other) => {}
            _ => return first,
        }
        match self.query(host, order[1]) {
            (Answer::Outcome(Outcome::Valid(ips)), _) if ips.is_empty() => first,
            second => second,
        }
    }

    /// One query, sent to every nameserver of the section, `resolve_retries` times at
    /// most, each waiting `timeout retry`; the first answer wins.
    fn query(&mut self, host: &str, qtype: Qtype) -> (Answer, Option<usize>) {
        let (sec, ns) = (self.sec, self.ns);
        let mut buf = vec![0u8; usize::from(sec.accepted_payload_size).max(512)];
        for _ in 0..sec.resolve_retries {
            let id = fastrand::u16(..);
            let Ok(q) = message::query(id, host, qtype, sec.accepted_payload_size) else {
                return (Answer::Outcome(Outcome::Other), None);
            };
            // The UDP socket of each nameserver asked (`None`: a TCP one, in `self.tcp`).
            let mut asked: Vec<(Option<UdpSocket>, usize)> = Vec::new();
            for (n, server) in sec.nameservers.iter().enumerate() {
                let sent = if server.tcp {
                    tcp_send(&mut self.tcp[n], server.addr, &q, sec.timeout_retry).map(|()| None)
                } else {
                    udp_send(server.addr, &q).map(Some)
                };
                match sent {
                    Ok(s) => {
                        ns(n).add(Counter::Sent);
                        asked.push((s, n));
                    }
                    Err(_) => ns(n).add(Counter::SndError),
                }
            }
            let deadline = Instant::now() + sec.timeout_retry;
            while Instant::now() < deadline && !asked.is_empty() {
                for &(ref s, n) in &asked {
                    loop {
                        let got = match s {
                            Some(s) => s.recv(&mut buf).ok().map(|len| buf[..len].to_vec()),
                            None => match self.tcp[n].as_mut().map(TcpConn::recv) {
                                Some(Ok(m)) => m,
                                // Closed or broken: the next query connects again.
                                Some(Err(_)) => {
                                    self.tcp[n] = None;
                                    None
                                }
                                None => None,
                            },
                        };
                        let Some(msg) = got else { break };
                        match message::answer(&msg, id, host, qtype) {
                            Some(o) => {
                                ns(n).add(match &o {
                                    Outcome::Valid(ips) if ips.is_empty() => Counter::Other,
                                    Outcome::Srv(rs) if rs.is_empty() => Counter::Other,
                                    Outcome::Valid(_) | Outcome::Srv(_) => Counter::Valid,
                                    Outcome::NxDomain => Counter::Nx,
                                    Outcome::Refused => Counter::Refused,
                                    Outcome::Truncated => Counter::Truncated,
                                    Outcome::Other => Counter::Other,
                                });
                                if message::has_cname(&msg) {
                                    ns(n).add(Counter::Cname);
                                }
                                return (Answer::Outcome(o), Some(n));
                            }
                            // An answer to an earlier query, or not DNS at all.
                            None if message::is_dns(&msg) => ns(n).add(Counter::Outdated),
                            None => ns(n).add(Counter::Invalid),
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            for &(_, n) in &asked {
                ns(n).add(Counter::Timeout);
            }
        }
        (Answer::Timeout, None)
    }
}

/// A UDP socket connected to the nameserver (so the kernel drops datagrams from anyone
/// else), the query sent on it.
fn udp_send(addr: SocketAddr, q: &[u8]) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(local)?;
    s.connect(addr)?;
    s.send(q)?;
    s.set_nonblocking(true)?;
    Ok(s)
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
                match ip {
                    Some(ip) => set_up(t, ip, t.port, touched),
                    None => enter_maint(t, "No IP for server", touched),
                }
            }
            return;
        }
        Answer::Outcome(Outcome::Valid(_) | Outcome::Srv(_)) => {
            (sec.hold.other, "DNS no expected record")
        }
        Answer::Outcome(Outcome::NxDomain) => (sec.hold.nx, "DNS NX status"),
        Answer::Outcome(Outcome::Refused) => (sec.hold.refused, "DNS refused status"),
        Answer::Outcome(Outcome::Other | Outcome::Truncated) => {
            (sec.hold.other, "unspecified DNS error")
        }
        Answer::Timeout => (sec.hold.timeout, "DNS timeout status"),
    };
    // The last good answer stays in force for `hold <status>`; past it the servers go
    // into maintenance until the name resolves again (SRV names: they give their
    // records up, and the next answer hands them out again).
    if now.duration_since(r.last_valid) >= hold {
        for (i, (t, rec)) in r.servers.iter().zip(&mut r.records).enumerate() {
            if rec.take().is_some() {
                r.free.push_back(i);
            }
            enter_maint(t, why, touched);
        }
    }
}

/// Applies the answer to an SRV query, as HAProxy's resolv_check_response does: a server
/// keeps its record while answers have it (and `hold obsolete` after), a record nobody
/// holds goes to the first free server, a server whose record went away goes into
/// maintenance ("entry removed from SRV record"). A held record gives its server the port,
/// the address (additional section, else an A/AAAA query of the target) and the weight
/// (SRV weight 0-65535 mapped to 0-256 as `(w + 255) / 256`, unless
/// `resolve-opts ignore-weight`).
fn apply_srv(
    asker: &mut Asker<'_, '_>,
    r: &mut Resolution,
    answer: Answer,
    touched: &mut Vec<usize>,
) {
    let recs = match answer {
        Answer::Outcome(Outcome::Srv(recs)) if !recs.is_empty() => recs,
        other => return apply(asker.sec, r, other, touched),
    };
    let now = Instant::now();
    r.last_valid = now;
    let has = |rec: &message::Srv, t: &str, p: u16| rec.target == t && rec.port == p;
    for (i, (t, slot)) in r.servers.iter().zip(&mut r.records).enumerate() {
        let Some((target, port, seen)) = slot else {
            continue;
        };
        if recs.iter().any(|x| has(x, target, *port)) {
            *seen = now;
        } else if now.duration_since(*seen) >= asker.sec.hold.obsolete {
            *slot = None;
            r.free.push_back(i);
            enter_maint(t, "entry removed from SRV record", touched);
            t.server
                .set_addr(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), None);
        }
    }
    for rec in &recs {
        if r.records.iter().flatten().any(|(t, p, _)| has(rec, t, *p)) {
            continue;
        }
        // More records than servers: the extra ones wait for a server to free up.
        if let Some(i) = r.free.pop_front() {
            r.records[i] = Some((rec.target.clone(), rec.port, now));
        }
    }
    for (t, slot) in r.servers.iter().zip(&r.records) {
        let Some(rec) = slot
            .as_ref()
            .and_then(|(tg, p, _)| recs.iter().find(|x| has(x, tg, *p)))
        else {
            continue;
        };
        let ip = rec
            .addr
            .or_else(|| match asker.resolve(&rec.target, t.dns.prefer).0 {
                Answer::Outcome(Outcome::Valid(ips)) => {
                    let current =
                        (t.server.admin() & admin::RMAINT == 0).then(|| t.server.ip_port().0);
                    t.dns.pick(current, &ips)
                }
                _ => None,
            });
        let Some(ip) = ip else {
            enter_maint(t, "No IP for server", touched);
            continue;
        };
        set_up(t, ip, Some(rec.port), touched);
        let weight = u32::from(rec.weight).div_ceil(256);
        if !t.dns.ignore_weight && t.server.user_weight() != weight {
            t.server.set_user_weight(weight);
            touched.push(t.backend);
        }
    }
}

/// Moves a server to the address an answer gave and takes it out of resolution
/// maintenance.
fn set_up(t: &Target, ip: IpAddr, port: Option<u16>, touched: &mut Vec<usize>) {
    let s = &t.server;
    if let Some(what) = s.change_addr(ip, port) {
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
