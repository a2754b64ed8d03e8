//! scripts/check-layers.sh: the edges between corelb's top-level modules point down the layer
//! order the script declares, and the check fails on a tree where they do not.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(src: &Path) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/check-layers.sh"))
        .arg(src)
        .output()
        .expect("run scripts/check-layers.sh")
}

/// A scratch source tree, removed when dropped.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str, files: &[(&str, &str)]) -> Tree {
        let dir = std::env::temp_dir().join(format!("corelb-layers-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn an_upward_edge_a_sideways_edge_and_a_cycle_fail_with_their_lines() {
    let t = Tree::new(
        "bad",
        &[
            (
                "lib.rs",
                "pub mod sys;\npub mod config;\npub mod proxy;\npub mod health;\n",
            ),
            // sys (the bottom layer) reaching up to config, inside test code.
            (
                "sys/mod.rs",
                "//! The bottom.\n\n#[cfg(test)]\nmod tests {\n    use crate::config::Config;\n}\n",
            ),
            ("config/mod.rs", "pub struct Config;\n"),
            // proxy and health share a layer: each using the other is sideways and a cycle.
            // The grouped import spans lines; comments and strings name no module.
            (
                "proxy/mod.rs",
                "// use crate::runtime::Nothing;\nconst S: &str = \"crate::runtime::x\";\nuse crate::{\n    config::Config,\n    health::Probe,\n};\n",
            ),
            ("health/mod.rs", "pub mod prober;\npub struct Probe;\n"),
            (
                "health/prober.rs",
                "mod inner {\n    fn f() {\n        let _ = super::super::super::proxy::S;\n    }\n}\n",
            ),
        ],
    );
    let out = check(&t.0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("sys -> config: 1, sys/mod.rs:5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("proxy -> config: 1, proxy/mod.rs:4"),
        "{stdout}"
    );
    assert!(
        stdout.contains("proxy -> health: 1, proxy/mod.rs:5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("health -> proxy: 1, health/prober.rs:3"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("runtime"),
        "comments and strings count: {stdout}"
    );
    assert!(
        stderr.contains("sys -> config points up") && stderr.contains("    sys/mod.rs:5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("proxy -> health points sideways") && stderr.contains("closes a cycle"),
        "{stderr}"
    );
    assert!(stderr.contains("    health/prober.rs:3"), "{stderr}");
    assert!(
        !stderr.contains("proxy -> config"),
        "a downward edge reported: {stderr}"
    );
}

#[test]
fn a_cycle_between_modules_without_a_layer_and_the_missing_layer_fail() {
    let t = Tree::new(
        "cycle",
        &[
            ("lib.rs", "pub mod alpha;\npub mod beta;\n"),
            ("alpha/mod.rs", "pub use crate::beta::B;\npub struct A;\n"),
            ("beta/mod.rs", "pub struct B(crate::alpha::A);\n"),
        ],
    );
    let out = check(&t.0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("module alpha has no layer"), "{stderr}");
    assert!(
        stderr.contains("alpha -> beta closes a cycle (alpha -> beta -> alpha)")
            && stderr.contains("    alpha/mod.rs:1"),
        "{stderr}"
    );
}

#[test]
fn a_tree_that_keeps_the_layers_passes() {
    let t = Tree::new(
        "good",
        &[
            ("lib.rs", "pub mod sys;\npub mod net;\npub mod runtime;\n"),
            ("sys/mod.rs", "pub fn f() {}\n"),
            ("net/mod.rs", "pub fn g() { crate::sys::f() }\n"),
            ("runtime/mod.rs", "use crate::{net, sys::f};\n"),
        ],
    );
    let out = check(&t.0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("runtime -> net: 1, runtime/mod.rs:1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runtime -> sys: 1, runtime/mod.rs:1"),
        "{stdout}"
    );
}

#[test]
fn the_source_tree_keeps_its_layers() {
    let out = check(&repo().join("src"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The edge list, for `cargo test -- --nocapture`.
    println!("{stdout}");
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("runtime -> proxy"),
        "no edges derived: {stdout}"
    );
}
