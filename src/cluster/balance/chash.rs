//! Consistent hashing (`hash-type consistent`, and `balance random`'s draws) on HAProxy's
//! ring (src/lb_chash.c): a server of effective weight `weight × 16` owns as many points,
//! point `j` at `full_hash(id × 4096 + j)` where `id` is the server's numeric id (`id N`,
//! or its position). A key goes to the nearest point, the one before on a tie, so a
//! request lands on the server HAProxy would pick, and removing a server only moves the
//! keys it owned. Every shard computes the same ring.

use super::hash::full_hash;
use super::{Pick, take};
use crate::cluster::ServerState;
use std::sync::Arc;

/// HAProxy's `BE_WEIGHT_SCALE`: points per unit of configured weight.
const WEIGHT_SCALE: u32 = 16;
/// HAProxy's `SRV_EWGHT_RANGE`: the stride between two servers' point numbers.
const EWGHT_RANGE: u32 = 256 * WEIGHT_SCALE;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ring {
    /// (point, server index), sorted by point. HAProxy's keys are distinct: `full_hash`
    /// is a bijection and the point numbers are.
    points: Vec<(u32, u16)>,
    /// Each server's (effective weight, the effective weights of those before it), by
    /// index, for `hash-balance-factor`; and their sum.
    weights: Vec<(u64, u64)>,
    total_weight: u64,
}

impl Ring {
    pub fn build(servers: &[Arc<ServerState>], weights: &[(u16, u32)]) -> Ring {
        let mut points = Vec::new();
        let mut eweights = vec![(0, 0); servers.len()];
        let mut total_weight = 0;
        for &(idx, w) in weights {
            let ew = u64::from(w) * u64::from(WEIGHT_SCALE);
            eweights[idx as usize] = (ew, total_weight);
            total_weight += ew;
            let id = servers[idx as usize].id;
            for j in 0..w * WEIGHT_SCALE {
                let n = id.wrapping_mul(EWGHT_RANGE).wrapping_add(j);
                points.push((full_hash(n), idx));
            }
        }
        points.sort_unstable();
        Ring {
            points,
            weights: eweights,
            total_weight,
        }
    }

    /// HAProxy's `chash_server_is_eligible`: whether server `idx` serves fewer requests
    /// than its share of `factor` percent of all that the backend's servers serve (this
    /// one included), the share in proportion to its weight, 1 at least.
    fn eligible(&self, idx: usize, servers: &[Arc<ServerState>], served: u64, factor: u32) -> bool {
        let tot = self.total_weight.max(1);
        let slots_total = ((served + 1) * u64::from(factor)).div_ceil(100);
        let (ew, before) = self.weights[idx];
        let (per_weight, rest) = (slots_total / tot, slots_total % tot);
        let slots = ew * per_weight + ((before + ew) * rest) / tot - (before * rest) / tot;
        u64::from(servers[idx].cur_conns()) < slots.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// HAProxy's `chash_get_server_hash`: the owner of the point nearest to `key` (the
    /// point before it when both are as near), walking on past an avoided server and, with
    /// a `hash-balance-factor`, past servers loaded beyond it (when all are, the nearest).
    pub fn pick(
        &self,
        key: u32,
        servers: &[Arc<ServerState>],
        avoid: Option<usize>,
        factor: u32,
    ) -> Pick {
        let n = self.points.len();
        if n == 0 {
            return Pick::NoServer;
        }
        let next = self.points.partition_point(|&(p, _)| p < key) % n;
        let prev = (next + n - 1) % n;
        let dp = key.wrapping_sub(self.points[prev].0);
        let dn = self.points[next].0.wrapping_sub(key);
        let start = if dp <= dn { prev } else { next };
        let mut fallback = None;
        let served: u64 = match factor {
            0 => 0,
            _ => servers.iter().map(|s| u64::from(s.cur_conns())).sum(),
        };
        for k in 0..n {
            let idx = self.points[(start + k) % n].1 as usize;
            if Some(idx) == avoid {
                continue;
            }
            if factor > 0 && !self.eligible(idx, servers, served, factor) {
                fallback.get_or_insert(idx);
                continue;
            }
            return take(servers, idx).unwrap_or(Pick::Full);
        }
        match fallback {
            Some(idx) => take(servers, idx).unwrap_or(Pick::Full),
            None => Pick::NoServer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use crate::cluster::SrvState;

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let lb = Lb::new(
            Algo::Source,
            HashType::Consistent,
            false,
            servers(&[(1, false, 0); 4]),
        )
        .with_hasher(super::super::hash::Hasher {
            func: crate::config::HashFn::Sdbm,
            avalanche: true,
        });
        let ips: Vec<String> = (0..2000)
            .map(|i| format!("172.16.{}.{}", i / 200, i % 200))
            .collect();
        let before: Vec<usize> = ips
            .iter()
            .map(|ip| match lb.pick(&ctx(ip)) {
                Pick::Server(s) => {
                    lb.release(s);
                    s
                }
                p => panic!("{p:?}"),
            })
            .collect();
        lb.servers[2].set_state(SrvState::Down);
        lb.rebuild();
        let mut moved = 0;
        for (ip, &b) in ips.iter().zip(&before) {
            let Pick::Server(a) = lb.pick(&ctx(ip)) else {
                panic!()
            };
            lb.release(a);
            if b != 2 {
                assert_eq!(a, b, "a key not owned by the removed server moved");
            } else {
                assert_ne!(a, 2);
                moved += 1;
            }
        }
        // Roughly a quarter of the keys belonged to the removed server.
        assert!((300..700).contains(&moved), "{moved}");
    }

    /// `hash-balance-factor 150`: one key held 30 times without release fills its server
    /// to 150% of the average (15 of 30), then walks on along the ring; without it, the
    /// key's server takes all 30.
    #[test]
    fn balance_factor_bounds_a_servers_share_of_the_load() {
        let held = |factor: u32| -> Vec<usize> {
            let lb = Lb::new(
                Algo::RequestHash,
                HashType::Consistent,
                false,
                servers(&[(1, false, 0); 3]),
            )
            .with_balance_factor(factor);
            let mut n = vec![0; 3];
            for _ in 0..30 {
                let c = PickCtx {
                    key: Some(12345),
                    ..ctx("10.0.0.1")
                };
                match lb.pick(&c) {
                    Pick::Server(s) => n[s] += 1,
                    p => panic!("{p:?}"),
                }
            }
            n
        };
        let free = held(0);
        assert_eq!(free.iter().max(), Some(&30), "{free:?}");
        let bounded = held(150);
        assert_eq!(bounded.iter().sum::<usize>(), 30);
        assert_eq!(bounded.iter().max(), Some(&15), "{bounded:?}");
        // The key's own server is the one filled first.
        let own = free.iter().position(|&c| c == 30).unwrap();
        assert_eq!(bounded[own], 15, "{bounded:?}");
    }
}
