//! TCP Fast Open: `bind … tfo` (TCP_FASTOPEN on the listener) and `server … tfo`
//! (TCP_FASTOPEN_CONNECT on server connections), observed in the kernel's counters
//! (TcpExt TCPFastOpenPassive / TCPFastOpenActive of /proc/net/netstat) with
//! net.ipv4.tcp_fastopen=3, which the test sets and restores. The first connection to a
//! server fetches its cookie; the next ones carry the request in their SYN.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::process::Command;

const SYSCTL: &str = "/proc/sys/net/ipv4/tcp_fastopen";

/// net.ipv4.tcp_fastopen=3 (client and server) while it lives; the old value after.
struct FastOpenOn(String);

impl FastOpenOn {
    fn set() -> Option<FastOpenOn> {
        let old = std::fs::read_to_string(SYSCTL).ok()?;
        if std::fs::write(SYSCTL, "3").is_err() {
            eprintln!("SKIP: cannot set {SYSCTL} (not root?)");
            return None;
        }
        Some(FastOpenOn(old))
    }
}

impl Drop for FastOpenOn {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, self.0.trim());
    }
}

/// (TCPFastOpenActive, TCPFastOpenPassive).
fn counters() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let get = |n: &str| {
        let i = names.split_whitespace().position(|w| w == n).unwrap();
        values.split_whitespace().nth(i).unwrap().parse().unwrap()
    };
    (get("TCPFastOpenActive"), get("TCPFastOpenPassive"))
}

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// A server answering 200 on `port`, with `bind … tfo` when `tfo`.
fn server_cfg(port: u16, tfo: bool) -> String {
    format!(
        "{DEFAULTS}frontend srv\n  bind 127.0.0.1:{port}{}\n  http-request return status 200 content-type text/plain string ok\n",
        if tfo { " tfo" } else { "" }
    )
}

/// A proxy on `port` to the server on `to`, one connection per request (`http-reuse never`;
/// `retry-on`, which HAProxy's documentation asks for with `tfo`).
fn proxy_cfg(port: u16, to: u16, tfo: bool) -> String {
    format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{port}\n  default_backend b\nbackend b\n  http-reuse never\n  retry-on conn-failure empty-response response-timeout\n  server s 127.0.0.1:{to}{}\n",
        if tfo { " tfo" } else { "" }
    )
}

/// `n` requests through `port` (each a 200); the counters' moves over them, after one
/// request that lets the client learn the server's cookie.
fn moves(port: u16, n: usize) -> (u64, u64) {
    let get = || {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
            ])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .expect("curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    };
    get();
    let before = counters();
    for _ in 0..n {
        get();
    }
    let after = counters();
    (after.0 - before.0, after.1 - before.1)
}

#[test]
fn bind_and_server_tfo_use_tcp_fast_open() {
    let Some(_on) = FastOpenOn::set() else { return };
    let n = 5;
    let (srv, fe) = (free_port(), free_port());
    // corelb on both sides, with and without `tfo` on each.
    let mut seen = Vec::new();
    for (bind_tfo, server_tfo) in [(true, true), (true, false), (false, true)] {
        let _s = Corelb::start(&server_cfg(srv, bind_tfo), &[], &[srv]);
        let _p = Corelb::start(&proxy_cfg(fe, srv, server_tfo), &[], &[fe]);
        seen.push(((bind_tfo, server_tfo), moves(fe, n)));
    }
    let n = n as u64;
    assert!(
        seen[0].1.0 >= n && seen[0].1.1 >= n,
        "both 'tfo': every request after the first in a SYN: {seen:?}"
    );
    // Without one of them, none is (a listener without TCP_FASTOPEN answers no cookie; a
    // socket without TCP_FASTOPEN_CONNECT asks for none).
    assert_eq!(seen[1].1, (0, 0), "{seen:?}");
    assert_eq!(seen[2].1, (0, 0), "{seen:?}");
    // Debian's HAProxy as the server with `bind … tfo`: the same fast opens from corelb.
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let _s = Haproxy::start(&server_cfg(srv, true), &[srv]).expect("haproxy");
        let _p = Corelb::start(&proxy_cfg(fe, srv, true), &[], &[fe]);
        let (active, passive) = moves(fe, n as usize);
        assert!(
            active >= n && passive >= n,
            "HAProxy's bind tfo: {active} {passive}"
        );
    }
}
