//! `compression algo|type|offload` and `filter compression` end to end: which responses are
//! compressed (HAProxy 2.6's rules), that the bodies decompress to what the server sent (by
//! Content-Length, chunked, large, HTTP/2), that compression streams, and that Debian's
//! HAProxy makes the same decisions on the same configuration.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The body the origin serves for `n` bytes: text that compresses, different on every line.
fn text_body(n: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..)
        .flat_map(|i: u64| format!("line {i} of the body\n").into_bytes())
        .take(n)
        .collect();
    v.truncate(n);
    v
}

/// What the origin saw of each request: its Accept-Encoding (if any).
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// An HTTP/1.1 keep-alive origin. The path says what it answers:
/// `/cl/N` N bytes of text/plain by Content-Length, `/chunked/N` the same in 4 KiB chunks as
/// text/html, `/png/N` image/png, `/204`, `/head/N` (for HEAD), `/encoded/N` (Content-Encoding
/// already set), `/notransform/N`, `/etag/N` (a strong ETag), `/notype/N` (no Content-Type),
/// `/close/N` (close-delimited), `/404/N`, `/multipart/N`, `/http10/N` (an HTTP/1.0 answer),
/// `/stream/N` (half, then waits for the test's go, then the rest, chunked).
fn origin(seen: Seen, go: Option<Arc<Mutex<mpsc::Receiver<()>>>>) -> Backend {
    Backend::start(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let Some(req) = read_request_head(&mut r) else {
                return;
            };
            let (method, path) = (req.method.clone(), req.target.clone());
            let ae = req.header("accept-encoding").map(str::to_string);
            seen.lock().unwrap().push(ae);
            let mut parts = path.trim_start_matches('/').split('/');
            let kind = parts.next().unwrap_or("").to_string();
            let n: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
            let body = text_body(n);
            let head_only = method == "HEAD";
            let send = |w: &mut TcpStream, status: &str, extra: &str, body: &[u8]| {
                let head = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n",
                    body.len()
                );
                w.write_all(head.as_bytes())?;
                if !head_only {
                    w.write_all(body)?;
                }
                Ok::<(), std::io::Error>(())
            };
            let res = match kind.as_str() {
                "cl" | "head" => send(&mut w, "200 OK", "Content-Type: text/plain\r\n", &body),
                "png" => send(&mut w, "200 OK", "Content-Type: image/png\r\n", &body),
                "404" => send(
                    &mut w,
                    "404 Not Found",
                    "Content-Type: text/plain\r\n",
                    &body,
                ),
                "encoded" => send(
                    &mut w,
                    "200 OK",
                    "Content-Type: text/plain\r\nContent-Encoding: br\r\n",
                    &body,
                ),
                "notransform" => send(
                    &mut w,
                    "200 OK",
                    "Content-Type: text/plain\r\nCache-Control: public, no-transform\r\n",
                    &body,
                ),
                "etag" => send(
                    &mut w,
                    "200 OK",
                    "Content-Type: text/plain\r\nETag: \"v1\"\r\n",
                    &body,
                ),
                "multipart" => send(
                    &mut w,
                    "200 OK",
                    "Content-Type: multipart/mixed; boundary=x\r\n",
                    &body,
                ),
                "notype" => send(&mut w, "200 OK", "", &body),
                "204" => {
                    w.write_all(b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n")
                }
                "http10" => {
                    let head = format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = w.write_all(head.as_bytes());
                    let _ = w.write_all(&body);
                    return;
                }
                "close" => {
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                    );
                    let _ = w.write_all(&body);
                    let _ = w.shutdown(Shutdown::Both);
                    return;
                }
                "chunked" | "stream" => {
                    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                    let half = body.len() / 2;
                    let mut res = Ok(());
                    let mut held = kind != "stream" || go.is_none();
                    for (i, c) in body.chunks(4096).enumerate() {
                        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                        out.extend_from_slice(c);
                        out.extend_from_slice(b"\r\n");
                        if !held && (i + 1) * 4096 >= half {
                            held = true;
                            // Hold the rest until the client has decoded the first half.
                            res = w.write_all(&out);
                            out.clear();
                            let _ = go
                                .as_ref()
                                .unwrap()
                                .lock()
                                .unwrap()
                                .recv_timeout(Duration::from_secs(10));
                            let _ = w.write_all(&out);
                        }
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                    res.and(w.write_all(&out))
                }
                _ => send(&mut w, "400 Bad Request", "", b""),
            };
            if res.is_err() {
                return;
            }
        }
    })
}

fn config(port: u16, origin: u16, comp: &str) -> String {
    format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend f\n  bind 127.0.0.1:{port}\n{comp}  default_backend b\n\
         backend b\n  server s 127.0.0.1:{origin}\n"
    )
}

const COMP: &str = "  compression algo gzip\n  compression type text/plain text/html\n";

/// One request on its own connection; the raw response.
fn ask(port: u16, method: &str, path: &str, extra: &str) -> HttpResponse {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = c.try_clone().unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n");
    w.write_all(req.as_bytes()).unwrap();
    read_response(&mut BufReader::new(c), method == "HEAD").unwrap()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn compressed(r: &HttpResponse) -> bool {
    r.header("content-encoding").is_some()
}

#[test]
fn listed_types_are_gzipped_and_decompress_to_the_original() {
    let seen: Seen = Default::default();
    let o = origin(seen.clone(), None);
    let port = free_port();
    let _lb = Corelb::start(&config(port, o.port, COMP), &[], &[port]);
    let gz = "Accept-Encoding: gzip, deflate\r\n";
    for path in ["/cl/20000", "/chunked/20000", "/etag/5000"] {
        let r = ask(port, "GET", path, gz);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-encoding"),
            Some("gzip"),
            "{path}: {:?}",
            r.headers
        );
        assert_eq!(r.header("content-length"), None, "{path}");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{path}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{path}");
        let n: usize = path.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(gunzip(&r.body), text_body(n), "{path}");
        if n >= 5000 {
            assert!(r.body.len() < n / 2, "{path}: {} bytes", r.body.len());
        }
    }
    assert_eq!(
        ask(port, "GET", "/etag/10", gz).header("etag"),
        Some("W/\"v1\"")
    );
    // Left alone: a type not listed, no type, already encoded, no-transform, multipart, 404,
    // 204, HEAD, close-delimited, an HTTP/1.0 server or client, a client without gzip.
    let plain = |r: &HttpResponse, what: &str| {
        assert!(!compressed(r), "{what}: {:?}", r.headers);
        assert_eq!(r.header("vary"), None, "{what}");
    };
    for path in [
        "/png/5000",
        "/notype/5000",
        "/notransform/5000",
        "/multipart/5000",
        "/404/5000",
        "/204",
        "/close/5000",
        "/http10/5000",
    ] {
        let r = ask(port, "GET", path, gz);
        plain(&r, path);
        if path != "/204" {
            assert_eq!(r.body, text_body(5000), "{path}");
        }
    }
    // Content-Length: 0 is a body-less message to HAProxy: nothing to compress.
    plain(&ask(port, "GET", "/cl/0", gz), "/cl/0");
    assert_eq!(
        ask(port, "GET", "/encoded/10", gz).header("content-encoding"),
        Some("br")
    );
    plain(&ask(port, "HEAD", "/head/5000", gz), "HEAD");
    plain(&ask(port, "GET", "/cl/5000", ""), "no Accept-Encoding");
    plain(
        &ask(port, "GET", "/cl/5000", "Accept-Encoding: br, gzip;q=0\r\n"),
        "gzip;q=0",
    );
    let old_ua = "User-Agent: Mozilla/4.0 (X11)\r\nAccept-Encoding: gzip\r\n";
    plain(&ask(port, "GET", "/cl/5000", old_ua), "Mozilla/4");
    let c10 = raw_exchange(
        port,
        b"GET /cl/5000 HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert!(
        !c10.to_ascii_lowercase().contains("content-encoding"),
        "{c10}"
    );
    // Without offload the server saw the client's Accept-Encoding.
    assert!(seen.lock().unwrap().contains(&Some("gzip, deflate".into())));
}

#[test]
fn curl_compressed_and_plain_get_the_same_bytes_keep_alive_and_h2() {
    let o = origin(Default::default(), None);
    let port = free_port();
    let comp = "  compression algo deflate gzip raw-deflate\n  compression type text/\n";
    let cfg = config(port, o.port, comp).replace(
        &format!("bind 127.0.0.1:{port}"),
        &format!("bind 127.0.0.1:{port} proto h2"),
    );
    let h1 = free_port();
    let cfg = cfg.replace(
        "  default_backend b\n",
        &format!(
            "  default_backend b\nfrontend f1\n  bind 127.0.0.1:{h1}\n{comp}  default_backend b\n"
        ),
    );
    let _lb = Corelb::start(&cfg, &[], &[port, h1]);
    let dir = TempDir::new("curl-comp");
    for (path, n) in [("/cl/300000", 300_000), ("/chunked/3000000", 3_000_000)] {
        for (proto, p) in [("--http1.1", h1), ("--http2-prior-knowledge", port)] {
            // HTTP/1.1: two URLs on one connection, keep-alive after a compressed answer.
            // (HTTP/2: one stream; a second request on the same h2c connection fails with
            // curl 7.88 on main too, compression or not.)
            let url = format!("http://127.0.0.1:{p}{path}");
            let mut cmd = Command::new("curl");
            cmd.args(["-sS", "--compressed", proto, "-D", "-", "-o"])
                .arg(dir.path("a"));
            let urls = if p == h1 {
                vec![&url, &url]
            } else {
                vec![&url]
            };
            if p == h1 {
                cmd.arg("-o").arg(dir.path("b"));
            }
            let out = cmd.args(urls).output().expect("curl");
            let heads = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
            assert!(
                out.status.success(),
                "{proto} {path}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // curl offers deflate, gzip (and br, zstd where built): the last configured
            // algorithm HAProxy prefers is raw-deflate, announced as deflate.
            let n_urls = if p == h1 { 2 } else { 1 };
            assert_eq!(
                heads.matches("content-encoding: deflate").count(),
                n_urls,
                "{heads}"
            );
            for f in &["a", "b"][..n_urls] {
                assert_eq!(
                    std::fs::read(dir.path(f)).unwrap(),
                    text_body(n),
                    "{proto} {path} {f}"
                );
            }
            let plain = Command::new("curl")
                .args(["-sS", proto, "-D", "-", &url])
                .output()
                .expect("curl");
            let text = String::from_utf8_lossy(&plain.stdout).to_ascii_lowercase();
            assert!(!text.contains("content-encoding"), "{proto} {path}");
        }
    }
}

#[test]
fn a_large_body_is_compressed_as_it_flows() {
    // The origin sends half of a chunked body and waits: the client decodes that half before
    // the rest exists, so nothing held the body back.
    let (tx, rx) = mpsc::channel();
    let o = origin(Default::default(), Some(Arc::new(Mutex::new(rx))));
    let port = free_port();
    let _lb = Corelb::start(&config(port, o.port, COMP), &[], &[port]);
    let n = 2_000_000;
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = c.try_clone().unwrap();
    w.write_all(
        format!("GET /stream/{n} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(c);
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 2 {
        line.clear();
    }
    let mut dec = flate2::write::GzDecoder::new(Vec::new());
    let mut released = false;
    loop {
        let mut sz = String::new();
        r.read_line(&mut sz).unwrap();
        let len = usize::from_str_radix(sz.trim(), 16).unwrap();
        let mut chunk = vec![0u8; len + 2];
        r.read_exact(&mut chunk).unwrap();
        if len == 0 {
            break;
        }
        dec.write_all(&chunk[..len]).unwrap();
        dec.flush().unwrap();
        if !released && dec.get_ref().len() >= n / 2 {
            released = true;
            tx.send(()).unwrap();
        }
    }
    assert!(
        released,
        "the first half never came through before the rest was sent"
    );
    assert_eq!(dec.finish().unwrap(), text_body(n));
}

#[test]
fn offload_hides_accept_encoding_from_the_server() {
    let seen: Seen = Default::default();
    let o = origin(seen.clone(), None);
    let port = free_port();
    let comp = "  compression algo gzip\n  compression offload\n";
    let _lb = Corelb::start(&config(port, o.port, comp), &[], &[port]);
    let r = ask(port, "GET", "/notype/3000", "Accept-Encoding: gzip\r\n");
    assert_eq!(gunzip(&r.body), text_body(3000));
    // No algorithm in common: the field stays (HAProxy removes it only when compressing).
    let r = ask(port, "GET", "/cl/10", "Accept-Encoding: br\r\n");
    assert!(!compressed(&r));
    assert_eq!(*seen.lock().unwrap(), [None, Some("br".to_string())]);
}

#[test]
fn filter_lines_are_checked_like_haproxy() {
    let dir = TempDir::new("comp-cfg");
    let check = |body: &str, code, needle| {
        expect_check(
            &dir,
            &format!("defaults\n  mode http\n{body}"),
            code,
            needle,
        )
    };
    check(
        "frontend f\n  bind :0\n  compression algo brotli\n",
        1,
        "c.cfg:5: 'compression' : 'brotli' is not a supported algorithm",
    );
    check(
        "frontend f\n  bind :0\n  filter compression\n  filter cache c\n",
        1,
        "unable to enable the compression filter before any cache filter",
    );
    check(
        "defaults\n  compression offload\n",
        0,
        "'offload' ignored in 'defaults' section",
    );
    check(
        "frontend f\n  bind :0\n  filter compression\n  filter compression\n",
        1,
        "supports only one compression filter",
    );
}

/// Which answers each proxy compresses, and the headers that say so.
fn decisions(port: u16) -> Vec<String> {
    let gz = "Accept-Encoding: gzip;q=0.8, deflate\r\n";
    let mut out = Vec::new();
    for (method, path, extra) in [
        ("GET", "/cl/5000", gz),
        ("GET", "/chunked/5000", gz),
        ("GET", "/cl/0", gz),
        ("GET", "/etag/500", gz),
        ("GET", "/png/500", gz),
        ("GET", "/notype/500", gz),
        ("GET", "/encoded/500", gz),
        ("GET", "/notransform/500", gz),
        ("GET", "/multipart/500", gz),
        ("GET", "/404/500", gz),
        ("GET", "/204", gz),
        ("HEAD", "/head/500", gz),
        ("GET", "/close/500", gz),
        ("GET", "/http10/500", gz),
        ("GET", "/cl/500", ""),
        ("GET", "/cl/500", "Accept-Encoding: *\r\n"),
        ("GET", "/cl/500", "Accept-Encoding: identity\r\n"),
        ("GET", "/cl/500", "Accept-Encoding: gzip;q=0\r\n"),
        (
            "GET",
            "/cl/500",
            "User-Agent: Mozilla/4.0 (X11)\r\nAccept-Encoding: gzip\r\n",
        ),
    ] {
        let r = ask(port, method, path, extra);
        let h = |n| r.header(n).unwrap_or("-").to_string();
        let body_ok = match r.header("content-encoding") {
            Some("gzip") => gunzip(&r.body).len(),
            Some("deflate") => {
                let mut v = Vec::new();
                flate2::read::ZlibDecoder::new(&r.body[..])
                    .read_to_end(&mut v)
                    .unwrap();
                v.len()
            }
            _ => r.body.len(),
        };
        out.push(format!(
            "{method} {path} [{}]: {} ce={} te={} cl={} vary={} etag={} body={body_ok}",
            extra.trim_end(),
            r.status,
            h("content-encoding"),
            h("transfer-encoding"),
            r.header("content-length").is_some(),
            h("vary"),
            h("etag"),
        ));
    }
    out
}

#[test]
fn compression_decisions_match_haproxy() {
    let o = origin(Default::default(), None);
    let (cp, hp) = (free_port(), free_port());
    let comp = "  compression algo gzip deflate\n  compression type text/plain text/html\n";
    let Some(_haproxy) = Haproxy::start(&config(hp, o.port, comp), &[hp]) else {
        return;
    };
    let _lb = Corelb::start(&config(cp, o.port, comp), &[], &[cp]);
    let (ours, theirs) = (decisions(cp), decisions(hp));
    let diffs: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("corelb:  {a}\nhaproxy: {b}"))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// `tune.comp.maxlevel`: the level of compression (HAProxy's default 1). Level 9 gives a
/// smaller body than level 1, and both decompress to what the server sent. Not compared with
/// Debian's HAProxy: it is built with libslz (`haproxy -vv`), which has a single level.
/// Out of range is HAProxy's error.
#[test]
fn comp_maxlevel_sets_the_compression_level() {
    let o = origin(Default::default(), None);
    let n = 300_000;
    let mut sizes = Vec::new();
    for level in [1, 9] {
        let port = free_port();
        let cfg = format!(
            "global\n  tune.comp.maxlevel {level}\n{}",
            config(port, o.port, COMP)
        );
        let _lb = Corelb::start(&cfg, &[], &[port]);
        let r = ask(
            port,
            "GET",
            &format!("/cl/{n}"),
            "Accept-Encoding: gzip\r\n",
        );
        assert!(compressed(&r), "level {level}");
        assert_eq!(gunzip(&r.body), text_body(n), "level {level}");
        sizes.push(r.body.len());
    }
    assert!(
        sizes[1] < sizes[0],
        "level 9 is not smaller than level 1: {sizes:?}"
    );
    let dir = TempDir::new("maxlevel");
    for bad in ["0", "10", "x"] {
        expect_check(
            &dir,
            &format!("global\n  tune.comp.maxlevel {bad}\n"),
            1,
            "c.cfg:2: 'tune.comp.maxlevel' expects a numeric value between 1 and 9",
        );
    }
}

/// `maxzlibmem 1` (MB): each compressing stream is charged what zlib allocates for one
/// (about 262 KB), so three responses compress at once and a fourth goes as it is; once
/// they end, a new one compresses again.
#[test]
fn maxzlibmem_leaves_responses_uncompressed_past_the_limit() {
    let (tx, rx) = mpsc::channel();
    let o = origin(Default::default(), Some(Arc::new(Mutex::new(rx))));
    let port = free_port();
    let cfg = format!("global\n  maxzlibmem 1\n{}", config(port, o.port, COMP));
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let n = 200_000;
    // Each held in the middle of its body by the origin; its head tells whether it is
    // compressed.
    let mut held = Vec::new();
    for _ in 0..4 {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = c.try_clone().unwrap();
        w.write_all(
            format!(
                "GET /stream/{n} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut r = BufReader::new(c);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            head.push_str(&line);
        }
        held.push((
            head.to_ascii_lowercase().contains("content-encoding: gzip"),
            r,
        ));
    }
    let gz: Vec<bool> = held.iter().map(|h| h.0).collect();
    assert_eq!(gz, [true, true, true, false]);
    for _ in 0..4 {
        tx.send(()).unwrap();
    }
    for (_, mut r) in held {
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
    }
    // The streams gave their share back.
    let r = eventually(Duration::from_secs(5), || {
        let r = ask(
            port,
            "GET",
            &format!("/cl/{n}"),
            "Accept-Encoding: gzip\r\n",
        );
        compressed(&r).then_some(r)
    })
    .expect("compression never came back");
    assert_eq!(gunzip(&r.body), text_body(n));
}
