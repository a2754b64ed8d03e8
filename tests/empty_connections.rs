//! Connections whose request head never completes, as HAProxy 2.6 treats them: a client that
//! closes (or half-closes) before its head is complete gets 400 and a `CR--` line, one that
//! is too slow gets 408 and `cR--`, both counted as invalid requests, also when it sent
//! nothing at all; an idle keep-alive connection closes quietly. `option dontlognull` keeps
//! the empty ones out of the log, `option http-ignore-probes` makes them silent (no answer,
//! no line, no count): browsers' pre-connects.

mod common;

use common::haproxy::Haproxy;
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::Duration;

fn config(port: u16, option: &str, sock: &Path) -> String {
    format!(
        "global\n  log stderr format raw local0\n  stats socket {} level admin\n\
         defaults\n  mode http\n  log global\n  option httplog\n{option}  timeout client 5s\n\
         \x20 timeout connect 1s\n  timeout server 5s\n  timeout http-request 400ms\n\
         frontend fe\n  bind 127.0.0.1:{port}\n\
         \x20 http-request return status 200 content-type text/plain string ok if {{ path /ok }}\n\
         \x20 default_backend be\n\
         backend be\n  server s1 127.0.0.1:1\n",
        sock.display()
    )
}

/// The first line of what the proxy answered before it closed ("" for nothing).
fn answer(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    text.lines().next().unwrap_or("").to_string()
}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).unwrap()
}

/// One keep-alive request answered, read to the end of its body.
fn one_request(s: &mut TcpStream) {
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    let res = read_response(&mut r, false).unwrap();
    assert_eq!(res.status, 200);
}

/// What clients see, what the log says and what the frontend counts, for the cases in
/// order: empty and closed, empty and half-closed, empty until the timeout, partial and
/// half-closed, partial until the timeout, partial after a keep-alive request and
/// half-closed, idle after a keep-alive request and closed.
fn observe(port: u16, sock: &Path, log: impl Fn() -> String) -> (Vec<String>, Vec<String>, String) {
    let mut answers = Vec::new();
    drop(connect(port));
    answers.push("(closed)".to_string());
    let mut s = connect(port);
    s.shutdown(Shutdown::Write).unwrap();
    answers.push(answer(&mut s));
    answers.push(answer(&mut connect(port)));
    let mut s = connect(port);
    s.write_all(b"GET / HT").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    answers.push(answer(&mut s));
    let mut s = connect(port);
    s.write_all(b"GET / HT").unwrap();
    answers.push(answer(&mut s));
    let mut s = connect(port);
    one_request(&mut s);
    s.write_all(b"GET / HT").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    answers.push(answer(&mut s));
    let mut s = connect(port);
    one_request(&mut s);
    s.shutdown(Shutdown::Write).unwrap();
    answers.push(answer(&mut s));

    // The counters settle when the last connection's end is seen (sessions count at
    // their end): wait until the frontend has no current session.
    let counters = eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(sock, "show stat");
        (csv_field(&csv, "FRONTEND", "scur") == "0").then(|| {
            ["req_tot", "ereq", "hrsp_2xx", "hrsp_4xx"]
                .iter()
                .map(|f| format!("{f}={}", csv_field(&csv, "FRONTEND", f)))
                .collect::<Vec<_>>()
                .join(" ")
        })
    })
    .expect("the frontend's sessions end");
    // Status, termination state and request of each access-log line, in a stable order
    // (shards log concurrently).
    let mut lines: Vec<String> = log()
        .lines()
        .filter(|l| l.contains(" fe fe/"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let request = l.rsplit_once(' ').map_or("", |(_, r)| r);
            format!("{} {} {}", f[5], f[9], request)
        })
        .collect();
    lines.sort();
    (answers, lines, counters)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn unfinished_requests_are_answered_logged_and_counted_as_haproxy() {
    let r400 = "HTTP/1.1 400 Bad request";
    let r408 = "HTTP/1.1 408 Request Time-out";
    let partial_lines = [
        "400 CR-- \"<BADREQ>\"",
        "400 CR-- \"<BADREQ>\"",
        "408 cR-- \"<BADREQ>\"",
    ];
    let ok_lines = ["200 LR-- HTTP/1.1\"", "200 LR-- HTTP/1.1\""];
    let all = |extra: &[&str]| {
        let mut v = strings(&partial_lines);
        v.extend(strings(&ok_lines));
        v.extend(strings(extra));
        v.sort();
        v
    };
    let empty = [
        "400 CR-- \"<BADREQ>\"",
        "400 CR-- \"<BADREQ>\"",
        "408 cR-- \"<BADREQ>\"",
    ];
    // (option, answers, log lines, counters) as HAProxy 2.6 has them.
    let cases = [
        (
            "",
            vec!["(closed)", r400, r408, r400, r408, r400, ""],
            all(&empty),
            "req_tot=8 ereq=6 hrsp_2xx=2 hrsp_4xx=6",
        ),
        (
            "  option dontlognull\n",
            vec!["(closed)", r400, r408, r400, r408, r400, ""],
            all(&[]),
            "req_tot=8 ereq=6 hrsp_2xx=2 hrsp_4xx=6",
        ),
        (
            "  option http-ignore-probes\n",
            vec!["(closed)", "", "", r400, r408, r400, ""],
            all(&[]),
            "req_tot=5 ereq=3 hrsp_2xx=2 hrsp_4xx=3",
        ),
    ];
    for (option, answers, lines, counters) in cases {
        let dir = TempDir::new("empty");
        let sock = dir.path("admin.sock");
        let port = free_port();
        let want = (strings(&answers), lines, counters.to_string());
        let ours = {
            let lb = Corelb::start(&config(port, option, &sock), &[], &[port]);
            wait_unix_socket(&sock);
            observe(port, &sock, || lb.log())
        };
        assert_eq!(ours, want, "corelb with {option:?}");
        let _ = std::fs::remove_file(&sock);
        if let Some(ha) = Haproxy::start(&config(port, option, &sock), &[port]) {
            wait_unix_socket(&sock);
            let theirs = observe(port, &sock, || ha.log());
            assert_eq!(theirs, want, "HAProxy 2.6 with {option:?}");
        }
    }
}
