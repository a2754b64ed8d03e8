//! Conditional blocks (`.if`/`.elif`/`.else`/`.endif`), the `.diag/.notice/.warning/.alert`
//! directives, `-cc EXPR` and `-L NAME`, checked through `corelb -c` as an operator runs it,
//! and `-cc` compared with Debian's HAProxy when it is installed.

mod common;
use common::*;
use std::process::Command;

const BASE: &str =
    "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n";

/// `corelb ARGS -c -f FILE` with `env`: (exit code, stderr).
fn check(body: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = TempDir::new("cond");
    let path = dir.write("c.cfg", &format!("{BASE}{body}"));
    let mut cmd = Command::new(corelb_bin());
    cmd.args(args).arg("-c").arg("-f").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "F");
    (
        out.status.code().unwrap_or(-1),
        err,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const LISTEN: &str = "listen l\n  bind 127.0.0.1:1\n  server s 127.0.0.1:2\n";

/// A line that is only valid when its block is dropped.
const BAD: &str = "  no-such-keyword\n";

/// Each predicate selects or drops a block that would otherwise fail the check.
#[test]
fn each_predicate_selects_its_block() {
    let env = [("CORELB_T_SET", "abc")];
    for (expr, truth) in [
        ("1", true),
        ("0", false),
        ("0x10", true),
        ("defined(CORELB_T_SET)", true),
        ("defined(CORELB_T_UNSET)", false),
        ("feature(OPENSSL)", true),
        ("feature(LUA)", false),
        ("streq(\"$CORELB_T_SET\",abc)", true),
        ("streq(abc,abd)", false),
        ("strneq(\"${CORELB_T_SET}\",abc)", false),
        ("strneq(a,b)", true),
        ("version_atleast(2.6)", true),
        ("version_atleast(2.7)", false),
        ("version_before(2.7)", true),
        ("version_before(2.6.12)", false),
        ("!defined(CORELB_T_UNSET) && (0 || streq(x,x))", true),
        ("defined(CORELB_T_UNSET) || !1", false),
    ] {
        // True: the taken block is the clean one; false: the .else is.
        let body = format!("{LISTEN}.if {expr}\n.else\n{BAD}.endif\n");
        let (code, err, _) = check(&body, &[], &env);
        assert_eq!(code == 0, truth, ".if {expr}:\n{err}");
        if !truth {
            assert!(
                err.contains("F:11: unknown keyword 'no-such-keyword'"),
                "{err}"
            );
        }
    }
}

#[test]
fn nested_blocks_and_elif() {
    let body = format!(
        "{LISTEN}.if 0\n{BAD}.if 1\n{BAD}.endif\n.elif 1\n.if 0\n{BAD}.else\n  maxconn 10\n.endif\n.else\n{BAD}.endif\n"
    );
    let (code, err, _) = check(&body, &[], &[]);
    assert_eq!(code, 0, "{err}");
    // The same with the taken branch broken: the error names its line.
    let body = format!("{LISTEN}.if 0\n.elif 1\n.if 1\n{BAD}.endif\n.endif\n");
    let (code, err, _) = check(&body, &[], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("F:12: unknown keyword 'no-such-keyword'"),
        "{err}"
    );
}

#[test]
fn unbalanced_blocks_name_file_and_line() {
    for (body, line, msg) in [
        (".endif\n", 9, "lone '.endif' with no matching '.if'"),
        (".else\n", 9, "lone '.else' with no matching '.if'"),
        (".elif 1\n", 9, "lone '.elif' with no matching '.if'"),
        (
            ".if 1\n.else\n.else\n.endif\n",
            11,
            "'.else' after '.else' is not permitted",
        ),
        (
            ".if 1\n.else\n.elif 0\n.endif\n",
            11,
            "'.elif' after '.else' is not permitted",
        ),
        ("\n.if 1\n  maxconn 5\n", 10, "non-terminated '.if' block"),
        (
            ".if foo(1)\n.endif\n",
            9,
            "unparsable conditional expression 'foo(1)' in '.if'",
        ),
        (".if streq(a)\n.endif\n", 9, "missing arguments (got 1/2)"),
        (".if 1 2\n.endif\n", 9, "unexpected character '2'"),
        (".bogus x\n", 9, "unknown directive '.bogus'"),
    ] {
        let (code, err, _) = check(&format!("{LISTEN}{body}"), &[], &[]);
        assert_eq!(code, 1, "{body}\n{err}");
        assert!(err.contains(&format!("F:{line}: {msg}")), "{body}:\n{err}");
    }
}

#[test]
fn directives() {
    let body =
        format!("{LISTEN}.warning \"check this\"\n.notice \"hello there\"\n.diag \"quiet\"\n");
    let (code, err, out) = check(&body, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("F:9: warning: 'check this'"), "{err}");
    assert!(err.contains("F:10: notice: 'hello there'"), "{err}");
    assert!(!err.contains("quiet"), "{err}");
    assert!(out.contains("valid (1 warning)"), "{out}");
    // .alert fails the check and stops reading the file; one in a dropped block does not.
    let body = format!(".if 0\n.alert \"no\"\n.endif\n{LISTEN}.alert \"too old\"\n{BAD}");
    let (code, err, _) = check(&body, &[], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("F:12: 'too old'"), "{err}");
    assert!(
        !err.contains("no-such-keyword") && !err.contains("'no'"),
        "{err}"
    );
    let (code, err, _) = check(&format!("{LISTEN}.warning two words\n"), &[], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("F:9: unexpected argument 'words' for '.warning'"),
        "{err}"
    );
}

#[test]
fn localpeer_is_exported() {
    let body = format!(
        "{LISTEN}.if !streq(\"$HAPROXY_LOCALPEER\",edge-1)\n.alert \"wrong peer\"\n.endif\n"
    );
    let (code, err, _) = check(&body, &["-L", "edge-1"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, err, _) = check(&body, &["-L", "edge-2"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("'wrong peer'"), "{err}");
}

fn cc(bin: &str, expr: &str) -> i32 {
    Command::new(bin)
        .args(["-cc", expr])
        .env("CORELB_T_SET", "1")
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

const CC_CASES: &[(&str, i32)] = &[
    ("1", 0),
    ("0", 1),
    ("", 1),
    ("-1", 0),
    ("0x10", 0),
    ("!1 || 0", 1),
    ("(1 && 0) || 1", 0),
    ("defined(CORELB_T_SET)", 0),
    ("defined(CORELB_T_UNSET)", 1),
    ("streq(a,a)", 0),
    ("streq(a, a)", 1),
    ("strneq(a,b)", 0),
    ("\"streq($CORELB_T_SET,1)\"", 0),
    ("feature(OPENSSL)", 0),
    ("feature(OPENS)", 1),
    ("feature(QUIC)", 1),
    ("version_atleast(2.6)", 0),
    ("version_atleast(2.6.13)", 1),
    ("version_before(2.7)", 0),
    ("version_atleast(2.6-dev1)", 0),
    ("version_atleast(x)", 0),
    ("foo", 2),
    ("streq(a)", 2),
    ("1 2", 2),
    ("1 &&", 2),
];

#[test]
fn check_condition_exit_codes() {
    for (e, want) in CC_CASES {
        assert_eq!(cc(corelb_bin(), e), *want, "-cc '{e}'");
    }
}

/// The same expressions through Debian's HAProxy (the version corelb's `version_*` compare
/// against) give the same exit codes.
#[test]
fn check_condition_matches_haproxy() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!("haproxy not installed: skipped");
        return;
    }
    for (e, want) in CC_CASES {
        assert_eq!(cc("haproxy", e), *want, "haproxy -cc '{e}'");
    }
}

/// Random expressions from the language's tokens (a fixed-seed LCG), through both: the same
/// exit code for each (0 true, 1 false, 2 error).
#[test]
fn generated_expressions_match_haproxy() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!("haproxy not installed: skipped");
        return;
    }
    const T: &[&str] = &[
        "1",
        "0",
        "!",
        "(",
        ")",
        "&&",
        "||",
        "defined(CORELB_T_SET)",
        "defined(NO)",
        "streq(a,a)",
        "strneq(a,a)",
        "version_before(2.7)",
        "0x1",
        "-0",
        "",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    let mut diffs = Vec::new();
    for _ in 0..150 {
        let n = next() % 6 + 1;
        let e: Vec<&str> = (0..n).map(|_| T[next() % T.len()]).collect();
        let e = e.join(" ");
        let (h, c) = (cc("haproxy", &e), cc(corelb_bin(), &e));
        if h != c {
            diffs.push(format!("'{e}': haproxy {h}, corelb {c}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// `resetenv [NAME...]` clears every variable but the named ones for the lines that follow;
/// `setenv`/`presetenv` after it see the cleared environment. The `.notice` lines say the
/// same as Debian's HAProxy's.
#[test]
fn resetenv_keeps_only_the_named_variables_like_haproxy() {
    let body = "global\n  setenv CORELB_T_A 1\n  resetenv CORELB_T_KEEP CORELB_T_A\n  presetenv CORELB_T_GONE x\n  .if defined(CORELB_T_KEEP)\n    .notice \"keep kept\"\n  .endif\n  .if defined(CORELB_T_DROP)\n    .notice \"drop kept\"\n  .endif\n  .notice \"a=${CORELB_T_A} gone=${CORELB_T_GONE} keep=${CORELB_T_KEEP}\"\n  resetenv\n  .if defined(CORELB_T_KEEP)\n    .notice \"still kept\"\n  .endif\n";
    let env = [
        ("CORELB_T_KEEP", "k"),
        ("CORELB_T_DROP", "d"),
        ("CORELB_T_GONE", "g"),
    ];
    let (_, err, out) = check(body, &[], &env);
    let all = format!("{err}{out}");
    let notices = |all: &str| -> Vec<String> {
        // HAProxy: `[NOTICE] … parsing [F:N]: 'msg'.`; corelb: `F:N: notice: 'msg'`.
        all.lines()
            .filter_map(|l| Some(l[l.find('\'')?..=l.rfind('\'')?].to_string()))
            .filter(|m| m.contains("kept") || m.starts_with("'a="))
            .collect()
    };
    let ours = notices(&all);
    assert_eq!(ours, ["'keep kept'", "'a=1 gone=x keep=k'"], "{all}");
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let dir = TempDir::new("cond");
        let path = dir.write("c.cfg", &format!("{BASE}{body}"));
        let mut cmd = Command::new("haproxy");
        cmd.arg("-c").arg("-f").arg(&path);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let h = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(notices(&h), ours, "{h}");
    }
}
