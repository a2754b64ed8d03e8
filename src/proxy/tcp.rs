//! mode tcp: one connection's life, from accept to close, as an explicit state machine:
//!
//! ```text
//! Pick ──Server──▶ Connect ──ok──▶ Tunnel ──▶ Close
//!  │  ╲              │ failed: retry (same server after a turn-around delay, or
//!  │   Full─▶ Queue  │         redispatch to another one, as HAProxy decides)
//!  │          │      └ retries exhausted ─▶ Close (SC)
//!  └NoServer──┴──────────────────────────────▶ Close (SC / sQ)
//! ```
//!
//! The termination state in the log uses HAProxy's two letters: who ended it (C client,
//! S server, c/s their timeouts, P proxy) and in which phase (Q queue, C connect, D data).

use crate::balance::{Pick, PickCtx};
use crate::config::Algo;
use crate::health::ServerState;
use crate::proxy::http::io::ServerIo;
use crate::proxy::pump::{End, Side, Timeouts, Tunnel};
use crate::proxy::tls::Client;
use crate::runtime::shard::Shard;
use crate::runtime::{BackendRt, FrontendRt};
use glommio::net::TcpStream;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What happened to a connection, for the log.
struct Outcome {
    term: [u8; 2],
    backend: Option<Arc<BackendRt>>,
    server: Option<usize>,
    retries: u32,
    t_queue: Option<Duration>,
    t_connect: Option<Duration>,
    bytes_in: u64,
    bytes_out: u64,
}

enum State {
    /// Choose a server (avoiding one after a failure when redispatching).
    Pick {
        avoid: Option<usize>,
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

/// The PROXY header for the server (`send-proxy`, `send-proxy-v2`).
pub fn proxy_header(v: crate::config::ProxyVersion, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    use crate::proxy_protocol as pp;
    match v {
        crate::config::ProxyVersion::V1 => {
            let mut line = [0u8; 108];
            let n = pp::encode_v1(Some((src, dst)), &mut line);
            line[..n].to_vec()
        }
        crate::config::ProxyVersion::V2 => {
            let mut buf = [0u8; 64];
            let n = pp::encode_v2(
                pp::Command::Proxy,
                &pp::Addresses::Tcp { src, dst },
                &[],
                pp::Checksum::None,
                &mut buf,
            )
            .unwrap_or(0);
            buf[..n].to_vec()
        }
    }
}

/// A mode tcp connection after its PROXY header (if any): `peer` and `dst` are the
/// client's addresses as the header told them, `early` the bytes that came after it.
pub async fn session(
    shard: Rc<Shard>,
    fe: Arc<FrontendRt>,
    mut client: Client,
    from: crate::proxy::conn::Origin,
) {
    let crate::proxy::conn::Origin {
        src: peer,
        mut dst,
        mut early,
        date: accept_date,
        at: accepted,
    } = from;
    let mut out = Outcome {
        term: *b"--",
        backend: None,
        server: None,
        retries: 0,
        t_queue: None,
        t_connect: None,
        bytes_in: 0,
        bytes_out: 0,
    };
    let Some(be) = fe.backend.and_then(|i| shard.shared.backends[i].clone()) else {
        // A frontend without a backend closes its connections, as HAProxy does.
        out.term = *b"PR";
        finish(&shard, &fe, peer, accept_date, accepted, &out);
        return;
    };
    out.backend = Some(be.clone());
    let ctx = PickCtx {
        client_ip: peer.ip(),
        avoid: None,
        key: None,
    };
    let mut state = State::Pick { avoid: None };
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
                    out.term = *b"SC";
                    State::Close
                }
            },
            State::Queue => {
                let since = *queued_since.get_or_insert_with(Instant::now);
                let deadline = be.queue_timeout.map(|t| since + t);
                let got = be.queue.wait_for(deadline, || match be.lb.pick(&ctx) {
                    Pick::Full => None,
                    other => Some(other),
                });
                match got.await {
                    Some(Pick::Server(srv)) => {
                        out.t_queue = Some(since.elapsed());
                        State::Connect { srv }
                    }
                    Some(_) => {
                        out.term = *b"SC";
                        State::Close
                    }
                    None => {
                        out.term = *b"sQ";
                        State::Close
                    }
                }
            }
            State::Connect { srv } => {
                let server = &be.lb.servers[srv];
                // The address may have changed at run time (`set server … addr`).
                let (ip, port) = server.ip_port();
                let port = match port {
                    Some(p) => p,
                    // No port configured: the one the client connected to, as HAProxy.
                    None => local_addr(client.tcp(), &mut dst).port(),
                };
                let addr = SocketAddr::new(ip, port);
                let t0 = Instant::now();
                match connect(addr, be.connect_timeout).await {
                    Ok(mut s) => {
                        out.t_connect = Some(t0.elapsed());
                        server.observed_success();
                        let _ = s.set_nodelay(true);
                        if be.srvtcpka {
                            crate::sys::with_sockref(s.as_raw_fd(), |k| k.set_keepalive(true)).ok();
                        }
                        // What goes first: the PROXY header, then bytes that came with the
                        // client's PROXY header.
                        let mut first = match be.send_proxy[srv] {
                            Some(v) => proxy_header(v, peer, local_addr(client.tcp(), &mut dst)),
                            None => Vec::new(),
                        };
                        client_bytes_sent |= !early.is_empty();
                        first.append(&mut early);
                        let sent = if first.is_empty() {
                            Ok(())
                        } else {
                            use futures_lite::AsyncWriteExt;
                            s.write_all(&first).await
                        };
                        let _ = crate::sys::set_nonblocking(s.as_raw_fd());
                        // `server … ssl`: the handshake, within the connect timeout.
                        let sent = match (sent, be.traffic_tls(srv)) {
                            (Ok(()), Some(t)) => {
                                let sni = match &t.sni {
                                    Some(crate::config::ServerSni::Fixed(n)) => Some(n.as_bytes()),
                                    _ => None,
                                };
                                let name = crate::proxy::tls::server_name(sni, server.ip_port().0);
                                let deadline = be.connect_timeout.map(|t| Instant::now() + t);
                                crate::proxy::tls::connect_server(
                                    t.config.clone(),
                                    name,
                                    s,
                                    deadline,
                                )
                                .await
                                .map(|t| ServerIo::Tls(Box::new(t)))
                            }
                            (Ok(()), None) => Ok(ServerIo::Plain(s)),
                            (Err(e), _) => Err(e),
                        };
                        match sent {
                            Ok(s) => State::Forward { srv, server: s },
                            Err(e) => {
                                log::debug!("{}/{}: {e}", be.name, server.name);
                                release(&be, srv);
                                out.term = *b"SD";
                                State::Close
                            }
                        }
                    }
                    Err(e) => {
                        log::debug!("{}/{}: connect to {addr} failed: {e}", be.name, server.name);
                        if let Some(t) = server.observed_error() {
                            crate::health::prober::announce(
                                &shard,
                                &be,
                                srv,
                                t,
                                &format!(
                                    "reason: Health analyze, info: \"Detected {} consecutive errors, last one was: L4 unsuccessful connection\"",
                                    server.observe.error_limit
                                ),
                            );
                        }
                        match retry(&be, server, srv, &mut out).await {
                            Some(next) => next,
                            None => {
                                release(&be, srv);
                                out.term = if e.kind() == std::io::ErrorKind::TimedOut {
                                    *b"sC"
                                } else {
                                    *b"SC"
                                };
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
                let copy_only = shard.shared.cfg.global.pump == crate::config::PumpKind::Copy;
                // The grace period of a stop: close what is still open when it ends.
                let grace = async {
                    shard.shared.control.wait_stop().await;
                    let deadline = shard.shared.control.deadline().unwrap_or_else(Instant::now);
                    glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
                };
                let end = match (&mut client, &mut server) {
                    (Client::Plain(c), ServerIo::Plain(s)) => {
                        let t = Tunnel::new(c, s, &shard, timeouts, copy_only);
                        run_tunnel(t, grace, &mut out).await
                    }
                    (Client::Ktls(k), ServerIo::Plain(s)) => {
                        let t = Tunnel::new(&mut k.tcp, s, &shard, timeouts, copy_only);
                        run_tunnel(t.client_ktls(), grace, &mut out).await
                    }
                    // TLS in user space on either side: copied through buffers.
                    (c, s) => {
                        let idle = be
                            .tunnel_timeout
                            .or(fe.client_timeout.max(be.server_timeout));
                        let mut copy = crate::proxy::copy::bidirectional(c, s, idle);
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
                                End::Timeout(Side::Client)
                            }
                            Some(Err(e)) => End::Error(Side::Client, e),
                            None => End::Timeout(Side::Client),
                        }
                    }
                };
                out.term = match end {
                    End::Closed => *b"--",
                    End::Timeout(Side::Client) => *b"cD",
                    End::Timeout(Side::Server) => *b"sD",
                    End::Error(Side::Client, _) => *b"CD",
                    End::Error(Side::Server, _) => *b"SD",
                };
                drop(server);
                // A server that dies with this connection still in its accept queue resets
                // it before a byte went either way: nothing reached it, so it is retried
                // like a failed connect instead of costing the client its connection.
                let reset_untouched = matches!(&end, End::Error(Side::Server, e)
                        if e.raw_os_error() == Some(libc::ECONNRESET))
                    && out.bytes_in == 0
                    && out.bytes_out == 0
                    && !client_bytes_sent;
                let server = &be.lb.servers[srv];
                let next = if reset_untouched {
                    log::debug!(
                        "{}/{}: reset before any byte, retrying",
                        be.name,
                        server.name
                    );
                    retry(&be, server, srv, &mut out).await
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
    finish(&shard, &fe, peer, accept_date, accepted, &out);
}

/// Runs a spliced tunnel until it ends or `grace` (a stop's grace period) runs out.
async fn run_tunnel(
    mut tunnel: Tunnel<'_>,
    grace: impl std::future::Future<Output = ()>,
    out: &mut Outcome,
) -> End {
    let end = futures_lite::future::or(&mut tunnel, async {
        grace.await;
        End::Timeout(Side::Client)
    })
    .await;
    out.bytes_in = tunnel.c2s.bytes;
    out.bytes_out = tunnel.s2c.bytes;
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

async fn connect(addr: SocketAddr, timeout: Option<Duration>) -> std::io::Result<TcpStream> {
    let r = match timeout {
        Some(t) => TcpStream::connect_timeout(addr, t).await,
        None => TcpStream::connect(addr).await,
    };
    r.map_err(Into::into)
}

/// After a failed connection attempt to `server`: the next state, or None when the retries
/// are used up. Follows HAProxy's back_handle_st_cer(): with `option redispatch` the retry
/// goes to another server when the server is down, when the redispatch interval says so, or
/// at once when the balancing is not hash-based and another server is up; otherwise the
/// same server is retried after a turn-around delay of min(timeout connect, 1 s).
async fn retry(
    be: &BackendRt,
    server: &ServerState,
    srv: usize,
    out: &mut Outcome,
) -> Option<State> {
    if out.retries >= be.retries {
        return None;
    }
    out.retries += 1;
    let redispatch = match be.redispatch {
        None => false,
        Some(after) => {
            let done = out.retries as i64;
            let interval_hit = if after > 0 {
                done % after as i64 == 0
            } else {
                let every = be.retries as i64 + 1 + after as i64;
                every > 0 && done % every == 0
            };
            !server.usable()
                || interval_hit
                || (be.lb.usable_count() > 1 && !matches!(be.lb.algo, Algo::Source))
        }
    };
    if redispatch {
        release(be, srv);
        return Some(State::Pick { avoid: Some(srv) });
    }
    let delay = be
        .connect_timeout
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1));
    glommio::timer::sleep(delay).await;
    Some(State::Connect { srv })
}

/// Logs a connection refused before it reached a backend (bad PROXY header, TLS failure).
pub fn log_rejected(
    shard: &Shard,
    fe: &FrontendRt,
    peer: SocketAddr,
    date: SystemTime,
    t0: Instant,
    term: [u8; 2],
) {
    let out = Outcome {
        term,
        backend: None,
        server: None,
        retries: 0,
        t_queue: None,
        t_connect: None,
        bytes_in: 0,
        bytes_out: 0,
    };
    finish(shard, fe, peer, date, t0, &out);
}

/// Logs the connection (`option tcplog`) in HAProxy's format:
/// `ip:port [date] frontend backend/server Tw/Tc/Tt bytes term act/fe/be/srv/retries sq/bq`.
fn finish(
    shard: &Shard,
    fe: &FrontendRt,
    peer: SocketAddr,
    date: SystemTime,
    t0: Instant,
    out: &Outcome,
) {
    let null = out.bytes_in == 0 && out.bytes_out == 0;
    let wanted = fe.tcplog && fe.logs && !(fe.dontlognull && null);
    if !wanted && !log::log_enabled!(log::Level::Trace) {
        return;
    }
    use std::fmt::Write as _;
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as i64).unwrap_or(-1);
    let mut line = String::with_capacity(200);
    let _ = write!(line, "{}:{} [", peer.ip(), peer.port());
    crate::log::format_date(date, &mut line);
    let (bname, sname, beconn, srvconn, bq) = match &out.backend {
        Some(be) => (
            be.name.as_str(),
            out.server
                .map(|s| be.lb.servers[s].name.as_str())
                .unwrap_or("<NOSRV>"),
            be.lb.servers.iter().map(|s| s.cur_conns()).sum::<u32>(),
            out.server
                .map(|s| be.lb.servers[s].cur_conns())
                .unwrap_or(0),
            be.queue.waiting(),
        ),
        None => (fe.name.as_str(), "<NOSRV>", 0, 0, 0),
    };
    let _ = write!(
        line,
        "] {} {bname}/{sname} {}/{}/{} {} {}{} {}/{}/{beconn}/{srvconn}/{} 0/{bq}",
        fe.name,
        ms(out.t_queue.or(Some(Duration::ZERO))),
        ms(out.t_connect),
        t0.elapsed().as_millis(),
        out.bytes_out,
        out.term[0] as char,
        out.term[1] as char,
        shard.shared.slots.current(),
        fe.slots.current(),
        out.retries,
    );
    log::trace!("{line}");
    if wanted {
        shard.log(fe.proxy, crate::log::syslog::INFO, &line);
    }
}
