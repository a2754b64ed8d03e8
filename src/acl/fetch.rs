//! Sample fetches and converters, shared by ACLs and log-format expressions.
//!
//! A fetch expression is `KEYWORD[(ARGS)][,CONVERTER[(ARGS)]]...`. Fetches deliver their
//! values through a callback, so that multi-valued fetches (`hdr`, `req.cook`, `url_param`)
//! borrow from the request without collecting anything. ACLs evaluate them in *iterate* mode
//! (every occurrence is tried until one matches), log-format in *single* mode, where HAProxy
//! picks one occurrence: the last for `hdr()`/`req.cook(NAME)`, the first for `url_param`.

use std::net::IpAddr;

use super::Sample;
use super::http;
use super::sample::{SmpType, Value, buf2ip, parse_ipv6, read_int64};

/// A backend named in `nbsrv(NAME)`, resolved to an index after the configuration is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendRef {
    /// The name as written, or the current proxy's name when `nbsrv` has no argument.
    pub name: Box<str>,
    /// Whether the name is the current proxy's (no argument): if that proxy is not a backend
    /// (a plain frontend), `nbsrv` is 0, as in HAProxy.
    pub current: bool,
    /// The index given by the resolver.
    pub index: Option<usize>,
}

/// A sample fetch with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetch {
    /// `always_true`.
    AlwaysTrue,
    /// `always_false`.
    AlwaysFalse,
    /// `stopping`: true while the process drains.
    Stopping,
    /// `int(N)`.
    Int(i64),
    /// `str(S)`.
    Str(Box<[u8]>),
    /// `bool(N)`: true if N is not 0.
    Bool(bool),
    /// `ipv4(A)`, `ipv6(A)`: a constant address.
    IpConst(std::net::IpAddr),
    /// `bin(HEX)`: constant bytes.
    Bin(Box<[u8]>),
    /// `meth(M)`: a constant method.
    Meth(Box<[u8]>),
    /// `fc_src`, `fc_src_port`, `fc_dst`, `fc_dst_port`: the client connection's addresses
    /// as `tcp-request connection` rules left them (`src` and `dst` are the stream's).
    FcSrc,
    FcSrcPort,
    FcDst,
    FcDstPort,
    /// `src`: client address.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: the address the client connected to.
    Dst,
    /// `dst_port`.
    DstPort,
    /// `ssl_fc`: the client connection is TLS.
    SslFc,
    /// `ssl_fc_sni`.
    SslFcSni,
    /// `ssl_fc_protocol`.
    SslFcProtocol,
    /// `ssl_fc_alpn`.
    SslFcAlpn,
    /// `fc_glitches`: the HTTP/2 connection's glitch score (nothing on other connections).
    FcGlitches,
    /// `fc_err`: HAProxy's code of the error that ended the client connection (0: none).
    FcErr,
    /// `fc_err_str`: its text (`Success` without one).
    FcErrStr,
    /// `ssl_fc_err`: the TLS library's error on the client connection (0: none).
    SslFcErr,
    /// `ssl_fc_is_resumed`: the client's TLS session was resumed.
    SslFcIsResumed,
    /// `ssl_fc_cipher`: the suite's OpenSSL name.
    SslFcCipher,
    /// `ssl_c_*`: the client certificate of a TLS connection terminated here.
    SslC(SslC),
    /// `req.proto_http`, `req_proto_http`: the request is HTTP.
    ProtoHttp,
    /// `method`.
    Method,
    /// `url`: the request-target as received.
    Url,
    /// `path`: the target's path, without the query (`None` for `*` and `http://h`).
    Path,
    /// `pathq`: the path with the query.
    PathQ,
    /// `query`: what follows the first `?`.
    Query,
    /// `base`: the first Host value followed by the path (or the path if no Host).
    Base,
    /// `req.ver`, `req_ver`: `1.0` or `1.1`.
    ReqVer,
    /// `req.body`: the request's body as far as it is in the buffer (decoded when chunked);
    /// whole only with `option http-buffer-request`.
    ReqBody,
    /// `req.body_len`: the length of what `req.body` gives.
    ReqBodyLen,
    /// `req.body_size`: the body's announced length (Content-Length), else what is here.
    ReqBodySize,
    /// `hdr(NAME[,OCC])`, `req.hdr`: comma-separated elements of the header. No argument
    /// (`hdr`) finds nothing; an empty name (`hdr()`) takes every header.
    Hdr {
        /// Header name, `None` without an argument.
        name: Option<Box<[u8]>>,
        /// Occurrence: 0 = all (ACL) or the last (single); N = Nth; -N = Nth from the end.
        occ: i64,
    },
    /// `req.fhdr(NAME[,OCC])`: full header values, not split at commas.
    Fhdr {
        /// Header name.
        name: Option<Box<[u8]>>,
        /// Occurrence, as for [`Fetch::Hdr`].
        occ: i64,
    },
    /// `hdr_cnt([NAME])`, `req.hdr_cnt`: number of elements (of every header without a name).
    HdrCnt(Option<Box<[u8]>>),
    /// `req.fhdr_cnt([NAME])`: number of fields.
    FhdrCnt(Option<Box<[u8]>>),
    /// `hdr_val(NAME[,OCC])`, `req.hdr_val`: elements as integers.
    HdrVal {
        /// Header name.
        name: Option<Box<[u8]>>,
        /// Occurrence.
        occ: i64,
    },
    /// `hdr_ip(NAME[,OCC])`, `req.hdr_ip`: elements that are addresses (IPv4 with an optional
    /// `:port`, or IPv6).
    HdrIp {
        /// Header name.
        name: Option<Box<[u8]>>,
        /// Occurrence.
        occ: i64,
    },
    /// `url_param([NAME[,DELIM]])`, `urlp`.
    UrlParam {
        /// Parameter name; empty means any.
        name: Box<[u8]>,
        /// Where the parameters start and what else separates them (`?`).
        delim: u8,
    },
    /// `urlp_val`: as an integer.
    UrlParamVal {
        /// Parameter name.
        name: Box<[u8]>,
        /// Delimiter.
        delim: u8,
    },
    /// `req.cook([NAME])`, `cook`, `cookie`.
    Cook(Box<[u8]>),
    /// `req.cook_cnt([NAME])`, `cook_cnt`.
    CookCnt(Box<[u8]>),
    /// `req.cook_val([NAME])`, `cook_val`.
    CookVal(Box<[u8]>),
    /// `nbsrv([BACKEND])`: usable servers.
    Nbsrv(BackendRef),
    /// `sc_*`, `scN_*`, `src_*`, `table_*`: stick-table counters (`super::stick`).
    Stick(super::stick::StickFetch),
    /// `req.len`, `req_len`: bytes buffered by content inspection.
    ReqLen,
    /// `res.len`, `res.payload(…)`, `res.payload_lv(…)`: the request-side fetch inside, on
    /// the server's first bytes held by `tcp-response content` inspection.
    Res(Box<Fetch>),
    /// `status`: the response's status code (after `set-status`).
    Status,
    /// `res.hdr`, `shdr`, `res.fhdr`, `res.hdr_cnt`, `res.hdr_val`, `res.hdr_ip`, `res.ver`
    /// (and their `shdr_*`/`resp_ver` aliases): the request-side fetch inside, on the
    /// response's fields and version as the rules left them so far.
    ResHttp(Box<Fetch>),
    /// `req.rdp_cookie([NAME])`: the RDP client's cookie value (any name without one).
    RdpCookie(Option<Box<[u8]>>),
    /// `req.rdp_cookie_cnt([NAME])`: 1 when the RDP cookie is there, else 0.
    RdpCookieCnt(Option<Box<[u8]>>),
    /// `req.payload(OFFSET,LENGTH)`: buffered bytes at a fixed place (LENGTH 0: to the end).
    Payload {
        /// Where the bytes start.
        offset: u64,
        /// How many (0: all that is there).
        length: u64,
    },
    /// `req.payload_lv(OFFSET1,LENGTH[,OFFSET2])`: bytes whose length is written in the
    /// buffer.
    PayloadLv {
        /// Where the length field is.
        offset: u64,
        /// Its size in bytes (big-endian).
        length: u64,
        /// Where the value starts.
        value_at: super::payload::LvOffset,
    },
    /// `var(SCOPE.NAME[,DEFAULT])`: a variable (`set-var`), with the type it was stored
    /// with; the default (a string) when it is not set.
    Var {
        /// The variable.
        var: super::vars::VarRef,
        /// What to return when it is not set.
        default: Option<Box<[u8]>>,
    },
    /// `req.ssl_sni`, `req_ssl_sni`: the SNI of a ClientHello not terminated here.
    ReqSslSni,
    /// `req.ssl_alpn`: the ALPN protocol names of that ClientHello.
    ReqSslAlpn,
    /// `req.ssl_hello_type`, `req_ssl_hello_type`: its handshake type (1: ClientHello).
    ReqSslHelloType,
    /// `req.ssl_ver`, `req_ssl_ver`: the version it asks for (`major << 16 | minor`).
    ReqSslVer,
    /// `wait_end`: true once content inspection has all it will get.
    WaitEnd,
    /// `capture.req.hdr(N)` / `capture.res.hdr(N)`: capture slot N of the request (false)
    /// or the response (true), as `%hr`/`%hs` show it.
    Capture(bool, usize),
    /// `unique-id`: the transaction's `unique-id-format` value.
    UniqueId,
    /// `http_auth(L)`: the request's Basic credentials are a user of L and its password.
    HttpAuth(super::auth::UserlistRef),
    /// `http_auth_group(L)`: as `http_auth`; an ACL then matches the user's groups, a
    /// log-format takes the user name.
    HttpAuthGroup(super::auth::UserlistRef),
    /// `http_auth_user`, `http_auth_pass`: the Basic credentials, unchecked.
    HttpAuthUser,
    HttpAuthPass,
    /// `http_auth_type`: `Basic` or `Bearer`.
    HttpAuthType,
    /// `date`, `env`, `uuid`, `req.hdrs`, `base32`… (`super::fetch_more`).
    More(super::fetch_more::More),
    /// `fe_name`, `be_id`, `srv_name`, `be_conn(B)`, `srv_is_up(B/S)`… (`super::fetch_px`).
    Px(super::fetch_px::Px),
}

/// The `ssl_c_*` fetches: what the client's certificate says (`bind … verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslC {
    /// `ssl_c_used`: the client presented a certificate.
    Used,
    /// `ssl_c_verify`: 0, or the OpenSSL code of the verification error let through.
    Verify,
    /// `ssl_c_s_dn(...)`: the subject's distinguished name or one of its entries.
    SubjectDn(crate::tls::client_auth::DnQuery),
    /// `ssl_c_i_dn(...)`: the issuer's.
    IssuerDn(crate::tls::client_auth::DnQuery),
    /// `ssl_c_serial` (binary).
    Serial,
    /// `ssl_c_sha1` (binary).
    Sha1,
    /// `ssl_c_der` (binary).
    Der,
    /// `ssl_c_notbefore`, `ssl_c_notafter`: `YYMMDDhhmmssZ`.
    NotBefore,
    NotAfter,
    /// `ssl_c_version`.
    Version,
    /// `ssl_c_err`: the first verification error let through on the client's own
    /// certificate (depth 0), 0 without one.
    Err,
    /// `ssl_c_ca_err`: the first one on a CA of its chain.
    CaErr,
}

impl SslC {
    fn parse(kw: &str, args: Option<&[&str]>) -> Option<Result<SslC, String>> {
        use crate::tls::client_auth::DnQuery;
        let plain = |c: SslC| match args {
            None => Ok(c),
            Some(_) => Err(format!("fetch method '{kw}' expects at most 0 argument(s)")),
        };
        Some(match kw {
            "ssl_c_used" => plain(SslC::Used),
            "ssl_c_verify" => plain(SslC::Verify),
            "ssl_c_serial" => plain(SslC::Serial),
            "ssl_c_sha1" => plain(SslC::Sha1),
            "ssl_c_der" => plain(SslC::Der),
            "ssl_c_notbefore" => plain(SslC::NotBefore),
            "ssl_c_notafter" => plain(SslC::NotAfter),
            "ssl_c_version" => plain(SslC::Version),
            "ssl_c_err" => plain(SslC::Err),
            "ssl_c_ca_err" => plain(SslC::CaErr),
            "ssl_c_s_dn" => DnQuery::parse(kw, args).map(SslC::SubjectDn),
            "ssl_c_i_dn" => DnQuery::parse(kw, args).map(SslC::IssuerDn),
            _ => return None,
        })
    }

    fn out_type(&self) -> SmpType {
        match self {
            SslC::Used => SmpType::Bool,
            SslC::Verify | SslC::Version | SslC::Err | SslC::CaErr => SmpType::Int,
            SslC::Serial | SslC::Sha1 | SslC::Der => SmpType::Bin,
            _ => SmpType::Str,
        }
    }

    /// As HAProxy: nothing on a connection that is not TLS; `ssl_c_used` false and
    /// `ssl_c_verify` 0 on one without a client certificate; the other fetches nothing.
    fn each(&self, s: &dyn Sample, f: &mut dyn FnMut(Value<'_>) -> bool) {
        if !s.ssl_fc() {
            return;
        }
        let cert = s.ssl_c();
        let Some(c) = cert else {
            match self {
                SslC::Used => f(Value::Bool(false)),
                SslC::Verify | SslC::Err | SslC::CaErr => f(Value::Int(0)),
                _ => true,
            };
            return;
        };
        let mut buf = Vec::new();
        match self {
            SslC::Used => f(Value::Bool(true)),
            SslC::Verify => f(Value::Int(c.verify)),
            SslC::Err => f(Value::Int(if c.ca_error { 0 } else { c.verify })),
            SslC::CaErr => f(Value::Int(if c.ca_error { c.verify } else { 0 })),
            SslC::Version => f(Value::Int(c.version)),
            SslC::Serial => f(Value::Str(&c.serial)),
            SslC::Sha1 => f(Value::Str(&c.sha1)),
            SslC::Der => f(Value::Str(&c.der)),
            SslC::NotBefore => f(Value::Str(c.not_before.as_bytes())),
            SslC::NotAfter => f(Value::Str(c.not_after.as_bytes())),
            SslC::SubjectDn(q) | SslC::IssuerDn(q) => {
                let dn = if matches!(self, SslC::SubjectDn(_)) {
                    &c.subject
                } else {
                    &c.issuer
                };
                q.render(dn, &mut buf) && f(Value::Str(&buf))
            }
        };
    }
}

/// Where in a connection's life a fetch has something to say (HAProxy's `SMP_USE_*`
/// families): rules that run earlier find nothing in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// Constants and process state: valid everywhere.
    Internal,
    /// Addresses: from `tcp-request connection` on.
    L4,
    /// The client's TLS session (terminated here): from `tcp-request session` on.
    L5,
    /// Buffered request bytes: from `tcp-request content` on.
    L6,
    /// The HTTP request: from `tcp-request content` on.
    L7,
}

pub use super::conv::Conv;

/// A fetch and its converters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchExpr {
    /// The fetch.
    pub fetch: Fetch,
    /// Converters, applied in order.
    pub convs: Vec<Conv>,
}

/// Every fetch keyword corelb knows, for "did you mean" and the docs.
pub(crate) const FETCH_KEYWORDS: &[&str] = &[
    "always_false",
    "always_true",
    "base",
    "bool",
    "cook",
    "cook_cnt",
    "capture.req.hdr",
    "capture.res.hdr",
    "cook_val",
    "cookie",
    "dst",
    "dst_port",
    "fc_dst",
    "fc_dst_port",
    "fc_src",
    "fc_src_port",
    "bin",
    "ipv4",
    "ipv6",
    "meth",
    "fc_glitches",
    "hdr",
    "hdr_cnt",
    "hdr_ip",
    "hdr_val",
    "http_auth",
    "http_auth_group",
    "http_auth_pass",
    "http_auth_type",
    "http_auth_user",
    "int",
    "method",
    "nbsrv",
    "path",
    "pathq",
    "query",
    "req.cook",
    "req.cook_cnt",
    "req.cook_val",
    "req.fhdr",
    "req.fhdr_cnt",
    "req.hdr",
    "req.hdr_cnt",
    "req.hdr_ip",
    "req.hdr_val",
    "req.len",
    "req.payload",
    "req.payload_lv",
    "req.rdp_cookie",
    "req.rdp_cookie_cnt",
    "req_rdp_cookie_cnt",
    "rdp_cookie",
    "rdp_cookie_cnt",
    "req.proto_http",
    "req.ssl_alpn",
    "req.ssl_hello_type",
    "req.ssl_sni",
    "req.ssl_ver",
    "res.body",
    "res.body_len",
    "res.body_size",
    "res.cook",
    "res.cook_cnt",
    "res.cook_val",
    "res.fhdr",
    "res.fhdr_cnt",
    "res.hdr",
    "res.hdr_cnt",
    "res.hdr_ip",
    "res.hdr_val",
    "res.len",
    "res.payload",
    "res.payload_lv",
    "res.ver",
    "resp_ver",
    "scook",
    "scook_cnt",
    "scook_val",
    "set-cookie",
    "shdr",
    "shdr_cnt",
    "shdr_ip",
    "shdr_val",
    "status",
    "req.ver",
    "req.body",
    "req.body_len",
    "req.body_size",
    "req_len",
    "req_proto_http",
    "req_ssl_hello_type",
    "req_ssl_sni",
    "req_ssl_ver",
    "req_ver",
    "src",
    "src_port",
    "fc_err",
    "fc_err_str",
    "ssl_fc",
    "ssl_fc_cipher",
    "ssl_fc_err",
    "ssl_fc_is_resumed",
    "ssl_fc_protocol",
    "ssl_fc_alpn",
    "ssl_fc_sni",
    "ssl_c_ca_err",
    "ssl_c_der",
    "ssl_c_err",
    "ssl_c_i_dn",
    "ssl_c_notafter",
    "ssl_c_notbefore",
    "ssl_c_s_dn",
    "ssl_c_serial",
    "ssl_c_sha1",
    "ssl_c_used",
    "ssl_c_verify",
    "ssl_c_version",
    "stopping",
    "str",
    "unique-id",
    "url",
    "url_param",
    "urlp",
    "urlp_val",
    "var",
    "wait_end",
];

/// Fetches HAProxy has that corelb knowingly does not implement, with the reason.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("req.ssl_cipherlist", "not implemented in corelb"),
    ("req.ssl_ec_ext", "not implemented in corelb"),
    ("req.ssl_st_ext", "not implemented in corelb"),
    ("fhdr", "HAProxy 2.6 has no 'fhdr'; use 'req.fhdr'"),
];

/// Splits `kw(args)rest` into the keyword, its arguments (`None` without parentheses) and
/// what follows the closing parenthesis.
pub(crate) fn split_call(s: &str) -> Result<(&str, Option<Vec<&str>>, &str), String> {
    let end = s.find(['(', ',']).unwrap_or(s.len());
    let kw = &s[..end];
    if s[end..].starts_with('(') {
        let close = s[end..]
            .find(')')
            .ok_or_else(|| format!("missing closing ')' after arguments to '{kw}'"))?
            + end;
        let inner = &s[end + 1..close];
        Ok((kw, Some(inner.split(',').collect()), &s[close + 1..]))
    } else {
        Ok((kw, None, &s[end..]))
    }
}

/// HAProxy's argument checks for fetches with `need..=max` integer arguments
/// (`make_arg_list`'s wording).
fn uint_args(kw: &str, args: Option<&[&str]>, need: usize, max: usize) -> Result<Vec<u64>, String> {
    let args = args.unwrap_or_default();
    if args.is_empty() {
        return Err(format!(
            "fetch method '{kw}' : expected type 'integer' at position 1, but got nothing"
        ));
    }
    if args.len() < need {
        return Err(format!(
            "fetch method '{kw}' : missing arguments (got {}/{need}), type 'integer' expected",
            args.len()
        ));
    }
    if args.len() > max {
        return Err(format!(
            "fetch method '{kw}' : end of arguments expected at position {}, but got '{}'",
            max + 1,
            args[max]
        ));
    }
    args[..need]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.trim().parse::<u64>().map_err(|_| {
                format!(
                    "fetch method '{kw}' : failed to parse '{a}' as type 'integer' at position {}",
                    i + 1
                )
            })
        })
        .collect()
}

/// `req.payload_lv(OFFSET1,LENGTH[,OFFSET2])` with HAProxy's `val_payload_lv` checks.
fn payload_lv(kw: &str, args: Option<&[&str]>) -> Result<Fetch, String> {
    use super::payload::LvOffset;
    let v = uint_args(kw, args, 2, 3)?;
    let (offset, length) = (v[0], v[1]);
    let invalid = |why: &str| format!("invalid args in fetch method '{kw}' : {why}");
    if length == 0 {
        return Err(invalid("payload length must be > 0"));
    }
    let value_at = match args.and_then(|a| a.get(2)).map(|a| a.trim()) {
        None | Some("") => LvOffset::AfterLength,
        Some(a) => {
            let n: i64 = a
                .strip_prefix('+')
                .unwrap_or(a)
                .parse()
                .map_err(|_| invalid("payload offset2 is not a number"))?;
            if offset as i64 + length as i64 + n < 0 {
                return Err(invalid("payload offset2 too negative"));
            }
            if a.starts_with(['+', '-']) {
                LvOffset::Relative(n)
            } else {
                LvOffset::Absolute(n)
            }
        }
    };
    Ok(Fetch::PayloadLv {
        offset,
        length,
        value_at,
    })
}

fn int_arg(kw: &str, a: &str) -> Result<i64, String> {
    a.trim()
        .parse::<i64>()
        .map_err(|_| format!("in argument to '{kw}', '{a}' is not an integer"))
}

impl FetchExpr {
    /// Parses `KEYWORD[(ARGS)][,CONV...]`. `proxy` is the current proxy's name, used by
    /// `nbsrv` without an argument.
    pub fn parse(s: &str, proxy: &str) -> Result<FetchExpr, String> {
        let (kw, args, rest) = split_call(s)?;
        let fetch = Fetch::parse(kw, args.as_deref(), proxy)?;
        let convs = parse_convs(kw, rest, fetch.out_type())?;
        Ok(FetchExpr { fetch, convs })
    }

    /// `balance hash EXPR`: `key` of the expression's value as binary (the first value, as
    /// a single fetch gives it); None when the sample is absent.
    pub fn hash_key(&self, s: &dyn Sample, key: impl Fn(&[u8]) -> u32) -> Option<u32> {
        let mut out = None;
        self.each(s, false, &mut |v| {
            out = Some(v.with_bin(&key));
            false
        });
        out
    }

    /// The type of the values delivered.
    pub(crate) fn out_type(&self) -> SmpType {
        super::conv::out_type(self.fetch.out_type(), &self.convs)
    }

    /// Calls `f` with each value: every occurrence if `iterate` (ACLs), else the one HAProxy
    /// picks for a single fetch. Stops when `f` returns false.
    pub fn each(&self, s: &dyn Sample, iterate: bool, f: &mut dyn FnMut(Value<'_>) -> bool) {
        self.each_checked(s, iterate, f);
    }

    /// [`each`](Self::each), returning whether more request bytes could change the answer
    /// (see [`Fetch::each_checked`]).
    pub(crate) fn each_checked(
        &self,
        s: &dyn Sample,
        iterate: bool,
        f: &mut dyn FnMut(Value<'_>) -> bool,
    ) -> bool {
        if self.convs.is_empty() {
            return self.fetch.each_checked(s, iterate, f);
        }
        if !self
            .convs
            .iter()
            .all(|c| matches!(c, Conv::Lower | Conv::Upper))
        {
            // The typed pipeline: each converter on an owned value, cast between stages.
            let bin = self.fetch.out_type() == SmpType::Bin;
            return self.fetch.each_checked(s, iterate, &mut |v| {
                match super::conv::run(&self.convs, v, bin, s) {
                    Some(out) => f(out.value()),
                    // A stage found nothing: so does the expression for this value.
                    None => true,
                }
            });
        }
        self.fetch.each_checked(s, iterate, &mut |v| {
            v.with_bytes(|b| {
                let mut stack = [0u8; 256];
                let mut heap;
                let buf: &mut [u8] = if b.len() <= stack.len() {
                    &mut stack[..b.len()]
                } else {
                    heap = b.to_vec();
                    &mut heap
                };
                buf.copy_from_slice(b);
                for c in &self.convs {
                    match c {
                        Conv::Lower => buf.make_ascii_lowercase(),
                        Conv::Upper => buf.make_ascii_uppercase(),
                        Conv::Typed(_) => unreachable!("typed converters take the path above"),
                    }
                }
                f(Value::Str(buf))
            })
        })
    }

    /// Resolves `nbsrv` backend names.
    pub(crate) fn resolve_backends(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<(), String> {
        super::conv::resolve(&mut self.convs, lookup)?;
        if let Fetch::Stick(st) = &mut self.fetch {
            return st.resolve(lookup);
        }
        if let Fetch::Px(p) = &mut self.fetch {
            return p.resolve(lookup);
        }
        if let Fetch::Nbsrv(b) = &mut self.fetch {
            b.index = lookup(&b.name);
            if b.index.is_none() && !b.current {
                return Err(format!(
                    "unable to find backend '{}' referenced in 'nbsrv'",
                    b.name
                ));
            }
        }
        Ok(())
    }
}

pub(crate) use super::conv::parse_convs;

/// Whether a rule or an ACL names the `unique-id` fetch (a log format's use does not
/// count: `LogFormat::parse_log` puts the flag back). Only then is a request's unique ID
/// made before its `http-request` rules, so that they can read it (HAProxy makes it at the
/// fetch's first use); otherwise it is made after them, where HAProxy's
/// `http_process_request` makes it. Never reset, as `bc_addrs_used`.
static UNIQUE_ID_USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// See [`UNIQUE_ID_USED`].
pub fn unique_id_used() -> bool {
    UNIQUE_ID_USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Puts [`UNIQUE_ID_USED`] back as it was before a log format was parsed.
pub(crate) fn set_unique_id_used(v: bool) {
    UNIQUE_ID_USED.store(v, std::sync::atomic::Ordering::Relaxed);
}

impl Fetch {
    pub(crate) fn parse(kw: &str, args: Option<&[&str]>, proxy: &str) -> Result<Fetch, String> {
        let n = args.map_or(0, |a| a.len());
        let arg = |i: usize| args.and_then(|a| a.get(i).copied());
        let name = |i: usize| arg(i).map(|s| s.as_bytes().into());
        let max_args = |m: usize| -> Result<(), String> {
            // "kw()" is one empty argument.
            if n > m && !(m == 0 && args == Some(&[""][..])) {
                return Err(format!(
                    "fetch method '{kw}' expects at most {m} argument(s)"
                ));
            }
            Ok(())
        };
        let occ = || -> Result<i64, String> {
            match arg(1) {
                None | Some("") => Ok(0),
                Some(a) => {
                    let o = int_arg(kw, a)?;
                    if o < -10 {
                        return Err(format!(
                            "in argument to '{kw}', header occurrence must be >= -10"
                        ));
                    }
                    Ok(o)
                }
            }
        };
        let plain = |f: Fetch| -> Result<Fetch, String> {
            max_args(0)?;
            Ok(f)
        };
        let name_or_empty = || -> Box<[u8]> { name(0).unwrap_or_default() };
        Ok(match kw {
            "always_true" => plain(Fetch::AlwaysTrue)?,
            "always_false" => plain(Fetch::AlwaysFalse)?,
            "stopping" => plain(Fetch::Stopping)?,
            "src" => plain(Fetch::Src)?,
            "src_port" => plain(Fetch::SrcPort)?,
            "dst" => plain(Fetch::Dst)?,
            "dst_port" => plain(Fetch::DstPort)?,
            "fc_src" => plain(Fetch::FcSrc)?,
            "fc_src_port" => plain(Fetch::FcSrcPort)?,
            "fc_dst" => plain(Fetch::FcDst)?,
            "fc_dst_port" => plain(Fetch::FcDstPort)?,
            "ipv4" | "ipv6" => {
                max_args(1)?;
                let a = arg(0).unwrap_or_default();
                let ip = if kw == "ipv4" {
                    a.parse::<std::net::Ipv4Addr>()
                        .map(std::net::IpAddr::V4)
                        .ok()
                } else {
                    a.parse::<std::net::Ipv6Addr>()
                        .map(std::net::IpAddr::V6)
                        .ok()
                };
                Fetch::IpConst(
                    ip.ok_or_else(|| format!("fetch method '{kw}' : invalid {kw} address '{a}'"))?,
                )
            }
            "bin" => {
                max_args(1)?;
                let a = arg(0).unwrap_or_default();
                let hex = a.as_bytes();
                let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                let bytes: Option<Vec<u8>> = (hex.len() % 2 == 0)
                    .then(|| {
                        hex.chunks(2)
                            .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
                            .collect()
                    })
                    .flatten();
                Fetch::Bin(
                    bytes
                        .ok_or_else(|| format!("fetch method 'bin' : invalid hexadecimal '{a}'"))?
                        .into(),
                )
            }
            "meth" => {
                max_args(1)?;
                let m = name(0)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| "fetch method 'meth' expects a method argument".to_string())?;
                Fetch::Meth(m)
            }
            "ssl_fc" => plain(Fetch::SslFc)?,
            "ssl_fc_sni" => plain(Fetch::SslFcSni)?,
            "ssl_fc_protocol" => plain(Fetch::SslFcProtocol)?,
            "ssl_fc_alpn" => plain(Fetch::SslFcAlpn)?,
            "fc_glitches" => plain(Fetch::FcGlitches)?,
            "fc_err" => plain(Fetch::FcErr)?,
            "fc_err_str" => plain(Fetch::FcErrStr)?,
            "ssl_fc_err" => plain(Fetch::SslFcErr)?,
            "ssl_fc_is_resumed" => plain(Fetch::SslFcIsResumed)?,
            "ssl_fc_cipher" => plain(Fetch::SslFcCipher)?,
            "req.proto_http" | "req_proto_http" => plain(Fetch::ProtoHttp)?,
            "method" => plain(Fetch::Method)?,
            "url" => plain(Fetch::Url)?,
            "path" => plain(Fetch::Path)?,
            "pathq" => plain(Fetch::PathQ)?,
            "query" => plain(Fetch::Query)?,
            "base" => plain(Fetch::Base)?,
            "req.ver" | "req_ver" => plain(Fetch::ReqVer)?,
            "req.body" => plain(Fetch::ReqBody)?,
            "req.body_len" => plain(Fetch::ReqBodyLen)?,
            "req.body_size" => plain(Fetch::ReqBodySize)?,
            "int" | "bool" => {
                max_args(1)?;
                let v = int_arg(
                    kw,
                    arg(0).ok_or_else(|| {
                        format!("fetch method '{kw}' expects an integer argument")
                    })?,
                )?;
                if kw == "int" {
                    Fetch::Int(v)
                } else {
                    Fetch::Bool(v != 0)
                }
            }
            "str" => {
                max_args(1)?;
                Fetch::Str(
                    name(0).ok_or_else(|| {
                        "fetch method 'str' expects a string argument".to_string()
                    })?,
                )
            }
            "var" => {
                max_args(2)?;
                let v = arg(0).filter(|a| !a.is_empty()).ok_or_else(|| {
                    format!("fetch method '{kw}' : expected type 'string' at position 1, but got nothing")
                })?;
                Fetch::Var {
                    var: super::vars::VarRef::parse(v)?,
                    default: name(1),
                }
            }
            "status" => plain(Fetch::Status)?,
            "res.ver" | "resp_ver" => Fetch::ResHttp(Box::new(plain(Fetch::ReqVer)?)),
            // What of the response's body is in the buffer when the rules run (HAProxy 2.6
            // has no way to wait for it on the response side either).
            "res.body" => Fetch::ResHttp(Box::new(plain(Fetch::ReqBody)?)),
            "res.body_len" => Fetch::ResHttp(Box::new(plain(Fetch::ReqBodyLen)?)),
            "res.body_size" => Fetch::ResHttp(Box::new(plain(Fetch::ReqBodySize)?)),
            "res.hdr" | "shdr" | "res.fhdr" | "res.hdr_val" | "shdr_val" | "res.hdr_ip"
            | "shdr_ip" => {
                max_args(2)?;
                let (name, occ) = (name(0), occ()?);
                Fetch::ResHttp(Box::new(match kw {
                    "res.hdr" | "shdr" => Fetch::Hdr { name, occ },
                    "res.fhdr" => Fetch::Fhdr { name, occ },
                    "res.hdr_val" | "shdr_val" => Fetch::HdrVal { name, occ },
                    _ => Fetch::HdrIp { name, occ },
                }))
            }
            "capture.res.ver" => Fetch::ResHttp(Box::new(Fetch::More(
                super::fetch_more::parse("capture.req.ver", args)
                    .expect("a fetch_more keyword")
                    .map_err(|e| e.replace("capture.req.ver", kw))?,
            ))),
            "res.hdrs" | "res.hdr_names" => {
                let req = kw.replacen("res.", "req.", 1);
                let m = super::fetch_more::parse(&req, args)
                    .expect("a fetch_more keyword")
                    .map_err(|e| e.replace(&req, kw))?;
                Fetch::ResHttp(Box::new(Fetch::More(m)))
            }
            "res.hdr_cnt" | "shdr_cnt" => {
                max_args(1)?;
                Fetch::ResHttp(Box::new(Fetch::HdrCnt(name(0))))
            }
            "res.fhdr_cnt" => {
                max_args(1)?;
                Fetch::ResHttp(Box::new(Fetch::FhdrCnt(name(0))))
            }
            // The response's Set-Cookie fields: the same fetches as the request's, reading
            // through `Sample::response` (whose `is_response` makes them read Set-Cookie).
            "res.cook" | "scook" | "set-cookie" => {
                max_args(1)?;
                Fetch::ResHttp(Box::new(Fetch::Cook(name_or_empty())))
            }
            "res.cook_cnt" | "scook_cnt" => {
                max_args(1)?;
                Fetch::ResHttp(Box::new(Fetch::CookCnt(name_or_empty())))
            }
            "res.cook_val" | "scook_val" => {
                max_args(1)?;
                Fetch::ResHttp(Box::new(Fetch::CookVal(name_or_empty())))
            }
            "hdr" | "req.hdr" => {
                max_args(2)?;
                Fetch::Hdr {
                    name: name(0),
                    occ: occ()?,
                }
            }
            "req.fhdr" => {
                max_args(2)?;
                Fetch::Fhdr {
                    name: name(0),
                    occ: occ()?,
                }
            }
            "hdr_cnt" | "req.hdr_cnt" => {
                max_args(1)?;
                Fetch::HdrCnt(name(0))
            }
            "req.fhdr_cnt" => {
                max_args(1)?;
                Fetch::FhdrCnt(name(0))
            }
            "hdr_val" | "req.hdr_val" => {
                max_args(2)?;
                Fetch::HdrVal {
                    name: name(0),
                    occ: occ()?,
                }
            }
            "hdr_ip" | "req.hdr_ip" => {
                max_args(2)?;
                Fetch::HdrIp {
                    name: name(0),
                    occ: occ()?,
                }
            }
            "url_param" | "urlp" | "urlp_val" => {
                max_args(2)?;
                // HAProxy takes the first character of the delimiter argument; an empty one
                // is a NUL that never occurs, so nothing is found.
                let delim = match arg(1) {
                    None => b'?',
                    Some(d) => d.bytes().next().unwrap_or(0),
                };
                if kw == "urlp_val" {
                    Fetch::UrlParamVal {
                        name: name_or_empty(),
                        delim,
                    }
                } else {
                    Fetch::UrlParam {
                        name: name_or_empty(),
                        delim,
                    }
                }
            }
            "cook" | "req.cook" | "cookie" => {
                max_args(1)?;
                Fetch::Cook(name_or_empty())
            }
            "cook_cnt" | "req.cook_cnt" => {
                max_args(1)?;
                Fetch::CookCnt(name_or_empty())
            }
            "cook_val" | "req.cook_val" => {
                max_args(1)?;
                Fetch::CookVal(name_or_empty())
            }
            "req.len" | "req_len" => plain(Fetch::ReqLen)?,
            "req.ssl_sni" | "req_ssl_sni" => plain(Fetch::ReqSslSni)?,
            "req.ssl_alpn" => plain(Fetch::ReqSslAlpn)?,
            "req.ssl_hello_type" | "req_ssl_hello_type" => plain(Fetch::ReqSslHelloType)?,
            "req.ssl_ver" | "req_ssl_ver" => plain(Fetch::ReqSslVer)?,
            "wait_end" => plain(Fetch::WaitEnd)?,
            "unique-id" => {
                UNIQUE_ID_USED.store(true, std::sync::atomic::Ordering::Relaxed);
                plain(Fetch::UniqueId)?
            }
            "capture.req.hdr" | "capture.res.hdr" => {
                let [n] = uint_args(kw, args, 1, 1)?[..] else {
                    unreachable!("one argument checked")
                };
                Fetch::Capture(kw == "capture.res.hdr", n as usize)
            }
            "req.payload" | "payload" => {
                let [offset, length] = uint_args(kw, args, 2, 2)?[..] else {
                    unreachable!("two arguments checked")
                };
                Fetch::Payload { offset, length }
            }
            "req.payload_lv" | "payload_lv" => payload_lv(kw, args)?,
            "req.rdp_cookie" | "rdp_cookie" => {
                max_args(1)?;
                Fetch::RdpCookie(name(0).filter(|n| !n.is_empty()))
            }
            "req.rdp_cookie_cnt" | "req_rdp_cookie_cnt" | "rdp_cookie_cnt" => {
                max_args(1)?;
                Fetch::RdpCookieCnt(name(0).filter(|n| !n.is_empty()))
            }
            "res.len" => Fetch::Res(Box::new(plain(Fetch::ReqLen)?)),
            "res.payload" => {
                let [offset, length] = uint_args(kw, args, 2, 2)?[..] else {
                    unreachable!("two arguments checked")
                };
                Fetch::Res(Box::new(Fetch::Payload { offset, length }))
            }
            "res.payload_lv" => Fetch::Res(Box::new(payload_lv(kw, args)?)),
            "http_auth" | "http_auth_group" => {
                max_args(1)?;
                let l = arg(0).filter(|a| !a.is_empty()).ok_or_else(|| {
                    format!("fetch method '{kw}' : expected type 'user list' at position 1, but got nothing")
                })?;
                let r = super::auth::UserlistRef::new(l);
                if kw == "http_auth" {
                    Fetch::HttpAuth(r)
                } else {
                    Fetch::HttpAuthGroup(r)
                }
            }
            "http_auth_user" => plain(Fetch::HttpAuthUser)?,
            "http_auth_pass" => plain(Fetch::HttpAuthPass)?,
            "http_auth_type" => plain(Fetch::HttpAuthType)?,
            "nbsrv" => {
                max_args(1)?;
                match arg(0) {
                    Some(b) if !b.is_empty() => Fetch::Nbsrv(BackendRef {
                        name: b.into(),
                        current: false,
                        index: None,
                    }),
                    _ => Fetch::Nbsrv(BackendRef {
                        name: proxy.into(),
                        current: true,
                        index: None,
                    }),
                }
            }
            _ => {
                if let Some(c) = SslC::parse(kw, args) {
                    return c.map(Fetch::SslC);
                }
                if let Some(m) = super::fetch_more::parse(kw, args) {
                    return m.map(Fetch::More);
                }
                if let Some(p) = super::fetch_px::parse(kw, args, proxy) {
                    return p.map(Fetch::Px);
                }
                if let Some(f) = super::stick::parse(kw, args, proxy)? {
                    return Ok(Fetch::Stick(f));
                }
                if let Some(why) = UNSUPPORTED
                    .iter()
                    .find(|(k, _)| *k == kw)
                    .map(|(_, w)| *w)
                    .or_else(|| super::fetch_more::unsupported(kw))
                {
                    return Err(format!("fetch method '{kw}' is not supported: {why}"));
                }
                return Err(format!(
                    "unknown fetch method '{kw}'{}",
                    super::did_you_mean(
                        kw,
                        FETCH_KEYWORDS
                            .iter()
                            .chain(super::fetch_more::KEYWORDS)
                            .chain(super::fetch_px::KEYWORDS)
                            .copied()
                    )
                ));
            }
        })
    }

    pub(crate) fn out_type(&self) -> SmpType {
        match self {
            Fetch::AlwaysTrue
            | Fetch::AlwaysFalse
            | Fetch::Stopping
            | Fetch::Bool(_)
            | Fetch::SslFc
            | Fetch::SslFcIsResumed
            | Fetch::HttpAuth(_)
            | Fetch::ProtoHttp => SmpType::Bool,
            Fetch::Int(_)
            | Fetch::SrcPort
            | Fetch::DstPort
            | Fetch::FcSrcPort
            | Fetch::FcDstPort
            | Fetch::HdrCnt(_)
            | Fetch::FhdrCnt(_)
            | Fetch::HdrVal { .. }
            | Fetch::UrlParamVal { .. }
            | Fetch::CookCnt(_)
            | Fetch::CookVal(_)
            | Fetch::Nbsrv(_) => SmpType::Int,
            Fetch::ReqLen | Fetch::ReqSslHelloType | Fetch::ReqSslVer => SmpType::Int,
            Fetch::ReqBodyLen | Fetch::ReqBodySize => SmpType::Int,
            Fetch::ReqBody => SmpType::Bin,
            Fetch::FcErr | Fetch::SslFcErr => SmpType::Int,
            Fetch::WaitEnd => SmpType::Bool,
            Fetch::Payload { .. } | Fetch::PayloadLv { .. } => SmpType::Bin,
            Fetch::RdpCookie(_) => SmpType::Str,
            Fetch::RdpCookieCnt(_) => SmpType::Int,
            Fetch::Res(f) | Fetch::ResHttp(f) => f.out_type(),
            Fetch::Status => SmpType::Int,
            Fetch::Src | Fetch::Dst | Fetch::HdrIp { .. } => SmpType::Ip,
            Fetch::FcSrc | Fetch::FcDst | Fetch::IpConst(_) => SmpType::Ip,
            Fetch::Bin(_) => SmpType::Bin,
            Fetch::Method | Fetch::Meth(_) => SmpType::Meth,
            Fetch::Stick(f) => f.out_type(),
            Fetch::SslC(c) => c.out_type(),
            Fetch::Var { .. } => SmpType::Any,
            Fetch::More(m) => m.out_type(),
            Fetch::Px(p) => p.out_type(),
            _ => SmpType::Str,
        }
    }

    /// Where in a connection's life this fetch finds something.
    pub fn layer(&self) -> Layer {
        match self {
            Fetch::AlwaysTrue
            | Fetch::AlwaysFalse
            | Fetch::Stopping
            | Fetch::Int(_)
            | Fetch::Str(_)
            | Fetch::Bool(_)
            | Fetch::IpConst(_)
            | Fetch::Bin(_)
            | Fetch::Meth(_)
            | Fetch::Nbsrv(_)
            | Fetch::Var { .. }
            | Fetch::Capture(..)
            | Fetch::UniqueId
            | Fetch::WaitEnd => Layer::Internal,
            Fetch::Src
            | Fetch::SrcPort
            | Fetch::Dst
            | Fetch::DstPort
            | Fetch::FcSrc
            | Fetch::FcSrcPort
            | Fetch::FcDst
            | Fetch::FcDstPort
            | Fetch::FcErr
            | Fetch::FcErrStr => Layer::L4,
            Fetch::SslFc
            | Fetch::SslFcSni
            | Fetch::SslFcProtocol
            | Fetch::SslFcErr
            | Fetch::SslFcIsResumed
            | Fetch::SslFcCipher
            | Fetch::SslC(_) => Layer::L5,
            Fetch::ReqLen
            | Fetch::Res(_)
            | Fetch::Payload { .. }
            | Fetch::PayloadLv { .. }
            | Fetch::RdpCookie(_)
            | Fetch::RdpCookieCnt(_)
            | Fetch::ReqSslSni
            | Fetch::ReqSslAlpn
            | Fetch::ReqSslHelloType
            | Fetch::ReqSslVer => Layer::L6,
            Fetch::More(m) => m.layer(),
            Fetch::Px(p) => p.layer(),
            _ => Layer::L7,
        }
    }

    /// Like [`each`](Self::each), and says whether more request bytes could change the
    /// answer (HAProxy's `SMP_F_MAY_CHANGE` before the inspection is final): a layer-6 fetch
    /// that wants more bytes, `req.len`, or a layer-7 one while the buffered HTTP head is
    /// incomplete.
    pub(crate) fn each_checked(
        &self,
        s: &dyn Sample,
        iterate: bool,
        f: &mut dyn FnMut(Value<'_>) -> bool,
    ) -> bool {
        let Some(c) = s.content() else {
            self.each(s, iterate, f);
            return false;
        };
        let may_change = match self.layer() {
            Layer::L6 => self.each_content(c, iterate, f),
            Layer::L7 => {
                self.each(s, iterate, f);
                c.http_pending
            }
            _ if *self == Fetch::WaitEnd => {
                if c.last {
                    f(Value::Bool(true));
                }
                true
            }
            _ => {
                self.each(s, iterate, f);
                false
            }
        };
        may_change && !c.last
    }

    /// The layer-6 fetches over the buffered bytes; true if the answer may change.
    fn each_content(
        &self,
        c: super::Content<'_>,
        iterate: bool,
        f: &mut dyn FnMut(Value<'_>) -> bool,
    ) -> bool {
        use super::payload::{self as p, L6};
        // The request's fetches read the client's bytes, `res.*` the server's.
        let (fetch, response) = match self {
            Fetch::Res(inner) => (&**inner, true),
            other => (other, false),
        };
        if response != c.response {
            return false;
        }
        if let Some(n) = c.htx_len {
            // HAProxy 2.6's `smp_fetch_len` on an HTX stream; the payload fetches read no
            // raw bytes there.
            if matches!(fetch, Fetch::ReqLen) {
                f(Value::Int(n));
                // May change (before the answer came; the caller masks it once it is here).
                return true;
            }
            return false;
        }
        let (data, last) = (c.data, c.last);
        let int = |r: L6<i64>, f: &mut dyn FnMut(Value<'_>) -> bool| match r {
            L6::Found(v) => {
                f(Value::Int(v));
                false
            }
            L6::Partial(v) => {
                f(Value::Int(v));
                true
            }
            L6::NotFound => false,
            L6::TooShort => true,
        };
        let bytes = |r: L6<&[u8]>, f: &mut dyn FnMut(Value<'_>) -> bool| match r {
            L6::Found(v) => {
                f(Value::Str(v));
                false
            }
            L6::Partial(v) => {
                f(Value::Str(v));
                // `req.payload(o,0)` grows until the client is done.
                !last
            }
            L6::NotFound => false,
            L6::TooShort => true,
        };
        match fetch {
            Fetch::ReqLen => int(p::len(data), f),
            Fetch::ReqSslHelloType => int(p::ssl_hello_type(data), f),
            Fetch::ReqSslVer => int(p::ssl_ver(data), f),
            Fetch::ReqSslSni => bytes(p::ssl_sni(data), f),
            Fetch::Payload { offset, length } => bytes(p::payload(data, *offset, *length), f),
            Fetch::RdpCookie(n) => bytes(p::rdp_cookie(data, n.as_deref()), f),
            Fetch::RdpCookieCnt(n) => int(p::rdp_cookie_cnt(data, n.as_deref()), f),
            Fetch::PayloadLv {
                offset,
                length,
                value_at,
            } => bytes(p::payload_lv(data, *offset, *length, *value_at), f),
            Fetch::ReqSslAlpn => match p::ssl_alpn(data) {
                L6::Found(ext) | L6::Partial(ext) => {
                    // ACLs try every name; a single fetch takes the first.
                    p::alpn_names(ext, &mut |n| f(Value::Str(n)) && iterate);
                    false
                }
                L6::NotFound => false,
                L6::TooShort => true,
            },
            _ => false,
        }
    }

    /// The `http_auth*` fetches. Only `http_auth` and `http_auth_group` verify a password
    /// (a crypt hash is slow: it is computed only when a condition gets to this fetch).
    fn each_auth(&self, s: &dyn Sample, iterate: bool, f: &mut dyn FnMut(Value<'_>) -> bool) {
        use super::auth::{Credentials, authenticated, credentials};
        match self {
            // No (or unreadable) credentials: no value; else whether they are valid.
            Fetch::HttpAuth(r) if credentials(s).is_some() => {
                f(Value::Bool(authenticated(r, s).is_some()));
            }
            // HAProxy's `pat_match_auth`: an ACL matches the authenticated user's groups.
            Fetch::HttpAuthGroup(r) => {
                if let Some(u) = authenticated(r, s) {
                    if iterate {
                        for g in &u.groups {
                            if !f(Value::Str(g.as_bytes())) {
                                break;
                            }
                        }
                    } else {
                        f(Value::Str(u.name.as_bytes()));
                    }
                }
            }
            Fetch::HttpAuthUser | Fetch::HttpAuthPass => {
                if let Some(Credentials::Basic(u, p)) = credentials(s) {
                    f(Value::Str(if *self == Fetch::HttpAuthUser {
                        &u
                    } else {
                        &p
                    }));
                }
            }
            Fetch::HttpAuthType => match credentials(s) {
                Some(Credentials::Basic(..)) => {
                    f(Value::Str(b"Basic"));
                }
                Some(Credentials::Bearer) => {
                    f(Value::Str(b"Bearer"));
                }
                None => {}
            },
            _ => {}
        }
    }

    /// `req.body`, `req.body_len`, `req.body_size` over `raw`, what of the body (as `kind`
    /// frames it) is in the buffer.
    fn each_body(
        &self,
        raw: &[u8],
        kind: crate::h1::BodyKind,
        f: &mut dyn FnMut(Value<'_>) -> bool,
    ) {
        use crate::h1::BodyKind;
        let decoded;
        let (data, announced) = match kind {
            BodyKind::None => (&[][..], Some(0)),
            BodyKind::ContentLength(n) => (&raw[..raw.len().min(n as usize)], Some(n)),
            BodyKind::Chunked => {
                decoded = http::dechunk(raw);
                (&decoded[..], None)
            }
            // A response that ends when its server closes: what is here.
            BodyKind::CloseDelimited => (raw, None),
            _ => return,
        };
        f(match self {
            Fetch::ReqBody => Value::Str(data),
            Fetch::ReqBodyLen => Value::Int(data.len() as i64),
            _ => Value::Int(announced.map_or(data.len() as i64, |n| n as i64)),
        });
    }

    fn each(&self, s: &dyn Sample, iterate: bool, f: &mut dyn FnMut(Value<'_>) -> bool) {
        let one = |f: &mut dyn FnMut(Value<'_>) -> bool, v: Option<Value<'_>>| {
            if let Some(v) = v {
                f(v);
            }
        };
        match self {
            Fetch::AlwaysTrue => one(f, Some(Value::Bool(true))),
            Fetch::AlwaysFalse => one(f, Some(Value::Bool(false))),
            Fetch::Stopping => one(f, Some(Value::Bool(s.stopping()))),
            Fetch::Int(i) => one(f, Some(Value::Int(*i))),
            Fetch::Str(v) => one(f, Some(Value::Str(v))),
            Fetch::Var { var, default } => s.vars().with(var, |v| {
                one(f, v.or(default.as_deref().map(Value::Str)));
            }),
            Fetch::Bool(b) => one(f, Some(Value::Bool(*b))),
            Fetch::IpConst(ip) => one(f, Some(Value::Ip(*ip))),
            Fetch::Bin(v) | Fetch::Meth(v) => one(f, Some(Value::Str(v))),
            Fetch::FcSrc => one(f, s.fc_src().map(|a| Value::Ip(a.ip()))),
            Fetch::FcSrcPort => one(f, s.fc_src().map(|a| Value::Int(a.port() as i64))),
            Fetch::FcDst => one(f, s.fc_dst().map(|a| Value::Ip(a.ip()))),
            Fetch::FcDstPort => one(f, s.fc_dst().map(|a| Value::Int(a.port() as i64))),
            Fetch::Src => one(f, s.src().map(|a| Value::Ip(a.ip()))),
            Fetch::SrcPort => one(f, s.src().map(|a| Value::Int(a.port() as i64))),
            Fetch::Dst => one(f, s.dst().map(|a| Value::Ip(a.ip()))),
            Fetch::DstPort => one(f, s.dst().map(|a| Value::Int(a.port() as i64))),
            Fetch::SslFc => one(f, Some(Value::Bool(s.ssl_fc()))),
            Fetch::SslFcSni => one(f, s.ssl_fc_sni().map(Value::Str)),
            Fetch::SslFcProtocol => one(f, s.ssl_fc_protocol().map(Value::Str)),
            Fetch::SslFcAlpn => one(f, s.ssl_fc_alpn().map(Value::Str)),
            Fetch::FcGlitches => one(f, s.fc_glitches().map(|g| Value::Int(i64::from(g)))),
            Fetch::FcErr => one(f, Some(Value::Int(s.fc_err().0))),
            Fetch::FcErrStr => one(f, Some(Value::Str(s.fc_err().1.as_bytes()))),
            // The error of a handshake that failed is the TLS library's own (OpenSSL's
            // packed codes in HAProxy); a connection that carries a stream has none.
            Fetch::SslFcErr => one(f, s.ssl_fc().then_some(Value::Int(0))),
            // HAProxy answers false on a connection that is not TLS.
            Fetch::SslFcIsResumed => {
                one(f, Some(Value::Bool(s.ssl_fc_is_resumed().unwrap_or(false))))
            }
            Fetch::SslFcCipher => one(f, s.ssl_fc_cipher().map(Value::Str)),
            Fetch::SslC(c) => c.each(s, f),
            Fetch::ProtoHttp => one(f, s.url().map(|_| Value::Bool(true))),
            Fetch::Method => one(f, s.method().map(Value::Str)),
            Fetch::Url => one(f, s.url().map(Value::Str)),
            Fetch::Path => one(f, s.url().and_then(http::path).map(Value::Str)),
            Fetch::PathQ => one(f, s.url().and_then(http::uri_path).map(Value::Str)),
            Fetch::Query => one(f, s.url().and_then(http::query).map(Value::Str)),
            Fetch::ReqVer => one(f, s.version().map(Value::Str)),
            Fetch::ReqBody | Fetch::ReqBodyLen | Fetch::ReqBodySize => {
                if let Some((raw, kind)) = s.body() {
                    self.each_body(raw, kind, f);
                }
            }
            Fetch::Base => base(s, f),
            Fetch::Status => one(f, s.status().map(|c| Value::Int(i64::from(c)))),
            Fetch::ResHttp(inner) => {
                if let Some(r) = s.response() {
                    inner.each(r, iterate, f);
                }
            }
            Fetch::HttpAuth(_)
            | Fetch::HttpAuthGroup(_)
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass
            | Fetch::HttpAuthType => self.each_auth(s, iterate, f),
            Fetch::Hdr { name, occ } => {
                let Some(name) = name else { return };
                occurrences(
                    iterate,
                    *occ,
                    &|g| http::for_each_header_element(s, name, g),
                    &mut |b| f(Value::Str(b)),
                );
            }
            Fetch::Fhdr { name, occ } => {
                let Some(name) = name else { return };
                occurrences(iterate, *occ, &|g| s.for_each_header(name, g), &mut |b| {
                    f(Value::Str(b))
                });
            }
            Fetch::HdrVal { name, occ } => {
                let Some(name) = name else { return };
                occurrences(
                    iterate,
                    *occ,
                    &|g| http::for_each_header_element(s, name, g),
                    &mut |b| f(Value::Int(read_int64(b))),
                );
            }
            Fetch::HdrIp { name, occ } => {
                let Some(name) = name else { return };
                // smp_fetch_hdr_ip: in iterate mode, values that are not addresses are
                // skipped; a single fetch whose occurrence is not an address finds nothing.
                occurrences(
                    iterate,
                    *occ,
                    &|g| http::for_each_header_element(s, name, g),
                    &mut |b| match header_ip(b) {
                        Some(a) => f(Value::Ip(a)),
                        None => true,
                    },
                );
            }
            Fetch::HdrCnt(name) => {
                if s.url().is_none() {
                    return;
                }
                let mut n = 0;
                let name: &[u8] = name.as_deref().unwrap_or_default();
                http::for_each_header_element(s, name, &mut |_| {
                    n += 1;
                    true
                });
                f(Value::Int(n));
            }
            Fetch::FhdrCnt(name) => {
                if s.url().is_none() {
                    return;
                }
                let mut n = 0;
                let name: &[u8] = name.as_deref().unwrap_or_default();
                s.for_each_header(name, &mut |_| {
                    n += 1;
                    true
                });
                f(Value::Int(n));
            }
            Fetch::UrlParam { name, delim } | Fetch::UrlParamVal { name, delim } => {
                let Some(url) = s.url() else { return };
                let as_int = matches!(self, Fetch::UrlParamVal { .. });
                // A single fetch takes the first occurrence.
                http::url_params(url, name, *delim, &mut |v| {
                    let go_on = if as_int {
                        f(Value::Int(read_int64(v)))
                    } else {
                        f(Value::Str(v))
                    };
                    go_on && iterate
                });
            }
            Fetch::Cook(name) | Fetch::CookVal(name) => {
                let as_int = matches!(self, Fetch::CookVal(_));
                let mut emit = |v: &[u8]| {
                    if as_int {
                        f(Value::Int(super::sample::strl2ic(v)))
                    } else {
                        f(Value::Str(v))
                    }
                };
                if iterate || name.is_empty() {
                    // ACLs try every one; a single fetch without a name takes the first.
                    http::for_each_cookie(s, name, &mut |v| emit(v) && iterate);
                } else {
                    // A single fetch with a name takes the last.
                    let total = count(&|g| http::for_each_cookie(s, name, g));
                    nth(
                        &|g| http::for_each_cookie(s, name, g),
                        total.wrapping_sub(1),
                        &mut emit,
                    );
                }
            }
            Fetch::CookCnt(name) => {
                if s.url().is_none() {
                    return;
                }
                let n = count(&|g| http::for_each_cookie(s, name, g));
                f(Value::Int(n as i64));
            }
            Fetch::ReqLen
            | Fetch::Res(_)
            | Fetch::Payload { .. }
            | Fetch::PayloadLv { .. }
            | Fetch::RdpCookie(_)
            | Fetch::RdpCookieCnt(_)
            | Fetch::ReqSslSni
            | Fetch::ReqSslAlpn
            | Fetch::ReqSslHelloType
            | Fetch::ReqSslVer => {
                if let Some(c) = s.content() {
                    self.each_content(c, iterate, f);
                }
            }
            Fetch::WaitEnd => {
                // Outside content inspection (http-request rules) nothing is left to wait for.
                if s.content().is_none_or(|c| c.last) {
                    f(Value::Bool(true));
                }
            }
            Fetch::Nbsrv(b) => match b.index {
                Some(i) => one(f, Some(Value::Int(s.nbsrv(i) as i64))),
                None if b.current => one(f, Some(Value::Int(0))),
                None => {}
            },
            Fetch::Stick(st) => one(f, st.eval(s)),
            Fetch::Capture(response, n) => one(f, s.capture(*response, *n).map(Value::Str)),
            Fetch::UniqueId => match s.unique_id() {
                Some(id) => one(f, Some(Value::Str(id))),
                // Made for the rules (see `unique_id_used`).
                None => {
                    if let Some(t) = s.vars().txn {
                        t.with_unique_id(|id| {
                            f(Value::Str(id));
                        });
                    }
                }
            },
            Fetch::More(m) => m.each(s, iterate, f),
            Fetch::Px(p) => p.each(s, f),
        }
    }
}

type Each<'a> = dyn Fn(&mut dyn FnMut(&[u8]) -> bool) + 'a;

fn count(each: &Each<'_>) -> usize {
    let mut n = 0;
    each(&mut |_| {
        n += 1;
        true
    });
    n
}

/// Calls `f` on the `idx`-th (0-based) value.
fn nth(each: &Each<'_>, idx: usize, f: &mut dyn FnMut(&[u8]) -> bool) {
    let mut i = 0;
    each(&mut |v| {
        if i == idx {
            f(v);
            return false;
        }
        i += 1;
        true
    });
}

/// HAProxy's header occurrence rules (`http_get_htx_hdr`): 0 means every value when
/// iterating and the last one otherwise; N > 0 the Nth; N < 0 the Nth from the end.
fn occurrences(iterate: bool, occ: i64, each: &Each<'_>, f: &mut dyn FnMut(&[u8]) -> bool) {
    let occ = if occ == 0 && !iterate { -1 } else { occ };
    if occ == 0 {
        each(f);
    } else if occ > 0 {
        nth(each, (occ - 1) as usize, f);
    } else {
        let total = count(each) as i64;
        let idx = total + occ;
        if idx >= 0 {
            nth(each, idx as usize, f);
        }
    }
}

/// `smp_fetch_hdr_ip`'s parse: a whole IPv4 address, an IPv4 address with `:port`, or a
/// whole IPv6 address.
fn header_ip(b: &[u8]) -> Option<IpAddr> {
    if let Some((a, used)) = buf2ip(b) {
        if used == b.len() {
            return Some(IpAddr::V4(a));
        }
        if b[used] == b':' {
            let port = &b[used + 1..];
            if !port.is_empty()
                && port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && read_int64(port) <= 65535
            {
                return Some(IpAddr::V4(a));
            }
        }
    }
    parse_ipv6(b).map(IpAddr::V6)
}

/// `smp_fetch_base`: the first Host element followed by the path when it starts with `/`; the
/// plain path if there is no Host or it is empty. The concatenation is built on the stack
/// (on the heap past 512 bytes).
fn base(s: &dyn Sample, f: &mut dyn FnMut(Value<'_>) -> bool) {
    let Some(url) = s.url() else { return };
    let mut done = false;
    http::for_each_header_element(s, b"host", &mut |host| {
        done = true;
        if host.is_empty() {
            done = false;
            return false;
        }
        let path = http::path(url)
            .filter(|p| p.first() == Some(&b'/'))
            .unwrap_or_default();
        let len = host.len() + path.len();
        let mut stack = [0u8; 512];
        let mut heap;
        let buf: &mut [u8] = if len <= stack.len() {
            &mut stack[..len]
        } else {
            heap = vec![0u8; len];
            &mut heap
        };
        buf[..host.len()].copy_from_slice(host);
        buf[host.len()..].copy_from_slice(path);
        f(Value::Str(buf));
        false
    });
    if !done && let Some(p) = http::path(url) {
        f(Value::Str(p));
    }
}
