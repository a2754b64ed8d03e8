//! NetScaler's Client IP insertion protocol (CIP, `bind … accept-netscaler-cip MAGIC`): the
//! NetScaler puts, before the client's bytes, a 32-bit magic number and a copy of the
//! client's IP and TCP headers, from which the client's and the destination's addresses
//! are read. Two framings, told apart as HAProxy 2.6's `conn_recv_netscaler_cip` does:
//!
//! - legacy: `MAGIC(4) LEN(4) IP-HEADER…`, told by the byte after the length looking like
//!   the start of an IPv4 header (`byte & 0xD0 == 0x40`);
//! - standard (CIP with a TCP header): `MAGIC(4) HDR(4) 0x0000 LEN(2) IP-HEADER…`.
//!
//! All integers are big-endian. `LEN` counts the bytes after the framing (the IP header
//! copy and whatever follows it); the client's payload starts after them. Pure: bytes in,
//! addresses and the length used out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the bytes so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Cip {
    /// The client's address and the destination, and how many bytes the header used.
    Complete {
        src: SocketAddr,
        dst: SocketAddr,
        len: usize,
    },
    /// More bytes are needed.
    Incomplete,
    /// Not a CIP header for this magic (HAProxy closes the connection).
    Invalid(&'static str),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Parses a CIP header for `magic` at the start of `buf`.
pub fn parse(buf: &[u8], magic: u32) -> Cip {
    // The magic, the lengths and the type: 12 bytes (HAProxy waits for them all).
    if buf.len() < 12 {
        // A wrong magic is known as soon as its 4 bytes are here.
        if buf.len() >= 4 && be32(buf) != magic {
            return Cip::Invalid("bad magic");
        }
        return Cip::Incomplete;
    }
    if be32(buf) != magic {
        return Cip::Invalid("bad magic");
    }
    let (cip_len, start) = if buf[8] & 0xD0 == 0x40 {
        // Legacy: the IP header follows the 32-bit length directly.
        (be32(&buf[4..]) as usize, 8)
    } else if be16(&buf[8..]) == 0 {
        (be16(&buf[10..]) as usize, 12)
    } else {
        return Cip::Invalid("unknown CIP header type");
    };
    let total = start + cip_len;
    let ip = &buf[start..];
    if ip.len() < 20 {
        return Cip::Incomplete;
    }
    match ip[0] >> 4 {
        4 => {
            // HAProxy waits for 40 bytes (an IPv4 and a TCP header) and the whole CIP.
            if buf.len() < 40 || buf.len() < total {
                return Cip::Incomplete;
            }
            if ip[9] != 6 {
                return Cip::Invalid("not TCP");
            }
            let ihl = (ip[0] & 0x0f) as usize * 4;
            if ihl < 20 {
                return Cip::Invalid("bad IPv4 header length");
            }
            // HAProxy reads the ports where the IP header says, even past the CIP length.
            if ip.len() < ihl + 4 {
                return Cip::Incomplete;
            }
            let tcp = &ip[ihl..];
            let s = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let d = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            Cip::Complete {
                src: SocketAddr::new(IpAddr::V4(s), be16(tcp)),
                dst: SocketAddr::new(IpAddr::V4(d), be16(&tcp[2..])),
                len: total,
            }
        }
        6 => {
            if buf.len() < 60 || buf.len() < total {
                return Cip::Incomplete;
            }
            if ip.len() < 44 {
                return Cip::Invalid("truncated TCP header");
            }
            // The next header must be TCP.
            if ip[6] != 6 {
                return Cip::Invalid("not TCP");
            }
            let a = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&ip[o..o + 16]);
                Ipv6Addr::from(b)
            };
            let tcp = &ip[40..];
            Cip::Complete {
                src: SocketAddr::new(IpAddr::V6(a(8)), be16(tcp)),
                dst: SocketAddr::new(IpAddr::V6(a(24)), be16(&tcp[2..])),
                len: total,
            }
        }
        _ => Cip::Invalid("unknown IP version"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 + TCP header copy from 10.1.2.3:4567 to 192.168.0.9:80.
    fn ip4() -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0];
        h.extend_from_slice(&[10, 1, 2, 3, 192, 168, 0, 9]);
        h.extend_from_slice(&4567u16.to_be_bytes());
        h.extend_from_slice(&80u16.to_be_bytes());
        h.extend_from_slice(&[0; 16]);
        h
    }

    #[test]
    fn legacy_and_standard_framings() {
        let magic = 0x1234_5678u32;
        let want = |len| Cip::Complete {
            src: "10.1.2.3:4567".parse().unwrap(),
            dst: "192.168.0.9:80".parse().unwrap(),
            len,
        };
        let mut legacy = magic.to_be_bytes().to_vec();
        legacy.extend_from_slice(&40u32.to_be_bytes());
        legacy.extend_from_slice(&ip4());
        legacy.extend_from_slice(b"GET /");
        assert_eq!(parse(&legacy, magic), want(48));
        let mut std = magic.to_be_bytes().to_vec();
        std.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        std.extend_from_slice(&40u16.to_be_bytes());
        std.extend_from_slice(&ip4());
        assert_eq!(parse(&std, magic), want(52));
        for n in 0..52 {
            assert_eq!(parse(&std[..n], magic), Cip::Incomplete, "{n}");
        }
        assert_eq!(parse(&std, magic + 1), Cip::Invalid("bad magic"));
        let mut udp = legacy.clone();
        udp[8 + 9] = 17;
        assert_eq!(parse(&udp, magic), Cip::Invalid("not TCP"));
    }
}
