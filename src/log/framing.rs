//! The header each `log` target puts before a message, byte for byte as HAProxy 2.6 writes
//! it (src/log.c, `build_log_header`), for every `format`:
//!
//! | format   | line |
//! |----------|------|
//! | raw      | `MSG` |
//! | short    | `<LEVEL>MSG` |
//! | priority | `<PRI>MSG` |
//! | iso      | `2026-12-06T07:02:50.777486+00:00 MSG` |
//! | timed    | `<LEVEL>2026-12-06T07:02:50.777486+00:00 MSG` |
//! | local    | `<PRI>Dec  6 07:02:50 TAG[PID]: MSG` |
//! | rfc3164  | `<PRI>Dec  6 07:02:50 HOST TAG[PID]: MSG` (HOST `localhost` without `log-send-hostname`) |
//! | rfc5424  | `<PRI>1 2026-12-06T07:02:50.777480+00:00 HOST TAG PID - SD MSG` (HOST and SD `-` when unset) |
//!
//! PRI is facility × 8 + level; times are local. Pure: the caller passes the time.

use crate::config::SyslogFormat;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the headers may carry besides the time and the priority.
pub struct Meta<'a> {
    /// `log-send-hostname`, if set.
    pub hostname: Option<&'a str>,
    pub tag: &'a str,
    pub pid: u32,
}

use super::MON;

/// The format a target without `format` uses: rfc3164 when a hostname is to be sent, else
/// the local format (HAProxy's `LOG_FORMAT_UNSPEC` choice).
pub fn resolve(f: SyslogFormat, meta: &Meta) -> SyslogFormat {
    match f {
        SyslogFormat::Unspec if meta.hostname.is_some() => SyslogFormat::Rfc3164,
        SyslogFormat::Unspec => SyslogFormat::Local,
        f => f,
    }
}

/// Appends the header of `format` (already [`resolve`]d) to `out`; `sd` is the rfc5424
/// structured data (`log-format-sd`), empty for none.
pub fn header(
    format: SyslogFormat,
    facility: u8,
    level: u8,
    now: SystemTime,
    meta: &Meta,
    sd: &[u8],
    out: &mut Vec<u8>,
) {
    let pri = facility as u32 * 8 + level as u32;
    match format {
        SyslogFormat::Raw => {}
        SyslogFormat::Short => {
            let _ = write!(out, "<{level}>");
        }
        SyslogFormat::Priority => {
            let _ = write!(out, "<{pri}>");
        }
        SyslogFormat::Iso => iso_time(now, out),
        SyslogFormat::Timed => {
            let _ = write!(out, "<{level}>");
            iso_time(now, out);
        }
        SyslogFormat::Local | SyslogFormat::Rfc3164 | SyslogFormat::Unspec => {
            let _ = write!(out, "<{pri}>");
            legacy_time(now, out);
            if format != SyslogFormat::Local {
                out.extend_from_slice(meta.hostname.unwrap_or("localhost").as_bytes());
                out.push(b' ');
            }
            let _ = write!(out, "{}[{}]: ", meta.tag, meta.pid);
        }
        SyslogFormat::Rfc5424 => {
            let _ = write!(out, "<{pri}>1 ");
            iso_time(now, out);
            let host = meta.hostname.filter(|h| !h.is_empty()).unwrap_or("-");
            let _ = write!(out, "{host} {} {} - ", meta.tag, meta.pid);
            if sd.is_empty() {
                out.extend_from_slice(b"- ");
            } else {
                out.extend_from_slice(sd);
                out.push(b' ');
            }
        }
    }
}

/// `Dec  6 07:02:50 ` (day padded with a space).
fn legacy_time(now: SystemTime, out: &mut Vec<u8>) {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let tm = crate::sys::localtime(secs as i64);
    let _ = write!(
        out,
        "{} {:2} {:02}:{:02}:{:02} ",
        MON[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
}

/// `2026-12-06T07:02:50.777486+00:00 ` (local time, microseconds, the zone's offset).
fn iso_time(now: SystemTime, out: &mut Vec<u8>) {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let tm = crate::sys::localtime(d.as_secs() as i64);
    let off = tm.tm_gmtoff / 60;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02} ",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros(),
        if off < 0 { '-' } else { '+' },
        off.abs() / 60,
        off.abs() % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: SyslogFormat, host: Option<&str>, sd: &[u8]) -> String {
        let meta = Meta {
            hostname: host,
            tag: "haproxy",
            pid: 42,
        };
        let mut out = Vec::new();
        header(resolve(f, &meta), 16, 6, UNIX_EPOCH, &meta, sd, &mut out);
        out.extend_from_slice(b"MSG");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn shapes() {
        // The epoch in whatever zone the machine has: only the shapes are compared.
        let t = line(SyslogFormat::Local, None, b"");
        assert!(
            t.starts_with("<134>") && t.ends_with(" haproxy[42]: MSG"),
            "{t}"
        );
        assert_eq!(t.len(), "<134>Jan  1 00:00:00 haproxy[42]: MSG".len());
        assert_eq!(line(SyslogFormat::Unspec, None, b""), t);
        let t = line(SyslogFormat::Rfc3164, None, b"");
        assert!(t.ends_with(":00 localhost haproxy[42]: MSG"), "{t}");
        let t = line(SyslogFormat::Unspec, Some("lb1"), b"");
        assert!(t.ends_with(":00 lb1 haproxy[42]: MSG"), "{t}");
        assert_eq!(line(SyslogFormat::Raw, None, b""), "MSG");
        assert_eq!(line(SyslogFormat::Short, None, b""), "<6>MSG");
        assert_eq!(line(SyslogFormat::Priority, None, b""), "<134>MSG");
        let t = line(SyslogFormat::Iso, None, b"");
        assert_eq!(t.len(), "1970-01-01T00:00:00.000000+00:00 MSG".len(), "{t}");
        assert_eq!(&t[19..27], ".000000+", "{t}");
        let t = line(SyslogFormat::Timed, None, b"");
        assert!(t.starts_with("<6>19"), "{t}");
        let t = line(SyslogFormat::Rfc5424, None, b"");
        assert!(t.starts_with("<134>1 19"), "{t}");
        assert!(t.ends_with(" - haproxy 42 - - MSG"), "{t}");
        let t = line(SyslogFormat::Rfc5424, Some("lb1"), b"[x@1 a=\"b\"]");
        assert!(t.ends_with(" lb1 haproxy 42 - [x@1 a=\"b\"] MSG"), "{t}");
    }
}
