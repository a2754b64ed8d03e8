//! `log` lines (global and proxy): the target, `len`, `format`, `sample`, facility and levels.

use super::*;

pub(super) const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
pub(super) const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// A syslog level's name (`err` for 3); `None` past `debug`.
pub(crate) fn level_name(level: u8) -> Option<&'static str> {
    LEVELS.get(usize::from(level)).copied()
}

/// A syslog level by name (`emerg` 0 … `debug` 7).
pub(crate) fn log_level(name: &str) -> Option<u8> {
    LEVELS.iter().position(|x| *x == name).map(|l| l as u8)
}

/// `log <target> [len N] [format F] <facility> [<level> [<minlevel>]]`
pub(crate) fn parse_log(args: &[String], loc: &Loc, d: &mut Diags) -> Option<LogTarget> {
    let Some(target) = args.first() else {
        d.error(loc, "'log' expects a target and a facility");
        return None;
    };
    let dest = match target.as_str() {
        "stdout" | "fd@1" => LogDest::Stdout,
        "stderr" | "fd@2" => LogDest::Stderr,
        t if t.starts_with('/') || t.starts_with("unix@") => {
            LogDest::Unix(PathBuf::from(t.trim_start_matches("unix@")))
        }
        t if t.starts_with("ring@") && t.len() > 5 => LogDest::Ring(t[5..].to_string()),
        t if t.starts_with("ring@") || t.starts_with("tcp@") || t.starts_with("fd@") => {
            d.error(loc, format!("log target '{t}' is not supported yet"));
            return None;
        }
        t => {
            let t = t
                .strip_prefix("udp@")
                .or_else(|| t.strip_prefix("udp4@"))
                .or_else(|| t.strip_prefix("udp6@"))
                .or_else(|| t.strip_prefix("ipv4@"))
                .or_else(|| t.strip_prefix("ipv6@"))
                .unwrap_or(t);
            match log_addr(t) {
                Some(sa) => LogDest::Udp(sa),
                None => {
                    d.error(loc, format!("invalid log target '{t}' (an address[:port], a host name[:port], a unix socket path, stdout or stderr)"));
                    return None;
                }
            }
        }
    };
    let mut i = 1;
    let mut maxlen = 1024;
    let mut format = SyslogFormat::Unspec;
    let mut sample = None;
    loop {
        match args.get(i).map(String::as_str) {
            Some("len") => {
                match args.get(i + 1).and_then(|v| parse_uint(v, 80, 65535).ok()) {
                    Some(v) => maxlen = v as usize,
                    None => d.error(loc, "'log ... len' expects a length between 80 and 65535"),
                }
                i += 2;
            }
            Some("format") => {
                match args.get(i + 1).map(String::as_str) {
                    Some(f) => match SyslogFormat::parse(f) {
                        Some(v) => format = v,
                        None => d.error(
                            loc,
                            format!("unknown log format '{f}' (rfc3164, rfc5424, short, raw, iso, timed, priority or local)"),
                        ),
                    },
                    None => d.error(loc, "'log ... format' expects a format name"),
                }
                i += 2;
            }
            Some("sample") => {
                match args.get(i + 1).map(|v| parse_log_sample(v)) {
                    Some(Ok(v)) => sample = Some(v),
                    Some(Err(e)) => d.error(loc, format!("'log ... sample': {e}")),
                    None => d.error(loc, "'log ... sample' expects RANGES:SIZE (e.g. 1:10)"),
                }
                i += 2;
            }
            _ => break,
        }
    }
    let Some(fac) = args.get(i) else {
        d.error(loc, "'log' expects a facility (e.g. local0)");
        return None;
    };
    let Some(facility) = FACILITIES.iter().position(|f| f == fac) else {
        let h = keywords::hint(fac, FACILITIES.iter().copied());
        d.error(loc, format!("unknown log facility '{fac}'{h}"));
        return None;
    };
    let level = |s: Option<&String>, def: u8, d: &mut Diags| -> u8 {
        match s {
            None => def,
            Some(l) => match LEVELS.iter().position(|x| x == l) {
                Some(v) => v as u8,
                None => {
                    let h = keywords::hint(l, LEVELS.iter().copied());
                    d.error(loc, format!("unknown log level '{l}'{h}"));
                    def
                }
            },
        }
    };
    let max_level = level(args.get(i + 1), 7, d);
    let min_level = level(args.get(i + 2), 0, d);
    if args.len() > i + 3 {
        d.error(
            loc,
            format!("unexpected argument '{}' on 'log' line", args[i + 3]),
        );
    }
    Some(LogTarget {
        dest,
        facility: facility as u8,
        max_level,
        min_level,
        maxlen,
        format,
        sample,
        loc: loc.clone(),
    })
}

/// A UDP log target: `IP`, `IP:PORT`, `[IPv6]:PORT` or a host name (`localhost`) with an
/// optional port, resolved once here; the port defaults to 514.
pub(super) fn log_addr(t: &str) -> Option<std::net::SocketAddr> {
    use std::net::ToSocketAddrs as _;
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        return Some(sa);
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Some((ip, 514).into());
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (t, 514),
    };
    if host.is_empty() || host.contains([':', '/', '@']) {
        return None;
    }
    // IPv4 first, as HAProxy's resolution of a log host prefers it.
    let addrs: Vec<_> = (host, port).to_socket_addrs().ok()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
}

/// `sample 1,3-5:10` → positions 1 and 3 to 5 of every 10 lines.
pub(super) fn parse_log_sample(v: &str) -> Result<LogSample, String> {
    let (ranges, size) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("'{v}' is not RANGES:SIZE (e.g. 1:10)"))?;
    let size: u32 = size
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("invalid sample size '{size}'"))?;
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
            return Err(format!("invalid sample range '{r}'"));
        };
        if a == 0 || b < a || b > size {
            return Err(format!("sample range '{r}' must be within 1..{size}"));
        }
        out.push((a, b));
    }
    Ok(LogSample { ranges: out, size })
}

/// A TCP syslog server (a ring's `server`): `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`; the port
/// is required.
pub(crate) fn log_addr_tcp(t: &str) -> Option<std::net::SocketAddr> {
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        return (sa.port() != 0).then_some(sa);
    }
    let (_, port) = t.rsplit_once(':')?;
    port.parse::<u16>().ok().filter(|p| *p != 0)?;
    log_addr(t)
}
