//! HTTP/1.1 message bodies as HTTP/2 frames and back, shared by both h2 sides: the client
//! side (`proxy::http::h2`, where the exchange writes the response) and the server side
//! ([`super::h2_upstream`], where it writes the request). A body written as HTTP/1 bytes
//! (a length, chunked with its trailer section, or until the end) goes out as DATA frames
//! within the peer's flow-control window ([`poll_send_body`]); DATA frames and trailers
//! come back as HTTP/1 body bytes ([`poll_recv_body`]); the fields HTTP/2 forbids are
//! recognised in one place ([`is_connection_specific`]).

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use std::io;
use std::task::{Context, Poll};

/// How the HTTP/1 body the exchange writes maps to DATA frames.
pub enum Framing {
    Length(u64),
    /// With the trailer section's bytes as they pass (sent as a trailing HEADERS frame).
    Chunked(Dechunk, Vec<u8>),
    /// Until the exchange ends.
    Close,
}

/// Fields that HTTP/2 forbids (RFC 9113 8.2.2).
pub fn is_connection_specific(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// Whether a trailer field may cross between the versions: not the connection-specific
/// ones HTTP/2 forbids, nor the framing and routing fields a trailer may not change (RFC
/// 9110 §6.5.1).
fn trailer_allowed(name: &[u8]) -> bool {
    !is_connection_specific(name)
        && ![&b"content-length"[..], b"host", b"trailer", b"te"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
}

/// An HTTP/1.1 trailer section's lines (`name: value`, CRLF or LF ended; the exchange's
/// chunked scanner checked their syntax) as HTTP/2 fields.
pub fn trailer_fields(lines: &[u8]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if !trailer_allowed(name) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    map
}

/// Writes an HTTP/2 request's trailers as the end of its chunked HTTP/1.1 body: the last
/// chunk, the trailer section, the blank line.
pub fn chunked_end(trailers: Option<&http::HeaderMap>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers.into_iter().flatten() {
        if trailer_allowed(name.as_str().as_bytes()) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Flow-control capacity for up to `want` bytes on `s`.
pub fn poll_capacity(
    s: &mut SendStream<Bytes>,
    cx: &mut Context<'_>,
    want: usize,
) -> Poll<io::Result<usize>> {
    loop {
        let have = s.capacity();
        if have > 0 {
            return Poll::Ready(Ok(have.min(want)));
        }
        s.reserve_capacity(want);
        match s.poll_capacity(cx) {
            Poll::Ready(Some(Ok(0))) => {}
            Poll::Ready(Some(Ok(n))) => return Poll::Ready(Ok(n.min(want))),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(io::Error::other(e))),
            Poll::Ready(None) => {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)));
            }
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// Sends `data`, HTTP/1 body bytes framed as `framing` says, as DATA frames on `s` as its
/// flow-control window allows: how many bytes were used, and whether the body ended (its
/// last frame, or its trailer section as a trailing HEADERS frame, was sent).
pub fn poll_send_body(
    s: &mut SendStream<Bytes>,
    framing: &mut Framing,
    cx: &mut Context<'_>,
    data: &[u8],
) -> Poll<io::Result<(usize, bool)>> {
    let mut used = 0;
    loop {
        let rest = &data[used..];
        let (skip, avail) = match framing {
            Framing::Length(left) => (0, (*left).min(rest.len() as u64) as usize),
            Framing::Chunked(d, trailers) => d.next(rest, trailers),
            Framing::Close => (0, rest.len()),
        };
        used += skip;
        let ended = match framing {
            Framing::Length(left) => *left == 0,
            Framing::Chunked(d, _) => d.is_done(),
            Framing::Close => false,
        };
        if ended {
            // A trailer section (gRPC's grpc-status) ends the stream as a HEADERS frame;
            // without one, an empty DATA frame does.
            match framing {
                Framing::Chunked(_, t) if !t.is_empty() => {
                    let _ = s.send_trailers(trailer_fields(t));
                }
                _ => {
                    let _ = s.send_data(Bytes::new(), true);
                }
            }
            return Poll::Ready(Ok((data.len(), true)));
        }
        if avail == 0 {
            return Poll::Ready(Ok((used, false)));
        }
        let k = match poll_capacity(s, cx, avail) {
            Poll::Ready(Ok(k)) => k,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending if used > 0 => return Poll::Ready(Ok((used, false))),
            Poll::Pending => return Poll::Pending,
        };
        let last = matches!(framing, Framing::Length(left) if *left == k as u64);
        let chunk = Bytes::copy_from_slice(&data[used..used + k]);
        if let Err(e) = s.send_data(chunk, last) {
            return Poll::Ready(Err(io::Error::other(e)));
        }
        used += k;
        match framing {
            Framing::Length(left) => *left -= k as u64,
            Framing::Chunked(d, _) => d.sent(k),
            Framing::Close => {}
        }
        if last {
            return Poll::Ready(Ok((data.len(), true)));
        }
        if used == data.len() {
            return Poll::Ready(Ok((used, false)));
        }
    }
}

/// Takes the next DATA frame of `body` into `pend` (chunk-framed when `chunked`), or at its
/// end the chunked body's end with the trailers: whether the body ended.
pub fn poll_recv_body(
    body: &mut RecvStream,
    chunked: bool,
    pend: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> Poll<Result<bool, h2::Error>> {
    loop {
        match body.poll_data(cx) {
            Poll::Ready(Some(Ok(data))) => {
                // The window opens again as the exchange takes the bytes (one frame waits
                // here at most).
                let _ = body.flow_control().release_capacity(data.len());
                if data.is_empty() {
                    continue;
                }
                if chunked {
                    use std::io::Write as _;
                    let _ = write!(pend, "{:x}\r\n", data.len());
                    pend.extend_from_slice(&data);
                    pend.extend_from_slice(b"\r\n");
                } else {
                    pend.extend_from_slice(&data);
                }
                return Poll::Ready(Ok(false));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Ready(None) => {
                if chunked {
                    // The trailers (a HEADERS frame that ended the stream), if any, in the
                    // chunked body's trailer section.
                    let trailers = match body.poll_trailers(cx) {
                        Poll::Ready(Ok(t)) => t,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    };
                    chunked_end(trailers.as_ref(), pend);
                }
                return Poll::Ready(Ok(true));
            }
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// A chunked body as it passes: which bytes are chunk data. The exchange's scanner has
/// checked the framing already, so this one only follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dechunk {
    /// In the size line (the value so far).
    Size(u64),
    /// In a chunk extension, until the line ends.
    Ext(u64),
    Data(u64),
    /// The CRLF after chunk data (bytes left).
    DataEnd(u8),
    /// In the trailer section; whether at the start of a line.
    Trailers(bool),
    Done,
}

impl Dechunk {
    /// Skips framing at the start of `input`: how many bytes that was, and how many data
    /// bytes follow it (call [`Dechunk::sent`] with what was used of them). The trailer
    /// section's lines are appended to `trailers` (without the blank line that ends it).
    pub fn next(&mut self, input: &[u8], trailers: &mut Vec<u8>) -> (usize, usize) {
        let mut i = 0;
        while i < input.len() {
            let c = input[i];
            match *self {
                Dechunk::Data(0) => {
                    *self = Dechunk::DataEnd(2);
                    continue;
                }
                Dechunk::Data(n) => return (i, (n.min((input.len() - i) as u64)) as usize),
                Dechunk::Done => return (input.len(), 0),
                Dechunk::DataEnd(k) => {
                    *self = if k > 1 {
                        Dechunk::DataEnd(k - 1)
                    } else {
                        Dechunk::Size(0)
                    };
                }
                Dechunk::Size(v) | Dechunk::Ext(v) if c == b'\n' => {
                    *self = if v == 0 {
                        Dechunk::Trailers(true)
                    } else {
                        Dechunk::Data(v)
                    };
                }
                Dechunk::Size(v) => {
                    *self = match (c as char).to_digit(16) {
                        Some(d) => Dechunk::Size(v.saturating_mul(16) + u64::from(d)),
                        None if c == b'\r' => Dechunk::Size(v),
                        None => Dechunk::Ext(v),
                    };
                }
                Dechunk::Ext(_) => {}
                Dechunk::Trailers(start) => {
                    *self = match c {
                        b'\n' if start => Dechunk::Done,
                        b'\n' => Dechunk::Trailers(true),
                        b'\r' => Dechunk::Trailers(start),
                        _ => Dechunk::Trailers(false),
                    };
                    if !(start && c == b'\r') && *self != Dechunk::Done {
                        trailers.push(c);
                    }
                }
            }
            i += 1;
        }
        if *self == Dechunk::Data(0) {
            *self = Dechunk::DataEnd(2);
        }
        (i, 0)
    }

    pub fn sent(&mut self, k: usize) {
        if let Dechunk::Data(n) = self {
            *n -= k as u64;
        }
    }

    pub fn is_done(&self) -> bool {
        *self == Dechunk::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data, whether the body ended, and the trailer section's lines.
    fn data_of(body: &[u8], step: usize) -> (Vec<u8>, bool, Vec<u8>) {
        let mut d = Dechunk::Size(0);
        let mut out = Vec::new();
        let mut trailers = Vec::new();
        for piece in body.chunks(step) {
            let mut at = 0;
            loop {
                let (skip, avail) = d.next(&piece[at..], &mut trailers);
                at += skip;
                if avail == 0 {
                    break;
                }
                out.extend_from_slice(&piece[at..at + avail]);
                d.sent(avail);
                at += avail;
            }
        }
        (out, d.is_done(), trailers)
    }

    #[test]
    fn dechunk_follows_the_framing_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-t: 1\r\nGrpc-Status:  0 \r\n\r\n";
        for step in 1..body.len() {
            assert_eq!(
                data_of(body, step),
                (
                    b"hello0123456789abcdef".to_vec(),
                    true,
                    b"x-t: 1\r\nGrpc-Status:  0 \r\n".to_vec()
                ),
                "{step}"
            );
        }
        assert_eq!(
            data_of(b"3\r\nabc\r\n0\r\n\r\n", 64),
            (b"abc".to_vec(), true, Vec::new())
        );
        assert_eq!(
            data_of(b"3\r\nabc\r\n", 64),
            (b"abc".to_vec(), false, Vec::new())
        );
    }

    #[test]
    fn trailers_cross_between_versions_without_framing_fields() {
        let t = trailer_fields(
            b"x-t: 1\r\nGrpc-Status:  0 \r\nContent-Length: 5\nconnection: close\r\nx-t: 2\r\n",
        );
        assert_eq!(t.len(), 3, "{t:?}");
        assert_eq!(t["grpc-status"], "0");
        let xt: Vec<_> = t.get_all("x-t").iter().collect();
        assert_eq!(xt, ["1", "2"]);
        let mut out = Vec::new();
        chunked_end(Some(&t), &mut out);
        assert_eq!(out, b"0\r\nx-t: 1\r\nx-t: 2\r\ngrpc-status: 0\r\n\r\n");
        out.clear();
        chunked_end(None, &mut out);
        assert_eq!(out, b"0\r\n\r\n");
    }
}
