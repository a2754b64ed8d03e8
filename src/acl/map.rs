//! The `map*` converters (HAProxy 2.6's src/map.c): `map(FILE[,DEFAULT])` (= `map_str`),
//! `map_beg`, `map_sub`, `map_dir`, `map_dom`, `map_end`, `map_int`, `map_ip`, `map_reg`,
//! `map_regm` (the value takes the matching key's groups, `\1`),
//! each also with an `_str` suffix. The file is read when the configuration first names it:
//! one `KEY VALUE` per line, `#` comments, blank lines skipped; the value is the rest of the
//! line. Its entries are shared with every converter and ACL naming it and may change at run
//! time (`patref`): each converter swaps in a new index then.
//!
//! Lookups as HAProxy indexes them: `map_str` in a hash table (exact key), `map_ip` by the
//! longest network that holds the address, the others in file order (the first line that
//! matches wins; `map_reg` keys are regular expressions, compiled once). A miss returns the
//! default, or nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::any::Any;

use super::patref::{self, Index, RefEntry};
use super::sample::Value;

/// HAProxy's `exp_replace`: `fmt` with `\N` replaced by group N of the match (nothing for a
/// group that did not take part), `\xHH` by that byte and `\c` by `c`.
pub fn exp_replace(fmt: &[u8], caps: &regex::bytes::Captures<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(fmt.len() + 32);
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'\\' || i == fmt.len() {
            out.push(c);
            continue;
        }
        let e = fmt[i];
        i += 1;
        match e {
            b'0'..=b'9' => {
                if let Some(m) = caps.get((e - b'0') as usize) {
                    out.extend_from_slice(m.as_bytes());
                }
            }
            b'x' if i + 2 <= fmt.len() => {
                match std::str::from_utf8(&fmt[i..i + 2])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'x'),
                }
            }
            _ => out.push(e),
        }
    }
    out
}

/// How keys are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    Str,
    Beg,
    Sub,
    Dir,
    Dom,
    End,
    Int,
    Ip,
    Reg,
}

/// One `map*` converter: how it matches, and its view of the file's shared entries.
#[derive(Clone, Debug)]
pub struct MapConv {
    how: Match,
    /// `map_regm`: the value takes the key's groups (`\1`).
    subst: bool,
    default: Option<Box<[u8]>>,
    live: Arc<LiveMap>,
}

impl PartialEq for MapConv {
    fn eq(&self, o: &Self) -> bool {
        self.how == o.how
            && self.subst == o.subst
            && self.default == o.default
            && Arc::ptr_eq(&self.live, &o.live)
    }
}

impl Eq for MapConv {}

/// A key and its value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// The index lookups read (swapped whole when the file's entries change).
#[derive(Debug)]
struct LiveMap {
    how: Match,
    cur: ArcSwap<MapIndex>,
}

/// The entries as one converter looks them up.
#[derive(Debug, Default)]
struct MapIndex {
    /// Keys and values in file order.
    entries: Vec<Entry>,
    /// For `map_str`: key → index of its first line.
    exact: HashMap<Box<[u8]>, usize>,
    /// For `map_reg`: each line's key compiled.
    regs: Vec<regex::bytes::Regex>,
}

impl MapIndex {
    fn build(how: Match, entries: &[RefEntry]) -> Result<MapIndex, String> {
        let mut ix = MapIndex::default();
        for (n, e) in entries.iter().enumerate() {
            let k = &e.key;
            let bad = match how {
                Match::Int => std::str::from_utf8(k)
                    .ok()
                    .and_then(|k| k.parse::<i64>().ok())
                    .is_none(),
                Match::Ip => net(k).is_none(),
                _ => false,
            };
            if bad {
                // HAProxy's words (the stats socket shows them), after the line.
                let at = match e.line {
                    0 => String::new(),
                    l => format!("line {l}: "),
                };
                let k = String::from_utf8_lossy(k);
                return Err(if how == Match::Int {
                    format!("{at}'{k}' is not a number.")
                } else {
                    format!("{at}'{k}' is not a valid IPv4 or IPv6 address.")
                });
            }
            if how == Match::Reg {
                let re = std::str::from_utf8(k)
                    .map_err(|e| e.to_string())
                    .and_then(|k| regex::bytes::Regex::new(k).map_err(|e| e.to_string()))
                    .map_err(|err| {
                        format!(
                            "'{}' is not a regular expression: {err}",
                            String::from_utf8_lossy(k)
                        )
                    })?;
                ix.regs.push(re);
            }
            if how == Match::Str {
                ix.exact.entry(k.clone()).or_insert(n);
            }
            ix.entries.push((k.clone(), e.value.clone()));
        }
        Ok(ix)
    }
}

impl Index for LiveMap {
    fn build(&self, _: &str, entries: &[RefEntry]) -> Result<Box<dyn Any + Send>, String> {
        Ok(Box::new(MapIndex::build(self.how, entries)?))
    }

    fn store(&self, built: Box<dyn Any + Send>) {
        if let Ok(ix) = built.downcast::<MapIndex>() {
            self.cur.store(Arc::new(*ix));
        }
    }

    fn get(&self, _: &[RefEntry], value: &[u8]) -> String {
        let ix = self.cur.load();
        let (name, idx) = self.how.names();
        let head = format!("type={name}, case=sensitive, found=");
        match lookup_in(self.how, false, &ix, Value::Str(value)) {
            Some((i, _)) => {
                let (k, v) = &ix.entries[i];
                format!(
                    "{head}yes, idx={idx}, key=\"{}\", value=\"{}\", type=\"str\"",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                )
            }
            None => format!("{head}no"),
        }
    }
}

impl Match {
    /// HAProxy's `get map` words: the match's name and how its index is kept.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Match::Str => ("str", "tree"),
            Match::Beg => ("beg", "tree"),
            Match::Ip => ("ip", "tree"),
            Match::Sub => ("sub", "list"),
            Match::Dir => ("dir", "list"),
            Match::Dom => ("dom", "list"),
            Match::End => ("end", "list"),
            Match::Int => ("int", "list"),
            Match::Reg => ("reg", "list"),
        }
    }
}

/// The entry `v` finds in `ix` (its index), and for `map_regm` the value with the key's
/// groups in it.
fn lookup_in(
    how: Match,
    subst: bool,
    ix: &MapIndex,
    v: Value<'_>,
) -> Option<(usize, Option<Vec<u8>>)> {
    match how {
        Match::Str => v
            .with_bytes(|b| ix.exact.get(b).copied())
            .map(|i| (i, None)),
        Match::Int => v.to_int().and_then(|i| {
            (ix.entries.iter())
                .position(|(k, _)| {
                    std::str::from_utf8(k).ok().and_then(|k| k.parse().ok()) == Some(i)
                })
                .map(|i| (i, None))
        }),
        Match::Ip => v.to_ip().and_then(|a| {
            (ix.entries.iter().enumerate())
                .filter_map(|(i, (k, _))| net(k).filter(|n| n.holds(a)).map(|n| (n.bits, i)))
                .max_by_key(|(bits, _)| *bits)
                .map(|(_, i)| (i, None))
        }),
        // `map_regm`: the value's `\N` are the key's groups (HAProxy's exp_replace).
        Match::Reg if subst => v.with_bytes(|b| {
            ix.regs.iter().enumerate().find_map(|(i, re)| {
                let caps = re.captures(b)?;
                Some((i, Some(exp_replace(&ix.entries[i].1, &caps))))
            })
        }),
        Match::Reg => v
            .with_bytes(|b| ix.regs.iter().position(|re| re.is_match(b)))
            .map(|i| (i, None)),
        how => v
            .with_bytes(|b| ix.entries.iter().position(|(k, _)| matches(how, b, k)))
            .map(|i| (i, None)),
    }
}

impl MapConv {
    /// Whether `name` is a map converter this module builds.
    pub(crate) fn is_map(name: &str) -> bool {
        name == "map" || name.starts_with("map_")
    }

    /// Parses `name(FILE[,DEFAULT])`; the file is read by its first user in the
    /// configuration and shared with the others (see `patref`).
    pub(crate) fn parse(name: &str, args: Option<&[&str]>) -> Result<MapConv, String> {
        let kind = name.strip_prefix("map").unwrap_or(name);
        let kind = kind.strip_suffix("_str").unwrap_or(kind);
        let how = match kind {
            "" | "_str" => Match::Str,
            "_beg" => Match::Beg,
            "_sub" => Match::Sub,
            "_dir" => Match::Dir,
            "_dom" => Match::Dom,
            "_end" => Match::End,
            "_int" => Match::Int,
            "_ip" => Match::Ip,
            "_reg" | "_regm" => Match::Reg,
            _ => {
                return Err(format!(
                    "unknown converter '{name}' (corelb has map, map_str, map_beg, map_sub, \
                     map_dir, map_dom, map_end, map_int, map_ip, map_reg, map_regm, each with an \
                     optional _str, _int or _ip output)"
                ));
            }
        };
        let args = args.unwrap_or_default();
        let Some(file) = args.first().filter(|f| !f.is_empty()) else {
            return Err(format!(
                "converter '{name}' : expected type 'string' at position 1, but got nothing"
            ));
        };
        if args.len() > 2 {
            return Err(format!(
                "converter '{name}' : end of arguments expected at position 3, but got '{}'",
                args[2]
            ));
        }
        let r = patref::load(file, true, || {
            let data = std::fs::read(file).map_err(|e| {
                format!("converter '{name}': failed to load map file <{file}>: {e}")
            })?;
            Ok(read_entries(&data))
        })?;
        let live = Arc::new(LiveMap {
            how,
            cur: ArcSwap::from_pointee(MapIndex::default()),
        });
        r.attach(patref::MAP, live.clone())
            .map_err(|e| format!("converter '{name}': map file <{file}>: {e}"))?;
        Ok(MapConv {
            how,
            subst: kind == "_regm",
            default: args.get(1).map(|d| d.as_bytes().into()),
            live,
        })
    }

    /// The value for `v` (cast to the key type), or the default.
    pub(crate) fn lookup(&self, v: Value<'_>) -> Option<Vec<u8>> {
        let ix = self.live.cur.load();
        match lookup_in(self.how, self.subst, &ix, v) {
            Some((_, Some(owned))) => Some(owned),
            Some((i, None)) => Some(ix.entries[i].1.to_vec()),
            None => self.default.as_deref().map(<[u8]>::to_vec),
        }
    }
}

/// `KEY VALUE` lines (HAProxy's `pat_ref_read_from_file_smp`).
fn read_entries(data: &[u8]) -> Vec<patref::FileLine> {
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let mut out = Vec::new();
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let start = line.iter().position(|c| !blank(c)).unwrap_or(line.len());
        let line = &line[start..];
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let key_end = line.iter().position(blank).unwrap_or(line.len());
        let rest = &line[key_end..];
        let v_start = rest.iter().position(|c| !blank(c)).unwrap_or(rest.len());
        let v = &rest[v_start..];
        let v_end = v.iter().rposition(|c| !blank(c)).map_or(0, |i| i + 1);
        out.push((line[..key_end].into(), v[..v_end].into(), n as u32 + 1));
    }
    out
}

/// The string matches of HAProxy's `pat_match_*` (case-sensitive, as maps are).
fn matches(how: Match, v: &[u8], k: &[u8]) -> bool {
    match how {
        Match::Beg => v.starts_with(k),
        Match::End => v.ends_with(k),
        Match::Sub => memchr::memmem::find(v, k).is_some(),
        // `k` as whole delimited words of `v` (HAProxy's `pat_match_dir`/`_dom` delimiters).
        Match::Dir => delimited(v, k, b"/?"),
        Match::Dom => delimited(v, k, b"/?.:"),
        _ => v == k,
    }
}

/// Whether `k` appears in `v` with a delimiter (or an end) on each side.
fn delimited(v: &[u8], k: &[u8], d: &[u8]) -> bool {
    let start = k.iter().position(|c| !d.contains(c)).unwrap_or(k.len());
    let end = k
        .iter()
        .rposition(|c| !d.contains(c))
        .map_or(start, |i| i + 1);
    let k = &k[start..end];
    if k.is_empty() {
        return false;
    }
    memchr::memmem::find_iter(v, k).any(|i| {
        (i == 0 || d.contains(&v[i - 1])) && (i + k.len() == v.len() || d.contains(&v[i + k.len()]))
    })
}

/// An address or a network in a map key.
struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    fn holds(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.bits as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.bits as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn net(k: &[u8]) -> Option<Net> {
    let s = std::str::from_utf8(k).ok()?;
    let (a, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some(Net { addr, bits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(name: &str, text: &str, default: Option<&str>) -> MapConv {
        let dir = std::env::temp_dir().join(format!("corelb-map-{}-{name}", std::process::id()));
        std::fs::write(&dir, text).unwrap();
        let path = dir.to_str().unwrap().to_string();
        let args: Vec<&str> = match default {
            Some(d) => vec![&path, d],
            None => vec![&path],
        };
        let m = MapConv::parse(name, Some(&args)).unwrap();
        std::fs::remove_file(&dir).unwrap();
        m
    }

    #[test]
    fn file_format_and_exact_keys() {
        let m = map(
            "map",
            "# hosts\n  a.example   be_a  \r\nb.example be_b with spaces\n\na.example be_second\n",
            None,
        );
        assert_eq!(
            m.lookup(Value::Str(b"a.example")).as_deref(),
            Some(&b"be_a"[..])
        );
        assert_eq!(
            m.lookup(Value::Str(b"b.example")).as_deref(),
            Some(&b"be_b with spaces"[..])
        );
        assert_eq!(m.lookup(Value::Str(b"c.example")), None);
        let d = map("map_str", "a x\n", Some("fallback"));
        assert_eq!(
            d.lookup(Value::Str(b"zz")).as_deref(),
            Some(&b"fallback"[..])
        );
    }

    #[test]
    fn list_matches_in_file_order_and_longest_network() {
        let beg = map("map_beg", "/api be_api\n/ be_root\n", None);
        assert_eq!(
            beg.lookup(Value::Str(b"/api/x")).as_deref(),
            Some(&b"be_api"[..])
        );
        assert_eq!(
            beg.lookup(Value::Str(b"/x")).as_deref(),
            Some(&b"be_root"[..])
        );
        let dom = map("map_dom", "example.com d\n", None);
        assert_eq!(
            dom.lookup(Value::Str(b"www.example.com")).as_deref(),
            Some(&b"d"[..])
        );
        assert_eq!(dom.lookup(Value::Str(b"notexample.com")), None);
        let ip = map("map_ip", "10.0.0.0/8 wide\n10.1.0.0/16 narrow\n", None);
        let a = |s: &str| Value::Ip(s.parse().unwrap());
        assert_eq!(ip.lookup(a("10.1.2.3")).as_deref(), Some(&b"narrow"[..]));
        assert_eq!(ip.lookup(a("10.2.0.1")).as_deref(), Some(&b"wide"[..]));
        assert_eq!(ip.lookup(a("192.0.2.1")), None);
        let int = map("map_int", "1 one\n2 two\n", None);
        assert_eq!(int.lookup(Value::Int(2)).as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn errors() {
        assert!(
            MapConv::parse("map", Some(&["/nonexistent/x.map"]))
                .unwrap_err()
                .contains("failed to load map file")
        );
        assert!(
            MapConv::parse("map_regx", Some(&["x"]))
                .unwrap_err()
                .starts_with("unknown converter 'map_regx'")
        );
        assert!(
            MapConv::parse("map", None)
                .unwrap_err()
                .contains("expected type 'string'")
        );
    }
}
