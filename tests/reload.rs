//! Reloads: SIGUSR2 starts a new generation in the same process on the same listening
//! sockets, the old one drains; `-sf` hands over to a new process.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn sigusr2_reloads_without_losing_a_connection() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let echo = Backend::echo();
    let (port, eport) = (free_port(), free_port());
    let cfg = |srv: u16| {
        format!(
            "{}listen e\n  bind 127.0.0.1:{eport}\n  server e 127.0.0.1:{}\n",
            listen_cfg(port, "", &[("x", srv, "")]),
            echo.port
        )
    };
    let lb = Corelb::start(&cfg(a.port), &["--shards", "2"], &[port, eport]);
    let cfg_path = lb.dir.path("corelb.cfg");
    let pid = lb.pid();
    // A long-lived connection of the first generation.
    let mut long = TcpStream::connect(("127.0.0.1", eport)).unwrap();
    long.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4];
    long.write_all(b"gen1").unwrap();
    long.read_exact(&mut buf).unwrap();

    let load = Load::start(port, 4);
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..4 {
        std::fs::write(&cfg_path, cfg(if i % 2 == 0 { b.port } else { a.port })).unwrap();
        lb.signal("USR2");
        std::thread::sleep(Duration::from_millis(400));
    }
    let (ok, failed, seen) = load.finish();
    assert_eq!(
        failed,
        0,
        "{failed} connections failed across 4 reloads ({ok} ok):\n{}",
        lb.log()
    );
    assert!(ok > 100, "too little load: {ok}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("a"),
        "the last generation sends to a"
    );
    assert!(
        seen.iter().any(|n| n == "b"),
        "a reloaded generation sent to b"
    );
    // Same process, and the first generation's connection still works.
    assert_eq!(lb.pid(), pid);
    long.write_all(b"gen1").unwrap();
    long.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"gen1");
    let log = lb.log();
    assert!(log.contains("generation 5 started"), "{log}");
    drop(long);
    assert!(
        eventually(Duration::from_secs(5), || lb
            .log()
            .contains("generation 1 finished")
            .then_some(()))
        .is_some(),
        "{}",
        lb.log()
    );
}

#[test]
fn a_reload_with_errors_keeps_the_running_generation() {
    let a = Backend::named("a");
    let port = free_port();
    let lb = Corelb::start(&listen_cfg(port, "", &[("a", a.port, "")]), &[], &[port]);
    let cfg_path = lb.dir.path("corelb.cfg");
    std::fs::write(
        &cfg_path,
        "defaults\n  mode tcp\nlisten l\n  bind 127.0.0.1:1\n  balance nope\n",
    )
    .unwrap();
    lb.signal("USR2");
    let log = eventually(Duration::from_secs(5), || {
        let l = lb.log();
        l.contains("reload aborted").then_some(l)
    })
    .expect("reload aborted");
    assert!(
        log.contains("corelb.cfg:5: unknown balance algorithm 'nope'"),
        "{log}"
    );
    assert_eq!(fetch_name(port), "a");
}

#[test]
fn sf_hands_over_to_a_new_process() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let port = free_port();
    let mut old = Corelb::start(&listen_cfg(port, "", &[("a", a.port, "")]), &[], &[port]);
    assert_eq!(fetch_name(port), "a");
    let old_pid = old.pid().to_string();
    let new = Corelb::start(
        &listen_cfg(port, "", &[("b", b.port, "")]),
        &["-sf", &old_pid],
        &[port],
    );
    assert_eq!(
        old.wait_exit(Duration::from_secs(10)),
        Some(0),
        "old process should finish:\n{}",
        old.log()
    );
    for _ in 0..10 {
        assert_eq!(fetch_name(port), "b");
    }
    drop(new);
}

/// The global `grace`: after SIGUSR1 the `stopping` fetch is true (here a monitor-uri
/// fails) while the listener still accepts, and only once the grace has passed does the
/// listener close. The same steps as Debian's HAProxy 2.6.
#[test]
fn global_grace_announces_a_soft_stop_before_it_begins() {
    let port = free_port();
    let cfg = format!(
        "global\n  grace 1500ms\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend f\n  bind 127.0.0.1:{port}\n  monitor-uri /check\n  monitor fail if {{ stopping }}\n"
    );
    let status = || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return "refused".to_string();
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"GET /check HTTP/1.0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split(' ').nth(1).unwrap_or("none").to_string()
    };
    // Before the signal, during the grace, and once it has passed.
    let steps = |usr1: &dyn Fn()| {
        let before = status();
        usr1();
        std::thread::sleep(Duration::from_millis(400));
        let during = status();
        std::thread::sleep(Duration::from_millis(2100));
        [before, during, status()]
    };
    let lb = Corelb::start(&cfg, &[], &[port]);
    let ours = steps(&|| lb.signal("USR1"));
    assert_eq!(ours, ["200", "503", "refused"], "{}", lb.log());
    drop(lb);
    let Some(hp) = common::haproxy::Haproxy::start(&cfg, &[port]) else {
        return;
    };
    let theirs = steps(&|| signal_pid(hp.pid(), libc::SIGUSR1));
    assert_eq!(ours, theirs, "corelb vs haproxy\n{}", hp.log());
}

/// An HTTP/1.0 backend: one answer per connection, then it closes.
fn http10_backend() -> Backend {
    Backend::start(|mut s| {
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    })
}

fn soft_stop_cfg(port: u16, backend: u16, extra_global: &str, extra_fe: &str) -> String {
    format!(
        "global\n  hard-stop-after 20s\n{extra_global}defaults\n  mode http\n  timeout connect 2s\n  timeout client 20s\n\
  timeout server 5s\n  timeout http-keep-alive 20s\nfrontend fe\n  bind 127.0.0.1:{port}\n{extra_fe}\
  default_backend b\nbackend b\n  server s 127.0.0.1:{backend}\n"
    )
}

/// A keep-alive request on `s`: the status and the `Connection` field of the answer.
fn keepalive_get(s: &mut std::io::BufReader<TcpStream>) -> (u16, String) {
    s.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(s, false).unwrap();
    let conn = r.header("connection").unwrap_or("").to_ascii_lowercase();
    (r.status, conn)
}

/// Whether the peer closed `s` within `within` (EOF or reset; not a timeout).
fn closed_within(s: &TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    match (&*s).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// What clients see of a soft stop (SIGUSR1): the answers before it, whether an idle
/// keep-alive connection is closed, the answer to a request begun before it and whether
/// that connection closes after it.
fn soft_stop_view(port: u16, stop: &dyn Fn()) -> ((u16, String), bool, (u16, String), bool) {
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::io::BufReader::new(s)
    };
    let (mut idle, mut busy) = (connect(), connect());
    let before = keepalive_get(&mut idle);
    keepalive_get(&mut busy);
    busy.get_mut().write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop();
    let idle_closed = closed_within(idle.get_ref(), Duration::from_secs(2));
    busy.get_mut().write_all(b"Host: x\r\n\r\n").unwrap();
    let r = read_response(&mut busy, false).unwrap();
    let after = (
        r.status,
        r.header("connection").unwrap_or("").to_ascii_lowercase(),
    );
    let busy_closed = closed_within(busy.get_ref(), Duration::from_secs(2));
    (before, idle_closed, after, busy_closed)
}

/// A soft stop (SIGUSR1, and a reload's old generation) closes idle keep-alive
/// connections at once and the others after their current answer, as HAProxy does —
/// before, idle ones stayed open until `hard-stop-after` and were served on. An answer in
/// HTTP/1.0 kept alive says `Connection: keep-alive` (it did not: the client had to close).
#[test]
fn a_soft_stop_closes_idle_keep_alive_connections_as_haproxy() {
    let be = http10_backend();
    let port = free_port();
    let cfg = soft_stop_cfg(port, be.port, "", "");
    let lb = Corelb::start(&cfg, &[], &[port]);
    let ours = soft_stop_view(port, &|| lb.signal("USR1"));
    assert_eq!(
        ours,
        (
            (200, "keep-alive".into()),
            true,
            (200, "close".into()),
            true
        ),
        "{}",
        lb.log()
    );
    let port = free_port();
    if let Some(h) = common::haproxy::Haproxy::start(&soft_stop_cfg(port, be.port, "", ""), &[port])
    {
        let theirs = soft_stop_view(port, &|| signal_pid(h.pid(), libc::SIGUSR1));
        // HAProxy's last answer is HTTP/1.0 without the field (which means close).
        assert_eq!(
            (theirs.0, theirs.1, theirs.2.0, theirs.3),
            (ours.0, ours.1, ours.2.0, ours.3),
            "HAProxy 2.6"
        );
    }
}

/// `option idle-close-on-response`: an idle connection is not closed by the stop; its next
/// request is answered, with `Connection: close`, as HAProxy 2.6 does.
#[test]
fn idle_close_on_response_answers_once_more_as_haproxy() {
    let be = http10_backend();
    let view = |port: u16, stop: &dyn Fn()| {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut s = std::io::BufReader::new(s);
        keepalive_get(&mut s);
        stop();
        std::thread::sleep(Duration::from_millis(500));
        let after = keepalive_get(&mut s);
        (after.0, closed_within(s.get_ref(), Duration::from_secs(2)))
    };
    let fe = "  option idle-close-on-response\n";
    let port = free_port();
    let lb = Corelb::start(&soft_stop_cfg(port, be.port, "", fe), &[], &[port]);
    let ours = view(port, &|| lb.signal("USR1"));
    assert_eq!(ours, (200, true), "{}", lb.log());
    let port = free_port();
    if let Some(h) = common::haproxy::Haproxy::start(&soft_stop_cfg(port, be.port, "", fe), &[port])
    {
        let theirs = view(port, &|| signal_pid(h.pid(), libc::SIGUSR1));
        assert_eq!(theirs, ours, "HAProxy 2.6");
    }
}

/// `close-spread-time 2s`: the idle connections close over the window, not all at the stop.
#[test]
fn close_spread_time_spreads_idle_closes() {
    let be = http10_backend();
    let port = free_port();
    let lb = Corelb::start(
        &soft_stop_cfg(port, be.port, "  close-spread-time 2s\n", ""),
        &[],
        &[port],
    );
    let conns: Vec<TcpStream> = (0..20)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut r = std::io::BufReader::new(s);
            keepalive_get(&mut r);
            r.into_inner()
        })
        .collect();
    lb.signal("USR1");
    std::thread::sleep(Duration::from_millis(400));
    let early = conns
        .iter()
        .filter(|s| closed_within(s, Duration::from_millis(1)))
        .count();
    std::thread::sleep(Duration::from_millis(2200));
    let late = conns
        .iter()
        .filter(|s| closed_within(s, Duration::from_millis(100)))
        .count();
    assert!(early < 15, "{early} of 20 closed 0.4 s into a 2 s window");
    assert_eq!(late, 20, "all closed after the window");
}
