//! A connection just accepted, whatever its mode: the PROXY header of `accept-proxy`, then
//! (TLS termination, when the bind has `ssl`) the mode's session — `tcp` or `http`. The
//! connection's slots are held here and given back when it ends, whatever the path.

use crate::cluster::FrontendRt;
use crate::cluster::counters::ShardStats;
use crate::cluster::sessions::{Handle, NewSess};
use crate::config::Mode;
use crate::config::model::BindProto;
use crate::log::term::{Cause, Phase, Term};
use crate::net::shard::ShardCtx;
use crate::net::tls::Client;
use crate::proxy::http::h2::session as h2_session;
use crate::proxy::http::session::{ClientInfo, Start, TlsInfo, session as http_session};
use crate::proxy::{inspect, tcp};
use glommio::net::TcpStream;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Releases the connection's slots when the session ends, whatever the path.
struct ConnGuard {
    shard: Rc<ShardCtx>,
    fe: Arc<FrontendRt>,
    /// The `bind` it came through: its listener's count (`dst_conn`) holds it from the
    /// accept on, its listener counters once `counted`. (Small fields: this guard lives in
    /// every idle connection's task.)
    bind: u32,
    counted: bool,
    /// It came through a TLS listener: it holds a `maxsslconn` slot.
    tls: bool,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.counted {
            let counters = self.shard.counters();
            counters.closed(self.fe.proxy, self.bind as usize);
        }
        self.fe.slots.give_back();
        self.shard.shared.slots.give_back();
        if self.tls {
            self.shard.shared.ssl_slots.give_back();
        }
        self.shard.active.set(self.shard.active.get() - 1);
        if let Some(l) = self.fe.listeners.get(self.bind as usize) {
            l.conns.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// One read from `client`, or None once `deadline` passed (the header readers' wait).
async fn read_by(
    client: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Option<std::io::Result<usize>> {
    use futures_lite::AsyncReadExt;
    let left = deadline.saturating_duration_since(Instant::now());
    futures_lite::future::or(async { Some(client.read(buf).await) }, async {
        glommio::timer::sleep(left).await;
        None
    })
    .await
}

/// Reads the PROXY header of an `accept-proxy` connection: the addresses it carries (None
/// for LOCAL/UNKNOWN: the connection's own apply) and the bytes that came after it.
async fn read_proxy_header(
    client: &mut TcpStream,
    timeout: Duration,
) -> Result<(Option<(SocketAddr, SocketAddr)>, Vec<u8>), String> {
    use crate::proxy_protocol::{HeaderLimits, Parse, parse};
    let limits = HeaderLimits::new();
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 536];
    let mut n = 0;
    loop {
        if n == buf.len() {
            if buf.len() >= limits.max_header_len() {
                return Err("PROXY header too large".into());
            }
            buf.resize((buf.len() * 2).min(limits.max_header_len()), 0);
        }
        let r = read_by(client, &mut buf[n..], deadline).await;
        match r {
            None => return Err("timeout waiting for the PROXY header".into()),
            Some(Ok(0)) => return Err("connection closed before a complete PROXY header".into()),
            Some(Ok(k)) => n += k,
            Some(Err(e)) => return Err(format!("reading the PROXY header: {e}")),
        }
        match parse(&buf[..n], &limits) {
            Parse::Complete { header, len } => {
                let addrs = header.socket_addrs();
                return Ok((addrs, buf[len..n].to_vec()));
            }
            Parse::Incomplete => {}
            Parse::Invalid(e) => return Err(format!("invalid PROXY header: {e}")),
        }
    }
}

/// Reads a NetScaler CIP header (`accept-netscaler-cip`) after `early` (what came with a
/// PROXY header): the client, the destination and the bytes after the header.
async fn read_netscaler_cip(
    client: &mut TcpStream,
    early: Vec<u8>,
    magic: u32,
    timeout: Duration,
) -> Result<(SocketAddr, SocketAddr, Vec<u8>), String> {
    use crate::proxy_protocol::netscaler::{Cip, parse};
    // An IPv6 and a TCP header with options, and the framing, fit.
    const MAX: usize = 4096;
    let deadline = Instant::now() + timeout;
    let mut buf = early;
    loop {
        match parse(&buf, magic) {
            Cip::Complete { src, dst, len } => return Ok((src, dst, buf[len..].to_vec())),
            Cip::Invalid(e) => return Err(format!("invalid NetScaler CIP header: {e}")),
            Cip::Incomplete if buf.len() >= MAX => {
                return Err("NetScaler CIP header too large".into());
            }
            Cip::Incomplete => {}
        }
        let n = buf.len();
        buf.resize(MAX, 0);
        let r = read_by(client, &mut buf[n..], deadline).await;
        match r {
            None => return Err("timeout waiting for the NetScaler CIP header".into()),
            Some(Ok(0)) => return Err("connection closed before a complete CIP header".into()),
            Some(Ok(k)) => buf.truncate(n + k),
            Some(Err(e)) => return Err(format!("reading the NetScaler CIP header: {e}")),
        }
    }
}

/// Where a connection comes from, once its PROXY header (if any) was read.
pub struct ClientOrigin {
    /// The client (from the PROXY header, else the socket's peer).
    pub src: SocketAddr,
    /// The address it connected to, when the PROXY header said; else looked up on demand.
    pub dst: Option<SocketAddr>,
    /// Bytes that came right after the PROXY header: the start of the stream.
    pub early: Vec<u8>,
    pub date: SystemTime,
    pub at: Instant,
    /// The client's TLS session, when it is terminated here.
    pub tls: Option<crate::acl::TlsInfo>,
    /// What `tcp-request connection|session` rules stored in `sess.` variables.
    pub vars: crate::acl::VarSet,
    /// The counters `tcp-request connection|session` rules track, for as long as the
    /// connection lives (boxed, and only when they track something: an idle connection's
    /// task stays small).
    pub trackers: Option<Box<crate::stick::Trackers>>,
    /// Its entry in the shard's session registry (`show sess`, `shutdown session`).
    pub sess: Handle,
    /// The `bind` it came through (its position in the frontend).
    pub bind: usize,
}

/// A connection as the accept loop hands it to [`handle`]. (Boxed: an async fn keeps its
/// arguments in its future for as long as it runs, beside the locals they are moved into, so
/// each idle connection's task would hold all of this again; a box is one allocation and free
/// per connection. With `Serve` and the session's `Start` boxed too, the task's future went
/// from 2,960 to 1,728 bytes.)
pub struct Accepted {
    pub shard: Rc<ShardCtx>,
    pub fe: Arc<FrontendRt>,
    pub client: TcpStream,
    pub peer: SocketAddr,
    pub accept_proxy: bool,
    pub proto: BindProto,
    pub tls: Option<crate::net::tls::ListenerTls>,
    pub label: Arc<str>,
    pub bind: usize,
}

/// What `b` holds, its allocation freed now. (`let x = *b` in an async fn keeps the box's
/// allocation until `b` goes out of scope, i.e. for as long as the connection lives.)
#[allow(clippy::boxed_local)] // the point: the box is moved in, and freed on return
pub(crate) fn unbox<T>(b: Box<T>) -> T {
    *b
}

pub async fn handle(a: Box<Accepted>) {
    let Accepted {
        shard,
        fe,
        mut client,
        peer,
        accept_proxy,
        proto,
        tls,
        label,
        bind,
    } = unbox(a);
    let mut guard = ConnGuard {
        shard: shard.clone(),
        fe: fe.clone(),
        bind: bind as u32,
        counted: false,
        tls: tls.is_some(),
    };
    // Counted from the accept on, as HAProxy's listener counts it before any rule.
    if let Some(l) = fe.listeners.get(bind) {
        l.conns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // `tcp-request connection` rules, before anything is read or counted: a rejected
    // connection never becomes a session (HAProxy neither logs nor counts it as one).
    let mut accept_proxy = accept_proxy;
    let mut vars = crate::acl::VarSet::default();
    // What `tcp-request connection set-src/set-dst` made of the connection's addresses.
    let mut conn_addrs = crate::acl::StreamAddrs::default();
    let mut trackers: Option<Box<crate::stick::Trackers>> = None;
    {
        let px = &shard.shared.cfg.proxies[fe.proxy];
        let rules = &px.tcp_request.connection;
        if !rules.is_empty() {
            let conn = crate::acl::ConnInfo {
                src: Some(peer),
                dst: client.local_addr().ok(),
                tls: None,
                h2: false,
                glitches: None,
                vars,
                fd: None,
                listener: fe.listeners.get(bind).cloned(),
                ..Default::default()
            };
            let fd = crate::sys::fd(&client);
            let (shared, ap) = (&shard.shared, &mut accept_proxy);
            let t = shared.stick.any.then(|| &**trackers.insert(Box::default()));
            match inspect::early_rules(shared, px, true, &conn, fd, ap, t) {
                Some(a) => conn_addrs = a,
                None => return,
            }
            vars = conn.vars;
        }
    }
    // One clock reading for the frontend's counters and this connection's timings.
    let accepted = Instant::now();
    let counters = shard.counters();
    counters.accepted(fe.proxy, bind, fe.slots.current(), accepted);
    guard.counted = true;
    let accept_date = SystemTime::now();
    let _ = client.set_nodelay(true);
    if let Some(ka) = fe.clitcpka {
        crate::sys::with_sockref(crate::sys::fd(&client), |s| ka.apply(s)).ok();
    }
    if fe.nolinger {
        crate::sys::reset_on_close(crate::sys::fd(&client));
    }
    // The client as the PROXY header tells it (behind an ELB/NLB), else the socket's peer
    // or what `tcp-request connection` rules set (HAProxy's `src` is the header's too).
    let mut src = conn_addrs.src.unwrap_or(peer);
    let mut dst: Option<SocketAddr> = conn_addrs.dst;
    let mut early: Vec<u8> = Vec::new();
    if accept_proxy {
        let wait = fe.client_timeout.unwrap_or(Duration::from_secs(10));
        match read_proxy_header(&mut client, wait).await {
            Ok((addrs, rest)) => {
                if let Some((s, d)) = addrs {
                    src = s;
                    dst = Some(d);
                }
                early = rest;
            }
            Err(e) => {
                // Never reaches a backend: the connection is closed.
                log::debug!("{}: {peer}: {e}; closing", fe.name);
                let term = Term::new(Cause::Proxy, Phase::Request);
                tcp::log_rejected(&shard, &fe, peer, accept_date, accepted, term);
                return;
            }
        }
    }
    // `accept-netscaler-cip`: the NetScaler's copy of the client's IP and TCP headers, after
    // a PROXY header if both (HAProxy's order).
    // (Read from the bind's configuration, not passed along: the connection's future
    // stays as small as before for everyone else.)
    let cip = shard.shared.cfg.proxies[fe.proxy].binds.get(bind);
    if let Some(magic) = cip.and_then(|b| b.netscaler_cip) {
        let wait = fe.client_timeout.unwrap_or(Duration::from_secs(10));
        // Boxed, as the handshake: an idle connection's task holds no CIP read state.
        match Box::pin(read_netscaler_cip(&mut client, early, magic, wait)).await {
            Ok((s, d, rest)) => {
                (src, dst) = (s, Some(d));
                early = rest;
            }
            Err(e) => {
                log::debug!("{}: {peer}: {e}; closing", fe.name);
                let term = Term::new(Cause::Proxy, Phase::Request);
                tcp::log_rejected(&shard, &fe, peer, accept_date, accepted, term);
                return;
            }
        }
    }
    // One call of `serve` for both paths, the handshake's outcome consumed before it: the
    // connection's task holds one `serve` future and nothing of the handshake beside it.
    let (client, early, info, h2) = match tls {
        None => (Client::Plain(client), early, None, proto),
        Some(tls) => match tls_accept(
            &shard,
            &fe,
            &tls,
            client,
            early,
            src,
            (&label, bind),
            accepted,
            accept_date,
        )
        .await
        {
            // ALPN's h2 is HTTP/2 whatever the bind says.
            Some((client, early, info, true)) => (client, early, info, BindProto::H2),
            Some((client, early, info, false)) => (client, early, info, proto),
            None => return,
        },
    };
    // (Not held across the session.)
    drop(label);
    serve(Box::new(Serve {
        shard,
        fe,
        bind,
        client,
        src,
        dst,
        early,
        tls: info,
        proto: h2,
        accept_date,
        accepted,
        vars,
        trackers,
    }))
    .await
}

/// The TLS handshake of a connection to a `bind … ssl`: the stream, the bytes that came
/// with the handshake, the session's TLS facts and whether ALPN chose HTTP/2; None when it
/// failed (logged).
#[allow(clippy::too_many_arguments)]
async fn tls_accept(
    shard: &ShardCtx,
    fe: &FrontendRt,
    tls: &crate::net::tls::ListenerTls,
    client: TcpStream,
    early: Vec<u8>,
    src: SocketAddr,
    (label, bind): (&str, usize),
    accepted: Instant,
    accept_date: SystemTime,
) -> Option<(Client, Vec<u8>, Option<TlsInfo>, bool)> {
    let hs_deadline = fe.client_timeout.map(|t| accepted + t);
    // Boxed (here and below, once per connection), so that what an idle connection's task
    // holds is its own mode's wait, not the largest state any mode or the handshake needs.
    match Box::pin(crate::net::tls::accept(tls, client, early, hs_deadline)).await {
        Ok(a) => {
            log::trace!(
                "{}/{label}: {src}: {} {} sni={:?}",
                fe.name,
                a.info.version.name(),
                a.info.record_layer,
                a.info.sni
            );
            let counter = match a.client {
                Client::Ktls(_) => &shard.stats.ktls_handoffs,
                _ => &shard.stats.tls_userspace,
            };
            ShardStats::add(counter, 1);
            let h2 = a.info.alpn == Some("h2");
            let info = TlsInfo {
                sni: a.info.sni.map(String::into_boxed_str),
                version: a.info.version,
                alpn: a.info.alpn,
                client_cert: a.info.client_cert,
                suite: a.info.suite,
                resumed: a.info.resumed,
                served: a.info.served,
            };
            Some((a.client, a.early, Some(info), h2))
        }
        Err(e) => {
            // HAProxy logs these as "ip:port [date] frontend/bind: SSL handshake failure".
            log::debug!("{}/{label}: {src}: {e}", fe.name);
            if fe.logs && !fe.dontlognull {
                use crate::log::term::{Cause, Phase, Term};
                let s = crate::proxy::accesslog::Stream {
                    http: fe.mode == crate::config::model::Mode::Http,
                    log_level: None,
                    src,
                    dst: None,
                    tls: None,
                    date: accept_date,
                    t_total: accepted.elapsed(),
                    t_request: None,
                    t_queue: None,
                    t_connect: None,
                    t_response: None,
                    status: 0,
                    embryonic: true,
                    cookie: *b"--",
                    bytes_in: 0,
                    bytes_out: 0,
                    // What HAProxy's `sess_build_logline` reports for a session without a
                    // stream.
                    term: Term::new(Cause::Proxy, Phase::Request),
                    backend: None,
                    server: None,
                    applet: None,
                    retries: 0,
                    redispatched: false,
                    captures: None,
                    request_line: b"",
                    first_req: false,
                    vars: Default::default(),
                    unique_id: None,
                    conn_err: Some(e.fc_err()),
                    bind,
                };
                if crate::proxy::accesslog::log_session_error(shard, fe, &s) {
                    return None;
                }
                let px = &shard.shared.cfg.proxies[fe.proxy];
                let mut line = String::with_capacity(96);
                line.push_str(&format!("{}:{} [", src.ip(), src.port()));
                crate::log::format_date(accept_date, &mut line);
                line.push_str(&format!("] {}/{label}: {}", fe.name, e.log_reason()));
                shard.log(fe.proxy, crate::proxy::accesslog::level(px, true), &line);
            }
            None
        }
    }
}

/// A connection once its PROXY header and TLS handshake are done: what [`serve`] takes
/// (boxed, as [`Accepted`] and for the same reason).
struct Serve {
    shard: Rc<ShardCtx>,
    fe: Arc<FrontendRt>,
    bind: usize,
    client: Client,
    src: SocketAddr,
    dst: Option<SocketAddr>,
    early: Vec<u8>,
    tls: Option<TlsInfo>,
    proto: BindProto,
    accept_date: SystemTime,
    accepted: Instant,
    vars: crate::acl::VarSet,
    trackers: Option<Box<crate::stick::Trackers>>,
}

async fn serve(a: Box<Serve>) {
    let Serve {
        shard,
        fe,
        bind,
        mut client,
        mut src,
        mut dst,
        early,
        tls,
        proto,
        accept_date,
        accepted,
        mut vars,
        mut trackers,
    } = unbox(a);
    // `tcp-request session` rules, once the PROXY header and the TLS handshake are done.
    {
        let px = &shard.shared.cfg.proxies[fe.proxy];
        let rules = &px.tcp_request.session;
        if !rules.is_empty() {
            let tcp = client.tcp();
            let conn = crate::acl::ConnInfo {
                src: Some(src),
                dst: dst.or_else(|| tcp.local_addr().ok()),
                tls: tls.as_ref().map(TlsInfo::acl),
                h2: false,
                glitches: None,
                vars,
                fd: None,
                listener: fe.listeners.get(bind).cloned(),
                ..Default::default()
            };
            let fd = crate::sys::fd(tcp);
            let shared = &shard.shared;
            let t = shared
                .stick
                .any
                .then(|| &**trackers.get_or_insert_with(Box::default));
            match inspect::early_rules(shared, px, false, &conn, fd, &mut false, t) {
                Some(a) => {
                    src = a.src.unwrap_or(src);
                    dst = a.dst.or(dst);
                }
                None => return,
            }
            vars = conn.vars;
        }
    }
    // Kept only when it tracks something; then it counts the session (HAProxy's
    // `session_count_new`, after the session rules).
    trackers = trackers.filter(|t| t.tracked() > 0);
    if let Some(t) = &trackers
        && let Some(c) = shard.shared.stick.ctx(t)
    {
        c.count_session();
    }
    // Registered once it is a session (as HAProxy creates its stream after the handshake).
    let entry = shard.sessions.register(NewSess {
        fe: fe.proxy,
        listener: bind as u32,
        src,
        unix: src == crate::sys::NO_PEER,
        fd: std::os::fd::AsRawFd::as_raw_fd(&crate::sys::fd(client.tcp())),
        accepted,
        date: accept_date,
        backend: None,
    });
    let sess = entry.handle();
    // mode tcp, unless its stream goes on as HTTP (`switch-mode http`, a backend in mode
    // http): then with the stream's first bytes and variables.
    let (early, proto, vars, trackers, switched) = match fe.mode {
        Mode::Tcp => {
            let from = ClientOrigin {
                src,
                dst,
                early,
                date: accept_date,
                at: accepted,
                tls: tls.as_ref().map(TlsInfo::acl),
                vars,
                trackers,
                sess,
                bind,
            };
            let to = Box::pin(tcp::session(shard.clone(), fe.clone(), &mut client, from)).await;
            let Some(to) = to else { return };
            let to = *to;
            (src, dst) = (to.src, to.dst);
            // (HTTP/2 streams run every rule: none is the stream the rules saw.)
            let txn = (to.proto != BindProto::H2).then(|| Box::new(to.txn));
            (to.early, to.proto, to.vars, to.trackers, txn)
        }
        Mode::Http => (early, proto, vars, trackers, None),
    };
    let tcp = client.tcp();
    let dst = dst.unwrap_or_else(|| {
        tcp.local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    });
    let info = ClientInfo {
        src,
        dst,
        tls,
        h2: false,
        vars,
        trackers,
        fd: std::os::fd::AsRawFd::as_raw_fd(&crate::sys::fd(tcp)),
        sess,
        bind,
        switched,
    };
    // `shutdown session(s)` drops the session where it stands: the client
    // connection and any server connection it holds close, its slots are given
    // back by their guards, and an exchange in flight writes its log line as it
    // drops (`K`, `D` or `U`: see `Exchange`'s `Drop`).
    let killed = shard.sessions.killed(sess);
    let nolinger = fe.nolinger;
    // Boxed down to the session's `Ctx`, for the same reason as `Serve`.
    let start = Box::new(Start {
        shard: shard.clone(),
        fe,
        info,
        early,
    });
    let run = http(&mut client, start, proto);
    futures_lite::future::or(run, killed).await;
    if nolinger {
        // A FIN before the reset of the close, as HAProxy's H1 side sends it, after
        // the last send on the ring (glommio's `set_send_on_ring`).
        let tcp = client.tcp();
        futures_lite::future::poll_fn(|cx| tcp.poll_sends_done(cx)).await;
        crate::sys::shut_write_unless_ended(crate::sys::fd(client.tcp()));
    }
}

/// mode http over whatever the TLS handshake left: HTTP/1.x or HTTP/2. (The stream is
/// lent, not moved, to the session: each async fn it moves through would hold it again.)
async fn http(client: &mut Client, start: Box<Start>, proto: BindProto) {
    // mode http reads and writes the client only through glommio's stream (a tunnel
    // copies; rustls too, with no kTLS hand-off left to make): receives and sends can go
    // on the ring, for HTTP/1 and HTTP/2 alike.
    let tcp = match client {
        Client::Plain(s) => Some(s),
        Client::Tls(t) => Some(&mut t.get_mut().0.tcp),
        Client::Ktls(_) => None,
    };
    if let Some(tcp) = tcp {
        tcp.set_recv_on_ring(true);
        tcp.set_send_on_ring(true);
    }
    // HAProxy's implicit upgrade: an HTTP/1 connection whose first bytes are HTTP/2's
    // preface becomes an HTTP/2 one, unless the bind says `proto h1` or the frontend
    // `option disable-h2-upgrade`.
    if proto == BindProto::H2 {
        let Start {
            shard,
            fe,
            info,
            early,
        } = unbox(start);
        return Box::pin(h2(shard, fe, client, info, early)).await;
    }
    let upgrade = proto == BindProto::Auto
        && !start.shard.shared.cfg.proxies[start.fe.proxy]
            .options
            .disable_h2_upgrade;
    let up = match client {
        Client::Plain(s) => http_session(s, start, upgrade).await,
        Client::Ktls(k) => http_session(&mut *k, start, upgrade).await,
        Client::Tls(t) => http_session(&mut **t, start, upgrade).await,
    };
    match up {
        Some(up) => {
            let up = *up;
            Box::pin(h2(up.shard, up.fe, client, up.info, up.bytes)).await
        }
        None => match client {
            Client::Plain(_) => {}
            Client::Ktls(k) => crate::net::tls::close_client(k).await,
            Client::Tls(t) => crate::net::tls::close_client(&mut **t).await,
        },
    }
}

/// HTTP/2 (ALPN h2, `proto h2`, or an upgraded HTTP/1 connection): the same exchange per
/// stream, over whatever the handshake left: rustls, a kTLS socket or plain TCP.
async fn h2(
    shard: Rc<ShardCtx>,
    fe: Arc<FrontendRt>,
    client: &mut Client,
    info: ClientInfo,
    early: Vec<u8>,
) {
    match client {
        Client::Plain(s) => h2_session(shard, fe, s, info, early).await,
        Client::Ktls(k) => {
            h2_session(shard, fe, &mut *k, info, early).await;
            crate::net::tls::close_client(k).await;
        }
        Client::Tls(t) => {
            h2_session(shard, fe, &mut **t, info, early).await;
            crate::net::tls::close_client(&mut **t).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::pump::tests::{on_executor, pair};

    /// What the task of an idle connection holds, besides its socket: the future of
    /// `handle`, suspended in the keep-alive wait of mode http (the largest state it can be
    /// in is its size). Every larger state, the exchange of a request, the TLS handshake,
    /// HTTP/2 and mode tcp, is boxed while it runs. It was 9,528 bytes, 3,224 after, then
    /// 4,072 (4,120 with the connection's stick counters, `tcp-request … track-sc`, whose
    /// box pointer is held at several levels of the nested futures), and 2,704 once the
    /// stream was lent down the calls instead of moved; 2,776 with the certificate a TLS
    /// client was served (`proxy-v2-options cert-sig,cert-key`, in the TLS facts the future
    /// holds twice) and the `maxsslconn` slot of the connection's guard, 2,784 with what
    /// `tcp-request connection set-src/set-dst` and `option logasap` add, 2,800 with the
    /// exchange's future built in its box (no 2.7 KiB copy per request, 16 bytes here). (What is left is
    /// mostly each async fn's arguments, which stay in the future beside the locals they
    /// are moved into.)
    #[test]
    fn an_idle_connection_task_stays_small() {
        on_executor(|| async {
            let (shard, fe) = crate::proxy::http::session::sizes::shard_and_frontend();
            let (_peer, s) = pair().await;
            let peer = SocketAddr::from(([127, 0, 0, 1], 1));
            let task = handle(Box::new(Accepted {
                shard,
                fe,
                client: s,
                peer,
                accept_proxy: false,
                proto: BindProto::Auto,
                tls: None,
                label: "b".into(),
                bind: 0,
            }));
            let size = std::mem::size_of_val(&task);
            eprintln!("the connection's future: {size} bytes");
            // 2,856 bytes since session 10's features on the connection path (the NetScaler
            // CIP header, sends on the ring); 2,912 with session 12's (SOCKS4 servers, the
            // stream's proxy facts for fetches): not yet found which state grew, to shrink
            // again; 2,960 with mode tcp's streams that go on as HTTP (`switch-mode http`:
            // what `serve` holds of them across the HTTP session). 1,728 once `handle`,
            // `serve`, `http` and the session took their arguments boxed (each async fn kept
            // them beside the locals they were moved into) and the session's loop kept less:
            // glommio's task adds 48 bytes, 1,776 in all, in mimalloc's 1,792-byte size class
            // (3,072 before). The bound is that class's edge: a byte more and every idle
            // connection pays 256 bytes more (the 2,048 class). tests/idle_memory.rs bounds
            // what an idle connection costs.
            assert!(size <= 1744, "the connection's future is {size} bytes");
        });
    }
}
