//! `balance roundrobin` and `static-rr`: a smooth weighted round-robin schedule (nginx's
//! algorithm: weights 5,1,1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c) computed once per
//! state change, walked by one atomic cursor shared by every shard.

use super::{Lb, Pick, take};
use crate::cluster::ServerState;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The schedule for (server index, weight) pairs: each server appears weight/g times, where g
/// is the gcd of the weights, spread as evenly as the smooth algorithm makes it.
pub fn smooth_schedule(weights: &[(u16, u32)]) -> Vec<u16> {
    let weights: Vec<(u16, u32)> = weights.iter().copied().filter(|&(_, w)| w > 0).collect();
    let g = weights.iter().fold(0, |g, &(_, w)| gcd(g, w)).max(1);
    let w: Vec<i64> = weights.iter().map(|&(_, w)| (w / g) as i64).collect();
    let total: i64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..w.len() {
            current[i] += w[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(weights[best].0);
    }
    out
}

pub fn pick(
    schedule: &[u16],
    cursor: &AtomicUsize,
    servers: &[Arc<ServerState>],
    avoid: Option<usize>,
) -> Pick {
    if schedule.is_empty() {
        return Pick::NoServer;
    }
    let start = Lb::next_cursor(cursor);
    let mut saw_candidate = false;
    // Full servers are skipped; after a whole turn everything is full.
    for k in 0..schedule.len() {
        let idx = schedule[(start + k) % schedule.len()] as usize;
        if Some(idx) == avoid {
            continue;
        }
        saw_candidate = true;
        if let Some(p) = take(servers, idx) {
            return p;
        }
    }
    if saw_candidate {
        Pick::Full
    } else {
        Pick::NoServer
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;

    #[test]
    fn smooth() {
        assert_eq!(
            smooth_schedule(&[(0, 5), (1, 1), (2, 1)]),
            vec![0, 0, 1, 0, 2, 0, 0]
        );
        assert_eq!(smooth_schedule(&[(0, 2), (1, 2)]), vec![0, 1]);
        assert_eq!(smooth_schedule(&[(0, 1), (1, 0)]), vec![0]);
        assert!(smooth_schedule(&[]).is_empty());
    }

    #[test]
    fn exact_round_robin() {
        let lb = Lb::new(
            Algo::RoundRobin,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0); 3]),
        );
        assert_eq!(distribution(&lb, 30, "1.1.1.1"), vec![10, 10, 10]);
    }

    #[test]
    fn weights_one_two_three() {
        let lb = Lb::new(
            Algo::StaticRr,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0), (2, false, 0), (3, false, 0)]),
        );
        assert_eq!(distribution(&lb, 6000, "1.1.1.1"), vec![1000, 2000, 3000]);
    }

    #[test]
    fn full_servers_are_skipped() {
        let lb = Lb::new(
            Algo::RoundRobin,
            HashType::MapBased,
            false,
            servers(&[(1, false, 1), (1, false, 0)]),
        );
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(0));
        for _ in 0..5 {
            assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(1));
        }
    }
}
