//! A connection just accepted, whatever its mode: the PROXY header of `accept-proxy`, then
//! (TLS termination, when the bind has `ssl`) the mode's session — `tcp` or `http`. The
//! connection's slots are held here and given back when it ends, whatever the path.

use crate::config::Mode;
use crate::proxy::http::session::{ConnInfo, session as http_session};
use crate::proxy::tcp;
use crate::runtime::FrontendRt;
use crate::runtime::shard::Shard;
use glommio::net::TcpStream;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Releases the connection's slots when the session ends, whatever the path.
struct ConnGuard {
    shard: Rc<Shard>,
    fe: Arc<FrontendRt>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.fe.slots.give_back();
        self.shard.shared.slots.give_back();
        self.shard.active.set(self.shard.active.get() - 1);
    }
}

/// Reads the PROXY header of an `accept-proxy` connection: the addresses it carries (None
/// for LOCAL/UNKNOWN: the connection's own apply) and the bytes that came after it.
async fn read_proxy_header(
    client: &mut TcpStream,
    timeout: Duration,
) -> Result<(Option<(SocketAddr, SocketAddr)>, Vec<u8>), String> {
    use crate::proxy_protocol::{Limits, Parse, parse};
    use futures_lite::AsyncReadExt;
    let limits = Limits::new();
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
        let left = deadline.saturating_duration_since(Instant::now());
        let r = futures_lite::future::or(async { Some(client.read(&mut buf[n..]).await) }, async {
            glommio::timer::sleep(left).await;
            None
        })
        .await;
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

/// Where a connection comes from, once its PROXY header (if any) was read.
pub struct Origin {
    /// The client (from the PROXY header, else the socket's peer).
    pub src: SocketAddr,
    /// The address it connected to, when the PROXY header said; else looked up on demand.
    pub dst: Option<SocketAddr>,
    /// Bytes that came right after the PROXY header: the start of the stream.
    pub early: Vec<u8>,
    pub date: SystemTime,
    pub at: Instant,
}

pub async fn handle(
    shard: Rc<Shard>,
    fe: Arc<FrontendRt>,
    mut client: TcpStream,
    peer: SocketAddr,
    accept_proxy: bool,
) {
    let _guard = ConnGuard {
        shard: shard.clone(),
        fe: fe.clone(),
    };
    let accepted = Instant::now();
    let accept_date = SystemTime::now();
    let _ = client.set_nodelay(true);
    if fe.clitcpka {
        crate::sys::with_sockref(client.as_raw_fd(), |s| s.set_keepalive(true)).ok();
    }
    // The client as the PROXY header tells it (behind an ELB/NLB), else the socket's peer.
    let mut src = peer;
    let mut dst: Option<SocketAddr> = None;
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
                tcp::log_rejected(&shard, &fe, peer, accept_date, accepted, *b"PR");
                return;
            }
        }
    }
    match fe.mode {
        Mode::Tcp => {
            let from = Origin {
                src,
                dst,
                early,
                date: accept_date,
                at: accepted,
            };
            tcp::session(shard, fe, client, from).await
        }
        Mode::Http => {
            let dst = dst.unwrap_or_else(|| {
                client
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
            });
            let info = ConnInfo {
                src,
                dst,
                tls: None,
            };
            http_session(shard, fe, client, info, early).await
        }
    }
}
