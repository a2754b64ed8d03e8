//! `show stat typed`, as HAProxy 2.6 writes it: one line per non-empty field,
//! `T.iid.sid.pos.name.process:tags:type:value`, with the object type as a letter (`F`,
//! `B`, `S`, `L`) and the tags as three letters (origin, nature, scope).

use super::json::{tags, type_name};
use super::{ObjType, Row, Val};
use std::fmt::Write as _;

/// One row's lines; with `desc`, each ends with the field's description in quotes
/// (`show stat typed desc`).
pub fn row(r: &Row, desc: bool, out: &mut String) {
    let t = match r.obj {
        ObjType::Frontend => 'F',
        ObjType::Backend => 'B',
        ObjType::Server => 'S',
        ObjType::Listener => 'L',
    };
    for (pos, v) in r.v.iter().enumerate() {
        if *v == Val::Empty {
            continue;
        }
        let (name, o, n, s, fmt) = tags(r, pos);
        let _ = write!(
            out,
            "{t}.{}.{}.{pos}.{name}.1:{}{}{}:{}:",
            r.iid,
            r.sid,
            o.tag().1,
            n.tag().1,
            s.tag().1,
            type_name(v, fmt)
        );
        match v {
            Val::Empty => {}
            Val::U(x) => {
                let _ = write!(out, "{x}");
            }
            Val::S(x) => {
                let _ = write!(out, "{x}");
            }
            // HAProxy writes strings as they are; a line break would split the record.
            Val::Str(x) => out.extend(x.chars().map(|c| if c == '\n' { ' ' } else { c })),
        }
        if desc {
            let _ = write!(out, ":\"{}\"", super::desc::DESC[pos]);
        }
        out.push('\n');
    }
}

/// The typed dump of `rows` (`desc`: with the fields' descriptions).
pub fn render<'a>(rows: impl IntoIterator<Item = &'a Row>, desc: bool) -> String {
    let mut out = String::with_capacity(64 * 1024);
    for r in rows {
        row(r, desc, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{ObjType, f};
    use super::*;

    #[test]
    fn one_tagged_line_per_non_empty_field() {
        let mut r = Row::new(ObjType::Server, 0, 3, 2);
        r.v[f::PXNAME] = Val::Str("app".into());
        r.v[f::STOT] = Val::U(5);
        r.v[f::LASTSESS] = Val::S(-1);
        assert_eq!(
            render([&r], false),
            "S.3.2.0.pxname.1:KNS:str:app\nS.3.2.7.stot.1:MCP:u64:5\nS.3.2.55.lastsess.1:MAP:s32:-1\n"
        );
        assert!(
            render([&r], true).starts_with(
                "S.3.2.0.pxname.1:KNS:str:app:\"Proxy name\"\nS.3.2.7.stot.1:MCP:u64:5:\"Total number of sessions since process started\"\n"
            )
        );
    }
}
