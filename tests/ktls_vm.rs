//! corelb's kTLS path on a kernel that has it: `scripts/ktls-vm-test.sh --corelb` boots
//! Debian's kernel (CONFIG_TLS=m) in QEMU with corelb and corelb-bench in an initramfs and
//! runs TLS 1.2 and 1.3 traffic through spliced `mode tcp` and `mode http` frontends, both
//! directions (see scripts/ktls-vm-corelb.sh for the checks).
//!
//! Where the VM cannot run (no QEMU, busybox-static, cpio, openssl or kernel package), the
//! script prints `SKIP: …` and this test passes after printing that line, unless
//! `KTLS_VM_REQUIRED=1`, which makes the script (and so this test) fail instead.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[test]
fn corelb_ktls_in_a_vm() {
    let corelb = Path::new(common::corelb_bin());
    // Makes sure corelb-bench is next to corelb (it is built by the workspace build).
    let bench = common::bench_bin();
    assert_eq!(bench.parent(), corelb.parent());
    let bins = corelb.parent().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ktls-vm-test.sh");
    let start = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .arg("--corelb")
        .arg("--corelb-bins")
        .arg(bins)
        .arg("--timeout")
        .arg("300")
        .output()
        .expect("run scripts/ktls-vm-test.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success()
        && let Some(skip) = stdout.lines().find(|l| l.starts_with("SKIP:"))
    {
        // Visible with --nocapture, and in the output of a failing run otherwise.
        println!("{skip}");
        eprintln!("{skip}");
        return;
    }
    assert!(
        out.status.success(),
        "scripts/ktls-vm-test.sh --corelb failed ({}) after {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status,
        start.elapsed()
    );
    assert!(
        stdout.contains("KTLS-CORELB: all checks passed"),
        "the VM run passed without corelb's checks:\n{stdout}"
    );
    println!("{stdout}");
}
