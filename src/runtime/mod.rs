//! The process: limits, CPU plan, listeners, shards, signals.
//!
//! Shared between shards (all read-only or atomic): the configuration snapshot, one
//! [`BackendRt`] per backend (its balancer over the servers' atomic state and its queue), one
//! [`FrontendRt`] per frontend (its connection slots), the global connection slots and the
//! stop control. Everything else (connections, pipes, counters, log sockets) is per shard.

pub mod control;
pub mod cpus;
pub mod limits;
pub mod listeners;
pub mod shard;

use crate::balance::Lb;
use crate::config::{Config, LogTarget, Mode, Proxy};
use crate::health::ServerState;
use control::{Control, Slots};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Command-line settings that affect running.
#[derive(Default, Debug, Clone)]
pub struct RunOptions {
    pub shards: Option<usize>,
    pub cpus: Option<Vec<usize>>,
    pub pidfile: Option<PathBuf>,
    /// `-sf`: old processes told to finish their connections once we listen.
    pub soft_stop_pids: Vec<i32>,
    /// `-st`: old processes told to stop at once.
    pub hard_stop_pids: Vec<i32>,
}

/// A frontend (or the frontend side of a listen) as the shards use it.
pub struct FrontendRt {
    pub proxy: usize,
    pub name: String,
    pub mode: Mode,
    pub slots: Slots,
    /// The backend new connections go to (use_backend without condition, else
    /// default_backend; a listen uses itself).
    pub backend: Option<usize>,
    pub client_timeout: Option<Duration>,
    pub client_fin_timeout: Option<Duration>,
    pub clitcpka: bool,
    pub tcplog: bool,
    pub dontlognull: bool,
    pub log_targets: Vec<LogTarget>,
}

/// A backend as the shards use it.
pub struct BackendRt {
    pub proxy: usize,
    pub name: String,
    pub lb: Lb,
    /// Connections waiting for a server slot (all servers at maxconn).
    pub queue: Slots,
    pub connect_timeout: Option<Duration>,
    pub server_timeout: Option<Duration>,
    pub server_fin_timeout: Option<Duration>,
    pub tunnel_timeout: Option<Duration>,
    pub queue_timeout: Option<Duration>,
    pub retries: u32,
    pub redispatch: Option<i32>,
    pub srvtcpka: bool,
}

pub struct Shared {
    pub cfg: Arc<Config>,
    /// Indexed like `cfg.proxies`.
    pub frontends: Vec<Option<Arc<FrontendRt>>>,
    pub backends: Vec<Option<Arc<BackendRt>>>,
    /// Global `maxconn`.
    pub slots: Slots,
    pub control: Control,
    pub pipe_size: usize,
    /// Pipes a shard may hold at once (global maxpipes split over shards).
    pub pipes_per_shard: usize,
}

impl Shared {
    pub fn new(cfg: Config, maxconn: u32, shards: usize) -> Shared {
        let cfg = Arc::new(cfg);
        let mut frontends = Vec::new();
        let mut backends = Vec::new();
        for (i, px) in cfg.proxies.iter().enumerate() {
            frontends.push(
                px.kind
                    .is_frontend()
                    .then(|| Arc::new(frontend_rt(&cfg, i, px, maxconn))),
            );
            backends.push(px.kind.is_backend().then(|| Arc::new(backend_rt(i, px))));
        }
        // HAProxy's default maxpipes is maxconn/4; each spliced direction in flight needs one.
        let maxpipes = cfg
            .global
            .maxpipes
            .map(|m| m as usize)
            .unwrap_or(maxconn as usize / 2)
            .max(shards * 4);
        Shared {
            frontends,
            backends,
            slots: Slots::new(maxconn),
            control: Control::default(),
            pipe_size: if cfg.global.pipesize > 0 {
                cfg.global.pipesize
            } else {
                256 * 1024
            },
            pipes_per_shard: maxpipes / shards.max(1),
            cfg,
        }
    }
}

fn frontend_rt(cfg: &Config, i: usize, px: &Proxy, global_maxconn: u32) -> FrontendRt {
    let backend = if px.kind.is_backend() {
        Some(i)
    } else {
        px.use_backends
            .first()
            .or(px.default_backend.as_ref())
            .map(|r| r.index)
    };
    let mut log_targets = px.log.targets.clone();
    if px.log.use_global {
        log_targets.extend(cfg.global.logs.iter().cloned());
    }
    FrontendRt {
        proxy: i,
        name: px.name.clone(),
        mode: px.mode,
        slots: Slots::new(px.maxconn.unwrap_or(global_maxconn)),
        backend,
        client_timeout: px.timeouts.client,
        client_fin_timeout: px.timeouts.client_fin,
        clitcpka: px.options.clitcpka,
        tcplog: px.options.tcplog,
        dontlognull: px.options.dontlognull,
        log_targets,
    }
}

fn backend_rt(i: usize, px: &Proxy) -> BackendRt {
    let servers: Vec<Arc<ServerState>> = px
        .servers
        .iter()
        .enumerate()
        .map(|(n, s)| Arc::new(ServerState::new(&px.name, s.id.unwrap_or(n as u32 + 1), s)))
        .collect();
    BackendRt {
        proxy: i,
        name: px.name.clone(),
        lb: Lb::new(
            px.balance.algo,
            px.balance.hash_type,
            px.options.allbackups,
            servers,
        ),
        queue: Slots::new(0),
        connect_timeout: px.timeouts.connect,
        server_timeout: px.timeouts.server,
        server_fin_timeout: px.timeouts.server_fin,
        tunnel_timeout: px.timeouts.tunnel,
        // HAProxy: without 'timeout queue', the connect timeout applies.
        queue_timeout: px.timeouts.queue.or(px.timeouts.connect),
        retries: px.retries,
        redispatch: px.options.redispatch,
        srvtcpka: px.options.srvtcpka,
    }
}

/// Default grace period when `hard-stop-after` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Runs until stopped. Returns the process exit code.
pub fn run(cfg: Config, opts: RunOptions) -> i32 {
    match run_inner(cfg, opts) {
        Ok(code) => code,
        Err(msg) => {
            log::error!("{msg}");
            1
        }
    }
}

fn run_inner(cfg: Config, opts: RunOptions) -> Result<i32, String> {
    let nofile = limits::raise_nofile(cfg.global.ulimit_n)?;
    let memlock = limits::check_memlock()?;
    // Must run before any executor exists: inside a pinned thread it sees one CPU.
    let allowed: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.iter().map(|c| c.id).collect())
        .unwrap_or_default();
    let plan = cpus::plan(
        &allowed,
        opts.shards,
        opts.cpus.as_deref(),
        cfg.global.nbthread.as_ref().map(|n| n.0),
        &cfg.global.cpu_map,
    )?;
    for w in &plan.warnings {
        log::warn!("{w}");
    }
    let nshards = plan.cpus.len();
    let maxconn = cfg
        .global
        .maxconn
        .unwrap_or_else(|| limits::default_maxconn(nofile));
    let grace = cfg.global.hard_stop_after.unwrap_or(DEFAULT_GRACE);
    let listeners = listeners::bind_all(&cfg, nshards, maxconn)?;
    let uid = match &cfg.global.user {
        Some((u, loc)) => {
            Some(crate::sys::user_id(u).ok_or(format!("{loc}: cannot find user id for '{u}'"))?)
        }
        None => cfg.global.uid,
    };
    let gid = match &cfg.global.group {
        Some((g, loc)) => {
            Some(crate::sys::group_id(g).ok_or(format!("{loc}: cannot find group id for '{g}'"))?)
        }
        None => cfg.global.gid,
    };
    let pidfile = opts.pidfile.clone().or(cfg.global.pidfile.clone());
    if let Some((dir, loc)) = &cfg.global.chroot {
        crate::sys::chroot(dir)
            .map_err(|e| format!("{loc}: cannot chroot to '{}': {e}", dir.display()))?;
    }
    crate::sys::set_ids(uid, gid)
        .map_err(|e| format!("cannot drop privileges (user/group): {e}"))?;

    let shared = Arc::new(Shared::new(cfg, maxconn, nshards));
    let io_memory = ((memlock / 4) / nshards as u64).clamp(64 << 10, 1 << 20) as usize;
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<usize, String>>();
    let mut handles = Vec::new();
    for (i, (cpu, ls)) in plan.cpus.iter().zip(listeners).enumerate() {
        let shared = shared.clone();
        let tx = started_tx.clone();
        let h = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(*cpu))
            .name("corelb-shard")
            .io_memory(io_memory)
            .ring_depth(512)
            .spawn(move || shard::run(shared, i, ls, tx))
            .map_err(|e| format!("cannot start shard {i} on CPU {cpu}: {e}"))?;
        handles.push(h);
    }
    drop(started_tx);
    for _ in 0..nshards {
        match started_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                shared.control.stop(Duration::ZERO);
                return Err(e);
            }
            Err(_) => {
                shared.control.stop(Duration::ZERO);
                // A shard thread died before reporting: its executor could not start.
                let mut msg = String::from("a shard could not start");
                for h in handles {
                    if let Err(e) = h.join() {
                        msg = format!("a shard could not start: {e}");
                    }
                }
                return Err(msg);
            }
        }
    }
    if let Some(p) = &pidfile
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        log::warn!("cannot write pid file '{}': {e}", p.display());
    }
    for &pid in &opts.soft_stop_pids {
        if let Err(e) = crate::sys::kill(pid, libc::SIGUSR1) {
            log::warn!("cannot signal old process {pid} to finish: {e}");
        }
    }
    for &pid in &opts.hard_stop_pids {
        if let Err(e) = crate::sys::kill(pid, libc::SIGTERM) {
            log::warn!("cannot signal old process {pid} to stop: {e}");
        }
    }
    log::info!(
        "corelb {} started: {nshards} shard(s) on CPU(s) {}, maxconn {maxconn}",
        env!("CARGO_PKG_VERSION"),
        cpus::format_list(&plan.cpus)
    );
    let code = wait_signals(&shared, &handles, grace);
    let mut failed = false;
    for h in handles {
        if let Err(e) = h.join() {
            log::error!("shard ended with an error: {e}");
            failed = true;
        }
    }
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(if failed { 1 } else { code })
}

/// Waits for SIGTERM/SIGINT/SIGUSR1 (stop accepting, drain up to `grace`) while the shards
/// run; a second signal during the drain closes everything at once.
fn wait_signals(
    shared: &Shared,
    handles: &[glommio::ExecutorJoinHandle<()>],
    grace: Duration,
) -> i32 {
    use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGQUIT])
    {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            shared.control.stop(Duration::ZERO);
            return 1;
        }
    };
    let mut stopping = false;
    loop {
        for sig in signals.pending() {
            if stopping {
                log::warn!("second stop signal: closing every connection now");
                shared.control.stop(Duration::ZERO);
            } else {
                log::info!(
                    "{} received: no longer accepting; finishing open connections (up to {:?})",
                    match sig {
                        SIGINT => "SIGINT",
                        SIGUSR1 => "SIGUSR1",
                        SIGQUIT => "SIGQUIT",
                        _ => "SIGTERM",
                    },
                    grace
                );
                stopping = true;
                shared.control.stop(grace);
            }
        }
        if handles.iter().all(is_finished) {
            return 0;
        }
        if !stopping && handles.iter().any(is_finished) {
            log::error!("a shard stopped unexpectedly; stopping the others");
            shared.control.stop(Duration::ZERO);
            stopping = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_finished(h: &glommio::ExecutorJoinHandle<()>) -> bool {
    // glommio's join handle has no is_finished: each shard records its end itself.
    shard::finished(h.thread().id())
}
