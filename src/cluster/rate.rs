//! Per-second rate limits at accept: `maxconnrate`, `maxsessrate`, `maxsslrate` (global)
//! and `rate-limit sessions` (frontend).
//!
//! HAProxy's rule (`freq_ctr`, `next_event_delay`): the rate is the events of the current
//! second plus the previous second's weighted by the part of it still inside a one-second
//! sliding window; while it is at the limit the listeners stop accepting, and connections
//! wait in the kernel's backlog (nobody is refused).
//!
//! One [`RateLimit`] is shared by every shard of the generation: the current second and
//! its count are packed in one atomic word, so counting an accept is one compare-and-swap
//! (only where a limit is configured) and no lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct RateLimit {
    limit: u32,
    origin: Instant,
    /// The current second (since `origin`) in the high half, its count in the low half.
    cur: AtomicU64,
    /// The previous second's count.
    prev: AtomicU32,
}

impl RateLimit {
    /// `None` for no limit (0, HAProxy's "unlimited").
    pub fn new(limit: Option<u32>) -> Option<RateLimit> {
        limit.filter(|&l| l > 0).map(|limit| RateLimit {
            limit,
            origin: Instant::now(),
            cur: AtomicU64::new(0),
            prev: AtomicU32::new(0),
        })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The second `now` falls in and how far into it (ms).
    fn clock(&self, now: Instant) -> (u64, u64) {
        let ms = now.saturating_duration_since(self.origin).as_millis() as u64;
        (ms / 1000, ms % 1000)
    }

    /// The counts of the current and the previous second as of second `sec`.
    fn counts(&self, sec: u64) -> (u32, u32) {
        let v = self.cur.load(Ordering::Relaxed);
        let (s, n) = (v >> 32, v as u32);
        match sec.saturating_sub(s) {
            0 => (n, self.prev.load(Ordering::Relaxed)),
            1 => (0, n),
            _ => (0, 0),
        }
    }

    /// Counts one event at `now`.
    pub fn add(&self, now: Instant) {
        let (sec, _) = self.clock(now);
        let mut v = self.cur.load(Ordering::Relaxed);
        loop {
            let (s, n) = (v >> 32, v as u32);
            let next = if s == sec { v + 1 } else { (sec << 32) | 1 };
            match self
                .cur
                .compare_exchange_weak(v, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    if s != sec {
                        // The second turned: what was current is now the previous one.
                        self.prev
                            .store(if sec == s + 1 { n } else { 0 }, Ordering::Relaxed);
                    }
                    return;
                }
                Err(seen) => v = seen,
            }
        }
    }

    /// The rate at `now`, as HAProxy's `read_freq_ctr`.
    pub fn rate(&self, now: Instant) -> u32 {
        let (sec, ms) = self.clock(now);
        let (cur, prev) = self.counts(sec);
        cur + (u64::from(prev) * (1000 - ms) / 1000) as u32
    }

    /// How long to wait before the next event fits under the limit (zero: now).
    pub fn delay(&self, now: Instant) -> Duration {
        let (sec, ms) = self.clock(now);
        let (cur, prev) = self.counts(sec);
        if cur >= self.limit {
            // Only the next second has room.
            return Duration::from_millis(1000 - ms);
        }
        let weighted = u64::from(prev) * (1000 - ms) / 1000;
        if u64::from(cur) + weighted < u64::from(self.limit) {
            return Duration::ZERO;
        }
        // The previous second's weight must drop below limit - cur: prev * (1000 - t)
        // / 1000 < limit - cur, i.e. t > 1000 - (limit - cur) * 1000 / prev.
        let room = u64::from(self.limit - cur) * 1000 / u64::from(prev.max(1));
        let t = 1000u64.saturating_sub(room) + 1;
        Duration::from_millis(t.saturating_sub(ms).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_a_second_and_weighs_the_previous_one() {
        let r = RateLimit::new(Some(4)).unwrap();
        let t0 = r.origin;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for i in 0..4 {
            assert_eq!(r.delay(at(100 + i)), Duration::ZERO);
            r.add(at(100 + i));
        }
        assert_eq!(r.rate(at(200)), 4);
        // Full: the next second.
        assert_eq!(r.delay(at(200)), Duration::from_millis(800));
        // At 1.0 s the previous second still weighs 4: full until its weight drops
        // under 4 (just after 1.0 s), then one fits.
        assert_eq!(r.rate(at(1000)), 4);
        assert!(r.delay(at(1000)) > Duration::ZERO);
        assert_eq!(r.delay(at(1300)), Duration::ZERO);
        r.add(at(1300));
        // 1 + 4 × 0.7, the weighted part truncated as HAProxy does: 3. One more fits,
        // then the next waits.
        assert_eq!(r.rate(at(1300)), 3);
        r.add(at(1300));
        let d = r.delay(at(1300));
        assert!(
            d > Duration::ZERO && d < Duration::from_millis(700),
            "{d:?}"
        );
        // Two idle seconds forget everything.
        assert_eq!(r.rate(at(3500)), 0);
        assert!(RateLimit::new(Some(0)).is_none() && RateLimit::new(None).is_none());
    }

    /// An acceptor that takes every place the limit gives and sleeps for `delay` otherwise,
    /// on a simulated clock: no second holds more than the limit, the sliding rate never
    /// passes it, the long-run rate is the limit, and every wait is a real one (no spin).
    #[test]
    fn a_greedy_acceptor_gets_the_limit_and_never_spins() {
        for limit in [1, 4, 7, 50, 1000] {
            let r = RateLimit::new(Some(limit)).unwrap();
            let mut t = r.origin;
            let end = r.origin + Duration::from_secs(20);
            let (mut accepted, mut waits) = (0u64, 0u64);
            let mut per_second = std::collections::HashMap::<u64, u32>::new();
            while t < end {
                let d = r.delay(t);
                if d.is_zero() {
                    assert!(r.rate(t) < limit, "limit {limit}: full at {t:?}");
                    r.add(t);
                    accepted += 1;
                    *per_second.entry(r.clock(t).0).or_default() += 1;
                } else {
                    assert!(d >= Duration::from_millis(1) && d <= Duration::from_secs(1));
                    waits += 1;
                    t += d;
                }
            }
            assert!(per_second.values().all(|&n| n <= limit), "limit {limit}");
            // 20 seconds at the limit, give or take the first one.
            let want = 20 * u64::from(limit);
            assert!(
                accepted <= want && accepted + u64::from(limit) >= want,
                "limit {limit}: {accepted} in 20 s"
            );
            // A wait lets at least one connection in, or ends a second: a few per place.
            assert!(waits <= 3 * accepted + 40, "limit {limit}: {waits} waits");
        }
    }

    #[test]
    fn shards_count_into_one_word() {
        let r = std::sync::Arc::new(RateLimit::new(Some(1_000_000)).unwrap());
        let now = r.origin + Duration::from_millis(10);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| r.add(now)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(r.rate(now), 40_000);
        // The next second sees them as the previous one's, weighed by what is left of it.
        assert_eq!(r.rate(now + Duration::from_millis(1240)), 30_000);
        r.add(now + Duration::from_millis(1240));
        assert_eq!(r.rate(now + Duration::from_millis(1240)), 30_001);
    }
}
