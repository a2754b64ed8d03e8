//! `server … socks4 ADDR` and `check-via-socks4`: connections to the server go through a
//! SOCKS4 proxy (a CONNECT handshake before the server's bytes), the checks too when asked;
//! the proxy here is a small one in the test, which records each request. Compared with
//! Debian's HAProxy: the same request bytes.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A SOCKS4 proxy that answers `code` (90: granted) and, granted, relays to the address
/// asked for; it keeps every request it read.
struct Socks4 {
    port: u16,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Socks4 {
    fn start(code: u8) -> Socks4 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    // VN CD DSTPORT DSTIP USERID NUL
                    let mut req = vec![0u8; 8];
                    if c.read_exact(&mut req).is_err() {
                        return;
                    }
                    let mut b = [0u8; 1];
                    while c.read_exact(&mut b).is_ok() {
                        req.push(b[0]);
                        if b[0] == 0 {
                            break;
                        }
                    }
                    seen.lock().unwrap().push(req.clone());
                    let mut answer = [0u8; 8];
                    answer[1] = code;
                    answer[2..8].copy_from_slice(&req[2..8]);
                    let _ = c.write_all(&answer);
                    if code != 90 {
                        return;
                    }
                    let ip = Ipv4Addr::new(req[4], req[5], req[6], req[7]);
                    let port = u16::from_be_bytes([req[2], req[3]]);
                    let Ok(mut s) = TcpStream::connect((ip, port)) else {
                        return;
                    };
                    let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut s2, &mut c2);
                        let _ = c2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut c, &mut s);
                    let _ = s.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Socks4 { port, requests }
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

/// What a SOCKS4 CONNECT to 127.0.0.1:`port` from HAProxy looks like.
fn connect_to(port: u16) -> Vec<u8> {
    let mut r = vec![4, 1];
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&[127, 0, 0, 1]);
    r.extend_from_slice(b"HAProxy\0");
    r
}

fn cfg(port: u16, socks: u16, server: u16, extra: &str) -> String {
    format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
listen l\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:{server} socks4 127.0.0.1:{socks}{extra}\n"
    )
}

/// What a run saw: the answer through the proxy, the proxy's requests for it and for the
/// checks, the answer through a refusing proxy.
type Seen = (String, Vec<Vec<u8>>, Vec<Vec<u8>>, String);

fn get(port: u16) -> String {
    raw_exchange(port, b"hello\n")
}

/// A request reaches the server through the proxy, which was asked to CONNECT to the
/// server's address with HAProxy's bytes (user id "HAProxy"); the checks do not go through
/// it unless `check-via-socks4`; a proxy that refuses closes the client's connection. As
/// Debian's HAProxy (mode tcp).
#[test]
fn socks4_connects_through_the_proxy_like_haproxy() {
    let be = Backend::named("app");
    let run = |haproxy: bool| -> Option<Seen> {
        let (socks, refusing) = (Socks4::start(90), Socks4::start(91));
        let start = |c: &str, port: u16| -> Option<Box<dyn std::any::Any>> {
            Some(if haproxy {
                Box::new(Haproxy::start(c, &[port])?)
            } else {
                Box::new(Corelb::start(c, &[], &[port]))
            })
        };
        let port = free_port();
        let _p = start(&cfg(port, socks.port, be.port, ""), port)?;
        let answer = get(port);
        let served = socks.requests();
        // Checks: through the proxy only with check-via-socks4.
        let (checked, plain) = (Socks4::start(90), Socks4::start(90));
        let (p2, p3) = (free_port(), free_port());
        let _c = start(
            &cfg(
                p2,
                checked.port,
                be.port,
                " check inter 100 check-via-socks4",
            ),
            p2,
        )?;
        let _d = start(&cfg(p3, plain.port, be.port, " check inter 100"), p3)?;
        std::thread::sleep(Duration::from_millis(600));
        let checks = checked.requests();
        assert!(
            plain.requests().is_empty(),
            "checks without check-via-socks4"
        );
        let p4 = free_port();
        let _e = start(&cfg(p4, refusing.port, be.port, ""), p4)?;
        let refused = get(p4);
        Some((answer, served, checks, refused))
    };
    let (answer, served, checks, refused) = run(false).unwrap();
    assert_eq!(answer, "app\n");
    assert_eq!(served, [connect_to(be.port)]);
    assert!(
        !checks.is_empty() && checks.iter().all(|r| *r == connect_to(be.port)),
        "{checks:?}"
    );
    assert_eq!(refused, "", "refused");
    if let Some((a, s, c, r)) = run(true) {
        assert_eq!(a, answer, "HAProxy");
        assert_eq!(s, served, "HAProxy's request");
        assert!(
            !c.is_empty() && c.iter().all(|r| *r == connect_to(be.port)),
            "HAProxy {c:?}"
        );
        assert_eq!(r, refused, "HAProxy refused");
    }
}

/// `socks4` errors, with the line, as HAProxy words them.
#[test]
fn socks4_errors_name_the_line() {
    let dir = TempDir::new("socks4");
    for (arg, msg) in [
        ("foo", "'socks4 foo' : missing port specification in 'foo'."),
        (
            "127.0.0.1:1080-1090",
            "'socks4 127.0.0.1:1080-1090' : port range not permitted here in '127.0.0.1:1080-1090'.",
        ),
    ] {
        expect_check(
            &dir,
            &format!("backend b\n  mode tcp\n  server s 127.0.0.1:2 socks4 {arg}\n"),
            1,
            &format!("c.cfg:3: 'server s' : {msg}"),
        );
    }
}
