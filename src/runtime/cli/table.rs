//! `show table` and `clear table` (HAProxy 2.6's management guide, 9.3): the tables'
//! heads, the entries of one, filtered by one `data.TYPE OP VALUE` or a `key`, in HAProxy's
//! text (`0xADDR: key=K use=N exp=MS type=value ...`).

use crate::config::stick::{DATA_TYPES, DataType};
use crate::stick::{Entry, Table, Tables, now_ms};
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

fn entry(t: &Table, e: &std::sync::Arc<Entry>, now: u64, out: &mut String) {
    let _ = write!(
        out,
        "{:p}: key={} use={} exp={}",
        std::sync::Arc::as_ptr(e),
        e.key,
        e.refs(),
        t.remaining(e, now)
    );
    for &(dt, name) in DATA_TYPES {
        if let Some(v) = t.get(e, dt, now) {
            if dt.is_rate() {
                let _ = write!(out, " {name}({})={v}", t.period(dt));
            } else if dt == DataType::ServerId || dt == DataType::Gpt0 {
                let _ = write!(out, " {name}={}", v as i64);
            } else {
                let _ = write!(out, " {name}={v}");
            }
        }
    }
    out.push('\n');
}

enum Filter {
    All,
    Key(crate::stick::Key),
    Data(DataType, &'static str, i64),
}

fn filter(t: &Table, args: &[&str], clear: bool) -> Result<Filter, String> {
    match args {
        [] => Ok(Filter::All),
        ["key", k] => t
            .parse_key(k)
            .map(Filter::Key)
            .ok_or_else(|| "Invalid key\n".to_string()),
        ["key"] => Err("Key value expected\n".into()),
        [d, rest @ ..] if d.starts_with("data.") => {
            let Some(dt) = DataType::from_name(&d[5..]) else {
                return Err("Filter entry #1: Unknown data type\n".into());
            };
            if !t.stores(dt) {
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
        _ if clear => Err("Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key> or <table> ptr <ptr>\n".into()),
        _ => Err("Optional argument only supports \"data.<store_data_type>\" <operator> <value> or key <key> or ptr <ptr>\n".into()),
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

/// `show table [NAME [data.TYPE OP VALUE | key KEY]]`.
pub fn show(tables: &Tables, args: &[&str]) -> String {
    let mut out = String::new();
    let Some(name) = args.first() else {
        // HAProxy lists the tables by name.
        let mut all: Vec<&Table> = tables.iter().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        for t in all {
            head(t, &mut out);
        }
        return out;
    };
    let Some(t) = tables.by_name(name) else {
        return "No such table\n".into();
    };
    let f = match filter(t, &args[1..], false) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let now = now_ms();
    head(t, &mut out);
    if let Filter::Key(k) = &f {
        if let Some(e) = t.lookup(k, now) {
            entry(t, &e, now, &mut out);
        }
        return out;
    }
    // HAProxy walks its tree in key order.
    let mut es = t.entries();
    es.sort_by(|a, b| a.key.cmp(&b.key));
    for e in es.iter().filter(|e| keep(t, e, &f, now)) {
        entry(t, e, now, &mut out);
    }
    out
}

/// `clear table NAME [data.TYPE OP VALUE | key KEY]`: removes the matching entries no
/// connection uses (all of them without a filter).
pub fn clear(tables: &Tables, args: &[&str]) -> String {
    let Some(name) = args.first() else {
        return "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key> or <table> ptr <ptr>\n".into();
    };
    let Some(t) = tables.by_name(name) else {
        return "No such table\n".into();
    };
    let f = match filter(t, &args[1..], true) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let now = now_ms();
    if let Filter::Key(k) = &f {
        if let Some(e) = t.lookup(k, now)
            && !t.kill(&e)
        {
            return "Entry currently in use, cannot remove\n".into();
        }
        return String::new();
    }
    for e in t.entries().iter().filter(|e| keep(t, e, &f, now)) {
        t.kill(e);
    }
    String::new()
}
