//! The stick-table fetches: `sc_*(N[,TABLE])`, `scN_*([TABLE])`, `src_*([TABLE])`,
//! `table_avl`, `table_cnt` (configuration manual 7.3.3), evaluated on the counters the
//! request tracks (a [`StickSource`], given by [`Sample::stick`]). The types of the stick
//! actions and data live here too, so that this layer can hand them to the stick module,
//! which sits above it and implements [`StickSource`].
//!
//! A counter that is not tracked finds nothing, a key absent from the table reads 0, and a
//! data type the table does not store makes the fetch find nothing (HAProxy's
//! `smp_fetch_sc_*`).

use super::FetchExpr;
use super::Sample;
use super::sample::{SmpType, Value};

/// HAProxy's default number of sticky counters (`tune.stick-counters`).
pub const MAX_SC: usize = 3;

/// The data a table may store, in HAProxy's order (`stktable_data_types`): `show table`
/// prints them in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataType {
    ServerId,
    Gpt0,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
    Gpc1,
    Gpc1Rate,
    ServerKey,
    HttpFailCnt,
    HttpFailRate,
    /// `gpt(N)`: an array of N tags.
    Gpt,
    /// `gpc(N)`: an array of N counters.
    Gpc,
    /// `gpc_rate(N,PERIOD)`: an array of N rates.
    GpcRate,
}

/// Every data type with its name, in order.
pub const DATA_TYPES: &[(DataType, &str)] = &[
    (DataType::ServerId, "server_id"),
    (DataType::Gpt0, "gpt0"),
    (DataType::Gpc0, "gpc0"),
    (DataType::Gpc0Rate, "gpc0_rate"),
    (DataType::ConnCnt, "conn_cnt"),
    (DataType::ConnRate, "conn_rate"),
    (DataType::ConnCur, "conn_cur"),
    (DataType::SessCnt, "sess_cnt"),
    (DataType::SessRate, "sess_rate"),
    (DataType::HttpReqCnt, "http_req_cnt"),
    (DataType::HttpReqRate, "http_req_rate"),
    (DataType::HttpErrCnt, "http_err_cnt"),
    (DataType::HttpErrRate, "http_err_rate"),
    (DataType::BytesInCnt, "bytes_in_cnt"),
    (DataType::BytesInRate, "bytes_in_rate"),
    (DataType::BytesOutCnt, "bytes_out_cnt"),
    (DataType::BytesOutRate, "bytes_out_rate"),
    (DataType::Gpc1, "gpc1"),
    (DataType::Gpc1Rate, "gpc1_rate"),
    (DataType::ServerKey, "server_key"),
    (DataType::HttpFailCnt, "http_fail_cnt"),
    (DataType::HttpFailRate, "http_fail_rate"),
    (DataType::Gpt, "gpt"),
    (DataType::Gpc, "gpc"),
    (DataType::GpcRate, "gpc_rate"),
];

impl DataType {
    pub fn name(self) -> &'static str {
        DATA_TYPES[self as usize].1
    }

    pub fn from_name(s: &str) -> Option<DataType> {
        DATA_TYPES.iter().find(|(_, n)| *n == s).map(|(d, _)| *d)
    }

    /// A frequency counter over a period (`*_rate(PERIOD)`).
    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
    }

    /// One of HAProxy 2.5's arrays (`gpt(N)`, `gpc(N)`, `gpc_rate(N,PERIOD)`).
    pub fn is_array(self) -> bool {
        matches!(self, DataType::Gpt | DataType::Gpc | DataType::GpcRate)
    }

    /// The array element a legacy type stands for when the table stores the array instead
    /// (`gpc0` is `gpc[0]` of a `gpc(N)` table, as HAProxy 2.6's fetches and actions fall
    /// back).
    pub fn legacy_element(self) -> Option<(DataType, usize)> {
        Some(match self {
            DataType::Gpt0 => (DataType::Gpt, 0),
            DataType::Gpc0 => (DataType::Gpc, 0),
            DataType::Gpc1 => (DataType::Gpc, 1),
            DataType::Gpc0Rate => (DataType::GpcRate, 0),
            DataType::Gpc1Rate => (DataType::GpcRate, 1),
            _ => return None,
        })
    }
}

/// A stick counter number (`track-sc1`, `sc_http_req_rate(1)`), below `tune.stick-counters`.
pub fn slot_of(kw: &str, s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|&n| n < MAX_SC)
        .ok_or_else(|| {
            format!(
                "'{kw}': invalid stick counter '{s}' (0 to {}, tune.stick-counters)",
                MAX_SC - 1
            )
        })
}

/// A table named in a rule, resolved to the index of the proxy that declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// The name written (or the proxy's own name when the rule names none).
    pub name: String,
    pub index: usize,
}

/// The stick actions of `http-request`, `http-response` and `tcp-request` rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StickAction {
    /// `track-scN KEY [table T]`.
    Track {
        slot: usize,
        key: FetchExpr,
        table: TableRef,
    },
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`: one more in the tracked entry (and its rate).
    IncGpc { slot: usize, gpc1: bool },
    /// `sc-set-gpt0(N) VALUE`: VALUE an integer or a sample expression.
    SetGpt0 { slot: usize, value: GptValue },
    /// `sc-inc-gpc(IDX,N)`: one more in `gpc[IDX]` and `gpc_rate[IDX]` (an index past the
    /// arrays does nothing, as in HAProxy, which parses any index).
    IncGpcAt { idx: u32, slot: usize },
    /// `sc-set-gpt(IDX,N) VALUE`: `gpt[IDX]` set.
    SetGptAt {
        idx: u32,
        slot: usize,
        value: GptValue,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GptValue {
    Int(i64),
    Expr(FetchExpr),
}

/// Which rule set runs a stick action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `tcp-request connection|session|content`: tracking counts the connection only.
    Tcp,
    /// `http-request`: tracking also counts this HTTP request.
    HttpRequest,
    /// `http-response`, with the response's status: also this request, a 4xx as an HTTP
    /// error, a 5xx but 501 and 505 as an HTTP failure.
    HttpResponse(u16),
}

/// What stick fetches and actions run against: the stick tables and the counters a request
/// tracks. The stick module implements it (`crate::stick::StickCtx`); this layer only
/// parses and dispatches.
pub trait StickSource {
    /// The value of a stick fetch for the request `s`.
    fn fetch(&self, f: &StickFetch, s: &dyn Sample) -> Option<Value<'static>>;
    /// The value of a `table_*`/`in_table` converter ([`Target::Key`]) for `key`: `None`
    /// where the key cannot be one of the table's, or an entry lacks the data.
    fn fetch_key(&self, _f: &StickFetch, _key: Value<'_>) -> Option<Value<'static>> {
        None
    }
    /// Runs a stick action (`track-sc`, `sc-inc-gpc0`, `sc-set-gpt0`) for the request `s`.
    fn apply(&self, a: &StickAction, s: &dyn Sample, origin: RuleKind);
}

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
    /// `sc_get_gpc(IDX,…)`, `sc_gpc_rate`, `sc_get_gpt`: element IDX of an array.
    GetAt(DataType, u32),
    /// `sc_inc_gpc(IDX,…)`: one more in `gpc[IDX]` and `gpc_rate[IDX]`; the new value.
    IncAt(u32),
    /// `sc_clr_gpc(IDX,…)`: the old `gpc[IDX]`, now zero (not its rate).
    ClrAt(u32),
    /// `sc_tracked`: whether the counter is tracked.
    Tracked,
    /// `sc_trackers`, `src_...`: how many trackers hold the entry.
    Trackers,
    /// `table_cnt`: entries in the table.
    TableCnt,
    /// `table_avl`: room left.
    TableAvl,
    /// `in_table` (converter): whether the key has an entry.
    InTable,
    /// `table_expire(T[,DEFAULT])`, `table_idle(T[,DEFAULT])` (converters): the ms left
    /// before the key's entry expires, or how long it has been idle; DEFAULT (else
    /// nothing) without an entry.
    Expire(Option<i64>),
    Idle(Option<i64>),
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
    /// The converter's input looked up in the table (`table_*`, `in_table` converters).
    Key(TableName),
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
        | "http_fail_cnt" | "http_fail_rate" | "bytes_in_rate" | "bytes_out_rate" => {
            Op::Get(DataType::from_name(what)?)
        }
        _ => return None,
    })
}

/// The fetches on HAProxy 2.5's arrays (`sc_get_gpc(IDX,CTR[,TABLE])`,
/// `src_get_gpc(IDX,TABLE)`, …), by what follows `sc_`/`src_`/`table_`, with the operation
/// for index `idx`.
fn array_op(what: &str, idx: u32) -> Option<Op> {
    Some(match what {
        "get_gpc" | "gpc" => Op::GetAt(DataType::Gpc, idx),
        "gpc_rate" => Op::GetAt(DataType::GpcRate, idx),
        "get_gpt" | "gpt" => Op::GetAt(DataType::Gpt, idx),
        "inc_gpc" => Op::IncAt(idx),
        "clr_gpc" => Op::ClrAt(idx),
        _ => return None,
    })
}

/// An array index as HAProxy reads it (any integer; one past the array finds nothing).
fn index_arg(kw: &str, a: Option<&&str>) -> Result<u32, String> {
    let a = a.ok_or_else(|| {
        format!("fetch method '{kw}' : missing arguments (got 0/2), type 'integer' expected")
    })?;
    let i = a.trim().parse::<i64>().map_err(|_| {
        format!("fetch method '{kw}' : failed to parse '{a}' as type 'integer' at position 1")
    })?;
    Ok(u32::try_from(i).unwrap_or(u32::MAX))
}

/// The operation of converter `table_WHAT` or `in_table` (`None`: not one corelb has).
pub(crate) fn conv_op(name: &str) -> Option<Op> {
    use DataType::*;
    if name == "in_table" {
        return Some(Op::InTable);
    }
    Some(match name.strip_prefix("table_")? {
        "gpc0" => Op::Get(Gpc0),
        "gpc1" => Op::Get(Gpc1),
        "gpt0" => Op::Get(Gpt0),
        "server_id" => Op::Get(ServerId),
        w @ ("kbytes_in" | "kbytes_out" | "trackers") => op_of(w)?,
        w => Op::Get(DataType::from_name(w).filter(|d| !matches!(d, Gpc0 | Gpc1 | Gpt0))?),
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
    let arr = |what: &str| array_op(what, 0).filter(|_| what != "gpc" && what != "gpt");
    let f = if let Some(what) = kw.strip_prefix("sc_")
        && arr(what).is_some()
    {
        // sc_get_gpc(IDX,CTR[,TABLE])
        too_many(3)?;
        let idx = index_arg(kw, args.first())?;
        let slot = match args.get(1) {
            Some(a) => slot_of(&format!("fetch method {kw}"), a)?,
            None => {
                return Err(format!(
                    "fetch method '{kw}' : missing arguments (got 1/2), type 'integer' expected"
                ));
            }
        };
        StickFetch {
            target: Target::Sc {
                slot,
                table: args.get(2).map(|a| table(Some(a))),
            },
            op: array_op(what, idx).expect("checked"),
        }
    } else if let Some(what) = kw.strip_prefix("src_")
        && arr(what).is_some()
    {
        // src_get_gpc(IDX,TABLE): HAProxy 2.6 requires the table, whatever its manual says.
        too_many(2)?;
        let idx = index_arg(kw, args.first())?;
        let Some(t) = args.get(1) else {
            return Err(format!(
                "fetch method '{kw}' : missing arguments (got 1/2), type 'table' expected"
            ));
        };
        StickFetch {
            target: Target::Src(table(Some(t))),
            op: array_op(what, idx).expect("checked"),
        }
    } else if let Some(what) = kw.strip_prefix("sc_") {
        if what == "tracked" || op_of(what).is_some() {
            too_many(2)?;
            let slot = match args.first() {
                Some(a) => slot_of(&format!("fetch method {kw}"), a)?,
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
        if slot >= MAX_SC {
            return Err(format!(
                "fetch method '{kw}': stick counter {slot} is past tune.stick-counters ({})",
                MAX_SC
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

/// The operation of the array converter `table_WHAT(IDX,TABLE)` (`gpc`, `gpc_rate`, `gpt`).
pub(crate) fn array_conv_op(what: &str, idx: u32) -> Option<Op> {
    matches!(what, "gpc" | "gpc_rate" | "gpt")
        .then(|| array_op(what, idx))
        .flatten()
}

impl StickFetch {
    pub(crate) fn out_type(&self) -> SmpType {
        match self.op {
            Op::Tracked | Op::InTable => SmpType::Bool,
            _ => SmpType::Int,
        }
    }

    /// Resolves table names with the `nbsrv` resolver (names carry [`TABLE_PREFIX`]).
    pub(crate) fn resolve(&mut self, lookup: &dyn Fn(&str) -> Option<usize>) -> Result<(), String> {
        let t = match &mut self.target {
            Target::Sc { table: Some(t), .. }
            | Target::Src(t)
            | Target::Table(t)
            | Target::Key(t) => t,
            Target::Sc { table: None, .. } => return Ok(()),
        };
        t.index = lookup(&format!("{TABLE_PREFIX}{}", t.name));
        match t.index {
            Some(_) => Ok(()),
            None => Err(format!("no stick-table named '{}'", t.name)),
        }
    }

    /// The value for this request, if any (from the tables [`Sample::stick`] gives).
    pub(crate) fn eval(&self, s: &dyn Sample) -> Option<Value<'static>> {
        s.stick()?.fetch(self, s)
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
