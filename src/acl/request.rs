//! [`Sample`] over what the proxy has: the codec's [`RequestHead`] with its read buffer and
//! the connection's addresses and TLS state. [`RawRequest`] owns all of that, for tests,
//! benchmarks and fuzzing.

use std::net::SocketAddr;

use super::Sample;
use crate::h1::{Edits, HeadLimits, HttpError, Parsed, RequestHead, Version, parse_request};

/// TLS facts about the client connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The server name the client asked for.
    pub sni: Option<Box<[u8]>>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: crate::tls::Version,
    /// The protocol ALPN chose, if any (`ssl_fc_alpn`).
    pub alpn: Option<&'static [u8]>,
    /// The certificate the client presented (`ssl_c_*`).
    pub client_cert: Option<std::sync::Arc<crate::tls::client_auth::ClientCert>>,
    /// The suite (`ssl_fc_cipher` says its OpenSSL name).
    pub suite: Option<rustls::CipherSuite>,
    /// The session was resumed (`ssl_fc_is_resumed`).
    pub resumed: bool,
    /// The certificate the listener served (what a PROXY v2 header's `cert-sig` and
    /// `cert-key` name).
    pub served: Option<crate::tls::certs::ServedCert>,
}

/// What a connection knows, the same for every request on it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    /// Client address (the PROXY header's source when there is one).
    pub src: Option<SocketAddr>,
    /// Local address the client connected to (or the PROXY header's destination).
    pub dst: Option<SocketAddr>,
    /// Set when the connection is TLS terminated here.
    pub tls: Option<TlsInfo>,
    /// The requests are HTTP/2 streams: `req.ver` is `2.0`.
    pub h2: bool,
    /// The HTTP/2 connection's glitch score, kept current by its reader (`fc_glitches`).
    pub glitches: Option<std::rc::Rc<std::cell::Cell<u32>>>,
    /// The connection's variables (`sess.` scope).
    pub vars: super::VarSet,
    /// The client socket, while a stream runs on it (the TCP_INFO fetches `fc_rtt`…):
    /// `tcp-request connection` rules have none, as HAProxy's have no stream.
    pub fd: Option<std::os::fd::RawFd>,
    /// The current request is the first its HTTP/1 connection carried (`http_first_req`).
    pub first_req: std::cell::Cell<bool>,
    /// The listener (`bind` address) it came through (`so_id`, `so_name`, `dst_conn`).
    pub listener: Option<std::sync::Arc<ListenerInfo>>,
}

/// A listener as its fetches see it: one per `bind` address, shared by the shards.
#[derive(Debug, Default)]
pub struct ListenerInfo {
    /// Its `id`, else the first one free in its proxy (HAProxy's `luid`).
    pub id: u32,
    /// Its `name`, if given.
    pub name: Option<Box<str>>,
    /// Connections open on it now, on every shard (HAProxy's `nbconn`).
    pub conns: std::sync::atomic::AtomicU32,
}

// (A connection's facts compare by the listener's identity, not its changing count.)
impl PartialEq for ListenerInfo {
    fn eq(&self, o: &Self) -> bool {
        (self.id, &self.name) == (o.id, &o.name)
    }
}
impl Eq for ListenerInfo {}

/// A request (or, in mode tcp, a bare connection) as a [`Sample`]. Built per evaluation
/// from borrowed parts; nothing is copied.
#[derive(Clone, Copy)]
pub struct RequestSample<'a> {
    /// The parsed head and the buffer it was parsed from; `None` in mode tcp.
    pub head: Option<(&'a RequestHead, &'a [u8])>,
    /// The connection.
    pub conn: &'a ConnInfo,
    /// Usable servers of a backend by index (the health state's count).
    pub nbsrv: &'a dyn Fn(usize) -> u32,
    /// Whether the process is draining.
    pub stopping: bool,
    /// The stick tables and this request's tracked counters.
    pub stick: Option<&'a dyn super::StickSource>,
    /// The transaction's variables (`txn.`, `req.`, `res.`); `None` before there is one.
    pub txn: Option<&'a super::VarSet>,
    /// The stream's own addresses where its rules changed them (`set-src`, `set-dst`…);
    /// those rules write them here, so that the rules after them see them.
    pub addrs: Option<&'a AddrsCell>,
    /// The stream's frontend, backend and server (`fe_name`, `srv_id`…).
    pub strm: Option<super::Strm<'a>>,
}

/// A stream's client and destination addresses where its rules set them (HAProxy 2.5+
/// keeps addresses per stream: `http-request set-src` changes `src` for that request, its
/// log line, its server connection and its PROXY header, not for the next request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamAddrs {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
}

/// Where a stream's rules write its addresses and its sample reads them. Nothing is
/// allocated until a rule sets one (the cell sits in every request's state).
#[derive(Default)]
pub struct AddrsCell(std::cell::Cell<Option<Box<StreamAddrs>>>);

impl AddrsCell {
    pub fn new(a: StreamAddrs) -> AddrsCell {
        let c = AddrsCell::default();
        c.set(a);
        c
    }

    pub fn get(&self) -> StreamAddrs {
        let b = self.0.take();
        let a = b.as_deref().copied().unwrap_or_default();
        self.0.set(b);
        a
    }

    pub fn set(&self, a: StreamAddrs) {
        self.0
            .set((a != StreamAddrs::default()).then(|| Box::new(a)));
    }
}

/// What a `set-src`/`set-src-port`/`set-dst`/`set-dst-port` action sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPart {
    Src,
    SrcPort,
    Dst,
    DstPort,
}

/// `set-src`, `set-src-port`, `set-dst`, `set-dst-port EXPR` on `s` (the `http-request`
/// and `tcp-request` actions): the expression's first value, of the right type, into the
/// stream's addresses that `s` reads; nothing found, or no such value, changes nothing (as
/// HAProxy).
/// `set-priority-class EXPR` (`class`) or `set-priority-offset EXPR`: the first value of
/// EXPR as an integer, kept within HAProxy's bounds, becomes the stream's queue priority
/// (kept with its variables); an expression that finds nothing changes nothing, as in
/// HAProxy.
pub fn set_priority(class: bool, e: &super::FetchExpr, s: &dyn Sample) {
    let Some(txn) = s.vars().txn else {
        return;
    };
    let mut got = None;
    e.each(s, false, &mut |v| {
        got = v.to_int();
        false
    });
    // HAProxy's `queue_limit_class` and `queue_limit_offset` (ms).
    if let Some(v) = got {
        let v = if class {
            v.clamp(-0x7ff, 0x7ff)
        } else {
            v.clamp(-0x7ffff, 0x7ffff)
        };
        txn.set_priority(class, v);
    }
}

pub fn set_addr(part: AddrPart, e: &super::FetchExpr, s: &dyn Sample) {
    let Some(cell) = s.addrs_cell() else {
        return;
    };
    let mut got = None;
    e.each(s, false, &mut |v| {
        got = match part {
            AddrPart::Src | AddrPart::Dst => v.to_ip().map(Ok),
            _ => v.to_int().and_then(|p| u16::try_from(p).ok()).map(Err),
        };
        false
    });
    let Some(v) = got else {
        return;
    };
    let side = match part {
        AddrPart::Src | AddrPart::SrcPort => s.src(),
        _ => s.dst(),
    };
    let new = match v {
        // The port stays (HAProxy keeps it where the family allows; both do here).
        Ok(ip) => SocketAddr::new(ip, side.map_or(0, |a| a.port())),
        // The address stays, or 0.0.0.0 where there was none.
        Err(port) => SocketAddr::new(
            side.map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.ip()),
            port,
        ),
    };
    let mut a = cell.get();
    match part {
        AddrPart::Src | AddrPart::SrcPort => a.src = Some(new),
        _ => a.dst = Some(new),
    }
    cell.set(a);
}

impl StreamAddrs {
    /// The stream's source: its own, else the session's.
    pub fn src_or(&self, session: SocketAddr) -> SocketAddr {
        self.src.unwrap_or(session)
    }
    /// The stream's destination: its own, else the session's.
    pub fn dst_or(&self, session: SocketAddr) -> SocketAddr {
        self.dst.unwrap_or(session)
    }
}

fn version_text(v: Version) -> &'static [u8] {
    match v {
        Version::Http10 => b"1.0",
        _ => b"1.1",
    }
}

fn for_each_field(head: &RequestHead, buf: &[u8], name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
    for h in head.headers() {
        // Fields the codec merged into an earlier identical one (duplicate Host or
        // Content-Length) are not forwarded, and HAProxy's HTX no longer has them either.
        if h.dropped {
            continue;
        }
        // `is` compares the span length before touching the bytes.
        if (name.is_empty() || h.is(buf, name)) && !f(h.value(buf)) {
            return;
        }
    }
}

fn for_each_named(head: &RequestHead, buf: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
    for h in head.headers() {
        if !h.dropped && !f(h.name(buf), h.value(buf)) {
            return;
        }
    }
}

fn tls_sni(c: &ConnInfo) -> Option<&[u8]> {
    c.tls.as_ref().and_then(|t| t.sni.as_deref())
}

fn tls_client_cert(c: &ConnInfo) -> Option<&crate::tls::client_auth::ClientCert> {
    c.tls.as_ref().and_then(|t| t.client_cert.as_deref())
}

fn tls_cipher(c: &ConnInfo) -> Option<&'static [u8]> {
    let suite = c.tls.as_ref()?.suite?;
    crate::tls::ciphers::openssl_name(suite).map(str::as_bytes)
}

fn tls_protocol(c: &ConnInfo) -> Option<&[u8]> {
    c.tls.as_ref().map(|t| t.version.name().as_bytes())
}

impl Sample for RequestSample<'_> {
    fn src(&self) -> Option<SocketAddr> {
        self.addrs.and_then(|a| a.get().src).or(self.conn.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.addrs.and_then(|a| a.get().dst).or(self.conn.dst)
    }
    // The connection's: `tcp-request connection` rules change it (the caller builds `conn`
    // from what they left); session, content and http rules change the stream's (`addrs`).
    fn fc_src(&self) -> Option<SocketAddr> {
        self.conn.src
    }
    fn fc_dst(&self) -> Option<SocketAddr> {
        self.conn.dst
    }
    fn addrs_cell(&self) -> Option<&AddrsCell> {
        self.addrs
    }
    fn method(&self) -> Option<&[u8]> {
        self.head.map(|(h, b)| h.method_bytes(b))
    }
    fn url(&self) -> Option<&[u8]> {
        self.head.map(|(h, b)| h.target(b))
    }
    fn version(&self) -> Option<&[u8]> {
        if self.conn.h2 {
            return self.head.map(|_| &b"2.0"[..]);
        }
        self.head.map(|(h, _)| version_text(h.version()))
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
        if let Some((h, b)) = self.head {
            for_each_field(h, b, name, f);
        }
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        if let Some((h, b)) = self.head {
            for_each_named(h, b, f);
        }
    }
    fn body(&self) -> Option<(&[u8], crate::h1::BodyKind)> {
        let (h, b) = self.head?;
        Some((b.get(h.head_len()..).unwrap_or_default(), h.body_kind()))
    }
    fn ssl_fc(&self) -> bool {
        self.conn.tls.is_some()
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        tls_sni(self.conn)
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        tls_protocol(self.conn)
    }
    fn ssl_fc_alpn(&self) -> Option<&[u8]> {
        self.conn.tls.as_ref().and_then(|t| t.alpn)
    }
    fn ssl_fc_cipher(&self) -> Option<&[u8]> {
        tls_cipher(self.conn)
    }
    fn ssl_fc_is_resumed(&self) -> Option<bool> {
        self.conn.tls.as_ref().map(|t| t.resumed)
    }
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        tls_client_cert(self.conn)
    }
    fn fc_glitches(&self) -> Option<u32> {
        self.conn.glitches.as_ref().map(|g| g.get())
    }
    fn nbsrv(&self, backend: usize) -> u32 {
        (self.nbsrv)(backend)
    }
    fn stopping(&self) -> bool {
        self.stopping
    }
    fn stick(&self) -> Option<&dyn super::StickSource> {
        self.stick
    }
    fn vars(&self) -> super::Vars<'_> {
        super::Vars {
            sess: Some(&self.conn.vars),
            txn: self.txn,
        }
    }
    fn strm(&self) -> Option<super::Strm<'_>> {
        self.strm
    }
    fn listener(&self) -> Option<&ListenerInfo> {
        self.conn.listener.as_deref()
    }
    fn fc_fd(&self) -> Option<std::os::fd::RawFd> {
        self.conn.fd
    }
    fn fc_http_major(&self) -> Option<i64> {
        Some(if self.conn.h2 { 2 } else { 1 })
    }
    fn http_first_req(&self) -> Option<bool> {
        // Every HTTP/2 stream is a first request, as in HAProxy (its H1 mux marks the
        // others).
        self.head.map(|_| self.conn.h2 || self.conn.first_req.get())
    }
    fn captured_request(&self) -> Option<(&[u8], &[u8])> {
        // HAProxy keeps the line (txn->uri) for a proxy with any log format or `%[…]`
        // string reading the request (the rule naming this fetch in one): in practice
        // always.
        Some((self.method()?, self.url()?))
    }
}

/// A request whose header fields earlier rules have edited (`http-request set-header`,
/// `del-header`, ...): header fetches see the fields as they stand after the edits, as
/// HAProxy's rules act on the message in place. Edits of the method, URI, path or query are
/// not reflected (the codec's [`Edits`] does not expose them); everything but the headers
/// comes from `request`.
pub struct EditedRequestSample<'a, 'e, const N: usize> {
    /// The request as received, and the connection.
    pub request: RequestSample<'a>,
    /// The edits recorded so far.
    pub edits: &'a Edits<'e, N>,
}

impl<const N: usize> Sample for EditedRequestSample<'_, '_, N> {
    fn src(&self) -> Option<SocketAddr> {
        self.request.src()
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.request.dst()
    }
    fn fc_src(&self) -> Option<SocketAddr> {
        self.request.fc_src()
    }
    fn fc_dst(&self) -> Option<SocketAddr> {
        self.request.fc_dst()
    }
    fn addrs_cell(&self) -> Option<&AddrsCell> {
        self.request.addrs
    }
    fn method(&self) -> Option<&[u8]> {
        self.request.method()
    }
    fn url(&self) -> Option<&[u8]> {
        self.request.url()
    }
    fn version(&self) -> Option<&[u8]> {
        self.request.version()
    }
    fn body(&self) -> Option<(&[u8], crate::h1::BodyKind)> {
        self.request.body()
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
        if let Some((h, b)) = self.request.head {
            for e in self.edits.headers(h.headers(), b) {
                if (name.is_empty() || e.name.eq_ignore_ascii_case(name)) && !f(e.value) {
                    return;
                }
            }
        }
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        if let Some((h, b)) = self.request.head {
            for e in self.edits.headers(h.headers(), b) {
                if !f(e.name, e.value) {
                    return;
                }
            }
        }
    }
    fn ssl_fc(&self) -> bool {
        self.request.ssl_fc()
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        self.request.ssl_fc_sni()
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        self.request.ssl_fc_protocol()
    }
    fn ssl_fc_alpn(&self) -> Option<&[u8]> {
        self.request.ssl_fc_alpn()
    }
    fn ssl_fc_cipher(&self) -> Option<&[u8]> {
        self.request.ssl_fc_cipher()
    }
    fn ssl_fc_is_resumed(&self) -> Option<bool> {
        self.request.ssl_fc_is_resumed()
    }
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        self.request.ssl_c()
    }
    fn fc_glitches(&self) -> Option<u32> {
        self.request.fc_glitches()
    }
    fn nbsrv(&self, backend: usize) -> u32 {
        self.request.nbsrv(backend)
    }
    fn stopping(&self) -> bool {
        self.request.stopping()
    }
    fn stick(&self) -> Option<&dyn super::StickSource> {
        self.request.stick
    }
    fn vars(&self) -> super::Vars<'_> {
        self.request.vars()
    }
    fn strm(&self) -> Option<super::Strm<'_>> {
        self.request.strm
    }
    fn listener(&self) -> Option<&ListenerInfo> {
        self.request.listener()
    }
    fn fc_fd(&self) -> Option<std::os::fd::RawFd> {
        self.request.conn.fd
    }
    fn fc_http_major(&self) -> Option<i64> {
        self.request.fc_http_major()
    }
    fn http_first_req(&self) -> Option<bool> {
        self.request.http_first_req()
    }
    fn captured_request(&self) -> Option<(&[u8], &[u8])> {
        self.request.captured_request()
    }
}

/// An owned request for tests, benchmarks and fuzzing: raw bytes parsed by the proxy's own
/// codec, plus connection facts to set by hand.
#[derive(Clone, Debug)]
pub struct RawRequest {
    buf: Vec<u8>,
    head: Option<RequestHead>,
    /// The connection (defaults: client 192.0.2.10:40000, local 192.0.2.1:80, no TLS).
    pub conn: ConnInfo,
    /// `nbsrv` of backend `i` is `nbsrv[i]` (0 past the end).
    pub nbsrv: Vec<u32>,
    /// What `stopping` returns.
    pub stopping: bool,
    /// The transaction's variables.
    pub txn: super::VarSet,
}

impl RawRequest {
    fn default_conn() -> ConnInfo {
        ConnInfo {
            src: Some(SocketAddr::from(([192, 0, 2, 10], 40000))),
            dst: Some(SocketAddr::from(([192, 0, 2, 1], 80))),
            tls: None,
            h2: false,
            glitches: None,
            fd: None,
            vars: Default::default(),
            ..Default::default()
        }
    }

    /// Parses a request head with HAProxy's default limits; an incomplete head is an error
    /// too (`None` inside).
    pub fn parse(raw: &[u8]) -> Result<RawRequest, Option<HttpError>> {
        let mut head = RequestHead::new();
        match parse_request(raw, &HeadLimits::default(), &mut head) {
            Ok(Parsed::Complete { .. }) => {}
            Ok(_) => return Err(None),
            Err(e) => return Err(Some(e)),
        }
        Ok(RawRequest {
            buf: raw.to_vec(),
            head: Some(head),
            conn: RawRequest::default_conn(),
            nbsrv: Vec::new(),
            stopping: false,
            txn: Default::default(),
        })
    }

    /// A connection without an HTTP request (mode tcp).
    pub fn tcp() -> RawRequest {
        RawRequest {
            buf: Vec::new(),
            head: None,
            conn: RawRequest::default_conn(),
            nbsrv: Vec::new(),
            stopping: false,
            txn: Default::default(),
        }
    }

    /// Sets the client address.
    pub fn with_src(mut self, a: &str) -> RawRequest {
        self.conn.src = Some(a.parse().expect("socket address"));
        self
    }

    /// Sets the local address.
    pub fn with_dst(mut self, a: &str) -> RawRequest {
        self.conn.dst = Some(a.parse().expect("socket address"));
        self
    }

    /// Marks the connection TLS with this SNI.
    pub fn with_tls(mut self, sni: Option<&str>) -> RawRequest {
        self.conn.tls = Some(TlsInfo {
            sni: sni.map(|s| s.as_bytes().into()),
            version: crate::tls::Version::Tls13,
            alpn: None,
            client_cert: None,
            suite: Some(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384),
            resumed: false,
            served: None,
        });
        self
    }
}

impl Sample for RawRequest {
    fn src(&self) -> Option<SocketAddr> {
        self.conn.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.conn.dst
    }
    fn method(&self) -> Option<&[u8]> {
        self.head.as_ref().map(|h| h.method_bytes(&self.buf))
    }
    fn url(&self) -> Option<&[u8]> {
        self.head.as_ref().map(|h| h.target(&self.buf))
    }
    fn version(&self) -> Option<&[u8]> {
        self.head.as_ref().map(|h| version_text(h.version()))
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
        if let Some(h) = &self.head {
            for_each_field(h, &self.buf, name, f);
        }
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        if let Some(h) = &self.head {
            for_each_named(h, &self.buf, f);
        }
    }
    fn body(&self) -> Option<(&[u8], crate::h1::BodyKind)> {
        let h = self.head.as_ref()?;
        Some((
            self.buf.get(h.head_len()..).unwrap_or_default(),
            h.body_kind(),
        ))
    }
    fn ssl_fc(&self) -> bool {
        self.conn.tls.is_some()
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        tls_sni(&self.conn)
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        tls_protocol(&self.conn)
    }
    fn ssl_fc_alpn(&self) -> Option<&[u8]> {
        self.conn.tls.as_ref().and_then(|t| t.alpn)
    }
    fn ssl_fc_cipher(&self) -> Option<&[u8]> {
        tls_cipher(&self.conn)
    }
    fn ssl_fc_is_resumed(&self) -> Option<bool> {
        self.conn.tls.as_ref().map(|t| t.resumed)
    }
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        tls_client_cert(&self.conn)
    }
    fn nbsrv(&self, backend: usize) -> u32 {
        self.nbsrv.get(backend).copied().unwrap_or(0)
    }
    fn stopping(&self) -> bool {
        self.stopping
    }
    fn vars(&self) -> super::Vars<'_> {
        super::Vars {
            sess: Some(&self.conn.vars),
            txn: Some(&self.txn),
        }
    }
}

/// The buffered bytes as HTTP/1.
enum Http {
    Complete(RequestHead),
    Incomplete,
    Invalid,
}

/// The connection during `tcp-request content` inspection: its addresses and TLS state, the
/// bytes buffered so far (for the layer-6 fetches) and, when they start an HTTP/1 request,
/// that request (HAProxy parses the buffer for layer-7 fetches in mode tcp too). The HTTP
/// head is parsed on the first layer-7 fetch, once per evaluation.
pub struct ContentSample<'a> {
    /// The connection.
    pub conn: &'a ConnInfo,
    data: &'a [u8],
    last: bool,
    http: std::cell::OnceCell<Http>,
    /// Usable servers of a backend by index.
    pub nbsrv: &'a dyn Fn(usize) -> u32,
    /// Whether the process is draining.
    pub stopping: bool,
    /// The stream's variables (`txn.`): set by the caller where there is a stream.
    pub txn: Option<&'a super::VarSet>,
    /// The stick tables and counters (`sc_*`, `track-sc`): set by the caller.
    pub stick: Option<&'a dyn super::StickSource>,
    /// The bytes are the server's (`tcp-response content`), not the client's.
    pub response: bool,
    /// The stream's addresses (`tcp-request content set-src`…): set by the caller.
    pub addrs: Option<&'a AddrsCell>,
    /// The stream's frontend, backend and server: set by the caller.
    pub strm: Option<super::Strm<'a>>,
}

impl<'a> ContentSample<'a> {
    /// `data` is what the client sent so far; `last` says no more will be waited for.
    pub fn new(
        conn: &'a ConnInfo,
        data: &'a [u8],
        last: bool,
        nbsrv: &'a dyn Fn(usize) -> u32,
        stopping: bool,
    ) -> ContentSample<'a> {
        ContentSample {
            conn,
            data,
            last,
            http: std::cell::OnceCell::new(),
            nbsrv,
            stopping,
            txn: None,
            stick: None,
            response: false,
            addrs: None,
            strm: None,
        }
    }

    /// What the bytes hold as HTTP, parsed once.
    fn http(&self) -> &Http {
        self.http.get_or_init(|| {
            let mut head = RequestHead::new();
            match parse_request(self.data, &HeadLimits::default(), &mut head) {
                Ok(Parsed::Complete { .. }) => Http::Complete(head),
                Ok(Parsed::Incomplete) => Http::Incomplete,
                Err(_) => Http::Invalid,
            }
        })
    }

    /// The HTTP head, if the bytes hold a complete and valid one.
    fn head(&self) -> Option<&RequestHead> {
        match self.http() {
            Http::Complete(h) => Some(h),
            _ => None,
        }
    }

    fn request(&self) -> RequestSample<'_> {
        RequestSample {
            head: self.head().map(|h| (h, self.data)),
            conn: self.conn,
            nbsrv: self.nbsrv,
            stopping: self.stopping,
            stick: self.stick,
            txn: self.txn,
            addrs: self.addrs,
            strm: self.strm,
        }
    }
}

impl Sample for ContentSample<'_> {
    fn src(&self) -> Option<SocketAddr> {
        self.addrs.and_then(|a| a.get().src).or(self.conn.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.addrs.and_then(|a| a.get().dst).or(self.conn.dst)
    }
    fn fc_src(&self) -> Option<SocketAddr> {
        self.conn.src
    }
    fn fc_dst(&self) -> Option<SocketAddr> {
        self.conn.dst
    }
    fn addrs_cell(&self) -> Option<&AddrsCell> {
        self.addrs
    }
    fn method(&self) -> Option<&[u8]> {
        self.head().map(|h| h.method_bytes(self.data))
    }
    fn url(&self) -> Option<&[u8]> {
        self.head().map(|h| h.target(self.data))
    }
    fn version(&self) -> Option<&[u8]> {
        self.head().map(|h| version_text(h.version()))
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
        self.request().for_each_header(name, f)
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.request().for_each_field(f)
    }
    fn ssl_fc(&self) -> bool {
        self.conn.tls.is_some()
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        tls_sni(self.conn)
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        tls_protocol(self.conn)
    }
    fn ssl_fc_cipher(&self) -> Option<&[u8]> {
        tls_cipher(self.conn)
    }
    fn ssl_fc_is_resumed(&self) -> Option<bool> {
        self.conn.tls.as_ref().map(|t| t.resumed)
    }
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        tls_client_cert(self.conn)
    }
    fn nbsrv(&self, backend: usize) -> u32 {
        (self.nbsrv)(backend)
    }
    fn stopping(&self) -> bool {
        self.stopping
    }
    fn stick(&self) -> Option<&dyn super::StickSource> {
        self.stick
    }
    fn content(&self) -> Option<super::Content<'_>> {
        Some(super::Content {
            data: self.data,
            last: self.last,
            http_pending: !self.response && matches!(self.http(), Http::Incomplete),
            response: self.response,
            htx_len: None,
        })
    }
    fn vars(&self) -> super::Vars<'_> {
        super::Vars {
            sess: Some(&self.conn.vars),
            txn: self.txn,
        }
    }
    fn strm(&self) -> Option<super::Strm<'_>> {
        self.strm
    }
    fn listener(&self) -> Option<&ListenerInfo> {
        self.conn.listener.as_deref()
    }
    fn fc_fd(&self) -> Option<std::os::fd::RawFd> {
        self.conn.fd
    }
    fn fc_http_major(&self) -> Option<i64> {
        Some(if self.conn.h2 { 2 } else { 1 })
    }
}
