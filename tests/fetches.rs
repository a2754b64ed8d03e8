//! Sample fetches beyond the request's parts (`date`, `env`, `hostname`, `rand`, `uuid`,
//! `thread`, `nbproc`, `src_is_local`, `req.hdrs`, `req.hdr_names`, `baseq`, `base32`,
//! `url32`, `+src` forms, `url_ip`, `url_port`, `http_auth_bearer`, `capture.*.ver`,
//! `req.body_param`, `res.hdrs`, `res.hdr_names`), run the same through Debian's HAProxy 2.6
//! and corelb: one configuration sets a header per fetch, on the request (what the server
//! saw) and on the response (what the client saw). Values that legitimately differ (time,
//! random, thread) are compared by shape and range; the rest must be equal.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};

/// (header, fetch) set on the request; `req.hdrs` and `req.hdr_names` come first, before
/// the headers whose values differ by nature are added.
const REQUEST: &[(&str, &str)] = &[
    ("x-hdrs", "req.hdrs,hex"),
    ("x-names", "req.hdr_names(;)"),
    ("x-names-default", "req.hdr_names"),
    ("x-date", "date"),
    ("x-date-ms", "date(0,ms)"),
    ("x-date-us-unit", "date(0,us)"),
    ("x-date-offset", "date(-3600)"),
    ("x-date-us", "date_us"),
    ("x-env", "env(CORELB_FETCH_TEST)"),
    ("x-env-none", "env(CORELB_FETCH_TEST_UNSET)"),
    ("x-hostname", "hostname"),
    ("x-rand", "rand(100)"),
    ("x-rand-full", "rand"),
    ("x-uuid", "uuid"),
    ("x-uuid4", "uuid(4)"),
    ("x-thread", "thread"),
    ("x-nbproc", "nbproc"),
    ("x-proc", "proc"),
    ("x-src-local", "src_is_local"),
    ("x-dst-local", "dst_is_local"),
    ("x-baseq", "baseq"),
    ("x-base32", "base32"),
    ("x-url32", "url32"),
    ("x-base32-src", "base32+src,hex"),
    ("x-url32-src", "url32+src,hex"),
    ("x-url-ip", "url_ip"),
    ("x-url-port", "url_port"),
    ("x-bearer", "http_auth_bearer"),
    ("x-bearer-h", "http_auth_bearer(x-token)"),
    ("x-cap-ver", "capture.req.ver"),
    ("x-body-b", "req.body_param(b)"),
    ("x-body-any", "req.body_param"),
];

/// How many of [`REQUEST`] one request gets (the rest are for the requests with the next
/// `X-Group`).
const GROUP: usize = 12;

/// (header, fetch) set on the response.
const RESPONSE: &[(&str, &str)] = &[
    ("x-res-hdrs", "res.hdrs,hex"),
    ("x-res-names", "res.hdr_names"),
    ("x-res-ver", "capture.res.ver"),
    ("x-res-cap-req-ver", "capture.req.ver"),
];

fn config(port: u16, server: u16) -> String {
    let mut c = format!(
        "global
    setenv CORELB_FETCH_TEST from-setenv
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    option http-buffer-request
"
    );
    // corelb edits at most 16 fields per message: each request carries a group of them.
    for (i, (h, f)) in REQUEST.iter().enumerate() {
        let g = i / GROUP;
        c += &format!("    http-request set-header {h} %[{f}] if {{ req.hdr(x-group) {g} }}\n");
    }
    for (h, f) in RESPONSE {
        c += &format!("    http-response set-header {h} %[{f}]\n");
    }
    c += &format!("    default_backend be\nbackend be\n    server s 127.0.0.1:{server}\n");
    c
}

/// A server that answers every request with the `x-*` headers it received as its body,
/// one `name: value` line each, and a fixed header of its own.
fn mirror() -> Backend {
    mirror_lingering(std::time::Duration::ZERO)
}

/// [`mirror`], keeping the connection open for `linger` after answering: HAProxy frees a
/// server's connection slot as soon as the server closes, before its `http-response`
/// rules run when the answer and the close arrive together.
fn mirror_lingering(linger: std::time::Duration) -> Backend {
    Backend::start(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let Some(req) = read_request_head(&mut r) else {
            return;
        };
        if let Some(n) = req.header("content-length").and_then(|n| n.parse().ok()) {
            let mut body = vec![0u8; n];
            let _ = r.read_exact(&mut body);
        }
        let mut body = String::new();
        for (k, v) in &req.headers {
            let k = k.to_ascii_lowercase();
            if k.starts_with("x-") && k != "x-token" {
                body += &format!("{k}: {v}\n");
            }
        }
        // A body of one size, whatever the values: `res.hdrs` shows its Content-Length.
        body += &" ".repeat(4096 - body.len());
        let mut s = s;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Srv: mirror\r\n\r\n{body}",
            body.len()
        );
        std::thread::sleep(linger);
    })
}

/// The `x-*` headers the server saw (the body) and the client saw (the response).
fn seen(raw: &str) -> BTreeMap<String, String> {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut m = BTreeMap::new();
    for l in head.lines().skip(1).chain(body.lines()) {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k.starts_with("x-") {
                m.insert(k, v.trim().to_string());
            }
        }
    }
    m.insert("status".into(), head.lines().next().unwrap_or("").into());
    m
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Checks the values that differ by nature and takes them out of the comparison.
fn volatile(m: &mut BTreeMap<String, String>, who: &str) {
    let t = now();
    let near = |v: i64, at: i64, slack: i64| (at - slack..=at + slack).contains(&v);
    let mut check = |k: &str, ok: &dyn Fn(&str) -> bool| {
        if let Some(v) = m.remove(k) {
            assert!(ok(&v), "{who}: {k} is {v:?}");
        }
    };
    let i = |v: &str| v.parse::<i64>().unwrap_or(i64::MIN);
    check("x-date", &|v| near(i(v), t, 5));
    check("x-date-ms", &|v| near(i(v) / 1000, t, 5));
    check("x-date-us-unit", &|v| near(i(v) / 1_000_000, t, 5));
    check("x-date-offset", &|v| near(i(v), t - 3600, 5));
    check("x-date-us", &|v| (0..1_000_000).contains(&i(v)));
    check("x-rand", &|v| (0..100).contains(&i(v)));
    check("x-rand-full", &|v| (0..1 << 32).contains(&i(v)));
    let uuid = |v: &str| {
        v.len() == 36
            && v.char_indices().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
                }
            })
            && &v[14..15] == "4"
            && "89ab".contains(&v[19..20])
    };
    check("x-uuid", &uuid);
    check("x-uuid4", &uuid);
    let cpus = std::thread::available_parallelism().map_or(64, |n| n.get() as i64);
    check("x-thread", &|v| (0..cpus).contains(&i(v)));
}

#[test]
fn fetches_match_haproxy() {
    let server = mirror();
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&config(hp, server.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&config(cp, server.port), &[], &[cp]);
    let requests: &[&str] = &[
        "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer tok123\r\nX-Token: Bearer  t2\r\nConnection: close\r\n\r\n",
        "GET http://10.1.2.3:8080/p?q HTTP/1.1\r\nHost: 10.1.2.3:8080\r\nX-Token: Basic abc\r\nConnection: close\r\n\r\n",
        "GET https://10.9.8.7/s HTTP/1.1\r\nHost: 10.9.8.7\r\nConnection: close\r\n\r\n",
        "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nConnection: close\r\n\r\na=1&b=2&b=3",
        "GET /nohost?k=v HTTP/1.0\r\n\r\n",
    ];
    let mut diffs = Vec::new();
    let mut agreed = Vec::new();
    for req in requests {
        let mut all = BTreeMap::new();
        for g in 0..REQUEST.len().div_ceil(GROUP) {
            let req = req.replacen("\r\n", &format!("\r\nX-Group: {g}\r\n"), 1);
            let mut h = seen(&raw_exchange(hp, req.as_bytes()));
            let mut c = seen(&raw_exchange(cp, req.as_bytes()));
            // Every header of the group is there, on both sides.
            for (k, _) in REQUEST.iter().skip(g * GROUP).take(GROUP).chain(RESPONSE) {
                for (who, m) in [("haproxy", &h), ("corelb", &c)] {
                    if !m.contains_key(*k) {
                        diffs.push(format!("{who}: no {k} for {:?}", req.lines().next()));
                    }
                }
            }
            volatile(&mut h, "haproxy");
            volatile(&mut c, "corelb");
            let keys: std::collections::BTreeSet<_> = h.keys().chain(c.keys()).collect();
            for k in keys {
                if h.get(k) != c.get(k) {
                    diffs.push(format!(
                        "{:?} {k}\n  haproxy: {:?}\n  corelb:  {:?}",
                        req.lines().next().unwrap_or(""),
                        h.get(k),
                        c.get(k)
                    ));
                }
            }
            all.extend(c);
        }
        agreed.push(all);
    }
    assert!(
        diffs.is_empty(),
        "corelb and HAProxy differ:\n{}\n\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
    // What they agreed on is the fetches at work, not two identical failures.
    let first = &agreed[0];
    assert_eq!(first["x-env"], "from-setenv");
    assert_eq!(first["x-bearer"], "tok123");
    assert_eq!(first["x-bearer-h"], "t2");
    assert_eq!(first["x-baseq"], "example.com/a/b?x=1");
    assert_eq!(first["x-src-local"], "1");
    assert_eq!(first["x-nbproc"], "1");
    assert_eq!(first["x-cap-ver"], "HTTP/1.1");
    assert_eq!(first["x-res-ver"], "HTTP/1.1");
    assert!(first["x-base32"].parse::<u32>().is_ok());
    assert_eq!(first["x-base32-src"].len(), 16);
    assert!(first["x-names"].starts_with("x-group;host;authorization;x-token"));
    assert!(first["x-res-names"].contains("x-srv"));
    assert!(!first["x-hostname"].is_empty());
    assert_eq!(agreed[1]["x-url-ip"], "10.1.2.3");
    assert_eq!(agreed[1]["x-url-port"], "8080");
    assert_eq!(agreed[2]["x-url-port"], "443");
    assert_eq!(agreed[3]["x-body-b"], "2");
    assert_eq!(agreed[3]["x-body-any"], "1");
}

#[test]
fn fetch_argument_errors_match_haproxy() {
    let dir = TempDir::new("fetch-args");
    for (expr, needle) in [
        (
            "date(x)",
            "fetch method 'date' : failed to parse 'x' as type 'integer' at position 1",
        ),
        (
            "date(1,x)",
            "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'x'",
        ),
        (
            "uuid(3)",
            "invalid args in fetch method 'uuid' : Unsupported UUID version: '3'",
        ),
        (
            "rand(x)",
            "fetch method 'rand' : failed to parse 'x' as type 'integer' at position 1",
        ),
        (
            "base32(1)",
            "fetch method 'base32' : expected ')' before '1)",
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{}\n    http-request set-header X %[{expr}]\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n",
            free_port()
        );
        let path = dir.write("t.cfg", &cfg);
        let hap = std::process::Command::new("haproxy")
            .args(["-c", "-f"])
            .arg(&path)
            .output();
        if let Ok(o) = hap {
            let text = String::from_utf8_lossy(&o.stderr).to_string()
                + &String::from_utf8_lossy(&o.stdout);
            assert!(text.contains(needle), "haproxy on {expr}: {text}");
        }
        expect_check(&dir, &cfg, 1, needle);
    }
}

#[test]
fn tls_fetches_match_haproxy() {
    let dir = TempDir::new("fetch-tls");
    let pem = self_signed_pem(&dir, "site.pem", &["site.example"]);
    let cfg = |port: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {}
    http-request return status 200 content-type text/plain lf-string \"sni=%[ssl_fc_has_sni] crt=%[ssl_fc_has_crt] use=%[ssl_fc_use_keysize] alg=%[ssl_fc_alg_keysize] cipher=%[ssl_fc_cipher]\"
",
            pem.display()
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(_haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let _corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    // TLS 1.2 with an AES-128 suite, and TLS 1.3 with curl's and the servers' choice.
    for extra in [
        &[
            "--tlsv1.2",
            "--tls-max",
            "1.2",
            "--ciphers",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ][..],
        &["--tlsv1.3"][..],
    ] {
        let (h, he) = curl_tls(&pem, "site.example", hp, "/", extra);
        let (c, ce) = curl_tls(&pem, "site.example", cp, "/", extra);
        assert_eq!(c, h, "{extra:?}\nhaproxy: {he}\ncorelb: {ce}");
        assert!(c.starts_with("sni=1 crt=0 use="), "{c}");
    }
    assert!(
        curl_tls(
            &pem,
            "site.example",
            cp,
            "/",
            &[
                "--tlsv1.2",
                "--tls-max",
                "1.2",
                "--ciphers",
                "ECDHE-ECDSA-AES128-GCM-SHA256"
            ]
        )
        .0
        .contains("use=128 alg=128")
    );
}

#[test]
fn fetches_corelb_lacks_say_why() {
    let dir = TempDir::new("fetch-lacks");
    for (expr, needle) in [
        (
            "fcgi.docroot",
            "fetch method 'fcgi.docroot' is not supported: corelb has no FastCGI applications (fcgi-app)",
        ),
        (
            "internal.htx.size",
            "is not supported: HAProxy's internal HTX debugging fetches: corelb has no HTX",
        ),
        (
            "ssl_fc_client_traffic_secret_0",
            "is not supported: rustls does not expose TLS secrets or session keys",
        ),
        ("cpu_ns_avg", "is not supported: corelb does not measure"),
        (
            "fc_rcvd_proxy",
            "fetch method 'fc_rcvd_proxy' is not supported: not implemented in corelb yet",
        ),
        (
            "ssl_bc_session_id,hex",
            "fetch method 'ssl_bc_session_id' is not supported: rustls does not expose the handshake's randoms, session id",
        ),
        (
            "ssl_bc_err",
            "fetch method 'ssl_bc_err' is not supported: rustls has no OpenSSL error codes",
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{}\n    http-request set-header X %[{expr}]\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n",
            free_port()
        );
        expect_check(&dir, &cfg, 1, needle);
    }
}

/// The proxy and server fetches, through Debian's HAProxy and corelb: in the frontend's
/// `http-request` rules (the backend is still the frontend, no server yet), in the
/// backend's (the backend chosen) and in `http-response` rules (the server too), with and
/// without a backend or server argument.
#[test]
fn proxy_and_server_fetches_match_haproxy() {
    let server = mirror_lingering(std::time::Duration::from_millis(300));
    let cfg = |port: u16| {
        let set = |rules: &str, list: &[(&str, &str)]| -> String {
            list.iter()
                .map(|(h, f)| format!("    {rules} set-header {h} %[{f}]\n"))
                .collect()
        };
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
{}{}    http-response set-header x-res-up-cond up if {{ srv_is_up(be/s1) }}
    http-response set-header x-res-down-cond down if {{ srv_is_up(be/s2) }}
    default_backend be
backend be
    id 42
{}{}    server s1 127.0.0.1:{} id 7 maxconn 10 maxqueue 5 weight 3
    server s2 127.0.0.1:1 disabled
",
            set(
                "http-request",
                &[
                    ("x-fe-name", "fe_name"),
                    ("x-fe-id", "fe_id"),
                    ("x-fe-defbe", "fe_defbe"),
                    ("x-req-be-conn", "be_conn(be)"),
                    ("x-req-srv-up", "srv_is_up(be/s1)"),
                    ("x-req-srv-down", "srv_is_up(be/s2)"),
                    ("x-req-fe-conn", "fe_conn"),
                    ("x-req-fe-conn-named", "fe_conn(fe)"),
                    ("x-req-queue", "queue(be)"),
                    ("x-req-avg-queue", "avg_queue(be)"),
                ]
            ),
            set(
                "http-response",
                &[
                    ("x-res-be-name", "be_name"),
                    ("x-res-be-id", "be_id"),
                    ("x-res-srv-name", "srv_name"),
                    ("x-res-srv-id", "srv_id"),
                    ("x-res-srv-conn", "srv_conn(be/s1)"),
                    ("x-res-srv-conn-free", "srv_conn_free(be/s1)"),
                    ("x-res-srv-queue", "srv_queue(be/s1)"),
                    ("x-res-iweight", "srv_iweight(be/s1)"),
                    ("x-res-uweight", "srv_uweight(be/s1)"),
                ]
            ),
            set(
                "http-request",
                &[
                    ("x-be-be-name", "be_name"),
                    ("x-be-be-id", "be_id"),
                    ("x-be-fe-name", "fe_name"),
                    ("x-be-srv-up", "srv_is_up(s1)"),
                    ("x-be-queue", "queue"),
                    ("x-be-connslots", "connslots"),
                ]
            ),
            set(
                "http-response",
                &[
                    ("x-bres-be-conn", "be_conn"),
                    ("x-bres-conn-free", "be_conn_free"),
                    ("x-bres-connslots", "connslots"),
                    ("x-bres-srv-name", "srv_name"),
                ]
            ),
            server.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let req = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let h = seen(&raw_exchange(hp, req));
    let c = seen(&raw_exchange(cp, req));
    assert_eq!(
        c,
        h,
        "haproxy log:\n{}\ncorelb log:\n{}",
        haproxy.log(),
        corelb.log()
    );
    // What they agreed on is the fetches at work.
    let want = [
        ("x-fe-name", "fe"),
        ("x-fe-defbe", "be"),
        ("x-req-be-conn", "0"),
        ("x-req-srv-up", "1"),
        ("x-req-srv-down", "0"),
        ("x-req-fe-conn", "1"),
        ("x-be-be-name", "be"),
        ("x-be-fe-name", "fe"),
        ("x-be-srv-up", "1"),
        ("x-be-connslots", "15"),
        ("x-res-be-name", "be"),
        ("x-res-be-id", "42"),
        ("x-res-srv-name", "s1"),
        ("x-res-srv-id", "7"),
        ("x-res-srv-conn-free", "9"),
        ("x-res-iweight", "3"),
        ("x-res-up-cond", "up"),
        ("x-bres-be-conn", "1"),
        ("x-bres-conn-free", "9"),
        ("x-bres-connslots", "14"),
        ("x-bres-srv-name", "s1"),
    ];
    for (k, v) in want {
        assert_eq!(c.get(k).map(String::as_str), Some(v), "{k}: {c:?}");
    }
}

#[test]
fn proxy_fetch_argument_errors_match_haproxy() {
    let dir = TempDir::new("fetch-px-args");
    for (expr, needle) in [
        (
            "be_conn(nobk)",
            "unable to find backend 'nobk' referenced in arg 1 of sample fetch keyword 'be_conn'",
        ),
        (
            "be_conn(f)",
            "unable to find backend 'f' referenced in arg 1 of sample fetch keyword 'be_conn'",
        ),
        (
            "fe_conn(b)",
            "unable to find frontend 'b' referenced in arg 1 of sample fetch keyword 'fe_conn'",
        ),
        (
            "srv_is_up(b/nosrv)",
            "unable to find server 'nosrv' in proxy 'b', referenced in arg 1 of sample fetch keyword 'srv_is_up'",
        ),
        (
            "srv_conn(s)",
            "unable to find server 's' in proxy 'f', referenced in arg 1 of sample fetch keyword 'srv_conn'",
        ),
        (
            "fe_name(1)",
            "fetch method 'fe_name' : expected ')' before '1)",
        ),
        (
            "queue(b,c)",
            "fetch method 'queue' : expected ')' before ',c)",
        ),
        (
            "be_conn",
            "proxy 'f', referenced in arg 1 of sample fetch keyword 'be_conn'",
        ),
        (
            "srv_queue",
            "missing server name in arg 1 of sample fetch keyword 'srv_queue'",
        ),
        (
            "fc_rtt(x)",
            "invalid args in fetch method 'fc_rtt' : expects 'us' or 'ms', got 'x'",
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{}\n    http-request set-header X %[{expr}]\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n",
            free_port()
        );
        let path = dir.write("t.cfg", &cfg);
        let hap = std::process::Command::new("haproxy")
            .args(["-c", "-f"])
            .arg(&path)
            .output();
        if let Ok(o) = hap {
            let text = String::from_utf8_lossy(&o.stderr).to_string()
                + &String::from_utf8_lossy(&o.stdout);
            assert!(text.contains(needle), "haproxy on {expr}: {text}");
        }
        expect_check(&dir, &cfg, 1, needle);
    }
}

/// The TCP_INFO fetches on the client socket, through Debian's HAProxy and corelb: on an
/// idle loopback connection the counters agree exactly; the times are the kernel's
/// estimates (compared by range), in milliseconds by default.
#[test]
fn tcp_info_fetches_match_haproxy() {
    let server = mirror();
    let fetches = [
        ("x-rtt", "fc_rtt"),
        ("x-rtt-us", "fc_rtt(us)"),
        ("x-rtt-ms", "fc_rtt(ms)"),
        ("x-rttvar-us", "fc_rttvar(us)"),
        ("x-unacked", "fc_unacked"),
        ("x-sacked", "fc_sacked"),
        ("x-retrans", "fc_retrans"),
        ("x-fackets", "fc_fackets"),
        ("x-lost", "fc_lost"),
        ("x-reordering", "fc_reordering"),
    ];
    let cfg = |port: u16| {
        let mut c = format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port}\n"
        );
        for (h, f) in fetches {
            c += &format!("    http-request set-header {h} %[{f}]\n");
        }
        c + &format!(
            "    default_backend be\nbackend be\n    server s 127.0.0.1:{}\n",
            server.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let req = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let mut h = seen(&raw_exchange(hp, req));
    let mut c = seen(&raw_exchange(cp, req));
    for (who, m) in [("haproxy", &mut h), ("corelb", &mut c)] {
        let int = |k: &str| -> i64 {
            m.get(k)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{who}: {k} in {m:?}"))
        };
        let (us, ms, var) = (int("x-rtt-us"), int("x-rtt"), int("x-rttvar-us"));
        assert!(us > 0 && us < 1_000_000, "{who}: rtt {us} us");
        assert!(
            (ms - (us + 500) / 1000).abs() <= 5,
            "{who}: rtt {ms} ms, {us} us"
        );
        assert!(var >= 0, "{who}: rttvar {var}");
        for k in ["x-rtt", "x-rtt-us", "x-rtt-ms", "x-rttvar-us"] {
            m.remove(k);
        }
    }
    assert_eq!(
        c,
        h,
        "haproxy log:\n{}\ncorelb log:\n{}",
        haproxy.log(),
        corelb.log()
    );
    assert_eq!(c["x-unacked"], "0");
    assert!(c["x-reordering"].parse::<u32>().unwrap() > 0);
}

/// Timeouts, weights and the client connection's HTTP version, read in a backend's
/// `http-request return` page, through Debian's HAProxy and corelb (HTTP/1.1 and HTTP/2).
#[test]
fn proxy_timeouts_weights_and_http_major_match_haproxy() {
    let cfg = |port: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    timeout client 4s
    default_backend be
backend be
    timeout server 7s
    timeout tunnel 1h
    http-request return status 200 content-type text/plain lf-string \"w=%[srv_weight(s1)] w3=%[srv_weight(s3)] fhm=%[fc_http_major] ct=%[fe_client_timeout] st=%[be_server_timeout] tt=%[be_tunnel_timeout]\"
    server s1 127.0.0.1:1 weight 3
    server s3 127.0.0.1:1 weight 5 disabled
"
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(_haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let _corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let curl = |port: u16, h2: bool| {
        let mut c = std::process::Command::new("curl");
        c.arg("-s");
        if h2 {
            c.arg("--http2-prior-knowledge");
        }
        let o = c.arg(format!("http://127.0.0.1:{port}/")).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for h2 in [false, true] {
        let (h, c) = (curl(hp, h2), curl(cp, h2));
        assert_eq!(c, h, "h2 {h2}");
    }
    assert_eq!(curl(cp, false), "w=3 w3=5 fhm=1 ct=4000 st=7000 tt=3600000");
    assert!(curl(cp, true).contains("fhm=2"));
}

/// The rates over HAProxy's one-second window (`fe_req_rate`, `fe_sess_rate`,
/// `be_sess_rate`, `srv_sess_rate`: each counts its event before the rules that read it),
/// `http_first_req`, and `capture.req.method`/`capture.req.uri` (the request line as it
/// came, before rules rewrite it), through Debian's HAProxy and corelb: two requests on one connection, then one on another, well within a second.
#[test]
fn rates_first_request_and_captured_request_line_match_haproxy() {
    let server = mirror();
    let cfg = |port: u16, bare: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    log 127.0.0.1:9 local0
    option httplog
    http-request set-header x-fe-req-rate %[fe_req_rate]
    http-request set-header x-fe-sess-rate %[fe_sess_rate]
    http-request set-header x-fe-be-rate %[be_sess_rate(be)]
    http-request set-header x-first %[http_first_req]
    http-request set-header x-cap-method %[capture.req.method]
    http-request set-header x-cap-uri %[capture.req.uri]
    http-request set-header x-first-cond yes if {{ http_first_req }}
    http-response set-header x-res-srv-rate %[srv_sess_rate(be/s1)]
    http-response set-header x-res-fe-req-rate %[fe_req_rate(fe)]
    http-response set-header x-res-bare-sess %[fe_sess_rate(bare)]
    http-response set-header x-res-first %[http_first_req]
    default_backend be
frontend bare
    bind 127.0.0.1:{bare}
    http-request set-header x-cap-method %[capture.req.method]
    http-request set-header x-first %[http_first_req]
    default_backend be
backend be
    # (The mirror answers one request per connection.)
    option http-server-close
    http-request set-header x-be-sess-rate %[be_sess_rate]
    http-response set-header x-res-be-sess-rate %[be_sess_rate]
    server s1 127.0.0.1:{}
",
            server.port
        )
    };
    // Two requests on one connection, one on a second: what each answer showed.
    let run = |port: u16| -> Vec<BTreeMap<String, String>> {
        let mut seen_all = Vec::new();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        for (target, last) in [("/a/b?x=1", false), ("http://h/c?y", true)] {
            let close = if last { "Connection: close\r\n" } else { "" };
            write!(s, "GET {target} HTTP/1.1\r\nHost: h\r\n{close}\r\n").unwrap();
            let resp =
                read_response(&mut r, false).unwrap_or_else(|e| panic!("{target} on {port}: {e}"));
            let mut m = BTreeMap::new();
            for (k, v) in &resp.headers {
                if k.to_ascii_lowercase().starts_with("x-res") {
                    m.insert(k.to_ascii_lowercase(), v.clone());
                }
            }
            for l in String::from_utf8_lossy(&resp.body).lines() {
                if let Some((k, v)) = l.split_once(": ") {
                    m.insert(k.to_string(), v.to_string());
                }
            }
            seen_all.push(m);
        }
        seen_all.push(seen(&raw_exchange(
            port,
            b"PUT /d HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )));
        seen_all
    };
    let (hp, hb, cp, cb) = (free_port(), free_port(), free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&cfg(hp, hb), &[hp, hb]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp, cb), &[], &[cp, cb]);
    let logs = || {
        format!(
            "haproxy log:\n{}\ncorelb log:\n{}",
            haproxy.log(),
            corelb.log()
        )
    };
    let h = run(hp);
    let c = std::panic::catch_unwind(|| run(cp)).unwrap_or_else(|_| panic!("{}", logs()));
    let (hb, cb) = (
        seen(&raw_exchange(
            hb,
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        )),
        seen(&raw_exchange(
            cb,
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        )),
    );
    assert_eq!(c, h, "{}", logs());
    assert_eq!(cb, hb, "{}", logs());
    // What they agreed on is the fetches at work.
    let want: [&[(&str, &str)]; 3] = [
        &[
            ("x-fe-req-rate", "1"),
            ("x-fe-sess-rate", "1"),
            ("x-fe-be-rate", "0"),
            ("x-be-sess-rate", "1"),
            ("x-first", "1"),
            ("x-first-cond", "yes"),
            ("x-cap-method", "GET"),
            ("x-cap-uri", "/a/b?x=1"),
            ("x-res-srv-rate", "1"),
            ("x-res-fe-req-rate", "1"),
            ("x-res-be-sess-rate", "1"),
            ("x-res-bare-sess", "0"),
            ("x-res-first", "1"),
        ],
        &[
            ("x-fe-req-rate", "2"),
            ("x-fe-sess-rate", "1"),
            ("x-fe-be-rate", "1"),
            ("x-be-sess-rate", "2"),
            ("x-first", "0"),
            ("x-cap-uri", "/c?y"),
            ("x-res-srv-rate", "2"),
            ("x-res-first", "0"),
        ],
        &[
            ("x-fe-req-rate", "3"),
            ("x-fe-sess-rate", "2"),
            ("x-be-sess-rate", "3"),
            ("x-first", "1"),
            ("x-cap-method", "PUT"),
            ("x-cap-uri", "/d"),
            ("x-res-srv-rate", "3"),
        ],
    ];
    for (got, want) in c.iter().zip(want) {
        for (k, v) in want {
            assert_eq!(got.get(*k).map(String::as_str), Some(*v), "{k}: {got:?}");
        }
    }
    assert!(!c[1].contains_key("x-first-cond"), "{:?}", c[1]);
    // HAProxy keeps the request line for any proxy with a `%[…]` string reading it.
    assert_eq!(cb["x-cap-method"], "GET");
    assert_eq!(cb["x-first"], "1");
}

/// The listener fetches (`so_id`, `so_name`, `dst_conn`: ids given with `bind … id` and
/// numbered as HAProxy numbers the others, `option socket-stats`'s `sock-N` names, the
/// connections open on the listener, from `tcp-request connection` rules on) and the
/// stream's timeouts (`cur_server_timeout`, `cur_tunnel_timeout`: 0 before the server
/// connection, what `set-timeout` set, the backend's once connected), through Debian's
/// HAProxy 2.6 and corelb.
#[test]
fn listener_fetches_and_stream_timeouts_match_haproxy() {
    let server = mirror();
    let cfg = |p: &[u16]| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{} name one
    bind 127.0.0.1:{} id 7
    bind 127.0.0.1:{},127.0.0.1:{}
    tcp-request connection set-var(sess.dc) dst_conn
    tcp-request connection set-var(sess.id) so_id
    http-request set-header x-a \"id=%[so_id] name=%[so_name] dc=%[dst_conn] sdc=%[var(sess.dc)] sid=%[var(sess.id)]\"
    http-response set-header x-res \"id=%[so_id] name=%[so_name] dc=%[dst_conn] st=%[cur_server_timeout] tt=%[cur_tunnel_timeout]\"
    http-response set-header x-res-named yes if {{ so_name one }}
    default_backend be
frontend fs
    option socket-stats
    bind 127.0.0.1:{} id 2
    bind 127.0.0.1:{}
    bind 127.0.0.1:{} name nm
    http-request return status 200 content-type text/plain lf-string \"x-ret: id=%[so_id] name=%[so_name] dc=%[dst_conn]\"
backend be
    timeout server 7s
    timeout tunnel 1h
    option http-server-close
    http-request set-header x-b \"st=%[cur_server_timeout] tt=%[cur_tunnel_timeout]\"
    http-request set-timeout server 3s if {{ path /t }}
    http-request set-header x-c \"st=%[cur_server_timeout] tt=%[cur_tunnel_timeout]\"
    server s 127.0.0.1:{}
",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], server.port
        )
    };
    let run = |p: &[u16]| -> Vec<BTreeMap<String, String>> {
        let get = |port: u16, path: &str| {
            let r = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            seen(&raw_exchange(port, r.as_bytes()))
        };
        let mut out: Vec<_> = p.iter().map(|&port| get(port, "/t")).collect();
        // A second connection open on the first listener while the request runs.
        let held = std::net::TcpStream::connect(("127.0.0.1", p[0])).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        out.push(get(p[0], "/"));
        drop(held);
        out
    };
    let ports = |_| -> Vec<u16> { (0..7).map(|_| free_port()).collect() };
    let (hp, cp) = (ports(0), ports(1));
    let Some(haproxy) = Haproxy::start(&cfg(&hp), &hp) else {
        return;
    };
    let corelb = Corelb::start(&cfg(&cp), &[], &cp);
    // HAProxy may not yet have seen the close of the connection its start-up wait made to
    // each port (counted in `dst_conn` by a later connection's `tcp-request connection`
    // rule, but gone by its `http-request` rules): a run where those disagree is run again.
    let settled = |r: &Vec<BTreeMap<String, String>>| {
        r.iter().filter_map(|m| m.get("x-a")).all(|a| {
            let f = |k: &str| {
                a.split(' ')
                    .find(|w| w.starts_with(k))
                    .map(|w| &w[k.len()..])
            };
            f("dc=") == f("sdc=")
        })
    };
    let h = eventually(std::time::Duration::from_secs(10), || {
        Some(run(&hp)).filter(|r| settled(r))
    })
    .unwrap_or_else(|| run(&hp));
    let c = run(&cp);
    assert_eq!(
        c,
        h,
        "haproxy log:\n{}\ncorelb log:\n{}",
        haproxy.log(),
        corelb.log()
    );
    // What they agreed on is the fetches at work.
    let v = |i: usize, k: &str| c[i].get(k).cloned().unwrap_or_default();
    assert_eq!(v(0, "x-a"), "id=1 name=one dc=1 sdc=1 sid=1");
    assert_eq!(v(0, "x-res-named"), "yes");
    assert_eq!(v(1, "x-a"), "id=7 name= dc=1 sdc=1 sid=7");
    assert_eq!(v(2, "x-a"), "id=3 name= dc=1 sdc=1 sid=3");
    assert_eq!(v(3, "x-a"), "id=4 name= dc=1 sdc=1 sid=4");
    assert_eq!(v(0, "x-b"), "st=0 tt=0");
    assert_eq!(v(0, "x-c"), "st=3000 tt=0");
    assert_eq!(v(0, "x-res"), "id=1 name=one dc=1 st=3000 tt=3600000");
    assert_eq!(v(4, "x-ret"), "id=2 name=sock-2 dc=1");
    assert_eq!(v(5, "x-ret"), "id=3 name=sock-3 dc=1");
    assert_eq!(v(6, "x-ret"), "id=4 name=nm dc=1");
    assert_eq!(v(7, "x-a"), "id=1 name=one dc=2 sdc=2 sid=1");
    assert_eq!(v(7, "x-c"), "st=0 tt=0");
    assert_eq!(v(7, "x-res"), "id=1 name=one dc=2 st=7000 tt=3600000");
}

/// `bind … id` errors, as HAProxy's `bind_parse_id` gives them.
#[test]
fn bind_id_errors_match_haproxy() {
    let dir = TempDir::new("bind-id");
    let (a, b) = (free_port(), free_port());
    for (binds, needle) in [
        (
            format!("bind 127.0.0.1:{a},127.0.0.1:{b} id 3"),
            "'id' can only be used with a single socket".to_string(),
        ),
        (
            format!("bind 127.0.0.1:{a} id 3\n    bind 127.0.0.1:{b} id 3"),
            "custom id 3 already used at ".to_string(),
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    {binds}\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n"
        );
        let path = dir.write("t.cfg", &cfg);
        if let Ok(o) = std::process::Command::new("haproxy")
            .args(["-c", "-f"])
            .arg(&path)
            .output()
        {
            let text = String::from_utf8_lossy(&o.stderr);
            assert!(text.contains(&needle), "haproxy on {binds}: {text}");
        }
        expect_check(&dir, &cfg, 1, &needle);
    }
}

/// `last_rule_file`, `last_rule_line`: the rule that last stopped one of the stream's rule
/// sets (`tcp-request content accept`, `http-request allow`, `deny`, `redirect`, `return`,
/// `http-response allow`, `return`, `deny`), seen by the rules after it and by
/// `http-after-response` rules (HAProxy records a rule that answers itself, `return` and
/// `redirect`, only once its answer went through those), through Debian's HAProxy 2.6 and
/// corelb (the configuration's line numbers must agree; each names its own file).
#[test]
fn last_rule_fetches_match_haproxy() {
    let server = mirror();
    // (Line numbers matter: the rules stay where they are.)
    let cfg = |port: u16| {
        format!(
            "global
    log stderr format raw local0
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    log global
    log-format \"LR %[last_rule_line] %HP\"
    tcp-request content set-var(txn.t0) last_rule_line
    tcp-request content accept if {{ req.hdr(x-tcp) -m found }}
    http-request set-var(txn.t1) last_rule_line
    http-request allow if {{ path /a }}
    http-request deny if {{ path /d }}
    http-request redirect location /z if {{ path /z }}
    http-after-response set-header x-res-line %[last_rule_line]
    http-after-response set-header x-res-file %[last_rule_file]
    http-after-response set-header x-res-t %[var(txn.t0)]/%[var(txn.t1)]
    default_backend be
backend be
    http-request set-header x-l %[last_rule_line]
    http-request return status 200 content-type text/plain lf-string \"x-ret: %[last_rule_line]\" if {{ path /r }}
    http-response set-header x-res-before %[last_rule_line]
    http-request set-var(txn.p) path
    http-response allow if {{ var(txn.p) -m str /s }} {{ res.hdr(x-srv) -m found }}
    http-response return status 200 if {{ var(txn.p) -m str /q }}
    http-response deny if {{ var(txn.p) -m str /e }}
    server s 127.0.0.1:{}
",
            server.port
        )
    };
    let run = |port: u16| -> Vec<BTreeMap<String, String>> {
        ["/a", "/d", "/z", "/r", "/s", "/q", "/e", "/x", "/tcp"]
            .iter()
            .map(|path| {
                let tcp = if *path == "/tcp" { "X-Tcp: 1\r\n" } else { "" };
                let r = format!("GET {path} HTTP/1.1\r\nHost: h\r\n{tcp}Connection: close\r\n\r\n");
                let mut m = seen(&raw_exchange(port, r.as_bytes()));
                // Each names its own configuration file.
                if let Some(f) = m.get_mut("x-res-file") {
                    assert!(f.is_empty() || f.ends_with(".cfg"), "{f}");
                    *f = if f.is_empty() {
                        "-".into()
                    } else {
                        "FILE".into()
                    };
                }
                m
            })
            .collect()
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let (h, c) = (run(hp), run(cp));
    for (i, (c, h)) in c.iter().zip(&h).enumerate() {
        assert_eq!(
            c,
            h,
            "request {i}\nhaproxy log:\n{}\ncorelb log:\n{}",
            haproxy.log(),
            corelb.log()
        );
    }
    // What they agreed on is the fetches at work.
    let v = |i: usize, k: &str| c[i].get(k).cloned().unwrap_or_default();
    assert_eq!(
        (v(0, "x-l").as_str(), v(0, "x-res-line").as_str()),
        ("15", "15")
    );
    assert_eq!(v(0, "x-res-file"), "FILE");
    assert_eq!(v(1, "x-res-line"), "16");
    assert_eq!(v(2, "x-res-line"), "");
    assert_eq!(
        (v(3, "x-ret").as_str(), v(3, "x-res-line").as_str()),
        ("", "")
    );
    assert_eq!(
        (v(4, "x-res-before").as_str(), v(4, "x-res-line").as_str()),
        ("", "27")
    );
    assert_eq!(v(5, "x-res-line"), "");
    assert_eq!(v(6, "x-res-line"), "29");
    assert_eq!(v(7, "x-res-line"), "");
    assert_eq!(
        (v(8, "x-l").as_str(), v(8, "x-res-t").as_str()),
        ("13", "/13")
    );
    // The log line: a rule that answered itself counts by then.
    let lines = |log: String| {
        let mut l: Vec<String> = log
            .lines()
            .filter_map(|l| l.find("LR ").map(|i| l[i..].to_string()))
            .collect();
        l.sort();
        l
    };
    let want = |l: &[String]| l.len() == 9;
    let hl = eventually(std::time::Duration::from_secs(5), || {
        Some(lines(haproxy.log())).filter(|l| want(l))
    })
    .unwrap_or_else(|| lines(haproxy.log()));
    let cl = eventually(std::time::Duration::from_secs(5), || {
        Some(lines(corelb.log())).filter(|l| want(l))
    })
    .unwrap_or_else(|| lines(corelb.log()));
    assert_eq!(cl, hl);
    for l in ["LR 17 /z", "LR 24 /r", "LR 28 /q", "LR - /x"] {
        assert!(cl.iter().any(|x| x == l), "{l}: {cl:?}");
    }
}

/// The log lines starting with one of `prefixes`, sorted, once `log` shows `n` of them (what
/// it shows after 5 s otherwise).
fn logged(log: &dyn Fn() -> String, prefixes: &[&str], n: usize) -> Vec<String> {
    let lines = || {
        let mut l: Vec<String> = log()
            .lines()
            .map(str::trim)
            .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
            .map(str::to_string)
            .collect();
        l.sort();
        l
    };
    eventually(std::time::Duration::from_secs(5), || {
        Some(lines()).filter(|l| l.len() == n)
    })
    .unwrap_or_else(lines)
}

/// The server connection's fetches (`bc_src`, `bc_src_port`, `bc_dst`, `bc_dst_port`,
/// `bc_http_major`) in `http-response` rules and log lines, in mode http and mode tcp (no
/// HTTP version there), and on an answer corelb made itself (nothing), through Debian's
/// HAProxy 2.6 and corelb.
#[test]
fn backend_connection_fetches_match_haproxy() {
    let server = mirror();
    let cfg = |p: &[u16]| {
        format!(
            "global
    log stderr format raw local0
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{}
    log global
    log-format \"BC %[bc_src] %[bc_src_port,bool] %[bc_dst] %[bc_dst_port] %[bc_http_major] %HP\"
    http-response set-header x-res-fe \"%[bc_src] %[bc_src_port,bool] %[bc_dst] %[bc_dst_port] %[bc_http_major]\"
    default_backend be
backend be
    http-response set-header x-res-be \"%[bc_src] %[bc_dst] %[bc_dst_port] %[bc_http_major]\"
    server s 127.0.0.1:{s}
frontend own
    bind 127.0.0.1:{}
    log global
    log-format \"BC %[bc_src] %[bc_dst] %[bc_dst_port] %HP\"
    http-request return status 200 content-type text/plain string ok
listen t
    mode tcp
    bind 127.0.0.1:{}
    log global
    log-format \"TBC %[bc_src] %[bc_src_port,bool] %[bc_dst] %[bc_dst_port] %[bc_http_major]\"
    server s 127.0.0.1:{s}
frontend via_h2
    bind 127.0.0.1:{}
    http-response set-header x-res-h2 \"%[bc_dst_port] %[bc_http_major]\"
    default_backend h2
backend h2
    server s 127.0.0.1:{} proto h2
frontend h2_server
    bind 127.0.0.1:{} proto h2
    http-request return status 200 content-type text/plain string ok
",
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            p[4],
            s = server.port
        )
    };
    let run = |p: &[u16]| {
        let get = |port: u16, path: &str| {
            let r = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            seen(&raw_exchange(port, r.as_bytes()))
        };
        let mut h2 = get(p[3], "/2");
        // (Each its own h2 server's port; HAProxy's HTTP/2 answer has no reason phrase,
        // which corelb's HTTP/1 side writes.)
        h2.remove("status");
        if let Some(v) = h2.get_mut("x-res-h2") {
            *v = v.replace(&p[4].to_string(), "H2PORT");
        }
        [get(p[0], "/a"), get(p[1], "/o"), get(p[2], "/t"), h2]
    };
    let ports = |_| -> Vec<u16> { (0..5).map(|_| free_port()).collect() };
    let (hp, cp) = (ports(0), ports(1));
    let Some(haproxy) = Haproxy::start(&cfg(&hp), &hp) else {
        return;
    };
    let corelb = Corelb::start(&cfg(&cp), &[], &cp);
    let (h, c) = (run(&hp), run(&cp));
    assert_eq!(c, h, "corelb log:\n{}", corelb.log());
    let hl = logged(&|| haproxy.log(), &["BC ", "TBC "], 3);
    let cl = logged(&|| corelb.log(), &["BC ", "TBC "], 3);
    assert_eq!(cl, hl);
    let sp = server.port;
    assert_eq!(c[0]["x-res-fe"], format!("127.0.0.1 1 127.0.0.1 {sp} 1"));
    assert_eq!(c[0]["x-res-be"], format!("127.0.0.1 127.0.0.1 {sp} 1"));
    assert!(
        cl.contains(&format!("BC 127.0.0.1 1 127.0.0.1 {sp} 1 /a")),
        "{cl:?}"
    );
    assert!(cl.contains(&"BC - - - /o".to_string()), "{cl:?}");
    assert!(
        cl.contains(&format!("TBC 127.0.0.1 1 127.0.0.1 {sp} -")),
        "{cl:?}"
    );
    assert_eq!(c[3]["x-res-h2"], "H2PORT 2");
}

/// The server connection's error (`bc_err`, `bc_err_str`) and TLS session (`ssl_bc`,
/// `ssl_bc_protocol`, `ssl_bc_cipher`, `ssl_bc_alpn`, `ssl_bc_use_keysize`,
/// `ssl_bc_alg_keysize`, `ssl_bc_is_resumed`) in `http-response` and
/// `http-after-response` rules and log lines, through Debian's HAProxy 2.6 and corelb: to a
/// clear server, to TLS servers (one HAProxy serving both proxies: TLS 1.3 with one suite,
/// TLS 1.2 with one suite, so that OpenSSL and rustls negotiate the same), the second
/// connection to each resumed (one thread each: HAProxy keeps a session per thread); to a closed port (nothing left to fetch: HAProxy lets go of
/// the connection), to a server that does not speak TLS (`SSL handshake failure`), to one
/// that never answers the handshake (a timeout: no error code yet); over HTTP/2 (ALPN h2);
/// and in mode tcp.
/// A failed handshake's protocol and suite are left out: OpenSSL names what it attempted.
#[test]
fn backend_connection_errors_and_tls_match_haproxy() {
    let dir = TempDir::new("fetch-bc-tls");
    let pem = self_signed_pem(&dir, "srv.pem", &["127.0.0.1"]);
    let mirror = mirror();
    let silent = Backend::start(|s| {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(s);
    });
    let closed = free_port();
    let (t13, t12) = (free_port(), free_port());
    let tls_server = format!(
        "global
    nbthread 1
defaults
    mode http
    timeout client 5s
frontend tls
    bind 127.0.0.1:{t13} ssl crt {pem} alpn h2,http/1.1 ssl-min-ver TLSv1.3 ciphersuites TLS_CHACHA20_POLY1305_SHA256
    bind 127.0.0.1:{t12} ssl crt {pem} alpn h2,http/1.1 ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-AES128-GCM-SHA256
    http-request return status 200 content-type text/plain string ok
",
        pem = pem.display()
    );
    let Some(_tls_server) = Haproxy::start(&tls_server, &[t13, t12]) else {
        return;
    };
    // ('/' between the fields: corelb's log-format writes one blank for a run of them
    // where HAProxy 2.6.12 keeps them all, a difference of its own.)
    let all = "%[bc_err]/%[bc_err_str]/%[ssl_bc]/%[ssl_bc_protocol]/%[ssl_bc_cipher]/%[ssl_bc_alpn]/%[ssl_bc_use_keysize]/%[ssl_bc_alg_keysize]/%[ssl_bc_is_resumed]";
    let failed = "%[bc_err]/%[bc_err_str]/%[ssl_bc]/%[ssl_bc_is_resumed]";
    let cfg = |p: &[u16]| {
        format!(
            "global
    nbthread 1
    log stderr format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{}
    log-format \"E %HP {all} %ST\"
    http-response set-header x-e \"{all}\"
    use_backend tls13 if {{ path_beg /tls13 }}
    use_backend tls12 if {{ path_beg /tls12 }}
    use_backend h2 if {{ path_beg /h2 }}
    default_backend plain
frontend fe_err
    bind 127.0.0.1:{}
    log-format \"F %HP {failed} %ST\"
    http-after-response set-header x-a \"{failed}\"
    use_backend closed if {{ path /closed }}
    use_backend notls if {{ path /notls }}
    use_backend silent if {{ path /silent }}
    default_backend plain
backend plain
    server s 127.0.0.1:{m}
backend closed
    server s 127.0.0.1:{closed}
backend notls
    server s 127.0.0.1:{m} ssl verify none
backend silent
    server s 127.0.0.1:{} ssl verify none
backend tls13
    server s 127.0.0.1:{t13} ssl verify none alpn http/1.1
backend tls12
    server s 127.0.0.1:{t12} ssl verify none alpn http/1.1
backend h2
    server s 127.0.0.1:{t13} ssl verify none alpn h2
listen t
    mode tcp
    bind 127.0.0.1:{}
    log-format \"T %[bc_err]/%[bc_err_str]/%[ssl_bc]/%[ssl_bc_protocol]/%[ssl_bc_cipher]/%[ssl_bc_alpn]\"
    server s 127.0.0.1:{t13} ssl verify none alpn http/1.1
",
            p[0],
            p[1],
            silent.port,
            p[2],
            m = mirror.port,
        )
    };
    let run = |p: &[u16]| {
        let get = |port: u16, path: &str| {
            let r = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            let mut m = seen(&raw_exchange(port, r.as_bytes()));
            // (HAProxy's HTTP/2 answer has no reason phrase, which corelb's HTTP/1 side
            // writes.)
            let status = !path.starts_with("/h2");
            m.retain(|k, _| (k == "status" && status) || k == "x-e" || k == "x-a");
            (path.to_string(), m)
        };
        let mut out: Vec<_> = [
            "/plain", "/tls13/1", "/tls13/2", "/tls12/1", "/tls12/2", "/h2",
        ]
        .into_iter()
        .map(|path| get(p[0], path))
        .collect();
        for path in ["/closed", "/notls", "/silent", "/plain"] {
            out.push(get(p[1], path));
        }
        // Mode tcp: the server's answer to an HTTP/1.0 request through the TLS tunnel.
        let t = raw_exchange(p[2], b"GET / HTTP/1.0\r\nHost: h\r\n\r\n");
        out.push(("tcp".into(), seen(&t)));
        out
    };
    let ports = |_| -> Vec<u16> { (0..3).map(|_| free_port()).collect() };
    let (hp, cp) = (ports(0), ports(1));
    let Some(haproxy) = Haproxy::start(&cfg(&hp), &hp) else {
        return;
    };
    let corelb = Corelb::start(&cfg(&cp), &[], &cp);
    let (h, c) = (run(&hp), run(&cp));
    assert_eq!(c, h, "corelb log:\n{}", corelb.log());
    let hl = logged(&|| haproxy.log(), &["E ", "F ", "T "], 11);
    let cl = logged(&|| corelb.log(), &["E ", "F ", "T "], 11);
    assert_eq!(cl, hl);
    // What the comparison rests on, spelled out.
    let e = |i: usize| c[i].1.get("x-e").cloned().unwrap_or_default();
    assert_eq!(e(0), "0/Success/0//////0");
    assert_eq!(
        e(1),
        "0/Success/1/TLSv1.3/TLS_CHACHA20_POLY1305_SHA256/http/1.1/256/256/0"
    );
    assert!(e(2).ends_with("/1"), "{}", e(2));
    assert_eq!(
        e(3),
        "0/Success/1/TLSv1.2/ECDHE-ECDSA-AES128-GCM-SHA256/http/1.1/128/128/0"
    );
    assert!(e(4).ends_with("/1"), "{}", e(4));
    // (HTTP/2 to the server: a stream on a multiplexed connection.)
    assert!(
        e(5).starts_with("0/Success/1/TLSv1.3/TLS_CHACHA20_POLY1305_SHA256/h2/256/256/"),
        "{}",
        e(5)
    );
    for l in [
        "F /notls 34/SSL handshake failure/1/0 503",
        "F /closed -/-/0/0 503",
        "F /silent -/-/1/0 503",
        "T 0/Success/1/TLSv1.3/TLS_CHACHA20_POLY1305_SHA256/http/1.1",
    ] {
        assert!(cl.iter().any(|x| x == l), "{l}: {cl:?}");
    }
}
