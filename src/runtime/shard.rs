//! One shard: a glommio executor pinned to a core, with its own listening sockets, its own
//! connections and its context (`net::shard::ShardCtx`: pipes, idle server pool, counters,
//! log senders, sessions). Here live what only the runtime does with a shard: it accepts
//! until asked to stop, schedules its share of the probers, purges the idle pool and
//! publishes its stats on a timer, answers the session jobs, then drains.

use super::listeners::Listener;
use crate::cluster::Shared;
use crate::cluster::control::{Control, Slots};
use crate::cluster::counters::ShardStats;
use crate::cluster::rate::RateLimit;
use crate::net::shard::ShardCtx;
use futures_lite::future;

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

static FINISHED: Mutex<Option<HashSet<ThreadId>>> = Mutex::new(None);

pub fn finished(id: ThreadId) -> bool {
    FINISHED
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|s| s.contains(&id))
}

/// Records the end of the shard's thread, also when it unwinds.
struct FinishGuard;
impl Drop for FinishGuard {
    fn drop(&mut self) {
        FINISHED
            .lock()
            .unwrap()
            .get_or_insert_with(HashSet::new)
            .insert(std::thread::current().id());
    }
}

pub async fn run(
    shared: Arc<Shared>,
    id: usize,
    listeners: Vec<Listener>,
    started: std::sync::mpsc::Sender<Result<usize, String>>,
) {
    let _finish = FinishGuard;
    // From here on this thread's stdout/stderr lines never wait for their reader.
    crate::log::stdio::attach();
    let shard = Rc::new(ShardCtx::new(id, shared.clone(), shared.pipes_per_shard));
    let mut loops = Vec::new();
    for l in listeners {
        loops.push(glommio::spawn_local(accept_loop(shard.clone(), l)));
    }
    spawn_probers(&shard);
    let purger = glommio::spawn_local(purge_idle_servers(shard.clone()));
    let sessions = glommio::spawn_local(serve_sessions(shard.clone()));
    let _ = started.send(Ok(id));
    drop(started);
    shared.control.wait_stop().await;
    for l in loops {
        l.await;
    }
    // Drain: connections finish by themselves until the grace period ends. Idle HTTP/1
    // connections close at once, as HAProxy closes them on a soft stop, or spread over
    // `close-spread-time`: each tick closes each with the chance that leaves them evenly
    // spread over what remains of the window.
    let deadline = shared.control.deadline().unwrap_or_else(Instant::now);
    let spread = shared.cfg.global.close_spread_time;
    let window_end = spread
        .filter(|w| *w != Duration::MAX)
        .and_then(|w| Instant::now().checked_add(w));
    const TICK: Duration = Duration::from_millis(20);
    while shard.active.get() > 0 && Instant::now() < deadline {
        let left = window_end.map_or(Duration::ZERO, |e| {
            e.saturating_duration_since(Instant::now())
        });
        if left <= TICK {
            shard.sessions.close_idle(|| true);
        } else {
            let chance = TICK.as_secs_f64() / left.as_secs_f64();
            shard.sessions.close_idle(|| fastrand::f64() < chance);
        }
        glommio::timer::sleep(TICK).await;
    }
    if shard.active.get() > 0 {
        log::warn!(
            "shard {id}: grace period over, closing {} connection(s)",
            shard.active.get()
        );
    }
    // The generation is over: stop the purge timer (dropping its task cancels it) and
    // close the idle server connections now.
    drop(purger);
    drop(sessions);
    shard.http_pool.borrow_mut().clear();
    let s = &shard.stats;
    log::debug!(
        "shard {id}: {} connections, {} bytes spliced, {} bytes copied, {} write-waits, {} read-waits, {} pipe fallbacks, {} kTLS hand-offs, {} TLS in rustls, {} log lines dropped",
        ShardStats::get(&s.accepted),
        ShardStats::get(&s.spliced),
        ShardStats::get(&s.copied),
        ShardStats::get(&s.write_waits),
        ShardStats::get(&s.read_waits),
        ShardStats::get(&s.pipe_fallbacks),
        ShardStats::get(&s.ktls_handoffs),
        ShardStats::get(&s.tls_userspace),
        shard.log_drops()
    );
    crate::log::stdio::detach();
}

/// Closes the shard's idle server connections once they are older than the purge delay,
/// also when no request comes to take from the pool (which purges too), and publishes the
/// shard's own stats and idle-connection gauges. Wakes once a second, so the gauges are at
/// most a second old. Runs until `run` drops its task at the end of the generation.
async fn purge_idle_servers(shard: Rc<ShardCtx>) {
    loop {
        shard.http_pool.borrow_mut().purge(Instant::now());
        publish_stats(&shard);
        publish_idle(&shard);
        glommio::timer::sleep(Duration::from_secs(1)).await;
    }
}

/// Copies what only this shard's thread can read (its log drops, its spare buffers' counts,
/// its io_uring counters) into its shared counters.
fn publish_stats(shard: &ShardCtx) {
    let stats = &shard.stats;
    stats.log_drops.store(shard.log_drops(), Relaxed);
    let (reused, allocated) = crate::net::buffers::counts();
    stats.buffers_reused.store(reused, Relaxed);
    stats.buffers_allocated.store(allocated, Relaxed);
    let ring = glommio::io_uring_counters();
    stats.uring_enters.store(ring.enters, Relaxed);
    stats.uring_submissions.store(ring.submissions, Relaxed);
}

/// Publishes the shard's idle pooled connections per server, HTTP/1 and HTTP/2, into its
/// counters (the stats' `srv_icur`, `idle_conn_cur`, `safe_conn_cur`): the pool is the shard's own, so
/// readers see it as of the last purge.
fn publish_idle(shard: &ShardCtx) {
    use crate::cluster::counters::C;
    let counters = shard.counters();
    let pool = shard.http_pool.borrow();
    let mut h2 = Vec::new();
    crate::net::h2_upstream::idle_counts(|b, s, idle, safe| h2.push((b, s, idle, safe)));
    for (b, be) in shard.shared.backends.iter().enumerate() {
        let Some(be) = be else { continue };
        for s in 0..be.lb.servers.len() {
            let (mut idle, mut safe) = pool.count(b, s);
            // The server's idle HTTP/2 connections (a handful per shard at most).
            for &(_, _, i, sf) in h2.iter().filter(|h| (h.0, h.1) == (b, s)) {
                idle += i;
                safe += sf;
            }
            let o = counters.srv(b, s);
            o.gauge(C::IdleCur, idle);
            o.gauge(C::SafeCur, safe);
        }
    }
}

/// Answers the runtime API's session jobs (`show sess`, `shutdown session`) from the
/// shard's registry, and acts on `shutdown sessions server` for the connections that do
/// not watch their server themselves (mode http: a keep-alive client bound to the server,
/// an exchange in flight, an HTTP/2 connection's streams on it; the idle pooled
/// connections to it are closed too). One task per
/// shard, woken by its mailbox or by the control's event (which `shutdown sessions server`
/// raises after bumping the server's kill epoch); runs until `run` drops it.
async fn serve_sessions(shard: Rc<ShardCtx>) {
    use crate::cluster::sessions::Job;
    let shared = &shard.shared;
    let Some(mailbox) = shared.mailboxes.get(shard.id) else {
        return;
    };
    let epoch = |b: usize, s: usize| {
        shared.backends[b]
            .as_ref()
            .map_or(0, |be| be.lb.servers[s].kill_epoch())
    };
    // The epochs already acted on, to close each server's idle pooled connections once.
    let mut seen: Vec<Vec<u32>> = shared
        .backends
        .iter()
        .map(|b| {
            b.as_ref().map_or(Vec::new(), |be| {
                be.lb.servers.iter().map(|s| s.kill_epoch()).collect()
            })
        })
        .collect();
    loop {
        let mail = mailbox.listen();
        let woken = shared.control.listen();
        for job in mailbox.take() {
            match job {
                Job::List(tx) => {
                    let _ = tx.send(shard.sessions.snapshot(Instant::now()));
                }
                Job::Kill(id, tx) => {
                    let _ = tx.send(shard.sessions.kill_id(id));
                }
                Job::Run(f) => f(),
            }
        }
        let mut moved = false;
        for (b, row) in seen.iter_mut().enumerate() {
            for (s, e) in row.iter_mut().enumerate() {
                let now = epoch(b, s);
                if *e != now {
                    *e = now;
                    moved = true;
                    shard.http_pool.borrow_mut().drop_server(b, s);
                }
            }
        }
        if moved {
            shard.sessions.recheck_multiplexed();
        }
        shard.sessions.kill_bound(|t| {
            let be = shared.backends[t.backend].as_ref()?;
            let s = &be.lb.servers[t.server];
            (s.kill_epoch() != t.epoch).then(|| s.kill_cause())
        });
        future::or(mail, woken).await;
    }
}

/// Starts this shard's share of the health checks, their first runs spread as HAProxy's
/// `start_checks` spreads them: check `k` of `n` after `mininter * k / n`, where `mininter`
/// is the shortest interval of at least a second among all servers (a shorter one starts at
/// once) or the server's own if longer, capped by `max-spread-checks`.
fn spawn_probers(shard: &Rc<ShardCtx>) {
    let shared = &shard.shared;
    let n = shared.probes.len();
    let nshards = shard_count(shared);
    // HAProxy's srv_getinter() for a server at start (its health is `rise`).
    let first_inter = |c: &crate::config::model::CheckParams| match c.fastinter {
        Some(f) if c.fall > 1 => f,
        _ => c.inter,
    };
    let mininter = shared
        .probes
        .iter()
        .map(|s| first_inter(&shared.cfg.proxies[s.backend].servers[s.server].params.check))
        .filter(|i| *i >= std::time::Duration::from_secs(1))
        .min()
        .unwrap_or_default();
    for (k, spec) in shared.probes.iter().enumerate() {
        if k % nshards != shard.id {
            continue;
        }
        let Some(be) = shared.backends[spec.backend].clone() else {
            continue;
        };
        let px = &shared.cfg.proxies[spec.backend];
        let srv = &px.servers[spec.server];
        let c = &srv.params.check;
        // HAProxy's start_check_task: a server checked less often than `mininter` spreads
        // over its own interval; `max-spread-checks` caps either.
        let spread = mininter.max(first_inter(c));
        let spread = match shared.cfg.global.max_spread_checks {
            Some(m) => spread.min(m),
            None => spread,
        };
        let probe = crate::health::prober::Probe {
            be: be.clone(),
            srv: spec.server,
            addr: spec.addr,
            fixed_addr: srv.check_ip.is_some(),
            check_port: c.port,
            kind: px.check,
            http: Arc::new(px.http_check.clone()),
            tcp: Arc::new(px.tcp_check.clone()),
            inter: c.inter,
            fastinter: c.fastinter,
            downinter: c.downinter,
            timeout_check: px.timeouts.check,
            timeout_connect: px.timeouts.connect,
            send_proxy: c.send_proxy.then(|| {
                srv.params
                    .send_proxy
                    .unwrap_or(crate::config::ProxyVersion::V1)
            }),
            tls: be.server_tls[spec.server].clone().filter(|t| t.checks),
            pp2_local: !shared.cfg.global.pp2_never_send_local,
            spread_pct: shared.cfg.global.spread_checks,
            log_checks: px.options.log_health_checks,
            first_delay: spread.mul_f64(k as f64 / n.max(1) as f64),
            mux: crate::health::prober::HttpMux::of(&srv.params),
            h2: (
                crate::proxy::http::session::head_limits(&shared.cfg.global),
                shared.cfg.global.h2.clone(),
            ),
            connect_tls: c.connect_tls.clone(),
            check_sni: c.sni.clone(),
            external: (px.check == crate::config::CheckKind::External).then(|| {
                Arc::new(crate::health::external::ExternalCmd::of(
                    px,
                    spec.server,
                    &be,
                ))
            }),
        };
        glommio::spawn_local(crate::health::prober::run(shard.clone(), probe)).detach();
    }
    spawn_agents(shard);
}

/// Starts this shard's share of the agent checks (`agent-check`).
fn spawn_agents(shard: &Rc<ShardCtx>) {
    let shared = &shard.shared;
    let nshards = shard_count(shared);
    let mut k = 0;
    for (pi, px) in shared.cfg.proxies.iter().enumerate() {
        let Some(be) = &shared.backends[pi] else {
            continue;
        };
        for (si, srv) in px.servers.iter().enumerate() {
            let ag = &srv.params.agent;
            let (true, Some(port)) = (ag.enabled, ag.port) else {
                continue;
            };
            k += 1;
            if k % nshards != shard.id {
                continue;
            }
            let inter = ag.inter.unwrap_or(std::time::Duration::from_secs(2));
            let agent = crate::health::agent::Agent {
                be: be.clone(),
                srv: si,
                ip: ag.ip,
                port,
                inter,
                send: ag.send.clone(),
                first_delay: inter.mul_f64(fastrand::f64()),
            };
            glommio::spawn_local(crate::health::agent::run(shard.clone(), agent)).detach();
        }
    }
}

fn shard_count(shared: &Shared) -> usize {
    shared.shards
}

/// Takes a slot, waiting for one if needed; false when a stop came first.
async fn admit(slots: &Slots, control: &Control) -> bool {
    if slots.try_take() {
        return true;
    }
    future::or(
        async {
            slots
                .wait_for(None, || slots.try_take().then_some(()))
                .await
                .is_some()
        },
        async {
            control.wait_stop().await;
            false
        },
    )
    .await
}

/// Waits until every rate limit has room (the listener accepts nothing meanwhile, so
/// connections wait in the kernel's backlog, as HAProxy's paused listeners). False when
/// the process stops first.
async fn wait_for_rates(rates: &[&RateLimit], control: &Control) -> bool {
    loop {
        let now = Instant::now();
        let wait = rates.iter().map(|r| r.delay(now)).max().unwrap_or_default();
        if wait.is_zero() {
            return true;
        }
        let stopped = future::or(
            async {
                glommio::timer::sleep(wait).await;
                false
            },
            async {
                control.wait_stop().await;
                true
            },
        )
        .await;
        if stopped {
            return false;
        }
    }
}

/// How long a replaced generation keeps its pending accept: bounded by its grace period.
async fn linger(control: &crate::cluster::control::Control) {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let now = Instant::now();
        let until = control.deadline().map_or(end, |d| d.min(end));
        if now >= until {
            return;
        }
        glommio::timer::sleep((until - now).min(Duration::from_millis(100))).await;
    }
}

/// Accepts connections for one listening socket until the stop request.
async fn accept_loop(shard: Rc<ShardCtx>, l: Listener) {
    let shared = shard.shared.clone();
    let Some(fe) = shared.frontends[l.proxy].clone() else {
        return;
    };
    let gl = crate::sys::glommio_listener(l.sock);
    let control = &shared.control;
    // The per-second limits this listener obeys (none configured: nothing to do).
    let rates: Vec<&RateLimit> = [
        shared.conn_rate.as_ref(),
        shared.sess_rate.as_ref(),
        fe.sess_rate.as_ref(),
        shared.ssl_rate.as_ref().filter(|_| l.tls.is_some()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let maxaccept = shared.cfg.global.maxaccept;
    let mut in_a_row = 0u32;
    loop {
        if !rates.is_empty() && !wait_for_rates(&rates, control).await {
            break;
        }
        if maxaccept.is_some_and(|m| in_a_row >= m) {
            // `tune.maxaccept`: let the connections accepted so far run before more (one
            // trip through the executor's run queue, HAProxy's "switching to other work").
            in_a_row = 0;
            futures_lite::future::yield_now().await;
        }
        let conn = loop {
            if control.stopping() {
                break None;
            }
            match crate::sys::accept(gl.fd()) {
                Ok((sock, peer)) => break Some((crate::sys::glommio_stream(sock), peer)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    in_a_row = 0;
                    // Nothing pending: let io_uring wait for the next connection.
                    let mut acc = std::pin::pin!(gl.listener.shared_accept());
                    let mut r = future::or(async { Some((&mut acc).await) }, async {
                        control.wait_stop().await;
                        None
                    })
                    .await;
                    if r.is_none() && control.handing_over() {
                        // Cancelling an io_uring accept that the kernel has just completed
                        // loses that connection (glommio drops the fd of a cancelled
                        // source). The next generation accepts on the same socket, so
                        // this one serves what its pending accept gets, and cancels only
                        // after a quiet moment.
                        r = future::or(async { Some((&mut acc).await) }, async {
                            linger(control).await;
                            None
                        })
                        .await;
                    }
                    match r {
                        None => break None,
                        Some(Ok(a)) => {
                            let s = a.bind_to_executor();
                            let _ = crate::sys::set_nonblocking(crate::sys::fd(&s));
                            match s.peer_addr() {
                                Ok(peer) => break Some((s, peer)),
                                // A unix client has no IP address: 0.0.0.0:0 stands
                                // for it in logs and fetches.
                                Err(_) if l.addr.inet().is_none() => {
                                    break Some((s, crate::sys::NO_PEER));
                                }
                                Err(_) => continue, // already gone
                            }
                        }
                        Some(Err(e)) => {
                            log::debug!("accept on {}: {e}", l.addr);
                            // EINVAL: paused by `disable frontend` (see below).
                            let pause = if e.raw_os_error() == Some(libc::EINVAL) {
                                100
                            } else {
                                10
                            };
                            glommio::timer::sleep(Duration::from_millis(pause)).await;
                        }
                    }
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::ECONNABORTED) | Some(libc::EINTR) => {}
                    Some(libc::EINVAL) => {
                        // The socket no longer listens: `disable frontend` paused it.
                        // Look again now and then, until `enable frontend` resumes it.
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                    }
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                    | Some(libc::ENOMEM) => {
                        log::warn!("accept on {}: {e}; pausing the listener for 100 ms", l.addr);
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                    }
                    _ => {
                        log::warn!("accept on {}: {e}", l.addr);
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        };
        let Some((stream, peer)) = conn else {
            break;
        };
        // Admission: a global and a frontend slot. Slots are taken after accepting (a slot
        // reserved by an idle shard would starve the others); while this connection waits
        // for one, the shard accepts nothing more, so the rest stays in the kernel's
        // backlog as with HAProxy's maxconn.
        if !admit(&shared.slots, control).await {
            break;
        }
        if !admit(&fe.slots, control).await {
            shared.slots.give_back();
            break;
        }
        // `maxsslconn`: a TLS listener waits, as the others for maxconn, for a TLS slot.
        if l.tls.is_some() && !admit(&shared.ssl_slots, control).await {
            fe.slots.give_back();
            shared.slots.give_back();
            break;
        }
        ShardStats::add(&shard.stats.accepted, 1);
        in_a_row += 1;
        if !rates.is_empty() {
            let now = Instant::now();
            for r in &rates {
                r.add(now);
            }
        }
        log::trace!("shard {}: connection from {peer} on {}", shard.id, l.addr);
        shard.active.set(shard.active.get() + 1);
        glommio::spawn_local(crate::proxy::conn::handle(Box::new(
            crate::proxy::conn::Accepted {
                shard: shard.clone(),
                fe: fe.clone(),
                client: stream,
                peer,
                accept_proxy: l.accept_proxy,
                proto: l.proto,
                tls: l.tls.clone(),
                label: l.label.clone(),
                bind: l.index,
            },
        )))
        .detach();
    }
    // Dropping `gl` closes this shard's listening socket: the kernel stops giving it
    // connections (with net.ipv4.tcp_migrate_req=1, queued ones move to a sibling).
    drop(gl);
}
