//! The stick module's side of [`StickSource`]: how `sc_*`/`src_*`/`table_*` fetches read
//! the tables and how the stick actions change them, for one request's [`StickCtx`]. The
//! `acl` layer parses both and calls in through the trait.

use super::action::key_of;
use super::{Entry, StickCtx, Table};
use crate::acl::{
    DataType, GptValue, Op, RuleKind, Sample, StickAction, StickFetch, StickSource, TableName,
    Target, Value,
};
use std::sync::Arc;

impl StickSource for StickCtx<'_> {
    fn fetch(&self, f: &StickFetch, s: &dyn Sample) -> Option<Value<'static>> {
        let ctx = self;
        let now = ctx.now;
        let table_of = |t: &TableName| t.index.and_then(|i| ctx.tables.get(i));
        let (table, entry): (&Table, Option<Arc<Entry>>) = match &f.target {
            Target::Table(t) => {
                let t = table_of(t)?;
                let used = t.used() as i64;
                return Some(Value::Int(match f.op {
                    Op::TableCnt => used,
                    _ => (t.cfg.size as i64 - used).max(0),
                }));
            }
            Target::Sc { slot, table } => {
                let tracked = ctx.slot(*slot);
                if f.op == Op::Tracked {
                    return Some(Value::Bool(tracked.is_some()));
                }
                match (tracked, table) {
                    // An untracked counter finds nothing, with or without a table (HAProxy
                    // 2.6's `smp_fetch_sc_stkctr`): `sc_http_req_rate(0) lt 10` is false.
                    (None, _) => return None,
                    (Some((t, tr)), None) => (t, Some(tr.entry.clone())),
                    (Some((_, tr)), Some(name)) => {
                        let t = table_of(name)?;
                        (t, t.lookup(&tr.entry.key, now))
                    }
                }
            }
            Target::Src(name) => {
                let t = table_of(name)?;
                let key = t.key_of_ip(s.src()?.ip())?;
                let e = if matches!(f.op, Op::Inc(_) | Op::IncAt(_)) {
                    t.get_or_create(&key, now)
                } else {
                    t.lookup(&key, now)
                };
                (t, e)
            }
            Target::Key(_) => return None,
        };
        value(table, entry.as_deref(), f.op, now)
    }

    /// HAProxy's `sample_conv_table_*`: a key absent from the table reads 0 (`in_table`
    /// false) whatever the table stores; a present one without the data finds nothing.
    /// Neither creates nor touches the entry.
    fn fetch_key(&self, f: &StickFetch, key: Value<'_>) -> Option<Value<'static>> {
        let Target::Key(name) = &f.target else {
            return None;
        };
        let t = name.index.and_then(|i| self.tables.get(i))?;
        let key = match key {
            Value::Ip(a) => t.key_of_ip(a),
            Value::Int(i) => t.key_of_int(i),
            Value::Bool(b) => t.key_of_int(b as i64),
            Value::Str(b) => t.key_of_bytes(b),
        }?;
        let entry = t.lookup(&key, self.now);
        match (f.op, entry.as_deref()) {
            (Op::InTable, e) => return Some(Value::Bool(e.is_some())),
            (Op::Expire(default) | Op::Idle(default), None) => return default.map(Value::Int),
            // HAProxy's `tick_remain(now, ts->expire)`, and for the idle time what
            // of the table's `expire` that leaves.
            (Op::Expire(_), Some(e)) => return Some(Value::Int(t.remaining(e, self.now) as i64)),
            (Op::Idle(_), Some(e)) => {
                let x = t.expire_ms().unwrap_or(0);
                return Some(Value::Int(x.saturating_sub(t.remaining(e, self.now)) as i64));
            }
            _ => {}
        }
        let Some(e) = entry.as_deref() else {
            return Some(Value::Int(0));
        };
        match f.op {
            // HAProxy reads the count while its own lookup holds the entry: one more.
            Op::Trackers => Some(Value::Int(e.refs() as i64 + 1)),
            Op::Get(_) | Op::KBytes(_) | Op::GetAt(..) => value(t, Some(e), f.op, self.now),
            _ => None,
        }
    }

    /// A `track-sc` from an HTTP rule counts the request on the entry it starts tracking,
    /// a 4xx response as an HTTP error and a failing 5xx as an HTTP failure, as HAProxy's
    /// `http_action_track_sc` does; one from `tcp-request` counts the connection only.
    fn apply(&self, a: &StickAction, s: &dyn Sample, origin: RuleKind) {
        let ctx = self;
        match a {
            StickAction::Track { slot, key, table } => {
                let Some(t) = ctx.tables.get(table.index) else {
                    return;
                };
                let Some(k) = key_of(t, key, s) else { return };
                if let Some((t, tr)) = ctx
                    .stream
                    .track(*slot, ctx.tables, table.index, &k, ctx.now)
                    && origin != RuleKind::Tcp
                {
                    let now = ctx.now;
                    t.add(&tr.entry, DataType::HttpReqCnt, 1, now);
                    t.add(&tr.entry, DataType::HttpReqRate, 1, now);
                    match origin {
                        RuleKind::HttpResponse(400..=499) => {
                            t.add(&tr.entry, DataType::HttpErrCnt, 1, now);
                            t.add(&tr.entry, DataType::HttpErrRate, 1, now);
                        }
                        RuleKind::HttpResponse(s) if super::track::is_http_fail(s) => {
                            t.add(&tr.entry, DataType::HttpFailCnt, 1, now);
                            t.add(&tr.entry, DataType::HttpFailRate, 1, now);
                        }
                        _ => {}
                    }
                }
            }
            StickAction::IncGpc { slot, gpc1 } => {
                if let Some((t, tr)) = ctx.slot(*slot) {
                    let (c, r) = if *gpc1 {
                        (DataType::Gpc1, DataType::Gpc1Rate)
                    } else {
                        (DataType::Gpc0, DataType::Gpc0Rate)
                    };
                    let now = ctx.now;
                    t.add(&tr.entry, r, 1, now);
                    t.add(&tr.entry, c, 1, now);
                }
            }
            StickAction::IncGpcAt { idx, slot } => {
                if let Some((t, tr)) = ctx.slot(*slot) {
                    let now = ctx.now;
                    t.add_at(&tr.entry, DataType::GpcRate, *idx as usize, 1, now);
                    t.add_at(&tr.entry, DataType::Gpc, *idx as usize, 1, now);
                }
            }
            StickAction::SetGptAt { idx, slot, value } => {
                if let (Some((t, tr)), Some(v)) = (ctx.slot(*slot), gpt_value(value, s)) {
                    t.set_at(&tr.entry, DataType::Gpt, *idx as usize, v as u32 as u64);
                }
            }
            StickAction::SetGpt0 { slot, value } => {
                let v = match value {
                    GptValue::Int(i) => Some(*i),
                    GptValue::Expr(e) => {
                        let mut v = None;
                        e.each(s, false, &mut |x| {
                            v = x.to_int();
                            false
                        });
                        v
                    }
                };
                if let (Some((t, tr)), Some(v)) = (ctx.slot(*slot), v) {
                    t.set(&tr.entry, DataType::Gpt0, v as u32 as u64);
                }
            }
        }
    }
}

/// What `op` reads (or does) on `entry` of `table`: a data type the table does not store
/// finds nothing; an absent entry reads 0 (HAProxy's `smp_fetch_sc_*`).
fn value(table: &Table, entry: Option<&Entry>, op: Op, now: u64) -> Option<Value<'static>> {
    use DataType::{Gpc, GpcRate};
    let at = |dt: DataType, i: u32| table.nb(dt) > i as usize;
    let v = match op {
        Op::Get(dt) | Op::KBytes(dt) | Op::Clr(dt) if !table.stores(dt) => return None,
        Op::Inc(dt) if !table.stores(dt) && !table.stores(inc_rate(dt)) => return None,
        Op::GetAt(dt, i) if !at(dt, i) => return None,
        Op::IncAt(i) if !at(Gpc, i) && !at(GpcRate, i) => return None,
        Op::ClrAt(i) if !at(Gpc, i) => return None,
        _ if entry.is_none() => 0,
        Op::Get(dt) => table.get(entry?, dt, now)?,
        Op::KBytes(dt) => table.get(entry?, dt, now)? >> 10,
        Op::GetAt(dt, i) => table.get_at(entry?, dt, i as usize, now)?,
        Op::Inc(dt) => {
            // The rate first, then the counter; the counter's new value, or the rate's when
            // only the rate is stored (HAProxy's `smp_fetch_sc_inc_gpc0`).
            let e = entry?;
            let r = table.add(e, inc_rate(dt), 1, now);
            table.add(e, dt, 1, now).or(r)?
        }
        Op::IncAt(i) => {
            let e = entry?;
            let r = table.add_at(e, GpcRate, i as usize, 1, now);
            table.add_at(e, Gpc, i as usize, 1, now).or(r)?
        }
        Op::Clr(dt) => table.clear_value(entry?, dt, now)?,
        // The counter only: its rate goes on (HAProxy's `smp_fetch_sc_clr_gpc`).
        Op::ClrAt(i) => table.clear_at(entry?, Gpc, i as usize, now)?,
        Op::Trackers => entry?.refs() as u64,
        Op::Tracked | Op::TableCnt | Op::TableAvl | Op::InTable => 0,
        Op::Expire(_) | Op::Idle(_) => return None,
    };
    Some(Value::Int(v as i64))
}

/// The rate `sc_inc_gpc0`/`sc-inc-gpc1` also counts.
fn inc_rate(dt: DataType) -> DataType {
    if dt == DataType::Gpc1 {
        DataType::Gpc1Rate
    } else {
        DataType::Gpc0Rate
    }
}

/// The value `sc-set-gpt0`/`sc-set-gpt` sets: the integer, or the expression's first value
/// as an integer.
fn gpt_value(value: &GptValue, s: &dyn Sample) -> Option<i64> {
    match value {
        GptValue::Int(i) => Some(*i),
        GptValue::Expr(e) => {
            let mut v = None;
            e.each(s, false, &mut |x| {
                v = x.to_int();
                false
            });
            v
        }
    }
}
