//! `show info`: HAProxy's `Name: value` lines, in HAProxy 2.6's order, so that scripts
//! reading them by name or by position work. Connections, requests, rates and bytes are the
//! shards' counters summed ([`crate::stats::take`]); fields corelb does not keep (memory
//! pools, process-wide maxima of rates, SSL and compression rates, peers, resolvers) are 0,
//! as HAProxy prints unused ones.

use super::Ctx;
use crate::cluster::Shared;
use std::fmt::Write;

pub fn show_info(ctx: &Ctx, sh: &Shared) -> String {
    let up = ctx.started_at.elapsed().as_secs();
    let version = env!("CARGO_PKG_VERSION");
    let listeners: usize = sh
        .cfg
        .frontends()
        .filter(|(_, p)| !p.disabled)
        .map(|(_, p)| p.binds.len())
        .sum();
    let cur = sh.slots.current();
    let info = crate::stats::take(sh).info;
    let stopping = sh.control.soft_stopping() as u8;
    let fields: Vec<(&str, String)> = vec![
        ("Name", "corelb".into()),
        ("Version", version.into()),
        (
            "Release_date",
            option_env!("CORELB_RELEASE_DATE").unwrap_or("-").into(),
        ),
        ("Nbthread", sh.shards.to_string()),
        ("Nbproc", "1".into()),
        ("Process_num", "1".into()),
        ("Pid", std::process::id().to_string()),
        (
            "Uptime",
            format!(
                "{}d {}h{:02}m{:02}s",
                up / 86400,
                up / 3600 % 24,
                up / 60 % 60,
                up % 60
            ),
        ),
        ("Uptime_sec", up.to_string()),
        ("Memmax_MB", "0".into()),
        ("PoolAlloc_MB", "0".into()),
        ("PoolUsed_MB", "0".into()),
        ("PoolFailed", "0".into()),
        ("Ulimit-n", ctx.nofile.to_string()),
        ("Maxsock", ctx.nofile.to_string()),
        ("Maxconn", sh.slots.max().to_string()),
        ("Hard_maxconn", sh.hard_maxconn.to_string()),
        ("CurrConns", cur.to_string()),
        ("CumConns", info.cum_conns.to_string()),
        ("CumReq", info.cum_req.to_string()),
        ("MaxSslConns", sh.ssl_slots.max().to_string()),
        ("CurrSslConns", sh.ssl_slots.current().to_string()),
        ("CumSslConns", info.ssl_conns.to_string()),
        ("Maxpipes", (sh.pipes_per_shard * sh.shards).to_string()),
        ("PipesUsed", "0".into()),
        ("PipesFree", "0".into()),
        ("ConnRate", info.conn_rate.to_string()),
        ("ConnRateLimit", limit(&sh.conn_rate)),
        ("MaxConnRate", "0".into()),
        // A session is an accepted connection: the same rate.
        ("SessRate", info.conn_rate.to_string()),
        ("SessRateLimit", limit(&sh.sess_rate)),
        ("MaxSessRate", "0".into()),
        ("SslRate", "0".into()),
        ("SslRateLimit", limit(&sh.ssl_rate)),
        ("MaxSslRate", "0".into()),
        ("SslFrontendKeyRate", "0".into()),
        ("SslFrontendMaxKeyRate", "0".into()),
        ("SslFrontendSessionReuse_pct", "0".into()),
        ("SslBackendKeyRate", "0".into()),
        ("SslBackendMaxKeyRate", "0".into()),
        ("SslCacheLookups", "0".into()),
        ("SslCacheMisses", "0".into()),
        ("CompressBpsIn", "0".into()),
        ("CompressBpsOut", "0".into()),
        ("CompressBpsRateLim", "0".into()),
        ("Tasks", "0".into()),
        ("Run_queue", "0".into()),
        ("Idle_pct", idle_pct(up, sh.shards).to_string()),
        ("node", sh.node.clone()),
        (
            "description",
            sh.cfg.global.cli.description.clone().unwrap_or_default(),
        ),
        ("Stopping", stopping.to_string()),
        ("Jobs", (cur as usize + listeners).to_string()),
        ("Unstoppable Jobs", "0".into()),
        ("Listeners", listeners.to_string()),
        ("ActivePeers", "0".into()),
        ("ConnectedPeers", "0".into()),
        ("DroppedLogs", info.dropped_logs.to_string()),
        ("BusyPolling", "0".into()),
        ("FailedResolutions", "0".into()),
        ("TotalBytesOut", info.bytes_out.to_string()),
        ("TotalSplicdedBytesOut", info.spliced_bytes_out.to_string()),
        ("BytesOutRate", "0".into()),
        ("DebugCommandsIssued", "0".into()),
        ("CumRecvLogs", "0".into()),
        ("Build info", version.into()),
        ("Memmax_bytes", "0".into()),
        ("PoolAlloc_bytes", "0".into()),
        ("PoolUsed_bytes", "0".into()),
        ("Start_time_sec", ctx.started_unix.to_string()),
        ("Tainted", "0".into()),
    ];
    let mut s = String::new();
    for (k, v) in fields {
        let _ = writeln!(s, "{k}: {v}");
    }
    s
}

/// The share of the shards' time not spent running since the start, from the process's CPU
/// time (/proc/self/stat, in USER_HZ = 100 ticks per second on Linux).
pub(crate) fn idle_pct(uptime_secs: u64, shards: usize) -> u64 {
    let busy_ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|st| {
            let f: Vec<&str> = st.rsplit(')').next()?.split_whitespace().collect();
            // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    let total = uptime_secs.max(1) * 100 * shards.max(1) as u64;
    100 - (busy_ticks * 100 / total).min(100)
}

/// A configured per-second limit as `show info` says it (0: none).
fn limit(r: &Option<crate::cluster::rate::RateLimit>) -> String {
    r.as_ref().map_or(0, |r| r.limit()).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn idle_pct_counts_this_process_cpu_time() {
        // Burn some CPU time, then: within 0..=100, and below 100 over a 1 s "uptime".
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let idle = super::idle_pct(1, 1);
        assert!(idle < 100, "{idle}");
    }
}
