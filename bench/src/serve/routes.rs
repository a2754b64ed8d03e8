//! What `serve` answers, decided from a parsed request head, and the response bytes. Pure: the
//! connection loop in `conn.rs` does the I/O.

use std::time::Duration;

use serde::Serialize;

use crate::http1::{self, Framing};

/// Largest request head accepted (a bigger one gets 431).
pub const MAX_HEAD: usize = 64 * 1024;
/// Header slots for httparse; more headers than this get 431.
pub const MAX_HEADERS: usize = 100;

/// Responses rendered once at start, in the three connection flavours a request can ask for.
pub struct Canned {
    /// HTTP/1.1 keep-alive (no Connection header).
    keep: Vec<u8>,
    /// `Connection: close`.
    close: Vec<u8>,
    /// HTTP/1.0 keep-alive (`Connection: keep-alive`).
    keep10: Vec<u8>,
    body_len: usize,
}

impl Canned {
    pub fn new(name: &str, content_type: &str, body: &[u8]) -> Canned {
        let render = |conn: &str| {
            let mut v = Vec::with_capacity(160 + body.len());
            head(
                &mut v,
                200,
                content_type,
                Some(body.len() as u64),
                conn,
                name,
            );
            v.extend_from_slice(body);
            v
        };
        Canned {
            keep: render(""),
            close: render("Connection: close\r\n"),
            keep10: render("Connection: keep-alive\r\n"),
            body_len: body.len(),
        }
    }

    /// The body alone (for HTTP/2, which writes its own head).
    pub fn body(&self) -> &[u8] {
        &self.keep[self.keep.len() - self.body_len..]
    }

    /// The whole response, or only its head for HEAD.
    pub fn bytes(&self, conn: Conn, head_only: bool) -> &[u8] {
        let full = match conn {
            Conn::Keep => &self.keep,
            Conn::Close => &self.close,
            Conn::Keep10 => &self.keep10,
        };
        if head_only {
            &full[..full.len() - self.body_len]
        } else {
            full
        }
    }
}

/// What the connection does after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    Keep,
    Close,
    Keep10,
}

impl Conn {
    pub fn header(self) -> &'static str {
        match self {
            Conn::Keep => "",
            Conn::Close => "Connection: close\r\n",
            Conn::Keep10 => "Connection: keep-alive\r\n",
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Appends a response head. `length: None` omits Content-Length (204, 304).
pub fn head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    length: Option<u64>,
    conn: &str,
    name: &str,
) {
    use std::io::Write;
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nServer: corelb-bench\r\nX-Server: {name}\r\n",
        reason(status)
    );
    if !content_type.is_empty() {
        let _ = write!(out, "Content-Type: {content_type}\r\n");
    }
    if let Some(len) = length {
        let _ = write!(out, "Content-Length: {len}\r\n");
    }
    out.extend_from_slice(conn.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The request line and headers, owned, for `/echo`.
#[derive(Debug, Serialize)]
pub struct EchoInfo {
    pub server: String,
    pub method: String,
    pub uri: String,
    pub path: String,
    pub query: String,
    pub version: String,
    /// In order, duplicates kept.
    pub headers: Vec<(String, String)>,
    pub peer: String,
    pub local: String,
    pub tls: bool,
    /// Known once the body has been read.
    pub body_bytes: std::cell::Cell<u64>,
}

#[derive(Debug)]
pub enum Kind {
    Fixed,
    Health,
    Echo(Box<EchoInfo>),
    Large(u64),
    Sink,
    Status(u16),
    /// `/stats`: the shard's counters, rendered by the connection that has them.
    Stats,
}

/// How to answer one request.
#[derive(Debug)]
pub struct Action {
    pub kind: Kind,
    pub head_only: bool,
    pub conn: Conn,
    /// `None`: the server's `--delay`.
    pub delay: Option<Duration>,
    pub framing: Framing,
    pub expect_continue: bool,
}

/// A request refused before routing: answered, then the connection closes.
#[derive(Debug, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub message: &'static str,
}

impl Reject {
    pub fn render(&self, name: &str) -> Vec<u8> {
        let body = format!("{}\n", self.message);
        let mut out = Vec::with_capacity(160 + body.len());
        head(
            &mut out,
            self.status,
            "text/plain",
            Some(body.len() as u64),
            Conn::Close.header(),
            name,
        );
        out.extend_from_slice(body.as_bytes());
        out
    }
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Connection details `/echo` reports.
pub struct Peer<'a> {
    pub peer: Option<std::net::SocketAddr>,
    pub local: Option<std::net::SocketAddr>,
    pub tls: bool,
    pub name: &'a str,
}

/// Decides the answer to a parsed request.
pub fn route(req: &httparse::Request<'_, '_>, peer: &Peer<'_>) -> Result<Action, Reject> {
    let bad = |message| Reject {
        status: 400,
        message,
    };
    let method = req.method.ok_or(bad("no method"))?;
    let target = req.path.ok_or(bad("no request target"))?;
    let version = req.version.ok_or(bad("no version"))?;
    let info = http1::request_info(version, req.headers).map_err(|e| match e {
        http1::FramingError::BadContentLength => bad("invalid Content-Length"),
        http1::FramingError::Ambiguous => bad("ambiguous message framing (Transfer-Encoding)"),
    })?;
    if version == 1
        && !req
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("host"))
    {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let delay = match query_param(query, "delay") {
        Some(d) => Some(crate::duration::parse(d).map_err(|_| bad("bad delay= value"))?),
        None => None,
    };
    let kind = if path == "/health" {
        Kind::Health
    } else if path == "/echo" || path.starts_with("/echo/") {
        Kind::Echo(Box::new(EchoInfo {
            server: peer.name.to_string(),
            method: method.to_string(),
            uri: target.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            version: format!("HTTP/1.{version}"),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            peer: peer.peer.map(|a| a.to_string()).unwrap_or_default(),
            local: peer.local.map(|a| a.to_string()).unwrap_or_default(),
            tls: peer.tls,
            body_bytes: std::cell::Cell::new(0),
        }))
    } else if path == "/large" {
        let size = query_param(query, "size").ok_or(bad("/large needs ?size=BYTES"))?;
        Kind::Large(size.parse().map_err(|_| bad("bad size= value"))?)
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        Kind::Large(n.parse().map_err(|_| bad("bad /bytes/N value"))?)
    } else if path == "/sink" {
        Kind::Sink
    } else if path == "/stats" {
        Kind::Stats
    } else if let Some(code) = path.strip_prefix("/status/") {
        let code: u16 = code.parse().map_err(|_| bad("bad /status/CODE"))?;
        if !(200..=599).contains(&code) {
            return Err(bad("/status/CODE needs a code in 200..599"));
        }
        Kind::Status(code)
    } else {
        Kind::Fixed
    };
    let conn = if info.close {
        Conn::Close
    } else if info.keep_alive_10 {
        Conn::Keep10
    } else {
        Conn::Keep
    };
    Ok(Action {
        kind,
        head_only: method == "HEAD",
        conn,
        delay,
        framing: info.framing,
        expect_continue: info.expect_continue,
    })
}

/// A JSON response (`/stats`).
pub fn render_json(out: &mut Vec<u8>, action: &Action, body: &[u8], name: &str) {
    head(
        out,
        200,
        "application/json",
        Some(body.len() as u64),
        action.conn.header(),
        name,
    );
    if !action.head_only {
        out.extend_from_slice(body);
    }
}

/// Appends the response to a finished request, except `Large`, which the caller streams,
/// `Stats`, and the canned ones, which the caller copies from `Canned`.
pub fn render_dynamic(out: &mut Vec<u8>, action: &Action, body_bytes: u64, name: &str) {
    let conn = action.conn.header();
    match &action.kind {
        Kind::Echo(info) => {
            info.body_bytes.set(body_bytes);
            let mut body = serde_json::to_vec(info).unwrap_or_default();
            body.push(b'\n');
            head(
                out,
                200,
                "application/json",
                Some(body.len() as u64),
                conn,
                name,
            );
            if !action.head_only {
                out.extend_from_slice(&body);
            }
        }
        Kind::Sink => {
            let body = format!("{body_bytes}\n");
            head(out, 200, "text/plain", Some(body.len() as u64), conn, name);
            if !action.head_only {
                out.extend_from_slice(body.as_bytes());
            }
        }
        Kind::Status(code) => {
            let len = (!matches!(code, 204 | 304)).then_some(0);
            head(out, *code, "", len, conn, name);
        }
        Kind::Fixed | Kind::Health | Kind::Large(_) | Kind::Stats => {
            unreachable!("canned, streamed or counted by the caller")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Peer<'static> = Peer {
        peer: Some(std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::LOCALHOST,
            5000,
        ))),
        local: None,
        tls: false,
        name: "s1",
    };

    fn route_bytes(raw: &[u8]) -> Result<Action, Reject> {
        let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut hs);
        assert!(req.parse(raw).unwrap().is_complete());
        route(&req, &PEER)
    }

    #[test]
    fn routes() {
        let a = route_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(matches!(a.kind, Kind::Fixed));
        assert_eq!(
            (a.conn, a.framing, a.head_only),
            (Conn::Keep, Framing::Empty, false)
        );

        let a = route_bytes(b"HEAD /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(matches!(a.kind, Kind::Health));
        assert_eq!((a.conn, a.head_only), (Conn::Keep10, true));

        let a = route_bytes(b"GET /large?size=1000000 HTTP/1.0\r\n\r\n").unwrap();
        assert!(matches!(a.kind, Kind::Large(1_000_000)));
        assert_eq!(a.conn, Conn::Close);

        let a =
            route_bytes(b"GET /bytes/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert!(matches!(a.kind, Kind::Large(5)));
        assert_eq!(a.conn, Conn::Close);

        let a = route_bytes(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert!(matches!(a.kind, Kind::Sink));
        assert_eq!(a.framing, Framing::Chunked);
        assert!(a.expect_continue);

        let a = route_bytes(b"GET /x?a=1&delay=250ms HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(a.delay, Some(Duration::from_millis(250)));

        let a = route_bytes(b"GET /status/503 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(matches!(a.kind, Kind::Status(503)));
    }

    #[test]
    fn rejects() {
        let r = |raw: &[u8]| route_bytes(raw).unwrap_err().status;
        assert_eq!(r(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(r(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
            400
        );
        assert_eq!(r(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(r(b"GET /status/99 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(r(b"GET /?delay=soon HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        let bytes = Reject {
            status: 431,
            message: "too big",
        }
        .render("s1");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(text.contains("X-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n"));
    }

    #[test]
    fn echo_keeps_header_order_and_duplicates() {
        let mut a = route_bytes(
            b"POST /echo/x?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
        a.conn = Conn::Keep;
        let mut out = Vec::new();
        render_dynamic(&mut out, &a, 3, "s1");
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Type: application/json"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["uri"], "/echo/x?q=1");
        assert_eq!(v["path"], "/echo/x");
        assert_eq!(v["version"], "HTTP/1.1");
        assert_eq!(v["server"], "s1");
        assert_eq!(v["peer"], "127.0.0.1:5000");
        assert_eq!(v["body_bytes"], 3);
        let headers = v["headers"].as_array().unwrap();
        assert_eq!(
            headers[1],
            serde_json::json!(["X-Forwarded-For", "1.1.1.1"])
        );
        assert_eq!(
            headers[2],
            serde_json::json!(["x-forwarded-for", "2.2.2.2"])
        );
    }

    #[test]
    fn canned_flavours() {
        let c = Canned::new("s1", "text/plain", b"abcd");
        let keep = String::from_utf8(c.bytes(Conn::Keep, false).to_vec()).unwrap();
        assert_eq!(
            keep,
            "HTTP/1.1 200 OK\r\nServer: corelb-bench\r\nX-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd"
        );
        let close = c.bytes(Conn::Close, true);
        assert!(close.ends_with(b"Connection: close\r\n\r\n"));
        assert!(
            c.bytes(Conn::Keep10, false)
                .ends_with(b"Connection: keep-alive\r\n\r\nabcd")
        );
    }

    #[test]
    fn status_without_body() {
        let a = Action {
            kind: Kind::Status(204),
            head_only: false,
            conn: Conn::Keep,
            delay: None,
            framing: Framing::Empty,
            expect_continue: false,
        };
        let mut out = Vec::new();
        render_dynamic(&mut out, &a, 0, "n");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!text.contains("Content-Length"));
    }
}
