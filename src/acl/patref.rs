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
//! (linear in the entries).
//!
//! Versions (HAProxy 2.4+'s `prepare`/`add @<ver>`/`commit`, for atomic replacement): the
//! indexes are built from the current version only; the others are entry lists beside it
//! that no lookup sees. `commit` builds the indexes from the chosen version and installs
//! them in one store per user, then drops the older versions, as HAProxy 2.6 purges them.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
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

/// One file's entries, or one ACL expression's inline patterns, and the indexes built from
/// them.
pub struct PatRef {
    /// `#<id>` on the stats socket: set when the parse ends ([`take`]), in the order the
    /// configuration made the references, after the ids `-u` chose (HAProxy's
    /// `pattern_finalize_config`).
    id: AtomicU32,
    /// The id `-u` chose.
    user_id: Option<u32>,
    /// The file; empty for an ACL's inline patterns, which only `#<id>` names (HAProxy's
    /// reference without a name).
    pub file: Box<str>,
    /// Read as `KEY VALUE` lines (maps, `-M` ACLs) rather than one pattern a line.
    pub two_columns: bool,
    flags: AtomicU8,
    state: Mutex<State>,
}

struct State {
    /// `show map`'s description: which lines use the file.
    desc: String,
    /// The current version's entries: the ones lookups see.
    entries: Vec<RefEntry>,
    users: Vec<Arc<dyn Index>>,
    /// `curr_ver`: the current version's number; `next_ver`: the last one `prepare` made.
    curr: u32,
    next: u32,
    /// The other versions that hold entries, by number.
    others: Vec<(u32, Vec<RefEntry>)>,
}

/// Why `commit` changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum CommitError {
    /// Not a version after the current one that `prepare` made.
    OutOfRange,
    /// A user's index does not compile from the version's entries.
    Build(String),
}

impl std::fmt::Debug for PatRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatRef(#{} {})", self.id(), self.file)
    }
}

/// Entry ids, unique in the process (HAProxy prints its entries' addresses).
static NEXT_ID: AtomicU64 = AtomicU64::new(0x5600_0000_1000);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(0x50, Ordering::Relaxed)
}

impl PatRef {
    fn new(file: &str, two_columns: bool, desc: String, entries: Vec<FileLine>) -> Self {
        let entries = (entries.into_iter())
            .map(|(key, value, line)| RefEntry {
                id: next_id(),
                key,
                value,
                line,
            })
            .collect();
        PatRef {
            id: AtomicU32::new(0),
            user_id: None,
            file: file.into(),
            two_columns,
            flags: AtomicU8::new(0),
            state: Mutex::new(State {
                desc,
                entries,
                users: Vec::new(),
                curr: 0,
                next: 0,
                others: Vec::new(),
            }),
        }
    }

    /// `#<id>` on the stats socket.
    pub fn id(&self) -> u32 {
        self.id.load(Ordering::Relaxed)
    }

    /// An ACL's inline patterns rather than a file.
    pub fn is_inline(&self) -> bool {
        self.file.is_empty()
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
        // HAProxy counts the entries of every version.
        let count = st.entries.len() + st.others.iter().map(|o| o.1.len()).sum::<usize>();
        format!(
            "{} ({}) {}. curr_ver={} next_ver={} entry_cnt={count}\n",
            self.id(),
            self.file,
            st.desc,
            st.curr,
            st.next
        )
    }

    /// A copy of the current version's entries, in order.
    pub fn entries(&self) -> Vec<RefEntry> {
        self.state().entries.clone()
    }

    /// A copy of version `ver`'s entries (none for a version nothing was added to).
    pub fn entries_at(&self, ver: u32) -> Vec<RefEntry> {
        let st = self.state();
        if ver == st.curr {
            return st.entries.clone();
        }
        (st.others.iter().find(|o| o.0 == ver)).map_or_else(Vec::new, |o| o.1.clone())
    }

    /// `prepare map|acl`: a new empty version, after the last one made; its number.
    pub fn prepare(&self) -> u32 {
        let mut st = self.state();
        st.next = st.next.wrapping_add(1);
        let next = st.next;
        // A number reused after a wrap starts empty.
        st.others.retain(|o| o.0 != next);
        next
    }

    /// Whether `ver` is past the last version `prepare` made (HAProxy's signed distance, so
    /// that numbers may wrap).
    pub fn in_future(&self, ver: u32) -> bool {
        (ver.wrapping_sub(self.state().next) as i32) > 0
    }

    /// As [`update`](Self::update) on version `ver`: on the current one the indexes follow,
    /// another one is only a list no lookup sees.
    pub fn update_at<T>(
        &self,
        ver: u32,
        change: impl FnOnce(&mut Vec<RefEntry>) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut st = self.state();
        if ver == st.curr {
            drop(st);
            return self.update(change);
        }
        let i = match st.others.iter().position(|o| o.0 == ver) {
            Some(i) => i,
            None => {
                st.others.push((ver, Vec::new()));
                st.others.len() - 1
            }
        };
        // On a copy: a change that fails leaves the version as it was.
        let mut entries = st.others[i].1.clone();
        let out = change(&mut entries);
        if out.is_ok() {
            st.others[i].1 = entries;
        }
        if st.others[i].1.is_empty() {
            st.others.swap_remove(i);
        }
        out
    }

    /// Whether an entry of any version has `key` (HAProxy 2.6's `pat_ref_find_elt`).
    pub fn has_key(&self, key: &[u8]) -> bool {
        let st = self.state();
        (st.entries.iter())
            .chain(st.others.iter().flat_map(|o| &o.1))
            .any(|x| &x.key[..] == key)
    }

    /// `commit map|acl @<ver>`: version `ver` (one `prepare` made after the current one)
    /// becomes the current one, every user's index built from it before any is stored; the
    /// versions up to it go, the later ones stay.
    pub fn commit(&self, ver: u32) -> Result<(), CommitError> {
        let mut st = self.state();
        // HAProxy 2.6's test: curr < ver <= next, in wrapping arithmetic.
        if ver.wrapping_sub(st.curr.wrapping_add(1)) >= st.next.wrapping_sub(st.curr) {
            return Err(CommitError::OutOfRange);
        }
        let i = st.others.iter().position(|o| o.0 == ver);
        let entries = i.map_or_else(Vec::new, |i| st.others[i].1.clone());
        self.install(&mut st, entries).map_err(CommitError::Build)?;
        st.curr = ver;
        if let Some(i) = i {
            st.others.swap_remove(i);
        }
        // HAProxy purges the half of the number space before `ver`.
        st.others
            .retain(|o| ver.wrapping_sub(1).wrapping_sub(o.0) > u32::MAX >> 1);
        Ok(())
    }

    /// Applies `change` to the entries of every version (HAProxy 2.6's `set map`, `del map`
    /// and their rules match keys in all of them), the current one first, whose indexes are
    /// rebuilt; when they do not compile nothing changes. Returns the sum of `change`'s
    /// counts.
    pub fn update_all(
        &self,
        change: impl Fn(&mut Vec<RefEntry>) -> usize,
    ) -> Result<usize, String> {
        let mut st = self.state();
        let mut entries = st.entries.clone();
        let mut n = change(&mut entries);
        if n > 0 {
            self.install(&mut st, entries)?;
        }
        for o in st.others.iter_mut() {
            n += change(&mut o.1);
        }
        st.others.retain(|o| !o.1.is_empty());
        Ok(n)
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
        self.install(&mut st, entries)?;
        Ok(out)
    }

    /// Builds every user's index from `entries`, then stores them all and keeps `entries`
    /// as the current version; when one does not build, nothing changes.
    fn install(&self, st: &mut State, entries: Vec<RefEntry>) -> Result<(), String> {
        let built = (st.users.iter())
            .map(|u| u.build(&self.file, &entries))
            .collect::<Result<Vec<_>, _>>()?;
        for (u, b) in st.users.iter().zip(built) {
            u.store(b);
        }
        st.entries = entries;
        Ok(())
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
            PatOp::DelMap | PatOp::DelAcl => r.update_all(|e| delete_key(e, key)).map(drop),
            PatOp::AddAcl if r.has_key(key) => Ok(()),
            PatOp::AddAcl => r.add(key, b""),
        };
    }
}

/// `set-map`: every entry with `key`, in any version, takes `value`; without one, an entry
/// is added to the current version (HAProxy 2.6's `pat_ref_find_elt`, then `pat_ref_set`
/// or `pat_ref_add`).
fn set_or_add(r: &PatRef, key: &[u8], value: &[u8]) -> Result<(), String> {
    let n = r.update_all(|e| {
        let hits = e.iter_mut().filter(|x| &x.key[..] == key);
        hits.map(|x| x.value = value.into()).count()
    })?;
    if n == 0 {
        return r.add(key, value);
    }
    Ok(())
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

/// Removes the entries with `key`; how many there were.
pub fn delete_key(e: &mut Vec<RefEntry>, key: &[u8]) -> usize {
    let n = e.len();
    e.retain(|x| &x.key[..] != key);
    n - e.len()
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
        let r = (p.refs.iter())
            .find(|r| !r.is_inline() && &*r.file == file)
            .cloned();
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
        let r = Arc::new(PatRef::new(file, two_columns, desc, entries));
        p.refs.push(r.clone());
        r
    }))
}

/// A reference for the inline patterns of an ACL expression on the configuration line
/// being parsed (HAProxy makes one for every expression, with or without patterns): `kw`
/// is the expression's keyword, `user_id` what `-u` chose. `Err` when another `-u` chose
/// that id.
pub(crate) fn inline(
    kw: &str,
    user_id: Option<u32>,
    patterns: Vec<Box<[u8]>>,
) -> Result<Arc<PatRef>, String> {
    PARSE.with(|p| {
        let mut p = p.borrow_mut();
        if user_id.is_some() && p.refs.iter().any(|r| r.user_id == user_id) {
            return Err("the id is already used".to_string());
        }
        let desc = format!("acl '{kw}' file '{}' line {}", p.at.0, p.at.1);
        let lines = patterns.into_iter().map(|k| (k, Box::default(), 0));
        let mut r = PatRef::new("", false, desc, lines.collect());
        r.user_id = user_id;
        let r = Arc::new(r);
        p.refs.push(r.clone());
        Ok(r)
    })
}

/// Ends a parse: the rules' slots get their files' references, and the references made
/// since the last call are returned (and forgotten here), by id.
pub fn take() -> Vec<Arc<PatRef>> {
    let mut p = PARSE.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for s in &p.slots {
        if let Some(r) = p.refs.iter().find(|r| !r.is_inline() && r.file == s.file) {
            let _ = s.r.set(r.clone());
        }
    }
    // The others take the free ids in the order they were made.
    let chosen: Vec<u32> = p.refs.iter().filter_map(|r| r.user_id).collect();
    let mut next = 0u32;
    for r in &p.refs {
        let id = match r.user_id {
            Some(id) => id,
            None => {
                while chosen.contains(&next) {
                    next += 1;
                }
                next += 1;
                next - 1
            }
        };
        r.id.store(id, Ordering::Relaxed);
    }
    p.refs.sort_by_key(|r| r.id());
    p.refs
}

/// `add map`/`set map`/… name a reference by `#<id>` or by file (an ACL's inline patterns
/// only by id).
pub fn find<'a>(refs: &'a [Arc<PatRef>], name: &str, flag: u8) -> Option<&'a Arc<PatRef>> {
    let by_id = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
    refs.iter().filter(|r| r.is(flag)).find(|r| match by_id {
        Some(id) => r.id() == id,
        None => !r.is_inline() && &*r.file == name,
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

    /// A map file with the entry `a 1`, and a user counting its entries.
    fn one_entry() -> (PatRef, Arc<Count>) {
        let r = PatRef::new(
            "f",
            true,
            String::new(),
            vec![(b"a"[..].into(), b"1"[..].into(), 1)],
        );
        let c = Arc::new(Count(AtomicU64::new(0)));
        r.attach(MAP, c.clone()).unwrap();
        (r, c)
    }

    #[test]
    fn a_refused_change_changes_nothing_and_set_adds_when_missing() {
        let (r, c) = one_entry();
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
        assert!(r.add(b"bad", b"x").is_err());
        assert_eq!(r.entries().len(), 1);
        set_or_add(&r, b"b", b"2").unwrap();
        set_or_add(&r, b"a", b"3").unwrap();
        let e = r.entries();
        assert_eq!(e.len(), 2);
        assert_eq!((&e[0].value[..], &e[1].key[..]), (&b"3"[..], &b"b"[..]));
        assert_eq!(c.0.load(Ordering::Relaxed), 2);
        assert_eq!(r.update_all(|e| delete_key(e, b"a")), Ok(1));
        assert_eq!(r.update_all(|e| delete_key(e, b"a")), Ok(0));
    }

    #[test]
    fn versions_are_seen_once_committed_and_older_ones_go() {
        let (r, c) = one_entry();
        let (v1, v2) = (r.prepare(), r.prepare());
        assert_eq!((v1, v2), (1, 2));
        assert!(!r.in_future(2) && r.in_future(3));
        for k in [&b"x"[..], b"y"] {
            r.update_at(v1, |e| {
                e.push(entry(k, b"v"));
                Ok(())
            })
            .unwrap();
        }
        r.update_at(v2, |e| {
            e.push(entry(b"z", b"v"));
            Ok(())
        })
        .unwrap();
        // Prepared entries are not looked up.
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
        // `set`/`del` reach every version.
        assert_eq!(r.update_all(|e| delete_key(e, b"y")), Ok(1));
        assert_eq!(r.commit(3), Err(CommitError::OutOfRange));
        assert_eq!(r.commit(0), Err(CommitError::OutOfRange));
        // A version whose entries do not compile is refused and changes nothing.
        r.update_at(v1, |e| {
            e.push(entry(b"bad", b"v"));
            Ok(())
        })
        .unwrap();
        assert!(matches!(r.commit(v1), Err(CommitError::Build(_))));
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
        r.update_all(|e| delete_key(e, b"bad")).unwrap();
        r.commit(v1).unwrap();
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
        assert_eq!(&r.entries()[0].key[..], b"x");
        assert!(r.entries_at(0).is_empty());
        assert_eq!(r.entries_at(v2).len(), 1);
        assert!(
            r.describe()
                .ends_with("curr_ver=1 next_ver=2 entry_cnt=2\n")
        );
        assert_eq!(r.commit(v1), Err(CommitError::OutOfRange));
        r.commit(v2).unwrap();
        assert_eq!(&r.entries()[0].key[..], b"z");
    }
}
