//! `balance random[(draws)]`: draw `draws` servers at random (weighted: from the schedule,
//! where each server appears in proportion to its weight) and keep the least loaded, the
//! "power of two choices" HAProxy uses by default.

use super::{Pick, take};
use crate::cluster::ServerState;
use std::sync::Arc;

pub fn pick(
    schedule: &[u16],
    draws: u32,
    servers: &[Arc<ServerState>],
    avoid: Option<usize>,
) -> Pick {
    if schedule.is_empty() || schedule.iter().all(|&i| Some(i as usize) == avoid) {
        return Pick::NoServer;
    }
    for _ in 0..4 {
        let mut best: Option<(usize, u64)> = None;
        let mut tries = 0;
        let mut drawn = 0;
        while drawn < draws.max(1) && tries < draws.max(1) * 8 {
            tries += 1;
            let idx = schedule[fastrand::usize(..schedule.len())] as usize;
            if Some(idx) == avoid {
                continue;
            }
            drawn += 1;
            let s = &servers[idx];
            if s.maxconn() != 0 && s.cur_conns() >= s.maxconn() {
                continue;
            }
            let load = s.cur_conns() as u64 * 1000 / s.weight().max(1) as u64;
            if best.is_none_or(|(_, l)| load < l) {
                best = Some((idx, load));
            }
        }
        if let Some((idx, _)) = best
            && let Some(p) = take(servers, idx)
        {
            return p;
        }
    }
    // Every draw was full: look for any free slot before queueing.
    for &i in schedule {
        let i = i as usize;
        if Some(i) != avoid
            && let Some(p) = take(servers, i)
        {
            return p;
        }
    }
    Pick::Full
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn weighted_spread() {
        let lb = Lb::new(
            Algo::Random { draws: 1 },
            HashType::MapBased,
            false,
            servers(&[(1, false, 0), (3, false, 0)]),
        );
        let d = distribution(&lb, 8000, "1.1.1.1");
        let ratio = d[1] as f64 / d[0] as f64;
        assert!((2.6..3.4).contains(&ratio), "{d:?}");
    }

    #[test]
    fn two_choices_prefer_the_idle_server() {
        let lb = Lb::new(
            Algo::Random { draws: 2 },
            HashType::MapBased,
            false,
            servers(&[(1, false, 0); 2]),
        );
        // Load server 0 heavily.
        for _ in 0..50 {
            assert!(lb.servers[0].try_acquire());
        }
        // Two draws with replacement (as HAProxy draws) miss the idle server only when both
        // land on the loaded one: 3/4 of the picks go to it, against 1/2 with one draw.
        let mut to_idle = 0;
        for _ in 0..2000 {
            if let Pick::Server(s) = lb.pick(&ctx("1.1.1.1")) {
                if s == 1 {
                    to_idle += 1;
                }
                lb.release(s);
            }
        }
        // Expected 1500, standard deviation about 19.
        assert!((1350..1650).contains(&to_idle), "{to_idle}");
    }
}
