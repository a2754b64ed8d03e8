//! Version 1: one US-ASCII line, `PROXY TCP4|TCP6|UNKNOWN ... \r\n`, at most 107 bytes.
//!
//! The parser walks the line field by field over whatever has arrived. Each field has a
//! character set and a maximum length, so a byte that can never belong to a valid line is
//! rejected when it arrives rather than after the CRLF or the 107th byte; a field cut by the
//! end of the data is `Incomplete`. A field is only decoded once its delimiter is in, which is
//! the spec's "wait for the CRLF before decoding the addresses" applied per field.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Addresses, Command, Error, Header, Parse, Version};

/// The longest v1 line, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses and
/// ports). [`encode_v1`]'s buffer is one byte larger, the spec's "108-byte buffer".
pub const V1_MAX_LEN: usize = 107;

/// Outcome of one step of the line walk.
enum Step<T> {
    Done(T),
    Incomplete,
    Fail(Error),
}

/// Like `?` for [`Step`]: unwraps `Done`, returns the other two from the enclosing function.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Step::Done(v) => v,
            Step::Incomplete => return Step::Incomplete,
            Step::Fail(e) => return Step::Fail(e),
        }
    };
}

pub(super) fn parse(buf: &[u8]) -> Parse<'_> {
    // Nothing past byte 107 can be part of a valid line: parse only that window, and if it is
    // full yet still incomplete, the line is too long.
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    match parse_line(window) {
        Step::Done((addresses, len)) => Parse::Complete {
            header: Header {
                version: Version::V1,
                command: Command::Proxy,
                addresses,
                tlvs: &[],
            },
            len,
        },
        Step::Incomplete if buf.len() >= V1_MAX_LEN => Parse::Invalid(Error::TooLong),
        Step::Incomplete => Parse::Incomplete,
        Step::Fail(e) => Parse::Invalid(e),
    }
}

#[derive(Clone, Copy)]
enum Proto {
    Tcp4,
    Tcp6,
    Unknown,
}

fn parse_line(buf: &[u8]) -> Step<(Addresses, usize)> {
    let mut pos = step!(literal(buf, 0, b"PROXY ", Error::NotProxyProtocol));
    let proto;
    (proto, pos) = step!(protocol(buf, pos));
    if let Proto::Unknown = proto {
        return unknown_rest(buf, pos).map(|len| (Addresses::Unspecified, len));
    }
    pos = step!(literal(buf, pos, b" ", Error::BadSyntax));
    let (is_v4, addr_chars, addr_max) = match proto {
        Proto::Tcp4 => (true, IPV4, 15),
        // 45 = INET6_ADDRSTRLEN - 1: the longest text form, with an embedded dotted quad.
        _ => (false, IPV6, 45),
    };
    let src;
    (src, pos) = step!(field(
        buf,
        pos,
        addr_chars,
        addr_max,
        b' ',
        Error::BadAddress
    ));
    let dst;
    (dst, pos) = step!(field(
        buf,
        pos,
        addr_chars,
        addr_max,
        b' ',
        Error::BadAddress
    ));
    let sport;
    (sport, pos) = step!(field(buf, pos, DIGIT, 5, b' ', Error::BadPort));
    let dport;
    (dport, pos) = step!(field(buf, pos, DIGIT, 5, b'\r', Error::BadPort));
    pos = step!(literal(buf, pos, b"\n", Error::BadSyntax));

    let (src_ip, dst_ip) = if is_v4 {
        match (parse_ipv4(src), parse_ipv4(dst)) {
            (Some(s), Some(d)) => (IpAddr::V4(s), IpAddr::V4(d)),
            _ => return Step::Fail(Error::BadAddress),
        }
    } else {
        match (parse_ipv6(src), parse_ipv6(dst)) {
            (Some(s), Some(d)) => (IpAddr::V6(s), IpAddr::V6(d)),
            _ => return Step::Fail(Error::BadAddress),
        }
    };
    let (Some(sport), Some(dport)) = (parse_port(sport), parse_port(dport)) else {
        return Step::Fail(Error::BadPort);
    };
    Step::Done((
        Addresses::Tcp {
            src: SocketAddr::new(src_ip, sport),
            dst: SocketAddr::new(dst_ip, dport),
        },
        pos,
    ))
}

impl<T> Step<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Done(v) => Step::Done(f(v)),
            Step::Incomplete => Step::Incomplete,
            Step::Fail(e) => Step::Fail(e),
        }
    }
}

/// Matches `lit` at `pos`, accepting a prefix of it at the end of the data.
fn literal(buf: &[u8], pos: usize, lit: &[u8], err: Error) -> Step<usize> {
    let avail = &buf[pos..];
    let n = avail.len().min(lit.len());
    if avail[..n] != lit[..n] {
        Step::Fail(err)
    } else if n < lit.len() {
        Step::Incomplete
    } else {
        Step::Done(pos + lit.len())
    }
}

/// The protocol token, not including the separator that follows it.
fn protocol(buf: &[u8], pos: usize) -> Step<(Proto, usize)> {
    const TOKENS: [(&[u8], Proto); 3] = [
        (b"TCP4", Proto::Tcp4),
        (b"TCP6", Proto::Tcp6),
        (b"UNKNOWN", Proto::Unknown),
    ];
    let avail = &buf[pos..];
    let mut prefix_of_some = false;
    for (tok, proto) in TOKENS {
        if avail.starts_with(tok) {
            return Step::Done((proto, pos + tok.len()));
        }
        prefix_of_some |= tok.starts_with(avail);
    }
    if prefix_of_some {
        Step::Incomplete
    } else {
        Step::Fail(Error::BadFamily)
    }
}

/// After `UNKNOWN`: the spec says the receiver must ignore anything before the CRLF, but a
/// lone CR or LF is not a line end and is rejected.
fn unknown_rest(buf: &[u8], pos: usize) -> Step<usize> {
    match buf.get(pos) {
        None => return Step::Incomplete,
        Some(b' ' | b'\r') => {}
        // `UNKNOWNX` is another token, not UNKNOWN.
        Some(_) => return Step::Fail(Error::BadFamily),
    }
    let Some(i) = buf[pos..].iter().position(|&b| b == b'\r' || b == b'\n') else {
        return Step::Incomplete;
    };
    let cr = pos + i;
    if buf[cr] == b'\n' {
        return Step::Fail(Error::BadSyntax);
    }
    literal(buf, cr, b"\r\n", Error::BadSyntax)
}

/// One field: its characters (bytes whose [`CLASS`] has a bit of `class`) from `pos` up to
/// `delim`. Fails at the first byte that is neither a field character nor the delimiter, or
/// when the field grows past `max`.
fn field(
    buf: &[u8],
    pos: usize,
    class: u8,
    max: usize,
    delim: u8,
    err: Error,
) -> Step<(&[u8], usize)> {
    let avail = &buf[pos..];
    let n = avail
        .iter()
        .position(|&b| CLASS[usize::from(b)] & class == 0)
        .unwrap_or(avail.len());
    if n > max {
        return Step::Fail(err);
    }
    match avail.get(n) {
        None => Step::Incomplete,
        Some(&b) if b == delim && n > 0 => Step::Done((&avail[..n], pos + n + 1)),
        // A separator in the wrong place (two in a row, the line ending early, a space where
        // the CR belongs) is a syntax error; any other byte is garbage inside the field.
        Some(b' ' | b'\r' | b'\n') => Step::Fail(Error::BadSyntax),
        Some(_) => Step::Fail(err),
    }
}

// Character classes of the fields, as bits of one lookup table: the scan of each field is a
// load and a test per byte rather than a chain of comparisons or an indirect call.
const DIGIT: u8 = 1;
const IPV4: u8 = 2;
const IPV6: u8 = 4;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_digit() {
            t[b] = DIGIT | IPV4 | IPV6;
        } else if c == b'.' {
            t[b] = IPV4 | IPV6;
        } else if c.is_ascii_hexdigit() || c == b':' {
            t[b] = IPV6;
        }
        b += 1;
    }
    t
};

/// A decimal number in `0..=max`: 1 to 5 digits, no sign, no leading zero (the spec forbids
/// them to avoid any octal confusion).
fn parse_decimal(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 5 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut v = 0u32;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    (v <= max).then_some(v)
}

fn parse_port(s: &[u8]) -> Option<u16> {
    parse_decimal(s, u32::from(u16::MAX)).and_then(|v| u16::try_from(v).ok())
}

/// Exactly four decimal octets separated by single dots, no leading zeros (what
/// `Ipv4Addr::from_str` accepts; a test checks it against std). One pass over the bytes:
/// perf showed a split-and-parse version as the largest cost of a `TCP4` line.
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut val = 0u32;
    let mut digits = 0;
    for &b in s {
        if b == b'.' {
            if digits == 0 || n == 3 {
                return None;
            }
            octets[n] = val as u8;
            (n, val, digits) = (n + 1, 0, 0);
        } else {
            let d = b.wrapping_sub(b'0');
            // Not a digit, or a digit after a leading zero.
            if d > 9 || (digits == 1 && val == 0) {
                return None;
            }
            val = val * 10 + u32::from(d);
            digits += 1;
            if val > 255 {
                return None;
            }
        }
    }
    if digits == 0 || n != 3 {
        return None;
    }
    octets[3] = val as u8;
    Some(Ipv4Addr::from(octets))
}

/// Any RFC 4291 text form, as `inet_pton(AF_INET6)` accepts (which is what HAProxy uses, and
/// what lets a mixed-family `TCP6` line carry `::ffff:a.b.c.d`): 1–4 hex digits per group, at
/// most one `::` standing for at least one zero group, an optional trailing dotted quad. No
/// zone id. Accepts exactly what `Ipv6Addr::from_str` accepts (a test checks it against std);
/// a single forward pass instead of std's backtracking parser, which tries an embedded IPv4
/// address at every group and made `TCP6` lines cost 4x `TCP4` ones.
fn parse_ipv6(s: &[u8]) -> Option<Ipv6Addr> {
    let mut groups = [0u16; 8];
    let mut n = 0;
    // Where `::` was, as a group index.
    let mut gap = None;
    let mut i = 0;
    if s.starts_with(b"::") {
        gap = Some(0);
        i = 2;
    }
    while i < s.len() {
        let start = i;
        while i < s.len() && s[i] != b':' {
            i += 1;
        }
        let tok = &s[start..i];
        if tok.contains(&b'.') {
            // An embedded IPv4 address ends the text and fills two groups.
            if i != s.len() || n + 2 > groups.len() {
                return None;
            }
            let [a, b, c, d] = parse_ipv4(tok)?.octets();
            groups[n] = u16::from_be_bytes([a, b]);
            groups[n + 1] = u16::from_be_bytes([c, d]);
            n += 2;
            break;
        }
        if tok.is_empty() || tok.len() > 4 || n == groups.len() {
            return None;
        }
        let mut g = 0u16;
        for &b in tok {
            g = g << 4 | u16::from(char::from(b).to_digit(16)? as u8);
        }
        groups[n] = g;
        n += 1;
        if i == s.len() {
            break;
        }
        // s[i] is ':'; a second one is the `::`.
        i += 1;
        if s.get(i) == Some(&b':') {
            if gap.is_some() {
                return None;
            }
            gap = Some(n);
            i += 1;
        } else if i == s.len() {
            return None; // a trailing single ':'
        }
    }
    match gap {
        None if n == groups.len() => Some(Ipv6Addr::from(groups)),
        // `::` must stand for at least one group.
        Some(at) if n < groups.len() => {
            let tail_start = groups.len() - (n - at);
            groups.copy_within(at..n, tail_start);
            groups[at..tail_start].fill(0);
            Some(Ipv6Addr::from(groups))
        }
        _ => None,
    }
}

/// Writes the v1 line for `addrs` into `out` and returns its length (at most [`V1_MAX_LEN`]).
///
/// Mirrors HAProxy's `make_proxy_line_v1`:
/// - `None` (addresses unknown, e.g. a UNIX client) gives `PROXY UNKNOWN\r\n`.
/// - Both IPv4 gives `TCP4`. Otherwise `TCP6`, with an IPv4 side written as `::ffff:a.b.c.d`
///   (HAProxy's `v4tov6`); HAProxy does not fall back to UNKNOWN for mixed families.
/// - Addresses are first canonicalized, so an IPv4-mapped IPv6 address (what a dual-stack
///   listener reports for an IPv4 client) counts as IPv4: two of them give `TCP4`. HAProxy
///   itself goes by the socket family and would send `TCP6 ::ffff:...`; `TCP4` is what the
///   receiver can use directly.
pub fn encode_v1(addrs: Option<(SocketAddr, SocketAddr)>, out: &mut [u8; V1_MAX_LEN + 1]) -> usize {
    let mut w = Writer { buf: out, len: 0 };
    let Some((src, dst)) = addrs else {
        w.put(b"PROXY UNKNOWN\r\n");
        return w.len;
    };
    match (src.ip().to_canonical(), dst.ip().to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            w.put(b"PROXY TCP4 ");
            w.ipv4(s);
            w.put(b" ");
            w.ipv4(d);
        }
        (s, d) => {
            w.put(b"PROXY TCP6 ");
            w.ipv6(to_v6(s));
            w.put(b" ");
            w.ipv6(to_v6(d));
        }
    }
    w.put(b" ");
    w.decimal(src.port());
    w.put(b" ");
    w.decimal(dst.port());
    w.put(b"\r\n");
    w.len
}

pub(super) fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Appends to the fixed output buffer. The longest line (two 39-character IPv6 addresses, two
/// 5-digit ports) is 104 bytes, so 108 always suffices and no write can overflow.
struct Writer<'a> {
    buf: &'a mut [u8; V1_MAX_LEN + 1],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        // Byte by byte: the pieces are 1 to 11 bytes, and copy_from_slice on a variable
        // length becomes a call to memmove per piece, which perf showed as a third of the
        // encoding time.
        for &b in s {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    fn decimal(&mut self, v: u16) {
        let mut tmp = [0u8; 5];
        let mut i = tmp.len();
        let mut v = v;
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..]);
    }

    fn ipv4(&mut self, ip: Ipv4Addr) {
        for (i, o) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.put(b".");
            }
            self.decimal(u16::from(o));
        }
    }

    fn hex(&mut self, v: u16) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = [
            HEX[usize::from(v >> 12)],
            HEX[usize::from((v >> 8) & 0xf)],
            HEX[usize::from((v >> 4) & 0xf)],
            HEX[usize::from(v & 0xf)],
        ];
        let skip = (v.leading_zeros() / 4).min(3) as usize;
        self.put(&digits[skip..]);
    }

    /// RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups
    /// (the first on a tie) as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d` — the same
    /// text as `inet_ntop`, which HAProxy uses, and as Rust's `Display`.
    fn ipv6(&mut self, ip: Ipv6Addr) {
        if let Some(v4) = ip.to_ipv4_mapped() {
            self.put(b"::ffff:");
            self.ipv4(v4);
            return;
        }
        let g = ip.segments();
        let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
        for (i, &s) in g.iter().enumerate() {
            if s == 0 {
                if run_len == 0 {
                    run = i;
                }
                run_len += 1;
                if run_len > best_len {
                    (best, best_len) = (run, run_len);
                }
            } else {
                run_len = 0;
            }
        }
        if best_len < 2 {
            self.groups(&g);
        } else {
            self.groups(&g[..best]);
            self.put(b"::");
            self.groups(&g[best + best_len..]);
        }
    }

    fn groups(&mut self, g: &[u16]) {
        for (i, &s) in g.iter().enumerate() {
            if i > 0 {
                self.put(b":");
            }
            self.hex(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HeaderLimits, parse};
    use super::*;

    fn complete(buf: &[u8]) -> (Addresses, usize) {
        match parse(buf, &HeaderLimits::default()) {
            Parse::Complete { header, len } => {
                assert_eq!(header.version, Version::V1);
                assert_eq!(header.command, Command::Proxy);
                assert_eq!(header.tlvs().count(), 0);
                (header.addresses, len)
            }
            other => panic!("{:?}: expected Complete, got {other:?}", show(buf)),
        }
    }

    fn invalid(buf: &[u8]) -> Error {
        match parse(buf, &HeaderLimits::default()) {
            Parse::Invalid(e) => e,
            other => panic!("{:?}: expected Invalid, got {other:?}", show(buf)),
        }
    }

    fn show(buf: &[u8]) -> String {
        String::from_utf8_lossy(buf).into_owned()
    }

    fn tcp(src: &str, dst: &str) -> Addresses {
        Addresses::Tcp {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
        }
    }

    #[test]
    fn spec_example_before_an_http_request() {
        // Section 2.1's example; the request after the line must be left for the caller.
        let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
        let (addrs, len) = complete(wire);
        assert_eq!(addrs, tcp("192.168.0.1:56324", "192.168.0.11:443"));
        assert_eq!(
            &wire[len..],
            b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"
        );
    }

    #[test]
    fn spec_maximum_lines() {
        // Section 2.1's maximum-length lines, 56, 104, 15 and 107 bytes.
        let v4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(v4.len(), 56);
        assert_eq!(
            complete(v4),
            (tcp("255.255.255.255:65535", "255.255.255.255:65535"), 56)
        );

        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let v6 = format!("PROXY TCP6 {full} {full} 65535 65535\r\n");
        assert_eq!(v6.len(), 104);
        let sa = format!("[{full}]:65535");
        assert_eq!(complete(v6.as_bytes()), (tcp(&sa, &sa), 104));

        assert_eq!(complete(b"PROXY UNKNOWN\r\n"), (Addresses::Unspecified, 15));

        let worst = format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n");
        assert_eq!(worst.len(), V1_MAX_LEN);
        assert_eq!(
            complete(worst.as_bytes()),
            (Addresses::Unspecified, V1_MAX_LEN)
        );
    }

    #[test]
    fn tcp6_compressed_forms_and_ports_zero() {
        assert_eq!(
            complete(b"PROXY TCP6 2001:db8::1 ::1 0 0\r\n").0,
            tcp("[2001:db8::1]:0", "[::1]:0")
        );
        // inet_ntop writes a mixed-family v4 side like this; HAProxy reads it with inet_pton.
        assert_eq!(
            complete(b"PROXY TCP6 ::ffff:10.0.0.1 2001:DB8::A 1 2\r\n").0,
            tcp("[::ffff:10.0.0.1]:1", "[2001:db8::a]:2")
        );
    }

    #[test]
    fn unknown_ignores_the_rest_of_the_line() {
        let wire = b"PROXY UNKNOWN 1.2.3.4 whatever \x01\xff\r\nabc";
        assert_eq!(complete(wire), (Addresses::Unspecified, wire.len() - 3));
        assert_eq!(invalid(b"PROXY UNKNOWNX\r\n"), Error::BadFamily);
        assert_eq!(invalid(b"PROXY UNKNOWN junk\nmore"), Error::BadSyntax);
        assert_eq!(invalid(b"PROXY UNKNOWN junk\rmore"), Error::BadSyntax);
    }

    #[test]
    fn rejections() {
        let cases: &[(&[u8], Error)] = &[
            (
                b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                Error::NotProxyProtocol,
            ),
            (
                b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                Error::NotProxyProtocol,
            ),
            (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", Error::BadFamily),
            (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", Error::BadSyntax),
            (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", Error::BadFamily),
            (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", Error::BadFamily),
            (b"PROXY TCP4\r\n", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4\r\n", Error::BadSyntax),
            // Bad addresses.
            (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP4 1.2.3.4 x 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP4 ::1 ::1 1 2\r\n", Error::BadAddress),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8.9.10.11.12 1 2\r\n",
                Error::BadAddress,
            ),
            (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", Error::BadAddress),
            (
                b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
                Error::BadAddress,
            ),
            (b"PROXY TCP6 ::1%eth0 ::1 1 2\r\n", Error::BadAddress),
            (b"PROXY TCP6 ::g ::1 1 2\r\n", Error::BadAddress),
            // Bad ports.
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", Error::BadPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", Error::BadPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", Error::BadPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", Error::BadPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", Error::BadPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n", Error::BadPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n", Error::BadPort),
            // Line ends.
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", Error::BadSyntax),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", Error::BadSyntax),
        ];
        for (wire, want) in cases {
            assert_eq!(invalid(wire), *want, "{:?}", show(wire));
        }
    }

    #[test]
    fn too_long_without_crlf() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX_LEN - 1, b'x');
        assert_eq!(parse(&line, &HeaderLimits::default()), Parse::Incomplete);
        line.push(b'\r');
        // 107 bytes and the CRLF is not complete: it can no longer fit.
        assert_eq!(invalid(&line), Error::TooLong);
        line.push(b'\n');
        assert_eq!(invalid(&line), Error::TooLong);
    }

    #[test]
    fn rejected_early_not_after_107_bytes() {
        // Each of these is decided with the bytes shown, without waiting for a CRLF.
        assert_eq!(invalid(b"PROXY TCP4 1.2.3.4x"), Error::BadAddress);
        assert_eq!(invalid(b"PROXY TCP4 1234567890123456"), Error::BadAddress);
        assert_eq!(
            invalid(b"PROXY TCP4 1.2.3.4 5.6.7.8 123456"),
            Error::BadPort
        );
        assert_eq!(invalid(b"PROXY TCPX"), Error::BadFamily);
        assert_eq!(invalid(b"PROXZ"), Error::NotProxyProtocol);
        assert_eq!(invalid(b"PUT / HTTP/1.1\r\n"), Error::NotProxyProtocol);
    }

    #[test]
    fn byte_by_byte() {
        let wire = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 443\r\nhello";
        let hdr_len = wire.len() - b"hello".len();
        for n in 0..hdr_len {
            assert_eq!(
                parse(&wire[..n], &HeaderLimits::default()),
                Parse::Incomplete,
                "prefix {:?}",
                show(&wire[..n])
            );
        }
        for n in hdr_len..=wire.len() {
            assert_eq!(complete(&wire[..n]).1, hdr_len);
        }
    }

    #[test]
    fn encode_tcp4_matches_the_spec_example() {
        let mut out = [0u8; V1_MAX_LEN + 1];
        let n = encode_v1(
            Some((
                "192.168.0.1:56324".parse().unwrap(),
                "192.168.0.11:443".parse().unwrap(),
            )),
            &mut out,
        );
        assert_eq!(
            &out[..n],
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
    }

    #[test]
    fn encode_unknown_and_tcp6() {
        let mut out = [0u8; V1_MAX_LEN + 1];
        let n = encode_v1(None, &mut out);
        assert_eq!(&out[..n], b"PROXY UNKNOWN\r\n");

        let n = encode_v1(
            Some((
                "[2001:db8:0:0:1:0:0:1]:1".parse().unwrap(),
                "[::]:65535".parse().unwrap(),
            )),
            &mut out,
        );
        assert_eq!(&out[..n], b"PROXY TCP6 2001:db8::1:0:0:1 :: 1 65535\r\n");

        let full = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        let n = encode_v1(
            Some((full.parse().unwrap(), full.parse().unwrap())),
            &mut out,
        );
        assert_eq!(n, 104, "the longest line the encoder can produce");
    }

    #[test]
    fn encode_v4_mapped_and_mixed_families() {
        let mut out = [0u8; V1_MAX_LEN + 1];
        // Both sides IPv4 once canonicalized (dual-stack listener): TCP4.
        let n = encode_v1(
            Some((
                "[::ffff:10.0.0.1]:1000".parse().unwrap(),
                "[::ffff:10.0.0.2]:80".parse().unwrap(),
            )),
            &mut out,
        );
        assert_eq!(&out[..n], b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\n");
        // Mixed: both as IPv6, the IPv4 side mapped, as HAProxy's make_proxy_line_v1 does.
        let n = encode_v1(
            Some((
                "10.0.0.1:1000".parse().unwrap(),
                "[2001:db8::2]:80".parse().unwrap(),
            )),
            &mut out,
        );
        assert_eq!(
            &out[..n],
            b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1000 80\r\n"
        );
        assert_eq!(
            complete(&out[..n]).0,
            tcp("[::ffff:10.0.0.1]:1000", "[2001:db8::2]:80")
        );
    }

    #[test]
    fn ipv4_parser_accepts_exactly_what_std_accepts() {
        let check = |t: &str| {
            assert_eq!(
                parse_ipv4(t.as_bytes()),
                t.parse::<Ipv4Addr>().ok(),
                "{t:?}"
            );
        };
        for t in [
            "",
            ".",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.0",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "01.2.3.4",
            "1.02.3.4",
            "1.2.3.00",
            "1.2.3.0",
            "1..2.3",
            "1.2.3.4.5",
            "1234.1.1.1",
            "0000000001.1.1.1",
            "99999999999.1.1.1",
        ] {
            check(t);
        }
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 16) as usize;
            let t: String = (0..len)
                .map(|i| char::from(b"0123456789...12"[((x >> (4 + 4 * i)) % 15) as usize]))
                .collect();
            check(&t);
        }
    }

    #[test]
    fn ipv6_parser_accepts_exactly_what_std_accepts() {
        // Differential test against Ipv6Addr::from_str: hand-picked edge cases, random strings
        // over the field's alphabet, and mutations of well-formed addresses.
        let edge = [
            "",
            ":",
            "::",
            ":::",
            "::::",
            "1::",
            "::1",
            "1:",
            ":1",
            "1::2::3",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::",
            "::1:2:3:4:5:6:7",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4::5:6:7:8",
            "12345::",
            "0000:00:0::0",
            "::1.2.3.4",
            "::ffff:1.2.3.4",
            "1.2.3.4",
            "1.2.3.4::",
            "::1.2.3.4:1",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "::01.2.3.4",
            "::1.2.3",
            "::1.2.3.4.5",
            "::256.0.0.1",
            "::1..2.3",
            "FFFF::abcd",
            "1:::2",
            "::1::",
            "1:2:3:4:5:6:7:8::",
        ];
        let check = |t: &str| {
            assert_eq!(
                parse_ipv6(t.as_bytes()),
                t.parse::<Ipv6Addr>().ok(),
                "{t:?}"
            );
        };
        edge.iter().for_each(|t| check(t));
        let alphabet = b"0123456789abcdefABCDEF:.::..";
        let mut x: u64 = 0xD1B5_4A32_D192_ED03;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let len = (next() % 46) as usize;
            let t: String = (0..len)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect();
            check(&t);
        }
        for _ in 0..100_000 {
            let mut g = [0u16; 8];
            for s in &mut g {
                if next() % 2 == 0 {
                    *s = next() as u16;
                }
            }
            let mut t = Ipv6Addr::from(g).to_string().into_bytes();
            let at = (next() % (t.len() as u64 + 1)) as usize;
            match next() % 4 {
                0 if at < t.len() => {
                    t.remove(at);
                }
                1 => t.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                2 if at < t.len() => t[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                _ => {}
            }
            check(std::str::from_utf8(&t).unwrap());
        }
    }

    #[test]
    fn ipv6_text_matches_std_display() {
        // Our RFC 5952 writer against std's, over addresses rich in zero runs of every shape.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut g = [0u16; 8];
            for (i, s) in g.iter_mut().enumerate() {
                let r = (x >> (i * 8)) as u16;
                // Three quarters zeros, so runs and ties are common.
                *s = if r & 3 != 0 { 0 } else { r >> 2 };
            }
            let ip = Ipv6Addr::from(g);
            let mut out = [0u8; V1_MAX_LEN + 1];
            let mut w = Writer {
                buf: &mut out,
                len: 0,
            };
            w.ipv6(ip);
            let n = w.len;
            assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), ip.to_string());
        }
    }
}
