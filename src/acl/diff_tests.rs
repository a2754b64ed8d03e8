//! Differential test against the real HAProxy: the same ACL lines and log-format expressions
//! are evaluated by `haproxy` (Debian's 2.6 here) and by this module on the same requests.
//!
//! HAProxy gets one frontend where ACL `aN` sets the variable `txn.aN` and the response body
//! (`http-request return ... lf-string`) lists every variable and every log-format
//! expression; the test sends each request over loopback and compares the body with what
//! [`Cond`]/[`LogFormat`] compute for the same bytes, source and destination.
//!
//! Ignored by default because it needs the `haproxy` binary: `apt-get install haproxy`, then
//! `cargo test --lib acl::diff_tests -- --ignored`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// ACL lines (after `acl aN`). `{FILE}` is replaced with a pattern file's path.
const ACLS: &[&str] = &[
    // Integers: operators, ranges, and HAProxy's quirks ("ne" is "eq", "-5" is ":5").
    "dst_port ne 80",
    "dst_port gt 1024",
    "dst_port lt 1024",
    "dst_port -- -5",
    "dst_port -- -70000",
    "dst_port 1:1024 1025:",
    "src_port ge 1",
    "dst_port -m str 80",
    // Addresses.
    "src 127.0.0.1",
    "src 127.0.0.0/8",
    "src 127.0.0.0/255.0.255.0",
    "src ::ffff:127.0.0.1",
    "src 10.0.0.0/8",
    "dst 127.0.0.1",
    "src -m str 127.0.0.1",
    "src -m beg 127.",
    // Paths, URLs, query.
    "path /p",
    "path -m found",
    "path_beg /p",
    "path_end .jpg",
    "path_sub a/b",
    "path_dir b",
    "path_dom jpg",
    "path_len 6",
    "path_reg ^/[a-z]+/",
    "path -i /P",
    "url_beg http://",
    "url_sub x=1",
    "url_dir p",
    "url_dom example",
    "url_end 3",
    "url_len 10:",
    "query -m found",
    "query -m len 0",
    "base_beg www.example.com",
    "base -m sub example.com/a",
    // URL parameters.
    "url_param(a) 1",
    "url_param(a) 2",
    "url_param(b) -m found",
    "url_param(c) -m found",
    "url_param(z) 3",
    "urlp(y) -m len 0",
    "url_param() 1",
    "urlp_val(n) lt 0",
    "url_param(q,/) 1",
    // Headers: comma splitting with quotes, occurrences, counts.
    "hdr(x) v2",
    "hdr(x,1) v2",
    "hdr(x,2) v2",
    "hdr(x,-1) v3",
    "hdr(x) -m found",
    "hdr -m found",
    "hdr() -m found",
    "hdr_cnt(x) 3",
    "hdr_cnt(q) 4",
    "hdr_cnt(t) 2",
    "hdr_cnt() gt 5",
    "req.fhdr(x) v2",
    "req.fhdr(x) -m beg v1,",
    "req.fhdr_cnt(x) 2",
    "hdr(q) -m len 0",
    "hdr_beg(x) v",
    "hdr_end(ua) Linux)",
    "hdr_sub(ua) X11,",
    "req.fhdr(ua) -m sub X11,",
    "hdr_len(host) 20",
    "hdr_reg(host) ^www\\.",
    "hdr_dom(host) example.com",
    "hdr_dom(host) www",
    "hdr_dom(host) ample.com",
    "hdr_dom(host) -i EXAMPLE.COM",
    "hdr_dom(host) 8080",
    "hdr_dir(x) v1",
    "hdr(host) -m dom com",
    "hdr(host),lower www.example.com:8080",
    "hdr_val(n) 12",
    "hdr_val(n) gt 100",
    "hdr_ip(y) 10.0.0.0/8",
    "hdr_ip(y) ::ffff:10.0.0.1",
    "hdr(y) -m ip 10.0.0.1",
    "hdr(n) -m int 12",
    "hdr(n) -m bool",
    "hdr(e) -m bool",
    "hdr(e) -m found",
    // Cookies.
    "cook(s) 1",
    "cook(s) 3",
    "cook(u) 4",
    "req.cook(s) -m found",
    "cook(s) -m len 0",
    "cook_cnt(s) 2",
    "req.cook_cnt() 3",
    "req.cook_cnt() 4",
    "cook_val(t) 2",
    "cook() -m found",
    // Methods and version.
    "method GET",
    "method -i get",
    "method -i FOO",
    "method foo",
    "method -m beg G",
    "req.ver 1.1",
    "req_ver 1.0",
    // Constants and flags.
    "always_true",
    "always_false",
    "int(5) gt 4",
    "str(abc) -m beg ab",
    "ssl_fc",
    "stopping",
    "req.proto_http",
    "path -f {FILE}",
    "hdr(x) -f {FILE}",
    "path_beg -i -f {FILE}",
];

/// Conditions over the ACLs above (`aN` is `ACLS[N-1]`) and predefined ones.
const CONDS: &[&str] = &[
    "if METH_GET",
    "if METH_POST",
    "if HTTP_1.1",
    "if HTTP_1.0",
    "if HTTP_URL_ABS",
    "if HTTP_URL_SLASH",
    "if HTTP_URL_STAR",
    "if HTTP_CONTENT",
    "if LOCALHOST",
    "if TRUE",
    "if FALSE",
    "if HTTP",
    "if a17 a18",
    "if a17 || a13",
    "if !a17 or a13",
    "unless a17 a46",
    "if { path_beg /p } !{ hdr(x) -m found }",
    "if !{ ssl_fc }",
    "unless { ssl_fc }",
    "if",
    "unless !",
    "if or TRUE",
];

/// Log-format expressions, each rendered between `<<` and `>>`.
const FORMATS: &[&str] = &[
    "%[path]",
    "%[pathq]",
    "%[query]",
    "%[url]",
    "%[base]",
    "%[url_param(a)]",
    "%[url_param(b)]",
    "%[url_param()]",
    "%[req.hdr(x)]",
    "%[hdr(x,1)]",
    "%[req.hdr(x,-2)]",
    "%[req.fhdr(x)]",
    "%[req.fhdr(x,1)]",
    "%[req.hdr(nothere)]",
    "%[req.hdr_cnt(x)]",
    "%[req.fhdr_cnt(x)]",
    "%[req.hdr_val(n)]",
    "%[req.hdr_ip(y)]",
    "%[req.hdr(host),lower]",
    "%[req.hdr(host),upper]",
    "%[req.cook(s)]",
    "%[req.cook()]",
    "%[req.cook_cnt()]",
    "%[req.ver]",
    "%[method]",
    "%[ssl_fc]",
    "%[dst]:%[dst_port]",
    "%[src]",
    "%[int(-3)]",
    "%[always_true]",
    "100%% done",
    "%ci %fi:%fp %HM %HU %HP %HQ %HV",
];

/// Requests both parsers accept.
const REQUESTS: &[&str] = &[
    "GET /p HTTP/1.1\r\nHost: h\r\n",
    "GET /pa/b.jpg?a=1&b&a=2;c=3&z=2;z=3&y=&n=-4 HTTP/1.1\r\nHost: www.example.com:8080\r\n\
     X: v1, v2\r\nX: v3\r\nQ: \"a,b\", c,,d\r\nT: a,\r\nE:\r\nN: 12abc\r\nY: 10.0.0.1:80\r\n\
     UA: Mozilla/5.0 (X11, Linux)\r\nCookie: s=1; t=2\r\nCookie: s=3, u=4\r\n",
    "GET http://www.example.com/x/y?q HTTP/1.1\r\nHost: www.example.com\r\nX: /ADMIN\r\n",
    "POST /p/q=1/r?x HTTP/1.0\r\nContent-Length: 0\r\nCookie: s=, u=4\r\nY: ::ffff:10.0.0.1\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\nN: 0\r\n",
    "foo /admin/x?n=500 HTTP/1.1\r\nHost: wwwexample.com\r\nY: 2002:a00:1::1\r\nE: 5\r\n",
    "FOO /api/v1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX: /admin\r\n",
];

const PATTERN_FILE: &str = "# patterns\n/admin\n  /api/v1\n\n/p\n";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn haproxy_config(port: u16, file: &str) -> String {
    let mut c = format!(
        "global\n    log stdout format raw local0 emerg\ndefaults\n    mode http\n    \
         timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
         frontend f\n    bind 127.0.0.1:{port}\n"
    );
    let mut body = String::new();
    for (i, a) in ACLS.iter().enumerate() {
        let n = i + 1;
        c += &format!("    acl a{n} {}\n", a.replace("{FILE}", file));
        c += &format!("    http-request set-var(txn.a{n}) int(1) if a{n}\n");
        body += &format!("a{n}=%[var(txn.a{n})] ");
    }
    for (i, cond) in CONDS.iter().enumerate() {
        c += &format!("    http-request set-var(txn.c{i}) int(1) {cond}\n");
        body += &format!("c{i}=%[var(txn.c{i})] ");
    }
    for f in FORMATS {
        body += &format!("<<{f}>>");
    }
    c += &format!(
        "    http-request return status 200 content-type text/plain lf-string \"{body}\"\n"
    );
    c
}

/// What our engine says, in the body's format.
fn ours(r: &RawRequest, file: &str) -> String {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("f");
    let mut body = String::new();
    for (i, a) in ACLS.iter().enumerate() {
        let n = i + 1;
        let line = format!("a{n} {}", a.replace("{FILE}", file));
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        acls.define(&words, &mut ctx)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    for (i, _) in ACLS.iter().enumerate() {
        let n = i + 1;
        let hit = acls.eval(&format!("a{n}"), r).unwrap();
        body += &format!("a{n}={} ", if hit { "1" } else { "" });
    }
    for (i, cond) in CONDS.iter().enumerate() {
        let words: Vec<String> = cond.split_whitespace().map(String::from).collect();
        let c = Cond::parse(&words, &acls, &mut ctx).unwrap_or_else(|e| panic!("{cond}: {e}"));
        body += &format!("c{i}={} ", if c.eval(&acls, r) { "1" } else { "" });
    }
    for f in FORMATS {
        let lf = LogFormat::parse(f, &mut ctx).unwrap_or_else(|e| panic!("{f}: {e}"));
        let mut out = Vec::new();
        lf.render(r, &mut out);
        body += &format!("<<{}>>", String::from_utf8_lossy(&out));
    }
    body
}

fn exchange(port: u16, raw: &str) -> (String, std::net::SocketAddr) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    s.write_all(b"Connection: close\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (body, local)
}

/// Splits a body into its fields for a readable diff.
fn fields(body: &str) -> Vec<String> {
    let (flags, formats) = body.split_once("<<").unwrap_or((body, ""));
    let mut v: Vec<String> = flags.split_whitespace().map(String::from).collect();
    v.extend(
        formats
            .split("<<")
            .map(|f| f.trim_end_matches(">>").to_string()),
    );
    v
}

#[test]
#[ignore = "needs the haproxy binary (apt-get install haproxy); run with --ignored"]
fn same_results_as_haproxy() {
    let dir = std::env::temp_dir().join(format!("corelb-acl-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("patterns.lst");
    std::fs::write(&file, PATTERN_FILE).unwrap();
    let file = file.display().to_string();
    let port = free_port();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(port, &file)).unwrap();
    let check = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&cfg)
        .output();
    let check = check.expect("haproxy binary not found");
    assert!(
        check.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _h = Haproxy(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "haproxy did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut mismatches = Vec::new();
    for raw in REQUESTS {
        let (theirs, local) = exchange(port, raw);
        assert!(!theirs.is_empty(), "no body from haproxy for {raw:?}");
        let full = format!("{raw}Connection: close\r\n\r\n");
        let r = RawRequest::parse(full.as_bytes())
            .unwrap_or_else(|e| panic!("corelb rejects {raw:?}: {e:?}"))
            .with_src(&local.to_string())
            .with_dst(&format!("127.0.0.1:{port}"));
        let mine = ours(&r, &file);
        let (t, m) = (fields(theirs.trim_end()), fields(&mine));
        assert_eq!(
            t.len(),
            m.len(),
            "field count for {raw:?}:\n{theirs}\n{mine}"
        );
        let names: Vec<String> = ACLS
            .iter()
            .map(|a| format!("acl {a}"))
            .chain(CONDS.iter().map(|c| c.to_string()))
            .chain(FORMATS.iter().map(|f| format!("log-format {f}")))
            .collect();
        for ((t, m), name) in t.iter().zip(&m).zip(&names) {
            if t != m {
                mismatches.push(format!("{raw:?}\n    {name}: haproxy {t:?}, corelb {m:?}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} differences:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
