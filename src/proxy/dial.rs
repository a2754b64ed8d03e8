//! Opening a connection to a server: TCP to an IP address and port, or a local stream
//! socket (`server … unix@/path`, `/path`, `abns@name`). Both come back as glommio's
//! `TcpStream`, whose I/O (recv/send through io_uring) works on any connected stream
//! socket; TCP-only options set later (TCP_NODELAY, keep-alive) fail harmlessly on a unix
//! socket and are ignored.

pub use crate::config::addr::Dest;
use glommio::net::TcpStream;
use std::io;
use std::time::Duration;

/// Connects, within `timeout` when one is given (a timeout is `ErrorKind::TimedOut`).
pub async fn dial(dest: Dest<'_>, timeout: Option<Duration>) -> io::Result<TcpStream> {
    match dest {
        Dest::Inet(addr) => match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t).await,
            None => TcpStream::connect(addr).await,
        }
        .map_err(io::Error::from),
        // A local connect completes at once or fails at once (EAGAIN: the server's backlog
        // is full; ECONNREFUSED / ENOENT: nobody listens), so it needs no timer.
        Dest::Path(p) => {
            let s = socket2::Socket::new(
                socket2::Domain::UNIX,
                socket2::Type::STREAM.nonblocking().cloexec(),
                None,
            )?;
            s.connect(&p.sockaddr()?)?;
            Ok(crate::sys::glommio_stream(s))
        }
    }
}
