//! TLS on live connections: terminating the client's TLS (`bind … ssl`), handing the record
//! layer to the kernel when it can take it (kTLS), and TLS to servers (`server … ssl`).
//!
//! A terminated client connection ends up as one of (besides [`Client::Plain`]):
//! - [`Client::Ktls`]: the kernel runs the records; the socket carries plaintext, so mode
//!   tcp splices it like plain TCP and mode http reads and writes it directly. Non-data
//!   records make reads fail with EIO; [`ktls_next`] reads and judges them.
//! - [`Client::Tls`]: rustls in user space (kernels without kTLS, suites the kernel lacks).
//!
//! The handshake reads through [`HsStream`], which serves bytes that came with a PROXY
//! header first and, when the connection may go to the kernel, never reads past the end of
//! a TLS record (so that what rustls has not consumed is whole records, left in the socket).

use crate::tls::client_auth::ClientCert;
use crate::tls::ktls::{self, Action, Handoff, HandoffError, RecordBoundary};
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::ServerConfig;
use std::io;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// A listener's TLS: its rustls configuration and whether to try the kTLS hand-off.
#[derive(Clone)]
pub struct ListenerTls {
    pub config: Arc<ServerConfig>,
    /// `ktls on` (or the default) and the start-up probe found the kernel able.
    pub ktls: bool,
    /// With `ca-ignore-err`/`crt-ignore-err`: the verifier that says which error an
    /// accepted client certificate had (`ssl_c_verify`). Without them an accepted
    /// certificate verified.
    pub client_verify: Option<Arc<crate::tls::client_auth::ClientVerifier>>,
    /// The certificates `config` serves from: which one a connection got.
    pub certs: Option<Arc<crate::tls::certs::CertStore>>,
}

/// The client's socket during the handshake: `pre` (bytes that came right after a PROXY
/// header) first, then the socket; with `corked`, reads stop at TLS record boundaries.
pub struct HsStream {
    pre: Vec<u8>,
    pos: usize,
    corked: Option<RecordBoundary>,
    pub tcp: TcpStream,
}

impl HsStream {
    fn new(tcp: TcpStream, pre: Vec<u8>, corked: bool) -> HsStream {
        HsStream {
            pre,
            pos: 0,
            corked: corked.then(RecordBoundary::default),
            tcp,
        }
    }

    /// Whether bytes that came before the socket's are still to be read.
    pub(crate) fn has_pending(&self) -> bool {
        self.pos < self.pre.len()
    }

    /// Whether rustls consumed exactly whole records (and all of `pre`).
    fn at_record_boundary(&self) -> bool {
        self.pos == self.pre.len() && self.corked.is_some_and(|b| b.at_boundary())
    }
}

impl AsyncRead for HsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let limit = this.corked.map_or(buf.len(), |b| b.limit().min(buf.len()));
        let buf = &mut buf[..limit];
        let got = if this.pos < this.pre.len() {
            let n = crate::net::io::copy_pending(&this.pre, &mut this.pos, buf);
            if this.pos == this.pre.len() {
                this.pre = Vec::new();
                this.pos = 0;
            }
            n
        } else {
            match Pin::new(&mut this.tcp).poll_read(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            }
        };
        if let Some(b) = &mut this.corked {
            b.advance(&buf[..got]);
        }
        Poll::Ready(Ok(got))
    }
}

impl AsyncWrite for HsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_close(cx)
    }
}

pub type ServerTlsStream = futures_rustls::server::TlsStream<HsStream>;

/// The client's side of a connection once TLS (if any) is terminated: what both modes
/// read from and write to.
pub enum Client {
    Plain(TcpStream),
    /// The kernel runs the record layer: plaintext on the socket (spliced in mode tcp).
    Ktls(KtlsStream),
    /// rustls in user space.
    Tls(Box<ServerTlsStream>),
}

impl Client {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Client::Plain(s) => s,
            Client::Ktls(k) => &k.tcp,
            Client::Tls(t) => &t.get_ref().0.tcp,
        }
    }
}

delegate_stream_io!(Client { Plain, Ktls, Tls });

/// What the handshake told about the connection, for `ssl_fc*` and the logs.
#[derive(Clone, Debug)]
pub struct Negotiated {
    pub sni: Option<String>,
    pub version: crate::tls::Version,
    /// The protocol ALPN chose (only those corelb offers: `h2`, `http/1.1`).
    pub alpn: Option<&'static str>,
    /// "kTLS AES-GCM-128" or "rustls", for the debug log.
    pub record_layer: String,
    /// The certificate the client presented (`ssl_c_*`).
    pub client_cert: Option<Arc<ClientCert>>,
    /// The suite (`%sslc`, `ssl_fc_cipher`: its OpenSSL name).
    pub suite: Option<rustls::CipherSuite>,
    /// The session was resumed (a ticket or the session cache): `ssl_fc_is_resumed`.
    pub resumed: bool,
    /// The certificate this listener served.
    pub served: Option<crate::tls::certs::ServedCert>,
}

/// The result of [`accept`]: the stream, what was negotiated, and plaintext that arrived
/// with the handshake (already decrypted; it comes before anything read from the stream).
pub struct Accepted {
    pub client: Client,
    pub info: Negotiated,
    pub early: Vec<u8>,
}

/// Why a client's TLS handshake, or the kTLS hand-off after it, failed. The connection is
/// closed in every case; what differs is the log's wording ([`HandshakeError::log_reason`])
/// and the debug detail (`Display`).
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The deadline (`timeout client`) passed first.
    Timeout,
    /// The client closed the connection during the handshake.
    Closed,
    /// The handshake failed: a TLS alert or protocol error, or an I/O error.
    Failed(io::Error),
    /// Writing the TLS 1.3 session tickets before the kTLS hand-off failed.
    Tickets(io::Error),
    /// The kernel declined the record layer; the checks before the hand-off make this
    /// unexpected, and the rustls state cannot become a stream again.
    HandoffDeclined(ktls::Declined),
    /// Handing the record layer to the kernel failed.
    HandoffFailed(io::Error),
}

impl HandshakeError {
    /// A failed `accept` of the handshake, by its I/O error.
    fn from_accept(e: io::Error) -> HandshakeError {
        match e.kind() {
            io::ErrorKind::TimedOut => HandshakeError::Timeout,
            io::ErrorKind::UnexpectedEof => HandshakeError::Closed,
            _ => HandshakeError::Failed(e),
        }
    }

    /// HAProxy's code of this error (`fc_err`, its `CO_ER_SSL_*`) and its wording
    /// (`fc_err_str`, the legacy log line).
    pub fn fc_err(&self) -> (i64, &'static str) {
        let code = self.code();
        (code, crate::tls::conn_err_code_str(code))
    }

    /// HAProxy's wording in the connection's log line.
    pub fn log_reason(&self) -> &'static str {
        crate::tls::conn_err_code_str(self.code())
    }

    fn code(&self) -> i64 {
        use crate::tls::conn_err;
        match self {
            HandshakeError::Timeout => conn_err::SSL_TIMEOUT,
            HandshakeError::Closed => conn_err::SSL_EMPTY,
            // The client's certificate failed `verify`.
            HandshakeError::Failed(e)
                if e.get_ref()
                    .and_then(|i| i.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_))) =>
            {
                conn_err::SSL_CRT_FAIL
            }
            _ => conn_err::SSL_HANDSHAKE,
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Timeout => f.write_str("SSL handshake timeout"),
            HandshakeError::Closed => f.write_str("connection closed during SSL handshake"),
            HandshakeError::Failed(e) => write!(f, "SSL handshake failure: {e}"),
            HandshakeError::Tickets(e) => {
                write!(f, "SSL handshake failure: sending session tickets: {e}")
            }
            HandshakeError::HandoffDeclined(r) => {
                write!(f, "kTLS hand-off declined ({r:?}); closing")
            }
            HandshakeError::HandoffFailed(e) => write!(f, "kTLS hand-off failed: {e}; closing"),
        }
    }
}

/// Runs the server side of the handshake on `tcp` (after `pre`, bytes that came with a
/// PROXY header) until `deadline`, then hands the records to the kernel when `tls.ktls`
/// and the kernel can run the negotiated suite.
pub async fn accept(
    tls: &ListenerTls,
    tcp: TcpStream,
    pre: Vec<u8>,
    deadline: Option<Instant>,
) -> Result<Accepted, HandshakeError> {
    let acceptor = futures_rustls::TlsAcceptor::from(tls.config.clone());
    let hs = HsStream::new(tcp, pre, tls.ktls);
    let mut s = crate::net::io::with_deadline(deadline, acceptor.accept(hs))
        .await
        .map_err(HandshakeError::from_accept)?;
    let (version, suite, sni, alpn, client_cert, resumed) = {
        let c = s.get_ref().1;
        let client_cert = c.peer_certificates().and_then(|chain| {
            let code = tls
                .client_verify
                .as_ref()
                .map_or((0, false), |v| v.code(chain));
            ClientCert::from_chain(chain, code).map(Arc::new)
        });
        (
            c.protocol_version(),
            c.negotiated_cipher_suite().map(|s| s.suite()),
            c.server_name().map(str::to_string),
            c.alpn_protocol().and_then(|p| match p {
                b"h2" => Some("h2"),
                b"http/1.1" => Some("http/1.1"),
                _ => None,
            }),
            client_cert,
            c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        )
    };
    let served = tls.certs.as_ref().and_then(|c| c.served(sni.as_deref()));
    let mut info = Negotiated {
        served,
        sni,
        version: crate::tls::Version::of(version),
        alpn,
        record_layer: "rustls".into(),
        client_cert,
        suite,
        resumed,
    };
    // (`tls.ktls` is only set when the start-up probe found kTLS: no probe otherwise.)
    let handoff_ok = tls.ktls
        && version
            .zip(suite)
            .is_some_and(|(v, c)| ktls::probe().supports(v, c))
        && s.get_ref().0.at_record_boundary();
    if !handoff_ok {
        // Reads need not stop at record boundaries any more.
        s.get_mut().0.corked = None;
        return Ok(Accepted {
            client: Client::Tls(Box::new(s)),
            info,
            early: Vec::new(),
        });
    }
    // TLS 1.3 session tickets are written after the handshake: out before the hand-off,
    // since they move the record sequence number.
    crate::net::io::with_deadline(deadline, s.flush())
        .await
        .map_err(HandshakeError::Tickets)?;
    let (hs, conn) = s.into_inner();
    match ktls::handoff(
        crate::sys::fd(&hs.tcp),
        conn,
        ktls::probe(),
        hs.at_record_boundary(),
    ) {
        Ok(Handoff {
            plaintext,
            version,
            cipher,
        }) => {
            info.record_layer = format!("kTLS {version:?} {}", cipher.name());
            Ok(Accepted {
                client: Client::Ktls(KtlsStream::new(hs.tcp)),
                info,
                early: plaintext,
            })
        }
        // The checks above make these unexpected: the rustls state is not recoverable as a
        // stream once taken out of futures-rustls, so the connection ends here.
        Err(HandoffError::Declined { reason, .. }) => Err(HandshakeError::HandoffDeclined(reason)),
        Err(HandoffError::Failed(e)) => Err(HandshakeError::HandoffFailed(e)),
    }
}

/// What to do after a read on a kTLS socket failed with EIO (`splice`: EINVAL or EIO): a
/// non-data record is at the head of the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum KtlsNext {
    /// Application data landed in the buffer (0: end of stream).
    Data(usize),
    /// A record to ignore was consumed, or nothing was there after all: read again.
    Again,
}

/// Reads the record that made a kTLS read fail into `buf` and says what follows. Alerts,
/// KeyUpdates and unexpected handshake messages are errors (the connection closes);
/// close_notify is the end of the stream.
pub fn ktls_next(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<KtlsNext> {
    match ktls::read_record(fd, buf) {
        Ok(r) => match r {
            ktls::Record::Data(n) => Ok(KtlsNext::Data(n)),
            other => match other.action() {
                Action::Continue => Ok(KtlsNext::Again),
                Action::Eof => Ok(KtlsNext::Data(0)),
                Action::Close(why) => Err(io::Error::other(why)),
            },
        },
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(KtlsNext::Again),
        Err(e) => Err(e),
    }
}

/// Whether an error from reading or splicing a kTLS socket means "a non-data record".
pub fn is_ktls_record_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
}

/// A client socket whose TLS records the kernel runs: reads and writes are plaintext.
/// Closing sends close_notify first, as HAProxy does.
pub struct KtlsStream {
    pub tcp: TcpStream,
    notified: bool,
}

impl KtlsStream {
    fn new(tcp: TcpStream) -> KtlsStream {
        KtlsStream {
            tcp,
            notified: false,
        }
    }
}

impl AsyncRead for KtlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A few records to skip at most before letting other tasks run.
        for _ in 0..8 {
            match Pin::new(&mut this.tcp).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                    match ktls_next(crate::sys::fd(&this.tcp), buf) {
                        Ok(KtlsNext::Data(n)) => return Poll::Ready(Ok(n)),
                        Ok(KtlsNext::Again) => continue,
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                other => return other,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncWrite for KtlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.notified {
            this.notified = true;
            let _ = ktls::send_close_notify(crate::sys::fd(&this.tcp));
        }
        Pin::new(&mut this.tcp).poll_close(cx)
    }
}

/// Sends close_notify (rustls or kernel) and shuts the write side, bounded in time: a
/// clean TLS end for clients that check it.
pub async fn close_client<S: AsyncWrite + Unpin>(s: &mut S) {
    let deadline = Instant::now() + std::time::Duration::from_secs(1);
    let _ = crate::net::io::with_deadline(Some(deadline), s.close()).await;
}

/// A connection to a TLS server (`server … ssl`): rustls client over TCP.
pub type UpstreamTls = futures_rustls::client::TlsStream<TcpStream>;

/// The name to present to a server: `sni` when it is a DNS name, else the server's
/// address (rustls never sends an address as SNI, and `enable_sni` is off without `sni`).
pub fn server_name(
    sni: Option<&[u8]>,
    ip: std::net::IpAddr,
) -> rustls::pki_types::ServerName<'static> {
    use rustls::pki_types::ServerName;
    sni.and_then(|s| std::str::from_utf8(s).ok())
        .map(|s| s.split(':').next().unwrap_or(s))
        .filter(|s| !s.is_empty())
        .and_then(|s| ServerName::try_from(s.to_string()).ok())
        .unwrap_or(ServerName::IpAddress(ip.into()))
}

/// The TLS handshake with a server, until `deadline`.
pub async fn connect_server(
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    tcp: TcpStream,
    deadline: Option<Instant>,
) -> io::Result<UpstreamTls> {
    let c = futures_rustls::TlsConnector::from(config);
    crate::net::io::with_deadline(deadline, c.connect(name, tcp)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_handshake_is_worded_as_haproxy_logs_it() {
        let from = |k: io::ErrorKind| HandshakeError::from_accept(io::Error::new(k, "x"));
        let timeout = from(io::ErrorKind::TimedOut);
        assert_eq!(timeout.log_reason(), "Timeout during SSL handshake");
        assert_eq!(timeout.to_string(), "SSL handshake timeout");
        let closed = from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            closed.log_reason(),
            "Connection closed during SSL handshake"
        );
        // A failure whose detail says "timeout" is still a failure, not a timeout.
        let failed = HandshakeError::from_accept(io::Error::other("peer sent a timeout alert"));
        assert!(matches!(failed, HandshakeError::Failed(_)));
        assert_eq!(failed.log_reason(), "SSL handshake failure");
        assert_eq!(
            failed.to_string(),
            "SSL handshake failure: peer sent a timeout alert"
        );
        let tickets = HandshakeError::Tickets(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(tickets.log_reason(), "SSL handshake failure");
    }
}
