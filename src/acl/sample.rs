//! What a request looks like to the fetches ([`Sample`]), the typed values fetches return
//! ([`Value`]) and HAProxy's casts between them.
//!
//! The casts follow HAProxy's `sample_casts` table (src/sample.c): a matching method expects a
//! type, and the fetched value is converted to it, or the match fails for that value.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The connection and request an ACL or log-format expression is evaluated on.
///
/// The proxy implements this over what it already has (its parsed request head and the read
/// buffer, the accepted socket's addresses, the TLS session): nothing is copied per request.
/// [`super::HttpRequest`] is the implementation over [`crate::h1::RequestHead`], and
/// [`super::ConnInfo`] alone is the one for mode tcp.
///
/// Derived values (`path`, `query`, `url_param`, cookies, comma-separated header elements) are
/// computed by this module from [`url`](Sample::url) and
/// [`for_each_header`](Sample::for_each_header), so that their HAProxy semantics live in one
/// place.
pub trait Sample {
    /// Client address (after a PROXY header, the address it announced). `None` if unknown
    /// (a UNIX socket, `PROXY UNKNOWN`).
    fn src(&self) -> Option<SocketAddr>;
    /// The address the client connected to (or the PROXY header's destination).
    fn dst(&self) -> Option<SocketAddr>;
    /// The client connection's source as `tcp-request connection` rules left it
    /// (`fc_src`): `src` less what session and stream rules changed.
    fn fc_src(&self) -> Option<SocketAddr> {
        self.src()
    }
    /// The client connection's destination, likewise (`fc_dst`).
    fn fc_dst(&self) -> Option<SocketAddr> {
        self.dst()
    }
    /// Where `set-src`/`set-dst` actions write the stream's addresses (none: they do
    /// nothing here).
    fn addrs_cell(&self) -> Option<&super::AddrsCell> {
        None
    }
    /// The request method as received. `None` when there is no HTTP request (mode tcp): every
    /// layer-7 fetch then finds nothing, as in HAProxy.
    fn method(&self) -> Option<&[u8]>;
    /// The request-target as received (HAProxy's `url`).
    fn url(&self) -> Option<&[u8]>;
    /// The HTTP version without `HTTP/`: `1.0` or `1.1` (HAProxy's `req.ver`).
    fn version(&self) -> Option<&[u8]>;
    /// Calls `f` on the full value of each request header field named `name`
    /// (case-insensitive), in order, or of every field if `name` is empty; stops early when
    /// `f` returns false. Values are trimmed of surrounding blanks.
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool);
    /// Calls `f` on the name and value of every header field, in order (`req.hdrs`,
    /// `req.hdr_names`); stops early when `f` returns false. None where there are no fields.
    fn for_each_field(&self, _f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {}
    /// Whether the client connection is TLS, terminated here.
    fn ssl_fc(&self) -> bool;
    /// The SNI the client sent, if TLS and it sent one.
    fn ssl_fc_sni(&self) -> Option<&[u8]>;
    /// The TLS protocol version name (`TLSv1.2`, `TLSv1.3`), if TLS.
    fn ssl_fc_protocol(&self) -> Option<&[u8]>;
    /// The protocol ALPN chose (`h2`, `http/1.1`), if TLS with ALPN.
    fn ssl_fc_alpn(&self) -> Option<&[u8]> {
        None
    }
    /// HAProxy's code and text of the error that ended the client connection (`fc_err`,
    /// `fc_err_str`): only a connection that never carried a stream (a failed TLS
    /// handshake) has one.
    fn fc_err(&self) -> (i64, &'static str) {
        (0, "Success")
    }
    /// The TLS suite's OpenSSL name (`ssl_fc_cipher`), if TLS.
    fn ssl_fc_cipher(&self) -> Option<&[u8]> {
        None
    }
    /// Whether the TLS session was resumed (`ssl_fc_is_resumed`), if TLS.
    fn ssl_fc_is_resumed(&self) -> Option<bool> {
        None
    }
    /// The certificate the client presented on this TLS connection (`ssl_c_*`).
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        None
    }
    /// The connection's glitch score so far (`fc_glitches`), where it is measured (HTTP/2).
    fn fc_glitches(&self) -> Option<u32> {
        None
    }
    /// Usable servers in backend number `backend` (as resolved by
    /// [`super::Cond::resolve_backends`]): HAProxy's `nbsrv`.
    fn nbsrv(&self, backend: usize) -> u32;
    /// Whether this process is stopping (draining after a reload or a soft stop).
    fn stopping(&self) -> bool;
    /// The stick tables and the counters this request tracks (`sc_*`, `src_*` fetches);
    /// `None` where there are none (tests, checks): those fetches then find nothing.
    fn stick(&self) -> Option<&dyn super::StickSource> {
        None
    }
    /// The client's bytes held by `tcp-request content` inspection, which the layer-6
    /// fetches (`req.len`, `req.payload`, `req.ssl_sni`) read. `None` elsewhere (as in
    /// HAProxy, where an HTTP stream's buffer is not raw bytes): they find nothing.
    fn content(&self) -> Option<Content<'_>> {
        None
    }
    /// Capture slot `idx` of the request (`response` false) or the response, if it holds a
    /// value (`capture.req.hdr(N)`, `capture.res.hdr(N)`); the log line's view has them.
    fn capture(&self, _response: bool, _idx: usize) -> Option<&[u8]> {
        None
    }
    /// The transaction's `unique-id-format` value (`unique-id`), where it is made.
    fn unique_id(&self) -> Option<&[u8]> {
        None
    }
    /// What of the request's body is in the buffer, and how its head frames it
    /// (`req.body*`); `None` where there is no HTTP request.
    fn body(&self) -> Option<(&[u8], crate::h1::BodyKind)> {
        None
    }
    /// The variables reachable here (`var()`, `set-var`); none by default.
    fn vars(&self) -> super::Vars<'_> {
        super::Vars::default()
    }
    /// The response's status, where there is a response (`http-response` rules): `status`.
    fn status(&self) -> Option<u16> {
        None
    }
    /// The response as the header and version fetches read it (`res.hdr`, `shdr`,
    /// `res.ver`…), where there is one: a view whose `for_each_header` and `version` are the
    /// response's. `None` elsewhere: those fetches find nothing, as HAProxy's out of place.
    fn response(&self) -> Option<&dyn Sample> {
        None
    }
    /// True for the view [`response`](Self::response) gives: the cookie fetches read its
    /// Set-Cookie fields, where only the first `name=value` pair names a cookie.
    fn is_response(&self) -> bool {
        false
    }
    /// The stream's frontend, backend and server and the process's proxies (`fe_name`,
    /// `be_id`, `srv_name`, `be_conn(B)`, `srv_is_up(B/S)`…); `None` where there is no
    /// stream (tests, checks): those fetches then find nothing.
    fn strm(&self) -> Option<Strm<'_>> {
        None
    }
    /// The listener the client came through (`so_id`, `so_name`, `dst_conn`).
    fn listener(&self) -> Option<&super::ListenerInfo> {
        None
    }
    /// The client connection's HTTP major version on the wire (`fc_http_major`): 2 for
    /// HTTP/2, else 1.
    fn fc_http_major(&self) -> Option<i64> {
        None
    }
    /// The client socket, where a stream runs on it (`fc_rtt`, `fc_unacked`…).
    fn fc_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// `http_first_req`: whether the request is the first of its connection.
    fn http_first_req(&self) -> Option<bool> {
        None
    }
    /// The method and target of the request line as it came, which HAProxy captures for
    /// its log formats (`capture.req.method`, `capture.req.uri`).
    fn captured_request(&self) -> Option<(&[u8], &[u8])> {
        None
    }
}

/// A stream's place among the proxies, for the proxy and server fetches.
#[derive(Clone, Copy)]
pub struct Strm<'a> {
    /// The process's proxies and servers.
    pub px: &'a dyn Proxies,
    /// The frontend (index of the proxy).
    pub fe: usize,
    /// The backend: the frontend itself until a backend is chosen (HAProxy's `s->be`).
    pub be: usize,
    /// The server, once one is chosen (index in the backend).
    pub srv: Option<usize>,
}

/// What the proxy and server fetches read of the proxies (indexed like the
/// configuration's), implemented over the running process's state.
pub trait Proxies {
    /// Proxy `i`, if there is one.
    fn proxy(&self, i: usize) -> Option<ProxyFacts<'_>>;
    /// Server `srv` of backend `be`.
    fn server(&self, be: usize, srv: usize) -> Option<ServerFacts<'_>>;
    /// A rate over HAProxy's one-second window, of proxy `px` (or its server `srv`), for
    /// the whole process.
    fn rate(&self, of: RateOf, px: usize, srv: usize) -> u64;
}

/// What [`Proxies::rate`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateOf {
    /// A frontend's HTTP requests (`fe_req_rate`).
    FeReq,
    /// A frontend's sessions: accepted connections (`fe_sess_rate`).
    FeSess,
    /// A backend's sessions: streams given to it (`be_sess_rate`).
    BeSess,
    /// A server's sessions (`srv_sess_rate`).
    SrvSess,
}

/// A proxy's facts.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProxyFacts<'a> {
    pub name: &'a str,
    /// Its numeric id (`id`, else the one given in order).
    pub id: u32,
    /// `default_backend` (index), for a frontend.
    pub default_backend: Option<usize>,
    /// Current connections, for a frontend (HAProxy's `feconn`).
    pub fe_conn: Option<u32>,
    /// `timeout client` in milliseconds (0: none), for a frontend.
    pub client_timeout: Option<i64>,
    /// How many request and response capture slots it declares (`capture ... header`,
    /// `declare capture`).
    pub captures: [usize; 2],
    /// For a backend: its servers, current connections and waiting requests.
    pub backend: Option<BackendFacts>,
}

/// A backend's counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendFacts {
    /// How many servers it has.
    pub servers: usize,
    /// Usable servers (`nbsrv`).
    pub usable: u32,
    /// Connections on its servers (HAProxy's `beconn`).
    pub conn: u32,
    /// Requests waiting in its queue and its servers' (`totpend`).
    pub queued: u32,
    /// `timeout server`, `timeout tunnel` in milliseconds (0: none).
    pub server_timeout: i64,
    pub tunnel_timeout: i64,
}

/// A server's facts.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerFacts<'a> {
    pub name: &'a str,
    pub id: u32,
    /// Not in maintenance, and up or not checked (`srv_is_up`).
    pub up: bool,
    /// Down (HAProxy's `SRV_ST_STOPPED`).
    pub stopped: bool,
    /// Up and running (`SRV_ST_RUNNING`).
    pub running: bool,
    pub cur: u32,
    /// 0: no limit.
    pub maxconn: u32,
    pub queued: u32,
    /// 0: no limit.
    pub maxqueue: u32,
    /// The effective weight (`srv_weight`), the configured one (`srv_iweight`), the one
    /// the runtime API set (`srv_uweight`).
    pub weight: u32,
    pub iweight: u32,
    pub uweight: u32,
}

/// What content inspection has buffered so far.
#[derive(Clone, Copy, Debug)]
pub struct Content<'a> {
    /// The client's first bytes, not yet forwarded.
    pub data: &'a [u8],
    /// No more bytes will come before the rules must decide (the inspect delay ended, the
    /// client closed, or the buffer is full): fetches answer definitively.
    pub last: bool,
    /// The bytes are the start of an HTTP request whose head is not complete yet: layer-7
    /// fetches may find something once more bytes arrive.
    pub http_pending: bool,
    /// The bytes are the server's (`tcp-response content`): `res.*` fetches read them.
    pub response: bool,
    /// An HTTP message (`tcp-response content` in mode http): no raw bytes, the payload
    /// fetches find nothing and `res.len` is this size of HAProxy's HTX message.
    pub htx_len: Option<i64>,
}

/// A fetched value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// A boolean (`ssl_fc`, `always_true`).
    Bool(bool),
    /// A signed integer (`dst_port`, `hdr_cnt`, `nbsrv`).
    Int(i64),
    /// An address (`src`, `dst`, `hdr_ip`).
    Ip(IpAddr),
    /// Bytes (`path`, `hdr`, `method`).
    Str(&'a [u8]),
}

/// The type a fetch produces, used at parse time to pick the default matching method and to
/// reject methods its values cannot be cast to (HAProxy's `smp_expr_output_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SmpType {
    Bool,
    Int,
    Ip,
    Str,
    /// `method`: a string with its own matching (known methods compare by identity).
    Meth,
    /// Raw bytes (`req.payload`): they cast to strings only.
    Bin,
    /// Known only at run time (`var()`): an ACL must name its matching method.
    Any,
}

impl SmpType {
    /// HAProxy's `sample_casts[self][to]` for the types matching methods expect.
    pub(crate) fn casts_to(self, to: SmpType) -> bool {
        use SmpType::*;
        match (self, to) {
            (_, Str) | (Any, _) => true,
            (Meth | Bin, _) => false,
            (Bool, Ip) => false,
            (_, Int | Ip | Bool) => true,
            _ => false,
        }
    }
}

impl<'a> Value<'a> {
    /// As an integer (HAProxy's casts to `SMP_T_SINT`): a string is read as an optional sign
    /// and leading digits (`12abc` is 12, `abc` is 0) but an empty string does not cast; an
    /// IPv4 address is its 32-bit number; an IPv6 address does not cast.
    pub(crate) fn to_int(self) -> Option<i64> {
        match self {
            Value::Bool(b) => Some(b as i64),
            Value::Int(i) => Some(i),
            Value::Ip(IpAddr::V4(a)) => Some(u32::from(a) as i64),
            Value::Ip(IpAddr::V6(_)) => None,
            Value::Str(b"") => None,
            Value::Str(s) => Some(read_int64(s)),
        }
    }

    /// As an address (casts to `SMP_T_ADDR`): strings go through HAProxy's `buf2ip` (a dotted
    /// quad, anything after it ignored: `10.0.0.1:80` is 10.0.0.1) then a strict IPv6 parse;
    /// integers are IPv4 addresses.
    pub(crate) fn to_ip(self) -> Option<IpAddr> {
        match self {
            Value::Ip(a) => Some(a),
            Value::Int(i) => Some(IpAddr::V4(Ipv4Addr::from(i as u32))),
            Value::Bool(_) => None,
            Value::Str(s) => buf2ip(s)
                .map(|(a, _)| IpAddr::V4(a))
                .or_else(|| parse_ipv6(s).map(IpAddr::V6)),
        }
    }

    /// Calls `f` with the value as bytes (casts to `SMP_T_STR`), formatting numbers and
    /// addresses on the stack.
    pub(crate) fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Value::Str(s) => f(s),
            Value::Bool(b) => f(if b { b"1" } else { b"0" }),
            Value::Int(i) => {
                let mut buf = [0u8; 20];
                f(fmt_int(i, &mut buf))
            }
            Value::Ip(IpAddr::V4(a)) => {
                let mut buf = [0u8; 15];
                f(fmt_ipv4(a, &mut buf))
            }
            Value::Ip(a) => {
                let mut buf = [0u8; 48];
                let n = fmt_into(&mut buf, format_args!("{a}"));
                f(&buf[..n])
            }
        }
    }

    /// The value cast to binary as HAProxy casts it (`balance hash`): bytes as they are, an
    /// integer or boolean as its 8 bytes in network order, an address as its 4 or 16 bytes.
    pub fn with_bin<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Value::Str(s) => f(s),
            Value::Bool(b) => f(&i64::from(b).to_be_bytes()),
            Value::Int(i) => f(&i.to_be_bytes()),
            Value::Ip(IpAddr::V4(a)) => f(&a.octets()),
            Value::Ip(IpAddr::V6(a)) => f(&a.octets()),
        }
    }

    /// Appends the value as text, the way log-format renders it.
    pub(crate) fn append_to(self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => out.extend_from_slice(s),
            Value::Bool(b) => out.push(if b { b'1' } else { b'0' }),
            Value::Int(i) => out.extend_from_slice(fmt_int(i, &mut [0u8; 20])),
            Value::Ip(IpAddr::V4(a)) => out.extend_from_slice(fmt_ipv4(a, &mut [0u8; 15])),
            Value::Ip(a) => {
                let _ = write!(out, "{a}");
            }
        }
    }
}

/// Decimal text of `i` in `buf` (20 bytes hold any i64), without `core::fmt`: ports and
/// counts are rendered on every request.
fn fmt_int(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Dotted-quad text of `a` in `buf`.
fn fmt_ipv4(a: Ipv4Addr, buf: &mut [u8; 15]) -> &[u8] {
    let mut len = 0;
    for (k, o) in a.octets().into_iter().enumerate() {
        if k > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if o >= 100 {
            buf[len] = b'0' + o / 100;
            len += 1;
        }
        if o >= 10 {
            buf[len] = b'0' + o / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + o % 10;
        len += 1;
    }
    &buf[..len]
}

/// Formats into a fixed buffer; the values formatted here always fit.
fn fmt_into(buf: &mut [u8], args: std::fmt::Arguments<'_>) -> usize {
    let total = buf.len();
    let mut cur: &mut [u8] = buf;
    let _ = cur.write_fmt(args);
    total - cur.len()
}

/// HAProxy's `read_int64`: optional `+`/`-`, then digits until the first non-digit; saturates
/// instead of wrapping.
pub(crate) fn read_int64(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        let d = (c - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

/// HAProxy's `strl2ic` (what `cook_val` and `res.cook_val` convert with): an optional `-`,
/// then bytes until one above `'9'`: a byte below `'0'` (a quote, a space) is not a stop but
/// adds its negative "digit" (`"` counts -14), as in HAProxy, whose `char` is signed; 32-bit,
/// wrapping.
pub(crate) fn strl2ic(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let mut v: i32 = 0;
    for &c in digits {
        let j = i32::from(c as i8) - i32::from(b'0');
        if j > 9 {
            break;
        }
        v = if neg {
            v.wrapping_mul(10).wrapping_sub(j)
        } else {
            v.wrapping_mul(10).wrapping_add(j)
        };
    }
    i64::from(v)
}

/// HAProxy's `buf2ip`: a dotted quad at the start of `s`, stopping at the first byte that is
/// neither a digit nor a dot; fails on an octet above 255, a misplaced dot or fewer than four
/// octets. Returns the address and the bytes used.
pub(crate) fn buf2ip(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u16; 4];
    let mut n = 0usize; // octets started
    let mut saw_digit = false;
    let mut used = 0;
    for &c in s {
        if c.is_ascii_digit() {
            if !saw_digit {
                n += 1;
                if n > 4 {
                    return None;
                }
                saw_digit = true;
            }
            let o = &mut octets[n - 1];
            *o = *o * 10 + (c - b'0') as u16;
            if *o > 255 {
                return None;
            }
        } else if c == b'.' {
            if !saw_digit || n == 4 {
                return None;
            }
            saw_digit = false;
        } else {
            break;
        }
        used += 1;
    }
    if n < 4 || !saw_digit {
        return None;
    }
    Some((
        Ipv4Addr::new(
            octets[0] as u8,
            octets[1] as u8,
            octets[2] as u8,
            octets[3] as u8,
        ),
        used,
    ))
}

/// A whole string as an IPv6 address (HAProxy uses `inet_pton(AF_INET6)`).
pub(crate) fn parse_ipv6(s: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// IPv4-mapped (`::ffff:a.b.c.d`) and 6to4 (`2002:AABB:CCDD::/16`) addresses carry an IPv4
/// address; HAProxy's `v6tov4` extracts it so IPv4 patterns match them.
pub(crate) fn v6tov4(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    let o = a.octets();
    if o[..10].iter().all(|&b| b == 0) && o[10] == 0xff && o[11] == 0xff {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if o[0] == 0x20 && o[1] == 0x02 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_from_strings() {
        assert_eq!(Value::Str(b"12abc").to_int(), Some(12));
        assert_eq!(Value::Str(b"-3x").to_int(), Some(-3));
        assert_eq!(Value::Str(b"abc").to_int(), Some(0));
        assert_eq!(Value::Str(b"").to_int(), None);
        assert_eq!(Value::Bool(true).to_int(), Some(1));
        assert_eq!(
            Value::Ip("10.0.0.1".parse().unwrap()).to_int(),
            Some(0x0a000001)
        );
        assert_eq!(Value::Ip("::1".parse().unwrap()).to_int(), None);
        assert_eq!(read_int64(b"99999999999999999999"), i64::MAX);
    }

    #[test]
    fn buf2ip_like_haproxy() {
        // HAProxy matched `hdr(y) -m ip 10.0.0.1` for "10.0.0.1:80" and "10.0.0.1x".
        assert_eq!(
            buf2ip(b"10.0.0.1:80"),
            Some(("10.0.0.1".parse().unwrap(), 8))
        );
        assert_eq!(buf2ip(b"10.0.0.1x").map(|x| x.0), "10.0.0.1".parse().ok());
        assert_eq!(buf2ip(b"12"), None);
        assert_eq!(buf2ip(b"1.2.3"), None);
        assert_eq!(buf2ip(b"1.2.3.256"), None);
        assert_eq!(buf2ip(b"1..2.3"), None);
        assert_eq!(buf2ip(b"1.2.3.4."), None);
        assert_eq!(buf2ip(b"1.2.3.4.5"), None);
        assert_eq!(
            Value::Str(b"::ffff:10.0.0.1").to_ip(),
            "::ffff:10.0.0.1".parse().ok()
        );
        assert_eq!(Value::Str(b"nope").to_ip(), None);
    }

    #[test]
    fn mapped_and_6to4() {
        let m: Ipv6Addr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(v6tov4(&m), Some(Ipv4Addr::new(10, 1, 2, 3)));
        let s: Ipv6Addr = "2002:a00:1::1".parse().unwrap();
        assert_eq!(v6tov4(&s), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(v6tov4(&"::1".parse().unwrap()), None);
    }

    #[test]
    fn fast_formatting_agrees_with_display() {
        for i in [0, 7, -7, 10, 443, 65535, -100, i64::MAX, i64::MIN, 1 << 40] {
            assert_eq!(fmt_int(i, &mut [0u8; 20]), i.to_string().as_bytes());
        }
        for a in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.168.100.9",
            "1.20.3.100",
        ] {
            let ip: Ipv4Addr = a.parse().unwrap();
            assert_eq!(fmt_ipv4(ip, &mut [0u8; 15]), a.as_bytes());
        }
    }

    #[test]
    fn bytes_of_values() {
        assert_eq!(Value::Int(-42).with_bytes(|b| b.to_vec()), b"-42");
        assert_eq!(Value::Bool(true).with_bytes(|b| b.to_vec()), b"1");
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(Value::Ip(a).with_bytes(|b| b.to_vec()), b"2001:db8::1");
        let mut out = Vec::new();
        Value::Int(443).append_to(&mut out);
        Value::Bool(false).append_to(&mut out);
        assert_eq!(out, b"4430");
    }
}
