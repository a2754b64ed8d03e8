//! One attack shard: its slice of the schedule, its workers, its connection pool, its results.
//! Everything here belongs to one executor thread; nothing is shared with other shards except
//! the read-only [`Plan`] and the stop flag.
//!
//! Open loop: the scheduler puts each request on the shard's queue at its due time; a free
//! worker takes it; when none is free and fewer than `max_workers` exist, a worker is added
//! (vegeta's model). A request waiting in the queue is already late, and its latency counts
//! from the due time, so a stalled server shows as latency, never as a lower rate.
//!
//! Closed loop (`-rate 0`): `max_workers` workers send back to back.
//!
//! A worker sends one request at a time, over HTTP/1.1 (a pooled or new connection of its
//! own) or HTTP/2 (a stream of the connection it shares with the workers of its slot, `h2`).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures_rustls::TlsConnector;
use glommio::net::TcpStream;

use super::client::{self, Conn, HitError, Response};
use super::h2::{self, Acquired, H2Request, Slot};
use super::{Batch, Plan, Prepared};
use crate::record::{Proto, Record};

/// A request due at `due`, for target `target`.
#[derive(Clone, Copy)]
struct Tick {
    due: Instant,
    target: usize,
}

/// The shard's queue of due requests and its idle workers.
#[derive(Default)]
struct Dispatch {
    queue: RefCell<VecDeque<Tick>>,
    waiters: RefCell<VecDeque<Waker>>,
    idle: Cell<u64>,
    closed: Cell<bool>,
}

impl Dispatch {
    fn push(&self, tick: Tick) {
        self.queue.borrow_mut().push_back(tick);
        if let Some(w) = self.waiters.borrow_mut().pop_front() {
            w.wake();
        }
    }

    fn close(&self) {
        self.closed.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// More queued requests than idle workers to take them.
    fn short_of_workers(&self) -> bool {
        self.queue.borrow().len() as u64 > self.idle.get()
    }

    /// The next due request; `None` once the queue is closed and empty.
    async fn next(&self) -> Option<Tick> {
        let mut waiting = false;
        poll_fn(|cx| {
            if let Some(t) = self.queue.borrow_mut().pop_front() {
                if waiting {
                    self.idle.set(self.idle.get() - 1);
                }
                return Poll::Ready(Some(t));
            }
            if self.closed.get() {
                if waiting {
                    self.idle.set(self.idle.get() - 1);
                }
                return Poll::Ready(None);
            }
            if !waiting {
                waiting = true;
                self.idle.set(self.idle.get() + 1);
            }
            self.waiters.borrow_mut().push_back(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// Results on their way to the writer thread, sent in batches.
struct Sink {
    shard: usize,
    records: Vec<Record>,
    new_errors: Vec<(u32, String)>,
    /// Error message → shard-local id (the writer maps it to the stream's id).
    errors: HashMap<String, u32>,
    tx: Sender<Batch>,
}

const BATCH: usize = 1024;

impl Sink {
    fn push(&mut self, mut r: Record, error: Option<String>) {
        if let Some(message) = error {
            let next = self.errors.len() as u32 + 1;
            r.error = match self.errors.get(&message) {
                Some(&id) => id,
                None => {
                    self.new_errors.push((next, message.clone()));
                    self.errors.insert(message, next);
                    next
                }
            };
        }
        self.records.push(r);
        if self.records.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.records.is_empty() && self.new_errors.is_empty() {
            return;
        }
        let batch = Batch {
            shard: self.shard,
            records: std::mem::replace(&mut self.records, Vec::with_capacity(BATCH)),
            new_errors: std::mem::take(&mut self.new_errors),
        };
        // The writer only goes away on an output error, which it has reported.
        let _ = self.tx.send(batch);
    }
}

/// Per-shard parameters.
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
    pub initial_workers: u64,
    pub max_workers: u64,
    pub start: Instant,
    pub start_unix_ns: u64,
    pub stop: Arc<AtomicBool>,
    pub tx: Sender<Batch>,
}

/// A shard's TLS connectors: HTTP/1.1 connections offer http/1.1 alone, HTTP/2 ones (with
/// `--http2`) h2 first.
pub struct Connectors {
    pub h1: TlsConnector,
    pub h2: Option<TlsConnector>,
}

struct Engine {
    plan: Arc<Plan>,
    spec: ShardSpec,
    tls: Option<Connectors>,
    /// Idle keep-alive connections per endpoint, most recently used last.
    pool: RefCell<Vec<Vec<Conn>>>,
    /// HTTP/2, per endpoint: the connection slots (worker `w` uses slot `w / max_streams`).
    slots: Vec<RefCell<Vec<Rc<Slot>>>>,
    /// Per endpoint: the server did not select h2, so this shard speaks HTTP/1.1 to it.
    fallback: Vec<Cell<bool>>,
    /// HTTP/2 connections whose driving task still runs.
    h2_live: Rc<Cell<usize>>,
    sink: RefCell<Sink>,
    /// Per endpoint, the index of the address that last connected.
    addr: Vec<Cell<usize>>,
    /// Closed loop: the next target, counted like the open-loop schedule.
    next_target: Cell<u64>,
    done: Cell<bool>,
}

impl Engine {
    fn stopped(&self) -> bool {
        self.spec.stop.load(Ordering::Relaxed)
    }

    /// A new connection to `endpoint`; over TLS offering h2 when `h2`.
    async fn dial(&self, endpoint: usize, h2: bool) -> Result<Conn, HitError> {
        let ep = &self.plan.endpoints[endpoint];
        let addrs = ep
            .addrs
            .as_ref()
            .map_err(|e| HitError::Resolve(e.clone()))?;
        // Like Go's dialer: the addresses in order until one connects (`localhost` may be ::1
        // first with the server on 127.0.0.1 only), then stick to the one that worked.
        let preferred = self.addr[endpoint].get();
        let mut first_error = None;
        let mut connected = None;
        for i in 0..addrs.len() {
            let at = (preferred + i) % addrs.len();
            match TcpStream::connect(addrs[at]).await {
                Ok(tcp) => {
                    self.addr[endpoint].set(at);
                    connected = Some(tcp);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(HitError::Connect(addrs[at], e.into()));
                }
            }
        }
        let Some(tcp) = connected else {
            return Err(first_error.expect("at least one address was tried"));
        };
        // Requests are one write; Nagle would only delay the TLS handshake's small records.
        let _ = tcp.set_nodelay(true);
        match (&ep.server_name, &self.tls) {
            (Some(name), Some(tls)) => {
                let name = name.as_ref().map_err(|e| HitError::Resolve(e.clone()))?;
                let connector = match (&tls.h2, h2) {
                    (Some(c), true) => c,
                    _ => &tls.h1,
                };
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(HitError::Tls)?;
                Ok(Conn::Tls(Box::new(stream)))
            }
            _ => Ok(Conn::Plain(tcp)),
        }
    }

    /// One request over the endpoint's protocol.
    async fn exchange(
        &self,
        target: usize,
        buf: &mut Vec<u8>,
        worker: usize,
    ) -> Result<Response, HitError> {
        let t = &self.plan.targets[target];
        match &t.h2 {
            Some(req) if !self.fallback[t.endpoint].get() => {
                self.exchange_h2(t, req, buf, worker).await
            }
            _ => self.exchange_h1(t, buf, None).await,
        }
    }

    /// One HTTP/1.1 request on `first`, a pooled or a new connection. A pooled connection
    /// the server has closed in the meantime is dropped and the request goes again, as Go's
    /// client does.
    async fn exchange_h1(
        &self,
        t: &Prepared,
        buf: &mut Vec<u8>,
        mut first: Option<Conn>,
    ) -> Result<Response, HitError> {
        let proto = if self.plan.endpoints[t.endpoint].h2 {
            Proto::Http1Fallback
        } else {
            Proto::Http1
        };
        loop {
            let pooled = match first.take() {
                Some(c) => Some((c, false)),
                None => self.pool.borrow_mut()[t.endpoint].pop().map(|c| (c, true)),
            };
            let reused = pooled.as_ref().is_some_and(|p| p.1);
            let mut conn = match pooled {
                Some((c, _)) => c,
                None => self.dial(t.endpoint, false).await?,
            };
            match client::exchange(&mut conn, &t.request, t.head, buf).await {
                Ok(mut resp) => {
                    if resp.reusable && self.plan.keepalive {
                        let mut pool = self.pool.borrow_mut();
                        if pool[t.endpoint].len() < self.plan.max_idle {
                            pool[t.endpoint].push(conn);
                        }
                    }
                    resp.proto = proto;
                    return Ok(resp);
                }
                Err(e) if reused && e.is_stale_connection() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The server did not select h2 on `conn` (TLS): from now on this shard speaks HTTP/1.1
    /// to the endpoint, and the attack says so once.
    fn falls_back(&self, endpoint: usize, conn: &Conn) -> bool {
        if matches!(conn, Conn::Plain(_)) || conn.selected_h2() {
            return false;
        }
        self.fallback[endpoint].set(true);
        let ep = &self.plan.endpoints[endpoint];
        if !ep.fallback_said.swap(true, Ordering::Relaxed) {
            eprintln!(
                "corelb-bench attack: {}: the server did not select h2 (ALPN); sending HTTP/1.1 (the report counts it as \"{}\")",
                ep.origin,
                Proto::Http1Fallback.label()
            );
        }
        true
    }

    fn slot(&self, endpoint: usize, index: usize) -> Rc<Slot> {
        let mut slots = self.slots[endpoint].borrow_mut();
        if slots.len() <= index {
            slots.resize_with(index + 1, Rc::default);
        }
        slots[index].clone()
    }

    /// One HTTP/2 request on a stream of the worker's slot's connection (dialed if there is
    /// none). A stream the server refused or a connection that went away before any of the
    /// response goes again on a new connection, as Go's client does.
    async fn exchange_h2(
        &self,
        t: &Prepared,
        req: &H2Request,
        buf: &mut Vec<u8>,
        worker: usize,
    ) -> Result<Response, HitError> {
        if !self.plan.keepalive {
            // A connection per request: its handle dropped after the response, h2 closes it
            // with GOAWAY.
            let conn = self.dial(t.endpoint, true).await?;
            if self.falls_back(t.endpoint, &conn) {
                return self.exchange_h1(t, buf, Some(conn)).await;
            }
            let send = h2::handshake(conn, &self.h2_live, || {}).await?;
            return h2::exchange(send, req).await;
        }
        let slot = self.slot(t.endpoint, worker / self.plan.max_streams);
        loop {
            if self.fallback[t.endpoint].get() {
                return self.exchange_h1(t, buf, None).await;
            }
            let (send, generation, reused) = match slot.acquire().await {
                Acquired::Ready(send, generation) => (send, generation, true),
                Acquired::Dial(guard) => {
                    // On an error the guard goes, and the slot's waiting workers dial.
                    let conn = self.dial(t.endpoint, true).await?;
                    if self.falls_back(t.endpoint, &conn) {
                        drop(guard);
                        return self.exchange_h1(t, buf, Some(conn)).await;
                    }
                    let generation = slot.next_generation();
                    let owner = slot.clone();
                    let send =
                        h2::handshake(conn, &self.h2_live, move || owner.clear(generation)).await?;
                    guard.publish(send.clone(), generation);
                    (send, generation, false)
                }
            };
            match h2::exchange(send, req).await {
                Err(e) if e.is_stale_connection() => {
                    slot.clear(generation);
                    if !reused {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// Closes the HTTP/2 connections (GOAWAY) and waits a moment for them to go.
    async fn close_h2(&self) {
        for slots in &self.slots {
            for slot in slots.borrow().iter() {
                slot.close();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.h2_live.get() > 0 && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends request `target` due at `due` and records the outcome.
    async fn hit(&self, due: Instant, target: usize, buf: &mut Vec<u8>, worker: usize) {
        let outcome = match self.plan.timeout {
            Some(limit) => {
                futures_lite::future::or(self.exchange(target, buf, worker), async move {
                    glommio::timer::sleep(limit).await;
                    Err(HitError::Timeout(limit))
                })
                .await
            }
            None => self.exchange(target, buf, worker).await,
        };
        let latency = Instant::now().saturating_duration_since(due);
        let t = &self.plan.targets[target];
        let (status, bytes_in, error, proto) = match outcome {
            Ok(r) => {
                let error = r.reason.map(|reason| format!("{} {reason}", r.status));
                (r.status, r.bytes_in, error, r.proto)
            }
            Err(e) => (0, 0, Some(format!("{}: {e}", t.label)), Proto::Http1),
        };
        let record = Record {
            timestamp: self.spec.start_unix_ns
                + u64::try_from(due.saturating_duration_since(self.spec.start).as_nanos())
                    .unwrap_or(u64::MAX),
            latency: u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
            status,
            bytes_out: t.bytes_out,
            bytes_in,
            error: 0,
            proto,
        };
        self.sink.borrow_mut().push(record, error);
    }
}

/// A scratch buffer per worker, for reading responses.
fn scratch() -> Vec<u8> {
    vec![0; 16 * 1024]
}

/// Worker number `worker` of the shard (its HTTP/2 slot follows from it).
async fn open_loop_worker(engine: Rc<Engine>, dispatch: Rc<Dispatch>, worker: usize) {
    let mut buf = scratch();
    while let Some(tick) = dispatch.next().await {
        engine.hit(tick.due, tick.target, &mut buf, worker).await;
    }
}

async fn closed_loop_worker(engine: Rc<Engine>, worker: usize) {
    let mut buf = scratch();
    let ntargets = engine.plan.targets.len() as u64;
    let end = engine.plan.total_duration.map(|d| engine.spec.start + d);
    while !engine.stopped() && end.is_none_or(|end| Instant::now() < end) {
        let k = engine.next_target.get();
        engine.next_target.set(k + engine.spec.count as u64);
        engine
            .hit(Instant::now(), (k % ntargets) as usize, &mut buf, worker)
            .await;
    }
}

/// Flushes results now and then, so a slow attack's stream still moves.
async fn flusher(engine: Rc<Engine>) {
    while !engine.done.get() {
        glommio::timer::sleep(Duration::from_millis(100)).await;
        engine.sink.borrow_mut().flush();
    }
}

/// Runs this shard's part of the attack to the end.
pub async fn run(plan: Arc<Plan>, spec: ShardSpec, tls: Option<Connectors>) {
    let endpoints = plan.endpoints.len();
    let engine = Rc::new(Engine {
        tls,
        pool: RefCell::new((0..endpoints).map(|_| Vec::new()).collect()),
        slots: (0..endpoints).map(|_| RefCell::default()).collect(),
        fallback: (0..endpoints).map(|_| Cell::new(false)).collect(),
        h2_live: Rc::default(),
        sink: RefCell::new(Sink {
            shard: spec.index,
            records: Vec::with_capacity(BATCH),
            new_errors: Vec::new(),
            errors: HashMap::new(),
            tx: spec.tx.clone(),
        }),
        addr: (0..endpoints).map(|_| Cell::new(0)).collect(),
        next_target: Cell::new(spec.index as u64),
        done: Cell::new(false),
        plan,
        spec,
    });
    let flush_task = glommio::spawn_local(flusher(engine.clone()));

    let mut workers = Vec::new();
    if engine.plan.rate.is_unlimited() {
        for i in 0..engine.spec.max_workers {
            workers.push(glommio::spawn_local(closed_loop_worker(
                engine.clone(),
                i as usize,
            )));
        }
    } else {
        let dispatch = Rc::new(Dispatch::default());
        for i in 0..engine.spec.initial_workers.min(engine.spec.max_workers) {
            workers.push(glommio::spawn_local(open_loop_worker(
                engine.clone(),
                dispatch.clone(),
                i as usize,
            )));
        }
        schedule(&engine, &dispatch, &mut workers).await;
        dispatch.close();
    }
    for w in workers {
        w.await;
    }
    engine.close_h2().await;
    engine.done.set(true);
    flush_task.await;
    engine.sink.borrow_mut().flush();
}

/// The open-loop scheduler: this shard's requests `k = index, index + count, …`.
async fn schedule(
    engine: &Rc<Engine>,
    dispatch: &Rc<Dispatch>,
    workers: &mut Vec<glommio::Task<()>>,
) {
    let plan = &engine.plan;
    let spec = &engine.spec;
    let ntargets = plan.targets.len() as u64;
    let mut k = spec.index as u64;
    let mut burst = 0u32;
    loop {
        if engine.stopped() || plan.total.is_some_and(|total| k >= total) {
            return;
        }
        let due = spec.start + plan.rate.offset(k);
        let now = Instant::now();
        if due > now {
            burst = 0;
            // Wake at least every 100 ms to notice an interrupt during slow rates.
            glommio::timer::sleep((due - now).min(Duration::from_millis(100))).await;
            continue;
        }
        dispatch.push(Tick {
            due,
            target: (k % ntargets) as usize,
        });
        if dispatch.short_of_workers() && (workers.len() as u64) < spec.max_workers {
            workers.push(glommio::spawn_local(open_loop_worker(
                engine.clone(),
                dispatch.clone(),
                workers.len(),
            )));
        }
        k += spec.count as u64;
        // When behind schedule, let the workers run between bursts of due requests.
        burst += 1;
        if burst >= 64 {
            burst = 0;
            futures_lite::future::yield_now().await;
        }
    }
}
