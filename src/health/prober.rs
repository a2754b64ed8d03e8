//! Probers: one task per checked server, for the whole process, spread over the shards
//! (server k of the process runs on shard k mod N). Each writes its verdicts into the
//! server's shared state; a change of state rebuilds the backend's balancing tables and is
//! logged once, in HAProxy's words.

use super::check::{self, Verdict};
use super::presets;
use crate::cluster::machine::Transition;
use crate::cluster::{BackendRt, SrvState};
use crate::config::check_presets::{self as preset, PresetExpect};
use crate::config::{CheckKind, HttpCheck, ProxyVersion, TcpCheckRule};
use crate::net::io::ServerIo;
use crate::net::shard::ShardCtx;
use crate::net::upstream::{self, Budget, Header, Step, Target};
use futures_lite::future;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything one prober needs, fixed for a generation.
pub struct Probe {
    pub be: Arc<BackendRt>,
    pub srv: usize,
    /// Where checks go as configured; see [`Probe::target`].
    pub addr: SocketAddr,
    /// The check has its own `addr`: it stays there when the server's address changes.
    pub fixed_addr: bool,
    /// The check's own `port`.
    pub check_port: Option<u16>,
    pub kind: CheckKind,
    pub http: Arc<HttpCheck>,
    pub tcp: Arc<Vec<TcpCheckRule>>,
    pub inter: Duration,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    /// `timeout check`: with it, connect within min(timeout connect, inter) and allow
    /// this long for sending the request and reading the answer; without it, the whole check must fit in `inter` (HAProxy).
    pub timeout_check: Option<Duration>,
    pub timeout_connect: Option<Duration>,
    pub send_proxy: Option<ProxyVersion>,
    /// A PROXY v2 header of a check carries the LOCAL command (not with the global
    /// `pp2-never-send-local`).
    pub pp2_local: bool,
    /// `check-ssl` (or `ssl` without a check port/addr): checks speak TLS.
    pub tls: Option<Arc<crate::cluster::ServerTlsRt>>,
    pub spread_pct: u32,
    pub log_checks: bool,
    /// Delay before the first check, spreading probers over `inter`.
    pub first_delay: Duration,
    /// What an HTTP check speaks.
    pub mux: HttpMux,
    /// The head limits of an HTTP check over h2, and the `tune.h2.*` its connection
    /// announces.
    pub h2: (crate::h1::HeadLimits, crate::config::H2Tune),
    /// `http-check connect ssl`: the TLS client configuration of the rule.
    pub connect_tls: Option<Arc<rustls::ClientConfig>>,
    /// `check-sni`: the name of checks over TLS (an `http-check connect ssl` sends it
    /// unless the rule names its own).
    pub check_sni: Option<String>,
    /// `option external-check`: the command to run instead of a connection.
    pub external: Option<Arc<super::external::ExternalCmd>>,
}

/// What an HTTP check speaks, chosen as HAProxy 2.6 chooses its check's multiplexer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMux {
    H1,
    H2,
    /// What the TLS handshake's ALPN chose (`check-alpn`): h2, else HTTP/1.1.
    Alpn,
}

impl HttpMux {
    /// `check-proto`, else the server's `proto` (an HTTP check inherits it), else what
    /// the handshake negotiates when `check-alpn` is given, else HTTP/1.1 (whatever the
    /// server's own `alpn` negotiated: HAProxy 2.6 offers it on checks but picks the check's
    /// protocol before the handshake then).
    pub fn of(params: &crate::config::ServerParams) -> HttpMux {
        use crate::config::CheckProto;
        let check_alpn = params.tls.as_ref().is_some_and(|t| t.has_check_alpn());
        match params.check.proto {
            Some(CheckProto::H2) => HttpMux::H2,
            Some(_) => HttpMux::H1,
            None if params.proto_given && params.proto_h2 => HttpMux::H2,
            None if params.proto_given || !check_alpn => HttpMux::H1,
            None => HttpMux::Alpn,
        }
    }
}

/// Runs checks until the generation stops.
pub async fn run(shard: Rc<ShardCtx>, p: Probe) {
    let control = &shard.shared.control;
    let stopped = |d: Duration| {
        future::or(
            async move {
                glommio::timer::sleep(d).await;
                false
            },
            async {
                control.wait_stop().await;
                true
            },
        )
    };
    if stopped(p.first_delay).await {
        return;
    }
    let server = p.be.lb.servers[p.srv].clone();
    let opts = &shard.shared.cfg.proxies[p.be.proxy].servers[p.srv]
        .params
        .check;
    let soft_stop = p.kind == CheckKind::Http && p.http.disable_on_404;
    let tls = check_tls(&p, opts);
    let mut last_ok: Option<bool> = None;
    loop {
        let unresolved = server.admin() & crate::cluster::state::admin::RMAINT != 0;
        if !server.checks_enabled() || (unresolved && !p.fixed_addr) {
            // `disable health`: no checks until `enable health`. A server whose name has
            // no address yet (resolution maintenance) is not checked either: its
            // placeholder 0.0.0.0 would reach this host.
            if stopped(p.inter).await {
                return;
            }
            continue;
        }
        let t0 = Instant::now();
        let running = server.check_running.begin();
        let verdict = future::or(async { Some(check_once(&p, tls).await) }, async {
            control.wait_stop().await;
            None
        })
        .await;
        let Some(mut verdict) = verdict else { return };
        let ports = [crate::sys::ports::EXHAUSTED, crate::sys::ports::CANT_BIND];
        if !verdict.ok && verdict.info.as_deref().is_some_and(|i| ports.contains(&i)) {
            crate::net::shard::source_bind_alert(&shard, &p.be);
        }
        let nolb = if soft_stop {
            check::soft_stop(&mut verdict, server.state() == SrvState::Up)
        } else {
            None
        };
        let took = t0.elapsed();
        let status = crate::cluster::CheckStatus::from_reason(verdict.reason, verdict.ok);
        server.set_last_check(status);
        drop(running);
        // Before the health moves: a server coming back up comes back out of NOLB, and
        // one that is down does not enter it.
        if let Some(on) = nolb.filter(|&on| !on || server.state() == SrvState::Up)
            && server.set_stopping(on)
            && server.state() == SrvState::Up
        {
            p.be.lb.rebuild();
            let msg = format!(
                "Server {}/{} is {}, {}, check duration: {}ms.",
                p.be.name,
                server.name,
                if on { "stopping" } else { "UP" },
                verdict.describe(),
                took.as_millis()
            );
            log::warn!("{msg}");
            shard.log(p.be.proxy, crate::log::syslog::NOTICE, &msg);
            shard.email_alert(p.be.proxy, crate::log::syslog::NOTICE, &msg);
        }
        let t = server.check_result(verdict.ok);
        shard.counters().checked(
            p.be.proxy,
            p.srv,
            status,
            verdict.code,
            took,
            t == Some(Transition::WentDown),
            Instant::now(),
        );
        if p.log_checks && last_ok != Some(verdict.ok) && last_ok.is_some() {
            let msg = format!(
                "Health check for server {}/{} {}, {}, check duration: {}ms, status: {}.",
                p.be.name,
                server.name,
                if verdict.ok { "succeeded" } else { "failed" },
                verdict.describe(),
                took.as_millis(),
                server.health().status()
            );
            log::info!("{msg}");
            shard.log(p.be.proxy, crate::log::syslog::NOTICE, &msg);
            shard.email_alert(p.be.proxy, crate::log::syslog::INFO, &msg);
        }
        last_ok = Some(verdict.ok);
        // (`announce` also applies `on-marked-down` / `on-marked-up`, for a change
        // `observe` caused as well.)
        if let Some(t) = t {
            crate::net::shard::announce(
                &shard,
                &p.be,
                p.srv,
                t,
                &format!(
                    "{}, check duration: {}ms",
                    verdict.describe(),
                    took.as_millis()
                ),
            );
        }
        let mut next = server.health().interval(p.inter, p.fastinter, p.downinter);
        if server
            .force_fast
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            next = p.fastinter.unwrap_or(p.inter);
        }
        if p.spread_pct > 0 {
            // spread-checks: ± pct/2 % of random jitter so checks drift apart.
            let span = next.as_micros() as u64 * p.spread_pct as u64 / 100;
            let jitter = fastrand::u64(0..=span.max(1));
            next = next + Duration::from_micros(jitter) - Duration::from_micros(span / 2).min(next);
        }
        if stopped(next).await {
            return;
        }
    }
}

fn io_info(e: &std::io::Error) -> String {
    // HAProxy prints the bare strerror ("Connection refused").
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

async fn with_deadline<T>(deadline: Instant, f: impl std::future::Future<Output = T>) -> Option<T> {
    let left = deadline.saturating_duration_since(Instant::now());
    future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(left).await;
        None
    })
    .await
}

/// Connects (and sends the PROXY header of `check-send-proxy`, then runs the TLS handshake
/// with `tls`) through the proxies' own connect; errors are verdicts.
/// What a check's TLS handshake uses: the client configuration and the SNI.
type CheckTls<'a> = Option<(&'a Arc<rustls::ClientConfig>, Option<&'a [u8]>)>;

async fn connect(
    p: &Probe,
    addr: SocketAddr,
    start: Instant,
    send_proxy: Option<ProxyVersion>,
    tls: CheckTls<'_>,
) -> Result<ServerIo, Verdict> {
    connect_with(p, addr, start, send_proxy, tls, false).await
}

/// [`connect`], closing with a reset when `nolinger` (an `http-check connect` without
/// `linger`).
async fn connect_with(
    p: &Probe,
    addr: SocketAddr,
    start: Instant,
    send_proxy: Option<ProxyVersion>,
    tls: CheckTls<'_>,
    nolinger: bool,
) -> Result<ServerIo, Verdict> {
    let limit = match p.timeout_check {
        Some(_) => p.timeout_connect.unwrap_or(p.inter).min(p.inter),
        None => p.inter,
    };
    let target = Target {
        addr,
        // A server on a local socket is checked there, unless the check has an address.
        path: (!p.fixed_addr)
            .then(|| p.be.lb.servers[p.srv].path.as_ref())
            .flatten(),
        budget: Budget::Until(start + limit),
        keepalive: None,
        user_timeout: p.be.lb.servers[p.srv].tcp_ut,
        nolinger,
        // `check-via-socks4`: through the server's SOCKS4 proxy (unless the check has its
        // own address).
        socks4: match p.be.socks4[p.srv] {
            Some((a, true)) if !p.fixed_addr => Some(a),
            _ => None,
        },
        header: send_proxy.map(|v| Header::Check(v, p.be.pp_opts(p.srv), p.pp2_local)),
        source: p.be.source[p.srv].outgoing(None, addr),
        tls,
    };
    upstream::open(target).await.map_err(|e| {
        let timeout = e.error.kind() == std::io::ErrorKind::TimedOut;
        match (e.step, timeout) {
            (Step::Tcp | Step::Header, true) => {
                Verdict::fail("Layer4 timeout", "timeout while connecting")
            }
            (Step::Tcp | Step::Header, false) => {
                Verdict::fail("Layer4 connection problem", io_info(&e.error))
            }
            (Step::Tls, true) => Verdict::fail("Layer6 timeout", "timeout during SSL handshake"),
            (Step::Tls, false) => Verdict::fail("Layer6 invalid response", io_info(&e.error)),
        }
    })
}

/// The limit for a check's exchange once connected: its sends and the answer.
fn exchange_deadline(p: &Probe, start: Instant) -> Instant {
    match p.timeout_check {
        Some(t) => Instant::now() + t,
        None => start + p.inter,
    }
}

impl Probe {
    /// Where the next check goes: the server's current address (`set server … addr` may
    /// have moved it) with the check's port, unless the check has an address of its own.
    fn target(&self) -> SocketAddr {
        if self.fixed_addr {
            return self.addr;
        }
        let (ip, port) = self.be.lb.servers[self.srv].ip_port();
        SocketAddr::new(ip, self.check_port.or(port).unwrap_or(self.addr.port()))
    }
}

/// The TLS of checks: the server's configuration, or the checks' own one (`check-sni`,
/// `check-alpn`); `check-sni`'s name, else the server's fixed `sni`.
fn check_tls<'a>(p: &'a Probe, opts: &'a crate::config::CheckParams) -> CheckTls<'a> {
    let t = p.tls.as_ref()?;
    let sni = match &opts.sni {
        Some(name) => Some(name.as_bytes()),
        None => t.fixed_sni(),
    };
    Some((opts.tls.as_ref().unwrap_or(&t.config), sni))
}

/// One check with TLS as `tls` says (see [`check_tls`]); never panics, every failure is a
/// verdict.
pub async fn check_once(p: &Probe, tls: CheckTls<'_>) -> Verdict {
    let start = Instant::now();
    match p.kind {
        CheckKind::Connect => match connect(p, p.target(), start, p.send_proxy, tls).await {
            Ok(ServerIo::Tls(_)) => Verdict::pass("Layer6 check passed"),
            Ok(_) => Verdict::pass("Layer4 check passed"),
            Err(v) => v,
        },
        CheckKind::Http => {
            let how = Connect::of(p, tls);
            let mut s =
                match connect_with(p, how.addr, start, how.send_proxy, how.tls, how.nolinger).await
                {
                    Ok(s) => s,
                    Err(v) => return v,
                };
            // The request's write counts against the same limit as the answer: a server
            // that does not read must not hold the prober.
            let deadline = exchange_deadline(p, start);
            let h2 = match how.mux {
                HttpMux::H1 => false,
                HttpMux::H2 => true,
                HttpMux::Alpn => match &s {
                    ServerIo::Tls(t) => t.get_ref().1.alpn_protocol() == Some(b"h2"),
                    _ => false,
                },
            };
            if h2 {
                let (limits, tune) = &p.h2;
                let h2 = crate::net::h2_upstream::check_stream(s, p.target(), *limits, tune);
                s = match with_deadline(deadline, h2).await {
                    None => return Verdict::fail("Layer7 timeout", "timeout during h2 handshake"),
                    Some(Err(e)) => return Verdict::fail("Layer7 invalid response", io_info(&e)),
                    Some(Ok(s)) => s,
                };
            }
            match with_deadline(deadline, s.write_all(&check::http_request(&p.http))).await {
                None => {
                    return Verdict::fail("Layer7 timeout", "timeout while sending the request");
                }
                Some(Err(e)) => return Verdict::fail("Layer7 invalid response", io_info(&e)),
                Some(Ok(())) => {}
            }
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            loop {
                let r = with_deadline(deadline, s.read(&mut chunk)).await;
                let (eof, err) = match r {
                    None => {
                        return Verdict::fail(
                            "Layer7 timeout",
                            "timeout while waiting for the response",
                        );
                    }
                    Some(Ok(0)) => (true, None),
                    Some(Ok(n)) => {
                        buf.extend_from_slice(&chunk[..n]);
                        (false, None)
                    }
                    Some(Err(e)) => (true, Some(e)),
                };
                if let Some(v) = check::http_verdict(&p.http.expect, &buf, eof) {
                    return v;
                }
                if let Some(e) = err {
                    return Verdict::fail("Layer7 invalid response", io_info(&e));
                }
                // HAProxy's tune.chksize: judge what fits in 16 KiB.
                if buf.len() >= 16384 {
                    return check::http_verdict(&p.http.expect, &buf, true).unwrap_or_else(|| {
                        Verdict::fail("Layer7 invalid response", "response too large")
                    });
                }
            }
        }
        CheckKind::Tcp => tcp_check(p, start, tls).await,
        CheckKind::External => match &p.external {
            Some(cmd) => {
                let server = &p.be.lb.servers[p.srv];
                let (addr, port) = server.ip_port();
                let now = super::external::Now {
                    addr,
                    port: port.unwrap_or(0),
                    maxconn: server.maxconn(),
                    curconn: server.cur_conns(),
                };
                // HAProxy 2.6 allows the process `inter`, or min(inter, timeout connect)
                // when `timeout check` is set (not `timeout check` itself).
                let limit = match (p.timeout_check, p.timeout_connect) {
                    (Some(_), Some(c)) => c.min(p.inter),
                    _ => p.inter,
                };
                super::external::run(cmd, now, limit).await
            }
            None => Verdict::fail("External check error", "no external-check command"),
        },
    }
}

/// Where and how an HTTP check connects: as the server's check parameters say, or as its
/// `http-check connect` rule says (HAProxy 2.6's tcpcheck connect: without `default`, only
/// the rule's own options, the check's or server's address and port where it gives none).
struct Connect<'a> {
    addr: SocketAddr,
    send_proxy: Option<ProxyVersion>,
    tls: CheckTls<'a>,
    mux: HttpMux,
    nolinger: bool,
}

impl<'a> Connect<'a> {
    fn of(p: &'a Probe, tls: CheckTls<'a>) -> Connect<'a> {
        let to = p.target();
        let Some(c) = &p.http.connect else {
            return Connect {
                addr: to,
                send_proxy: p.send_proxy,
                tls,
                mux: p.mux,
                nolinger: false,
            };
        };
        let addr = SocketAddr::new(c.addr.unwrap_or(to.ip()), c.port.unwrap_or(to.port()));
        let send_proxy = if c.send_proxy {
            Some(p.send_proxy.unwrap_or(ProxyVersion::V1))
        } else if c.default {
            p.send_proxy
        } else {
            None
        };
        let tls = match (&p.connect_tls, c.ssl) {
            (Some(cfg), true) => {
                let server_sni = p.tls.as_ref().and_then(|t| t.fixed_sni());
                let sni = c
                    .sni
                    .as_deref()
                    .or(p.check_sni.as_deref())
                    .map(str::as_bytes)
                    .or(server_sni);
                Some((cfg, sni))
            }
            _ if c.default => tls,
            _ => None,
        };
        use crate::config::CheckProto;
        let mux = match c.proto {
            Some(CheckProto::H2) => HttpMux::H2,
            Some(_) => HttpMux::H1,
            // The server's choice only with `default`; else what the handshake's ALPN
            // negotiates (HTTP/1.1 without TLS).
            None if c.default => p.mux,
            None => HttpMux::Alpn,
        };
        Connect {
            addr,
            send_proxy,
            tls,
            mux,
            nolinger: !c.linger,
        }
    }
}

/// A send or expect rule before any connect rule succeeded.
fn no_connection(step: usize) -> Verdict {
    Verdict::fail(
        "Layer7 invalid response",
        format!("no connection at step {step}"),
    )
}

async fn tcp_check(p: &Probe, start: Instant, tls: CheckTls<'_>) -> Verdict {
    let mut conn: Option<ServerIo> = None;
    let mut buf: Vec<u8> = Vec::new();
    // The verdict of the last expectation of a predefined check: its message is the
    // check's when no rule follows.
    let mut last: Option<Verdict> = None;
    let mut rules: Vec<&TcpCheckRule> = p.tcp.iter().collect();
    // Without a leading connect rule, the check connects first, as in HAProxy.
    let implicit = TcpCheckRule::Connect {
        port: None,
        send_proxy: false,
    };
    if !matches!(rules.first(), Some(TcpCheckRule::Connect { .. })) {
        rules.insert(0, &implicit);
    }
    for (i, rule) in rules.iter().enumerate() {
        let step = i + 1;
        match rule {
            TcpCheckRule::Connect { port, send_proxy } => {
                let to = p.target();
                let addr = SocketAddr::new(to.ip(), port.unwrap_or(to.port()));
                let sp = if *send_proxy {
                    Some(ProxyVersion::V1)
                } else {
                    p.send_proxy
                };
                // TLS for the implicit first connection (`check-ssl`), as HAProxy.
                let tls = tls.filter(|_| std::ptr::eq(*rule, &implicit));
                match connect(p, addr, start, sp, tls).await {
                    Ok(s) => {
                        conn = Some(s);
                        buf.clear();
                        last = None;
                    }
                    Err(mut v) => {
                        if let Some(info) = &mut v.info {
                            *info = format!("{info} at step {step} of tcp-check (connect)");
                        }
                        return v;
                    }
                }
            }
            TcpCheckRule::Send(_) | TcpCheckRule::Preset(preset::Step::SendSslHello) => {
                let hello;
                let data = match rule {
                    TcpCheckRule::Send(d) => d,
                    _ => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs() as u32);
                        hello = crate::config::check_presets::ssl_hello(now);
                        &hello
                    }
                };
                let Some(s) = conn.as_mut() else {
                    return no_connection(step);
                };
                match with_deadline(exchange_deadline(p, start), s.write_all(data)).await {
                    None => {
                        return Verdict::fail(
                            "Layer7 timeout",
                            format!("at step {step} of tcp-check (send)"),
                        );
                    }
                    Some(Err(e)) => {
                        return Verdict::fail(
                            "Layer4 connection problem",
                            format!("{} at step {step} of tcp-check (send)", io_info(&e)),
                        );
                    }
                    Some(Ok(())) => {}
                }
                buf.clear();
                last = None;
            }
            TcpCheckRule::Preset(preset::Step::Expect(e)) => {
                let Some(s) = conn.as_mut() else {
                    return no_connection(step);
                };
                let deadline = exchange_deadline(p, start);
                let mut chunk = [0u8; 4096];
                let mut eof = false;
                let v = loop {
                    if let Some(v) = presets::judge(*e, &buf, eof, step) {
                        break v;
                    }
                    match with_deadline(deadline, s.read(&mut chunk)).await {
                        None => {
                            let reason = if *e == PresetExpect::SslHello {
                                "Layer6 timeout"
                            } else {
                                "Layer7 timeout"
                            };
                            return Verdict::fail(
                                reason,
                                format!("at step {step} of tcp-check (expect)"),
                            );
                        }
                        Some(Ok(0)) | Some(Err(_)) => eof = true,
                        Some(Ok(n)) => {
                            buf.extend_from_slice(&chunk[..n]);
                            // HAProxy's tune.chksize: a full buffer is judged as it is.
                            eof = buf.len() >= 16384;
                        }
                    }
                };
                if !v.ok {
                    return v;
                }
                last = Some(v);
            }
            TcpCheckRule::Expect(e) => {
                last = None;
                let Some(s) = conn.as_mut() else {
                    return no_connection(step);
                };
                let deadline = exchange_deadline(p, start);
                let mut chunk = [0u8; 4096];
                loop {
                    if let Some(v) = check::tcp_expect(e, &buf, false, step) {
                        if !v.ok {
                            return v;
                        }
                        break;
                    }
                    match with_deadline(deadline, s.read(&mut chunk)).await {
                        None => {
                            return Verdict::fail(
                                "Layer7 timeout",
                                format!("at step {step} of tcp-check (expect)"),
                            );
                        }
                        Some(Ok(0)) | Some(Err(_)) => {
                            match check::tcp_expect(e, &buf, true, step) {
                                Some(v) if v.ok => break,
                                Some(v) => return v,
                                None => unreachable!("an expectation is decided at EOF"),
                            }
                        }
                        Some(Ok(n)) => {
                            buf.extend_from_slice(&chunk[..n]);
                            if buf.len() > 16384 {
                                buf.drain(..buf.len() - 16384);
                            }
                        }
                    }
                }
            }
        }
    }
    last.unwrap_or_else(|| Verdict::pass("Layer7 check passed"))
}
