//! What corelb knows about each HAProxy keyword: whether it works, is accepted and ignored
//! (with the reason), or is recognised but not built yet. Unknown keywords get a "did you
//! mean". The README's keyword table is generated from these tables (`corelb
//! --list-keywords`), so the documentation cannot drift from the parser.

/// The status of a keyword in corelb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Parsed and honoured.
    Supported,
    /// Accepted with a warning and no effect; the string says why.
    Ignored(&'static str),
    /// Parsed and kept in the runtime model for a feature that is not built yet (the stats
    /// page, `show info`): until it is, the same warning as [`Status::Ignored`].
    Stored(&'static str),
    /// Recognised but not built yet: an error, so nothing is silently dropped.
    NotYet,
    /// Removed from HAProxy; the string names the modern replacement.
    Removed(&'static str),
    /// Deliberately not built (Lua, SPOE, device-detection modules): an error that says
    /// so, with the reason, so nobody waits for it.
    Never(&'static str),
}

/// Why corelb runs no Lua: scripts in the request path are what it exists to avoid.
pub const NO_LUA: &str = "corelb runs no Lua (write the logic as rules, or keep HAProxy for it)";
/// Why no device-detection module: proprietary databases linked into HAProxy.
const NO_DEVICE_DB: &str =
    "corelb links no device-detection module (51Degrees, WURFL, DeviceAtlas)";

/// Sections where a proxy keyword may appear.
pub const D: u8 = 1;
pub const F: u8 = 2;
pub const B: u8 = 4;
pub const ALL: u8 = D | F | B;

pub struct Kw {
    pub name: &'static str,
    pub status: Status,
    pub sections: u8,
}

const fn kw(name: &'static str, status: Status, sections: u8) -> Kw {
    Kw {
        name,
        status,
        sections,
    }
}

use Status::*;

const NODAEMON: &str = "corelb always runs in the foreground; let systemd (or your supervisor) run it in the background";

pub static GLOBAL: &[Kw] = &[
    kw("maxconn", Supported, 0),
    kw("nbthread", Supported, 0),
    kw("cpu-map", Supported, 0),
    kw("hard-stop-after", Supported, 0),
    kw("pidfile", Supported, 0),
    kw("user", Supported, 0),
    kw("group", Supported, 0),
    kw("uid", Supported, 0),
    kw("gid", Supported, 0),
    kw("chroot", Supported, 0),
    kw("ulimit-n", Supported, 0),
    kw("log", Supported, 0),
    kw("log-tag", Supported, 0),
    kw("log-send-hostname", Supported, 0),
    kw("quiet", Supported, 0),
    kw("node", Supported, 0),
    kw("description", Supported, 0),
    kw("setenv", Supported, 0),
    kw("presetenv", Supported, 0),
    kw("unsetenv", Supported, 0),
    kw("tune.bufsize", Supported, 0),
    kw("tune.http.maxhdr", Supported, 0),
    kw("tune.h2.fe.max-concurrent-streams", Supported, 0),
    kw("tune.h2.max-concurrent-streams", Supported, 0),
    kw("tune.h2.header-table-size", Supported, 0),
    kw("tune.h2.fe.initial-window-size", Supported, 0),
    kw("tune.h2.initial-window-size", Supported, 0),
    kw("tune.h2.fe.glitches-threshold", Supported, 0),
    kw("tune.pipesize", Supported, 0),
    kw("maxpipes", Supported, 0),
    kw("tune.corelb.pump", Supported, 0),
    kw("tune.corelb.allow-expired-certs", Supported, 0),
    kw("ssl-default-bind-curves", Supported, 0),
    kw("ssl-default-server-curves", Supported, 0),
    kw("ssl-load-extra-del-ext", Supported, 0),
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
        Ignored("corelb has no experimental directives"),
        0,
    ),
    kw("stats", Supported, 0),
    kw("ca-base", Supported, 0),
    kw("crt-base", Supported, 0),
    kw("ssl-default-bind-ciphers", Supported, 0),
    kw("ssl-default-bind-ciphersuites", Supported, 0),
    kw("ssl-default-bind-options", Supported, 0),
    kw("ssl-default-server-ciphers", Supported, 0),
    kw("ssl-default-server-ciphersuites", Supported, 0),
    kw("ssl-default-server-options", Supported, 0),
    kw("ssl-server-verify", Supported, 0),
    kw("tune.ssl.cachesize", Supported, 0),
    kw("tune.ssl.lifetime", NotYet, 0),
    kw("noktls", Supported, 0),
    kw("spread-checks", Supported, 0),
    kw("max-spread-checks", NotYet, 0),
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
    kw("server-state-file", Supported, 0),
    kw("server-state-base", Supported, 0),
    kw("h1-case-adjust", NotYet, 0),
    kw("maxsslconn", NotYet, 0),
    kw("maxconnrate", NotYet, 0),
    kw("maxsessrate", NotYet, 0),
    kw("tune.maxaccept", NotYet, 0),
    kw("localpeer", NotYet, 0),
    kw("resetenv", NotYet, 0),
    kw("set-dumpable", NotYet, 0),
    kw("insecure-fork-wanted", NotYet, 0),
];

pub static PROXY: &[Kw] = &[
    kw("mode", Supported, ALL),
    kw("bind", Supported, F),
    kw("balance", Supported, D | B),
    kw("hash-type", Supported, D | B),
    kw("server", Supported, B),
    kw("default-server", Supported, D | B),
    kw("timeout", Supported, ALL),
    kw("maxconn", Supported, D | F),
    kw("backlog", Supported, D | F),
    kw(
        "fullconn",
        Ignored("fullconn only scales servers' minconn, which corelb does not implement"),
        D | B,
    ),
    kw("retries", Supported, D | B),
    kw("option", Supported, ALL),
    kw("no", Supported, ALL),
    kw("log", Supported, ALL),
    kw("default_backend", Supported, D | F),
    kw("use_backend", Supported, F),
    kw("disabled", Supported, ALL),
    kw("enabled", Supported, ALL),
    kw("description", Supported, ALL),
    kw("id", Supported, F | B),
    kw("contimeout", Supported, D | B),
    kw("clitimeout", Supported, D | F),
    kw("srvtimeout", Supported, D | B),
    kw("acl", Supported, F | B),
    kw("tcp-request", Supported, ALL),
    kw("tcp-response", NotYet, D | B),
    kw("http-request", Supported, F | B),
    kw("http-response", Supported, F | B),
    kw("http-after-response", NotYet, ALL),
    kw("redirect", Supported, F | B),
    kw("stats", Supported, ALL),
    kw("errorfile", Supported, ALL),
    kw("errorfiles", NotYet, ALL),
    kw("errorloc", NotYet, ALL),
    kw("errorloc302", NotYet, ALL),
    kw("errorloc303", NotYet, ALL),
    kw("monitor-uri", Supported, D | F),
    kw("monitor", Supported, F),
    kw(
        "monitor-net",
        Removed("monitor-uri, or 'http-request return' with an ACL"),
        D | F,
    ),
    kw("cookie", Supported, D | B),
    kw("dynamic-cookie-key", NotYet, D | B),
    kw("stick", Supported, B),
    kw("stick-table", Supported, F | B),
    kw("capture", Supported, F),
    kw("compression", NotYet, ALL),
    kw("http-reuse", Supported, D | B),
    kw("http-check", Supported, D | B),
    kw("tcp-check", Supported, D | B),
    kw("external-check", NotYet, D | B),
    kw("use-server", NotYet, B),
    kw("force-persist", NotYet, F | B),
    kw("ignore-persist", NotYet, F | B),
    kw("persist", NotYet, D | B),
    kw("source", NotYet, D | B),
    kw("unique-id-format", NotYet, D | F),
    kw("unique-id-header", NotYet, D | F),
    kw("log-format", Supported, D | F),
    kw("log-format-sd", Supported, D | F),
    kw("error-log-format", NotYet, D | F),
    kw("log-tag", NotYet, ALL),
    kw("retry-on", Supported, D | B),
    kw("server-template", Supported, B),
    kw("filter", NotYet, F | B),
    kw("declare", NotYet, F | B),
    kw("dispatch", NotYet, B),
    kw("grace", NotYet, ALL),
    kw("rate-limit", NotYet, D | F),
    kw("max-keep-alive-queue", NotYet, D | B),
    kw("http-send-name-header", NotYet, D | B),
    kw("email-alert", NotYet, ALL),
    kw("load-server-state-from-file", Supported, D | B),
    kw("server-state-file-name", Supported, D | B),
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

pub static OPTION: &[Kw] = &[
    kw("redispatch", Supported, D | B),
    kw("tcplog", Supported, D | F),
    kw("dontlognull", Supported, D | F),
    kw("tcpka", Supported, ALL),
    kw("clitcpka", Supported, D | F),
    kw("srvtcpka", Supported, D | B),
    kw("allbackups", Supported, D | B),
    kw("splice-auto", Supported, ALL),
    kw("splice-request", Supported, ALL),
    kw("splice-response", Supported, ALL),
    kw(
        "http-use-htx",
        Ignored("HTX is always on since HAProxy 2.1, and corelb has no legacy HTTP mode"),
        ALL,
    ),
    kw("httplog", Supported, D | F),
    kw("forwardfor", Supported, D | F | B),
    kw("originalto", Supported, D | F | B),
    kw("http-server-close", Supported, ALL),
    kw("httpclose", Supported, ALL),
    kw("http-keep-alive", Supported, ALL),
    kw("forceclose", Removed("option httpclose"), ALL),
    kw("http-tunnel", Removed("option http-keep-alive"), ALL),
    kw(
        "http-pretend-keepalive",
        Ignored(
            "corelb sends an explicit Connection header to servers, so no server needs to be fooled",
        ),
        ALL,
    ),
    kw("http-buffer-request", NotYet, ALL),
    kw("http-ignore-probes", NotYet, D | F),
    kw("http-no-delay", NotYet, ALL),
    kw("http-restrict-req-hdr-names", NotYet, ALL),
    kw("httpchk", Supported, D | B),
    kw("tcp-check", Supported, D | B),
    kw("ssl-hello-chk", NotYet, D | B),
    kw("mysql-check", NotYet, D | B),
    kw("pgsql-check", NotYet, D | B),
    kw("redis-check", NotYet, D | B),
    kw("smtpchk", NotYet, D | B),
    kw("ldap-check", NotYet, D | B),
    kw("spop-check", NotYet, D | B),
    kw("external-check", NotYet, D | B),
    kw("log-health-checks", Supported, D | B),
    kw("abortonclose", NotYet, D | B),
    kw("nolinger", NotYet, ALL),
    kw("logasap", NotYet, D | F),
    kw("log-separate-errors", NotYet, D | F),
    kw("prefer-last-server", NotYet, D | B),
    kw("persist", NotYet, D | B),
    kw("contstats", NotYet, D | F),
    kw("independent-streams", NotYet, ALL),
    kw("socket-stats", Supported, D | F),
    kw("accept-invalid-http-request", NotYet, D | F),
    kw("accept-invalid-http-response", NotYet, D | B),
    kw("checkcache", NotYet, D | B),
    kw("disable-h2-upgrade", NotYet, D | F),
    kw("h1-case-adjust-bogus-client", NotYet, D | F),
    kw("h1-case-adjust-bogus-server", NotYet, D | B),
    kw("httpslog", NotYet, D | F),
    kw("transparent", NotYet, D | B),
    kw("dontlog-normal", NotYet, D | F),
];

pub static TIMEOUT: &[Kw] = &[
    kw("connect", Supported, D | B),
    kw("client", Supported, D | F),
    kw("server", Supported, D | B),
    kw("tunnel", Supported, D | B),
    kw("client-fin", Supported, D | F),
    kw("server-fin", Supported, D | B),
    kw("queue", Supported, D | B),
    kw("check", Supported, D | B),
    kw("http-request", Supported, D | F | B),
    kw("http-keep-alive", Supported, D | F | B),
    kw("tarpit", NotYet, ALL),
];

pub static BIND: &[Kw] = &[
    kw("backlog", Supported, 0),
    kw("maxconn", Supported, 0),
    kw("name", Supported, 0),
    kw("id", Supported, 0),
    kw("v4v6", Supported, 0),
    kw("v6only", Supported, 0),
    kw("defer-accept", Supported, 0),
    kw("tfo", Supported, 0),
    kw("interface", Supported, 0),
    kw("mss", Supported, 0),
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
    kw("accept-proxy", Supported, 0),
    kw("accept-netscaler-cip", NotYet, 0),
    kw("ssl", Supported, 0),
    kw("crt", Supported, 0),
    kw("crt-list", Supported, 0),
    kw("ca-file", NotYet, 0),
    kw("crl-file", NotYet, 0),
    kw("verify", NotYet, 0),
    kw("alpn", Supported, 0),
    kw("npn", NotYet, 0),
    kw("ciphers", Supported, 0),
    kw("ciphersuites", Supported, 0),
    kw("curves", Supported, 0),
    kw("ecdhe", Supported, 0),
    kw("ssl-min-ver", Supported, 0),
    kw("ssl-max-ver", Supported, 0),
    kw("no-sslv3", Supported, 0),
    kw("no-tlsv10", Supported, 0),
    kw("no-tlsv11", Supported, 0),
    kw("no-tlsv12", Supported, 0),
    kw("no-tlsv13", Supported, 0),
    kw("no-tls-tickets", Supported, 0),
    kw("strict-sni", Supported, 0),
    kw("ktls", Supported, 0),
    kw("transparent", NotYet, 0),
    kw("namespace", NotYet, 0),
    kw("tcp-ut", NotYet, 0),
    kw("level", NotYet, 0),
    kw("mode", Supported, 0),
    kw("user", Supported, 0),
    kw("group", Supported, 0),
    kw("uid", Supported, 0),
    kw("gid", Supported, 0),
    kw("expose-fd", NotYet, 0),
    kw("proto", Supported, 0),
    kw("allow-0rtt", NotYet, 0),
    kw("generate-certificates", NotYet, 0),
    kw("quic-cc-algo", NotYet, 0),
    kw("force-sslv3", Supported, 0),
    kw("force-tlsv10", Supported, 0),
    kw("force-tlsv11", Supported, 0),
    kw("force-tlsv12", Supported, 0),
    kw("force-tlsv13", Supported, 0),
    kw("prefer-client-ciphers", Supported, 0),
];

pub static SERVER: &[Kw] = &[
    kw("weight", Supported, 0),
    kw("backup", Supported, 0),
    kw("disabled", Supported, 0),
    kw("enabled", Supported, 0),
    kw("maxconn", Supported, 0),
    kw("maxqueue", NotYet, 0),
    kw("id", Supported, 0),
    kw("check", Supported, 0),
    kw("no-check", Supported, 0),
    kw("inter", Supported, 0),
    kw("fastinter", Supported, 0),
    kw("downinter", Supported, 0),
    kw("rise", Supported, 0),
    kw("fall", Supported, 0),
    kw("port", Supported, 0),
    kw("addr", Supported, 0),
    kw("observe", Supported, 0),
    kw("on-error", Supported, 0),
    kw("on-marked-down", NotYet, 0),
    kw("on-marked-up", NotYet, 0),
    kw("error-limit", Supported, 0),
    kw("check-send-proxy", Supported, 0),
    kw("check-ssl", Supported, 0),
    kw("check-sni", NotYet, 0),
    kw("agent-check", NotYet, 0),
    kw("agent-port", NotYet, 0),
    kw("agent-inter", NotYet, 0),
    kw("send-proxy", Supported, 0),
    kw("send-proxy-v2", Supported, 0),
    kw("send-proxy-v2-ssl", NotYet, 0),
    kw("proxy-v2-options", NotYet, 0),
    kw("cookie", Supported, 0),
    kw("ssl", Supported, 0),
    kw("verify", Supported, 0),
    kw("ca-file", Supported, 0),
    kw("crt", NotYet, 0),
    kw("sni", Supported, 0),
    kw("alpn", Supported, 0),
    kw("ciphers", Supported, 0),
    kw("ciphersuites", Supported, 0),
    kw("no-sslv3", Supported, 0),
    kw("no-tlsv10", Supported, 0),
    kw("no-tlsv11", Supported, 0),
    kw("ssl-min-ver", Supported, 0),
    kw("ssl-max-ver", Supported, 0),
    kw("resolvers", Supported, 0),
    kw("resolve-prefer", Supported, 0),
    kw("resolve-net", Supported, 0),
    kw("resolve-opts", Supported, 0),
    kw("init-addr", Supported, 0),
    kw("slowstart", NotYet, 0),
    kw("source", NotYet, 0),
    kw("track", NotYet, 0),
    kw("minconn", NotYet, 0),
    kw("redir", NotYet, 0),
    kw("proto", NotYet, 0),
    kw("pool-max-conn", NotYet, 0),
    kw("pool-purge-delay", NotYet, 0),
    kw("tfo", NotYet, 0),
    kw("namespace", NotYet, 0),
    kw("usesrc", NotYet, 0),
    kw("verifyhost", Supported, 0),
    kw("curves", Supported, 0),
    kw("no-tlsv12", Supported, 0),
    kw("no-tlsv13", Supported, 0),
    kw("force-tlsv12", Supported, 0),
    kw("force-tlsv13", Supported, 0),
    kw("no-tls-tickets", Supported, 0),
];

pub fn find(table: &'static [Kw], name: &str) -> Option<&'static Kw> {
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
    let sections: [(&str, &[Kw], &str); 7] = [
        ("global", GLOBAL, ""),
        ("proxy (defaults/frontend/backend/listen)", PROXY, ""),
        ("option", OPTION, "option "),
        ("timeout", TIMEOUT, "timeout "),
        ("bind parameter", BIND, ""),
        ("server parameter", SERVER, ""),
        ("resolvers section", super::resolvers::SECTION, ""),
    ];
    for (title, table, prefix) in sections {
        out.push_str(&format!(
            "\n#### {title}\n\n| keyword | status |\n|---|---|\n"
        ));
        for k in table {
            let status = match k.status {
                Supported => "works".to_string(),
                Ignored(why) | Stored(why) => {
                    format!("accepted and ignored, with a warning: {why}")
                }
                NotYet => "**not supported yet** (error)".to_string(),
                Removed(by) => format!("removed from HAProxy (error): use `{by}`"),
                Never(why) => format!("**not supported, by design** (error): {why}"),
            };
            out.push_str(&format!("| `{prefix}{}` | {status} |\n", k.name));
        }
    }
    out
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
        for table in [GLOBAL, PROXY, OPTION, TIMEOUT, BIND, SERVER] {
            let mut names: Vec<_> = table.iter().map(|k| k.name).collect();
            names.sort();
            let n = names.len();
            names.dedup();
            assert_eq!(n, names.len());
        }
    }
}
