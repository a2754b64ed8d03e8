//! HAProxy's Prometheus exporter (`http-request use-service prometheus-exporter`), over a
//! [`Snapshot`]: the `haproxy_{process,frontend,backend,server}_*` families with HAProxy
//! 2.6's names, types, help texts and labels, in its order (process, frontends, backends,
//! servers; each family's series together), then corelb's own `corelb_shard_*` families.
//! A family with no series (e.g. HTTP families when every proxy is in mode tcp) is left out.

use super::snapshot::{Info, ShardInfo};
use super::{ObjType, Row, Snapshot, Val, f};
use crate::cluster::check_status::unstarred;
use std::fmt::Write as _;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// What the query string asks for (`scope=…` repeated, `no-maint`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub global: bool,
    pub frontend: bool,
    pub listener: bool,
    pub backend: bool,
    pub server: bool,
    pub no_maint: bool,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            global: true,
            frontend: true,
            listener: true,
            backend: true,
            server: true,
            no_maint: false,
        }
    }
}

impl Query {
    fn scopes(&mut self, on: bool) {
        (
            self.global,
            self.frontend,
            self.listener,
            self.backend,
            self.server,
        ) = (on, on, on, on, on);
    }

    /// Parses a query string as HAProxy's promex does: the first `scope=` restricts to the
    /// scopes named (repeatable, `*` for all), an empty `scope=` removes them all (only
    /// later ones count); `no-maint` leaves out servers in maintenance.
    pub fn parse(q: &str) -> Query {
        let mut out = Query::default();
        let mut scoped = false;
        for kv in q.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "scope" => {
                    if !scoped {
                        scoped = true;
                        out.scopes(false);
                    }
                    match v {
                        "" => out.scopes(false),
                        "*" => out.scopes(true),
                        "global" => out.global = true,
                        "frontend" => out.frontend = true,
                        "listener" => out.listener = true,
                        "backend" => out.backend = true,
                        "server" => out.server = true,
                        _ => {} // unknown scopes
                    }
                }
                "no-maint" => out.no_maint = true,
                _ => {}
            }
        }
        out
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// Where a family's value comes from.
#[derive(Clone, Copy)]
enum Src {
    /// A stat field as is.
    F(usize),
    /// A stat field in milliseconds, exported in seconds.
    Ms(usize),
    /// `status`: one series per state, 1 for the current one.
    Status,
    /// `http_responses_total`: one series per `code` class.
    Responses,
    /// `check_status`: one series per check status name.
    CheckStatus,
    /// The backend's count of servers per state (`agg_server_status`).
    AggServers,
    /// The backend's count of servers per check status.
    AggChecks,
}

use Kind::*;
use Src::*;

type Family = (&'static str, Kind, Src, &'static str);

const SESS_CUR: &str = "Number of current sessions on the frontend, backend or server";
const SESS_MAX: &str = "Highest value of current sessions encountered since process started";
const SESS_LIM: &str = "Frontend/listener/server's maxconn, backend's fullconn";
const SESS_TOT: &str = "Total number of sessions since process started";
const BIN: &str = "Total number of request bytes since process started";
const BOUT: &str = "Total number of response bytes since process started";
const DREQ: &str = "Total number of denied requests since process started";
const DRESP: &str = "Total number of denied responses since process started";
const STATUS: &str = "Current status of the service, per state label value.";
const RATE_MAX: &str =
    "Highest value of sessions per second observed since the worker process started";
const HRSP: &str = "Total number of HTTP responses with status 100-199 returned by this object since the worker process started";
const REQ_TOT: &str =
    "Total number of HTTP requests processed by this object since the worker process started";
const COMP_IN: &str = "Total number of bytes submitted to the HTTP compressor for this object since the worker process started";
const COMP_OUT: &str = "Total number of bytes emitted by the HTTP compressor for this object since the worker process started";
const COMP_BYP: &str = "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)";
const COMP_RSP: &str = "Total number of HTTP responses that were compressed for this object since the worker process started";
const WREW: &str = "Total number of failed HTTP header rewrites since the worker process started";
const CACHE_LOOKUPS: &str = "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started";
const CACHE_HITS: &str = "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started";
const EINT: &str = "Total number of internal errors since process started";
const QCUR: &str = "Number of current queued connections";
const QMAX: &str = "Highest value of queued connections encountered since process started";
const ECON: &str = "Total number of failed connections to server since the worker process started";
const ERESP: &str = "Total number of invalid responses since the worker process started";
const WRETR: &str = "Total number of server connection retries since the worker process started";
const WREDIS: &str = "Total number of server redispatches due to connection failures since the worker process started";
const WEIGHT: &str =
    "Server's effective weight, or sum of active servers' effective weights for a backend";
const UWEIGHT: &str = "Server's user weight, or sum of active servers' user weights for a backend";
const CHKDOWN: &str = "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started";
const LASTCHG: &str = "How long ago the last server state changed, in seconds";
const DOWNTIME: &str = "Total time spent in DOWN state, for server or backend";
const LBTOT: &str = "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)";
const CLI_ABRT: &str = "Total number of requests or connections aborted by the client since the worker process started";
const SRV_ABRT: &str = "Total number of requests or connections aborted by the server since the worker process started";
const LASTSESS: &str =
    "How long ago some traffic was seen on this object on this worker process, in seconds";
const QTIME: &str = "Avg. queue time for last 1024 successful connections.";
const CTIME: &str = "Avg. connect time for last 1024 successful connections.";
const RTIME: &str = "Avg. response time for last 1024 successful connections.";
const TTIME: &str = "Avg. total time for last 1024 successful connections.";
const CONNECT: &str = "Total number of outgoing connection attempts on this backend/server since the worker process started";
const REUSE: &str =
    "Total number of reused connection on this backend/server since the worker process started";
const QTIME_MAX: &str = "Maximum observed time spent in the queue";
const CTIME_MAX: &str = "Maximum observed time spent waiting for a connection to complete";
const RTIME_MAX: &str = "Maximum observed time spent waiting for a server response";
const TTIME_MAX: &str =
    "Maximum observed total request+response time (request+queue+connect+response+processing)";

/// Families frontends and listeners share, in HAProxy's order (each scope's list below
/// interleaves them with its own): sessions, bytes, denials, errors and status, …
static FE_SESSIONS: &[Family] = &[
    ("current_sessions", Gauge, F(f::SCUR), SESS_CUR),
    ("max_sessions", Gauge, F(f::SMAX), SESS_MAX),
    ("limit_sessions", Gauge, F(f::SLIM), SESS_LIM),
    ("sessions_total", Counter, F(f::STOT), SESS_TOT),
    ("bytes_in_total", Counter, F(f::BIN), BIN),
    ("bytes_out_total", Counter, F(f::BOUT), BOUT),
    ("requests_denied_total", Counter, F(f::DREQ), DREQ),
    ("responses_denied_total", Counter, F(f::DRESP), DRESP),
    (
        "request_errors_total",
        Counter,
        F(f::EREQ),
        "Total number of invalid requests since process started",
    ),
    ("status", Gauge, Status, STATUS),
];
/// … the connections and sessions `tcp-request` rules refused, and header rewrites.
static FE_DENIED: &[Family] = &[
    (
        "denied_connections_total",
        Counter,
        F(f::DCON),
        "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
    ),
    (
        "denied_sessions_total",
        Counter,
        F(f::DSES),
        "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
    ),
    ("failed_header_rewriting_total", Counter, F(f::WREW), WREW),
];
static INTERNAL_ERRORS: &[Family] = &[("internal_errors_total", Counter, F(f::EINT), EINT)];

static FRONTEND: &[&[Family]] = &[
    FE_SESSIONS,
    &[
        (
            "limit_session_rate",
            Gauge,
            F(f::RATE_LIM),
            "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",
        ),
        ("max_session_rate", Gauge, F(f::RATE_MAX), RATE_MAX),
        ("http_responses_total", Counter, Responses, HRSP),
        (
            "http_requests_rate_max",
            Gauge,
            F(f::REQ_RATE_MAX),
            "Highest value of http requests observed since the worker process started",
        ),
        ("http_requests_total", Counter, F(f::REQ_TOT), REQ_TOT),
        ("http_comp_bytes_in_total", Counter, F(f::COMP_IN), COMP_IN),
        (
            "http_comp_bytes_out_total",
            Counter,
            F(f::COMP_OUT),
            COMP_OUT,
        ),
        (
            "http_comp_bytes_bypassed_total",
            Counter,
            F(f::COMP_BYP),
            COMP_BYP,
        ),
        (
            "http_comp_responses_total",
            Counter,
            F(f::COMP_RSP),
            COMP_RSP,
        ),
        (
            "connections_rate_max",
            Gauge,
            F(f::CONN_RATE_MAX),
            "Highest value of connections per second observed since the worker process started",
        ),
        (
            "connections_total",
            Counter,
            F(f::CONN_TOT),
            "Total number of new connections accepted on this frontend since the worker process started",
        ),
        (
            "intercepted_requests_total",
            Counter,
            F(f::INTERCEPTED),
            "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started",
        ),
    ],
    FE_DENIED,
    &[
        (
            "http_cache_lookups_total",
            Counter,
            F(f::CACHE_LOOKUPS),
            CACHE_LOOKUPS,
        ),
        (
            "http_cache_hits_total",
            Counter,
            F(f::CACHE_HITS),
            CACHE_HITS,
        ),
    ],
    INTERNAL_ERRORS,
];

/// `haproxy_listener_*` (`option socket-stats`), HAProxy 2.6's list and order.
static LISTENER: &[&[Family]] = &[FE_SESSIONS, FE_DENIED, INTERNAL_ERRORS];

/// Families backends and servers share, in HAProxy's order; each scope's list below
/// interleaves them with its own.
static QUEUE_SESSIONS_BYTES: &[Family] = &[
    ("current_queue", Gauge, F(f::QCUR), QCUR),
    ("max_queue", Gauge, F(f::QMAX), QMAX),
    ("current_sessions", Gauge, F(f::SCUR), SESS_CUR),
    ("max_sessions", Gauge, F(f::SMAX), SESS_MAX),
    ("limit_sessions", Gauge, F(f::SLIM), SESS_LIM),
    ("sessions_total", Counter, F(f::STOT), SESS_TOT),
    ("bytes_in_total", Counter, F(f::BIN), BIN),
    ("bytes_out_total", Counter, F(f::BOUT), BOUT),
];
static ERRORS_STATUS: &[Family] = &[
    ("responses_denied_total", Counter, F(f::DRESP), DRESP),
    ("connection_errors_total", Counter, F(f::ECON), ECON),
    ("response_errors_total", Counter, F(f::ERESP), ERESP),
    ("retry_warnings_total", Counter, F(f::WRETR), WRETR),
    ("redispatch_warnings_total", Counter, F(f::WREDIS), WREDIS),
    ("status", Gauge, Status, STATUS),
    ("weight", Gauge, F(f::WEIGHT), WEIGHT),
];
static CHECK_CHANGES: &[Family] = &[
    ("check_up_down_total", Counter, F(f::CHKDOWN), CHKDOWN),
    ("check_last_change_seconds", Gauge, F(f::LASTCHG), LASTCHG),
    ("downtime_seconds_total", Counter, F(f::DOWNTIME), DOWNTIME),
];
static ABORTS: &[Family] = &[
    ("client_aborts_total", Counter, F(f::CLI_ABRT), CLI_ABRT),
    ("server_aborts_total", Counter, F(f::SRV_ABRT), SRV_ABRT),
];
static TIMES_CONNECTIONS: &[Family] = &[
    ("last_session_seconds", Gauge, F(f::LASTSESS), LASTSESS),
    ("queue_time_average_seconds", Gauge, Ms(f::QTIME), QTIME),
    ("connect_time_average_seconds", Gauge, Ms(f::CTIME), CTIME),
    ("response_time_average_seconds", Gauge, Ms(f::RTIME), RTIME),
    ("total_time_average_seconds", Gauge, Ms(f::TTIME), TTIME),
    ("failed_header_rewriting_total", Counter, F(f::WREW), WREW),
    ("connection_attempts_total", Counter, F(f::CONNECT), CONNECT),
    ("connection_reuses_total", Counter, F(f::REUSE), REUSE),
];
static MAX_TIMES: &[Family] = &[
    ("max_queue_time_seconds", Gauge, Ms(f::QTIME_MAX), QTIME_MAX),
    (
        "max_connect_time_seconds",
        Gauge,
        Ms(f::CTIME_MAX),
        CTIME_MAX,
    ),
    (
        "max_response_time_seconds",
        Gauge,
        Ms(f::RTIME_MAX),
        RTIME_MAX,
    ),
    ("max_total_time_seconds", Gauge, Ms(f::TTIME_MAX), TTIME_MAX),
    ("internal_errors_total", Counter, F(f::EINT), EINT),
];

static BACKEND: &[&[Family]] = &[
    QUEUE_SESSIONS_BYTES,
    &[("requests_denied_total", Counter, F(f::DREQ), DREQ)],
    ERRORS_STATUS,
    &[
        (
            "active_servers",
            Gauge,
            F(f::ACT),
            "Total number of active UP servers with a non-zero weight",
        ),
        (
            "backup_servers",
            Gauge,
            F(f::BCK),
            "Total number of backup UP servers with a non-zero weight",
        ),
    ],
    CHECK_CHANGES,
    &[
        ("loadbalanced_total", Counter, F(f::LBTOT), LBTOT),
        ("max_session_rate", Gauge, F(f::RATE_MAX), RATE_MAX),
        ("http_responses_total", Counter, Responses, HRSP),
        ("http_requests_total", Counter, F(f::REQ_TOT), REQ_TOT),
    ],
    ABORTS,
    &[
        ("http_comp_bytes_in_total", Counter, F(f::COMP_IN), COMP_IN),
        (
            "http_comp_bytes_out_total",
            Counter,
            F(f::COMP_OUT),
            COMP_OUT,
        ),
        (
            "http_comp_bytes_bypassed_total",
            Counter,
            F(f::COMP_BYP),
            COMP_BYP,
        ),
        (
            "http_comp_responses_total",
            Counter,
            F(f::COMP_RSP),
            COMP_RSP,
        ),
    ],
    TIMES_CONNECTIONS,
    &[
        (
            "http_cache_lookups_total",
            Counter,
            F(f::CACHE_LOOKUPS),
            CACHE_LOOKUPS,
        ),
        (
            "http_cache_hits_total",
            Counter,
            F(f::CACHE_HITS),
            CACHE_HITS,
        ),
    ],
    MAX_TIMES,
    &[
        ("uweight", Gauge, F(f::UWEIGHT), UWEIGHT),
        (
            "agg_server_status",
            Gauge,
            AggServers,
            "Backend's aggregated gauge of servers' status",
        ),
        (
            "agg_server_check_status",
            Gauge,
            AggServers,
            "Backend's aggregated gauge of servers' state check status",
        ),
        (
            "agg_check_status",
            Gauge,
            AggChecks,
            "Backend's aggregated gauge of servers' state check status",
        ),
    ],
];

static SERVER: &[&[Family]] = &[
    QUEUE_SESSIONS_BYTES,
    ERRORS_STATUS,
    &[(
        "check_failures_total",
        Counter,
        F(f::CHKFAIL),
        "Total number of failed individual health checks per server/backend, since the worker process started",
    )],
    CHECK_CHANGES,
    &[
        (
            "queue_limit",
            Gauge,
            F(f::QLIMIT),
            "Limit on the number of connections in queue, for servers only (maxqueue argument)",
        ),
        ("loadbalanced_total", Counter, F(f::LBTOT), LBTOT),
        ("max_session_rate", Gauge, F(f::RATE_MAX), RATE_MAX),
        (
            "check_status",
            Gauge,
            CheckStatus,
            "Status of last health check, per state label value.",
        ),
        (
            "check_code",
            Gauge,
            F(f::CHECK_CODE),
            "layer5-7 code, if available of the last health check.",
        ),
        (
            "check_duration_seconds",
            Gauge,
            Ms(f::CHECK_DURATION),
            "Total duration of the latest server health check, in seconds.",
        ),
        ("http_responses_total", Counter, Responses, HRSP),
    ],
    ABORTS,
    TIMES_CONNECTIONS,
    &[
        (
            "idle_connections_current",
            Gauge,
            F(f::SRV_ICUR),
            "Current number of idle connections available for reuse on this server",
        ),
        (
            "idle_connections_limit",
            Gauge,
            F(f::SRC_ILIM),
            "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)",
        ),
    ],
    MAX_TIMES,
    &[
        (
            "unsafe_idle_connections_current",
            Gauge,
            F(f::IDLE_CONN_CUR),
            "Current number of unsafe idle connections",
        ),
        (
            "safe_idle_connections_current",
            Gauge,
            F(f::SAFE_CONN_CUR),
            "Current number of safe idle connections",
        ),
        (
            "used_connections_current",
            Gauge,
            F(f::USED_CONN_CUR),
            "Current number of connections in use",
        ),
        ("uweight", Gauge, F(f::UWEIGHT), UWEIGHT),
    ],
];

/// Server states of `haproxy_server_status`, in HAProxy's order.
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
/// Check states of `haproxy_server_check_status`, in HAProxy's order (the ones corelb
/// never produces are 0).
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// The exposition of `s` for query `q`.
pub fn render(s: &Snapshot, q: &Query) -> String {
    let mut out = String::with_capacity(32 * 1024);
    if q.global {
        process(&s.info, &mut out);
    }
    // A scope's rows with their labels, written once for all its families.
    let rows = |t: ObjType| -> Vec<(&Row, String)> {
        s.rows
            .iter()
            .filter(|r| r.obj == t && !(q.no_maint && r.status() == "MAINT"))
            .map(|r| (r, labels(r)))
            .collect()
    };
    if q.frontend {
        let rows = rows(ObjType::Frontend);
        for fam in FRONTEND.iter().copied().flatten() {
            family("frontend", fam, &rows, s, &mut out);
        }
    }
    if q.listener {
        let rows = rows(ObjType::Listener);
        for fam in LISTENER.iter().copied().flatten() {
            family("listener", fam, &rows, s, &mut out);
        }
    }
    if q.backend {
        let rows = rows(ObjType::Backend);
        for fam in BACKEND.iter().copied().flatten() {
            family("backend", fam, &rows, s, &mut out);
        }
    }
    if q.server {
        let rows = rows(ObjType::Server);
        for fam in SERVER.iter().copied().flatten() {
            family("server", fam, &rows, s, &mut out);
        }
    }
    if q.global {
        shards(&s.info.shards, &mut out);
    }
    out
}

fn head(out: &mut String, name: &str, kind: Kind, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(
        out,
        "# TYPE {name} {}",
        match kind {
            Counter => "counter",
            Gauge => "gauge",
        }
    );
}

/// A label value with `\`, `"` and line feeds escaped.
fn esc(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

fn labels(r: &Row) -> String {
    match r.obj {
        ObjType::Server => format!("proxy=\"{}\",server=\"{}\"", esc(r.name()), esc(r.svname())),
        ObjType::Listener => format!(
            "proxy=\"{}\",listener=\"{}\"",
            esc(r.name()),
            esc(r.svname())
        ),
        _ => format!("proxy=\"{}\"", esc(r.name())),
    }
}

fn family(
    scope: &str,
    (suffix, kind, src, help): &Family,
    rows: &[(&Row, String)],
    snap: &Snapshot,
    out: &mut String,
) {
    let name = format!("haproxy_{scope}_{suffix}");
    let mut body = String::new();
    match *src {
        F(k) | Ms(k) => {
            for (r, l) in rows {
                let v = match r.get(k) {
                    Val::U(v) => *v as f64,
                    Val::S(v) => *v as f64,
                    _ => continue,
                };
                let v = if matches!(src, Ms(_)) { v / 1000.0 } else { v };
                let _ = writeln!(body, "{name}{{{}}} {v}", l);
            }
        }
        Status => {
            for (r, l) in rows {
                let st = r.status();
                let cur = match r.obj {
                    ObjType::Server => server_state(st),
                    ObjType::Listener => st,
                    _ if st == "OPEN" || st == "UP" => "UP",
                    _ => "DOWN",
                };
                let states: &[&str] = match r.obj {
                    ObjType::Server => &SERVER_STATES,
                    ObjType::Listener => &["WAITING", "OPEN", "FULL"],
                    _ => &["DOWN", "UP"],
                };
                for s in states {
                    let _ = writeln!(body, "{name}{{{},state=\"{s}\"}} {}", l, (*s == cur) as u8);
                }
            }
        }
        Responses => {
            let classes = [
                (f::HRSP_1XX, "1xx"),
                (f::HRSP_2XX, "2xx"),
                (f::HRSP_3XX, "3xx"),
                (f::HRSP_4XX, "4xx"),
                (f::HRSP_5XX, "5xx"),
                (f::HRSP_OTHER, "other"),
            ];
            for (k, code) in classes {
                for (r, l) in rows {
                    if let Some(v) = r.get(k).u() {
                        let _ = writeln!(body, "{name}{{{},code=\"{code}\"}} {v}", l);
                    }
                }
            }
        }
        CheckStatus => {
            for (r, l) in rows {
                let Some(cur) = r.get(f::CHECK_STATUS).str().map(unstarred) else {
                    continue;
                };
                for s in CHECK_STATES {
                    let _ = writeln!(body, "{name}{{{},state=\"{s}\"}} {}", l, (s == cur) as u8);
                }
            }
        }
        AggServers | AggChecks => {
            for (r, l) in rows {
                let servers = snap
                    .rows
                    .iter()
                    .filter(|x| x.obj == ObjType::Server && x.proxy == r.proxy);
                if matches!(src, AggServers) {
                    let mut n = [0u64; 5];
                    for x in servers {
                        let st = server_state(x.status());
                        n[SERVER_STATES.iter().position(|s| *s == st).unwrap_or(0)] += 1;
                    }
                    for (s, c) in SERVER_STATES.iter().zip(n) {
                        let _ = writeln!(body, "{name}{{{},state=\"{s}\"}} {c}", l);
                    }
                } else {
                    let mut n = [0u64; 16];
                    for x in servers {
                        if let Some(st) = x.get(f::CHECK_STATUS).str().map(unstarred)
                            && let Some(i) = CHECK_STATES.iter().position(|s| *s == st)
                        {
                            n[i] += 1;
                        }
                    }
                    for (s, c) in CHECK_STATES.iter().zip(n) {
                        let _ = writeln!(body, "{name}{{{},state=\"{s}\"}} {c}", l);
                    }
                }
            }
        }
    }
    if !body.is_empty() {
        head(out, &name, *kind, help);
        out.push_str(&body);
    }
}

/// The `state` label of a server's status field (`UP 1/3` is UP, `no check` is UP).
fn server_state(st: &str) -> &'static str {
    match st.split(' ').next().unwrap_or("") {
        "MAINT" => "MAINT",
        "DRAIN" => "DRAIN",
        "NOLB" => "NOLB",
        "DOWN" => "DOWN",
        _ => "UP",
    }
}

fn process(i: &Info, out: &mut String) {
    let one =
        |out: &mut String, suffix: &str, kind: Kind, help: &str, v: &dyn std::fmt::Display| {
            let name = format!("haproxy_process_{suffix}");
            head(out, &name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        };
    one(
        out,
        "nbthread",
        Gauge,
        "Number of started threads (global.nbthread)",
        &i.nbthread,
    );
    one(
        out,
        "nbproc",
        Gauge,
        "Number of started worker processes (historical, always 1)",
        &1,
    );
    one(
        out,
        "relative_process_id",
        Gauge,
        "Relative worker process number (1)",
        &1,
    );
    one(
        out,
        "uptime_seconds",
        Gauge,
        "How long ago this worker process was started (seconds)",
        &i.uptime,
    );
    one(
        out,
        "max_fds",
        Gauge,
        "Hard limit on the number of per-process file descriptors",
        &i.max_fds,
    );
    one(
        out,
        "max_sockets",
        Gauge,
        "Hard limit on the number of per-process sockets",
        &i.max_fds,
    );
    one(
        out,
        "max_connections",
        Gauge,
        "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",
        &i.maxconn,
    );
    one(
        out,
        "hard_max_connections",
        Gauge,
        "Initial Maximum number of concurrent connections",
        &i.maxconn,
    );
    one(
        out,
        "current_connections",
        Gauge,
        "Current number of connections on this worker process",
        &i.curr_conns,
    );
    one(
        out,
        "connections_total",
        Counter,
        "Total number of connections on this worker process since started",
        &i.cum_conns,
    );
    one(
        out,
        "requests_total",
        Counter,
        "Total number of requests on this worker process since started",
        &i.cum_req,
    );
    one(
        out,
        "ssl_connections_total",
        Counter,
        "Total number of SSL endpoints on this worker process since started (front+back)",
        &i.ssl_conns,
    );
    one(
        out,
        "max_pipes",
        Gauge,
        "Hard limit on the number of pipes for splicing, 0=unlimited",
        &i.max_pipes,
    );
    one(
        out,
        "current_connection_rate",
        Gauge,
        "Current number of connections per second on last elapsed second",
        &i.conn_rate,
    );
    one(
        out,
        "limit_connection_rate",
        Gauge,
        "Hard limit for ConnRate (global.maxconnrate)",
        &0,
    );
    one(
        out,
        "current_session_rate",
        Gauge,
        "Current number of sessions per second on last elapsed second",
        &i.conn_rate,
    );
    one(
        out,
        "limit_session_rate",
        Gauge,
        "Hard limit for SessRate (global.maxsessrate)",
        &0,
    );
    // corelb has no `maxsslrate`: no limit, which HAProxy exports as 0 too.
    one(
        out,
        "limit_ssl_rate",
        Gauge,
        "Hard limit for SslRate (global.maxsslrate)",
        &0,
    );
    one(
        out,
        "stopping",
        Gauge,
        "Non-zero means stopping is in progress",
        &(i.stopping as u8),
    );
    one(
        out,
        "jobs",
        Gauge,
        "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)",
        &(i.curr_conns as u64 + i.listeners as u64),
    );
    one(
        out,
        "listeners",
        Gauge,
        "Current number of active listeners on the current worker process",
        &i.listeners,
    );
    one(
        out,
        "dropped_logs_total",
        Counter,
        "Total number of dropped logs for current worker process since started",
        &i.dropped_logs,
    );
    one(
        out,
        "bytes_out_total",
        Counter,
        "Total number of bytes emitted by current worker process since started",
        &i.bytes_out,
    );
    one(
        out,
        "spliced_bytes_out_total",
        Counter,
        "Total number of bytes emitted by current worker process through a kernel pipe since started",
        &i.spliced_bytes_out,
    );
    let name = "haproxy_process_build_info";
    head(out, name, Gauge, "Build info");
    let _ = writeln!(out, "{name}{{version=\"{}\"}} 1", esc(i.version));
    // corelb has no `-m`: no limit, which HAProxy exports as 0 too.
    one(
        out,
        "max_memory_bytes",
        Gauge,
        "Worker process's hard limit on memory usage in byes (-m on command line)",
        &0,
    );
    one(
        out,
        "start_time_seconds",
        Gauge,
        "Start time in seconds",
        &i.start_time,
    );
}

fn shards(s: &[ShardInfo], out: &mut String) {
    type Get = fn(&ShardInfo) -> u64;
    let fams: [(&str, &str, Get); 11] = [
        (
            "accepted_connections_total",
            "Connections accepted by this shard",
            |x| x.accepted,
        ),
        (
            "spliced_bytes_total",
            "Bytes moved by splice(2) through a pipe (mode tcp)",
            |x| x.spliced,
        ),
        (
            "copied_bytes_total",
            "Bytes moved through a user-space buffer (mode tcp)",
            |x| x.copied,
        ),
        (
            "ktls_handoffs_total",
            "TLS client connections whose record layer was handed to the kernel (kTLS)",
            |x| x.ktls_handoffs,
        ),
        (
            "tls_userspace_total",
            "TLS client connections that kept their records in rustls",
            |x| x.tls_userspace,
        ),
        (
            "buffers_reused_total",
            "I/O buffers taken from the shard's spare list (published once a second)",
            |x| x.buffers_reused,
        ),
        (
            "buffers_allocated_total",
            "I/O buffers newly allocated (published once a second)",
            |x| x.buffers_allocated,
        ),
        (
            "health_checks_total",
            "Health checks run by this shard",
            |x| x.checks,
        ),
        (
            "dropped_logs_total",
            "Log lines this shard dropped because a target did not keep up (published once a second)",
            |x| x.log_drops,
        ),
        (
            "io_uring_submissions_total",
            "io_uring submission queue entries this shard submitted (published once a second)",
            |x| x.uring_submissions,
        ),
        (
            "io_uring_enters_total",
            "io_uring_enter system calls this shard made (published once a second)",
            |x| x.uring_enters,
        ),
    ];
    for (suffix, help, get) in fams {
        let name = format!("corelb_shard_{suffix}");
        head(out, &name, Counter, help);
        for (k, x) in s.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{k}\"}} {}", get(x));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        let mut fe = Row::new(ObjType::Frontend, 0, 1, 0);
        fe.v[f::PXNAME] = Val::Str("web".into());
        fe.v[f::SVNAME] = Val::Str("FRONTEND".into());
        fe.v[f::STATUS] = Val::Str("OPEN".into());
        fe.v[f::REQ_TOT] = Val::U(7);
        fe.v[f::HRSP_2XX] = Val::U(6);
        fe.v[f::HRSP_5XX] = Val::U(1);
        let mut sv = Row::new(ObjType::Server, 1, 2, 1);
        sv.v[f::PXNAME] = Val::Str("be".into());
        sv.v[f::SVNAME] = Val::Str("s\"1".into());
        sv.v[f::STATUS] = Val::Str("MAINT".into());
        sv.v[f::CHECK_STATUS] = Val::Str("L4CON".into());
        sv.v[f::QTIME] = Val::U(1500);
        let mut be = Row::new(ObjType::Backend, 1, 2, 0);
        be.v[f::PXNAME] = Val::Str("be".into());
        be.v[f::SVNAME] = Val::Str("BACKEND".into());
        be.v[f::STATUS] = Val::Str("DOWN".into());
        Snapshot {
            rows: vec![fe, sv, be],
            info: Info {
                nbthread: 2,
                shards: vec![ShardInfo::default(); 2],
                ..Default::default()
            },
        }
    }

    #[test]
    fn families_labels_and_units_are_haproxys() {
        let out = render(&snap(), &Query::default());
        assert!(out.contains(
            "# TYPE haproxy_frontend_http_requests_total counter\nhaproxy_frontend_http_requests_total{proxy=\"web\"} 7\n"
        ));
        assert!(
            out.contains("haproxy_frontend_http_responses_total{proxy=\"web\",code=\"2xx\"} 6\n")
        );
        assert!(out.contains("haproxy_frontend_status{proxy=\"web\",state=\"UP\"} 1\n"));
        assert!(out.contains("haproxy_backend_status{proxy=\"be\",state=\"DOWN\"} 1\n"));
        assert!(
            out.contains(
                "haproxy_server_status{proxy=\"be\",server=\"s\\\"1\",state=\"MAINT\"} 1\n"
            )
        );
        assert!(out.contains(
            "haproxy_server_check_status{proxy=\"be\",server=\"s\\\"1\",state=\"L4CON\"} 1\n"
        ));
        assert!(out.contains(
            "haproxy_server_queue_time_average_seconds{proxy=\"be\",server=\"s\\\"1\"} 1.5\n"
        ));
        assert!(
            out.contains("haproxy_backend_agg_server_status{proxy=\"be\",state=\"MAINT\"} 1\n")
        );
        assert!(out.contains("haproxy_process_nbthread 2\n"));
        assert!(out.contains("corelb_shard_accepted_connections_total{shard=\"1\"} 0\n"));
        // Empty fields give no series, and a family without series no header.
        assert!(!out.contains("haproxy_frontend_max_sessions"));
    }

    #[test]
    fn scope_and_no_maint() {
        let q = Query::parse("scope=frontend&scope=backend");
        assert!(!q.global && q.frontend && q.backend && !q.server);
        let out = render(&snap(), &q);
        assert!(!out.contains("haproxy_process_") && !out.contains("haproxy_server_"));
        assert!(out.contains("haproxy_backend_status"));
        let q = Query::parse("scope=&scope=server&no-maint");
        assert!(q.server && !q.frontend && q.no_maint);
        assert!(!render(&snap(), &q).contains("haproxy_server_status"));
        assert_eq!(Query::parse(""), Query::default());
        let q = Query::parse("scope=listener");
        assert!(q.listener && !q.frontend && !q.backend && !q.server && !q.global);
        assert!(!render(&snap(), &Query::parse("scope=")).contains('#'));
    }
}
