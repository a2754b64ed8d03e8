//! `ring` sections: `log ring@NAME` lines kept in memory in the ring's format, cut to its
//! `maxlen`, read with `show events` on the stats socket (at once, or as they come with
//! `-w`), and forwarded to TCP syslog servers (`log-proto legacy` and `octet-count`). The
//! same configuration through Debian's HAProxy 2.6 and corelb: the same lines on the
//! socket and on the servers. (Before: "'ring' is not supported yet".)

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP server that keeps every byte its clients send.
struct Collector {
    port: u16,
    got: Arc<Mutex<Vec<u8>>>,
}

impl Collector {
    fn start() -> Collector {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { return };
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut b = [0u8; 4096];
                    while let Ok(n) = c.read(&mut b) {
                        if n == 0 {
                            return;
                        }
                        g.lock().unwrap().extend_from_slice(&b[..n]);
                    }
                });
            }
        });
        Collector { port, got }
    }

    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.got.lock().unwrap())).into_owned()
    }
}

fn config(sock: &Path, port: u16, fwd: u16, oc: u16) -> String {
    format!(
        "global\n  stats socket {} level admin\n\
         ring plain\n  description \"raw lines\"\n  format raw\n  size 32768\n\
         ring short\n  format short\n  maxlen 30\n\
         ring prio\n  format priority\n  timeout connect 1s\n  timeout server 1s\n  server s1 127.0.0.1:{fwd}\n\
         ring counted\n  timeout connect 1s\n  timeout server 1s\n  server s1 127.0.0.1:{oc} log-proto octet-count\n\
         defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n\
           log ring@plain local0\n  log ring@short local1 info\n  log ring@prio local2\n  log ring@counted local0\n\
           log-format \"%ci %ST %HM %HU\"\n\
         frontend fe\n  bind 127.0.0.1:{port}\n  http-request return status 200 if {{ path_beg /ok }}\n  http-request deny\n",
        sock.display()
    )
}

fn get(port: u16, path: &str) {
    let out = raw_exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 "), "{out}");
    // HAProxy logs a denied request once its stream ends, after the client saw the
    // answer: lines stay in the order of the requests.
    std::thread::sleep(Duration::from_millis(150));
}

/// What a server and the stats socket saw, as compared between the two.
fn observe(sock: &Path, port: u16, fwd: &Collector, oc: &Collector) -> Vec<String> {
    let mut seen = Vec::new();
    // `-w -n`: only what comes after the command, as it comes.
    let mut w = std::os::unix::net::UnixStream::connect(sock).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    w.write_all(b"show events plain -w -n\n").unwrap();
    // (Until the command runs, a line would show without -n: nothing is logged yet.)
    std::thread::sleep(Duration::from_millis(300));
    get(port, "/ok/one");
    get(port, "/no");
    get(port, "/ok/a-path-longer-than-thirty-bytes");
    let mut rd = BufReader::new(w.try_clone().unwrap());
    let mut followed = String::new();
    for _ in 0..3 {
        let mut l = String::new();
        rd.read_line(&mut l).unwrap();
        followed.push_str(&l);
    }
    seen.push(followed);
    // Any key ends it.
    w.write_all(b"\n").unwrap();
    for cmd in [
        "show events plain",
        "show events short",
        "show events prio",
        "show events counted",
        "show events plain -n",
        "show events nope",
    ] {
        seen.push(format!("{cmd}:\n{}", stats_cmd(sock, cmd)));
    }
    // The list, without HAProxy's own startup buffer (buf0), which corelb has not.
    let list = stats_cmd(sock, "show events");
    seen.push(
        list.lines()
            .filter(|l| !l.trim_start().starts_with("buf0 "))
            .map(|l| format!("{l}\n"))
            .collect(),
    );
    let want = 3;
    let fwd_got = eventually(Duration::from_secs(5), || {
        let s = fwd.got.lock().unwrap();
        (s.iter().filter(|&&b| b == b'\n').count() >= want).then_some(())
    });
    assert!(
        fwd_got.is_some(),
        "the prio ring's server got {:?}",
        fwd.take()
    );
    eventually(Duration::from_secs(5), || {
        let s = oc.got.lock().unwrap();
        (String::from_utf8_lossy(&s).matches("127.0.0.1 ").count() >= want).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    seen.push(format!("prio server:\n{}", fwd.take()));
    seen.push(format!("counted server:\n{}", oc.take()));
    seen
}

#[test]
fn ring_lines_show_events_and_forwarding_like_haproxy() {
    let dir = TempDir::new("ring");
    let sock = dir.path("stats.sock");
    let (fwd, oc) = (Collector::start(), Collector::start());
    let port = free_port();
    let cfg = config(&sock, port, fwd.port, oc.port);
    let ours = {
        let lb = Corelb::start(&cfg, &[], &[port]);
        wait_unix_socket(&sock);
        let o = observe(&sock, port, &fwd, &oc);
        assert!(
            o[1].contains("127.0.0.1 200 GET /ok/one\n127.0.0.1 403 GET /no\n"),
            "{o:?}\n{}",
            lb.log()
        );
        o
    };
    let _ = std::fs::remove_file(&sock);
    if let Some(h) = common::haproxy::Haproxy::start(&cfg, &[port]) {
        wait_unix_socket(&sock);
        let theirs = observe(&sock, port, &fwd, &oc);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "corelb, then HAProxy\n{}", h.log());
        }
    }
}

#[test]
fn ring_errors_name_file_and_line() {
    let dir = TempDir::new("ring");
    let cfg = dir.write(
        "bad.cfg",
        "ring\nring r1\n  timeout client 1s\n  maxlen abc\n  format bogus\n  frob 1\n  server s1\n  description\n  server s2 127.0.0.1:1 log-proto tcp\nring r1\ndefaults\n  log ring@nope local0\nfrontend f\n  bind 127.0.0.1:1\n",
    );
    let (code, _, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, what) in [
        (1, "missing ring name."),
        (3, "warning: 'timeout client' is ignored in ring 'r1'"),
        (4, "invalid size 'abc' for new sink buffer."),
        (5, "unknown format 'bogus'."),
        (6, "unknown statement 'frob'."),
        (
            7,
            "'server' expects <name> and <addr>[:<port>] as arguments.",
        ),
        (8, "missing ring description text."),
        (
            9,
            "'log-proto' expects one of 'legacy' or 'octet-count' but got 'tcp'",
        ),
        (10, "sink named 'r1' already exists."),
        (12, "log server uses unknown ring named 'nope'."),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bad.cfg:{line}: ")) && l.contains(what)),
            "{line}: {what}\n{err}"
        );
    }
}
