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
