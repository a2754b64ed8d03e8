//! Sending log lines to `log` targets: syslog over UDP or a unix datagram socket (RFC 3164
//! framing, as HAProxy's default), or stdout/stderr without framing. Each shard owns its
//! sockets, which are non-blocking, and its stdout/stderr queues ([`super::stdio`]); a send
//! never blocks: a full socket or queue drops the line, like HAProxy, and counts it.

use super::framing::{self, Meta};
use super::stdio::{self, Stream};
use crate::config::{LogDest, LogTarget, SyslogFormat};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;

enum Sink {
    Udp(UdpSocket, std::net::SocketAddr),
    Unix(UnixDatagram, std::path::PathBuf),
    Stdio(Stream),
    /// `ring@NAME`: the line (in the ring's format, cut to its `maxlen`) goes to the
    /// ring's queue.
    Ring(std::sync::Arc<super::ring::Ring>),
}

pub struct Sender {
    sinks: Vec<Target>,
    tag: String,
    /// `log-send-hostname`, resolved.
    hostname: Option<String>,
    pid: u32,
    buf: Vec<u8>,
    /// Lines a full (or failing) socket did not take; stdout/stderr count theirs in `stdio`.
    dropped: u64,
}

impl Sink {
    /// Writes the line `fill` makes (newline-ended) to the sink: `buf` for a datagram, a
    /// ring without its newline and cut to the ring's `maxlen`. False when a socket did not
    /// take it (stdout/stderr count their own drops).
    fn deliver(&self, buf: &mut Vec<u8>, fill: impl Fn(&mut Vec<u8>)) -> bool {
        let sent = match self {
            Sink::Stdio(stream) => {
                stdio::send_with(*stream, fill);
                return true;
            }
            Sink::Ring(r) => {
                let mut line = Vec::with_capacity(128);
                fill(&mut line);
                line.pop();
                if let Some(m) = r.maxlen() {
                    line.truncate(m);
                }
                r.push(line);
                return true;
            }
            Sink::Udp(s, addr) => {
                buf.clear();
                fill(buf);
                s.send_to(buf, addr)
            }
            Sink::Unix(s, path) => {
                buf.clear();
                fill(buf);
                s.send_to(buf, path)
            }
        };
        sent.is_ok()
    }
}

struct Target {
    sink: Sink,
    t: LogTarget,
    format: SyslogFormat,
    /// The `format` of the `log` line (a ring's for a ring), unresolved: `log-forward`
    /// sends a line as it came to a target without one.
    format_as_given: SyslogFormat,
    /// Lines offered to this target so far, for `sample`.
    seen: u64,
}

impl Target {
    /// `sample R:S`: whether the target takes this line (each line offered counts).
    fn sampled(&mut self) -> bool {
        let Some(s) = &self.t.sample else {
            return true;
        };
        let pos = (self.seen % s.size as u64) as u32 + 1;
        self.seen += 1;
        s.ranges.iter().any(|&(a, b)| (a..=b).contains(&pos))
    }
}

/// Syslog severities, from `LEVELS` in the config parser.
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const WARNING: u8 = 4;
pub const ERR: u8 = 3;
pub const ALERT: u8 = 1;
pub const EMERG: u8 = 0;

impl Sender {
    /// `hostname` is `log-send-hostname` (empty: the machine's name).
    pub fn new(targets: &[LogTarget], tag: &str, hostname: Option<&str>) -> Sender {
        let hostname = hostname.map(|h| match h {
            "" => super::hostname().unwrap_or_else(|| "localhost".into()),
            h => h.to_string(),
        });
        let meta = Meta {
            hostname: hostname.as_deref(),
            tag,
            pid: std::process::id(),
        };
        let mut sinks = Vec::new();
        for t in targets {
            let sink = match &t.dest {
                LogDest::Udp(addr) => {
                    let bind = if addr.is_ipv6() {
                        "[::]:0"
                    } else {
                        "0.0.0.0:0"
                    };
                    match UdpSocket::bind(bind) {
                        Ok(s) => {
                            let _ = s.set_nonblocking(true);
                            Sink::Udp(s, *addr)
                        }
                        Err(e) => {
                            log::warn!("{}: cannot open a UDP socket for logs: {e}", t.loc);
                            continue;
                        }
                    }
                }
                LogDest::Unix(path) => match UnixDatagram::unbound() {
                    Ok(s) => {
                        let _ = s.set_nonblocking(true);
                        Sink::Unix(s, path.clone())
                    }
                    Err(e) => {
                        log::warn!("{}: cannot open a unix socket for logs: {e}", t.loc);
                        continue;
                    }
                },
                LogDest::Stdout => Sink::Stdio(Stream::Stdout),
                LogDest::Stderr => Sink::Stdio(Stream::Stderr),
                LogDest::Ring(name) => match super::ring::get(name) {
                    Some(r) => Sink::Ring(r),
                    None => {
                        log::warn!("{}: no ring named '{name}' for logs", t.loc);
                        continue;
                    }
                },
            };
            // A ring's lines have the ring's format, as in HAProxy.
            let format = match &sink {
                Sink::Ring(r) => r.format(),
                _ => framing::resolve(t.format, &meta),
            };
            sinks.push(Target {
                sink,
                format,
                format_as_given: match &t.dest {
                    LogDest::Ring(_) => format,
                    _ => t.format,
                },
                t: t.clone(),
                seen: 0,
            });
        }
        Sender {
            sinks,
            tag: tag.to_string(),
            pid: meta.pid,
            hostname,
            buf: Vec::with_capacity(512),
            dropped: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Lines dropped by the syslog sockets so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `log-forward`: sends a received line to every target whose level range admits its
    /// level (a line without a priority goes to all), rewritten in the target's format
    /// ([`super::forward::render`]), cut to the target's `len` less one byte.
    pub fn forward(&mut self, p: &super::forward::Parsed, raw: &[u8]) {
        for tg in &mut self.sinks {
            if let Some(pri) = p.pri {
                let level = pri & 7;
                if level > tg.t.max_level || level < tg.t.min_level {
                    continue;
                }
            }
            if !tg.sampled() {
                continue;
            }
            let t = &tg.t;
            let max = t.maxlen.max(80) - 1;
            let fill = |line: &mut Vec<u8>| {
                super::forward::render(tg.format_as_given, t.facility, p, raw, line);
                line.truncate(max);
                line.push(b'\n');
            };
            if !tg.sink.deliver(&mut self.buf, fill) {
                self.dropped += 1;
            }
        }
    }

    /// Sends `msg` at syslog `level` to every target whose level range admits it.
    pub fn send(&mut self, level: u8, msg: &str) {
        self.send_sd(level, msg.as_bytes(), b"");
    }

    /// Like [`Sender::send`], with rfc5424 structured data (`log-format-sd`) for the targets
    /// whose format carries it. Each line is the target's header and `msg`, cut to the
    /// target's `len` less one byte, and a newline (datagrams too, as HAProxy sends them).
    pub fn send_sd(&mut self, level: u8, msg: &[u8], sd: &[u8]) {
        let now = std::time::SystemTime::now();
        let meta = Meta {
            hostname: self.hostname.as_deref(),
            tag: &self.tag,
            pid: self.pid,
        };
        for tg in &mut self.sinks {
            if level > tg.t.max_level || level < tg.t.min_level || !tg.sampled() {
                continue;
            }
            let t = &tg.t;
            let max = t.maxlen.max(80) - 1;
            let fill = |line: &mut Vec<u8>| {
                framing::header(tg.format, t.facility, level, now, &meta, sd, line);
                line.extend_from_slice(msg);
                line.truncate(max);
                line.push(b'\n');
            };
            if !tg.sink.deliver(&mut self.buf, fill) {
                self.dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loc;

    #[test]
    fn udp_syslog_line() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let t = LogTarget {
            dest: LogDest::Udp(rx.local_addr().unwrap()),
            facility: 16,
            max_level: 6,
            min_level: 0,
            maxlen: 1024,
            format: SyslogFormat::Unspec,
            sample: None,
            loc: Loc {
                file: "t".into(),
                line: 1,
            },
        };
        let mut s = Sender::new(&[t], "corelb", None);
        s.send(7, "debug is filtered out");
        s.send(NOTICE, "Server bk/s1 is DOWN");
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(line.starts_with("<133>"), "{line}");
        assert!(line.ends_with(": Server bk/s1 is DOWN\n"), "{line}");
        assert!(line.contains(" corelb["), "{line}");
    }
}
