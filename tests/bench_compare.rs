//! `scripts/bench-compare.sh --quick` end to end: corelb, HAProxy and nginx side by side on
//! every scenario (nginx where the scenario has an nginx configuration), a row per scenario
//! and proxy, the JSON readable, real CPU-per-request figures
//! where corelb serves the scenario, "not supported yet" where it does not (HTTPS before the
//! TLS runtime landed), "n/a (no h2 negotiated)" for the HTTP/2 scenario while corelb does
//! not select h2, and nothing left running afterwards. It asserts no timing: only that
//! the costs were measured (numbers above zero), and that (g) really ran over HTTP/2.
//!
//! Needs HAProxy (scripts/test.sh installs it); skipped with a SKIP line without it. Runs
//! the release binaries whatever the test's own profile (see `release_bin_dir`).

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, corelb_bin};

/// Every scenario of a full `--quick` run, in the script's order.
const SCENARIOS: [&str; 8] = ["a-ecdsa", "a-rsa", "b", "c", "d", "e", "f", "g"];
/// The HTTP/2 scenario: corelb is "n/a" there until it negotiates h2.
const H2: &str = "g";
/// Scenarios that corelb must serve today (plain HTTP keep-alive, mode tcp bulk, mode tcp
/// short exchanges).
const MUST_RUN: [&str; 3] = ["c", "d", "f"];
/// Scenarios without an nginx configuration (seed 003's rules have no nginx equivalent).
const NO_NGINX: [&str; 1] = ["e"];
/// The environment variable that marks every process the script starts (children inherit it).
const MARK: &str = "CORELB_BENCH_COMPARE_TEST";
/// `--quick` takes about two minutes with three proxies; this is the hard stop.
const DEADLINE: Duration = Duration::from_secs(420);

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Release builds of corelb, corelb-bench and examples/tcpbulk: a benchmark of debug
/// binaries measures the debug build (a debug generator cannot even hold 50 RSA handshakes
/// per second here). Under `cargo test --release --workspace --all-targets`
/// (scripts/test.sh) they are this test's own, used as they are: building corelb again
/// from here would rebuild it with other features (no dev-dependencies) over the very file
/// the other tests run. A debug `cargo test` builds the release binaries first.
fn release_bin_dir() -> PathBuf {
    let dir = Path::new(corelb_bin()).parent().unwrap().to_path_buf();
    let cargo = |args: &[&str], target: &Path| {
        let st = Command::new(env!("CARGO"))
            .args(args)
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(st.success(), "cargo {args:?}");
    };
    let target = dir.parent().unwrap();
    if !corelb_bin().contains("/release/") {
        cargo(
            &[
                "build",
                "--release",
                "-q",
                "-p",
                "corelb",
                "-p",
                "corelb-bench",
            ],
            target,
        );
        cargo(
            &["build", "--release", "-q", "--example", "tcpbulk"],
            target,
        );
        return target.join("release");
    }
    if !dir.join("corelb-bench").exists() {
        cargo(&["build", "--release", "-q", "-p", "corelb-bench"], target);
    }
    if !dir.join("examples/tcpbulk").exists() {
        cargo(
            &["build", "--release", "-q", "--example", "tcpbulk"],
            target,
        );
    }
    dir
}

/// Processes that carry the mark in their environment or the scratch directory in their
/// command line: (pid, command line).
fn marked_processes(mark: &str, dir: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let environ = fs::read(e.path().join("environ")).unwrap_or_default();
        let marked = environ
            .split(|&b| b == 0)
            .any(|v| v == format!("{MARK}={mark}").as_bytes());
        if marked || cmdline.contains(dir) {
            out.push((pid, cmdline.trim_end().to_string()));
        }
    }
    out
}

fn jq(filter: &str, file: &Path) -> String {
    let out = Command::new("jq")
        .args(["-r", filter])
        .arg(file)
        .output()
        .expect("run jq (apt-get install jq)");
    assert!(
        out.status.success(),
        "jq '{filter}' {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn quick_comparison_with_haproxy() {
    if !have("haproxy") {
        eprintln!(
            "SKIP: haproxy is not installed (scripts/test.sh installs it: apt-get install haproxy)"
        );
        return;
    }
    let bins = release_bin_dir();
    let tmp = TempDir::new("bench-compare");
    let tmp_s = tmp.0.to_str().unwrap().to_string();
    let work = tmp.path("work");
    let (stdout_p, stderr_p) = (tmp.path("stdout.md"), tmp.path("stderr.log"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-compare.sh");

    let started = Instant::now();
    let mut child = Command::new(&script)
        .arg("--quick")
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--work")
        .arg(&work)
        .env(MARK, &tmp_s)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_p).unwrap())
        .stderr(fs::File::create(&stderr_p).unwrap())
        // Its own process group, so that a hung run can be stopped whole.
        .process_group(0)
        .spawn()
        .expect("start scripts/bench-compare.sh");
    let pgid = child.id() as i32;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > DEADLINE {
            common::signal_pid(-pgid, libc::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = started.elapsed();
    let stdout = fs::read_to_string(&stdout_p).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_p).unwrap_or_default();
    eprintln!(
        "bench-compare.sh --quick took {:.1} s\n{stdout}",
        took.as_secs_f64()
    );

    // Nothing it started may outlive it (the script waits for its processes when it ends;
    // a moment of grace for ones the kernel is still tearing down).
    let mut left = marked_processes(&tmp_s, &tmp_s);
    let grace = Instant::now();
    while !left.is_empty() && grace.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        left = marked_processes(&tmp_s, &tmp_s);
    }
    for (pid, _) in &left {
        common::signal_pid(*pid, libc::SIGKILL);
    }

    // The script's own complaints (which run failed, and why) wherever they are, then the
    // end of its progress: a CI failure once showed only the tail, without its cause.
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        let said: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("bench-compare:"))
            .collect();
        format!(
            "{}\n...\n{}",
            said.join("\n"),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    };
    let status = status.unwrap_or_else(|| {
        panic!("bench-compare.sh --quick still ran after {DEADLINE:?}; stderr:\n{tail}")
    });
    assert!(
        status.success(),
        "bench-compare.sh --quick: {status}; stderr:\n{tail}"
    );
    assert!(
        left.is_empty(),
        "processes started by bench-compare.sh are still running after it exited: {left:?}"
    );

    // The JSON parses and has every scenario, in order.
    let json = work.join("results.json");
    let ok = Command::new("jq")
        .args(["empty"])
        .arg(&json)
        .status()
        .expect("run jq");
    assert!(ok.success(), "{} is not valid JSON", json.display());
    let ids: Vec<String> = jq(".scenarios[].id", &json)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids, SCENARIOS, "scenarios in {}", json.display());

    // Per scenario: each proxy's status and its median CPU cost (µs per request; s per GiB
    // for the mode tcp bulk scenario d).
    let rows = jq(
        r#".scenarios[] | [.id,
            (.proxies.haproxy.status // "none"), (.results.haproxy.proxy_cost.median // "null"),
            (.proxies.corelb.status // "none"), (.results.corelb.proxy_cost.median // "null"),
            (.proxies.corelb.reason // ""),
            (.proxies.nginx.status // "none"), (.results.nginx.proxy_cost.median // "null")]
            | map(tostring) | @tsv"#,
        &json,
    );
    let cost = |id: &str, proxy: &str, v: &str| -> f64 {
        let c: f64 = v
            .parse()
            .unwrap_or_else(|_| panic!("({id}) {proxy}: no CPU cost in the JSON ({v})"));
        assert!(c > 0.0, "({id}) {proxy}: CPU cost {c} is not above zero");
        c
    };
    for row in rows.lines() {
        let f: Vec<&str> = row.split('\t').collect();
        let [
            id,
            h_status,
            h_cost,
            c_status,
            c_cost,
            c_reason,
            n_status,
            n_cost,
        ] = f[..]
        else {
            panic!("unexpected row {row:?}");
        };
        assert_eq!(h_status, "ran", "({id}) HAProxy must run every scenario");
        let h = cost(id, "HAProxy", h_cost);
        if NO_NGINX.contains(&id) {
            assert_eq!(
                n_status, "skipped",
                "({id}) nginx has no configuration for it"
            );
        } else {
            assert_eq!(n_status, "ran", "({id}) nginx must run it");
            // nginx's CPU is its workers': a zero here means they were not counted.
            cost(id, "nginx", n_cost);
        }
        match c_status {
            "ran" => {
                let c = cost(id, "corelb", c_cost);
                eprintln!("({id}) corelb {c:.3} / HAProxy {h:.3} = {:.2}", c / h);
            }
            "unsupported" if !MUST_RUN.contains(&id) => {
                assert!(!c_reason.is_empty(), "({id}) unsupported without a reason");
                eprintln!("({id}) corelb: not supported yet: {c_reason}");
            }
            "n/a" if id == H2 => {
                assert_eq!(c_reason, "no h2 negotiated");
                eprintln!("({id}) corelb: n/a ({c_reason})");
            }
            other => panic!("({id}) corelb: status {other:?} ({c_reason})"),
        }
    }

    // The Markdown table has a row per scenario and proxy, and says "not supported yet"
    // where corelb did not run.
    let table: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| (")).collect();
    for id in SCENARIOS {
        for proxy in ["HAProxy", "nginx", "corelb"] {
            let row = table
                .iter()
                .find(|l| {
                    l.starts_with(&format!("| ({id}) ")) && l.contains(&format!(" | {proxy} | "))
                })
                .unwrap_or_else(|| panic!("no table row for ({id}) {proxy} in:\n{stdout}"));
            let corelb_status = rows
                .lines()
                .find(|r| r.starts_with(&format!("{id}\t")))
                .and_then(|r| r.split('\t').nth(3));
            if proxy == "corelb" && corelb_status == Some("unsupported") {
                assert!(row.contains("not supported yet"), "{row}");
            } else if proxy == "corelb" && corelb_status == Some("n/a") {
                assert!(row.contains("| n/a (no h2 negotiated) |"), "{row}");
            } else if proxy == "nginx" && NO_NGINX.contains(&id) {
                assert!(row.contains("not measured"), "{row}");
            } else {
                for bad in ["not supported yet", "**failed**", "**no result**"] {
                    assert!(!row.contains(bad), "({id}) {proxy}: {row}");
                }
            }
        }
    }

    // (g) is HTTP/2 end to end: its configurations offer h2, and every response of every run
    // (closed loop, probes, measured) came over HTTP/2.
    let rendered = jq(
        &format!(r#".scenarios[] | select(.id == "{H2}") | .rendered"#),
        &json,
    );
    let cfg = fs::read_to_string(rendered.trim()).unwrap();
    assert!(cfg.contains(" alpn h2,http/1.1"), "{cfg}");
    let nginx = fs::read_to_string(work.join(format!("{H2}.nginx.conf"))).unwrap();
    assert!(
        nginx.contains(" ssl http2;") || nginx.contains("http2 on;"),
        "{nginx}"
    );
    let runs = jq(
        &format!(
            r#"select(.scenario == "{H2}" and .error == null)
               | [.proxy, .kind, .report.requests, (.report.protocols["HTTP/2.0"] // 0)]
               | map(tostring) | @tsv"#
        ),
        &work.join("runs.jsonl"),
    );
    assert!(!runs.is_empty(), "no ({H2}) runs");
    for run in runs.lines() {
        let f: Vec<&str> = run.split('\t').collect();
        assert_eq!(f[2], f[3], "({H2}) {run}: not every response over HTTP/2");
    }
}
