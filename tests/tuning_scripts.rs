//! tuning/apply.sh and tuning/irq-affinity.sh run against fake /proc/sys, /proc and /sys
//! trees: these tests never read or change the host's real settings.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under target/ that is removed when the test ends (also on failure).
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
    fn path(&self) -> &Path {
        &self.0
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

fn run(script: &str, args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(repo().join(script))
        .args(args)
        .output()
        .expect("bash must be installed");
    eprintln!(
        "$ {script} {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------
// apply.sh
// ---------------------------------------------------------------------------------------

/// The keys of tuning/sysctl/balancer.conf, with a typical stock kernel's values.
fn stock_sysctl() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("net/core/somaxconn", "4096"),
        ("net/ipv4/tcp_max_syn_backlog", "2048"),
        ("net/core/netdev_max_backlog", "1000"),
        ("net/ipv4/tcp_migrate_req", "0"),
        ("net/ipv4/ip_nonlocal_bind", "0"),
        ("net/ipv6/ip_nonlocal_bind", "0"),
        ("net/ipv4/ip_local_port_range", "32768\t60999"),
        ("net/ipv4/tcp_tw_reuse", "2"),
        ("net/ipv4/tcp_fin_timeout", "60"),
        ("net/ipv4/tcp_slow_start_after_idle", "1"),
        ("net/core/rmem_max", "212992"),
        // Already above the profile's floor: must be left alone.
        ("net/core/wmem_max", "33554432"),
        ("net/ipv4/tcp_rmem", "4096\t131072\t6291456"),
        ("net/ipv4/tcp_wmem", "4096\t16384\t4194304"),
        ("fs/nr_open", "1048576"),
        // 2^63-1, the 64-bit default: beyond a 32-bit compare, and above the floor.
        ("fs/file-max", "9223372036854775807"),
        ("kernel/io_uring_disabled", "2"),
    ])
}

fn fake_sysctl(root: &Path, values: &BTreeMap<&str, &str>) {
    for (k, v) in values {
        write(&root.join(k), &format!("{v}\n"));
    }
}

/// The line apply.sh printed for KEY.
fn line_for<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{out}"))
}

#[test]
fn apply_check_reports_drift_then_apply_reaches_every_target() {
    let t = TempDir::new("apply");
    let root = t.path().join("sys");
    let persist = t.path().join("sysctl.d");
    fake_sysctl(&root, &stock_sysctl());
    let rootarg = root.to_str().unwrap();

    let before = read(&root.join("net/core/somaxconn"));
    let o = run("tuning/apply.sh", &["--check", "--sysctl-root", rootarg]);
    assert_eq!(o.status.code(), Some(1), "--check must exit 1 on drift");
    let out = stdout(&o);
    assert!(line_for(&out, "net.core.somaxconn").contains("4096 -> 65535"));
    assert!(line_for(&out, "net.core.somaxconn").contains("DRIFT"));
    assert!(line_for(&out, "net.ipv4.ip_local_port_range").contains("32768 60999 -> 16384 65535"));
    assert!(
        line_for(&out, "net.core.wmem_max").ends_with("ok"),
        "a value above a floor is at target"
    );
    assert!(line_for(&out, "fs.file-max").ends_with("ok"));
    // Optional conntrack keys: not loaded here, reported as skipped, not drift.
    assert!(line_for(&out, "net.netfilter.nf_conntrack_max").contains("skip"));
    // One line per key of the profile (plus the summary).
    let profile = read(&repo().join("tuning/sysctl/balancer.conf"));
    let nkeys = profile
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("summary:")).count(),
        nkeys
    );
    assert_eq!(
        read(&root.join("net/core/somaxconn")),
        before,
        "--check must not write"
    );

    let o = run(
        "tuning/apply.sh",
        &[
            "--sysctl-root",
            rootarg,
            "--persist",
            "--persist-dir",
            persist.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let expect = [
        ("net/core/somaxconn", "65535"),
        ("net/ipv4/tcp_max_syn_backlog", "65535"),
        ("net/core/netdev_max_backlog", "16384"),
        ("net/ipv4/tcp_migrate_req", "1"),
        ("net/ipv4/ip_nonlocal_bind", "1"),
        ("net/ipv6/ip_nonlocal_bind", "1"),
        ("net/ipv4/ip_local_port_range", "16384 65535"),
        ("net/ipv4/tcp_tw_reuse", "1"),
        ("net/ipv4/tcp_fin_timeout", "15"),
        ("net/ipv4/tcp_slow_start_after_idle", "0"),
        ("net/core/rmem_max", "16777216"),
        ("net/core/wmem_max", "33554432"),
        ("net/ipv4/tcp_rmem", "4096\t131072\t16777216"),
        ("net/ipv4/tcp_wmem", "4096\t16384\t16777216"),
        ("fs/nr_open", "2097152"),
        ("fs/file-max", "9223372036854775807"),
        ("kernel/io_uring_disabled", "0"),
    ];
    for (k, v) in expect {
        let got = read(&root.join(k));
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(norm(&got), norm(v), "{k}");
    }
    assert!(line_for(&stdout(&o), "net.core.wmem_max").ends_with("ok"));

    let persisted = read(&persist.join("60-corelb-balancer.conf"));
    assert!(
        persisted.lines().any(|l| l == "net.core.somaxconn = 65535"),
        "{persisted}"
    );
    assert!(
        persisted
            .lines()
            .any(|l| l == "net.core.wmem_max = 33554432"),
        "floors persist the higher current value"
    );
    assert!(
        persisted
            .lines()
            .any(|l| l == "-net.netfilter.nf_conntrack_max = 1048576")
    );
    assert!(
        persisted
            .lines()
            .any(|l| l == "net.ipv4.tcp_migrate_req = 1")
    );

    let o = run("tuning/apply.sh", &["--check", "--sysctl-root", rootarg]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "after apply, --check must find no drift"
    );
}

#[test]
fn apply_says_when_the_kernel_lacks_a_key_and_goes_on() {
    let t = TempDir::new("apply-absent");
    let root = t.path().join("sys");
    let mut values = stock_sysctl();
    // A 5.10 kernel: no tcp_migrate_req. And conntrack loaded this time.
    values.remove("net/ipv4/tcp_migrate_req");
    values.insert("net/netfilter/nf_conntrack_max", "65536");
    values.insert("net/netfilter/nf_conntrack_buckets", "16384");
    values.insert(
        "net/netfilter/nf_conntrack_tcp_timeout_established",
        "432000",
    );
    values.insert("net/netfilter/nf_conntrack_tcp_timeout_time_wait", "120");
    fake_sysctl(&root, &values);
    let rootarg = root.to_str().unwrap();

    let o = run("tuning/apply.sh", &["--sysctl-root", rootarg]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an absent mandatory key is not success"
    );
    let out = stdout(&o);
    assert!(line_for(&out, "net.ipv4.tcp_migrate_req").contains("ABSENT"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tcp_migrate_req does not exist"));
    // ... and it went on with the keys after it.
    assert_eq!(read(&root.join("fs/nr_open")).trim(), "2097152");
    assert_eq!(
        read(&root.join("net/netfilter/nf_conntrack_max")).trim(),
        "1048576"
    );
    assert_eq!(
        read(&root.join("net/netfilter/nf_conntrack_tcp_timeout_established")).trim(),
        "3600"
    );
    assert!(
        !root.join("net/ipv4/tcp_migrate_req").exists(),
        "must not create keys"
    );

    let o = run("tuning/apply.sh", &["--check", "--sysctl-root", rootarg]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("1 absent"));
}

#[test]
fn apply_reports_a_value_the_kernel_would_not_take() {
    let t = TempDir::new("apply-fail");
    let root = t.path().join("sys");
    fake_sysctl(&root, &stock_sysctl());
    // A key that cannot be written: a directory where the file should be.
    fs::remove_file(root.join("net/ipv4/tcp_fin_timeout")).unwrap();
    fs::create_dir_all(root.join("net/ipv4/tcp_fin_timeout")).unwrap();
    let o = run(
        "tuning/apply.sh",
        &["--sysctl-root", root.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(line_for(&stdout(&o), "net.ipv4.tcp_fin_timeout").contains("FAILED"));
    assert_eq!(read(&root.join("net/core/somaxconn")).trim(), "65535");
}

#[test]
fn apply_rejects_unknown_profile_and_bad_lines() {
    let o = run(
        "tuning/apply.sh",
        &["--check", "--profile", "no-such-profile"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("balancer"),
        "lists known profiles"
    );

    let t = TempDir::new("apply-bad");
    let prof = t.path().join("bad.conf");
    write(&prof, "net.core.somaxconn 65535\n");
    write(&t.path().join("sys/net/core/somaxconn"), "4096\n");
    let o = run(
        "tuning/apply.sh",
        &[
            "--check",
            "--profile",
            prof.to_str().unwrap(),
            "--sysctl-root",
            t.path().join("sys").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.conf:1"));
}

// ---------------------------------------------------------------------------------------
// irq-affinity.sh
// ---------------------------------------------------------------------------------------

/// A host with `ncpu` CPUs and an ENA eth0 with `nq` Tx-Rx queues: IRQ 26 is the
/// management vector, 27.. the queues (the layout of a c5n/c6in instance).
fn fake_ena(root: &Path, ncpu: usize, nq: usize, queue_name: &dyn Fn(usize) -> String) {
    let proc = root.join("proc");
    let sys = root.join("sys");
    write(
        &sys.join("devices/system/cpu/online"),
        &format!("0-{}\n", ncpu - 1),
    );
    let mut interrupts = String::from("      ");
    for c in 0..ncpu {
        interrupts += &format!("     CPU{c:<5}");
    }
    interrupts += "\n";
    let counts = |n: u64| (0..ncpu).map(|_| format!("{n:>10} ")).collect::<String>();
    let mut add = |irq: usize, name: &str| {
        interrupts += &format!(
            " {irq}: {} PCI-MSIX-0000:00:05.0 {}-edge      {name}\n",
            counts(3),
            irq - 26
        );
        write(
            &proc.join(format!("irq/{irq}/smp_affinity_list")),
            &format!("0-{}\n", ncpu - 1),
        );
        write(
            &sys.join(format!("class/net/eth0/device/msi_irqs/{irq}")),
            "msix\n",
        );
    };
    add(26, "ena-mgmnt@pci:0000:00:05.0");
    for q in 0..nq {
        add(27 + q, &queue_name(q));
    }
    // An unrelated device that must not be touched.
    interrupts += &format!(
        " 99: {} PCI-MSIX-0000:00:04.0 0-edge      nvme0q1\n",
        counts(1)
    );
    write(&proc.join("irq/99/smp_affinity_list"), "0\n");
    write(&proc.join("interrupts"), &interrupts);
    for q in 0..nq {
        write(
            &sys.join(format!("class/net/eth0/queues/rx-{q}/rps_cpus")),
            "0000\n",
        );
        write(
            &sys.join(format!("class/net/eth0/queues/tx-{q}/xps_cpus")),
            "0000\n",
        );
    }
}

fn ena_names(q: usize) -> String {
    format!("eth0-Tx-Rx-{q}")
}

fn irq_args<'a>(root: &'a Path, extra: &[&'a str]) -> Vec<String> {
    let mut v = vec![
        "--proc-root".to_string(),
        root.join("proc").to_str().unwrap().to_string(),
        "--sysfs-root".to_string(),
        root.join("sys").to_str().unwrap().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn run_irq(root: &Path, extra: &[&str]) -> Output {
    let args = irq_args(root, extra);
    run(
        "tuning/irq-affinity.sh",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

fn affinity(root: &Path, irq: usize) -> String {
    read(&root.join(format!("proc/irq/{irq}/smp_affinity_list")))
        .trim()
        .to_string()
}
fn rps(root: &Path, q: usize) -> String {
    read(&root.join(format!("sys/class/net/eth0/queues/rx-{q}/rps_cpus")))
        .trim()
        .to_string()
}
fn xps(root: &Path, q: usize) -> String {
    read(&root.join(format!("sys/class/net/eth0/queues/tx-{q}/xps_cpus")))
        .trim()
        .to_string()
}

#[test]
fn irq_ena_8_queues_16_cpus_shards_on_0_7() {
    let t = TempDir::new("irq8");
    fake_ena(t.path(), 16, 8, &ena_names);
    let o = run_irq(t.path(), &["--cpus", "0-7", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    for q in 0..8 {
        assert_eq!(affinity(t.path(), 27 + q), q.to_string(), "queue {q}");
        assert_eq!(rps(t.path(), q), format!("{:x}", 1 << q), "rps rx-{q}");
        assert_eq!(xps(t.path(), q), format!("{:x}", 1 << q), "xps tx-{q}");
    }
    assert_eq!(
        affinity(t.path(), 26),
        "0-15",
        "the management IRQ is not a queue"
    );
    assert_eq!(affinity(t.path(), 99), "0", "other devices are not touched");
    assert!(stdout(&o).contains("irqbalance: not running"));
}

#[test]
fn irq_ena_8_queues_on_all_16_cpus_spreads_rps_over_the_cpus_of_each_queue() {
    let t = TempDir::new("irq16");
    fake_ena(t.path(), 16, 8, &ena_names);
    let o = run_irq(t.path(), &["--cpus", "0-15", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    for q in 0..8 {
        // Interrupt on the q-th CPU; CPU q and q+8 share queue q.
        assert_eq!(affinity(t.path(), 27 + q), q.to_string());
        let mask = format!("{:x}", (1 << q) | (1 << (q + 8)));
        assert_eq!(rps(t.path(), q), mask, "rps rx-{q}");
        assert_eq!(xps(t.path(), q), mask, "xps tx-{q}");
    }
}

#[test]
fn irq_more_queues_than_cpus_wraps_around_a_sparse_list() {
    let t = TempDir::new("irqwrap");
    fake_ena(t.path(), 16, 8, &ena_names);
    let o = run_irq(t.path(), &["--cpus", "0,2,4,6", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    let cpus = [0, 2, 4, 6];
    for q in 0..8 {
        let c = cpus[q % 4];
        assert_eq!(affinity(t.path(), 27 + q), c.to_string(), "queue {q}");
        assert_eq!(rps(t.path(), q), format!("{:x}", 1 << c));
        assert_eq!(xps(t.path(), q), format!("{:x}", 1 << c));
    }
}

#[test]
fn irq_dry_run_prints_every_write_and_writes_nothing() {
    let t = TempDir::new("irqdry");
    fake_ena(t.path(), 16, 8, &ena_names);
    let o = run_irq(t.path(), &["--dry-run", "--cpus", "8-15", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let writes: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("would write "))
        .collect();
    assert_eq!(writes.len(), 8 * 3, "8 IRQs + 8 rps + 8 xps:\n{out}");
    let proc = t.path().join("proc");
    assert!(
        writes.contains(
            &format!(
                "would write {}/irq/27/smp_affinity_list = 8",
                proc.display()
            )
            .as_str()
        )
    );
    assert!(out.contains("queues/rx-7/rps_cpus = 8000"));
    for q in 0..8 {
        assert_eq!(
            affinity(t.path(), 27 + q),
            "0-15",
            "dry run wrote irq {}",
            27 + q
        );
        assert_eq!(rps(t.path(), q), "0000");
    }
}

#[test]
fn irq_names_of_other_drivers_and_msi_fallback() {
    // Intel-style separate rx/tx vectors.
    let t = TempDir::new("irqigb");
    fake_ena(t.path(), 4, 4, &|q| {
        if q < 2 {
            format!("eth0-rx-{q}")
        } else {
            format!("eth0-tx-{}", q - 2)
        }
    });
    let o = run_irq(t.path(), &["--cpus", "2-3", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(affinity(t.path(), 27), "2"); // rx-0
    assert_eq!(affinity(t.path(), 28), "3"); // rx-1
    assert_eq!(affinity(t.path(), 29), "2"); // tx-0
    assert_eq!(affinity(t.path(), 30), "3"); // tx-1

    // mlx5 names its vectors after the PCI address: found through msi_irqs.
    let t = TempDir::new("irqmlx");
    fake_ena(t.path(), 8, 4, &|q| {
        format!("mlx5_comp{q}@pci:0000:00:05.0")
    });
    let o = run_irq(t.path(), &["--cpus", "4-7", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    for q in 0..4 {
        assert_eq!(affinity(t.path(), 27 + q), (4 + q).to_string());
    }
    assert_eq!(affinity(t.path(), 26), "0-7", "management vector skipped");
}

#[test]
fn irq_masks_beyond_32_cpus_use_the_kernel_word_format() {
    let t = TempDir::new("irq64");
    fake_ena(t.path(), 64, 2, &ena_names);
    let o = run_irq(t.path(), &["--cpus", "33,40", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(affinity(t.path(), 27), "33");
    assert_eq!(rps(t.path(), 0), "2,00000000");
    assert_eq!(rps(t.path(), 1), "100,00000000");
}

#[test]
fn irq_irqbalance_is_told_to_keep_off() {
    let t = TempDir::new("irqbal");
    fake_ena(t.path(), 8, 2, &ena_names);
    write(&t.path().join("proc/4242/comm"), "irqbalance\n");
    let o = run_irq(t.path(), &["--cpus", "0-1", "eth0"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("irqbalance is running"), "{out}");
    assert!(
        out.contains("IRQBALANCE_ARGS=\"--banirq=27 --banirq=28\""),
        "{out}"
    );

    let conf = t.path().join("default-irqbalance");
    write(
        &conf,
        "#IRQBALANCE_ONESHOT=\nIRQBALANCE_ARGS=\"--policyscript=/x --banirq=5\"\n",
    );
    let o = run_irq(
        t.path(),
        &[
            "--cpus",
            "0-1",
            "--irqbalance-conf",
            conf.to_str().unwrap(),
            "eth0",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        read(&conf),
        "#IRQBALANCE_ONESHOT=\nIRQBALANCE_ARGS=\"--policyscript=/x --banirq=27 --banirq=28\"\n"
    );
    assert!(stdout(&o).contains("restart it"));
}

#[test]
fn irq_refuses_bad_input() {
    let t = TempDir::new("irqbad");
    fake_ena(t.path(), 8, 2, &ena_names);
    let cases: [&[&str]; 5] = [
        &["--cpus", "0-15", "eth0"], // CPUs 8-15 are not online on an 8-CPU host
        &["--cpus", "0-1", "eth9"],  // no such device
        &["--cpus", "1,1", "eth0"],  // a CPU twice
        &["--cpus", "a-b", "eth0"],
        &["eth0"], // --cpus is required
    ];
    for args in cases {
        let o = run_irq(t.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(affinity(t.path(), 27), "0-7", "nothing written on error");
}
