//! Behaviour tests of the ACL engine, on requests parsed by the proxy's own codec. Where a
//! case is a HAProxy quirk, the comment says what HAProxy 2.6 did (see also `diff_tests`,
//! which runs the same kind of cases against the real haproxy).

use super::*;
use crate::sys::counting_alloc::allocations;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// A request from lines joined with CRLF.
fn req(lines: &[&str]) -> RawRequest {
    let mut raw = lines.join("\r\n");
    raw.push_str("\r\n\r\n");
    RawRequest::parse(raw.as_bytes()).expect("valid request")
}

fn get(target: &str, headers: &[&str]) -> RawRequest {
    let line = format!("GET {target} HTTP/1.1");
    let mut lines = vec![line.as_str()];
    lines.extend_from_slice(headers);
    req(&lines)
}

/// Evaluates one ACL expression (`FETCH [flags] patterns`) on `r`.
fn acl(expr: &str, r: &dyn Sample) -> bool {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    let mut w = words(&format!("x {expr}"));
    if expr.is_empty() {
        w.truncate(1);
    }
    acls.define(&w, &mut ctx)
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    acls.eval("x", r).unwrap()
}

fn acl_err(expr: &str) -> String {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    acls.define(&words(&format!("x {expr}")), &mut ctx)
        .expect_err(expr)
}

/// Evaluates `cond` after the `acl` lines `defs`.
fn cond(defs: &[&str], cond: &str, r: &dyn Sample) -> bool {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    for d in defs {
        acls.define(&words(d), &mut ctx).unwrap();
    }
    let c = Cond::parse(&words(cond), &acls, &mut ctx).unwrap_or_else(|e| panic!("{cond}: {e}"));
    c.eval(&acls, r)
}

fn render(fmt: &str, r: &dyn Sample) -> String {
    let lf = LogFormat::parse(fmt, &mut ParseCtx::new("fe")).unwrap();
    let mut out = Vec::new();
    lf.render(r, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn shareable_across_shards() {
    // The configuration snapshot is shared through an Arc between shards.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Acls>();
    send_sync::<Cond>();
    send_sync::<LogFormat>();
}

// ---- The seed configurations' lines ----

#[test]
fn seed_002_url_sub_content_switching() {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("myfrontend");
    acls.define(&words("acl_example1 url_sub example1"), &mut ctx)
        .unwrap();
    acls.define(&words("acl_example2 url_sub example2"), &mut ctx)
        .unwrap();
    let c1 = Cond::parse(&words("if acl_example1"), &acls, &mut ctx).unwrap();
    let c2 = Cond::parse(&words("if acl_example2"), &acls, &mut ctx).unwrap();
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
    let r = get("/shop/example1/index.html", &["Host: h"]);
    assert!(c1.eval(&acls, &r) && !c2.eval(&acls, &r));
    let r = get("/x?ref=example2", &["Host: h"]);
    assert!(!c1.eval(&acls, &r) && c2.eval(&acls, &r));
    let r = get("/", &["Host: example1"]);
    assert!(
        !c1.eval(&acls, &r) && !c2.eval(&acls, &r),
        "url_sub looks at the URL only"
    );
}

#[test]
fn seed_000_nbsrv_backend_dead() {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("health");
    acls.define(&words("backend_dead nbsrv(webapp) lt 1"), &mut ctx)
        .unwrap();
    let mut c = Cond::parse(&words("if backend_dead"), &acls, &mut ctx).unwrap();
    let lookup = |n: &str| (n == "webapp").then_some(2);
    acls.resolve_backends(&lookup).unwrap();
    c.resolve_backends(&lookup).unwrap();
    let mut r = get("/haproxy_status", &["Host: h"]);
    r.nbsrv = vec![3, 3, 0];
    assert!(c.eval(&acls, &r), "backend 2 has no server up");
    r.nbsrv = vec![0, 0, 1];
    assert!(!c.eval(&acls, &r));

    // An unknown backend is an error at resolution.
    let mut acls = Acls::new();
    acls.define(&words("d nbsrv(nope) lt 1"), &mut ctx).unwrap();
    let e = acls.resolve_backends(&lookup).unwrap_err();
    assert!(e.contains("'nope'"), "{e}");
    let mut c = Cond::parse(&words("if { nbsrv(nope) lt 1 }"), &acls, &mut ctx).unwrap();
    assert!(c.resolve_backends(&lookup).is_err());
    // Without an argument: the current proxy; a plain frontend has no servers (0).
    let mut c = Cond::parse(&words("if { nbsrv lt 1 }"), &acls, &mut ctx).unwrap();
    c.resolve_backends(&|_| None).unwrap();
    assert!(c.eval(&acls, &r));
    let mut c = Cond::parse(&words("if { nbsrv gt 0 }"), &acls, &mut ctx).unwrap();
    c.resolve_backends(&|n| (n == "health").then_some(0))
        .unwrap();
    r.nbsrv = vec![1];
    assert!(c.eval(&acls, &r));
}

#[test]
fn seed_003_and_004_ssl_fc_conditions() {
    let plain = get("/", &["Host: h"]);
    let tls = get("/", &["Host: h"]).with_tls(Some("h"));
    assert!(!cond(&[], "if { ssl_fc }", &plain) && cond(&[], "if { ssl_fc }", &tls));
    assert!(cond(&[], "unless { ssl_fc }", &plain) && !cond(&[], "unless { ssl_fc }", &tls));
    assert!(cond(&[], "if !{ ssl_fc }", &plain) && !cond(&[], "if !{ ssl_fc }", &tls));
    assert!(cond(&[], "if ! { ssl_fc }", &plain));
    let metrics = get("/metrics", &["Host: h"]);
    assert!(cond(&[], "if { path /metrics }", &metrics));
    assert!(!cond(
        &[],
        "if { path /metrics }",
        &get("/metrics/x", &["Host: h"])
    ));
    let post = req(&["POST /form HTTP/1.1", "Host: h", "Content-Length: 0"]);
    assert!(cond(&[], "if METH_POST", &post) && !cond(&[], "if METH_POST", &plain));
    // X-Forwarded-Port %[dst_port], X-Forwarded-Proto https.
    let r = get("/", &["Host: h"]).with_dst("10.0.0.5:443");
    assert_eq!(render("%[dst_port]", &r), "443");
    assert_eq!(render("https", &r), "https");
    let lf = LogFormat::parse("https", &mut ParseCtx::new("b")).unwrap();
    assert_eq!(lf.as_literal(), Some(&b"https"[..]));
    let lf = LogFormat::parse("%[dst_port]", &mut ParseCtx::new("b")).unwrap();
    assert_eq!(lf.as_literal(), None);
}

// ---- Fetches ----

#[test]
fn path_url_query_fetches() {
    let r = get("/a/b.jpg?x=1&y=2", &["Host: www.example.com"]);
    assert!(acl("path /a/b.jpg", &r) && !acl("path /a/b.jpg?x=1", &r));
    assert!(acl("path_beg /a/", &r) && !acl("path_beg /b", &r));
    assert!(acl("path_end .jpg", &r) && !acl("path_end .png", &r));
    assert!(acl("path_sub b.j", &r) && !acl("path_sub x=1", &r));
    assert!(acl("path_reg ^/a/[a-z]+\\.jpg$", &r) && !acl("path_reg ^/b", &r));
    assert!(acl("path_dir a", &r) && !acl("path_dir b", &r) && acl("path_dir b.jpg", &r));
    assert!(acl("path_len 8", &r) && !acl("path_len 9", &r));
    assert!(acl("path_dom jpg", &r));
    assert!(acl("url /a/b.jpg?x=1&y=2", &r) && !acl("url /a/b.jpg", &r));
    assert!(acl("url_beg /a", &r) && acl("url_end y=2", &r) && acl("url_sub x=1", &r));
    assert!(acl("url_reg y=[0-9]$", &r) && acl("url_len 16", &r) && acl("url_dir a", &r));
    assert!(!acl("url_end .jpg", &r));
    assert!(acl("query x=1&y=2", &r) && acl("pathq /a/b.jpg?x=1&y=2", &r));
    assert!(acl("base www.example.com/a/b.jpg", &r));
    assert!(acl("base_beg www.example.com/a", &r) && acl("base_sub example.com/a", &r));
    let no_q = get("/a", &["Host: h"]);
    assert!(!acl("query -m found", &no_q) && acl("query -m found", &get("/a?", &["Host: h"])));
    assert!(acl("query -m len 0", &get("/a?", &["Host: h"])));
    // Absolute form: path is the path part; url is the whole target.
    let abs = get("http://www.example.com/p/q?z", &["Host: www.example.com"]);
    assert!(acl("path /p/q", &abs) && acl("url_beg http://", &abs));
    assert!(acl("url_dom www.example.com", &abs) && acl("url_dom example", &abs));
    // No path in `http://h` or `*` (HAProxy 2.6: `path -m found` false for both).
    assert!(!acl("path -m found", &get("http://h", &["Host: h"])));
    let star = req(&["OPTIONS * HTTP/1.1", "Host: h"]);
    assert!(!acl("path -m found", &star) && acl("url *", &star));
    // base without Host is the path; with an empty Host too.
    let v10 = req(&["GET /x?q HTTP/1.0"]);
    assert!(acl("base /x", &v10));
    assert!(acl("base /x", &req(&["GET /x HTTP/1.0", "Host:"])));
}

#[test]
fn url_param_fetches() {
    let r = get("/p?a=1&b&a=2;c=3&n=-7", &["Host: h"]);
    assert!(acl("url_param(a) 1", &r) && acl("url_param(a) 2", &r));
    assert!(acl("urlp(c) 3", &r) && !acl("urlp(c) 1", &r));
    // HAProxy 2.6: a parameter without '=' is not found.
    assert!(!acl("url_param(b) -m found", &r));
    assert!(
        !acl("url_param(A) -m found", &r),
        "names are case-sensitive"
    );
    assert!(acl("url_param(a) -i -m str X", &get("/?a=x", &["Host: h"])));
    assert!(acl("urlp_val(n) lt 0", &r) && acl("urlp_val(a) 1", &r));
    assert!(acl("urlp_beg(c) 3", &r) && acl("urlp_len(a) 1", &r));
    assert!(acl("url_param(q,/) 1", &get("/p/q=1/r", &["Host: h"])));
    assert!(acl("url_param() 3", &r));
    // Log-format takes the first occurrence.
    assert_eq!(render("%[url_param(a)]", &r), "1");
    assert_eq!(render("[%[url_param(zz)]]", &r), "[]");
}

#[test]
fn header_fetches() {
    let r = get(
        "/",
        &[
            "Host: www.example.com:8080",
            "X: v1, v2",
            "X: v3",
            "UA: Mozilla/5.0 (X11, Linux)",
            "N: 12abc",
            "Y: 10.0.0.1:80",
        ],
    );
    // hdr splits at commas, fhdr does not.
    assert!(acl("hdr(x) v2", &r) && acl("req.hdr(x) v3", &r) && !acl("hdr(x) v1,", &r));
    assert!(acl("req.fhdr(x) -m beg v1,", &r) && !acl("req.fhdr(x) v1", &r));
    assert!(!acl("req.fhdr(x) v2", &r) && acl("req.fhdr(ua) -m sub X11,", &r));
    assert!(!acl("hdr(ua) -m sub X11,", &r) && acl("hdr(ua) Linux)", &r));
    assert!(acl("hdr(X) v1", &r) && acl("hdr(x) -i V1", &r) && !acl("hdr(x) V1", &r));
    // Occurrences: counted over elements for hdr, fields for fhdr.
    assert!(acl("hdr(x,1) v1", &r) && !acl("hdr(x,1) v2", &r) && acl("hdr(x,2) v2", &r));
    assert!(acl("hdr(x,-1) v3", &r) && acl("hdr(x,-2) v2", &r) && !acl("hdr(x,4) -m found", &r));
    assert!(acl("req.fhdr(x,1) -m beg v1", &r) && acl("req.fhdr(x,-1) v3", &r));
    assert!(acl("hdr_cnt(x) 3", &r) && acl("req.fhdr_cnt(x) 2", &r) && acl("hdr_cnt(nope) 0", &r));
    assert!(acl("req.hdr_cnt(ua) 2", &r));
    assert!(acl("hdr_val(n) 12", &r) && acl("req.hdr_val(n) gt 11", &r));
    assert!(acl("hdr_ip(y) 10.0.0.0/8", &r) && !acl("hdr_ip(n) -m found", &r));
    assert!(acl("hdr_beg(host) www.", &r) && acl("hdr_end(host) :8080", &r));
    assert!(acl("hdr_sub(host) example", &r) && acl("hdr_reg(host) ^www\\.", &r));
    assert!(acl("hdr_len(host) 20", &r) && acl("hdr_dir(ua) Linux)", &r));
    assert!(acl("hdr_dom(host) example.com", &r) && !acl("hdr_dom(host) ample.com", &r));
    assert!(acl("hdr_dom(host) 8080", &r));
    // `hdr` without a name finds nothing; `hdr()` takes every header (HAProxy 2.6).
    assert!(!acl("hdr -m found", &r) && acl("hdr() -m found", &r));
    assert!(acl("hdr() v3", &r) && acl("hdr_cnt() 8", &r));
    // Log-format: the last occurrence by default.
    assert_eq!(
        render("%[req.hdr(x)]|%[hdr(x,1)]|%[req.fhdr(x,1)]", &r),
        "v3|v1|v1, v2"
    );
    assert_eq!(
        render("%[req.hdr_cnt(x)] %[req.hdr_ip(y)] %[hdr_val(n)]", &r),
        "3 10.0.0.1 12"
    );
    assert_eq!(render("[%[req.hdr(nothere)]]", &r), "[]");
    // Occurrence bounds, as HAProxy's val_hdr.
    assert!(acl_err("hdr(x,-11) a").contains(">= -10"));
}

#[test]
fn cookie_fetches() {
    let r = get(
        "/",
        &["Host: h", "Cookie: s=1; t=2", "Cookie: s=3, u=4; q=\"x y\""],
    );
    assert!(acl("req.cook(s) 1", &r) && acl("cook(s) 3", &r) && !acl("cook(s) 2", &r));
    assert!(
        acl("cook(u) 4", &r),
        "Cookie values split at commas, as in HAProxy"
    );
    assert!(
        acl("cook_beg(q) \"x", &r) && acl("cook_end(q) y\"", &r),
        "values keep quotes"
    );
    assert!(acl("req.cook_cnt(s) 2", &r) && acl("cook_cnt() 5", &r));
    assert!(acl("cook_val(t) 2", &r) && acl("req.cook_val(u) gt 3", &r));
    assert!(
        !acl("cook(S) -m found", &r),
        "cookie names are case-sensitive"
    );
    // Log-format: the last value of a named cookie, the first cookie without a name.
    assert_eq!(
        render("%[req.cook(s)] %[req.cook()] %[req.cook_cnt(s)]", &r),
        "3 1 2"
    );
    // HAProxy 2.6 did not find the empty cookie "s=" ending an element.
    let e = get("/", &["Host: h", "Cookie: s=, u=4"]);
    assert!(!acl("cook(s) -m found", &e) && acl("cook(u) 4", &e));
}

#[test]
fn connection_fetches() {
    let r = get("/", &["Host: h"])
        .with_src("10.1.2.3:5555")
        .with_dst("[2001:db8::1]:8443");
    assert!(acl("src 10.0.0.0/8", &r) && !acl("src 192.168.0.0/16", &r));
    assert!(acl("src 10.1.2.3", &r) && acl("src ::ffff:10.1.2.3", &r));
    assert!(
        acl("src -m str 10.1.2.3", &r) && acl("src_port 5555", &r) && acl("src_port gt 1024", &r)
    );
    assert!(acl("dst 2001:db8::/32", &r) && acl("dst_port 8443", &r) && !acl("dst_port 443", &r));
    assert!(acl("dst -m beg 2001:db8", &r));
    assert_eq!(
        render("%[src]:%[src_port] %[dst] %[dst_port]", &r),
        "10.1.2.3:5555 2001:db8::1 8443"
    );
    assert_eq!(
        render("%ci:%cp %fi %fp", &r),
        "10.1.2.3:5555 2001:db8::1 8443"
    );
    let mapped = get("/", &["Host: h"]).with_src("[::ffff:127.0.0.1]:1");
    assert!(acl("src 127.0.0.0/8", &mapped) && cond(&[], "if LOCALHOST", &mapped));
    let tls = get("/", &["Host: h"]).with_tls(Some("api.example.com"));
    assert!(acl("ssl_fc_sni api.example.com", &tls) && !acl("ssl_fc_sni example.com", &tls));
    assert!(acl("ssl_fc_sni -m end .example.com", &tls) && !acl("ssl_fc_sni -m found", &r));
    assert!(acl("ssl_fc_protocol TLSv1.3", &tls));
    assert_eq!(render("%[ssl_fc] %[ssl_fc_sni]", &tls), "1 api.example.com");
    assert_eq!(render("%[ssl_fc]%[ssl_fc_sni]", &r), "0");
}

#[test]
fn method_version_and_constant_fetches() {
    let r = get("/", &["Host: h"]);
    assert!(acl("method GET", &r) && !acl("method POST", &r) && acl("method POST GET", &r));
    assert!(!acl("method get", &r) && !acl("method -i get", &r));
    let other = req(&["PURGE /x HTTP/1.1", "Host: h"]);
    assert!(
        acl("method PURGE", &other)
            && acl("method -i purge", &other)
            && !acl("method purge", &other)
    );
    assert!(acl("method -m beg PU", &other));
    assert!(acl("req.ver 1.1", &r) && acl("req_ver 1.0", &req(&["GET / HTTP/1.0"])));
    assert_eq!(
        render(
            "%[method] %[req.ver] %HM %HU %HP %HQ %HV",
            &get("/a?b", &["Host: h"])
        ),
        "GET 1.1 GET /a?b /a ?b HTTP/1.1"
    );
    assert!(acl("always_true", &r) && !acl("always_false", &r));
    assert!(acl("int(5) 5", &r) && acl("int(5) gt 4", &r) && !acl("int(5) lt 5", &r));
    assert!(acl("str(abc) abc", &r) && acl("str(abc) -m beg ab", &r));
    assert!(acl("bool(1)", &r) && !acl("bool(0)", &r));
    let mut s = get("/", &["Host: h"]);
    assert!(!acl("stopping", &s));
    s.stopping = true;
    assert!(acl("stopping", &s));
    assert!(acl("req.proto_http", &r) && !acl("req.proto_http", &RawRequest::tcp()));
}

#[test]
fn mode_tcp_finds_no_layer7_values() {
    let t = RawRequest::tcp().with_src("10.0.0.9:1234");
    assert!(
        !acl("path -m found", &t) && !acl("hdr(host) -m found", &t) && !acl("method -m found", &t)
    );
    assert!(!acl("hdr_cnt(host) -m found", &t) && !acl("url_param(a) -m found", &t));
    assert!(!acl("cook_cnt() -m found", &t));
    assert!(acl("src 10.0.0.9", &t) && acl("dst_port 80", &t));
    assert!(cond(&[], "if !{ path /x }", &t));
    assert_eq!(render("[%[path]]%[src]", &t), "[]10.0.0.9");
    assert_eq!(render("%HM %HV", &t), "- -");
    // %HP keeps an absolute URI's scheme and authority (HAProxy 2.6, see diff_tests).
    let abs = get("http://h/x?y", &["Host: h"]);
    assert_eq!(render("%HP|%HQ|%[path]", &abs), "http://h/x|?y|/x");
}

#[test]
fn converters() {
    let r = get("/", &["Host: WWW.Example.COM"]);
    assert!(acl("req.hdr(host),lower www.example.com", &r));
    assert!(!acl("req.hdr(host) www.example.com", &r));
    assert!(acl("hdr(host),upper -m end .COM", &r));
    // An ACL keyword with a converter matches by type (str), as in HAProxy.
    assert!(acl("hdr_beg(host),lower www.example.com", &r));
    assert_eq!(
        render("%[req.hdr(host),lower] %[dst_port,upper]", &r),
        "www.example.com 80"
    );
    let long = "a".repeat(300);
    let r = get("/", &[&format!("Host: {}", long.to_uppercase())]);
    assert!(acl(&format!("hdr(host),lower {long}"), &r));
    assert!(acl_err("hdr(host),nope x").contains("unknown converter"));
    assert!(acl_err("hdr(host),lowr x").contains("did you mean 'lower'"));
    assert!(acl_err("hdr(host)lower x").contains("missing comma"));
}

// ---- Flags, match methods, patterns ----

#[test]
fn flags_and_match_methods() {
    let r = get("/Images/Logo.PNG", &["Host: h", "Z: 12", "E:"]);
    assert!(acl("path -i /images/logo.png", &r) && !acl("path /images/logo.png", &r));
    assert!(acl("path -m beg -i /IMAGES", &r) && acl("path -i -m end .png", &r));
    assert!(acl("path -m sub Logo", &r) && acl("path -m reg -i logo\\.png$", &r));
    assert!(acl("path -m dir Images", &r) && acl("path -m len 16", &r));
    assert!(acl("path -m found", &r) && !acl("path -m bin 2f496d61676573", &r));
    assert!(acl("path -m bin 2f496d616765732f4c6f676f2e504e47", &r));
    assert!(
        acl("path_beg -m str /Images/Logo.PNG", &r),
        "-m overrides the keyword's method"
    );
    assert!(
        acl("hdr(z) -m int 12", &r) && acl("hdr(z) -m int gt 11", &r) && acl("hdr(z) -m bool", &r)
    );
    assert!(acl("hdr(e) -m found", &r) && acl("hdr(e) -m len 0", &r) && !acl("hdr(e) -m bool", &r));
    assert!(acl("hdr(z) -m found ignored patterns", &r));
    assert!(acl("dst_port -m str 80", &r) && acl("dst_port -m beg 8", &r));
    assert!(acl("dst_port -n -u 7 80", &r));
    assert!(acl("path -- /Images/Logo.PNG", &r));
    assert!(acl("hdr(z) -- -5", &get("/", &["Host: h", "Z: -5"])));
    // HAProxy: "'-5' is not a valid ACL option. Please use '--' before any pattern ...".
    assert!(acl_err("dst_port -5").contains("'-5' is not a valid ACL option"));
    assert!(acl_err("path -m foo x").contains("unknown matching method 'foo'"));
    assert!(acl_err("ssl_fc -m ip 1.2.3.4").contains("cannot be used"));
    assert!(acl_err("method -m int 1").contains("cannot be used"));
    assert!(acl_err("path -m").contains("missing argument"));
    assert!(acl_err("dst_port 1:x").contains("not a valid number range"));
    assert!(acl_err("src 10.0.0.0/40").contains("not a valid IPv4 or IPv6 address"));
    assert!(acl_err("path_reg (").contains("regex"));
    // Int operators and ranges on a fetch.
    let r = get("/", &["Host: h"]).with_dst("1.2.3.4:8080");
    assert!(
        acl("dst_port 8000:9000", &r)
            && acl("dst_port ge 8080", &r)
            && !acl("dst_port lt 8080", &r)
    );
    assert!(
        acl("dst_port lt 100 eq 8080", &r)
            && !acl("dst_port lt 100 8080", &r)
            && !acl("dst_port gt 8080", &r)
            && acl("dst_port le 8080", &r)
    );
    // HAProxy quirk: `ne` is accepted and matches like `eq`, with a warning here.
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    acls.define(&words("x dst_port ne 8080"), &mut ctx).unwrap();
    assert_eq!(acls.eval("x", &r), Some(true));
    assert!(
        ctx.warnings.iter().any(|w| w.contains("'ne'")),
        "{:?}",
        ctx.warnings
    );
}

#[test]
fn warnings_like_haproxy() {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    acls.define(&words("a hdr(x)"), &mut ctx).unwrap();
    assert!(
        ctx.warnings[0].contains("never match"),
        "{:?}",
        ctx.warnings
    );
    let r = get("/", &["Host: h", "X: 1"]);
    assert_eq!(acls.eval("a", &r), Some(false));
    let mut ctx = ParseCtx::new("fe");
    acls.define(&words("b hdr(x) --"), &mut ctx).unwrap();
    acls.define(&words("c ssl_fc"), &mut ctx).unwrap();
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
}

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("corelb-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn pattern_files() {
    let f = temp_file(
        "paths.lst",
        "# comment\n/admin\n\n   /api/v1\r\n\t/with space \n  # not a comment: leading blanks\n",
    );
    let fs = f.display().to_string();
    let hit = |p: &str| acl(&format!("path -f {fs}"), &get(p, &["Host: h"]));
    assert!(hit("/admin") && hit("/api/v1") && !hit("/api/v2") && !hit("/comment"));
    assert!(acl(
        &format!("path_beg -f {fs} /extra"),
        &get("/extra/x", &["Host: h"])
    ));
    assert!(acl(
        &format!("path -i -f {fs}"),
        &get("/ADMIN", &["Host: h"])
    ));
    // "  # not a comment: ..." is a pattern (HAProxy only skips '#' in the first column),
    // and trailing blanks stay in the pattern.
    let x = |v: &str| get("/", &["Host: h", &format!("X: {v}")]);
    assert!(acl(
        &format!("hdr(x) -f {fs}"),
        &x("# not a comment: leading blanks")
    ));
    assert!(acl(&format!("hdr(x) -m sub -f {fs}"), &x("a/with space b")));
    assert!(!acl(&format!("hdr(x) -m sub -f {fs}"), &x("/with spacez")));

    let nets = temp_file("nets.lst", "10.0.0.0/8\n192.168.1.1\n2001:db8::/32\n");
    let ns = nets.display().to_string();
    let r = get("/", &["Host: h"]).with_src("10.9.9.9:1");
    assert!(acl(&format!("src -f {ns}"), &r));
    assert!(!acl(
        &format!("src -f {ns}"),
        &r.clone().with_src("11.0.0.1:1")
    ));
    assert!(acl(
        &format!("src -f {ns}"),
        &r.clone().with_src("[2001:db8::5]:1")
    ));

    // Relative paths resolve against base_dir (HAProxy: the current directory).
    let mut ctx = ParseCtx::new("fe");
    ctx.base_dir = nets.parent().map(|p| p.to_path_buf());
    let mut acls = Acls::new();
    acls.define(&words("n src -f nets.lst"), &mut ctx).unwrap();
    assert_eq!(acls.eval("n", &r), Some(true));

    // Map files (-M): the key is the first word.
    let map = temp_file("hosts.map", "a.example.com be_a\nb.example.com   be_b\n");
    let ms = map.display().to_string();
    assert!(acl(
        &format!("hdr(host) -M -f {ms}"),
        &get("/", &["Host: b.example.com"])
    ));

    // Errors name the file and the line.
    let bad = temp_file("bad.lst", "10.0.0.0/8\n\nnot-an-ip\n");
    let e = acl_err(&format!("src -f {}", bad.display()));
    assert!(e.contains("bad.lst:3:") && e.contains("not-an-ip"), "{e}");
    let e = acl_err("path -f /nonexistent/corelb.lst");
    assert!(
        e.contains("failed to open pattern file </nonexistent/corelb.lst>"),
        "{e}"
    );
    let e = acl_err(&format!("path -f {fs} -m beg"));
    assert!(e.contains("'-m' must only be specified before"), "{e}");
}

// ---- Predefined ACLs ----

#[test]
fn predefined_acls() {
    let g = get("/", &["Host: h"]);
    let head = req(&["HEAD / HTTP/1.1", "Host: h"]);
    let post = req(&["POST /x HTTP/1.1", "Host: h", "Content-Length: 3"]);
    let v10 = req(&["GET http://h/ HTTP/1.0", "Host: h"]);
    let star = req(&["OPTIONS * HTTP/1.1", "Host: h"]);
    let c = |name: &str, r: &RawRequest| cond(&[], &format!("if {name}"), r);
    assert!(c("TRUE", &g) && !c("FALSE", &g));
    assert!(c("METH_GET", &g) && c("METH_GET", &head) && !c("METH_GET", &post));
    assert!(c("METH_HEAD", &head) && !c("METH_HEAD", &g) && c("METH_POST", &post));
    assert!(c("METH_OPTIONS", &star) && !c("METH_PUT", &g) && !c("METH_DELETE", &g));
    assert!(c(
        "METH_PUT",
        &req(&["PUT /x HTTP/1.1", "Host: h", "Content-Length: 0"])
    ));
    assert!(c("METH_TRACE", &req(&["TRACE /x HTTP/1.1", "Host: h"])));
    assert!(c("HTTP_1.1", &g) && !c("HTTP_1.0", &g) && c("HTTP_1.0", &v10) && !c("HTTP_2.0", &g));
    assert!(c("HTTP", &g) && !c("HTTP", &RawRequest::tcp()));
    assert!(c("HTTP_URL_ABS", &v10) && !c("HTTP_URL_ABS", &g));
    assert!(c("HTTP_URL_SLASH", &g) && !c("HTTP_URL_SLASH", &v10));
    assert!(c("HTTP_URL_STAR", &star) && !c("HTTP_URL_STAR", &g));
    assert!(c("HTTP_CONTENT", &post) && !c("HTTP_CONTENT", &g));
    assert!(!c("LOCALHOST", &g) && c("LOCALHOST", &g.clone().with_src("127.1.2.3:4")));
    // A proxy's own ACL of the same name wins.
    assert!(!cond(&["TRUE always_false"], "if TRUE", &g));
    // RDP_COOKIE reads the RDP client's cookie (payload tests: acl::payload).
    let mut ctx = ParseCtx::new("fe");
    assert!(Cond::parse(&words("if RDP_COOKIE"), &Acls::new(), &mut ctx).is_ok());
    assert!(predefined_names().any(|n| n == "METH_GET"));
}

// ---- Conditions ----

#[test]
fn conditions() {
    let defs = ["a path_beg /a", "b hdr(host) h1", "c method POST"];
    let r = |p: &str, h: &str| get(p, &[&format!("Host: {h}")]);
    // Implicit AND.
    assert!(cond(&defs, "if a b", &r("/a", "h1")) && !cond(&defs, "if a b", &r("/a", "h2")));
    // OR, both spellings, and precedence: AND binds tighter.
    assert!(cond(&defs, "if a || b", &r("/x", "h1")) && cond(&defs, "if a or b", &r("/a", "h2")));
    assert!(cond(&defs, "if a OR b", &r("/a", "h2")));
    assert!(!cond(&defs, "if a || b", &r("/x", "h2")));
    assert!(
        cond(&defs, "if c || a b", &r("/a", "h1")) && !cond(&defs, "if c || a b", &r("/a", "h2"))
    );
    assert!(cond(&defs, "if a b || c", &r("/a", "h1")));
    // Negation, attached, detached, doubled.
    assert!(cond(&defs, "if !a", &r("/x", "h")) && !cond(&defs, "if !a", &r("/a", "h")));
    assert!(cond(&defs, "if ! a", &r("/x", "h")) && cond(&defs, "if !!a", &r("/a", "h")));
    assert!(cond(&defs, "if a !b", &r("/a", "h2")) && !cond(&defs, "if a !b", &r("/a", "h1")));
    // Anonymous ACLs, mixed with named ones and negated.
    assert!(cond(&defs, "if a { hdr(host) h1 }", &r("/a", "h1")));
    assert!(cond(&defs, "if !{ path_beg /a } || b", &r("/x", "h2")));
    assert!(!cond(&defs, "if !{ path_beg /a } || b", &r("/a", "h2")));
    assert!(cond(
        &defs,
        "if { path_beg /a } { hdr(host) -i H1 } || { always_false }",
        &r("/a", "h1")
    ));
    // unless negates the whole condition.
    assert!(
        !cond(&defs, "unless a || b", &r("/a", "h2")) && cond(&defs, "unless a b", &r("/a", "h2"))
    );
}

#[test]
fn acl_lines_with_one_name_or_together() {
    let defs = [
        "static path_beg /static",
        "static path_end .css .js",
        "static hdr(host) cdn",
    ];
    let r = |p: &str, h: &str| get(p, &[&format!("Host: {h}")]);
    assert!(cond(&defs, "if static", &r("/static/x", "h")));
    assert!(cond(&defs, "if static", &r("/a.js", "h")));
    assert!(cond(&defs, "if static", &r("/x", "cdn")));
    assert!(!cond(&defs, "if static", &r("/x", "h")));

    // Lines added after a condition used the name still count, as in HAProxy.
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    acls.define(&words("late path /a"), &mut ctx).unwrap();
    let c = Cond::parse(&words("if late"), &acls, &mut ctx).unwrap();
    acls.define(&words("late path /b"), &mut ctx).unwrap();
    assert!(c.eval(&acls, &r("/b", "h")));
    assert!(acls.contains("late") && !acls.contains("early"));
    assert_eq!(acls.names().collect::<Vec<_>>(), ["late"]);
}

#[test]
fn condition_errors() {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    acls.define(&words("acl_example1 url_sub example1"), &mut ctx)
        .unwrap();
    let e = Cond::parse(&words("if acl_exemple1"), &acls, &mut ctx).unwrap_err();
    assert!(
        e.contains("no such ACL : 'acl_exemple1'") && e.contains("did you mean 'acl_example1'"),
        "{e}"
    );
    let e = Cond::parse(&words("if METH_GTE"), &acls, &mut ctx).unwrap_err();
    assert!(e.contains("did you mean 'METH_GET'"), "{e}");
    let e = Cond::parse(&words("if zzz"), &acls, &mut ctx).unwrap_err();
    assert!(!e.contains("did you mean"), "{e}");
    let e = Cond::parse(&words("if { always_true"), &acls, &mut ctx).unwrap_err();
    assert!(e.contains("missing closing '}'"), "{e}");
    let e = Cond::parse(&words("if { }"), &acls, &mut ctx).unwrap_err();
    assert!(e.contains("missing fetch method"), "{e}");
    let e = Cond::parse(&words("if {path /}"), &acls, &mut ctx).unwrap_err();
    assert!(e.contains("no such ACL : '{path'"), "{e}");
    let e = Cond::parse(&words("if { pth /x }"), &acls, &mut ctx).unwrap_err();
    assert!(
        e.contains("unknown fetch method 'pth'") && e.contains("did you mean 'path'"),
        "{e}"
    );
    assert!(Cond::parse(&words("when x"), &acls, &mut ctx).is_err());
    // Used before defined: HAProxy says "no such ACL" too.
    let e = Cond::parse(&words("if later"), &acls, &mut ctx).unwrap_err();
    assert!(e.contains("no such ACL"), "{e}");
    // ACL names.
    let e = acls
        .define(&words("a/b always_true"), &mut ctx)
        .unwrap_err();
    assert!(
        e.contains("character '/' is not permitted in acl name 'a/b'"),
        "{e}"
    );
    acls.define(&words("ok-name.x:y_1 always_true"), &mut ctx)
        .unwrap();
    let e = acls.define(&words("y foo"), &mut ctx).unwrap_err();
    assert!(
        e.contains("error detected while parsing ACL 'y' : unknown fetch method 'foo'"),
        "{e}"
    );
    assert!(
        acls.define(&words("lonely"), &mut ctx)
            .unwrap_err()
            .contains("missing fetch method")
    );
    assert!(acls.define(&[], &mut ctx).is_err());
    // url_ip works now; what needs what corelb lacks says so.
    assert!(acls.define(&words("u url_ip 127.0.0.1"), &mut ctx).is_ok());
    let e = acls
        .define(&words("z fcgi.index foo"), &mut ctx)
        .unwrap_err();
    assert!(e.contains("not supported"), "{e}");
}

#[test]
fn empty_conditions_like_haproxy() {
    // HAProxy 2.6 accepts `if` alone (never applies) and `unless !` (always applies).
    let r = get("/", &["Host: h"]);
    let mut ctx = ParseCtx::new("fe");
    let acls = Acls::new();
    let c = Cond::parse(&words("if"), &acls, &mut ctx).unwrap();
    assert!(!c.eval(&acls, &r) && c.polarity() == Polarity::If);
    let c = Cond::parse(&words("unless !"), &acls, &mut ctx).unwrap();
    assert!(c.eval(&acls, &r) && c.polarity() == Polarity::Unless);
    assert_eq!(ctx.warnings.len(), 2, "{:?}", ctx.warnings);
    assert!(cond(&[], "if or TRUE", &r) && cond(&[], "if TRUE or", &r));
}

// ---- Log-format ----

#[test]
fn log_format() {
    let r = get("/p?q=1", &["Host: h", "X-Forwarded-For: 1.2.3.4"]).with_src("10.0.0.1:999");
    assert_eq!(render("", &r), "");
    assert_eq!(render("plain text", &r), "plain text");
    assert_eq!(render("100%% %[path] %[query]", &r), "100% /p q=1");
    assert_eq!(
        render("%[src],%[req.hdr(x-forwarded-for)]!", &r),
        "10.0.0.1,1.2.3.4!"
    );
    assert_eq!(render("a%-b", &r), "a%-b");
    assert_eq!(render("end%", &r), "end%");
    assert_eq!(render("%{+Q}[path]", &r), "\"/p\"");
    // A rule value keeps its blanks as written (HAProxy merges them in logs only).
    assert_eq!(render("  a   %[req.hdr(none)] b ", &r), "  a    b ");
    let mut ctx = ParseCtx::new("fe");
    for (bad, what) in [
        ("%t", "'%t' is not supported"),
        ("%zz", "no such format variable '%zz'"),
        ("%[path", "missing ']'"),
        ("%[]", "empty sample expression"),
        ("%[nope]", "unknown fetch method 'nope'"),
        ("%{+Z}[path]", "'+Z' is not supported"),
        ("50%5", "unexpected variable name near '5'"),
        ("%[hdr(x),frob]", "unknown converter"),
    ] {
        let e = LogFormat::parse(bad, &mut ctx).unwrap_err();
        assert!(e.contains(what), "{bad}: {e}");
    }
    // nbsrv in log-format is resolved like in conditions.
    let mut lf = LogFormat::parse("%[nbsrv(be)]", &mut ctx).unwrap();
    assert!(lf.resolve_backends(&|_| None).is_err());
    lf.resolve_backends(&|n| (n == "be").then_some(1)).unwrap();
    let mut r = r;
    r.nbsrv = vec![0, 4];
    let mut out = Vec::new();
    lf.render(&r, &mut out);
    assert_eq!(out, b"4");
}

#[test]
fn fetches_see_header_edits() {
    use crate::h1::{HeadLimits, RequestHead, parse_request};
    let buf = b"GET /a HTTP/1.1\r\nHost: h\r\nX: old\r\nY: 1, 2\r\n\r\n";
    let mut head = RequestHead::new();
    parse_request(buf, &HeadLimits::default(), &mut head).unwrap();
    let conn = ConnInfo::default();
    let nbsrv = |_: usize| 0;
    let request = || RequestSample {
        stick: None,
        txn: None,
        head: Some((&head, &buf[..])),
        conn: &conn,
        nbsrv: &nbsrv,
        stopping: false,
        addrs: None,
        strm: None,
    };
    let mut edits = crate::h1::Edits::<4>::new();
    edits.set_header(b"x", b"new").unwrap();
    edits.del_header(b"y").unwrap();
    edits.add_header(b"Z", b"added").unwrap();
    let s = EditedRequestSample {
        request: request(),
        edits: &edits,
    };
    assert!(acl("hdr(x) new", &s) && !acl("hdr(x) old", &s));
    assert!(!acl("hdr(y) -m found", &s) && acl("hdr(z) added", &s));
    assert!(acl("hdr_cnt() 3", &s) && acl("path /a", &s));
    let plain = request();
    assert!(acl("hdr(x) old", &plain) && acl("hdr_cnt(y) 2", &plain));
}

// ---- Allocation ----

#[test]
fn evaluation_allocates_nothing() {
    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    for d in [
        "a url_sub example1",
        "b hdr_dom(host) -i example.com",
        "c path_reg ^/api/v[0-9]+/",
        "d src 10.0.0.0/8 192.168.0.0/16",
        "e req.cook(session) -m found",
        "f hdr(x-forwarded-proto) -i https",
        "g url_param(id) -m int gt 100",
    ] {
        acls.define(&words(d), &mut ctx).unwrap();
    }
    let c = Cond::parse(
        &words("if a || b c d || !e f || g { dst_port 443 } METH_GET"),
        &acls,
        &mut ctx,
    )
    .unwrap();
    let lf = LogFormat::parse(
        "%[src]:%[dst_port] %[req.hdr(host),lower] %[ssl_fc] %[path]",
        &mut ctx,
    )
    .unwrap();
    let r = get(
        "/api/v2/items?id=150",
        &[
            "Host: WWW.Example.COM",
            "Cookie: a=1; session=xyz",
            "X-Forwarded-Proto: HTTPS",
        ],
    )
    .with_src("10.1.1.1:1000")
    .with_dst("10.0.0.2:443");
    let mut out = Vec::with_capacity(256);
    // Warm up: the regex engine sets up its per-thread cache on first use.
    c.eval(&acls, &r);
    let (hit, n) = allocations(|| {
        let mut hit = false;
        for _ in 0..10 {
            hit = c.eval(&acls, &r);
            out.clear();
            lf.render(&r, &mut out);
        }
        hit
    });
    assert!(hit);
    assert_eq!(n, 0, "evaluation allocated");
    assert_eq!(out, b"10.1.1.1:443 www.example.com 0 /api/v2/items");
    // The counter works: a heap value is seen.
    let (_, n) = allocations(|| std::hint::black_box(vec![1u8; 10]));
    assert!(n > 0);
}

#[test]
fn hex_and_base64_take_numbers_and_addresses_as_binary() {
    // HAProxy casts an integer to its 8 bytes in network order and an address to its 4 or
    // 16 bytes before `hex` / `base64` (what `%[ssl_fc_err,hex]` in `option httpslog` shows).
    let r = RawRequest::tcp().with_src("10.0.0.9:1234");
    assert_eq!(render("%[int(0),hex]", &r), "0000000000000000");
    assert_eq!(render("%[int(258),hex]", &r), "0000000000000102");
    assert_eq!(render("%[src,hex]", &r), "0A000009");
    assert_eq!(render("%[int(1),base64]", &r), "AAAAAAAAAAE=");
    assert_eq!(render("%[str(ab),hex]", &r), "6162");
}

#[test]
fn tls_session_fetches() {
    let plain = RawRequest::tcp();
    assert_eq!(
        render(
            "%[fc_err]/%[fc_err_str]/%[ssl_fc_err]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed]/%[ssl_fc_cipher]",
            &plain
        ),
        "0/Success////0/"
    );
    let tls = RawRequest::tcp().with_tls(Some("a.test"));
    assert_eq!(
        render(
            "%[ssl_fc_err]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed]/%[ssl_fc_cipher]",
            &tls
        ),
        "0/0/0/0/TLS_AES_256_GCM_SHA384"
    );
}

#[test]
fn constant_fetches_ipv4_ipv6_bin_meth_and_the_connection_addresses() {
    let r = get("/", &["Host: x"]);
    assert_eq!(render("%[ipv4(10.0.0.1)]", &r), "10.0.0.1");
    assert_eq!(render("%[ipv6(2001:db8::1)]", &r), "2001:db8::1");
    assert_eq!(render("%[bin(41420a)]", &r), "AB\n");
    assert_eq!(render("%[bin(41420a),hex]", &r), "41420A");
    assert_eq!(render("%[meth(PUT)]", &r), "PUT");
    assert!(acl("ipv4(10.1.2.3) 10.0.0.0/8", &r));
    assert!(!acl("ipv6(2001:db8::1) 10.0.0.0/8", &r));
    // The connection's addresses (no rule changed the stream's here).
    assert_eq!(render("%[fc_src]:%[fc_src_port]", &r), "192.0.2.10:40000");
    assert_eq!(render("%[fc_dst]:%[fc_dst_port]", &r), "192.0.2.1:80");
    assert!(acl_err("ipv4(300.1.1.1) 1.2.3.4").contains("invalid ipv4 address"));
    assert!(acl_err("ipv6(1.2.3.4) 1.2.3.4").contains("invalid ipv6 address"));
    assert!(acl_err("bin(4g) -m found").contains("invalid hexadecimal"));
}
