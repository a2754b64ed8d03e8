//! Sample converters: the typed pipeline that follows a fetch (`req.hdr(host),field(1,:)`),
//! as HAProxy 2.6 runs it (src/sample.c `sample_process`, `sample_casts`; the converters of
//! src/sample.c, src/http_conv.c, src/ssl_sample.c, src/vars.c, src/map.c).
//!
//! Each converter declares the type it takes and the type it gives; between two stages the
//! value is cast as HAProxy casts it (an integer to its decimal text, a string to its leading
//! number, an address to its 4 or 16 bytes…), and a converter whose input type cannot be
//! reached from the previous output is refused at parse time ("converter 'X' cannot be
//! applied"). Arguments are read as HAProxy's `make_arg_list` reads them (quotes, `\`
//! escapes, the same error texts), then checked as each converter's `val_args` does.
//!
//! Cost: an expression without converters, or with only `lower`/`upper`, keeps the in-place
//! path of [`super::FetchExpr::each_checked`] (nothing allocated); the others run here on an
//! owned value.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Sample;
use super::map::MapConv;
use super::sample::{SmpType, Value, buf2ip, read_int64, v6tov4};
use super::vars::{SetCond, Stored, VarRef};

/// HAProxy's sample types (`SMP_T_*`), as converters declare them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum T {
    Any,
    Bool,
    Sint,
    Addr,
    Ipv4,
    /// No converter corelb has declares it; kept for the cast table.
    #[allow(dead_code)]
    Ipv6,
    Str,
    Bin,
    Meth,
}

impl T {
    /// The parse-time type of a fetch's values (HAProxy declares address fetches IPv4).
    pub(crate) fn of(t: SmpType) -> T {
        match t {
            SmpType::Bool => T::Bool,
            SmpType::Int => T::Sint,
            SmpType::Ip => T::Ipv4,
            SmpType::Str => T::Str,
            SmpType::Meth => T::Meth,
            SmpType::Bin => T::Bin,
            SmpType::Any => T::Any,
        }
    }

    /// What ACL matching sees.
    pub(crate) fn smp_type(self) -> SmpType {
        match self {
            T::Bool => SmpType::Bool,
            T::Sint => SmpType::Int,
            T::Addr | T::Ipv4 | T::Ipv6 => SmpType::Ip,
            T::Str => SmpType::Str,
            T::Bin => SmpType::Bin,
            T::Meth => SmpType::Meth,
            T::Any => SmpType::Any,
        }
    }

    /// Whether HAProxy 2.6's `sample_casts[self][to]` exists.
    pub(crate) fn casts_to(self, to: T) -> bool {
        use T::*;
        if to == Any {
            return true;
        }
        match self {
            Any | Str => true,
            Bool => matches!(to, Bool | Sint | Str | Bin),
            Sint => to != Meth,
            Addr => false,
            Ipv4 => !matches!(to, Bool | Meth),
            Ipv6 => matches!(to, Addr | Ipv4 | Ipv6 | Str | Bin),
            Bin | Meth => matches!(to, Str | Bin | Meth),
        }
    }
}

/// An owned sample between converters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Smp {
    Bool(bool),
    Int(i64),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

impl Smp {
    fn from_value(v: Value<'_>, bin: bool) -> Smp {
        match v {
            Value::Bool(b) => Smp::Bool(b),
            Value::Int(i) => Smp::Int(i),
            Value::Ip(IpAddr::V4(a)) => Smp::V4(a),
            Value::Ip(IpAddr::V6(a)) => Smp::V6(a),
            Value::Str(s) if bin => Smp::Bin(s.to_vec()),
            Value::Str(s) => Smp::Str(s.to_vec()),
        }
    }

    pub(crate) fn value(&self) -> Value<'_> {
        match self {
            Smp::Bool(b) => Value::Bool(*b),
            Smp::Int(i) => Value::Int(*i),
            Smp::V4(a) => Value::Ip(IpAddr::V4(*a)),
            Smp::V6(a) => Value::Ip(IpAddr::V6(*a)),
            Smp::Str(s) | Smp::Bin(s) => Value::Str(s),
        }
    }

    /// The integer of a boolean or integer sample (after a cast to one of them).
    fn int(&self) -> i64 {
        match self {
            Smp::Bool(b) => i64::from(*b),
            Smp::Int(i) => *i,
            _ => 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Smp::Str(s) | Smp::Bin(s) => s,
            _ => &[],
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Smp::Str(s) | Smp::Bin(s) => s,
            _ => Vec::new(),
        }
    }

    /// HAProxy's run-time casts (`sample_casts`); `None` where the cast fails.
    pub(crate) fn cast(self, to: T) -> Option<Smp> {
        use T::*;
        Some(match (self, to) {
            (s, Any) => s,
            (Smp::Bool(b), Bool) => Smp::Bool(b),
            (Smp::Bool(b), Sint) => Smp::Int(i64::from(b)),
            (Smp::Bool(b), Str | Meth) => Smp::Str(if b { b"1".to_vec() } else { b"0".to_vec() }),
            (Smp::Bool(b), Bin) => Smp::Bin(i64::from(b).to_be_bytes().to_vec()),
            (Smp::Bool(_), Addr | Ipv4 | Ipv6) => return None,
            // SINT to BOOL is `c_none`: the integer stays, read as true when not zero.
            (Smp::Int(i), Bool | Sint) => Smp::Int(i),
            (Smp::Int(i), Addr | Ipv4) => Smp::V4(Ipv4Addr::from(i as u32)),
            (Smp::Int(i), Ipv6) => Smp::V6(Ipv4Addr::from(i as u32).to_ipv6_mapped()),
            (Smp::Int(i), Str | Meth) => Smp::Str(i.to_string().into_bytes()),
            (Smp::Int(i), Bin) => Smp::Bin(i.to_be_bytes().to_vec()),
            (Smp::V4(a), Sint) => Smp::Int(i64::from(u32::from(a))),
            (Smp::V4(a), Addr | Ipv4) => Smp::V4(a),
            (Smp::V4(a), Ipv6) => Smp::V6(a.to_ipv6_mapped()),
            (Smp::V4(a), Str | Meth) => Smp::Str(a.to_string().into_bytes()),
            (Smp::V4(a), Bin) => Smp::Bin(a.octets().to_vec()),
            (Smp::V4(_), Bool) => return None,
            (Smp::V6(a), Addr | Ipv6) => Smp::V6(a),
            (Smp::V6(a), Ipv4) => Smp::V4(v6tov4(&a)?),
            (Smp::V6(a), Str | Meth) => Smp::Str(a.to_string().into_bytes()),
            (Smp::V6(a), Bin) => Smp::Bin(a.octets().to_vec()),
            (Smp::V6(_), Bool | Sint) => return None,
            (Smp::Str(s), Bool | Sint) if s.is_empty() => return None,
            (Smp::Str(s), Bool | Sint) => Smp::Int(read_int64(&s)),
            (Smp::Str(s), Addr) => match buf2ip(&s) {
                Some((a, _)) => Smp::V4(a),
                None => Smp::V6(parse_v6(&s)?),
            },
            (Smp::Str(s), Ipv4) => Smp::V4(buf2ip(&s)?.0),
            (Smp::Str(s), Ipv6) => Smp::V6(parse_v6(&s)?),
            (Smp::Str(s), Str | Meth) => Smp::Str(s),
            (Smp::Str(s), Bin) => Smp::Bin(s),
            // `c_bin2str`: a NUL ends the string.
            (Smp::Bin(mut s), Str | Meth) => {
                if let Some(z) = memchr::memchr(0, &s) {
                    s.truncate(z);
                }
                Smp::Str(s)
            }
            (Smp::Bin(s), Bin) => Smp::Bin(s),
            (Smp::Bin(_), _) => return None,
        })
    }
}

fn parse_v6(s: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A converter argument's type (`ARGT_*`), named as HAProxy's `arg_type_names`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Sint,
    Str,
    /// A stick table's name (a string named as HAProxy's `ARGT_TAB`).
    Tab,
    Reg,
    Msk4,
    Msk6,
}

impl At {
    fn name(self) -> &'static str {
        match self {
            At::Sint => "integer",
            At::Str => "string",
            At::Tab => "table",
            At::Reg => "regex",
            At::Msk4 => "IPv4 mask",
            At::Msk6 => "IPv6 mask",
        }
    }
}

/// A parsed argument.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Arg {
    Int(i64),
    Str(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Arg {
    fn int(&self) -> i64 {
        match self {
            Arg::Int(i) => *i,
            _ => 0,
        }
    }
    fn str(&self) -> &str {
        match self {
            Arg::Str(s) => s,
            _ => "",
        }
    }
}

/// HAProxy's `str2mask`: a dotted mask or a prefix length.
fn str2mask(s: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(a);
    }
    let n: u32 = s.parse().ok()?;
    if n > 32 {
        return None;
    }
    Some(Ipv4Addr::from(if n == 0 {
        0
    } else {
        u32::MAX << (32 - n)
    }))
}

fn str2mask6(s: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some(a);
    }
    let n: u32 = s.parse().ok()?;
    if n > 128 {
        return None;
    }
    Some(Ipv6Addr::from(if n == 0 {
        0
    } else {
        u128::MAX << (128 - n)
    }))
}

/// HAProxy's `make_arg_list` over `input` (what follows the converter's name): the
/// arguments, and the bytes consumed. Errors carry the argument position HAProxy reports.
fn make_arg_list(
    input: &str,
    min: usize,
    types: &[At],
) -> Result<(Vec<Arg>, usize), (usize, String)> {
    let b = input.as_bytes();
    let mut i = 0;
    let empty = b.first() != Some(&b'(');
    if !empty {
        i = 1;
    }
    let mut out = Vec::new();
    let nbarg = types.len();
    let mut pos = 0;
    let at_end = |i: usize| -> bool { empty || i >= b.len() };
    if nbarg > 0 && !(empty && min == 0) {
        while pos < nbarg {
            let (mut sq, mut dq) = (false, false);
            let mut word: Vec<u8> = Vec::new();
            while !at_end(i) {
                let c = b[i];
                if c == b'"' && !sq {
                    dq = !dq;
                    i += 1;
                } else if c == b'\'' && !dq {
                    sq = !sq;
                    i += 1;
                } else if c == b'\\' && !sq {
                    match b.get(i + 1) {
                        None => {
                            return Err((
                                pos,
                                format!(
                                    "failed to parse '{}' after '{}' as type '{}' at position {}",
                                    &input[i..],
                                    String::from_utf8_lossy(&word),
                                    types[pos].name(),
                                    pos + 1
                                ),
                            ));
                        }
                        Some(&n @ (b'\\' | b' ' | b'"' | b'\'')) => {
                            word.push(n);
                            i += 2;
                        }
                        Some(b'r') => {
                            word.push(b'\r');
                            i += 2;
                        }
                        Some(b'n') => {
                            word.push(b'\n');
                            i += 2;
                        }
                        Some(b't') => {
                            word.push(b'\t');
                            i += 2;
                        }
                        Some(_) => {
                            word.push(b'\\');
                            i += 1;
                        }
                    }
                } else {
                    if !sq && !dq && (c == b',' || c == b')') {
                        break;
                    }
                    word.push(c);
                    i += 1;
                }
            }
            let w = String::from_utf8_lossy(&word).into_owned();
            let t = types[pos];
            let empty_err = |pos: usize| -> Result<(), (usize, String)> {
                if pos >= min {
                    return Ok(());
                }
                Err((
                    pos,
                    format!(
                        "expected type '{}' at position {}, but got nothing",
                        types[pos].name(),
                        pos + 1
                    ),
                ))
            };
            let parse_err = || {
                (
                    pos,
                    format!(
                        "failed to parse '{w}' as type '{}' at position {}",
                        t.name(),
                        pos + 1
                    ),
                )
            };
            let a = match t {
                At::Sint => {
                    if w.is_empty() {
                        empty_err(pos)?;
                        break;
                    }
                    let (neg, digits) = match w.as_bytes()[0] {
                        b'-' => (true, &w[1..]),
                        b'+' => (false, &w[1..]),
                        _ => (false, &w[..]),
                    };
                    if !digits.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(parse_err());
                    }
                    let v = read_int64(digits.as_bytes());
                    Arg::Int(if neg { -v } else { v })
                }
                At::Str | At::Tab | At::Reg => Arg::Str(w),
                At::Msk4 => {
                    if w.is_empty() {
                        empty_err(pos)?;
                        break;
                    }
                    Arg::V4(str2mask(&w).ok_or_else(parse_err)?)
                }
                At::Msk6 => {
                    if w.is_empty() {
                        empty_err(pos)?;
                        break;
                    }
                    Arg::V6(str2mask6(&w).ok_or_else(parse_err)?)
                }
            };
            out.push(a);
            pos += 1;
            if at_end(i) || b[i] == b')' || pos >= nbarg {
                break;
            }
            i += 1; // the comma
        }
    }
    if pos < min {
        return Err((
            pos,
            format!(
                "missing arguments (got {pos}/{min}), type '{}' expected",
                types[pos].name()
            ),
        ));
    }
    if !empty {
        if b.get(i) == Some(&b')') {
            i += 1;
        } else {
            let p = if pos > 1 { pos - 1 } else { pos };
            return Err((
                p,
                if i >= b.len() {
                    "expected ')'".to_string()
                } else {
                    format!("expected ')' before '{}'", &input[i..])
                },
            ));
        }
    }
    Ok((out, i))
}

/// Where a `%[...]` expression ends: the first `]` outside parentheses and quotes.
pub(crate) fn expr_end(s: &str) -> Option<usize> {
    let (mut depth, mut sq, mut dq, mut esc) = (0usize, false, false, false);
    for (i, c) in s.bytes().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            b'\\' if !sq && depth > 0 => esc = true,
            b'\'' if !dq && depth > 0 => sq = !sq,
            b'"' if !sq && depth > 0 => dq = !dq,
            _ if sq || dq => {}
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b']' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// A value an argument names: a constant or a variable (`add(txn.x)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IntOrVar {
    Int(i64),
    Var(VarRef),
}

/// HAProxy's `vars_check_arg`: whether the text names a variable.
fn var_of(s: &str) -> Option<VarRef> {
    VarRef::parse(s).ok()
}

/// A variable's value cast to `to` (`sample_conv_var2smp`).
fn var_smp(s: &dyn Sample, v: &VarRef, to: T) -> Option<Smp> {
    s.vars()
        .with(v, |x| x.map(|x| Smp::from_value(x, false)))?
        .cast(to)
}

/// What a converter does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Op {
    Hex,
    Base64,
    B64Dec,
    Ub64Enc,
    Ub64Dec,
    Map(MapConv),
    Length,
    /// `capture-req(id)`, `capture-res(id)` (`response`): the value into the frontend's
    /// capture slot, passed on unchanged.
    Capture {
        response: bool,
        id: i64,
    },
    Field {
        idx: i64,
        delims: Box<[u8]>,
        count: i64,
    },
    Word {
        idx: i64,
        delims: Box<[u8]>,
        count: i64,
    },
    Regsub {
        re: RegexEq,
        subst: Box<[u8]>,
        global: bool,
    },
    UrlDec(bool),
    UrlEnc,
    Json(u8),
    Bytes(i64, Option<i64>),
    Ltrim(Box<[u8]>),
    Rtrim(Box<[u8]>),
    CutCrlf,
    Hex2i,
    Htonl,
    Ipmask(Ipv4Addr, Option<Ipv6Addr>),
    Arith(char, IntOrVar),
    Neg,
    Cpl,
    Bool,
    Not,
    Odd,
    Even,
    Iif(Box<[u8]>, Box<[u8]>),
    Concat(Box<[u8]>, Option<VarRef>, Box<[u8]>),
    AddItem(Box<[u8]>, Option<VarRef>, Box<[u8]>),
    Strcmp(VarRef),
    SecureMemcmp(VarRef),
    Hash(HashKind, bool),
    Sha1,
    Sha2(u16),
    Digest(Digest),
    Hmac(Digest, HmacKey),
    Time {
        utc: bool,
        fmt: std::ffi::CString,
        offset: i64,
    },
    HttpDate {
        offset: i64,
        unit: u8,
    },
    Language(Box<[u8]>, Option<Box<[u8]>>),
    Be2Dec {
        sep: Box<[u8]>,
        chunk: i64,
        truncate: bool,
    },
    Be2Hex {
        sep: Box<[u8]>,
        chunk: i64,
        truncate: bool,
    },
    JsonQuery {
        path: Box<str>,
        int: bool,
    },
    JwtQuery {
        payload: bool,
        query: Option<(Box<str>, bool)>,
    },
    AesGcmDec {
        bits: u16,
        nonce: HmacKey,
        key: HmacKey,
        tag: HmacKey,
    },
    Table(super::stick::StickFetch),
    SetVar(VarRef, SetCond),
    UnsetVar(VarRef),
    Debug,
}

/// The regex compares by its source.
impl PartialEq for RegexEq {
    fn eq(&self, o: &Self) -> bool {
        self.0.as_str() == o.0.as_str()
    }
}
#[derive(Clone, Debug)]
pub(crate) struct RegexEq(regex::bytes::Regex);
impl Eq for RegexEq {}

/// The non-cryptographic hashes of HAProxy's src/hash.c and xxHash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashKind {
    Crc32,
    Crc32c,
    Djb2,
    Sdbm,
    Wt6,
    Xxh32(u32),
    Xxh64(u64),
    Xxh3(u64),
}

/// A message digest named as OpenSSL names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Digest {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    fn by_name(s: &str) -> Option<Digest> {
        Some(match s.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Digest::Md5,
            "sha1" => Digest::Sha1,
            "sha224" => Digest::Sha224,
            "sha256" => Digest::Sha256,
            "sha384" => Digest::Sha384,
            "sha512" => Digest::Sha512,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest as d;
        let alg = match self {
            Digest::Md5 => {
                use md5::Digest as _;
                return md5::Md5::digest(data).to_vec();
            }
            Digest::Sha1 => &d::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha224 => &d::SHA224,
            Digest::Sha256 => &d::SHA256,
            Digest::Sha384 => &d::SHA384,
            Digest::Sha512 => &d::SHA512,
        };
        d::digest(alg, data).as_ref().to_vec()
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::hmac as h;
        let alg = match self {
            Digest::Md5 => return hmac_md5(key, data),
            Digest::Sha1 => h::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha224 => h::HMAC_SHA224,
            Digest::Sha256 => h::HMAC_SHA256,
            Digest::Sha384 => h::HMAC_SHA384,
            Digest::Sha512 => h::HMAC_SHA512,
        };
        h::sign(&h::Key::new(alg, key), data).as_ref().to_vec()
    }
}

/// HMAC-MD5 (RFC 2104) over the `md5` crate.
fn hmac_md5(key: &[u8], data: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&md5::Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = md5::Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = md5::Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// `hmac`'s key: base64 text given inline, or a variable holding base64 text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HmacKey {
    Bytes(Box<[u8]>),
    Var(VarRef),
}

/// A converter with its declared types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Typed {
    pub(crate) name: Box<str>,
    pub(crate) op: Op,
    pub(crate) input: T,
    pub(crate) output: T,
}

/// A converter applied to a fetched value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conv {
    /// `lower`: in place.
    Lower,
    /// `upper`: in place.
    Upper,
    /// Every other converter.
    Typed(Box<Typed>),
}

impl Conv {
    fn output(&self) -> T {
        match self {
            Conv::Lower | Conv::Upper => T::Str,
            Conv::Typed(t) => t.output,
        }
    }
    fn input(&self) -> T {
        match self {
            Conv::Lower | Conv::Upper => T::Str,
            Conv::Typed(t) => t.input,
        }
    }
}

/// Converters HAProxy 2.6 has that corelb does not, with why.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("protobuf", "corelb does not decode Protocol Buffers"),
    ("ungrpc", "corelb does not decode gRPC/Protocol Buffers"),
    ("fix_is_valid", "corelb does not parse the FIX protocol"),
    ("fix_tag_value", "corelb does not parse the FIX protocol"),
    ("mqtt_is_valid", "corelb does not parse MQTT"),
    ("mqtt_field_value", "corelb does not parse MQTT"),
    ("jwt_verify", "corelb does not verify JWT signatures yet"),
    (
        "nbsrv",
        "the 'nbsrv' converter is not implemented in corelb (the fetch is)",
    ),
    ("srv_queue", "corelb has no server queues"),
];

/// Every converter keyword corelb knows.
pub(crate) const CONV_KEYWORDS: &[&str] = &[
    "add",
    "add_item",
    "and",
    "b64dec",
    "base64",
    "be2dec",
    "be2hex",
    "bool",
    "bytes",
    "capture-req",
    "capture-res",
    "concat",
    "cpl",
    "crc32",
    "crc32c",
    "cut_crlf",
    "debug",
    "digest",
    "div",
    "djb2",
    "even",
    "field",
    "hex",
    "hex2i",
    "hmac",
    "htonl",
    "http_date",
    "iif",
    "ipmask",
    "json",
    "language",
    "length",
    "lower",
    "ltime",
    "ltrim",
    "map",
    "mod",
    "mul",
    "neg",
    "not",
    "odd",
    "or",
    "regsub",
    "rtrim",
    "sdbm",
    "secure_memcmp",
    "set-var",
    "sha1",
    "sha2",
    "strcmp",
    "sub",
    "ub64dec",
    "ub64enc",
    "unset-var",
    "upper",
    "url_dec",
    "url_enc",
    "utime",
    "word",
    "wt6",
    "xor",
    "xxh3",
    "xxh32",
    "xxh64",
];

/// Parses the converters after fetch `kw` (`rest` starts at the first comma), checking each
/// one's input against the previous output type (`prev`: the fetch's).
pub(crate) fn parse_convs(
    kw: &str,
    mut rest: &str,
    fetch_type: SmpType,
) -> Result<Vec<Conv>, String> {
    let mut convs = Vec::new();
    let mut prev = T::of(fetch_type);
    let mut ckw: Option<String> = None;
    loop {
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(',') {
            return Err(match &ckw {
                Some(c) => format!("missing comma after converter '{c}'"),
                None => format!("missing comma after fetch keyword '{kw}'"),
            });
        }
        rest = rest.trim_start_matches(',');
        if rest.is_empty() {
            break;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+')))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let after = &rest[end..];
        ckw = Some(name.to_string());
        let (c, used) = parse_one(name, after)?;
        if !prev.casts_to(c.input()) {
            return Err(format!("converter '{name}' cannot be applied"));
        }
        prev = c.output();
        convs.push(c);
        rest = &after[used..];
    }
    Ok(convs)
}

/// The type an expression's values have after its converters.
pub(crate) fn out_type(fetch: SmpType, convs: &[Conv]) -> SmpType {
    match convs.last() {
        None => fetch,
        Some(c) => c.output().smp_type(),
    }
}

fn spec(name: &str) -> Option<(usize, &'static [At], T, T)> {
    use At::*;
    use T as t;
    Some(match name {
        "lower" | "upper" | "cut_crlf" => (0, &[], t::Str, t::Str),
        "hex" | "base64" | "ub64enc" => (0, &[], t::Bin, t::Str),
        "b64dec" | "ub64dec" => (0, &[], t::Str, t::Bin),
        "length" | "hex2i" => (0, &[], t::Str, t::Sint),
        "field" | "word" => (2, &[Sint, Str, Sint], t::Str, t::Str),
        "regsub" => (2, &[Reg, Str, Str], t::Str, t::Str),
        "url_dec" => (0, &[Sint], t::Str, t::Str),
        "url_enc" => (1, &[Str], t::Str, t::Str),
        "json" => (1, &[Str], t::Str, t::Str),
        "bytes" => (1, &[Sint, Sint], t::Bin, t::Bin),
        "ltrim" | "rtrim" => (1, &[Str], t::Str, t::Str),
        "htonl" => (0, &[], t::Sint, t::Bin),
        "ipmask" => (1, &[Msk4, Msk6], t::Addr, t::Ipv4),
        "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor" => {
            (1, &[Str], t::Sint, t::Sint)
        }
        "neg" | "cpl" => (0, &[], t::Sint, t::Sint),
        "bool" | "not" | "odd" | "even" => (0, &[], t::Sint, t::Bool),
        "iif" => (2, &[Str, Str], t::Bool, t::Str),
        "concat" => (1, &[Str, Str, Str], t::Str, t::Str),
        "add_item" => (2, &[Str, Str, Str], t::Str, t::Str),
        "strcmp" => (1, &[Str], t::Str, t::Sint),
        "secure_memcmp" => (1, &[Str], t::Bin, t::Bool),
        "crc32" | "crc32c" | "djb2" | "sdbm" | "wt6" | "xxh3" | "xxh32" | "xxh64" => {
            (0, &[Sint], t::Bin, t::Sint)
        }
        "sha1" => (0, &[], t::Bin, t::Bin),
        "sha2" => (0, &[Sint], t::Bin, t::Bin),
        "digest" => (1, &[Str], t::Bin, t::Bin),
        "hmac" => (2, &[Str, Str], t::Bin, t::Bin),
        "ltime" | "utime" => (1, &[Str, Sint], t::Sint, t::Str),
        "http_date" => (0, &[Sint, Str], t::Sint, t::Str),
        "language" => (1, &[Str, Str], t::Str, t::Str),
        "be2dec" | "be2hex" => (1, &[Str, Sint, Sint], t::Bin, t::Str),
        "json_query" => (1, &[Str, Str], t::Str, t::Any),
        "jwt_header_query" | "jwt_payload_query" => (0, &[Str, Str], t::Bin, t::Any),
        "aes_gcm_dec" => (4, &[Sint, Str, Str, Str], t::Bin, t::Bin),
        "set-var" => (1, &[Str, Str, Str, Str, Str], t::Any, t::Any),
        "unset-var" => (1, &[Str], t::Any, t::Any),
        "debug" => (0, &[Str, Str], t::Any, t::Any),
        "capture-req" | "capture-res" => (1, &[Sint], t::Str, t::Str),
        _ => return None,
    })
}

/// One converter: `name` and what follows it; returns the converter and the bytes of
/// `after` its arguments took.
fn parse_one(name: &str, after: &str) -> Result<(Conv, usize), String> {
    if MapConv::is_map(name) {
        return parse_map(name, after);
    }
    let Some((min, types, input, output)) = spec(name) else {
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == name) {
            return Err(format!("converter '{name}' is not supported: {why}"));
        }
        if let Some(what) = ["table_gpc", "table_gpc_rate", "table_gpt"]
            .iter()
            .find(|n| **n == name)
        {
            return parse_table_array(what, after);
        }
        if let Some(op) = super::stick::conv_op(name) {
            return parse_table(name, after, op);
        }
        if name == "table_expire" || name == "table_idle" {
            return parse_table_timer(name, after);
        }
        return Err(format!(
            "unknown converter '{name}'{}",
            super::did_you_mean(name, CONV_KEYWORDS.iter().copied())
        ));
    };
    let (args, used) = make_arg_list(after, min, types)
        .map_err(|(pos, e)| format!("invalid arg {} in converter '{name}' : {e}", pos + 1))?;
    let invalid = |e: String| format!("invalid args in converter '{name}' : {e}");
    let a = |i: usize| args.get(i);
    let s = |i: usize| a(i).map_or("", Arg::str);
    let n = |i: usize| a(i).map_or(0, Arg::int);
    let bytes = |i: usize| -> Box<[u8]> { s(i).as_bytes().into() };
    let op = match name {
        "lower" => return Ok((Conv::Lower, used)),
        "upper" => return Ok((Conv::Upper, used)),
        "hex" => Op::Hex,
        "base64" => Op::Base64,
        "b64dec" => Op::B64Dec,
        "ub64enc" => Op::Ub64Enc,
        "ub64dec" => Op::Ub64Dec,
        "length" => Op::Length,
        "capture-req" | "capture-res" => Op::Capture {
            response: name == "capture-res",
            id: n(0),
        },
        "hex2i" => Op::Hex2i,
        "cut_crlf" => Op::CutCrlf,
        "htonl" => Op::Htonl,
        "field" | "word" => {
            if n(0) == 0 {
                return Err(invalid("Unexpected value 0 for index".into()));
            }
            if s(1).is_empty() {
                return Err(invalid("Empty separators list".into()));
            }
            let count = a(2).map_or(1, Arg::int);
            if name == "field" {
                Op::Field {
                    idx: n(0),
                    delims: bytes(1),
                    count,
                }
            } else {
                Op::Word {
                    idx: n(0),
                    delims: bytes(1),
                    count,
                }
            }
        }
        "regsub" => {
            let (mut icase, mut global) = (false, false);
            for c in s(2).chars() {
                match c {
                    'i' => icase = true,
                    'g' => global = true,
                    c => {
                        return Err(invalid(format!(
                            "invalid regex flag '{c}', only 'i' and 'g' are supported"
                        )));
                    }
                }
            }
            let re = regex::bytes::RegexBuilder::new(s(0))
                .case_insensitive(icase)
                .build()
                .map_err(|e| {
                    format!(
                        "invalid arg 1 in converter '{name}' : failed to compile regex '{}': {e}",
                        s(0)
                    )
                })?;
            Op::Regsub {
                re: RegexEq(re),
                subst: bytes(1),
                global,
            }
        }
        "url_dec" => Op::UrlDec(n(0) != 0),
        "url_enc" => match s(0) {
            "" | "query" => Op::UrlEnc,
            _ => {
                return Err(invalid(
                    "Unexpected encode type. Allowed value is 'query'".into(),
                ));
            }
        },
        "json" => Op::Json(match s(0) {
            "" | "ascii" => 0,
            "utf8" => 1,
            "utf8s" => 2,
            "utf8p" => 3,
            "utf8ps" => 4,
            _ => {
                return Err(invalid(
                    "Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'"
                        .into(),
                ));
            }
        }),
        "bytes" => Op::Bytes(n(0), a(1).map(Arg::int)),
        "ltrim" => Op::Ltrim(bytes(0)),
        "rtrim" => Op::Rtrim(bytes(0)),
        "ipmask" => {
            let m4 = match a(0) {
                Some(Arg::V4(m)) => *m,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            let m6 = match a(1) {
                Some(Arg::V6(m)) => Some(*m),
                _ => None,
            };
            Op::Ipmask(m4, m6)
        }
        "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor" => {
            let v = match var_of(s(0)) {
                Some(v) => IntOrVar::Var(v),
                None => {
                    let t = s(0);
                    let (neg, d) = match t.as_bytes().first() {
                        Some(b'-') => (true, &t[1..]),
                        Some(b'+') => (false, &t[1..]),
                        _ => (false, t),
                    };
                    if !d.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(invalid("expects an integer or a variable name".into()));
                    }
                    let v = read_int64(d.as_bytes());
                    IntOrVar::Int(if neg { -v } else { v })
                }
            };
            let c = match name {
                "add" => '+',
                "sub" => '-',
                "mul" => '*',
                "div" => '/',
                "mod" => '%',
                "and" => '&',
                "or" => '|',
                _ => '^',
            };
            Op::Arith(c, v)
        }
        "neg" => Op::Neg,
        "cpl" => Op::Cpl,
        "bool" => Op::Bool,
        "not" => Op::Not,
        "odd" => Op::Odd,
        "even" => Op::Even,
        "iif" => Op::Iif(bytes(0), bytes(1)),
        "concat" | "add_item" => {
            let (pre, var_i, suf) = (bytes(0), 1, bytes(2));
            let var = if s(var_i).is_empty() {
                None
            } else {
                Some(var_of(s(var_i)).ok_or_else(|| {
                    invalid(format!("failed to register variable name '{}'", s(var_i)))
                })?)
            };
            if name == "concat" {
                Op::Concat(pre, var, suf)
            } else {
                if var.is_none() && suf.is_empty() {
                    return Err(invalid(
                        "one of the optional arguments has to be nonempty".into(),
                    ));
                }
                Op::AddItem(pre, var, suf)
            }
        }
        "strcmp" | "secure_memcmp" => {
            if s(0).is_empty() {
                return Err(invalid("missing variable name".into()));
            }
            let v = var_of(s(0))
                .ok_or_else(|| invalid(format!("failed to register variable name '{}'", s(0))))?;
            if name == "strcmp" {
                Op::Strcmp(v)
            } else {
                Op::SecureMemcmp(v)
            }
        }
        "crc32" => Op::Hash(HashKind::Crc32, n(0) != 0),
        "crc32c" => Op::Hash(HashKind::Crc32c, n(0) != 0),
        "djb2" => Op::Hash(HashKind::Djb2, n(0) != 0),
        "sdbm" => Op::Hash(HashKind::Sdbm, n(0) != 0),
        "wt6" => Op::Hash(HashKind::Wt6, n(0) != 0),
        "xxh32" => Op::Hash(HashKind::Xxh32(n(0) as u32), false),
        "xxh64" => Op::Hash(HashKind::Xxh64(n(0) as u64), false),
        "xxh3" => Op::Hash(HashKind::Xxh3(n(0) as u64), false),
        "sha1" => Op::Sha1,
        "sha2" => {
            let bits = if a(0).is_none() { 256 } else { n(0) };
            if ![224, 256, 384, 512].contains(&bits) {
                return Err(invalid(format!("Unsupported number of bits: '{bits}'")));
            }
            Op::Sha2(bits as u16)
        }
        "digest" | "hmac" => {
            let d = Digest::by_name(s(0)).ok_or_else(|| {
                invalid("algorithm must be a valid OpenSSL message digest name.".into())
            })?;
            if name == "digest" {
                Op::Digest(d)
            } else {
                let key =
                    b64_arg(s(1)).map_err(|e| invalid(format!("failed to parse key : {e}")))?;
                Op::Hmac(d, key)
            }
        }
        "ltime" | "utime" => Op::Time {
            utc: name == "utime",
            fmt: std::ffi::CString::new(s(0))
                .map_err(|_| invalid("the format contains a NUL byte".into()))?,
            offset: n(1),
        },
        "http_date" => Op::HttpDate {
            offset: n(0),
            unit: match s(1) {
                "" | "s" => 0,
                "ms" => 1,
                "us" => 2,
                _ => {
                    return Err(invalid(
                        "Invalid unit. Allowed values are 's', 'ms' or 'us'".into(),
                    ));
                }
            },
        },
        "language" => Op::Language(bytes(0), a(1).map(|x| x.str().as_bytes().into())),
        "be2dec" | "be2hex" => {
            let chunk = a(1).map_or(1, Arg::int);
            let max = if name == "be2dec" { 8 } else { i64::MAX };
            if chunk <= 0 || (name == "be2dec" && chunk > max) {
                return Err(invalid(format!(
                    "chunk size must be {}",
                    if name == "be2dec" {
                        "between 1 and 8"
                    } else {
                        "positive"
                    }
                )));
            }
            if name == "be2dec" {
                Op::Be2Dec {
                    sep: bytes(0),
                    chunk,
                    truncate: n(2) != 0,
                }
            } else {
                Op::Be2Hex {
                    sep: bytes(0),
                    chunk,
                    truncate: n(2) != 0,
                }
            }
        }
        "set-var" | "unset-var" => {
            let v = VarRef::parse(s(0)).map_err(invalid)?;
            if name == "unset-var" {
                Op::UnsetVar(v)
            } else {
                let conds: Vec<&str> = args[1..].iter().map(Arg::str).collect();
                Op::SetVar(v, SetCond::parse(&conds.join(",")).map_err(invalid)?)
            }
        }
        "debug" => Op::Debug,
        "json_query" | "jwt_header_query" | "jwt_payload_query" => {
            let query = if a(0).is_none() {
                None
            } else {
                if s(0).is_empty() {
                    return Err(invalid("json_path must not be empty".into()));
                }
                let int = match s(1) {
                    "" => false,
                    "int" => true,
                    _ => {
                        return Err(invalid(
                            "output_type only supports \"int\" as argument".into(),
                        ));
                    }
                };
                Some((s(0).into(), int))
            };
            match (name, query) {
                ("json_query", Some((path, int))) => Op::JsonQuery { path, int },
                ("json_query", None) => unreachable!("json_query needs its path (min 1)"),
                (n, query) => Op::JwtQuery {
                    payload: n == "jwt_payload_query",
                    query,
                },
            }
        }
        "aes_gcm_dec" => {
            let bits = n(0);
            if ![128, 192, 256].contains(&bits) {
                return Err(invalid("key size must be 128, 192 or 256 (bits).".into()));
            }
            let p = |i: usize, what: &str| {
                b64_arg(s(i)).map_err(|e| invalid(format!("failed to parse {what} : {e}")))
            };
            Op::AesGcmDec {
                bits: bits as u16,
                nonce: p(1, "nonce")?,
                key: p(2, "key")?,
                tag: p(3, "aead_tag")?,
            }
        }
        _ => unreachable!("spec() and parse_one() list the same converters"),
    };
    Ok((
        Conv::Typed(Box::new(Typed {
            name: name.into(),
            op,
            input,
            output,
        })),
        used,
    ))
}

/// `table_gpc(IDX,TABLE)`, `table_gpc_rate(IDX,TABLE)`, `table_gpt(IDX,TABLE)`: element IDX
/// of the counter arrays (HAProxy 2.5's), for the input as a key of TABLE.
fn parse_table_array(name: &str, after: &str) -> Result<(Conv, usize), String> {
    let (args, used) = make_arg_list(after, 2, &[At::Sint, At::Tab])
        .map_err(|(pos, e)| format!("invalid arg {} in converter '{name}' : {e}", pos + 1))?;
    // Any index parses; one past the array finds nothing.
    let idx = u32::try_from(args.first().map_or(0, Arg::int)).unwrap_or(u32::MAX);
    let op = super::stick::array_conv_op(&name["table_".len()..], idx)
        .ok_or_else(|| format!("unknown converter '{name}'"))?;
    let (conv, _) = parse_table_named(name, args.get(1).map_or("", Arg::str), op)?;
    Ok((conv, used))
}

/// `in_table(TABLE)`, `table_WHAT(TABLE)`: the input is a key of TABLE (resolved with the
/// backends, [`resolve`]).
fn parse_table(name: &str, after: &str, op: super::stick::Op) -> Result<(Conv, usize), String> {
    let (args, used) = make_arg_list(after, 1, &[At::Tab])
        .map_err(|(pos, e)| format!("invalid arg {} in converter '{name}' : {e}", pos + 1))?;
    let (conv, _) = parse_table_named(name, args.first().map_or("", Arg::str), op)?;
    Ok((conv, used))
}

/// `table_expire(T[,DEFAULT])`, `table_idle(T[,DEFAULT])`.
fn parse_table_timer(name: &str, after: &str) -> Result<(Conv, usize), String> {
    let (args, used) = make_arg_list(after, 1, &[At::Tab, At::Sint])
        .map_err(|(pos, e)| format!("invalid arg {} in converter '{name}' : {e}", pos + 1))?;
    let default = args.get(1).map(Arg::int);
    let op = if name == "table_expire" {
        super::stick::Op::Expire(default)
    } else {
        super::stick::Op::Idle(default)
    };
    let (conv, _) = parse_table_named(name, args.first().map_or("", Arg::str), op)?;
    Ok((conv, used))
}

/// The converter reading `op` of the entry keyed by the input in `table`.
fn parse_table_named(
    name: &str,
    table: &str,
    op: super::stick::Op,
) -> Result<(Conv, usize), String> {
    let used = 0;
    if table.is_empty() {
        return Err(format!(
            "invalid arg 1 in converter '{name}' : corelb needs the table named"
        ));
    }
    let f = super::stick::StickFetch {
        target: super::stick::Target::Key(super::stick::TableName {
            name: table.into(),
            index: None,
        }),
        op,
    };
    let output = if op == super::stick::Op::InTable {
        T::Bool
    } else {
        T::Sint
    };
    Ok((
        Conv::Typed(Box::new(Typed {
            name: name.into(),
            op: Op::Table(f),
            input: T::Any,
            output,
        })),
        used,
    ))
}

/// Resolves the tables the stick converters name (names carry the stick prefix, as the
/// fetches' do).
pub(crate) fn resolve(
    convs: &mut [Conv],
    lookup: &dyn Fn(&str) -> Option<usize>,
) -> Result<(), String> {
    for c in convs {
        if let Conv::Typed(t) = c
            && let Op::Table(f) = &mut t.op
        {
            f.resolve(lookup)?;
        }
    }
    Ok(())
}

/// `map_<match>[_<output>](FILE[,DEFAULT])`.
fn parse_map(name: &str, after: &str) -> Result<(Conv, usize), String> {
    let (args, used) = make_arg_list(after, 1, &[At::Str, At::Str])
        .map_err(|(pos, e)| format!("invalid arg {} in converter '{name}' : {e}", pos + 1))?;
    let parts: Vec<&str> = name.split('_').collect();
    let (match_name, out) = match parts.as_slice() {
        [_, m, o] if matches!(*o, "str" | "int" | "ip") => (format!("map_{m}"), *o),
        _ => (name.to_string(), "str"),
    };
    let how = match_name.strip_prefix("map_").unwrap_or("str");
    let input = match how {
        "int" => T::Sint,
        "ip" => T::Addr,
        _ => T::Str,
    };
    let output = match out {
        "int" => T::Sint,
        "ip" => T::Addr,
        _ => T::Str,
    };
    if let (Some(Arg::Str(d)), T::Sint) = (args.get(1), output)
        && d.parse::<i64>().is_err()
    {
        return Err(format!(
            "converter '{name}': default value '{d}' is not an integer"
        ));
    }
    if output != T::Str
        && let Some(Arg::Str(file)) = args.first()
        && let Ok(data) = std::fs::read(file)
    {
        // HAProxy parses each value as the output type when it loads the map.
        for (n, line) in data.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line).trim_ascii();
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let key_end = line
                .iter()
                .position(|c| c.is_ascii_whitespace())
                .unwrap_or(line.len());
            let v = line[key_end..].trim_ascii();
            let ok = match output {
                T::Sint => {
                    let d = v
                        .strip_prefix(b"-")
                        .or_else(|| v.strip_prefix(b"+"))
                        .unwrap_or(v);
                    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
                }
                _ => Value::Str(v).to_ip().is_some(),
            };
            if !ok {
                return Err(format!(
                    "invalid args in converter '{name}' : unable to parse '{}' at line {} of file '{file}'",
                    String::from_utf8_lossy(v),
                    n + 1
                ));
            }
        }
    }
    let strs: Vec<&str> = args.iter().map(Arg::str).collect();
    let m = MapConv::parse(&match_name, Some(&strs)).map_err(|e| e.replace(&match_name, name))?;
    Ok((
        Conv::Typed(Box::new(Typed {
            name: name.into(),
            op: Op::Map(m),
            input,
            output,
        })),
        used,
    ))
}

/// Runs the converters on one fetched value; `None` when a stage finds nothing.
pub(crate) fn run(convs: &[Conv], v: Value<'_>, fetch_bin: bool, s: &dyn Sample) -> Option<Smp> {
    let mut cur = Smp::from_value(v, fetch_bin);
    for c in convs {
        cur = cur.cast(c.input())?;
        cur = match c {
            Conv::Lower => match cur {
                Smp::Str(mut b) => {
                    b.make_ascii_lowercase();
                    Smp::Str(b)
                }
                o => o,
            },
            Conv::Upper => match cur {
                Smp::Str(mut b) => {
                    b.make_ascii_uppercase();
                    Smp::Str(b)
                }
                o => o,
            },
            Conv::Typed(t) => apply(t, cur, s)?,
        };
    }
    Some(cur)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn b64dec(s: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// One converter on a value already cast to its input type.
fn apply(t: &Typed, cur: Smp, s: &dyn Sample) -> Option<Smp> {
    use base64::Engine as _;
    Some(match &t.op {
        Op::Hex => {
            let b = cur.bytes();
            let mut out = Vec::with_capacity(b.len() * 2);
            for &x in b {
                out.extend([HEX[usize::from(x >> 4)], HEX[usize::from(x & 15)]]);
            }
            Smp::Str(out)
        }
        Op::Base64 => Smp::Str(
            base64::engine::general_purpose::STANDARD
                .encode(cur.bytes())
                .into_bytes(),
        ),
        Op::Ub64Enc => Smp::Str(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(cur.bytes())
                .into_bytes(),
        ),
        Op::B64Dec => Smp::Bin(b64dec(cur.bytes())?),
        Op::Ub64Dec => {
            let b = cur.bytes();
            let b = b
                .strip_suffix(b"==")
                .or_else(|| b.strip_suffix(b"="))
                .unwrap_or(b);
            Smp::Bin(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .ok()?,
            )
        }
        Op::Map(m) => {
            let found = m.lookup(cur.value())?;
            match t.output {
                T::Sint => Smp::Int(read_int64(&found)),
                T::Addr => Smp::from_value(Value::Str(&found).to_ip().map(Value::Ip)?, false),
                _ => Smp::Str(found),
            }
        }
        Op::Length => Smp::Int(cur.bytes().len() as i64),
        Op::Capture { response, id } => {
            // As HAProxy's smp_conv_req_capture: without a stream, or a slot `id` in the
            // frontend, it fails. The transaction takes the value (cut to the slot's
            // length) after its rules.
            let st = s.strm()?;
            let slots = st.px.proxy(st.fe)?.captures[usize::from(*response)];
            let id = usize::try_from(*id).ok().filter(|i| *i < slots)?;
            s.vars().txn?.set_capture(*response, id, cur.bytes());
            cur
        }
        Op::Field { idx, delims, count } => {
            let b = cur.bytes();
            let (start, end) = field(b, *idx, delims, *count)?;
            Smp::Str(b[start..end].to_vec())
        }
        Op::Word { idx, delims, count } => {
            let b = cur.bytes();
            let (start, end) = word(b, *idx, delims, *count);
            Smp::Str(b[start..end].to_vec())
        }
        Op::Regsub { re, subst, global } => Smp::Str(regsub(&re.0, subst, *global, cur.bytes())),
        Op::UrlDec(form) => Smp::Str(url_decode(cur.bytes(), *form)?),
        Op::UrlEnc => {
            let mut out = Vec::new();
            for &c in cur.bytes() {
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(c);
                } else {
                    out.extend([b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
                }
            }
            Smp::Str(out)
        }
        Op::Json(mode) => Smp::Str(json_escape(cur.bytes(), *mode)?),
        Op::Bytes(off, len) => {
            let b = cur.into_bytes();
            let off = (*off).max(0) as usize;
            if b.len() <= off {
                return Some(Smp::Bin(Vec::new()));
            }
            let mut r = b[off..].to_vec();
            if let Some(l) = len
                && (*l as usize) < r.len()
                && *l >= 0
            {
                r.truncate(*l as usize);
            }
            Smp::Bin(r)
        }
        Op::Ltrim(d) => {
            let b = cur.bytes();
            let i = b.iter().position(|c| !d.contains(c)).unwrap_or(b.len());
            Smp::Str(b[i..].to_vec())
        }
        Op::Rtrim(d) => {
            let b = cur.bytes();
            let i = b.iter().rposition(|c| !d.contains(c)).map_or(0, |i| i + 1);
            Smp::Str(b[..i].to_vec())
        }
        Op::CutCrlf => {
            let b = cur.bytes();
            let i = b
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(b.len());
            Smp::Str(b[..i].to_vec())
        }
        Op::Hex2i => {
            let mut n: i64 = 0;
            for &c in cur.bytes() {
                let d = (c as char).to_digit(16)?;
                n = (n << 4).wrapping_add(i64::from(d));
            }
            Smp::Int(n)
        }
        Op::Htonl => Smp::Bin((cur.int() as u32).to_be_bytes().to_vec()),
        Op::Ipmask(m4, m6) => {
            let cur = match cur {
                Smp::V6(a) => v6tov4(&a).map_or(Smp::V6(a), Smp::V4),
                o => o,
            };
            match cur {
                Smp::V4(a) => Smp::V4(Ipv4Addr::from(u32::from(a) & u32::from(*m4))),
                Smp::V6(a) => Smp::V6(Ipv6Addr::from(u128::from(a) & u128::from((*m6)?))),
                o => o,
            }
        }
        Op::Arith(op, arg) => {
            let x = cur.int();
            let y = match arg {
                IntOrVar::Int(i) => *i,
                IntOrVar::Var(v) => var_smp(s, v, T::Sint)?.int(),
            };
            Smp::Int(arith(*op, x, y))
        }
        Op::Neg => Smp::Int(cur.int().wrapping_neg()),
        Op::Cpl => Smp::Int(!cur.int()),
        Op::Bool => Smp::Bool(cur.int() != 0),
        Op::Not => Smp::Bool(cur.int() == 0),
        Op::Odd => Smp::Bool(cur.int() & 1 == 1),
        Op::Even => Smp::Bool(cur.int() & 1 == 0),
        Op::Iif(a, b) => Smp::Str(if cur.int() != 0 {
            a.to_vec()
        } else {
            b.to_vec()
        }),
        Op::Concat(pre, var, suf) => {
            let mut out = cur.into_bytes();
            out.extend_from_slice(pre);
            if let Some(x) = var.as_ref().and_then(|v| var_smp(s, v, T::Str)) {
                out.extend_from_slice(x.bytes());
            }
            out.extend_from_slice(suf);
            Smp::Str(out)
        }
        Op::AddItem(delim, var, suf) => {
            let mut out = cur.into_bytes();
            let x = var.as_ref().and_then(|v| var_smp(s, v, T::Str));
            if !out.is_empty()
                && (x.as_ref().is_some_and(|x| !x.bytes().is_empty()) || !suf.is_empty())
            {
                out.extend_from_slice(delim);
            }
            if let Some(x) = x {
                out.extend_from_slice(x.bytes());
            }
            out.extend_from_slice(suf);
            Smp::Str(out)
        }
        Op::Strcmp(v) => {
            let other = var_smp(s, v, T::Str)?;
            let (a, b) = (cur.bytes(), other.bytes());
            let max = a.len().min(b.len());
            // strncmp stops at a NUL.
            let mut r = 0i64;
            for i in 0..max {
                if a[i] != b[i] {
                    r = i64::from(a[i]) - i64::from(b[i]);
                    break;
                }
                if a[i] == 0 {
                    break;
                }
            }
            if r == 0 && a.len() != b.len() {
                r = if a.len() < b.len() { -1 } else { 1 };
            }
            Smp::Int(r)
        }
        Op::SecureMemcmp(v) => {
            let other = var_smp(s, v, T::Bin)?;
            let (a, b) = (cur.bytes(), other.bytes());
            if a.len() != b.len() {
                Smp::Bool(false)
            } else {
                use subtle::ConstantTimeEq as _;
                Smp::Bool(bool::from(a.ct_eq(b)))
            }
        }
        Op::Hash(k, avalanche) => {
            let h = hash(*k, cur.bytes());
            Smp::Int(match k {
                // (HAProxy's 64-bit hashes are signed integers.)
                HashKind::Xxh64(_) | HashKind::Xxh3(_) => h as i64,
                _ => i64::from(if *avalanche {
                    super::hash::full_hash(h as u32)
                } else {
                    h as u32
                }),
            })
        }
        Op::Sha1 => Smp::Bin(Digest::Sha1.digest(cur.bytes())),
        Op::Sha2(bits) => Smp::Bin(
            match bits {
                224 => Digest::Sha224,
                384 => Digest::Sha384,
                512 => Digest::Sha512,
                _ => Digest::Sha256,
            }
            .digest(cur.bytes()),
        ),
        Op::Digest(d) => Smp::Bin(d.digest(cur.bytes())),
        Op::Hmac(d, key) => {
            let k = match key {
                HmacKey::Bytes(b) => b.to_vec(),
                HmacKey::Var(v) => b64dec(var_smp(s, v, T::Str)?.bytes())?,
            };
            Smp::Bin(d.hmac(&k, cur.bytes()))
        }
        Op::Time { utc, fmt, offset } => {
            let t = (cur.int() & 0x007f_ffff_ffff_ffff).wrapping_add(*offset);
            Smp::Str(strftime(t, fmt, *utc))
        }
        Op::HttpDate { offset, unit } => {
            let mut v = cur.int().wrapping_add(*offset);
            let frac = match unit {
                1 => {
                    let f = v % 1000;
                    v /= 1000;
                    Some(f)
                }
                2 => {
                    let f = v % 1_000_000;
                    v /= 1_000_000;
                    Some(f)
                }
                _ => None,
            };
            Smp::Str(http_date(v & 0x007f_ffff_ffff_ffff, frac))
        }
        Op::Language(list, default) => match language(cur.bytes(), list) {
            Some(l) => Smp::Str(l),
            None => match default {
                Some(d) if !d.is_empty() => Smp::Str(d.to_vec()),
                _ => return None,
            },
        },
        Op::Be2Dec {
            sep,
            chunk,
            truncate,
        } => {
            let b = cur.bytes();
            let chunk = *chunk as usize;
            let last = if *truncate {
                b.len() - b.len() % chunk
            } else {
                b.len()
            };
            let mut out = Vec::new();
            let mut i = 0;
            while i < last {
                let end = (i + chunk).min(last);
                let mut n: u64 = 0;
                for &x in &b[i..end] {
                    n = (n << 8) | u64::from(x);
                }
                if i > 0 {
                    out.extend_from_slice(sep);
                }
                out.extend_from_slice(n.to_string().as_bytes());
                i = end;
            }
            Smp::Str(out)
        }
        Op::Be2Hex {
            sep,
            chunk,
            truncate,
        } => {
            let b = cur.bytes();
            let chunk = *chunk as usize;
            let last = if *truncate {
                b.len() - b.len() % chunk
            } else {
                b.len()
            };
            let mut out = Vec::new();
            for (k, c) in b[..last].chunks(chunk).enumerate() {
                if k > 0 {
                    out.extend_from_slice(sep);
                }
                for &x in c {
                    out.extend([HEX[usize::from(x >> 4)], HEX[usize::from(x & 15)]]);
                }
            }
            Smp::Str(out)
        }
        Op::JsonQuery { path, int } => json_query(cur.bytes(), path, *int)?,
        Op::JwtQuery { payload, query } => {
            let part = cur
                .bytes()
                .split(|&c| c == b'.')
                .nth(usize::from(*payload))?;
            let dec = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()?;
            match query {
                // HAProxy 2.6 decodes the part but then reports no value (its
                // `sample_conv_jwt_member_query` returns 0 on that path): the same here.
                None => {
                    let _ = dec;
                    return None;
                }
                Some((path, int)) => json_query(&dec, path, *int)?,
            }
        }
        Op::AesGcmDec {
            bits,
            nonce,
            key,
            tag,
        } => {
            use aws_lc_rs::aead;
            let get = |k: &HmacKey| -> Option<Vec<u8>> {
                match k {
                    HmacKey::Bytes(b) => Some(b.to_vec()),
                    HmacKey::Var(v) => b64dec(var_smp(s, v, T::Str)?.bytes()),
                }
            };
            let (nonce, key, tag) = (get(nonce)?, get(key)?, get(tag)?);
            let alg = match bits {
                128 => &aead::AES_128_GCM,
                192 => &aead::AES_192_GCM,
                _ => &aead::AES_256_GCM,
            };
            let key = aead::LessSafeKey::new(aead::UnboundKey::new(alg, &key).ok()?);
            let nonce = aead::Nonce::try_assume_unique_for_key(&nonce).ok()?;
            let mut buf = cur.into_bytes();
            buf.extend_from_slice(&tag);
            let plain = key
                .open_in_place(nonce, aead::Aad::empty(), &mut buf)
                .ok()?
                .len();
            buf.truncate(plain);
            Smp::Bin(buf)
        }
        Op::Table(f) => Smp::from_value(s.stick()?.fetch_key(f, cur.value())?, false),
        Op::SetVar(v, c) => {
            let stored = match &cur {
                Smp::Bool(b) => Stored::Bool(*b),
                Smp::Int(i) => Stored::Int(*i),
                Smp::V4(a) => Stored::Ip(IpAddr::V4(*a)),
                Smp::V6(a) => Stored::Ip(IpAddr::V6(*a)),
                Smp::Str(b) | Smp::Bin(b) => Stored::Str(b.as_slice().into()),
            };
            s.vars().set(v, stored, *c);
            cur
        }
        Op::UnsetVar(v) => {
            s.vars().unset(v);
            cur
        }
        Op::Debug => {
            log::debug!("[debug converter] {:?}", cur);
            cur
        }
    })
}

/// HAProxy's `sample_check_arg_base64`: empty stays empty, a variable name is read at run
/// time (its content base64), anything else is base64 decoded now.
fn b64_arg(a: &str) -> Result<HmacKey, String> {
    if a.is_empty() {
        return Ok(HmacKey::Bytes(Box::default()));
    }
    if let Some(v) = var_of(a) {
        return Ok(HmacKey::Var(v));
    }
    let bad = || {
        "argument needs to be base64 encoded, and can either be a string or a variable".to_string()
    };
    if !a.len().is_multiple_of(4) {
        return Err(bad());
    }
    b64dec(a.as_bytes())
        .map(|b| HmacKey::Bytes(b.into()))
        .ok_or_else(bad)
}

/// HAProxy's `json_query` (mjson's `$.a.b[2]` paths): numbers as `%g` text or, with `int`,
/// integers within ±(2^53-1); booleans; strings unescaped; null, arrays and objects nothing.
fn json_query(doc: &[u8], path: &str, int: bool) -> Option<Smp> {
    let doc: serde_json::Value = serde_json::from_slice(doc).ok()?;
    let mut v = &doc;
    let mut p = path.strip_prefix('$')?;
    while !p.is_empty() {
        if let Some(r) = p.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            v = v.get(&r[..end])?;
            p = &r[end..];
        } else if let Some(r) = p.strip_prefix('[') {
            let end = r.find(']')?;
            let i: usize = r[..end].trim().parse().ok()?;
            v = v.get(i)?;
            p = &r[end + 1..];
        } else {
            return None;
        }
    }
    const MAX: i64 = (1 << 53) - 1;
    match v {
        serde_json::Value::Number(n) if int => {
            let i = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?;
            (-MAX..=MAX).contains(&i).then_some(Smp::Int(i))
        }
        serde_json::Value::Number(n) => Some(Smp::Str(fmt_g(n.as_f64()?).into_bytes())),
        serde_json::Value::Bool(b) => Some(Smp::Bool(*b)),
        serde_json::Value::String(s) => Some(Smp::Str(s.clone().into_bytes())),
        _ => None,
    }
}

/// C's `%g`: six significant digits, trailing zeros removed, exponent form outside 1e-4..1e6.
fn fmt_g(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{v:.5e}");
    let (mant, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mant), exp.abs())
    } else {
        strip(&format!("{:.*}", (5 - exp) as usize, v))
    }
}

/// HAProxy's `sample_conv_field`: the field's bounds, `None` when there are fewer fields.
fn field(b: &[u8], idx: i64, delims: &[u8], mut count: i64) -> Option<(usize, usize)> {
    let is_d = |c: u8| delims.contains(&c);
    if idx < 0 {
        let mut f = -1i64;
        let (mut start, mut end) = (b.len(), b.len());
        while start > 0 {
            if is_d(b[start - 1]) {
                if f == idx {
                    if count == 1 {
                        return Some((start, end));
                    } else if count > 1 {
                        count -= 1;
                    }
                } else {
                    end = start - 1;
                    f -= 1;
                }
            }
            start -= 1;
        }
        (f == idx).then_some((start, end))
    } else {
        let mut f = 1i64;
        let (mut start, mut end) = (0, 0);
        while end < b.len() {
            if is_d(b[end]) {
                if f == idx {
                    if count == 1 {
                        return Some((start, end));
                    } else if count > 1 {
                        count -= 1;
                    }
                } else {
                    start = end + 1;
                    f += 1;
                }
            }
            end += 1;
        }
        (f == idx).then_some((start, end))
    }
}

/// HAProxy's `sample_conv_word`: the word's bounds (empty when there are fewer words).
fn word(b: &[u8], idx: i64, delims: &[u8], mut count: i64) -> (usize, usize) {
    let is_d = |c: u8| delims.contains(&c);
    let mut w = 0i64;
    let mut inword = false;
    if idx < 0 {
        let (mut start, mut end) = (b.len(), b.len());
        while start > 0 {
            let sep = is_d(b[start - 1]);
            if !inword {
                if !sep {
                    if w != idx {
                        w -= 1;
                        end = start;
                    }
                    inword = true;
                }
            } else if sep {
                if w == idx {
                    if count == 1 {
                        return (start, end);
                    } else if count > 1 {
                        count -= 1;
                    }
                }
                inword = false;
            }
            start -= 1;
        }
        if w != idx { (0, 0) } else { (start, end) }
    } else {
        let (mut start, mut end) = (0, 0);
        while end < b.len() {
            let sep = is_d(b[end]);
            if !inword {
                if !sep {
                    if w != idx {
                        w += 1;
                        start = end;
                    }
                    inword = true;
                }
            } else if sep {
                if w == idx {
                    if count == 1 {
                        return (start, end);
                    } else if count > 1 {
                        count -= 1;
                    }
                }
                inword = false;
            }
            end += 1;
        }
        if w != idx { (0, 0) } else { (start, end) }
    }
}

/// HAProxy's `sample_conv_regsub`.
fn regsub(re: &regex::bytes::Regex, subst: &[u8], global: bool, b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut start = 0;
    let mut first = true;
    loop {
        let caps = if global || first {
            re.captures_at(b, start)
        } else {
            None
        };
        let Some(caps) = caps else {
            out.extend_from_slice(&b[start..]);
            break;
        };
        let m = caps.get(0).expect("group 0");
        out.extend_from_slice(&b[start..m.start()]);
        out.extend_from_slice(&super::map::exp_replace(subst, &caps));
        if m.end() >= b.len() {
            break;
        }
        let mut next = m.end();
        if m.start() == m.end() {
            // An empty match: the character in front of which it matched is copied.
            out.push(b[next]);
            next += 1;
        }
        start = next;
        first = false;
    }
    out
}

/// HAProxy's `url_decode` (stops at a NUL; `?` switches to form mode).
fn url_decode(b: &[u8], mut form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() && b[i] != 0 {
        match b[i] {
            b'+' => out.push(if form { b' ' } else { b'+' }),
            b'%' => {
                let h = |k: usize| b.get(k).and_then(|c| (*c as char).to_digit(16));
                let (Some(x), Some(y)) = (h(i + 1), h(i + 2)) else {
                    return None;
                };
                out.push((x * 16 + y) as u8);
                i += 2;
            }
            b'?' => {
                form = true;
                out.push(b'?');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// HAProxy's `sample_conv_json`. `mode`: 0 ascii, 1 utf8, 2 utf8s, 3 utf8p, 4 utf8ps.
fn json_escape(b: &[u8], mode: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c: u32;
        if mode == 0 {
            c = u32::from(b[i]);
            i += 1;
        } else {
            let (ch, len, ok, bad_range) = utf8_next(&b[i..]);
            i += len;
            match mode {
                1 if !ok => return None,
                2 if !ok => continue,
                3 if bad_range => return None,
                4 if bad_range => continue,
                _ => {}
            }
            if ch > 0xffff {
                if mode == 1 || mode == 3 {
                    return None;
                }
                continue;
            }
            c = ch;
        }
        match c {
            0x22 => out.extend_from_slice(b"\\\""),
            0x5c => out.extend_from_slice(b"\\\\"),
            0x2f => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x09 => out.extend_from_slice(b"\\t"),
            c if c > 0xff || !(0x20..0x7f).contains(&c) => {
                out.extend_from_slice(format!("\\u{:04x}", c as u16).as_bytes());
            }
            c => out.push(c as u8),
        }
    }
    Some(out)
}

/// A UTF-8 sequence at the start of `b`: its code point, length, whether it is valid, and
/// whether it is a bad sequence or out of range (HAProxy's `utf8_next` codes, simplified).
fn utf8_next(b: &[u8]) -> (u32, usize, bool, bool) {
    let c = b[0];
    let (len, init) = match c {
        0x00..=0x7f => return (u32::from(c), 1, true, false),
        0xc0..=0xdf => (2, u32::from(c & 0x1f)),
        0xe0..=0xef => (3, u32::from(c & 0x0f)),
        0xf0..=0xf7 => (4, u32::from(c & 0x07)),
        _ => return (u32::from(c), 1, false, true),
    };
    let mut cp = init;
    for k in 1..len {
        match b.get(k) {
            Some(&x) if x & 0xc0 == 0x80 => cp = (cp << 6) | u32::from(x & 0x3f),
            _ => return (u32::from(c), k, false, true),
        }
    }
    let min = [0, 0, 0x80, 0x800, 0x10000][len];
    let overlong = cp < min;
    let bad = cp > 0x10ffff || (0xd800..=0xdfff).contains(&cp);
    (cp, len, !(overlong || bad), bad)
}

/// `add`, `sub`, `mul`, `div`, `mod`, `and`, `or`, `xor` with HAProxy's saturation.
fn arith(op: char, x: i64, y: i64) -> i64 {
    match op {
        '+' => x.saturating_add(y),
        '-' => {
            if y == i64::MIN {
                let r = x.saturating_add(i64::MAX);
                if r < i64::MAX { r + 1 } else { r }
            } else {
                x.saturating_add(-y)
            }
        }
        '*' => {
            if x == 0 || y == 0 {
                0
            } else if x == i64::MIN && y == -1 {
                i64::MAX
            } else {
                x.checked_mul(y).unwrap_or(if (x < 0) == (y < 0) {
                    i64::MAX
                } else {
                    i64::MIN
                })
            }
        }
        '/' => {
            if y == 0 || (x == i64::MIN && y == -1) {
                i64::MAX
            } else {
                x / y
            }
        }
        '%' => {
            if y == 0 || (x == i64::MIN && y == -1) {
                0
            } else {
                x % y
            }
        }
        '&' => x & y,
        '|' => x | y,
        _ => x ^ y,
    }
}

fn hash(k: HashKind, b: &[u8]) -> u64 {
    use super::hash as h;
    match k {
        HashKind::Crc32 => u64::from(h::crc32(b)),
        HashKind::Crc32c => u64::from(h::crc32c(b)),
        HashKind::Djb2 => u64::from(h::djb2(b)),
        HashKind::Sdbm => u64::from(h::sdbm(b)),
        HashKind::Wt6 => u64::from(h::wt6(b)),
        HashKind::Xxh32(seed) => u64::from(h::xxh32(b, seed)),
        HashKind::Xxh64(seed) => h::xxh64(b, seed),
        HashKind::Xxh3(seed) => xxhash_rust::xxh3::xxh3_64_with_seed(b, seed),
    }
}

/// `strftime` of `t` (seconds since the epoch), local time or UTC.
fn strftime(t: i64, fmt: &std::ffi::CStr, utc: bool) -> Vec<u8> {
    let tm = if utc {
        crate::sys::gmtime(t)
    } else {
        crate::sys::localtime(t)
    };
    crate::sys::strftime(fmt, &tm)
}

/// HAProxy's `http_date`: `Tue, 15 Nov 1994 08:12:31 GMT` (with `.FRAC` in ms/us).
fn http_date(t: i64, frac: Option<i64>) -> Vec<u8> {
    const DAY: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = crate::sys::gmtime(t);
    let mut s = format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02}",
        DAY[tm.tm_wday as usize % 7],
        tm.tm_mday,
        MON[tm.tm_mon as usize % 12],
        1900 + tm.tm_year,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    if let Some(f) = frac {
        s.push_str(&format!(".{f}"));
    }
    s.push_str(" GMT");
    s.into_bytes()
}

/// HAProxy's `http_language_range_match`: a range matches a tag or its prefix before `-`;
/// `*` matches everything.
fn lang_match(range: &[u8], tag: &[u8]) -> bool {
    if range == b"*" {
        return true;
    }
    let mut i = 0;
    while i < range.len() && i < tag.len() {
        if !range[i].eq_ignore_ascii_case(&tag[i]) {
            return false;
        }
        i += 1;
    }
    if i == range.len() {
        // The range is consumed: the tag must be consumed too, or continue with '-'.
        i == tag.len() || tag[i] == b'-'
    } else {
        false
    }
}

/// HAProxy's `http_parse_qvalue`: `1`, `1.000`, `0.xyz` as thousandths.
fn qvalue(b: &[u8]) -> i64 {
    let mut q: i64 = match b.first() {
        Some(b'1') => 1000,
        Some(b'0') => 0,
        _ => return 1000,
    };
    if b.get(1) != Some(&b'.') {
        return q;
    }
    if q == 1000 {
        return 1000;
    }
    let mut mul = 100;
    for &c in b.iter().skip(2).take(3) {
        if !c.is_ascii_digit() {
            break;
        }
        q += i64::from(c - b'0') * mul;
        mul /= 10;
    }
    q
}

/// HAProxy's `sample_conv_q_preferred` (`language`): the configured language the header
/// prefers most.
fn language(al: &[u8], list: &[u8]) -> Option<Vec<u8>> {
    let mut best: Option<&[u8]> = None;
    let mut best_q = 0;
    for part in al.split(|&c| c == b',') {
        let part = part.trim_ascii();
        let tok_end = part
            .iter()
            .position(|&c| c == b';' || c.is_ascii_whitespace())
            .unwrap_or(part.len());
        let token = &part[..tok_end];
        if token.is_empty() {
            continue;
        }
        let Some(w) = list.split(|&c| c == b';').find(|w| lang_match(token, w)) else {
            continue;
        };
        let mut q = 1000;
        let rest = part[tok_end..].trim_ascii_start();
        if let Some(r) = rest.strip_prefix(b";") {
            let r = r.trim_ascii_start();
            if let Some(r) = r.strip_prefix(b"q") {
                let r = r.trim_ascii_start();
                if let Some(r) = r.strip_prefix(b"=") {
                    q = qvalue(r.trim_ascii_start());
                }
            }
        }
        if q > best_q {
            best = Some(w);
            if q >= 1000 {
                break;
            }
            best_q = q;
        }
    }
    best.filter(|b| !b.is_empty()).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    // No connection, no request (what the global section's `set-var` sees too).
    use super::super::Startup as NoReq;

    /// Runs `convs` on a string, renders the result as log-format does.
    fn conv(input: &str, convs: &str) -> Option<String> {
        conv_v(Value::Str(input.as_bytes()), SmpType::Str, convs)
    }

    fn conv_v(v: Value<'_>, t: SmpType, convs: &str) -> Option<String> {
        let c = parse_convs("str", convs, t).unwrap();
        let out = run(&c, v, t == SmpType::Bin, &NoReq)?;
        let mut o = Vec::new();
        out.value().append_to(&mut o);
        Some(String::from_utf8_lossy(&o).into_owned())
    }

    fn err(convs: &str) -> String {
        parse_convs("str", convs, SmpType::Str).unwrap_err()
    }

    #[test]
    fn field_and_word() {
        assert_eq!(conv("a:b:c", ",field(2,:)").as_deref(), Some("b"));
        assert_eq!(conv("a:b:c", ",field(-1,:)").as_deref(), Some("c"));
        assert_eq!(conv("a:b:c", ",field(2,:,0)").as_deref(), Some("b:c"));
        assert_eq!(conv("a:b:c", ",field(2,:,2)").as_deref(), Some("b:c"));
        assert_eq!(conv("a:b:c", ",field(4,:)"), None);
        assert_eq!(conv("host:80", ",field(1,:)").as_deref(), Some("host"));
        assert_eq!(conv("/a//b/c", ",word(2,/)").as_deref(), Some("b"));
        assert_eq!(conv("/a//b/c", ",word(-1,/)").as_deref(), Some("c"));
        assert_eq!(conv("/a//b/c", ",word(5,/)").as_deref(), Some(""));
        assert_eq!(conv("/a//b/c", ",word(2,/,0)").as_deref(), Some("b/c"));
        assert!(err(",field(0,:)").contains("Unexpected value 0 for index"));
        assert!(err(",field(1,)").contains("Empty separators list"));
        assert_eq!(
            err(",field"),
            "invalid arg 1 in converter 'field' : expected type 'integer' at position 1, but got nothing"
        );
        assert_eq!(
            err(",field(1)"),
            "invalid arg 2 in converter 'field' : missing arguments (got 1/2), type 'string' expected"
        );
        assert_eq!(
            err(",field(x,:)"),
            "invalid arg 1 in converter 'field' : failed to parse 'x' as type 'integer' at position 1"
        );
    }

    #[test]
    fn regsub_like_haproxy() {
        assert_eq!(conv("a.b.c", r",regsub(\.,_)").as_deref(), Some("a_b.c"));
        assert_eq!(conv("a.b.c", r",regsub(\.,_,g)").as_deref(), Some("a_b_c"));
        assert_eq!(conv("AbA", ",regsub(a,x,ig)").as_deref(), Some("xbx"));
        assert_eq!(conv("abc", ",regsub(x*,-,g)").as_deref(), Some("-a-b-c-"));
        assert_eq!(
            conv("a b", r",regsub('(a) (b)','\2 \1')").as_deref(),
            Some("b a")
        );
        assert!(err(",regsub(a,b,q)").contains("invalid regex flag 'q'"));
    }

    #[test]
    fn arithmetic_and_bools() {
        let i = |v: i64, c: &str| conv_v(Value::Int(v), SmpType::Int, c);
        assert_eq!(i(5, ",add(3)").as_deref(), Some("8"));
        assert_eq!(i(5, ",sub(7)").as_deref(), Some("-2"));
        assert_eq!(i(5, ",mul(-3)").as_deref(), Some("-15"));
        assert_eq!(i(7, ",div(2)").as_deref(), Some("3"));
        assert_eq!(i(7, ",div(0)").as_deref(), Some(&*i64::MAX.to_string()));
        assert_eq!(i(7, ",mod(0)").as_deref(), Some("0"));
        assert_eq!(
            i(i64::MAX, ",add(1)").as_deref(),
            Some(&*i64::MAX.to_string())
        );
        assert_eq!(i(6, ",and(3),or(8),xor(1)").as_deref(), Some("11"));
        assert_eq!(i(5, ",neg").as_deref(), Some("-5"));
        assert_eq!(i(0, ",cpl").as_deref(), Some("-1"));
        assert_eq!(i(3, ",bool").as_deref(), Some("1"));
        assert_eq!(i(3, ",not").as_deref(), Some("0"));
        assert_eq!(i(3, ",odd").as_deref(), Some("1"));
        assert_eq!(i(3, ",even,iif(y,n)").as_deref(), Some("n"));
        assert_eq!(conv("12abc", ",add(1)").as_deref(), Some("13"));
        assert_eq!(conv("", ",add(1)"), None);
        assert!(err(",add(x)").contains("expects an integer or a variable name"));
    }

    #[test]
    fn encodings() {
        assert_eq!(conv("hi", ",hex").as_deref(), Some("6869"));
        assert_eq!(conv("6869", ",hex2i").as_deref(), Some("26729"));
        assert_eq!(conv("zz", ",hex2i"), None);
        assert_eq!(conv("hello", ",base64").as_deref(), Some("aGVsbG8="));
        assert_eq!(conv("aGVsbG8=", ",b64dec").as_deref(), Some("hello"));
        assert_eq!(conv("\u{fb}\u{ff}", ",ub64enc").as_deref(), Some("w7vDvw"));
        assert_eq!(conv("w7vDvw", ",ub64dec").as_deref(), Some("\u{fb}\u{ff}"));
        assert_eq!(conv("a%20b+c", ",url_dec").as_deref(), Some("a b+c"));
        assert_eq!(conv("a%20b+c", ",url_dec(1)").as_deref(), Some("a b c"));
        assert_eq!(conv("a?b+c", ",url_dec").as_deref(), Some("a?b c"));
        assert_eq!(conv("%zz", ",url_dec"), None);
        assert_eq!(conv("a b/c~", ",url_enc").as_deref(), Some("a%20b%2Fc~"));
        assert_eq!(
            conv("a\"b/\n\u{1}", ",json").as_deref(),
            Some("a\\\"b\\/\\n\\u0001")
        );
        assert_eq!(conv("é", ",json(utf8)").as_deref(), Some("\\u00e9"));
        assert_eq!(conv("abc", ",length").as_deref(), Some("3"));
        assert_eq!(conv("abcdef", ",bytes(2,3)").as_deref(), Some("cde"));
        assert_eq!(conv("abcdef", ",bytes(9)").as_deref(), Some(""));
        assert_eq!(
            conv("  x  ", ",ltrim(' '),rtrim(' ')").as_deref(),
            Some("x")
        );
        assert_eq!(conv("ab\r\ncd", ",cut_crlf").as_deref(), Some("ab"));
        assert_eq!(
            conv_v(Value::Int(0x41424344), SmpType::Int, ",htonl").as_deref(),
            Some("ABCD")
        );
        assert_eq!(conv("AB", ",be2dec(-,1)").as_deref(), Some("65-66"));
        assert_eq!(conv("ABC", ",be2hex(:,2)").as_deref(), Some("4142:43"));
        assert_eq!(conv("ABC", ",be2hex(:,2,1)").as_deref(), Some("4142"));
    }

    #[test]
    fn hashes_and_digests() {
        assert_eq!(
            conv("abc", ",sha1,hex").as_deref(),
            Some("A9993E364706816ABA3E25717850C26C9CD0D89D")
        );
        assert_eq!(
            conv("abc", ",sha2,hex").as_deref(),
            Some("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")
        );
        assert_eq!(
            conv("abc", ",digest(md5),hex").as_deref(),
            Some("900150983CD24FB0D6963F7D28E17F72")
        );
        assert_eq!(
            conv("what do ya want for nothing?", ",hmac(md5,SmVmZQ==),hex").as_deref(),
            Some("750C783E6AB0B503EAA86E310A5DB738")
        );
        assert_eq!(
            conv("what do ya want for nothing?", ",hmac(sha256,SmVmZQ==),hex").as_deref(),
            Some("5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843")
        );
        assert_eq!(conv("abc", ",crc32").as_deref(), Some("891568578"));
        assert_eq!(
            conv("123456789", ",crc32c").as_deref(),
            Some(&*0xE3069283u32.to_string())
        );
        assert_eq!(conv("", ",djb2").as_deref(), Some("5381"));
        assert_eq!(
            conv("", ",xxh32").as_deref(),
            Some(&*0x02CC5D05u32.to_string())
        );
        assert_eq!(
            conv("", ",xxh64").as_deref(),
            Some(&*(0xEF46DB3751D8E999u64 as i64).to_string())
        );
        assert!(err(",sha2(100)").contains("Unsupported number of bits: '100'"));
        assert!(
            err(",digest(nope)").contains("algorithm must be a valid OpenSSL message digest name.")
        );
    }

    #[test]
    fn addresses_and_dates() {
        let ip = |a: &str, c: &str| conv_v(Value::Ip(a.parse().unwrap()), SmpType::Ip, c);
        assert_eq!(ip("10.1.2.3", ",ipmask(24)").as_deref(), Some("10.1.2.0"));
        assert_eq!(
            ip("10.1.2.3", ",ipmask(255.255.0.0)").as_deref(),
            Some("10.1.0.0")
        );
        assert_eq!(
            ip("2001:db8::1", ",ipmask(24,64)").as_deref(),
            Some("2001:db8::")
        );
        assert_eq!(ip("2001:db8::1", ",ipmask(24)"), None);
        assert_eq!(ip("10.1.2.3", ",hex").as_deref(), Some("0A010203"));
        assert_eq!(conv("10.1.2.3", ",ipmask(8)").as_deref(), Some("10.0.0.0"));
        let d = |v: i64, c: &str| conv_v(Value::Int(v), SmpType::Int, c);
        assert_eq!(
            d(784887151, ",http_date").as_deref(),
            Some("Tue, 15 Nov 1994 08:12:31 GMT")
        );
        assert_eq!(
            d(784887151500, ",http_date(0,ms)").as_deref(),
            Some("Tue, 15 Nov 1994 08:12:31.500 GMT")
        );
        assert_eq!(
            d(0, ",utime(%Y-%m-%d %H:%M:%S)").as_deref(),
            Some("1970-01-01 00:00:00")
        );
        assert_eq!(d(0, ",utime(%Y,3600)").as_deref(), Some("1970"));
        assert!(err(",http_date(0,h)").contains("Invalid unit"));
    }

    #[test]
    fn language_preference() {
        let l = |h: &str| conv(h, ",language(en;fr;de)");
        assert_eq!(l("fr-CH, fr;q=0.9, en;q=0.8").as_deref(), Some("fr"));
        assert_eq!(l("da, en-gb;q=0.8, en;q=0.7").as_deref(), Some("en"));
        assert_eq!(l("da"), None);
        assert_eq!(conv("da", ",language(en;fr,en)").as_deref(), Some("en"));
    }

    #[test]
    fn types_are_checked() {
        assert_eq!(
            parse_convs("ssl_fc", ",ipmask(24)", SmpType::Bool).unwrap_err(),
            "converter 'ipmask' cannot be applied"
        );
        assert!(parse_convs("str", ",ipmask(24)", SmpType::Str).is_ok());
        assert!(parse_convs("src", ",ipmask(24)", SmpType::Ip).is_ok());
        assert!(parse_convs("str", ",length,ipmask(24)", SmpType::Str).is_ok());
        assert_eq!(
            parse_convs("ssl_c_der", ",iif(a,b)", SmpType::Bin).unwrap_err(),
            "converter 'iif' cannot be applied"
        );
        assert!(err(",nope").starts_with("unknown converter 'nope'"));
        assert!(err(",ungrpc").contains("Protocol Buffers"));
        // HAProxy's wording: a converter without arguments expects ')' at once.
        assert_eq!(
            err(",hex(1)"),
            "invalid arg 1 in converter 'hex' : expected ')' before '1)'"
        );
        assert!(parse_convs("str", ",hex()", SmpType::Str).is_ok());
        assert_eq!(err(",lower x"), "missing comma after converter 'lower'");
        assert_eq!(
            err(",field(1,:,1,2)"),
            "invalid arg 3 in converter 'field' : expected ')' before ',2)'"
        );
    }

    #[test]
    fn json_and_jwt() {
        let j = r#"{"a":{"b":[1,2.5,"x\"y"],"t":true,"n":null,"big":12345678}}"#;
        assert_eq!(conv(j, ",json_query('$.a.b[0]')").as_deref(), Some("1"));
        assert_eq!(conv(j, ",json_query('$.a.b[1]')").as_deref(), Some("2.5"));
        assert_eq!(conv(j, ",json_query('$.a.b[2]')").as_deref(), Some("x\"y"));
        assert_eq!(conv(j, ",json_query('$.a.t')").as_deref(), Some("1"));
        assert_eq!(conv(j, ",json_query('$.a.n')"), None);
        assert_eq!(
            conv(j, ",json_query('$.a.big')").as_deref(),
            Some("1.23457e+07")
        );
        assert_eq!(
            conv(j, ",json_query('$.a.big',int)").as_deref(),
            Some("12345678")
        );
        assert!(err(",json_query('')").contains("json_path must not be empty"));
        assert!(err(",json_query($.a,str)").contains("output_type only supports"));
        // {"alg":"HS256"} . {"sub":"me","n":3} . sig
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZSIsIm4iOjN9.c2ln";
        assert_eq!(
            conv(jwt, ",jwt_header_query('$.alg')").as_deref(),
            Some("HS256")
        );
        assert_eq!(
            conv(jwt, ",jwt_payload_query('$.n',int),add(1)").as_deref(),
            Some("4")
        );
        // As HAProxy 2.6: no query, no value.
        assert_eq!(conv(jwt, ",jwt_header_query"), None);
        assert_eq!(fmt_g(0.0001), "0.0001");
        assert_eq!(fmt_g(0.00001), "1e-05");
        assert_eq!(fmt_g(123456.0), "123456");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
    }

    #[test]
    fn aes_gcm() {
        // Key 0^128, nonce 0^96, empty plaintext: tag 58e2fccefa7e3061367f1d57a4e7455a.
        use base64::Engine as _;
        let tag = base64::engine::general_purpose::STANDARD.encode([
            0x58, 0xe2, 0xfc, 0xce, 0xfa, 0x7e, 0x30, 0x61, 0x36, 0x7f, 0x1d, 0x57, 0xa4, 0xe7,
            0x45, 0x5a,
        ]);
        let c = format!(",aes_gcm_dec(128,AAAAAAAAAAAAAAAA,AAAAAAAAAAAAAAAAAAAAAA==,{tag}),length");
        assert_eq!(conv("", &c).as_deref(), Some("0"));
        let bad = ",aes_gcm_dec(128,AAAAAAAAAAAAAAAA,AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==),length";
        assert_eq!(conv("", bad), None);
        assert!(
            err(",aes_gcm_dec(100,a,b,c)").contains("key size must be 128, 192 or 256 (bits).")
        );
        assert!(
            err(",aes_gcm_dec(128,abc,b,c)")
                .contains("failed to parse nonce : argument needs to be base64 encoded")
        );
    }

    #[test]
    fn expression_end() {
        assert_eq!(expr_end("a,regsub([a-z],x)]x"), Some(17));
        assert_eq!(expr_end("a]"), Some(1));
        assert_eq!(expr_end("a,regsub('\\]',x)]"), Some(16));
    }
}
