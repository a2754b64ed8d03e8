//! Cross-version tests: dispatch on the first bytes, and deterministic property tests that
//! push random and mutated bytes through the parser (a tiny xorshift generator, no extra
//! dependency, fixed seeds so a failure reproduces). The fuzz target checks the same
//! properties on coverage-guided inputs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;

/// xorshift64*: deterministic, good enough to spread bytes and choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Between 0 and `max - 1` random bytes.
    fn some_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }
}

fn limits() -> HeaderLimits {
    HeaderLimits::default()
}

#[test]
fn first_byte_decides() {
    assert_eq!(parse(b"", &limits()), Parse::Incomplete);
    assert_eq!(parse(b"P", &limits()), Parse::Incomplete);
    assert_eq!(
        parse(b"PROX", &limits()),
        Parse::Incomplete,
        "a stalled v1 prefix waits"
    );
    assert_eq!(parse(b"\r", &limits()), Parse::Incomplete);
    assert_eq!(parse(b"\r\n\r\n\0\r\nQUI", &limits()), Parse::Incomplete);
    for other in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x16\x03\x01\x02\x00",
        b"SSH-2.0-",
        b"p",
        b"\n",
        b"\0",
    ] {
        assert_eq!(
            parse(other, &limits()),
            Parse::Invalid(Error::NotProxyProtocol),
            "{other:?}"
        );
    }
    // Bytes led by a blank line are told apart at the fifth byte, the signature's NUL.
    assert_eq!(parse(b"\r\n\r\n", &limits()), Parse::Incomplete);
    assert_eq!(
        parse(b"\r\n\r\nGET", &limits()),
        Parse::Invalid(Error::NotProxyProtocol)
    );
}

#[test]
fn error_display_is_informative() {
    let e = Error::Oversized {
        len: 5000,
        limit: 4096,
    };
    assert_eq!(
        e.to_string(),
        "PROXY v2: header of 5000 bytes exceeds the 4096-byte limit"
    );
    assert_eq!(Error::BadPort.to_string(), "PROXY v1: invalid port");
}

fn random_ip(rng: &mut Rng) -> IpAddr {
    match rng.below(4) {
        0 => IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
        1 => IpAddr::V6(Ipv4Addr::from(rng.next() as u32).to_ipv6_mapped()),
        2 => {
            // Sparse IPv6, to exercise `::` compression.
            let mut g = [0u16; 8];
            for s in &mut g {
                if rng.below(2) == 0 {
                    *s = rng.next() as u16;
                }
            }
            IpAddr::V6(Ipv6Addr::from(g))
        }
        _ => IpAddr::V6(Ipv6Addr::from(
            u128::from(rng.next()) << 64 | u128::from(rng.next()),
        )),
    }
}

fn random_addr(rng: &mut Rng) -> SocketAddr {
    SocketAddr::new(random_ip(rng), rng.next() as u16)
}

/// Addresses as the encoders normalize them: IPv4-mapped counts as IPv4 unless the other side
/// is IPv6 (then both are IPv6, the IPv4 side mapped).
fn canonical(a: Addresses) -> Addresses {
    let pair = |s: SocketAddr, d: SocketAddr| {
        let (si, di) = (s.ip().to_canonical(), d.ip().to_canonical());
        let (si, di) = match (si, di) {
            (IpAddr::V4(_), IpAddr::V4(_)) => (si, di),
            _ => (IpAddr::V6(v1::to_v6(si)), IpAddr::V6(v1::to_v6(di))),
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
        other => other,
    }
}

fn expect_complete<'a>(buf: &'a [u8], limits: &HeaderLimits) -> (Header<'a>, usize) {
    match parse(buf, limits) {
        Parse::Complete { header, len } => (header, len),
        other => panic!("expected Complete, got {other:?} for {buf:02x?}"),
    }
}

#[test]
fn v1_round_trips() {
    let mut rng = Rng(0x5EED_0001);
    let mut out = [0u8; V1_MAX_LEN + 1];
    for _ in 0..20_000 {
        let addrs = (rng.below(20) != 0).then(|| (random_addr(&mut rng), random_addr(&mut rng)));
        let n = encode_v1(addrs, &mut out);
        assert!(n <= V1_MAX_LEN);
        let mut wire = out[..n].to_vec();
        let payload = rng.some_bytes(8);
        wire.extend_from_slice(&payload);
        let (h, len) = expect_complete(&wire, &limits());
        assert_eq!(len, n);
        let want = match addrs {
            None => Addresses::Unspecified,
            Some((src, dst)) => canonical(Addresses::Tcp { src, dst }),
        };
        assert_eq!(h.addresses, want, "{:?}", String::from_utf8_lossy(&wire));
    }
}

#[test]
fn v2_round_trips() {
    let mut rng = Rng(0x5EED_0002);
    let mut out = vec![0u8; 2048];
    let kinds = [
        tlv::ALPN,
        tlv::AUTHORITY,
        tlv::NOOP,
        tlv::UNIQUE_ID,
        tlv::SSL,
        tlv::NETNS,
        tlv::AWS,
        0xE0,
        0xF8,
    ];
    for _ in 0..20_000 {
        let command = if rng.below(8) == 0 {
            Command::Local
        } else {
            Command::Proxy
        };
        let (src, dst) = (random_addr(&mut rng), random_addr(&mut rng));
        let addresses = match rng.below(6) {
            0 => Addresses::Unspecified,
            1 => Addresses::Udp { src, dst },
            2 => Addresses::UnixStream {
                src: UnixAddr::from_raw([rng.byte(); 108]),
                dst: UnixAddr::from_path(b"/run/x").unwrap(),
            },
            _ => Addresses::Tcp { src, dst },
        };
        let values: Vec<(u8, Vec<u8>)> = (0..rng.below(5))
            .map(|_| (kinds[rng.below(kinds.len())], rng.some_bytes(100)))
            .collect();
        let tlvs: Vec<(u8, &[u8])> = values.iter().map(|(k, v)| (*k, &v[..])).collect();
        let checksum = if rng.below(2) == 0 {
            Checksum::None
        } else {
            Checksum::Crc32c
        };
        let n = encode_v2(command, &addresses, &tlvs, checksum, &mut out).unwrap();
        let (h, len) = expect_complete(&out[..n], &limits());
        assert_eq!(len, n);
        assert_eq!(h.command, command);
        let want = match command {
            Command::Local => Addresses::Unspecified,
            Command::Proxy => canonical(addresses),
        };
        assert_eq!(h.addresses, want);
        let got: Vec<(u8, &[u8])> = h
            .tlvs()
            .filter(|t| t.kind != tlv::CRC32C)
            .map(|t| (t.kind, t.value))
            .collect();
        assert_eq!(got, tlvs);
        assert_eq!(h.crc32c().is_some(), checksum == Checksum::Crc32c);
        assert_eq!(h.clone().into_owned().as_header(), h);
    }
}

/// Properties every parse must satisfy, whatever the bytes:
/// - no panic;
/// - `Complete` never claims more bytes than given, and at least the shortest header;
/// - decisions are stable as bytes arrive: once `Invalid` or `Complete` for a prefix, the
///   longer input gives the same answer (so early rejection never rejects a good header, and
///   what follows a header never changes it).
fn check_properties(buf: &[u8], limits: &HeaderLimits, rng: &mut Rng) {
    let full = parse(buf, limits);
    if let Parse::Complete { len, header } = &full {
        let len = *len;
        assert!(len <= buf.len());
        assert!(len >= 15, "shortest header is PROXY UNKNOWN\\r\\n");
        // Accessors must not panic either.
        let _ = (header.authority(), header.aws_vpce_id(), header.ssl());
        let _ = (header.crc32c(), header.alpn(), header.socket_addrs());
        for t in header.tlvs() {
            assert!(t.value.len() < len);
        }
    }
    if buf.is_empty() {
        return;
    }
    let cut = rng.below(buf.len() + 1);
    match parse(&buf[..cut], limits) {
        Parse::Incomplete => {}
        prefix => assert_eq!(prefix, full, "prefix of {cut} bytes of {buf:02x?}"),
    }
}

/// Valid headers of both versions, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n".to_vec(),
        b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n".to_vec(),
        b"PROXY UNKNOWN ffff:f::f whatever\r\n".to_vec(),
    ];
    let mut out = vec![0u8; 1024];
    let addrs = Addresses::Tcp {
        src: "10.0.0.1:1234".parse().unwrap(),
        dst: "10.0.0.2:80".parse().unwrap(),
    };
    for (cmd, checksum) in [
        (Command::Proxy, Checksum::Crc32c),
        (Command::Proxy, Checksum::None),
        (Command::Local, Checksum::Crc32c),
    ] {
        let mut ssl = [0u8; 32];
        let s = encode_ssl_value(1, 0, &[(tlv::SSL_VERSION, b"TLSv1.3")], &mut ssl).unwrap();
        let tlvs: &[(u8, &[u8])] = &[
            (tlv::AWS, b"\x01vpce-08d2bf15fac5001c9"),
            (tlv::ALPN, b"h2"),
            (tlv::SSL, &ssl[..s]),
        ];
        let n = encode_v2(cmd, &addrs, tlvs, checksum, &mut out).unwrap();
        seeds.push(out[..n].to_vec());
    }
    seeds
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5EED_0003);
    let lim = [
        limits(),
        HeaderLimits::new().with_max_header_len(V2_MAX_LEN),
    ];
    for i in 0..50_000 {
        let len = rng.below(300);
        let mut buf = rng.bytes(len);
        // Bias the start towards both versions' prefixes so the parsers get deep.
        match i % 3 {
            0 if len >= 6 => buf[..6].copy_from_slice(b"PROXY "),
            1 if len >= 12 => buf[..12].copy_from_slice(&V2_SIGNATURE),
            _ => {}
        }
        check_properties(&buf, &lim[i % 2], &mut rng);
    }
}

#[test]
fn mutated_headers_never_panic() {
    let mut rng = Rng(0x5EED_0004);
    let seeds = seeds();
    for s in &seeds {
        check_properties(s, &limits(), &mut rng);
        assert!(matches!(parse(s, &limits()), Parse::Complete { .. }));
    }
    for _ in 0..100_000 {
        let mut buf = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            if buf.is_empty() {
                break;
            }
            let at = rng.below(buf.len());
            match rng.below(6) {
                0 => buf[at] ^= 1 << rng.below(8),
                1 => buf[at] = rng.byte(),
                2 => {
                    buf.remove(at);
                }
                3 => buf.insert(at, rng.byte()),
                // Interesting v1 bytes.
                4 => buf[at] = b" \r\n0:.9"[rng.below(7)],
                _ => buf.truncate(at),
            }
        }
        check_properties(&buf, &limits(), &mut rng);
    }
}

#[test]
fn every_prefix_of_a_valid_header_is_incomplete() {
    let mut rng = Rng(0x5EED_0005);
    for s in seeds() {
        let (_, len) = expect_complete(&s, &limits());
        for n in 0..len {
            assert_eq!(
                parse(&s[..n], &limits()),
                Parse::Incomplete,
                "{n} of {s:02x?}"
            );
        }
        check_properties(&s, &limits(), &mut rng);
    }
}

#[test]
fn header_stays_compact() {
    // Parse results are returned by value on every read during setup and a connection may keep
    // its header: boxing the 216 bytes of UNIX addresses keeps the common case small.
    let size = std::mem::size_of::<Header<'_>>();
    assert!(size <= 96, "Header is {size} bytes");
    assert!(std::mem::size_of::<Parse<'_>>() <= 104);
}
