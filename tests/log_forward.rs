//! `log-forward` sections: a syslog relay. RFC 3164 and RFC 5424 lines (and one without a
//! header) sent over UDP (`dgram-bind`) and TCP (`bind`: a newline-ended line and an
//! octet-counted one) reach the section's `log` targets rewritten in each target's format
//! (rfc5424, rfc3164, raw, none: as received). The same lines through Debian's HAProxy 2.6
//! and corelb must reach the targets alike. (Before: "'log-forward' is not supported yet".)

mod common;
use common::*;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

const FORMATS: [&str; 4] = ["format rfc5424 ", "format rfc3164 ", "format raw ", ""];

/// UDP sockets standing for syslog servers, one per target.
fn receivers() -> Vec<UdpSocket> {
    (0..FORMATS.len())
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s
        })
        .collect()
}

fn config(udp: u16, tcp: u16, rx: &[UdpSocket]) -> String {
    let mut c = format!(
        "log-forward relay\n  dgram-bind 127.0.0.1:{udp}\n  bind 127.0.0.1:{tcp}\n  maxconn 10\n  timeout client 10s\n"
    );
    for (s, f) in rx.iter().zip(FORMATS) {
        c.push_str(&format!(
            "  log 127.0.0.1:{} {f}local7\n",
            s.local_addr().unwrap().port()
        ));
    }
    c
}

/// Sends the lines; returns what each target got, in order.
fn exchange(udp: u16, tcp: u16, rx: &[UdpSocket]) -> Vec<Vec<String>> {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pause = || std::thread::sleep(Duration::from_millis(100));
    for m in [
        &b"<134>Dec  7 09:01:24 myhost app[123]: hello 3164"[..],
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 99 ID47 [exampleSDID@32473 iut=\"3\"] hello 5424",
        b"no header at all",
    ] {
        u.send_to(m, ("127.0.0.1", udp)).unwrap();
        pause();
    }
    let mut t = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    t.write_all(b"<13>Dec  7 09:01:24 h2 tcpapp: line one\n")
        .unwrap();
    pause();
    let m = b"<14>1 2003-10-11T22:14:15.003Z h3 app - - - octet line";
    t.write_all(format!("{} ", m.len()).as_bytes()).unwrap();
    t.write_all(m).unwrap();
    pause();
    drop(t);
    std::thread::sleep(Duration::from_millis(300));
    rx.iter()
        .map(|s| {
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while let Ok(n) = s.recv(&mut b) {
                got.push(String::from_utf8_lossy(&b[..n]).into_owned());
            }
            got
        })
        .collect()
}

/// The time of "now" in a line for a message without a header is the relay's own: blanked.
fn blank_now(lines: Vec<Vec<String>>) -> Vec<Vec<String>> {
    lines
        .into_iter()
        .map(|v| {
            v.into_iter()
                .map(|l| {
                    if !l.contains("no header") {
                        return l;
                    }
                    if let Some(r) = l.strip_prefix("<184>1 ") {
                        let rest = r.split_once(' ').map_or("", |x| x.1);
                        return format!("<184>1 NOW {rest}");
                    }
                    if let Some(r) = l.strip_prefix("<184>") {
                        return format!("<184>NOW {}", r.get(16..).unwrap_or(""));
                    }
                    l
                })
                .collect()
        })
        .collect()
}

#[test]
fn log_forward_relays_and_rewrites_like_haproxy() {
    let rx = receivers();
    let (udp, tcp) = (free_port(), free_port());
    let cfg = config(udp, tcp, &rx);
    let ours = {
        let lb = Corelb::start(&cfg, &[], &[tcp]);
        let got = exchange(udp, tcp, &rx);
        assert_eq!(
            got[2],
            [
                "hello 3164\n",
                "hello 5424\n",
                "no header at all\n",
                "line one\n",
                "octet line\n"
            ],
            "{got:?}\n{}",
            lb.log()
        );
        assert_eq!(
            got[1][1],
            "<165>Oct 11 22:14:15 mymachine.example.com evntslog[99]: hello 5424\n"
        );
        blank_now(got)
    };
    if let Some(h) = common::haproxy::Haproxy::start(&cfg, &[tcp]) {
        let theirs = blank_now(exchange(udp, tcp, &rx));
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                a,
                b,
                "target {i} ({}): corelb, then HAProxy\n{}",
                FORMATS[i],
                h.log()
            );
        }
    }
}

#[test]
fn log_forward_errors_name_file_and_line() {
    let dir = TempDir::new("logfwd");
    let cfg = dir.write(
        "bad.cfg",
        "log-forward\nlog-forward f1\n  dgram-bind\n  frob 1\n  timeout server 1s\n  log bogus\n  maxconn x\nlog-forward f1\n",
    );
    let (code, _, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, what) in [
        (1, "missing name for ip-forward section."),
        (3, "'dgram-bind' expects"),
        (4, "unknown keyword 'frob' in log-forward section."),
        (
            5,
            "unknown keyword 'timeout server' in log-forward section.",
        ),
        (
            6,
            "log : expects <address> and <facility> or global as arguments",
        ),
        (7, "'maxconn' expects a positive number"),
        (
            8,
            "log-forward section 'f1' has the same name as another log-forward section declared at",
        ),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bad.cfg:{line}: ")) && l.contains(what)),
            "{line}: {what}\n{err}"
        );
    }
}
