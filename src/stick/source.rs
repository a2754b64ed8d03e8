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
                    (None, None) => return Some(Value::Int(0)),
                    (Some((t, tr)), None) => (t, Some(tr.entry.clone())),
                    (tr, Some(name)) => {
                        let t = table_of(name)?;
                        let e = tr.and_then(|(_, tr)| t.lookup(&tr.entry.key, now));
                        (t, e)
                    }
                }
            }
            Target::Src(name) => {
                let t = table_of(name)?;
                let key = t.key_of_ip(s.src()?.ip())?;
                let e = if matches!(f.op, Op::Inc(_)) {
                    t.get_or_create(&key, now)
                } else {
                    t.lookup(&key, now)
                };
                (t, e)
            }
            Target::Key(_) => return None,
        };
        let v = match f.op {
            Op::Get(dt) | Op::KBytes(dt) | Op::Inc(dt) | Op::Clr(dt) if !table.stores(dt) => {
                return None;
            }
            _ if entry.is_none() => 0,
            Op::Get(dt) => table.get(entry.as_deref()?, dt, now)?,
            Op::KBytes(dt) => table.get(entry.as_deref()?, dt, now)? >> 10,
            Op::Inc(dt) => {
                let e = entry.as_deref()?;
                let rate = if dt == DataType::Gpc0 {
                    DataType::Gpc0Rate
                } else {
                    DataType::Gpc1Rate
                };
                table.add(e, rate, 1, now);
                table.add(e, dt, 1, now)?
            }
            Op::Clr(dt) => table.clear_value(entry.as_deref()?, dt, now)?,
            Op::Trackers => entry.as_deref()?.refs() as u64,
            Op::Tracked | Op::TableCnt | Op::TableAvl | Op::InTable => 0,
        };
        Some(Value::Int(v as i64))
    }

    /// HAProxy's `sample_conv_table_*`: a key absent from the table reads 0 (`in_table`
    /// false); an entry without the data finds nothing.
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
        if f.op == Op::InTable {
            return Some(Value::Bool(entry.is_some()));
        }
        let Some(e) = entry.as_deref() else {
            return Some(Value::Int(0));
        };
        let v = match f.op {
            Op::Get(dt) => t.get(e, dt, self.now)?,
            Op::KBytes(dt) => t.get(e, dt, self.now)? >> 10,
            // HAProxy reads the count while its own lookup holds the entry: one more.
            Op::Trackers => e.refs() as u64 + 1,
            _ => return None,
        };
        Some(Value::Int(v as i64))
    }

    /// A `track-sc` from an HTTP rule counts the request on the entry it starts tracking,
    /// and a 4xx response as an HTTP error, as HAProxy's `http_action_track_sc` does; one
    /// from `tcp-request` counts the connection only.
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
                    if let RuleKind::HttpResponse(400..=499) = origin {
                        t.add(&tr.entry, DataType::HttpErrCnt, 1, now);
                        t.add(&tr.entry, DataType::HttpErrRate, 1, now);
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
