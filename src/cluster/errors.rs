//! `show errors`: the last request each frontend rejected as malformed, captured as HAProxy
//! does (one capture per proxy, the newest wins). Written only on the rejection path (a
//! lock there is fine: a request that goes well never takes it), read by the runtime API.

use crate::cluster::Shared;
use crate::h1::HttpError;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

struct Capture {
    when: SystemTime,
    src: SocketAddr,
    event: u32,
    error: HttpError,
    bytes: Vec<u8>,
}

/// One frontend's error capture.
#[derive(Default)]
pub struct ErrorLog {
    events: AtomicU32,
    last: Mutex<Option<Capture>>,
}

impl ErrorLog {
    /// Keeps a copy of the rejected request's bytes (at most `max`).
    pub fn record(&self, src: SocketAddr, error: HttpError, bytes: &[u8], max: usize) {
        let event = self.events.fetch_add(1, Ordering::Relaxed);
        let c = Capture {
            when: SystemTime::now(),
            src,
            event,
            error,
            bytes: bytes[..bytes.len().min(max)].to_vec(),
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
    }
}

/// HAProxy's `show errors` text.
pub fn render(sh: &Shared) -> String {
    let mut s = String::from("Total events captured on [");
    crate::log::format_date(SystemTime::now(), &mut s);
    let total: u32 = sh
        .frontends
        .iter()
        .flatten()
        .map(|f| f.errors.events.load(Ordering::Relaxed))
        .sum();
    let _ = writeln!(s, "] : {total}");
    for fe in sh.frontends.iter().flatten() {
        let last = fe.errors.last.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = last.as_ref() else { continue };
        s.push_str(" \n[");
        crate::log::format_date(c.when, &mut s);
        let _ = writeln!(s, "] frontend {} (#{}): invalid request", fe.name, fe.id);
        let _ = writeln!(
            s,
            "  backend <NONE> (#-1), server <NONE> (#-1), event #{}, src {}",
            c.event, c.src
        );
        let _ = writeln!(
            s,
            "  buffer starts at 0 (including 0 out), len {},",
            c.bytes.len()
        );
        let _ = writeln!(s, "  error at position {}: {} :", c.error.offset(), c.error);
        s.push_str("  \n");
        dump(&c.bytes, &mut s);
    }
    s
}

/// The bytes as HAProxy prints them: one line per input line, prefixed by its offset,
/// with control and non-ASCII bytes escaped.
fn dump(bytes: &[u8], s: &mut String) {
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| start + p + 1);
        let _ = write!(s, "  {start:05}  ");
        for &b in &bytes[start..end] {
            match b {
                b'\r' => s.push_str("\\r"),
                b'\n' => s.push_str("\\n"),
                b'\t' => s.push_str("\\t"),
                b'\\' => s.push_str("\\\\"),
                0x20..=0x7e => s.push(b as char),
                _ => {
                    let _ = write!(s, "\\x{b:02x}");
                }
            }
        }
        s.push('\n');
        start = end;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dump_escapes_like_haproxy() {
        let mut s = String::new();
        super::dump(b"GET / HTTP/1.1\r\nBad\x01 Header\r\n\r\n", &mut s);
        assert_eq!(
            s,
            "  00000  GET / HTTP/1.1\\r\\n\n  00016  Bad\\x01 Header\\r\\n\n  00029  \\r\\n\n"
        );
    }
}
