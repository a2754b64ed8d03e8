//! `show table` and `clear table` (HAProxy 2.6's management guide, 9.3): the tables'
//! heads, the entries of one, filtered by one `data.TYPE OP VALUE` or a `key`, in HAProxy's
//! text (`0xADDR: key=K use=N exp=MS type=value ...`).

use crate::config::cli::CliLevel;
use crate::config::stick::{DataType, KeyType};
use crate::config::units::strtol;
use crate::stick::{Entry, Key, Table, Tables, now_ms};
use std::fmt::Write;

fn head(t: &Table, out: &mut String) {
    let _ = writeln!(
        out,
        "# table: {}, type: {}, size:{}, used:{}",
        t.name,
        t.cfg.key.name(),
        t.cfg.size,
        t.used()
    );
}

/// The name of the server a table's `server_id` names, for `server_key=`.
pub type ServerName<'a> = &'a dyn Fn(&Table, u64) -> Option<String>;

fn entry(t: &Table, e: &std::sync::Arc<Entry>, now: u64, names: ServerName, out: &mut String) {
    let _ = write!(
        out,
        "{:p}: key={} use={} exp={}",
        std::sync::Arc::as_ptr(e),
        e.key,
        e.refs(),
        t.remaining(e, now)
    );
    for &(dt, period) in &t.cfg.store {
        let name = dt.name();
        if dt.is_array() {
            // `gpc(2)` prints `gpc0=… gpc1=…`, `gpc_rate(2,10s)` `gpc0_rate(10000)=…`:
            // the index goes before the first '_' (HAProxy's `table_dump_entry_to_buffer`).
            let (pfx, sfx) = name.split_at(name.find('_').unwrap_or(name.len()));
            for i in 0..t.nb(dt) {
                let Some(v) = t.get_at(e, dt, i, now) else {
                    break;
                };
                if dt.is_rate() {
                    let _ = write!(out, " {pfx}{i}{sfx}({period})={v}");
                } else {
                    let _ = write!(out, " {pfx}{i}{sfx}={v}");
                }
            }
        } else if let Some(v) = t.get_at(e, dt, 0, now) {
            if dt.is_rate() {
                let _ = write!(out, " {name}({period})={v}");
            } else if dt == DataType::ServerId || dt == DataType::Gpt0 {
                let _ = write!(out, " {name}={}", v as i64);
            } else {
                let _ = write!(out, " {name}={v}");
            }
        }
    }
    if t.cfg.server_key
        && let Some(n) = t
            .get(e, DataType::ServerId, now)
            .and_then(|id| names(t, id))
    {
        let _ = write!(out, " server_key={n}");
    }
    out.push('\n');
}

/// The key `key K` names, read as HAProxy 2.6's `table_process_entry_per_key` does.
fn cli_key(t: &Table, k: &str) -> Result<crate::stick::Key, String> {
    match t.cfg.key {
        // An IPv4 key is read without checking it (`inetaddr_host`): what is not an
        // address is 0.0.0.0 instead of an error.
        KeyType::Ip => t.parse_key(k).or_else(|| t.parse_key("0.0.0.0")),
        // `strtoul`: leading blanks and a sign, then digits up to the first other byte.
        KeyType::Integer => strtoul_u32(k).map(Key::Int),
        // `inet_pton(AF_INET6)`: an IPv4 address is refused.
        KeyType::Ipv6 => k
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|a| Key::V6(a.octets())),
        _ => t.parse_key(k),
    }
    .ok_or_else(|| "Invalid key\n".to_string())
}

/// C's `strtoul(s, &end, 10)` refused as HAProxy refuses it: no digit, out of range, or
/// above 32 bits (a negative number wraps to a huge one).
fn strtoul_u32(s: &str) -> Option<u32> {
    let c = strtol(s.as_bytes(), 10).filter(|c| !c.overflow)?;
    u32::try_from(c.value).ok()
}

/// HAProxy's `strl2llrc`: an optional '-', then only digits (none reads 0), within 64 bits.
fn strl2llrc(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    digits.bytes().try_fold(0i64, |v, b| {
        let d = (b as char).to_digit(10)? as i64;
        let v = v.checked_mul(10)?;
        if neg {
            v.checked_sub(d)
        } else {
            v.checked_add(d)
        }
    })
}

enum Filter {
    All,
    Key(Key),
    Data(DataType, &'static str, i64),
}

fn filter(t: &Table, args: &[&str], clear: bool, level: CliLevel) -> Result<Filter, String> {
    match args {
        [] => Ok(Filter::All),
        ["key", _] if level < CliLevel::Operator => Err("Permission denied\n".into()),
        ["key", k] => cli_key(t, k).map(Filter::Key),
        ["key"] => Err("Key value expected\n".into()),
        [d, rest @ ..] if d.starts_with("data.") => {
            let Some(dt) = DataType::from_name(&d[5..]) else {
                return Err("Filter entry #1: Unknown data type\n".into());
            };
            if t.nb(dt) == 0 {
                return Err("Filter entry #1: Data type not stored in this table\n".into());
            }
            let op = match rest.first().copied() {
                Some("eq") => "eq",
                Some("ne") => "ne",
                Some("le") => "le",
                Some("ge") => "ge",
                Some("lt") => "lt",
                Some("gt") => "gt",
                _ => {
                    return Err("Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n".into());
                }
            };
            let Some(v) = rest.get(1).and_then(|v| v.parse::<i64>().ok()) else {
                return Err(
                    "Filter entry #1: Require a valid integer value to compare against\n".into(),
                );
            };
            if rest.len() > 2 {
                return Err(format!(
                    "Detected extra data in filter, 6th word of input, after '{}'\n",
                    rest[1]
                ));
            }
            Ok(Filter::Data(dt, op, v))
        }
        _ if clear => Err("Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n".into()),
        _ => Err("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n".into()),
    }
}

fn keep(t: &Table, e: &Entry, f: &Filter, now: u64) -> bool {
    match f {
        Filter::All => true,
        Filter::Key(k) => e.key == *k,
        Filter::Data(dt, op, v) => {
            let Some(x) = t.get(e, *dt, now) else {
                return false;
            };
            let x = x as i64;
            match *op {
                "eq" => x == *v,
                "ne" => x != *v,
                "le" => x <= *v,
                "ge" => x >= *v,
                "lt" => x < *v,
                _ => x > *v,
            }
        }
    }
}

/// `show table [NAME [data.TYPE OP VALUE | key KEY]]`. Below `operator`, HAProxy 2.6 shows
/// a table's head but not its entries, and refuses a `key` look-up.
pub fn show(
    tables: &Tables,
    args: &[&str],
    level: CliLevel,
    names: ServerName,
) -> Result<String, String> {
    let mut out = String::new();
    // What is past its expiry goes now (HAProxy's expiry task runs on time; ours once a
    // second), so that `used:` and the entries shown are exact.
    let now = now_ms();
    for t in tables.iter() {
        t.purge(now);
    }
    let Some(name) = args.first() else {
        // HAProxy lists the tables by name.
        let mut all: Vec<&Table> = tables.iter().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        for t in all {
            head(t, &mut out);
        }
        return Ok(out);
    };
    let Some(t) = tables.by_name(name) else {
        return Err("No such table\n".into());
    };
    let f = filter(t, &args[1..], false, level)?;
    head(t, &mut out);
    if level < CliLevel::Operator {
        out.push_str("# contents not dumped due to insufficient privileges\n");
        return Ok(out);
    }
    if let Filter::Key(k) = &f {
        // A key not in the table: HAProxy 2.6 prints nothing, not even the head.
        return match t.lookup(k, now) {
            Some(e) => {
                entry(t, &e, now, names, &mut out);
                Ok(out)
            }
            None => Ok(String::new()),
        };
    }
    // HAProxy walks its tree in key order.
    let mut es = t.entries();
    es.sort_by(|a, b| a.key.cmp(&b.key));
    for e in es.iter().filter(|e| keep(t, e, &f, now)) {
        entry(t, e, now, names, &mut out);
    }
    Ok(out)
}

/// `clear table NAME [data.TYPE OP VALUE | key KEY]`: removes the matching entries no
/// connection uses (all of them without a filter). Below `operator`, as HAProxy 2.6: a `key`
/// is refused, anything else removes nothing, silently.
pub fn clear(tables: &Tables, args: &[&str], level: CliLevel) -> Result<String, String> {
    let Some(name) = args.first() else {
        return Err("Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n".into());
    };
    let Some(t) = tables.by_name(name) else {
        return Err("No such table\n".into());
    };
    let f = filter(t, &args[1..], true, level)?;
    if level < CliLevel::Operator {
        return Ok(String::new());
    }
    let now = now_ms();
    if let Filter::Key(k) = &f {
        if let Some(e) = t.lookup(k, now)
            && !t.kill(&e)
        {
            return Err("Entry currently in use, cannot remove\n".into());
        }
        return Ok(String::new());
    }
    for e in t.entries().iter().filter(|e| keep(t, e, &f, now)) {
        t.kill(e);
    }
    Ok(String::new())
}

/// `set table NAME key KEY [data.TYPE VALUE]*`: creates the entry if absent, then sets each
/// listed value, as HAProxy 2.6 does: counters keep their width (32 bits but for
/// `bytes_*_cnt`; `server_id` signed), a rate counts VALUE in its current period. Like
/// HAProxy, the pairs apply in order up to the first bad one, which answers an error; the
/// entry and what came before it stay.
pub fn set(tables: &Tables, args: &[&str], level: CliLevel) -> Result<String, String> {
    const USAGE: &str = "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n";
    let Some(name) = args.first() else {
        return Err(USAGE.into());
    };
    let Some(t) = tables.by_name(name) else {
        return Err("No such table\n".into());
    };
    match args.get(1) {
        // HAProxy 2.6's dump handler removes what it walks unless it shows it: `set table
        // NAME` alone is `clear table NAME`.
        None => return clear(tables, args, level),
        Some(&"key") => {}
        Some(d) if d.starts_with("data.") => {
            return Err(
                "content-based lookup is only supported with the \"show\" and \"clear\" actions\n"
                    .into(),
            );
        }
        Some(_) => return Err(USAGE.into()),
    }
    let Some(k) = args.get(2) else {
        return Err("Key value expected\n".into());
    };
    if t.cfg.key == KeyType::Binary {
        return Err("Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n".into());
    }
    let key = cli_key(t, k)?;
    if level < CliLevel::Operator {
        return Err("Permission denied\n".into());
    }
    let now = now_ms();
    let Some(e) = t.get_or_create(&key, now) else {
        return Err("Unable to allocate a new entry\n".into());
    };
    for pair in args[3..].chunks(2) {
        let Some(ty) = pair[0].strip_prefix("data.") else {
            return Err("\"data.<type>\" followed by a value expected\n".into());
        };
        let Some(dt) = DataType::from_name(ty) else {
            return Err("Unknown data type\n".into());
        };
        // Only what the table declares: `gpc0` of a table storing `gpc(N)` is refused, and
        // `gpc` names element 0 (HAProxy's `data_ofs`).
        let server_key = dt == DataType::ServerKey && t.cfg.server_key;
        if t.nb(dt) == 0 && !server_key {
            return Err("Data type not stored in this table\n".into());
        }
        let Some(v) = pair
            .get(1)
            .filter(|v| !v.is_empty())
            .and_then(|v| strl2llrc(v))
        else {
            return Err("Require a valid integer value to store\n".into());
        };
        match dt {
            // A dictionary entry: HAProxy 2.6 sets nothing, silently.
            DataType::ServerKey => {}
            // The previous period is zeroed: the rate reads VALUE, then fades out.
            _ if dt.is_rate() => t.set_rate_raw_at(&e, dt, 0, now as u32, v as u32, 0),
            DataType::BytesInCnt | DataType::BytesOutCnt => {
                t.set_at(&e, dt, 0, v as u64);
            }
            DataType::ServerId => {
                t.set_at(&e, dt, 0, v as i32 as i64 as u64);
            }
            _ => {
                t.set_at(&e, dt, 0, v as u32 as u64);
            }
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick::Trackers;

    const NONAMES: ServerName = &|_, _| None;

    fn tables() -> Tables {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str(
            "t.cfg",
            "defaults\n  mode http\nbackend zz\n  stick-table type ip size 10 expire 1m store gpc0,conn_rate(30s)\n\
             backend aa\n  stick-table type string len 8 size 5\n",
        );
        Tables::new(&p.finish().0.expect("valid"))
    }

    #[test]
    fn set_creates_sets_and_stops_at_the_first_bad_pair() {
        let tb = tables();
        let zz = tb.by_name("zz").unwrap();
        let now = now_ms();
        let gpc0 = |k: &str| {
            zz.lookup(&zz.parse_key(k).unwrap(), now)
                .map(|e| zz.get(&e, DataType::Gpc0, now).unwrap())
        };
        let set = |a: &[&str], l| set(&tb, a, l);
        assert_eq!(
            set(
                &["zz", "key", "10.0.0.1", "data.gpc0", "-1"],
                CliLevel::Operator
            ),
            Ok(String::new())
        );
        assert_eq!(gpc0("10.0.0.1"), Some(u32::MAX as u64), "32 bits wide");
        assert_eq!(
            set(&["zz", "key", "10.0.0.2", "data.gpc0", "1"], CliLevel::User),
            Err("Permission denied\n".into())
        );
        assert_eq!(gpc0("10.0.0.2"), None);
        assert_eq!(
            set(
                &["zz", "key", "10.0.0.3", "data.gpc0", "4", "data.gpt0", "1"],
                CliLevel::Admin
            ),
            Err("Data type not stored in this table\n".into())
        );
        assert_eq!(gpc0("10.0.0.3"), Some(4), "what came before stays");
        assert_eq!(
            set(
                &["zz", "key", "10.0.0.4", "data.gpc0", "+4"],
                CliLevel::Admin
            ),
            Err("Require a valid integer value to store\n".into())
        );
        assert_eq!(
            set(&["zz", "data.gpc0", "4"], CliLevel::Admin),
            Err(
                "content-based lookup is only supported with the \"show\" and \"clear\" actions\n"
                    .into()
            )
        );
        assert_eq!(strl2llrc("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strl2llrc("9223372036854775808"), None);
        assert_eq!(strl2llrc("-"), Some(0));
        assert_eq!(strtoul_u32(" 12x"), Some(12));
        assert_eq!(strtoul_u32("-1"), None);
        assert_eq!(strtoul_u32("4294967296"), None);
        // The table alone: cleared, as HAProxy 2.6 does.
        assert_eq!(set(&["zz"], CliLevel::Admin), Ok(String::new()));
        assert_eq!(zz.used(), 0);
    }

    #[test]
    fn heads_entries_and_filters_in_haproxy_text() {
        let tb = tables();
        assert_eq!(
            show(&tb, &[], CliLevel::Admin, NONAMES).unwrap(),
            "# table: aa, type: string, size:5, used:0\n# table: zz, type: ip, size:10, used:0\n"
        );
        let zz = tb.by_name("zz").unwrap();
        let now = now_ms();
        for k in ["10.0.0.2", "10.0.0.1"] {
            let e = zz.get_or_create(&zz.parse_key(k).unwrap(), now).unwrap();
            zz.add(&e, DataType::Gpc0, 3, now);
        }
        let out = show(&tb, &["zz"], CliLevel::Admin, NONAMES).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# table: zz, type: ip, size:10, used:2");
        assert!(lines[1].contains(": key=10.0.0.1 use=0 exp="), "{out}");
        assert!(lines[1].ends_with(" gpc0=3 conn_rate(30000)=0"), "{out}");
        assert!(lines[2].contains(": key=10.0.0.2 "), "{out}");
        assert_eq!(
            show(
                &tb,
                &["zz", "data.gpc0", "gt", "3"],
                CliLevel::Admin,
                NONAMES
            )
            .unwrap()
            .lines()
            .count(),
            1
        );
        assert_eq!(
            show(&tb, &["zz", "key", "10.0.0.2"], CliLevel::Admin, NONAMES)
                .unwrap()
                .lines()
                .count(),
            2
        );
        assert_eq!(
            show(
                &tb,
                &["zz", "data.foo", "gt", "1"],
                CliLevel::Admin,
                NONAMES
            ),
            Err("Filter entry #1: Unknown data type\n".into())
        );
        assert_eq!(
            show(
                &tb,
                &["zz", "data.gpc1", "gt", "1"],
                CliLevel::Admin,
                NONAMES
            ),
            Err("Filter entry #1: Data type not stored in this table\n".into())
        );
        assert_eq!(
            show(&tb, &["nope"], CliLevel::Admin, NONAMES),
            Err("No such table\n".into())
        );
        // An entry in use stays.
        let trackers = Trackers::new();
        let idx = (0..2)
            .find(|&i| tb.get(i).is_some_and(|t| t.name == "zz"))
            .unwrap();
        trackers.track(0, &tb, idx, &zz.parse_key("10.0.0.1").unwrap(), now);
        assert_eq!(
            clear(&tb, &["zz", "key", "10.0.0.1"], CliLevel::Admin),
            Err("Entry currently in use, cannot remove\n".into())
        );
        assert_eq!(clear(&tb, &["zz"], CliLevel::Admin), Ok(String::new()));
        assert!(
            show(&tb, &["zz"], CliLevel::Admin, NONAMES)
                .unwrap()
                .starts_with("# table: zz, type: ip, size:10, used:1\n")
        );
    }
}
