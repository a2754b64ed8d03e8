//! Dynamic persistence cookies (`cookie … dynamic` with `dynamic-cookie-key`): a server
//! without a `cookie` value gets one derived from the key, its port and its address, so that
//! several load balancers with the same key give a server the same cookie (HAProxy's
//! `srv_set_dyncookie`).

use crate::acl::xxh64;
use std::net::IpAddr;

/// The cookie value HAProxy 2.6 derives for a server at `ip`:`port`: XXH64 (seed 0) of the
/// key, the address (4 or 16 bytes) and the port as 4 big-endian bytes, written as 16
/// lower-case hex digits.
pub fn value(key: &str, ip: IpAddr, port: u16) -> String {
    let mut buf = Vec::with_capacity(key.len() + 20);
    buf.extend_from_slice(key.as_bytes());
    match ip {
        IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
    }
    buf.extend_from_slice(&u32::from(port).to_be_bytes());
    format!("{:016x}", xxh64(&buf, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_reference_values() {
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
        // Longer than a 32-byte stripe.
        let long: Vec<u8> = (0..100u8).collect();
        assert_ne!(xxh64(&long, 0), xxh64(&long[..99], 0));
    }

    #[test]
    fn values_debian_haproxy_2_6_set() {
        // `dynamic-cookie-key s3cr3t`, servers at 127.0.0.1:19994 and :19997.
        let ip = "127.0.0.1".parse().unwrap();
        assert_eq!(value("s3cr3t", ip, 19994), "9d22fe914994424c");
        assert_eq!(value("s3cr3t", ip, 19997), "dc4989778306fd30");
    }
}
