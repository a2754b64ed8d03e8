//! Stick tables: per-key counters shared by every shard of a process (HAProxy's
//! src/stick_table.c), for rate limiting (`track-sc0 src` + `sc_http_req_rate(0)`) and
//! server persistence (`stick on src`).
//!
//! # Sharing without a lock on the request path
//!
//! One table per declaring proxy, shared by all shards of the generation ([`Tables`], in
//! `Shared`). A table is a lock-free concurrent hash map (papaya) from key to an [`Entry`]
//! whose data are atomics: a lookup is a hash and an epoch pin, an update is an atomic add
//! on the entry (a frequency counter is HAProxy's `freq_ctr`, rotated by CAS). Per-shard
//! tables merged on read were the other choice; they were set aside because a check like
//! `sc_http_req_rate(0) gt 10` needs the process-wide count at every request, so a read
//! would visit every shard's table (N lookups instead of one), and `server_id`/`gpt0` are
//! set, not summed, so they have no merge. The price of one shared table is that shards
//! updating the same key share its cache line, as HAProxy's threads do (it takes a lock
//! there, we do an atomic add).
//!
//! # Life of an entry
//!
//! See [`table`]: created on first use when there is room (else the least recently used
//! unreferenced entries are evicted, `size/256+1` at a time as HAProxy does); referenced by
//! live trackers, which keep it from expiring; removed once idle longer than `expire` (a
//! purge thread per generation sweeps every second, and a lookup that finds an expired
//! entry removes it at once).
//!
//! Tables start empty with each generation (a reload), as HAProxy's do without `peers`; with
//! `peers`, the new generation asks a remote peer for everything it knows.
//! The tables of `peers` sections (`SECTION/TABLE`) come after the proxies' ones in
//! [`Tables`]; tables shared through a section are synchronized with the other peers by
//! [`peers`], on threads of their own.

pub mod action;
pub mod freq;
pub mod peers;
mod source;
pub mod table;
pub mod track;

pub use action::Persist;
pub use table::{Entry, Key, Table};
pub use track::{MAX_SC, StickCtx, Tracked, Trackers};

use crate::config::Config;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Milliseconds since the process started: the clock of expiry dates and rate periods.
///
/// The coarse monotonic clock (the kernel's tick, a few ms): it is read without a time
/// stamp counter, which matters on the request path (the precise clock was half the cost of
/// tracking a request in stick_bench), and rates over seconds need no more precision.
/// HAProxy's `now_ms` is likewise updated once per poll loop, not per read.
pub fn now_ms() -> u64 {
    static START: OnceLock<u64> = OnceLock::new();
    let ms =
        |t: nix::sys::time::TimeSpec| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000;
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC_COARSE)
        .map(ms)
        .unwrap_or_else(|_| {
            static FALLBACK: OnceLock<Instant> = OnceLock::new();
            FALLBACK.get_or_init(Instant::now).elapsed().as_millis() as u64
        });
    // Starts well above zero, so that a fresh counter's tick (0) is a period long past.
    now - *START.get_or_init(|| now) + (1 << 20)
}

/// The stick tables of one generation, by the index of the proxy that declares them.
#[derive(Debug, Default)]
pub struct Tables {
    by_proxy: Vec<Option<Arc<Table>>>,
    /// Whether there is any table: requests of a configuration without one skip the work.
    pub any: bool,
    /// Whether a table stores byte counters: requests skip sizing their messages otherwise.
    pub bytes: bool,
}

impl Tables {
    pub fn new(cfg: &Config) -> Tables {
        let by_proxy: Vec<Option<Arc<Table>>> = cfg
            .proxies
            .iter()
            .map(|p| {
                p.stick_table
                    .as_ref()
                    .map(|t| Arc::new(Table::new(&p.name, t)))
            })
            .chain(
                crate::config::peers::section_tables(cfg)
                    .map(|(n, t)| Some(Arc::new(Table::new(&n, t)))),
            )
            .collect();
        Tables {
            any: by_proxy.iter().any(Option::is_some),
            bytes: by_proxy.iter().flatten().any(|t| t.stores_bytes),
            by_proxy,
        }
    }

    /// The table of proxy `i`.
    pub fn get(&self, i: usize) -> Option<&Table> {
        self.by_proxy.get(i)?.as_deref()
    }

    /// Every table, in the order of the file.
    pub fn iter(&self) -> impl Iterator<Item = &Table> {
        self.by_proxy.iter().flatten().map(|t| &**t)
    }

    /// The table declared by the proxy named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Table> {
        self.iter().find(|t| t.name == name)
    }

    /// Starts the thread that removes expired entries, once a second, for as long as the
    /// generation holds its tables (none when no table expires).
    pub fn start_purger(tables: &Arc<Tables>) {
        if !tables.iter().any(|t| t.cfg.expire.is_some()) {
            return;
        }
        let weak: Weak<Tables> = Arc::downgrade(tables);
        let r = std::thread::Builder::new()
            .name("corelb-stick-purge".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(t) = weak.upgrade() else { return };
                    let now = now_ms();
                    for table in t.iter() {
                        table.purge(now);
                    }
                }
            });
        if let Err(e) = r {
            log::warn!(
                "stick tables: cannot start the purge thread ({e}); entries expire on lookup only"
            );
        }
    }
}
