//! The README's keyword table is what the parser actually does.

#[test]
fn readme_keyword_table_matches_the_parser() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let begin = readme.find("<!-- keywords:begin -->").unwrap() + "<!-- keywords:begin -->".len();
    let end = readme.find("<!-- keywords:end -->").unwrap();
    let table = corelb::config::keywords::markdown_table();
    assert_eq!(
        readme[begin..end].trim(),
        table.trim(),
        "README.md is out of date: regenerate the section with `corelb --list-keywords`"
    );
}

#[test]
fn readme_starts_with_the_two_commands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let first_block = readme.split("```sh").nth(1).unwrap();
    assert!(first_block.contains("scripts/demo.sh"));
    assert!(first_block.contains("scripts/test.sh"));
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(ci.contains("scripts/test.sh"));
}

/// The README's first command runs end to end (seed 003's configuration: TLS, the
/// redirect, the runtime API, the stats CSV and Prometheus metrics, a short load), on the
/// binaries the suite built. It was broken for several sessions (the example gained a
/// stats frontend whose port the demo never set) and nothing noticed.
#[test]
fn the_demo_runs_end_to_end() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_corelb"))
        .parent()
        .unwrap();
    assert!(
        bin.join("corelb-bench").exists(),
        "corelb-bench is built with the workspace"
    );
    let out = std::process::Command::new("bash")
        .arg("scripts/demo.sh")
        .arg("--bin-dir")
        .arg(bin)
        .args(["--rate", "200/1s", "--duration", "2s"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for want in [
        "Location: https://demo.corelb.test/hello",
        "X-Server: node1",
        "backend,node1,",
        "haproxy_backend_http_responses_total{proxy=\"backend\",code=\"2xx\"}",
        "Status Codes  [code:count]                            200:400",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}
