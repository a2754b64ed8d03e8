//! Logging. Process events (startup, server state changes, errors) go to stderr through the
//! `log` facade in HAProxy's style (`[WARNING]  (pid) : message`) and, for events HAProxy
//! sends to syslog, also to the configured `log` targets. Access-log lines (`option
//! tcplog`/`httplog`, `log-format`) are rendered by [`access`] and sent by each shard's
//! [`syslog::Sender`] with the header of the target's `format` ([`framing`]). No shard ever
//! waits for a log reader: sockets are non-blocking and stdout/stderr go through [`stdio`]'s
//! per-shard queues.
//!
//! Layer: on `acl`, `config` and `sys`; used by `cluster`, `net`, `proxy`, `health` and `runtime`.

pub mod access;
pub mod forward;
pub mod framing;
pub mod mail;
pub mod ring;
pub mod stdio;
pub mod syslog;
pub mod term;

use std::sync::atomic::{AtomicUsize, Ordering};

static LEVEL: AtomicUsize = AtomicUsize::new(3);

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        (m.level() as usize) <= LEVEL.load(Ordering::Relaxed)
            && (m.target().starts_with("corelb") || m.level() <= log::Level::Warn)
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let tag = match r.level() {
            log::Level::Error => "[ALERT]   ",
            log::Level::Warn => "[WARNING] ",
            log::Level::Info => "[NOTICE]  ",
            log::Level::Debug => "[DEBUG]   ",
            log::Level::Trace => "[TRACE]   ",
        };
        // One whole line at a time, so that lines from different threads do not interleave;
        // a shard's goes through its queue (see `stdio`) and never waits for the reader.
        stdio::send_with(stdio::Stream::Stderr, |line| {
            use std::io::Write as _;
            let _ = writeln!(line, "{tag} ({}) : {}", std::process::id(), r.args());
        });
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Verbosity: 1 = errors only (-q), 2 = warnings, 3 = notices (default), 4 = -V, 5 = -d.
/// Called again to change it (`quiet` in the configuration).
pub fn init(verbosity: usize) {
    LEVEL.store(verbosity, Ordering::Relaxed);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(match verbosity {
        0 | 1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    });
}

/// The host's name (the kernel's), if it can be read.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
}

/// Month abbreviations of the log dates.
pub(crate) const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// HAProxy's access-log date: `06/Feb/2009:12:12:51.443`, local time.
pub fn format_date(t: std::time::SystemTime, out: &mut String) {
    let mut b = Vec::with_capacity(24);
    format_date_bytes(t, &mut b);
    out.push_str(&String::from_utf8_lossy(&b));
}

/// [`format_date`] into bytes (the access-log lines are bytes).
pub fn format_date_bytes(t: std::time::SystemTime, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let tm = crate::sys::localtime(d.as_secs() as i64);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MON[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_millis()
    );
}
