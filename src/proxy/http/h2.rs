//! HTTP/2 towards clients: `bind … ssl … alpn h2,http/1.1` (ALPN) and `bind … proto h2`
//! (h2c with prior knowledge, or h2 whatever ALPN says).
//!
//! The h2 crate runs the protocol over the client stream (rustls in user space, a kTLS
//! socket or plain TCP: whatever [`crate::net::tls::Client`] the connection is), through
//! [`Wire`]: it needs tokio's I/O traits only, spawns nothing, arms no timer and does not
//! need `Send`, so it runs on the shard's executor like the rest of the connection.
//!
//! Every stream runs the same [`Exchange`] as an HTTP/1 request, inside the connection's
//! task (see [`super::tasks`]: no task and no allocation of its own) over buffers of its own
//! (kept per connection and reused): its head is rebuilt as HTTP/1.1
//! bytes for the codec (as HAProxy turns both versions into HTX), so ACLs, rules,
//! `use_backend`, persistence, retries, `monitor-uri`, error pages and the log line are the
//! ones of HTTP/1; servers get HTTP/1.1 over the shard's pooled connections. The exchange
//! talks to the stream through [`StreamIo`]: reads give the request body (framed as the
//! rebuilt head says), writes take the HTTP/1 response the exchange produces and send it
//! as HEADERS and DATA frames, waiting for the client's flow-control window.
//!
//! HeadLimits (HAProxy's `tune.h2.*`, and what mux_h2.c does):
//! - streams are counted by the work still running: over `max-concurrent-streams` the
//!   connection stops accepting streams until a task ends, however many the client reset
//!   (rapid reset); h2 refuses what goes beyond the advertised limit and sends GOAWAY
//!   ENHANCE_YOUR_CALM past `max_pending_accept_reset_streams`;
//! - a header block must fit `tune.bufsize - maxrewrite` (h2's header list size, and its
//!   CONTINUATION count derived from it, end a CONTINUATION flood with GOAWAY);
//! - [`FrameMeter`] counts what h2 does not: PING, SETTINGS, RST_STREAM, PRIORITY and empty
//!   DATA frames beyond a budget per second, and small CONTINUATION frames, are glitches;
//!   at 75 % of `tune.h2.fe.glitches-threshold` the connection is asked to go away
//!   (GOAWAY NO_ERROR), at 100 % it is closed with GOAWAY ENHANCE_YOUR_CALM;
//! - `max-total-streams`: after that many streams, a graceful GOAWAY (HAProxy 3.0's
//!   behaviour: the streams the client sent before it saw the GOAWAY are still served);
//! - memory: per stream, h2's receive window, one DATA frame, two `tune.bufsize` buffers and
//!   `tune.bufsize` of unsent response; per connection, at most `max-concurrent-streams`
//!   streams' work.

use super::session::{Bufs, ClientInfo, Ctx, Exchange, Txn, give_back_bufs, take_bufs};
use super::tasks::Tasks;
use crate::cluster::FrontendRt;
use crate::cluster::sessions::Target;
use crate::h1::{
    BodyKind, HeaderField, KnownHeader, Method, Parsed, ResponseHead, Span, parse_request,
    parse_response,
};
use crate::net::h2_body::{
    Dechunk, Framing, is_connection_specific, poll_recv_body, poll_send_body,
};
use crate::net::shard::ShardCtx;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, future};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The client connection preface; [`FrameMeter`] skips it (h2 checks it).
const PREFACE_LEN: usize = 24;

/// Frames a client may send beyond real work (PING, SETTINGS, …) before each is a glitch.
const CONTROL_BUDGET_PER_SEC: u32 = 100;

/// A CONTINUATION frame smaller than this that does not end its header block is a glitch
/// (a flood of tiny ones costs a frame each for a few bytes).
const SMALL_CONTINUATION: usize = 1024;

/// What [`FrameMeter`] concluded so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Calm {
    Fine,
    /// 75 % of the threshold: ask the client to go away (graceful GOAWAY).
    GoAway,
    /// The threshold: close with GOAWAY ENHANCE_YOUR_CALM.
    Kill,
}

/// Reads the frame headers of a client's HTTP/2 byte stream as it passes and scores the
/// glitches h2 does not count itself. Pure: bytes and the time in, a verdict out.
#[derive(Debug)]
pub struct FrameMeter {
    /// Bytes to let pass before the next frame header (the preface, then payloads).
    skip: usize,
    head: [u8; 9],
    have: usize,
    /// Control frames left in the current second.
    budget: u32,
    window: Option<Instant>,
    pub glitches: u32,
    threshold: u32,
}

impl FrameMeter {
    /// `threshold` 0: no limit.
    pub fn new(threshold: u32) -> FrameMeter {
        FrameMeter {
            skip: PREFACE_LEN,
            head: [0; 9],
            have: 0,
            budget: CONTROL_BUDGET_PER_SEC,
            window: None,
            glitches: 0,
            threshold,
        }
    }

    pub fn verdict(&self) -> Calm {
        let t = u64::from(self.threshold);
        let g = u64::from(self.glitches);
        if t == 0 {
            Calm::Fine
        } else if g >= t {
            Calm::Kill
        } else if g * 4 >= t * 3 {
            Calm::GoAway
        } else {
            Calm::Fine
        }
    }

    /// Takes the bytes the client sent next.
    pub fn feed(&mut self, b: &[u8], now: Instant) -> Calm {
        self.feed_with(b, &mut || now)
    }

    /// [`FrameMeter::feed`], with the time read only if a frame needs it (a control frame).
    pub fn feed_with(&mut self, mut b: &[u8], now: &mut impl FnMut() -> Instant) -> Calm {
        while !b.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(b.len());
                self.skip -= n;
                b = &b[n..];
                continue;
            }
            let n = (9 - self.have).min(b.len());
            self.head[self.have..self.have + n].copy_from_slice(&b[..n]);
            self.have += n;
            b = &b[n..];
            if self.have == 9 {
                self.have = 0;
                self.frame(now);
            }
        }
        self.verdict()
    }

    fn frame(&mut self, now: &mut impl FnMut() -> Instant) {
        let h = &self.head;
        let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        let (kind, flags) = (h[3], h[4]);
        self.skip = len;
        const END_STREAM: u8 = 0x1;
        const ACK: u8 = 0x1;
        const END_HEADERS: u8 = 0x4;
        let control = match kind {
            0 => len == 0 && flags & END_STREAM == 0, // empty DATA
            2 | 3 => true,                            // PRIORITY, RST_STREAM
            4 | 6 => flags & ACK == 0,                // SETTINGS, PING
            9 => {
                if len < SMALL_CONTINUATION && flags & END_HEADERS == 0 {
                    self.glitches = self.glitches.saturating_add(1);
                }
                false
            }
            _ => false,
        };
        if control {
            let now = now();
            let fresh = self
                .window
                .is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(1));
            if fresh {
                self.window = Some(now);
                self.budget = CONTROL_BUDGET_PER_SEC;
            }
            if self.budget > 0 {
                self.budget -= 1;
            } else {
                self.glitches = self.glitches.saturating_add(1);
            }
        }
    }
}

/// The client connection as h2 reads it: bytes that came before (after a PROXY header, or
/// drained at a kTLS hand-off) first, every byte shown to the [`FrameMeter`]. It speaks
/// tokio's I/O traits itself (h2's) rather than through `tokio_util::compat`: h2 reads into
/// the spare capacity of its read buffer, uninitialized at every call, and `Compat` zeroed
/// all of it (kilobytes) for each read, which mostly brings a frame or two; see
/// [`Wire::offer`].
struct Wire<T> {
    pre: Vec<u8>,
    pos: usize,
    io: T,
    meter: FrameMeter,
    calm: Rc<Cell<Calm>>,
    /// The score so far, for `fc_glitches`.
    glitches: Rc<Cell<u32>>,
    /// How many bytes the next read offers (and zeroes first): twice what the last one
    /// brought, at least [`Wire::MIN_OFFER`], so that a stream of large frames soon reads
    /// the whole buffer at a time.
    offer: usize,
}

impl<T> Wire<T> {
    const MIN_OFFER: usize = 1024;

    /// The size of the next read, out of `room` bytes: the bytes must be initialized
    /// before they are lent to the client stream (a `&mut [u8]`), and a read returning
    /// less than what it could have is always allowed (h2 reads again).
    fn offer(&self, room: usize) -> usize {
        room.min(self.offer)
    }

    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
    where
        T: AsyncRead + Unpin,
    {
        let n = if self.pos < self.pre.len() {
            let n = crate::net::io::copy_pending(&self.pre, &mut self.pos, buf);
            if self.pos == self.pre.len() {
                self.pre = Vec::new();
                self.pos = 0;
            }
            n
        } else {
            match Pin::new(&mut self.io).poll_read(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            }
        };
        let mut at = None;
        let v = self
            .meter
            .feed_with(&buf[..n], &mut || *at.get_or_insert_with(Instant::now));
        self.glitches.set(self.meter.glitches);
        if v > self.calm.get() {
            self.calm.set(v);
        }
        self.offer = n.saturating_mul(2).max(Self::MIN_OFFER);
        Poll::Ready(Ok(n))
    }
}

impl<T: AsyncRead + Unpin> tokio::io::AsyncRead for Wire<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = this.offer(buf.remaining());
        let n = std::task::ready!(this.read_into(cx, buf.initialize_unfilled_to(want)))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> tokio::io::AsyncWrite for Wire<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}

/// The streams of a connection whose work still runs.
struct Streams {
    live: Cell<u32>,
    max: u32,
    /// The last task ended (the idle timeout starts) or one ended at the limit (new
    /// streams may be taken): the connection task looks again.
    changed: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
    /// Finished streams' states that keep a server connection for this client (`http-reuse
    /// never`), without buffers, for the next streams; the others go back to the shard.
    /// (Boxed as the shard's spares are: a state moves between them by pointer.)
    #[allow(clippy::vec_box)]
    private: RefCell<Vec<Box<Bufs>>>,
    /// The running streams' tasks, by [`Live::slot`]: woken when some server's
    /// connections were shut down, each stream then looks at its own server (see
    /// [`server_shut`]).
    tasks: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

fn set_waker(w: &mut Option<Waker>, cx: &Context<'_>) {
    if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *w = Some(cx.waker().clone());
    }
}

impl Streams {
    fn wait(&self, cx: &Context<'_>) {
        set_waker(&mut self.waiter.borrow_mut(), cx);
    }

    /// A place for a new stream's task.
    fn enter(self: &Rc<Self>) -> Live {
        self.live.set(self.live.get() + 1);
        let slot = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut t = self.tasks.borrow_mut();
            t.push(None);
            t.len() - 1
        });
        Live {
            streams: self.clone(),
            slot,
        }
    }

    /// Wakes every running stream (to look at its server).
    fn wake_all(&self) {
        for w in self.tasks.borrow_mut().iter_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }
}

/// One stream's place in [`Streams::live`] and [`Streams::tasks`], given back when its
/// task ends.
struct Live {
    streams: Rc<Streams>,
    slot: usize,
}

impl Live {
    fn watch(&self, cx: &Context<'_>) {
        set_waker(&mut self.streams.tasks.borrow_mut()[self.slot], cx);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let s = &self.streams;
        s.tasks.borrow_mut()[self.slot] = None;
        s.free.borrow_mut().push(self.slot);
        let was = s.live.get();
        s.live.set(was - 1);
        if was == 1 || was >= s.max {
            s.changed.set(true);
            if let Some(w) = s.waiter.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

enum Event {
    /// A new stream (its request and response handle are left in the loop's `accepted`).
    Stream,
    /// The connection ended (every stream closed after a GOAWAY, or the client left).
    Closed,
    /// h2 ended the connection on a protocol error (with a GOAWAY).
    Failed,
    /// See [`Streams::changed`].
    Changed,
    Calm(Calm),
    Idle,
    Stop,
}

/// Lets h2 write what it has (a GOAWAY) and end the connection, for at most `bound`; the
/// streams' work goes on meanwhile.
async fn close_within<T, F>(
    conn: &mut h2::server::Connection<T, Bytes>,
    bound: Duration,
    tasks: &mut Tasks<F>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    F: std::future::Future<Output = ()>,
{
    let _ = future::or(
        async {
            let _ = poll_fn(|cx| {
                let _ = tasks.run(cx);
                conn.poll_closed(cx)
            })
            .await;
        },
        glommio::timer::sleep(bound),
    )
    .await;
}

async fn deadline_sleep(d: Option<Duration>) {
    match d {
        Some(d) => glommio::timer::sleep(d).await,
        None => future::pending::<()>().await,
    }
}

/// mode http on one client connection that speaks HTTP/2.
pub async fn session<T>(
    shard: Rc<ShardCtx>,
    fe: Arc<FrontendRt>,
    io: &mut T,
    mut info: ClientInfo,
    early: Vec<u8>,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    info.h2 = true;
    // `shutdown sessions server` ends this connection's streams on the server, not the
    // connection (see `stream`).
    shard.sessions.set_multiplexed(info.sess);
    let mut ctx = Ctx::new(shard, fe, info);
    let glitches = ctx.glitch_counter();
    let ctx = Rc::new(ctx);
    let tune = ctx.shard.shared.cfg.global.h2.clone();
    let fe_px = ctx.fe_px();
    let t_http_request = fe_px.timeouts.http_request.or(fe_px.timeouts.client);
    let t_keep_alive = fe_px.timeouts.http_keep_alive.or(t_http_request);
    // The streams' work, run in this task (it borrows nothing of the connection's: its
    // streams may end after the connection, see below).
    let mut tasks = Tasks::new();
    // (Everything that borrows the client ends with this block.)
    let linger = {
        let calm = Rc::new(Cell::new(Calm::Fine));
        let wire = Wire {
            pre: early,
            pos: 0,
            io: &mut *io,
            meter: FrameMeter::new(tune.glitches_threshold),
            calm: calm.clone(),
            glitches,
            offer: Wire::<()>::MIN_OFFER,
        };
        let bufsize = ctx.bufsize();
        let window = tune.initial_window_size;
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(tune.max_concurrent_streams)
            .initial_window_size(window)
            // What the client may have in flight for all its uploads: bounded, and at least
            // one stream's window.
            .initial_connection_window_size(window.max(1 << 20))
            // A header block must fit the buffer the exchange parses it in.
            .max_header_list_size(ctx.limits.max_head as u32)
            .header_table_size(tune.header_table_size)
            .max_send_buffer_size(bufsize)
            .max_concurrent_reset_streams(tune.max_concurrent_streams as usize)
            .max_pending_accept_reset_streams(tune.max_concurrent_streams as usize)
            .max_local_error_reset_streams(Some(1024))
            // Response heads as HAProxy encodes them: no Huffman, no dynamic table
            // (vendor/h2/CHANGES.md item 11).
            .hpack_plain(true);
        if tune.max_frame_size != 16384 {
            // (h2's default; HAProxy announces only another value.)
            builder.max_frame_size(tune.max_frame_size);
        }
        let handshake = builder.handshake::<_, Bytes>(wire);
        let hs = future::or(async { Some(handshake.await) }, async {
            deadline_sleep(t_http_request).await;
            None
        })
        .await;
        let mut conn = match hs {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                log::debug!("{}: {}: h2 handshake: {e}", ctx.fe.name, ctx.info.src);
                return;
            }
            None => return,
        };
        let max = tune.max_concurrent_streams;
        let streams = Rc::new(Streams {
            live: Cell::new(0),
            max,
            changed: Cell::new(false),
            waiter: RefCell::new(None),
            private: RefCell::new(Vec::new()),
            tasks: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        });
        let shared = ctx.shard.shared.clone();
        let control = &shared.control;
        let mut first = true;
        // Streams taken so far, for `tune.h2.fe.max-total-streams`.
        let mut taken = 0u32;
        let mut stopping = false;
        let mut handled = Calm::Fine;
        let mut stop = std::pin::pin!(control.wait_stop());
        let sessions = &ctx.shard.sessions;
        let mut rechecks = sessions.rechecks();
        // Closed by us while the client may still be sending.
        let mut linger = false;
        let mut accepted = None;
        loop {
            // With no stream at work: the idle timeout, or while stopping a moment for h2's
            // graceful close (it waits for a PING answer a client need not send).
            let idle = streams.live.get() == 0;
            let timeout = idle.then_some(if stopping {
                Some(Duration::from_secs(1))
            } else if first {
                t_http_request
            } else {
                t_keep_alive
            });
            let next = poll_fn(|cx| {
                // The streams woken since (or new) work first: what they send goes out with
                // the connection's poll below.
                let _ = tasks.run(cx);
                // Some server's connections were shut down (the shard's registry woke this
                // task): the streams look at theirs.
                let r = sessions.rechecks();
                if r != rechecks {
                    rechecks = r;
                    streams.wake_all();
                }
                if calm.get() > handled {
                    return Poll::Ready(Event::Calm(calm.get()));
                }
                if streams.changed.replace(false) {
                    return Poll::Ready(Event::Changed);
                }
                streams.wait(cx);
                let r = if streams.live.get() < max {
                    match conn.poll_accept(cx) {
                        Poll::Ready(Some(Ok(s))) => {
                            accepted = Some(s);
                            Poll::Ready(Event::Stream)
                        }
                        Poll::Ready(Some(Err(e))) => {
                            log::debug!("{}: {}: h2: {e}", ctx.fe.name, ctx.info.src);
                            Poll::Ready(Event::Failed)
                        }
                        Poll::Ready(None) => Poll::Ready(Event::Closed),
                        Poll::Pending => Poll::Pending,
                    }
                } else {
                    // Over the limit: only move the frames of the streams at work (new ones
                    // wait in h2, up to the advertised limit) until one ends.
                    match conn.poll_closed(cx) {
                        Poll::Ready(_) => Poll::Ready(Event::Closed),
                        Poll::Pending => Poll::Pending,
                    }
                };
                if r.is_pending() && calm.get() > handled {
                    return Poll::Ready(Event::Calm(calm.get()));
                }
                r
            });
            let ev = future::or(
                next,
                future::or(
                    async {
                        // (One wait for the whole connection, polled until it completes.)
                        if stopping {
                            future::pending::<()>().await;
                        }
                        (&mut stop).await;
                        Event::Stop
                    },
                    async {
                        match timeout.flatten() {
                            Some(t) => {
                                glommio::timer::sleep(t).await;
                                Event::Idle
                            }
                            None => future::pending().await,
                        }
                    },
                ),
            )
            .await;
            match ev {
                Event::Stream => {
                    let Some((req, respond)) = accepted.take() else {
                        continue;
                    };
                    let live = streams.enter();
                    tasks.spawn(|| stream(ctx.clone(), req, respond, first, live));
                    first = false;
                    taken = taken.saturating_add(1);
                    if taken == tune.max_total_streams {
                        // The connection's lifetime is over (HAProxy's max-total-streams):
                        // GOAWAY, the streams in flight (and those the client sent meanwhile)
                        // finish, then the connection closes; the client reconnects.
                        conn.graceful_shutdown();
                    }
                }
                Event::Closed => break,
                Event::Changed => {}
                Event::Failed => {
                    linger = true;
                    break;
                }
                Event::Calm(c) => {
                    handled = c;
                    if c == Calm::Kill {
                        log::debug!(
                            "{}: {}: h2: glitches over the threshold; GOAWAY ENHANCE_YOUR_CALM",
                            ctx.fe.name,
                            ctx.info.src
                        );
                        conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                        // Out with the GOAWAY, bounded in time; the streams' tasks end as
                        // their sends fail.
                        close_within(&mut conn, Duration::from_secs(1), &mut tasks).await;
                        linger = true;
                        break;
                    }
                    conn.graceful_shutdown();
                }
                Event::Idle => {
                    // Idle past `timeout http-keep-alive` (or `http-request` before the first
                    // stream): GOAWAY naming the last stream taken (a stream the client sent
                    // meanwhile was not processed: it may retry it), then close.
                    conn.abrupt_shutdown(Reason::NO_ERROR);
                    close_within(&mut conn, Duration::from_secs(1), &mut tasks).await;
                    linger = true;
                    break;
                }
                Event::Stop => {
                    // A stop or reload: GOAWAY naming the last stream taken; those in flight
                    // finish, then h2 ends the connection (accept returns None).
                    stopping = true;
                    conn.graceful_shutdown();
                }
            }
        }
        linger
    };
    // The streams still at work (waiting for a server, say) end in a task of their own, as
    // when each stream had one: the connection closes now, its descriptor and its maxconn
    // slot go. (Their sends fail once the connection is gone; what they do after, the log
    // line and a server connection's return, goes on.)
    if !tasks.is_empty() {
        glommio::spawn_local(poll_fn(move |cx| tasks.run(cx))).detach();
    }
    if linger {
        drain(io, ctx.bufsize() * 64, ctx.info.fd).await;
    }
}

/// After our GOAWAY: reads and drops what the client still sends (up to `max` bytes, for
/// at most a second), so that closing does not reset the connection before the client has
/// read the GOAWAY. Past `max`, reading stops but the close waits (within that second) until
/// the client has received all we sent: a close with unread input is a reset, and a reset
/// discards what is still in our send queue — the GOAWAY itself, when a flooding client
/// is slow to read (seen in a loaded CI run).
async fn drain<T: AsyncRead + Unpin>(io: &mut T, max: usize, fd: std::os::fd::RawFd) {
    use futures_lite::AsyncReadExt;
    let end = Instant::now() + Duration::from_secs(1);
    let until = Some(end);
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while total < max {
        match crate::net::io::with_deadline(until, io.read(&mut buf)).await {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
    while crate::sys::bytes_unacked_raw(fd) > 0 && Instant::now() < end {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}

/// One stream: its head rebuilt for the codec, then the exchange, over buffers of the
/// connection's.
async fn stream(
    ctx: Rc<Ctx>,
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
    first: bool,
    live: Live,
) {
    let txn = Txn::new();
    let private = live.streams.private.borrow_mut().pop();
    let mut b = private.unwrap_or_else(|| take_bufs(&ctx));
    // The request's head, rebuilt as HTTP/1.1 into the request buffer (through the
    // state's scratch buffer), its tokens' spans into the parsed head; its parts are not
    // kept (nor held in the stream's future).
    let (rebuilt, body, alone) = {
        let (parts, body) = req.into_parts();
        let mut head = b.take_scratch();
        let r = h1_head(&parts, body.is_end_stream(), &mut head, &mut b.req.headers);
        // The head is all the request buffer holds (its spans are the buffer's).
        let mut alone = b.inb.is_drained();
        if r.is_ok() {
            b.inb.extend(&head);
            alone &= b.inb.len() == head.len();
        }
        b.put_scratch(head);
        (r, body, alone)
    };
    let rebuilt = match rebuilt {
        Ok(r) => r,
        Err(Malformed(why)) => {
            log::debug!(
                "{}: {}: malformed h2 request: {why}",
                ctx.fe.name,
                ctx.info.src
            );
            let mut respond = respond;
            respond.send_reset(Reason::PROTOCOL_ERROR);
            done_with(b, &live);
            return;
        }
    };
    let mut io = StreamIo::new(body, respond, rebuilt.chunked, &ctx, b.take_h2_res());
    // The parsed head is made from the tokens h1_head wrote (their spans are those of the
    // request buffer, which held nothing before); what that cannot vouch for is parsed
    // from the text as an HTTP/1 request is. A head over the limit is rejected by the
    // parse (431), as for HTTP/1: h2 let through a header list of up to that size, and the
    // HTTP/1 spelling differs a little.
    let direct = if alone {
        crate::h1::request_from_tokens(
            b.inb.bytes(),
            rebuilt.method,
            rebuilt.target,
            &ctx.limits,
            &mut b.req,
        )
    } else {
        None
    };
    let parsed = match direct {
        Some(r) => r.map(|()| b.req.head_len()),
        None => {
            let too_large = crate::h1::HttpError::new(
                crate::h1::ErrorKind::HeadTooLarge,
                crate::h1::Message::Request,
                0,
            );
            match parse_request(b.inb.bytes(), &ctx.limits, &mut b.req) {
                Ok(Parsed::Complete { head_len }) => Ok(head_len),
                Ok(Parsed::Incomplete) => Err(too_large),
                Err(e) => Err(e),
            }
        }
    };
    match parsed {
        Ok(head_len) => {
            let mut txn = txn;
            txn.head_came_with_start();
            io.method = b.req.method();
            // When the server the request is bound to has its connections shut down
            // (`shutdown sessions server`, `on-marked-down shutdown-sessions`…), this
            // stream alone ends where it stands (the exchange logs it as it drops) and is
            // reset below; the connection's other streams go on, as in HAProxy.
            let bound = Cell::new(None);
            let run = async {
                let mut ex = Exchange::start(&ctx, txn, head_len, &mut b, &mut io, first).await;
                ex.watch(&bound);
                ex.run(&mut b, &mut io).await;
            };
            future::or(run, server_shut(&ctx, &bound, &live)).await;
        }
        Err(e) => {
            ctx.fe
                .errors
                .record(ctx.info.src, e, b.inb.bytes(), ctx.bufsize());
            log::debug!("{}: {}: bad h2 request: {e}", ctx.fe.name, ctx.info.src);
            let mut txn = txn;
            let mut out = Vec::new();
            let e = crate::net::error::ProxyError::bad_request(e.status());
            ctx.fail(&mut io, &mut out, &mut txn, None, &e, None, None)
                .await;
            txn.count_stick_bytes(&ctx, &crate::stick::Trackers::new());
        }
    }
    io.finish().await;
    b.put_h2_res(std::mem::take(&mut io.res));
    done_with(b, &live);
}

/// A finished stream's state: to the shard's spares (its buffers kept for the next
/// request of any connection), or, holding a private server connection, to the
/// connection's next stream without its buffers (an idle connection holds none).
fn done_with(mut b: Box<Bufs>, live: &Live) {
    if b.has_private() {
        b.reset();
        live.streams.private.borrow_mut().push(b);
    } else {
        give_back_bufs(b);
    }
}

/// Completes when the server in `bound` (a stream's, with its kill epoch when the
/// stream's request was bound to it) has had its connections shut down since: the epoch
/// the HTTP/1 exchange's connection is killed by (`Registry::kill_bound`). Looked at
/// whenever the stream's task runs, and woken for it when the shard's registry asks the
/// connection to look (`Registry::recheck_multiplexed`): no listener per stream.
fn server_shut<'a>(
    ctx: &'a Ctx,
    bound: &'a Cell<Option<Target>>,
    live: &'a Live,
) -> impl std::future::Future<Output = ()> + 'a {
    let backends = &ctx.shard.shared.backends;
    poll_fn(move |cx| {
        if let Some(t) = bound.get()
            && let Some(be) = &backends[t.backend]
            && be.lb.servers[t.server].kill_epoch() != t.epoch
        {
            return Poll::Ready(());
        }
        live.watch(cx);
        Poll::Pending
    })
}

/// An HTTP/2 request that RFC 9113 calls malformed (§8.1.1): its stream is reset with
/// PROTOCOL_ERROR (h2 checks the rest: pseudo-header order, connection-specific fields…).
#[derive(Debug, PartialEq, Eq)]
struct Malformed(&'static str);

/// Where [`h1_head`] put the request line's tokens in the head it wrote (its fields' spans
/// go to the caller's list).
#[derive(Debug, PartialEq, Eq)]
struct Rebuilt {
    /// The body is sent chunked (no Content-Length and more to come).
    chunked: bool,
    method: Span,
    target: Span,
}

/// Writes the request's head as HTTP/1.1 (what the codec reads) into `out`, which starts
/// empty, and each field's name and value spans into `fields` (cleared first): the head's
/// tokens, so that the exchange's parsed head is made from them without tokenizing the
/// text again ([`request_from_tokens`]).
fn h1_head(
    parts: &http::request::Parts,
    end_stream: bool,
    out: &mut Vec<u8>,
    fields: &mut Vec<HeaderField>,
) -> Result<Rebuilt, Malformed> {
    let uri = &parts.uri;
    let authority = uri.authority().map(|a| a.as_str());
    if parts.method == http::Method::CONNECT && authority.is_none() {
        return Err(Malformed("CONNECT without :authority"));
    }
    if let (Some(a), Some(h)) = (authority, parts.headers.get(http::header::HOST))
        && h.as_bytes() != a.as_bytes()
    {
        return Err(Malformed("Host differs from :authority"));
    }
    let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if parts.headers.values().any(|v| {
        let v = v.as_bytes();
        blank(v.first()) || blank(v.last())
    }) {
        return Err(Malformed("a field value starts or ends with a blank"));
    }
    fields.clear();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let method = put(out, parts.method.as_str().as_bytes());
    out.push(b' ');
    let target_start = out.len();
    match (authority, uri.scheme_str()) {
        (Some(a), _) if parts.method == http::Method::CONNECT => {
            out.extend_from_slice(a.as_bytes());
        }
        // With :authority, the target is absolute, as HAProxy makes it: `url`, `%r` and
        // the log show `https://host/path` (the exchange sends servers the origin-form).
        (Some(a), Some(scheme)) => {
            out.extend_from_slice(scheme.as_bytes());
            out.extend_from_slice(b"://");
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(path.as_bytes());
        }
        _ => out.extend_from_slice(path.as_bytes()),
    }
    let target = Span::new(target_start, out.len());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = authority {
        field(out, fields, b"host", a.as_bytes());
    }
    let mut cookies = 0;
    for (name, value) in &parts.headers {
        match name.as_str() {
            // :authority wins over Host (RFC 9113 8.3.1). TE (only "trailers" in h2) is
            // hop-by-hop: the exchange strips it for HTTP/1 servers, and an HTTP/2 server
            // gets it back from here (gRPC needs it: `h2_upstream`).
            "host" if authority.is_some() => continue,
            "te" if value.as_bytes() != b"trailers" => continue,
            // Cookie fields are joined into one for HTTP/1.1 (RFC 9113 8.2.3).
            "cookie" => {
                cookies += 1;
                continue;
            }
            _ => {}
        }
        field(out, fields, name.as_str().as_bytes(), value.as_bytes());
    }
    if cookies > 0 {
        let name = put(out, b"cookie");
        out.extend_from_slice(b": ");
        let at = out.len();
        for (i, v) in parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .enumerate()
        {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(v.as_bytes());
        }
        end_field(out, fields, name, at);
    }
    let chunked = !end_stream && !parts.headers.contains_key(http::header::CONTENT_LENGTH);
    if chunked {
        field(out, fields, b"transfer-encoding", b"chunked");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Rebuilt {
        chunked,
        method,
        target,
    })
}

/// Appends `b`; returns where it went.
fn put(out: &mut Vec<u8>, b: &[u8]) -> Span {
    let at = out.len();
    out.extend_from_slice(b);
    Span::new(at, out.len())
}

/// Writes a field line and records its spans.
fn field(out: &mut Vec<u8>, fields: &mut Vec<HeaderField>, name: &[u8], value: &[u8]) {
    let name = put(out, name);
    out.extend_from_slice(b": ");
    let at = out.len();
    out.extend_from_slice(value);
    end_field(out, fields, name, at);
}

/// Ends the field line named at `name` whose value started at `at`; records its spans.
fn end_field(out: &mut Vec<u8>, fields: &mut Vec<HeaderField>, name: Span, at: usize) {
    fields.push(HeaderField {
        name,
        value: Span::new(at, out.len()),
        known: KnownHeader::Other,
        dropped: false,
    });
    out.extend_from_slice(b"\r\n");
}

/// Where the response stands on the stream.
enum Out {
    /// Waiting for the (final) head; bytes of a head split over writes.
    Head(Vec<u8>),
    Body(SendStream<Bytes>, Framing),
    Done,
}

/// An HTTP/2 stream as the exchange's client: reads give the request body (framed as the
/// rebuilt head says), writes take the HTTP/1 response and send it as frames.
struct StreamIo {
    body: RecvStream,
    /// Chunk-frame the request body (its length is unknown).
    chunked: bool,
    /// Request bytes not read yet (one DATA frame at most, with its chunk framing).
    pend: Vec<u8>,
    pend_pos: usize,
    req_done: bool,
    respond: SendResponse<Bytes>,
    out: Out,
    res: ResponseHead,
    limits: crate::h1::HeadLimits,
    method: Method,
}

impl StreamIo {
    fn new(
        body: RecvStream,
        respond: SendResponse<Bytes>,
        chunked: bool,
        ctx: &Ctx,
        res: ResponseHead,
    ) -> Self {
        StreamIo {
            body,
            chunked,
            pend: Vec::new(),
            pend_pos: 0,
            req_done: false,
            respond,
            out: Out::Head(Vec::new()),
            res,
            limits: ctx.limits,
            method: Method::Get,
        }
    }

    /// After the exchange: a response cut short is reset; one whose end was the server's
    /// close ends here. A whole response to a request whose body is still coming declines
    /// the rest with RST_STREAM NO_ERROR (RFC 9113 §8.1), so the client stops sending and
    /// keeps the response; h2 drops a stream's unsent frames when it is reset, so some of
    /// the body is read and dropped first (up to 1 MiB, for up to a second) while the
    /// response goes out.
    async fn finish(&mut self) {
        match std::mem::replace(&mut self.out, Out::Done) {
            Out::Done => {}
            Out::Body(mut s, Framing::Close) => {
                let _ = s.send_data(Bytes::new(), true);
            }
            Out::Body(mut s, _) => return s.send_reset(Reason::INTERNAL_ERROR),
            Out::Head(_) => return self.respond.send_reset(Reason::CANCEL),
        }
        if self.req_done || self.body.is_end_stream() {
            return;
        }
        let drained = future::or(
            async {
                let mut left = 1usize << 20;
                while left > 0 {
                    match poll_fn(|cx| self.body.poll_data(cx)).await {
                        Some(Ok(d)) => {
                            let _ = self.body.flow_control().release_capacity(d.len());
                            left = left.saturating_sub(d.len());
                        }
                        Some(Err(_)) | None => return true,
                    }
                }
                false
            },
            async {
                glommio::timer::sleep(Duration::from_secs(1)).await;
                false
            },
        )
        .await;
        if !drained {
            self.respond.send_reset(Reason::NO_ERROR);
        }
    }

    /// Takes a response head (HTTP/1 bytes from the exchange) and sends it: `Ok(n)` with the
    /// bytes of `data` it used.
    fn take_head(&mut self, data: &[u8]) -> io::Result<usize> {
        let Out::Head(acc) = &mut self.out else {
            unreachable!()
        };
        let before = acc.len();
        let whole: &[u8] = if before == 0 {
            data
        } else {
            acc.extend_from_slice(data);
            acc
        };
        let head_len = match parse_response(whole, &self.limits, &mut self.res) {
            Ok(Parsed::Complete { head_len }) => head_len,
            Ok(Parsed::Incomplete) => {
                if before == 0 {
                    acc.extend_from_slice(data);
                }
                return Ok(data.len());
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        let res = &self.res;
        let status = res.status();
        let r = h2_response(res, whole);
        let used = head_len - before;
        if res.is_interim() {
            // 100 Continue and 103 Early Hints are for the client too; 101 is not HTTP/2.
            if status != 101
                && let Ok(r) = r
            {
                let _ = self.respond.send_informational(r);
            }
            self.out = Out::Head(Vec::new());
            return Ok(used);
        }
        let r = r?;
        let framing = match res.body_kind(self.method) {
            BodyKind::None => None,
            BodyKind::ContentLength(0) => None,
            BodyKind::ContentLength(n) => Some(Framing::Length(n)),
            BodyKind::Chunked => Some(Framing::Chunked(Dechunk::Size(0), Vec::new())),
            BodyKind::CloseDelimited | BodyKind::Tunnel => Some(Framing::Close),
        };
        let end = framing.is_none();
        let s = self
            .respond
            .send_response(r, end)
            .map_err(io::Error::other)?;
        self.out = match framing {
            None => Out::Done,
            Some(f) => Out::Body(s, f),
        };
        Ok(used)
    }
}

/// An HTTP/1 response head (in `buf`) as the h2 crate's response: the header map is built
/// directly at its final size (http's `Builder` moves its whole state at every field and
/// grows the map as it goes: a measurable share of a stream's CPU).
fn h2_response(res: &ResponseHead, buf: &[u8]) -> io::Result<http::Response<()>> {
    let fields = res.headers();
    let mut map = http::HeaderMap::with_capacity(fields.len());
    // The values are slices of one copy of the head's fields (one allocation, where a
    // value of its own was one each).
    let (lo, hi) = fields.iter().fold((usize::MAX, 0), |(lo, hi), f| {
        (lo.min(f.value.start()), hi.max(f.value.end()))
    });
    let shared = if lo >= hi {
        Bytes::new()
    } else if hi - lo <= FieldsCopy::SIZE {
        let mut c = FieldsCopy {
            len: hi - lo,
            bytes: [0; FieldsCopy::SIZE],
        };
        c.bytes[..hi - lo].copy_from_slice(&buf[lo..hi]);
        Bytes::from_owner(c)
    } else {
        Bytes::copy_from_slice(&buf[lo..hi])
    };
    for f in fields {
        let name = f.name(buf);
        if f.dropped || is_connection_specific(name) {
            continue;
        }
        let name = header_name(name).map_err(io::Error::other)?;
        let value = if f.value.is_empty() {
            http::HeaderValue::from_static("")
        } else {
            http::HeaderValue::from_maybe_shared(
                shared.slice(f.value.start() - lo..f.value.end() - lo),
            )
            .map_err(io::Error::other)?
        };
        map.append(name, value);
    }
    let mut r = http::Response::new(());
    *r.status_mut() = http::StatusCode::from_u16(res.status()).map_err(io::Error::other)?;
    *r.headers_mut() = map;
    Ok(r)
}

/// A short copy of a response head's fields, in the one allocation of `Bytes::from_owner`
/// (whose slices share it by a count: a `Vec`'s copy made a second allocation, its shared
/// state, at the first slice).
struct FieldsCopy {
    len: usize,
    bytes: [u8; FieldsCopy::SIZE],
}

impl FieldsCopy {
    const SIZE: usize = 256;
}

impl AsRef<[u8]> for FieldsCopy {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A response field's name as the h2 crate's, from the shard's names seen before: a
/// server answers with the same few names every time, and parsing one (and copying a name
/// http does not know, such as `X-Server`, into a buffer of its own) was a measurable share
/// of a stream's CPU. The first 32 names are kept; a clone is a copy, or a reference count
/// for a name of its own. (The same bytes always give the same name.)
fn header_name(raw: &[u8]) -> Result<http::HeaderName, http::header::InvalidHeaderName> {
    const KEPT: usize = 32;
    thread_local! {
        static NAMES: RefCell<Vec<(Box<[u8]>, http::HeaderName)>> =
            const { RefCell::new(Vec::new()) };
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, name)) = names.iter().find(|(k, _)| **k == *raw) {
            return Ok(name.clone());
        }
        let name = http::HeaderName::from_bytes(raw)?;
        if names.len() < KEPT {
            names.push((raw.into(), name.clone()));
        }
        Ok(name)
    })
}

impl AsyncWrite for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Out::Head(_) = this.out {
            return Poll::Ready(this.take_head(data));
        }
        let Out::Body(s, framing) = &mut this.out else {
            // Past the end of the response: nothing more goes out.
            return Poll::Ready(Ok(data.len()));
        };
        let r = poll_send_body(s, framing, cx, data);
        if let Poll::Ready(Ok((_, true))) = r {
            this.out = Out::Done;
        }
        r.map_ok(|(n, _)| n)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for StreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.pend_pos < this.pend.len() {
                let n = crate::net::io::copy_pending(&this.pend, &mut this.pend_pos, buf);
                return Poll::Ready(Ok(n));
            }
            if this.req_done {
                return Poll::Ready(Ok(0));
            }
            this.pend.clear();
            this.pend_pos = 0;
            match poll_recv_body(&mut this.body, this.chunked, &mut this.pend, cx) {
                Poll::Ready(Ok(ended)) => this.req_done = ended,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client stream that has `data` (all of it ready) and records the size of each
    /// buffer it is lent.
    struct Lent {
        data: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
    }

    impl AsyncRead for Lent {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.sizes.push(buf.len());
            Poll::Ready(Ok(crate::net::io::copy_pending(
                &this.data,
                &mut this.at,
                buf,
            )))
        }
    }

    /// h2 reads the early bytes, then the client's, all of them in order, and each read
    /// lends (so zeroes) at most twice what the last one brought, 1 KiB at least: not
    /// the whole spare room of h2's buffer (what `tokio_util`'s `Compat` zeroed every time).
    #[test]
    fn wire_reads_everything_in_order_lending_what_the_last_read_brought() {
        use tokio::io::AsyncRead as _;
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = Wire {
            pre: data[..100].to_vec(),
            pos: 0,
            io: Lent {
                data: data[100..].to_vec(),
                at: 0,
                sizes: Vec::new(),
            },
            meter: FrameMeter::new(0),
            calm: Rc::new(Cell::new(Calm::Fine)),
            glitches: Rc::new(Cell::new(0)),
            offer: Wire::<()>::MIN_OFFER,
        };
        let mut got = Vec::new();
        let mut zeroed = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut room = vec![std::mem::MaybeUninit::<u8>::uninit(); 8192];
        loop {
            let mut buf = tokio::io::ReadBuf::uninit(&mut room);
            match Pin::new(&mut w).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Ok(())) => got.extend_from_slice(buf.filled()),
                other => panic!("{other:?}"),
            }
            zeroed.push(buf.initialized().len());
        }
        assert_eq!(got, data);
        // The 100 early bytes, then 1 KiB, then twice each read's bytes, up to the room:
        // only what is lent is zeroed.
        assert_eq!(zeroed[..5], [1024, 1024, 2048, 4096, 8192]);
        assert_eq!(w.io.sizes[..4], [1024, 2048, 4096, 8192]);
    }

    fn head_of(req: http::request::Builder, end: bool) -> Result<String, Malformed> {
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let mut out = Vec::new();
        let r = h1_head(&parts, end, &mut out, &mut Vec::new())?;
        Ok(format!("{} {}", r.chunked, String::from_utf8(out).unwrap()))
    }

    /// The shard's kept names are the names http parses, a name twice as once; an invalid
    /// name is refused each time and not kept.
    #[test]
    fn kept_header_names_are_the_parsed_names() {
        for raw in [
            &b"X-Server"[..],
            b"content-type",
            b"Content-Length",
            b"x-server",
            b"X-Server",
            b"Server",
        ] {
            for _ in 0..2 {
                let kept = header_name(raw).unwrap();
                assert_eq!(kept, http::HeaderName::from_bytes(raw).unwrap());
                assert_eq!(
                    kept.as_str(),
                    std::str::from_utf8(raw).unwrap().to_lowercase()
                );
            }
        }
        for _ in 0..2 {
            assert!(header_name(b"bad name").is_err());
        }
    }

    /// The h2 response carries the head's fields and values, connection-specific ones
    /// left out, whether its values fit the short copy or not.
    #[test]
    fn h2_responses_carry_the_head_s_values() {
        for pad in [0, 200, 300, 5000] {
            let long = "v".repeat(pad);
            let raw = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\
                 X-Long: {long}\r\nX-Empty:\r\nX-Server: s1\r\n\r\nok"
            );
            let mut head = ResponseHead::new();
            let limits = crate::h1::HeadLimits::HAPROXY_DEFAULT;
            assert!(matches!(
                crate::h1::parse_response(raw.as_bytes(), &limits, &mut head),
                Ok(Parsed::Complete { .. })
            ));
            let r = h2_response(&head, raw.as_bytes()).unwrap();
            let h = r.headers();
            assert_eq!(r.status(), 200);
            assert_eq!(h.len(), 4, "{h:?}");
            assert_eq!(h["content-length"], "2");
            assert_eq!(h["x-long"], long.as_str());
            assert_eq!(h["x-empty"], "");
            assert_eq!(h["x-server"], "s1");
            assert!(h.get("connection").is_none());
            // The values outlive the head's buffer and each other.
            let v = h["x-server"].clone();
            drop(r);
            assert_eq!(v, "s1");
        }
    }

    /// The parsed head made from h1_head's tokens is the one the HTTP/1 parser makes of
    /// its text, errors included; what the tokens cannot vouch for goes to the parser.
    #[test]
    fn heads_from_tokens_are_the_parsed_heads() {
        let limits = crate::h1::HeadLimits::default();
        let direct = |parts: &http::request::Parts, end: bool, limits: &crate::h1::HeadLimits| {
            let mut out = Vec::new();
            let mut head = crate::h1::RequestHead::new();
            let r = h1_head(parts, end, &mut out, &mut head.headers).unwrap();
            let d = crate::h1::request_from_tokens(&out, r.method, r.target, limits, &mut head)
                .map(|r| r.map(|()| format!("{head:?}")));
            let mut parsed = crate::h1::RequestHead::new();
            let p = match parse_request(&out, limits, &mut parsed) {
                Ok(Parsed::Complete { head_len }) => {
                    assert_eq!(head_len, out.len());
                    Ok(format!("{parsed:?}"))
                }
                Ok(Parsed::Incomplete) => panic!("incomplete"),
                Err(e) => Err(e),
            };
            (d, p)
        };
        let b = http::Request::builder;
        let cases = [
            b().uri("https://example.test/a?b=1").header("x-y", "z"),
            b().method("POST")
                .uri("https://example.test:8443/up")
                .header("cookie", "a=1")
                .header("te", "trailers")
                .header("cookie", "b=2")
                .header("content-length", "12"),
            b().uri("https://example.test/")
                .header("host", "example.test"),
            b().uri("/no-authority").header("host", "h.test"),
            b().uri("/no-host-at-all"),
            b().method("CONNECT").uri("example.test:443"),
            b().method("CONNECT").uri("example.test"),
            b().method("OPTIONS").uri("*"),
            b().uri("https://example.test/")
                .header("content-length", "1,2"),
            b().uri("https://example.test/")
                .header("content-length", "3")
                .header("transfer-encoding", "chunked"),
            b().uri("https://example.test/")
                .header("transfer-encoding", "gzip"),
            b().uri("https://example.test/")
                .header("connection", "upgrade")
                .header("upgrade", "websocket"),
            b().uri("https://example.test/")
                .header("expect", "100-continue")
                .header("x-empty", ""),
            b().method("PURGE").uri("https://example.test/x"),
            b().uri("https://example.test/%7Ea%22b"),
            b().uri("https://b\u{e9}.test/"),
            b().uri("https://example.test/caf\u{e9}"),
        ];
        let mut refused = 0;
        for (i, r) in cases.into_iter().enumerate() {
            let Ok(r) = r.body(()) else { continue };
            let (parts, ()) = r.into_parts();
            for relaxed in [false, true] {
                let limits = crate::h1::HeadLimits { relaxed, ..limits };
                let (d, p) = direct(&parts, i % 2 == 0, &limits);
                let d = d.expect("tokenizable");
                refused += usize::from(p.is_err());
                let (d, p) = (d.map_err(|e| e.to_string()), p.map_err(|e| e.to_string()));
                assert_eq!(d, p, "case {i}, relaxed {relaxed}");
            }
        }
        assert!(refused >= 4, "the errors are compared too ({refused})");
        // Over the head size or the field count: the parser decides.
        let small = crate::h1::HeadLimits {
            max_headers: 2,
            ..limits
        };
        let r = b()
            .uri("https://example.test/")
            .header("a", "1")
            .header("b", "2");
        let (parts, ()) = r.body(()).unwrap().into_parts();
        let (d, p) = direct(&parts, true, &small);
        assert!(d.is_none() && p.is_err());
    }

    #[test]
    fn h1_head_rebuilds_the_request_and_refuses_malformed_ones() {
        let r = http::Request::builder()
            .method("POST")
            .uri("https://example.test:8443/a?b=1")
            .header("cookie", "a=1")
            .header("te", "trailers")
            .header("x-y", "z")
            .header("cookie", "b=2");
        assert_eq!(
            head_of(r, false).unwrap(),
            "true POST https://example.test:8443/a?b=1 HTTP/1.1\r\nhost: example.test:8443\r\nte: trailers\r\nx-y: z\r\ncookie: a=1; b=2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let r = http::Request::builder()
            .uri("https://example.test/")
            .header("content-length", "3");
        assert!(
            head_of(r, false)
                .unwrap()
                .starts_with("false GET https://example.test/ HTTP/1.1\r\n")
        );
        for (r, why) in [
            (
                http::Request::builder()
                    .uri("https://a.test/")
                    .header("host", "b.test"),
                "Host differs from :authority",
            ),
            (
                http::Request::builder().method("CONNECT").uri("/x"),
                "CONNECT without :authority",
            ),
            (
                http::Request::builder()
                    .uri("https://a.test/")
                    .header("x", "v\t"),
                "a field value starts or ends with a blank",
            ),
            (
                http::Request::builder()
                    .uri("https://a.test/")
                    .header("x", " v"),
                "a field value starts or ends with a blank",
            ),
        ] {
            assert_eq!(head_of(r, true), Err(Malformed(why)));
        }
    }

    fn frame(kind: u8, flags: u8, len: usize) -> Vec<u8> {
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.resize(9 + len, 0);
        f
    }

    #[test]
    fn meter_counts_control_frames_beyond_the_budget() {
        let t0 = Instant::now();
        let mut m = FrameMeter::new(100);
        assert_eq!(m.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", t0), Calm::Fine);
        assert_eq!(m.feed(&frame(4, 0, 6), t0), Calm::Fine); // SETTINGS
        // A request with a body: no glitch.
        m.feed(&frame(1, 0x4, 30), t0);
        m.feed(&frame(0, 0x1, 100), t0);
        for _ in 0..CONTROL_BUDGET_PER_SEC - 1 {
            m.feed(&frame(6, 0, 8), t0); // PING
        }
        assert_eq!(m.glitches, 0);
        // Byte by byte, the frame header still counts.
        for b in frame(6, 0, 8) {
            m.feed(&[b], t0);
        }
        assert_eq!(m.glitches, 1);
        // PING ACKs are answers, not work asked of us.
        m.feed(&frame(6, 0x1, 8), t0);
        assert_eq!(m.glitches, 1);
        // A new second brings a new budget.
        m.feed(&frame(6, 0, 8), t0 + Duration::from_secs(1));
        assert_eq!(m.glitches, 1);
        for _ in 0..CONTROL_BUDGET_PER_SEC + 74 {
            m.feed(&frame(0, 0, 0), t0 + Duration::from_secs(1)); // empty DATA
        }
        assert_eq!(m.verdict(), Calm::GoAway);
        for _ in 0..25 {
            m.feed(&frame(3, 0, 4), t0 + Duration::from_secs(1)); // RST_STREAM
        }
        assert_eq!(m.verdict(), Calm::Kill);
    }

    #[test]
    fn meter_counts_small_continuations_and_can_be_off() {
        let t0 = Instant::now();
        let mut m = FrameMeter::new(4);
        m.feed(&[0; PREFACE_LEN], t0);
        m.feed(&frame(1, 0, 10), t0); // HEADERS without END_HEADERS
        m.feed(&frame(9, 0, 5000), t0); // a large CONTINUATION: fine
        assert_eq!(m.glitches, 0);
        m.feed(&frame(9, 0, 1), t0);
        m.feed(&frame(9, 0, 0), t0);
        m.feed(&frame(9, 0x4, 0), t0); // the last one ends the block: fine
        assert_eq!(m.glitches, 2);
        let mut off = FrameMeter::new(0);
        off.feed(&[0; PREFACE_LEN], t0);
        for _ in 0..1000 {
            off.feed(&frame(6, 0, 8), t0);
        }
        assert_eq!(off.verdict(), Calm::Fine);
    }
}
