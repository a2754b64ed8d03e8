//! Access-log lines: what a finished stream (mode tcp connection or HTTP transaction) knows,
//! as the variables of HAProxy's log formats (configuration manual 8.2.4), rendered by the
//! one log-format engine ([`crate::acl::LogFormat`]) into a reused buffer.
//!
//! Where corelb does not measure what a variable means, it says so here and the variable
//! renders what HAProxy renders for "unknown": `%Th` and `%Ti` are 0 (the wait for a
//! request head, idle time included, is all in `%TR`), `%bi`/`%bp` (the server connection's
//! source) and `%sslc` (the cipher) are `-`, `%CC`/`%CS` are `-` without `capture cookie`,
//! `%ID` is the transaction's `unique-id-format` value (`-` without one). `%rt` and `%lc`
//! count per process.

use crate::acl::{LogVars, Opts, Sample, Var, put_int, put_str};
use crate::config::logging::Capture;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Header values captured from one transaction (`capture request|response header`): their
/// bytes in one buffer, kept from request to log line, reused across a connection's
/// transactions.
#[derive(Debug, Default)]
pub struct Captures {
    buf: Vec<u8>,
    req: Vec<Option<(u32, u32)>>,
    res: Vec<Option<(u32, u32)>>,
    /// `capture cookie`: the request's (`%CC`) and the response's (`%CS`).
    cookies: [Option<(u32, u32)>; 2],
}

impl Captures {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.req.clear();
        self.res.clear();
        self.cookies = [None; 2];
    }

    /// `capture cookie NAME len N` (HAProxy's `http_manage_client_side_cookies` and
    /// `…_server_side_cookies`): the first cookie, among the request's `Cookie` headers or
    /// the response's `Set-Cookie` ones, whose `name=value` starts with `prefix`, kept as
    /// `name=value` cut to `len` bytes.
    pub fn capture_cookie<'b>(
        &mut self,
        response: bool,
        prefix: &[u8],
        len: usize,
        fields: impl Iterator<Item = (&'b [u8], &'b [u8])>,
    ) {
        let header: &[u8] = if response { b"set-cookie" } else { b"cookie" };
        // A Set-Cookie names one cookie (its first attribute); a Cookie lists several.
        let per_header = if response { 1 } else { usize::MAX };
        let found = fields
            .filter(|(n, _)| n.eq_ignore_ascii_case(header))
            .flat_map(|(_, v)| v.split(|&b| b == b';').take(per_header))
            .map(<[u8]>::trim_ascii)
            // A word without '=' is no cookie to HAProxy.
            .find(|c| c.starts_with(prefix) && c.contains(&b'='));
        if let Some(c) = found {
            let c = &c[..c.len().min(len)];
            let start = self.buf.len() as u32;
            self.buf.extend_from_slice(c);
            self.cookies[response as usize] = Some((start, self.buf.len() as u32));
        }
    }

    /// Captures the last occurrence of each header of `caps` among `fields` (name, value),
    /// cut to its length; `response` says which list.
    pub fn capture<'b>(
        &mut self,
        response: bool,
        caps: &[Capture],
        fields: impl Iterator<Item = (&'b [u8], &'b [u8])> + Clone,
    ) {
        for c in caps {
            let last = fields
                .clone()
                .filter(|(n, _)| n.eq_ignore_ascii_case(c.name.as_bytes()))
                .last();
            let span = last.map(|(_, v)| {
                let v = &v[..v.len().min(c.len)];
                let start = self.buf.len() as u32;
                self.buf.extend_from_slice(v);
                (start, self.buf.len() as u32)
            });
            if response {
                self.res.push(span);
            } else {
                self.req.push(span);
            }
        }
    }

    /// `http-request capture … id N`: slot `idx` of the request's list takes `v` cut to
    /// `len` (a slot that does not exist, as without a log line, takes nothing).
    pub fn set(&mut self, response: bool, idx: usize, v: &[u8], len: usize) {
        let start = self.buf.len() as u32;
        let list = if response {
            &mut self.res
        } else {
            &mut self.req
        };
        // An answer corelb wrote itself (a `deny`) had no server head to capture from: its
        // `http-after-response capture` makes the slots (the caller checked `idx`).
        if response && list.len() <= idx {
            list.resize(idx + 1, None);
        }
        if let Some(slot) = list.get_mut(idx) {
            self.buf.extend_from_slice(&v[..v.len().min(len)]);
            *slot = Some((start, self.buf.len() as u32));
        }
    }

    fn list(&self, response: bool) -> &[Option<(u32, u32)>] {
        if response { &self.res } else { &self.req }
    }

    fn get(&self, span: Option<(u32, u32)>) -> Option<&[u8]> {
        span.map(|(a, b)| &self.buf[a as usize..b as usize])
    }
}

/// Everything a finished stream's log line may show besides its [`Sample`].
pub struct Fields<'a> {
    pub src: SocketAddr,
    pub dst: Option<SocketAddr>,
    /// The client side's TLS version name, when TLS is terminated here.
    pub tls_version: Option<&'a str>,
    /// The client side's TLS suite, when TLS is terminated here.
    pub tls_suite: Option<rustls::CipherSuite>,
    /// When the stream (the connection in mode tcp, the request in mode http) started.
    pub date: SystemTime,
    pub frontend: &'a str,
    pub backend: &'a str,
    pub server: Option<&'a str>,
    pub server_addr: Option<SocketAddr>,
    pub t_request: Option<Duration>,
    pub t_queue: Option<Duration>,
    pub t_connect: Option<Duration>,
    pub t_response: Option<Duration>,
    pub t_total: Duration,
    /// HTTP status; 0 for none.
    pub status: u16,
    /// A TLS connection that failed before it carried a stream, for `error-log-format`:
    /// HAProxy's session values (`%ST` 0, `%ft` with the TLS mark).
    pub embryonic: bool,
    /// Bytes to the client, and from it.
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub term: super::term::Term,
    /// The termination state's persistence-cookie letters (`%tsc`'s last two): what the
    /// client's cookie was and what became of the server's (`--` without `cookie`).
    pub cookie: [u8; 2],
    pub actconn: u32,
    pub feconn: u32,
    pub beconn: u32,
    pub srvconn: u32,
    pub retries: u32,
    pub redispatched: bool,
    pub srv_queue: u32,
    pub bk_queue: u32,
    pub req_captures: &'a [Capture],
    pub res_captures: &'a [Capture],
    pub captures: Option<&'a Captures>,
    /// The request line as received (empty: none was read).
    pub request_line: &'a [u8],
    /// The request line's parts, for %HM %HU %HP %HQ %HV.
    pub sample: &'a dyn Sample,
    /// `%ID`: the transaction's unique ID (`unique-id-format`).
    pub unique_id: Option<&'a [u8]>,
    /// `option logasap`: the totals (`%Ta`, `%Tt`, `%Tu`, `%B`) are what was known when the
    /// line was written, and say so with a leading `+` (HAProxy's `LW_BYTES` off).
    pub asap: bool,
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static LINES: AtomicU64 = AtomicU64::new(0);

use super::MON;

fn ms(d: Option<Duration>) -> i64 {
    d.map_or(-1, |d| d.as_millis() as i64)
}

/// `#XX` for the bytes `map` says must be encoded (HAProxy's `lf_encode_string`).
fn encode(v: &[u8], map: fn(u8) -> bool, out: &mut Vec<u8>) {
    for &c in v {
        if map(c) {
            let _ = write!(out, "#{c:02X}");
        } else {
            out.push(c);
        }
    }
}

/// Writes what `f` writes, in double quotes with `+Q`.
fn quoted(o: Opts, out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    if o.quote {
        out.push(b'"');
    }
    f(out);
    if o.quote {
        out.push(b'"');
    }
}

/// HAProxy's `url_encode_map`, for the request line.
fn url_map(c: u8) -> bool {
    !(32..127).contains(&c) || c == b'"' || c == b'#'
}

/// HAProxy's `hdr_encode_map`, for captured headers.
fn hdr_map(c: u8) -> bool {
    url_map(c) || matches!(c, b'{' | b'|' | b'}')
}

/// `06/Dec/2026:07:03:34 +0000`: GMT (`local` false) or local time with its offset.
fn date_with_zone(t: SystemTime, local: bool, out: &mut Vec<u8>) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (y, mo, d, h, mi, s, off) = if local {
        let tm = crate::sys::localtime(secs);
        (
            tm.tm_year as i64 + 1900,
            tm.tm_mon as usize,
            tm.tm_mday as i64,
            tm.tm_hour as i64,
            tm.tm_min as i64,
            tm.tm_sec as i64,
            tm.tm_gmtoff / 60,
        )
    } else {
        let (y, mo, d) = civil(secs.div_euclid(86400));
        let r = secs.rem_euclid(86400);
        (y, mo, d, r / 3600, r / 60 % 60, r % 60, 0)
    };
    let _ = write!(
        out,
        "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} {}{:02}{:02}",
        MON[mo.min(11)],
        if off < 0 { '-' } else { '+' },
        off.abs() / 60,
        off.abs() % 60
    );
}

/// Days since 1970-01-01 → (year, month 0-11, day 1-31) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, usize, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, (m - 1) as usize, d)
}

impl Fields<'_> {
    fn captures(&self, response: bool, o: Opts, out: &mut Vec<u8>, list: bool) {
        let caps = if response {
            self.res_captures
        } else {
            self.req_captures
        };
        if caps.is_empty() {
            return;
        }
        let spans = self.captures.map(|c| c.list(response)).unwrap_or_default();
        let value = |i: usize| {
            spans
                .get(i)
                .copied()
                .flatten()
                .and_then(|s| self.captures.and_then(|c| c.get(Some(s))))
        };
        if list {
            // %hrl: each value on its own (quoted with +Q), separated by blanks.
            for i in 0..caps.len() {
                if i > 0 {
                    out.push(b' ');
                }
                match value(i) {
                    Some(v) => {
                        quoted(o, out, |out| {
                            encode(v, hdr_map, out);
                        });
                    }
                    None => put_str(None, o, out),
                }
            }
            return;
        }
        quoted(o, out, |out| {
            out.push(b'{');
            for i in 0..caps.len() {
                if i > 0 {
                    out.push(b'|');
                }
                if let Some(v) = value(i) {
                    encode(v, hdr_map, out);
                }
            }
            out.push(b'}');
        });
    }
}

impl LogVars for Fields<'_> {
    fn var(&self, v: Var, o: Opts, out: &mut Vec<u8>) {
        let int = |n: i64, out: &mut Vec<u8>| put_int(n, out);
        let s = |x: &[u8], out: &mut Vec<u8>| put_str(Some(x), o, out);
        let ip = |a: Option<SocketAddr>, out: &mut Vec<u8>| match a {
            Some(a) if o.hex => match a.ip() {
                std::net::IpAddr::V4(v4) => {
                    let _ = write!(out, "{:08X}", u32::from(v4));
                }
                std::net::IpAddr::V6(v6) => {
                    let _ = write!(out, "{:032X}", u128::from(v6));
                }
            },
            Some(a) => {
                let mut b = [0u8; 48];
                let n = {
                    let mut w = &mut b[..];
                    let _ = write!(w, "{}", a.ip());
                    48 - w.len()
                };
                put_str(Some(&b[..n]), o, out)
            }
            None => put_str(None, o, out),
        };
        let port = |a: Option<SocketAddr>, out: &mut Vec<u8>| match a {
            Some(a) if o.hex => {
                let _ = write!(out, "{:04X}", a.port());
            }
            Some(a) => int(a.port() as i64, out),
            None => put_str(None, o, out),
        };
        let total = self.t_total.as_millis() as i64;
        match v {
            Var::ClientIp => ip(Some(self.src), out),
            Var::ClientPort => port(Some(self.src), out),
            Var::FrontendIp => ip(self.dst, out),
            Var::FrontendPort => port(self.dst, out),
            Var::BackendIp | Var::BackendPort => put_str(None, o, out),
            Var::ServerIp => ip(self.server_addr, out),
            Var::ServerPort => port(self.server_addr, out),
            Var::Frontend => s(self.frontend.as_bytes(), out),
            Var::FrontendXprt => {
                quoted(o, out, |out| {
                    out.extend_from_slice(self.frontend.as_bytes());
                    if self.tls_version.is_some() || self.embryonic {
                        out.push(b'~');
                    }
                });
            }
            Var::Backend => s(self.backend.as_bytes(), out),
            Var::Server => s(self.server.unwrap_or("<NOSRV>").as_bytes(), out),
            Var::Date | Var::ReqDate => super::format_date_bytes(self.date, out),
            Var::DateGmt | Var::ReqDateGmt => date_with_zone(self.date, false, out),
            Var::DateLocal | Var::ReqDateLocal => date_with_zone(self.date, true, out),
            Var::Ts => {
                let secs = self.date.duration_since(UNIX_EPOCH).unwrap_or_default();
                int(secs.as_secs() as i64, out)
            }
            Var::Ms => {
                let m = self.date.duration_since(UNIX_EPOCH).unwrap_or_default();
                let _ = write!(out, "{:03}", m.subsec_millis());
            }
            Var::Th | Var::Ti => int(0, out),
            Var::TR | Var::Tq => int(ms(self.t_request), out),
            // -1 for a stream that ended on its request (nothing went to a server: the
            // queue never ran), as HAProxy; 0 when it went to a server without waiting.
            Var::Tw if self.t_queue.is_none() && self.term.phase == super::term::Phase::Request => {
                int(-1, out)
            }
            Var::Tw => int(ms(self.t_queue.or(Some(Duration::ZERO))), out),
            Var::Tc => int(ms(self.t_connect), out),
            Var::Tr => int(ms(self.t_response), out),
            Var::Ta | Var::Tt | Var::Tu => {
                if self.asap {
                    out.push(b'+');
                }
                int(total, out)
            }
            Var::Td => {
                // What is left of the total once the other phases are taken, in time and
                // then cut to milliseconds: cutting each phase first lost up to a
                // millisecond per phase (Td 1 or 2 for a `logasap` line, where HAProxy's
                // whole-millisecond timers give 0).
                let parts: Duration = [
                    self.t_request,
                    self.t_queue,
                    self.t_connect,
                    self.t_response,
                ]
                .iter()
                .flatten()
                .sum();
                int(self.t_total.saturating_sub(parts).as_millis() as i64, out)
            }
            Var::Status => int(
                if self.embryonic {
                    0
                } else if self.status == 0 {
                    -1
                } else {
                    self.status as i64
                },
                out,
            ),
            Var::Bytes => {
                if self.asap {
                    out.push(b'+');
                }
                int(self.bytes_out as i64, out)
            }
            Var::BytesUp => int(self.bytes_in as i64, out),
            Var::ClientCookie | Var::ServerCookie => {
                let response = matches!(v, Var::ServerCookie);
                let c = self
                    .captures
                    .and_then(|c| c.get(c.cookies[response as usize]));
                put_str(c, o, out)
            }
            Var::UniqueId => put_str(self.unique_id, o, out),
            Var::SslCipher => put_str(
                self.tls_suite
                    .and_then(crate::tls::ciphers::openssl_name)
                    .map(str::as_bytes),
                o,
                out,
            ),
            Var::SslVersion => put_str(self.tls_version.map(str::as_bytes), o, out),
            Var::Hostname => {
                static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                let h = HOST.get_or_init(|| super::hostname().unwrap_or_default());
                s(h.as_bytes(), out)
            }
            Var::Pid => int(std::process::id() as i64, out),
            Var::Counter => int(REQUESTS.fetch_add(1, Ordering::Relaxed) as i64, out),
            Var::LogCount => int(LINES.load(Ordering::Relaxed) as i64, out),
            Var::TermState => out.extend_from_slice(&self.term.bytes()),
            Var::TermStateCookie => {
                out.extend_from_slice(&self.term.bytes());
                out.extend_from_slice(&self.cookie);
            }
            Var::ActConn => int(self.actconn as i64, out),
            Var::FeConn => int(self.feconn as i64, out),
            Var::BeConn => int(self.beconn as i64, out),
            Var::SrvConn => int(self.srvconn as i64, out),
            Var::Retries => {
                if self.redispatched {
                    out.push(b'+');
                }
                int(self.retries as i64, out)
            }
            Var::SrvQueue => int(self.srv_queue as i64, out),
            Var::BackendQueue => int(self.bk_queue as i64, out),
            Var::HdrReq => self.captures(false, o, out, false),
            Var::HdrReqList => self.captures(false, o, out, true),
            Var::HdrRes => self.captures(true, o, out, false),
            Var::HdrResList => self.captures(true, o, out, true),
            Var::Request => {
                quoted(o, out, |out| {
                    if self.request_line.is_empty() {
                        out.extend_from_slice(b"<BADREQ>");
                    } else {
                        encode(self.request_line, url_map, out);
                    }
                });
            }
            Var::Method | Var::Uri | Var::Path | Var::PathOnly | Var::Query | Var::Version => {
                self.request_part(v, o, out)
            }
            // `%o` never reaches here (the parser folds it into the options).
            _ => {}
        }
    }
}

impl Fields<'_> {
    fn request_part(&self, v: Var, o: Opts, out: &mut Vec<u8>) {
        let Some(url) = self.sample.url() else {
            return put_str(None, o, out);
        };
        let path = url.split(|&c| c == b'?').next().unwrap_or(url);
        let part: Option<&[u8]> = match v {
            Var::Method => self.sample.method(),
            Var::Uri => Some(url),
            Var::Path => Some(path),
            // The path without scheme and authority.
            Var::PathOnly => Some(match path.windows(3).position(|w| w == b"://") {
                Some(i) => {
                    let rest = &path[i + 3..];
                    rest.iter()
                        .position(|&c| c == b'/')
                        .map_or(b"/", |p| &rest[p..])
                }
                None => path,
            }),
            Var::Query => Some(&url[path.len()..]),
            _ => None,
        };
        if v == Var::Version {
            quoted(o, out, |out| {
                out.extend_from_slice(b"HTTP/");
                out.extend_from_slice(self.sample.version().unwrap_or(b"1.1"));
            });
            return;
        }
        match part {
            Some(p) => {
                quoted(o, out, |out| {
                    encode(p, url_map, out);
                });
            }
            None => put_str(None, o, out),
        }
    }
}

/// Renders `format` for `f` into `line` (cleared first); `sd` gets the structured data
/// when there is a `log-format-sd`.
pub fn render(
    format: &crate::acl::LogFormat,
    sd_format: Option<&crate::acl::LogFormat>,
    f: &Fields,
    line: &mut Vec<u8>,
    sd: &mut Vec<u8>,
) {
    LINES.fetch_add(1, Ordering::Relaxed);
    line.clear();
    sd.clear();
    format.render_log(f.sample, f, line);
    if let Some(sdf) = sd_format {
        sdf.render_log(f.sample, f, sd);
    }
}

thread_local! {
    /// Each shard's line and structured-data buffers, reused for every line it logs.
    static BUFS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        std::cell::RefCell::new((Vec::with_capacity(512), Vec::new()));
}

/// Renders with this thread's reused buffers and hands the line to `send(line, sd)`.
pub fn with_line(
    format: &crate::acl::LogFormat,
    sd_format: Option<&crate::acl::LogFormat>,
    f: &Fields,
    send: impl FnOnce(&[u8], &[u8]),
) {
    BUFS.with_borrow_mut(|(line, sd)| {
        render(format, sd_format, f, line, sd);
        send(line, sd);
    })
}

/// What the log knows of the client side's TLS session.
#[derive(Clone, Copy, Debug)]
pub struct LogTls<'a> {
    pub sni: Option<&'a str>,
    /// `TLSv1.2`, `TLSv1.3`.
    pub version: &'a str,
    pub suite: Option<rustls::CipherSuite>,
    pub resumed: bool,
    pub client_cert: Option<&'a crate::tls::client_auth::ClientCert>,
}

/// A [`Sample`] over a connection's addresses and TLS facts only: what `%[…]` in a log
/// format sees at log time (HAProxy's logs have no request headers left either).
pub struct ConnSample<'a> {
    pub src: SocketAddr,
    pub dst: Option<SocketAddr>,
    /// The client side's TLS session, when TLS is terminated here.
    pub tls: Option<LogTls<'a>>,
    /// `fc_err`, `fc_err_str` of a connection that ended in an error before it carried a
    /// stream.
    pub conn_err: Option<(i64, &'static str)>,
    /// The request's method, target and version when the line is for an HTTP request.
    pub request: Option<(&'a [u8], &'a [u8], &'a [u8])>,
    pub stopping: bool,
    /// The variables the stream had.
    pub vars: crate::acl::Vars<'a>,
    /// The transaction's captures (`capture.req.hdr(N)`).
    pub captures: Option<&'a Captures>,
    /// The transaction's unique ID (`unique-id`).
    pub unique_id: Option<&'a [u8]>,
    /// The stream's frontend, backend and server (`fe_name`, `srv_id`…).
    pub strm: Option<crate::acl::Strm<'a>>,
    /// `http_first_req`, for an HTTP request.
    pub first_req: Option<bool>,
    /// The listener the client came through.
    pub listener: Option<&'a crate::acl::ListenerInfo>,
}

impl Sample for ConnSample<'_> {
    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn method(&self) -> Option<&[u8]> {
        self.request.map(|r| r.0)
    }
    fn url(&self) -> Option<&[u8]> {
        self.request.map(|r| r.1)
    }
    fn version(&self) -> Option<&[u8]> {
        self.request.map(|r| r.2)
    }
    fn for_each_header(&self, _name: &[u8], _f: &mut dyn FnMut(&[u8]) -> bool) {}
    fn ssl_fc(&self) -> bool {
        self.tls.is_some()
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        self.tls.and_then(|t| t.sni).map(str::as_bytes)
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        self.tls.map(|t| t.version.as_bytes())
    }
    fn fc_err(&self) -> (i64, &'static str) {
        self.conn_err.unwrap_or((0, "Success"))
    }
    fn ssl_fc_cipher(&self) -> Option<&[u8]> {
        crate::tls::ciphers::openssl_name(self.tls?.suite?).map(str::as_bytes)
    }
    fn ssl_fc_is_resumed(&self) -> Option<bool> {
        self.tls.map(|t| t.resumed)
    }
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        self.tls.and_then(|t| t.client_cert)
    }
    fn nbsrv(&self, backend: usize) -> u32 {
        let st = self.strm.and_then(|s| s.px.proxy(backend));
        st.and_then(|p| p.backend).map_or(0, |b| b.usable)
    }
    fn strm(&self) -> Option<crate::acl::Strm<'_>> {
        self.strm
    }
    fn listener(&self) -> Option<&crate::acl::ListenerInfo> {
        self.listener
    }
    fn fc_http_major(&self) -> Option<i64> {
        Some(match self.request {
            Some((_, _, v)) if v == b"2.0" || v.ends_with(b"/2.0") => 2,
            _ => 1,
        })
    }
    fn stopping(&self) -> bool {
        self.stopping
    }
    fn vars(&self) -> crate::acl::Vars<'_> {
        self.vars
    }
    fn capture(&self, response: bool, idx: usize) -> Option<&[u8]> {
        let c = self.captures?;
        c.get(c.list(response).get(idx).copied().flatten())
    }
    fn unique_id(&self) -> Option<&[u8]> {
        self.unique_id
    }
    fn http_first_req(&self) -> Option<bool> {
        self.first_req
    }
    fn captured_request(&self) -> Option<(&[u8], &[u8])> {
        self.request.map(|r| (r.0, r.1))
    }
}

/// Splits `GET /x?y HTTP/1.1` into its method, target and version (without `HTTP/`).
pub fn split_request_line(l: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut it = l.splitn(3, |&c| c == b' ');
    let (m, t, v) = (it.next()?, it.next()?, it.next()?);
    Some((m, t, v.strip_prefix(b"HTTP/").unwrap_or(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmt_dates() {
        let mut out = Vec::new();
        date_with_zone(
            UNIX_EPOCH + Duration::from_secs(1_796_540_614),
            false,
            &mut out,
        );
        assert_eq!(out, b"06/Dec/2026:07:03:34 +0000");
        assert_eq!(civil(0), (1970, 0, 1));
        assert_eq!(civil(11_016), (2000, 1, 29));
    }

    /// The built-in HTTP line, captures included, renders into a reused buffer without
    /// allocating.
    #[test]
    fn a_line_costs_no_allocation() {
        use crate::acl::{LogFormat, ParseCtx};
        let fmt = LogFormat::parse_log(
            crate::config::logging::HTTP_LOG_FORMAT,
            &mut ParseCtx::new("fe"),
            true,
        )
        .unwrap();
        let caps = [Capture {
            name: "Host".into(),
            len: 8,
        }];
        let mut c = Captures::default();
        let fields = [(&b"host"[..], &b"example.com"[..])];
        c.capture(false, &caps, fields.iter().copied());
        let sample = ConnSample {
            src: "10.0.0.1:1234".parse().unwrap(),
            dst: Some("10.0.0.2:80".parse().unwrap()),
            tls: None,
            conn_err: None,
            request: split_request_line(b"GET /a?b HTTP/1.1"),
            stopping: false,
            vars: Default::default(),
            captures: Some(&c),
            unique_id: None,
            strm: None,
            first_req: None,
            listener: None,
        };
        let f = Fields {
            src: sample.src,
            dst: sample.dst,
            tls_version: None,
            tls_suite: None,
            date: UNIX_EPOCH + Duration::from_secs(1_796_540_614),
            frontend: "fe",
            backend: "be",
            server: Some("s1"),
            server_addr: None,
            t_request: Some(Duration::from_millis(1)),
            t_queue: None,
            t_connect: Some(Duration::ZERO),
            t_response: Some(Duration::from_millis(3)),
            t_total: Duration::from_millis(4),
            status: 200,
            embryonic: false,
            bytes_out: 500,
            bytes_in: 80,
            asap: false,
            term: crate::log::term::Term::NORMAL,
            cookie: *b"--",
            actconn: 1,
            feconn: 1,
            beconn: 0,
            srvconn: 0,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            bk_queue: 0,
            req_captures: &caps,
            res_captures: &[],
            captures: Some(&c),
            request_line: b"GET /a?b HTTP/1.1",
            sample: &sample,
            unique_id: None,
        };
        let (mut line, mut sd) = (Vec::with_capacity(512), Vec::new());
        // The first line sets up localtime's zone data.
        render(&fmt, None, &f, &mut line, &mut sd);
        let ((), n) =
            crate::sys::counting_alloc::allocations(|| render(&fmt, None, &f, &mut line, &mut sd));
        assert_eq!(n, 0);
        let text = String::from_utf8(line).unwrap();
        assert!(text.starts_with("10.0.0.1:1234 ["), "{text}");
        assert!(
            text.ends_with("] fe be/s1 1/0/0/3/4 200 500 - - ---- 1/1/0/0/0 0/0 {example.} \"GET /a?b HTTP/1.1\""),
            "{text}"
        );
    }

    #[test]
    fn encodings() {
        let mut out = Vec::new();
        encode(b"GET /a\"b#c{d} HTTP/1.1", url_map, &mut out);
        assert_eq!(out, b"GET /a#22b#23c{d} HTTP/1.1");
        out.clear();
        encode(b"a|b{c}\x01", hdr_map, &mut out);
        assert_eq!(out, b"a#7Cb#7Bc#7D#01");
    }
}
