//! Pattern references (HAProxy's `pat_ref`): the entries of one map file or ACL `-f` file,
//! shared by every `map*` converter and ACL that names the file, and changed at run time by
//! the stats socket (`add map`, `del acl`, …) and by `set-map`/`del-map`/`add-acl`/`del-acl`
//! rules.
//!
//! Who owns what: one [`PatRef`] per file per configuration generation, in the
//! configuration (`Config::pat_refs`), so every shard holds the same one. Each user (a
//! converter, an ACL expression) keeps its compiled index behind an `ArcSwap`. A writer
//! takes the reference's mutex, builds every user's index from the new entry list (the
//! change is refused, and nothing changes, when one does not compile) and then stores them;
//! a reader only loads the pointer, without a lock, so the next lookup on any shard sees
//! the change once the writer returns. Chosen over per-shard copies updated by message: one
//! copy of a large map instead of one per core, and no window in which shards disagree
//! after the CLI answered. The cost is on the writer: a change rebuilds the indexes
//! (linear in the entries), as HAProxy's `prepare`/`commit` versions would.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::Sample;
use super::logformat::LogFormat;

/// One entry: a map's key and value, or an ACL's pattern (the key, without a value).
#[derive(Clone, Debug)]
pub struct RefEntry {
    /// What `show map` prints as `0x…` and `#<ref>` names.
    pub id: u64,
    pub key: Box<[u8]>,
    pub value: Box<[u8]>,
    /// The file's line, 0 when added at run time (for parse-time errors).
    pub line: u32,
}

/// A line read from a file: key, value (empty for an ACL file) and line number.
pub type FileLine = (Box<[u8]>, Box<[u8]>, u32);

/// A compiled view of a reference's entries (one per converter or ACL expression).
pub(crate) trait Index: Send + Sync {
    /// The index for `entries`, or why one of them does not compile.
    fn build(&self, file: &str, entries: &[RefEntry]) -> Result<Box<dyn Any + Send>, String>;
    /// Makes a result of `build` the one lookups see.
    fn store(&self, built: Box<dyn Any + Send>);
    /// The `get map`/`get acl` line for `value`.
    fn get(&self, entries: &[RefEntry], value: &[u8]) -> String;
}

/// Used by a map converter (`show map` lists it).
pub const MAP: u8 = 1;
/// Used by an ACL (`show acl` lists it).
pub const ACL: u8 = 2;

/// One file's entries and the indexes built from them.
pub struct PatRef {
    /// `#<id>` on the stats socket, in the order the configuration made them.
    pub id: u32,
    pub file: Box<str>,
    /// Read as `KEY VALUE` lines (maps, `-M` ACLs) rather than one pattern a line.
    pub two_columns: bool,
    flags: AtomicU8,
    state: Mutex<State>,
}

struct State {
    /// `show map`'s description: which lines use the file.
    desc: String,
    entries: Vec<RefEntry>,
    users: Vec<Arc<dyn Index>>,
}

impl std::fmt::Debug for PatRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatRef(#{} {})", self.id, self.file)
    }
}

/// Entry ids, unique in the process (HAProxy prints its entries' addresses).
static NEXT_ID: AtomicU64 = AtomicU64::new(0x5600_0000_1000);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(0x50, Ordering::Relaxed)
}

impl PatRef {
    fn new(id: u32, file: &str, two_columns: bool, desc: String, entries: Vec<FileLine>) -> Self {
        let entries = (entries.into_iter())
            .map(|(key, value, line)| RefEntry {
                id: next_id(),
                key,
                value,
                line,
            })
            .collect();
        PatRef {
            id,
            file: file.into(),
            two_columns,
            flags: AtomicU8::new(0),
            state: Mutex::new(State {
                desc,
                entries,
                users: Vec::new(),
            }),
        }
    }

    /// Whether a map converter (`MAP`) or an ACL (`ACL`) uses the file.
    pub fn is(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking writer left the entries as they were (it changes them last).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `user`, built from the current entries; `Err` when they do not compile for it.
    pub(crate) fn attach(&self, flag: u8, user: Arc<dyn Index>) -> Result<(), String> {
        let mut st = self.state();
        user.store(user.build(&self.file, &st.entries)?);
        st.users.push(user);
        self.flags.fetch_or(flag, Ordering::Relaxed);
        Ok(())
    }

    /// `show map`'s line for this file.
    pub fn describe(&self) -> String {
        let st = self.state();
        format!(
            "{} ({}) {}. curr_ver=0 next_ver=0 entry_cnt={}\n",
            self.id,
            self.file,
            st.desc,
            st.entries.len()
        )
    }

    /// A copy of the entries, in order.
    pub fn entries(&self) -> Vec<RefEntry> {
        self.state().entries.clone()
    }

    /// One `get map`/`get acl` line per user of the file.
    pub fn get(&self, value: &[u8]) -> String {
        let st = self.state();
        (st.users.iter())
            .map(|u| u.get(&st.entries, value) + "\n")
            .collect()
    }

    /// Applies `change` to a copy of the entries; when every user's index builds from the
    /// result, installs it. `change`'s own error (nothing to change) leaves all as it was.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<RefEntry>) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut st = self.state();
        let mut entries = st.entries.clone();
        let out = change(&mut entries)?;
        let built = (st.users.iter())
            .map(|u| u.build(&self.file, &entries))
            .collect::<Result<Vec<_>, _>>()?;
        for (u, b) in st.users.iter().zip(built) {
            u.store(b);
        }
        st.entries = entries;
        Ok(out)
    }

    /// Appends an entry.
    pub fn add(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.update(|e| {
            e.push(entry(key, value));
            Ok(())
        })
    }
}

/// What the rules of `set-map`, `del-map`, `add-acl` and `del-acl` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatOp {
    /// Every entry with the key takes the value; without one, the entry is added.
    SetMap,
    /// Entries with the key go.
    DelMap,
    /// The pattern is added unless it is there.
    AddAcl,
    /// Entries with the pattern go.
    DelAcl,
}

/// The file a rule names, found once the whole configuration is read (a converter or an
/// ACL after the rule may be what loads it). Empty when nothing loads it: the rule then
/// does nothing, as in HAProxy 2.6.
#[derive(Clone, Debug)]
pub struct PatSlot {
    pub file: Box<str>,
    r: Arc<OnceLock<Arc<PatRef>>>,
}

/// `http-request|http-response set-map(FILE) KEY VALUE` and the others.
#[derive(Clone, Debug)]
pub struct PatAction {
    pub op: PatOp,
    pub slot: PatSlot,
    pub key: LogFormat,
    pub value: Option<LogFormat>,
}

impl PatAction {
    /// A rule of `op` on `file`; its slot is filled when the parse ends ([`take`]).
    pub fn new(op: PatOp, file: &str, key: LogFormat, value: Option<LogFormat>) -> PatAction {
        let slot = PatSlot {
            file: file.into(),
            r: Arc::new(OnceLock::new()),
        };
        PARSE.with(|p| p.borrow_mut().slots.push(slot.clone()));
        PatAction {
            op,
            slot,
            key,
            value,
        }
    }

    /// Runs the rule on `s`. An index that refuses the entry (a bad address for `map_ip`)
    /// leaves the file as it was, as HAProxy does.
    pub fn apply(&self, s: &dyn Sample, scratch: &mut Vec<u8>) {
        let Some(r) = self.slot.r.get() else {
            return;
        };
        scratch.clear();
        self.key.render(s, scratch);
        let key = &scratch[..];
        let _ = match self.op {
            PatOp::SetMap => {
                let mut value = Vec::new();
                if let Some(v) = &self.value {
                    v.render(s, &mut value);
                }
                set_or_add(r, key, &value)
            }
            PatOp::DelMap | PatOp::DelAcl => r.update(|e| Ok(delete_key(e, key))).map(drop),
            PatOp::AddAcl => r.update(|e| {
                if !e.iter().any(|x| &x.key[..] == key) {
                    e.push(entry(key, b""));
                }
                Ok(())
            }),
        };
    }
}

/// `set-map`: every entry with `key` takes `value`; without one, an entry is added.
fn set_or_add(r: &PatRef, key: &[u8], value: &[u8]) -> Result<(), String> {
    r.update(|e| {
        let mut found = false;
        for x in e.iter_mut().filter(|x| &x.key[..] == key) {
            x.value = value.into();
            found = true;
        }
        if !found {
            e.push(entry(key, value));
        }
        Ok(())
    })
}

/// A new entry added at run time.
pub fn entry(key: &[u8], value: &[u8]) -> RefEntry {
    RefEntry {
        id: next_id(),
        key: key.into(),
        value: value.into(),
        line: 0,
    }
}

/// Removes the entries with `key`; whether there was one.
pub fn delete_key(e: &mut Vec<RefEntry>, key: &[u8]) -> bool {
    let n = e.len();
    e.retain(|x| &x.key[..] != key);
    e.len() != n
}

/// What the parser of one configuration has made so far (it runs on one thread).
#[derive(Default)]
struct Parse {
    refs: Vec<Arc<PatRef>>,
    slots: Vec<PatSlot>,
    /// The configuration line being read, for the references' descriptions.
    at: (String, u32),
}

thread_local! {
    static PARSE: RefCell<Parse> = RefCell::new(Parse::default());
}

/// The configuration line being parsed (`show map` says which line loaded a file).
pub fn set_line(file: &str, line: u32) {
    PARSE.with(|p| {
        let mut p = p.borrow_mut();
        if p.at.0 != file {
            p.at.0 = file.to_string();
        }
        p.at.1 = line;
    });
}

/// The reference for `file` in the configuration being parsed; the first use reads it with
/// `read`. `two_columns`: a map's `KEY VALUE` lines (HAProxy refuses a file read both
/// ways).
pub(crate) fn load(
    file: &str,
    two_columns: bool,
    read: impl FnOnce() -> Result<Vec<FileLine>, String>,
) -> Result<Arc<PatRef>, String> {
    let what = if two_columns { "map" } else { "acl" };
    let found = PARSE.with(|p| {
        let p = p.borrow();
        let r = p.refs.iter().find(|r| &*r.file == file).cloned();
        r.map(|r| {
            (
                r,
                format!(", by {what} at file '{}' line {}", p.at.0, p.at.1),
            )
        })
    });
    if let Some((r, by)) = found {
        if r.two_columns != two_columns {
            let (was, now) = if r.two_columns {
                ("two", "one")
            } else {
                ("one", "two")
            };
            return Err(format!(
                "The file \"{file}\" is already used as {was} column file and cannot be used by \
                 as {now} column file."
            ));
        }
        r.state().desc.push_str(&by);
        return Ok(r);
    }
    let entries = read()?;
    Ok(PARSE.with(|p| {
        let mut p = p.borrow_mut();
        let desc = format!(
            "pattern loaded from file '{file}' used by {what} at file '{}' line {}",
            p.at.0, p.at.1
        );
        let id = p.refs.len() as u32;
        let r = Arc::new(PatRef::new(id, file, two_columns, desc, entries));
        p.refs.push(r.clone());
        r
    }))
}

/// Ends a parse: the rules' slots get their files' references, and the references made
/// since the last call are returned (and forgotten here).
pub fn take() -> Vec<Arc<PatRef>> {
    let p = PARSE.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for s in &p.slots {
        if let Some(r) = p.refs.iter().find(|r| r.file == s.file) {
            let _ = s.r.set(r.clone());
        }
    }
    p.refs
}

/// `add map`/`set map`/… name a reference by `#<id>` or by file.
pub fn find<'a>(refs: &'a [Arc<PatRef>], name: &str, flag: u8) -> Option<&'a Arc<PatRef>> {
    let by_id = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
    refs.iter().filter(|r| r.is(flag)).find(|r| match by_id {
        Some(id) => r.id == id,
        None => &*r.file == name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index that refuses a key "bad" and keeps how many entries it last stored.
    struct Count(AtomicU64);
    impl Index for Count {
        fn build(&self, _: &str, e: &[RefEntry]) -> Result<Box<dyn Any + Send>, String> {
            if e.iter().any(|x| &x.key[..] == b"bad") {
                return Err("bad key".into());
            }
            Ok(Box::new(e.len() as u64))
        }
        fn store(&self, b: Box<dyn Any + Send>) {
            self.0
                .store(*b.downcast::<u64>().unwrap(), Ordering::Relaxed);
        }
        fn get(&self, _: &[RefEntry], _: &[u8]) -> String {
            String::new()
        }
    }

    #[test]
    fn a_refused_change_changes_nothing_and_set_adds_when_missing() {
        let r = PatRef::new(
            0,
            "f",
            true,
            String::new(),
            vec![(b"a"[..].into(), b"1"[..].into(), 1)],
        );
        let c = Arc::new(Count(AtomicU64::new(0)));
        r.attach(MAP, c.clone()).unwrap();
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
        assert!(r.add(b"bad", b"x").is_err());
        assert_eq!(r.entries().len(), 1);
        set_or_add(&r, b"b", b"2").unwrap();
        set_or_add(&r, b"a", b"3").unwrap();
        let e = r.entries();
        assert_eq!(e.len(), 2);
        assert_eq!((&e[0].value[..], &e[1].key[..]), (&b"3"[..], &b"b"[..]));
        assert_eq!(c.0.load(Ordering::Relaxed), 2);
        assert!(r.update(|e| Ok(delete_key(e, b"a"))).unwrap());
        assert!(!r.update(|e| Ok(delete_key(e, b"a"))).unwrap());
    }
}
