//! `show|get|set|add|del|clear map` and `show|get|add|del|clear acl` (HAProxy 2.6's
//! management guide, section 9.3), over the configuration's shared map and ACL files
//! (`acl::patref`): a change is seen by every shard's next lookup. The versioned forms
//! (`@<ver>`, `prepare`/`commit`) are not there yet. HAProxy 2.6 asks for no level: a `user`
//! session may change a map too.

use crate::acl::patref::{self, PatRef, RefEntry};
use std::fmt::Write;
use std::sync::Arc;

/// Which of the two families a command is about.
#[derive(Clone, Copy)]
enum Kind {
    Map,
    Acl,
}

impl Kind {
    fn flag(self) -> u8 {
        match self {
            Kind::Map => patref::MAP,
            Kind::Acl => patref::ACL,
        }
    }

    fn unknown(self) -> String {
        match self {
            Kind::Map => "Unknown map identifier. Please use #<id> or <file>.\n".into(),
            Kind::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n".into(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Acl => "ACL",
        }
    }
}

/// Runs `name` (`show map`, `del acl`, …) with `args`; `payload` is what followed `<<`.
pub fn run(refs: &[Arc<PatRef>], name: &str, args: &[&str], payload: Option<&str>) -> String {
    let (verb, kind) = match name.split_once(' ') {
        Some((v, "map")) => (v, Kind::Map),
        Some((v, _)) => (v, Kind::Acl),
        None => return String::new(),
    };
    if args.first().is_some_and(|a| a.starts_with('@')) {
        return "corelb has no versioned map or ACL updates (@<ver>) yet.\n".into();
    }
    let find = |n: &str| patref::find(refs, n, kind.flag()).ok_or_else(|| kind.unknown());
    let r = match (verb, args.first()) {
        ("show", None) => {
            let mut s = String::from("# id (file) description\n");
            for r in refs.iter().filter(|r| r.is(kind.flag())) {
                s.push_str(&r.describe());
            }
            return s;
        }
        ("show", Some(n)) => find(n).map(|r| show(r, kind)),
        ("get", _) if args.len() < 2 => {
            Ok(format!("Missing {} identifier and/or key.\n", kind.name()))
        }
        ("get", Some(n)) => find(n).map(|r| r.get(args[1].as_bytes())),
        ("clear", None) => Ok(format!("Missing {} identifier.\n", kind.name())),
        ("clear", Some(n)) => find(n).map(|r| {
            reply(r.update(|e| {
                e.clear();
                Ok(())
            }))
        }),
        ("set", _) if args.len() < 3 => {
            Ok("'set map' expects three parameters: map identifier, key and value.\n".into())
        }
        ("set", Some(n)) => find(n).map(|r| set(r, args[1], args[2])),
        ("del", _) if args.len() < 2 => Ok(format!(
            "This command expects two parameters: {} identifier and key.\n",
            kind.name()
        )),
        ("del", Some(n)) => find(n).map(|r| del(r, args[1])),
        ("add", _) => add(refs, kind, args, payload),
        _ => Ok(String::new()),
    };
    r.unwrap_or_else(|e| e)
}

/// A change's answer: nothing, or why nothing changed.
fn reply(r: Result<(), String>) -> String {
    match r {
        Ok(()) => String::new(),
        Err(e) => format!("{}\n", e.trim_end()),
    }
}

/// One line per entry: its id, the key, and a map's value.
fn show(r: &PatRef, kind: Kind) -> String {
    let mut s = String::new();
    for e in r.entries() {
        let _ = write!(s, "0x{:x} {}", e.id, String::from_utf8_lossy(&e.key));
        if let Kind::Map = kind {
            let _ = write!(s, " {}", String::from_utf8_lossy(&e.value));
        }
        s.push('\n');
    }
    s
}

/// `#<ref>`: an entry's id as `show map` prints it; `Err` when not written as one.
fn entry_id(word: &str) -> Option<Result<u64, ()>> {
    let h = word.strip_prefix('#')?;
    let h = h.strip_prefix("0x").unwrap_or(h);
    Some(u64::from_str_radix(h, 16).map_err(drop))
}

fn matching<'a>(e: &'a mut [RefEntry], word: &str) -> Vec<&'a mut RefEntry> {
    match entry_id(word) {
        Some(Ok(id)) => e.iter_mut().filter(|x| x.id == id).collect(),
        Some(Err(())) => Vec::new(),
        None => (e.iter_mut())
            .filter(|x| &x.key[..] == word.as_bytes())
            .collect(),
    }
}

/// `set map M KEY|#REF VALUE`: every entry with the key (or the one entry) takes the value.
fn set(r: &PatRef, which: &str, value: &str) -> String {
    reply(r.update(|e| {
        let hits = matching(e, which);
        if hits.is_empty() {
            // HAProxy 2.6's two words for a miss: by a well-formed id, and otherwise.
            return Err(match entry_id(which) {
                Some(Ok(_)) => "key or pattern not found.".into(),
                _ => "entry not found.".into(),
            });
        }
        for x in hits {
            x.value = value.as_bytes().into();
        }
        Ok(())
    }))
}

/// `del map|acl M KEY|#REF`.
fn del(r: &PatRef, which: &str) -> String {
    reply(r.update(|e| {
        let gone: Vec<u64> = matching(e, which).iter().map(|x| x.id).collect();
        if gone.is_empty() {
            return Err("Key not found.".into());
        }
        e.retain(|x| !gone.contains(&x.id));
        Ok(())
    }))
}

/// `add map M KEY VALUE` (or `add map M` with `KEY VALUE` lines as payload), `add acl A
/// PATTERN`.
fn add(
    refs: &[Arc<PatRef>],
    kind: Kind,
    args: &[&str],
    payload: Option<&str>,
) -> Result<String, String> {
    let usage = match kind {
        Kind::Map if args.len() < 3 && !(args.len() == 1 && payload.is_some()) => {
            "'add map' expects three parameters (map identifier, key and value) or one \
             parameter (map identifier) and a payload\n"
        }
        Kind::Acl if args.len() < 2 => {
            "'add acl' expects two parameters: ACL identifier and pattern.\n"
        }
        _ => "",
    };
    if !usage.is_empty() {
        return Ok(usage.into());
    }
    // HAProxy 2.6 tells about a map file before it checks that an ACL uses it.
    let any = patref::MAP | patref::ACL;
    let r = patref::find(refs, args[0], any)
        .filter(|r| r.is(kind.flag()) || matches!(kind, Kind::Acl) && r.two_columns)
        .ok_or_else(|| kind.unknown())?;
    Ok(match kind {
        Kind::Acl if r.two_columns => "This ACL is shared with a map containing samples. You \
                                       must use the command 'add map' to add values.\n"
            .into(),
        Kind::Acl => reply(r.add(args[1].as_bytes(), b"")),
        Kind::Map if args.len() >= 3 => reply(r.add(args[1].as_bytes(), args[2].as_bytes())),
        Kind::Map => {
            // One `KEY VALUE` a line, all or none.
            // The key is the first word, the value the rest of the line.
            let lines: Vec<(&str, &str)> = (payload.unwrap_or_default().lines())
                .filter_map(|l| {
                    let l = l.trim();
                    let (k, v) = l.split_once([' ', '\t']).unwrap_or((l, ""));
                    (!k.is_empty()).then(|| (k, v.trim_start()))
                })
                .collect();
            reply(r.update(|e| {
                for (k, v) in lines {
                    e.push(patref::entry(k.as_bytes(), v.as_bytes()));
                }
                Ok(())
            }))
        }
    })
}
