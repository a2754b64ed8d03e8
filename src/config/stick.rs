//! `stick-table`, `stick on|match|store-request` and the `track-sc*` / `sc-*` actions, as
//! HAProxy 2.6 defines them (configuration manual 4.2 `stick-table`, `stick`; 4.2
//! `http-request track-sc0`). Pure: words in, the typed model out, errors as strings for
//! `FILE:LINE: `.

use super::units::{parse_size, parse_time};
use crate::acl::FetchExpr;
pub use crate::acl::{DATA_TYPES, DataType, GptValue, MAX_SC, StickAction, TableRef, slot_of};
use std::time::Duration;

/// The key type of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// IPv4 addresses (IPv6 ones that map to IPv4 are converted, others are not stored).
    Ip,
    /// IPv6 addresses (IPv4 ones are stored mapped).
    Ipv6,
    /// 32-bit integers.
    Integer,
    /// Strings of at most `len` bytes (longer ones are truncated).
    String,
    /// Binary blocks of exactly `len` bytes (shorter ones are padded with zeros).
    Binary,
}

impl KeyType {
    /// The name `show table` prints.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Binary => "binary",
        }
    }
}

/// HAProxy's data types corelb does not store (an error names them).
const DATA_NOT_YET: &[&str] = &["server_key"];

/// HAProxy's limit on the elements of an array (`gpc(100)`): a peers update must fit.
const MAX_ARRAY: usize = 100;

/// `stick-table ...` of a frontend, backend or listen section (the table is named after it).
#[derive(Clone, Debug)]
pub struct StickTableCfg {
    pub key: KeyType,
    /// Key length in bytes for `string` (default 32) and `binary` (default 32).
    pub key_len: usize,
    pub size: usize,
    /// `expire`: entries idle longer are removed; `None`: never (only `size` evicts).
    pub expire: Option<Duration>,
    pub nopurge: bool,
    /// `peers NAME`: the section that shares the table (see docs/stick-tables.md, "peers").
    pub peers: Option<String>,
    /// What each entry stores, with the period (ms) of the rates, sorted by type.
    pub store: Vec<(DataType, u32)>,
    /// Used by `stick` rules: `show table` names the stored server (`server_key=NAME`), as
    /// HAProxy 2.6 does for such tables.
    pub server_key: bool,
    /// Elements of the arrays `gpt(N)`, `gpc(N)`, `gpc_rate(N,P)` (0: not stored).
    pub arrays: [u8; 3],
}

impl StickTableCfg {
    /// Elements of `dt` stored: N for an array, 1 for a plain type (if stored at all).
    pub fn nb(&self, dt: DataType) -> usize {
        match dt {
            DataType::Gpt => self.arrays[0] as usize,
            DataType::Gpc => self.arrays[1] as usize,
            DataType::GpcRate => self.arrays[2] as usize,
            _ => self.store.iter().any(|(d, _)| *d == dt) as usize,
        }
    }
}

/// Parses the words after `stick-table`.
pub fn parse_table(w: &[String]) -> Result<StickTableCfg, String> {
    let mut t = StickTableCfg {
        key: KeyType::Ip,
        key_len: 0,
        size: 0,
        expire: None,
        nopurge: false,
        peers: None,
        store: Vec::new(),
        server_key: false,
        arrays: [0; 3],
    };
    let mut typed = false;
    let mut i = 0;
    let val = |i: usize, what: &str| -> Result<&str, String> {
        w.get(i + 1)
            .map(String::as_str)
            .ok_or_else(|| format!("'stick-table': '{what}' expects a value"))
    };
    while i < w.len() {
        match w[i].as_str() {
            "type" => {
                let k = val(i, "type")?;
                t.key = match k {
                    "ip" => KeyType::Ip,
                    "ipv6" => KeyType::Ipv6,
                    "integer" => KeyType::Integer,
                    "string" => KeyType::String,
                    "binary" => KeyType::Binary,
                    o => {
                        return Err(format!(
                            "'stick-table': unknown type '{o}' (ip, ipv6, integer, string or binary)"
                        ));
                    }
                };
                typed = true;
                i += 2;
                if matches!(t.key, KeyType::String | KeyType::Binary) {
                    t.key_len = 32;
                    if w.get(i).map(String::as_str) == Some("len") {
                        let n = val(i, "len")?;
                        t.key_len = match n.parse::<usize>() {
                            Ok(n) if n > 0 => n,
                            _ => return Err(format!("'stick-table': invalid key length '{n}'")),
                        };
                        i += 2;
                    }
                }
                continue;
            }
            "size" => {
                let s = val(i, "size")?;
                t.size =
                    parse_size(s).map_err(|e| format!("'stick-table': size '{s}': {e}"))? as usize;
            }
            "expire" => {
                let s = val(i, "expire")?;
                let d = parse_time(s, Duration::from_millis(1))
                    .map_err(|e| format!("'stick-table': expire '{s}': {e}"))?;
                if d.as_millis() > i32::MAX as u128 {
                    return Err(format!("'stick-table': expire '{s}' is too large"));
                }
                t.expire = Some(d);
            }
            "nopurge" => {
                t.nopurge = true;
                i += 1;
                continue;
            }
            "peers" => t.peers = Some(val(i, "peers")?.to_string()),
            "store" => {
                let list = val(i, "store")?;
                // Commas separate the types, except inside `gpc_rate(2,10s)`.
                let mut items = Vec::new();
                let (mut depth, mut from) = (0i32, 0);
                for (j, c) in list.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        ',' if depth == 0 => {
                            items.push(&list[from..j]);
                            from = j + 1;
                        }
                        _ => {}
                    }
                }
                items.push(&list[from..]);
                for item in items {
                    let (name, period) = match item.split_once('(') {
                        Some((n, rest)) => (
                            n,
                            Some(rest.strip_suffix(')').ok_or_else(|| {
                                format!("'stick-table': missing ')' in '{item}'")
                            })?),
                        ),
                        None => (item, None),
                    };
                    if DATA_NOT_YET.contains(&name) {
                        return Err(format!(
                            "'stick-table': data type '{name}' is not supported yet"
                        ));
                    }
                    let Some(dt) = DataType::from_name(name) else {
                        return Err(format!(
                            "'stick-table': unknown data type '{name}'{}",
                            super::keywords::hint(name, DATA_TYPES.iter().map(|(_, n)| *n))
                        ));
                    };
                    if dt.is_array() {
                        // gpc(N), gpt(N), gpc_rate(N,PERIOD)
                        let args: Vec<&str> = period.map_or(vec![], |p| p.split(',').collect());
                        let (n, p) = match (dt.is_rate(), &args[..]) {
                            (false, [n]) => (n, None),
                            (true, [n, p]) => (n, Some(*p)),
                            (_, []) | (true, [_]) => {
                                return Err(format!(
                                    "'stick-table': missing argument to store option '{name}'{}",
                                    if dt.is_rate() {
                                        " (as 'gpc_rate(2,10s)')"
                                    } else {
                                        " (as 'gpc(2)')"
                                    }
                                ));
                            }
                            _ => {
                                return Err(format!(
                                    "'stick-table': unexpected argument to store option '{name}'"
                                ));
                            }
                        };
                        let n = match n.trim().parse::<usize>() {
                            Ok(n) if (1..=MAX_ARRAY).contains(&n) => n,
                            _ => {
                                return Err(format!(
                                    "'stick-table': array size is out of allowed range (1-{MAX_ARRAY}) for store option '{name}'"
                                ));
                            }
                        };
                        let ms = match p {
                            Some(p) => {
                                let d = parse_time(p, Duration::from_millis(1))
                                    .map_err(|e| format!("'stick-table': '{item}': {e}"))?;
                                let ms = d.as_millis();
                                if ms == 0 || ms > i32::MAX as u128 {
                                    return Err(format!("'stick-table': '{item}': invalid period"));
                                }
                                ms as u32
                            }
                            None => 0,
                        };
                        let a = &mut t.arrays[dt as usize - DataType::Gpt as usize];
                        // HAProxy warns and keeps the first declaration.
                        if *a == 0 {
                            *a = n as u8;
                            t.store.push((dt, ms));
                        }
                        continue;
                    }
                    let period = match (dt.is_rate(), period) {
                        (true, Some(p)) => {
                            let d = parse_time(p, Duration::from_millis(1))
                                .map_err(|e| format!("'stick-table': '{item}': {e}"))?;
                            let ms = d.as_millis();
                            if ms == 0 || ms > i32::MAX as u128 {
                                return Err(format!("'stick-table': '{item}': invalid period"));
                            }
                            ms as u32
                        }
                        (true, None) => {
                            return Err(format!(
                                "'stick-table': data type '{name}' expects a period, as '{name}(10s)'"
                            ));
                        }
                        (false, Some(_)) => {
                            return Err(format!(
                                "'stick-table': data type '{name}' takes no argument"
                            ));
                        }
                        (false, None) => 0,
                    };
                    t.store.retain(|(d, _)| *d != dt);
                    t.store.push((dt, period));
                }
            }
            "srvkey" | "write-to" | "recv-only" => {
                return Err(format!("'stick-table': '{}' is not supported yet", w[i]));
            }
            o => {
                return Err(format!(
                    "'stick-table': unknown argument '{o}' (type, size, expire, nopurge, peers, store)"
                ));
            }
        }
        i += 2;
    }
    for (array, legacy) in [
        (DataType::Gpc, &[DataType::Gpc0, DataType::Gpc1][..]),
        (
            DataType::GpcRate,
            &[DataType::Gpc0Rate, DataType::Gpc1Rate][..],
        ),
        (DataType::Gpt, &[DataType::Gpt0][..]),
    ] {
        let has = |d: DataType| t.store.iter().any(|(x, _)| *x == d);
        if has(array) && legacy.iter().any(|&d| has(d)) {
            let (a, l) = match array {
                DataType::Gpc => ("gpc", "gpc[0/1]"),
                DataType::GpcRate => ("gpc_rate", "gpc[0/1]_rate"),
                _ => ("gpt", "gpt0"),
            };
            return Err(format!(
                "'stick-table': simultaneous usage of '{a}' and '{l}' in a same table is not permitted as '{a}' overrides '{l}'"
            ));
        }
    }
    if !typed {
        return Err("'stick-table': missing 'type'".into());
    }
    if t.size == 0 {
        return Err("'stick-table': missing or null 'size'".into());
    }
    t.store.sort_by_key(|(d, _)| *d);
    Ok(t)
}

/// `stick on|match|store-request PATTERN [table T] [if|unless COND]` of a backend.
#[derive(Clone, Debug)]
pub struct StickRule {
    pub matches: bool,
    pub stores: bool,
    pub expr: FetchExpr,
    pub table: TableRef,
    pub cond: Option<crate::acl::Cond>,
    pub loc: super::diag::Loc,
}

/// Splits `PATTERN [table T]` (the words before any `if`/`unless`): the pattern and the
/// table name if given.
pub fn pattern_and_table<'a>(
    what: &str,
    w: &'a [String],
) -> Result<(&'a str, Option<&'a str>), String> {
    match w {
        [p] => Ok((p, None)),
        [p, t, name] if t == "table" => Ok((p, Some(name))),
        [] => Err(format!("'{what}' expects a pattern")),
        [_, t] if t == "table" => Err(format!("'{what}': 'table' expects a table name")),
        [_, o, ..] => Err(format!(
            "'{what}': unexpected argument '{o}' (expected 'table', 'if' or 'unless')"
        )),
    }
}

/// Whether `action` is one of the stick actions [`parse_action`] knows.
pub fn is_action(action: &str) -> bool {
    action.starts_with("track-sc")
        || action.starts_with("sc-inc-gpc")
        || action.starts_with("sc-set-gpt")
}

/// `sc-inc-gpc(IDX,SC)`, `sc-set-gpt(IDX,SC)`: the index (any integer, as HAProxy takes
/// it: one past the array does nothing) and the stick counter, with HAProxy 2.6's wording.
fn idx_and_slot(kw: &str, action: &str, arg: Option<&str>) -> Result<(u32, usize), String> {
    let what = if action.starts_with("sc-inc") {
        "sc-inc-gpc(<GPC ID>,<Track ID>)"
    } else {
        "sc-set-gpt(<GPT ID>,<Track ID>)"
    };
    let id = if action.starts_with("sc-inc") {
        "gpc"
    } else {
        "gpt"
    };
    let Some(arg) = arg else {
        return Err(format!(
            "'{kw}': invalid {id} ID '{action}'. Expects {what}"
        ));
    };
    let (i, n) = match arg.split_once(',') {
        Some((i, n)) => (i.trim().parse::<i64>().ok(), n),
        None => (None, ""),
    };
    let Some(i) = i else {
        return Err(format!(
            "'{kw}': missing {id} ID '{action}'. Expects {what}"
        ));
    };
    let slot = n
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n < MAX_SC)
        .ok_or_else(|| {
            format!(
                "'{kw}': invalid stick table track ID '{action}'. The max allowed ID is {}",
                MAX_SC - 1
            )
        })?;
    Ok((u32::try_from(i).unwrap_or(u32::MAX), slot))
}

fn gpt_value(kw: &str, w: &[String], proxy: &str) -> Result<GptValue, String> {
    let v = match w {
        [_, v] => v,
        [_] => return Err(format!("'{kw}' expects an integer or a sample expression")),
        [_, _, o, ..] => {
            return Err(format!(
                "'{kw}' expects either 'if' or 'unless' followed by a condition but found '{o}'"
            ));
        }
        [] => unreachable!("the action word"),
    };
    Ok(match v.parse::<i64>() {
        Ok(i) => GptValue::Int(i),
        Err(_) => GptValue::Expr(FetchExpr::parse(v, proxy).map_err(|e| format!("'{kw}': {e}"))?),
    })
}

/// Parses a stick action: `w` holds the action word and its arguments, up to any
/// `if`/`unless`; `rule` is `http-request` and the like, for messages; `proxy` the current
/// proxy (whose table is the default).
pub fn parse_action(rule: &str, w: &[String], proxy: &str) -> Result<StickAction, String> {
    let action = w[0].as_str();
    let kw = format!("{rule} {action}");
    if let Some(n) = action.strip_prefix("track-sc") {
        let slot = slot_of(&kw, n)?;
        let (pattern, table) = pattern_and_table(&kw, &w[1..])?;
        let key = FetchExpr::parse(pattern, proxy).map_err(|e| format!("'{kw}': {e}"))?;
        return Ok(StickAction::Track {
            slot,
            key,
            table: TableRef {
                name: table.unwrap_or(proxy).to_string(),
                index: usize::MAX,
            },
        });
    }
    if action.starts_with("sc-inc-gpc(")
        || action.starts_with("sc-set-gpt(")
        || action == "sc-inc-gpc"
        || action == "sc-set-gpt"
    {
        let arg = action
            .split_once('(')
            .and_then(|(_, r)| r.strip_suffix(')'));
        let (idx, slot) = idx_and_slot(&kw, action, arg)?;
        if action.starts_with("sc-inc") {
            if let Some(o) = w.get(1) {
                return Err(format!(
                    "'{kw}' expects either 'if' or 'unless' followed by a condition but found '{o}'"
                ));
            }
            return Ok(StickAction::IncGpcAt { idx, slot });
        }
        let value = gpt_value(&kw, w, proxy)?;
        return Ok(StickAction::SetGptAt { idx, slot, value });
    }
    let (name, arg) = match action.split_once('(') {
        Some((n, rest)) => (
            n,
            rest.strip_suffix(')')
                .ok_or_else(|| format!("'{kw}': missing ')'"))?,
        ),
        None => {
            return Err(format!(
                "'{kw}': expects a stick counter number, as '{action}(0)'"
            ));
        }
    };
    let slot = slot_of(&kw, arg)?;
    match name {
        "sc-inc-gpc0" | "sc-inc-gpc1" => {
            if w.len() > 1 {
                return Err(format!("'{kw}': unexpected argument '{}'", w[1]));
            }
            Ok(StickAction::IncGpc {
                slot,
                gpc1: name.ends_with('1'),
            })
        }
        "sc-set-gpt0" => Ok(StickAction::SetGpt0 {
            slot,
            value: gpt_value(&kw, w, proxy)?,
        }),
        _ => Err(format!("'{kw}' is not supported yet")),
    }
}

/// Parses `stick on|match|store-request PATTERN [table T] [if|unless COND]`; the condition
/// is parsed by the caller (it needs the proxy's ACLs): `cond_at` is where it starts.
pub fn parse_rule(
    w: &[String],
    cond_at: usize,
    proxy: &str,
) -> Result<(bool, bool, FetchExpr, TableRef), String> {
    let (matches, stores) = match w.get(1).map(String::as_str) {
        Some("on") => (true, true),
        Some("match") => (true, false),
        Some("store-request") => (false, true),
        Some("store-response") => {
            return Err("'stick store-response' is not supported yet".into());
        }
        Some(o) => {
            return Err(format!(
                "'stick': unknown rule '{o}' (on, match or store-request)"
            ));
        }
        None => return Err("'stick' expects on, match or store-request".into()),
    };
    let what = format!("stick {}", w[1]);
    let (pattern, table) = pattern_and_table(&what, &w[2..cond_at])?;
    let expr = FetchExpr::parse(pattern, proxy).map_err(|e| format!("'{what}': {e}"))?;
    Ok((
        matches,
        stores,
        expr,
        TableRef {
            name: table.unwrap_or(proxy).to_string(),
            index: usize::MAX,
        },
    ))
}

/// After parsing: each table a rule names is resolved to its proxy, and a table that `stick`
/// rules use stores `server_id` (HAProxy adds it itself).
pub fn resolve(cfg: &mut super::Config, d: &mut super::Diags) {
    // The proxies' tables, then the `peers` sections' (`SECTION/TABLE`), as `stick::Tables`
    // numbers them.
    let tables: Vec<(String, bool)> = cfg
        .proxies
        .iter()
        .map(|p| (p.name.clone(), p.stick_table.is_some()))
        .chain(super::peers::section_tables(cfg).map(|(n, _)| (n, true)))
        .collect();
    let lookup = |t: &mut TableRef, loc: &super::Loc, d: &mut super::Diags| match tables
        .iter()
        .position(|(n, has)| *has && *n == t.name)
    {
        Some(i) => t.index = i,
        None => d.error(
            loc,
            format!(
                "no stick-table named '{}'{}",
                t.name,
                if tables.iter().any(|(n, _)| *n == t.name) {
                    " (that proxy declares no stick-table)"
                } else {
                    ""
                }
            ),
        ),
    };
    let mut need_server_id = Vec::new();
    for px in &mut cfg.proxies {
        for r in px
            .http_request
            .iter_mut()
            .chain(px.http_response.iter_mut())
            .chain(px.http_after_response.iter_mut())
        {
            if let super::HttpAction::Stick(StickAction::Track { table, .. }) = &mut r.action {
                lookup(table, &r.loc, d);
            }
        }
        let t = &mut px.tcp_request;
        for r in t
            .connection
            .iter_mut()
            .chain(t.session.iter_mut())
            .chain(t.content.iter_mut())
        {
            if let super::TcpAction::Stick(StickAction::Track { table, .. }) = &mut r.action {
                lookup(table, &r.loc, d);
            }
        }
        for r in &mut px.stick_rules {
            lookup(&mut r.table, &r.loc, d);
            if r.table.index != usize::MAX {
                need_server_id.push(r.table.index);
            }
        }
    }
    let n = cfg.proxies.len();
    for i in need_server_id {
        let t = if i < n {
            cfg.proxies[i].stick_table.as_mut()
        } else {
            cfg.peers
                .iter_mut()
                .flat_map(|s| s.tables.iter_mut().map(|(_, t, _)| t))
                .nth(i - n)
        };
        if let Some(t) = t {
            t.server_key = true;
            if !t.store.iter().any(|(dt, _)| *dt == DataType::ServerId) {
                t.store.insert(0, (DataType::ServerId, 0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn haproxy_defaults_and_store() {
        let t = parse_table(&words(
            "type ip size 100k expire 10s store http_req_rate(10s),conn_cur,gpc0",
        ))
        .unwrap();
        assert_eq!(t.key, KeyType::Ip);
        assert_eq!(t.size, 102_400);
        assert_eq!(t.expire, Some(Duration::from_secs(10)));
        assert_eq!(
            t.store,
            vec![
                (DataType::Gpc0, 0),
                (DataType::ConnCur, 0),
                (DataType::HttpReqRate, 10_000)
            ]
        );
        let s = parse_table(&words("type string len 64 size 10 nopurge")).unwrap();
        assert_eq!((s.key, s.key_len, s.nopurge), (KeyType::String, 64, true));
        assert_eq!(
            parse_table(&words("type binary size 1")).unwrap().key_len,
            32
        );
    }

    #[test]
    fn errors_name_the_problem() {
        for (line, want) in [
            ("size 10", "missing 'type'"),
            ("type ip", "missing or null 'size'"),
            ("type ipv4 size 1", "unknown type 'ipv4'"),
            ("type ip size 1 store http_req_rate", "expects a period"),
            ("type ip size 1 store gpc0(1s)", "takes no argument"),
            (
                "type ip size 1 store http_req_rat(1s)",
                "did you mean 'http_req_rate'",
            ),
            (
                "type ip size 1 store gpc",
                "missing argument to store option 'gpc'",
            ),
            (
                "type ip size 1 store gpc(0)",
                "out of allowed range (1-100)",
            ),
            ("type ip size 1 store gpc_rate(2)", "missing argument"),
            ("type ip size 1 store gpc(2,1s)", "unexpected argument"),
            (
                "type ip size 1 store gpc(2),gpc0",
                "simultaneous usage of 'gpc'",
            ),
            ("type ip size 1 store gpt0,gpt(1)", "'gpt' overrides 'gpt0'"),
            ("type ip size 1 store server_key", "not supported yet"),
            ("type ip size 1 store http_fail_rate", "expects a period"),
            ("type ip size 1 expire", "'expire' expects a value"),
            ("type ip size 1 foo 2", "unknown argument 'foo'"),
        ] {
            let e = parse_table(&words(line)).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
