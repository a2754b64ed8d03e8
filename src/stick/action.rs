//! What the rules do with stick tables: the `track-sc*`/`sc-*` actions and the backend's
//! `stick on|match|store-request` persistence. Called by the HTTP session (and, for
//! `tcp-request`, by mode tcp) with the request as a [`Sample`].

use super::table::{Key, Table};
use super::{StickCtx, Tables, now_ms};
pub use crate::acl::RuleKind;
use crate::acl::{FetchExpr, Sample, Value};
use crate::config::stick::{DataType, StickRule};

/// The key `expr` gives on `s`, cast to `table`'s type; `None` when the fetch finds nothing
/// or the value does not fit (an IPv6 client on an `ip` table), as HAProxy then skips the
/// action.
pub fn key_of(table: &Table, expr: &FetchExpr, s: &dyn Sample) -> Option<Key> {
    let mut key = None;
    expr.each(s, false, &mut |v| {
        key = match v {
            Value::Ip(a) => table.key_of_ip(a),
            Value::Int(i) => table.key_of_int(i),
            Value::Bool(b) => table.key_of_int(b as i64),
            Value::Str(b) => table.key_of_bytes(b),
        };
        false
    });
    key
}

/// The outcome of a backend's `stick` rules for one request.
#[derive(Default)]
pub struct Persist {
    /// The server (by index) a `stick match`/`stick on` entry names, when it is usable.
    pub server: Option<usize>,
    /// Keys to store the chosen server under: (table, key).
    stores: Vec<(usize, Key)>,
}

impl Persist {
    /// Evaluates `rules` on `s` (HAProxy's `process_sticking_rules`): the first matching
    /// entry whose `server_id` names a usable server (by its id) picks the server; every
    /// store rule whose condition holds keeps its key for [`Persist::store`].
    pub fn rules(
        rules: &[StickRule],
        acls: &crate::acl::Acls,
        tables: &Tables,
        s: &dyn Sample,
        server_by_id: impl Fn(u32) -> Option<usize>,
    ) -> Persist {
        let mut p = Persist::default();
        if rules.is_empty() {
            // (No clock read for a backend without stick rules: once per request.)
            return p;
        }
        let now = now_ms();
        for r in rules {
            if r.cond.as_ref().is_some_and(|c| !c.eval(acls, s)) {
                continue;
            }
            let Some(t) = tables.get(r.table.index) else {
                continue;
            };
            let Some(key) = key_of(t, &r.expr, s) else {
                continue;
            };
            if r.matches
                && p.server.is_none()
                && let Some(e) = t.lookup(&key, now)
                && let Some(id) = t.get(&e, DataType::ServerId, now)
                && let Some(srv) = server_by_id(id as u32)
            {
                p.server = Some(srv);
            }
            // HAProxy keeps at most 8 store keys per request.
            if r.stores && p.stores.len() < 8 {
                p.stores.push((r.table.index, key));
            }
        }
        p
    }

    /// The request went to the server with id `server_id`: each stored key now names it.
    pub fn store(&self, tables: &Tables, server_id: u32) {
        if self.stores.is_empty() {
            // (No clock read for a connection without store keys: every mode tcp connect.)
            return;
        }
        let now = now_ms();
        for (i, key) in &self.stores {
            if let Some(t) = tables.get(*i)
                && let Some(e) = t.get_or_create(key, now)
            {
                t.set(&e, DataType::ServerId, server_id as u64);
            }
        }
    }
}

impl Persist {
    /// The server answered: store its id under the `stick store` keys (none for a
    /// `non-stick` server), and count a 4xx as an HTTP error of the tracked entries, a 5xx
    /// but 501 and 505 as an HTTP failure (as HAProxy counts the server's answers).
    pub fn response(
        &self,
        tables: &Tables,
        ctx: Option<&StickCtx<'_>>,
        server_id: Option<u32>,
        status: u16,
    ) {
        if let Some(id) = server_id
            && !self.stores.is_empty()
        {
            self.store(tables, id);
        }
        if let Some(c) = ctx {
            if (400..500).contains(&status) {
                c.count_http_error();
            } else if super::track::is_http_fail(status) {
                c.count_http_fail();
            }
        }
    }
}

impl Tables {
    /// What the fetches of a request see: `None` (and no work) when the configuration has
    /// no table.
    pub fn ctx<'a>(&'a self, stream: &'a super::Trackers) -> Option<StickCtx<'a>> {
        if !self.any {
            return None;
        }
        Some(StickCtx {
            tables: self,
            now: now_ms(),
            stream,
            session: None,
        })
    }

    /// Like [`Tables::ctx`], for a stream of a connection whose `tcp-request connection|
    /// session` rules may have tracked counters (`session`).
    pub fn ctx_session<'a>(
        &'a self,
        stream: &'a super::Trackers,
        session: Option<&'a super::Trackers>,
    ) -> Option<StickCtx<'a>> {
        let mut c = self.ctx(stream)?;
        c.session = session;
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{ConnInfo, RequestSample, StickAction, StickSource};
    use crate::config::HttpAction;
    use crate::stick::Trackers;

    const CFG: &str = "defaults\n  mode http\n\
        frontend fe\n  bind 127.0.0.1:1\n\
        stick-table type ip size 10 expire 10s store conn_cnt,conn_cur,http_req_cnt\n\
        http-request track-sc0 src\n  http-request track-sc0 dst\n  default_backend be\n\
        backend be\n  server s 127.0.0.1:2\n";

    #[test]
    fn tracking_counts_by_origin_and_releases_at_the_end() {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str("t.cfg", CFG);
        let cfg = p.finish().0.expect("valid");
        let tables = Tables::new(&cfg);
        let rules: Vec<&StickAction> = cfg.proxies[0]
            .http_request
            .iter()
            .filter_map(|r| match &r.action {
                HttpAction::Stick(a) => Some(a),
                _ => None,
            })
            .collect();
        let conn = ConnInfo {
            src: Some("192.0.2.7:1000".parse().unwrap()),
            dst: Some("192.0.2.1:80".parse().unwrap()),
            tls: None,
            h2: false,
            glitches: None,
            fd: None,
            vars: Default::default(),
            ..Default::default()
        };
        let t = tables.get(0).unwrap();
        let key = t.parse_key("192.0.2.7").unwrap();
        let value = |dt| t.get(&t.lookup(&key, now_ms()).unwrap(), dt, now_ms());
        for (origin, reqs) in [(RuleKind::Tcp, 0), (RuleKind::HttpRequest, 1)] {
            let trackers = Trackers::new();
            let ctx = tables.ctx(&trackers).unwrap();
            let s = RequestSample {
                head: None,
                conn: &conn,
                nbsrv: &|_| 0,
                stopping: false,
                stick: Some(&ctx),
                txn: None,
                addrs: None,
                strm: None,
            };
            for a in &rules {
                ctx.apply(a, &s, origin);
            }
            // The second track-sc0 found the slot taken: dst was not tracked.
            assert_eq!(trackers.tracked(), 1);
            assert_eq!(t.used(), 1);
            assert_eq!(value(DataType::ConnCur), Some(1));
            assert_eq!(value(DataType::HttpReqCnt), Some(reqs));
            drop(trackers);
            assert_eq!(value(DataType::ConnCur), Some(0));
        }
        assert_eq!(value(DataType::ConnCnt), Some(2));
    }
}
