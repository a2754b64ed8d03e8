//! A one-shot answer from a helper thread to a task on a shard: the thread fills a slot and
//! wakes the task, whose future is ready with the value. A `Reply` dropped unanswered (its
//! thread stopped or panicked) answers the value given at creation, so no task waits forever.
//! Used by `http-request do-resolve` (the resolver thread) and external checks.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Slot<T>(Mutex<(Option<T>, Option<Waker>)>);

/// The helper thread's end.
pub struct Reply<T> {
    slot: Arc<Slot<T>>,
    unanswered: Option<T>,
}

/// The task's end: ready with the answer.
pub struct Answer<T>(Arc<Slot<T>>);

/// A slot and its two ends; `unanswered` is the answer of a `Reply` dropped without one.
pub fn channel<T>(unanswered: T) -> (Reply<T>, Answer<T>) {
    let slot = Arc::new(Slot(Mutex::new((None, None))));
    let reply = Reply {
        slot: slot.clone(),
        unanswered: Some(unanswered),
    };
    (reply, Answer(slot))
}

impl<T> Reply<T> {
    pub fn send(mut self, v: T) {
        self.unanswered = None;
        fill(&self.slot, v);
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(v) = self.unanswered.take() {
            fill(&self.slot, v);
        }
    }
}

fn fill<T>(slot: &Slot<T>, v: T) {
    let waker = {
        let mut s = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = Some(v);
        s.1.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

impl<T> Future for Answer<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
