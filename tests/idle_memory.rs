//! Memory per idle keep-alive connection: the proxy's resident memory grows by what each
//! idle client connection holds. A connection between two requests keeps no input buffer,
//! no request state and a small future (HAProxy: ≈1.1 KiB plain, ≈15 KiB TLS here; corelb
//! measured 16 KiB plain before the idle state was cut, ≈5.3 KiB after, ≈3.1 KiB once the
//! connection's future stopped holding its stream and request state several times, 1.6–1.9
//! KiB once the async fns took their arguments boxed and glommio's sources shrank to 304
//! bytes: docs/benchmarks.md, "Memory per idle connection, again"). The bound is what was
//! reached with room for a busy machine (the goal was 4 KiB); it fails if the idle state
//! grows back.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Opens `n` connections to `port`, one answered request each, and keeps them open.
fn idle_connections(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: idle\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then the body as long as Content-Length says.
            loop {
                let k = s.read(&mut buf).expect("the response");
                assert!(k > 0, "closed before the response: {got:?}");
                got.extend_from_slice(&buf[..k]);
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                        break;
                    }
                }
            }
            s
        })
        .collect()
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn an_idle_keep_alive_connection_holds_a_few_kib() {
    const N: usize = 2000;
    let backend = Serve::start("s1", &[]);
    let port = free_port();
    let cfg = format!(
        "global\n  maxconn 10000\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 10s\n  timeout http-keep-alive 60s\n  http-reuse always\nfrontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:{}\n",
        backend.port
    );
    let lb = Corelb::start(&cfg, &["--cpus", "1"], &[port]);
    // Warm-up: what the first connections allocate once (spare buffers, the server pool).
    drop(idle_connections(port, 100));
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(lb.pid());
    let conns = idle_connections(port, N);
    // Let the last answers' sessions reach their wait (no assertion on time).
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_kib(lb.pid());
    let per_conn = (after.saturating_sub(before)) as f64 / N as f64;
    eprintln!("{per_conn:.2} KiB per idle connection ({before} → {after} KiB for {N})");
    // The bound is issue 11's goal, 4 KiB: with transparent huge pages the RSS grows in
    // 2 MiB steps, 1.05 KiB per connection at 2,000 of them, so the 1.6 KiB measured with
    // huge pages off reads 2.0 or 3.1 depending on where the steps fall (3.07 in a CI run).
    assert!(
        per_conn < 4.0,
        "{per_conn:.2} KiB per idle keep-alive connection (was 16 before the idle state was cut)"
    );
    drop(conns);
}
