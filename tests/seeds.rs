//! The seed configurations, as runnable single-machine examples (examples/*.cfg), behave as
//! their articles say.

mod common;
use common::*;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Sends `raw` on a new connection and reads one response.
fn ask(port: u16, raw: &[u8]) -> HttpResponse {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    w.write_all(raw).unwrap();
    read_response(&mut BufReader::new(c), false).unwrap()
}

fn body(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn seed_000_elb_proxy_protocol_cookie_persistence_and_health() {
    let mut apps: Vec<Serve> = (1..=3)
        .map(|i| Serve::start(&format!("app{i}"), &[]))
        .collect();
    let (web, health) = (free_port(), free_port());
    let dir = TempDir::new("seed000");
    let sock = dir.path("lb.sock");
    let env = vec![
        ("WEBAPP_PORT", web.to_string()),
        ("HEALTH_PORT", health.to_string()),
        ("APP1_PORT", apps[0].port.to_string()),
        ("APP2_PORT", apps[1].port.to_string()),
        ("APP3_PORT", apps[2].port.to_string()),
        ("STATS_SOCK", sock.display().to_string()),
    ];
    let lb = Corelb::start_file(
        &example("000-elb-persistence.cfg"),
        &env,
        &[],
        &[web, health],
    );
    // The article's stats socket (level admin): the three servers, each in its row.
    wait_unix_socket(&sock);
    let state = stats_cmd(&sock, "show servers state webapp");
    for s in ["app-i-0a11", "app-i-0a12", "app-i-0a13"] {
        assert!(state.contains(" webapp ") && state.contains(s), "{state}");
    }
    let proxy = b"PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\n";
    // First request: the ELB's PROXY header gives the client address; the response sets
    // the persistence cookie and is marked uncacheable.
    let mut req = proxy.to_vec();
    req.extend_from_slice(b"GET /echo HTTP/1.1\r\nHost: shop\r\n\r\n");
    let r = ask(web, &req);
    assert_eq!(r.status, 200);
    let cookie = r
        .header("set-cookie")
        .expect("SERVERID inserted")
        .to_string();
    assert!(
        cookie.starts_with("SERVERID=app-i-0a1") && cookie.contains("path=/"),
        "{cookie}"
    );
    assert_eq!(r.header("cache-control"), Some("private"), "nocache");
    assert!(
        body(&r).contains("[\"X-Forwarded-For\",\"203.0.113.7\"]"),
        "{}",
        body(&r)
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("SERVERID=")
        .to_string();
    let server = r.header("x-server").unwrap().to_string();
    // Later requests carrying the cookie stick to that server; the cookie is hidden from it
    // (indirect), other cookies are kept, and no new cookie is set.
    for _ in 0..6 {
        let mut req = proxy.to_vec();
        req.extend_from_slice(
            format!(
                "GET /echo HTTP/1.1\r\nHost: shop\r\nCookie: lang=en; SERVERID={value}\r\n\r\n"
            )
            .as_bytes(),
        );
        let r = ask(web, &req);
        assert_eq!(r.header("x-server"), Some(server.as_str()));
        assert!(r.header("set-cookie").is_none());
        let b = body(&r);
        assert!(b.contains("[\"Cookie\",\"lang=en\"]"), "{b}");
        assert!(!b.contains("SERVERID"), "{b}");
    }
    // The ELB's health check.
    let h = ask(health, b"GET /haproxy_status HTTP/1.1\r\nHost: elb\r\n\r\n");
    assert_eq!(h.status, 200);
    // The cookie's server dies: after its checks, its clients move with a fresh cookie.
    let idx: usize = server.trim_start_matches("app").parse::<usize>().unwrap() - 1;
    apps[idx].stop();
    let moved = eventually(Duration::from_secs(5), || {
        let mut req = proxy.to_vec();
        req.extend_from_slice(
            format!("GET /echo HTTP/1.1\r\nHost: shop\r\nCookie: SERVERID={value}\r\n\r\n")
                .as_bytes(),
        );
        let r = ask(web, &req);
        (r.status == 200 && r.header("x-server") != Some(server.as_str())).then_some(r)
    })
    .expect("requests move away from the dead server");
    assert!(
        moved
            .header("set-cookie")
            .is_some_and(|c| !c.contains(&value)),
        "a fresh cookie"
    );
    // Every server down: the health endpoint fails, so the ELB takes this balancer out.
    for (i, a) in apps.iter_mut().enumerate() {
        if i != idx {
            a.stop();
        }
    }
    let failed = eventually(Duration::from_secs(5), || {
        let h = ask(health, b"GET /haproxy_status HTTP/1.1\r\nHost: elb\r\n\r\n");
        (h.status == 503).then_some(())
    });
    assert!(
        failed.is_some(),
        "monitor fail if nbsrv(webapp) lt 1:\n{}",
        lb.log()
    );
    // A connection without the PROXY header never reaches a server.
    let out = raw_exchange(web, b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn seed_002_acl_content_switching() {
    let s: Vec<Serve> = (1..=6)
        .map(|i| Serve::start(&format!("server{i}"), &[]))
        .collect();
    let lbp = free_port();
    let mut env = vec![("LB_PORT", lbp.to_string())];
    for (i, srv) in s.iter().enumerate() {
        env.push((
            ["S1", "S2", "S3", "S4", "S5", "S6"][i],
            srv.port.to_string(),
        ));
    }
    let _lb = Corelb::start_file(&example("002-acl-content-switching.cfg"), &env, &[], &[lbp]);
    let who = |path: &str| {
        let r = ask(
            lbp,
            format!("GET {path} HTTP/1.1\r\nHost: ec2\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        r.header("x-server").unwrap_or("?").to_string()
    };
    for _ in 0..4 {
        assert!(["server1", "server2"].contains(&who("/shop/example1/cart").as_str()));
        assert!(["server3", "server4"].contains(&who("/x?ref=example2").as_str()));
        assert!(["server5", "server6"].contains(&who("/").as_str()));
    }
    // Round-robin inside a farm.
    let a = who("/example1");
    let b = who("/example1");
    assert_ne!(a, b);
    // default_farm inserts its cookie.
    let r = ask(
        lbp,
        b"GET / HTTP/1.1\r\nHost: ec2\r\nConnection: close\r\n\r\n",
    );
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("SERVERID=server0")),
        "{:?}",
        r.headers
    );
    // The article's stats page (defaults: `stats enable`, `uri /lb?stats`, realm, auth):
    // refused without the credentials, the farms' table with them; the CSV lists every
    // farm's servers.
    let r = ask(
        lbp,
        b"GET /lb?stats HTTP/1.1\r\nHost: ec2\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Haproxy Statistics\"")
    );
    // myusername:mypassword
    let auth = "Authorization: Basic bXl1c2VybmFtZTpteXBhc3N3b3Jk";
    let r = ask(
        lbp,
        format!("GET /lb?stats HTTP/1.1\r\nHost: ec2\r\n{auth}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!(body(&r).contains("example1_farm"), "{}", body(&r));
    let r = ask(
        lbp,
        format!("GET /lb?stats;csv HTTP/1.1\r\nHost: ec2\r\n{auth}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200);
    let csv = body(&r);
    assert!(csv.starts_with("# pxname,svname,"), "{csv}");
    for farm in ["example1_farm", "example2_farm", "default_farm"] {
        assert!(csv.contains(&format!("\n{farm},BACKEND,")), "{csv}");
    }
}

/// Seed 003: SSL offload. HTTPS reaches the three nodes round-robin with the forwarding
/// headers; plain HTTP is redirected to HTTPS.
#[test]
fn seed_003_ssl_offload() {
    let nodes: Vec<Serve> = (1..=3)
        .map(|i| Serve::start(&format!("node{i}"), &[]))
        .collect();
    let dir = TempDir::new("seed003");
    let pem = self_signed_pem(&dir, "site.pem", &["serverless.my.id"]);
    let (http, https, stats) = (free_port(), free_port(), free_port());
    let env = vec![
        ("HTTP_PORT", http.to_string()),
        ("HTTPS_PORT", https.to_string()),
        ("STATS_PORT", stats.to_string()),
        ("SITE_PEM", pem.display().to_string()),
        ("STATS_SOCK", dir.path("lb.sock").display().to_string()),
        ("NODE1_PORT", nodes[0].port.to_string()),
        ("NODE2_PORT", nodes[1].port.to_string()),
        ("NODE3_PORT", nodes[2].port.to_string()),
    ];
    let lb = Corelb::start_file(
        &example("003-ssl-offload.cfg"),
        &env,
        &[],
        &[http, https, stats],
    );
    // The stats socket: the three nodes are up, and the certificate can be renewed.
    wait_unix_socket(&dir.path("lb.sock"));
    let state = stats_cmd(&dir.path("lb.sock"), "show servers state backend");
    assert_eq!(
        state.lines().filter(|l| l.contains(" backend ")).count(),
        3,
        "{state}"
    );
    let r = ask(
        http,
        b"GET /a/b?c=d HTTP/1.1\r\nHost: serverless.my.id\r\n\r\n",
    );
    assert_eq!(r.status, 302, "{}", body(&r));
    assert_eq!(
        r.header("location"),
        Some("https://serverless.my.id/a/b?c=d")
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let (out, err) = curl_tls(&pem, "serverless.my.id", https, "/echo", &[]);
        assert!(out.ends_with("200 0"), "{out}\n{err}\n{}", lb.log());
        for h in [
            r#"["X-Forwarded-Proto","https"]"#,
            &format!(r#"["X-Forwarded-Port","{https}"]"#),
            r#"["X-Forwarded-For","127.0.0.1"]"#,
        ] {
            assert!(out.contains(h), "missing {h}: {out}");
        }
        let name = out.split("\"server\":\"").nth(1).unwrap_or("");
        seen.insert(name.split('"').next().unwrap_or("").to_string());
    }
    assert_eq!(seen.len(), 3, "round-robin over the three nodes: {seen:?}");
    // The article's stats frontend: the page (refreshing every 10 s) and the metrics its
    // Prometheus scrapes, which count the 7 requests above (1 redirect, 6 over TLS).
    let page = ask(stats, b"GET /stats HTTP/1.1\r\nHost: lb\r\n\r\n");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("refresh"), Some("10"));
    for px in ["haproxy.serverless.my.id", "backend", "node1", "node3"] {
        assert!(body(&page).contains(&format!(">{px}<")), "{px} in the page");
    }
    let m = ask(stats, b"GET /metrics HTTP/1.1\r\nHost: lb\r\n\r\n");
    assert_eq!(m.header("content-type"), Some("text/plain; version=0.0.4"));
    let m = body(&m);
    for line in [
        "haproxy_frontend_http_requests_total{proxy=\"haproxy.serverless.my.id\"} 7\n",
        "haproxy_frontend_http_responses_total{proxy=\"haproxy.serverless.my.id\",code=\"3xx\"} 1\n",
        "haproxy_backend_http_responses_total{proxy=\"backend\",code=\"2xx\"} 6\n",
        "haproxy_server_status{proxy=\"backend\",server=\"node2\",state=\"UP\"} 1\n",
        "haproxy_backend_active_servers{proxy=\"backend\"} 3\n",
    ] {
        assert!(m.contains(line), "missing {line} in:\n{m}");
    }
    assert!(m.contains(
        "haproxy_server_check_status{proxy=\"backend\",server=\"node1\",state=\"L7OK\"} 1"
    ));
}

/// Seed 004's proxy: TLS, redirect `if !{ ssl_fc }`, layer 7 retries that never replay a
/// POST, and a dead server hidden from GETs once its checks mark it down.
#[test]
fn seed_004_ssl_and_l7_retries() {
    let mut s: Vec<Serve> = (1..=3)
        .map(|i| Serve::start(&format!("server{i}"), &[]))
        .collect();
    let dir = TempDir::new("seed004");
    let pem = self_signed_pem(&dir, "site.pem", &["www.example.com"]);
    let (http, https) = (free_port(), free_port());
    let env = vec![
        ("HTTP_PORT", http.to_string()),
        ("HTTPS_PORT", https.to_string()),
        ("SITE_PEM", pem.display().to_string()),
        ("STATS_SOCK", dir.path("lb.sock").display().to_string()),
        ("S1_PORT", s[0].port.to_string()),
        ("S2_PORT", s[1].port.to_string()),
        ("S3_PORT", s[2].port.to_string()),
    ];
    let lb = Corelb::start_file(
        &example("004-ssl-l7-retries.cfg"),
        &env,
        &[],
        &[http, https],
    );
    wait_unix_socket(&dir.path("lb.sock"));
    assert!(stats_cmd(&dir.path("lb.sock"), "show backend").contains("\nweb_servers\n"));
    let r = ask(http, b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://www.example.com/"));
    let (out, err) = curl_tls(
        &pem,
        "www.example.com",
        https,
        "/sink",
        &["-X", "POST", "--data-binary", "0123456789"],
    );
    assert!(out.ends_with("200 0"), "POST: {out}\n{err}");
    s[1].stop();
    // Until its checks (inter 1s, fall 3) take server2 out, a GET that lands on it is
    // retried on it (retry-on all-retryable-errors covers a refused connection; without
    // `option redispatch` the retries stay on the same server) and ends in 503 after
    // them, as Debian's HAProxy 2.6 answers on this configuration. Once it is DOWN, no
    // GET fails.
    let down = eventually(Duration::from_secs(20), || {
        let (out, err) = curl_tls(&pem, "www.example.com", https, "/", &[]);
        assert!(
            out.ends_with("200 0") || out.ends_with("503 0"),
            "{out}\n{err}\n{}",
            lb.log()
        );
        lb.log()
            .contains("Server web_servers/server2 is DOWN")
            .then_some(())
    });
    assert!(down.is_some(), "{}", lb.log());
    for n in 0..20 {
        let (out, err) = curl_tls(&pem, "www.example.com", https, "/", &[]);
        assert!(
            out.ends_with("200 0"),
            "GET {n}: {out}\n{err}\n{}",
            lb.log()
        );
    }
}
