//! Connecting to a server on a local stream socket (`server … unix@/path`, `/path`,
//! `abns@name`). It comes back as glommio's `TcpStream`, whose I/O (recv/send through
//! io_uring) works on any connected stream socket; TCP-only options set later
//! (TCP_NODELAY, keep-alive) fail harmlessly on a unix socket and are ignored.

use crate::config::addr::SockPath;
use glommio::net::TcpStream;
use std::io;

/// Connects to `p`. A local connect completes at once or fails at once (EAGAIN: the
/// server's backlog is full; ECONNREFUSED / ENOENT: nobody listens), so it needs no timer.
pub fn dial_path(p: &SockPath) -> io::Result<TcpStream> {
    let s = socket2::Socket::new(
        socket2::Domain::UNIX,
        socket2::Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    s.connect(&p.sockaddr()?)?;
    Ok(crate::sys::glommio_stream(s))
}
