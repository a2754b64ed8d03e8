//! Futures run inside the task that owns them: an HTTP/2 connection's streams run in the
//! connection's task, not in a glommio task each.
//!
//! A spawned task cost two allocations per stream (the future's box and glommio's task),
//! a scheduling of its own per wake, and a waker per poll. Here each future has a place
//! (its box, a [`PinSlot`], and its waker) that outlives it: when it ends, it is dropped in
//! place and the next future is written in the same box, so a connection allocates for its
//! most concurrent streams once, not per stream. A future's waker marks its place ready and wakes the owning task, which polls
//! the places marked (see [`Tasks::run`]).

use crate::sys::slot::PinSlot;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The owning task: some place is ready, and how to wake the owner.
struct Owner {
    any: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// One place's waker.
struct Flag {
    ready: AtomicBool,
    owner: Arc<Owner>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Already marked: the owner was woken then, and has not polled the place since.
        if !self.ready.swap(true, Ordering::AcqRel) {
            self.owner.any.store(true, Ordering::Release);
            if let Some(w) = self.owner.waker.lock().unwrap().as_ref() {
                w.wake_by_ref();
            }
        }
    }
}

struct Place<F> {
    fut: PinSlot<F>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// Futures (that return nothing) run by the task that polls [`Tasks::run`].
pub(crate) struct Tasks<F> {
    places: Vec<Place<F>>,
    free: Vec<usize>,
    live: usize,
    owner: Arc<Owner>,
}

impl<F: Future<Output = ()>> Tasks<F> {
    pub(crate) fn new() -> Self {
        Tasks {
            places: Vec::new(),
            free: Vec::new(),
            live: 0,
            owner: Arc::new(Owner {
                any: AtomicBool::new(false),
                waker: Mutex::new(None),
            }),
        }
    }

    /// No future left.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds the future `make` returns, polled at the next [`Tasks::run`]. (`make` is
    /// called where the future is written, so that it is built in its place: a future
    /// passed by value is built on the stack and copied, all of its bytes however few its
    /// initial state uses.)
    #[inline(always)]
    pub(crate) fn spawn(&mut self, make: impl FnOnce() -> F) {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let flag = Arc::new(Flag {
                    ready: AtomicBool::new(false),
                    owner: self.owner.clone(),
                });
                self.places.push(Place {
                    fut: PinSlot::default(),
                    waker: Waker::from(flag.clone()),
                    flag,
                });
                self.places.len() - 1
            }
        };
        let p = &mut self.places[i];
        p.fut.put(make);
        p.flag.ready.store(true, Ordering::Release);
        self.live += 1;
        self.owner.any.store(true, Ordering::Release);
    }

    /// Polls the futures woken since the last call (and those spawned since), in the task
    /// of `cx`, which their wakers wake from now on. Ready once no future is left.
    pub(crate) fn run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.owner.waker.lock().unwrap();
            if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        if self.owner.any.swap(false, Ordering::AcqRel) {
            for (i, p) in self.places.iter_mut().enumerate() {
                if !p.flag.ready.swap(false, Ordering::AcqRel) {
                    continue;
                }
                let Some(f) = p.fut.get() else { continue };
                let mut c = Context::from_waker(&p.waker);
                if f.poll(&mut c).is_ready() {
                    p.fut.clear();
                    self.free.push(i);
                    self.live -= 1;
                }
            }
        }
        if self.live == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    /// Counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn futures_run_to_their_end_and_their_places_are_reused() {
        let log = Rc::new(RefCell::new(Vec::new()));
        // Each future waits for its gate once (its waker kept), then logs and ends.
        // Open or not, and the waker of the future waiting for it.
        type Gate = Rc<(Cell<bool>, RefCell<Option<Waker>>)>;
        let gates: Vec<Gate> = (0..3)
            .map(|_| Rc::new((Cell::new(false), RefCell::new(None))))
            .collect();
        let make = |n: usize| {
            let log = log.clone();
            let gate = gates[n % 3].clone();
            async move {
                std::future::poll_fn(|cx| {
                    if gate.0.get() {
                        Poll::Ready(())
                    } else {
                        *gate.1.borrow_mut() = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
                log.borrow_mut().push(n);
            }
        };
        let owner = Arc::new(Count(Default::default()));
        let ow = Waker::from(owner.clone());
        let mut cx = Context::from_waker(&ow);
        let mut t = Tasks::new();
        t.spawn(|| make(0));
        t.spawn(|| make(1));
        assert!(t.run(&mut cx).is_pending());
        assert_eq!(t.live, 2);
        // Nothing woken: nothing polled, nothing ends.
        gates[1].0.set(true);
        assert!(t.run(&mut cx).is_pending());
        assert!(log.borrow().is_empty());
        // Woken: the owner is woken once, and the next run polls that future.
        gates[1].1.borrow_mut().take().unwrap().wake();
        assert_eq!(owner.0.load(Ordering::Relaxed), 1);
        assert!(t.run(&mut cx).is_pending());
        assert_eq!(*log.borrow(), [1]);
        assert_eq!(t.live, 1);
        // The next future takes the ended one's place: no new place.
        t.spawn(|| make(2));
        assert_eq!(t.places.len(), 2);
        gates[2].0.set(true);
        assert!(t.run(&mut cx).is_pending());
        assert_eq!(*log.borrow(), [1, 2]);
        gates[0].0.set(true);
        gates[0].1.borrow_mut().take().unwrap().wake_by_ref();
        assert!(t.run(&mut cx).is_ready());
        assert_eq!(*log.borrow(), [1, 2, 0]);
        assert!(t.is_empty());
    }

    #[test]
    fn futures_left_are_dropped_with_the_set() {
        let dropped = Rc::new(Cell::new(0));
        struct D(Rc<Cell<u32>>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let w = noop();
        let mut cx = Context::from_waker(&w);
        let mut t = Tasks::new();
        for _ in 0..2 {
            let d = D(dropped.clone());
            t.spawn(|| async move {
                let _d = d;
                std::future::pending::<()>().await;
            });
        }
        assert!(t.run(&mut cx).is_pending());
        drop(t);
        assert_eq!(dropped.get(), 2);
    }
}
