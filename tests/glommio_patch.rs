//! docs/patches/glommio-0.9.0-reactor.patch (the executor-loop patch that
//! scripts/build-patched-glommio.sh builds with) must keep applying to the glommio that
//! Cargo.lock pins: a glommio update that breaks it fails here, not in a benchmark.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_reactor_patch_applies_to_the_locked_glommio() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(repo.join("scripts/build-patched-glommio.sh"))
        .arg("--check")
        .output()
        .expect("bash runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("the patch applies to"), "{text}");
    assert!(text.contains("glommio-0.9.0"), "{text}");
}
