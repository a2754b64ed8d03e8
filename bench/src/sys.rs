//! The crate's only `unsafe`: handing a socket2 listener to glommio, and raising RLIMIT_NOFILE.

use std::os::fd::IntoRawFd;

/// Turns a bound, listening socket into a glommio listener on the current executor.
///
/// Must run inside the executor thread that will accept on it (glommio ties the listener to
/// that thread's reactor).
pub fn glommio_listener(socket: socket2::Socket) -> glommio::net::TcpListener {
    use std::os::fd::FromRawFd;
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is a valid listening TCP socket we own: `into_raw_fd` released it from
    // `socket` without closing it, and the listener takes over closing it.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
}

/// Raises the soft open-files limit to the hard one: a load generator and a backend each hold
/// one descriptor per connection, and the usual soft limit (1024) is far below a benchmark's
/// needs. Returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass, which outlives the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}
