//! Parse errors: what went wrong, who sent it, and what the proxy must answer.
//!
//! Every head or body error is final for its connection: once framing cannot be trusted the
//! only safe move is to answer (if nothing was forwarded yet) and close. So an [`HttpError`]
//! carries the three things the proxy decides on — the [`Message`] whose bytes were bad (logs:
//! HAProxy's `PR` vs `PH` termination states; retries: a server's junk is HAProxy's
//! `retry-on junk-response`), the status to answer ([`HttpError::status`]) and where in the
//! buffer it was found (for `show errors`-style captures) — and nothing that needs an
//! allocation.

use std::fmt;

/// Which message failed to parse: a request (from the client) or a response (from a server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A request head or request body. The proxy answers with [`HttpError::status`] (400,
    /// 413, 414, 422, 431 or 505) and closes.
    Request,
    /// A response head or response body. The proxy answers 502 if it has not started
    /// forwarding the response (HAProxy's `retry-on junk-response` may retry first), and
    /// closes the server connection in any case.
    Response,
}

/// What was wrong with a head. The status each kind maps to is on [`ErrorKind::client_status`];
/// on the server side every kind maps to 502.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    // ---- start line -------------------------------------------------------------------
    /// The method is empty or holds a byte that is not a `tchar` (RFC 9110 §5.6.2). 400.
    InvalidMethod,
    /// The request target is missing, holds a space, a control byte, a non-ASCII byte or a
    /// `#` (HAProxy rejects fragments), or its form does not suit the method: origin-form with
    /// CONNECT, authority-form (or an authority without a port) without CONNECT, `*` without
    /// OPTIONS, an absolute-URI without `scheme://`, with userinfo or with an invalid host.
    /// 400.
    InvalidTarget,
    /// The HTTP-version is not `HTTP/DIGIT.DIGIT` (e.g. `http/1.1`, `HTTP/1`, `HTTP/1.1x`),
    /// or is missing (HTTP/0.9, which HAProxy also rejects by default). 400.
    InvalidVersion,
    /// A well-formed `HTTP/x.y` that is neither 1.0 nor 1.1 (`HTTP/2.0`, `HTTP/1.2`). 505
    /// (RFC 9110 §15.6.6). HAProxy would treat `HTTP/1.2` as 1.1; httparse cannot, see the
    /// module docs.
    UnsupportedVersion,
    /// The request line alone does not fit in [`HeadLimits::max_head`](super::HeadLimits). 414, as
    /// HAProxy does when its buffer fills before the end of the request line.
    RequestLineTooLong,
    /// A response status line that is not `HTTP/1.x SP 3DIGIT [SP reason] CRLF`, or a status
    /// outside 100..=599 (RFC 9110 §15). Server side only: 502.
    InvalidStatusLine,

    // ---- field syntax -----------------------------------------------------------------
    /// A CR not followed by LF where a line ends. 400.
    InvalidLineEnding,
    /// A line starting with SP or HTAB: obsolete line folding (RFC 9112 §5.2), or whitespace
    /// between the start line and the first field (RFC 9112 §2.2). 400.
    ObsFold,
    /// A field line starting with `:`. 400.
    EmptyHeaderName,
    /// SP or HTAB between the field name and the colon (RFC 9112 §5.1 requires 400).
    WhitespaceBeforeColon,
    /// A field name holding a byte that is not a `tchar` (control bytes included), or a field
    /// line without a colon. 400.
    InvalidHeaderName,
    /// A field value holding a control byte other than HTAB (NUL and DEL included). 400.
    InvalidHeaderValue,
    /// The head does not fit in [`HeadLimits::max_head`](super::HeadLimits) (`tune.bufsize` minus
    /// `tune.maxrewrite`). 431, as HAProxy.
    HeadTooLarge,
    /// More field lines than [`HeadLimits::max_headers`](super::HeadLimits) (`tune.http.maxhdr` minus
    /// the start line). 400, as HAProxy documents and does.
    TooManyHeaders,

    // ---- framing ----------------------------------------------------------------------
    /// A request with both Content-Length and Transfer-Encoding (RFC 9112 §6.1 allows
    /// rejecting it; HAProxy instead drops Content-Length and closes — see the module docs).
    /// 400. Responses are not rejected for this: Transfer-Encoding wins.
    ContentLengthWithTransferEncoding,
    /// A Content-Length that is empty, signed, not all digits, or overflows 64 bits. 400.
    InvalidContentLength,
    /// Several Content-Length values (in one list or several fields) that differ. 400.
    /// Identical ones are merged, as HAProxy does.
    ConflictingContentLength,
    /// A Transfer-Encoding that is empty or has an empty element, applies `chunked` twice,
    /// has a coding after `chunked` (requests), or lacks `chunked` (requests: the length
    /// cannot be determined, RFC 9112 §6.3). 400.
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked` with a final `chunked` (`gzip, chunked`) in a
    /// request: 422, as HAProxy ("only chunked is supported"). In a response any coding other
    /// than `chunked` gives this kind (502), as HAProxy.
    UnsupportedTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: the framing is faulty). 400.
    TransferEncodingInHttp10,
    /// An HTTP/1.0 GET, HEAD or DELETE with a body: HAProxy's rule (its global
    /// `h1-accept-payload-with-any-method` turns it off), 413.
    PayloadNotAllowed,

    // ---- host ------------------------------------------------------------------------
    /// An HTTP/1.1 request in origin- or asterisk-form without Host (RFC 9112 §3.2). 400.
    MissingHost,
    /// Several Host fields with different values (identical ones are merged, as HAProxy). 400.
    ConflictingHost,
    /// A Host value with bytes a `uri-host [":" port]` cannot hold (RFC 9112 §3.2). 400.
    InvalidHost,
    /// The Host field disagrees with the authority of an absolute-form or CONNECT target
    /// (same host, and same port or a default port, is accepted — HAProxy's rule). 400.
    HostMismatch,
    /// A WebSocket upgrade (`Connection: upgrade` + `Upgrade: websocket`) without a 24-byte
    /// `Sec-WebSocket-Key`, which HAProxy rejects. 400.
    MissingWebSocketKey,

    // ---- body --------------------------------------------------------------------------
    /// The chunked body was malformed; see [`ChunkError`](super::ChunkError). 400 / 502 if
    /// nothing was forwarded yet; otherwise the proxy can only abort.
    InvalidChunkedBody,
}

impl ErrorKind {
    /// The status a proxy answers when a client sent this (a server's errors are all 502).
    pub const fn client_status(self) -> u16 {
        match self {
            ErrorKind::UnsupportedVersion => 505,
            ErrorKind::RequestLineTooLong => 414,
            ErrorKind::HeadTooLarge => 431,
            ErrorKind::UnsupportedTransferCoding => 422,
            ErrorKind::PayloadNotAllowed => 413,
            _ => 400,
        }
    }

    /// A short description, for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidMethod => "invalid method",
            ErrorKind::InvalidTarget => "invalid request target",
            ErrorKind::InvalidVersion => "invalid HTTP version",
            ErrorKind::UnsupportedVersion => "unsupported HTTP version",
            ErrorKind::RequestLineTooLong => "request line too long",
            ErrorKind::InvalidStatusLine => "invalid status line",
            ErrorKind::InvalidLineEnding => "CR without LF",
            ErrorKind::ObsFold => "line starting with whitespace (obs-fold)",
            ErrorKind::EmptyHeaderName => "empty header name",
            ErrorKind::WhitespaceBeforeColon => "whitespace between header name and colon",
            ErrorKind::InvalidHeaderName => "invalid header name",
            ErrorKind::InvalidHeaderValue => "invalid byte in header value",
            ErrorKind::HeadTooLarge => "header section too large",
            ErrorKind::TooManyHeaders => "too many headers",
            ErrorKind::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            ErrorKind::InvalidContentLength => "invalid Content-Length",
            ErrorKind::ConflictingContentLength => "conflicting Content-Length values",
            ErrorKind::InvalidTransferEncoding => "invalid Transfer-Encoding",
            ErrorKind::UnsupportedTransferCoding => "unsupported transfer coding",
            ErrorKind::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            ErrorKind::PayloadNotAllowed => "HTTP/1.0 GET/HEAD/DELETE with a body",
            ErrorKind::MissingHost => "HTTP/1.1 request without Host",
            ErrorKind::ConflictingHost => "several different Host values",
            ErrorKind::InvalidHost => "invalid Host",
            ErrorKind::HostMismatch => "Host does not match the target's authority",
            ErrorKind::MissingWebSocketKey => "WebSocket upgrade without Sec-WebSocket-Key",
            ErrorKind::InvalidChunkedBody => "invalid chunked body",
        }
    }
}

/// A rejected head (or body, via [`ChunkError::into_http_error`](super::ChunkError)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpError {
    kind: ErrorKind,
    side: Message,
    offset: u32,
}

impl HttpError {
    pub(crate) const fn new(kind: ErrorKind, side: Message, offset: usize) -> HttpError {
        let offset = if offset > u32::MAX as usize {
            u32::MAX
        } else {
            offset as u32
        };
        HttpError { kind, side, offset }
    }

    /// What was wrong.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Who sent it.
    pub const fn side(&self) -> Message {
        self.side
    }

    /// Where in the parsed buffer (bytes from its start) the problem was found: the offending
    /// line or byte where the codec can tell, for error captures. Approximate by design.
    pub const fn offset(&self) -> usize {
        self.offset as usize
    }

    /// The status to answer with: the kind's [`ErrorKind::client_status`] for a client, 502
    /// for a server.
    pub const fn status(&self) -> u16 {
        match self.side {
            Message::Request => self.kind.client_status(),
            Message::Response => 502,
        }
    }

    /// The connection the bytes came from must be closed: after a framing or syntax error
    /// nothing that follows on it can be trusted. Always true; a method so the proxy's code
    /// says why it closes.
    pub const fn must_close(&self) -> bool {
        true
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.side {
            Message::Request => "request",
            Message::Response => "response",
        };
        write!(
            f,
            "bad {who}: {} at byte {} (answer {})",
            self.kind.as_str(),
            self.offset,
            self.status()
        )
    }
}

impl std::error::Error for HttpError {}
