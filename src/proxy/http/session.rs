//! mode http: one client connection's life, request after request.
//!
//! ```text
//! ┌─▶ WaitRequest ── head parsed ──▶ Analyze ── monitor-uri / deny / redirect / return ──┐
//! │      │ timeout: 408, bad request: 400/414/431…          │ backend, server, edits       │
//! │      ▼ close                                            ▼                              │
//! │                                     ┌──────▶ Connect (pooled or new; retries) ──503─┤
//! │                                     │           ▼                                    │
//! │                                     │        SendRequest (head + body streamed)      │
//! │                                     │           ▼                                    │
//! │                                     └─retry─ ReadResponse (1xx forwarded) ─502/504──┤
//! │                                                 ▼                                    │
//! └──────── keep-alive ◀─────────────── ForwardResponse (body streamed) ◀───────────────┘
//! ```
//!
//! The codec (`super`) parses heads in place in the connection's input buffer and
//! serializes the outgoing heads with their edits; bodies stream through the same buffers
//! (never buffered whole). Server connections come from the shard's pool per `http-reuse`,
//! and go back to it when the server keeps them open.

use super::io::{InBuf, ServerIo, write_all};
use super::rules;
use super::{
    BodyKind, ChunkedScanner, ConnectionHeader, Edits, HttpError, Limits, Method, Parsed,
    RequestHead, ResponseHead, Version, parse_request, parse_response, serialize_request,
    serialize_response, write_error,
};
use crate::acl::{EditedRequestSample, RequestSample};
use crate::cluster::balance::{Pick, PickCtx};
use crate::cluster::retry::Failure;
use crate::cluster::{BackendRt, FrontendRt};
use crate::config::{ConnMode, Proxy, Reuse, retry_on};
use crate::net::shard::Shard;
use crate::proxy::{RetryTo, retry_after_failure};
use futures_lite::{AsyncRead, AsyncWrite, future};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What the connection looks like from the outside (for rules, logs, headers).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tls: Option<TlsInfo>,
}

#[derive(Clone, Debug)]
pub struct TlsInfo {
    pub sni: Option<String>,
    pub protocol: &'static str,
}

/// Why a server attempt failed, for `retry-on` and the status sent to the client.
#[derive(Debug)]
#[allow(dead_code)] // the payloads are for the debug log
enum SrvFail {
    /// Could not connect (`conn-failure`).
    Connect(io::Error),
    /// The server closed before sending anything (`empty-response`).
    Empty,
    /// What came back is not HTTP, or stopped mid-head (`junk-response`).
    Junk(Option<HttpError>),
    /// `timeout server` before the response head (`response-timeout`).
    Timeout,
    /// The client went away while we were sending its body.
    Client,
}

/// How the transaction ended, for the log's termination state.
#[derive(Clone, Copy, Debug)]
struct Term([u8; 2]);

/// One request/response exchange, for the log.
struct Txn {
    date: SystemTime,
    start: Instant,
    t_request: Option<Duration>,
    t_queue: Option<Duration>,
    t_connect: Option<Duration>,
    t_response: Option<Duration>,
    status: u16,
    bytes_out: u64,
    term: Term,
    backend: Option<Arc<BackendRt>>,
    server: Option<usize>,
    retries: u32,
    /// The server a retry redispatched from (the last one).
    redispatched_from: Option<usize>,
    /// The request line, kept for the log only when a log line will be written.
    request_line: String,
    /// For the stats counters: request bytes, whether a `deny` answered, whether corelb
    /// answered itself (monitor-uri, stats page, exporter), whether the server connection
    /// was reused.
    bytes_in: u64,
    denied: bool,
    intercepted: bool,
    reused: bool,
}

impl Txn {
    fn new() -> Txn {
        Txn {
            date: SystemTime::now(),
            start: Instant::now(),
            t_request: None,
            t_queue: None,
            t_connect: None,
            t_response: None,
            status: 0,
            bytes_out: 0,
            term: Term(*b"--"),
            backend: None,
            server: None,
            retries: 0,
            redispatched_from: None,
            request_line: String::new(),
            bytes_in: 0,
            denied: false,
            intercepted: false,
            reused: false,
        }
    }
}

/// Deadline helper: `None` = no timeout.
fn deadline(t: Option<Duration>) -> Option<Instant> {
    t.map(|t| Instant::now() + t)
}

pub async fn session<C>(
    shard: Rc<Shard>,
    fe: Arc<FrontendRt>,
    mut client: C,
    info: ConnInfo,
    early: Vec<u8>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let shared = shard.shared.clone();
    let cfg = shared.cfg.clone();
    let g = &cfg.global;
    let fe_px = &cfg.proxies[fe.proxy];
    let limits = Limits::from_haproxy(g.bufsize, 1024.min(g.bufsize / 2), g.maxhdr);
    let mut inb = InBuf::new(g.bufsize);
    inb.extend(&early);
    let mut req = RequestHead::with_capacity(&limits);
    let mut res = ResponseHead::with_capacity(&limits);
    // Output buffers grow on demand and are given back between requests (idle memory).
    let mut out: Vec<u8> = Vec::new();
    let mut sout: Vec<u8> = Vec::new();
    let mut rbuf = InBuf::new(g.bufsize);
    // A server connection kept for this client only (`http-reuse never`), with its server.
    let mut private: Option<(usize, usize, ServerIo)> = None;
    let mut requests = 0u64;
    // What ACLs see of this connection, built once.
    let acl_conn = crate::acl::ConnInfo {
        src: Some(info.src),
        dst: Some(info.dst),
        tls: info.tls.as_ref().map(|t| crate::acl::TlsInfo {
            sni: t.sni.as_ref().map(|s| s.as_bytes().into()),
            protocol: t.protocol.as_bytes(),
        }),
    };
    let mut scratch: Vec<u8> = Vec::new();
    let t_http_request = fe_px.timeouts.http_request.or(fe_px.timeouts.client);
    let t_keep_alive = fe_px.timeouts.http_keep_alive.or(t_http_request);

    loop {
        // ---------------- WaitRequest
        let mut txn = Txn::new();
        let first = requests == 0;
        // The first request has 'timeout http-request' from the accept; later ones wait up
        // to 'timeout http-keep-alive' for their first byte, then 'http-request'.
        let mut head_deadline = if first || !inb.is_empty() {
            deadline(t_http_request)
        } else {
            deadline(t_keep_alive)
        };
        let mut started = first || !inb.is_empty();
        let head_len = loop {
            if !inb.is_empty() {
                match parse_request(inb.bytes(), &limits, &mut req) {
                    Ok(Parsed::Complete { head_len }) => break head_len,
                    Ok(Parsed::Incomplete) => {}
                    Err(e) => {
                        fe.errors
                            .record(info.src, e, inb.bytes(), shard.shared.cfg.global.bufsize);
                        txn.status = e.status();
                        txn.term = Term(*b"PR");
                        out.clear();
                        write_error(&mut out, e.status(), true);
                        let _ = write_all(
                            &mut client,
                            &error_bytes(fe_px, None, e.status(), &out),
                            deadline(fe_px.timeouts.client),
                        )
                        .await;
                        log::debug!("{}: {}: bad request: {e}", fe.name, info.src);
                        log_txn(&shard, &fe, &info, &txn);
                        return;
                    }
                }
            }
            let read = if inb.is_empty() && !first {
                // Between requests: when the next one is not here yet, the connection is
                // idle and holds no buffer while it waits (busy ones keep theirs). The look
                // never waits, so it arms no deadline timer.
                let now = future::poll_once(inb.read_from(&mut client, None)).await;
                match now {
                    Some(r) => r,
                    None => {
                        inb.release();
                        rbuf.release();
                        out = Vec::new();
                        sout = Vec::new();
                        inb.read_from(&mut client, head_deadline).await
                    }
                }
            } else {
                inb.read_from(&mut client, head_deadline).await
            };
            match read {
                Ok(0) => return,
                Ok(_) => {
                    if !started {
                        started = true;
                        head_deadline = deadline(t_http_request);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if !started {
                        return; // idle keep-alive connection: close quietly
                    }
                    // HAProxy answers 408 (also to an empty new connection: see
                    // option http-ignore-probes).
                    txn.status = 408;
                    txn.term = Term(*b"cR");
                    out.clear();
                    write_error(&mut out, 408, true);
                    let _ = write_all(
                        &mut client,
                        &error_bytes(fe_px, None, 408, &out),
                        deadline(fe_px.timeouts.client),
                    )
                    .await;
                    log_txn(&shard, &fe, &info, &txn);
                    return;
                }
                Err(_) => return,
            }
        };
        requests += 1;
        txn.t_request = Some(txn.start.elapsed());
        txn.bytes_in = head_len as u64
            + match req.body_kind() {
                BodyKind::ContentLength(n) => n,
                _ => 0, // chunked bodies are not counted
            };
        if logging(&shard, &fe) {
            txn.request_line =
                String::from_utf8_lossy(req.request_line().get(inb.bytes())).into_owned();
        }
        // A form posted to a stats page (its admin actions) is read whole first: it is
        // small, and the page answers from it.
        if req.method() == Method::Post
            && let BodyKind::ContentLength(n) = req.body_kind()
            && shared.stats_pages.iter().any(|&i| {
                crate::stats::page::is_page(&cfg.proxies[i].stats, req.target(inb.bytes()))
            })
        {
            while inb.len() < head_len + n as usize {
                match inb.read_from(&mut client, deadline(t_http_request)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        let buf_len_at_head = inb.len();

        // ---------------- Analyze
        let method = req.method();
        let version = req.version();
        let upgrade = req.upgrade_requested();
        let bump = bumpalo::Bump::new();
        let mut edits: Edits<'_> = Edits::new();
        let mut flags = rules::Flags::default();
        let nbsrv = |i: usize| {
            shared
                .backends
                .get(i)
                .and_then(|b| b.as_ref())
                .map_or(0, |b| b.lb.usable_count() as u32)
        };
        let base = RequestSample {
            head: Some((&req, inb.bytes())),
            conn: &acl_conn,
            nbsrv: &nbsrv,
            stopping: shared.control.stopping(),
        };
        // tcp-request content rules: on each parsed request, before http-request (HAProxy's
        // HTX streams); a reject closes without an answer.
        if !fe_px.tcp_request.content.is_empty()
            && crate::proxy::inspect::run_content(&fe_px.tcp_request.content, &fe_px.acls, &base)
                != Some(crate::proxy::inspect::Verdict::Accept)
        {
            (txn.term, txn.denied) = (Term(*b"PR"), true);
            log_txn(&shard, &fe, &info, &txn);
            return;
        }
        let keep_after_reply = !fe_px.http.conn_mode.eq(&ConnMode::Close)
            && req.keep_alive()
            && req.body_kind() == BodyKind::None;
        // monitor-uri: answered here, before any rule, never forwarded (the ELB's health
        // check, seed 000); 503 while 'monitor fail' holds.
        let mut reply: Option<(u16, Vec<u8>)> = None;
        if let Some(uri) = &fe_px.http.monitor_uri
            && req.target(inb.bytes()) == uri.as_bytes()
        {
            let failing = fe_px
                .monitor_fail
                .as_ref()
                .is_some_and(|c| c.eval(&fe_px.acls, &base));
            let status = if failing { 503 } else { 200 };
            let mut page = Vec::new();
            write_error(&mut page, status, !keep_after_reply);
            reply = Some((status, page));
            txn.intercepted = true;
        }
        // The frontend's rules, then its old-style redirects, then the backend choice.
        let pages_fe = (fe_px, None);
        if reply.is_none() {
            for set in [&fe_px.http_request, &fe_px.redirects] {
                match rules::request_rules(
                    set,
                    &fe_px.acls,
                    &base,
                    &req,
                    inb.bytes(),
                    &mut edits,
                    &bump,
                    &mut scratch,
                    &mut flags,
                    pages_fe,
                    !keep_after_reply,
                ) {
                    rules::Verdict::Reply { status, bytes } => {
                        reply = Some((status, bytes));
                        break;
                    }
                    rules::Verdict::Allow | rules::Verdict::Continue => {}
                }
                if flags.prometheus {
                    break;
                }
            }
        }
        if reply.is_none() {
            let c = !keep_after_reply;
            reply = intercept(
                &shard,
                fe.proxy,
                &req,
                inb.bytes(),
                head_len,
                &base,
                &flags,
                c,
            );
            txn.intercepted = reply.is_some();
        }
        let be_index = if reply.is_some() {
            None
        } else {
            let edited = EditedRequestSample {
                request: base,
                edits: &edits,
            };
            fe_px
                .use_backends
                .iter()
                .find(|u| u.cond.as_ref().is_none_or(|c| c.eval(&fe_px.acls, &edited)))
                .or(fe_px.default_backend.as_ref())
                .map(|r| r.index)
                .or(fe_px.kind.is_backend().then_some(fe.proxy))
        };
        let be = match be_index.and_then(|i| shared.backends[i].clone()) {
            Some(be) => Some(be),
            None if reply.is_none() => {
                // No backend for this request: 503, as HAProxy.
                txn.term = Term(*b"PR");
                reply = Some((503, rules::page_for(503, fe_px, None)));
                None
            }
            None => None,
        };
        // The backend's own rules (a listen's rules already ran as the frontend's).
        if let (None, Some(be)) = (&reply, &be)
            && be.proxy != fe.proxy
        {
            let be_px = &cfg.proxies[be.proxy];
            if let rules::Verdict::Reply { status, bytes } = rules::request_rules(
                &be_px.http_request,
                &be_px.acls,
                &base,
                &req,
                inb.bytes(),
                &mut edits,
                &bump,
                &mut scratch,
                &mut flags,
                (fe_px, Some(be_px)),
                !keep_after_reply,
            ) {
                reply = Some((status, bytes));
            }
            if reply.is_none() {
                let c = !keep_after_reply;
                reply = intercept(
                    &shard,
                    be.proxy,
                    &req,
                    inb.bytes(),
                    head_len,
                    &base,
                    &flags,
                    c,
                );
                txn.intercepted = reply.is_some();
            }
        }
        if let Some((status, bytes)) = reply {
            txn.status = status;
            txn.denied = flags.denied;
            txn.backend = be.clone();
            let ok = write_all(&mut client, &bytes, deadline(fe_px.timeouts.client))
                .await
                .is_ok();
            txn.bytes_out = bytes.len() as u64;
            log_txn(&shard, &fe, &info, &txn);
            if ok && keep_after_reply && !bytes_say_close(&bytes) {
                inb.consume(head_len);
                continue;
            }
            return;
        }
        let be = be.expect("a backend when there is no reply");
        txn.backend = Some(be.clone());
        let be_px = &cfg.proxies[be.proxy];
        // Persistence: the cookie naming a usable server, and the hash of balance uri/…
        let now = if be_px.cookie.is_some() {
            super::persist::now_secs()
        } else {
            0
        };
        let sticky = be_px.cookie.as_ref().and_then(|c| {
            super::persist::request_cookie(
                c,
                &be.server_cookies,
                |i| be.lb.servers[i].usable(),
                &req,
                inb.bytes(),
                now,
            )
        });
        if let Some(c) = &be_px.cookie {
            super::persist::rewrite_request_cookies(c, &req, inb.bytes(), &mut edits, &bump);
        }
        let hash_key = be_px
            .balance
            .key
            .as_ref()
            .and_then(|k| super::persist::request_hash(k, &req, inb.bytes()));
        // `server … ssl sni EXPR`: the name each such server gets for this request.
        let expr_sni: Vec<(usize, Vec<u8>)> = be
            .sni_exprs
            .iter()
            .filter_map(|&i| match be.server_tls[i].as_ref()?.sni.as_ref()? {
                crate::config::ServerSni::Expr(f) => {
                    let sample = RequestSample {
                        head: Some((&req, inb.bytes())),
                        conn: &acl_conn,
                        nbsrv: &nbsrv,
                        stopping: shared.control.stopping(),
                    };
                    let mut v = Vec::new();
                    f.render(&sample, &mut v);
                    Some((i, v))
                }
                crate::config::ServerSni::Fixed(_) => None,
            })
            .collect();
        let conn_mode = fe_px.http.conn_mode.max(be_px.http.conn_mode);
        let client_close = conn_mode == ConnMode::Close || !req.keep_alive();

        // How the head goes to the server.
        edits.strip_hop_by_hop(true);
        if upgrade {
            edits.set_connection(ConnectionHeader::Upgrade);
        } else if conn_mode != ConnMode::KeepAlive {
            edits.set_connection(ConnectionHeader::Close);
        } else if version == Version::Http10 {
            edits.set_connection(ConnectionHeader::KeepAlive);
        }
        let buf = inb.bytes();
        if let Some(ff) = be_px
            .http
            .forwardfor
            .as_ref()
            .or(fe_px.http.forwardfor.as_ref())
            && !ff.except.is_some_and(|n| n.contains(info.src.ip()))
            && !(ff.if_none && has_header(&req, buf, ff.header.as_bytes()))
            && let Ok(v) = edits.format(format_args!("{}", info.src.ip()))
        {
            let _ = edits.add_header(ff.header.as_bytes(), v);
        }
        if let Some(ot) = be_px
            .http
            .originalto
            .as_ref()
            .or(fe_px.http.originalto.as_ref())
            && !ot.except.is_some_and(|n| n.contains(info.dst.ip()))
            && let Ok(v) = edits.format(format_args!("{}", info.dst.ip()))
        {
            let _ = edits.add_header(ot.header.as_bytes(), v);
        }
        sout.clear();
        serialize_request(&req, buf, &edits, &mut sout);
        // http-response conditions look at the request: keep its head once the buffer moves on.
        let saved_head: Vec<u8> =
            if be_px.http_response.is_empty() && fe_px.http_response.is_empty() {
                Vec::new()
            } else {
                inb.bytes()[..head_len].to_vec()
            };
        let nbsrv2 = nbsrv;

        // What of the body is already here: a request that is complete in the buffer can be
        // replayed on another server (layer-7 retries, as HAProxy requires).
        let body_kind = req.body_kind();
        let in_buf = buf_len_at_head - head_len;
        let mut scanner = ChunkedScanner::new(&limits);
        let whole_body = match body_kind {
            BodyKind::None => Some(0),
            BodyKind::ContentLength(n) if (n as usize) <= in_buf => Some(n as usize),
            BodyKind::Chunked => match scanner.advance(&inb.bytes()[head_len..]) {
                Ok(a) if a.done => Some(a.consumed),
                Ok(_) => None,
                Err(e) => {
                    let e = e.into_http_error(super::Side::Client);
                    out.clear();
                    write_error(&mut out, e.status(), true);
                    let _ = write_all(
                        &mut client,
                        &error_bytes(fe_px, Some(be_px), e.status(), &out),
                        deadline(fe_px.timeouts.client),
                    )
                    .await;
                    txn.status = e.status();
                    txn.term = Term(*b"PR");
                    log_txn(&shard, &fe, &info, &txn);
                    return;
                }
            },
            _ => None,
        };
        scanner.reset();
        let replayable = whole_body.is_some() && !req.expects_continue() && !flags.disable_l7_retry;

        // ---------------- Connect / send / read, with retries
        let ctx = PickCtx {
            client_ip: info.src.ip(),
            avoid: None,
            key: hash_key,
        };
        let mut retry = Retry::default();
        let result: Result<(usize, ServerIo, bool), SrvFail> = loop {
            // The same server again, else the cookie's server first (unless redispatching
            // away from it), else balance.
            let srv = if let Some(s) = retry.again.take() {
                Some(s)
            } else {
                let direct = sticky.as_ref().map(|s| s.server).filter(|&s| {
                    retry.avoid != Some(s) && retry.made == 0 && be.lb.servers[s].try_acquire()
                });
                retry.persistent = direct.is_some();
                match direct {
                    Some(s) => Some(s),
                    None => {
                        let avoid = retry.avoid;
                        pick(&be, &PickCtx { avoid, ..ctx }, &mut txn).await
                    }
                }
            };
            let srv = match srv {
                Some(s) => s,
                None => {
                    break Err(SrvFail::Connect(io::Error::other("no server available")));
                }
            };
            txn.server = Some(srv);
            let mut reused = false;
            let t0 = Instant::now();
            let sconn = match private.take() {
                Some((b, s, c)) if b == be.proxy && s == srv && c.idle_alive() => {
                    reused = true;
                    Ok(c)
                }
                other => {
                    // A private connection to another server is closed: its client moved on.
                    drop(other);
                    // (The pool's borrow must end before any await.)
                    let pooled =
                        shard
                            .http_pool
                            .borrow_mut()
                            .take(be.proxy, srv, be_px.http.reuse, first);
                    match pooled {
                        Some((c, _)) => {
                            reused = true;
                            Ok(c)
                        }
                        None => {
                            let sni = expr_sni
                                .iter()
                                .find(|(i, _)| *i == srv)
                                .map(|(_, v)| &v[..]);
                            crate::proxy::upstream::connect(&be, srv, info.src, info.dst, sni).await
                        }
                    }
                }
            };
            let mut sconn = match sconn {
                Ok(c) => c,
                Err(e) => {
                    txn.t_connect = None;
                    observe_error(&shard, &be, srv);
                    // Nothing was sent yet: a connection failure (refused, timed out, a
                    // failed TLS handshake) is retried whatever the body.
                    let failure = if e.kind() == io::ErrorKind::TimedOut {
                        Failure::Timeout
                    } else {
                        Failure::Error
                    };
                    if be_px.http.retry_on & retry_on::CONN_FAILURE != 0
                        && retry.after(&be, srv, failure, &mut txn).await
                    {
                        continue;
                    }
                    be.lb.release(srv);
                    be.queue.wake_one();
                    break Err(SrvFail::Connect(e));
                }
            };
            be.lb.servers[srv].observed_success();
            txn.t_connect = Some(t0.elapsed());
            // Send the head, and the body when it is all here.
            let t_server = be.server_timeout;
            let mut send = Vec::new();
            std::mem::swap(&mut send, &mut sout);
            let sent = if let Some(n) = whole_body.filter(|_| !req.expects_continue()) {
                let r = async {
                    write_all(&mut sconn, &send, deadline(t_server)).await?;
                    write_all(
                        &mut sconn,
                        &inb.bytes()[head_len..head_len + n],
                        deadline(t_server),
                    )
                    .await
                }
                .await;
                r.map(|_| n)
            } else {
                write_all(&mut sconn, &send, deadline(t_server))
                    .await
                    .map(|_| 0)
            };
            std::mem::swap(&mut send, &mut sout);
            if let Err(e) = sent {
                if reused {
                    // A reused connection the server closed meanwhile: try a fresh one.
                    be.lb.release(srv);
                    be.queue.wake_one();
                    continue;
                }
                // A fresh connection that failed before the request went out: a failed
                // connect, when the request can be sent again.
                if replayable && retry.after(&be, srv, Failure::Error, &mut txn).await {
                    continue;
                }
                be.lb.release(srv);
                be.queue.wake_one();
                break Err(SrvFail::Connect(e));
            }
            // Stream the rest of the body (not replayable: no retry from here on).
            if whole_body.is_none() || req.expects_continue() {
                match forward_request_body(
                    &mut client,
                    &mut sconn,
                    &mut inb,
                    head_len,
                    body_kind,
                    &mut scanner,
                    req.expects_continue(),
                    &mut res,
                    &mut rbuf,
                    &limits,
                    method,
                    fe_px,
                    t_server,
                )
                .await
                {
                    Ok(()) => {}
                    Err(f) => {
                        be.lb.release(srv);
                        be.queue.wake_one();
                        break Err(f);
                    }
                }
            }
            // Read the response head (forwarding interim 1xx responses).
            let t_resp = Instant::now();
            match read_response_head(
                &mut client,
                &mut sconn,
                &mut rbuf,
                &mut res,
                &limits,
                t_server,
                fe_px.timeouts.client,
            )
            .await
            {
                Ok(()) => {
                    txn.t_response = Some(t_resp.elapsed());
                    let status = res.status();
                    if retry_on::status_bit(status) & be_px.http.retry_on != 0
                        && replayable
                        && retry.after(&be, srv, Failure::Response, &mut txn).await
                    {
                        rbuf.consume(rbuf.len());
                        continue;
                    }
                    break Ok((srv, sconn, reused));
                }
                Err(f) => {
                    rbuf.consume(rbuf.len());
                    // A reused connection closed under us before answering: retry on a
                    // fresh one (the request never reached the application).
                    if reused && matches!(f, SrvFail::Empty) && replayable {
                        be.lb.release(srv);
                        be.queue.wake_one();
                        continue;
                    }
                    if matches!(f, SrvFail::Empty | SrvFail::Junk(_)) {
                        observe_error(&shard, &be, srv);
                    }
                    if replayable
                        && retryable(be_px, &f)
                        && retry.after(&be, srv, Failure::Response, &mut txn).await
                    {
                        continue;
                    }
                    be.lb.release(srv);
                    be.queue.wake_one();
                    break Err(f);
                }
            }
        };

        let (srv, mut sconn, reused) = match result {
            Ok(x) => {
                txn.reused = x.2;
                x
            }
            Err(f) => {
                let (status, term) = match &f {
                    SrvFail::Connect(_) => (503, *b"SC"),
                    SrvFail::Empty => (502, *b"SH"),
                    SrvFail::Junk(_) => (502, *b"PH"),
                    SrvFail::Timeout => (504, *b"sH"),
                    SrvFail::Client => (0, *b"CD"),
                };
                txn.term = Term(term);
                if status != 0 {
                    txn.status = status;
                    out.clear();
                    write_error(&mut out, status, true);
                    let _ = write_all(
                        &mut client,
                        &error_bytes(fe_px, Some(be_px), status, &out),
                        deadline(fe_px.timeouts.client),
                    )
                    .await;
                }
                log::debug!("{}/{}: {}: {f:?}", fe.name, be.name, info.src);
                log_txn(&shard, &fe, &info, &txn);
                return;
            }
        };

        // ---------------- ForwardResponse
        let status = res.status();
        txn.status = status;
        let res_body = res.body_kind(method);
        let tunnel = matches!(res_body, BodyKind::Tunnel);
        let mut close_client = client_close || matches!(res_body, BodyKind::CloseDelimited);
        let rbump = bumpalo::Bump::new();
        let mut edits: Edits<'_> = Edits::new();
        if let (Some(c), Some(value)) = (&be_px.cookie, &be.server_cookies[srv]) {
            let sticky_ok = sticky.as_ref().is_some_and(|s| s.server == srv);
            let refresh = sticky.as_ref().is_some_and(|s| s.refresh);
            super::persist::response_cookie(
                c,
                value,
                &res,
                rbuf.bytes(),
                &mut edits,
                &rbump,
                method == Method::Post,
                sticky_ok,
                refresh,
                now,
            );
        }
        // http-response rules: the backend's, then the frontend's (HAProxy's order).
        if !saved_head.is_empty() {
            let rbase = RequestSample {
                head: Some((&req, &saved_head)),
                conn: &acl_conn,
                nbsrv: &nbsrv2,
                stopping: shared.control.stopping(),
            };
            let mut sets: Vec<(&Proxy, bool)> = vec![(be_px, true)];
            if be.proxy != fe.proxy {
                sets.push((fe_px, false));
            }
            for (px, is_be) in sets {
                let v = rules::response_rules(
                    &px.http_response,
                    &px.acls,
                    &rbase,
                    &res,
                    rbuf.bytes(),
                    &mut edits,
                    &rbump,
                    &mut scratch,
                    (fe_px, if is_be { Some(be_px) } else { None }),
                    true,
                );
                match v {
                    rules::Verdict::Reply { status, bytes } => {
                        // The server's answer is replaced: its connection cannot be reused.
                        be.lb.release(srv);
                        be.queue.wake_one();
                        drop(sconn);
                        txn.status = status;
                        let _ =
                            write_all(&mut client, &bytes, deadline(fe_px.timeouts.client)).await;
                        txn.bytes_out = bytes.len() as u64;
                        log_txn(&shard, &fe, &info, &txn);
                        return;
                    }
                    rules::Verdict::Allow => break,
                    rules::Verdict::Continue => {}
                }
            }
        }
        edits.strip_hop_by_hop(true);
        if tunnel {
            edits.set_connection(ConnectionHeader::Upgrade);
        } else if close_client {
            edits.set_connection(ConnectionHeader::Close);
        } else if version == Version::Http10 {
            edits.set_connection(ConnectionHeader::KeepAlive);
        }
        out.clear();
        let head_len_r = res.head_len();
        serialize_response(&res, rbuf.bytes(), &edits, &mut out);
        rbuf.consume(head_len_r);
        let t_client = fe_px.timeouts.client;
        let fwd = forward_response_body(
            &mut client,
            &mut sconn,
            &mut rbuf,
            &mut out,
            res_body,
            &limits,
            be.server_timeout,
            t_client,
        )
        .await;
        txn.bytes_out = fwd.bytes;
        be.lb.release(srv);
        be.queue.wake_one();
        // The request's body and head are done with: what follows is the next request.
        let consumed = head_len + whole_body.unwrap_or(0);
        if whole_body.is_some() {
            inb.consume(consumed);
        }
        if let Some(t) = fwd.term {
            txn.term = Term(t);
            close_client = true;
        }
        if tunnel && fwd.term.is_none() {
            // Upgraded (WebSocket…): bytes flow both ways until one side closes.
            let leftover = inb.take_all();
            let t = be.tunnel_timeout.or(t_client);
            let _ = tunnel_copy(&mut client, &mut sconn, &leftover, t).await;
            log_txn(&shard, &fe, &info, &txn);
            return;
        }
        // Keep the server connection when it can serve another request.
        let server_keep = fwd.complete
            && conn_mode == ConnMode::KeepAlive
            && res.keep_alive(method)
            && !res.must_close()
            && rbuf.is_empty();
        // A TLS connection named after this request (`sni EXPR`) is not for other requests.
        let named = expr_sni.iter().any(|(i, _)| *i == srv);
        if server_keep && !named {
            if be_px.http.reuse == Reuse::Never {
                private = Some((be.proxy, srv, sconn));
            } else {
                shard
                    .http_pool
                    .borrow_mut()
                    .put(be.proxy, srv, sconn, reused);
            }
        } else {
            drop(sconn);
        }
        rbuf.consume(rbuf.len());
        log_txn(&shard, &fe, &info, &txn);
        if close_client {
            return;
        }
    }
}

/// corelb's own answers: `use-service prometheus-exporter`, and the stats page of proxy
/// `px` (`stats enable`), rendered for this request only.
#[allow(clippy::too_many_arguments)]
fn intercept(
    shard: &Shard,
    px: usize,
    req: &RequestHead,
    buf: &[u8],
    head_len: usize,
    base: &RequestSample,
    flags: &rules::Flags,
    close: bool,
) -> Option<(u16, Vec<u8>)> {
    use crate::stats::page;
    let shared = &shard.shared;
    let target = req.target(buf);
    if flags.prometheus {
        return Some((200, page::prometheus(shared, target, close)));
    }
    let p = &shared.cfg.proxies[px];
    if !page::is_page(&p.stats, target) {
        return None;
    }
    // The admin form, when its body is all here (a small form comes with its head).
    let body = match req.body_kind() {
        BodyKind::ContentLength(n) if head_len + n as usize <= buf.len() => {
            &buf[head_len..head_len + n as usize]
        }
        _ => &[],
    };
    let r = page::serve(
        shared,
        px,
        &page::PageRequest {
            target,
            post: req.method() == Method::Post,
            authorization: req
                .headers()
                .iter()
                .find(|h| h.is(buf, b"authorization"))
                .map(|h| h.value(buf)),
            body,
            admin: p
                .stats
                .admin
                .as_ref()
                .is_some_and(|c| c.eval(&p.acls, base)),
            close,
        },
    );
    if let Some(user) = r.failed_login {
        let from = base.conn.src.map(|a| a.to_string()).unwrap_or_default();
        let msg = format!(
            "proxy {}: failed stats login as '{user}' from {from}",
            p.name
        );
        log::warn!("{msg}");
        shard.log(px, crate::log::syslog::WARNING, &msg);
    }
    Some((r.status, r.bytes))
}

/// Every transaction ends in [`log_txn`]: what it adds to the stats counters.
fn count_txn(shard: &Shard, fe: &FrontendRt, txn: &Txn) {
    let now = Instant::now();
    let e = crate::stats::StreamEnd {
        status: txn.status,
        http: true,
        from_server: txn.t_response.is_some(),
        bytes_in: txn.bytes_in,
        bytes_out: txn.bytes_out,
        term: txn.term.0,
        retries: txn.retries,
        redispatched_from: txn.redispatched_from,
        denied: txn.denied,
        intercepted: txn.intercepted,
        reused: txn.reused,
        t_queue: txn.t_queue,
        queued_with: 0,
        t_connect: txn.t_connect,
        t_response: txn.t_response,
        t_total: now.saturating_duration_since(txn.start),
    };
    let counters = shard.shared.counters.shard(shard.id);
    counters.stream_done(fe.proxy, txn.backend.as_deref(), txn.server, e, now);
}

fn bytes_say_close(b: &[u8]) -> bool {
    let head_end = memchr::memmem::find(b, b"\r\n\r\n").unwrap_or(b.len());
    memchr::memmem::find(&b[..head_end], b"Connection: close").is_some()
}

/// Picks a server, waiting in the backend's queue while every server is full.
async fn pick(be: &BackendRt, ctx: &PickCtx, txn: &mut Txn) -> Option<usize> {
    match be.lb.pick(ctx) {
        Pick::Server(s) => Some(s),
        Pick::NoServer => None,
        Pick::Full => {
            let since = Instant::now();
            let got = be
                .queue
                .wait_for(be.queue_timeout.map(|t| since + t), || {
                    match be.lb.pick(ctx) {
                        Pick::Full => None,
                        other => Some(other),
                    }
                })
                .await;
            txn.t_queue = Some(since.elapsed());
            match got {
                Some(Pick::Server(s)) => Some(s),
                _ => None,
            }
        }
    }
}

/// The retries of one request's connect loop.
#[derive(Default)]
struct Retry {
    /// Retries made (the log's count).
    made: u32,
    /// The same server next (its slot still held), as the retry rule decided.
    again: Option<usize>,
    /// The server a redispatch moves away from.
    avoid: Option<usize>,
    /// The server came from the persistence cookie (kept while retrying on it).
    persistent: bool,
}

impl Retry {
    /// After a failed attempt on `srv` (its slot held): whether to try again, where the
    /// one retry rule says (after its turn-around delay). On false the slot is still held.
    async fn after(&mut self, be: &BackendRt, srv: usize, failure: Failure, txn: &mut Txn) -> bool {
        let Some(to) = retry_after_failure(be, srv, self.made, failure, self.persistent).await
        else {
            return false;
        };
        self.made += 1;
        txn.retries = self.made;
        match to {
            RetryTo::Same => self.again = Some(srv),
            RetryTo::Another => {
                self.avoid = Some(srv);
                txn.redispatched_from = Some(srv);
            }
        }
        true
    }
}

/// Whether `retry-on` covers this failure.
fn retryable(be_px: &Proxy, f: &SrvFail) -> bool {
    let bit = match f {
        SrvFail::Connect(_) => retry_on::CONN_FAILURE,
        SrvFail::Empty => retry_on::EMPTY_RESPONSE,
        SrvFail::Junk(_) => retry_on::JUNK_RESPONSE,
        SrvFail::Timeout => retry_on::RESPONSE_TIMEOUT,
        SrvFail::Client => 0,
    };
    be_px.http.retry_on & bit != 0
}

fn observe_error(shard: &Shard, be: &BackendRt, srv: usize) {
    let server = &be.lb.servers[srv];
    if let Some(t) = server.observed_error() {
        crate::net::shard::announce(
            shard,
            be,
            srv,
            t,
            &format!(
                "reason: Health analyze, info: \"Detected {} consecutive errors, last one was: L4 unsuccessful connection\"",
                server.observe.error_limit
            ),
        );
    }
}

fn has_header(req: &RequestHead, buf: &[u8], name: &[u8]) -> bool {
    req.headers().iter().any(|f| f.is(buf, name))
}

/// The bytes to send for an error `status`: the proxy's `errorfile` (backend first, then
/// frontend), else the built-in page already in `builtin`.
fn error_bytes<'a>(
    fe: &'a Proxy,
    be: Option<&'a Proxy>,
    status: u16,
    builtin: &'a [u8],
) -> std::borrow::Cow<'a, [u8]> {
    let custom = be
        .and_then(|b| b.http.errorfiles.iter().find(|(c, _)| *c == status))
        .or_else(|| fe.http.errorfiles.iter().find(|(c, _)| *c == status));
    match custom {
        Some((_, bytes)) => std::borrow::Cow::Borrowed(&bytes[..]),
        None => std::borrow::Cow::Borrowed(builtin),
    }
}

/// Streams the request body to the server, from what is buffered then from the client.
/// With `Expect: 100-continue`, the server's answer comes first: a 100 goes to the client
/// before the body; a final answer ends the upload (it stays in `rbuf` for the caller).
#[allow(clippy::too_many_arguments)]
async fn forward_request_body<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    server: &mut ServerIo,
    inb: &mut InBuf,
    head_len: usize,
    kind: BodyKind,
    scanner: &mut ChunkedScanner,
    expect: bool,
    res: &mut ResponseHead,
    rbuf: &mut InBuf,
    limits: &Limits,
    method: Method,
    fe_px: &Proxy,
    t_server: Option<Duration>,
) -> Result<(), SrvFail> {
    let t_client = fe_px.timeouts.client;
    inb.consume(head_len);
    if expect && kind.has_body() {
        // Wait for the server's verdict before the client sends the body.
        loop {
            if !rbuf.is_empty() {
                match parse_response(rbuf.bytes(), limits, res) {
                    Ok(Parsed::Complete { head_len: hl }) => {
                        if res.status() == 100 {
                            let r =
                                write_all(client, &rbuf.bytes()[..hl], deadline(t_client)).await;
                            rbuf.consume(hl);
                            r.map_err(|_| SrvFail::Client)?;
                            break;
                        }
                        // A final answer (417, 401, 413…): no body will be sent.
                        let _ = method;
                        return Ok(());
                    }
                    Ok(Parsed::Incomplete) => {}
                    Err(e) => return Err(SrvFail::Junk(Some(e))),
                }
            }
            match rbuf.read_from(server, deadline(t_server)).await {
                Ok(0) => return Err(SrvFail::Empty),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(SrvFail::Timeout),
                Err(_) => return Err(SrvFail::Empty),
            }
        }
    }
    match kind {
        BodyKind::ContentLength(n) => {
            let mut left = n;
            while left > 0 {
                if inb.is_empty() {
                    match inb.read_from(client, deadline(t_client)).await {
                        Ok(0) | Err(_) => return Err(SrvFail::Client),
                        Ok(_) => {}
                    }
                }
                let k = (inb.len() as u64).min(left) as usize;
                write_all(server, &inb.bytes()[..k], deadline(t_server))
                    .await
                    .map_err(SrvFail::Connect)?;
                inb.consume(k);
                left -= k as u64;
            }
        }
        BodyKind::Chunked => loop {
            if inb.is_empty() {
                match inb.read_from(client, deadline(t_client)).await {
                    Ok(0) | Err(_) => return Err(SrvFail::Client),
                    Ok(_) => {}
                }
            }
            let adv = scanner.advance(inb.bytes()).map_err(|_| SrvFail::Client)?;
            write_all(server, &inb.bytes()[..adv.consumed], deadline(t_server))
                .await
                .map_err(SrvFail::Connect)?;
            inb.consume(adv.consumed);
            if adv.done {
                break;
            }
        },
        _ => {}
    }
    Ok(())
}

/// Reads the final response head into `rbuf`/`res`, forwarding interim responses (100,
/// 103…) to the client as they come.
async fn read_response_head<C: AsyncWrite + Unpin>(
    client: &mut C,
    server: &mut ServerIo,
    rbuf: &mut InBuf,
    res: &mut ResponseHead,
    limits: &Limits,
    t_server: Option<Duration>,
    t_client: Option<Duration>,
) -> Result<(), SrvFail> {
    let dl = deadline(t_server);
    let mut got_any = !rbuf.is_empty();
    loop {
        if !rbuf.is_empty() {
            match parse_response(rbuf.bytes(), limits, res) {
                Ok(Parsed::Complete { head_len }) => {
                    if res.is_interim() {
                        let r =
                            write_all(client, &rbuf.bytes()[..head_len], deadline(t_client)).await;
                        rbuf.consume(head_len);
                        r.map_err(|_| SrvFail::Client)?;
                        continue;
                    }
                    return Ok(());
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err(SrvFail::Junk(Some(e))),
            }
        }
        match rbuf.read_from(server, dl).await {
            Ok(0) => {
                return Err(if got_any {
                    SrvFail::Junk(None)
                } else {
                    SrvFail::Empty
                });
            }
            Ok(_) => got_any = true,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(SrvFail::Timeout),
            Err(_) if !got_any => return Err(SrvFail::Empty),
            Err(_) => return Err(SrvFail::Junk(None)),
        }
    }
}

struct Forwarded {
    bytes: u64,
    /// The whole body went through (the server connection may be reused).
    complete: bool,
    /// Set when the transfer broke: the log's termination state.
    term: Option<[u8; 2]>,
}

/// Sends the response head (in `out`) and streams the body: by length, by chunks, or until
/// the server closes.
#[allow(clippy::too_many_arguments)]
async fn forward_response_body<C: AsyncWrite + Unpin>(
    client: &mut C,
    server: &mut ServerIo,
    rbuf: &mut InBuf,
    out: &mut Vec<u8>,
    kind: BodyKind,
    limits: &Limits,
    t_server: Option<Duration>,
    t_client: Option<Duration>,
) -> Forwarded {
    let mut f = Forwarded {
        bytes: 0,
        complete: false,
        term: None,
    };
    // The head goes out with the first body bytes in one write.
    let mut left: Option<u64> = match kind {
        BodyKind::ContentLength(n) => Some(n),
        _ => None,
    };
    let mut scanner = ChunkedScanner::new(limits);
    let mut first = true;
    loop {
        // How much of rbuf belongs to the body now.
        let take = match kind {
            BodyKind::None | BodyKind::Tunnel => 0,
            BodyKind::ContentLength(_) => (rbuf.len() as u64).min(left.unwrap_or(0)) as usize,
            BodyKind::Chunked => match scanner.advance(rbuf.bytes()) {
                Ok(a) => a.consumed,
                Err(_) => {
                    f.term = Some(*b"SD");
                    return f;
                }
            },
            BodyKind::CloseDelimited => rbuf.len(),
        };
        if first || take > 0 {
            out.extend_from_slice(&rbuf.bytes()[..take]);
            if write_all(client, out, deadline(t_client)).await.is_err() {
                f.term = Some(*b"CD");
                return f;
            }
            f.bytes += out.len() as u64;
            out.clear();
            rbuf.consume(take);
            if let Some(l) = left.as_mut() {
                *l -= take as u64;
            }
            first = false;
        }
        let done = match kind {
            BodyKind::None | BodyKind::Tunnel => true,
            BodyKind::ContentLength(_) => left == Some(0),
            BodyKind::Chunked => scanner.is_done(),
            BodyKind::CloseDelimited => false,
        };
        if done {
            f.complete = true;
            return f;
        }
        match rbuf.read_from(server, deadline(t_server)).await {
            Ok(0) => {
                if kind == BodyKind::CloseDelimited {
                    f.complete = false; // the server closed: done, but not reusable
                    return f;
                }
                f.term = Some(*b"SD");
                return f;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                f.term = Some(*b"sD");
                return f;
            }
            Err(_) => {
                f.term = Some(*b"SD");
                return f;
            }
        }
    }
}

/// Both directions after an upgrade, until one side closes or `timeout` of silence.
async fn tunnel_copy<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    server: &mut ServerIo,
    first_to_server: &[u8],
    timeout: Option<Duration>,
) -> io::Result<()> {
    if !first_to_server.is_empty() {
        write_all(server, first_to_server, deadline(timeout)).await?;
    }
    crate::proxy::copy::bidirectional(client, server, timeout).await
}

fn logging(shard: &Shard, fe: &FrontendRt) -> bool {
    let fe_px = &shard.shared.cfg.proxies[fe.proxy];
    ((fe_px.http.httplog || fe.tcplog) && fe.logs) || log::log_enabled!(log::Level::Trace)
}

/// `option httplog` line, HAProxy's format:
/// `ip:port [date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes - - term act/fe/be/srv/retries sq/bq "request line"`.
fn log_txn(shard: &Shard, fe: &FrontendRt, info: &ConnInfo, txn: &Txn) {
    count_txn(shard, fe, txn);
    let fe_px = &shard.shared.cfg.proxies[fe.proxy];
    let wanted = (fe_px.http.httplog || fe.tcplog) && fe.logs;
    if !wanted && !log::log_enabled!(log::Level::Trace) {
        return;
    }
    use std::fmt::Write as _;
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as i64).unwrap_or(-1);
    let mut line = String::with_capacity(256);
    let _ = write!(line, "{}:{} [", info.src.ip(), info.src.port());
    crate::log::format_date(txn.date, &mut line);
    let (bname, sname, beconn, srvconn, bq) = match &txn.backend {
        Some(be) => (
            be.name.as_str(),
            txn.server
                .map(|s| be.lb.servers[s].name.as_str())
                .unwrap_or("<NOSRV>"),
            be.lb.servers.iter().map(|s| s.cur_conns()).sum::<u32>(),
            txn.server
                .map(|s| be.lb.servers[s].cur_conns())
                .unwrap_or(0),
            be.queue.waiting(),
        ),
        None => (fe.name.as_str(), "<NOSRV>", 0, 0, 0),
    };
    let status: i64 = if txn.status == 0 {
        -1
    } else {
        txn.status as i64
    };
    let _ = write!(
        line,
        "] {}{} {bname}/{sname} {}/{}/{}/{}/{} {status} {} - - {}{}-- {}/{}/{beconn}/{srvconn}/{} 0/{bq} \"{}\"",
        fe.name,
        if info.tls.is_some() { "~" } else { "" },
        ms(txn.t_request),
        ms(txn.t_queue.or(Some(Duration::ZERO))),
        ms(txn.t_connect),
        ms(txn.t_response),
        txn.start.elapsed().as_millis(),
        txn.bytes_out,
        txn.term.0[0] as char,
        txn.term.0[1] as char,
        shard.shared.slots.current(),
        fe.slots.current(),
        txn.retries,
        if txn.request_line.is_empty() {
            "<BADREQ>"
        } else {
            &txn.request_line
        },
    );
    log::trace!("{line}");
    if wanted {
        shard.log(fe.proxy, crate::log::syslog::INFO, &line);
    }
}
