//! Hashing as HAProxy 2.6 hashes (src/hash.c, src/backend.c, src/lb_map.c): the same key
//! reaches the same server through corelb and through HAProxy with the same servers, so an
//! operator moving a cache farm over keeps its hit ratio. The functions are HAProxy's
//! (`hash-type … sdbm|djb2|wt6|crc32 [avalanche]`), and so is the mapping of a hash onto
//! servers: `map-based` takes slot `hash % total weight` of HAProxy's weighted map, and
//! `consistent` the nearest point of HAProxy's ring (see `chash`).

use super::{Pick, take};
use crate::cluster::ServerState;
use crate::config::HashFn;
use std::net::IpAddr;
use std::sync::Arc;

// The functions are the acl layer's, shared with the converters and fetches of the same
// names.
pub use crate::acl::hash::{crc32, djb2, full_hash, sdbm, wt6};

/// A backend's `hash-type` function and modifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hasher {
    pub func: HashFn,
    pub avalanche: bool,
}

impl Hasher {
    /// The key of `balance uri|url_param|hdr()|rdp-cookie|hash` for these bytes
    /// (HAProxy's `gen_hash`, then `full_hash` with `avalanche`).
    pub fn key(&self, b: &[u8]) -> u32 {
        let h = match self.func {
            HashFn::Sdbm => sdbm(b),
            HashFn::Djb2 => djb2(b),
            HashFn::Wt6 => wt6(b),
            HashFn::Crc32 => crc32(b),
        };
        self.finish(h)
    }

    /// The key of `balance source`: HAProxy XORs the address's 32-bit words (big-endian),
    /// whatever the hash function; only the avalanche modifier applies. An IPv6 client,
    /// IPv4-mapped ones included, hashes its 16 bytes, as HAProxy's AF_INET6 socket does.
    pub fn source_key(&self, ip: &IpAddr) -> u32 {
        let h = match ip {
            IpAddr::V4(v4) => u32::from_be_bytes(v4.octets()),
            IpAddr::V6(v6) => v6
                .octets()
                .chunks_exact(4)
                .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
        };
        self.finish(h)
    }

    fn finish(&self, h: u32) -> u32 {
        if self.avalanche { full_hash(h) } else { h }
    }
}

/// HAProxy's server map for map-based hashing (`recalc_server_map`): `total` slots, each
/// server appearing as often as its effective weight, spread by HAProxy's scoring (which
/// favours the first declared server on ties). `cands` are the servers HAProxy considers
/// (the usable active ones, or the usable backups when none is), with their effective
/// weights; `total` is the backend's total weight (only the first backup's weight without
/// `option allbackups`, while every usable backup still competes for the slots, as in
/// HAProxy).
pub fn haproxy_map(cands: &[(u16, u32)], total: u32) -> Vec<u16> {
    let tot = total as i64;
    let mut map = Vec::with_capacity(total as usize);
    if cands.is_empty() || tot == 0 {
        return map;
    }
    let mut score = vec![0i64; cands.len()];
    for _ in 0..tot {
        if tot == 1 {
            map.push(cands[0].0);
            break;
        }
        let (mut best, mut max) = (None, 0i64);
        for (k, &(_, w)) in cands.iter().enumerate() {
            score[k] += w as i64;
            // C's truncating division, as Rust's.
            let v = (score[k] + tot) / tot;
            if best.is_none() || v > max {
                max = v;
                best = Some(k);
            }
        }
        let b = best.unwrap_or(0);
        map.push(cands[b].0);
        score[b] -= tot;
    }
    map
}

/// Map-based: the key selects slot `key % len` of HAProxy's map; a full server queues the
/// connection rather than breaking the mapping. With `avoid` (redispatch) the next slot
/// that holds another server is used.
pub fn pick_map(map: &[u16], key: u32, servers: &[Arc<ServerState>], avoid: Option<usize>) -> Pick {
    if map.is_empty() {
        return Pick::NoServer;
    }
    let n = map.len();
    let start = key as usize % n;
    for k in 0..n {
        let idx = map[(start + k) % n] as usize;
        if Some(idx) == avoid {
            continue;
        }
        return take(servers, idx).unwrap_or(Pick::Full);
    }
    Pick::NoServer
}

/// Greatest common divisor of the configured weights (HAProxy's `wmult` for map-based
/// backends: effective weights are divided by it, which keeps the map small).
pub fn weight_gcd(weights: impl Iterator<Item = u32>) -> u32 {
    let mut g = 0u32;
    for w in weights.filter(|&w| w > 0) {
        let (mut a, mut b) = (g, w);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        g = a;
    }
    g.max(1)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;

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

    /// Values printed by HAProxy 2.6's src/hash.c and full_hash() compiled as they are.
    #[test]
    fn functions_are_haproxys() {
        let long = b"hello world, this is a longer key!";
        for (f, key, want) in [
            (HashFn::Sdbm, &b""[..], 0),
            (HashFn::Djb2, b"", 5381),
            (HashFn::Wt6, b"", 4187620192),
            (HashFn::Crc32, b"", 0),
            (HashFn::Sdbm, b"a", 97),
            (HashFn::Djb2, b"a", 177670),
            (HashFn::Wt6, b"a", 1900802597),
            (HashFn::Crc32, b"a", 3904355907),
            (HashFn::Sdbm, b"/img/a.png", 550468705),
            (HashFn::Djb2, b"/img/a.png", 3220690452),
            (HashFn::Wt6, b"/img/a.png", 77009691),
            (HashFn::Crc32, b"/img/a.png", 3338611524),
            (HashFn::Sdbm, long, 485092814),
            (HashFn::Djb2, long, 1434867987),
            (HashFn::Wt6, long, 1492856124),
            (HashFn::Crc32, long, 3929544958),
        ] {
            let h = Hasher {
                func: f,
                avalanche: false,
            };
            assert_eq!(h.key(key), want, "{f:?} {:?}", String::from_utf8_lossy(key));
        }
        for (a, want) in [
            (0, 2874071335),
            (1, 881230262),
            (4096, 1237450891),
            (123456789, 2578161185),
        ] {
            assert_eq!(full_hash(a), want, "full_hash({a})");
        }
    }

    #[test]
    fn source_key_is_the_address_without_avalanche() {
        let h = Hasher::default();
        assert_eq!(h.source_key(&"1.2.3.4".parse().unwrap()), 0x0102_0304);
        assert_eq!(
            h.source_key(&"::ffff:1.2.3.4".parse().unwrap()),
            0xffff ^ 0x0102_0304
        );
    }

    #[test]
    fn map_follows_haproxys_scoring() {
        // HAProxy's recalc_server_map, compiled, printed these.
        assert_eq!(
            haproxy_map(&[(0, 1), (1, 2), (2, 3)], 6),
            vec![0, 2, 1, 2, 1, 2]
        );
        assert_eq!(
            haproxy_map(&[(0, 3), (1, 1), (2, 4), (3, 1), (4, 5)], 14),
            vec![0, 1, 4, 2, 0, 4, 2, 2, 4, 0, 2, 4, 3, 4]
        );
        assert_eq!(haproxy_map(&[(0, 1), (1, 1)], 2), vec![0, 1]);
        assert_eq!(weight_gcd([10, 20, 30].into_iter()), 10);
        assert_eq!(weight_gcd([0, 0].into_iter()), 1);
    }
}
