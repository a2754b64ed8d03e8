//! `http-request replace-path`, `replace-pathq`, `replace-uri`, `set-pathq`, `tarpit`,
//! `silent-drop` and `reject`, and `http-response silent-drop`,
//! run the same through Debian's HAProxy 2.6 and corelb: the target each backend received,
//! and the statuses.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::time::{Duration, Instant};

fn config(port: u16, a: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    timeout tarpit 300ms
    http-request tarpit deny_status 429 if {{ path /slow }}
    http-request tarpit if {{ path /slow500 }}
    http-request silent-drop if {{ path /drop }}
    http-request replace-path ^/p/(.*) /echo if {{ path_beg /p/ }}
    http-request replace-pathq ^/pq/([^?]*)\\?(.*) /echo?\\2&from=\\1
    http-request replace-uri ^/u/(.*) /echo?u=\\1
    http-request set-pathq /echo?sp=%[path] if {{ path_beg /sp/ }}
    http-request set-path /chain%[path] if {{ path_beg /c/ }}
    http-request replace-pathq ^/chain/c/([^?]*).* /echo?c=\\1
    http-request replace-path ^/nomatch/(.*) /echo
    default_backend be
backend be
    server a 127.0.0.1:{a}
"
    )
}

/// The status and the request-target the backend saw (from `/echo`'s JSON), or the body.
fn outcome(port: u16, req: &str) -> (u16, String) {
    let raw = raw_exchange(port, req.as_bytes());
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let uri = raw
        .split("\"uri\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("-")
        .to_string();
    (status, uri)
}

#[test]
fn target_rewrites_and_tarpit_match_haproxy() {
    let a = Serve::start("web-a", &[]);
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&config(hp, a.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&config(cp, a.port), &[], &[cp]);
    let requests = [
        "GET /p/x/y?q=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /pq/abc?k=v HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /u/zz?y=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /sp/1?z=3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /c/k?m=4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET http://h.example/p/abs?q=5 HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n\r\n",
        "GET /nomatch HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /slow500 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /drop HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    ];
    let mut diffs = Vec::new();
    let mut got = Vec::new();
    for req in requests {
        let line = req.lines().next().unwrap();
        let h = outcome(hp, req);
        let t0 = Instant::now();
        let c = outcome(cp, req);
        if line.contains("/slow") {
            // The tarpit holds the client at least `timeout tarpit` before answering.
            assert!(t0.elapsed() >= Duration::from_millis(300), "{line}");
        }
        if h != c {
            diffs.push(format!("{line}\n  haproxy: {h:?}\n  corelb:  {c:?}"));
        }
        got.push(c);
    }
    assert!(
        diffs.is_empty(),
        "corelb and HAProxy differ:\n{}\n\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
    // What they agreed on is the rewrites at work.
    let uris: Vec<&str> = got.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(
        uris[..5],
        [
            "/echo?q=1",
            "/echo?k=v&from=abc",
            "/echo?u=zz?y=2",
            "/echo?sp=/sp/1",
            "/echo?c=k"
        ]
    );
    assert_eq!((got[8].0, got[9].0), (429, 500));
    // silent-drop: no answer at all, and on corelb's side a reset rather than a FIN (on
    // loopback the TTL of 1 does not stop it).
    assert_eq!(got[10], (0, "-".to_string()));
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", cp)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(requests[10].as_bytes()).unwrap();
    let r = s.read(&mut [0u8; 64]);
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
}

/// `use-server`: which server answered each request, through HAProxy and corelb (the rules
/// win over balancing; a server in maintenance lets the next rule try).
#[test]
fn use_server_matches_haproxy() {
    let (a, b) = (Serve::start("web-a", &[]), Serve::start("web-b", &[]));
    let down = free_port();
    let cfg = |port: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    use-server gone if {{ path /b }}
    use-server b if {{ path /b }}
    use-server a if {{ req.hdr(x-a) -m found }}
    server a 127.0.0.1:{}
    server b 127.0.0.1:{}
    server gone 127.0.0.1:{down} disabled
",
            a.port, b.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let server = |port: u16, req: &str| -> Option<String> {
        let raw = raw_exchange(port, req.as_bytes());
        raw.lines()
            .find_map(|l| {
                l.strip_prefix("X-Server: ")
                    .or_else(|| l.strip_prefix("x-server: "))
            })
            .map(str::to_string)
    };
    let requests = [
        "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nConnection: close\r\n\r\n",
        "GET /b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nConnection: close\r\n\r\n",
    ];
    let via =
        |port: u16| -> Vec<Option<String>> { requests.iter().map(|r| server(port, r)).collect() };
    let (h, c) = (via(hp), via(cp));
    assert_eq!(
        c,
        h,
        "haproxy log:\n{}\ncorelb log:\n{}",
        haproxy.log(),
        corelb.log()
    );
    let want = ["web-b", "web-b", "web-a", "web-a", "web-b"].map(|s| Some(s.to_string()));
    assert_eq!(c, want);
}

/// `http-request reject` and `http-response silent-drop`: no answer through either proxy;
/// corelb closes with a reset, the response's drop after the server answered.
#[test]
fn reject_and_response_silent_drop_match_haproxy() {
    let a = Serve::start("web-a", &[]);
    let cfg = |port: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request reject if {{ path /reject }}
    http-request set-var(txn.drop) bool(1) if {{ path /rdrop }}
    http-response silent-drop if {{ var(txn.drop) -m bool }}
    default_backend be
backend be
    server a 127.0.0.1:{}
",
            a.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(_haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let _lb = Corelb::start(&cfg(cp), &[], &[cp]);
    let req = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for path in ["/", "/reject", "/rdrop"] {
        let (h, c) = (outcome(hp, &req(path)), outcome(cp, &req(path)));
        assert_eq!(h, c, "{path}: haproxy {h:?}, corelb {c:?}");
        assert_eq!(c.0, if path == "/" { 200 } else { 0 }, "{path}");
    }
    use std::io::{Read, Write};
    for path in ["/reject", "/rdrop"] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", cp)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req(path).as_bytes()).unwrap();
        let r = s.read(&mut [0u8; 64]);
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset),
            "{path}"
        );
    }
}
