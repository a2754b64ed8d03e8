//! `log-forward` sections (configuration manual 3.10): a syslog relay that receives
//! RFC 3164 / RFC 5424 lines over UDP (`dgram-bind`) and TCP (`bind`) and sends each to the
//! section's `log` targets, in their formats. Pure: the runtime part is `log::forward`.

use super::diag::{Diags, Loc};
use super::keywords::{Kw, Status::*};
use super::model::LogTarget;
use super::units::parse_time;
use std::net::SocketAddr;
use std::time::Duration;

/// The keywords of a `log-forward` section (for `--list-keywords` and "did you mean").
pub static SECTION: &[Kw] = &[
    Kw {
        name: "dgram-bind",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "bind",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "log",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "maxconn",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "backlog",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "timeout client",
        status: Supported(()),
        sections: 0,
    },
];

/// A `log-forward NAME` section.
#[derive(Clone, Debug)]
pub struct LogForward {
    pub name: String,
    pub loc: Loc,
    /// `dgram-bind ADDR`: UDP sockets.
    pub dgram: Vec<(SocketAddr, Loc)>,
    /// `bind ADDR`: TCP sockets (lines end with a newline, or are octet-counted).
    pub stream: Vec<(SocketAddr, Loc)>,
    pub targets: Vec<LogTarget>,
    /// `maxconn`: TCP clients at once (HAProxy's default for the section: 10).
    pub maxconn: usize,
    /// `backlog`: the TCP sockets' listen backlog (default: maxconn).
    pub backlog: Option<u32>,
    /// `timeout client`: a TCP client idle that long is closed.
    pub timeout_client: Option<Duration>,
}

impl LogForward {
    pub fn new(name: &str, loc: Loc) -> LogForward {
        LogForward {
            name: name.to_string(),
            loc,
            dgram: Vec::new(),
            stream: Vec::new(),
            targets: Vec::new(),
            maxconn: 10,
            backlog: None,
            timeout_client: None,
        }
    }
}

/// `ADDR:PORT` (`udp@`/`tcp@`/`ipv4@`/`ipv6@` prefixes allowed; `*` or empty for any
/// address).
fn bind_addr(s: &str) -> Option<SocketAddr> {
    let s = [
        "udp@", "udp4@", "udp6@", "tcp@", "tcp4@", "tcp6@", "ipv4@", "ipv6@",
    ]
    .iter()
    .find_map(|p| s.strip_prefix(p))
    .unwrap_or(s);
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    match host {
        "" | "*" | "0.0.0.0" => Some(SocketAddr::from(([0, 0, 0, 0], port))),
        h => super::parser::log_addr_tcp(&format!("{h}:{port}")),
    }
}

/// One line inside a `log-forward` section.
pub fn section_kw(f: &mut LogForward, w: &[String], loc: &Loc, d: &mut Diags) {
    let arg = w.get(1).map(String::as_str);
    match w[0].as_str() {
        kw @ ("dgram-bind" | "bind") => {
            let Some(a) = arg else {
                d.error(
                    loc,
                    format!("'{kw}' expects {{<path>|[addr1]:port1[-end1]}}{{,...}} as arguments."),
                );
                return;
            };
            if let Some(extra) = w.get(2) {
                d.error(
                    loc,
                    format!("'{kw} {a}': '{extra}' is not supported in a log-forward section (corelb binds plain sockets)"),
                );
                return;
            }
            let addrs: Option<Vec<SocketAddr>> = a.split(',').map(bind_addr).collect();
            match addrs {
                Some(v) => {
                    let list = if kw == "bind" {
                        &mut f.stream
                    } else {
                        &mut f.dgram
                    };
                    list.extend(v.into_iter().map(|sa| (sa, loc.clone())));
                }
                None => d.error(
                    loc,
                    format!("'{kw}': invalid address '{a}' (ADDR:PORT expected)"),
                ),
            }
        }
        "log" => {
            if w.len() < 3 && arg != Some("global") {
                d.error(
                    loc,
                    "log : expects <address> and <facility> or global as arguments",
                );
                return;
            }
            if arg == Some("global") {
                d.error(
                    loc,
                    "'log global' is not supported in a log-forward section by corelb: name the targets",
                );
                return;
            }
            if let Some(t) = super::parser::parse_log_target(&w[1..], loc, d) {
                f.targets.push(t);
            }
        }
        kw @ ("maxconn" | "backlog") => {
            match arg.and_then(|v| v.parse::<u32>().ok()).filter(|v| *v > 0) {
                Some(v) if kw == "maxconn" => f.maxconn = v as usize,
                Some(v) => f.backlog = Some(v),
                None => d.error(
                    loc,
                    format!(
                        "'{kw}' expects a positive number (got '{}')",
                        arg.unwrap_or("")
                    ),
                ),
            }
        }
        "timeout" if arg == Some("client") => {
            let Some(v) = w.get(2) else {
                d.error(loc, "'timeout client' expects a time");
                return;
            };
            match parse_time(v, Duration::from_millis(1)) {
                Ok(t) => f.timeout_client = Some(t),
                Err(e) => d.error(loc, format!("'timeout client': {e}")),
            }
        }
        kw => {
            let kw = match (kw, arg) {
                ("timeout", Some(a)) => format!("timeout {a}"),
                _ => kw.to_string(),
            };
            let h = super::keywords::hint(&kw, SECTION.iter().map(|k| k.name));
            d.error(
                loc,
                format!("unknown keyword '{kw}' in log-forward section.{h}"),
            );
        }
    }
}
