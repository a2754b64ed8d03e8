//! PROXY protocol parser: arbitrary bytes must never panic, and whatever parses must
//! re-encode to a header that parses to the same thing.
//!
//! The first input byte picks the size limit and where to cut a prefix, the rest is the
//! received data; seed with real headers (the unit tests' `seeds()` shapes) to get deep fast.

#![no_main]

use std::net::{IpAddr, SocketAddr};

use corelb::proxy_protocol::{
    self as pp, Addresses, Checksum, Command, HeaderLimits, Parse, V1_MAX_LEN, V2_MAX_LEN, Version,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, buf)) = data.split_first() else {
        return;
    };
    let limits = if ctl & 1 == 0 {
        HeaderLimits::default()
    } else {
        HeaderLimits::new().with_max_header_len(V2_MAX_LEN)
    };
    let full = pp::parse(buf, &limits);

    // Decisions are stable as bytes arrive: a prefix is either still Incomplete or already
    // gave the final answer (early rejection never rejects what more bytes would accept).
    let cut = usize::from(ctl >> 1) * buf.len() / 127;
    match pp::parse(&buf[..cut.min(buf.len())], &limits) {
        Parse::Incomplete => {}
        prefix => assert_eq!(prefix, full),
    }

    let Parse::Complete { header, len } = full else {
        return;
    };
    assert!(len <= buf.len());
    assert!(len >= 15);
    // Accessors must not panic on anything the parser accepted.
    let _ = (header.authority(), header.netns(), header.aws_vpce_id());
    let _ = (
        header.alpn(),
        header.unique_id(),
        header.crc32c(),
        header.socket_addrs(),
    );
    if let Some(ssl) = header.ssl() {
        let _ = (ssl.version(), ssl.common_name(), ssl.tlvs().count());
    }

    match header.version {
        Version::V1 => {
            assert!(len <= V1_MAX_LEN);
            let mut out = [0u8; V1_MAX_LEN + 1];
            let n = pp::encode_v1(header.socket_addrs(), &mut out);
            let again = reparse(&out[..n], &limits);
            assert_eq!(again.version, Version::V1);
            assert_eq!(again.addresses, canonical(&header.addresses));
        }
        _ => {
            let tlvs: Vec<(u8, &[u8])> = header
                .tlvs()
                .filter(|t| t.kind != pp::tlv::CRC32C)
                .map(|t| (t.kind, t.value))
                .collect();
            let checksum = if header.crc32c().is_some() {
                Checksum::Crc32c
            } else {
                Checksum::None
            };
            let mut out = vec![0u8; V2_MAX_LEN];
            let n = pp::encode_v2(header.command, &header.addresses, &tlvs, checksum, &mut out)
                .expect("a parsed header fits the format");
            let again = reparse(&out[..n], &HeaderLimits::new().with_max_header_len(V2_MAX_LEN));
            assert_eq!(again.version, Version::V2);
            assert_eq!(again.command, header.command);
            assert_eq!(again.addresses, canonical(&header.addresses));
            let got: Vec<(u8, &[u8])> = again
                .tlvs()
                .filter(|t| t.kind != pp::tlv::CRC32C)
                .map(|t| (t.kind, t.value))
                .collect();
            assert_eq!(got, tlvs);
            assert_eq!(again.crc32c().is_some(), header.crc32c().is_some());
            if header.command == Command::Local {
                assert_eq!(again.addresses, Addresses::Unspecified);
            }
        }
    }
});

fn reparse<'a>(buf: &'a [u8], limits: &HeaderLimits) -> pp::Header<'a> {
    match pp::parse(buf, limits) {
        Parse::Complete { header, len } => {
            assert_eq!(len, buf.len());
            header
        }
        other => panic!("re-encoded header does not parse: {other:?} {buf:02x?}"),
    }
}

/// What the encoders send for these addresses: IPv4-mapped addresses on both sides become
/// IPv4; with one real IPv6 side both are IPv6, the IPv4 side mapped.
fn canonical(a: &Addresses) -> Addresses {
    let pair = |s: &SocketAddr, d: &SocketAddr| {
        let (si, di) = (s.ip().to_canonical(), d.ip().to_canonical());
        let v6 = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        };
        let (si, di) = match (si, di) {
            (IpAddr::V4(_), IpAddr::V4(_)) => (si, di),
            _ => (v6(si), v6(di)),
        };
        (SocketAddr::new(si, s.port()), SocketAddr::new(di, d.port()))
    };
    match a {
        Addresses::Tcp { src, dst } => {
            let (src, dst) = pair(src, dst);
            Addresses::Tcp { src, dst }
        }
        Addresses::Udp { src, dst } => {
            let (src, dst) = pair(src, dst);
            Addresses::Udp { src, dst }
        }
        other => other.clone(),
    }
}
