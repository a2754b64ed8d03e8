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
