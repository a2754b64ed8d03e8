//! `ring` sections at run time: in-memory buffers of log lines (HAProxy's event sinks of
//! type buffer), filled by `log ring@NAME` targets, read by `show events NAME [-w] [-n]`
//! on the runtime API and forwarded to the ring's TCP syslog servers.
//!
//! No shard ever waits for a ring: a shard hands each whole line to the ring's bounded
//! lock-free queue and returns (a full queue drops the line and counts it, as HAProxy
//! counts what a full sink drops). One thread per ring moves the queued lines into the
//! buffer, under a lock that only it, the readers of `show events` and the forwarders
//! take; each `server` of the ring has a thread of its own that sends every line of the
//! buffer, from the oldest one still there when it connects (as HAProxy's forwarder
//! starts), and reconnects after an error.
//!
//! Rings live as long as the process: a reload keeps their lines (a new generation finds
//! its rings by name).

use crate::config::SyslogFormat;
use crate::config::ring::{Ring as RingConf, RingServer};
use crossbeam_queue::ArrayQueue;
use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Lines waiting between the shards and a ring's thread; more are dropped.
const QUEUE_LINES: usize = 4096;

/// One ring.
pub struct Ring {
    pub name: String,
    /// What `show events` says of it (`description`, else the name).
    pub description: String,
    settings: Mutex<Settings>,
    queue: ArrayQueue<Vec<u8>>,
    dropped: AtomicU64,
    buf: Mutex<Buf>,
    /// Signalled when lines were added (or the ring's servers changed).
    changed: Condvar,
    thread: OnceLock<std::thread::Thread>,
}

#[derive(Clone)]
struct Settings {
    format: SyslogFormat,
    maxlen: Option<usize>,
    servers: Vec<RingServer>,
    timeout_connect: Option<Duration>,
    timeout_server: Option<Duration>,
    /// Bumped at each reload: the forwarders of an older configuration stop.
    generation: u64,
}

/// The lines a ring holds, oldest first; `next` is the number of the next line added, so
/// that a reader knows what it has seen.
struct Buf {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    size: usize,
    next: u64,
}

impl Buf {
    fn first(&self) -> u64 {
        self.next - self.lines.len() as u64
    }

    /// HAProxy's ring stores each message behind its length (a varint) and a byte of
    /// reader count: what a line costs of the ring's size.
    fn cost(len: usize) -> usize {
        let mut v = 1;
        let mut n = len;
        while n >= 240 {
            n = (n - 240) >> 4;
            v += 1;
        }
        len + v + 1
    }

    fn push(&mut self, line: Vec<u8>) {
        let c = Buf::cost(line.len());
        if c > self.size {
            return;
        }
        while self.bytes + c > self.size {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= Buf::cost(old.len());
        }
        self.bytes += c;
        self.lines.push_back(line);
        self.next += 1;
    }

    /// The lines numbered `from` and after (from the oldest kept when `from` is older).
    fn since(&self, from: u64) -> (Vec<Vec<u8>>, u64) {
        let skip = from.saturating_sub(self.first()) as usize;
        (self.lines.iter().skip(skip).cloned().collect(), self.next)
    }
}

static RINGS: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());

/// Makes the rings of a configuration (keeping the lines of those a previous generation
/// had under the same name) and starts their threads and forwarders.
pub fn configure(rings: &[RingConf]) {
    let mut all = RINGS.lock().unwrap_or_else(|e| e.into_inner());
    for c in rings {
        let settings = |generation| Settings {
            format: c.format,
            maxlen: c.maxlen,
            servers: c.servers.clone(),
            timeout_connect: c.timeout_connect,
            timeout_server: c.timeout_server,
            generation,
        };
        let ring = match all.iter().find(|r| r.name == c.name) {
            Some(r) => {
                {
                    let mut s = r.settings.lock().unwrap_or_else(|e| e.into_inner());
                    *s = settings(s.generation + 1);
                    r.buf.lock().unwrap_or_else(|e| e.into_inner()).size = c.size;
                }
                r.changed.notify_all();
                r.clone()
            }
            None => {
                let r = Arc::new(Ring {
                    name: c.name.clone(),
                    description: c.description.clone().unwrap_or_else(|| c.name.clone()),
                    settings: Mutex::new(settings(0)),
                    queue: ArrayQueue::new(QUEUE_LINES),
                    dropped: AtomicU64::new(0),
                    buf: Mutex::new(Buf {
                        lines: VecDeque::new(),
                        bytes: 0,
                        size: c.size,
                        next: 0,
                    }),
                    changed: Condvar::new(),
                    thread: OnceLock::new(),
                });
                let r2 = r.clone();
                match std::thread::Builder::new()
                    .name(format!("corelb-ring-{}", c.name))
                    .spawn(move || r2.drain())
                {
                    Ok(h) => {
                        let _ = r.thread.set(h.thread().clone());
                    }
                    Err(e) => log::error!("ring '{}': cannot start its thread: {e}", c.name),
                }
                all.push(r.clone());
                r
            }
        };
        let generation = ring.settings().generation;
        for (i, _) in c.servers.iter().enumerate() {
            let r = ring.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("corelb-ring-fwd-{}", c.name))
                .spawn(move || r.forward(i, generation));
            if let Err(e) = spawned {
                log::error!("ring '{}': cannot start a forwarder: {e}", c.name);
            }
        }
    }
}

/// The ring named `name`, once [`configure`]d.
pub fn get(name: &str) -> Option<Arc<Ring>> {
    let all = RINGS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().find(|r| r.name == name).cloned()
}

/// Every ring, in the order they were first configured.
pub fn all() -> Vec<Arc<Ring>> {
    RINGS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Ring {
    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The header format of the lines of this ring (`format`, raw by default).
    pub fn format(&self) -> SyslogFormat {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .format
    }

    /// `maxlen`, if set.
    pub fn maxlen(&self) -> Option<usize> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .maxlen
    }

    /// Lines dropped because the ring's thread did not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Hands a line over to the ring; never waits.
    pub fn push(&self, line: Vec<u8>) {
        if self.queue.push(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// The ring's thread: moves queued lines into the buffer.
    fn drain(&self) {
        loop {
            if self.queue.is_empty() {
                std::thread::park_timeout(Duration::from_secs(1));
                continue;
            }
            {
                let mut b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
                while let Some(l) = self.queue.pop() {
                    b.push(l);
                }
            }
            self.changed.notify_all();
        }
    }

    /// The lines numbered `from` and after, and the number of the next one; with `wait`,
    /// waits (up to `timeout`) until there is one.
    pub fn read(&self, from: Option<u64>, wait: Option<Duration>) -> (Vec<Vec<u8>>, u64) {
        let mut b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let from = from.unwrap_or(b.first());
        if let Some(t) = wait
            && b.next <= from
        {
            b = self
                .changed
                .wait_timeout_while(b, t, |b| b.next <= from)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        b.since(from)
    }

    /// The number the next line will have (`show events -n` starts there).
    pub fn next(&self) -> u64 {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).next
    }

    /// Forwarder `i` of the ring's servers, while the configuration that started it is
    /// the current one: connects, sends every line (from the oldest kept), reconnects a
    /// second after an error.
    fn forward(&self, i: usize, generation: u64) {
        let mut conn: Option<std::net::TcpStream> = None;
        let mut from: Option<u64> = None;
        loop {
            let s = self.settings();
            if s.generation != generation {
                return;
            }
            let Some(srv) = s.servers.get(i) else {
                return;
            };
            if conn.is_none() {
                let c = match s.timeout_connect {
                    Some(t) => std::net::TcpStream::connect_timeout(&srv.addr, t),
                    None => std::net::TcpStream::connect(srv.addr),
                };
                match c {
                    Ok(c) => {
                        let _ = c.set_write_timeout(s.timeout_server);
                        let _ = c.set_nodelay(true);
                        conn = Some(c);
                        // As HAProxy's forwarder: from the oldest line the ring holds.
                        from = None;
                    }
                    Err(e) => {
                        log::debug!("ring '{}': server {}: {e}", self.name, srv.name);
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                }
            }
            let (lines, next) = self.read(from, Some(Duration::from_secs(1)));
            if lines.is_empty() {
                from = Some(next);
                continue;
            }
            let mut out = Vec::new();
            for l in &lines {
                if srv.octet_count {
                    let _ = write!(out, "{} ", l.len());
                    out.extend_from_slice(l);
                } else {
                    out.extend_from_slice(l);
                    out.push(b'\n');
                }
            }
            let c = conn.as_mut().expect("connected above");
            match c.write_all(&out).and_then(|()| c.flush()) {
                Ok(()) => from = Some(next),
                Err(e) => {
                    log::debug!("ring '{}': server {}: {e}", self.name, srv.name);
                    conn = None;
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_drops_its_oldest_lines() {
        let mut b = Buf {
            lines: VecDeque::new(),
            bytes: 0,
            size: 30,
            next: 0,
        };
        for i in 0..5u8 {
            b.push(vec![b'a' + i; 8]);
        }
        // 10 bytes a line (8, its length, a reader count): three fit.
        let (lines, next) = b.since(0);
        assert_eq!(next, 5);
        assert_eq!(lines, vec![vec![b'c'; 8], vec![b'd'; 8], vec![b'e'; 8]]);
        assert_eq!(b.since(4).0, vec![vec![b'e'; 8]]);
        assert!(b.since(5).0.is_empty());
    }
}
