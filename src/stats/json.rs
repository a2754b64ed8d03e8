//! The typed JSON of the stats (`;json` on the stats page, `show stat json`), as HAProxy
//! 2.6 writes it: an array per row of one object per non-empty field, with the field's
//! position, name, tags and typed value.

use super::{FIELDS, Format, Nature, Origin, Row, Scope, Val};
use std::fmt::Write as _;

/// A JSON string literal.
pub fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Field `pos`'s name, tags and format on row `r`.
pub fn tags(r: &Row, pos: usize) -> (&'static str, Origin, Nature, Scope, Format) {
    let (name, mut o, mut n, s, fmt) = FIELDS[pos];
    // HAProxy tags these as plain gauges on a backend's row.
    if r.obj == super::ObjType::Backend
        && matches!(
            pos,
            super::f::ACT | super::f::BCK | super::f::RATE | super::f::RATE_MAX
        )
    {
        (o, n) = (Origin::Metric, Nature::Gauge);
    }
    (name, o, n, s, fmt)
}

/// A value's HAProxy type name (`u32`, `u64`, `s32`, `str`) for its field's format.
pub fn type_name(v: &Val, fmt: Format) -> &'static str {
    match (v, fmt) {
        (Val::Str(_), _) => "str",
        (Val::S(_), _) | (Val::U(_), Format::S32) => "s32",
        (Val::U(_), Format::U32) => "u32",
        _ => "u64",
    }
}

/// One row's array.
pub fn row(r: &Row, out: &mut String) {
    out.push('[');
    let mut first = true;
    for (pos, v) in r.v.iter().enumerate() {
        if *v == Val::Empty {
            continue;
        }
        let (name, o, n, s, fmt) = tags(r, pos);
        if !first {
            out.push(',');
        }
        first = false;
        let id = match r.obj {
            super::ObjType::Server | super::ObjType::Listener => r.sid,
            _ => 0,
        };
        let _ = write!(
            out,
            "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{id},\"field\":{{\"pos\":{pos},\"name\":\"{name}\"}},\"processNum\":1,\"tags\":{{\"origin\":\"{}\",\"nature\":\"{}\",\"scope\":\"{}\"}},\"value\":{{",
            r.obj.json_name(),
            r.iid,
            o.tag().0,
            n.tag().0,
            s.tag().0,
        );
        let _ = write!(out, "\"type\":\"{}\",\"value\":", type_name(v, fmt));
        match v {
            Val::Str(t) => string(t, out),
            Val::S(x) => {
                let _ = write!(out, "{x}");
            }
            Val::U(x) => {
                let _ = write!(out, "{x}");
            }
            Val::Empty => unreachable!("skipped above"),
        }
        out.push_str("}}");
    }
    out.push(']');
}

/// The JSON of `rows`, one line.
pub fn render<'a>(rows: impl IntoIterator<Item = &'a Row>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push('[');
    for (i, r) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        row(r, &mut out);
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::{ObjType, f};
    use super::*;

    #[test]
    fn fields_are_typed_and_tagged_like_haproxys() {
        let mut r = Row::new(ObjType::Frontend, 0, 2, 0);
        r.v[f::PXNAME] = Val::Str("web".into());
        r.v[f::SCUR] = Val::U(0);
        r.v[f::STOT] = Val::U(11);
        let out = render([&r]);
        // What HAProxy 2.6.12 prints for the same fields (from `curl …/stats;json`).
        assert_eq!(
            out,
            concat!(
                "[[{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"web\"}},",
                "{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":4,\"name\":\"scur\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\",\"value\":0}},",
                "{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":7,\"name\":\"stot\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Counter\",\"scope\":\"Process\"},\"value\":{\"type\":\"u64\",\"value\":11}}]]\n"
            )
        );
        let mut s = String::new();
        string("a\"b\\\n\u{1}", &mut s);
        assert_eq!(s, "\"a\\\"b\\\\\\n\\u0001\"");
    }
}
