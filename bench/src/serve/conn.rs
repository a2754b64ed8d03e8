//! One `serve` connection, from accept to close.
//!
//! States: `Head` (waiting for a complete request head) → `Body` (consuming the request body,
//! if any, without keeping it) → respond → `Head` again, or close. Every complete request
//! already in the read buffer is answered before the next read, and the answers to pipelined
//! requests go out in one write. Responses to `/`, `/health` are pre-rendered (`Canned`).

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::routes::{self, Action, Canned, Conn, Kind, MAX_HEAD, MAX_HEADERS, Peer, Reject};
use crate::http1::{ChunkedDecoder, Framing};

/// Read-only, per-shard state every connection uses.
pub struct Shared {
    pub name: String,
    pub fixed: Canned,
    pub health: Canned,
    pub delay: Duration,
    pub idle_timeout: Duration,
    /// Body bytes for `/large`, written repeatedly.
    pub chunk: bytes::Bytes,
    pub stats: Stats,
}

/// What `/stats` reports: this shard's connections by protocol, and its HTTP/2 streams
/// (counted per connection and per stream, never per HTTP/1.1 request).
#[derive(Default)]
pub struct Stats {
    pub http1_connections: Cell<u64>,
    pub h2_connections: Cell<u64>,
    pub h2_streams: Cell<u64>,
    /// The most streams one HTTP/2 connection had open at once (proof of multiplexing).
    pub h2_max_in_flight: Cell<u64>,
}

impl Stats {
    pub fn json(&self, shard: &str) -> Vec<u8> {
        let mut v = serde_json::to_vec(&serde_json::json!({
            "server": shard,
            "connections": {
                "HTTP/1.1": self.http1_connections.get(),
                "HTTP/2.0": self.h2_connections.get(),
            },
            "h2_streams": self.h2_streams.get(),
            "h2_max_in_flight": self.h2_max_in_flight.get(),
        }))
        .unwrap_or_default();
        v.push(b'\n');
        v
    }
}

enum State {
    Head,
    Body {
        action: Action,
        remaining: u64,
        chunked: Option<ChunkedDecoder>,
        received: u64,
    },
}

const READ_BUF: usize = 16 * 1024;

/// Serves one connection until the client closes it, asks to, or breaks the protocol.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    shared: Rc<Shared>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
) -> io::Result<()> {
    shared
        .stats
        .http1_connections
        .set(shared.stats.http1_connections.get() + 1);
    let mut buf = vec![0u8; READ_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut state = State::Head;
    loop {
        // Answer everything the buffer already holds.
        loop {
            match &mut state {
                State::Head => {
                    if start == end {
                        break;
                    }
                    // Uninitialized slots: no 3 KiB memset per request.
                    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
                    let mut req = httparse::Request::new(&mut []);
                    let parsed = req.parse_with_uninit_headers(&buf[start..end], &mut headers);
                    let reject = match parsed {
                        Ok(httparse::Status::Complete(n)) => {
                            let who = Peer {
                                peer,
                                local,
                                tls,
                                name: &shared.name,
                            };
                            match routes::route(&req, &who) {
                                Ok(action) => {
                                    start += n;
                                    let remaining = match action.framing {
                                        Framing::Length(len) => len,
                                        _ => 0,
                                    };
                                    let chunked = (action.framing == Framing::Chunked)
                                        .then(ChunkedDecoder::new);
                                    // Tell a client waiting on Expect that the body is welcome.
                                    if action.expect_continue
                                        && action.framing != Framing::Empty
                                        && start == end
                                    {
                                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                                    }
                                    state = State::Body {
                                        action,
                                        remaining,
                                        chunked,
                                        received: 0,
                                    };
                                    continue;
                                }
                                Err(reject) => reject,
                            }
                        }
                        Ok(httparse::Status::Partial) => {
                            if end - start < MAX_HEAD {
                                break;
                            }
                            Reject {
                                status: 431,
                                message: "request head too large",
                            }
                        }
                        Err(httparse::Error::TooManyHeaders) => Reject {
                            status: 431,
                            message: "too many header fields",
                        },
                        Err(_) => Reject {
                            status: 400,
                            message: "malformed request",
                        },
                    };
                    out.extend_from_slice(&reject.render(&shared.name));
                    return finish(io, &out).await;
                }
                State::Body {
                    remaining,
                    chunked,
                    received,
                    ..
                } => {
                    let done = match chunked {
                        Some(dec) => match dec.feed(&buf[start..end]) {
                            Ok(p) => {
                                start += p.consumed;
                                *received += p.payload as u64;
                                p.done
                            }
                            Err(_) => {
                                let reject = Reject {
                                    status: 400,
                                    message: "malformed chunked body",
                                };
                                out.extend_from_slice(&reject.render(&shared.name));
                                return finish(io, &out).await;
                            }
                        },
                        None => {
                            let take = (end - start)
                                .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                            start += take;
                            *remaining -= take as u64;
                            *received += take as u64;
                            *remaining == 0
                        }
                    };
                    if !done {
                        break;
                    }
                    let State::Body {
                        action, received, ..
                    } = std::mem::replace(&mut state, State::Head)
                    else {
                        unreachable!("matched above")
                    };
                    respond(&mut io, &mut out, &shared, &action, received).await?;
                    if action.conn == Conn::Close {
                        return finish(io, &out).await;
                    }
                }
            }
        }

        // Everything buffered is answered: send the answers before waiting for more.
        if !out.is_empty() {
            io.write_all(&out).await?;
            io.flush().await?;
            out.clear();
        }
        if start == end {
            start = 0;
            end = 0;
        } else if start > 0 && buf.len() - end < 4096 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            // Only a head bigger than the buffer gets here (bodies are consumed as they come).
            buf.resize((buf.len() * 2).min(MAX_HEAD + READ_BUF), 0);
        }
        let idle = matches!(state, State::Head) && start == end;
        let n = if idle && !shared.idle_timeout.is_zero() {
            let timeout = shared.idle_timeout;
            futures_lite::future::or(io.read(&mut buf[end..]), async move {
                glommio::timer::sleep(timeout).await;
                Err(io::ErrorKind::TimedOut.into())
            })
            .await
        } else {
            io.read(&mut buf[end..]).await
        };
        match n {
            Ok(0) => return Ok(()),
            Ok(n) => end += n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return finish(io, &out).await,
            Err(e) => return Err(e),
        }
    }
}

/// Appends (or, for `/large` and delayed answers, writes) the response to a complete request.
async fn respond<S: AsyncWrite + Unpin>(
    io: &mut S,
    out: &mut Vec<u8>,
    shared: &Shared,
    action: &Action,
    received: u64,
) -> io::Result<()> {
    let delay = action.delay.unwrap_or(shared.delay);
    if !delay.is_zero() {
        // Earlier pipelined answers must not wait for this one's delay.
        if !out.is_empty() {
            io.write_all(out).await?;
            io.flush().await?;
            out.clear();
        }
        glommio::timer::sleep(delay).await;
    }
    match action.kind {
        Kind::Fixed => out.extend_from_slice(shared.fixed.bytes(action.conn, action.head_only)),
        Kind::Health => out.extend_from_slice(shared.health.bytes(action.conn, action.head_only)),
        Kind::Stats => {
            routes::render_json(out, action, &shared.stats.json(&shared.name), &shared.name)
        }
        Kind::Large(size) => {
            let conn = action.conn.header();
            routes::head(
                out,
                200,
                "application/octet-stream",
                Some(size),
                conn,
                &shared.name,
            );
            io.write_all(out).await?;
            out.clear();
            if !action.head_only {
                let mut left = size;
                while left > 0 {
                    let n = left.min(shared.chunk.len() as u64) as usize;
                    io.write_all(&shared.chunk[..n]).await?;
                    left -= n as u64;
                }
            }
            io.flush().await?;
        }
        _ => routes::render_dynamic(out, action, received, &shared.name),
    }
    Ok(())
}

/// Sends what is left and closes (TLS: with close_notify).
async fn finish<S: AsyncWrite + Unpin>(mut io: S, out: &[u8]) -> io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
    }
    io.flush().await?;
    // The peer may already be gone; that is its business.
    let _ = io.close().await;
    Ok(())
}
