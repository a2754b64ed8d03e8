//! `tcp-request` rules at run time, as HAProxy 2.6 runs them (src/tcp_rules.c):
//!
//! - `connection` rules right after accept, before any read: layer-4 facts only;
//! - `session` rules after the PROXY header and the TLS handshake;
//! - `content` rules on the client's first bytes, held back until a rule can decide:
//!   each time bytes arrive every rule is evaluated again from the first; a condition that
//!   cannot tell yet (a ClientHello cut short, `req.len` still growing) makes the whole set
//!   wait for more, until `tcp-request inspect-delay` ends, the client closes or the buffer
//!   is full — then the rules run once more on what is there, definitively, and a set that
//!   decides nothing lets the connection through.
//!
//! A frontend without rules never comes here: the accept path checks that the lists are
//! empty and skips all of it.

use crate::acl::{Acls, ConnInfo, ContentSample, Sample, Tri, payload::RECV_LIMIT};
use crate::config::{TcpAction, TcpRule};
use crate::log::term::{Cause, Phase, Term};
use crate::proxy::effects::Effects;
use futures_lite::AsyncReadExt;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// What a rule set decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpVerdict {
    /// Go on (an `accept` rule, or no rule applied).
    Accept,
    /// `reject`: close.
    Reject,
    /// `silent-drop`: close with a reset, telling the client nothing.
    SilentDrop,
    /// `tcp-response content close`: the server's connection closes.
    Close,
    /// `switch-mode http`: go on, as HTTP in this protocol (an HTTP stream goes on as one).
    Http(crate::config::model::BindProto),
}

/// How content inspection ended without a verdict.
#[derive(Debug)]
pub enum Abort {
    /// `timeout client` ran out before the rules could decide (HAProxy's `cR`).
    ClientTimeout,
    /// Reading from the client failed (`CR`).
    ClientError(std::io::Error),
    /// `timeout server` ran out while `tcp-response` rules waited (`sD`).
    ServerTimeout,
    /// Reading from or writing to the server failed (`SD`).
    ServerError(std::io::Error),
}

/// Whether a rule applies: its condition (with `if`/`unless`), or always without one.
/// `None`: the condition cannot tell yet.
fn applies(rule: &TcpRule, acls: &Acls, s: &dyn Sample) -> Option<bool> {
    let Some(c) = &rule.cond else {
        return Some(true);
    };
    match c.eval3(acls, s) {
        Tri::Miss => None,
        r => Some((r == Tri::Pass) != (c.polarity() == crate::acl::Polarity::Unless)),
    }
}

/// Runs `connection` or `session` rules, which never wait. `expect_proxy` is set by an
/// `expect-proxy layer4` rule that applies (it does not stop the rules); `set-mark` and
/// `set-tos` rules leave their values in `fx`.
pub fn run_final(
    rules: &[TcpRule],
    acls: &Acls,
    s: &dyn Sample,
    expect_proxy: &mut bool,
    fx: &mut Effects,
) -> TcpVerdict {
    for r in rules {
        if applies(r, acls, s) != Some(true) {
            continue;
        }
        match &r.action {
            TcpAction::Accept => return TcpVerdict::Accept,
            TcpAction::Reject => return TcpVerdict::Reject,
            TcpAction::SilentDrop => return TcpVerdict::SilentDrop,
            TcpAction::ExpectProxy => *expect_proxy = true,
            // Refused by the parser outside `tcp-response` rules.
            TcpAction::Close => {}
            TcpAction::Var(a) => a.apply(s, &mut Vec::new()),
            TcpAction::Stick(a) => stick(a, s),
            TcpAction::SetAddr(part, e) => crate::acl::set_addr(*part, e, s),
            TcpAction::SetMark(m) => fx.mark = Some(*m),
            TcpAction::SetTos(t) => fx.tos = Some(*t),
            // Refused by the parser outside content rules.
            TcpAction::Capture { .. }
            | TcpAction::SwitchHttp(_)
            | TcpAction::DoResolve(_)
            | TcpAction::SetLogLevel(_)
            | TcpAction::SetNice(_)
            | TcpAction::SetPriority { .. } => {}
        }
    }
    TcpVerdict::Accept
}

/// What `capture` rules took: (slot, value), in the order they ran (a later one of the
/// same slot wins).
pub type Captured = Vec<(usize, Vec<u8>)>;

/// The `do-resolve` rules of a stream's content rules: which were answered (their
/// variable is set, or stays unset: they do not run again when the rules are evaluated
/// again on more bytes), and the one waiting for its name's address.
#[derive(Default)]
pub struct Resolving {
    done: Vec<usize>,
    /// (the rule's index, the name): [`run_content`] returned `None` for it.
    pending: Option<(usize, String)>,
}

impl Resolving {
    /// Whether a `do-resolve` rule waits for its address.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Answers the pending `do-resolve` rule, if any (true then: evaluate the rules again
    /// at once): waits for the address from the resolver thread (bounded by the section's
    /// retries and timeouts) and stores it in the rule's variable; no address leaves the
    /// variable as it was, as in HAProxy.
    pub async fn answer(
        &mut self,
        rules: &[TcpRule],
        lookups: &crate::cluster::dns_lookup::Lookups,
        s: &dyn Sample,
    ) -> bool {
        let Some((at, host)) = self.pending.take() else {
            return false;
        };
        self.done.push(at);
        if let TcpAction::DoResolve(r) = &rules[at].action
            && let Some(ip) = lookups.resolve(&host, r.prefer, r.section).await
        {
            s.vars()
                .set(&r.var, crate::acl::Stored::Ip(ip), Default::default());
        }
        true
    }
}

/// One evaluation of `content` rules on what is buffered: a verdict, or `None` to wait for
/// more bytes (never when `s` says its bytes are the last) or for the address of a
/// `do-resolve` rule (then `res` holds it: [`Resolving::answer`], and evaluate again).
/// `capture` rules add to `caps`; `set-mark`, `set-tos` and `set-log-level` leave their
/// values in `fx` (the last one evaluated wins, as when HAProxy starts its content rules
/// over on more bytes).
pub fn run_content(
    rules: &[TcpRule],
    acls: &Acls,
    s: &dyn Sample,
    caps: &mut Captured,
    res: &mut Resolving,
    fx: &mut Effects,
) -> Option<TcpVerdict> {
    for (i, r) in rules.iter().enumerate() {
        if !applies(r, acls, s)? {
            continue;
        }
        // The actions that end the rules (HAProxy's `last_rule_file`/`line`).
        if matches!(
            r.action,
            TcpAction::Accept
                | TcpAction::Reject
                | TcpAction::SilentDrop
                | TcpAction::Close
                | TcpAction::SwitchHttp(_)
        ) && let Some(txn) = s.vars().txn
        {
            txn.set_last_rule(&r.loc.file, r.loc.line, false);
        }
        match &r.action {
            TcpAction::Accept => return Some(TcpVerdict::Accept),
            TcpAction::Reject => return Some(TcpVerdict::Reject),
            TcpAction::SilentDrop => return Some(TcpVerdict::SilentDrop),
            TcpAction::Close => return Some(TcpVerdict::Close),
            TcpAction::SwitchHttp(p) => return Some(TcpVerdict::Http(*p)),
            // Refused by the parser outside connection rules.
            TcpAction::ExpectProxy => {}
            // Run again when the rules are evaluated again on more bytes: the last value
            // stays, as HAProxy's rules would have set it.
            TcpAction::Var(a) => a.apply(s, &mut Vec::new()),
            // Like HAProxy, which starts its content rules over when more bytes arrive:
            // `track-sc` keeps its first entry, `sc-inc-gpc0` counts again.
            TcpAction::Stick(a) => stick(a, s),
            // (Set again on a later evaluation: the last value stays, as for variables.)
            TcpAction::SetAddr(part, e) => crate::acl::set_addr(*part, e, s),
            // HAProxy's `tcp_action_req_capture`: the first value as a string, none when
            // the fetch finds nothing (the slot keeps what it had).
            TcpAction::Capture { expr, id, len } => {
                expr.each(s, false, &mut |v| {
                    let v = v.with_bytes(|b| b[..b.len().min(*len)].to_vec());
                    caps.push((*id, v));
                    false
                });
            }
            // HAProxy's `resolv_action_do_resolve`: the name as a string (none: the rules
            // go on), then the rules wait for its address.
            TcpAction::DoResolve(d) if !res.done.contains(&i) => {
                let mut host = None;
                d.expr.each(s, false, &mut |v| {
                    host = v.with_bytes(|b| std::str::from_utf8(b).ok().map(str::to_string));
                    false
                });
                if let Some(host) = host.filter(|h| !h.is_empty()) {
                    res.pending = Some((i, host));
                    return None;
                }
            }
            TcpAction::DoResolve(_) => {}
            TcpAction::SetMark(m) => fx.mark = Some(*m),
            TcpAction::SetTos(t) => fx.tos = Some(*t),
            TcpAction::SetLogLevel(l) => fx.log_level = Some(*l),
            // Accepted without effect (see `HttpAction::SetNice`).
            TcpAction::SetNice(_) => {}
            TcpAction::SetPriority { class, expr } => crate::acl::set_priority(*class, expr, s),
        }
    }
    Some(TcpVerdict::Accept)
}

/// A stick action of a `tcp-request` rule: it counts the connection, not an HTTP request.
fn stick(a: &crate::acl::StickAction, s: &dyn Sample) {
    if let Some(st) = s.stick() {
        st.apply(a, s, crate::acl::RuleKind::Tcp);
    }
}

/// What content inspection works with.
pub struct Inspect<'a> {
    /// The proxy's `tcp-request content` rules and the ACLs they refer to.
    pub rules: &'a [TcpRule],
    pub acls: &'a Acls,
    /// `tcp-request inspect-delay` (none: decide on what is there at once).
    pub delay: Option<Duration>,
    /// `timeout client`: no byte for that long ends the connection first.
    pub client_timeout: Option<Duration>,
    pub conn: &'a ConnInfo,
    pub nbsrv: &'a dyn Fn(usize) -> u32,
    pub stopping: bool,
    /// The stream's variables (`txn.`).
    pub txn: Option<&'a crate::acl::VarSet>,
    /// The stick tables with the stream's and the connection's counters.
    pub stick: Option<&'a dyn crate::acl::StickSource>,
    /// The stream's addresses (`set-src`, `set-dst`).
    pub addrs: Option<&'a crate::acl::AddrsCell>,
    /// What `capture` rules took.
    pub captures: Option<&'a std::cell::RefCell<Captured>>,
    /// The way to the resolver thread, for `do-resolve` rules.
    pub lookups: Option<&'a crate::cluster::dns_lookup::Lookups>,
    /// The stream's frontend and backend (`fe_name`, `be_id`…).
    pub strm: Option<crate::acl::Strm<'a>>,
    /// What `set-mark`, `set-tos` and `set-log-level` rules left.
    pub effects: Option<&'a std::cell::Cell<Effects>>,
}

impl Inspect<'_> {
    /// Reads the client's first bytes into `buf` (which may hold some already) until the
    /// rules decide; the bytes stay in `buf`, to go to the server first.
    pub async fn run<R: futures_lite::AsyncRead + Unpin>(
        &self,
        client: &mut R,
        buf: &mut Vec<u8>,
    ) -> Result<TcpVerdict, Abort> {
        let start = Instant::now();
        let inspect_end = self.delay.map(|d| start + d);
        let mut closed = false;
        let mut expired = self.delay.is_none();
        let mut res = Resolving::default();
        loop {
            let last = closed || expired || buf.len() >= RECV_LIMIT;
            let mut s = ContentSample::new(self.conn, buf, last, self.nbsrv, self.stopping);
            s.txn = self.txn;
            s.stick = self.stick;
            s.addrs = self.addrs;
            s.strm = self.strm;
            let verdict = {
                let mut none = Vec::new();
                let mut held = self.captures.map(|c| c.borrow_mut());
                let caps = held.as_deref_mut().unwrap_or(&mut none);
                let mut fx = self.effects.map(|c| c.get()).unwrap_or_default();
                let v = run_content(self.rules, self.acls, &s, caps, &mut res, &mut fx);
                if let Some(c) = self.effects {
                    c.set(fx);
                }
                v
            };
            if let Some(v) = verdict {
                return Ok(v);
            }
            let none = crate::cluster::dns_lookup::Lookups::default();
            let lookups = self.lookups.unwrap_or(&none);
            if res.answer(self.rules, lookups, &s).await {
                continue;
            }
            // Wait for more bytes, the end of the inspect delay, or the client timeout.
            let now = Instant::now();
            let idle_end = self.client_timeout.map(|t| now + t);
            let until = match (inspect_end, idle_end) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).expect("only a final evaluation has no delay"),
            };
            let old = buf.len();
            buf.resize(RECV_LIMIT, 0);
            let read = futures_lite::future::or(
                async { Some(client.read(&mut buf[old..]).await) },
                async {
                    glommio::timer::sleep(until.saturating_duration_since(now)).await;
                    None
                },
            )
            .await;
            let got = match &read {
                Some(Ok(n)) => *n,
                _ => 0,
            };
            buf.truncate(old + got);
            match read {
                Some(Ok(0)) => closed = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(Abort::ClientError(e)),
                None if inspect_end.is_some_and(|e| Instant::now() >= e) => expired = true,
                None => return Err(Abort::ClientTimeout),
            }
        }
    }
}

/// `tcp-response content` in mode tcp: the server's first bytes are read into `buf` (kept
/// there, for the client) until the rules decide, as [`Inspect::run`] does with the client's;
/// what the client sends meanwhile goes on to the server (`c2s` counts it), so a server that
/// waits for a request still gets it.
#[allow(clippy::too_many_arguments)]
pub async fn response<S, C>(
    i: &Inspect<'_>,
    server_timeout: Option<Duration>,
    server: &mut S,
    client: &mut C,
    buf: &mut Vec<u8>,
    c2s: &mut u64,
) -> Result<TcpVerdict, Abort>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
    C: futures_lite::AsyncRead + Unpin,
{
    use futures_lite::AsyncWriteExt;
    enum Got {
        Server(std::io::Result<usize>),
        Client(std::io::Result<usize>),
        Timer,
    }
    let start = Instant::now();
    let inspect_end = i.delay.map(|d| start + d);
    let (mut closed, mut client_open) = (false, true);
    let mut expired = i.delay.is_none();
    let mut cbuf = vec![0u8; 16 * 1024];
    loop {
        let last = closed || expired || buf.len() >= RECV_LIMIT;
        let mut s = ContentSample::new(i.conn, buf, last, i.nbsrv, i.stopping);
        (s.txn, s.stick, s.response, s.strm) = (i.txn, i.stick, true, i.strm);
        // (`do-resolve` is no `tcp-response` action.)
        let res = &mut Resolving::default();
        let fx = &mut Effects::default();
        if let Some(v) = run_content(i.rules, i.acls, &s, &mut Vec::new(), res, fx) {
            return Ok(v);
        }
        let now = Instant::now();
        let idle_end = server_timeout.map(|t| now + t);
        let until = match (inspect_end, idle_end) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).expect("only a final evaluation has no delay"),
        };
        let old = buf.len();
        buf.resize(RECV_LIMIT, 0);
        let from_server = async { Got::Server(server.read(&mut buf[old..]).await) };
        let from_client = async {
            if client_open {
                Got::Client(client.read(&mut cbuf).await)
            } else {
                std::future::pending().await
            }
        };
        let timer = async {
            glommio::timer::sleep(until.saturating_duration_since(now)).await;
            Got::Timer
        };
        let got =
            futures_lite::future::or(from_server, futures_lite::future::or(from_client, timer))
                .await;
        let n = match &got {
            Got::Server(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(old + n);
        match got {
            Got::Server(Ok(0)) => closed = true,
            Got::Server(Ok(_)) => {}
            Got::Server(Err(e)) => return Err(Abort::ServerError(e)),
            Got::Client(Ok(0) | Err(_)) => client_open = false,
            Got::Client(Ok(n)) => {
                let deadline = server_timeout.map(|t| Instant::now() + t);
                crate::net::io::with_deadline(deadline, async {
                    server.write_all(&cbuf[..n]).await?;
                    server.flush().await
                })
                .await
                .map_err(Abort::ServerError)?;
                *c2s += n as u64;
            }
            Got::Timer if inspect_end.is_some_and(|e| Instant::now() >= e) => expired = true,
            Got::Timer => return Err(Abort::ServerTimeout),
        }
    }
}

/// `connection` (`connection_level`) or `session` rules of a frontend on a connection:
/// the addresses their `set-src`/`set-dst` rules set if it goes on, None if it closes. A closed connection is not logged, as in HAProxy; a connection-level
/// reject and a `silent-drop` close with a reset (HAProxy's way; a session-level reject
/// closes normally).
pub fn early_rules(
    shared: &crate::cluster::Shared,
    px: &crate::config::Proxy,
    connection_level: bool,
    conn: &ConnInfo,
    fd: std::os::fd::BorrowedFd<'_>,
    expect_proxy: &mut bool,
    trackers: Option<&crate::stick::Trackers>,
) -> Option<crate::acl::StreamAddrs> {
    let t = &px.tcp_request;
    let rules = if connection_level {
        &t.connection
    } else {
        &t.session
    };
    let nb = |i| shared.usable_servers(i);
    // What these rules track is the connection's: its counters are the "stream" here.
    let stick = trackers.and_then(|t| shared.stick.ctx(t));
    let addrs = crate::acl::AddrsCell::default();
    let s = crate::acl::RequestSample {
        head: None,
        conn,
        nbsrv: &nb,
        stopping: shared.control.soft_stopping(),
        stick: stick.as_ref().map(|c| c as &dyn crate::acl::StickSource),
        txn: None,
        addrs: Some(&addrs),
        strm: None,
    };
    let mut fx = Effects::default();
    match run_final(rules, &px.acls, &s, expect_proxy, &mut fx) {
        // (`switch-mode` is a content action.)
        TcpVerdict::Accept | TcpVerdict::Http(_) => {
            // HAProxy sets the marks on the connection as the rules run.
            let src = conn.src.or(addrs.get().src);
            fx.apply_to(fd.as_raw_fd(), src.is_some_and(|a| a.is_ipv6()));
            Some(addrs.get())
        }
        // (`close` is a `tcp-response` action.)
        TcpVerdict::Reject | TcpVerdict::Close => {
            if connection_level {
                crate::sys::reset_on_close(fd);
            }
            None
        }
        TcpVerdict::SilentDrop => {
            crate::sys::silent_drop(fd);
            None
        }
    }
}

/// Where a mode tcp connection goes after content inspection and `use_backend`.
pub enum Routed {
    /// To this backend (none: the frontend has nowhere to send it).
    Backend(Option<usize>),
    /// Closed by a rule or the client: the log's termination state, and whether a rule
    /// denied it.
    Closed { term: Term, denied: bool },
    /// On as HTTP, in this protocol: `switch-mode http`, or a backend in mode http (HAProxy
    /// upgrades such a stream on its own). The switching rules run on its requests.
    Http(crate::config::model::BindProto),
}

/// mode tcp: the frontend's `tcp-request content` rules on the client's first bytes (kept
/// in `early`), `use_backend` on what they saw, then the chosen backend's own content rules.
/// `txn` holds the stream's variables (the rules may set them for the switching rules, and
/// an HTTP stream's first request).
#[allow(clippy::too_many_arguments)]
pub async fn route_tcp(
    shard: &crate::net::shard::ShardCtx,
    fe: &crate::cluster::FrontendRt,
    client: &mut crate::net::tls::Client,
    conn: &ConnInfo,
    txn: &crate::acl::VarSet,
    early: &mut Vec<u8>,
    trackers: &crate::stick::Trackers,
    session: Option<&crate::stick::Trackers>,
    addrs: &crate::acl::AddrsCell,
    captures: &std::cell::RefCell<Captured>,
    effects: &std::cell::Cell<Effects>,
    priority: &std::cell::Cell<(i64, i64)>,
) -> Routed {
    let shared = &shard.shared;
    let cfg = &shared.cfg;
    let fe_px = &cfg.proxies[fe.proxy];
    let nb = |i| shared.usable_servers(i);
    let stopping = shared.control.stopping();
    let stick = shared.stick.ctx_session(trackers, session);
    let stick = stick.as_ref().map(|c| c as &dyn crate::acl::StickSource);
    let inspect = async |px: &crate::config::Proxy,
                         client: &mut crate::net::tls::Client,
                         early: &mut Vec<u8>| {
        let i = Inspect {
            rules: &px.tcp_request.content,
            acls: &px.acls,
            delay: px.tcp_request.inspect_delay,
            client_timeout: fe.client_timeout,
            conn,
            nbsrv: &nb,
            stopping,
            txn: Some(txn),
            stick,
            addrs: Some(addrs),
            captures: Some(captures),
            lookups: Some(&shared.dns_lookups),
            // A backend's rules run once the stream is in it.
            strm: Some(shared.strm(
                fe.proxy,
                cfg.proxies.iter().position(|p| std::ptr::eq(p, px)),
                None,
            )),
            effects: Some(effects),
        };
        match i.run(client, early).await {
            Ok(TcpVerdict::Accept) => None,
            Ok(TcpVerdict::Http(p)) => Some(Routed::Http(p)),
            // (`close` is a `tcp-response` action.)
            Ok(TcpVerdict::Reject | TcpVerdict::Close) => Some(Routed::Closed {
                term: Term::new(Cause::Proxy, Phase::Request),
                denied: true,
            }),
            Ok(TcpVerdict::SilentDrop) => {
                crate::sys::silent_drop(crate::sys::fd(client.tcp()));
                Some(Routed::Closed {
                    term: Term::new(Cause::Proxy, Phase::Request),
                    denied: true,
                })
            }
            Err(Abort::ClientTimeout) => Some(Routed::Closed {
                term: Term::new(Cause::ClientTimeout, Phase::Request),
                denied: false,
            }),
            Err(e) => {
                log::debug!("{}: reading the client's first bytes: {e:?}", fe.name);
                Some(Routed::Closed {
                    term: Term::new(Cause::Client, Phase::Request),
                    denied: false,
                })
            }
        }
    };
    if !fe_px.tcp_request.content.is_empty()
        && let Some(closed) = inspect(fe_px, client, early).await
    {
        return closed;
    }
    // The switching rules decide on what inspection saw, definitively (HAProxy evaluates
    // them with SMP_OPT_FINAL): without an inspect delay a ClientHello may not be there yet.
    let mut s = ContentSample::new(conn, early, true, &nb, stopping);
    s.txn = Some(txn);
    s.stick = stick;
    s.addrs = Some(addrs);
    s.strm = Some(shared.strm(fe.proxy, None, None));
    let be = crate::proxy::switching::choose(cfg, fe.proxy, &s, &mut Vec::new());
    // A backend in mode http makes an HTTP stream of it, as `switch-mode http` would.
    if let Some(b) = be
        && fe_px.mode == crate::config::Mode::Tcp
        && cfg.proxies[b].mode == crate::config::Mode::Http
    {
        priority.set(txn.priority());
        return Routed::Http(crate::config::model::BindProto::Auto);
    }
    if let Some(b) = be
        && b != fe.proxy
        && !cfg.proxies[b].tcp_request.content.is_empty()
        && let Some(closed) = inspect(&cfg.proxies[b], client, early).await
    {
        return closed;
    }
    // `set-priority-class`/`-offset`: for the queue, if the stream waits in one.
    priority.set(txn.priority());
    Routed::Backend(be)
}
