//! What choosing a server costs on the connection path: `Lb::pick` + `release` per
//! algorithm, alone and with two threads picking at once (the atomics shared by shards),
//! and the number of heap allocations it made (a counting allocator; must be 0).
//!
//!   cargo run --release --example lb_bench [iterations]

use corelb::cluster::ServerState;
use corelb::cluster::balance::{Lb, Pick, PickCtx};
use corelb::config::{Algo, HashType, Loc, Server, ServerAddr, ServerParams};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn lb(algo: Algo, hash: HashType) -> Lb {
    let servers = (0..3)
        .map(|i| {
            let s = Server {
                name: format!("s{i}"),
                addr: ServerAddr {
                    text: format!("10.0.0.{i}"),
                    ip: format!("10.0.0.{i}").parse().unwrap(),
                    port: Some(80),
                    port_offset: 0,
                    unresolved: false,
                    path: None,
                },
                params: ServerParams {
                    weight: i + 1,
                    ..Default::default()
                },
                id: None,
                check_ip: None,
                tls_config: None,
                tls_sni: None,
                loc: Loc {
                    file: "bench".into(),
                    line: 1,
                },
            };
            Arc::new(ServerState::new("bk", i + 1, &s))
        })
        .collect();
    Lb::new(algo, hash, false, servers)
}

fn run(lb: &Lb, n: u64) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        let ctx = PickCtx {
            client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                0x0a00_0000 + (i as u32 & 0xffff),
            )),
            avoid: None,
            key: None,
        };
        match lb.pick(&ctx) {
            Pick::Server(s) => lb.release(s),
            p => panic!("{p:?}"),
        }
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    println!(
        "{:<26} {:>12} {:>16} {:>8}",
        "algorithm", "ns/pick", "ns/pick 2 thr", "allocs"
    );
    for (name, algo, hash) in [
        ("roundrobin", Algo::RoundRobin, HashType::MapBased),
        ("leastconn", Algo::LeastConn, HashType::MapBased),
        ("first", Algo::First, HashType::MapBased),
        ("source map-based", Algo::Source, HashType::MapBased),
        ("source consistent", Algo::Source, HashType::Consistent),
        ("random(2)", Algo::Random { draws: 2 }, HashType::MapBased),
    ] {
        let lb = Arc::new(lb(algo, hash));
        run(&lb, n / 10); // warm up
        let before = ALLOCS.load(Ordering::Relaxed);
        let single = run(&lb, n);
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let l2 = lb.clone();
        let other = std::thread::spawn(move || run(&l2, n));
        let both = run(&lb, n);
        let _ = other.join();
        println!("{name:<26} {single:>12.1} {both:>16.1} {allocs:>8}");
    }
}
