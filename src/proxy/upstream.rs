//! The connection to a server, as mode tcp and mode http open it: TCP with the backend's
//! socket options, the PROXY header (`send-proxy`, `send-proxy-v2`) in clear, then TLS
//! (`server … ssl`). The caller's own bytes go through the returned stream, so they are
//! encrypted when the server speaks TLS: nothing of the client's is ever written before the
//! handshake.

use crate::proxy::http::io::{ServerIo, write_all};
use crate::runtime::BackendRt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// Connects to server `srv` of `be` for a client `src` that reached `dst` (the addresses
/// the PROXY header carries; `dst`'s port is the server's when it has none). `sni`
/// overrides the server's fixed `sni` (an expression evaluated by the caller). The TCP
/// connect and the TLS handshake each get `timeout connect`; a timeout is
/// `ErrorKind::TimedOut`.
pub async fn connect(
    be: &BackendRt,
    srv: usize,
    src: SocketAddr,
    dst: SocketAddr,
    sni: Option<&[u8]>,
) -> io::Result<ServerIo> {
    let server = &be.lb.servers[srv];
    let mut s = crate::proxy::dial::dial(server.dest(dst.port()), be.connect_timeout).await?;
    let _ = s.set_nodelay(true);
    if be.srvtcpka {
        use std::os::fd::AsRawFd;
        crate::sys::with_sockref(s.as_raw_fd(), |k| k.set_keepalive(true)).ok();
    }
    let deadline = || be.connect_timeout.map(|t| Instant::now() + t);
    if let Some(v) = be.send_proxy[srv] {
        let hdr = crate::proxy::tcp::proxy_header(v, src, dst);
        write_all(&mut s, &hdr, deadline()).await?;
    }
    let Some(t) = be.traffic_tls(srv) else {
        return Ok(ServerIo::Plain(s));
    };
    let sni = sni.or(match &t.sni {
        Some(crate::config::ServerSni::Fixed(n)) => Some(n.as_bytes()),
        _ => None,
    });
    let name = crate::proxy::tls::server_name(sni, server.ip_port().0);
    let tls = crate::proxy::tls::connect_server(t.config.clone(), name, s, deadline()).await?;
    Ok(ServerIo::Tls(Box::new(tls)))
}
