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

/// A NetScaler CIP header for `magic` carrying an IPv4 (`v6` false) or IPv6 TCP connection
/// from `src` to `dst`, in the legacy or the standard framing.
fn cip(magic: u32, legacy: bool, src: &str, dst: &str) -> Vec<u8> {
    let (s, d): (std::net::SocketAddr, std::net::SocketAddr) =
        (src.parse().unwrap(), dst.parse().unwrap());
    let mut ip = Vec::new();
    match (s.ip(), d.ip()) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
            ip.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
            ip.extend_from_slice(&a.octets());
            ip.extend_from_slice(&b.octets());
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
            ip.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
            ip.extend_from_slice(&a.octets());
            ip.extend_from_slice(&b.octets());
        }
        _ => unreachable!(),
    }
    ip.extend_from_slice(&s.port().to_be_bytes());
    ip.extend_from_slice(&d.port().to_be_bytes());
    ip.extend_from_slice(&[0; 16]);
    let mut out = magic.to_be_bytes().to_vec();
    if legacy {
        out.extend_from_slice(&(ip.len() as u32).to_be_bytes());
    } else {
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&(ip.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&ip);
    out
}

/// `bind … accept-netscaler-cip MAGIC`: the client's and the destination's addresses come
/// from the NetScaler's header, legacy or standard framing, IPv4 or IPv6; a header with
/// another magic or not about TCP closes the connection unanswered. The same answers as
/// Debian's HAProxy 2.6 (which resets where corelb closes: both are "no answer" here).
#[test]
fn netscaler_cip_addresses_like_haproxy() {
    let magic = 305419896u32;
    let port = free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout client 2s\n  timeout server 2s\n  timeout connect 1s\n\
frontend f\n  bind 127.0.0.1:{port} accept-netscaler-cip {magic}\n\
  http-request return status 200 content-type text/plain lf-string \"%[src]:%[src_port] %[dst]:%[dst_port] %ci:%cp\"\n"
    );
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut udp = cip(magic, true, "10.1.2.3:4567", "192.168.0.9:80");
    udp[8 + 9] = 17;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "legacy",
            cip(magic, true, "10.1.2.3:4567", "192.168.0.9:80"),
        ),
        (
            "standard",
            cip(magic, false, "10.1.2.3:4567", "192.168.0.9:80"),
        ),
        (
            "ipv6",
            cip(magic, false, "[2001:db8::1]:1234", "[2001:db8::2]:443"),
        ),
        (
            "magic",
            cip(magic + 1, true, "10.1.2.3:4567", "192.168.0.9:80"),
        ),
        ("udp", udp),
    ];
    let seen = || -> Vec<String> {
        cases
            .iter()
            .map(|(name, head)| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut bytes = head.clone();
                bytes.extend_from_slice(req);
                s.write_all(&bytes).unwrap();
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                let out = String::from_utf8_lossy(&out).into_owned();
                let status = out.lines().next().unwrap_or("no answer").to_string();
                let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
                format!("{name}: {status} {body}")
            })
            .collect()
    };
    let lb = Corelb::start(&cfg, &[], &[port]);
    let ours = seen();
    drop(lb);
    assert_eq!(
        ours,
        [
            "legacy: HTTP/1.1 200 OK 10.1.2.3:4567 192.168.0.9:80 10.1.2.3:4567",
            "standard: HTTP/1.1 200 OK 10.1.2.3:4567 192.168.0.9:80 10.1.2.3:4567",
            "ipv6: HTTP/1.1 200 OK 2001:db8::1:1234 2001:db8::2:443 2001:db8::1:1234",
            "magic: no answer ",
            "udp: no answer ",
        ]
    );
    if let Some(_h) = common::haproxy::Haproxy::start(&cfg, &[port]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// `accept-netscaler-cip`'s value, read as HAProxy reads it (0 and what is no number are
/// refused with its message, naming the line).
#[test]
fn netscaler_cip_magic_is_checked() {
    let dir = TempDir::new("cip");
    let base = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nfrontend f\n";
    for v in ["x", "0", "4294967296"] {
        expect_check(
            &dir,
            &format!("{base}  bind 127.0.0.1:1 accept-netscaler-cip {v}\n"),
            1,
            "c.cfg:7: 'bind' : 'accept-netscaler-cip' : invalid value 0, must be >= 0",
        );
    }
    expect_check(
        &dir,
        &format!(
            "{base}  bind 127.0.0.1:1 accept-netscaler-cip -1\n  http-request return status 200\n"
        ),
        0,
        "valid",
    );
}

/// `pp2-never-send-local`: a check's PROXY v2 header carries the PROXY command with the
/// check connection's addresses (TCP over IPv4: 0x11, 12 bytes) instead of LOCAL, as
/// Debian's HAProxy sends it.
#[test]
fn pp2_never_send_local_sends_the_proxy_command_on_checks_like_haproxy() {
    let run = |haproxy: bool| -> Option<Vec<u8>> {
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
        let cfg = format!(
            "global\n  pp2-never-send-local\n{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server v2 127.0.0.1:{} send-proxy-v2 check check-send-proxy inter 100\n",
            be.port
        );
        let _p: Box<dyn std::any::Any> = if haproxy {
            Box::new(common::haproxy::Haproxy::start(&cfg, &[port])?)
        } else {
            Box::new(Corelb::start(&cfg, &[], &[port]))
        };
        eventually(Duration::from_secs(5), || {
            let v = firsts.lock().unwrap();
            v.iter().find(|b| !b.is_empty()).cloned()
        })
    };
    let got = run(false).expect("a check connection sent something");
    assert_eq!(&got[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(&got[12..16], &[0x21, 0x11, 0x00, 0x0c], "{got:?}");
    assert_eq!(&got[16..20], &[127, 0, 0, 1], "source");
    assert_eq!(&got[20..24], &[127, 0, 0, 1], "destination");
    if let Some(theirs) = run(true) {
        assert_eq!(&theirs[..16], &got[..16], "HAProxy");
    }
}
