//! `balance leastconn`: the usable server with the fewest live connections relative to its
//! weight. The counts are the servers' shared atomics, so every shard sees the connections of
//! every other; ties rotate with the shared cursor, as HAProxy round-robins among equals.

use super::{Lb, Pick, take};
use crate::cluster::ServerState;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

pub fn pick(
    usable: &[u16],
    cursor: &AtomicUsize,
    servers: &[Arc<ServerState>],
    avoid: Option<usize>,
) -> Pick {
    let n = usable.len();
    if n == 0 {
        return Pick::NoServer;
    }
    let start = Lb::next_cursor(cursor) % n;
    // A few attempts: another shard may take the last slot between scan and reservation.
    for _ in 0..4 {
        let mut best: Option<(usize, u64, u64)> = None; // (idx, conns, weight)
        for k in 0..n {
            let idx = usable[(start + k) % n] as usize;
            if Some(idx) == avoid {
                continue;
            }
            let s = &servers[idx];
            let c = s.cur_conns() as u64;
            if s.maxconn() != 0 && c >= s.maxconn() as u64 {
                continue;
            }
            let w = s.weight().max(1) as u64;
            // c/w < bc/bw without division.
            if best.is_none_or(|(_, bc, bw)| c * bw < bc * w) {
                best = Some((idx, c, w));
            }
        }
        let Some((idx, _, _)) = best else {
            return if usable.iter().any(|&i| Some(i as usize) != avoid) {
                Pick::Full
            } else {
                Pick::NoServer
            };
        };
        if let Some(p) = take(servers, idx) {
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
    fn fewest_connections_win() {
        let lb = Lb::new(
            Algo::LeastConn,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0); 3]),
        );
        // Hold connections open: they spread evenly.
        let mut held = Vec::new();
        for _ in 0..9 {
            match lb.pick(&ctx("1.1.1.1")) {
                Pick::Server(s) => held.push(s),
                p => panic!("{p:?}"),
            }
        }
        let mut counts = [0; 3];
        for &s in &held {
            counts[s] += 1;
        }
        assert_eq!(counts, [3, 3, 3]);
        // Release two on s2: the next two go there.
        lb.release(1);
        lb.release(1);
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(1));
        assert_eq!(lb.pick(&ctx("1.1.1.1")), Pick::Server(1));
    }

    #[test]
    fn weights_scale_counts() {
        let lb = Lb::new(
            Algo::LeastConn,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0), (3, false, 0)]),
        );
        let mut counts = [0; 2];
        for _ in 0..400 {
            if let Pick::Server(s) = lb.pick(&ctx("1.1.1.1")) {
                counts[s] += 1;
            }
        }
        assert_eq!(counts, [100, 300]);
    }

    #[test]
    fn idle_servers_rotate() {
        let lb = Lb::new(
            Algo::LeastConn,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0); 3]),
        );
        assert_eq!(distribution(&lb, 30, "1.1.1.1"), vec![10, 10, 10]);
    }
}
