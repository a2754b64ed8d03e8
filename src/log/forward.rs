//! `log-forward` sections at run time: a syslog relay on threads of its own (never a
//! shard's). Each line received over UDP (`dgram-bind`, one datagram a line) or TCP
//! (`bind`: lines ended by a newline, or octet-counted as RFC 6587 `LEN MSG`) is parsed as
//! RFC 5424 or RFC 3164 (HAProxy 2.6's `parse_log_message`) and sent to every `log` target
//! of the section whose levels admit it, rewritten in the target's format as HAProxy
//! rewrites it: a target without `format` gets the line as it came.

use crate::config::SyslogFormat;
use crate::config::log_forward::LogForward;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A received line, split as HAProxy splits it (empty fields: absent or `-`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The priority (`<PRI>`), if the line had one.
    pub pri: Option<u8>,
    /// `Some(true)`: RFC 5424 (`<PRI>1 …`), `Some(false)`: RFC 3164, None: no header.
    pub rfc5424: Option<bool>,
    pub time: &'a str,
    pub host: &'a str,
    pub tag: &'a str,
    pub pid: &'a str,
    pub msgid: &'a str,
    pub sd: &'a str,
    pub msg: &'a [u8],
}

fn dash(s: &str) -> &str {
    if s == "-" { "" } else { s }
}

/// Splits `line` (no trailing newline).
pub fn parse(line: &[u8]) -> Parsed<'_> {
    let mut p = Parsed {
        msg: line,
        ..Default::default()
    };
    let Some(rest) = line.strip_prefix(b"<") else {
        return p;
    };
    let Some(end) = rest.iter().take(4).position(|&b| b == b'>') else {
        return p;
    };
    let Some(pri) = std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|s| s.parse::<u8>().ok())
        .filter(|&v| v < 192)
    else {
        return p;
    };
    p.pri = Some(pri);
    let rest = &rest[end + 1..];
    p.msg = rest;
    let Ok(text) = std::str::from_utf8(rest) else {
        return p;
    };
    if let Some(r) = text.strip_prefix("1 ") {
        // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        let mut it = r.splitn(6, ' ');
        let (Some(time), Some(host), Some(tag), Some(pid), Some(msgid), Some(rest)) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return p;
        };
        let (sd, msg) = if let Some(r) = rest.strip_prefix('-') {
            ("", r.strip_prefix(' ').unwrap_or(r))
        } else if rest.starts_with('[') {
            // Elements `[…]` one after the other; quoted values may hold `]` escaped.
            let b = rest.as_bytes();
            let mut i = 0;
            while i < b.len() && b[i] == b'[' {
                let mut q = false;
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'"' => q = !q,
                        b']' if !q => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            let i = i.min(b.len());
            (
                &rest[..i],
                rest[i..].strip_prefix(' ').unwrap_or(&rest[i..]),
            )
        } else {
            return p;
        };
        p.rfc5424 = Some(true);
        (p.time, p.host, p.tag, p.pid, p.msgid, p.sd) = (
            dash(time),
            dash(host),
            dash(tag),
            dash(pid),
            dash(msgid),
            sd,
        );
        p.msg = msg.as_bytes();
        return p;
    }
    // `Mmm dd hh:mm:ss HOST TAG[PID]: MSG` (the tag ends at `[`, `:` or a space).
    let b = text.as_bytes();
    let is_time = b.len() > 16
        && b[3] == b' '
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
        && b[15] == b' '
        && super::MON.contains(&&text[..3]);
    if !is_time {
        return p;
    }
    p.rfc5424 = Some(false);
    p.time = &text[..15];
    let r = &text[16..];
    let (host, r) = r.split_once(' ').unwrap_or((r, ""));
    p.host = host;
    let tag_end = r.find(['[', ':', ' ']).unwrap_or(r.len());
    p.tag = &r[..tag_end];
    let mut r = &r[tag_end..];
    if let Some(x) = r.strip_prefix('[')
        && let Some((pid, after)) = x.split_once(']')
    {
        p.pid = pid;
        r = after;
    }
    let r = r.strip_prefix(':').unwrap_or(r);
    let r = r.strip_prefix(' ').unwrap_or(r);
    p.msg = r.as_bytes();
    p
}

/// RFC 3164's `Mmm dd hh:mm:ss` from an RFC 5424 time (its fields as written, no zone
/// change, as HAProxy does), or None.
fn time_3164(t: &str) -> Option<String> {
    let b = t.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let mon: usize = t.get(5..7)?.parse().ok()?;
    let day: u32 = t.get(8..10)?.parse().ok()?;
    let m = super::MON.get(mon.checked_sub(1)?)?;
    Some(format!("{m} {day:2} {}", t.get(11..19)?))
}

/// RFC 5424's time from an RFC 3164 one: this year, the zone unknown (`-00:00`).
fn time_5424(t: &str) -> Option<String> {
    let mon = super::MON.iter().position(|m| *m == &t[..3])? + 1;
    let day: u32 = t[4..6].trim().parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let year = crate::sys::localtime(now.as_secs() as i64).tm_year + 1900;
    Some(format!("{year:04}-{mon:02}-{day:02}T{}-00:00", &t[7..15]))
}

/// The line a target of `format` (and facility `default_facility`, for a line without a
/// priority) gets for `p` (`raw`: the line as received), without the newline.
pub fn render(
    format: SyslogFormat,
    default_facility: u8,
    p: &Parsed,
    raw: &[u8],
    out: &mut Vec<u8>,
) {
    use std::io::Write as _;
    let level = p.pri.map_or(0, |v| v & 7);
    let facility = p.pri.map_or(default_facility, |v| v >> 3);
    let pri = facility as u32 * 8 + level as u32;
    let now = std::time::SystemTime::now();
    let now_hdr = |f: SyslogFormat, _: &mut Vec<u8>| {
        let meta = super::framing::Meta {
            hostname: None,
            tag: "",
            pid: 0,
        };
        let mut h = Vec::new();
        super::framing::header(f, facility, level, now, &meta, b"", &mut h);
        h
    };
    match format {
        SyslogFormat::Unspec => out.extend_from_slice(raw),
        SyslogFormat::Raw => out.extend_from_slice(p.msg),
        SyslogFormat::Short => {
            let _ = write!(out, "<{level}>");
            out.extend_from_slice(p.msg);
        }
        SyslogFormat::Priority => {
            let _ = write!(out, "<{pri}>");
            out.extend_from_slice(p.msg);
        }
        f @ (SyslogFormat::Iso | SyslogFormat::Timed) => {
            let h = now_hdr(f, out);
            out.extend_from_slice(&h);
            out.extend_from_slice(p.msg);
        }
        f @ (SyslogFormat::Rfc3164 | SyslogFormat::Local) => {
            let _ = write!(out, "<{pri}>");
            let time = match p.rfc5424 {
                Some(false) => Some(p.time.to_string()),
                Some(true) => time_3164(p.time),
                None => None,
            };
            match time {
                Some(t) => {
                    out.extend_from_slice(t.as_bytes());
                    out.push(b' ');
                }
                None => {
                    // `<PRI>Mmm dd hh:mm:ss ` of now, from the local format's header.
                    let h = now_hdr(SyslogFormat::Local, out);
                    let start = h.iter().position(|&b| b == b'>').map_or(0, |i| i + 1);
                    let end = h.len() - " [0]: ".len();
                    out.extend_from_slice(&h[start..end]);
                    out.push(b' ');
                }
            }
            if f == SyslogFormat::Rfc3164 {
                let host = if p.host.is_empty() {
                    "localhost"
                } else {
                    p.host
                };
                let _ = write!(out, "{host} ");
            }
            if !p.tag.is_empty() {
                out.extend_from_slice(p.tag.as_bytes());
                if !p.pid.is_empty() {
                    let _ = write!(out, "[{}]", p.pid);
                }
                out.extend_from_slice(b": ");
            }
            out.extend_from_slice(p.msg);
        }
        SyslogFormat::Rfc5424 => {
            let _ = write!(out, "<{pri}>1 ");
            let time = match p.rfc5424 {
                Some(true) => Some(p.time.to_string()).filter(|t| !t.is_empty()),
                Some(false) => time_5424(p.time),
                None => None,
            };
            match time {
                Some(t) => {
                    out.extend_from_slice(t.as_bytes());
                    out.push(b' ');
                }
                None => {
                    // The time of the rfc5424 header of now.
                    let h = now_hdr(SyslogFormat::Iso, out);
                    out.extend_from_slice(&h);
                }
            }
            let f = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            let _ = write!(
                out,
                "{} {} {} {} {} ",
                f(p.host),
                f(p.tag),
                f(p.pid),
                f(p.msgid),
                f(p.sd)
            );
            out.extend_from_slice(p.msg);
        }
    }
}

/// Sends one received line to the section's targets.
fn relay(senders: &Mutex<super::syslog::Sender>, line: &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return;
    }
    let p = parse(line);
    senders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .forward(&p, line);
}

/// Binds the sections' sockets and starts their threads (once, for the process: a reload
/// keeps them as they were). Errors are logged; the process goes on.
pub fn start(sections: &[LogForward]) {
    for f in sections {
        let sender = Arc::new(Mutex::new(super::syslog::Sender::new(&f.targets, "", None)));
        for (addr, loc) in &f.dgram {
            match UdpSocket::bind(addr) {
                Ok(s) => {
                    let sender = sender.clone();
                    let _ = std::thread::Builder::new()
                        .name(format!("corelb-logfwd-{}", f.name))
                        .spawn(move || {
                            let mut buf = vec![0u8; 65536];
                            loop {
                                match s.recv(&mut buf) {
                                    Ok(n) => relay(&sender, &buf[..n]),
                                    Err(e) => {
                                        log::warn!("log-forward: {e}");
                                        std::thread::sleep(std::time::Duration::from_millis(100));
                                    }
                                }
                            }
                        });
                }
                Err(e) => log::error!("{loc}: log-forward '{}': cannot bind {addr}: {e}", f.name),
            }
        }
        for (addr, loc) in &f.stream {
            let backlog = f.backlog.unwrap_or(f.maxconn as u32);
            let l = match listen(*addr, backlog) {
                Ok(l) => l,
                Err(e) => {
                    log::error!("{loc}: log-forward '{}': cannot bind {addr}: {e}", f.name);
                    continue;
                }
            };
            let (sender, max, timeout) = (sender.clone(), f.maxconn, f.timeout_client);
            let _ = std::thread::Builder::new()
                .name(format!("corelb-logfwd-{}", f.name))
                .spawn(move || {
                    let cur = Arc::new(AtomicUsize::new(0));
                    for c in l.incoming() {
                        let Ok(c) = c else { continue };
                        // `maxconn`: past it, a new client is closed at once.
                        if cur.load(Ordering::Relaxed) >= max {
                            continue;
                        }
                        cur.fetch_add(1, Ordering::Relaxed);
                        let (sender, cur) = (sender.clone(), cur.clone());
                        let _ = c.set_read_timeout(timeout);
                        let _ = std::thread::Builder::new()
                            .name("corelb-logfwd-client".into())
                            .spawn(move || {
                                client(c, &sender);
                                cur.fetch_sub(1, Ordering::Relaxed);
                            });
                    }
                });
        }
    }
}

/// A TCP listening socket with `backlog` (HAProxy's default for the section: maxconn).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(s.into())
}

/// One TCP client: lines ended by a newline, or `LEN ` and LEN bytes (octet counting).
fn client(c: TcpStream, sender: &Mutex<super::syslog::Sender>) {
    let mut rd = BufReader::new(c);
    loop {
        let first = match rd.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(b) => b[0],
        };
        if first.is_ascii_digit() {
            let mut len = Vec::new();
            if rd.read_until(b' ', &mut len).is_err() {
                return;
            }
            let Some(n) = std::str::from_utf8(&len)
                .ok()
                .and_then(|s| s.trim_end().parse::<usize>().ok())
                .filter(|&n| n <= 65536)
            else {
                return;
            };
            let mut msg = vec![0u8; n];
            if rd.read_exact(&mut msg).is_err() {
                return;
            }
            relay(sender, &msg);
        } else {
            let mut line = Vec::new();
            match (&mut rd).take(65536).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => relay(sender, &line),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats() {
        let p = parse(b"<134>Dec  7 09:01:24 myhost app[123]: hello");
        assert_eq!(
            (p.pri, p.rfc5424, p.time, p.host, p.tag, p.pid, p.msg),
            (
                Some(134),
                Some(false),
                "Dec  7 09:01:24",
                "myhost",
                "app",
                "123",
                &b"hello"[..]
            )
        );
        let p = parse(b"<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [a@1 x=\"]\"] hi");
        assert_eq!(
            (p.time, p.host, p.tag, p.pid, p.msgid, p.sd, p.msg),
            (
                "2003-10-11T22:14:15.003Z",
                "h",
                "evntslog",
                "",
                "ID47",
                "[a@1 x=\"]\"]",
                &b"hi"[..]
            )
        );
        assert_eq!(parse(b"no header").rfc5424, None);
        assert_eq!(
            time_3164("2003-10-11T22:14:15.003Z").unwrap(),
            "Oct 11 22:14:15"
        );
    }
}
