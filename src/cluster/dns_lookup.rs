//! The way from a shard to the DNS resolver thread for `http-request do-resolve`: a request
//! goes over a channel, the answer comes back through a one-shot slot whose future the
//! request's task awaits (the shard goes on serving other connections meanwhile).
//!
//! Only a request that runs `do-resolve` touches this: one channel send and one wake-up.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

pub use crate::config::resolvers::Family;

/// A name to resolve, and where its answer goes.
pub struct Lookup {
    pub host: String,
    pub prefer: Family,
    /// The index of the `resolvers` section.
    pub section: usize,
    pub reply: Reply,
}

/// The resolver's end of a lookup's answer.
pub struct Reply(Arc<Slot>);

#[derive(Default)]
struct Slot(Mutex<(Option<Option<IpAddr>>, Option<Waker>)>);

impl Reply {
    /// Hands the answer (`None`: no address) to the waiting request.
    pub fn send(self, ip: Option<IpAddr>) {
        let waker = {
            let mut s = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
            s.0 = Some(ip);
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for Reply {
    /// A lookup dropped unanswered (the resolver stopped) answers "no address".
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
            if s.0.is_none() {
                s.0 = Some(None);
            }
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The request's end: resolves to the address, or `None`.
pub struct Answer(Arc<Slot>);

impl Future for Answer {
    type Output = Option<IpAddr>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<IpAddr>> {
        let mut s = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.0 {
            Some(ip) => Poll::Ready(ip),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The generation's channel to its resolver thread (set when the thread starts).
#[derive(Default)]
pub struct Lookups(OnceLock<Sender<Lookup>>);

impl Lookups {
    /// The receiving end, for the resolver thread; `None` if it was already taken.
    pub fn open(&self) -> Option<Receiver<Lookup>> {
        let (tx, rx) = channel();
        self.0.set(tx).ok().map(|()| rx)
    }

    /// Asks for `host`'s address; the answer is `None` at once without a resolver thread.
    pub fn resolve(&self, host: &str, prefer: Family, section: usize) -> Answer {
        let slot = Arc::new(Slot::default());
        let reply = Reply(slot.clone());
        match self.0.get() {
            Some(tx) => {
                let _ = tx.send(Lookup {
                    host: host.to_string(),
                    prefer,
                    section,
                    reply,
                });
            }
            None => drop(reply),
        }
        Answer(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_the_future_and_a_dropped_lookup_answers_none() {
        let l = Lookups::default();
        assert_eq!(
            futures_lite::future::block_on(l.resolve("x", Family::Ipv4, 0)),
            None
        );
        let rx = l.open().unwrap();
        assert!(l.open().is_none());
        let a = l.resolve("x.test", Family::Ipv4, 0);
        let got = rx.recv().unwrap();
        assert_eq!(got.host, "x.test");
        let t = std::thread::spawn(move || got.reply.send(Some("10.0.0.1".parse().unwrap())));
        assert_eq!(
            futures_lite::future::block_on(a),
            Some("10.0.0.1".parse().unwrap())
        );
        t.join().unwrap();
        let b = l.resolve("y.test", Family::Ipv6, 0);
        drop(rx);
        assert_eq!(futures_lite::future::block_on(b), None);
    }
}
