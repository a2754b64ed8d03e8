//! Process-wide control shared by the main thread and the shards: the stop request and the
//! waiters of connection slots. Waiting is event-driven and wakers cross threads (glommio
//! queues a foreign wake-up to the owning executor), so a stop reaches every shard at once
//! and nobody polls for it. Slot waiters are woken the same way and, as a safety net, also
//! re-check every 100 ms (see [`Slots::wait_for`]).

use event_listener::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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

/// A counter with a limit, and waiters for a free slot: global and frontend `maxconn`,
/// backend queues. Taking and giving back are lock-free; only waiting allocates.
pub struct Slots {
    cur: AtomicU32,
    /// The limit; `set maxconn` changes it at run time.
    max: AtomicU32,
    /// Shared with a backend's servers when `minconn` counts the queue in the load.
    waiting: Arc<AtomicU32>,
    event: Event,
}

impl Slots {
    /// `max` 0 means unlimited.
    pub fn new(max: u32) -> Slots {
        Slots {
            cur: AtomicU32::new(0),
            max: AtomicU32::new(max),
            waiting: Arc::new(AtomicU32::new(0)),
            event: Event::new(),
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

    /// Wakes one waiter, if any (also used when a slot frees up elsewhere, e.g. a server).
    pub fn wake_one(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.event.notify_additional(1);
        }
    }

    /// Wakes every waiter (a server came back: each may find a slot).
    pub fn wake_all(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.event.notify_additional(usize::MAX);
        }
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
        mut try_again: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _w = WaitGuard(&self.waiting);
        loop {
            if let Some(v) = try_again() {
                return Some(v);
            }
            let l = self.event.listen();
            if let Some(v) = try_again() {
                return Some(v);
            }
            let mut step = Duration::from_millis(100);
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return None;
                }
                step = step.min(d - now);
            }
            futures_lite::future::or(l, async {
                glommio::timer::sleep(step).await;
            })
            .await;
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

struct WaitGuard<'a>(&'a AtomicU32);
impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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
