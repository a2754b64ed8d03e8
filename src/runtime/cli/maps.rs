//! `show|get|set|add|del|clear|prepare|commit map` and the same for `acl` (HAProxy 2.6's
//! management guide, section 9.3), over the configuration's shared map and ACL files
//! (`acl::patref`): a change is seen by every shard's next lookup. `prepare` makes a
//! version that `add|show|clear @<ver>` fill and read while lookups keep the current one,
//! until `commit @<ver>` swaps it in. HAProxy 2.6 asks for no level: a `user` session may
//! change a map too.

use super::commands::Answer;
use crate::acl::patref::{self, CommitError, PatRef, RefEntry};
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

    fn unknown(self) -> Answer {
        Answer::err(match self {
            Kind::Map => "Unknown map identifier. Please use #<id> or <file>.\n",
            Kind::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n",
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Acl => "ACL",
        }
    }
}

/// `@<ver>` as HAProxy 2.6 reads it (`str2uic`): the leading digits, 0 without any.
fn version(word: &str) -> u32 {
    (word.bytes())
        .take_while(u8::is_ascii_digit)
        .fold(0u32, |n, d| {
            n.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
        })
}

/// The reference `name` names among those with `flag`: `#<id>` as HAProxy 2.6 reads the id
/// (`strtol` to the end of the word: `#` alone is 0, `#2x` nothing), else a file.
fn lookup<'a>(refs: &'a [Arc<PatRef>], name: &str, flag: u8) -> Option<&'a Arc<PatRef>> {
    let Some(n) = name.strip_prefix('#') else {
        return patref::find(refs, name, flag);
    };
    let id = match crate::config::units::strtol(n.as_bytes(), 10) {
        None if n.is_empty() => 0,
        Some(c) if c.used == n.len() => c.value,
        _ => return None,
    };
    let id = u32::try_from(id).ok()?;
    patref::find(refs, &format!("#{id}"), flag)
}

/// Runs `name` (`show map`, `del acl`, …) with `args`; `payload` is what followed `<<`.
pub fn run(refs: &[Arc<PatRef>], name: &str, args: &[&str], payload: Option<&str>) -> Answer {
    let (verb, kind) = match name.split_once(' ') {
        Some((v, "map")) => (v, Kind::Map),
        Some((v, _)) => (v, Kind::Acl),
        None => return Answer::data(""),
    };
    // `show`, `add` and `clear` take an optional `@<ver>` before the file; `commit` needs
    // one; the others read it as the file's name.
    let (ver, args) = match (verb, args.split_first()) {
        ("show" | "add" | "clear" | "commit", Some((v, rest))) if v.starts_with('@') => {
            (Some(version(&v[1..])), rest)
        }
        _ => (None, args),
    };
    let find = |n: &str| lookup(refs, n, kind.flag()).ok_or_else(|| kind.unknown());
    let r = match (verb, args.first()) {
        ("commit", _) if ver.is_none() => Err(Answer::err("Missing version number.\n")),
        ("show", None) if ver.is_some() => Err(kind.unknown()),
        ("show", None) => {
            let mut s = String::from("# id (file) description\n");
            for r in refs.iter().filter(|r| r.is(kind.flag())) {
                s.push_str(&r.describe());
            }
            return Answer::data(s);
        }
        ("show", Some(n)) => find(n).map(|r| Answer::data(show(r, kind, ver))),
        ("get", _) if args.len() < 2 => Err(Answer::err(format!(
            "Missing {} identifier and/or key.\n",
            kind.name()
        ))),
        ("get", Some(n)) => find(n).map(|r| Answer::data(r.get(args[1].as_bytes()))),
        ("clear" | "commit", None) => Err(Answer::err(format!(
            "Missing {} identifier.\n",
            kind.name()
        ))),
        ("clear", Some(n)) => find(n).map(|r| {
            let clear = |e: &mut Vec<RefEntry>| {
                e.clear();
                Ok(())
            };
            reply(match ver {
                Some(v) => r.update_at(v, clear),
                None => r.update(clear),
            })
        }),
        ("commit", Some(n)) => find(n).map(|r| match r.commit(ver.unwrap_or_default()) {
            Ok(()) => Answer::data(""),
            Err(CommitError::OutOfRange) => Answer::err("Version number out of range.\n"),
            Err(CommitError::Build(e)) => reply(Err(e)),
        }),
        ("prepare", _) => find(args.first().copied().unwrap_or_default()).map(|r| {
            Answer::msg(
                crate::log::syslog::INFO,
                format!("New version created: {}\n", r.prepare()),
            )
        }),
        ("set", _) if args.len() < 3 => Err(Answer::err(
            "'set map' expects three parameters: map identifier, key and value.\n",
        )),
        ("set", Some(n)) => find(n).map(|r| set(r, args[1], args[2])),
        ("del", _) if args.len() < 2 => Err(Answer::err(format!(
            "This command expects two parameters: {} identifier and key.\n",
            kind.name()
        ))),
        ("del", Some(n)) => find(n).map(|r| del(r, args[1])),
        ("add", _) => add(refs, kind, ver, args, payload),
        _ => Ok(Answer::data("")),
    };
    r.unwrap_or_else(|e| e)
}

/// A change's answer: nothing, or why nothing changed.
fn reply(r: Result<(), String>) -> Answer {
    match r {
        Ok(()) => Answer::data(""),
        Err(e) => Answer::err(format!("{}\n", e.trim_end())),
    }
}

/// One line per entry of version `ver` (the current one without): its id, the key, and a
/// map's value.
fn show(r: &PatRef, kind: Kind, ver: Option<u32>) -> String {
    let mut s = String::new();
    let entries = match ver {
        Some(v) => r.entries_at(v),
        None => r.entries(),
    };
    for e in entries {
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

/// `set map M KEY|#REF VALUE`: every entry with the key (or the one entry), in every
/// version as in HAProxy 2.6, takes the value.
fn set(r: &PatRef, which: &str, value: &str) -> Answer {
    let n = r.update_all(|e| {
        let hits = matching(e, which);
        let n = hits.len();
        for x in hits {
            x.value = value.as_bytes().into();
        }
        n
    });
    match n {
        // HAProxy 2.6's two words for a miss: by a well-formed id, and otherwise.
        Ok(0) => Answer::err(match entry_id(which) {
            Some(Ok(_)) => "key or pattern not found.\n",
            _ => "entry not found.\n",
        }),
        Ok(_) => Answer::data(""),
        Err(e) => reply(Err(e)),
    }
}

/// `del map|acl M KEY|#REF`, in every version as in HAProxy 2.6.
fn del(r: &PatRef, which: &str) -> Answer {
    let n = r.update_all(|e| {
        let gone: Vec<u64> = matching(e, which).iter().map(|x| x.id).collect();
        e.retain(|x| !gone.contains(&x.id));
        gone.len()
    });
    match n {
        Ok(0) => Answer::err("Key not found.\n"),
        Ok(_) => Answer::data(""),
        Err(e) => reply(Err(e)),
    }
}

/// `add map [@VER] M KEY VALUE` (or `add map [@VER] M` with `KEY VALUE` lines as payload),
/// `add acl [@VER] A PATTERN`.
fn add(
    refs: &[Arc<PatRef>],
    kind: Kind,
    ver: Option<u32>,
    args: &[&str],
    payload: Option<&str>,
) -> Result<Answer, Answer> {
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
        return Err(Answer::err(usage));
    }
    // HAProxy 2.6 looks among every reference: `add map` adds to an ACL's too (the key is
    // the pattern), and `add acl` tells about a map file before it checks that an ACL uses it.
    let any = patref::MAP | patref::ACL;
    let r = lookup(refs, args[0], any).ok_or_else(|| kind.unknown())?;
    if ver.is_some_and(|v| r.in_future(v)) {
        return Err(Answer::err(format!(
            "Version number in the future, please use 'prepare {}' before.\n",
            kind.name().to_ascii_lowercase()
        )));
    }
    if let Kind::Acl = kind
        && r.two_columns
    {
        return Err(Answer::err(
            "This ACL is shared with a map containing samples. You must use the command \
             'add map' to add values.\n",
        ));
    }
    // One `KEY VALUE` a line, all or none: the key is the first word, the value the rest
    // of the line.
    let lines: Vec<(&str, &str)> = match (kind, args) {
        (Kind::Acl, [_, pattern, ..]) => vec![(pattern, "")],
        (Kind::Map, [_, k, v, ..]) => vec![(k, v)],
        _ => (payload.unwrap_or_default().lines())
            .filter_map(|l| {
                let l = l.trim();
                let (k, v) = l.split_once([' ', '\t']).unwrap_or((l, ""));
                (!k.is_empty()).then(|| (k, v.trim_start()))
            })
            .collect(),
    };
    let push = |e: &mut Vec<RefEntry>| {
        for (k, v) in lines {
            e.push(patref::entry(k.as_bytes(), v.as_bytes()));
        }
        Ok(())
    };
    // HAProxy ends the pattern parser's message with a period.
    let done = match ver {
        Some(v) => r.update_at(v, push),
        None => r.update(push),
    };
    Ok(reply(done.map_err(|e| format!("{}.", e.trim_end()))))
}
