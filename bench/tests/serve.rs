//! `serve` on the wire: raw bytes in, raw bytes out, where framing matters.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the peer closes.
fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> String {
    let mut out = vec![0; n];
    s.read_exact(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

const FIXED_64: &str = "HTTP/1.1 200 OK\r\nServer: corelb-bench\r\nX-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn pipelined_requests_get_their_responses_in_order() {
    let (_serve, port) = serve(&["--name", "s1"]);
    let mut s = connect(port);
    s.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let all = read_all(s);
    let health = "HTTP/1.1 200 OK\r\nServer: corelb-bench\r\nX-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nOK\n";
    let closing = FIXED_64.replace(
        "Content-Length: 64\r\n",
        "Content-Length: 64\r\nConnection: close\r\n",
    );
    assert_eq!(all, format!("{FIXED_64}{health}{closing}"));
}

#[test]
fn keep_alive_and_http_1_0() {
    let (_serve, port) = serve(&["--name", "s1", "--body-size", "5"]);
    // HTTP/1.1: the connection stays open for a second request.
    let mut s = connect(port);
    let one = "HTTP/1.1 200 OK\r\nServer: corelb-bench\r\nX-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n01234";
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_n(&mut s, one.len()), one);
    }
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut s = connect(port);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        read_all(s),
        one.replace(
            "Content-Length: 5\r\n",
            "Content-Length: 5\r\nConnection: close\r\n"
        )
    );
    // HTTP/1.0 with keep-alive: told so, and kept.
    let mut s = connect(port);
    let ka = one.replace(
        "Content-Length: 5\r\n",
        "Content-Length: 5\r\nConnection: keep-alive\r\n",
    );
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        assert_eq!(read_n(&mut s, ka.len()), ka);
    }
}

#[test]
fn sink_counts_content_length_and_chunked_bodies() {
    let (_serve, port) = serve(&["--name", "s1"]);
    let mut s = connect(port);
    let body = vec![b'z'; 100_000];
    s.write_all(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    s.write_all(&body).unwrap();
    s.write_all(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
        .unwrap();
    let all = read_all(s);
    let first = "HTTP/1.1 200 OK\r\nServer: corelb-bench\r\nX-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n100000\n";
    let second = "HTTP/1.1 200 OK\r\nServer: corelb-bench\r\nX-Server: s1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n11\n";
    assert_eq!(all, format!("{first}{second}"));
}

#[test]
fn expect_100_continue() {
    let (_serve, port) = serve(&[]);
    let mut s = connect(port);
    s.write_all(
        b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_n(&mut s, 25), "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"abcd").unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n4\n"),
        "{text}"
    );
}

#[test]
fn echo_large_status_and_head() {
    let (_serve, port) = serve(&["--name", "s9"]);
    let mut s = connect(port);
    s.write_all(b"GET /echo?x=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nConnection: close\r\n\r\n")
        .unwrap();
    let all = read_all(s);
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("X-Server: s9"), "{head}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["uri"], "/echo?x=1");
    assert_eq!(v["version"], "HTTP/1.1");
    assert_eq!(v["server"], "s9");
    assert_eq!(
        v["headers"],
        serde_json::json!([
            ["Host", "h"],
            ["X-Forwarded-For", "10.0.0.1"],
            ["X-Forwarded-For", "10.0.0.2"],
            ["Connection", "close"]
        ])
    );
    assert!(v["peer"].as_str().unwrap().starts_with("127.0.0.1:"));

    let mut s = connect(port);
    s.write_all(b"GET /large?size=3000000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - head_end, 3_000_000);

    let mut s = connect(port);
    s.write_all(b"GET /status/503 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /bytes/10 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let all = read_all(s);
    assert!(
        all.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{all}"
    );
    assert!(
        all.contains("Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{all}"
    );
    assert!(
        all.ends_with("Content-Length: 10\r\nConnection: close\r\n\r\n"),
        "{all}"
    );
}

#[test]
fn bad_requests_are_refused_and_closed() {
    let (_serve, port) = serve(&[]);
    let cases: [(&[u8], &str); 4] = [
        (b"GARBAGE\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\n\r\n", "400"), // no Host
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400",
        ),
        (b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"),
    ];
    for (raw, status) in cases {
        let mut s = connect(port);
        s.write_all(raw).unwrap();
        let all = read_all(s);
        assert!(
            all.starts_with(&format!("HTTP/1.1 {status} ")) && all.contains("Connection: close"),
            "{:?} → {all}",
            String::from_utf8_lossy(raw)
        );
    }
    // A head that never ends: 431 once it passes the limit.
    let mut s = connect(port);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    for _ in 0..70 {
        if s.write_all(filler.as_bytes()).is_err() {
            break;
        }
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 431 "));
}

#[test]
fn per_request_delay_and_idle_timeout() {
    let (_serve, port) = serve(&["--idle-timeout", "300ms"]);
    let mut s = connect(port);
    let started = std::time::Instant::now();
    s.write_all(b"GET /?delay=150ms HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(n > 0);
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Idle past the timeout: the server closes.
    let n = s.read(&mut buf).unwrap();
    assert_eq!(n, 0);
}
