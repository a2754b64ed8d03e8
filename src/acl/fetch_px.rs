//! HAProxy 2.6's proxy and server fetches (src/backend.c, src/frontend.c, src/stream.c):
//! the stream's frontend, backend and server (`fe_name`, `fe_id`, `fe_defbe`, `be_name`,
//! `be_id`, `srv_name`, `srv_id`) and the counts of a backend or server named in the
//! argument, or of the stream's (`be_conn`, `be_conn_free`, `queue`, `avg_queue`,
//! `connslots`, `fe_conn`, `srv_conn`, `srv_conn_free`, `srv_is_up`, `srv_queue`,
//! `srv_iweight`, `srv_uweight`) and rates (`fe_req_rate`, `fe_sess_rate`, `be_sess_rate`,
//! `srv_sess_rate`: the stats counters' per-shard windows, summed when read).
//!
//! They read the stream's [`super::Strm`]: its backend is the frontend until one is chosen
//! (HAProxy's `s->be`), so `be_name` in a frontend's `http-request` rules is the
//! frontend's name; its server is there once one is chosen (`http-response` rules, the
//! log line), and `srv_name` before that finds nothing, as in HAProxy.

use super::Sample;
use super::fetch::BackendRef;
use super::sample::{RateOf, ServerFacts, SmpType, Value};

/// What the configuration resolver is asked for a frontend (`fe_conn(F)`): the name after
/// this prefix.
pub const FRONTEND_PREFIX: &str = "\0frontend:";
/// What it is asked for a server (`srv_conn(B/S)`): `BACKEND/SERVER` after this prefix;
/// it answers the server's index in its backend.
pub const SERVER_PREFIX: &str = "\0server:";

/// A server named in `srv_*([BACKEND/]SERVER)`, resolved after the configuration is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRef {
    /// The backend as written, or the current proxy's name.
    pub backend: Box<str>,
    pub server: Box<str>,
    /// Backend and server index.
    pub index: Option<(usize, usize)>,
}

/// A server fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvFact {
    /// `srv_conn`: its current connections.
    Conn,
    /// `srv_conn_free`: `maxconn` less them (-1 without `maxconn`).
    ConnFree,
    /// `srv_is_up`: not in maintenance, and up or not checked.
    IsUp,
    /// `srv_queue`: requests waiting for it.
    Queue,
    /// `srv_weight`: the effective weight (0 while draining).
    Weight,
    /// `srv_iweight`: the configured weight.
    Iweight,
    /// `srv_uweight`: the weight as the runtime API set it (the configured one by default).
    Uweight,
    /// `srv_sess_rate`: sessions given to it per second.
    SessRate,
}

/// A backend count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeFact {
    /// `be_conn`: connections on its servers.
    Conn,
    /// `be_conn_free`: free connection slots on its servers that are not down (-1 when
    /// one of them has no `maxconn`).
    ConnFree,
    /// `queue`: requests waiting.
    Queue,
    /// `avg_queue`: those per usable server, rounded up (twice them without one).
    AvgQueue,
    /// `connslots`: free slots and queue places on its running servers (-1 when one of
    /// them has no `maxconn` or no `maxqueue`).
    Connslots,
    /// `be_sess_rate`: sessions given to it per second.
    SessRate,
}

/// A fetch of this module.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Px {
    FeName,
    FeId,
    FeDefbe,
    BeName,
    BeId,
    SrvName,
    SrvId,
    /// `fe_client_timeout`: the frontend's `timeout client` in milliseconds.
    FeClientTimeout,
    /// `be_server_timeout`, `be_tunnel_timeout`: the stream's backend's.
    BeServerTimeout,
    BeTunnelTimeout,
    /// `fe_conn([FRONTEND])`: the frontend's current connections (without the argument,
    /// the proxy the expression is in, as HAProxy).
    FeConn(BackendRef),
    /// `fe_req_rate([FRONTEND])`, `fe_sess_rate([FRONTEND])`: its HTTP requests or
    /// accepted connections per second.
    FeRate(RateOf, BackendRef),
    /// A backend count, of the named backend (or the proxy the expression is in).
    Be(BeFact, BackendRef),
    /// A server fact.
    Srv(SrvFact, ServerRef),
}

/// HAProxy's wording for a fetch given more arguments than it takes (after its last
/// argument, the text from the comma on).
fn at_most(kw: &str, args: Option<&[&str]>, max: usize) -> Result<(), String> {
    match args {
        Some(a) if a.len() > max && !(max == 0 && a == [""]) => Err(format!(
            "fetch method '{kw}' : expected ')' before '{}{})'",
            if max > 0 { "," } else { "" },
            a[max..].join(",")
        )),
        _ => Ok(()),
    }
}

/// A frontend or backend argument; without one, the proxy the expression is in (which
/// must then be one: see [`Px::resolve`]).
fn proxy_arg(kw: &str, args: Option<&[&str]>, proxy: &str) -> Result<BackendRef, String> {
    at_most(kw, args, 1)?;
    let named = args.and_then(|a| a.first()).filter(|a| !a.is_empty());
    Ok(BackendRef {
        name: named.copied().unwrap_or(proxy).into(),
        current: named.is_none(),
        index: None,
    })
}

/// Parses the keywords of this module; `None` for any other. `proxy` is the current
/// proxy's name (a server named without its backend is its).
pub(crate) fn parse(kw: &str, args: Option<&[&str]>, proxy: &str) -> Option<Result<Px, String>> {
    let plain = |p: Px| at_most(kw, args, 0).map(|_| p);
    let be = |f: BeFact| proxy_arg(kw, args, proxy).map(|b| Px::Be(f, b));
    let srv = |f: SrvFact| -> Result<Px, String> {
        at_most(kw, args, 1)?;
        let a = args.and_then(|a| a.first()).copied().unwrap_or_default();
        let (b, s) = match a.rsplit_once('/') {
            Some((b, s)) => (b, s),
            None => (proxy, a),
        };
        if s.is_empty() {
            return Err(format!(
                "missing server name in arg 1 of sample fetch keyword '{kw}'"
            ));
        }
        Ok(Px::Srv(
            f,
            ServerRef {
                backend: b.into(),
                server: s.into(),
                index: None,
            },
        ))
    };
    Some(match kw {
        "fe_name" => plain(Px::FeName),
        "fe_id" => plain(Px::FeId),
        "fe_defbe" => plain(Px::FeDefbe),
        "be_name" => plain(Px::BeName),
        "be_id" => plain(Px::BeId),
        "srv_name" => plain(Px::SrvName),
        "fe_client_timeout" => plain(Px::FeClientTimeout),
        "be_server_timeout" => plain(Px::BeServerTimeout),
        "be_tunnel_timeout" => plain(Px::BeTunnelTimeout),
        "srv_id" => plain(Px::SrvId),
        "fe_conn" => proxy_arg(kw, args, proxy).map(Px::FeConn),
        "fe_req_rate" => proxy_arg(kw, args, proxy).map(|b| Px::FeRate(RateOf::FeReq, b)),
        "fe_sess_rate" => proxy_arg(kw, args, proxy).map(|b| Px::FeRate(RateOf::FeSess, b)),
        "be_sess_rate" => be(BeFact::SessRate),
        "srv_sess_rate" => srv(SrvFact::SessRate),
        "be_conn" => be(BeFact::Conn),
        "be_conn_free" => be(BeFact::ConnFree),
        "queue" => be(BeFact::Queue),
        "avg_queue" => be(BeFact::AvgQueue),
        "connslots" => be(BeFact::Connslots),
        "srv_conn" => srv(SrvFact::Conn),
        "srv_conn_free" => srv(SrvFact::ConnFree),
        "srv_is_up" => srv(SrvFact::IsUp),
        "srv_queue" => srv(SrvFact::Queue),
        "srv_weight" => srv(SrvFact::Weight),
        "srv_iweight" => srv(SrvFact::Iweight),
        "srv_uweight" => srv(SrvFact::Uweight),
        _ => return None,
    })
}

/// The keywords [`parse`] knows.
pub(crate) const KEYWORDS: &[&str] = &[
    "avg_queue",
    "be_conn",
    "be_conn_free",
    "be_id",
    "be_name",
    "be_server_timeout",
    "be_sess_rate",
    "be_tunnel_timeout",
    "connslots",
    "fe_client_timeout",
    "fe_conn",
    "fe_defbe",
    "fe_id",
    "fe_name",
    "fe_req_rate",
    "fe_sess_rate",
    "queue",
    "srv_conn",
    "srv_conn_free",
    "srv_id",
    "srv_is_up",
    "srv_iweight",
    "srv_name",
    "srv_queue",
    "srv_sess_rate",
    "srv_uweight",
    "srv_weight",
];

impl Px {
    pub(crate) fn out_type(&self) -> SmpType {
        match self {
            Px::FeName | Px::FeDefbe | Px::BeName | Px::SrvName => SmpType::Str,
            Px::Srv(SrvFact::IsUp, _) => SmpType::Bool,
            _ => SmpType::Int,
        }
    }

    /// HAProxy's `SMP_USE_*`: the frontend's facts are there from the connection on, the
    /// backend's and the server's from the moment a stream has one (internal: everywhere).
    pub(crate) fn layer(&self) -> super::Layer {
        super::Layer::Internal
    }

    /// The fetch's keyword, for errors.
    fn keyword(&self) -> &'static str {
        match self {
            Px::FeConn(_) => "fe_conn",
            Px::FeRate(RateOf::FeReq, _) => "fe_req_rate",
            Px::FeRate(_, _) => "fe_sess_rate",
            Px::Be(BeFact::SessRate, _) => "be_sess_rate",
            Px::Srv(SrvFact::SessRate, _) => "srv_sess_rate",
            Px::Be(BeFact::Conn, _) => "be_conn",
            Px::Be(BeFact::ConnFree, _) => "be_conn_free",
            Px::Be(BeFact::Queue, _) => "queue",
            Px::Be(BeFact::AvgQueue, _) => "avg_queue",
            Px::Be(BeFact::Connslots, _) => "connslots",
            Px::Srv(SrvFact::Conn, _) => "srv_conn",
            Px::Srv(SrvFact::ConnFree, _) => "srv_conn_free",
            Px::Srv(SrvFact::IsUp, _) => "srv_is_up",
            Px::Srv(SrvFact::Queue, _) => "srv_queue",
            Px::Srv(SrvFact::Weight, _) => "srv_weight",
            Px::Srv(SrvFact::Iweight, _) => "srv_iweight",
            Px::Srv(SrvFact::Uweight, _) => "srv_uweight",
            _ => "",
        }
    }

    /// Resolves the named frontend, backend or server, with HAProxy's errors.
    pub(crate) fn resolve(&mut self, lookup: &dyn Fn(&str) -> Option<usize>) -> Result<(), String> {
        let kw = self.keyword();
        let fe = matches!(self, Px::FeConn(_) | Px::FeRate(..));
        match self {
            Px::FeConn(b) | Px::FeRate(_, b) | Px::Be(_, b) => {
                let (what, key) = if fe {
                    ("frontend", format!("{FRONTEND_PREFIX}{}", b.name))
                } else {
                    ("backend", b.name.to_string())
                };
                b.index = lookup(&key);
                if b.index.is_none() {
                    return Err(if b.current {
                        format!(
                            "proxy '{}', referenced in arg 1 of sample fetch keyword '{kw}', has not {what} capability.",
                            b.name
                        )
                    } else {
                        format!(
                            "unable to find {what} '{}' referenced in arg 1 of sample fetch keyword '{kw}'",
                            b.name
                        )
                    });
                }
            }
            Px::Srv(_, r) => {
                let be = lookup(&r.backend);
                let srv =
                    be.and_then(|_| lookup(&format!("{SERVER_PREFIX}{}/{}", r.backend, r.server)));
                match (be, srv) {
                    (Some(b), Some(s)) => r.index = Some((b, s)),
                    _ => {
                        return Err(format!(
                            "unable to find server '{}' in proxy '{}', referenced in arg 1 of sample fetch keyword '{kw}'",
                            r.server, r.backend
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn each(&self, s: &dyn Sample, f: &mut dyn FnMut(Value<'_>) -> bool) {
        let Some(st) = s.strm() else { return };
        let px = st.px;
        let int = |f: &mut dyn FnMut(Value<'_>) -> bool, v: i64| {
            f(Value::Int(v));
        };
        match self {
            Px::FeName => {
                if let Some(p) = px.proxy(st.fe) {
                    f(Value::Str(p.name.as_bytes()));
                }
            }
            Px::FeId => {
                if let Some(p) = px.proxy(st.fe) {
                    int(f, i64::from(p.id));
                }
            }
            Px::FeDefbe => {
                if let Some(d) = px.proxy(st.fe).and_then(|p| p.default_backend)
                    && let Some(p) = px.proxy(d)
                {
                    f(Value::Str(p.name.as_bytes()));
                }
            }
            Px::BeName => {
                if let Some(p) = px.proxy(st.be) {
                    f(Value::Str(p.name.as_bytes()));
                }
            }
            Px::BeId => {
                if let Some(p) = px.proxy(st.be) {
                    int(f, i64::from(p.id));
                }
            }
            Px::SrvName | Px::SrvId => {
                if let Some(v) = st.srv.and_then(|i| px.server(st.be, i)) {
                    if *self == Px::SrvName {
                        f(Value::Str(v.name.as_bytes()));
                    } else {
                        int(f, i64::from(v.id));
                    }
                }
            }
            Px::FeClientTimeout => {
                if let Some(t) = px.proxy(st.fe).and_then(|p| p.client_timeout) {
                    int(f, t);
                }
            }
            Px::BeServerTimeout | Px::BeTunnelTimeout => {
                if let Some(b) = px.proxy(st.be).and_then(|p| p.backend) {
                    let t = if *self == Px::BeServerTimeout {
                        b.server_timeout
                    } else {
                        b.tunnel_timeout
                    };
                    int(f, t);
                }
            }
            Px::FeConn(b) => {
                if let Some(n) = b.index.and_then(|i| px.proxy(i)).and_then(|p| p.fe_conn) {
                    int(f, i64::from(n));
                }
            }
            Px::FeRate(of, b) => {
                if let Some(i) = b.index {
                    int(f, px.rate(*of, i, 0) as i64);
                }
            }
            Px::Be(fact, b) => {
                let Some(i) = b.index else {
                    return;
                };
                let Some(be) = px.proxy(i).and_then(|p| p.backend) else {
                    return;
                };
                let servers = || (0..be.servers).filter_map(|k| px.server(i, k));
                let v = match fact {
                    BeFact::Conn => i64::from(be.conn),
                    BeFact::Queue => i64::from(be.queued),
                    BeFact::AvgQueue => {
                        let n = i64::from(be.usable);
                        let q = i64::from(be.queued);
                        if n > 0 { (q + n - 1) / n } else { q * 2 }
                    }
                    BeFact::ConnFree => free_slots(servers().filter(|v| !v.stopped), false),
                    BeFact::Connslots => free_slots(servers().filter(|v| v.running), true),
                    BeFact::SessRate => px.rate(RateOf::BeSess, i, 0) as i64,
                };
                int(f, v);
            }
            Px::Srv(fact, r) => {
                let Some((b, k)) = r.index else { return };
                let Some(v) = px.server(b, k) else { return };
                match fact {
                    SrvFact::IsUp => {
                        f(Value::Bool(v.up));
                    }
                    SrvFact::Conn => int(f, i64::from(v.cur)),
                    SrvFact::ConnFree => int(
                        f,
                        if v.maxconn == 0 {
                            -1
                        } else {
                            i64::from(v.maxconn) - i64::from(v.cur)
                        },
                    ),
                    SrvFact::Queue => int(f, i64::from(v.queued)),
                    SrvFact::Weight => int(f, i64::from(v.weight)),
                    SrvFact::Iweight => int(f, i64::from(v.iweight)),
                    SrvFact::Uweight => int(f, i64::from(v.uweight)),
                    SrvFact::SessRate => int(f, px.rate(RateOf::SrvSess, b, k) as i64),
                }
            }
        }
    }
}

/// `be_conn_free` (`queue` false) and `connslots` (true) over the servers that count:
/// -1 as soon as one has no limit, as HAProxy.
fn free_slots<'a>(servers: impl Iterator<Item = ServerFacts<'a>>, queue: bool) -> i64 {
    let mut n = 0;
    for v in servers {
        if v.maxconn == 0 || (queue && v.maxqueue == 0) {
            return -1;
        }
        n += i64::from(v.maxconn) - i64::from(v.cur);
        if queue {
            n += i64::from(v.maxqueue) - i64::from(v.queued);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_as_haproxy_reads_them() {
        let p = |kw: &str, a: Option<&[&str]>| parse(kw, a, "cur").unwrap();
        let Ok(Px::Srv(SrvFact::IsUp, r)) = p("srv_is_up", Some(&["bk/s1"])) else {
            panic!()
        };
        assert_eq!((&*r.backend, &*r.server), ("bk", "s1"));
        let Ok(Px::Srv(_, r)) = p("srv_conn", Some(&["s2"])) else {
            panic!()
        };
        assert_eq!((&*r.backend, &*r.server), ("cur", "s2"));
        assert_eq!(
            p("srv_queue", None).unwrap_err(),
            "missing server name in arg 1 of sample fetch keyword 'srv_queue'"
        );
        let Ok(Px::Be(BeFact::Queue, b)) = p("queue", None) else {
            panic!()
        };
        assert!(b.current && &*b.name == "cur");
        assert_eq!(
            p("be_conn", Some(&["a", "b"])).unwrap_err(),
            "fetch method 'be_conn' : expected ')' before ',b)'"
        );
        assert_eq!(
            p("fe_name", Some(&["1"])).unwrap_err(),
            "fetch method 'fe_name' : expected ')' before '1)'"
        );
        assert!(parse("nbsrv", None, "cur").is_none());
    }

    #[test]
    fn resolution_errors_name_the_proxy() {
        let none = |_: &str| None;
        let mut f = parse("fe_conn", None, "bk").unwrap().unwrap();
        assert_eq!(
            f.resolve(&none).unwrap_err(),
            "proxy 'bk', referenced in arg 1 of sample fetch keyword 'fe_conn', has not frontend capability."
        );
        let mut b = parse("be_conn", Some(&["x"]), "fe").unwrap().unwrap();
        assert_eq!(
            b.resolve(&none).unwrap_err(),
            "unable to find backend 'x' referenced in arg 1 of sample fetch keyword 'be_conn'"
        );
        let lookup = |n: &str| match n {
            "bk" => Some(3),
            n if n == format!("{SERVER_PREFIX}bk/s1") => Some(1),
            _ => None,
        };
        let mut s = parse("srv_is_up", Some(&["bk/s1"]), "fe").unwrap().unwrap();
        s.resolve(&lookup).unwrap();
        assert!(matches!(
            s,
            Px::Srv(
                _,
                ServerRef {
                    index: Some((3, 1)),
                    ..
                }
            )
        ));
        let mut s = parse("srv_is_up", Some(&["bk/s9"]), "fe").unwrap().unwrap();
        assert_eq!(
            s.resolve(&lookup).unwrap_err(),
            "unable to find server 's9' in proxy 'bk', referenced in arg 1 of sample fetch keyword 'srv_is_up'"
        );
    }

    #[test]
    fn free_slots_as_haproxy_counts_them() {
        let s = |cur, maxconn, queued, maxqueue| ServerFacts {
            cur,
            maxconn,
            queued,
            maxqueue,
            ..ServerFacts::default()
        };
        assert_eq!(
            free_slots([s(1, 10, 0, 5), s(0, 4, 1, 2)].into_iter(), false),
            13
        );
        assert_eq!(
            free_slots([s(1, 10, 0, 5), s(0, 4, 1, 2)].into_iter(), true),
            19
        );
        assert_eq!(free_slots([s(1, 10, 0, 0)].into_iter(), true), -1);
        assert_eq!(free_slots([s(1, 0, 0, 5)].into_iter(), false), -1);
    }
}
