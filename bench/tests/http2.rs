//! `attack --http2` / `--h2c` end to end: against `serve --http2` (h2c and TLS with ALPN h2),
//! against a server that does not select h2 (the fallback to HTTP/1.1), and against nginx
//! (`listen … ssl http2`). Every attack is bounded in requests; the servers' own counts
//! (`serve`'s /stats, nginx's access log) say that HTTP/2 was spoken and streams shared
//! connections.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// One generator shard whose 20 workers share connections 10 streams at a time: 2 connections.
const TWENTY_OVER_TWO: [&str; 8] = [
    "--cpus",
    "1",
    "--workers",
    "20",
    "--max-workers",
    "20",
    "--max-streams",
    "10",
];

/// `serve`'s /stats over HTTP/1.1 (one shard: the whole server's counts); over TLS when
/// `cert` (the server's certificate) is given.
fn stats(port: u16, cert: Option<&str>) -> serde_json::Value {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut text = Vec::new();
    match cert {
        None => {
            tcp.write_all(request).unwrap();
            tcp.read_to_end(&mut text).unwrap();
        }
        Some(cert) => {
            use rustls::pki_types::{CertificateDer, pem::PemObject};
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_file(cert).unwrap())
                .unwrap();
            let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let conn = rustls::ClientConnection::new(
                std::sync::Arc::new(config),
                "localhost".try_into().unwrap(),
            )
            .unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            tls.write_all(request).unwrap();
            // The server may close without close_notify: what arrived is enough.
            let _ = tls.read_to_end(&mut text);
        }
    }
    let text = String::from_utf8_lossy(&text);
    let (_, body) = text.split_once("\r\n\r\n").expect("a response");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

/// `attack` with its stderr kept: (JSON report, stderr).
fn attack_with_stderr(targets: &str, args: &[&str]) -> (serde_json::Value, String) {
    let dir = temp_dir("h2-attack");
    let results = dir.join("results.bin");
    let out = attack(targets, args, &results);
    let json = report_json(&results);
    let _ = std::fs::remove_dir_all(&dir);
    (json, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn h2c_multiplexes_streams_over_few_connections() {
    let (_serve, port) = serve(&["--cpus", "1", "--http2", "--delay", "50ms"]);
    // 400 requests at 400/s, each held 50 ms by the server: about 20 in flight, which 20
    // workers sharing connections 10 streams at a time carry over 2 connections.
    let report = attack_json(
        &format!("GET http://127.0.0.1:{port}/\n"),
        &[
            &TWENTY_OVER_TWO[..],
            &["--h2c", "-rate=400/1s", "-duration=1s"],
        ]
        .concat(),
    );
    assert_eq!(report["requests"], 400, "{report}");
    assert_eq!(report["status_codes"]["200"], 400, "{report}");
    assert_eq!(report["protocols"], serde_json::json!({"HTTP/2.0": 400}));
    assert_eq!(report["bytes_in"]["total"], 400 * 64);

    let s = stats(port, None);
    assert_eq!(s["h2_streams"], 400, "{s}");
    assert_eq!(s["connections"]["HTTP/2.0"], 2, "{s}");
    // Several streams were open at once on one connection, never more than --max-streams.
    let most = s["h2_max_in_flight"].as_u64().unwrap();
    assert!((2..=10).contains(&most), "{s}");
}

#[test]
fn https_negotiates_h2_and_falls_back_when_the_server_does_not() {
    let dir = temp_dir("h2-tls");
    let (cert, key) = certificate(&dir);
    let (_h2, h2_port) = serve(&[
        "--cpus",
        "1",
        "--http2",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    let target = format!("POST https://localhost:{h2_port}/sink\n@{cert}\n");
    let cert_len = std::fs::metadata(&cert).unwrap().len();

    // --http2 is on by default, as in vegeta: ALPN selects h2; bodies go both ways.
    let (report, stderr) = attack_with_stderr(
        &target,
        &[
            "--cpus",
            "1",
            "-rate=100/1s",
            "-duration=1s",
            "-root-certs",
            &cert,
        ],
    );
    assert_eq!(report["status_codes"]["200"], 100, "{report}");
    assert_eq!(report["protocols"], serde_json::json!({"HTTP/2.0": 100}));
    assert_eq!(report["bytes_out"]["total"], 100 * cert_len);
    // /sink answers the body size it read.
    let digits = cert_len.to_string().len() as u64 + 1;
    assert_eq!(report["bytes_in"]["total"], 100 * digits);
    assert!(!stderr.contains("did not select h2"), "{stderr}");
    let s = stats(h2_port, Some(&cert));
    assert_eq!(s["h2_streams"], 100, "{s}");
    assert_eq!(s["connections"]["HTTP/2.0"], 1, "{s}");

    // GET / for 1 s at `rate` on `port`, trusting `cert`, with `extra` flags.
    let get = |port: u16, rate: &str, extra: &[&str]| {
        let base = ["--cpus", "1", rate, "-duration=1s", "-root-certs", &cert];
        let target = format!("GET https://localhost:{port}/\n");
        attack_with_stderr(&target, &[&base[..], extra].concat())
    };

    // -keepalive=false: a connection (and a GOAWAY) per request.
    let (report, _) = get(h2_port, "-rate=20/1s", &["-keepalive=false"]);
    assert_eq!(report["protocols"], serde_json::json!({"HTTP/2.0": 20}));
    assert_eq!(
        stats(h2_port, Some(&cert))["connections"]["HTTP/2.0"],
        1 + 20
    );

    // A server that offers only http/1.1: HTTP/1.1, said on stderr and in the report.
    let (_h1, h1_port) = serve(&["--cpus", "1", "--tls-cert", &cert, "--tls-key", &key]);
    let (report, stderr) = get(h1_port, "-rate=50/1s", &[]);
    assert_eq!(report["status_codes"]["200"], 50, "{report}");
    assert_eq!(
        report["protocols"],
        serde_json::json!({"HTTP/1.1 (h2 not negotiated)": 50})
    );
    assert!(
        stderr.contains(&format!(
            "https://localhost:{h1_port}: the server did not select h2"
        )),
        "{stderr}"
    );

    // --http2=false: HTTP/1.1 as asked, and the report as vegeta's (no protocols).
    let (report, _) = get(h2_port, "-rate=20/1s", &["--http2=false"]);
    assert_eq!(report["status_codes"]["200"], 20, "{report}");
    assert!(report.get("protocols").is_none(), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// nginx 1.25.1 replaced `listen … http2` by `http2 on;`.
fn nginx_has_http2_directive() -> bool {
    let out = Command::new("nginx").arg("-v").output().unwrap();
    let v = String::from_utf8_lossy(&out.stderr);
    let version: Vec<u32> = v
        .split('/')
        .nth(1)
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .filter_map(|n| n.parse().ok())
        .collect();
    version >= vec![1, 25, 1]
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The access log: (protocol, connection serial number, status) per request.
fn access_log(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

#[test]
fn attack_http2_against_nginx() {
    if !have("nginx") {
        eprintln!("SKIP: nginx is not installed (apt-get install nginx-light)");
        return;
    }
    let dir = temp_dir("h2-nginx");
    let d = dir.to_str().unwrap();
    let (cert, key) = certificate(&dir);
    // Two servers: one with nginx's defaults, one that says GOAWAY after 100 requests on a
    // connection (keepalive_requests), which the generator must take in its stride.
    let (port, short_port) = (closed_port(), closed_port());
    let (listen, on) = if nginx_has_http2_directive() {
        ("ssl", "http2 on;")
    } else {
        ("ssl http2", "")
    };
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log error;\nevents {{ worker_connections 256; }}\nhttp {{\n\
         log_format h2 '$server_protocol $connection $status';\n\
         client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         ssl_certificate {cert};\nssl_certificate_key {key};\n\
         server {{ listen 127.0.0.1:{port} {listen}; {on} access_log {d}/access.log h2;\n\
           location / {{ return 200 \"ok\\n\"; }} }}\n\
         server {{ listen 127.0.0.1:{short_port} {listen}; {on} access_log {d}/short.log h2;\n\
           keepalive_requests 100; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let _nginx = Proc(
        Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx"),
    );
    wait_port(port);
    wait_port(short_port);

    let args = |rate| {
        [
            &TWENTY_OVER_TWO[..],
            &[rate, "-duration=1s", "-root-certs", &cert],
        ]
        .concat()
    };
    let a = args("-rate=1000/1s");
    let report = attack_json(&format!("GET https://localhost:{port}/\n"), &a);
    assert_eq!(report["status_codes"]["200"], 1000, "{report}");
    assert_eq!(report["protocols"], serde_json::json!({"HTTP/2.0": 1000}));
    let log = access_log(&dir.join("access.log"));
    assert_eq!(log.len(), 1000);
    assert!(
        log.iter().all(|(p, _, s)| p == "HTTP/2.0" && s == "200"),
        "{log:?}"
    );
    // 20 workers, 10 streams a connection: at most 2 connections for 1000 requests.
    let conns: HashSet<&String> = log.iter().map(|(_, c, _)| c).collect();
    assert!(conns.len() <= 2, "{} connections", conns.len());

    // GOAWAY every 100 requests: the streams nginx refused go again on new connections.
    let a = args("-rate=500/1s");
    let report = attack_json(&format!("GET https://localhost:{short_port}/\n"), &a);
    assert_eq!(report["status_codes"]["200"], 500, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]));
    let log = access_log(&dir.join("short.log"));
    assert_eq!(log.len(), 500);
    let conns: HashSet<&String> = log.iter().map(|(_, c, _)| c).collect();
    assert!(conns.len() >= 5, "{} connections", conns.len());
    let _ = std::fs::remove_dir_all(&dir);
}
