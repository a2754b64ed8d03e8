//! `balance first`: the usable server with the lowest id that still has a free connection
//! slot (its `maxconn`); the next one only takes traffic when the first is full.

use super::{Pick, take};
use crate::cluster::ServerState;
use std::sync::Arc;

pub fn pick(usable: &[u16], servers: &[Arc<ServerState>], avoid: Option<usize>) -> Pick {
    let mut order: smallvec_like::Order = smallvec_like::Order::new(usable, servers);
    let mut saw = false;
    while let Some(idx) = order.next() {
        if Some(idx) == avoid {
            continue;
        }
        saw = true;
        if let Some(p) = take(servers, idx) {
            return p;
        }
    }
    if saw { Pick::Full } else { Pick::NoServer }
}

/// Walks `usable` by increasing server id without allocating: `usable` is short and already
/// in configuration order, which is id order unless ids were set by hand.
mod smallvec_like {
    use crate::cluster::ServerState;
    use std::sync::Arc;

    pub struct Order<'a> {
        usable: &'a [u16],
        servers: &'a [Arc<ServerState>],
        last: Option<u32>,
    }

    impl<'a> Order<'a> {
        pub fn new(usable: &'a [u16], servers: &'a [Arc<ServerState>]) -> Self {
            Order {
                usable,
                servers,
                last: None,
            }
        }

        pub fn next(&mut self) -> Option<usize> {
            let mut best: Option<(u32, usize)> = None;
            for &i in self.usable {
                let id = self.servers[i as usize].id;
                if self.last.is_some_and(|l| id <= l) {
                    continue;
                }
                if best.is_none_or(|(b, _)| id < b) {
                    best = Some((id, i as usize));
                }
            }
            best.map(|(id, i)| {
                self.last = Some(id);
                i
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn fills_the_first_server_first() {
        let lb = Lb::new(
            Algo::First,
            HashType::MapBased,
            false,
            servers(&[(1, false, 2), (1, false, 2)]),
        );
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(0));
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(0));
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(1));
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(1));
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Full);
        lb.release(0);
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(0));
    }
}
