//! HTTP/2 to servers: `server … proto h2` (h2c with prior knowledge, or h2 over `ssl`
//! whatever ALPN says) and `server … ssl alpn h2` (h2 when the server picks it: gRPC
//! backends).
//!
//! A request goes to such a server as a stream on a connection the shard shares between its
//! requests to that server, as HAProxy's `http-reuse` does: a connection with streams running
//! takes another while the server's SETTINGS_MAX_CONCURRENT_STREAMS allows (whatever
//! `http-reuse` says, `never` aside); an idle one is taken as an idle HTTP/1 connection would
//! be (`safe`: not by the first request of a client connection). The h2 crate's client runs
//! the connection; it spawns nothing, so each connection has a task of its own on the shard
//! ([`spawn_driver`]) that polls it until the server closes it or it has been idle for
//! `PURGE_DELAY`. The pool ([`POOL`], per shard thread: no lock) keeps each connection's
//! `SendRequest` handle and its counters.
//!
//! The exchange sees its stream as [`Upstream`], an HTTP/1.1 connection of its own (as
//! HAProxy turns every version into HTX): it writes the request head and body it would send
//! an HTTP/1 server, and reads an HTTP/1.1 response. So rules, retries, `timeout server`
//! (the exchange's deadlines), error pages, counters and the log line are HTTP/1's. The
//! request's head becomes HEADERS (Host becomes `:authority`, connection-specific fields go,
//! `te: trailers` is sent when the client sent it), its body DATA frames within the server's
//! flow-control window, its chunked trailer section a trailing HEADERS frame; the response
//! comes back as an HTTP/1.1 head with its length, or chunked, its trailers (gRPC's
//! `grpc-status`) in the chunked trailer section, 1xx responses as interim heads.
//!
//! A stream the server refuses unprocessed (RST_STREAM REFUSED_STREAM, or a GOAWAY below its
//! id) on a connection that served before is sent again on a fresh connection, not counted
//! as a retry, like a request a reused HTTP/1 connection closed on; a connection that
//! refused or failed takes no new stream.

use crate::cluster::BackendRt;
use crate::cluster::counters::MAX_IDLE;
use crate::config::{Config, H2Tune, Reuse};
use crate::h1::{BodyKind, HeadLimits, KnownHeader, Method, Parsed, RequestHead, parse_request};
use crate::net::error::ProxyError;
use crate::net::h2_body::{
    Dechunk, Framing, is_connection_specific, poll_recv_body, poll_send_body,
};
use crate::net::io::{Multiplexed, ServerIo, with_deadline};
use crate::net::pool::IdleLimit;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, future};
use glommio::sync::Semaphore;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream, SendStream};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio_util::compat::FuturesAsyncReadCompatExt;

/// What the pool and a connection's task know of one connection.
struct Live {
    /// Streams running on it.
    active: Cell<usize>,
    /// It served a stream already (an idle one is then `http-reuse safe`'s "safe" kind).
    used: Cell<bool>,
    /// The streams it carried (its server's `max-reuse` counts them).
    streams: Cell<u32>,
    /// Closed, failed or refusing: it takes no new stream.
    dead: Cell<bool>,
    /// When its last stream ended.
    idle_since: Cell<Instant>,
    /// The server's kill epoch when it was opened (`shutdown sessions server` moves it).
    epoch: u32,
    /// Its entry in the pool.
    key: (usize, usize),
    /// The server's `pool-max-conn` and `pool-purge-delay`.
    idle: IdleLimit,
    /// Signalled to close it now (idle beyond `pool-max-conn`).
    close: Semaphore,
    /// Its local and remote addresses (`bc_src`, `bc_dst`).
    addrs: Option<(SocketAddr, SocketAddr)>,
    /// What its TLS handshake told (`ssl_bc*`), when a configuration asks.
    tls: Option<crate::tls::ServerSession>,
}

impl Live {
    /// A connection just opened to `key`'s server, with no stream yet.
    fn new(
        key: (usize, usize),
        epoch: u32,
        idle: IdleLimit,
        addrs: Option<(SocketAddr, SocketAddr)>,
        tls: Option<crate::tls::ServerSession>,
    ) -> Rc<Live> {
        Rc::new(Live {
            addrs,
            tls,
            active: Cell::new(0),
            used: Cell::new(false),
            streams: Cell::new(0),
            dead: Cell::new(false),
            idle_since: Cell::new(Instant::now()),
            epoch,
            key,
            idle,
            close: Semaphore::new(0),
        })
    }

    /// It may carry another stream under its server's `max-reuse` (HAProxy's
    /// `h2_avail_streams`: at most `max-reuse` + 1 streams on one connection).
    fn may_take(&self) -> bool {
        self.idle.max_reuse.is_none_or(|m| self.streams.get() <= m)
    }

    /// Its last stream ended: it stays idle unless its server has as many idle connections
    /// as `pool-max-conn` allows already (or keeps none), as HAProxy does with an idle
    /// connection it may not keep; it is then closed.
    fn went_idle(&self) {
        self.idle_since.set(Instant::now());
        let idle = POOL
            .try_with(|p| {
                p.borrow().get(&self.key).map_or(0, |s| {
                    let idle = |c: &&Conn| c.live.active.get() == 0 && !c.live.dead.get();
                    s.conns.iter().filter(idle).count()
                })
            })
            .unwrap_or(0);
        // (Counted with itself.)
        if !self.idle.keeps() || idle > self.idle.max || !self.may_take() {
            self.dead.set(true);
            self.close.signal(1);
        }
    }
}

struct Conn {
    send: SendRequest<Bytes>,
    live: Rc<Live>,
}

/// One server's connections on this shard.
struct Server {
    /// The backend: its allocation, whose address is part of the key, stays while the
    /// entry does (so no later backend takes the key); gone, the entry goes when its
    /// connections have.
    be: Weak<BackendRt>,
    conns: Vec<Conn>,
    /// A connection being opened: requests that would share it wait on this (closed when
    /// the connect ends).
    connecting: Option<Rc<Semaphore>>,
    /// `alpn h2,http/1.1` and the server chose HTTP/1.1: its requests use the HTTP/1 pool.
    h1: bool,
}

/// Server `k`'s entry in the pool. A new entry first drops those of backends an earlier
/// generation left without a connection.
fn server<'p>(
    p: &'p mut HashMap<(usize, usize), Server>,
    k: (usize, usize),
    be: &Arc<BackendRt>,
) -> &'p mut Server {
    if !p.contains_key(&k) {
        p.retain(|_, s| s.be.strong_count() > 0 || s.conns.iter().any(|c| !c.live.dead.get()));
    }
    p.entry(k).or_insert_with(|| Server {
        be: Arc::downgrade(be),
        conns: Vec::new(),
        connecting: None,
        h1: false,
    })
}

thread_local! {
    /// The shard's HTTP/2 server connections, by (backend, server index).
    static POOL: RefCell<HashMap<(usize, usize), Server>> = RefCell::new(HashMap::new());
}

/// The shard's idle HTTP/2 server connections (open, no stream running) per server, as
/// `f(proxy, server, not used yet, used)`: the stats' `idle_conn_cur` and `safe_conn_cur`,
/// where HAProxy counts its idle h2 connections too.
pub fn idle_counts(mut f: impl FnMut(usize, usize, u64, u64)) {
    let _ = POOL.try_with(|p| {
        for (&(_, srv), s) in p.borrow().iter() {
            let Some(be) = s.be.upgrade() else { continue };
            let (mut fresh, mut used) = (0, 0);
            for c in &s.conns {
                if c.live.active.get() == 0 && !c.live.dead.get() {
                    if c.live.used.get() {
                        used += 1;
                    } else {
                        fresh += 1;
                    }
                }
            }
            f(be.proxy, srv, fresh, used);
        }
    });
}

/// The h2 client of a connection to a server, a request's or a check's: no push; what each
/// response may send before we acknowledge, and the HPACK table, announced when not
/// HTTP/2's defaults, as HAProxy does (2.6 announces `tune.h2.initial-window-size` and
/// `tune.h2.header-table-size` to servers too, on its checks' connections as well; the
/// connection's window stays 65535).
fn client_builder(tune: &H2Tune) -> h2::client::Builder {
    let mut builder = h2::client::Builder::new();
    builder.enable_push(false);
    if tune.be_initial_window_size != 65535 {
        builder.initial_window_size(tune.be_initial_window_size);
    }
    if tune.header_table_size != 4096 {
        builder.header_table_size(tune.header_table_size);
    }
    if tune.max_frame_size != 16384 {
        builder.max_frame_size(tune.max_frame_size);
    }
    builder
}

/// A health check's connection `io` to a server its HTTP check speaks h2 to (`proto h2`,
/// `check-proto h2`, or h2 negotiated by `check-alpn`, as in HAProxy 2.6), made an h2
/// connection announcing `tune` as requests' connections do, with one stream that the check
/// sees as an HTTP/1.1 connection (as a request does: [`Upstream`]). The connection is the
/// check's alone (in no pool) and closes once the check drops its stream.
pub async fn check_stream(
    io: ServerIo,
    addr: SocketAddr,
    limits: HeadLimits,
    tune: &H2Tune,
) -> io::Result<ServerIo> {
    let https = matches!(io, ServerIo::Tls(_));
    let addrs = io.addrs();
    let (send, conn) = client_builder(tune)
        .handshake::<_, Bytes>(io.compat())
        .await
        .map_err(io::Error::other)?;
    // No pool entry has this key; keeping none, it closes when its stream ends.
    let keep_none = IdleLimit {
        max: 0,
        delay: std::time::Duration::ZERO,
        max_reuse: None,
    };
    let live = Live::new((0, 0), 0, keep_none, addrs, None);
    spawn_driver(conn, live.clone());
    Ok(Upstream::on(
        send,
        live,
        (false, https, false),
        addr,
        limits,
    ))
}

/// The connect of a server's next connection, under way: its end, however it ends (the
/// request may be dropped meanwhile), wakes the requests waiting for it.
struct Connecting((usize, usize));

impl Drop for Connecting {
    fn drop(&mut self) {
        // `try_with`: dropped while the shard's thread exits.
        let _ = POOL.try_with(|p| {
            if let Some(sem) = p
                .borrow_mut()
                .get_mut(&self.0)
                .and_then(|s| s.connecting.take())
            {
                sem.close();
            }
        });
    }
}

fn key(be: &BackendRt, srv: usize) -> (usize, usize) {
    (std::ptr::from_ref(be) as usize, srv)
}

/// Whether requests to server `srv` of `be` go as HTTP/2 streams: `proto h2`, or TLS whose
/// ALPN offers h2 to a server not known to have picked HTTP/1.1.
pub fn speaks_h2(cfg: &Config, be: &BackendRt, srv: usize) -> bool {
    if cfg.proxies[be.proxy].servers[srv].params.proto_h2 {
        return true;
    }
    let Some(t) = be.traffic_tls(srv) else {
        return false;
    };
    t.config.alpn_protocols.iter().any(|p| p == b"h2")
        && !POOL.with(|p| p.borrow().get(&key(be, srv)).is_some_and(|s| s.h1))
}

/// Whether the client asked for trailers (`TE: trailers`; the exchange strips TE as
/// hop-by-hop, HTTP/2 allows that one value).
pub fn te_trailers(req: &RequestHead, buf: &[u8]) -> bool {
    req.headers().iter().any(|f| {
        f.known == KnownHeader::Te
            && crate::h1::split_list(f.value(buf)).any(|v| v.eq_ignore_ascii_case(b"trailers"))
    })
}

/// What a stream is opened for.
pub struct Open<'a> {
    pub cfg: &'a Config,
    pub be: &'a Arc<BackendRt>,
    pub srv: usize,
    pub reuse: Reuse,
    /// The first request of its client connection.
    pub first: bool,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub sni: Option<&'a [u8]>,
    /// What a PROXY v2 header says of the client besides its addresses.
    pub facts: crate::net::upstream::ClientFacts<'a>,
    /// The client sent `TE: trailers`.
    pub te: bool,
    pub limits: HeadLimits,
    /// The server's idle connections' limit on this shard.
    pub idle: IdleLimit,
}

/// A stream to the server for one request, on a shared connection when one may take it,
/// else on a new one; with whether the connection was reused. When ALPN gives HTTP/1.1
/// instead, that connection is returned as it is (and later requests use the HTTP/1 pool).
pub async fn open(o: Open<'_>) -> Result<(ServerIo, bool), ProxyError> {
    let (be, srv) = (o.be, o.srv);
    let k = key(be, srv);
    let epoch = be.lb.servers[srv].kill_epoch();
    let tls = be.traffic_tls(srv).is_some();
    // While a connection to the server is being opened, the requests that would share it
    // wait for it rather than each open their own.
    let _connecting = if o.reuse == Reuse::Never {
        None
    } else {
        loop {
            match find(&o, k, epoch) {
                Found::Conn(send, live) => {
                    return Ok((Upstream::stream(send, live, &o, tls, true), true));
                }
                // Woken (closed) when that connect ends, whatever its outcome.
                Found::Wait(sem) => drop(sem.acquire(1).await),
                Found::Connect => break Some(Connecting(k)),
            }
        }
    };
    let io = crate::net::upstream::connect(be, srv, o.src, o.dst, o.sni, o.facts, false).await?;
    let is_h2 = match &io {
        _ if o.cfg.proxies[be.proxy].servers[srv].params.proto_h2 => true,
        ServerIo::Tls(t) => t.get_ref().1.alpn_protocol() == Some(b"h2"),
        _ => false,
    };
    if !is_h2 {
        POOL.with(|p| server(&mut p.borrow_mut(), k, be).h1 = true);
        return Ok((io, false));
    }
    let addrs = io.addrs();
    // (Once per connection, and only where a configuration names an `ssl_bc*` fetch.)
    let tls_session = crate::acl::bc_conn_used()
        .then(|| io.tls_session())
        .flatten();
    let handshake = client_builder(&o.cfg.global.h2).handshake::<_, Bytes>(io.compat());
    let (send, conn) = with_deadline(be.connect_timeout.map(|t| Instant::now() + t), async {
        handshake.await.map_err(io::Error::other)
    })
    .await
    .map_err(ProxyError::connect)?;
    let live = Live::new(k, epoch, o.idle, addrs, tls_session);
    spawn_driver(conn, live.clone());
    if o.reuse != Reuse::Never {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            let s = server(&mut p, k, be);
            s.conns.retain(|c| !c.live.dead.get());
            if s.conns.len() >= MAX_IDLE
                && let Some(i) = s.conns.iter().position(|c| c.live.active.get() == 0)
            {
                // Its handle gone, an idle connection closes.
                s.conns.remove(i);
            }
            s.conns.push(Conn {
                send: send.clone(),
                live: live.clone(),
            });
        });
    }
    Ok((Upstream::stream(send, live, &o, tls, false), false))
}

/// What the pool has for a request to a server.
enum Found {
    /// A connection that takes the stream.
    Conn(SendRequest<Bytes>, Rc<Live>),
    /// None yet; one is being opened: wait for it.
    Wait(Rc<Semaphore>),
    /// None: open one (the caller is now the one opening it, see [`Connecting`]).
    Connect,
}

fn find(o: &Open<'_>, k: (usize, usize), epoch: u32) -> Found {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let s = server(&mut p, k, o.be);
        s.conns
            .retain(|c| !c.live.dead.get() && c.live.epoch == epoch);
        let idle_ok = |used: bool| match o.reuse {
            Reuse::Never => false,
            Reuse::Safe => !o.first,
            Reuse::Aggressive => !o.first || used,
            Reuse::Always => true,
        };
        // A connection with streams running first (HAProxy's "available" list), else an
        // idle one as `http-reuse` allows, the most recent first.
        // The server's SETTINGS_MAX_CONCURRENT_STREAMS, under our own cap.
        let cap = match o.cfg.global.h2.be_max_concurrent_streams {
            0 => usize::MAX,
            n => n as usize,
        };
        let room = |c: &&Conn| {
            c.live.active.get() < c.send.current_max_send_streams().min(cap) && c.live.may_take()
        };
        let busy = s
            .conns
            .iter()
            .filter(room)
            .find(|c| c.live.active.get() > 0);
        let idle = || {
            s.conns
                .iter()
                .filter(room)
                .rev()
                .find(|c| idle_ok(c.live.used.get()))
        };
        if let Some(c) = busy.or_else(idle) {
            return Found::Conn(c.send.clone(), c.live.clone());
        }
        match &s.connecting {
            Some(sem) => Found::Wait(sem.clone()),
            None => {
                s.connecting = Some(Rc::new(Semaphore::new(0)));
                Found::Connect
            }
        }
    })
}

/// The connection's task: polls the h2 connection (which reads and writes for every stream)
/// until the server closes it, an error ends it, it has had no stream for its server's
/// `pool-purge-delay`, or it may not stay idle ([`Live::went_idle`]); it then closes with its
/// socket, and takes no new stream after.
fn spawn_driver<T>(conn: h2::client::Connection<T, Bytes>, live: Rc<Live>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    glommio::spawn_local(async move {
        let delay = live.idle.delay;
        let idle = async {
            if delay.is_zero() {
                // Kept idle by no pool (`pool-purge-delay 0`, a health check's connection):
                // it closes as its last stream ends ([`Live::went_idle`]). (A zero sleep is
                // ready at once: the loop below would not yield while a stream runs.)
                return future::pending().await;
            }
            loop {
                // glommio runs a task as it is spawned: this first look comes before the
                // connection's first stream is counted, and it is not idle then.
                let idle = live.active.get() == 0 && live.used.get();
                let idle_for = live.idle_since.get().elapsed();
                if idle && idle_for >= delay {
                    return;
                }
                let left = if idle { delay - idle_for } else { delay };
                glommio::timer::sleep(left).await;
            }
        };
        let idle = future::or(idle, async {
            let _ = live.close.acquire(1).await;
        });
        future::or(
            async {
                if let Err(e) = conn.await {
                    log::debug!("h2 server connection: {e}");
                }
            },
            idle,
        )
        .await;
        live.dead.set(true);
    })
    .detach();
}

enum Req {
    /// Waiting for the whole head; bytes of a head split over writes.
    Head(Vec<u8>),
    Body(SendStream<Bytes>, Framing),
    Done,
}

enum Res {
    /// No request sent yet.
    None,
    Waiting(ResponseFuture),
    /// The body, chunk-framed when the server gave no length.
    Body(RecvStream, bool),
    Done,
}

/// One request's stream, as the exchange's server connection (see the module's doc).
struct Upstream {
    send: SendRequest<Bytes>,
    live: Rc<Live>,
    /// The connection served before this stream.
    reused: bool,
    te: bool,
    https: bool,
    /// The server's address, the `:authority` of a request without Host.
    addr: SocketAddr,
    limits: HeadLimits,
    head: RequestHead,
    method: Method,
    req: Req,
    res: Res,
    /// Response bytes not read yet (one DATA frame at most, with its chunk framing).
    pend: Vec<u8>,
    pend_pos: usize,
    refused: bool,
}

impl Upstream {
    fn stream(
        send: SendRequest<Bytes>,
        live: Rc<Live>,
        o: &Open<'_>,
        https: bool,
        reused: bool,
    ) -> ServerIo {
        let addr = o.be.lb.servers[o.srv].addr_for(o.dst.port());
        Upstream::on(send, live, (o.te, https, reused), addr, o.limits)
    }

    /// A stream on `send`'s connection, `flags` being (`te`, `https`, `reused`).
    fn on(
        send: SendRequest<Bytes>,
        live: Rc<Live>,
        (te, https, reused): (bool, bool, bool),
        addr: SocketAddr,
        limits: HeadLimits,
    ) -> ServerIo {
        live.active.set(live.active.get() + 1);
        live.streams.set(live.streams.get() + 1);
        live.used.set(true);
        ServerIo::Stream(Box::new(Upstream {
            send,
            live,
            reused,
            te,
            https,
            addr,
            limits,
            head: RequestHead::new(),
            method: Method::Get,
            req: Req::Head(Vec::new()),
            res: Res::None,
            pend: Vec::new(),
            pend_pos: 0,
            refused: false,
        }))
    }

    /// Takes the request head (HTTP/1 bytes from the exchange) and sends it as HEADERS:
    /// `Ok(n)` with the bytes of `data` it used.
    fn take_head(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let Req::Head(acc) = &mut self.req else {
            unreachable!()
        };
        let mut acc = std::mem::take(acc);
        let before = acc.len();
        if before > 0 {
            acc.extend_from_slice(data);
        }
        let whole: &[u8] = if before == 0 { data } else { &acc };
        let head_len = match parse_request(whole, &self.limits, &mut self.head) {
            Ok(Parsed::Complete { head_len }) => head_len,
            Ok(Parsed::Incomplete) => {
                if before == 0 {
                    acc.extend_from_slice(data);
                }
                self.req = Req::Head(acc);
                return Poll::Ready(Ok(data.len()));
            }
            Err(e) => return Poll::Ready(Err(io::Error::other(e.to_string()))),
        };
        // The connection's room for one more stream (h2 would queue it otherwise).
        match self.send.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                self.live.dead.set(true);
                return Poll::Ready(Err(io::Error::other(e)));
            }
            Poll::Pending => {
                // The same bytes come again: keep only what was taken before.
                acc.truncate(before);
                self.req = Req::Head(acc);
                return Poll::Pending;
            }
        }
        let (request, framing) = self.h2_request(whole)?;
        let used = head_len - before;
        let end = framing.is_none();
        match self.send.send_request(request, end) {
            Ok((res, stream)) => {
                if self.head.expects_continue() {
                    // The exchange waits for the server's go-ahead before it reads the
                    // body, and HTTP/2 servers seldom send 100 Continue (h2 servers, gRPC
                    // ones never): corelb gives it, and the body follows at once.
                    self.pend
                        .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                self.res = Res::Waiting(res);
                self.req = match framing {
                    None => Req::Done,
                    Some(f) => Req::Body(stream, f),
                };
                Poll::Ready(Ok(used))
            }
            Err(e) => {
                self.live.dead.set(true);
                Poll::Ready(Err(io::Error::other(e)))
            }
        }
    }

    /// The HTTP/2 request for the parsed head in `buf`, and how its body is framed (None:
    /// no body).
    fn h2_request(&mut self, buf: &[u8]) -> io::Result<(http::Request<()>, Option<Framing>)> {
        let h = &self.head;
        self.method = h.method();
        let authority = match h.host(buf) {
            Some(a) => a.to_vec(),
            None => self.addr.to_string().into_bytes(),
        };
        let mut pq = h.path(buf).to_vec();
        if pq.is_empty() {
            pq.push(b'/');
        }
        if let Some(q) = h.query(buf) {
            pq.push(b'?');
            pq.extend_from_slice(q);
        }
        let uri = http::Uri::builder()
            .scheme(if self.https { "https" } else { "http" })
            .authority(authority)
            .path_and_query(pq)
            .build()
            .map_err(io::Error::other)?;
        let mut b = http::Request::builder()
            .method(h.method_bytes(buf))
            .uri(uri)
            .version(http::Version::HTTP_2);
        for f in h.headers() {
            let name = f.name(buf);
            if f.dropped
                || f.known == KnownHeader::Host
                || f.known == KnownHeader::Te
                || (h.expects_continue() && name.eq_ignore_ascii_case(b"expect"))
                || is_connection_specific(name)
            {
                continue;
            }
            b = b.header(name, f.value(buf));
        }
        if self.te {
            b = b.header(http::header::TE, "trailers");
        }
        let framing = match h.body_kind() {
            BodyKind::ContentLength(0) => None,
            BodyKind::ContentLength(n) => Some(Framing::Length(n)),
            BodyKind::Chunked => Some(Framing::Chunked(Dechunk::Size(0), Vec::new())),
            _ => None,
        };
        let r = b.body(()).map_err(io::Error::other)?;
        Ok((r, framing))
    }

    /// The response's head as HTTP/1.1 into `pend`; whether its body is chunk-framed.
    fn h1_head(&mut self, parts: &http::response::Parts, end: bool) -> bool {
        use std::io::Write as _;
        let status = parts.status;
        let bodiless = status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED
            || self.method == Method::Head;
        // Chunked without a length, and when trailers are announced (HTTP/1.1 carries them
        // in the chunked trailer section only; the length then goes).
        let announced = parts.headers.contains_key(http::header::TRAILER);
        let has_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
        let chunked = !end && !bodiless && (!has_length || announced);
        let _ = write!(
            self.pend,
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown")
        );
        for (name, value) in &parts.headers {
            if is_connection_specific(name.as_str().as_bytes())
                || (chunked && name == http::header::CONTENT_LENGTH)
            {
                continue;
            }
            self.pend.extend_from_slice(name.as_str().as_bytes());
            self.pend.extend_from_slice(b": ");
            self.pend.extend_from_slice(value.as_bytes());
            self.pend.extend_from_slice(b"\r\n");
        }
        if chunked {
            self.pend
                .extend_from_slice(b"transfer-encoding: chunked\r\n");
        } else if end && !has_length && !bodiless {
            self.pend.extend_from_slice(b"content-length: 0\r\n");
        }
        self.pend.extend_from_slice(b"\r\n");
        chunked
    }

    /// A stream error: whether the server refused the stream unprocessed (the connection
    /// then takes no new one).
    fn failed(&mut self, e: h2::Error) -> io::Error {
        if e.reason() == Some(Reason::REFUSED_STREAM) || e.is_go_away() {
            self.refused = true;
            self.live.dead.set(true);
        } else if e.is_io() {
            self.live.dead.set(true);
        }
        io::Error::other(e)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // (h2 resets a stream whose handles all go before it ended.)
        let n = self.live.active.get() - 1;
        self.live.active.set(n);
        if n == 0 {
            self.live.went_idle();
        }
    }
}

impl Multiplexed for Upstream {
    fn refused(&self) -> bool {
        // Refused on a fresh connection, it goes through the retry rule instead: a server
        // that refuses every stream must not make a request loop.
        self.refused && self.reused
    }
    fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.live.addrs
    }
    fn tls_session(&self) -> Option<crate::tls::ServerSession> {
        self.live.tls.clone()
    }
}

impl AsyncWrite for Upstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Req::Head(_) = this.req {
            return this.take_head(cx, data);
        }
        let Req::Body(s, framing) = &mut this.req else {
            // Past the end of the request: nothing more goes out.
            return Poll::Ready(Ok(data.len()));
        };
        let r = poll_send_body(s, framing, cx, data);
        if let Poll::Ready(Ok((_, true))) = r {
            this.req = Req::Done;
        }
        r.map_ok(|(n, _)| n)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Upstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.pend_pos < this.pend.len() {
                let n = crate::net::io::copy_pending(&this.pend, &mut this.pend_pos, buf);
                return Poll::Ready(Ok(n));
            }
            this.pend.clear();
            this.pend_pos = 0;
            match &mut this.res {
                Res::None => return Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
                Res::Done => return Poll::Ready(Ok(0)),
                Res::Waiting(f) => {
                    // 100 Continue, 103 Early Hints: interim heads for the exchange.
                    if let Poll::Ready(Some(Ok(r))) = f.poll_informational(cx) {
                        let (parts, ()) = r.into_parts();
                        this.h1_head(&parts, true);
                        continue;
                    }
                    match Pin::new(f).poll(cx) {
                        Poll::Ready(Ok(r)) => {
                            let (parts, body) = r.into_parts();
                            let end = body.is_end_stream();
                            let chunked = this.h1_head(&parts, end);
                            this.res = if end {
                                Res::Done
                            } else {
                                Res::Body(body, chunked)
                            };
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(this.failed(e))),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Res::Body(body, chunked) => {
                    match poll_recv_body(body, *chunked, &mut this.pend, cx) {
                        Poll::Ready(Ok(false)) => {}
                        Poll::Ready(Ok(true)) => this.res = Res::Done,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(this.failed(e))),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }
}
