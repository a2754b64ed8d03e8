//! What follows a server's change of state, beyond its own backend: the servers that
//! `track` it take the same state (and announce it, "via" the tracked server), and a server
//! with `slowstart` that came back up ramps its weight in steps (HAProxy's warm-up task:
//! every max(1 s, slowstart / 20)), rebuilding its backend's tables at each step.

use super::shard::{ShardCtx, announce};
use crate::cluster::BackendRt;
use crate::cluster::machine::Transition;
use std::sync::Arc;
use std::time::Duration;

pub fn after_change(shard: &ShardCtx, be: &BackendRt, srv: usize, t: Transition) {
    let s = &be.lb.servers[srv];
    if t == Transition::WentUp && s.starting() {
        warm_up(shard, be.proxy, srv);
    }
    let via = format!("via {}/{}", be.name, s.name);
    let cfg = &shard.shared.cfg;
    for (pi, px) in cfg.proxies.iter().enumerate() {
        for (si, f) in px.servers.iter().enumerate() {
            if f.params.track_ref != Some((be.proxy, srv)) {
                continue;
            }
            let Some(fb) = &shard.shared.backends[pi] else {
                continue;
            };
            let follower = &fb.lb.servers[si];
            let up = t == Transition::WentUp;
            if follower.health().up == up {
                continue;
            }
            follower.force_health(up, false);
            if up && let Some(d) = &follower.dynamic {
                d.start(crate::cluster::dynamic::unix_ms());
            }
            announce(shard, fb, si, t, &via);
        }
    }
}

/// Rebuilds the backend's tables as the server's weight ramps, until the slow start ends.
fn warm_up(shard: &ShardCtx, be: usize, srv: usize) {
    let shared = shard.shared.clone();
    glommio::spawn_local(async move {
        let Some(b): Option<&Arc<BackendRt>> = shared.backends[be].as_ref() else {
            return;
        };
        let s = &b.lb.servers[srv];
        let ss = s.dynamic.as_ref().map_or(0, |d| d.slowstart_ms);
        let step = Duration::from_millis((ss / 20).max(1000));
        loop {
            let more = s.warmup_step();
            b.lb.rebuild();
            b.queue.wake_all();
            if !more {
                return;
            }
            let stop = futures_lite::future::or(
                async {
                    glommio::timer::sleep(step).await;
                    false
                },
                async {
                    shared.control.wait_stop().await;
                    true
                },
            )
            .await;
            if stop {
                return;
            }
        }
    })
    .detach();
}
