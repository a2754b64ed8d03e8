//! The way from a shard to the DNS resolver thread for `http-request do-resolve`: a request
//! goes over a channel, the answer comes back through a one-shot slot whose future the
//! request's task awaits (the shard goes on serving other connections meanwhile).
//!
//! Only a request that runs `do-resolve` touches this: one channel send and one wake-up.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, Sender, channel};

pub use crate::config::resolvers::Family;

/// A name to resolve, and where its answer goes.
pub struct Lookup {
    pub host: String,
    pub prefer: Family,
    /// The index of the `resolvers` section.
    pub section: usize,
    pub reply: Reply,
}

/// The resolver's end of a lookup's answer (`None`: no address; dropped unanswered, the
/// resolver stopped, it answers `None`).
pub type Reply = super::oneshot::Reply<Option<IpAddr>>;

/// The request's end: resolves to the address, or `None`.
pub type Answer = super::oneshot::Answer<Option<IpAddr>>;

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
        let (reply, answer) = super::oneshot::channel(None);
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
        answer
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
