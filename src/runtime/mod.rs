//! The process: limits, CPU plan, listeners, shards and their loops (accept, probers,
//! purge), signals, reloads and the runtime API (`cli`).
//!
//! The top layer: it builds each generation's shared state (`cluster::Shared`) and each
//! shard's context (`net::shard::ShardCtx`), accepts and hands connections to
//! `proxy::conn::handle`, starts `health` probers. Nothing imports it but `main.rs`.

pub mod cli;
pub mod cpus;
pub mod limits;
pub mod listeners;
pub mod shard;

use crate::cluster::Shared;
use crate::config::Config;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Command-line settings that affect running.
#[derive(Default, Debug, Clone)]
pub struct RunOptions {
    /// The configuration files, re-read on reload.
    pub files: Vec<PathBuf>,
    pub shards: Option<usize>,
    pub cpus: Option<Vec<usize>>,
    pub pidfile: Option<PathBuf>,
    /// `-sf`: old processes told to finish their connections once we listen.
    pub soft_stop_pids: Vec<i32>,
    /// `-st`: old processes told to stop at once.
    pub hard_stop_pids: Vec<i32>,
    /// `-x`: the stats socket of the process to take the listening sockets from.
    pub takeover: Option<PathBuf>,
}

/// Default grace period when `hard-stop-after` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Runs until stopped. Returns the process exit code.
pub fn run(cfg: Config, opts: RunOptions) -> i32 {
    // Before any shard exists, so the writer threads are not pinned to a shard's CPU.
    crate::log::stdio::start();
    let code = match run_inner(cfg, opts) {
        Ok(code) => code,
        Err(msg) => {
            log::error!("{msg}");
            1
        }
    };
    crate::log::stdio::finish(Duration::from_secs(2));
    code
}

/// One configuration generation: its shared state, its listening sockets (kept by the main
/// thread too, so that a reload hands the very same sockets to the next generation and no
/// queued connection is lost), and its shard threads.
struct Generation {
    id: u64,
    shared: Arc<Shared>,
    sockets: listeners::Registry,
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
    grace: Duration,
}

impl Generation {
    /// Stops accepting and drains for up to `grace`. The main thread's copies of the
    /// listening sockets are closed too, so that a socket no longer listens once its shard
    /// lets go of it (a reload hands the reused ones to the next generation beforehand).
    fn stop(&mut self, grace: Duration) {
        self.sockets = listeners::Registry::default();
        self.shared.control.stop(grace);
    }

    /// Stops a generation replaced by a reload; see [`Control::hand_over`].
    fn hand_over(&mut self, grace: Duration) {
        self.sockets = listeners::Registry::default();
        self.shared.control.hand_over(grace);
    }

    fn finished(&self) -> bool {
        self.handles.iter().all(is_finished)
    }

    /// Joins the shard threads; true if one failed.
    fn join(self) -> bool {
        let mut failed = false;
        for h in self.handles {
            if let Err(e) = h.join() {
                log::error!("generation {}: shard ended with an error: {e}", self.id);
                failed = true;
            }
        }
        failed
    }
}

/// What stays the same for every generation of the process.
struct Host {
    opts: RunOptions,
    allowed: Vec<usize>,
    memlock: u64,
    nofile: u64,
}

fn start_generation(
    host: &Host,
    cfg: Config,
    id: u64,
    previous: Option<&Generation>,
    inherited: Option<&listeners::Registry>,
) -> Result<Generation, String> {
    let plan = cpus::plan(
        &host.allowed,
        host.opts.shards,
        host.opts.cpus.as_deref(),
        cfg.global.nbthread.as_ref().map(|n| n.0),
        &cfg.global.cpu_map,
    )?;
    for w in &plan.warnings {
        log::warn!("{w}");
    }
    // Before any shard makes its log senders: `log ring@NAME` finds its ring.
    crate::log::ring::configure(&cfg.rings);
    // `log-forward` sections: bound once, by the first generation.
    if previous.is_none() {
        crate::log::forward::start(&cfg.log_forwards);
    }
    let nshards = plan.cpus.len();
    let maxconn = cfg
        .global
        .maxconn
        .unwrap_or_else(|| limits::default_maxconn(host.nofile, &cfg, nshards));
    let grace = cfg.global.hard_stop_after.unwrap_or(DEFAULT_GRACE);
    let (per_shard, sockets) = listeners::bind_all(
        &cfg,
        nshards,
        maxconn,
        previous.map(|g| &g.sockets).or(inherited),
    )?;
    let shared = Arc::new(Shared::new(
        cfg,
        maxconn,
        nshards,
        previous.map(|g| &*g.shared),
    ));
    // Saved admin states and weights apply before the first connection is accepted.
    for m in cli::state_file::load(&shared) {
        log::warn!("{m}");
    }
    start_resolver(&shared);
    let io_memory = ((host.memlock / 4) / nshards as u64).clamp(64 << 10, 1 << 20) as usize;
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<usize, String>>();
    let mut handles = Vec::new();
    for (i, (cpu, ls)) in plan.cpus.iter().zip(per_shard).enumerate() {
        let for_shard = shared.clone();
        let tx = started_tx.clone();
        let h = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(*cpu))
            .name("corelb-shard")
            .io_memory(io_memory)
            .ring_depth(512)
            .spawn(move || {
                // The `thread` fetch: HAProxy's 0-based thread number.
                crate::acl::set_thread(i as u32);
                shard::run(for_shard, i, ls, tx)
            })
            .map_err(|e| format!("cannot start shard {i} on CPU {cpu}: {e}"));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                shared.control.stop(Duration::ZERO);
                return Err(e);
            }
        }
    }
    drop(started_tx);
    for _ in 0..nshards {
        let failure = match started_rx.recv() {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e,
            // A shard thread died before reporting: its executor could not start.
            Err(_) => "a shard could not start".to_string(),
        };
        shared.control.stop(Duration::ZERO);
        let mut msg = failure;
        for h in handles {
            if let Err(e) = h.join() {
                msg = format!("a shard could not start: {e}");
            }
        }
        return Err(msg);
    }
    log::info!(
        "corelb {} generation {id} started: {nshards} shard(s) on CPU(s) {}, maxconn {maxconn}",
        env!("CARGO_PKG_VERSION"),
        cpus::format_list(&plan.cpus)
    );
    Ok(Generation {
        id,
        shared,
        sockets,
        handles,
        grace,
    })
}

fn run_inner(cfg: Config, opts: RunOptions) -> Result<i32, String> {
    let nofile = limits::raise_nofile(cfg.global.ulimit_n)?;
    let memlock = limits::check_memlock()?;
    // Must run before any executor exists: inside a pinned thread it sees one CPU.
    let allowed: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.iter().map(|c| c.id).collect())
        .unwrap_or_default();
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
    // `-x`: the listening sockets of the process we replace, taken over as a reload takes
    // over the previous generation's; fetched before our own stats sockets take the path.
    let inherited = match &opts.takeover {
        Some(path) => {
            let fds = cli::getsocks::fetch(path)?;
            log::info!(
                "-x: took over {} listening socket(s) from {}",
                fds.len(),
                path.display()
            );
            Some(listeners::Registry::inherited(fds))
        }
        None => None,
    };
    let (cli_ctx, cli_rx) = cli::Ctx::new(nofile);
    let cli_cfg = cfg.global.cli.clone();
    // Bound before privileges are dropped, like the listeners.
    let cli_sockets = cli::bind_all(&cli_cfg)?;
    let chroot = cfg.global.chroot.clone();
    let dumpable = cfg.global.set_dumpable;
    if dumpable {
        crate::sys::raise_dump_limits();
    }
    let pidfile = opts.pidfile.clone().or(cfg.global.pidfile.clone());
    let host = Host {
        opts,
        allowed,
        memlock,
        nofile,
    };
    // Signals are caught from here on, so that a stop during startup is not lost.
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGQUIT, SIGUSR2, SIGHUP])
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    // Listeners are bound before privileges are dropped (ports below 1024).
    let mut current = start_generation(&host, cfg, 1, None, inherited.as_ref())?;
    // Inherited sockets the new configuration does not use close here.
    drop(inherited);
    cli_ctx.current.store(Some(current.shared.clone()));
    cli::serve(cli_ctx.clone(), cli_sockets, &cli_cfg);
    if let Some((dir, loc)) = &chroot {
        crate::sys::chroot(dir)
            .map_err(|e| format!("{loc}: cannot chroot to '{}': {e}", dir.display()))?;
    }
    crate::sys::set_ids(uid, gid)
        .map_err(|e| format!("cannot drop privileges (user/group): {e}"))?;
    if dumpable && let Err(e) = crate::sys::set_dumpable() {
        log::warn!("set-dumpable: prctl(PR_SET_DUMPABLE): {e}");
    }
    if let Some(p) = &pidfile
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        log::warn!("cannot write pid file '{}': {e}", p.display());
    }
    for &pid in &host.opts.soft_stop_pids {
        if let Err(e) = crate::sys::kill(pid, libc::SIGUSR1) {
            log::warn!("cannot signal old process {pid} to finish: {e}");
        }
    }
    for &pid in &host.opts.hard_stop_pids {
        if let Err(e) = crate::sys::kill(pid, libc::SIGTERM) {
            log::warn!("cannot signal old process {pid} to stop: {e}");
        }
    }

    let mut draining: Vec<Generation> = Vec::new();
    // `_getsocks` handed our listening sockets to another process.
    let mut exported = false;
    let mut failed = false;
    let mut stopping = false;
    // A soft stop announced by the global `grace`: when it begins, and its signal.
    let mut announced: Option<(Instant, i32)> = None;
    loop {
        for sig in signals.pending() {
            match sig {
                SIGUSR2 | SIGHUP if !stopping => {
                    if let Some(next) = reload(&host, &current) {
                        cli_ctx.current.store(Some(next.shared.clone()));
                        let mut old = std::mem::replace(&mut current, next);
                        log::info!(
                            "generation {} stops accepting and drains (up to {:?})",
                            old.id,
                            old.grace
                        );
                        old.hand_over(old.grace);
                        draining.push(old);
                    }
                }
                SIGUSR2 | SIGHUP => {}
                _ if stopping => {
                    log::warn!("second stop signal: closing every connection now");
                    current.stop(Duration::ZERO);
                    for g in &mut draining {
                        g.stop(Duration::ZERO);
                    }
                }
                SIGUSR1 if let Some(g) = current.shared.cfg.global.grace => {
                    // Global `grace`: a soft stop first only announces itself (the
                    // `stopping` fetch), the listeners accept until it has passed.
                    log::info!("SIGUSR1 received: stopping in {g:?} (grace)");
                    stopping = true;
                    current.shared.control.announce_stop();
                    announced = Some((Instant::now() + g, sig));
                }
                _ => {
                    stopping = true;
                    begin_stop(&mut current, sig, exported);
                }
            }
        }
        if let Some((at, sig)) = announced
            && Instant::now() >= at
        {
            announced = None;
            begin_stop(&mut current, sig, exported);
        }
        while let Ok((req, reply)) = cli_rx.try_recv() {
            exported |= matches!(req, cli::MainReq::GetSocks);
            let _ = reply.send(main_request(&current, req));
        }
        // Reap drained generations.
        let (done, still): (Vec<Generation>, Vec<Generation>) =
            draining.drain(..).partition(Generation::finished);
        draining = still;
        for g in done {
            log::info!("generation {} finished", g.id);
            failed |= g.join();
        }
        if current.finished() {
            if !stopping {
                log::error!("a shard stopped unexpectedly; stopping");
                for g in &mut draining {
                    g.stop(Duration::ZERO);
                }
                failed = true;
                stopping = true;
            }
            if draining.is_empty() {
                break;
            }
        } else if !stopping && current.handles.iter().any(is_finished) {
            log::error!("a shard stopped unexpectedly; stopping the others");
            current.stop(Duration::ZERO);
            failed = true;
            stopping = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    failed |= current.join();
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(if failed { 1 } else { 0 })
}

/// A stop signal: the current generation stops accepting and drains.
fn begin_stop(current: &mut Generation, sig: i32, exported: bool) {
    use signal_hook::consts::{SIGINT, SIGQUIT, SIGUSR1};
    log::info!(
        "{} received: no longer accepting; finishing open connections (up to {:?})",
        match sig {
            SIGINT => "SIGINT",
            SIGUSR1 => "SIGUSR1",
            SIGQUIT => "SIGQUIT",
            _ => "SIGTERM",
        },
        current.grace
    );
    let grace = current.grace;
    if exported && sig == SIGUSR1 {
        // A new process holds our listening sockets (`-x`): they stay open, so hand over
        // as a reload does instead of cancelling the pending accepts.
        current.hand_over(grace);
    } else {
        current.stop(grace);
    }
}

/// Carries out what the runtime API asked of the main thread.
fn main_request(current: &Generation, req: cli::MainReq) -> cli::MainReply {
    match req {
        cli::MainReq::GetSocks => current
            .sockets
            .dup_all()
            .map_err(|e| format!("Cannot duplicate the listening sockets: {e}.")),
        cli::MainReq::Frontend { proxy, enable } => match current.sockets.pause(proxy, enable) {
            Ok(_) => {
                let name = &current.shared.cfg.proxies[proxy].name;
                log::warn!(
                    "Proxy {name} {} by the runtime API.",
                    if enable { "resumed" } else { "paused" }
                );
                Ok(Vec::new())
            }
            Err(e) => Err(format!(
                "Failed to {} the frontend: {e}.",
                if enable { "resume" } else { "pause" }
            )),
        },
    }
}

/// Reads the configuration again and starts a new generation beside `current`. On any
/// error the current generation keeps running and the errors are logged with FILE:LINE.
fn reload(host: &Host, current: &Generation) -> Option<Generation> {
    log::info!(
        "reload requested: reading {}",
        host.opts
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (cfg, diags) = crate::config::load(&host.opts.files);
    for d in &diags.list {
        match d.level {
            crate::config::Level::Error => log::error!("{d}"),
            crate::config::Level::Warning => log::warn!("{d}"),
            crate::config::Level::Notice => log::info!("{d}"),
        }
    }
    let Some(cfg) = cfg else {
        log::error!(
            "reload aborted: the configuration has errors; generation {} keeps running",
            current.id
        );
        return None;
    };
    let (was, now) = (&current.shared.cfg.global.cli, &cfg.global.cli);
    let addrs = |c: &crate::config::cli::CliGlobal| -> Vec<_> {
        c.sockets
            .iter()
            .map(|s| (s.addr.clone(), s.level, s.expose_fd))
            .collect()
    };
    if addrs(was) != addrs(now) || was.timeout != now.timeout || was.maxconn != now.maxconn {
        log::warn!(
            "the stats sockets are bound once per process: their changes take effect at the next start or upgrade (-x)"
        );
    }
    match start_generation(host, cfg, current.id + 1, Some(current), None) {
        Ok(g) => Some(g),
        Err(e) => {
            log::error!(
                "reload aborted: {e}; generation {} keeps running",
                current.id
            );
            None
        }
    }
}

fn is_finished(h: &glommio::ExecutorJoinHandle<()>) -> bool {
    // glommio's join handle has no is_finished: each shard records its end itself.
    shard::finished(h.thread().id())
}
/// Starts the generation's DNS resolver thread when a server follows a name through a
/// `resolvers` section. It ends by itself once the generation stops (or is dropped).
fn start_resolver(shared: &Arc<Shared>) {
    let mut targets = Vec::new();
    for be in shared.backends.iter().flatten() {
        let px = &shared.cfg.proxies[be.proxy];
        for (conf, state) in px.servers.iter().zip(&be.lb.servers) {
            let dns = &conf.params.dns;
            let Some(resolvers) = dns.resolvers_index else {
                continue;
            };
            if conf.addr.text.parse::<std::net::IpAddr>().is_ok() {
                continue;
            }
            targets.push(crate::dns::Target {
                server: state.clone(),
                backend: be.proxy,
                host: conf.addr.text.clone(),
                port: conf.addr.port,
                dns: dns.clone(),
                resolvers,
            });
        }
    }
    let do_resolve = shared.cfg.proxies.iter().any(|p| {
        p.http_request
            .iter()
            .any(|r| matches!(r.action, crate::config::model::HttpAction::DoResolve(_)))
            || p.tcp_request
                .content
                .iter()
                .any(|r| matches!(r.action, crate::config::model::TcpAction::DoResolve(_)))
    });
    let lookups = do_resolve.then(|| shared.dns_lookups.open()).flatten();
    let Some(resolver) = crate::dns::Resolver::new(
        shared.cfg.resolvers.clone(),
        targets,
        shared.dns.clone(),
        lookups,
    ) else {
        return;
    };
    let weak = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new()
        .name("corelb-dns".into())
        .spawn(move || {
            let stop = || weak.upgrade().is_none_or(|sh| sh.control.stopping());
            let changed = |b: usize| {
                if let Some(be) = weak.upgrade().and_then(|sh| sh.backends[b].clone()) {
                    be.lb.rebuild();
                    be.queue.wake_all();
                }
            };
            resolver.run(stop, changed);
        });
    if let Err(e) = spawned {
        log::error!("cannot start the DNS resolver thread: {e}");
    }
}
