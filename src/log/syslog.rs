//! Sending log lines to `log` targets: syslog over UDP or a unix datagram socket (RFC 3164
//! framing, as HAProxy's default), or stdout/stderr without framing. Each shard owns its
//! sockets, which are non-blocking, and its stdout/stderr queues ([`super::stdio`]); a send
//! never blocks: a full socket or queue drops the line, like HAProxy, and counts it.

use super::stdio::{self, Stream};
use crate::config::{LogDest, LogTarget};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;

enum Sink {
    Udp(UdpSocket, std::net::SocketAddr),
    Unix(UnixDatagram, std::path::PathBuf),
    Stdio(Stream),
}

pub struct Sender {
    sinks: Vec<(Sink, LogTarget)>,
    tag: String,
    hostname: String,
    buf: String,
    /// Lines a full (or failing) socket did not take; stdout/stderr count theirs in `stdio`.
    dropped: u64,
}

/// Syslog severities, from `LEVELS` in the config parser.
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const WARNING: u8 = 4;
pub const ALERT: u8 = 1;

impl Sender {
    pub fn new(targets: &[LogTarget], tag: &str) -> Sender {
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
            };
            sinks.push((sink, t.clone()));
        }
        let hostname = super::hostname().unwrap_or_else(|| "localhost".into());
        Sender {
            sinks,
            tag: tag.to_string(),
            hostname,
            buf: String::with_capacity(512),
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

    /// Sends `msg` at syslog `level` to every target whose level range admits it.
    pub fn send(&mut self, level: u8, msg: &str) {
        use std::fmt::Write as _;
        for (sink, t) in &self.sinks {
            if level > t.max_level || level < t.min_level {
                continue;
            }
            if let Sink::Stdio(stream) = sink {
                // Truncated like a datagram, but always ends with its newline.
                let n = msg.len().min(t.maxlen.max(80) - 1);
                stdio::send_with(*stream, |line| {
                    line.extend_from_slice(&msg.as_bytes()[..n]);
                    line.push(b'\n');
                });
                continue;
            }
            self.buf.clear();
            let pri = (t.facility as u32) * 8 + level as u32;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let tm = crate::sys::localtime(now.as_secs() as i64);
            const MON: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let _ = write!(
                self.buf,
                "<{pri}>{} {:2} {:02}:{:02}:{:02} {} {}[{}]: {msg}",
                MON[tm.tm_mon.clamp(0, 11) as usize],
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
                self.hostname,
                self.tag,
                std::process::id()
            );
            let line = &self.buf.as_bytes()[..self.buf.len().min(t.maxlen.max(80))];
            let sent = match sink {
                Sink::Udp(s, addr) => s.send_to(line, addr),
                Sink::Unix(s, path) => s.send_to(line, path),
                Sink::Stdio(_) => continue,
            };
            if sent.is_err() {
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
            loc: Loc {
                file: "t".into(),
                line: 1,
            },
        };
        let mut s = Sender::new(&[t], "corelb");
        s.send(7, "debug is filtered out");
        s.send(NOTICE, "Server bk/s1 is DOWN");
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(line.starts_with("<133>"), "{line}");
        assert!(line.ends_with(": Server bk/s1 is DOWN"), "{line}");
        assert!(line.contains(" corelb["), "{line}");
    }
}
