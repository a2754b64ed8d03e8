//! The systemd units (checked by systemd-analyze) and scripts/ec2-user-data.sh run end to
//! end into a scratch root, from a release tarball made of this tree, with fake
//! /proc/sys, /proc and /sys trees and a recording stand-in for systemctl.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

fn have_tool(tool: &str, package: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let msg = format!("{tool} is missing: apt-get install {package}");
        if in_ci() {
            panic!("{msg}");
        }
        eprintln!("SKIP: {msg}");
    }
    ok
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = repo().join("target").join("test-tmp").join(format!(
            "{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// systemd-analyze verify on the units, with the install paths pointed at this tree and
/// at the corelb binary cargo built. Any warning (unknown key, wrong section) fails.
#[test]
fn systemd_units_verify_clean() {
    if !have_tool("systemd-analyze", "systemd") {
        return;
    }
    let t = TempDir::new("units");
    for unit in ["corelb.service", "corelb-tuning.service"] {
        let text = read(&repo().join("tuning/systemd").join(unit))
            .replace("/usr/local/bin/corelb", env!("CARGO_BIN_EXE_corelb"))
            .replace(
                "/usr/local/share/corelb/tuning",
                repo().join("tuning").to_str().unwrap(),
            );
        write(&t.0.join(unit), &text);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(t.0.join("corelb.service"))
        .arg(t.0.join("corelb-tuning.service"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify:\n{err}"
    );

    // What the issue asks of the unit, present and not commented out.
    let unit = read(&repo().join("tuning/systemd/corelb.service"));
    let active: Vec<&str> = unit
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    for key in [
        "LimitNOFILE=1048576",
        "LimitMEMLOCK=infinity",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ExecStartPre=/usr/local/bin/corelb -c -f ${CORELB_CONFIG}",
        "Restart=on-failure",
        // Reload: check, then SIGUSR2 (a new generation in the same process).
        "ExecReload=/usr/local/bin/corelb -c -f ${CORELB_CONFIG}",
        "ExecReload=/bin/kill -USR2 $MAINPID",
    ] {
        assert!(active.contains(&key), "corelb.service lacks {key}");
    }

    // A broken unit is caught: the check above can fail.
    write(
        &t.0.join("broken.service"),
        "[Service]\nExecStart=/bin/true\nLimitNOFILES=1\n",
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(t.0.join("broken.service"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
}

fn fake_host(root: &Path) {
    // /proc/sys with a stock kernel's values for the profile's keys
    for (k, v) in [
        ("net/core/somaxconn", "4096"),
        ("net/ipv4/tcp_max_syn_backlog", "2048"),
        ("net/core/netdev_max_backlog", "1000"),
        ("net/ipv4/tcp_migrate_req", "0"),
        ("net/ipv4/ip_nonlocal_bind", "0"),
        ("net/ipv4/ip_local_port_range", "32768\t60999"),
        ("net/ipv4/tcp_tw_reuse", "2"),
        ("net/ipv4/tcp_fin_timeout", "60"),
        ("net/ipv4/tcp_slow_start_after_idle", "1"),
        ("net/core/rmem_max", "212992"),
        ("net/core/wmem_max", "212992"),
        ("net/ipv4/tcp_rmem", "4096\t131072\t6291456"),
        ("net/ipv4/tcp_wmem", "4096\t16384\t4194304"),
        ("fs/nr_open", "1048576"),
        ("fs/file-max", "9223372036854775807"),
    ] {
        write(&root.join("sysctl").join(k), &format!("{v}\n"));
    }
    // 4 CPUs, ENA eth0 with 2 queues
    write(&root.join("sys/devices/system/cpu/online"), "0-3\n");
    let mut interrupts = String::from("           CPU0       CPU1       CPU2       CPU3\n");
    for (irq, name) in [
        (24, "ena-mgmnt@pci:0000:00:05.0"),
        (25, "eth0-Tx-Rx-0"),
        (26, "eth0-Tx-Rx-1"),
    ] {
        interrupts += &format!(" {irq}:  1  1  1  1  PCI-MSIX-0000:00:05.0 0-edge  {name}\n");
        write(
            &root.join(format!("proc/irq/{irq}/smp_affinity_list")),
            "0-3\n",
        );
    }
    write(&root.join("proc/interrupts"), &interrupts);
    for q in 0..2 {
        write(
            &root.join(format!("sys/class/net/eth0/queues/rx-{q}/rps_cpus")),
            "0\n",
        );
        write(
            &root.join(format!("sys/class/net/eth0/queues/tx-{q}/xps_cpus")),
            "0\n",
        );
    }
}

/// A release tarball as the user-data script expects it: corelb-VERSION/{bin,tuning,scripts/ha,docs}.
fn make_tarball(dir: &Path) -> PathBuf {
    let top = dir.join("stage/corelb-0.1.0");
    fs::create_dir_all(top.join("bin")).unwrap();
    fs::create_dir_all(top.join("scripts")).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_corelb"), top.join("bin/corelb")).unwrap();
    let cp = |from: &str, to: &Path| {
        let st = Command::new("cp")
            .arg("-R")
            .arg(repo().join(from))
            .arg(to)
            .status()
            .unwrap();
        assert!(st.success());
    };
    cp("tuning", &top);
    cp("scripts/ha", &top.join("scripts"));
    if repo().join("docs").exists() {
        cp("docs", &top);
    }
    let tarball = dir.join("corelb-0.1.0-x86_64.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.join("stage"))
        .arg("corelb-0.1.0")
        .status()
        .unwrap();
    assert!(st.success());
    tarball
}

fn user_data(t: &Path, tarball: &Path, sha: &str) -> std::process::Output {
    let calls = t.join("systemctl-calls");
    let systemctl = t.join("systemctl");
    write(
        &systemctl,
        &format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
    );
    Command::new("chmod")
        .args(["755", systemctl.to_str().unwrap()])
        .status()
        .unwrap();
    let out = Command::new("bash")
        .arg(repo().join("scripts/ec2-user-data.sh"))
        .env("CORELB_ROOT", t.join("root"))
        .env("CORELB_SKIP_PACKAGES", "1")
        .env("SYSTEMCTL", &systemctl)
        .env("CORELB_SYSCTL_ROOT", t.join("host/sysctl"))
        .env("CORELB_PROC_ROOT", t.join("host/proc"))
        .env("CORELB_SYSFS_ROOT", t.join("host/sys"))
        .env(
            "CORELB_TARBALL_URL",
            format!("file://{}", tarball.display()),
        )
        .env("CORELB_TARBALL_SHA256", sha)
        .env("CORELB_SERVERS", "10.0.1.10:8080 10.0.1.11:8080")
        .env("CORELB_NIC", "eth0")
        .output()
        .unwrap();
    eprintln!(
        "--- user-data stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn ec2_user_data_installs_tunes_configures_and_starts() {
    if !have_tool("curl", "curl") || !have_tool("sha256sum", "coreutils") {
        return;
    }
    let t = TempDir::new("userdata");
    fake_host(&t.0.join("host"));
    let tarball = make_tarball(&t.0);
    let sha = String::from_utf8(
        Command::new("sha256sum")
            .arg(&tarball)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sha = sha.split_whitespace().next().unwrap().to_string();

    let out = user_data(&t.0, &tarball, &sha);
    assert!(out.status.success());
    let root = t.0.join("root");
    assert!(root.join("usr/local/bin/corelb").exists());
    assert!(root.join("usr/local/share/corelb/tuning/apply.sh").exists());
    assert!(root.join("usr/local/lib/corelb/check-corelb.sh").exists());
    assert!(root.join("usr/local/lib/corelb/eip-takeover.sh").exists());
    assert!(root.join("etc/systemd/system/corelb.service").exists());
    assert!(
        root.join("etc/systemd/system/corelb-tuning.service")
            .exists()
    );
    let defaults = read(&root.join("etc/default/corelb"));
    assert!(
        defaults.contains("CORELB_CPUS=0-3\n") && defaults.contains("CORELB_NIC=eth0\n"),
        "{defaults}"
    );
    let cfg = read(&root.join("etc/corelb/corelb.cfg"));
    assert!(
        cfg.contains("    server app1 10.0.1.10:8080\n")
            && cfg.contains("    server app2 10.0.1.11:8080\n"),
        "{cfg}"
    );
    // Tuned: sysctl applied to the (fake) kernel and persisted, IRQs pinned.
    assert_eq!(
        read(&t.0.join("host/sysctl/net/core/somaxconn")).trim(),
        "65535"
    );
    assert!(
        read(&root.join("etc/sysctl.d/60-corelb-balancer.conf"))
            .contains("net.ipv4.tcp_migrate_req = 1")
    );
    assert_eq!(
        read(&t.0.join("host/proc/irq/25/smp_affinity_list")).trim(),
        "0"
    );
    assert_eq!(
        read(&t.0.join("host/proc/irq/26/smp_affinity_list")).trim(),
        "1"
    );
    assert_eq!(
        read(&t.0.join("systemctl-calls")),
        "daemon-reload\nenable --now corelb-tuning.service corelb.service\n"
    );

    // A tarball that is not the one expected: stop before installing anything.
    let t2 = TempDir::new("userdata-sha");
    fake_host(&t2.0.join("host"));
    let out = user_data(&t2.0, &tarball, &"0".repeat(64));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sha256 mismatch"));
    assert!(!t2.0.join("root/usr/local/bin/corelb").exists());
    assert!(!t2.0.join("systemctl-calls").exists());
}
