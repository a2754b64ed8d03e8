//! The PROXY protocol on the wire: `accept-proxy`, `send-proxy`, `send-proxy-v2`,
//! `check-send-proxy`, and two corelb instances chained.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n";

/// A backend that expects a PROXY v1 line, answers with the source address it carries, then
/// echoes the rest.
fn proxy_v1_reporter() -> Backend {
    Backend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            return;
        }
        let mut w = s;
        let parts: Vec<&str> = line.split_whitespace().collect();
        let reply = if parts.len() == 6 && parts[0] == "PROXY" {
            format!(
                "src={}:{} dst={}:{}\n",
                parts[2], parts[4], parts[3], parts[5]
            )
        } else {
            format!("no proxy line: {line:?}\n")
        };
        let _ = w.write_all(reply.as_bytes());
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

fn read_line(s: &TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line
}

#[test]
fn two_corelbs_chained_with_send_proxy_v2_pass_the_original_address() {
    let be = proxy_v1_reporter();
    let (front, inner) = (free_port(), free_port());
    // A (edge, like an NLB) → send-proxy-v2 → B (accept-proxy) → send-proxy → backend.
    let a = Corelb::start(
        &format!(
            "{DEFAULTS}listen edge\n  bind 127.0.0.1:{front}\n  server b 127.0.0.1:{inner} send-proxy-v2\n"
        ),
        &[],
        &[front],
    );
    let b = Corelb::start(
        &format!(
            "{DEFAULTS}listen inner\n  bind 127.0.0.1:{inner} accept-proxy\n  server app 127.0.0.1:{} send-proxy\n",
            be.port
        ),
        &[],
        &[inner],
    );
    let mut c = connect_from("127.0.0.9", ("127.0.0.1", front)).unwrap();
    let local = c.local_addr().unwrap();
    let line = read_line(&c);
    assert_eq!(
        line,
        format!("src=127.0.0.9:{} dst=127.0.0.1:{front}\n", local.port())
    );
    // The data path still works behind the headers.
    c.write_all(b"hello through two balancers").unwrap();
    let mut buf = [0u8; 27];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello through two balancers");
    drop((a, b));
}

#[test]
fn accept_proxy_takes_a_header_split_over_segments_and_keeps_the_data_after_it() {
    let be = proxy_v1_reporter();
    let port = free_port();
    let _lb = Corelb::start(
        &format!(
            "{DEFAULTS}listen l\n  bind 127.0.0.1:{port} accept-proxy\n  server app 127.0.0.1:{} send-proxy\n",
            be.port
        ),
        &[],
        &[port],
    );
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_nodelay(true).unwrap();
    for part in [
        "PROX",
        "Y TCP4 198.51.100.7 ",
        "203.0.113.1 40000 ",
        "443\r\nfirst bytes",
    ] {
        c.write_all(part.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(&c);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "src=198.51.100.7:40000 dst=203.0.113.1:443\n");
    let mut buf = [0u8; 11];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(
        &buf, b"first bytes",
        "bytes that came with the header reach the server"
    );
}

#[test]
fn accept_proxy_v2_with_an_aws_tlv() {
    let be = proxy_v1_reporter();
    let port = free_port();
    let _lb = Corelb::start(
        &format!(
            "{DEFAULTS}listen l\n  bind 127.0.0.1:{port} accept-proxy\n  server app 127.0.0.1:{} send-proxy\n",
            be.port
        ),
        &[],
        &[port],
    );
    // v2, PROXY, TCP4 10.1.2.3:5555 → 10.9.9.9:80, with AWS's VPC endpoint TLV (0xEA).
    let mut hdr = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
    let vpce = b"\x01vpce-08d2bf15fac5001c9";
    let tlv_len = 3 + vpce.len();
    hdr.extend_from_slice(&((12 + tlv_len) as u16).to_be_bytes());
    hdr.extend_from_slice(&[10, 1, 2, 3, 10, 9, 9, 9]);
    hdr.extend_from_slice(&5555u16.to_be_bytes());
    hdr.extend_from_slice(&80u16.to_be_bytes());
    hdr.push(0xEA);
    hdr.extend_from_slice(&(vpce.len() as u16).to_be_bytes());
    hdr.extend_from_slice(vpce);
    hdr.extend_from_slice(b"payload");
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(&hdr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(&c);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "src=10.1.2.3:5555 dst=10.9.9.9:80\n");
    let mut buf = [0u8; 7];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"payload");
}

/// A connection that must be closed without the backend ever being contacted.
fn rejected(send: &[u8]) {
    let echo = Backend::echo();
    let port = free_port();
    let _lb = Corelb::start(
        &format!(
            "{DEFAULTS}listen l\n  bind 127.0.0.1:{port} accept-proxy\n  server app 127.0.0.1:{}\n",
            echo.port
        ),
        &[],
        &[port],
    );
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = c.write_all(send);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        c.read(&mut buf).unwrap_or(0),
        0,
        "connection should be closed"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        echo.accepted.load(Ordering::Relaxed),
        0,
        "the backend was contacted"
    );
}

#[test]
fn a_missing_header_is_rejected() {
    rejected(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

#[test]
fn a_malformed_v1_header_is_rejected() {
    rejected(b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n");
}

#[test]
fn an_oversized_v2_header_is_rejected() {
    let mut hdr = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
    hdr.extend_from_slice(&60000u16.to_be_bytes());
    hdr.extend_from_slice(&[0u8; 100]);
    rejected(&hdr);
}

#[test]
fn a_header_that_never_completes_times_out() {
    let echo = Backend::echo();
    let port = free_port();
    let _lb = Corelb::start(
        &format!(
            "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 500ms\n  timeout server 5s\nlisten l\n  bind 127.0.0.1:{port} accept-proxy\n  server app 127.0.0.1:{}\n",
            echo.port
        ),
        &[],
        &[port],
    );
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"PROXY TCP4 1.2.3.4").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(echo.accepted.load(Ordering::Relaxed), 0);
}

#[test]
fn check_send_proxy_sends_the_header_on_health_checks() {
    let firsts: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
    let f2 = firsts.clone();
    let be = Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        f2.lock().unwrap().push(buf[..n].to_vec());
    });
    let port = free_port();
    let _lb = Corelb::start(
        &format!(
            "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server v2 127.0.0.1:{} send-proxy-v2 check check-send-proxy inter 100\n",
            be.port
        ),
        &[],
        &[port],
    );
    let got = eventually(Duration::from_secs(5), || {
        let v = firsts.lock().unwrap();
        v.iter().find(|b| !b.is_empty()).cloned()
    })
    .expect("a check connection sent something");
    // v2 signature, then version 2 / command LOCAL (0x20), family UNSPEC, no address block.
    assert_eq!(&got[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(got[12], 0x20);
    assert_eq!(&got[13..16], &[0x00, 0x00, 0x00]);
}
