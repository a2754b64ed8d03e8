//! Request heads: httparse tokenizes, this module validates what httparse leaves open and
//! records everything as spans into the read buffer.

use std::mem::MaybeUninit;

use super::diagnose;
use super::error::{ErrorKind, HttpError, Message};
use super::head::{
    ConnectionOptions, HeadLimits, HeaderField, KnownHeader, Method, Parsed, Span, TransferCodings,
    Version, absorb_transfer_encoding, is_default_port, parse_content_length, split_host_port,
    split_list, valid_host,
};

/// Field slots httparse fills on the stack. HeadLimits above this (a `tune.http.maxhdr` above
/// 129) make each parse allocate its scratch on the heap instead; see [`parse_request`].
pub(crate) const STACK_HEADERS: usize = 128;

/// The four forms of request-target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `scheme://authority/path?query`, sent to proxies; the authority is the host.
    Absolute,
    /// `host:port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// A parsed and validated request head. All byte data are [`Span`]s into the buffer given to
/// [`parse_request`]; resolve them with the same buffer.
///
/// One `RequestHead` per connection is meant to be reused for every request on it: parsing
/// clears and refills it, so its header vector stops allocating after the first request (or
/// never does, with [`RequestHead::with_capacity`]). After an `Incomplete` or an error its
/// contents are unspecified.
#[derive(Clone, Debug)]
pub struct RequestHead {
    pub(crate) method: Method,
    pub(crate) method_span: Span,
    pub(crate) target: Span,
    pub(crate) form: TargetForm,
    pub(crate) scheme: Option<Span>,
    pub(crate) authority: Option<Span>,
    pub(crate) path: Span,
    pub(crate) query: Option<Span>,
    pub(crate) host: Option<Span>,
    pub(crate) version: Version,
    pub(crate) line: Span,
    pub(crate) headers: Vec<HeaderField>,
    pub(crate) content_length: Option<u64>,
    pub(crate) chunked: bool,
    pub(crate) connection: ConnectionOptions,
    pub(crate) expect_continue: bool,
    pub(crate) upgrade_header: bool,
    pub(crate) websocket: bool,
    pub(crate) head_len: usize,
}

impl Default for RequestHead {
    fn default() -> RequestHead {
        RequestHead::new()
    }
}

impl RequestHead {
    /// An empty head; its header vector grows on first use.
    pub const fn new() -> RequestHead {
        RequestHead {
            method: Method::Get,
            method_span: Span::new(0, 0),
            target: Span::new(0, 0),
            form: TargetForm::Origin,
            scheme: None,
            authority: None,
            path: Span::new(0, 0),
            query: None,
            host: None,
            version: Version::Http11,
            line: Span::new(0, 0),
            headers: Vec::new(),
            content_length: None,
            chunked: false,
            connection: ConnectionOptions {
                close: false,
                keep_alive: false,
                upgrade: false,
                other: false,
            },
            expect_continue: false,
            upgrade_header: false,
            websocket: false,
            head_len: 0,
        }
    }

    /// An empty head with room for `limits.max_headers` fields, so that parsing never
    /// allocates.
    pub fn with_capacity(limits: &HeadLimits) -> RequestHead {
        let mut head = RequestHead::new();
        head.headers.reserve_exact(limits.max_headers);
        head
    }

    /// The method.
    pub const fn method(&self) -> Method {
        self.method
    }

    /// The method as received (the text of [`Method::Other`]).
    pub fn method_bytes<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.method_span.get(buf)
    }

    /// The request-target as received.
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.target.get(buf)
    }

    /// The target's span.
    pub const fn target_span(&self) -> Span {
        self.target
    }

    /// Which form the target has.
    pub const fn target_form(&self) -> TargetForm {
        self.form
    }

    /// The scheme of an absolute-form target, without `://`.
    pub fn scheme<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.scheme.map(|s| s.get(buf))
    }

    /// The authority of an absolute-form or authority-form target.
    pub fn authority<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.authority.map(|s| s.get(buf))
    }

    /// The path without the query: from the target's first `/` (empty for an absolute-form
    /// target without a path, `*` for the asterisk form, empty for CONNECT). HAProxy's `path`.
    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.path.get(buf)
    }

    /// The target from its path on (path and query): the whole target but for an
    /// absolute-form one, whose scheme and authority it leaves out (empty, or `?…`, when
    /// that has no path).
    pub fn origin<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        match self.form {
            TargetForm::Absolute => {
                &buf[self.path.start().min(self.target.end())..self.target.end()]
            }
            _ => self.target(buf),
        }
    }

    /// The path's span.
    pub const fn path_span(&self) -> Span {
        self.path
    }

    /// The query after `?`, if there is a `?` (it may be empty). HAProxy's `query`.
    pub fn query<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.query.map(|s| s.get(buf))
    }

    /// The host the request is for: the authority of an absolute-form or CONNECT target
    /// (RFC 9112 §3.2.2: it overrides Host), else the Host field. With a port if one was sent.
    pub fn host<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.host.map(|s| s.get(buf))
    }

    /// The HTTP version.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The request line, without its line terminator.
    pub const fn request_line(&self) -> Span {
        self.line
    }

    /// All field lines in the order received, merged duplicates included (marked
    /// [`HeaderField::dropped`]).
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The Content-Length, if the request has one (and no Transfer-Encoding, which is
    /// rejected together with it).
    pub const fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Whether the body is chunked.
    pub const fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// The Connection options.
    pub const fn connection(&self) -> ConnectionOptions {
        self.connection
    }

    /// Whether the client wants the connection kept after this exchange, by its version's
    /// default and its Connection options (RFC 9112 §9.3).
    pub const fn keep_alive(&self) -> bool {
        self.connection.persistent(self.version)
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1 says to ignore it on
    /// HTTP/1.0). The proxy may answer `100 Continue` itself or let the server do it.
    pub const fn expects_continue(&self) -> bool {
        self.expect_continue && matches!(self.version, Version::Http11)
    }

    /// The proxy answered `100 Continue` itself (`http-request wait-for-body`): the
    /// `Expect: 100-continue` fields are not forwarded, and the request no longer waits
    /// for a server's 100 (HAProxy's `http_handle_expect_hdr`).
    pub fn continue_answered(&mut self, buf: &[u8]) {
        for h in &mut self.headers {
            if h.known == KnownHeader::Expect && h.value(buf).eq_ignore_ascii_case(b"100-continue")
            {
                h.dropped = true;
            }
        }
        self.expect_continue = false;
    }

    /// The client asks to switch protocols: `upgrade` in Connection and an Upgrade field.
    pub const fn upgrade_requested(&self) -> bool {
        self.connection.upgrade && self.upgrade_header
    }

    /// The upgrade asked for is WebSocket (and, as HAProxy checks, carries a 24-byte
    /// Sec-WebSocket-Key).
    pub const fn is_websocket_upgrade(&self) -> bool {
        self.upgrade_requested() && self.websocket
    }

    /// Bytes of the buffer the head took.
    pub const fn head_len(&self) -> usize {
        self.head_len
    }
}

/// Parse a request head from the bytes received so far.
///
/// `buf` is the connection's read buffer from the start of the request. Only its first
/// `limits.max_head` bytes are looked at; if the head is not complete within them the request
/// is rejected (414 or 431). On `Complete { head_len }`, `head` describes the request and
/// `buf[head_len..]` is the body or the next pipelined request.
///
/// Allocation: none when `head` has capacity for the fields (see
/// [`RequestHead::with_capacity`]) and `limits.max_headers <= 128`; above that httparse's
/// scratch is allocated per call.
pub fn parse_request(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<Parsed, HttpError> {
    let window = &buf[..buf.len().min(limits.max_head)];
    let max_headers = limits.max_headers;
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap: Vec<MaybeUninit<httparse::Header<'_>>>;
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if max_headers <= STACK_HEADERS {
        &mut stack[..max_headers]
    } else {
        heap = std::iter::repeat_with(MaybeUninit::uninit)
            .take(max_headers)
            .collect();
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let reject = |kind: ErrorKind, at: usize| HttpError::new(kind, Message::Request, at);
    let relaxed = limits.relaxed;
    let first = req.parse_with_uninit_headers(window, slots);
    // `option accept-invalid-http-request`: a head refused for its field names is read
    // again with them masked (see `relaxed`).
    let masked = match &first {
        Err(httparse::Error::HeaderName | httparse::Error::Token) if relaxed => {
            super::relaxed::mask_names(window)
        }
        _ => None,
    };
    let mut slots2: Vec<MaybeUninit<httparse::Header<'_>>>;
    let mut req2;
    let (window, req, parsed) = match &masked {
        Some(m) => {
            // The rare path: its scratch is allocated.
            slots2 = std::iter::repeat_with(MaybeUninit::uninit)
                .take(max_headers)
                .collect();
            req2 = httparse::Request::new(&mut []);
            let r = req2.parse_with_uninit_headers(m, &mut slots2);
            (&m[..], &req2, r)
        }
        None => (window, &req, first),
    };
    match parsed {
        Ok(httparse::Status::Complete(head_len)) => {
            build(window, req, head_len, head, limits).map_err(|(k, at)| reject(k, at))?;
            Ok(Parsed::Complete { head_len })
        }
        Ok(httparse::Status::Partial) if window.len() < limits.max_head => Ok(Parsed::Incomplete),
        Ok(httparse::Status::Partial) => {
            // The buffer is full and the head is not complete. HAProxy answers 414 when it is
            // still in the request line, 431 once in the fields.
            let start = diagnose::skip_empty_lines(window);
            let kind = if memchr::memchr(b'\n', &window[start..]).is_none() {
                ErrorKind::RequestLineTooLong
            } else {
                ErrorKind::HeadTooLarge
            };
            Err(reject(kind, window.len()))
        }
        Err(e) => {
            let (kind, at) = diagnose::request(window, e);
            Err(reject(kind, at))
        }
    }
}

type Reject = (ErrorKind, usize);

fn build(
    buf: &[u8],
    req: &httparse::Request<'_, '_>,
    head_len: usize,
    head: &mut RequestHead,
    limits: &HeadLimits,
) -> Result<(), Reject> {
    // httparse fills all three on Complete.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err((ErrorKind::InvalidMethod, 0));
    };
    head.headers.clear();
    for h in req.headers.iter() {
        head.headers.push(HeaderField {
            name: Span::of(buf, h.name.as_bytes()),
            value: Span::of(buf, h.value),
            known: KnownHeader::Other,
            dropped: false,
        });
    }
    let method = Span::of(buf, method.as_bytes());
    let target = Span::of(buf, target.as_bytes());
    validate(buf, method, target, minor, head_len, head, limits)
}

/// A request head the proxy wrote itself, from a message already tokenized (an HTTP/2
/// stream's head, written as HTTP/1.1 by the stream): `buf` holds the head as
/// `METHOD SP target SP HTTP/1.1 CRLF`, then its fields; `head.headers` already has each
/// field's name and value spans (in order; `known` and `dropped` are filled here), `method`
/// and `target` are the spans of the request line's tokens. Everything [`parse_request`]
/// checks after tokenizing is checked the same way, with the same errors.
///
/// `None` when what tokenizing checks cannot be taken for granted here (a head over
/// `limits.max_head`, more fields than `limits.max_headers`, a target byte httparse
/// refuses): the caller parses `buf` with [`parse_request`] instead, which answers as it
/// always did. Names and values need no check: HTTP/2's (the `http` crate's) rules for
/// them are httparse's (lower-case tokens; no control byte but HTAB, no DEL).
pub fn request_from_tokens(
    buf: &[u8],
    method: Span,
    target: Span,
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Option<Result<(), HttpError>> {
    let head_len = buf.len();
    let t = target.get(buf);
    let tokenizable = head_len <= limits.max_head
        && head.headers.len() <= limits.max_headers
        && !method.is_empty()
        && !t.is_empty()
        && t.iter().all(|&b| matches!(b, b'!'..=0x7e | 0x80..=0xff));
    if !tokenizable {
        return None;
    }
    Some(
        validate(buf, method, target, 1, head_len, head, limits)
            .map_err(|(kind, at)| HttpError::new(kind, Message::Request, at)),
    )
}

/// What a request head must be beyond its tokens; fills `head` (whose `headers` hold the
/// fields' spans) from the request line's tokens.
fn validate(
    buf: &[u8],
    method_span: Span,
    target_span: Span,
    minor: u8,
    head_len: usize,
    head: &mut RequestHead,
    limits: &HeadLimits,
) -> Result<(), Reject> {
    let relaxed = limits.relaxed;
    head.method = Method::from_bytes(method_span.get(buf));
    head.method_span = method_span;
    head.target = target_span;
    head.version = Version::from_minor(minor);
    // httparse enforces exactly one SP before the 8-byte version.
    head.line = Span::new(method_span.start(), target_span.end() + 9);
    head.head_len = head_len;

    analyze_target(buf, head, relaxed)?;

    head.content_length = None;
    head.chunked = false;
    head.connection = ConnectionOptions::default();
    head.expect_continue = false;
    head.upgrade_header = false;
    head.websocket = false;
    let mut codings = TransferCodings::default();
    let mut host_field: Option<Span> = None;
    let mut websocket_key = false;

    for i in 0..head.headers.len() {
        let HeaderField { name, value, .. } = head.headers[i];
        let value_span = value;
        let name = name.get(buf);
        let value = value_span.get(buf);
        let at = value_span.start();
        let known = KnownHeader::classify(name);
        let mut dropped = false;
        match known {
            KnownHeader::ContentLength => {
                let n = parse_content_length(value).map_err(|k| (k, at))?;
                match head.content_length {
                    Some(prev) if prev != n => {
                        return Err((ErrorKind::ConflictingContentLength, at));
                    }
                    Some(_) => dropped = true,
                    None => head.content_length = Some(n),
                }
            }
            KnownHeader::TransferEncoding => {
                absorb_transfer_encoding(&mut codings, value, false).map_err(|k| (k, at))?;
            }
            KnownHeader::Connection => head.connection.absorb(value),
            KnownHeader::Host => {
                if !valid_host(value) {
                    return Err((ErrorKind::InvalidHost, at));
                }
                match host_field {
                    Some(prev) if prev.get(buf).eq_ignore_ascii_case(value) => dropped = true,
                    Some(_) => return Err((ErrorKind::ConflictingHost, at)),
                    None => host_field = Some(value_span),
                }
            }
            KnownHeader::Expect => {
                head.expect_continue |=
                    split_list(value).any(|e| e.eq_ignore_ascii_case(b"100-continue"));
            }
            KnownHeader::Upgrade => {
                head.upgrade_header = true;
                head.websocket |= split_list(value).any(|p| p.eq_ignore_ascii_case(b"websocket"));
            }
            KnownHeader::SecWebSocketKey => websocket_key |= value.len() == 24,
            _ => {}
        }
        let f = &mut head.headers[i];
        f.known = known;
        f.dropped = dropped;
    }

    let line_end = head.line.end();
    if codings.present {
        if head.content_length.is_some() {
            return Err((ErrorKind::ContentLengthWithTransferEncoding, line_end));
        }
        if head.version == Version::Http10 {
            return Err((ErrorKind::TransferEncodingInHttp10, line_end));
        }
        if !codings.chunked_last {
            // RFC 9112 §6.3: a request whose final coding is not chunked has no knowable
            // length; HAProxy answers 400 here (before its 422 for other codings).
            return Err((ErrorKind::InvalidTransferEncoding, line_end));
        }
        head.chunked = true;
    }

    check_host(buf, head, host_field)?;

    let has_body = head.chunked || head.content_length.is_some_and(|n| n > 0);
    if head.version == Version::Http10
        && has_body
        && !limits.any_method_payload
        && matches!(head.method, Method::Get | Method::Head | Method::Delete)
    {
        return Err((ErrorKind::PayloadNotAllowed, line_end));
    }
    if codings.other {
        return Err((ErrorKind::UnsupportedTransferCoding, line_end));
    }
    if head.connection.upgrade && head.websocket && !websocket_key {
        return Err((ErrorKind::MissingWebSocketKey, line_end));
    }
    Ok(())
}

/// Classify the target, check it suits the method, and find path, query and authority.
fn analyze_target(buf: &[u8], head: &mut RequestHead, relaxed: bool) -> Result<(), Reject> {
    let span = head.target;
    let t = span.get(buf);
    let at = span.start();
    // httparse lets obs-text through in targets; HAProxy refuses it (and `#`: a fragment is
    // never sent, RFC 9112 §3.2) unless `option accept-invalid-http-request`.
    if !relaxed && let Some(bad) = t.iter().position(|&b| b >= 0x80 || b == b'#') {
        return Err((ErrorKind::InvalidTarget, at + bad));
    }
    head.scheme = None;
    head.authority = None;
    head.query = None;
    let invalid = Err((ErrorKind::InvalidTarget, at));

    if head.method == Method::Connect {
        // authority-form only, and HAProxy wants a port.
        let (host, port) = split_host_port(t);
        if t.starts_with(b"/") || host.is_empty() || port.is_none_or(|p| p.is_empty()) {
            return invalid;
        }
        if !valid_host(t) {
            return invalid;
        }
        head.form = TargetForm::Authority;
        head.authority = Some(span);
        head.path = span.sub(0..0);
        return Ok(());
    }
    if t.starts_with(b"/") {
        head.form = TargetForm::Origin;
        split_path_query(head, t, span, 0);
        return Ok(());
    }
    if t == b"*" {
        if head.method != Method::Options {
            return invalid;
        }
        head.form = TargetForm::Asterisk;
        head.path = span;
        return Ok(());
    }
    // absolute-form: scheme "://" authority path-abempty [ "?" query ]
    let Some(colon) = memchr::memchr(b':', t) else {
        return invalid;
    };
    let scheme = &t[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || !t[colon..].starts_with(b"://") {
        return invalid;
    }
    let auth_start = colon + 3;
    let auth_len = t[auth_start..]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(t.len() - auth_start);
    let authority = &t[auth_start..auth_start + auth_len];
    // userinfo is deprecated and a phishing vector (RFC 9110 §4.2.4): refuse it rather than
    // strip it as HAProxy does. An empty host is invalid for http(s) (RFC 9110 §4.2.1).
    let (host, _) = split_host_port(authority);
    if host.is_empty() || !valid_host(authority) {
        return invalid;
    }
    head.form = TargetForm::Absolute;
    head.scheme = Some(span.sub(0..colon));
    head.authority = Some(span.sub(auth_start..auth_start + auth_len));
    split_path_query(head, t, span, auth_start + auth_len);
    Ok(())
}

/// Path and query of the target `t` (at `target`) from offset `from`, the start of the path.
fn split_path_query(head: &mut RequestHead, t: &[u8], target: Span, from: usize) {
    match memchr::memchr(b'?', &t[from..]) {
        Some(q) => {
            head.path = target.sub(from..from + q);
            head.query = Some(target.sub(from + q + 1..t.len()));
        }
        None => {
            head.path = target.sub(from..t.len());
            head.query = None;
        }
    }
}

/// Host rules: HTTP/1.1 needs a Host unless the target carries the authority; when both are
/// there they must agree (HAProxy's `h1_validate_*_authority`).
fn check_host(buf: &[u8], head: &mut RequestHead, host_field: Option<Span>) -> Result<(), Reject> {
    head.host = host_field;
    let Some(authority) = head.authority else {
        if host_field.is_none() && head.version == Version::Http11 {
            return Err((ErrorKind::MissingHost, head.line.end()));
        }
        return Ok(());
    };
    head.host = Some(authority);
    let Some(host_field) = host_field else {
        return Ok(());
    };
    let at = host_field.start();
    let auth = authority.get(buf);
    let host = host_field.get(buf);
    let (uri_host, uri_port) = split_host_port(auth);
    let (hdr_host, hdr_port) = split_host_port(host);
    let scheme = head.scheme.map(|s| s.get(buf));
    let same_host = uri_host.eq_ignore_ascii_case(hdr_host);
    let ok = if head.form == TargetForm::Authority {
        // CONNECT: with a port in Host both must match; without, the target's port must be
        // a default one.
        match hdr_port {
            Some(p) if !p.is_empty() => same_host && Some(p) == uri_port,
            _ => same_host && uri_port.is_some_and(|p| is_default_port(None, p)),
        }
    } else if auth.eq_ignore_ascii_case(host) {
        true
    } else {
        match (uri_port, hdr_port) {
            (None, None) => false,
            (Some(p), _) if !is_default_port(scheme, p) => false,
            (_, Some(p)) if !is_default_port(scheme, p) => false,
            _ => same_host,
        }
    };
    if ok {
        Ok(())
    } else {
        Err((ErrorKind::HostMismatch, at))
    }
}
