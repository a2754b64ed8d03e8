//! The HTTP cache: `cache NAME` sections, `http-request cache-use NAME`, `http-response
//! cache-store NAME` (and `filter cache NAME`), with HAProxy 2.6's rules (src/cache.c,
//! `http_check_request_for_cacheability` and `http_check_response_for_cacheability` in
//! src/http_ana.c).
//!
//! - Key: `https://` + Host + the request-target as received (an absolute target as it is),
//!   computed when a `cache-use` rule applies, for every method: a successful unsafe request
//!   (POST, PUT, DELETE…, status 2xx/3xx) through a `cache-store` rule drops the object.
//! - Lookup: HTTP/1.1 (HTTP/2 streams reach the exchange as 1.1) GET or HEAD, no
//!   Authorization, no request Cache-Control `max-age`/`no-cache`/`max-stale`/`min-fresh`
//!   (nor `Pragma: no-cache` without Cache-Control). A hit is answered without a server
//!   connection, with an `Age` field; the log names the server `<CACHE>`.
//! - Conditional requests: a hit whose `If-None-Match` names the stored ETag (weak
//!   comparison) or `*`, or (without `If-None-Match`) whose `If-Modified-Since` is not earlier
//!   than the stored Last-Modified (else Date, else storage time) is answered `304 Not
//!   Modified` with the stored head and `Age`, no body (`should_send_notmodified_response`).
//! - Storage: a GET of HTTP/1.1, status 200, no Vary (but see `process-vary`), no Authorization, request without
//!   `no-store`, a response that is not `private`/`no-cache`/`no-store`/`max-age=0`/
//!   `s-maxage=0`/`no-cache="set-cookie"` nor `Pragma: no-cache`, with an expiry
//!   (`s-maxage`, `max-age`, `Expires`) or a validator (ETag, Last-Modified), an `Age` not
//!   beyond its max-age, and head plus body within `max-object-size`. It lives for
//!   `min(s-maxage | max-age | Expires, max-age of the section)`, the section's alone without
//!   either. The head is stored as the `http-response` rules left it (without its framing
//!   and connection fields); the body uncompressed.
//!
//! Per shard, not per process: each shard has its own store of `total-max-size / shards`
//! bytes (so the total stays bounded by the section's size), owned by the shard's thread and
//! touched without a lock or an atomic on the request path, where HAProxy shares one store
//! between its threads under a lock. The cost is that each shard fills its own copy: an
//! object is fetched once per shard. When an object does not fit, the oldest ones go first,
//! as in HAProxy; expired objects go when looked up.
//!
//! With compression: an answer being compressed is not stored (HAProxy 2.6 drops the store
//! when compression is under way), the same answer sent plain is; a hit is compressed like a
//! server's answer (`super::compress::whole_answer`).
//!
//! - `show cache` ([`listing`]): each shard lists its own store, on its thread; the runtime
//!   merges the shards' lines by HAProxy's primary hash.
//!
//! - `process-vary on`: an answer varying on Accept-Encoding and/or Referer only is stored as
//!   one variant of its URL, under a secondary key ([`secondary_key`]: the request's encoding
//!   bitmap and Referer CRC32, the encoding part then replaced by the answer's
//!   Content-Encoding), at most `max-secondary-entries` per URL; a request is served the first
//!   variant whose key matches ([`sec_key_match`]).

use crate::acl::Sample;
use crate::config::filters::CacheSection;
use crate::config::{Config, HttpAction, Proxy};
use crate::h1::{Method, RequestHead, ResponseHead, Version, split_list};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use std::time::Instant;

/// Bytes counted for an object beyond its key, head and body (map and queue slots).
const ENTRY_OVERHEAD: usize = 96;

/// HAProxy's cap on an object's age (`CACHE_ENTRY_MAX_AGE`).
const MAX_AGE_CAP: u64 = 2_147_483_648 - 1;

fn now_secs() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

struct Entry {
    /// The status line (without CRLF).
    status_line: Box<[u8]>,
    /// Header lines, each with its CRLF, without framing and connection fields.
    fields: Box<[u8]>,
    body: Box<[u8]>,
    /// When it was stored, and the Age the server gave it.
    stored: u64,
    age: u64,
    expire: u64,
    seq: u64,
    /// The value of the last ETag field, for `If-None-Match`.
    etag: Option<Box<[u8]>>,
    /// Last-Modified, else Date, else the wall clock when stored (seconds since the epoch),
    /// for `If-Modified-Since` (HAProxy's `get_last_modified_time`).
    last_modified: i64,
    /// The Vary signature (`VARY_*` bits) and the secondary key: the response's encoding
    /// bitmap, the request's Referer hash (zeros without Vary).
    sig: u32,
    sec: [u8; SEC_KEY_LEN],
}

impl Entry {
    fn size(&self, key: &[u8]) -> usize {
        key.len() + self.status_line.len() + self.fields.len() + self.body.len() + ENTRY_OVERHEAD
    }
}

/// One shard's objects of one cache section.
struct Store {
    /// Objects by primary key: one, or with `process-vary on` the variants of a URL (one per
    /// secondary key) in the order they were stored, as HAProxy's duplicates in its tree.
    map: HashMap<Box<[u8]>, Vec<Entry>, foldhash::fast::RandomState>,
    /// Insertion order (key, seq) for eviction; stale pairs are skipped.
    order: VecDeque<(Box<[u8]>, u64)>,
    used: usize,
    budget: usize,
    seq: u64,
    /// Objects in `map`, variants counted.
    count: usize,
}

impl Store {
    fn new(budget: usize) -> Store {
        Store {
            map: HashMap::default(),
            order: VecDeque::new(),
            used: 0,
            budget,
            seq: 0,
            count: 0,
        }
    }

    /// The first object of `key` (HAProxy's `entry_exist`): None when it expired (it goes).
    fn get(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        if self
            .map
            .get(key)
            .and_then(|v| v.first())
            .is_some_and(|e| e.expire <= now)
        {
            self.remove_at(key, 0);
        }
        self.map.get(key).and_then(|v| v.first())
    }

    /// The first variant of `key` whose secondary key matches `sec`, expired ones passed on
    /// the way dropped (HAProxy's `secondary_entry_exist`).
    fn variant(&mut self, key: &[u8], sec: &[u8; SEC_KEY_LEN], now: u64) -> Option<usize> {
        let mut i = 0;
        loop {
            let e = self.map.get(key)?.get(i)?;
            let (matched, expired) = (sec_key_match(&e.sec, sec), e.expire <= now);
            if expired {
                self.remove_at(key, i);
            }
            if matched {
                return (!expired).then_some(i);
            }
            if !expired {
                i += 1;
            }
        }
    }

    fn remove_at(&mut self, key: &[u8], i: usize) {
        let Some(v) = self.map.get_mut(key) else {
            return;
        };
        if i >= v.len() {
            return;
        }
        let e = v.remove(i);
        self.used -= e.size(key);
        self.count -= 1;
        if v.is_empty() {
            self.map.remove(key);
        }
    }

    /// Stores `e` under `key`. With a Vary signature, `req_sec` is the request's secondary
    /// key: the variant it matches is replaced, and no more than `max_sec` variants are kept
    /// (HAProxy's `insert_entry`); without, the first object of the key is replaced.
    fn insert(
        &mut self,
        key: Box<[u8]>,
        mut e: Entry,
        req_sec: &[u8; SEC_KEY_LEN],
        max_sec: u32,
        now: u64,
    ) {
        if self.get(&key, now).is_some() {
            let old = match e.sig {
                0 => Some(0),
                _ if self.map[&key][0].sig == 0 => None,
                _ => self.variant(&key, req_sec, now),
            };
            if let Some(i) = old {
                self.remove_at(&key, i);
            }
        }
        if e.sig != 0 {
            let variants = |st: &Store| {
                st.map
                    .get(&key)
                    .map_or(0, |v| v.iter().filter(|o| o.sig != 0).count())
            };
            if variants(self) >= max_sec as usize {
                // Full: expired variants make room, if any.
                while let Some(i) = self
                    .map
                    .get(&key)
                    .and_then(|v| v.iter().position(|o| o.expire <= now))
                {
                    self.remove_at(&key, i);
                }
                if variants(self) >= max_sec as usize {
                    return;
                }
            }
        }
        let size = e.size(&key);
        if size > self.budget {
            return;
        }
        while self.used + size > self.budget {
            let Some((k, seq)) = self.order.pop_front() else {
                break;
            };
            if let Some(i) = self
                .map
                .get(&k)
                .and_then(|v| v.iter().position(|o| o.seq == seq))
            {
                self.remove_at(&k, i);
            }
        }
        self.seq += 1;
        e.seq = self.seq;
        self.used += size;
        self.count += 1;
        self.order.push_back((key.clone(), e.seq));
        self.map.entry(key).or_default().push(e);
        // Pairs of replaced or dropped objects stay in the queue until popped: keep it from
        // growing past twice the live objects.
        if self.order.len() > 2 * self.count + 16 {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|v| v.iter().any(|o| o.seq == *s)));
        }
    }
}

thread_local! {
    /// This shard's stores, by cache section index (a generation's shards are its threads).
    static STORES: RefCell<Vec<Option<Store>>> = const { RefCell::new(Vec::new()) };
}

fn with_store<R>(
    sections: &[CacheSection],
    i: usize,
    shards: usize,
    f: impl FnOnce(&mut Store) -> R,
) -> R {
    STORES.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() <= i {
            s.resize_with(i + 1, || None);
        }
        let budget = (sections[i].total_max_size / shards.max(1) as u64) as usize;
        f(s[i].get_or_insert_with(|| Store::new(budget)))
    })
}

/// One stored object as `show cache` lists it.
pub struct Listed {
    /// HAProxy's primary hash: the first 4 bytes of the key's SHA-1, read as a native u32.
    pub hash: u32,
    /// Where the object lives in its shard's store (HAProxy prints its entry's address).
    pub addr: usize,
    /// The secondary key (`vary:`), zeros for an object without Vary.
    pub vary: [u8; SEC_KEY_LEN],
    /// Bytes counted against the store (key, head, body, bookkeeping).
    pub size: usize,
    /// Seconds left to live.
    pub expire: u64,
}

/// The length of HAProxy 2.6's secondary key (`HTTP_CACHE_SEC_KEY_LEN`: a 32-bit
/// Accept-Encoding bitmap and a 32-bit Referer hash).
pub const SEC_KEY_LEN: usize = 8;

/// This shard's live objects of the first `sections` cache sections, by section, for `show
/// cache` (run on the shard's thread); expired objects go on the way, as in HAProxy.
pub fn listing(sections: usize) -> Vec<Vec<Listed>> {
    let now = now_secs();
    STORES.with(|s| {
        let mut s = s.borrow_mut();
        (0..sections)
            .map(|i| {
                let Some(st) = s.get_mut(i).and_then(Option::as_mut) else {
                    return Vec::new();
                };
                let expired: Vec<(Box<[u8]>, usize)> = st
                    .map
                    .iter()
                    .flat_map(|(k, v)| {
                        let n = v.iter().filter(|e| e.expire <= now).count();
                        (n > 0).then(|| (k.clone(), n))
                    })
                    .collect();
                for (k, n) in expired {
                    for _ in 0..n {
                        if let Some(i) = st.map[&k].iter().position(|e| e.expire <= now) {
                            st.remove_at(&k, i);
                        }
                    }
                }
                // One line per URL, its first variant, as HAProxy 2.6 (whose listing steps
                // from one hash to the next, past the other variants).
                st.map
                    .iter()
                    .filter_map(|(k, v)| {
                        let e = v.first()?;
                        Some(Listed {
                            hash: primary_hash(k),
                            addr: e as *const Entry as usize,
                            vary: e.sec,
                            size: e.size(k),
                            expire: e.expire - now,
                        })
                    })
                    .collect()
            })
            .collect()
    })
}

fn primary_hash(key: &[u8]) -> u32 {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key);
    let b = d.as_ref();
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// What a request's `cache-use` rule decided.
pub enum Lookup {
    /// No `cache-use` rule applies.
    None,
    /// The answer, ready to send (head and body), its status (200, or 304 for a conditional
    /// request the object satisfies), and which of the proxies given to [`request`] had the
    /// `cache-use` rule (0: the first), for the log.
    Hit(Vec<u8>, u16, usize),
    /// Not in the cache: what the response side needs to store the answer.
    Miss(Pending),
}

/// A request's cache key and whether its answer may be stored.
pub struct Pending {
    key: Box<[u8]>,
    /// With `process-vary on`, the request's secondary key for an answer with Vary (None: such
    /// an answer is not stored).
    sec: Option<[u8; SEC_KEY_LEN]>,
    method: Method,
    /// HTTP/1.1 GET without Authorization, request Cache-Control or Pragma against it.
    storable: bool,
}

/// The first rule of `action`'s kind among `rules` whose condition holds: the index of its
/// proxy in `pxs` and its cache name.
fn rule<'a>(pxs: &[&'a Proxy], request: bool, s: &dyn Sample) -> Option<(usize, &'a str)> {
    pxs.iter().enumerate().find_map(|(i, px)| {
        let rules = if request {
            &px.http_request
        } else {
            &px.http_response
        };
        rules.iter().find_map(|r| match &r.action {
            HttpAction::CacheUse(n) | HttpAction::CacheStore(n)
                if r.cond.as_ref().is_none_or(|c| c.eval(&px.acls, s)) =>
            {
                Some((i, n.as_str()))
            }
            _ => None,
        })
    })
}

fn section(cfg: &Config, name: &str) -> Option<usize> {
    cfg.caches.iter().position(|c| c.name == name)
}

/// `http-request cache-use`: after the rules let the request through (frontend's rules, then
/// the backend's). `fields` are the request's fields as the rules left them; `close` says the
/// answer ends the connection.
#[allow(clippy::too_many_arguments)]
pub fn request<'f>(
    cfg: &Config,
    shards: usize,
    pxs: &[&Proxy],
    s: &dyn Sample,
    req: &RequestHead,
    buf: &[u8],
    fields: impl Iterator<Item = (&'f [u8], &'f [u8])> + Clone,
    close: bool,
) -> Lookup {
    if cfg.caches.is_empty() {
        return Lookup::None;
    }
    let Some((px, i)) = rule(pxs, true, s).and_then(|(p, n)| Some((p, section(cfg, n)?))) else {
        return Lookup::None;
    };
    let named = |n: &'static [u8]| {
        fields
            .clone()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(n))
    };
    let target = req.target(buf);
    let mut key = Vec::with_capacity(target.len() + 40);
    if target.starts_with(b"/") || target == b"*" {
        let Some((_, host)) = named(b"host").next() else {
            return Lookup::None;
        };
        key.extend_from_slice(b"https://");
        key.extend_from_slice(host);
    }
    key.extend_from_slice(target);
    let method = req.method();
    let safe = matches!(method, Method::Get | Method::Head);
    let mut ignore = req.version() != Version::Http11 || !safe;
    let mut storable = method == Method::Get;
    if named(b"authorization").next().is_some() {
        ignore = true;
        storable = false;
    }
    let mut cc_found = false;
    for (_, v) in named(b"cache-control") {
        for d in split_list(v) {
            cc_found = true;
            let starts = |p: &[u8]| d.len() >= p.len() && d[..p.len()].eq_ignore_ascii_case(p);
            if starts(b"max-age")
                || starts(b"no-cache")
                || starts(b"max-stale")
                || starts(b"min-fresh")
            {
                ignore = true;
            } else if starts(b"no-store") {
                storable = false;
            }
        }
    }
    if !cc_found
        && named(b"pragma")
            .next()
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case(b"no-cache"))
    {
        ignore = true;
    }
    let mut pending = Pending {
        key: key.into_boxed_slice(),
        sec: None,
        method,
        storable: storable && !ignore && req.version() == Version::Http11,
    };
    if ignore {
        return Lookup::Miss(pending);
    }
    let now = now_secs();
    let vary = cfg.caches[i].process_vary;
    let sec_key = |sig| secondary_key(sig, named(b"accept-encoding"), named(b"referer").next());
    let hit = with_store(&cfg.caches, i, shards, |st| {
        let sig = match st.get(&pending.key, now) {
            Some(e) => e.sig,
            None => {
                // Nothing stored yet: the whole secondary key, until the answer says what
                // it varies on (`http_request_prebuild_full_secondary_key`).
                if vary {
                    pending.sec = sec_key(!0);
                }
                return None;
            }
        };
        let at = if sig == 0 {
            0
        } else {
            pending.sec = sec_key(sig);
            st.variant(&pending.key, pending.sec.as_ref()?, now)?
        };
        let e = &st.map[&pending.key][at];
        let not_modified = not_modified(e, named(b"if-none-match"), named(b"if-modified-since"));
        let age = (now.saturating_sub(e.stored) + e.age).min(MAX_AGE_CAP);
        let mut out = Vec::with_capacity(e.status_line.len() + e.fields.len() + e.body.len() + 64);
        if not_modified {
            // HAProxy replaces the stored status and keeps the rest of the stored head,
            // Content-Length included, without the body.
            let version = e
                .status_line
                .split(|&b| b == b' ')
                .next()
                .unwrap_or_default();
            out.extend_from_slice(version);
            out.extend_from_slice(b" 304 Not Modified\r\n");
        } else {
            out.extend_from_slice(&e.status_line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&e.fields);
        let close = if close { "Connection: close\r\n" } else { "" };
        let head = format!(
            "Age: {age}\r\nContent-Length: {}\r\n{close}\r\n",
            e.body.len()
        );
        out.extend_from_slice(head.as_bytes());
        if method != Method::Head && !not_modified {
            out.extend_from_slice(&e.body);
        }
        Some((out, if not_modified { 304 } else { 200 }))
    });
    match hit {
        Some((bytes, status)) => Lookup::Hit(bytes, status, px),
        None => Lookup::Miss(pending),
    }
}

/// The headers HAProxy 2.6 can vary on (`vary_information`), with their signature bits; the
/// secondary key holds a 4-byte part for each, in this order.
const VARY_HEADERS: [(&[u8], u32); 2] = [(b"accept-encoding", 1), (b"referer", 2)];

/// Accept-Encoding bitmap bits (`enum vary_encoding`).
const ENC_GZIP: u32 = 1;
const ENC_DEFLATE: u32 = 1 << 1;
const ENC_BR: u32 = 1 << 2;
const ENC_COMPRESS: u32 = 1 << 3;
const ENC_AES128GCM: u32 = 1 << 4;
const ENC_EXI: u32 = 1 << 5;
const ENC_PACK200_GZIP: u32 = 1 << 6;
const ENC_ZSTD: u32 = 1 << 7;
const ENC_IDENTITY: u32 = 1 << 8;
const ENC_STAR: u32 = 1 << 9;
const ENC_OTHER: u32 = 1 << 10;

/// HAProxy's `parse_encoding_value`: the bit of an encoding (by its first letter, then a
/// prefix match: a name that does not match gives 0, not an error) and whether its weight is
/// exactly `q=0`; None for an unknown first letter or something else than `;` after a name.
fn encoding(e: &[u8]) -> Option<(u32, bool)> {
    let check = |name: &[u8], bit| match e.strip_prefix(name) {
        Some(rest) => (bit, rest),
        None => (0, e),
    };
    let (bit, rest) = match e.first()? {
        b'a' => check(b"aes128gcm", ENC_AES128GCM),
        b'b' => check(b"br", ENC_BR),
        b'c' => check(b"compress", ENC_COMPRESS),
        b'd' => check(b"deflate", ENC_DEFLATE),
        b'e' => check(b"exi", ENC_EXI),
        b'g' => check(b"gzip", ENC_GZIP),
        b'i' => check(b"identity", ENC_IDENTITY),
        b'p' => check(b"pack200-gzip", ENC_PACK200_GZIP),
        b'x' => match check(b"x-gzip", ENC_GZIP) {
            (0, _) => check(b"x-compress", ENC_COMPRESS),
            m => m,
        },
        b'z' => check(b"zstd", ENC_ZSTD),
        b'*' => (ENC_STAR, &e[1..]),
        _ => return None,
    };
    if bit == 0 {
        return Some((0, false));
    }
    let rest = rest.trim_ascii_start();
    match rest.split_first() {
        None => Some((bit, false)),
        Some((b';', w)) => Some((bit, w.trim_ascii_start() == b"q=0")),
        Some(_) => None,
    }
}

/// The request's secondary key for the headers of `sig` (HAProxy's
/// `http_request_build_secondary_key`): the Accept-Encoding bitmap
/// (`accept_encoding_normalizer`) and the CRC32 of the first Referer, zeros for a header not
/// varied on or absent. None for 16 Accept-Encoding elements or more, which HAProxy refuses.
fn secondary_key<'f>(
    sig: u32,
    accept_encoding: impl Iterator<Item = (&'f [u8], &'f [u8])>,
    referer: Option<(&'f [u8], &'f [u8])>,
) -> Option<[u8; SEC_KEY_LEN]> {
    const MAX_ENTRIES: usize = 16;
    let mut k = [0; SEC_KEY_LEN];
    if sig & VARY_HEADERS[0].1 != 0 {
        let (mut bitmap, mut refused, mut count) = (ENC_IDENTITY, !0u32, 0);
        'fields: for (_, v) in accept_encoding {
            let mut full = false;
            crate::acl::for_each_element(v, &mut |e| {
                if count == MAX_ENTRIES {
                    full = true;
                    return false;
                }
                count += 1;
                if !e.is_empty() {
                    match encoding(&e.to_ascii_lowercase()) {
                        Some((bit, true)) => refused &= !bit,
                        Some((bit, false)) => bitmap |= bit,
                        None => bitmap |= ENC_OTHER,
                    }
                }
                true
            });
            if full {
                break 'fields;
            }
        }
        if bitmap & ENC_STAR != 0 {
            bitmap = !0;
        }
        bitmap &= refused;
        if count == 0 {
            bitmap = !0;
        }
        if count == MAX_ENTRIES {
            return None;
        }
        k[..4].copy_from_slice(&bitmap.to_ne_bytes());
    }
    if sig & VARY_HEADERS[1].1 != 0
        && let Some((_, v)) = referer
    {
        k[4..].copy_from_slice(&crate::acl::hash::crc32(v).to_ne_bytes());
    }
    Some(k)
}

/// The parts of a secondary key that `sig` varies on, the others zeroed.
fn reduce(mut k: [u8; SEC_KEY_LEN], sig: u32) -> [u8; SEC_KEY_LEN] {
    for (i, (_, bit)) in VARY_HEADERS.iter().enumerate() {
        if sig & bit == 0 {
            k[i * 4..i * 4 + 4].fill(0);
        }
    }
    k
}

/// HAProxy's `secondary_key_cmp`: a stored object serves a request when its encoding is one
/// the request accepts (and not an unknown one), and the other parts are equal.
fn sec_key_match(stored: &[u8; SEC_KEY_LEN], req: &[u8; SEC_KEY_LEN]) -> bool {
    let word = |k: &[u8; SEC_KEY_LEN]| u32::from_ne_bytes([k[0], k[1], k[2], k[3]]);
    let (r, n) = (word(stored), word(req));
    r & ENC_OTHER == 0 && r & n == r && stored[4..] == req[4..]
}

/// Whether a conditional request is answered 304 from the object `e` (HAProxy 2.6's
/// `should_send_notmodified_response`): an `If-None-Match` element `*` or matching the stored
/// ETag (weak comparison); without `If-None-Match`, an `If-Modified-Since` date not earlier
/// than the object's last modification.
fn not_modified<'f>(
    e: &Entry,
    mut if_none_match: impl Iterator<Item = (&'f [u8], &'f [u8])>,
    mut if_modified_since: impl Iterator<Item = (&'f [u8], &'f [u8])>,
) -> bool {
    let mut inm_found = false;
    let mut matched = false;
    for (_, v) in if_none_match.by_ref() {
        inm_found = true;
        let more = crate::acl::for_each_element(v, &mut |tag| {
            // HAProxy stops at the first element when nothing is stored to compare with.
            matched = tag == b"*" || e.etag.as_deref().is_some_and(|t| etags_match(t, tag));
            !matched && e.etag.is_some()
        });
        if !more {
            break;
        }
    }
    if matched || inm_found {
        return matched;
    }
    // The first field, whole.
    if_modified_since
        .next()
        .and_then(|(_, v)| parse_http_date(v))
        .is_some_and(|ims| e.last_modified <= ims)
}

/// `http_compare_etags`: both valid (`"…"` or `W/"…"`), equal once the weak prefix is gone.
fn etags_match(a: &[u8], b: &[u8]) -> bool {
    fn opaque(t: &[u8]) -> Option<&[u8]> {
        if t.len() < 2 || t[t.len() - 1] != b'"' {
            return None;
        }
        if t[0] == b'"' {
            Some(t)
        } else if t.starts_with(b"W/\"") {
            Some(&t[2..])
        } else {
            None
        }
    }
    matches!((opaque(a), opaque(b)), (Some(x), Some(y)) if x == y)
}

/// An answer being stored: its body is collected as it goes to the client.
pub struct Capture {
    cache: usize,
    key: Box<[u8]>,
    /// The request's secondary key, reduced to what the answer varies on.
    req_sec: [u8; SEC_KEY_LEN],
    entry: Entry,
    body: Vec<u8>,
    /// What the body may still take (`max-object-size` less the head).
    room: usize,
    too_big: bool,
}

impl Capture {
    /// The head as serialized for the client; None when head and body (`content_length`)
    /// exceed `max-object-size`.
    pub fn head(mut self, head: &[u8], content_length: Option<u64>) -> Option<Capture> {
        self.room = self.room.checked_sub(head.len())?;
        if content_length.is_some_and(|n| n > self.room as u64) {
            return None;
        }
        let (status_line, fields) = stored_fields(head);
        let named = |n: &'static [u8]| stored_values(&fields, n);
        if self.entry.sig != 0 {
            // The stored key names the answer's encoding (`set_secondary_key_encoding`); an
            // encoding HAProxy does not know is not stored.
            let mut bitmap = 0;
            for v in named(b"content-encoding") {
                let ok = crate::acl::for_each_element(v, &mut |c| match encoding(c) {
                    Some((bit, _)) => {
                        bitmap |= bit;
                        true
                    }
                    None => false,
                });
                if !ok {
                    return None;
                }
            }
            if bitmap == 0 {
                bitmap = ENC_IDENTITY;
            }
            self.entry.sec[..4].copy_from_slice(&bitmap.to_ne_bytes());
        }
        self.entry.etag = named(b"etag").last().map(Box::from);
        let date = |n| named(n).next().and_then(parse_http_date);
        self.entry.last_modified = date(b"last-modified")
            .or_else(|| date(b"date"))
            .unwrap_or_else(wall_secs);
        self.entry.status_line = status_line.into();
        self.entry.fields = fields.into_boxed_slice();
        Some(self)
    }

    /// Takes body bytes (de-chunked).
    pub fn data(&mut self, d: &[u8]) {
        if self.too_big {
            return;
        }
        if self.body.len() + d.len() > self.room {
            self.too_big = true;
            self.body = Vec::new();
            return;
        }
        self.body.extend_from_slice(d);
    }
}

/// `http-response cache-store`: whether to store this answer (a [`Capture`] to complete
/// with [`Capture::head`], then feed), after the `http-response` rules.
pub fn response(
    cfg: &Config,
    shards: usize,
    pending: &Pending,
    pxs: &[&Proxy],
    s: &dyn Sample,
    res: &ResponseHead,
    rbuf: &[u8],
) -> Option<Capture> {
    let i = rule(pxs, false, s).and_then(|(_, n)| section(cfg, n))?;
    let status = res.status();
    if pending.method != Method::Get {
        let unsafe_method = !matches!(
            pending.method,
            Method::Head | Method::Options | Method::Trace
        );
        if unsafe_method && (200..400).contains(&status) {
            // HAProxy drops the first object of the URL.
            with_store(&cfg.caches, i, shards, |st| st.remove_at(&pending.key, 0));
        }
        return None;
    }
    if !pending.storable || status != 200 {
        return None;
    }
    let named = |n: &'static [u8]| super::filters::fields_named(res, rbuf, n);
    let sec = &cfg.caches[i];
    let mut sig = 0;
    if sec.process_vary {
        // Every header it varies on must be one HAProxy knows how to normalize.
        for (_, v) in named(b"vary") {
            let known = crate::acl::for_each_element(v, &mut |h| {
                let bit = VARY_HEADERS.iter().find(|(n, _)| h.eq_ignore_ascii_case(n));
                sig |= bit.map_or(0, |b| b.1);
                bit.is_some()
            });
            if !known {
                return None;
            }
        }
    } else if named(b"vary").next().is_some() {
        return None;
    }
    let req_sec = match sig {
        0 => [0; SEC_KEY_LEN],
        _ => reduce(pending.sec?, sig),
    };
    if named(b"pragma")
        .next()
        .is_some_and(|(_, v)| v.eq_ignore_ascii_case(b"no-cache"))
    {
        return None;
    }
    let (mut cacheable, mut cook, mut fresh) = (true, true, false);
    let (mut smaxage, mut maxage): (Option<u64>, Option<u64>) = (None, None);
    for (_, v) in named(b"cache-control") {
        for d in split_list(v) {
            let is = |p: &[u8]| d.eq_ignore_ascii_case(p);
            let starts = |p: &[u8]| d.len() >= p.len() && d[..p.len()].eq_ignore_ascii_case(p);
            if is(b"public") {
                (cacheable, cook) = (true, true);
            } else if is(b"private")
                || is(b"no-cache")
                || is(b"no-store")
                || is(b"max-age=0")
                || is(b"s-maxage=0")
            {
                (cacheable, cook) = (false, false);
            } else if starts(b"no-cache=\"set-cookie") {
                cook = false;
            } else if starts(b"s-maxage") || starts(b"max-age") {
                fresh = true;
                let (name, val) = match d.iter().position(|&b| b == b'=') {
                    Some(p) => (&d[..p], &d[p + 1..]),
                    None => (d, &b""[..]),
                };
                let val = val.strip_prefix(b"\"").unwrap_or(val);
                let digits = val.iter().take_while(|b| b.is_ascii_digit()).count();
                let n = std::str::from_utf8(&val[..digits])
                    .ok()?
                    .parse::<u64>()
                    .ok()?;
                if name.eq_ignore_ascii_case(b"s-maxage") {
                    smaxage = Some(n);
                } else if name.eq_ignore_ascii_case(b"max-age") {
                    maxage = Some(n);
                }
            }
        }
    }
    let expires = if smaxage.is_none() && maxage.is_none() {
        named(b"expires").next().map(|(_, v)| expires_in(v))
    } else {
        None
    };
    fresh |= expires.is_some();
    let validator = named(b"etag").next().is_some() || named(b"last-modified").next().is_some();
    if !cacheable || !cook || (!fresh && !validator) {
        return None;
    }
    let true_max = smaxage
        .filter(|&n| n > 0)
        .or(maxage.filter(|&n| n > 0))
        .or(expires);
    let max_age = match true_max {
        Some(n) => n.min(u64::from(sec.max_age)),
        None => u64::from(sec.max_age),
    };
    let mut age = 0;
    if let Some((_, v)) = named(b"age").next() {
        let a = std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok()?;
        if a == 0 {
            return None; // HAProxy takes only a positive Age
        }
        age = a.min(MAX_AGE_CAP);
        if age > true_max.unwrap_or(0) {
            return None;
        }
    }
    let now = now_secs();
    Some(Capture {
        cache: i,
        key: pending.key.clone(),
        req_sec,
        room: sec.max_object_size as usize,
        entry: Entry {
            status_line: Box::default(),
            fields: Box::default(),
            body: Box::default(),
            stored: now,
            age,
            expire: now + max_age,
            seq: 0,
            etag: None,
            last_modified: 0,
            sig,
            sec: req_sec,
        },
        body: Vec::new(),
        too_big: false,
    })
}

/// Seconds until an `Expires` date (0 when past or not a date: stale, RFC 7234 §5.3).
fn expires_in(v: &[u8]) -> u64 {
    let Some(t) = parse_http_date(v) else {
        return 0;
    };
    u64::try_from(t - wall_secs()).unwrap_or(0)
}

fn wall_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An HTTP-date as seconds since the epoch, as HAProxy's `parse_http_date`: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), then RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`, or
/// with a 4-digit year), then asctime (`Sun Nov  6 08:49:37 1994`). Case-sensitive; what
/// follows a complete date is not looked at.
fn parse_http_date(v: &[u8]) -> Option<i64> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const LDAYS: [&[u8]; 7] = [
        b"Monday",
        b"Tuesday",
        b"Wednesday",
        b"Thursday",
        b"Friday",
        b"Saturday",
        b"Sunday",
    ];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    struct P<'a>(&'a [u8]);
    impl P<'_> {
        fn lit(&mut self, l: &[u8]) -> Option<()> {
            self.0 = self.0.strip_prefix(l)?;
            Some(())
        }
        fn one_of(&mut self, names: &[&[u8]]) -> Option<i64> {
            let i = names.iter().position(|n| self.0.starts_with(n))?;
            self.0 = &self.0[names[i].len()..];
            Some(i as i64)
        }
        fn digits(&mut self, n: usize) -> Option<i64> {
            let d = self.0.get(..n)?;
            if !d.iter().all(u8::is_ascii_digit) {
                return None;
            }
            self.0 = &self.0[n..];
            Some(d.iter().fold(0, |a, &b| a * 10 + i64::from(b - b'0')))
        }
        fn time(&mut self) -> Option<i64> {
            let h = self.digits(2)?;
            self.lit(b":")?;
            let m = self.digits(2)?;
            self.lit(b":")?;
            let s = self.digits(2)?;
            Some(h * 3600 + m * 60 + s)
        }
    }
    let imf = || {
        let mut p = P(v);
        p.one_of(&DAYS)?;
        p.lit(b", ")?;
        let day = p.digits(2)?;
        p.lit(b" ")?;
        let mon = p.one_of(&MONTHS)?;
        p.lit(b" ")?;
        let year = p.digits(4)?;
        p.lit(b" ")?;
        let t = p.time()?;
        p.lit(b" GMT")?;
        Some((year, mon, day, t))
    };
    let rfc850 = || {
        let mut p = P(v);
        p.one_of(&LDAYS)?;
        p.lit(b", ")?;
        let day = p.digits(2)?;
        p.lit(b"-")?;
        let mon = p.one_of(&MONTHS)?;
        p.lit(b"-")?;
        let mut year = p.digits(2)?;
        if p.lit(b" ").is_none() {
            year = year * 100 + p.digits(2)?;
            p.lit(b" ")?;
        } else {
            // HAProxy's pivot: up to 60 is 20xx.
            year += if year <= 60 { 2000 } else { 1900 };
        }
        let t = p.time()?;
        p.lit(b" GMT")?;
        Some((year, mon, day, t))
    };
    let asctime = || {
        let mut p = P(v);
        p.one_of(&DAYS)?;
        p.lit(b" ")?;
        let mon = p.one_of(&MONTHS)?;
        p.lit(b" ")?;
        let day = match p.lit(b" ") {
            Some(()) => p.digits(1)?,
            None => p.digits(2)?,
        };
        p.lit(b" ")?;
        let t = p.time()?;
        p.lit(b" ")?;
        let year = p.digits(4)?;
        Some((year, mon, day, t))
    };
    let (year, mon, day, t) = imf().or_else(rfc850).or_else(asctime)?;
    // Days from civil (Howard Hinnant's algorithm), with the day of month as given (as
    // HAProxy's `my_timegm`, which does not check ranges).
    let m = mon + 1;
    let (y, m) = if m <= 2 {
        (year - 1, m + 9)
    } else {
        (year, m - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + t)
}

/// The status line and the header lines worth storing of a serialized head: not its
/// framing, connection or Age fields (a hit gets its own).
fn stored_fields(head: &[u8]) -> (&[u8], Vec<u8>) {
    let mut lines = head.split_inclusive(|&b| b == b'\n');
    let status = lines.next().unwrap_or_default();
    let status = status.strip_suffix(b"\r\n").unwrap_or(status);
    let mut out = Vec::with_capacity(head.len());
    for line in lines {
        if line == b"\r\n" {
            break;
        }
        let name = &line[..line.iter().position(|&b| b == b':').unwrap_or(0)];
        let skip = [
            &b"connection"[..],
            b"keep-alive",
            b"proxy-connection",
            b"content-length",
            b"transfer-encoding",
            b"age",
            b"upgrade",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
        if !skip {
            out.extend_from_slice(line);
        }
    }
    (status, out)
}

/// The values of the stored header lines named `name`, trimmed.
fn stored_values<'a>(fields: &'a [u8], name: &'static [u8]) -> impl Iterator<Item = &'a [u8]> {
    fields
        .split_inclusive(|&b| b == b'\n')
        .filter_map(move |line| {
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(name)
                .then(|| line[colon + 1..].trim_ascii())
        })
}

/// The body went through (`complete`): the object joins this shard's store.
pub fn finish(cfg: &Config, shards: usize, c: Capture, complete: bool) {
    if !complete || c.too_big {
        return;
    }
    let Capture {
        cache,
        key,
        req_sec,
        mut entry,
        body,
        ..
    } = c;
    entry.body = body.into_boxed_slice();
    let max = cfg.caches[cache].max_secondary_entries;
    let now = now_secs();
    with_store(&cfg.caches, cache, shards, |st| {
        st.insert(key, entry, &req_sec, max, now)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: usize) -> Entry {
        Entry {
            status_line: b"HTTP/1.1 200 OK".to_vec().into(),
            fields: Box::default(),
            body: vec![0; body].into(),
            stored: 0,
            age: 0,
            expire: 100,
            seq: 0,
            etag: None,
            last_modified: 0,
            sig: 0,
            sec: [0; SEC_KEY_LEN],
        }
    }

    #[test]
    fn the_oldest_objects_go_first_and_the_budget_holds() {
        let mut st = Store::new(3 * (1000 + 15 + ENTRY_OVERHEAD + 2));
        for k in ["/a", "/b", "/c", "/d"] {
            st.insert(k.as_bytes().into(), entry(1000), &[0; SEC_KEY_LEN], 10, 0);
            assert!(st.used <= st.budget);
        }
        assert!(st.get(b"/a", 1).is_none());
        assert!(st.get(b"/b", 1).is_some() && st.get(b"/d", 1).is_some());
        // Replacing an object does not count it twice.
        st.insert(b"/d"[..].into(), entry(1000), &[0; SEC_KEY_LEN], 10, 0);
        assert_eq!(st.map.len(), 3);
        // Too big for the whole store: not kept, nothing evicted for it.
        st.insert(b"/huge"[..].into(), entry(10_000), &[0; SEC_KEY_LEN], 10, 0);
        assert_eq!(st.map.len(), 3);
        // Expired: gone when looked up.
        assert!(st.get(b"/b", 100).is_none());
        assert_eq!(st.map.len(), 2);
        for i in 0..1000 {
            st.insert(
                format!("/x{}", i % 5).as_bytes().into(),
                entry(10),
                &[0; SEC_KEY_LEN],
                10,
                0,
            );
        }
        assert!(st.order.len() <= 2 * st.count + 16);
    }

    #[test]
    fn secondary_keys_as_haproxy_builds_them() {
        let ae = |vals: &[&'static str]| -> Option<u32> {
            let fields: Vec<(&[u8], &[u8])> = vals
                .iter()
                .map(|v| (&b"accept-encoding"[..], v.as_bytes()))
                .collect();
            let k = secondary_key(1, fields.into_iter(), None)?;
            Some(u32::from_ne_bytes([k[0], k[1], k[2], k[3]]))
        };
        assert_eq!(ae(&[]), Some(!0), "no Accept-Encoding: anything goes");
        assert_eq!(ae(&["gzip, br"]), Some(ENC_GZIP | ENC_BR | ENC_IDENTITY));
        assert_eq!(ae(&["GZip;Q=0, x-gzip"]), Some(ENC_IDENTITY));
        assert_eq!(ae(&["identity;q=0, br"]), Some(ENC_BR));
        assert_eq!(ae(&["*;q=0.5, br;q=0"]), Some(!ENC_BR));
        assert_eq!(ae(&["snappy"]), Some(ENC_IDENTITY | ENC_OTHER));
        assert_eq!(
            ae(&["gz"]),
            Some(ENC_IDENTITY),
            "a known letter, no name: nothing"
        );
        assert_eq!(ae(&["gzip foo"]), Some(ENC_IDENTITY | ENC_OTHER));
        assert_eq!(ae(&[""]), Some(ENC_IDENTITY));
        let many = ["gzip"; 16];
        assert_eq!(ae(&many[..15]), Some(ENC_GZIP | ENC_IDENTITY));
        assert_eq!(ae(&many), None, "16 elements are refused");
        let referer = (&b"referer"[..], &b"/a"[..]);
        let k = secondary_key(2, std::iter::empty(), Some(referer)).unwrap();
        assert_eq!(k[..4], [0; 4]);
        assert_eq!(k[4..], crate::acl::hash::crc32(b"/a").to_ne_bytes());
        assert_eq!(reduce(k, 1), [0; SEC_KEY_LEN]);
        // A stored gzip answer serves who accepts gzip, not an unknown encoding's.
        let key = |ae: u32| {
            let mut k = [0; SEC_KEY_LEN];
            k[..4].copy_from_slice(&ae.to_ne_bytes());
            k
        };
        assert!(sec_key_match(&key(ENC_GZIP), &key(ENC_GZIP | ENC_IDENTITY)));
        assert!(!sec_key_match(&key(ENC_GZIP), &key(ENC_BR | ENC_IDENTITY)));
        assert!(!sec_key_match(&key(ENC_OTHER), &key(!0)));
    }

    #[test]
    fn variants_are_bounded_per_url() {
        let mut st = Store::new(1 << 20);
        let variant = |ae: u32, expire| {
            let mut e = entry(10);
            e.sig = 1;
            e.sec[..4].copy_from_slice(&ae.to_ne_bytes());
            e.expire = expire;
            e
        };
        let req = |ae: u32| {
            let mut k = [0; SEC_KEY_LEN];
            k[..4].copy_from_slice(&ae.to_ne_bytes());
            k
        };
        st.insert(
            b"/v"[..].into(),
            variant(ENC_GZIP, 100),
            &req(ENC_GZIP),
            2,
            0,
        );
        st.insert(b"/v"[..].into(), variant(ENC_BR, 5), &req(ENC_BR), 2, 0);
        // A third is refused while both live; it takes an expired one's place.
        st.insert(
            b"/v"[..].into(),
            variant(ENC_ZSTD, 100),
            &req(ENC_ZSTD),
            2,
            0,
        );
        assert_eq!(st.map[&b"/v"[..]].len(), 2);
        st.insert(
            b"/v"[..].into(),
            variant(ENC_ZSTD, 100),
            &req(ENC_ZSTD),
            2,
            10,
        );
        assert_eq!(st.variant(b"/v", &req(ENC_ZSTD), 10), Some(1));
        // The same variant again replaces it.
        st.insert(
            b"/v"[..].into(),
            variant(ENC_GZIP, 100),
            &req(ENC_GZIP),
            2,
            10,
        );
        assert_eq!((st.map[&b"/v"[..]].len(), st.count), (2, 2));
        assert_eq!(st.variant(b"/v", &req(ENC_BR), 10), None);
    }

    #[test]
    fn http_dates() {
        for d in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT; trailing",
        ] {
            assert_eq!(parse_http_date(d.as_bytes()), Some(784_111_777), "{d}");
        }
        assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date(b"Wednesday, 01-Jan-60 00:00:00 GMT"),
            parse_http_date(b"Thu, 01 Jan 2060 00:00:00 GMT")
        );
        for bad in [
            "yesterday",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(expires_in(b"0"), 0);
    }

    #[test]
    fn stored_heads_lose_framing_and_connection_fields() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\nConnection: close\r\nAge: 4\r\nETag: \"e\"\r\n\r\n";
        let (status, fields) = stored_fields(head);
        assert_eq!(status, b"HTTP/1.1 200 OK");
        assert_eq!(fields, b"X-A: 1\r\nETag: \"e\"\r\n");
    }
}
