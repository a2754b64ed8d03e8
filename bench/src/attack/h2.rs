//! The HTTP/2 client of one shard (`--http2` over TLS with ALPN h2, `--h2c` over plain TCP):
//! the request each target becomes, the shard's connections and one exchange on a stream.
//!
//! Worker `w` of a shard sends on the connection of slot `w / --max-streams`, so a shard with
//! `W` workers keeps `⌈W / max_streams⌉` connections per endpoint and each carries up to
//! `max_streams` requests at once (h2load's `-c`/`-m`). The first worker of a slot that finds
//! no connection dials one; the others of the slot wait for it. Each connection's frames are
//! driven by a task of its own (`h2` spawns nothing: its `Connection` future is polled here),
//! which empties the slot when the connection ends, so the next request dials again.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use h2::client::SendRequest;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::client::{Conn, HitError, Response};
use crate::record::Proto;

/// A target as an HTTP/2 request: built once, cloned per request.
pub struct H2Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// Headers HTTP/2 forbids or expresses otherwise (RFC 9113 §8.2.2; `Host` is `:authority`).
fn dropped_in_h2(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ]
    .contains(name)
}

impl H2Request {
    /// `headers` in order (the flag's, then the target's); a `Host` among them becomes the
    /// `:authority`, as the URL's authority would.
    pub fn new(
        method: &str,
        tls: bool,
        authority: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<H2Request, String> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| format!("{method}: not an HTTP/2 method: {e}"))?;
        let authority = headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map_or(authority, |(_, v)| v.as_str());
        let uri = Uri::builder()
            .scheme(if tls { "https" } else { "http" })
            .authority(authority)
            .path_and_query(path)
            .build()
            .map_err(|e| format!("{authority}{path}: not an HTTP/2 request target: {e}"))?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header {name:?}: {e}"))?;
            if dropped_in_h2(&name) {
                continue;
            }
            let value = HeaderValue::from_str(value)
                .map_err(|e| format!("header {name}: value {value:?}: {e}"))?;
            map.append(name, value);
        }
        if !map.contains_key(header::USER_AGENT) {
            map.insert(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("corelb-bench/", env!("CARGO_PKG_VERSION"))),
            );
        }
        // Like the HTTP/1.1 request (and Go's client): a length whenever there is a body or
        // the method expects one.
        if !body.is_empty() || matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            map.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(H2Request {
            method,
            uri,
            headers: map,
            body: Bytes::copy_from_slice(body),
        })
    }

    fn to_request(&self) -> Request<()> {
        let mut req = Request::new(());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// Starts HTTP/2 on a connection (TLS with h2 selected, or plain TCP with prior knowledge)
/// and spawns the task that drives it; `on_close` runs when the connection has ended.
pub async fn handshake(
    conn: Conn,
    live: &Rc<Cell<usize>>,
    on_close: impl FnOnce() + 'static,
) -> Result<SendRequest<Bytes>, HitError> {
    let (send, connection) = h2::client::Builder::new()
        .enable_push(false)
        // Responses are counted and dropped as they come, so large windows cost no memory
        // and spare a WINDOW_UPDATE round trip per 64 KiB of a large body.
        .initial_window_size(1 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, Bytes>(conn.compat())
        .await
        .map_err(|err| HitError::H2 {
            err,
            started: false,
        })?;
    live.set(live.get() + 1);
    let live = live.clone();
    glommio::spawn_local(async move {
        // Ends with the connection: an error, the server's GOAWAY, or every handle dropped
        // (then h2 sends GOAWAY itself).
        let _ = connection.await;
        live.set(live.get() - 1);
        on_close();
    })
    .detach();
    Ok(send)
}

/// One request on a stream of `send`'s connection; the body is counted and dropped.
pub async fn exchange(send: SendRequest<Bytes>, req: &H2Request) -> Result<Response, HitError> {
    let h2err = |started| move |err| HitError::H2 { err, started };
    // Waits while the server's SETTINGS_MAX_CONCURRENT_STREAMS are all in use.
    let mut send = send.ready().await.map_err(h2err(false))?;
    let end = req.body.is_empty();
    let (response, mut stream) = send
        .send_request(req.to_request(), end)
        .map_err(h2err(false))?;
    if !end {
        // Buffered by h2 until the stream's window lets it go; the Bytes are shared, not copied.
        stream
            .send_data(req.body.clone(), true)
            .map_err(h2err(false))?;
    }
    let response = response.await.map_err(h2err(false))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes_in = 0u64;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(h2err(true))?;
        bytes_in += chunk.len() as u64;
        // Consumed: let the server send more.
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    Ok(Response {
        status: status.as_u16(),
        bytes_in,
        reusable: true,
        reason: (!(200..400).contains(&status.as_u16()))
            .then(|| status.canonical_reason().unwrap_or("").to_string()),
        proto: Proto::Http2,
    })
}

/// What a worker finds in its slot.
pub enum Acquired<'a> {
    /// A connection: a handle on it and its generation (for [`Slot::clear`]).
    Ready(SendRequest<Bytes>, u64),
    /// No connection: this worker dials; the slot's other workers wait until the guard
    /// publishes a connection or goes away.
    Dial(DialGuard<'a>),
}

enum State {
    Empty,
    Dialing(Vec<Waker>),
    Ready(SendRequest<Bytes>, u64),
}

/// One connection's place among a shard's connections to an endpoint.
pub struct Slot {
    state: RefCell<State>,
    generation: Cell<u64>,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            state: RefCell::new(State::Empty),
            generation: Cell::new(0),
        }
    }
}

impl Slot {
    pub async fn acquire(&self) -> Acquired<'_> {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            match &mut *state {
                State::Ready(send, generation) => {
                    Poll::Ready(Acquired::Ready(send.clone(), *generation))
                }
                State::Dialing(waiters) => {
                    waiters.push(cx.waker().clone());
                    Poll::Pending
                }
                State::Empty => {
                    *state = State::Dialing(Vec::new());
                    Poll::Ready(Acquired::Dial(DialGuard { slot: self }))
                }
            }
        })
        .await
    }

    /// Forgets connection `generation` (it ended, or refused a request), if it is still the
    /// slot's: the next request dials a new one.
    pub fn clear(&self, generation: u64) {
        let mut state = self.state.borrow_mut();
        if matches!(&*state, State::Ready(_, g) if *g == generation) {
            *state = State::Empty;
        }
    }

    /// Drops the slot's handle, so that an idle connection closes (at the end of the attack).
    pub fn close(&self) {
        let mut state = self.state.borrow_mut();
        if matches!(&*state, State::Ready(..)) {
            *state = State::Empty;
        }
    }

    /// The generation the next published connection gets.
    pub fn next_generation(&self) -> u64 {
        self.generation.get() + 1
    }
}

/// The right (and duty) to dial a slot's connection. Dropped without publishing (the dial
/// failed, timed out, or fell back to HTTP/1.1), it empties the slot and wakes the waiters,
/// which then try for themselves.
pub struct DialGuard<'a> {
    slot: &'a Slot,
}

impl DialGuard<'_> {
    pub fn publish(self, send: SendRequest<Bytes>, generation: u64) {
        self.slot.generation.set(generation);
        let old = self.slot.state.replace(State::Ready(send, generation));
        wake(old);
    }
}

impl Drop for DialGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.slot.state.borrow_mut();
        if matches!(&*state, State::Dialing(_)) {
            let old = std::mem::replace(&mut *state, State::Empty);
            drop(state);
            wake(old);
        }
    }
}

fn wake(state: State) {
    if let State::Dialing(waiters) = state {
        for w in waiters {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_become_h2_requests() {
        let headers = vec![
            ("X-A".to_string(), "1".to_string()),
            ("Host".to_string(), "override:8443".to_string()),
            ("Connection".to_string(), "keep-alive".to_string()),
            ("Content-Length".to_string(), "999".to_string()),
            ("x-a".to_string(), "2".to_string()),
        ];
        let r = H2Request::new("POST", true, "h:1", "/p?q=1", &headers, b"abc").unwrap();
        let req = r.to_request();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().to_string(), "https://override:8443/p?q=1");
        let h = req.headers();
        assert_eq!(h.get_all("x-a").iter().collect::<Vec<_>>(), vec!["1", "2"]);
        assert!(h.get("host").is_none() && h.get("connection").is_none());
        assert_eq!(h["content-length"], "3");
        assert!(
            h["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("corelb-bench/")
        );

        let get = H2Request::new("GET", false, "127.0.0.1:80", "/", &[], b"").unwrap();
        assert_eq!(get.to_request().uri().to_string(), "http://127.0.0.1:80/");
        assert!(get.headers.get("content-length").is_none());
        assert!(
            H2Request::new(
                "GET",
                false,
                "h",
                "/",
                &[("Bad Name".into(), "v".into())],
                b""
            )
            .is_err()
        );
    }

    #[test]
    fn a_slot_dials_once_and_a_failed_dial_lets_the_next_try() {
        futures_lite::future::block_on(async {
            let slot = Slot::default();
            let Acquired::Dial(guard) = slot.acquire().await else {
                panic!("an empty slot is dialed")
            };
            // A second worker waits while the first dials.
            let mut second = Box::pin(slot.acquire());
            assert!(futures_lite::future::poll_once(&mut second).await.is_none());
            drop(guard); // the dial failed
            match second.await {
                Acquired::Dial(g) => drop(g),
                Acquired::Ready(..) => panic!("nothing was published"),
            }
            assert!(matches!(slot.acquire().await, Acquired::Dial(_)));
        });
    }
}
