//! One stick table: a concurrent map from keys to entries whose data are atomics.
//!
//! The map is `papaya::HashMap` (lock-free reads and inserts, epoch-based reclamation), so a
//! shard looks an entry up and updates its counters without a lock. An entry's life:
//!
//! - created on first use (`track-sc`, `stick store`, `sc_inc_gpc0` of an absent key) when
//!   the table has room; when it is full, the oldest unreferenced entries are evicted first
//!   (`size/256 + 1` of them, HAProxy's batch), and the entry is not created if none could be
//!   (or with `nopurge`);
//! - referenced by each live tracker (`refs`); `touched` is the date of its last use;
//! - removed once unreferenced and idle longer than `expire` (the purge thread, or the next
//!   lookup of its key), by `clear table`, or by eviction. Removal first swings `refs` from 0
//!   to [`DEAD`], so a tracker that races with it either holds a reference (and the entry
//!   stays) or sees it dead and starts over with a fresh entry.

use super::freq::FreqCtr;
use crate::config::stick::{DataType, KeyType, StickTableCfg};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

const DEAD: u32 = u32::MAX;
const NONE: u8 = u8::MAX;

/// A table key, normalized for the table's type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    V4([u8; 4]),
    V6([u8; 16]),
    Int(u32),
    Bytes(Box<[u8]>),
}

impl std::fmt::Display for Key {
    /// As `show table` prints keys (and as `key K` accepts them).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::V4(a) => write!(f, "{}", std::net::Ipv4Addr::from(*a)),
            Key::V6(a) => write!(f, "{}", std::net::Ipv6Addr::from(*a)),
            Key::Int(i) => write!(f, "{i}"),
            Key::Bytes(b) => write!(f, "{}", String::from_utf8_lossy(b)),
        }
    }
}

/// One entry: its key, who uses it, and its data laid out by the table.
#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    refs: AtomicU32,
    /// Milliseconds of [`super::now_ms`] when it was last used.
    touched: AtomicU64,
    cnt: Box<[AtomicU64]>,
    rates: Box<[FreqCtr]>,
    /// Where `conn_cur` is in `cnt` ([`NONE`] if not stored): a tracker lets go of an entry
    /// without its table at hand.
    conn_cur: u8,
}

impl Entry {
    /// Trackers holding it now (`use=` in `show table`).
    pub fn refs(&self) -> u32 {
        match self.refs.load(Acquire) {
            DEAD => 0,
            r => r,
        }
    }

    fn acquire(&self) -> bool {
        let mut r = self.refs.load(Acquire);
        loop {
            if r == DEAD {
                return false;
            }
            match self.refs.compare_exchange_weak(r, r + 1, AcqRel, Acquire) {
                Ok(_) => return true,
                Err(now) => r = now,
            }
        }
    }

    pub(super) fn release(&self, now: u64) {
        self.touched.store(now, Release);
        self.refs.fetch_sub(1, AcqRel);
    }

    /// A tracker's end: `conn_cur` one less (not below zero), and released.
    pub(super) fn untrack(&self, now: u64) {
        if let Some(c) = self.cnt.get(self.conn_cur as usize) {
            let _ = c.fetch_update(AcqRel, Acquire, |v| v.checked_sub(1));
        }
        self.release(now);
    }

    pub(super) fn touch(&self, now: u64) {
        self.touched.store(now, Release);
    }

    pub fn touched(&self) -> u64 {
        self.touched.load(Acquire)
    }
}

/// Where a data type lives in an entry.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Cnt(u8),
    Rate(u8, u32),
}

/// A stick table of one proxy.
pub struct Table {
    /// The declaring proxy's name.
    pub name: String,
    pub cfg: StickTableCfg,
    expire_ms: Option<u64>,
    /// Per [`DataType`]: index into `cnt`/`rates` (of the first element of an array), or
    /// [`NONE`], and the rate period.
    layout: [(u8, u32); crate::config::stick::DATA_TYPES.len()],
    /// Per [`DataType`]: elements stored (1 for a plain type, N for `gpc(N)`, 0 if none).
    nb: [u8; crate::config::stick::DATA_TYPES.len()],
    n_cnt: usize,
    n_rate: usize,
    map: papaya::HashMap<Key, Arc<Entry>, foldhash::fast::RandomState>,
    count: AtomicUsize,
    evicting: AtomicBool,
    /// Whether entries store any byte counter (`bytes_in/out_cnt/rate`): the end of every
    /// request skips the four look-ups when none is.
    pub(super) stores_bytes: bool,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("name", &self.name).finish()
    }
}

impl Table {
    pub fn new(name: &str, cfg: &StickTableCfg) -> Table {
        let mut layout = [(NONE, 0); crate::config::stick::DATA_TYPES.len()];
        let mut nb = [0u8; crate::config::stick::DATA_TYPES.len()];
        let (mut n_cnt, mut n_rate) = (0usize, 0usize);
        for &(dt, period) in &cfg.store {
            let n = cfg.nb(dt);
            nb[dt as usize] = n as u8;
            layout[dt as usize] = if dt.is_rate() {
                n_rate += n;
                ((n_rate - n) as u8, period)
            } else {
                n_cnt += n;
                ((n_cnt - n) as u8, 0)
            };
        }
        Table {
            name: name.to_string(),
            cfg: cfg.clone(),
            expire_ms: cfg.expire.map(|d| d.as_millis() as u64),
            layout,
            nb,
            n_cnt,
            n_rate,
            map: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .build(),
            count: AtomicUsize::new(0),
            evicting: AtomicBool::new(false),
            stores_bytes: [
                DataType::BytesInCnt,
                DataType::BytesInRate,
                DataType::BytesOutCnt,
                DataType::BytesOutRate,
            ]
            .iter()
            .any(|&d| nb[d as usize] > 0),
        }
    }

    /// Entries in the table (`used:` of `show table`).
    pub fn used(&self) -> usize {
        self.count.load(Acquire)
    }

    /// Whether entries store `dt` (`gpc0` also when they store the `gpc` array, whose
    /// element 0 it then is).
    pub fn stores(&self, dt: DataType) -> bool {
        self.slot(dt).is_some()
    }

    /// How many elements of `dt` entries store as declared: 1 for a plain type, N for an
    /// array, 0 when not stored (no fallback from `gpc0` to `gpc`).
    pub fn nb(&self, dt: DataType) -> usize {
        self.nb[dt as usize] as usize
    }

    /// Rate period of `dt` in ms (0 if not a stored rate).
    pub fn period(&self, dt: DataType) -> u32 {
        match self.resolve(dt) {
            Some((d, _)) => self.layout[d as usize].1,
            None => 0,
        }
    }

    /// The declared type and element `dt` is: itself, or the array element a legacy type
    /// falls back to (HAProxy 2.6: `gpc0` is `gpc[0]` of a table that stores `gpc(N)`).
    fn resolve(&self, dt: DataType) -> Option<(DataType, usize)> {
        if self.nb[dt as usize] > 0 && !dt.is_array() {
            return Some((dt, 0));
        }
        let (a, i) = dt.legacy_element()?;
        (i < self.nb(a)).then_some((a, i))
    }

    fn slot(&self, dt: DataType) -> Option<Slot> {
        let (d, i) = self.resolve(dt)?;
        self.slot_at(d, i)
    }

    /// Element `idx` of `dt` as declared (`idx` 0 of a plain type).
    fn slot_at(&self, dt: DataType, idx: usize) -> Option<Slot> {
        let (i, p) = self.layout[dt as usize];
        if i == NONE || idx >= self.nb(dt) {
            None
        } else if dt.is_rate() {
            Some(Slot::Rate(i + idx as u8, p))
        } else {
            Some(Slot::Cnt(i + idx as u8))
        }
    }

    /// The key for a sample value, as HAProxy casts samples to the table's type: an IPv6
    /// address fits an `ip` table only if it maps an IPv4 one; strings and binary blocks are
    /// cut (or, binary, padded) to `len`.
    pub fn key_of_ip(&self, ip: IpAddr) -> Option<Key> {
        match (self.cfg.key, ip) {
            (KeyType::Ip, IpAddr::V4(a)) => Some(Key::V4(a.octets())),
            (KeyType::Ip, IpAddr::V6(a)) => a.to_ipv4_mapped().map(|a| Key::V4(a.octets())),
            (KeyType::Ipv6, IpAddr::V4(a)) => Some(Key::V6(a.to_ipv6_mapped().octets())),
            (KeyType::Ipv6, IpAddr::V6(a)) => Some(Key::V6(a.octets())),
            (KeyType::Integer, IpAddr::V4(a)) => Some(Key::Int(u32::from(a))),
            (KeyType::Integer, IpAddr::V6(_)) => None,
            (KeyType::String | KeyType::Binary, a) => self.key_of_bytes(a.to_string().as_bytes()),
        }
    }

    /// The key for an integer sample.
    pub fn key_of_int(&self, i: i64) -> Option<Key> {
        match self.cfg.key {
            KeyType::Integer => Some(Key::Int(i as u32)),
            KeyType::Ip => Some(Key::V4((i as u32).to_be_bytes())),
            KeyType::Ipv6 => None,
            KeyType::String | KeyType::Binary => self.key_of_bytes(i.to_string().as_bytes()),
        }
    }

    /// The key for a string sample.
    pub fn key_of_bytes(&self, b: &[u8]) -> Option<Key> {
        match self.cfg.key {
            KeyType::String => Some(Key::Bytes(b[..b.len().min(self.cfg.key_len)].into())),
            KeyType::Binary => {
                let mut v = vec![0u8; self.cfg.key_len];
                let n = b.len().min(v.len());
                v[..n].copy_from_slice(&b[..n]);
                Some(Key::Bytes(v.into()))
            }
            KeyType::Integer => {
                let s = std::str::from_utf8(b).ok()?;
                s.trim().parse::<i64>().ok().map(|i| Key::Int(i as u32))
            }
            KeyType::Ip | KeyType::Ipv6 => {
                let ip: IpAddr = std::str::from_utf8(b).ok()?.parse().ok()?;
                self.key_of_ip(ip)
            }
        }
    }

    /// Parses `key K` of the runtime API for this table's type.
    pub fn parse_key(&self, s: &str) -> Option<Key> {
        match self.cfg.key {
            KeyType::Ip => s
                .parse::<std::net::Ipv4Addr>()
                .ok()
                .map(|a| Key::V4(a.octets())),
            KeyType::Ipv6 => s.parse::<IpAddr>().ok().and_then(|a| self.key_of_ip(a)),
            KeyType::Integer => s.parse::<u32>().ok().map(Key::Int),
            _ => self.key_of_bytes(s.as_bytes()),
        }
    }

    fn expired(&self, e: &Entry, now: u64) -> bool {
        self.expire_ms
            .is_some_and(|x| e.refs.load(Acquire) == 0 && now >= e.touched() + x)
    }

    /// The live entry of `key`, if any (not created). An unreferenced entry found past its
    /// expiry is removed instead.
    pub fn lookup(&self, key: &Key, now: u64) -> Option<Arc<Entry>> {
        let e = self.map.pin().get(key).cloned()?;
        if self.expired(&e, now) {
            self.kill(&e);
            return None;
        }
        if e.refs.load(Acquire) == DEAD {
            // Being removed: help, so that a fresh entry can take the key.
            self.unlink(&e);
            return None;
        }
        Some(e)
    }

    /// The entry of `key`, created if absent and the table has room; touched.
    pub fn get_or_create(&self, key: &Key, now: u64) -> Option<Arc<Entry>> {
        let e = self.acquire(key, now)?;
        e.release(now);
        Some(e)
    }

    /// The entry of `key` with one more reference, created if needed; `None` when the
    /// table is full of referenced entries (or full with `nopurge`).
    pub fn acquire(&self, key: &Key, now: u64) -> Option<Arc<Entry>> {
        loop {
            if let Some(e) = self.lookup(key, now) {
                if e.acquire() {
                    e.touch(now);
                    return Some(e);
                }
                // Being removed: help, then start over.
                self.unlink(&e);
                continue;
            }
            if self.count.load(Acquire) >= self.cfg.size
                && (self.cfg.nopurge || self.evict((self.cfg.size >> 8) + 1) == 0)
            {
                return None;
            }
            let fresh = Arc::new(Entry {
                key: key.clone(),
                refs: AtomicU32::new(1),
                touched: AtomicU64::new(now),
                cnt: (0..self.n_cnt).map(|_| AtomicU64::new(0)).collect(),
                rates: (0..self.n_rate).map(|_| FreqCtr::default()).collect(),
                conn_cur: self.layout[DataType::ConnCur as usize].0,
            });
            let m = self.map.pin();
            match m.try_insert(key.clone(), fresh.clone()) {
                Ok(_) => {
                    self.count.fetch_add(1, AcqRel);
                    return Some(fresh);
                }
                Err(_) => continue, // another shard inserted it first: use theirs
            }
        }
    }

    /// Removes `e` if nobody references it. True if it is gone.
    pub fn kill(&self, e: &Arc<Entry>) -> bool {
        if e.refs.compare_exchange(0, DEAD, AcqRel, Acquire).is_err() {
            return e.refs.load(Acquire) == DEAD;
        }
        self.unlink(e);
        true
    }

    /// Takes a dead entry out of the map (whoever does it counts it).
    fn unlink(&self, e: &Arc<Entry>) {
        let m = self.map.pin();
        if let Ok(Some(_)) = m.remove_if(&e.key, |_, v| Arc::ptr_eq(v, e)) {
            self.count.fetch_sub(1, AcqRel);
        }
    }

    /// Evicts up to `n` of the least recently used unreferenced entries; returns how many
    /// went. One shard evicts at a time; the others go on (the table may then briefly hold
    /// a few entries more than `size`).
    fn evict(&self, n: usize) -> usize {
        if self.evicting.swap(true, AcqRel) {
            return 1;
        }
        let mut oldest: std::collections::BinaryHeap<(u64, usize)> = Default::default();
        let mut cands: Vec<Arc<Entry>> = Vec::new();
        for (_, e) in self.map.pin().iter() {
            if e.refs.load(Acquire) != 0 {
                continue;
            }
            let t = e.touched();
            if oldest.len() < n {
                oldest.push((t, cands.len()));
                cands.push(e.clone());
            } else if oldest.peek().is_some_and(|&(top, _)| t < top) {
                let (_, slot) = oldest.pop().expect("peeked");
                cands[slot] = e.clone();
                oldest.push((t, slot));
            }
        }
        let gone = oldest
            .into_iter()
            .filter(|&(_, slot)| self.kill(&cands[slot]))
            .count();
        self.evicting.store(false, Release);
        gone
    }

    /// Removes the unreferenced entries idle longer than `expire`; returns how many.
    pub fn purge(&self, now: u64) -> usize {
        if self.expire_ms.is_none() {
            return 0;
        }
        let dead: Vec<Arc<Entry>> = self
            .map
            .pin()
            .iter()
            .filter(|(_, e)| self.expired(e, now))
            .map(|(_, e)| e.clone())
            .collect();
        dead.iter().filter(|e| self.kill(e)).count()
    }

    /// Every entry, for `show table`, `clear table`.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.map.pin().iter().map(|(_, e)| e.clone()).collect()
    }

    /// Milliseconds left before `e` expires (`exp=` of `show table`).
    pub fn remaining(&self, e: &Entry, now: u64) -> u64 {
        match self.expire_ms {
            Some(x) => (e.touched() + x).saturating_sub(now),
            None => 0,
        }
    }

    /// The value of `dt` in `e` at `now` (a rate is read over its period); `None` if the
    /// table does not store it.
    pub fn get(&self, e: &Entry, dt: DataType, now: u64) -> Option<u64> {
        Some(match self.slot(dt)? {
            Slot::Cnt(i) => e.cnt[i as usize].load(Acquire),
            Slot::Rate(i, p) => e.rates[i as usize].read(now as u32, p) as u64,
        })
    }

    /// Element `idx` of `dt` as declared (no fallback; `idx` 0 of a plain type): what
    /// `show table` and the peers protocol list.
    pub fn get_at(&self, e: &Entry, dt: DataType, idx: usize, now: u64) -> Option<u64> {
        Some(match self.slot_at(dt, idx)? {
            Slot::Cnt(i) => e.cnt[i as usize].load(Acquire),
            Slot::Rate(i, p) => e.rates[i as usize].read(now as u32, p) as u64,
        })
    }

    /// Adds `n` to element `idx` of `dt` as declared.
    pub fn add_at(&self, e: &Entry, dt: DataType, idx: usize, n: u64, now: u64) -> Option<u64> {
        Some(match self.slot_at(dt, idx)? {
            Slot::Cnt(i) => e.cnt[i as usize].fetch_add(n, AcqRel).wrapping_add(n),
            Slot::Rate(i, p) => e.rates[i as usize].add(now as u32, p, n as u32) as u64,
        })
    }

    /// Sets element `idx` of the counter `dt` (`sc-set-gpt`, peers); false if not stored.
    pub fn set_at(&self, e: &Entry, dt: DataType, idx: usize, v: u64) -> bool {
        match self.slot_at(dt, idx) {
            Some(Slot::Cnt(i)) => {
                e.cnt[i as usize].store(v, Release);
                true
            }
            _ => false,
        }
    }

    /// `sc_clr_gpc(IDX)`: the old value of element `idx`, now zero.
    pub fn clear_at(&self, e: &Entry, dt: DataType, idx: usize, now: u64) -> Option<u64> {
        let old = self.get_at(e, dt, idx, now)?;
        match self.slot_at(dt, idx)? {
            Slot::Cnt(i) => e.cnt[i as usize].store(0, Release),
            Slot::Rate(i, _) => e.rates[i as usize].clear(),
        }
        Some(old)
    }

    /// The raw state of element `idx` of a stored rate as declared (peers protocol).
    pub fn rate_raw_at(&self, e: &Entry, dt: DataType, idx: usize) -> Option<(u32, u32, u32)> {
        match self.slot_at(dt, idx)? {
            Slot::Rate(i, _) => Some(e.rates[i as usize].raw()),
            Slot::Cnt(_) => None,
        }
    }

    /// Sets element `idx` of a stored rate's raw state learned from a peer.
    pub fn set_rate_raw_at(
        &self,
        e: &Entry,
        dt: DataType,
        idx: usize,
        tick: u32,
        curr: u32,
        prev: u32,
    ) {
        if let Some(Slot::Rate(i, _)) = self.slot_at(dt, idx) {
            e.rates[i as usize].set_raw(tick, curr, prev);
        }
    }

    /// Adds `n` to `dt` (a counter or a rate); false if not stored. Returns the new value of
    /// a counter (the rate's current period count for a rate).
    pub fn add(&self, e: &Entry, dt: DataType, n: u64, now: u64) -> Option<u64> {
        Some(match self.slot(dt)? {
            Slot::Cnt(i) => e.cnt[i as usize].fetch_add(n, AcqRel).wrapping_add(n),
            Slot::Rate(i, p) => e.rates[i as usize].add(now as u32, p, n as u32) as u64,
        })
    }

    /// Sets a counter (`server_id`, `gpt0`, `set table`); false if not stored.
    pub fn set(&self, e: &Entry, dt: DataType, v: u64) -> bool {
        match self.slot(dt) {
            Some(Slot::Cnt(i)) => {
                e.cnt[i as usize].store(v, Release);
                true
            }
            _ => false,
        }
    }

    /// The raw state of a stored rate (peers protocol): (tick, current, previous).
    pub fn rate_raw(&self, e: &Entry, dt: DataType) -> Option<(u32, u32, u32)> {
        match self.slot(dt)? {
            Slot::Rate(i, _) => Some(e.rates[i as usize].raw()),
            Slot::Cnt(_) => None,
        }
    }

    /// Sets a stored rate's raw state learned from a peer.
    pub fn set_rate_raw(&self, e: &Entry, dt: DataType, tick: u32, curr: u32, prev: u32) {
        if let Some(Slot::Rate(i, _)) = self.slot(dt) {
            e.rates[i as usize].set_raw(tick, curr, prev);
        }
    }

    /// `expire` in ms, if entries expire.
    pub fn expire_ms(&self) -> Option<u64> {
        self.expire_ms
    }

    /// `sc_clr_gpc0`: the old value, now zero.
    pub fn clear_value(&self, e: &Entry, dt: DataType, now: u64) -> Option<u64> {
        let old = self.get(e, dt, now)?;
        match self.slot(dt)? {
            Slot::Cnt(i) => e.cnt[i as usize].store(0, Release),
            Slot::Rate(i, _) => e.rates[i as usize].clear(),
        }
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::stick::parse_table;

    fn table(spec: &str) -> Table {
        let w: Vec<String> = spec.split_whitespace().map(String::from).collect();
        Table::new("t", &parse_table(&w).unwrap())
    }

    fn ip(s: &str) -> Key {
        Key::V4(s.parse::<std::net::Ipv4Addr>().unwrap().octets())
    }

    #[test]
    fn idle_entries_expire_and_tracked_ones_do_not() {
        let t = table("type ip size 10 expire 10s store http_req_cnt");
        let a = t.get_or_create(&ip("10.0.0.1"), 1_000).unwrap();
        t.add(&a, DataType::HttpReqCnt, 1, 1_000);
        let b = t.acquire(&ip("10.0.0.2"), 1_000).unwrap();
        assert_eq!(t.used(), 2);
        assert_eq!(t.purge(10_999), 0);
        assert_eq!(t.purge(11_000), 1, "the idle one goes");
        assert_eq!(t.used(), 1);
        assert!(t.lookup(&ip("10.0.0.1"), 11_000).is_none());
        assert!(t.lookup(&ip("10.0.0.2"), 50_000).is_some(), "still tracked");
        b.release(50_000);
        assert_eq!(t.purge(59_999), 0, "expiry counts from the release");
        assert_eq!(t.purge(60_000), 1);
        assert_eq!(t.used(), 0);
        // A new entry for the key starts from zero.
        let a2 = t.get_or_create(&ip("10.0.0.1"), 60_000).unwrap();
        assert_eq!(t.get(&a2, DataType::HttpReqCnt, 60_000), Some(0));
    }

    #[test]
    fn lookup_treats_an_expired_entry_as_absent() {
        let t = table("type ip size 10 expire 1s store gpc0");
        let e = t.get_or_create(&ip("10.0.0.1"), 0).unwrap();
        t.add(&e, DataType::Gpc0, 5, 0);
        assert!(t.lookup(&ip("10.0.0.1"), 999).is_some());
        assert!(t.lookup(&ip("10.0.0.1"), 1_000).is_none());
        assert_eq!(t.used(), 0);
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_used() {
        let t = table("type integer size 4 store gpc0");
        for k in 0..4u32 {
            t.get_or_create(&Key::Int(k), 100 + k as u64).unwrap();
        }
        // Key 0 is used again: key 1 is now the oldest.
        t.get_or_create(&Key::Int(0), 200).unwrap();
        t.get_or_create(&Key::Int(9), 300).unwrap();
        assert_eq!(t.used(), 4);
        assert!(t.lookup(&Key::Int(1), 300).is_none());
        for k in [0, 2, 3, 9] {
            assert!(t.lookup(&Key::Int(k), 300).is_some(), "{k}");
        }
    }

    #[test]
    fn referenced_entries_are_never_evicted_and_nopurge_refuses() {
        let t = table("type integer size 2 store gpc0");
        let _a = t.acquire(&Key::Int(1), 0).unwrap();
        let _b = t.acquire(&Key::Int(2), 0).unwrap();
        assert!(t.acquire(&Key::Int(3), 0).is_none());
        let n = table("type integer size 1 nopurge");
        n.get_or_create(&Key::Int(1), 0).unwrap();
        assert!(n.get_or_create(&Key::Int(2), 0).is_none());
        assert!(n.lookup(&Key::Int(1), 0).is_some());
    }

    #[test]
    fn keys_are_cast_to_the_table_type() {
        let t = table("type ip size 1");
        let v4: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(t.key_of_ip(v4), Some(ip("10.1.2.3")));
        assert_eq!(t.key_of_ip("2001:db8::1".parse().unwrap()), None);
        let s = table("type string len 4 size 1");
        assert_eq!(
            s.key_of_bytes(b"abcdef"),
            Some(Key::Bytes((*b"abcd").into()))
        );
        let b = table("type binary len 3 size 1");
        assert_eq!(b.key_of_bytes(b"a"), Some(Key::Bytes((*b"a\0\0").into())));
        let i = table("type integer size 1");
        assert_eq!(i.parse_key("42"), Some(Key::Int(42)));
    }

    #[test]
    fn concurrent_trackers_share_one_entry() {
        let t = Arc::new(table("type ip size 100 expire 1s store http_req_cnt"));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000u64 {
                        let e = t.acquire(&ip("10.0.0.1"), i).unwrap();
                        t.add(&e, DataType::HttpReqCnt, 1, i);
                        e.release(i);
                        // Expiry races with the trackers: counts may restart, never split.
                        t.purge(i + 1_000);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert!(t.used() <= 1);
    }
}
