//! Microbenchmark of the PROXY protocol codec: ns per parse / encode.
//!
//! Run with `cargo run --release --example proxy_protocol_bench [iterations] [filter]`; only
//! the cases whose name contains `filter` run, so that one case can be measured alone, e.g.
//! with `perf stat -e instructions` (instruction counts do not move with the machine's load
//! the way wall-clock time does).
//!
//! Method: each case runs `iterations` times (default 1,000,000) per sample, after one warm-up
//! sample; 7 samples; the table shows the fastest and the median sample in ns/op. Inputs and
//! outputs pass through `std::hint::black_box` so the work is not optimized away or hoisted.
//! Wall-clock timing on a shared machine: read the minimum as the cost, the median as what
//! noise did to it.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use corelb::proxy_protocol::{
    self as pp, Addresses, Checksum, Command, HeaderLimits, Parse, V1_MAX_LEN, tlv,
};

const SAMPLES: usize = 7;

fn bench(name: &str, iterations: u32, mut f: impl FnMut()) {
    if !std::env::args()
        .nth(2)
        .is_none_or(|filter| name.contains(&filter))
    {
        return;
    }
    let mut sample = || {
        let start = Instant::now();
        for _ in 0..iterations {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(iterations)
    };
    sample();
    let mut ns: Vec<f64> = (0..SAMPLES).map(|_| sample()).collect();
    ns.sort_by(f64::total_cmp);
    println!("{name:<44} {:>8.1} {:>8.1}", ns[0], ns[SAMPLES / 2]);
}

fn parsed_len(p: Parse<'_>) -> usize {
    match p {
        Parse::Complete { len, .. } => len,
        other => panic!("benchmark input must parse: {other:?}"),
    }
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("iterations must be a number"))
        .unwrap_or(1_000_000);
    let limits = HeaderLimits::default();

    let v4_src: SocketAddr = "192.168.0.1:56324".parse().unwrap();
    let v4_dst: SocketAddr = "192.168.0.11:443".parse().unwrap();
    let v6_src: SocketAddr = "[2001:db8:85a3::8a2e:370:7334]:56324".parse().unwrap();
    let v6_dst: SocketAddr = "[2001:db8:85a3::8a2e:370:1]:443".parse().unwrap();
    let tcp4 = Addresses::Tcp {
        src: v4_src,
        dst: v4_dst,
    };
    let aws: &[(u8, &[u8])] = &[(tlv::AWS, b"\x01vpce-08d2bf15fac5001c9")];

    let v1_tcp4 = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n".to_vec();
    let mut line = [0u8; V1_MAX_LEN + 1];
    let n = pp::encode_v1(Some((v6_src, v6_dst)), &mut line);
    let v1_tcp6 = line[..n].to_vec();
    let mut buf = vec![0u8; 512];
    let n = pp::encode_v2(Command::Proxy, &tcp4, aws, Checksum::None, &mut buf).unwrap();
    let v2_aws = buf[..n].to_vec();
    let n = pp::encode_v2(Command::Proxy, &tcp4, aws, Checksum::Crc32c, &mut buf).unwrap();
    let v2_aws_crc = buf[..n].to_vec();

    println!(
        "PROXY protocol codec, {iterations} iterations x {SAMPLES} samples, ns/op (min, median)"
    );
    println!("{:<44} {:>8} {:>8}", "case", "min", "median");

    bench("parse v1 TCP4 (spec example)", iterations, || {
        black_box(parsed_len(pp::parse(black_box(&v1_tcp4), &limits)));
    });
    bench("parse v1 TCP6 (compressed addresses)", iterations, || {
        black_box(parsed_len(pp::parse(black_box(&v1_tcp6), &limits)));
    });
    bench(
        &format!("parse v2 TCP4 + AWS TLV ({} B)", v2_aws.len()),
        iterations,
        || {
            black_box(parsed_len(pp::parse(black_box(&v2_aws), &limits)));
        },
    );
    bench(
        "parse v2 TCP4 + AWS TLV + aws_vpce_id()",
        iterations,
        || {
            let Parse::Complete { header, .. } = pp::parse(black_box(&v2_aws), &limits) else {
                panic!("benchmark input must parse");
            };
            black_box(header.aws_vpce_id());
        },
    );
    bench(
        &format!("parse v2 TCP4 + AWS TLV + CRC32C ({} B)", v2_aws_crc.len()),
        iterations,
        || {
            black_box(parsed_len(pp::parse(black_box(&v2_aws_crc), &limits)));
        },
    );
    bench("encode v1 TCP4", iterations, || {
        let mut out = [0u8; V1_MAX_LEN + 1];
        let n = pp::encode_v1(black_box(Some((v4_src, v4_dst))), &mut out);
        black_box(&out[..n]);
    });
    bench("encode v1 TCP6", iterations, || {
        let mut out = [0u8; V1_MAX_LEN + 1];
        let n = pp::encode_v1(black_box(Some((v6_src, v6_dst))), &mut out);
        black_box(&out[..n]);
    });
    let mut out = [0u8; 128];
    bench("encode v2 TCP4", iterations, || {
        let n = pp::encode_v2(
            Command::Proxy,
            black_box(&tcp4),
            &[],
            Checksum::None,
            &mut out,
        )
        .unwrap();
        black_box(&out[..n]);
    });
    bench("encode v2 TCP4 + AWS TLV", iterations, || {
        let n = pp::encode_v2(
            Command::Proxy,
            black_box(&tcp4),
            black_box(aws),
            Checksum::None,
            &mut out,
        )
        .unwrap();
        black_box(&out[..n]);
    });
    bench("encode v2 TCP4 + AWS TLV + CRC32C", iterations, || {
        let n = pp::encode_v2(
            Command::Proxy,
            black_box(&tcp4),
            black_box(aws),
            Checksum::Crc32c,
            &mut out,
        )
        .unwrap();
        black_box(&out[..n]);
    });
}
