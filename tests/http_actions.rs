//! `http-request set-timeout`, `replace-value`, `normalize-uri`, `strict-mode`,
//! `early-hint` and `wait-for-handshake`, run the same through Debian's HAProxy 2.6 and
//! corelb: the statuses and headers clients got, and what the server saw.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// The status of `raw` (0 when there is no answer).
fn status(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A backend that switches protocols on every request, then holds the tunnel until the
/// proxy closes it.
fn upgrading_backend() -> Backend {
    Backend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        if read_request_head(&mut r).is_none() {
            return;
        }
        let mut w = s;
        let _ = w.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        );
        let mut b = [0u8; 64];
        while let Ok(n) = r.read(&mut b) {
            if n == 0 {
                break;
            }
        }
        let _ = w.shutdown(Shutdown::Both);
    })
}

/// How long an idle tunnel through `port` (upgraded on `path`) lives, up to `max`.
fn tunnel_life(port: u16, path: &str, max: Duration) -> Duration {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains(" 101 "), "{path}: {line}");
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let t0 = Instant::now();
    s.set_read_timeout(Some(max)).unwrap();
    let _ = r.read(&mut [0u8; 16]);
    t0.elapsed()
}

fn timeout_config(port: u16, web: u16, ws: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout tunnel 5s
frontend fe
    bind 127.0.0.1:{port}
    use_backend bws if {{ path_beg /ws/ }}
    default_backend bweb
backend bweb
    http-request set-timeout server 300ms if {{ path_beg /echo/short }}
    http-request set-timeout server int(250) if {{ path_beg /echo/expr }}
    http-request set-timeout server str(nope) if {{ path_beg /echo/noint }}
    server web 127.0.0.1:{web}
backend bws
    http-request set-timeout tunnel 300ms if {{ path_beg /ws/short }}
    server ws 127.0.0.1:{ws}
"
    )
}

#[test]
fn set_timeout_matches_haproxy() {
    let web = Serve::start("web", &[]);
    let ws = upgrading_backend();
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&timeout_config(hp, web.port, ws.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&timeout_config(cp, web.port, ws.port), &[], &[cp]);
    let requests = [
        ("/echo/short?delay=1s", 504),
        ("/echo/expr?delay=1s", 504),
        ("/echo/noint?delay=600ms", 200),
        ("/echo/long?delay=600ms", 200),
    ];
    let mut diffs = Vec::new();
    for (path, want) in requests {
        let req = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let h = status(&raw_exchange(hp, req.as_bytes()));
        let c = status(&raw_exchange(cp, req.as_bytes()));
        if (h, c) != (want, want) {
            diffs.push(format!("{path}: haproxy {h}, corelb {c}, expected {want}"));
        }
    }
    // The tunnel timeout: an idle upgraded connection closes after 300ms with the rule, and
    // is still open after 1.5s (of the section's 5s) without.
    for port in [hp, cp] {
        let short = tunnel_life(port, "/ws/short", Duration::from_secs(3));
        let long = tunnel_life(port, "/ws/long", Duration::from_millis(1500));
        if short > Duration::from_millis(1200) || long < Duration::from_millis(1400) {
            diffs.push(format!(
                "port {port}: tunnel short {short:?}, long {long:?}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
}

#[test]
fn set_timeout_errors_name_the_line() {
    let dir = TempDir::new("set-timeout");
    let cfg = |rule: &str, section: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
{section} fe\n  bind 127.0.0.1:1\n  http-request {rule}\n  server s 127.0.0.1:2\n"
        )
    };
    let cases = [
        (
            "set-timeout server",
            "listen",
            ":8: error detected in proxy 'fe' while parsing 'http-request set-timeout' rule : expects exactly 2 arguments.",
        ),
        (
            "set-timeout client 1s",
            "listen",
            "rule supports 'server'/'tunnel' (got 'client').",
        ),
        (
            "set-timeout server 0",
            "listen",
            "null value is not valid for a 'set-timeout server' rule.",
        ),
        (
            "set-timeout server 1x",
            "listen",
            "unexpected character 'x' in rule 'set-timeout server'.",
        ),
        (
            "set-timeout server nosuch",
            "listen",
            "unexpected character 'n' in rule 'set-timeout server'.",
        ),
        (
            "set-timeout server 3000000000s",
            "listen",
            "timer overflow in argument '3000000000s'",
        ),
        (
            "set-timeout server 1s 2",
            "listen",
            "expects either 'if' or 'unless' followed by a condition but found '2'.",
        ),
    ];
    for (rule, section, needle) in cases {
        expect_check(&dir, &cfg(rule, section), 1, needle);
    }
    // A frontend has no server to time.
    let fe = "defaults\n  mode http\nfrontend fe\n  bind 127.0.0.1:1\n  http-request set-timeout server 1s\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n";
    expect_check(
        &dir,
        fe,
        1,
        ":5: error detected in frontend 'fe' while parsing 'http-request set-timeout' rule : proxy 'fe' has no backend capability.",
    );
    let be = "defaults\n  mode http\nfrontend fe\n  bind 127.0.0.1:1\n  default_backend b\nbackend b\n  http-request set-timeout tunnel int(5) if TRUE\n  server s 127.0.0.1:2\n";
    expect_check(&dir, be, 0, "");
}

/// A backend that answers every request with a field for each request field `seen` picks
/// (given the name and value), then the fields `own` (ending in CRLF) for the response rules.
fn reporting_backend(seen: fn(&str, &str) -> Option<String>, own: &'static str) -> Backend {
    Backend::start(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        while let Some(req) = read_request_head(&mut r) {
            let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
            for (k, v) in &req.headers {
                if let Some(f) = seen(k, v) {
                    head.push_str(&format!("{f}\r\n"));
                }
            }
            head.push_str(own);
            head.push_str("\r\n");
            if w.write_all(head.as_bytes()).is_err() {
                break;
            }
        }
    })
}

/// What it saw of the `X-List` fields (in `X-Seen` fields), and list-valued fields of its own.
fn listing_backend() -> Backend {
    reporting_backend(
        |k, v| {
            k.eq_ignore_ascii_case("x-list")
                .then(|| format!("X-Seen: {v}"))
        },
        "Cache-Control: no-cache, max-age=10,private\r\nCache-Control: max-age=20\r\n\
X-After: a, \"b,b\", b\r\n",
    )
}

fn replace_value_config(port: u16, web: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    http-request replace-value X-List a(.) <\\1>
    http-request replace-value X-List ^<x>$ %[str(twice)]-\\0
    http-response replace-value Cache-Control ^max-age=(.*) max-age=%[str(5)]\\1
    http-after-response replace-value X-After ^b$ [\\0]
    server web 127.0.0.1:{web}
"
    )
}

/// The status and the fields of the answer to `req` on `port` whose (lowercase) name `keep`
/// takes (name, value).
fn answer_fields(port: u16, req: &str, keep: fn(&str) -> bool) -> Vec<(String, String)> {
    let raw = raw_exchange(port, req.as_bytes());
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let mut out = vec![("status".to_string(), status(&raw).to_string())];
    for line in head.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.to_ascii_lowercase();
            if keep(&k) {
                out.push((k, v.trim().to_string()));
            }
        }
    }
    out
}

/// The fields of the answer to `req` on `port` that the rules touch (name, value).
fn listed_fields(port: u16, req: &str) -> Vec<(String, String)> {
    answer_fields(port, req, |k| {
        matches!(k, "x-seen" | "cache-control" | "x-after")
    })
}

/// Sends each request to HAProxy (port `hp`) and corelb (`cp`); `answer` reads what counts
/// of an answer. Asserts that both gave the same (as `norm` leaves it); returns corelb's.
fn agreed<T: Clone + PartialEq + std::fmt::Debug>(
    (haproxy, hp): (&Haproxy, u16),
    (corelb, cp): (&Corelb, u16),
    requests: &[&str],
    answer: impl Fn(u16, &str) -> T,
    norm: impl Fn(T) -> T,
) -> Vec<T> {
    let mut diffs = Vec::new();
    let mut got = Vec::new();
    for req in requests {
        let h = answer(hp, req);
        let c = answer(cp, req);
        let (hn, cn) = (norm(h), norm(c.clone()));
        if hn != cn {
            diffs.push(format!("{req:?}\n  haproxy: {hn:?}\n  corelb:  {cn:?}"));
        }
        got.push(c);
    }
    assert!(
        diffs.is_empty(),
        "{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
    got
}

#[test]
fn replace_value_matches_haproxy() {
    let web = listing_backend();
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&replace_value_config(hp, web.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&replace_value_config(cp, web.port), &[], &[cp]);
    let requests = [
        "GET / HTTP/1.1\r\nHost: h\r\nX-List: ax, b ,  bay  ,\"q,z\",\r\nX-List: x\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-List: none\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    ];
    let got = agreed(
        (&haproxy, hp),
        (&corelb, cp),
        &requests,
        listed_fields,
        |v| v,
    );
    // What they agreed on is the rules at work.
    let seen: Vec<&str> = (got[0].iter())
        .filter(|(k, _)| k == "x-seen")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(seen, ["twice-<x>, b ,<y>,\"q,z\",", "x"], "{got:?}");
    assert!(
        got[0].contains(&("x-after".into(), "a, \"b,b\",[b]".into())),
        "{got:?}"
    );
}

#[test]
fn replace_value_errors_name_the_line() {
    let dir = TempDir::new("replace-value");
    let cfg = |rule: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
listen fe\n  bind 127.0.0.1:1\n  {rule}\n  server s 127.0.0.1:2\n"
        )
    };
    let cases = [
        (
            "http-request replace-value X",
            ":8: error detected in proxy 'fe' while parsing 'http-request replace-value' rule : expects exactly 3 arguments.",
        ),
        (
            "http-response replace-value X ( y",
            ":8: error detected in proxy 'fe' while parsing 'http-response replace-value' rule : regex '(' is invalid",
        ),
        (
            "http-after-response replace-value X a b c",
            ":8: 'http-after-response replace-value' expects either 'if' or 'unless' followed by a condition but found 'c'.",
        ),
    ];
    for (rule, needle) in cases {
        expect_check(&dir, &cfg(rule), 1, needle);
    }
}

/// One backend per normalizer, its rule without a condition: HAProxy 2.6.12 reads
/// `normalize-uri NAME if COND` wrong for the normalizers that take an option (`path-strip-dotdot`,
/// `percent-to-uppercase`, `percent-decode-unreserved` without it run `path-merge-slashes`),
/// which corelb does not copy (see docs/http.md).
fn normalize_config(port: u16, web: u16) -> String {
    let normalizers = [
        ("fe", "fragment-encode"),
        ("fs", "fragment-strip"),
        ("ms", "path-merge-slashes"),
        ("sd", "path-strip-dot"),
        ("dd", "path-strip-dotdot"),
        ("ddf", "path-strip-dotdot full"),
        ("pd", "percent-decode-unreserved"),
        ("pds", "percent-decode-unreserved strict"),
        ("pu", "percent-to-uppercase"),
        ("pus", "percent-to-uppercase strict"),
        ("qs", "query-sort-by-name"),
    ];
    let mut cfg = format!(
        "global
    expose-experimental-directives
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
"
    );
    for (n, _) in normalizers {
        cfg.push_str(&format!("    use_backend {n} if {{ req.hdr(x-n) {n} }}\n"));
    }
    for (n, rule) in normalizers {
        cfg.push_str(&format!(
            "backend {n}\n    http-request normalize-uri {rule}\n    server web 127.0.0.1:{web}\n"
        ));
    }
    cfg
}

/// The status and the request-target the backend saw (from `/echo`'s JSON).
fn echoed(port: u16, req: &str) -> (u16, String) {
    let raw = raw_exchange(port, req.as_bytes());
    let uri = raw
        .split("\"uri\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("-")
        .to_string();
    (status(&raw), uri)
}

#[test]
fn normalize_uri_matches_haproxy() {
    let web = Serve::start("web", &[]);
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&normalize_config(hp, web.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&normalize_config(cp, web.port), &[], &[cp]);
    let cases = [
        ("ms", "//echo//a///b?x=//y", "/echo/a/b?x=//y"),
        ("sd", "/./echo/./a/.?q=./.", "/echo/a/?q=./."),
        ("dd", "/x/y/../../echo/z/..", "/echo/"),
        // Kept as `/../echo/a` (not the echo's path): only the agreement is checked.
        ("dd", "/../echo/a", "*"),
        ("dd", "/echo/b/../../echo/a", "/echo/a"),
        ("ddf", "/../../echo/a/", "/echo/a/"),
        ("pd", "/%65cho/%7e%3f?%61=%zz", "/echo/~%3f?a=%zz"),
        ("pds", "/%65cho/x?%zz", "-"),
        ("pu", "/echo/%7e%3f?%2a=%zz", "/echo/%7E%3F?%2A=%zz"),
        ("pus", "/echo/%7e%3", "-"),
        ("qs", "/echo?c=3&a=1&b&a=0&ab=2", "/echo?a=1&a=0&ab=2&b&c=3"),
        ("qs", "/echo", "/echo"),
        ("fe", "/echo/a#b", "-"),
        ("fs", "/echo/a#b?c", "-"),
        ("ms", "http://h//echo//abs?q", "*"),
    ];
    let requests: Vec<String> = (cases.iter())
        .map(|(n, target, _)| {
            format!("GET {target} HTTP/1.1\r\nHost: h\r\nX-N: {n}\r\nConnection: close\r\n\r\n")
        })
        .collect();
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let got = agreed((&haproxy, hp), (&corelb, cp), &requests, echoed, |v| v);
    // What they agreed on is the normalizers at work.
    assert_eq!(got.last().map(|(s, _)| *s), Some(200));
    for ((n, target, want), (st, uri)) in cases.iter().zip(&got) {
        if *want == "-" {
            assert_eq!(*st, 400, "{n} {target}");
        } else if *want != "*" {
            assert_eq!((*st, uri.as_str()), (200, *want), "{n} {target}");
        }
    }
}

#[test]
fn normalize_uri_errors_name_the_line() {
    let dir = TempDir::new("normalize-uri");
    let cfg = |rule: &str| {
        format!(
            "global\n  expose-experimental-directives\n\
defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
listen fe\n  bind 127.0.0.1:1\n  http-request {rule}\n  server s 127.0.0.1:2\n"
        )
    };
    // HAProxy 2.6 takes the action only after `expose-experimental-directives`.
    let plain =
        cfg("normalize-uri fragment-strip").replace("  expose-experimental-directives\n", "");
    let msg = "'normalize-uri' action is experimental, must be allowed via a global 'expose-experimental-directives'";
    expect_check(&dir, &plain, 1, &format!(":9: {msg}"));
    let path = dir.write("plain.cfg", &plain);
    if let Ok(o) = std::process::Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&path)
        .output()
    {
        let theirs = String::from_utf8_lossy(&o.stderr);
        assert!(theirs.contains(&format!(":9] : {msg}")), "{theirs}");
    }
    let cases = [
        (
            "normalize-uri",
            ":10: error detected in proxy 'fe' while parsing 'http-request normalize-uri' rule : missing argument <normalizer>",
        ),
        ("normalize-uri foo", ": unknown normalizer 'foo'"),
        (
            "normalize-uri path-strip-dotdot x",
            ": unknown argument 'x' for 'path-strip-dotdot' normalizer",
        ),
        (
            "normalize-uri percent-to-uppercase strict x",
            ":10: 'http-request normalize-uri' expects either 'if' or 'unless' followed by a condition but found 'x'.",
        ),
    ];
    for (rule, needle) in cases {
        expect_check(&dir, &cfg(rule), 1, needle);
    }
    expect_check(
        &dir,
        &cfg("normalize-uri path-strip-dotdot full if TRUE"),
        0,
        "",
    );
}

/// `wait-for-handshake` waits for a TLS handshake that corelb, accepting no early data,
/// has always finished before it reads a request: the rule lets requests through, over TLS
/// and in clear, as HAProxy's does once the handshake is done.
#[test]
fn wait_for_handshake_lets_requests_through_like_haproxy() {
    let dir = TempDir::new("wait-for-handshake");
    let pem = self_signed_pem(&dir, "site.pem", &["site.test"]);
    let web = Serve::start("web", &[]);
    let cfg = |tls: u16, clear: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{tls} ssl crt {} allow-0rtt
    bind 127.0.0.1:{clear}
    http-request wait-for-handshake
    http-request wait-for-handshake if {{ ssl_fc }}
    http-request return status 299 if {{ path /early }}
    server web 127.0.0.1:{}
",
            pem.display(),
            web.port
        )
    };
    let (ht, hc, ct, cc) = (free_port(), free_port(), free_port(), free_port());
    let Some(_haproxy) = Haproxy::start(&cfg(ht, hc), &[ht, hc]) else {
        return;
    };
    let _corelb = Corelb::start(&cfg(ct, cc), &[], &[ct, cc]);
    for (tls, clear) in [(ht, hc), (ct, cc)] {
        let (out, err) = curl_tls(&pem, "site.test", tls, "/echo", &[]);
        assert!(out.ends_with("\n200 0"), "port {tls}: {out} {err}");
        let (out, err) = curl_tls(&pem, "site.test", tls, "/early", &[]);
        assert!(out.ends_with("\n299 0"), "port {tls}: {out} {err}");
        let raw = raw_exchange(
            clear,
            b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status(&raw), 200, "port {clear}: {raw}");
    }
    let bad = "defaults\n  mode http\nlisten fe\n  bind 127.0.0.1:1\n  http-request wait-for-handshake x\n  server s 127.0.0.1:2\n";
    expect_check(
        &dir,
        bad,
        1,
        ":5: 'http-request wait-for-handshake' expects either 'if' or 'unless' followed by a condition but found 'x'.",
    );
}

fn strict_config(port: u16, web: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    http-request strict-mode off if {{ path_beg /echo/off }} || {{ path_beg /echo/reon }}
    http-request strict-mode on if {{ path_beg /echo/reon }}
    http-request set-header X %[req.hdr(b)]%[req.hdr(b)]%[req.hdr(b)]
    http-request set-header Y after
    http-response strict-mode off
    http-response set-header Z resp
    server web 127.0.0.1:{web}
"
    )
}

/// The status, and whether the server saw `x` (its length) and `y`, and the answer's `z`.
fn strict_outcome(port: u16, path: &str, b: usize) -> (u16, usize, bool, bool) {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: h\r\nB: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(b)
    );
    let raw = raw_exchange(port, req.as_bytes());
    // (HAProxy sends the names in lowercase, corelb as written.)
    let lower = raw.to_ascii_lowercase();
    let x = lower
        .split("[\"x\",\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map_or(0, str::len);
    (
        status(&raw),
        x,
        lower.contains("[\"y\",\"after\"]"),
        lower.contains("\r\nz: resp\r\n"),
    )
}

#[test]
fn strict_mode_matches_haproxy() {
    let web = Serve::start("web", &[]);
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&strict_config(hp, web.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&strict_config(cp, web.port), &[], &[cp]);
    // A header of 3 × 6000 bytes does not fit in the 16384 bytes of `tune.bufsize`.
    let cases = [
        ("/echo/on", 6000, (500, 0, false, false)),
        ("/echo/off", 6000, (200, 0, true, true)),
        ("/echo/reon", 6000, (500, 0, false, false)),
        ("/echo/on", 10, (200, 30, true, true)),
    ];
    let mut diffs = Vec::new();
    for (path, b, want) in cases {
        let h = strict_outcome(hp, path, b);
        let c = strict_outcome(cp, path, b);
        if h != want || c != want {
            diffs.push(format!(
                "{path} b={b}: haproxy {h:?}, corelb {c:?}, expected {want:?}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
}

#[test]
fn strict_mode_errors_name_the_line() {
    let dir = TempDir::new("strict-mode");
    let cfg = |rule: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
listen fe\n  bind 127.0.0.1:1\n  {rule}\n  server s 127.0.0.1:2\n"
        )
    };
    let cases = [
        (
            "http-request strict-mode",
            ":8: error detected in proxy 'fe' while parsing 'http-request strict-mode' rule : expects exactly 1 arguments.",
        ),
        (
            "http-response strict-mode x",
            ":8: error detected in proxy 'fe' while parsing 'http-response strict-mode' rule : Unexpected value 'x'. Only 'on' and 'off' are supported.",
        ),
        (
            "http-after-response strict-mode on x",
            ":8: 'http-after-response strict-mode' expects either 'if' or 'unless' followed by a condition but found 'x'.",
        ),
    ];
    for (rule, needle) in cases {
        expect_check(&dir, &cfg(rule), 1, needle);
    }
    expect_check(
        &dir,
        &cfg("http-after-response strict-mode off if TRUE"),
        0,
        "",
    );
}

fn early_hint_config(port: u16, web: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    http-request early-hint Link \"</style.css>; rel=preload; as=style\"
    http-request early-hint Link \"</script.js>; rel=preload; as=script\"
    http-request set-header X a
    http-request early-hint X-Path %[path] if {{ path_beg /echo/two }}
    http-request early-hint X-Second b if {{ path_beg /echo/two }}
    server web 127.0.0.1:{web}
"
    )
}

/// The answers to `req` in order: each status with its fields when it is a 103 (names in
/// lowercase).
fn hints(port: u16, req: &str) -> Vec<(u16, Vec<(String, String)>)> {
    let raw = raw_exchange(port, req.as_bytes());
    let mut out = Vec::new();
    let mut rest = raw.as_str();
    while let Some(head_end) = rest.find("\r\n\r\n") {
        let head = &rest[..head_end];
        let st = status(head);
        let mut fields = Vec::new();
        if st == 103 {
            for l in head.lines().skip(1) {
                if let Some((k, v)) = l.split_once(':') {
                    fields.push((k.to_ascii_lowercase(), v.trim().to_string()));
                }
            }
        }
        out.push((st, fields));
        if st != 103 {
            break;
        }
        rest = &rest[head_end + 4..];
    }
    out
}

/// curl over HTTP/2 (prior knowledge): the interim and final statuses and the fields of the
/// 103s, from its verbose output.
fn h2_hints(port: u16, path: &str) -> Vec<String> {
    let out = std::process::Command::new("curl")
        .args([
            "-sv",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("< "))
        .filter(|l| {
            l.starts_with("HTTP/")
                || l.to_ascii_lowercase().starts_with("link")
                || l.to_ascii_lowercase().starts_with("x-")
        })
        .map(|l| l.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn early_hint_matches_haproxy() {
    let web = Serve::start("web", &[]);
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&early_hint_config(hp, web.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&early_hint_config(cp, web.port), &[], &[cp]);
    let requests = [
        "GET /echo/one HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /echo/two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /echo/one HTTP/1.0\r\nHost: h\r\n\r\n",
    ];
    let mut diffs = Vec::new();
    let mut got = Vec::new();
    for req in requests {
        let h = hints(hp, req);
        let c = hints(cp, req);
        if h != c {
            diffs.push(format!("{req:?}\n  haproxy: {h:?}\n  corelb:  {c:?}"));
        }
        got.push(c);
    }
    for path in ["/echo/one", "/echo/two"] {
        let h = h2_hints(hp, path);
        let c = h2_hints(cp, path);
        if h != c {
            diffs.push(format!("h2 {path}\n  haproxy: {h:?}\n  corelb:  {c:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
    // What they agreed on: the two adjacent hints in one 103, then the answer.
    let link = |v: &str| ("link".to_string(), v.to_string());
    assert_eq!(
        got[0],
        [
            (
                103,
                vec![
                    link("</style.css>; rel=preload; as=style"),
                    link("</script.js>; rel=preload; as=script")
                ]
            ),
            (200, vec![])
        ]
    );
    // The conditional hints each in a 103 of their own.
    assert_eq!(got[1].len(), 4, "{:?}", got[1]);
}

#[test]
fn early_hint_errors_name_the_line() {
    let dir = TempDir::new("early-hint");
    let cfg = |rule: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
listen fe\n  bind 127.0.0.1:1\n  {rule}\n  server s 127.0.0.1:2\n"
        )
    };
    let cases = [
        (
            "http-request early-hint Link",
            ":8: error detected in proxy 'fe' while parsing 'http-request early-hint' rule : expects exactly 2 arguments.",
        ),
        (
            "http-request early-hint Link a b",
            ":8: 'http-request early-hint' expects either 'if' or 'unless' followed by a condition but found 'b'.",
        ),
        (
            "http-response early-hint Link a",
            ":8: unknown 'http-response' action 'early-hint'",
        ),
    ];
    for (rule, needle) in cases {
        expect_check(&dir, &cfg(rule), 1, needle);
    }
}

/// `wrew` (failed rewrites) as HAProxy counts them when they fail: on the frontend always,
/// on the backend once it was chosen (its own rules), under `strict-mode` on or off; in
/// the stats socket's CSV and the exporter's `*_failed_header_rewriting_total`.
#[test]
fn failed_rewrites_are_counted_as_haproxy_counts_them() {
    let web = Serve::start("web", &[]);
    let (fe, stats) = (free_port(), free_port());
    let dir = TempDir::new("wrew");
    let sock = dir.path("stats.sock");
    let x3 = "%[req.hdr(b)]%[req.hdr(b)]%[req.hdr(b)]";
    let cfg = format!(
        "global\n  stats socket {}\n\
defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n\
  http-request strict-mode off if {{ path_beg /off }}\n\
  http-request set-header X {x3} if {{ path_beg /fe }} || {{ path_beg /off }}\n\
  default_backend b\n\
backend b\n  http-request set-header X {x3} if {{ path_beg /be }}\n  server s 127.0.0.1:{}\n\
listen st\n  bind 127.0.0.1:{stats}\n  http-request use-service prometheus-exporter\n",
        sock.display(),
        web.port
    );
    let seen = || {
        let mut got = Vec::new();
        // A header of 3 × 6000 bytes does not fit in the 16384 bytes of `tune.bufsize`.
        for p in ["/fe", "/off", "/be", "/none"] {
            let req = format!(
                "GET {p} HTTP/1.1\r\nHost: h\r\nB: {}\r\nConnection: close\r\n\r\n",
                "b".repeat(6000)
            );
            got.push(format!("{p} {}", status(&raw_exchange(fe, req.as_bytes()))));
        }
        wait_unix_socket(&sock);
        let csv = eventually(Duration::from_secs(5), || {
            let csv = stats_cmd(&sock, "show stat");
            (csv_field(&csv, "FRONTEND", "req_tot") == "4").then_some(csv)
        })
        .unwrap_or_default();
        for sv in ["FRONTEND", "BACKEND", "s"] {
            got.push(format!("{sv} wrew={}", csv_field(&csv, sv, "wrew")));
        }
        let metrics = raw_exchange(
            stats,
            b"GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        got.extend(
            metrics
                .lines()
                .filter(|l| l.contains("failed_header_rewriting_total{") && !l.contains("\"st\""))
                .map(String::from),
        );
        got
    };
    let lb = Corelb::start(&cfg, &[], &[fe, stats]);
    let ours = seen();
    drop(lb);
    let _ = std::fs::remove_file(&sock);
    assert_eq!(
        ours[..7],
        [
            "/fe 500",
            "/off 200",
            "/be 500",
            "/none 200",
            "FRONTEND wrew=3",
            "BACKEND wrew=1",
            "s wrew=0"
        ],
        "{ours:#?}"
    );
    assert!(
        ours.contains(&"haproxy_frontend_failed_header_rewriting_total{proxy=\"fe\"} 3".into()),
        "{ours:#?}"
    );
    if let Some(_h) = Haproxy::start(&cfg, &[fe, stats]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// `eint` (internal errors) as HAProxy 2.6 counts them (`return_int_err` in http_ana.c): a
/// rewrite failing under `strict-mode on` answers 500 and counts on the frontend and its
/// listener, on the backend once chosen (its own request rules), on the server too in the
/// response rules and in `http-after-response` on a server's answer; on the answer of a
/// `return` or `redirect` rule failing `http-after-response` (not a deny's); not under
/// `strict-mode off`. In the
/// stats socket's CSV (listener row of `option socket-stats` included) and the exporter's
/// `*_internal_errors_total`.
#[test]
fn internal_errors_are_counted_as_haproxy_counts_them() {
    let web = Serve::start("web", &[]);
    let (fe, stats) = (free_port(), free_port());
    let dir = TempDir::new("eint");
    let sock = dir.path("stats.sock");
    let x3 = "%[var(txn.b)]%[var(txn.b)]%[var(txn.b)]";
    let cfg = format!(
        "global\n  stats socket {}\n\
defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe} name l1\n  option socket-stats\n\
  http-request set-var(txn.b) req.hdr(b)\n\
  http-request set-var(txn.aft) int(1) if {{ path_beg /after }} || {{ path_beg /own }} || {{ path_beg /redir }} || {{ path_beg /deny }} || {{ path_beg /beown }}\n\
  http-request set-var(txn.resp) int(1) if {{ path_beg /resp }}\n\
  http-request strict-mode off if {{ path_beg /off }}\n\
  http-request set-header X {x3} if {{ path_beg /fe }} || {{ path_beg /off }}\n\
  http-request return status 200 content-type text/plain string hi if {{ path_beg /own }}\n\
  http-request redirect location /x if {{ path_beg /redir }}\n\
  http-request deny if {{ path_beg /deny }}\n\
  http-after-response set-header X {x3} if {{ var(txn.aft) -m found }}\n\
  default_backend b\n\
backend b\n  http-request set-header X {x3} if {{ path_beg /be }}\n\
  http-request return status 200 if {{ path_beg /beown }}\n\
  http-response set-header X {x3} if {{ var(txn.resp) -m found }}\n\
  server s 127.0.0.1:{}\n\
listen st\n  bind 127.0.0.1:{stats}\n  http-request use-service prometheus-exporter\n",
        sock.display(),
        web.port
    );
    let paths = [
        "/fe", "/off", "/be", "/resp", "/after", "/own", "/redir", "/deny", "/beown", "/none",
    ];
    let seen = || {
        let mut got = Vec::new();
        // 3 × 6000 bytes do not fit in the 16384 bytes of `tune.bufsize`.
        for p in paths {
            let req = format!(
                "GET {p} HTTP/1.1\r\nHost: h\r\nB: {}\r\nConnection: close\r\n\r\n",
                "b".repeat(6000)
            );
            got.push(format!("{p} {}", status(&raw_exchange(fe, req.as_bytes()))));
        }
        wait_unix_socket(&sock);
        let csv = eventually(Duration::from_secs(5), || {
            let csv = stats_cmd(&sock, "show stat");
            (csv_field(&csv, "FRONTEND", "req_tot") == paths.len().to_string()).then_some(csv)
        })
        .unwrap_or_default();
        for sv in ["FRONTEND", "l1", "BACKEND", "s"] {
            got.push(format!("{sv} eint={}", csv_field(&csv, sv, "eint")));
        }
        let metrics = raw_exchange(
            stats,
            b"GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        got.extend(
            metrics
                .lines()
                .filter(|l| l.contains("_internal_errors_total{") && !l.contains("\"st\""))
                .map(String::from),
        );
        got
    };
    let lb = Corelb::start(&cfg, &[], &[fe, stats]);
    let ours = seen();
    drop(lb);
    let _ = std::fs::remove_file(&sock);
    assert_eq!(
        ours[..14],
        [
            "/fe 500",
            "/off 200",
            "/be 500",
            "/resp 500",
            "/after 500",
            "/own 500",
            "/redir 500",
            "/deny 500",
            "/beown 500",
            "/none 200",
            "FRONTEND eint=7",
            "l1 eint=7",
            "BACKEND eint=4",
            "s eint=2"
        ],
        "{ours:#?}"
    );
    for l in [
        "haproxy_frontend_internal_errors_total{proxy=\"fe\"} 7",
        "haproxy_backend_internal_errors_total{proxy=\"b\"} 4",
        "haproxy_server_internal_errors_total{proxy=\"b\",server=\"s\"} 2",
    ] {
        assert!(ours.contains(&l.into()), "{l} in {ours:#?}");
    }
    if let Some(_h) = Haproxy::start(&cfg, &[fe, stats]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// A backend that names each request field it received (`X-Seen: name`, in order), and
/// answers with fields of its own for the response rules.
fn naming_backend() -> Backend {
    reporting_backend(
        |k, _| Some(format!("X-Seen: {}", k.to_ascii_lowercase())),
        "X-Res-A: 1\r\nX-Res-B: 2\r\nY-Res: 3\r\nKeep-Res: 4\r\nKept: 5\r\n",
    )
}

fn del_header_config(port: u16, web: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    http-request redirect location /a set-cookie FOO=bar if {{ path /r1 }}
    http-request redirect location /a clear-cookie FOO= code 301 if {{ path /r2 }}
    http-request redirect prefix /p set-cookie FOO clear-cookie BAR if {{ path /r3 }}
    http-request redirect scheme https code 308 clear-cookie A=1;x if {{ path /r4 }}
    http-request del-header x-a -m beg
    http-request del-header -B -m end
    http-request del-header ^y-[0-9]$ -m reg
    http-request del-header ^Y-[a-z]$ -m reg
    http-request del-header zz -m sub
    http-request del-header Exact -m str
    http-request del-header Plain
    http-request add-header X-Added 1
    http-request del-header x-add -m beg if {{ path /d }}
    http-request add-header X-After 1 if {{ path /d }}
    redirect location /old set-cookie OLD=1 code 303 if {{ path /r5 }}
    http-response del-header x-res -m beg
    http-response add-header Y-Added 1
    http-after-response del-header y- -m beg
    http-after-response del-header -res -m sub
    server web 127.0.0.1:{web}
"
    )
}

#[test]
fn del_header_match_and_redirect_cookies_match_haproxy() {
    let web = naming_backend();
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&del_header_config(hp, web.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&del_header_config(cp, web.port), &[], &[cp]);
    let fields = "X-AB: 1\r\nx-a: 2\r\nQ-B: 3\r\nY-1: 4\r\nY-a: 5\r\ny-b: 6\r\nAZZA: 7\r\n\
exact: 8\r\nexactly: 9\r\nplain: 10\r\nKeep: 11\r\nX-Ab: 12\r\n";
    let requests: Vec<String> = ["/x", "/d", "/r1", "/r2", "/r3?q=1", "/r4", "/r5"]
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: h\r\n{fields}Connection: close\r\n\r\n"))
        .collect();
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let all = |port: u16, req: &str| answer_fields(port, req, |k| k != "date" && k != "connection");
    // (corelb writes its redirects' Content-Length last, HAProxy first.)
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let got = agreed((&haproxy, hp), (&corelb, cp), &requests, all, sorted);
    // What they agreed on is the rules at work.
    let seen = |i: usize| -> Vec<&str> {
        (got[i].iter())
            .filter(|(k, _)| k == "x-seen")
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(
        seen(0),
        ["host", "y-a", "exactly", "keep", "x-added"],
        "{got:?}"
    );
    assert_eq!(seen(1), ["host", "y-a", "exactly", "keep", "x-after"]);
    let names: Vec<&str> = got[0].iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"kept"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("-res") || n.starts_with("y-"))
    );
    let cookie = |i: usize| {
        (got[i].iter())
            .find(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(cookie(2), Some("FOO=bar; path=/;"));
    assert_eq!(cookie(3), Some("FOO=; path=/; Max-Age=0;"));
    assert_eq!(cookie(4), Some("BAR; path=/; Max-Age=0;"));
    assert_eq!(cookie(5), Some("A=1;x; path=/; Max-Age=0;"));
    assert_eq!(cookie(6), Some("OLD=1; path=/;"));
}

#[test]
fn del_header_and_redirect_cookie_errors_name_the_line() {
    let dir = TempDir::new("del-header");
    let cfg = |rule: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
frontend fe\n  bind 127.0.0.1:1\n  {rule}\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n"
        )
    };
    let cases = [
        (
            "http-request del-header",
            ":8: error detected in frontend 'fe' while parsing 'http-request del-header' rule : expects at least 1 argument.",
        ),
        (
            "http-request del-header x -m",
            ":8: error detected in frontend 'fe' while parsing 'http-request del-header' rule : -m flag expects exactly 1 argument.",
        ),
        (
            "http-response del-header x -m found",
            ":8: error detected in frontend 'fe' while parsing 'http-response del-header' rule : -m with unsupported matching method 'found'.",
        ),
        (
            "http-after-response del-header ( -m reg",
            ":8: error detected in frontend 'fe' while parsing 'http-after-response del-header' rule : regex '(' is invalid",
        ),
        (
            "http-request del-header x -m beg y",
            ":8: 'http-request del-header' expects either 'if' or 'unless' followed by a condition but found 'y'.",
        ),
        (
            "http-request del-header x y",
            ":8: 'http-request del-header' expects either 'if' or 'unless' followed by a condition but found 'y'.",
        ),
        (
            "http-request redirect location /a set-cookie",
            ":8: error detected in frontend 'fe' while parsing 'http-request redirect' rule : missing argument for 'set-cookie'.",
        ),
        (
            "http-request redirect location /a clear-cookie",
            ":8: error detected in frontend 'fe' while parsing 'http-request redirect' rule : missing argument for 'clear-cookie'.",
        ),
    ];
    for (rule, needle) in cases {
        expect_check(&dir, &cfg(rule), 1, needle);
    }
    for ok in [
        "http-request del-header x -m sub if TRUE",
        "http-response del-header x -m str",
        "http-after-response del-header ^x -m reg unless FALSE",
        "http-response redirect location /a set-cookie A=1",
    ] {
        expect_check(&dir, &cfg(ok), 0, "");
    }
}

/// A rewrite failing in `http-after-response` under `strict-mode on` (a field longer than
/// `tune.bufsize`): the answer, the server's or corelb's own (`return`, redirect), becomes
/// the 500 page, which goes through the rules in turn (failing again here: then it goes
/// without them); `strict-mode off` sends the answer without that field. The same in
/// `http-response`. `wrew` counts each failure, as HAProxy 2.6 counts them.
#[test]
fn after_response_strict_mode_matches_haproxy() {
    let web = naming_backend();
    let (fe, dir) = (free_port(), TempDir::new("after-strict"));
    let sock = dir.path("stats.sock");
    let x3 = "%[var(txn.b)]%[var(txn.b)]%[var(txn.b)]";
    let r3 = x3.replace("txn.b", "txn.r");
    let cfg = format!(
        "global\n  stats socket {}\n\
defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n\
  http-request set-var(txn.b) req.hdr(b)\n\
  http-request set-var(txn.off) int(1) if {{ path_beg /off }}\n\
  http-request return status 200 content-type text/plain string hi if {{ path_end own }}\n\
  http-request redirect location /x if {{ path /redir }}\n\
  http-request set-var(txn.r) req.hdr(r)\n\
  http-response set-header Z {r3} if {{ var(txn.r) -m found }}\n\
  http-after-response strict-mode off if {{ var(txn.off) -m found }}\n\
  http-after-response set-header X {x3} if {{ var(txn.b) -m found }}\n\
  http-after-response set-header Y after\n\
  default_backend b\n\
backend b\n  server s 127.0.0.1:{}\n",
        sock.display(),
        web.port
    );
    let seen = || {
        let mut got = Vec::new();
        // 3 × 6000 bytes do not fit in the 16384 bytes of `tune.bufsize`; 3 × 10 do.
        for (p, h, b) in [
            ("/srv", "B", 6000),
            ("/own", "B", 6000),
            ("/redir", "B", 6000),
            ("/off", "B", 6000),
            ("/offown", "B", 6000),
            ("/srv", "B", 10),
            ("/resp", "R", 6000),
        ] {
            let req = format!(
                "GET {p} HTTP/1.1\r\nHost: h\r\n{h}: {}\r\nConnection: close\r\n\r\n",
                "b".repeat(b)
            );
            let f = answer_fields(fe, &req, |k| k == "x" || k == "y");
            // (The status, the other fields' lengths.)
            let f: Vec<String> = (f.iter())
                .map(|(k, v)| match k.as_str() {
                    "status" => format!("{k}={v}"),
                    _ => format!("{k}={}", v.len()),
                })
                .collect();
            got.push(format!("{p} {h}{b}: {}", f.join(" ")));
        }
        wait_unix_socket(&sock);
        let csv = eventually(Duration::from_secs(5), || {
            let csv = stats_cmd(&sock, "show stat");
            (csv_field(&csv, "FRONTEND", "req_tot") == "7").then_some(csv)
        })
        .unwrap_or_default();
        for sv in ["FRONTEND", "BACKEND", "s"] {
            got.push(format!("{sv} wrew={}", csv_field(&csv, sv, "wrew")));
        }
        got
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = seen();
    drop(lb);
    let _ = std::fs::remove_file(&sock);
    assert_eq!(
        ours,
        [
            "/srv B6000: status=500",
            "/own B6000: status=500",
            "/redir B6000: status=500",
            "/off B6000: status=200 y=5",
            "/offown B6000: status=200 y=5",
            "/srv B10: status=200 x=30 y=5",
            "/resp R6000: status=500 y=5",
            "FRONTEND wrew=9",
            "BACKEND wrew=4",
            "s wrew=4"
        ],
        "{ours:#?}"
    );
    if let Some(_h) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// The reason phrases of the status lines corelb writes itself, as HAProxy 2.6 writes them
/// (`http_get_reason`): `return`, `set-status` without a reason, error pages from
/// `http-error`, and redirects, whose 302 says "Found" where `return status 302` says
/// "Moved Temporarily". Before, corelb said "202 Unknown" for every code its short table
/// lacked, and "302 Found" for a returned or set 302.
#[test]
fn reason_phrases_match_haproxy() {
    let web = listing_backend();
    let codes = [
        202, 206, 299, 302, 310, 418, 422, 450, 499, 506, 511, 520, 599,
    ];
    let config = |port: u16| {
        let mut c = format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{port}\n"
        );
        for n in codes {
            c.push_str(&format!(
                "  http-request return status {n} if {{ path /r{n} }}\n"
            ));
        }
        c.push_str(
            "  http-request redirect location /x code 302 if { path /redirect }\n\
  http-response set-status 302 if { path /set302 }\n\
  http-response set-status 418 if { path /set418 }\n\
  default_backend be\n",
        );
        c.push_str(&format!("backend be\n  server s 127.0.0.1:{}\n", web.port));
        c
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&config(hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&config(cp), &[], &[cp]);
    let paths: Vec<String> = codes
        .iter()
        .map(|n| format!("/r{n}"))
        .chain(["/redirect", "/set302", "/set418"].map(String::from))
        .collect();
    let requests: Vec<String> = paths
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
        .collect();
    let requests: Vec<&str> = requests.iter().map(|s| s.as_str()).collect();
    let status_line = |port: u16, req: &str| {
        let raw = raw_exchange(port, req.as_bytes());
        raw.split("\r\n").next().unwrap_or("").to_string()
    };
    let got = agreed((&haproxy, hp), (&corelb, cp), &requests, status_line, |l| l);
    // (Not vacuous: the answers are the ones asked for.)
    assert_eq!(got[0], "HTTP/1.1 202 Accepted");
    assert_eq!(got[3], "HTTP/1.1 302 Moved Temporarily");
}
