//! Version 2: a 16-byte binary preamble, an address block and TLVs.
//!
//! ```text
//! 0..12   signature  \r \n \r \n \0 \r \n Q U I T \n
//! 12      version (high nibble, must be 2) | command (low nibble: 0 LOCAL, 1 PROXY)
//! 13      family (high nibble) | transport (low nibble)
//! 14..16  length of what follows, big-endian
//! 16..    addresses (12, 36 or 216 bytes by family), then TLVs up to 16 + length
//! ```
//!
//! Each field is checked as soon as its byte arrives, and the announced length is checked
//! against [`HeaderLimits`] before waiting for the rest, so a bad or oversized header is refused
//! from its first 16 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::crc32c::{self, Crc32c};
use super::tlv;
use super::v1::to_v6;
use super::{Addresses, Command, Error, Header, HeaderLimits, Parse, UnixAddr, Version};

/// The 12 bytes every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Signature, version/command, family, length.
const PREAMBLE: usize = 16;

/// The largest header the format can express: the 16-bit length field at its maximum.
pub const V2_MAX_LEN: usize = PREAMBLE + u16::MAX as usize;

const VERSION_2: u8 = 0x20;
const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;

// The family/transport bytes the spec lists; any other is invalid for a PROXY command.
const FAM_UNSPEC: u8 = 0x00;
const FAM_TCP4: u8 = 0x11;
const FAM_UDP4: u8 = 0x12;
const FAM_TCP6: u8 = 0x21;
const FAM_UDP6: u8 = 0x22;
const FAM_UNIX_STREAM: u8 = 0x31;
const FAM_UNIX_DGRAM: u8 = 0x32;

const ADDR_LEN_INET: usize = 2 * 4 + 2 * 2;
const ADDR_LEN_INET6: usize = 2 * 16 + 2 * 2;
const ADDR_LEN_UNIX: usize = 2 * UnixAddr::LEN;

/// Size of the address block for a family/transport byte, `None` for an invalid byte.
fn address_len(fam: u8) -> Option<usize> {
    match fam {
        FAM_UNSPEC => Some(0),
        FAM_TCP4 | FAM_UDP4 => Some(ADDR_LEN_INET),
        FAM_TCP6 | FAM_UDP6 => Some(ADDR_LEN_INET6),
        FAM_UNIX_STREAM | FAM_UNIX_DGRAM => Some(ADDR_LEN_UNIX),
        _ => None,
    }
}

pub(super) fn parse<'a>(buf: &'a [u8], limits: &HeaderLimits) -> Parse<'a> {
    let sig = buf.len().min(V2_SIGNATURE.len());
    if buf[..sig] != V2_SIGNATURE[..sig] {
        return Parse::Invalid(Error::NotProxyProtocol);
    }
    let Some(&ver_cmd) = buf.get(12) else {
        return Parse::Incomplete;
    };
    if ver_cmd & 0xf0 != VERSION_2 {
        return Parse::Invalid(Error::BadVersion);
    }
    let command = match ver_cmd & 0x0f {
        CMD_LOCAL => Command::Local,
        CMD_PROXY => Command::Proxy,
        _ => return Parse::Invalid(Error::BadCommand),
    };
    let Some(&fam) = buf.get(13) else {
        return Parse::Incomplete;
    };
    let addr_len = address_len(fam);
    if command == Command::Proxy && addr_len.is_none() {
        return Parse::Invalid(Error::BadFamily);
    }
    let Some(&[len_hi, len_lo]) = buf.get(14..PREAMBLE) else {
        return Parse::Incomplete;
    };
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let total = PREAMBLE + len;
    if total > limits.max_header_len() {
        return Parse::Invalid(Error::Oversized {
            len: total,
            limit: limits.max_header_len(),
        });
    }
    // Where the TLVs start, relative to the address block. PROXY: after the addresses, which
    // must fit in the announced length. LOCAL: the spec says to ignore the block and even the
    // family; when the family is valid and its block fits, TLVs are still looked for after it
    // (HAProxy's health checks send LOCAL, family UNSPEC, then TLVs such as CRC32C), otherwise
    // the whole block is skipped unread, as HAProxy does.
    let tlv_start = match addr_len {
        Some(n) if n <= len => Some(n),
        Some(_) if command == Command::Proxy => {
            return Parse::Invalid(Error::ShortAddressBlock);
        }
        _ => None,
    };
    let Some(hdr) = buf.get(..total) else {
        return Parse::Incomplete;
    };
    let block = &hdr[PREAMBLE..];
    let addresses = match command {
        Command::Local => Addresses::Unspecified,
        Command::Proxy => decode_addresses(fam, block),
    };
    let tlvs = match tlv_start {
        Some(n) => {
            if let Err(e) = check_tlvs(hdr, PREAMBLE + n) {
                return Parse::Invalid(e);
            }
            &block[n..]
        }
        None => &[],
    };
    Parse::Complete {
        header: Header {
            version: Version::V2,
            command,
            addresses,
            tlvs,
        },
        len: total,
    }
}

/// Decodes the address block; `block` is at least `address_len(fam)` bytes (checked by the
/// caller) and `fam` is valid.
fn decode_addresses(fam: u8, block: &[u8]) -> Addresses {
    fn bytes<const N: usize>(block: &[u8], at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&block[at..at + N]);
        a
    }
    let port = |at| u16::from_be_bytes(bytes(block, at));
    match fam {
        FAM_TCP4 | FAM_UDP4 => {
            let src = SocketAddr::new(Ipv4Addr::from(bytes::<4>(block, 0)).into(), port(8));
            let dst = SocketAddr::new(Ipv4Addr::from(bytes::<4>(block, 4)).into(), port(10));
            if fam == FAM_TCP4 {
                Addresses::Tcp { src, dst }
            } else {
                Addresses::Udp { src, dst }
            }
        }
        FAM_TCP6 | FAM_UDP6 => {
            let src = SocketAddr::new(Ipv6Addr::from(bytes::<16>(block, 0)).into(), port(32));
            let dst = SocketAddr::new(Ipv6Addr::from(bytes::<16>(block, 16)).into(), port(34));
            if fam == FAM_TCP6 {
                Addresses::Tcp { src, dst }
            } else {
                Addresses::Udp { src, dst }
            }
        }
        FAM_UNIX_STREAM | FAM_UNIX_DGRAM => {
            let src = UnixAddr::from_raw(bytes(block, 0));
            let dst = UnixAddr::from_raw(bytes(block, UnixAddr::LEN));
            if fam == FAM_UNIX_STREAM {
                Addresses::UnixStream { src, dst }
            } else {
                Addresses::UnixDatagram { src, dst }
            }
        }
        _ => Addresses::Unspecified,
    }
}

/// Checks that `hdr[start..]` is exactly a sequence of TLVs, applies HAProxy's per-type
/// limits, and verifies a CRC32C TLV against the whole header.
fn check_tlvs(hdr: &[u8], start: usize) -> Result<(), Error> {
    let mut rest = &hdr[start..];
    let mut seen_crc = false;
    while !rest.is_empty() {
        let Some((t, next)) = tlv::split_first(rest) else {
            return Err(Error::BadTlv);
        };
        match t.kind {
            tlv::CRC32C => {
                // Two checksums would each be computed with the other one in place: refuse
                // the ambiguity rather than pick a reading.
                let Ok(stored) = <[u8; 4]>::try_from(t.value) else {
                    return Err(Error::BadTlv);
                };
                if seen_crc {
                    return Err(Error::BadTlv);
                }
                seen_crc = true;
                // The checksum covers the header with its own field zeroed: feed the bytes
                // around the field and four zeros instead of copying the header.
                let at = hdr.len() - rest.len() + 3;
                let mut c = Crc32c::new();
                c.update(&hdr[..at]);
                c.update(&[0; 4]);
                c.update(&hdr[at + 4..]);
                if c.finish() != u32::from_be_bytes(stored) {
                    return Err(Error::BadChecksum);
                }
            }
            tlv::AUTHORITY if t.value.len() > tlv::AUTHORITY_MAX => return Err(Error::BadTlv),
            tlv::UNIQUE_ID if t.value.len() > tlv::UNIQUE_ID_MAX => return Err(Error::BadTlv),
            _ => {}
        }
        rest = next;
    }
    Ok(())
}

/// Whether [`encode_v2`] adds a checksum TLV.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// No checksum.
    #[default]
    None,
    /// A `PP2_TYPE_CRC32C` TLV over the whole header (`send-proxy-v2-options crc32c`).
    Crc32c,
}

/// Why [`encode_v2`] or [`encode_ssl_value`] could not write.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// `out` is shorter than the encoding; `needed` bytes would do.
    BufferTooSmall {
        /// The size of the encoding.
        needed: usize,
    },
    /// What follows the preamble (or an SSL value) would be `len` bytes, more than the 16-bit
    /// length field can say.
    TooLong {
        /// The length that does not fit.
        len: usize,
    },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(
                    f,
                    "PROXY v2: output buffer too small, {needed} bytes needed"
                )
            }
            EncodeError::TooLong { len } => {
                write!(f, "PROXY v2: {len} bytes do not fit a 16-bit length")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// The address block to write: family/transport byte and content.
enum Block<'a> {
    None,
    Inet([u8; 4], [u8; 4], u16, u16),
    Inet6([u8; 16], [u8; 16], u16, u16),
    Unix(&'a UnixAddr, &'a UnixAddr),
}

fn block_for(addresses: &Addresses) -> (u8, Block<'_>) {
    // Like make_proxy_line_v2: both IPv4 gives INET, otherwise INET6 with the IPv4 side mapped;
    // IPv4-mapped inputs are canonicalized first (see encode_v1 for why).
    let ip = |src: SocketAddr, dst: SocketAddr, fam4: u8, fam6: u8| match (
        src.ip().to_canonical(),
        dst.ip().to_canonical(),
    ) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            fam4,
            Block::Inet(s.octets(), d.octets(), src.port(), dst.port()),
        ),
        (s, d) => (
            fam6,
            Block::Inet6(to_v6(s).octets(), to_v6(d).octets(), src.port(), dst.port()),
        ),
    };
    match addresses {
        Addresses::Unspecified => (FAM_UNSPEC, Block::None),
        Addresses::Tcp { src, dst } => ip(*src, *dst, FAM_TCP4, FAM_TCP6),
        Addresses::Udp { src, dst } => ip(*src, *dst, FAM_UDP4, FAM_UDP6),
        Addresses::UnixStream { src, dst } => (FAM_UNIX_STREAM, Block::Unix(src, dst)),
        Addresses::UnixDatagram { src, dst } => (FAM_UNIX_DGRAM, Block::Unix(src, dst)),
    }
}

impl Block<'_> {
    fn len(&self) -> usize {
        match self {
            Block::None => 0,
            Block::Inet(..) => ADDR_LEN_INET,
            Block::Inet6(..) => ADDR_LEN_INET6,
            Block::Unix(..) => ADDR_LEN_UNIX,
        }
    }

    fn write(&self, out: &mut Out<'_>) {
        match self {
            Block::None => {}
            Block::Inet(s, d, sp, dp) => {
                out.put(s);
                out.put(d);
                out.put(&sp.to_be_bytes());
                out.put(&dp.to_be_bytes());
            }
            Block::Inet6(s, d, sp, dp) => {
                out.put(s);
                out.put(d);
                out.put(&sp.to_be_bytes());
                out.put(&dp.to_be_bytes());
            }
            Block::Unix(s, d) => {
                out.put(s.as_raw());
                out.put(d.as_raw());
            }
        }
    }
}

/// Appends into a slice already checked to be exactly as long as what is written.
struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Out<'_> {
    fn put(&mut self, s: &[u8]) {
        self.buf[self.pos..self.pos + s.len()].copy_from_slice(s);
        self.pos += s.len();
    }

    fn tlv(&mut self, kind: u8, value: &[u8]) {
        self.put(&[kind]);
        // `tlvs_len` checked that every value fits the 16-bit length.
        self.put(&(value.len() as u16).to_be_bytes());
        self.put(value);
    }
}

/// Total size of `tlvs` once framed, or `TooLong` if it (or any value) cannot be framed.
fn tlvs_len(tlvs: &[(u8, &[u8])], base: usize) -> Result<usize, EncodeError> {
    tlvs.iter().try_fold(base, |acc, (_, v)| {
        let len = acc.saturating_add(3).saturating_add(v.len());
        if v.len() > usize::from(u16::MAX) || len > usize::from(u16::MAX) {
            Err(EncodeError::TooLong { len })
        } else {
            Ok(len)
        }
    })
}

/// Writes a v2 header into `out` and returns its length.
///
/// `addresses` is written as given (IPv4 and IPv4-mapped on both sides as INET, anything else
/// with IP as INET6, as HAProxy's `make_proxy_line_v2`). For a health check, HAProxy sends
/// `Command::Local` with `Addresses::Unspecified` (family UNSPEC, no address block); a
/// receiver ignores any addresses of a LOCAL header. `tlvs` are written in order; with
/// [`Checksum::Crc32c`] a CRC32C TLV is written first and filled in last.
///
/// [`V2_MAX_LEN`] bytes always suffice; a typical header with a checksum is 16 + 36 + 7.
pub fn encode_v2(
    command: Command,
    addresses: &Addresses,
    tlvs: &[(u8, &[u8])],
    checksum: Checksum,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let (fam, block) = block_for(addresses);
    let crc_len = match checksum {
        Checksum::None => 0,
        Checksum::Crc32c => 3 + 4,
    };
    let payload = tlvs_len(tlvs, block.len() + crc_len)?;
    let total = PREAMBLE + payload;
    let Some(out) = out.get_mut(..total) else {
        return Err(EncodeError::BufferTooSmall { needed: total });
    };
    let cmd = match command {
        Command::Local => CMD_LOCAL,
        Command::Proxy => CMD_PROXY,
    };
    let mut w = Out { buf: out, pos: 0 };
    w.put(&V2_SIGNATURE);
    w.put(&[VERSION_2 | cmd, fam]);
    // `tlvs_len` checked that the payload fits the 16-bit length.
    w.put(&(payload as u16).to_be_bytes());
    block.write(&mut w);
    let crc_at = match checksum {
        Checksum::None => None,
        Checksum::Crc32c => {
            w.tlv(tlv::CRC32C, &[0; 4]);
            Some(w.pos - 4)
        }
    };
    for (kind, value) in tlvs {
        w.tlv(*kind, value);
    }
    if let Some(at) = crc_at {
        // The field is still zero here, which is what the checksum is defined over.
        let crc = crc32c::checksum(w.buf);
        w.buf[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(total)
}

/// Writes the value of a `PP2_TYPE_SSL` TLV (client flags, verify result, sub-TLVs such as
/// `SSL_VERSION` or `SSL_CN`) into `out`, for passing to [`encode_v2`] as `(tlv::SSL, value)`.
pub fn encode_ssl_value(
    client: u8,
    verify: u32,
    sub_tlvs: &[(u8, &[u8])],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = tlvs_len(sub_tlvs, 5)?;
    let Some(out) = out.get_mut(..len) else {
        return Err(EncodeError::BufferTooSmall { needed: len });
    };
    let mut w = Out { buf: out, pos: 0 };
    w.put(&[client]);
    w.put(&verify.to_be_bytes());
    for (kind, value) in sub_tlvs {
        w.tlv(*kind, value);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::super::{OwnedHeader, parse};
    use super::*;

    const AWS_VPCE: &[u8] = b"\x01vpce-08d2bf15fac5001c9";

    fn preamble(ver_cmd: u8, fam: u8, len: u16) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.extend_from_slice(&[ver_cmd, fam]);
        v.extend_from_slice(&len.to_be_bytes());
        v
    }

    /// A TCP4 header written byte by byte, independent of the encoder.
    fn tcp4_wire(tlvs: &[u8]) -> Vec<u8> {
        let mut v = preamble(0x21, 0x11, (12 + tlvs.len()) as u16);
        v.extend_from_slice(&[192, 168, 0, 1, 192, 168, 0, 11]);
        v.extend_from_slice(&56324u16.to_be_bytes());
        v.extend_from_slice(&443u16.to_be_bytes());
        v.extend_from_slice(tlvs);
        v
    }

    fn complete(buf: &[u8]) -> (Header<'_>, usize) {
        match parse(buf, &HeaderLimits::default()) {
            Parse::Complete { header, len } => {
                assert_eq!(header.version, Version::V2);
                (header, len)
            }
            other => panic!("expected Complete, got {other:?} for {buf:02x?}"),
        }
    }

    fn invalid(buf: &[u8]) -> Error {
        match parse(buf, &HeaderLimits::default()) {
            Parse::Invalid(e) => e,
            other => panic!("expected Invalid, got {other:?} for {buf:02x?}"),
        }
    }

    fn tlv_bytes(kind: u8, value: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&(value.len() as u16).to_be_bytes());
        v.extend_from_slice(value);
        v
    }

    fn encode(command: Command, addrs: &Addresses, tlvs: &[(u8, &[u8])], c: Checksum) -> Vec<u8> {
        let mut out = vec![0u8; V2_MAX_LEN];
        let n = encode_v2(command, addrs, tlvs, c, &mut out).expect("fits");
        out.truncate(n);
        out
    }

    #[test]
    fn tcp4_from_the_wire_with_payload_after() {
        let mut wire = tcp4_wire(&[]);
        assert_eq!(wire.len(), 28);
        wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (h, len) = complete(&wire);
        assert_eq!(len, 28);
        assert_eq!(&wire[len..], b"GET / HTTP/1.1\r\n");
        assert_eq!(h.command, Command::Proxy);
        let want = (
            "192.168.0.1:56324".parse().unwrap(),
            "192.168.0.11:443".parse().unwrap(),
        );
        assert_eq!(h.socket_addrs(), Some(want));
        assert_eq!(
            h.addresses,
            Addresses::Tcp {
                src: want.0,
                dst: want.1
            }
        );
        assert_eq!(h.tlvs().count(), 0);
    }

    #[test]
    fn encoder_writes_the_same_bytes() {
        let addrs = Addresses::Tcp {
            src: "192.168.0.1:56324".parse().unwrap(),
            dst: "192.168.0.11:443".parse().unwrap(),
        };
        assert_eq!(
            encode(Command::Proxy, &addrs, &[], Checksum::None),
            tcp4_wire(&[])
        );
        let aws = tlv_bytes(tlv::AWS, AWS_VPCE);
        assert_eq!(
            encode(
                Command::Proxy,
                &addrs,
                &[(tlv::AWS, AWS_VPCE)],
                Checksum::None
            ),
            tcp4_wire(&aws)
        );
    }

    #[test]
    fn every_family_the_spec_lists() {
        let v6s: SocketAddr = "[2001:db8::1]:1234".parse().unwrap();
        let v6d: SocketAddr = "[2001:db8::2]:443".parse().unwrap();
        let mut tcp6 = preamble(0x21, 0x21, 36);
        tcp6.extend_from_slice(&Ipv6Addr::from(0x2001_0db8_u128 << 96 | 1).octets());
        tcp6.extend_from_slice(&Ipv6Addr::from(0x2001_0db8_u128 << 96 | 2).octets());
        tcp6.extend_from_slice(&[0x04, 0xd2, 0x01, 0xbb]);
        assert_eq!(
            complete(&tcp6).0.addresses,
            Addresses::Tcp { src: v6s, dst: v6d }
        );
        let mut udp6 = tcp6.clone();
        udp6[13] = 0x22;
        assert_eq!(
            complete(&udp6).0.addresses,
            Addresses::Udp { src: v6s, dst: v6d }
        );
        let mut udp4 = tcp4_wire(&[]);
        udp4[13] = 0x12;
        let (h, _) = complete(&udp4);
        assert!(matches!(h.addresses, Addresses::Udp { .. }));
        assert!(h.socket_addrs().is_some());

        let mut unix = preamble(0x21, 0x31, 216);
        let mut src = [0u8; 108];
        src[..13].copy_from_slice(b"/run/app.sock");
        let mut dst = [0u8; 108];
        dst[1..5].copy_from_slice(b"abst");
        unix.extend_from_slice(&src);
        unix.extend_from_slice(&dst);
        let (h, len) = complete(&unix);
        assert_eq!(len, 16 + 216);
        let Addresses::UnixStream { src: s, dst: d } = &h.addresses else {
            panic!("{:?}", h.addresses)
        };
        assert_eq!(s.path(), b"/run/app.sock");
        assert_eq!(d.path(), b"", "abstract address");
        assert_eq!(d.as_raw()[1..5], *b"abst");
        assert_eq!(h.socket_addrs(), None);
        unix[13] = 0x32;
        assert!(matches!(
            complete(&unix).0.addresses,
            Addresses::UnixDatagram { .. }
        ));

        // PROXY with AF_UNSPEC: accepted, no addresses, TLVs right after the preamble.
        let mut unspec = preamble(0x21, 0x00, 7);
        unspec.extend_from_slice(&tlv_bytes(tlv::ALPN, b"http"));
        let (h, len) = complete(&unspec);
        assert_eq!(len, 23);
        assert_eq!(
            (h.command, &h.addresses),
            (Command::Proxy, &Addresses::Unspecified)
        );
        assert_eq!(h.alpn(), Some(&b"http"[..]));
        assert_eq!(h.socket_addrs(), None);
    }

    #[test]
    fn local_says_local_and_carries_no_address() {
        // What HAProxy sends on a health check: LOCAL, UNSPEC, no block.
        let local = preamble(0x20, 0x00, 0);
        let (h, len) = complete(&local);
        assert_eq!(len, 16);
        assert_eq!(
            (h.command, &h.addresses),
            (Command::Local, &Addresses::Unspecified)
        );
        assert_eq!(h.socket_addrs(), None);
        assert_eq!(
            encode(Command::Local, &Addresses::Unspecified, &[], Checksum::None),
            local
        );

        // A LOCAL with addresses: they are ignored, the TLVs after them are still read.
        let mut wire = tcp4_wire(&tlv_bytes(tlv::AUTHORITY, b"example.com"));
        wire[12] = 0x20;
        let (h, _) = complete(&wire);
        assert_eq!(
            (h.command, &h.addresses),
            (Command::Local, &Addresses::Unspecified)
        );
        assert_eq!(h.authority(), Some("example.com"));

        // LOCAL with a family the spec does not define, or a block too short for its family:
        // the block is skipped unread (the spec: "discard the protocol block including the
        // family"), as HAProxy does.
        let mut odd = preamble(0x20, 0x45, 5);
        odd.extend_from_slice(b"\xff\xff\xff\xff\xff");
        let (h, len) = complete(&odd);
        assert_eq!((len, h.tlvs().count()), (21, 0));
        let mut short = preamble(0x20, 0x11, 3);
        short.extend_from_slice(&[1, 2, 3]);
        assert_eq!(complete(&short).1, 19);
    }

    #[test]
    fn rejections() {
        let good = tcp4_wire(&[]);
        // Any byte of the signature wrong.
        for i in 0..12 {
            let mut w = good.clone();
            w[i] ^= 0x40;
            assert_eq!(
                parse(&w, &HeaderLimits::default()),
                Parse::Invalid(Error::NotProxyProtocol),
                "byte {i}"
            );
        }
        for v in [0x01, 0x11, 0x31, 0xf1] {
            let mut w = good.clone();
            w[12] = v;
            assert_eq!(invalid(&w), Error::BadVersion, "{v:#x}");
        }
        for c in 2..=0xf {
            let mut w = good.clone();
            w[12] = 0x20 | c;
            assert_eq!(invalid(&w), Error::BadCommand, "{c:#x}");
        }
        for f in [0x01, 0x02, 0x10, 0x13, 0x23, 0x30, 0x33, 0x41, 0xff] {
            let mut w = good.clone();
            w[13] = f;
            assert_eq!(invalid(&w), Error::BadFamily, "{f:#x}");
        }
        // Length shorter than the family's address block.
        for (fam, need) in [
            (0x11u8, 12u16),
            (0x12, 12),
            (0x21, 36),
            (0x22, 36),
            (0x31, 216),
            (0x32, 216),
        ] {
            let mut w = preamble(0x21, fam, need - 1);
            w.resize(16 + usize::from(need), 0);
            assert_eq!(invalid(&w), Error::ShortAddressBlock, "{fam:#x}");
        }
    }

    #[test]
    fn truncated_addresses_are_incomplete_until_they_arrive() {
        let wire = tcp4_wire(&[]);
        for n in 0..wire.len() {
            assert_eq!(
                parse(&wire[..n], &HeaderLimits::default()),
                Parse::Incomplete,
                "n={n}"
            );
        }
        assert_eq!(complete(&wire).1, wire.len());
    }

    #[test]
    fn tlv_framing_errors() {
        // 1 and 2 bytes left: no room for a TLV header.
        assert_eq!(invalid(&tcp4_wire(&[tlv::NOOP])), Error::BadTlv);
        assert_eq!(invalid(&tcp4_wire(&[tlv::NOOP, 0])), Error::BadTlv);
        // A value running past the header's end (into what would be payload).
        let mut w = tcp4_wire(&[tlv::ALPN, 0, 5, b'h', b'2']);
        w.extend_from_slice(b"GET");
        assert_eq!(invalid(&w), Error::BadTlv);
        // A good TLV followed by an overrunning one.
        let mut t = tlv_bytes(tlv::NOOP, b"");
        t.extend_from_slice(&[tlv::AUTHORITY, 0x01, 0x00, b'x']);
        assert_eq!(invalid(&tcp4_wire(&t)), Error::BadTlv);
        // HAProxy's per-type limits.
        assert_eq!(
            invalid(&tcp4_wire(&tlv_bytes(tlv::AUTHORITY, &[b'a'; 256]))),
            Error::BadTlv
        );
        assert!(
            complete(&tcp4_wire(&tlv_bytes(tlv::AUTHORITY, &[b'a'; 255])))
                .0
                .authority()
                .is_some()
        );
        assert_eq!(
            invalid(&tcp4_wire(&tlv_bytes(tlv::UNIQUE_ID, &[7; 129]))),
            Error::BadTlv
        );
        assert_eq!(
            complete(&tcp4_wire(&tlv_bytes(tlv::UNIQUE_ID, &[7; 128])))
                .0
                .unique_id(),
            Some(&[7u8; 128][..])
        );
        assert_eq!(
            invalid(&tcp4_wire(&tlv_bytes(tlv::CRC32C, &[0; 3]))),
            Error::BadTlv
        );
    }

    #[test]
    fn crc32c_is_verified() {
        let addrs = Addresses::Tcp {
            src: "10.1.2.3:40000".parse().unwrap(),
            dst: "10.9.8.7:443".parse().unwrap(),
        };
        let wire = encode(
            Command::Proxy,
            &addrs,
            &[(tlv::AWS, AWS_VPCE)],
            Checksum::Crc32c,
        );
        let (h, _) = complete(&wire);
        let stored = h.crc32c().expect("present");
        // Recompute independently: checksum of the header with the field zeroed.
        let mut zeroed = wire.clone();
        let at = 16 + 12 + 3;
        assert_eq!(zeroed[at - 3], tlv::CRC32C);
        zeroed[at..at + 4].fill(0);
        assert_eq!(crc32c::checksum(&zeroed), stored);

        // Any change to the addresses or TLVs is caught.
        for i in 16..wire.len() {
            if (at..at + 4).contains(&i) || (16 + 12..at).contains(&i) {
                continue; // the CRC TLV's own framing is covered by other tests
            }
            let mut w = wire.clone();
            w[i] ^= 0x01;
            assert!(
                matches!(
                    parse(&w, &HeaderLimits::default()),
                    Parse::Invalid(Error::BadChecksum | Error::BadTlv)
                ),
                "byte {i}"
            );
        }
        let mut w = wire.clone();
        w[at] ^= 0x80;
        assert_eq!(invalid(&w), Error::BadChecksum);

        // Two checksums, even both correct-looking, are refused.
        let crc = tlv_bytes(tlv::CRC32C, &[0; 4]);
        let mut two = crc.clone();
        two.extend_from_slice(&crc);
        let mut w = tcp4_wire(&two);
        let c = crc32c::checksum(&w);
        w[16 + 12 + 3..16 + 12 + 7].copy_from_slice(&c.to_be_bytes());
        assert_eq!(invalid(&w), Error::BadTlv);

        // LOCAL with a checksum (HAProxy sends it on health checks with crc32c set).
        let local = encode(
            Command::Local,
            &Addresses::Unspecified,
            &[],
            Checksum::Crc32c,
        );
        assert!(complete(&local).0.crc32c().is_some());
        let mut bad = local.clone();
        bad[local.len() - 1] ^= 1;
        assert_eq!(invalid(&bad), Error::BadChecksum);
    }

    #[test]
    fn crc32c_computed_elsewhere_is_accepted() {
        // Headers whose checksum was computed by a separate bit-at-a-time CRC32C (a Python
        // script), so the field position, zeroing and byte order are checked against an
        // implementation that shares no code with this one.
        fn hex(s: &str) -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }
        let tcp4 = hex(concat!(
            "0d0a0d0a000d0a515549540a21110032c0a80001c0a8000bdc0401bb03000480a94d98",
            "ea001701767063652d30386432626631356661633530303163390100026832"
        ));
        let (h, len) = complete(&tcp4);
        assert_eq!(len, tcp4.len());
        assert_eq!(h.crc32c(), Some(0x80a9_4d98));
        assert_eq!(h.aws_vpce_id(), Some("vpce-08d2bf15fac5001c9"));
        assert_eq!(h.alpn(), Some(&b"h2"[..]));

        let local = hex("0d0a0d0a000d0a515549540a20000007030004a9b87e8f");
        let (h, _) = complete(&local);
        assert_eq!((h.command, h.crc32c()), (Command::Local, Some(0xa9b8_7e8f)));
        // And our encoder produces the very same bytes.
        assert_eq!(
            encode(
                Command::Local,
                &Addresses::Unspecified,
                &[],
                Checksum::Crc32c
            ),
            local
        );
    }

    #[test]
    fn oversized_is_refused_from_the_preamble() {
        let limit = HeaderLimits::DEFAULT_MAX_HEADER_LEN;
        let over = preamble(0x21, 0x11, (limit - 16 + 1) as u16);
        assert_eq!(
            invalid(&over),
            Error::Oversized {
                len: limit + 1,
                limit
            }
        );
        // At the limit: waits, then completes (12 address bytes and one big NOOP).
        let mut at = tcp4_wire(&tlv_bytes(tlv::NOOP, &vec![0; limit - 16 - 12 - 3]));
        assert_eq!(at.len(), limit);
        assert_eq!(
            parse(&at[..16], &HeaderLimits::default()),
            Parse::Incomplete
        );
        assert_eq!(complete(&at).1, limit);
        // The cap is configurable, up to everything the format allows.
        let big = HeaderLimits::new().with_max_header_len(V2_MAX_LEN);
        at = tcp4_wire(&tlv_bytes(tlv::NOOP, &vec![0; V2_MAX_LEN - 16 - 12 - 3]));
        assert_eq!(at.len(), V2_MAX_LEN);
        assert!(matches!(
            parse(&at, &big),
            Parse::Complete {
                len: V2_MAX_LEN,
                ..
            }
        ));
        let tight = HeaderLimits::new().with_max_header_len(27);
        assert_eq!(
            parse(&tcp4_wire(&[]), &tight),
            Parse::Invalid(Error::Oversized { len: 28, limit: 27 })
        );
    }

    #[test]
    fn aws_vpce_id() {
        let mut tlvs = tlv_bytes(tlv::NOOP, &[0; 3]);
        tlvs.extend_from_slice(&tlv_bytes(tlv::AWS, AWS_VPCE));
        let wire = tcp4_wire(&tlvs);
        let (h, _) = complete(&wire);
        assert_eq!(h.aws_vpce_id(), Some("vpce-08d2bf15fac5001c9"));
        // Another AWS subtype is not an endpoint id.
        let other = tcp4_wire(&tlv_bytes(tlv::AWS, b"\x02something"));
        assert_eq!(complete(&other).0.aws_vpce_id(), None);
        assert_eq!(complete(&tcp4_wire(&[])).0.aws_vpce_id(), None);
    }

    #[test]
    fn tlv_accessors_and_into_owned() {
        let mut ssl = [0u8; 64];
        let n = encode_ssl_value(
            tlv::CLIENT_SSL | tlv::CLIENT_CERT_SESS,
            0,
            &[
                (tlv::SSL_VERSION, b"TLSv1.3"),
                (tlv::SSL_CIPHER, b"TLS_AES_128_GCM_SHA256"),
            ],
            &mut ssl,
        )
        .unwrap();
        let addrs = Addresses::Tcp {
            src: "[2001:db8::7]:5000".parse().unwrap(),
            dst: "[2001:db8::8]:443".parse().unwrap(),
        };
        let tlvs: &[(u8, &[u8])] = &[
            (tlv::ALPN, b"h2"),
            (tlv::AUTHORITY, b"www.example.com"),
            (tlv::UNIQUE_ID, b"\x00\x01id"),
            (tlv::SSL, &ssl[..n]),
            (tlv::NETNS, b"blue"),
            (0xE0, b"custom"),
            (tlv::AWS, AWS_VPCE),
        ];
        let mut wire = encode(Command::Proxy, &addrs, tlvs, Checksum::Crc32c);
        wire.extend_from_slice(b"payload");
        let (h, len) = complete(&wire);
        assert_eq!(&wire[len..], b"payload");
        assert_eq!(h.alpn(), Some(&b"h2"[..]));
        assert_eq!(h.authority(), Some("www.example.com"));
        assert_eq!(h.unique_id(), Some(&b"\x00\x01id"[..]));
        assert_eq!(h.netns(), Some("blue"));
        assert_eq!(h.tlv(0xE0), Some(&b"custom"[..]));
        assert_eq!(h.aws_vpce_id(), Some("vpce-08d2bf15fac5001c9"));
        let s = h.ssl().expect("ssl");
        assert!(s.client_ssl());
        assert_eq!(s.client & tlv::CLIENT_CERT_SESS, tlv::CLIENT_CERT_SESS);
        assert_eq!(s.version(), Some("TLSv1.3"));
        assert_eq!(s.cipher(), Some("TLS_AES_128_GCM_SHA256"));
        let kinds: Vec<u8> = h.tlvs().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [tlv::CRC32C, 0x01, 0x02, 0x05, 0x20, 0x30, 0xE0, 0xEA]
        );
        assert_eq!(h.tlv_bytes().len(), len - 16 - 36);

        // Invalid UTF-8 in a text TLV reads as absent rather than failing the connection.
        let bad = tcp4_wire(&tlv_bytes(tlv::AUTHORITY, b"\xff\xfe"));
        assert_eq!(complete(&bad).0.authority(), None);

        // The owned copy survives the buffer and answers the same.
        let owned: OwnedHeader = h.into_owned();
        drop(wire);
        let h2 = owned.as_header();
        assert_eq!(h2.authority(), Some("www.example.com"));
        assert_eq!(h2.aws_vpce_id(), Some("vpce-08d2bf15fac5001c9"));
        assert_eq!(h2.addresses, addrs);
        assert_eq!(h2.tlvs().count(), 8);
    }

    #[test]
    fn byte_by_byte_with_tlvs() {
        let addrs = Addresses::Tcp {
            src: "[2001:db8::1]:1".parse().unwrap(),
            dst: "[2001:db8::2]:2".parse().unwrap(),
        };
        let mut wire = encode(
            Command::Proxy,
            &addrs,
            &[(tlv::AWS, AWS_VPCE)],
            Checksum::Crc32c,
        );
        let hdr_len = wire.len();
        wire.extend_from_slice(b"\x16\x03\x01"); // a TLS ClientHello follows
        for n in 0..hdr_len {
            assert_eq!(
                parse(&wire[..n], &HeaderLimits::default()),
                Parse::Incomplete,
                "n={n}"
            );
        }
        for n in hdr_len..=wire.len() {
            assert_eq!(complete(&wire[..n]).1, hdr_len);
        }
    }

    #[test]
    fn encode_families() {
        let enc = |a: Addresses| encode(Command::Proxy, &a, &[], Checksum::None);
        // IPv4-mapped on both sides (dual-stack listener): INET.
        let w = enc(Addresses::Tcp {
            src: "[::ffff:10.0.0.1]:1".parse().unwrap(),
            dst: "[::ffff:10.0.0.2]:2".parse().unwrap(),
        });
        assert_eq!((w[13], w.len()), (0x11, 28));
        // Mixed: INET6 with the IPv4 side mapped (HAProxy's v4tov6).
        let w = enc(Addresses::Udp {
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "[2001:db8::2]:2".parse().unwrap(),
        });
        assert_eq!((w[13], w.len()), (0x22, 52));
        let (h, _) = complete(&w);
        assert_eq!(
            h.addresses,
            Addresses::Udp {
                src: "[::ffff:10.0.0.1]:1".parse().unwrap(),
                dst: "[2001:db8::2]:2".parse().unwrap(),
            }
        );
        // UNIX round trip.
        let a = Addresses::UnixDatagram {
            src: UnixAddr::from_path(b"/tmp/a").unwrap(),
            dst: UnixAddr::from_path(b"/tmp/b").unwrap(),
        };
        let w = enc(a.clone());
        assert_eq!((w[13], w.len()), (0x32, 16 + 216));
        assert_eq!(complete(&w).0.addresses, a);
        assert!(UnixAddr::from_path(&[b'x'; 109]).is_none());
    }

    #[test]
    fn encode_errors() {
        let a = Addresses::Tcp {
            src: "1.2.3.4:1".parse().unwrap(),
            dst: "5.6.7.8:2".parse().unwrap(),
        };
        let mut small = [0u8; 27];
        assert_eq!(
            encode_v2(Command::Proxy, &a, &[], Checksum::None, &mut small),
            Err(EncodeError::BufferTooSmall { needed: 28 })
        );
        assert_eq!(
            encode_v2(
                Command::Proxy,
                &a,
                &[(tlv::NOOP, b"")],
                Checksum::Crc32c,
                &mut small
            ),
            Err(EncodeError::BufferTooSmall { needed: 38 })
        );
        let big = vec![0u8; 65536];
        let mut out = vec![0u8; V2_MAX_LEN + 100];
        assert!(matches!(
            encode_v2(
                Command::Proxy,
                &a,
                &[(tlv::NOOP, &big)],
                Checksum::None,
                &mut out
            ),
            Err(EncodeError::TooLong { .. })
        ));
        // The largest that fits: 12 address bytes + 3 + value = 65535.
        let fits = &big[..65535 - 12 - 3];
        assert_eq!(
            encode_v2(
                Command::Proxy,
                &a,
                &[(tlv::NOOP, fits)],
                Checksum::None,
                &mut out
            ),
            Ok(V2_MAX_LEN)
        );
        assert!(matches!(
            encode_v2(
                Command::Proxy,
                &a,
                &[(tlv::NOOP, &fits[1..]), (tlv::NOOP, b"")],
                Checksum::None,
                &mut out
            ),
            Err(EncodeError::TooLong { len: 65537 })
        ));
        let mut tiny = [0u8; 4];
        assert_eq!(
            encode_ssl_value(0, 0, &[], &mut tiny),
            Err(EncodeError::BufferTooSmall { needed: 5 })
        );
    }
}
