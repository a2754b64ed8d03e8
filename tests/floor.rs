//! examples/floor.rs, the raw io_uring forwarder that bench/floor.sh measures, forwards what
//! it is measured on: HTTP/1.1 keep-alive GETs to a `corelb-bench serve` backend, every
//! response byte for byte, many on one client connection. Functional only: no timing.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Serve, corelb_bin, eventually, free_port, listening, read_response};

/// The floor example beside the binaries of this test's profile, built (once per test
/// process) if missing or stale: `cargo test --test floor` alone does not build examples.
fn floor_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = std::path::Path::new(corelb_bin()).parent().unwrap();
            let profile = if corelb_bin().contains("/release/") {
                "--release"
            } else {
                "--profile=dev"
            };
            let st = Command::new(env!("CARGO"))
                .args(["build", "-q", "--example", "floor", profile])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo build --example floor");
            assert!(st.success());
            dir.join("examples/floor")
        })
        .clone()
}

/// The running forwarder, stopped when dropped.
struct Floor {
    port: u16,
    child: Child,
}

impl Floor {
    fn start(backends: &[u16], extra: &[&str]) -> Floor {
        let port = free_port();
        let mut cmd = Command::new(floor_bin());
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra);
        for b in backends {
            cmd.args(["--backend", &format!("127.0.0.1:{b}")]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the floor example");
        if eventually(Duration::from_secs(10), || listening(port).then_some(())).is_none() {
            let _ = child.kill();
            panic!("the floor example does not listen on {port}");
        }
        Floor { port, child }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(s: &mut TcpStream, r: &mut BufReader<TcpStream>, path: &str) -> common::HttpResponse {
    write!(s, "GET {path} HTTP/1.1\r\nHost: floor\r\n\r\n").unwrap();
    read_response(r, false).unwrap()
}

/// N keep-alive requests on one connection, then a body larger than a receive buffer and
/// an echo of the request head, through the floor started with `extra`.
fn keepalive_requests_on_one_connection(extra: &[&str]) {
    let backend = Serve::start("s1", &["--body-size", "300"]);
    let floor = Floor::start(&[backend.port], extra);

    // What the backend answers when asked directly.
    let mut direct = TcpStream::connect(("127.0.0.1", backend.port)).unwrap();
    let mut direct_r = BufReader::new(direct.try_clone().unwrap());
    let expected = get(&mut direct, &mut direct_r, "/").body;
    assert_eq!(expected.len(), 300);

    let mut s = TcpStream::connect(("127.0.0.1", floor.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..50 {
        let resp = get(&mut s, &mut r, &format!("/?i={i}"));
        assert_eq!(resp.status, 200, "request {i}");
        assert_eq!(resp.header("x-server"), Some("s1"), "request {i}");
        assert_eq!(resp.body, expected, "request {i}");
    }
    // A body larger than one provided buffer arrives in pieces and is forwarded as it comes.
    let large = get(&mut s, &mut r, "/large?size=200000");
    assert_eq!(large.status, 200);
    assert_eq!(large.body.len(), 200_000);
    // The request head reaches the backend as the client sent it.
    let echo = get(&mut s, &mut r, "/echo?x=1");
    let echo = String::from_utf8(echo.body).unwrap();
    assert!(echo.contains(r#""uri":"/echo?x=1""#), "{echo}");
    assert!(echo.contains(r#"["Host","floor"]"#), "{echo}");
    // And the connection still works after them.
    assert_eq!(get(&mut s, &mut r, "/").body, expected);
}

#[test]
fn keepalive_requests_multishot_recv_with_buffer_ring() {
    keepalive_requests_on_one_connection(&[]);
}

/// The path for kernels without provided buffer rings: one recv at a time per socket.
#[test]
fn keepalive_requests_single_recv() {
    keepalive_requests_on_one_connection(&["--single-recv"]);
}

#[test]
fn requests_go_round_robin_and_bodies_are_refused() {
    let b1 = Serve::start("s1", &[]);
    let b2 = Serve::start("s2", &[]);
    let floor = Floor::start(&[b1.port, b2.port], &[]);
    let mut s = TcpStream::connect(("127.0.0.1", floor.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let names: Vec<String> = (0..4)
        .map(|_| {
            get(&mut s, &mut r, "/")
                .header("x-server")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["s1", "s2", "s1", "s2"]);

    // A request with a body is not what the floor handles: it closes the connection rather
    // than forward half a message.
    let mut s = TcpStream::connect(("127.0.0.1", floor.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /sink HTTP/1.1\r\nHost: floor\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "{rest:?}");
}
