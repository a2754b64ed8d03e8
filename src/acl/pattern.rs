//! Matching methods (`-m`) and their patterns: parsing (HAProxy's `pat_parse_*` and the
//! operator layer of `parse_acl_expr`) and matching (`pat_match_*`, src/pattern.c).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use memchr::memmem;

use super::sample::{SmpType, Value, v6tov4};

/// How an ACL compares fetched values with its patterns (`-m METHOD`, or the default of the
/// ACL keyword or of the fetch's type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchMethod {
    /// `found`: true when the fetch returns anything; patterns are ignored.
    Found,
    /// `bool`: true when the value, as an integer, is not zero; patterns are ignored.
    Bool,
    /// `int`: integers, ranges `a:b`, `:b`, `a:`, and the operators `eq ge gt le lt`.
    Int,
    /// `ip`: addresses with optional masks, IPv4 and IPv6 with mapped/6to4 equivalence.
    Ip,
    /// `bin`: the bytes equal a hex-encoded pattern.
    Bin,
    /// `len`: the length of the value, against integer patterns.
    Len,
    /// `str`: exact string equality.
    Str,
    /// `beg`: the value begins with the pattern.
    Beg,
    /// `sub`: the pattern occurs in the value.
    Sub,
    /// `dir`: the pattern is a `/`-delimited component of the value (`?` also delimits).
    Dir,
    /// `dom`: the pattern is a `.`-delimited component run of the value (`/ ? :` also
    /// delimit), e.g. `example.com` in `www.example.com:8080`.
    Dom,
    /// `end`: the value ends with the pattern.
    End,
    /// `reg`: a regular expression search (unanchored).
    Reg,
    /// The `method` keyword's own matching: a known method (GET, HEAD, POST, PUT, DELETE,
    /// OPTIONS, TRACE, CONNECT, case-sensitive) compares by identity, any other by string
    /// (`-i` applies only to those).
    Meth,
}

impl MatchMethod {
    /// The name `-m` takes (`get acl` prints it).
    pub(crate) fn name(self) -> &'static str {
        match self {
            MatchMethod::Found => "found",
            MatchMethod::Bool => "bool",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Bin => "bin",
            MatchMethod::Len => "len",
            MatchMethod::Str => "str",
            MatchMethod::Beg => "beg",
            MatchMethod::Sub => "sub",
            MatchMethod::Dir => "dir",
            MatchMethod::Dom => "dom",
            MatchMethod::End => "end",
            MatchMethod::Reg => "reg",
            MatchMethod::Meth => "meth",
        }
    }

    /// The method named by `-m NAME`.
    pub(crate) fn from_name(n: &str) -> Option<MatchMethod> {
        Some(match n {
            "found" => MatchMethod::Found,
            "bool" => MatchMethod::Bool,
            "int" => MatchMethod::Int,
            "ip" => MatchMethod::Ip,
            "bin" => MatchMethod::Bin,
            "len" => MatchMethod::Len,
            "str" => MatchMethod::Str,
            "beg" => MatchMethod::Beg,
            "sub" => MatchMethod::Sub,
            "dir" => MatchMethod::Dir,
            "dom" => MatchMethod::Dom,
            "end" => MatchMethod::End,
            "reg" => MatchMethod::Reg,
            _ => return None,
        })
    }

    /// The default for a fetch type (HAProxy's `parse_acl_expr`).
    pub(crate) fn default_for(t: SmpType) -> MatchMethod {
        match t {
            SmpType::Bool => MatchMethod::Bool,
            SmpType::Int => MatchMethod::Int,
            SmpType::Ip => MatchMethod::Ip,
            SmpType::Str | SmpType::Any => MatchMethod::Str,
            SmpType::Meth => MatchMethod::Meth,
            SmpType::Bin => MatchMethod::Bin,
        }
    }

    /// The type this method casts values to (`pat_match_types`).
    pub(crate) fn expects(self) -> SmpType {
        match self {
            MatchMethod::Found | MatchMethod::Bool | MatchMethod::Int => SmpType::Int,
            MatchMethod::Ip => SmpType::Ip,
            MatchMethod::Meth => SmpType::Meth,
            _ => SmpType::Str,
        }
    }

    fn takes_ints(self) -> bool {
        matches!(self, MatchMethod::Int | MatchMethod::Len)
    }
}

/// An integer range; a bound that is `None` is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntRange {
    min: Option<i64>,
    max: Option<i64>,
}

impl IntRange {
    fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| m <= v) && self.max.is_none_or(|m| v <= m)
    }
}

/// An address with a mask. IPv4 masks may be non-contiguous (`255.0.255.0`), as in HAProxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpPat {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

impl IpPat {
    /// HAProxy's `pat_match_ip`: an IPv4 value matches IPv4 patterns and, as `::ffff:a.b.c.d`,
    /// IPv6 ones; an IPv6 value matches IPv6 patterns and, if it is IPv4-mapped or 6to4,
    /// IPv4 ones.
    fn matches(&self, v: IpAddr) -> bool {
        match (*self, v) {
            (IpPat::V4 { addr, mask }, IpAddr::V4(a)) => (u32::from(a) ^ addr) & mask == 0,
            (IpPat::V6 { addr, mask }, IpAddr::V4(a)) => {
                (u128::from(a.to_ipv6_mapped()) ^ addr) & mask == 0
            }
            (IpPat::V6 { addr, mask }, IpAddr::V6(a)) => (u128::from(a) ^ addr) & mask == 0,
            (IpPat::V4 { addr, mask }, IpAddr::V6(a)) => {
                v6tov4(&a).is_some_and(|a| (u32::from(a) ^ addr) & mask == 0)
            }
        }
    }
}

/// The three known-method tables of HAProxy (`http_known_methods`): PATCH is not one.
const KNOWN_METHODS: [&[u8]; 8] = [
    b"OPTIONS", b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"TRACE", b"CONNECT",
];

fn is_known_method(m: &[u8]) -> bool {
    KNOWN_METHODS.contains(&m)
}

/// Compiled patterns of one expression.
#[derive(Clone, Debug)]
pub(crate) enum Patterns {
    /// `found` and `bool` take none.
    Nothing,
    Ints(Vec<IntRange>),
    Ips(Vec<IpPat>),
    /// `str` without `-i` and many patterns: a set.
    StrSet(HashSet<Box<[u8]>>),
    /// `str`, `beg`, `end`, `dir`, `dom`, `bin` (decoded), `sub -i`.
    Strs(Vec<Box<[u8]>>),
    /// `sub` without `-i`: precompiled substring searchers.
    Subs(Vec<memmem::Finder<'static>>),
    Regs(Vec<regex::bytes::Regex>),
    Meths(Vec<Box<[u8]>>),
}

/// Above this many `str` patterns, a hash set beats a scan.
const STR_SET_MIN: usize = 8;

/// A matching method with its flags and patterns.
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    pub(crate) method: MatchMethod,
    pub(crate) icase: bool,
    pub(crate) pats: Patterns,
}

/// One pattern as written, with where it came from for error messages.
pub(crate) struct RawPattern {
    pub(crate) text: String,
    /// `FILE:LINE: ` for patterns from `-f` files, empty for inline ones.
    pub(crate) origin: String,
}

impl Matcher {
    /// Compiles `raw` for `method`. Integer operators (`eq ge gt le lt`, and `ne`, which
    /// HAProxy accepts and treats as `eq`) apply to the integers after them. Warnings go to
    /// `warn`.
    pub(crate) fn compile(
        method: MatchMethod,
        icase: bool,
        raw: &[RawPattern],
        warn: &mut dyn FnMut(String),
    ) -> Result<Matcher, String> {
        let pats = match method {
            MatchMethod::Found | MatchMethod::Bool => Patterns::Nothing,
            m if m.takes_ints() => Patterns::Ints(parse_ints(raw, warn)?),
            MatchMethod::Ip => Patterns::Ips(
                raw.iter()
                    .map(|p| parse_ip(&p.text).map_err(|e| format!("{}{e}", p.origin)))
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Bin => Patterns::Strs(
                raw.iter()
                    .map(|p| parse_hex(&p.text).map_err(|e| format!("{}{e}", p.origin)))
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Reg => Patterns::Regs(
                raw.iter()
                    .map(|p| compile_regex(&p.text, icase).map_err(|e| format!("{}{e}", p.origin)))
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Sub if !icase => Patterns::Subs(
                raw.iter()
                    .map(|p| memmem::Finder::new(p.text.as_bytes()).into_owned())
                    .collect(),
            ),
            MatchMethod::Str if !icase && raw.len() > STR_SET_MIN => {
                Patterns::StrSet(raw.iter().map(|p| p.text.as_bytes().into()).collect())
            }
            MatchMethod::Meth => {
                Patterns::Meths(raw.iter().map(|p| p.text.as_bytes().into()).collect())
            }
            _ => Patterns::Strs(raw.iter().map(|p| p.text.as_bytes().into()).collect()),
        };
        Ok(Matcher {
            method,
            icase,
            pats,
        })
    }

    /// Compiles the entries of a pattern reference: each reads alone, as HAProxy's pattern
    /// parsers read them (an integer operator is not a number there).
    pub(crate) fn compile_entries(
        method: MatchMethod,
        icase: bool,
        raw: &[RawPattern],
    ) -> Result<Matcher, String> {
        if !method.takes_ints() {
            return Matcher::compile(method, icase, raw, &mut |_| {});
        }
        let ints = (raw.iter())
            .map(|p| parse_int_range(&p.text).map_err(|e| format!("{}{e}", p.origin)))
            .collect::<Result<_, _>>()?;
        Ok(Matcher {
            method,
            icase,
            pats: Patterns::Ints(ints),
        })
    }

    /// Whether the value matches one of the patterns, after the cast the method expects; a
    /// value that does not cast does not match.
    pub(crate) fn matches(&self, v: Value<'_>) -> bool {
        match (&self.pats, self.method) {
            (_, MatchMethod::Found) => true,
            (_, MatchMethod::Bool) => v.to_int().is_some_and(|i| i != 0),
            (Patterns::Ints(r), MatchMethod::Int) => {
                v.to_int().is_some_and(|i| r.iter().any(|r| r.contains(i)))
            }
            (Patterns::Ints(r), _) => v.with_bytes(|b| {
                let l = b.len() as i64;
                r.iter().any(|r| r.contains(l))
            }),
            (Patterns::Ips(p), _) => v.to_ip().is_some_and(|a| p.iter().any(|p| p.matches(a))),
            (Patterns::Meths(p), _) => v.with_bytes(|b| self.meth_match(p, b)),
            (Patterns::Regs(r), _) => v.with_bytes(|b| r.iter().any(|r| r.is_match(b))),
            (Patterns::Subs(f), _) => v.with_bytes(|b| f.iter().any(|f| f.find(b).is_some())),
            (Patterns::StrSet(set), _) => v.with_bytes(|b| set.contains(b)),
            (Patterns::Strs(p), m) => v.with_bytes(|b| p.iter().any(|p| self.str_match(m, p, b))),
            (Patterns::Nothing, _) => false,
        }
    }

    fn eq(&self, a: &[u8], b: &[u8]) -> bool {
        if self.icase {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    fn str_match(&self, m: MatchMethod, p: &[u8], b: &[u8]) -> bool {
        match m {
            MatchMethod::Str | MatchMethod::Bin => p.len() == b.len() && self.eq(p, b),
            MatchMethod::Beg => b.len() >= p.len() && self.eq(p, &b[..p.len()]),
            MatchMethod::End => b.len() >= p.len() && self.eq(p, &b[b.len() - p.len()..]),
            MatchMethod::Sub => p.len() <= b.len() && b.windows(p.len()).any(|w| self.eq(p, w)),
            MatchMethod::Dir => self.match_word(p, b, b"/?"),
            MatchMethod::Dom => self.match_word(p, b, b"/?.:"),
            _ => false,
        }
    }

    /// HAProxy's `match_word`: the pattern, stripped of delimiters at both ends, must appear
    /// in the value between delimiters or the value's ends.
    fn match_word(&self, p: &[u8], b: &[u8], delims: &[u8]) -> bool {
        let is_delim = |c: u8| delims.contains(&c);
        let mut p = p;
        while let [c, rest @ ..] = p {
            if !is_delim(*c) {
                break;
            }
            p = rest;
        }
        while let [rest @ .., c] = p {
            if !is_delim(*c) {
                break;
            }
            p = rest;
        }
        if p.is_empty() || p.len() > b.len() {
            return false;
        }
        let end = b.len() - p.len();
        let mut may_match = true;
        for c in 0..=end {
            if is_delim(b[c]) {
                may_match = true;
                continue;
            }
            if !may_match {
                continue;
            }
            if self.eq(p, &b[c..c + p.len()]) && (c == end || is_delim(b[c + p.len()])) {
                return true;
            }
            may_match = false;
        }
        false
    }

    /// HAProxy's `pat_match_meth`.
    fn meth_match(&self, pats: &[Box<[u8]>], b: &[u8]) -> bool {
        let known = is_known_method(b);
        pats.iter().any(|p| {
            if is_known_method(p) {
                **p == *b
            } else {
                !known && self.eq(p, b)
            }
        })
    }
}

/// HAProxy's `get_std_op`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

fn std_op(s: &str) -> Option<Op> {
    Some(match s {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        _ => return None,
    })
}

/// HAProxy's `strl2llrc`: a whole string as a signed decimal.
fn strl2llrc(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_ints(raw: &[RawPattern], warn: &mut dyn FnMut(String)) -> Result<Vec<IntRange>, String> {
    let mut op = Op::Eq;
    let mut out = Vec::with_capacity(raw.len());
    for p in raw {
        if let Some(o) = std_op(&p.text) {
            if o == Op::Ne {
                warn(format!(
                    "{}operator 'ne' is accepted by HAProxy but matches like 'eq' (use '!' in the condition to negate)",
                    p.origin
                ));
            }
            op = o;
            continue;
        }
        let t = p.text.as_str();
        let range = if t.contains([':', '-']) || matches!(op, Op::Eq | Op::Ne) {
            // HAProxy hands these to pat_parse_int as they are, whatever the operator; a
            // leading '-' is the range separator, so "-5" means ":5" (at most 5).
            parse_int_range(t)
        } else {
            // HAProxy reads the number up to a '.' (so "gt 1.5" is "gt 1") and turns the
            // operator into a range.
            let num = t.split('.').next().unwrap_or("");
            let v = strl2llrc(num)
                .ok_or_else(|| format!("'{t}' is neither a number nor a supported operator"))?;
            Ok(match op {
                Op::Gt => IntRange {
                    min: Some(v.saturating_add(1)),
                    max: None,
                },
                Op::Ge => IntRange {
                    min: Some(v),
                    max: None,
                },
                Op::Lt => IntRange {
                    min: None,
                    max: Some(v.saturating_sub(1)),
                },
                Op::Le => IntRange {
                    min: None,
                    max: Some(v),
                },
                Op::Eq | Op::Ne => unreachable!("handled above"),
            })
        };
        out.push(range.map_err(|e| format!("{}{e}", p.origin))?);
    }
    Ok(out)
}

/// The configuration's patterns as HAProxy's compatibility layer hands them to its
/// reference (`parse_acl_expr`): for integers and versions (`dotted`), an operator applies to
/// the numbers after it, each rewritten as a range (`gt 2` is `3:`, `lt 4` on versions is
/// `:3.65535`); `eq`, `ne` and a number with `:` or `-` stay as written; the operators go.
/// A word that is not a number is left as it is (the compilation reports it).
pub(crate) fn ref_texts(method: MatchMethod, dotted: bool, raw: &[RawPattern]) -> Vec<Box<[u8]>> {
    let mut op = Op::Eq;
    let mut out = Vec::with_capacity(raw.len());
    for p in raw {
        let t = p.text.as_str();
        if method.takes_ints() {
            if let Some(o) = std_op(t) {
                op = o;
                continue;
            }
            if let Some(r) = operator_range(op, dotted, t) {
                out.push(r.into_bytes().into());
                continue;
            }
        }
        out.push(t.as_bytes().into());
    }
    out
}

/// `gt|ge|lt|le N` as the range HAProxy writes for it; `None` when it keeps the word.
fn operator_range(op: Op, dotted: bool, t: &str) -> Option<String> {
    if t.contains([':', '-']) || matches!(op, Op::Eq | Op::Ne) {
        return None;
    }
    let (major, minor) = t.split_once('.').map_or((t, None), |(a, b)| (a, Some(b)));
    let mut v = strl2llrc(major)?;
    if dotted {
        let minor = minor.map_or(Some(0), strl2llrc)?;
        v = (v << 16) | (minor & 0xffff);
    }
    let v = match op {
        Op::Gt => v.saturating_add(1),
        Op::Lt => v.saturating_sub(1),
        _ => v,
    };
    let n = if dotted {
        format!("{}.{}", v >> 16, v & 0xffff)
    } else {
        v.to_string()
    };
    Some(match op {
        Op::Gt | Op::Ge => format!("{n}:"),
        _ => format!(":{n}"),
    })
}

/// HAProxy's `pat_parse_int`: `N`, `A:B` or `A-B`, `:B`, `A:`.
fn parse_int_range(t: &str) -> Result<IntRange, String> {
    if t.is_empty() {
        return Err(format!("'{t}' is not a valid number range"));
    }
    let bad = || format!("'{t}' is not a valid number range");
    let Some(sep) = t.find([':', '-']) else {
        let v = strl2llrc(t).ok_or_else(|| format!("'{t}' is not a number"))?;
        return Ok(IntRange {
            min: Some(v),
            max: Some(v),
        });
    };
    let (a, b) = (&t[..sep], &t[sep + 1..]);
    if sep == 0 && !b.is_empty() {
        return Ok(IntRange {
            min: None,
            max: Some(strl2llrc(b).ok_or_else(bad)?),
        });
    }
    if b.is_empty() {
        return Ok(IntRange {
            min: Some(strl2llrc(a).ok_or_else(bad)?),
            max: None,
        });
    }
    let (min, max) = (strl2llrc(a).ok_or_else(bad)?, strl2llrc(b).ok_or_else(bad)?);
    if min > max {
        return Err(bad());
    }
    Ok(IntRange {
        min: Some(min),
        max: Some(max),
    })
}

/// HAProxy's `pat_parse_ip`: `ADDR[/MASK]` with an IPv4 mask as a prefix length or a dotted
/// mask, or `ADDR6[/LEN]`. Host names are not resolved (HAProxy resolves them at startup).
pub(crate) fn parse_ip(t: &str) -> Result<IpPat, String> {
    let bad = || format!("'{t}' is not a valid IPv4 or IPv6 address");
    let (a, m) = match t.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (t, None),
    };
    if let Ok(a4) = a.parse::<Ipv4Addr>() {
        let mask = match m {
            None => u32::MAX,
            Some(m) => match m.parse::<u8>() {
                Ok(0) => 0,
                Ok(n @ 1..=32) => u32::MAX << (32 - n),
                Ok(_) => return Err(bad()),
                Err(_) => u32::from(m.parse::<Ipv4Addr>().map_err(|_| bad())?),
            },
        };
        return Ok(IpPat::V4 {
            addr: u32::from(a4) & mask,
            mask,
        });
    }
    if let Ok(a6) = a.parse::<Ipv6Addr>() {
        let mask = match m {
            None => u128::MAX,
            Some(m) => match m.parse::<u8>() {
                Ok(0) => 0,
                Ok(n @ 1..=128) => u128::MAX << (128 - n),
                _ => return Err(bad()),
            },
        };
        return Ok(IpPat::V6 {
            addr: u128::from(a6) & mask,
            mask,
        });
    }
    if a.bytes().any(|c| c.is_ascii_alphabetic()) && !a.contains(':') {
        return Err(format!(
            "'{t}' is not a valid IPv4 or IPv6 address (corelb does not resolve host names in patterns)"
        ));
    }
    Err(bad())
}

fn parse_hex(t: &str) -> Result<Box<[u8]>, String> {
    let b = t.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(format!(
            "'{t}' is not a valid hexadecimal binary string (odd length)"
        ));
    }
    b.chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect::<Option<Vec<u8>>>()
        .map(Vec::into_boxed_slice)
        .ok_or_else(|| format!("'{t}' is not a valid hexadecimal binary string"))
}

/// Compiles a pattern for `reg`. HAProxy uses PCRE; Rust's `regex` is used here in byte mode
/// without Unicode (`.` is any byte, `\w` is ASCII, as in PCRE without UTF). It has no
/// look-around and no backreferences: such patterns are rejected with the reason.
pub(crate) fn compile_regex(t: &str, icase: bool) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(t)
        .case_insensitive(icase)
        .unicode(false)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            let hint = if msg.contains("look-around") || msg.contains("backreferences") {
                " (corelb uses Rust's regex crate, which has no look-around or backreferences)"
            } else {
                ""
            };
            format!(
                "regex '{t}' is invalid: {}{hint}",
                msg.lines().last().unwrap_or("").trim()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ws: &[&str]) -> Vec<RawPattern> {
        ws.iter()
            .map(|t| RawPattern {
                text: t.to_string(),
                origin: String::new(),
            })
            .collect()
    }

    fn m(method: MatchMethod, icase: bool, pats: &[&'static str]) -> Matcher {
        Matcher::compile(method, icase, &raw(pats), &mut |_| {}).unwrap()
    }

    fn s(m: &Matcher, v: &str) -> bool {
        m.matches(Value::Str(v.as_bytes()))
    }

    #[test]
    fn string_methods() {
        let x = m(MatchMethod::Str, false, &["abc", "x"]);
        assert!(s(&x, "abc") && s(&x, "x"));
        assert!(!s(&x, "ABC") && !s(&x, "abcd") && !s(&x, ""));
        assert!(s(&m(MatchMethod::Str, true, &["abc"]), "AbC"));
        let many: Vec<&'static str> = vec!["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let set = m(MatchMethod::Str, false, &many);
        assert!(matches!(set.pats, Patterns::StrSet(_)));
        assert!(s(&set, "j") && !s(&set, "J") && !s(&set, "k"));

        let b = m(MatchMethod::Beg, false, &["/api"]);
        assert!(s(&b, "/api/x") && s(&b, "/api") && !s(&b, "/ap") && !s(&b, "/API/x"));
        assert!(s(&m(MatchMethod::Beg, true, &["/api"]), "/API/x"));

        let e = m(MatchMethod::End, false, &[".jpg"]);
        assert!(s(&e, "/a.jpg") && !s(&e, "/a.JPG") && !s(&e, "jpg"));
        assert!(s(&m(MatchMethod::End, true, &[".jpg"]), "/a.JPG"));

        let sub = m(MatchMethod::Sub, false, &["example1"]);
        assert!(s(&sub, "/x/example1/y") && !s(&sub, "/x/EXAMPLE1") && !s(&sub, "example"));
        let subi = m(MatchMethod::Sub, true, &["example1"]);
        assert!(s(&subi, "/x/EXAMPLE1") && !s(&subi, "exampl"));
        assert!(s(&m(MatchMethod::Sub, false, &[""]), "anything"));

        let l = m(MatchMethod::Len, false, &["3", "10:"]);
        assert!(s(&l, "abc") && s(&l, "0123456789") && !s(&l, "ab"));

        let bin = m(MatchMethod::Bin, false, &["414243"]);
        assert!(s(&bin, "ABC") && !s(&bin, "ABCD"));
        assert!(Matcher::compile(MatchMethod::Bin, false, &raw(&["4"]), &mut |_| {}).is_err());
        assert!(Matcher::compile(MatchMethod::Bin, false, &raw(&["zz"]), &mut |_| {}).is_err());
    }

    #[test]
    fn dir_and_dom_like_haproxy() {
        // Observed on HAProxy 2.6 against Host "www.example.com:8080": hdr_dom matches
        // example.com, www, .example., com, 8080 and -i EXAMPLE.COM, not ample.com; against
        // "wwwexample.com" only com.
        let host = "www.example.com:8080";
        for p in ["example.com", "www", ".example.", "com", "8080"] {
            assert!(s(&m(MatchMethod::Dom, false, &[p]), host), "{p}");
        }
        assert!(!s(&m(MatchMethod::Dom, false, &["ample.com"]), host));
        assert!(!s(&m(MatchMethod::Dom, false, &["EXAMPLE.COM"]), host));
        assert!(s(&m(MatchMethod::Dom, true, &["EXAMPLE.COM"]), host));
        assert!(!s(
            &m(MatchMethod::Dom, false, &["example.com"]),
            "wwwexample.com"
        ));
        assert!(s(&m(MatchMethod::Dom, false, &["com"]), "wwwexample.com"));
        assert!(!s(&m(MatchMethod::Dom, false, &["..."]), host));
        // dir: "/a/b/c" has b and /a/b/ (delimiters stripped from the pattern).
        assert!(s(&m(MatchMethod::Dir, false, &["b"]), "/a/b/c"));
        assert!(s(&m(MatchMethod::Dir, false, &["/a/b/"]), "/a/b/c"));
        assert!(s(&m(MatchMethod::Dir, false, &["p"]), "/p?x=1"));
        assert!(!s(&m(MatchMethod::Dir, false, &["a/b/c/d"]), "/a/b/c"));
        assert!(!s(&m(MatchMethod::Dir, false, &["b.c"]), "/a/b/c"));
        assert!(!s(&m(MatchMethod::Dir, false, &["a"]), "/ab/"));
    }

    #[test]
    fn regexes() {
        let r = m(MatchMethod::Reg, false, &["^/a/.*/c$"]);
        assert!(s(&r, "/a/b/c") && !s(&r, "/a/b/C"));
        assert!(s(&m(MatchMethod::Reg, true, &["^/a/.*/c$"]), "/A/b/C"));
        // Unanchored, as PCRE's exec.
        assert!(s(&m(MatchMethod::Reg, false, &["b"]), "abc"));
        // Bytes that are not UTF-8 still match '.'.
        assert!(r.matches(Value::Str(b"/a/\xff/c")));
        let err =
            Matcher::compile(MatchMethod::Reg, false, &raw(&["(?=x)"]), &mut |_| {}).unwrap_err();
        assert!(err.contains("look-around"), "{err}");
        assert!(Matcher::compile(MatchMethod::Reg, false, &raw(&["("]), &mut |_| {}).is_err());
    }

    #[test]
    fn ints_operators_and_ranges() {
        let i =
            |pats: &[&'static str], v: i64| m(MatchMethod::Int, false, pats).matches(Value::Int(v));
        assert!(i(&["lt", "1"], 0) && !i(&["lt", "1"], 1));
        assert!(i(&["le", "1"], 1) && !i(&["le", "1"], 2));
        assert!(i(&["gt", "1"], 2) && !i(&["gt", "1"], 1));
        assert!(i(&["ge", "1"], 1) && !i(&["ge", "1"], 0));
        assert!(i(&["eq", "5"], 5) && !i(&["eq", "5"], 6));
        assert!(i(&["80", "443"], 443) && !i(&["80", "443"], 8080));
        assert!(i(&["1:100"], 1) && i(&["1:100"], 100) && !i(&["1:100"], 101));
        assert!(i(&["1-100"], 50));
        assert!(i(&[":10"], -5) && !i(&[":10"], 11));
        assert!(i(&["10:"], 10) && !i(&["10:"], 9));
        // The operator stays in force for the following numbers.
        assert!(i(&["gt", "10", "5"], 6) && !i(&["gt", "10", "5"], 5));
        // HAProxy quirks, observed on 2.6: "-5" is the range ":5", "gt 1.5" is "gt 1", and
        // "ne" matches like "eq" (dst_port ne 18082 was true on port 18082).
        assert!(i(&["-5"], -100) && i(&["-5"], 5) && !i(&["-5"], 6));
        assert!(i(&["gt", "1.5"], 2) && !i(&["gt", "1.5"], 1));
        let mut warned = Vec::new();
        let ne = Matcher::compile(MatchMethod::Int, false, &raw(&["ne", "80"]), &mut |w| {
            warned.push(w)
        })
        .unwrap();
        assert!(ne.matches(Value::Int(80)) && !ne.matches(Value::Int(81)));
        assert_eq!(warned.len(), 1);
        for bad in ["x", "5:1", "1:x", "", "gt"] {
            let r = Matcher::compile(MatchMethod::Int, false, &raw(&[bad]), &mut |_| {});
            assert!(bad == "gt" || r.is_err(), "{bad}");
        }
        assert!(
            Matcher::compile(MatchMethod::Int, false, &raw(&["gt", "x"]), &mut |_| {}).is_err()
        );
        // Strings cast to integers; an empty string does not.
        let x = m(MatchMethod::Int, false, &["12"]);
        assert!(s(&x, "12abc") && !s(&x, "") && !s(&x, "13"));
    }

    /// What HAProxy 2.6's `show acl #ID` printed for these words (Debian's 2.6.12).
    #[test]
    fn reference_texts_are_haproxys() {
        let t = |m, dotted, ws: &[&'static str]| -> Vec<String> {
            (ref_texts(m, dotted, &raw(ws)).iter())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        };
        let ints = [
            "gt", "2", "lt", "5", "7", "ge", "1.5", "1:3", "eq", "4", "ne", "6", "le", "-3", "-5",
            "gt", "1-4", "8:",
        ];
        assert_eq!(
            t(MatchMethod::Int, false, &ints),
            [
                "3:", ":4", ":6", "1:", "1:3", "4", "6", "-3", "-5", "1-4", "8:"
            ]
        );
        assert_eq!(
            t(MatchMethod::Int, true, &["gt", "3.1", "3.2:3.4", "lt", "4"]),
            ["3.2:", "3.2:3.4", ":3.65535"]
        );
        assert_eq!(t(MatchMethod::Len, false, &["gt", "3"]), ["4:"]);
        assert_eq!(t(MatchMethod::Str, false, &["gt", "x"]), ["gt", "x"]);
        // Each entry reads alone: an operator is no number there.
        let e = Matcher::compile_entries(MatchMethod::Int, false, &raw(&["gt"])).unwrap_err();
        assert_eq!(e, "'gt' is not a number");
    }

    #[test]
    fn bool_and_found() {
        let b = m(MatchMethod::Bool, false, &[]);
        assert!(b.matches(Value::Bool(true)) && !b.matches(Value::Bool(false)));
        assert!(b.matches(Value::Int(3)) && !b.matches(Value::Int(0)));
        // HAProxy 2.6: hdr(z) -m bool is true for "12", false for "0" and "abc".
        assert!(s(&b, "12") && !s(&b, "0") && !s(&b, "abc") && !s(&b, ""));
        let f = m(MatchMethod::Found, false, &["ignored"]);
        assert!(s(&f, "") && f.matches(Value::Bool(false)));
    }

    fn ip(pats: &[&'static str], v: &str) -> bool {
        m(MatchMethod::Ip, false, pats).matches(Value::Ip(v.parse().unwrap()))
    }

    #[test]
    fn ip_patterns() {
        assert!(ip(&["10.0.0.0/8"], "10.1.2.3") && !ip(&["10.0.0.0/8"], "11.0.0.1"));
        assert!(ip(&["10.0.0.0/255.0.0.0"], "10.1.2.3"));
        assert!(ip(&["10.0.0.1"], "10.0.0.1") && !ip(&["10.0.0.1"], "10.0.0.2"));
        assert!(ip(&["10.9.9.9/8"], "10.0.0.1"), "host bits are masked");
        assert!(ip(&["0.0.0.0/0"], "1.2.3.4"));
        // Non-contiguous masks, as HAProxy allows.
        assert!(
            ip(&["10.0.0.0/255.0.255.0"], "10.7.0.9") && !ip(&["10.0.0.0/255.0.255.0"], "10.7.1.9")
        );
        assert!(ip(&["2001:db8::/32"], "2001:db8:1::1") && !ip(&["2001:db8::/32"], "2001:db9::1"));
        assert!(ip(&["::1"], "::1"));
        // Observed on HAProxy 2.6: ::ffff:10.0.0.1 and 2002:a00:1::1 match 10.0.0.0/8; the
        // pattern ::ffff:10.0.0.1 matches 10.0.0.1; 2002:0a00:0001::/48 does not.
        assert!(ip(&["10.0.0.0/8"], "::ffff:10.0.0.1"));
        assert!(ip(&["10.0.0.0/8"], "2002:a00:1::1"));
        assert!(ip(&["::ffff:10.0.0.1"], "10.0.0.1"));
        assert!(ip(&["::ffff:10.0.0.0/104"], "10.3.3.3"));
        assert!(!ip(&["2002:0a00:0001::/48"], "10.0.0.1"));
        assert!(!ip(&["10.0.0.0/8"], "::1"));
        // Strings are cast.
        let x = m(MatchMethod::Ip, false, &["10.0.0.1"]);
        assert!(s(&x, "10.0.0.1:80") && s(&x, "::ffff:10.0.0.1") && !s(&x, "12"));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/255.0.0",
            "::/129",
            "1.2.3",
            "localhost",
            "",
        ] {
            let r = Matcher::compile(MatchMethod::Ip, false, &raw(&[bad]), &mut |_| {});
            assert!(r.is_err(), "{bad}");
        }
        let e = parse_ip("localhost").unwrap_err();
        assert!(e.contains("host names"), "{e}");
    }

    #[test]
    fn methods_like_haproxy() {
        // Observed on HAProxy 2.6 for the methods GET, get, foo, FOO.
        let get = m(MatchMethod::Meth, false, &["GET"]);
        assert!(s(&get, "GET") && !s(&get, "get"));
        let geti = m(MatchMethod::Meth, true, &["GET"]);
        assert!(s(&geti, "GET") && !s(&geti, "get"));
        let lower = m(MatchMethod::Meth, true, &["get"]);
        assert!(s(&lower, "get") && s(&lower, "gEt") && !s(&lower, "GET"));
        let foo = m(MatchMethod::Meth, false, &["foo"]);
        assert!(s(&foo, "foo") && !s(&foo, "FOO"));
        let fooi = m(MatchMethod::Meth, true, &["FOO"]);
        assert!(s(&fooi, "foo") && s(&fooi, "FOO"));
        let patch = m(MatchMethod::Meth, false, &["PATCH"]);
        assert!(s(&patch, "PATCH") && !s(&patch, "patch"));
    }
}
