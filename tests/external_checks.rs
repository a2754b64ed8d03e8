//! External checks (`external-check`, `option external-check`, `external-check command`,
//! `external-check path`), end to end and against Debian's HAProxy 2.6: the same
//! configuration runs through both, and the check command records what it was given
//! (arguments, environment) while files tell it how to answer (exit 0, exit 3, or sleep past
//! the timeout). Both must give the command the same arguments and environment and show the
//! same statuses (stats CSV `status`, `check_status`, `check_code`; `show servers state`'s
//! `srv_check_status`).

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The check command: writes `seen-<proxy>-<server>` (its arguments, then HAProxy's
/// variables and PATH, sorted; only shell builtins, PATH may be empty), then answers as
/// `mode-<server>` says.
const SCRIPT: &str = r#"#!/bin/sh
d="${0%/*}"
{
  echo "args: $*"
  export -p | while read -r line; do
    case "$line" in
      *HAPROXY_*|*" PATH="*) echo "${line#export }" ;;
    esac
  done
} > "$d/seen-$HAPROXY_PROXY_NAME-$HAPROXY_SERVER_NAME.tmp"
read -r mode < "$d/mode-$HAPROXY_SERVER_NAME" || mode=ok
case "$mode" in
  ok) code=0 ;;
  fail) code=3 ;;
  sleep) /bin/sleep 5; code=0 ;;
esac
# The record appears whole (the test reads it while checks run).
/bin/mv -f "$d/seen-$HAPROXY_PROXY_NAME-$HAPROXY_SERVER_NAME.tmp" "$d/seen-$HAPROXY_PROXY_NAME-$HAPROXY_SERVER_NAME"
exit $code
"#;

fn config(dir: &Path, front: u16, stats: u16) -> String {
    let d = dir.display();
    format!(
        "global
    external-check
    insecure-fork-wanted
    stats socket {d}/stats.sock level admin
defaults
    timeout connect 400ms
    timeout client 5s
    timeout server 5s
listen stats
    bind 127.0.0.1:{stats}
    mode http
    stats enable
    stats uri /stats
listen web
    bind 127.0.0.1:{front}
    mode http
    option external-check
    external-check command {d}/check.sh
    external-check path /usr/bin:/bin
    server up 127.0.0.1:9 check inter 300 rise 1 fall 1 maxconn 7
backend pool
    mode tcp
    timeout check 5s
    option external-check
    external-check command {d}/check.sh
    default-server check inter 300 rise 1 fall 1
    server fine 127.0.0.1:10
    server bad [::1]:11
    server slow 127.0.0.1:12
backend tls
    mode http
    option external-check
    external-check command {d}/check.sh
    server s7 127.0.0.1:13 check inter 300 rise 1 fall 1 ssl verify none id 7
"
    )
}

struct Seen {
    /// `proxy/server` → what the command recorded.
    records: BTreeMap<String, String>,
    /// `proxy/server` → `status check_status check_code` of the CSV and `srv_check_status`.
    states: BTreeMap<String, String>,
    /// A check in progress showed as `* PROCTOUT` (HAProxy's CHK_ST_INPROGRESS).
    starred: bool,
}

const SERVERS: [(&str, &str); 5] = [
    ("web", "up"),
    ("pool", "fine"),
    ("pool", "bad"),
    ("pool", "slow"),
    ("tls", "s7"),
];

/// Runs `start` on the config in a fresh directory and reads what the checks did once every
/// server has been checked (and the slow one timed out) twice.
fn observe<T>(start: impl FnOnce(&str, u16) -> T) -> Seen {
    let dir = TempDir::new("extchk");
    let script = dir.write("check.sh", SCRIPT);
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir.write("mode-bad", "fail\n");
    dir.write("mode-slow", "sleep\n");
    let (front, stats) = (free_port(), free_port());
    let _running = start(&config(&dir.0, front, stats), stats);
    let sock = dir.path("stats.sock");
    wait_unix_socket(&sock);
    let states = || -> BTreeMap<String, String> {
        let csv = stats_cmd(&sock, "show stat");
        let state = stats_cmd(&sock, "show servers state");
        let mut m = BTreeMap::new();
        for (px, sv) in SERVERS {
            let row = csv
                .lines()
                .find(|l| l.starts_with(&format!("{px},{sv},")))
                .unwrap_or_default();
            let header: Vec<&str> = csv
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("# ")
                .split(',')
                .collect();
            let f: Vec<&str> = row.split(',').collect();
            let col = |n: &str| {
                header
                    .iter()
                    .position(|h| *h == n)
                    .and_then(|i| f.get(i).copied())
                    .unwrap_or("?")
            };
            // `show servers state`: be_id be_name srv_id srv_name srv_addr srv_op_state
            // srv_admin_state srv_uweight srv_iweight srv_time_since_last_change
            // srv_check_status …
            let chk = state
                .lines()
                .map(|l| l.split(' ').collect::<Vec<_>>())
                .find(|w| w.len() > 10 && w[1] == px && w[3] == sv)
                .map_or("?".to_string(), |w| w[10].to_string());
            m.insert(
                format!("{px}/{sv}"),
                format!(
                    "{} {} {} state:{chk}",
                    col("status"),
                    col("check_status"),
                    col("check_code")
                ),
            );
        }
        m
    };
    // A status behind a star (`* PROCTOUT`) is a check still running: wait for a moment
    // when none runs, as the slow one does half of the time.
    let want = |m: &BTreeMap<String, String>| {
        !m.values().any(|s| s.contains("* "))
            && m["pool/slow"].contains("PROCTOUT")
            && m["pool/bad"].contains("PROCERR")
            && m["web/up"].contains("PROCOK")
            && SERVERS
                .iter()
                .all(|(p, s)| dir.path(&format!("seen-{p}-{s}")).exists() || *s == "slow")
    };
    let got = eventually(Duration::from_secs(15), || {
        Some(states()).filter(|m| want(m))
    })
    .unwrap_or_else(states);
    // While the slow server's next check runs, its last status shows behind a star.
    let starred = eventually(Duration::from_secs(5), || {
        (states()["pool/slow"] == "DOWN * PROCTOUT 0 state:19").then_some(())
    })
    .is_some();
    let records = SERVERS
        .iter()
        .filter(|(_, s)| *s != "slow")
        .map(|(p, s)| {
            // The listen section's port is the only thing that differs between two runs.
            let text = std::fs::read_to_string(dir.path(&format!("seen-{p}-{s}")))
                .unwrap_or_else(|_| "(not run)".into())
                .replace(&front.to_string(), "<front>");
            (format!("{p}/{s}"), text)
        })
        .collect();
    Seen {
        records,
        states: got,
        starred,
    }
}

#[test]
fn external_checks_run_the_command_as_haproxy_does() {
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("SKIP: haproxy is not installed (apt-get install haproxy)");
        return;
    }
    let theirs = observe(|cfg, stats| Haproxy::start(cfg, &[stats]).expect("haproxy"));
    let ours = observe(|cfg, stats| Corelb::start(cfg, &[], &[stats]));
    // What the command was given.
    assert!(
        theirs.records["web/up"].contains("args: 127.0.0.1 <front> 127.0.0.1 9")
            && theirs.records["pool/fine"].contains("args: NOT_USED NOT_USED 127.0.0.1 10"),
        "HAProxy did not run the checks as this test expects: {:#?}",
        theirs.records
    );
    assert_eq!(ours.records, theirs.records, "arguments and environment");
    // What the checks decided, as the stats and the state dump show it.
    let want: BTreeMap<String, String> = [
        ("web/up", "UP PROCOK 0 state:20"),
        ("pool/fine", "UP PROCOK 0 state:20"),
        ("pool/bad", "DOWN PROCERR 3 state:18"),
        ("pool/slow", "DOWN PROCTOUT 0 state:19"),
        ("tls/s7", "UP PROCOK 0 state:20"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        theirs.states, want,
        "HAProxy did not judge as this test expects"
    );
    assert_eq!(ours.states, theirs.states, "statuses");
    assert!(theirs.starred, "HAProxy showed no check in progress");
    assert!(
        ours.starred,
        "corelb showed no check in progress as `* PROCTOUT`"
    );
}

#[test]
fn external_check_errors_name_their_line() {
    let dir = TempDir::new("extchk-cfg");
    let base = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";
    // Without the global keyword, and without a command: HAProxy's two errors.
    expect_check(
        &dir,
        &format!("{base}backend b\n  option external-check\n  server s 127.0.0.1:1 check\n"),
        1,
        "c.cfg:6: Proxy 'b' : 'option external-check' unable to find required 'global.external-check'.",
    );
    expect_check(
        &dir,
        &format!("global\n  external-check\n{base}backend b\n  option external-check\n"),
        1,
        "c.cfg:8: Proxy 'b' : 'option external-check' unable to find required 'external-check command'.",
    );
    expect_check(
        &dir,
        &format!("global\n  external-check now\n{base}"),
        1,
        "c.cfg:2: 'external-check' cannot handle unexpected argument 'now'.",
    );
    expect_check(
        &dir,
        &format!("{base}backend b\n  external-check command\n"),
        1,
        "c.cfg:6: missing argument after 'command'.",
    );
    expect_check(
        &dir,
        &format!("{base}backend b\n  external-check foo x\n"),
        1,
        "c.cfg:6: 'external-check' only supports 'command' and 'path'. but got 'foo'.",
    );
    expect_check(
        &dir,
        &format!(
            "global\n  external-check\n{base}backend b\n  option external-check\n  external-check command /bin/true\n  external-check path /bin\n"
        ),
        0,
        "",
    );
}
