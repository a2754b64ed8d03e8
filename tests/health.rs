//! Health checks, failover and observed errors, end to end.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const DEFAULTS: &str = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n  retries 3\n  option redispatch\n";

fn named_on(port: u16, name: &'static str) -> Backend {
    let l = TcpListener::bind(("127.0.0.1", port)).expect("rebind the backend's port");
    Backend::start_on(l, move |mut s| {
        let _ = s.write_all(format!("{name}\n").as_bytes());
        let _ = s.shutdown(Shutdown::Write);
        let mut b = [0u8; 16];
        let _ = s.read(&mut b);
    })
}

/// Waits for a log line containing `needle`; returns when it appeared.
fn wait_log(lb: &Corelb, needle: &str, timeout: Duration) -> Instant {
    eventually(timeout, || lb.log().contains(needle).then(Instant::now))
        .unwrap_or_else(|| panic!("no '{needle}' in the log after {timeout:?}:\n{}", lb.log()))
}

#[test]
fn a_dead_server_is_taken_out_and_comes_back_without_failed_connections() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let cport = free_port();
    let c = named_on(cport, "c");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  default-server check inter 200 fall 3 rise 2\n  server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n  server c 127.0.0.1:{cport}\n",
        a.port, b.port
    );
    let lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    let load = Load::start_paced(port, 2, Duration::from_millis(5));
    std::thread::sleep(Duration::from_millis(500));
    // Kill c: its port refuses connections from now on.
    let killed = Instant::now();
    drop(c);
    let down = wait_log(&lb, "Server l/c is DOWN", Duration::from_secs(5));
    let detect = down - killed;
    eprintln!("dead server taken out {detect:?} after it died (inter 200 ms, fall 3)");
    // fall 3 × inter 200 ms, plus up to one interval of phase.
    assert!(
        detect < Duration::from_millis(1500),
        "detected after {detect:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let (ok1, failed1, seen1) = load.finish();
    assert_eq!(
        failed1, 0,
        "{failed1} client connections failed while c died ({ok1} ok)"
    );
    let after: Vec<&String> = seen1.iter().rev().take(40).collect();
    assert!(
        after.iter().all(|n| *n != "c"),
        "c still got traffic after it was marked down: {after:?}"
    );

    // c comes back: traffic returns after rise checks.
    let load = Load::start_paced(port, 2, Duration::from_millis(5));
    let revived = Instant::now();
    let c = named_on(cport, "c");
    let up = wait_log(&lb, "Server l/c is UP", Duration::from_secs(5));
    assert!(
        up - revived < Duration::from_millis(1500),
        "back up after {:?}",
        up - revived
    );
    std::thread::sleep(Duration::from_millis(500));
    let (_, failed2, seen2) = load.finish();
    assert_eq!(failed2, 0);
    assert!(
        seen2.iter().rev().take(30).any(|n| n == "c"),
        "c gets traffic again"
    );
    let log = lb.log();
    assert!(
        log.contains("Server l/c is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: "),
        "{log}"
    );
    assert!(log.contains("2 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."), "{log}");
    assert!(
        log.contains("Server l/c is UP, reason: Layer4 check passed, check duration: "),
        "{log}"
    );
    assert!(
        log.contains("3 active and 0 backup servers online."),
        "{log}"
    );
    // One prober per server for the whole process: each change is logged once.
    assert_eq!(log.matches("Server l/c is DOWN").count(), 1, "{log}");
    assert_eq!(log.matches("Server l/c is UP").count(), 1, "{log}");
    drop(c);
}

#[test]
fn backups_take_over_when_checks_fail_every_active_server() {
    let aport = free_port();
    let a = named_on(aport, "a");
    let k = Backend::named("k");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server a 127.0.0.1:{aport} check inter 150 fall 2\n  server k 127.0.0.1:{} backup check inter 150\n",
        k.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    assert_eq!(distribution(port, 6).keys().collect::<Vec<_>>(), vec!["a"]);
    drop(a);
    wait_log(&lb, "Server l/a is DOWN", Duration::from_secs(5));
    assert!(
        lb.log().contains("0 active and 1 backup servers left"),
        "{}",
        lb.log()
    );
    assert_eq!(distribution(port, 6).keys().collect::<Vec<_>>(), vec!["k"]);
    let a = named_on(aport, "a");
    wait_log(&lb, "Server l/a is UP", Duration::from_secs(5));
    assert_eq!(distribution(port, 6).keys().collect::<Vec<_>>(), vec!["a"]);
    drop(a);
}

#[test]
fn no_server_left_closes_new_connections_and_says_so() {
    let aport = free_port();
    let a = named_on(aport, "a");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server a 127.0.0.1:{aport} check inter 150 fall 1\n"
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    drop(a);
    wait_log(
        &lb,
        "backend 'l' has no server available!",
        Duration::from_secs(5),
    );
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
}

fn http_backend(status: &'static str, body: &'static str) -> Backend {
    Backend::start(move |mut s| {
        let mut req = [0u8; 1024];
        let _ = s.read(&mut req);
        let _ = s.write_all(
            format!(
                "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    })
}

#[test]
fn http_checks_judge_status_and_content() {
    let ok = http_backend("200 OK", "alive");
    let bad = http_backend("503 Service Unavailable", "busy");
    let sick = http_backend("200 OK", "maintenance");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  option httpchk GET /health\n  default-server check inter 150 fall 1\n  server ok 127.0.0.1:{}\n  server bad 127.0.0.1:{}\n",
        ok.port, bad.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_log(
        &lb,
        "Server l/bad is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\"",
        Duration::from_secs(5),
    );
    assert!(!lb.log().contains("Server l/ok is DOWN"));
    drop(lb);
    // String expectations on the body.
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  option httpchk\n  http-check send meth GET uri /health ver HTTP/1.1 hdr Host www\n  http-check expect string alive\n  default-server check inter 150 fall 1\n  server ok 127.0.0.1:{}\n  server sick 127.0.0.1:{}\n",
        ok.port, sick.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_log(
        &lb,
        "Server l/sick is DOWN, reason: Layer7 wrong status",
        Duration::from_secs(5),
    );
    assert!(!lb.log().contains("Server l/ok is DOWN"), "{}", lb.log());
}

#[test]
fn http_check_request_is_what_the_config_says() {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    let srv = Backend::start(move |mut s| {
        let mut req = vec![0u8; 2048];
        let n = s.read(&mut req).unwrap_or(0);
        let _ = tx
            .lock()
            .unwrap()
            .send(String::from_utf8_lossy(&req[..n]).into_owned());
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  option httpchk\n  http-check send meth HEAD uri /ping ver HTTP/1.1 hdr Host app.example hdr User-Agent corelb-check\n  server s 127.0.0.1:{} check inter 100\n",
        srv.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let req = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        req,
        "HEAD /ping HTTP/1.1\r\nHost: app.example\r\nUser-Agent: corelb-check\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn tcp_check_send_and_expect() {
    // A redis-like backend: PING → +PONG, or a broken one.
    let pong = Backend::start(|mut s| {
        let mut b = [0u8; 64];
        let n = s.read(&mut b).unwrap_or(0);
        if &b[..n] == b"PING\r\n" {
            let _ = s.write_all(b"+PONG\r\n");
        }
    });
    let err = Backend::start(|mut s| {
        let mut b = [0u8; 64];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"-ERR loading\r\n");
    });
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  option tcp-check\n  tcp-check connect\n  tcp-check send PING\\r\\n\n  tcp-check expect string +PONG\n  default-server check inter 150 fall 1\n  server good 127.0.0.1:{}\n  server loading 127.0.0.1:{}\n",
        pong.port, err.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_log(
        &lb,
        "Server l/loading is DOWN, reason: Layer7 invalid response",
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lb.log().contains("Server l/good is DOWN"), "{}", lb.log());
    assert!(
        lb.log().contains("TCPCHK did not match content at step 3"),
        "{}",
        lb.log()
    );
}

#[test]
fn timeout_check_bounds_a_silent_server() {
    // Accepts and never answers.
    let mute = Backend::start(|mut s| {
        let mut b = [0u8; 64];
        while let Ok(n) = s.read(&mut b) {
            if n == 0 {
                break;
            }
        }
    });
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}  timeout check 200ms\nlisten l\n  bind 127.0.0.1:{port}\n  option httpchk GET /\n  server m 127.0.0.1:{} check inter 5s fall 1\n",
        mute.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    // The first check starts at once (one server: no spreading); it gives up after 200 ms,
    // not after inter (5 s).
    wait_log(
        &lb,
        "Server l/m is DOWN, reason: Layer7 timeout",
        Duration::from_secs(3),
    );
}

#[test]
fn observe_marks_down_before_any_check_would() {
    let good = Backend::named("good");
    let dport = free_port();
    let d = named_on(dport, "dying");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server dying 127.0.0.1:{dport} check inter 60s observe layer4 error-limit 1 on-error mark-down\n  server good 127.0.0.1:{}\n",
        good.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    std::thread::sleep(Duration::from_millis(300)); // past the first check: it is up
    drop(d);
    for _ in 0..6 {
        assert_eq!(
            fetch_name(port),
            "good",
            "redispatch hides the dying server"
        );
    }
    wait_log(
        &lb,
        "Server l/dying is DOWN, reason: Health analyze",
        Duration::from_secs(2),
    );
}

#[test]
fn a_reload_keeps_a_down_server_down() {
    let good = Backend::named("good");
    let dead = free_port();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server dead 127.0.0.1:{dead} check inter 100 fall 1 rise 50\n  server good 127.0.0.1:{}\n",
        good.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_log(&lb, "Server l/dead is DOWN", Duration::from_secs(5));
    lb.signal("USR2");
    wait_log(&lb, "generation 2 started", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    // Still down in the new generation: no new DOWN message, no traffic to it.
    assert_eq!(
        lb.log().matches("Server l/dead is DOWN").count(),
        1,
        "{}",
        lb.log()
    );
    for _ in 0..10 {
        assert_eq!(fetch_name(port), "good");
    }
}

#[test]
fn checked_server_without_a_port_is_a_config_error() {
    let dir = TempDir::new("cfg");
    let path = dir.write(
        "c.cfg",
        &format!("{DEFAULTS}backend b\n  server s 127.0.0.1 check\n"),
    );
    let (code, _, err) = check_config(&path);
    assert_eq!(code, 1);
    assert!(
        err.contains("c.cfg:9: server 'b/s' has no port, so its health checks need one"),
        "{err}"
    );
}

#[test]
fn a_check_whose_send_cannot_complete_fails_with_a_timeout() {
    // A server that accepts and never reads, with a small receive buffer: a check request
    // larger than what the kernel buffers (the sender's autotuned send buffer is at most
    // tcp_wmem's maximum) blocks its writer until `timeout check` ends the check.
    let sock = bound_socket();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.listen(64).unwrap();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h2 = held.clone();
    let sink = Backend::start_on(sock.into(), move |s| h2.lock().unwrap().push(s));
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let payload = "x".repeat(wmem_max + (1 << 20));
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}  timeout check 300ms\nlisten lt\n  bind 127.0.0.1:{port}\n  option tcp-check\n  tcp-check send {payload}\n  server s 127.0.0.1:{sp} check inter 200 fall 1\nlisten lh\n  bind 127.0.0.1:{hport}\n  option httpchk\n  http-check send meth POST uri / body {payload}\n  server s 127.0.0.1:{sp} check inter 200 fall 1\n",
        sp = sink.port,
        hport = free_port(),
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_log(&lb, "Server lt/s is DOWN", Duration::from_secs(10));
    wait_log(&lb, "Server lh/s is DOWN", Duration::from_secs(10));
    let log = lb.log();
    assert!(
        log.contains(
            "Server lt/s is DOWN, reason: Layer7 timeout, info: \"at step 2 of tcp-check (send)\""
        ),
        "{log}"
    );
    assert!(
        log.contains("Server lh/s is DOWN, reason: Layer7 timeout, info: \"timeout while sending the request\""),
        "{log}"
    );
    drop(lb);
    drop(sink);
    held.lock().unwrap().clear();
}

/// `max-spread-checks`: HAProxy spreads the first checks over the shortest interval (here
/// 20 s: the 4th server's first check would come after 15 s); `max-spread-checks 400` makes
/// them all start within 400 ms. Counted as the servers that saw a check within 2.5 s of
/// the start, with and without it; the same counts through Debian's HAProxy.
#[test]
fn max_spread_checks_bounds_the_first_checks_like_haproxy() {
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let run = |prog: &str, global: &str| -> usize {
        let checked = Arc::new(AtomicUsize::new(0));
        let mut servers = String::new();
        let mut keep = Vec::new();
        for i in 0..4 {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            servers += &format!(
                "  server s{i} {} check inter 20s\n",
                l.local_addr().unwrap()
            );
            keep.push(l);
        }
        let port = free_port();
        let dir = TempDir::new("spread");
        let path = dir.write(
            "lb.cfg",
            &format!(
                "global\n{global}defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n  bind 127.0.0.1:{port}\n  option httpchk\n{servers}"
            ),
        );
        let extra: &[&str] = if prog == "haproxy" {
            &["-db"]
        } else {
            &["--shards", "1"]
        };
        let mut child = std::process::Command::new(prog)
            .args(extra)
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        let mut seen = [false; 4];
        while t0.elapsed() < Duration::from_millis(2500) {
            for (i, l) in keep.iter().enumerate() {
                if let Ok((mut s, _)) = l.accept() {
                    // Answered: HAProxy's plain TCP check resets the connection at once,
                    // before it could be counted here; its HTTP check waits for this.
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
                    drop(s);
                    if !seen[i] {
                        seen[i] = true;
                        checked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        checked.load(Ordering::Relaxed)
    };
    let ours = (
        run(corelb_bin(), "  max-spread-checks 400\n"),
        run(corelb_bin(), ""),
    );
    assert_eq!(ours, (4, 1));
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok()
    {
        assert_eq!(
            (
                run("haproxy", "  max-spread-checks 400\n"),
                run("haproxy", "")
            ),
            ours
        );
    }
}

/// The `status` column of `show stat` for `l/<server>`, with its `chkfail`.
fn stat_status(sock: &std::path::Path, server: &str) -> (String, String) {
    let out = stats_cmd(sock, "show stat");
    let head: Vec<&str> = out.lines().next().unwrap_or("").split(',').collect();
    let col = |n: &str| head.iter().position(|h| h.trim_start_matches("# ") == n);
    let (st, cf) = (col("status").unwrap(), col("chkfail").unwrap());
    out.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > cf && f[0] == "l" && f[1] == server)
        .map(|f| (f[st].to_string(), f[cf].to_string()))
        .unwrap_or_else(|| panic!("no l/{server} in:\n{out}"))
}

/// Runs `cfg` (with `@SOCK@` for a stats socket) through corelb, then through Debian's
/// HAProxy when installed, calling `probe` on each with the socket's path.
fn on_both<T: std::fmt::Debug + PartialEq>(
    cfg: &str,
    port: u16,
    probe: impl Fn(&std::path::Path) -> T,
) -> T {
    let dir = TempDir::new("health-diff");
    let sock = dir.path("admin.sock");
    let cfg = cfg.replace("@SOCK@", &sock.display().to_string());
    let ours = {
        let _lb = Corelb::start(&cfg, &["--shards", "1"], &[port]);
        wait_unix_socket(&sock);
        probe(&sock)
    };
    let _ = std::fs::remove_file(&sock);
    if let Some(_h) = common::haproxy::Haproxy::start(&cfg, &[port]) {
        wait_unix_socket(&sock);
        assert_eq!(
            ours,
            probe(&sock),
            "corelb (left) and HAProxy (right) differ"
        );
    }
    ours
}

/// A server starts with its health at `rise` (HAProxy's server.c), so one failed check
/// takes it down: a dead server with `inter 60s` is DOWN within a second or two of the
/// start, its first check being run at once (first of the spread); the live one behind
/// it, whose first check comes half an interval later, shows "UP 1/3" until then.
#[test]
fn a_server_dead_at_start_is_down_at_the_first_check_like_haproxy() {
    let (port, dead) = (free_port(), free_port());
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = format!(
        "global\n  stats socket @SOCK@ level admin\n{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server dead 127.0.0.1:{dead} check inter 60s\n  server live {} check inter 60s\n",
        live.local_addr().unwrap()
    );
    let got = on_both(&cfg, port, |sock| {
        let t0 = Instant::now();
        let down = eventually(Duration::from_secs(3), || {
            (stat_status(sock, "dead").0 == "DOWN").then(|| t0.elapsed())
        });
        (
            down.is_some(),
            stat_status(sock, "dead"),
            stat_status(sock, "live"),
        )
    });
    assert_eq!(
        got,
        (
            true,
            ("DOWN".into(), "1".into()),
            ("UP 1/3".into(), "0".into())
        )
    );
}

/// Once a check passed, the server is fully healthy and it takes `fall` failures to go
/// down: the statuses seen after its port closes, one per check, are the same as
/// HAProxy's.
#[test]
fn a_healthy_server_goes_down_after_fall_failures_like_haproxy() {
    let port = free_port();
    let srv = free_port();
    let cfg = format!(
        "global\n  stats socket @SOCK@ level admin\n{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:{srv} check inter 300 rise 2 fall 3\n"
    );
    let seen = on_both(&cfg, port, |sock| {
        // Listening without accepting: a layer-4 check passes on the handshake.
        let l = TcpListener::bind(("127.0.0.1", srv)).unwrap();
        let full = eventually(Duration::from_secs(5), || {
            (stat_status(sock, "s").0 == "UP").then_some(())
        });
        assert!(
            full.is_some(),
            "never fully up: {:?}",
            stat_status(sock, "s")
        );
        let mut seen = vec![stat_status(sock, "s")];
        drop(l);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(4) {
            let s = stat_status(sock, "s");
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if s.0 == "DOWN" {
                break;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        seen
    });
    // The first check ran before the port was open (it failed: 1 in chkfail).
    let expect = [("UP", "1"), ("UP 2/3", "2"), ("UP 1/3", "3"), ("DOWN", "4")];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, expect);
}
