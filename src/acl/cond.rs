//! Named ACLs of a proxy ([`Acls`]) and conditions (`if`/`unless`) over them ([`Cond`]),
//! after HAProxy's `parse_acl`, `parse_acl_cond` and `acl_exec_cond` (src/acl.c).

use std::sync::atomic::{AtomicU64, Ordering};

use super::expr::Expr;
use super::{ParseCtx, Sample, did_you_mean};

/// HAProxy's predefined ACLs (acl.c `default_acl_list`, 2.6), as ACL expressions.
/// `RDP_COOKIE` is refused by the fetch parser with the reason.
const PREDEFINED: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("LOCALHOST", &["src", "127.0.0.1/8"]),
    ("HTTP", &["req.proto_http"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("HTTP_CONTENT", &["hdr_val(content-length)", "gt", "0"]),
    ("RDP_COOKIE", &["req.rdp_cookie_cnt", "gt", "0"]),
    ("REQ_CONTENT", &["req.len", "gt", "0"]),
    ("WAIT_END", &["wait_end"]),
];

/// The names of HAProxy's predefined ACLs.
pub fn predefined_names() -> impl Iterator<Item = &'static str> {
    PREDEFINED.iter().map(|(n, _)| *n)
}

/// One named ACL: the OR of the expressions of its `acl` lines.
#[derive(Clone, Debug)]
struct NamedAcl {
    name: Box<str>,
    exprs: Vec<Expr>,
}

/// The named ACLs of one proxy (frontend, backend or listen section).
///
/// Several `acl` lines with the same name OR together, and lines added after a condition
/// used the name still count in that condition (conditions refer to the ACL, as in HAProxy),
/// which is why [`Cond::eval`] takes the table.
#[derive(Debug)]
pub struct Acls {
    /// Ties conditions to the table they were parsed against (checked in debug builds).
    id: u64,
    acls: Vec<NamedAcl>,
    /// The predefined ACLs the table's conditions used, parsed at the first use (HAProxy
    /// adds them to the proxy's ACLs then): the later uses share the expression, and its
    /// pattern reference (one `show acl` line per proxy, as in HAProxy).
    predefined: std::sync::Mutex<Vec<(&'static str, Expr)>>,
}

impl Default for Acls {
    fn default() -> Acls {
        Acls::new()
    }
}

static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);

impl Acls {
    /// An empty table.
    pub fn new() -> Acls {
        Acls {
            id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
            acls: Vec::new(),
            predefined: std::sync::Mutex::default(),
        }
    }

    /// Parses an `acl` line: `words` are what follows the keyword, `NAME FETCH [flags]
    /// [operator] [patterns...]`. A name already defined gets one more alternative.
    pub fn define(&mut self, words: &[String], ctx: &mut ParseCtx) -> Result<(), String> {
        let Some(name) = words.first() else {
            return Err("'acl' expects an ACL name and a fetch method".into());
        };
        if name.is_empty() {
            return Err("'acl' expects an ACL name and a fetch method".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
        {
            return Err(format!(
                "character '{c}' is not permitted in acl name '{name}'"
            ));
        }
        let expr = Expr::parse(&words[1..], ctx)
            .map_err(|e| format!("error detected while parsing ACL '{name}' : {e}"))?;
        match self.acls.iter_mut().find(|a| *a.name == **name) {
            Some(a) => a.exprs.push(expr),
            None => self.acls.push(NamedAcl {
                name: name.as_str().into(),
                exprs: vec![expr],
            }),
        }
        Ok(())
    }

    /// Whether an ACL of that name is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// Names defined, in order of first definition.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.acls.iter().map(|a| &*a.name)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.acls.iter().position(|a| *a.name == *name)
    }

    /// Evaluates the named ACL alone (`None` if it is not defined).
    pub fn eval(&self, name: &str, s: &dyn Sample) -> Option<bool> {
        self.index_of(name)
            .map(|i| any3(&self.acls[i].exprs, s) == Tri::Pass)
    }

    /// Resolves the backend names of `nbsrv()` in every ACL; see
    /// [`Cond::resolve_backends`].
    pub fn resolve_backends(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<(), String> {
        let mut first = None;
        self.resolve_backends_each(lookup, &mut |_, e| {
            first.get_or_insert(e);
        });
        first.map_or(Ok(()), Err)
    }

    /// Like [`resolve_backends`](Self::resolve_backends), reporting every failure with the
    /// name of the ACL it belongs to (so the caller can point at the `acl` line).
    pub fn resolve_backends_each(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<usize>,
        report: &mut dyn FnMut(&str, String),
    ) {
        for a in &mut self.acls {
            for e in &mut a.exprs {
                if let Err(err) = e.fetch.resolve_backends(lookup) {
                    report(&a.name, format!("acl '{}': {err}", a.name));
                }
            }
        }
    }
}

/// Whether a condition applies when it holds (`if`) or when it does not (`unless`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Polarity {
    /// `if COND`.
    If,
    /// `unless COND`.
    Unless,
}

#[derive(Clone, Debug)]
enum AclRef {
    /// An ACL of the proxy's table.
    Named(usize),
    /// An anonymous `{ ... }` ACL, or a predefined one with its name.
    Inline(Box<Expr>, Option<&'static str>),
}

/// HAProxy's three-valued ACL result (`enum acl_test_res`), with its bit values so that
/// AND and OR are `&` and `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tri {
    /// Does not hold.
    Fail = 0,
    /// Cannot tell yet: more request bytes could make it hold.
    Miss = 1,
    /// Holds.
    Pass = 3,
}

impl Tri {
    fn from_bits(b: u8) -> Tri {
        match b {
            0 => Tri::Fail,
            3 => Tri::Pass,
            _ => Tri::Miss,
        }
    }
    fn not(self) -> Tri {
        Tri::from_bits(3 >> self as u8)
    }
}

/// The OR of one ACL's expressions (its `acl` lines), stopping at the first pass.
fn any3(exprs: &[Expr], s: &dyn Sample) -> Tri {
    let mut r = Tri::Fail as u8;
    for e in exprs {
        r |= e.eval3(s) as u8;
        if r == Tri::Pass as u8 {
            break;
        }
    }
    Tri::from_bits(r)
}

#[derive(Clone, Debug)]
struct Term {
    neg: bool,
    acl: AclRef,
    /// Every keyword of the ACL is incompatible with where the rule runs
    /// ([`Cond::check_place`]): it finds nothing there, so the term does not match.
    dead: bool,
}

/// What [`Cond::conflicts`] found: the ACL's name (None: anonymous) and the keyword.
enum Conflict {
    /// No keyword of the ACL has anything to say at that place.
    Never(Option<String>, String),
    /// One keyword has not.
    Involves(Option<String>, String),
}

/// A term's ACL name (None: anonymous) and expressions.
fn term_exprs<'a>(acls: &'a Acls, t: &'a Term) -> (Option<String>, Vec<&'a Expr>) {
    match &t.acl {
        AclRef::Named(i) => match acls.acls.get(*i) {
            Some(a) => (Some(a.name.to_string()), a.exprs.iter().collect()),
            None => (None, Vec::new()),
        },
        AclRef::Inline(e, n) => (n.map(str::to_string), vec![&**e]),
    }
}

/// A condition: `if`/`unless` followed by terms. Terms side by side are ANDed, `||` (or
/// `or`) separates alternatives, `!` negates the next term, `{ FETCH ... }` is an anonymous
/// ACL, and names refer to the proxy's ACLs, then to HAProxy's predefined ones.
#[derive(Clone, Debug)]
pub struct Cond {
    polarity: Polarity,
    /// OR of ANDs. No suite at all (`if` alone) is false, as in HAProxy.
    suites: Vec<Vec<Term>>,
    table: u64,
}

impl Cond {
    /// Parses `words`, which start with `if` or `unless`, against the proxy's `acls`.
    pub fn parse(words: &[String], acls: &Acls, ctx: &mut ParseCtx) -> Result<Cond, String> {
        let polarity = match words.first().map(String::as_str) {
            Some("if") => Polarity::If,
            Some("unless") => Polarity::Unless,
            other => {
                return Err(format!(
                    "a condition starts with 'if' or 'unless', not '{}'",
                    other.unwrap_or("")
                ));
            }
        };
        let mut suites: Vec<Vec<Term>> = Vec::new();
        let mut current: Option<Vec<Term>> = None;
        let mut neg = false;
        let mut i = 1;
        while i < words.len() {
            let mut word = words[i].as_str();
            while let Some(rest) = word.strip_prefix('!') {
                neg = !neg;
                word = rest;
            }
            i += 1;
            if word.is_empty() {
                continue;
            }
            if word.eq_ignore_ascii_case("or") || word == "||" {
                if let Some(s) = current.take() {
                    suites.push(s);
                }
                neg = false;
                continue;
            }
            let acl = if word == "{" {
                let close = words[i..]
                    .iter()
                    .position(|w| w == "}")
                    .ok_or("missing closing '}' in condition")?;
                let inner = &words[i..i + close];
                i += close + 1;
                AclRef::Inline(Box::new(Expr::parse(inner, ctx)?), None)
            } else if let Some(idx) = acls.index_of(word) {
                AclRef::Named(idx)
            } else if let Some((name, def)) = PREDEFINED.iter().find(|(n, _)| *n == word) {
                let mut seen = acls.predefined.lock().unwrap_or_else(|e| e.into_inner());
                let e = match seen.iter().find(|(n, _)| n == name) {
                    Some((_, e)) => e.clone(),
                    None => {
                        let def: Vec<String> = def.iter().map(|s| s.to_string()).collect();
                        let e = Expr::parse(&def, ctx)
                            .map_err(|e| format!("predefined ACL '{word}': {e}"))?;
                        seen.push((name, e.clone()));
                        e
                    }
                };
                AclRef::Inline(Box::new(e), Some(name))
            } else {
                let mut names: Vec<&str> = acls.names().collect();
                for n in predefined_names() {
                    names.push(n);
                }
                return Err(format!(
                    "no such ACL : '{word}'{}",
                    did_you_mean(word, names.into_iter())
                ));
            };
            current.get_or_insert_with(Vec::new).push(Term {
                neg,
                acl,
                dead: false,
            });
            neg = false;
        }
        if let Some(s) = current.take() {
            suites.push(s);
        }
        if suites.is_empty() {
            let always = if polarity == Polarity::If {
                "never"
            } else {
                "always"
            };
            ctx.warn(format!(
                "condition '{}' has no term: as in HAProxy, it {always} applies",
                words.join(" ")
            ));
        } else if neg {
            ctx.warn("a trailing '!' negates nothing and is ignored, as in HAProxy".into());
        }
        // A condition without named ACLs does not depend on the table (a defaults
        // section's rule runs in the proxies that use it).
        let named = suites
            .iter()
            .flatten()
            .any(|t| matches!(t.acl, AclRef::Named(_)));
        Ok(Cond {
            polarity,
            suites,
            table: if named { acls.id } else { 0 },
        })
    }

    /// `if` or `unless`.
    pub fn polarity(&self) -> Polarity {
        self.polarity
    }

    /// Evaluates the condition, with `acls` the table it was parsed against. Allocates
    /// nothing unless a converter meets a value longer than 256 bytes or `base` one longer
    /// than 512.
    pub fn eval(&self, acls: &Acls, s: &dyn Sample) -> bool {
        (self.eval3(acls, s) == Tri::Pass) != (self.polarity == Polarity::Unless)
    }

    /// The terms' value before `if`/`unless` applies, in HAProxy's three values
    /// (`acl_exec_cond`): [`Tri::Miss`] when content inspection should wait for more bytes.
    /// Outside content inspection there is no miss.
    pub fn eval3(&self, acls: &Acls, s: &dyn Sample) -> Tri {
        debug_assert!(
            self.table == acls.id || self.table == 0,
            "condition evaluated with another proxy's ACLs"
        );
        let mut cond = Tri::Fail as u8;
        for suite in &self.suites {
            let mut all = Tri::Pass as u8;
            for t in suite {
                let r = match &t.acl {
                    _ if t.dead => Tri::Fail,
                    AclRef::Named(i) => acls.acls.get(*i).map_or(Tri::Fail, |a| any3(&a.exprs, s)),
                    AclRef::Inline(e, _) => e.eval3(s),
                };
                all &= if t.neg { r.not() } else { r } as u8;
                if all == Tri::Fail as u8 {
                    break;
                }
            }
            cond |= all;
            if cond == Tri::Pass as u8 {
                break;
            }
        }
        Tri::from_bits(cond)
    }

    /// HAProxy's check of a tcp rule's condition against where the rule runs
    /// (`acl_cond_conflicts`, then `acl_cond_kw_conflicts`): the warning to give when an ACL
    /// can never match there (none of its keywords has anything to say yet), or when one of
    /// its keywords cannot. `rules` names the rule set (`tcp-request connection`), `place`
    /// the check points (a mask of `placement::ckp`) and `place_name` the first one's name
    /// (`frontend tcp-request connection rule`). Terms that can never match are marked so,
    /// as in [`Cond::check_place`].
    pub fn conflict(
        &mut self,
        acls: &Acls,
        place: u32,
        rules: &str,
        place_name: &str,
    ) -> Option<String> {
        let ok = |e: &Expr| super::placement::expr_valid(&e.kw, place);
        let warning = self.conflicts(acls, &ok).map(|c| match c {
            Conflict::Never(Some(n), _) => format!(
                "acl '{n}' will never match in '{rules}' because it only involves keywords that are incompatible with '{place_name}'"
            ),
            Conflict::Never(None, kw) => format!(
                "anonymous acl will never match in '{rules}' because it uses keyword '{kw}' which is incompatible with '{place_name}'"
            ),
            Conflict::Involves(Some(n), kw) => format!(
                "acl '{n}' involves keyword '{kw}' which is incompatible with '{place_name}'"
            ),
            Conflict::Involves(None, kw) => format!(
                "anonymous acl involves keyword '{kw}' which is incompatible with '{place_name}'"
            ),
        });
        self.mark_dead(acls, &ok);
        warning
    }

    /// HAProxy's `warnif_cond_conflicts` for the HTTP rules, `use_backend` and
    /// `use-server`: `place` is a mask of HAProxy's check points (`SMP_VAL_*`: the
    /// frontend's and the backend's when the section is both) and `where_name` the first
    /// one's name. Returns the warning HAProxy gives, and marks the terms whose every
    /// keyword is incompatible there as never matching: what they fetch is not there yet
    /// (a response in `http-request`) or no longer (the request's headers in
    /// `http-response`), so HAProxy's fetch finds nothing, and neither must ours.
    pub fn check_place(&mut self, acls: &Acls, place: u32, where_name: &str) -> Option<String> {
        let ok = |e: &Expr| super::placement::expr_valid(&e.kw, place);
        let warning = self
            .conflicts(acls, &ok)
            .map(|c| match c {
                Conflict::Never(Some(n), _) => format!(
                    "acl '{n}' will never match because it only involves keywords that are incompatible with '{where_name}'"
                ),
                Conflict::Never(None, kw) => format!(
                    "anonymous acl will never match because it uses keyword '{kw}' which is incompatible with '{where_name}'"
                ),
                Conflict::Involves(Some(n), kw) => format!(
                    "acl '{n}' involves keywords '{kw}' which is incompatible with '{where_name}'"
                ),
                Conflict::Involves(None, kw) => format!(
                    "anonymous acl involves keyword '{kw}' which is incompatible with '{where_name}'"
                ),
            });
        self.mark_dead(acls, &ok);
        warning
    }

    /// Marks the terms none of whose keywords is `ok` where the rule runs as never matching.
    fn mark_dead(&mut self, acls: &Acls, ok: &dyn Fn(&Expr) -> bool) {
        for t in self.suites.iter_mut().flatten() {
            let exprs = term_exprs(acls, t).1;
            t.dead = !exprs.is_empty() && !exprs.iter().any(|e| ok(e));
        }
    }

    /// The first term that can never match where `valid` says, else the first keyword that
    /// cannot (HAProxy's `acl_cond_conflicts`, then `acl_cond_kw_conflicts`).
    fn conflicts(&self, acls: &Acls, valid: &dyn Fn(&Expr) -> bool) -> Option<Conflict> {
        let terms = || self.suites.iter().flatten();
        for t in terms() {
            let (name, exprs) = term_exprs(acls, t);
            if !exprs.is_empty() && !exprs.iter().any(|e| valid(e)) {
                return Some(Conflict::Never(name, exprs[0].kw.to_string()));
            }
        }
        for t in terms() {
            let (name, exprs) = term_exprs(acls, t);
            if let Some(e) = exprs.iter().find(|e| !valid(e)) {
                return Some(Conflict::Involves(name, e.kw.to_string()));
            }
        }
        None
    }

    /// Resolves the backend names of the `nbsrv()` fetches in anonymous ACLs to the indices
    /// [`Sample::nbsrv`] receives. Call it once every backend is known, along with
    /// [`Acls::resolve_backends`] for the named ones; an unknown name is an error.
    pub fn resolve_backends(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<(), String> {
        for t in self.suites.iter_mut().flatten() {
            if let AclRef::Inline(e, _) = &mut t.acl {
                e.fetch.resolve_backends(lookup)?;
            }
        }
        Ok(())
    }
}
