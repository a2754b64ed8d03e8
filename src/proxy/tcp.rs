//! mode tcp: one connection's life, from accept to close, as an explicit state machine:
//!
//! ```text
//! Pick ──Server──▶ Connect ──ok──▶ Tunnel ──▶ Close
//!  │  ╲              │ failed: retry (same server, or redispatch to another one, as
//!  │   Full─▶ Queue  │         the one rule of cluster::retry decides)
//!  │          │      └ retries exhausted ─▶ Close (SC)
//!  └NoServer──┴──────────────────────────────▶ Close (SC / sQ)
//! ```
//!
//! The termination state in the log is `log::term::Term`, as in mode http: who ended it (C
//! client, S server, c/s their timeouts, P proxy, K killed) and in which phase (R request
//! inspection, Q queue, C connect, D data).

use crate::cluster::balance::{Pick, PickCtx};
use crate::cluster::control::Priority;
use crate::cluster::retry::Failure;
use crate::cluster::{BackendRt, FrontendRt};
use crate::config::PpOpts;
use crate::log::term::{Cause, Phase, Term};
use crate::net::io::ServerIo;
use crate::net::pump::{End, Peer, Splice, Timeouts, Tunnel};
use crate::net::shard::ShardCtx;
use crate::net::tls::Client;
use crate::proxy::RetryTo;
use glommio::net::TcpStream;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What happened to a connection, for the log.
struct Outcome<'a> {
    term: Term,
    /// The `bind` the client came through (its listener counters).
    listener: usize,
    backend: Option<Arc<BackendRt>>,
    server: Option<usize>,
    retries: u32,
    /// The server a retry redispatched from (the last one).
    redispatched_from: Option<usize>,
    t_queue: Option<Duration>,
    t_connect: Option<Duration>,
    bytes_in: u64,
    bytes_out: u64,
    /// Refused by a `tcp-request content` rule (counted as a denied request).
    denied: bool,
    /// Logged when its server connection was established (`option logasap`): the end
    /// counts it and writes no other line.
    logged_asap: bool,
    /// The bytes (in, out) already counted while they moved (`option contstats`): the end
    /// counts the rest.
    counted: (u64, u64),
    /// The rates it counted as they happened (`crate::stats::counters::ticked`).
    ticked: u8,
    /// The request capture slots `tcp-request content capture` rules filled (`%hr`).
    captures: Option<crate::log::access::Captures>,
    /// `tcp-request content set-log-level`: the line's level (-1: no line).
    log_level: Option<i8>,
    /// The connection's and the stream's variables, for the rules and the log.
    vars: crate::acl::Vars<'a>,
}

enum State {
    /// Choose a server (avoiding one after a failure when redispatching).
    Pick {
        avoid: Option<usize>,
    },
    /// A server the client's stick-table entry names (`stick match|on`): its slot, or a
    /// place in its queue, else balanced like any other.
    Direct {
        srv: usize,
    },
    /// Every usable server is at maxconn: wait for a slot.
    Queue,
    /// Connect to the chosen server (its slot is reserved).
    Connect {
        srv: usize,
    },
    /// Move bytes until both sides are done.
    Forward {
        srv: usize,
        server: ServerIo,
    },
    Close,
}

/// The server `persist rdp-cookie(NAME)` names: the cookie's value is
/// `ADDR.PORT.RESERVED`, the server's IPv4 address and port as the little-endian decimal
/// numbers of their network-order bytes (what Microsoft's load balancers write, and what
/// HAProxy reads); the server must be usable, or `option persist` given.
fn rdp_server(be: &BackendRt, early: &[u8], name: &str, force: bool) -> Option<usize> {
    use crate::acl::payload::{L6, rdp_cookie};
    let L6::Found(v) = rdp_cookie(early, Some(name.as_bytes())) else {
        return None;
    };
    let v = std::str::from_utf8(v).ok()?;
    // strtoul: leading digits (none is 0), then the separator must follow.
    let num = |s: &str| -> (u64, usize) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (s[..n].parse().unwrap_or(0), n)
    };
    let (addr, n) = num(v);
    let rest = v[n..].strip_prefix('.')?;
    let (port, n) = num(rest);
    rest[n..].strip_prefix('.')?;
    let ip = std::net::Ipv4Addr::from((addr as u32).to_le_bytes());
    let port = (port as u16).swap_bytes();
    be.lb.servers.iter().position(|s| {
        s.ip_port() == (std::net::IpAddr::V4(ip), Some(port)) && (force || s.usable())
    })
}

/// A mode tcp stream that goes on as HTTP (`switch-mode http`, or a backend in mode http):
/// what its HTTP session starts with.
pub struct ToHttp {
    pub src: SocketAddr,
    pub dst: Option<SocketAddr>,
    /// The bytes the content rules inspected: the start of the first request.
    pub early: Vec<u8>,
    pub proto: crate::config::model::BindProto,
    /// The connection's variables (`sess.`) and counters, as for any HTTP session.
    pub vars: crate::acl::VarSet,
    pub trackers: Option<Box<crate::stick::Trackers>>,
    /// The stream's (`txn.`, `req.`), for its first request.
    pub txn: crate::acl::VarSet,
}

/// A mode tcp connection after its PROXY header (if any): `peer` and `dst` are the
/// client's addresses as the header told them, `early` the bytes that came after it.
/// Some when it goes on as HTTP instead (nothing logged here then).
pub async fn session(
    shard: Rc<ShardCtx>,
    fe: Arc<FrontendRt>,
    client: &mut Client,
    from: crate::proxy::conn::ClientOrigin,
) -> Option<Box<ToHttp>> {
    let crate::proxy::conn::ClientOrigin {
        src: peer,
        mut dst,
        mut early,
        date: accept_date,
        at: accepted,
        tls,
        vars,
        trackers: session_trackers,
        sess,
        bind,
    } = from;
    // What `tcp-request content` rules track: the stream's, released when it ends.
    let trackers = crate::stick::Trackers::new();
    // The stream's variables, from its request rules to its response rules and its log.
    let txn = crate::acl::VarSet::default();
    let mut out = Outcome {
        term: Term::NORMAL,
        listener: bind,
        backend: None,
        server: None,
        retries: 0,
        redispatched_from: None,
        t_queue: None,
        t_connect: None,
        bytes_in: 0,
        bytes_out: 0,
        denied: false,
        logged_asap: false,
        counted: (0, 0),
        ticked: 0,
        captures: None,
        log_level: None,
        vars: Default::default(),
    };
    // `tcp-request content` rules and conditional `use_backend`: only frontends that have
    // them hold the first bytes back; the others go straight to their backend.
    let mut backend = fe.backend;
    let mut conn = crate::acl::ConnInfo {
        src: Some(peer),
        dst: Some(local_addr(client.tcp(), &mut dst)),
        tls,
        h2: false,
        glitches: None,
        vars,
        fd: Some(std::os::fd::AsRawFd::as_raw_fd(&crate::sys::fd(
            client.tcp(),
        ))),
        listener: fe.listeners.get(bind).cloned(),
        ..Default::default()
    };
    out.vars = crate::acl::Vars {
        sess: Some(&conn.vars),
        txn: Some(&txn),
    };
    // The stream's addresses, as content rules' `set-src`/`set-dst` leave them.
    let addrs = crate::acl::AddrsCell::default();
    // The queue rank content rules give the stream (`set-priority-class`/`-offset`).
    let mut prio = Priority::default();
    let mut to_http = None;
    if fe.inspects_content {
        let captured = std::cell::RefCell::new(Vec::new());
        let effects = std::cell::Cell::new(crate::proxy::effects::Effects::default());
        let priority = std::cell::Cell::new((0, 0));
        let routed = crate::proxy::inspect::route_tcp(
            &shard,
            &fe,
            client,
            &conn,
            &txn,
            &mut early,
            &trackers,
            session_trackers.as_deref(),
            &addrs,
            &captured,
            &effects,
            &priority,
        )
        .await;
        let fx = effects.get();
        out.log_level = fx.log_level;
        prio = Priority::new(priority.get());
        if fx.tos.is_some() || fx.mark.is_some() {
            fx.apply_to(crate::sys::fd(client.tcp()).as_raw_fd(), peer.is_ipv6());
        }
        let captured = captured.into_inner();
        if !captured.is_empty() {
            let slots = &shard.shared.cfg.proxies[fe.proxy].logging.req_captures;
            let mut c = crate::log::access::Captures::default();
            c.capture(false, slots, std::iter::empty());
            for (id, v) in captured {
                if let Some(slot) = slots.get(id) {
                    c.set(false, id, &v, slot.len);
                }
            }
            out.captures = Some(c);
        }
        match routed {
            crate::proxy::inspect::Routed::Backend(b) => backend = b,
            crate::proxy::inspect::Routed::Http(proto) => to_http = Some(proto),
            crate::proxy::inspect::Routed::Closed { term, denied } => {
                out.term = term;
                out.denied = denied;
                let a = addrs.get();
                let (peer, dst) = (a.src.unwrap_or(peer), a.dst.or(dst));
                finish(&shard, &fe, peer, dst, accept_date, accepted, &out);
                return None;
            }
        }
    }
    // A backend in mode http makes an HTTP stream of it, as HAProxy upgrades it.
    let cfg = &shard.shared.cfg;
    if backend.is_some_and(|b| cfg.proxies[b].mode == crate::config::Mode::Http) {
        to_http = Some(crate::config::model::BindProto::Auto);
    }
    if let Some(proto) = to_http {
        let a = addrs.get();
        return Some(Box::new(ToHttp {
            src: a.src.unwrap_or(peer),
            dst: a.dst.or(dst),
            early,
            proto,
            vars: std::mem::take(&mut conn.vars),
            trackers: session_trackers,
            txn,
        }));
    }
    // From here on (the log, balancing, the server's address and PROXY header) the
    // stream's addresses.
    let a = addrs.get();
    let peer = a.src.unwrap_or(peer);
    if a.dst.is_some() {
        dst = a.dst;
    }
    let Some(be) = backend.and_then(|i| shard.shared.backends[i].clone()) else {
        // A frontend without a backend closes its connections, as HAProxy does.
        out.term = Term::new(Cause::Proxy, Phase::Request);
        finish(&shard, &fe, peer, dst, accept_date, accepted, &out);
        return None;
    };
    out.backend = Some(be.clone());
    // Counted before its rules read `be_sess_rate`, as HAProxy does.
    let ticked = crate::stats::counters::ticked::BE;
    (shard.counters()).rate_now(ticked, be.proxy, 0, &mut out.ticked, Instant::now());
    let be_px = &shard.shared.cfg.proxies[be.proxy];
    // `balance rdp-cookie[(NAME)]`: the RDP client's cookie hashed as HAProxy hashes it
    // (round robin without one, as HAProxy).
    let key = match &be_px.balance.key {
        Some(crate::config::HashKey::RdpCookie(n)) => {
            match crate::acl::payload::rdp_cookie(&early, Some(n.as_bytes())) {
                crate::acl::payload::L6::Found(v) => Some(be.lb.key(v)),
                _ => None,
            }
        }
        // `balance hash EXPR`: on what the connection and its inspected bytes say.
        Some(crate::config::HashKey::Expr(e)) => {
            let nb = |i: usize| shard.shared.usable_servers(i);
            let stopping = shard.shared.control.soft_stopping();
            let mut s = crate::acl::ContentSample::new(&conn, &early, true, &nb, stopping);
            s.addrs = Some(&addrs);
            e.hash_key(&s, |b| be.lb.key(b))
        }
        _ => None,
    };
    let ctx = PickCtx {
        client_ip: peer.ip(),
        avoid: None,
        key,
    };
    // `stick match|on|store-request` (the backend's persistence by stick table), on what
    // the connection and its inspected bytes say, as in HTTP.
    let persist = if be_px.stick_rules.is_empty() {
        crate::stick::Persist::default()
    } else {
        let nb = |i: usize| shard.shared.usable_servers(i);
        let stopping = shard.shared.control.soft_stopping();
        let mut s = crate::acl::ContentSample::new(&conn, &early, true, &nb, stopping);
        s.addrs = Some(&addrs);
        crate::stick::Persist::rules(
            &be_px.stick_rules,
            &be_px.acls,
            &shard.shared.stick,
            &s,
            |id| be.lb.servers.iter().position(|x| x.id == id && x.usable()),
        )
    };
    // `persist rdp-cookie`: the server the client's RDP cookie names, first (HAProxy's
    // analyser order puts it before the stick rules).
    let rdp = be_px.persist_rdp.as_deref().and_then(|name| {
        let force = be_px.options.persist;
        rdp_server(&be, &early, name, force)
    });
    let mut state = match rdp.or(persist.server) {
        Some(srv) => State::Direct { srv },
        None => State::Pick { avoid: None },
    };
    let mut queued_since: Option<Instant> = None;
    // Whether any byte of the client's reached a server: until then a server that resets
    // the connection can be replaced without the client noticing.
    let mut client_bytes_sent = false;
    loop {
        state = match state {
            State::Pick { avoid } => match be.lb.pick(&PickCtx { avoid, ..ctx }) {
                Pick::Server(srv) => State::Connect { srv },
                Pick::Full => State::Queue,
                Pick::NoServer => {
                    out.term = Term::new(Cause::Server, Phase::Connect);
                    State::Close
                }
            },
            State::Direct { srv } => {
                let s = &be.lb.servers[srv];
                if s.try_acquire() {
                    State::Connect { srv }
                } else if !s.queue_has_room() {
                    State::Pick { avoid: None }
                } else {
                    let since = Instant::now();
                    let deadline = be.queue_timeout.map(|t| since + t);
                    let got = s.queue.wait_for_turn(prio, deadline, || {
                        if !s.usable() {
                            return Some(false);
                        }
                        s.try_acquire().then_some(true)
                    });
                    match got.await {
                        Some(true) => {
                            out.t_queue = Some(since.elapsed());
                            State::Connect { srv }
                        }
                        Some(false) => State::Pick { avoid: None },
                        None => {
                            out.term = Term::new(Cause::ServerTimeout, Phase::Queue);
                            State::Close
                        }
                    }
                }
            }
            State::Queue => {
                let since = *queued_since.get_or_insert_with(Instant::now);
                let deadline = be.queue_timeout.map(|t| since + t);
                let got = be
                    .queue
                    .wait_for_turn(prio, deadline, || match be.lb.pick(&ctx) {
                        Pick::Full => None,
                        other => Some(other),
                    });
                match got.await {
                    Some(Pick::Server(srv)) => {
                        out.t_queue = Some(since.elapsed());
                        State::Connect { srv }
                    }
                    Some(_) => {
                        out.term = Term::new(Cause::Server, Phase::Connect);
                        State::Close
                    }
                    None => {
                        out.term = Term::new(Cause::ServerTimeout, Phase::Queue);
                        State::Close
                    }
                }
            }
            State::Connect { srv } => {
                // The request's analysis is over: `req.` variables are gone from here.
                txn.end_request();
                let server = &be.lb.servers[srv];
                let dst = local_addr(client.tcp(), &mut dst);
                let t0 = Instant::now();
                // `proxy-v2-options unique-id`: the frontend's unique-id-format as the
                // connection stands (HAProxy renders it for the header, at the connect).
                let unique_id = be.pp_opts(srv).has(PpOpts::UNIQUE_ID).then(|| {
                    let before = out.server.replace(srv);
                    let s = log_stream(peer, Some(dst), accept_date, accepted, &out);
                    let id = crate::proxy::accesslog::unique_id(&shard, &fe, &s, None);
                    out.server = before;
                    id.unwrap_or_default()
                });
                let facts = crate::net::upstream::ClientFacts {
                    tls: conn.tls.as_ref().map(crate::acl::TlsInfo::pp),
                    unique_id: unique_id.as_deref(),
                };
                // TCP, the PROXY header (`send-proxy`), then TLS (`server … ssl`).
                match crate::net::upstream::connect(&be, srv, peer, dst, None, facts, false).await {
                    Ok(mut s) => {
                        out.t_connect = Some(t0.elapsed());
                        server.observed_success();
                        // The stream's timeouts (`cur_server_timeout`…), HAProxy's
                        // `back_establish`.
                        txn.set_cur_timeout(false, be.server_timeout, true);
                        txn.set_cur_timeout(true, be.tunnel_timeout, true);
                        // (The addresses are two system calls: only for `bc_*` fetches.)
                        let addrs = crate::acl::bc_addrs_used().then(|| s.addrs()).flatten();
                        let tls = crate::acl::bc_conn_used()
                            .then(|| s.tls_session())
                            .flatten();
                        txn.set_bc(addrs, None, tls);
                        // `stick on|store-request`: the client's keys now name this server.
                        if !server.non_stick {
                            persist.store(&shard.shared.stick, server.id);
                        }
                        // `option logasap`: the line goes now, the time so far as the total
                        // (HAProxy's sess_establish).
                        let fe_px = &shard.shared.cfg.proxies[fe.proxy];
                        if fe_px.logging.asap && !out.logged_asap {
                            out.server = Some(srv);
                            let at = (accept_date, accepted);
                            log_line(&shard, &fe, peer, Some(dst), at, &out, false);
                            out.logged_asap = true;
                        }
                        let _ = crate::sys::set_nonblocking(crate::sys::fd(s.tcp()));
                        // Bytes that came with the client's PROXY header, or that content
                        // rules held, go through the server's stream: encrypted when it
                        // speaks TLS.
                        let sent = if early.is_empty() {
                            Ok(())
                        } else {
                            client_bytes_sent = true;
                            let early = std::mem::take(&mut early);
                            let deadline = be.server_timeout.map(|t| Instant::now() + t);
                            let r = crate::net::io::with_deadline(deadline, async {
                                use futures_lite::AsyncWriteExt;
                                s.write_all(&early).await?;
                                s.flush().await
                            })
                            .await;
                            // They count in `%U` and the stats' bytes in, as in HAProxy.
                            if r.is_ok() {
                                out.bytes_in += early.len() as u64;
                            }
                            r
                        };
                        let be_px = &shard.shared.cfg.proxies[be.proxy];
                        let sent = match sent {
                            Ok(()) if !be_px.tcp_response.content.is_empty() => {
                                let (p, c) = (be_px, &mut *client);
                                let st = (&trackers, session_trackers.as_deref());
                                response_rules(&shard, p, &be, &conn, st, c, &mut s, &mut out).await
                            }
                            other => other.map(|()| true),
                        };
                        match sent {
                            Ok(true) => State::Forward { srv, server: s },
                            Ok(false) => {
                                release(&be, srv);
                                State::Close
                            }
                            Err(e) => {
                                log::debug!("{}/{}: {e}", be.name, server.name);
                                release(&be, srv);
                                out.term = Term::new(Cause::Server, Phase::Data);
                                State::Close
                            }
                        }
                    }
                    // Refused, timed out, or a failed TLS handshake: a failed connect, which
                    // the retry rule may retry (mode tcp has no retry-on).
                    Err(e) => {
                        log::debug!(
                            "{}/{}: connect to {} failed: {e}",
                            be.name,
                            server.name,
                            server.dest(dst.port())
                        );
                        if e.io.as_ref().is_some_and(crate::sys::ports::bind_failed) {
                            crate::net::shard::source_bind_alert(&shard, &be);
                        }
                        crate::net::shard::observe_error(&shard, &be, srv);
                        if crate::acl::bc_conn_used() {
                            let timed_out = e.kind == crate::net::error::Kind::ConnectTimeout;
                            txn.set_bc_failed(e.tls_handshake, timed_out);
                        }
                        match retry(&be, srv, e.failure(), &mut out).await {
                            Some(next) => next,
                            None => {
                                release(&be, srv);
                                out.term = e.term;
                                State::Close
                            }
                        }
                    }
                }
            }
            State::Forward { srv, mut server } => {
                out.server = Some(srv);
                let timeouts = Timeouts {
                    client: fe.client_timeout,
                    server: be.server_timeout,
                    client_fin: fe.client_fin_timeout,
                    server_fin: be.server_fin_timeout,
                    tunnel: be.tunnel_timeout,
                };
                let pump = shard.shared.cfg.global.pump;
                // `option independent-streams` (frontend: the client's side; backend: the
                // server's).
                let pxs = &shard.shared.cfg.proxies;
                let indep = (
                    pxs[fe.proxy].options.independent_streams,
                    pxs[be.proxy].options.independent_streams,
                );
                // `option contstats`: bytes counted as they move.
                let count_now = |i: u64, o: u64| {
                    let c = shard.counters();
                    c.bytes_moved(fe.proxy, bind, (be.proxy, srv), i, o);
                };
                let contstats = pxs[fe.proxy]
                    .options
                    .contstats
                    .then_some(&count_now as &dyn Fn(u64, u64));
                // The grace period of a stop: close what is still open when it ends; or
                // at once when `shutdown sessions server` names this server. Both come
                // through the control's one event, so a connection still waits on one
                // listener.
                // Set when killed: the log's first letter (K, D or U).
                let killed = std::cell::Cell::new(None);
                let epoch = be.lb.servers[srv].kill_epoch();
                shard.sessions.bind(
                    sess,
                    crate::cluster::sessions::Target {
                        backend: be.proxy,
                        server: srv,
                        epoch,
                    },
                );
                let grace = async {
                    let control = &shard.shared.control;
                    let state = &be.lb.servers[srv];
                    // `shutdown session ID` (this connection alone).
                    let own = async {
                        shard.sessions.killed(sess).await;
                        killed.set(shard.sessions.kill_cause(sess));
                    };
                    let stop = async {
                        loop {
                            let woken = control.listen();
                            if state.kill_epoch() != epoch {
                                killed.set(Some(state.kill_cause()));
                                return;
                            }
                            if control.stopping() {
                                break;
                            }
                            woken.await;
                        }
                        let deadline = control.deadline().unwrap_or_else(Instant::now);
                        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now()))
                            .await;
                    };
                    futures_lite::future::or(own, stop).await;
                };
                // What `tcp-response` inspection already passed on.
                let pre = (out.bytes_in, out.bytes_out);
                let end = match (&mut *client, &mut server) {
                    (Client::Plain(c), ServerIo::Plain(s)) => {
                        let policy = Splice::for_tunnel(pump, fe.splice, be.splice);
                        let t = Tunnel::new(c, s, &shard, timeouts, policy);
                        let t = t.independent(indep.0, indep.1);
                        let t = t.nolinger(fe.nolinger, be.nolinger);
                        run_tunnel(t, grace, &mut out, contstats).await
                    }
                    (Client::Ktls(k), ServerIo::Plain(s)) => {
                        // kTLS keeps splicing (the path tested in the kTLS VM), unless
                        // the pump copies everything.
                        let dir = if pump == crate::config::PumpKind::Copy {
                            Splice::Never
                        } else {
                            Splice::Always
                        };
                        let t = Tunnel::new(&mut k.tcp, s, &shard, timeouts, (dir, dir));
                        let t = t.client_ktls().nolinger(fe.nolinger, be.nolinger);
                        let t = t.independent(indep.0, indep.1);
                        run_tunnel(t, grace, &mut out, contstats).await
                    }
                    // TLS in user space on either side: copied through buffers.
                    (c, s) => {
                        let idle = be
                            .tunnel_timeout
                            .or(fe.client_timeout.max(be.server_timeout));
                        let mut copy = crate::net::copy::bidirectional(c, s, idle);
                        let r =
                            futures_lite::future::or(async { Some((&mut copy).await) }, async {
                                grace.await;
                                None
                            })
                            .await;
                        (out.bytes_in, out.bytes_out) = copy.bytes();
                        match r {
                            Some(Ok(())) => End::Closed,
                            Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                                End::Timeout(Peer::Client)
                            }
                            Some(Err(e)) => End::Error(Peer::Client, e),
                            None => End::Timeout(Peer::Client),
                        }
                    }
                };
                (out.bytes_in, out.bytes_out) = (out.bytes_in + pre.0, out.bytes_out + pre.1);
                let cause = match &end {
                    End::Closed => Cause::Normal,
                    End::Timeout(Peer::Client) => Cause::ClientTimeout,
                    End::Timeout(Peer::Server) => Cause::ServerTimeout,
                    End::Error(Peer::Client, _) => Cause::Client,
                    End::Error(Peer::Server, _) => Cause::Server,
                };
                // Killed from the runtime API (HAProxy's 'K') or by its server's health
                // ('D', 'U'), whatever the copy saw as it was cut.
                out.term = match killed.get() {
                    Some(why) => Term::new(why, Phase::Data),
                    None if cause == Cause::Normal => Term::NORMAL,
                    None => Term::new(cause, Phase::Data),
                };
                drop(server);
                // A server that dies with this connection still in its accept queue resets
                // it before a byte went either way: nothing reached it, so it is retried
                // like a failed connect instead of costing the client its connection.
                let reset_untouched = matches!(&end, End::Error(Peer::Server, e)
                        if e.raw_os_error() == Some(libc::ECONNRESET))
                    && out.bytes_in == 0
                    && out.bytes_out == 0
                    && !client_bytes_sent;
                let next = if reset_untouched {
                    log::debug!(
                        "{}/{}: reset before any byte, retrying",
                        be.name,
                        be.lb.servers[srv].name
                    );
                    retry(&be, srv, Failure::Error, &mut out).await
                } else {
                    None
                };
                match next {
                    Some(next) => next,
                    None => {
                        release(&be, srv);
                        State::Close
                    }
                }
            }
            State::Close => break,
        };
    }
    // The bytes of the stream on what it and its connection track, as HAProxy's
    // `stream_process_counters` counts them in mode tcp too.
    if (trackers.tracked() > 0 || session_trackers.is_some())
        && let Some(c) = (shard.shared.stick).ctx_session(&trackers, session_trackers.as_deref())
    {
        c.count_bytes(out.bytes_in, out.bytes_out);
    }
    finish(&shard, &fe, peer, dst, accept_date, accepted, &out);
    None
}

/// The backend's `tcp-response content` rules on the server's first bytes (HAProxy's
/// `tcp_inspect_response`): true to go on (the bytes went on to the client), false when the
/// connection ends here, with its termination state in `out`; `Err` when the server failed.
#[allow(clippy::too_many_arguments)]
async fn response_rules(
    shard: &ShardCtx,
    px: &crate::config::Proxy,
    be: &BackendRt,
    conn: &crate::acl::ConnInfo,
    trackers: (&crate::stick::Trackers, Option<&crate::stick::Trackers>),
    client: &mut Client,
    server: &mut ServerIo,
    out: &mut Outcome<'_>,
) -> std::io::Result<bool> {
    use crate::proxy::inspect::{Abort, Inspect, TcpVerdict};
    let shared = &shard.shared;
    let nb = |i: usize| shared.usable_servers(i);
    // What the stream and its connection track (`sc-inc-gpc0`, `sc_*` fetches).
    let stick = shared.stick.ctx_session(trackers.0, trackers.1);
    let i = Inspect {
        rules: &px.tcp_response.content,
        acls: &px.acls,
        delay: px.tcp_response.inspect_delay,
        client_timeout: None,
        conn,
        nbsrv: &nb,
        stopping: shared.control.soft_stopping(),
        txn: out.vars.txn,
        stick: stick.as_ref().map(|c| c as &dyn crate::acl::StickSource),
        addrs: None,
        captures: None,
        lookups: None,
        strm: None,
        effects: None,
    };
    let mut buf = Vec::new();
    let v = crate::proxy::inspect::response(
        &i,
        be.server_timeout,
        server,
        client,
        &mut buf,
        &mut out.bytes_in,
    )
    .await;
    let go_on = match v {
        // (`switch-mode` is a `tcp-request` action.)
        Ok(TcpVerdict::Accept | TcpVerdict::Http(_)) => true,
        Ok(TcpVerdict::Reject | TcpVerdict::SilentDrop) => {
            // HAProxy: the response is denied, both sides close (`PD`).
            out.term = Term::new(Cause::Proxy, Phase::Data);
            out.denied = true;
            if v.as_ref().is_ok_and(|v| *v == TcpVerdict::SilentDrop) {
                crate::sys::silent_drop(crate::sys::fd(client.tcp()));
            }
            return Ok(false);
        }
        // The server's connection ends; what it sent still goes to the client.
        Ok(TcpVerdict::Close) => false,
        Err(Abort::ServerTimeout) => {
            out.term = Term::new(Cause::ServerTimeout, Phase::Data);
            return Ok(false);
        }
        Err(Abort::ServerError(e)) => return Err(e),
        Err(Abort::ClientTimeout | Abort::ClientError(_)) => return Ok(false),
    };
    if !buf.is_empty() {
        use futures_lite::AsyncWriteExt;
        let deadline = be.server_timeout.map(|t| Instant::now() + t);
        let w = crate::net::io::with_deadline(deadline, async {
            client.write_all(&buf).await?;
            client.flush().await
        })
        .await;
        if w.is_err() {
            out.term = Term::new(Cause::Client, Phase::Data);
            return Ok(false);
        }
        out.bytes_out += buf.len() as u64;
    }
    Ok(go_on)
}

/// Runs a tunnel (spliced or copied by the pump) until it ends or `grace` (a stop's grace period) runs out.
async fn run_tunnel(
    mut tunnel: Tunnel<'_>,
    grace: impl std::future::Future<Output = ()>,
    out: &mut Outcome<'_>,
    contstats: Option<&dyn Fn(u64, u64)>,
) -> End {
    let mut counted = (0, 0);
    // `option contstats`: what moved is counted after each turn of the pump that moved
    // something (HAProxy counts at each wake-up of the stream).
    let pump = std::future::poll_fn(|cx| {
        let r = std::pin::Pin::new(&mut tunnel).poll(cx);
        if let Some(count) = contstats {
            let now = (tunnel.c2s.bytes, tunnel.s2c.bytes);
            if now != counted {
                count(now.0 - counted.0, now.1 - counted.1);
                counted = now;
            }
        }
        r
    });
    let end = futures_lite::future::or(pump, async {
        grace.await;
        End::Timeout(Peer::Client)
    })
    .await;
    out.bytes_in = tunnel.c2s.bytes;
    out.bytes_out = tunnel.s2c.bytes;
    out.counted = counted;
    end
}

/// The address the client connected to (from its PROXY header, else the socket).
fn local_addr(client: &TcpStream, cached: &mut Option<SocketAddr>) -> SocketAddr {
    *cached.get_or_insert_with(|| {
        client
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    })
}

fn release(be: &BackendRt, srv: usize) {
    be.lb.release(srv);
    be.queue.wake_one();
}

/// After a failed connection attempt to `srv` (its slot held): the next state, as the one
/// retry rule decides (`cluster::retry`), or None when the retries are used up (the slot
/// is still held).
async fn retry(
    be: &BackendRt,
    srv: usize,
    failure: Failure,
    out: &mut Outcome<'_>,
) -> Option<State> {
    // mode tcp has no persistence cookie.
    let to = crate::proxy::retry_after_failure(be, srv, out.retries, failure, false).await?;
    out.retries += 1;
    Some(match to {
        RetryTo::Same => State::Connect { srv },
        RetryTo::Another => {
            out.redispatched_from = Some(srv);
            State::Pick { avoid: Some(srv) }
        }
    })
}

/// Logs a connection refused before it reached a backend (bad PROXY header, TLS failure).
pub fn log_rejected(
    shard: &ShardCtx,
    fe: &FrontendRt,
    peer: SocketAddr,
    date: SystemTime,
    t0: Instant,
    term: Term,
) {
    let out = Outcome {
        term,
        listener: usize::MAX, // before a session: no listener counts it
        backend: None,
        server: None,
        retries: 0,
        redispatched_from: None,
        t_queue: None,
        t_connect: None,
        bytes_in: 0,
        bytes_out: 0,
        denied: false,
        logged_asap: false,
        counted: (0, 0),
        ticked: 0,
        captures: None,
        log_level: None,
        vars: Default::default(),
    };
    finish(shard, fe, peer, None, date, t0, &out);
}

/// Counts the connection and logs it (`option tcplog` or `log-format`).
fn finish(
    shard: &ShardCtx,
    fe: &FrontendRt,
    peer: SocketAddr,
    dst: Option<SocketAddr>,
    date: SystemTime,
    t0: Instant,
    out: &Outcome<'_>,
) {
    count(shard, fe, t0, out);
    if !out.logged_asap {
        let null = out.bytes_in == 0 && out.bytes_out == 0;
        log_line(shard, fe, peer, dst, (date, t0), out, null);
    }
}

/// The connection's log line, as `out` stands; `null` says no byte moved (for `option
/// dontlognull`, which the early line of `option logasap` does not heed, as in HAProxy).
fn log_line(
    shard: &ShardCtx,
    fe: &FrontendRt,
    peer: SocketAddr,
    dst: Option<SocketAddr>,
    (date, t0): (SystemTime, Instant),
    out: &Outcome<'_>,
    null: bool,
) {
    if !crate::proxy::accesslog::wanted(shard, fe) {
        return;
    }
    let s = log_stream(peer, dst, date, t0, out);
    crate::proxy::accesslog::log(shard, fe, &s, null);
}

/// The connection as the log (and `unique-id-format`) see it so far.
fn log_stream<'a>(
    peer: SocketAddr,
    dst: Option<SocketAddr>,
    date: SystemTime,
    t0: Instant,
    out: &'a Outcome<'_>,
) -> crate::proxy::accesslog::Stream<'a> {
    // However the stream ended, its `req.` variables are gone for the log.
    if let Some(t) = out.vars.txn {
        t.end_request();
    }
    crate::proxy::accesslog::Stream {
        http: false,
        log_level: out.log_level,
        src: peer,
        dst,
        tls: None,
        date,
        t_total: t0.elapsed(),
        t_request: None,
        t_queue: out.t_queue,
        t_connect: out.t_connect,
        t_response: None,
        status: 0,
        embryonic: false,
        cookie: *b"--",
        bytes_in: out.bytes_in,
        bytes_out: out.bytes_out,
        term: out.term,
        backend: out.backend.as_deref(),
        server: out.server,
        applet: None,
        retries: out.retries,
        redispatched: out.redispatched_from.is_some(),
        captures: out.captures.as_ref(),
        request_line: b"",
        first_req: false,
        vars: out.vars,
        unique_id: None,
        conn_err: None,
        bind: out.listener,
    }
}

/// Every connection ends in [`finish`]: what it adds to the stats counters.
fn count(shard: &ShardCtx, fe: &FrontendRt, t0: Instant, out: &Outcome<'_>) {
    let now = Instant::now();
    let e = crate::stats::StreamEnd {
        // What `option contstats` counted already is not counted again.
        bytes_in: out.bytes_in - out.counted.0,
        bytes_out: out.bytes_out - out.counted.1,
        term: out.term,
        retries: out.retries,
        redispatched_from: out.redispatched_from,
        t_queue: out.t_queue,
        t_connect: out.t_connect,
        t_total: now.saturating_duration_since(t0),
        denied: out.denied,
        listener: out.listener,
        ticked: out.ticked,
        ..Default::default()
    };
    let counters = shard.counters();
    counters.stream_done(fe.proxy, out.backend.as_deref(), out.server, e, now);
}
