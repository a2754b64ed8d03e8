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

/// HAProxy-like default for global maxconn when not configured: what the descriptor limit
/// allows with two sockets and two pipes (four fds) per connection, with a reserve.
pub fn default_maxconn(nofile: u64) -> u32 {
    (nofile.saturating_sub(200) / 6).clamp(100, 1_000_000) as u32
}
