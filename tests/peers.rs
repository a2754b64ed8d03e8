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
    let _lb = Corelb::start(
        &table_config(cp, cpeer, a.port, b.port, &csock.display().to_string()),
        &["-L", "me"],
        &[cp],
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

fn server_from(local: &str, port: u16) -> String {
    use std::io::{Read, Write};
    let mut c = connect_from(local, ("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-server: ")
                .map(str::to_string)
        })
        .unwrap_or(out)
}

/// Two nodes of an active-active pair: `peer a`, `peer b`, a backend sticking clients to
/// servers by source address, and a frontend counting requests per client, both tables
/// shared through the section.
fn pair_config(me: &str, port: u16, peers: (u16, u16), servers: (u16, u16), sock: &str) -> String {
    format!(
        "global\n  stats socket {sock} level admin\n  localpeer {me}\n\
peers p\n  peer a 127.0.0.1:{}\n  peer b 127.0.0.1:{}\n\
{DEFAULTS}\
frontend fe\n  bind 127.0.0.1:{port}\n  stick-table type ip size 1k expire 60s store gpc0,http_req_cnt,http_req_rate(10s) peers p\n  http-request track-sc0 src\n  http-request sc-inc-gpc0(0)\n  default_backend be\n\
backend be\n  balance roundrobin\n  stick-table type ip size 1k expire 60s peers p\n  stick on src\n  server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n",
        peers.0, peers.1, servers.0, servers.1
    )
}

fn used(show: &str) -> usize {
    show.lines()
        .next()
        .and_then(|l| l.rsplit_once("used:"))
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(0)
}

const CLIENTS: [&str; 4] = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

#[test]
fn a_client_stuck_to_a_server_through_one_node_is_sent_there_by_the_other() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let dir = TempDir::new("peers-pair");
    let (s1, s2) = (dir.path("1.sock"), dir.path("2.sock"));
    let (p1, p2, peers) = (free_port(), free_port(), (free_port(), free_port()));
    let n1 = Corelb::start(
        &pair_config("a", p1, peers, (a.port, b.port), &s1.display().to_string()),
        &[],
        &[p1],
    );
    let cfg2 = pair_config("b", p2, peers, (a.port, b.port), &s2.display().to_string());
    let n2 = Corelb::start(&cfg2, &[], &[p2]);
    let first: Vec<String> = CLIENTS.iter().map(|c| server_from(c, p1)).collect();
    assert!(
        first.contains(&"a".into()) && first.contains(&"b".into()),
        "{first:?}"
    );
    wait_unix_socket(&s2);
    let synced = eventually(std::time::Duration::from_secs(10), || {
        (used(&stats_cmd(&s2, "show table be")) == 4).then_some(())
    });
    assert!(
        synced.is_some(),
        "node 2 did not learn the 4 clients:\n{}\nnode 1:\n{}\nnode 2:\n{}",
        stats_cmd(&s2, "show table be"),
        n1.log(),
        n2.log()
    );
    // In the other order: round robin alone would give each client the other server.
    let second: Vec<String> = CLIENTS.iter().rev().map(|c| server_from(c, p2)).collect();
    let want: Vec<String> = first.iter().rev().cloned().collect();
    assert_eq!(second, want);
    // The request counters went both ways too: 2 requests per client, seen by node 1.
    let ok = eventually(std::time::Duration::from_secs(10), || {
        let show = stats_cmd(&s1, "show table fe");
        (show.matches("gpc0=2 http_req_cnt=2").count() == 4).then_some(())
    });
    assert!(ok.is_some(), "{}", stats_cmd(&s1, "show table fe"));
    // Node 2 restarts empty: it reconnects, asks node 1 for everything and learns it all.
    drop(n2);
    let _ = std::fs::remove_file(&s2);
    let n2 = Corelb::start(&cfg2, &[], &[p2]);
    wait_unix_socket(&s2);
    let relearned = eventually(std::time::Duration::from_secs(10), || {
        let show = stats_cmd(&s2, "show table fe");
        (used(&stats_cmd(&s2, "show table be")) == 4
            && show.matches("gpc0=2 http_req_cnt=2").count() == 4)
            .then_some(())
    });
    assert!(
        relearned.is_some(),
        "{}\n{}",
        stats_cmd(&s2, "show table be"),
        stats_cmd(&s2, "show table fe")
    );
    let again: Vec<String> = CLIENTS.iter().map(|c| server_from(c, p2)).collect();
    assert_eq!(again, first);
    // A reload: the new generation's tables start empty, it listens once the old one lets
    // go of the peer address, and learns everything back.
    n2.signal("HUP");
    let reloaded = eventually(std::time::Duration::from_secs(10), || {
        let log = n2.log();
        let show = stats_cmd(&s2, "show table fe");
        (log.contains("generation 2 started")
            && log.contains("generation 1 finished")
            && show.matches("gpc0=3 http_req_cnt=3").count() == 4)
            .then_some(())
    });
    assert!(
        reloaded.is_some(),
        "{}\n{}",
        stats_cmd(&s2, "show table fe"),
        n2.log()
    );
    assert!(!n2.log().contains("still cannot listen"), "{}", n2.log());
}

#[test]
fn corelb_and_haproxy_learn_each_others_entries() {
    let (a, b) = (Serve::start("a", &[]), Serve::start("b", &[]));
    let dir = TempDir::new("peers-interop");
    let (cs, hs) = (dir.path("c.sock"), dir.path("h.sock"));
    let (cp, hp, peers) = (free_port(), free_port(), (free_port(), free_port()));
    let _c = Corelb::start(
        &pair_config("a", cp, peers, (a.port, b.port), &cs.display().to_string()),
        &[],
        &[cp],
    );
    let Some(h) = common::haproxy::Haproxy::start(
        &pair_config("b", hp, peers, (a.port, b.port), &hs.display().to_string()),
        &[hp],
    ) else {
        return;
    };
    wait_unix_socket(&cs);
    wait_unix_socket(&hs);
    // Through corelb: HAProxy learns the client, its server and its counters.
    let first: Vec<String> = CLIENTS[..2].iter().map(|c| server_from(c, cp)).collect();
    // Both tables: their updates are separate messages, the second may come a little later.
    let learned = eventually(std::time::Duration::from_secs(10), || {
        let show = stats_cmd(&hs, "show table fe");
        let fe = show
            .matches("gpc0=1 http_req_cnt=1 http_req_rate(10000)=1")
            .count();
        (fe == 2 && used(&stats_cmd(&hs, "show table be")) == 2).then_some(())
    });
    assert!(
        learned.is_some(),
        "haproxy:\n{}\n{}\n{}",
        stats_cmd(&hs, "show table fe"),
        stats_cmd(&hs, "show table be"),
        h.log()
    );
    // HAProxy sends those clients where corelb did (in the other order).
    let through_h: Vec<String> = CLIENTS[..2]
        .iter()
        .rev()
        .map(|c| server_from(c, hp))
        .collect();
    assert_eq!(through_h, first.iter().rev().cloned().collect::<Vec<_>>());
    // Through HAProxy: corelb learns new clients (server_id, counters), and the counters of
    // the known ones go up.
    let third: Vec<String> = CLIENTS[2..].iter().map(|c| server_from(c, hp)).collect();
    // Both tables again: under load the be table's entries came after the fe table's.
    let learned = eventually(std::time::Duration::from_secs(10), || {
        let show = stats_cmd(&cs, "show table fe");
        (show.matches("gpc0=2 http_req_cnt=2").count() == 2
            && show.matches("gpc0=1 http_req_cnt=1").count() == 2
            && used(&stats_cmd(&cs, "show table be")) == 4)
            .then_some(())
    });
    assert!(
        learned.is_some(),
        "corelb:\n{}\n{}",
        stats_cmd(&cs, "show table fe"),
        stats_cmd(&cs, "show table be")
    );
    let through_c: Vec<String> = CLIENTS[2..]
        .iter()
        .rev()
        .map(|c| server_from(c, cp))
        .collect();
    assert_eq!(through_c, third.iter().rev().cloned().collect::<Vec<_>>());
}

/// A pair sharing a table of arrays (`gpt(1)`, `gpc(2)`, `gpc_rate(2,10s)`): each request
/// sets `gpt[0]` to 5, counts `gpc[1]` (and its rate) and, on `/x`, `gpc[0]`.
fn arrays_config(me: &str, port: u16, peers: (u16, u16), sock: &str) -> String {
    format!(
        "global\n  stats socket {sock} level admin\n  localpeer {me}\n\
peers p\n  peer a 127.0.0.1:{}\n  peer b 127.0.0.1:{}\n\
{DEFAULTS}\
frontend fe\n  bind 127.0.0.1:{port}\n  stick-table type ip size 1k expire 60s store gpt(1),gpc(2),gpc_rate(2,10s),http_req_cnt peers p\n  http-request track-sc0 src\n  http-request sc-inc-gpc(1,0)\n  http-request sc-inc-gpc(0,0) if {{ path /x }}\n  http-request sc-set-gpt(0,0) 5\n  http-request return status 200 content-type text/plain lf-string \"%[sc_get_gpc(1,0)]\"\n",
        peers.0, peers.1
    )
}

fn get_from(local: &str, port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = connect_from(local, ("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The array entries of a `show table`, keyed, without address and expiry.
fn array_entries(show: &str) -> BTreeSet<String> {
    show.lines()
        .filter(|l| l.contains("key="))
        .map(|l| {
            l.split(' ')
                .filter(|w| {
                    !w.starts_with("0x") && !w.starts_with("exp=") && !w.starts_with("use=")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Two nodes' ports, their stats sockets, and what keeps them running.
type Pair = (
    [u16; 2],
    [std::path::PathBuf; 2],
    Vec<Box<dyn std::any::Any>>,
);

/// Nodes a (corelb) and b (HAProxy when `with_haproxy`, else corelb) of a pair made by
/// `config(ME, PORT, PEERS, SOCKET)`, their stats sockets up. `None` without HAProxy
/// installed.
fn start_pair(
    dir: &TempDir,
    with_haproxy: bool,
    config: impl Fn(&str, u16, (u16, u16), &str) -> String,
) -> Option<Pair> {
    let (s1, s2) = (dir.path("a.sock"), dir.path("b.sock"));
    let _ = std::fs::remove_file(&s1);
    let _ = std::fs::remove_file(&s2);
    let (p1, p2, peers) = (free_port(), free_port(), (free_port(), free_port()));
    let a = Corelb::start(
        &config("a", p1, peers, &s1.display().to_string()),
        &[],
        &[p1],
    );
    let cfg_b = config("b", p2, peers, &s2.display().to_string());
    let b: Box<dyn std::any::Any> = if with_haproxy {
        Box::new(common::haproxy::Haproxy::start(&cfg_b, &[p2])?)
    } else {
        Box::new(Corelb::start(&cfg_b, &[], &[p2]))
    };
    wait_unix_socket(&s1);
    wait_unix_socket(&s2);
    Some(([p1, p2], [s1, s2], vec![Box::new(a), b]))
}

/// The arrays go both ways: corelb to corelb, corelb to HAProxy and HAProxy to corelb, every
/// element (HAProxy's encoding: each element in order, the table definition giving their
/// number), as `show table` on each side shows them.
#[test]
fn gpc_gpt_arrays_are_exchanged_with_corelb_and_haproxy() {
    let dir = TempDir::new("peers-arrays");
    for with_haproxy in [false, true] {
        let Some(([p1, p2], [s1, s2], _nodes)) = start_pair(&dir, with_haproxy, arrays_config)
        else {
            return;
        };
        // Through node a: 127.0.0.2 twice, once on /x.
        assert_eq!(get_from(CLIENTS[0], p1, "/"), "1");
        assert_eq!(get_from(CLIENTS[0], p1, "/x"), "2");
        let want = "key=127.0.0.2 http_req_cnt=2 gpt0=5 gpc0=1 gpc1=2 gpc0_rate(10000)=1 gpc1_rate(10000)=2";
        let learned = eventually(std::time::Duration::from_secs(10), || {
            array_entries(&stats_cmd(&s2, "show table fe"))
                .contains(want)
                .then_some(())
        });
        assert!(
            learned.is_some(),
            "haproxy={with_haproxy}: b did not learn\n{want}\nb: {}\na: {}",
            stats_cmd(&s2, "show table fe"),
            stats_cmd(&s1, "show table fe")
        );
        // Through node b: 127.0.0.3 once, and 127.0.0.2 once more: a learns both.
        assert_eq!(get_from(CLIENTS[1], p2, "/x"), "1");
        assert_eq!(get_from(CLIENTS[0], p2, "/"), "3");
        let want: BTreeSet<String> = [
            "key=127.0.0.2 http_req_cnt=3 gpt0=5 gpc0=1 gpc1=3 gpc0_rate(10000)=1 gpc1_rate(10000)=3",
            "key=127.0.0.3 http_req_cnt=1 gpt0=5 gpc0=1 gpc1=1 gpc0_rate(10000)=1 gpc1_rate(10000)=1",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let learned = eventually(std::time::Duration::from_secs(10), || {
            (array_entries(&stats_cmd(&s1, "show table fe")) == want).then_some(())
        });
        assert!(
            learned.is_some(),
            "haproxy={with_haproxy}: a did not learn\n{want:?}\na: {}\nb: {}",
            stats_cmd(&s1, "show table fe"),
            stats_cmd(&s2, "show table fe")
        );
    }
}

/// A pair sharing a table of HTTP failures (`http_fail_cnt`, `http_fail_rate(10s)`, HAProxy's
/// data types 20 and 21): each request tracked, the server answering `/status/CODE`.
fn fail_config(me: &str, port: u16, peers: (u16, u16), server: u16, sock: &str) -> String {
    format!(
        "global\n  stats socket {sock} level admin\n  localpeer {me}\n\
peers p\n  peer a 127.0.0.1:{}\n  peer b 127.0.0.1:{}\n\
{DEFAULTS}\
frontend fe\n  bind 127.0.0.1:{port}\n  stick-table type ip size 1k expire 60s store http_req_cnt,http_fail_cnt,http_fail_rate(10s) peers p\n  http-request track-sc0 src\n  default_backend be\n\
backend be\n  server s 127.0.0.1:{server}\n",
        peers.0, peers.1
    )
}

/// `http_fail_cnt` and `http_fail_rate` go both ways, corelb to corelb, corelb to HAProxy
/// and HAProxy to corelb, as `show table` on each side shows them.
#[test]
fn http_fail_counters_are_exchanged_with_corelb_and_haproxy() {
    let dir = TempDir::new("peers-fail");
    let web = Serve::start("web", &[]);
    for with_haproxy in [false, true] {
        let config =
            |me: &str, port, peers, sock: &str| fail_config(me, port, peers, web.port, sock);
        let Some(([p1, p2], [s1, s2], _nodes)) = start_pair(&dir, with_haproxy, config) else {
            return;
        };
        let learned = |sock: &std::path::Path, want: &str| {
            eventually(std::time::Duration::from_secs(10), || {
                array_entries(&stats_cmd(sock, "show table fe"))
                    .contains(want)
                    .then_some(())
            })
            .is_some()
        };
        // Through node a: a 500, a 501 (no failure) and a 200.
        for path in ["/status/500", "/status/501", "/status/200"] {
            get_from(CLIENTS[0], p1, path);
        }
        let want = "key=127.0.0.2 http_req_cnt=3 http_fail_cnt=1 http_fail_rate(10000)=1";
        assert!(
            learned(&s2, want),
            "haproxy={with_haproxy}: b did not learn\n{want}\nb: {}\na: {}",
            stats_cmd(&s2, "show table fe"),
            stats_cmd(&s1, "show table fe")
        );
        // Through node b: a 503 more; a learns it.
        get_from(CLIENTS[0], p2, "/status/503");
        let want = "key=127.0.0.2 http_req_cnt=4 http_fail_cnt=2 http_fail_rate(10000)=2";
        assert!(
            learned(&s1, want),
            "haproxy={with_haproxy}: a did not learn\n{want}\na: {}\nb: {}",
            stats_cmd(&s1, "show table fe"),
            stats_cmd(&s2, "show table fe")
        );
    }
}

/// A peer speaking the protocol by hand (corelb's own connections to it go to port 1, where
/// nothing listens): it says hello to `port` as `fake`, then reads for
/// as long as it takes to receive `want` stick-table updates (at most 10 s), and returns the
/// number of updates each read completed (reads that completed none are left out).
fn updates_per_read(port: u16, want: usize) -> Vec<usize> {
    use std::io::{Read, Write};
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut i = *b.get(*at)? as u64;
        *at += 1;
        if i < 240 {
            return Some(i);
        }
        let mut shift = 4;
        loop {
            let x = *b.get(*at)? as u64;
            *at += 1;
            i += x << shift;
            shift += 7;
            if x < 128 {
                return Some(i);
            }
        }
    }
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .unwrap();
    s.write_all(b"HAProxyS 2.1\nme\nfake 1 1\n").unwrap();
    let mut buf = Vec::new();
    let mut status_done = false;
    let (mut per_read, mut total) = (Vec::new(), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut chunk = [0u8; 65536];
    while total < want && std::time::Instant::now() < deadline {
        let n = match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => continue,
        };
        buf.extend_from_slice(&chunk[..n]);
        if !status_done {
            let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                continue;
            };
            assert_eq!(&buf[..nl], b"200", "{}", String::from_utf8_lossy(&buf));
            buf.drain(..=nl);
            status_done = true;
        }
        // Complete messages: class, type, and for types from 0x80 a length and a body.
        let (mut at, mut updates) = (0, 0);
        while buf.len() >= at + 2 {
            let (class, kind) = (buf[at], buf[at + 1]);
            let mut end = at + 2;
            if kind >= 0x80 {
                let Some(len) = varint(&buf, &mut end) else {
                    break;
                };
                end += len as usize;
                if end > buf.len() {
                    break;
                }
            }
            if class == 10 && kind == 0x80 {
                updates += 1;
            }
            at = end;
        }
        buf.drain(..at);
        if updates > 0 {
            per_read.push(updates);
            total += updates;
        }
    }
    per_read
}

#[test]
fn tune_peers_max_updates_at_once_spreads_the_updates_over_rounds() {
    let run = |global: &str| {
        let (port, peer) = (free_port(), free_port());
        let cfg = format!(
            "global\n  localpeer me\n{global}\
peers p\n  peer me 127.0.0.1:{peer}\n  peer fake 127.0.0.1:1\n  table t type string len 32 size 1k expire 60s store gpc0\n\
{DEFAULTS}\
frontend fe\n  bind 127.0.0.1:{port}\n  http-request track-sc0 req.hdr(x-k) table p/t\n  http-request return status 200\n"
        );
        let _lb = Corelb::start(&cfg, &[], &[port, peer]);
        for k in 0..20 {
            let r = raw_exchange(
                port,
                format!("GET / HTTP/1.1\r\nHost: x\r\nx-k: k{k}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
        updates_per_read(peer, 20)
    };
    // HAProxy's default (200): the 20 entries go in one round, one write.
    let all = run("");
    assert_eq!(all.iter().sum::<usize>(), 20, "{all:?}");
    assert!(all.iter().max() >= Some(&10), "{all:?}");
    // Two at a time: ten rounds, 100 ms apart.
    let two = run("  tune.peers.max-updates-at-once 2\n");
    assert_eq!(two.iter().sum::<usize>(), 20, "{two:?}");
    assert!(two.len() >= 5, "{two:?}");

    let dir = TempDir::new("peers-max-updates");
    for v in ["", " 0", " x"] {
        let (code, lines, all) = corelb_check(
            &dir,
            &format!("global\n  tune.peers.max-updates-at-once{v}\n"),
        );
        assert_eq!((code, lines), (1, BTreeSet::from([2])), "{all}");
        assert!(
            all.contains(
                "'tune.peers.max-updates-at-once' expects an integer argument greater than 0."
            ),
            "{all}"
        );
    }
}
