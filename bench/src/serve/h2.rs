//! One `serve --http2` connection over HTTP/2 (h2 by ALPN, or h2c with prior knowledge).
//!
//! The connection's task accepts streams and drives the frames; each stream is answered by a
//! task of its own, so a `?delay=` holds only its stream. Routing is the HTTP/1.1 one
//! (`routes::route` over the stream's head, `:authority` standing for `Host`); the answer is
//! the same response, its head turned into HTTP/2 fields.

use std::cell::Cell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderValue, Request, Response};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::conn::Shared;
use super::routes::{self, Action, Kind, MAX_HEADERS, Peer};

/// The client preface: a plain connection starting with it speaks h2c (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves HTTP/2 on `io` until the client goes away or the connection fails.
pub async fn serve<S>(
    io: S,
    shared: Rc<Shared>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
) -> Result<(), h2::Error>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + 'static,
{
    let mut conn = h2::server::Builder::new()
        // Enough for any generator here; h2load's -m and corelb-bench's --max-streams are
        // usually 10-100.
        .max_concurrent_streams(1000)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, Bytes>(io.compat())
        .await?;
    let stats = &shared.stats;
    stats.h2_connections.set(stats.h2_connections.get() + 1);
    let in_flight = Rc::new(Cell::new(0u64));
    while let Some(stream) = conn.accept().await {
        let (req, respond) = stream?;
        stats.h2_streams.set(stats.h2_streams.get() + 1);
        in_flight.set(in_flight.get() + 1);
        let most = &stats.h2_max_in_flight;
        most.set(most.get().max(in_flight.get()));
        let (shared, in_flight) = (shared.clone(), in_flight.clone());
        glommio::spawn_local(async move {
            // A stream reset by the client, or a dead connection: nobody to tell.
            let _ = answer(req, respond, &shared, peer, local, tls).await;
            in_flight.set(in_flight.get() - 1);
        })
        .detach();
    }
    Ok(())
}

/// The request head as httparse sees an HTTP/1.1 one, for `routes::route`.
fn route(req: &Request<RecvStream>, who: &Peer<'_>) -> Result<Action, routes::Reject> {
    let authority = req.uri().authority().map_or("", |a| a.as_str());
    let mut headers: Vec<httparse::Header<'_>> = Vec::with_capacity(req.headers().len() + 1);
    headers.push(httparse::Header {
        name: "host",
        value: authority.as_bytes(),
    });
    for (name, value) in req.headers() {
        if headers.len() == MAX_HEADERS {
            return Err(routes::Reject {
                status: 431,
                message: "too many header fields",
            });
        }
        headers.push(httparse::Header {
            name: name.as_str(),
            value: value.as_bytes(),
        });
    }
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let parsed = httparse::Request {
        method: Some(req.method().as_str()),
        path: Some(target),
        version: Some(1),
        headers: &mut headers,
    };
    let mut action = routes::route(&parsed, who)?;
    if let Kind::Echo(info) = &mut action.kind {
        info.version = "HTTP/2.0".to_string();
        // The stand-in Host is not what the client sent.
        info.headers.remove(0);
    }
    Ok(action)
}

async fn answer(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: &Shared,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
) -> Result<(), h2::Error> {
    let who = Peer {
        peer,
        local,
        tls,
        name: &shared.name,
    };
    let action = route(&req, &who);
    // The body is read (and counted) whatever the answer, releasing flow control as it goes.
    let mut body = req.into_body();
    let mut received = 0u64;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        received += chunk.len() as u64;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let action = match action {
        Ok(a) => a,
        Err(reject) => return send_h1(&mut respond, &reject.render(&shared.name), false).await,
    };
    let delay = action.delay.unwrap_or(shared.delay);
    if !delay.is_zero() {
        glommio::timer::sleep(delay).await;
    }
    let head_only = action.head_only;
    let mut out = Vec::with_capacity(256);
    match action.kind {
        Kind::Fixed => out.extend_from_slice(shared.fixed.bytes(action.conn, true)),
        Kind::Health => out.extend_from_slice(shared.health.bytes(action.conn, true)),
        Kind::Large(size) => {
            routes::head(
                &mut out,
                200,
                "application/octet-stream",
                Some(size),
                "",
                &shared.name,
            );
            let mut stream = start(&mut respond, &out, head_only || size == 0)?;
            if head_only {
                return Ok(());
            }
            return send_large(&mut stream, &shared.chunk, size).await;
        }
        Kind::Stats => {
            let body = shared.stats.json(&shared.name);
            routes::render_json(&mut out, &action, &body, &shared.name);
        }
        _ => routes::render_dynamic(&mut out, &action, received, &shared.name),
    }
    // The canned responses were taken head only: their bodies are shared.
    match action.kind {
        Kind::Fixed if !head_only => {
            let body = shared.fixed.body();
            let mut stream = start(&mut respond, &out, body.is_empty())?;
            if body.is_empty() {
                return Ok(());
            }
            stream.send_data(Bytes::copy_from_slice(body), true)
        }
        Kind::Health if !head_only => {
            let mut stream = start(&mut respond, &out, false)?;
            stream.send_data(Bytes::copy_from_slice(shared.health.body()), true)
        }
        _ => send_h1(&mut respond, &out, head_only).await,
    }
}

/// Sends an HTTP/1.1 response rendered by `routes` (head and body) as HTTP/2.
async fn send_h1(
    respond: &mut SendResponse<Bytes>,
    rendered: &[u8],
    head_only: bool,
) -> Result<(), h2::Error> {
    let head_len = head_len(rendered);
    let body = &rendered[head_len..];
    let end = head_only || body.is_empty();
    let mut stream = start(respond, &rendered[..head_len], end)?;
    if !end {
        stream.send_data(Bytes::copy_from_slice(body), true)?;
    }
    Ok(())
}

fn head_len(rendered: &[u8]) -> usize {
    rendered
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(rendered.len(), |p| p + 4)
}

/// Sends the head `routes` rendered for HTTP/1.1 as the HTTP/2 response head (connection
/// fields dropped, names lower case).
fn start(
    respond: &mut SendResponse<Bytes>,
    h1_head: &[u8],
    end_of_stream: bool,
) -> Result<h2::SendStream<Bytes>, h2::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    let _ = parsed.parse(h1_head);
    let mut response = Response::new(());
    *response.status_mut() =
        http::StatusCode::from_u16(parsed.code.unwrap_or(500)).unwrap_or_default();
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    respond.send_response(response, end_of_stream)
}

/// `/large`: `size` bytes of `chunk`, repeated, sent as the stream's window allows.
async fn send_large(
    stream: &mut h2::SendStream<Bytes>,
    chunk: &Bytes,
    size: u64,
) -> Result<(), h2::Error> {
    let mut left = size;
    while left > 0 {
        let want = left.min(chunk.len() as u64) as usize;
        stream.reserve_capacity(want);
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Ok(()), // the stream was reset
        };
        let n = granted.min(want);
        if n == 0 {
            continue;
        }
        left -= n as u64;
        stream.send_data(chunk.slice(..n), left == 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_heads_split_from_bodies() {
        assert_eq!(head_len(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"), 25);
        assert_eq!(head_len(b"HTTP/1.1 204 No Content\r\n\r\n"), 27);
    }
}
