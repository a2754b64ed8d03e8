//! What corelb knows about each HAProxy keyword: whether it works, is accepted and ignored
//! (with the reason), or is recognised but not built yet. Unknown keywords get a "did you
//! mean". The README's keyword table is generated from these tables (`corelb
//! --list-keywords`), so the documentation cannot drift from the parser.
//!
//! The tables are also the parser's dispatch: a keyword that works names its handler (in
//! `parser/<section>.rs`) in its entry, so the list of names here is the only one.

/// The status of a keyword in corelb. `H` is the parser's handler for the keyword: a keyword
/// that is handled carries its handler, so none can lack one.
#[derive(Clone, Copy, Debug)]
pub enum Status<H = ()> {
    /// Parsed and honoured, by the handler.
    Supported(H),
    /// Accepted with a warning and no effect; the string says why.
    Ignored(&'static str),
    /// Parsed and kept in the runtime model for a feature that is not built yet (the stats
    /// page, `show info`): until it is, the same warning as [`Status::Ignored`].
    Stored(&'static str, H),
    /// Recognised but not built yet: an error, so nothing is silently dropped.
    NotYet,
    /// Removed from HAProxy; the string names the modern replacement.
    Removed(&'static str),
    /// Removed from HAProxy without a replacement; the string is HAProxy's error.
    Gone(&'static str),
    /// Deliberately not built (Lua, SPOE, device-detection modules): an error that says
    /// so, with the reason, so nobody waits for it.
    Never(&'static str),
}

/// Why corelb runs no Lua: scripts in the request path are what it exists to avoid.
pub const NO_LUA: &str = "corelb runs no Lua (write the logic as rules, or keep HAProxy for it)";
/// Why no `fcgi-app` sections, `use-fcgi-app` or `filter fcgi-app`.
pub const NO_FASTCGI: &str =
    "corelb does not speak FastCGI: put a FastCGI gateway (or HAProxy) in front of the application";
/// Why the `httpclient.*` settings have nothing to configure.
const NO_HTTPCLIENT: &str =
    "HAProxy's internal HTTP client serves Lua; corelb runs no Lua and has no such client";
/// Why no OpenSSL provider.
const NO_OPENSSL_PROVIDERS: &str =
    "corelb's TLS is rustls with aws-lc-rs: no OpenSSL provider can be loaded";
/// Why no SSLv3, TLS 1.0 or 1.1.
const ONLY_TLS12_13: &str = "rustls speaks TLS 1.2 and TLS 1.3 only";
/// Why no device-detection module: proprietary databases linked into HAProxy.
const NO_DEVICE_DB: &str =
    "corelb links no device-detection module (51Degrees, WURFL, DeviceAtlas)";

/// Sections where a proxy keyword may appear.
pub const D: u8 = 1;
pub const F: u8 = 2;
pub const B: u8 = 4;
pub const ALL: u8 = D | F | B;

pub struct Kw<H = ()> {
    pub name: &'static str,
    pub status: Status<H>,
    pub sections: u8,
}

const fn kw<H>(name: &'static str, status: Status<H>, sections: u8) -> Kw<H> {
    Kw {
        name,
        status,
        sections,
    }
}

use super::errors as err;
use super::parser::{
    balance as bal, bind as b, global as g, options as o, proxy as p, server as s, timeouts as t,
};
use Status::*;

/// HAProxy 2.6's error for a proxy's `grace` (the global `grace` is another keyword).
const GRACE_GONE: &str = "the 'grace' keyword is not supported any more since HAProxy version 2.5.";

const NODAEMON: &str = "corelb always runs in the foreground; let systemd (or your supervisor) run it in the background";

pub static GLOBAL: &[Kw<g::GlobalFn>] = &[
    kw("maxconn", Supported(g::maxconn), 0),
    kw("nbthread", Supported(g::nbthread), 0),
    kw("cpu-map", Supported(g::cpu_map), 0),
    kw("hard-stop-after", Supported(g::hard_stop_after), 0),
    kw("grace", Supported(g::grace), 0),
    kw("pidfile", Supported(g::pidfile), 0),
    kw("user", Supported(g::user), 0),
    kw("group", Supported(g::group), 0),
    kw("uid", Supported(g::uid), 0),
    kw("gid", Supported(g::gid), 0),
    kw("chroot", Supported(g::chroot), 0),
    kw("ulimit-n", Supported(g::ulimit_n), 0),
    kw("log", Supported(g::log), 0),
    kw("log-tag", Supported(g::log_tag), 0),
    kw("log-send-hostname", Supported(g::log_send_hostname), 0),
    kw("quiet", Supported(g::quiet), 0),
    kw("node", Supported(g::node), 0),
    kw("description", Supported(g::description), 0),
    kw("setenv", Supported(g::setenv), 0),
    kw("presetenv", Supported(g::setenv), 0),
    kw("unsetenv", Supported(g::unsetenv), 0),
    kw("tune.bufsize", Supported(g::tune_bufsize), 0),
    kw("tune.http.maxhdr", Supported(g::http_maxhdr), 0),
    kw(
        "tune.h2.fe.max-concurrent-streams",
        Supported(g::h2_max_concurrent_streams),
        0,
    ),
    kw(
        "tune.h2.max-concurrent-streams",
        Supported(g::h2_max_concurrent_streams),
        0,
    ),
    kw(
        "tune.h2.header-table-size",
        Supported(g::h2_header_table_size),
        0,
    ),
    kw("tune.h2.max-frame-size", Supported(g::h2_max_frame_size), 0),
    kw(
        "tune.h2.fe.initial-window-size",
        Supported(g::h2_initial_window_size),
        0,
    ),
    kw(
        "tune.h2.initial-window-size",
        Supported(g::h2_initial_window_size),
        0,
    ),
    kw(
        "tune.h2.be.initial-window-size",
        Supported(g::h2_initial_window_size),
        0,
    ),
    kw(
        "tune.h2.be.max-concurrent-streams",
        Supported(g::h2_be_max_concurrent_streams),
        0,
    ),
    kw(
        "tune.h2.fe.glitches-threshold",
        Supported(g::h2_glitches_threshold),
        0,
    ),
    kw(
        "tune.h2.fe.max-total-streams",
        Supported(g::h2_max_total_streams),
        0,
    ),
    kw("tune.pipesize", Supported(g::pipesize), 0),
    kw("maxpipes", Supported(g::maxpipes), 0),
    kw("tune.corelb.pump", Supported(g::pump), 0),
    kw("tune.corelb.allow-expired-certs", Supported(g::tls), 0),
    kw("ssl-default-bind-curves", Supported(g::tls), 0),
    kw("ssl-default-server-curves", Supported(g::tls), 0),
    kw("ssl-load-extra-del-ext", Supported(g::tls), 0),
    kw("ssl-load-extra-files", Supported(g::tls), 0),
    kw("issuers-chain-path", Supported(g::tls), 0),
    kw("ssl-skip-self-issued-ca", Supported(g::tls), 0),
    kw(
        "tune.peers.max-updates-at-once",
        Supported(g::peers_max_updates),
        0,
    ),
    kw("default-path", Supported(g::default_path), 0),
    kw("daemon", Ignored(NODAEMON), 0),
    kw(
        "master-worker",
        Ignored("corelb is a single process; reload starts a new process with -sf"),
        0,
    ),
    kw(
        "nbproc",
        Ignored("removed in HAProxy 2.5; corelb runs one shard per thread: use nbthread"),
        0,
    ),
    kw(
        "module-path",
        Ignored("HAProxy Enterprise module directory; corelb has no loadable modules"),
        0,
    ),
    kw(
        "module-load",
        Ignored("HAProxy Enterprise modules; corelb has no loadable modules"),
        0,
    ),
    kw(
        "tune.ssl.default-dh-param",
        Ignored("rustls offers no finite-field DHE suites, so no DH parameters are used"),
        0,
    ),
    kw(
        "tune.maxrewrite",
        Ignored("corelb serializes rewritten heads into a separate buffer and needs no reserve"),
        0,
    ),
    kw(
        "expose-experimental-directives",
        Supported(g::experimental),
        0,
    ),
    kw("stats", Supported(g::stats), 0),
    kw("ca-base", Supported(g::tls), 0),
    kw("crt-base", Supported(g::tls), 0),
    kw("ssl-default-bind-ciphers", Supported(g::tls), 0),
    kw("ssl-default-bind-ciphersuites", Supported(g::tls), 0),
    kw("ssl-default-bind-options", Supported(g::tls), 0),
    kw("ssl-default-server-ciphers", Supported(g::tls), 0),
    kw("ssl-default-server-ciphersuites", Supported(g::tls), 0),
    kw("ssl-default-server-options", Supported(g::tls), 0),
    kw("ssl-server-verify", Supported(g::tls), 0),
    kw("tune.ssl.cachesize", Supported(g::tls), 0),
    kw("tune.ssl.lifetime", Supported(g::tls), 0),
    kw("tune.ssl.maxrecord", Supported(g::tls), 0),
    kw("tune.vars.global-max-size", Supported(g::vars_max_size), 0),
    kw(
        "pp2-never-send-local",
        Supported(g::pp2_never_send_local),
        0,
    ),
    kw(
        "h1-accept-payload-with-any-method",
        Supported(g::h1_accept_payload),
        0,
    ),
    kw("tune.ssl.ssl-ctx-cache-size", Supported(g::tls), 0),
    kw("tune.vars.proc-max-size", Supported(g::vars_max_size), 0),
    kw("tune.vars.sess-max-size", Supported(g::vars_max_size), 0),
    kw("tune.vars.txn-max-size", Supported(g::vars_max_size), 0),
    kw("tune.vars.reqres-max-size", Supported(g::vars_max_size), 0),
    kw(
        "tune.vars.check-max-size",
        Ignored("corelb's health checks set no variables (the 'check' scope is refused)"),
        0,
    ),
    kw("tune.ssl.hard-maxrecord", Supported(g::tls), 0),
    kw("noktls", Supported(g::tls), 0),
    kw("spread-checks", Supported(g::spread_checks), 0),
    kw("max-spread-checks", Supported(g::max_spread_checks), 0),
    kw("lua-load", Never(NO_LUA), 0),
    kw("lua-load-per-thread", Never(NO_LUA), 0),
    kw("lua-prepend-path", Never(NO_LUA), 0),
    kw("tune.lua.forced-yield", Never(NO_LUA), 0),
    kw("tune.lua.maxmem", Never(NO_LUA), 0),
    kw("tune.lua.session-timeout", Never(NO_LUA), 0),
    kw("tune.lua.task-timeout", Never(NO_LUA), 0),
    kw("tune.lua.service-timeout", Never(NO_LUA), 0),
    kw("51degrees-data-file", Never(NO_DEVICE_DB), 0),
    kw("51degrees-property-name-list", Never(NO_DEVICE_DB), 0),
    kw("51degrees-property-separator", Never(NO_DEVICE_DB), 0),
    kw("51degrees-cache-size", Never(NO_DEVICE_DB), 0),
    kw("wurfl-data-file", Never(NO_DEVICE_DB), 0),
    kw("wurfl-information-list", Never(NO_DEVICE_DB), 0),
    kw("wurfl-information-list-separator", Never(NO_DEVICE_DB), 0),
    kw("wurfl-cache-size", Never(NO_DEVICE_DB), 0),
    kw("deviceatlas-json-file", Never(NO_DEVICE_DB), 0),
    kw("deviceatlas-log-level", Never(NO_DEVICE_DB), 0),
    kw("deviceatlas-separator", Never(NO_DEVICE_DB), 0),
    kw("deviceatlas-properties-cookie", Never(NO_DEVICE_DB), 0),
    kw("server-state-file", Supported(g::server_state_file), 0),
    kw("server-state-base", Supported(g::server_state_base), 0),
    kw("h1-case-adjust", Supported(g::h1_case_adjust), 0),
    kw("h1-case-adjust-file", Supported(g::h1_case_adjust_file), 0),
    kw("maxsslconn", Supported(g::maxsslconn), 0),
    kw("maxconnrate", Supported(g::max_rate), 0),
    kw("maxsessrate", Supported(g::max_rate), 0),
    kw("maxsslrate", Supported(g::max_rate), 0),
    kw("maxzlibmem", Supported(g::maxzlibmem), 0),
    kw("tune.comp.maxlevel", Supported(g::comp_maxlevel), 0),
    kw("tune.maxaccept", Supported(g::maxaccept), 0),
    kw("localpeer", Supported(g::localpeer), 0),
    kw("resetenv", Supported(g::resetenv), 0),
    kw("set-dumpable", Supported(g::set_dumpable), 0),
    kw(
        "insecure-fork-wanted",
        Supported(g::insecure_fork_wanted),
        0,
    ),
    kw("external-check", Supported(g::external_check), 0),
    kw("close-spread-time", Supported(g::close_spread_time), 0),
    kw("set-var", Supported(g::set_var), 0),
    kw("set-var-fmt", Supported(g::set_var), 0),
    kw("httpclient.resolvers.id", Ignored(NO_HTTPCLIENT), 0),
    kw("httpclient.resolvers.prefer", Ignored(NO_HTTPCLIENT), 0),
    kw("httpclient.ssl.ca-file", Ignored(NO_HTTPCLIENT), 0),
    kw("httpclient.ssl.verify", Ignored(NO_HTTPCLIENT), 0),
    kw(
        "mworker-max-reloads",
        Ignored(
            "corelb has no master process: each reload is a generation of the same process, or a new one with -sf",
        ),
        0,
    ),
    kw(
        "no-memory-trimming",
        Ignored(
            "corelb never calls malloc_trim(): its allocator (mimalloc) returns memory on its own",
        ),
        0,
    ),
    kw(
        "profiling.tasks",
        Ignored("corelb has no task profiler; profile with perf (docs/benchmarks.md)"),
        0,
    ),
    kw(
        "ssl-dh-param-file",
        Ignored("rustls offers no finite-field DHE suites, so no DH parameters are used"),
        0,
    ),
    kw(
        "ssl-mode-async",
        Ignored("rustls computes in the shard; there are no asynchronous crypto engines"),
        0,
    ),
    kw("ssl-provider", Never(NO_OPENSSL_PROVIDERS), 0),
    kw("ssl-provider-path", Never(NO_OPENSSL_PROVIDERS), 0),
    kw("ssl-propquery", Never(NO_OPENSSL_PROVIDERS), 0),
    kw(
        "thread-groups",
        Ignored("corelb's shards form one group, each pinned to its CPU (cpu-map)"),
        0,
    ),
    kw(
        "thread-group",
        Ignored("corelb's shards form one group, each pinned to its CPU (cpu-map)"),
        0,
    ),
    kw(
        "tune.fail-alloc",
        Ignored("a debugging aid of HAProxy's memory pools, which corelb has not"),
        0,
    ),
    kw(
        "tune.fd.edge-triggered",
        Ignored("corelb polls no file descriptors: io_uring completes each operation"),
        0,
    ),
    kw(
        "tune.idle-pool.shared",
        Ignored("each shard keeps its own idle server connections; shards never share them"),
        0,
    ),
    kw(
        "tune.listener.multi-queue",
        Ignored("each shard accepts on its own SO_REUSEPORT socket: no accept queue is shared"),
        0,
    ),
    kw(
        "tune.pool-high-fd-ratio",
        Supported(g::pool_high_fd_ratio),
        0,
    ),
    kw("tune.pool-low-fd-ratio", Supported(g::pool_low_fd_ratio), 0),
    kw(
        "tune.sched.low-latency",
        Ignored(
            "a shard runs each ready connection to its next wait: there are no task classes to reorder",
        ),
        0,
    ),
    kw(
        "tune.ssl.force-private-cache",
        Ignored("corelb is one process: its TLS session cache is never shared between processes"),
        0,
    ),
    kw(
        "tune.ssl.capture-buffer-size",
        Ignored("the ClientHello's cipher list is not captured (no ssl_fc_cipherlist_* fetches)"),
        0,
    ),
    kw(
        "tune.ssl.capture-cipherlist-size",
        Ignored("the ClientHello's cipher list is not captured (no ssl_fc_cipherlist_* fetches)"),
        0,
    ),
    kw(
        "tune.ssl.keylog",
        Ignored("rustls's secrets are not exposed to fetches (no ssl_fc_*_secret fetches)"),
        0,
    ),
];

pub static PROXY: &[Kw<p::ProxyFn>] = &[
    kw("mode", Supported(p::mode), ALL),
    kw("bind", Supported(b::bind_kw), F),
    kw("balance", Supported(bal::balance_kw), D | B),
    kw("hash-type", Supported(p::hash_type), D | B),
    kw(
        "hash-balance-factor",
        Supported(p::hash_balance_factor),
        D | B,
    ),
    kw("server", Supported(s::server_kw), B),
    kw("default-server", Supported(s::default_server), D | B),
    kw("timeout", Supported(t::timeout_kw), ALL),
    kw("maxconn", Supported(p::maxconn), D | F),
    kw("backlog", Supported(p::backlog), D | F),
    kw("fullconn", Supported(p::fullconn), D | B),
    kw("retries", Supported(p::retries), D | B),
    kw("option", Supported(p::option), ALL),
    kw("no", Supported(p::no), ALL),
    kw("log", Supported(p::log), ALL),
    kw("default_backend", Supported(p::default_backend), D | F),
    kw("use_backend", Supported(p::use_backend), F),
    kw("disabled", Supported(p::disabled), ALL),
    kw("enabled", Supported(p::enabled), ALL),
    kw("description", Supported(p::description), ALL),
    kw("id", Supported(p::id), F | B),
    kw("contimeout", Supported(t::contimeout), D | B),
    kw("clitimeout", Supported(t::clitimeout), D | F),
    kw("srvtimeout", Supported(t::srvtimeout), D | B),
    kw("acl", Supported(p::acl), F | B),
    kw("tcp-request", Supported(p::tcp_request), ALL),
    kw("tcp-response", Supported(p::tcp_response), D | B),
    kw("http-request", Supported(p::http_request), F | B),
    kw("http-response", Supported(p::http_response), F | B),
    kw(
        "http-after-response",
        Supported(p::http_after_response),
        F | B,
    ),
    kw("redirect", Supported(p::redirect), F | B),
    kw("stats", Supported(p::stats_kw), ALL),
    kw("errorfile", Supported(err::errorfile_kw), ALL),
    kw("errorfiles", Supported(err::errorfiles_kw), ALL),
    kw("errorloc", Supported(err::errorloc_kw), ALL),
    kw("errorloc302", Supported(err::errorloc_kw), ALL),
    kw("errorloc303", Supported(err::errorloc_kw), ALL),
    kw("http-error", Supported(err::http_error_kw), ALL),
    kw("monitor-uri", Supported(p::monitor_uri), D | F),
    kw("monitor", Supported(p::monitor), F),
    kw(
        "monitor-net",
        Removed("monitor-uri, or 'http-request return' with an ACL"),
        D | F,
    ),
    kw("cookie", Supported(bal::cookie_kw), D | B),
    kw(
        "dynamic-cookie-key",
        Supported(p::dynamic_cookie_key),
        D | B,
    ),
    kw("stick", Supported(bal::stick_kw), B),
    kw("stick-table", Supported(bal::stick_table_kw), F | B),
    kw("capture", Supported(p::capture), F),
    kw(
        "compression",
        Supported(crate::config::filters::compression),
        ALL,
    ),
    kw("http-reuse", Supported(p::http_reuse), D | B),
    kw("http-check", Supported(p::http_check), D | B),
    kw("tcp-check", Supported(p::tcp_check), D | B),
    kw("external-check", Supported(p::external_check), D | B),
    kw(
        "use-server",
        Supported(crate::config::uri_rules::use_server),
        B,
    ),
    kw(
        "force-persist",
        Supported(crate::config::uri_rules::persist_rule),
        F | B,
    ),
    kw(
        "ignore-persist",
        Supported(crate::config::uri_rules::persist_rule),
        F | B,
    ),
    kw("persist", Supported(bal::persist_kw), D | B),
    kw("source", Supported(p::source), D | B),
    kw("unique-id-format", Supported(p::log_format), D | F),
    kw("unique-id-header", Supported(p::unique_id_header), D | F),
    kw("log-format", Supported(p::log_format), D | F),
    kw("log-format-sd", Supported(p::log_format), D | F),
    kw("error-log-format", Supported(p::log_format), D | F),
    kw("log-tag", Supported(p::log_tag), ALL),
    kw("retry-on", Supported(p::retry_on), D | B),
    kw("server-template", Supported(s::template), B),
    kw("filter", Supported(crate::config::filters::filter), F | B),
    kw("declare", Supported(p::declare), F | B),
    kw("use-fcgi-app", Never(NO_FASTCGI), B),
    kw("clitcpka-cnt", Supported(p::tcpka), D | F),
    kw("clitcpka-idle", Supported(p::tcpka), D | F),
    kw("clitcpka-intvl", Supported(p::tcpka), D | F),
    kw("srvtcpka-cnt", Supported(p::tcpka), D | B),
    kw("srvtcpka-idle", Supported(p::tcpka), D | B),
    kw("srvtcpka-intvl", Supported(p::tcpka), D | B),
    kw("dispatch", Supported(p::dispatch), B),
    kw("grace", Gone(GRACE_GONE), ALL),
    kw("rate-limit", Supported(p::rate_limit), D | F),
    kw(
        "max-keep-alive-queue",
        Supported(p::max_keep_alive_queue),
        D | B,
    ),
    kw(
        "http-send-name-header",
        Supported(p::http_send_name_header),
        D | B,
    ),
    kw("email-alert", Supported(p::email_alert), ALL),
    kw(
        "load-server-state-from-file",
        Supported(p::load_server_state_from_file),
        D | B,
    ),
    kw(
        "server-state-file-name",
        Supported(p::server_state_file_name),
        D | B,
    ),
    kw("reqadd", Removed("http-request add-header"), ALL),
    kw("reqdel", Removed("http-request del-header"), ALL),
    kw(
        "reqrep",
        Removed("http-request replace-header / replace-path"),
        ALL,
    ),
    kw("reqallow", Removed("http-request allow"), ALL),
    kw("reqdeny", Removed("http-request deny"), ALL),
    kw("reqpass", Removed("http-request allow"), ALL),
    kw("reqtarpit", Removed("http-request tarpit"), ALL),
    kw("reqiallow", Removed("http-request allow"), ALL),
    kw("reqidel", Removed("http-request del-header"), ALL),
    kw("reqideny", Removed("http-request deny"), ALL),
    kw("reqirep", Removed("http-request replace-header"), ALL),
    kw("reqisetbe", Removed("use_backend"), ALL),
    kw("reqsetbe", Removed("use_backend"), ALL),
    kw("rspadd", Removed("http-response add-header"), ALL),
    kw("rspdel", Removed("http-response del-header"), ALL),
    kw("rsprep", Removed("http-response replace-header"), ALL),
    kw("rspdeny", Removed("http-response deny"), ALL),
    kw("rspidel", Removed("http-response del-header"), ALL),
    kw("rspideny", Removed("http-response deny"), ALL),
    kw("rspirep", Removed("http-response replace-header"), ALL),
    kw("block", Removed("http-request deny"), ALL),
    kw("redisp", Removed("option redispatch"), ALL),
    kw("redispatch", Removed("option redispatch"), ALL),
];

pub static OPTION: &[Kw<o::OptionFn>] = &[
    kw("redispatch", Supported(o::redispatch), D | B),
    kw("tcplog", Supported(o::tcplog), D | F),
    kw("dontlognull", Supported(o::dontlognull), D | F),
    kw("tcpka", Supported(o::tcpka), ALL),
    kw("clitcpka", Supported(o::clitcpka), D | F),
    kw("srvtcpka", Supported(o::srvtcpka), D | B),
    kw("allbackups", Supported(o::allbackups), D | B),
    kw("splice-auto", Supported(o::splice_auto), ALL),
    kw("splice-request", Supported(o::splice_request), ALL),
    kw("splice-response", Supported(o::splice_response), ALL),
    kw(
        "http-use-htx",
        Ignored("HTX is always on since HAProxy 2.1, and corelb has no legacy HTTP mode"),
        ALL,
    ),
    kw("httplog", Supported(o::httplog), D | F),
    kw("forwardfor", Supported(o::forwardfor), D | F | B),
    kw("originalto", Supported(o::forwardfor), D | F | B),
    kw("http-server-close", Supported(o::conn_mode), ALL),
    kw("httpclose", Supported(o::conn_mode), ALL),
    kw("http-keep-alive", Supported(o::conn_mode), ALL),
    kw("forceclose", Removed("option httpclose"), ALL),
    kw("http-tunnel", Removed("option http-keep-alive"), ALL),
    kw(
        "http-pretend-keepalive",
        Ignored(
            "corelb sends an explicit Connection header to servers, so no server needs to be fooled",
        ),
        ALL,
    ),
    kw(
        "http-buffer-request",
        Supported(o::http_buffer_request),
        ALL,
    ),
    kw(
        "http-ignore-probes",
        Supported(o::http_ignore_probes),
        D | F,
    ),
    kw(
        "http-use-proxy-header",
        Supported(o::http_use_proxy_header),
        D | F,
    ),
    kw(
        "idle-close-on-response",
        Supported(o::idle_close_on_response),
        D | F,
    ),
    kw("tcp-smart-accept", Supported(o::tcp_smart_accept), D | F),
    kw(
        "tcp-smart-connect",
        Ignored(
            "corelb connects without holding back the handshake's last ACK: the request follows it in its own packet",
        ),
        D | B,
    ),
    kw(
        "http-no-delay",
        Ignored(
            "corelb never delays a send: every client and server socket has TCP_NODELAY, and no send uses MSG_MORE or TCP_CORK",
        ),
        ALL,
    ),
    kw(
        "http-restrict-req-hdr-names",
        Supported(o::http_restrict_req_hdr_names),
        ALL,
    ),
    kw("httpchk", Supported(o::httpchk), D | B),
    kw("tcp-check", Supported(o::tcp_check), D | B),
    kw("ssl-hello-chk", Supported(o::check_preset), D | B),
    kw("mysql-check", Supported(o::check_preset), D | B),
    kw("pgsql-check", Supported(o::check_preset), D | B),
    kw("redis-check", Supported(o::check_preset), D | B),
    kw("smtpchk", Supported(o::check_preset), D | B),
    kw("ldap-check", Supported(o::check_preset), D | B),
    kw("spop-check", Supported(o::check_preset), D | B),
    kw("external-check", Supported(o::external_check), D | B),
    kw("log-health-checks", Supported(o::log_health_checks), D | B),
    kw("abortonclose", Supported(o::abortonclose), D | B),
    kw("nolinger", Supported(o::nolinger), ALL),
    kw("logasap", Supported(o::logasap), D | F),
    kw(
        "log-separate-errors",
        Supported(o::log_separate_errors),
        D | F,
    ),
    kw(
        "prefer-last-server",
        Supported(o::prefer_last_server),
        D | B,
    ),
    kw("persist", Supported(o::persist), D | B),
    kw("contstats", Supported(o::contstats), D | F),
    kw(
        "independent-streams",
        Supported(o::independent_streams),
        ALL,
    ),
    kw("socket-stats", Supported(o::socket_stats), D | F),
    kw(
        "accept-invalid-http-request",
        Supported(o::accept_invalid),
        D | F,
    ),
    kw(
        "accept-invalid-http-response",
        Supported(o::accept_invalid),
        D | B,
    ),
    kw("checkcache", Supported(o::checkcache), D | B),
    kw(
        "disable-h2-upgrade",
        Supported(o::disable_h2_upgrade),
        D | F,
    ),
    kw(
        "h1-case-adjust-bogus-client",
        Supported(o::h1_case_adjust),
        D | F,
    ),
    kw(
        "h1-case-adjust-bogus-server",
        Supported(o::h1_case_adjust),
        D | B,
    ),
    kw("httpslog", Supported(o::httpslog), D | F),
    kw("transparent", Supported(o::transparent), D | B),
    kw("dontlog-normal", Supported(o::dontlog_normal), D | F),
];

pub static TIMEOUT: &[Kw<t::TimeoutFn>] = &[
    kw("connect", Supported(t::connect), D | B),
    kw("client", Supported(t::client), D | F),
    kw("server", Supported(t::server), D | B),
    kw("tunnel", Supported(t::tunnel), D | B),
    kw("client-fin", Supported(t::client_fin), D | F),
    kw("server-fin", Supported(t::server_fin), D | B),
    kw("queue", Supported(t::queue), D | B),
    kw("check", Supported(t::check), D | B),
    kw("http-request", Supported(t::http_request), D | F | B),
    kw("http-keep-alive", Supported(t::http_keep_alive), D | F | B),
    kw("tarpit", Supported(t::tarpit), ALL),
];

pub static BIND: &[Kw<b::BindFn>] = &[
    kw("backlog", Supported(b::backlog), 0),
    kw("maxconn", Supported(b::maxconn), 0),
    kw("name", Supported(b::name), 0),
    kw("id", Supported(b::id), 0),
    kw("v4v6", Supported(b::v4v6), 0),
    kw("v6only", Supported(b::v6only), 0),
    kw("defer-accept", Supported(b::defer_accept), 0),
    kw("tfo", Supported(b::tfo), 0),
    kw("interface", Supported(b::interface), 0),
    kw("mss", Supported(b::mss), 0),
    kw(
        "nice",
        Ignored("shards give every connection the same priority"),
        0,
    ),
    kw(
        "process",
        Ignored("every shard listens on every bind (SO_REUSEPORT)"),
        0,
    ),
    kw(
        "thread",
        Ignored("every shard listens on every bind (SO_REUSEPORT)"),
        0,
    ),
    kw("accept-proxy", Supported(b::accept_proxy), 0),
    kw(
        "accept-netscaler-cip",
        Supported(b::accept_netscaler_cip),
        0,
    ),
    kw("ssl", Supported(b::tls), 0),
    kw("crt", Supported(b::tls), 0),
    kw("crt-list", Supported(b::tls), 0),
    kw("ca-file", Supported(b::tls), 0),
    kw("ca-verify-file", Supported(b::tls), 0),
    kw("no-ca-names", Supported(b::tls), 0),
    kw("crl-file", Supported(b::tls), 0),
    kw("verify", Supported(b::tls), 0),
    kw("ca-ignore-err", Supported(b::tls), 0),
    kw("crt-ignore-err", Supported(b::tls), 0),
    kw("alpn", Supported(b::tls), 0),
    kw(
        "npn",
        Ignored("NPN is obsolete and rustls has none: the list is not announced; ALPN (`alpn`) is"),
        0,
    ),
    kw("ciphers", Supported(b::tls), 0),
    kw("ciphersuites", Supported(b::tls), 0),
    kw("curves", Supported(b::tls), 0),
    kw("ecdhe", Supported(b::tls), 0),
    kw("ssl-min-ver", Supported(b::tls), 0),
    kw("ssl-max-ver", Supported(b::tls), 0),
    kw("no-sslv3", Supported(b::tls), 0),
    kw("no-tlsv10", Supported(b::tls), 0),
    kw("no-tlsv11", Supported(b::tls), 0),
    kw("no-tlsv12", Supported(b::tls), 0),
    kw("no-tlsv13", Supported(b::tls), 0),
    kw("no-tls-tickets", Supported(b::tls), 0),
    kw("tls-ticket-keys", Supported(b::tls), 0),
    kw("strict-sni", Supported(b::tls), 0),
    kw("ktls", Supported(b::tls), 0),
    kw("transparent", Supported(b::transparent), 0),
    kw("namespace", Supported(b::namespace), 0),
    kw("tcp-ut", Supported(b::tcp_ut), 0),
    kw(
        "shards",
        Ignored(
            "every shard accepts on the bind's socket already, as `shards by-thread` would have it",
        ),
        0,
    ),
    kw("level", Supported(b::level), 0),
    kw("mode", Supported(b::mode), 0),
    kw("user", Supported(b::user), 0),
    kw("group", Supported(b::group), 0),
    kw("uid", Supported(b::uid), 0),
    kw("gid", Supported(b::gid), 0),
    kw("expose-fd", Supported(b::expose_fd), 0),
    kw("severity-output", Supported(b::severity_output), 0),
    kw("proto", Supported(b::proto), 0),
    kw(
        "allow-0rtt",
        Ignored(
            "TLS 1.3 early data is not accepted: clients send their first request after the handshake",
        ),
        0,
    ),
    kw("generate-certificates", Supported(b::tls), 0),
    kw("ca-sign-file", Supported(b::tls), 0),
    kw("ca-sign-pass", Supported(b::tls), 0),
    kw(
        "quic-cc-algo",
        Never(
            "corelb has no QUIC (as Debian's HAProxy 2.6, built without it): serve HTTP/3 elsewhere",
        ),
        0,
    ),
    kw("force-sslv3", Never(ONLY_TLS12_13), 0),
    kw("force-tlsv10", Never(ONLY_TLS12_13), 0),
    kw("force-tlsv11", Never(ONLY_TLS12_13), 0),
    kw("force-tlsv12", Supported(b::tls), 0),
    kw("force-tlsv13", Supported(b::tls), 0),
    kw("prefer-client-ciphers", Supported(b::tls), 0),
];

pub static SERVER: &[Kw<s::ServerFn>] = &[
    kw("weight", Supported(s::weight), 0),
    kw("backup", Supported(s::backup), 0),
    kw("disabled", Supported(s::disabled), 0),
    kw("enabled", Supported(s::enabled), 0),
    kw("maxconn", Supported(s::maxconn), 0),
    kw("maxqueue", Supported(s::maxqueue), 0),
    kw("id", Supported(s::id), 0),
    kw("check", Supported(s::check), 0),
    kw("no-check", Supported(s::no_check), 0),
    kw("inter", Supported(s::inter), 0),
    kw("fastinter", Supported(s::inter), 0),
    kw("downinter", Supported(s::inter), 0),
    kw("rise", Supported(s::rise), 0),
    kw("fall", Supported(s::fall), 0),
    kw("port", Supported(s::port), 0),
    kw("addr", Supported(s::addr), 0),
    kw("observe", Supported(s::observe), 0),
    kw("on-error", Supported(s::on_error), 0),
    kw("on-marked-down", Supported(s::on_marked_down), 0),
    kw("on-marked-up", Supported(s::on_marked_up), 0),
    kw("error-limit", Supported(s::error_limit), 0),
    kw("check-send-proxy", Supported(s::check_send_proxy), 0),
    kw("check-ssl", Supported(s::tls), 0),
    kw("check-sni", Supported(s::check_sni), 0),
    kw("check-alpn", Supported(s::tls), 0),
    kw("check-proto", Supported(s::check_proto), 0),
    kw("agent-check", Supported(s::agent), 0),
    kw("agent-port", Supported(s::agent), 0),
    kw("agent-inter", Supported(s::agent), 0),
    kw("agent-addr", Supported(s::agent), 0),
    kw("agent-send", Supported(s::agent), 0),
    kw("send-proxy", Supported(s::send_proxy), 0),
    kw("send-proxy-v2", Supported(s::send_proxy_v2), 0),
    kw("send-proxy-v2-ssl", Supported(s::send_proxy_v2_ssl), 0),
    kw("send-proxy-v2-ssl-cn", Supported(s::send_proxy_v2_ssl), 0),
    kw("proxy-v2-options", Supported(s::proxy_v2_options), 0),
    kw("cookie", Supported(s::cookie), 0),
    kw("ssl", Supported(s::tls), 0),
    kw("verify", Supported(s::tls), 0),
    kw("ca-file", Supported(s::tls), 0),
    kw("crt", Supported(s::tls), 0),
    kw("sni", Supported(s::tls), 0),
    kw("alpn", Supported(s::tls), 0),
    kw("ciphers", Supported(s::tls), 0),
    kw("ciphersuites", Supported(s::tls), 0),
    kw("no-sslv3", Supported(s::tls), 0),
    kw("no-tlsv10", Supported(s::tls), 0),
    kw("no-tlsv11", Supported(s::tls), 0),
    kw("ssl-min-ver", Supported(s::tls), 0),
    kw("ssl-max-ver", Supported(s::tls), 0),
    kw("resolvers", Supported(s::dns), 0),
    kw("resolve-prefer", Supported(s::dns), 0),
    kw("resolve-net", Supported(s::dns), 0),
    kw("resolve-opts", Supported(s::dns), 0),
    kw("init-addr", Supported(s::dns), 0),
    kw("slowstart", Supported(s::slowstart), 0),
    kw("source", Supported(s::source), 0),
    kw("track", Supported(s::track), 0),
    kw("minconn", Supported(s::minconn), 0),
    kw("redir", Supported(s::redir), 0),
    kw("proto", Supported(s::proto), 0),
    kw("ws", Supported(s::ws), 0),
    kw("pool-max-conn", Supported(s::pool_max_conn), 0),
    kw("pool-purge-delay", Supported(s::pool_purge_delay), 0),
    kw("max-reuse", Supported(s::max_reuse), 0),
    kw("socks4", Supported(s::socks4), 0),
    kw("check-via-socks4", Supported(s::check_via_socks4), 0),
    kw("tfo", Supported(s::tfo), 0),
    kw("namespace", Supported(s::namespace), 0),
    kw("usesrc", Supported(s::usesrc), 0),
    kw("interface", Supported(s::interface), 0),
    kw("verifyhost", Supported(s::tls), 0),
    kw("curves", Supported(s::tls), 0),
    kw("no-tlsv12", Supported(s::tls), 0),
    kw("no-tlsv13", Supported(s::tls), 0),
    kw("force-tlsv12", Supported(s::tls), 0),
    kw("force-tlsv13", Supported(s::tls), 0),
    kw("no-tls-tickets", Supported(s::tls), 0),
    kw("tls-tickets", Supported(s::tls), 0),
    kw("no-ssl", Supported(s::tls), 0),
    kw("no-check-ssl", Supported(s::tls), 0),
    kw("ssl-reuse", Supported(s::tls), 0),
    kw("no-ssl-reuse", Supported(s::tls), 0),
    kw("crl-file", Supported(s::tls), 0),
    kw("no-tfo", Supported(s::negation), 0),
    kw("tcp-ut", Supported(s::tcp_ut), 0),
    kw("no-backup", Supported(s::negation), 0),
    kw("no-agent-check", Supported(s::negation), 0),
    kw("no-check-send-proxy", Supported(s::negation), 0),
    kw("no-send-proxy", Supported(s::negation), 0),
    kw("no-send-proxy-v2", Supported(s::negation), 0),
    kw("no-send-proxy-v2-ssl", Supported(s::negation), 0),
    kw("no-send-proxy-v2-ssl-cn", Supported(s::negation), 0),
    kw("stick", Supported(s::negation), 0),
    kw("non-stick", Supported(s::negation), 0),
    kw("force-sslv3", Never(ONLY_TLS12_13), 0),
    kw("force-tlsv10", Never(ONLY_TLS12_13), 0),
    kw("force-tlsv11", Never(ONLY_TLS12_13), 0),
    kw(
        "allow-0rtt",
        Ignored("corelb sends no TLS 1.3 early data to servers: requests go after the handshake"),
        0,
    ),
    kw(
        "npn",
        Ignored("NPN is obsolete and rustls has none: nothing is offered; ALPN (`alpn`) is"),
        0,
    ),
    kw(
        "log-proto",
        Ignored("it frames the logs a ring section sends to its servers: see the ring section"),
        0,
    ),
    kw(
        "pool-low-conn",
        Ignored(
            "shards never take idle connections from each other, so no threshold keeps them from it",
        ),
        0,
    ),
];

pub fn find<H>(table: &'static [Kw<H>], name: &str) -> Option<&'static Kw<H>> {
    table.iter().find(|k| k.name == name)
}

/// The closest known keyword, for "did you mean". Only close matches are offered.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(name, c);
        let score = strsim::normalized_damerau_levenshtein(name, c);
        let close = d <= 2 && d < c.len().max(name.len()) / 2 + 1 || score >= 0.7;
        if close && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// " (did you mean 'x'?)" or nothing.
pub fn hint<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match suggest(name, candidates) {
        Some(s) => format!("; did you mean '{s}'?"),
        None => String::new(),
    }
}

/// The Markdown keyword table of the README.
pub fn markdown_table() -> String {
    let mut out = String::new();
    table_section(&mut out, "global", GLOBAL, "");
    table_section(
        &mut out,
        "proxy (defaults/frontend/backend/listen)",
        PROXY,
        "",
    );
    table_section(&mut out, "option", OPTION, "option ");
    table_section(&mut out, "timeout", TIMEOUT, "timeout ");
    table_section(&mut out, "bind parameter", BIND, "");
    table_section(&mut out, "server parameter", SERVER, "");
    table_section(&mut out, "resolvers section", super::resolvers::SECTION, "");
    table_section(&mut out, "cache section", super::filters::CACHE_SECTION, "");
    table_section(&mut out, "mailers section", super::mailers::SECTION, "");
    table_section(&mut out, "peers section", super::peers::SECTION, "");
    table_section(&mut out, "ring section", super::ring::SECTION, "");
    table_section(
        &mut out,
        "log-forward section",
        super::log_forward::SECTION,
        "",
    );
    out
}

fn table_section<H>(out: &mut String, title: &str, table: &[Kw<H>], prefix: &str) {
    out.push_str(&format!(
        "\n#### {title}\n\n| keyword | status |\n|---|---|\n"
    ));
    for k in table {
        let status = match k.status {
            Supported(_) => "works".to_string(),
            Ignored(why) | Stored(why, _) => {
                format!("accepted and ignored, with a warning: {why}")
            }
            NotYet => "**not supported yet** (error)".to_string(),
            Removed(by) => format!("removed from HAProxy (error): use `{by}`"),
            Never(why) => format!("**not supported, by design** (error): {why}"),
            Gone(why) => format!("removed from HAProxy (error): {why}"),
        };
        out.push_str(&format!("| `{prefix}{}` | {status} |\n", k.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names = PROXY.iter().map(|k| k.name);
        assert_eq!(suggest("bnd", names.clone()), Some("bind"));
        assert_eq!(suggest("severs", names.clone()), Some("server"));
        assert_eq!(suggest("balanse", names.clone()), Some("balance"));
        assert_eq!(suggest("zzzzzzzz", names), None);
    }

    #[test]
    fn no_duplicates() {
        fn names<H>(t: &[Kw<H>]) -> Vec<&'static str> {
            t.iter().map(|k| k.name).collect()
        }
        for mut names in [
            names(GLOBAL),
            names(PROXY),
            names(OPTION),
            names(TIMEOUT),
            names(BIND),
            names(SERVER),
        ] {
            names.sort();
            let n = names.len();
            names.dedup();
            assert_eq!(n, names.len());
        }
    }
}
