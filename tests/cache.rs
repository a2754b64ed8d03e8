//! `cache` sections with `http-request cache-use` / `http-response cache-store` end to end:
//! a second request is answered without the server (the origin counts what reaches it), with
//! an `Age`; objects expire by max-age; what HAProxy 2.6 does not store is not stored; the log
//! names the server `<CACHE>`; and Debian's HAProxy makes the same decisions on the same
//! configuration.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Requests that reached the origin, by path.
type Hits = Arc<Mutex<HashMap<String, usize>>>;

/// A keep-alive origin. `/PATH?h=Header:value&h=…&n=N&chunked&ce` answers 200 (or `s=CODE`)
/// with those header fields (`ce`: a Content-Encoding after the request's Accept-Encoding) and N bytes of body (Content-Length, or chunked), the body naming how
/// many times the path was asked.
fn origin(hits: Hits) -> Backend {
    Backend::start(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let Some(req) = read_request_head(&mut r) else {
                return;
            };
            let (method, target) = (req.method.clone(), req.target.clone());
            let clen: usize = req
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap_or(0));
            let mut body_in = vec![0u8; clen];
            if std::io::Read::read_exact(&mut r, &mut body_in).is_err() {
                return;
            }
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let n = {
                let mut m = hits.lock().unwrap();
                let c = m.entry(path.to_string()).or_default();
                *c += 1;
                *c
            };
            let mut fields = String::new();
            let (mut size, mut chunked, mut status) = (16usize, false, "200 OK".to_string());
            for kv in query.split('&').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                let v = v
                    .replace("%20", " ")
                    .replace("%22", "\"")
                    .replace("%2C", ",");
                match k {
                    "h" => {
                        fields.push_str(&v.replacen(':', ": ", 1));
                        fields.push_str("\r\n");
                    }
                    "n" => size = v.parse().unwrap(),
                    "chunked" => chunked = true,
                    "s" => status = format!("{v} X"),
                    // The first of gzip, br the request accepts names the answer's encoding.
                    "ce" => {
                        let ae = req.header("accept-encoding").unwrap_or("").to_string();
                        if let Some(c) = ["gzip", "br"].into_iter().find(|c| ae.contains(c)) {
                            fields.push_str(&format!("Content-Encoding: {c}\r\n"));
                        }
                    }
                    _ => {}
                }
            }
            let mut body = format!("{method} {path} #{n}\n").into_bytes();
            body.resize(size.max(body.len()), b'.');
            let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n{fields}");
            if chunked {
                out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                let mut o = out.into_bytes();
                for c in body.chunks(1000) {
                    o.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    o.extend_from_slice(c);
                    o.extend_from_slice(b"\r\n");
                }
                o.extend_from_slice(b"0\r\n\r\n");
                if w.write_all(&o).is_err() {
                    return;
                }
            } else {
                out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut o = out.into_bytes();
                if method != "HEAD" {
                    o.extend_from_slice(&body);
                }
                if w.write_all(&o).is_err() {
                    return;
                }
            }
        }
    })
}

fn config(port: u16, origin: u16, section: &str, global: &str) -> String {
    format!(
        "global\n{global}defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n\
         backend b\n  http-request cache-use c\n  http-response cache-store c\n  server s 127.0.0.1:{origin}\n\
         cache c\n{section}"
    )
}

const SECTION: &str = "  total-max-size 4\n  max-object-size 100000\n  max-age 60\n";

fn ask(port: u16, method: &str, target: &str, extra: &str) -> HttpResponse {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = c.try_clone().unwrap();
    let len = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let req =
        format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{len}{extra}Connection: close\r\n\r\n");
    w.write_all(req.as_bytes()).unwrap();
    read_response(&mut BufReader::new(c), method == "HEAD").unwrap()
}

fn count(hits: &Hits, path: &str) -> usize {
    hits.lock().unwrap().get(path).copied().unwrap_or(0)
}

/// Asks twice; how many of the two reached the origin.
fn fetched_twice(port: u16, hits: &Hits, path: &str, query: &str, extra: &str) -> usize {
    let before = count(hits, path);
    let target = format!("{path}?{query}");
    let a = ask(port, "GET", &target, extra);
    let b = ask(port, "GET", &target, extra);
    assert_eq!((a.status, b.status), (200, 200), "{target}");
    let fetched = count(hits, path) - before;
    if fetched < 2 {
        assert_eq!(a.body, b.body, "{target}: the stored object");
    }
    fetched
}

#[test]
fn second_request_is_served_from_the_cache_with_an_age() {
    let hits: Hits = Default::default();
    let o = origin(hits.clone());
    let port = free_port();
    let _lb = Corelb::start(
        &config(port, o.port, SECTION, ""),
        &["--shards", "1"],
        &[port],
    );
    let q = "h=Cache-Control:max-age=30&h=X-Origin:yes&n=5000";
    let first = ask(port, "GET", &format!("/a?{q}"), "");
    assert_eq!(first.header("age"), None);
    let second = ask(port, "GET", &format!("/a?{q}"), "");
    assert_eq!(
        count(&hits, "/a"),
        1,
        "the second request reached the server"
    );
    assert_eq!(second.body, first.body);
    assert!(String::from_utf8_lossy(&second.body).starts_with("GET /a #1"));
    assert_eq!(second.header("age"), Some("0"));
    assert_eq!(second.header("x-origin"), Some("yes"));
    assert_eq!(second.header("content-length"), Some("5000"));
    // HEAD is answered from the object too, without a body; another query string is another
    // object; a chunked answer is stored de-chunked.
    let head = ask(port, "HEAD", &format!("/a?{q}"), "");
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(count(&hits, "/a"), 1);
    assert_eq!(
        fetched_twice(port, &hits, "/a", "h=Cache-Control:max-age=30&x=2", ""),
        1
    );
    assert_eq!(
        fetched_twice(
            port,
            &hits,
            "/ch",
            "h=Cache-Control:max-age=30&n=3500&chunked",
            ""
        ),
        1
    );
    let r = ask(
        port,
        "GET",
        "/ch?h=Cache-Control:max-age=30&n=3500&chunked",
        "",
    );
    assert_eq!((r.body.len(), r.header("age").is_some()), (3500, true));
    // A successful POST to the object's URL drops it.
    assert_eq!(ask(port, "POST", &format!("/a?{q}"), "").status, 200);
    ask(port, "GET", &format!("/a?{q}"), "");
    assert_eq!(
        count(&hits, "/a"),
        4,
        "GET, a second object, the POST, the GET after it"
    );
}

#[test]
fn objects_expire_by_max_age() {
    let hits: Hits = Default::default();
    let o = origin(hits.clone());
    let port = free_port();
    let section = "  total-max-size 4\n  max-age 1\n";
    let _lb = Corelb::start(
        &config(port, o.port, section, ""),
        &["--shards", "1"],
        &[port],
    );
    // max-age 30 from the server, but the section allows 1 s; an ETag alone gets the section's.
    for (path, q) in [
        ("/m", "h=Cache-Control:max-age=30"),
        ("/e", "h=ETag:%22x%22"),
    ] {
        assert_eq!(fetched_twice(port, &hits, path, q, ""), 1, "{path}");
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(
            fetched_twice(port, &hits, path, q, ""),
            1,
            "{path}: expired, fetched again"
        );
    }
}

#[test]
fn what_haproxy_does_not_store_is_not_stored() {
    let hits: Hits = Default::default();
    let o = origin(hits.clone());
    let port = free_port();
    let _lb = Corelb::start(
        &config(port, o.port, SECTION, ""),
        &["--shards", "1"],
        &[port],
    );
    let ma = "h=Cache-Control:max-age=30";
    for (path, q, extra) in [
        ("/nostore", "h=Cache-Control:no-store", ""),
        ("/private", "h=Cache-Control:private", ""),
        ("/nocache", "h=Cache-Control:no-cache", ""),
        ("/ma0", "h=Cache-Control:max-age=0", ""),
        ("/pragma", "h=Pragma:no-cache", ""),
        (
            "/setcookie",
            "h=Cache-Control:no-cache=%22set-cookie%22",
            "",
        ),
        ("/nofresh", "", ""),
        (
            "/vary",
            "h=Cache-Control:max-age=30&h=Vary:Accept-Encoding",
            "",
        ),
        ("/big", "h=Cache-Control:max-age=30&n=200000", ""),
        (
            "/bigchunked",
            "h=Cache-Control:max-age=30&n=200000&chunked",
            "",
        ),
        ("/auth", ma, "Authorization: Basic eDp5\r\n"),
        ("/reqnostore", ma, "Cache-Control: no-store\r\n"),
        ("/reqnocache", ma, "Cache-Control: no-cache\r\n"),
        ("/reqpragma", ma, "Pragma: no-cache\r\n"),
        ("/oldage", "h=Cache-Control:max-age=30&h=Age:40", ""),
    ] {
        assert_eq!(
            fetched_twice(port, &hits, path, q, extra),
            2,
            "{path} was stored"
        );
    }
    // A 404 is not stored either (2.6 stores 200 only).
    for _ in 0..2 {
        assert_eq!(
            ask(port, "GET", "/gone?s=404&h=Cache-Control:max-age=30", "").status,
            404
        );
    }
    assert_eq!(count(&hits, "/gone"), 2);
    // What is stored: public with max-age, Expires in the future, Last-Modified alone, and an
    // Age within max-age.
    for (path, q) in [
        ("/public", "h=Cache-Control:public%2C%20max-age=30"),
        (
            "/expires",
            "h=Expires:Fri,%2001%20Jan%202100%2000:00:00%20GMT",
        ),
        (
            "/lastmod",
            "h=Last-Modified:Fri,%2001%20Jan%202010%2000:00:00%20GMT",
        ),
        ("/age", "h=Cache-Control:max-age=30&h=Age:10"),
    ] {
        assert_eq!(
            fetched_twice(port, &hits, path, q, ""),
            1,
            "{path} was not stored"
        );
    }
    let r = ask(port, "GET", "/age?h=Cache-Control:max-age=30&h=Age:10", "");
    assert!(r.header("age").unwrap().parse::<u32>().unwrap() >= 10);
}

#[test]
fn the_cache_stays_within_total_max_size() {
    let hits: Hits = Default::default();
    let o = origin(hits.clone());
    let port = free_port();
    // 1 MB, objects of 400 kB: two fit; the oldest go first.
    let section = "  total-max-size 1\n  max-object-size 500000\n";
    let lb = Corelb::start(
        &config(port, o.port, section, ""),
        &["--shards", "1"],
        &[port],
    );
    let q = "h=Cache-Control:max-age=60&n=400000";
    ask(port, "GET", &format!("/warm?{q}"), "");
    let before = rss_kib(lb.pid());
    for i in 0..40 {
        ask(port, "GET", &format!("/o{i}?{q}"), "");
    }
    // 16 MB of objects went through a 1 MB cache: the process did not keep them.
    let grown = rss_kib(lb.pid()).saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
    // The newest is still there, the oldest are not.
    assert_eq!(fetched_twice(port, &hits, "/o39", q, ""), 0);
    assert_eq!(fetched_twice(port, &hits, "/o0", q, ""), 1);
    assert_eq!(fetched_twice(port, &hits, "/o37", q, ""), 1);
}

#[test]
fn a_hit_is_logged_with_the_cache_as_server() {
    // As HAProxy logs its cache applet: `<CACHE>` of the proxy whose `cache-use` answered,
    // processed locally (`LR`), no wait in a queue; the frontend's `intercepted` counter
    // counts a hit of the frontend's own rule. Debian's HAProxy writes the same lines.
    // The lines of `haproxy` (None: not installed) or corelb for two requests of one object.
    let run = |haproxy: bool, in_frontend: bool| -> Option<Vec<String>> {
        let hits: Hits = Default::default();
        let o = origin(hits.clone());
        let (port, stats) = (free_port(), free_port());
        let dir = TempDir::new("cache-log");
        let out = dir.path("stdout");
        let global = if haproxy {
            "  log stderr format raw local0\n"
        } else {
            "  log stdout format raw local0\n"
        };
        let mut cfg = config(port, o.port, SECTION, global).replace(
            "defaults\n",
            "defaults\n  log global\n  log-format \"%HU %ST %ts %tsc %f %b/%s %Tw\"\n",
        );
        if in_frontend {
            let rules = "  http-request cache-use c\n  http-response cache-store c\n";
            cfg = cfg.replace(rules, "").replace(
                "  default_backend b\n",
                &format!("{rules}  default_backend b\n"),
            );
        }
        cfg.push_str(&format!(
            "listen st\n  bind 127.0.0.1:{stats}\n  no log\n  stats enable\n  stats uri /s\n"
        ));
        let h = if haproxy {
            Some(Haproxy::start(&cfg, &[port, stats])?)
        } else {
            None
        };
        let _lb = h.is_none().then(|| {
            let file = std::fs::File::create(&out).unwrap();
            let lb = Corelb::spawn_stdio(&cfg, &["--shards", "1"], Stdio::from(file), None);
            lb.wait_port(port);
            lb.wait_port(stats);
            lb
        });
        let log = || match &h {
            Some(h) => h.log(),
            None => std::fs::read_to_string(&out).unwrap_or_default(),
        };
        let q = "h=Cache-Control:max-age=30";
        assert_eq!(fetched_twice(port, &hits, "/l", q, ""), 1);
        // A conditional request answered 304 from the cache is logged so too.
        let nm = ask(port, "GET", &format!("/l?{q}"), "If-None-Match: *\r\n");
        assert_eq!(nm.status, 304);
        let lines = eventually(Duration::from_secs(5), || {
            let t = log();
            let l: Vec<String> = t
                .lines()
                .filter(|l| l.starts_with('/'))
                .map(String::from)
                .collect();
            (l.len() >= 3).then_some(l)
        });
        let mut lines = lines.expect("three log lines");
        // HAProxy may log the hit before the miss (the miss's line waits for its stream's
        // end): compare them in a stable order.
        lines.sort();
        let csv = ask(stats, "GET", "/s;csv", "").body;
        let csv = String::from_utf8_lossy(&csv);
        lines.push(format!(
            "intercepted={}",
            csv_field(&csv, "FRONTEND", "intercepted")
        ));
        Some(lines)
    };
    let q = "/l?h=Cache-Control:max-age=30";
    for (in_frontend, proxy, intercepted) in [(false, "b", 0), (true, "f", 1)] {
        let ours = run(false, in_frontend).expect("corelb's log");
        if let Some(theirs) = run(true, in_frontend) {
            assert_eq!(theirs, ours, "HAProxy's lines, then corelb's");
        }
        assert_eq!(
            ours,
            [
                format!("{q} 200 -- ---- f b/s 0"),
                format!("{q} 200 LR LR-- f {proxy}/<CACHE> 0"),
                format!("{q} 304 LR LR-- f {proxy}/<CACHE> 0"),
                format!("intercepted={}", 2 * intercepted),
            ]
        );
    }
}

#[test]
fn cache_sections_are_checked_like_haproxy() {
    let dir = TempDir::new("cache-cfg");
    let check = |body: &str, code, needle| expect_check(&dir, body, code, needle);
    check(
        "cache c\n  max-age 10\n",
        1,
        "Size not specified for cache 'c'",
    );
    check(
        "cache c\n  total-max-size 1\n  max-object-size 600000\n",
        1,
        "limited to an half of \"total-max-size\"",
    );
    check(
        "cache c\n  total-max-size 1\n  colour blue\n",
        1,
        "c.cfg:3: unknown keyword 'colour' in 'cache' section",
    );
    check(
        "defaults\n  mode http\nbackend b\n  http-request cache-use nope\n  server s 127.0.0.1:1\n",
        1,
        "c.cfg:4: unable to find the cache 'nope'",
    );
    check(
        "cache c\n  total-max-size 1\n  process-vary maybe\n",
        0,
        "c.cfg:3: warning: 'process-vary' expects \"on\" or \"off\"",
    );
    check(
        "cache c\n  total-max-size 1\n  max-secondary-entries 0\n",
        1,
        "c.cfg:3: max-secondary-entries wrong value '0'",
    );
    check(
        "cache c\n  total-max-size 1\n  max-secondary-entries 3x\n",
        1,
        "c.cfg:3: max-secondary-entries wrong value '3x'",
    );
}

/// corelb's lines equal HAProxy's, the differing pairs shown.
fn assert_same_lines(ours: &[String], theirs: &[String]) {
    let diffs: Vec<String> = ours
        .iter()
        .zip(theirs)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("corelb:  {a}\nhaproxy: {b}"))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(ours.len(), theirs.len());
}

/// Which of a list of requests reached the origin, through one proxy.
fn decisions(port: u16, hits: &Hits) -> Vec<String> {
    let mut out = Vec::new();
    for (path, q, extra) in [
        ("/d1", "h=Cache-Control:max-age=30", ""),
        ("/d2", "h=Cache-Control:no-store", ""),
        ("/d3", "h=ETag:%22x%22", ""),
        ("/d4", "", ""),
        (
            "/d5",
            "h=Cache-Control:max-age=30&h=Vary:Accept-Encoding",
            "",
        ),
        ("/d6", "h=Cache-Control:max-age=30&n=200000", ""),
        (
            "/d7",
            "h=Cache-Control:max-age=30",
            "Authorization: Basic eDp5\r\n",
        ),
        ("/d8", "h=Cache-Control:private%2C%20max-age=30", ""),
        ("/d9", "h=Cache-Control:max-age=30&chunked&n=3000", ""),
        ("/d10", "h=Cache-Control:max-age=30&h=Age:40", ""),
        (
            "/d11",
            "h=Cache-Control:max-age=30",
            "Cache-Control: no-cache\r\n",
        ),
        (
            "/d12",
            "h=Expires:Thu,%2001%20Jan%201970%2000:00:00%20GMT",
            "",
        ),
        ("/d13", "s=203&h=Cache-Control:max-age=30", ""),
    ] {
        let before = count(hits, path);
        let target = format!("{path}?{q}");
        let a = ask(port, "GET", &target, extra);
        let b = ask(port, "GET", &target, extra);
        out.push(format!(
            "{path} {q} [{}]: {} {} fetched={} age={}",
            extra.trim_end(),
            a.status,
            b.status,
            count(hits, path) - before,
            b.header("age").is_some()
        ));
    }
    out
}

#[test]
fn cache_decisions_match_haproxy() {
    let (hh, ch): (Hits, Hits) = Default::default();
    let (ho, co) = (origin(hh.clone()), origin(ch.clone()));
    let (hp, cp) = (free_port(), free_port());
    // HAProxy runs one thread here: its cache is shared by threads, corelb's per shard.
    let Some(_haproxy) = Haproxy::start(&config(hp, ho.port, SECTION, "  nbthread 1\n"), &[hp])
    else {
        return;
    };
    let _lb = Corelb::start(&config(cp, co.port, SECTION, ""), &["--shards", "1"], &[cp]);
    let (ours, theirs) = (decisions(cp, &ch), decisions(hp, &hh));
    assert_same_lines(&ours, &theirs);
}

/// With compression: HAProxy 2.6 stores no answer it compresses, stores the same answer sent
/// uncompressed, and compresses a hit like a server's answer (its compression filter runs
/// after its cache).
#[test]
fn hits_are_compressed_and_compressed_answers_not_stored_as_in_haproxy() {
    let (hh, ch): (Hits, Hits) = Default::default();
    let (ho, co) = (origin(hh.clone()), origin(ch.clone()));
    let (hp, cp) = (free_port(), free_port());
    let with_comp = |port, origin, global| {
        config(port, origin, SECTION, global).replace(
            "  default_backend b\n",
            "  default_backend b\n  compression algo gzip\n  compression type text/plain\n",
        )
    };
    let Some(_haproxy) = Haproxy::start(&with_comp(hp, ho.port, "  nbthread 1\n"), &[hp]) else {
        return;
    };
    let _lb = Corelb::start(&with_comp(cp, co.port, ""), &["--shards", "1"], &[cp]);
    let gz = "Accept-Encoding: gzip\r\n";
    let seen = |port: u16| {
        let q = "/z?h=Cache-Control:max-age=30&n=20000";
        let mut out = Vec::new();
        for extra in [gz, gz, "", gz, ""] {
            let r = ask(port, "GET", q, extra);
            let body = match r.header("content-encoding") {
                Some("gzip") => {
                    let mut v = Vec::new();
                    let mut d = flate2::read::GzDecoder::new(&r.body[..]);
                    std::io::Read::read_to_end(&mut d, &mut v).unwrap();
                    v
                }
                _ => r.body.clone(),
            };
            assert_eq!(body.len(), 20000);
            let first = String::from_utf8_lossy(&body[..10]).into_owned();
            out.push(format!(
                "[{}] {first:?} ce={:?} vary={:?} age={}",
                extra.trim_end(),
                r.header("content-encoding"),
                r.header("vary"),
                r.header("age").is_some()
            ));
        }
        out
    };
    let (ours, theirs) = (seen(cp), seen(hp));
    assert_eq!(ours, theirs);
    // Sent compressed: fetched each time; sent plain: stored; then a compressed hit.
    assert!(
        ours[1].contains("#2") && ours[2].contains("#3"),
        "{ours:#?}"
    );
    assert!(
        ours[3].contains("#3")
            && ours[3].contains("Some(\"gzip\")")
            && ours[3].ends_with("age=true")
    );
    assert_eq!((count(&ch, "/z"), count(&hh, "/z")), (3, 3));
}

/// Conditional requests for stored objects, through one proxy: what each answer looks like.
fn conditionals(port: u16, hits: &Hits) -> Vec<String> {
    let lm = "h=Last-Modified:Sun,%2006%20Nov%201994%2008:49:37%20GMT";
    let full = format!("h=Cache-Control:max-age=30&h=ETag:%22abc%22&{lm}&h=X-Foo:bar");
    // No Last-Modified: the Date field counts; with neither, the time it was stored.
    let dated = "h=Cache-Control:max-age=30&h=Date:Sun,%2006%20Nov%202011%2008:49:37%20GMT";
    let bare = "h=Cache-Control:max-age=30";
    let inm = |v: &str| format!("If-None-Match: {v}\r\n");
    let ims = |v: &str| format!("If-Modified-Since: {v}\r\n");
    let future = "Fri, 01 Jan 2100 00:00:00 GMT";
    let mut out = Vec::new();
    for (path, q, method, extra) in [
        ("/c1", full.as_str(), "GET", String::new()),
        ("/c1", &full, "GET", inm("\"abc\"")),
        ("/c1", &full, "GET", inm("W/\"abc\"")),
        ("/c1", &full, "GET", inm("\"x\", \"abc\"")),
        ("/c1", &full, "GET", inm("\"x\"") + &inm("W/\"abc\"")),
        ("/c1", &full, "GET", inm("\"x\"")),
        ("/c1", &full, "GET", inm("abc")),
        ("/c1", &full, "GET", inm("*")),
        ("/c1", &full, "GET", inm("\"x\"") + &ims(future)),
        ("/c1", &full, "GET", ims("Sun, 06 Nov 1994 08:49:37 GMT")),
        ("/c1", &full, "GET", ims("Sun, 06 Nov 1994 08:49:36 GMT")),
        ("/c1", &full, "GET", ims("Sunday, 06-Nov-94 08:49:37 GMT")),
        ("/c1", &full, "GET", ims("Sun Nov  6 08:49:38 1994")),
        ("/c1", &full, "GET", ims("06 Nov 1994")),
        ("/c1", &full, "HEAD", inm("\"abc\"")),
        ("/c2", dated, "GET", String::new()),
        ("/c2", dated, "GET", inm("\"abc\"")),
        ("/c2", dated, "GET", inm("*")),
        ("/c2", dated, "GET", ims("Sun, 06 Nov 2011 08:49:37 GMT")),
        ("/c2", dated, "GET", ims("Sun, 06 Nov 2011 08:49:36 GMT")),
        ("/c3", bare, "GET", String::new()),
        ("/c3", bare, "GET", ims("Sun, 06 Nov 2011 08:49:37 GMT")),
        ("/c3", bare, "GET", ims(future)),
    ] {
        let r = ask(port, method, &format!("{path}?{q}"), &extra);
        let h = |n| r.header(n).unwrap_or("-");
        out.push(format!(
            "{method} {path} [{}]: {} etag={} lm={} x-foo={} cl={} age={} body={} fetched={}",
            extra.trim_end().replace("\r\n", " | "),
            r.status,
            h("etag"),
            h("last-modified"),
            h("x-foo"),
            h("content-length"),
            r.header("age").is_some(),
            r.body.len(),
            count(hits, path)
        ));
    }
    out
}

#[test]
fn conditional_requests_are_answered_304_from_the_cache_as_in_haproxy() {
    let (hh, ch): (Hits, Hits) = Default::default();
    let (ho, co) = (origin(hh.clone()), origin(ch.clone()));
    let (hp, cp) = (free_port(), free_port());
    let _lb = Corelb::start(&config(cp, co.port, SECTION, ""), &["--shards", "1"], &[cp]);
    let ours = conditionals(cp, &ch);
    let status = |i: usize| ours[i].split("]: ").nth(1).unwrap()[..3].to_string();
    let statuses: Vec<String> = (0..ours.len()).map(status).collect();
    assert_eq!(
        statuses.join(" "),
        "200 304 304 304 304 200 200 304 200 304 200 304 304 200 304 200 200 304 304 200 200 200 304",
        "{ours:#?}"
    );
    // Every object was fetched once; a 304 keeps the stored fields, without the body.
    assert!(ours[1].ends_with("etag=\"abc\" lm=Sun, 06 Nov 1994 08:49:37 GMT x-foo=bar cl=16 age=true body=0 fetched=1"), "{}", ours[1]);
    assert_eq!(
        (count(&ch, "/c1"), count(&ch, "/c2"), count(&ch, "/c3")),
        (1, 1, 1)
    );
    let Some(_haproxy) = Haproxy::start(&config(hp, ho.port, SECTION, "  nbthread 1\n"), &[hp])
    else {
        return;
    };
    let theirs = conditionals(hp, &hh);
    assert_same_lines(&ours, &theirs);
}

/// `show cache` with `pointer`s, sizes and a moving expiry masked (corelb's sizes are its own
/// accounting, its pointers its own addresses): `PTR hash:H vary:0x… size:_ (_ blocks),
/// refcount:R, expire:E`, E only checked to be within a second of `max_age`.
fn masked_show_cache(out: &str, max_age: u64) -> Vec<String> {
    out.lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            if l.contains(" (shctx:") {
                let blocks = l.rsplit("available blocks:").next().unwrap();
                return format!("PTR: {} (shctx:PTR, available blocks:{blocks}", w[1]);
            }
            if !l.contains(" hash:") {
                return l.to_string();
            }
            assert!(w[0].starts_with("0x"), "{l}");
            assert!(w[3].starts_with("size:") && w[5] == "blocks),", "{l}");
            let e: u64 = w[7].strip_prefix("expire:").unwrap().parse().unwrap();
            assert!(e <= max_age && e + 1 >= max_age, "{l}");
            format!("PTR {} {} size:_ (_ blocks), {} expire:E", w[1], w[2], w[6])
        })
        .collect()
}

fn show_cache_config(port: u16, origin: u16, sock: &std::path::Path, global: &str) -> String {
    config(port, origin, SECTION, global).replace(
        "global\n",
        &format!(
            "global\n  stats socket {} mode 600 level admin\n  stats socket {}.user level user\n",
            sock.display(),
            sock.display()
        ),
    )
}

#[test]
fn show_cache_lists_the_stored_objects_as_haproxy() {
    let (hh, ch): (Hits, Hits) = Default::default();
    let (ho, co) = (origin(hh.clone()), origin(ch.clone()));
    let (hp, cp) = (free_port(), free_port());
    let dir = TempDir::new("show-cache");
    let (hs, cs) = (dir.path("h.sock"), dir.path("c.sock"));
    let _lb = Corelb::start(
        &show_cache_config(cp, co.port, &cs, ""),
        &["--shards", "1"],
        &[cp],
    );
    wait_unix_socket(&cs);
    let store = |port: u16, hits: &Hits| {
        for (path, q) in [
            ("/s1", "h=Cache-Control:max-age=30"),
            ("/s2", "h=Cache-Control:max-age=30&n=5000"),
            ("/s3", "h=Cache-Control:max-age=30&h=ETag:%22e%22"),
            ("/s4", "h=Cache-Control:no-store"),
        ] {
            fetched_twice(port, hits, path, q, "");
        }
        // An absolute target is its own key.
        ask(port, "GET", "http://t/s1?h=Cache-Control:max-age=30", "");
    };
    store(cp, &ch);
    let ours = stats_cmd(&cs, "show cache");
    let lines = masked_show_cache(&ours, 30);
    assert_eq!(lines.len(), 1 + 4 + 1, "{ours}");
    assert_eq!(
        lines[0], "PTR: c (shctx:PTR, available blocks:4096)",
        "{ours}"
    );
    assert_eq!(lines[5], "", "the reply's end");
    // Sorted by hash, as HAProxy's tree.
    let hashes: Vec<u32> = ours
        .lines()
        .skip(1)
        .filter_map(|l| l.split(" hash:").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(hashes.is_sorted() && hashes.len() == 4, "{ours}");
    assert_eq!(
        stats_cmd(&dir.path("c.sock.user"), "show cache"),
        "Permission denied\n\n"
    );
    if let Some(_h) = Haproxy::start(
        &show_cache_config(hp, ho.port, &hs, "  nbthread 1\n"),
        &[hp],
    ) {
        wait_unix_socket(&hs);
        store(hp, &hh);
        let theirs = stats_cmd(&hs, "show cache");
        assert_eq!(
            masked_show_cache(&theirs, 30),
            lines,
            "HAProxy's, then corelb's"
        );
        assert_eq!(
            stats_cmd(&dir.path("h.sock.user"), "show cache"),
            "Permission denied\n\n"
        );
    }
}

#[test]
fn show_cache_merges_the_shards_copies() {
    let hits: Hits = Default::default();
    let o = origin(hits.clone());
    let port = free_port();
    let dir = TempDir::new("show-cache-shards");
    let sock = dir.path("c.sock");
    let section = "  total-max-size 4\n  max-age 2\n";
    let cfg = show_cache_config(port, o.port, &sock, "").replace(SECTION, section);
    let _lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    wait_unix_socket(&sock);
    // Each shard fetches its own copy: ask on new connections until both did (bounded).
    for _ in 0..200 {
        if count(&hits, "/m") == 2 {
            break;
        }
        ask(port, "GET", "/m?h=Cache-Control:max-age=30", "");
    }
    assert_eq!(count(&hits, "/m"), 2, "both shards stored /m");
    let out = stats_cmd(&sock, "show cache");
    let lines = masked_show_cache(&out, 2);
    assert_eq!(lines.len(), 4, "{out}");
    // Two copies, one hash, two addresses; the header counts the whole section's blocks.
    assert_eq!(lines[1], lines[2], "{out}");
    assert_eq!(lines[0], "PTR: c (shctx:PTR, available blocks:4096)");
    let ptrs: Vec<&str> = out
        .lines()
        .skip(1)
        .take(2)
        .map(|l| &l[..l.find(' ').unwrap()])
        .collect();
    assert_ne!(ptrs[0], ptrs[1]);
    // Expired objects are not listed.
    std::thread::sleep(Duration::from_millis(2100));
    let out = stats_cmd(&sock, "show cache");
    assert_eq!(masked_show_cache(&out, 2).len(), 2, "{out}");
}

/// Requests for URLs whose answers vary, through one proxy (`process-vary on`, at most 2
/// variants per URL): which were answered from the cache, and with which encoding.
fn variants(port: u16, hits: &Hits) -> Vec<String> {
    let ae = |v: &str| format!("Accept-Encoding: {v}\r\n");
    let rf = |v: &str| format!("Referer: {v}\r\n");
    let vae = "h=Cache-Control:max-age=30&h=Vary:Accept-Encoding&ce";
    let both = "h=Cache-Control:max-age=30&h=Vary:accept-encoding,Referer&ce";
    let mut out = Vec::new();
    for (path, q, extra) in [
        ("/v1", vae, ae("gzip")),
        ("/v1", vae, ae("gzip")),
        ("/v1", vae, ae("gzip, br")),
        ("/v1", vae, String::new()),
        ("/v1", vae, ae("identity")),
        ("/v1", vae, ae("identity")),
        ("/v1", vae, ae("br")),
        ("/v1", vae, ae("gzip;q=0")),
        ("/v1", vae, ae("GZIP")),
        ("/v1", vae, ae("deflate")),
        // A third variant: more than max-secondary-entries, not stored.
        ("/v2", vae, ae("gzip")),
        ("/v2", vae, ae("br")),
        ("/v2", vae, ae("deflate;q=0.5, identity;q=0")),
        ("/v2", vae, ae("deflate;q=0.5, identity;q=0")),
        ("/v2", vae, ae("br")),
        ("/v3", both, ae("gzip") + &rf("/a")),
        ("/v3", both, ae("gzip") + &rf("/a")),
        ("/v3", both, ae("gzip") + &rf("/b")),
        ("/v3", both, ae("gzip") + &rf("/b")),
        ("/v3", both, ae("gzip")),
        ("/v4", "h=Cache-Control:max-age=30&h=Vary:Referer", rf("/a")),
        ("/v4", "h=Cache-Control:max-age=30&h=Vary:Referer", rf("/a")),
        (
            "/v5",
            "h=Cache-Control:max-age=30&h=Vary:User-Agent",
            String::new(),
        ),
        (
            "/v5",
            "h=Cache-Control:max-age=30&h=Vary:User-Agent",
            String::new(),
        ),
        ("/v6", "h=Cache-Control:max-age=30&h=Vary:*", String::new()),
        ("/v6", "h=Cache-Control:max-age=30&h=Vary:*", String::new()),
        (
            "/v7",
            "h=Cache-Control:max-age=30&h=Vary:Accept-Encoding&h=Content-Encoding:snappy",
            String::new(),
        ),
        (
            "/v7",
            "h=Cache-Control:max-age=30&h=Vary:Accept-Encoding&h=Content-Encoding:snappy",
            String::new(),
        ),
        ("/v8", "h=Cache-Control:max-age=30", String::new()),
        ("/v8", "h=Cache-Control:max-age=30", String::new()),
    ] {
        let r = ask(port, "GET", &format!("{path}?{q}"), &extra);
        let body = String::from_utf8_lossy(&r.body);
        out.push(format!(
            "{path} {q} [{}]: {} {} ce={} age={} fetched={}",
            extra.trim_end().replace("\r\n", " | "),
            r.status,
            body.split('.').next().unwrap_or_default().trim_end(),
            r.header("content-encoding").unwrap_or("-"),
            r.header("age").is_some(),
            count(hits, path)
        ));
    }
    out
}

#[test]
fn answers_with_vary_are_stored_per_variant_as_in_haproxy() {
    let (hh, ch): (Hits, Hits) = Default::default();
    let (ho, co) = (origin(hh.clone()), origin(ch.clone()));
    let (hp, cp) = (free_port(), free_port());
    let dir = TempDir::new("vary");
    let (hs, cs) = (dir.path("h.sock"), dir.path("c.sock"));
    let section = format!("{SECTION}  process-vary on\n  max-secondary-entries 2\n");
    let cfg = |port, origin, sock: &std::path::Path, global| {
        show_cache_config(port, origin, sock, global).replace(SECTION, &section)
    };
    let _lb = Corelb::start(&cfg(cp, co.port, &cs, ""), &["--shards", "1"], &[cp]);
    wait_unix_socket(&cs);
    let ours = variants(cp, &ch);
    let listed = |sock| {
        let mut l = masked_show_cache(&stats_cmd(sock, "show cache"), 30);
        l.sort();
        l
    };
    let ours_listed = listed(&cs);
    // Two encodings of /v1 stored apart; /v2's third variant was not.
    assert_eq!((count(&ch, "/v1"), count(&ch, "/v2")), (2, 4), "{ours:#?}");
    assert_eq!(count(&ch, "/v5"), 2, "Vary: User-Agent is not stored");
    // One line per stored URL (/v1 to /v4, /v8; its first variant), with its secondary
    // key: /v1's gzip bitmap.
    assert_eq!(ours_listed.len(), 1 + 5 + 1, "{ours_listed:#?}");
    assert!(
        ours_listed
            .iter()
            .any(|l| l.contains(" vary:0x0100000000000000 ")),
        "{ours_listed:#?}"
    );
    let Some(_h) = Haproxy::start(&cfg(hp, ho.port, &hs, "  nbthread 1\n"), &[hp]) else {
        return;
    };
    wait_unix_socket(&hs);
    let theirs = variants(hp, &hh);
    assert_same_lines(&ours, &theirs);
    assert_eq!(
        listed(&hs),
        ours_listed,
        "show cache: HAProxy's, then corelb's"
    );
}
