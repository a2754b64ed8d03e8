//! Microbenchmark of ACL conditions and log-format rendering (`corelb::acl`).
//!
//! `cargo run --release --example acl_bench`
//!
//! Method: as `http_codec_bench`: each figure is the best of 11 timed runs of a fixed number
//! of iterations after a warm-up, inputs and results through `black_box`. The request is
//! parsed once by the proxy's codec and evaluated through `RequestSample`, as the proxy
//! would. Figures are nanoseconds per evaluation on the machine at hand: compare ratios.
//!
//! On a shared machine, instruction counts are steadier than times: run one case alone,
//! `perf stat -e instructions:u target/release/examples/acl_bench 5-term`, and divide by
//! the evaluations it reports.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use corelb::acl::{Acls, Cond, ConnInfo, LogFormat, ParseCtx, RequestSample};
use corelb::h1::{HeadLimits, RequestHead, parse_request};

/// A Firefox navigation: 10 fields, 400-odd bytes.
const REQUEST: &[u8] = b"GET /products/list?page=2&sort=price HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://shop.example.com/\r\n\
Cookie: session=8f14e45fceea167a; theme=dark\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

const RUNS: usize = 11;
const ITERS: u64 = 1_000_000;

fn best_ns(iters: u64, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn main() {
    let mut head = RequestHead::with_capacity(&HeadLimits::default());
    parse_request(REQUEST, &HeadLimits::default(), &mut head).expect("valid request");
    let conn = ConnInfo {
        src: Some(SocketAddr::from(([203, 0, 113, 7], 51234))),
        dst: Some(SocketAddr::from(([10, 0, 0, 2], 443))),
        tls: None,
        h2: false,
        glitches: None,
        fd: None,
        vars: Default::default(),
        ..Default::default()
    };
    let nbsrv = |_: usize| 2;
    let s = RequestSample {
        head: Some((&head, REQUEST)),
        conn: &conn,
        nbsrv: &nbsrv,
        stopping: false,
        stick: None,
        txn: None,
        addrs: None,
        strm: None,
    };

    let mut ctx = ParseCtx::new("myfrontend");
    let mut acls = Acls::new();
    for d in [
        // Seed 002.
        "acl_example1 url_sub example1",
        "acl_example2 url_sub example2",
        // A typical content-switching set.
        "is_shop hdr(host) -i shop.example.com",
        "is_api path_beg /api/ /v1/",
        "is_static path_end .css .js .png .jpg",
        "internal src 10.0.0.0/8 192.168.0.0/16",
        "has_session req.cook(session) -m found",
    ] {
        acls.define(&words(d), &mut ctx).unwrap();
    }
    let seed = Cond::parse(&words("if acl_example1"), &acls, &mut ctx).unwrap();
    let five = Cond::parse(
        &words("if is_shop !is_api !is_static !internal has_session"),
        &acls,
        &mut ctx,
    )
    .unwrap();
    let anon = Cond::parse(
        &words("if { hdr_dom(host) -i example.com } METH_GET { path_reg ^/products/[a-z]+$ }"),
        &acls,
        &mut ctx,
    )
    .unwrap();
    let port = LogFormat::parse("%[dst_port]", &mut ctx).unwrap();
    let xff = LogFormat::parse("%[src] %[req.hdr(host),lower] %[ssl_fc]", &mut ctx).unwrap();
    assert!(!seed.eval(&acls, &s), "the request has no example1");
    assert!(five.eval(&acls, &s) && anon.eval(&acls, &s));

    let only = std::env::args().nth(1).unwrap_or_default();
    let evals = ITERS / 10 + ITERS * RUNS as u64;
    println!(
        "corelb::acl microbenchmark ({RUNS} runs x {ITERS} iterations, best run; \
         {evals} evaluations per case)"
    );
    let mut out = Vec::with_capacity(128);
    let case = |name: &str, f: &mut dyn FnMut()| {
        if name.contains(only.as_str()) {
            println!("  {name:<58} {:7.1} ns", best_ns(ITERS, f));
        }
    };
    case("seed 002 `if acl_example1` (url_sub, miss)", &mut || {
        black_box(seed.eval(black_box(&acls), black_box(&s)));
    });
    case(
        "5-term condition (hdr -i, !path_beg, !path_end, !src, cook)",
        &mut || {
            black_box(five.eval(black_box(&acls), black_box(&s)));
        },
    );
    case("anonymous hdr_dom -i, METH_GET, path_reg", &mut || {
        black_box(anon.eval(black_box(&acls), black_box(&s)));
    });
    case("render %[dst_port]", &mut || {
        out.clear();
        port.render(black_box(&s), &mut out);
        black_box(&out);
    });
    case(
        "render %[src] %[req.hdr(host),lower] %[ssl_fc]",
        &mut || {
            out.clear();
            xff.render(black_box(&s), &mut out);
            black_box(&out);
        },
    );
}
