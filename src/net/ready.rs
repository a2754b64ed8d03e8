//! Waiting until a client connection has something to read, without a buffer: a keep-alive
//! connection between two requests holds no input buffer (nor its request's state), and
//! takes them when readiness says bytes arrived (mode http's session, `proxy::http`).
//!
//! Readiness is glommio's read-readiness poll (armed after each short read, so the wait
//! costs no system call); for TLS in user space, plaintext or a close that rustls holds
//! already counts as ready.

use crate::net::io::with_deadline;
use crate::net::tls::{HsStream, KtlsStream, ServerTlsStream};
use glommio::net::TcpStream;
use std::io;
use std::task::{Context, Poll};
use std::time::Instant;

/// A stream that can tell when a read may find something (data, EOF or an error). Ready
/// may be spurious (the read then waits as usual); it is never late.
pub trait ReadReady {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ReadReady for TcpStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx).map_err(io::Error::from)
    }
}

impl<T: ReadReady + ?Sized> ReadReady for &mut T {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_read_ready(cx)
    }
}

/// kTLS: the socket carries plaintext (a control record shows up as a read error, which
/// the read handles).
impl ReadReady for KtlsStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ReadReady::poll_read_ready(&mut self.tcp, cx)
    }
}

impl ReadReady for HsStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_pending() {
            return Poll::Ready(Ok(()));
        }
        ReadReady::poll_read_ready(&mut self.tcp, cx)
    }
}

/// rustls in user space: what it has decrypted and not handed out yet (or a close_notify
/// it received) is ready; a partial record needs the socket like an empty one.
impl ReadReady for ServerTlsStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (io, conn) = self.get_mut();
        if !conn.wants_read() {
            return Poll::Ready(Ok(()));
        }
        io.poll_read_ready(cx)
    }
}

/// Waits until `r` may have something to read, or `deadline` (`ErrorKind::TimedOut`).
pub async fn readable<R: ReadReady>(r: &mut R, deadline: Option<Instant>) -> io::Result<()> {
    with_deadline(deadline, std::future::poll_fn(|cx| r.poll_read_ready(cx))).await
}
