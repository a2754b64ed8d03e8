//! The connection to a server, as mode tcp and mode http open it: TCP with the backend's
//! socket options, the PROXY header (`send-proxy`, `send-proxy-v2`) in clear, then TLS
//! (`server … ssl`). The caller's own bytes go through the returned stream, so they are
//! encrypted when the server speaks TLS: nothing of the client's is ever written before the
//! handshake.

use crate::cluster::BackendRt;
use crate::config::ProxyVersion;
use crate::net::error::ProxyError;
use crate::net::io::{ServerIo, write_all};
use glommio::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connects to server `srv` of `be` for a client `src` that reached `dst` (the addresses
/// the PROXY header carries; `dst`'s port is the server's when it has none, and its address
/// a server's at 0.0.0.0, as in HAProxy). `sni`
/// overrides the server's fixed `sni` (an expression evaluated by the caller). The TCP
/// connect and the TLS handshake each get `timeout connect`; any failure is a failed
/// connect ([`ProxyError::connect`]).
pub async fn connect(
    be: &BackendRt,
    srv: usize,
    src: SocketAddr,
    dst: SocketAddr,
    sni: Option<&[u8]>,
) -> Result<ServerIo, ProxyError> {
    let tls = be.traffic_tls(srv);
    open(Target {
        addr: be.lb.servers[srv].addr_to(dst),
        path: be.lb.servers[srv].path.as_ref(),
        budget: Budget::PerStep(be.connect_timeout),
        keepalive: be.srvtcpka,
        nolinger: be.nolinger,
        header: be.send_proxy[srv].map(|v| Header::Client { v, src, dst }),
        source: be.source[srv],
        tls: tls.map(|t| (&t.config, sni.or(t.fixed_sni()))),
    })
    .await
    .map_err(|e| ProxyError::connect(e.error))
}

/// What a connect writes in clear before TLS: the PROXY header.
#[derive(Clone, Copy, Debug)]
pub enum Header {
    /// For a client `src` that reached `dst` (`send-proxy`, `send-proxy-v2`).
    Client {
        v: ProxyVersion,
        src: SocketAddr,
        dst: SocketAddr,
    },
    /// For a health check (`check-send-proxy`), as HAProxy sends it: v1 with the check
    /// connection's own addresses, v2 a LOCAL command ("this is the balancer itself").
    Check(ProxyVersion),
}

/// The time a connect may take.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Each step (TCP, PROXY header, TLS handshake) gets this long (`timeout connect`);
    /// `None`: no limit.
    PerStep(Option<Duration>),
    /// Everything done by then (a health check).
    Until(Instant),
}

/// One connect: where, the socket options, the PROXY header and the TLS to speak, by when.
pub struct Target<'a> {
    pub addr: SocketAddr,
    /// A server on a local socket (`unix@`, `abns@`): connect there instead of `addr`.
    pub path: Option<&'a crate::config::addr::SockPath>,
    pub budget: Budget,
    /// `SO_KEEPALIVE` (`option srvtcpka`).
    pub keepalive: bool,
    /// `SO_LINGER` 0 (`option nolinger`): the close is a reset.
    pub nolinger: bool,
    pub header: Option<Header>,
    /// `source`: the local address to connect from.
    pub source: Option<SocketAddr>,
    /// The TLS configuration and the server name to ask for (else the address).
    pub tls: Option<(&'a Arc<rustls::ClientConfig>, Option<&'a [u8]>)>,
}

/// The step of a connect that failed: a health check's verdict (Layer4 or Layer6) depends
/// on it; for the proxies every step is a failed connect alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Tcp,
    Header,
    Tls,
}

/// A failed connect: the step and the error (a timeout is `ErrorKind::TimedOut`).
#[derive(Debug)]
pub struct ConnectError {
    pub step: Step,
    pub error: io::Error,
}

/// TCP with the socket options, the PROXY header in clear, then the TLS handshake: the one
/// connect of mode tcp, mode http and the health checks.
pub async fn open(t: Target<'_>) -> Result<ServerIo, ConnectError> {
    let fail = |step| move |error| ConnectError { step, error };
    let deadline = || match t.budget {
        Budget::PerStep(d) => d.map(|d| Instant::now() + d),
        Budget::Until(d) => Some(d),
    };
    let mut s = match (t.path, deadline()) {
        (Some(p), _) => crate::net::dial::dial_path(p).map_err(fail(Step::Tcp))?,
        (None, d) if let Some(from) = t.source => {
            let left = d.map(|d| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            TcpStream::connect_from(t.addr, from, left)
                .await
                .map_err(|e| fail(Step::Tcp)(io::Error::from(e)))?
        }
        (None, Some(d)) => {
            let left = d
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            TcpStream::connect_timeout(t.addr, left)
                .await
                .map_err(|e| fail(Step::Tcp)(io::Error::from(e)))?
        }
        (None, None) => TcpStream::connect(t.addr)
            .await
            .map_err(|e| fail(Step::Tcp)(io::Error::from(e)))?,
    };
    let _ = s.set_nodelay(true);
    if t.keepalive {
        crate::sys::with_sockref(crate::sys::fd(&s), |k| k.set_keepalive(true)).ok();
    }
    if t.nolinger {
        crate::sys::reset_on_close(crate::sys::fd(&s));
    }
    if let Some(h) = t.header {
        let hdr = match h {
            Header::Client { v, src, dst } => encode_header(v, Some((src, dst)), false),
            Header::Check(v) => encode_header(v, s.local_addr().ok().map(|l| (l, t.addr)), true),
        };
        write_all(&mut s, &hdr, deadline())
            .await
            .map_err(fail(Step::Header))?;
    }
    let Some((config, sni)) = t.tls else {
        return Ok(ServerIo::Plain(s));
    };
    let name = crate::net::tls::server_name(sni, t.addr.ip());
    let tls = crate::net::tls::connect_server(config.clone(), name, s, deadline())
        .await
        .map_err(fail(Step::Tls))?;
    Ok(ServerIo::Tls(Box::new(tls)))
}

/// The PROXY header: v1 names `addrs` (`UNKNOWN` without them); v2 carries them with a PROXY
/// command, or a LOCAL command ("this is the balancer itself") when `local`.
fn encode_header(v: ProxyVersion, addrs: Option<(SocketAddr, SocketAddr)>, local: bool) -> Vec<u8> {
    use crate::proxy_protocol as pp;
    match v {
        ProxyVersion::V1 => {
            let mut line = [0u8; 108];
            let n = pp::encode_v1(addrs, &mut line);
            line[..n].to_vec()
        }
        ProxyVersion::V2 => {
            let (cmd, addrs) = match addrs {
                Some((src, dst)) if !local => (pp::Command::Proxy, pp::Addresses::Tcp { src, dst }),
                _ => (pp::Command::Local, pp::Addresses::Unspecified),
            };
            let mut buf = [0u8; 64];
            let n = pp::encode_v2(cmd, &addrs, &[], pp::Checksum::None, &mut buf).unwrap_or(0);
            buf[..n].to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_header_of_a_client_and_of_a_check() {
        let src: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let dst: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let v1 = |addrs, local| String::from_utf8(encode_header(ProxyVersion::V1, addrs, local));
        assert_eq!(
            v1(Some((src, dst)), false).unwrap(),
            "PROXY TCP4 10.0.0.1 10.0.0.2 4000 80\r\n"
        );
        // A check's v1 header names its own connection, or UNKNOWN without its address.
        assert_eq!(
            v1(Some((src, dst)), true).unwrap(),
            "PROXY TCP4 10.0.0.1 10.0.0.2 4000 80\r\n"
        );
        assert_eq!(v1(None, true).unwrap(), "PROXY UNKNOWN\r\n");
        // v2: byte 12 is version 2 with the command, PROXY (1) or LOCAL (0).
        let client = encode_header(ProxyVersion::V2, Some((src, dst)), false);
        assert_eq!((client[12], client.len()), (0x21, 16 + 12));
        let check = encode_header(ProxyVersion::V2, Some((src, dst)), true);
        assert_eq!((check[12], check.len()), (0x20, 16));
    }
}
