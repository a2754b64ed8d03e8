//! Hash-based balancing placed as HAProxy 2.6 places it: `balance uri` (with `len`,
//! `depth`, `whole`, `path-only`), `url_param` (with `check_post`), `hdr()` (with
//! `use_domain_only`), `source`, `hash EXPR` (strings, addresses and integers, in mode http
//! and tcp), under `hash-type map-based|consistent` with each hash
//! function and the avalanche modifier, weighted servers and configured ids. Every
//! request goes through corelb and through Debian's HAProxy on the same configuration:
//! each must reach the same server, so a cache farm moved from one to the other keeps its
//! hit ratio.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

const DEFAULTS: &str = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  \
                        timeout server 5s\n";

/// An HTTP server that answers every request with its name, then closes.
fn http_named(name: &'static str) -> Backend {
    Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The head, then as much body as Content-Length says.
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let cl: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + cl {
                    break;
                }
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
            name.len()
        );
        let _ = s.write_all(r.as_bytes());
        let _ = s.shutdown(Shutdown::Write);
    })
}

/// Sends `req` from `from` and returns the body of the answer (the server's name).
fn ask(from: &str, port: u16, req: &str) -> String {
    let mut s = connect_from(from, ("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.to_string(),
        _ => format!("<{}>", text.lines().next().unwrap_or("nothing")),
    }
}

fn get(target: &str, extra: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: h\r\n{extra}Connection: close\r\n\r\n")
}

/// One case: a `listen` section's balancing lines and the requests sent to it.
struct Case {
    lines: &'static str,
    servers: &'static str,
    requests: Vec<(String, String)>,
}

fn cases() -> Vec<Case> {
    let n = 40;
    let uris: Vec<String> = (0..n)
        .map(|i| format!("/d{}/s{}/file{i}.png?v={}&w={}", i % 7, i % 5, i % 3, i))
        .collect();
    let local = |reqs: Vec<String>| -> Vec<(String, String)> {
        reqs.into_iter()
            .map(|r| ("127.0.0.1".to_string(), r))
            .collect()
    };
    // Weights with a common divisor (HAProxy's map divides by it), and unequal ones.
    let w10 = "a w10,b w20,c w30,d w10";
    let w123 = "a w1,b w2,c w3,d w1";
    vec![
        Case {
            lines: "balance uri",
            servers: w10,
            requests: local(uris.iter().map(|u| get(u, "")).collect()),
        },
        Case {
            lines: "balance uri\n  hash-type consistent",
            servers: w123,
            requests: local(uris.iter().map(|u| get(u, "")).collect()),
        },
        Case {
            lines: "balance uri whole len 14 depth 2\n  hash-type map-based djb2",
            servers: w123,
            requests: local(uris.iter().map(|u| get(u, "")).collect()),
        },
        Case {
            lines: "balance uri path-only\n  hash-type consistent crc32",
            servers: w123,
            requests: local(
                uris.iter()
                    .map(|u| {
                        format!("GET http://h{u} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                    })
                    .collect(),
            ),
        },
        Case {
            lines: "balance url_param uid check_post\n  hash-type map-based wt6 avalanche\n  \
                    option http-buffer-request",
            servers: w123,
            requests: local(
                (0..n)
                    .map(|i| {
                        if i % 2 == 0 {
                            get(&format!("/p?a=1&uid=u{i}&b=2"), "")
                        } else {
                            let body = format!("x=1&uid=u{i}");
                            format!(
                                "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\
                                 Connection: close\r\n\r\n{body}",
                                body.len()
                            )
                        }
                    })
                    .collect(),
            ),
        },
        Case {
            lines: "balance hdr(X-User)\n  hash-type consistent djb2 avalanche",
            servers: "a w1,b w1,c w2,d w1",
            requests: local(
                (0..n)
                    .map(|i| get("/", &format!("X-User: user{i}, other\r\n")))
                    .collect(),
            ),
        },
        Case {
            lines: "balance hdr(Host) use_domain_only",
            servers: w10,
            requests: local(
                (0..n)
                    .map(|i| {
                        format!(
                            "GET / HTTP/1.1\r\nHost: www.site{i}.example:8080\r\n\
                             Connection: close\r\n\r\n"
                        )
                    })
                    .collect(),
            ),
        },
        Case {
            lines: "balance source",
            servers: w123,
            requests: (0..n)
                .map(|i| {
                    (
                        format!("127.{}.{}.{}", i % 3, i * 7 % 256, i + 1),
                        get("/", ""),
                    )
                })
                .collect(),
        },
        Case {
            // Ids not in declaration order: the ring's points follow the ids.
            lines: "balance source\n  hash-type consistent",
            servers: "a w1 id7,b w2 id3,c w1 id12,d w1 id5",
            requests: (0..n)
                .map(|i| {
                    (
                        format!("127.{}.{}.{}", i % 5, i * 11 % 256, i + 2),
                        get("/", ""),
                    )
                })
                .collect(),
        },
        Case {
            lines: "balance hash req.hdr(X-Key),lower",
            servers: w123,
            requests: local(
                (0..n)
                    .map(|i| get("/", &format!("X-Key: Key{i}\r\n")))
                    .collect(),
            ),
        },
        Case {
            lines: "balance hash req.cook(sid)\n  hash-type consistent crc32 avalanche",
            servers: w10,
            requests: local(
                (0..n)
                    .map(|i| get("/", &format!("Cookie: a=1; sid=s{i}\r\n")))
                    .collect(),
            ),
        },
        Case {
            // An address hashes as its 4 bytes, an integer as its 8.
            lines: "balance hash src\n  hash-type consistent",
            servers: w123,
            requests: (0..n)
                .map(|i| {
                    (
                        format!("127.{}.{}.{}", i % 4, i * 13 % 256, i + 3),
                        get("/", ""),
                    )
                })
                .collect(),
        },
        Case {
            lines: "balance hash req.hdr_cnt(X-A)\n  hash-type consistent",
            servers: w123,
            requests: local(
                (0..n)
                    .map(|i| get("/", &"X-A: 1\r\n".repeat(i % 9)))
                    .collect(),
            ),
        },
        Case {
            lines: "mode tcp\n  balance hash src",
            servers: w123,
            requests: (0..n)
                .map(|i| {
                    (
                        format!("127.{}.{}.{}", i % 3, i * 5 % 256, i + 4),
                        get("/", ""),
                    )
                })
                .collect(),
        },
    ]
}

/// `a w10,b w20 id3` → server lines.
fn server_lines(spec: &str, ports: &[(char, u16)]) -> String {
    let mut out = String::new();
    for s in spec.split(',') {
        let mut w = s.split(' ');
        let name = w.next().unwrap();
        let port = ports.iter().find(|(n, _)| n.to_string() == name).unwrap().1;
        out += &format!("  server {name} 127.0.0.1:{port}");
        for opt in w {
            if let Some(v) = opt.strip_prefix('w') {
                out += &format!(" weight {v}");
            } else if let Some(v) = opt.strip_prefix("id") {
                out += &format!(" id {v}");
            }
        }
        out += "\n";
    }
    out
}

type Start = dyn Fn(&str, &[u16]) -> Option<Box<dyn std::any::Any>>;

/// Every case's answers, one line per request: `case request-index server`.
fn run(start: &Start) -> Option<Vec<Vec<String>>> {
    let backends = [
        ('a', http_named("a")),
        ('b', http_named("b")),
        ('c', http_named("c")),
        ('d', http_named("d")),
    ];
    let ports: Vec<(char, u16)> = backends.iter().map(|(n, b)| (*n, b.port)).collect();
    let cases = cases();
    let fronts: Vec<u16> = cases.iter().map(|_| free_port()).collect();
    let mut cfg = DEFAULTS.to_string();
    for (i, (c, port)) in cases.iter().zip(&fronts).enumerate() {
        cfg += &format!(
            "listen case{i}\n  bind 127.0.0.1:{port}\n  {}\n{}",
            c.lines,
            server_lines(c.servers, &ports)
        );
    }
    let p = start(&cfg, &fronts)?;
    let got = cases
        .iter()
        .zip(&fronts)
        .map(|(c, &port)| {
            c.requests
                .iter()
                .map(|(from, r)| ask(from, port, r))
                .collect()
        })
        .collect();
    drop(p);
    Some(got)
}

#[test]
fn hashing_places_requests_on_haproxys_servers() {
    let lb = run(&|cfg, ports| Some(Box::new(Corelb::start(cfg, &[], ports)))).unwrap();
    let cases = cases();
    for (c, got) in cases.iter().zip(&lb) {
        // Every request was answered, and the keys spread over the servers.
        assert!(got.iter().all(|s| s.len() == 1), "{}: {got:?}", c.lines);
        let used: std::collections::BTreeSet<&String> = got.iter().collect();
        assert!(used.len() >= 2, "{}: only {used:?}", c.lines);
    }
    let Some(hap) = run(&|cfg, ports| {
        Haproxy::start(cfg, ports).map(|h| Box::new(h) as Box<dyn std::any::Any>)
    }) else {
        return;
    };
    for ((c, l), h) in cases.iter().zip(&lb).zip(&hap) {
        let differ: Vec<String> = l
            .iter()
            .zip(h)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("request {i}: corelb {a}, HAProxy {b}"))
            .collect();
        assert!(differ.is_empty(), "{}:\n{}", c.lines, differ.join("\n"));
    }
}

#[test]
fn hash_type_and_hash_options_are_checked_as_haproxy_checks_them() {
    let dir = TempDir::new("hash-cfg");
    let be = |lines: &str| format!("{DEFAULTS}backend be\n  {lines}\n  server s 127.0.0.1:80\n");
    expect_check(
        &dir,
        &be("hash-type ring"),
        1,
        "c.cfg:7: 'hash-type' only supports 'consistent' and 'map-based'.",
    );
    expect_check(
        &dir,
        &be("hash-type map-based md5"),
        1,
        "c.cfg:7: 'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
    );
    expect_check(
        &dir,
        &be("hash-type consistent sdbm bits"),
        1,
        "c.cfg:7: 'hash-type' only supports 'avalanche' as a modifier for hash functions.",
    );
    expect_check(
        &dir,
        &be("hash-type avalanche"),
        1,
        "c.cfg:7: experimental feature 'hash-type avalanche' is not supported anymore",
    );
    expect_check(
        &dir,
        &be("balance hash"),
        1,
        "c.cfg:7: hash requires a sample expression.",
    );
    expect_check(
        &dir,
        &be("balance hash src dst"),
        1,
        "c.cfg:7: hash takes no other argument (got 'dst').",
    );
    expect_check(
        &dir,
        &be("balance hash no_such_fetch"),
        1,
        "c.cfg:7: 'balance hash no_such_fetch'",
    );
    expect_check(
        &dir,
        &be("balance url_param uid check_get"),
        1,
        "c.cfg:7: url_param only accepts 'check_post' modifier (got 'check_get').",
    );
    for ok in [
        "hash-type consistent wt6 avalanche",
        "hash-type map-based crc32",
        "balance url_param uid check_post",
        "balance hash req.hdr(host),lower",
    ] {
        let (code, out, err) = check_config(&dir.write("ok.cfg", &be(ok)));
        assert_eq!(code, 0, "{ok}: {out}{err}");
        assert!(
            !format!("{out}{err}").contains("ignored"),
            "{ok}: {out}{err}"
        );
    }
}
