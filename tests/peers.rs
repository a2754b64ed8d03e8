//! `peers` sections: what `-c` accepts and refuses, compared with Debian's HAProxy 2.6 line by
//! line, and a configuration with a `peers` section and its own tables starting, its tables
//! working as `show table` shows them (HAProxy's names, `SECTION/TABLE`).

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::Command;

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";

/// `haproxy -L me -c`: (exit code, the line numbers its alerts name).
fn haproxy_check(dir: &TempDir, text: &str) -> Option<(i32, BTreeSet<u32>)> {
    let path = dir.write("h.cfg", text);
    let out = Command::new("haproxy")
        .args(["-L", "me", "-c", "-f"])
        .arg(&path)
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let lines = err
        .lines()
        .filter(|l| l.contains("[ALERT]"))
        .filter_map(|l| {
            let at = l.find("h.cfg:")? + "h.cfg:".len();
            let n: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            n.parse().ok()
        })
        .collect();
    Some((out.status.code().unwrap_or(-1), lines))
}

/// `corelb -L me -c`: (exit code, the line numbers its errors name, the messages).
fn corelb_check(dir: &TempDir, text: &str) -> (i32, BTreeSet<u32>, String) {
    let path = dir.write("c.cfg", text);
    let out = Command::new(corelb_bin())
        .args(["-L", "me", "-c", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = all
        .lines()
        .filter(|l| !l.contains(": warning: "))
        .filter_map(|l| {
            let at = l.find("c.cfg:")? + "c.cfg:".len();
            let n: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            n.parse().ok()
        })
        .collect();
    (out.status.code().unwrap_or(-1), lines, all)
}

#[test]
fn check_accepts_and_refuses_peers_sections_as_haproxy_does() {
    let dir = TempDir::new("peers-check");
    let fe = "frontend f\n  bind 127.0.0.1:1\n  default_backend be\n";
    // (config, whether HAProxy 2.6 accepts it); each refused one names its lines.
    let cases: Vec<(String, bool)> = vec![
        (
            format!(
                "peers p\n  peer me 127.0.0.1:1\n  peer other 127.0.0.2:1\n  table t1 type ip size 10 expire 10s store gpc0,http_req_rate(10s)\n  table t2 type string len 16 size 1k\n{DEFAULTS}{fe}backend be\n  stick-table type ip size 10 peers p\n  stick on src table p/t1\n  http-request track-sc0 src table p/t2\n  server s 127.0.0.1:80\n"
            ),
            true,
        ),
        (
            format!(
                "global\n  localpeer other\npeers p\n  bind 127.0.0.1:1\n  server me\n  server other 127.0.0.2:1\n  default-server inter 1s\n  default-bind v4v6\n  disabled\n  enabled\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            true,
        ),
        (
            format!(
                "peers p\n  peer me 127.0.0.1\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            false,
        ),
        (
            format!(
                "peers p\n  peer me 127.0.0.1:1\n  shards 2\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            false,
        ),
        (
            format!(
                "peers p\n  peer me 127.0.0.1:1\n  table t type ip\n  table u type ip size 1 foo\n  table v type ip size 1 peers p\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            false,
        ),
        (
            format!(
                "peers p\n  peer me 127.0.0.1:1\n  bind 127.0.0.1:2\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            false,
        ),
        (
            format!(
                "peers p\n  peer me 127.0.0.1:1\npeers p\n  peer me 127.0.0.1:2\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            false,
        ),
        (
            format!(
                "global\n  localpeer\npeers p\n  peer me 127.0.0.1:1\n  enable\n{DEFAULTS}{fe}backend be\n  server s 127.0.0.1:80\n"
            ),
            false,
        ),
    ];
    let mut diffs = Vec::new();
    let mut compared = 0;
    for (cfg, ok) in &cases {
        let (code, lines, all) = corelb_check(&dir, cfg);
        if *ok != (code == 0) {
            diffs.push(format!(
                "corelb exit {code}, expected ok={ok}:\n{cfg}\n{all}"
            ));
            continue;
        }
        if !ok && lines.is_empty() {
            diffs.push(format!("corelb names no line:\n{cfg}\n{all}"));
        }
        let Some((hcode, hlines)) = haproxy_check(&dir, cfg) else {
            continue;
        };
        compared += 1;
        if (hcode == 0) != *ok || hlines != lines {
            diffs.push(format!(
                "{cfg}\n  haproxy: exit {hcode}, lines {hlines:?}\n  corelb:  exit {code}, lines {lines:?}\n{all}"
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
    eprintln!("compared {compared} configurations with haproxy -c");
}

#[test]
fn local_peer_is_minus_l_then_localpeer_then_the_host_name() {
    let dir = TempDir::new("peers-local");
    let cfg = "global\n  localpeer b\npeers p\n  peer a 127.0.0.1\n  peer b 127.0.0.1:1\n";
    // Global `localpeer b`: b is local and has its port; a is remote (no port accepted).
    let (code, _, all) = corelb_check(&dir, cfg);
    assert!(
        all.contains(
            "'localpeer' ignored since it is already set by using the '-L' command line argument."
        ),
        "{all}"
    );
    // With -L me neither is local: the section is dropped, with HAProxy's warning.
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("Removing incomplete section 'peers p' (no peer named 'me')."),
        "{all}"
    );
    let path = dir.write("n.cfg", cfg);
    let out = Command::new(corelb_bin())
        .args(["-c", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("Removing incomplete section"), "{all}");
    // -L a makes the peer without a port the local one: an error on its line.
    let out = Command::new(corelb_bin())
        .args(["-L", "a", "-c", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&out.stderr);
    assert!(
        all.contains("n.cfg:4: 'peer a' : missing port specification in '127.0.0.1'"),
        "{all}"
    );
}

fn table_config(port: u16, peer: u16, a: u16, b: u16, sock: &str) -> String {
    format!(
        "global\n  stats socket {sock} level admin\n\
peers p\n  peer me 127.0.0.1:{peer}\n  table t1 type ip size 1k expire 30s store gpc0,http_req_rate(10s)\n\
{DEFAULTS}\
frontend fe\n  bind 127.0.0.1:{port}\n  http-request track-sc0 src table p/t1\n  http-request sc-inc-gpc0(0)\n  default_backend be\n\
backend be\n  balance roundrobin\n  stick-table type ip size 1k expire 30s peers p\n  stick on src\n  server a 127.0.0.1:{a}\n  server b 127.0.0.1:{b}\n"
    )
}

/// The `key=... use=0 exp=... gpc0=N http_req_rate(10000)=N` part of a `show table` entry
/// line, without its address and expiry.
fn entry(show: &str) -> Vec<String> {
    show.lines()
        .filter(|l| l.contains("key="))
        .map(|l| {
            l.split_whitespace()
                .filter(|w| !w.starts_with("0x") && !w.starts_with("exp="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn a_peers_section_starts_and_its_tables_work_as_haproxys() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let dir = TempDir::new("peers-run");
    let csock = dir.path("c.sock");
    let (cp, cpeer) = (free_port(), free_port());
    let lb = Corelb::start(
        &table_config(cp, cpeer, a.port, b.port, &csock.display().to_string()),
        &["-L", "me"],
        &[cp],
    );
    assert!(
        lb.log()
            .contains("peers section 'p': corelb does not synchronize"),
        "{}",
        lb.log()
    );
    let send = |port: u16| {
        for _ in 0..3 {
            raw_exchange(
                port,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
        }
    };
    send(cp);
    wait_unix_socket(&csock);
    let c_list = stats_cmd(&csock, "show table");
    let c_t1 = stats_cmd(&csock, "show table p/t1");
    let c_be = stats_cmd(&csock, "show table be");
    assert!(
        c_t1.starts_with("# table: p/t1, type: ip, size:1024, used:1\n"),
        "{c_t1}"
    );
    assert_eq!(
        entry(&c_t1),
        ["key=127.0.0.1 use=0 gpc0=3 http_req_rate(10000)=3"],
        "{c_t1}"
    );
    assert!(c_list.contains("# table: p/t1,"), "{c_list}");
    // Differential: the same configuration through HAProxy (its peer listener is the local
    // peer's address), the same tables and entries.
    let hsock = dir.path("h.sock");
    let (hp, hpeer) = (free_port(), free_port());
    let hcfg = table_config(hp, hpeer, a.port, b.port, &hsock.display().to_string())
        .replace("global\n", "global\n  localpeer me\n");
    let Some(_h) = common::haproxy::Haproxy::start(&hcfg, &[hp]) else {
        return;
    };
    send(hp);
    wait_unix_socket(&hsock);
    let h_t1 = stats_cmd(&hsock, "show table p/t1");
    let h_be = stats_cmd(&hsock, "show table be");
    assert_eq!(h_t1.lines().next(), c_t1.lines().next());
    assert_eq!(
        entry(&h_t1),
        entry(&c_t1),
        "haproxy:\n{h_t1}\ncorelb:\n{c_t1}"
    );
    assert_eq!(h_be.lines().next(), c_be.lines().next());
    assert_eq!(
        entry(&h_be),
        entry(&c_be),
        "haproxy:\n{h_be}\ncorelb:\n{c_be}"
    );
}
