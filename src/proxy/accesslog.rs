//! The access-log line of a finished stream, for mode tcp and mode http alike: what the
//! stream measured ([`Stream`]) plus the shard's view of its frontend and backend become
//! [`crate::log::access::Fields`], rendered with the frontend's compiled format
//! (`log-format`, `option httplog [clf]`, `option tcplog`) into the shard's reused buffer,
//! and sent to the frontend's `log` targets.

use crate::acl::LogFormat;
use crate::cluster::{BackendRt, FrontendRt};
use crate::config::logging::{HTTP_LOG_FORMAT, TCP_LOG_FORMAT};
use crate::log::access::{self, Captures, ConnSample, Fields};
use crate::net::shard::ShardCtx;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// What one stream measured.
pub struct Stream<'a> {
    pub http: bool,
    /// `set-log-level`: the line's syslog level instead of the usual one; -1 (`silent`):
    /// no line.
    pub log_level: Option<i8>,
    pub src: SocketAddr,
    /// The address the client reached, when known (mode tcp learns it on connecting).
    pub dst: Option<SocketAddr>,
    /// The TLS session, when TLS is terminated here.
    pub tls: Option<crate::log::access::LogTls<'a>>,
    pub date: SystemTime,
    pub t_total: Duration,
    pub t_request: Option<Duration>,
    pub t_queue: Option<Duration>,
    pub t_connect: Option<Duration>,
    pub t_response: Option<Duration>,
    pub status: u16,
    /// A TLS connection that failed before it carried a stream (see [`log_session_error`]).
    pub embryonic: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub term: crate::log::term::Term,
    /// The persistence-cookie letters of the termination state (`--` without `cookie`).
    pub cookie: [u8; 2],
    pub backend: Option<&'a BackendRt>,
    pub server: Option<usize>,
    /// What answered instead of a server, by the name HAProxy logs for it (`<CACHE>`,
    /// `<STATS>`, `<PROMEX>`).
    pub applet: Option<&'a str>,
    pub retries: u32,
    pub redispatched: bool,
    pub captures: Option<&'a Captures>,
    pub request_line: &'a [u8],
    /// `http_first_req` (an HTTP request only).
    pub first_req: bool,
    /// The connection's and the transaction's variables (`var()` in the format).
    pub vars: crate::acl::Vars<'a>,
    /// The transaction's `unique-id-format` value (`%ID`), once made.
    pub unique_id: Option<&'a [u8]>,
    /// What ended a connection that never carried a stream: HAProxy's `fc_err` code and
    /// `fc_err_str` text.
    pub conn_err: Option<(i64, &'static str)>,
    /// The `bind` the client came through (`so_id`, `so_name`, `dst_conn`).
    pub bind: usize,
}

/// Whether a stream of `fe` gets a log line (so that what only the line needs, such as the
/// request line, is kept): the frontend has a format and targets, or `-d` traces it.
pub fn wanted(shard: &ShardCtx, fe: &FrontendRt) -> bool {
    let px = &shard.shared.cfg.proxies[fe.proxy];
    (px.logging.line.is_some() && fe.logs) || log::log_enabled!(log::Level::Trace)
}

/// The built-in line `-d` traces for a frontend without a format of its own.
fn trace_format(http: bool) -> &'static LogFormat {
    static HTTP: OnceLock<LogFormat> = OnceLock::new();
    static TCP: OnceLock<LogFormat> = OnceLock::new();
    let (cell, text) = if http {
        (&HTTP, HTTP_LOG_FORMAT)
    } else {
        (&TCP, TCP_LOG_FORMAT)
    };
    cell.get_or_init(|| {
        LogFormat::parse_log(text, &mut crate::acl::ParseCtx::new(""), http)
            .expect("built-in log format")
    })
}

/// Whether `s` ended in what HAProxy calls an error (`strm_log`): a redispatch, an end
/// other than normal or local, retries, or an HTTP status of 500 or more. `option
/// dontlog-normal` logs only these; `option log-separate-errors` logs them at `err`.
fn is_error(s: &Stream) -> bool {
    use crate::log::term::Cause;
    s.redispatched
        || !matches!(s.term.cause, Cause::Normal | Cause::Local)
        || (s.term.cause == Cause::Normal && s.retries > 0)
        || (s.http && s.status >= 500)
}

/// The syslog level of a line of `px`: `err` for an error with `option
/// log-separate-errors`, else `info`.
pub fn level(px: &crate::config::model::Proxy, error: bool) -> u8 {
    if error && px.logging.separate_errors {
        crate::log::syslog::ERR
    } else {
        crate::log::syslog::INFO
    }
}

/// Logs `s` for `fe`; `null` says no byte moved (for `option dontlognull`).
pub fn log(shard: &ShardCtx, fe: &FrontendRt, s: &Stream, null: bool) {
    let px = &shard.shared.cfg.proxies[fe.proxy];
    let error = is_error(s);
    let send = px.logging.line.is_some()
        && s.log_level != Some(-1)
        && fe.logs
        && !(null && fe.dontlognull)
        && (error || !px.logging.dontlog_normal);
    let trace = log::log_enabled!(log::Level::Trace);
    if !send && !trace {
        return;
    }
    let format = match &px.logging.line {
        Some(f) => f,
        None => trace_format(s.http),
    };
    with_fields(shard, fe, s, |f| {
        access::with_line(format, px.logging.sd_line.as_ref(), f, |line, sd| {
            if trace {
                log::trace!("{}", String::from_utf8_lossy(line));
            }
            if send {
                let lvl = s.log_level.map_or_else(|| level(px, error), |l| l as u8);
                shard.log_sd(fe.proxy, lvl, line, sd);
            }
        })
    });
}

/// The `error-log-format` line of a connection of `fe` that failed before it carried a
/// stream (HAProxy's `sess_log`: the proxy ended it while waiting for a request), if the
/// frontend has one; `false` without, for the caller's legacy line.
pub fn log_session_error(shard: &ShardCtx, fe: &FrontendRt, s: &Stream) -> bool {
    let px = &shard.shared.cfg.proxies[fe.proxy];
    let Some(format) = &px.logging.error_line else {
        return false;
    };
    with_fields(shard, fe, s, |f| {
        access::with_line(format, px.logging.sd_line.as_ref(), f, |line, sd| {
            shard.log_sd(fe.proxy, level(px, true), line, sd);
        })
    });
    true
}

/// The frontend's `unique-id-format` rendered for `s` as it stands (HAProxy's
/// `stream_generate_unique_id`), or `None` without one. Its fetches read `request` (the
/// request being processed, headers included) when given, else what the log line sees.
pub fn unique_id(
    shard: &ShardCtx,
    fe: &FrontendRt,
    s: &Stream,
    request: Option<&dyn crate::acl::Sample>,
) -> Option<Vec<u8>> {
    let px = &shard.shared.cfg.proxies[fe.proxy];
    let format = px.logging.unique_id_line.as_ref()?;
    let mut out = Vec::new();
    with_fields(shard, fe, s, |f| {
        format.render_log(request.unwrap_or(f.sample), f, &mut out)
    });
    Some(out)
}

/// What `s` and the shard's view of `fe` and its backend say, as log variables.
fn with_fields<R>(
    shard: &ShardCtx,
    fe: &FrontendRt,
    s: &Stream,
    then: impl FnOnce(&Fields<'_>) -> R,
) -> R {
    let px = &shard.shared.cfg.proxies[fe.proxy];
    // An answer corelb made itself names no real server.
    let server = s.server.filter(|_| s.applet.is_none());
    let (bname, sname, server_addr, beconn, srvconn, bq) = match s.backend {
        Some(be) => (
            be.name.as_str(),
            server.map(|i| be.lb.servers[i].name.as_str()).or(s.applet),
            server.map(|i| be.lb.servers[i].addr_for(s.dst.map_or(0, |d| d.port()))),
            be.lb.servers.iter().map(|v| v.cur_conns()).sum::<u32>(),
            server.map_or(0, |i| be.lb.servers[i].cur_conns()),
            be.queue.waiting(),
        ),
        None => (fe.name.as_str(), s.applet, None, 0, 0, 0),
    };
    let request = if s.http {
        access::split_request_line(s.request_line)
    } else {
        None
    };
    let sample = ConnSample {
        src: s.src,
        dst: s.dst,
        tls: s.tls,
        conn_err: s.conn_err,
        request,
        stopping: shard.shared.control.soft_stopping(),
        vars: s.vars,
        captures: s.captures,
        unique_id: s.unique_id,
        first_req: s.http.then_some(s.first_req),
        listener: fe.listeners.get(s.bind).map(|l| &**l),
        strm: Some(
            shard
                .shared
                .strm(fe.proxy, s.backend.map(|b| b.proxy), server),
        ),
    };
    let f = Fields {
        src: s.src,
        dst: s.dst,
        tls_version: s.tls.map(|t| t.version),
        tls_suite: s.tls.and_then(|t| t.suite),
        date: s.date,
        frontend: &fe.name,
        backend: bname,
        server: sname,
        server_addr,
        t_request: s.t_request,
        t_queue: s.t_queue,
        t_connect: s.t_connect,
        t_response: s.t_response,
        t_total: s.t_total,
        status: s.status,
        embryonic: s.embryonic,
        bytes_out: s.bytes_out,
        bytes_in: s.bytes_in,
        term: s.term,
        cookie: s.cookie,
        actconn: shard.shared.slots.current(),
        feconn: fe.slots.current(),
        beconn,
        srvconn,
        retries: s.retries,
        redispatched: s.redispatched,
        srv_queue: 0,
        bk_queue: bq,
        req_captures: &px.logging.req_captures,
        res_captures: &px.logging.res_captures,
        captures: s.captures,
        request_line: s.request_line,
        sample: &sample,
        unique_id: s.unique_id,
        asap: px.logging.logasap,
    };
    then(&f)
}
