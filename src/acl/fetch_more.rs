//! The fetches of HAProxy 2.6's sample.c, http_fetch.c and tcp_sample.c that need nothing
//! from the request beyond what [`Sample`] already gives: process facts (`date`, `env`,
//! `hostname`, `rand`, `uuid`, `thread`, `nbproc`, `proc`), address tests (`src_is_local`,
//! `dst_is_local`), whole-head views (`req.hdrs`, `req.hdr_names`), the Host-and-path hashes
//! (`base32`, `url32`, their `+src` forms), `baseq`, `url_ip`, `url_port`,
//! `http_auth_bearer`, `capture.req.ver`, `capture.res.ver`, `req.body_param`, the server
//! connection's (`bc_*`, `ssl_bc*`). Each
//! follows the HAProxy function named in its doc (the proxy and server facts are
//! `super::fetch_px`'s).
//!
//! Nothing here runs unless a configuration names the fetch: the request path pays for
//! none of it.

use std::net::{IpAddr, SocketAddr};

use super::Sample;
use super::http;
use super::sample::{SmpType, Value, buf2ip};

/// `date`'s unit (`smp_check_date_unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateUnit {
    S,
    Ms,
    Us,
}

/// A fetch of this module.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum More {
    /// `date([OFFSET[,UNIT]])`: the time since the epoch in UNIT, plus OFFSET.
    Date {
        offset: i64,
        unit: DateUnit,
    },
    /// `date_us`: the microseconds of the current second.
    DateUs,
    /// `env(NAME)`: the process's environment variable, read when evaluated.
    Env(Option<Box<str>>),
    /// `hostname`.
    Hostname,
    /// `rand([RANGE])`: 32 random bits, scaled to `0..RANGE` with a multiply (not a modulo).
    Rand(Option<i64>),
    /// `uuid([4])`: a random RFC 4122 UUID.
    Uuid,
    /// `thread`: the number of the thread (0-based, HAProxy's `tid`).
    Thread,
    /// `nbproc`, `proc`: 1 (HAProxy 2.6 has one process).
    One,
    /// `prio_class`, `prio_offset`: the stream's queue priority as `set-priority-class` and
    /// `set-priority-offset` left it (0 by default); nothing without a stream.
    Prio {
        class: bool,
    },
    /// `src_is_local`, `dst_is_local`, `fc_src_is_local`, `fc_dst_is_local`: the address
    /// is one of this host's (a UDP socket binds to it and connects to it).
    IsLocal {
        dst: bool,
        fc: bool,
    },
    /// `req.hdrs`: every field as `name: value\r\n`, names lower-cased as HTX holds them,
    /// then the empty line.
    Hdrs,
    /// `req.hdr_names([DELIM])`: the field names, lower-cased, joined by DELIM (`,`).
    HdrNames(u8),
    /// `baseq`: `base` with the query.
    Baseq,
    /// `base32`: a hash of the first Host element and the path (`smp_fetch_base32`).
    Base32,
    /// `url32`: a hash of the whole first Host value and the path with its query.
    Url32,
    /// `base32+src`, `url32+src`: the hash in network order followed by the client's
    /// address bytes.
    HashSrc {
        url: bool,
    },
    /// `url_ip`: the IPv4 address of an absolute `http://` or `https://` target.
    UrlIp,
    /// `url_port`: its port (80 or 443 by default).
    UrlPort,
    /// `http_auth_bearer([HEADER])`: the token of a `Bearer` Authorization (or HEADER).
    AuthBearer(Option<Box<[u8]>>),
    /// `capture.req.ver`, `capture.res.ver`: `HTTP/1.0` or `HTTP/1.1`.
    CaptureVer,
    /// `req.body_param([NAME])`: the `&`-separated `name=value` pairs of the body.
    BodyParam(Box<[u8]>),
    /// `ssl_fc_has_sni`: the client sent an SNI (nothing on a connection that is not TLS).
    SslFcHasSni,
    /// `ssl_fc_has_crt`: the client presented a certificate.
    SslFcHasCrt,
    /// `ssl_fc_use_keysize`, `ssl_fc_alg_keysize`: the bits of the suite's symmetric key.
    SslFcKeysize,
    /// `fc_rtt([UNIT])`, `fc_rttvar`, `fc_unacked`, `fc_sacked`, `fc_retrans`,
    /// `fc_fackets`, `fc_lost`, `fc_reordering`: the kernel's TCP_INFO of the client
    /// socket, read when evaluated (`get_tcp_info`).
    TcpInfo(TcpInfoField),
    /// `fc_http_major`: 2 on an HTTP/2 client connection, else 1 (`smp_fetch_fc_http_major`).
    FcHttpMajor,
    /// `http_first_req`: the request is the first of its HTTP/1 connection (every HTTP/2
    /// stream is one: HAProxy's TX_NOT_FIRST comes from the H1 mux only).
    HttpFirstReq,
    /// `capture.req.method`, `capture.req.uri`: the method, and the path (query included)
    /// of the target, of the request line as it came (HAProxy's `txn->uri`, before any
    /// rule rewrote it).
    CaptureReq {
        uri: bool,
    },
    /// `so_id`, `so_name`, `dst_conn`: the listener's id, its name (nothing without
    /// one), its connections now (`smp_fetch_so_id`, `smp_fetch_so_name`,
    /// `smp_fetch_dconn`).
    SoId,
    SoName,
    DstConn,
    /// `cur_server_timeout`, `cur_tunnel_timeout`: the stream's timeouts in ms, as
    /// `set-timeout` or the server connection's establishment left them; nothing without
    /// a stream.
    CurTimeout {
        tunnel: bool,
    },
    /// `last_rule_file`, `last_rule_line`: where the rule that last stopped one of the
    /// stream's rule sets is written; nothing before one did.
    LastRule {
        line: bool,
    },
    /// `bc_src`, `bc_src_port`, `bc_dst`, `bc_dst_port`, `bc_http_major`: the server
    /// connection's, once it is up (its index in that order); `bc_http_major` finds
    /// nothing in mode tcp, as HAProxy's.
    Bc(usize),
    /// `bc_err`, `bc_err_str`: HAProxy's code of the server connection's error (0 once it
    /// is up) and its text (`smp_fetch_fc_err`, `conn_err_code_str`).
    BcErr {
        text: bool,
    },
    /// `ssl_bc`, `ssl_bc_protocol`, `ssl_bc_cipher`, `ssl_bc_alpn`, `ssl_bc_use_keysize`,
    /// `ssl_bc_alg_keysize`, `ssl_bc_is_resumed`: the server connection's TLS session.
    SslBc(SslBcField),
}

/// What an `ssl_bc*` fetch reads of the server connection's TLS session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslBcField {
    /// `ssl_bc`: true when the connection is TLS, false otherwise (none too).
    Is,
    Protocol,
    Cipher,
    Alpn,
    /// `ssl_bc_use_keysize`, `ssl_bc_alg_keysize` (the same for the suites rustls has).
    Keysize,
    /// `ssl_bc_is_resumed`: false when the connection is not TLS, as HAProxy's.
    Resumed,
}

/// A TCP_INFO field; the times in milliseconds unless `us` (HAProxy rounds to the nearest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpInfoField {
    Rtt { us: bool },
    RttVar { us: bool },
    Unacked,
    Sacked,
    Retrans,
    Fackets,
    Lost,
    Reordering,
}

/// HAProxy's wording for a fetch given more arguments than it takes.
fn no_more(kw: &str, args: Option<&[&str]>, max: usize) -> Result<(), String> {
    match args {
        Some(a) if a.len() > max && !(max == 0 && a == [""]) => Err(format!(
            "fetch method '{kw}' : expected ')' before '{})'",
            a[max..].join(",")
        )),
        _ => Ok(()),
    }
}

/// An optional integer argument at `pos` (0-based), in `make_arg_list`'s words.
fn opt_int(kw: &str, args: Option<&[&str]>, pos: usize) -> Result<Option<i64>, String> {
    match args.and_then(|a| a.get(pos)).map(|a| a.trim()) {
        None | Some("") => Ok(None),
        Some(a) => a.parse::<i64>().map(Some).map_err(|_| {
            format!(
                "fetch method '{kw}' : failed to parse '{a}' as type 'integer' at position {}",
                pos + 1
            )
        }),
    }
}

fn opt_str<'a>(args: Option<&[&'a str]>, pos: usize) -> Option<&'a str> {
    args.and_then(|a| a.get(pos))
        .copied()
        .filter(|a| !a.is_empty())
}

/// Whether a configuration loaded names a fetch of the server connection's addresses
/// (`bc_src`, `bc_src_port`, `bc_dst`, `bc_dst_port`): reading them costs a `getsockname`
/// and a `getpeername` per request, paid only then (HAProxy too reads them only when
/// asked). Never reset: a reload that drops them keeps paying, which is only slower.
static BC_ADDRS_USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// See [`BC_ADDRS_USED`].
pub fn bc_addrs_used() -> bool {
    BC_ADDRS_USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether a configuration loaded names `bc_err`, `bc_err_str` or an `ssl_bc*` fetch: only
/// then is the server connection's TLS session copied for each request (its ALPN is an
/// allocation) and a failed connect recorded. Never reset, as [`BC_ADDRS_USED`].
static BC_CONN_USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// See [`BC_CONN_USED`].
pub fn bc_conn_used() -> bool {
    BC_CONN_USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Parses the keywords of this module; `None` for any other.
pub(crate) fn parse(kw: &str, args: Option<&[&str]>) -> Option<Result<More, String>> {
    let r = parse_kw(kw, args);
    match r {
        Some(Ok(More::Bc(0..=3))) => {
            BC_ADDRS_USED.store(true, std::sync::atomic::Ordering::Relaxed)
        }
        Some(Ok(More::BcErr { .. } | More::SslBc(_))) => {
            BC_CONN_USED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        _ => {}
    }
    r
}

fn parse_kw(kw: &str, args: Option<&[&str]>) -> Option<Result<More, String>> {
    let plain = |m: More| no_more(kw, args, 0).map(|_| m);
    Some(match kw {
        "date" => (|| {
            no_more(kw, args, 2)?;
            let offset = opt_int(kw, args, 0)?.unwrap_or(0);
            let unit = match opt_str(args, 1) {
                None | Some("s") => DateUnit::S,
                Some("ms") => DateUnit::Ms,
                Some("us") => DateUnit::Us,
                Some(u) => {
                    return Err(format!(
                        "invalid args in fetch method '{kw}' : expects 's', 'ms' or 'us', got '{u}'"
                    ));
                }
            };
            Ok(More::Date { offset, unit })
        })(),
        "date_us" => plain(More::DateUs),
        "env" => no_more(kw, args, 1).map(|_| More::Env(opt_str(args, 0).map(Into::into))),
        "hostname" => plain(More::Hostname),
        "rand" => no_more(kw, args, 1)
            .and_then(|_| opt_int(kw, args, 0))
            .map(More::Rand),
        "uuid" => no_more(kw, args, 1)
            .and_then(|_| opt_int(kw, args, 0))
            .and_then(|v| match v {
                None | Some(4) => Ok(More::Uuid),
                Some(v) => Err(format!(
                    "invalid args in fetch method '{kw}' : Unsupported UUID version: '{v}'"
                )),
            }),
        "thread" => plain(More::Thread),
        "nbproc" | "proc" => plain(More::One),
        "prio_class" => plain(More::Prio { class: true }),
        "prio_offset" => plain(More::Prio { class: false }),
        "src_is_local" | "dst_is_local" | "fc_src_is_local" | "fc_dst_is_local" => {
            plain(More::IsLocal {
                dst: kw.contains("dst"),
                fc: kw.starts_with("fc_"),
            })
        }
        "req.hdrs" => plain(More::Hdrs),
        "req.hdr_names" => no_more(kw, args, 1)
            .map(|_| More::HdrNames(opt_str(args, 0).map_or(b',', |d| d.as_bytes()[0]))),
        "baseq" => plain(More::Baseq),
        "base32" => plain(More::Base32),
        "url32" => plain(More::Url32),
        "base32+src" => plain(More::HashSrc { url: false }),
        "url32+src" => plain(More::HashSrc { url: true }),
        "url_ip" => plain(More::UrlIp),
        "url_port" => plain(More::UrlPort),
        "http_auth_bearer" => no_more(kw, args, 1)
            .map(|_| More::AuthBearer(opt_str(args, 0).map(|h| h.as_bytes().into()))),
        "capture.req.ver" | "capture.res.ver" => plain(More::CaptureVer),
        "ssl_fc_has_sni" => plain(More::SslFcHasSni),
        "ssl_fc_has_crt" => plain(More::SslFcHasCrt),
        "ssl_fc_use_keysize" | "ssl_fc_alg_keysize" => plain(More::SslFcKeysize),
        "fc_rtt" | "fc_rttvar" => (|| {
            no_more(kw, args, 1)?;
            let us = match opt_str(args, 0) {
                None | Some("ms") => false,
                Some("us") => true,
                Some(u) => {
                    return Err(format!(
                        "invalid args in fetch method '{kw}' : expects 'us' or 'ms', got '{u}'"
                    ));
                }
            };
            Ok(More::TcpInfo(if kw == "fc_rtt" {
                TcpInfoField::Rtt { us }
            } else {
                TcpInfoField::RttVar { us }
            }))
        })(),
        // (HAProxy only warns about an argument to these, and ignores it.)
        "fc_http_major" => plain(More::FcHttpMajor),
        "http_first_req" => plain(More::HttpFirstReq),
        "capture.req.method" => plain(More::CaptureReq { uri: false }),
        "capture.req.uri" => plain(More::CaptureReq { uri: true }),
        "so_id" => plain(More::SoId),
        "so_name" => plain(More::SoName),
        "dst_conn" => plain(More::DstConn),
        "cur_server_timeout" => plain(More::CurTimeout { tunnel: false }),
        "cur_tunnel_timeout" => plain(More::CurTimeout { tunnel: true }),
        "last_rule_file" => plain(More::LastRule { line: false }),
        "last_rule_line" => plain(More::LastRule { line: true }),
        "bc_src" => plain(More::Bc(0)),
        "bc_src_port" => plain(More::Bc(1)),
        "bc_dst" => plain(More::Bc(2)),
        "bc_dst_port" => plain(More::Bc(3)),
        "bc_http_major" => plain(More::Bc(4)),
        "bc_err" => plain(More::BcErr { text: false }),
        "bc_err_str" => plain(More::BcErr { text: true }),
        "ssl_bc" => plain(More::SslBc(SslBcField::Is)),
        "ssl_bc_protocol" => plain(More::SslBc(SslBcField::Protocol)),
        "ssl_bc_cipher" => plain(More::SslBc(SslBcField::Cipher)),
        "ssl_bc_alpn" => plain(More::SslBc(SslBcField::Alpn)),
        "ssl_bc_use_keysize" | "ssl_bc_alg_keysize" => plain(More::SslBc(SslBcField::Keysize)),
        "ssl_bc_is_resumed" => plain(More::SslBc(SslBcField::Resumed)),
        "fc_unacked" => no_more(kw, args, 1).map(|_| More::TcpInfo(TcpInfoField::Unacked)),
        "fc_sacked" => no_more(kw, args, 1).map(|_| More::TcpInfo(TcpInfoField::Sacked)),
        "fc_retrans" => no_more(kw, args, 1).map(|_| More::TcpInfo(TcpInfoField::Retrans)),
        "fc_fackets" => no_more(kw, args, 1).map(|_| More::TcpInfo(TcpInfoField::Fackets)),
        "fc_lost" => no_more(kw, args, 1).map(|_| More::TcpInfo(TcpInfoField::Lost)),
        "fc_reordering" => no_more(kw, args, 1).map(|_| More::TcpInfo(TcpInfoField::Reordering)),
        "req.body_param" => no_more(kw, args, 1).map(|_| {
            More::BodyParam(
                opt_str(args, 0)
                    .map(|n| n.as_bytes().into())
                    .unwrap_or_default(),
            )
        }),
        _ => return None,
    })
}

/// The keywords [`parse`] knows (`res.hdrs`, `res.hdr_names` are `req.*` read on the
/// response: see `Fetch::parse`).
pub(crate) const KEYWORDS: &[&str] = &[
    "base32",
    "base32+src",
    "bc_dst",
    "bc_dst_port",
    "bc_err",
    "bc_err_str",
    "bc_http_major",
    "bc_src",
    "bc_src_port",
    "baseq",
    "capture.req.method",
    "capture.req.uri",
    "capture.req.ver",
    "capture.res.ver",
    "cur_server_timeout",
    "cur_tunnel_timeout",
    "date",
    "date_us",
    "dst_conn",
    "dst_is_local",
    "env",
    "fc_dst_is_local",
    "fc_fackets",
    "fc_http_major",
    "fc_lost",
    "fc_reordering",
    "fc_retrans",
    "fc_rtt",
    "fc_rttvar",
    "fc_sacked",
    "fc_src_is_local",
    "fc_unacked",
    "hostname",
    "http_auth_bearer",
    "http_first_req",
    "last_rule_file",
    "last_rule_line",
    "nbproc",
    "prio_class",
    "prio_offset",
    "proc",
    "rand",
    "req.body_param",
    "req.hdr_names",
    "req.hdrs",
    "res.hdr_names",
    "res.hdrs",
    "so_id",
    "so_name",
    "src_is_local",
    "ssl_bc",
    "ssl_bc_alg_keysize",
    "ssl_bc_alpn",
    "ssl_bc_cipher",
    "ssl_bc_is_resumed",
    "ssl_bc_protocol",
    "ssl_bc_use_keysize",
    "ssl_fc_alg_keysize",
    "ssl_fc_has_crt",
    "ssl_fc_has_sni",
    "ssl_fc_use_keysize",
    "thread",
    "url32",
    "url32+src",
    "url_ip",
    "url_port",
    "uuid",
];

impl More {
    pub(crate) fn out_type(&self) -> SmpType {
        match self {
            More::Date { .. }
            | More::DateUs
            | More::Rand(_)
            | More::Thread
            | More::One
            | More::Prio { .. }
            | More::Base32
            | More::Url32
            | More::UrlPort
            | More::SslFcKeysize
            | More::TcpInfo(_)
            | More::SoId
            | More::DstConn
            | More::CurTimeout { .. }
            | More::LastRule { line: true }
            | More::BcErr { text: false }
            | More::SslBc(SslBcField::Keysize)
            | More::FcHttpMajor => SmpType::Int,
            More::SslBc(SslBcField::Is | SslBcField::Resumed) => SmpType::Bool,
            More::IsLocal { .. } | More::SslFcHasSni | More::SslFcHasCrt | More::HttpFirstReq => {
                SmpType::Bool
            }
            More::UrlIp | More::Bc(0 | 2) => SmpType::Ip,
            More::Bc(_) => SmpType::Int,
            More::Hdrs | More::HashSrc { .. } | More::BodyParam(_) => SmpType::Bin,
            _ => SmpType::Str,
        }
    }

    /// Where HAProxy's table says the fetch has something to say.
    pub(crate) fn layer(&self) -> super::Layer {
        use super::Layer;
        match self {
            More::IsLocal { .. } | More::TcpInfo(_) | More::FcHttpMajor => Layer::L4,
            More::SslFcHasSni | More::SslFcHasCrt | More::SslFcKeysize => Layer::L5,
            More::Date { .. }
            | More::DateUs
            | More::Env(_)
            | More::Hostname
            | More::Rand(_)
            | More::Uuid
            | More::Thread
            | More::One
            | More::Prio { .. }
            | More::CurTimeout { .. }
            | More::LastRule { .. }
            | More::Bc(_)
            | More::BcErr { .. }
            | More::SslBc(_) => Layer::Internal,
            // (HAProxy's SMP_USE_FTEND: there from the connection's first rules on.)
            More::SoId | More::SoName | More::DstConn => Layer::L4,
            _ => Layer::L7,
        }
    }

    /// Calls `f` with the value(s): every `req.body_param` occurrence if `iterate` (ACLs),
    /// else the first.
    pub(crate) fn each(&self, s: &dyn Sample, iterate: bool, f: &mut dyn FnMut(Value<'_>) -> bool) {
        match self {
            More::Date { offset, unit } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let (secs, us) = (now.as_secs() as i64, i64::from(now.subsec_micros()));
                let v = match unit {
                    DateUnit::S => secs,
                    DateUnit::Ms => secs * 1000 + us / 1000,
                    DateUnit::Us => secs * 1_000_000 + us,
                };
                f(Value::Int(v.wrapping_add(*offset)));
            }
            More::DateUs => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                f(Value::Int(i64::from(now.subsec_micros())));
            }
            More::Env(name) => {
                if let Some(v) = name.as_deref().and_then(env_lookup) {
                    f(Value::Str(&v));
                }
            }
            More::Hostname => {
                f(Value::Str(hostname()));
            }
            More::Rand(range) => {
                let r = u64::from(fastrand::u32(..));
                f(Value::Int(match range {
                    // `((u64)rand * (u64)range) >> 32`, as C computes it.
                    Some(n) => (r.wrapping_mul(*n as u64) >> 32) as i64,
                    None => r as i64,
                }));
            }
            More::Uuid => {
                let mut buf = [0u8; 36];
                f(Value::Str(uuid_v4(&mut buf)));
            }
            More::Thread => {
                f(Value::Int(i64::from(THREAD.with(std::cell::Cell::get))));
            }
            More::One => {
                f(Value::Int(1));
            }
            More::SoId => {
                if let Some(l) = s.listener() {
                    f(Value::Int(i64::from(l.id)));
                }
            }
            More::SoName => {
                if let Some(n) = s.listener().and_then(|l| l.name.as_deref()) {
                    f(Value::Str(n.as_bytes()));
                }
            }
            More::DstConn => {
                if let Some(l) = s.listener() {
                    let n = l.conns.load(std::sync::atomic::Ordering::Relaxed);
                    f(Value::Int(i64::from(n)));
                }
            }
            More::Prio { class } => {
                if let Some(txn) = s.vars().txn {
                    let (c, o) = txn.priority();
                    f(Value::Int(if *class { c } else { o }));
                }
            }
            More::CurTimeout { tunnel } => {
                if let Some(txn) = s.vars().txn {
                    let (srv, tun) = txn.cur_timeouts();
                    f(Value::Int(if *tunnel { tun } else { srv }));
                }
            }
            More::Bc(i) => {
                if let Some(v) = s.vars().txn.and_then(|t| t.bc(*i))
                    && let Some(v) = v.value()
                {
                    f(v);
                }
            }
            More::BcErr { text } => {
                let Some(txn) = s.vars().txn else { return };
                if let Some(code) = txn.with_bc_conn(|e, _| e) {
                    f(if *text {
                        Value::Str(crate::tls::conn_err_code_str(code).as_bytes())
                    } else {
                        Value::Int(code)
                    });
                }
            }
            More::SslBc(field) => {
                let txn = s.vars().txn;
                let none = || {
                    // (Not TLS, or no server connection: HAProxy's `ssl_bc` and
                    // `ssl_bc_is_resumed` still answer false.)
                    matches!(field, SslBcField::Is | SslBcField::Resumed)
                };
                let Some(txn) = txn else {
                    if none() {
                        f(Value::Bool(false));
                    }
                    return;
                };
                txn.with_bc_conn(|_, tls| {
                    let Some(t) = tls else {
                        if none() {
                            f(Value::Bool(false));
                        }
                        return;
                    };
                    let cipher = || t.suite.and_then(crate::tls::ciphers::openssl_name);
                    match field {
                        SslBcField::Is => {
                            f(Value::Bool(true));
                        }
                        SslBcField::Resumed => {
                            f(Value::Bool(t.resumed));
                        }
                        SslBcField::Protocol => {
                            if let Some(v) = t.version {
                                f(Value::Str(v.name().as_bytes()));
                            }
                        }
                        SslBcField::Cipher => {
                            if let Some(c) = cipher() {
                                f(Value::Str(c.as_bytes()));
                            }
                        }
                        SslBcField::Alpn => {
                            if let Some(a) = &t.alpn {
                                f(Value::Str(a));
                            }
                        }
                        SslBcField::Keysize => {
                            if let Some(bits) = cipher().and_then(|c| cipher_bits(c.as_bytes())) {
                                f(Value::Int(bits));
                            }
                        }
                    }
                });
            }
            More::LastRule { line } => {
                if let Some((file, n)) = s.vars().txn.and_then(super::VarSet::last_rule) {
                    f(if *line {
                        Value::Int(n)
                    } else {
                        Value::Str(&file)
                    });
                }
            }
            More::IsLocal { dst, fc } => {
                let a = match (dst, fc) {
                    (false, false) => s.src(),
                    (false, true) => s.fc_src(),
                    (true, false) => s.dst(),
                    (true, true) => s.fc_dst(),
                };
                if let Some(a) = a
                    && let Some(local) = addr_is_local(a.ip())
                {
                    f(Value::Bool(local));
                }
            }
            More::Hdrs => {
                if s.url().is_none() {
                    return;
                }
                let mut out = Vec::with_capacity(256);
                for_each_htx_field(s, &mut |n, v: &mut dyn Iterator<Item = &[u8]>| {
                    out.extend(n.iter().map(u8::to_ascii_lowercase));
                    out.extend_from_slice(b": ");
                    for (i, part) in v.enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.extend_from_slice(part);
                    }
                    out.extend_from_slice(b"\r\n");
                });
                out.extend_from_slice(b"\r\n");
                f(Value::Str(&out));
            }
            More::HdrNames(d) => {
                if s.url().is_none() {
                    return;
                }
                let mut out = Vec::with_capacity(128);
                for_each_htx_field(s, &mut |n, _| {
                    if !out.is_empty() {
                        out.push(*d);
                    }
                    out.extend(n.iter().map(u8::to_ascii_lowercase));
                });
                f(Value::Str(&out));
            }
            More::Baseq => baseq(s, f),
            More::Base32 => {
                if let Some(h) = hash32(s, false) {
                    f(Value::Int(i64::from(h)));
                }
            }
            More::Url32 => {
                if let Some(h) = hash32(s, true) {
                    f(Value::Int(i64::from(h)));
                }
            }
            More::HashSrc { url } => {
                let (Some(src), Some(h)) = (s.src(), hash32(s, *url)) else {
                    return;
                };
                let mut b = [0u8; 20];
                b[..4].copy_from_slice(&h.to_be_bytes());
                let n = match src.ip() {
                    IpAddr::V4(a) => {
                        b[4..8].copy_from_slice(&a.octets());
                        8
                    }
                    IpAddr::V6(a) => {
                        b[4..20].copy_from_slice(&a.octets());
                        20
                    }
                };
                f(Value::Str(&b[..n]));
            }
            More::UrlIp | More::UrlPort => {
                if let Some(a) = s.url().and_then(url2sa)
                    && a.is_ipv4()
                {
                    f(if *self == More::UrlIp {
                        Value::Ip(a.ip())
                    } else {
                        Value::Int(i64::from(a.port()))
                    });
                }
            }
            More::AuthBearer(header) => auth_bearer(s, header.as_deref(), f),
            More::CaptureVer => {
                // HTTP_MSGF_VER_11 is set for 1.1 and for HTTP/2 alike.
                if let Some(v) = s.version() {
                    f(Value::Str(if v == b"1.0" {
                        b"HTTP/1.0"
                    } else {
                        b"HTTP/1.1"
                    }));
                }
            }
            More::SslFcHasSni if s.ssl_fc() => {
                f(Value::Bool(s.ssl_fc_sni().is_some()));
            }
            More::SslFcHasCrt if s.ssl_fc() => {
                f(Value::Bool(s.ssl_c().is_some()));
            }
            More::SslFcKeysize => {
                if let Some(bits) = s.ssl_fc_cipher().and_then(cipher_bits) {
                    f(Value::Int(bits));
                }
            }
            More::SslFcHasSni | More::SslFcHasCrt => {}
            More::FcHttpMajor => {
                if let Some(v) = s.fc_http_major() {
                    f(Value::Int(v));
                }
            }
            More::HttpFirstReq => {
                if let Some(v) = s.http_first_req() {
                    f(Value::Bool(v));
                }
            }
            More::CaptureReq { uri } => {
                let Some((method, target)) = s.captured_request() else {
                    return;
                };
                let v = if *uri {
                    http::uri_path(target)
                } else {
                    Some(method)
                };
                if let Some(v) = v {
                    f(Value::Str(v));
                }
            }
            More::TcpInfo(field) => {
                if let Some(v) = s.fc_fd().and_then(|fd| tcp_info(fd, *field)) {
                    f(Value::Int(v));
                }
            }
            More::BodyParam(name) => {
                let Some((raw, kind)) = s.body() else { return };
                let decoded;
                let data: &[u8] = match kind {
                    crate::h1::BodyKind::ContentLength(n) => &raw[..raw.len().min(n as usize)],
                    crate::h1::BodyKind::Chunked => {
                        decoded = http::dechunk(raw);
                        &decoded
                    }
                    crate::h1::BodyKind::None => &[],
                    _ => raw,
                };
                // `smp_fetch_param` with `&` as the delimiter, from the start of the body
                // (no `?` to skip): a leading `&` makes the body look like a query.
                let mut q = Vec::with_capacity(data.len() + 1);
                q.push(b'&');
                q.extend_from_slice(data);
                http::url_params(&q, name, b'&', &mut |v| f(Value::Str(v)) && iterate);
            }
        }
    }
}

/// The configuration's `setenv`/`presetenv`/`unsetenv` (`None`: unset) and whether
/// `resetenv` hid the rest of the process's environment. HAProxy changes its own
/// environment; corelb's parser keeps these aside (threads run while a reload parses), so
/// `env()` looks here first.
type ConfigEnv = (std::collections::HashMap<String, Option<String>>, bool);

static CONFIG_ENV: std::sync::RwLock<Option<std::sync::Arc<ConfigEnv>>> =
    std::sync::RwLock::new(None);

/// Records the environment the last configuration read leaves (see [`ConfigEnv`]).
pub fn set_config_env(vars: std::collections::HashMap<String, Option<String>>, reset: bool) {
    let e = (!vars.is_empty() || reset).then(|| std::sync::Arc::new((vars, reset)));
    *CONFIG_ENV.write().unwrap_or_else(|p| p.into_inner()) = e;
}

/// `getenv` as the configuration left the environment.
fn env_lookup(name: &str) -> Option<Vec<u8>> {
    let overlay = CONFIG_ENV.read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(e) = overlay {
        match e.0.get(name) {
            Some(v) => return v.as_ref().map(|v| v.as_bytes().to_vec()),
            None if e.1 => return None,
            None => {}
        }
    }
    use std::os::unix::ffi::OsStringExt as _;
    std::env::var_os(name).map(|v| v.into_vec())
}

thread_local! {
    /// The number of the thread (shard) this code runs on, for `thread`.
    static THREAD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Records the number of the calling thread (0-based), which `thread` then returns.
pub fn set_thread(n: u32) {
    THREAD.with(|t| t.set(n));
}

/// `get_tcp_info`: one field of the socket's TCP_INFO, `None` when the call fails; the
/// times (microseconds from the kernel) in milliseconds, rounded, unless asked in `us`.
fn tcp_info(fd: std::os::fd::RawFd, field: TcpInfoField) -> Option<i64> {
    let info = crate::sys::tcp_info_raw(fd)?;
    let ms = |v: u32, us: bool| {
        let v = i64::from(v);
        if us { v } else { (v + 500) / 1000 }
    };
    Some(match field {
        TcpInfoField::Rtt { us } => ms(info.tcpi_rtt, us),
        TcpInfoField::RttVar { us } => ms(info.tcpi_rttvar, us),
        TcpInfoField::Unacked => i64::from(info.tcpi_unacked),
        TcpInfoField::Sacked => i64::from(info.tcpi_sacked),
        TcpInfoField::Retrans => i64::from(info.tcpi_retrans),
        TcpInfoField::Fackets => i64::from(info.tcpi_fackets),
        TcpInfoField::Lost => i64::from(info.tcpi_lost),
        TcpInfoField::Reordering => i64::from(info.tcpi_reordering),
    })
}

/// `SSL_get_cipher_bits` for the suites rustls offers, by their OpenSSL names.
fn cipher_bits(name: &[u8]) -> Option<i64> {
    let has = |w: &[u8]| memchr::memmem::find(name, w).is_some();
    if has(b"AES128") || has(b"AES_128") {
        Some(128)
    } else if has(b"AES256") || has(b"AES_256") || has(b"CHACHA20") {
        Some(256)
    } else {
        None
    }
}

/// HAProxy 2.6 fetches corelb knowingly lacks, with what it would take: `Fetch::parse`
/// says so instead of "unknown fetch method".
pub(crate) fn unsupported(kw: &str) -> Option<&'static str> {
    const YET: &str = "not implemented in corelb yet";
    Some(match kw {
        k if k.starts_with("internal.") => {
            "HAProxy's internal HTX debugging fetches: corelb has no HTX"
        }
        "distcc_body" | "distcc_param" => "corelb does not parse the distcc protocol",
        "fcgi.docroot" | "fcgi.index" => "corelb has no FastCGI applications (fcgi-app)",
        "cpu_calls" | "cpu_ns_avg" | "cpu_ns_tot" | "lat_ns_avg" | "lat_ns_tot" => {
            "corelb does not measure a stream's CPU time or scheduling latency (HAProxy's profiling.tasks)"
        }
        "ssl_fc_npn" | "ssl_bc_npn" => "rustls has no NPN (ALPN works: ssl_fc_alpn)",
        k if k.starts_with("ssl_") && (k.contains("secret") || k.ends_with("session_key")) => {
            "rustls does not expose TLS secrets or session keys"
        }
        k if k.starts_with("ssl_fc_cipherlist_")
            || matches!(
                k,
                "ssl_fc_ecformats_bin"
                    | "ssl_fc_eclist_bin"
                    | "ssl_fc_extlist_bin"
                    | "ssl_fc_protocol_hello_id"
            ) =>
        {
            "corelb does not keep the client's ClientHello (tune.ssl.capture-buffer-size)"
        }
        "ssl_bc_err" | "ssl_bc_err_str" => {
            "rustls has no OpenSSL error codes (ssl_bc_err is OpenSSL's packed ERR_get_error; bc_err and bc_err_str work)"
        }
        "ssl_fc_client_random"
        | "ssl_fc_server_random"
        | "ssl_fc_session_id"
        | "ssl_fc_unique_id"
        | "ssl_bc_client_random"
        | "ssl_bc_server_random"
        | "ssl_bc_session_id"
        | "ssl_bc_unique_id" => {
            "rustls does not expose the handshake's randoms, session id or Finished message"
        }
        "fc_pp_authority" | "fc_pp_unique_id" | "fc_rcvd_proxy" | "rep_ssl_hello_type"
        | "req.hdrs_bin" | "res.hdrs_bin" | "res.cache_hit" | "res.cache_name" | "res.comp"
        | "res.comp_algo" | "res.ssl_hello_type" | "ssl_c_ca_err_depth" | "ssl_c_chain_der"
        | "ssl_c_key_alg" | "ssl_c_sig_alg" | "ssl_fc_err_str" | "ssl_fc_has_early" => YET,
        k if k.starts_with("ssl_f_") || k.starts_with("ssl_s_") => YET,
        _ => return None,
    })
}

/// The fields as HAProxy's HTX holds them, for `req.hdrs` and `req.hdr_names`: its H1
/// parser drops the `close` and `keep-alive` options of a Connection field
/// (`h1_parse_connection_header`), and the field itself when nothing else is left. `f` gets
/// each name and the parts of its value (a cleaned Connection value is its remaining
/// options joined by `, `).
/// What [`for_each_htx_field`] calls: a name and the parts of its value.
type FieldFn<'f> = dyn FnMut(&[u8], &mut dyn Iterator<Item = &[u8]>) + 'f;

fn for_each_htx_field(s: &dyn Sample, f: &mut FieldFn<'_>) {
    s.for_each_field(&mut |n, v| {
        if n.eq_ignore_ascii_case(b"connection") {
            let kept = |o: &&[u8]| {
                !o.is_empty()
                    && !o.eq_ignore_ascii_case(b"close")
                    && !o.eq_ignore_ascii_case(b"keep-alive")
            };
            let opts = || v.split(|&c| c == b',').map(|o| o.trim_ascii()).filter(kept);
            if opts().next().is_some() {
                f(n, &mut opts());
            }
        } else {
            f(n, &mut std::iter::once(v));
        }
        true
    });
}

/// The host's name, read once (HAProxy's `hostname`, from gethostname at start: the
/// kernel's UTS name, which /proc shows).
fn hostname() -> &'static [u8] {
    static NAME: std::sync::OnceLock<Box<[u8]>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read("/proc/sys/kernel/hostname")
            .map(|mut h| {
                while h.last().is_some_and(u8::is_ascii_whitespace) {
                    h.pop();
                }
                h.into_boxed_slice()
            })
            .unwrap_or_default()
    })
}

/// `ha_generate_uuid`: 128 random bits with the version (4) and variant (10) set, as
/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` in lower case.
fn uuid_v4(buf: &mut [u8; 36]) -> &[u8] {
    let mut r = fastrand::u128(..).to_be_bytes();
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut o = 0;
    for (i, b) in r.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf[o] = b'-';
            o += 1;
        }
        buf[o] = HEX[usize::from(b >> 4)];
        buf[o + 1] = HEX[usize::from(b & 15)];
        o += 2;
    }
    &buf[..]
}

/// `addr_is_local`: whether a UDP socket can bind to the address and connect to it.
/// `None` when the test itself fails (no socket): the fetch then finds nothing.
fn addr_is_local(ip: IpAddr) -> Option<bool> {
    let a = SocketAddr::new(ip, 0);
    let sock = match std::net::UdpSocket::bind(a) {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => return Some(false),
        Err(_) => return None,
    };
    Some(sock.connect(a).is_ok())
}

/// `base32` (`url` false: the first Host element, the path to its `?`) and `url32` (`url`
/// true: the whole first Host field, the path with its query), each part only if there.
fn hash32(s: &dyn Sample, url: bool) -> Option<u32> {
    let target = s.url()?;
    let mut h = 0;
    if url {
        s.for_each_header(b"host", &mut |v| {
            h = super::hash::sdbm_from(h, v);
            false
        });
    } else {
        http::for_each_header_element(s, b"host", &mut |v| {
            h = super::hash::sdbm_from(h, v);
            false
        });
    }
    let path = if url {
        http::uri_path(target)
    } else {
        http::path(target)
    };
    if let Some(p) = path.filter(|p| p.first() == Some(&b'/')) {
        h = super::hash::sdbm_from(h, p);
    }
    Some(super::hash::full_hash(h))
}

/// `smp_fetch_base` for `baseq`: the first Host element (when not empty) followed by the
/// path with its query; just that path and query without one.
fn baseq(s: &dyn Sample, f: &mut dyn FnMut(Value<'_>) -> bool) {
    let Some(target) = s.url() else { return };
    let mut host: Option<Vec<u8>> = None;
    http::for_each_header_element(s, b"host", &mut |v| {
        host = Some(v.to_vec());
        false
    });
    match host.filter(|h| !h.is_empty()) {
        Some(mut b) => {
            if let Some(p) = http::uri_path(target).filter(|p| p.first() == Some(&b'/')) {
                b.extend_from_slice(p);
            }
            f(Value::Str(&b));
        }
        // `smp_fetch_path` as `baseq` calls it: with the query.
        None => {
            if let Some(p) = http::uri_path(target) {
                f(Value::Str(p));
            }
        }
    }
}

/// `url2sa` without name resolution: an `http://` or `https://` target whose host is an
/// IPv4 address (`[v6]` too), with its port or the scheme's.
fn url2sa(u: &[u8]) -> Option<SocketAddr> {
    let sep = memchr::memmem::find(u, b"://")?;
    let scheme = &u[..sep];
    let mut port: u16 = if scheme.eq_ignore_ascii_case(b"http") {
        80
    } else if scheme.eq_ignore_ascii_case(b"https") {
        443
    } else {
        return None;
    };
    let rest = &u[sep + 3..];
    let read_uint = |b: &[u8]| -> u16 {
        let mut v: u32 = 0;
        for &c in b.iter().take_while(|c| c.is_ascii_digit()) {
            v = v.wrapping_mul(10).wrapping_add(u32::from(c - b'0'));
        }
        v as u16
    };
    if let Some(r) = rest.strip_prefix(b"[") {
        let end = memchr::memchr(b']', r)?;
        let ip: std::net::Ipv6Addr = std::str::from_utf8(&r[..end]).ok()?.parse().ok()?;
        if let Some(p) = r[end + 1..].strip_prefix(b":") {
            port = read_uint(p);
        }
        return Some(SocketAddr::new(IpAddr::V6(ip), port));
    }
    let (ip, used) = buf2ip(rest)?;
    if let Some(p) = rest[used..].strip_prefix(b":") {
        port = read_uint(p);
    }
    Some(SocketAddr::new(IpAddr::V4(ip), port))
}

/// `smp_fetch_http_auth_bearer`: with a header name, the value after `Bearer ` in its
/// first element; without, the Authorization's Bearer token.
fn auth_bearer(s: &dyn Sample, header: Option<&[u8]>, f: &mut dyn FnMut(Value<'_>) -> bool) {
    if s.url().is_none() {
        return;
    }
    let name = header.unwrap_or(b"authorization");
    let mut found = false;
    let mut emit = |v: &[u8]| {
        found = true;
        let (ty, rest) = match memchr::memchr(b' ', v) {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, &b""[..]),
        };
        let start = rest.iter().position(|&c| c != b' ').unwrap_or(rest.len());
        let token = &rest[start..];
        if ty.eq_ignore_ascii_case(b"Bearer") && !token.is_empty() {
            f(Value::Str(token));
        } else if header.is_some() {
            // HAProxy returns an empty string when the named header holds no token.
            f(Value::Str(b""));
        }
        false
    };
    if header.is_some() {
        http::for_each_header_element(s, name, &mut emit);
        if !found {
            f(Value::Str(b""));
        }
    } else {
        // `get_http_auth` reads the whole first Authorization field.
        s.for_each_header(name, &mut emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::RawRequest;

    fn one(kw: &str, args: Option<&[&str]>, s: &dyn Sample) -> Option<String> {
        let m = parse(kw, args).expect("known").expect("parses");
        let mut out = None;
        m.each(s, false, &mut |v| {
            out = Some(match v {
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => (b as u8).to_string(),
                Value::Ip(a) => a.to_string(),
                Value::Str(b) => String::from_utf8_lossy(b).into_owned(),
            });
            false
        });
        out
    }

    fn req(raw: &str) -> RawRequest {
        RawRequest::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn argument_errors_are_haproxys() {
        let err = |kw: &str, a: &[&str]| parse(kw, Some(a)).unwrap().unwrap_err();
        assert_eq!(
            err("date", &["x"]),
            "fetch method 'date' : failed to parse 'x' as type 'integer' at position 1"
        );
        assert_eq!(
            err("date", &["1", "x"]),
            "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'x'"
        );
        assert_eq!(
            err("date", &["1", "s", "3"]),
            "fetch method 'date' : expected ')' before '3)'"
        );
        assert_eq!(
            err("uuid", &["3"]),
            "invalid args in fetch method 'uuid' : Unsupported UUID version: '3'"
        );
        assert_eq!(
            err("hostname", &["1"]),
            "fetch method 'hostname' : expected ')' before '1)'"
        );
        assert!(parse("env", None).unwrap().is_ok());
        assert!(parse("thread", Some(&[""])).unwrap().is_ok());
        assert!(parse("nope", None).is_none());
    }

    #[test]
    fn tls_facts_and_refusals() {
        let plain = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(one("ssl_fc_has_sni", None, &plain), None);
        let tls = plain.clone().with_tls(Some("a.example"));
        assert_eq!(one("ssl_fc_has_sni", None, &tls).as_deref(), Some("1"));
        assert_eq!(one("ssl_fc_has_crt", None, &tls).as_deref(), Some("0"));
        assert_eq!(
            one("ssl_fc_use_keysize", None, &tls).as_deref(),
            Some("256")
        );
        assert_eq!(one("ssl_fc_alg_keysize", None, &plain), None);
        let no_sni = plain.with_tls(None);
        assert_eq!(one("ssl_fc_has_sni", None, &no_sni).as_deref(), Some("0"));
        assert_eq!(cipher_bits(b"ECDHE-RSA-AES128-GCM-SHA256"), Some(128));
        assert_eq!(cipher_bits(b"TLS_CHACHA20_POLY1305_SHA256"), Some(256));
        let e = crate::acl::FetchExpr::parse("fcgi.docroot", "p").unwrap_err();
        assert_eq!(
            e,
            "fetch method 'fcgi.docroot' is not supported: corelb has no FastCGI applications (fcgi-app)"
        );
        let e = crate::acl::FetchExpr::parse("fc_rcvd_proxy", "p").unwrap_err();
        assert!(e.ends_with("not implemented in corelb yet"), "{e}");
        assert!(
            crate::acl::FetchExpr::parse("nosuchfetch", "p")
                .unwrap_err()
                .starts_with("unknown fetch method")
        );
    }

    #[test]
    fn hashes_match_haproxy() {
        // What HAProxy 2.6.12 printed for the same requests (%[base32] %[url32]
        // %[base32+src,hex] from 127.0.0.1).
        let r = req("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").with_src("127.0.0.1:1");
        assert_eq!(one("base32", None, &r).as_deref(), Some("2306047707"));
        assert_eq!(one("url32", None, &r).as_deref(), Some("33776310"));
        let hs = parse("base32+src", None).unwrap().unwrap();
        let mut got = Vec::new();
        hs.each(&r, false, &mut |v| {
            if let Value::Str(b) = v {
                got = b.to_vec();
            }
            false
        });
        assert_eq!(got, [0x89, 0x73, 0x7E, 0xDB, 127, 0, 0, 1]);
        let r = req("GET /a/b HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(one("url32", None, &r).as_deref(), Some("2306047707"));
    }

    #[test]
    fn url_ip_and_port() {
        let r = req("GET http://10.1.2.3:8080/x HTTP/1.1\r\nHost: 10.1.2.3:8080\r\n\r\n");
        assert_eq!(one("url_ip", None, &r).as_deref(), Some("10.1.2.3"));
        assert_eq!(one("url_port", None, &r).as_deref(), Some("8080"));
        let r = req("GET HTTPS://10.1.2.3/x HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n");
        assert_eq!(one("url_port", None, &r).as_deref(), Some("443"));
        let r = req("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(one("url_ip", None, &r), None);
        let r = req("GET http://name/x HTTP/1.1\r\nHost: name\r\n\r\n");
        assert_eq!(one("url_port", None, &r), None);
    }

    #[test]
    fn heads_and_names() {
        let r = req("GET / HTTP/1.1\r\nHost: a\r\nX-Foo: 1, 2\r\n\r\n");
        assert_eq!(
            one("req.hdrs", None, &r).as_deref(),
            Some("host: a\r\nx-foo: 1, 2\r\n\r\n")
        );
        assert_eq!(
            one("req.hdr_names", None, &r).as_deref(),
            Some("host,x-foo")
        );
        assert_eq!(
            one("req.hdr_names", Some(&[";x"]), &r).as_deref(),
            Some("host;x-foo")
        );
        assert_eq!(one("req.hdrs", None, &RawRequest::tcp()), None);
    }

    #[test]
    fn bearer_baseq_body_param_and_process_facts() {
        let r = req(
            "POST /p?q=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer  tok\r\nX-T: bearer t2\r\nContent-Length: 11\r\n\r\na=1&b=2&a=3",
        );
        assert_eq!(one("http_auth_bearer", None, &r).as_deref(), Some("tok"));
        assert_eq!(
            one("http_auth_bearer", Some(&["x-t"]), &r).as_deref(),
            Some("t2")
        );
        assert_eq!(
            one("http_auth_bearer", Some(&["x-none"]), &r).as_deref(),
            Some("")
        );
        assert_eq!(one("baseq", None, &r).as_deref(), Some("h/p?q=1"));
        assert_eq!(
            one("req.body_param", Some(&["a"]), &r).as_deref(),
            Some("1")
        );
        assert_eq!(
            one("req.body_param", Some(&["b"]), &r).as_deref(),
            Some("2")
        );
        assert_eq!(one("req.body_param", None, &r).as_deref(), Some("1"));
        assert_eq!(
            one("capture.req.ver", None, &r).as_deref(),
            Some("HTTP/1.1")
        );
        let u = one("uuid", None, &r).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        for _ in 0..100 {
            let v: i64 = one("rand", Some(&["10"]), &r).unwrap().parse().unwrap();
            assert!((0..10).contains(&v));
        }
        let d: i64 = one("date", Some(&["-5", "ms"]), &r)
            .unwrap()
            .parse()
            .unwrap();
        assert!(d > 1_700_000_000_000);
        assert_eq!(one("nbproc", None, &r).as_deref(), Some("1"));
        assert_eq!(one("env", Some(&["CORELB_SURELY_UNSET_VAR"]), &r), None);
        let r = r.with_src("127.0.0.1:5").with_dst("192.0.2.77:80");
        assert_eq!(one("src_is_local", None, &r).as_deref(), Some("1"));
        assert_eq!(one("dst_is_local", None, &r).as_deref(), Some("0"));
    }
}
