//! Agent checks (`agent-check`, `agent-port`, `agent-addr`, `agent-inter`, `agent-send`):
//! every `agent-inter` the prober connects to the server's agent, sends `agent-send`, and
//! reads one line of words separated by spaces, tabs or commas, in HAProxy 2.6's meaning:
//! `N%` (weight relative to the configured one), `maxconn:N`, `up` / `down` / `stopped` /
//! `fail` (the agent's health), `ready` / `drain` / `maint` (the admin state), and after
//! `#` a description. An agent that cannot be reached changes nothing (connectivity is
//! the regular checks' business), as in HAProxy.

use crate::cluster::BackendRt;
use crate::cluster::agent::AgentReport;
use crate::cluster::state::admin;
use crate::net::shard::ShardCtx;
use futures_lite::future;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An agent's answer, parsed; the last word of each kind wins.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reply<'a> {
    /// `up` (true) or `down`/`stopped`/`fail` (false), with the word.
    pub health: Option<(bool, &'a str)>,
    pub admin: Option<&'a str>,
    /// The `N%` word.
    pub weight: Option<&'a str>,
    /// The number of `maxconn:N`.
    pub maxconn: Option<&'a str>,
    /// The first word nobody understood.
    pub unknown: Option<&'a str>,
    /// What follows `#`.
    pub desc: &'a str,
}

/// Parses the agent's line (up to the first CR or LF); None when no line end came.
pub fn parse(buf: &[u8]) -> Option<Reply<'_>> {
    let end = buf.iter().position(|&b| b == b'\n' || b == b'\r')?;
    let line = std::str::from_utf8(&buf[..end]).unwrap_or("");
    let (words, desc) = match line.split_once('#') {
        Some((w, d)) => (w, d.trim_start_matches([' ', '\t']).trim_end()),
        None => (line, ""),
    };
    let mut r = Reply {
        desc,
        ..Reply::default()
    };
    for w in words.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
        let l = w.to_ascii_lowercase();
        match l.as_str() {
            "up" => r.health = Some((true, w)),
            "down" | "stopped" | "fail" => r.health = Some((false, w)),
            "ready" | "drain" | "maint" => r.admin = Some(w),
            _ if w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('%') => {
                r.weight = Some(w)
            }
            _ if l.starts_with("maxconn:") => r.maxconn = Some(&w[8..]),
            _ => {
                if r.unknown.is_none() {
                    r.unknown = Some(w);
                }
            }
        }
    }
    Some(r)
}

/// `N%` of the configured weight (HAProxy's `server_parse_weight_change_request`), or its
/// complaint.
pub fn weight_of(word: &str, configured: u32) -> Result<u32, &'static str> {
    let digits = word.trim_end_matches('%');
    if !word.ends_with('%') || digits.contains('%') {
        return Err("Trailing garbage in weight string");
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| "Empty weight string empty or preceded by garbage")?;
    Ok((configured as u64 * n.min(25_600) / 100).min(256) as u32)
}

/// One agent's prober, for the whole generation.
pub struct Agent {
    pub be: Arc<BackendRt>,
    pub srv: usize,
    /// `agent-addr`; else the server's current address.
    pub ip: Option<std::net::IpAddr>,
    pub port: u16,
    pub inter: Duration,
    pub send: Option<String>,
    pub first_delay: Duration,
}

/// Asks the agent every `inter` until the generation stops.
pub async fn run(shard: Rc<ShardCtx>, a: Agent) {
    let control = &shard.shared.control;
    let mut delay = a.first_delay;
    loop {
        let stop = future::or(
            async {
                glommio::timer::sleep(delay).await;
                false
            },
            async {
                control.wait_stop().await;
                true
            },
        )
        .await;
        if stop {
            return;
        }
        delay = a.inter;
        let server = &a.be.lb.servers[a.srv];
        let Some(state) = &server.agent else { return };
        let t0 = Instant::now();
        let running = state.running.begin();
        let got = future::or(ask(&a), async {
            glommio::timer::sleep(a.inter).await;
            Err(("L4TOUT", "Layer4 timeout"))
        })
        .await;
        drop(running);
        let took = t0.elapsed().as_millis() as u64;
        let line = match got {
            Ok(line) => line,
            Err(status) => {
                state.set_report(AgentReport {
                    status: Some(status),
                    duration_ms: took,
                    desc: String::new(),
                });
                continue;
            }
        };
        let Some(r) = parse(&line) else {
            let mut rep = state.report();
            rep.desc = "Ignoring incomplete line from agent".into();
            state.set_report(rep);
            continue;
        };
        apply(&shard, &a, &r, took);
    }
}

/// Connects, sends `agent-send`, reads until a line end or the agent closes.
async fn ask(a: &Agent) -> Result<Vec<u8>, (&'static str, &'static str)> {
    let con = ("L4CON", "Layer4 connection problem");
    let ip = a.ip.unwrap_or_else(|| a.be.lb.servers[a.srv].ip_port().0);
    let to = SocketAddr::new(ip, a.port);
    // From the `source` address too, as HAProxy's agent checks (tcp_connect_server).
    let s = match a.be.source[a.srv].outgoing(None, to) {
        Some(o) => match crate::sys::outgoing_socket(to, &o) {
            Ok((fd, lease)) => {
                let s = glommio::net::TcpStream::connect_prepared(fd, to, Some(a.inter)).await;
                if let (Ok(s), Some(l)) = (&s, lease) {
                    l.hold_for(std::os::fd::AsRawFd::as_raw_fd(&crate::sys::fd(s)));
                }
                s
            }
            Err(e) => Err(e.into()),
        },
        None => glommio::net::TcpStream::connect_timeout(to, a.inter).await,
    };
    let mut s = s.map_err(|_| con)?;
    if let Some(m) = &a.send {
        s.write_all(m.as_bytes()).await.map_err(|_| con)?;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.contains(&b'\n') || buf.contains(&b'\r') || buf.len() > 16_384 {
                    break;
                }
            }
        }
    }
    if buf.is_empty() {
        return Err(("L7RSP", "Layer7 invalid response"));
    }
    // A line cut by the close still counts as one (HAProxy reads it at the end).
    if !buf.contains(&b'\n') && !buf.contains(&b'\r') {
        buf.push(b'\n');
    }
    Ok(buf)
}

/// Applies an answer in HAProxy's order: admin state, weight, maxconn, then health.
fn apply(shard: &ShardCtx, a: &Agent, r: &Reply, took: u64) {
    let be = &a.be;
    let server = &be.lb.servers[a.srv];
    let Some(state) = &server.agent else { return };
    match r.admin {
        Some(w) if w.eq_ignore_ascii_case("drain") => server.set_admin(admin::FDRAIN, 0),
        Some(w) if w.eq_ignore_ascii_case("maint") => server.set_admin(admin::FMAINT, 0),
        Some(_) => server.set_admin(0, admin::FMAINT | admin::FDRAIN),
        None => {}
    }
    let mut warning: Option<String> = None;
    if let Some(w) = r.weight {
        match weight_of(w, server.configured_weight) {
            Ok(v) => server.set_user_weight(v),
            Err(e) => warning = Some(e.into()),
        }
    }
    if let Some(m) = r.maxconn {
        match m.parse::<u32>() {
            Ok(v) => server.set_maxconn(v),
            Err(_) => {
                warning.get_or_insert_with(|| "Integer expected".into());
            }
        }
    }
    let (status, desc) = match r.health {
        Some((up, word)) => {
            let mut msg = r.desc.to_string();
            if msg.is_empty() || up {
                if let Some(u) = r.unknown {
                    msg = u.to_string();
                } else if let Some(w) = &warning {
                    msg = w.clone();
                }
            }
            let desc = if msg.is_empty() {
                format!("via agent : {word}")
            } else {
                format!("via agent : {word} ({msg})")
            };
            let status = if up {
                ("L7OK", "Layer7 check passed")
            } else {
                ("L7STS", "Layer7 wrong status")
            };
            (status, desc)
        }
        None => {
            let desc = match (r.unknown, &warning) {
                (Some(u), _) => format!("agent reports an error : {u}"),
                (None, Some(w)) => format!("agent warns : {w}"),
                (None, None) => String::new(),
            };
            (("CHECKED", "No status change"), desc)
        }
    };
    state.set_report(AgentReport {
        status: Some(status),
        duration_ms: took,
        desc: desc.clone(),
    });
    let t = r.health.and_then(|(up, _)| server.agent_health(!up));
    be.lb.rebuild();
    be.queue.wake_all();
    if let Some(t) = t {
        crate::net::shard::announce(shard, be, a.srv, t, &desc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_every_kind_last_one_wins() {
        let r = parse(b"75%, drain up\tmaxconn:30 50% # back soon\n").unwrap();
        assert_eq!(r.weight, Some("50%"));
        assert_eq!(r.admin, Some("drain"));
        assert_eq!(r.health, Some((true, "up")));
        assert_eq!(r.maxconn, Some("30"));
        assert_eq!(r.desc, "back soon");
        let r = parse(b"STOPPED bogus\r\n").unwrap();
        assert_eq!(r.health, Some((false, "STOPPED")));
        assert_eq!(r.unknown, Some("bogus"));
        assert!(parse(b"up").is_none());
    }

    #[test]
    fn weights_are_relative_to_the_configured_one() {
        assert_eq!(weight_of("50%", 100), Ok(50));
        assert_eq!(weight_of("0%", 100), Ok(0));
        assert_eq!(weight_of("400%", 100), Ok(256));
        assert!(weight_of("5x%", 100).is_err());
    }
}
