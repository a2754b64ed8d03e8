//! HAProxy's frequency counter over a period (`struct freq_ctr`, src/freq_ctr.c): the count
//! of the current period and of the previous one; a reading weights the previous period by
//! the part of it still inside the sliding window. Updated by any shard with atomics, no lock:
//! the rotation to a new period is claimed by setting the low bit of the tick (as HAProxy
//! does), and adds that race with it land in one period or the other, never lost.

use std::sync::atomic::{AtomicU32, Ordering::*};

/// One frequency counter. Ticks are milliseconds of [`super::now_ms`], wrapping like
/// HAProxy's `now_ms`; they are even (the low bit is the rotation lock).
#[derive(Debug, Default)]
pub struct FreqCtr {
    tick: AtomicU32,
    curr: AtomicU32,
    prev: AtomicU32,
}

impl FreqCtr {
    /// Adds `inc` events at `now` for a counter of `period` ms (`update_freq_ctr_period`).
    pub fn add(&self, now: u32, period: u32, inc: u32) -> u32 {
        let now = now & !1;
        loop {
            let tick = self.tick.load(Acquire);
            if now.wrapping_sub(tick & !1) < period {
                return self.curr.fetch_add(inc, AcqRel).wrapping_add(inc);
            }
            if tick & 1 == 0
                && self
                    .tick
                    .compare_exchange(tick, tick | 1, AcqRel, Relaxed)
                    .is_ok()
            {
                // We alone rotate; others only add to `curr` meanwhile.
                self.prev.store(self.curr.swap(inc, AcqRel), Release);
                let mut t = tick.wrapping_add(period);
                if now.wrapping_sub(t) >= period {
                    // Two periods or more went by without an event.
                    self.prev.store(0, Release);
                    t = now;
                }
                self.tick.store(t & !1, Release);
                return inc;
            }
            std::hint::spin_loop();
        }
    }

    /// Events over the last `period` ms at `now` (`read_freq_ctr_period`): the current
    /// period's count plus the previous one's, weighted by how much of it is still inside the
    /// window; rates between 0 and 1 read as the previous count, to keep them from flapping.
    pub fn read(&self, now: u32, period: u32) -> u32 {
        let (tick, curr, prev) = self.stable();
        if period == 0 {
            return 0;
        }
        let (mut past, mut curr) = (prev as u64, curr as u64);
        let mut remain = tick.wrapping_add(period).wrapping_sub(now & !1) as i32 as i64;
        if remain < 0 {
            remain += period as i64;
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        if curr == 0 && past <= 1 {
            return past as u32;
        }
        let remain = remain.max(0) as u64;
        ((past * remain + curr * period as u64) / period as u64) as u32
    }

    /// A consistent (tick, curr, prev) triple: read twice until nothing moved.
    fn stable(&self) -> (u32, u32, u32) {
        loop {
            let t = self.tick.load(Acquire);
            let c = self.curr.load(Acquire);
            let p = self.prev.load(Acquire);
            if t & 1 == 0
                && self.tick.load(Acquire) == t
                && self.curr.load(Acquire) == c
                && self.prev.load(Acquire) == p
            {
                return (t, c, p);
            }
            std::hint::spin_loop();
        }
    }

    /// The raw (start of the current period, its count, the previous period's count), as the
    /// peers protocol sends a rate.
    pub fn raw(&self) -> (u32, u32, u32) {
        self.stable()
    }

    /// Sets the raw state learned from a peer (the tick's low bit, the rotation lock, cleared).
    pub fn set_raw(&self, tick: u32, curr: u32, prev: u32) {
        self.curr.store(curr, Release);
        self.prev.store(prev, Release);
        self.tick.store(tick & !1, Release);
    }

    /// Back to zero (`clear table`, a new entry reusing the memory).
    pub fn clear(&self) {
        self.curr.store(0, Release);
        self.prev.store(0, Release);
        self.tick.store(0, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::FreqCtr;

    #[test]
    fn counts_within_the_period() {
        let f = FreqCtr::default();
        for i in 1..=5 {
            assert_eq!(f.add(100_000, 10_000, 1), i);
        }
        assert_eq!(f.read(100_000, 10_000), 5);
        assert_eq!(f.read(109_000, 10_000), 5);
    }

    #[test]
    fn previous_period_is_weighted_by_what_remains_of_it() {
        let f = FreqCtr::default();
        for _ in 0..10 {
            f.add(100_000, 10_000, 1);
        }
        // A quarter into the next period: 3/4 of the previous 10 still count.
        assert_eq!(f.read(112_500, 10_000), 7);
        f.add(112_500, 10_000, 1);
        assert_eq!(f.read(112_500, 10_000), 8);
        // Past two periods, nothing is left.
        assert_eq!(f.read(130_002, 10_000), 0);
    }

    #[test]
    fn idle_for_two_periods_starts_over() {
        let f = FreqCtr::default();
        for _ in 0..10 {
            f.add(100_000, 1_000, 1);
        }
        assert_eq!(f.add(105_000, 1_000, 1), 1);
        assert_eq!(f.read(105_000, 1_000), 1);
    }

    #[test]
    fn a_single_event_reads_one_until_it_leaves_the_window() {
        let f = FreqCtr::default();
        f.add(50_000, 10_000, 1);
        assert_eq!(f.read(55_000, 10_000), 1);
        // Next period: the previous one holds 1 and the current 0: reads 1, not 0.5.
        assert_eq!(f.read(61_000, 10_000), 1);
        assert_eq!(f.read(71_000, 10_000), 0);
    }

    #[test]
    fn concurrent_adds_are_not_lost() {
        let f = std::sync::Arc::new(FreqCtr::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let f = f.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        f.add(1_000, 60_000, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(f.read(1_000, 60_000), 40_000);
    }
}
