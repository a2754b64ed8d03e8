//! shellcheck over every shell script in the repository: *.sh files and files whose first
//! line is a sh/bash shebang, wherever they live (tracked by git or not yet).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn is_shell_script(p: &Path) -> bool {
    if p.extension().is_some_and(|e| e == "sh") {
        return true;
    }
    let Ok(bytes) = fs::read(p) else { return false };
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first);
    first.starts_with("#!")
        && ["/sh", "/bash", "env sh", "env bash"]
            .iter()
            .any(|s| first.trim_end().ends_with(s))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            // Build output and VCS data hold no scripts of ours; vendor/ holds third-party
            // code as published (glommio's bundled liburing has its own shell scripts).
            if !["target", ".git", "node_modules", "fuzz"].contains(&name.as_ref())
                && p != repo().join("vendor")
            {
                walk(&p, out);
            }
        } else if p.is_file() && is_shell_script(&p) {
            out.push(p);
        }
    }
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let have = Command::new("sh")
        .args(["-c", "command -v shellcheck"])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have {
        let msg = "shellcheck is missing: apt-get install shellcheck";
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{msg}");
        }
        eprintln!("SKIP: {msg}");
        return;
    }
    let mut scripts = Vec::new();
    walk(&repo(), &mut scripts);
    scripts.sort();
    // The scripts this test exists for must be found (guards against a walk that finds
    // nothing and passes).
    for must in [
        "tuning/apply.sh",
        "tuning/irq-affinity.sh",
        "scripts/ha/eip-takeover.sh",
        "scripts/ec2-user-data.sh",
    ] {
        assert!(
            scripts.contains(&repo().join(must)),
            "{must} not found among {scripts:?}"
        );
    }
    let out = Command::new("shellcheck")
        .args(["--format=gcc", "--external-sources"])
        .args(&scripts)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "shellcheck found problems in {} script(s):\n{report}{}",
        scripts.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("shellcheck: {} scripts clean", scripts.len());
}
