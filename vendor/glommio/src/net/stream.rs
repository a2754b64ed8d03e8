// Unless explicitly stated otherwise all files in this repository are licensed
// under the MIT/Apache-2.0 License, at your convenience
//
// This product includes software developed at Datadog (https://www.datadoghq.com/). Copyright 2020 Datadog, Inc.
//
use crate::{
    reactor::Reactor,
    sys::{
        self,
        buf_ring::{RingBuf, BUF_SIZE},
        Source, SourceType,
    },
};
use futures_lite::ready;
use nix::sys::socket::MsgFlags;
use std::{
    cell::Cell,
    io,
    net::Shutdown,
    os::unix::io::{AsRawFd, FromRawFd, RawFd},
    rc::{Rc, Weak},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

type Result<T> = crate::Result<T, ()>;

/// Root trait for socket stream receive buffer
pub trait RxBuf {
    fn read(&mut self, buf: &mut [u8]) -> usize;
    fn peek(&self, buf: &mut [u8]) -> usize;
    fn is_empty(&self) -> bool;
    fn as_bytes(&self) -> &[u8];
    fn consume(&mut self, amt: usize);
    fn buffer_size(&self) -> usize;
    fn handle_result(&mut self, result: usize);
    fn unfilled(&mut self) -> &mut [u8];
}

#[derive(Debug, Default)]
pub struct NonBuffered;

impl RxBuf for NonBuffered {
    fn read(&mut self, _buf: &mut [u8]) -> usize {
        0
    }

    fn peek(&self, _buf: &mut [u8]) -> usize {
        0
    }

    fn is_empty(&self) -> bool {
        true
    }

    fn as_bytes(&self) -> &[u8] {
        &[]
    }

    fn consume(&mut self, _amt: usize) {}

    fn buffer_size(&self) -> usize {
        0
    }

    fn handle_result(&mut self, _result: usize) {}

    fn unfilled(&mut self) -> &mut [u8] {
        &mut []
    }
}

/// Trait for receive buffer implementations
pub trait Buffered: RxBuf {}

/// Non-shared fixed sized receive buffer allocated
/// when buffered stream is created
#[derive(Debug)]
pub struct Preallocated {
    buf: Vec<u8>,
    head: usize,
    tail: usize,
    cap: usize,
}

impl Preallocated {
    const DEFAULT_BUFFER_SIZE: usize = 8192;

    /// Creates a fixed sized receive buffer
    pub fn new(size: usize) -> Self {
        Self {
            buf: vec![0; size],
            tail: 0,
            head: 0,
            cap: size,
        }
    }
}

impl Default for Preallocated {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BUFFER_SIZE)
    }
}

impl Preallocated {
    fn len(&self) -> usize {
        self.tail - self.head
    }
}

impl Buffered for Preallocated {}

impl RxBuf for Preallocated {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let sz = std::cmp::min(self.len(), buf.len());
        if sz > 0 {
            buf[..sz].copy_from_slice(&self.buf[self.head..self.head + sz]);
            self.head += sz;
        }
        sz
    }

    fn peek(&self, buf: &mut [u8]) -> usize {
        let sz = std::cmp::min(self.len(), buf.len());
        if sz > 0 {
            buf[..sz].copy_from_slice(&self.buf[self.head..self.head + sz]);
        }
        sz
    }

    fn is_empty(&self) -> bool {
        self.head >= self.tail
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.head..self.tail]
    }

    fn consume(&mut self, amt: usize) {
        self.head += std::cmp::min(self.len(), amt);
    }

    fn buffer_size(&self) -> usize {
        self.cap
    }

    fn handle_result(&mut self, result: usize) {
        self.tail += result;
    }

    fn unfilled(&mut self) -> &mut [u8] {
        if self.len() == 0 {
            self.head = 0;
            self.tail = 0;
        }
        &mut self.buf[self.tail..]
    }
}

#[derive(Debug)]
struct Timeout {
    id: u64,
    timeout: Cell<Option<Duration>>,
    timer: Cell<Option<Instant>>,
}

impl Timeout {
    fn new(id: u64) -> Self {
        Self {
            id,
            timeout: Cell::new(None),
            timer: Cell::new(None),
        }
    }

    fn get(&self) -> Option<Duration> {
        self.timeout.get()
    }

    fn set(&self, dur: Option<Duration>) -> Result<()> {
        if let Some(dur) = dur.as_ref() {
            if dur.as_nanos() == 0 {
                return Err(io::Error::from_raw_os_error(libc::EINVAL).into());
            }
        }
        self.timeout.set(dur);
        Ok(())
    }

    fn maybe_set_timer(&self, reactor: &Reactor, waker: &Waker) {
        if let Some(timeout) = self.timeout.get() {
            if self.timer.get().is_none() {
                let deadline = Instant::now() + timeout;
                reactor.insert_timer(self.id, deadline, waker.clone());
                self.timer.set(Some(deadline));
            }
        }
    }

    fn cancel_timer(&self, reactor: &Reactor) {
        if self.timer.take().is_some() {
            reactor.remove_timer(self.id);
        }
    }

    fn check(&self, reactor: &Reactor) -> io::Result<()> {
        if let Some(deadline) = self.timer.get() {
            if !reactor.timer_exists(&(deadline, self.id)) {
                reactor.remove_timer(self.id);
                self.timer.take();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "Operation timed out",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct NonBufferedStream<S> {
    reactor: Weak<Reactor>,
    // corelb: dropped by hand (`Drop`: not while a send on the ring is in flight).
    stream: std::mem::ManuallyDrop<S>,
    source_tx: Option<Source>,
    source_rx: Option<Source>,
    write_timeout: Timeout,
    read_timeout: Timeout,
    // corelb: receives on the ring (CHANGES.md item 12): whether they are on for this
    // stream, the bytes of a completed one not handed out yet (buffer, offset), and
    // whether the last one found no free buffer (the next wait then polls).
    ring_recv: bool,
    rx_held: Option<(RingBuf, usize)>,
    rx_nobufs: bool,
    // corelb: sends on the ring (CHANGES.md item 19): whether they are on for this
    // stream, the send in flight (or completed and not looked at yet), and the stream's
    // fd, which `Drop` hands to the reactor to close after a send still in flight.
    ring_send: bool,
    tx_ring: Option<Source>,
    fd: RawFd,
}

/// corelb: writes up to this size are copied and sent on the ring when sends on the ring
/// are on; larger ones are sent as upstream does (after any send in flight completed).
pub(crate) const RING_SEND_MAX: usize = 64 * 1024;

impl<S> Drop for NonBufferedStream<S> {
    fn drop(&mut self) {
        super::closing(self.fd);
        // corelb: a send on the ring still in flight keeps the socket open: its fd is
        // given to the reactor, which closes it once the send completed (closing it now
        // would let another socket take the number before the send is submitted, and
        // dropping the source would cancel the send).
        if let Some(src) = self.tx_ring.take() {
            if src.result().is_none() {
                if let Some(reactor) = self.reactor.upgrade() {
                    let stream = unsafe { std::mem::ManuallyDrop::take(&mut self.stream) };
                    std::mem::forget(stream);
                    reactor.close_after(src, self.fd);
                    return;
                }
            }
        }
        unsafe { std::mem::ManuallyDrop::drop(&mut self.stream) };
    }
}

impl<S: AsRawFd> NonBufferedStream<S> {
    // corelb: what waits for the next bytes: a receive on the ring when this stream has
    // them on (and the last one found a buffer), else the readiness poll of upstream.
    fn arm_read(&mut self, reactor: &Reactor) -> Source {
        let fd = self.stream.as_raw_fd();
        if self.ring_recv && !std::mem::take(&mut self.rx_nobufs) {
            if let Some(src) = reactor.recv_select(fd) {
                return src;
            }
        }
        reactor.poll_read_ready(fd)
    }

    // corelb: copies held bytes out; when the buffer is emptied it goes back to the ring
    // and, if the receive was short (the socket was likely drained), the next is armed.
    fn hand_out(&mut self, reactor: &Reactor, buf: &mut [u8]) -> Option<usize> {
        let (rb, off) = self.rx_held.as_mut()?;
        let bytes = &rb.as_bytes()[*off..];
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        *off += n;
        if *off == rb.as_bytes().len() {
            let short = rb.as_bytes().len() < BUF_SIZE;
            self.rx_held = None;
            if short {
                self.source_rx = Some(self.arm_read(reactor));
            }
        }
        Some(n)
    }

    // corelb: the result of a completed receive on the ring, if `source_rx` is one (its
    // bytes then held and handed out from); None for a poll, a pending one, or ENOBUFS
    // (`rx_nobufs` set: the caller reads as upstream does).
    fn take_ring_result(&mut self, reactor: &Reactor, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let src = self.source_rx.as_ref()?;
        if !matches!(&*src.source_type(), SourceType::SockRecvSelect(_)) {
            return None;
        }
        let res = src.result()?;
        let src = self.source_rx.take().unwrap();
        match res {
            Ok(0) => Some(Ok(0)),
            Ok(_) => match src.extract_source_type() {
                SourceType::SockRecvSelect(Some(rb)) => {
                    self.rx_held = Some((rb, 0));
                    self.hand_out(reactor, buf).map(Ok)
                }
                _ => unreachable!("a receive with bytes has its buffer"),
            },
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                self.rx_nobufs = true;
                None
            }
            Err(e) => Some(Err(e)),
        }
    }

    // corelb: bytes or an end taken off the socket by a receive on the ring and not read
    // yet: a peek at the socket would not see them.
    pub(crate) fn has_unread(&self) -> bool {
        self.rx_held.is_some()
            || self.source_rx.as_ref().map_or(false, |src| {
                matches!(&*src.source_type(), SourceType::SockRecvSelect(_))
                    && src.result().map_or(false, |r| {
                        r.err().and_then(|e| e.raw_os_error()) != Some(libc::ENOBUFS)
                    })
            })
    }

    // corelb: a receive on the ring is in flight, or completed and not read out yet:
    // reading the fd directly now could take bytes that belong after it, or lose some.
    pub(crate) fn ring_recv_busy(&self) -> bool {
        self.rx_held.is_some()
            || self
                .source_rx
                .as_ref()
                .map_or(false, |src| matches!(&*src.source_type(), SourceType::SockRecvSelect(_)))
    }

    // corelb: turns receives on the ring on for this stream (see `TcpStream`).
    pub(crate) fn set_recv_on_ring(&mut self, on: bool) {
        self.ring_recv = on;
    }

    fn init(&mut self) {
        let reactor = self.reactor.upgrade().unwrap();
        let stream_fd = self.stream.as_raw_fd();
        self.source_rx = Some(reactor.poll_read_ready(stream_fd));
    }

    pub(crate) fn try_peek(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        super::yolo_peek(self.stream.as_raw_fd(), buf)
    }

    // corelb: an idle connection pool asks this instead of peeking at the socket.
    /// Whether the read-readiness poll armed when the stream was made, or by `poll_read`
    /// after a read that returned less than asked, is still waiting: the kernel reported no
    /// data, EOF or error on the socket since, as far as the completions reaped so far tell.
    /// False when no such poll is armed (the last read filled its buffer, failed or saw EOF,
    /// or the poll already completed), i.e. when nothing is known.
    /// A poll armed on io_uring is woken by any data arriving after it was armed and
    /// completes at once if data is already there when it is submitted, so a pending one
    /// means none came; it may lag behind the socket by the completions not reaped yet.
    pub(crate) fn read_poll_pending(&self) -> bool {
        self.rx_held.is_none()
            && self
                .source_rx
                .as_ref()
                .map_or(false, |src| src.result().is_none())
    }

    // corelb: a keep-alive connection waits for its next request holding no buffer.
    /// Ready when a read may find something (data, EOF or an error), without reading: the
    /// read-readiness poll armed after the last short read (or when the stream was made)
    /// has completed. With no poll armed (the last read filled its buffer), one is armed
    /// now, so the wait never needs a buffer; it completes at once if data is there.
    pub(crate) fn poll_read_ready(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        // corelb: a connection waiting for its next request keeps no send on the ring:
        // one that completed goes; one in flight wakes this waiter when the reactor reaps
        // its completion (then it goes), so that an idle connection does not hold its
        // source. That completion does not end a sleep (CHANGES.md item 21).
        self.reap_tx();
        if let Some(src) = &self.tx_ring {
            if src.result().is_none() {
                src.add_send_waiter(cx.waker(), true);
            }
        }
        if self.rx_held.is_some() {
            return Poll::Ready(Ok(()));
        }
        match &self.source_rx {
            Some(src) if src.result().is_some() => return Poll::Ready(Ok(())),
            Some(_) => {}
            None => {
                let reactor = self.reactor.upgrade().unwrap();
                self.source_rx = Some(self.arm_read(&reactor));
            }
        }
        self.source_rx
            .as_ref()
            .unwrap()
            .add_waiter_single(cx.waker());
        Poll::Pending
    }

    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let source = self.reactor.upgrade().unwrap().recv(
            self.stream.as_raw_fd(),
            buf.len(),
            MsgFlags::MSG_PEEK,
        );

        let sz = source.collect_rw().await?;
        match source.extract_source_type() {
            SourceType::SockRecv(mut src) => {
                buf[0..sz].copy_from_slice(&src.take().unwrap().as_bytes()[0..sz]);
            }
            _ => unreachable!(),
        }
        Ok(sz)
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reap_tx();
        let reactor = self.reactor.upgrade().unwrap();
        let reactor = reactor.as_ref();

        // corelb: bytes a receive on the ring brought in go first, without a system call.
        if let Some(n) = self.hand_out(reactor, buf) {
            return Poll::Ready(Ok(n));
        }
        if let Some(result) = self.take_ring_result(reactor, buf) {
            self.read_timeout.cancel_timer(reactor);
            return Poll::Ready(result);
        }

        let no_pending_poll = self
            .source_rx
            .as_ref()
            .map(|src| src.result().is_some())
            .unwrap_or(true);

        if no_pending_poll {
            if let Some(result) = super::yolo_recv(self.stream.as_raw_fd(), buf) {
                self.source_rx.take();
                self.read_timeout.cancel_timer(reactor);
                let result = poll_err!(result);
                // Start an early poll if the buffer is not fully filled. So when
                // the next time `poll_read` is called, it will be known immediately
                // whether the underlying stream is ready for reading.
                if result > 0 && result < buf.len() {
                    // corelb: or a receive on the ring (`arm_read`).
                    self.source_rx = Some(self.arm_read(reactor));
                    // The `rush_dispatch`s here and after could be removed to
                    // improve performance if #458 is handled appropriately.
                    // reactor.rush_dispatch(self.source_rx.as_ref().unwrap());
                }
                return Poll::Ready(Ok(result));
            }
        }

        poll_err!(self.read_timeout.check(reactor));

        if no_pending_poll {
            self.source_rx = Some(self.arm_read(reactor));
            // reactor.rush_dispatch(self.source_rx.as_ref().unwrap());
        }

        let source = self.source_rx.as_ref().unwrap();
        source.add_waiter_single(cx.waker());
        self.read_timeout.maybe_set_timer(reactor, cx.waker());
        Poll::Pending
    }

    // corelb: turns sends on the ring on or off for this stream (see `TcpStream`).
    pub(crate) fn set_send_on_ring(&mut self, on: bool) {
        self.ring_send = on;
    }

    // corelb: a send on the ring is in flight, or completed and not looked at yet.
    pub(crate) fn ring_send_busy(&self) -> bool {
        self.tx_ring.is_some()
    }

    // corelb: ready once no send on the ring is in flight (`&self`: it does not take
    // the completed one, whose error the next write, flush or close reports).
    pub(crate) fn poll_sends_done(&self, cx: &Context<'_>) -> Poll<()> {
        match &self.tx_ring {
            Some(src) if src.result().is_none() => {
                src.add_send_waiter(cx.waker(), false);
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }

    // corelb: drops a send on the ring that completed in full (its buffer goes); one
    // that failed is kept for the next write, flush or close to report.
    fn reap_tx(&mut self) {
        if let Some(src) = &self.tx_ring {
            // The reactor empties the buffer of a send that went in full.
            if let Some(Ok(_)) = src.result() {
                if matches!(&*src.source_type(), SourceType::SockSendOwned(b, _, _) if b.is_empty()) {
                    self.tx_ring = None;
                }
            }
        }
    }

    // corelb: waits for the send on the ring in flight, if any: Ready(Ok) once it sent
    // everything, its error if it failed. A short send (MSG_WAITALL retries them, so only
    // an error after some bytes) sends the rest again, which then reports the error.
    fn poll_tx_ring(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let Some(src) = &self.tx_ring else {
            return Poll::Ready(Ok(()));
        };
        let reactor = self.reactor.upgrade().unwrap();
        let reactor = reactor.as_ref();
        match src.result() {
            None => {
                poll_err!(self.write_timeout.check(reactor));
                src.add_send_waiter(cx.waker(), false);
                self.write_timeout.maybe_set_timer(reactor, cx.waker());
                Poll::Pending
            }
            Some(res) => {
                let src = self.tx_ring.take().unwrap();
                self.write_timeout.cancel_timer(reactor);
                let n = poll_err!(res);
                let SourceType::SockSendOwned(mut rest, _, _) = src.extract_source_type() else {
                    unreachable!("a send on the ring has its buffer")
                };
                // Emptied by the reactor when it went in full.
                if rest.is_empty() || n >= rest.len() {
                    return Poll::Ready(Ok(()));
                }
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                rest.drain(..n);
                let src = reactor.send_owned(self.fd, rest);
                src.add_waiter_single(cx.waker());
                self.tx_ring = Some(src);
                Poll::Pending
            }
        }
    }

    pub(crate) fn poll_write(&mut self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // corelb: with sends on the ring, a small write is copied and queued as a send
        // that goes with the next submission (typically the one that waits), and returns
        // at once; one send at a time is in flight, so the next write waits for it (its
        // error, if any, is that write's). Anything else waits for it too, then is sent
        // as upstream does, so bytes stay in order.
        poll_err!(ready!(self.poll_tx_ring(cx)));
        if self.ring_send && !buf.is_empty() && buf.len() <= RING_SEND_MAX {
            let reactor = self.reactor.upgrade().unwrap();
            self.tx_ring = Some(reactor.send_owned(self.fd, crate::sys::source::send_copy(buf)));
            return Poll::Ready(Ok(buf.len()));
        }
        // On the write path, we always start with calling `yolo_send`, because
        // it is very likely to success. It could be a waste if it already timed
        // out since the last `poll_write`, but it would not cost much more to
        // give it one last chance in this case.
        if let Some(result) = super::yolo_send(self.stream.as_raw_fd(), buf) {
            let reactor = self.reactor.upgrade().unwrap();
            self.write_timeout.cancel_timer(reactor.as_ref());
            self.source_tx.take();
            return Poll::Ready(result);
        }

        let reactor = self.reactor.upgrade().unwrap();
        let reactor = reactor.as_ref();
        poll_err!(self.write_timeout.check(reactor));

        let no_pending_poll = self
            .source_tx
            .as_ref()
            .map(|src| src.result().is_some())
            .unwrap_or(true);

        if no_pending_poll {
            self.source_tx = Some(reactor.poll_write_ready(self.stream.as_raw_fd()));
        }

        let source = self.source_tx.as_ref().unwrap();
        source.add_waiter_single(cx.waker());
        self.write_timeout.maybe_set_timer(reactor, cx.waker());
        Poll::Pending
    }

    // corelb: a flush waits for the send on the ring in flight (upstream's writes are
    // system calls: nothing to flush).
    pub(crate) fn poll_flush(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.poll_tx_ring(cx)
    }

    pub(crate) fn poll_close(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        // corelb: the FIN goes after the send on the ring in flight.
        poll_err!(ready!(self.poll_tx_ring(cx)));
        self.source_tx.take();
        Poll::Ready(sys::shutdown(self.stream.as_raw_fd(), Shutdown::Write))
    }

    /// io_uring has support for shutdown now, but it is not in any released
    /// kernel. Even with my "let's use latest" policy it would be crazy to
    /// mandate a kernel that doesn't even exist. So in preparation for that
    /// we'll sync-emulate this but already on an async wrapper
    pub(crate) fn poll_shutdown(
        &self,
        cx: &mut Context<'_>,
        how: Shutdown,
    ) -> Poll<io::Result<()>> {
        // corelb: a shutdown of the write side goes after the send on the ring in flight.
        if how != Shutdown::Read {
            ready!(self.poll_sends_done(cx));
        }
        Poll::Ready(sys::shutdown(self.stream.as_raw_fd(), how))
    }
}

#[derive(Debug)]
pub(crate) struct GlommioStream<S, B> {
    stream: NonBufferedStream<S>,
    rx_buf: B,
    rx_done: Cell<bool>,
}

impl<S> From<socket2::Socket> for GlommioStream<S, NonBuffered>
where
    S: AsRawFd + From<socket2::Socket> + Unpin,
{
    fn from(socket: socket2::Socket) -> Self {
        let reactor = crate::executor().reactor();
        let fd = socket.as_raw_fd();
        let mut stream = NonBufferedStream {
            reactor: Rc::downgrade(&reactor),
            stream: std::mem::ManuallyDrop::new(socket.into()),
            source_tx: None,
            source_rx: None,
            write_timeout: Timeout::new(reactor.register_timer()),
            read_timeout: Timeout::new(reactor.register_timer()),
            ring_recv: false,
            rx_held: None,
            rx_nobufs: false,
            ring_send: false,
            tx_ring: None,
            fd,
        };
        stream.init();
        GlommioStream {
            stream,
            rx_buf: NonBuffered,
            rx_done: Cell::new(false),
        }
    }
}

impl<S: AsRawFd> AsRawFd for GlommioStream<S, NonBuffered> {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.stream.as_raw_fd()
    }
}

impl<S> FromRawFd for GlommioStream<S, NonBuffered>
where
    S: AsRawFd + FromRawFd + From<socket2::Socket> + Unpin,
{
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        let socket = socket2::Socket::from_raw_fd(fd);
        GlommioStream::from(socket)
    }
}

impl<S> GlommioStream<S, NonBuffered> {
    pub(crate) fn buffered_with<B: Buffered>(self, rx_buf: B) -> GlommioStream<S, B> {
        GlommioStream {
            stream: self.stream,
            rx_buf,
            rx_done: self.rx_done,
        }
    }
}

impl<S: AsRawFd, B: RxBuf> GlommioStream<S, B> {
    // corelb: see `NonBufferedStream::read_poll_pending`; bytes already buffered here
    // count as activity.
    pub(crate) fn read_poll_pending(&self) -> bool {
        self.rx_buf.is_empty() && self.stream.read_poll_pending()
    }

    // corelb: see `NonBufferedStream::has_unread`.
    pub(crate) fn has_unread(&self) -> bool {
        !self.rx_buf.is_empty() || self.stream.has_unread()
    }

    // corelb: see `NonBufferedStream::set_recv_on_ring`.
    pub(crate) fn set_recv_on_ring(&mut self, on: bool) {
        self.stream.set_recv_on_ring(on)
    }

    // corelb: see `NonBufferedStream::ring_recv_busy`; bytes buffered here count too.
    pub(crate) fn ring_recv_busy(&self) -> bool {
        !self.rx_buf.is_empty() || self.stream.ring_recv_busy()
    }

    // corelb: see `NonBufferedStream::poll_read_ready`; buffered bytes are ready at once.
    pub(crate) fn poll_read_ready(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if !self.rx_buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.stream.poll_read_ready(cx)
    }

    /// Receives data on the socket from the remote address to which it is
    /// connected, without removing that data from the queue.
    ///
    /// On success, returns the number of bytes peeked.
    /// Successive calls return the same data. This is accomplished by passing
    /// `MSG_PEEK` as a flag to the underlying `recv` system call.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut pos = self.rx_buf.peek(buf);
        if pos < buf.len() && !self.rx_done.get() {
            if let Some(result) = self.stream.try_peek(&mut buf[pos..]) {
                match result {
                    Err(e) => return Err(e),
                    Ok(len) => {
                        pos += len;
                        if len == 0 {
                            self.rx_done.set(true);
                        }
                    }
                }
            }
        }
        if pos > 0 || self.rx_done.get() {
            return Ok(pos);
        }
        self.stream.peek(buf).await
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.rx_buf.is_empty() {
            if buf.len() >= self.rx_buf.buffer_size() {
                return self.stream.poll_read(cx, buf);
            }
            if !self.rx_done.get() {
                poll_err!(ready!(self.poll_replenish_buffer(cx)));
            }
        }
        Poll::Ready(Ok(self.rx_buf.read(buf)))
    }

    fn poll_replenish_buffer(&mut self, cx: &Context<'_>) -> Poll<io::Result<usize>> {
        let result = poll_err!(ready!(self.stream.poll_read(cx, self.rx_buf.unfilled())));
        self.rx_buf.handle_result(result);
        if result == 0 {
            self.rx_done.set(true);
        }
        Poll::Ready(Ok(result))
    }

    pub(crate) fn poll_write(&mut self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.stream.poll_write(cx, buf)
    }

    pub(crate) fn poll_flush(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        // corelb: waits for a send on the ring (CHANGES.md item 19).
        self.stream.poll_flush(cx)
    }

    // corelb: see `NonBufferedStream::set_send_on_ring`.
    pub(crate) fn set_send_on_ring(&mut self, on: bool) {
        self.stream.set_send_on_ring(on)
    }

    // corelb: see `NonBufferedStream::ring_send_busy`.
    pub(crate) fn ring_send_busy(&self) -> bool {
        self.stream.ring_send_busy()
    }

    // corelb: see `NonBufferedStream::poll_sends_done`.
    pub(crate) fn poll_sends_done(&self, cx: &Context<'_>) -> Poll<()> {
        self.stream.poll_sends_done(cx)
    }

    pub(crate) fn poll_close(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.stream.poll_close(cx)
    }

    pub(crate) fn poll_shutdown(
        &self,
        cx: &mut Context<'_>,
        how: Shutdown,
    ) -> Poll<io::Result<()>> {
        self.stream.poll_shutdown(cx, how)
    }

    pub(crate) fn set_write_timeout(&self, dur: Option<Duration>) -> Result<()> {
        self.stream.write_timeout.set(dur)
    }

    pub(crate) fn set_read_timeout(&self, dur: Option<Duration>) -> Result<()> {
        self.stream.read_timeout.set(dur)
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.stream.write_timeout.get()
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.stream.read_timeout.get()
    }

    pub(crate) fn stream(&self) -> &S {
        &self.stream.stream
    }
}

impl<S: AsRawFd, B: Buffered> GlommioStream<S, B> {
    pub(crate) fn poll_fill_buf(&mut self, cx: &Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.rx_buf.is_empty() {
            poll_err!(ready!(self.poll_replenish_buffer(cx)));
        }
        Poll::Ready(Ok(self.rx_buf.as_bytes()))
    }

    pub(crate) fn consume(&mut self, amt: usize) {
        self.rx_buf.consume(amt);
    }
}
