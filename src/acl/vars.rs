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
//! - `proc`: one table for the process, every shard sees the same values: a snapshot read
//!   without a lock (`arc-swap`), replaced whole by each write (copy, change, swap), so a
//!   `var(proc.x)` costs no lock and writes, rarer, pay for the copy.
//!
//! A shard's connections and transactions are its own, so their sets are plain `RefCell`s:
//! no lock on the request path.
//!
//! `set-var(V,COND...)` conditions (`ifexists`, `ifnotexists`, `ifempty`, `ifnotempty`,
//! `ifset`, `ifnotset`, `ifgt`, `iflt`) follow HAProxy 2.6's `var_set`: a variable can exist
//! without a value ([`Stored::Unset`], HAProxy's `SMP_T_ANY`), and `proc` variables always
//! exist (HAProxy creates each one the configuration names while parsing it). A variable keeps the type of what was stored (string,
//! integer, boolean, address), and `var()` returns it with that type, as in HAProxy.

use arc_swap::ArcSwap;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};

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
    /// The variable exists with no value: a conditional `set-var` created it and then did
    /// not set it (HAProxy's `SMP_T_ANY`). `var()` finds nothing.
    Unset,
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

    pub(crate) fn value(&self) -> Option<Value<'_>> {
        Some(match self {
            Stored::Unset => return None,
            Stored::Bool(b) => Value::Bool(*b),
            Stored::Int(i) => Value::Int(*i),
            Stored::Ip(a) => Value::Ip(*a),
            Stored::Str(s) => Value::Str(s),
        })
    }
}

/// The conditions of `set-var(V,COND...)`, a set of bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetCond(u8);

impl SetCond {
    const IFEXISTS: u8 = 1;
    const IFNOTEXISTS: u8 = 2;
    const IFEMPTY: u8 = 4;
    const IFNOTEMPTY: u8 = 8;
    const IFSET: u8 = 16;
    const IFNOTSET: u8 = 32;
    const IFGT: u8 = 64;
    const IFLT: u8 = 128;
    const NAMES: [(&str, u8); 8] = [
        ("ifexists", Self::IFEXISTS),
        ("ifnotexists", Self::IFNOTEXISTS),
        ("ifempty", Self::IFEMPTY),
        ("ifnotempty", Self::IFNOTEMPTY),
        ("ifset", Self::IFSET),
        ("ifnotset", Self::IFNOTSET),
        ("ifgt", Self::IFGT),
        ("iflt", Self::IFLT),
    ];

    /// Parses the comma-separated conditions after the name (HAProxy's message for an
    /// unknown one).
    pub(crate) fn parse(list: &str) -> Result<SetCond, String> {
        let mut c = 0;
        for w in list.split(',').filter(|w| !w.is_empty()) {
            match Self::NAMES.iter().find(|(n, _)| *n == w) {
                Some((_, bit)) => c |= bit,
                None => return Err(format!("unknown condition \"{w}\"")),
            }
        }
        Ok(SetCond(c))
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// What `set-var` does to a variable whose current content is `cur` (`None`: it does
    /// not exist), HAProxy 2.6's `var_set` step by step.
    fn decide(self, cur: Option<&Stored>, new: Stored) -> SetOutcome {
        if cur.is_some() && self.has(Self::IFNOTEXISTS) || cur.is_none() && self.has(Self::IFEXISTS)
        {
            return SetOutcome::Leave;
        }
        // From here on the variable exists, set or not.
        let prev = cur.unwrap_or(&Stored::Unset);
        let unset = *prev == Stored::Unset;
        let keep_set = self.has(Self::IFSET) && unset || self.has(Self::IFNOTSET) && !unset;
        let keep_value = match (&new, prev) {
            (Stored::Str(b), _) => {
                self.has(Self::IFNOTEMPTY) && b.is_empty()
                    || self.has(Self::IFEMPTY) && !b.is_empty()
            }
            (Stored::Unset, _) => false,
            // Scalars are never empty.
            _ if self.has(Self::IFEMPTY) => true,
            // Compared only when both are integers.
            (Stored::Int(n), Stored::Int(p)) => {
                self.has(Self::IFGT) && p <= n || self.has(Self::IFLT) && p >= n
            }
            _ => false,
        };
        if keep_set || keep_value {
            SetOutcome::Touch
        } else {
            SetOutcome::Store(new)
        }
    }
}

/// The decision of a conditional `set-var`.
#[derive(Debug, PartialEq, Eq)]
enum SetOutcome {
    /// Nothing changes.
    Leave,
    /// The value stays, but the variable now exists (unset if it did not).
    Touch,
    Store(Stored),
}

/// `tune.vars.*-max-size`: the bytes variables may take (0: no limit), counted as HAProxy
/// 2.6 counts them: [`VAR_COST`] per variable and the length of a string value.
/// Hierarchical as HAProxy's: `txn` counts the `req`/`res` variables too, `sess` the
/// transaction's, `proc` and `global` every variable of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VarLimits {
    pub global: usize,
    pub proc: usize,
    pub sess: usize,
    pub txn: usize,
    pub reqres: usize,
}

impl VarLimits {
    fn any(&self) -> bool {
        *self != VarLimits::default()
    }
}

/// What HAProxy 2.6 counts for one variable besides a string's bytes (its `struct var` on
/// 64-bit Linux, measured with Debian's build: `tune.vars.txn-max-size 100` holds a
/// 20-byte string and not a 21-byte one).
pub const VAR_COST: usize = 80;

/// The limits of the configuration running (set when one loads).
static LIMITS: std::sync::RwLock<VarLimits> = std::sync::RwLock::new(VarLimits {
    global: 0,
    proc: 0,
    sess: 0,
    txn: 0,
    reqres: 0,
});
/// Whether any limit is set: without one, nothing is counted (no shared counter is
/// touched by a `set-var`).
static LIMITED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The bytes of every variable of the process counted while limits are set (what the
/// `proc` and `global` limits bound).
static TOTAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets `tune.vars.*-max-size` for the variables set from now on.
pub fn set_limits(l: VarLimits) {
    *LIMITS.write().unwrap_or_else(|p| p.into_inner()) = l;
    LIMITED.store(l.any(), std::sync::atomic::Ordering::Relaxed);
}

fn limits() -> Option<VarLimits> {
    if !LIMITED.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    Some(*LIMITS.read().unwrap_or_else(|p| p.into_inner()))
}

/// What one variable holding `v` counts.
fn cost(v: &Stored) -> usize {
    VAR_COST
        + match v {
            Stored::Str(s) => s.len(),
            _ => 0,
        }
}

/// Adds to or takes from [`TOTAL`].
fn charge_total(add: usize, sub: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    if add > sub {
        TOTAL.fetch_add(add - sub, Relaxed);
    } else if sub > add {
        // (Saturating: a set counted before the limits were read never goes below 0.)
        let _ = TOTAL.fetch_update(Relaxed, Relaxed, |t| Some(t.saturating_sub(sub - add)));
    }
}

/// The variables of one connection or one transaction. Empty, it holds no allocation.
#[derive(Default)]
pub struct VarSet(
    RefCell<Vec<(Scope, Box<str>, Stored)>>,
    /// What the set knows beside its variables ([`Facts`]), allocated when the first is set
    /// and kept by [`VarSet::clear`] for the next transaction. One word (a `Cell` taken and
    /// put back, not a `RefCell`): a set lives in every connection's and request's future,
    /// and an idle connection's task sits at the edge of its allocator size class.
    std::cell::Cell<Option<Box<Facts>>>,
);

/// What fetches read of a stream and no `set-var` can write: the queue priority
/// (`prio_class`, `prio_offset`), the current timeouts (`cur_server_timeout`,
/// `cur_tunnel_timeout`), the last rule (`last_rule_file`, `last_rule_line`) and the server
/// connection (`bc_src`, `bc_src_port`, `bc_dst`, `bc_dst_port`, `bc_http_major`,
/// `bc_err`, `ssl_bc*`). Kept
/// apart from the variables: they do not count toward `tune.vars.*-max-size` (as in
/// HAProxy, where they are fields of the stream) and cost no allocation per name. Also the
/// set's own bookkeeping (what it charged to the limits, whether the request ended).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Facts {
    /// The bytes this set added to the process' count (only while limits are set).
    charged: usize,
    /// [`VarSet::end_request`] ran.
    ended: bool,
    prio: [Option<i64>; 2],
    timeouts: [Option<i64>; 2],
    last_rule: Option<(Box<[u8]>, i64)>,
    /// A rule that answered itself (`return`, `redirect`, `auth`): HAProxy records it once
    /// the answer went through the `http-after-response` rules
    /// ([`VarSet::settle_last_rule`]).
    answering_rule: Option<(Box<[u8]>, i64)>,
    bc_addrs: Option<(SocketAddr, SocketAddr)>,
    bc_http_major: Option<i64>,
    /// HAProxy's code of the server connection's error (`bc_err`): 0 once up.
    bc_err: Option<u8>,
    /// Its TLS session (`ssl_bc*`), when it is TLS and a configuration asks.
    /// (Boxed: a keep-alive connection keeps these facts, most without a TLS server.)
    bc_tls: Option<Box<crate::tls::ServerSession>>,
    /// What the `capture-req` and `capture-res` converters stored, by slot, until the
    /// transaction takes them ([`VarSet::take_captures`]).
    captures: [Vec<(usize, Box<[u8]>)>; 2],
    /// The request's unique ID, when it was made for the rules (`unique-id`).
    unique_id: Option<Box<[u8]>>,
}

impl Clone for VarSet {
    fn clone(&self) -> Self {
        // The copy is not counted (it is a snapshot: stats, tests).
        VarSet(
            RefCell::new(self.0.borrow().clone()),
            std::cell::Cell::new({
                let x = self.1.take();
                let copy = x.clone().map(|mut c| {
                    c.charged = 0;
                    c
                });
                self.1.set(x);
                copy
            }),
        )
    }
}

impl std::fmt::Debug for VarSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let facts = self.facts(Facts::clone);
        f.debug_struct("VarSet")
            .field("vars", &*self.0.borrow())
            .field("facts", &facts)
            .finish()
    }
}

impl Drop for VarSet {
    fn drop(&mut self) {
        charge_total(0, self.charged());
    }
}

impl PartialEq for VarSet {
    fn eq(&self, other: &Self) -> bool {
        // (What a set charged to the process' count is not part of what it holds.)
        let facts = |v: &VarSet| {
            v.facts(|x| Facts {
                charged: 0,
                ..x.clone()
            })
        };
        *self.0.borrow() == *other.0.borrow() && facts(self) == facts(other)
    }
}

impl Eq for VarSet {}

impl VarSet {
    /// Reads the stream's facts (all unset when none was ever set).
    fn facts<R>(&self, f: impl FnOnce(&Facts) -> R) -> R {
        // A set without facts reads these (making and dropping a default `Facts` per read
        // cost hundreds of instructions per request, a set without variables included).
        static NONE: Facts = Facts {
            charged: 0,
            ended: false,
            prio: [None; 2],
            timeouts: [None; 2],
            last_rule: None,
            answering_rule: None,
            bc_addrs: None,
            bc_http_major: None,
            bc_err: None,
            bc_tls: None,
            captures: [Vec::new(), Vec::new()],
            unique_id: None,
        };
        let x = self.1.take();
        let r = f(x.as_deref().unwrap_or(&NONE));
        self.1.set(x);
        r
    }

    fn facts_mut<R>(&self, f: impl FnOnce(&mut Facts) -> R) -> R {
        let mut x = self.1.take().unwrap_or_default();
        let r = f(&mut x);
        self.1.set(Some(x));
        r
    }

    /// `capture-req(id)` / `capture-res(id)` (`response`): `v` for the frontend's capture
    /// slot `id`, replacing what an earlier one stored there.
    pub fn set_capture(&self, response: bool, id: usize, v: &[u8]) {
        self.facts_mut(|x| {
            let slots = &mut x.captures[usize::from(response)];
            match slots.iter_mut().find(|(i, _)| *i == id) {
                Some((_, old)) => *old = v.into(),
                None => slots.push((id, v.into())),
            }
        });
    }

    /// The request's unique ID, made for the rules to read (`unique-id`; HAProxy's
    /// `strm->unique_id`).
    pub fn set_unique_id(&self, id: &[u8]) {
        self.facts_mut(|x| x.unique_id = Some(id.into()));
    }

    /// Calls `f` with the unique ID [`VarSet::set_unique_id`] stored, if any.
    pub fn with_unique_id(&self, f: impl FnOnce(&[u8])) {
        self.facts(|x| {
            if let Some(id) = &x.unique_id {
                f(id);
            }
        });
    }

    /// What [`VarSet::set_capture`] stored for the request's slots (`response` false) or
    /// the response's, as (slot, value), taken out of the set.
    pub fn take_captures(&self, response: bool) -> Vec<(usize, Vec<u8>)> {
        match self.1.take() {
            Some(mut x) => {
                let out = std::mem::take(&mut x.captures[usize::from(response)]);
                self.1.set(Some(x));
                out.into_iter().map(|(i, v)| (i, v.into_vec())).collect()
            }
            None => Vec::new(),
        }
    }

    /// The stream's queue priority as `set-priority-class` and `set-priority-offset` left
    /// it (the `prio_class` and `prio_offset` fetches): (class, offset in ms), 0 by default.
    pub fn priority(&self) -> (i64, i64) {
        self.facts(|x| (x.prio[0].unwrap_or(0), x.prio[1].unwrap_or(0)))
    }

    /// Sets the class (`class`) or the offset of [`VarSet::priority`].
    pub fn set_priority(&self, class: bool, v: i64) {
        self.facts_mut(|x| x.prio[usize::from(!class)] = Some(v));
    }

    /// The stream's server and tunnel timeouts in ms (`cur_server_timeout`,
    /// `cur_tunnel_timeout`): what `set-timeout` set, else the backend's once the server
    /// connection is up, else 0 (HAProxy's `TICKS_TO_MS` of an unset timeout).
    pub fn cur_timeouts(&self) -> (i64, i64) {
        self.facts(|x| (x.timeouts[0].unwrap_or(0), x.timeouts[1].unwrap_or(0)))
    }

    /// `set-timeout`: sets the tunnel (`tunnel`) or server timeout of
    /// [`VarSet::cur_timeouts`]; with `keep`, only where nothing set it yet (the
    /// backend's, at the connection's establishment).
    pub fn set_cur_timeout(&self, tunnel: bool, t: Option<std::time::Duration>, keep: bool) {
        self.facts_mut(|x| {
            let slot = &mut x.timeouts[usize::from(tunnel)];
            if !(keep && slot.is_some()) {
                *slot = Some(t.map_or(0, |d| d.as_millis() as i64));
            }
        });
    }

    /// The rule that last stopped a rule set of the stream (`last_rule_file`,
    /// `last_rule_line`), as [`VarSet::set_last_rule`] left it.
    pub fn last_rule(&self) -> Option<(Vec<u8>, i64)> {
        self.facts(|x| x.last_rule.as_ref().map(|(f, l)| (f.to_vec(), *l)))
    }

    /// A rule stopped its rule set (HAProxy's `s->last_rule_file`/`line`: an `allow`,
    /// `deny`, `return`, `redirect`… of `http-request`, `http-response`,
    /// `http-after-response`, `tcp-request content` or `tcp-response content` rules).
    /// `answered`: the rule wrote its own answer, and counts once that answer went through
    /// the `http-after-response` rules.
    pub fn set_last_rule(&self, file: &str, line: u32, answered: bool) {
        let rule = Some((file.as_bytes().into(), i64::from(line)));
        self.facts_mut(|x| {
            if answered {
                x.answering_rule = rule;
            } else {
                x.last_rule = rule;
            }
        });
    }

    /// The answer of a rule that answered itself went through the `http-after-response`
    /// rules (or is being logged): it is the last rule now.
    pub fn settle_last_rule(&self) {
        if let Some(mut x) = self.1.take() {
            if let Some(r) = x.answering_rule.take() {
                x.last_rule = Some(r);
            }
            self.1.set(Some(x));
        }
    }

    /// The server connection is up (HAProxy's `back_establish`): its local and remote
    /// addresses (none for a unix socket) and, in mode http, its HTTP major version.
    /// Its TLS session too, when it is TLS (`ssl_bc*`); its error is none (`bc_err` 0).
    pub fn set_bc(
        &self,
        addrs: Option<(SocketAddr, SocketAddr)>,
        http_major: Option<i64>,
        tls: Option<crate::tls::ServerSession>,
    ) {
        self.facts_mut(|x| {
            x.bc_addrs = addrs;
            x.bc_http_major = http_major;
            x.bc_err = Some(0);
            x.bc_tls = tls.map(Box::new);
        });
    }

    /// The connect to the server failed. HAProxy 2.6 lets go of a connection that failed
    /// to connect (refused, timed out): nothing of it is left to fetch. One whose TLS
    /// handshake failed stays the stream's: it is TLS (`ssl_bc`), and its `bc_err` is
    /// `CO_ER_SSL_HANDSHAKE`, except after a timeout, when the handshake is still waiting
    /// and HAProxy's `bc_err` finds nothing.
    pub fn set_bc_failed(&self, tls_handshake: bool, timed_out: bool) {
        self.facts_mut(|x| {
            x.bc_addrs = None;
            x.bc_http_major = None;
            x.bc_err =
                (tls_handshake && !timed_out).then_some(crate::tls::conn_err::SSL_HANDSHAKE as u8);
            x.bc_tls = tls_handshake.then(|| Box::new(crate::tls::ServerSession::failed()));
        });
    }

    /// The server connection's error code (`bc_err`) and its TLS session (`ssl_bc*`), as
    /// [`VarSet::set_bc`] or [`VarSet::set_bc_failed`] left them, for `f`.
    pub fn with_bc_conn<R>(
        &self,
        f: impl FnOnce(Option<i64>, Option<&crate::tls::ServerSession>) -> R,
    ) -> R {
        self.facts(|x| f(x.bc_err.map(i64::from), x.bc_tls.as_deref()))
    }

    /// One of [`VarSet::set_bc`]'s values: `i` in the order `bc_src`, `bc_src_port`,
    /// `bc_dst`, `bc_dst_port`, `bc_http_major`.
    pub fn bc(&self, i: usize) -> Option<Stored> {
        self.facts(|x| match i {
            4 => x.bc_http_major.map(Stored::Int),
            _ => x.bc_addrs.map(|(src, dst)| {
                let a = if i < 2 { src } else { dst };
                if i.is_multiple_of(2) {
                    Stored::Ip(a.ip())
                } else {
                    Stored::Int(i64::from(a.port()))
                }
            }),
        })
    }

    fn with<R>(&self, v: &VarRef, f: impl FnOnce(Option<Value<'_>>) -> R) -> R {
        let set = self.0.borrow();
        let found = set
            .iter()
            .find(|(s, n, _)| *s == v.scope && **n == *v.name)
            .and_then(|(_, _, x)| x.value());
        f(found)
    }

    /// Sets the variable (also `do-resolve`'s answer).
    pub fn set(&self, v: &VarRef, val: Stored, c: SetCond) {
        self.set_within(v, val, c, None);
    }

    /// The bytes its variables of the scopes `which` accepts count.
    fn size(&self, which: impl Fn(Scope) -> bool) -> usize {
        let set = self.0.borrow();
        set.iter()
            .filter(|(s, _, _)| which(*s))
            .map(|(_, _, x)| cost(x))
            .sum()
    }

    /// Sets the variable; with `room`, only when `room(bytes added)` allows the new
    /// value: else, as in HAProxy (which frees the old value before failing to store the
    /// new one), the variable is left without a value, or not created when even that does
    /// not fit.
    fn set_within(
        &self,
        v: &VarRef,
        val: Stored,
        c: SetCond,
        room: Option<&dyn Fn(usize) -> bool>,
    ) {
        // HAProxy keeps `req.` and `res.` variables in one list whose scope follows the
        // stream (vars.c's `vars->scope != scope`): a `req.` one cannot be set once the
        // request's analysis is over, nor a `res.` one before.
        let ended = self.facts(|x| x.ended);
        if (v.scope == Scope::Req && ended) || (v.scope == Scope::Res && !ended) {
            return;
        }
        // (`room` reads the sets: no borrow is held while it runs.)
        let (at, decided, old) = {
            let set = self.0.borrow();
            let at = set
                .iter()
                .position(|(s, n, _)| *s == v.scope && **n == *v.name);
            let old = at.map_or(0, |i| cost(&set[i].2));
            (at, c.decide(at.map(|i| &set[i].2), val), old)
        };
        let mut val = match decided {
            SetOutcome::Leave => return,
            SetOutcome::Touch if at.is_some() => return,
            SetOutcome::Touch => Stored::Unset,
            SetOutcome::Store(x) => x,
        };
        if let Some(room) = room {
            let fits = |x: &Stored| cost(x) <= old || room(cost(x) - old);
            if !fits(&val) {
                val = Stored::Unset;
                if at.is_none() && !fits(&val) {
                    return;
                }
            }
            charge_total(cost(&val), old);
            self.facts_mut(|x| x.charged = (x.charged + cost(&val)).saturating_sub(old));
        }
        let mut set = self.0.borrow_mut();
        match at {
            Some(i) => set[i].2 = val,
            None => set.push((v.scope, v.name.clone(), val)),
        }
    }

    fn unset(&self, v: &VarRef) {
        let mut set = self.0.borrow_mut();
        let gone: usize = set
            .iter()
            .filter(|(s, n, _)| *s == v.scope && **n == *v.name)
            .map(|(_, _, x)| cost(x))
            .sum();
        set.retain(|(s, n, _)| !(*s == v.scope && **n == *v.name));
        self.uncharge(gone);
    }

    /// The bytes this set added to the process' count.
    fn charged(&self) -> usize {
        self.facts(|x| x.charged)
    }

    /// Gives back up to `n` of the bytes this set added to the process' count.
    fn uncharge(&self, n: usize) {
        let n = n.min(self.charged());
        if n > 0 {
            self.facts_mut(|x| x.charged -= n);
            charge_total(0, n);
        }
    }

    /// Forgets everything (a new transaction on a kept-alive connection starts empty).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
        self.uncharge(usize::MAX);
        if let Some(mut x) = self.1.take() {
            *x = Facts::default();
            self.1.set(Some(x));
        }
    }

    /// The request's analysis is over: the stream goes to a server, or corelb answers
    /// without one. HAProxy keeps `req.` and `res.` variables in one list that it prunes
    /// then, once (`vars_reqres`, process_stream and http_eval_after_res_rules): `req.`
    /// ones are gone for the response's rules and the log; `res.` ones set afterwards stay.
    pub fn end_request(&self) {
        if self.facts_mut(|x| std::mem::replace(&mut x.ended, true)) {
            return;
        }
        let reqres = |s: Scope| matches!(s, Scope::Req | Scope::Res);
        let gone = self.size(reqres);
        self.0.borrow_mut().retain(|(s, _, _)| !reqres(*s));
        self.uncharge(gone);
    }
}

/// The process-wide (`proc.`) variables that have a value: a snapshot that readers load
/// without a lock and writers replace (`rcu`). A name absent here exists unset (HAProxy
/// creates the `proc` variables a configuration names while parsing it).
static PROC: LazyLock<ArcSwap<ProcVars>> = LazyLock::new(|| ArcSwap::from_pointee(Vec::new()));

/// What the `proc` variables count in [`TOTAL`] (replaced at each counted change).
static PROC_COUNTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The `proc` variables with a value, by name.
pub type ProcVars = Vec<(Box<str>, Stored)>;

/// The `proc` variables as they are, to put back with [`proc_restore`] (a configuration
/// whose global `set-var` lines ran but which did not load).
pub fn proc_snapshot() -> Arc<ProcVars> {
    PROC.load_full()
}

/// Puts back what [`proc_snapshot`] took.
pub fn proc_restore(p: Arc<ProcVars>) {
    PROC.store(p);
}

/// What the global section's `set-var`/`set-var-fmt` evaluate in: no connection, no
/// request, the `proc` variables only (HAProxy allows only "internal" fetches there).
pub struct Startup;

impl super::Sample for Startup {
    fn src(&self) -> Option<std::net::SocketAddr> {
        None
    }
    fn dst(&self) -> Option<std::net::SocketAddr> {
        None
    }
    fn method(&self) -> Option<&[u8]> {
        None
    }
    fn url(&self) -> Option<&[u8]> {
        None
    }
    fn version(&self) -> Option<&[u8]> {
        None
    }
    fn for_each_header(&self, _: &[u8], _: &mut dyn FnMut(&[u8]) -> bool) {}
    fn ssl_fc(&self) -> bool {
        false
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        None
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        None
    }
    fn nbsrv(&self, _: usize) -> u32 {
        0
    }
    fn stopping(&self) -> bool {
        false
    }
}

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
            let p = PROC.load();
            let found = p
                .iter()
                .find(|(n, _)| **n == *v.name)
                .and_then(|(_, x)| x.value());
            return f(found);
        }
        match self.set_for(v.scope) {
            Some(set) => set.with(v, f),
            None => f(None),
        }
    }

    /// Sets the variable (also `do-resolve`'s answer), within `tune.vars.*-max-size`.
    pub fn set(&self, v: &VarRef, val: Stored, c: SetCond) {
        let lim = limits();
        if v.scope == Scope::Proc {
            // Copy, change, swap; `rcu` tries again if another shard swapped meanwhile.
            PROC.rcu(|p| {
                let at = p.iter().position(|(n, _)| **n == *v.name);
                let cur = Some(at.map_or(&Stored::Unset, |i| &p[i].1));
                let mut next = Vec::clone(p);
                let x = match c.decide(cur, val.clone()) {
                    SetOutcome::Store(x) => x,
                    _ => return Arc::clone(p),
                };
                // A `proc` variable always exists: one that does not fit loses its value.
                let x = match lim {
                    Some(l) => {
                        let old = at.map_or(0, |i| cost(&p[i].1));
                        let total = TOTAL.load(std::sync::atomic::Ordering::Relaxed);
                        let new_total = (total + cost(&x)).saturating_sub(old);
                        let within = |n: usize| n == 0 || new_total <= n;
                        if within(l.proc) && within(l.global) {
                            x
                        } else {
                            Stored::Unset
                        }
                    }
                    None => x,
                };
                match at {
                    Some(i) => next[i].1 = x,
                    None => next.push((v.name.clone(), x)),
                }
                Arc::new(next)
            });
            if lim.is_some() {
                let counted: usize = PROC.load().iter().map(|(_, x)| cost(x)).sum();
                let before = PROC_COUNTED.swap(counted, std::sync::atomic::Ordering::Relaxed);
                charge_total(counted, before);
            }
        } else if let Some(set) = self.set_for(v.scope) {
            let Some(l) = lim else {
                return set.set(v, val, c);
            };
            let (txn, sess) = (self.txn, self.sess);
            let scope = v.scope;
            let room = move |add: usize| {
                let within = |limit: usize, used: usize| limit == 0 || used + add <= limit;
                let reqres = |s: Scope| matches!(s, Scope::Req | Scope::Res);
                let txn_used = txn.map_or(0, |t| t.size(|_| true));
                let sess_used = sess.map_or(0, |s| s.size(|_| true)) + txn_used;
                let total = TOTAL.load(std::sync::atomic::Ordering::Relaxed);
                (!reqres(scope) || within(l.reqres, txn.map_or(0, |t| t.size(reqres))))
                    && (scope == Scope::Sess || within(l.txn, txn_used))
                    && within(l.sess, sess_used)
                    && within(l.proc, total)
                    && within(l.global, total)
            };
            set.set_within(v, val, c, Some(&room));
        }
    }

    pub(crate) fn unset(&self, v: &VarRef) {
        if v.scope == Scope::Proc {
            PROC.rcu(|p| {
                let mut next = Vec::clone(p);
                next.retain(|(n, _)| **n != *v.name);
                next
            });
        } else if let Some(set) = self.set_for(v.scope) {
            set.unset(v);
        }
    }
}

/// What a `set-var`, `set-var-fmt` or `unset-var` rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarAction {
    /// `set-var(V[,COND...]) EXPR`: the expression's value, with its type.
    Set(VarRef, FetchExpr, SetCond),
    /// `set-var-fmt(V[,COND...]) FMT`: the rendered string.
    SetFmt(VarRef, LogFormat, SetCond),
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
        if !conds.is_empty() && kw == "unset-var" {
            return Err(
                "unset-var does not expect parameters after the variable name. Only \
                 \"set-var\" and \"set-var-fmt\" manage conditions"
                    .into(),
            );
        }
        let cond = SetCond::parse(conds)?;
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
                super::placement::misplaced_expr(action, e, ctx.place)?;
                Ok(VarAction::Set(var, expr, cond))
            }
            "set-var-fmt" => {
                let f = one("a log-format string")?;
                Ok(VarAction::SetFmt(var, LogFormat::parse(f, ctx)?, cond))
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
            VarAction::Set(v, ..) | VarAction::SetFmt(v, ..) | VarAction::Unset(v) => v,
        }
    }

    /// Runs the action on `s`'s variables. An expression that finds nothing leaves the
    /// variable as it was, as in HAProxy.
    pub fn apply(&self, s: &dyn Sample, scratch: &mut Vec<u8>) {
        let vars = s.vars();
        match self {
            VarAction::Set(v, e, c) => {
                let mut got = None;
                e.each(s, false, &mut |x| {
                    got = Some(Stored::of(x));
                    false
                });
                if let Some(x) = got {
                    vars.set(v, x, *c);
                }
            }
            VarAction::SetFmt(v, f, c) => {
                scratch.clear();
                f.render(s, scratch);
                vars.set(v, Stored::Str(scratch.as_slice().into()), *c);
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
        vars.set(&t, Stored::Int(3), SetCond::default());
        vars.set(&r, Stored::Str((*b"a").into()), SetCond::default());
        vars.set(&s, Stored::Bool(true), SetCond::default());
        vars.with(&t, |v| assert_eq!(v, Some(Value::Int(3))));
        vars.with(&r, |v| assert_eq!(v, Some(Value::Str(b"a"))));
        vars.with(&s, |v| assert_eq!(v, Some(Value::Bool(true))));
        vars.set(&t, Stored::Int(4), SetCond::default());
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
        early.set(&t, Stored::Int(1), SetCond::default());
        early.with(&t, |v| assert_eq!(v, None));
    }

    #[test]
    fn proc_variables_are_shared_by_every_set() {
        let p = VarRef::parse("proc.unit_test_shared").unwrap();
        Vars::default().set(&p, Stored::Int(7), SetCond::default());
        let other = VarSet::default();
        let v = Vars {
            sess: Some(&other),
            txn: None,
        };
        v.with(&p, |x| assert_eq!(x, Some(Value::Int(7))));
        v.unset(&p);
        Vars::default().with(&p, |x| assert_eq!(x, None));
    }

    #[test]
    fn set_var_conditions_follow_haproxy() {
        let (sess, txn) = (VarSet::default(), VarSet::default());
        let vars = Vars {
            sess: Some(&sess),
            txn: Some(&txn),
        };
        let c = |l: &str| SetCond::parse(l).unwrap();
        let get = |v: &VarRef| vars.with(v, |x| x.map(|x| format!("{x:?}")));
        let x = VarRef::parse("txn.x").unwrap();
        // ifexists on a missing variable: nothing, not even created.
        vars.set(&x, Stored::Int(1), c("ifexists"));
        assert_eq!(get(&x), None);
        assert!(txn.0.borrow().is_empty());
        // ifset on a missing variable creates it unset: now ifexists holds, ifnotexists not.
        vars.set(&x, Stored::Int(1), c("ifset"));
        assert_eq!(get(&x), None);
        vars.set(&x, Stored::Int(1), c("ifnotexists"));
        assert_eq!(get(&x), None);
        vars.set(&x, Stored::Int(5), c("ifexists,ifnotset"));
        assert_eq!(get(&x), Some("Int(5)".into()));
        // ifgt: set when the variable's value is greater than the new one; iflt: less.
        vars.set(&x, Stored::Int(7), c("ifgt"));
        assert_eq!(get(&x), Some("Int(5)".into()));
        vars.set(&x, Stored::Int(3), c("ifgt"));
        assert_eq!(get(&x), Some("Int(3)".into()));
        vars.set(&x, Stored::Int(2), c("iflt"));
        assert_eq!(get(&x), Some("Int(3)".into()));
        vars.set(&x, Stored::Int(9), c("iflt"));
        assert_eq!(get(&x), Some("Int(9)".into()));
        // Not both integers: the comparison does not stop it.
        vars.set(&x, Stored::Str((*b"s").into()), c("ifgt"));
        assert_eq!(get(&x), Some("Str([115])".into()));
        // ifempty never sets a scalar; strings by their length.
        vars.set(&x, Stored::Int(1), c("ifempty"));
        vars.set(&x, Stored::Str((*b"").into()), c("ifnotempty"));
        assert_eq!(get(&x), Some("Str([115])".into()));
        vars.set(&x, Stored::Str((*b"").into()), c("ifempty"));
        assert_eq!(get(&x), Some("Str([])".into()));
        vars.set(&x, Stored::Bool(true), c("ifset,ifnotempty"));
        assert_eq!(get(&x), Some("Bool(true)".into()));
        assert_eq!(
            SetCond::parse("ifset,bogus").unwrap_err(),
            "unknown condition \"bogus\""
        );
        // proc variables always exist (HAProxy creates them while parsing).
        let p = VarRef::parse("proc.unit_test_cond").unwrap();
        vars.set(&p, Stored::Int(1), c("ifnotexists"));
        vars.with(&p, |v| assert_eq!(v, None));
        vars.set(&p, Stored::Int(1), c("ifexists,ifnotset"));
        vars.with(&p, |v| assert_eq!(v, Some(Value::Int(1))));
        vars.set(&p, Stored::Int(2), c("ifnotset"));
        vars.with(&p, |v| assert_eq!(v, Some(Value::Int(1))));
    }
}
