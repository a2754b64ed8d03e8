//! The I/O side of mode http: the connection's input buffer, reads and writes bounded by a
//! deadline, and the server connection type.

use crate::net::buffers::{give_back, take as take_buffer};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use std::io;
use std::time::{Duration, Instant};

/// Copies what is left of `pending` (from `*pos`) into `buf` and moves `*pos` on: for
/// streams that serve bytes they already hold before reading more.
pub fn copy_pending(pending: &[u8], pos: &mut usize, buf: &mut [u8]) -> usize {
    let n = (pending.len() - *pos).min(buf.len());
    buf[..n].copy_from_slice(&pending[*pos..*pos + n]);
    *pos += n;
    n
}

/// Bytes received and not consumed yet: `data[start..end]`. One per connection side,
/// `tune.bufsize` large; the codec parses heads in place and bodies pass through it.
/// The buffer is taken when a read starts and can be given back while empty, so that an
/// idle keep-alive connection holds no buffer (HAProxy does the same); it goes to the
/// shard's spare buffers, since a connection between two requests gives its buffers back
/// and takes them again at once.
pub struct InBuf {
    data: Box<[u8]>,
    cap: usize,
    start: usize,
    end: usize,
    /// Bytes received before they had room here (early bytes beyond `tune.bufsize`): the
    /// next reads take them, before anything from the socket, as if they were still in it.
    backlog: Vec<u8>,
}

impl InBuf {
    pub fn new(size: usize) -> InBuf {
        InBuf {
            data: Box::default(),
            cap: size,
            start: 0,
            end: 0,
            backlog: Vec::new(),
        }
    }

    fn ensure(&mut self) {
        if self.data.is_empty() {
            self.data = take_buffer(self.cap);
        }
    }

    /// Gives the memory back (to the shard's spare buffers) while nothing is pending.
    pub fn release(&mut self) {
        if self.is_empty() {
            give_back(std::mem::take(&mut self.data));
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// The buffer's size (`tune.bufsize`), allocated or not.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Nothing to hand out, not even from the backlog: the next byte must come from the
    /// stream.
    pub fn is_drained(&self) -> bool {
        self.is_empty() && self.backlog.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.start == 0 && self.end == self.cap
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Appends bytes already received (what came with the PROXY header or was drained at a
    /// kTLS hand-off). What does not fit waits in the backlog for the next reads.
    pub fn extend(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        if !self.backlog.is_empty() {
            // Behind bytes that are waiting already: order is kept.
            self.backlog.extend_from_slice(b);
            return;
        }
        let n = self.fill(b);
        self.backlog.extend_from_slice(&b[n..]);
    }

    /// Copies as much of `b` as fits; returns how much.
    fn fill(&mut self, b: &[u8]) -> usize {
        self.ensure();
        self.compact();
        let n = b.len().min(self.data.len() - self.end);
        self.data[self.end..self.end + n].copy_from_slice(&b[..n]);
        self.end += n;
        n
    }

    /// Everything received and not consumed, the backlog included; leaves the buffer empty
    /// (for a tunnel that takes the connection over from here).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut all = self.bytes().to_vec();
        all.append(&mut self.backlog);
        self.consume(self.len());
        all
    }

    /// Moves pending bytes to the front so that reads have room.
    pub fn compact(&mut self) {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads once into the free space (from the backlog first); Ok(0) is EOF (or no room).
    pub async fn read_from<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        deadline: impl Until,
    ) -> io::Result<usize> {
        if !self.backlog.is_empty() {
            let mut backlog = std::mem::take(&mut self.backlog);
            let n = self.fill(&backlog);
            backlog.drain(..n);
            // Once drained its memory goes (mem::take left an empty Vec in its place).
            if !backlog.is_empty() {
                self.backlog = backlog;
            }
            return Ok(n);
        }
        // Taken here, not after the read: a stack buffer to wait with would make every
        // future that awaits this one that much bigger. Who waits long for a first byte
        // waits for readiness first (`net::ready`), holding no buffer.
        self.ensure();
        if self.end == self.data.len() {
            self.compact();
        }
        if self.end == self.data.len() {
            return Ok(0);
        }
        let end = self.end;
        let n = with_deadline(deadline, r.read(&mut self.data[end..])).await?;
        self.end += n;
        Ok(n)
    }
}

impl Drop for InBuf {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.data));
    }
}

/// When an I/O must be done by: an instant (`Option<Instant>`, `None` for no limit), or a
/// time counted from when the I/O begins ([`within`]: no clock read for an I/O done at
/// once, as most writes and the reads of what already arrived are). (A trait rather than
/// an enum of both: each stays 16 bytes in the futures that hold it across their waits.)
pub trait Until: Copy {
    /// No limit.
    fn unlimited(&self) -> bool;
    /// The instant it ends at, once the I/O turned out to wait (None: never).
    fn end(self) -> Option<Instant>;
}

impl Until for Option<Instant> {
    fn unlimited(&self) -> bool {
        self.is_none()
    }
    fn end(self) -> Option<Instant> {
        self
    }
}

/// A timeout counted from when the I/O begins, see [`within`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Within(Option<Duration>);

impl Until for Within {
    fn unlimited(&self) -> bool {
        self.0.is_none()
    }
    fn end(self) -> Option<Instant> {
        // (Counted from the I/O's first poll: it began then.)
        self.0.and_then(|t| Instant::now().checked_add(t))
    }
}

/// A timeout counted from when the I/O begins (`None`: no limit): `deadline(t)` at the
/// I/O's start, without reading the clock for it.
pub fn within(t: Option<Duration>) -> Within {
    Within(t)
}

/// Runs an I/O future until `deadline` (None: no limit); a timeout is `ErrorKind::TimedOut`.
pub async fn with_deadline<T>(
    deadline: impl Until,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    if deadline.unlimited() {
        return f.await;
    }
    // The I/O first: most writes (and reads of what already arrived) are done at once, and
    // then no timer is armed (nor the clock read) for them.
    let mut f = std::pin::pin!(f);
    if let Some(r) = futures_lite::future::poll_once(f.as_mut()).await {
        return r;
    }
    let Some(end) = deadline.end() else {
        return f.await;
    };
    // A timer kept in this future: no allocation, and no clock read for an instant.
    futures_lite::future::or(f, async {
        glommio::timer::sleep_until(end).await;
        Err(io::Error::from(io::ErrorKind::TimedOut))
    })
    .await
}

pub async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    b: &[u8],
    deadline: impl Until,
) -> io::Result<()> {
    with_deadline(deadline, w.write_all(b)).await
}

/// A connection to a server: plain TCP, or TLS (`server … ssl`) in rustls; or, for mode
/// http, one request's stream on a multiplexed connection (HTTP/2 to the server).
pub enum ServerIo {
    Plain(TcpStream),
    Tls(Box<crate::net::tls::UpstreamTls>),
    Stream(Box<dyn Multiplexed>),
}

/// One request's stream on a connection shared with others (`server … proto h2`): the
/// exchange writes an HTTP/1.1 request into it and reads an HTTP/1.1 response out, as on a
/// connection of its own; the connection itself belongs to whoever multiplexes it.
pub trait Multiplexed: futures_lite::AsyncRead + AsyncWrite + Unpin {
    /// The server turned the stream down before processing it (RST_STREAM REFUSED_STREAM,
    /// or a GOAWAY below its id): the request may go again as if never sent.
    fn refused(&self) -> bool;
    /// The connection's local and remote addresses (`bc_src`, `bc_dst`).
    fn addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)>;
    /// What the connection's TLS handshake told (`ssl_bc*`); `None` in clear.
    fn tls_session(&self) -> Option<crate::tls::ServerSession>;
}

impl ServerIo {
    /// The TCP socket. Mode tcp and the checks connect with [`crate::net::upstream`],
    /// which never yields a stream.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ServerIo::Plain(s) => s,
            ServerIo::Tls(t) => t.get_ref().0,
            ServerIo::Stream(_) => unreachable!("a multiplexed stream has no socket of its own"),
        }
    }

    /// The connection's local and remote addresses (`bc_src`, `bc_dst`).
    pub fn addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        match self {
            ServerIo::Stream(s) => s.addrs(),
            _ => {
                let t = self.tcp();
                Some((t.local_addr().ok()?, t.peer_addr().ok()?))
            }
        }
    }

    /// What the TLS handshake with the server told (`ssl_bc*`); `None` in clear.
    pub fn tls_session(&self) -> Option<crate::tls::ServerSession> {
        match self {
            ServerIo::Plain(_) => None,
            ServerIo::Tls(t) => Some(crate::tls::ServerSession::of(t.get_ref().1)),
            ServerIo::Stream(s) => s.tls_session(),
        }
    }

    /// A stream the server refused unprocessed (see [`Multiplexed::refused`]).
    pub fn refused(&self) -> bool {
        matches!(self, ServerIo::Stream(s) if s.refused())
    }

    /// A stream on a shared connection: it goes back to no pool (its connection is kept
    /// by its multiplexer).
    pub fn is_stream(&self) -> bool {
        matches!(self, ServerIo::Stream(_))
    }

    /// Turns on receives submitted to the ring (glommio's `set_recv_on_ring`): the bytes
    /// come with the completion instead of a readiness poll and a `recv`. For mode http's
    /// connections, which are read only through the stream (a tunnel copies, never splices).
    /// It also sends on the ring (`set_send_on_ring`; rustls writes through the stream
    /// too): a write is queued and goes with the shard's next submission instead of a
    /// `send` system call.
    pub fn recv_on_ring(mut self) -> ServerIo {
        let tcp = match &mut self {
            ServerIo::Plain(s) => s,
            ServerIo::Tls(t) => &mut t.get_mut().0,
            // Its connection's multiplexer reads it.
            ServerIo::Stream(_) => return self,
        };
        tcp.set_recv_on_ring(true);
        tcp.set_send_on_ring(true);
        self
    }

    /// Whether this idle connection can be reused (open, nothing unexpected to read). The
    /// read-readiness poll glommio arms after a short read answers without a system call
    /// while it is pending (nothing arrived, not even a FIN, as of the completions reaped
    /// so far, the same knowledge an epoll-based proxy has); otherwise a `MSG_PEEK` asks
    /// the socket. A connection closed in between is caught like one closed after the
    /// peek: the send or the empty answer on a reused connection is retried on a new one.
    /// Bytes (or an end) a receive on the ring took off the socket are not for a peek to
    /// find: such a connection is not reused.
    pub fn idle_alive(&self) -> bool {
        if self.is_stream() {
            return false;
        }
        let s = self.tcp();
        s.read_idle_known() || (!s.has_unread() && crate::sys::idle_socket_alive(crate::sys::fd(s)))
    }
}

delegate_stream_io!(ServerIo { Plain, Tls, Stream });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_server_connection_is_known_open_until_something_arrives() {
        idle_known(false);
    }

    /// The same with receives on the ring: the unexpected bytes are taken off the socket
    /// by the receive, where no peek can see them.
    #[test]
    fn an_idle_server_connection_with_receives_on_the_ring_is_known_open_until_something_arrives() {
        idle_known(true);
    }

    fn idle_known(ring: bool) {
        use crate::net::pump::tests::{on_executor, pair};
        use std::time::Duration;
        // Sleeping lets the executor submit the readiness poll and reap its completion; on
        // loopback the peer's bytes and FIN have arrived when its write or close returns.
        async fn settle() {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
        on_executor(move || async move {
            let (mut peer, s) = pair().await;
            let mut s = ServerIo::Plain(s);
            if ring {
                s = s.recv_on_ring();
            }
            let mut b = [0u8; 64];
            for _ in 0..2 {
                // A short read arms the poll; while it waits, no peek is needed.
                peer.write_all(b"response").await.unwrap();
                assert_eq!(s.read(&mut b).await.unwrap(), 8);
                settle().await;
                assert!(s.tcp().read_idle_known());
                assert!(s.idle_alive());
                // Unexpected bytes: the poll completes; not idle, and the peek says so.
                peer.write_all(b"x").await.unwrap();
                settle().await;
                assert!(!s.tcp().read_idle_known());
                assert!(!s.idle_alive());
                assert_eq!(s.read(&mut b).await.unwrap(), 1);
            }
            // The server closes: the FIN completes the poll.
            settle().await;
            assert!(s.idle_alive());
            drop(peer);
            settle().await;
            assert!(!s.tcp().read_idle_known());
            assert!(!s.idle_alive());
            assert_eq!(s.read(&mut b).await.unwrap(), 0);
            // After EOF nothing is armed: unknown, and the peek sees the EOF.
            assert!(!s.tcp().read_idle_known());
            assert!(!s.idle_alive());
        });
    }

    /// A read waits until its limit (an instant, or a time from when it began) and no
    /// longer; one whose bytes come first gets them, and its timer does not fire later.
    #[test]
    fn reads_end_at_their_limits() {
        use crate::net::pump::tests::{on_executor, pair};
        on_executor(|| async {
            let (mut peer, s) = pair().await;
            let mut s = ServerIo::Plain(s);
            let ms = Duration::from_millis;
            let timed_out = |r: io::Result<usize>| r.unwrap_err().kind() == io::ErrorKind::TimedOut;
            let mut b = InBuf::new(1024);
            // An instant: 60 ms from now.
            let t = Instant::now();
            assert!(timed_out(b.read_from(&mut s, Some(t + ms(60))).await));
            let waited = t.elapsed();
            assert!(waited >= ms(60) && waited < ms(1000), "{waited:?}");
            // A time counted from the read's start.
            let t = Instant::now();
            assert!(timed_out(b.read_from(&mut s, within(Some(ms(60)))).await));
            let waited = t.elapsed();
            assert!(waited >= ms(60) && waited < ms(1000), "{waited:?}");
            // An instant already past: at once.
            let t = Instant::now();
            assert!(timed_out(b.read_from(&mut s, Some(t - ms(1))).await));
            assert!(t.elapsed() < ms(500));
            // Bytes before the limit: read; the next read waits for its own limit only.
            let w = glommio::spawn_local(async move {
                glommio::timer::sleep(ms(20)).await;
                peer.write_all(b"hello").await.unwrap();
                peer
            });
            let t = Instant::now();
            assert_eq!(b.read_from(&mut s, Some(t + ms(100))).await.unwrap(), 5);
            let _peer = w.await;
            assert_eq!(b.bytes(), b"hello");
            let t = Instant::now();
            assert!(timed_out(b.read_from(&mut s, Some(t + ms(300))).await));
            let waited = t.elapsed();
            assert!(waited >= ms(300) && waited < ms(2000), "{waited:?}");
        });
    }

    #[test]
    fn reads_with_receives_on_the_ring_keep_every_byte_in_order() {
        use crate::net::pump::tests::{on_executor, pair};
        on_executor(|| async {
            let (mut peer, s) = pair().await;
            let mut s = ServerIo::Plain(s).recv_on_ring();
            let mut next = 0u8;
            for round in 0..50usize {
                // Sizes around the ring's buffer size, and reads of every size.
                let len = [1, 7, 100, 4095, 4096, 4097, 9000][round % 7];
                let msg: Vec<u8> = (0..len).map(|i| next.wrapping_add(i as u8)).collect();
                next = next.wrapping_add(len as u8);
                peer.write_all(&msg).await.unwrap();
                let mut got = Vec::new();
                let mut b = vec![0u8; [64, 16384, 3][round % 3]];
                while got.len() < len {
                    let n = s.read(&mut b).await.unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&b[..n]);
                }
                assert_eq!(got, msg, "round {round}");
                glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
                assert!(s.idle_alive(), "round {round}");
            }
            drop(peer);
            let mut b = [0u8; 16];
            assert_eq!(s.read(&mut b).await.unwrap(), 0);
        });
    }

    #[test]
    fn writes_with_sends_on_the_ring_keep_every_byte_in_order_and_precede_the_close() {
        // Sends on the ring (glommio's `set_send_on_ring`, on for mode http's plain server
        // connections): a write returns once queued, one send is in flight at a time, a
        // write over 64 KiB waits for it and is sent directly. Dropping the stream with a
        // send in flight must still deliver every byte before the FIN, and a socket made
        // right after must not get any of them (the dropped one's fd number is not reused
        // before its send went).
        use crate::net::pump::tests::{on_executor, pair};
        on_executor(|| async {
            for round in 0..20usize {
                let (mut peer, s) = pair().await;
                let mut s = ServerIo::Plain(s).recv_on_ring();
                let reader = glommio::spawn_local(async move {
                    let mut got = Vec::new();
                    peer.read_to_end(&mut got).await.unwrap();
                    got
                });
                let mut sent = Vec::new();
                let mut next = round as u8;
                for len in [1usize, 100, 4096, 70_000, 65_536, 3, 17] {
                    let msg: Vec<u8> = (0..len).map(|i| next.wrapping_add(i as u8)).collect();
                    next = next.wrapping_add(len as u8 ^ 0x5a);
                    s.write_all(&msg).await.unwrap();
                    sent.extend_from_slice(&msg);
                }
                assert!(s.tcp().ring_send_busy(), "the last write went on the ring");
                drop(s);
                // A new pair at once: it may take the dropped socket's fd number.
                let (mut p2, mut s2) = pair().await;
                s2.write_all(b"second").await.unwrap();
                drop(s2);
                let mut got2 = Vec::new();
                p2.read_to_end(&mut got2).await.unwrap();
                assert_eq!(got2, b"second", "round {round}");
                let got = reader.await;
                assert_eq!(got.len(), sent.len(), "round {round}");
                assert!(got == sent, "round {round}: bytes out of order");
            }
        });
    }

    #[test]
    fn a_send_on_the_ring_that_finds_the_socket_full_goes_on_while_its_writer_reads() {
        // A send on the ring is first tried with MSG_DONTWAIT (glommio CHANGES.md item 20):
        // on a full socket it sends part or nothing, and the reactor sends the rest with a
        // send that waits for room, whoever waits for what: here the writer's last write
        // meets a full socket and the writer then only waits for the peer's reply, which
        // comes once the peer has every byte. Without that retry the write fails (EAGAIN)
        // or the reply never comes (bytes left behind): the test then fails or times out.
        use crate::net::pump::tests::{on_executor, pair};
        on_executor(|| async {
            const TOTAL: usize = 4 << 20;
            let (mut peer, s) = pair().await;
            // Small buffers (no autotuning: loopback's receive buffer may grow to 32 MiB).
            for (fd, opt) in [
                (crate::sys::fd(&peer), libc::SO_RCVBUF),
                (crate::sys::fd(&s), libc::SO_SNDBUF),
            ] {
                crate::sys::setsockopt_int(fd, libc::SOL_SOCKET, opt, 65_536).unwrap();
            }
            let mut s = ServerIo::Plain(s).recv_on_ring();
            let reader = glommio::spawn_local(async move {
                // Not reading at first: the socket buffers fill.
                glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
                let mut got = vec![0u8; TOTAL];
                peer.read_exact(&mut got).await.unwrap();
                peer.write_all(b"ok").await.unwrap();
                (peer, got)
            });
            let retries = glommio::ring_send_retries();
            let mut sent = Vec::with_capacity(TOTAL);
            let mut next = 0u8;
            while sent.len() < TOTAL {
                let len = (60_000).min(TOTAL - sent.len());
                let msg: Vec<u8> = (0..len).map(|i| next.wrapping_add(i as u8)).collect();
                next = next.wrapping_add(len as u8 ^ 0x33);
                s.write_all(&msg).await.unwrap();
                sent.extend_from_slice(&msg);
            }
            assert!(s.tcp().ring_send_busy(), "the last write went on the ring");
            let mut b = [0u8; 2];
            let reply = glommio::timer::timeout(std::time::Duration::from_secs(10), async {
                s.read_exact(&mut b).await.map_err(Into::into)
            })
            .await;
            assert!(reply.is_ok(), "no reply: the last send's rest never went");
            assert_eq!(&b, b"ok");
            let (_peer, got) = reader.await;
            assert!(got == sent, "bytes out of order or missing");
            assert!(
                glommio::ring_send_retries() > retries,
                "no send found the socket full"
            );
        });
    }

    #[test]
    fn a_short_send_on_the_ring_nobody_waits_for_goes_on_while_the_shard_sleeps() {
        // One 60,000-byte write through 4 KiB socket buffers to a peer on another thread
        // that reads only after 100 ms: the first, MSG_DONTWAIT try sends part of it, and
        // then the writer only waits for the reply, which comes once the peer has every
        // byte. Nothing on this shard waits for that send, and its rest must still go
        // (glommio CHANGES.md item 20). This did not fail with the first version of item
        // 20, whose short first tries did not end a sleep that had submitted them (the
        // stall needs the sleep to submit the send, with nothing else to come); tcp_mode's
        // `the_rest_of_a_send_that_found_the_client_s_socket_full_goes_when_the_client_reads`
        // did.
        use crate::net::pump::tests::on_executor;
        use std::io::{Read, Write};
        on_executor(|| async {
            const LEN: usize = 60_000;
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
                let mut got = vec![0u8; LEN];
                c.read_exact(&mut got).unwrap();
                c.write_all(b"ok").unwrap();
                got
            });
            let s = TcpStream::connect(addr).await.unwrap();
            crate::sys::setsockopt_int(crate::sys::fd(&s), libc::SOL_SOCKET, libc::SO_SNDBUF, 4096)
                .unwrap();
            let mut s = ServerIo::Plain(s).recv_on_ring();
            let retries = glommio::ring_send_retries();
            let msg: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            s.write_all(&msg).await.unwrap();
            assert!(s.tcp().ring_send_busy(), "the write went on the ring");
            let mut b = [0u8; 2];
            let reply = glommio::timer::timeout(std::time::Duration::from_secs(5), async {
                s.read_exact(&mut b).await.map_err(Into::into)
            })
            .await;
            assert!(
                reply.is_ok(),
                "no reply: the rest of the short send never went"
            );
            assert_eq!(&b, b"ok");
            assert!(peer.join().unwrap() == msg, "bytes out of order or missing");
            assert!(
                glommio::ring_send_retries() > retries,
                "the send was not short"
            );
        });
    }

    #[test]
    fn a_keep_alive_answer_s_send_does_not_end_the_shard_s_sleep() {
        // A connection that answers and then waits for its next request (mode http's idle
        // wait, `ready::readable`) does not wait for the send of its answer: the sleep
        // that submits the send is not ended by its completion (glommio CHANGES.md items
        // 20-21), so a quiet exchange costs one io_uring_enter (the sleep), not two (a
        // sleep ended at once by the send's completion, then another). Before item 21: 2.0
        // per exchange. The idle wait still drops the completed send (idle memory).
        use crate::net::pump::tests::on_executor;
        use std::io::{Read, Write};
        on_executor(|| async {
            const ROUNDS: usize = 60;
            const ANSWER: usize = 200;
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut got = [0u8; ANSWER];
                for _ in 0..ROUNDS {
                    // The shard goes to sleep between exchanges.
                    std::thread::sleep(Duration::from_millis(3));
                    c.write_all(b"req").unwrap();
                    c.read_exact(&mut got).unwrap();
                }
            });
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.set_recv_on_ring(true);
            s.set_send_on_ring(true);
            let before = glommio::io_uring_counters().enters;
            let mut req = [0u8; 3];
            for _ in 0..ROUNDS {
                crate::net::ready::readable(&mut s, None).await.unwrap();
                s.read_exact(&mut req).await.unwrap();
                s.write_all(&[7u8; ANSWER]).await.unwrap();
                assert!(s.ring_send_busy(), "the answer went on the ring");
            }
            // The client's end after its last answer.
            crate::net::ready::readable(&mut s, None).await.unwrap();
            let enters = glommio::io_uring_counters().enters - before;
            client.join().unwrap();
            assert!(!s.ring_send_busy(), "the idle wait kept the completed send");
            let per = enters as f64 / ROUNDS as f64;
            eprintln!("{per:.2} io_uring_enter per exchange ({enters})");
            assert!(per < 1.5, "{per:.2} io_uring_enter per exchange ({enters})");
        });
    }

    #[test]
    fn receives_on_the_ring_lose_nothing_when_the_shard_runs_out_of_buffers() {
        // More connections with unread bytes than glommio's buffer ring has buffers
        // (128): the receives that find none fail with ENOBUFS and those streams read by
        // poll and recv instead; every stream still gets its bytes, in order.
        use crate::net::pump::tests::{on_executor, pair};
        on_executor(|| async {
            let mut conns = Vec::new();
            for i in 0..160u32 {
                let (mut peer, s) = pair().await;
                let mut s = ServerIo::Plain(s).recv_on_ring();
                // A first short read arms a receive on the ring.
                peer.write_all(b"x").await.unwrap();
                let mut b = [0u8; 8];
                assert_eq!(s.read(&mut b).await.unwrap(), 1);
                conns.push((peer, s, i.to_be_bytes().repeat(100)));
            }
            for (peer, _, msg) in conns.iter_mut() {
                peer.write_all(msg).await.unwrap();
            }
            // Let every receive complete (and take a buffer, while there are some).
            glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
            for (peer, s, msg) in conns.iter_mut() {
                assert!(!s.idle_alive());
                let mut got = Vec::new();
                let mut b = [0u8; 100];
                while got.len() < msg.len() {
                    let n = s.read(&mut b).await.unwrap();
                    got.extend_from_slice(&b[..n]);
                }
                assert_eq!(&got, msg);
                peer.write_all(b"again").await.unwrap();
                assert_eq!(s.read(&mut b).await.unwrap(), 5);
                assert_eq!(&b[..5], b"again");
            }
        });
    }

    #[test]
    fn released_buffers_are_reused_and_show_only_new_bytes() {
        let mut a = InBuf::new(4096);
        a.extend(b"GET / HTTP/1.1\r\n\r\n");
        a.consume(a.len());
        let first = a.data.as_ptr();
        a.release();
        assert!(a.data.is_empty(), "an idle buffer holds no memory");
        let mut b = InBuf::new(4096);
        b.extend(b"xy");
        assert_eq!(b.data.as_ptr(), first, "the spare buffer is taken again");
        assert_eq!(b.bytes(), b"xy");
        // Pending bytes keep the buffer; another size is never handed out.
        b.release();
        assert_eq!(b.bytes(), b"xy");
        drop(b);
        let mut c = InBuf::new(8192);
        c.extend(b"z");
        assert_eq!(c.data.len(), 8192);
        assert_eq!(c.bytes(), b"z");
    }

    /// Everything `b` will deliver: its bytes, then what its reads from `src` add.
    fn read_out(b: &mut InBuf, mut src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            out.extend_from_slice(b.bytes());
            b.consume(b.len());
            match futures_lite::future::block_on(b.read_from(&mut src, None::<Instant>)) {
                Ok(0) => return out,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn extend_loses_no_byte_that_does_not_fit() {
        // Early bytes (after a PROXY header, or drained at a kTLS hand-off) can exceed
        // tune.bufsize: pipelined requests, say. They come out in order, before the socket's.
        let early: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut b = InBuf::new(1024);
        b.extend(&early[..10]);
        b.consume(4);
        b.extend(&early[10..]);
        let out = read_out(&mut b, b"after");
        assert_eq!(out.len(), 2996 + 5);
        assert_eq!(&out[..2996], &early[4..]);
        assert_eq!(&out[2996..], b"after");
        // A tunnel taking over gets the backlog too.
        let mut b = InBuf::new(1024);
        b.extend(&early);
        b.consume(1);
        assert_eq!(b.take_all(), &early[1..]);
        assert!(b.is_empty());
        assert_eq!(read_out(&mut b, b""), b"");
    }
}
