//! The HTTP/1.1 client of one shard: connections (TCP or rustls), one request/response
//! exchange, and the errors that become the results' error strings (HTTP/2's too).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::duration;
use crate::http1::{self, ChunkedDecoder, Framing};
use crate::record::Proto;

/// A client connection.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

impl Conn {
    /// TLS: the server selected h2 (ALPN).
    pub fn selected_h2(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(s) => s.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_close(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Why a request got no usable response. Its `Display` is the error string in the results.
#[derive(Debug)]
pub enum HitError {
    Resolve(String),
    Connect(SocketAddr, io::Error),
    Tls(io::Error),
    Write(io::Error),
    /// `started`: some of the response had arrived.
    Read {
        err: io::Error,
        started: bool,
    },
    /// The server closed the connection without sending a byte of response.
    Closed,
    TruncatedHead,
    HeadTooLarge,
    BadResponse(httparse::Error),
    BadFraming(http1::FramingError),
    BadChunk(http1::ChunkError),
    BodyEof,
    Timeout(std::time::Duration),
    /// An HTTP/2 stream or connection error; `started`: the response had begun.
    H2 {
        err: h2::Error,
        started: bool,
    },
}

impl HitError {
    /// A pooled connection the server had already closed: the request may go again on another.
    pub fn is_stale_connection(&self) -> bool {
        match self {
            HitError::Closed => true,
            HitError::Write(e)
            | HitError::Read {
                err: e,
                started: false,
            } => matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            ),
            // The connection ended (GOAWAY, closed) or refused the stream before any of the
            // response: the request was not processed and may go again (RFC 9113 §8.7).
            HitError::H2 {
                err,
                started: false,
            } => {
                err.is_go_away() || err.is_io() || err.reason() == Some(h2::Reason::REFUSED_STREAM)
            }
            _ => false,
        }
    }
}

impl fmt::Display for HitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HitError::Resolve(e) => write!(f, "resolve: {e}"),
            HitError::Connect(addr, e) => write!(f, "connect {addr}: {e}"),
            HitError::Tls(e) => write!(f, "TLS handshake: {e}"),
            HitError::Write(e) => write!(f, "write: {e}"),
            HitError::Read { err, .. } => write!(f, "read: {err}"),
            HitError::Closed => write!(f, "the server closed the connection without responding"),
            HitError::TruncatedHead => write!(f, "the connection closed in the response head"),
            HitError::HeadTooLarge => write!(f, "response head larger than 64 KiB"),
            HitError::BadResponse(e) => write!(f, "malformed response: {e}"),
            HitError::BadFraming(e) => write!(f, "malformed response: {e}"),
            HitError::BadChunk(e) => write!(f, "{e}"),
            HitError::BodyEof => write!(f, "the connection closed in the response body"),
            HitError::H2 { err, .. } => write!(f, "http2: {err}"),
            HitError::Timeout(d) => write!(
                f,
                "timeout: no complete response within {}",
                duration::format(*d)
            ),
        }
    }
}

/// A complete response.
pub struct Response {
    pub status: u16,
    /// Body bytes (after chunked decoding).
    pub bytes_in: u64,
    /// The connection may carry another request.
    pub reusable: bool,
    /// The reason phrase, kept only for statuses that count as errors.
    pub reason: Option<String>,
    pub proto: Proto,
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_RESPONSE_HEADERS: usize = 64;

/// Sends `request` and reads one response, discarding its body. `buf` is scratch space.
pub async fn exchange(
    conn: &mut Conn,
    request: &[u8],
    head_request: bool,
    buf: &mut Vec<u8>,
) -> Result<Response, HitError> {
    conn.write_all(request).await.map_err(HitError::Write)?;
    conn.flush().await.map_err(HitError::Write)?;

    let mut filled = 0;
    loop {
        // Parse what is buffered first: an interim 1xx may have brought the final head along.
        if filled > 0 {
            let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&buf[..filled]).map_err(HitError::BadResponse)? {
                httparse::Status::Complete(head_len) => {
                    let status = resp.code.unwrap_or(0);
                    if (100..200).contains(&status) && status != 101 {
                        buf.copy_within(head_len..filled, 0);
                        filled -= head_len;
                        continue;
                    }
                    let info = http1::response_info(
                        resp.version.unwrap_or(1),
                        status,
                        head_request,
                        resp.headers,
                    )
                    .map_err(HitError::BadFraming)?;
                    let reason = (!(200..400).contains(&status))
                        .then(|| resp.reason.unwrap_or("").to_string());
                    let (bytes_in, clean) =
                        read_body(conn, buf, head_len, filled, info.framing).await?;
                    return Ok(Response {
                        status,
                        bytes_in,
                        reusable: clean && !info.close,
                        reason,
                        proto: Proto::Http1,
                    });
                }
                httparse::Status::Partial => {}
            }
        }
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Err(HitError::HeadTooLarge);
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = conn
            .read(&mut buf[filled..])
            .await
            .map_err(|err| HitError::Read {
                err,
                started: filled > 0,
            })?;
        if n == 0 {
            return Err(if filled == 0 {
                HitError::Closed
            } else {
                HitError::TruncatedHead
            });
        }
        filled += n;
    }
}

/// Reads and counts the body whose first bytes are `buf[start..filled]`. Returns the body size
/// and whether the connection ended exactly at the end of the response.
async fn read_body(
    conn: &mut Conn,
    buf: &mut [u8],
    start: usize,
    filled: usize,
    framing: Framing,
) -> Result<(u64, bool), HitError> {
    let read_err = |err| HitError::Read { err, started: true };
    let leftover = (filled - start) as u64;
    match framing {
        Framing::Empty => Ok((0, leftover == 0)),
        Framing::Length(len) => {
            let mut got = leftover.min(len);
            let clean = leftover <= len;
            while got < len {
                let want = (len - got).min(buf.len() as u64) as usize;
                let n = conn.read(&mut buf[..want]).await.map_err(read_err)?;
                if n == 0 {
                    return Err(HitError::BodyEof);
                }
                got += n as u64;
            }
            Ok((len, clean))
        }
        Framing::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let p = dec.feed(&buf[start..filled]).map_err(HitError::BadChunk)?;
            let mut payload = p.payload as u64;
            let mut clean = start + p.consumed == filled;
            while !dec.is_done() {
                let n = conn.read(buf).await.map_err(read_err)?;
                if n == 0 {
                    return Err(HitError::BodyEof);
                }
                let p = dec.feed(&buf[..n]).map_err(HitError::BadChunk)?;
                payload += p.payload as u64;
                clean = p.consumed == n;
            }
            Ok((payload, clean))
        }
        Framing::Close => {
            let mut got = leftover;
            loop {
                match conn.read(buf).await {
                    Ok(0) => return Ok((got, false)),
                    Ok(n) => got += n as u64,
                    // A TLS server that closes without close_notify still ended the body.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((got, false)),
                    Err(e) => return Err(read_err(e)),
                }
            }
        }
    }
}
