//! Resource limits checked before any shard starts: locked memory for glommio's io_uring
//! rings (a clear message instead of a panic) and file descriptors (raised to the hard
//! limit, or to `ulimit-n`).

use crate::sys;

/// glommio refuses to create a reactor below this RLIMIT_MEMLOCK.
pub const MIN_MEMLOCK: u64 = 512 * 1024;

/// Checks RLIMIT_MEMLOCK, raising the soft limit towards the hard one when that helps.
/// Returns the effective soft limit.
pub fn check_memlock() -> Result<u64, String> {
    let (soft, hard) = sys::getrlimit(sys::RLIMIT_MEMLOCK)
        .map_err(|e| format!("cannot read RLIMIT_MEMLOCK: {e}"))?;
    if soft >= MIN_MEMLOCK {
        return Ok(soft);
    }
    if hard >= MIN_MEMLOCK && sys::setrlimit(sys::RLIMIT_MEMLOCK, hard, hard).is_ok() {
        return Ok(hard);
    }
    Err(format!(
        "locked memory limit too low: RLIMIT_MEMLOCK is {} KiB, and corelb's io_uring shards need at least {} KiB; raise it with 'ulimit -l 65536' before starting corelb, or 'LimitMEMLOCK=64M' in its systemd unit",
        soft / 1024,
        MIN_MEMLOCK / 1024
    ))
}

/// Raises RLIMIT_NOFILE: to `want` when given (as HAProxy's `ulimit-n`), else the soft limit
/// to the hard one. Returns the resulting soft limit.
pub fn raise_nofile(want: Option<u64>) -> Result<u64, String> {
    let (soft, hard) = sys::getrlimit(sys::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    match want {
        Some(w) => {
            let new_hard = hard.max(w);
            sys::setrlimit(sys::RLIMIT_NOFILE, w, new_hard).map_err(|e| {
                format!("cannot set the file descriptor limit to {w} (ulimit-n): {e}; the hard limit is {hard}")
            })?;
            Ok(w)
        }
        None => {
            if soft < hard {
                let _ = sys::setrlimit(sys::RLIMIT_NOFILE, hard, hard);
            }
            Ok(sys::getrlimit(sys::RLIMIT_NOFILE)
                .map(|r| r.0)
                .unwrap_or(soft))
        }
    }
}

/// The default global `maxconn` when the configuration sets none, as HAProxy 2.6 computes it
/// (`compute_ideal_maxconn`): the descriptors left once the fixed ones are counted
/// (`reserved_fds`), two per connection, plus the pipes splicing may hold. corelb splices
/// in mode tcp only, so the proxies in mode tcp are HAProxy's spliced ones: a frontend
/// reserves a quarter of its `maxconn` in pipes, a backend a quarter of its `fullconn`;
/// one without either (global `maxconn` is what is being computed) makes the pipes
/// unlimited, half a descriptor per connection. At least 100 (HAProxy's
/// DEFAULT_MAXCONN). Idle server connections are not counted (nor in HAProxy): the
/// pool keeps none past `tune.pool-high-fd-ratio` of the descriptors.
pub fn default_maxconn(nofile: u64, cfg: &crate::config::Config, shards: usize) -> u32 {
    let mut remain = nofile.saturating_sub(reserved_fds(cfg, shards));
    let pipes = spliced_pipes(cfg);
    if let Some(p) = pipes
        && p * 2 < remain
    {
        remain -= p * 2;
    }
    let maxconn = match pipes {
        None => 2 * remain / 5,
        Some(_) => remain / 2,
    };
    maxconn.clamp(100, 1_000_000) as u32
}

/// The descriptors a configuration holds whatever its traffic: the standard ones and a
/// margin (HAProxy reserves 10), each shard's three io_uring rings and its eventfd, a
/// listening socket per `bind` per shard (each shard has its own, SO_REUSEPORT), the stats
/// sockets, and one check connection per checked server.
fn reserved_fds(cfg: &crate::config::Config, shards: usize) -> u64 {
    let binds: usize = cfg.proxies.iter().map(|p| p.binds.len()).sum();
    let checked = (cfg.proxies.iter())
        .flat_map(|p| &p.servers)
        .filter(|s| s.params.check.enabled)
        .count();
    (16 + shards * (4 + binds) + cfg.global.cli.sockets.len() + checked) as u64
}

/// HAProxy's `compute_ideal_maxpipes` before global `maxconn` is known, over the proxies
/// corelb splices for: mode tcp ones, which splice bulk by default as HAProxy's
/// `option splice-auto` does (none with `tune.corelb.pump copy`). `None` when one of them
/// sets no limit.
fn spliced_pipes(cfg: &crate::config::Config) -> Option<u64> {
    if cfg.global.pump == crate::config::PumpKind::Copy {
        return Some(0);
    }
    let (mut fe, mut be) = (0u64, 0u64);
    let tcp = cfg
        .proxies
        .iter()
        .filter(|p| p.kind != crate::config::Kind::Defaults && p.mode == crate::config::Mode::Tcp);
    for p in tcp {
        if p.kind.is_frontend() {
            fe += u64::from(p.maxconn.filter(|&m| m > 0)?);
        }
        if p.kind.is_backend() {
            be += u64::from(p.fullconn.filter(|&m| m > 0)?);
        }
    }
    let pipes = fe.max(be);
    Some(if pipes >= 4 { pipes / 4 } else { pipes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> crate::config::Config {
        let (cfg, d) = crate::config::parser::parse_text(text);
        cfg.unwrap_or_else(|| panic!("{:?}", d.list))
    }

    const BASE: &str = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

    #[test]
    fn default_maxconn_is_haproxys_two_descriptors_per_connection_in_mode_http() {
        let c = cfg(&format!(
            "{BASE}listen l\n  mode http\n  bind :8080\n  server s 127.0.0.1:80 check\n"
        ));
        // 16 + 1 × (4 + 1) + 0 + 1 reserved.
        assert_eq!(default_maxconn(20_000, &c, 1), (20_000 - 22) / 2);
        assert_eq!(default_maxconn(20_000, &c, 2), (20_000 - 27) / 2);
        assert_eq!(default_maxconn(150, &c, 1), 100);
    }

    #[test]
    fn mode_tcp_reserves_pipes_as_haproxy_does_for_spliced_proxies() {
        // No limit on the mode tcp listener: half a descriptor more per connection.
        let c = cfg(&format!(
            "{BASE}listen l\n  mode tcp\n  bind :8080\n  server s 127.0.0.1:80\n"
        ));
        assert_eq!(
            default_maxconn(20_000, &c, 1),
            (2 * (20_000 - 21) / 5) as u32
        );
        // A frontend maxconn and a backend fullconn: a quarter of the larger in pipes.
        let c = cfg(&format!(
            "{BASE}frontend f\n  mode tcp\n  maxconn 4000\n  bind :8080\n  default_backend b\n\
             backend b\n  mode tcp\n  fullconn 2000\n  server s 127.0.0.1:80\n"
        ));
        assert_eq!(default_maxconn(20_000, &c, 1), (20_000 - 21 - 2 * 1000) / 2);
        // Copying only: no pipes.
        let c = cfg(&format!(
            "global\n  tune.corelb.pump copy\n{BASE}listen l\n  mode tcp\n  bind :8080\n  server s 127.0.0.1:80\n"
        ));
        assert_eq!(default_maxconn(20_000, &c, 1), (20_000 - 21) / 2);
    }
}
