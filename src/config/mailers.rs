//! `mailers` sections and the proxies' `email-alert` keywords (configuration manual 3.6 and
//! 4.2): which SMTP servers hear of server state changes, from and to whom, and from which
//! log level on. Pure: a mailer given by host name is resolved once, at load.

use super::diag::{Diags, Loc};
use super::keywords::{Kw, Status::*};
use super::model::Config;
use super::units::parse_time;
use std::net::SocketAddr;
use std::time::Duration;

/// The keywords of a `mailers` section (for `--list-keywords` and "did you mean").
pub static SECTION: &[Kw] = &[
    Kw {
        name: "mailer",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "timeout mail",
        status: Supported(()),
        sections: 0,
    },
];

/// A `mailers NAME` section.
#[derive(Clone, Debug)]
pub struct Mailers {
    pub name: String,
    pub loc: Loc,
    pub mailers: Vec<Mailer>,
    /// `timeout mail`: how long one mail may take, connection included (HAProxy: 10 s).
    pub timeout: Duration,
}

/// `mailer NAME ADDR:PORT`.
#[derive(Clone, Debug)]
pub struct Mailer {
    pub name: String,
    pub addr: SocketAddr,
}

impl Mailers {
    pub fn new(name: &str, loc: Loc) -> Mailers {
        Mailers {
            name: name.to_string(),
            loc,
            mailers: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One line inside a `mailers` section.
pub fn section_kw(m: &mut Mailers, w: &[String], loc: &Loc, d: &mut Diags) {
    match w[0].as_str() {
        "mailer" => {
            let (Some(name), Some(addr)) = (w.get(1), w.get(2)) else {
                d.error(
                    loc,
                    "'mailer' expects <name> and <addr>:<port> as arguments",
                );
                return;
            };
            if let Some(extra) = w.get(3) {
                d.error(
                    loc,
                    format!("'mailer {name}': unexpected argument '{extra}'"),
                );
                return;
            }
            if m.mailers.iter().any(|x| &x.name == name) {
                d.error(
                    loc,
                    format!(
                        "mailer '{name}' is already declared in mailers '{}'",
                        m.name
                    ),
                );
                return;
            }
            match mailer_addr(addr) {
                Ok(sa) => m.mailers.push(Mailer {
                    name: name.clone(),
                    addr: sa,
                }),
                Err(e) => d.error(loc, format!("'mailer {name}' : {e} in '{addr}'")),
            }
        }
        "timeout" if w.get(1).is_some_and(|t| t == "mail") => {
            let Some(v) = w.get(2) else {
                d.error(loc, "'timeout mail' expects a time");
                return;
            };
            match parse_time(v, Duration::from_millis(1)) {
                Ok(t) if !t.is_zero() => m.timeout = t,
                Ok(_) => d.error(loc, "'timeout mail' must be greater than 0"),
                Err(e) => d.error(loc, format!("'timeout mail': {e}")),
            }
        }
        kw => {
            let h = super::keywords::hint(kw, SECTION.iter().map(|k| k.name));
            d.error(
                loc,
                format!("unknown keyword '{kw}' in 'mailers' section{h}"),
            );
        }
    }
}

/// `IP:PORT` or `HOST:PORT`; the port is required, as HAProxy's.
fn mailer_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let s = s
        .strip_prefix("ipv4@")
        .or(s.strip_prefix("ipv6@"))
        .unwrap_or(s);
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let Some((host, port)) = s.rsplit_once(':').filter(|(h, _)| !h.contains(':')) else {
        return Err("missing port specification".into());
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port '{port}'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("invalid address: '{host}'"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("invalid address: '{host}'"))
}

/// A proxy's `email-alert` lines as written (inherited from `defaults` like any setting).
#[derive(Clone, Debug, Default)]
pub struct EmailAlertConf {
    pub mailers: Option<(String, Loc)>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub level: Option<u8>,
    pub myhostname: Option<String>,
    /// Where the first `email-alert` line of the proxy (or its defaults) is.
    pub loc: Option<Loc>,
}

/// What a proxy with complete `email-alert` settings sends, and where.
#[derive(Clone, Debug)]
pub struct EmailAlert {
    /// Index into `Config::mailers`.
    pub mailers: usize,
    pub from: String,
    pub to: String,
    /// Messages of this syslog level or a more urgent one are mailed (HAProxy: alert).
    pub level: u8,
    /// The name said in `HELO` (HAProxy: the system's host name).
    pub myhostname: Option<String>,
}

/// `email-alert from|to|level|mailers|myhostname VALUE`.
pub fn proxy_kw(c: &mut EmailAlertConf, w: &[String], loc: &Loc, d: &mut Diags) {
    let Some(what) = w.get(1) else {
        d.error(
            loc,
            "'email-alert' expects 'from', 'to', 'level', 'mailers' or 'myhostname'",
        );
        return;
    };
    let Some(v) = w.get(2).filter(|v| !v.is_empty()) else {
        d.error(loc, format!("'email-alert {what}' expects an argument"));
        return;
    };
    if let Some(extra) = w.get(3) {
        d.error(
            loc,
            format!("'email-alert {what}': unexpected argument '{extra}'"),
        );
        return;
    }
    match what.as_str() {
        "from" => c.from = Some(v.clone()),
        "to" => c.to = Some(v.clone()),
        "myhostname" => c.myhostname = Some(v.clone()),
        "mailers" => c.mailers = Some((v.clone(), loc.clone())),
        "level" => match super::parser::log_level(v) {
            Some(l) => c.level = Some(l),
            None => {
                d.error(loc, format!("'email-alert level': unknown log level '{v}'"));
                return;
            }
        },
        other => {
            d.error(loc, format!("email-alert: unknown argument '{other}'."));
            return;
        }
    }
    c.loc.get_or_insert_with(|| loc.clone());
}

/// Checks every proxy's `email-alert` settings against the `mailers` sections: complete
/// ones become `Proxy::email_alert`; incomplete ones are ignored with HAProxy's warning; a
/// `mailers` name that no section has is an error.
pub fn resolve(cfg: &mut Config, d: &mut Diags) {
    let Config {
        proxies, mailers, ..
    } = cfg;
    for px in proxies.iter_mut() {
        let c = &px.email_alert_conf;
        let Some(loc) = &c.loc else {
            continue;
        };
        let (Some((name, mloc)), Some(from), Some(to)) = (&c.mailers, &c.from, &c.to) else {
            d.warn(
                loc,
                format!(
                    "'email-alert' will be ignored for {} '{}' (the presence any of 'email-alert from', 'email-alert level' 'email-alert mailers', 'email-alert myhostname', or 'email-alert to' requires each of 'email-alert from', 'email-alert mailers' and 'email-alert to' to be present).",
                    px.kind.name(),
                    px.name
                ),
            );
            continue;
        };
        let Some(i) = mailers.iter().position(|m| &m.name == name) else {
            d.error(
                mloc,
                format!("Proxy '{}': unable to find mailers '{name}'.", px.name),
            );
            continue;
        };
        px.email_alert = Some(EmailAlert {
            mailers: i,
            from: from.clone(),
            to: to.clone(),
            level: c.level.unwrap_or(1),
            myhostname: c.myhostname.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailer_addresses_need_a_port() {
        assert_eq!(
            mailer_addr("127.0.0.1:25").unwrap(),
            "127.0.0.1:25".parse().unwrap()
        );
        assert_eq!(
            mailer_addr("[::1]:587").unwrap(),
            "[::1]:587".parse().unwrap()
        );
        assert_eq!(
            mailer_addr("localhost:25").unwrap().port(),
            25,
            "a host name resolves at load"
        );
        assert!(
            mailer_addr("127.0.0.1")
                .unwrap_err()
                .contains("missing port")
        );
        assert!(
            mailer_addr("127.0.0.1:x")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(
            mailer_addr("no.such.host.invalid:25")
                .unwrap_err()
                .contains("invalid address")
        );
    }
}
