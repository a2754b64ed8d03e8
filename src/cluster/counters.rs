//! The traffic counters HAProxy keeps per frontend, backend and server, kept per shard.
//!
//! Ownership: every shard has its own [`ShardCounters`] (one heap block per shard, each
//! object's counters on their own cache lines). Only the owning shard's thread writes it,
//! with a relaxed load and a relaxed store (`store(load() + v)`): no lock, no
//! read-modify-write instruction, no cache line shared with another shard. Readers (the
//! stats page, the exporter, the stats socket, on whichever thread) load the same atomics
//! relaxed and sum the shards ([`Counters::sum`]); a reader may see one shard a few events
//! behind another, never a torn value.
//!
//! Rates follow HAProxy's `freq_ctr` (events in the current second plus the previous
//! second's, weighted by what is left of the current one); time averages follow its
//! `swrate` (a sliding sum over the last [`SAMPLES`] values). Maxima are per shard: the
//! reader takes the largest, so a maximum of a rate is the largest one shard saw, a lower
//! bound of the process-wide one when several shards peak at the same time.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::time::{Duration, Instant};

/// How many recent values the time averages cover (HAProxy's `TIME_STATS_SAMPLES`).
pub const SAMPLES: u64 = 1024;

/// Idle server connections a shard's pool (`net::pool`) keeps per server: the limit it
/// enforces, and the stats' `srv_ilim` (times the shards). Here so that `stats` reads it
/// without reaching sideways into `net`.
pub const MAX_IDLE: usize = 128;

/// One counter slot of an object. Sums (`*_tot`, bytes, errors), maxima, rate triples and
/// sliding sums, by their position in [`Obj`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum C {
    /// Sessions (frontend: accepted connections; backend/server: streams assigned).
    Stot,
    Bin,
    Bout,
    Dreq,
    Dresp,
    Ereq,
    Econ,
    Eresp,
    Wretr,
    Wredis,
    Hrsp1xx,
    Hrsp2xx,
    Hrsp3xx,
    Hrsp4xx,
    Hrsp5xx,
    HrspOther,
    ReqTot,
    CliAbrt,
    SrvAbrt,
    ConnTot,
    /// Connection attempts to servers (new connections, not reused ones).
    Connect,
    Reuse,
    Lbtot,
    Intercepted,
    Eint,
    /// Failed HTTP rewrites (`wrew`).
    Wrew,
    /// Maxima (the reader takes the largest of the shards').
    Smax,
    Qmax,
    RateMax,
    ReqRateMax,
    ConnRateMax,
    QtimeMax,
    CtimeMax,
    RtimeMax,
    TtimeMax,
    /// Milliseconds since the epoch of [`Counters`] of the last session (+1; 0 = never).
    LastSess,
    /// `swrate` sums (milliseconds) and how many samples went in (capped at SAMPLES).
    Qtime,
    Ctime,
    Rtime,
    Ttime,
    Samples,
    /// Rates: (events this period, period number + 1, events in the previous one) each.
    Rate,
    RateP,
    RatePrev,
    ReqRate,
    ReqRateP,
    ReqRatePrev,
    ConnRate,
    ConnRateP,
    ConnRatePrev,
    /// Health checks that failed, and UP→DOWN transitions (written by the prober's shard).
    ChkFail,
    ChkDown,
    /// The last check: its result (see [`crate::stats::CheckStatus`] as u64 + 1; 0 =
    /// none yet), HTTP code, duration in ms, and when it ran (ms since the epoch).
    CheckStatus,
    CheckCode,
    CheckDuration,
    CheckAt,
    /// Gauges a shard publishes now and then (its purge timer): the server's idle pooled
    /// connections of this shard, not yet reused ("unsafe") and reused ("safe").
    IdleCur,
    SafeCur,
    /// A listener's connections open now on this shard (`option socket-stats`).
    LiCur,
}

const N: usize = C::LiCur as usize + 1;

/// One object's counters, on cache lines of its own.
#[repr(align(64))]
pub struct Obj {
    f: [AtomicU64; N],
}

impl Default for Obj {
    fn default() -> Obj {
        Obj {
            f: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Obj {
    #[inline]
    fn get(&self, c: C) -> u64 {
        self.f[c as usize].load(Relaxed)
    }

    #[inline]
    fn set(&self, c: C, v: u64) {
        self.f[c as usize].store(v, Relaxed)
    }

    /// Adds `v`: only the owning shard writes, so a load and a store suffice.
    #[inline]
    pub fn add(&self, c: C, v: u64) {
        if v != 0 {
            self.set(c, self.get(c) + v);
        }
    }

    /// Stores a gauge ([`C::IdleCur`], [`C::SafeCur`]): only the owning shard writes.
    pub fn gauge(&self, c: C, v: u64) {
        if self.get(c) != v {
            self.set(c, v);
        }
    }

    #[inline]
    pub fn max(&self, c: C, v: u64) {
        if v > self.get(c) {
            self.set(c, v);
        }
    }

    /// One event for the rate starting at slot `rate` (Rate, ReqRate or ConnRate) at `ms`,
    /// and its maximum in `max`. HAProxy's update_freq_ctr(): a period starts with the
    /// first event after the previous one ended (at once after two idle ones), not on a
    /// round second.
    #[inline]
    fn tick(&self, rate: C, max: C, ms: u64) {
        let (cur, start, prev) = (rate as usize, rate as usize + 1, rate as usize + 2);
        // The period's start (ms + 1; 0: no event yet).
        let s = self.f[start].load(Relaxed);
        if s == 0 || ms + 1 - s.min(ms + 1) >= 1000 {
            let next = s + 1000;
            let (carried, at) = if s != 0 && ms + 1 - next.min(ms + 1) < 1000 {
                (self.f[cur].load(Relaxed), next)
            } else {
                (0, ms + 1)
            };
            self.f[prev].store(carried, Relaxed);
            self.f[cur].store(0, Relaxed);
            self.f[start].store(at, Relaxed);
        }
        self.f[cur].store(self.f[cur].load(Relaxed) + 1, Relaxed);
        self.max(max, self.rate_at(rate, ms));
    }

    /// HAProxy's freq_ctr_total() with its flapping correction, times 1000: this period's
    /// events times 1000 plus the previous one's weighted by the milliseconds of this
    /// period still to come (a rate is this divided by 1000, rounded down).
    fn rate_total(&self, rate: C, ms: u64) -> u64 {
        let (cur, start, prev) = (rate as usize, rate as usize + 1, rate as usize + 2);
        let s = self.f[start].load(Relaxed);
        if s == 0 {
            return 0;
        }
        let mut remain = (s - 1) as i64 + 1000 - ms as i64;
        let (mut c, mut p) = (self.f[cur].load(Relaxed), self.f[prev].load(Relaxed));
        if remain < 0 {
            remain += 1000;
            p = if remain >= 0 { c } else { 0 };
            c = 0;
        }
        if c == 0 && p <= 1 {
            return p * 1000;
        }
        p * remain.max(0) as u64 + c * 1000
    }

    /// HAProxy's read_freq_ctr().
    fn rate_at(&self, rate: C, ms: u64) -> u64 {
        self.rate_total(rate, ms) / 1000
    }

    /// HAProxy's swrate_add(): the sum decays by 1/SAMPLES and takes `v`. Until `n` (the
    /// samples taken so far) reaches SAMPLES it is a plain sum, so the first averages are
    /// exact instead of starting from zero.
    #[inline]
    fn swrate(&self, c: C, v: u64, n: u64) {
        let s = self.get(c);
        self.set(
            c,
            if n < SAMPLES {
                s + v
            } else {
                s - s / SAMPLES + v
            },
        );
    }
}

/// What the end of a stream (an HTTP request/response, or a mode tcp connection) adds to
/// the counters of its frontend, backend and server.
#[derive(Debug, Default, Clone)]
pub struct StreamEnd {
    /// HTTP status sent to the client (0: none, or mode tcp).
    pub status: u16,
    /// Whether it was an HTTP request (counted in `req_tot`).
    pub http: bool,
    /// The status the server answered (0: none), which its `hrsp_*` count (HAProxy counts
    /// a server's answer as it came; the frontend and backend count what the client got).
    pub srv_status: u16,
    /// An `http-response deny` replaced the server's answer: `dresp`, not `eresp`.
    pub denied_resp: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// HAProxy's two-letter termination state (`--`, `CD`, `SC`, `PR`…).
    pub term: crate::log::term::Term,
    pub retries: u32,
    /// The server a retry left for another one (HAProxy counts the redispatch there and
    /// on the backend).
    pub redispatched_from: Option<usize>,
    /// Denied by a rule (`http-request deny`).
    pub denied: bool,
    /// Answered by corelb itself (stats page, exporter, monitor-uri).
    pub intercepted: bool,
    /// Rewrites that failed (`wrew`), as HAProxy counts them when they fail: all on the
    /// frontend (and listener), `[1]` of them once the backend was chosen on it too,
    /// `[2]` once a server was on that server.
    pub failed_rewrites: [u8; 3],
    /// An internal error ended it (`eint`; HAProxy's `return_int_err`, e.g. a failed
    /// rewrite under `strict-mode on`): counted on the first this many of frontend (and
    /// listener), backend, server, those chosen when it happened (0: none).
    pub internal_error: u8,
    /// The `bind` (its position in the frontend) the client came through: its listener
    /// counters with `option socket-stats`.
    pub listener: usize,
    /// The server connection came from the idle pool.
    pub reused: bool,
    pub t_queue: Option<Duration>,
    /// For a stream that queued: the backend's queue length it saw (itself included).
    pub queued_with: u32,
    pub t_connect: Option<Duration>,
    pub t_response: Option<Duration>,
    pub t_total: Duration,
    /// The rates already counted when they happened ([`ticked`] bits): the rest count now.
    pub ticked: u8,
}

/// Which rates a stream counted as they happened, as HAProxy does (`fe_req_rate` counts
/// the request before its rules run, `be_sess_rate` once the backend is chosen,
/// `srv_sess_rate` once the server is): what [`ShardCounters::rate_now`] sets and
/// [`StreamEnd::ticked`] carries.
pub mod ticked {
    pub const REQ: u8 = 1;
    pub const BE: u8 = 2;
    pub const SRV: u8 = 4;
}

/// Whether slot `c` is a maximum (what `clear counters` resets).
fn is_max(c: usize) -> bool {
    (C::Smax as usize..=C::TtimeMax as usize).contains(&c)
}

/// Whether slot `c` describes the last health check (kept by `clear counters all`, as
/// HAProxy keeps a check's result outside its counters).
fn is_check(c: usize) -> bool {
    (C::CheckStatus as usize..=C::CheckAt as usize).contains(&c)
}

/// Whether `clear counters all` leaves slot `c` alone: the last check, and the published
/// gauges (a current value, not a count).
fn kept(c: usize) -> bool {
    is_check(c) || c >= C::IdleCur as usize
}

/// One shard's counters, indexed like `cfg.proxies` (and servers within a proxy).
pub struct ShardCounters {
    /// The shard's own counters (connections, splice, kTLS, buffers, checks): `corelb_*`.
    pub proc: std::sync::Arc<crate::cluster::counters::ShardStats>,
    /// `clear counters` requests, written by the runtime API: the number of `clear
    /// counters all` in the high half, of `clear counters` (maxima only) in the low half.
    /// Only the shard may store into its counters, so it applies a request itself at its
    /// next write ([`ShardCounters::sync`]) and then sets `cleared` to it; until then
    /// readers count what the request cleared as 0.
    clear: AtomicU64,
    cleared: AtomicU64,
    fe: Box<[Obj]>,
    be: Box<[Obj]>,
    srv: Box<[Box<[Obj]>]>,
    /// Per proxy, one per `bind` with `option socket-stats` (empty without).
    li: Box<[Box<[Obj]>]>,
    epoch: Instant,
}

impl ShardCounters {
    /// Applies a pending `clear counters` before this shard writes: two relaxed loads of
    /// words written only on a `clear counters`, so the request path adds nothing
    /// measurable (no store, no shared line written in steady state).
    #[inline]
    fn sync(&self) {
        let want = self.clear.load(Relaxed);
        if want != self.cleared.load(Relaxed) {
            self.apply_clear(want);
        }
    }

    #[cold]
    fn apply_clear(&self, want: u64) {
        let all = want >> 32 != self.cleared.load(Relaxed) >> 32;
        let objs = self
            .fe
            .iter()
            .chain(self.be.iter())
            .chain(self.srv.iter().flatten())
            .chain(self.li.iter().flatten());
        for o in objs {
            for c in 0..N {
                if (all && !kept(c)) || is_max(c) {
                    o.f[c].store(0, Relaxed);
                }
            }
        }
        self.cleared.store(want, Release);
    }

    /// Which of this shard's slots a reader must count as 0 now: (everything but the last
    /// check, the maxima) per a `clear counters` the shard has not applied yet.
    fn stale(&self) -> (bool, bool) {
        let (want, done) = (self.clear.load(Acquire), self.cleared.load(Acquire));
        let all = want >> 32 != done >> 32;
        (all, all || want as u32 != done as u32)
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    pub fn fe(&self, px: usize) -> &Obj {
        &self.fe[px]
    }
    pub fn be(&self, px: usize) -> &Obj {
        &self.be[px]
    }
    pub fn srv(&self, px: usize, s: usize) -> &Obj {
        &self.srv[px][s]
    }

    /// Listener `bind` of proxy `px`, if it keeps counters (`option socket-stats`).
    pub fn li(&self, px: usize, bind: usize) -> Option<&Obj> {
        self.li.get(px).and_then(|l| l.get(bind))
    }

    /// Counts a rate as it happens (`what` is one [`ticked`] bit) and adds it to `done`,
    /// which the stream's [`StreamEnd::ticked`] then carries: the frontend's requests
    /// (`px` the frontend), a backend's or a server's (`srv`) sessions; once per stream.
    #[inline]
    pub fn rate_now(&self, what: u8, px: usize, srv: usize, done: &mut u8, now: Instant) {
        if *done & what != 0 {
            return;
        }
        *done |= what;
        self.sync();
        let ms = self.ms(now);
        match what {
            ticked::REQ => self.fe[px].tick(C::ReqRate, C::ReqRateMax, ms),
            ticked::BE => self.be[px].tick(C::Rate, C::RateMax, ms),
            _ => self.srv[px][srv].tick(C::Rate, C::RateMax, ms),
        }
    }

    /// A connection accepted by frontend `px` on its `bind`; the frontend now has `cur`
    /// connections.
    #[inline]
    pub fn accepted(&self, px: usize, bind: usize, cur: u32, now: Instant) {
        self.sync();
        let ms = self.ms(now);
        let o = &self.fe[px];
        o.add(C::Stot, 1);
        o.add(C::ConnTot, 1);
        o.max(C::Smax, cur as u64);
        o.tick(C::Rate, C::RateMax, ms);
        o.tick(C::ConnRate, C::ConnRateMax, ms);
        if let Some(l) = self.li(px, bind) {
            l.add(C::Stot, 1);
            l.add(C::ConnTot, 1);
            let open = l.get(C::LiCur) + 1;
            l.set(C::LiCur, open);
            l.max(C::Smax, open);
        }
    }

    /// A connection accepted on `bind` of proxy `px` closed.
    #[inline]
    pub fn closed(&self, px: usize, bind: usize) {
        if let Some(l) = self.li(px, bind) {
            l.set(C::LiCur, l.get(C::LiCur).saturating_sub(1));
        }
    }

    /// `option contstats`: bytes a stream of frontend `fe` (through `listener`) moved
    /// with server `srv` of backend `be` while it runs; its end then counts only the rest.
    pub fn bytes_moved(
        &self,
        fe: usize,
        listener: usize,
        (be, srv): (usize, usize),
        bytes_in: u64,
        bytes_out: u64,
    ) {
        self.sync();
        let li = self.li(fe, listener);
        for x in [&self.fe[fe], &self.be[be], &self.srv[be][srv]]
            .into_iter()
            .chain(li)
        {
            x.add(C::Bin, bytes_in);
            x.add(C::Bout, bytes_out);
        }
    }

    /// A stream of frontend `fe` that went to `be` (and its server `srv`) ended at `now`
    /// (the caller's clock reading, which also gave `e.t_total`).
    pub fn stream_done(
        &self,
        fe: usize,
        be: Option<&crate::cluster::BackendRt>,
        srv: Option<usize>,
        mut e: StreamEnd,
        now: Instant,
    ) {
        if let (Some(b), Some(_)) = (be, e.t_queue) {
            // Still waiting, plus itself: a lower bound of the queue it saw.
            e.queued_with = b.queue.waiting() + 1;
        }
        // The server's connections while this one was still open (it has just given its
        // slot back): what the maxima see.
        let s = be
            .zip(srv)
            .map(|(b, s)| (s, b.lb.servers[s].cur_conns() + 1));
        self.stream_end(fe, be.map(|b| b.proxy), s, &e, now);
    }

    /// A stream ended: what it adds to frontend `fe`, backend `be` and server `srv`, whose
    /// current connection count `srv_cur` feeds the maxima (the backend's maximum is the
    /// largest of its servers': summing them per stream would read every server's shared
    /// counter on the request path).
    pub fn stream_end(
        &self,
        fe: usize,
        be: Option<usize>,
        srv: Option<(usize, u32)>,
        e: &StreamEnd,
        now: Instant,
    ) {
        self.sync();
        let ms = self.ms(now);
        let t = e.term.bytes();
        let client_abort = matches!(t[0], b'C' | b'c') && t[1] == b'D';
        let server_abort = matches!(t[0], b'S' | b's') && t[1] == b'D';
        let conn_error = matches!(t[0], b'S' | b's') && t[1] == b'C';
        let resp_error = matches!(&t, b"SH" | b"sH" | b"PH") && !e.denied_resp;
        // A deny is counted as denied, not as an invalid request (HAProxy's `deny:` label).
        let req_error = t == *b"cR"
            || t == *b"CR"
            || (t == *b"PR" && e.status >= 400 && e.status != 503 && !e.denied);
        let class_of = |status: u16| match status {
            100..=199 => Some(C::Hrsp1xx),
            200..=299 => Some(C::Hrsp2xx),
            300..=399 => Some(C::Hrsp3xx),
            400..=499 => Some(C::Hrsp4xx),
            500..=599 => Some(C::Hrsp5xx),
            0 => None,
            _ => Some(C::HrspOther),
        };
        // The frontend and backend count a request that ended without a status (HAProxy's
        // -1: a client that left while queued, CQ) in hrsp_other, as HAProxy's
        // `rsp[status / 100]` does; the server counts only statuses it sent.
        let class = match e.status {
            0 => Some(C::HrspOther),
            s => class_of(s),
        };
        let f = &self.fe[fe];
        f.add(C::Bin, e.bytes_in);
        f.add(C::Bout, e.bytes_out);
        if e.http {
            f.add(C::ReqTot, 1);
            if e.ticked & ticked::REQ == 0 {
                f.tick(C::ReqRate, C::ReqRateMax, ms);
            }
            f.add(C::Ereq, req_error as u64);
            f.add(C::Intercepted, e.intercepted as u64);
            if let Some(c) = class {
                f.add(c, 1);
            }
        }
        f.add(C::Dreq, e.denied as u64);
        f.add(C::Dresp, e.denied_resp as u64);
        let [wrew, wrew_be, wrew_srv] = e.failed_rewrites.map(u64::from);
        f.add(C::Wrew, wrew);
        let eint = |n: u8| (e.internal_error >= n) as u64;
        f.add(C::Eint, eint(1));
        if let Some(l) = self.li(fe, e.listener) {
            l.add(C::Wrew, wrew);
            l.add(C::Eint, eint(1));
            l.add(C::Bin, e.bytes_in);
            l.add(C::Bout, e.bytes_out);
            l.add(C::Dreq, e.denied as u64);
            l.add(C::Ereq, (e.http && req_error) as u64);
        }
        let Some(b) = be else { return };
        let o = &self.be[b];
        // What a stream adds alike to its backend and its server.
        let shared_part = |x: &Obj, counted: u8| {
            x.add(C::Stot, 1);
            if e.ticked & counted == 0 {
                x.tick(C::Rate, C::RateMax, ms);
            }
            x.set(C::LastSess, ms + 1);
            x.add(C::Bin, e.bytes_in);
            x.add(C::Bout, e.bytes_out);
            x.add(C::Econ, conn_error as u64);
            x.add(C::Eresp, resp_error as u64);
            x.add(
                C::Wretr,
                (e.retries as u64).saturating_sub(e.redispatched_from.is_some() as u64),
            );
            x.add(C::CliAbrt, client_abort as u64);
            x.add(C::SrvAbrt, server_abort as u64);
        };
        shared_part(o, ticked::BE);
        if let Some(from) = e.redispatched_from {
            o.add(C::Wredis, 1);
            self.srv[b][from].add(C::Wredis, 1);
        }
        o.max(C::Qmax, e.queued_with as u64);
        o.add(C::Dreq, e.denied as u64);
        o.add(C::Dresp, e.denied_resp as u64);
        o.add(C::Wrew, wrew_be);
        o.add(C::Eint, eint(2));
        if e.http {
            o.add(C::ReqTot, 1);
            if let Some(c) = class {
                o.add(c, 1);
            }
        }
        let Some((s, srv_cur)) = srv else { return };
        let so = &self.srv[b][s];
        shared_part(so, ticked::SRV);
        for x in [o, so] {
            x.add(C::Lbtot, 1);
            x.max(C::Smax, srv_cur as u64);
            if e.reused {
                x.add(C::Reuse, 1);
            } else {
                x.add(C::Connect, 1 + e.retries as u64);
            }
        }
        so.add(C::Dresp, e.denied_resp as u64);
        so.add(C::Wrew, wrew_srv);
        so.add(C::Eint, eint(3));
        if e.http && e.srv_status != 0 {
            so.add(C::ReqTot, 1);
            if let Some(c) = class_of(e.srv_status) {
                so.add(c, 1);
            }
        }
        // HAProxy's stream_update_time_stats(): only streams that got as far as data.
        if let Some(tc) = e.t_connect
            && (e.t_response.is_some() || !e.http)
        {
            let ms = |d: Duration| d.as_millis() as u64;
            let (q, c, r, tt) = (
                ms(e.t_queue.unwrap_or_default()),
                ms(tc),
                ms(e.t_response.unwrap_or_default()),
                ms(e.t_total),
            );
            for x in [o, so] {
                let n = x.get(C::Samples);
                x.swrate(C::Qtime, q, n);
                x.swrate(C::Ctime, c, n);
                x.swrate(C::Rtime, r, n);
                x.swrate(C::Ttime, tt, n);
                x.max(C::QtimeMax, q);
                x.max(C::CtimeMax, c);
                x.max(C::RtimeMax, r);
                x.max(C::TtimeMax, tt);
                if x.get(C::Samples) < SAMPLES {
                    x.add(C::Samples, 1);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    /// A health check of server `s` of backend `b` ran; `down` when it took the server
    /// down. `status` is a [`crate::stats::CheckStatus`].
    pub fn checked(
        &self,
        b: usize,
        s: usize,
        status: super::CheckStatus,
        code: Option<u16>,
        took: Duration,
        went_down: bool,
        now: Instant,
    ) {
        crate::cluster::counters::ShardStats::add(&self.proc.checks, 1);
        self.sync();
        let o = &self.srv[b][s];
        if !status.ok() {
            o.add(C::ChkFail, 1);
        }
        o.add(C::ChkDown, went_down as u64);
        o.set(C::CheckStatus, status as u64 + 1);
        o.set(C::CheckCode, code.unwrap_or(0) as u64);
        o.set(C::CheckDuration, took.as_millis() as u64);
        o.set(C::CheckAt, self.ms(now) + 1);
    }
}

/// Every shard's counters, for one configuration generation.
pub struct Counters {
    shards: Box<[ShardCounters]>,
    epoch: Instant,
}

impl Counters {
    /// Counters for `shards` shards over `servers[i]` servers of proxy i.
    pub fn new(shards: usize, servers: &[usize]) -> Counters {
        Counters::with_listeners(shards, servers, &[])
    }

    /// Counters as [`new`](Self::new)'s, and `listeners[i]` listener counters for proxy
    /// i (its binds with `option socket-stats`, else 0).
    pub fn with_listeners(shards: usize, servers: &[usize], listeners: &[usize]) -> Counters {
        let epoch = Instant::now();
        let objs = |n: usize| (0..n).map(|_| Obj::default()).collect::<Box<[Obj]>>();
        Counters {
            shards: (0..shards.max(1))
                .map(|_| ShardCounters {
                    proc: Default::default(),
                    fe: objs(servers.len()),
                    be: objs(servers.len()),
                    srv: servers.iter().map(|&n| objs(n)).collect(),
                    li: listeners.iter().map(|&n| objs(n)).collect(),
                    clear: AtomicU64::new(0),
                    cleared: AtomicU64::new(0),
                    epoch,
                })
                .collect(),
            epoch,
        }
    }

    /// Shard `i`'s counters: write them only from that shard's thread.
    pub fn shard(&self, i: usize) -> &ShardCounters {
        &self.shards[i]
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// `clear counters` (`all`: every counter; otherwise the maxima), HAProxy's
    /// semantics. Readers see the result at once; each shard zeroes its own slots at its
    /// next write. Callers serialise (the runtime API runs one command at a time).
    pub fn clear(&self, all: bool) {
        let step = if all { 1u64 << 32 } else { 1 };
        for sh in self.shards.iter() {
            let v = sh.clear.load(Relaxed);
            let next = if all {
                (v & !0xffff_ffff).wrapping_add(step) | (v as u32).wrapping_add(1) as u64
            } else {
                (v & !0xffff_ffff) | (v as u32).wrapping_add(1) as u64
            };
            sh.clear.store(next, Release);
        }
    }

    /// One rate of an object (`C::Rate`, `C::ReqRate` or `C::ConnRate`) over the shards,
    /// read now: each shard's events with HAProxy's weighting, summed, then divided (the
    /// `fe_sess_rate` family of fetches; lock-free like [`Counters::sum`], reading three
    /// words per shard).
    pub fn rate(&self, obj: impl Fn(&ShardCounters) -> &Obj, c: C) -> u64 {
        let ms = self.epoch.elapsed().as_millis() as u64;
        let live = self.shards.iter().filter(|sh| !sh.stale().0);
        live.map(|sh| obj(sh).rate_total(c, ms)).sum::<u64>() / 1000
    }

    /// The sum over the shards of an object's counters, read now.
    pub fn sum(&self, obj: impl Fn(&ShardCounters) -> &Obj) -> Totals {
        let ms = self.epoch.elapsed().as_millis() as u64;
        let mut t = Totals::default();
        let mut weighted = [0u64; 4];
        for sh in self.shards.iter() {
            let o = obj(sh);
            let (all_stale, max_stale) = sh.stale();
            for c in 0..N {
                let v = if (all_stale && !kept(c)) || (max_stale && is_max(c)) {
                    0
                } else {
                    o.f[c].load(Relaxed)
                };
                t.v[c] = match c {
                    x if (C::Smax as usize..=C::LastSess as usize).contains(&x) => t.v[c].max(v),
                    x if x == C::CheckStatus as usize
                        || x == C::CheckCode as usize
                        || x == C::CheckDuration as usize
                        || x == C::CheckAt as usize =>
                    {
                        t.v[c]
                    }
                    _ => t.v[c] + v,
                };
            }
            // The last check is the one with the latest time (one shard runs it).
            let at = o.get(C::CheckAt);
            if at > t.v[C::CheckAt as usize] {
                for c in [C::CheckStatus, C::CheckCode, C::CheckDuration, C::CheckAt] {
                    t.v[c as usize] = o.get(c);
                }
            }
            // Each shard's sliding average, weighted by how many samples it has.
            if all_stale {
                continue;
            }
            let n = o.get(C::Samples);
            for (i, c) in [C::Qtime, C::Ctime, C::Rtime, C::Ttime].iter().enumerate() {
                weighted[i] += avg(o.get(*c), n) * n;
            }
            t.rate += o.rate_total(C::Rate, ms);
            t.req_rate += o.rate_total(C::ReqRate, ms);
            t.conn_rate += o.rate_total(C::ConnRate, ms);
        }
        t.rate /= 1000;
        t.req_rate /= 1000;
        t.conn_rate /= 1000;
        let n = t.v[C::Samples as usize];
        t.avg = weighted.map(|w| w.checked_div(n).unwrap_or(0));
        t.now_ms = ms;
        t
    }
}

/// HAProxy's swrate_avg() for a sum that has taken `n` samples (fewer than SAMPLES while
/// it fills up: the sum then holds every value, decayed slightly).
fn avg(sum: u64, n: u64) -> u64 {
    if n == 0 {
        0
    } else if n < SAMPLES {
        sum / n
    } else {
        sum.div_ceil(SAMPLES)
    }
}

/// Summed counters of one object.
#[derive(Debug, Clone)]
pub struct Totals {
    v: [u64; N],
    /// Sessions, requests and connections per second now.
    pub rate: u64,
    pub req_rate: u64,
    pub conn_rate: u64,
    /// Average queue, connect, response and total time (ms) over the last samples.
    pub avg: [u64; 4],
    now_ms: u64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            v: [0; N],
            rate: 0,
            req_rate: 0,
            conn_rate: 0,
            avg: [0; 4],
            now_ms: 0,
        }
    }
}

impl Totals {
    pub fn get(&self, c: C) -> u64 {
        self.v[c as usize]
    }

    /// Seconds since the last session, or None when there was none.
    pub fn last_sess_age(&self) -> Option<u64> {
        match self.get(C::LastSess) {
            0 => None,
            at => Some(self.now_ms.saturating_sub(at - 1) / 1000),
        }
    }

    /// The last health check: status, code, duration (ms), or None before the first.
    pub fn last_check(&self) -> Option<(super::CheckStatus, u16, u64)> {
        match self.get(C::CheckStatus) {
            0 => None,
            s => Some((
                super::CheckStatus::from_u64(s - 1),
                self.get(C::CheckCode) as u16,
                self.get(C::CheckDuration),
            )),
        }
    }
}

/// Per-shard counters. Only this shard's thread writes them (a relaxed load and store, no
/// read-modify-write); the stats page and the exporter read them from other threads.
#[derive(Default, Debug)]
pub struct ShardStats {
    pub accepted: AtomicU64,
    /// Bytes moved by splice(2) through a pipe.
    pub spliced: AtomicU64,
    /// Bytes moved through a user-space buffer (short reads of `splice-auto`, the copy
    /// pump, pipes exhausted, the byte held while waiting for writability). Each byte
    /// delivered counts once, in `spliced` or here.
    pub copied: AtomicU64,
    /// Times back-pressure made a direction wait for writability (one byte went through
    /// user space each time).
    pub write_waits: AtomicU64,
    /// Times a splicing direction waited for its source to become readable (one byte read
    /// through user space each; a copying direction waits with its own read).
    pub read_waits: AtomicU64,
    /// Times no pipe was available and a chunk went through the copy path instead.
    pub pipe_fallbacks: AtomicU64,
    /// TLS client connections whose record layer was handed to the kernel (kTLS).
    pub ktls_handoffs: AtomicU64,
    /// TLS client connections that kept their records in rustls (user space).
    pub tls_userspace: AtomicU64,
    /// Health checks this shard ran.
    pub checks: AtomicU64,
    /// Published by the shard about once a second (they are read on its own thread):
    /// log lines dropped, and I/O buffers taken from the spare list vs newly allocated.
    pub log_drops: AtomicU64,
    pub buffers_reused: AtomicU64,
    pub buffers_allocated: AtomicU64,
    /// Published with those: the shard's io_uring_enter calls and the submission queue
    /// entries they submitted (glommio's rings; `glommio::io_uring_counters`).
    pub uring_enters: AtomicU64,
    pub uring_submissions: AtomicU64,
}

impl ShardStats {
    pub fn add(c: &AtomicU64, v: u64) {
        c.store(c.load(Relaxed) + v, Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_counters_only_with_socket_stats() {
        let c = Counters::with_listeners(2, &[0, 0], &[2, 0]);
        let t0 = Instant::now();
        c.shard(0).accepted(0, 1, 1, t0);
        c.shard(1).accepted(0, 1, 1, t0);
        c.shard(1).accepted(0, 1, 2, t0);
        c.shard(1).closed(0, 1);
        // Proxy 1 has no listener counters: nothing to write, nothing to panic on.
        c.shard(0).accepted(1, 0, 1, t0);
        c.shard(0).closed(1, 0);
        assert!(c.shard(0).li(1, 0).is_none());
        let e = StreamEnd {
            http: true,
            bytes_in: 10,
            term: crate::log::term::Term::new(
                crate::log::term::Cause::Proxy,
                crate::log::term::Phase::Request,
            ),
            status: 400,
            listener: 1,
            ..Default::default()
        };
        c.shard(0).stream_end(0, None, None, &e, t0);
        let t = c.sum(|s| s.li(0, 1).unwrap());
        assert_eq!(t.get(C::Stot), 3);
        assert_eq!(t.get(C::LiCur), 2);
        assert_eq!(t.get(C::Smax), 2, "the largest one shard saw");
        assert_eq!((t.get(C::Bin), t.get(C::Ereq)), (10, 1));
        assert_eq!(c.sum(|s| s.li(0, 0).unwrap()).get(C::Stot), 0);
        // `clear counters all` keeps the current count.
        c.clear(true);
        assert_eq!(c.sum(|s| s.li(0, 1).unwrap()).get(C::LiCur), 2);
        assert_eq!(c.sum(|s| s.li(0, 1).unwrap()).get(C::Stot), 0);
    }

    #[test]
    fn shards_are_summed_and_maxima_maxed() {
        let c = Counters::new(2, &[0, 2]);
        let t0 = Instant::now();
        c.shard(0).accepted(0, 0, 3, t0);
        c.shard(1).accepted(0, 0, 5, t0);
        c.shard(1).accepted(0, 0, 1, t0);
        let t = c.sum(|s| s.fe(0));
        assert_eq!(t.get(C::Stot), 3);
        assert_eq!(t.get(C::Smax), 5);
        assert_eq!(t.rate, 3);
    }

    #[test]
    fn a_stream_counts_where_it_went() {
        let c = Counters::new(1, &[0, 2]);
        let e = StreamEnd {
            status: 200,
            http: true,
            srv_status: 200,
            bytes_in: 10,
            bytes_out: 20,
            term: crate::log::term::Term::NORMAL,
            t_connect: Some(Duration::from_millis(2)),
            t_response: Some(Duration::from_millis(4)),
            t_total: Duration::from_millis(8),
            ..Default::default()
        };
        let now = Instant::now();
        c.shard(0).stream_end(0, Some(1), Some((1, 1)), &e, now);
        let e503 = StreamEnd {
            status: 503,
            http: true,
            term: crate::log::term::Term::new(
                crate::log::term::Cause::Server,
                crate::log::term::Phase::Connect,
            ),
            retries: 3,
            redispatched_from: Some(1),
            t_queue: Some(Duration::from_millis(1)),
            queued_with: 2,
            ..Default::default()
        };
        c.shard(0).stream_end(0, Some(1), Some((0, 0)), &e503, now);
        let fe = c.sum(|s| s.fe(0));
        assert_eq!((fe.get(C::ReqTot), fe.get(C::Hrsp2xx)), (2, 1));
        assert_eq!((fe.get(C::Hrsp5xx), fe.get(C::Bout)), (1, 20));
        let be = c.sum(|s| s.be(1));
        assert_eq!((be.get(C::Stot), be.get(C::Econ)), (2, 1));
        assert_eq!((be.get(C::Wretr), be.get(C::Wredis)), (2, 1));
        assert_eq!(be.get(C::Qmax), 2);
        assert_eq!(be.avg, [0, 2, 4, 8]);
        let s1 = c.sum(|s| s.srv(1, 1));
        assert_eq!((s1.get(C::Stot), s1.get(C::Hrsp2xx)), (1, 1));
        let s0 = c.sum(|s| s.srv(1, 0));
        // The 503 was corelb's, not the server's.
        assert_eq!((s0.get(C::Econ), s0.get(C::Hrsp5xx)), (1, 0));
        assert_eq!(s0.get(C::Connect), 4);
        // The redispatch counts on the server it left.
        assert_eq!((s0.get(C::Wredis), s1.get(C::Wredis)), (0, 1));
    }

    #[test]
    fn clear_counters_reads_zero_at_once_and_the_shard_zeroes_its_own() {
        let c = Counters::new(2, &[1]);
        let t0 = Instant::now();
        c.shard(0).accepted(0, 0, 7, t0);
        c.shard(1).accepted(0, 0, 2, t0);
        c.clear(false);
        let t = c.sum(|s| s.fe(0));
        assert_eq!((t.get(C::Stot), t.get(C::Smax)), (2, 0));
        c.shard(0).accepted(0, 0, 1, t0);
        let t = c.sum(|s| s.fe(0));
        assert_eq!((t.get(C::Stot), t.get(C::Smax)), (3, 1));
        c.clear(true);
        assert_eq!(c.sum(|s| s.fe(0)).get(C::Stot), 0);
        c.shard(1).accepted(0, 0, 1, t0);
        let t = c.sum(|s| s.fe(0));
        assert_eq!((t.get(C::Stot), t.get(C::Smax)), (1, 1));
        // A later `clear counters` leaves the totals.
        c.clear(false);
        c.shard(1).accepted(0, 0, 1, t0);
        assert_eq!(c.sum(|s| s.fe(0)).get(C::Stot), 2);
    }

    #[test]
    fn rate_decays_over_the_next_second_as_haproxy_computes_it() {
        let o = Obj::default();
        assert_eq!(o.rate_at(C::Rate, 10), 0);
        for _ in 0..10 {
            o.tick(C::Rate, C::RateMax, 500);
        }
        // The period began with the first event: it runs to 1500.
        assert_eq!(o.rate_at(C::Rate, 1250), 10);
        // A quarter into the next period, 3/4 of the previous one still counts.
        assert_eq!(o.rate_at(C::Rate, 1750), 7);
        assert_eq!(o.rate_at(C::Rate, 2600), 0);
        assert_eq!(o.get(C::RateMax), 10);
        // One event in the next period: its own, plus the weighted previous ones.
        o.tick(C::Rate, C::RateMax, 1900);
        assert_eq!(o.rate_at(C::Rate, 1900), 1 + 10 * 600 / 1000);
        // After two idle periods, a new one starts with the next event.
        o.tick(C::Rate, C::RateMax, 5000);
        assert_eq!(o.rate_at(C::Rate, 5999), 1);
        // A lone event of the previous period counts whole (the flapping correction).
        assert_eq!(o.rate_at(C::Rate, 6500), 1);
    }

    #[test]
    fn rates_counted_as_they_happen_are_not_counted_again_at_the_end() {
        let c = Counters::new(1, &[1]);
        let (sh, t0) = (c.shard(0), Instant::now());
        let mut done = 0;
        sh.rate_now(ticked::REQ, 0, 0, &mut done, t0);
        sh.rate_now(ticked::REQ, 0, 0, &mut done, t0);
        sh.rate_now(ticked::BE, 0, 0, &mut done, t0);
        assert_eq!(c.rate(|s| s.fe(0), C::ReqRate), 1);
        assert_eq!(c.rate(|s| s.be(0), C::Rate), 1);
        let e = StreamEnd {
            http: true,
            ticked: done,
            ..Default::default()
        };
        sh.stream_end(0, Some(0), Some((0, 1)), &e, t0);
        assert_eq!(c.rate(|s| s.fe(0), C::ReqRate), 1);
        assert_eq!(c.rate(|s| s.be(0), C::Rate), 1);
        assert_eq!(c.rate(|s| s.srv(0, 0), C::Rate), 1);
    }

    #[test]
    fn swrate_is_haproxys_sliding_average() {
        let o = Obj::default();
        for n in 0..SAMPLES {
            o.swrate(C::Ttime, 100, n);
        }
        assert_eq!(avg(o.get(C::Ttime), SAMPLES), 100);
        // Past the window, each new value weighs 1/SAMPLES: a run of 0s decays it.
        for _ in 0..SAMPLES {
            o.swrate(C::Ttime, 0, SAMPLES);
        }
        let a = avg(o.get(C::Ttime), SAMPLES);
        // 100 * (1 - 1/1024)^1024 = 36.8; integer steps decay a little slower, as HAProxy's.
        assert!((36..=38).contains(&a), "{a}");
        let p = Obj::default();
        p.swrate(C::Ttime, 7, 0);
        p.swrate(C::Ttime, 9, 1);
        assert_eq!(avg(p.get(C::Ttime), 2), 8);
    }
}
