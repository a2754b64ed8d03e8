//! The floor: the least a proxy on this machine's kernel can spend per HTTP keep-alive request.
//!
//!   floor --listen 127.0.0.1:P --backend 127.0.0.1:B1 [--backend 127.0.0.1:B2 ...] [--cpu N]
//!         [--single-recv]
//!
//! A measuring instrument, not a proxy (bench/floor.sh runs it beside corelb, HAProxy and
//! nginx; docs/benchmarks.md, "The floor"). One thread, pinned to one CPU, drives one io_uring:
//! - the ring is set up with `COOP_TASKRUN`, `SINGLE_ISSUER` and `DEFER_TASKRUN` when the
//!   kernel has them (tried in that order, falling back), so completions raised by the other
//!   core are run when this thread enters the kernel, not by interrupting it;
//! - multishot accept on the listening socket;
//! - multishot recv on every socket into one provided buffer ring (`IORING_REGISTER_PBUF_RING`),
//!   or one plain recv at a time into a buffer per connection when the kernel lacks it (or
//!   with `--single-recv`, so that this path can be tested on a kernel that has it);
//! - sends are gathered while the completions of one wake are handled and submitted together
//!   at the end of the turn, at most one send in flight per socket (which keeps bytes in order);
//! - one `io_uring_enter` per loop turn: the submissions and the wait for the next completion
//!   other than the sends just submitted (those usually complete while being submitted; a
//!   send is submitted with MSG_WAITALL, so its completion means all of it went out).
//!
//! It forwards HTTP/1.1 requests from clients round robin to the `--backend` addresses over
//! kept-alive backend connections (a pool per backend, a new connection only when none is
//! idle). Framing is the minimum that is correct for the benchmark's traffic, and it is real:
//! a request head is found (`\r\n\r\n`) and parsed with httparse, then forwarded byte for byte;
//! a response head is parsed the same way, its Content-Length read, and the head and exactly
//! that many body bytes are forwarded to the client as they arrive. One request in flight per
//! client connection; bytes a client sends early wait in its buffer for the response.
//!
//! What it does not handle (the connection is closed instead): request bodies
//! (Content-Length other than 0, Transfer-Encoding), chunked or close-delimited responses,
//! 1xx responses, responses to HEAD, heads over 64 KiB, a backend that fails or closes
//! mid-response (the client is closed, nothing is retried, no error response is written). No
//! timeouts, no header rewriting (no X-Forwarded-For, no Connection handling beyond `close`),
//! no TLS, no limits on connections. A client that stops reading a large response holds up
//! the others while its send waits (the wait above counts on sends completing). Needs Linux 5.19 or later (multishot accept).

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{IntoRawFd, RawFd};

use io_uring::types::{BufRingEntry, Fd};
use io_uring::{IoUring, cqueue, opcode, squeue};

/// Bytes per provided buffer, and how many: enough for every socket of the benchmark to have
/// a read outstanding; a buffer is handed back as soon as its bytes are copied out.
const BUF_SIZE: usize = 16 * 1024;
const BUF_COUNT: u16 = 256;
const BUF_GROUP: u16 = 0;
/// A head longer than this is not the benchmark's traffic.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

// user_data: the operation in the high 32 bits, the connection's slot in the low 32.
const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_SEND: u64 = 3;
const OP_CONNECT: u64 = 4;

fn user_data(op: u64, slot: usize) -> u64 {
    (op << 32) | slot as u64
}

struct Args {
    listen: SocketAddr,
    backends: Vec<SocketAddrV4>,
    cpu: Option<usize>,
    single_recv: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut backends = Vec::new();
    let mut cpu = None;
    let mut single_recv = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--single-recv" {
            single_recv = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|e| format!("--listen: {e}"))?),
            "--backend" => backends.push(value.parse().map_err(|e| format!("--backend: {e}"))?),
            "--cpu" => cpu = Some(value.parse().map_err(|e| format!("--cpu: {e}"))?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    if backends.is_empty() {
        return Err("at least one --backend IPv4:PORT is required".into());
    }
    Ok(Args {
        listen,
        backends,
        cpu,
        single_recv,
    })
}

/// Sets some of the ring's setup flags.
type SetupFlags = fn(&mut io_uring::Builder);

/// The ring with the most cooperative task-running mode this kernel accepts.
fn build_ring() -> io::Result<(IoUring, &'static str)> {
    let tries: [(&str, SetupFlags); 4] = [
        ("COOP_TASKRUN|SINGLE_ISSUER|DEFER_TASKRUN", |b| {
            b.setup_coop_taskrun()
                .setup_single_issuer()
                .setup_defer_taskrun();
        }),
        ("COOP_TASKRUN|SINGLE_ISSUER", |b| {
            b.setup_coop_taskrun().setup_single_issuer();
        }),
        ("COOP_TASKRUN", |b| {
            b.setup_coop_taskrun();
        }),
        ("no setup flags", |_| {}),
    ];
    let mut last = None;
    for (name, set) in tries {
        let mut b = IoUring::builder();
        b.setup_cqsize(8192);
        set(&mut b);
        match b.build(1024) {
            Ok(ring) => return Ok((ring, name)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap())
}

/// An anonymous private mapping (page aligned, as the buffer ring must be).
fn map(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// The provided buffer ring: the kernel picks a buffer for each multishot recv completion;
/// we copy the bytes out and give the buffer back at once. Lives as long as the process.
struct BufRing {
    entries: *mut BufRingEntry,
    bufs: *mut u8,
    tail: u16,
}

impl BufRing {
    fn register(ring: &IoUring) -> io::Result<BufRing> {
        let entries = map(BUF_COUNT as usize * std::mem::size_of::<BufRingEntry>())?.cast();
        let bufs = map(BUF_COUNT as usize * BUF_SIZE)?;
        // SAFETY: `entries` is page aligned, BUF_COUNT entries long and never unmapped.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries as u64,
                BUF_COUNT,
                BUF_GROUP,
                0,
            )?
        };
        let mut br = BufRing {
            entries,
            bufs,
            tail: 0,
        };
        for bid in 0..BUF_COUNT {
            br.give_back(bid);
        }
        br.publish();
        Ok(br)
    }

    /// The bytes the kernel put in buffer `bid`.
    fn data(&self, bid: u16, len: usize) -> &'static [u8] {
        // SAFETY: the completion for `bid` has arrived, so the kernel no longer writes it, and
        // we do not hand it back before the caller has copied the bytes out; the mapping is
        // never unmapped.
        unsafe { std::slice::from_raw_parts(self.bufs.add(bid as usize * BUF_SIZE), len) }
    }

    fn give_back(&mut self, bid: u16) {
        // SAFETY: the slot at `tail` is ours until the tail is published past it.
        let e = unsafe { &mut *self.entries.add((self.tail & (BUF_COUNT - 1)) as usize) };
        // SAFETY: within the buffer mapping.
        e.set_addr(unsafe { self.bufs.add(bid as usize * BUF_SIZE) } as u64);
        e.set_len(BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back since the last call visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field of the first entry, shared with the kernel as an atomic u16.
        let tail =
            unsafe { &*(BufRingEntry::tail(self.entries).cast::<std::sync::atomic::AtomicU16>()) };
        tail.store(self.tail, std::sync::atomic::Ordering::Release);
    }
}

/// Where a head ends (just past `\r\n\r\n`), if it is complete. The searcher is built
/// once: `memmem::find` would build one per call.
fn head_end(buf: &[u8]) -> Option<usize> {
    static END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    END.find(buf).map(|i| i + 4)
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn says_close(headers: &[httparse::Header]) -> bool {
    header(headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case(b"close"))
}

/// A complete request head: is it one we can forward (no body), and does it end the
/// connection? `None`: not handled.
fn check_request(head: &[u8]) -> Option<bool> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    if !req.parse(head).ok()?.is_complete() || req.method == Some("HEAD") {
        return None;
    }
    if header(req.headers, "transfer-encoding").is_some()
        || header(req.headers, "content-length").is_some_and(|v| v != b"0")
    {
        return None;
    }
    Some(says_close(req.headers))
}

/// A complete response head: the length of the whole message (head and body) and whether
/// the backend closes after it. `None`: not handled.
fn check_response(head: &[u8], head_len: usize) -> Option<(usize, bool)> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    if !resp.parse(head).ok()?.is_complete() {
        return None;
    }
    let code = resp.code?;
    let body = if code == 204 || code == 304 {
        0
    } else if code < 200 || header(resp.headers, "transfer-encoding").is_some() {
        return None;
    } else {
        std::str::from_utf8(header(resp.headers, "content-length")?)
            .ok()?
            .trim()
            .parse::<usize>()
            .ok()?
    };
    Some((head_len + body, says_close(resp.headers)))
}

enum Role {
    Client {
        /// The backend connection serving this client's request in flight.
        backend: Option<usize>,
        /// The request said `Connection: close`: close once the response is sent.
        close_after: bool,
    },
    Backend {
        addr: usize,
        client: Option<usize>,
        connected: bool,
        /// Bytes of the current response still to forward; `None` while its head is read.
        remaining: Option<usize>,
        close_after: bool,
    },
}

struct Conn {
    fd: RawFd,
    role: Role,
    /// Client: request bytes not forwarded yet. Backend: a response head being read.
    inbuf: Vec<u8>,
    /// Bytes to send at the end of this turn, and the bytes of the send in flight (stable
    /// while the kernel reads them).
    out: Vec<u8>,
    sending: Vec<u8>,
    sent: usize,
    send_inflight: bool,
    recv_armed: bool,
    connect_inflight: bool,
    closing: bool,
    /// Without a provided buffer ring: this socket's own receive buffer.
    rbuf: Vec<u8>,
}

impl Conn {
    fn new(fd: RawFd, role: Role) -> Conn {
        Conn {
            fd,
            role,
            inbuf: Vec::new(),
            out: Vec::new(),
            sending: Vec::new(),
            sent: 0,
            send_inflight: false,
            recv_armed: false,
            connect_inflight: false,
            closing: false,
            rbuf: Vec::new(),
        }
    }
}

struct Floor {
    ring: IoUring,
    bufs: Option<BufRing>,
    listener: RawFd,
    /// Backend addresses as the kernel wants them (stable: connects point into this).
    addrs: Vec<libc::sockaddr_in>,
    idle: Vec<Vec<usize>>,
    next_backend: usize,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Connections that may have bytes to send at the end of this turn.
    dirty: Vec<usize>,
    /// Sends submitted since the last wait (see `run`).
    sends: usize,
}

impl Floor {
    fn push(&mut self, e: squeue::Entry) {
        loop {
            // SAFETY: every entry points at memory that outlives the operation: the buffer
            // ring and the addresses live as long as the process, a connection's `sending`
            // and `rbuf` are left alone while their operation is in flight, and a slot is
            // freed only when it has no operation in flight.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return;
            }
            // The submission queue is full: hand it to the kernel now.
            self.ring.submit().expect("io_uring_enter");
        }
    }

    fn conn(&mut self, slot: usize) -> &mut Conn {
        self.conns[slot].as_mut().expect("live slot")
    }

    fn insert(&mut self, c: Conn) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(c);
                i
            }
            None => {
                self.conns.push(Some(c));
                self.conns.len() - 1
            }
        }
    }

    fn arm_accept(&mut self) {
        let e = opcode::AcceptMulti::new(Fd(self.listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(OP_ACCEPT, 0));
        self.push(e);
    }

    fn arm_recv(&mut self, slot: usize) {
        let use_ring = self.bufs.is_some();
        let c = self.conn(slot);
        c.recv_armed = true;
        let fd = Fd(c.fd);
        let e = if use_ring {
            opcode::RecvMulti::new(fd, BUF_GROUP).build()
        } else {
            c.rbuf.resize(BUF_SIZE, 0);
            opcode::Recv::new(fd, c.rbuf.as_mut_ptr(), BUF_SIZE as u32).build()
        };
        self.push(e.user_data(user_data(OP_RECV, slot)));
    }

    fn on_accept(&mut self, res: i32) {
        if res < 0 {
            eprintln!("floor: accept: {}", io::Error::from_raw_os_error(-res));
            return;
        }
        nodelay(res);
        let slot = self.insert(Conn::new(
            res,
            Role::Client {
                backend: None,
                close_after: false,
            },
        ));
        self.arm_recv(slot);
    }

    /// A kept-alive connection to the next backend, or a new one being connected.
    fn backend_conn(&mut self) -> usize {
        let addr = self.next_backend;
        self.next_backend = (addr + 1) % self.addrs.len();
        if let Some(b) = self.idle[addr].pop() {
            return b;
        }
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        nodelay(fd);
        let slot = self.insert(Conn::new(
            fd,
            Role::Backend {
                addr,
                client: None,
                connected: false,
                remaining: None,
                close_after: false,
            },
        ));
        self.conn(slot).connect_inflight = true;
        let sa = &self.addrs[addr] as *const libc::sockaddr_in as *const libc::sockaddr;
        let e = opcode::Connect::new(
            Fd(fd),
            sa,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
        .build()
        .user_data(user_data(OP_CONNECT, slot));
        self.push(e);
        slot
    }

    /// Bytes received on `slot`.
    fn on_data(&mut self, slot: usize, data: &[u8]) {
        let c = self.conn(slot);
        if c.closing {
            return;
        }
        match c.role {
            Role::Client { .. } => {
                c.inbuf.extend_from_slice(data);
                self.dispatch(slot);
            }
            Role::Backend { client: None, .. } => self.close(slot), // bytes nobody asked for
            Role::Backend {
                client: Some(client),
                remaining,
                ..
            } => self.on_response_bytes(slot, client, remaining, data),
        }
    }

    /// Sends the client's next request to a backend, if a whole head is there and no
    /// request is in flight.
    fn dispatch(&mut self, client: usize) {
        let c = self.conn(client);
        let Role::Client { backend: None, .. } = c.role else {
            return;
        };
        let Some(end) = head_end(&c.inbuf) else {
            if c.inbuf.len() > MAX_HEAD {
                self.close(client);
            }
            return;
        };
        let Some(close) = check_request(&c.inbuf[..end]) else {
            self.close(client);
            return;
        };
        let b = self.backend_conn();
        // Buffers are moved out and back rather than allocated: no allocation per request.
        let mut to_backend = std::mem::take(&mut self.conn(b).out);
        let c = self.conn(client);
        to_backend.extend_from_slice(&c.inbuf[..end]);
        c.inbuf.drain(..end);
        c.role = Role::Client {
            backend: Some(b),
            close_after: close,
        };
        let bc = self.conn(b);
        bc.out = to_backend;
        if let Role::Backend {
            client: attached,
            remaining,
            ..
        } = &mut bc.role
        {
            *attached = Some(client);
            *remaining = None;
        }
        self.dirty.push(b);
    }

    fn on_response_bytes(
        &mut self,
        b: usize,
        client: usize,
        remaining: Option<usize>,
        data: &[u8],
    ) {
        let left = match remaining {
            Some(left) => {
                if data.len() > left {
                    return self.close(b); // more than the response: not framed as we think
                }
                self.conn(client).out.extend_from_slice(data);
                left - data.len()
            }
            None => {
                let bc = self.conn(b);
                bc.inbuf.extend_from_slice(data);
                let Some(end) = head_end(&bc.inbuf) else {
                    if bc.inbuf.len() > MAX_HEAD {
                        self.close(b);
                    }
                    return;
                };
                let Some((total, close)) = check_response(&bc.inbuf[..end], end) else {
                    return self.close(b);
                };
                if bc.inbuf.len() > total {
                    return self.close(b);
                }
                if let Role::Backend { close_after, .. } = &mut bc.role {
                    *close_after = close;
                }
                let mut head = std::mem::take(&mut bc.inbuf);
                let left = total - head.len();
                self.conn(client).out.extend_from_slice(&head);
                head.clear();
                self.conn(b).inbuf = head;
                left
            }
        };
        self.dirty.push(client);
        if let Role::Backend { remaining, .. } = &mut self.conn(b).role {
            *remaining = Some(left);
        }
        if left == 0 {
            self.response_done(b, client);
        }
    }

    /// The whole response is queued for the client: the backend connection goes back to its
    /// pool and the client's next request (if already here) goes out.
    fn response_done(&mut self, b: usize, client: usize) {
        let bc = self.conn(b);
        let Role::Backend {
            addr,
            client: ref mut attached,
            close_after,
            ..
        } = bc.role
        else {
            unreachable!()
        };
        *attached = None;
        if close_after {
            self.close(b);
        } else {
            self.idle[addr].push(b);
        }
        let cc = self.conn(client);
        let Role::Client {
            ref mut backend,
            close_after,
        } = cc.role
        else {
            unreachable!()
        };
        *backend = None;
        if close_after {
            // Closed once the response has gone out (on_sent).
            return;
        }
        self.dispatch(client);
    }

    /// Starts sends for the connections that have bytes waiting and none in flight.
    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            let ready = match c.role {
                Role::Backend { connected, .. } => connected,
                Role::Client { .. } => true,
            };
            if c.closing || !ready || c.send_inflight || c.out.is_empty() {
                continue;
            }
            std::mem::swap(&mut c.out, &mut c.sending);
            c.sent = 0;
            self.start_send(slot);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn start_send(&mut self, slot: usize) {
        let c = self.conn(slot);
        c.send_inflight = true;
        let rest = &c.sending[c.sent..];
        // MSG_WAITALL: io_uring itself retries a short send on a stream socket, so a
        // completion means all sent (or an error), and `run` may wait past it.
        let e = opcode::Send::new(Fd(c.fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
            .build()
            .user_data(user_data(OP_SEND, slot));
        self.push(e);
        self.sends += 1;
    }

    fn on_sent(&mut self, slot: usize, res: i32) {
        let c = self.conn(slot);
        c.send_inflight = false;
        if c.closing {
            return self.maybe_free(slot);
        }
        if res <= 0 {
            return self.close(slot);
        }
        c.sent += res as usize;
        if c.sent < c.sending.len() {
            return self.start_send(slot);
        }
        c.sending.clear();
        c.sent = 0;
        if !c.out.is_empty() {
            self.dirty.push(slot);
        } else if let Role::Client {
            backend: None,
            close_after: true,
        } = c.role
        {
            self.close(slot);
        }
    }

    fn on_connected(&mut self, slot: usize, res: i32) {
        let c = self.conn(slot);
        c.connect_inflight = false;
        if c.closing {
            return self.maybe_free(slot);
        }
        if res < 0 {
            eprintln!("floor: connect: {}", io::Error::from_raw_os_error(-res));
            return self.close(slot);
        }
        if let Role::Backend { connected, .. } = &mut c.role {
            *connected = true;
        }
        self.dirty.push(slot);
        self.arm_recv(slot);
    }

    fn on_recv(&mut self, slot: usize, res: i32, flags: u32) {
        let multishot = self.bufs.is_some();
        if res > 0 {
            if multishot {
                let bid = cqueue::buffer_select(flags).expect("recv completion without a buffer");
                let data = self.bufs.as_ref().unwrap().data(bid, res as usize);
                self.on_data(slot, data);
                self.bufs.as_mut().unwrap().give_back(bid);
            } else {
                let rbuf = std::mem::take(&mut self.conn(slot).rbuf);
                self.on_data(slot, &rbuf[..res as usize]);
                self.conn(slot).rbuf = rbuf;
            }
        } else if res == 0 || res != -libc::ENOBUFS {
            self.close(slot); // end of stream or an error
        }
        if !multishot || !cqueue::more(flags) {
            let c = self.conn(slot);
            c.recv_armed = false;
            if c.closing {
                self.maybe_free(slot);
            } else {
                self.arm_recv(slot);
            }
        }
    }

    /// Closes a connection and the one paired with it mid-request; the slot is freed once
    /// the kernel has no operation left on it.
    fn close(&mut self, slot: usize) {
        let c = self.conn(slot);
        if c.closing {
            return;
        }
        c.closing = true;
        // Ends the multishot recv (and any send) so that their last completions arrive;
        // close(2) alone would not, as the ring holds a reference to the socket.
        // SAFETY: shutdown(2) on a descriptor this connection owns.
        unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
        let peer = match c.role {
            Role::Client { backend, .. } => backend,
            Role::Backend { addr, client, .. } => {
                self.idle[addr].retain(|&b| b != slot);
                client
            }
        };
        if let Some(p) = peer {
            self.close(p);
        }
        self.maybe_free(slot);
    }

    fn maybe_free(&mut self, slot: usize) {
        let c = self.conn(slot);
        if c.recv_armed || c.send_inflight || c.connect_inflight {
            return;
        }
        // SAFETY: the descriptor is ours and no operation uses it any more.
        unsafe { libc::close(c.fd) };
        self.conns[slot] = None;
        self.free.push(slot);
    }

    fn run(&mut self) -> io::Result<()> {
        self.arm_accept();
        let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(1024);
        loop {
            // The sends just queued mostly complete while they are submitted, which would
            // end the wait at once and cost a second io_uring_enter for the same wake: wait
            // for one completion more than there are sends. The completion queue is empty
            // here (drained below), and a send's completion never needs us to go on.
            let want = 1 + std::mem::take(&mut self.sends);
            match self.ring.submit_and_wait(want) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => return Err(e),
            }
            cqes.extend(
                self.ring
                    .completion()
                    .map(|e| (e.user_data(), e.result(), e.flags())),
            );
            for &(ud, res, flags) in &cqes {
                let slot = (ud & 0xffff_ffff) as usize;
                match ud >> 32 {
                    OP_ACCEPT => {
                        self.on_accept(res);
                        if !cqueue::more(flags) {
                            self.arm_accept();
                        }
                    }
                    OP_RECV => self.on_recv(slot, res, flags),
                    OP_SEND => self.on_sent(slot, res),
                    OP_CONNECT => self.on_connected(slot, res),
                    _ => unreachable!("unknown user_data {ud:#x}"),
                }
            }
            cqes.clear();
            if let Some(bufs) = &self.bufs {
                bufs.publish();
            }
            self.flush();
        }
    }
}

fn nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt(2) with a pointer to a live c_int and its size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("floor: {e}\nusage: floor --listen ADDR:PORT --backend IPv4:PORT... [--cpu N] [--single-recv]");
        std::process::exit(2);
    });
    if let Some(cpu) = args.cpu {
        assert!(
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu }),
            "cannot pin to CPU {cpu}"
        );
    }
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(args.listen),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    sock.set_reuse_address(true).expect("SO_REUSEADDR");
    sock.bind(&args.listen.into()).expect("bind");
    sock.listen(1024).expect("listen");
    let (ring, mode) = build_ring().expect("io_uring_setup");
    let bufs = if args.single_recv {
        None
    } else {
        BufRing::register(&ring)
            .inspect_err(|e| eprintln!("floor: no provided buffer ring ({e}): one recv at a time"))
            .ok()
    };
    println!(
        "floor: listening on {}, {} backend(s), ring: {mode}, recv: {}",
        args.listen,
        args.backends.len(),
        if bufs.is_some() {
            "multishot + provided buffer ring"
        } else {
            "single"
        }
    );
    let n = args.backends.len();
    let mut floor = Floor {
        ring,
        bufs,
        listener: sock.into_raw_fd(),
        addrs: args.backends.into_iter().map(sockaddr).collect(),
        idle: vec![Vec::new(); n],
        next_backend: 0,
        conns: Vec::new(),
        free: Vec::new(),
        dirty: Vec::new(),
        sends: 0,
    };
    if let Err(e) = floor.run() {
        eprintln!("floor: {e}");
        std::process::exit(1);
    }
}
