//! `tcp-request connection|session|content` rules and content inspection: SSL passthrough
//! routed by SNI, early rejects, `inspect-delay`, and what a malformed ClientHello does.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A backend that echoes what it receives, prefixed once with `tag: `.
fn echo(tag: &'static str) -> Backend {
    Backend::start(move |mut s| {
        let _ = s.write_all(format!("{tag}: ").as_bytes());
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Sends `chunks` (pausing between them), half-closes, and returns all that came back
/// (empty if the proxy closed or reset the connection).
fn exchange(port: u16, chunks: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        if s.write_all(c).is_err() {
            break;
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const DEFAULTS: &str = TCP_DEFAULTS;

#[test]
fn sni_routes_tls_through_one_port_to_two_backends_without_terminating_it() {
    let tls = TlsNames::start(&["a.example", "b.example", "c.example"]);
    let port = free_port();
    let cfg = sni_config(
        port,
        tls.port("a.example"),
        tls.port("b.example"),
        tls.port("c.example"),
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    for name in ["a.example", "b.example"] {
        // The client trusts only that backend's self-signed certificate: verify result 0
        // means it saw that certificate, through a proxy that has none.
        let (out, err) = curl_tls(tls.cert(name), name, port, "/", &[]);
        assert_eq!(out, format!("{name}\n200 0"), "{name}: {err}");
        let (out, _) = curl_tls(tls.cert(name), name, port, "/", &["-H", "X-Upper: 1"]);
        assert_eq!(out, format!("{name}\n200 0"));
    }
    // The same name the other way round: the other backend's certificate does not verify.
    let (out, _) = curl_tls(tls.cert("a.example"), "b.example", port, "/", &[]);
    assert!(!out.ends_with("200 0"), "{out}");
    // No SNI (an address in the URL): the default backend.
    let out = Command::new("curl")
        .args(["-sS", "-k", "--max-time", "10"])
        .arg(format!("https://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "c.example");
    // An unknown name: the default backend too.
    let (out, _) = curl_tls(tls.cert("c.example"), "z.example", port, "/", &["-k"]);
    assert!(out.starts_with("c.example\n200 "), "{out}");
}

#[test]
fn connection_rules_reject_by_source_before_reading() {
    let srv = echo("srv");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  tcp-request connection reject if {{ src 127.0.0.2 }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{}\n",
        srv.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let mut s = connect_from("127.0.0.2", ("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"hello");
    let mut buf = [0u8; 64];
    // HAProxy resets a connection its connection rules reject.
    let r = s.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
            || matches!(r, Ok(0)),
        "{r:?}"
    );
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(exchange(port, &[b"hello"]), "srv: hello");
}

#[test]
fn content_rules_reject_on_payload_and_length_and_keep_the_bytes_of_the_accepted() {
    let srv = echo("srv");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 5s\n  tcp-request content reject if {{ req.payload(0,4) -m bin 51554954 }}\n  tcp-request content reject if {{ req.len ge 64 }}\n  tcp-request content accept if {{ req.payload(0,5) -m bin 48454c4c4f }}\n  tcp-request content reject if {{ req.payload_lv(0,1) -m str nope }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{}\n",
        srv.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    // "QUIT" (the first rule).
    assert_eq!(exchange(port, &[b"QUIT now"]), "");
    // 100 bytes that are not HELLO (the length rule).
    assert_eq!(exchange(port, &[&[b'x'; 100]]), "");
    // A length-prefixed "nope".
    assert_eq!(exchange(port, &[b"\x04nope"]), "");
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 0);
    // HELLO in three pieces: the rules wait for the five bytes, then everything reaches the
    // server in order, and what follows too.
    assert_eq!(
        exchange(port, &[b"HE", b"LLO wor", b"ld"]),
        "srv: HELLO world"
    );
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn inspect_delay_ends_with_a_definitive_evaluation_for_a_silent_client() {
    // A server that speaks first (SMTP-like).
    let smtp = Backend::start(|mut s| {
        let _ = s.write_all(b"220 ready\r\n");
    });
    let port = free_port();
    let pass = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend talk_first\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 300ms\n  tcp-request content accept if {{ req.len gt 0 }}\n  tcp-request content reject if WAIT_END\n  default_backend b\nfrontend smtp\n  bind 127.0.0.1:{pass}\n  tcp-request inspect-delay 300ms\n  tcp-request content reject if {{ req.len gt 0 }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{}\n",
        smtp.port
    );
    let lb = Corelb::start(&cfg, &[], &[port, pass]);
    // Silent on a port that wants the client to speak: closed once the delay is over.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    assert!(s.read_to_end(&mut out).is_ok());
    assert!(out.is_empty());
    assert_eq!(smtp.accepted.load(Ordering::SeqCst), 0);
    // Silent on the port that wants the server to speak first: let through at the end of
    // the delay (no rule decided), so the greeting arrives.
    let s = TcpStream::connect(("127.0.0.1", pass)).unwrap();
    assert_eq!(
        read_line_within(&s, Duration::from_secs(10)),
        "220 ready\r\n"
    );
    // Talking first there is refused.
    assert_eq!(exchange(pass, &[b"EHLO x\r\n"]), "");
    assert_eq!(smtp.accepted.load(Ordering::SeqCst), 1);
    drop(lb);
}

/// A ClientHello record whose session id claims 33 bytes (HAProxy's parser gives up on it).
fn malformed_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(33);
    body.extend_from_slice(&[0u8; 40]);
    let mut hs = vec![1, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn malformed_or_missing_client_hello_goes_to_the_default_backend() {
    let a = echo("a");
    let fallback = echo("default");
    let port = free_port();
    let cfg = sni_config(port, a.port, a.port, fallback.port);
    let _lb = Corelb::start(&cfg, &[], &[port]);
    // Hello type 1, so the accept rule passes at once; no SNI can be read from it.
    let hello = malformed_hello();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&hello).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let mut want = b"default: ".to_vec();
    want.extend_from_slice(&hello);
    assert_eq!(out, want);
    // Not TLS at all: no rule accepts, the client closes, the last evaluation lets it
    // through to the default backend with its bytes.
    assert_eq!(
        exchange(port, &[b"GET / HTTP/1.0\r\n\r\n"]),
        "default: GET / HTTP/1.0\r\n\r\n"
    );
    assert_eq!(a.accepted.load(Ordering::SeqCst), 0);
}

#[test]
fn check_mode_reports_tcp_request_errors_with_their_lines() {
    let dir = TempDir::new("tcpreq-check");
    let path = dir.write(
        "bad.cfg",
        &format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:1\n  tcp-request session expect-proxy layer4\n  tcp-request content bogus\n  tcp-request connection reject if {{ req.ssl_sni -i a }}\n  default_backend b\nbackend b\n  tcp-request connection accept\n  server s 127.0.0.1:2\n\
frontend g\n  bind 127.0.0.1:3\n  tcp-request connection set-mark\n  tcp-request session set-tos 0x1z\n  tcp-request content set-log-level loud\n  tcp-request session set-log-level err\n  tcp-request content set-nice\n  tcp-request content set-priority-class\n  tcp-request connection set-priority-offset int(1)\n  default_backend b\n"
        ),
    );
    let (code, out, err) = check_config(&path);
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    assert!(all.contains("bad.cfg:8: 'expect-proxy layer4' is not allowed in 'tcp-request session' rules in frontend 'f'"), "{all}");
    assert!(all.contains("bad.cfg:9: 'tcp-request content' expects 'accept', 'reject', 'silent-drop', 'track-sc0' ... 'track-sc2', 'sc-inc-gpc(...)', 'sc-inc-gpc0(...)', 'sc-inc-gpc1(...)', 'sc-set-gpt(...)', 'sc-set-gpt0(...)', 'set-src', 'set-dst' (and their '-port'), 'set-var(...)' or 'unset-var(...)' in frontend 'f' (got 'bogus')"), "{all}");
    assert!(all.contains("bad.cfg:10: warning: anonymous acl will never match in 'tcp-request connection' because it uses keyword 'req.ssl_sni'"), "{all}");
    assert!(
        all.contains(
            "bad.cfg:13: tcp-request connection is not allowed because backend b is not a frontend"
        ),
        "{all}"
    );
    // HAProxy 2.6's words for set-mark, set-tos, set-log-level, set-nice and priorities.
    for want in [
        "bad.cfg:17: expects exactly 1 argument (integer/hex value)",
        "bad.cfg:18: invalid character starting at 'z' (integer/hex value expected)",
        "bad.cfg:19: expects exactly 1 argument (log level name or 'silent')",
        "bad.cfg:20: 'tcp-request session' expects",
        "bad.cfg:21: expects exactly 1 argument (integer value)",
        "bad.cfg:22: missing fetch method",
        "bad.cfg:23: 'tcp-request connection' expects",
    ] {
        assert!(all.contains(want), "missing {want:?} in {all}");
    }
}

#[test]
fn conditional_use_backend_in_mode_tcp_is_evaluated() {
    let a = echo("a");
    let b = echo("b");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  use_backend be_a if {{ src 127.0.0.9 }}\n  default_backend be_b\nbackend be_a\n  server a 127.0.0.1:{}\nbackend be_b\n  server b 127.0.0.1:{}\n",
        a.port, b.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    assert_eq!(exchange(port, &[b"x"]), "b: x");
    let mut s = connect_from("127.0.0.9", ("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"y").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "a: y");
}

#[test]
fn held_bytes_follow_the_proxy_header_of_send_proxy() {
    let srv = echo("srv");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 5s\n  tcp-request content accept if {{ req.payload(0,5) -m str HELLO }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{} send-proxy\n",
        srv.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let got = exchange(port, &[b"HEL", b"LO", b" world"]);
    assert!(
        got.starts_with("srv: PROXY TCP4 127.0.0.1 127.0.0.1 "),
        "{got:?}"
    );
    assert!(got.ends_with(&format!(" {port}\r\nHELLO world")), "{got:?}");
}

#[test]
fn content_rules_in_mode_http_run_on_each_request() {
    let port = free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\nfrontend f\n  bind 127.0.0.1:{port}\n  tcp-request content reject if {{ path_beg /admin }}\n  http-request return status 200 content-type text/plain string ok\n"
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let curl = |path: &str| {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", " %{http_code}"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(curl("/x"), "ok 200");
    // Closed without an answer, as HAProxy does (curl: "Empty reply from server").
    assert_eq!(curl("/admin"), " 000");
}

#[test]
fn expect_proxy_reads_a_proxy_header_from_the_clients_it_names() {
    let srv = echo("srv");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  tcp-request connection expect-proxy layer4 if {{ src 127.0.0.3 }}\n  tcp-request session reject if {{ src 192.0.2.66 }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{}\n",
        srv.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let via = |from: &str, bytes: &[u8]| {
        let mut s = connect_from(from, ("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    // The header is read and stripped for 127.0.0.3 ...
    assert_eq!(
        via(
            "127.0.0.3",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nhello"
        ),
        "srv: hello"
    );
    // ... and the session rules see the address it announced.
    assert_eq!(
        via(
            "127.0.0.3",
            b"PROXY TCP4 192.0.2.66 192.0.2.2 1000 80\r\nhello"
        ),
        ""
    );
    // Other clients' bytes are passed as they are.
    assert_eq!(via("127.0.0.1", b"PROXY x\r\n"), "srv: PROXY x\r\n");
}

/// `tcp-response inspect-delay` and `tcp-response content` in mode tcp, through HAProxy 2.6
/// and corelb: what a client that sends one line receives, and whether the connection closed.
/// The servers: one greets with `HELLO` (accepted), one with something else (rejected), one
/// speaks only after the client's line (which must reach it during the inspection), one whose
/// greeting a `close` rule answers.
#[test]
fn tcp_response_rules_match_haproxy() {
    fn greeter(banner: &'static str, echo: bool) -> Backend {
        Backend::start(move |mut s| {
            let _ = s.write_all(banner.as_bytes());
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || echo && s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
    }
    let (ok, bad, close) = (
        greeter("HELLO ok\n", true),
        greeter("EVIL\n", true),
        greeter("HELLO close\n", false),
    );
    let asks = Backend::start(|mut s| {
        let mut buf = [0u8; 4096];
        if let Ok(n) = s.read(&mut buf) {
            let mut answer = b"HELLO ".to_vec();
            answer.extend_from_slice(&buf[..n]);
            let _ = s.write_all(&answer);
        }
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let cfg = |ports: &[u16; 4]| {
        let mut c = String::from(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n",
        );
        let servers = [ok.port, bad.port, asks.port, close.port];
        for (i, (p, s)) in ports.iter().zip(servers).enumerate() {
            let rules = if i == 3 {
                "  tcp-response inspect-delay 3s\n  tcp-response content close if { res.payload(0,5) -m str HELLO }\n".to_string()
            } else {
                "  tcp-response inspect-delay 3s\n  tcp-response content accept if { res.payload(0,5) -m str HELLO }\n  tcp-response content reject if { res.len gt 0 }\n".to_string()
            };
            c += &format!("listen l{i}\n  bind 127.0.0.1:{p}\n{rules}  server s 127.0.0.1:{s}\n");
        }
        c
    };
    let hp = [free_port(), free_port(), free_port(), free_port()];
    let cp = [free_port(), free_port(), free_port(), free_port()];
    let Some(haproxy) = common::haproxy::Haproxy::start(&cfg(&hp), &hp) else {
        return;
    };
    let corelb = Corelb::start(&cfg(&cp), &[], &cp);
    let talk = |port: u16| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        s.write_all(b"ping\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        (String::from_utf8_lossy(&got).into_owned(), closed)
    };
    let mut diffs = Vec::new();
    let mut got = Vec::new();
    for i in 0..4 {
        let (h, c) = (talk(hp[i]), talk(cp[i]));
        if h != c {
            diffs.push(format!("l{i}\n  haproxy: {h:?}\n  corelb:  {c:?}"));
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
    assert_eq!(got[0], ("HELLO ok\nping\n".to_string(), false));
    assert_eq!(got[1], (String::new(), true));
    assert_eq!(got[2], ("HELLO ping\n".to_string(), false));
    // `close`: the server's connection ends, what it said still reaches the client.
    assert_eq!(got[3], ("HELLO close\n".to_string(), true));
}

/// `option nolinger`: the side's socket closes with a reset (SO_LINGER 0), the client's in a
/// frontend, the server's in a backend; HAProxy 2.6 passes the client's end to such a server
/// as a reset (and ends the session), and sends a client under it a FIN only while that client
/// has not ended itself. Each case through HAProxy and corelb: how the client and the server
/// saw their connection end, after one echoed line.
#[test]
fn option_nolinger_resets_like_haproxy() {
    use std::sync::{Arc, Mutex};
    fn end(r: std::io::Result<usize>) -> String {
        match r {
            Ok(0) => "eof".to_string(),
            Ok(_) => "data".to_string(),
            Err(e) => format!("{:?}", e.kind()),
        }
    }
    let ends: Arc<Mutex<Vec<String>>> = Arc::default();
    let e2 = ends.clone();
    let server = Backend::start(move |mut s| {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        let _ = s.write_all(&buf[..n]);
        let e = end(s.read(&mut buf));
        e2.lock().unwrap().push(e);
    });
    let run = |port: u16, half: bool| {
        let before = ends.lock().unwrap().len();
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        c.read_exact(&mut buf).unwrap();
        if half {
            c.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let client = end(c.read(&mut [0u8; 64]));
        let server = eventually(Duration::from_secs(5), || {
            ends.lock().unwrap().get(before).cloned()
        })
        .unwrap_or_default();
        (client, server)
    };
    let nl = "  option nolinger\n";
    // Name, defaults' extra line, frontend's, backend's, timeout client, half-close, and
    // what HAProxy 2.6 does (client's end, server's end).
    let cases = [
        (
            "both, client half-closes",
            "",
            nl,
            nl,
            "5s",
            true,
            ("ConnectionReset", "ConnectionReset"),
        ),
        (
            "none, client half-closes",
            "",
            "",
            "",
            "5s",
            true,
            ("eof", "eof"),
        ),
        (
            "frontend, client half-closes",
            "",
            nl,
            "",
            "5s",
            true,
            ("ConnectionReset", "eof"),
        ),
        (
            "frontend, client timeout",
            "",
            nl,
            "",
            "300ms",
            false,
            ("eof", "eof"),
        ),
        (
            "backend, client timeout",
            "",
            "",
            nl,
            "300ms",
            false,
            ("eof", "ConnectionReset"),
        ),
        (
            "defaults, no option in frontend",
            nl,
            "  no option nolinger\n",
            "",
            "300ms",
            false,
            ("eof", "ConnectionReset"),
        ),
    ];
    for (name, def, fe, be, tc, half, want) in cases {
        let cfg = |port: u16| {
            format!(
                "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client {tc}\n  timeout server 5s\n{def}\
                 frontend f\n  bind 127.0.0.1:{port}\n{fe}  default_backend b\n\
                 backend b\n{be}  server s 127.0.0.1:{}\n",
                server.port
            )
        };
        let (hp, cp) = (free_port(), free_port());
        let Some(haproxy) = common::haproxy::Haproxy::start(&cfg(hp), &[hp]) else {
            return;
        };
        let h = run(hp, half);
        drop(haproxy);
        let lb = Corelb::start(&cfg(cp), &[], &[cp]);
        let c = run(cp, half);
        drop(lb);
        assert_eq!(h, c, "{name}: haproxy {h:?}, corelb {c:?}");
        let want = (want.0.to_string(), want.1.to_string());
        assert_eq!(c, want, "{name}");
    }
}

/// `option nolinger` in mode http: the client is still sent a FIN before the close's reset
/// (after a `Connection: close` answer, an error page, an idle keep-alive), as HAProxy does.
#[test]
fn option_nolinger_http_client_gets_fin_first_like_haproxy() {
    let server = Backend::start(|mut s| {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        let _ = s.read(&mut buf);
    });
    // What the client read (its length) and how the connection ended.
    let run = |port: u16, path: &str, close: bool| {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = if close { "connection: close\r\n" } else { "" };
        write!(c, "GET {path} HTTP/1.1\r\nhost: a\r\n{conn}\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            match c.read(&mut buf) {
                Ok(0) => break "eof".to_string(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break format!("{:?}", e.kind()),
            }
        };
        (
            String::from_utf8_lossy(&got)
                .lines()
                .next()
                .map(str::to_string),
            end,
        )
    };
    let cfg = |port: u16| {
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  timeout http-keep-alive 300ms\n\
             frontend f\n  bind 127.0.0.1:{port}\n  option nolinger\n  http-request deny deny_status 404 if {{ path /deny }}\n  default_backend b\n\
             backend b\n  server s 127.0.0.1:{}\n",
            server.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(_haproxy) = common::haproxy::Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let _lb = Corelb::start(&cfg(cp), &[], &[cp]);
    for (path, close) in [("/", true), ("/", false), ("/deny", true)] {
        let (h, c) = (run(hp, path, close), run(cp, path, close));
        assert_eq!(h, c, "{path} close={close}: haproxy {h:?}, corelb {c:?}");
        assert_eq!(c.1, "eof", "{path} close={close}");
    }
}

/// `tcp-request connection|session|content set-src/set-dst` (and `-port`) as HAProxy 2.6
/// runs them: in mode tcp the PROXY header to a server at 0.0.0.0:0 and the log carry what
/// the rules set, connection-level rules change `fc_src` too; in mode http the session's
/// and each request's addresses reach `src`/`dst` and the PROXY header. The same exchanges
/// through Debian's HAProxy and corelb must agree.
#[test]
fn tcp_request_set_src_and_set_dst_as_haproxy_does() {
    let srv = echo("srv");
    // An HTTP server answering with the PROXY header it got and the request line.
    let web = Backend::start(|s| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            match std::io::BufRead::read_line(&mut r, &mut l) {
                Ok(0) | Err(_) => return,
                Ok(_) if l == "\r\n" => break,
                Ok(_) => lines.push(l.trim_end().to_string()),
            }
        }
        let body = lines.into_iter().take(2).collect::<Vec<_>>().join(" | ");
        let mut s = s;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let (tcp, http) = (free_port(), free_port());
    let cfg = format!(
        "global\n  log stderr format raw local0\n\
defaults\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  log global\n\
frontend ft\n  mode tcp\n  bind 127.0.0.1:{tcp}\n\
  log-format \"ADDR %ci %fi:%fp %[fc_src] %[src]\"\n\
  tcp-request connection set-src ipv4(10.0.0.1)\n\
  tcp-request inspect-delay 2s\n\
  tcp-request content set-dst ipv4(127.0.0.1)\n\
  tcp-request content set-dst-port int({srv})\n\
  tcp-request content accept if {{ req.len gt 0 }}\n\
  default_backend bt\n\
backend bt\n  mode tcp\n  server s 0.0.0.0:0 send-proxy\n\
frontend fh\n  mode http\n  bind 127.0.0.1:{http}\n\
  log-format \"ADDR %ci %fi:%fp %[src]\"\n\
  tcp-request session set-src ipv4(10.2.0.1)\n\
  tcp-request content set-src-port int(4444)\n\
  tcp-request content set-dst ipv4(127.0.0.1)\n\
  http-request set-dst-port int({web})\n\
  http-request return status 200 content-type text/plain lf-string \"%[src]:%[src_port] %[dst]:%[dst_port]\" if {{ path /echo }}\n\
  default_backend bh\n\
backend bh\n  mode http\n  server s 0.0.0.0:0 send-proxy\n",
        srv = srv.port,
        web = web.port
    );
    let run = |log: &dyn Fn() -> String| {
        let mut seen = vec![exchange(tcp, &[b"hello"])];
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{http}/echo"))
            .output()
            .expect("curl");
        seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
        // What the server saw: the PROXY header and the request line.
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{http}/x"))
            .output()
            .expect("curl");
        seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
        let lines = eventually(Duration::from_secs(5), || {
            let l: Vec<String> = log()
                .lines()
                .filter_map(|l| l.find("ADDR ").map(|i| l[i..].to_string()))
                .collect();
            (l.len() >= 2).then_some(l)
        })
        .unwrap_or_default();
        seen.extend(lines.into_iter().take(2));
        seen
    };
    let lb = Corelb::start(&cfg, &[], &[tcp, http]);
    let ours = run(&|| lb.log());
    drop(lb);
    let p = srv.port;
    assert!(
        ours[0].starts_with("srv: PROXY TCP4 10.0.0.1 127.0.0.1 "),
        "{ours:#?}"
    );
    assert!(ours[0].ends_with(&format!(" {p}\r\nhello")), "{ours:#?}");
    let w = web.port;
    assert_eq!(ours[1], format!("10.2.0.1:4444 127.0.0.1:{w}"), "{ours:#?}");
    assert_eq!(
        ours[2],
        format!("PROXY TCP4 10.2.0.1 127.0.0.1 4444 {w} | GET /x HTTP/1.1"),
        "{ours:#?}"
    );
    assert_eq!(ours.len(), 5, "{ours:#?}");
    assert_eq!(
        ours[3],
        format!("ADDR 10.0.0.1 127.0.0.1:{p} 10.0.0.1 10.0.0.1"),
        "{ours:#?}"
    );
    if let Some(ha) = Haproxy::start(&cfg, &[tcp, http]) {
        let theirs = run(&|| ha.log());
        // (The client's own port differs from run to run in the first line.)
        let mask = |v: &[String]| {
            let mut v = v.to_vec();
            v[0] = v[0]
                .split(' ')
                .enumerate()
                .map(|(i, w)| if i == 5 { "P" } else { w })
                .collect::<Vec<_>>()
                .join(" ");
            v
        };
        assert_eq!(mask(&theirs), mask(&ours), "HAProxy 2.6 against corelb");
    }
}

/// `tcp-request content capture EXPR len N` as HAProxy 2.6 runs it: each rule takes the
/// next request capture slot, after `declare capture` and `capture request header` ones
/// read before it; the value, cut to its length, shows in `%hr` and `capture.req.hdr(N)`.
/// In mode tcp the SNI of a passed-through ClientHello (the common use), nothing for bytes
/// that are no ClientHello; in mode http next to the header and `http-request capture`
/// slots. The same exchanges through Debian's HAProxy and corelb must log the same lines.
#[test]
fn tcp_request_content_capture_logs_as_haproxy_does() {
    // A server that reads until the client is done and closes.
    let sink = Backend::start(|mut s| {
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let web = Backend::start(|s| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        loop {
            let mut l = String::new();
            match std::io::BufRead::read_line(&mut r, &mut l) {
                Ok(0) | Err(_) => return,
                Ok(_) if l == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let mut s = s;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
    let (tcp, http) = (free_port(), free_port());
    let cfg = format!(
        "global\n  log stderr format raw local0\n\
defaults\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  log global\n\
frontend ft\n  mode tcp\n  bind 127.0.0.1:{tcp}\n\
  log-format \"CAPT %hr [%[capture.req.hdr(0)]] [%[capture.req.hdr(2)]]\"\n\
  tcp-request inspect-delay 2s\n\
  tcp-request content capture req.ssl_sni len 100\n\
  tcp-request content capture str(abcdef) len 3 if {{ req.ssl_hello_type 1 }}\n\
  tcp-request content capture req.ssl_sni len 4\n\
  tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
  default_backend bt\n\
backend bt\n  mode tcp\n  server s 127.0.0.1:{sink}\n\
frontend fh\n  mode http\n  bind 127.0.0.1:{http}\n\
  log-format \"CAPH %hr [%[capture.req.hdr(2)]]\"\n\
  declare capture request len 10\n\
  capture request header host len 4\n\
  tcp-request content capture str(hello-world) len 5\n\
  tcp-request content capture int(12345) len 3 if {{ path /three }}\n\
  http-request capture req.hdr(x-a) len 20\n\
  http-request capture path id 0\n\
  default_backend bh\n\
backend bh\n  mode http\n  server s 127.0.0.1:{web}\n",
        sink = sink.port,
        web = web.port
    );
    let run = |log: &dyn Fn() -> String| {
        // A ClientHello naming a.example.com (the handshake fails: the server speaks no TLS).
        let _ = Command::new("openssl")
            .args(["s_client", "-servername", "a.example.com", "-connect"])
            .arg(format!("127.0.0.1:{tcp}"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl");
        let _ = exchange(tcp, &[b"hello"]);
        for (path, xa) in [("/one", "x-a: first"), ("/three", "x-b: none")] {
            let out = Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "10",
                    "-H",
                    xa,
                    "-H",
                    "host: www.example",
                ])
                .arg(format!("http://127.0.0.1:{http}{path}"))
                .output()
                .expect("curl");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
        }
        eventually(Duration::from_secs(8), || {
            let l: Vec<String> = log()
                .lines()
                .filter_map(|l| l.find("CAP").map(|i| l[i..].to_string()))
                .collect();
            (l.len() >= 4).then_some(l)
        })
        .unwrap_or_default()
    };
    let lb = Corelb::start(&cfg, &[], &[tcp, http]);
    let ours = run(&|| lb.log());
    drop(lb);
    assert_eq!(
        ours,
        [
            "CAPT {a.example.com|abc|a.ex} [a.example.com] [a.ex]",
            "CAPT {||} [-] [-]",
            "CAPH {/one|www.|hello||first} [hello]",
            "CAPH {/three|www.|hello|123|} [hello]",
        ],
        "{ours:#?}"
    );
    if let Some(ha) = Haproxy::start(&cfg, &[tcp, http]) {
        let theirs = run(&|| ha.log());
        assert_eq!(theirs, ours, "HAProxy 2.6 against corelb");
    }
}

/// Where tcp rules run decides what their fetches may read, as in HAProxy 2.6 (its table of
/// `SMP_USE_*` by check point, the one the HTTP rules use): a sample expression on the
/// wrong side is refused, a condition gets the "will never match" warning; each message
/// as Debian's HAProxy gives it.
#[test]
fn tcp_rule_fetches_on_the_wrong_side_as_haproxy() {
    let fe = |line: &str| {
        format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:1\n  {line}\n  default_backend b\nbackend b\n  stick-table type string size 1\n  server s 127.0.0.1:2\n"
        )
    };
    let cases = [
        (
            fe("tcp-request content set-var(txn.x) status"),
            "fetch method 'set-var(txn.x)' extracts information from 'HTTP response', none of which is available here",
        ),
        (
            fe("tcp-request connection set-var(sess.x) req.len"),
            "fetch method 'set-var(sess.x)' extracts information from 'request buffer', none of which is available here",
        ),
        (
            fe("tcp-request content set-var(txn.x) be_name"),
            "fetch method 'set-var(txn.x)' extracts information from 'backend', none of which is available here",
        ),
        (
            fe("tcp-request content track-sc0 res.hdr(x) table b"),
            "'tcp-request content track-sc0' : fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here",
        ),
        (
            fe("tcp-request connection track-sc0 ssl_fc_sni table b"),
            "'tcp-request connection track-sc0' : fetch method 'ssl_fc_sni' extracts information from 'client-side connection', none of which is available here",
        ),
        (
            fe("tcp-request content set-src res.hdr(x)"),
            "fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here",
        ),
        (
            fe("tcp-request content capture res.hdr(x) len 3"),
            "'tcp-request content capture' : fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here",
        ),
        (
            fe("tcp-request content reject if { status 200 }"),
            "anonymous acl will never match in 'tcp-request content' because it uses keyword 'status' which is incompatible with 'frontend tcp-request content rule'",
        ),
        (
            format!(
                "{DEFAULTS}frontend fe\n  bind 127.0.0.1:1\n  default_backend b\nbackend b\n  tcp-response content reject if {{ path /a }}\n  server s 127.0.0.1:2\n"
            ),
            "anonymous acl will never match in 'tcp-response content' because it uses keyword 'path' which is incompatible with 'backend tcp-response content rule'",
        ),
    ];
    let dir = TempDir::new("tcpplace");
    for (cfg, want) in &cases {
        let path = dir.write("c.cfg", cfg);
        let (ok, ours) = check_messages(corelb_bin(), &path).unwrap();
        // The rule's line: the one after the bind in a frontend, else the backend's.
        let n = 1 + cfg.lines().position(|l| l.contains("tcp-re")).unwrap();
        assert_eq!(ours, [format!("{n}: {want}")], "{cfg}");
        assert_eq!(ok, want.contains("will never match"), "{cfg}");
        if let Some(theirs) = check_messages("haproxy", &path) {
            assert_eq!(theirs, (ok, ours), "{cfg}");
        }
    }
}
