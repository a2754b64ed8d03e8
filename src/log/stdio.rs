//! stdout and stderr for the shards, without ever blocking one.
//!
//! Both streams belong to the whole process: std serialises writers with a lock, and
//! write(2) to a pipe whose reader is slow blocks. Making the descriptor non-blocking is no
//! way out: O_NONBLOCK is a flag of the open file description, which the parent, the shell
//! and sibling processes share (a `dup` shares it too), so it would change their writes.
//!
//! So a shard thread, once [`attach`]ed, never writes to stdout or stderr itself: it hands
//! each whole line to a bounded lock-free queue of its own (one per stream), and returns.
//! A full queue drops the line and counts it. One writer thread per stream (started by the
//! main thread with [`start`], so it is not pinned to a shard's CPU) drains every shard's
//! queue into batches of whole lines and writes them with ordinary blocking writes under
//! std's lock; threads that are not shards (main, the writers themselves) keep writing
//! directly under the same lock, so no two lines ever interleave. Drops are reported on
//! stderr at most once a second, and in total at exit ([`finish`]).

use crossbeam_queue::ArrayQueue;
use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Lines a shard may have waiting for one stream; more are dropped.
pub const QUEUE_LINES: usize = 1024;
/// A writer stops taking lines for a batch once it holds this many bytes.
const BATCH: usize = 32 * 1024;
/// Drops are reported at most this often (and in total at exit).
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Emptied line buffers a writer hands back to a shard, so that a line costs no allocation
/// once the shard has a few; a larger one is freed instead.
const FREE_LINES: usize = 256;
const FREE_MAX_BYTES: usize = 2048;

/// One shard's lines for one stream. Only that shard pushes `lines`; only the writer pops
/// them and pushes their emptied buffers back onto `free`.
struct Queue {
    lines: ArrayQueue<Vec<u8>>,
    free: ArrayQueue<Vec<u8>>,
    dropped: AtomicU64,
}

impl Queue {
    fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() <= FREE_MAX_BYTES {
            buf.clear();
            let _ = self.free.push(buf);
        }
    }
}

struct Registered {
    q: Arc<Queue>,
    /// Drops of `q` already added to the writer's totals.
    seen: u64,
}

struct Writer {
    stream: Stream,
    queues: Mutex<Vec<Registered>>,
    thread: OnceLock<std::thread::Thread>,
    /// The writer is parked, or about to be: a pusher must unpark it.
    sleeping: AtomicBool,
    /// The writer holds lines it took out of the queues and has not written yet.
    writing: AtomicBool,
    dropped: AtomicU64,
}

impl Writer {
    const fn new(stream: Stream) -> Writer {
        Writer {
            stream,
            queues: Mutex::new(Vec::new()),
            thread: OnceLock::new(),
            sleeping: AtomicBool::new(false),
            writing: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    fn wake(&self) {
        // Pairs with the fence in `run`: either the writer sees the pushed line before it
        // parks, or this sees `sleeping` and unparks it.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed)
            && self.sleeping.swap(false, Ordering::AcqRel)
            && let Some(t) = self.thread.get()
        {
            t.unpark();
        }
    }

    fn pending(&self) -> bool {
        self.queues
            .lock()
            .unwrap()
            .iter()
            .any(|r| !r.q.lines.is_empty())
    }

    fn run(&self) {
        let mut batch = Vec::with_capacity(BATCH * 2);
        let mut start = 0usize;
        let mut unreported = 0u64;
        let mut last_report = Instant::now();
        loop {
            self.writing.store(true, Ordering::SeqCst);
            // Lines dropped by the shards or lost to a write error since the last round.
            let mut lost = 0;
            {
                let mut regs = self.queues.lock().unwrap();
                let n = regs.len();
                // Start with a different shard each round so that a busy one cannot starve
                // the others of batch space.
                for k in 0..n {
                    let r = &regs[(start + k) % n];
                    while batch.len() < BATCH {
                        match r.q.lines.pop() {
                            Some(l) => {
                                batch.extend_from_slice(&l);
                                r.q.recycle(l);
                            }
                            None => break,
                        }
                    }
                }
                start = start.wrapping_add(1);
                for r in regs.iter_mut() {
                    let d = r.q.dropped.load(Ordering::Relaxed);
                    lost += d - r.seen;
                    r.seen = d;
                }
                // A finished shard's queue goes once it is empty.
                regs.retain(|r| Arc::strong_count(&r.q) > 1 || !r.q.lines.is_empty());
            }
            if !batch.is_empty() {
                lost += write_all(self.stream, &batch);
                batch.clear();
                batch.shrink_to(BATCH * 2);
            }
            self.writing.store(false, Ordering::SeqCst);
            if lost > 0 {
                self.dropped.fetch_add(lost, Ordering::Relaxed);
                unreported += lost;
            }
            if unreported > 0 && last_report.elapsed() >= REPORT_EVERY {
                log::warn!(
                    "{} is not read fast enough: {unreported} log line(s) dropped",
                    self.stream.name()
                );
                unreported = 0;
                last_report = Instant::now();
            }
            if !self.pending() {
                self.sleeping.store(true, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                if !self.pending() {
                    if unreported > 0 {
                        // Wake up to report them even if no line comes.
                        std::thread::park_timeout(
                            REPORT_EVERY.saturating_sub(last_report.elapsed()),
                        );
                    } else {
                        std::thread::park();
                    }
                }
                self.sleeping.store(false, Ordering::Relaxed);
            }
        }
    }
}

static WRITERS: [Writer; 2] = [Writer::new(Stream::Stdout), Writer::new(Stream::Stderr)];

thread_local! {
    /// This shard's queues, by [`Stream`]; None on threads that write directly.
    static LOCAL: RefCell<Option<[Arc<Queue>; 2]>> = const { RefCell::new(None) };
}

/// Starts the writer threads (once per process; call it from an unpinned thread).
pub fn start() {
    for w in &WRITERS {
        if w.thread.get().is_some() {
            continue;
        }
        let spawned = std::thread::Builder::new()
            .name(format!("corelb-{}", w.stream.name()))
            .spawn(move || w.run());
        match spawned {
            Ok(h) => {
                let _ = w.thread.set(h.thread().clone());
            }
            Err(e) => log::warn!(
                "cannot start the {} writer thread ({e}); shards write it directly",
                w.stream.name()
            ),
        }
    }
}

/// Makes this thread (a shard) hand its stdout/stderr lines to the writers from now on.
/// A no-op before [`start`].
pub fn attach() {
    if WRITERS.iter().any(|w| w.thread.get().is_none()) {
        return;
    }
    let qs = [0, 1].map(|_| {
        Arc::new(Queue {
            lines: ArrayQueue::new(QUEUE_LINES),
            free: ArrayQueue::new(FREE_LINES),
            dropped: AtomicU64::new(0),
        })
    });
    for (w, q) in WRITERS.iter().zip(&qs) {
        w.queues.lock().unwrap().push(Registered {
            q: q.clone(),
            seen: 0,
        });
    }
    LOCAL.with_borrow_mut(|l| *l = Some(qs));
}

/// This thread writes directly again; what it queued is still written.
pub fn detach() {
    let _ = LOCAL.try_with(|l| l.borrow_mut().take());
}

/// Lines this thread dropped since [`attach`], for both streams.
pub fn dropped_here() -> u64 {
    LOCAL
        .try_with(|l| {
            l.borrow().as_ref().map_or(0, |qs| {
                qs.iter().map(|q| q.dropped.load(Ordering::Relaxed)).sum()
            })
        })
        .unwrap_or(0)
}

/// Lines dropped so far for `stream` that the writer has counted.
pub fn dropped(stream: Stream) -> u64 {
    WRITERS[stream as usize].dropped.load(Ordering::Relaxed)
}

/// Writes the line `fill` puts in an empty buffer (it must end with a newline): through
/// this shard's queue when attached, in a buffer the writer gave back, else directly
/// (blocking).
pub fn send_with(stream: Stream, fill: impl FnOnce(&mut Vec<u8>)) {
    let line = match LOCAL.try_with(|l| match &*l.borrow() {
        Some(qs) => {
            let q = &qs[stream as usize];
            let mut line = q.free.pop().unwrap_or_default();
            fill(&mut line);
            debug_assert!(line.ends_with(b"\n"));
            match q.lines.push(line) {
                Ok(()) => WRITERS[stream as usize].wake(),
                Err(line) => {
                    q.dropped.fetch_add(1, Ordering::Relaxed);
                    q.recycle(line);
                }
            }
            None
        }
        None => {
            let mut line = Vec::new();
            fill(&mut line);
            Some(line)
        }
    }) {
        Ok(Some(line)) => line,
        Ok(None) => return,
        // The thread is ending and its queues are gone.
        Err(_) => return,
    };
    debug_assert!(line.ends_with(b"\n"));
    let _ = write_all(stream, &line);
}

/// Writes whole lines under std's lock, waiting as long as the reader needs; returns how
/// many lines were lost to an error (e.g. the reader closed the pipe).
fn write_all(stream: Stream, buf: &[u8]) -> u64 {
    match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            // What std still buffers (a print without a newline) goes first.
            let _ = out.flush();
            write_fd(out.as_fd(), buf)
        }
        Stream::Stderr => {
            let err = std::io::stderr().lock();
            write_fd(err.as_fd(), buf)
        }
    }
}

fn write_fd(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> u64 {
    let mut off = 0;
    while off < buf.len() {
        match crate::sys::write(fd, &buf[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Someone made the descriptor non-blocking: wait for room instead.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = crate::sys::wait_writable(fd, 1000);
            }
            Err(_) => return memchr::memchr_iter(b'\n', &buf[off..]).count() as u64,
        }
    }
    0
}

/// At exit: waits up to `timeout` for the queued lines to be written, then reports the
/// drops of the whole run on stderr.
pub fn finish(timeout: Duration) {
    let end = Instant::now() + timeout;
    for w in &WRITERS {
        if w.thread.get().is_none() {
            continue;
        }
        // Queues first, then `writing`: lines taken out of a queue are seen as being written.
        while (w.pending() || w.writing.load(Ordering::SeqCst)) && Instant::now() < end {
            w.wake();
            std::thread::sleep(Duration::from_millis(5));
        }
        if w.pending() || w.writing.load(Ordering::SeqCst) {
            log::warn!(
                "{} did not take the last log lines within {timeout:?}; they are lost",
                w.stream.name()
            );
        }
        let mut d = w.dropped.load(Ordering::Relaxed);
        // Drops the writer has not collected yet (it collects them when it wakes).
        for r in w.queues.lock().unwrap().iter() {
            d += r.q.dropped.load(Ordering::Relaxed) - r.seen;
        }
        if d > 0 {
            log::warn!(
                "{d} log line(s) for {} dropped since start: its reader did not keep up",
                w.stream.name()
            );
        }
    }
}
