//! Map files and ACL `-f` files changed at run time: the stats socket's `show|get|set|add|
//! del|clear map` and `… acl` commands, and the `set-map`, `del-map`, `add-acl`, `del-acl`
//! rules, run on Debian's HAProxy 2.6 and on corelb with the same configuration; what the
//! clients and the socket saw is compared (entry ids and reference numbers aside).

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::path::Path;

/// Routing by `Host` through a map, a `-f` ACL that denies, and the four rules driven by
/// request headers. The backends answer their own name.
fn config(dir: &TempDir, sock: &Path, port: u16) -> String {
    let map = dir.path("hosts.map");
    let acl = dir.path("blocked.acl");
    let (map, acl) = (map.display(), acl.display());
    let back = |n: &str| {
        format!(
            "backend be_{n}\n  http-request return status 200 content-type text/plain string {n}\n"
        )
    };
    format!(
        "global\n  stats socket {} level admin\ndefaults\n  mode http\n  timeout connect 1s\n  \
         timeout client 5s\n  timeout server 5s\nfrontend fe\n  bind 127.0.0.1:{port}\n  \
         acl blocked path -f {acl}\n  \
         http-request set-map({map}) %[req.hdr(x-key)] %[req.hdr(x-val)] if {{ req.hdr(x-key) -m found }}\n  \
         http-request del-map({map}) %[req.hdr(x-del)] if {{ req.hdr(x-del) -m found }}\n  \
         http-request add-acl({acl}) %[req.hdr(x-block)] if {{ req.hdr(x-block) -m found }}\n  \
         http-request del-acl({acl}) %[req.hdr(x-unblock)] if {{ req.hdr(x-unblock) -m found }}\n  \
         http-request deny deny_status 403 if blocked\n  \
         use_backend be_%[req.hdr(host),map({map},c)]\n{}{}{}",
        sock.display(),
        back("a"),
        back("b"),
        back("c")
    )
}

/// `STATUS BODY` of a request on a new connection, with `headers` (`Name: value` lines).
fn get(port: u16, host: &str, path: &str, headers: &[&str]) -> String {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let out = raw_exchange(port, req.as_bytes());
    let status = out.split(' ').nth(1).unwrap_or("").to_string();
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    format!("{status} {}", body.trim())
}

/// Entry ids (`0x…`) and a reference's number at the start of a `show map` line differ
/// between the two; the configuration's file name and lines too (it is written in a
/// different place).
fn normalize(s: &str) -> String {
    normalize_ids(s, false)
}

/// As [`normalize`]; `keep_ids` keeps the references' numbers. HAProxy's own two references
/// (its internal HTTP client's `acl 'var'`, which corelb does not have) go.
fn normalize_ids(s: &str, keep_ids: bool) -> String {
    let mut out = String::new();
    for line in s.lines() {
        if line.contains(" acl 'var' file 'httpclient' line 0.") {
            continue;
        }
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        for w in &mut words {
            if w.starts_with("0x") {
                *w = "0x?".into();
            }
        }
        if !keep_ids
            && words.len() > 1
            && words[1].starts_with('(')
            && words[0].parse::<u32>().is_ok()
        {
            words[0] = "#".into();
        }
        let mut l = words.join(" ");
        // The configuration's name: the file before a line number (the pattern files'
        // names are followed by "used by").
        let mut from = 0;
        while let Some(i) = l[from..].find(" file '").map(|i| i + from + 7) {
            match l[i..].find("' line ") {
                Some(e) if !l[i..i + e].contains('\'') => l.replace_range(i..i + e, "CFG"),
                _ => {}
            }
            from = i;
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The two kinds of step: a socket command (`MAP` and `ACL` stand for the files), and
/// requests for a host and path on several connections, to reach every shard.
type Cmd<'a> = Box<dyn Fn(&mut Vec<String>, &str) + 'a>;
type Hosts = Box<dyn Fn(&mut Vec<String>, &str, &str)>;

fn steps<'a>(port: u16, sock: &'a Path, dir: &TempDir) -> (Cmd<'a>, Hosts) {
    let map = dir.path("hosts.map").display().to_string();
    let acl = dir.path("blocked.acl").display().to_string();
    let cmd = move |t: &mut Vec<String>, line: &str| {
        let line = line.replace("MAP", &map).replace("ACL", &acl);
        let out = stats_cmd(sock, &line);
        t.push(format!("> {line}\n{}", normalize(&out)));
    };
    let hosts = move |t: &mut Vec<String>, host: &str, path: &str| {
        let seen: Vec<String> = (0..6).map(|_| get(port, host, path, &[])).collect();
        t.push(format!("GET {host}{path}: {}", seen.join(" | ")));
    };
    (Box::new(cmd), Box::new(hosts))
}

/// The steps, each with what the client or the socket saw.
fn transcript(port: u16, sock: &Path, dir: &TempDir) -> Vec<String> {
    let (cmd, hosts) = steps(port, sock, dir);
    let mut t = Vec::new();
    hosts(&mut t, "a.example", "/");
    hosts(&mut t, "b.example", "/");
    cmd(&mut t, "show map MAP");
    cmd(&mut t, "set map MAP a.example b");
    hosts(&mut t, "a.example", "/");
    cmd(&mut t, "add map MAP new.example a");
    hosts(&mut t, "new.example", "/");
    cmd(&mut t, "del map MAP new.example");
    hosts(&mut t, "new.example", "/");
    cmd(&mut t, "get map MAP a.example");
    cmd(&mut t, "get map MAP nothing");
    // Rules: `set-map` adds, then changes; `del-map` removes.
    let x = |h: &[&str]| get(port, "other", "/", h);
    t.push(x(&["x-key: rule.example", "x-val: a"]));
    hosts(&mut t, "rule.example", "/");
    t.push(x(&["x-key: rule.example", "x-val: b"]));
    hosts(&mut t, "rule.example", "/");
    t.push(x(&["x-del: rule.example"]));
    hosts(&mut t, "rule.example", "/");
    // The `-f` ACL, from the socket and from rules.
    hosts(&mut t, "a.example", "/private");
    cmd(&mut t, "add acl ACL /private");
    hosts(&mut t, "a.example", "/private");
    cmd(&mut t, "show acl ACL");
    cmd(&mut t, "get acl ACL /private");
    cmd(&mut t, "del acl ACL /private");
    hosts(&mut t, "a.example", "/private");
    t.push(x(&["x-block: /rule"]));
    t.push(x(&["x-block: /rule"]));
    cmd(&mut t, "show acl ACL");
    hosts(&mut t, "a.example", "/rule");
    t.push(x(&["x-unblock: /rule"]));
    hosts(&mut t, "a.example", "/rule");
    // Errors change nothing.
    for bad in [
        "set map MAP nothing a",
        "set map MAP #zz a",
        "set map MAP #0x1 a",
        "set map MAP a.example",
        "del map MAP nothing",
        "del map MAP",
        "add map MAP k",
        "add acl ACL",
        "show map /nonexistent.map",
        "show map ACL",
        "show acl MAP",
        "add acl MAP x",
        "get map MAP",
        "get acl",
        "clear acl",
    ] {
        cmd(&mut t, bad);
    }
    cmd(&mut t, "show map MAP");
    // A payload: the key, then the rest of the line as the value; a `user` session may
    // change maps in HAProxy 2.6.
    cmd(&mut t, "add map MAP <<\nk1 v1\nk2 v2 and more\n");
    cmd(
        &mut t,
        "user; set map MAP k1 by-user; del map MAP k2; show map MAP",
    );
    cmd(&mut t, "clear map MAP");
    cmd(&mut t, "show map MAP");
    hosts(&mut t, "a.example", "/");
    t
}

#[test]
fn maps_and_acls_change_at_run_time_as_in_haproxy() {
    let dir = TempDir::new("maps");
    dir.write("hosts.map", "# host backend\na.example a\nb.example b\n");
    dir.write("blocked.acl", "/admin\n");
    let (hport, cport) = (free_port(), free_port());
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let Some(_h) = Haproxy::start(&config(&dir, &hsock, hport), &[hport]) else {
        return;
    };
    wait_unix_socket(&hsock);
    let haproxy = transcript(hport, &hsock, &dir);
    let _lb = Corelb::start(&config(&dir, &csock, cport), &[], &[cport]);
    wait_unix_socket(&csock);
    let corelb = transcript(cport, &csock, &dir);
    for (h, c) in haproxy.iter().zip(&corelb) {
        assert_eq!(
            c,
            h,
            "\ncorelb:\n{}\nhaproxy:\n{}",
            corelb.join("\n"),
            haproxy.join("\n")
        );
    }
    // What the lines above did, spelled out.
    assert!(
        haproxy
            .iter()
            .any(|l| l.starts_with("GET a.example/: 200 b |"))
    );
    assert!(
        haproxy
            .iter()
            .any(|l| l.starts_with("GET a.example/private: 403"))
    );
}

/// `show map` and `show acl` list the files with the line that loaded them; a file used by
/// two lines names both. `show acl` lists each ACL expression's inline patterns too, as a
/// reference without a file, even without patterns (`-f` alone, `-m found`).
#[test]
fn show_map_lists_the_files() {
    let dir = TempDir::new("showmap");
    dir.write("hosts.map", "a.example a\n");
    dir.write("blocked.acl", "/admin\n");
    let port = free_port();
    let sock = dir.path("c.sock");
    let cfg = config(&dir, &sock, port).replace(
        "use_backend",
        &format!(
            "http-request set-header x-b %[req.hdr(host),map_beg({})]\n  use_backend",
            dir.path("hosts.map").display()
        ),
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    wait_unix_socket(&sock);
    let m = dir.path("hosts.map").display().to_string();
    let a = dir.path("blocked.acl").display().to_string();
    assert_eq!(
        normalize(&stats_cmd(&sock, "show map")),
        format!(
            "# id (file) description\n# ({m}) pattern loaded from file '{m}' used by map at file \
             'CFG' line 16, by map at file 'CFG' line 17. curr_ver=0 next_ver=0 entry_cnt=1\n\n"
        )
    );
    assert_eq!(
        normalize(&stats_cmd(&sock, "show acl")),
        format!(
            "# id (file) description\n# ({a}) pattern loaded from file '{a}' used by acl at file \
             'CFG' line 10. curr_ver=0 next_ver=0 entry_cnt=1\n# () acl 'path' file 'CFG' line \
             10. curr_ver=0 next_ver=0 entry_cnt=0\n{}\n",
            (11..15)
                .map(|l| format!(
                    "# () acl 'req.hdr' file 'CFG' line {l}. curr_ver=0 next_ver=0 entry_cnt=0\n"
                ))
                .collect::<String>()
        )
    );
    // The map's number follows the six ACL references of lines 10 to 14.
    assert!(stats_cmd(&sock, "show map").contains(&format!("\n6 ({m}) ")));
    assert_eq!(
        stats_cmd(&sock, "get map #6 a.example/x"),
        "type=beg, case=sensitive, found=yes, idx=tree, key=\"a.example\", value=\"a\", type=\"str\"\n\
         type=str, case=sensitive, found=no\n\n"
    );
}

/// `-c`: the rules' argument errors in HAProxy's words; a file read both as a map and as a
/// one-column ACL is refused, as HAProxy refuses it; a rule on a file nothing loads is
/// accepted (it does nothing, as in HAProxy 2.6).
#[test]
fn rule_and_file_errors() {
    let dir = TempDir::new("mapcheck");
    let map = dir.write("x.map", "10.0.0.0/8 a\n");
    let m = map.display();
    let fe = |l: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
             frontend fe\n  bind 127.0.0.1:1\n  {l}\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n"
        )
    };
    expect_check(
        &dir,
        &fe(&format!("http-request set-map({m}) a")),
        1,
        &format!(
            "c.cfg:8: error detected in frontend 'fe' while parsing 'http-request set-map({m})' rule : expects exactly 2 arguments."
        ),
    );
    expect_check(
        &dir,
        &fe(&format!("http-response del-acl({m})")),
        1,
        "rule : expects exactly 1 arguments.",
    );
    expect_check(
        &dir,
        &fe(&format!("http-request del-map({m}) a b")),
        1,
        &format!(
            "c.cfg:8: 'http-request del-map({m})' expects either 'if' or 'unless' followed by a condition but found 'b'."
        ),
    );
    expect_check(
        &dir,
        &fe("http-request add-acl(/nowhere.acl) %[src]"),
        0,
        "",
    );
    expect_check(
        &dir,
        &fe(&format!(
            "http-request set-header x %[src,map_ip({m})]\n  acl a src -f {m}"
        )),
        1,
        &format!(
            "The file \"{m}\" is already used as two column file and cannot be used by as one column file."
        ),
    );
    expect_check(
        &dir,
        &fe(&format!(
            "http-request set-header x %[src,map_ip({m})]\n  acl a src -M -f {m}"
        )),
        0,
        "",
    );
}

/// Versions (HAProxy 2.4+'s atomic replacement, as ingress controllers use it): `prepare`,
/// `add|show|clear @<ver>`, `commit @<ver>`, their errors, and what traffic sees on every
/// shard: the current version until the commit, then the committed one at once.
fn versions_transcript(port: u16, sock: &Path, dir: &TempDir) -> Vec<String> {
    let (cmd, hosts) = steps(port, sock, dir);
    let mut t = Vec::new();
    hosts(&mut t, "a.example", "/");
    cmd(&mut t, "prepare map MAP");
    cmd(&mut t, "add map @1 MAP a.example c");
    cmd(&mut t, "add map @1 MAP <<\nnew.example b\nold.example a\n");
    cmd(&mut t, "show map @1 MAP");
    cmd(&mut t, "show map MAP");
    cmd(&mut t, "show map");
    // Prepared, not committed: traffic keeps the current version.
    hosts(&mut t, "a.example", "/");
    hosts(&mut t, "new.example", "/");
    cmd(&mut t, "get map MAP new.example");
    // HAProxy 2.6's `set map` and `del map` reach every version.
    cmd(&mut t, "set map MAP a.example b");
    cmd(&mut t, "del map MAP old.example");
    cmd(&mut t, "show map @1 MAP");
    hosts(&mut t, "a.example", "/");
    // Errors, which change nothing.
    for bad in [
        "add map @5 MAP k v",
        "add acl @5 ACL /k",
        "add map @1 MAP k",
        "show map @1",
        "show map @",
        "clear map @1",
        "commit map @5 MAP",
        "commit map @0 MAP",
        "commit map MAP",
        "commit map",
        "commit map @1",
        "commit map @1 /nonexistent.map",
        "commit acl @1 MAP",
        "prepare map",
        "prepare map ACL",
        "prepare acl MAP",
        "set map @1 MAP a.example a",
        "del map @1 MAP a.example",
        "get map @1 MAP a.example",
        "show map @7 MAP",
    ] {
        cmd(&mut t, bad);
    }
    cmd(&mut t, "show map");
    hosts(&mut t, "a.example", "/");
    // The commit: every shard's next lookup sees version 1.
    cmd(&mut t, "commit map @1 MAP");
    hosts(&mut t, "a.example", "/");
    hosts(&mut t, "new.example", "/");
    hosts(&mut t, "b.example", "/");
    cmd(&mut t, "show map MAP");
    cmd(&mut t, "show map");
    cmd(&mut t, "commit map @1 MAP");
    // Two versions prepared: committing the older keeps the newer, which comes later.
    cmd(&mut t, "prepare map MAP; prepare map MAP");
    cmd(&mut t, "add map @3 MAP a.example c");
    cmd(&mut t, "add map @2 MAP a.example a");
    cmd(&mut t, "add map @2 MAP b.example b");
    cmd(&mut t, "clear map @2 MAP");
    cmd(&mut t, "add map @2 MAP a.example a");
    cmd(&mut t, "commit map @2 MAP");
    hosts(&mut t, "a.example", "/");
    cmd(&mut t, "show map @3 MAP");
    cmd(&mut t, "show map");
    cmd(&mut t, "commit map @3 MAP");
    hosts(&mut t, "a.example", "/");
    cmd(&mut t, "commit map @2 MAP");
    // `@<ver>` reads as HAProxy's str2uic: no digits is version 0, here an old one.
    cmd(&mut t, "add map @x MAP zz.example a");
    cmd(&mut t, "show map @0 MAP");
    cmd(&mut t, "show map");
    // A `set-map` rule on a key only a prepared version has sets it there (HAProxy 2.6's
    // lookup in every version), and adds nothing to the current one.
    cmd(&mut t, "prepare map MAP");
    cmd(&mut t, "add map @4 MAP rule.example a");
    t.push(get(
        port,
        "other",
        "/",
        &["x-key: rule.example", "x-val: b"],
    ));
    hosts(&mut t, "rule.example", "/");
    cmd(&mut t, "show map @4 MAP");
    cmd(&mut t, "show map MAP");
    // The ACL file: the prepared version denies nothing until it is committed.
    hosts(&mut t, "a.example", "/admin");
    cmd(&mut t, "prepare acl ACL");
    cmd(&mut t, "add acl @1 ACL /v1");
    cmd(&mut t, "add acl @1 MAP /v1");
    hosts(&mut t, "a.example", "/v1");
    cmd(&mut t, "show acl @1 ACL");
    cmd(&mut t, "commit acl @1 ACL");
    hosts(&mut t, "a.example", "/v1");
    hosts(&mut t, "a.example", "/admin");
    cmd(&mut t, "show acl ACL");
    // Severity prefixes on the new commands' messages.
    cmd(
        &mut t,
        "set severity-output number; prepare acl ACL; commit acl @9 ACL; show acl @2 ACL; \
         set severity-output string; prepare acl ACL; add acl @9 ACL /x; show map @9 MAP",
    );
    t
}

#[test]
fn map_and_acl_versions_as_in_haproxy() {
    let dir = TempDir::new("mapver");
    dir.write("hosts.map", "# host backend\na.example a\nb.example b\n");
    dir.write("blocked.acl", "/admin\n");
    let (hport, cport) = (free_port(), free_port());
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let Some(_h) = Haproxy::start(&config(&dir, &hsock, hport), &[hport]) else {
        return;
    };
    wait_unix_socket(&hsock);
    let haproxy = versions_transcript(hport, &hsock, &dir);
    let _lb = Corelb::start(&config(&dir, &csock, cport), &["--shards", "2"], &[cport]);
    wait_unix_socket(&csock);
    let corelb = versions_transcript(cport, &csock, &dir);
    same_transcripts(&corelb, &haproxy);
    // What the lines above did, spelled out: before the commit new.example had no entry (the
    // map's default, c) on every connection, after it the committed version's b.
    let at = |prefix: &str| corelb.iter().position(|l| l.starts_with(prefix)).unwrap();
    let map = dir.path("hosts.map");
    let commit = at(&format!("> commit map @1 {}\n", map.display()));
    let all = |url: &str, v: &str| format!("GET {url}: {}", [v; 6].join(" | "));
    assert!(
        corelb[..commit].contains(&all("new.example/", "200 c")),
        "{}",
        corelb.join("\n")
    );
    assert_eq!(corelb[commit + 2], all("new.example/", "200 b"));
    let acl = at(&format!(
        "> commit acl @1 {}\n",
        dir.path("blocked.acl").display()
    ));
    assert_eq!(corelb[acl - 2], all("a.example/v1", "200 c"));
    assert!(
        corelb[acl + 1].starts_with("GET a.example/v1: 403"),
        "{}",
        corelb[acl + 1]
    );
}

/// Inline patterns: named ACLs (one with `-f` too, one with `-u`), anonymous conditions of
/// `http-request` and `use_backend`, predefined ACLs (one reference per proxy however often
/// used), an integer ACL with operators. The backends answer their own name.
fn inline_config(dir: &TempDir, sock: &Path, port: u16) -> String {
    let acl = dir.path("blocked.acl");
    let back = |n: &str, extra: &str| {
        format!(
            "backend be_{n}\n{extra}  http-request return status 200 content-type text/plain string {n}\n"
        )
    };
    format!(
        "global\n  stats socket {} level admin\ndefaults\n  mode http\n  timeout connect 1s\n  \
         timeout client 5s\n  timeout server 5s\nfrontend fe\n  bind 127.0.0.1:{port}\n  \
         acl blocked path -f {} /inline\n  \
         acl api path_beg /api /v1\n  \
         acl many req.hdr_cnt(x-n) gt 2\n  \
         acl pinned path -u 20 /pinned\n  \
         http-request deny deny_status 403 if blocked || pinned\n  \
         http-request deny deny_status 405 if METH_PUT\n  \
         http-request deny deny_status 405 if METH_PUT {{ path /put }}\n  \
         http-request deny deny_status 429 if many\n  \
         use_backend be_b if {{ path_beg /b }} || api\n  \
         use_backend be_c if {{ hdr(host) -i c.example }}\n  \
         default_backend be_a\n{}{}{}",
        sock.display(),
        acl.display(),
        back("a", "  http-request deny deny_status 404 if METH_PUT\n"),
        back("b", ""),
        back("c", "")
    )
}

/// `show acl` with the inline references, then `add|del|clear|get|show|prepare|commit acl
/// #<id>` on them, and what traffic sees on every shard after each change.
fn inline_transcript(port: u16, sock: &Path, dir: &TempDir) -> Vec<String> {
    let (_, hosts) = steps(port, sock, dir);
    let mut t = Vec::new();
    let cmd = |t: &mut Vec<String>, line: &str| {
        let out = stats_cmd(sock, line);
        t.push(format!("> {line}\n{}", normalize_ids(&out, true)));
    };
    let x = |h: &[&str]| get(port, "x", "/", h);
    cmd(&mut t, "show acl");
    for id in ["#0", "#1", "#2", "#3", "#4", "#20"] {
        cmd(&mut t, &format!("show acl {id}"));
    }
    hosts(&mut t, "x", "/inline");
    hosts(&mut t, "x", "/added");
    // `blocked`'s inline patterns (#0 is its file).
    cmd(&mut t, "add acl #1 /added");
    hosts(&mut t, "x", "/added");
    cmd(&mut t, "get acl #1 /added");
    cmd(&mut t, "show acl #1");
    cmd(&mut t, "del acl #1 /added");
    hosts(&mut t, "x", "/added");
    cmd(&mut t, "del acl #1 /added");
    // The anonymous ACL of the first `use_backend`.
    let anon = "#6";
    hosts(&mut t, "x", "/c-path");
    cmd(&mut t, &format!("add acl {anon} /c-path"));
    hosts(&mut t, "x", "/c-path");
    // `clear` empties the inline patterns, not the file's.
    cmd(&mut t, "clear acl #1");
    hosts(&mut t, "x", "/inline");
    hosts(&mut t, "x", "/admin");
    // Integers: a range added alone.
    t.push(x(&["x-n: 1"]));
    cmd(&mut t, "add acl #3 1:1");
    t.push(x(&["x-n: 1"]));
    // `-u 20`.
    hosts(&mut t, "x", "/pinned");
    cmd(&mut t, "del acl #20 /pinned");
    hosts(&mut t, "x", "/pinned");
    // Versions on an inline reference.
    cmd(&mut t, "prepare acl #2");
    cmd(&mut t, "add acl @1 #2 /v");
    hosts(&mut t, "x", "/v");
    cmd(&mut t, "show acl @1 #2");
    cmd(&mut t, "commit acl @1 #2");
    hosts(&mut t, "x", "/v");
    hosts(&mut t, "x", "/api");
    // Errors change nothing.
    for bad in [
        "show acl #99",
        "add acl #99 /x",
        "del acl #1",
        "add acl #1",
        "clear acl #99",
        "get acl #1",
        "show acl #",
        "show acl #2x",
        "show acl #-1",
        "show acl ''",
        "add map #1 k v",
        "show map #1",
    ] {
        cmd(&mut t, bad);
    }
    cmd(&mut t, "show acl");
    t
}

#[test]
fn inline_acl_patterns_are_references_as_in_haproxy() {
    let dir = TempDir::new("inlineacl");
    dir.write("blocked.acl", "/admin\n");
    let (hport, cport) = (free_port(), free_port());
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let Some(_h) = Haproxy::start(&inline_config(&dir, &hsock, hport), &[hport]) else {
        return;
    };
    wait_unix_socket(&hsock);
    let haproxy = inline_transcript(hport, &hsock, &dir);
    let _lb = Corelb::start(
        &inline_config(&dir, &csock, cport),
        &["--shards", "2"],
        &[cport],
    );
    wait_unix_socket(&csock);
    let corelb = inline_transcript(cport, &csock, &dir);
    same_transcripts(&corelb, &haproxy);
    // What the lines above did, spelled out: the references of both kinds in one sequence
    // (the file, then the same line's inline patterns), and every connection saw each change.
    let acl = dir.path("blocked.acl").display().to_string();
    assert!(corelb[0].starts_with(&format!(
        "> show acl\n# id (file) description\n0 ({acl}) pattern loaded from file '{acl}' used by \
         acl at file 'CFG' line 10. curr_ver=0 next_ver=0 entry_cnt=1\n1 () acl 'path' file \
         'CFG' line 10. curr_ver=0 next_ver=0 entry_cnt=1\n"
    )));
    let all = |url: &str, v: &str| format!("GET {url}: {}", [v; 6].join(" | "));
    let at = |l: &str| corelb.iter().position(|x| x.starts_with(l)).unwrap();
    let add = at("> add acl #1 /added");
    assert_eq!(corelb[add - 1], all("x/added", "200 a"));
    let denied = corelb[add + 1].strip_prefix("GET x/added: ").unwrap();
    assert_eq!(denied.matches("403 <html>").count(), 6, "{denied}");
    assert_eq!(
        corelb[at("> del acl #1 /added") + 1],
        all("x/added", "200 a")
    );
    assert_eq!(
        corelb[at("> add acl #6 /c-path") + 1],
        all("x/c-path", "200 b")
    );
    assert_eq!(corelb[at("> clear acl #1") + 1], all("x/inline", "200 a"));
    assert_eq!(corelb[at("> commit acl @1 #2") + 1], all("x/v", "200 b"));
    // A pattern that does not compile (an operator alone is no number) changes nothing.
    // (HAProxy 2.6.12 answers the same, then lists none of the reference's entries and
    // counts one fewer: not compared.)
    let before = stats_cmd(&csock, "show acl #3");
    assert_eq!(before.lines().count(), 3, "{before}");
    assert_eq!(
        stats_cmd(&csock, "add acl #3 gt"),
        "'gt' is not a number.\n\n"
    );
    assert_eq!(stats_cmd(&csock, "show acl #3"), before);
    assert!(stats_cmd(&csock, "show acl").contains("\n3 () acl 'req.hdr_cnt' file '"));
}

/// corelb's transcript line by line against HAProxy's, both whole in the message.
fn same_transcripts(corelb: &[String], haproxy: &[String]) {
    let whole = || {
        format!(
            "\ncorelb:\n{}\nhaproxy:\n{}",
            corelb.join("\n"),
            haproxy.join("\n")
        )
    };
    assert_eq!(corelb.len(), haproxy.len(), "{}", whole());
    for (h, c) in haproxy.iter().zip(corelb) {
        assert_eq!(c, h, "{}", whole());
    }
}
