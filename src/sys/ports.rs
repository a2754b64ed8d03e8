//! Source port ranges (`server … source ADDR:LOW-HIGH`): each connection to the server, and
//! each of its checks, binds a port of the range no other live connection of the range
//! holds, and gives it back when its socket closes (HAProxy's `port_range`).
//!
//! One range is shared by every shard: a bitmap of atomic words (a set bit is a port in
//! use) and a cursor where the next search starts. Taking a port is a `fetch_or` on the
//! word of a free bit, giving it back a `fetch_and`: no lock on the request path, and no
//! shard runs out while another still has free ports (a split per shard would strand them).
//! The cursor moves past each port taken, so ports are used in turn, the one freed longest
//! ago first, as HAProxy's ring of free ports does (a port freed a moment ago may still
//! have a connection in TIME_WAIT towards the same server).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub struct PortRange {
    low: u16,
    len: u32,
    used: Box<[AtomicU64]>,
    next: AtomicU32,
}

impl std::fmt::Debug for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortRange({}-{})", self.low, self.high())
    }
}

impl PortRange {
    /// Ports `low` to `high` (inclusive); port 0 is never handed out.
    pub fn new(low: u16, high: u16) -> Arc<PortRange> {
        install_close_hook();
        let low = low.max(1);
        let len = u32::from(high.saturating_sub(low)) + 1;
        Arc::new(PortRange {
            low,
            len,
            used: (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicU32::new(0),
        })
    }

    pub fn high(&self) -> u16 {
        (u32::from(self.low) + self.len - 1) as u16
    }

    /// A free port, now marked in use; `None` when every port is taken.
    pub fn take(self: &Arc<Self>) -> Option<Lease> {
        let start = self.next.load(Ordering::Relaxed) % self.len;
        for i in 0..self.len {
            let k = (start + i) % self.len;
            let (word, bit) = (&self.used[(k / 64) as usize], 1u64 << (k % 64));
            // A load first: a taken port costs no write to a line other shards share.
            if word.load(Ordering::Relaxed) & bit == 0
                && word.fetch_or(bit, Ordering::AcqRel) & bit == 0
            {
                self.next.store(k + 1, Ordering::Relaxed);
                return Some(Lease {
                    range: self.clone(),
                    port: (u32::from(self.low) + k) as u16,
                });
            }
        }
        None
    }

    /// Ports in use now (the tests' and the range's own check).
    pub fn in_use(&self) -> u32 {
        self.used
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum()
    }

    fn give_back(&self, port: u16) {
        let k = u32::from(port - self.low);
        self.used[(k / 64) as usize].fetch_and(!(1u64 << (k % 64)), Ordering::AcqRel);
    }
}

/// A port taken from a range; dropping it gives the port back.
#[derive(Debug)]
pub struct Lease {
    range: Arc<PortRange>,
    port: u16,
}

impl Lease {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port stays taken as long as socket `fd` is open: given back when the socket
    /// closes (glommio's close hook, [`install_close_hook`]).
    pub fn hold_for(self, fd: RawFd) {
        // A lease still filed under this number (its socket closed some way without the
        // hook) is dropped, its port given back.
        HELD.with(|h| h.borrow_mut().insert(fd, self));
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.range.give_back(self.port);
    }
}

thread_local! {
    /// The leases of this shard's open sockets, by descriptor: a socket is closed on the
    /// shard that opened it (glommio's are not `Send`), so no lock.
    static HELD: RefCell<HashMap<RawFd, Lease>> = RefCell::new(HashMap::new());
}

/// Has glommio tell us of each socket it closes (once; a no-op for sockets without a port
/// of a range).
pub fn install_close_hook() {
    glommio::net::set_close_hook(closing);
}

fn closing(fd: RawFd) {
    // try_with: a socket dropped while the thread's locals are torn down needs nothing.
    let _ = HELD.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut()
            && !h.is_empty()
        {
            h.remove(&fd);
        }
    });
}

/// What a failed bind to a range's port says: no free port (HAProxy's CO_ER_PORT_RANGE) or
/// no port of the range would bind (CO_ER_CANT_BIND), in HAProxy's words.
#[derive(Debug)]
pub struct BindFailed(pub &'static str);

impl std::fmt::Display for BindFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BindFailed {}

pub const EXHAUSTED: &str = "Source port range exhausted";
pub const CANT_BIND: &str = "Can't bind to source address";

pub fn bind_failed(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<BindFailed>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_go_in_turn_and_come_back() {
        let r = PortRange::new(5000, 5002);
        let a = r.take().unwrap();
        let b = r.take().unwrap();
        let c = r.take().unwrap();
        assert_eq!([a.port(), b.port(), c.port()], [5000, 5001, 5002]);
        assert!(r.take().is_none(), "three ports, three leases");
        drop(b);
        assert_eq!(r.in_use(), 2);
        assert_eq!(r.take().unwrap().port(), 5001);
        drop((a, c));
        // The search goes on past the last port taken (5001), round to the start.
        let (d, e) = (r.take().unwrap(), r.take().unwrap());
        assert_eq!([d.port(), e.port()], [5002, 5000]);
    }

    #[test]
    fn a_range_over_many_words_is_used_whole_across_threads() {
        let r = PortRange::new(1000, 1199);
        let got: Vec<Vec<u16>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        while let Some(l) = r.take() {
                            mine.push(l.port());
                            std::mem::forget(l);
                        }
                        mine
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u16> = got.concat();
        all.sort();
        assert_eq!(all, (1000..=1199).collect::<Vec<_>>(), "each port once");
    }

    #[test]
    fn a_lease_held_for_a_socket_comes_back_when_it_closes() {
        let r = PortRange::new(7000, 7000);
        r.take().unwrap().hold_for(12345);
        assert!(r.take().is_none());
        closing(12345);
        assert_eq!(r.take().map(|l| l.port()), Some(7000));
    }
}
