//! `ring` sections (configuration manual 3.9): in-memory buffers of log lines that `log
//! ring@NAME` targets write into, read on the runtime API with `show events NAME`, and
//! forwarded to TCP syslog servers (`server` lines). HAProxy 2.6's defaults and errors
//! (src/sink.c, `cfg_parse_ring`). Pure: the runtime part is `log::ring`.

use super::diag::{Diags, Loc};
use super::keywords::{Kw, Status::*};
use super::model::{Config, LogDest, SyslogFormat};
use super::units::parse_time;
use std::net::SocketAddr;
use std::time::Duration;

/// The keywords of a `ring` section (for `--list-keywords` and "did you mean").
pub static SECTION: &[Kw] = &[
    Kw {
        name: "description",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "format",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "maxlen",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "size",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "timeout connect",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "timeout server",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "server",
        status: Supported(()),
        sections: 0,
    },
];

/// HAProxy's ring size without `size` (its BUFSIZE).
pub const DEFAULT_SIZE: usize = 16384;

/// A `ring NAME` section.
#[derive(Clone, Debug)]
pub struct Ring {
    pub name: String,
    pub loc: Loc,
    /// `description` (HAProxy shows the name without one).
    pub description: Option<String>,
    /// `format`: the header each line gets in the ring (HAProxy's default: raw).
    pub format: SyslogFormat,
    /// `maxlen`: a longer line is cut (none: the log target's `len` cuts it).
    pub maxlen: Option<usize>,
    /// `size`: the bytes the ring keeps (older lines go first).
    pub size: usize,
    pub timeout_connect: Option<Duration>,
    pub timeout_server: Option<Duration>,
    pub servers: Vec<RingServer>,
}

/// `server NAME ADDR:PORT [log-proto legacy|octet-count]`: a TCP syslog server every line
/// of the ring goes to.
#[derive(Clone, Debug)]
pub struct RingServer {
    pub name: String,
    pub addr: SocketAddr,
    /// `log-proto octet-count` (RFC 6587 `LEN MSG`); else each line ends with a newline.
    pub octet_count: bool,
    pub loc: Loc,
}

impl Ring {
    pub fn new(name: &str, loc: Loc) -> Ring {
        Ring {
            name: name.to_string(),
            loc,
            description: None,
            format: SyslogFormat::Raw,
            maxlen: None,
            size: DEFAULT_SIZE,
            timeout_connect: None,
            timeout_server: None,
            servers: Vec::new(),
        }
    }
}

/// HAProxy's `atol`: the leading digits, 0 without any.
fn atol(s: &str) -> usize {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s[..n].parse().unwrap_or(0)
}

/// One line inside a `ring` section, with HAProxy 2.6's errors.
pub fn section_kw(r: &mut Ring, w: &[String], loc: &Loc, d: &mut Diags) {
    let arg = w.get(1).map(String::as_str);
    match w[0].as_str() {
        "description" => match arg {
            Some(_) => r.description = Some(w[1..].join(" ")),
            None => d.error(loc, "missing ring description text."),
        },
        "format" => match arg.map(|f| (f, SyslogFormat::parse(f))) {
            Some((_, Some(f))) => r.format = f,
            Some((f, None)) => d.error(loc, format!("unknown format '{f}'.")),
            None => d.error(loc, "unknown format ''."),
        },
        "maxlen" => {
            let v = arg.map(atol).unwrap_or(0);
            if v == 0 {
                d.error(
                    loc,
                    format!("invalid size '{}' for new sink buffer.", arg.unwrap_or("")),
                );
            } else {
                r.maxlen = Some(v);
            }
        }
        "size" => {
            let v = arg.map(atol).unwrap_or(0);
            if v == 0 {
                d.error(
                    loc,
                    format!("invalid size '{}' for new sink buffer.", arg.unwrap_or("")),
                );
            } else if v < r.size {
                d.warn(
                    loc,
                    format!(
                        "ignoring new size '{v}' that is smaller than current size '{}' for ring '{}'.",
                        r.size, r.name
                    ),
                );
            } else {
                r.size = v;
            }
        }
        "timeout" => {
            let which = arg.unwrap_or("");
            if which != "connect" && which != "server" {
                // HAProxy 2.6 says nothing of the others, and uses none.
                d.warn(
                    loc,
                    format!(
                        "'timeout {which}' is ignored in ring '{}': only 'timeout connect' and 'timeout server' apply to a ring",
                        r.name
                    ),
                );
                return;
            }
            let Some(v) = w.get(2) else {
                d.error(loc, format!("'timeout {which}' expects a time."));
                return;
            };
            match parse_time(v, Duration::from_millis(1)) {
                Ok(t) if which == "connect" => r.timeout_connect = Some(t),
                Ok(t) => r.timeout_server = Some(t),
                Err(e) => d.error(loc, format!("'timeout {which}': {e}")),
            }
        }
        "server" => server(r, w, loc, d),
        kw => {
            let h = super::keywords::hint(kw, SECTION.iter().map(|k| k.name));
            d.error(loc, format!("unknown statement '{kw}'.{h}"));
        }
    }
}

/// `server NAME ADDR:PORT [log-proto legacy|octet-count]` (other server parameters of
/// HAProxy's — `ssl`, `check` — are refused: corelb forwards over plain TCP).
fn server(r: &mut Ring, w: &[String], loc: &Loc, d: &mut Diags) {
    let (Some(name), Some(addr)) = (w.get(1), w.get(2)) else {
        d.error(
            loc,
            "'server' expects <name> and <addr>[:<port>] as arguments.",
        );
        return;
    };
    let a = addr
        .strip_prefix("tcp@")
        .or(addr.strip_prefix("ipv4@"))
        .or(addr.strip_prefix("ipv6@"))
        .unwrap_or(addr);
    let Some(sa) = super::parser::log_addr_tcp(a) else {
        d.error(
            loc,
            format!("'server {name}': invalid address '{addr}' (an address:port or host:port)"),
        );
        return;
    };
    let mut octet_count = false;
    let mut i = 3;
    while let Some(p) = w.get(i).map(String::as_str) {
        match (p, w.get(i + 1).map(String::as_str)) {
            ("log-proto", Some("legacy")) => octet_count = false,
            ("log-proto", Some("octet-count")) => octet_count = true,
            ("log-proto", v) => {
                d.error(
                    loc,
                    format!(
                        "'log-proto' expects one of 'legacy' or 'octet-count' but got '{}' for server '{name}'.",
                        v.unwrap_or("")
                    ),
                );
                return;
            }
            (p, _) => {
                d.error(
                    loc,
                    format!(
                        "'server {name}': '{p}' is not supported in a ring section (corelb forwards ring lines over plain TCP; 'log-proto' is)"
                    ),
                );
                return;
            }
        }
        i += 2;
    }
    r.servers.push(RingServer {
        name: name.clone(),
        addr: sa,
        octet_count,
        loc: loc.clone(),
    });
}

/// After parsing: every `log ring@NAME` names a ring, as HAProxy requires.
pub fn resolve(cfg: &Config, d: &mut Diags) {
    let targets = cfg.global.logs.iter().map(|t| (t, "global ")).chain(
        cfg.proxies
            .iter()
            .flat_map(|p| p.log.targets.iter().map(|t| (t, ""))),
    );
    let forwarded = cfg.log_forwards.iter().flat_map(|f| f.targets.iter());
    let targets = targets.chain(forwarded.map(|t| (t, "")));
    for (t, global) in targets {
        if let LogDest::Ring(name) = &t.dest
            && !cfg.rings.iter().any(|r| &r.name == name)
        {
            let h = super::keywords::hint(name, cfg.rings.iter().map(|r| r.name.as_str()));
            d.error(
                &t.loc,
                format!("{global}log server uses unknown ring named '{name}'.{h}"),
            );
        }
    }
}
