//! Consistent hashing (`hash-type consistent`): each usable server owns `weight × 40` points
//! on a 32-bit ring, placed by hashing its name, so that removing a server only moves the
//! keys it owned and every shard computes the same ring.

use super::hash::hash_bytes;
use super::{Pick, take};
use crate::cluster::ServerState;
use std::sync::Arc;

const POINTS_PER_WEIGHT: u32 = 40;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ring {
    /// (point, server index), sorted by point.
    points: Vec<(u32, u16)>,
}

impl Ring {
    pub fn build(servers: &[Arc<ServerState>], weights: &[(u16, u32)]) -> Ring {
        let mut points = Vec::new();
        for &(idx, w) in weights {
            let s = &servers[idx as usize];
            for i in 0..w * POINTS_PER_WEIGHT {
                let key = format!("{}/{}#{}", s.backend, s.name, i);
                points.push((hash_bytes(key.as_bytes()), idx));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The owner of the first point at or after `key`, walking on past an avoided server.
    pub fn pick(&self, key: u32, servers: &[Arc<ServerState>], avoid: Option<usize>) -> Pick {
        let n = self.points.len();
        if n == 0 {
            return Pick::NoServer;
        }
        let start = self.points.partition_point(|&(p, _)| p < key);
        for k in 0..n {
            let idx = self.points[(start + k) % n].1 as usize;
            if Some(idx) == avoid {
                continue;
            }
            return take(servers, idx).unwrap_or(Pick::Full);
        }
        Pick::NoServer
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
        );
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
}
