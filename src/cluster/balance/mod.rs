//! Server selection. One [`Lb`] per backend, shared by every shard.
//!
//! Balancing is global, as an operator expects from HAProxy's threads: the cursor of
//! round-robin is one atomic over a precomputed smooth-weighted schedule, connection counts
//! for `leastconn` are the servers' atomics, and the hashing algorithms are deterministic, so
//! which shard accepted a connection does not matter. The tables are rebuilt (and swapped in
//! with `ArcSwap`, lock-free for readers) only when a server's state or weight changes;
//! rebuilds, from any shard, are serialised by a mutex that only they take.

pub mod chash;
pub mod first;
pub mod hash;
pub mod leastconn;
pub mod random;
pub mod roundrobin;

use crate::cluster::ServerState;
use crate::config::{Algo, HashType};
use arc_swap::ArcSwap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the connection path knows when it asks for a server.
#[derive(Clone, Copy, Debug)]
pub struct PickCtx {
    pub client_ip: IpAddr,
    /// A server to avoid (the one that just failed, for redispatch).
    pub avoid: Option<usize>,
    /// The request's hash for `balance uri|url_param|hdr()|rdp-cookie|hash` (`Lb::key` of
    /// the part; None: the part is absent, and the request is balanced round-robin, as
    /// HAProxy does).
    pub key: Option<u32>,
}

/// The outcome of a selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// This server index, with a connection slot reserved (release it when done).
    Server(usize),
    /// Usable servers exist but all are at their maxconn: the connection must queue.
    Full,
    /// No server is usable.
    NoServer,
}

/// The tables derived from the servers' states and weights.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LbTable {
    /// The servers that may take traffic now: the usable active ones, or, when none is,
    /// the first usable backup (all of them with `option allbackups`).
    pub usable: Vec<u16>,
    /// Smooth weighted round-robin sequence over `usable` (each server `weight` times).
    pub schedule: Vec<u16>,
    /// HAProxy's server map, for map-based hashing (empty for the other algorithms).
    pub map: Vec<u16>,
    /// Consistent-hashing ring over `usable`.
    pub ring: chash::Ring,
}

/// A backend's time without a usable server: finished periods, and when the current one
/// began (HAProxy's `down_time` and `last_change` of a proxy).
#[derive(Debug, Default)]
struct Downtime {
    secs: u64,
    since: Option<u64>,
}

impl Downtime {
    fn update(&mut self, up: bool, now: u64) {
        match (up, self.since) {
            (false, None) => self.since = Some(now),
            (true, Some(t)) => {
                self.secs += now.saturating_sub(t);
                self.since = None;
            }
            _ => {}
        }
    }

    fn total(&self, now: u64) -> u64 {
        self.secs + self.since.map_or(0, |t| now.saturating_sub(t))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct Lb {
    pub algo: Algo,
    pub hash_type: HashType,
    /// `hash-type`'s function and avalanche modifier.
    pub hasher: hash::Hasher,
    /// `hash-balance-factor` (0: none): bounded loads on the consistent-hashing ring.
    pub balance_factor: u32,
    /// HAProxy's `wmult` for the map: the GCD of the configured weights.
    wmult: u32,
    pub allbackups: bool,
    pub servers: Vec<Arc<ServerState>>,
    /// `dispatch`: the one server the balancing gives connections to.
    pub dispatch: Option<usize>,
    table: ArcSwap<LbTable>,
    /// Orders rebuilds: each computes and publishes under it, so the table published last
    /// is computed from the latest states (without it, a rebuild that read the states
    /// before another one's change could publish after it and keep a down server in).
    /// Readers never take it. It also guards the backend's down periods, which change
    /// only with a rebuild.
    rebuild: Mutex<Downtime>,
    cursor: AtomicUsize,
    /// Runs between computing a table and publishing it: lets a test widen that window.
    #[cfg(test)]
    before_store: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Lb {
    pub fn new(
        algo: Algo,
        hash_type: HashType,
        allbackups: bool,
        servers: Vec<Arc<ServerState>>,
    ) -> Lb {
        let wmult = hash::weight_gcd(servers.iter().map(|s| s.configured_weight));
        let lb = Lb {
            algo,
            hash_type,
            hasher: hash::Hasher::default(),
            balance_factor: 0,
            wmult,
            allbackups,
            servers,
            dispatch: None,
            table: ArcSwap::from_pointee(LbTable::default()),
            rebuild: Mutex::new(Downtime::default()),
            cursor: AtomicUsize::new(0),
            #[cfg(test)]
            before_store: std::sync::OnceLock::new(),
        };
        lb.rebuild();
        lb
    }

    /// Recomputes the tables from the servers' current states and weights. Called by whoever
    /// changed a state (the health checker, an observed error); never on the request path.
    /// Makes server `dispatch` (the backend's `dispatch` address) the only one the
    /// balancing picks.
    pub fn with_dispatch(mut self, dispatch: Option<usize>) -> Lb {
        self.dispatch = dispatch;
        self.rebuild();
        self
    }

    /// Sets the `hash-type` function and modifier.
    pub fn with_hasher(mut self, hasher: hash::Hasher) -> Lb {
        self.hasher = hasher;
        self
    }

    /// Sets `hash-balance-factor`.
    pub fn with_balance_factor(mut self, factor: u32) -> Lb {
        self.balance_factor = factor;
        self
    }

    /// The hash key of a request's part (`balance uri|url_param|hdr()|rdp-cookie|hash`).
    pub fn key(&self, part: &[u8]) -> u32 {
        self.hasher.key(part)
    }

    /// Whether server `i` is the `dispatch` address, which no statistics show.
    pub fn is_dispatch(&self, i: usize) -> bool {
        self.dispatch == Some(i)
    }

    pub fn rebuild(&self) {
        // A panic while holding it leaves no half-written state: the table is one store.
        let mut order = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let table = self.compute();
        order.update(!table.usable.is_empty(), unix_now());
        #[cfg(test)]
        if let Some(hook) = self.before_store.get() {
            hook();
        }
        self.table.store(Arc::new(table));
    }

    /// Seconds the backend spent with no usable server (the stats' `downtime`), the
    /// current period included.
    pub fn downtime(&self) -> u64 {
        let d = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        d.total(unix_now())
    }

    /// The tables for the servers' states and weights as they are now.
    fn compute(&self) -> LbTable {
        let usable = self.usable_set();
        let weights: Vec<(u16, u32)> = usable
            .iter()
            .map(|&i| (i, self.servers[i as usize].weight()))
            .collect();
        let schedule = roundrobin::smooth_schedule(&weights);
        let ring =
            if self.hash_type == HashType::Consistent || matches!(self.algo, Algo::Random { .. }) {
                chash::Ring::build(&self.servers, &weights)
            } else {
                chash::Ring::default()
            };
        let map = if self.hash_type == HashType::MapBased && self.algo.is_hash() {
            self.haproxy_map()
        } else {
            Vec::new()
        };
        LbTable {
            usable,
            schedule,
            map,
            ring,
        }
    }

    /// HAProxy's map over the servers it considers (`recount_servers`,
    /// `update_backend_weight`, `recalc_server_map`), with its effective weights: the
    /// weight divided by `wmult`, rounded up.
    fn haproxy_map(&self) -> Vec<u16> {
        if let Some(d) = self.dispatch {
            return vec![d as u16];
        }
        let eweight = |i: usize| self.servers[i].weight().div_ceil(self.wmult);
        let set = |backup: bool| -> Vec<(u16, u32)> {
            (0..self.servers.len())
                .filter(|&i| self.servers[i].backup == backup && self.servers[i].usable())
                .map(|i| (i as u16, eweight(i)))
                .filter(|&(_, w)| w > 0)
                .collect()
        };
        let active = set(false);
        if !active.is_empty() {
            let total = active.iter().map(|&(_, w)| w).sum();
            return hash::haproxy_map(&active, total);
        }
        let backups = set(true);
        let total = match backups.first() {
            Some(&(_, w)) if !self.allbackups => w,
            _ => backups.iter().map(|&(_, w)| w).sum(),
        };
        hash::haproxy_map(&backups, total)
    }

    fn usable_set(&self) -> Vec<u16> {
        if let Some(d) = self.dispatch {
            return vec![d as u16];
        }
        let active: Vec<u16> = (0..self.servers.len())
            .filter(|&i| !self.servers[i].backup && self.servers[i].usable())
            .map(|i| i as u16)
            .collect();
        if !active.is_empty() {
            return active;
        }
        let backups = (0..self.servers.len())
            .filter(|&i| self.servers[i].backup && self.servers[i].usable())
            .map(|i| i as u16);
        if self.allbackups {
            backups.collect()
        } else {
            // HAProxy uses only the first backup unless 'option allbackups'.
            backups.take(1).collect()
        }
    }

    /// Number of servers that may take traffic now (`nbsrv()`).
    pub fn usable_count(&self) -> usize {
        self.table.load().usable.len()
    }

    /// Chooses a server and reserves a slot on it.
    pub fn pick(&self, ctx: &PickCtx) -> Pick {
        let t = self.table.load();
        if t.usable.is_empty() {
            return Pick::NoServer;
        }
        let servers = &self.servers;
        let pick = match self.algo {
            Algo::RoundRobin | Algo::StaticRr => {
                roundrobin::pick(&t.schedule, &self.cursor, servers, ctx.avoid)
            }
            Algo::LeastConn => leastconn::pick(&t.usable, &self.cursor, servers, ctx.avoid),
            Algo::First => first::pick(&t.usable, servers, ctx.avoid),
            Algo::Source => {
                let key = self.hasher.source_key(&ctx.client_ip);
                match self.hash_type {
                    HashType::MapBased => hash::pick_map(&t.map, key, servers, ctx.avoid),
                    HashType::Consistent => {
                        t.ring.pick(key, servers, ctx.avoid, self.balance_factor)
                    }
                }
            }
            Algo::Random { draws } => random::pick(&t.schedule, draws, servers, ctx.avoid),
            Algo::RequestHash => match ctx.key {
                Some(key) => match self.hash_type {
                    HashType::MapBased => hash::pick_map(&t.map, key, servers, ctx.avoid),
                    HashType::Consistent => {
                        t.ring.pick(key, servers, ctx.avoid, self.balance_factor)
                    }
                },
                None => roundrobin::pick(&t.schedule, &self.cursor, servers, ctx.avoid),
            },
        };
        // A redispatch that found only the server to avoid takes it rather than nothing.
        if pick == Pick::NoServer && ctx.avoid.is_some() {
            return self.pick(&PickCtx {
                avoid: None,
                ..*ctx
            });
        }
        pick
    }

    pub fn release(&self, idx: usize) {
        self.servers[idx].release();
    }

    /// Bumps the shared cursor (used by algorithms that rotate).
    pub(crate) fn next_cursor(cursor: &AtomicUsize) -> usize {
        cursor.fetch_add(1, Ordering::Relaxed)
    }
}

/// Tries to reserve `idx`; returns the pick or None when it is full.
#[inline]
pub(crate) fn take(servers: &[Arc<ServerState>], idx: usize) -> Option<Pick> {
    servers[idx].try_acquire().then_some(Pick::Server(idx))
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use crate::cluster::ServerState;

    /// Servers "s1".."sN" with these (weight, backup, maxconn).
    pub fn servers(spec: &[(u32, bool, u32)]) -> Vec<Arc<ServerState>> {
        spec.iter()
            .enumerate()
            .map(|(i, &(w, b, m))| {
                Arc::new(ServerState::new(
                    "bk",
                    i as u32 + 1,
                    &crate::cluster::state::tests::server(
                        &format!("s{}", i + 1),
                        &format!("10.0.0.{}", i + 1),
                        Some(80),
                        w,
                        b,
                        m,
                        false,
                    ),
                ))
            })
            .collect()
    }

    pub fn ctx(ip: &str) -> PickCtx {
        PickCtx {
            client_ip: ip.parse().unwrap(),
            avoid: None,
            key: None,
        }
    }

    /// Picks `n` times (releasing each slot) and counts per server.
    pub fn distribution(lb: &Lb, n: usize, ip: &str) -> Vec<usize> {
        let mut counts = vec![0; lb.servers.len()];
        for i in 0..n {
            let c = if ip == "vary" {
                ctx(&format!("192.168.{}.{}", (i / 250) % 250, i % 250))
            } else {
                ctx(ip)
            };
            match lb.pick(&c) {
                Pick::Server(s) => {
                    counts[s] += 1;
                    lb.release(s);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::cluster::SrvState;

    #[test]
    fn backend_downtime_counts_periods_without_a_usable_server() {
        let mut d = Downtime::default();
        d.update(true, 100);
        assert_eq!(d.total(150), 0);
        d.update(false, 200);
        d.update(false, 205); // still down: the period goes on
        assert_eq!(d.total(230), 30);
        d.update(true, 240);
        assert_eq!(d.total(1000), 40);
        d.update(false, 1000);
        assert_eq!(d.total(1002), 42);
    }

    #[test]
    fn backups_only_when_no_active_server_is_up() {
        let lb = Lb::new(
            Algo::RoundRobin,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0), (1, false, 0), (1, true, 0), (1, true, 0)]),
        );
        assert_eq!(distribution(&lb, 10, "1.1.1.1"), vec![5, 5, 0, 0]);
        lb.servers[0].set_state(SrvState::Down);
        lb.servers[1].set_state(SrvState::Down);
        lb.rebuild();
        assert_eq!(
            distribution(&lb, 10, "1.1.1.1"),
            vec![0, 0, 10, 0],
            "first backup only"
        );
        let lb2 = Lb::new(
            Algo::RoundRobin,
            HashType::MapBased,
            true,
            servers(&[(1, false, 0), (1, true, 0), (1, true, 0)]),
        );
        lb2.servers[0].set_state(SrvState::Down);
        lb2.rebuild();
        assert_eq!(
            distribution(&lb2, 10, "1.1.1.1"),
            vec![0, 5, 5],
            "allbackups"
        );
        lb.servers[0].set_state(SrvState::Up);
        lb.rebuild();
        assert_eq!(distribution(&lb, 4, "1.1.1.1"), vec![4, 0, 0, 0]);
    }

    #[test]
    fn no_server_and_full() {
        let lb = Lb::new(
            Algo::RoundRobin,
            HashType::MapBased,
            false,
            servers(&[(1, false, 1)]),
        );
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(0));
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Full);
        lb.release(0);
        lb.servers[0].set_state(SrvState::Down);
        lb.rebuild();
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::NoServer);
    }

    #[test]
    fn redispatch_avoids_the_failed_server() {
        for algo in [
            Algo::RoundRobin,
            Algo::LeastConn,
            Algo::First,
            Algo::Source,
            Algo::Random { draws: 2 },
        ] {
            let lb = Lb::new(
                algo,
                HashType::MapBased,
                false,
                servers(&[(1, false, 0), (1, false, 0)]),
            );
            for _ in 0..20 {
                let c = PickCtx {
                    client_ip: "1.2.3.4".parse().unwrap(),
                    avoid: Some(0),
                    key: None,
                };
                assert_eq!(lb.pick(&c), Pick::Server(1), "{algo:?}");
                lb.release(1);
            }
            // Only the avoided server is left: it is used rather than nothing.
            let one = Lb::new(algo, HashType::MapBased, false, servers(&[(1, false, 0)]));
            let c = PickCtx {
                client_ip: "1.2.3.4".parse().unwrap(),
                avoid: Some(0),
                key: None,
            };
            assert_eq!(one.pick(&c), Pick::Server(0));
        }
    }

    #[test]
    fn concurrent_rebuilds_publish_the_table_of_the_final_states() {
        use std::sync::Barrier;
        use std::time::Duration;
        const THREADS: usize = 4;
        const ROUNDS: usize = 50;
        let lb = Arc::new(Lb::new(
            Algo::RoundRobin,
            HashType::Consistent,
            false,
            servers(&[(1, false, 0); 6]),
        ));
        // Widen the window between computing a table and publishing it, so that a rebuild
        // that computed before another one's state change can publish after it.
        let _ = lb.before_store.set(Box::new(|| {
            std::thread::sleep(Duration::from_micros(fastrand::u64(0..300)))
        }));
        let barrier = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (lb, barrier) = (lb.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut stale = 0;
                    for _ in 0..ROUNDS {
                        let s = &lb.servers[fastrand::usize(..lb.servers.len())];
                        s.set_state(if fastrand::bool() {
                            SrvState::Up
                        } else {
                            SrvState::Down
                        });
                        lb.rebuild();
                        // Quiescent point: every rebuild of this round has returned.
                        if barrier.wait().is_leader() && **lb.table.load() != lb.compute() {
                            stale += 1;
                        }
                        barrier.wait();
                    }
                    stale
                })
            })
            .collect();
        let stale: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(stale, 0, "rounds that ended with a stale table published");
        let t = lb.table.load();
        assert_eq!(**t, lb.compute());
        assert!(
            t.usable.iter().all(|&i| lb.servers[i as usize].usable()),
            "a down server is in rotation: {:?}",
            t.usable
        );
    }
}
