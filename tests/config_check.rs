//! `corelb -c -f FILE`: the seed configurations users run, and one broken configuration per
//! kind of mistake, each reported with its file and line.

mod common;
use common::*;
use std::path::PathBuf;

fn seeds() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seed-configs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    v.sort();
    assert!(v.len() >= 5);
    v
}

/// Errors allowed on the seeds: things missing on this machine, or keywords whose
/// behaviour is not built yet.
fn allowed_error(msg: &str) -> bool {
    msg.contains("is not supported yet")
        || msg.contains("cannot find user id")
        || msg.contains("cannot find group id")
        || msg.contains("chroot directory")
        || msg.contains("stats socket directory")
        || msg.contains("certificate")
        || msg.contains("errorfile")
}

#[test]
fn seed_configs_are_read_with_only_allowed_errors() {
    for path in seeds() {
        let (_code, _out, err) = check_config(&path);
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let nlines = text.lines().count() as u32;
        for line in err.lines() {
            if line.ends_with("configuration is not valid.") {
                continue;
            }
            // Every diagnostic names the file and a line inside it.
            let rest = line
                .strip_prefix(&format!("{name}:"))
                .unwrap_or_else(|| panic!("{name}: diagnostic without file:line: {line}"));
            let (ln, msg) = rest.split_once(": ").unwrap();
            let ln: u32 = ln
                .parse()
                .unwrap_or_else(|_| panic!("bad line number in {line}"));
            assert!(ln >= 1 && ln <= nlines, "{line}");
            if let Some(w) = msg.strip_prefix("warning: ") {
                assert!(!w.is_empty());
                continue;
            }
            assert!(allowed_error(msg), "{name}: unexpected error: {line}");
        }
    }
}

#[test]
fn seed_002_old_syntax_is_accepted() {
    for seed in [
        "002-ec2-acl-content-switching.cfg",
        "002-reader-comment.cfg",
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/seed-configs")
            .join(seed);
        let (_, _, err) = check_config(&path);
        assert!(
            err.contains("the address on the 'frontend' line is the old syntax"),
            "{err}"
        );
        assert!(!err.contains("unknown keyword"), "{err}");
        if seed == "002-reader-comment.cfg" {
            for old in ["contimeout", "clitimeout", "srvtimeout"] {
                assert!(
                    err.contains(&format!("warning: '{old}' is the old syntax")),
                    "{err}"
                );
            }
        }
    }
}

#[test]
fn seeds_ignored_keywords_are_warned_with_a_reason() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seed-configs");
    let (_, _, err) = check_config(&dir.join("000-aws-elb-hapee.cfg"));
    assert!(
        err.contains(":12: warning: 'module-path' is ignored: "),
        "{err}"
    );
    let (_, _, err) = check_config(&dir.join("003-ssl-offload-prometheus.cfg"));
    assert!(
        err.contains(":25: warning: 'tune.ssl.default-dh-param' is ignored: "),
        "{err}"
    );
    assert!(
        err.contains(":53: warning: 'option http-use-htx' is ignored: "),
        "{err}"
    );
}

const BASE: &str =
    "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n";

/// Checks `body` (appended to BASE) and expects exit 1 with `expect` on line `line`.
fn expect_error(body: &str, line: usize, expect: &str) {
    let dir = TempDir::new("cfg");
    let path = dir.write("bad.cfg", &format!("{BASE}{body}"));
    let (code, _, err) = check_config(&path);
    assert_eq!(code, 1, "expected failure for:\n{body}\n{err}");
    let prefix = format!("{}:{}: ", path.display(), line + 5);
    assert!(
        err.lines()
            .any(|l| l.starts_with(&prefix) && l.contains(expect)),
        "expected '{prefix}...{expect}...' in:\n{err}"
    );
}

#[test]
fn valid_config_exits_zero() {
    let dir = TempDir::new("cfg");
    let path = dir.write(
        "ok.cfg",
        &format!("{BASE}frontend f\n  bind 127.0.0.1:1\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n"),
    );
    let (code, out, err) = check_config(&path);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Configuration file is valid"), "{out}");
}

#[test]
fn node_and_proxy_id_are_accepted_without_warnings() {
    let dir = TempDir::new("cfg");
    let path = dir.write(
        "ok.cfg",
        &format!("global\n  node lb-1\n{BASE}frontend f\n  bind 127.0.0.1:1\n  id 7\n  default_backend b\nbackend b\n  id 8\n  server s 127.0.0.1:2\n"),
    );
    let (code, _, err) = check_config(&path);
    assert_eq!(code, 0, "{err}");
    // `node` is shown by the runtime API's `show info`, the proxy ids by the stats page
    // (iid): no warning.
    assert!(!err.contains("warning"), "{err}");
    // Still parsed: a bad value is an error.
    let bad = dir.write("bad.cfg", &format!("{BASE}backend b\n  id zero\n"));
    let (code, _, err) = check_config(&bad);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn unknown_keyword_suggests() {
    expect_error(
        "frontend f\n  bnd 127.0.0.1:1\n",
        2,
        "unknown keyword 'bnd' in 'frontend' section; did you mean 'bind'?",
    );
}

#[test]
fn unknown_keyword_far_from_anything() {
    expect_error(
        "backend b\n  frobnicate 1\n",
        2,
        "unknown keyword 'frobnicate'",
    );
}

#[test]
fn bad_time() {
    expect_error(
        "backend b\n  timeout server 5x\n",
        2,
        "unexpected character 'x'",
    );
}

#[test]
fn bad_number() {
    expect_error(
        "backend b\n  retries many\n",
        2,
        "'retries': 'many' is not a valid number",
    );
}

#[test]
fn bad_weight() {
    expect_error(
        "backend b\n  server s 127.0.0.1:1 weight 1x\n",
        2,
        "'weight'",
    );
}

#[test]
fn default_backend_missing() {
    expect_error(
        "frontend f\n  bind 127.0.0.1:1\n  default_backend nope\nbackend b\n",
        3,
        "backend 'nope' not found",
    );
}

#[test]
fn use_backend_missing() {
    expect_error(
        "frontend f\n  bind 127.0.0.1:1\n  use_backend bk\nbackend bb\n",
        3,
        "backend 'bk' not found (used by frontend 'f'); did you mean 'bb'?",
    );
}

#[test]
fn duplicate_proxy_name() {
    expect_error(
        "backend b\nbackend b\n",
        2,
        "backend 'b' has the same name as backend 'b' declared at",
    );
}

#[test]
fn listen_clashes_with_frontend() {
    expect_error(
        "frontend x\n  bind 127.0.0.1:1\n  default_backend x\nlisten x\n  bind 127.0.0.1:2\n",
        4,
        "has the same name as frontend 'x'",
    );
}

#[test]
fn duplicate_server_name() {
    expect_error(
        "backend b\n  server s1 127.0.0.1:1\n  server s1 127.0.0.1:2\n",
        3,
        "has two servers named 's1'",
    );
}

#[test]
fn server_without_address() {
    expect_error(
        "backend b\n  server s1\n",
        2,
        "'server' expects <name> and <addr>[:<port>]",
    );
}

#[test]
fn unknown_balance_algorithm() {
    expect_error(
        "backend b\n  balance fastest\n",
        2,
        "unknown balance algorithm 'fastest'",
    );
}

#[test]
fn unterminated_quote() {
    expect_error(
        "backend b\n  description \"never closed\n",
        2,
        "unmatched quote",
    );
}

#[test]
fn bind_without_port() {
    expect_error("frontend f\n  bind 127.0.0.1\n", 2, "missing port number");
}

/// Every keyword of the tables is built now; what is still missing inside one says so with
/// its line, never silently ignored.
#[test]
fn not_supported_yet_names_what_is_missing() {
    expect_error(
        "backend b\n  cookie SRV insert attr SameSite=Lax\n",
        2,
        "'cookie ... attr' is not supported yet",
    );
    expect_error(
        "backend b\n  source 127.0.0.1 usesrc hdr_ip(x-forwarded-for)\n",
        2,
        "'usesrc hdr_ip(x-forwarded-for)' is not supported yet",
    );
}

/// What corelb deliberately does not build says so, with its line: nobody waits for it.
#[test]
fn lua_spoe_and_device_detection_are_refused_by_design() {
    for (body, line, expect) in [
        (
            "global\n  lua-load /etc/haproxy/x.lua\n",
            2,
            "'lua-load' is not supported: corelb runs no Lua",
        ),
        (
            "global\n  51degrees-data-file /x.dat\n",
            2,
            "'51degrees-data-file' is not supported: corelb links no device-detection",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  http-request lua.auth\n",
            4,
            "'http-request lua.auth' is not supported: corelb runs no Lua",
        ),
        (
            "frontend f\n  bind 127.0.0.1:1\n  filter spoe engine ip-rep config /x.conf\n",
            3,
            "'filter spoe' is not supported: corelb runs no SPOE",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  http-request send-spoe-group e g\n",
            4,
            "'http-request send-spoe-group' is not supported: corelb runs no SPOE",
        ),
    ] {
        expect_error(body, line, expect);
    }
}

#[test]
fn every_error_is_printed_at_once() {
    let dir = TempDir::new("cfg");
    let path = dir.write(
        "bad.cfg",
        "backend b\n  balance nope\n  retries x\n  server s\n  timeout server 1y\n",
    );
    let (code, _, err) = check_config(&path);
    assert_eq!(code, 1);
    for line in 2..=5 {
        assert!(
            err.contains(&format!("{}:{line}: ", path.display())),
            "line {line} missing:\n{err}"
        );
    }
    assert!(err.contains("4 errors"), "{err}");
}

#[test]
fn environment_and_escapes() {
    let dir = TempDir::new("cfg");
    let path = dir.write(
        "env.cfg",
        &format!("{BASE}listen l\n  bind \"127.0.0.1:${{CORELB_TEST_PORT}}\"\n  description Haproxy\\ Statistics\n  server s \"${{CORELB_TEST_HOST}}:80\"\n"),
    );
    let out = std::process::Command::new(corelb_bin())
        .args(["-c", "-f"])
        .arg(&path)
        .env("CORELB_TEST_PORT", "8123")
        .env("CORELB_TEST_HOST", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_file() {
    let (code, _, err) = check_config(std::path::Path::new("/nonexistent/corelb.cfg"));
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/corelb.cfg: cannot read configuration file"),
        "{err}"
    );
}

/// `set-dumpable`: after the switch to `uid`, the process is still dumpable (the kernel
/// shows its /proc files as owned by that user instead of root) and its core size limit
/// was raised from 0; without it, neither. The same as Debian's HAProxy. (Needs root, to
/// switch users.)
#[test]
fn set_dumpable_keeps_core_dumps_after_the_user_switch_like_haproxy() {
    if !nix_is_root() {
        eprintln!("SKIP: not root");
        return;
    }
    let run = |prog: &str, dumpable: bool| -> (u32, String) {
        let dir = TempDir::new("dumpable");
        let port = free_port();
        let cfg = format!(
            "global\n  uid 65534\n  gid 65534\n{}defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:1\n",
            if dumpable { "  set-dumpable\n" } else { "" }
        );
        let path = dir.write("lb.cfg", &cfg);
        let extra = if prog == "haproxy" {
            "-db"
        } else {
            "--shards 1"
        };
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -S -c 0; exec {prog} {extra} -f {}",
                path.display()
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(std::time::Duration::from_secs(10), || {
            listening(port).then_some(())
        });
        assert!(up.is_some(), "{prog} did not start");
        let pid = child.id();
        use std::os::unix::fs::MetadataExt;
        // The listener may accept before the user switch and `set-dumpable` are done: with
        // it, wait (bounded) for the files to belong to the new user.
        let owner_now = || {
            std::fs::metadata(format!("/proc/{pid}/environ"))
                .unwrap()
                .uid()
        };
        let owner = if dumpable {
            eventually(std::time::Duration::from_secs(5), || {
                Some(owner_now()).filter(|&o| o != 0)
            })
            .unwrap_or_else(owner_now)
        } else {
            owner_now()
        };
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .and_then(|l| l.split_whitespace().nth(4))
            .unwrap_or("")
            .to_string();
        signal_pid(pid as i32, libc::SIGKILL);
        let _ = child.wait();
        (owner, core)
    };
    let ours = (run(corelb_bin(), true), run(corelb_bin(), false));
    assert_eq!(ours.0.0, 65534, "{ours:?}");
    assert_ne!(ours.0.1, "0", "{ours:?}");
    assert_eq!(ours.1, (0, "0".to_string()), "{ours:?}");
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok()
    {
        assert_eq!((run("haproxy", true), run("haproxy", false)), ours);
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `insecure-fork-wanted` is accepted with a warning that says why it changes nothing;
/// `no set-dumpable` undoes `set-dumpable`; both take no argument (HAProxy's error).
#[test]
fn insecure_fork_wanted_and_set_dumpable_are_checked() {
    let dir = TempDir::new("globals");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    expect_check(
        &dir,
        &format!("global\n  insecure-fork-wanted\n  set-dumpable\n  no set-dumpable\n{base}"),
        0,
        "c.cfg:2: warning: 'insecure-fork-wanted' is ignored: corelb never forbids starting processes",
    );
    expect_check(
        &dir,
        &format!("global\n  set-dumpable x\n{base}"),
        1,
        "c.cfg:2: 'set-dumpable' cannot handle unexpected argument 'x'.",
    );
    expect_check(
        &dir,
        &format!("global\n  no insecure-fork-wanted 1\n{base}"),
        1,
        "c.cfg:2: 'insecure-fork-wanted' cannot handle unexpected argument '1'.",
    );
}

/// `tune.ssl.lifetime` takes seconds or a time with a unit; anything else is HAProxy's error.
#[test]
fn tune_ssl_lifetime_is_checked() {
    let dir = TempDir::new("lifetime");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    expect_check(
        &dir,
        &format!("global\n  tune.ssl.lifetime 5m\n{base}"),
        0,
        "",
    );
    expect_check(
        &dir,
        &format!("global\n  tune.ssl.lifetime 1x\n{base}"),
        1,
        "c.cfg:2: unexpected character 'x' in argument to <tune.ssl.lifetime>.",
    );
    expect_check(
        &dir,
        &format!("global\n  tune.ssl.lifetime\n{base}"),
        1,
        "c.cfg:2: 'tune.ssl.lifetime' expects ssl sessions <lifetime> in seconds as argument.",
    );
}

/// `max-spread-checks` takes a delay (milliseconds or with a unit); HAProxy's errors.
#[test]
fn max_spread_checks_is_checked() {
    let dir = TempDir::new("spread");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    expect_check(
        &dir,
        &format!("global\n  max-spread-checks 5s\n{base}"),
        0,
        "",
    );
    expect_check(
        &dir,
        &format!("global\n  max-spread-checks -1\n{base}"),
        1,
        "c.cfg:2: unsupported character '-' in 'max-spread-checks' (wants an integer delay).",
    );
    expect_check(
        &dir,
        &format!("global\n  max-spread-checks\n{base}"),
        1,
        "c.cfg:2: 'max-spread-checks' expects an integer argument (0..50).",
    );
}

/// `h1-case-adjust` and `h1-case-adjust-file` errors, in HAProxy's words (its typo too).
#[test]
fn h1_case_adjust_errors_name_the_line() {
    expect_error(
        "global\n  h1-case-adjust x-foo\n",
        2,
        "'h1-case-adjust' expects <from> and <to> as argument.",
    );
    expect_error(
        "global\n  h1-case-adjust x-foo X-Bar\n",
        2,
        "<from> and <to> must not differ execpt the case",
    );
    expect_error(
        "global\n  h1-case-adjust x-foo X-Foo\n  h1-case-adjust x-foo X-FOO\n",
        3,
        "duplicate entry 'x-foo'",
    );
    expect_error(
        "global\n  h1-case-adjust-file /nonexistent/case.map\n",
        2,
        "h1-headers-case-adjust-file '/nonexistent/case.map': failed to open file.",
    );
    let dir = TempDir::new("case");
    let map = dir.write("case.map", "x-a X-A\n\nx-b\n");
    expect_error(
        &format!("global\n  h1-case-adjust-file {}\n", map.display()),
        2,
        "' : expect <to> at line 3.",
    );
}

/// `proxy-v2-options` takes HAProxy's option names only, with HAProxy's error otherwise;
/// `send-proxy-v2-ssl` and `send-proxy-v2-ssl-cn` are flags.
#[test]
fn proxy_v2_options_are_checked() {
    let dir = TempDir::new("ppopts");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    expect_check(
        &dir,
        &format!(
            "{base}backend b\n  server s1 127.0.0.1:80 send-proxy-v2-ssl-cn proxy-v2-options ssl,cert-cn,ssl-cipher,cert-sig,cert-key,authority,crc32c,unique-id\n  server s2 127.0.0.1:81 send-proxy-v2-ssl\n"
        ),
        0,
        "Configuration file is valid",
    );
    expect_check(
        &dir,
        &format!(
            "{base}backend b\n  server s1 127.0.0.1:80 send-proxy-v2 proxy-v2-options crc32c,bogus\n"
        ),
        1,
        "c.cfg:6: 'server s1': 'bogus' : proxy v2 option not implemented",
    );
}

/// `grace` in a proxy was removed in HAProxy 2.5: HAProxy 2.6's error; the global `grace`
/// is another keyword, and takes a time.
#[test]
fn proxy_grace_is_refused_as_haproxy_refuses_it() {
    let dir = TempDir::new("grace");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    expect_check(
        &dir,
        &format!("{base}backend b\n  grace 2s\n  server s 127.0.0.1:80\n"),
        1,
        "c.cfg:6: the 'grace' keyword is not supported any more since HAProxy version 2.5.",
    );
    expect_check(
        &dir,
        &format!("global\n  grace 2s\n{base}backend b\n  server s 127.0.0.1:80\n"),
        0,
        "Configuration file is valid",
    );
}

/// `npn` and `allow-0rtt` are accepted with a warning that says what happens instead (the
/// configuration runs; clients get ALPN and a full handshake); `quic-cc-algo` is refused,
/// as by Debian's HAProxy 2.6, which has no QUIC either.
#[test]
fn npn_and_0rtt_are_ignored_with_a_reason_and_quic_is_refused() {
    let dir = TempDir::new("npn-0rtt");
    let pem = self_signed_pem(&dir, "site.pem", &["localhost"]);
    let base = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend be\n  server s 127.0.0.1:80\nfrontend fe\n  default_backend be\n";
    let bind = |extra: &str| {
        format!(
            "{base}  bind 127.0.0.1:8443 ssl crt {} {extra}\n",
            pem.display()
        )
    };
    expect_check(
        &dir,
        &bind("npn http/1.1 alpn h2,http/1.1"),
        0,
        "c.cfg:10: warning: 'npn' is ignored: NPN is obsolete",
    );
    expect_check(
        &dir,
        &bind("allow-0rtt"),
        0,
        "c.cfg:10: warning: 'allow-0rtt' is ignored: TLS 1.3 early data is not accepted",
    );
    expect_check(
        &dir,
        &bind("quic-cc-algo cubic"),
        1,
        "c.cfg:10: 'quic-cc-algo' is not supported: corelb has no QUIC",
    );
}

/// `level`, `expose-fd` and `severity-output`, on `stats socket` and on a proxy's `bind`
/// (where HAProxy 2.6 checks and then ignores them): HAProxy's errors, with the line.
#[test]
fn level_expose_fd_and_severity_output_are_checked_on_stats_sockets_and_binds() {
    let dir = TempDir::new("levels");
    let sock = dir.path("s.sock");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    let listen = "listen l\n  bind 127.0.0.1:1 ";
    let server = "\n  server s 127.0.0.1:2\n";
    expect_check(
        &dir,
        &format!(
            "global\n  stats socket {} level user expose-fd listeners severity-output number\n\
             {base}{listen}level operator expose-fd listeners severity-output string{server}",
            sock.display()
        ),
        0,
        "valid",
    );
    for (global, bind, line, msg) in [
        (
            "level root",
            "",
            2,
            "'level' only supports 'user', 'operator', and 'admin' (got 'root')",
        ),
        (
            "expose-fd all",
            "",
            2,
            "'expose-fd' only supports 'listeners' (got 'all')",
        ),
        ("level", "", 2, "'level' : missing level"),
        (
            "severity-output String",
            "",
            2,
            "'severity-output' only supports 'none', 'number', and 'string' (got 'String')",
        ),
        (
            "severity-output",
            "",
            2,
            "'severity-output' : missing severity format",
        ),
        (
            "",
            "severity-output 3",
            8,
            "'bind' : 'severity-output' only supports 'none', 'number', and 'string' (got '3')",
        ),
        (
            "",
            "level root",
            8,
            "'bind' : 'level' only supports 'user', 'operator', and 'admin' (got 'root')",
        ),
        (
            "",
            "expose-fd x",
            8,
            "'bind' : 'expose-fd' only supports 'listeners' (got 'x')",
        ),
    ] {
        expect_check(
            &dir,
            &format!(
                "global\n  stats socket {} {global}\n{base}{listen}{bind}{server}",
                sock.display()
            ),
            1,
            &format!("c.cfg:{line}: {msg}"),
        );
    }
}

/// What Debian's HAProxy 2.6.12 registers (`haproxy -dKall -q -c -f /dev/null`), kept in
/// tests/data so that the check does not depend on the installed version.
const HAPROXY_KEYWORDS: &str = include_str!("data/haproxy-2.6.12-dKall.txt");

/// HAProxy 2.6 keywords and actions corelb still rejects as unknown or "not supported yet",
/// each listed in the README as not done. The test fails when one of them starts to work
/// (remove it here) and when anything else is rejected.
const KNOWN_MISSING: &[&str] = &[];

/// One line of a proxy (or the global section) using `kw` as the registry names it, with a
/// placeholder argument where it takes one.
fn keyword_line(section: &str, kw: &str) -> Option<(String, String)> {
    let fe = |line: &str| {
        format!(
            "frontend fe\n  mode http\n  bind 127.0.0.1:1\n{line}\n  default_backend b\n\
backend b\n  mode http\n  server s 127.0.0.1:2\n"
        )
    };
    let arg = |plus: bool| if plus { " x" } else { "" };
    match section {
        "global" => Some((format!("global\n  {kw} 1\n"), fe(""))),
        "listen" => {
            let plus = kw.ends_with(" +1");
            let kw = kw.trim_end_matches(" +1");
            if let Some(k) = kw.strip_prefix("bind <addr> ") {
                let body = format!(
                    "frontend fe\n  mode http\n  bind 127.0.0.1:1 {k}{}\n  default_backend b\n\
backend b\n  mode http\n  server s 127.0.0.1:2\n",
                    arg(plus)
                );
                return Some((String::new(), body));
            }
            if let Some(k) = kw.strip_prefix("server <name> <addr> ") {
                let body = format!(
                    "frontend fe\n  mode http\n  bind 127.0.0.1:1\n  default_backend b\n\
backend b\n  mode http\n  server s 127.0.0.1:2 {k}{}\n",
                    arg(plus)
                );
                return Some((String::new(), body));
            }
            if let Some(o) = kw.strip_prefix("option ") {
                let o = o.split(" [").next().unwrap_or(o);
                let body = format!(
                    "frontend fe\n  mode http\n  bind 127.0.0.1:1\n  option {o}\n  default_backend b\n\
backend b\n  mode http\n  option {o}\n  server s 127.0.0.1:2\n"
                );
                return Some((String::new(), body));
            }
            // Actions: `tcp-request content set-var*` takes `(…)` arguments.
            let line = match kw.strip_suffix('*') {
                Some(k) => format!("  {k}(txn.x,x) str(a)"),
                None => format!("  {kw} x"),
            };
            Some((String::new(), fe(&line)))
        }
        _ => None,
    }
}

/// Whether corelb's check output says it does not know or does not build the keyword.
fn rejects(out: &str) -> Option<String> {
    out.lines()
        .find(|l| {
            l.contains("is not supported yet")
                || l.contains("unknown keyword")
                // (Not an option's placeholder value: `resolve-opts x`.)
                || (l.contains("unknown option") && !l.contains("unknown option 'x'"))
                || (l.contains("unknown") && l.contains("action"))
        })
        .map(str::to_string)
}

/// Every keyword of HAProxy 2.6's registry for the global section and proxies (with bind
/// and server parameters, options and rule actions) is one corelb knows: it works, is
/// ignored with a reason, or is refused by design with the reason — never "unknown".
#[test]
fn every_haproxy_26_keyword_is_known() {
    let dir = TempDir::new("kwreg");
    let mut section = "";
    let mut rejected = Vec::new();
    let mut seen = 0;
    let lines = HAPROXY_KEYWORDS
        .lines()
        .skip_while(|l| !l.starts_with("# List of registered configuration keywords"))
        .skip(1)
        .take_while(|l| !l.starts_with('#'));
    for l in lines {
        if !l.starts_with('\t') {
            section = l.trim();
            continue;
        }
        let kw = l.trim();
        let Some((global, body)) = keyword_line(section, kw) else {
            continue;
        };
        seen += 1;
        let path = dir.write(
            "kw.cfg",
            &format!("{global}defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n{body}"),
        );
        let (_, out, err) = check_config(&path);
        if let Some(why) = rejects(&format!("{out}{err}")) {
            rejected.push(format!("{section} {kw}: {why}"));
        }
    }
    assert!(
        seen > 400,
        "the registry snapshot was read ({seen} keywords)"
    );
    let key = |r: &String| r.split(':').next().unwrap_or("").to_string();
    let unexpected: Vec<_> = rejected
        .iter()
        .filter(|r| !KNOWN_MISSING.contains(&key(r).as_str()))
        .collect();
    let fixed: Vec<_> = KNOWN_MISSING
        .iter()
        .filter(|k| !rejected.iter().any(|r| key(r) == **k))
        .collect();
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "rejected by corelb ({}):\n{}\nlisted as missing but now accepted: {fixed:?}",
        unexpected.len(),
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `haproxy -c -f FILE` run from `cwd`: (exit code, output); None without haproxy.
fn haproxy_check_in(cwd: &std::path::Path, file: &std::path::Path) -> Option<(i32, String)> {
    let out = std::process::Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(file)
        .current_dir(cwd)
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    Some((out.status.code().unwrap_or(-1), text))
}

/// `default-path`: relative file names (here an `errorfile`) are read from the current
/// directory, the configuration's, its parent, or the `origin` directory, from the line
/// on, as for Debian's HAProxy started from the same directory; and its mistakes with the
/// line.
#[test]
fn default_path_says_where_relative_files_are_read_from() {
    let dir = TempDir::new("defpath");
    for d in ["conf", "errors", "conf/errors", "elsewhere", "run"] {
        std::fs::create_dir_all(dir.path(d)).unwrap();
    }
    let page = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndown\n";
    // The file is only where the policy looks for it.
    std::fs::write(dir.path("conf/errors/503.http"), page).unwrap();
    std::fs::write(dir.path("errors/503.http"), page).unwrap();
    let cfg = |policy: &str| {
        format!(
            "global\n  default-path {policy}\n\
defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
frontend fe\n  bind 127.0.0.1:1\n  errorfile 503 errors/503.http\n  default_backend b\n\
backend b\n  server s 127.0.0.1:2\n"
        )
    };
    let origin = format!("origin {}", dir.0.display());
    let run = dir.path("run");
    for (policy, ok) in [
        ("current", false),
        ("config", true),
        ("parent", true),
        (origin.as_str(), true),
        ("origin ../elsewhere", false),
        ("origin ..", true),
    ] {
        let file = dir.path("conf/c.cfg");
        std::fs::write(&file, cfg(policy)).unwrap();
        let out = std::process::Command::new(corelb_bin())
            .args(["-c", "-f"])
            .arg(&file)
            .current_dir(&run)
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code() == Some(0),
            ok,
            "default-path {policy}:\n{all}"
        );
        if !ok {
            assert!(
                all.contains("c.cfg:10:"),
                "{policy}: the errorfile's line\n{all}"
            );
        }
        if let Some((code, text)) = haproxy_check_in(&run, &file) {
            // (HAProxy exits 2 for a valid configuration whose listener it cannot bind.)
            assert_eq!(code != 1, ok, "HAProxy, default-path {policy}:\n{text}");
        }
    }
    for (policy, msg) in [
        (
            "",
            "c.cfg:2: missing default-path mode '' for 'default-path', supported modes include 'current', 'config', 'parent', and 'origin'.",
        ),
        (
            "foo",
            "c.cfg:2: unsupported default-path mode 'foo' for 'default-path', supported modes include 'current', 'config', 'parent', and 'origin'.",
        ),
        (
            "origin",
            "c.cfg:2: 'default-path origin' expects a directory as an argument.",
        ),
        (
            "origin /nonexistent-k13m",
            "c.cfg:2: couldn't set 'default-path' to origin '/nonexistent-k13m':",
        ),
    ] {
        expect_check(&dir, &format!("global\n  default-path {policy}\n"), 1, msg);
    }
}
