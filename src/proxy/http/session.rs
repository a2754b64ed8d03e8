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

use super::rules;
use crate::acl::{EditedRequestSample, RequestSample};
use crate::cluster::balance::{Pick, PickCtx};
use crate::cluster::control::Priority;
use crate::cluster::retry::Failure;
use crate::cluster::sessions::Target;
use crate::cluster::{BackendRt, FrontendRt};
use crate::config::{ConnMode, Proxy, Reuse, retry_on};
use crate::h1::{
    BodyKind, ChunkedScanner, ConnectionHeader, Edits, HeadLimits, Method, Parsed, RequestHead,
    ResponseHead, Version, parse_request, parse_response, serialize_request, serialize_response,
    write_error,
};
use crate::log::term::{Cause, Phase, Term};
use crate::net::error::{Again, Kind, ProxyError};
use crate::net::io::{InBuf, ServerIo, within, write_all};
use crate::net::ready::{ReadReady, readable};
use crate::net::shard::ShardCtx;
use crate::proxy::{RetryTo, retry_after_failure};
use crate::stats::counters::ticked;
use futures_lite::{AsyncRead, AsyncWrite};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What the connection looks like from the outside (for rules, logs, headers).
#[derive(Debug)]
pub struct ClientInfo {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tls: Option<TlsInfo>,
    /// The requests come as HTTP/2 streams (their heads are rebuilt as HTTP/1.1 for the
    /// codec; `req.ver` and the log say 2.0).
    pub h2: bool,
    /// What `tcp-request connection|session` rules stored in `sess.` variables.
    pub vars: crate::acl::VarSet,
    /// The counters `tcp-request connection|session` rules track (the session's), if any.
    pub trackers: Option<Box<crate::stick::Trackers>>,
    /// The client socket's descriptor (open for as long as the session runs), for
    /// `http-request silent-drop`.
    pub fd: std::os::fd::RawFd,
    /// The connection's entry in the shard's session registry.
    pub sess: crate::cluster::sessions::Handle,
    /// The `bind` it came through (its listener counters).
    pub bind: usize,
    /// A mode tcp stream gone on as HTTP/1: the variables its `tcp-request content` rules
    /// set, for its first request, which does not run those rules again.
    pub switched: Option<Box<crate::acl::VarSet>>,
}

#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// (A boxed str, not a String: the connection's idle future holds this twice.)
    pub sni: Option<Box<str>>,
    pub version: crate::tls::Version,
    /// The protocol ALPN chose (`h2`, `http/1.1`), if any: `ssl_fc_alpn`.
    pub alpn: Option<&'static str>,
    /// The certificate the client presented (`ssl_c_*`).
    pub client_cert: Option<Arc<crate::tls::client_auth::ClientCert>>,
    /// The suite (`%sslc`, `ssl_fc_cipher`). (Not its name: this is held twice by an idle
    /// connection's future.)
    pub suite: Option<rustls::CipherSuite>,
    /// The session was resumed (`ssl_fc_is_resumed`).
    pub resumed: bool,
    /// The certificate the listener served.
    pub served: Option<crate::tls::certs::ServedCert>,
}

impl TlsInfo {
    /// What the access log sees of the connection's TLS session.
    pub(crate) fn log(&self) -> crate::log::access::LogTls<'_> {
        crate::log::access::LogTls {
            sni: self.sni.as_deref(),
            version: self.version.name(),
            suite: self.suite,
            resumed: self.resumed,
            client_cert: self.client_cert.as_deref(),
        }
    }

    /// What a PROXY v2 header says of the connection's TLS session.
    pub(crate) fn pp(&self) -> crate::net::upstream::ClientTls<'_> {
        crate::net::upstream::ClientTls {
            sni: self.sni.as_deref().map(str::as_bytes),
            version: self.version,
            alpn: self.alpn.map(str::as_bytes),
            client_cert: self.client_cert.as_deref(),
            suite: self.suite,
            resumed: self.resumed,
            served: self.served.as_ref(),
        }
    }

    /// What ACLs see of the connection's TLS session.
    pub(crate) fn acl(&self) -> crate::acl::TlsInfo {
        crate::acl::TlsInfo {
            sni: self.sni.as_ref().map(|s| s.as_bytes().into()),
            version: self.version,
            alpn: self.alpn.map(str::as_bytes),
            client_cert: self.client_cert.clone(),
            suite: self.suite,
            resumed: self.resumed,
            served: self.served.clone(),
        }
    }
}

/// One request/response exchange, for the log.
pub(crate) struct Txn {
    /// `set-log-level`: the log line's level (-1: none).
    log_level: Option<i8>,
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
    /// `capture request|response header` values, for the log line.
    captures: crate::log::access::Captures,
    /// For the stats counters: request bytes, whether a `deny` answered, whether corelb
    /// answered itself (monitor-uri, stats page, exporter), whether the server connection
    /// was reused.
    bytes_in: u64,
    denied: bool,
    /// An `http-response deny` replaced the server's answer (`dresp`).
    denied_resp: bool,
    /// The termination state's persistence-cookie letters (client's, server's).
    cookie: [u8; 2],
    /// The status the server answered (0: none yet): its `hrsp_*` counters count this one,
    /// whatever the rules made of it.
    srv_status: u16,
    intercepted: bool,
    reused: bool,
    /// Failed rewrites for the `wrew` counters (see [`crate::stats::StreamEnd`]).
    failed_rewrites: [u8; 3],
    /// An internal error answered (see [`crate::stats::StreamEnd`]'s `internal_error`).
    internal_error: u8,
    /// Answered by the cache, the stats page or the exporter: the log names the server as
    /// HAProxy names its applet (`<CACHE>`, `<STATS>`, `<PROMEX>`).
    applet: Option<&'static str>,
    /// A `monitor-uri` request: counted, never logged (HAProxy's SF_MONITOR).
    monitor: bool,
    /// The kill epoch of `server` when the request was bound to it: moved, the server's
    /// connections were shut down (see [`Exchange`]'s `Drop`).
    epoch: u32,
    /// Its log line was written (and the transaction counted).
    logged: std::cell::Cell<bool>,
    /// Its log line was written when its answer's head went out (`option logasap`): the
    /// end counts it and writes no other.
    logged_asap: bool,
    /// Nothing came from the client on its connection (for `option dontlognull`).
    null: bool,
    /// The rates it counted as they happened (`crate::stats::counters::ticked`).
    ticked: u8,
    /// Not the first request of its HTTP/1 connection (`http_first_req` in the log).
    not_first: bool,
    /// `unique-id-format` rendered when the request went to a server (else at the log).
    unique_id: Option<Vec<u8>>,
    /// The addresses its rules set (`http-request set-src`…), else the connection's.
    /// (Boxed: rare, and a connection holds its next transaction while it waits.)
    addrs: Option<Box<crate::acl::StreamAddrs>>,
    /// What the stick tables' byte counters add, when one stores any (boxed: rare).
    stick: Option<Box<StickBytes>>,
}

/// A transaction's bytes as HAProxy's stick tables count them (the HTX sizes of what was
/// read and sent, see [`crate::h1::htx_head_size`]), for every stream however it was
/// answered (HAProxy's `stream_process_counters`).
#[derive(Default)]
struct StickBytes {
    /// The request's head.
    head_in: u64,
    /// Its body's data read so far (a chunked body's without its framing, and one byte for
    /// its end, HAProxy's EOT block).
    body_in: u64,
    /// The rest of a `Content-Length` body, counted once forwarded.
    unread: u64,
    /// The answer: corelb's own, or the server's head as received and its body.
    bytes_out: u64,
}

impl Txn {
    /// `n` more failed rewrites, counted on the first `upto` of frontend, backend, server
    /// (those chosen when they failed).
    fn failed_rewrites(&mut self, n: u8, upto: usize) {
        for c in &mut self.failed_rewrites[..upto] {
            *c = c.saturating_add(n);
        }
    }

    /// An internal error (HAProxy's `return_int_err`) answers: counted on the first `upto`
    /// of frontend, backend, server (those chosen when it happened).
    fn internal_error(&mut self, upto: u8) {
        self.internal_error = self.internal_error.max(upto);
    }

    /// An answer through the `http-after-response` rules ([`super::after::on_bytes`],
    /// within `bufsize`), its failed rewrites (with `failed` ones before it) counted on the
    /// first `upto` of frontend, backend, server, and its captures (with those already in
    /// `caps`) kept. `rule_answer`: it is a `return`/`redirect`/`auth` rule's answer,
    /// whose failing there is an internal error (HAProxy's `ACT_RET_ERR`); another answer
    /// of corelb's failing is not (HAProxy's `http_reply_and_close`).
    #[allow(clippy::too_many_arguments)]
    fn after_answer(
        &mut self,
        fe_px: &crate::config::Proxy,
        be_px: Option<&crate::config::Proxy>,
        base: &crate::acl::RequestSample<'_>,
        (status, bytes): (u16, Vec<u8>),
        scratch: &mut Vec<u8>,
        caps: &mut super::after::Captures,
        (bufsize, mut failed): (usize, u8),
        upto: usize,
        rule_answer: bool,
    ) -> (u16, Vec<u8>) {
        let (r, strict_failed) = super::after::on_bytes(
            fe_px,
            be_px,
            base,
            status,
            bytes,
            scratch,
            caps,
            bufsize,
            &mut failed,
        );
        self.failed_rewrites(failed, upto);
        if rule_answer && strict_failed {
            self.internal_error(upto as u8);
        }
        self.capture_response(fe_px, caps, base.txn);
        r
    }

    /// `http-response|http-after-response capture ... id N`, and the `capture-res`
    /// converters the rules ran (in `vars`): into the frontend's response slots, cut to
    /// their lengths (a slot the frontend lacks: nothing).
    fn capture_response(
        &mut self,
        fe_px: &crate::config::Proxy,
        caps: &mut super::after::Captures,
        vars: Option<&crate::acl::VarSet>,
    ) {
        let conv = vars.map(|v| v.take_captures(true)).unwrap_or_default();
        for (id, v) in conv.into_iter().chain(caps.drain(..)) {
            if let Some(c) = fe_px.logging.res_captures.get(id) {
                self.captures.set(true, id, &v, c.len);
            }
        }
    }

    pub fn new() -> Txn {
        Txn::since((SystemTime::now(), Instant::now()))
    }

    /// A transaction that began at `at` (its date and clock): all a connection keeps of
    /// its next one while it waits for it.
    fn since(at: (SystemTime, Instant)) -> Txn {
        Txn {
            log_level: None,
            date: at.0,
            start: at.1,
            t_request: None,
            t_queue: None,
            t_connect: None,
            t_response: None,
            status: 0,
            bytes_out: 0,
            term: Term::NORMAL,
            backend: None,
            server: None,
            retries: 0,
            redispatched_from: None,
            request_line: String::new(),
            captures: Default::default(),
            bytes_in: 0,
            denied: false,
            denied_resp: false,
            failed_rewrites: [0; 3],
            internal_error: 0,
            cookie: *b"--",
            srv_status: 0,
            intercepted: false,
            null: false,
            reused: false,
            applet: None,
            monitor: false,
            epoch: 0,
            logged: std::cell::Cell::new(false),
            logged_asap: false,
            ticked: 0,
            not_first: false,
            unique_id: None,
            addrs: None,
            stick: None,
        }
    }

    /// An answer of corelb's own sent, `bytes` long: for the log and the counters, and
    /// sized as HAProxy counts it when a stick table stores byte counters.
    fn answered(&mut self, bytes: &[u8]) {
        self.bytes_out = bytes.len() as u64;
        if let Some(s) = &mut self.stick {
            s.bytes_out = crate::h1::htx_answer_size(bytes);
        }
    }

    /// Adds its bytes to the byte counters of what the stream (`stream`) and its connection
    /// track (HAProxy counts them for every stream, whatever answered it).
    pub(crate) fn count_stick_bytes(&self, ctx: &Ctx, stream: &crate::stick::Trackers) {
        if let Some(s) = &self.stick
            && let Some(c) =
                (ctx.shard.shared.stick).ctx_session(stream, ctx.info.trackers.as_deref())
        {
            c.count_bytes(s.head_in + s.body_in, s.bytes_out);
        }
    }

    /// The stream's addresses as its rules left them.
    fn addrs(&self) -> crate::acl::StreamAddrs {
        self.addrs.as_deref().copied().unwrap_or_default()
    }

    fn set_addrs(&mut self, a: crate::acl::StreamAddrs) {
        self.addrs = (a != crate::acl::StreamAddrs::default()).then(|| Box::new(a));
    }

    /// The phase it is in, for a termination state set from outside the exchange (a kill):
    /// the answer's body (`D`), its head (`H`), the connection to the server (`C`), the
    /// backend's queue (`Q`) or still the request (`R`).
    fn phase(&self) -> Phase {
        if self.t_response.is_some() {
            Phase::Data
        } else if self.t_connect.is_some() {
            Phase::Headers
        } else if self.server.is_some() {
            Phase::Connect
        } else if self.backend.is_some() {
            Phase::Queue
        } else {
            Phase::Request
        }
    }

    /// The request's head is complete (the log's TR).
    pub fn head_received(&mut self) {
        self.t_request = Some(self.start.elapsed());
    }

    /// The request's head came whole with the transaction's start (an HTTP/2 stream's
    /// HEADERS): a TR of 0, without reading the clock again.
    pub fn head_came_with_start(&mut self) {
        self.t_request = Some(Duration::ZERO);
    }
}

/// Deadline helper: `None` = no timeout.
fn deadline(t: Option<Duration>) -> Option<Instant> {
    t.map(|t| Instant::now() + t)
}

/// What a client connection lends each of its exchanges: who the client is, the
/// configuration snapshot, and the codec's limits. One per connection, shared by the
/// HTTP/2 streams of a connection.
pub(crate) struct Ctx {
    pub shard: Rc<ShardCtx>,
    pub fe: Arc<FrontendRt>,
    pub info: ClientInfo,
    cfg: Arc<crate::config::Config>,
    /// What ACLs see of this connection, built once.
    acl_conn: crate::acl::ConnInfo,
    pub limits: HeadLimits,
}

/// The limits of a message head: `tune.bufsize` less HAProxy's reserve, `tune.http.maxhdr`.
pub(crate) fn head_limits(g: &crate::config::Global) -> HeadLimits {
    HeadLimits::from_haproxy(g.bufsize, 1024.min(g.bufsize / 2), g.maxhdr)
        .any_method_payload(g.h1_accept_payload_with_any_method)
}

impl Ctx {
    pub fn new(shard: Rc<ShardCtx>, fe: Arc<FrontendRt>, mut info: ClientInfo) -> Ctx {
        let cfg = shard.shared.cfg.clone();
        let g = &cfg.global;
        // `option accept-invalid-http-request` relaxes the parse of the client's heads.
        let relaxed = cfg.proxies[fe.proxy].options.accept_invalid_http_request;
        let limits = head_limits(g).relaxed(relaxed);
        let acl_conn = crate::acl::ConnInfo {
            src: Some(info.src),
            dst: Some(info.dst),
            tls: info.tls.as_ref().map(TlsInfo::acl),
            h2: info.h2,
            glitches: None,
            vars: std::mem::take(&mut info.vars),
            fd: Some(info.fd),
            first_req: Default::default(),
            listener: fe.listeners.get(info.bind).cloned(),
        };
        Ctx {
            shard,
            fe,
            info,
            cfg,
            acl_conn,
            limits,
        }
    }

    /// What `http-after-response` rules see of the request: the connection, its counters and
    /// variables, no head.
    fn sample_without_head<'a>(
        &'a self,
        nbsrv: &'a dyn Fn(usize) -> u32,
        stick: Option<&'a dyn crate::acl::StickSource>,
        vars: &'a crate::acl::VarSet,
        addrs: &'a crate::acl::AddrsCell,
        strm: crate::acl::Strm<'a>,
    ) -> RequestSample<'a> {
        RequestSample {
            head: None,
            conn: &self.acl_conn,
            nbsrv,
            stopping: self.shard.shared.control.soft_stopping(),
            stick,
            txn: Some(vars),
            addrs: Some(addrs),
            strm: Some(strm),
        }
    }

    /// What the connection came with, given back (for an HTTP/1 connection that becomes an
    /// HTTP/2 one).
    fn into_parts(self) -> (Rc<ShardCtx>, Arc<FrontendRt>, ClientInfo) {
        let mut info = self.info;
        info.vars = self.acl_conn.vars;
        // HTTP/2's streams run every rule.
        info.switched = None;
        (self.shard, self.fe, info)
    }

    /// The connection's glitch score as `fc_glitches` reads it; its reader (HTTP/2's frame
    /// meter) keeps it current.
    pub fn glitch_counter(&mut self) -> Rc<std::cell::Cell<u32>> {
        self.acl_conn.glitches.get_or_insert_default().clone()
    }

    pub fn fe_px(&self) -> &Proxy {
        &self.cfg.proxies[self.fe.proxy]
    }

    /// The connection's variables and a transaction's, for the log.
    fn vars<'a>(&'a self, txn: &'a crate::acl::VarSet) -> crate::acl::Vars<'a> {
        crate::acl::Vars {
            sess: Some(&self.acl_conn.vars),
            txn: Some(txn),
        }
    }

    pub fn bufsize(&self) -> usize {
        self.cfg.global.bufsize
    }

    /// The one way an exchange that did not get a server's answer ends: the error page
    /// for the error's status (the proxy's `errorfile` first; none for 0), through the
    /// `http-after-response` rules when there was a request (its variables, `vars`), then
    /// the log line with its termination state.
    #[allow(clippy::too_many_arguments)]
    pub async fn fail<C: AsyncWrite + Unpin>(
        &self,
        client: &mut C,
        out: &mut Vec<u8>,
        txn: &mut Txn,
        be_px: Option<&Proxy>,
        e: &ProxyError,
        vars: Option<&crate::acl::VarSet>,
        head: Option<(&RequestHead, &[u8])>,
    ) {
        txn.term = e.term;
        let status = e.status;
        if status != 0 {
            txn.status = status;
            out.clear();
            write_error(out, status, true);
            let fe_px = self.fe_px();
            let shared = &self.shard.shared;
            let addrs = crate::acl::AddrsCell::new(txn.addrs());
            // Without the request (never read, or its head gone to the server with its
            // body), an `http-error ... lf-string` page sees the connection, the
            // variables and the addresses only.
            let base = RequestSample {
                head,
                conn: &self.acl_conn,
                nbsrv: &|i| shared.usable_servers(i),
                stopping: shared.control.soft_stopping(),
                stick: None,
                txn: vars,
                addrs: Some(&addrs),
                strm: Some(shared.strm(
                    self.fe.proxy,
                    txn.backend.as_ref().map(|b| b.proxy),
                    txn.server,
                )),
            };
            let mut page = error_bytes(fe_px, be_px, status, out, &base);
            if vars.is_some() && super::after::any(fe_px, be_px) {
                let (mut scratch, mut caps) = (Vec::new(), Vec::new());
                let answer = (status, page.into_owned());
                let chosen =
                    1 + usize::from(txn.backend.is_some()) + usize::from(txn.server.is_some());
                let room = (self.bufsize(), 0);
                let (st, bytes) = txn.after_answer(
                    fe_px,
                    be_px,
                    &base,
                    answer,
                    &mut scratch,
                    &mut caps,
                    room,
                    chosen,
                    false,
                );
                (txn.status, page) = (st, bytes.into());
            }
            // HAProxy's `%B` counts its error answers.
            if self.shard.shared.stick.bytes && txn.stick.is_none() {
                // (A request that failed before its head was read counts none of it.)
                txn.stick = Some(Box::default());
            }
            txn.answered(&page);
            let _ = write_all(client, &page, within(fe_px.timeouts.client)).await;
        }
        // The transaction's variables too, when there was a request (HAProxy logs them
        // on its error answers as on any other).
        let vars = crate::acl::Vars {
            sess: Some(&self.acl_conn.vars),
            txn: vars,
        };
        log_txn(&self.shard, &self.fe, &self.info, txn, vars);
    }
}

/// The buffers and heads an exchange works in: an HTTP/1 connection keeps one set across
/// its requests; an HTTP/2 stream has its own.
pub(crate) struct Bufs {
    /// What the client sent: the request head, then its body.
    pub inb: InBuf,
    rbuf: InBuf,
    out: Vec<u8>,
    sout: Vec<u8>,
    pub req: RequestHead,
    res: ResponseHead,
    scratch: Vec<u8>,
    /// An HTTP/2 stream's parse of the response head the exchange writes to it (kept
    /// with the state, as the other heads, instead of a fresh one per stream).
    h2_res: ResponseHead,
    /// A server connection kept for this client only (`http-reuse never`), with its server.
    /// The last number is the requests it carried so far (for `max-reuse`).
    private: Option<(usize, usize, ServerIo, u32)>,
}

impl Bufs {
    pub fn new(ctx: &Ctx) -> Bufs {
        let size = ctx.bufsize();
        Bufs {
            inb: InBuf::new(size),
            rbuf: InBuf::new(size),
            // Output buffers grow on demand and are given back between requests.
            out: Vec::new(),
            sout: Vec::new(),
            req: RequestHead::with_capacity(&ctx.limits),
            res: ResponseHead::with_capacity(&ctx.limits),
            scratch: Vec::new(),
            h2_res: ResponseHead::new(),
            private: None,
        }
    }

    /// Whether it holds a server connection kept for this client (`http-reuse never`).
    pub fn has_private(&self) -> bool {
        self.private.is_some()
    }

    /// The scratch buffer, empty, lent out (an HTTP/2 stream rebuilds its request's head
    /// in it); give it back with [`Bufs::put_scratch`] to keep its memory.
    pub fn take_scratch(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        v
    }

    pub fn put_scratch(&mut self, mut v: Vec<u8>) {
        v.clear();
        self.scratch = v;
    }

    /// The response head an HTTP/2 stream parses its response into, lent out; give it
    /// back with [`Bufs::put_h2_res`] to keep its memory.
    pub fn take_h2_res(&mut self) -> ResponseHead {
        std::mem::take(&mut self.h2_res)
    }

    pub fn put_h2_res(&mut self, r: ResponseHead) {
        self.h2_res = r;
    }

    /// Forgets whatever an exchange left (it may have ended early) and gives the memory
    /// back: for the next HTTP/2 stream of the connection, which keeps the finished
    /// streams' states that hold a private server connection while it waits, so they must
    /// hold no buffer.
    pub fn reset(&mut self) {
        self.clear();
        self.inb.release();
        self.rbuf.release();
        self.out = Vec::new();
        self.sout = Vec::new();
        self.scratch = Vec::new();
        self.h2_res = ResponseHead::new();
    }

    /// Forgets whatever an exchange left, keeping the memory: for the shard's spare
    /// request states (bounded by `SPARE_BUFS`), whose next taker needs the same buffers at
    /// once. (Freeing them there made every keep-alive request at saturation zero-fill two
    /// fresh 16 KiB buffers and regrow its output buffers: memset and memmove rose from 2.9
    /// to 5.1 % of the proxy's CPU in scenario (c).) Output buffers that a large head made
    /// grow past `tune.bufsize` are freed.
    fn clear(&mut self) {
        drop(self.inb.take_all());
        drop(self.rbuf.take_all());
        let cap = self.inb.capacity();
        for v in [&mut self.out, &mut self.sout, &mut self.scratch] {
            if v.capacity() > cap {
                *v = Vec::new();
            } else {
                v.clear();
            }
        }
    }
}

/// Request states (`Bufs`, their heads' arrays reserved) kept per shard for the next
/// request that starts, with their `tune.bufsize`: an HTTP/1 connection holds one only
/// while a request runs or bytes wait in it. Bounded, like the spare buffers.
const SPARE_BUFS: usize = 64;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<(usize, Box<Bufs>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An HTTP/1 connection's request state when it has one. It goes back to the shard's
/// spares when the connection waits for its next request with nothing pending
/// ([`Held::park`]) and when the connection ends, whatever the path.
struct Held(Option<Box<Bufs>>);

impl Drop for Held {
    /// The connection ended: its state goes to the spares (without its private server
    /// connection, which closes).
    fn drop(&mut self) {
        if let Some(mut b) = self.0.take() {
            b.private = None;
            give_back_bufs(b);
        }
    }
}

/// A spare request state of the shard (its buffers kept), else a new one: an HTTP/1
/// connection's while a request runs, an HTTP/2 stream's.
pub(crate) fn take_bufs(ctx: &Ctx) -> Box<Bufs> {
    let size = ctx.bufsize();
    SPARE
        .with(|s| s.borrow_mut().pop())
        .filter(|(n, _)| *n == size)
        .map(|(_, b)| b)
        .unwrap_or_else(|| Box::new(Bufs::new(ctx)))
}

pub(crate) fn give_back_bufs(mut b: Box<Bufs>) {
    b.clear();
    let size = b.inb.capacity();
    // `try_with`: a connection dropped while its shard's thread exits frees its state.
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_BUFS {
            s.push((size, b));
        }
    });
}

impl Held {
    /// The request state, taken again (a spare one, else a new one) if it was parked.
    fn get(&mut self, ctx: &Ctx) -> &mut Bufs {
        self.0.get_or_insert_with(|| take_bufs(ctx))
    }

    /// Gives the state back while nothing is pending in it; a private server connection
    /// (`http-reuse never`) keeps it.
    fn park(&mut self) {
        if let Some(b) = self
            .0
            .take_if(|b| b.inb.is_drained() && b.private.is_none())
        {
            give_back_bufs(b);
        }
    }
}

/// A server slot (`maxconn`) held by one request: its `Drop` gives it back and wakes the
/// backend's queue, whatever path the request leaves by.
struct SrvSlot<'a> {
    be: &'a BackendRt,
    srv: usize,
}

impl SrvSlot<'_> {
    /// The slot was given back by someone else (a redispatching retry): nothing to do.
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for SrvSlot<'_> {
    fn drop(&mut self) {
        self.be.lb.release(self.srv);
        self.be.queue.wake_one();
    }
}

/// What the client connection does after an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait for the next request.
    KeepAlive,
    /// Close the connection (or end the stream).
    Close,
}

/// Where a request goes, as its analysis decided: everything the later phases need of it.
struct Route {
    be: Arc<BackendRt>,
    sticky: Option<super::persist::Sticky>,
    hash_key: Option<u32>,
    /// `server … ssl sni EXPR`: the name each such server gets for this request.
    expr_sni: Vec<(usize, Vec<u8>)>,
    conn_mode: ConnMode,
    client_close: bool,
    /// The persistence cookie's clock (0 without a cookie).
    now: u64,
    /// The request's head, kept for `http-response` conditions once the buffer moves on.
    saved_head: Vec<u8>,
    /// `stick match|on`: the server a table names, and the keys to store the answer under.
    persist: crate::stick::Persist,
    /// The body's length when it is all in the buffer already (replayable).
    whole_body: Option<usize>,
    replayable: bool,
    /// The compression algorithm the request negotiated (`compression algo`).
    comp: Option<crate::config::filters::CompAlgo>,
    /// A `cache-use` rule applied and the object was not in the cache.
    cache: Option<super::cache::Pending>,
    /// `early-hint`: the 103 responses for the client before the request goes to a server.
    early_hints: Vec<u8>,
    /// The backend's `timeout server` and `timeout tunnel`, or what `set-timeout` rules set.
    server_timeout: Option<Duration>,
    tunnel_timeout: Option<Duration>,
}

/// What the analysis of a request decided.
enum Analyzed {
    /// corelb answers itself (monitor-uri, a rule, the stats page): the bytes to send, and
    /// whether the connection may stay open after them.
    Reply {
        status: u16,
        bytes: Vec<u8>,
        keep: bool,
        be: Option<Arc<BackendRt>>,
        denied: bool,
        /// `tarpit`: how long to hold the client before the answer.
        tarpit: Option<Duration>,
    },
    Forward(Route),
    /// Answered with an error already (and logged).
    Done,
    /// To answer with this error (and log it).
    Fail(ProxyError),
}

/// The server connection that answered, with its slot.
struct Answered<'a> {
    slot: SrvSlot<'a>,
    sconn: ServerIo,
    reused: bool,
    /// Requests the connection carried before this one.
    uses: u32,
}

/// One request's exchange, from its parsed head (in `Bufs::req`, over `Bufs::inb`) to its
/// log line: analyse and apply the rules, pick and connect, send the request and its body,
/// read the response head, forward its body, log. The HTTP/1 connection loop runs one per
/// request; an HTTP/2 stream runs one over its own buffers.
pub(crate) struct Exchange<'c> {
    ctx: &'c Ctx,
    txn: Txn,
    head_len: usize,
    /// The buffer's length when the head was parsed (what of the body came with it).
    buf_len_at_head: usize,
    /// What of the buffer the frontend's rules see: less than all when the body was
    /// waited for only for the backend's `option http-buffer-request` (HAProxy waits after
    /// the frontend's rules then).
    fe_view: usize,
    /// The client connection's first request (`http-reuse safe` takes no idle connection).
    first: bool,
    /// Where `http-request wait-for-body` waited: the rules before it see the buffer as it
    /// was (`WaitedAt::before`).
    waited_at: Option<WaitedAt>,
    /// This request's sticky counters (released, conn_cur down, when the exchange ends).
    trackers: crate::stick::Trackers,
    /// The transaction's variables (`txn.`, `req.`, `res.`).
    vars: crate::acl::VarSet,
    /// Where an HTTP/2 stream's task watches the server its request is bound to (see
    /// [`Exchange::watched`]).
    watch: Option<&'c std::cell::Cell<Option<Target>>>,
    /// The request's head left the buffer (its body followed it to the server): an error
    /// page can no longer read it.
    head_gone: bool,
}

impl Drop for Exchange<'_> {
    /// Dropped before it wrote its log line, an exchange was killed where it stood:
    /// `shutdown session`, `shutdown sessions server` or a health option (`on-marked-down
    /// shutdown-sessions`…) ended its connection while it waited — in the queue, for its
    /// server, for the answer or while moving the body. It is logged and counted here,
    /// once, with the kill's letter (`K`, `D`, `U`) and the phase it was in, as HAProxy
    /// does; watching for the kill costs the exchange nothing while it runs.
    fn drop(&mut self) {
        let ctx = self.ctx;
        let txn = &mut self.txn;
        txn.count_stick_bytes(ctx, &self.trackers);
        if txn.logged.get() {
            return;
        }
        // The connection was killed, or the request's server shut its connections down.
        let why = ctx.shard.sessions.kill_cause(ctx.info.sess).or_else(|| {
            let s = &txn.backend.as_ref()?.lb.servers[txn.server?];
            (s.kill_epoch() != txn.epoch).then(|| s.kill_cause())
        });
        let Some(why) = why else { return };
        txn.term = Term::new(why, txn.phase());
        log_txn(&ctx.shard, &ctx.fe, &ctx.info, txn, ctx.vars(&self.vars));
    }
}

impl<'c> Exchange<'c> {
    /// `txn` was started when the request began to arrive; its head is in `b`.
    pub async fn start<C: AsyncRead + AsyncWrite + Unpin>(
        ctx: &'c Ctx,
        txn: Txn,
        head_len: usize,
        b: &mut Bufs,
        client: &mut C,
        first: bool,
    ) -> Self {
        // A form posted to a stats page (its admin actions) is read whole first: it is
        // small, and the page answers from it.
        if b.req.method() == Method::Post
            && let BodyKind::ContentLength(n) = b.req.body_kind()
            && ctx.shard.shared.stats_pages.iter().any(|&i| {
                let target = local_target(ctx, &b.req, b.inb.bytes());
                crate::stats::page::is_page(&ctx.cfg.proxies[i].stats, target)
            })
        {
            let fe_px = ctx.fe_px();
            let t = fe_px.timeouts.http_request.or(fe_px.timeouts.client);
            while b.inb.len() < head_len + n as usize {
                match b.inb.read_from(client, within(t)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        // `option http-buffer-request`: the body first (up to the buffer), so that the rules
        // see it (`req.body`) and the request is whole when a server is chosen. Not with
        // `Expect: 100-continue`: the client waits for the server's 100.
        // (Boxed: without the option, the exchange's future, copied per request, does not
        // grow by the wait's state.)
        let mut fe_view = if ctx.fe.buffer_request && !b.req.expects_continue() {
            Box::pin(wait_body(ctx, head_len, b, client)).await
        } else {
            usize::MAX
        };
        // `http-request wait-for-body`: when one applies and the body is not whole yet.
        let mut waited_at = None;
        if ctx.fe.waits_for_req_body && !body_here(&b.req, &b.inb.bytes()[head_len..], &ctx.limits)
        {
            (fe_view, waited_at) = Box::pin(wait_req_body(ctx, head_len, b, client, fe_view)).await;
        }
        Exchange {
            ctx,
            txn,
            head_len,
            buf_len_at_head: b.inb.len(),
            fe_view,
            first,
            waited_at,
            trackers: crate::stick::Trackers::new(),
            vars: match &ctx.info.switched {
                Some(v) if first => (**v).clone(),
                _ => crate::acl::VarSet::default(),
            },
            watch: None,
            head_gone: false,
        }
    }

    /// Notes in `watch` each server the request is bound to, with its kill epoch: an
    /// HTTP/2 stream ends alone when that server's connections are shut down.
    /// (Set in place: taking and giving back the exchange by value copied it twice.)
    pub fn watch(&mut self, watch: &'c std::cell::Cell<Option<Target>>) {
        self.watch = Some(watch);
    }

    /// The whole exchange; with `Next::KeepAlive` the request's bytes are consumed from
    /// `b.inb`, which starts with what came after it.
    /// (`&mut self`, as the phases below: the exchange is stored once, by the caller, not
    /// again in each phase's future.)
    pub async fn run<C: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        b: &mut Bufs,
        client: &mut C,
    ) -> Next {
        if self.waited_at.is_some_and(|w| w.late) {
            // HAProxy 2.6 logs it `cR` with the request line, and no request time (-1): the
            // request never became whole.
            let ctx = self.ctx;
            if logging(&ctx.shard, &ctx.fe) {
                self.txn.request_line = request_line(ctx, &b.req, b.inb.bytes());
            }
            self.txn.t_request = None;
            // A backend's rule: the backend is logged, and its error page answers.
            let be = (self.waited_at)
                .map(|w| w.proxy as usize)
                .filter(|&p| p != ctx.fe.proxy);
            if let Some(p) = be {
                self.txn.backend = ctx.shard.shared.backends[p].clone();
            }
            let be_px = be.map(|p| &ctx.cfg.proxies[p]);
            let e = ProxyError::request_timeout();
            let vars = Some(&self.vars);
            let head = Some((&b.req, b.inb.bytes()));
            ctx.fail(client, &mut b.out, &mut self.txn, be_px, &e, vars, head)
                .await;
            return Next::Close;
        }
        match self.analyze(b).await {
            Analyzed::Done => Next::Close,
            Analyzed::Fail(e) => {
                let ctx = self.ctx;
                let be = self.txn.backend.clone();
                let be_px = be.as_ref().map(|be| &ctx.cfg.proxies[be.proxy]);
                let vars = Some(&self.vars);
                let head = Some((&b.req, b.inb.bytes()));
                ctx.fail(client, &mut b.out, &mut self.txn, be_px, &e, vars, head)
                    .await;
                Next::Close
            }
            Analyzed::Reply {
                status,
                bytes,
                keep,
                be,
                denied,
                tarpit,
            } => {
                if let Some(t) = tarpit {
                    glommio::timer::sleep(t).await;
                }
                let ctx = self.ctx;
                // Answered here while still on the request, as HAProxy logs it: `PR` for a
                // deny, `LR` (processed locally) for auth, return, redirect, the stats page,
                // the exporter and a cache hit. A set state (503, tarpit) stays.
                if self.txn.term == Term::NORMAL {
                    let cause = if denied { Cause::Proxy } else { Cause::Local };
                    self.txn.term = Term::new(cause, Phase::Request);
                }
                self.txn.status = status;
                self.txn.denied = denied;
                self.txn.backend = be;
                let ok = write_all(client, &bytes, within(ctx.fe_px().timeouts.client))
                    .await
                    .is_ok();
                self.txn.answered(&bytes);
                log_txn(
                    &ctx.shard,
                    &ctx.fe,
                    &ctx.info,
                    &self.txn,
                    ctx.vars(&self.vars),
                );
                if ok && keep && !bytes_say_close(&bytes) {
                    b.inb.consume(self.head_len);
                    return Next::KeepAlive;
                }
                Next::Close
            }
            // By reference: moved out, the route would be stored twice.
            Analyzed::Forward(ref route) => {
                let be: &BackendRt = &route.be;
                let answered = match self.forward(b, client, route, be).await {
                    Ok(a) => a,
                    Err(e) => {
                        let ctx = self.ctx;
                        log::debug!("{}/{}: {}: {e}", ctx.fe.name, be.name, ctx.info.src);
                        if fails_on_server(&e, self.txn.not_first) {
                            let stick = &ctx.shard.shared.stick;
                            let trackers = ctx.info.trackers.as_deref();
                            if let Some(c) = stick.ctx_session(&self.trackers, trackers) {
                                c.count_http_fail();
                            }
                        }
                        let be_px = &ctx.cfg.proxies[be.proxy];
                        let vars = Some(&self.vars);
                        // The head stays in the buffer until the body follows it.
                        let head = (!self.head_gone).then(|| (&b.req, b.inb.bytes()));
                        ctx.fail(
                            client,
                            &mut b.out,
                            &mut self.txn,
                            Some(be_px),
                            &e,
                            vars,
                            head,
                        )
                        .await;
                        return Next::Close;
                    }
                };
                self.respond(b, client, route, answered).await
            }
        }
    }

    /// Analyze: monitor-uri, the frontend's rules, the backend choice and its rules,
    /// persistence, and the head to send (serialized into `b.sout`).
    async fn analyze(&mut self, b: &mut Bufs) -> Analyzed {
        let ctx = self.ctx;
        let shard = &ctx.shard;
        let shared = &shard.shared;
        let cfg = &ctx.cfg;
        let fe = &ctx.fe;
        let fe_px = ctx.fe_px();
        let head_len = self.head_len;
        let (req, inb) = (&b.req, &b.inb);
        let txn = &mut self.txn;
        let vars = &self.vars;
        // Counted before its rules read `fe_req_rate`, as HAProxy does, at the instant the
        // head came (no clock reading of its own).
        let head_at = txn.start + txn.t_request.unwrap_or_default();
        (shard.counters()).rate_now(ticked::REQ, fe.proxy, 0, &mut txn.ticked, head_at);
        let conn = &ctx.acl_conn;
        if !conn.h2 {
            conn.first_req.set(self.first);
        }
        txn.not_first = !conn.h2 && !self.first;
        txn.bytes_in = head_len as u64
            + match req.body_kind() {
                BodyKind::ContentLength(n) => n,
                _ => 0, // chunked bodies are not counted
            };
        if shared.stick.bytes {
            // What HAProxy has read when its rules run: the head and the body come with it
            // (or waited for); the rest counts once forwarded.
            let body = &inb.bytes()[head_len..];
            let (body_in, unread) = match req.body_kind() {
                BodyKind::ContentLength(n) => {
                    let seen = n.min(body.len() as u64);
                    (seen, n - seen)
                }
                BodyKind::Chunked => (chunked_data(body, &ctx.limits), 0),
                _ => (0, 0),
            };
            txn.stick = Some(Box::new(StickBytes {
                head_in: crate::h1::htx_head_size(&inb.bytes()[..head_len]),
                body_in,
                unread,
                bytes_out: 0,
            }));
        }
        if logging(shard, fe) {
            txn.request_line = request_line(ctx, req, inb.bytes());
            let bytes = inb.bytes();
            let fields = req.headers().iter().filter(|h| !h.dropped);
            let fields = fields.map(|h| (h.name(bytes), h.value(bytes)));
            txn.captures
                .capture(false, &fe_px.logging.req_captures, fields.clone());
            if let Some(c) = &fe_px.logging.cookie {
                (txn.captures).capture_cookie(false, c.name.as_bytes(), c.len, fields);
            }
        }
        let version = req.version();
        let upgrade = req.upgrade_requested();
        let bump = bumpalo::Bump::new();
        let mut edits: Edits<'_> = Edits::new();
        let mut flags = rules::Flags {
            rewrite_room: Some(ctx.bufsize().saturating_sub(head_len)),
            ..Default::default()
        };
        let nbsrv = |i: usize| shared.usable_servers(i);
        let stick_ctx = shared
            .stick
            .ctx_session(&self.trackers, ctx.info.trackers.as_deref());
        let stick = stick_ctx
            .as_ref()
            .map(|c| c as &dyn crate::acl::StickSource);
        let all = inb.bytes();
        // The stream's addresses, as `set-src`/`set-dst` rules leave them.
        let addrs = crate::acl::AddrsCell::default();
        let mut base = RequestSample {
            head: Some((req, &all[..all.len().min(self.fe_view)])),
            conn: &ctx.acl_conn,
            nbsrv: &nbsrv,
            stopping: shared.control.soft_stopping(),
            stick,
            txn: Some(vars),
            addrs: Some(&addrs),
            strm: Some(shared.strm(fe.proxy, None, None)),
        };
        // A rule or ACL reads the unique ID: made now, before the rules (HAProxy makes it
        // at the fetch's first use), and kept for the header and the log.
        if fe_px.logging.unique_id_line.is_some() && crate::acl::unique_id_used() {
            let s = txn_stream(&ctx.info, txn, ctx.vars(vars), Instant::now());
            let id = crate::proxy::accesslog::unique_id(shard, fe, &s, Some(&base));
            if let Some(id) = &id {
                vars.set_unique_id(id);
            }
            txn.unique_id = id;
        }
        // tcp-request content rules: on each parsed request, before http-request (HAProxy's
        // HTX streams); a reject closes without an answer.
        let mut captured = Vec::new();
        let mut verdict = None;
        let mut fx = rules::Effects::default();
        // (A stream switched to HTTP ran them on its first request already.)
        let switched = self.first && ctx.info.switched.is_some();
        if !fe_px.tcp_request.content.is_empty() && !switched {
            let rules = &fe_px.tcp_request.content;
            let mut res = crate::proxy::inspect::Resolving::default();
            // (Never waits for more bytes here: a `do-resolve` rule waits for its address,
            // then the rules run again.)
            loop {
                let v = crate::proxy::inspect::run_content(
                    rules,
                    &fe_px.acls,
                    &base,
                    &mut captured,
                    &mut res,
                    &mut fx,
                );
                if v.is_some() || !res.is_pending() {
                    verdict = Some(v);
                    break;
                }
                // Boxed: rare, and its wait would otherwise weigh on every request.
                Box::pin(res.answer(rules, &shared.dns_lookups, &base)).await;
            }
        }
        // `tcp-request content set-log-level`, `set-tos`, `set-mark` (an `http-request`
        // rule may change them again).
        if let Some(l) = fx.log_level {
            txn.log_level = Some(l);
        }
        if fx.tos.is_some() || fx.mark.is_some() {
            fx.apply_to(ctx.info.fd, ctx.info.src.is_ipv6());
        }
        // `tcp-request content capture`: into the frontend's slots, cut to their lengths.
        for (id, v) in captured {
            if let Some(c) = fe_px.logging.req_captures.get(id) {
                txn.captures.set(false, id, &v, c.len);
            }
        }
        // (`switch-mode http` stops the rules as `accept` does: the stream is HTTP already.)
        use crate::proxy::inspect::TcpVerdict::{Accept, Http};
        if verdict.is_some_and(|v| !matches!(v, Some(Accept | Http(_)))) {
            txn.set_addrs(addrs.get());
            (txn.term, txn.denied) = (Term::new(Cause::Proxy, Phase::Request), true);
            log_txn(shard, fe, &ctx.info, txn, ctx.vars(vars));
            return Analyzed::Done;
        }
        // One more request on what the connection and the content rules track (HAProxy's
        // `stream_inc_http_req_ctr`); `http-request track-sc` counts its own as it tracks.
        if let Some(c) = &stick_ctx
            && (ctx.info.trackers.is_some() || self.trackers.tracked() > 0)
        {
            c.count_http_request();
        }
        let keep_after_reply = !fe_px.http.conn_mode.eq(&ConnMode::Close)
            && req.keep_alive()
            && req.body_kind() == BodyKind::None
            && !shared
                .control
                .closes_active(ctx.cfg.global.close_spread_time);
        // monitor-uri: answered here, before any rule, never forwarded (the ELB's health
        // check, seed 000); 503 while 'monitor fail' holds.
        let mut reply: Option<(u16, Vec<u8>)> = None;
        if let Some(uri) = &fe_px.http.monitor_uri
            && local_target(ctx, req, inb.bytes()) == uri.as_bytes()
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
            txn.monitor = true;
        }
        // The frontend's rules, then its old-style redirects, then the backend choice.
        let pages_fe = (fe_px, None);
        // The rules before an `http-request wait-for-body` that waited see the buffer as it
        // was before the wait (HAProxy ran them then): the rules run in parts (`rules_part`),
        // the old-style redirects last. (Parts by index: slices held across the rules' wait
        // would weigh on the exchange's future.)
        if reply.is_none() {
            let mut skip = false;
            for i in 0..3 {
                if std::mem::take(&mut skip) {
                    continue;
                }
                let (set, view) = match i {
                    2 => (&fe_px.redirects[..], None),
                    _ => rules_part(self.waited_at, fe.proxy, &fe_px.http_request, i),
                };
                // (An empty part decides nothing; entering the rules' future cost a few
                // hundred instructions per part.)
                if set.is_empty() {
                    continue;
                }
                let view = view.unwrap_or(self.fe_view);
                base.head = Some((req, &all[..all.len().min(view)]));
                flags.old_redirects = i == 2;
                match rules::request_rules_resolving(
                    set,
                    &fe_px.acls,
                    &base,
                    req,
                    inb.bytes(),
                    &mut edits,
                    &bump,
                    &mut b.scratch,
                    &mut flags,
                    pages_fe,
                    !keep_after_reply,
                    &shared.dns_lookups,
                )
                .await
                {
                    rules::HttpVerdict::Reply { status, bytes } => {
                        reply = Some((status, bytes));
                        // HAProxy counts the frontend's auth, return and redirect answers
                        // as intercepted, not its denials.
                        txn.intercepted = !flags.denied && !flags.tarpit;
                        break;
                    }
                    // `allow` in the rules before the wait ends the frontend's rules.
                    rules::HttpVerdict::Allow => skip = i == 0,
                    // (`Resolve` is answered inside.)
                    rules::HttpVerdict::Continue | rules::HttpVerdict::Resolve { .. } => {}
                    // Only `http-response` rules return these.
                    rules::HttpVerdict::SilentDrop | rules::HttpVerdict::DenyResponse { .. } => {}
                }
                if flags.prometheus || flags.silent_drop || flags.reject {
                    break;
                }
            }
        }
        base.head = Some((req, &all[..all.len().min(self.fe_view)]));
        // What the rules set of the stream's addresses, for everything after them.
        txn.set_addrs(addrs.get());
        if flags.silent_drop || flags.reject {
            return drop_client(ctx, txn, vars, flags.silent_drop);
        }
        // `option http-restrict-req-hdr-names`, after the frontend's rules.
        let restrict = fe_px.options.restrict_req_hdr_names;
        if reply.is_none()
            && !flags.prometheus
            && rules::restrict_header_names(restrict, req, inb.bytes(), &mut edits, &bump)
        {
            flags.denied = true;
            let page = rules::page_for(403, fe_px, None, &base);
            reply = Some((403, rules::close_page(page, !keep_after_reply)));
        }
        if reply.is_none() {
            let c = !keep_after_reply;
            if let Some((status, bytes, t0)) =
                intercept(ctx, fe.proxy, req, inb.bytes(), head_len, &base, &flags, c)
            {
                reply = Some((status, bytes));
                txn.intercepted = true;
                applet_answered(txn, applet_name(&flags), t0);
            }
        }
        let be_index = if reply.is_some() {
            None
        } else {
            let edited = EditedRequestSample {
                request: base,
                edits: &edits,
            };
            crate::proxy::switching::choose(cfg, fe.proxy, &edited, &mut b.scratch)
        };
        let be = match be_index.and_then(|i| shared.backends[i].clone()) {
            Some(be) => Some(be),
            None if reply.is_none() => {
                // No backend for this request: 503, as HAProxy.
                txn.term = Term::new(Cause::Proxy, Phase::Request);
                reply = Some((503, rules::page_for(503, fe_px, None, &base)));
                None
            }
            None => None,
        };
        // From the backend on, all of the body that is here counts (`req.body`).
        base.head = Some((req, all));
        if let Some(be) = &be {
            let now = Instant::now();
            (shard.counters()).rate_now(ticked::BE, be.proxy, 0, &mut txn.ticked, now);
            base.strm = Some(shared.strm(fe.proxy, Some(be.proxy), None));
        }
        // The frontend's failed rewrites came before a backend was chosen (HAProxy's
        // SF_BE_ASSIGNED): on the frontend only; the backend's count on it too. (Counted
        // now: a local kept across the backend rules' wait would grow the future.)
        txn.failed_rewrites(std::mem::take(&mut flags.failed_rewrites), 1);
        if std::mem::take(&mut flags.internal_error) {
            txn.internal_error(1);
        }
        // The backend's own rules (a listen's rules already ran as the frontend's).
        if let (None, Some(be)) = (&reply, &be)
            && be.proxy != fe.proxy
        {
            let be_px = &cfg.proxies[be.proxy];
            for i in 0..2 {
                let (set, view) = rules_part(self.waited_at, be.proxy, &be_px.http_request, i);
                if set.is_empty() {
                    continue;
                }
                base.head = Some((req, &all[..all.len().min(view.unwrap_or(usize::MAX))]));
                match rules::request_rules_resolving(
                    set,
                    &be_px.acls,
                    &base,
                    req,
                    inb.bytes(),
                    &mut edits,
                    &bump,
                    &mut b.scratch,
                    &mut flags,
                    (fe_px, Some(be_px)),
                    !keep_after_reply,
                    &shared.dns_lookups,
                )
                .await
                {
                    rules::HttpVerdict::Reply { status, bytes } => {
                        reply = Some((status, bytes));
                        break;
                    }
                    rules::HttpVerdict::Allow => break,
                    _ => {}
                }
                if flags.prometheus || flags.silent_drop || flags.reject {
                    break;
                }
            }
            base.head = Some((req, all));
            txn.set_addrs(addrs.get());
            if flags.silent_drop || flags.reject {
                return drop_client(ctx, txn, vars, flags.silent_drop);
            }
            // `option http-restrict-req-hdr-names`, after the backend's rules.
            let restrict = be_px.options.restrict_req_hdr_names;
            if reply.is_none()
                && !flags.prometheus
                && rules::restrict_header_names(restrict, req, inb.bytes(), &mut edits, &bump)
            {
                flags.denied = true;
                let page = rules::page_for(403, fe_px, Some(be_px), &base);
                reply = Some((403, rules::close_page(page, !keep_after_reply)));
            }
            if reply.is_none() {
                let c = !keep_after_reply;
                // The backend's page: HAProxy counts only what the frontend intercepts.
                if let Some((status, bytes, t0)) =
                    intercept(ctx, be.proxy, req, inb.bytes(), head_len, &base, &flags, c)
                {
                    reply = Some((status, bytes));
                    applet_answered(txn, applet_name(&flags), t0);
                }
            }
        }
        txn.failed_rewrites(flags.failed_rewrites, 2);
        if flags.internal_error {
            txn.internal_error(2);
        }
        if let Some(l) = flags.effects.log_level {
            txn.log_level = Some(l);
        }
        if flags.effects.tos.is_some() || flags.effects.mark.is_some() {
            flags.effects.apply_to(ctx.info.fd, ctx.info.src.is_ipv6());
        }
        // `http-request capture` and the `capture-req` converters the rules ran: into the
        // frontend's slots, cut to their lengths.
        let conv = vars.take_captures(false);
        for (id, v) in conv.into_iter().chain(flags.captures.drain(..)) {
            if let Some(c) = fe_px.logging.req_captures.get(id) {
                txn.captures.set(false, id, &v, c.len);
            }
        }
        let mut cache = None;
        let mut cache_from_frontend = false;
        if let (None, Some(be)) = (&reply, &be) {
            let be_px = &cfg.proxies[be.proxy];
            let pxs = [fe_px, be_px];
            let pxs = &pxs[..if be.proxy != fe.proxy { 2 } else { 1 }];
            let s = EditedRequestSample {
                request: base,
                edits: &edits,
            };
            let fields = edits.headers(req.headers(), inb.bytes());
            let fields = fields.map(|h| (h.name, h.value));
            let close = !keep_after_reply;
            // (The clock is read for a lookup only: what a hit's log line times.)
            let t0 = (!cfg.caches.is_empty()).then(Instant::now);
            match super::cache::request(
                cfg,
                shared.shards,
                pxs,
                &s,
                req,
                inb.bytes(),
                fields,
                close,
            ) {
                super::cache::Lookup::Hit(mut bytes, status, px) => {
                    applet_answered(txn, "<CACHE>", t0.unwrap_or_else(Instant::now));
                    // The frontend's own rule answered before the backend was chosen: HAProxy
                    // logs the frontend as the backend, and counts it as intercepted.
                    if px == 0 && be.proxy != fe.proxy {
                        cache_from_frontend = true;
                    }
                    txn.intercepted = px == 0;
                    let comp = (fe_px.compression.as_ref(), be_px.compression.as_ref());
                    if let Some(s) = super::compress::Settings::of(comp.0, comp.1) {
                        let fields = edits.headers(req.headers(), inb.bytes());
                        let fields = fields.map(|h| (h.name, h.value));
                        if let Some(a) = super::compress::negotiate(&s, fields) {
                            let limits = &ctx.limits;
                            let tune = super::compress::Tune::of(&ctx.cfg.global);
                            bytes = super::compress::whole_answer(&s, a, req, bytes, limits, tune);
                        }
                    }
                    reply = Some((status, bytes));
                }
                super::cache::Lookup::Miss(p) => cache = Some(p),
                super::cache::Lookup::None => {}
            }
        }
        if let Some((status, bytes)) = reply {
            // `deny`, `tarpit` (and the header names refused): one more HTTP error on what
            // the stream tracks, as HAProxy 2.6's `stream_inc_http_err_ctr` there.
            if flags.denied
                && let Some(c) = &stick_ctx
            {
                c.count_http_error();
            }
            let be_px = be.as_ref().map(|b| &cfg.proxies[b.proxy]);
            let (s, mut caps, room) = (&mut b.scratch, Vec::new(), (ctx.bufsize(), 0));
            let upto = 1 + usize::from(be.is_some());
            let (status, bytes) = txn.after_answer(
                fe_px,
                be_px,
                &base,
                (status, bytes),
                s,
                &mut caps,
                room,
                upto,
                flags.answered,
            );
            if flags.tarpit {
                // `tarpit`: hold the client (`timeout tarpit`, else `timeout connect`, of the
                // proxy whose rule it was), then answer and close, as HAProxy does.
                let px = be.as_ref().map_or(fe_px, |b| &cfg.proxies[b.proxy]);
                txn.term = Term::new(Cause::Proxy, Phase::Tarpit);
                return Analyzed::Reply {
                    status,
                    bytes: rules::close_page(bytes, true),
                    keep: false,
                    be: be.clone(),
                    denied: true,
                    tarpit: px.timeouts.tarpit.or(px.timeouts.connect),
                };
            }
            return Analyzed::Reply {
                status,
                bytes,
                keep: keep_after_reply,
                be: be.clone().filter(|_| !cache_from_frontend),
                denied: flags.denied,
                tarpit: None,
            };
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
        // `force-persist` / `ignore-persist`: the first rule whose condition holds; `option
        // persist` forces as well.
        let (force, ignore) = match be_px.persist_rules.is_empty() {
            true => (false, false),
            false => {
                let edited = EditedRequestSample {
                    request: base,
                    edits: &edits,
                };
                let rule = (be_px.persist_rules.iter()).find(|r| r.cond.eval(&be_px.acls, &edited));
                rule.map_or((false, false), |r| (r.force, !r.force))
            }
        };
        let force = force || be_px.options.persist;
        let (sticky, letter) = match be_px.cookie.as_ref().filter(|_| !ignore) {
            Some(c) => super::persist::request_cookie(
                c,
                &be.server_cookies,
                |i| force || be.lb.servers[i].usable(),
                req,
                inb.bytes(),
                now,
            ),
            None => (None, b'N'),
        };
        if be_px.cookie.is_some() {
            // The log's `%tsc`: the client's cookie, and `N` until the answer says more.
            txn.cookie = [letter, b'N'];
        }
        // `stick match|on`: after the cookie, as in HAProxy.
        let mut persist = crate::stick::Persist::rules(
            &be_px.stick_rules,
            &be_px.acls,
            &shared.stick,
            &base,
            |id| be.lb.servers.iter().position(|s| s.id == id && s.usable()),
        );
        // `use-server`: after the cookie, before `stick match` (HAProxy's analyser order).
        if sticky.is_none() && !be_px.use_servers.is_empty() {
            let edited = EditedRequestSample {
                request: base,
                edits: &edits,
            };
            if let Some(i) = crate::proxy::switching::use_server(be_px, &be, &edited, force) {
                persist.server = Some(i);
            }
        }
        if let Some(c) = &be_px.cookie {
            super::persist::rewrite_request_cookies(c, req, inb.bytes(), &mut edits, &bump);
        }
        let hash_key = be_px.balance.key.as_ref().and_then(|k| {
            if let crate::config::HashKey::Expr(e) = k {
                // On the request as the rules left it, as HAProxy's `get_server_expr`.
                let edited = EditedRequestSample {
                    request: base,
                    edits: &edits,
                };
                return e.hash_key(&edited, |b| be.lb.key(b));
            }
            let all = inb.bytes();
            let body = &all[head_len.min(all.len())..];
            super::persist::hash_part(k, req, all, body).map(|p| be.lb.key(&p))
        });
        let expr_sni: Vec<(usize, Vec<u8>)> = be
            .sni_exprs
            .iter()
            .filter_map(|&i| match be.server_tls[i].as_ref()?.sni.as_ref()? {
                crate::config::ServerSni::Expr(f) => {
                    let mut v = Vec::new();
                    f.render(&base, &mut v);
                    Some((i, v))
                }
                crate::config::ServerSni::Fixed(_) => None,
            })
            .collect();
        let conn_mode = fe_px.http.conn_mode.max(be_px.http.conn_mode);
        let client_close = conn_mode == ConnMode::Close || !req.keep_alive();

        let comp_cfg = (fe_px.compression.as_ref(), be_px.compression.as_ref());
        let comp = super::compress::Settings::of(comp_cfg.0, comp_cfg.1).and_then(|s| {
            let fields = edits.headers(req.headers(), inb.bytes());
            let algo = super::compress::negotiate(&s, fields.map(|h| (h.name, h.value)))?;
            if s.offload() {
                let _ = edits.del_header(b"accept-encoding");
            }
            Some(algo)
        });

        // How the head goes to the server: an HTTP/2 stream's absolute target in
        // origin-form, as HAProxy sends it (its "normalized" URI).
        edits.strip_hop_by_hop(true);
        if ctx.info.h2 {
            edits.set_origin_form(true);
        }
        if upgrade {
            edits.set_connection(ConnectionHeader::Upgrade);
        } else if conn_mode != ConnMode::KeepAlive {
            edits.set_connection(ConnectionHeader::Close);
        } else if version == Version::Http10 {
            edits.set_connection(ConnectionHeader::KeepAlive);
        }
        if fe_px.logging.unique_id_line.is_some() {
            // HAProxy's http_process_request: made before the forwardfor header, once (so
            // not again when it was made before the rules).
            let id = match txn.unique_id.take() {
                Some(id) => Some(id),
                None => {
                    let s = txn_stream(&ctx.info, txn, ctx.vars(vars), Instant::now());
                    let request = EditedRequestSample {
                        request: base,
                        edits: &edits,
                    };
                    crate::proxy::accesslog::unique_id(shard, fe, &s, Some(&request))
                }
            };
            if let (Some(h), Some(id)) = (&fe_px.logging.unique_id_header, &id) {
                let v = match edits.copy(id) {
                    Ok(v) => v,
                    Err(_) => crate::h1::Val::from(&*bump.alloc_slice_copy(id)),
                };
                let _ = edits.add_header(h.as_bytes(), v);
            }
            txn.unique_id = id;
        }
        let buf = inb.bytes();
        let info = &ctx.info;
        let (src, dst) = (txn.addrs().src_or(info.src), txn.addrs().dst_or(info.dst));
        if let Some(ff) = be_px
            .http
            .forwardfor
            .as_ref()
            .or(fe_px.http.forwardfor.as_ref())
            && !ff.except.is_some_and(|n| n.contains(src.ip()))
            && !(ff.if_none && has_header(req, buf, ff.header.as_bytes()))
            && let Ok(v) = edits.format(format_args!("{}", src.ip()))
        {
            let _ = edits.add_header(ff.header.as_bytes(), v);
        }
        if let Some(ot) = be_px
            .http
            .originalto
            .as_ref()
            .or(fe_px.http.originalto.as_ref())
            && !ot.except.is_some_and(|n| n.contains(dst.ip()))
            && let Ok(v) = edits.format(format_args!("{}", dst.ip()))
        {
            let _ = edits.add_header(ot.header.as_bytes(), v);
        }
        // `http-send-name-header`: the client's fields of that name go; the server's name is
        // added per attempt (`forward`).
        if let Some(h) = &be_px.http.send_name_header {
            let _ = edits.del_header(h.as_bytes());
        }
        b.sout.clear();
        serialize_request(req, buf, &edits, &mut b.sout);
        // `option h1-case-adjust-bogus-server`: the global spellings (an HTTP/2 server's
        // head is made from this one, lowercased).
        if be_px.options.h1_case_adjust_server {
            let map = &cfg.global.h1_case_map;
            crate::h1::adjust_name_case(&mut b.sout, |n| map.get(n));
        }
        let saved_head: Vec<u8> =
            if be_px.http_response.is_empty() && fe_px.http_response.is_empty() {
                Vec::new()
            } else {
                buf[..head_len].to_vec()
            };

        // What of the body is already here: a request that is complete in the buffer can be
        // replayed on another server (layer-7 retries, as HAProxy requires).
        let in_buf = self.buf_len_at_head - head_len;
        let whole_body = match req.body_kind() {
            BodyKind::None => Some(0),
            BodyKind::ContentLength(n) if (n as usize) <= in_buf => Some(n as usize),
            BodyKind::Chunked => match ChunkedScanner::new(&ctx.limits).advance(&buf[head_len..]) {
                Ok(a) if a.done => Some(a.consumed),
                Ok(_) => None,
                Err(e) => {
                    let e = e.into_http_error(crate::h1::Message::Request);
                    return Analyzed::Fail(ProxyError::bad_request(e.status()));
                }
            },
            _ => None,
        };
        let replayable = whole_body.is_some() && !req.expects_continue() && !flags.disable_l7_retry;
        let server_timeout = flags.server_timeout.unwrap_or(be.server_timeout);
        let tunnel_timeout = flags.tunnel_timeout.unwrap_or(be.tunnel_timeout);
        Analyzed::Forward(Route {
            be,
            sticky,
            hash_key,
            expr_sni,
            conn_mode,
            client_close,
            now,
            saved_head,
            persist,
            whole_body,
            replayable,
            comp,
            cache,
            server_timeout,
            tunnel_timeout,
            early_hints: std::mem::take(&mut flags.early_hints),
        })
    }

    /// Connect, send and read the response head, with retries: the server that answered,
    /// its slot still held.
    async fn forward<'b, C: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        b: &mut Bufs,
        client: &mut C,
        route: &Route,
        be: &'b BackendRt,
    ) -> Result<Answered<'b>, ProxyError> {
        let ctx = self.ctx;
        let shard = &ctx.shard;
        let be_px = &ctx.cfg.proxies[be.proxy];
        let fe_px = ctx.fe_px();
        let head_len = self.head_len;
        let whole_body = route.whole_body;
        let replayable = route.replayable;
        let expects_continue = b.req.expects_continue();
        let body_kind = b.req.body_kind();
        let method = b.req.method();
        let mut scanner = ChunkedScanner::new(&ctx.limits);
        // `early-hint`: the 103s go before the server is asked (only to HTTP/1.1 and
        // HTTP/2 clients: an HTTP/1.0 client knows no interim response).
        if !route.early_hints.is_empty() && b.req.version() != Version::Http10 {
            write_all(client, &route.early_hints, deadline(fe_px.timeouts.client))
                .await
                .map_err(|_| ProxyError::client_abort())?;
        }
        // `set-priority-class`/`-offset`: the request's rank if it waits in a queue.
        let prio = Priority::new(self.vars.priority());
        // To a server: the response's rules no longer see `req.` variables.
        self.vars.end_request();
        let txn = &mut self.txn;
        // `http-request set-dst`/`set-dst-port`: where a server at 0.0.0.0 (or port 0)
        // connects, on a connection of its own (not pooled, not reused); so does a request
        // whose `set-src` a PROXY header or `usesrc` would carry.
        let set_dst = txn.addrs().dst;
        let own_conn = set_dst.is_some()
            || (txn.addrs().src.is_some()
                && (be.send_proxy.iter().any(Option::is_some)
                    || be.source.iter().any(|s| s.presents_client())));
        let ctx_pick = PickCtx {
            client_ip: txn.addrs().src_or(ctx.info.src).ip(),
            avoid: None,
            key: route.hash_key,
        };
        let mut retry = Retry::default();
        let retry_on = be_px.http.retry_on;
        let watch = self.watch;
        let h2 = ctx.info.h2;
        // `http-send-name-header`: the head's length without the server's name.
        let name_base = be_px.http.send_name_header.as_ref().map(|_| b.sout.len());
        loop {
            // The same server again, else the cookie's server first (unless redispatching
            // away from it), else balance.
            let slot = if let Some(s) = retry.again.take() {
                Some(s)
            } else {
                let direct = route
                    .sticky
                    .as_ref()
                    .map(|s| s.server)
                    .or(route.persist.server)
                    .filter(|&s| retry.avoid != Some(s) && retry.made == 0);
                // `option prefer-last-server`: the server of the connection kept for this
                // client (`http-reuse never`, as in HAProxy, whose other connections are
                // not the client's) while it is usable. Balanced, not persistent: a full
                // queue there balances, and a retry may redispatch. With
                // `max-keep-alive-queue N`, a full server with N queued is left too.
                let last = match (direct, &b.private) {
                    (None, Some((bi, s, _, _)))
                        if be.prefer_last_server
                            && *bi == be.proxy
                            && retry.made == 0
                            && be.lb.servers[*s].usable()
                            && be.max_keep_alive_queue.is_none_or(|n| {
                                let srv = &be.lb.servers[*s];
                                srv.has_room() || srv.queue.waiting() < n
                            }) =>
                    {
                        Some(*s)
                    }
                    _ => None,
                };
                let slot = match direct.or(last) {
                    Some(s) if be.abortonclose => {
                        let queued = Instant::now();
                        let w = direct_slot(be, s, txn, prio);
                        match Box::pin(unless_closed(client, &mut b.inb, h2, w)).await {
                            Some(r) => r,
                            None => return Err(aborted_waiting(txn, Phase::Queue, queued)),
                        }
                    }
                    Some(s) => direct_slot(be, s, txn, prio).await,
                    None => Ok(None),
                };
                let direct = match slot {
                    Err(e) if last.is_some() && e.term.cause == Cause::Server => None,
                    r => r?,
                };
                retry.persistent = direct.is_some() && last.is_none();
                match direct {
                    Some(slot) => Some(slot),
                    None => {
                        let avoid = retry.avoid;
                        let pctx = PickCtx { avoid, ..ctx_pick };
                        if be.abortonclose {
                            let queued = Instant::now();
                            let w = pick(be, &pctx, txn, prio);
                            match Box::pin(unless_closed(client, &mut b.inb, h2, w)).await {
                                Some(r) => r,
                                None => return Err(aborted_waiting(txn, Phase::Queue, queued)),
                            }
                        } else {
                            pick(be, &pctx, txn, prio).await
                        }
                    }
                }
            };
            let Some(slot) = slot else {
                return Err(ProxyError::no_server());
            };
            let srv = slot.srv;
            txn.server = Some(srv);
            // The connect's start is the server's session (one clock reading for both).
            let t0 = Instant::now();
            (shard.counters()).rate_now(ticked::SRV, be.proxy, srv, &mut txn.ticked, t0);
            if let Some(p) = &be_px.servers[srv].params.redir
                && matches!(method, Method::Get | Method::Head)
            {
                let bytes = super::redir::response(p, local_target(ctx, &b.req, b.inb.bytes()));
                txn.status = 302;
                txn.answered(&bytes);
                let _ = write_all(client, &bytes, within(fe_px.timeouts.client)).await;
                return Err(ProxyError::answered_locally());
            }
            txn.epoch = be.lb.servers[srv].kill_epoch();
            let bound = Target {
                backend: be.proxy,
                server: srv,
                epoch: txn.epoch,
            };
            shard.sessions.bind(ctx.info.sess, bound);
            if let Some(w) = watch {
                w.set(Some(bound));
            }
            let mut reused = false;
            // Requests the connection carried before this one (`max-reuse`).
            let mut uses = 0;
            let sconn = match b.private.take() {
                Some((bi, s, c, u))
                    if bi == be.proxy && s == srv && c.idle_alive() && !own_conn =>
                {
                    reused = true;
                    uses = u;
                    Ok(c)
                }
                other => {
                    // A private connection to another server is closed: its client moved on.
                    drop(other);
                    let sni = route
                        .expr_sni
                        .iter()
                        .find(|(i, _)| *i == srv)
                        .map(|(_, v)| &v[..]);
                    let info = &ctx.info;
                    // `http-request set-dst`: that address, on a connection of its own.
                    let dst = set_dst.unwrap_or(info.dst);
                    let src = txn.addrs().src_or(info.src);
                    // A WebSocket request to a server that offers h2 by ALPN goes over
                    // HTTP/1.1 when `ws auto|h1` allows (its connection offers http/1.1).
                    let ws = b.req.is_websocket_upgrade()
                        && be.traffic_tls(srv).is_some_and(|t| t.ws_config.is_some())
                        && !ctx.cfg.proxies[be.proxy].servers[srv].params.proto_h2;
                    let h2 = !ws && crate::net::h2_upstream::speaks_h2(&ctx.cfg, be, srv);
                    // What a PROXY v2 header may say besides the addresses; the unique id
                    // is empty without `unique-id-format`, as HAProxy's.
                    let facts = crate::net::upstream::ClientFacts {
                        tls: info.tls.as_ref().map(TlsInfo::pp),
                        unique_id: Some(txn.unique_id.as_deref().unwrap_or(b"")),
                    };
                    // (The pool's borrow must end before any await.)
                    // A server whose address follows the client's destination: not from
                    // the shared pool nor on a shared HTTP/2 connection.
                    let own_conn = own_conn
                        || be.lb.servers[srv].follows_client_dst()
                        || be.source[srv].presents_client();
                    let pooled = (!own_conn && !h2).then(|| {
                        shard.http_pool.borrow_mut().take(
                            be.proxy,
                            srv,
                            be_px.http.reuse,
                            self.first,
                            t0,
                        )
                    });
                    match pooled.flatten() {
                        Some((c, _, u)) => {
                            reused = true;
                            uses = u;
                            Ok(c)
                        }
                        None if h2 => {
                            // A stream on a shared HTTP/2 connection.
                            let reuse = match own_conn {
                                true => Reuse::Never,
                                false => be_px.http.reuse,
                            };
                            let o = crate::net::h2_upstream::Open {
                                cfg: &ctx.cfg,
                                be: &route.be,
                                srv,
                                reuse,
                                first: self.first,
                                src,
                                dst,
                                sni,
                                facts,
                                te: crate::net::h2_upstream::te_trailers(&b.req, b.inb.bytes()),
                                limits: ctx.limits,
                                idle: crate::net::pool::IdleLimit::of(
                                    &ctx.cfg.proxies[be.proxy].servers[srv].params,
                                    shard.shared.shards,
                                ),
                            };
                            let open = crate::net::h2_upstream::open(o);
                            let opened = if be.abortonclose {
                                match Box::pin(unless_closed(client, &mut b.inb, h2, open)).await {
                                    Some(r) => r,
                                    None => {
                                        return Err(aborted_waiting(txn, Phase::Connect, t0));
                                    }
                                }
                            } else {
                                Box::pin(open).await
                            };
                            opened.map(|(c, r)| {
                                reused = r;
                                c
                            })
                        }
                        // Boxed: the connect (TCP, then TLS) is most of the exchange's state,
                        // and the exchange's whole state is copied into its box per request;
                        // a new connection costs more than this allocation.
                        None => {
                            // Short of descriptors: an idle one to this server goes first
                            // (tune.pool-high-fd-ratio).
                            if !own_conn {
                                shard.http_pool.borrow_mut().make_room(
                                    be.proxy,
                                    srv,
                                    shard.shared.idle_fds,
                                    shard.shared.slots.current(),
                                );
                            }
                            let c =
                                crate::net::upstream::connect(be, srv, src, dst, sni, facts, ws);
                            let c = if be.abortonclose {
                                match Box::pin(unless_closed(client, &mut b.inb, h2, c)).await {
                                    Some(r) => r,
                                    None => {
                                        return Err(aborted_waiting(txn, Phase::Connect, t0));
                                    }
                                }
                            } else {
                                Box::pin(c).await
                            };
                            c.map(ServerIo::recv_on_ring)
                        }
                    }
                }
            };
            let mut sconn = match sconn {
                Ok(c) => c,
                Err(e) => {
                    txn.t_connect = None;
                    if e.io.as_ref().is_some_and(crate::sys::ports::bind_failed) {
                        crate::net::shard::source_bind_alert(shard, be);
                    }
                    crate::net::shard::observe_error(shard, be, srv);
                    if crate::acl::bc_conn_used() {
                        let timed_out = e.kind == crate::net::error::Kind::ConnectTimeout;
                        self.vars.set_bc_failed(e.tls_handshake, timed_out);
                    }
                    // Nothing was sent yet: a connection failure (refused, timed out, a
                    // failed TLS handshake) is retried whatever the body.
                    let again = e.again(false, false, replayable);
                    if retry.after_error(slot, &e, again, retry_on, txn).await {
                        continue;
                    }
                    return Err(e);
                }
            };
            be.lb.servers[srv].observed_success();
            // (Also where the response time starts: HAProxy's Tr runs from the connection's
            // establishment, a request body's upload included.)
            let t_connected = Instant::now();
            txn.t_connect = Some(t_connected - t0);
            // The stream's timeouts are the backend's from here on, where `set-timeout`
            // set none (HAProxy's `back_establish`).
            self.vars.set_cur_timeout(false, be.server_timeout, true);
            self.vars.set_cur_timeout(true, be.tunnel_timeout, true);
            // (`bc_*`: a multiplexed stream is HTTP/2's. The addresses are two system calls
            // per request: read only where a `bc_*` fetch wants them.)
            let major = if sconn.is_stream() { 2 } else { 1 };
            let addrs = crate::acl::bc_addrs_used().then(|| sconn.addrs()).flatten();
            let tls = crate::acl::bc_conn_used()
                .then(|| sconn.tls_session())
                .flatten();
            self.vars.set_bc(addrs, Some(major), tls);
            // `http-send-name-header`: this server's name as the head's last field, written
            // again on each attempt, so that a retry elsewhere names the server it reaches.
            if let (Some(h), Some(base)) = (&be_px.http.send_name_header, name_base) {
                let name = &be_px.servers[srv].name;
                let head = &mut b.sout;
                head.truncate(base - 2);
                for part in [h.as_bytes(), b": ", name.as_bytes(), b"\r\n\r\n"] {
                    head.extend_from_slice(part);
                }
            }
            // Send the head, and the body when it is all here.
            let t_server = route.server_timeout;
            let inb = &b.inb;
            let sent = if let Some(n) = whole_body.filter(|_| !expects_continue) {
                let r = async {
                    write_all(&mut sconn, &b.sout, within(t_server)).await?;
                    write_all(
                        &mut sconn,
                        &inb.bytes()[head_len..head_len + n],
                        within(t_server),
                    )
                    .await
                }
                .await;
                r.map(|_| n)
            } else {
                write_all(&mut sconn, &b.sout, within(t_server))
                    .await
                    .map(|_| 0)
            };
            if let Err(e) = sent {
                // A reused connection the server closed meanwhile: again on a fresh one. A
                // fresh connection that failed before the request went out: a failed
                // connect, when the request can be sent again.
                let e = ProxyError::send(e);
                let again = e.again(reused, false, replayable);
                if retry.after_error(slot, &e, again, retry_on, txn).await {
                    continue;
                }
                return Err(e);
            }
            // The server's heads: `option accept-invalid-http-response` relaxes their parse.
            let res_limits = ctx
                .limits
                .relaxed(be_px.options.accept_invalid_http_response);
            // Stream the rest of the body (not replayable: no retry from here on).
            if whole_body.is_none() || expects_continue {
                self.head_gone = true;
                forward_request_body(
                    client,
                    &mut sconn,
                    &mut b.inb,
                    head_len,
                    body_kind,
                    &mut scanner,
                    expects_continue,
                    &mut b.res,
                    &mut b.rbuf,
                    &res_limits,
                    method,
                    fe_px,
                    t_server,
                )
                .await?;
                if body_kind == BodyKind::Chunked
                    && let Some(s) = &mut txn.stick
                {
                    s.body_in = scanner.data_len() + u64::from(scanner.is_done());
                }
            }
            // Read the response head (forwarding interim 1xx responses).
            match read_response_head(
                client,
                &mut sconn,
                &mut b.rbuf,
                &mut b.res,
                &res_limits,
                t_server,
                fe_px.timeouts.client,
            )
            .await
            {
                Ok(()) => {
                    txn.t_response = Some(t_connected.elapsed());
                    let status = b.res.status();
                    txn.srv_status = status;
                    if retry_on::status_bit(status) & be_px.http.retry_on != 0 && replayable {
                        // (The retry decides on the slot; a failed decision drops it.)
                        match retry.after_keep(slot, Failure::Response, txn).await {
                            Ok(()) => {
                                b.rbuf.consume(b.rbuf.len());
                                continue;
                            }
                            Err(slot) => {
                                return Ok(Answered {
                                    slot,
                                    sconn,
                                    reused,
                                    uses,
                                });
                            }
                        }
                    }
                    return Ok(Answered {
                        slot,
                        sconn,
                        reused,
                        uses,
                    });
                }
                Err(e) => {
                    b.rbuf.consume(b.rbuf.len());
                    // A reused connection closed under us before answering: again on a
                    // fresh one (the request never reached the application); on HTTP/2,
                    // only a stream the server refused unprocessed.
                    let again = e.again(
                        reused && !sconn.is_stream() || sconn.refused(),
                        true,
                        replayable,
                    );
                    if again != Again::Fresh
                        && matches!(e.kind, Kind::EmptyResponse | Kind::JunkResponse)
                    {
                        crate::net::shard::observe_error(shard, be, srv);
                    }
                    if retry.after_error(slot, &e, again, retry_on, txn).await {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// ForwardResponse: persistence cookie, `http-response` rules, the head and the body to
    /// the client; the server connection back to the pool when it can serve again.
    async fn respond<C: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        b: &mut Bufs,
        client: &mut C,
        route: &Route,
        mut answered: Answered<'_>,
    ) -> Next {
        let ctx = self.ctx;
        let shard = &ctx.shard;
        let fe = &ctx.fe;
        let fe_px = ctx.fe_px();
        let be = &route.be;
        let be_px = &ctx.cfg.proxies[be.proxy];
        // (Its fields are used in place: destructured, it would be stored once more.)
        let (srv, reused) = (answered.slot.srv, answered.reused);
        let txn = &mut self.txn;
        let vars = &self.vars;
        // The request's sticky counters, read once for the rules and the byte counts.
        let stick_ctx =
            (shard.shared.stick).ctx_session(&self.trackers, ctx.info.trackers.as_deref());
        txn.reused = reused;
        let req = &b.req;
        let res = &b.res;
        let method = req.method();
        let version = req.version();
        let status = res.status();
        txn.status = status;
        // `tcp-response content` rules (HAProxy's AN_RES_INSPECT, before the HTTP
        // analysis of the response): they see the parsed head as HAProxy's HTX message.
        let mut server_close = false;
        if !be_px.tcp_response.content.is_empty() {
            use crate::proxy::inspect::TcpVerdict;
            let shared = &shard.shared;
            let nbsrv = |i: usize| shared.usable_servers(i);
            let addrs = crate::acl::AddrsCell::new(txn.addrs());
            let rbase = RequestSample {
                head: (!route.saved_head.is_empty()).then_some((req, &route.saved_head[..])),
                conn: &ctx.acl_conn,
                nbsrv: &nbsrv,
                stopping: shared.control.soft_stopping(),
                stick: stick_ctx
                    .as_ref()
                    .map(|c| c as &dyn crate::acl::StickSource),
                txn: Some(vars),
                addrs: Some(&addrs),
                strm: Some(shared.strm(fe.proxy, Some(be.proxy), Some(srv))),
            };
            let edits: Edits<'_> = Edits::new();
            let s = || crate::acl::ResponseSample::new(&rbase, res, b.rbuf.bytes(), &edits);
            let rules = &be_px.tcp_response.content;
            let run = |s: &dyn crate::acl::Sample| {
                let res = &mut crate::proxy::inspect::Resolving::default();
                let fx = &mut crate::proxy::effects::Effects::default();
                crate::proxy::inspect::run_content(rules, &be_px.acls, s, &mut Vec::new(), res, fx)
            };
            // First as HAProxy runs them before the answer came, then on the head.
            let v = run(&s().as_htx_pending()).or_else(|| run(&s().as_htx()));
            match v {
                Some(TcpVerdict::Reject | TcpVerdict::SilentDrop) => {
                    // HAProxy: the response is denied, both sides close, nothing reaches
                    // the client (`PD`, the server's status in the log).
                    // `silent-drop` is logged as HAProxy logs it, as its request-side
                    // twin (`PR`).
                    let mut phase = Phase::Data;
                    if v == Some(TcpVerdict::SilentDrop) {
                        crate::sys::silent_drop_raw(ctx.info.fd);
                        phase = Phase::Request;
                    }
                    drop(answered.slot);
                    drop(answered.sconn);
                    (txn.term, txn.denied_resp) = (Term::new(Cause::Proxy, phase), true);
                    log_txn(&ctx.shard, &ctx.fe, &ctx.info, txn, ctx.vars(vars));
                    return Next::Close;
                }
                // The server's connection ends after this answer, which still goes on.
                Some(TcpVerdict::Close) => server_close = true,
                _ => {}
            }
        }
        let server = &be.lb.servers[srv];
        route.persist.response(
            &shard.shared.stick,
            stick_ctx.as_ref(),
            (!server.non_stick).then_some(server.id),
            status,
        );
        let log = &fe_px.logging;
        if (!log.res_captures.is_empty() || log.cookie.is_some()) && logging(shard, fe) {
            let bytes = b.rbuf.bytes();
            let fields = res
                .headers()
                .iter()
                .map(|h| (h.name(bytes), h.value(bytes)));
            txn.captures
                .capture(true, &log.res_captures, fields.clone());
            if let Some(c) = &log.cookie {
                (txn.captures).capture_cookie(true, c.name.as_bytes(), c.len, fields);
            }
        }
        // `http-response wait-for-body`: the body (or some of it) joins the head in `rbuf`
        // before the rules, for `res.body*`; too late, and HAProxy answers 504.
        let mut body_late = false;
        if !route.saved_head.is_empty()
            && (be_px.waits_for_body || (be.proxy != fe.proxy && fe_px.waits_for_body))
        {
            let shared = &shard.shared;
            let nbsrv = |i: usize| shared.usable_servers(i);
            let addrs = crate::acl::AddrsCell::new(txn.addrs());
            let rbase = RequestSample {
                head: Some((req, &route.saved_head)),
                conn: &ctx.acl_conn,
                nbsrv: &nbsrv,
                stopping: shared.control.soft_stopping(),
                stick: stick_ctx
                    .as_ref()
                    .map(|c| c as &dyn crate::acl::StickSource),
                txn: Some(vars),
                addrs: Some(&addrs),
                strm: Some(shared.strm(fe.proxy, Some(be.proxy), Some(srv))),
            };
            let pxs = [be_px, fe_px];
            let pxs = &pxs[..if be.proxy != fe.proxy { 2 } else { 1 }];
            if let Some((time, at_least)) = rules::wait_for_body(pxs, &rbase, res, b.rbuf.bytes()) {
                let (rbuf, sconn) = (&mut b.rbuf, &mut answered.sconn);
                let wait = WaitBody {
                    kind: res.body_kind(method),
                    head_len: res.head_len(),
                    time,
                    at_least,
                };
                body_late = !wait.run(rbuf, sconn, &ctx.limits).await;
            }
        }
        let res_body = res.body_kind(method);
        let tunnel = matches!(res_body, BodyKind::Tunnel);
        // A soft stop ends keep-alive: this response closes (HAProxy's `Connection: close`
        // after the stop, spread over `close-spread-time`).
        let mut close_client = route.client_close
            || matches!(res_body, BodyKind::CloseDelimited)
            || shard
                .shared
                .control
                .closes_active(ctx.cfg.global.close_spread_time);
        // The head's edits end with this block, before anything is awaited: they are 1 KiB
        // that the exchange's state would hold (and copy per request) otherwise.
        let head = 'head: {
            let rbump = bumpalo::Bump::new();
            let mut edits: Edits<'_> = Edits::new();
            if let (Some(c), Some(value)) = (&be_px.cookie, &be.server_cookies[srv]) {
                let sticky_ok = route.sticky.as_ref().is_some_and(|s| s.server == srv);
                let refresh = route.sticky.as_ref().is_some_and(|s| s.refresh);
                txn.cookie[1] = super::persist::response_cookie(
                    c,
                    value,
                    res,
                    b.rbuf.bytes(),
                    &mut edits,
                    &rbump,
                    method == Method::Post,
                    sticky_ok,
                    refresh,
                    route.now,
                );
            }
            let mut store = None;
            if body_late {
                // HAProxy 2.6's answer when `wait-for-body` times out on a response: 504,
                // logged `sR` (its rule analyser's phase) with no response time (-1), and
                // counted as an HTTP failure.
                if let Some(c) = &stick_ctx {
                    c.count_http_fail();
                }
                txn.term = Term::new(Cause::ServerTimeout, Phase::Request);
                txn.t_response = None;
                // It went to a server: `Tw` is its wait (0 without a queue), not -1.
                txn.t_queue.get_or_insert(Duration::ZERO);
                let nbsrv = |i| shard.shared.usable_servers(i);
                let stick = stick_ctx
                    .as_ref()
                    .map(|c| c as &dyn crate::acl::StickSource);
                let addrs = crate::acl::AddrsCell::new(txn.addrs());
                let base = ctx.sample_without_head(
                    &nbsrv,
                    stick,
                    vars,
                    &addrs,
                    shard.shared.strm(fe.proxy, Some(be.proxy), Some(srv)),
                );
                let page = rules::close_page(rules::page_for(504, fe_px, Some(be_px), &base), true);
                let (s, mut caps, room) = (&mut b.scratch, Vec::new(), (ctx.bufsize(), 0));
                let r = txn.after_answer(
                    fe_px,
                    Some(be_px),
                    &base,
                    (504, page),
                    s,
                    &mut caps,
                    room,
                    3,
                    false,
                );
                break 'head Err(r);
            }
            // What the response rules may add to the head: HAProxy's buffer less the response.
            let mut res_room = Some(ctx.bufsize().saturating_sub(res.head_len()));
            // http-response rules: the backend's, then the frontend's (HAProxy's order).
            if !route.saved_head.is_empty() {
                let shared = &shard.shared;
                let nbsrv = |i: usize| shared.usable_servers(i);
                let addrs = crate::acl::AddrsCell::new(txn.addrs());
                let rbase = RequestSample {
                    head: Some((req, &route.saved_head)),
                    conn: &ctx.acl_conn,
                    nbsrv: &nbsrv,
                    stopping: shared.control.soft_stopping(),
                    stick: stick_ctx
                        .as_ref()
                        .map(|c| c as &dyn crate::acl::StickSource),
                    txn: Some(vars),
                    addrs: Some(&addrs),
                    strm: Some(shared.strm(fe.proxy, Some(be.proxy), Some(srv))),
                };
                let mut res_caps = Vec::new();
                // A listen is its own backend: its rules run once. (No Vec: per request.)
                let pxs = [be_px, fe_px];
                let pxs = &pxs[..if be.proxy != fe.proxy { 2 } else { 1 }];
                for (i, px) in pxs.iter().enumerate() {
                    let is_be = i == 0;
                    // (Per proxy, not held across anything awaited: the future stays small.)
                    let (mut effects, mut failed) = (rules::Effects::default(), 0);
                    let mut int_err = false;
                    let v = rules::response_rules(
                        &px.http_response,
                        &px.acls,
                        &rbase,
                        res,
                        b.rbuf.bytes(),
                        &mut edits,
                        &rbump,
                        &mut b.scratch,
                        (fe_px, if is_be { Some(be_px) } else { None }),
                        true,
                        &mut res_caps,
                        &mut effects,
                        &mut res_room,
                        &mut failed,
                        &mut int_err,
                    );
                    // `http-response capture`: into the frontend's slots, cut to their
                    // lengths (a backend's rule naming a slot the frontend lacks: nothing).
                    txn.capture_response(fe_px, &mut res_caps, rbase.txn);
                    txn.failed_rewrites(failed, 3);
                    if int_err {
                        txn.internal_error(3);
                    }
                    if let Some(l) = effects.log_level.take() {
                        txn.log_level = Some(l);
                    }
                    if effects.tos.is_some() || effects.mark.is_some() {
                        effects.apply_to(ctx.info.fd, ctx.info.src.is_ipv6());
                    }
                    let denied = matches!(v, rules::HttpVerdict::DenyResponse { .. });
                    match v {
                        rules::HttpVerdict::Reply { status, bytes }
                        | rules::HttpVerdict::DenyResponse { status, bytes } => {
                            txn.denied_resp = denied;
                            let s = &mut b.scratch;
                            let (px, be) = (fe_px, Some(be_px));
                            let c = &mut res_caps;
                            let room = (ctx.bufsize(), 0);
                            // `http-response return`'s answer (not a deny's, nor the 500 of
                            // an error already counted).
                            let ret = !denied && !int_err;
                            let answer = (status, bytes);
                            let r = txn.after_answer(px, be, &rbase, answer, s, c, room, 3, ret);
                            break 'head Err(r);
                        }
                        rules::HttpVerdict::SilentDrop => {
                            // HAProxy logs it as its request-side twin: `PR`, a denied request;
                            // the server's status stays in the log.
                            drop(answered.slot);
                            drop(answered.sconn);
                            drop_client(ctx, txn, vars, true);
                            return Next::Close;
                        }
                        rules::HttpVerdict::Allow => break,
                        rules::HttpVerdict::Continue | rules::HttpVerdict::Resolve { .. } => {}
                    }
                }
                if let Some(p) = &route.cache {
                    let (cfg, n) = (&ctx.cfg, shared.shards);
                    store = super::cache::response(cfg, n, p, pxs, &rbase, res, b.rbuf.bytes());
                }
            }
            // `option checkcache`, on the response the rules left: blocked like a denied
            // response, with HAProxy 2.6's page for its status.
            if be.checkcache && {
                let ins = (be_px.cookie.as_ref())
                    .filter(|c| c.mode == crate::config::CookieMode::Insert)
                    .map(|c| c.name.as_bytes());
                super::checkcache::blocks(method, status, res, b.rbuf.bytes(), &edits, ins)
            } {
                let msg = format!(
                    "Blocking cacheable cookie in response from instance {}, server {}.",
                    be.name, be.lb.servers[srv].name
                );
                log::error!("{msg}");
                shard.log(be.proxy, crate::log::syslog::ALERT, &msg);
                txn.denied_resp = true;
                let nbsrv = |i| shard.shared.usable_servers(i);
                let stick = stick_ctx
                    .as_ref()
                    .map(|c| c as &dyn crate::acl::StickSource);
                let addrs = crate::acl::AddrsCell::new(txn.addrs());
                let base = ctx.sample_without_head(
                    &nbsrv,
                    stick,
                    vars,
                    &addrs,
                    shard.shared.strm(fe.proxy, Some(be.proxy), Some(srv)),
                );
                let st = edits.status.map_or(status, |(s, _)| s);
                let page = rules::page_for(
                    super::checkcache::page_status(st),
                    fe_px,
                    Some(be_px),
                    &base,
                );
                let bytes = rules::close_page(page, true);
                let (s, mut caps, room) = (&mut b.scratch, Vec::new(), (ctx.bufsize(), 0));
                let r = txn.after_answer(
                    fe_px,
                    Some(be_px),
                    &base,
                    (st, bytes),
                    s,
                    &mut caps,
                    room,
                    3,
                    false,
                );
                break 'head Err(r);
            }
            if super::after::any(fe_px, Some(be_px)) {
                let nbsrv = |i| shard.shared.usable_servers(i);
                let stick = stick_ctx
                    .as_ref()
                    .map(|c| c as &dyn crate::acl::StickSource);
                let addrs = crate::acl::AddrsCell::new(txn.addrs());
                let base = ctx.sample_without_head(
                    &nbsrv,
                    stick,
                    vars,
                    &addrs,
                    shard.shared.strm(fe.proxy, Some(be.proxy), Some(srv)),
                );
                let (px, be, rbuf) = (fe_px, Some(be_px), b.rbuf.bytes());
                let (s, mut caps, mut failed) = (&mut b.scratch, Vec::new(), 0);
                let (room, f) = (res_room.unwrap_or(0), &mut failed);
                let strict_failed = super::after::on_head(
                    px, be, &base, res, rbuf, &mut edits, &rbump, s, &mut caps, room, f,
                );
                if strict_failed {
                    // HAProxy's 500 instead (an internal error on all three, as its
                    // http_process_res_common counts it), through the rules in turn.
                    txn.internal_error(3);
                    let page = super::after::failed_page(px, be, &base);
                    let room = (ctx.bufsize(), failed);
                    let r =
                        txn.after_answer(px, be, &base, (500, page), s, &mut caps, room, 3, false);
                    break 'head Err(r);
                }
                txn.failed_rewrites(failed, 3);
                txn.capture_response(fe_px, &mut caps, base.txn);
            }
            // The status the client gets (`set-status`), which the log and the frontend's
            // and backend's counters show (the server's count keeps what it sent).
            if let Some((s, _)) = edits.status {
                txn.status = s;
            }
            edits.strip_hop_by_hop(true);
            if tunnel {
                edits.set_connection(ConnectionHeader::Upgrade);
            } else if close_client {
                edits.set_connection(ConnectionHeader::Close);
            } else if version == Version::Http10 || res.version() == Version::Http10 {
                // An HTTP/1.0 status line means "close" to the client unless the field
                // says otherwise (RFC 9112 section 9.3); HAProxy adds it too.
                edits.set_connection(ConnectionHeader::KeepAlive);
            }
            b.out.clear();
            let head_len_r = res.head_len();
            serialize_response(res, b.rbuf.bytes(), &edits, &mut b.out);
            // `option h1-case-adjust-bogus-client`: the global spellings (an HTTP/2
            // client's head is made from this one, lowercased).
            if fe_px.options.h1_case_adjust_client {
                let map = &ctx.cfg.global.h1_case_map;
                crate::h1::adjust_name_case(&mut b.out, |n| map.get(n));
            }
            let comp_cfg = (fe_px.compression.as_ref(), be_px.compression.as_ref());
            let comp_ok = |s| super::compress::response_ok(&s, req, res, b.rbuf.bytes());
            let comp = route.comp.filter(|_| {
                super::compress::Settings::of(comp_cfg.0, comp_cfg.1).is_some_and(comp_ok)
            });
            let filt = super::filters::BodyFilters {
                // HAProxy 2.6 stores no answer it compresses (cache.c's post_analyze drops the
                // store when compression is under way; seen with the filters in either order).
                store: store
                    .filter(|_| comp.is_none())
                    .and_then(|c| c.head(&b.out, res.content_length())),
                // No room left in `maxzlibmem`: the answer goes as it is.
                comp: comp.and_then(|a| {
                    let tune = super::compress::Tune::of(&ctx.cfg.global);
                    let e = super::compress::Encoder::new(a, tune)?;
                    super::compress::rewrite_head(&mut b.out, a);
                    Some(e)
                }),
            };
            if let Some(s) = &mut txn.stick {
                // The server's head as it came (HAProxy counts it as its mux reads it).
                s.bytes_out = crate::h1::htx_head_size(&b.rbuf.bytes()[..head_len_r]);
            }
            b.rbuf.consume(head_len_r);
            Ok(filt)
        };
        let mut filt = match head {
            Ok(f) => f,
            Err((status, bytes)) => {
                // The server's answer is replaced: its connection cannot be reused.
                drop(answered.slot);
                drop(answered.sconn);
                txn.status = status;
                if txn.denied_resp {
                    // HAProxy logs a denied answer `PH` with no response time (-1).
                    txn.term = Term::new(Cause::Proxy, Phase::Headers);
                    txn.t_response = None;
                }
                let _ = write_all(client, &bytes, within(fe_px.timeouts.client)).await;
                txn.answered(&bytes);
                log_txn(shard, fe, &ctx.info, txn, ctx.vars(vars));
                return Next::Close;
            }
        };
        // `option logasap`: the line goes now, with the head's bytes as the byte count and
        // the time so far as the total (HAProxy's http_process_res_common).
        if fe_px.logging.asap {
            log_asap(
                shard,
                fe,
                &ctx.info,
                txn,
                ctx.vars(vars),
                b.out.len() as u64,
            );
        }
        let t_client = fe_px.timeouts.client;
        let fwd = forward_response_body(
            client,
            &mut answered.sconn,
            &mut b.rbuf,
            &mut b.out,
            res_body,
            &ctx.limits,
            route.server_timeout,
            t_client,
            &mut filt,
        )
        .await;
        if let Some(c) = filt.store.take() {
            super::cache::finish(&ctx.cfg, shard.shared.shards, c, fwd.complete);
        }
        txn.bytes_out = fwd.bytes;
        drop(answered.slot);
        // The request's body and head are done with: what follows is the next request.
        if let Some(n) = route.whole_body {
            b.inb.consume(self.head_len + n);
        }
        if let Some(t) = fwd.term {
            txn.term = t;
            close_client = true;
            // An invalid body is an HTTP failure (HAProxy's `http_response_forward_body`,
            // on a parsing error); a body cut short by the server, an error or a timeout is
            // not (HAProxy 2.6 sees a read error or timeout there, and leaves uncounted).
            if fwd.invalid
                && let Some(c) = &stick_ctx
            {
                c.count_http_fail();
            }
        }
        if tunnel && fwd.term.is_none() {
            // Upgraded (WebSocket…): bytes flow both ways until one side closes.
            let leftover = b.inb.take_all();
            let t = route.tunnel_timeout.or(t_client);
            let _ = tunnel_copy(client, &mut answered.sconn, &leftover, t).await;
            log_txn(shard, fe, &ctx.info, txn, ctx.vars(vars));
            return Next::Close;
        }
        // Keep the server connection when it can serve another request.
        let server_keep = fwd.complete
            && !server_close
            && !answered.sconn.is_stream()
            && route.conn_mode == ConnMode::KeepAlive
            && b.res.keep_alive(method)
            && !b.res.must_close()
            && b.rbuf.is_empty();
        // A TLS connection named after this request (`sni EXPR`) is not for other requests,
        // nor one to the address its `set-dst` named or presenting its `set-src` (PROXY
        // header, `usesrc`).
        let addrs = txn.addrs();
        let named = route.expr_sni.iter().any(|(i, _)| *i == srv)
            || addrs.dst.is_some()
            || (addrs.src.is_some()
                && (be.send_proxy[srv].is_some() || be.source[srv].presents_client()));
        // `max-reuse N`: a connection carries N requests after its first, then closes.
        let params = &ctx.cfg.proxies[be.proxy].servers[srv].params;
        let spent = params.max_reuse.is_some_and(|m| answered.uses >= m);
        let uses = answered.uses + 1;
        // One clock reading for the pool and the log.
        let now = Instant::now();
        if server_keep && !named && !spent {
            if be_px.http.reuse == Reuse::Never
                || be.lb.servers[srv].follows_client_dst()
                || be.source[srv].presents_client()
            {
                b.private = Some((be.proxy, srv, answered.sconn, uses));
            } else if !shard.http_pool.borrow().keeps(
                be.proxy,
                srv,
                reused,
                shard.shared.idle_fds,
                shard.shared.slots.current(),
            ) {
                // Short of descriptors (tune.pool-low/high-fd-ratio): closed rather than kept.
                drop(answered.sconn);
            } else {
                let limit = crate::net::pool::IdleLimit::of(params, shard.shared.shards);
                shard.http_pool.borrow_mut().put(
                    be.proxy,
                    srv,
                    answered.sconn,
                    reused,
                    uses,
                    limit,
                    now,
                );
            }
        } else {
            drop(answered.sconn);
        }
        b.rbuf.consume(b.rbuf.len());
        if let Some(s) = &mut txn.stick {
            // (Counted with the exchange's end, see `Exchange`'s `Drop`.)
            s.body_in += std::mem::take(&mut s.unread);
            s.bytes_out += fwd.body;
        }
        log_txn_at(shard, fe, &ctx.info, txn, ctx.vars(vars), now);
        if close_client {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }
}

/// An HTTP/1 connection that turned out to be HTTP/2: what it came with, and what it sent.
pub struct Upgrade {
    pub shard: Rc<ShardCtx>,
    pub fe: Arc<FrontendRt>,
    pub info: ClientInfo,
    pub bytes: Vec<u8>,
}

/// `timeout http-request`, else `timeout client`: how long a request head may take.
fn t_http_request(px: &Proxy) -> Option<Duration> {
    px.timeouts.http_request.or(px.timeouts.client)
}

/// `timeout http-keep-alive`, else the head's: how long to wait for the next request.
fn t_keep_alive(px: &Proxy) -> Option<Duration> {
    px.timeouts.http_keep_alive.or(t_http_request(px))
}

/// What an HTTP session starts from: the connection's facts and the bytes read with its
/// PROXY header or TLS handshake. (Boxed: an async fn keeps its arguments in its future
/// beside the locals they are moved into, here `Ctx`, for as long as the connection lives.)
pub struct Start {
    pub shard: Rc<ShardCtx>,
    pub fe: Arc<FrontendRt>,
    pub info: ClientInfo,
    pub early: Vec<u8>,
}

/// HTTP/2's connection preface up to its first empty line: what HAProxy's implicit upgrade
/// matches (the rest, `SM\r\n\r\n`, is for the HTTP/2 side to check).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\n";

/// mode http on one client connection (HTTP/1.x): wait for a request head, run its
/// exchange, and again while the connection stays open. With `upgrade`, a first request
/// that is HTTP/2's preface ends it: the connection's facts and the bytes read so far come
/// back, for HTTP/2 to go on with (HAProxy's implicit upgrade; `PRI` is otherwise a 505).
/// (Boxed: rare, and the caller's future would otherwise hold its size while it closes.)
pub async fn session<C>(mut client: C, start: Box<Start>, upgrade: bool) -> Option<Box<Upgrade>>
where
    C: AsyncRead + AsyncWrite + ReadReady + Unpin,
{
    let Start {
        shard,
        fe,
        info,
        early,
    } = crate::proxy::conn::unbox(start);
    let ctx = Ctx::new(shard, fe, info);
    let fe = &ctx.fe;
    let fe_px = ctx.fe_px();
    let mut held = Held(None);
    held.get(&ctx).inb.extend(&early);
    // (Freed now, not when the connection ends: after a TLS handshake it holds the bytes that
    // came with it.)
    drop(early);
    // (A flag, not a count; the head timeouts read where used, not kept in locals: whatever
    // the loop keeps is held across every idle wait.)
    let mut first = true;

    loop {
        // ---------------- WaitRequest
        let began = (SystemTime::now(), Instant::now());
        // The first request has 'timeout http-request' from the accept; later ones wait up
        // to 'timeout http-keep-alive' for their first byte, then 'http-request'.
        let pending = !held.get(&ctx).inb.is_empty();
        let mut head_deadline = if first || pending {
            deadline(t_http_request(fe_px))
        } else {
            deadline(t_keep_alive(fe_px))
        };
        let mut started = first || pending;
        let head_len = loop {
            let b = held.get(&ctx);
            if !b.inb.is_empty() {
                if first && upgrade && b.inb.bytes().starts_with(H2_PREFACE) {
                    let bytes = b.inb.bytes().to_vec();
                    drop(held);
                    let (shard, fe, info) = ctx.into_parts();
                    return Some(Box::new(Upgrade {
                        shard,
                        fe,
                        info,
                        bytes,
                    }));
                }
                match parse_request(b.inb.bytes(), &ctx.limits, &mut b.req) {
                    Ok(Parsed::Complete { head_len }) => break head_len,
                    Ok(Parsed::Incomplete) => {}
                    Err(e) => {
                        fe.errors
                            .record(ctx.info.src, e, b.inb.bytes(), ctx.bufsize());
                        log::debug!("{}: {}: bad request: {e}", fe.name, ctx.info.src);
                        // HAProxy 2.6's H1 mux (`h1_handle_bad_req`): one more request
                        // and one more HTTP error on what the connection tracks.
                        let none = crate::stick::Trackers::new();
                        let session = ctx.info.trackers.as_deref();
                        if let Some(c) = ctx.shard.shared.stick.ctx_session(&none, session) {
                            c.count_http_request();
                            c.count_http_error();
                        }
                        let e = ProxyError::bad_request(e.status());
                        Box::pin(fail(&ctx, &mut client, b, began, e, false)).await;
                        return None;
                    }
                }
            }
            let read = if b.inb.is_drained() {
                // Nothing here yet: the connection waits holding no request state and no
                // buffer (an idle keep-alive connection, or a new one before its first
                // byte), and takes them when readiness says bytes arrived.
                held.park();
                // Idle, a soft stop may close it (the shard's drain sweeps idle
                // connections), unless `option idle-close-on-response` keeps it for one
                // more answer.
                // (Nothing of this is held across the wait: the future stays small.)
                if !fe_px.options.idle_close_on_response {
                    ctx.shard.sessions.set_idle(ctx.info.sess, true);
                }
                let ready = readable(&mut client, head_deadline).await;
                if !fe_px.options.idle_close_on_response {
                    ctx.shard.sessions.set_idle(ctx.info.sess, false);
                }
                match ready {
                    Ok(()) => {
                        let b = held.get(&ctx);
                        b.inb.read_from(&mut client, head_deadline).await
                    }
                    Err(e) => Err(e),
                }
            } else {
                b.inb.read_from(&mut client, head_deadline).await
            };
            let e = match read {
                Ok(0) => ProxyError::client_closed_request(),
                Ok(_) => {
                    if !started {
                        started = true;
                        head_deadline = deadline(t_http_request(fe_px));
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => ProxyError::request_timeout(),
                Err(_) => return None,
            };
            // An idle keep-alive connection closes quietly. A started request that ends
            // (the client closed, or the head did not come in time) is answered, logged
            // and counted as HAProxy does (400 `CR`, 408 `cR`), also on a new connection
            // that sent nothing, unless `option http-ignore-probes`; such an empty one
            // is a null connection for `option dontlognull`.
            if !started {
                return None;
            }
            let b = held.get(&ctx);
            let null = first && b.inb.is_empty();
            if null && fe_px.options.http_ignore_probes {
                return None;
            }
            Box::pin(fail(&ctx, &mut client, b, began, e, null)).await;
            return None;
        };
        let was_first = std::mem::replace(&mut first, false);
        let b = held.get(&ctx);
        // Boxed, so that the exchange's state exists only while a request runs and the
        // wait above stays small: one allocation per request, from this thread's heap. The
        // box is made first and the future built in it (`Box::pin(exchange(…))` built it
        // on the stack and copied all its bytes, ≈2.7 KiB, per request).
        let next = Box::into_pin(Box::write(
            Box::new_uninit(),
            exchange(&ctx, began, head_len, b, &mut client, was_first),
        ))
        .await;
        if next == Next::Close {
            return None;
        }
    }
}

/// One request of an HTTP/1 connection, its head parsed: the future the connection boxes.
/// Its whole size is copied into the box per request: keep it small (the phases' large
/// and rare states are boxed or kept out of their futures; see `sizes` below).
async fn exchange<C: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    began: (SystemTime, Instant),
    head_len: usize,
    b: &mut Bufs,
    client: &mut C,
    first: bool,
) -> Next {
    let txn = {
        let mut txn = Txn::since(began);
        txn.head_received();
        txn
    };
    let mut ex = Exchange::start(ctx, txn, head_len, b, client, first).await;
    ex.run(b, client).await
}

/// Whether an exchange that got no answer counts as an HTTP failure of the tracked entries,
/// as HAProxy 2.6's `http_wait_for_response` counts them: an invalid answer, `timeout
/// server` before the answer, the server gone before it (but on a keep-alive request, which
/// HAProxy closes without a word). Failed connects and full queues (503) do not count.
fn fails_on_server(e: &ProxyError, not_first: bool) -> bool {
    match e.kind {
        Kind::JunkResponse | Kind::ResponseTimeout => true,
        Kind::EmptyResponse => !not_first,
        _ => false,
    }
}

/// A request that failed before its exchange (a bad, late or abandoned head): its error answer and
/// log line. Boxed by the caller: rare, and larger than the wait it would weigh on.
async fn fail<C: AsyncWrite + Unpin>(
    ctx: &Ctx,
    client: &mut C,
    b: &mut Bufs,
    began: (SystemTime, Instant),
    e: ProxyError,
    null: bool,
) {
    let mut txn = Txn::since(began);
    txn.null = null;
    ctx.fail(client, &mut b.out, &mut txn, None, &e, None, None)
        .await;
    // (No exchange: only what the connection tracks.)
    txn.count_stick_bytes(ctx, &crate::stick::Trackers::new());
}

/// The target as corelb's own answers match it (`monitor-uri`, the stats page, `redir`): an
/// HTTP/2 stream's absolute target (HAProxy's "normalized" URI) by its path and query, as
/// HAProxy does; an HTTP/1 one as sent.
fn local_target<'b>(ctx: &Ctx, req: &RequestHead, buf: &'b [u8]) -> &'b [u8] {
    match req.origin(buf) {
        o if ctx.info.h2 && o.is_empty() => b"/",
        o if ctx.info.h2 => o,
        _ => req.target(buf),
    }
}

/// `silent-drop` (`silent`) and `http-request reject`: the client's connection closes with a
/// reset, for `silent-drop` one that is not meant to reach it; the request is logged (`PR`)
/// and counted as denied.
fn drop_client(ctx: &Ctx, txn: &mut Txn, vars: &crate::acl::VarSet, silent: bool) -> Analyzed {
    if silent {
        crate::sys::silent_drop_raw(ctx.info.fd);
    } else {
        crate::sys::reset_raw(ctx.info.fd);
    }
    (txn.term, txn.denied) = (Term::new(Cause::Proxy, Phase::Request), true);
    log_txn(&ctx.shard, &ctx.fe, &ctx.info, txn, ctx.vars(vars));
    Analyzed::Done
}

/// The applet [`intercept`] stands for, by HAProxy's name.
fn applet_name(flags: &rules::Flags) -> &'static str {
    if flags.prometheus {
        "<PROMEX>"
    } else {
        "<STATS>"
    }
}

/// corelb answered in place of HAProxy's applet `name` (from `t0`): the log names it as the
/// server and shows no wait in a queue or for a connection, as HAProxy's applets do.
fn applet_answered(txn: &mut Txn, name: &'static str, t0: Instant) {
    txn.applet = Some(name);
    txn.t_queue = Some(Duration::ZERO);
    txn.t_connect = Some(Duration::ZERO);
    txn.t_response = Some(t0.elapsed());
}

/// corelb's own answers: `use-service prometheus-exporter`, and the stats page of proxy
/// `px` (`stats enable`), rendered for this request only; with the time its work began
/// (the clock is read only for a request it answers).
#[allow(clippy::too_many_arguments)]
fn intercept(
    ctx: &Ctx,
    px: usize,
    req: &RequestHead,
    buf: &[u8],
    head_len: usize,
    base: &RequestSample,
    flags: &rules::Flags,
    close: bool,
) -> Option<(u16, Vec<u8>, Instant)> {
    use crate::stats::page;
    let shard = &*ctx.shard;
    let shared = &shard.shared;
    let target = local_target(ctx, req, buf);
    if flags.prometheus {
        let t0 = Instant::now();
        return Some((200, page::prometheus(shared, target, close), t0));
    }
    let p = &shared.cfg.proxies[px];
    if !page::is_page(&p.stats, target) {
        return None;
    }
    let t0 = Instant::now();
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
    Some((r.status, r.bytes, t0))
}

/// Every transaction ends in [`log_txn`]: what it adds to the stats counters.
fn count_txn(shard: &ShardCtx, fe: &FrontendRt, bind: usize, txn: &Txn, now: Instant) {
    let e = crate::stats::StreamEnd {
        status: txn.status,
        http: true,
        srv_status: txn.srv_status,
        denied_resp: txn.denied_resp,
        failed_rewrites: txn.failed_rewrites,
        internal_error: txn.internal_error,
        bytes_in: txn.bytes_in,
        bytes_out: txn.bytes_out,
        term: txn.term,
        retries: txn.retries,
        redispatched_from: txn.redispatched_from,
        denied: txn.denied,
        intercepted: txn.intercepted,
        listener: bind,
        reused: txn.reused,
        t_queue: txn.t_queue,
        queued_with: 0,
        t_connect: txn.t_connect,
        t_response: txn.t_response,
        t_total: now.saturating_duration_since(txn.start),
        ticked: txn.ticked,
    };
    let counters = shard.counters();
    counters.stream_done(fe.proxy, txn.backend.as_deref(), txn.server, e, now);
}

/// The request line as the log shows it.
fn request_line(ctx: &Ctx, req: &RequestHead, buf: &[u8]) -> String {
    if ctx.info.h2 {
        // The head was rebuilt from HTTP/2 fields: log the version it came in.
        let line = req.request_line().get(buf);
        let line = line.strip_suffix(b"HTTP/1.1").unwrap_or(line);
        format!("{}HTTP/2.0", String::from_utf8_lossy(line))
    } else {
        String::from_utf8_lossy(req.request_line().get(buf)).into_owned()
    }
}

fn bytes_say_close(b: &[u8]) -> bool {
    let head_end = memchr::memmem::find(b, b"\r\n\r\n").unwrap_or(b.len());
    memchr::memmem::find(&b[..head_end], b"Connection: close").is_some()
}

/// `option http-buffer-request`: reads until the request's body is whole in `b.inb`, the
/// buffer is full, the client stops or `timeout http-request` (else `client`) passes.
/// Returns what of the buffer the frontend's rules see: all when the frontend has the
/// option, else what was there before (the backend's option waits after them in HAProxy).
async fn wait_body<C: AsyncRead + Unpin>(
    ctx: &Ctx,
    head_len: usize,
    b: &mut Bufs,
    client: &mut C,
) -> usize {
    let fe_px = ctx.fe_px();
    let view = match fe_px.options.http_buffer_request {
        true => usize::MAX,
        false => b.inb.len(),
    };
    let until = deadline(fe_px.timeouts.http_request.or(fe_px.timeouts.client));
    while !body_here(&b.req, &b.inb.bytes()[head_len..], &ctx.limits)
        && b.inb.len() < b.inb.capacity()
    {
        match b.inb.read_from(client, until).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    view
}

/// Part `i` of a proxy's `http-request` rules and what of the buffer they see (`None`: as
/// the proxy's rules do): 0, those before the `wait-for-body` rule that waited, on the buffer
/// as it was then; 1, the rest (all of them when no rule of this proxy waited).
fn rules_part(
    waited_at: Option<WaitedAt>,
    px: usize,
    rules: &[crate::config::HttpRule],
    i: usize,
) -> (&[crate::config::HttpRule], Option<usize>) {
    match waited_at {
        Some(w) if w.proxy as usize == px => {
            let (pre, post) = rules.split_at((w.rule as usize).min(rules.len()));
            match i {
                0 => (pre, Some(w.before as usize)),
                _ => (post, None),
            }
        }
        _ if i == 0 => (&[], None),
        _ => (rules, None),
    }
}

/// Where an `http-request wait-for-body` rule waited: the proxy and the rule's index in its
/// `http-request` rules, and how much of the buffer was here before (what the rules before
/// it see, as in HAProxy, where they ran before the wait).
#[derive(Clone, Copy)]
struct WaitedAt {
    proxy: u32,
    rule: u32,
    before: u32,
    /// T passed before the body came: the answer is HAProxy's 408.
    late: bool,
}

/// `http-request wait-for-body time T [at-least N]`: the first such rule whose condition
/// holds on the request as received, among the frontend's rules, then those of the backend
/// the request goes to as received (HAProxy meets the backend's after the frontend's rules,
/// which may change the choice: corelb chooses on the request before them). With one, an
/// HTTP/1.1 `Expect: 100-continue` is answered (HAProxy's `http_handle_expect_hdr`) and the
/// body read until it is whole, N bytes of it are here (raw bytes: a chunked body's framing
/// counts), the buffer is full or the client stops. Returns what the frontend's rules see of
/// the buffer (less than all when only the backend waited, as HAProxy's frontend rules run
/// before it) and where it waited, and whether T passed first there (HAProxy answers 408).
async fn wait_req_body<C: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    head_len: usize,
    b: &mut Bufs,
    client: &mut C,
    fe_view: usize,
) -> (usize, Option<WaitedAt>) {
    let cfg = &ctx.cfg;
    let shared = &ctx.shard.shared;
    let fe_px = ctx.fe_px();
    let found = {
        let nbsrv = |i: usize| shared.usable_servers(i);
        let vars = crate::acl::VarSet::default();
        let base = RequestSample {
            head: Some((&b.req, b.inb.bytes())),
            conn: &ctx.acl_conn,
            nbsrv: &nbsrv,
            stopping: shared.control.soft_stopping(),
            stick: None,
            txn: Some(&vars),
            addrs: None,
            strm: None,
        };
        let fe_wait = (fe_px.waits_for_req_body)
            .then(|| rules::wait_for_request_body(&fe_px.http_request, &fe_px.acls, &base))
            .flatten();
        match fe_wait {
            Some(w) => Some((ctx.fe.proxy, w)),
            None => crate::proxy::switching::choose(cfg, ctx.fe.proxy, &base, &mut b.scratch)
                .filter(|&i| i != ctx.fe.proxy && cfg.proxies[i].waits_for_req_body)
                .and_then(|i| {
                    let px = &cfg.proxies[i];
                    let w = rules::wait_for_request_body(&px.http_request, &px.acls, &base)?;
                    Some((i, w))
                }),
        }
    };
    let Some((proxy, (rule, time, at_least))) = found else {
        return (fe_view, None);
    };
    let before = b.inb.len().min(fe_view);
    let at = |late| {
        let (proxy, rule, before) = (proxy as u32, rule as u32, before as u32);
        Some(WaitedAt {
            proxy,
            rule,
            before,
            late,
        })
    };
    let fe_view = if proxy == ctx.fe.proxy {
        usize::MAX
    } else {
        before
    };
    let until = Instant::now() + time;
    if b.req.expects_continue() && !ctx.info.h2 {
        if write_all(client, crate::h1::CONTINUE_100, Some(until))
            .await
            .is_err()
        {
            return (fe_view, at(false));
        }
        b.req.continue_answered(b.inb.bytes());
    }
    loop {
        let body = &b.inb.bytes()[head_len..];
        if body_here(&b.req, body, &ctx.limits)
            || (at_least > 0 && body.len() as u64 >= at_least)
            || b.inb.len() >= b.inb.capacity()
        {
            return (fe_view, at(false));
        }
        match b.inb.read_from(client, Some(until)).await {
            Ok(0) => return (fe_view, at(false)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return (fe_view, at(true)),
            // What follows meets the error again.
            Err(_) => return (fe_view, at(false)),
        }
    }
}

/// `http-response wait-for-body`: what to wait for after a response head.
struct WaitBody {
    kind: BodyKind,
    head_len: usize,
    time: Duration,
    /// 0: the whole body.
    at_least: u64,
}

impl WaitBody {
    /// Reads into `rbuf` until the body is whole, `at_least` bytes of it are here (raw
    /// bytes: a chunked body's framing counts), the buffer is full or the server closes
    /// (what is here is then all there is): true. False when `time` passed first.
    async fn run(&self, rbuf: &mut InBuf, server: &mut ServerIo, limits: &HeadLimits) -> bool {
        let until = Instant::now() + self.time;
        loop {
            let body = &rbuf.bytes()[self.head_len.min(rbuf.len())..];
            let whole = match self.kind {
                BodyKind::ContentLength(n) => body.len() as u64 >= n,
                BodyKind::Chunked => {
                    !matches!(ChunkedScanner::new(limits).advance(body), Ok(a) if !a.done)
                }
                BodyKind::CloseDelimited => false,
                BodyKind::None | BodyKind::Tunnel => true,
            };
            if whole
                || (self.at_least > 0 && body.len() as u64 >= self.at_least)
                || rbuf.len() >= rbuf.capacity()
            {
                return true;
            }
            match rbuf.read_from(server, Some(until)).await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return false,
                // The forwarding that follows meets the error again and logs it.
                Err(_) => return true,
            }
        }
    }
}

/// Whether the whole body of `req` is in `body` (what follows its head in the buffer); an
/// invalid chunked body counts as here (its parse answers 400).
fn body_here(req: &RequestHead, body: &[u8], limits: &HeadLimits) -> bool {
    match req.body_kind() {
        BodyKind::ContentLength(n) => body.len() as u64 >= n,
        BodyKind::Chunked => !matches!(ChunkedScanner::new(limits).advance(body), Ok(a) if !a.done),
        _ => true,
    }
}

/// `option abortonclose`: `wait` (a queue, a connect) unless the client closes first
/// (`None`). What the client sends meanwhile (its body, its next request) stays in `inb`
/// for later, as it would have stayed in the socket. An HTTP/2 stream's end is the end of
/// its request, not a close: only its reset (a read error) is.
async fn unless_closed<T, C: AsyncRead + Unpin>(
    client: &mut C,
    inb: &mut InBuf,
    h2: bool,
    wait: impl std::future::Future<Output = T>,
) -> Option<T> {
    let closed = async {
        // With the buffer full, nothing more is read: a close is not seen (HAProxy's
        // request channel is full too).
        while inb.len() < inb.capacity() {
            match inb.read_from(client, None::<Instant>).await {
                Ok(0) if !h2 => return None,
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        std::future::pending().await
    };
    futures_lite::future::or(async { Some(wait.await) }, closed).await
}

/// The client closed while its request waited for a server (`option abortonclose`): `CQ`
/// in a queue (`since` its start), `CC` while connecting. Nothing is answered.
fn aborted_waiting(txn: &mut Txn, phase: Phase, since: Instant) -> ProxyError {
    if phase == Phase::Queue {
        txn.t_queue = Some(since.elapsed());
    }
    ProxyError::client_abort_waiting(phase)
}

/// Picks a server, waiting in the backend's queue (at rank `prio`) while every server is
/// full.
async fn pick<'a>(
    be: &'a BackendRt,
    ctx: &PickCtx,
    txn: &mut Txn,
    prio: Priority,
) -> Option<SrvSlot<'a>> {
    let srv = match be.lb.pick(ctx) {
        Pick::Server(s) => s,
        Pick::NoServer => return None,
        Pick::Full => {
            let since = Instant::now();
            let got = be
                .queue
                .wait_for_turn(prio, be.queue_timeout.map(|t| since + t), || {
                    match be.lb.pick(ctx) {
                        Pick::Full => None,
                        other => Some(other),
                    }
                })
                .await;
            txn.t_queue = Some(since.elapsed());
            match got {
                Some(Pick::Server(s)) => s,
                _ => return None,
            }
        }
    };
    Some(SrvSlot { be, srv })
}

/// A slot on the server persistence chose, waiting in that server's own queue while it is
/// full, as HAProxy does. `None`: balance instead (the queue is full, `maxqueue`, and
/// `option redispatch` lets the request go elsewhere; or the server stopped being usable
/// while the request waited).
async fn direct_slot<'a>(
    be: &'a BackendRt,
    srv: usize,
    txn: &mut Txn,
    prio: Priority,
) -> Result<Option<SrvSlot<'a>>, ProxyError> {
    let s = &be.lb.servers[srv];
    if s.try_acquire() {
        return Ok(Some(SrvSlot { be, srv }));
    }
    if !s.queue_has_room() {
        return match be.redispatch {
            Some(_) => Ok(None),
            None => Err(ProxyError::server_queue(false)),
        };
    }
    let since = Instant::now();
    let got = s
        .queue
        .wait_for_turn(prio, be.queue_timeout.map(|t| since + t), || {
            if !s.usable() {
                return Some(false);
            }
            s.try_acquire().then_some(true)
        })
        .await;
    txn.t_queue = Some(since.elapsed());
    match got {
        Some(true) => Ok(Some(SrvSlot { be, srv })),
        Some(false) => Ok(None),
        None => Err(ProxyError::server_queue(true)),
    }
}

/// The retries of one request's connect loop.
#[derive(Default)]
struct Retry<'a> {
    /// Retries made (the log's count).
    made: u32,
    /// The same server next (its slot still held), as the retry rule decided.
    again: Option<SrvSlot<'a>>,
    /// The server a redispatch moves away from.
    avoid: Option<usize>,
    /// The server came from the persistence cookie (kept while retrying on it).
    persistent: bool,
}

impl<'a> Retry<'a> {
    /// After a failed attempt on `slot`'s server: whether to try again, where the one retry
    /// rule says (after its turn-around delay). On false the slot is given back.
    async fn after(&mut self, slot: SrvSlot<'a>, failure: Failure, txn: &mut Txn) -> bool {
        self.after_keep(slot, failure, txn).await.is_ok()
    }

    /// After `e` on `slot`'s server, as `again` (from [`ProxyError::again`]) allows: whether
    /// the request goes again — from the start, not counted as a retry, or where the retry
    /// rule says when `retry-on` (bits `retry_on`) covers the error. On false the slot is
    /// given back.
    async fn after_error(
        &mut self,
        slot: SrvSlot<'a>,
        e: &ProxyError,
        again: Again,
        retry_on: u32,
        txn: &mut Txn,
    ) -> bool {
        match again {
            Again::Fresh => {
                drop(slot);
                true
            }
            Again::Rule if e.retry_on(retry_on) => self.after(slot, e.failure(), txn).await,
            Again::Rule | Again::No => false,
        }
    }

    /// [`Retry::after`], handing the slot back when there is no retry (its answer is
    /// forwarded after all).
    async fn after_keep(
        &mut self,
        slot: SrvSlot<'a>,
        failure: Failure,
        txn: &mut Txn,
    ) -> Result<(), SrvSlot<'a>> {
        let (be, srv) = (slot.be, slot.srv);
        let Some(to) = retry_after_failure(be, srv, self.made, failure, self.persistent).await
        else {
            return Err(slot);
        };
        self.made += 1;
        txn.retries = self.made;
        match to {
            RetryTo::Same => self.again = Some(slot),
            RetryTo::Another => {
                // retry_after_failure gave the slot back before its delay.
                slot.disarm();
                self.avoid = Some(srv);
                txn.redispatched_from = Some(srv);
            }
        }
        Ok(())
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
    s: &dyn crate::acl::Sample,
) -> std::borrow::Cow<'a, [u8]> {
    rules::custom_page(status, fe, be, s).unwrap_or(std::borrow::Cow::Borrowed(builtin))
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
    limits: &HeadLimits,
    method: Method,
    fe_px: &Proxy,
    t_server: Option<Duration>,
) -> Result<(), ProxyError> {
    let t_client = fe_px.timeouts.client;
    inb.consume(head_len);
    if expect && kind.has_body() {
        // Wait for the server's verdict before the client sends the body.
        loop {
            if !rbuf.is_empty() {
                match parse_response(rbuf.bytes(), limits, res) {
                    Ok(Parsed::Complete { head_len: hl }) => {
                        if res.status() == 100 {
                            let r = write_all(client, &rbuf.bytes()[..hl], within(t_client)).await;
                            rbuf.consume(hl);
                            r.map_err(|_| ProxyError::client_abort())?;
                            break;
                        }
                        // A final answer (417, 401, 413…): no body will be sent.
                        let _ = method;
                        return Ok(());
                    }
                    Ok(Parsed::Incomplete) => {}
                    Err(e) => {
                        log::debug!("invalid response: {e}");
                        return Err(ProxyError::junk_response());
                    }
                }
            }
            match rbuf.read_from(server, within(t_server)).await {
                Ok(0) => return Err(ProxyError::empty_response()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(ProxyError::response_timeout());
                }
                Err(_) => return Err(ProxyError::empty_response()),
            }
        }
    }
    match kind {
        BodyKind::ContentLength(n) => {
            let mut left = n;
            while left > 0 {
                if inb.is_empty() {
                    match inb.read_from(client, within(t_client)).await {
                        Ok(0) | Err(_) => return Err(ProxyError::client_abort()),
                        Ok(_) => {}
                    }
                }
                let k = (inb.len() as u64).min(left) as usize;
                write_all(server, &inb.bytes()[..k], within(t_server))
                    .await
                    .map_err(ProxyError::send)?;
                inb.consume(k);
                left -= k as u64;
            }
        }
        BodyKind::Chunked => loop {
            if inb.is_empty() {
                match inb.read_from(client, within(t_client)).await {
                    Ok(0) | Err(_) => return Err(ProxyError::client_abort()),
                    Ok(_) => {}
                }
            }
            let adv = scanner
                .advance(inb.bytes())
                .map_err(|_| ProxyError::client_abort())?;
            write_all(server, &inb.bytes()[..adv.consumed], within(t_server))
                .await
                .map_err(ProxyError::send)?;
            inb.consume(adv.consumed);
            if adv.done {
                break;
            }
        },
        _ => {}
    }
    Ok(())
}

/// The data of the chunked body in `body` (what of it is here), and one byte if it ended:
/// what HAProxy's stick counters count of it (its HTX data and end-of-trailers blocks).
fn chunked_data(body: &[u8], limits: &HeadLimits) -> u64 {
    let mut scanner = ChunkedScanner::new(limits);
    let _ = scanner.advance(body);
    scanner.data_len() + u64::from(scanner.is_done())
}

/// Reads the final response head into `rbuf`/`res`, forwarding interim responses (100,
/// 103…) to the client as they come.
async fn read_response_head<C: AsyncWrite + Unpin>(
    client: &mut C,
    server: &mut ServerIo,
    rbuf: &mut InBuf,
    res: &mut ResponseHead,
    limits: &HeadLimits,
    t_server: Option<Duration>,
    t_client: Option<Duration>,
) -> Result<(), ProxyError> {
    let dl = deadline(t_server);
    let mut got_any = !rbuf.is_empty();
    loop {
        if !rbuf.is_empty() {
            match parse_response(rbuf.bytes(), limits, res) {
                Ok(Parsed::Complete { head_len }) => {
                    if res.is_interim() {
                        let r =
                            write_all(client, &rbuf.bytes()[..head_len], within(t_client)).await;
                        rbuf.consume(head_len);
                        r.map_err(|_| ProxyError::client_abort())?;
                        continue;
                    }
                    return Ok(());
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => {
                    log::debug!("invalid response: {e}");
                    return Err(ProxyError::junk_response());
                }
            }
        }
        match rbuf.read_from(server, dl).await {
            Ok(0) => {
                return Err(if got_any {
                    ProxyError::junk_response()
                } else {
                    ProxyError::empty_response()
                });
            }
            Ok(_) => got_any = true,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ProxyError::response_timeout());
            }
            Err(_) if !got_any => return Err(ProxyError::empty_response()),
            Err(_) => return Err(ProxyError::junk_response()),
        }
    }
}

struct Forwarded {
    bytes: u64,
    /// The body's data as HAProxy counts it (a chunked body's without its framing, and
    /// one byte for its end).
    body: u64,
    /// The whole body went through (the server connection may be reused).
    complete: bool,
    /// Set when the transfer broke: the log's termination state.
    term: Option<Term>,
    /// The server's body was invalid (a bad chunk).
    invalid: bool,
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
    limits: &HeadLimits,
    t_server: Option<Duration>,
    t_client: Option<Duration>,
    filt: &mut super::filters::BodyFilters,
) -> Forwarded {
    let mut f = Forwarded {
        bytes: 0,
        body: 0,
        complete: false,
        term: None,
        invalid: false,
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
            BodyKind::Chunked if filt.active() => {
                match scanner.advance_with(rbuf.bytes(), |r| filt.data(&rbuf.bytes()[r])) {
                    Ok(a) => a.consumed,
                    Err(_) => {
                        f.term = Some(Term::new(Cause::Server, Phase::Data));
                        f.invalid = true;
                        return f;
                    }
                }
            }
            BodyKind::Chunked => match scanner.advance(rbuf.bytes()) {
                Ok(a) => a.consumed,
                Err(_) => {
                    f.term = Some(Term::new(Cause::Server, Phase::Data));
                    f.invalid = true;
                    return f;
                }
            },
            BodyKind::CloseDelimited => rbuf.len(),
        };
        // (What came from the server, before compression, as HAProxy counts it.)
        f.body = match kind {
            BodyKind::Chunked => scanner.data_len() + u64::from(scanner.is_done()),
            _ => f.body + take as u64,
        };
        if first || take > 0 {
            if kind != BodyKind::Chunked && filt.active() {
                filt.data(&rbuf.bytes()[..take]);
            }
            match filt.comp.as_mut() {
                // Compressed: the body's data (de-chunked above) goes out as chunks of its own.
                Some(e) => {
                    let last = match kind {
                        BodyKind::ContentLength(_) => left == Some(take as u64),
                        _ => scanner.is_done(),
                    };
                    e.flush_into(out, last);
                }
                None => out.extend_from_slice(&rbuf.bytes()[..take]),
            }
            if write_all(client, out, within(t_client)).await.is_err() {
                f.term = Some(Term::new(Cause::Client, Phase::Data));
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
        match rbuf.read_from(server, within(t_server)).await {
            Ok(0) => {
                if kind == BodyKind::CloseDelimited {
                    f.complete = false; // the server closed: done, but not reusable
                    return f;
                }
                f.term = Some(Term::new(Cause::Server, Phase::Data));
                return f;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                f.term = Some(Term::new(Cause::ServerTimeout, Phase::Data));
                return f;
            }
            Err(_) => {
                f.term = Some(Term::new(Cause::Server, Phase::Data));
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
        write_all(server, first_to_server, within(timeout)).await?;
    }
    crate::net::copy::bidirectional(client, server, timeout).await
}

fn logging(shard: &ShardCtx, fe: &FrontendRt) -> bool {
    crate::proxy::accesslog::wanted(shard, fe)
}

/// Counts the transaction and logs it (`option httplog`, `log-format`).
fn log_txn(
    shard: &ShardCtx,
    fe: &FrontendRt,
    info: &ClientInfo,
    txn: &Txn,
    vars: crate::acl::Vars<'_>,
) {
    log_txn_at(shard, fe, info, txn, vars, Instant::now())
}

/// [`log_txn`] with the caller's clock reading: the transaction ends at `now`.
fn log_txn_at(
    shard: &ShardCtx,
    fe: &FrontendRt,
    info: &ClientInfo,
    txn: &Txn,
    vars: crate::acl::Vars<'_>,
    now: Instant,
) {
    txn.logged.set(true);
    count_txn(shard, fe, info.bind, txn, now);
    if txn.monitor || txn.logged_asap || !logging(shard, fe) {
        return;
    }
    let mut s = txn_stream(info, txn, vars, now);
    // Not made yet (the request got no further than the rules): made for the log, as
    // HAProxy's strm_log does.
    let made = match &txn.unique_id {
        Some(_) => None,
        None => crate::proxy::accesslog::unique_id(shard, fe, &s, None),
    };
    s.unique_id = txn.unique_id.as_deref().or(made.as_deref());
    crate::proxy::accesslog::log(shard, fe, &s, txn.null);
}

/// `option logasap`'s line, written as the answer's head goes to the client, `bytes` long:
/// the transaction is counted when it ends, and logged no more.
fn log_asap(
    shard: &ShardCtx,
    fe: &FrontendRt,
    info: &ClientInfo,
    txn: &mut Txn,
    vars: crate::acl::Vars<'_>,
    bytes: u64,
) {
    if txn.monitor || !logging(shard, fe) {
        return;
    }
    // (Its total is set below: no clock reading for it.)
    let mut s = txn_stream(info, txn, vars, txn.start);
    s.bytes_out = bytes;
    // The total is the time to the answer's head (HAProxy's t_close = t_data): `%Td` 0.
    let parts = [txn.t_request, txn.t_queue, txn.t_connect, txn.t_response];
    s.t_total = parts.iter().flatten().sum();
    let made = match &txn.unique_id {
        Some(_) => None,
        None => crate::proxy::accesslog::unique_id(shard, fe, &s, None),
    };
    s.unique_id = txn.unique_id.as_deref().or(made.as_deref());
    crate::proxy::accesslog::log(shard, fe, &s, false);
    txn.logged_asap = true;
}

/// What the access log (and `unique-id-format`) know of a transaction, at `now`.
fn txn_stream<'a>(
    info: &'a ClientInfo,
    txn: &'a Txn,
    vars: crate::acl::Vars<'a>,
    now: Instant,
) -> crate::proxy::accesslog::Stream<'a> {
    // However the request ended, its `req.` variables are gone for the log, and a rule
    // that answered is the last rule.
    if let Some(t) = vars.txn {
        t.end_request();
        t.settle_last_rule();
    }
    crate::proxy::accesslog::Stream {
        http: true,
        log_level: txn.log_level,
        src: txn.addrs().src_or(info.src),
        dst: Some(txn.addrs().dst_or(info.dst)),
        tls: info.tls.as_ref().map(TlsInfo::log),
        date: txn.date,
        t_total: now.saturating_duration_since(txn.start),
        t_request: txn.t_request,
        t_queue: txn.t_queue,
        t_connect: txn.t_connect,
        t_response: txn.t_response,
        status: txn.status,
        embryonic: false,
        bytes_in: txn.bytes_in,
        bytes_out: txn.bytes_out,
        term: txn.term,
        cookie: txn.cookie,
        backend: txn.backend.as_deref(),
        server: txn.server,
        applet: txn.applet,
        retries: txn.retries,
        redispatched: txn.redispatched_from.is_some(),
        captures: Some(&txn.captures),
        request_line: txn.request_line.as_bytes(),
        vars,
        unique_id: txn.unique_id.as_deref(),
        conn_err: None,
        bind: info.bind,
        first_req: !txn.not_first,
    }
}

#[cfg(test)]
#[path = "session_sizes.rs"]
pub(crate) mod sizes;

#[cfg(test)]
mod bufs_tests {
    use super::*;

    fn bufs(size: usize) -> Bufs {
        let limits = HeadLimits::default();
        let mut b = Bufs {
            inb: InBuf::new(size),
            rbuf: InBuf::new(size),
            out: Vec::with_capacity(512),
            sout: Vec::with_capacity(512),
            req: RequestHead::with_capacity(&limits),
            res: ResponseHead::with_capacity(&limits),
            scratch: Vec::new(),
            h2_res: ResponseHead::new(),
            private: None,
        };
        b.inb.extend(b"GET / HTTP/1.1\r\n\r\n");
        b.rbuf.extend(b"HTTP/1.1 200 OK\r\n\r\n");
        b
    }

    /// An HTTP/2 connection keeps its finished streams' states while it waits (up to its
    /// stream limit): `reset` must give their buffers back to the shard, or an idle h2
    /// connection holds 32 KiB per stream it once ran.
    #[test]
    fn a_reset_state_holds_no_buffer_and_a_cleared_one_keeps_them() {
        let size = 4096 + 7; // a size no other test uses: its spare count is ours
        let before = crate::net::buffers::spare(size);
        let mut b = bufs(size);
        b.reset();
        assert_eq!(crate::net::buffers::spare(size), before + 2);
        assert!(b.inb.is_empty() && b.out.capacity() == 0 && b.sout.capacity() == 0);
        let mut b = bufs(size);
        let taken = crate::net::buffers::spare(size);
        b.clear();
        assert_eq!(
            crate::net::buffers::spare(size),
            taken,
            "kept, not given back"
        );
        assert!(b.inb.is_empty() && b.out.is_empty() && b.out.capacity() == 512);
    }
}
