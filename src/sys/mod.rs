//! The one place with `unsafe`: raw file descriptors, splice(2), pipes, resource limits, and
//! the kTLS socket options ([`ktls`]).
//! Each block says why it is sound. Everything outside this module is safe code: the crate
//! root denies `unsafe_code` and allows it here alone, and these functions take descriptors
//! as `BorrowedFd` (see [`fd`] for glommio's sockets), never as a bare `RawFd`.
//!
//! Layer: the bottom (uses nothing of corelb); anyone may use it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

#[cfg(test)]
pub mod counting_alloc;
pub mod ktls;
pub mod ports;
pub mod slot;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A non-blocking pipe used as the kernel buffer between two sockets.
#[derive(Debug)]
pub struct Pipe {
    pub rd: OwnedFd,
    pub wr: OwnedFd,
    /// Capacity in bytes as the kernel set it.
    pub cap: usize,
}

impl Pipe {
    /// Creates a pipe with O_NONBLOCK (splice must never block a shard) and O_CLOEXEC, and
    /// asks for `size` bytes of capacity (0 keeps the kernel default of 64 KiB; the kernel
    /// rounds up to pages and caps at /proc/sys/fs/pipe-max-size for unprivileged users).
    pub fn new(size: usize) -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
        // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if size > 0 {
            // A failure (e.g. EPERM above pipe-max-size) leaves the default size: not fatal.
            // SAFETY: F_SETPIPE_SZ takes an int argument; the fd is valid.
            let _ = unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
        }
        // SAFETY: F_GETPIPE_SZ takes no argument; the fd is valid.
        let r = unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let cap = if r > 0 { r as usize } else { 65536 };
        Ok(Pipe { rd, wr, cap })
    }
}

/// splice(2) between two descriptors without blocking on the pipe side
/// (SPLICE_F_NONBLOCK); the socket side must be O_NONBLOCK itself.
pub fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: splice only reads the descriptors and null offsets; invalid fds give EBADF.
    cvt_size(unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    })
}

/// read(2) on a descriptor (used to take bytes out of a pipe).
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// write(2) on a descriptor (used to put a byte into a pipe).
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Waits up to `timeout_ms` for `fd` to accept writes (poll(2) POLLOUT); for a thread that
/// may block, never for a shard.
pub fn wait_writable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and its count is 1.
    cvt(unsafe { libc::poll(&mut p, 1, timeout_ms) })?;
    Ok(())
}

/// Puts a descriptor in non-blocking mode (splice on sockets relies on it).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL with an int flag set on a valid fd.
    unsafe {
        let fd = fd.as_raw_fd();
        let fl = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        if fl & libc::O_NONBLOCK == 0 {
            cvt(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK))?;
        }
    }
    Ok(())
}

/// Bytes waiting in a socket's receive queue (FIONREAD), used to tell EOF from "no data".
pub fn bytes_readable(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) })?;
    Ok(n.max(0) as usize)
}

/// Bytes of a socket's send queue the peer has not acknowledged yet (SIOCOUTQ), for a
/// socket known by its number that the caller holds open. 0 when it cannot be told.
pub fn bytes_unacked_raw(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int through the pointer; the caller keeps the
    // descriptor open across the call.
    match cvt(unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) }) {
        Ok(_) => n.max(0) as usize,
        Err(_) => 0,
    }
}

/// The kernel's TCP_INFO of a socket known by its number that the caller holds open
/// (the `fc_rtt`… fetches); `None` when the call fails.
pub fn tcp_info_raw(fd: RawFd) -> Option<libc::tcp_info> {
    // SAFETY: `tcp_info` is plain data, valid when zeroed.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `info`; the caller keeps the
    // descriptor open across the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    cvt(r).ok().map(|_| info)
}

/// A listening socket handed over to glommio, with its descriptor: glommio's `TcpListener`
/// does not expose it, and `accept` needs it.
pub struct GlommioListener {
    pub listener: glommio::net::TcpListener,
    fd: RawFd,
}

impl GlommioListener {
    /// The listening socket's descriptor, borrowed for as long as the listener is.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `listener` owns `fd` and closes it only when dropped, which the borrow of
        // `self` rules out for the returned lifetime.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

/// Hands a listening socket over to glommio on the current executor thread.
pub fn glommio_listener(sock: socket2::Socket) -> GlommioListener {
    use std::os::fd::IntoRawFd;
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is an open, bound, listening TCP socket whose ownership we give away.
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
    GlommioListener { listener, fd }
}

/// Hands a connected TCP socket over to glommio on the current executor thread.
pub fn glommio_stream(sock: socket2::Socket) -> glommio::net::TcpStream {
    use std::os::fd::IntoRawFd;
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is an open, connected TCP socket whose ownership we give away.
    unsafe { glommio::net::TcpStream::from_raw_fd(fd) }
}

/// `silent-drop` on a client socket known by its number: TTL (hop limit) 1 so that the reset
/// dies on the way, and SO_LINGER 0 so that closing it sends that reset. The caller keeps the
/// socket open across the call (the client connection of the exchange that runs the rule).
pub fn silent_drop_raw(fd: RawFd) {
    // SAFETY: only setsockopt calls on the number, while the caller holds the socket open;
    // no memory is shared with the descriptor.
    silent_drop(unsafe { BorrowedFd::borrow_raw(fd) });
}

/// An integer socket option on a descriptor held open by the caller (`set-tos`,
/// `set-mark` on the client connection).
pub fn setsockopt_raw(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: i32) -> io::Result<()> {
    // SAFETY: only a setsockopt call on the number, while the caller holds the socket open.
    setsockopt_int(unsafe { BorrowedFd::borrow_raw(fd) }, level, opt, v)
}

/// `silent-drop`: a reset that is not meant to reach the client (HAProxy lowers the TTL so
/// that the reset dies on the way; on the same host it still arrives).
pub fn silent_drop(fd: BorrowedFd<'_>) {
    with_sockref(fd, |s| s.set_ttl(1).or_else(|_| s.set_unicast_hops_v6(1))).ok();
    reset_on_close(fd);
}

/// Makes the socket's close a reset (SO_LINGER 0): `silent-drop`, `reject`, and
/// `option nolinger` on either side.
pub fn reset_on_close(fd: BorrowedFd<'_>) {
    with_sockref(fd, |s| s.set_linger(Some(std::time::Duration::ZERO))).ok();
}

/// `http-request reject` on a client socket known by its number: SO_LINGER 0, so that
/// closing it sends a reset (HAProxy's `sc_must_kill_conn`). As for [`silent_drop_raw`],
/// the caller keeps the socket open across the call.
pub fn reset_raw(fd: RawFd) {
    // SAFETY: a setsockopt call on the number, while the caller holds the socket open.
    reset_on_close(unsafe { BorrowedFd::borrow_raw(fd) });
}

/// A borrowed view of a socket for setting options with socket2.
pub fn with_sockref<T>(fd: BorrowedFd<'_>, f: impl FnOnce(&socket2::Socket) -> T) -> T {
    f(&socket2::SockRef::from(&fd))
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for glommio::net::TcpStream {}
}

/// A glommio socket: it owns its descriptor and closes it only when dropped. glommio's
/// types implement `AsRawFd` but not `AsFd`; [`fd`] bridges the two.
pub trait GlommioSocket: AsRawFd + sealed::Sealed {}
impl GlommioSocket for glommio::net::TcpStream {}

/// The descriptor of a glommio socket, borrowed for as long as the socket is.
pub fn fd<S: GlommioSocket>(s: &S) -> BorrowedFd<'_> {
    // SAFETY: `s` owns the descriptor and keeps it open until it is dropped, which the
    // borrow of `s` rules out for the returned lifetime.
    unsafe { BorrowedFd::borrow_raw(s.as_raw_fd()) }
}

/// RLIMIT_* values (soft, hard).
pub fn getrlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct.
    cvt(unsafe { libc::getrlimit(resource, &mut r) })?;
    Ok((r.rlim_cur, r.rlim_max))
}

pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads one rlimit struct.
    cvt(unsafe { libc::setrlimit(resource, &r) })?;
    Ok(())
}

pub use libc::{RLIMIT_MEMLOCK, RLIMIT_NOFILE};

pub fn user_id(name: &str) -> Option<u32> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

pub fn group_id(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Drops privileges and/or changes root, after the listeners are bound.
pub fn chroot(dir: &std::path::Path) -> io::Result<()> {
    nix::unistd::chroot(dir)?;
    nix::unistd::chdir("/")?;
    Ok(())
}

pub fn set_ids(uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    if let Some(g) = gid {
        let g = nix::unistd::Gid::from_raw(g);
        nix::unistd::setgroups(&[g])?;
        nix::unistd::setgid(g)?;
    }
    if let Some(u) = uid {
        nix::unistd::setuid(nix::unistd::Uid::from_raw(u))?;
    }
    Ok(())
}

/// `set-dumpable`, before privileges are dropped: the core and file size limits raised to
/// unlimited, or to their hard limit where that is not allowed (HAProxy's order).
pub fn raise_dump_limits() {
    for r in [libc::RLIMIT_CORE, libc::RLIMIT_FSIZE] {
        if setrlimit(r, libc::RLIM_INFINITY, libc::RLIM_INFINITY).is_err()
            && let Ok((_, hard)) = getrlimit(r)
        {
            let _ = setrlimit(r, hard, hard);
        }
    }
}

/// `set-dumpable`, after privileges are dropped: the kernel clears the dumpable flag on a
/// change of user; this sets it again.
pub fn set_dumpable() -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes one integer argument and touches no memory of ours.
    cvt(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) })?;
    Ok(())
}

/// The local time broken down, for log timestamps.
pub fn localtime(secs: i64) -> libc::tm {
    // SAFETY: localtime_r fills the zeroed tm struct we own; `t` is a valid time_t.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs;
        libc::localtime_r(&t, &mut tm);
        tm
    }
}

/// The UTC time broken down (`utime`, `http_date` converters).
pub fn gmtime(secs: i64) -> libc::tm {
    // SAFETY: gmtime_r fills the zeroed tm struct we own; `t` is a valid time_t.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs;
        libc::gmtime_r(&t, &mut tm);
        tm
    }
}

/// `strftime(3)` of `tm` with `fmt`, at most 1 KiB (the `ltime`/`utime` converters).
pub fn strftime(fmt: &std::ffi::CStr, tm: &libc::tm) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    // SAFETY: strftime writes at most `buf.len()` bytes into `buf` and returns how many;
    // `fmt` is NUL-terminated and `tm` a valid broken-down time.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), tm) };
    buf.truncate(n);
    buf
}

/// The abbreviated zone name of a time `localtime` returned (`UTC`, `CET`), or "".
pub fn zone_name(tm: &libc::tm) -> String {
    if tm.tm_zone.is_null() {
        return String::new();
    }
    // SAFETY: localtime_r points tm_zone at a NUL-terminated name that lives as long as the
    // process's time zone data, which is never unloaded.
    unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
        .to_string_lossy()
        .into_owned()
}

/// Sets an environment variable of this process (`-L` exports `HAPROXY_LOCALPEER`).
/// Call it only while the process has one thread (at the start of `main`).
pub fn setenv_at_start(key: &str, value: &str) {
    // SAFETY: the environment is only unsafe to change while other threads may read it;
    // callers do this before any thread is started.
    unsafe { std::env::set_var(key, value) }
}

pub fn getpid() -> u32 {
    std::process::id()
}

/// Sends a signal to a process (for `-sf`/`-st`).
pub fn kill(pid: i32, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    cvt(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// setsockopt with an int value.
pub fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a valid int of the size we pass.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The peer address given to a connection accepted on a unix socket.
pub const NO_PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// A duplicate of descriptor `n`, inherited from the parent process (`fd@N`); `n` itself
/// stays open, owned by nobody in particular, for the next generation to dup again.
pub fn dup_inherited(n: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: the fd is only borrowed for the duration of the dup (F_DUPFD_CLOEXEC), which
    // fails with EBADF if it is not open.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(n) }.try_clone_to_owned()
}

/// accept4 on a non-blocking listener: the new socket is non-blocking and close-on-exec
/// (one syscall; glommio's own accept costs four). Returns the peer address too; a unix
/// client's is [`NO_PEER`].
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<(socket2::Socket, std::net::SocketAddr)> {
    let mut storage: libc::sockaddr_storage = unsafe_zeroed_storage();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage/len describe a writable sockaddr_storage.
    let nfd = cvt(unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 returned a new fd that nobody else owns.
    let sock = unsafe { socket2::Socket::from_raw_fd(nfd) };
    // SAFETY: the kernel wrote a valid address of `len` bytes into storage.
    let addr = unsafe { socket2::SockAddr::new(storage, len) };
    Ok((sock, addr.as_socket().unwrap_or(NO_PEER)))
}

fn unsafe_zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// shutdown(2) on a socket.
pub fn shutdown(fd: BorrowedFd<'_>, how: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) })?;
    Ok(())
}

/// Whether an idle connection is still usable: a non-blocking MSG_PEEK says EAGAIN (open, no
/// data). 0 (the peer closed) or unexpected data mean it must not be reused.
pub fn idle_socket_alive(fd: BorrowedFd<'_>) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: `b` is valid for one byte.
    let r = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// Before closing a socket with SO_LINGER 0 (`option nolinger`): shuts its write side (a
/// FIN ahead of the reset) unless the peer already ended, as HAProxy's clean shutdown does
/// (it skips it once the peer's end was read). A non-blocking MSG_PEEK reading 0 is the end.
pub fn shut_write_unless_ended(fd: BorrowedFd<'_>) {
    let mut b = [0u8; 1];
    // SAFETY: `b` is valid for one byte.
    let r = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if r != 0 {
        let _ = shutdown(fd, libc::SHUT_WR);
    }
}

/// Most descriptors one SCM_RIGHTS message carries (HAProxy's MAX_SEND_FD).
pub const MAX_SEND_FD: usize = 253;

/// Sends `data` with `fds` attached (SCM_RIGHTS) on a unix stream socket.
pub fn send_fds(
    sock: &std::os::unix::net::UnixStream,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let iov = [io::IoSlice::new(data)];
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(io::Error::from)?;
    Ok(())
}

/// Receives up to `buf.len()` bytes and the descriptors attached to them (at most
/// [`MAX_SEND_FD`]), each owned by the caller (O_CLOEXEC).
pub fn recv_fds(
    sock: &std::os::unix::net::UnixStream,
    buf: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; MAX_SEND_FD]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(v) = c {
            for fd in v {
                // SAFETY: the kernel just installed `fd` in this process for this message;
                // nothing else owns it.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok((msg.bytes, fds))
}

/// How an outgoing TCP socket is made before its connect (`source … usesrc`, `source …
/// interface`, `server … namespace`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Outgoing<'a> {
    /// The local address to bind (`source`, or the client's with `usesrc`).
    pub from: Option<std::net::SocketAddr>,
    /// IP_TRANSPARENT: the local address need not be one of this host's (full transparent
    /// proxying; needs CAP_NET_ADMIN, and the servers' replies routed back through here).
    pub transparent: bool,
    /// SO_BINDTODEVICE (needs CAP_NET_RAW).
    pub interface: Option<&'a str>,
    /// A network namespace by name (`/var/run/netns/NAME`, as `ip netns` makes them).
    pub netns: Option<&'a str>,
    /// TCP_FASTOPEN_CONNECT (`server … tfo`): once the server's cookie is known the connect
    /// completes at once and the first write carries its data in the SYN.
    pub fastopen: bool,
    /// `source ADDR:LOW-HIGH`: the port to bind is one of the range not in use.
    pub ports: Option<&'a std::sync::Arc<ports::PortRange>>,
}

/// A TCP socket for a connect to `to`, made as `o` says (in its namespace, options set,
/// bound), ready for `TcpStream::connect_prepared`; with the port it took of a range, to
/// hold for the connection's socket once connected (`ports::Lease::hold_for`).
pub fn outgoing_socket(
    to: std::net::SocketAddr,
    o: &Outgoing<'_>,
) -> io::Result<(OwnedFd, Option<ports::Lease>)> {
    let domain = if to.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let make = || socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP));
    let sock = match o.netns {
        Some(name) => in_netns(name, make)??,
        None => make()?,
    };
    if let Some(dev) = o.interface {
        sock.bind_device(Some(dev.as_bytes()))?;
    }
    if o.fastopen {
        let fd = std::os::fd::AsFd::as_fd(&sock);
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT, 1)?;
    }
    if let Some(from) = o.from {
        sock.set_reuse_address(true)?;
        let fd = std::os::fd::AsFd::as_fd(&sock);
        if o.transparent {
            let (level, opt) = if from.is_ipv6() {
                (libc::SOL_IPV6, libc::IPV6_TRANSPARENT)
            } else {
                (libc::SOL_IP, libc::IP_TRANSPARENT)
            };
            setsockopt_int(fd, level, opt, 1)?;
        }
        if let Some(range) = o.ports {
            if !o.transparent {
                return bind_in_range(sock, from, range);
            }
            // HAProxy's tcp_bind_socket with `usesrc`: the presented address keeps its own
            // port (the client's, ADDR2's, or the system's), yet a port of the range is
            // taken all the same: the range bounds the server's connections.
            let lease = range.take().ok_or_else(|| bind_error(ports::EXHAUSTED))?;
            sock.bind(&from.into())
                .map_err(|_| bind_error(ports::CANT_BIND))?;
            return Ok((sock.into(), Some(lease)));
        }
        if from.port() == 0 {
            // As connect_from: the port is picked at connect, per 4-tuple (a failure only
            // loses that, on kernels before 4.2).
            let _ = setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1);
        }
        sock.bind(&from.into())?;
    }
    Ok((sock.into(), None))
}

/// Binds `sock` to `from` with a port of `range`, as HAProxy's tcp_connect_server: a port
/// that will not bind (another socket of this host holds it) goes back and the next is
/// tried, ten in all; an error says why none was bound ([`ports::bind_failed`]).
fn bind_in_range(
    sock: socket2::Socket,
    mut from: std::net::SocketAddr,
    range: &std::sync::Arc<ports::PortRange>,
) -> io::Result<(OwnedFd, Option<ports::Lease>)> {
    for _ in 0..10 {
        let lease = range.take().ok_or_else(|| bind_error(ports::EXHAUSTED))?;
        from.set_port(lease.port());
        if sock.bind(&from.into()).is_ok() {
            return Ok((sock.into(), Some(lease)));
        }
    }
    Err(bind_error(ports::CANT_BIND))
}

fn bind_error(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::AddrNotAvailable, ports::BindFailed(why))
}

thread_local! {
    /// This thread's own network namespace, and those it entered, by name.
    static NETNS: std::cell::RefCell<std::collections::HashMap<String, OwnedFd>> =
        Default::default();
}

/// Whether `/var/run/netns/NAME` can be opened (the configuration's check).
pub fn netns_exists(name: &str) -> bool {
    std::fs::File::open(netns_path(name)).is_ok()
}

fn netns_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/var/run/netns").join(name)
}

/// Runs `f` with this thread in network namespace `name` (a socket made there stays
/// there), then returns to the thread's own. The namespaces' descriptors are kept per thread.
pub fn in_netns<T>(name: &str, f: impl FnOnce() -> T) -> io::Result<T> {
    NETNS.with(|m| {
        let mut m = m.borrow_mut();
        if !m.contains_key("") {
            let own = std::fs::File::open("/proc/thread-self/ns/net")?;
            m.insert(String::new(), own.into());
        }
        if !m.contains_key(name) {
            let ns = std::fs::File::open(netns_path(name)).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open namespace '{name}': {e}"))
            })?;
            m.insert(name.to_string(), ns.into());
        }
        let enter = |fd: &OwnedFd| {
            // SAFETY: setns on an open namespace descriptor; it changes only this thread.
            cvt(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) })
        };
        enter(&m[name])?;
        let out = f();
        enter(&m[""]).expect("return to the thread's own network namespace");
        Ok(out)
    })
}

#[cfg(test)]
mod outgoing_tests {
    use super::*;

    /// `usesrc` with an address that is none of this host's binds only with IP_TRANSPARENT
    /// (as root: CAP_NET_ADMIN).
    #[test]
    fn a_transparent_socket_binds_a_foreign_address() {
        let to: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let foreign = Some("192.0.2.7:0".parse().unwrap());
        let plain = Outgoing {
            from: foreign,
            ..Default::default()
        };
        let err = outgoing_socket(to, &plain).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
        let transparent = Outgoing {
            transparent: true,
            ..plain
        };
        match outgoing_socket(to, &transparent) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                eprintln!("SKIP: IP_TRANSPARENT needs CAP_NET_ADMIN")
            }
            Err(e) => panic!("{e}"),
        }
    }
}
