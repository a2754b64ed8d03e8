//! Hashing for `balance source`: a fixed hash of the client address (the same on every
//! shard and across restarts), mapped onto the weighted schedule (`hash-type map-based`) or
//! onto the consistent ring (`hash-type consistent`, see `chash`).

use super::{Pick, take};
use crate::cluster::ServerState;
use std::net::IpAddr;
use std::sync::Arc;

/// 32-bit FNV-1a over the bytes, then murmur3's finalizer so that nearby addresses spread.
/// HAProxy's default `hash-function` (sdbm), for keys whose server must be the one HAProxy
/// picks (`balance rdp-cookie`: a reconnecting RDP client reaches the same server through
/// either proxy).
pub fn sdbm(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |h, &c| {
        (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

pub fn hash_bytes(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &x in b {
        h ^= x as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

pub fn ip_hash(ip: &IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash_bytes(&v4.octets()),
            None => hash_bytes(&v6.octets()),
        },
    }
}

/// Map-based: the key selects a slot of the weighted table; a full server queues the
/// connection rather than breaking the mapping. With `avoid` (redispatch) the next slot
/// that holds another server is used.
pub fn pick_map(
    schedule: &[u16],
    key: u32,
    servers: &[Arc<ServerState>],
    avoid: Option<usize>,
) -> Pick {
    if schedule.is_empty() {
        return Pick::NoServer;
    }
    let n = schedule.len();
    let start = key as usize % n;
    for k in 0..n {
        let idx = schedule[(start + k) % n] as usize;
        if Some(idx) == avoid {
            continue;
        }
        return take(servers, idx).unwrap_or(Pick::Full);
    }
    Pick::NoServer
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn same_client_same_server() {
        let lb = Lb::new(
            Algo::Source,
            HashType::MapBased,
            false,
            servers(&[(1, false, 0); 3]),
        );
        let d = distribution(&lb, 50, "10.9.8.7");
        assert_eq!(d.iter().filter(|&&c| c == 50).count(), 1);
        // Many clients spread over every server.
        let d = distribution(&lb, 3000, "vary");
        assert!(d.iter().all(|&c| c > 800), "{d:?}");
    }

    #[test]
    fn mapped_v4_hashes_like_v4() {
        assert_eq!(
            super::ip_hash(&"::ffff:1.2.3.4".parse().unwrap()),
            super::ip_hash(&"1.2.3.4".parse().unwrap())
        );
    }
}
