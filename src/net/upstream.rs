//! The connection to a server, as mode tcp and mode http open it: TCP with the backend's
//! socket options, the PROXY header (`send-proxy`, `send-proxy-v2`) in clear, then TLS
//! (`server … ssl`). The caller's own bytes go through the returned stream, so they are
//! encrypted when the server speaks TLS: nothing of the client's is ever written before the
//! handshake.

use crate::cluster::BackendRt;
use crate::config::{PpOpts, ProxyVersion};
use crate::net::error::ProxyError;
use crate::net::io::{ServerIo, write_all};
use glommio::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
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
    facts: ClientFacts<'_>,
    websocket: bool,
) -> Result<ServerIo, ProxyError> {
    let tls = be.traffic_tls(srv);
    let addr = be.lb.servers[srv].addr_to(dst);
    open(Target {
        addr,
        path: be.lb.servers[srv].path.as_ref(),
        budget: Budget::PerStep(be.connect_timeout),
        keepalive: be.srvtcpka,
        user_timeout: be.lb.servers[srv].tcp_ut,
        nolinger: be.nolinger,
        socks4: be.socks4[srv].map(|(a, _)| a),
        header: be.send_proxy[srv].map(|v| Header::Client {
            v,
            src,
            dst,
            opts: be.pp_opts(srv),
            facts,
        }),
        source: be.source[srv].outgoing(Some(src), addr),
        tls: tls.map(|t| {
            let ws = t.ws_config.as_ref().filter(|_| websocket);
            (ws.unwrap_or(&t.config), sni.or(t.fixed_sni()))
        }),
    })
    .await
    .map_err(|e| ProxyError {
        tls_handshake: e.step == Step::Tls,
        ..ProxyError::connect(e.error)
    })
}

/// What a PROXY v2 header may tell a server of the client's connection besides its
/// addresses (`send-proxy-v2-ssl`, `proxy-v2-options`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientFacts<'a> {
    /// The client's TLS session, when it was terminated here.
    pub tls: Option<ClientTls<'a>>,
    /// The frontend's unique id for this stream (empty without `unique-id-format`); `None`
    /// for a connection without a stream (a health check), which sends no UNIQUE_ID.
    pub unique_id: Option<&'a [u8]>,
}

/// The client's TLS session as a PROXY v2 header describes it.
#[derive(Clone, Copy, Debug)]
pub struct ClientTls<'a> {
    pub sni: Option<&'a [u8]>,
    pub version: crate::tls::Version,
    pub alpn: Option<&'a [u8]>,
    pub client_cert: Option<&'a crate::tls::client_auth::ClientCert>,
    pub suite: Option<rustls::CipherSuite>,
    pub resumed: bool,
    pub served: Option<&'a crate::tls::certs::ServedCert>,
}

impl crate::acl::TlsInfo {
    /// What a PROXY v2 header says of this session.
    pub fn pp(&self) -> ClientTls<'_> {
        ClientTls {
            sni: self.sni.as_deref(),
            version: self.version,
            alpn: self.alpn,
            client_cert: self.client_cert.as_deref(),
            suite: self.suite,
            resumed: self.resumed,
            served: self.served.as_ref(),
        }
    }
}

/// What a connect writes in clear before TLS: the PROXY header.
#[derive(Clone, Copy, Debug)]
pub enum Header<'a> {
    /// For a client `src` that reached `dst` (`send-proxy`, `send-proxy-v2`), with the
    /// TLVs `opts` asks for.
    Client {
        v: ProxyVersion,
        src: SocketAddr,
        dst: SocketAddr,
        opts: PpOpts,
        facts: ClientFacts<'a>,
    },
    /// For a health check (`check-send-proxy`), as HAProxy sends it: v1 with the check
    /// connection's own addresses, v2 a LOCAL command ("this is the balancer itself") with
    /// the TLVs of `opts` that need no client (CRC32C, an empty SSL TLV); a v2 PROXY
    /// command with the addresses when the last field is false (`pp2-never-send-local`).
    Check(ProxyVersion, PpOpts, bool),
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
    /// `SO_KEEPALIVE` (`option srvtcpka`, with `srvtcpka-*`).
    pub keepalive: Option<crate::config::TcpKa>,
    /// TCP_USER_TIMEOUT (`server … tcp-ut`).
    pub user_timeout: Option<std::time::Duration>,
    /// `SO_LINGER` 0 (`option nolinger`): the close is a reset.
    pub nolinger: bool,
    /// `socks4 ADDR`: connect there and have it CONNECT to `addr` first.
    pub socks4: Option<SocketAddr>,
    pub header: Option<Header<'a>>,
    /// `source` (`usesrc`, `interface`, `namespace`): how the socket is made and bound.
    pub source: Option<crate::sys::Outgoing<'a>>,
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
    // Through a SOCKS4 proxy, the TCP connection is to the proxy.
    let to = t.socks4.unwrap_or(t.addr);
    let mut s = match (t.path, deadline()) {
        (Some(p), _) => crate::net::dial::dial_path(p).map_err(fail(Step::Tcp))?,
        (None, d) if let Some(o) = t.source => {
            let left = d.map(|d| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            let plain = !o.transparent
                && o.interface.is_none()
                && o.netns.is_none()
                && !o.fastopen
                && o.ports.is_none();
            let s = match o.from {
                Some(from) if plain => TcpStream::connect_from(to, from, left).await,
                _ => {
                    let (fd, lease) =
                        crate::sys::outgoing_socket(to, &o).map_err(fail(Step::Tcp))?;
                    let s = TcpStream::connect_prepared(fd, to, left).await;
                    // The port is the socket's until it closes (a failed connect gives it
                    // back with the lease).
                    if let (Ok(s), Some(l)) = (&s, lease) {
                        l.hold_for(crate::sys::fd(s).as_raw_fd());
                    }
                    s
                }
            };
            s.map_err(|e| fail(Step::Tcp)(io::Error::from(e)))?
        }
        (None, Some(d)) => {
            let left = d
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            TcpStream::connect_timeout(to, left)
                .await
                .map_err(|e| fail(Step::Tcp)(io::Error::from(e)))?
        }
        (None, None) => TcpStream::connect(to)
            .await
            .map_err(|e| fail(Step::Tcp)(io::Error::from(e)))?,
    };
    let _ = s.set_nodelay(true);
    if let Some(ka) = t.keepalive {
        crate::sys::with_sockref(crate::sys::fd(&s), |k| ka.apply(k)).ok();
    }
    if let Some(t) = t.user_timeout {
        let ms = t.as_millis().min(i32::MAX as u128) as i32;
        let fd = crate::sys::fd(&s);
        let _ = crate::sys::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms);
    }
    if t.nolinger {
        crate::sys::reset_on_close(crate::sys::fd(&s));
    }
    if t.socks4.is_some() {
        socks4_connect(&mut s, t.addr, deadline())
            .await
            .map_err(fail(Step::Tcp))?;
    }
    if let Some(h) = t.header {
        let hdr = match h {
            Header::Client {
                v,
                src,
                dst,
                opts,
                facts,
            } => encode_header(v, Some((src, dst)), false, opts, &facts),
            Header::Check(v, opts, local) => encode_header(
                v,
                s.local_addr().ok().map(|l| (l, t.addr)),
                local,
                opts,
                &ClientFacts::default(),
            ),
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

/// The SOCKS4 request HAProxy sends (CONNECT to `to`, user id "HAProxy"), as bytes.
pub fn socks4_request(to: SocketAddr) -> io::Result<[u8; 16]> {
    let std::net::IpAddr::V4(ip) = to.ip() else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SOCKS4 reaches IPv4 addresses only",
        ));
    };
    let mut r = [0u8; 16];
    r[0] = 4;
    r[1] = 1;
    r[2..4].copy_from_slice(&to.port().to_be_bytes());
    r[4..8].copy_from_slice(&ip.octets());
    r[8..].copy_from_slice(b"HAProxy\0");
    Ok(r)
}

/// The SOCKS4 handshake on a connection to the proxy: the CONNECT request, then its 8-byte
/// answer, whose second byte must be 90 ("request granted"); what follows is the server's.
async fn socks4_connect(
    s: &mut TcpStream,
    to: SocketAddr,
    deadline: Option<Instant>,
) -> io::Result<()> {
    use futures_lite::AsyncReadExt;
    write_all(s, &socks4_request(to)?, deadline).await?;
    let mut answer = [0u8; 8];
    crate::net::io::with_deadline(deadline, s.read_exact(&mut answer)).await?;
    if answer[1] != 90 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("SOCKS4 proxy refused the connection (code {})", answer[1]),
        ));
    }
    Ok(())
}

/// The PROXY header: v1 names `addrs` (`UNKNOWN` without them); v2 carries them with a PROXY
/// command, or a LOCAL command ("this is the balancer itself") when `local`, and the TLVs of
/// [`v2_tlvs`].
fn encode_header(
    v: ProxyVersion,
    addrs: Option<(SocketAddr, SocketAddr)>,
    local: bool,
    opts: PpOpts,
    facts: &ClientFacts<'_>,
) -> Vec<u8> {
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
            let tlvs = v2_tlvs(opts, facts);
            let tlvs: Vec<(u8, &[u8])> = tlvs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let checksum = if opts.has(PpOpts::CRC32C) {
                pp::Checksum::Crc32c
            } else {
                pp::Checksum::None
            };
            let mut buf = vec![0u8; pp::V2_MAX_LEN];
            let n = pp::encode_v2(cmd, &addrs, &tlvs, checksum, &mut buf).unwrap_or(0);
            buf.truncate(n);
            buf
        }
    }
}

/// The TLVs after the addresses (and the CRC32C, which [`crate::proxy_protocol::encode_v2`]
/// writes first), in HAProxy's `make_proxy_line_v2` order: ALPN whenever the client's TLS
/// session chose a protocol; AUTHORITY (the client's SNI); UNIQUE_ID for a stream; the SSL
/// TLV, whose client flags and sub-TLVs (version, CN, key algorithm, signature algorithm,
/// cipher) describe a TLS client, and are zero and absent for a clear one.
fn v2_tlvs(opts: PpOpts, facts: &ClientFacts<'_>) -> Vec<(u8, Vec<u8>)> {
    use crate::proxy_protocol::{encode_ssl_value, tlv};
    let mut out = Vec::new();
    let t = facts.tls.as_ref();
    if let Some(a) = t.and_then(|t| t.alpn) {
        out.push((tlv::ALPN, a.to_vec()));
    }
    if opts.has(PpOpts::AUTHORITY)
        && let Some(sni) = t.and_then(|t| t.sni)
    {
        out.push((tlv::AUTHORITY, sni.to_vec()));
    }
    if opts.has(PpOpts::UNIQUE_ID)
        && let Some(id) = facts.unique_id
    {
        // HAProxy's ids are at most UNIQUEID_LEN (128) bytes.
        out.push((tlv::UNIQUE_ID, id[..id.len().min(128)].to_vec()));
    }
    if opts.has(PpOpts::SSL) {
        let (mut client, mut verify) = (0u8, 0u32);
        let mut sub: Vec<(u8, Vec<u8>)> = Vec::new();
        if let Some(t) = t {
            client |= tlv::CLIENT_SSL;
            sub.push((tlv::SSL_VERSION, t.version.name().as_bytes().to_vec()));
            if let Some(c) = t.client_cert {
                client |= tlv::CLIENT_CERT_SESS;
                verify = u32::try_from(c.verify).unwrap_or(u32::MAX);
                if !t.resumed {
                    client |= tlv::CLIENT_CERT_CONN;
                }
            }
            if opts.has(PpOpts::SSL_CN)
                && let Some(c) = t.client_cert
                && let Some((_, cn)) = c.subject.iter().find(|(n, _)| n == "CN")
                && !cn.is_empty()
            {
                sub.push((tlv::SSL_CN, cn.to_vec()));
            }
            if opts.has(PpOpts::SSL_KEY_ALG)
                && let Some(k) = t.served.and_then(|c| c.key_alg())
            {
                sub.push((tlv::SSL_KEY_ALG, k.into_bytes()));
            }
            if opts.has(PpOpts::SSL_SIG_ALG)
                && let Some(a) = t.served.and_then(|c| c.sig_alg())
            {
                sub.push((tlv::SSL_SIG_ALG, a.as_bytes().to_vec()));
            }
            if opts.has(PpOpts::SSL_CIPHER)
                && let Some(n) = t.suite.and_then(crate::tls::ciphers::openssl_name)
            {
                sub.push((tlv::SSL_CIPHER, n.as_bytes().to_vec()));
            }
        }
        let sub: Vec<(u8, &[u8])> = sub.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let mut value = vec![0u8; crate::proxy_protocol::V2_MAX_LEN];
        if let Ok(n) = encode_ssl_value(client, verify, &sub, &mut value) {
            value.truncate(n);
            out.push((tlv::SSL, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_header_of_a_client_and_of_a_check() {
        let src: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let dst: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let none = ClientFacts::default();
        let v1 = |addrs, local| {
            String::from_utf8(encode_header(
                ProxyVersion::V1,
                addrs,
                local,
                PpOpts::default(),
                &none,
            ))
        };
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
        let client = encode_header(
            ProxyVersion::V2,
            Some((src, dst)),
            false,
            PpOpts::default(),
            &none,
        );
        assert_eq!((client[12], client.len()), (0x21, 16 + 12));
        let check = encode_header(
            ProxyVersion::V2,
            Some((src, dst)),
            true,
            PpOpts::default(),
            &none,
        );
        assert_eq!((check[12], check.len()), (0x20, 16));
    }
}
