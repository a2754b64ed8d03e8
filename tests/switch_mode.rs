//! A mode tcp frontend whose streams go on as HTTP (`tcp-request content switch-mode http`,
//! or a backend in mode http), `option http-use-proxy-header`, and the server's `ws`
//! keyword: each scenario runs on corelb and, when it is installed, on Debian's HAProxy 2.6,
//! and both must give what the test expects.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n";

/// Runs `scenario` on corelb, then on HAProxy when it is installed, with `cfg` (its ports
/// listening); the results in that order.
fn on_both<T>(cfg: &str, ports: &[u16], scenario: impl Fn() -> T) -> Vec<T> {
    let mut out = Vec::new();
    {
        let _lb = Corelb::start(cfg, &[], ports);
        out.push(scenario());
    }
    if let Some(_h) = Haproxy::start(cfg, ports) {
        out.push(scenario());
    }
    out
}

/// An HTTP/1.1 origin that records each request's line with the `x-*` fields it came with,
/// and answers 200 (keep-alive).
fn origin(seen: Arc<Mutex<Vec<String>>>) -> Backend {
    Backend::start(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        while let Some(req) = read_request_head(&mut r) {
            let mut rec = format!("{} {}", req.method, req.target);
            for (k, v) in &req.headers {
                if k.to_ascii_lowercase().starts_with("x-") {
                    rec.push_str(&format!(" [{}: {v}]", k.to_ascii_lowercase()));
                }
            }
            seen.lock().unwrap().push(rec);
            if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .is_err()
            {
                return;
            }
        }
    })
}

/// Two GETs on one connection: the statuses (0 when no answer came) and whether the
/// connection was still open after them.
fn two_requests(port: u16, first: &str, second: &str) -> (Vec<u16>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut statuses = Vec::new();
    let mut open = true;
    for req in [first, second] {
        if s.write_all(req.as_bytes()).is_err() {
            statuses.push(0);
            open = false;
            continue;
        }
        match read_response(&mut r, false) {
            Ok(resp) => {
                open &= resp.header("connection") != Some("close");
                statuses.push(resp.status);
            }
            Err(_) => {
                statuses.push(0);
                open = false;
            }
        }
    }
    (statuses, open)
}

/// `tcp-request content switch-mode http` after the content rules (`inspect-delay`, a
/// variable set on the first bytes): the stream goes on as HTTP — the frontend's
/// `http-request` rules see the variable on the first request, the backend's rules run on
/// every request, and the connection stays open between them; a mode tcp frontend whose
/// backend is in mode http is made HTTP the same way without the rule. Before, corelb
/// refused `switch-mode` ("not supported yet") and tunnelled the second frontend's bytes
/// untouched (no `x-be`).
#[test]
fn switch_mode_http_runs_the_http_rules_with_keep_alive_like_haproxy() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let srv = origin(seen.clone());
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}frontend fe1\n  mode tcp\n  bind 127.0.0.1:{p1}\n  tcp-request inspect-delay 2s\n  \
tcp-request content set-var(txn.m) str(tcp)\n  \
tcp-request content switch-mode http if HTTP\n  tcp-request content reject\n  \
http-request set-header x-m %[var(txn.m)]\n  default_backend be\n\
frontend fe2\n  mode tcp\n  bind 127.0.0.1:{p2}\n  default_backend be\n\
backend be\n  mode http\n  http-request set-header x-be %[be_name]\n  \
server s 127.0.0.1:{}\n",
        srv.port
    );
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
    let results = on_both(&cfg, &[p1, p2], || {
        seen.lock().unwrap().clear();
        let a = two_requests(p1, &get("/a1"), &get("/a2"));
        let b = two_requests(p2, &get("/b1"), &get("/b2"));
        // Not HTTP: the content rules reject it before anything is switched.
        let c = raw_exchange(p1, b"\x16\x03\x01\x00\x05hello");
        (a, b, c, seen.lock().unwrap().clone())
    });
    for (i, (a, b, c, seen)) in results.iter().enumerate() {
        let who = ["corelb", "haproxy"][i];
        assert_eq!(*a, (vec![200, 200], true), "{who}: switch-mode");
        assert_eq!(*b, (vec![200, 200], true), "{who}: a mode http backend");
        assert_eq!(c, "", "{who}: a stream that is not HTTP");
        assert_eq!(
            *seen,
            [
                "GET /a1 [x-m: tcp] [x-be: be]",
                "GET /a2 [x-m: tcp] [x-be: be]",
                "GET /b1 [x-be: be]",
                "GET /b2 [x-be: be]",
            ],
            "{who}"
        );
    }
}

/// `switch-mode` checked as HAProxy 2.6 checks it, with its words and the line.
#[test]
fn switch_mode_is_checked_as_haproxy() {
    let dir = TempDir::new("switch-mode");
    let base = |rule: &str, be: &str| {
        format!(
            "{DEFAULTS}frontend fe\n  mode tcp\n  bind 127.0.0.1:1\n  {rule}\n  default_backend b\n\
backend b\n  mode http\n  {be}\n  server s 127.0.0.1:2\n"
        )
    };
    let fe = |rule: &str| base(rule, "");
    for (rule, msg) in [
        (
            "tcp-request content switch-mode",
            "c.cfg:8: 'tcp-request switch-mode' expects a mode as argument.",
        ),
        (
            "tcp-request content switch-mode tcp",
            "c.cfg:8: 'tcp-request switch-mode' expects a valid mode (got 'tcp').",
        ),
        (
            "tcp-request content switch-mode http proto",
            "c.cfg:8: 'tcp-request switch-mode': 'proto' expects a protocol as argument.",
        ),
        (
            "tcp-request content switch-mode http proto foo",
            "c.cfg:8: 'tcp-request switch-mode': 'proto' expects a valid MUX protocol, if specified (got 'foo')",
        ),
        (
            "tcp-request content switch-mode http proto fcgi",
            "c.cfg:8: Proxy 'fe': MUX protocol 'fcgi' is not compatible with the selected mode.",
        ),
        (
            "tcp-request content switch-mode http foo",
            "c.cfg:8: 'tcp-request content switch-mode' only accepts 'if' or 'unless', in frontend 'fe' (got 'foo')",
        ),
        (
            "tcp-request session switch-mode http",
            "c.cfg:8: 'tcp-request session' expects",
        ),
    ] {
        expect_check(&dir, &fe(rule), 1, msg);
    }
    let in_be = base("", "tcp-request content switch-mode http");
    let msg = "c.cfg:12: 'tcp-request switch-mode' not allowed because backend 'b' has no frontend capability";
    expect_check(&dir, &in_be, 1, msg);
    for ok in [
        "tcp-request content switch-mode http",
        "tcp-request content switch-mode http proto h2 if TRUE",
    ] {
        expect_check(&dir, &fe(ok), 0, "valid");
    }
}

/// `option http-use-proxy-header`: HAProxy 2.6 reads the Connection header only (a
/// Proxy-Connection header changes neither keep-alive nor close), and its one effect is
/// that `http-request auth` answers a proxy's request (an absolute URI) 407 with
/// `Proxy-Authenticate`; an origin-form request still gets 401. Before, corelb refused the
/// option ("unknown option").
#[test]
fn http_use_proxy_header_answers_auth_407_to_a_proxy_request_like_haproxy() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let srv = origin(seen.clone());
    let (p1, p2) = (free_port(), free_port());
    let fe = |p: u16, opt: &str| {
        format!(
            "frontend fe{p}\n  mode http\n  bind 127.0.0.1:{p}\n{opt}  \
http-request auth realm R if {{ path_beg /auth }} !{{ http_auth(L) }}\n  default_backend be\n"
        )
    };
    let cfg = format!(
        "{DEFAULTS}userlist L\n  user u insecure-password p\n{}{}backend be\n  mode http\n  server s 127.0.0.1:{}\n",
        fe(p1, "  option http-use-proxy-header\n"),
        fe(p2, ""),
        srv.port
    );
    let auth = |port: u16, target: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let resp = read_response(&mut BufReader::new(s), false).unwrap();
        let challenge = ["www-authenticate", "proxy-authenticate"]
            .into_iter()
            .filter_map(|h| resp.header(h).map(|v| format!("{h}: {v}")))
            .collect::<Vec<_>>();
        (resp.status, challenge)
    };
    let results = on_both(&cfg, &[p1, p2], || {
        let mut out = Vec::new();
        for p in [p1, p2] {
            out.push(format!("{:?}", auth(p, "http://x/auth")));
            out.push(format!("{:?}", auth(p, "/auth")));
            let close = "GET http://x/a HTTP/1.1\r\nHost: x\r\nProxy-Connection: close\r\n\r\n";
            let ka = "GET http://x/a HTTP/1.0\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n";
            let next = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
            out.push(format!("{:?}", two_requests(p, close, next)));
            out.push(format!("{:?}", two_requests(p, ka, next)));
        }
        out
    });
    let proxy_407 = r#"(407, ["proxy-authenticate: Basic realm=\"R\""])"#;
    let www_401 = r#"(401, ["www-authenticate: Basic realm=\"R\""])"#;
    let expected = [
        proxy_407,
        www_401,
        // Proxy-Connection: close on HTTP/1.1 keeps the connection; keep-alive on 1.0 does
        // not keep it (after the first answer, the second request finds it closed).
        "([200, 200], true)",
        "([200, 0], false)",
        www_401,
        www_401,
        "([200, 200], true)",
        "([200, 0], false)",
    ];
    for (i, got) in results.iter().enumerate() {
        assert_eq!(*got, expected, "{}", ["corelb", "haproxy"][i]);
    }
}

/// An origin that answers a WebSocket upgrade 101 and then echoes, and anything else 200
/// (`no upgrade`).
fn websocket_origin() -> Backend {
    Backend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        let Some(req) = read_request_head(&mut r) else {
            return;
        };
        if !req
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nno upgrade");
            return;
        }
        // RFC 6455's answer to the key (HAProxy checks it when it made the key itself).
        let key = req.header("sec-websocket-key").unwrap_or("");
        let sum = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
        );
        use base64::Engine;
        let accept = base64::engine::general_purpose::STANDARD.encode(sum.as_ref());
        let _ = w.write_all(
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes(),
        );
        let mut buf = [0u8; 1024];
        while let Ok(n) = std::io::Read::read(&mut r, &mut buf) {
            if n == 0 || w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
}

/// `ws auto` (the default) and `ws h1` on a server whose `alpn` offers h2 and http/1.1: a
/// WebSocket request's connection offers http/1.1 alone, so the upgrade reaches the server
/// over HTTP/1.1 and the tunnel carries bytes both ways, as with HAProxy (the TLS server here
/// is a `bind … ssl alpn h2,http/1.1` of the same configuration, which picks h2 when offered).
/// Before, corelb sent the request as an HTTP/2 stream without its upgrade: `no upgrade`.
/// `ws h2` is refused with the line (no WebSocket over HTTP/2 to servers).
#[test]
fn ws_auto_and_h1_carry_a_websocket_over_http1_to_an_alpn_h2_server_like_haproxy() {
    let dir = TempDir::new("ws");
    let pem = self_signed_pem(&dir, "site.pem", &["localhost"]);
    let srv = websocket_origin();
    let (p_auto, p_h1, tls) = (free_port(), free_port(), free_port());
    let fe = |p: u16, ws: &str| {
        format!(
            "listen l{p}\n  mode http\n  bind 127.0.0.1:{p}\n  \
server s 127.0.0.1:{tls} ssl verify none alpn h2,http/1.1{ws}\n"
        )
    };
    let cfg = format!(
        "{DEFAULTS}{}{}listen tls\n  mode http\n  bind 127.0.0.1:{tls} ssl crt {} alpn h2,http/1.1\n  \
server o 127.0.0.1:{}\n",
        fe(p_auto, ""),
        fe(p_h1, " ws h1"),
        pem.display(),
        srv.port
    );
    let upgrade = |port: u16| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(
            b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let resp = read_response(&mut r, false).unwrap();
        if resp.status != 101 {
            return format!("{} {}", resp.status, String::from_utf8_lossy(&resp.body));
        }
        s.write_all(b"ping").unwrap();
        let mut echo = [0u8; 4];
        std::io::Read::read_exact(&mut r, &mut echo).unwrap();
        format!("101 {}", String::from_utf8_lossy(&echo))
    };
    let results = on_both(&cfg, &[p_auto, p_h1, tls], || {
        (upgrade(p_auto), upgrade(p_h1))
    });
    for (i, got) in results.into_iter().enumerate() {
        let want = ("101 ping".to_string(), "101 ping".to_string());
        assert_eq!(got, want, "{}", ["corelb", "haproxy"][i]);
    }

    let line =
        |ws: &str| format!("{DEFAULTS}backend b\n  mode http\n  server s 127.0.0.1:1 {ws}\n");
    expect_check(&dir, &line("ws h1"), 0, "valid");
    expect_check(&dir, &line("ws auto"), 0, "valid");
    expect_check(
        &dir,
        &line("ws foo"),
        1,
        "c.cfg:7: 'server s' : 'ws' has to be 'auto', 'h1' or 'h2'.",
    );
    expect_check(
        &dir,
        &line("ws h2"),
        1,
        "c.cfg:7: 'server s' : 'ws h2' is not supported: corelb has no WebSocket over HTTP/2",
    );
}
