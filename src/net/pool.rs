//! The shard's idle server connections, per (backend, server): what `http-reuse` lets a
//! request take instead of connecting. Owned by one shard; no lock. Connections idle for
//! longer than the purge delay are closed when a request looks for one, and by the shard's
//! purge timer ([`Pool::purge`]) when none does.

use super::io::ServerIo;
use crate::cluster::counters::MAX_IDLE;
use crate::cluster::shared::FdCounts;
use crate::config::Reuse;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A server's idle connections on one shard: at most `max`, each kept for `delay`
/// (`pool-max-conn`, `pool-purge-delay`), each reused `max_reuse` times at most
/// (`max-reuse`; None: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleLimit {
    pub max: usize,
    pub delay: Duration,
    pub max_reuse: Option<u32>,
}

impl IdleLimit {
    /// Server `params`' limit on one of `shards` shards. HAProxy's `pool-max-conn` counts
    /// the server's idle connections of all threads; each shard here keeps its own pool
    /// (no lock), so each may keep its share, rounded up; without a limit, the pool's own
    /// (`MAX_IDLE`) applies.
    pub fn of(params: &crate::config::ServerParams, shards: usize) -> IdleLimit {
        let max = match params.pool_max_conn {
            None => MAX_IDLE,
            Some(n) => (n as usize).div_ceil(shards.max(1)).min(MAX_IDLE),
        };
        IdleLimit {
            max,
            delay: params.pool_purge_delay,
            max_reuse: params.max_reuse,
        }
    }

    /// Whether a connection may be kept at all.
    pub fn keeps(&self) -> bool {
        self.max > 0 && !self.delay.is_zero()
    }
}

/// The idle HTTP/1 server connections of every shard's pool, for [`used_fds`].
static POOLED: AtomicUsize = AtomicUsize::new(0);

/// The descriptors in use with `conns` client connections open, as [`FdCounts`] reckons
/// them: two per client connection (its own and its server's) plus the pooled ones.
fn used_fds(conns: u32) -> usize {
    2 * conns as usize + POOLED.load(Relaxed)
}

/// Counts a connection in [`POOLED`] while it is in a pool, however it leaves.
struct Pooled;

impl Pooled {
    fn new() -> Pooled {
        POOLED.fetch_add(1, Relaxed);
        Pooled
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        POOLED.fetch_sub(1, Relaxed);
    }
}

pub struct Idle {
    pub conn: ServerIo,
    _counted: Pooled,
    /// When it is closed (its server's `pool-purge-delay` after it was put).
    until: Instant,
    /// Served at least one request already (what `http-reuse aggressive` wants).
    pub reused: bool,
    /// The requests it carried (its server's `max-reuse` counts them).
    uses: u32,
}

#[derive(Default)]
pub struct Pool {
    idle: HashMap<(usize, usize), Vec<Idle>, BuildHasherDefault<IndexHasher>>,
}

/// A hasher for the pool's keys, the configuration's own indexes (nothing a client
/// chooses, so no flooding to resist): SipHash cost a few hundred instructions per
/// request across `take` and `put`.
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        // FxHash's step: a rotate, a xor and a multiply by an odd constant.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Pool {
    /// An idle connection to server `srv` of backend `be`, if the policy allows one for this
    /// request (`first`: the first request of its client connection).
    /// Returns the connection, whether it was reused before, and the requests it carried.
    /// `now`: the caller's clock reading (it has one: the connect time starts there).
    pub fn take(
        &mut self,
        be: usize,
        srv: usize,
        reuse: Reuse,
        first: bool,
        now: Instant,
    ) -> Option<(ServerIo, bool, u32)> {
        let any = match reuse {
            Reuse::Never => return None,
            Reuse::Safe if first => return None,
            Reuse::Aggressive if first => false,
            _ => true,
        };
        let list = self.idle.get_mut(&(be, srv))?;
        while let Some(pos) = list.iter().rposition(|i| any || i.reused) {
            let i = list.remove(pos);
            if now < i.until && i.conn.idle_alive() {
                return Some((i.conn, i.reused, i.uses));
            }
            // Closed by the server, or too old: drop it.
        }
        None
    }

    /// Closes the connections idle for their purge delay or more; returns when the oldest
    /// one left will be (None: none left). Each list is oldest first (`put` appends; one
    /// server's connections share a delay).
    pub fn purge(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        self.idle.retain(|_, list| {
            let old = list.partition_point(|i| i.until <= now);
            list.drain(..old);
            if let Some(i) = list.first() {
                let at = i.until;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            !list.is_empty()
        });
        next
    }

    /// Whether a connection to server `srv` of backend `be` that served a request may go
    /// idle, with `conns` client connections open (HAProxy's `srv_add_to_idle_list`):
    /// never from `fds.high` descriptors in use; from `fds.low`, only while this shard
    /// keeps none of the server's that served more than one request and, unless this one
    /// did (`reused`), none that served one (HAProxy keeps one per thread there).
    pub fn keeps(&self, be: usize, srv: usize, reused: bool, fds: FdCounts, conns: u32) -> bool {
        let used = used_fds(conns);
        if used >= fds.high {
            return false;
        }
        if used < fds.low {
            return true;
        }
        let list = self.idle.get(&(be, srv)).map_or(&[][..], Vec::as_slice);
        let safe = list.iter().any(|i| i.reused);
        !safe && (reused || list.is_empty())
    }

    /// A new connection to server `srv` of backend `be` is about to be made (none could be
    /// reused): past `fds.high` descriptors in use, one of its idle connections that served
    /// a single request is closed to make room (HAProxy's `connect_server`; it looks in
    /// other threads' pools too, corelb's shards keep to their own). Returns whether one
    /// was.
    pub fn make_room(&mut self, be: usize, srv: usize, fds: FdCounts, conns: u32) -> bool {
        if used_fds(conns) <= fds.high {
            return false;
        }
        let Some(list) = self.idle.get_mut(&(be, srv)) else {
            return false;
        };
        match list.iter().position(|i| !i.reused) {
            Some(pos) => {
                list.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Keeps an idle connection, unless its server has as many as `limit` allows already
    /// (it is then closed, as HAProxy does past `pool-max-conn`); `reused`: it has served
    /// more than one request already; `uses`: the requests it carried; `now`: the caller's
    /// clock reading (the log's, read once for both).
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &mut self,
        be: usize,
        srv: usize,
        conn: ServerIo,
        reused: bool,
        uses: u32,
        limit: IdleLimit,
        now: Instant,
    ) {
        if !limit.keeps() {
            return;
        }
        let list = self.idle.entry((be, srv)).or_default();
        if list.len() >= limit.max {
            return;
        }
        list.push(Idle {
            conn,
            _counted: Pooled::new(),
            until: now + limit.delay,
            reused,
            uses,
        });
    }

    /// Closes the idle connections to one server (`shutdown sessions server`).
    pub fn drop_server(&mut self, be: usize, srv: usize) {
        self.idle.remove(&(be, srv));
    }

    /// The idle connections to one server: (not reused yet, reused).
    pub fn count(&self, be: usize, srv: usize) -> (u64, u64) {
        self.idle.get(&(be, srv)).map_or((0, 0), |l| {
            let safe = l.iter().filter(|i| i.reused).count() as u64;
            (l.len() as u64 - safe, safe)
        })
    }

    /// Closes every idle connection.
    pub fn clear(&mut self) {
        self.idle.clear();
    }

    /// Idle connections held (all servers).
    pub fn len(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod fd_tests {
    use super::FdCounts;

    /// HAProxy's `(maxsock * ratio + 99) / 100`.
    #[test]
    fn fd_counts_round_up_as_haproxy() {
        assert_eq!(FdCounts::new(100, 20, 25), FdCounts { low: 20, high: 25 });
        assert_eq!(FdCounts::new(30, 20, 25), FdCounts { low: 6, high: 8 });
        assert_eq!(FdCounts::new(30, 0, 100), FdCounts { low: 0, high: 30 });
    }
}
