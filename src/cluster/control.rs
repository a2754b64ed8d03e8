//! Process-wide control shared by the main thread and the shards: the stop request and the
//! waiters of connection slots. Waiting is event-driven and wakers cross threads (glommio
//! queues a foreign wake-up to the owning executor), so a stop reaches every shard at once
//! and nobody polls for it. Slot waiters are woken the same way and, as a safety net, also
//! re-check every 100 ms (see [`Slots::wait_for`]).

use event_listener::Event;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Control {
    stopping: AtomicBool,
    /// A soft stop was announced (global `grace`): the `stopping` fetch says so while the
    /// listeners still accept.
    announced: AtomicBool,
    /// The stop is a reload's: the listening sockets live on in the next generation.
    handover: AtomicBool,
    stop_event: Event,
    /// When the grace period ends and remaining connections are closed.
    deadline: std::sync::Mutex<Option<Instant>>,
    /// When the stop began: `close-spread-time` spreads closes from there.
    stopped_at: std::sync::Mutex<Option<Instant>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            stopping: AtomicBool::new(false),
            announced: AtomicBool::new(false),
            handover: AtomicBool::new(false),
            stop_event: Event::new(),
            deadline: std::sync::Mutex::new(None),
            stopped_at: std::sync::Mutex::new(None),
        }
    }
}

impl Control {
    /// Asks every shard to stop accepting and drain, closing what is left after `grace`.
    pub fn stop(&self, grace: Duration) {
        *self.deadline.lock().unwrap() = Some(Instant::now() + grace);
        self.stopped_at
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_event.notify(usize::MAX);
    }

    /// Like [`stop`](Self::stop), for a generation whose listening sockets the next one
    /// keeps accepting on.
    pub fn hand_over(&self, grace: Duration) {
        self.handover.store(true, Ordering::SeqCst);
        self.stop(grace);
    }

    pub fn handing_over(&self) -> bool {
        self.handover.load(Ordering::SeqCst)
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Announces a soft stop that has not begun yet (global `grace`).
    pub fn announce_stop(&self) {
        self.announced.store(true, Ordering::SeqCst);
    }

    /// What the `stopping` fetch and `show info` say: a stop under way or announced.
    pub fn soft_stopping(&self) -> bool {
        self.stopping() || self.announced.load(Ordering::SeqCst)
    }

    pub fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap()
    }

    /// Wakes everything waiting on this control without stopping: `shutdown sessions
    /// server` uses it so that connections look at their server's kill epoch.
    pub fn wake_all(&self) {
        self.stop_event.notify(usize::MAX);
    }

    /// A listener woken by [`stop`](Self::stop) or [`wake_all`](Self::wake_all). Take it
    /// before checking the condition it is for, so that no wake-up is missed.
    pub fn listen(&self) -> event_listener::EventListener {
        self.stop_event.listen()
    }

    /// While stopping, whether an HTTP connection that just answered a request closes now
    /// (HAProxy's soft stop: `Connection: close` on the next response). With
    /// `close-spread-time` (`spread`), the closes spread over the window: a response closes
    /// with a chance that grows from 0 at the stop to 1 at the window's end, as HAProxy's
    /// mux_h1 draws it; `infinite` (`Duration::MAX`) never closes an active connection.
    pub fn closes_active(&self, spread: Option<Duration>) -> bool {
        if !self.stopping() {
            return false;
        }
        match spread {
            None => true,
            Some(Duration::MAX) => false,
            Some(w) => {
                let since = self.stopped_at.lock().unwrap().map(|t| t.elapsed());
                let elapsed = since.unwrap_or(w);
                elapsed >= w || fastrand::u128(..w.as_nanos()) < elapsed.as_nanos()
            }
        }
    }

    /// Completes when an idle HTTP connection should close because of a stop: at the stop,
    /// or with `close-spread-time` (`spread`) at a random moment of the window from the
    /// stop (HAProxy spreads idle closes the same way; `infinite` closes them at once).
    pub async fn idle_close(&self, spread: Option<Duration>) {
        self.wait_stop().await;
        if let Some(w) = spread.filter(|w| *w != Duration::MAX && !w.is_zero()) {
            let at = self.stopped_at.lock().unwrap().unwrap_or_else(Instant::now)
                + Duration::from_nanos(fastrand::u64(..w.as_nanos().min(u64::MAX as u128) as u64));
            glommio::timer::sleep(at.saturating_duration_since(Instant::now())).await;
        }
    }

    /// Completes once [`stop`](Self::stop) was called.
    pub async fn wait_stop(&self) {
        loop {
            if self.stopping() {
                return;
            }
            let l = self.stop_event.listen();
            if self.stopping() {
                return;
            }
            l.await;
        }
    }
}

/// Counts one more in `cur` unless it already holds `max` (0 = unlimited): a CAS loop, so
/// the limit is exact across threads without a lock. Returns false when full.
#[inline]
pub fn take_below(cur: &AtomicU32, max: u32) -> bool {
    cur.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
        (max == 0 || c < max).then_some(c + 1)
    })
    .is_ok()
}

/// A waiter's rank in a queue, as HAProxy's `set-priority-class` and `set-priority-offset`
/// set it (src/queue.c): the lower class first (-2047…2047), then within a class the earlier
/// arrival time plus offset (milliseconds, -524287…524287). Default: class 0, offset 0, that
/// is first come, first served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Priority {
    pub class: i32,
    pub offset_ms: i32,
}

impl Priority {
    /// From what `set-priority-class`/`-offset` left (already within their bounds).
    pub fn new((class, offset_ms): (i64, i64)) -> Priority {
        Priority {
            class: class as i32,
            offset_ms: offset_ms as i32,
        }
    }
}

/// A waiter's key in [`Slots`]' order: class, arrival plus offset (ms), then a sequence
/// number for waiters of the same instant.
type TurnKey = (i32, i64, u64);

/// A counter with a limit, and waiters for a free slot: global and frontend `maxconn`,
/// backend queues. Taking and giving back are lock-free; only waiting allocates and takes
/// the lock of the waiters' order.
pub struct Slots {
    cur: AtomicU32,
    /// The limit; `set maxconn` changes it at run time.
    max: AtomicU32,
    /// Shared with a backend's servers when `minconn` counts the queue in the load.
    waiting: Arc<AtomicU32>,
    event: Event,
    /// Bumped each time a slot may have freed up: a waiter tries once per epoch, in turn.
    epoch: AtomicU64,
    seq: AtomicU64,
    /// The waiters in [`Priority`] order, each with the last epoch it tried in (0: not yet).
    /// Waiters of every shard share it; only waiting touches it.
    order: Mutex<BTreeMap<TurnKey, u64>>,
}

impl Slots {
    /// `max` 0 means unlimited.
    pub fn new(max: u32) -> Slots {
        Slots {
            cur: AtomicU32::new(0),
            max: AtomicU32::new(max),
            waiting: Arc::new(AtomicU32::new(0)),
            event: Event::new(),
            epoch: AtomicU64::new(1),
            seq: AtomicU64::new(0),
            order: Mutex::new(BTreeMap::new()),
        }
    }

    /// The count of waiters, to read elsewhere (a backend's load for `minconn`).
    pub fn waiting_counter(&self) -> Arc<AtomicU32> {
        self.waiting.clone()
    }

    pub fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Changes the limit (`set maxconn`); waiters may now find a slot.
    pub fn set_max(&self, max: u32) {
        self.max.store(max, Ordering::Relaxed);
        self.wake_all();
    }

    pub fn current(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
    }

    pub fn try_take(&self) -> bool {
        take_below(&self.cur, self.max())
    }

    pub fn give_back(&self) {
        self.cur.fetch_sub(1, Ordering::AcqRel);
        self.wake_one();
    }

    /// Lets the waiters try again, in turn, if any (also used when a slot frees up
    /// elsewhere, e.g. a server). Every waiter wakes: the one whose turn it is takes the slot
    /// (see [`Slots::wait_for_turn`]).
    pub fn wake_one(&self) {
        self.wake_all();
    }

    /// Wakes every waiter (a server came back: each may find a slot).
    pub fn wake_all(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.event.notify_additional(usize::MAX);
        }
    }

    fn order(&self) -> std::sync::MutexGuard<'_, BTreeMap<TurnKey, u64>> {
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether every waiter ahead of `key` has tried in epoch `e` (and so found nothing).
    fn my_turn(&self, key: TurnKey, e: u64) -> bool {
        self.order().range(..key).all(|(_, t)| *t >= e)
    }

    /// Records that `key` tried in epoch `e`; true the first time.
    fn tried(&self, key: TurnKey, e: u64) -> bool {
        match self.order().get_mut(&key) {
            Some(t) if *t < e => {
                *t = e;
                true
            }
            _ => false,
        }
    }

    /// Whether `key` has not tried in epoch `e` and its turn has come.
    fn due(&self, key: TurnKey, e: u64) -> bool {
        let o = self.order();
        o.get(&key).is_some_and(|t| *t < e) && o.range(..key).all(|(_, t)| *t >= e)
    }

    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits until `try_again` succeeds or `deadline` passes; returns what `try_again`
    /// returned last. A waiter is woken when a slot is given back ([`give_back`],
    /// [`wake_one`]) and also re-checks every 100 ms, which bounds what a missing wake-up
    /// costs: the giver skips the wake-up when it sees no waiter, and its counter and
    /// `waiting` are ordered by AcqRel only, not SeqCst, so the memory model lets each side
    /// miss the other's update; and a server slot freed elsewhere reaches this queue only if
    /// that path calls `wake_one`.
    ///
    /// [`give_back`]: Slots::give_back
    /// [`wake_one`]: Slots::wake_one
    pub async fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        try_again: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        self.wait_for_turn(Priority::default(), deadline, try_again)
            .await
    }

    /// [`Slots::wait_for`] in HAProxy's queue order: a waiter tries only once every waiter
    /// ahead of it ([`Priority`]) has tried since the last slot was given back, so the slot
    /// goes to the first in order whose `try_again` succeeds. A waiter ahead that cannot
    /// use it (its server is another) does not hold the others back: it has tried.
    pub async fn wait_for_turn<T>(
        &self,
        prio: Priority,
        deadline: Option<Instant>,
        mut try_again: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let at = now_ms() + i64::from(prio.offset_ms);
        let key = (prio.class, at, self.seq.fetch_add(1, Ordering::Relaxed));
        self.order().insert(key, 0);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _w = TurnGuard { slots: self, key };
        // After the 100 ms safety net, a waiter whose turn it is tries again in the same
        // epoch (a slot freed without a wake-up).
        let mut again = false;
        loop {
            let e = self.epoch.load(Ordering::Acquire);
            if (again || self.due(key, e)) && self.my_turn(key, e) {
                if let Some(v) = try_again() {
                    return Some(v);
                }
                // Those behind may try now.
                if self.tried(key, e) {
                    self.event.notify_additional(usize::MAX);
                }
            }
            again = false;
            let l = self.event.listen();
            if self.epoch.load(Ordering::Acquire) != e || self.due(key, e) {
                continue;
            }
            let mut step = Duration::from_millis(100);
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return None;
                }
                step = step.min(d - now);
            }
            again = futures_lite::future::or(
                async {
                    l.await;
                    false
                },
                async {
                    glommio::timer::sleep(step).await;
                    true
                },
            )
            .await;
        }
    }
}

/// Milliseconds on a clock every shard shares (arrival times in queues).
fn now_ms() -> i64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as i64
}

/// A waiter's place in [`Slots`]: leaving (served, timed out, dropped) lets those behind
/// it see their turn.
struct TurnGuard<'a> {
    slots: &'a Slots,
    key: TurnKey,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        self.slots.order().remove(&self.key);
        self.slots.waiting.fetch_sub(1, Ordering::AcqRel);
        if self.slots.waiting.load(Ordering::Acquire) > 0 {
            self.slots.event.notify_additional(usize::MAX);
        }
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("cur", &self.current())
            .field("max", &self.max())
            .field("waiting", &self.waiting())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_limit() {
        let s = Slots::new(2);
        assert!(s.try_take());
        assert!(s.try_take());
        assert!(!s.try_take());
        s.give_back();
        assert!(s.try_take());
        let u = Slots::new(0);
        for _ in 0..1000 {
            assert!(u.try_take());
        }
    }
}
