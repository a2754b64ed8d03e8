//! Source port ranges (`server … source ADDR:LOW-HIGH`): each connection to the server
//! takes a port of the range no live connection holds, gives it back when it closes, and a
//! connection finding none free fails as HAProxy's does; each compared with Debian's HAProxy.

mod common;
use common::haproxy::{Haproxy, Start, proxies};
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server saw: each connection's source address as it came, and `close` lines
/// as they went.
type Seen = Arc<Mutex<Vec<String>>>;

/// A server that records each connection's source address, writes "hi", and holds the
/// connection until the other side closes.
fn holding_server() -> (Backend, Seen) {
    let seen: Seen = Default::default();
    let s2 = seen.clone();
    let b = Backend::start(move |mut s| {
        let peer = s.peer_addr().unwrap();
        s2.lock().unwrap().push(peer.to_string());
        let _ = s.write_all(b"hi\n");
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        s2.lock().unwrap().push(format!("close {peer}"));
    });
    (b, seen)
}

/// A range of three ports below the ephemeral ones (nothing else of this host binds
/// there), per test and process so that parallel tests do not share one.
fn range_base(test: u16) -> u16 {
    20000 + ((std::process::id() as u16 % 900) * 10 + test * 3) % 9000
}

fn connect(port: u16, from: &str) -> TcpStream {
    let s = connect_from(from, ("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// The first line the client reads ("" when the proxy closed without one).
fn first_line(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = s.read(&mut b) {
        if b[0] == b'\n' {
            break;
        }
        got.push(b[0]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The port of a server-side address "IP:PORT", and its IP.
fn split(a: &str) -> (String, u16) {
    let (ip, p) = a.rsplit_once(':').unwrap();
    (ip.to_string(), p.parse().unwrap())
}

/// Mode tcp, three ports: three clients get connections from three distinct ports of the
/// range; a fourth is closed without a connection to the server (the range is exhausted);
/// once one client leaves, its port is the one the next connection takes. With `usesrc
/// clientip` the server sees the client's address with a port of the system's choosing,
/// as HAProxy binds it, while the range still bounds the connections to three. What the
/// clients and the server saw, the same through HAProxy.
fn tcp_scenario(start: &Start, usesrc: bool, test: u16) -> Option<Vec<String>> {
    let (srv, seen) = holding_server();
    let f = free_port();
    let low = range_base(test);
    let high = low + 2;
    let extra = if usesrc { " usesrc clientip" } else { "" };
    let cfg = format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         listen l\n  bind 127.0.0.1:{f}\n  server s 127.0.0.1:{} source 127.0.0.1:{low}-{high}{extra}\n",
        srv.port
    );
    let _p = start(&cfg, &[f])?;
    let from = if usesrc { "127.0.0.5" } else { "127.0.0.1" };
    let mut out = Vec::new();
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect(f, from)).collect();
    for (i, c) in held.iter_mut().enumerate() {
        out.push(format!("client {i}: {:?}", first_line(c)));
    }
    let mut fourth = connect(f, from);
    out.push(format!("client 3: {:?}", first_line(&mut fourth)));
    let ports = |seen: &Seen| -> Vec<u16> {
        let s = seen.lock().unwrap();
        s.iter()
            .filter(|l| !l.starts_with("close"))
            .map(|a| split(a).1)
            .collect()
    };
    let first3 = ports(&seen);
    out.push(format!("server saw {} connections", first3.len()));
    let mut distinct = first3.clone();
    distinct.sort();
    distinct.dedup();
    out.push(format!("distinct ports: {}", distinct.len()));
    let inside = first3.iter().all(|p| (low..=high).contains(p));
    out.push(format!("all in range: {inside}"));
    let ips: Vec<String> = seen.lock().unwrap().iter().map(|a| split(a).0).collect();
    out.push(format!("server saw from: {ips:?}"));
    // One leaves: its port is free again once the server saw the close.
    let gone = held.remove(1);
    gone.shutdown(Shutdown::Both).unwrap();
    drop(gone);
    let closed = eventually(Duration::from_secs(5), || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("close"))
            .then_some(())
    });
    out.push(format!("close seen: {}", closed.is_some()));
    // (The proxy's own side of that connection closes as it passes the close on.)
    std::thread::sleep(Duration::from_millis(200));
    let mut next = connect(f, from);
    out.push(format!("client 4: {:?}", first_line(&mut next)));
    let now = ports(&seen);
    let freed = seen
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.strip_prefix("close ").map(|a| split(a).1));
    if !usesrc {
        out.push(format!(
            "reused the freed port: {}",
            now.len() == 4 && Some(now[3]) == freed
        ));
    }
    drop((held, fourth, next));
    Some(out)
}

fn compare(usesrc: bool, test: u16) {
    let mut want: Option<Vec<String>> = None;
    for (who, start) in proxies() {
        let Some(got) = tcp_scenario(&*start, usesrc, test) else {
            continue;
        };
        let from = if usesrc { "127.0.0.5" } else { "127.0.0.1" };
        let mut wanted = vec![
            "client 0: \"hi\"".to_string(),
            "client 1: \"hi\"".into(),
            "client 2: \"hi\"".into(),
            "client 3: \"\"".into(),
            "server saw 3 connections".into(),
            "distinct ports: 3".into(),
            format!("all in range: {}", !usesrc),
            format!("server saw from: {:?}", [from; 3]),
            "close seen: true".into(),
            "client 4: \"hi\"".into(),
        ];
        if !usesrc {
            wanted.push("reused the freed port: true".into());
        }
        assert_eq!(got, wanted, "{who}");
        match &want {
            Some(w) => assert_eq!(&got, w, "{who} differs from corelb"),
            None => want = Some(got),
        }
    }
}

#[test]
fn connections_take_free_ports_of_the_range_as_haproxy() {
    compare(false, 0);
}

#[test]
fn with_usesrc_clientip_the_range_bounds_the_connections_as_haproxy() {
    compare(true, 1);
}

/// A server that answers `GET /hold` after a while (its connection holds a port until
/// then), anything else at once.
fn slow_http() -> Backend {
    Backend::start(|mut s| {
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap_or(0);
        if buf[..n].starts_with(b"GET /hold") {
            std::thread::sleep(Duration::from_millis(2500));
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    })
}

/// Mode http, two ports both held by requests under way: the third request gets a 503
/// (`SC--`, its one retry logged), each of its two attempts logs HAProxy's emergency line
/// "Cannot bind to source address before connect()"; the held ones get their 200. A
/// health check on an exhausted range fails with "Source port range exhausted" (checks take
/// ports of the range too, as in HAProxy). The same through HAProxy.
#[test]
fn an_exhausted_range_fails_the_connect_as_haproxy() {
    let mut all = Vec::new();
    for (who, start) in proxies() {
        let srv = slow_http();
        let f = free_port();
        let low = range_base(2);
        let cfg = format!(
            "global\n  log stderr format short local0 info\ndefaults\n  mode http\n  log global\n  option httplog\n  \
             timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n  retries 1\n\
             frontend f\n  bind 127.0.0.1:{f}\n  default_backend b\n\
             backend b\n  server s1 127.0.0.1:{} source 127.0.0.1:{low}-{}\n",
            srv.port,
            low + 1
        );
        let Some(p) = start(&cfg, &[f]) else { continue };
        let hold = |path: &'static str| {
            std::thread::spawn(move || {
                raw_exchange(
                    f,
                    format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes(),
                )
            })
        };
        let held = [hold("/hold"), hold("/hold")];
        eventually(Duration::from_secs(5), || {
            (srv.accepted.load(std::sync::atomic::Ordering::Relaxed) == 2).then_some(())
        })
        .expect("two requests reach the server");
        let third = raw_exchange(f, b"GET /third HTTP/1.1\r\nhost: x\r\n\r\n");
        let mut got = vec![third.lines().next().unwrap_or("").to_string()];
        for h in held {
            got.push(h.join().unwrap().lines().next().unwrap_or("").to_string());
        }
        let done = |l: &str| l.matches("GET /hold").count() >= 2 && l.contains("GET /third");
        let text = eventually(Duration::from_secs(5), || {
            let l = match p.downcast_ref::<Corelb>() {
                Some(c) => c.log(),
                None => p.downcast_ref::<Haproxy>().unwrap().log(),
            };
            done(&l).then_some(l)
        })
        .unwrap_or_default();
        let emerg = text
            .lines()
            .filter(|l| {
                l.starts_with("<0>Cannot bind to source address before connect() for backend b.")
            })
            .count();
        got.push(format!("emergency lines: {emerg}"));
        let third_log = text
            .lines()
            .find(|l| l.contains("GET /third"))
            .unwrap_or("")
            .to_string();
        // The status, termination state and retries of the request that found no port.
        let fields: Vec<&str> = third_log.split_whitespace().collect();
        let at = |w: &str| fields.iter().position(|f| *f == w);
        got.push(match at("503") {
            Some(i) => format!(
                "logged 503 {} retries {}",
                fields[i + 4],
                fields[i + 5].rsplit('/').next().unwrap_or("")
            ),
            None => format!("log: {third_log}"),
        });
        assert_eq!(
            got,
            [
                "HTTP/1.1 503 Service Unavailable",
                "HTTP/1.1 200 OK",
                "HTTP/1.1 200 OK",
                "emergency lines: 2",
                "logged 503 SC-- retries 1",
            ],
            "{who}:\n{text}"
        );
        all.push(got);
    }
    if all.len() == 2 {
        assert_eq!(all[0], all[1]);
    }
}

/// Ranges where HAProxy refuses them, with its messages: a range upside down or past
/// 65535, on `usesrc`, on a backend's `source` (ranges are for server lines only); one
/// port ("5000-5000") is a fixed port. corelb names the line as HAProxy does.
#[test]
fn bad_ranges_are_refused_naming_the_line_as_haproxy() {
    let dir = TempDir::new("srcports");
    let cases = [
        (
            "server s 127.0.0.1:80 source 127.0.0.1:5000-4000",
            Some("'source 127.0.0.1:5000-4000' : invalid port range '5000-4000'"),
        ),
        (
            "server s 127.0.0.1:80 source 127.0.0.1:5000-70000",
            Some("'source 127.0.0.1:5000-70000' : invalid port '70000'"),
        ),
        (
            "server s 127.0.0.1:80 source 127.0.0.1:5000-",
            Some("'source 127.0.0.1:5000-' : invalid port range '5000-0'"),
        ),
        (
            "default-server source 127.0.0.1:9-8",
            Some("'source 127.0.0.1:9-8' : invalid port range '9-8'"),
        ),
        (
            "server s 127.0.0.1:80 source 127.0.0.1:5000-5001 usesrc 10.0.0.1:100-200",
            Some("'usesrc 10.0.0.1:100-200' : port range not permitted here in '10.0.0.1:100-200'"),
        ),
        (
            "source 127.0.0.1:5000-5001",
            Some(
                "'source 127.0.0.1:5000-5001' : port range not permitted here in '127.0.0.1:5000-5001'",
            ),
        ),
        (
            "source 127.0.0.1 usesrc 10.0.0.1:1-2",
            Some("'usesrc 10.0.0.1:1-2' : port range not permitted here in '10.0.0.1:1-2'"),
        ),
        ("server s 127.0.0.1:80 source 127.0.0.1:5000-5000", None),
        (
            "server s 127.0.0.1:80 source 127.0.0.1:5000-5001 usesrc clientip",
            None,
        ),
        (
            "default-server source 127.0.0.1:5000-5001\n  server s 127.0.0.1:80",
            None,
        ),
    ];
    for (line, want) in cases {
        let cfg = format!(
            "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
             frontend f\n  bind 127.0.0.1:1\n  default_backend b\nbackend b\n  {line}\n"
        );
        let path = dir.write("c.cfg", &cfg);
        let (ok, ours) = check_messages(corelb_bin(), &path).unwrap();
        assert_eq!(ok, want.is_none(), "{line}: {ours:?}");
        let theirs = check_messages("haproxy", &path);
        if let Some(w) = want {
            assert_eq!(ours.len(), 1, "{line}: {ours:?}");
            assert!(
                ours[0].starts_with("10: ") && ours[0].contains(w),
                "{line}: {ours:?}"
            );
            if let Some((hok, h)) = &theirs {
                assert!(!hok, "{line}");
                assert!(
                    h.iter().any(|m| m.starts_with("10: ") && m.contains(w)),
                    "{line}: HAProxy says {h:?}"
                );
            }
        } else if let Some((hok, h)) = &theirs {
            assert!(*hok, "{line}: HAProxy says {h:?}");
        }
    }
}

/// Health checks take their port from the server's range too (HAProxy's checks connect
/// through tcp_connect_server): with both ports held by client connections, the check
/// fails with "Layer4 connection problem, info: "Source port range exhausted"" and HAProxy's
/// emergency line, as in HAProxy.
#[test]
fn a_check_finding_the_range_exhausted_fails_as_haproxy() {
    for (who, start) in proxies() {
        let (srv, _seen) = holding_server();
        let f = free_port();
        let low = range_base(3);
        let cfg = format!(
            "global\n  log stderr format short local0 info\ndefaults\n  mode tcp\n  log global\n  option log-health-checks\n  \
             timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
             listen l\n  bind 127.0.0.1:{f}\n  server s1 127.0.0.1:{} check inter 200ms fall 100 source 127.0.0.1:{low}-{}\n",
            srv.port,
            low + 1
        );
        let Some(p) = start(&cfg, &[f]) else { continue };
        let log = || match p.downcast_ref::<Corelb>() {
            Some(c) => c.log(),
            None => p.downcast_ref::<Haproxy>().unwrap().log(),
        };
        let want = "Health check for server l/s1 failed, reason: Layer4 connection problem, info: \"Source port range exhausted\"";
        // A check under way may hold a port for a moment: the clients try again then.
        let mut held = Vec::new();
        for _ in 0..20 {
            let mut c = connect(f, "127.0.0.1");
            if first_line(&mut c) == "hi" {
                held.push(c);
            }
            if held.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(held.len(), 2, "{who}");
        let text = eventually(Duration::from_secs(5), || {
            let l = log();
            l.contains(want).then_some(l)
        });
        let text = text.unwrap_or_else(|| panic!("{who}: no {want:?} in:\n{}", log()));
        assert!(
            text.contains("<0>Cannot bind to source address before connect() for backend l."),
            "{who}:\n{text}"
        );
        drop(held);
    }
}
