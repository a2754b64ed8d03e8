//! Helpers for the integration tests: run the real binary, kill what we start.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_corelb-bench");

pub fn bench() -> Command {
    Command::new(BIN)
}

/// A child process killed (and reaped) when the guard goes away, even if the test panics.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a free loopback port and waits for its "listening" line.
pub fn serve(extra: &[&str]) -> (Proc, u16) {
    let mut child = bench()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("piped");
    let proc = Proc(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read serve's first line");
    let port = line
        .rsplit_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in serve's output: {line:?}"));
    (proc, port)
}

/// A self-signed end-entity certificate for `localhost` in `dir`: (cert.pem, key.pem).
pub fn certificate(dir: &Path) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    )
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "corelb-bench-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for a child with a deadline; on timeout kills it and fails the test.
pub fn wait_output(child: Child, limit: Duration) -> Output {
    let mut proc = Proc(child);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(_status) = proc.0.try_wait().unwrap() {
            break;
        }
        if Instant::now() > deadline {
            panic!("process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = proc.0.wait().unwrap();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut o) = proc.0.stdout.take() {
        o.read_to_end(&mut stdout).unwrap();
    }
    if let Some(mut e) = proc.0.stderr.take() {
        e.read_to_end(&mut stderr).unwrap();
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `attack` with `targets` on stdin, results into `out`; returns its output.
pub fn attack(targets: &str, args: &[&str], out: &Path) -> Output {
    let mut child = bench()
        .arg("attack")
        .args(args)
        .arg("--output")
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start attack");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(targets.as_bytes())
        .unwrap();
    // Results files are small; the output pipes never fill.
    let output = wait_output(child, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "attack failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `report --type json FILE`, parsed.
pub fn report_json(results: &Path) -> serde_json::Value {
    let out = bench()
        .args(["report", "--type", "json"])
        .arg(results)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report's JSON")
}

/// `attack` then `report --type json`.
pub fn attack_json(targets: &str, args: &[&str]) -> serde_json::Value {
    let dir = temp_dir("attack");
    let results = dir.join("results.bin");
    attack(targets, args, &results);
    let json = report_json(&results);
    let _ = std::fs::remove_dir_all(&dir);
    json
}
