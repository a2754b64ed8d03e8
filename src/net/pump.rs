//! mode tcp's data path: bytes move between the client and the server socket in both
//! directions, copied through a small buffer while they come in small reads, and through a
//! pipe with splice(2), never through user space, once a direction carries bulk.
//!
//! **When to splice** (HAProxy's `splice-auto`, see [`Splice`]): a splice through a pipe
//! costs about four system calls per chunk against a `recv` and a `send` for a copy, so a
//! short message is cheaper copied. Each direction starts copying through a 16 KiB buffer
//! from the shard's spare buffers; three reads in a row that fill it make it a streamer,
//! which splices; three passes of at most half a buffer between two waits for data make it
//! interactive again. A copying direction gives its buffer back whenever it waits for
//! data, so an idle tunnel holds no buffer and no pipe. It reads with receives submitted to
//! the ring (glommio's `set_recv_on_ring`: the kernel picks a buffer of the shard's buffer
//! ring when data arrives), not a readiness poll and a `recv`; a direction turns them off
//! on its source when it starts splicing and on again when it copies again.
//!
//! glommio 0.9 has no splice and no public "wait until readable/writable" for a raw fd. What
//! it does have is `poll_read`/`poll_write` on its `TcpStream`, which try the syscall and,
//! on EAGAIN, register with io_uring for readiness. So each direction waits like this:
//!
//! - **readable**: when splice(socket → pipe) says EAGAIN on an empty pipe, the socket is
//!   empty: `poll_read` one byte. When it arrives it goes into the (empty) pipe first, so
//!   order is kept, and splicing resumes behind it.
//! - **writable**: when splice(pipe → socket) says EAGAIN, the socket's send buffer is full:
//!   take one byte out of the pipe and `poll_write` it. glommio waits for writability; once
//!   that byte is out the rest of the pipe follows by splice.
//!
//! Measured here (docs/design.md, "The tcp data path"): this costs one byte through user space
//! per wait, keeps segments large, and beat copying out the whole pipe on EAGAIN and a helper
//! thread with epoll. A direction holds a pipe only while bytes are in flight. When no pipe
//! is available (fd or pipe-memory limits), a splicing direction copies through a buffer
//! instead, and goes back to pipes when it can.
//!
//! Everything here runs inside one connection's task: [`Tunnel`] owns both streams mutably
//! and drives the two [`Dir`] state machines from one `poll`, so neither direction needs the
//! other's stream.

use crate::cluster::counters::ShardStats;
use crate::config::{PumpKind, SpliceOptions};
use crate::net::buffers;
use crate::net::shard::ShardCtx;
use crate::sys::{self, Pipe};
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Which connection a problem happened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Client,
    Server,
}

/// How a tunnel ended.
#[derive(Debug)]
pub enum End {
    /// Both directions finished (each side shut down its sending half).
    Closed,
    /// A side was inactive for longer than its timeout.
    Timeout(Peer),
    /// A socket error (reset, broken pipe…) on that side.
    Error(Peer, io::Error),
}

/// The inactivity limits of a tunnel (None = no limit), resolved from the frontend and
/// backend as HAProxy does: `tunnel` replaces client/server once data flows, and the `*-fin`
/// variants apply once one direction is shut.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub tunnel: Option<Duration>,
}

impl Timeouts {
    fn client(&self, half_closed: bool) -> Option<Duration> {
        half_closed
            .then_some(self.client_fin)
            .flatten()
            .or(self.tunnel)
            .or(self.client)
    }
    fn server(&self, half_closed: bool) -> Option<Duration> {
        half_closed
            .then_some(self.server_fin)
            .flatten()
            .or(self.tunnel)
            .or(self.server)
    }
}

/// Copy buffer size (copy pump and fallback). Taken from the shard's spare buffers and given
/// back as soon as a direction is drained, so a fallback chunk or a kTLS control record
/// does not allocate and zero-fill a new one.
const COPY_BUF: usize = 64 * 1024;
/// Copy buffer of a `splice-auto` direction before it splices: HAProxy's default buffer
/// size (and corelb's `tune.bufsize` and copy loop's), so the spare buffers are shared.
const AUTO_BUF: usize = 16 * 1024;
/// Passes in a row that make a direction a streamer (each a read filling [`AUTO_BUF`]), or
/// interactive again (each at most half of it), as in HAProxy's channel code.
const PASSES: u8 = 3;

/// When a direction moves its bytes with splice(2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Splice {
    /// Always copied through a user-space buffer (`tune.corelb.pump copy`, `no option
    /// splice-auto`, or a socket that cannot be spliced).
    Never,
    /// Copied while reads are small, spliced while they fill the buffer (`option
    /// splice-auto`, the default).
    Auto,
    /// Always spliced (`option splice-request`/`splice-response`, `tune.corelb.pump
    /// splice`, a kTLS client).
    Always,
}

impl Splice {
    /// The policy of each direction (client → server, server → client) of a plain mode tcp
    /// connection: `tune.corelb.pump copy` and `splice` decide for every proxy; `auto` (the
    /// default) follows `option splice-*` on the frontend and the backend, an option set on
    /// either applying, as in HAProxy.
    pub fn for_tunnel(pump: PumpKind, fe: SpliceOptions, be: SpliceOptions) -> (Splice, Splice) {
        let dir = |always: bool| match pump {
            PumpKind::Copy => Splice::Never,
            PumpKind::Splice => Splice::Always,
            PumpKind::Auto if always => Splice::Always,
            PumpKind::Auto if fe.auto || be.auto => Splice::Auto,
            PumpKind::Auto => Splice::Never,
        };
        (
            dir(fe.request || be.request),
            dir(fe.response || be.response),
        )
    }
}
/// Work one direction may do per poll before yielding to other connections.
const BUDGET: u32 = 32;

enum State {
    /// Nothing in flight: next, read from the source.
    Idle,
    /// `len` bytes of the source are in the pipe.
    Piped { pipe: Pipe, len: usize },
    /// The destination was full: `byte`, taken from the head of the pipe, is being written
    /// with `poll_write` (which waits for writability); `len` more bytes stay in the pipe.
    Held { pipe: Pipe, len: usize, byte: u8 },
    /// Copying through user space: `buf[start..end]` is pending for the destination.
    /// `fallback` means this is only until a pipe can be had again.
    Copy {
        buf: Box<[u8]>,
        start: usize,
        end: usize,
        fallback: bool,
        reads: u32,
    },
    /// The source ended and the destination's write side was shut down.
    Done,
}

#[derive(Default)]
struct Act {
    read: bool,
    wrote: bool,
}

enum DirErr {
    Src(io::Error),
    Dst(io::Error),
}

/// One direction: source → destination.
pub struct Dir {
    state: State,
    eof: bool,
    policy: Splice,
    /// `Splice::Auto`: reads fill the buffer, so this direction splices.
    streamer: bool,
    /// Passes in a row counting towards a change of `streamer`.
    passes: u8,
    /// Bytes read since this direction last waited for data (while splicing).
    pass: usize,
    /// The source is a kTLS socket: a non-data record makes reads fail (EIO, splice
    /// EINVAL); it is read with `ktls_next`.
    ktls_src: bool,
    /// The destination is a kTLS socket: close_notify goes before its write side shuts.
    ktls_dst: bool,
    /// The source's end is not passed on: the destination closes with SO_LINGER 0 (its
    /// `option nolinger`), a reset instead of a FIN (HAProxy's silent shutdown).
    skip_shut: bool,
    /// Bytes delivered to the destination.
    pub bytes: u64,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Dir {
    pub fn new(policy: Splice) -> Dir {
        Dir {
            state: State::Idle,
            eof: false,
            policy,
            streamer: false,
            passes: 0,
            pass: 0,
            ktls_src: false,
            ktls_dst: false,
            skip_shut: false,
            bytes: 0,
        }
    }

    /// After a kTLS read failed on a non-data record: read that record into a copy buffer
    /// and say what state follows.
    fn ktls_record(
        &mut self,
        src_fd: std::os::fd::BorrowedFd<'_>,
        act: &mut Act,
    ) -> io::Result<State> {
        use crate::net::tls::{KtlsNext, ktls_next};
        let mut buf = buffers::take(COPY_BUF);
        let n = match ktls_next(src_fd, &mut buf) {
            Ok(KtlsNext::Data(n)) if n > 0 => n,
            other => {
                // Nothing to copy (end, control record consumed, error): give it back now.
                buffers::give_back(buf);
                return Ok(match other? {
                    KtlsNext::Data(_) => {
                        self.eof = true;
                        State::Idle
                    }
                    KtlsNext::Again => State::Idle,
                });
            }
        };
        act.read = true;
        Ok(State::Copy {
            buf,
            start: 0,
            end: n,
            fallback: self.policy != Splice::Never,
            reads: 1,
        })
    }

    fn is_record(&self, e: &io::Error) -> bool {
        self.ktls_src && crate::net::tls::is_ktls_record_error(e)
    }

    pub fn done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the next chunk goes through a pipe.
    fn splicing(&self) -> bool {
        match self.policy {
            Splice::Never => false,
            Splice::Auto => self.streamer,
            Splice::Always => true,
        }
    }

    /// `Splice::Auto`: one pass of `n` bytes read (one read while copying, the bytes
    /// between two waits for data while splicing). HAProxy's rule: a streamer is what
    /// fills the buffer [`PASSES`] times in a row, and stops being one after as many
    /// passes of at most half a buffer.
    fn note_pass(&mut self, n: usize) {
        let towards = if self.streamer {
            n <= AUTO_BUF / 2
        } else {
            n >= AUTO_BUF
        };
        self.passes = if towards { self.passes + 1 } else { 0 };
        if self.passes >= PASSES {
            self.streamer = !self.streamer;
            self.passes = 0;
        }
    }

    /// A copying direction that just became a streamer: from now on its source is read by
    /// splice, so its receives leave the ring. A read that fills [`AUTO_BUF`] comes from a
    /// `recv` (a receive on the ring brings at most one ring buffer, smaller), after which
    /// glommio arms nothing, so none is in flight; if one were, the switch waits for a
    /// later full read.
    fn leave_ring(&mut self, src: &mut TcpStream) {
        if src.ring_recv_busy() {
            self.streamer = false;
            self.passes = PASSES - 1;
        } else {
            src.set_recv_on_ring(false);
        }
    }

    fn copy_state(&self, fallback: bool) -> State {
        let size = if !fallback && self.policy == Splice::Auto {
            AUTO_BUF
        } else {
            COPY_BUF
        };
        State::Copy {
            buf: buffers::take(size),
            start: 0,
            end: 0,
            fallback,
            reads: 0,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        src: &mut TcpStream,
        dst: &mut TcpStream,
        shard: &ShardCtx,
        act: &mut Act,
    ) -> Poll<Result<(), DirErr>> {
        let stats = &shard.stats;
        let mut budget = BUDGET;
        loop {
            if budget == 0 {
                // Let other connections run; come back at once.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            budget -= 1;
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(Ok(())),
                State::Idle => {
                    if self.eof {
                        if self.skip_shut {
                            return Poll::Ready(Ok(()));
                        }
                        // The FIN goes after the last send on the ring.
                        if dst.poll_sends_done(cx).is_pending() {
                            self.state = State::Idle;
                            return Poll::Pending;
                        }
                        if self.ktls_dst {
                            // A clean TLS end, as HAProxy sends it.
                            let _ = crate::tls::ktls::send_close_notify(sys::fd(dst));
                        }
                        // Pass the half-close on; the other direction keeps flowing.
                        match sys::shutdown(sys::fd(dst), libc::SHUT_WR) {
                            Ok(()) => {}
                            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
                            Err(e) => return Poll::Ready(Err(DirErr::Dst(e))),
                        }
                        return Poll::Ready(Ok(()));
                    }
                    self.state = if !self.splicing() {
                        self.copy_state(false)
                    } else {
                        match shard.pipes.borrow_mut().get() {
                            Some(pipe) => State::Piped { pipe, len: 0 },
                            None => {
                                ShardStats::add(&stats.pipe_fallbacks, 1);
                                self.copy_state(true)
                            }
                        }
                    };
                }
                State::Piped { pipe, mut len } => {
                    if !self.eof && len < pipe.cap {
                        match sys::splice(sys::fd(src), pipe.wr.as_fd(), pipe.cap - len) {
                            Ok(0) => self.eof = true,
                            Ok(n) => {
                                len += n;
                                self.pass += n;
                                act.read = true;
                            }
                            // With bytes in the pipe, EAGAIN may mean "pipe full": drain.
                            Err(e) if would_block(&e) && len > 0 => {}
                            Err(e) if would_block(&e) => {
                                // Empty pipe and EAGAIN: the socket is empty. Give the pipe
                                // back and wait for data by reading one byte, or, if this
                                // direction no longer streams, by copying.
                                shard.pipes.borrow_mut().put(pipe);
                                if self.policy == Splice::Auto {
                                    let pass = std::mem::take(&mut self.pass);
                                    self.note_pass(pass);
                                    if !self.streamer {
                                        src.set_recv_on_ring(!self.ktls_src);
                                        self.state = State::Idle;
                                        continue;
                                    }
                                }
                                ShardStats::add(&stats.read_waits, 1);
                                let mut b = [0u8; 1];
                                match Pin::new(&mut *src).poll_read(cx, &mut b) {
                                    Poll::Ready(Ok(0)) => {
                                        self.eof = true;
                                        self.state = State::Idle;
                                    }
                                    Poll::Ready(Ok(_)) => {
                                        act.read = true;
                                        self.pass = 1;
                                        self.state = self.take_first_byte(shard, b[0]);
                                    }
                                    Poll::Ready(Err(e)) if self.is_record(&e) => {
                                        match self.ktls_record(sys::fd(src), act) {
                                            Ok(st) => self.state = st,
                                            Err(e) => return Poll::Ready(Err(DirErr::Src(e))),
                                        }
                                    }
                                    Poll::Ready(Err(e)) => return Poll::Ready(Err(DirErr::Src(e))),
                                    Poll::Pending => {
                                        self.state = State::Idle;
                                        return Poll::Pending;
                                    }
                                }
                                continue;
                            }
                            // A non-data record at the head of a kTLS socket: drain the
                            // pipe first (order), then read the record itself.
                            Err(e) if self.is_record(&e) && len > 0 => {}
                            Err(e) if self.is_record(&e) => {
                                shard.pipes.borrow_mut().put(pipe);
                                match self.ktls_record(sys::fd(src), act) {
                                    Ok(st) => self.state = st,
                                    Err(e) => return Poll::Ready(Err(DirErr::Src(e))),
                                }
                                continue;
                            }
                            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                                // This socket cannot be spliced: copy from now on.
                                shard.pipes.borrow_mut().put(pipe);
                                self.policy = Splice::Never;
                                src.set_recv_on_ring(!self.ktls_src);
                                self.state = State::Idle;
                                continue;
                            }
                            Err(e) => {
                                shard.pipes.borrow_mut().discard(pipe);
                                return Poll::Ready(Err(DirErr::Src(e)));
                            }
                        }
                    }
                    if len == 0 {
                        shard.pipes.borrow_mut().put(pipe);
                        self.state = State::Idle;
                        continue;
                    }
                    // Spliced bytes go after the last send on the ring (a direction
                    // that copied before it began to splice).
                    if dst.poll_sends_done(cx).is_pending() {
                        self.state = State::Piped { pipe, len };
                        return Poll::Pending;
                    }
                    match sys::splice(pipe.rd.as_fd(), sys::fd(dst), len) {
                        Ok(n) => {
                            len -= n;
                            self.bytes += n as u64;
                            act.wrote = true;
                            ShardStats::add(&stats.spliced, n as u64);
                            self.state = State::Piped { pipe, len };
                        }
                        Err(e) if would_block(&e) => {
                            // Destination full: hold one byte and let glommio wait for room.
                            let mut b = [0u8; 1];
                            match sys::read(pipe.rd.as_fd(), &mut b) {
                                Ok(1) => {
                                    ShardStats::add(&stats.write_waits, 1);
                                    self.state = State::Held {
                                        pipe,
                                        len: len - 1,
                                        byte: b[0],
                                    };
                                }
                                Ok(_) | Err(_) => {
                                    shard.pipes.borrow_mut().discard(pipe);
                                    return Poll::Ready(Err(DirErr::Src(io::Error::other(
                                        "pipe lost its bytes",
                                    ))));
                                }
                            }
                        }
                        Err(e) => {
                            shard.pipes.borrow_mut().discard(pipe);
                            return Poll::Ready(Err(DirErr::Dst(e)));
                        }
                    }
                }
                State::Held { pipe, len, byte } => {
                    match Pin::new(&mut *dst).poll_write(cx, &[byte]) {
                        Poll::Ready(Ok(1)) => {
                            act.wrote = true;
                            self.bytes += 1;
                            ShardStats::add(&stats.copied, 1);
                            self.state = State::Piped { pipe, len };
                        }
                        Poll::Ready(Ok(_)) => {
                            shard.pipes.borrow_mut().discard(pipe);
                            return Poll::Ready(Err(DirErr::Dst(io::ErrorKind::WriteZero.into())));
                        }
                        Poll::Ready(Err(e)) => {
                            shard.pipes.borrow_mut().discard(pipe);
                            return Poll::Ready(Err(DirErr::Dst(e)));
                        }
                        Poll::Pending => {
                            self.state = State::Held { pipe, len, byte };
                            return Poll::Pending;
                        }
                    }
                }
                State::Copy {
                    mut buf,
                    mut start,
                    mut end,
                    fallback,
                    mut reads,
                } => {
                    if start < end {
                        match Pin::new(&mut *dst).poll_write(cx, &buf[start..end]) {
                            Poll::Ready(Ok(0)) => {
                                return Poll::Ready(Err(DirErr::Dst(
                                    io::ErrorKind::WriteZero.into(),
                                )));
                            }
                            Poll::Ready(Ok(n)) => {
                                start += n;
                                self.bytes += n as u64;
                                act.wrote = true;
                                ShardStats::add(&stats.copied, n as u64);
                            }
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(DirErr::Dst(e))),
                            Poll::Pending => {
                                self.state = State::Copy {
                                    buf,
                                    start,
                                    end,
                                    fallback,
                                    reads,
                                };
                                return Poll::Pending;
                            }
                        }
                        self.state = State::Copy {
                            buf,
                            start,
                            end,
                            fallback,
                            reads,
                        };
                        continue;
                    }
                    if self.eof || (fallback && reads > 0) || (!fallback && self.splicing()) {
                        // Drained: finish, or go (back) to splicing.
                        buffers::give_back(buf);
                        self.state = State::Idle;
                        continue;
                    }
                    match Pin::new(&mut *src).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(0)) => self.eof = true,
                        Poll::Ready(Ok(n)) => {
                            start = 0;
                            end = n;
                            reads += 1;
                            act.read = true;
                            if !fallback && self.policy == Splice::Auto {
                                self.note_pass(n);
                                if self.streamer {
                                    self.leave_ring(src);
                                }
                            }
                        }
                        Poll::Ready(Err(e)) if self.is_record(&e) => {
                            match self.ktls_record(sys::fd(src), act) {
                                Ok(st) => self.state = st,
                                Err(e) => return Poll::Ready(Err(DirErr::Src(e))),
                            }
                            continue;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(DirErr::Src(e))),
                        Poll::Pending => {
                            // Empty, waiting for data: the buffer goes back (glommio's
                            // read waits for readiness without it); the next chunk takes
                            // one again.
                            buffers::give_back(buf);
                            self.state = State::Idle;
                            return Poll::Pending;
                        }
                    }
                    self.state = State::Copy {
                        buf,
                        start,
                        end,
                        fallback,
                        reads,
                    };
                }
            }
        }
    }

    /// A byte read while waiting for data starts the next chunk: into an empty pipe (so it
    /// precedes what is spliced after it), or a copy buffer when no pipe is available.
    fn take_first_byte(&mut self, shard: &ShardCtx, b: u8) -> State {
        // Not counted here: the byte is counted when it reaches the destination (spliced
        // out of the pipe, or written from the buffer).
        if let Some(pipe) = shard.pipes.borrow_mut().get() {
            // An empty pipe always takes one byte.
            if sys::write(pipe.wr.as_fd(), &[b]).ok() == Some(1) {
                return State::Piped { pipe, len: 1 };
            }
            shard.pipes.borrow_mut().discard(pipe);
        }
        ShardStats::add(&shard.stats.pipe_fallbacks, 1);
        let mut buf = buffers::take(COPY_BUF);
        buf[0] = b;
        State::Copy {
            buf,
            start: 0,
            end: 1,
            fallback: true,
            reads: 1,
        }
    }

    /// Returns a held pipe (at the end of a connection): closed if it still holds bytes;
    /// and a copy buffer.
    fn release(&mut self, shard: &ShardCtx) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Piped { pipe, len: 0 } => shard.pipes.borrow_mut().put(pipe),
            State::Piped { pipe, .. } | State::Held { pipe, .. } => {
                shard.pipes.borrow_mut().discard(pipe)
            }
            State::Copy { buf, .. } => buffers::give_back(buf),
            _ => {}
        }
    }
}

/// Both directions of a connection, with inactivity timeouts.
pub struct Tunnel<'a> {
    client: &'a mut TcpStream,
    server: &'a mut TcpStream,
    shard: &'a ShardCtx,
    pub c2s: Dir,
    pub s2c: Dir,
    timeouts: Timeouts,
    last_client: Instant,
    last_server: Instant,
    /// Armed for the earliest possible expiry; re-armed when it fires early because the
    /// connection was active meanwhile (so activity never touches the timer).
    timer: Option<(glommio::timer::Timer, Instant)>,
    /// `option nolinger` on the client's side and on the server's ([`Tunnel::nolinger`]).
    nolinger: (bool, bool),
    /// `option independent-streams` on the client's side and on the server's
    /// ([`Tunnel::independent`]).
    independent: (bool, bool),
}

impl<'a> Tunnel<'a> {
    pub fn new(
        client: &'a mut TcpStream,
        server: &'a mut TcpStream,
        shard: &'a ShardCtx,
        timeouts: Timeouts,
        (c2s, s2c): (Splice, Splice),
    ) -> Tunnel<'a> {
        // A direction that copies reads its source with receives submitted to the ring
        // (glommio's `set_recv_on_ring`): no readiness poll and `recv` per read. A
        // splicing one reads the fd directly, so its source must not have them.
        client.set_recv_on_ring(c2s != Splice::Always);
        server.set_recv_on_ring(s2c != Splice::Always);
        // Likewise what a copying direction writes goes on the ring (glommio's
        // `set_send_on_ring`: a queued send instead of a `send` system call); a splice
        // into the destination or its shutdown first waits for the send in flight.
        client.set_send_on_ring(s2c != Splice::Always);
        server.set_send_on_ring(c2s != Splice::Always);
        let now = Instant::now();
        Tunnel {
            client,
            server,
            shard,
            c2s: Dir::new(c2s),
            s2c: Dir::new(s2c),
            timeouts,
            last_client: now,
            last_server: now,
            timer: None,
            nolinger: (false, false),
            independent: (false, false),
        }
    }

    /// `option independent-streams` on the frontend (`client`) and on the backend
    /// (`server`): what is written to that side no longer counts as its activity, only
    /// what is read from it (HAProxy's SI_FL_INDEP_STR: a send refreshes the side's read
    /// timeout unless the flag is set). A server that takes an upload and says nothing
    /// then times out after `timeout server`.
    pub fn independent(mut self, client: bool, server: bool) -> Self {
        self.independent = (client, server);
        self
    }

    /// The client socket runs kTLS (plaintext on the socket, records in the kernel).
    pub fn client_ktls(mut self) -> Self {
        // Records are read from the fd (`ktls_next`): nothing may read it on the ring;
        // its close_notify is written to the fd.
        self.client.set_recv_on_ring(false);
        self.client.set_send_on_ring(false);
        self.c2s.ktls_src = true;
        self.s2c.ktls_dst = true;
        self
    }

    /// `option nolinger` on the frontend (`client`) and on the backend (`server`), whose
    /// sockets already have SO_LINGER 0, closed as HAProxy 2.6 closes them: the client's
    /// end resets the server's connection and ends the tunnel; the client is sent a FIN
    /// (the server's end, a timeout, an error) only while it has not ended itself, and its
    /// close is a reset.
    pub fn nolinger(mut self, client: bool, server: bool) -> Self {
        self.nolinger = (client, server);
        // The client's FIN is shut through the fd when the tunnel drops (no wait there):
        // no send on the ring may be in flight then.
        if client {
            self.client.set_send_on_ring(false);
        }
        self.c2s.skip_shut = server;
        self
    }

    /// The next expiry and the side it belongs to, from the last activity of each side.
    fn next_expiry(&self) -> Option<(Instant, Peer)> {
        let half = self.c2s.done() || self.s2c.done();
        let c = self
            .timeouts
            .client(half)
            .map(|t| (self.last_client + t, Peer::Client));
        let s = self
            .timeouts
            .server(half)
            .map(|t| (self.last_server + t, Peer::Server));
        match (c, s) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

impl Future for Tunnel<'_> {
    type Output = End;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End> {
        let this = self.get_mut();
        let shard = this.shard;
        // Activity of each side in this poll: the clock is read once, after both
        // directions moved what they could.
        let (mut client_active, mut server_active) = (false, false);
        if !this.c2s.done() {
            let mut act = Act::default();
            let r = this.c2s.poll(cx, this.client, this.server, shard, &mut act);
            client_active |= act.read;
            server_active |= act.wrote && !this.independent.1;
            match r {
                Poll::Ready(Err(DirErr::Src(e))) => {
                    return Poll::Ready(End::Error(Peer::Client, e));
                }
                Poll::Ready(Err(DirErr::Dst(e))) => {
                    return Poll::Ready(End::Error(Peer::Server, e));
                }
                // `option nolinger` on the server's side: its connection resets, nothing
                // more comes from it (HAProxy closes it at once).
                Poll::Ready(Ok(())) if this.nolinger.1 => return Poll::Ready(End::Closed),
                _ => {}
            }
        }
        if !this.s2c.done() {
            // A client that ended is not sent a FIN under `option nolinger`: it is reset.
            this.s2c.skip_shut = this.nolinger.0 && this.c2s.eof;
            let mut act = Act::default();
            let r = this.s2c.poll(cx, this.server, this.client, shard, &mut act);
            server_active |= act.read;
            client_active |= act.wrote && !this.independent.0;
            match r {
                Poll::Ready(Err(DirErr::Src(e))) => {
                    return Poll::Ready(End::Error(Peer::Server, e));
                }
                Poll::Ready(Err(DirErr::Dst(e))) => {
                    return Poll::Ready(End::Error(Peer::Client, e));
                }
                _ => {}
            }
        }
        if this.c2s.done() && this.s2c.done() {
            return Poll::Ready(End::Closed);
        }
        let now = (client_active || server_active).then(Instant::now);
        if let Some(now) = now {
            if client_active {
                this.last_client = now;
            }
            if server_active {
                this.last_server = now;
            }
        }
        // Timeouts: check only when the armed deadline has passed.
        let Some((expiry, side)) = this.next_expiry() else {
            this.timer = None;
            return Poll::Pending;
        };
        let now = now.unwrap_or_else(Instant::now);
        if now >= expiry {
            return Poll::Ready(End::Timeout(side));
        }
        let rearm = match &this.timer {
            None => true,
            Some((_, armed)) => now >= *armed || expiry < *armed,
        };
        if rearm {
            let mut t = glommio::timer::Timer::new(expiry - now);
            // Registers the waker; Pending unless the deadline is already here.
            if Pin::new(&mut t).poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
            this.timer = Some((t, expiry));
        }
        Poll::Pending
    }
}

impl Drop for Tunnel<'_> {
    fn drop(&mut self) {
        if self.nolinger.0 && !self.c2s.eof {
            // Ended on the server's side or by a timeout, an error: HAProxy shuts the
            // client's write side cleanly before the close (whose SO_LINGER 0 resets).
            let _ = sys::shutdown(sys::fd(self.client), libc::SHUT_WR);
        }
        self.c2s.release(self.shard);
        self.s2c.release(self.shard);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::net::buffers;
    use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
    use std::net::Shutdown;

    /// Runs `f` on a glommio executor of its own and waits for it.
    pub(crate) fn on_executor<F, G>(f: G)
    where
        G: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + 'static,
    {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(256 << 10)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    /// Two connected loopback sockets, non-blocking as mode tcp makes them (splice would
    /// block on an empty blocking socket).
    pub(crate) async fn pair() -> (TcpStream, TcpStream) {
        let l = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let b = l.accept().await.unwrap();
        for s in [&a, &b] {
            sys::set_nonblocking(sys::fd(s)).unwrap();
        }
        (a, b)
    }

    /// Sends `n` bytes from `a` and `b` each way and closes both write sides; checks what
    /// each received.
    pub(crate) async fn exchange(a: &mut TcpStream, b: &mut TcpStream, n: usize) {
        async fn send_recv(s: &mut TcpStream, n: usize, tag: u8) {
            let out: Vec<u8> = (0..n).map(|i| (i % 251) as u8 ^ tag).collect();
            s.write_all(&out).await.unwrap();
            s.shutdown(Shutdown::Write).await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            let want: Vec<u8> = (0..n).map(|i| (i % 251) as u8 ^ !tag).collect();
            assert!(got == want, "{} bytes received, {n} sent", got.len());
        }
        future::zip(send_recv(a, n, 0), send_recv(b, n, 0xff)).await;
    }

    /// `rounds` messages of `size` bytes from `a` to `b`, each echoed back by `b`.
    async fn ping_pong(a: &mut TcpStream, b: &mut TcpStream, rounds: usize, size: usize) {
        let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut got = vec![0u8; size];
        for _ in 0..rounds {
            a.write_all(&msg).await.unwrap();
            b.read_exact(&mut got).await.unwrap();
            b.write_all(&got).await.unwrap();
            a.read_exact(&mut got).await.unwrap();
            assert!(got == msg);
        }
    }

    /// Sends `n` bytes from `a` to `b`, which reads them all.
    async fn one_way(a: &mut TcpStream, b: &mut TcpStream, n: usize) {
        let chunk = vec![3u8; 64 << 10];
        let send = async {
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                a.write_all(&chunk[..k]).await.unwrap();
                left -= k;
            }
        };
        let recv = async {
            let mut buf = vec![0u8; 64 << 10];
            let mut got = 0;
            while got < n {
                got += b.read(&mut buf).await.unwrap();
            }
        };
        future::zip(send, recv).await;
    }

    /// Closes both write sides and reads both ends to EOF.
    async fn close_both(a: &mut TcpStream, b: &mut TcpStream) {
        a.shutdown(Shutdown::Write).await.unwrap();
        b.shutdown(Shutdown::Write).await.unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.read_to_end(&mut x).await.unwrap();
        b.read_to_end(&mut y).await.unwrap();
    }

    #[test]
    fn options_and_pump_map_to_each_direction_s_policy() {
        use Splice::*;
        let d = SpliceOptions::default();
        let off = SpliceOptions { auto: false, ..d };
        let req = SpliceOptions {
            request: true,
            ..off
        };
        let resp = SpliceOptions {
            response: true,
            ..d
        };
        let t = Splice::for_tunnel;
        assert_eq!(t(PumpKind::Auto, d, d), (Auto, Auto));
        // As in HAProxy, an option on either the frontend or the backend applies.
        assert_eq!(t(PumpKind::Auto, off, d), (Auto, Auto));
        assert_eq!(t(PumpKind::Auto, off, off), (Never, Never));
        assert_eq!(t(PumpKind::Auto, req, off), (Always, Never));
        assert_eq!(t(PumpKind::Auto, off, resp), (Auto, Always));
        // The pump, when set to splice or copy, overrides every proxy.
        assert_eq!(t(PumpKind::Splice, off, off), (Always, Always));
        assert_eq!(t(PumpKind::Copy, req, resp), (Never, Never));
    }

    /// Runs `talk` (client, server, shard) through a tunnel with `policy` on a new shard
    /// with pipes, closes both ends, checks the tunnel ended cleanly and returns the shard.
    async fn through_tunnel(
        policy: (Splice, Splice),
        talk: impl AsyncFnOnce(&mut TcpStream, &mut TcpStream, &ShardCtx),
    ) -> ShardCtx {
        let shard = ShardCtx::for_tests(16);
        let (mut client, mut c_in) = pair().await;
        let (mut s_in, mut server) = pair().await;
        let tunnel = Tunnel::new(&mut c_in, &mut s_in, &shard, Timeouts::default(), policy);
        let talk = async {
            talk(&mut client, &mut server, &shard).await;
            close_both(&mut client, &mut server).await;
        };
        let (end, ()) = future::zip(tunnel, talk).await;
        assert!(matches!(end, End::Closed), "{end:?}");
        assert_eq!(shard.pipes.borrow().in_use(), 0);
        shard
    }

    #[test]
    fn auto_copies_short_exchanges_and_holds_no_buffer_while_idle() {
        on_executor(|| async {
            let policy = (Splice::Auto, Splice::Auto);
            let shard = through_tunnel(policy, async |client, server, _| {
                for _ in 0..50 {
                    ping_pong(client, server, 1, 300).await;
                    // Both directions wait for data without a buffer: the one buffer
                    // each took in turn is spare (a direction holding one while idle
                    // would have made the other take a second).
                    assert_eq!(buffers::spare(AUTO_BUF), 1);
                }
            })
            .await;
            let st = &shard.stats;
            assert_eq!(
                ShardStats::get(&st.spliced),
                0,
                "a short message went through a pipe"
            );
            assert_eq!(
                ShardStats::get(&st.read_waits),
                0,
                "a wait took the one-byte pipe route"
            );
            assert_eq!(ShardStats::get(&st.copied), 2 * 50 * 300);
        });
    }

    /// Sends `total` bytes of a counting pattern from `a` to `b` in writes whose sizes
    /// follow `sizes` (cycled), while `b` checks every byte in order.
    async fn patterned(a: &mut TcpStream, b: &mut TcpStream, total: usize, sizes: &[usize]) {
        let byte = |i: usize| (i % 251) as u8;
        let send = async {
            let (mut sent, mut k) = (0, 0);
            while sent < total {
                let n = sizes[k % sizes.len()].min(total - sent);
                let chunk: Vec<u8> = (sent..sent + n).map(byte).collect();
                a.write_all(&chunk).await.unwrap();
                sent += n;
                k += 1;
            }
        };
        let recv = async {
            let mut buf = vec![0u8; 64 << 10];
            let mut got = 0;
            while got < total {
                let n = b.read(&mut buf).await.unwrap();
                assert!(n > 0, "end after {got} of {total} bytes");
                for (j, &x) in buf[..n].iter().enumerate() {
                    assert_eq!(x, byte(got + j), "byte {} out of order", got + j);
                }
                got += n;
            }
        };
        future::zip(send, recv).await;
    }

    #[test]
    fn copying_directions_read_with_receives_on_the_ring_and_splicing_ones_do_not() {
        on_executor(|| async {
            for policy in [
                (Splice::Auto, Splice::Never),
                (Splice::Always, Splice::Auto),
            ] {
                let shard = ShardCtx::for_tests(16);
                let (mut client, mut c_in) = pair().await;
                let (mut s_in, mut server) = pair().await;
                let mut tunnel =
                    Tunnel::new(&mut c_in, &mut s_in, &shard, Timeouts::default(), policy);
                let talk = async { ping_pong(&mut client, &mut server, 5, 300).await };
                // The tunnel runs until the talk is over (it only ends with the sockets).
                future::or(
                    async { panic!("tunnel ended: {:?}", (&mut tunnel).await) },
                    talk,
                )
                .await;
                // Both sides wait for the next message: a copying direction with a
                // receive in flight on the ring, a splicing one without.
                let copies = |d: Splice| d != Splice::Always;
                assert_eq!(
                    tunnel.client.ring_recv_busy(),
                    copies(policy.0),
                    "{policy:?}"
                );
                assert_eq!(
                    tunnel.server.ring_recv_busy(),
                    copies(policy.1),
                    "{policy:?}"
                );
                let talk = async { close_both(&mut client, &mut server).await };
                let (end, ()) = future::zip(tunnel, talk).await;
                assert!(matches!(end, End::Closed), "{end:?}");
            }
        });
    }

    #[test]
    fn a_receive_on_the_ring_armed_while_bytes_wait_completes_at_once() {
        // glommio submits receives with IORING_RECVSEND_POLL_FIRST (no attempt at
        // submission): a socket already readable when one is armed must still complete it.
        on_executor(|| async {
            let (mut peer, mut s) = pair().await;
            s.set_recv_on_ring(true);
            let msg: Vec<u8> = (0..20_000).map(|i| (i % 251) as u8).collect();
            peer.write_all(&msg).await.unwrap();
            glommio::timer::sleep(Duration::from_millis(20)).await;
            // A read that fills its buffer comes from a `recv` and arms nothing.
            let mut b = vec![0u8; 16 << 10];
            assert_eq!(s.read(&mut b).await.unwrap(), b.len());
            assert!(!s.ring_recv_busy());
            // Waiting arms a receive on the ring; the bytes are there already.
            let ready = future::poll_fn(|cx| s.poll_read_ready(cx));
            future::or(async { ready.await.unwrap() }, async {
                glommio::timer::sleep(Duration::from_secs(5)).await;
                panic!("the receive did not complete");
            })
            .await;
            assert!(s.ring_recv_busy());
            let mut got = b.clone();
            while got.len() < msg.len() {
                let n = s.read(&mut b).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&b[..n]);
            }
            assert!(got == msg);
        });
    }

    #[test]
    fn auto_keeps_every_byte_in_order_across_switches_between_copy_and_splice() {
        on_executor(|| async {
            let policy = (Splice::Auto, Splice::Auto);
            through_tunnel(policy, async |client, server, shard| {
                let st = &shard.stats;
                // Runs of small writes (copied, read on the ring) between bursts of large
                // ones (spliced), each way: every switch must keep the byte order.
                let sizes = [[100usize; 40].as_slice(), &[1 << 20; 3], &[3000; 20]].concat();
                const TOTAL: usize = 12 << 20;
                patterned(client, server, TOTAL, &sizes).await;
                patterned(server, client, TOTAL, &sizes).await;
                assert!(ShardStats::get(&st.spliced) > 0, "nothing spliced");
                assert!(ShardStats::get(&st.copied) > 0, "nothing copied");
            })
            .await;
        });
    }

    #[test]
    fn auto_splices_bulk_each_way_and_copies_again_when_it_stops() {
        on_executor(|| async {
            let policy = (Splice::Auto, Splice::Auto);
            through_tunnel(policy, async |client, server, shard| {
                let st = &shard.stats;
                const BULK: usize = 8 << 20;
                for up in [true, false] {
                    let before = ShardStats::get(&st.spliced);
                    if up {
                        one_way(client, server, BULK).await;
                    } else {
                        one_way(server, client, BULK).await;
                    }
                    let spliced = (ShardStats::get(&st.spliced) - before) as usize;
                    assert!(
                        spliced > BULK * 9 / 10,
                        "up {up}: {spliced} of {BULK} spliced"
                    );
                    // Short exchanges again: after a few passes, both directions copy.
                    ping_pong(client, server, 10, 200).await;
                    let spliced = ShardStats::get(&st.spliced);
                    ping_pong(client, server, 20, 200).await;
                    assert_eq!(
                        ShardStats::get(&st.spliced),
                        spliced,
                        "up {up}: still splicing"
                    );
                }
            })
            .await;
        });
    }

    #[test]
    fn splice_always_splices_short_messages_of_that_direction_only() {
        on_executor(|| async {
            // `option splice-request`
            let policy = (Splice::Always, Splice::Auto);
            let shard = through_tunnel(policy, async |client, server, _| {
                ping_pong(client, server, 40, 300).await;
            })
            .await;
            let st = &shard.stats;
            let each_way = 40 * 300;
            // Requests: spliced, but for the byte that ends each wait for data.
            let spliced = ShardStats::get(&st.spliced);
            assert!(
                spliced <= each_way && spliced >= each_way - 40,
                "{spliced} bytes spliced"
            );
            assert_eq!(ShardStats::get(&st.copied), 2 * each_way - spliced);
        });
    }

    #[test]
    fn copy_buffers_go_back_to_the_shard_s_spare_buffers() {
        // Copy pump (`copy_only`), and the fallback taken when no pipe is available (a
        // limit of 0 pipes): each chunk took a new zero-filled 64 KiB buffer before.
        for copy_only in [true, false] {
            on_executor(move || async move {
                let shard = ShardCtx::for_tests(0);
                for _ in 0..3 {
                    let (mut client, mut c_in) = pair().await;
                    let (mut s_in, mut server) = pair().await;
                    let policy = if copy_only {
                        (Splice::Never, Splice::Never)
                    } else {
                        (Splice::Always, Splice::Always)
                    };
                    let tunnel =
                        Tunnel::new(&mut c_in, &mut s_in, &shard, Timeouts::default(), policy);
                    let (end, ()) =
                        future::zip(tunnel, exchange(&mut client, &mut server, 300_000)).await;
                    assert!(matches!(end, End::Closed), "{end:?}");
                    // Both directions' buffers are spare again (one or two: a direction
                    // gives its buffer back whenever it waits, and the other may take
                    // that one), and no more than that: the next tunnel takes them.
                    let spare = buffers::spare(COPY_BUF);
                    assert!((1..=2).contains(&spare), "copy_only {copy_only}: {spare}");
                }
                if !copy_only {
                    assert!(ShardStats::get(&shard.stats.pipe_fallbacks) > 6);
                }
            });
        }
    }
}
