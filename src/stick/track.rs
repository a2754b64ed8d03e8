//! Sticky counters: the entries a stream (an HTTP request) or a session (a connection)
//! tracks with `track-sc0/1/2`, and what tracking counts.
//!
//! A [`Trackers`] belongs to one connection or one request on its shard; each slot is set
//! once (a later `track-sc` of a set slot does nothing, as in HAProxy) and released when the
//! `Trackers` is dropped: `conn_cur` goes down and the entry's idle time starts.
//!
//! `tcp-request connection|session` rules track on the connection: its `Trackers` lives as
//! long as the connection (`ClientOrigin`, `ClientInfo`), and the rules run on a sample
//! whose `stick()` is `tables.ctx(&connection_trackers)`. Each request or mode tcp stream
//! has its own `Trackers` (`tcp-request content`, `http-request`), and sees the
//! connection's as [`StickCtx::session`]: `sc_*` fetches look at the stream's slot first
//! and the connection's next, and [`StickCtx::count_http_request`] (called as each
//! request's head is parsed) counts the request on either, as HAProxy's
//! `stream_inc_http_req_ctr` does.

use super::table::{Entry, Key, Table};
use super::{Tables, now_ms};
use crate::config::stick::DataType;
use std::cell::OnceCell;
use std::sync::Arc;

pub use crate::acl::MAX_SC;

/// One tracked entry, in the table of proxy `table` (an index into [`Tables`]: a tracker
/// borrows nothing, so it can live as long as its connection).
pub struct Tracked {
    pub table: usize,
    pub entry: Arc<Entry>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.entry.untrack(now_ms());
    }
}

/// The sticky counters of one stream or session.
#[derive(Default)]
pub struct Trackers {
    slots: [OnceCell<Tracked>; MAX_SC],
}

impl std::fmt::Debug for Trackers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trackers({} tracked)", self.tracked())
    }
}

impl Trackers {
    pub fn new() -> Self {
        Trackers::default()
    }

    /// `track-scN KEY table T`: tracks `key`'s entry of table `table` (the declaring proxy's
    /// index) in slot `n` unless the slot is taken (HAProxy's `stream_track_stkctr`), and
    /// counts one more connection (`conn_cur`, `conn_cnt`, `conn_rate`). Returns the table
    /// and entry when this call set the slot (`None` also when the table is full).
    pub fn track<'t>(
        &self,
        n: usize,
        tables: &'t Tables,
        table: usize,
        key: &Key,
        now: u64,
    ) -> Option<(&'t Table, &Tracked)> {
        let slot = self.slots.get(n)?;
        if slot.get().is_some() {
            return None;
        }
        let t = tables.get(table)?;
        let entry = t.acquire(key, now)?;
        t.add(&entry, DataType::ConnCur, 1, now);
        t.add(&entry, DataType::ConnCnt, 1, now);
        t.add(&entry, DataType::ConnRate, 1, now);
        let _ = slot.set(Tracked { table, entry });
        Some((t, slot.get()?))
    }

    /// The entry in slot `n`.
    pub fn get(&self, n: usize) -> Option<&Tracked> {
        self.slots.get(n)?.get()
    }

    /// How many slots are tracked.
    pub fn tracked(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }
}

/// Whether a server's status counts as an HTTP failure (`http_fail_cnt`): a 5xx but 501
/// and 505, which a client's request may cause (HAProxy 2.6's `http_wait_for_response`).
pub fn is_http_fail(status: u16) -> bool {
    (500..600).contains(&status) && status != 501 && status != 505
}

/// What `sc_*`/`src_*` fetches and the `track-sc`/`sc-*` actions work on: the generation's
/// tables, the request's counters and, if any, the connection's.
#[derive(Clone, Copy)]
pub struct StickCtx<'a> {
    pub tables: &'a Tables,
    /// [`now_ms`] when the request's rules started: one clock read serves them all.
    pub now: u64,
    pub stream: &'a Trackers,
    pub session: Option<&'a Trackers>,
}

impl<'a> StickCtx<'a> {
    /// Slot `n` with its table: the stream's, else the session's (HAProxy's
    /// `smp_fetch_sc_stkctr`).
    pub fn slot(&self, n: usize) -> Option<(&'a Table, &'a Tracked)> {
        let t = self
            .stream
            .get(n)
            .or_else(|| self.session.and_then(|s| s.get(n)))?;
        Some((self.tables.get(t.table)?, t))
    }

    /// A new session (HAProxy's `session_count_new`, once the `tcp-request session` rules
    /// let the connection in): one more in `sess_cnt` and `sess_rate` of each entry the
    /// connection tracks.
    pub fn count_session(&self) {
        self.count(DataType::SessCnt, DataType::SessRate);
    }

    /// One more HTTP request on every tracked entry (slot by slot, the stream's counter or
    /// else the session's).
    pub fn count_http_request(&self) {
        self.count(DataType::HttpReqCnt, DataType::HttpReqRate);
    }

    /// A 4xx answer from the server: one more HTTP error on every tracked entry.
    pub fn count_http_error(&self) {
        self.count(DataType::HttpErrCnt, DataType::HttpErrRate);
    }

    /// A server failure (see [`is_http_fail`], and the failed exchanges of HAProxy's
    /// `stream_inc_http_fail_ctr` callers): one more HTTP failure on every tracked entry.
    pub fn count_http_fail(&self) {
        self.count(DataType::HttpFailCnt, DataType::HttpFailRate);
    }

    /// Bytes received from the client and sent to it, on every tracked entry.
    pub fn count_bytes(&self, bytes_in: u64, bytes_out: u64) {
        let now = self.now;
        for n in 0..MAX_SC {
            if let Some((t, tr)) = self.slot(n)
                && t.stores_bytes
            {
                t.add(&tr.entry, DataType::BytesInCnt, bytes_in, now);
                t.add(&tr.entry, DataType::BytesInRate, bytes_in, now);
                t.add(&tr.entry, DataType::BytesOutCnt, bytes_out, now);
                t.add(&tr.entry, DataType::BytesOutRate, bytes_out, now);
            }
        }
    }

    fn count(&self, cnt: DataType, rate: DataType) {
        let now = self.now;
        for n in 0..MAX_SC {
            if let Some((t, tr)) = self.slot(n) {
                t.add(&tr.entry, cnt, 1, now);
                t.add(&tr.entry, rate, 1, now);
            }
        }
    }
}
