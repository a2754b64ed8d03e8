//! mode http end to end: real clients (raw sockets, curl), corelb-bench serve and nginx as
//! backends.

mod common;
use common::*;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn http_cfg(port: u16, extra_fe: &str, extra_be: &str, servers: &[(&str, u16)]) -> String {
    let mut s = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\nfrontend www\n  bind 127.0.0.1:{port}\n{extra_fe}\n  default_backend web\nbackend web\n{extra_be}\n"
    );
    for (n, p) in servers {
        s.push_str(&format!("  server {n} 127.0.0.1:{p}\n"));
    }
    s
}

/// A backend that counts connections and answers every request with 200 (keep-alive).
fn counting_backend() -> Backend {
    keep_alive_backend(Arc::default())
}

/// Same, and `open` counts the connections it has open now.
fn keep_alive_backend(open: Arc<AtomicUsize>) -> Backend {
    /// Counts one open connection until dropped (however the serving thread ends).
    struct Open(Arc<AtomicUsize>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    Backend::start(move |s| {
        open.fetch_add(1, Ordering::SeqCst);
        let _open = Open(open.clone());
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        while read_request_head(&mut r) {
            if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .is_err()
            {
                return;
            }
        }
    })
}

/// A client connection to corelb on `port`: its write side and a buffered read side.
fn client(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (c.try_clone().unwrap(), BufReader::new(c))
}

/// Reads a request line and headers (no body); false at EOF or on an error.
fn read_request_head(r: &mut impl std::io::BufRead) -> bool {
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return false;
    }
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return false;
        }
        if h == "\r\n" {
            return true;
        }
    }
}

/// Each case: raw request bytes → the status corelb answers, and the backend never sees it.
fn reject(request: &[u8], status: u16) {
    let be = counting_backend();
    let port = free_port();
    let _lb = Corelb::start(&http_cfg(port, "", "", &[("b", be.port)]), &[], &[port]);
    let out = raw_exchange(port, request);
    assert!(
        out.starts_with(&format!("HTTP/1.1 {status} ")),
        "expected {status} for {:?}…, got {out:?}",
        String::from_utf8_lossy(&request[..request.len().min(120)])
    );
    assert!(
        out.contains("Connection: close") || status == 400 || status == 408,
        "{out}"
    );
    assert_eq!(
        be.accepted.load(Ordering::Relaxed),
        0,
        "the backend was contacted"
    );
}

#[test]
fn rejects_content_length_with_transfer_encoding() {
    reject(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

#[test]
fn rejects_differing_content_lengths() {
    reject(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn rejects_transfer_encoding_other_than_final_chunked() {
    reject(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    );
    reject(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    );
}

#[test]
fn rejects_invalid_chunk_sizes() {
    reject(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    );
    reject(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
        400,
    );
}

#[test]
fn rejects_obs_fold() {
    reject(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n",
        400,
    );
}

#[test]
fn rejects_control_characters_and_spaces_before_colons() {
    reject(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", 400);
    reject(b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400);
    reject(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn rejects_a_head_larger_than_bufsize() {
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..50 {
        big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(400)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    reject(&big, 431);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "u".repeat(20000));
    reject(long_uri.as_bytes(), 414);
}

#[test]
fn rejects_too_many_headers() {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..120 {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    reject(&req, 400);
}

#[test]
fn rejects_invalid_request_lines() {
    reject(b"GET\r\nHost: a\r\n\r\n", 400);
    reject(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    reject(b"GET / HTTP/1.1\r\n\r\n", 400); // no Host
}

#[test]
fn a_misbehaving_server_becomes_a_502() {
    for reply in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"HTTP/1.1 2000 Huh\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ] {
        let bad = Backend::start(move |mut s| {
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = s.write_all(reply);
        });
        let port = free_port();
        let _lb = Corelb::start(&http_cfg(port, "", "", &[("b", bad.port)]), &[], &[port]);
        let out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 502 "), "{reply:?} → {out:?}");
    }
    // A server that closes without answering: 502 too.
    let mute = Backend::start(|mut s| {
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
    });
    let port = free_port();
    let _lb = Corelb::start(&http_cfg(port, "", "", &[("b", mute.port)]), &[], &[port]);
    assert!(raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").starts_with("HTTP/1.1 502 "));
}

#[test]
fn keep_alive_and_pipelined_requests_are_answered_in_order() {
    let s = Serve::start("s1", &[]);
    let port = free_port();
    let _lb = Corelb::start(&http_cfg(port, "", "", &[("s1", s.port)]), &[], &[port]);
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    // Three pipelined requests in one write, each asking for a different size.
    w.write_all(b"GET /bytes/10 HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes/20 HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes/30 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    for n in [10, 20, 30] {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.len(), n);
    }
    // Then more on the same connection.
    for _ in 0..5 {
        w.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
}

#[test]
fn http_1_0_clients() {
    let s = Serve::start("s1", &[]);
    let port = free_port();
    let _lb = Corelb::start(&http_cfg(port, "", "", &[("s1", s.port)]), &[], &[port]);
    // Without keep-alive: answered, then closed.
    let out = raw_exchange(port, b"GET /bytes/5 HTTP/1.0\r\n\r\n");
    assert!(
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\n00000") || out.len() > 5, "{out}");
    // With keep-alive: the connection stays open and says so.
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    for _ in 0..2 {
        w.write_all(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert!(
            resp.header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")),
            "{:?}",
            resp.headers
        );
    }
}

#[test]
fn bodies_stream_both_ways_with_bounded_memory() {
    let s = Serve::start("s1", &[]);
    let port = free_port();
    let lb = Corelb::start(
        &http_cfg(port, "", "", &[("s1", s.port)]),
        &["--shards", "1"],
        &[port],
    );
    let before = rss_kib(lb.pid());
    // 256 MiB down.
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    w.write_all(b"GET /large?size=268435456 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.body.len(), 268_435_456);
    // 256 MiB up, chunked, in 64 KiB chunks.
    w.write_all(b"POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = vec![b'x'; 65536];
    for _ in 0..4096 {
        w.write_all(b"10000\r\n").unwrap();
        w.write_all(&chunk).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    w.write_all(b"0\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        String::from_utf8_lossy(&resp.body).contains("268435456"),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let after = rss_kib(lb.pid());
    assert!(
        after < before + 32 * 1024,
        "corelb grew from {before} KiB to {after} KiB moving 512 MiB"
    );
}

#[test]
fn expect_100_continue_is_answered_by_the_server() {
    let s = Serve::start("s1", &[]);
    let port = free_port();
    let _lb = Corelb::start(&http_cfg(port, "", "", &[("s1", s.port)]), &[], &[port]);
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    w.write_all(
        b"POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let interim = read_response(&mut r, false).unwrap();
    assert_eq!(interim.status, 100);
    w.write_all(b"hello").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains('5'));
}

#[test]
fn curl_through_corelb() {
    let s = Serve::start("s1", &[]);
    let port = free_port();
    let _lb = Corelb::start(
        &http_cfg(port, "  option forwardfor", "", &[("s1", s.port)]),
        &[],
        &[port],
    );
    let out = std::process::Command::new("curl")
        .args(["-s", "-D", "-", &format!("http://127.0.0.1:{port}/echo")])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("X-Server: s1"), "{text}");
    assert!(
        text.contains("[\"X-Forwarded-For\",\"127.0.0.1\"]"),
        "{text}"
    );
    // A 1 MiB upload with curl's own Expect: 100-continue.
    let dir = TempDir::new("curl");
    let f = dir.write("up.bin", &"z".repeat(1 << 20));
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--data-binary",
            &format!("@{}", f.display()),
            &format!("http://127.0.0.1:{port}/sink"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1048576"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn slow_clients_get_408_after_timeout_http_request() {
    let be = counting_backend();
    let port = free_port();
    let cfg = http_cfg(port, "  timeout http-request 500ms", "", &[("b", be.port)]);
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    // A byte every 200 ms never completes a head in time.
    let mut out = Vec::new();
    for b in b"GET / HTTP/1.1\r\nHost: a\r\n" {
        if c.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if t.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(be.accepted.load(Ordering::Relaxed), 0);
}

#[test]
fn idle_keep_alive_connections_close_after_timeout_http_keep_alive() {
    let s = Serve::start("s1", &[]);
    let port = free_port();
    let cfg = http_cfg(
        port,
        "  timeout http-keep-alive 400ms",
        "",
        &[("s1", s.port)],
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    w.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let t = Instant::now();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "an idle keep-alive connection closes silently"
    );
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3));
}

#[test]
fn timeout_server_gives_504() {
    let s = Serve::start("slow", &["--delay", "3s"]);
    let port = free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 500ms\nlisten l\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:{}\n",
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let t = Instant::now();
    let out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 504 "), "{out}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn connection_modes() {
    // httpclose: every response says close and the connection ends.
    let be = counting_backend();
    let port = free_port();
    let _lb = Corelb::start(
        &http_cfg(port, "  option httpclose", "", &[("b", be.port)]),
        &[],
        &[port],
    );
    let out = raw_exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200").count(), 1, "{out}");
    assert!(out.contains("Connection: close"), "{out}");
    // http-server-close: the client stays, each request gets its own server connection.
    let be = counting_backend();
    let port = free_port();
    let _lb2 = Corelb::start(
        &http_cfg(port, "  option http-server-close", "", &[("b", be.port)]),
        &[],
        &[port],
    );
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    for _ in 0..3 {
        w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    assert_eq!(be.accepted.load(Ordering::Relaxed), 3);
    // keep-alive (default): the server connection is reused.
    let be = counting_backend();
    let port = free_port();
    let _lb3 = Corelb::start(
        &http_cfg(port, "", "", &[("b", be.port)]),
        &["--shards", "1"],
        &[port],
    );
    let (mut w, mut r) = client(port);
    for _ in 0..5 {
        w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    assert_eq!(
        be.accepted.load(Ordering::Relaxed),
        1,
        "one server connection for five requests"
    );
}

#[test]
fn idle_server_connections_are_closed_after_the_purge_delay_without_new_requests() {
    let open = Arc::new(AtomicUsize::new(0));
    let be = keep_alive_backend(open.clone());
    let port = free_port();
    let _lb = Corelb::start(
        &http_cfg(port, "", "  http-reuse always", &[("b", be.port)]),
        &["--shards", "2"],
        &[port],
    );
    // A few clients at once leave several idle server connections in the shards' pools.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut w = c.try_clone().unwrap();
            let r = BufReader::new(c);
            w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            (w, r)
        })
        .collect();
    for (mut w, mut r) in clients {
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    assert!(
        open.load(Ordering::SeqCst) > 0,
        "no idle server connection kept"
    );
    // No request takes from the pools any more: the idle connections must still go, once
    // older than pool-purge-delay (5 s), without waiting for the generation to end.
    let closed = eventually(Duration::from_secs(15), || {
        (open.load(Ordering::SeqCst) == 0).then_some(())
    });
    assert!(
        closed.is_some(),
        "{} idle server connection(s) still open 15 s after the last request",
        open.load(Ordering::SeqCst)
    );
}

#[test]
fn http_reuse_safe_never_shares_the_first_request_of_a_client() {
    let be = counting_backend();
    let port = free_port();
    let _lb = Corelb::start(
        &http_cfg(port, "", "  http-reuse safe", &[("b", be.port)]),
        &["--shards", "1"],
        &[port],
    );
    // Client 1 leaves an idle server connection behind; client 2's first request must not
    // take it, its second may.
    let one = |n: usize| {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        for _ in 0..n {
            w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        }
        (w, r)
    };
    let _c1 = one(1);
    let _c2 = one(1);
    assert_eq!(
        be.accepted.load(Ordering::Relaxed),
        2,
        "the second client's first request got its own connection"
    );
    let _c3 = one(3);
    assert_eq!(
        be.accepted.load(Ordering::Relaxed),
        3,
        "later requests reuse idle connections"
    );
    // http-reuse always: even a first request takes an idle connection.
    let be = counting_backend();
    let port = free_port();
    let _lb2 = Corelb::start(
        &http_cfg(port, "", "  http-reuse always", &[("b", be.port)]),
        &["--shards", "1"],
        &[port],
    );
    for _ in 0..3 {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    assert_eq!(be.accepted.load(Ordering::Relaxed), 1);
}

#[test]
fn layer7_retries_replay_an_idempotent_request_elsewhere() {
    let bad = Serve::start("bad", &[]);
    let good = Serve::start("good", &[]);
    let port = free_port();
    // 'bad' answers 503 on /status/503; retry-on 503 moves the request to 'good' — which
    // answers the same path with 503 too, so use a backend that fails only on one server.
    let failing = Backend::start(|mut s| {
        let mut b = [0u8; 2048];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    });
    drop(bad);
    let cfg = http_cfg(
        port,
        "",
        "  balance roundrobin\n  retries 3\n  option redispatch\n  retry-on all-retryable-errors",
        &[("failing", failing.port), ("good", good.port)],
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    for _ in 0..6 {
        let out = raw_exchange(
            port,
            b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("X-Server: good"), "{out}");
    }
}

#[test]
fn without_a_usable_server_the_answer_is_503_or_the_errorfile() {
    let dead = free_port();
    let dir = TempDir::new("errfile");
    let f = dir.write("503.http", "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nsorry, down");
    let port = free_port();
    let cfg = http_cfg(
        port,
        "",
        &format!(
            "  retries 1\n  timeout connect 200ms\n  errorfile 503 {}",
            f.display()
        ),
        &[("dead", dead)],
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert!(out.ends_with("sorry, down"), "{out}");
}

#[test]
fn errorfile_that_does_not_exist_is_a_config_error() {
    let dir = TempDir::new("cfg");
    let path = dir.write(
        "c.cfg",
        "defaults\n  mode http\n  errorfile 503 /nonexistent/503.http\n",
    );
    let (code, _, err) = check_config(&path);
    assert_eq!(code, 1);
    assert!(
        err.contains("c.cfg:3: errorfile 503: cannot read '/nonexistent/503.http'"),
        "{err}"
    );
}

#[test]
fn monitor_uri_answers_without_a_backend_request() {
    let be = counting_backend();
    let port = free_port();
    let _lb = Corelb::start(
        &http_cfg(port, "  monitor-uri /haproxy_status", "", &[("b", be.port)]),
        &[],
        &[port],
    );
    let out = raw_exchange(
        port,
        b"GET /haproxy_status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    assert_eq!(be.accepted.load(Ordering::Relaxed), 0);
}

#[test]
fn nginx_as_the_backend() {
    if std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .is_err()
    {
        panic!("nginx is needed (apt-get install nginx-light)");
    }
    let dir = TempDir::new("nginx");
    let root = dir.0.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "hello from nginx\n").unwrap();
    std::fs::write(root.join("big.bin"), vec![7u8; 3 << 20]).unwrap();
    let nport = free_port();
    let conf = dir.write(
        "nginx.conf",
        &format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{ worker_connections 128; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {0}/body;\n  proxy_temp_path {0}/proxy;\n  fastcgi_temp_path {0}/fcgi;\n  uwsgi_temp_path {0}/uwsgi;\n  scgi_temp_path {0}/scgi;\n  server {{ listen 127.0.0.1:{nport}; root {0}/www; }}\n}}\n",
            dir.0.display()
        ),
    );
    let mut nginx = std::process::Command::new("nginx")
        .args(["-c", conf.to_str().unwrap(), "-p", dir.0.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || listening(nport).then_some(())).is_some());
    let port = free_port();
    let lb = Corelb::start(&http_cfg(port, "", "", &[("nginx", nport)]), &[], &[port]);
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    w.write_all(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello from nginx\n");
    w.write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.body.len(), 3 << 20);
    w.write_all(b"HEAD /index.html HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, true).unwrap();
    assert_eq!(resp.status, 200);
    w.write_all(b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 404);
    drop(lb);
    let _ = nginx.kill();
    let _ = nginx.wait();
}

/// The retry rule is the same as in mode tcp: under hash-based balancing (`balance source`
/// here) a failed connect is retried on the same server first, and `option redispatch`
/// moves the request on the last retry only (it used to move at once in mode http).
#[test]
fn hash_balancing_retries_the_same_server_before_redispatching() {
    let mut servers = [Serve::start("a", &[]), Serve::start("b", &[])];
    let port = free_port();
    let cfg = format!(
        "global\n  log stderr local0\ndefaults\n  mode http\n  log global\n  option httplog\n  timeout connect 100ms\n  timeout client 10s\n  timeout server 10s\nlisten l\n  bind 127.0.0.1:{port}\n  balance source\n  hash-type consistent\n  retries 2\n  option redispatch\n  server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n",
        servers[0].port, servers[1].port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    let get = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let first = raw_exchange(port, get);
    let (dead, other) = if first.contains("X-Server: a") {
        (0, "b")
    } else {
        (1, "a")
    };
    servers[dead].stop();
    // Its io_uring may hold the listening socket a moment after the process is gone.
    let refused = eventually(Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", servers[dead].port))
            .is_err()
            .then_some(())
    });
    assert!(refused.is_some(), "the stopped server still accepts");
    let out = raw_exchange(port, get);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}\n{}", lb.log());
    assert!(out.contains(&format!("X-Server: {other}")), "{out}");
    assert_eq!(
        logged_retries(&lb, &format!("l/{other}"), 1),
        vec![2],
        "one retry on the same server, then the redispatch:\n{}",
        lb.log()
    );
}

#[test]
fn an_idle_server_connection_that_received_bytes_is_not_reused() {
    // Each server connection answers its first request, then (idle, no request pending)
    // sends an unsolicited response: a connection with bytes waiting must not be reused, or
    // the next request would get them. Both the session's own connection (`http-reuse
    // never`) and the shard's pool (`always`) check it before reusing.
    for reuse in ["never", "always"] {
        let be = Backend::start(|s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut first = true;
            while read_request_head(&mut r) {
                if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
                if std::mem::take(&mut first) {
                    std::thread::sleep(Duration::from_millis(100));
                    let stale = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale";
                    if w.write_all(stale).is_err() {
                        return;
                    }
                }
            }
        });
        let port = free_port();
        let _lb = Corelb::start(
            &http_cfg(
                port,
                "",
                &format!("  http-reuse {reuse}"),
                &[("b", be.port)],
            ),
            &["--shards", "1"],
            &[port],
        );
        let (mut w, mut r) = client(port);
        for i in 0..2 {
            if i > 0 {
                // Time for the unsolicited bytes to reach corelb (100 ms after the answer).
                std::thread::sleep(Duration::from_millis(500));
            }
            w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            let res = read_response(&mut r, false).unwrap();
            assert_eq!(res.status, 200);
            assert_eq!(res.body, b"ok", "http-reuse {reuse}: request {i}");
        }
        assert_eq!(
            be.accepted.load(Ordering::Relaxed),
            2,
            "http-reuse {reuse}: the connection with bytes waiting was replaced"
        );
    }
}

/// `server … redir PREFIX`: GET and HEAD get HAProxy's 302 to the prefix and the path
/// (and the connection closes); a POST goes to the server. The same through HAProxy.
fn redir_answers(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    for req in [
        "GET /a/b?c=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    ] {
        let (mut w, mut r) = client(port);
        w.write_all(req.as_bytes()).unwrap();
        let resp = read_response(&mut r, req.starts_with("HEAD")).unwrap();
        let mut rest = Vec::new();
        let closed = resp.status != 302 || r.read_to_end(&mut rest).is_ok_and(|_| rest.is_empty());
        seen.push(format!(
            "{} {:?} {:?} {:?} closed={closed}",
            resp.status,
            resp.header("location"),
            resp.header("cache-control"),
            resp.header("content-length"),
        ));
    }
    seen
}

#[test]
fn server_redir_answers_get_and_head_with_a_302_as_haproxy() {
    let be = counting_backend();
    let cfg = |port: u16| {
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\nlisten www\n  bind 127.0.0.1:{port}\n  server s1 127.0.0.1:{} redir https://www.example.com\n",
            be.port
        )
    };
    let port = free_port();
    let lb = Corelb::start(&cfg(port), &[], &[port]);
    let ours = redir_answers(port);
    let want = vec![
        "302 Some(\"https://www.example.com/a/b?c=1\") Some(\"no-cache\") Some(\"0\") closed=true",
        "302 Some(\"https://www.example.com/h\") Some(\"no-cache\") Some(\"0\") closed=true",
        "200 None None Some(\"2\") closed=true",
    ];
    assert_eq!(ours, want, "{}", lb.log());
    // The 302 on the wire, byte for byte (header names in HAProxy's lower case).
    let raw = |port: u16| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /x?y HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    };
    let wire = "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: https://www.example.com/x?y\r\nconnection: close\r\n\r\n";
    assert_eq!(raw(port), wire);
    let hport = free_port();
    if let Some(_h) = common::haproxy::Haproxy::start(&cfg(hport), &[hport]) {
        assert_eq!(redir_answers(hport), want, "HAProxy");
        assert_eq!(raw(hport), wire, "HAProxy");
    }
}

/// `h1-accept-payload-with-any-method`: an HTTP/1.0 GET (or HEAD, DELETE) with a body is
/// answered 413 by default and let through with it; a POST always is: as Debian's HAProxy.
#[test]
fn h1_accept_payload_with_any_method_lets_http10_get_bodies_through_like_haproxy() {
    let run = |haproxy: bool, global: &str| -> Option<Vec<String>> {
        let port = free_port();
        let cfg = format!(
            "global\n{global}defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend f\n  bind 127.0.0.1:{port}\n  http-request return status 200 content-type text/plain string ok\n"
        );
        let _p: Box<dyn std::any::Any> = if haproxy {
            Box::new(common::haproxy::Haproxy::start(&cfg, &[port])?)
        } else {
            Box::new(Corelb::start(&cfg, &[], &[port]))
        };
        let status = |req: &str| {
            let r = raw_exchange(port, req.as_bytes());
            r.lines().next().unwrap_or("").to_string()
        };
        Some(vec![
            status("GET / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"),
            status("DELETE / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"),
            status("POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"),
            status(
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            ),
        ])
    };
    let ok = "HTTP/1.1 200 OK".to_string();
    let big = "HTTP/1.1 413 Payload Too Large".to_string();
    let by_default = run(false, "").unwrap();
    assert_eq!(by_default, [big.clone(), big, ok.clone(), ok.clone()]);
    let with = run(false, "  h1-accept-payload-with-any-method\n").unwrap();
    assert_eq!(with, [ok.clone(), ok.clone(), ok.clone(), ok]);
    if let Some(h) = run(true, "") {
        assert_eq!(h, by_default, "HAProxy");
        assert_eq!(
            run(true, "  h1-accept-payload-with-any-method\n").unwrap(),
            with,
            "HAProxy"
        );
    }
}
