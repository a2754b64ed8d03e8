//! A generation's shared state as the shards use it: the configuration snapshot, one
//! [`FrontendRt`] per frontend (its connection slots), one [`BackendRt`] per backend (its
//! balancer over the servers' atomic state, its queue, its servers' TLS), the global slots,
//! the stop control, the log targets, the health checks to run and the traffic counters.
//! Built once per generation by [`Shared::new`], then read-only or atomic.

use super::balance::Lb;
use super::control::{Control, Slots};
use super::state::ServerState;
use crate::config::{Config, LogTarget, Mode, Proxy};
use std::sync::Arc;
use std::time::Duration;

/// A frontend (or the frontend side of a listen) as the shards use it.
pub struct FrontendRt {
    pub proxy: usize,
    /// Each `bind` address's listener (`so_id`, `so_name`, `dst_conn`), in order.
    pub listeners: Box<[Arc<crate::acl::ListenerInfo>]>,
    /// The proxy's numeric id (`id`, else the first free one), for the stats page.
    pub id: u32,
    pub name: String,
    pub mode: Mode,
    pub slots: Slots,
    /// The backend new connections go to (use_backend without condition, else
    /// default_backend; a listen uses itself).
    pub backend: Option<usize>,
    /// Whether connections wait for their first bytes before choosing a backend: the
    /// proxy has `tcp-request content` rules or a conditional `use_backend` (mode tcp
    /// inspects them; the others go straight to `backend`).
    pub inspects_content: bool,
    pub client_timeout: Option<Duration>,
    pub client_fin_timeout: Option<Duration>,
    /// `option clitcpka` (with its `clitcpka-*` settings).
    pub clitcpka: Option<crate::config::TcpKa>,
    /// `option nolinger` on the frontend: client connections close with a reset.
    pub nolinger: bool,
    pub tcplog: bool,
    pub dontlognull: bool,
    /// `option splice-*` (mode tcp).
    pub splice: crate::config::SpliceOptions,
    /// Whether this proxy has log targets (its own or `log global`).
    pub logs: bool,
    /// The last malformed request, for `show errors`.
    pub errors: super::errors::ErrorLog,
    /// `rate-limit sessions`.
    pub sess_rate: Option<super::rate::RateLimit>,
    /// `option http-buffer-request` on the frontend or on a backend it may route to: a
    /// request's body is read (up to the buffer) before its rules run.
    pub buffer_request: bool,
    /// An `http-request wait-for-body` rule in the frontend or in a backend it may route
    /// to: a request whose body is not whole looks for one that applies before its rules.
    pub waits_for_req_body: bool,
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
    /// `option srvtcpka` (with its `srvtcpka-*` settings).
    pub srvtcpka: Option<crate::config::TcpKa>,
    /// `option nolinger` on the backend: server connections close with a reset.
    pub nolinger: bool,
    /// `option abortonclose`: a request waiting for a server is dropped when its client
    /// closes (mode http).
    pub abortonclose: bool,
    /// `option checkcache` (mode http): a cacheable response that sets a cookie is blocked.
    pub checkcache: bool,
    /// `option prefer-last-server` under non-hash balancing: a keep-alive client's request
    /// goes to its previous server while that one is usable (mode http).
    pub prefer_last_server: bool,
    /// `max-keep-alive-queue`.
    pub max_keep_alive_queue: Option<u32>,
    /// `option splice-*` (mode tcp).
    pub splice: crate::config::SpliceOptions,
    /// PROXY header version sent to each server (`send-proxy*`), by server index.
    pub send_proxy: Vec<Option<crate::config::ProxyVersion>>,
    /// Each server's `socks4` proxy, and whether its checks go through it
    /// (`check-via-socks4`).
    pub socks4: Vec<Option<(std::net::SocketAddr, bool)>>,
    /// The TLVs of each server's v2 header (`proxy-v2-options`, `send-proxy-v2-ssl*`).
    pub pp_opts: Vec<crate::config::PpOpts>,
    /// Where each server's connections come from (its own `source`, else the backend's).
    pub source: Vec<ConnSource>,
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
    /// What a WebSocket request's connection offers instead, when `config` offers h2 (HAProxy
    /// 2.6's `ws auto|h1`): http/1.1 alone, so that the upgrade goes over HTTP/1.1 — with
    /// `ws auto` only when `alpn` offers http/1.1 too.
    pub ws_config: Option<Arc<rustls::ClientConfig>>,
    /// `ssl`: traffic goes over TLS.
    pub traffic: bool,
    /// Checks go over TLS: `check-ssl`, or `ssl` without a check `port`/`addr` (HAProxy).
    pub checks: bool,
    pub sni: Option<crate::config::ServerSni>,
}

impl ServerTlsRt {
    /// The fixed `sni` name (an `sni` expression is rendered per request by the caller).
    pub fn fixed_sni(&self) -> Option<&[u8]> {
        match &self.sni {
            Some(crate::config::ServerSni::Fixed(n)) => Some(n.as_bytes()),
            _ => None,
        }
    }
}

impl BackendRt {
    /// The TLVs server `srv`'s PROXY v2 header carries (none for a server added at run
    /// time).
    pub fn pp_opts(&self, srv: usize) -> crate::config::PpOpts {
        self.pp_opts.get(srv).copied().unwrap_or_default()
    }

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

/// Where a server's connections come from: `source ADDR [usesrc …] [interface NAME]` (the
/// server's own line, else the backend's) and the server's `namespace`.
#[derive(Clone, Debug, Default)]
pub struct ConnSource {
    pub addr: Option<std::net::SocketAddr>,
    pub usesrc: Option<crate::config::UseSrc>,
    pub interface: Option<String>,
    pub netns: Option<String>,
    /// `tfo`: TCP Fast Open on the connections (not the checks, as in HAProxy).
    pub tfo: bool,
    /// `source ADDR:LOW-HIGH` on the server line (or its `default-server`'s, each server
    /// then with a range of its own, as in HAProxy): the ports its connections take.
    pub ports: Option<Arc<crate::sys::ports::PortRange>>,
}

impl ConnSource {
    fn of(px: &crate::config::Proxy, s: &crate::config::Server) -> ConnSource {
        let p = &s.params;
        let (addr, usesrc, interface) = match p.source {
            Some(a) => (Some(a), p.usesrc.clone(), p.interface.clone()),
            None => (
                px.source,
                px.source_usesrc.clone(),
                px.source_interface.clone(),
            ),
        };
        let ports = p.source.and(p.source_ports);
        ConnSource {
            addr,
            usesrc,
            interface,
            netns: p.namespace.clone(),
            tfo: p.tfo,
            ports: ports.map(|(low, high)| crate::sys::ports::PortRange::new(low, high)),
        }
    }

    /// Whether its connections present their client's address (`usesrc client` or
    /// `clientip`): one is then for its client alone, never pooled for others (HAProxy keys
    /// its idle connections by the source address they bound).
    pub fn presents_client(&self) -> bool {
        use crate::config::UseSrc;
        matches!(self.usesrc, Some(UseSrc::Client | UseSrc::ClientIp))
    }

    /// How to make the socket of a connection for client `client` (`None` for a health
    /// check, which never uses `usesrc`) to `to`; `None`: a plain connect.
    pub fn outgoing(
        &self,
        client: Option<std::net::SocketAddr>,
        to: std::net::SocketAddr,
    ) -> Option<crate::sys::Outgoing<'_>> {
        use crate::config::UseSrc;
        let foreign = match (&self.usesrc, client) {
            (Some(UseSrc::Addr(a)), Some(_)) => Some(*a),
            (Some(UseSrc::Client), Some(c)) => Some(c),
            (Some(UseSrc::ClientIp), Some(c)) => Some(std::net::SocketAddr::new(c.ip(), 0)),
            _ => None,
        }
        // A client of the other address family cannot be presented: `source` alone then.
        .filter(|f| f.is_ipv4() == to.is_ipv4());
        let o = crate::sys::Outgoing {
            from: foreign.or(self.addr),
            transparent: foreign.is_some(),
            interface: self.interface.as_deref(),
            netns: self.netns.as_deref(),
            fastopen: self.tfo && client.is_some(),
            ports: self.ports.as_ref(),
        };
        (o.from.is_some() || o.interface.is_some() || o.netns.is_some() || o.fastopen).then_some(o)
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
    /// Global `maxsslconn`: TLS client connections (unlimited without it).
    pub ssl_slots: Slots,
    /// The global `maxconn` the generation started with.
    pub hard_maxconn: u32,
    pub control: Control,
    pub pipe_size: usize,
    /// Pipes a shard may hold at once (global maxpipes split over shards).
    pub pipes_per_shard: usize,
    /// `tune.pool-low-fd-ratio` and `tune.pool-high-fd-ratio` of the descriptors the
    /// process may use (two per connection, two per pipe): what bounds idle server
    /// connections (HAProxy's `pool_low_count`, `pool_high_count`; see `net::pool`).
    pub idle_fds: FdCounts,
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
    pub counters: super::counters::Counters,
    /// When this generation started (the stats page's uptime).
    pub started: std::time::SystemTime,
    /// The stick tables, shared by every shard (`crate::stick`).
    pub stick: Arc<crate::stick::Tables>,
    /// The DNS resolver's counters (`show resolvers`).
    pub dns: Arc<super::dns_stats::Stats>,
    /// The way to the resolver thread for `http-request do-resolve`.
    pub dns_lookups: super::dns_lookup::Lookups,
    /// Each shard's inbox for the runtime API's session jobs (`show sess`, `shutdown
    /// session`), indexed by shard.
    pub mailboxes: Vec<super::sessions::Mailbox>,
    /// `maxconnrate`, `maxsessrate`, `maxsslrate` (the last on TLS listeners only).
    pub conn_rate: Option<super::rate::RateLimit>,
    pub sess_rate: Option<super::rate::RateLimit>,
    pub ssl_rate: Option<super::rate::RateLimit>,
    /// Email alerts: one outbox per `mailers` section, indexed like `cfg.mailers`.
    pub mail: Vec<crate::log::mail::Outbox>,
}

/// Where a health check goes and what it does (see `health::prober`).
pub struct ProbeSpec {
    pub backend: usize,
    pub server: usize,
    pub addr: std::net::SocketAddr,
}

impl Shared {
    /// Usable servers of backend `i` (`nbsrv()`); 0 for a proxy that is no backend.
    pub fn usable_servers(&self, i: usize) -> u32 {
        self.backends
            .get(i)
            .and_then(|b| b.as_ref())
            .map_or(0, |b| b.lb.usable_count() as u32)
    }

    /// The shared state of a generation; `previous` is the generation it replaces, whose
    /// servers' health carries over by backend and server name.
    pub fn new(cfg: Config, maxconn: u32, shards: usize, previous: Option<&Shared>) -> Shared {
        let cfg = Arc::new(cfg);
        let mut frontends = Vec::new();
        let mut backends = Vec::new();
        let mut logs = Vec::new();
        let mut probes = Vec::new();
        let ids = proxy_ids(&cfg.proxies, !cfg.global.cli.sockets.is_empty());
        for (i, px) in cfg.proxies.iter().enumerate() {
            let mut targets = px.log.targets.clone();
            if px.log.use_global {
                targets.extend(cfg.global.logs.iter().cloned());
            }
            logs.push(targets);
            frontends.push(px.kind.is_frontend().then(|| {
                let logs = !logs[i].is_empty();
                Arc::new(frontend_rt(i, ids[i], px, &cfg.proxies, maxconn, logs))
            }));
            let be = px
                .kind
                .is_backend()
                .then(|| Arc::new(backend_rt(i, ids[i], px, fullconn(&cfg, i, maxconn))));
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
        link_tracks(&cfg, &backends);
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
        let stick = Arc::new(crate::stick::Tables::new(&cfg));
        crate::stick::Tables::start_purger(&stick);
        crate::stick::peers::start(&cfg, &stick);
        Shared {
            stick,
            node,
            conn_rate: super::rate::RateLimit::new(cfg.global.maxconnrate),
            sess_rate: super::rate::RateLimit::new(cfg.global.maxsessrate),
            ssl_rate: super::rate::RateLimit::new(cfg.global.maxsslrate),
            mail: cfg
                .mailers
                .iter()
                .map(crate::log::mail::Outbox::new)
                .collect(),
            frontends,
            backends,
            ssl_slots: Slots::new(cfg.global.maxsslconn.unwrap_or(0)),
            slots: Slots::new(maxconn),
            hard_maxconn: maxconn,
            control: Control::default(),
            pipe_size: if cfg.global.pipesize > 0 {
                cfg.global.pipesize
            } else {
                256 * 1024
            },
            pipes_per_shard: maxpipes / shards.max(1),
            idle_fds: FdCounts::new(
                2 * maxconn as usize + 2 * maxpipes,
                cfg.global.pool_low_fd_ratio,
                cfg.global.pool_high_fd_ratio,
            ),
            logs,
            probes,
            shards,
            counters: super::counters::Counters::with_listeners(
                shards,
                &cfg.proxies
                    .iter()
                    .map(|p| p.servers.len())
                    .collect::<Vec<_>>(),
                &cfg.proxies
                    .iter()
                    .map(|p| {
                        if p.options.socket_stats && p.kind.is_frontend() {
                            p.binds.len()
                        } else {
                            0
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
            started: std::time::SystemTime::now(),
            dns: Arc::new(super::dns_stats::Stats::new(&cfg.resolvers)),
            dns_lookups: Default::default(),
            mailboxes: (0..shards).map(|_| Default::default()).collect(),
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
/// id no other proxy has, in the order of the file. A global `stats socket` makes HAProxy's
/// CLI frontend ("GLOBAL"), which comes first and so takes the lowest free id.
fn proxy_ids(proxies: &[Proxy], cli: bool) -> Vec<u32> {
    let given: Vec<Option<u32>> = proxies.iter().map(|p| p.id).collect();
    let mut ids = free_ids(std::iter::once(None).filter(|_| cli).chain(given), false);
    if cli {
        ids.remove(0);
    }
    ids
}

/// The configured ids, and for the others the lowest free id from a cursor, in order
/// (HAProxy's `get_next_id`). For listeners (`every`) the cursor also moves past each one
/// that has an id, as HAProxy's loop over a proxy's listeners moves it: `bind … id 7`
/// between two others leaves them 1 and 3.
fn free_ids(given: impl Iterator<Item = Option<u32>> + Clone, every: bool) -> Vec<u32> {
    let mut used: std::collections::HashSet<u32> = given.clone().flatten().collect();
    let mut next = 1;
    given
        .map(|id| {
            let id = id.unwrap_or_else(|| {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            });
            if every {
                next += 1;
            }
            id
        })
        .collect()
}

fn frontend_rt(
    i: usize,
    id: u32,
    px: &Proxy,
    all: &[Proxy],
    global_maxconn: u32,
    logs: bool,
) -> FrontendRt {
    // `option http-buffer-request` of a backend applies once the request is routed there;
    // corelb reads the body before the frontend's rules for every backend the frontend may
    // route to (any, for a name built per request).
    let buffers = |j: usize| all.get(j).is_some_and(|p| p.options.http_buffer_request);
    let any_buffers = || {
        all.iter()
            .any(|p| p.kind.is_backend() && p.options.http_buffer_request)
    };
    let buffer_request = px.options.http_buffer_request
        || px
            .default_backend
            .as_ref()
            .is_some_and(|r| buffers(r.index))
        || px.use_backends.iter().any(|r| match r.dynamic {
            Some(_) => any_buffers(),
            None => buffers(r.index),
        });
    let waits = |j: usize| all.get(j).is_some_and(|p| p.waits_for_req_body);
    let waits_for_req_body = px.waits_for_req_body
        || px.default_backend.as_ref().is_some_and(|r| waits(r.index))
        || px.use_backends.iter().any(|r| match r.dynamic {
            Some(_) => all
                .iter()
                .any(|p| p.kind.is_backend() && p.waits_for_req_body),
            None => waits(r.index),
        });
    let backend = if px.kind.is_backend() {
        Some(i)
    } else {
        // The first plain name (mode tcp's shortcut when no rule has to decide).
        px.use_backends
            .iter()
            .find(|r| r.dynamic.is_none())
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
        inspects_content: !px.tcp_request.content.is_empty()
            || px
                .use_backends
                .iter()
                .any(|u| u.cond.is_some() || u.dynamic.is_some()),
        client_timeout: px.timeouts.client,
        client_fin_timeout: px.timeouts.client_fin,
        clitcpka: px.options.clitcpka.then_some(px.options.clitcpka_tune),
        nolinger: px.options.nolinger,
        tcplog: px.options.tcplog,
        dontlognull: px.options.dontlognull,
        splice: px.options.splice,
        logs,
        errors: Default::default(),
        sess_rate: super::rate::RateLimit::new(px.rate_limit_sessions),
        buffer_request,
        waits_for_req_body,
        listeners: free_ids(px.binds.iter().map(|b| b.id), true)
            .into_iter()
            .zip(&px.binds)
            .map(|(id, b)| {
                // `option socket-stats` names the unnamed ones `sock-ID`, as HAProxy.
                let name = b
                    .name
                    .clone()
                    .or_else(|| px.options.socket_stats.then(|| format!("sock-{id}")));
                Arc::new(crate::acl::ListenerInfo {
                    id,
                    name: name.map(Into::into),
                    conns: Default::default(),
                })
            })
            .collect(),
    }
}

/// `track`: each tracking server learns the server it follows, and starts in its state.
fn link_tracks(cfg: &crate::config::Config, backends: &[Option<Arc<BackendRt>>]) {
    for (pi, px) in cfg.proxies.iter().enumerate() {
        let Some(be) = &backends[pi] else { continue };
        for (si, s) in px.servers.iter().enumerate() {
            let Some((tb, ts)) = s.params.track_ref else {
                continue;
            };
            let Some(target) = backends[tb].as_ref().map(|b| b.lb.servers[ts].clone()) else {
                continue;
            };
            let me = &be.lb.servers[si];
            let _ = me.tracked.set(target);
            if me.health_ref().state() == super::SrvState::Down {
                me.force_health(false, false);
                be.lb.rebuild();
            }
        }
    }
}

/// A backend's `fullconn`, or HAProxy's default: a tenth (rounded up, at least 1) of the
/// `maxconn` of the frontends whose `default_backend` or static `use_backend` rules lead to
/// it (a listen section without `default_backend` counts its own).
fn fullconn(cfg: &crate::config::Config, be: usize, global_maxconn: u32) -> u32 {
    if let Some(f) = cfg.proxies[be].fullconn {
        return f;
    }
    let mut total = 0u64;
    for (i, fe) in cfg.proxies.iter().enumerate() {
        if !fe.kind.is_frontend() {
            continue;
        }
        let def = fe.default_backend.as_ref().map(|r| r.index);
        let own = def.is_none() && fe.kind.is_backend() && i == be;
        let used = fe
            .use_backends
            .iter()
            .any(|r| r.dynamic.is_none() && r.index == be);
        if def == Some(be) || own || (used && def != Some(be)) {
            total += fe.maxconn.unwrap_or(global_maxconn) as u64;
        }
    }
    total.div_ceil(10).clamp(1, u32::MAX as u64) as u32
}

fn backend_rt(i: usize, id: u32, px: &Proxy, fullconn: u32) -> BackendRt {
    let server_tls: Vec<Option<Arc<ServerTlsRt>>> = px
        .servers
        .iter()
        .map(|s| {
            let (t, config) = (s.params.tls.as_ref()?, s.tls_config.clone()?);
            let c = &s.params.check;
            let alpn = &config.alpn_protocols;
            let h1 = s.params.ws_h1 == Some(true) || alpn.iter().any(|p| p == b"http/1.1");
            let ws_config = (h1 && alpn.iter().any(|p| p == b"h2")).then(|| {
                let mut c = (*config).clone();
                c.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(c)
            });
            Some(Arc::new(ServerTlsRt {
                config,
                ws_config,
                traffic: t.ssl,
                checks: t.check_ssl || (t.ssl && c.port.is_none() && c.addr.is_none()),
                sni: s.tls_sni.clone(),
            }))
        })
        .collect();
    use crate::cluster::dynamic::{BeLoad, Dynamic};
    let queue = Slots::new(0);
    // `minconn` scales with the backend's load, which every server then counts.
    let load = px.servers.iter().any(|s| s.params.minconn > 0).then(|| {
        Arc::new(BeLoad {
            served: Default::default(),
            queued: queue.waiting_counter(),
            fullconn,
        })
    });
    let ramp_weight = matches!(
        px.balance.algo,
        crate::config::Algo::RoundRobin
            | crate::config::Algo::LeastConn
            | crate::config::Algo::Random { .. }
    );
    let servers: Vec<Arc<ServerState>> = px
        .servers
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let mut st = ServerState::new(&px.name, s.id.unwrap_or(n as u32 + 1), s);
            let ss = s.params.slowstart.map_or(0, |d| d.as_millis() as u64);
            if load.is_some() || ss > 0 {
                st.dynamic = Some(Dynamic::new(
                    s.params.minconn,
                    load.clone(),
                    ss,
                    ramp_weight,
                ));
            }
            Arc::new(st)
        })
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
        )
        .with_hasher(crate::cluster::balance::hash::Hasher {
            func: px.balance.hash_fn,
            avalanche: px.balance.avalanche,
        })
        .with_balance_factor(px.balance.balance_factor)
        .with_dispatch(px.dispatch_server),
        queue,
        connect_timeout: px.timeouts.connect,
        server_timeout: px.timeouts.server,
        server_fin_timeout: px.timeouts.server_fin,
        tunnel_timeout: px.timeouts.tunnel,
        // HAProxy: without 'timeout queue', the connect timeout applies.
        queue_timeout: px.timeouts.queue.or(px.timeouts.connect),
        retries: px.retries,
        redispatch: px.options.redispatch,
        srvtcpka: px.options.srvtcpka.then_some(px.options.srvtcpka_tune),
        nolinger: px.options.nolinger,
        abortonclose: px.options.abortonclose,
        checkcache: px.options.checkcache,
        prefer_last_server: px.options.prefer_last_server && !px.balance.algo.is_hash(),
        max_keep_alive_queue: px.max_keep_alive_queue,
        splice: px.options.splice,
        send_proxy: px.servers.iter().map(|s| s.params.send_proxy).collect(),
        socks4: px
            .servers
            .iter()
            .map(|s| s.params.socks4.map(|a| (a, s.params.check_via_socks4)))
            .collect(),
        pp_opts: px.servers.iter().map(|s| s.params.pp_opts).collect(),
        server_cookies: px.servers.iter().map(|s| s.params.cookie.clone()).collect(),
        source: px.servers.iter().map(|s| ConnSource::of(px, s)).collect(),
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

/// The proxy and server fetches (`fe_name`, `be_conn(B)`, `srv_is_up(B/S)`…) read the
/// running state: names and ids as the stats page shows them, counts as they are now.
/// A timeout in milliseconds, 0 for none (HAProxy's `TICKS_TO_MS` of an eternity).
fn ms(t: Option<std::time::Duration>) -> i64 {
    t.map_or(0, |d| d.as_millis() as i64)
}

impl crate::acl::Proxies for Shared {
    fn rate(&self, of: crate::acl::RateOf, px: usize, srv: usize) -> u64 {
        use super::counters::C;
        use crate::acl::RateOf;
        let c = &self.counters;
        match of {
            RateOf::FeReq => c.rate(|s| s.fe(px), C::ReqRate),
            RateOf::FeSess => c.rate(|s| s.fe(px), C::Rate),
            RateOf::BeSess => c.rate(|s| s.be(px), C::Rate),
            RateOf::SrvSess => c.rate(|s| s.srv(px, srv), C::Rate),
        }
    }

    fn proxy(&self, i: usize) -> Option<crate::acl::ProxyFacts<'_>> {
        let px = self.cfg.proxies.get(i)?;
        let fe = self.frontends.get(i).and_then(|f| f.as_deref());
        let be = self.backends.get(i).and_then(|b| b.as_deref());
        let id = fe.map(|f| f.id).or(be.map(|b| b.id))?;
        Some(crate::acl::ProxyFacts {
            name: &px.name,
            id,
            default_backend: px.default_backend.as_ref().map(|b| b.index),
            fe_conn: fe.map(|f| f.slots.current()),
            client_timeout: fe.map(|f| ms(f.client_timeout)),
            captures: [px.logging.req_captures.len(), px.logging.res_captures.len()],
            backend: be.map(|b| crate::acl::BackendFacts {
                servers: b.lb.servers.len(),
                usable: b.lb.usable_count() as u32,
                conn: b.lb.servers.iter().map(|s| s.cur_conns()).sum(),
                queued: b.queue.waiting()
                    + b.lb.servers.iter().map(|s| s.queue.waiting()).sum::<u32>(),
                server_timeout: ms(b.server_timeout),
                tunnel_timeout: ms(b.tunnel_timeout),
            }),
        })
    }

    fn server(&self, be: usize, srv: usize) -> Option<crate::acl::ServerFacts<'_>> {
        use super::state::{SrvState, admin};
        let s = self.backends.get(be)?.as_deref()?.lb.servers.get(srv)?;
        let state = s.state();
        let maint = s.admin() & admin::MAINT != 0;
        Some(crate::acl::ServerFacts {
            name: &s.name,
            id: s.id,
            up: !maint && (!s.checked || state != SrvState::Down),
            stopped: maint || state != SrvState::Up,
            running: !maint && state == SrvState::Up,
            cur: s.cur_conns(),
            maxconn: s.maxconn(),
            queued: s.queue.waiting(),
            maxqueue: s.maxqueue,
            weight: s.weight(),
            iweight: s.configured_weight,
            uweight: s.user_weight(),
        })
    }
}

impl Shared {
    /// A stream's place for the proxy and server fetches: frontend `fe`, the backend once
    /// chosen (the frontend before), the server once chosen.
    pub fn strm(&self, fe: usize, be: Option<usize>, srv: Option<usize>) -> crate::acl::Strm<'_> {
        crate::acl::Strm {
            px: self,
            fe,
            be: be.unwrap_or(fe),
            srv: be.and(srv),
        }
    }
}

/// The descriptor counts that bound idle connections (HAProxy's `pool_low_count` and
/// `pool_high_count`): `tune.pool-low-fd-ratio` and `tune.pool-high-fd-ratio` percent of
/// the descriptors the process may use, rounded up as HAProxy rounds them, so that idle
/// connections never take what `maxconn` connections need (see `net::pool`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdCounts {
    pub low: usize,
    pub high: usize,
}

impl FdCounts {
    /// Of `maxsock` descriptors, at `low`% and `high`%.
    pub fn new(maxsock: usize, low: u32, high: u32) -> FdCounts {
        let at = |pct: u32| (maxsock * pct as usize).div_ceil(100);
        FdCounts {
            low: at(low),
            high: at(high),
        }
    }
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
