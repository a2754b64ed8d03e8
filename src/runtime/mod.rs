//! The process: limits, CPU plan, listeners, shards, signals.
//!
//! Shared between shards (all read-only or atomic): the configuration snapshot, one
//! [`BackendRt`] per backend (its balancer over the servers' atomic state and its queue), one
//! [`FrontendRt`] per frontend (its connection slots), the global connection slots and the
//! stop control. Everything else (connections, pipes, counters, log sockets) is per shard.

pub mod cli;
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

/// A frontend (or the frontend side of a listen) as the shards use it.
pub struct FrontendRt {
    pub proxy: usize,
    /// The proxy's numeric id (`id`, else the first free one), for the stats page.
    pub id: u32,
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
    /// `option splice-*` (mode tcp).
    pub splice: crate::config::SpliceOptions,
    /// Whether this proxy has log targets (its own or `log global`).
    pub logs: bool,
    /// The last malformed request, for `show errors`.
    pub errors: cli::errors::ErrorLog,
}

/// A backend as the shards use it.
pub struct BackendRt {
    pub proxy: usize,
    /// The proxy's numeric id (`id`, else the first free one), for the stats page.
    pub id: u32,
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
    /// `option splice-*` (mode tcp).
    pub splice: crate::config::SpliceOptions,
    /// PROXY header version sent to each server (`send-proxy*`), by server index.
    pub send_proxy: Vec<Option<crate::config::ProxyVersion>>,
    /// Each server's persistence cookie value (`server ... cookie VALUE`).
    pub server_cookies: Vec<Option<String>>,
    /// Each server's TLS (`ssl`, `check-ssl`), by server index.
    pub server_tls: Vec<Option<Arc<ServerTlsRt>>>,
    /// The servers whose traffic TLS names itself with an `sni` expression, rendered per
    /// request; empty for most backends, whose requests then skip the work.
    pub sni_exprs: Vec<usize>,
}

/// TLS towards one server.
pub struct ServerTlsRt {
    pub config: Arc<rustls::ClientConfig>,
    /// `ssl`: traffic goes over TLS.
    pub traffic: bool,
    /// Checks go over TLS: `check-ssl`, or `ssl` without a check `port`/`addr` (HAProxy).
    pub checks: bool,
    pub sni: Option<crate::config::ServerSni>,
}

impl BackendRt {
    /// The TLS of server `srv`'s traffic, when it has `ssl`.
    pub fn traffic_tls(&self, srv: usize) -> Option<&Arc<ServerTlsRt>> {
        self.server_tls[srv].as_ref().filter(|t| t.traffic)
    }

    /// What the retry rule (`cluster::retry`) reads of this backend.
    pub fn retry_policy(&self) -> crate::cluster::retry::Policy {
        crate::cluster::retry::Policy {
            retries: self.retries,
            redispatch: self.redispatch,
            hash_balancing: self.lb.algo.is_hash(),
            connect_timeout: self.connect_timeout,
        }
    }
}

pub struct Shared {
    pub cfg: Arc<Config>,
    /// This process's name for the stats page and `show info`: `node`, else the hostname.
    pub node: String,
    /// Indexed like `cfg.proxies`.
    pub frontends: Vec<Option<Arc<FrontendRt>>>,
    pub backends: Vec<Option<Arc<BackendRt>>>,
    /// Global `maxconn` (`set maxconn global` may lower it, up to `hard_maxconn`).
    pub slots: Slots,
    /// The global `maxconn` the generation started with.
    pub hard_maxconn: u32,
    pub control: Control,
    pub pipe_size: usize,
    /// Pipes a shard may hold at once (global maxpipes split over shards).
    pub pipes_per_shard: usize,
    /// Log targets of each proxy (its own, plus the global ones with `log global`).
    pub logs: Vec<Vec<LogTarget>>,
    /// Health checks, one per checked server of the process; shard i runs every entry
    /// whose position is i modulo the number of shards.
    pub probes: Vec<ProbeSpec>,
    pub shards: usize,
    /// The proxies with a stats page (`stats enable`): what a posted form is checked
    /// against, so that a configuration without one adds nothing to a POST.
    pub stats_pages: Vec<usize>,
    /// Every shard's traffic counters (each shard writes only its own part).
    pub counters: crate::stats::Counters,
    /// When this generation started (the stats page's uptime).
    pub started: std::time::SystemTime,
}

/// Where a health check goes and what it does (see `health::prober`).
pub struct ProbeSpec {
    pub backend: usize,
    pub server: usize,
    pub addr: std::net::SocketAddr,
}

impl Shared {
    /// The shared state of a generation; `previous` is the generation it replaces, whose
    /// servers' health carries over by backend and server name.
    pub fn new(cfg: Config, maxconn: u32, shards: usize, previous: Option<&Shared>) -> Shared {
        let cfg = Arc::new(cfg);
        let mut frontends = Vec::new();
        let mut backends = Vec::new();
        let mut logs = Vec::new();
        let mut probes = Vec::new();
        let ids = proxy_ids(&cfg.proxies);
        for (i, px) in cfg.proxies.iter().enumerate() {
            let mut targets = px.log.targets.clone();
            if px.log.use_global {
                targets.extend(cfg.global.logs.iter().cloned());
            }
            logs.push(targets);
            frontends.push(
                px.kind
                    .is_frontend()
                    .then(|| Arc::new(frontend_rt(i, ids[i], px, maxconn, !logs[i].is_empty()))),
            );
            let be = px
                .kind
                .is_backend()
                .then(|| Arc::new(backend_rt(i, ids[i], px)));
            if let Some(be) = &be {
                if let Some(prev) = previous.and_then(|p| p.backend_by_name(&px.name)) {
                    for s in &be.lb.servers {
                        if let Some(old) = prev.lb.servers.iter().find(|o| o.name == s.name) {
                            s.inherit(old);
                        }
                    }
                    be.lb.rebuild();
                }
                for (n, s) in px.servers.iter().enumerate() {
                    if s.params.check.enabled {
                        let ip = s.check_ip.unwrap_or(s.addr.ip);
                        // validate() guarantees a port for checked servers.
                        let port = s.params.check.port.or(s.addr.port).unwrap_or(0);
                        probes.push(ProbeSpec {
                            backend: i,
                            server: n,
                            addr: std::net::SocketAddr::new(ip, port),
                        });
                    }
                }
            }
            backends.push(be);
        }
        // HAProxy's default maxpipes is maxconn/4. A spliced direction holds a pipe only while
        // bytes are in flight; past the limit a chunk is copied instead (see `PipePool`).
        let maxpipes = cfg
            .global
            .maxpipes
            .map(|m| m as usize)
            .unwrap_or(maxconn as usize / 4)
            .max(shards * 4);
        let node = cfg
            .global
            .node
            .clone()
            .or_else(crate::log::hostname)
            .unwrap_or_default();
        Shared {
            node,
            frontends,
            backends,
            slots: Slots::new(maxconn),
            hard_maxconn: maxconn,
            control: Control::default(),
            pipe_size: if cfg.global.pipesize > 0 {
                cfg.global.pipesize
            } else {
                256 * 1024
            },
            pipes_per_shard: maxpipes / shards.max(1),
            logs,
            probes,
            shards,
            counters: crate::stats::Counters::new(
                shards,
                &cfg.proxies
                    .iter()
                    .map(|p| p.servers.len())
                    .collect::<Vec<_>>(),
            ),
            started: std::time::SystemTime::now(),
            stats_pages: (0..cfg.proxies.len())
                .filter(|&i| cfg.proxies[i].stats.enabled)
                .collect(),
            cfg,
        }
    }

    pub fn backend_by_name(&self, name: &str) -> Option<&Arc<BackendRt>> {
        self.backends.iter().flatten().find(|b| b.name == name)
    }
}

/// Each proxy's numeric id, as HAProxy numbers them: the configured `id`, else the lowest
/// id no other proxy has, in the order of the file.
fn proxy_ids(proxies: &[Proxy]) -> Vec<u32> {
    let mut used: std::collections::HashSet<u32> = proxies.iter().filter_map(|p| p.id).collect();
    let mut next = 1;
    proxies
        .iter()
        .map(|p| {
            p.id.unwrap_or_else(|| {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            })
        })
        .collect()
}

fn frontend_rt(i: usize, id: u32, px: &Proxy, global_maxconn: u32, logs: bool) -> FrontendRt {
    let backend = if px.kind.is_backend() {
        Some(i)
    } else {
        px.use_backends
            .first()
            .or(px.default_backend.as_ref())
            .map(|r| r.index)
    };
    FrontendRt {
        proxy: i,
        id,
        name: px.name.clone(),
        mode: px.mode,
        slots: Slots::new(px.maxconn.unwrap_or(global_maxconn)),
        backend,
        client_timeout: px.timeouts.client,
        client_fin_timeout: px.timeouts.client_fin,
        clitcpka: px.options.clitcpka,
        tcplog: px.options.tcplog,
        dontlognull: px.options.dontlognull,
        splice: px.options.splice,
        logs,
        errors: Default::default(),
    }
}

fn backend_rt(i: usize, id: u32, px: &Proxy) -> BackendRt {
    let server_tls: Vec<Option<Arc<ServerTlsRt>>> = px
        .servers
        .iter()
        .map(|s| {
            let (t, config) = (s.params.tls.as_ref()?, s.tls_config.clone()?);
            let c = &s.params.check;
            Some(Arc::new(ServerTlsRt {
                config,
                traffic: t.ssl,
                checks: t.check_ssl || (t.ssl && c.port.is_none() && c.addr.is_none()),
                sni: s.tls_sni.clone(),
            }))
        })
        .collect();
    let servers: Vec<Arc<ServerState>> = px
        .servers
        .iter()
        .enumerate()
        .map(|(n, s)| Arc::new(ServerState::new(&px.name, s.id.unwrap_or(n as u32 + 1), s)))
        .collect();
    BackendRt {
        proxy: i,
        id,
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
        splice: px.options.splice,
        send_proxy: px.servers.iter().map(|s| s.params.send_proxy).collect(),
        server_cookies: px.servers.iter().map(|s| s.params.cookie.clone()).collect(),
        sni_exprs: server_tls
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.as_ref().is_some_and(|t| {
                    t.traffic && matches!(t.sni, Some(crate::config::ServerSni::Expr(_)))
                })
            })
            .map(|(i, _)| i)
            .collect(),
        server_tls,
    }
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
    let nshards = plan.cpus.len();
    let maxconn = cfg
        .global
        .maxconn
        .unwrap_or_else(|| limits::default_maxconn(host.nofile));
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
            .spawn(move || shard::run(for_shard, i, ls, tx))
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
                _ => {
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
                    stopping = true;
                    let grace = current.grace;
                    if exported && sig == SIGUSR1 {
                        // A new process holds our listening sockets (`-x`): they stay
                        // open, so hand over as a reload does instead of cancelling the
                        // pending accepts.
                        current.hand_over(grace);
                    } else {
                        current.stop(grace);
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(text: &str, maxconn: u32, shards: usize) -> Shared {
        let (cfg, d) = crate::config::parser::parse_text(text);
        let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
        Shared::new(cfg, maxconn, shards, None)
    }

    const BASE: &str =
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n";

    #[test]
    fn node_and_proxy_ids_reach_the_runtime_model() {
        let s = shared(
            &format!(
                "global\n  node lb-7\n{BASE}frontend a\n  bind :1\n  default_backend c\nbackend b\n  id 1\n  server s 127.0.0.1:2\nlisten c\n  bind :3\n  server s 127.0.0.1:2\nbackend d\n  id 3\n"
            ),
            100,
            1,
        );
        assert_eq!(s.node, "lb-7");
        let fe = |i: usize| s.frontends[i].as_ref().unwrap().id;
        let be = |i: usize| s.backends[i].as_ref().unwrap().id;
        // a and c take the first ids b and d left free; a listen has one id.
        assert_eq!((fe(0), be(1), fe(2), be(2), be(3)), (2, 1, 4, 4, 3));
        let s = shared(&format!("{BASE}backend b\n"), 100, 1);
        assert!(!s.node.is_empty(), "the hostname by default");
    }

    #[test]
    fn maxpipes_defaults_to_a_quarter_of_maxconn_as_in_haproxy() {
        let s = shared(&format!("{BASE}backend b\n"), 4000, 2);
        assert_eq!(s.pipes_per_shard, 4000 / 4 / 2);
        let s = shared(
            &format!("global\n  maxpipes 60\n{BASE}backend b\n"),
            4000,
            2,
        );
        assert_eq!(s.pipes_per_shard, 30);
    }
}
