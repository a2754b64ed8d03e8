//! A snapshot of the statistics in HAProxy's stat fields, taken when someone asks (stats
//! page, exporter, `show stat`): the shards' counters summed, plus what the shared state
//! says now (server states, weights, connection counts, queues).

use super::counters::{C, Totals};
use super::{CheckStatus, ObjType, Row, Val, f};
use crate::cluster::Shared;
use crate::cluster::check_status::shown as check_shown;
use crate::cluster::state::SrvState;
use std::time::SystemTime;

/// Process-wide values (`show info`, `haproxy_process_*`).
#[derive(Clone, Debug, Default)]
pub struct Info {
    pub pid: u32,
    pub nbthread: u32,
    pub version: &'static str,
    /// Unix time of the start, and seconds since.
    pub start_time: u64,
    pub uptime: u64,
    pub maxconn: u32,
    pub curr_conns: u32,
    pub cum_conns: u64,
    pub cum_req: u64,
    pub conn_rate: u64,
    pub stopping: bool,
    pub listeners: u32,
    pub bytes_out: u64,
    pub spliced_bytes_out: u64,
    pub dropped_logs: u64,
    pub max_fds: u64,
    pub max_pipes: u64,
    /// TLS connections accepted (handed to kTLS or kept in rustls).
    pub ssl_conns: u64,
    /// Per shard: its own counters (`corelb_shard_*`).
    pub shards: Vec<ShardInfo>,
}

#[derive(Clone, Debug, Default)]
pub struct ShardInfo {
    pub accepted: u64,
    pub spliced: u64,
    pub copied: u64,
    pub ktls_handoffs: u64,
    pub tls_userspace: u64,
    pub buffers_reused: u64,
    pub buffers_allocated: u64,
    pub checks: u64,
    pub log_drops: u64,
    pub uring_enters: u64,
    pub uring_submissions: u64,
}

/// Every row in HAProxy's order (per proxy: frontend, listeners, servers, backend) and
/// the process values.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub rows: Vec<Row>,
    pub info: Info,
}

/// Takes a snapshot of `shared`'s generation.
pub fn take(shared: &Shared) -> Snapshot {
    let cnt = &shared.counters;
    let mut rows = Vec::new();
    let pid = std::process::id();
    let now = SystemTime::now();
    // The frontends' totals, for the process values.
    let (mut cum_req, mut bytes_out, mut conn_rate) = (0u64, 0u64, 0u64);
    for (i, px) in shared.cfg.proxies.iter().enumerate() {
        if let Some(fe) = &shared.frontends[i] {
            let t = cnt.sum(|s| s.fe(i));
            cum_req += t.get(C::ReqTot);
            bytes_out += t.get(C::Bout);
            conn_rate += t.conn_rate;
            let mut r = Row::new(ObjType::Frontend, i, fe.id, 0);
            common(&mut r, &px.name, "FRONTEND", &t);
            let v = &mut r.v;
            v[f::SCUR] = Val::U(fe.slots.current() as u64);
            v[f::SLIM] = Val::U(fe.slots.max() as u64);
            v[f::STATUS] = Val::Str(if shared.control.stopping() || px.disabled {
                "STOP".into()
            } else {
                "OPEN".into()
            });
            // `rate-limit sessions` (0: none).
            v[f::RATE_LIM] = Val::U(fe.sess_rate.as_ref().map_or(0, |r| r.limit()) as u64);
            v[f::EREQ] = Val::U(t.get(C::Ereq));
            v[f::REQ_RATE] = Val::U(t.req_rate);
            v[f::REQ_RATE_MAX] = Val::U(t.get(C::ReqRateMax));
            v[f::CONN_RATE] = Val::U(t.conn_rate);
            v[f::CONN_RATE_MAX] = Val::U(t.get(C::ConnRateMax));
            v[f::CONN_TOT] = Val::U(t.get(C::ConnTot));
            v[f::INTERCEPTED] = Val::U(t.get(C::Intercepted));
            for k in [f::DCON, f::DSES, f::CACHE_LOOKUPS, f::CACHE_HITS] {
                v[k] = Val::U(0);
            }
            v[f::WREW] = Val::U(t.get(C::Wrew));
            v[f::EINT] = Val::U(t.get(C::Eint));
            http_fields(&mut r, px.mode == crate::config::Mode::Http, &t, true);
            let full = fe.slots.max() > 0 && fe.slots.current() >= fe.slots.max();
            let open = r.status() == "OPEN";
            rows.push(r);
            if px.options.socket_stats {
                for (k, b) in px.binds.iter().enumerate() {
                    rows.push(listener_row(
                        shared,
                        i,
                        fe.id,
                        k,
                        b,
                        &fe.listeners[k],
                        open,
                        full,
                    ));
                }
            }
        }
        let Some(be) = &shared.backends[i] else {
            continue;
        };
        let (mut act, mut bck, mut weight, mut uweight) = (0u64, 0u64, 0u64, 0u64);
        let mut be_change = u64::MAX;
        let mut chkdown = 0u64;
        for (k, s) in be.lb.servers.iter().enumerate() {
            if be.lb.is_dispatch(k) {
                continue;
            }
            let t = cnt.sum(|sh| sh.srv(i, k));
            chkdown += t.get(C::ChkDown);
            let cfg_srv = &px.servers[k];
            let mut r = Row::new(ObjType::Server, i, be.id, s.id);
            common(&mut r, &px.name, &s.name, &t);
            let usable = s.usable();
            if usable {
                // A backup's weight is not in the backend's (only active servers').
                if s.backup {
                    bck += 1;
                } else {
                    act += 1;
                    weight += s.weight() as u64;
                }
                uweight += s.user_weight() as u64;
            }
            let (lastchg, downtime) = (s.since_last_change(), s.downtime());
            be_change = be_change.min(lastchg);
            let v = &mut r.v;
            v[f::QCUR] = Val::U(s.queue.waiting() as u64);
            v[f::QMAX] = Val::U(t.get(C::Qmax));
            v[f::SCUR] = Val::U(s.cur_conns() as u64);
            v[f::SLIM] = if s.maxconn() > 0 {
                Val::U(s.maxconn() as u64)
            } else {
                Val::Empty
            };
            v[f::DRESP] = Val::U(t.get(C::Dresp));
            v[f::STATUS] = Val::Str(server_status(s));
            // A drained server keeps showing its weight, as in HAProxy (drain makes it
            // unusable, it does not change the weight).
            let shown = if s.admin() & crate::cluster::state::admin::FDRAIN != 0 {
                s.user_weight()
            } else {
                s.weight()
            };
            v[f::WEIGHT] = Val::U(shown as u64);
            v[f::UWEIGHT] = Val::U(s.user_weight() as u64);
            v[f::ACT] = Val::U(!s.backup as u64);
            v[f::BCK] = Val::U(s.backup as u64);
            v[f::LASTCHG] = Val::U(lastchg);
            // As HAProxy: a server's downtime only while its checks run.
            if s.checked {
                v[f::DOWNTIME] = Val::U(downtime);
            }
            v[f::LBTOT] = Val::U(t.get(C::Lbtot));
            v[f::THROTTLE] = s.throttle().map_or(Val::Empty, |p| Val::U(p as u64));
            if let Some(t) = s.tracked.get() {
                v[f::TRACKED] = Val::Str(format!("{}/{}", t.backend, t.name));
            }
            v[f::RATE_MAX] = Val::U(t.get(C::RateMax));
            if s.checked {
                let h = s.health();
                v[f::CHKFAIL] = Val::U(t.get(C::ChkFail));
                v[f::CHKDOWN] = Val::U(t.get(C::ChkDown));
                v[f::CHECK_RISE] = Val::U(h.rise as u64);
                v[f::CHECK_FALL] = Val::U(h.fall as u64);
                v[f::CHECK_HEALTH] = Val::U(h.health as u64);
                let running = s.check_running.get();
                match t.last_check() {
                    Some((st, code, ms)) => {
                        v[f::CHECK_STATUS] = Val::Str(check_shown(st.name(), running));
                        if st.has_code() {
                            v[f::CHECK_CODE] = Val::U(code as u64);
                        }
                        v[f::CHECK_DURATION] = Val::U(ms);
                        v[f::CHECK_DESC] = Val::Str(st.description().into());
                        v[f::LAST_CHK] = Val::Str(match st {
                            CheckStatus::L4Con => "Connection refused".into(),
                            _ if st.external() => String::new(),
                            _ if code != 0 => code.to_string(),
                            _ => String::new(),
                        });
                    }
                    None => {
                        v[f::CHECK_STATUS] = Val::Str(check_shown("INI", running));
                        v[f::CHECK_DESC] = Val::Str("Initializing".into());
                    }
                }
            }
            agent_fields(v, s);
            v[f::QLIMIT] = match s.maxqueue {
                0 => Val::Empty,
                q => Val::U(q as u64),
            };
            let (ip, port) = s.ip_port();
            v[f::ADDR] = Val::Str(match port {
                Some(p) => std::net::SocketAddr::new(ip, p).to_string(),
                None => ip.to_string(),
            });
            if let Some(c) = &cfg_srv.params.cookie {
                v[f::COOKIE] = Val::Str(c.clone());
            }
            // Idle connections sit in each shard's own pool; each shard publishes its
            // counts with its purge timer. need_conn_est stays empty (HAProxy's estimate
            // needs a per-request maximum of used connections).
            let (idle, safe) = (t.get(C::IdleCur), t.get(C::SafeCur));
            v[f::SRV_ICUR] = Val::U(idle + safe);
            // `pool-max-conn` when set (as HAProxy), else the pools' own limit.
            let ilim = (cfg_srv.params.pool_max_conn.map(|n| n as usize))
                .unwrap_or(crate::cluster::counters::MAX_IDLE * shared.shards);
            v[f::SRC_ILIM] = Val::U(ilim as u64);
            v[f::IDLE_CONN_CUR] = Val::U(idle);
            v[f::SAFE_CONN_CUR] = Val::U(safe);
            v[f::WREW] = Val::U(t.get(C::Wrew));
            v[f::USED_CONN_CUR] = Val::U(s.cur_conns() as u64);
            backend_side(&mut r, &t);
            http_fields(&mut r, px.mode == crate::config::Mode::Http, &t, false);
            rows.push(r);
        }
        let t = cnt.sum(|s| s.be(i));
        let mut r = Row::new(ObjType::Backend, i, be.id, 0);
        common(&mut r, &px.name, "BACKEND", &t);
        let v = &mut r.v;
        v[f::QCUR] = Val::U(be.queue.waiting() as u64);
        v[f::QMAX] = Val::U(t.get(C::Qmax));
        v[f::SCUR] = Val::U(be.lb.servers.iter().map(|s| s.cur_conns() as u64).sum());
        v[f::SLIM] = Val::U(px.fullconn.or(px.maxconn).unwrap_or(0) as u64);
        v[f::DRESP] = Val::U(t.get(C::Dresp));
        // HAProxy: UP with a usable server, or with no server at all (a `dispatch` one).
        // With `dispatch` no server is balanced, so none counts: UP only without servers.
        let no_server = (0..be.lb.servers.len()).all(|k| be.lb.is_dispatch(k));
        let up = match be.lb.dispatch {
            Some(_) => no_server,
            None => act + bck > 0 || no_server,
        };
        v[f::STATUS] = Val::Str(if up { "UP" } else { "DOWN" }.into());
        v[f::WEIGHT] = Val::U(weight);
        v[f::UWEIGHT] = Val::U(uweight);
        v[f::ACT] = Val::U(act);
        v[f::BCK] = Val::U(bck);
        v[f::CHKDOWN] = Val::U(chkdown);
        v[f::DOWNTIME] = Val::U(be.lb.downtime());
        if be_change != u64::MAX {
            v[f::LASTCHG] = Val::U(be_change);
        }
        v[f::LBTOT] = Val::U(t.get(C::Lbtot));
        v[f::RATE_MAX] = Val::U(t.get(C::RateMax));
        v[f::ALGO] = Val::Str(algo_name(px.balance.algo).into());
        for k in [
            f::COMP_IN,
            f::COMP_OUT,
            f::COMP_BYP,
            f::COMP_RSP,
            f::CACHE_LOOKUPS,
            f::CACHE_HITS,
            f::QTIME_MAX,
            f::CTIME_MAX,
            f::RTIME_MAX,
            f::TTIME_MAX,
            // HAProxy 2.6 prints 0 in the CSV (its exporter breaks them down by state).
            f::AGG_SERVER_STATUS,
            f::AGG_SERVER_CHECK_STATUS,
            f::AGG_CHECK_STATUS,
        ] {
            v[k] = Val::U(0);
        }
        v[f::WREW] = Val::U(t.get(C::Wrew));
        backend_side(&mut r, &t);
        http_fields(&mut r, px.mode == crate::config::Mode::Http, &t, false);
        rows.push(r);
    }
    let uptime = now
        .duration_since(shared.started)
        .map_or(0, |d| d.as_secs());
    let shards: Vec<ShardInfo> = (0..cnt.shards())
        .map(|k| {
            let p = &cnt.shard(k).proc;
            let g = crate::cluster::counters::ShardStats::get;
            ShardInfo {
                accepted: g(&p.accepted),
                spliced: g(&p.spliced),
                copied: g(&p.copied),
                ktls_handoffs: g(&p.ktls_handoffs),
                tls_userspace: g(&p.tls_userspace),
                buffers_reused: g(&p.buffers_reused),
                buffers_allocated: g(&p.buffers_allocated),
                checks: g(&p.checks),
                log_drops: g(&p.log_drops),
                uring_enters: g(&p.uring_enters),
                uring_submissions: g(&p.uring_submissions),
            }
        })
        .collect();
    let info = Info {
        pid,
        nbthread: shared.shards as u32,
        version: env!("CARGO_PKG_VERSION"),
        start_time: shared
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        uptime,
        maxconn: shared.slots.max(),
        curr_conns: shared.slots.current(),
        cum_conns: shards.iter().map(|s| s.accepted).sum(),
        cum_req,
        conn_rate,
        stopping: shared.control.stopping(),
        listeners: shared
            .cfg
            .proxies
            .iter()
            .map(|p| p.binds.len() as u32)
            .sum(),
        bytes_out,
        spliced_bytes_out: shards.iter().map(|s| s.spliced).sum(),
        dropped_logs: shards.iter().map(|s| s.log_drops).sum(),
        max_pipes: (shared.pipes_per_shard * shared.shards) as u64,
        ssl_conns: shards
            .iter()
            .map(|s| s.ktls_handoffs + s.tls_userspace)
            .sum(),
        max_fds: crate::sys::getrlimit(libc::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft),
        shards,
    };
    Snapshot { rows, info }
}

/// The row of listener `k` (`bind` line `b`, known to its fetches as `li`) of frontend
/// `px` (`option socket-stats`): HAProxy's listener fields, from the listener's own
/// counters; its id (`bind … id`, else HAProxy's numbering) and name (`sock-ID` unnamed).
#[allow(clippy::too_many_arguments)]
fn listener_row(
    shared: &Shared,
    px: usize,
    iid: u32,
    k: usize,
    b: &crate::config::model::Bind,
    li: &crate::acl::ListenerInfo,
    open: bool,
    full: bool,
) -> Row {
    let t = shared
        .counters
        .sum(|s| s.li(px, k).unwrap_or_else(|| s.fe(px)));
    let cfg = &shared.cfg.proxies[px];
    let mut r = Row::new(ObjType::Listener, px, iid, li.id);
    let name = li
        .name
        .as_deref()
        .map_or_else(|| format!("sock-{}", li.id), String::from);
    let v = &mut r.v;
    v[f::PXNAME] = Val::Str(cfg.name.clone());
    v[f::SVNAME] = Val::Str(name);
    v[f::SCUR] = Val::U(t.get(C::LiCur));
    v[f::SMAX] = Val::U(t.get(C::Smax));
    v[f::SLIM] = Val::U(b.maxconn.unwrap_or(0) as u64);
    v[f::STOT] = Val::U(t.get(C::Stot));
    v[f::BIN] = Val::U(t.get(C::Bin));
    v[f::BOUT] = Val::U(t.get(C::Bout));
    v[f::DREQ] = Val::U(t.get(C::Dreq));
    v[f::DRESP] = Val::U(t.get(C::Dresp));
    v[f::EREQ] = Val::U(t.get(C::Ereq));
    // HAProxy's listener states: WAITING (not accepting: paused or stopping), FULL (at
    // its limit), OPEN.
    v[f::STATUS] = Val::Str(
        match (open, full) {
            (false, _) => "WAITING",
            (true, true) => "FULL",
            (true, false) => "OPEN",
        }
        .into(),
    );
    v[f::PID] = Val::U(1);
    v[f::IID] = Val::U(iid as u64);
    v[f::SID] = Val::U(li.id as u64);
    v[f::TYPE] = Val::U(ObjType::Listener as u64);
    v[f::ADDR] = Val::Str(b.addr.to_string());
    v[f::MODE] = Val::Str(
        if cfg.mode == crate::config::Mode::Http {
            "http"
        } else {
            "tcp"
        }
        .into(),
    );
    for k in [f::DCON, f::DSES] {
        v[k] = Val::U(0);
    }
    v[f::WREW] = Val::U(t.get(C::Wrew));
    v[f::EINT] = Val::U(t.get(C::Eint));
    r
}

/// Fields every row has: names, sessions, bytes, ids, type, rate.
fn common(r: &mut Row, px: &str, sv: &str, t: &Totals) {
    let obj = r.obj;
    let (iid, sid) = (r.iid, r.sid);
    let v = &mut r.v;
    v[f::PXNAME] = Val::Str(px.into());
    v[f::SVNAME] = Val::Str(sv.into());
    v[f::SMAX] = Val::U(t.get(C::Smax));
    v[f::STOT] = Val::U(t.get(C::Stot));
    v[f::BIN] = Val::U(t.get(C::Bin));
    v[f::BOUT] = Val::U(t.get(C::Bout));
    if obj != ObjType::Server {
        v[f::DREQ] = Val::U(t.get(C::Dreq));
    }
    v[f::DRESP] = Val::U(t.get(C::Dresp));
    v[f::PID] = Val::U(1);
    v[f::IID] = Val::U(iid as u64);
    v[f::SID] = Val::U(sid as u64);
    v[f::TYPE] = Val::U(obj as u64);
    v[f::RATE] = Val::U(t.rate);
    v[f::RATE_MAX] = Val::U(t.get(C::RateMax));
}

/// Fields of backends and servers: errors, warnings, aborts, last session, connections.
fn backend_side(r: &mut Row, t: &Totals) {
    let v = &mut r.v;
    v[f::ECON] = Val::U(t.get(C::Econ));
    v[f::ERESP] = Val::U(t.get(C::Eresp));
    v[f::WRETR] = Val::U(t.get(C::Wretr));
    v[f::WREDIS] = Val::U(t.get(C::Wredis));
    v[f::CLI_ABRT] = Val::U(t.get(C::CliAbrt));
    v[f::SRV_ABRT] = Val::U(t.get(C::SrvAbrt));
    v[f::LASTSESS] = Val::S(t.last_sess_age().map_or(-1, |s| s as i64));
    v[f::CONNECT] = Val::U(t.get(C::Connect));
    v[f::REUSE] = Val::U(t.get(C::Reuse));
    v[f::EINT] = Val::U(t.get(C::Eint));
    // The sliding averages over the last 1024 streams.
    v[f::QTIME] = Val::U(t.avg[0]);
    v[f::CTIME] = Val::U(t.avg[1]);
    v[f::RTIME] = Val::U(t.avg[2]);
    v[f::TTIME] = Val::U(t.avg[3]);
    v[f::QTIME_MAX] = Val::U(t.get(C::QtimeMax));
    v[f::CTIME_MAX] = Val::U(t.get(C::CtimeMax));
    v[f::RTIME_MAX] = Val::U(t.get(C::RtimeMax));
    v[f::TTIME_MAX] = Val::U(t.get(C::TtimeMax));
}

/// The HTTP fields (responses by class, requests), for proxies in mode http.
fn http_fields(r: &mut Row, http: bool, t: &Totals, frontend: bool) {
    let v = &mut r.v;
    v[f::MODE] = Val::Str(if http { "http" } else { "tcp" }.into());
    if !http {
        return;
    }
    for (k, c) in [
        (f::HRSP_1XX, C::Hrsp1xx),
        (f::HRSP_2XX, C::Hrsp2xx),
        (f::HRSP_3XX, C::Hrsp3xx),
        (f::HRSP_4XX, C::Hrsp4xx),
        (f::HRSP_5XX, C::Hrsp5xx),
        (f::HRSP_OTHER, C::HrspOther),
    ] {
        v[k] = Val::U(t.get(c));
    }
    v[f::REQ_TOT] = Val::U(t.get(C::ReqTot));
    if frontend {
        for k in [f::COMP_IN, f::COMP_OUT, f::COMP_BYP, f::COMP_RSP] {
            v[k] = Val::U(0);
        }
    }
}

/// HAProxy's server status: `MAINT`, `DRAIN` (forced drain), `NOLB` (health stopping),
/// `no check` (unchecked, or checks disabled), or `UP`/`DOWN` with the check progress
/// while it moves (`UP 1/3`, `DOWN 1/2`).
/// The agent check's columns (`agent-check`), as HAProxy fills them.
fn agent_fields(v: &mut [Val], s: &crate::cluster::ServerState) {
    let Some(a) = &s.agent else { return };
    let r = a.report();
    let (name, desc) = r.status.unwrap_or(("INI", "Initializing"));
    v[f::AGENT_STATUS] = Val::Str(check_shown(name, a.running.get()));
    v[f::AGENT_DESC] = Val::Str(desc.into());
    if r.status.is_some() {
        v[f::AGENT_DURATION] = Val::U(r.duration_ms);
    }
    if name.starts_with("L7") {
        v[f::AGENT_CODE] = Val::U(0);
    }
    v[f::LAST_AGT] = Val::Str(r.desc);
    v[f::AGENT_RISE] = Val::U(1);
    v[f::AGENT_FALL] = Val::U(1);
    v[f::AGENT_HEALTH] = Val::U(!a.down() as u64);
}

fn server_status(s: &crate::cluster::ServerState) -> String {
    use crate::cluster::state::admin::FDRAIN;
    let st = s.state();
    if st == SrvState::Maint {
        return "MAINT".into();
    }
    if st == SrvState::Up && s.admin() & FDRAIN != 0 {
        return if s.agent.is_some() {
            "DRAIN (agent)"
        } else {
            "DRAIN"
        }
        .into();
    }
    if st == SrvState::Down && s.agent_down() {
        return "DOWN (agent)".into();
    }
    if st == SrvState::Up && s.stopping() {
        return "NOLB".into();
    }
    // A tracking server shows the health of the server whose checks it follows.
    let s = s.health_ref();
    if !s.checked || !s.checks_enabled() {
        return if st == SrvState::Up {
            "no check"
        } else {
            "DOWN"
        }
        .into();
    }
    let h = s.health();
    if h.up {
        if h.health < h.rise + h.fall - 1 {
            format!("UP {}/{}", h.health + 1 - h.rise, h.fall)
        } else {
            "UP".into()
        }
    } else if h.health > 0 {
        format!("DOWN {}/{}", h.health, h.rise)
    } else {
        "DOWN".into()
    }
}

fn algo_name(a: crate::config::Algo) -> &'static str {
    use crate::config::Algo::*;
    match a {
        RoundRobin => "roundrobin",
        StaticRr => "static-rr",
        LeastConn => "leastconn",
        First => "first",
        Source => "source",
        Random { .. } => "random",
        RequestHash => "hash",
    }
}
