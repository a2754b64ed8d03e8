//! Differential tests: the same configuration through Debian's `haproxy` and through corelb,
//! the same requests, and a comparison of what the clients and the backends saw.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// Two named `corelb-bench serve` backends, and one configuration (made from a port and the
/// backends' ports) running under HAProxy and under corelb. `None` without haproxy.
struct Pair {
    _a: Serve,
    _b: Serve,
    haproxy: Haproxy,
    corelb: Corelb,
    /// HAProxy's port and corelb's.
    hp: u16,
    cp: u16,
}

impl Pair {
    fn start(names: (&str, &str), config: fn(u16, u16, u16) -> String) -> Option<Pair> {
        let (a, b) = (Serve::start(names.0, &[]), Serve::start(names.1, &[]));
        let (hp, cp) = (free_port(), free_port());
        let haproxy = Haproxy::start(&config(hp, a.port, b.port), &[hp])?;
        let corelb = Corelb::start(&config(cp, a.port, b.port), &[], &[cp]);
        Some(Pair {
            _a: a,
            _b: b,
            haproxy,
            corelb,
            hp,
            cp,
        })
    }

    /// Fails with the differences and both logs, if there are differences.
    fn assert_same(&self, diffs: &[String]) {
        assert_same(diffs, &self.haproxy, &self.corelb);
    }
}

/// Fails with the differences and both proxies' logs, if there are differences.
fn assert_same(diffs: &[String], haproxy: &Haproxy, corelb: &Corelb) {
    assert!(
        diffs.is_empty(),
        "corelb and HAProxy differ:\n{}\n\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
}

/// What a client saw: the status line's code, the headers that matter, the body.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Response headers compared between the two (others differ legitimately: Date, Server…).
const COMPARED: &[&str] = &[
    "location",
    "x-server",
    "content-type",
    "cache-control",
    "x-rule",
];

fn seen(raw: &str) -> Seen {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = BTreeMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if COMPARED.contains(&k.as_str()) {
                headers.insert(k, v.trim().to_string());
            }
        }
    }
    // Error pages differ in wording; the body is compared for 2xx/3xx only.
    let body = if status < 400 {
        body.to_string()
    } else {
        String::new()
    };
    Seen {
        status,
        headers,
        body,
    }
}

/// The request headers the backend saw (from `/echo`'s JSON), lower-cased names, in order,
/// without `Connection` (HAProxy and corelb manage it per connection).
fn backend_headers(body: &str, port: u16) -> Vec<(String, String)> {
    let Some(start) = body.find("\"headers\":[") else {
        return Vec::new();
    };
    let rest = &body[start + 11..];
    let end = rest.find("]],").map(|e| e + 1).unwrap_or(0);
    let mut out = Vec::new();
    for pair in rest[..end].split("],[") {
        let pair = pair.trim_matches(|c| c == '[' || c == ']');
        let mut it = pair.splitn(2, "\",\"");
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let k = k.trim_matches('"').to_ascii_lowercase();
        if k == "connection" {
            continue;
        }
        let mut v = v.trim_matches('"').to_string();
        // dst_port is each proxy's own port.
        if v == port.to_string() {
            v = "PORT".into();
        }
        out.push((k, v));
    }
    out
}

/// Requests corelb refuses (400) where HAProxy 2.6 accepts and repairs them: both
/// Content-Length and Transfer-Encoding (HAProxy drops Content-Length) and obs-fold
/// (HAProxy unfolds). The issue that specified mode http asks for the stricter behaviour.
const STRICTER: &[&[u8]] = &[
    b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
];

fn config(port: u16, a: u16, b: u16) -> String {
    format!(
        "global
    maxconn 1000
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    option http-server-close
frontend fe
    bind 127.0.0.1:{port}
    monitor-uri /_health
    acl is_api path_beg /api
    acl blocked path_beg /admin
    acl old hdr(host) -i old.example
    http-request deny if blocked
    http-request redirect location https://new.example%[path] code 301 if old
    http-request redirect scheme https if {{ path_beg /secure }}
    http-request return status 200 content-type text/plain string hello if {{ path /hello }}
    http-request set-header X-Client %[src]
    http-request set-header X-Port %[dst_port]
    http-request add-header X-Added one
    http-request del-header X-Secret
    http-request replace-header User-Agent (.*)bot(.*) \\1robot\\2
    http-response set-header X-Rule seen
    option forwardfor
    use_backend api if is_api
    default_backend web
backend web
    server a 127.0.0.1:{a}
backend api
    http-request set-path /echo
    server b 127.0.0.1:{b}
"
    )
}

#[test]
fn http_rules_and_switching_match_haproxy() {
    let Some(pair) = Pair::start(("web-a", "api-b"), config) else {
        return;
    };
    let (hp, cp) = (pair.hp, pair.cp);
    let requests: &[&[u8]] = &[
        b"GET /echo HTTP/1.1\r\nHost: www.example\r\nUser-Agent: somebot/1.0\r\nX-Secret: s\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/items?x=1 HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
        b"GET /admin/x HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
        b"GET /p/q?r=s HTTP/1.1\r\nHost: old.example\r\nConnection: close\r\n\r\n",
        b"GET /secure/a?b=c HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
        b"GET /_health HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n",
        b"GET /echo HTTP/1.0\r\n\r\n",
        // Malformed: each must be refused the same way, nothing forwarded (but see
        // STRICTER below).
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET /ec ho HTTP/1.1\r\nHost: x\r\n\r\n",
        b"BAD\r\n\r\n",
    ];
    let mut diffs = Vec::new();
    for req in requests {
        let h = raw_exchange(hp, req);
        let c = raw_exchange(cp, req);
        let (hs, cs) = (seen(&h), seen(&c));
        let what = String::from_utf8_lossy(req)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        if STRICTER.contains(req) {
            // corelb refuses these by design (request smuggling); HAProxy 2.6 repairs them.
            assert_eq!(cs.status, 400, "corelb must refuse {what}: {c}");
            assert!(
                !c.contains("\"server\":"),
                "nothing may reach a backend: {c}"
            );
            assert!(
                hs.status == 200 || hs.status == 400,
                "haproxy answered {} to {what}",
                hs.status
            );
            continue;
        }
        if hs.status != cs.status || hs.headers != cs.headers {
            diffs.push(format!(
                "{what}\n  haproxy: {} {:?}\n  corelb:  {} {:?}",
                hs.status, hs.headers, cs.status, cs.headers
            ));
            continue;
        }
        // What the backend saw, for the /echo requests that reached it.
        if hs.status == 200 && h.contains("\"headers\":") {
            let (hb, cb) = (backend_headers(&h, hp), backend_headers(&c, cp));
            if hb != cb {
                diffs.push(format!(
                    "{what}: the backend saw\n  via haproxy: {hb:?}\n  via corelb:  {cb:?}"
                ));
            }
            // The path the backend saw (set-path in the api backend).
            let path = |s: &str| {
                s.split("\"uri\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(str::to_string)
            };
            if path(&h) != path(&c) {
                diffs.push(format!(
                    "{what}: uri via haproxy {:?}, via corelb {:?}",
                    path(&h),
                    path(&c)
                ));
            }
        } else if hs.body != cs.body {
            diffs.push(format!(
                "{what}: body via haproxy {:?}, via corelb {:?}",
                hs.body, cs.body
            ));
        }
    }
    pair.assert_same(&diffs);
}

/// CSV rows by (pxname, svname), each as its fields by name.
type CsvRows = BTreeMap<(String, String), BTreeMap<String, String>>;

/// The `;csv` page: its header line and its rows.
fn stats_csv(port: u16) -> (String, CsvRows) {
    use std::io::Write as _;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /stats;csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // HAProxy sends the page chunked, corelb with a length: read_response takes both.
    let r = read_response(&mut std::io::BufReader::new(c), false).unwrap();
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let mut lines = body.split('\n');
    let header = lines.next().unwrap_or_default().to_string();
    let names: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let mut rows = BTreeMap::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let f: BTreeMap<String, String> = names
            .iter()
            .zip(l.split(','))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        rows.insert((f["pxname"].clone(), f["svname"].clone()), f);
    }
    (header, rows)
}

#[test]
fn stats_csv_header_rows_and_counts_match_haproxy() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let (hw, hs, cw, cs) = (free_port(), free_port(), free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&stats_config(hw, hs, a.port, b.port), &[hw, hs]) else {
        return;
    };
    let corelb = Corelb::start(&stats_config(cw, cs, a.port, b.port), &[], &[cw, cs]);
    const N: usize = 10;
    for port in [hw, cw] {
        for _ in 0..N {
            let r = raw_exchange(
                port,
                b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
    }
    let (hh, hrows) = stats_csv(hs);
    let counted = |rows: &CsvRows| {
        let get = |px: &str, sv: &str, f: &str| rows[&(px.to_string(), sv.to_string())][f].clone();
        let servers = |f: &str| -> u64 {
            ["a", "b"]
                .iter()
                .map(|s| get("app", s, f).parse::<u64>().unwrap())
                .sum()
        };
        (
            ["stot", "req_tot", "hrsp_2xx"].map(|f| get("web", "FRONTEND", f)),
            ["stot", "req_tot", "hrsp_2xx"].map(|f| get("app", "BACKEND", f)),
            [servers("stot"), servers("hrsp_2xx")],
        )
    };
    let want = counted(&hrows);
    assert_eq!(
        want,
        (
            [N.to_string(), N.to_string(), N.to_string()],
            [N.to_string(), N.to_string(), N.to_string()],
            [N as u64, N as u64]
        ),
        "HAProxy's own counts"
    );
    // corelb counts a request when it ends: by the time the client read the whole
    // response it is counted, but give the shards a moment anyway.
    let (ch, crows) = eventually(Duration::from_secs(5), || {
        let (h, rows) = stats_csv(cs);
        (counted(&rows) == want).then_some((h, rows))
    })
    .unwrap_or_else(|| {
        let (_, rows) = stats_csv(cs);
        panic!("corelb counted {:?}, HAProxy {want:?}", counted(&rows))
    });
    assert_eq!(ch, hh, "the CSV header line");
    let kinds = |rows: &CsvRows| {
        rows.iter()
            .map(|(k, f)| (k.clone(), f["type"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&crows),
        kinds(&hrows),
        "the same rows (pxname, svname, type)"
    );
    drop(haproxy);
    drop(corelb);
}

/// The same requests (`GET PATH`, one connection each) through HAProxy (`hp`) and corelb
/// (`cp`): the differences, corelb's statuses and the bodies of the paths in `shown`.
fn compare_paths(
    hp: u16,
    cp: u16,
    paths: &[&str],
    shown: &[&str],
) -> (Vec<String>, Vec<u16>, Vec<String>) {
    let mut diffs = Vec::new();
    let mut statuses = Vec::new();
    let mut bodies = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (hs, cs) = (
            seen(&raw_exchange(hp, req.as_bytes())),
            seen(&raw_exchange(cp, req.as_bytes())),
        );
        statuses.push(cs.status);
        if shown.contains(path) {
            bodies.push(cs.body.clone());
        }
        if hs != cs {
            diffs.push(format!(
                "request {} {path}:\n  haproxy: {hs:?}\n  corelb:  {cs:?}",
                n + 1
            ));
        }
    }
    (diffs, statuses, bodies)
}

/// The lines a stats socket command answers, without entries' addresses and expiry dates.
fn table_lines(sock: &std::path::Path, cmd: &str) -> Vec<String> {
    stats_cmd(sock, cmd)
        .lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.starts_with("0x") && !w.starts_with("exp="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The edge rate limiter and stick persistence: the same client through both, request by
/// request (statuses, which server answered, what the stick fetches render).
fn stick_config(port: u16, a: u16, b: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 100k expire 10s store http_req_rate(10s),gpc0,gpt0,conn_cnt,conn_cur
    http-request track-sc0 src
    http-request sc-inc-gpc0(0) if {{ path /bad }}
    http-request sc-set-gpt0(0) 5 if {{ path /mark }}
    http-request return status 200 content-type text/plain lf-string \"rate=%[sc_http_req_rate(0)] gpc0=%[sc_get_gpc0(0)] gpt0=%[sc0_get_gpt0] cnt=%[sc_conn_cnt(0)] cur=%[sc_conn_cur(0)] src=%[src_http_req_rate] tracked=%[sc_tracked(0)]%[sc_tracked(1)]\" if {{ path /show }}
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 8 }}
    http-request deny deny_status 403 if {{ sc_get_gpc0(0) ge 2 }}
    default_backend be
backend be
    balance roundrobin
    stick-table type ip size 1k expire 30s
    stick on src
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}
"
    )
}

#[test]
fn stick_tables_match_haproxy() {
    let Some(pair) = Pair::start(("web-a", "web-b"), stick_config) else {
        return;
    };
    let (hp, cp) = (pair.hp, pair.cp);
    let paths = [
        "/", "/show", "/", "/bad", "/show", "/mark", "/show", "/bad", "/", "/show", "/", "/",
    ];
    let (diffs, statuses, shown) = compare_paths(hp, cp, &paths, &["/show"]);
    pair.assert_same(&diffs);
    // And what they agreed on is the limiter at work, not two identical failures.
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 200, 403, 429, 200, 429, 429]
    );
    assert_eq!(
        shown[0],
        "rate=2 gpc0=0 gpt0=0 cnt=2 cur=1 src=2 tracked=10"
    );
}

/// SSL passthrough routed by SNI: which TLS backend answered for each name, for an unknown
/// name and for no SNI, through HAProxy and through corelb.
#[test]
fn sni_routing_matches_haproxy() {
    let tls = TlsNames::start(&["a.example", "b.example", "c.example"]);
    let (a, b, c) = (
        tls.port("a.example"),
        tls.port("b.example"),
        tls.port("c.example"),
    );
    let hp = free_port();
    let Some(_haproxy) = Haproxy::start(&sni_config(hp, a, b, c), &[hp]) else {
        return;
    };
    let cp = free_port();
    let _corelb = Corelb::start(&sni_config(cp, a, b, c), &[], &[cp]);
    let answers = |port: u16| -> Vec<String> {
        let mut v: Vec<String> = ["a.example", "b.example", "z.example"]
            .iter()
            .map(|n| {
                // The unknown name lands on c.example's server.
                let ca = if *n == "z.example" { "c.example" } else { n };
                curl_tls(tls.cert(ca), n, port, "/", &["-k"]).0
            })
            .collect();
        let no_sni = Command::new("curl")
            .args(["-sS", "-k", "--max-time", "10", "-w", "\n%{http_code}"])
            .arg(format!("https://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        v.push(String::from_utf8_lossy(&no_sni.stdout).into_owned());
        v
    };
    let from_haproxy = answers(hp);
    assert!(
        from_haproxy[0].starts_with("a.example\n200"),
        "{from_haproxy:?}"
    );
    assert_eq!(answers(cp), from_haproxy);
}

/// A backend that answers `tag` and closes after reading what the client sent.
fn tagged(tag: &'static str) -> Backend {
    Backend::start(move |mut s| {
        use std::io::Write;
        let _ = s.write_all(tag.as_bytes());
    })
}

/// A ClientHello handshake message with the SNI `name` (None: no SNI extension).
fn client_hello(name: Option<&str>) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[9u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0]);
    let mut exts = vec![0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d];
    if let Some(n) = name {
        let n = n.as_bytes();
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&((n.len() + 5) as u16).to_be_bytes());
        exts.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        exts.push(0);
        exts.extend_from_slice(&(n.len() as u16).to_be_bytes());
        exts.extend_from_slice(n);
    }
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    hs
}

/// `msg` in TLS handshake records, cut at `cuts` (offsets into the message).
fn records(msg: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    for &end in cuts.iter().chain(std::iter::once(&msg.len())) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&((end - at) as u16).to_be_bytes());
        out.extend_from_slice(&msg[at..end]);
        at = end;
    }
    out
}

/// Unusual first bytes through the SNI-routing configuration: which backend each one
/// reaches, through HAProxy and through corelb.
#[test]
fn client_hello_edge_cases_route_like_haproxy() {
    let (a, b, d) = (tagged("a"), tagged("b"), tagged("default"));
    let hp = free_port();
    let Some(_haproxy) = Haproxy::start(&sni_config(hp, a.port, b.port, d.port), &[hp]) else {
        return;
    };
    let cp = free_port();
    let _corelb = Corelb::start(&sni_config(cp, a.port, b.port, d.port), &[], &[cp]);
    let hello = client_hello(Some("a.example"));
    let mut long_name = "x".repeat(300);
    long_name.push_str(".b.example");
    let mut bad_sid = records(&hello, &[]);
    bad_sid[5 + 4 + 34] = 33;
    let mut cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("whole hello", vec![records(&hello, &[])]),
        (
            "uppercase name",
            vec![records(&client_hello(Some("A.EXAMPLE")), &[])],
        ),
        ("no sni", vec![records(&client_hello(None), &[])]),
        (
            "long name",
            vec![records(&client_hello(Some(&long_name)), &[])],
        ),
        ("hello in two writes", {
            let r = records(&hello, &[]);
            vec![r[..20].to_vec(), r[20..].to_vec()]
        }),
        ("hello over two records", vec![records(&hello, &[60])]),
        (
            "hello over two records, sni in the first",
            vec![records(&hello, &[hello.len() - 2])],
        ),
        ("session id too long", vec![bad_sid]),
        ("plain http", vec![b"GET / HTTP/1.0\r\n\r\n".to_vec()]),
        (
            "sslv2-style hello",
            vec![vec![0x80, 0x2e, 0x01, 0x03, 0x01, 0, 3, 0, 0, 0, 16]],
        ),
    ];
    // A client that sends half a hello and stops: the inspect delay (5 s) would end it; it
    // half-closes instead, which ends the inspection at once.
    let r = records(&hello, &[]);
    cases.push(("half a hello then close", vec![r[..30].to_vec()]));
    let answer = |port: u16, chunks: &[Vec<u8>]| -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for (i, c) in chunks.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = s.write_all(c);
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    for (what, chunks) in &cases {
        let h = answer(hp, chunks);
        let c = answer(cp, chunks);
        assert_eq!(c, h, "{what}: corelb reached {c:?}, haproxy {h:?}");
    }
    // The cases are not all alike: some reach a, some the default.
    assert_eq!(answer(hp, &cases[0].1), "a");
    assert_eq!(answer(hp, &cases[2].1), "default");
}

/// The stat fields HAProxy 2.6 fills (or leaves empty) where corelb does the opposite, on
/// the same configuration and traffic: `(row kind, field, which one fills it)`. Each is
/// explained in docs/operations.md ("Compared with HAProxy 2.6's `show stat`").
/// The module fields (`ssl_*`, `h1_*`, `h2_*`) are all on HAProxy's side and checked apart.
const FIELD_DIFFERENCES: &[(&str, &str, &str)] = &[
    ("server", "need_conn_est", "haproxy"),
    ("server", "src_ilim", "corelb"),
];

#[test]
fn stats_fields_are_filled_where_haproxy_fills_them() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let (hw, hs, cw, cs) = (free_port(), free_port(), free_port(), free_port());
    let cfg = |w, s| {
        stats_config(w, s, a.port, b.port).replace(
            "    default_backend app\n",
            "    option socket-stats\n    default_backend app\n",
        )
    };
    let Some(haproxy) = Haproxy::start(&cfg(hw, hs), &[hw, hs]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cw, cs), &[], &[cw, cs]);
    for port in [hw, cw] {
        // Keep-alive requests, then one the server never gets (a 400).
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = std::io::BufReader::new(c.try_clone().unwrap());
        for _ in 0..4 {
            std::io::Write::write_all(&mut c, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        }
        drop((c, r));
        let bad = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (_, hrows) = stats_csv(hs);
    let (_, crows) = stats_csv(cs);
    let kind = |f: &BTreeMap<String, String>| match f["type"].as_str() {
        "0" => "frontend",
        "1" => "backend",
        "2" => "server",
        _ => "listener",
    };
    let mut diffs = std::collections::BTreeSet::new();
    for (key, h) in &hrows {
        let c = crows
            .get(key)
            .unwrap_or_else(|| panic!("corelb has no row {key:?}"));
        for (name, hv) in h {
            let cv = &c[name];
            if ["ssl_", "h1_", "h2_"].iter().any(|p| name.starts_with(p)) {
                assert!(cv.is_empty(), "{key:?} {name}: {cv}");
                continue;
            }
            if hv.is_empty() != cv.is_empty() {
                let who = if hv.is_empty() { "corelb" } else { "haproxy" };
                diffs.insert((kind(h), name.as_str(), who));
            }
        }
    }
    let want: std::collections::BTreeSet<_> = FIELD_DIFFERENCES.iter().copied().collect();
    let list: String = diffs.iter().map(|d| format!("    {d:?},\n")).collect();
    assert_eq!(diffs, want, "fields filled on one side only:\n{list}");
    drop(haproxy);
    drop(corelb);
}

/// Rate limits at accept: `tcp-request connection track-sc0 src` and a reject on
/// `sc_conn_rate(0)`, in a mode http and a mode tcp frontend, with the session and content
/// rules' stick actions (`sc-inc-gpc0`, `track-sc1`) and what the fetches read back.
fn tcp_track_config(http: u16, tcp: u16, a: u16) -> String {
    format!(
        "defaults
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe_http
    mode http
    bind 127.0.0.1:{http}
    stick-table type ip size 1k expire 30s store conn_rate(10s),conn_cur,conn_cnt,sess_cnt,http_req_cnt,gpc0
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ sc_conn_rate(0) gt 5 }}
    tcp-request session sc-inc-gpc0(0)
    http-request return status 200 content-type text/plain lf-string \"rate=%[sc_conn_rate(0)] cur=%[sc0_conn_cur] cnt=%[sc_conn_cnt(0)] sess=%[sc_sess_cnt(0)] req=%[sc_http_req_cnt(0)] gpc0=%[sc_get_gpc0(0)] src=%[src_conn_rate] tracked=%[sc_tracked(0)]%[sc_tracked(1)]\"
frontend fe_tcp
    mode tcp
    bind 127.0.0.1:{tcp}
    stick-table type ip size 1k expire 30s store conn_rate(10s),conn_cur,gpc0
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ sc0_conn_rate gt 3 }}
    tcp-request content track-sc1 src table fe_http
    tcp-request content sc-inc-gpc0(0)
    default_backend be
backend be
    mode tcp
    server a 127.0.0.1:{a}
"
    )
}

/// One request on its own connection; what came back (empty when the proxy closed or reset
/// it first).
fn exchange_or_closed(port: u16, req: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn tcp_request_tracking_rejects_the_same_connection_as_haproxy() {
    let a = Serve::start("a", &[]);
    let (hh, ht, ch, ct) = (free_port(), free_port(), free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&tcp_track_config(hh, ht, a.port), &[hh, ht]) else {
        return;
    };
    let corelb = Corelb::start(&tcp_track_config(ch, ct, a.port), &[], &[ch, ct]);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut diffs = Vec::new();
    let mut statuses = Vec::new();
    let mut bodies = Vec::new();
    for (what, hp, cp, n) in [("http", hh, ch, 8), ("tcp", ht, ct, 6)] {
        for i in 1..=n {
            // A closed connection leaves `conn_cur` once its proxy has run the close, which
            // on a loaded machine can come after the next connection's answer (seen with
            // HAProxy: cur=2 where it says 1 unloaded): a pause keeps both counting one.
            std::thread::sleep(Duration::from_millis(50));
            let (hs, cs) = (
                seen(&exchange_or_closed(hp, req)),
                seen(&exchange_or_closed(cp, req)),
            );
            statuses.push(cs.status);
            if what == "http" {
                bodies.push(cs.body.clone());
            }
            if hs != cs {
                diffs.push(format!(
                    "{what} connection {i}:\n  haproxy: {hs:?}\n  corelb:  {cs:?}"
                ));
            }
        }
    }
    assert_same(&diffs, &haproxy, &corelb);
    // The 6th connection to fe_http and the 4th to fe_tcp are the first ones refused.
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 0, 0, 0, 200, 200, 200, 0, 0, 0]
    );
    assert_eq!(
        bodies[4],
        "rate=5 cur=1 cnt=5 sess=5 req=5 gpc0=5 src=5 tracked=10"
    );
}

/// HAProxy 2.6's arrays of counters and tags: `gpc(N)`, `gpc_rate(N,P)`, `gpt(N)` stored,
/// `sc-inc-gpc(I,N)` and `sc-set-gpt(I,N)` in `http-request` and `tcp-request session`,
/// the legacy `sc-inc-gpc0` and `gpt0` landing on element 0, the `sc_*`/`src_*` fetches
/// (`sc_inc_gpc`, `sc_clr_gpc` too), the `table_*` converters, an index past the array
/// (nothing) and `show table` over the stats socket.
fn arrays_config(port: u16, sock: &str) -> String {
    format!(
        "global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 10 expire 30s store gpc(3),gpc_rate(2,10s),gpt(2),http_req_cnt
    tcp-request connection track-sc1 src
    tcp-request session sc-inc-gpc(2,1)
    http-request track-sc0 src
    http-request sc-inc-gpc(1,0) if {{ path /inc }}
    http-request sc-inc-gpc0(0) if {{ path /inc0 }}
    http-request sc-set-gpt(1,0) 7 if {{ path /mark }}
    http-request sc-set-gpt(0,0) sc_get_gpc(1,0) if {{ path /mark }}
    http-request sc-set-gpt(9,0) 3 if {{ path /mark }}
    http-request return status 200 content-type text/plain lf-string \"gpc=%[sc_get_gpc(0,0)],%[sc_get_gpc(1,0)],%[sc_get_gpc(2,1)] rate=%[sc_gpc_rate(0,0)],%[sc_gpc_rate(1,1)] gpt=%[sc_get_gpt(0,0)],%[sc_get_gpt(1,0)] legacy=%[sc_get_gpc0(0)],%[sc_get_gpc1(0)],%[sc_get_gpt0(0)],%[sc_gpc0_rate(0)] src=%[src_get_gpc(1,fe)],%[src_gpc_rate(1,fe)],%[src_get_gpt(1,fe)] conv=%[src,table_gpc(1,fe)],%[src,table_gpc_rate(0,fe)],%[src,table_gpt(1,fe)],%[src,table_gpc0(fe)],%[src,table_http_req_cnt(fe)] miss=%[ipv4(192.0.2.1),table_gpc(0,fe)] past=[%[sc_get_gpc(3,0)]][%[sc_get_gpt(2,0)]][%[src,table_gpc(5,fe)]]\" if {{ path /show }}
    http-request return status 200 content-type text/plain lf-string \"inc=%[sc_inc_gpc(2,0)] clr=%[sc_clr_gpc(1,0)] inc1=%[src_inc_gpc(1,fe)] clr2=%[src_clr_gpc(0,fe)]\" if {{ path /clr }}
    http-request deny deny_status 429 if {{ sc_get_gpc(1,0) ge 3 }}
    http-request return status 200 content-type text/plain string ok
"
    )
}

#[test]
fn gpc_gpt_arrays_match_haproxy() {
    let dir = TempDir::new("arrays");
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&arrays_config(hp, hsock.to_str().unwrap()), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&arrays_config(cp, csock.to_str().unwrap()), &[], &[cp]);
    wait_unix_socket(&csock);
    let paths = [
        "/inc", "/inc", "/show", "/mark", "/inc0", "/show", "/inc", "/x", "/show", "/clr", "/x",
        "/show",
    ];
    let (mut diffs, statuses, shown) = compare_paths(hp, cp, &paths, &["/show", "/clr"]);
    let (ht, ct) = (
        table_lines(&hsock, "show table fe"),
        table_lines(&csock, "show table fe"),
    );
    if ht != ct {
        diffs.push(format!("show table:\n  haproxy: {ht:?}\n  corelb:  {ct:?}"));
    }
    assert_same(&diffs, &haproxy, &corelb);
    // What they agreed on: the limiter on gpc1 at work, and the arrays counting.
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 429, 429, 200, 200, 200, 200]
    );
    assert_eq!(
        shown[1],
        "gpc=1,2,6 rate=1,2 gpt=2,7 legacy=1,2,2,1 src=2,2,7 conv=2,1,7,1,12 miss=0 past=[][][]"
    );
    assert_eq!(
        ct[1],
        "key=127.0.0.1 use=0 http_req_cnt=24 gpt0=2 gpt1=7 gpc0=0 gpc1=1 gpc2=13 gpc0_rate(10000)=1 gpc1_rate(10000)=4",
        "{ct:?}"
    );
}

/// `http_fail_cnt`/`http_fail_rate` (HAProxy 2.6's server failures): a backend answering by
/// path (`/status/CODE`), one answering junk, one gone, one silent past `timeout server`, one
/// cutting its body short, one sending a bad chunk; the failures counted on the stream's counter (`http-request
/// track-sc0`), the connection's (`tcp-request connection track-sc1`) and the one
/// `http-response track-sc2` starts; the fetches, converters, a deny on the count, `show
/// table` with a `data.http_fail_cnt` filter and `clear table` by it over the stats socket.
fn fail_config(port: u16, sock: &str, servers: [u16; 7]) -> String {
    let [serve, junk, dead, hold, cut, chunk, late] = servers;
    format!(
        "global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 10 expire 30s store http_req_cnt,http_fail_cnt,http_fail_rate(10s)
    tcp-request connection track-sc1 src table sess
    http-request track-sc0 src
    http-request return status 200 content-type text/plain lf-string \"fail=%[sc_http_fail_cnt(0)],%[sc0_http_fail_cnt],%[sc1_http_fail_cnt],%[sc_http_fail_cnt(1,sess)],%[sc1_http_fail_cnt(resp)] rate=%[sc_http_fail_rate(0)],%[sc1_http_fail_rate],%[sc0_http_fail_rate(sess)] src=%[src_http_fail_cnt],%[src_http_fail_rate(resp)] conv=%[src,table_http_fail_cnt(resp)],%[src,table_http_fail_rate(fe)],%[ipv4(192.0.2.1),table_http_fail_cnt(fe)]\" if {{ path /show }}
    http-request deny deny_status 429 if {{ sc_http_fail_cnt(0) gt 7 }}
    http-response track-sc2 src table resp
    use_backend junk if {{ path /junk }}
    use_backend dead if {{ path /dead }}
    use_backend hold if {{ path /hold }}
    use_backend cut if {{ path /cut }}
    use_backend chunk if {{ path /chunk }}
    use_backend late if {{ path /late }}
    default_backend be
backend be
    server s 127.0.0.1:{serve}
backend junk
    server s 127.0.0.1:{junk}
backend dead
    retries 0
    server s 127.0.0.1:{dead}
backend hold
    timeout server 300ms
    server s 127.0.0.1:{hold}
backend cut
    server s 127.0.0.1:{cut}
backend chunk
    server s 127.0.0.1:{chunk}
backend late
    http-response wait-for-body time 200ms
    server s 127.0.0.1:{late}
backend sess
    stick-table type ip size 10 expire 30s store http_fail_cnt,http_fail_rate(10s)
backend resp
    stick-table type ip size 10 expire 30s store http_req_cnt,http_fail_cnt,http_fail_rate(10s)
"
    )
}

#[test]
fn http_fail_counters_match_haproxy() {
    use std::io::{Read, Write};
    let dir = TempDir::new("httpfail");
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let serve = Serve::start("web", &[]);
    // Reads the request, then: junk and a close; nothing until the proxy gives up; a head
    // whose body stops short; a good chunk, then a bad one; a head and a body that does
    // not come (for `wait-for-body`).
    let read_req = |s: &mut std::net::TcpStream| {
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
    };
    let junk = Backend::start(move |mut s| {
        read_req(&mut s);
        let _ = s.write_all(b"junk\n");
    });
    let drain = |s: &mut std::net::TcpStream| {
        let mut b = [0u8; 64];
        while let Ok(n) = s.read(&mut b) {
            if n == 0 {
                break;
            }
        }
    };
    let hold = Backend::start(move |mut s| {
        read_req(&mut s);
        drain(&mut s);
    });
    let cut = Backend::start(move |mut s| {
        read_req(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    });
    let chunk = Backend::start(move |mut s| {
        read_req(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n");
        // The bad chunk after the head went out (HAProxy refuses it with the head
        // otherwise).
        std::thread::sleep(Duration::from_millis(100));
        let _ = s.write_all(b"zz\r\n");
        std::thread::sleep(Duration::from_millis(100));
    });
    let late = Backend::start(move |mut s| {
        read_req(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nx");
        drain(&mut s);
    });
    let dead = free_port();
    let (hp, cp) = (free_port(), free_port());
    let cfg = |port: u16, sock: &std::path::Path| {
        let sock = sock.to_str().unwrap();
        let servers = [
            serve.port, junk.port, dead, hold.port, cut.port, chunk.port, late.port,
        ];
        fail_config(port, sock, servers)
    };
    let Some(haproxy) = Haproxy::start(&cfg(hp, &hsock), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp, &csock), &[], &[cp]);
    wait_unix_socket(&csock);
    let paths = [
        "/status/200",
        "/status/500",
        "/show",
        "/status/501",
        "/status/505",
        "/status/404",
        "/status/503",
        "/junk",
        "/show",
        "/dead",
        "/status/502",
        "/hold",
        "/show",
        "/cut",
        "/late",
        "/chunk",
        "/status/599",
        "/status/200",
        "/show",
    ];
    let (mut diffs, statuses, shown) = compare_paths(hp, cp, &paths, &["/show"]);
    let cmds = [
        "show table fe",
        "show table sess",
        "show table resp",
        "show table fe data.http_fail_cnt gt 7",
        "show table fe data.http_fail_cnt gt 8",
        "show table fe data.http_fail_rate ge 8",
        "clear table resp data.http_fail_cnt lt 3",
        "show table resp",
        "clear table resp data.http_fail_cnt gt 2",
        "show table resp",
    ];
    let mut ct = Vec::new();
    for cmd in cmds {
        let (h, c) = (table_lines(&hsock, cmd), table_lines(&csock, cmd));
        if h != c {
            diffs.push(format!("{cmd}:\n  haproxy: {h:?}\n  corelb:  {c:?}"));
        }
        ct.push(c);
    }
    assert_same(&diffs, &haproxy, &corelb);
    // What they agreed on: 5xx but 501 and 505, junk, a timeout, a late body and a bad
    // chunk counted; a refused connect (503), a body cut short and the proxy's own answers
    // not; the deny past 7.
    assert_eq!(
        statuses,
        [
            200, 500, 200, 501, 505, 404, 503, 502, 200, 503, 502, 504, 200, 200, 504, 200, 599,
            429, 200
        ]
    );
    assert_eq!(
        shown,
        [
            "fail=1,1,1,1,1 rate=1,1,1 src=1,1 conv=1,1,0",
            "fail=3,3,3,3,2 rate=3,3,3 src=3,2 conv=2,3,0",
            "fail=5,5,5,5,3 rate=5,5,5 src=5,3 conv=3,5,0",
            "fail=8,8,8,8,5 rate=8,8,8 src=8,5 conv=5,8,0",
        ]
    );
    assert_eq!(
        ct[0][1], "key=127.0.0.1 use=0 http_req_cnt=19 http_fail_cnt=8 http_fail_rate(10000)=8",
        "{ct:?}"
    );
    assert_eq!(ct[3], ct[0], "gt 7 keeps the entry");
    assert_eq!(ct[4].len(), 2, "gt 8 filters it out: {ct:?}");
    assert_eq!(ct[7], ct[2], "clear ... lt 3 removed nothing");
    assert_eq!(ct[9], ["# table: resp, type: ip, size:10, used:0", ""]);
}

/// Fetches on a counter nothing tracks find nothing, with or without a table (an ACL on them
/// is false, `lt` included), as in HAProxy 2.6; a tracked counter looked up in another table
/// where its key is absent reads 0.
fn untracked_config(port: u16, _a: u16, _b: u16) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 10 expire 30s store http_err_cnt,http_req_rate(10s),gpc0
    http-request track-sc1 src if {{ path /t }}
    http-request set-var(txn.lt) str(yes) if {{ sc_http_req_rate(0) lt 5 }}
    http-request return status 200 content-type text/plain lf-string \"a=[%[sc_http_err_cnt(0)]] b=[%[sc2_http_err_cnt]] c=[%[sc0_http_req_rate(other)]] d=[%[sc0_inc_gpc0]] e=[%[sc0_trackers]] f=[%[sc1_http_req_rate(other)]] g=[%[sc1_http_req_rate]] lt=[%[var(txn.lt)]]\"
backend other
    stick-table type ip size 10 expire 30s store http_req_rate(10s)
"
    )
}

#[test]
fn untracked_counters_find_nothing_as_in_haproxy() {
    let Some(pair) = Pair::start(("web-a", "web-b"), untracked_config) else {
        return;
    };
    let (diffs, _, shown) = compare_paths(pair.hp, pair.cp, &["/", "/t"], &["/", "/t"]);
    pair.assert_same(&diffs);
    assert_eq!(
        shown,
        [
            "a=[] b=[] c=[] d=[] e=[] f=[] g=[] lt=[]",
            "a=[] b=[] c=[] d=[] e=[] f=[0] g=[1] lt=[]"
        ]
    );
}

/// `set table` over the stats socket: entries created and set in tables of each key type,
/// counters at their width (32 bits but `bytes_in_cnt`, `server_id` signed), a rate, the
/// `gpt`/`gpc`/`gpc_rate` arrays (element 0; `gpc0` refused), every error HAProxy 2.6
/// answers (an error after the key keeps the entry and the values before it), the levels
/// (operator may, user may not); then `show table`, and requests the entries decide
/// (`sc_get_gpc0`, `src_get_gpt0`).
fn set_table_config(port: u16, dir: &str) -> String {
    format!(
        "global
    stats socket {dir}/admin.sock level admin
    stats socket {dir}/oper.sock level operator
    stats socket {dir}/user.sock level user
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 20 expire 1m store gpc0,gpt0,server_id,http_req_cnt,conn_rate(10s),gpc1
    http-request track-sc0 src
    http-request deny deny_status 403 if {{ sc_get_gpc0(0) gt 0 }}
    http-request deny deny_status 429 if {{ src_get_gpt0 eq 9 }}
    http-request return status 200 content-type text/plain string ok
backend s
    stick-table type string len 4 size 10 store gpt(2),gpc(2),gpc_rate(2,10s)
backend b
    stick-table type binary len 4 size 10 store gpt0
backend i
    stick-table type integer size 10 store gpt0,conn_cur,bytes_in_cnt
backend v6
    stick-table type ipv6 size 10 store gpt0
"
    )
}

#[test]
fn set_table_matches_haproxy() {
    let (hdir, cdir) = (TempDir::new("settable-h"), TempDir::new("settable-c"));
    let (hp, cp) = (free_port(), free_port());
    let hcfg = set_table_config(hp, hdir.0.to_str().unwrap());
    let Some(haproxy) = Haproxy::start(&hcfg, &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&set_table_config(cp, cdir.0.to_str().unwrap()), &[], &[cp]);
    wait_unix_socket(&cdir.path("admin.sock"));
    let mut diffs = Vec::new();
    let mut ask = |sock: &str, cmd: &str| -> (Vec<String>, Vec<String>) {
        let (h, c) = (
            table_lines(&hdir.path(sock), cmd),
            table_lines(&cdir.path(sock), cmd),
        );
        if h != c {
            diffs.push(format!(
                "{sock} '{cmd}':\n  haproxy: {h:?}\n  corelb:  {c:?}"
            ));
        }
        (h, c)
    };
    // Before: the client's entry is created by its request, and allowed; `set table fe`
    // alone then removes it (HAProxy 2.6 clears the table).
    let (mut hd, s0, _) = compare_paths(hp, cp, &["/"], &[]);
    let cmds = [
        "set table",
        "set table nope key 1.2.3.4",
        "set table fe",
        "set table fe foo",
        "set table fe key",
        "set table fe data.gpc0 1",
        "set table fe key 1.2.3.4 data.gpc0 3 data.gpt0 -1 data.server_id -1 data.http_req_cnt 4294967297 data.conn_rate 7",
        "set table fe key 1.2.3.5 data.gpc0 2 data.foo 1 data.gpt0 5",
        "set table fe key 1.2.3.6 data.gpc0 2 data.http_err_cnt 1",
        "set table fe key 1.2.3.7 data.gpc0 2 data.gpt0",
        "set table fe key 1.2.3.8 data.gpc0 2 data.gpt0 x",
        "set table fe key 1.2.3.9 data.gpc0 2 gpt0 1",
        "set table fe key 1.2.3.10 data.gpc0 2 data.gpt0 12x",
        "set table fe key 1.2.3.11 data.server_id 4294967297 data.gpc1 +4",
        "set table fe key 1.1.1.2 data.gpc1 -4 data.gpt0 -",
        "set table fe key 1.1.1.5 data.gpc1 00012 data.gpc0 9223372036854775808",
        "set table v6 key ::ffff:1.2.3.5 data.gpt0 2",
        "set table fe key junk data.gpc0 1",
        "set table fe key 1.2.3.12 data.server_key 1",
        "set table s key abcdefg data.gpt 4 data.gpc 5 data.gpc_rate 6 data.gpt0 7 data.gpc1 8",
        "set table s key x data.gpc0 8",
        "set table b key ab data.gpt0 1",
        "set table i key 12 data.gpt0 1 data.conn_cur 3 data.bytes_in_cnt 4294967297",
        "set table i key 7 data.bytes_in_cnt -9223372036854775808",
        "set table i key -1 data.gpt0 1",
        "set table i key 4294967296 data.gpt0 1",
        "set table i key 12x data.gpt0 2",
        "set table i key 13",
        "set table v6 key 1.2.3.4 data.gpt0 1",
        "set table v6 key ::1 data.gpt0 1",
    ];
    for cmd in cmds {
        ask("admin.sock", cmd);
    }
    ask("oper.sock", "set table fe key 2.2.2.2 data.gpc0 1");
    let (_, denied) = ask("user.sock", "set table fe key 3.3.3.3 data.gpc0 1");
    ask("user.sock", "set table fe key");
    let mut tables = Vec::new();
    for t in ["fe", "s", "i", "v6", "b"] {
        tables.push(ask("admin.sock", &format!("show table {t}")).1);
    }
    // The client's own entry now denies it, by gpc0, then by gpt0 alone.
    ask("admin.sock", "set table fe key 127.0.0.1 data.gpc0 1");
    let (d1, s1, _) = compare_paths(hp, cp, &["/"], &[]);
    ask(
        "admin.sock",
        "set table fe key 127.0.0.1 data.gpc0 0 data.gpt0 9",
    );
    let (d2, statuses, _) = compare_paths(hp, cp, &["/"], &[]);
    let after = ask("admin.sock", "show table fe key 127.0.0.1").1;
    hd.extend(d1);
    hd.extend(d2);
    diffs.extend(hd);
    assert_same(&diffs, &haproxy, &corelb);
    // What they agreed on: entries set, errors answered, and the decisions they made.
    assert_eq!(denied, ["Permission denied", ""]);
    assert!(
        !tables[0].iter().any(|l| l.contains("key=127.0.0.1 ")),
        "'set table fe' alone clears fe: {:?}",
        tables[0]
    );
    assert!(
        tables[0].contains(&"key=1.2.3.4 use=0 server_id=-1 gpt0=4294967295 gpc0=3 conn_rate(10000)=7 http_req_cnt=1 gpc1=0".to_string()),
        "{:?}",
        tables[0]
    );
    assert!(
        tables[1].contains(
            &"key=abcd use=0 gpt0=4 gpt1=0 gpc0=5 gpc1=0 gpc0_rate(10000)=6 gpc1_rate(10000)=0"
                .to_string()
        ),
        "{:?}",
        tables[1]
    );
    assert_eq!((s0, s1, statuses), (vec![200], vec![403], vec![429]));
    assert!(after[1].contains(" gpt0=9 gpc0=0 "), "{after:?}");
}

/// HTTP errors counted where HAProxy 2.6 counts them (`stream_inc_http_err_ctr`): an
/// `http-request deny`, a `tarpit`, on the stream's and the connection's counters; a `return`
/// of a 4xx is not one; an invalid request (400) counts on what the connection tracks.
fn err_config(port: u16, sock: &str) -> String {
    format!(
        "global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout tarpit 100ms
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 10 expire 1m store http_req_cnt,http_err_cnt,http_err_rate(10s)
    tcp-request connection track-sc1 src
    http-request track-sc0 src
    http-request deny if {{ path /deny }}
    http-request tarpit if {{ path /tarpit }}
    http-request return status 404 if {{ path /ret }}
    http-request return status 200
"
    )
}

#[test]
fn http_errors_count_on_deny_tarpit_and_bad_requests_as_in_haproxy() {
    let dir = TempDir::new("httperr");
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&err_config(hp, hsock.to_str().unwrap()), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&err_config(cp, csock.to_str().unwrap()), &[], &[cp]);
    wait_unix_socket(&csock);
    let mut diffs = Vec::new();
    let mut shown = Vec::new();
    for step in ["/deny", "/tarpit", "/ret", "/", "bad"] {
        if step == "bad" {
            let req = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n";
            let (h, c) = (seen(&raw_exchange(hp, req)), seen(&raw_exchange(cp, req)));
            if h != c {
                diffs.push(format!("bad request:\n  haproxy: {h:?}\n  corelb:  {c:?}"));
            }
        } else {
            diffs.extend(compare_paths(hp, cp, &[step], &[]).0);
        }
        let (ht, ct) = (
            table_lines(&hsock, "show table fe"),
            table_lines(&csock, "show table fe"),
        );
        if ht != ct {
            diffs.push(format!(
                "after {step}:\n  haproxy: {ht:?}\n  corelb:  {ct:?}"
            ));
        }
        shown.push(ct.get(1).cloned().unwrap_or_default());
    }
    assert_same(&diffs, &haproxy, &corelb);
    // What they agreed on: two counters on one entry, both counting each error.
    assert_eq!(
        shown,
        [
            "key=127.0.0.1 use=0 http_req_cnt=2 http_err_cnt=2 http_err_rate(10000)=2",
            "key=127.0.0.1 use=0 http_req_cnt=4 http_err_cnt=4 http_err_rate(10000)=4",
            "key=127.0.0.1 use=0 http_req_cnt=6 http_err_cnt=4 http_err_rate(10000)=4",
            "key=127.0.0.1 use=0 http_req_cnt=8 http_err_cnt=4 http_err_rate(10000)=4",
            "key=127.0.0.1 use=0 http_req_cnt=9 http_err_cnt=5 http_err_rate(10000)=5",
        ]
    );
}
