//! HTTP/1.1 pieces shared by the client (`attack`) and the server (`serve`): message framing and
//! a chunked-body decoder. Pure code over byte slices; the I/O loops drive it.

use std::fmt;

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// A message whose framing cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    BadContentLength,
    /// Both Content-Length and Transfer-Encoding (a smuggling vector), or a non-chunked coding
    /// on a request.
    Ambiguous,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::BadContentLength => write!(f, "invalid Content-Length"),
            FramingError::Ambiguous => write!(f, "ambiguous message framing"),
        }
    }
}

/// What a head says about the body and the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadInfo {
    pub framing: Framing,
    /// The connection ends after this message.
    pub close: bool,
    /// HTTP/1.0 with `Connection: keep-alive`.
    pub keep_alive_10: bool,
    pub expect_continue: bool,
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

struct Scan {
    length: Option<u64>,
    bad_length: bool,
    chunked_last: bool,
    has_te: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

fn scan(headers: &[httparse::Header<'_>]) -> Scan {
    let mut s = Scan {
        length: None,
        bad_length: false,
        chunked_last: false,
        has_te: false,
        close: false,
        keep_alive: false,
        expect_continue: false,
    };
    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            // Repeated identical values are allowed (RFC 9110 §8.6); differing ones are not.
            match (parse_length(h.value), s.length) {
                (Some(v), None) => s.length = Some(v),
                (Some(v), Some(prev)) if v == prev => {}
                _ => s.bad_length = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            s.has_te = true;
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            s.chunked_last = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            s.close |= has_token(h.value, "close");
            s.keep_alive |= has_token(h.value, "keep-alive");
        } else if name.eq_ignore_ascii_case(b"expect") {
            s.expect_continue |= h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }
    s
}

/// Framing of a request (`version` is httparse's minor version).
pub fn request_info(
    version: u8,
    headers: &[httparse::Header<'_>],
) -> Result<HeadInfo, FramingError> {
    let s = scan(headers);
    if s.bad_length {
        return Err(FramingError::BadContentLength);
    }
    if s.has_te && (s.length.is_some() || !s.chunked_last || version == 0) {
        return Err(FramingError::Ambiguous);
    }
    let framing = if s.has_te {
        Framing::Chunked
    } else {
        match s.length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    };
    let keep_alive_10 = version == 0 && s.keep_alive && !s.close;
    Ok(HeadInfo {
        framing,
        close: s.close || (version == 0 && !s.keep_alive),
        keep_alive_10,
        expect_continue: s.expect_continue && version == 1,
    })
}

/// Framing of a response to a request (`head` = the request was HEAD).
pub fn response_info(
    version: u8,
    status: u16,
    head: bool,
    headers: &[httparse::Header<'_>],
) -> Result<HeadInfo, FramingError> {
    let s = scan(headers);
    let close = s.close || (version == 0 && !s.keep_alive);
    let framing = if head || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if s.has_te {
        if s.chunked_last {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else if s.bad_length {
        return Err(FramingError::BadContentLength);
    } else {
        match s.length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    Ok(HeadInfo {
        framing,
        close: close || framing == Framing::Close,
        keep_alive_10: false,
        expect_continue: false,
    })
}

/// Decodes a chunked body incrementally, counting payload bytes (nobody here keeps bodies).
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Bytes left in the current chunk, or the size being parsed.
    size: u64,
    digits: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// Chunk extensions: skipped up to CR.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line, or the final CRLF.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// What one call to [`ChunkedDecoder::feed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; the rest belongs to the next message.
    pub consumed: usize,
    /// Payload bytes among them.
    pub payload: usize,
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkError(&'static str);

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed chunked body: {}", self.0)
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder::default()
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, ChunkError> {
        use ChunkState::*;
        let mut i = 0;
        let mut payload = 0;
        while i < input.len() && self.state != Done {
            let b = input[i];
            match self.state {
                Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if self.digits == 16 {
                            return Err(ChunkError("chunk size too large"));
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0);
                        self.size = self.size << 4 | u64::from(d);
                        self.digits += 1;
                        i += 1;
                    }
                    b';' | b' ' | b'\t' if self.digits > 0 => {
                        self.state = Ext;
                        i += 1;
                    }
                    b'\r' if self.digits > 0 => {
                        self.state = SizeLf;
                        i += 1;
                    }
                    _ => return Err(ChunkError("bad chunk size")),
                },
                Ext => {
                    if b == b'\r' {
                        self.state = SizeLf;
                    } else if b == b'\n' {
                        return Err(ChunkError("bare LF in chunk extension"));
                    }
                    i += 1;
                }
                SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError("expected LF after chunk size"));
                    }
                    i += 1;
                    self.digits = 0;
                    self.state = if self.size == 0 { TrailerStart } else { Data };
                }
                Data => {
                    let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    i += n;
                    payload += n;
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                }
                DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError("expected CRLF after chunk data"));
                    }
                    self.state = DataLf;
                    i += 1;
                }
                DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError("expected CRLF after chunk data"));
                    }
                    self.state = Size;
                    i += 1;
                }
                TrailerStart => {
                    self.state = if b == b'\r' { FinalLf } else { TrailerLine };
                    i += 1;
                }
                TrailerLine => {
                    if b == b'\r' {
                        self.state = TrailerLf;
                    }
                    i += 1;
                }
                TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkError("expected LF in trailer"));
                    }
                    self.state = TrailerStart;
                    i += 1;
                }
                FinalLf => {
                    if b != b'\n' {
                        return Err(ChunkError("expected final CRLF"));
                    }
                    self.state = Done;
                    i += 1;
                }
                Done => unreachable!("loop condition"),
            }
        }
        Ok(Progress {
            consumed: i,
            payload,
            done: self.state == Done,
        })
    }
}

/// Request bytes for one target: head and body in one buffer, so a request is one write.
pub struct RequestSpec<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authority: &'a str,
    /// In order; a `Host` here replaces the URL's, `Content-Length` is computed.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// Ask the server to close the connection after the response (`-keepalive=false`).
    pub close: bool,
}

pub fn render_request(spec: &RequestSpec<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + spec.body.len());
    out.extend_from_slice(spec.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(spec.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    let host = spec
        .headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map_or(spec.authority, |(_, v)| v.as_str());
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut user_agent = false;
    for (name, value) in spec.headers {
        if name.eq_ignore_ascii_case("host")
            || name.eq_ignore_ascii_case("content-length")
            || (spec.close && name.eq_ignore_ascii_case("connection"))
        {
            continue;
        }
        user_agent |= name.eq_ignore_ascii_case("user-agent");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !user_agent {
        out.extend_from_slice(
            concat!(
                "User-Agent: corelb-bench/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            )
            .as_bytes(),
        );
    }
    // Like Go's client: a length whenever there is a body or the method expects one.
    let expects_body = matches!(spec.method, "POST" | "PUT" | "PATCH");
    if !spec.body.is_empty() || expects_body {
        out.extend_from_slice(format!("Content-Length: {}\r\n", spec.body.len()).as_bytes());
    }
    if spec.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(spec.body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a str) -> httparse::Header<'a> {
        httparse::Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn response_framing() {
        let r = |v, s, head, hs: &[httparse::Header<'_>]| response_info(v, s, head, hs).unwrap();
        assert_eq!(
            r(1, 200, false, &[h("Content-Length", "5")]).framing,
            Framing::Length(5)
        );
        assert!(!r(1, 200, false, &[h("Content-Length", "5")]).close);
        assert_eq!(
            r(1, 200, true, &[h("Content-Length", "5")]).framing,
            Framing::Empty
        );
        assert_eq!(r(1, 204, false, &[]).framing, Framing::Empty);
        assert_eq!(
            r(1, 304, false, &[h("Content-Length", "5")]).framing,
            Framing::Empty
        );
        let chunked = r(1, 200, false, &[h("Transfer-Encoding", "gzip, chunked")]);
        assert_eq!(chunked.framing, Framing::Chunked);
        // Transfer-Encoding wins over Content-Length in a response.
        let both = r(
            1,
            200,
            false,
            &[h("Content-Length", "3"), h("Transfer-Encoding", "chunked")],
        );
        assert_eq!(both.framing, Framing::Chunked);
        let eof = r(1, 200, false, &[]);
        assert_eq!((eof.framing, eof.close), (Framing::Close, true));
        assert!(r(1, 200, false, &[h("Connection", "Keep-Alive, Close")]).close);
        assert!(r(0, 200, false, &[h("Content-Length", "1")]).close);
        assert!(
            !r(
                0,
                200,
                false,
                &[h("Content-Length", "1"), h("Connection", "keep-alive")]
            )
            .close
        );
        assert!(response_info(1, 200, false, &[h("Content-Length", "1x")]).is_err());
        assert!(
            response_info(
                1,
                200,
                false,
                &[h("Content-Length", "1"), h("Content-Length", "2")]
            )
            .is_err()
        );
    }

    #[test]
    fn request_framing() {
        let r = |v, hs: &[httparse::Header<'_>]| request_info(v, hs);
        assert_eq!(r(1, &[]).unwrap().framing, Framing::Empty);
        assert_eq!(
            r(1, &[h("content-length", "10")]).unwrap().framing,
            Framing::Length(10)
        );
        assert_eq!(
            r(1, &[h("Transfer-Encoding", "chunked")]).unwrap().framing,
            Framing::Chunked
        );
        assert_eq!(
            r(
                1,
                &[h("Transfer-Encoding", "chunked"), h("Content-Length", "3")]
            ),
            Err(FramingError::Ambiguous)
        );
        assert_eq!(
            r(1, &[h("Transfer-Encoding", "gzip")]),
            Err(FramingError::Ambiguous)
        );
        assert_eq!(
            r(1, &[h("Content-Length", "-1")]),
            Err(FramingError::BadContentLength)
        );
        assert!(r(0, &[]).unwrap().close);
        let ka = r(0, &[h("Connection", "keep-alive")]).unwrap();
        assert!(!ka.close && ka.keep_alive_10);
        assert!(r(1, &[h("Connection", "close")]).unwrap().close);
        assert!(
            r(1, &[h("Expect", "100-continue")])
                .unwrap()
                .expect_continue
        );
    }

    #[test]
    fn chunked_in_one_piece() {
        let body =
            b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let mut d = ChunkedDecoder::new();
        let p = d.feed(body).unwrap();
        assert!(p.done);
        assert_eq!(p.payload, 4 + 6 + 14);
        assert_eq!(&body[p.consumed..], b"NEXT");
    }

    #[test]
    fn chunked_byte_by_byte() {
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new();
        let (mut payload, mut consumed) = (0, 0);
        for b in body.chunks(1) {
            let p = d.feed(b).unwrap();
            payload += p.payload;
            consumed += p.consumed;
        }
        assert!(d.is_done());
        assert_eq!((payload, consumed), (10, body.len()));
    }

    #[test]
    fn chunked_rejects_garbage() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"3\nabc",
            b"11111111111111111\r\n",
        ] {
            assert!(ChunkedDecoder::new().feed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn renders_requests() {
        let headers = vec![
            ("X-A".to_string(), "1".to_string()),
            ("Host".to_string(), "override".to_string()),
            ("Content-Length".to_string(), "999".to_string()),
        ];
        let req = render_request(&RequestSpec {
            method: "POST",
            path: "/p?q",
            authority: "h:8080",
            headers: &headers,
            body: b"abc",
            close: true,
        });
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("POST /p?q HTTP/1.1\r\nHost: override\r\nX-A: 1\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(!text.contains("999"));
        assert!(text.ends_with("Connection: close\r\n\r\nabc"));

        let get = render_request(&RequestSpec {
            method: "GET",
            path: "/",
            authority: "h",
            headers: &[],
            body: b"",
            close: false,
        });
        let text = String::from_utf8(get).unwrap();
        assert!(!text.contains("Content-Length"));
        assert!(!text.contains("Connection"));
        let mut hs = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Request::new(&mut hs);
        assert!(parsed.parse(text.as_bytes()).unwrap().is_complete());
    }
}
