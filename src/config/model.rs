//! The typed configuration: what the parser produces and the runtime consumes. It is built
//! once per generation and then shared read-only (`Arc`) by every shard.

use super::diag::Loc;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
}

/// What a proxy section can do: a `listen` is both a frontend and a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub fn is_frontend(self) -> bool {
        matches!(self, Kind::Frontend | Kind::Listen)
    }
    pub fn is_backend(self) -> bool {
        matches!(self, Kind::Backend | Kind::Listen)
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
    /// The check points (`SMP_VAL_*` bits) of a rule that runs at `fe` in a frontend and
    /// `be` in a backend: a section that is both (listen, defaults) has either.
    pub fn place(self, fe: u32, be: u32) -> u32 {
        let both = self == Kind::Defaults;
        (if self.is_frontend() || both { fe } else { 0 })
            | (if self.is_backend() || both { be } else { 0 })
    }
    /// How HAProxy's messages name the section (`proxy_type_str`: a listen is a "proxy").
    pub fn haproxy_name(self) -> &'static str {
        match self {
            Kind::Listen => "proxy",
            k => k.name(),
        }
    }
}

/// The global section.
/// HAProxy 2.6's `tune.maxaccept` default (MAX_ACCEPT).
pub const DEFAULT_MAXACCEPT: u32 = 4;

#[derive(Clone, Debug)]
pub struct Global {
    pub maxconn: Option<u32>,
    /// `tune.vars.*-max-size`.
    pub var_limits: crate::acl::VarLimits,
    /// `pp2-never-send-local`: checks' PROXY v2 headers use the PROXY command.
    pub pp2_never_send_local: bool,
    /// `expose-experimental-directives`: HAProxy's experimental keywords
    /// (`http-request normalize-uri`) are allowed in the sections after it.
    pub experimental: bool,
    /// `h1-accept-payload-with-any-method`: HTTP/1.0 GET/HEAD/DELETE may have a body.
    pub h1_accept_payload_with_any_method: bool,
    /// `maxconnrate`, `maxsessrate`, `maxsslrate`: per-second limits at accept.
    pub maxconnrate: Option<u32>,
    pub maxsessrate: Option<u32>,
    pub maxsslrate: Option<u32>,
    /// `maxsslconn`: TLS client connections at once (process-wide); beyond it the TLS
    /// listeners accept nothing until one ends.
    pub maxsslconn: Option<u32>,
    /// `tune.maxaccept`: connections a listener accepts in a row before the shard serves
    /// others (`None`: no limit, `-1`).
    pub maxaccept: Option<u32>,
    pub nbthread: Option<(u32, Loc)>,
    /// `cpu-map` entries: (first thread, last thread) → CPUs, thread numbers from 1.
    pub cpu_map: Vec<CpuMapEntry>,
    pub hard_stop_after: Option<Duration>,
    /// `close-spread-time`: on a soft stop, closes of HTTP connections spread over this
    /// window (`Duration::MAX`: `infinite`, active connections are not closed).
    pub close_spread_time: Option<Duration>,
    /// `grace`: how long a soft stop (SIGUSR1) announces itself (`stopping`) before the
    /// listeners stop.
    pub grace: Option<Duration>,
    pub pidfile: Option<PathBuf>,
    pub user: Option<(String, Loc)>,
    pub group: Option<(String, Loc)>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub chroot: Option<(PathBuf, Loc)>,
    pub ulimit_n: Option<u64>,
    /// `set-dumpable`.
    pub set_dumpable: bool,
    /// `external-check`: proxies may run external check commands (`option external-check`).
    pub external_check: bool,
    /// `tune.comp.maxlevel`: the compression level (1 to 9; HAProxy's default 1).
    pub comp_maxlevel: u32,
    /// `maxzlibmem` (given in MB), in bytes: the memory compressing streams may use at
    /// most (0: no limit).
    pub maxzlibmem: u64,
    pub logs: Vec<LogTarget>,
    pub log_tag: Option<String>,
    /// `log-send-hostname [NAME]`: the hostname put in rfc3164/rfc5424 headers (and what
    /// makes a `log` line without `format` use rfc3164 instead of the local format); empty
    /// means the machine's host name.
    pub log_send_hostname: Option<String>,
    pub quiet: bool,
    /// `localpeer NAME`: this node's name in `peers` sections (else `-L`, else the host name).
    pub localpeer: Option<String>,
    pub node: Option<String>,
    pub bufsize: usize,
    pub maxhdr: usize,
    /// corelb-specific: how mode tcp moves bytes (`tune.corelb.pump auto|splice|copy`).
    pub pump: PumpKind,
    pub pipesize: usize,
    pub maxpipes: Option<u32>,
    /// `tune.pool-high-fd-ratio`: idle server connections are kept only while the
    /// descriptors in use stay under this percentage of the process' (HAProxy's default 25).
    pub pool_high_fd_ratio: u32,
    /// `tune.pool-low-fd-ratio`: past this percentage, a server keeps at most one idle
    /// connection per shard (HAProxy's default 20).
    pub pool_low_fd_ratio: u32,
    /// `tune.peers.max-updates-at-once`: the most stick-table updates a peer session sends
    /// in one round (HAProxy's default: 200).
    pub peers_max_updates: usize,
    /// `spread-checks`: random jitter added to check intervals, in percent (0–50).
    pub spread_checks: u32,
    /// `max-spread-checks`: the first checks start within this delay.
    pub max_spread_checks: Option<Duration>,
    /// `crt-base`, `ca-base`, `ssl-default-*`, `noktls`, …
    pub tls: crate::tls::options::TlsGlobals,
    /// `stats socket|timeout|maxconn`, `server-state-file|base`.
    pub cli: super::cli::CliGlobal,
    /// `tune.h2.*`: HTTP/2 towards clients and servers.
    pub h2: H2Tune,
    /// `h1-case-adjust` and `h1-case-adjust-file`: header names' spellings on HTTP/1.
    pub h1_case_map: super::case_adjust::CaseMap,
    /// `h1-case-adjust-file`, as written (the last one), read when the section is done.
    pub h1_case_file: Option<(String, super::diag::Loc)>,
}

/// `tune.h2.*` for client and server connections (HAProxy's names and defaults, except the glitch
/// threshold: see docs/http2.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Tune {
    /// `tune.h2.fe.max-concurrent-streams` (or `tune.h2.max-concurrent-streams`): 100.
    pub max_concurrent_streams: u32,
    /// `tune.h2.header-table-size`: 4096.
    pub header_table_size: u32,
    /// The largest frame announced as accepted (to clients and servers): the buffer size
    /// (16384 at least), or `tune.h2.max-frame-size` below it (set when parsing ends).
    pub max_frame_size: u32,
    /// `tune.h2.max-frame-size` as given.
    pub max_frame_size_set: Option<u32>,
    /// `tune.h2.fe.initial-window-size` (or `tune.h2.initial-window-size`): 65535.
    pub initial_window_size: u32,
    /// `tune.h2.fe.glitches-threshold`: 0 turns the glitch limit off.
    pub glitches_threshold: u32,
    /// `tune.h2.fe.max-total-streams`: streams a connection may open before it is asked to
    /// go away (graceful GOAWAY); 0, the default, sets no limit.
    pub max_total_streams: u32,
    /// Towards servers: `tune.h2.be.initial-window-size` (HAProxy 2.8+), else
    /// `tune.h2.initial-window-size` (which HAProxy 2.6 announces to servers too): 65535.
    pub be_initial_window_size: u32,
    /// Towards servers: streams per connection at most (also capped by the server's
    /// SETTINGS): `tune.h2.be.max-concurrent-streams` (2.8+), else
    /// `tune.h2.max-concurrent-streams` (2.6 caps server connections with it too): 100;
    /// 0, no limit of our own.
    pub be_max_concurrent_streams: u32,
    /// The per-side keywords given (`fe` window, `fe` streams, `be` window, `be` streams):
    /// the common keyword does not override them, whatever the order (as in HAProxy).
    pub sides_set: [bool; 4],
}

impl Default for H2Tune {
    fn default() -> Self {
        H2Tune {
            max_concurrent_streams: 100,
            header_table_size: 4096,
            max_frame_size: 16384,
            max_frame_size_set: None,
            initial_window_size: 65535,
            glitches_threshold: 1000,
            max_total_streams: 0,
            be_initial_window_size: 65535,
            be_max_concurrent_streams: 100,
            sides_set: [false; 4],
        }
    }
}

impl Default for Global {
    fn default() -> Self {
        Global {
            maxconn: None,
            var_limits: Default::default(),
            pp2_never_send_local: false,
            experimental: false,
            h1_accept_payload_with_any_method: false,
            maxconnrate: None,
            maxsessrate: None,
            maxsslrate: None,
            maxsslconn: None,
            maxaccept: Some(DEFAULT_MAXACCEPT),
            nbthread: None,
            cpu_map: Vec::new(),
            close_spread_time: None,
            hard_stop_after: None,
            grace: None,
            pidfile: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            chroot: None,
            ulimit_n: None,
            set_dumpable: false,
            external_check: false,
            comp_maxlevel: 1,
            maxzlibmem: 0,
            logs: Vec::new(),
            log_tag: None,
            log_send_hostname: None,
            quiet: false,
            localpeer: None,
            node: None,
            bufsize: 16384,
            maxhdr: 101,
            pump: PumpKind::Auto,
            pipesize: 0,
            maxpipes: None,
            pool_high_fd_ratio: 25,
            pool_low_fd_ratio: 20,
            peers_max_updates: 200,
            spread_checks: 0,
            max_spread_checks: None,
            tls: crate::tls::options::TlsGlobals::default(),
            cli: Default::default(),
            h2: H2Tune::default(),
            h1_case_map: Default::default(),
            h1_case_file: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PumpKind {
    /// As the proxies' `option splice-*` say; by default each direction copies until it
    /// carries bulk, then splices (HAProxy's `splice-auto`).
    Auto,
    /// splice(2) through a pipe in both directions, whatever the proxies say; waits for
    /// writability by writing one byte (see proxy/pump).
    Splice,
    /// Read into a user-space buffer and write it out (the fallback).
    Copy,
}

#[derive(Clone, Debug)]
pub struct CpuMapEntry {
    pub first_thread: u32,
    /// `None` means every thread ("all").
    pub last_thread: Option<u32>,
    pub cpus: Vec<usize>,
    /// `auto:` distributes the CPUs one per thread; otherwise every thread gets the whole set.
    pub auto: bool,
    pub loc: Loc,
}

/// Where logs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDest {
    Udp(SocketAddr),
    Unix(PathBuf),
    Stdout,
    Stderr,
    /// `ring@NAME`: into the `ring` section NAME.
    Ring(String),
}

/// `log ... format F`: the header put before each message (HAProxy's names; see
/// `log::framing` for the exact shapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// No `format`: rfc3164 when `log-send-hostname` is set, else `local`.
    #[default]
    Unspec,
    Rfc3164,
    Rfc5424,
    Short,
    Raw,
    Iso,
    Timed,
    Priority,
    Local,
}

impl SyslogFormat {
    pub fn parse(s: &str) -> Option<SyslogFormat> {
        Some(match s {
            "rfc3164" => SyslogFormat::Rfc3164,
            "rfc5424" => SyslogFormat::Rfc5424,
            "short" => SyslogFormat::Short,
            "raw" => SyslogFormat::Raw,
            "iso" => SyslogFormat::Iso,
            "timed" => SyslogFormat::Timed,
            "priority" => SyslogFormat::Priority,
            "local" => SyslogFormat::Local,
            _ => return None,
        })
    }
}

/// `log ... sample RANGES:SIZE`: of every SIZE lines, those whose position (1..=SIZE) is in
/// one of the ranges are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSample {
    pub ranges: Vec<(u32, u32)>,
    pub size: u32,
}

#[derive(Clone, Debug)]
pub struct LogTarget {
    pub dest: LogDest,
    pub facility: u8,
    pub max_level: u8,
    pub min_level: u8,
    pub maxlen: usize,
    pub format: SyslogFormat,
    pub sample: Option<LogSample>,
    pub loc: Loc,
}

/// Proxy timeouts; `None` means unset (infinite), as in HAProxy.
#[derive(Clone, Debug, Default)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub queue: Option<Duration>,
    pub check: Option<Duration>,
    pub http_request: Option<Duration>,
    pub http_keep_alive: Option<Duration>,
    pub tarpit: Option<Duration>,
}

/// `proto` on a `bind`: which HTTP its connections speak before they say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BindProto {
    /// HTTP/1.x, or HTTP/2 when ALPN says h2 or (HAProxy's implicit upgrade, unless
    /// `option disable-h2-upgrade`) the first bytes are HTTP/2's connection preface.
    #[default]
    Auto,
    /// `proto h1`: HTTP/1.x only, no implicit upgrade.
    H1,
    /// `proto h2`: HTTP/2 from the first byte (h2c with prior knowledge on a plain bind; h2
    /// whatever ALPN says on an `ssl` one).
    H2,
}

/// A listening address of a `bind` line (one per port of a range).
#[derive(Clone, Debug)]
pub struct Bind {
    pub addr: super::addr::ListenAddr,
    /// `mode`, `uid`, `gid`, `user`, `group`: the file of a unix socket listener.
    pub perms: super::addr::UnixPerms,
    /// The address as written, for messages.
    pub text: String,
    pub backlog: Option<u32>,
    pub maxconn: Option<u32>,
    pub v6only: Option<bool>,
    pub defer_accept: bool,
    pub tfo: bool,
    pub interface: Option<String>,
    /// `transparent`: IP_TRANSPARENT, so that the listener may own an address that is not
    /// this host's (TPROXY redirections).
    pub transparent: bool,
    /// `namespace NAME`: the listening socket is made in that network namespace.
    pub namespace: Option<String>,
    pub mss: Option<u32>,
    /// `tcp-ut <delay>`: TCP_USER_TIMEOUT of the listening socket, which the connections it
    /// accepts inherit (how long sent data may stay unacknowledged).
    pub tcp_ut: Option<Duration>,
    pub name: Option<String>,
    /// `id N`: the listener's id (`so_id`); else the first one free in the proxy.
    pub id: Option<u32>,
    /// `accept-proxy`: a PROXY protocol header (v1 or v2) must come first.
    pub accept_proxy: bool,
    /// `accept-netscaler-cip MAGIC`: a NetScaler Client IP header with this magic comes
    /// first (after a PROXY header, if both).
    pub netscaler_cip: Option<u32>,
    /// `proto`: which HTTP the connections speak before they say.
    pub proto: BindProto,
    /// `ssl crt …`: the TLS settings of this listener, and the rustls configuration built
    /// from them once the whole file is read.
    pub tls: Option<Box<crate::tls::options::BindTls>>,
    pub tls_config: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The certificates `tls_config` serves from (which one a connection got).
    pub tls_certs: Option<std::sync::Arc<crate::tls::certs::CertStore>>,
    pub loc: Loc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    Random {
        draws: u32,
    },
    /// `balance uri`, `url_param`, `hdr()`: a hash of a part of the request (mode http);
    /// requests without that part are balanced round-robin, as in HAProxy.
    RequestHash,
}

impl Algo {
    pub fn is_hash(self) -> bool {
        matches!(self, Algo::Source | Algo::RequestHash)
    }
}

/// What `balance uri|url_param|hdr` hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// `uri [len N] [depth N] [whole] [path-only]`.
    Uri {
        len: Option<usize>,
        depth: Option<usize>,
        whole: bool,
        path_only: bool,
    },
    /// `url_param NAME [check_post]`.
    UrlParam { name: String, check_post: bool },
    /// `hdr(NAME) [use_domain_only]`.
    Header { name: String, domain_only: bool },
    /// `rdp-cookie[(NAME)]` (mode tcp): the RDP client's cookie NAME (`mstshash`).
    RdpCookie(String),
    /// `hash EXPR`: any sample expression, its first value as binary (HAProxy's cast:
    /// an integer's 8 bytes in network order, an address's 4 or 16 bytes).
    Expr(crate::acl::FetchExpr),
}

/// `cookie NAME insert|rewrite|prefix [indirect] [nocache] [postonly] [preserve] [httponly]
/// [secure] [domain D] [maxidle T] [maxlife T]`
#[derive(Clone, Debug)]
pub struct CookieCfg {
    pub name: String,
    pub mode: CookieMode,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    pub domains: Vec<String>,
    pub maxidle: Option<Duration>,
    pub maxlife: Option<Duration>,
    /// `dynamic`: a server without a `cookie` value gets one derived from
    /// `dynamic-cookie-key`, its address and port ([`super::dyncookie`]).
    pub dynamic: bool,
    pub loc: Loc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieMode {
    Insert,
    Rewrite,
    Prefix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HashType {
    #[default]
    MapBased,
    Consistent,
}

/// `hash-type … [sdbm|djb2|wt6|crc32]`: the function HAProxy hashes a key with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HashFn {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

#[derive(Clone, Debug)]
pub struct Balance {
    pub algo: Algo,
    pub hash_type: HashType,
    /// The hash function and whether HAProxy's avalanche modifier (`full_hash`) follows it:
    /// sdbm without it by default, sdbm with it for `hash-type consistent` alone.
    pub hash_fn: HashFn,
    pub avalanche: bool,
    /// What `Algo::RequestHash` hashes.
    pub key: Option<HashKey>,
    pub loc: Option<Loc>,
    /// `hash-balance-factor`: with consistent hashing, no server takes more than this
    /// percentage of the average load (0: no bound).
    pub balance_factor: u32,
}

impl Default for Balance {
    fn default() -> Self {
        Balance {
            algo: Algo::RoundRobin,
            hash_type: HashType::MapBased,
            hash_fn: HashFn::Sdbm,
            avalanche: false,
            key: None,
            loc: None,
            balance_factor: 0,
        }
    }
}

/// Where a server is: a resolved socket address, whose port may come from the client's
/// destination port when the configuration gives none.
#[derive(Clone, Debug)]
pub struct ServerAddr {
    pub text: String,
    pub ip: std::net::IpAddr,
    pub port: Option<u16>,
    /// `:+N` / `:-N`: the client's destination port plus this (then `port` is `None`).
    pub port_offset: i32,
    /// `init-addr none` (or `last` before the state file is read): no address yet; the
    /// server starts in resolution maintenance.
    pub unresolved: bool,
    /// `unix@PATH`, `/PATH`, `abns@NAME`: the server is a local socket (then `ip` and
    /// `port` are unused).
    pub path: Option<super::addr::SockPath>,
}

/// Per-server settings (also what `default-server` sets).
#[derive(Clone, Debug)]
pub struct ServerParams {
    pub weight: u32,
    pub backup: bool,
    pub disabled: bool,
    pub maxconn: u32,
    pub check: CheckParams,
    /// `send-proxy` / `send-proxy-v2`: a PROXY header goes to the server first.
    pub send_proxy: Option<ProxyVersion>,
    /// `send-proxy-v2-ssl`, `send-proxy-v2-ssl-cn`, `proxy-v2-options`: the TLVs a v2
    /// header carries besides the addresses.
    pub pp_opts: PpOpts,
    /// `proto h2`: requests go to the server as HTTP/2 streams.
    pub proto_h2: bool,
    /// `ws h1` (`Some(true)`), `ws auto` (`None`, the default): what a WebSocket request
    /// offers by ALPN to a TLS server whose `alpn` offers h2 (see `ServerTlsRt::ws_config`).
    pub ws_h1: Option<bool>,
    /// `proto` was given (`h1` too): HTTP checks then speak it, as HAProxy's inherit it,
    /// rather than what `check-alpn` negotiates.
    pub proto_given: bool,
    pub observe: Observe,
    /// `cookie VALUE`: the persistence cookie's value for this server.
    pub cookie: Option<String>,
    /// `ssl`, `check-ssl`, `verify`, `ca-file`, `sni`, `alpn`…: TLS to this server.
    pub tls: Option<Box<crate::tls::options::ServerTls>>,
    /// `resolvers`, `resolve-prefer`, `resolve-net`, `resolve-opts`, `init-addr`.
    pub dns: super::resolvers::ServerDns,
    /// `pool-max-conn`: idle connections kept for the server at most (None: HAProxy's -1,
    /// no limit but the pool's own; 0: none kept).
    pub pool_max_conn: Option<u32>,
    /// `max-reuse N`: a connection to the server carries N more requests after its first,
    /// then closes (None: HAProxy's -1, no limit; 0: one request per connection).
    pub max_reuse: Option<u32>,
    /// `socks4 ADDR:PORT`: connections to the server go through this SOCKS4 proxy (a
    /// CONNECT handshake first); `check-via-socks4`: the health checks' too.
    pub socks4: Option<std::net::SocketAddr>,
    pub check_via_socks4: bool,
    /// `tfo`: connections to the server use TCP Fast Open (TCP_FASTOPEN_CONNECT).
    pub tfo: bool,
    /// `non-stick`: connections to this server are never stored in a stick table.
    pub non_stick: bool,
    /// `tcp-ut`: TCP_USER_TIMEOUT of its connections.
    pub tcp_ut: Option<Duration>,
    /// `pool-purge-delay`: how long an idle connection is kept (5 s; 0: none is kept).
    pub pool_purge_delay: Duration,
    /// `maxqueue N`: at most N requests wait in this server's own queue (0 = no limit).
    pub maxqueue: u32,
    /// `minconn N`: with `maxconn`, the dynamic limit's floor (see `fullconn`).
    pub minconn: u32,
    /// `slowstart T`: after coming back up, weight and connection limit ramp up over T.
    pub slowstart: Option<Duration>,
    /// `track [BACKEND/]SERVER`: the state follows that server's checks.
    pub track: Option<(Option<String>, String)>,
    /// `track`'s server as (proxy, server) indices, once resolved.
    pub track_ref: Option<(usize, usize)>,
    /// `agent-check`, `agent-port`, `agent-addr`, `agent-inter`, `agent-send`.
    pub agent: AgentParams,
    /// `redir PREFIX`: GET and HEAD requests for this server get a 302 to PREFIX + path.
    pub redir: Option<String>,
    /// `source ADDR[:PORT]`: the local address of connections to this server.
    pub source: Option<std::net::SocketAddr>,
    /// `source ADDR:LOW-HIGH`: each connection (and check) takes a free port of the range,
    /// as HAProxy's `port_range` (server lines only, as in HAProxy).
    pub source_ports: Option<(u16, u16)>,
    /// `source … usesrc …` and `source … interface NAME` on the server line.
    pub usesrc: Option<UseSrc>,
    pub interface: Option<String>,
    /// `namespace NAME`: connections (and checks) are made in that network namespace.
    pub namespace: Option<String>,
}

/// `usesrc`: the address a connection to a server presents instead of one of this host's
/// (full transparent proxying, IP_TRANSPARENT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UseSrc {
    /// `usesrc ADDR[:PORT]`.
    Addr(std::net::SocketAddr),
    /// `usesrc client`: the client's address and port.
    Client,
    /// `usesrc clientip`: the client's address, a port of the system's choosing.
    ClientIp,
}

/// The agent check of a server: a TCP connection to the agent every `inter`, which
/// answers one line of weight, health and admin words.
#[derive(Clone, Debug, Default)]
pub struct AgentParams {
    pub enabled: bool,
    pub port: Option<u16>,
    pub addr: Option<String>,
    /// `agent-addr`, resolved (else the server's address).
    pub ip: Option<std::net::IpAddr>,
    /// `agent-inter` (else 2 s, HAProxy's default).
    pub inter: Option<Duration>,
    pub send: Option<String>,
}

impl Default for ServerParams {
    fn default() -> Self {
        ServerParams {
            weight: 1,
            backup: false,
            disabled: false,
            maxconn: 0,
            check: CheckParams::default(),
            send_proxy: None,
            pp_opts: PpOpts::default(),
            proto_h2: false,
            ws_h1: None,
            proto_given: false,
            observe: Observe::default(),
            cookie: None,
            tls: None,
            dns: Default::default(),
            pool_max_conn: None,
            max_reuse: None,
            socks4: None,
            check_via_socks4: false,
            tfo: false,
            non_stick: false,
            tcp_ut: None,
            pool_purge_delay: Duration::from_secs(5),
            maxqueue: 0,
            minconn: 0,
            slowstart: None,
            track: None,
            track_ref: None,
            agent: AgentParams::default(),
            redir: None,
            source: None,
            source_ports: None,
            usesrc: None,
            interface: None,
            namespace: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// What a PROXY v2 header to a server carries besides the addresses (HAProxy's
/// `SRV_PP_V2_*` options): a set of the flags below. Only a v2 header carries them; with
/// `send-proxy` (v1) they are kept and unused, as in HAProxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpOpts(pub u8);

impl PpOpts {
    /// The SSL TLV (`send-proxy-v2-ssl`, `proxy-v2-options ssl`).
    pub const SSL: u8 = 1;
    /// Its CN sub-TLV: the client certificate's Common Name (`cert-cn`).
    pub const SSL_CN: u8 = 2;
    /// Its cipher sub-TLV (`ssl-cipher`).
    pub const SSL_CIPHER: u8 = 4;
    /// Its signature-algorithm sub-TLV, of the frontend's certificate (`cert-sig`).
    pub const SSL_SIG_ALG: u8 = 8;
    /// Its key-algorithm sub-TLV, of the frontend's certificate (`cert-key`).
    pub const SSL_KEY_ALG: u8 = 16;
    /// The AUTHORITY TLV: the SNI the client sent (`authority`).
    pub const AUTHORITY: u8 = 32;
    /// The CRC32C TLV (`crc32c`).
    pub const CRC32C: u8 = 64;
    /// The UNIQUE_ID TLV: the frontend's `unique-id-format` (`unique-id`).
    pub const UNIQUE_ID: u8 = 128;

    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// The flags one `proxy-v2-options` word sets, as HAProxy's `srv_parse_proxy_v2_options`
    /// (every SSL detail brings the SSL TLV with it); `None` for a word it does not know.
    pub fn option(word: &str) -> Option<u8> {
        Some(match word {
            "ssl" => Self::SSL,
            "cert-cn" => Self::SSL | Self::SSL_CN,
            "cert-key" => Self::SSL | Self::SSL_KEY_ALG,
            "cert-sig" => Self::SSL | Self::SSL_SIG_ALG,
            "ssl-cipher" => Self::SSL | Self::SSL_CIPHER,
            "authority" => Self::AUTHORITY,
            "crc32c" => Self::CRC32C,
            "unique-id" => Self::UNIQUE_ID,
            _ => return None,
        })
    }
}

/// Health-check settings of a server (HAProxy's defaults: inter 2s, rise 2, fall 3).
#[derive(Clone, Debug)]
pub struct CheckParams {
    pub enabled: bool,
    pub inter: Duration,
    /// Interval while the server is transitioning (defaults to `inter`).
    pub fastinter: Option<Duration>,
    /// Interval while the server is down (defaults to `inter`).
    pub downinter: Option<Duration>,
    pub rise: u32,
    pub fall: u32,
    pub port: Option<u16>,
    pub addr: Option<String>,
    /// `check-send-proxy`: checks start with a PROXY header (the version of `send-proxy*`,
    /// v1 if none).
    pub send_proxy: bool,
    /// `check-sni`: the name checks over TLS send.
    pub sni: Option<String>,
    /// `check-proto h1|h2|none`: the protocol of checks whatever `proto` and ALPN say.
    pub proto: Option<CheckProto>,
    /// The TLS client configuration of checks when it is not the traffic's (built with the
    /// server's): with `check-sni`'s name, offering `check-alpn`'s protocols instead of
    /// `alpn`'s.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The TLS client configuration of an `http-check connect ssl` (the server's TLS
    /// settings, offering the rule's `alpn`).
    pub connect_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `on-marked-down shutdown-sessions`: a check marking the server down closes its
    /// connections.
    pub down_shutdown_sessions: bool,
    /// `on-marked-up shutdown-backup-sessions`: a check marking this (active) server up
    /// closes the connections of the backend's backup servers.
    pub up_shutdown_backup_sessions: bool,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            enabled: false,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
            send_proxy: false,
            sni: None,
            proto: None,
            tls: None,
            connect_tls: None,
            down_shutdown_sessions: false,
            up_shutdown_backup_sessions: false,
        }
    }
}

/// `check-proto`: what a server's checks speak (HAProxy's multiplexer names corelb has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckProto {
    /// `h1`: HTTP/1.1 (an HTTP check).
    H1,
    /// `h2`: HTTP/2 (an HTTP check): h2c on a plain connection, h2 over `check-ssl`.
    H2,
    /// `none`: bytes as they are (a TCP check).
    None,
}

/// `observe layer4` with `on-error` and `error-limit`: live traffic errors count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observe {
    pub layer4: bool,
    pub on_error: OnError,
    pub error_limit: u32,
}

impl Default for Observe {
    fn default() -> Self {
        Observe {
            layer4: false,
            on_error: OnError::FastInter,
            error_limit: 10,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Check again at `fastinter` (HAProxy's default).
    FastInter,
    /// Count as a failed check.
    FailCheck,
    /// One more failure marks the server down.
    SuddenDeath,
    /// Mark the server down at once.
    MarkDown,
}

#[derive(Clone, Debug)]
pub struct Server {
    pub name: String,
    pub addr: ServerAddr,
    pub params: ServerParams,
    pub id: Option<u32>,
    /// Resolved `addr` of the check, when it differs from the server's address.
    pub check_ip: Option<std::net::IpAddr>,
    /// The rustls client configuration built from `params.tls` once the file is read.
    pub tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `sni`: the name sent to the server, fixed or computed per connection.
    pub tls_sni: Option<ServerSni>,
    pub loc: Loc,
}

/// `server … sni EXPR`.
#[derive(Clone, Debug)]
pub enum ServerSni {
    /// `sni str(NAME)`.
    Fixed(String),
    /// A sample expression (`req.hdr(host)`, `ssl_fc_sni`…), as the log-format `%[EXPR]`.
    Expr(crate::acl::LogFormat),
}

/// What a health check does (`option httpchk`, `option tcp-check`, or a plain connect).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckKind {
    /// Connected means healthy.
    #[default]
    Connect,
    /// The request of `http_check`, judged by its `expect` rules.
    Http,
    /// The `tcp_check` rules, run in order.
    Tcp,
    /// `option external-check`: the proxy's `external-check command`, run as a process.
    External,
}

/// `external-check command` / `external-check path` of a proxy, and where `option
/// external-check` was set (for the errors about a missing command or global keyword).
#[derive(Clone, Debug, Default)]
pub struct ExternalCheck {
    pub command: Option<String>,
    /// The `PATH` of the command's environment: empty without `external-check path`.
    pub path: Option<String>,
    pub loc: Option<Loc>,
}

#[derive(Clone, Debug)]
pub struct HttpCheck {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// `http-check expect` rules (all must pass); empty means "2xx or 3xx".
    pub expect: Vec<Expect>,
    /// `http-check disable-on-404`: a 404 from an up server puts it in NOLB (no new
    /// traffic, still up).
    pub disable_on_404: bool,
    /// `http-check connect …`: how the check connects (one rule, before the request).
    pub connect: Option<CheckConnect>,
    /// An `http-check send` or `expect` rule was read (a `connect` after them would start a
    /// second sequence).
    pub rules_seen: bool,
}

/// The options of `http-check connect` (HAProxy 2.6's tcpcheck connect rule).
#[derive(Clone, Debug, Default)]
pub struct CheckConnect {
    /// `default`: the server's check parameters (check port and address, `check-ssl`,
    /// `check-send-proxy`, `check-sni`, `check-alpn`, `check-proto`) unless given here.
    pub default: bool,
    pub port: Option<u16>,
    pub addr: Option<std::net::IpAddr>,
    pub send_proxy: bool,
    pub ssl: bool,
    pub sni: Option<String>,
    pub alpn: Option<Vec<Vec<u8>>>,
    /// `linger`: close with a FIN; without it the check's connection ends with a reset, as
    /// HAProxy's (SO_LINGER 0).
    pub linger: bool,
    pub proto: Option<CheckProto>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: Vec::new(),
            body: String::new(),
            expect: Vec::new(),
            disable_on_404: false,
            connect: None,
            rules_seen: false,
        }
    }
}

/// An `expect` rule of http-check / tcp-check.
#[derive(Clone, Debug)]
pub struct Expect {
    pub negate: bool,
    pub matcher: ExpectMatch,
}

#[derive(Clone, Debug)]
pub enum ExpectMatch {
    /// Status codes (http) — several with `status 200,301` or a range `200-399`.
    Status(Vec<(u16, u16)>),
    StatusRegex(Regex),
    /// A string in the body (http) or in the data read (tcp).
    String(Vec<u8>),
    Regex(Regex),
    Binary(Vec<u8>),
}

/// A compiled regular expression that remembers its source (for messages and Debug).
#[derive(Clone)]
pub struct Regex(pub regex::bytes::Regex);

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

#[derive(Clone, Debug)]
pub enum TcpCheckRule {
    Connect {
        port: Option<u16>,
        send_proxy: bool,
    },
    Send(Vec<u8>),
    Expect(Expect),
    /// A step of a predefined check (`option redis-check`, …; see `check_presets`).
    Preset(super::check_presets::Step),
}

/// A reference to a backend by name, resolved to an index after parsing, with the
/// condition of a `use_backend NAME if|unless COND` line.
#[derive(Clone, Debug)]
pub struct BackendRef {
    pub name: String,
    pub index: usize,
    pub cond: Option<crate::acl::Cond>,
    pub loc: Loc,
    /// `use_backend be_%[var(txn.x)]`: the name is rendered per request (`index` is unused);
    /// a name that matches no backend sends the request to the default backend, as in
    /// HAProxy (see `config::switching`).
    pub dynamic: Option<crate::acl::LogFormat>,
}

/// A proxy's `tcp-request` rules and `tcp-request inspect-delay`. Rules of a named
/// defaults section come first (they run before the proxy's own, as in HAProxy).
#[derive(Clone, Debug, Default)]
pub struct TcpRequest {
    /// How long `content` rules may hold the client's first bytes waiting to decide
    /// (none: they decide on what is there at once).
    pub inspect_delay: Option<Duration>,
    /// At accept, before anything is read: layer-4 conditions only.
    pub connection: Vec<TcpRule>,
    /// After the PROXY header and the TLS handshake.
    pub session: Vec<TcpRule>,
    /// On the client's first bytes (mode tcp) or each request (mode http).
    pub content: Vec<TcpRule>,
}

/// `tcp-response`: rules on the server's first bytes.
#[derive(Clone, Debug, Default)]
pub struct TcpResponse {
    /// How long the rules may hold the server's first bytes waiting to decide.
    pub inspect_delay: Option<Duration>,
    pub content: Vec<TcpRule>,
}

/// One `tcp-request connection|session|content ACTION [if|unless COND]` rule.
#[derive(Clone, Debug)]
pub struct TcpRule {
    pub action: TcpAction,
    pub cond: Option<crate::acl::Cond>,
    pub loc: Loc,
}

/// What a `tcp-request` rule does when its condition holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpAction {
    /// Stops the rule set: the connection goes on.
    Accept,
    /// Closes the connection.
    Reject,
    /// `tcp-response content close`: closes the server's connection.
    Close,
    /// Closes the connection with a reset and no FIN (HAProxy's `silent-drop`).
    SilentDrop,
    /// `expect-proxy layer4` (connection rules only): read a PROXY header first.
    ExpectProxy,
    /// `set-var(V) EXPR`, `set-var-fmt(V) FMT`, `unset-var(V)`: the rules go on.
    Var(crate::acl::VarAction),
    /// `track-scN KEY [table T]`, `sc-inc-gpc0/1(N)`, `sc-set-gpt0(N) VALUE`: the rules go
    /// on. Connection and session rules track on the connection, content rules on the
    /// stream (HAProxy's `sess->stkctr` and `s->stkctr`).
    Stick(crate::acl::StickAction),
    /// `set-src`, `set-src-port`, `set-dst`, `set-dst-port EXPR`: at connection level the
    /// connection's addresses (`fc_src` too), later the session's or the stream's.
    SetAddr(AddrPart, crate::acl::FetchExpr),
    /// `tcp-request content capture EXPR len N` (content rules of a frontend only): the
    /// first value of EXPR, as a string cut to `len`, goes into the frontend's request
    /// capture slot `id`, made for it while the rule was read (`%hr`, `capture.req.hdr(N)`).
    Capture {
        expr: crate::acl::FetchExpr,
        id: usize,
        len: usize,
    },
    /// `tcp-request content do-resolve(VAR,RESOLVERS[,FAMILY]) EXPR` (content rules only):
    /// the rules wait for the address, as `http-request do-resolve`.
    DoResolve(Box<super::resolvers::DoResolve>),
    /// `set-mark MARK` (every rule set): SO_MARK of the client connection, set when the
    /// rule runs (connection and session rules) or once the content rules have decided.
    SetMark(u32),
    /// `set-tos TOS` (every rule set): IP_TOS (IPV6_TCLASS) of the client connection.
    SetTos(u8),
    /// `tcp-request content switch-mode http [proto NAME]` (a frontend's content rules):
    /// stops the rules; a mode tcp stream goes on as HTTP (its requests parsed, the
    /// frontend's and the backend's HTTP rules run), speaking the protocol `proto` names
    /// (without: HTTP/1, or HTTP/2 on its preface). An HTTP stream is one already.
    SwitchHttp(BindProto),
    /// `tcp-request content set-log-level LEVEL`: the stream's log line goes at this level
    /// (0 emerg … 7 debug), or not at all (-1, `silent`); a later `http-request
    /// set-log-level` wins.
    SetLogLevel(i8),
    /// `tcp-request content set-nice N` (-1024…1024): accepted, and changes nothing — see
    /// [`HttpAction::SetNice`].
    SetNice(i32),
    /// `tcp-request content set-priority-class EXPR` (`class`) or `set-priority-offset
    /// EXPR`: the stream's rank if it waits in a queue (see [`HttpAction::SetPriority`]).
    SetPriority {
        class: bool,
        expr: crate::acl::FetchExpr,
    },
}

/// An `http-request` / `http-response` rule (and the old `redirect` keyword).
#[derive(Clone, Debug)]
pub struct HttpRule {
    pub action: HttpAction,
    pub cond: Option<crate::acl::Cond>,
    pub loc: Loc,
}

pub use crate::acl::AddrPart;

/// What a rule does. Values are HAProxy log-format expressions (`%[src]`, `%[req.hdr(h)]`).
#[derive(Clone, Debug)]
pub enum HttpAction {
    /// Stops evaluating this proxy's rules of the same kind.
    Allow,
    /// Answers with `status` (403 by default), or `body` when given.
    Deny {
        status: u16,
        reply: Option<Reply>,
    },
    /// Answers directly.
    Return(Reply),
    Redirect(Redirect),
    SetHeader(String, crate::acl::LogFormat),
    AddHeader(String, crate::acl::LogFormat),
    DelHeader(String),
    /// `del-header NAME -m beg|end|sub|reg`.
    DelHeaders(HeaderNames),
    /// Each value of the header matching the regex gets the replacement (`\1` references).
    ReplaceHeader(String, Regex, String),
    SetPath(crate::acl::LogFormat),
    SetQuery(crate::acl::LogFormat),
    SetUri(crate::acl::LogFormat),
    SetMethod(crate::acl::LogFormat),
    /// `http-response set-status CODE [reason R]`.
    SetStatus(u16, Option<String>),
    /// Seed 004: a request that must not be replayed (`retry-on`) on another server.
    DisableL7Retry,
    /// `use-service prometheus-exporter`: corelb answers with its metrics.
    UsePrometheus,
    /// `track-scN KEY [table T]`, `sc-inc-gpc0(N)`, `sc-set-gpt0(N) VALUE`.
    Stick(super::stick::StickAction),
    /// `set-var(V) EXPR`, `set-var-fmt(V) FMT`, `unset-var(V)`.
    Var(crate::acl::VarAction),
    /// `silent-drop`: the client connection disappears (a reset meant not to reach it).
    SilentDrop,
    /// `set-log-level LEVEL`: the transaction's log line goes at this syslog level (0
    /// emerg … 7 debug), or not at all (`silent`, -1). The last matching rule wins.
    SetLogLevel(i8),
    /// `set-tos TOS`: IP_TOS (IPV6_TCLASS) of the client connection's packets.
    SetTos(u8),
    /// `set-mark MARK`: SO_MARK of the client connection (for policy routing).
    SetMark(u32),
    /// `set-nice N` (-1024…1024): in HAProxy, the stream task's place in its thread's run
    /// queue. Accepted and without effect in corelb: a shard runs each connection as a task
    /// of one glommio task queue, which takes tasks in the order they woke, without a
    /// per-task priority to change (docs/http.md).
    SetNice(i32),
    /// `http-request set-priority-class EXPR` (`class`, -2047…2047) or `set-priority-offset
    /// EXPR` (ms, -524287…524287): the transaction's rank if it waits in a backend's or a
    /// server's queue — the lower class first, then the earlier arrival plus offset
    /// (HAProxy's queue order); fetches `prio_class`, `prio_offset`.
    SetPriority {
        class: bool,
        expr: crate::acl::FetchExpr,
    },
    /// `http-request reject`: the client connection closes with a reset, unanswered.
    Reject,
    /// `set-pathq FMT`: the path and the query.
    SetPathQ(crate::acl::LogFormat),
    /// `replace-uri|replace-path|replace-pathq REGEX FMT`: when the regex matches that part
    /// of the target, the part becomes FMT rendered, its `\N` references replaced by the
    /// match's groups (HAProxy's `exp_replace`: what the regex did not match is not kept).
    ReplaceTarget(TargetPart, Regex, crate::acl::LogFormat),
    /// `tarpit [deny_status N] ...`: like `deny` (500 by default), answered after holding the
    /// client for `timeout tarpit` (else `timeout connect`).
    Tarpit {
        status: u16,
        reply: Option<Reply>,
    },
    /// `auth [realm R]`: the proxy's 401 page with `WWW-Authenticate: Basic realm="R"`
    /// (the realm defaults to the proxy's name).
    Auth(String),
    /// `do-resolve(VAR,RESOLVERS[,FAMILY]) EXPR`: the request waits for the address.
    DoResolve(Box<super::resolvers::DoResolve>),
    /// `set-src`, `set-src-port`, `set-dst`, `set-dst-port EXPR`: the stream's client or
    /// destination address (or port) from then on: what `src`/`dst` fetch, the log, `option
    /// forwardfor`, `balance source` and the PROXY header see; a server at 0.0.0.0 (or port
    /// 0) connects to the destination.
    SetAddr(AddrPart, crate::acl::FetchExpr),
    /// `http-request cache-use NAME`: answer from the cache section NAME when it holds the
    /// object (see `config::filters`).
    CacheUse(String),
    /// `http-response cache-store NAME`: keep the answer in the cache section NAME.
    CacheStore(String),
    /// `http-request capture EXPR id N | len N`: the first value of EXPR goes into the
    /// frontend's request capture slot `id` (`%hr`, `capture.req.hdr(N)`); `len N` made a
    /// new slot of that length while the rule was read (`new_len`). In `http-response`
    /// (`id N` only), the frontend's response slot `id` (`%hs`, `capture.res.hdr(N)`).
    Capture {
        expr: crate::acl::FetchExpr,
        id: usize,
        new_len: Option<usize>,
    },
    /// `http-response wait-for-body time T [at-least N]`: the response's rules wait (up to
    /// `time`) for its whole body, or `at_least` bytes of it, or a full buffer, so that
    /// `res.body*` see it; past `time` the client gets a 504, as in HAProxy 2.6.
    WaitForBody {
        time: std::time::Duration,
        at_least: u64,
    },
    /// `http-request set-timeout server|tunnel T|EXPR`: this stream's `timeout server` (or
    /// `timeout tunnel`) from then on; an expression gives milliseconds (0: none), and one
    /// that yields no integer leaves the timeout as it was.
    SetTimeout {
        tunnel: bool,
        value: TimeoutValue,
    },
    /// `replace-value NAME REGEX FMT`: in each field NAME, each comma-separated value the
    /// regex matches becomes FMT rendered, its `\N` references replaced by the match's
    /// groups (HAProxy's `exp_replace`: the whole value is replaced).
    ReplaceValue(String, Regex, crate::acl::LogFormat),
    /// `http-request normalize-uri NORMALIZER [full|strict]`: the target's path, query or
    /// both rewritten (see `h1::UriNormalizer`); a `strict` one answers 400 to a bad `%`.
    NormalizeUri(crate::h1::UriNormalizer),
    /// `http-request wait-for-handshake`: nothing to do, as corelb accepts no TLS early
    /// data (0-RTT) and so reads every request after the handshake.
    WaitForHandshake,
    /// `strict-mode on|off`: whether a rewrite that fails (after it, in this rule set) stops
    /// the transaction with a 500 (`on`, the default at the start of each rule set) or is
    /// skipped (`off`).
    StrictMode(bool),
    /// `http-request early-hint NAME FMT`: a field of a 103 Early Hints interim response
    /// sent to the client before the server is asked; adjacent rules make one 103.
    EarlyHint(String, crate::acl::LogFormat),
    /// `set-map(FILE) KEY VALUE`, `del-map(FILE) KEY`, `add-acl(FILE) PATTERN`,
    /// `del-acl(FILE) PATTERN`: the file's shared entries change for every shard.
    PatRef(crate::acl::patref::PatAction),
}

/// The value of a `set-timeout` rule.
#[derive(Clone, Debug)]
pub enum TimeoutValue {
    /// A time written in the rule.
    Fixed(std::time::Duration),
    /// An expression giving milliseconds.
    Expr(crate::acl::FetchExpr),
}

/// Which part of the request-target a `replace-*` rule works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetPart {
    /// The whole target as received (`replace-uri`).
    Uri,
    /// The path without the query (`replace-path`).
    Path,
    /// The path and the query (`replace-pathq`).
    PathQ,
}

/// A complete answer built by `return`, `deny` and the like.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: ReplyBody,
    pub headers: Vec<(String, crate::acl::LogFormat)>,
}

#[derive(Clone, Debug)]
pub enum ReplyBody {
    /// No body.
    Empty,
    /// The built-in (or `errorfile`) page of the status.
    ErrorPage,
    Text(crate::acl::LogFormat),
    /// A file read at load time.
    File(std::sync::Arc<[u8]>),
    /// A complete HTTP response (`errorfile FILE`, or a section's page), sent as it is.
    Raw(std::sync::Arc<[u8]>),
    /// `errorfiles NAME`: the section's page for the status, until the sections are read.
    Section(String),
}

/// The names a `del-header NAME -m beg|end|sub|reg` removes. HAProxy 2.6 keeps names in
/// lowercase (HTX): it compares the strings ignoring case, and runs the (case-sensitive)
/// regex on the lowercase name, so `^X-` removes nothing.
#[derive(Clone, Debug)]
pub enum HeaderNames {
    Beg(String),
    End(String),
    Sub(String),
    Reg(Regex),
}

impl crate::h1::NameFilter for HeaderNames {
    fn matches(&self, name: &[u8]) -> bool {
        let fits = |p: &String| p.len() <= name.len();
        match self {
            HeaderNames::Beg(p) => fits(p) && name[..p.len()].eq_ignore_ascii_case(p.as_bytes()),
            HeaderNames::End(p) => {
                fits(p) && name[name.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
            }
            HeaderNames::Sub(p) => {
                // (The parser refuses an empty name, which `windows` would not take.)
                !p.is_empty()
                    && (name.windows(p.len())).any(|w| w.eq_ignore_ascii_case(p.as_bytes()))
            }
            HeaderNames::Reg(re) => re.0.is_match(&name.to_ascii_lowercase()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: crate::acl::LogFormat,
    pub code: u16,
    pub drop_query: bool,
    pub append_slash: bool,
    /// `set-cookie NAME[=VALUE]` / `clear-cookie NAME[=]`: the whole value of the
    /// Set-Cookie field the redirect carries, as HAProxy makes it.
    pub cookie: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    Location,
    Prefix,
    Scheme,
}

/// `option http-restrict-req-hdr-names preserve|delete|reject`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestrictHdrNames {
    /// Kept (the default).
    #[default]
    Preserve,
    /// Removed from the request.
    Delete,
    /// The request is denied (403, as an `http-request deny`).
    Reject,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub redispatch: Option<i32>,
    pub tcplog: bool,
    pub dontlognull: bool,
    /// `option http-ignore-probes`: empty connections (browsers' pre-connects) are not
    /// answered, logged or counted.
    pub http_ignore_probes: bool,
    /// `option tcp-smart-accept` (`Some(true)`) or `no option tcp-smart-accept`
    /// (`Some(false)`); unset, on for mode http and TLS binds, as in HAProxy.
    pub tcp_smart_accept: Option<bool>,
    /// `option http-use-proxy-header` (frontend): `http-request auth` answers a proxy's
    /// request (an absolute URI, CONNECT) 407 with `Proxy-Authenticate`.
    pub http_use_proxy_header: bool,
    /// `option idle-close-on-response`: on a soft stop, idle HTTP/1 connections stay open
    /// until their next request, answered with `Connection: close`.
    pub idle_close_on_response: bool,
    /// `option disable-h2-upgrade`: no implicit upgrade of an HTTP/1 connection that starts
    /// with HTTP/2's preface.
    pub disable_h2_upgrade: bool,
    /// `option http-restrict-req-hdr-names`: what becomes of a request header whose name
    /// holds a byte outside `[A-Za-z0-9-]`, after this proxy's `http-request` rules.
    pub restrict_req_hdr_names: RestrictHdrNames,
    /// `option accept-invalid-http-request` (frontend): HAProxy's relaxed request parser
    /// (any byte but CR, LF and `:` in a field name; non-ASCII bytes and `#` in the target).
    pub accept_invalid_http_request: bool,
    /// `option accept-invalid-http-response` (backend): the same for field names in the
    /// servers' responses.
    pub accept_invalid_http_response: bool,
    /// `option h1-case-adjust-bogus-client` (frontend): the global `h1-case-adjust`
    /// spellings on the response heads sent to HTTP/1 clients.
    pub h1_case_adjust_client: bool,
    /// `option h1-case-adjust-bogus-server` (backend): the same on the request heads sent
    /// to HTTP/1 servers.
    pub h1_case_adjust_server: bool,
    /// `option independent-streams`: on this proxy's side of a mode tcp connection, only
    /// what is read counts as activity for its timeout (not what is written to it).
    pub independent_streams: bool,
    /// `option contstats` (frontend): a mode tcp connection's bytes are counted in the
    /// stats as they move, not only when it ends.
    pub contstats: bool,
    pub clitcpka: bool,
    pub srvtcpka: bool,
    /// `clitcpka-cnt/idle/intvl`: the client side's keep-alive probes (with `clitcpka`).
    pub clitcpka_tune: TcpKa,
    /// `srvtcpka-cnt/idle/intvl`: the server side's (with `srvtcpka`).
    pub srvtcpka_tune: TcpKa,
    /// `option nolinger`: connections on this side close with a reset (SO_LINGER 0).
    pub nolinger: bool,
    /// `option abortonclose`: a request still waiting for a server (in a queue, or for its
    /// connection to be established) is aborted when its client closes.
    pub abortonclose: bool,
    /// `option checkcache`: a response a shared cache could store (safe method, cacheable
    /// status, Cache-Control/Pragma, freshness or validator) that sets a cookie is blocked.
    pub checkcache: bool,
    /// `option transparent` (a backend's, without `balance`): what the balancing would
    /// place goes to the address the client connected to (a cookie or `use-server` still
    /// names a server).
    pub transparent: bool,
    /// `option prefer-last-server`: a keep-alive client's next request goes to the server
    /// of its previous one while that server is usable (non-hash balancing only).
    pub prefer_last_server: bool,
    /// `option persist`: the persistence cookie may name a server that is down.
    pub persist: bool,
    /// `option http-buffer-request`: a request's body is waited for (up to the buffer)
    /// before the request is processed.
    pub http_buffer_request: bool,
    pub allbackups: bool,
    pub log_health_checks: bool,
    pub splice: SpliceOptions,
    /// `option socket-stats`: counters and stats rows per `bind` (listener).
    pub socket_stats: bool,
}

/// `option splice-auto|splice-request|splice-response` of one proxy. corelb's defaults
/// carry `option splice-auto`; as in HAProxy, an option set on the frontend or on the
/// backend applies to the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpliceOptions {
    pub auto: bool,
    pub request: bool,
    pub response: bool,
}

impl Default for SpliceOptions {
    fn default() -> Self {
        SpliceOptions {
            auto: true,
            request: false,
            response: false,
        }
    }
}

/// The logging settings of a proxy: `log global` copies the global targets.
#[derive(Clone, Debug, Default)]
pub struct ProxyLog {
    pub use_global: bool,
    pub targets: Vec<LogTarget>,
}

/// A `defaults`, `frontend`, `backend` or `listen` section.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub name: String,
    pub kind: Kind,
    pub loc: Loc,
    pub mode: Mode,
    pub disabled: bool,
    /// `load-server-state-from-file` and `server-state-file-name`.
    pub load_state: super::cli::LoadState,
    pub state_file_name: Option<String>,
    pub binds: Vec<Bind>,
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    /// `rate-limit sessions N`: new sessions per second the frontend accepts.
    pub rate_limit_sessions: Option<u32>,
    pub timeouts: Timeouts,
    pub default_backend: Option<BackendRef>,
    pub use_backends: Vec<BackendRef>,
    pub balance: Balance,
    pub servers: Vec<Server>,
    pub default_server: ServerParams,
    pub retries: u32,
    pub options: Options,
    pub log: ProxyLog,
    /// `log-format`, captures and the built-in formats (see `config::logging`).
    pub logging: super::logging::LogFormats,
    pub fullconn: Option<u32>,
    /// `max-keep-alive-queue`: a kept connection's server is left for balancing when it is
    /// full with this many requests queued (`None`: never, HAProxy's -1).
    pub max_keep_alive_queue: Option<u32>,
    /// `dispatch <addr>:<port>` as written, with its line.
    pub dispatch: Option<(String, Loc)>,
    /// The nameless server `dispatch` became (the last of `servers`), which takes every
    /// connection the balancing would (set by validation when no `balance` is given).
    pub dispatch_server: Option<usize>,
    /// `source ADDR[:PORT] [usesrc …] [interface NAME]`: the local address of connections
    /// to the servers (a server's own `source` replaces all three).
    pub source: Option<std::net::SocketAddr>,
    pub source_usesrc: Option<UseSrc>,
    pub source_interface: Option<String>,
    /// `email-alert` lines as written, and what they resolve to once the `mailers`
    /// sections are known (complete settings only).
    pub email_alert_conf: super::mailers::EmailAlertConf,
    pub email_alert: Option<super::mailers::EmailAlert>,
    pub id: Option<u32>,
    pub check: CheckKind,
    pub http_check: HttpCheck,
    pub tcp_check: Vec<TcpCheckRule>,
    pub external_check: ExternalCheck,
    pub http: HttpOptions,
    /// Named ACLs of this proxy (conditions refer to them). Shared only while parsing the
    /// section; a section made from a defaults section starts with an empty table.
    pub acls: std::sync::Arc<crate::acl::Acls>,
    /// Where each `acl` line was, by name (for messages found after parsing).
    pub acl_lines: Vec<(String, Loc)>,
    /// While a rule is parsed, where it runs (a mask of `acl::placement::ckp`, 0 outside
    /// rules): the fetches of its formats and expressions must have something to say there.
    pub rule_place: u32,
    /// Whether a global `expose-experimental-directives` came before this line.
    pub experimental: bool,
    pub http_request: Vec<HttpRule>,
    pub http_response: Vec<HttpRule>,
    /// `http-after-response`: run on every answer, the server's and corelb's own.
    pub http_after_response: Vec<HttpRule>,
    pub tcp_request: TcpRequest,
    /// `tcp-response inspect-delay` and `tcp-response content` (backends).
    pub tcp_response: TcpResponse,
    /// The old `redirect` keyword: evaluated after the http-request rules, as in HAProxy.
    pub redirects: Vec<HttpRule>,
    /// `monitor fail if|unless COND`: monitor-uri answers 503 when it holds.
    pub monitor_fail: Option<crate::acl::Cond>,
    pub cookie: Option<CookieCfg>,
    /// `dynamic-cookie-key`: the secret of `cookie … dynamic`.
    pub dynamic_cookie_key: Option<String>,
    pub stats: StatsCfg,
    /// `stick-table ...` (the table is named after the proxy).
    pub stick_table: Option<super::stick::StickTableCfg>,
    /// `stick on|match|store-request ...`, in order.
    pub stick_rules: Vec<super::stick::StickRule>,
    /// `use-server SERVER [if|unless COND]`, in order.
    pub use_servers: Vec<UseServer>,
    /// `force-persist|ignore-persist if|unless COND` of a backend, in order: the first
    /// whose condition holds decides.
    pub persist_rules: Vec<PersistRule>,
    /// An `http-response wait-for-body` rule is among `http_response` (derived at the end
    /// of the parse: responses of proxies without one skip the scan).
    pub waits_for_body: bool,
    /// An `http-request wait-for-body` rule is among `http_request` (derived as
    /// `waits_for_body`: requests of frontends that cannot meet one skip the scan).
    pub waits_for_req_body: bool,
    /// `persist rdp-cookie[(NAME)]`: a client whose RDP cookie NAME (`msts`) encodes a
    /// server's IPv4 address and port goes back to that server.
    pub persist_rdp: Option<String>,
    /// `compression algo|type|offload` (see `config::filters`).
    pub compression: Option<super::filters::Compression>,
    /// `filter compression|cache NAME`, in order.
    pub filters: Vec<super::filters::Filter>,
}

/// A `force-persist` (`force`) or `ignore-persist` line of a backend.
#[derive(Clone, Debug)]
pub struct PersistRule {
    /// `force-persist`: the persistence cookie and `use-server` may name a server that is
    /// down or in maintenance. `ignore-persist`: the cookie is ignored.
    pub force: bool,
    pub cond: crate::acl::Cond,
}

/// A `use-server SERVER [if|unless COND]` line of a backend.
#[derive(Clone, Debug)]
pub struct UseServer {
    pub server: String,
    pub cond: Option<crate::acl::Cond>,
    pub loc: Loc,
}

/// The proxy's stats page: `stats enable|uri|realm|auth|refresh|admin|hide-version|
/// show-legends|show-node|show-desc|scope`. Any of them but `admin` enables the page, as
/// in HAProxy; a frontend or backend takes its defaults section's settings.
#[derive(Clone, Debug, Default)]
pub struct StatsCfg {
    pub enabled: bool,
    /// The URI prefix (HAProxy's default `/haproxy?stats`).
    pub uri: Option<String>,
    pub realm: Option<String>,
    /// `stats auth user:password` lines; with none, the page needs no login.
    pub auth: Vec<(String, String)>,
    pub refresh: Option<Duration>,
    /// `stats admin if|unless COND`: when it holds, the page's actions are allowed.
    pub admin: Option<crate::acl::Cond>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-node [NAME]` (empty: the global `node`).
    pub show_node: Option<String>,
    /// `stats show-desc [TEXT]`.
    pub show_desc: Option<String>,
    /// `stats scope PROXY` lines: the proxies shown (all without any; `.` is this one).
    pub scope: Vec<String>,
}

impl StatsCfg {
    pub const DEFAULT_URI: &str = "/haproxy?stats";
    pub const DEFAULT_REALM: &str = "HAProxy Statistics";

    pub fn uri(&self) -> &str {
        self.uri.as_deref().unwrap_or(Self::DEFAULT_URI)
    }
}

/// How connections are kept in mode http (`option http-keep-alive`, the default;
/// `http-server-close`; `httpclose`). The most closing one of frontend and backend wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ConnMode {
    #[default]
    KeepAlive,
    ServerClose,
    Close,
}

/// `http-reuse`: which idle server connections a request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a.parse().map_err(|_| format!("invalid network '{s}'"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => {
                if let Ok(n) = p.parse::<u8>() {
                    n
                } else if let Ok(std::net::IpAddr::V4(m)) = p.parse::<std::net::IpAddr>() {
                    // Dotted masks: 255.0.0.0.
                    let bits = u32::from(m);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return Err(format!("invalid netmask in '{s}'"));
                    }
                    bits.leading_ones() as u8
                } else {
                    return Err(format!("invalid prefix length in '{s}'"));
                }
            }
        };
        if prefix > max {
            return Err(format!("invalid prefix length in '{s}'"));
        }
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::*;
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(n), V4(a)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & m == u32::from(a) & m
            }
            (V6(n), V6(a)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

/// `option forwardfor [except NET] [header NAME] [if-none]` and `option originalto`.
#[derive(Clone, Debug)]
pub struct AddrHeader {
    pub header: String,
    pub except: Option<IpNet>,
    pub if_none: bool,
}

/// `retry-on` keywords as bits.
pub mod retry_on {
    pub const CONN_FAILURE: u32 = 1;
    pub const EMPTY_RESPONSE: u32 = 1 << 1;
    pub const JUNK_RESPONSE: u32 = 1 << 2;
    pub const RESPONSE_TIMEOUT: u32 = 1 << 3;
    pub const ZERO_RTT_REJECTED: u32 = 1 << 4;
    pub const S404: u32 = 1 << 5;
    pub const S408: u32 = 1 << 6;
    pub const S425: u32 = 1 << 7;
    pub const S500: u32 = 1 << 8;
    pub const S501: u32 = 1 << 9;
    pub const S502: u32 = 1 << 10;
    pub const S503: u32 = 1 << 11;
    pub const S504: u32 = 1 << 12;
    /// HAProxy's `all-retryable-errors`.
    pub const ALL_RETRYABLE: u32 = CONN_FAILURE
        | EMPTY_RESPONSE
        | JUNK_RESPONSE
        | RESPONSE_TIMEOUT
        | ZERO_RTT_REJECTED
        | S500
        | S502
        | S503
        | S504;
    pub const NAMES: &[(&str, u32)] = &[
        ("none", 0),
        ("conn-failure", CONN_FAILURE),
        ("empty-response", EMPTY_RESPONSE),
        ("junk-response", JUNK_RESPONSE),
        ("response-timeout", RESPONSE_TIMEOUT),
        ("0rtt-rejected", ZERO_RTT_REJECTED),
        ("404", S404),
        ("408", S408),
        ("425", S425),
        ("500", S500),
        ("501", S501),
        ("502", S502),
        ("503", S503),
        ("504", S504),
        ("all-retryable-errors", ALL_RETRYABLE),
    ];
    pub fn status_bit(status: u16) -> u32 {
        match status {
            404 => S404,
            408 => S408,
            425 => S425,
            500 => S500,
            501 => S501,
            502 => S502,
            503 => S503,
            504 => S504,
            _ => 0,
        }
    }
}

/// HTTP settings of a proxy.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub conn_mode: ConnMode,
    /// `http-send-name-header NAME` (backend): the request sent to a server carries the
    /// server's name in this field, in place of any the client sent.
    pub send_name_header: Option<String>,
    pub httplog: bool,
    pub forwardfor: Option<AddrHeader>,
    pub originalto: Option<AddrHeader>,
    pub reuse: Reuse,
    /// The error pages: complete HTTP responses, built once every section is read from
    /// `error_conf` (see `config::errors`).
    pub errorfiles: Vec<(u16, std::sync::Arc<[u8]>)>,
    /// The pages rendered per response (`http-error ... lf-string|lf-file`); a status is
    /// in this list or in `errorfiles`, never both.
    pub lf_errors: Vec<(u16, std::sync::Arc<Reply>)>,
    /// `errorfile`, `errorfiles`, `errorloc*`, `http-error`, in the order written.
    pub error_conf: Vec<super::errors::ErrorConf>,
    pub monitor_uri: Option<String>,
    /// `retry-on` bits (default `conn-failure`).
    pub retry_on: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            conn_mode: ConnMode::KeepAlive,
            send_name_header: None,
            httplog: false,
            forwardfor: None,
            originalto: None,
            reuse: Reuse::Safe,
            errorfiles: Vec::new(),
            lf_errors: Vec::new(),
            error_conf: Vec::new(),
            monitor_uri: None,
            retry_on: retry_on::CONN_FAILURE,
        }
    }
}

impl Proxy {
    /// Parses a rule that runs at `place` (a mask of `acl::placement::ckp`), its fetches
    /// checked against it ([`Proxy::rule_place`]).
    pub fn parsed_at<T>(&mut self, place: u32, parse: impl FnOnce(&Proxy) -> T) -> T {
        self.rule_place = place;
        let r = parse(self);
        self.rule_place = 0;
        r
    }

    pub fn new(name: &str, kind: Kind, loc: Loc) -> Self {
        Proxy {
            name: name.to_string(),
            kind,
            loc,
            mode: Mode::Tcp,
            disabled: false,
            load_state: Default::default(),
            state_file_name: None,
            binds: Vec::new(),
            maxconn: None,
            backlog: None,
            rate_limit_sessions: None,
            timeouts: Timeouts::default(),
            default_backend: None,
            use_backends: Vec::new(),
            balance: Balance::default(),
            servers: Vec::new(),
            default_server: ServerParams::default(),
            retries: 3,
            options: Options::default(),
            log: ProxyLog::default(),
            logging: Default::default(),
            fullconn: None,
            max_keep_alive_queue: None,
            dispatch: None,
            dispatch_server: None,
            source: None,
            source_usesrc: None,
            source_interface: None,
            email_alert_conf: Default::default(),
            email_alert: None,
            id: None,
            check: CheckKind::Connect,
            http_check: HttpCheck::default(),
            tcp_check: Vec::new(),
            external_check: ExternalCheck::default(),
            http: HttpOptions::default(),
            acls: std::sync::Arc::new(crate::acl::Acls::new()),
            acl_lines: Vec::new(),
            rule_place: 0,
            experimental: false,
            http_request: Vec::new(),
            http_response: Vec::new(),
            http_after_response: Vec::new(),
            tcp_request: TcpRequest::default(),
            tcp_response: TcpResponse::default(),
            redirects: Vec::new(),
            monitor_fail: None,
            dynamic_cookie_key: None,
            cookie: None,
            stats: StatsCfg::default(),
            stick_table: None,
            stick_rules: Vec::new(),
            use_servers: Vec::new(),
            persist_rules: Vec::new(),
            persist_rdp: None,
            waits_for_body: false,
            waits_for_req_body: false,
            compression: None,
            filters: Vec::new(),
        }
    }

    /// A new section that starts from the settings of a `defaults` section, as HAProxy copies
    /// them: everything but binds, servers and backend references.
    pub fn from_defaults(def: &Proxy, name: &str, kind: Kind, loc: Loc) -> Self {
        let mut p = def.clone();
        p.name = name.to_string();
        p.kind = kind;
        p.loc = loc;
        p.binds.clear();
        p.servers.clear();
        p.use_backends.clear();
        p.id = None;
        p.acls = std::sync::Arc::new(crate::acl::Acls::new());
        p.acl_lines.clear();
        p.http_request.clear();
        p.http_response.clear();
        p.http_after_response.clear();
        p.redirects.clear();
        p.monitor_fail = None;
        p.stick_table = None;
        p.stick_rules.clear();
        p.filters.clear();
        p.disabled = false;
        p.logging.req_captures.clear();
        p.logging.res_captures.clear();
        p.logging.cookie = None;
        if !kind.is_frontend() {
            p.default_backend = None;
        }
        p
    }
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub global: Global,
    /// Every frontend, backend and listen section, in file order.
    pub proxies: Vec<Proxy>,
    pub files: Vec<PathBuf>,
    /// `resolvers` sections, in file order.
    pub resolvers: Vec<super::resolvers::Resolvers>,
    /// `cache` sections, in file order.
    pub caches: Vec<super::filters::CacheSection>,
    /// `mailers` sections, in file order.
    pub mailers: Vec<super::mailers::Mailers>,
    /// `ring` sections, in file order.
    pub rings: Vec<super::ring::Ring>,
    /// `log-forward` sections, in file order.
    pub log_forwards: Vec<super::log_forward::LogForward>,
    /// `peers` sections, in file order.
    pub peers: Vec<super::peers::Peers>,
    /// The local peer's name (see [`super::peers::local_name`]).
    pub localpeer: String,
    /// The map and ACL files the configuration loaded, shared by the shards and changed
    /// through the stats socket and `set-map`-like rules (see `acl::patref`).
    pub pat_refs: Vec<std::sync::Arc<crate::acl::patref::PatRef>>,
}

impl Config {
    pub fn frontends(&self) -> impl Iterator<Item = (usize, &Proxy)> {
        self.proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.is_frontend())
    }

    pub fn backends(&self) -> impl Iterator<Item = (usize, &Proxy)> {
        self.proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.is_backend())
    }

    pub fn proxy_by_name(&self, name: &str, backend: bool) -> Option<usize> {
        self.proxies.iter().position(|p| {
            p.name == name
                && if backend {
                    p.kind.is_backend()
                } else {
                    p.kind.is_frontend()
                }
        })
    }
}

/// TCP keep-alive probe settings (`clitcpka-*`, `srvtcpka-*`); unset ones keep the
/// system's (net.ipv4.tcp_keepalive_*).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpKa {
    /// TCP_KEEPCNT: probes before the connection is dropped.
    pub cnt: Option<u32>,
    /// TCP_KEEPIDLE: idle time before the first probe.
    pub idle: Option<Duration>,
    /// TCP_KEEPINTVL: time between probes.
    pub intvl: Option<Duration>,
}

impl TcpKa {
    /// Turns SO_KEEPALIVE on for `sock` with these settings.
    pub fn apply(&self, sock: &socket2::Socket) -> std::io::Result<()> {
        let mut ka = socket2::TcpKeepalive::new();
        if let Some(t) = self.idle {
            ka = ka.with_time(t);
        }
        if let Some(t) = self.intvl {
            ka = ka.with_interval(t);
        }
        if let Some(n) = self.cnt {
            ka = ka.with_retries(n);
        }
        sock.set_keepalive(true)?;
        // (socket2 sets only what was given.)
        sock.set_tcp_keepalive(&ka)
    }
}
