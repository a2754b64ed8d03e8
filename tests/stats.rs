//! The stats page and the Prometheus exporter on the real binary: credentials, formats,
//! admin actions, and a real Prometheus server scraping corelb.

mod common;
use common::*;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One request on its own connection; `extra` goes into the head, `body` after it.
fn request(port: u16, method: &str, target: &str, extra: &str, body: &str) -> HttpResponse {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    let len = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        w,
        "{method} {target} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n{extra}{len}\r\n{body}"
    )
    .unwrap();
    read_response(&mut BufReader::new(c), method == "HEAD").unwrap()
}

fn text(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `ops:s3cret`
const AUTH: &str = "Authorization: Basic b3BzOnMzY3JldA==\r\n";

#[test]
fn stats_page_credentials_formats_and_admin_actions() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let port = free_port();
    let cfg = format!(
        "defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:{port}
    default_backend app
    stats uri /admin?stats
    stats realm Ops
    stats auth ops:s3cret
    stats refresh 5s
    stats admin if {{ src 127.0.0.1 }}
backend app
    server a 127.0.0.1:{}
    server b 127.0.0.1:{}
",
        a.port, b.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    // No credentials, then a wrong password: 401 with the realm; the failure is logged.
    let r = request(port, "GET", "/admin?stats", "", "");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Ops\""));
    let r = request(
        port,
        "GET",
        "/admin?stats",
        "Authorization: Basic b3BzOndyb25n\r\n",
        "",
    );
    assert_eq!(r.status, 401);
    assert!(
        eventually(Duration::from_secs(5), || lb
            .log()
            .contains("failed stats login as 'ops' from 127.0.0.1")
            .then_some(()))
        .is_some(),
        "{}",
        lb.log()
    );
    // The HTML page, refreshing unless ;norefresh.
    let r = request(port, "GET", "/admin?stats", AUTH, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("refresh"), Some("5"));
    let page = text(&r);
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert_eq!(page.matches("<th class=\"pxname\"").count(), 2, "web, app");
    assert!(page.contains("<select name=action>"), "stats admin holds");
    let r = request(port, "GET", "/admin?stats;norefresh", AUTH, "");
    assert_eq!(r.header("refresh"), None);
    // ;csv has the renderer's header, a row per object, every row as long as the header.
    for _ in 0..4 {
        assert_eq!(request(port, "GET", "/echo", "", "").status, 200);
    }
    let r = request(port, "GET", "/admin?stats;csv", AUTH, "");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let csv = text(&r);
    let mut header = String::new();
    corelb::stats::csv::header(&mut header);
    assert!(csv.starts_with(&header), "{csv}");
    assert!(csv.ends_with(",\n\n"), "an empty line at the end");
    let commas = header.matches(',').count();
    let rows: Vec<&str> = csv.lines().skip(1).filter(|l| !l.is_empty()).collect();
    let names: Vec<&str> = rows.iter().map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(names, ["FRONTEND", "a", "b", "BACKEND"]);
    assert!(rows.iter().all(|l| l.matches(',').count() == commas));
    // The frontend's requests: 4 stats page requests before, the 4 proxied ones (a
    // request is counted when it ends, so not this one yet).
    assert_eq!(csv_field(&csv, "FRONTEND", "req_tot"), "8");
    assert_eq!(csv_field(&csv, "FRONTEND", "hrsp_4xx"), "2");
    assert_eq!(csv_field(&csv, "BACKEND", "hrsp_2xx"), "4");
    assert_eq!(csv_field(&csv, "a", "status"), "no check");
    // ;json: HAProxy's typed rows.
    let r = request(port, "GET", "/admin?stats;json", AUTH, "");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let json = text(&r);
    assert!(json.starts_with("[[{\"objType\":\"Frontend\""), "{json}");
    assert!(json.ends_with("}]]\n"));
    // Admin: b into maintenance, from the page's form; traffic then goes to a only.
    let r = request(
        port,
        "POST",
        "/admin?stats",
        AUTH,
        "s=b&action=maint&b=%232",
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/admin?stats;st=DONE"));
    let csv = text(&request(port, "GET", "/admin?stats;csv", AUTH, ""));
    assert_eq!(csv_field(&csv, "b", "status"), "MAINT");
    let before = csv_field(&csv, "a", "stot").parse::<u64>().unwrap();
    for _ in 0..4 {
        assert_eq!(request(port, "GET", "/echo", "", "").status, 200);
    }
    let csv = text(&request(port, "GET", "/admin?stats;up;csv", AUTH, ""));
    assert_eq!(
        csv_field(&csv, "a", "stot").parse::<u64>().unwrap(),
        before + 4
    );
    assert!(!csv.contains(",b,"), ";up hides b");
    // Without credentials the form is refused before anything changes.
    let r = request(port, "POST", "/admin?stats", "", "s=b&action=ready&b=%232");
    assert_eq!(r.status, 401);
    let r = request(port, "POST", "/admin?stats", AUTH, "s=b&action=ready&b=app");
    assert_eq!(r.header("location"), Some("/admin?stats;st=DONE"));
    let csv = text(&request(port, "GET", "/admin?stats;csv", AUTH, ""));
    assert_eq!(csv_field(&csv, "b", "status"), "no check");
}

/// A Prometheus server on loopback, with its own data directory; killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Prometheus {
    fn start(target: u16) -> Option<Prometheus> {
        if Command::new("prometheus")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIP: prometheus is not installed (apt-get install prometheus)");
            return None;
        }
        let dir = TempDir::new("prometheus");
        let cfg = dir.write(
            "prometheus.yml",
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: corelb\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        );
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path("stderr.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        Some(Prometheus {
            child,
            port,
            _dir: dir,
        })
    }

    /// The value of an instant query's first sample, when there is one.
    fn query(&self, q: &str) -> Option<String> {
        let c = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut w = c.try_clone().ok()?;
        let enc: String = q
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        write!(
            w,
            "GET /api/v1/query?query={enc} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let r = read_response(&mut BufReader::new(c), false).ok()?;
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[T,"V"]}]}}
        let body = text(&r);
        let v = body.split("\"value\":[").nth(1)?;
        Some(v.split('"').nth(1)?.to_string())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_haproxys_families_from_corelb() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let (web, stats) = (free_port(), free_port());
    let cfg = stats_config(web, stats, a.port, b.port);
    let _lb = Corelb::start(&cfg, &[], &[web, stats]);
    const N: usize = 13;
    for _ in 0..N {
        assert_eq!(request(web, "GET", "/echo", "", "").status, 200);
    }
    // promtool's linter accepts the exposition.
    let m = request(stats, "GET", "/metrics", "", "");
    assert_eq!(m.header("content-type"), Some("text/plain; version=0.0.4"));
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            p.stdin.take().unwrap().write_all(&m.body).unwrap();
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => eprintln!("SKIP promtool: not installed (apt-get install prometheus)"),
    }
    // scope= narrows the exposition.
    let fe = text(&request(stats, "GET", "/metrics?scope=frontend", "", ""));
    assert!(fe.contains("haproxy_frontend_http_requests_total{proxy=\"web\"} 13\n"));
    assert!(!fe.contains("haproxy_backend_") && !fe.contains("haproxy_process_"));
    // A real Prometheus scrapes it every second and answers the dashboards' query.
    let Some(prom) = Prometheus::start(stats) else {
        return;
    };
    let q = "haproxy_frontend_http_requests_total{proxy=\"web\"}";
    let got = eventually(Duration::from_secs(30), || {
        prom.query(q).filter(|v| v == &N.to_string())
    });
    assert_eq!(got, Some(N.to_string()), "Prometheus' {q}");
    let up = eventually(Duration::from_secs(10), || {
        prom.query("sum(haproxy_server_status{proxy=\"app\",state=\"UP\"})")
            .filter(|v| v == "2")
    });
    assert_eq!(up.as_deref(), Some("2"));
}

#[test]
fn mode_tcp_connections_are_counted() {
    let echo = Backend::echo();
    let (tcp, stats) = (free_port(), free_port());
    let cfg = format!(
        "defaults
    timeout connect 5s
    timeout client 10s
    timeout server 10s
listen echo
    mode tcp
    bind 127.0.0.1:{tcp}
    server e 127.0.0.1:{}
frontend stats
    mode http
    bind 127.0.0.1:{stats}
    stats enable
",
        echo.port
    );
    let _lb = Corelb::start(&cfg, &[], &[tcp, stats]);
    for _ in 0..3 {
        let mut c = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"hello").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut c, &mut back).unwrap();
        assert_eq!(back, b"hello");
    }
    // A connection is counted when it closes on corelb's side too.
    let counted = eventually(Duration::from_secs(5), || {
        let csv = text(&request(stats, "GET", "/haproxy?stats;csv", "", ""));
        (csv_field(&csv, "BACKEND", "stot") == "3").then_some(csv)
    })
    .expect("three sessions through the backend");
    for (sv, f, v) in [
        ("FRONTEND", "stot", "3"),
        ("FRONTEND", "bin", "15"),
        ("FRONTEND", "bout", "15"),
        ("e", "stot", "3"),
        ("e", "bout", "15"),
        ("BACKEND", "req_tot", ""),
        ("FRONTEND", "mode", "tcp"),
    ] {
        assert_eq!(csv_field(&counted, sv, f), v, "{sv} {f}");
    }
}

/// The first value of a Prometheus series whose line starts with `series`.
fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn idle_connection_gauges_and_backend_downtime() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let (web, stats) = (free_port(), free_port());
    let dir = TempDir::new("stats");
    let sock = dir.path("admin.sock");
    let cfg = stats_config(web, stats, a.port, b.port).replace(
        "global\n",
        &format!("global\n    stats socket {} level admin\n", sock.display()),
    );
    let _lb = Corelb::start(&cfg, &[], &[web, stats]);
    wait_unix_socket(&sock);
    // Keep-alive requests: each server connection goes back to its shard's pool after
    // the response, where it waits (idle) for the next request.
    let mut c = TcpStream::connect(("127.0.0.1", web)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    for _ in 0..4 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    let idle = |csv: &str, f: &str| -> u64 {
        ["a", "b"]
            .iter()
            .map(|s| csv_field(csv, s, f).parse::<u64>().unwrap())
            .sum()
    };
    let csv = eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(&sock, "show stat");
        (idle(&csv, "srv_icur") >= 1).then_some(csv)
    })
    .expect("pooled connections show as idle");
    assert_eq!(
        idle(&csv, "srv_icur"),
        idle(&csv, "idle_conn_cur") + idle(&csv, "safe_conn_cur"),
        "{csv}"
    );
    assert_eq!(idle(&csv, "used_conn_cur"), 0, "{csv}");
    assert_eq!(
        csv_field(&csv, "a", "src_ilim"),
        "256",
        "128 per shard: {csv}"
    );
    let m = text(&request(stats, "GET", "/metrics", "", ""));
    let series = |n: &str| {
        ["a", "b"]
            .iter()
            .map(|s| metric(&m, &format!("{n}{{proxy=\"app\",server=\"{s}\"}}")).unwrap())
            .sum::<f64>()
    };
    assert!(
        series("haproxy_server_idle_connections_current") >= 1.0,
        "{m}"
    );
    assert_eq!(series("haproxy_server_idle_connections_limit"), 512.0);
    for n in [
        "haproxy_server_unsafe_idle_connections_current",
        "haproxy_server_safe_idle_connections_current",
        "haproxy_server_used_connections_current",
    ] {
        assert!(m.contains(&format!("# TYPE {n} gauge\n")), "{n}");
    }
    // The backend's downtime: 0 while up, then it grows while no server is usable.
    assert_eq!(csv_field(&csv, "BACKEND", "downtime"), "0");
    for s in ["a", "b"] {
        assert_eq!(
            stats_cmd(&sock, &format!("set server app/{s} state maint")),
            "\n"
        );
    }
    let csv = eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(&sock, "show stat");
        (csv_field(&csv, "BACKEND", "downtime") != "0").then_some(csv)
    })
    .expect("the backend's downtime grows");
    assert_eq!(csv_field(&csv, "BACKEND", "status"), "DOWN");
    let m = text(&request(stats, "GET", "/metrics", "", ""));
    assert!(metric(&m, "haproxy_backend_downtime_seconds_total{proxy=\"app\"}").unwrap() >= 1.0);
    stats_cmd(&sock, "set server app/a state ready");
    let t = csv_field(&stats_cmd(&sock, "show stat"), "BACKEND", "downtime").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        csv_field(&stats_cmd(&sock, "show stat"), "BACKEND", "downtime"),
        t,
        "up again: the downtime stops growing"
    );
}

#[test]
fn listener_rows_with_option_socket_stats() {
    let a = Serve::start("a", &[]);
    let (p1, p2, stats) = (free_port(), free_port(), free_port());
    let dir = TempDir::new("stats");
    let sock = dir.path("admin.sock");
    let cfg = format!(
        "global
    stats socket {}
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    option socket-stats
    bind 127.0.0.1:{p1} name pub
    bind 127.0.0.1:{p2}
    default_backend app
frontend stats
    bind 127.0.0.1:{stats}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
backend app
    server a 127.0.0.1:{}
",
        sock.display(),
        a.port
    );
    let _lb = Corelb::start(&cfg, &["--shards", "2"], &[p1, p2, stats]);
    wait_unix_socket(&sock);
    for (port, n) in [(p1, 3), (p2, 1)] {
        for _ in 0..n {
            let r = raw_exchange(
                port,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
    }
    // A connection held open counts in scur while it lasts.
    let held = TcpStream::connect(("127.0.0.1", p2)).unwrap();
    let csv = eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(&sock, "show stat");
        (csv_field(&csv, "pub", "stot") == "3" && csv_field(&csv, "sock-2", "scur") == "1")
            .then_some(csv)
    })
    .unwrap_or_else(|| panic!("{}", stats_cmd(&sock, "show stat")));
    for (sv, f, v) in [
        ("pub", "type", "3"),
        ("pub", "sid", "1"),
        ("pub", "status", "OPEN"),
        ("pub", "scur", "0"),
        ("pub", "addr", &format!("127.0.0.1:{p1}")),
        ("pub", "mode", "http"),
        ("sock-2", "stot", "2"),
        ("sock-2", "sid", "2"),
        ("FRONTEND", "stot", "5"),
    ] {
        assert_eq!(csv_field(&csv, sv, f), v, "{sv} {f}: {csv}");
    }
    let bin: u64 = csv_field(&csv, "pub", "bin").parse().unwrap();
    assert!(bin > 0 && csv_field(&csv, "pub", "bout") != "0");
    // HAProxy's order: the frontend, then its listeners.
    let order: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("web,"))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(order, ["FRONTEND", "pub", "sock-2"]);
    // `show stat` selects listeners with type 8; typed and JSON have them too.
    let only = stats_cmd(&sock, "show stat web 8 -1");
    assert_eq!(
        only.lines().filter(|l| l.starts_with("web,")).count(),
        2,
        "{only}"
    );
    let typed = stats_cmd(&sock, "show stat typed");
    assert!(
        typed
            .lines()
            .any(|l| l.starts_with("L.") && l.ends_with(".1.1.svname.1:KNS:str:pub")),
        "{typed}"
    );
    assert!(stats_cmd(&sock, "show stat json").contains("\"objType\":\"Listener\""));
    drop(held);
    // Prometheus: haproxy_listener_* with the proxy and listener labels; scope=listener.
    let m = text(&request(stats, "GET", "/metrics", "", ""));
    assert_eq!(
        metric(
            &m,
            "haproxy_listener_sessions_total{proxy=\"web\",listener=\"pub\"}"
        ),
        Some(3.0),
        "{m}"
    );
    assert!(
        m.contains("haproxy_listener_status{proxy=\"web\",listener=\"sock-2\",state=\"OPEN\"} 1\n")
    );
    let l = text(&request(stats, "GET", "/metrics?scope=listener", "", ""));
    assert!(
        l.contains("# TYPE haproxy_listener_bytes_in_total counter\n"),
        "{l}"
    );
    assert!(
        !l.contains("haproxy_frontend_") && !l.contains("haproxy_process_"),
        "{l}"
    );
    // The HTML page has a row per listener.
    let page = text(&request(stats, "GET", "/haproxy?stats", "", ""));
    assert!(
        page.contains(">pub<") && page.contains(">sock-2<"),
        "{page}"
    );
}

/// The string values of `key` in a JSON text (`"key": "…"`), unescaped.
fn json_strings(json: &str, key: &str) -> Vec<String> {
    let pat = format!("\"{key}\": \"");
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        let mut s = String::new();
        let mut chars = rest.char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                }
                '"' => {
                    rest = &rest[k + 1..];
                    break;
                }
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// Metric names in a PromQL expression: `haproxy_…` identifiers.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("haproxy_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Metrics the dashboards name that corelb does not serve, and why (docs/operations.md
/// says the same).
const NOT_SERVED: &[(&str, &str)] = &[
    (
        "haproxy_process_pool_allocated_bytes",
        "HAProxy's memory pools; corelb allocates with mimalloc, process-wide",
    ),
    (
        "haproxy_process_pool_used_bytes",
        "HAProxy's memory pools; corelb allocates with mimalloc, process-wide",
    ),
];

#[test]
fn grafana_haproxy_mixin_dashboards_work_unchanged() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let (web, stats) = (free_port(), free_port());
    let _lb = Corelb::start(
        &stats_config(web, stats, a.port, b.port),
        &[],
        &[web, stats],
    );
    for _ in 0..10 {
        let r = raw_exchange(
            web,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let m = text(&request(stats, "GET", "/metrics", "", ""));
    let series = |name: &str| -> Vec<&str> {
        m.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            })
            .collect()
    };
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/grafana-haproxy-mixin");
    let mut missing = std::collections::BTreeSet::new();
    let mut checked = std::collections::BTreeSet::new();
    for file in ["overview", "frontend", "backend", "server"] {
        let json = std::fs::read_to_string(dir.join(format!("haproxy-{file}.json"))).unwrap();
        let exprs: Vec<String> = ["expr", "query", "definition"]
            .iter()
            .flat_map(|k| json_strings(&json, k))
            .collect();
        assert!(exprs.len() > 5, "{file}: {exprs:?}");
        for e in &exprs {
            for name in metric_names(e) {
                let s = series(&name);
                if s.is_empty() {
                    missing.insert(name);
                    continue;
                }
                // The labels the panel filters or groups on are on the series.
                for label in ["proxy", "server"] {
                    if e.contains(&format!("{label}=~")) {
                        assert!(
                            s.iter().all(|l| l.contains(&format!("{label}=\""))),
                            "{file}: {e}: {s:?}"
                        );
                    }
                }
                checked.insert(name);
            }
        }
    }
    let want: std::collections::BTreeSet<String> =
        NOT_SERVED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(missing, want, "served: {checked:?}");
    assert!(checked.len() >= 45, "{checked:?}");
    // The panels read traffic: the requests sent are in the counters they rate().
    let reqs = metric(&m, "haproxy_frontend_http_requests_total{proxy=\"web\"}");
    assert_eq!(reqs, Some(10.0), "{m}");
    assert!(
        metric(
            &m,
            "haproxy_backend_response_time_average_seconds{proxy=\"app\"}"
        )
        .is_some()
    );
    assert!(m.contains("haproxy_frontend_status{proxy=\"web\",state=\"UP\"} 1\n"));
}

/// The shard's io_uring counters (glommio's rings, published once a second) are served.
#[test]
fn shard_io_uring_counters_are_served() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let (web, stats) = (free_port(), free_port());
    let _lb = Corelb::start(
        &stats_config(web, stats, a.port, b.port),
        &[],
        &[web, stats],
    );
    for _ in 0..5 {
        assert_eq!(request(web, "GET", "/echo", "", "").status, 200);
    }
    let value = |m: &str, name: &str| -> Option<u64> {
        let line = m.lines().find(|l| l.starts_with(name))?;
        line.rsplit(' ').next()?.parse().ok()
    };
    let got = eventually(Duration::from_secs(10), || {
        let m = text(&request(stats, "GET", "/metrics", "", ""));
        let enters = value(&m, "corelb_shard_io_uring_enters_total{shard=\"0\"}")?;
        let subs = value(&m, "corelb_shard_io_uring_submissions_total{shard=\"0\"}")?;
        (enters > 0 && subs > 0).then_some((enters, subs))
    });
    assert!(got.is_some(), "no io_uring counters for shard 0");
}

/// The listener rows of `option socket-stats` carry each listener's id (`bind … id`, else
/// the one HAProxy numbers it with) as `sid` and `sock-ID` as the name of an unnamed one,
/// as HAProxy 2.6's `show stat` does. Before, corelb numbered them by their position
/// (`sock-1`, `sock-2` where HAProxy says `sock-2`, `sock-3`).
#[test]
fn listener_rows_are_named_and_numbered_as_in_haproxy() {
    let a = Serve::start("a", &[]);
    let dir = TempDir::new("stats-li");
    let cfg = |sock: &std::path::Path, p: &[u16]| {
        format!(
            "global
    stats socket {}
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    option socket-stats
    bind 127.0.0.1:{} id 2
    bind 127.0.0.1:{}
    bind 127.0.0.1:{} name nm
    bind 127.0.0.1:{} id 9
    default_backend app
backend app
    server a 127.0.0.1:{}
",
            sock.display(),
            p[0],
            p[1],
            p[2],
            p[3],
            a.port
        )
    };
    let ports = |_| -> Vec<u16> { (0..4).map(|_| free_port()).collect() };
    let (hp, cp) = (ports(0), ports(1));
    let (hs, cs) = (dir.path("h.sock"), dir.path("c.sock"));
    let Some(_haproxy) = common::haproxy::Haproxy::start(&cfg(&hs, &hp), &hp) else {
        return;
    };
    let _lb = Corelb::start(&cfg(&cs, &cp), &[], &cp);
    wait_unix_socket(&hs);
    wait_unix_socket(&cs);
    // (name, sid) of each listener row, in order.
    let rows = |sock: &std::path::Path| -> Vec<(String, String)> {
        let csv = stats_cmd(sock, "show stat web 8 -1");
        csv.lines()
            .filter(|l| l.starts_with("web,"))
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[1].to_string(), csv_field(&csv, f[1], "sid").to_string())
            })
            .collect()
    };
    let (h, c) = (rows(&hs), rows(&cs));
    assert_eq!(c, h);
    let want = [
        ("sock-2", "2"),
        ("sock-3", "3"),
        ("nm", "4"),
        ("sock-9", "9"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(c, want);
}
