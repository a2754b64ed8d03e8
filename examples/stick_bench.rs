//! Microbenchmark of the stick-table rate limiter on the request path (`corelb::stick`):
//! what `http-request track-sc0 src` plus `deny if { sc_http_req_rate(0) gt N }` add to a
//! request, through the same code the HTTP session runs (the rules of a parsed
//! configuration, a `Trackers` per request, released at its end).
//!
//! `cargo run --release --example stick_bench [THREADS]`
//!
//! Method: as `acl_bench`: the best of 11 timed runs of a fixed number of requests after a
//! warm-up. With THREADS > 1 (default 1), that many threads run at once on one key (one
//! client seen by every shard: the entry's cache line is shared, the worst case) and the
//! figure is per request per thread. Nanoseconds on the machine at hand; scripts/
//! bench-compare.sh (scenario g against c) measures the whole proxy.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use corelb::acl::{ConnInfo, RequestSample, RuleKind, StickSource};
use corelb::config::{HttpAction, parser::Parser};
use corelb::h1::{HeadLimits, RequestHead, parse_request};
use corelb::stick::{Tables, Trackers};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const RUNS: usize = 11;
const ITERS: u64 = 500_000;

const CFG: &str = "defaults\n  mode http\n\
frontend fe\n  bind 127.0.0.1:1\n\
  stick-table type ip size 100k expire 10s store http_req_rate(10s)\n\
  http-request track-sc0 src\n\
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000000 }\n\
  default_backend be\n\
backend be\n  server s 127.0.0.1:2\n";

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let mut p = Parser::new();
    p.parse_str("bench.cfg", CFG);
    let (cfg, diags) = p.finish();
    let cfg = Arc::new(cfg.unwrap_or_else(|| panic!("{diags:?}")));
    let tables = Arc::new(Tables::new(&cfg));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cfg, tables) = (cfg.clone(), tables.clone());
            std::thread::spawn(move || run(&cfg, &tables))
        })
        .collect();
    for h in handles {
        let ns = h.join().unwrap();
        println!(
            "track-sc0 src + sc_http_req_rate(0) check: {ns:.0} ns per request ({threads} thread(s) on one key)"
        );
    }
}

fn run(cfg: &corelb::config::Config, tables: &Tables) -> f64 {
    let fe = &cfg.proxies[0];
    let mut head = RequestHead::with_capacity(&HeadLimits::default());
    parse_request(REQUEST, &HeadLimits::default(), &mut head).expect("valid request");
    let conn = ConnInfo {
        src: Some(SocketAddr::from(([203, 0, 113, 7], 51234))),
        dst: Some(SocketAddr::from(([10, 0, 0, 2], 80))),
        tls: None,
        h2: false,
        glitches: None,
        fd: None,
        vars: Default::default(),
        ..Default::default()
    };
    let nbsrv = |_: usize| 1;
    let one = || {
        let trackers = Trackers::new();
        let ctx = tables.ctx(&trackers);
        let st = ctx.as_ref().map(|c| c as &dyn StickSource);
        let s = RequestSample {
            head: Some((&head, REQUEST)),
            conn: &conn,
            nbsrv: &nbsrv,
            stopping: false,
            stick: st,
            txn: None,
            addrs: None,
            strm: None,
        };
        let mut denied = false;
        for r in &fe.http_request {
            match &r.action {
                HttpAction::Stick(a) => {
                    if let Some(st) = st {
                        st.apply(a, &s, RuleKind::HttpRequest);
                    }
                }
                HttpAction::Deny { .. } => {
                    denied |= r.cond.as_ref().is_some_and(|c| c.eval(&fe.acls, &s));
                }
                _ => {}
            }
        }
        black_box(denied);
    };
    for _ in 0..ITERS / 10 {
        one();
    }
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..ITERS {
                one();
            }
            t.elapsed().as_nanos() as f64 / ITERS as f64
        })
        .fold(f64::INFINITY, f64::min)
}
