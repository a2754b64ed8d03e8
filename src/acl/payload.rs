//! Layer-6 fetches over the bytes a `tcp-request content` rule has buffered: `req.len`,
//! `req.payload`, `req.payload_lv`, and the TLS ClientHello fetches `req.ssl_sni`,
//! `req.ssl_alpn`, `req.ssl_hello_type`, `req.ssl_ver` — read from the client's first bytes
//! without terminating TLS.
//!
//! These are ports of HAProxy 2.6's `src/payload.c`, check for check, so that a malformed or
//! unusual ClientHello is accepted or refused exactly as HAProxy does (and falls to the same
//! `default_backend`). A general TLS parser (tls-parser) is stricter in some places and laxer
//! in others than these checks, which is why they are written out here. What HAProxy does,
//! and so what this does:
//!
//! - Only the first TLS record's header is looked at: the ClientHello's length comes from
//!   the handshake header, and a hello fragmented over several records is read across the
//!   next record's header (which then usually fails a check: no SNI). Hellos that large are
//!   rare (post-quantum key shares make them more common; HAProxy 2.6 has the same limit).
//! - Where HAProxy would read past what was received (its bound is off by the 4-byte
//!   handshake header, and it does not bound the host name by the extension), this waits for
//!   the rest or finds nothing: a parser over a slice never reads past it.
//!
//! Each function is pure: it returns a value, "not found", or "too short" (the answer may
//! change with more bytes; the rule engine waits for them until the inspect delay ends).

/// What a layer-6 fetch finds in the buffered bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L6<T> {
    /// A value that will not change.
    Found(T),
    /// A value that more bytes could change (`req.len`, `req.payload(o,0)`): HAProxy's
    /// `SMP_F_MAY_CHANGE` on a fetched sample.
    Partial(T),
    /// Nothing, whatever comes next (not TLS, malformed, no such extension).
    NotFound,
    /// Not enough bytes yet to say.
    TooShort,
}

/// HAProxy's `tune.bufsize` default: payload fetches past it never match.
pub const BUFSIZE: usize = 16384;
/// What HAProxy lets a request buffer fill before it counts as full (`tune.bufsize` minus
/// `tune.maxrewrite`): inspection stops waiting there.
pub const RECV_LIMIT: usize = 16384 - 1024;

fn be16(b: &[u8], i: usize) -> Option<i64> {
    Some(((*b.get(i)? as i64) << 8) | *b.get(i + 1)? as i64)
}

/// `req.len`: how many bytes are buffered (it changes as more arrive).
pub fn len(buf: &[u8]) -> L6<i64> {
    L6::Partial(buf.len() as i64)
}

/// `req.payload(offset,length)`: `length` bytes from `offset`; a length of 0 takes
/// everything from `offset` on (and may grow).
pub fn payload(buf: &[u8], offset: u64, length: u64) -> L6<&[u8]> {
    let max = BUFSIZE as u64;
    if length > max || offset.saturating_add(length) > max {
        return L6::NotFound;
    }
    let (o, l) = (offset as usize, length as usize);
    if o + l > buf.len() {
        return L6::TooShort;
    }
    if l == 0 {
        L6::Partial(&buf[o..])
    } else {
        L6::Found(&buf[o..o + l])
    }
}

/// The third argument of `req.payload_lv`: where the value starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LvOffset {
    /// Right after the length field (no third argument).
    AfterLength,
    /// At this absolute offset.
    Absolute(i64),
    /// This far from the end of the length field (written with a `+` or `-`).
    Relative(i64),
}

/// `req.payload_lv(offset1,length[,offset2])`: a big-endian length of `length` bytes at
/// `offset1`, then that many bytes at `offset2`.
pub fn payload_lv(buf: &[u8], offset1: u64, length: u64, offset2: LvOffset) -> L6<&[u8]> {
    let Some(end_of_len) = offset1.checked_add(length) else {
        return L6::NotFound;
    };
    if end_of_len > buf.len() as u64 {
        return L6::TooShort;
    }
    let mut size: u64 = 0;
    for &b in &buf[offset1 as usize..end_of_len as usize] {
        // HAProxy accumulates in 32 bits.
        size = ((size << 8) | b as u64) & 0xffff_ffff;
    }
    let start = match offset2 {
        LvOffset::AfterLength => end_of_len as i64,
        LvOffset::Absolute(o) => o,
        LvOffset::Relative(o) => end_of_len as i64 + o,
    };
    let max = BUFSIZE as i64;
    if size == 0 || size as i64 > max || start < 0 || start + size as i64 > max {
        return L6::NotFound;
    }
    let (s, n) = (start as usize, size as usize);
    if s + n > buf.len() {
        return L6::TooShort;
    }
    L6::Found(&buf[s..s + n])
}

/// `req.ssl_hello_type`: the handshake type of the first TLS record (1 for a ClientHello),
/// once the whole handshake message is there.
pub fn ssl_hello_type(buf: &[u8]) -> L6<i64> {
    let Some(&first) = buf.first() else {
        return L6::TooShort;
    };
    if !((0x14..=0x17).contains(&first) || first == 0xff) {
        return L6::NotFound;
    }
    if buf.len() < 9 {
        return L6::TooShort;
    }
    if ((buf[1] as i64) << 16) + (buf[2] as i64) < 0x0003_0000 {
        return L6::NotFound;
    }
    if ((buf[3] as i64) << 8) + (buf[4] as i64) < 4 {
        return L6::NotFound;
    }
    let hs_len = ((buf[6] as usize) << 16) | ((buf[7] as usize) << 8) | buf[8] as usize;
    if buf.len() < 9 + hs_len {
        return L6::TooShort;
    }
    L6::Found(buf[5] as i64)
}

/// `req.ssl_ver`: the version the ClientHello asks for (`major << 16 | minor`), from an
/// SSLv3/TLS record or an SSLv2 hello, once the message is there.
pub fn ssl_ver(buf: &[u8]) -> L6<i64> {
    let Some(&first) = buf.first() else {
        return L6::TooShort;
    };
    let mut data = buf;
    let version;
    let mut msg_len: usize;
    if (0x14..=0x17).contains(&first) || first == 0xff {
        if data.len() < 11 {
            return L6::TooShort;
        }
        let record_version = ((data[1] as i64) << 16) + data[2] as i64;
        msg_len = ((data[3] as usize) << 8) + data[4] as usize;
        if record_version < 0x0003_0000 {
            return L6::NotFound;
        }
        if !(6..=(1 << 14) + 2048).contains(&msg_len) {
            return L6::NotFound;
        }
        data = &data[5..];
        // The hello's version, not the record layer's.
        version = ((data[4] as i64) << 16) + data[5] as i64;
    } else {
        // SSLv2 header format, only for a hello (message type 1).
        let (rlen, plen);
        if first & 0x80 != 0 {
            if data.len() < 3 {
                return L6::TooShort;
            }
            rlen = (((data[0] & 0x7f) as usize) << 8) | data[1] as usize;
            plen = 0;
            data = &data[2..];
        } else {
            if data.len() < 4 {
                return L6::TooShort;
            }
            rlen = (((data[0] & 0x3f) as usize) << 8) | data[1] as usize;
            plen = data[2] as usize;
            data = &data[3..];
        }
        if data[0] != 0x01 {
            return L6::NotFound;
        }
        data = &data[1..];
        if data.len() < 8 {
            return L6::TooShort;
        }
        version = ((data[0] as i64) << 16) + data[1] as i64;
        let cilen = ((data[2] as usize) << 8) + data[3] as usize;
        let silen = ((data[4] as usize) << 8) + data[5] as usize;
        let chlen = ((data[6] as usize) << 8) + data[7] as usize;
        data = &data[8..];
        if !cilen.is_multiple_of(3)
            || (silen != 0 && silen != 16)
            || !(16..=32).contains(&chlen)
            || rlen != 9 + cilen + silen + chlen
        {
            return L6::NotFound;
        }
        msg_len = cilen + silen + chlen + plen;
    }
    // A message larger than the buffer can hold is judged on what fits.
    msg_len = msg_len.min(RECV_LIMIT);
    if data.len() < msg_len {
        return L6::TooShort;
    }
    L6::Found(version)
}

/// The extensions block of a ClientHello in the first record, after HAProxy's checks
/// (`smp_fetch_ssl_hello_sni` and its siblings share them).
fn hello_extensions(buf: &[u8]) -> L6<&[u8]> {
    let Some(&first) = buf.first() else {
        return L6::TooShort;
    };
    if first != 0x16 {
        return L6::NotFound;
    }
    if buf.len() < 3 {
        return L6::TooShort;
    }
    if buf[1] < 0x03 {
        return L6::NotFound;
    }
    if buf.len() < 5 {
        return L6::TooShort;
    }
    // The record must be long enough to carry a hello with one extension.
    if ((buf[3] as usize) << 8) + (buf[4] as usize) < 1 + 3 + 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2 {
        return L6::NotFound;
    }
    let hs = &buf[5..];
    if hs.is_empty() {
        return L6::TooShort;
    }
    if hs[0] != 0x01 {
        return L6::NotFound;
    }
    if hs.len() < 4 {
        return L6::TooShort;
    }
    let hs_len = ((hs[1] as usize) << 16) | ((hs[2] as usize) << 8) | hs[3] as usize;
    if hs_len < 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2 {
        return L6::NotFound;
    }
    // HAProxy compares with the 4 header bytes counted in; wait for the whole message.
    if hs.len() - 4 < hs_len {
        return L6::TooShort;
    }
    let mut d = &hs[4..4 + hs_len];
    if d[0] < 0x03 || d[1] < 0x01 {
        return L6::NotFound;
    }
    let sid = d[34] as usize;
    if sid > 32 || sid > d.len() - 35 {
        return L6::NotFound;
    }
    d = &d[35 + sid..];
    // Cipher suites: at least one.
    match be16(d, 0) {
        Some(n) if d.len() >= 4 && n >= 2 && n as usize <= d.len() => d = &d[2 + n as usize..],
        _ => return L6::NotFound,
    }
    // Compression methods: at least one.
    if d.len() < 2 || d[0] < 1 || d[0] as usize > d.len() {
        return L6::NotFound;
    }
    d = &d[1 + d[0] as usize..];
    match be16(d, 0) {
        Some(n) if d.len() >= 2 && n as usize <= d.len() - 2 => L6::Found(&d[2..2 + n as usize]),
        _ => L6::NotFound,
    }
}

/// Calls `f` with each extension of the hello's extension block until it returns
/// `Some`; a malformed extension ends the walk with `None`, as in HAProxy.
fn find_extension<'a, T>(
    exts: &'a [u8],
    mut f: impl FnMut(u16, &'a [u8], &'a [u8]) -> Option<Option<T>>,
) -> Option<T> {
    let mut d = exts;
    while d.len() >= 4 {
        let ty = ((d[0] as u16) << 8) | d[1] as u16;
        let len = ((d[2] as usize) << 8) | d[3] as usize;
        if len > d.len() - 4 {
            return None;
        }
        if let Some(r) = f(ty, &d[4..4 + len], d) {
            return r;
        }
        d = &d[4 + len..];
    }
    None
}

/// Maps the extension block's outcome through `f` (not found and too short pass through).
fn in_hello<'a, T>(buf: &'a [u8], f: impl FnOnce(&'a [u8]) -> Option<T>) -> L6<T> {
    match hello_extensions(buf) {
        L6::Found(exts) | L6::Partial(exts) => f(exts).map_or(L6::NotFound, L6::Found),
        L6::NotFound => L6::NotFound,
        L6::TooShort => L6::TooShort,
    }
}

/// `req.rdp_cookie([NAME])`: the value of the `Cookie: NAME=VALUE\r\n` line an RDP client
/// sends after its TPKT and X.224 headers (11 bytes), as HAProxy's
/// `fetch_rdp_cookie_name`: the name compared without case, any name without one.
pub fn rdp_cookie<'a>(buf: &'a [u8], name: Option<&[u8]>) -> L6<&'a [u8]> {
    let Some(mut d) = buf.get(11..).filter(|d| d.len() > 7) else {
        return L6::TooShort;
    };
    if !d[..7].eq_ignore_ascii_case(b"Cookie:") {
        return L6::NotFound;
    }
    d = &d[7..];
    while let [b' ', rest @ ..] = d {
        d = rest;
    }
    match name {
        Some(n) => {
            if d.len() <= n.len() {
                return L6::TooShort;
            }
            if d[n.len()] != b'=' || !d[..n.len()].eq_ignore_ascii_case(n) {
                return L6::NotFound;
            }
            d = &d[n.len() + 1..];
        }
        None => {
            let Some(eq) = d.iter().position(|&b| matches!(b, b'=' | b'\r' | b'\n')) else {
                return L6::TooShort;
            };
            if d[eq] != b'=' {
                return L6::NotFound;
            }
            d = &d[eq + 1..];
        }
    }
    let end = d.iter().position(|&b| b == b'\r').unwrap_or(d.len());
    match d.get(end..end + 2) {
        None => L6::TooShort,
        Some(b"\r\n") => L6::Found(&d[..end]),
        Some(_) => L6::NotFound,
    }
}

/// `req.rdp_cookie_cnt([NAME])`: 1 when the RDP cookie is there, 0 when it is not; nothing
/// while too few bytes came to say.
pub fn rdp_cookie_cnt(buf: &[u8], name: Option<&[u8]>) -> L6<i64> {
    match rdp_cookie(buf, name) {
        L6::Found(_) | L6::Partial(_) => L6::Found(1),
        L6::NotFound => L6::Found(0),
        L6::TooShort => L6::TooShort,
    }
}

/// `req.ssl_sni`: the host name of the ClientHello's server_name extension.
pub fn ssl_sni(buf: &[u8]) -> L6<&[u8]> {
    in_hello(buf, |exts| {
        find_extension(exts, |ty, ext, rest| {
            if ty != 0 {
                return None;
            }
            if ext.len() < 2 {
                return Some(None);
            }
            // HAProxy bounds the list by what is left of the extension block, not by this
            // extension; the name itself is bounded here by the block too.
            let list = be16(rest, 4)? as usize;
            if list < 4 || list as i64 > rest.len() as i64 - 6 {
                return Some(None);
            }
            let name_type = rest[6];
            let name_len = be16(rest, 7)? as usize;
            if name_type != 0 {
                // Not a host name: HAProxy goes on with the next extension.
                return None;
            }
            Some(rest.get(9..9 + name_len))
        })
    })
}

/// The ALPN extension's data (its protocol list), for [`alpn_names`].
pub fn ssl_alpn(buf: &[u8]) -> L6<&[u8]> {
    in_hello(buf, |exts| {
        find_extension(exts, |ty, ext, _| {
            if ty != 16 {
                return None;
            }
            // One list length and at least one name length.
            Some((ext.len() >= 3).then_some(ext))
        })
    })
}

/// Calls `f` on each protocol name of an ALPN extension's data, first (most preferred)
/// first, until it returns false: HAProxy's walk, which skips the list length and stops at
/// a name that does not fit.
pub fn alpn_names(ext: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
    let mut at = 2;
    while let Some(&n) = ext.get(at) {
        let n = n as usize;
        let Some(name) = ext.get(at + 1..at + 1 + n) else {
            return;
        };
        if !f(name) {
            return;
        }
        if at + 1 + n >= ext.len() {
            return;
        }
        at += 1 + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS 1.2-style ClientHello record with the given extensions (type, data).
    pub(crate) fn hello(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
        let mut e = Vec::new();
        for (ty, data) in exts {
            e.extend_from_slice(&ty.to_be_bytes());
            e.extend_from_slice(&(data.len() as u16).to_be_bytes());
            e.extend_from_slice(data);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    pub(crate) fn sni_ext(name: &str) -> (u16, Vec<u8>) {
        let n = name.as_bytes();
        let mut d = ((n.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(n.len() as u16).to_be_bytes());
        d.extend_from_slice(n);
        (0, d)
    }

    fn alpn_ext(names: &[&str]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for n in names {
            list.push(n.len() as u8);
            list.extend_from_slice(n.as_bytes());
        }
        let mut d = (list.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&list);
        (16, d)
    }

    #[test]
    fn sni_of_a_complete_hello() {
        let h = hello(&[(10, vec![0, 2, 0, 29]), sni_ext("a.example")]);
        assert_eq!(ssl_sni(&h), L6::Found(&b"a.example"[..]));
        assert_eq!(ssl_hello_type(&h), L6::Found(1));
        // HAProxy's encoding: major << 16 | minor.
        assert_eq!(ssl_ver(&h), L6::Found(0x0003_0003));
    }

    #[test]
    fn every_prefix_of_a_hello_is_too_short() {
        let h = hello(&[sni_ext("a.example"), alpn_ext(&["h2", "http/1.1"])]);
        for n in 0..h.len() {
            assert_eq!(ssl_sni(&h[..n]), L6::TooShort, "prefix {n}");
            assert_eq!(ssl_alpn(&h[..n]), L6::TooShort, "prefix {n}");
            assert_eq!(ssl_hello_type(&h[..n]), L6::TooShort, "prefix {n}");
        }
        assert!(matches!(ssl_alpn(&h), L6::Found(_)));
    }

    #[test]
    fn not_tls_is_not_found_at_once() {
        assert_eq!(ssl_sni(b"GET / HTTP/1.1\r\n"), L6::NotFound);
        assert_eq!(ssl_hello_type(b"GET / HTTP/1.1\r\n"), L6::NotFound);
        assert_eq!(ssl_sni(b"\x16\x02"), L6::TooShort);
        assert_eq!(ssl_sni(b"\x16\x02\x00"), L6::NotFound);
    }

    #[test]
    fn hello_without_sni_finds_nothing() {
        let h = hello(&[(10, vec![0, 2, 0, 29]), (13, vec![0, 2, 4, 3])]);
        assert_eq!(ssl_sni(&h), L6::NotFound);
        assert_eq!(ssl_hello_type(&h), L6::Found(1));
    }

    #[test]
    fn malformed_hellos_find_nothing() {
        let good = hello(&[sni_ext("a.example")]);
        // Session id longer than 32.
        let mut h = good.clone();
        h[9 + 34] = 33;
        assert_eq!(ssl_sni(&h), L6::NotFound);
        // An extension longer than the block.
        let mut h = good.clone();
        let ext_at = h.len() - sni_ext("a.example").1.len() - 4;
        h[ext_at + 2] = 0xff;
        assert_eq!(ssl_sni(&h), L6::NotFound);
        // Not a ClientHello (ServerHello).
        let mut h = good.clone();
        h[5] = 2;
        assert_eq!(ssl_sni(&h), L6::NotFound);
        assert_eq!(ssl_hello_type(&h), L6::Found(2));
        // A name longer than the extension block.
        let mut h = good;
        let name_len_at = h.len() - "a.example".len() - 2;
        h[name_len_at + 1] = 200;
        assert_eq!(ssl_sni(&h), L6::NotFound);
    }

    #[test]
    fn alpn_names_in_order() {
        let h = hello(&[alpn_ext(&["h2", "http/1.1"])]);
        let L6::Found(ext) = ssl_alpn(&h) else {
            panic!("no alpn")
        };
        let mut seen = Vec::new();
        alpn_names(ext, &mut |n| {
            seen.push(n.to_vec());
            true
        });
        assert_eq!(seen, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    }

    #[test]
    fn payload_and_lv() {
        let b = b"\x00\x03abcdef";
        assert_eq!(payload(b, 2, 3), L6::Found(&b"abc"[..]));
        assert_eq!(payload(b, 2, 0), L6::Partial(&b"abcdef"[..]));
        assert_eq!(payload(b, 6, 5), L6::TooShort);
        assert_eq!(payload(b, 0, 20000), L6::NotFound);
        assert_eq!(
            payload_lv(b, 0, 2, LvOffset::AfterLength),
            L6::Found(&b"abc"[..])
        );
        assert_eq!(
            payload_lv(b, 0, 2, LvOffset::Relative(1)),
            L6::Found(&b"bcd"[..])
        );
        assert_eq!(
            payload_lv(b, 0, 2, LvOffset::Absolute(5)),
            L6::Found(&b"def"[..])
        );
        assert_eq!(payload_lv(b, 0, 2, LvOffset::Absolute(6)), L6::TooShort);
        assert_eq!(
            payload_lv(b"\x00\x00", 0, 2, LvOffset::AfterLength),
            L6::NotFound
        );
        assert_eq!(
            payload_lv(b"\x00", 0, 2, LvOffset::AfterLength),
            L6::TooShort
        );
        assert_eq!(len(b), L6::Partial(8));
    }

    /// The three-valued evaluation over a content sample, as `tcp_inspect_request` sees it.
    #[test]
    fn conditions_wait_for_the_bytes_they_need() {
        use crate::acl::{Acls, Cond, ConnInfo, ContentSample, ParseCtx, Tri};
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let acls = Acls::new();
        let cond = |s: &str| Cond::parse(&words(s), &acls, &mut ParseCtx::new("fe")).unwrap();
        let sni = cond("if { req.ssl_sni -i A.example }");
        let ver = cond("if { req.ssl_ver ge 3.3 }");
        let len = cond("if { req.len gt 10 }");
        let wait = cond("if WAIT_END");
        let http = cond("if HTTP { path_beg /x }");
        let not_sni = cond("if !{ req.ssl_sni -i b.example }");
        let conn = ConnInfo::default();
        let nb = |_: usize| 0;
        let h = hello(&[sni_ext("a.example")]);
        let eval = |c: &Cond, data: &[u8], last: bool| {
            c.eval3(&acls, &ContentSample::new(&conn, data, last, &nb, false))
        };
        assert_eq!(eval(&sni, &h[..20], false), Tri::Miss);
        assert_eq!(eval(&not_sni, &h[..20], false), Tri::Miss);
        assert_eq!(eval(&sni, &h[..20], true), Tri::Fail);
        assert_eq!(eval(&sni, &h, false), Tri::Pass);
        assert_eq!(eval(&not_sni, &h, false), Tri::Pass);
        assert_eq!(eval(&ver, &h, false), Tri::Pass);
        assert_eq!(eval(&len, b"short", false), Tri::Miss);
        assert_eq!(eval(&len, b"short", true), Tri::Fail);
        assert_eq!(eval(&len, b"longer than ten", false), Tri::Pass);
        assert_eq!(eval(&wait, b"", false), Tri::Miss);
        assert_eq!(eval(&wait, b"", true), Tri::Pass);
        assert_eq!(eval(&http, b"GET /x HTTP/1.1\r\n", false), Tri::Miss);
        assert_eq!(
            eval(&http, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", false),
            Tri::Pass
        );
        assert_eq!(
            eval(&http, b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n", false),
            Tri::Fail
        );
        assert_eq!(eval(&http, &h, false), Tri::Fail);
    }

    /// Every single-byte change of a hello (three values per byte), cut at every length:
    /// no panic, and an answer on a prefix is the answer on the whole (what the fuzz target
    /// checks at random, here exhaustively around a real shape).
    #[test]
    fn single_byte_changes_never_panic_and_prefix_answers_hold() {
        fn holds<T: PartialEq + std::fmt::Debug>(prefix: L6<T>, full: L6<T>) {
            match prefix {
                L6::TooShort => {}
                L6::Partial(_) => assert!(matches!(full, L6::Partial(_))),
                other => assert_eq!(other, full),
            }
        }
        let h = hello(&[sni_ext("a.example"), alpn_ext(&["h2", "http/1.1"])]);
        for i in 0..h.len() {
            for v in [0u8, 0xff, h[i] ^ 1] {
                let mut m = h.clone();
                m[i] = v;
                for cut in [0, i, i + 1, m.len() / 2, m.len() - 1] {
                    let p = &m[..cut.min(m.len())];
                    holds(ssl_sni(p), ssl_sni(&m));
                    holds(ssl_alpn(p), ssl_alpn(&m));
                    holds(ssl_hello_type(p), ssl_hello_type(&m));
                    holds(ssl_ver(p), ssl_ver(&m));
                    holds(
                        payload_lv(p, 3, 2, LvOffset::Relative(-1)),
                        payload_lv(&m, 3, 2, LvOffset::Relative(-1)),
                    );
                }
                if let L6::Found(ext) = ssl_alpn(&m) {
                    alpn_names(ext, &mut |_| true);
                }
            }
        }
    }

    #[test]
    fn sslv2_hello_version() {
        // SSLv2 short header: len, type 1, version 3.1, cipher len 3, sid 0, challenge 16.
        let mut m = vec![0x80, 9 + 3 + 16, 0x01, 0x03, 0x01, 0, 3, 0, 0, 0, 16];
        m.extend_from_slice(&[0, 0, 0x2f]);
        m.extend_from_slice(&[9u8; 16]);
        assert_eq!(ssl_ver(&m), L6::Found(0x0003_0001));
        assert_eq!(ssl_ver(&m[..m.len() - 1]), L6::TooShort);
    }

    /// An RDP Connection Request: TPKT (4 bytes), X.224 CR (7), then the cookie line.
    fn rdp(line: &[u8]) -> Vec<u8> {
        let mut m = vec![3, 0, 0, 0, 0, 0xe0, 0, 0, 0, 0, 0];
        m.extend_from_slice(line);
        m
    }

    #[test]
    fn rdp_cookies_as_haproxy_reads_them() {
        let m = rdp(b"Cookie: mstshash=alice\r\n\x01\x00");
        assert_eq!(rdp_cookie(&m, Some(b"mstshash")), L6::Found(&b"alice"[..]));
        assert_eq!(rdp_cookie(&m, Some(b"MSTSHASH")), L6::Found(&b"alice"[..]));
        assert_eq!(rdp_cookie(&m, None), L6::Found(&b"alice"[..]));
        assert_eq!(rdp_cookie(&m, Some(b"msts")), L6::NotFound);
        assert_eq!(rdp_cookie_cnt(&m, Some(b"msts")), L6::Found(0));
        assert_eq!(rdp_cookie_cnt(&m, None), L6::Found(1));
        let half = rdp(b"Cookie: mstshash=ali");
        assert_eq!(rdp_cookie(&half, None), L6::TooShort);
        assert_eq!(rdp_cookie_cnt(&half, None), L6::TooShort);
        assert_eq!(rdp_cookie(&rdp(b"Cooky: x=1\r\n"), None), L6::NotFound);
        assert_eq!(rdp_cookie(&rdp(b"Cookie: x=1\rX"), None), L6::NotFound);
        assert_eq!(rdp_cookie(&[3, 0, 0], None), L6::TooShort);
        let msts = rdp(b"Cookie: msts=16777343.20480.0000\r\n");
        assert_eq!(
            rdp_cookie(&msts, Some(b"msts")),
            L6::Found(&b"16777343.20480.0000"[..])
        );
    }
}
