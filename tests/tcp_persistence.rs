//! Persistence in mode tcp: `stick on src` and `stick on req.rdp_cookie(…)` (stick tables),
//! `balance rdp-cookie` and `persist rdp-cookie` (RDP clients' cookies). Which server each
//! connection reached, compared with Debian's HAProxy on the same configuration.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// An RDP Connection Request carrying `Cookie: LINE\r\n` (TPKT, X.224 CR, the cookie, then
/// the RDP negotiation request).
fn rdp_request(cookie: &str) -> Vec<u8> {
    let mut x224 = vec![0xe0, 0, 0, 0, 0, 0];
    x224.extend_from_slice(format!("Cookie: {cookie}\r\n").as_bytes());
    x224.extend_from_slice(&[1, 0, 8, 0, 3, 0, 0, 0]);
    let mut m = vec![3, 0];
    let len = (4 + 1 + x224.len()) as u16;
    m.extend_from_slice(&len.to_be_bytes());
    m.push(x224.len() as u8);
    m.extend_from_slice(&x224);
    m
}

/// The name of the server a connection from `from` reached after sending `first`.
fn reached(from: &str, port: u16, first: &[u8]) -> String {
    let mut s = connect_from(from, ("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if !first.is_empty() {
        s.write_all(first).unwrap();
    }
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.trim().to_string()
}

/// The RDP `msts` cookie that names `127.0.0.1:port`, as a Microsoft load balancer writes it.
fn msts(port: u16) -> String {
    let addr = u32::from_le_bytes([127, 0, 0, 1]);
    format!("msts={addr}.{}.0000", port.swap_bytes())
}

/// Starts a proxy on a configuration and waits for a port (`None`: not installed).
type Start = dyn Fn(&str, u16) -> Option<Box<dyn std::any::Any>>;

fn run(start: &Start) -> Option<Vec<String>> {
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    let (f1, f2, f3) = (free_port(), free_port(), free_port());
    let servers = format!(
        "  server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n  server c 127.0.0.1:{}\n",
        a.port, b.port, c.port
    );
    let cfg = format!(
        "{DEFAULTS}listen by_src\n  bind 127.0.0.1:{f1}\n  balance roundrobin\n  \
         stick-table type ip size 1k expire 1m\n  stick on src\n{servers}\
         listen by_cookie\n  bind 127.0.0.1:{f2}\n  balance roundrobin\n  \
         tcp-request inspect-delay 2s\n  tcp-request content accept if RDP_COOKIE\n  \
         stick-table type string len 32 size 1k expire 1m\n  stick on req.rdp_cookie(mstshash)\n{servers}\
         listen rdp\n  bind 127.0.0.1:{f3}\n  balance rdp-cookie\n  persist rdp-cookie\n  \
         tcp-request inspect-delay 2s\n  tcp-request content accept if RDP_COOKIE\n{servers}"
    );
    let p = start(&cfg, f3)?;
    let mut got = Vec::new();
    // `stick on src`: each client address keeps the server of its first connection.
    for ip in [
        "127.0.0.5",
        "127.0.0.6",
        "127.0.0.7",
        "127.0.0.5",
        "127.0.0.6",
        "127.0.0.7",
        "127.0.0.5",
    ] {
        got.push(format!("src {ip} {}", reached(ip, f1, b"")));
    }
    // `stick on req.rdp_cookie(mstshash)`: each user keeps its server, whatever its address.
    for (ip, user) in [
        ("127.0.0.5", "u1"),
        ("127.0.0.5", "u2"),
        ("127.0.0.6", "u1"),
        ("127.0.0.7", "u2"),
        ("127.0.0.8", "u3"),
    ] {
        let r = reached(ip, f2, &rdp_request(&format!("mstshash={user}")));
        got.push(format!("stick {user} {r}"));
    }
    // `balance rdp-cookie`: a user's hash picks its server; `persist rdp-cookie`: an
    // `msts` cookie goes to the server it names.
    for user in ["alice", "bob", "carol", "dave", "alice", "bob"] {
        let r = reached("127.0.0.1", f3, &rdp_request(&format!("mstshash={user}")));
        got.push(format!("hash {user} {r}"));
    }
    for (name, port) in [("c", c.port), ("a", a.port), ("b", b.port)] {
        let r = reached("127.0.0.1", f3, &rdp_request(&msts(port)));
        got.push(format!("msts {name} {r}"));
    }
    drop(p);
    Some(got)
}

#[test]
fn tcp_persistence_by_stick_table_and_rdp_cookie_as_haproxy() {
    let lb = run(&|cfg, port| Some(Box::new(Corelb::start(cfg, &[], &[port])))).unwrap();
    // Stuck: the same client address or user, the same server.
    let server_of =
        |prefix: &str| -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
            let mut m =
                std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
            for l in lb.iter().filter(|l| l.starts_with(prefix)) {
                let w: Vec<&str> = l.split(' ').collect();
                m.entry(w[1].to_string())
                    .or_default()
                    .insert(w[2].to_string());
            }
            m
        };
    for prefix in ["src ", "stick ", "hash "] {
        for (k, v) in server_of(prefix) {
            assert_eq!(v.len(), 1, "{prefix}{k} reached {v:?}: {lb:#?}");
        }
    }
    assert!(
        lb.contains(&"msts c c".to_string()) && lb.contains(&"msts a a".to_string()),
        "{lb:#?}"
    );
    let Some(hap) = run(&|cfg, port| {
        Haproxy::start(cfg, &[port]).map(|h| Box::new(h) as Box<dyn std::any::Any>)
    }) else {
        return;
    };
    assert_eq!(lb, hap, "corelb, then HAProxy");
    let dir = TempDir::new("persist-cfg");
    expect_check(
        &dir,
        &format!("{DEFAULTS}backend be\n  persist cookie\n"),
        1,
        "c.cfg:7: 'persist' only supports 'rdp-cookie' or 'rdp-cookie(<name>)'",
    );
}
