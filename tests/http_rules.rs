//! http-request / http-response rules, ACL-driven content switching, balancing by request,
//! cookie modes and layer-7 retries, end to end.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

fn ask(port: u16, raw: &str) -> HttpResponse {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    w.write_all(raw.as_bytes()).unwrap();
    read_response(&mut BufReader::new(c), false).unwrap()
}

fn get(port: u16, path: &str, extra: &str) -> HttpResponse {
    ask(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: shop.example.com\r\n{extra}Connection: close\r\n\r\n"
        ),
    )
}

fn text(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";

#[test]
fn request_rules_deny_return_redirect_and_rewrite() {
    let s = Serve::start("web", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n\
         acl admin path_beg /admin\n\
         acl trusted src 10.0.0.0/8\n\
         http-request deny if admin !trusted\n\
         http-request deny deny_status 429 if {{ hdr(X-Flood) -m found }}\n\
         http-request return status 200 content-type text/plain string \"pong\" hdr X-From corelb if {{ path /ping }}\n\
         http-request redirect location /new code 301 if {{ path /old }}\n\
         http-request redirect prefix https://mirror.example drop-query if {{ path_beg /m/ }}\n\
         http-request redirect scheme https if {{ path /secure }}\n\
         http-request set-header X-Forwarded-Port %[dst_port]\n\
         http-request add-header X-Forwarded-Proto https if {{ ssl_fc }}\n\
         http-request add-header X-Client %[src]\n\
         http-request set-header X-Host-Copy %[req.hdr(host),lower]\n\
         http-request del-header X-Secret\n\
         http-request replace-header User-Agent (.*)/([0-9]+).* \\1-v\\2\n\
         http-request set-path /echo if {{ path /rewrite-me }}\n\
         http-request set-query a=1 if {{ path /echo }} {{ url_param(q) -m found }}\n\
         default_backend b\n\
         backend b\n  server s 127.0.0.1:{}\n",
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    assert_eq!(get(port, "/admin/x", "").status, 403);
    assert_eq!(get(port, "/", "X-Flood: 1\r\n").status, 429);
    let r = get(port, "/ping", "");
    assert_eq!((r.status, text(&r).as_str()), (200, "pong"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-from"), Some("corelb"));
    let r = get(port, "/old", "");
    assert_eq!((r.status, r.header("location")), (301, Some("/new")));
    let r = get(port, "/m/page?x=1", "");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("https://mirror.example/m/page"))
    );
    let r = get(port, "/secure?a=b", "");
    assert_eq!(
        r.header("location"),
        Some("https://shop.example.com/secure?a=b")
    );
    // What the server received.
    let r = get(
        port,
        "/echo",
        "X-Secret: s3cr3t\r\nUser-Agent: curl/7.88.1\r\n",
    );
    let b = text(&r);
    assert!(
        b.contains(&format!("[\"X-Forwarded-Port\",\"{port}\"]")),
        "{b}"
    );
    assert!(!b.contains("X-Forwarded-Proto"), "no TLS here: {b}");
    assert!(b.contains("[\"X-Client\",\"127.0.0.1\"]"), "{b}");
    assert!(b.contains("[\"X-Host-Copy\",\"shop.example.com\"]"), "{b}");
    assert!(!b.contains("s3cr3t"), "{b}");
    assert!(b.contains("[\"User-Agent\",\"curl-v7\"]"), "{b}");
    let r = get(port, "/rewrite-me", "");
    assert!(text(&r).contains("\"path\":\"/echo\""), "{}", text(&r));
    let r = get(port, "/echo?q=z", "");
    assert!(text(&r).contains("\"query\":\"a=1\""), "{}", text(&r));
}

#[test]
fn allow_stops_the_rules() {
    let s = Serve::start("web", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  http-request allow if {{ hdr(X-Vip) -m found }}\n  http-request deny\n  server s 127.0.0.1:{}\n",
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    assert_eq!(get(port, "/", "").status, 403);
    assert_eq!(get(port, "/", "X-Vip: 1\r\n").status, 200);
}

#[test]
fn response_rules() {
    let s = Serve::start("web", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  http-response set-header X-Frontend yes\n  default_backend b\n\
         backend b\n  http-request set-var(txn.path) path\n  http-response set-header X-Via corelb\n  http-response del-header Server\n  http-response set-status 299 reason Fine if {{ var(txn.path) -m str /status/200 }}\n  http-response deny if {{ var(txn.path) -m str /forbidden-answer }}\n  server s 127.0.0.1:{}\n",
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let r = get(port, "/", "");
    assert_eq!(r.header("x-via"), Some("corelb"));
    assert_eq!(r.header("x-frontend"), Some("yes"));
    assert!(r.header("server").is_none());
    assert_eq!(get(port, "/status/200", "").status, 299);
    assert_eq!(get(port, "/forbidden-answer", "").status, 502);
}

#[test]
fn content_switching_on_headers_methods_and_sources() {
    let (a, b, c) = (
        Serve::start("api", &[]),
        Serve::start("static", &[]),
        Serve::start("www", &[]),
    );
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n\
         acl is_api hdr(host) -i api.example.com\n\
         acl is_static path_end .png .css\n\
         acl is_static path_beg /assets/\n\
         acl local src 127.0.0.0/8 ::1\n\
         use_backend api if is_api METH_POST || is_api {{ url_param(v) -m int ge 2 }}\n\
         use_backend static if is_static local\n\
         default_backend www\n\
         backend api\n  server a 127.0.0.1:{}\nbackend static\n  server s 127.0.0.1:{}\nbackend www\n  server w 127.0.0.1:{}\n",
        a.port, b.port, c.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let who = |raw: &str| ask(port, raw).header("x-server").unwrap_or("?").to_string();
    assert_eq!(
        who(
            "POST / HTTP/1.1\r\nHost: API.example.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        "api"
    );
    assert_eq!(
        who("GET /?v=3 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n"),
        "api"
    );
    assert_eq!(
        who("GET /?v=1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n"),
        "www"
    );
    assert_eq!(
        who("GET /a/logo.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        "static"
    );
    assert_eq!(
        who("GET /assets/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        "static"
    );
    assert_eq!(
        who("GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        "www"
    );
}

#[test]
fn balance_uri_and_url_param_and_hdr_stick_by_request() {
    let servers: Vec<Serve> = (0..3)
        .map(|i| Serve::start(&format!("s{i}"), &[]))
        .collect();
    for (algo, make) in [
        (
            "uri",
            Box::new(|i: usize| format!("/img/{i}.png?cache={i}")) as Box<dyn Fn(usize) -> String>,
        ),
        (
            "url_param user",
            Box::new(|i: usize| format!("/?user=u{i}")),
        ),
    ] {
        let port = free_port();
        let mut cfg = format!(
            "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  balance {algo}\n  hash-type consistent\n"
        );
        for (i, s) in servers.iter().enumerate() {
            cfg.push_str(&format!("  server s{i} 127.0.0.1:{}\n", s.port));
        }
        let _lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
        let mut used = std::collections::BTreeSet::new();
        for i in 0..40 {
            let first = get(port, &make(i), "")
                .header("x-server")
                .unwrap()
                .to_string();
            for _ in 0..3 {
                assert_eq!(
                    get(port, &make(i), "").header("x-server").unwrap(),
                    first,
                    "{algo}: {} moved",
                    make(i)
                );
            }
            used.insert(first);
        }
        assert_eq!(used.len(), 3, "{algo}: keys spread over every server");
    }
    // hdr(host): one host, one server.
    let port = free_port();
    let mut cfg = format!("{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  balance hdr(X-Tenant)\n");
    for (i, s) in servers.iter().enumerate() {
        cfg.push_str(&format!("  server s{i} 127.0.0.1:{}\n", s.port));
    }
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let t = |v: &str| {
        get(port, "/", &format!("X-Tenant: {v}\r\n"))
            .header("x-server")
            .unwrap()
            .to_string()
    };
    let first = t("acme");
    for _ in 0..5 {
        assert_eq!(t("acme"), first);
    }
}

#[test]
fn cookie_rewrite_and_prefix_modes() {
    // The server sets its own session cookie; corelb rewrites or prefixes it.
    let app = Backend::start(|mut s| {
        let mut b = [0u8; 2048];
        let n = s.read(&mut b).unwrap_or(0);
        let req = String::from_utf8_lossy(&b[..n]).to_string();
        let cookie_seen = req
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("cookie:"))
            .unwrap_or("Cookie: -")
            .to_string();
        let body = format!("{cookie_seen}\n");
        let _ = s.write_all(
            format!("HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=abc123; Path=/; HttpOnly\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        );
    });
    for (mode, expect_set, send, expect_seen) in [
        (
            "rewrite",
            "JSESSIONID=app1; Path=/; HttpOnly",
            "JSESSIONID=app1",
            "Cookie: JSESSIONID=app1",
        ),
        (
            "prefix",
            "JSESSIONID=app1~abc123; Path=/; HttpOnly",
            "JSESSIONID=app1~abc123",
            "Cookie: JSESSIONID=abc123",
        ),
    ] {
        let port = free_port();
        let cfg = format!(
            "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  cookie JSESSIONID {mode}\n  server app1 127.0.0.1:{} cookie app1\n",
            app.port
        );
        let _lb = Corelb::start(&cfg, &[], &[port]);
        let r = get(port, "/", "");
        assert_eq!(r.header("set-cookie"), Some(expect_set), "{mode}");
        let r = get(port, "/", &format!("Cookie: {send}\r\n"));
        assert_eq!(text(&r).trim(), expect_seen, "{mode}");
    }
}

#[test]
fn seed_004_l7_retries_skip_post() {
    // One server answers 503 to everything; the other works. retry-on all-retryable-errors
    // replays idempotent requests elsewhere, but not POSTs (disable-l7-retry if METH_POST).
    let failing = Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
        let _ = s.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let good = Serve::start("good", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  retries 3\n  option redispatch\n  retry-on all-retryable-errors\n  http-request disable-l7-retry if METH_POST\n  server bad 127.0.0.1:{}\n  server good 127.0.0.1:{}\n",
        failing.port, good.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    for _ in 0..6 {
        assert_eq!(
            get(port, "/", "").status,
            200,
            "GETs are replayed on the good server"
        );
    }
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = ask(
            port,
            "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        );
        statuses.push(r.status);
    }
    assert!(
        statuses.contains(&503),
        "a POST that hit the failing server is not replayed: {statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
}

#[test]
fn option_originalto_and_forwardfor_options() {
    let s = Serve::start("web", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  option forwardfor header X-Real-IP if-none\n  option originalto\n  server s 127.0.0.1:{}\n",
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let b = text(&get(port, "/echo", ""));
    assert!(b.contains("[\"X-Real-IP\",\"127.0.0.1\"]"), "{b}");
    assert!(b.contains("[\"X-Original-To\",\"127.0.0.1\"]"), "{b}");
    let b = text(&get(port, "/echo", "X-Real-IP: 9.9.9.9\r\n"));
    assert!(
        b.contains("9.9.9.9") && !b.contains("[\"X-Real-IP\",\"127.0.0.1\"]"),
        "if-none: {b}"
    );
}

#[test]
fn config_errors_in_rules_name_the_line() {
    let dir = TempDir::new("cfg");
    for (body, line, expect) in [
        (
            "frontend f\n  bind 127.0.0.1:1\n  use_backend b if nope\nbackend b\n",
            8,
            "no such ACL",
        ),
        (
            "frontend f\n  bind 127.0.0.1:1\n  http-request sett-header X y\n",
            8,
            "did you mean 'set-header'",
        ),
        (
            "frontend f\n  bind 127.0.0.1:1\n  http-request set-header X %[nosuchfetch]\n",
            8,
            "nosuchfetch",
        ),
        (
            "frontend f\n  bind 127.0.0.1:1\n  acl a nbsrv(missing) lt 1\n",
            8,
            "missing",
        ),
        (
            "backend b\n  cookie S insert maxidle 1x\n",
            7,
            "'cookie maxidle'",
        ),
        (
            // prometheus-exporter is the one service corelb has (tests/stats.rs).
            "frontend f\n  bind 127.0.0.1:1\n  http-request use-service no-such\n",
            8,
            "'http-request use-service': unknown service 'no-such'",
        ),
        (
            // HAProxy 2.6's list of what http-after-response can do.
            "frontend f\n  bind 127.0.0.1:1\n  http-after-response deny\n",
            8,
            "'http-after-response' expects 'add-header', 'allow',",
        ),
        (
            "frontend f\n  bind 127.0.0.1:1\n  http-after-response set-status 1000\n",
            8,
            "'http-after-response set-status' expects a status code",
        ),
        (
            "frontend f\n  bind 127.0.0.1:1\n  tcp-response content accept\n",
            8,
            "'tcp-response' is not allowed in a 'frontend' section",
        ),
        (
            "backend b\n  tcp-response content foo\n",
            7,
            "'tcp-response content' expects 'accept', 'close', 'reject',",
        ),
        (
            "backend b\n  tcp-response inspect-delay\n",
            7,
            "'tcp-response inspect-delay' expects a positive delay",
        ),
        (
            // Lua is refused by design, and says so (README).
            "frontend f\n  bind 127.0.0.1:1\n  http-request use-service lua.hello\n",
            8,
            "'http-request use-service lua.hello' is not supported: corelb runs no Lua",
        ),
    ] {
        let path = dir.write("c.cfg", &format!("{DEFAULTS}{body}"));
        let (code, _, err) = check_config(&path);
        assert_eq!(code, 1, "{body}");
        let prefix = format!("c.cfg:{line}: ");
        assert!(
            err.lines()
                .any(|l| l.contains(&prefix) && l.contains(expect)),
            "expected {prefix}…{expect} in:\n{err}"
        );
    }
}

fn after_response_config(port: u16, web: u16, dead: u16) -> String {
    // The request is gone when these rules run (HAProxy 2.6 refuses its fetches there):
    // what they test comes through a variable.
    format!(
        "{DEFAULTS}frontend fe
  bind 127.0.0.1:{port}
  http-request set-var(txn.path) path
  http-request return status 200 content-type text/plain string pong if {{ path /ping }}
  http-request redirect location /new if {{ path /old }}
  http-request deny if {{ path /deny }}
  http-after-response set-header Strict-Transport-Security \"max-age=31536000\"
  http-after-response set-var(txn.seen) str(yes)
  http-after-response add-header X-Seen %[var(txn.seen)]-%[var(txn.path)]
  http-after-response set-status 418 reason Teapot if {{ var(txn.path) -m str /teapot }}
  http-after-response del-header X-Drop
  http-after-response replace-header X-Server (.*) srv-\\1
  http-after-response allow if {{ var(txn.path) -m str /allow }}
  http-after-response set-header X-After-Allow 1
  use_backend dead if {{ path /dead }}
  default_backend be
backend be
  http-response set-header X-Drop 1
  http-response deny if {{ var(txn.path) -m str /res-deny }}
  http-after-response set-header X-Backend be
  http-after-response allow if {{ var(txn.path) -m str /allow }}
  http-after-response set-header X-Backend-After-Allow 1
  server a 127.0.0.1:{web}
backend dead
  http-after-response set-header X-Backend dead
  server d 127.0.0.1:{dead}
"
    )
}

/// `http-after-response` on every kind of answer: the server's, a `return`, a redirect, a
/// deny, an `http-response deny`, a 503 for a server that refuses; the same through HAProxy
/// 2.6 and corelb: status, and the headers the rules touch.
#[test]
fn after_response_rules_match_haproxy() {
    let web = Serve::start("web", &[]);
    let (hp, cp, dead) = (free_port(), free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&after_response_config(hp, web.port, dead), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&after_response_config(cp, web.port, dead), &[], &[cp]);
    let seen = |port: u16, path: &str| {
        let r = get(port, path, "");
        let mut h: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                n.starts_with("x-") || n == "strict-transport-security" || n == "location"
            })
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        h.sort();
        (r.status, h)
    };
    let paths = [
        "/",
        "/ping",
        "/old",
        "/deny",
        "/teapot",
        "/allow",
        "/res-deny",
        "/dead",
    ];
    let mut diffs = Vec::new();
    let mut got = Vec::new();
    for p in paths {
        let (h, c) = (seen(hp, p), seen(cp, p));
        if h != c {
            diffs.push(format!("{p}\n  haproxy: {h:?}\n  corelb:  {c:?}"));
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
    // What they agreed on is the rules at work.
    let has = |i: usize, n: &str, v: &str| got[i].1.iter().any(|(a, b)| a == n && b == v);
    for (i, p) in paths.iter().enumerate() {
        assert!(
            has(i, "strict-transport-security", "max-age=31536000"),
            "{p}"
        );
        assert!(has(i, "x-seen", &format!("yes-{p}")), "{p}");
    }
    assert!(has(0, "x-server", "srv-web") && has(0, "x-backend", "be"));
    assert!(!got[0].1.iter().any(|(n, _)| n == "x-drop"));
    assert_eq!(got[4].0, 418);
    // An `allow` ends its own proxy's rules only: after the backend's, the frontend's ran
    // (X-Seen) up to their own `allow`.
    assert!(has(5, "x-backend", "be") && !has(5, "x-after-allow", "1"));
    assert!(!got[5].1.iter().any(|(n, _)| n == "x-backend-after-allow"));
    assert_eq!((got[7].0, has(7, "x-backend", "dead")), (503, true));
}

/// `map_regm`: the value takes the matching key's groups; the same through HAProxy 2.6.
#[test]
fn map_regm_matches_haproxy() {
    let dir = TempDir::new("regm");
    let map = dir.write(
        "paths.map",
        "# key regex, value with groups\n^/user/([0-9]+)/(.*)$ id=\\1&rest=\\2\n^/a(b*)c$ bs:\\1\\x21\n",
    );
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  http-request return status 200 content-type text/plain lf-string \"%[path,map_regm({},nomatch)]\"\n",
            map.display()
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(_haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let _lb = Corelb::start(&cfg(cp), &[], &[cp]);
    for (path, want) in [
        ("/user/42/profile", "id=42&rest=profile"),
        ("/abbbc", "bs:bbb!"),
        ("/zzz", "nomatch"),
    ] {
        let (h, c) = (text(&get(hp, path, "")), text(&get(cp, path, "")));
        assert_eq!(h, c, "{path}");
        assert_eq!(c, want, "{path}");
    }
}

/// `http-response` and `http-after-response` rules read the response: `status`, `res.hdr`,
/// `shdr`, `res.fhdr`, `res.hdr_cnt`, `res.hdr_val`, `res.ver`, after earlier rules' edits
/// (`set-status`, `set-header`, `del-header`) as HAProxy does. The same configuration through
/// Debian's HAProxy and corelb: the headers and statuses the client gets must agree.
#[test]
fn response_rules_read_the_response_as_haproxy_does() {
    let srv = Serve::start("s1", &[]);
    let fe = free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  default_backend app\n\
  http-after-response set-header x-after %[status]\n\
backend app\n\
  http-response set-header x-status %[status]\n\
  http-response set-header x-ct %[res.hdr(content-type)]\n\
  http-response set-header x-ver %[res.ver]\n\
  http-response set-header x-srv-count %[res.hdr_cnt(x-server)]\n\
  http-response set-header x-len %[res.hdr_val(content-length)]\n\
  http-response set-header x-json yes if {{ res.hdr(content-type) -m sub json }}\n\
  http-response set-status 299 if {{ status 201 }}\n\
  http-response set-header x-then %[status]\n\
  http-response del-header x-server if {{ shdr(x-server) -m str s1 }} {{ status 404 }}\n\
  http-response set-header x-gone yes if !{{ res.fhdr(x-server) -m found }}\n\
  http-response set-header x-added 1\n\
  http-response set-header x-seen %[res.hdr(x-added)]\n\
  http-response deny deny_status 502 if {{ status 503 }}\n\
  server s1 127.0.0.1:{}\n",
        srv.port
    );
    let names = [
        "x-status",
        "x-ct",
        "x-ver",
        "x-srv-count",
        "x-len",
        "x-json",
        "x-then",
        "x-server",
        "x-gone",
        "x-seen",
        "x-after",
    ];
    let seen = || {
        ["/echo", "/status/201", "/status/404", "/status/503"]
            .iter()
            .map(|p| {
                let out = Command::new("curl")
                    .args(["-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10"])
                    .arg(format!("http://127.0.0.1:{fe}{p}"))
                    .output()
                    .expect("curl");
                let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
                let status = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut got = vec![format!("{p} {status}")];
                for n in names {
                    let v = head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        (k.trim() == n).then(|| v.trim().to_string())
                    });
                    got.push(format!("{n}={v:?}"));
                }
                got.join(" ")
            })
            .collect::<Vec<_>>()
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = seen();
    drop(lb);
    assert!(ours[0].contains("x-json=Some(\"yes\")"), "{ours:#?}");
    assert!(ours[1].starts_with("/status/201 299"), "{ours:#?}");
    if let Some(_h) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// `http-response deny` as HAProxy counts and logs it: `PH--` with no response time, the
/// answer in the frontend's and backend's `hrsp_5xx` and `dresp` (not `eresp`), the server's
/// own answer in its `hrsp_2xx`; a `set-status` leaves the server's count to what it sent.
#[test]
fn a_denied_response_is_logged_and_counted_as_haproxy_does() {
    let srv = Serve::start("s1", &[]);
    let fe = free_port();
    let dir = TempDir::new("dresp");
    let sock = dir.path("stats.sock");
    let cfg = format!(
        "global\n  log stderr local0\n  stats socket {}\n\
defaults\n  mode http\n  log global\n  option httplog\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  default_backend app\n\
backend app\n\
  http-response deny if {{ status 201 }}\n\
  http-response set-status 503 if {{ status 202 }}\n\
  server s1 127.0.0.1:{}\n",
        sock.display(),
        srv.port
    );
    let fields = ["stot", "dresp", "eresp", "hrsp_2xx", "hrsp_5xx", "req_tot"];
    let seen = |log: &dyn Fn() -> String| {
        let mut got = Vec::new();
        for p in ["/status/201", "/status/202"] {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "10",
                ])
                .arg(format!("http://127.0.0.1:{fe}{p}"))
                .output()
                .expect("curl");
            got.push(format!("{p} {}", String::from_utf8_lossy(&out.stdout)));
        }
        wait_unix_socket(&sock);
        let csv = eventually(Duration::from_secs(5), || {
            let csv = stats_cmd(&sock, "show stat");
            (csv_field(&csv, "FRONTEND", "req_tot") == "2").then_some(csv)
        })
        .unwrap_or_default();
        for sv in ["FRONTEND", "s1", "BACKEND"] {
            let v: Vec<String> = fields
                .iter()
                .map(|f| format!("{f}={}", csv_field(&csv, sv, f)))
                .collect();
            got.push(format!("{sv}: {}", v.join(" ")));
        }
        let line = eventually(Duration::from_secs(5), || {
            log()
                .lines()
                .find(|l| l.contains("/status/201"))
                .map(String::from)
        })
        .unwrap_or_default();
        // Timers (their last two: Tr and Ta, the response time -1 when denied), status and
        // termination state.
        let f: Vec<&str> = line.split_whitespace().collect();
        let at = f.iter().position(|w| w.starts_with('[')).unwrap_or(0);
        let timers = f.get(at + 3).copied().unwrap_or("");
        let tr = timers.split('/').nth(3).unwrap_or("");
        got.push(format!(
            "Tr={tr} status={} term={}",
            f.get(at + 4).copied().unwrap_or(""),
            f.get(at + 8).copied().unwrap_or("")
        ));
        got
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = seen(&|| lb.log());
    drop(lb);
    let _ = std::fs::remove_file(&sock);
    assert!(
        ours.contains(&"Tr=-1 status=502 term=PH--".to_string()),
        "{ours:#?}"
    );
    if let Some(h) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(seen(&|| h.log()), ours, "HAProxy 2.6 against corelb");
    }
}

/// `option checkcache`: a response a shared cache could store that sets a cookie is blocked,
/// as Debian's HAProxy 2.6 does it: a safe method, a cacheable status, freshness (max-age,
/// Expires) or a validator (ETag), no `private`/`no-cache`/`Pragma: no-cache`; `public`
/// makes even a POST's or a 302 cacheable; `no-cache="set-cookie"` spares the cookie; an
/// `http-response` rule that deletes the cookie avoids the block. The blocked answer is
/// HAProxy's page for the status (its 500 page when it has none), logged `PH--` with the
/// server's status, counted in `dresp`, with an alert "Blocking cacheable cookie…"; a
/// backend with `no option checkcache` lets everything through; the cookie `cookie … insert`
/// adds does not count (HAProxy adds it after the check), the server's own still does.
#[test]
fn checkcache_blocks_cacheable_cookies_as_haproxy_does() {
    let srv = Backend::start(|s| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        let Some(req) = read_request_head(&mut r) else {
            return;
        };
        let path = req.target.rsplit('/').next().unwrap_or("").to_string();
        let sc = "Set-Cookie: id=1\r\n";
        let (status, fields) = match path.as_str() {
            "plain" => ("200 OK", format!("{sc}ETag: \"x\"\r\n")),
            "private" => (
                "200 OK",
                format!("{sc}ETag: \"x\"\r\nCache-Control: private\r\n"),
            ),
            "public" => ("200 OK", format!("{sc}Cache-Control: public\r\n")),
            "public-max" => (
                "302 Found",
                format!("{sc}Cache-Control: public, max-age=60\r\n"),
            ),
            "nc-cookie" => (
                "200 OK",
                format!("{sc}Cache-Control: max-age=60, no-cache=\"set-cookie\"\r\n"),
            ),
            "pragma" => (
                "200 OK",
                format!("{sc}Expires: Thu, 01 Dec 2094 16:00:00 GMT\r\nPragma: no-cache\r\n"),
            ),
            "found" => ("302 Found", format!("{sc}ETag: \"x\"\r\n")),
            "missing" => ("404 Not Found", format!("{sc}ETag: \"x\"\r\n")),
            "moved" => (
                "301 Moved",
                format!("{sc}Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
            ),
            "deleted" => ("203 Other", format!("{sc}ETag: \"x\"\r\n")),
            _ => ("200 OK", "ETag: \"x\"\r\n".to_string()),
        };
        let body = if req.method == "HEAD" { "" } else { "hello" };
        let _ = write!(
            w,
            "HTTP/1.1 {status}\r\n{fields}Content-Length: 5\r\nConnection: close\r\n\r\n{body}"
        );
    });
    let fe = free_port();
    let dir = TempDir::new("checkcache");
    let sock = dir.path("stats.sock");
    let cfg = format!(
        "global\n  log stderr local0\n  stats socket {}\n\
defaults\n  mode http\n  log global\n  option httplog\n  option checkcache\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  use_backend off if {{ path_beg /off/ }}\n  use_backend ins if {{ path_beg /ins/ }}\n  default_backend app\n\
backend app\n\
  http-response del-header set-cookie if {{ status 203 }}\n\
  server s1 127.0.0.1:{port}\n\
backend off\n  no option checkcache\n  server s2 127.0.0.1:{port}\n\
backend ins\n  cookie SRV insert\n  server s3 127.0.0.1:{port} cookie s3\n",
        sock.display(),
        port = srv.port
    );
    let reqs = [
        ("GET", "/plain"),
        ("HEAD", "/plain"),
        ("POST", "/plain"),
        ("GET", "/private"),
        ("GET", "/public"),
        ("GET", "/public-max"),
        ("POST", "/public-max"),
        ("GET", "/nc-cookie"),
        ("GET", "/pragma"),
        ("GET", "/found"),
        ("GET", "/missing"),
        ("GET", "/moved"),
        ("GET", "/deleted"),
        ("GET", "/nocookie"),
        ("GET", "/off/plain"),
        ("GET", "/ins/nocookie"),
        ("GET", "/ins/plain"),
    ];
    let fields = [
        "dresp", "eresp", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx",
    ];
    let seen = |log: &dyn Fn() -> String| {
        let mut got = Vec::new();
        for (m, p) in reqs {
            let mut c = Command::new("curl");
            c.args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
            ]);
            c.args(["--max-time", "10"]);
            if m == "HEAD" {
                c.arg("-I");
            } else {
                c.args(["-X", m]);
            }
            let out = c
                .arg(format!("http://127.0.0.1:{fe}{p}"))
                .output()
                .expect("curl");
            got.push(format!("{m} {p} {}", String::from_utf8_lossy(&out.stdout)));
        }
        wait_unix_socket(&sock);
        let n = reqs.len().to_string();
        let csv = eventually(Duration::from_secs(5), || {
            let csv = stats_cmd(&sock, "show stat");
            (csv_field(&csv, "FRONTEND", "req_tot") == n).then_some(csv)
        })
        .unwrap_or_default();
        for sv in ["FRONTEND", "s1", "BACKEND"] {
            let v: Vec<String> = fields
                .iter()
                .map(|f| format!("{f}={}", csv_field(&csv, sv, f)))
                .collect();
            got.push(format!("{sv}: {}", v.join(" ")));
        }
        let text = eventually(Duration::from_secs(5), || {
            let t = log();
            (t.lines().filter(|l| l.contains(" HTTP/1.1\"")).count() == reqs.len()).then_some(t)
        })
        .unwrap_or_default();
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let Some(at) = f.iter().position(|w| w.starts_with('['))
                && l.contains(" HTTP/1.1\"")
            {
                let tr = f
                    .get(at + 3)
                    .and_then(|t| t.split('/').nth(3))
                    .unwrap_or("");
                let (st, term) = (f.get(at + 4).copied(), f.get(at + 8).copied());
                let (m, p) = (f.get(at + 11).copied(), f.get(at + 12).copied());
                got.push(format!(
                    "{} {} Tr={} {} {}",
                    m.unwrap_or("").trim_start_matches('"'),
                    p.unwrap_or(""),
                    if tr == "-1" { "-1" } else { "set" },
                    st.unwrap_or(""),
                    // The termination state; corelb does not log the persistence cookie's
                    // two characters yet (HAProxy: `NI` under `cookie … insert`).
                    term.unwrap_or("").get(..2).unwrap_or("")
                ));
            } else if let Some(i) = l.find("Blocking cacheable")
                && !l.contains("[ALERT]")
            {
                // The syslog line (HAProxy also prints it to stderr as an [ALERT]).
                got.push(format!("{} {}", &l[..4], &l[i..]));
            }
        }
        got
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = seen(&|| lb.log());
    drop(lb);
    let _ = std::fs::remove_file(&sock);
    assert!(ours.contains(&"GET /plain 200 58".to_string()), "{ours:#?}");
    assert!(ours.contains(&"POST /plain 200 5".to_string()), "{ours:#?}");
    assert!(
        ours.contains(&"GET /moved Tr=-1 301 PH".to_string()),
        "{ours:#?}"
    );
    assert!(
        ours.contains(
            &"BACKEND: dresp=6 eresp=0 hrsp_2xx=9 hrsp_3xx=4 hrsp_4xx=1 hrsp_5xx=0".to_string()
        ),
        "{ours:#?}"
    );
    if let Some(h) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(seen(&|| h.log()), ours, "HAProxy 2.6 against corelb");
    }
}

/// `res.cook`, `scook`, `res.cook_cnt`, `res.cook_val` in `http-response` rules read the
/// response's Set-Cookie fields as HAProxy does: the last occurrence for a single value, every
/// one for an ACL, the values split at commas, only the first `name=value` pair of each
/// element naming a cookie (attributes such as `Path` or a later `SID=` are not cookies), a
/// leading `$attribute` or a pair without `=` skipped. The same configuration through
/// Debian's HAProxy and corelb: the headers the client gets must agree.
#[test]
fn response_cookie_fetches_read_set_cookie_as_haproxy_does() {
    let srv = Backend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let Some(req) = read_request_head(&mut r) else {
            return;
        };
        let cookies: &[&str] = match req.target.as_str() {
            "/a" => &[
                "SID=abc; Path=/; Expires=Wed, 09 Jun 2021 10:18:14 GMT",
                "lang=en; SID=zzz",
                "SID=42; HttpOnly",
                "$x=1; SID=7",
            ],
            "/b" => &["a=1, SID=5", "lang=fr"],
            "/d" => &["noeq; SID=9", "SID=\"q v\"; Secure"],
            "/e" => &["SID=-12x; SID=8; Path=/; SID=3"],
            _ => &[],
        };
        let mut head =
            String::from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n");
        for c in cookies {
            head.push_str(&format!("Set-Cookie: {c}\r\n"));
        }
        head.push_str("\r\n");
        let mut s = s;
        let _ = s.write_all(head.as_bytes());
    });
    let fe = free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  default_backend app\n\
backend app\n\
  http-response set-header x-c %[res.cook(SID)]\n\
  http-response set-header x-s %[scook(SID)]\n\
  http-response set-header x-n %[res.cook_cnt(SID)]\n\
  http-response set-header x-sn %[scook_cnt(SID)]\n\
  http-response set-header x-all %[res.cook_cnt]\n\
  http-response set-header x-first %[res.cook]\n\
  http-response set-header x-v %[res.cook_val(SID)]\n\
  http-response set-header x-sv %[scook_val(SID)]\n\
  http-response set-header x-lang %[res.cook(lang)]\n\
  http-response set-header x-found yes if {{ res.cook(SID) -m found }}\n\
  http-response set-header x-42 yes if {{ res.cook(SID) 42 }}\n\
  http-response set-header x-big yes if {{ res.cook_val(SID) gt 40 }}\n\
  server s1 127.0.0.1:{}\n",
        srv.port
    );
    let names = [
        "x-c", "x-s", "x-n", "x-sn", "x-all", "x-first", "x-v", "x-sv", "x-lang", "x-found",
        "x-42", "x-big",
    ];
    let seen = || {
        ["/a", "/b", "/c", "/d", "/e"]
            .iter()
            .map(|p| {
                let out = Command::new("curl")
                    .args(["-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10"])
                    .args(["-H", "Cookie: SID=fromclient; lang=de"])
                    .arg(format!("http://127.0.0.1:{fe}{p}"))
                    .output()
                    .expect("curl");
                let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
                let status = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut got = vec![format!("{p} {status}")];
                for n in names {
                    let v = head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        (k.trim() == n).then(|| v.trim().to_string())
                    });
                    got.push(format!("{n}={v:?}"));
                }
                got.join(" ")
            })
            .collect::<Vec<_>>()
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = seen();
    drop(lb);
    assert!(ours[0].contains("x-c=Some(\"7\")"), "{ours:#?}");
    assert!(ours[0].contains("x-42=Some(\"yes\")"), "{ours:#?}");
    if let Some(_h) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// The termination state's persistence-cookie letters (`%tsc`, the default httplog's
/// `--NI`): the client's cookie (`N` none, `V` valid, `I` naming no server) and what became of
/// the server's (`N`, `I` inserted, `R` rewritten, `P` preserved) under `cookie … insert`,
/// `rewrite`, `prefix` and `insert preserve`. The same requests through Debian's HAProxy and
/// corelb: the log's letters must agree.
#[test]
fn the_log_shows_the_persistence_cookie_letters_as_haproxy_does() {
    let srv = Backend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let Some(req) = read_request_head(&mut r) else {
            return;
        };
        let mut head =
            String::from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n");
        if req.target.contains("setsid") {
            head.push_str("Set-Cookie: SID=xyz; Path=/\r\n");
        }
        head.push_str("\r\n");
        let mut s = s;
        let _ = s.write_all(head.as_bytes());
    });
    let fe = free_port();
    let p = srv.port;
    let cfg = format!(
        "global\n  log stderr local0\n\
defaults\n  mode http\n  log global\n  option httplog\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n\
  use_backend rw if {{ path_beg /rw }}\n  use_backend pf if {{ path_beg /pf }}\n\
  use_backend pr if {{ path_beg /pr }}\n  default_backend ins\n\
backend ins\n  cookie SRV insert indirect nocache\n  server s1 127.0.0.1:{p} cookie a\n\
backend rw\n  cookie SID rewrite\n  server s1 127.0.0.1:{p} cookie a\n\
backend pf\n  cookie SID prefix\n  server s1 127.0.0.1:{p} cookie a\n\
backend pr\n  cookie SID insert preserve\n  server s1 127.0.0.1:{p} cookie a\n"
    );
    let requests: [(&str, &str); 9] = [
        ("/x1", ""),
        ("/x2", "SRV=a"),
        ("/x3", "SRV=zz"),
        ("/rw1", ""),
        ("/rw2?setsid", ""),
        ("/pf1?setsid", ""),
        ("/pf2?setsid", "SID=a~xyz"),
        ("/pr1?setsid", ""),
        ("/pr2", ""),
    ];
    let seen = |log: &dyn Fn() -> String| {
        for (path, cookie) in requests {
            let mut c = Command::new("curl");
            c.args(["-s", "-o", "/dev/null", "--max-time", "10"]);
            if !cookie.is_empty() {
                c.args(["-H", &format!("Cookie: {cookie}")]);
            }
            c.arg(format!("http://127.0.0.1:{fe}{path}"));
            c.output().expect("curl");
        }
        let all = eventually(Duration::from_secs(5), || {
            let l = log();
            requests
                .iter()
                .all(|(p, _)| l.contains(&format!("GET {p} ")))
                .then_some(l)
        })
        .unwrap_or_default();
        // Each request's termination state, the field after the captured cookies.
        requests
            .iter()
            .map(|(p, _)| {
                let line = all
                    .lines()
                    .find(|l| l.contains(&format!("GET {p} ")))
                    .unwrap_or("");
                let f: Vec<&str> = line.split_whitespace().collect();
                let at = f.iter().position(|w| w.starts_with('[')).unwrap_or(0);
                format!("{p} {}", f.get(at + 8).copied().unwrap_or(""))
            })
            .collect::<Vec<_>>()
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = seen(&|| lb.log());
    drop(lb);
    assert!(ours.contains(&"/x1 --NI".to_string()), "{ours:#?}");
    if let Some(h) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(seen(&|| h.log()), ours, "HAProxy 2.6 against corelb");
    }
}

/// A server that answers every request with its head as the body, lowercased.
fn head_echo() -> Backend {
    Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let body = String::from_utf8_lossy(&got).to_lowercase();
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    })
}

/// `option http-restrict-req-hdr-names`: `preserve` passes `X_My.Hdr` on, `delete` removes
/// it (and only it), `reject` answers 403 logged `PR` as a deny; a backend's option applies
/// after its own rules. As Debian's HAProxy.
#[test]
fn restrict_req_hdr_names_preserves_deletes_or_rejects_like_haproxy() {
    let web = head_echo();
    let run = |prog: &str| {
        let (pp, pd, pr, pb) = (free_port(), free_port(), free_port(), free_port());
        let cfg = format!(
            "global\n  log stderr format raw local0\n{DEFAULTS}  log global\n  log-format \"L %ft %b %ST %ts\"\nfrontend keep\n  bind 127.0.0.1:{pp}\n  option http-restrict-req-hdr-names preserve\n  default_backend b\nfrontend del\n  bind 127.0.0.1:{pd}\n  option http-restrict-req-hdr-names delete\n  default_backend b\nfrontend rej\n  bind 127.0.0.1:{pr}\n  option http-restrict-req-hdr-names reject\n  http-request del-header x-none\n  default_backend b\nfrontend viabe\n  bind 127.0.0.1:{pb}\n  use_backend strict if {{ path /strict }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{w}\nbackend strict\n  option http-restrict-req-hdr-names reject\n  server s 127.0.0.1:{w}\n",
            w = web.port
        );
        let ports = [pp, pd, pr, pb];
        let (c, h);
        let log: Box<dyn Fn() -> String> = if prog == "haproxy" {
            h = Haproxy::start(&cfg, &ports)?;
            Box::new(|| h.log())
        } else {
            c = Corelb::start(&cfg, &["--shards", "1"], &ports);
            Box::new(|| c.log())
        };
        let mut seen = Vec::new();
        for (p, path, extra) in [
            (pp, "/", "X_My.Hdr: on\r\nX-Ok: 1\r\n"),
            (pd, "/", "X_My.Hdr: on\r\nX-Ok: 1\r\n"),
            (pr, "/", "X_My.Hdr: on\r\nX-Ok: 1\r\n"),
            (pr, "/", "X-Ok: 1\r\n"),
            (pb, "/", "X_My.Hdr: on\r\n"),
            (pb, "/strict", "X_My.Hdr: on\r\n"),
        ] {
            let r = get(p, path, extra);
            let body = text(&r);
            seen.push(format!(
                "{} bad={} ok={}",
                r.status,
                body.contains("x_my.hdr: on"),
                body.contains("x-ok: 1")
            ));
        }
        let want = |l: &str| l.lines().filter(|l| l.starts_with("L ")).count() >= 6;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !want(&log()) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut lines: Vec<String> = log()
            .lines()
            .filter(|l| l.starts_with("L "))
            .map(String::from)
            .collect();
        lines.sort();
        seen.extend(lines);
        Some(seen)
    };
    let ours = run(corelb_bin()).unwrap();
    if let Some(theirs) = run("haproxy") {
        assert_eq!(theirs, ours);
    }
    assert_eq!(
        ours,
        [
            "200 bad=true ok=true",
            "200 bad=false ok=true",
            "403 bad=false ok=false",
            "200 bad=false ok=true",
            "200 bad=true ok=false",
            "403 bad=false ok=false",
            "L del b 200 --",
            "L keep b 200 --",
            "L rej b 200 --",
            "L rej rej 403 PR",
            "L viabe b 200 --",
            "L viabe strict 403 PR",
        ]
    );
}

/// One raw request on its own connection: the status, and the body lowercased.
fn ask_bytes(port: u16, raw: &[u8]) -> (u16, String) {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    w.write_all(raw).unwrap();
    let r = read_response(&mut BufReader::new(c), false).unwrap();
    (r.status, String::from_utf8_lossy(&r.body).to_lowercase())
}

/// `option accept-invalid-http-request` lets through what HAProxy's relaxed parser does:
/// any byte but CR, LF and `:` in a header name (`X{a}`, `Bad Name`, a control or
/// non-ASCII byte), non-ASCII bytes and `#` in the target, all passed on as received; the
/// strict frontend answers 400. `option accept-invalid-http-response` does the same for a
/// server's header names (502 without). As Debian's HAProxy.
#[test]
fn accept_invalid_http_request_and_response_relax_the_parser_like_haproxy() {
    let web = head_echo();
    let odd = Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nX{a}: 1\r\nBad Name: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
    let run = |prog: &str| {
        let (ps, pr, pbs, pbr) = (free_port(), free_port(), free_port(), free_port());
        let cfg = format!(
            "{DEFAULTS}frontend strict\n  bind 127.0.0.1:{ps}\n  default_backend b\nfrontend relaxed\n  bind 127.0.0.1:{pr}\n  option accept-invalid-http-request\n  default_backend b\nfrontend res_strict\n  bind 127.0.0.1:{pbs}\n  default_backend odd\nfrontend res_relaxed\n  bind 127.0.0.1:{pbr}\n  default_backend odd_ok\nbackend b\n  server s 127.0.0.1:{}\nbackend odd\n  server s 127.0.0.1:{o}\nbackend odd_ok\n  option accept-invalid-http-response\n  server s 127.0.0.1:{o}\n",
            web.port,
            o = odd.port
        );
        let ports = [ps, pr, pbs, pbr];
        let (_c, _h);
        if prog == "haproxy" {
            _h = Haproxy::start(&cfg, &ports)?;
        } else {
            _c = Corelb::start(&cfg, &["--shards", "1"], &ports);
        }
        let cases: [(&str, &[u8], &str); 5] = [
            (
                "non-ascii target",
                b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "get /caf",
            ),
            (
                "fragment",
                b"GET /a#frag HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "get /a#frag ",
            ),
            (
                "brace name",
                b"GET / HTTP/1.1\r\nHost: a\r\nX{a}: 1\r\nConnection: close\r\n\r\n",
                "x{a}: 1",
            ),
            (
                "space name",
                b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\nConnection: close\r\n\r\n",
                "bad name: 1",
            ),
            (
                "control name",
                b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: 1\r\nConnection: close\r\n\r\n",
                "x\u{1}: 1",
            ),
        ];
        let mut seen = Vec::new();
        for p in [ps, pr] {
            for (what, raw, passed) in cases {
                let (st, body) = ask_bytes(p, raw);
                seen.push(format!(
                    "{p_}: {what}: {st} passed={}",
                    body.contains(passed),
                    p_ = if p == ps { "strict" } else { "relaxed" }
                ));
            }
        }
        for p in [pbs, pbr] {
            let c = TcpStream::connect(("127.0.0.1", p)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut w = c.try_clone().unwrap();
            w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut all = Vec::new();
            let _ = BufReader::new(c).read_to_end(&mut all);
            let t = String::from_utf8_lossy(&all).to_lowercase();
            seen.push(format!(
                "response {}: {} names={}",
                if p == pbs { "strict" } else { "relaxed" },
                t.split(' ').nth(1).unwrap_or(""),
                t.contains("\r\nx{a}: 1\r\n") && t.contains("\r\nbad name: 2\r\n")
            ));
        }
        Some(seen)
    };
    let ours = run(corelb_bin()).unwrap();
    if let Some(theirs) = run("haproxy") {
        assert_eq!(theirs, ours);
    }
    let want: Vec<String> = [
        "strict: non-ascii target: 400 passed=false",
        "strict: fragment: 400 passed=false",
        "strict: brace name: 400 passed=false",
        "strict: space name: 400 passed=false",
        "strict: control name: 400 passed=false",
        "relaxed: non-ascii target: 200 passed=true",
        "relaxed: fragment: 200 passed=true",
        "relaxed: brace name: 200 passed=true",
        "relaxed: space name: 200 passed=true",
        "relaxed: control name: 200 passed=true",
        "response strict: 502 names=false",
        "response relaxed: 200 names=true",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(ours, want);
}

/// `h1-case-adjust` and `h1-case-adjust-file` (global) respell header names on HTTP/1:
/// `option h1-case-adjust-bogus-client` on the responses a frontend sends, `option
/// h1-case-adjust-bogus-server` on the requests a backend sends; without them the names go
/// as they came (all lowercase here, as HAProxy sends every name). As Debian's HAProxy,
/// for the names the map spells.
#[test]
fn h1_case_adjust_respells_mapped_names_like_haproxy() {
    // Answers with lowercase names, its body the request head as received.
    let web = Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nx-foo: 1\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            got.len()
        );
        let _ = s.write_all(&got);
    });
    let dir = TempDir::new("case");
    let file = dir.write(
        "case.map",
        "# spellings\n\n  content-type   Content-TYPE  \nx-req\tX-Req\n",
    );
    let run = |prog: &str| {
        let (pa, pb) = (free_port(), free_port());
        let cfg = format!(
            "global\n  h1-case-adjust x-foo X-FOO\n  h1-case-adjust-file {}\n{DEFAULTS}frontend adj\n  bind 127.0.0.1:{pa}\n  option h1-case-adjust-bogus-client\n  default_backend adj\nfrontend plain\n  bind 127.0.0.1:{pb}\n  default_backend plain\nbackend adj\n  option h1-case-adjust-bogus-server\n  server s 127.0.0.1:{w}\nbackend plain\n  server s 127.0.0.1:{w}\n",
            file.display(),
            w = web.port
        );
        let (_c, _h);
        if prog == "haproxy" {
            _h = Haproxy::start(&cfg, &[pa, pb])?;
        } else {
            _c = Corelb::start(&cfg, &["--shards", "1"], &[pa, pb]);
        }
        let mut seen = Vec::new();
        for p in [pa, pb] {
            let c = TcpStream::connect(("127.0.0.1", p)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut w = c.try_clone().unwrap();
            w.write_all(
                b"GET / HTTP/1.1\r\nhost: a\r\nx-req: 1\r\nx-foo: 2\r\nconnection: close\r\n\r\n",
            )
            .unwrap();
            let mut all = Vec::new();
            let _ = BufReader::new(c).read_to_end(&mut all);
            let t = String::from_utf8_lossy(&all);
            // The names the map spells, as each side got them.
            let names = |from: &str| -> Vec<String> {
                from.split("\r\n")
                    .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_string()))
                    .filter(|n| {
                        ["x-foo", "x-req", "content-type"].contains(&n.to_lowercase().as_str())
                    })
                    .collect()
            };
            let (head, body) = t.split_once("\r\n\r\n").unwrap();
            seen.push(format!(
                "{}: client got {:?}, server got {:?}",
                if p == pa { "adjusted" } else { "plain" },
                names(head),
                names(body)
            ));
        }
        Some(seen)
    };
    let ours = run(corelb_bin()).unwrap();
    if let Some(theirs) = run("haproxy") {
        assert_eq!(theirs, ours);
    }
    assert_eq!(
        ours,
        [
            r#"adjusted: client got ["X-FOO", "Content-TYPE"], server got ["X-Req", "X-FOO"]"#,
            r#"plain: client got ["x-foo", "content-type"], server got ["x-req", "x-foo"]"#,
        ]
    );
}

/// A server that answers every request with `answer`, in one write.
fn answering(answer: &'static [u8]) -> Backend {
    Backend::start(move |mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(answer);
        std::thread::sleep(Duration::from_millis(300));
    })
}

/// `res.body`, `res.body_len`, `res.body_size` in `http-response` rules read what of the
/// response's body came with its head (HAProxy 2.6 has no wait for it on the response
/// side): a Content-Length body, a chunked one (decoded; its size is what is here), none
/// yet (length 0, size the announced one). As Debian's HAProxy.
#[test]
fn response_body_fetches_read_what_came_with_the_head_like_haproxy() {
    let cl = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
    let chunked = answering(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    let none = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    let run = |prog: &str| {
        let ports = [free_port(), free_port(), free_port()];
        let mut cfg = DEFAULTS.to_string();
        for (i, (p, srv)) in ports
            .iter()
            .zip([cl.port, chunked.port, none.port])
            .enumerate()
        {
            cfg += &format!(
                "frontend f{i}\n  bind 127.0.0.1:{p}\n  timeout server 1s\n  http-response set-header X-Len %[res.body_len]\n  http-response set-header X-Size %[res.body_size]\n  http-response set-header X-Body %[res.body]\n  http-response set-header X-Hello yes if {{ res.body -m sub ell }}\n  default_backend b{i}\nbackend b{i}\n  timeout server 1s\n  server s 127.0.0.1:{srv}\n"
            );
        }
        let (_c, _h);
        if prog == "haproxy" {
            _h = Haproxy::start(&cfg, &ports)?;
        } else {
            _c = Corelb::start(&cfg, &["--shards", "1"], &ports);
        }
        let seen: Vec<String> = ports
            .iter()
            .map(|&p| {
                let c = TcpStream::connect(("127.0.0.1", p)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut w = c.try_clone().unwrap();
                w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut all = Vec::new();
                let _ = BufReader::new(c).read_to_end(&mut all);
                let t = String::from_utf8_lossy(&all).to_lowercase();
                let head = t.split("\r\n\r\n").next().unwrap_or("").to_string();
                head.lines()
                    .filter(|l| l.starts_with("x-"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        Some(seen)
    };
    let ours = run(corelb_bin()).unwrap();
    if let Some(theirs) = run("haproxy") {
        assert_eq!(theirs, ours);
    }
    assert_eq!(
        ours,
        [
            "x-len: 11 x-size: 11 x-body: hello world x-hello: yes",
            "x-len: 11 x-size: 11 x-body: hello world x-hello: yes",
            "x-len: 0 x-size: 5 x-body: ",
        ]
    );
}

/// `http-request set-src`, `set-src-port`, `set-dst`, `set-dst-port` change the stream's
/// addresses as HAProxy 2.6 does: later rules' `src`/`dst` see them, `fc_src`/`fc_dst` do
/// not, `option forwardfor`, the PROXY header to the server and the log carry them, a server
/// at 0.0.0.0:0 connects to the new destination, and the next request on the connection
/// starts again from the connection's addresses. The same keep-alive exchange through
/// Debian's HAProxy and corelb: answers, what the server saw and the log lines must agree.
#[test]
fn set_src_and_set_dst_change_the_stream_addresses_as_haproxy_does() {
    // The server reports the PROXY header (its client port masked unless a rule set it)
    // and X-Forwarded-For, then closes: each request comes on a new server connection.
    let srv = Backend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut proxy = String::new();
        if std::io::BufRead::read_line(&mut r, &mut proxy).is_err() {
            return;
        }
        let Some(req) = read_request_head(&mut r) else {
            return;
        };
        let mut f: Vec<&str> = proxy.split_whitespace().collect();
        if f.len() == 6 && f[4] != "4000" {
            f[4] = "P";
        }
        let body = format!(
            "{} | xff={:?}\n",
            f.join(" "),
            req.header("x-forwarded-for")
        );
        let mut s = s;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let fe = free_port();
    let cfg = format!(
        "global\n  log stderr format raw local0\n\
defaults\n  mode http\n  log global\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  option forwardfor\n\
  log-format \"ADDR %ci %fi:%fp %[var(txn.fcsrc)] %ST\"\n\
  http-request set-var(txn.fcsrc) fc_src\n\
  http-request set-src hdr(x-client) if {{ req.hdr(x-client) -m found }}\n\
  http-request set-src-port int(4000) if {{ req.hdr(x-client) -m found }}\n\
  http-request set-dst ipv4(127.0.0.1)\n\
  http-request set-dst-port int({srv})\n\
  http-request set-var(txn.src) src\n\
  http-request set-var(txn.srcport) src_port\n\
  http-request set-var(txn.dst) dst\n\
  http-request set-var(txn.dstport) dst_port\n\
  http-request deny deny_status 403 if {{ src 10.9.9.9 }}\n\
  http-after-response set-header x-src %[var(txn.src)]:%[var(txn.srcport)]\n\
  http-after-response set-header x-dst %[var(txn.dst)]:%[var(txn.dstport)]\n\
  http-after-response set-header x-fc %[fc_src]:%[fc_dst_port]\n\
  default_backend be\n\
backend be\n  server s 0.0.0.0:0 send-proxy\n",
        srv = srv.port
    );
    let run = |log: &dyn Fn() -> String| {
        let c = TcpStream::connect(("127.0.0.1", fe)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        let mut seen = Vec::new();
        for extra in ["X-Client: 10.1.2.3\r\n", "", "X-Client: 10.9.9.9\r\n"] {
            write!(w, "GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n").unwrap();
            let resp = read_response(&mut r, false).unwrap();
            // (The client's own port masked.)
            let src = resp.header("x-src").map(|v| match v.rsplit_once(':') {
                Some((ip, p)) if p != "4000" => format!("{ip}:P"),
                _ => v.to_string(),
            });
            seen.push(format!(
                "{} src={:?} dst={:?} fc={:?} {}",
                resp.status,
                src,
                resp.header("x-dst"),
                resp.header("x-fc"),
                text(&resp).trim_end()
            ));
        }
        // The log lines.
        let lines = eventually(Duration::from_secs(5), || {
            let l: Vec<String> = log()
                .lines()
                .filter_map(|l| l.find("ADDR ").map(|i| l[i..].to_string()))
                .collect();
            (l.len() >= 3).then_some(l)
        })
        .unwrap_or_default();
        seen.extend(lines);
        seen
    };
    let lb = Corelb::start(&cfg, &[], &[fe]);
    let ours = run(&|| lb.log());
    drop(lb);
    let want_first = format!(
        "200 src=Some(\"10.1.2.3:4000\") dst=Some(\"127.0.0.1:{}\") fc=Some(\"127.0.0.1:{fe}\") \
         PROXY TCP4 10.1.2.3 127.0.0.1 4000 {} | xff=Some(\"10.1.2.3\")",
        srv.port, srv.port
    );
    assert_eq!(ours[0], want_first, "{ours:#?}");
    assert!(
        ours[1].contains("PROXY TCP4 127.0.0.1 127.0.0.1 P"),
        "{ours:#?}"
    );
    assert!(
        ours[2].starts_with("403 src=Some(\"10.9.9.9:4000\")"),
        "{ours:#?}"
    );
    assert_eq!(ours.len(), 6, "{ours:#?}");
    assert_eq!(
        ours[3],
        format!("ADDR 10.1.2.3 127.0.0.1:{} 127.0.0.1 200", srv.port)
    );
    if let Some(ha) = Haproxy::start(&cfg, &[fe]) {
        assert_eq!(run(&|| ha.log()), ours, "HAProxy 2.6 against corelb");
    }
}

/// A server that answers `/KIND/FIRST/DELAY_MS/REST` with FIRST right after its head and REST
/// DELAY_MS later: KIND `cl` (Content-Length), `ch` (chunked) or `close` (ends at the close).
fn slow_body_server() -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let Some(req) = read_request_head(&mut r) else {
                    return;
                };
                let p: Vec<String> = req.target.split('/').map(String::from).collect();
                let (kind, first, delay) = (&p[1], &p[2], p[3].parse::<u64>().unwrap());
                let rest = p.get(4).cloned().unwrap_or_default();
                let len = first.len() + rest.len();
                let (head, tail) = match kind.as_str() {
                    "cl" => (
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n{first}"),
                        rest.clone(),
                    ),
                    "ch" => (
                        format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n",
                            first.len()
                        ),
                        format!("{:x}\r\n{rest}\r\n0\r\n\r\n", rest.len()),
                    ),
                    _ => (
                        format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{first}"),
                        rest.clone(),
                    ),
                };
                let _ = c.write_all(head.as_bytes());
                std::thread::sleep(Duration::from_millis(delay));
                let _ = c.write_all(tail.as_bytes());
                std::thread::sleep(Duration::from_millis(300));
            });
        }
    });
    (port, h)
}

/// `http-response wait-for-body time T [at-least N]`: `res.body`, `res.body_len` and
/// `res.body_size` see the whole body when it comes in time (Content-Length, chunked,
/// close-delimited), the first N bytes with `at-least`; past T the client gets HAProxy's
/// 504. The same answers as Debian's HAProxy 2.6.
#[test]
fn wait_for_body_like_haproxy() {
    let (srv, _h) = slow_body_server();
    let (f1, f2) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend f1\n  bind 127.0.0.1:{f1}\n  http-response wait-for-body time 400ms\n\
  http-response set-header x-body \"%[res.body]\"\n  http-response set-header x-len \"%[res.body_len]\"\n\
  http-response set-header x-size \"%[res.body_size]\"\n  default_backend b\n\
frontend f2\n  bind 127.0.0.1:{f2}\n  http-response wait-for-body time 1s at-least 4 if {{ status 200 }}\n\
  http-response set-header x-body \"%[res.body]\"\n  http-response set-header x-len \"%[res.body_len]\"\n  default_backend b\n\
backend b\n  server s 127.0.0.1:{srv}\n"
    );
    let cases = [
        (f1, "/cl/abc/50/def"),
        (f1, "/cl/abc/1200/def"),
        (f1, "/ch/abc/50/def"),
        (f1, "/ch/abc/1200/def"),
        (f1, "/close/abc/50/def"),
        (f1, "/close/abc/1200/def"),
        (f2, "/cl/ab/50/cdefg"),
        (f2, "/cl/abcd/1200/efg"),
        (f2, "/cl/abcdef/1200/g"),
    ];
    let seen = || -> Vec<String> {
        cases
            .iter()
            .map(|(port, path)| {
                let s = TcpStream::connect(("127.0.0.1", *port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                (&s).write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
                let r = read_response(&mut BufReader::new(&s), false).unwrap();
                let mut got = vec![path.to_string(), r.status.to_string()];
                for n in ["x-body", "x-len", "x-size"] {
                    got.push(format!("{n}={:?}", r.header(n)));
                }
                // A close-delimited body: what came before the close.
                let mut body = r.body;
                let _ = (&s).read_to_end(&mut body);
                got.push(String::from_utf8_lossy(&body).into_owned());
                got.join(" ")
            })
            .collect()
    };
    let lb = Corelb::start(&cfg, &[], &[f1, f2]);
    let ours = seen();
    drop(lb);
    assert_eq!(
        ours[0],
        "/cl/abc/50/def 200 x-body=Some(\"abcdef\") x-len=Some(\"6\") x-size=Some(\"6\") abcdef"
    );
    assert!(ours[1].starts_with("/cl/abc/1200/def 504 "), "{ours:#?}");
    assert_eq!(
        ours[7],
        "/cl/abcd/1200/efg 200 x-body=Some(\"abcd\") x-len=Some(\"4\") x-size=None abcdefg"
    );
    if let Some(_h) = Haproxy::start(&cfg, &[f1, f2]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
    }
}

/// `wait-for-body`'s errors, in HAProxy 2.6's words, with the line.
#[test]
fn wait_for_body_is_checked() {
    let dir = TempDir::new("wfb");
    let base = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend b\n  server s 127.0.0.1:1\n";
    for (rule, msg) in [
        ("wait-for-body", "expects time <time> [ at-least <bytes> ]."),
        ("wait-for-body time", "missing argument for 'time'."),
        ("wait-for-body time x", "unexpected character 'x'."),
        (
            "wait-for-body time 1s at-least",
            "missing argument for 'at-least'.",
        ),
        (
            "wait-for-body time 1s at-least 1x",
            "unexpected character 'x'.",
        ),
        (
            "wait-for-body at-least 5",
            "expects time <time> [ at-least <bytes> ].",
        ),
    ] {
        for kw in ["http-request", "http-response"] {
            let pre =
                format!("error detected in backend 'b' while parsing '{kw} wait-for-body' rule : ");
            expect_check(
                &dir,
                &format!("{base}  {kw} {rule}\n"),
                1,
                &format!("c.cfg:8: {pre}{msg}"),
            );
        }
    }
    expect_check(
        &dir,
        &format!("{base}  http-response wait-for-body time 1s at-least 10k if TRUE\n"),
        0,
        "valid",
    );
    expect_check(
        &dir,
        &format!("{base}  http-request wait-for-body time 1s at-least 10k if TRUE\n"),
        0,
        "valid",
    );
}

/// A server that reads each request whole (Content-Length or chunked) and answers with
/// the head it saw (lowercased, without its Content-Length and Transfer-Encoding lines,
/// which depend on the proxy's framing) and `body=` what came after it.
fn whole_request_echo() -> Backend {
    Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        let end = loop {
            if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        };
        let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
        let len = (head.lines())
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let whole = |got: &[u8]| match len {
            Some(n) => got.len() >= end + n,
            None if head.contains("transfer-encoding: chunked") => got.ends_with(b"0\r\n\r\n"),
            None => true,
        };
        while !whole(&got) {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let seen: Vec<&str> = (head.lines())
            .filter(|l| !l.starts_with("content-length") && !l.starts_with("transfer-encoding"))
            .collect();
        let body = format!(
            "{}body={}",
            seen.join("\n"),
            String::from_utf8_lossy(&got[end..])
        );
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    })
}

/// `http-request wait-for-body time T [at-least N]`: the request's rules see the whole body
/// (`req.body`, Content-Length and chunked) when it comes in time, its first N bytes with
/// `at-least`; past T the client gets HAProxy's 408 and nothing reaches the server; an
/// `Expect: 100-continue` is answered by the proxy (and not forwarded) so that the body
/// comes; a rule whose condition does not hold does not wait. The same answers, and the
/// same requests at the server, as Debian's HAProxy 2.6.
#[test]
fn request_wait_for_body_like_haproxy() {
    let srv = whole_request_echo();
    let (f1, f2) = (free_port(), free_port());
    let cfg = format!(
        "global\n  log stderr format raw local0\n\
defaults\n  mode http\n  log global\n  option httplog\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
frontend f1\n  bind 127.0.0.1:{f1}\n  http-request set-header x-before \"%[req.body_len]\"\n\
  http-request wait-for-body time 500ms if METH_POST\n\
  http-request set-header x-body \"%[req.body]\"\n  default_backend b\n\
frontend f2\n  bind 127.0.0.1:{f2}\n  default_backend bw\n\
backend b\n  server s 127.0.0.1:{}\n\
backend bw\n  http-request wait-for-body time 1s at-least 4\n\
  http-request set-header x-body \"%[req.body]\"\n  server s 127.0.0.1:{}\n",
        srv.port, srv.port
    );
    // (port, method, framing, first part, delay ms, rest, with Expect: 100-continue)
    let cases: [(u16, &str, &str, &str, u64, &str, bool); 8] = [
        (f1, "POST", "cl", "abc", 50, "def", false),
        (f1, "POST", "cl", "abc", 1200, "def", false),
        (f1, "POST", "ch", "abc", 50, "def", false),
        (f1, "PUT", "cl", "abc", 50, "def", false),
        (f1, "POST", "cl", "", 0, "abcdef", true),
        (f2, "POST", "cl", "ab", 50, "cdefg", false),
        (f2, "POST", "cl", "abcd", 1500, "efg", false),
        (f2, "POST", "cl", "a", 1500, "bcdefg", false),
    ];
    let seen = || -> Vec<String> {
        cases
            .iter()
            .map(|&(port, method, framing, first, delay, rest, expect)| {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let n = first.len() + rest.len();
                let (framing_hdr, first, rest) = match framing {
                    "cl" => (
                        format!("Content-Length: {n}"),
                        first.to_string(),
                        rest.to_string(),
                    ),
                    _ => (
                        "Transfer-Encoding: chunked".to_string(),
                        format!("{:x}\r\n{first}\r\n", first.len()),
                        format!("{:x}\r\n{rest}\r\n0\r\n\r\n", rest.len()),
                    ),
                };
                let exp = if expect { "Expect: 100-continue\r\n" } else { "" };
                let head = format!(
                    "{method} / HTTP/1.1\r\nHost: x\r\n{framing_hdr}\r\n{exp}Connection: close\r\n\r\n"
                );
                (&s).write_all(format!("{head}{first}").as_bytes()).unwrap();
                let mut r = BufReader::new(&s);
                let mut got = vec![format!("{method} {framing} {first:?}+{delay}ms")];
                if expect {
                    let interim = read_response(&mut r, false).unwrap();
                    got.push(format!("interim {}", interim.status));
                }
                std::thread::sleep(Duration::from_millis(delay));
                let _ = (&s).write_all(rest.as_bytes());
                match read_response(&mut r, false) {
                    Ok(res) => {
                        got.push(res.status.to_string());
                        got.push(text(&res).replace('\n', "|"));
                    }
                    Err(e) => got.push(format!("no answer: {e}")),
                }
                got.join(" ")
            })
            .collect()
    };
    // The log lines of the 408s: servers, timers (-1 or not), status, bytes, state, request.
    let timeouts = |log: String| -> Vec<String> {
        let mut v: Vec<String> = (log.lines())
            .filter(|l| l.contains(" 408 "))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let timers: Vec<&str> = (f[4].split('/'))
                    .map(|t| if t == "-1" { "-1" } else { "n" })
                    .collect();
                let request = l.split_once('"').map_or("", |(_, r)| r);
                // (Bytes: HAProxy 2.6 logs 232 for its 408 page of 233 bytes on the wire;
                // corelb logs what it wrote.)
                let bytes = if f[6] == "0" { "0" } else { "B" };
                format!(
                    "{} {} {} {bytes} {} {request}",
                    f[3],
                    timers.join("/"),
                    f[5],
                    f[9]
                )
            })
            .collect();
        v.sort();
        v
    };
    let lb = Corelb::start(&cfg, &[], &[f1, f2]);
    let ours = seen();
    std::thread::sleep(Duration::from_millis(300));
    let our_log = timeouts(lb.log());
    drop(lb);
    assert_eq!(
        our_log,
        [
            "bw/<NOSRV> -1/-1/-1/-1/n 408 B cR-- POST / HTTP/1.1\"",
            "f1/<NOSRV> -1/-1/-1/-1/n 408 B cR-- POST / HTTP/1.1\""
        ]
    );
    assert!(
        ours[0].ends_with("x-before: 3|x-body: abcdef|body=abcdef"),
        "{ours:#?}"
    );
    assert!(ours[1].contains(" 408 "), "{ours:#?}");
    assert!(ours[4].contains("interim 100 200 "), "{ours:#?}");
    assert!(!ours[4].contains("expect"), "{ours:#?}");
    assert!(ours[6].contains("x-body: abcd|"), "{ours:#?}");
    if let Some(h) = Haproxy::start(&cfg, &[f1, f2]) {
        assert_eq!(seen(), ours, "HAProxy 2.6 against corelb");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            timeouts(h.log()),
            our_log,
            "HAProxy 2.6's log against corelb's"
        );
    }
}

/// Actions of later HAProxy versions are rejected, as HAProxy 2.6 rejects them, with the
/// line and the version that added them.
#[test]
fn actions_after_haproxy_26_are_rejected_like_haproxy_26() {
    let dir = TempDir::new("after26");
    let base = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend b\n  server s 127.0.0.1:1\n";
    for (rule, v) in [
        ("http-request set-bandwidth-limit lim", "2.7"),
        ("http-request sc-add-gpc(0,0) 1", "2.8"),
        ("http-request set-fc-mark 1", "3.0"),
        ("http-request set-fc-tos 1", "3.0"),
        ("http-request set-retries 1", "3.1"),
        ("http-request do-log", "3.1"),
        ("http-request pause 1s", "3.2"),
        ("http-response pause 1s", "3.2"),
    ] {
        let text = format!("{base}  {rule}\n");
        let action = rule
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        expect_check(
            &dir,
            &text,
            1,
            &format!(
                "c.cfg:8: '{action}': no such action in HAProxy 2.6, the language corelb speaks (HAProxy {v} added it)"
            ),
        );
        if Command::new("haproxy").arg("-v").output().is_ok() {
            let out = Command::new("haproxy")
                .args(["-c", "-f"])
                .arg(dir.path("c.cfg"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{rule}: {err}");
            assert!(err.contains("c.cfg:8"), "{rule}: {err}");
        }
    }
}

/// `tcp-response inspect-delay` and `tcp-response content` in mode http, as HAProxy 2.6
/// runs them before the HTTP analysis of the response: they see the parsed head (`status`,
/// `res.hdr`), `res.len` is the size of HAProxy's HTX message, the payload fetches find
/// nothing; `reject` closes the client's connection unanswered (`PD` in the log),
/// `close` lets the answer through. The same backends through Debian's HAProxy and
/// corelb: what the client got and the log lines must agree.
#[test]
fn tcp_response_rules_in_mode_http_match_haproxy() {
    let srv = answering(b"HTTP/1.1 201 Created\r\nX-A: aval\r\nContent-Length: 5\r\n\r\nhello");
    let rules = [
        "",
        "  tcp-response content reject if { res.hdr(x-a) aval }\n",
        "  tcp-response content close if { status 201 }\n",
        "  tcp-response content accept if { status 200 }\n  tcp-response content silent-drop if { res.len gt 40 }\n",
    ];
    let run = |prog: &str| {
        let ports: Vec<u16> = rules.iter().map(|_| free_port()).collect();
        let mut cfg = "global\n  log stderr format raw local0\ndefaults\n  mode http\n  log global\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n  log-format \"%b %ST %tsc len=%[var(txn.len)]\"\n".to_string();
        for (i, (p, r)) in ports.iter().zip(rules).enumerate() {
            cfg += &format!(
                "frontend f{i}\n  bind 127.0.0.1:{p}\n  default_backend b{i}\n\
backend b{i}\n  tcp-response inspect-delay 2s\n\
  tcp-response content set-var(txn.len) res.len\n\
  tcp-response content set-var(txn.st) status\n\
  tcp-response content set-var(txn.hdr) res.hdr(x-a)\n\
  tcp-response content set-var(txn.pl) res.payload(0,4)\n\
  tcp-response content set-var(txn.pls) res.payload(0,4) if {{ res.payload(0,4) -m found }}\n{r}\
  http-response set-header X-Len %[var(txn.len)]\n  http-response set-header X-St %[var(txn.st)]\n\
  http-response set-header X-Hdr %[var(txn.hdr)]\n  http-response set-header X-Pl %[var(txn.pls)]\n\
  server s 127.0.0.1:{}\n",
                srv.port
            );
        }
        let (mut h, mut c) = (None, None);
        if prog == "haproxy" {
            h = Some(Haproxy::start(&cfg, &ports)?);
        } else {
            c = Some(Corelb::start(&cfg, &["--shards", "1"], &ports));
        }
        let log = || match (&h, &c) {
            (Some(h), _) => h.log(),
            (_, Some(c)) => c.log(),
            _ => String::new(),
        };
        let mut seen: Vec<String> = ports
            .iter()
            .map(|&p| {
                let c = TcpStream::connect(("127.0.0.1", p)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut w = c.try_clone().unwrap();
                w.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut all = Vec::new();
                let r = BufReader::new(c).read_to_end(&mut all);
                let t = String::from_utf8_lossy(&all).to_lowercase();
                if t.is_empty() {
                    return format!("nothing ({})", if r.is_err() { "reset" } else { "closed" });
                }
                let (head, body) = t.split_once("\r\n\r\n").unwrap_or((&t, ""));
                let mut h: Vec<&str> = head.lines().filter(|l| l.starts_with("x-")).collect();
                h.sort();
                format!(
                    "{} {} {body}",
                    head.lines().next().unwrap_or(""),
                    h.join(" ")
                )
            })
            .collect();
        let lines = eventually(Duration::from_secs(5), || {
            let l: Vec<String> = log()
                .lines()
                .filter(|l| l.starts_with('b'))
                .map(String::from)
                .collect();
            (l.len() == rules.len()).then_some(l)
        })
        .unwrap_or_default();
        let mut lines = lines;
        lines.sort();
        seen.extend(lines);
        Some(seen)
    };
    let ours = run(corelb_bin()).unwrap();
    // Without a rule that needs the answer, HAProxy runs them once before it came: the
    // variables hold what an empty response gave (`res.len` 0, no status, no field).
    assert_eq!(
        ours,
        [
            "http/1.1 201 created x-a: aval x-hdr:  x-len: 0 x-pl:  x-st:  hello",
            "nothing (closed)",
            "http/1.1 201 created x-a: aval x-hdr: aval x-len: 66 x-pl:  x-st: 201 hello",
            "nothing (reset)",
            "b0 201 ---- len=0",
            "b1 201 PD-- len=66",
            "b2 201 ---- len=66",
            "b3 201 PR-- len=66",
        ]
    );
    if let Some(theirs) = run("haproxy") {
        assert_eq!(theirs, ours);
    }
}

/// More header rules than an edit list holds inline (16): HAProxy applies every one, and so
/// must corelb. Before, the 17th and later edits of a message were dropped (logged at debug
/// level only): the server and the client missed fields, and late set/del rules did nothing.
#[test]
fn many_header_rules_all_apply_as_haproxy() {
    let web = head_echo();
    let run = |prog: &str| {
        let port = free_port();
        let mut rules = String::new();
        for i in 0..40 {
            rules.push_str(&format!("  http-request add-header x-q{i} v{i}\n"));
            rules.push_str(&format!("  http-response add-header x-r{i} w{i}\n"));
        }
        // Set and delete past the 16th edit: they must see (and remove) earlier fields.
        rules.push_str("  http-request set-header x-q3 again\n  http-request del-header x-q5\n");
        rules.push_str("  http-response set-header x-r3 again\n  http-response del-header x-r5\n");
        rules.push_str("  http-request set-header x-seen %[req.hdr_cnt(x-q39)]/%[req.hdr(x-q3)]\n");
        let cfg = format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n{rules}  default_backend b\nbackend b\n  server s 127.0.0.1:{w}\n",
            w = web.port
        );
        let (_c, _h);
        if prog == "haproxy" {
            _h = Haproxy::start(&cfg, &[port])?;
        } else {
            _c = Corelb::start(&cfg, &["--shards", "1"], &[port]);
        }
        let r = get(port, "/", "");
        let body = text(&r);
        let mut seen: Vec<String> = body
            .lines()
            .filter(|l| l.starts_with("x-"))
            .map(String::from)
            .collect();
        let mut res: Vec<String> = r
            .headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-r"))
            .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
            .collect();
        seen.append(&mut res);
        Some((r.status, seen))
    };
    let (status, ours) = run(corelb_bin()).unwrap();
    assert_eq!(status, 200);
    // 40 added, x-q5 deleted, x-q3 set once, x-seen: on each side.
    assert_eq!(
        ours.iter().filter(|l| l.starts_with("x-q")).count(),
        39,
        "{ours:?}"
    );
    assert_eq!(
        ours.iter().filter(|l| l.starts_with("x-r")).count(),
        39,
        "{ours:?}"
    );
    for want in [
        "x-q3: again",
        "x-q39: v39",
        "x-seen: 1/again",
        "x-r3: again",
        "x-r39: w39",
    ] {
        assert!(ours.iter().any(|l| l == want), "{want} missing: {ours:?}");
    }
    assert!(
        !ours
            .iter()
            .any(|l| l.starts_with("x-q5:") || l.starts_with("x-r5:"))
    );
    if let Some((hs, theirs)) = run("haproxy") {
        assert_eq!((hs, theirs), (status, ours));
    }
}

/// A condition on the request's headers in `http-response` (or on the response in
/// `http-request`) finds nothing in HAProxy: it warns at load that the ACL "will never
/// match", and the rule never applies (`method` and captures stay, they are kept with the
/// transaction). corelb read the request there and applied the rules. Both the warnings
/// (`-c`) and what the client sees must be HAProxy's.
#[test]
fn conditions_on_the_wrong_side_never_match_as_haproxy() {
    let cfg = |port: u16, web: u16| {
        format!(
            "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  acl is_a path /a\n  http-response set-header X-P yes if {{ path /a }}\n  http-response set-header X-H yes if {{ hdr(x-in) 1 }}\n  http-response set-header X-M yes if {{ method GET }}\n  http-response set-header X-N yes if is_a\n  http-response set-header X-U yes unless {{ url_param(q) 1 }}\n  http-response set-header X-S yes if {{ status 200 }}\n  http-request set-header X-R yes if {{ status 200 }}\n  http-request set-header X-Q yes if {{ path /a }}\n  http-after-response set-header X-A yes if {{ path /a }}\n  use_backend b if {{ path /a }} !{{ res.hdr(x) 1 }}\n  default_backend b\nbackend b\n  http-response set-header X-BP yes if {{ path /a }}\n  server s 127.0.0.1:{web}\n"
        )
    };
    let web = head_echo();
    let dir = TempDir::new("place");
    let path = dir.write("c.cfg", &cfg(free_port(), web.port));
    let warnings = |out: &str| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_once("c.cfg:").map(|(_, r)| r))
            .filter_map(|r| {
                let (line, msg) = r.split_once(':')?;
                let msg = msg.trim().trim_start_matches("warning:").trim();
                msg.contains("incompatible")
                    .then(|| format!("{line}: {msg}"))
            })
            .collect();
        v.sort();
        v
    };
    let (code, out, err) = check_config(&path);
    assert_eq!(code, 0, "{out}{err}");
    let ours = warnings(&format!("{out}{err}"));
    assert_eq!(ours.len(), 8, "{ours:#?}");
    let hx = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&path)
        .output();
    if let Ok(o) = hx {
        let all =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        // HAProxy writes `parsing [/path/c.cfg:N] : …`.
        let theirs: Vec<String> = {
            let mut v: Vec<String> = all
                .lines()
                .filter_map(|l| l.split_once("c.cfg:").map(|(_, r)| r))
                .filter_map(|r| {
                    let (line, msg) = r.split_once("] :")?;
                    msg.contains("incompatible")
                        .then(|| format!("{line}: {}", msg.trim()))
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(theirs, ours);
    }
    let run = |prog: &str| {
        let port = free_port();
        let conf = cfg(port, web.port);
        let (_c, _h);
        if prog == "haproxy" {
            _h = Haproxy::start(&conf, &[port])?;
        } else {
            _c = Corelb::start(&conf, &["--shards", "1"], &[port]);
        }
        let r = get(port, "/a?q=1", "x-in: 1\r\n");
        let body = text(&r);
        let mut seen: Vec<String> = r
            .headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-"))
            .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
            .collect();
        seen.extend(
            body.lines()
                .filter(|l| l.starts_with("x-"))
                .map(|l| format!("server {l}")),
        );
        seen.sort();
        Some((r.status, seen))
    };
    let ours = run(corelb_bin()).unwrap();
    assert_eq!(
        ours,
        (
            200,
            vec![
                "server x-in: 1".to_string(),
                "server x-q: yes".to_string(),
                "x-m: yes".to_string(),
                "x-s: yes".to_string(),
                "x-u: yes".to_string(),
            ]
        )
    );
    if let Some(theirs) = run("haproxy") {
        assert_eq!(theirs, ours);
    }
}

/// The first message of `prog -c` on a refused `path` (`N: message`), `None` if accepted;
/// `None` outside without `prog`.
fn first_error(prog: &str, path: &std::path::Path) -> Option<Option<String>> {
    let (ok, msgs) = check_messages(prog, path)?;
    Some(msgs.into_iter().next().filter(|_| !ok))
}

#[test]
fn fetches_on_the_wrong_side_of_formats_and_expressions_are_refused_as_haproxy() {
    // Each line once in a frontend (line 8), with HAProxy 2.6's error; None: accepted.
    let fe = |line: &str| {
        format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:1\n  {line}\n  default_backend b\nbackend b\n  stick-table type string size 1\n  server s 127.0.0.1:2\n"
        )
    };
    let cases: &[(String, Option<&str>)] = &[
        (
            fe("http-response set-header X %[path]"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-response set-header' rule : sample fetch <path]> may not be reliably used here because it needs 'HTTP request headers' which is not available here.",
            ),
        ),
        (
            fe("http-request set-var(txn.x) status"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request set-var(txn.x)' rule : fetch method 'set-var(txn.x)' extracts information from 'HTTP response', none of which is available here.",
            ),
        ),
        (
            fe("http-request set-header Y %[be_name]"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request set-header' rule : sample fetch <be_name]> may not be reliably used here because it needs 'backend' which is not available here.",
            ),
        ),
        (
            fe("http-request set-var(txn.y) srv_name"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request set-var(txn.y)' rule : fetch method 'set-var(txn.y)' extracts information from 'server', none of which is available here.",
            ),
        ),
        (
            fe("http-request return status 200 content-type text/plain lf-string %[status]"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request return' rule : sample fetch <status]> may not be reliably used here because it needs 'HTTP response' which is not available here.",
            ),
        ),
        (
            fe("http-request redirect location /x%[res.hdr(x)]"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request redirect' rule : sample fetch <res.hdr(x)]> may not be reliably used here because it needs 'HTTP response headers' which is not available here.",
            ),
        ),
        (
            fe("http-request capture status len 3"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request capture' rule : fetch method 'status' extracts information from 'HTTP response', none of which is available here.",
            ),
        ),
        (
            fe("http-request track-sc0 status table b"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-request track-sc0' rule : fetch method 'status' extracts information from 'HTTP response', none of which is available here.",
            ),
        ),
        (
            fe("http-after-response set-var-fmt(txn.a) %[url]"),
            Some(
                "error detected in frontend 'fe' while parsing 'http-after-response set-var-fmt(txn.a)' rule : sample fetch <url]> may not be reliably used here because it needs 'HTTP request headers' which is not available here.",
            ),
        ),
        // Logged when the stream ends, when the headers are gone (even a response's).
        (
            fe("log-format \"%[res.hdr(x)] %[status]\""),
            Some(
                "failed to parse log-format : sample fetch <res.hdr(x)] %[status]> may not be reliably used here because it needs 'HTTP response headers' which is not available here.",
            ),
        ),
        (
            fe("unique-id-format %[be_name]"),
            Some(
                "failed to parse unique-id : sample fetch <be_name]> may not be reliably used here because it needs 'backend' which is not available here.",
            ),
        ),
        // HAProxy 2.6 does not check the old `redirect` keyword's format.
        (fe("redirect location /x%[res.hdr(x)]"), None),
        (
            fe("log-format \"%[status] %[be_name] %[capture.req.hdr(0)]\""),
            None,
        ),
        (fe("http-request set-header Y %[var(txn.a)]"), None),
        // A listen section is both sides ("proxy" in HAProxy's words).
        (
            format!(
                "{DEFAULTS}listen fe\n  bind 127.0.0.1:1\n  http-request set-header Y %[be_name]\n  http-response set-header x %[res.hdr(y)]\n  http-request set-header x %[res.hdr(y)]\n  server s 127.0.0.1:2\n"
            ),
            Some(
                "error detected in proxy 'fe' while parsing 'http-request set-header' rule : sample fetch <res.hdr(y)]> may not be reliably used here because it needs 'HTTP response headers' which is not available here.",
            ),
        ),
    ];
    let dir = TempDir::new("wrongside");
    for (cfg, want) in cases {
        let path = dir.write("c.cfg", cfg);
        let want = want.map(|m| {
            let n = if cfg.contains("listen") { 10 } else { 8 };
            format!("{n}: {m}")
        });
        let ours = first_error(corelb_bin(), &path).unwrap();
        assert_eq!(ours, want, "{cfg}");
        if let Some(theirs) = first_error("haproxy", &path) {
            assert_eq!(theirs, ours, "{cfg}");
        }
    }
}
