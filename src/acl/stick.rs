//! The stick-table fetches: `sc_*(N[,TABLE])`, `scN_*([TABLE])`, `src_*([TABLE])`,
//! `table_avl`, `table_cnt` (configuration manual 7.3.3), evaluated on the counters the
//! request tracks ([`crate::stick::StickCtx`], given by [`Sample::stick`]).
//!
//! A counter that is not tracked reads 0, and so does a key absent from the table; a data
//! type the table does not store makes the fetch find nothing (HAProxy's `smp_fetch_sc_*`).

use super::Sample;
use super::sample::{SmpType, Value};
use crate::config::stick::DataType;
use crate::stick::Table;

/// How a table name is handed to the backend resolver of `nbsrv` (see
/// [`crate::config::validate`]): the prefix tells the two kinds of names apart.
pub const TABLE_PREFIX: &str = "\0table:";

/// What a stick fetch does with the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The value (a rate over its period).
    Get(DataType),
    /// `kbytes_in`/`kbytes_out`: the byte count over 1024.
    KBytes(DataType),
    /// `inc_gpc0`: one more, and its rate too; the new value.
    Inc(DataType),
    /// `clr_gpc0`: the old value, now zero.
    Clr(DataType),
    /// `sc_tracked`: whether the counter is tracked.
    Tracked,
    /// `sc_trackers`, `src_...`: how many trackers hold the entry.
    Trackers,
    /// `table_cnt`: entries in the table.
    TableCnt,
    /// `table_avl`: room left.
    TableAvl,
}

/// Which entry a stick fetch reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Sticky counter `slot`; with a table, the tracked key looked up in that table.
    Sc {
        slot: usize,
        table: Option<TableName>,
    },
    /// The client's address looked up in the table.
    Src(TableName),
    /// The table itself.
    Table(TableName),
}

/// A table named in a fetch, resolved to the declaring proxy's index after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    pub name: Box<str>,
    pub index: Option<usize>,
}

/// A parsed stick fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickFetch {
    pub target: Target,
    pub op: Op,
}

fn op_of(what: &str) -> Option<Op> {
    use DataType::*;
    Some(match what {
        "get_gpc0" => Op::Get(Gpc0),
        "get_gpc1" => Op::Get(Gpc1),
        "get_gpt0" => Op::Get(Gpt0),
        "inc_gpc0" => Op::Inc(Gpc0),
        "inc_gpc1" => Op::Inc(Gpc1),
        "clr_gpc0" => Op::Clr(Gpc0),
        "clr_gpc1" => Op::Clr(Gpc1),
        "kbytes_in" => Op::KBytes(BytesInCnt),
        "kbytes_out" => Op::KBytes(BytesOutCnt),
        "trackers" => Op::Trackers,
        "gpc0_rate" | "gpc1_rate" | "conn_cnt" | "conn_cur" | "conn_rate" | "sess_cnt"
        | "sess_rate" | "http_req_cnt" | "http_req_rate" | "http_err_cnt" | "http_err_rate"
        | "bytes_in_rate" | "bytes_out_rate" => Op::Get(DataType::from_name(what)?),
        _ => return None,
    })
}

/// Parses `kw(args)` if it is a stick fetch: `Ok(None)` when `kw` is not one.
pub fn parse(kw: &str, args: Option<&[&str]>, proxy: &str) -> Result<Option<StickFetch>, String> {
    let args: Vec<&str> = args.unwrap_or_default().to_vec();
    let args: &[&str] = if args == [""] { &[] } else { &args };
    let table = |a: Option<&&str>| TableName {
        name: a.copied().unwrap_or(proxy).into(),
        index: None,
    };
    let too_many = |max: usize| -> Result<(), String> {
        if args.len() > max {
            Err(format!(
                "fetch method '{kw}' expects at most {max} argument(s)"
            ))
        } else {
            Ok(())
        }
    };
    let f = if let Some(what) = kw.strip_prefix("sc_") {
        if what == "tracked" || op_of(what).is_some() {
            too_many(2)?;
            let slot = match args.first() {
                Some(a) => crate::config::stick::slot_of(&format!("fetch method {kw}"), a)?,
                None => {
                    return Err(format!(
                        "fetch method '{kw}' expects a stick counter number"
                    ));
                }
            };
            let op = op_of(what).unwrap_or(Op::Tracked);
            let table = args.get(1).map(|a| table(Some(a)));
            StickFetch {
                target: Target::Sc { slot, table },
                op,
            }
        } else {
            return Ok(None);
        }
    } else if let Some((n, what)) = kw
        .strip_prefix("sc")
        .and_then(|r| r.split_once('_'))
        .filter(|(n, _)| n.len() == 1 && n.as_bytes()[0].is_ascii_digit())
    {
        let Some(op) = op_of(what).or((what == "tracked").then_some(Op::Tracked)) else {
            return Ok(None);
        };
        let slot: usize = n.parse().expect("a digit");
        if slot >= crate::stick::MAX_SC {
            return Err(format!(
                "fetch method '{kw}': stick counter {slot} is past tune.stick-counters ({})",
                crate::stick::MAX_SC
            ));
        }
        too_many(1)?;
        StickFetch {
            target: Target::Sc {
                slot,
                table: args.first().map(|a| table(Some(a))),
            },
            op,
        }
    } else if let Some(what) = kw.strip_prefix("src_") {
        let Some(op) = op_of(what) else {
            return Ok(None);
        };
        too_many(1)?;
        StickFetch {
            target: Target::Src(table(args.first())),
            op,
        }
    } else if kw == "table_cnt" || kw == "table_avl" {
        too_many(1)?;
        StickFetch {
            target: Target::Table(table(args.first())),
            op: if kw == "table_cnt" {
                Op::TableCnt
            } else {
                Op::TableAvl
            },
        }
    } else {
        return Ok(None);
    };
    Ok(Some(f))
}

impl StickFetch {
    pub(crate) fn out_type(&self) -> SmpType {
        match self.op {
            Op::Tracked => SmpType::Bool,
            _ => SmpType::Int,
        }
    }

    /// Resolves table names with the `nbsrv` resolver (names carry [`TABLE_PREFIX`]).
    pub(crate) fn resolve(&mut self, lookup: &dyn Fn(&str) -> Option<usize>) -> Result<(), String> {
        let t = match &mut self.target {
            Target::Sc { table: Some(t), .. } | Target::Src(t) | Target::Table(t) => t,
            Target::Sc { table: None, .. } => return Ok(()),
        };
        t.index = lookup(&format!("{TABLE_PREFIX}{}", t.name));
        match t.index {
            Some(_) => Ok(()),
            None => Err(format!("no stick-table named '{}'", t.name)),
        }
    }

    /// The value for this request, if any.
    pub(crate) fn eval(&self, s: &dyn Sample) -> Option<Value<'static>> {
        let ctx = s.stick()?;
        let now = ctx.now;
        let table_of = |t: &TableName| t.index.and_then(|i| ctx.tables.get(i));
        let (table, entry): (&Table, Option<std::sync::Arc<crate::stick::Entry>>) =
            match &self.target {
                Target::Table(t) => {
                    let t = table_of(t)?;
                    let used = t.used() as i64;
                    return Some(Value::Int(match self.op {
                        Op::TableCnt => used,
                        _ => (t.cfg.size as i64 - used).max(0),
                    }));
                }
                Target::Sc { slot, table } => {
                    let tracked = ctx.slot(*slot);
                    if self.op == Op::Tracked {
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
                    let e = if matches!(self.op, Op::Inc(_)) {
                        t.get_or_create(&key, now)
                    } else {
                        t.lookup(&key, now)
                    };
                    (t, e)
                }
            };
        let v = match self.op {
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
            Op::Tracked | Op::TableCnt | Op::TableAvl => 0,
        };
        Some(Value::Int(v as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kw: &str, args: Option<&[&str]>) -> StickFetch {
        parse(kw, args, "fe").unwrap().unwrap()
    }

    #[test]
    fn the_three_spellings() {
        assert_eq!(
            p("sc_http_req_rate", Some(&["0"])),
            StickFetch {
                target: Target::Sc {
                    slot: 0,
                    table: None
                },
                op: Op::Get(DataType::HttpReqRate)
            }
        );
        assert_eq!(
            p("sc1_get_gpc0", None).target,
            Target::Sc {
                slot: 1,
                table: None
            }
        );
        assert_eq!(
            p("src_conn_rate", None).target,
            Target::Src(TableName {
                name: "fe".into(),
                index: None
            })
        );
        assert_eq!(p("sc_inc_gpc0", Some(&["2"])).op, Op::Inc(DataType::Gpc0));
        assert_eq!(p("table_avl", Some(&["other"])).op, Op::TableAvl);
        assert!(parse("src_port", None, "fe").unwrap().is_none());
        assert!(parse("sc_http_req_rate", Some(&["3"]), "fe").is_err());
        assert!(parse("sc3_http_req_rate", None, "fe").is_err());
        assert!(parse("sc_conn_cur", None, "fe").is_err());
    }
}
