//! Connection limits and weights that move, as HAProxy's `srv_dynamic_maxconn()` and
//! `server_recalc_eweight()` make them: `minconn` with the backend's `fullconn` (a server's
//! limit follows the backend's load, from `minconn` up to `maxconn`) and `slowstart` (after a
//! server comes back up, its limit and, for the dynamic algorithms, its weight ramp up over
//! the period). Pure arithmetic over atomics; only servers that use them carry one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The load of one backend as `minconn` sees it (HAProxy's `beconn`): connections served by
/// its servers plus those waiting in its queue. Shared by the backend's servers.
#[derive(Debug)]
pub struct BeLoad {
    pub served: AtomicU32,
    /// The backend queue's waiting count.
    pub queued: Arc<AtomicU32>,
    /// `fullconn`: the load at which every server reaches its `maxconn`.
    pub fullconn: u32,
}

/// A server's `minconn` and `slowstart` state.
#[derive(Debug)]
pub struct Dynamic {
    /// 0, or below the server's `maxconn`.
    pub minconn: u32,
    /// Present on every server of a backend where one has `minconn`.
    pub load: Option<Arc<BeLoad>>,
    /// `slowstart` in milliseconds (0: none).
    pub slowstart_ms: u64,
    /// The backend's algorithm takes weight changes at run time (roundrobin, leastconn,
    /// random): the weight ramps too, not only the connection limit.
    pub ramp_weight: bool,
    /// Unix time (ms) the server came back up while it is starting; 0 otherwise.
    started_ms: AtomicU64,
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Dynamic {
    pub fn new(
        minconn: u32,
        load: Option<Arc<BeLoad>>,
        slowstart_ms: u64,
        ramp_weight: bool,
    ) -> Dynamic {
        Dynamic {
            minconn,
            load,
            slowstart_ms,
            ramp_weight,
            started_ms: AtomicU64::new(0),
        }
    }

    /// The server came back up: the slow start begins (when configured).
    pub fn start(&self, now_ms: u64) {
        if self.slowstart_ms > 0 {
            self.started_ms.store(now_ms.max(1), Ordering::Release);
        }
    }

    /// Milliseconds into the slow start, while it lasts.
    fn elapsed(&self, now_ms: u64) -> Option<u64> {
        let t = self.started_ms.load(Ordering::Acquire);
        if t == 0 {
            return None;
        }
        let e = now_ms.saturating_sub(t);
        (e < self.slowstart_ms).then_some(e)
    }

    /// Whether the slow start still runs; ends it once its period is over.
    pub fn starting(&self, now_ms: u64) -> bool {
        let on = self.elapsed(now_ms).is_some();
        if !on && self.started_ms.load(Ordering::Relaxed) != 0 {
            self.started_ms.store(0, Ordering::Release);
        }
        on
    }

    /// The connection limit now, for a server whose configured one is `maxconn` (0:
    /// unlimited, which nothing scales).
    pub fn limit(&self, maxconn: u32, now_ms: u64) -> u32 {
        if maxconn == 0 {
            return 0;
        }
        let mut max = maxconn;
        if let Some(l) = &self.load
            && self.minconn < maxconn
        {
            // The connection asking counts itself, as HAProxy's stream is in `beconn`.
            let be = l.served.load(Ordering::Relaxed) + l.queued.load(Ordering::Relaxed) + 1;
            if be < l.fullconn {
                let scaled = (be as u64 * maxconn as u64 / l.fullconn as u64) as u32;
                max = scaled.max(self.minconn);
            }
        }
        if let Some(e) = self.elapsed(now_ms) {
            let ratio = 1 + 99 * e / self.slowstart_ms;
            max = ((max as u64 * ratio / 100) as u32).max(1);
        }
        max
    }

    /// The effective weight for the operator's `uweight` now: ramped during a slow start
    /// for the dynamic algorithms (at least 1, as HAProxy rounds up).
    pub fn weight(&self, uweight: u32, now_ms: u64) -> u32 {
        match self.elapsed(now_ms) {
            Some(e) if self.ramp_weight && uweight > 0 => {
                let w = (uweight as u64 * e).div_ceil(self.slowstart_ms) as u32;
                w.clamp(1, uweight)
            }
            _ => uweight,
        }
    }

    pub fn served(&self, add: bool) {
        if let Some(l) = &self.load {
            if add {
                l.served.fetch_add(1, Ordering::AcqRel);
            } else {
                l.served.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(fullconn: u32) -> Arc<BeLoad> {
        Arc::new(BeLoad {
            served: AtomicU32::new(0),
            queued: Arc::new(AtomicU32::new(0)),
            fullconn,
        })
    }

    #[test]
    fn minconn_follows_the_backend_load_up_to_maxconn() {
        let l = load(100);
        let d = Dynamic::new(2, Some(l.clone()), 0, false);
        assert_eq!(d.limit(10, 0), 2);
        l.served.store(49, Ordering::Relaxed);
        assert_eq!(d.limit(10, 0), 5);
        l.queued.store(60, Ordering::Relaxed);
        assert_eq!(d.limit(10, 0), 10);
        assert_eq!(d.limit(0, 0), 0);
    }

    #[test]
    fn slowstart_ramps_limit_and_weight_then_ends() {
        let d = Dynamic::new(0, None, 10_000, true);
        assert_eq!(d.weight(100, 5), 100);
        d.start(1000);
        assert!(d.starting(1000));
        assert_eq!(d.weight(100, 1000), 1);
        assert_eq!(d.weight(100, 6000), 50);
        assert_eq!(d.limit(100, 1000), 1);
        assert_eq!(d.limit(100, 6000), 50);
        assert!(!d.starting(11_000));
        assert_eq!(d.weight(100, 11_000), 100);
        assert_eq!(d.limit(100, 11_000), 100);
    }
}
