//! Response heads. A server is trusted less than it might be: whatever httparse or the
//! framing rules refuse becomes an error on [`Message::Response`], which the proxy turns into 502.
//! Where HAProxy tolerates a server's mistake (Transfer-Encoding with Content-Length), this
//! does the same.

use std::mem::MaybeUninit;

use super::diagnose;
use super::error::{ErrorKind, HttpError, Message};
use super::framing::BodyKind;
use super::head::{
    ConnectionOptions, HeadLimits, HeaderField, KnownHeader, Method, Parsed, Span, TransferCodings,
    Version, absorb_transfer_encoding, parse_content_length,
};
use super::request::STACK_HEADERS;

/// A parsed and validated response head; spans index the buffer given to [`parse_response`].
/// Meant to be reused per server connection like [`RequestHead`](super::RequestHead).
#[derive(Clone, Debug)]
pub struct ResponseHead {
    pub(crate) version: Version,
    pub(crate) status: u16,
    pub(crate) reason: Span,
    pub(crate) line: Span,
    pub(crate) headers: Vec<HeaderField>,
    pub(crate) content_length: Option<u64>,
    pub(crate) chunked: bool,
    pub(crate) connection: ConnectionOptions,
    pub(crate) upgrade_header: bool,
    pub(crate) force_close: bool,
    pub(crate) head_len: usize,
}

impl Default for ResponseHead {
    fn default() -> ResponseHead {
        ResponseHead::new()
    }
}

impl ResponseHead {
    /// An empty head.
    pub const fn new() -> ResponseHead {
        ResponseHead {
            version: Version::Http11,
            status: 0,
            reason: Span::new(0, 0),
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
            upgrade_header: false,
            force_close: false,
            head_len: 0,
        }
    }

    /// An empty head with room for `limits.max_headers` fields.
    pub fn with_capacity(limits: &HeadLimits) -> ResponseHead {
        let mut head = ResponseHead::new();
        head.headers.reserve_exact(limits.max_headers);
        head
    }

    /// The HTTP version.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The status code, 100..=599.
    pub const fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as received (possibly empty).
    pub fn reason<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.reason.get(buf)
    }

    /// The status line, without its line terminator.
    pub const fn status_line(&self) -> Span {
        self.line
    }

    /// All field lines in order, merged ones marked [`HeaderField::dropped`].
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The Content-Length, unless Transfer-Encoding overrides it.
    pub const fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Whether the final transfer coding is `chunked`.
    pub const fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// The Connection options.
    pub const fn connection(&self) -> ConnectionOptions {
        self.connection
    }

    /// A 1xx other than 101 (100 Continue, 102, 103 Early Hints): forward it and parse the
    /// next head from the same server, which is the final response (HAProxy's rule: `100` or
    /// `102..=199`).
    pub const fn is_interim(&self) -> bool {
        self.status >= 100 && self.status < 200 && self.status != 101
    }

    /// The framing of this response's body, which depends on the request's method (RFC 9112
    /// §6.3): HEAD and 1xx/204/304 have none; a 2xx to CONNECT and a 101 switch to a tunnel;
    /// then chunked, Content-Length, or the end of the connection.
    ///
    /// A 101 is only legitimate if the request asked to upgrade
    /// ([`RequestHead::upgrade_requested`](super::RequestHead::upgrade_requested)); the proxy
    /// checks that before it switches to a tunnel.
    pub const fn body_kind(&self, request_method: Method) -> BodyKind {
        let s = self.status;
        if s == 101 || (matches!(request_method, Method::Connect) && s >= 200 && s < 300) {
            BodyKind::Tunnel
        } else if matches!(request_method, Method::Head) || s < 200 || s == 204 || s == 304 {
            BodyKind::None
        } else if self.chunked {
            BodyKind::Chunked
        } else if let Some(n) = self.content_length {
            BodyKind::ContentLength(n)
        } else {
            BodyKind::CloseDelimited
        }
    }

    /// Whether the server connection can be reused after this response: its version's
    /// default and Connection options, unless the body runs to the close or the framing was
    /// suspicious (Transfer-Encoding with Content-Length, or in HTTP/1.0: HAProxy closes
    /// then, as RFC 9112 §6.1 requires).
    pub const fn keep_alive(&self, request_method: Method) -> bool {
        !self.force_close
            && !matches!(
                self.body_kind(request_method),
                BodyKind::CloseDelimited | BodyKind::Tunnel
            )
            && self.connection.persistent(self.version)
    }

    /// The framing was suspicious enough that the connection must close after this response.
    pub const fn must_close(&self) -> bool {
        self.force_close
    }

    /// Bytes of the buffer the head took.
    pub const fn head_len(&self) -> usize {
        self.head_len
    }
}

/// Parse a response head from the bytes received so far. Errors are on [`Message::Response`]: the
/// proxy answers 502 (if it can still answer) and closes the server connection.
pub fn parse_response(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut ResponseHead,
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
    let mut res = httparse::Response::new(&mut []);
    let reject = |kind: ErrorKind, at: usize| HttpError::new(kind, Message::Response, at);
    let first = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut res, window, slots);
    // `option accept-invalid-http-response`: a head refused for its field names is read
    // again with them masked (see `relaxed`).
    let masked = match &first {
        Err(httparse::Error::HeaderName | httparse::Error::Token) if limits.relaxed => {
            super::relaxed::mask_names(window)
        }
        _ => None,
    };
    let mut slots2: Vec<MaybeUninit<httparse::Header<'_>>>;
    let mut res2;
    let (window, res, parsed) = match &masked {
        Some(m) => {
            // The rare path: its scratch is allocated.
            slots2 = std::iter::repeat_with(MaybeUninit::uninit)
                .take(max_headers)
                .collect();
            res2 = httparse::Response::new(&mut []);
            let r = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut res2,
                m,
                &mut slots2,
            );
            (&m[..], &res2, r)
        }
        None => (window, &res, first),
    };
    match parsed {
        Ok(httparse::Status::Complete(head_len)) => {
            build(window, res, head_len, head).map_err(|(k, at)| reject(k, at))?;
            Ok(Parsed::Complete { head_len })
        }
        Ok(httparse::Status::Partial) if window.len() < limits.max_head => Ok(Parsed::Incomplete),
        Ok(httparse::Status::Partial) => Err(reject(ErrorKind::HeadTooLarge, window.len())),
        Err(e) => {
            let (kind, at) = diagnose::response(window, e);
            Err(reject(kind, at))
        }
    }
}

fn build(
    buf: &[u8],
    res: &httparse::Response<'_, '_>,
    head_len: usize,
    head: &mut ResponseHead,
) -> Result<(), (ErrorKind, usize)> {
    let (Some(minor), Some(status)) = (res.version, res.code) else {
        return Err((ErrorKind::InvalidStatusLine, 0));
    };
    let start = diagnose::skip_empty_lines(buf);
    if !(100..=599).contains(&status) {
        return Err((ErrorKind::InvalidStatusLine, start + 9));
    }
    // httparse drops the reason phrase when it holds obs-text, so find the line ourselves:
    // "HTTP/1.x SSS" then either the line end or one SP and the reason.
    let lf = memchr::memchr(b'\n', &buf[start..head_len]).map_or(head_len, |i| start + i);
    let end = if lf > start && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    head.version = Version::from_minor(minor);
    head.status = status;
    head.line = Span::new(start, end);
    head.reason = Span::new((start + 13).min(end), end);
    head.head_len = head_len;
    head.headers.clear();
    head.content_length = None;
    head.chunked = false;
    head.connection = ConnectionOptions::default();
    head.upgrade_header = false;
    head.force_close = false;
    let mut codings = TransferCodings::default();

    for h in res.headers.iter() {
        let name = h.name.as_bytes();
        let value = h.value;
        let value_span = Span::of(buf, value);
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
                absorb_transfer_encoding(&mut codings, value, true).map_err(|k| (k, at))?;
            }
            KnownHeader::Connection => head.connection.absorb(value),
            KnownHeader::Upgrade => head.upgrade_header = true,
            _ => {}
        }
        head.headers.push(HeaderField {
            name: Span::of(buf, name),
            value: value_span,
            known,
            dropped,
        });
    }

    if codings.present {
        if codings.other {
            // HAProxy only implements chunked and answers 502 to any other coding, even one
            // followed by chunked (RFC 9112 §6.3 would read to close when chunked is not
            // last; HAProxy refuses instead, and so do we).
            return Err((ErrorKind::UnsupportedTransferCoding, end));
        }
        head.chunked = true;
        if head.content_length.take().is_some() {
            // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; the field must not
            // be forwarded and the connection closes after (HAProxy: same).
            head.force_close = true;
            for f in head.headers.iter_mut() {
                if f.known == KnownHeader::ContentLength {
                    f.dropped = true;
                }
            }
        }
        if head.version == Version::Http10 {
            head.force_close = true;
        }
    }
    Ok(())
}
