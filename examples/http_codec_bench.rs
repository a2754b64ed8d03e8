//! Microbenchmark of the HTTP/1.1 codec (`corelb::proxy::http`).
//!
//! `cargo run --release --example http_codec_bench`
//!
//! Method: each figure is the best of 11 timed runs (the least disturbed by other work on a
//! shared machine), each run a fixed number of iterations after a warm-up; inputs and outputs
//! go through `black_box` so nothing is optimised away. Head figures are per request head;
//! chunked figures are per MiB of chunked body fed in 16 KiB reads. Timings only, on the
//! machine at hand: compare ratios, not absolute numbers, across machines.

use std::hint::black_box;
use std::time::Instant;

use corelb::h1::{
    ChunkedScanner, ConnectionHeader, Edits, HeadLimits, Parsed, RequestHead, parse_request,
    serialize_request,
};

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

/// Best nanoseconds per iteration over `RUNS` runs of `iters` iterations.
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

fn chunked_body(chunk: usize, total: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(total + total / chunk.max(1) * 16 + 16);
    let mut left = total;
    while left > 0 {
        let n = chunk.min(left);
        body.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        body.resize(body.len() + n, b'x');
        body.extend_from_slice(b"\r\n");
        left -= n;
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

fn main() {
    let limits = HeadLimits::HAPROXY_DEFAULT;
    let mut head = RequestHead::with_capacity(&limits);
    let mut out = Vec::with_capacity(1024);
    let fields = 10;
    println!(
        "request head: {} bytes, {fields} fields; best of {RUNS} runs",
        REQUEST.len()
    );

    // The tokenizer alone, for reference: what the validation and spans add is the
    // difference with the next line.
    let raw = best_ns(200_000, || {
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut fields);
        let r = req.parse(black_box(REQUEST)).unwrap();
        assert!(r.is_complete());
        black_box(&req);
    });
    println!("  httparse alone (reference)         {raw:7.0} ns");

    let parse = best_ns(200_000, || {
        let r = parse_request(black_box(REQUEST), &limits, &mut head);
        assert!(matches!(r, Ok(Parsed::Complete { .. })));
        black_box(&head);
    });
    println!("  parse                              {parse:7.0} ns");

    let plain = best_ns(200_000, || {
        let r = parse_request(black_box(REQUEST), &limits, &mut head);
        assert!(matches!(r, Ok(Parsed::Complete { .. })));
        out.clear();
        serialize_request(&head, REQUEST, &Edits::<8>::new(), &mut out);
        black_box(&out);
    });
    println!("  parse + serialize, no edits        {plain:7.0} ns");

    let client = std::net::Ipv4Addr::new(192, 0, 2, 7);
    let proxied = best_ns(200_000, || {
        let r = parse_request(black_box(REQUEST), &limits, &mut head);
        assert!(matches!(r, Ok(Parsed::Complete { .. })));
        // What `option forwardfor`, an X-Forwarded-Proto rule and keep-alive towards the
        // server do to every request.
        let mut edits = Edits::<8>::new();
        let ip = edits.format(format_args!("{client}")).unwrap();
        edits.add_header(b"X-Forwarded-For", ip).unwrap();
        edits.set_header(b"X-Forwarded-Proto", b"https").unwrap();
        edits.strip_hop_by_hop(true);
        edits.set_connection(ConnectionHeader::Unchanged);
        out.clear();
        serialize_request(&head, REQUEST, &edits, &mut out);
        black_box(&out);
    });
    println!("  parse + serialize, XFF+XFP+strip   {proxied:7.0} ns");

    let lookups = best_ns(200_000, || {
        black_box(head.cookie(REQUEST, b"session"));
        black_box(head.url_param(REQUEST, b"sort"));
        black_box(head.header_elements(REQUEST, b"accept-encoding").count());
        black_box(head.host(REQUEST));
    });
    println!("  cookie + url_param + hdr + host    {lookups:7.0} ns");

    const MIB: usize = 1 << 20;
    const READ: usize = 16 * 1024;
    println!("chunked body scan, {READ}-byte reads, per MiB of body:");
    for chunk in [16 * 1024, 1024, 64] {
        let body = chunked_body(chunk, 4 * MIB);
        let ns = best_ns(20, || {
            let mut s = ChunkedScanner::new(&limits);
            let mut at = 0;
            while at < body.len() {
                let end = (at + READ).min(body.len());
                let a = s.advance(black_box(&body[at..end])).unwrap();
                at += a.consumed;
                if a.done {
                    break;
                }
            }
            assert_eq!(at, body.len());
        });
        let per_mib = ns * MIB as f64 / body.len() as f64;
        println!(
            "  {chunk:>6}-byte chunks                {per_mib:9.0} ns/MiB ({:.1} GiB/s)",
            (MIB as f64 / per_mib) * 1e9 / (1u64 << 30) as f64
        );
    }
}
