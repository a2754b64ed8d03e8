//! The codec against raw wire bytes: every rejection, feeding byte by byte, pipelining,
//! serialization, chunked bodies, and deterministic mutation runs that check it never panics.

use super::*;

const LIMITS: HeadLimits = HeadLimits::HAPROXY_DEFAULT;

fn parse_req(raw: &[u8]) -> Result<Parsed, HttpError> {
    let mut head = RequestHead::new();
    parse_request(raw, &LIMITS, &mut head)
}

/// Parse a request that must be complete and valid.
fn request(raw: &[u8]) -> RequestHead {
    let mut head = RequestHead::with_capacity(&LIMITS);
    match parse_request(raw, &LIMITS, &mut head) {
        Ok(Parsed::Complete { head_len }) => {
            assert_eq!(head_len, head.head_len());
            head
        }
        other => panic!(
            "expected a complete request, got {other:?} for {:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

/// Parse a request that must be rejected with `kind` and `status`.
#[track_caller]
fn rejects(raw: &[u8], kind: ErrorKind, status: u16) {
    match parse_req(raw) {
        Err(e) => {
            assert_eq!(
                (e.kind(), e.status(), e.side()),
                (kind, status, Message::Request),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
            assert!(e.offset() <= raw.len());
        }
        other => panic!(
            "expected {kind:?}, got {other:?} for {:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

fn parse_res(raw: &[u8]) -> Result<Parsed, HttpError> {
    let mut head = ResponseHead::new();
    parse_response(raw, &LIMITS, &mut head)
}

fn response(raw: &[u8]) -> ResponseHead {
    let mut head = ResponseHead::new();
    match parse_response(raw, &LIMITS, &mut head) {
        Ok(Parsed::Complete { .. }) => head,
        other => panic!(
            "expected a complete response, got {other:?} for {:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

#[track_caller]
fn response_rejected(raw: &[u8], kind: ErrorKind) {
    match parse_res(raw) {
        Err(e) => assert_eq!(
            (e.kind(), e.status(), e.side()),
            (kind, 502, Message::Response),
            "{:?}",
            String::from_utf8_lossy(raw)
        ),
        other => panic!(
            "expected {kind:?}, got {other:?} for {:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

fn serialize<const N: usize>(head: &RequestHead, buf: &[u8], edits: &Edits<'_, N>) -> Vec<u8> {
    let mut out = Vec::new();
    let n = serialize_request(head, buf, edits, &mut out);
    assert_eq!(n, out.len());
    out
}

// ---- accepted requests ----------------------------------------------------------------------

#[test]
fn typical_request() {
    let raw = b"GET /search?q=rust&lang=en HTTP/1.1\r\n\
                Host: www.example.com\r\n\
                User-Agent: test\r\n\
                Cookie: a=1; sid=abc\r\n\
                \r\n";
    let req = request(raw);
    assert_eq!(req.method(), Method::Get);
    assert_eq!(req.method_bytes(raw), b"GET");
    assert_eq!(req.target(raw), b"/search?q=rust&lang=en");
    assert_eq!(req.target_form(), TargetForm::Origin);
    assert_eq!(req.path(raw), b"/search");
    assert_eq!(req.query(raw), Some(&b"q=rust&lang=en"[..]));
    assert_eq!(req.version(), Version::Http11);
    assert_eq!(req.host(raw), Some(&b"www.example.com"[..]));
    assert_eq!(req.headers().len(), 3);
    assert_eq!(req.body_kind(), BodyKind::None);
    assert!(req.keep_alive());
    assert_eq!(req.head_len(), raw.len());
    assert_eq!(req.url_param(raw, b"lang"), Some(&b"en"[..]));
    assert_eq!(req.cookie(raw, b"sid"), Some(&b"abc"[..]));
    assert_eq!(req.header(raw, b"user-agent"), Some(&b"test"[..]));
}

#[test]
fn leading_empty_lines_are_skipped() {
    let raw = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.head_len(), raw.len());
    assert_eq!(req.request_line().get(raw), b"GET / HTTP/1.1");
}

#[test]
fn bare_lf_heads_are_accepted() {
    // RFC 9112 §2.2 lets a recipient accept LF alone; httparse and HAProxy do.
    let raw = b"GET / HTTP/1.1\nHost: a\n\n";
    let req = request(raw);
    assert_eq!(req.host(raw), Some(&b"a"[..]));
}

#[test]
fn incomplete_heads_wait_for_more() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for cut in 0..raw.len() {
        assert_eq!(
            parse_req(&raw[..cut]),
            Ok(Parsed::Incomplete),
            "cut at {cut}"
        );
    }
}

#[test]
fn byte_by_byte_request_with_body() {
    let raw = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    let head_len = raw.len() - 5;
    let mut buf = Vec::new();
    let mut head = RequestHead::new();
    let mut parsed = None;
    for &b in raw.iter() {
        buf.push(b);
        match parse_request(&buf, &LIMITS, &mut head).unwrap() {
            Parsed::Incomplete => assert!(buf.len() < head_len),
            Parsed::Complete { head_len: n } => {
                parsed.get_or_insert(n);
                assert_eq!(n, head_len);
            }
        }
    }
    assert_eq!(parsed, Some(head_len));
    assert_eq!(head.body_kind(), BodyKind::ContentLength(5));
    assert_eq!(&buf[head_len..], b"hello");
}

#[test]
fn pipelined_requests_stay_after_head_len() {
    let raw = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
                GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let first = request(raw);
    let body_end = first.head_len() + 3;
    assert_eq!(&raw[first.head_len()..body_end], b"abc");
    let rest = &raw[body_end..];
    let second = request(rest);
    assert_eq!(second.path(rest), b"/b");
    assert_eq!(second.head_len(), rest.len());
}

#[test]
fn pipelined_bodyless_requests() {
    let raw = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    let first = request(raw);
    assert_eq!(first.body_kind(), BodyKind::None);
    assert!(raw[first.head_len()..].starts_with(b"GET /2 "));
}

#[test]
fn http10_keep_alive() {
    let raw = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.version(), Version::Http10);
    assert!(req.keep_alive());
    // HTTP/1.0 needs no Host, and closes by default.
    let req = request(b"GET / HTTP/1.0\r\n\r\n");
    assert!(!req.keep_alive());
    let req = request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(!req.keep_alive());
}

#[test]
fn expect_100_continue() {
    let raw = b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n";
    assert!(request(raw).expects_continue());
    // Ignored on HTTP/1.0 (RFC 9110 §10.1.1).
    let raw = b"PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n";
    assert!(!request(raw).expects_continue());
    assert!(!request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").expects_continue());
    assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn identical_duplicates_are_merged() {
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nHost: A\r\n\
                Content-Length: 3\r\nContent-Length: 3, 3\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.content_length(), Some(3));
    let dropped: Vec<bool> = req.headers().iter().map(|f| f.dropped).collect();
    assert_eq!(dropped, vec![false, true, false, true]);
    assert_eq!(req.header_values(raw, b"host").count(), 1);
}

#[test]
fn chunked_request() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let req = request(raw);
    assert!(req.is_chunked());
    assert_eq!(req.body_kind(), BodyKind::Chunked);
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n";
    assert_eq!(request(raw).body_kind(), BodyKind::Chunked);
}

#[test]
fn absolute_form_takes_host_from_authority() {
    let raw = b"GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.target_form(), TargetForm::Absolute);
    assert_eq!(req.scheme(raw), Some(&b"http"[..]));
    assert_eq!(req.authority(raw), Some(&b"example.com:8080"[..]));
    assert_eq!(req.host(raw), Some(&b"example.com:8080"[..]));
    assert_eq!(req.path(raw), b"/p/q");
    assert_eq!(req.query(raw), Some(&b"x=1"[..]));
    // Without Host, and without a path.
    let raw = b"GET http://h HTTP/1.1\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.host(raw), Some(&b"h"[..]));
    assert_eq!(req.path(raw), b"");
    // A default port on one side only still matches (HAProxy).
    request(b"GET http://h:80/ HTTP/1.1\r\nHost: h\r\n\r\n");
    request(b"GET https://h/ HTTP/1.1\r\nHost: H:443\r\n\r\n");
}

#[test]
fn connect_uses_authority_form() {
    let raw = b"CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.target_form(), TargetForm::Authority);
    assert_eq!(req.host(raw), Some(&b"db.internal:5432"[..]));
    assert_eq!(req.body_kind(), BodyKind::None);
    request(b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n");
    request(b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n");
}

#[test]
fn options_asterisk() {
    let raw = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.target_form(), TargetForm::Asterisk);
    assert_eq!(req.path(raw), b"*");
}

#[test]
fn websocket_upgrade() {
    let raw = b"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let req = request(raw);
    assert!(req.upgrade_requested());
    assert!(req.is_websocket_upgrade());
}

#[test]
fn field_values_are_trimmed_and_may_hold_obs_text() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \t caf\xc3\xa9 \t\r\nX-Empty:\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.header(raw, b"x-a"), Some(&b"caf\xc3\xa9"[..]));
    assert_eq!(req.header(raw, b"x-empty"), Some(&b""[..]));
}

#[test]
fn other_methods_and_tokens() {
    let raw = b"PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n";
    let req = request(raw);
    assert_eq!(req.method(), Method::Other);
    assert_eq!(req.method_bytes(raw), b"PROPFIND");
    assert_eq!(
        request(b"get / HTTP/1.1\r\nHost: h\r\n\r\n").method(),
        Method::Other
    );
}

// ---- rejected requests: start line ----------------------------------------------------------

#[test]
fn rejects_bad_method_token() {
    rejects(
        b"G(ET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidMethod,
        400,
    );
    rejects(
        b" GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidMethod,
        400,
    );
    rejects(
        b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidMethod,
        400,
    );
}

#[test]
fn rejects_space_in_target() {
    rejects(
        b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
}

#[test]
fn rejects_missing_target() {
    rejects(
        b"GET HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(b"GET\r\nHost: h\r\n\r\n", ErrorKind::InvalidTarget, 400);
}

#[test]
fn rejects_control_non_ascii_and_fragment_in_target() {
    rejects(
        b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
}

#[test]
fn rejects_target_form_not_matching_method() {
    rejects(
        b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"CONNECT h: HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"CONNECT http://h:443/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
}

#[test]
fn rejects_bad_absolute_uri() {
    rejects(
        b"GET http:/h/ HTTP/1.1\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET 1http://h/ HTTP/1.1\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET http:///p HTTP/1.1\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET http://u:p@h/ HTTP/1.1\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
    rejects(
        b"GET http://h:8x/ HTTP/1.1\r\n\r\n",
        ErrorKind::InvalidTarget,
        400,
    );
}

#[test]
fn rejects_http_1_2() {
    rejects(
        b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
        ErrorKind::UnsupportedVersion,
        505,
    );
}

#[test]
fn rejects_http_2_on_h1() {
    rejects(
        b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        ErrorKind::UnsupportedVersion,
        505,
    );
    // The HTTP/2 connection preface, sent to an HTTP/1 listener.
    rejects(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ErrorKind::UnsupportedVersion,
        505,
    );
}

#[test]
fn rejects_lowercase_version() {
    rejects(
        b"GET / http/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidVersion,
        400,
    );
}

#[test]
fn rejects_malformed_versions() {
    rejects(
        b"GET / HTTP/1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidVersion,
        400,
    );
    rejects(
        b"GET / HTTP/1.1x\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidVersion,
        400,
    );
    rejects(
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        ErrorKind::InvalidVersion,
        400,
    );
    rejects(
        b"GET / XTTP/1.1\r\nHost: h\r\n\r\n",
        ErrorKind::InvalidVersion,
        400,
    );
}

#[test]
fn rejects_http_0_9() {
    // HAProxy also refuses HTTP/0.9 unless told to accept invalid requests.
    rejects(b"GET /\r\n\r\n", ErrorKind::InvalidVersion, 400);
}

#[test]
fn rejects_request_line_too_long() {
    let mut raw = b"GET /".to_vec();
    raw.resize(LIMITS.max_head + 10, b'a');
    rejects(&raw, ErrorKind::RequestLineTooLong, 414);
    // Exactly at the limit and still in the request line.
    raw.truncate(LIMITS.max_head);
    rejects(&raw, ErrorKind::RequestLineTooLong, 414);
    raw.truncate(LIMITS.max_head - 1);
    assert_eq!(parse_req(&raw), Ok(Parsed::Incomplete));
}

#[test]
fn rejects_head_too_large() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    raw.resize(LIMITS.max_head + 1, b'x');
    rejects(&raw, ErrorKind::HeadTooLarge, 431);
    // The same head just fits when it ends in time.
    let mut fits = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    fits.resize(LIMITS.max_head - 4, b'x');
    fits.extend_from_slice(b"\r\n\r\n");
    assert_eq!(fits.len(), LIMITS.max_head);
    request(&fits);
}

#[test]
fn rejects_too_many_headers() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    // 100 fields are allowed with tune.http.maxhdr 101 (the start line counts).
    for i in 1..LIMITS.max_headers {
        raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut ok = raw.clone();
    ok.extend_from_slice(b"\r\n");
    assert_eq!(request(&ok).headers().len(), 100);
    raw.extend_from_slice(b"X-One-Too-Many: v\r\n\r\n");
    rejects(&raw, ErrorKind::TooManyHeaders, 400);
}

#[test]
fn limits_follow_haproxy_tunables() {
    let l = HeadLimits::from_haproxy(32768, 2048, 50);
    assert_eq!((l.max_head, l.max_headers), (30720, 49));
    assert_eq!((LIMITS.max_head, LIMITS.max_headers), (16384 - 1024, 100));
    // More fields than httparse's stack scratch holds: parsed with heap scratch.
    let big = HeadLimits::from_haproxy(1 << 20, 1024, 1000);
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..500 {
        raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let mut head = RequestHead::new();
    assert!(matches!(
        parse_request(&raw, &big, &mut head),
        Ok(Parsed::Complete { .. })
    ));
    assert_eq!(head.headers().len(), 501);
}

// ---- rejected requests: field syntax --------------------------------------------------------

#[test]
fn rejects_obs_fold() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n",
        ErrorKind::ObsFold,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n",
        ErrorKind::ObsFold,
        400,
    );
}

#[test]
fn rejects_whitespace_before_first_field() {
    rejects(
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        ErrorKind::ObsFold,
        400,
    );
}

#[test]
fn rejects_space_before_colon() {
    rejects(
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        ErrorKind::WhitespaceBeforeColon,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 0\r\n\r\n",
        ErrorKind::WhitespaceBeforeColon,
        400,
    );
}

#[test]
fn rejects_empty_header_name() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",
        ErrorKind::EmptyHeaderName,
        400,
    );
}

#[test]
fn rejects_control_bytes_in_names() {
    for name in [
        &b"X\x01A"[..],
        b"X\x00A",
        b"X\x7fA",
        b"X(A)",
        b"X@A",
        b"X\xc3\xa9",
    ] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        raw.extend_from_slice(name);
        raw.extend_from_slice(b": v\r\n\r\n");
        rejects(&raw, ErrorKind::InvalidHeaderName, 400);
    }
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
        ErrorKind::InvalidHeaderName,
        400,
    );
}

#[test]
fn rejects_control_bytes_in_values() {
    for value in [
        &b"a\x00b"[..],
        b"a\x01b",
        b"a\x1fb",
        b"a\x7fb",
        b"a\x0bb",
        b"a\x0cb",
    ] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-V: ".to_vec();
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n\r\n");
        rejects(&raw, ErrorKind::InvalidHeaderValue, 400);
    }
    // HTAB is allowed.
    request(b"GET / HTTP/1.1\r\nHost: h\r\nX-V: a\tb\r\n\r\n");
}

#[test]
fn rejects_cr_without_lf() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
        ErrorKind::InvalidLineEnding,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
        ErrorKind::InvalidLineEnding,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n",
        ErrorKind::InvalidLineEnding,
        400,
    );
}

// ---- rejected requests: framing -------------------------------------------------------------

#[test]
fn rejects_content_length_and_transfer_encoding() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
        ErrorKind::ContentLengthWithTransferEncoding,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
        ErrorKind::ContentLengthWithTransferEncoding,
        400,
    );
}

#[test]
fn rejects_differing_duplicate_content_length() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
        ErrorKind::ConflictingContentLength,
        400,
    );
}

#[test]
fn rejects_content_length_list_with_differing_values() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\n",
        ErrorKind::ConflictingContentLength,
        400,
    );
}

#[test]
fn rejects_signed_content_length() {
    for v in ["+4", "-4"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {v}\r\n\r\n");
        rejects(raw.as_bytes(), ErrorKind::InvalidContentLength, 400);
    }
}

#[test]
fn rejects_non_digit_content_length() {
    for v in ["4a", "0x4", "4 4", "four", "4.0", "4,"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {v}\r\n\r\n");
        rejects(raw.as_bytes(), ErrorKind::InvalidContentLength, 400);
    }
}

#[test]
fn rejects_overflowing_content_length() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
        ErrorKind::InvalidContentLength,
        400,
    );
}

#[test]
fn rejects_empty_content_length() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
        ErrorKind::InvalidContentLength,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:   \r\n\r\n",
        ErrorKind::InvalidContentLength,
        400,
    );
}

#[test]
fn rejects_chunked_not_final() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn rejects_transfer_encoding_without_chunked() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn rejects_transfer_encoding_identity() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn rejects_duplicated_chunked() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn rejects_empty_transfer_encoding() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn rejects_other_coding_before_chunked() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ErrorKind::UnsupportedTransferCoding,
        422,
    );
}

#[test]
fn rejects_transfer_encoding_in_http10() {
    rejects(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ErrorKind::TransferEncodingInHttp10,
        400,
    );
}

#[test]
fn rejects_http10_get_with_body() {
    rejects(
        b"GET / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
        ErrorKind::PayloadNotAllowed,
        413,
    );
    // An empty body, or a POST, is fine.
    request(b"GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    request(b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
}

// ---- rejected requests: Host ----------------------------------------------------------------

#[test]
fn rejects_http11_without_host() {
    rejects(b"GET / HTTP/1.1\r\n\r\n", ErrorKind::MissingHost, 400);
    rejects(b"OPTIONS * HTTP/1.1\r\n\r\n", ErrorKind::MissingHost, 400);
}

#[test]
fn rejects_differing_hosts() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ErrorKind::ConflictingHost,
        400,
    );
}

#[test]
fn rejects_invalid_host() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        ErrorKind::InvalidHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        ErrorKind::InvalidHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n",
        ErrorKind::InvalidHost,
        400,
    );
}

#[test]
fn rejects_host_not_matching_absolute_target() {
    rejects(
        b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n",
        ErrorKind::HostMismatch,
        400,
    );
    rejects(
        b"GET http://a:8080/ HTTP/1.1\r\nHost: a\r\n\r\n",
        ErrorKind::HostMismatch,
        400,
    );
    rejects(
        b"GET http://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n",
        ErrorKind::HostMismatch,
        400,
    );
    rejects(
        b"CONNECT a:8443 HTTP/1.1\r\nHost: b:8443\r\n\r\n",
        ErrorKind::HostMismatch,
        400,
    );
    rejects(
        b"CONNECT a:8443 HTTP/1.1\r\nHost: a\r\n\r\n",
        ErrorKind::HostMismatch,
        400,
    );
}

#[test]
fn rejects_websocket_without_key() {
    rejects(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        ErrorKind::MissingWebSocketKey,
        400,
    );
    rejects(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: short\r\n\r\n",
        ErrorKind::MissingWebSocketKey,
        400,
    );
}

#[test]
fn errors_never_become_success_as_bytes_arrive() {
    let bad: &[&[u8]] = &[
        b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ];
    for raw in bad {
        let last = parse_req(raw).unwrap_err();
        let mut failed = false;
        for cut in 1..=raw.len() {
            match parse_req(&raw[..cut]) {
                Ok(Parsed::Incomplete) => assert!(!failed, "error then incomplete"),
                Ok(Parsed::Complete { .. }) => panic!("accepted a prefix of a bad request"),
                Err(e) => {
                    failed = true;
                    assert_eq!(e.side(), Message::Request);
                }
            }
        }
        assert!(failed);
        assert_eq!(parse_req(raw).unwrap_err(), last);
    }
}

// ---- responses ------------------------------------------------------------------------------

#[test]
fn typical_response() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    let res = response(raw);
    assert_eq!(res.status(), 200);
    assert_eq!(res.reason(raw), b"OK");
    assert_eq!(res.version(), Version::Http11);
    assert_eq!(res.body_kind(Method::Get), BodyKind::ContentLength(5));
    assert_eq!(res.head_len(), raw.len() - 5);
    assert!(res.keep_alive(Method::Get));
    assert!(!res.is_interim());
}

#[test]
fn response_reason_variants() {
    let raw = b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(response(raw).reason(raw), b"");
    // obs-text in the reason (httparse would report it empty) is kept as received.
    let raw = b"HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(response(raw).reason(raw), b"Tr\xe8s bien");
    let raw = b"HTTP/1.0 200 OK\nContent-Length: 0\n\n";
    let res = response(raw);
    assert_eq!(res.reason(raw), b"OK");
    assert_eq!(res.status_line().get(raw), b"HTTP/1.0 200 OK");
}

#[test]
fn interim_responses() {
    for raw in [
        &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\n",
    ] {
        let res = response(raw);
        assert!(res.is_interim());
        assert_eq!(res.body_kind(Method::Post), BodyKind::None);
        assert_eq!(res.head_len(), raw.len());
    }
    // An interim response followed by the final one in the same buffer.
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    let first = response(raw);
    let second = response(&raw[first.head_len()..]);
    assert_eq!(second.status(), 201);
}

#[test]
fn switching_protocols_is_a_tunnel() {
    let raw =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let res = response(raw);
    assert!(!res.is_interim());
    assert_eq!(res.body_kind(Method::Get), BodyKind::Tunnel);
    assert!(!res.keep_alive(Method::Get));
}

#[test]
fn connect_2xx_is_a_tunnel() {
    let raw = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let res = response(raw);
    assert_eq!(res.body_kind(Method::Connect), BodyKind::Tunnel);
    assert_eq!(res.body_kind(Method::Get), BodyKind::CloseDelimited);
    let raw = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        response(raw).body_kind(Method::Connect),
        BodyKind::ContentLength(0)
    );
}

#[test]
fn bodyless_responses() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    assert_eq!(response(raw).body_kind(Method::Head), BodyKind::None);
    for status in ["204 No Content", "304 Not Modified"] {
        let raw = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
        let res = response(raw.as_bytes());
        assert_eq!(res.body_kind(Method::Get), BodyKind::None);
        assert!(res.keep_alive(Method::Get));
    }
}

#[test]
fn close_delimited_response() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n";
    let res = response(raw);
    assert_eq!(res.body_kind(Method::Get), BodyKind::CloseDelimited);
    assert!(!res.keep_alive(Method::Get));
}

#[test]
fn response_persistence() {
    let raw = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert!(!response(raw).keep_alive(Method::Get));
    let raw = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    assert!(response(raw).keep_alive(Method::Get));
    let raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert!(!response(raw).keep_alive(Method::Get));
}

#[test]
fn response_transfer_encoding_wins_over_content_length() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n";
    let res = response(raw);
    assert_eq!(res.body_kind(Method::Get), BodyKind::Chunked);
    assert_eq!(res.content_length(), None);
    assert!(res.must_close());
    assert!(!res.keep_alive(Method::Get));
    // The Content-Length is not forwarded.
    let mut out = Vec::new();
    serialize_response(&res, raw, &Edits::<4>::new(), &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
}

#[test]
fn response_chunked_in_http10_closes() {
    let raw = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let res = response(raw);
    assert_eq!(res.body_kind(Method::Get), BodyKind::Chunked);
    assert!(!res.keep_alive(Method::Get));
}

#[test]
fn response_invalid_status_line_is_502() {
    response_rejected(b"HTTP/1.1 2000 OK\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/1.1 20 OK\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/1.1 abc OK\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/1.1  200 OK\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/2.0 200 OK\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/1.1 099 Low\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/1.1 600 High\r\n\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(b"HTTP/1.1 200 O\x01K\r\n\r\n", ErrorKind::InvalidStatusLine);
}

#[test]
fn response_junk_is_502() {
    response_rejected(b"<html>hello</html>\r\n", ErrorKind::InvalidStatusLine);
    response_rejected(
        b"\x00\x01\x02\x03\x04\x05\x06\x07\x08",
        ErrorKind::InvalidStatusLine,
    );
    response_rejected(b"SSH-2.0-OpenSSH_9.6\r\n", ErrorKind::InvalidStatusLine);
}

#[test]
fn response_bad_content_length_is_502() {
    response_rejected(
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ErrorKind::InvalidContentLength,
    );
    response_rejected(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ErrorKind::ConflictingContentLength,
    );
}

#[test]
fn response_unsupported_codings_are_502() {
    response_rejected(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ErrorKind::UnsupportedTransferCoding,
    );
    response_rejected(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ErrorKind::UnsupportedTransferCoding,
    );
    response_rejected(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ErrorKind::UnsupportedTransferCoding,
    );
    response_rejected(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        ErrorKind::InvalidTransferEncoding,
    );
}

#[test]
fn response_field_syntax_errors_are_502() {
    response_rejected(
        b"HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n\r\n",
        ErrorKind::ObsFold,
    );
    response_rejected(
        b"HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n",
        ErrorKind::WhitespaceBeforeColon,
    );
    response_rejected(
        b"HTTP/1.1 200 OK\r\nX-A: b\x00\r\n\r\n",
        ErrorKind::InvalidHeaderValue,
    );
    let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    big.resize(LIMITS.max_head + 1, b'a');
    response_rejected(&big, ErrorKind::HeadTooLarge);
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=LIMITS.max_headers {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    response_rejected(&many, ErrorKind::TooManyHeaders);
}

#[test]
fn byte_by_byte_response() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut head = ResponseHead::new();
    for cut in 0..raw.len() {
        assert_eq!(
            parse_response(&raw[..cut], &LIMITS, &mut head),
            Ok(Parsed::Incomplete)
        );
    }
    assert_eq!(
        parse_response(raw, &LIMITS, &mut head),
        Ok(Parsed::Complete {
            head_len: raw.len()
        })
    );
}

// ---- serialization --------------------------------------------------------------------------

const BROWSER_REQUEST: &[u8] = b"GET /products/list?page=2&sort=price HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://shop.example.com/products\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Priority: u=0, i\r\n\
\r\n";

#[test]
fn round_trip_without_edits_is_identical() {
    let req = request(BROWSER_REQUEST);
    assert_eq!(
        serialize(&req, BROWSER_REQUEST, &Edits::<4>::new()),
        BROWSER_REQUEST
    );
    let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n";
    let res = response(raw);
    let mut out = Vec::new();
    serialize_response(&res, raw, &Edits::<4>::new(), &mut out);
    assert_eq!(out, raw);
}

#[test]
fn round_trip_normalizes_what_it_must() {
    // Leading empty line dropped, LF → CRLF, merged duplicates left out, Content-Length as
    // plain digits, "Name:value" spacing kept as received.
    let raw = b"\r\nPOST /x HTTP/1.1\nHost: h\nHost: h\nContent-Length: 005, 5\nX-A:b\n\n";
    let req = request(raw);
    assert_eq!(
        serialize(&req, raw, &Edits::<4>::new()),
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-A:b\r\n\r\n"
    );
}

#[test]
fn round_trip_strips_hop_by_hop() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Trace, Content-Length\r\n\
                Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\
                Upgrade: h2c\r\nX-Trace: 1\r\nTrailer: X-Sum\r\nAccept: */*\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<4>::new();
    edits.strip_hop_by_hop(true);
    assert_eq!(
        serialize(&req, raw, &edits),
        b"GET / HTTP/1.1\r\nHost: h\r\nTrailer: X-Sum\r\nAccept: */*\r\n\r\n"
    );
    edits.set_connection(ConnectionHeader::Close);
    assert_eq!(
        serialize(&req, raw, &edits),
        b"GET / HTTP/1.1\r\nHost: h\r\nTrailer: X-Sum\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn connection_header_replaced_without_stripping() {
    let raw = b"GET / HTTP/1.0\r\nConnection: close\r\nAccept: */*\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<4>::new();
    edits.set_connection(ConnectionHeader::KeepAlive);
    assert_eq!(
        serialize(&req, raw, &edits),
        b"GET / HTTP/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn upgrade_kept_when_upgrading() {
    let raw = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<4>::new();
    edits.strip_hop_by_hop(true);
    edits.set_connection(ConnectionHeader::Upgrade);
    assert_eq!(
        serialize(&req, raw, &edits),
        &b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
           Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: upgrade\r\n\r\n"[..]
    );
}

#[test]
fn header_edits_in_rule_order() {
    let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\
                X-Old: 1\r\nUser-Agent: ua\r\nX-Old: 2\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<8>::new();
    // option forwardfor: add a field, keep the client's.
    let ip = edits.format(format_args!("{}", std::net::Ipv4Addr::new(192, 0, 2, 7)));
    edits.add_header(b"X-Forwarded-For", ip.unwrap()).unwrap();
    edits.set_header(b"X-Forwarded-Proto", b"https").unwrap();
    edits.del_header(b"x-old").unwrap();
    edits.replace_value(3, b"ua/2").unwrap();
    // add then del: gone; del then add: present.
    edits.add_header(b"X-Temp", b"t").unwrap();
    edits.del_header(b"X-Temp").unwrap();
    edits.del_header(b"X-Late").unwrap();
    edits.add_header(b"X-Late", b"l").unwrap();
    let out = serialize(&req, raw, &edits);
    assert_eq!(
        out,
        &b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nUser-Agent: ua/2\r\n\
           X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nX-Late: l\r\n\r\n"[..]
    );
    // Later rules see the edited fields.
    let seen: Vec<(&[u8], &[u8])> = edits
        .headers(req.headers(), raw)
        .filter(|h| h.name.eq_ignore_ascii_case(b"x-forwarded-for"))
        .map(|h| (h.name, h.value))
        .collect();
    assert_eq!(
        seen,
        vec![
            (&b"X-Forwarded-For"[..], &b"10.0.0.1"[..]),
            (&b"X-Forwarded-For"[..], &b"192.0.2.7"[..])
        ]
    );
}

#[test]
fn set_header_replaces_received_and_added() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<4>::new();
    edits.add_header(b"X-A", b"2").unwrap();
    edits.set_header(b"x-a", b"3").unwrap();
    assert_eq!(
        serialize(&req, raw, &edits),
        b"GET / HTTP/1.1\r\nHost: h\r\nx-a: 3\r\n\r\n"
    );
}

#[test]
fn request_line_edits() {
    let raw = b"GET /old/path?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<2>::new();
    edits.set_path(b"/new").unwrap();
    assert!(serialize(&req, raw, &edits).starts_with(b"GET /new?x=1 HTTP/1.1\r\n"));
    edits.set_query(Some(b"y=2".into())).unwrap();
    assert!(serialize(&req, raw, &edits).starts_with(b"GET /new?y=2 HTTP/1.1\r\n"));
    edits.set_query(None).unwrap();
    edits.set_method(b"POST").unwrap();
    assert!(serialize(&req, raw, &edits).starts_with(b"POST /new HTTP/1.1\r\n"));
    edits.set_uri(b"/whole?thing").unwrap();
    assert!(serialize(&req, raw, &edits).starts_with(b"POST /whole?thing HTTP/1.1\r\n"));
}

#[test]
fn absolute_form_edits() {
    let raw = b"GET http://h:81/p?q HTTP/1.1\r\nHost: h:81\r\n\r\n";
    let req = request(raw);
    let mut edits = Edits::<2>::new();
    edits.set_path(b"/n").unwrap();
    assert!(serialize(&req, raw, &edits).starts_with(b"GET http://h:81/n?q HTTP/1.1\r\n"));
    let mut edits = Edits::<2>::new();
    edits.set_origin_form(true);
    assert_eq!(
        serialize(&req, raw, &edits),
        b"GET /p?q HTTP/1.1\r\nHost: h:81\r\n\r\n"
    );
    // No Host and no path: origin-form gets "/" and a Host from the authority.
    let raw = b"GET http://h HTTP/1.0\r\n\r\n";
    let req = request(raw);
    assert_eq!(
        serialize(&req, raw, &edits),
        b"GET / HTTP/1.0\r\nHost: h\r\n\r\n"
    );
}

#[test]
fn status_edit() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let res = response(raw);
    let mut edits = Edits::<2>::new();
    edits.set_status(503, b"Busy").unwrap();
    edits.add_header(b"Retry-After", b"5").unwrap();
    let mut out = Vec::new();
    serialize_response(&res, raw, &edits, &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n"
    );
}

#[test]
fn edits_refuse_injection_and_framing() {
    let mut edits = Edits::<2>::new();
    assert_eq!(
        edits.add_header(b"X-A", b"v\r\nX-Injected: 1"),
        Err(EditError::InvalidValue)
    );
    assert_eq!(
        edits.add_header(b"X-A", b"v\0"),
        Err(EditError::InvalidValue)
    );
    assert_eq!(edits.add_header(b"X A", b"v"), Err(EditError::InvalidName));
    assert_eq!(edits.add_header(b"", b"v"), Err(EditError::InvalidName));
    assert_eq!(
        edits.set_header(b"Content-Length", b"0"),
        Err(EditError::FramingHeader)
    );
    assert_eq!(
        edits.del_header(b"transfer-encoding"),
        Err(EditError::FramingHeader)
    );
    assert_eq!(edits.set_path(b"/a b"), Err(EditError::InvalidValue));
    assert_eq!(edits.set_path(b"/a?b"), Err(EditError::InvalidValue));
    assert_eq!(edits.set_method(b"G T"), Err(EditError::InvalidValue));
    // Past the inline capacity, edits go on the heap: none is lost.
    edits.add_header(b"X-1", b"1").unwrap();
    edits.add_header(b"X-2", b"2").unwrap();
    edits.add_header(b"X-3", b"3").unwrap();
    edits.set_header(b"X-4", b"4").unwrap();
    edits.del_header(b"X-1").unwrap();
    let names: Vec<&[u8]> = edits.headers(&[], b"").map(|h| h.name).collect();
    assert_eq!(names, [&b"X-2"[..], b"X-3", b"X-4"]);
    let mut edits = Edits::<2>::new();
    assert_eq!(
        edits.copy(&[b'a'; EDIT_ARENA + 1]),
        Err(EditError::ArenaFull)
    );
    let v = edits.copy(b"copied").unwrap();
    assert_eq!(edits.resolve(v), b"copied");
    assert_eq!(
        edits.format(format_args!("{}", "x".repeat(EDIT_ARENA))),
        Err(EditError::ArenaFull)
    );
}

#[test]
fn replace_of_framing_field_is_ignored() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab";
    let req = request(raw);
    let mut edits = Edits::<2>::new();
    edits.replace_value(1, b"999").unwrap();
    assert_eq!(
        serialize(&req, raw, &edits),
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n"
    );
}

// ---- ACL lookups ----------------------------------------------------------------------------

#[test]
fn header_lookups() {
    let raw = b"GET /p HTTP/1.1\r\nHost: h\r\nAccept: a/b, c/d\r\nX-List: 1\r\naccept: e/f\r\n\
                Cookie: a=1; b=2\r\nCookie: a=3\r\n\r\n";
    let req = request(raw);
    let full: Vec<_> = req.header_values(raw, b"ACCEPT").collect();
    assert_eq!(full, vec![&b"a/b, c/d"[..], b"e/f"]);
    let split: Vec<_> = req.header_elements(raw, b"accept").collect();
    assert_eq!(split, vec![&b"a/b"[..], b"c/d", b"e/f"]);
    assert_eq!(req.header(raw, b"x-missing"), None);
    // req.cook: the last occurrence.
    assert_eq!(req.cookie(raw, b"a"), Some(&b"3"[..]));
    assert_eq!(req.cookie(raw, b"b"), Some(&b"2"[..]));
    assert_eq!(req.cookie(raw, b"A"), None);
    assert_eq!(req.cookies(raw).count(), 3);
    assert_eq!(req.url_param(raw, b"x"), None);
}

// ---- chunked bodies -------------------------------------------------------------------------

/// Feed `body` in pieces of `step` bytes; the consumed total, whether it finished, the error,
/// and the de-chunked data.
fn scan(body: &[u8], step: usize) -> (usize, bool, Option<ChunkError>, Vec<u8>) {
    let mut s = ChunkedScanner::new(&LIMITS);
    let mut consumed = 0;
    let mut data = Vec::new();
    while consumed < body.len() {
        let end = (consumed + step).min(body.len());
        let piece = &body[consumed..end];
        match s.advance_with(piece, |r| data.extend_from_slice(&piece[r])) {
            Ok(a) => {
                consumed += a.consumed;
                if a.done {
                    return (consumed, true, None, data);
                }
                assert_eq!(a.consumed, piece.len(), "not done yet, so all consumed");
            }
            Err(e) => return (consumed, false, Some(e), data),
        }
    }
    (consumed, s.is_done(), None, data)
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let body = b"4;name=value;x=\"q s\"\r\nWiki\r\n5 ; ext\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n\
                 0;last\r\nExpires: never\r\nX-Sum: abc \r\n\r\nNEXT";
    let end = body.len() - 4;
    for step in [1, 2, 3, 7, body.len()] {
        let (consumed, done, err, data) = scan(body, step);
        assert_eq!(err, None);
        assert!(done);
        assert_eq!(consumed, end, "step {step}");
        assert_eq!(data, b"Wikipedia in\r\n\r\nchunks.");
    }
}

#[test]
fn chunked_one_shot_stops_at_the_end() {
    let body = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let mut s = ChunkedScanner::new(&LIMITS);
    let a = s.advance(body).unwrap();
    assert_eq!(
        a,
        Advance {
            consumed: 13,
            done: true
        }
    );
    assert_eq!(s.data_len(), 3);
    // Done stays done and takes nothing more.
    assert_eq!(
        s.advance(b"xyz").unwrap(),
        Advance {
            consumed: 0,
            done: true
        }
    );
    s.reset();
    assert!(!s.is_done());
    assert!(s.advance(b"0\r\n\r\n").unwrap().done);
}

#[test]
fn chunked_large_sizes() {
    let mut s = ChunkedScanner::new(&LIMITS);
    assert_eq!(s.advance(b"fFfFfFfFfFfFfFfF\r\n").unwrap().consumed, 18);
    let mut s = ChunkedScanner::new(&LIMITS);
    assert!(
        s.advance(b"0000000000000000000001\r\nx\r\n0\r\n\r\n")
            .unwrap()
            .done
    );
}

#[track_caller]
fn chunk_rejects(body: &[u8], kind: ChunkErrorKind) {
    for step in [1, 2, body.len()] {
        let (_, _, err, _) = scan(body, step);
        assert_eq!(
            err.map(|e| e.kind),
            Some(kind),
            "step {step}: {:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn chunked_rejections() {
    chunk_rejects(b"g\r\n", ChunkErrorKind::InvalidChunkSize);
    chunk_rejects(b"\r\n", ChunkErrorKind::InvalidChunkSize);
    chunk_rejects(b"-1\r\n", ChunkErrorKind::InvalidChunkSize);
    chunk_rejects(b"0x5\r\n", ChunkErrorKind::InvalidChunkSize);
    chunk_rejects(b"1 2\r\n", ChunkErrorKind::InvalidChunkSize);
    chunk_rejects(b" 1\r\n", ChunkErrorKind::InvalidChunkSize);
    chunk_rejects(b"10000000000000000\r\n", ChunkErrorKind::ChunkSizeOverflow);
    chunk_rejects(b"1;\r\n", ChunkErrorKind::InvalidChunkExtension);
    chunk_rejects(b"1;a\x01b\r\n", ChunkErrorKind::InvalidChunkExtension);
    chunk_rejects(b"1;=b\r\n", ChunkErrorKind::InvalidChunkExtension);
    chunk_rejects(b"1\nx\r\n", ChunkErrorKind::BareLf);
    chunk_rejects(b"1;a=b\nx\r\n", ChunkErrorKind::BareLf);
    chunk_rejects(b"1\rx", ChunkErrorKind::BareCr);
    chunk_rejects(b"3\r\nabcd\r\n", ChunkErrorKind::MissingCrlfAfterData);
    chunk_rejects(b"3\r\nabc\n0\r\n\r\n", ChunkErrorKind::MissingCrlfAfterData);
    chunk_rejects(b"3\r\nabc\r0\r\n\r\n", ChunkErrorKind::MissingCrlfAfterData);
    chunk_rejects(b"0\r\n\n", ChunkErrorKind::BareLf);
    chunk_rejects(b"0\r\n\rx", ChunkErrorKind::BareCr);
    chunk_rejects(b"0\r\nX: a\nY: b\r\n\r\n", ChunkErrorKind::BareLf);
    chunk_rejects(b"0\r\n folded: x\r\n\r\n", ChunkErrorKind::InvalidTrailer);
    chunk_rejects(b"0\r\nX : a\r\n\r\n", ChunkErrorKind::InvalidTrailer);
    chunk_rejects(b"0\r\n: a\r\n\r\n", ChunkErrorKind::InvalidTrailer);
    chunk_rejects(b"0\r\nX: a\x00\r\n\r\n", ChunkErrorKind::InvalidTrailer);
    chunk_rejects(b"0\r\nNoColon\r\n\r\n", ChunkErrorKind::InvalidTrailer);
    let mut long = b"1;".to_vec();
    long.resize(MAX_CHUNK_LINE as usize + 1, b'a');
    chunk_rejects(&long, ChunkErrorKind::ChunkLineTooLong);
}

#[test]
fn chunked_trailer_limits() {
    let small = HeadLimits::new(32, 2);
    let mut s = ChunkedScanner::new(&small);
    let e = s.advance(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").unwrap_err();
    assert_eq!(e.kind, ChunkErrorKind::TrailersTooLarge);
    let mut s = ChunkedScanner::new(&small);
    let e = s
        .advance(b"0\r\nA: 0123456789012345678901234567890123\r\n\r\n")
        .unwrap_err();
    assert_eq!(e.kind, ChunkErrorKind::TrailersTooLarge);
    let mut s = ChunkedScanner::new(&small);
    assert!(s.advance(b"0\r\nA: 1\r\nB: 2\r\n\r\n").unwrap().done);
}

#[test]
fn chunked_error_offsets_and_stickiness() {
    let mut s = ChunkedScanner::new(&LIMITS);
    assert!(s.advance(b"3\r\nab").is_ok());
    let e = s.advance(b"cX").unwrap_err();
    assert_eq!(
        e,
        ChunkError {
            kind: ChunkErrorKind::MissingCrlfAfterData,
            offset: 6
        }
    );
    assert_eq!(s.advance(b"\r\n").unwrap_err(), e);
    let h = e.into_http_error(Message::Response);
    assert_eq!((h.kind(), h.status()), (ErrorKind::InvalidChunkedBody, 502));
    assert_eq!(e.into_http_error(Message::Request).status(), 400);
}

// ---- deterministic mutation runs ------------------------------------------------------------

/// xorshift64*: a tiny deterministic generator, so these runs need no dependency and fail the
/// same way every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to HTTP framing, so mutations hit interesting paths often.
const INTERESTING: &[u8] = b"\r\n \t:;,=\"?#/@[]0123456789abcdefABCDEF\x00\x7f\x80\xff-";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 => v.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + rng.below(16)).min(v.len());
                let piece = v[start..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, piece);
            }
            4 => v.truncate(at),
            _ => {
                let i = rng.below(v.len() + 1);
                v.splice(i..i, *b"\r\n");
            }
        }
    }
    v
}

const REQUEST_SEEDS: &[&[u8]] = &[
    BROWSER_REQUEST,
    b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    b"GET http://u:8080/p?q=1 HTTP/1.1\r\nHost: u:8080\r\nConnection: close, X\r\nX: 1\r\n\r\n",
    b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    b"OPTIONS * HTTP/1.0\r\n\r\n",
];

/// Mutated requests never panic the parser; whatever it accepts it can serialize, and the
/// serialized head parses again to the same request (so forwarding cannot create a message
/// the next hop reads differently), and serializing that gives the same bytes.
#[test]
fn mutated_requests_never_panic_and_reserialize_stably() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let limits = HeadLimits::new(512, 16);
    let mut head = RequestHead::new();
    let mut again = RequestHead::new();
    let mut accepted = 0;
    for _ in 0..20_000 {
        let seed = REQUEST_SEEDS[rng.below(REQUEST_SEEDS.len())];
        let input = mutate(&mut rng, seed);
        match parse_request(&input, &limits, &mut head) {
            Ok(Parsed::Complete { head_len }) => {
                accepted += 1;
                assert!(head_len <= input.len());
                let mut edits = Edits::<4>::new();
                edits.strip_hop_by_hop(rng.below(2) == 0);
                let mut out = Vec::new();
                serialize_request(&head, &input, &edits, &mut out);
                let reparsed = parse_request(&out, &HeadLimits::new(4096, 16), &mut again);
                assert_eq!(
                    reparsed,
                    Ok(Parsed::Complete {
                        head_len: out.len()
                    }),
                    "{:?} -> {:?}",
                    String::from_utf8_lossy(&input),
                    String::from_utf8_lossy(&out)
                );
                assert_eq!(again.method(), head.method());
                assert_eq!(again.target(&out), head.target(&input));
                assert_eq!(again.body_kind(), head.body_kind());
                assert_eq!(again.host(&out), head.host(&input));
                let mut out2 = Vec::new();
                serialize_request(&again, &out, &edits, &mut out2);
                assert_eq!(out2, out);
                // The lookups must not panic on whatever was accepted.
                let _ = head.cookie(&input, b"a");
                let _ = head.url_param(&input, b"q");
                let _ = head.header_elements(&input, b"x").count();
            }
            Ok(Parsed::Incomplete) => assert!(input.len() < limits.max_head),
            Err(e) => assert!(e.offset() <= input.len()),
        }
    }
    // The run must exercise acceptance, not only rejection.
    assert!(accepted > 1000, "only {accepted} accepted");
}

#[test]
fn mutated_responses_never_panic() {
    let seeds: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.0 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    ];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let limits = HeadLimits::new(256, 8);
    let mut head = ResponseHead::new();
    let mut again = ResponseHead::new();
    let mut accepted = 0;
    for _ in 0..20_000 {
        let seed = seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        match parse_response(&input, &limits, &mut head) {
            Ok(Parsed::Complete { head_len }) => {
                accepted += 1;
                assert!(head_len <= input.len());
                let mut out = Vec::new();
                serialize_response(&head, &input, &Edits::<2>::new(), &mut out);
                assert_eq!(
                    parse_response(&out, &HeadLimits::new(4096, 16), &mut again),
                    Ok(Parsed::Complete {
                        head_len: out.len()
                    })
                );
                assert_eq!(again.status(), head.status());
                assert_eq!(again.body_kind(Method::Get), head.body_kind(Method::Get));
            }
            Ok(Parsed::Incomplete) => {}
            Err(e) => assert_eq!(e.status(), 502),
        }
    }
    assert!(accepted > 1000, "only {accepted} accepted");
}

/// Random splits of mutated chunked bodies give exactly the one-shot result.
#[test]
fn mutated_chunked_bodies_split_invariant() {
    let seeds: &[&[u8]] = &[
        b"4\r\nWiki\r\n5;a=b\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
        b"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
        b"0\r\n\r\n",
    ];
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut finished = 0;
    for _ in 0..20_000 {
        let seed = seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        let whole = scan(&input, input.len().max(1));
        let mut s = ChunkedScanner::new(&LIMITS);
        let mut consumed = 0;
        let mut data = Vec::new();
        let mut result = None;
        while consumed < input.len() {
            let end = (consumed + 1 + rng.below(8)).min(input.len());
            let piece = &input[consumed..end];
            match s.advance_with(piece, |r| data.extend_from_slice(&piece[r])) {
                Ok(a) => {
                    assert!(a.consumed <= piece.len());
                    consumed += a.consumed;
                    if a.done {
                        result = Some((consumed, true, None));
                        break;
                    }
                }
                Err(e) => {
                    result = Some((consumed, false, Some(e)));
                    break;
                }
            }
        }
        let (c, done, err) = result.unwrap_or((consumed, false, None));
        assert_eq!((done, err), (whole.1, whole.2));
        if err.is_none() {
            // Before an error, earlier pieces were consumed whole, so only without one do
            // the consumed counts compare.
            assert_eq!(c, whole.0);
        }
        assert_eq!(data, whole.3);
        finished += usize::from(done);
    }
    assert!(finished > 1000, "only {finished} finished");
}
