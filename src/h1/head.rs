//! What request and response heads share: byte spans, limits, header fields, and the parsers
//! for the field values that decide framing and persistence (Content-Length,
//! Transfer-Encoding, Connection, Host).

use std::ops::Range;

use super::error::ErrorKind;

/// A byte range inside the buffer a head was parsed from.
///
/// Heads store spans, not slices, so they do not borrow the read buffer: the proxy can keep a
/// head while it reads more bytes into the same buffer (which may grow and move it) and
/// resolve spans against the buffer whenever it needs them. `u32` keeps a field at 20 bytes;
/// heads are limited far below 4 GiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    pub(crate) const fn new(start: usize, end: usize) -> Span {
        // Callers pass offsets inside a head bounded by `HeadLimits::max_head`, which
        // `HeadLimits::new` caps at u32::MAX.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span of `part`, a subslice of `base`.
    pub(crate) fn of(base: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        debug_assert!(start + part.len() <= base.len(), "part is not inside base");
        Span::new(start, start + part.len())
    }

    /// Start offset.
    pub const fn start(&self) -> usize {
        self.start as usize
    }

    /// End offset (exclusive).
    pub const fn end(&self) -> usize {
        self.end as usize
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span is empty.
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// As a range.
    pub const fn range(&self) -> Range<usize> {
        self.start()..self.end()
    }

    /// The bytes in `buf`, which must be the buffer the head was parsed from. A span that
    /// does not fit `buf` (a bug in the caller) yields an empty slice rather than a panic
    /// that would take the whole shard down.
    pub fn get<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        debug_assert!(self.end() <= buf.len(), "span used with the wrong buffer");
        buf.get(self.range()).unwrap_or_default()
    }

    /// A sub-span, `range` relative to this span's start.
    pub(crate) fn sub(&self, range: Range<usize>) -> Span {
        Span::new(self.start() + range.start, self.start() + range.end)
    }
}

/// HeadLimits that bound a head, from HAProxy's tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head in bytes, leading empty lines included. HAProxy parses a head inside one
    /// buffer of `tune.bufsize` bytes and keeps `tune.maxrewrite` of it free for rewrites, so
    /// a head larger than `bufsize - maxrewrite` (16384 - 1024 = 15360 by default) is
    /// rejected: 414 if the request line is not complete by then, 431 otherwise, 502 for a
    /// response.
    pub max_head: usize,
    /// Most field lines in a head. `tune.http.maxhdr` (default 101) counts the start line
    /// too, so this is `maxhdr - 1`. Also bounds trailer fields.
    pub max_headers: usize,
    /// `option accept-invalid-http-request` (for requests) or `…-response` (for
    /// responses): any byte but CR, LF and `:` in a field name, and (requests) non-ASCII
    /// bytes and `#` in the target, as HAProxy's relaxed parser.
    pub relaxed: bool,
    /// `h1-accept-payload-with-any-method`: an HTTP/1.0 GET, HEAD or DELETE may carry a
    /// body (else 413, HAProxy's default).
    pub any_method_payload: bool,
}

impl HeadLimits {
    /// HAProxy's defaults: `tune.bufsize 16384`, `tune.maxrewrite 1024`,
    /// `tune.http.maxhdr 101`.
    pub const HAPROXY_DEFAULT: HeadLimits = HeadLimits::from_haproxy(16384, 1024, 101);

    /// From HAProxy's `tune.bufsize`, `tune.maxrewrite` and `tune.http.maxhdr`.
    pub const fn from_haproxy(bufsize: usize, maxrewrite: usize, maxhdr: usize) -> HeadLimits {
        let max_head = bufsize.saturating_sub(maxrewrite);
        HeadLimits::new(max_head, maxhdr.saturating_sub(1))
    }

    /// Explicit limits. `max_head` is capped at `u32::MAX` (spans are 32-bit) and both are at
    /// least 1.
    pub const fn new(max_head: usize, max_headers: usize) -> HeadLimits {
        let max_head = if max_head > u32::MAX as usize {
            u32::MAX as usize
        } else if max_head == 0 {
            1
        } else {
            max_head
        };
        let max_headers = if max_headers == 0 { 1 } else { max_headers };
        HeadLimits {
            max_head,
            max_headers,
            relaxed: false,
            any_method_payload: false,
        }
    }
}

impl HeadLimits {
    /// The same limits, with HAProxy's relaxed parser on or off (see [`HeadLimits::relaxed`]).
    pub const fn relaxed(self, on: bool) -> HeadLimits {
        HeadLimits {
            relaxed: on,
            ..self
        }
    }

    /// The same limits, with `h1-accept-payload-with-any-method` on or off.
    pub const fn any_method_payload(self, on: bool) -> HeadLimits {
        HeadLimits {
            any_method_payload: on,
            ..self
        }
    }
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits::HAPROXY_DEFAULT
    }
}

/// Result of parsing a head from the bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parsed {
    /// The head is not complete yet: read more and call again with the whole buffer.
    Incomplete,
    /// The head is complete and valid. Its first `head_len` bytes of the buffer are the head
    /// (leading empty lines included); the body or the next pipelined message starts there.
    Complete {
        /// Bytes of the buffer taken by the head.
        head_len: usize,
    },
}

/// HTTP/1.x minor version. httparse accepts only these two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// HTTP/1.0: closes by default, no chunked requests.
    Http10,
    /// HTTP/1.1.
    Http11,
}

impl Version {
    pub(crate) const fn from_minor(minor: u8) -> Version {
        if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        }
    }

    /// As sent on the wire: `HTTP/1.0` or `HTTP/1.1`.
    pub const fn as_bytes(self) -> &'static [u8; 8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// A request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is [`Method::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: the response has no body whatever its framing headers say.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// CONNECT: authority-form target; a 2xx response turns the connection into a tunnel.
    Connect,
    /// OPTIONS: the only method allowed with the `*` target.
    Options,
    /// TRACE.
    Trace,
    /// PATCH.
    Patch,
    /// Any other token; the text is in the head's method span.
    Other,
}

impl Method {
    /// Classify a method token.
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// Header fields the codec gives a meaning to, recognised once at parse time so that framing,
/// hop-by-hop stripping and lookups do not compare names again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownHeader {
    /// Host.
    Host,
    /// Content-Length.
    ContentLength,
    /// Transfer-Encoding.
    TransferEncoding,
    /// Connection (hop-by-hop).
    Connection,
    /// Keep-Alive (hop-by-hop).
    KeepAlive,
    /// Proxy-Connection (non-standard, hop-by-hop).
    ProxyConnection,
    /// TE (hop-by-hop).
    Te,
    /// Upgrade (hop-by-hop unless the proxy upgrades).
    Upgrade,
    /// Expect.
    Expect,
    /// Cookie.
    Cookie,
    /// Trailer (kept: it describes the chunked body, which is forwarded as is).
    Trailer,
    /// Sec-WebSocket-Key.
    SecWebSocketKey,
    /// Any other name.
    Other,
}

impl KnownHeader {
    /// Classify a field name (case-insensitive).
    pub fn classify(name: &[u8]) -> KnownHeader {
        let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
        // Dispatch on the length first: most names are then rejected by one comparison.
        match name.len() {
            2 if is(b"te") => KnownHeader::Te,
            4 if is(b"host") => KnownHeader::Host,
            6 if is(b"cookie") => KnownHeader::Cookie,
            6 if is(b"expect") => KnownHeader::Expect,
            7 if is(b"upgrade") => KnownHeader::Upgrade,
            7 if is(b"trailer") => KnownHeader::Trailer,
            10 if is(b"connection") => KnownHeader::Connection,
            10 if is(b"keep-alive") => KnownHeader::KeepAlive,
            14 if is(b"content-length") => KnownHeader::ContentLength,
            16 if is(b"proxy-connection") => KnownHeader::ProxyConnection,
            17 if is(b"transfer-encoding") => KnownHeader::TransferEncoding,
            17 if is(b"sec-websocket-key") => KnownHeader::SecWebSocketKey,
            _ => KnownHeader::Other,
        }
    }

    /// Whether a proxy removes this field when it forwards a message (RFC 9110 §7.6.1), given
    /// whether it is forwarding an upgrade. Transfer-Encoding is not here: it is framing, and
    /// corelb forwards chunked bodies unchanged. Trailer is kept for the same reason.
    pub const fn is_hop_by_hop(self, upgrading: bool) -> bool {
        match self {
            KnownHeader::Connection
            | KnownHeader::KeepAlive
            | KnownHeader::ProxyConnection
            | KnownHeader::Te => true,
            KnownHeader::Upgrade => !upgrading,
            _ => false,
        }
    }
}

/// One field line of a parsed head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// The field name as received.
    pub name: Span,
    /// The field value, without leading and trailing whitespace.
    pub value: Span,
    /// What the name means to the codec.
    pub known: KnownHeader,
    /// Merged into an earlier field and not forwarded: a second identical Host or
    /// Content-Length (HAProxy merges them), or a response's Content-Length when
    /// Transfer-Encoding is present (Transfer-Encoding wins).
    pub dropped: bool,
}

impl HeaderField {
    /// The name bytes.
    pub fn name<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.name.get(buf)
    }

    /// The value bytes.
    pub fn value<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.value.get(buf)
    }

    /// Whether the name is `name`, ignoring case.
    pub fn is(&self, buf: &[u8], name: &[u8]) -> bool {
        self.name.len() == name.len() && self.name(buf).eq_ignore_ascii_case(name)
    }
}

/// The `Connection` options of a message (RFC 9110 §7.6.1), from all its Connection fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `close` was listed.
    pub close: bool,
    /// `keep-alive` was listed.
    pub keep_alive: bool,
    /// `upgrade` was listed.
    pub upgrade: bool,
    /// Some other token was listed: it names a header to remove when forwarding.
    pub other: bool,
}

impl ConnectionOptions {
    /// Add the tokens of one Connection field value.
    pub fn absorb(&mut self, value: &[u8]) {
        for token in split_list(value) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            } else if !token.is_empty() {
                self.other = true;
            }
        }
    }

    /// Whether the connection persists after this message by the version's default and these
    /// options (RFC 9112 §9.3): HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive` and
    /// without `close`.
    pub const fn persistent(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }
}

// ---- byte classes ------------------------------------------------------------------------
//
// Lookup tables rather than `matches!` chains: these run per byte of every Host value and
// every chunk extension, and a table is one load where the chain is a dozen compares.

macro_rules! byte_table {
    ($pattern:pat) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = matches!(i as u8, $pattern);
            i += 1;
        }
        t
    }};
}

const TCHAR: [bool; 256] = byte_table!(
    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~'
);

/// A byte allowed in `uri-host [":" port]`: unreserved, pct-encoded's `%`, sub-delims, `:`,
/// and the brackets of an IP-literal (RFC 3986 §3.2.2).
const HOST_CHAR: [bool; 256] = byte_table!(
    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~' | b'%'
        | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        | b':' | b'[' | b']'
);

/// [`HOST_CHAR`] as classes: 0 not allowed, 1 allowed, 3 allowed but a delimiter (`:`,
/// `[`, `]`) that [`valid_host`] looks at closer.
const HOST_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        if HOST_CHAR[i] {
            t[i] = if matches!(i as u8, b':' | b'[' | b']') {
                3
            } else {
                1
            };
        }
        i += 1;
    }
    t
};

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) const fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// A byte allowed in a field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
pub(crate) const fn is_field_vchar(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Elements of a comma-separated list, trimmed of OWS. Empty elements are yielded (the
/// callers that must reject them do).
pub fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

// ---- framing field values ----------------------------------------------------------------

/// Parse a Content-Length value: one number, or a list of identical numbers (HAProxy merges
/// `5, 5`). Leading zeros are accepted, as HAProxy; signs, blanks-only, other bytes and values
/// above `u64::MAX` are not.
pub(crate) fn parse_content_length(value: &[u8]) -> Result<u64, ErrorKind> {
    let mut found: Option<u64> = None;
    for element in split_list(value) {
        if element.is_empty() {
            return Err(ErrorKind::InvalidContentLength);
        }
        let mut n: u64 = 0;
        for &b in element {
            if !b.is_ascii_digit() {
                return Err(ErrorKind::InvalidContentLength);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or(ErrorKind::InvalidContentLength)?;
        }
        match found {
            Some(prev) if prev != n => return Err(ErrorKind::ConflictingContentLength),
            _ => found = Some(n),
        }
    }
    found.ok_or(ErrorKind::InvalidContentLength)
}

/// What the Transfer-Encoding fields of a message said, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TransferCodings {
    /// At least one Transfer-Encoding field.
    pub present: bool,
    /// `chunked` was seen.
    pub chunked: bool,
    /// The last coding is `chunked`.
    pub chunked_last: bool,
    /// A coding other than `chunked` was seen.
    pub other: bool,
}

/// Add one Transfer-Encoding field value, with HAProxy's checks (`h1_parse_xfer_enc_header`):
/// no empty value or element, `chunked` at most once, and in a request nothing after
/// `chunked`.
pub(crate) fn absorb_transfer_encoding(
    codings: &mut TransferCodings,
    value: &[u8],
    response: bool,
) -> Result<(), ErrorKind> {
    codings.present = true;
    if value.is_empty() {
        return Err(ErrorKind::InvalidTransferEncoding);
    }
    for coding in split_list(value) {
        if coding.is_empty() {
            return Err(ErrorKind::InvalidTransferEncoding);
        }
        if coding.eq_ignore_ascii_case(b"chunked") {
            if codings.chunked {
                // RFC 9112 §6.1: chunked MUST NOT be applied more than once.
                return Err(ErrorKind::InvalidTransferEncoding);
            }
            codings.chunked = true;
            codings.chunked_last = true;
        } else {
            if codings.chunked && !response {
                // RFC 9112 §6.1: chunked MUST be the final coding of a request.
                return Err(ErrorKind::InvalidTransferEncoding);
            }
            codings.other = true;
            codings.chunked_last = false;
        }
    }
    Ok(())
}

/// Split `host[:port]` into host and port. The port is `Some` when a `:` follows the host
/// (it may be empty, which RFC 3986 allows and means the default); a `:` inside an IPv6
/// literal is not a port separator.
pub(crate) fn split_host_port(authority: &[u8]) -> (&[u8], Option<&[u8]>) {
    let digits = authority
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let colon = authority.len() - digits;
    if colon > 0 && authority[colon - 1] == b':' {
        (&authority[..colon - 1], Some(&authority[colon..]))
    } else {
        (authority, None)
    }
}

/// Whether `port` is a default port for `scheme` (HAProxy's `http_is_default_port`): an empty
/// port always is; without a scheme both 80 and 443 are.
pub(crate) fn is_default_port(scheme: Option<&[u8]>, port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    match scheme {
        None => port == b"80" || port == b"443",
        Some(s) => {
            (port == b"80" && s.eq_ignore_ascii_case(b"http"))
                || (port == b"443" && s.eq_ignore_ascii_case(b"https"))
        }
    }
}

/// Validate a Host value or an authority's `host[:port]`: allowed bytes only, brackets only
/// around an IPv6 literal at the start, and a numeric port.
pub(crate) fn valid_host(value: &[u8]) -> bool {
    // One pass, one table for both the byte class and the bytes that need a closer look
    // (testing those three bytes in the loop cost about 14 instructions a byte, on every
    // request's Host).
    let mut seen = 0u8;
    for &b in value {
        let class = HOST_CLASS[b as usize];
        if class == 0 {
            return false;
        }
        seen |= class;
    }
    if seen & 2 == 0 {
        return true;
    }
    let (host, _port) = split_host_port(value);
    match host {
        [b'[', inner @ .., b']'] => !inner.contains(&b'[') && !inner.contains(&b']'),
        _ => !host.contains(&b'[') && !host.contains(&b']') && !host.contains(&b':'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"00042"), Ok(42));
        assert_eq!(parse_content_length(b"5, 5 ,5"), Ok(5));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        let invalid = [
            &b""[..],
            b"+5",
            b"-5",
            b"5 5",
            b"0x10",
            b"5,",
            b",5",
            b"18446744073709551616",
            b"99999999999999999999999",
        ];
        for v in invalid {
            assert_eq!(
                parse_content_length(v),
                Err(ErrorKind::InvalidContentLength),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
        assert_eq!(
            parse_content_length(b"5, 6"),
            Err(ErrorKind::ConflictingContentLength)
        );
    }

    #[test]
    fn transfer_codings() {
        let run = |values: &[&[u8]], response: bool| {
            let mut c = TransferCodings::default();
            for v in values {
                absorb_transfer_encoding(&mut c, v, response)?;
            }
            Ok::<_, ErrorKind>(c)
        };
        let c = run(&[b"chunked"], false).unwrap();
        assert!(c.chunked_last && !c.other);
        let c = run(&[b"gzip, CHUNKED"], false).unwrap();
        assert!(c.chunked_last && c.other);
        let c = run(&[b"gzip", b"chunked"], false).unwrap();
        assert!(c.chunked_last && c.other);
        assert_eq!(
            run(&[b"chunked, gzip"], false),
            Err(ErrorKind::InvalidTransferEncoding)
        );
        let c = run(&[b"chunked, gzip"], true).unwrap();
        assert!(!c.chunked_last && c.other);
        for bad in [&b"chunked, chunked"[..], b"", b"chunked,", b", chunked"] {
            assert_eq!(
                run(&[bad], true),
                Err(ErrorKind::InvalidTransferEncoding),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            run(&[b"chunked", b"chunked"], false),
            Err(ErrorKind::InvalidTransferEncoding)
        );
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port(b"a.example"), (&b"a.example"[..], None));
        assert_eq!(
            split_host_port(b"a.example:8080"),
            (&b"a.example"[..], Some(&b"8080"[..]))
        );
        assert_eq!(split_host_port(b"a:"), (&b"a"[..], Some(&b""[..])));
        assert_eq!(split_host_port(b"[::1]"), (&b"[::1]"[..], None));
        assert_eq!(
            split_host_port(b"[::1]:443"),
            (&b"[::1]"[..], Some(&b"443"[..]))
        );
    }

    #[test]
    fn host_values() {
        for ok in [
            &b"example.com"[..],
            b"example.com:80",
            b"[::1]:8080",
            b"",
            b"a_b",
        ] {
            assert!(valid_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"a b"[..],
            b"a/b",
            b"user@host",
            b"a?b",
            b"a#b",
            b"a:b:c",
            b"[::1",
            b"a]",
            b"h\xc3\xa9",
            b"a\\b",
        ] {
            assert!(!valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn connection_tokens_and_persistence() {
        let mut o = ConnectionOptions::default();
        o.absorb(b"Keep-Alive, X-Foo");
        assert!(o.keep_alive && o.other && !o.close && !o.upgrade);
        assert!(o.persistent(Version::Http10));
        o.absorb(b"close");
        assert!(!o.persistent(Version::Http10));
        assert!(!o.persistent(Version::Http11));
        let none = ConnectionOptions::default();
        assert!(none.persistent(Version::Http11));
        assert!(!none.persistent(Version::Http10));
    }

    #[test]
    fn known_header_names() {
        assert_eq!(KnownHeader::classify(b"HOST"), KnownHeader::Host);
        assert_eq!(
            KnownHeader::classify(b"Transfer-Encoding"),
            KnownHeader::TransferEncoding
        );
        assert_eq!(KnownHeader::classify(b"te"), KnownHeader::Te);
        assert_eq!(KnownHeader::classify(b"Hosts"), KnownHeader::Other);
        assert!(KnownHeader::Upgrade.is_hop_by_hop(false));
        assert!(!KnownHeader::Upgrade.is_hop_by_hop(true));
        assert!(!KnownHeader::TransferEncoding.is_hop_by_hop(false));
        assert!(!KnownHeader::Trailer.is_hop_by_hop(false));
    }
}
