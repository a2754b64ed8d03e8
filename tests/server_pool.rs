//! The idle server connection pool's per-server settings over HTTP/1.1: `pool-max-conn`
//! (0: no connection is kept; N: at most N idle) and `pool-purge-delay` (how long an idle
//! one is kept), seen from the server's connection count and the stats' idle gauges.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// Connections `corelb-bench serve` on `port` has accepted (HTTP/1.1), before this query's
/// own (which it counts; ask once per server).
fn server_conns(port: u16) -> u64 {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -sS --max-time 10 http://127.0.0.1:{port}/stats | jq '.connections[\"HTTP/1.1\"]'"
        ))
        .output()
        .expect("curl and jq");
    let text = String::from_utf8_lossy(&out.stdout);
    let n: u64 = (text.trim().parse()).unwrap_or_else(|_| panic!("serve's /stats: {text}"));
    n - 1
}

fn get(port: u16, path: &str) {
    let r = raw_exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// One frontend: `/short*` to backend `short`, the rest to `long`, each one server with
/// `params`; `http-reuse always` (every request may take an idle connection); one shard.
fn config(dir: &TempDir, port: u16, short: (u16, &str), long: (u16, &str)) -> String {
    format!(
        "global\n  nbthread 1\n  stats socket {} level admin\n\
defaults\n  mode http\n  http-reuse always\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\
frontend fe\n  bind 127.0.0.1:{port}\n  use_backend short if {{ path_beg /short }}\n  default_backend long\n\
backend short\n  server s_short 127.0.0.1:{} {}\n\
backend long\n  server s_long 127.0.0.1:{} {}\n",
        dir.path("admin.sock").display(),
        short.0,
        short.1,
        long.0,
        long.1
    )
}

/// `pool-max-conn 0` keeps no idle connection: each request connects anew, where the
/// server without it gets one connection for all of them.
#[test]
fn pool_max_conn_zero_keeps_no_idle_connection() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let dir = TempDir::new("pool0");
    let port = free_port();
    let cfg = config(&dir, port, (a.port, "pool-max-conn 0"), (b.port, ""));
    let _lb = Corelb::start(&cfg, &[], &[port]);
    for _ in 0..5 {
        get(port, "/short");
        get(port, "/long");
    }
    assert_eq!(server_conns(a.port), 5, "pool-max-conn 0");
    assert_eq!(server_conns(b.port), 1, "default");
}

/// `pool-purge-delay 300ms` closes an idle connection after 300 ms (the stats' idle
/// gauges, published each second, go back to 0; the next request connects anew), while
/// the default's 5 s keeps the other; `src_ilim` shows `pool-max-conn`.
#[test]
fn pool_purge_delay_closes_idle_connections_sooner() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let dir = TempDir::new("purge");
    let port = free_port();
    let cfg = config(
        &dir,
        port,
        (a.port, "pool-purge-delay 300ms"),
        (b.port, "pool-max-conn 7"),
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let sock = dir.path("admin.sock");
    wait_unix_socket(&sock);
    get(port, "/short");
    get(port, "/long");
    let idle = |csv: &str, sv: &str| -> u64 { csv_field(csv, sv, "srv_icur").parse().unwrap() };
    // The long one shows up idle; the short one is gone by then or soon after.
    let csv = eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(&sock, "show stat");
        (idle(&csv, "s_long") == 1 && idle(&csv, "s_short") == 0).then_some(csv)
    })
    .unwrap_or_else(|| panic!("{}", stats_cmd(&sock, "show stat")));
    assert_eq!(csv_field(&csv, "s_long", "src_ilim"), "7");
    std::thread::sleep(Duration::from_millis(400));
    get(port, "/short");
    get(port, "/long");
    assert_eq!(server_conns(a.port), 2, "pool-purge-delay 300ms");
    assert_eq!(server_conns(b.port), 1, "default");
}

/// Connections `corelb-bench serve --http2` on `port` has accepted over HTTP/2.
fn server_h2_conns(port: u16) -> u64 {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -sS --max-time 10 http://127.0.0.1:{port}/stats | jq '.connections[\"HTTP/2.0\"]'"
        ))
        .output()
        .expect("curl and jq");
    let text = String::from_utf8_lossy(&out.stdout);
    (text.trim().parse()).unwrap_or_else(|_| panic!("serve's /stats: {text}"))
}

/// `max-reuse N`: a server connection carries N requests after its first, then closes
/// (`max-reuse 1`: 6 requests on 3 connections; `max-reuse 0`: one each), over the shared
/// pool; the server without it gets one connection for all of them.
#[test]
fn max_reuse_closes_a_connection_after_its_reuses() {
    let (a, b, c) = (
        Serve::start("a", &[]),
        Serve::start("b", &[]),
        Serve::start("c", &[]),
    );
    let dir = TempDir::new("maxreuse");
    let port = free_port();
    let mut cfg = config(&dir, port, (a.port, "max-reuse 1"), (b.port, "max-reuse 0"));
    cfg = cfg.replace(
        "  default_backend long\n",
        "  use_backend plain if { path_beg /plain }\n  default_backend long\n",
    );
    cfg.push_str(&format!(
        "backend plain\n  server s_plain 127.0.0.1:{} max-reuse -1\n",
        c.port
    ));
    let _lb = Corelb::start(&cfg, &[], &[port]);
    for _ in 0..6 {
        get(port, "/short");
        get(port, "/long");
        get(port, "/plain");
    }
    assert_eq!(server_conns(a.port), 3, "max-reuse 1");
    assert_eq!(server_conns(b.port), 6, "max-reuse 0");
    assert_eq!(server_conns(c.port), 1, "max-reuse -1");
}

/// `max-reuse 2` on an HTTP/2 server (`proto h2`): a connection carries 3 streams, then
/// the next request opens another (6 requests: 2 connections), as HAProxy 2.6 counts them
/// (its `h2_avail_streams`), compared with Debian's HAProxy on the same configuration.
#[test]
fn max_reuse_limits_the_streams_of_an_h2_connection_as_haproxy() {
    let run = |haproxy: bool| -> Option<u64> {
        let srv = Serve::start("h", &["--http2"]);
        let port = free_port();
        let cfg = format!(
            "global\n  nbthread 1\n\
defaults\n  mode http\n  http-reuse always\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\
frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
backend be\n  server s 127.0.0.1:{} proto h2 max-reuse 2\n",
            srv.port
        );
        let _keep: Box<dyn std::any::Any> = if haproxy {
            Box::new(common::haproxy::Haproxy::start(&cfg, &[port])?)
        } else {
            Box::new(Corelb::start(&cfg, &[], &[port]))
        };
        for _ in 0..6 {
            get(port, "/");
        }
        Some(server_h2_conns(srv.port))
    };
    assert_eq!(run(false), Some(2), "corelb");
    if let Some(n) = run(true) {
        assert_eq!(n, 2, "HAProxy");
    }
}

/// `tune.pool-high-fd-ratio` (HAProxy's, default 25): a server connection is kept idle only
/// while the descriptors in use (two per client connection, one per idle server
/// connection) stay under that share of what `maxconn` needs. With `maxconn 40` on one
/// shard that is 2 × 40 + 2 × 10 pipes = 100 descriptors, so the ratio is the count: at 10,
/// five client connections (four held open, one asking) leave no room: the idle connection
/// of the first request serves the next one and is then closed, and each of the three
/// after connects anew; at the default 25 the one connection is reused throughout.
#[test]
fn pool_high_fd_ratio_keeps_no_idle_connection_once_descriptors_are_short() {
    for (ratio, want) in [("  tune.pool-high-fd-ratio 10\n", 4), ("", 1)] {
        let srv = Serve::start("s", &[]);
        let (_lb, port, dir) = start_one_server(ratio, "always", srv.port, "");
        get(port, "/");
        let held = hold(port, &dir.path("admin.sock"), 4);
        for _ in 0..4 {
            get(port, "/");
        }
        assert_eq!(server_conns(srv.port), want, "{ratio:?}");
        drop(held);
    }
}

/// One shard, `maxconn 40` (100 descriptors with its pipes: a ratio is a count), the
/// `global` lines `ratios`, `http-reuse reuse`, and one server `s` at `srv` with `params`;
/// the corelb running it and its stats socket.
fn start_one_server(ratios: &str, reuse: &str, srv: u16, params: &str) -> (Corelb, u16, TempDir) {
    let dir = TempDir::new("fdratio");
    let port = free_port();
    let cfg = format!(
        "global\n  nbthread 1\n  maxconn 40\n{ratios}  stats socket {} level admin\n\
defaults\n  mode http\n  http-reuse {reuse}\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\
listen l\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:{srv} {params}\n",
        dir.path("admin.sock").display(),
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_unix_socket(&dir.path("admin.sock"));
    (lb, port, dir)
}

/// `n` client connections held open (idle), once the stats socket `sock` counts them.
fn hold(port: u16, sock: &std::path::Path, n: usize) -> Vec<std::net::TcpStream> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    eventually(Duration::from_secs(5), || {
        let info = stats_cmd(sock, "show info");
        info.lines()
            .any(|l| l == format!("CurrConns: {n}"))
            .then_some(())
    })
    .expect("the held connections are counted");
    held
}

/// Two requests at once, each on its own client connection, answered after 300 ms.
fn two_at_once(port: u16) {
    let t: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(port, "/?delay=300ms")))
        .collect();
    for t in t {
        t.join().unwrap();
    }
}

/// `tune.pool-low-fd-ratio`: past it (HAProxy's `pool_low_count`), a server keeps one idle
/// connection per thread (shard) and no more. Same arithmetic as above (100 descriptors):
/// at 4, two requests at once beside two held connections leave one idle connection of
/// their two, so the next two at once connect once more; at the default 20, both are kept
/// and serve the next two.
#[test]
fn pool_low_fd_ratio_keeps_one_idle_connection_past_it() {
    for (ratio, want) in [("  tune.pool-low-fd-ratio 4\n", 3), ("", 2)] {
        let srv = Serve::start("s", &[]);
        let (_lb, port, dir) = start_one_server(ratio, "always", srv.port, "");
        let held = hold(port, &dir.path("admin.sock"), 2);
        two_at_once(port);
        two_at_once(port);
        assert_eq!(server_conns(srv.port), want, "{ratio:?}");
        drop(held);
    }
}

/// `tune.pool-high-fd-ratio`: past it, a new server connection (none could be reused:
/// `http-reuse safe` gives a client's first request none) closes an idle one of the
/// server first (HAProxy's `connect_server`). At 10 (of 100 descriptors), the first
/// request's connection goes idle; with four client connections held, the next client's
/// request connects anew and the idle one is closed (the stats' idle gauge falls to 0),
/// where it would otherwise stay for its 30 s purge delay.
#[test]
fn pool_high_fd_ratio_closes_an_idle_connection_for_a_new_one() {
    let srv = Serve::start("s", &[]);
    let ratio = "  tune.pool-high-fd-ratio 10\n";
    let (_lb, port, dir) = start_one_server(ratio, "safe", srv.port, "pool-purge-delay 30s");
    let sock = dir.path("admin.sock");
    let idle = || -> u64 {
        let csv = stats_cmd(&sock, "show stat");
        csv_field(&csv, "s", "srv_icur").parse().unwrap()
    };
    get(port, "/");
    eventually(Duration::from_secs(5), || (idle() == 1).then_some(()))
        .expect("the first connection goes idle");
    let held = hold(port, &sock, 4);
    get(port, "/");
    eventually(Duration::from_secs(5), || (idle() == 0).then_some(()))
        .expect("the idle connection is closed for the new one");
    assert_eq!(server_conns(srv.port), 2);
    drop(held);
}
