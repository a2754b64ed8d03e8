//! Variables: `set-var(SCOPE.NAME) EXPR`, `set-var-fmt(SCOPE.NAME) FMT`,
//! `unset-var(SCOPE.NAME)` and the `var(SCOPE.NAME[,DEFAULT])` fetch, as HAProxy 2.6 has them
//! (src/vars.c).
//!
//! Where values live:
//! - `sess`: the client connection's [`VarSet`] (in [`super::ConnInfo`]), from the
//!   `tcp-request connection` rules to the last request on it;
//! - `txn`, `req`, `res`: the transaction's [`VarSet`], created per request
//!   ([`Vars::txn`]); `tcp-request connection|session` rules have none, so setting those
//!   scopes there does nothing, as in HAProxy (where no stream exists yet);
//! - `proc`: one table for the process, behind a lock: every shard sees the same values.
//!
//! A shard's connections and transactions are its own, so their sets are plain `RefCell`s:
//! no lock on the request path. A variable keeps the type of what was stored (string,
//! integer, boolean, address), and `var()` returns it with that type, as in HAProxy.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::RwLock;

use super::fetch::FetchExpr;
use super::logformat::LogFormat;
use super::sample::Value;
use super::{ParseCtx, Sample};

/// Where a variable lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole process.
    Proc,
    /// The client connection.
    Sess,
    /// The transaction (request and response).
    Txn,
    /// The request side of the transaction.
    Req,
    /// The response side of the transaction.
    Res,
}

/// A variable's name, parsed from `SCOPE.NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarRef {
    pub scope: Scope,
    pub name: Box<str>,
}

impl VarRef {
    /// Parses `SCOPE.NAME` with HAProxy 2.6's message for a missing or unknown scope.
    pub fn parse(s: &str) -> Result<VarRef, String> {
        let bad = || {
            format!(
                "invalid variable name '{s}'. A variable name must be start by its scope. The \
                 scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'."
            )
        };
        let (scope, name) = s.split_once('.').ok_or_else(bad)?;
        let scope = match scope {
            "proc" => Scope::Proc,
            "sess" => Scope::Sess,
            "txn" => Scope::Txn,
            "req" => Scope::Req,
            "res" => Scope::Res,
            "check" => {
                return Err(format!(
                    "variable '{s}': the 'check' scope is not supported by corelb (its health \
                     checks run no set-var)"
                ));
            }
            _ => return Err(bad()),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            return Err(format!(
                "invalid variable name '{s}': a name is made of letters, digits, '_' and '.'"
            ));
        }
        Ok(VarRef {
            scope,
            name: name.into(),
        })
    }
}

/// A stored value: it owns its bytes, and keeps the type it was stored with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Box<[u8]>),
}

impl Stored {
    fn of(v: Value<'_>) -> Stored {
        match v {
            Value::Bool(b) => Stored::Bool(b),
            Value::Int(i) => Stored::Int(i),
            Value::Ip(a) => Stored::Ip(a),
            Value::Str(s) => Stored::Str(s.into()),
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Stored::Bool(b) => Value::Bool(*b),
            Stored::Int(i) => Value::Int(*i),
            Stored::Ip(a) => Value::Ip(*a),
            Stored::Str(s) => Value::Str(s),
        }
    }
}

/// The variables of one connection or one transaction. Empty, it holds no allocation.
#[derive(Debug, Default)]
pub struct VarSet(RefCell<Vec<(Scope, Box<str>, Stored)>>);

impl Clone for VarSet {
    fn clone(&self) -> Self {
        VarSet(RefCell::new(self.0.borrow().clone()))
    }
}

impl PartialEq for VarSet {
    fn eq(&self, other: &Self) -> bool {
        *self.0.borrow() == *other.0.borrow()
    }
}

impl Eq for VarSet {}

impl VarSet {
    fn with<R>(&self, v: &VarRef, f: impl FnOnce(Option<Value<'_>>) -> R) -> R {
        let set = self.0.borrow();
        let found = set
            .iter()
            .find(|(s, n, _)| *s == v.scope && **n == *v.name)
            .map(|(_, _, x)| x.value());
        f(found)
    }

    /// Sets the variable (also `do-resolve`'s answer).
    pub fn set(&self, v: &VarRef, val: Stored) {
        let mut set = self.0.borrow_mut();
        match set
            .iter_mut()
            .find(|(s, n, _)| *s == v.scope && **n == *v.name)
        {
            Some(slot) => slot.2 = val,
            None => set.push((v.scope, v.name.clone(), val)),
        }
    }

    fn unset(&self, v: &VarRef) {
        self.0
            .borrow_mut()
            .retain(|(s, n, _)| !(*s == v.scope && **n == *v.name));
    }

    /// Forgets everything (a new transaction on a kept-alive connection starts empty).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

/// The process-wide (`proc.`) variables.
static PROC: RwLock<Vec<(Box<str>, Stored)>> = RwLock::new(Vec::new());

/// The variable sets a rule or fetch can reach where it runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Vars<'a> {
    /// The connection's (`sess.`).
    pub sess: Option<&'a VarSet>,
    /// The transaction's (`txn.`, `req.`, `res.`).
    pub txn: Option<&'a VarSet>,
}

impl Vars<'_> {
    fn set_for(&self, scope: Scope) -> Option<&VarSet> {
        match scope {
            Scope::Sess => self.sess,
            Scope::Txn | Scope::Req | Scope::Res => self.txn,
            Scope::Proc => None,
        }
    }

    /// Calls `f` with the variable's value, `None` if it is not set (or not reachable here).
    pub fn with<R>(&self, v: &VarRef, f: impl FnOnce(Option<Value<'_>>) -> R) -> R {
        if v.scope == Scope::Proc {
            let p = PROC.read().unwrap_or_else(|e| e.into_inner());
            let found = p
                .iter()
                .find(|(n, _)| **n == *v.name)
                .map(|(_, x)| x.value());
            return f(found);
        }
        match self.set_for(v.scope) {
            Some(set) => set.with(v, f),
            None => f(None),
        }
    }

    /// Sets the variable (also `do-resolve`'s answer).
    pub fn set(&self, v: &VarRef, val: Stored) {
        if v.scope == Scope::Proc {
            let mut p = PROC.write().unwrap_or_else(|e| e.into_inner());
            match p.iter_mut().find(|(n, _)| **n == *v.name) {
                Some(slot) => slot.1 = val,
                None => p.push((v.name.clone(), val)),
            }
        } else if let Some(set) = self.set_for(v.scope) {
            set.set(v, val);
        }
    }

    fn unset(&self, v: &VarRef) {
        if v.scope == Scope::Proc {
            let mut p = PROC.write().unwrap_or_else(|e| e.into_inner());
            p.retain(|(n, _)| **n != *v.name);
        } else if let Some(set) = self.set_for(v.scope) {
            set.unset(v);
        }
    }
}

/// What a `set-var`, `set-var-fmt` or `unset-var` rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarAction {
    /// `set-var(V) EXPR`: the expression's value, with its type.
    Set(VarRef, FetchExpr),
    /// `set-var-fmt(V) FMT`: the rendered string.
    SetFmt(VarRef, LogFormat),
    /// `unset-var(V)`.
    Unset(VarRef),
}

impl VarAction {
    /// Whether `action` (the rule's first word) is one of the variable actions.
    pub fn is_action(action: &str) -> bool {
        ["set-var(", "set-var-fmt(", "unset-var("]
            .iter()
            .any(|p| action.starts_with(p))
    }

    /// Parses `action` (`set-var(txn.x)`) and its arguments (the words before `if`/`unless`).
    pub fn parse(action: &str, args: &[String], ctx: &mut ParseCtx) -> Result<VarAction, String> {
        let (kw, inner) = action
            .strip_suffix(')')
            .and_then(|a| a.split_once('('))
            .ok_or_else(|| {
                let at = action.find(['(', ')']).map_or(action, |i| &action[i..]);
                format!("invalid syntax at char '{at}'")
            })?;
        let (name, conds) = inner.split_once(',').unwrap_or((inner, ""));
        if !conds.is_empty() {
            return Err(format!(
                "'{kw}({name},{conds})': the conditions of set-var (ifexists, ifgt, ...) are \
                 not supported yet"
            ));
        }
        let var = VarRef::parse(name)?;
        let one = |what: &str| -> Result<&String, String> {
            match args {
                [a] => Ok(a),
                [] => Err(format!("'{kw}({name})' expects {what}")),
                [_, extra, ..] => Err(format!(
                    "'{kw}({name})': unexpected argument '{extra}' (expected 'if' or 'unless')"
                )),
            }
        };
        match kw {
            "set-var" => {
                let e = one("a sample expression")?;
                let expr = FetchExpr::parse(e, &ctx.proxy)
                    .map_err(|err| format!("failed to parse sample expression <{e}> : {err}"))?;
                Ok(VarAction::Set(var, expr))
            }
            "set-var-fmt" => {
                let f = one("a log-format string")?;
                Ok(VarAction::SetFmt(var, LogFormat::parse(f, ctx)?))
            }
            "unset-var" => match args.first() {
                None => Ok(VarAction::Unset(var)),
                Some(a) => Err(format!(
                    "'unset-var({name})': unexpected argument '{a}' (expected 'if' or 'unless')"
                )),
            },
            _ => Err(format!("unknown action '{action}'")),
        }
    }

    /// The variable the action writes.
    pub fn var(&self) -> &VarRef {
        match self {
            VarAction::Set(v, _) | VarAction::SetFmt(v, _) | VarAction::Unset(v) => v,
        }
    }

    /// Runs the action on `s`'s variables. An expression that finds nothing leaves the
    /// variable as it was, as in HAProxy.
    pub fn apply(&self, s: &dyn Sample, scratch: &mut Vec<u8>) {
        let vars = s.vars();
        match self {
            VarAction::Set(v, e) => {
                let mut got = None;
                e.each(s, false, &mut |x| {
                    got = Some(Stored::of(x));
                    false
                });
                if let Some(x) = got {
                    vars.set(v, x);
                }
            }
            VarAction::SetFmt(v, f) => {
                scratch.clear();
                f.render(s, scratch);
                vars.set(v, Stored::Str(scratch.as_slice().into()));
            }
            VarAction::Unset(v) => vars.unset(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scopes() {
        let v = VarRef::parse("txn.host.name").unwrap();
        assert_eq!((v.scope, &*v.name), (Scope::Txn, "host.name"));
        assert!(
            VarRef::parse("foo.x")
                .unwrap_err()
                .contains("must be start by its scope")
        );
        assert!(VarRef::parse("x").is_err());
        assert!(VarRef::parse("txn.").is_err());
        assert!(VarRef::parse("txn.a-b").is_err());
    }

    #[test]
    fn sets_keep_types_and_scopes_apart() {
        let (sess, txn) = (VarSet::default(), VarSet::default());
        let vars = Vars {
            sess: Some(&sess),
            txn: Some(&txn),
        };
        let t = VarRef::parse("txn.x").unwrap();
        let r = VarRef::parse("req.x").unwrap();
        let s = VarRef::parse("sess.x").unwrap();
        vars.set(&t, Stored::Int(3));
        vars.set(&r, Stored::Str((*b"a").into()));
        vars.set(&s, Stored::Bool(true));
        vars.with(&t, |v| assert_eq!(v, Some(Value::Int(3))));
        vars.with(&r, |v| assert_eq!(v, Some(Value::Str(b"a"))));
        vars.with(&s, |v| assert_eq!(v, Some(Value::Bool(true))));
        vars.set(&t, Stored::Int(4));
        vars.with(&t, |v| assert_eq!(v, Some(Value::Int(4))));
        vars.unset(&t);
        vars.with(&t, |v| assert_eq!(v, None));
        txn.clear();
        vars.with(&r, |v| assert_eq!(v, None));
        vars.with(&s, |v| assert_eq!(v, Some(Value::Bool(true))));
        // Without a transaction (tcp-request connection rules) txn variables go nowhere.
        let early = Vars {
            sess: Some(&sess),
            txn: None,
        };
        early.set(&t, Stored::Int(1));
        early.with(&t, |v| assert_eq!(v, None));
    }

    #[test]
    fn proc_variables_are_shared_by_every_set() {
        let p = VarRef::parse("proc.unit_test_shared").unwrap();
        Vars::default().set(&p, Stored::Int(7));
        let other = VarSet::default();
        let v = Vars {
            sess: Some(&other),
            txn: None,
        };
        v.with(&p, |x| assert_eq!(x, Some(Value::Int(7))));
        v.unset(&p);
        Vars::default().with(&p, |x| assert_eq!(x, None));
    }
}
