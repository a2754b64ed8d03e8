//! A connection's shard context ([`ShardCtx`]): what a connection or a prober running on
//! one shard needs from that shard, and nothing of how the shard runs — the generation's
//! [`Shared`] state, the shard's pipes, its idle server connections, its counters (its
//! [`ShardCounters`] slot, its [`ShardStats`], its live-connection count), its log senders
//! and its session registry. The spare I/O buffers are the shard's too, but thread-local
//! (`buffers`: one shard per thread), so a buffer is taken without the context.
//!
//! One per shard, owned by that shard's thread (`Rc`, `Cell`, `RefCell`: nothing here is
//! shared with another thread except through [`Shared`] and the counters' atomics).
//! `runtime` builds it and runs the shard's loops (accepts, probers' scheduling, the purge
//! timer, the session jobs, the drain) and hands `proxy` and `health` a clone of its
//! `Rc<ShardCtx>` per connection or prober; they never see `runtime`.

use super::pipes::PipePool;
use crate::cluster::counters::{ShardCounters, ShardStats};
use crate::cluster::machine::Transition;
use crate::cluster::{BackendRt, Shared};
use crate::log::syslog::Sender;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

pub struct ShardCtx {
    /// The shard's position among the generation's shards: its slot in the counters and
    /// its mailbox; the runtime picks the shard's share of the probes by it.
    pub id: usize,
    pub shared: Arc<Shared>,
    /// Live connections of this shard: the runtime counts one in when it accepts, the
    /// connection counts itself out when it ends; the drain waits for zero.
    pub active: Cell<usize>,
    pub pipes: RefCell<PipePool>,
    /// Idle server connections of mode http, per (backend, server).
    pub http_pool: RefCell<super::pool::Pool>,
    /// Shared with the stats readers (`Shared::counters`).
    pub stats: Arc<ShardStats>,
    /// Log senders per proxy index, opened on first use.
    logs: RefCell<Vec<Option<Sender>>>,
    /// Live client connections (`show sess`, `shutdown session`).
    pub sessions: std::rc::Rc<crate::cluster::sessions::Registry>,
}

impl ShardCtx {
    /// Shard `id` of the generation `shared`, with room for `pipes` pipes.
    pub fn new(id: usize, shared: Arc<Shared>, pipes: usize) -> ShardCtx {
        ShardCtx {
            id,
            pipes: RefCell::new(PipePool::new(shared.pipe_size, pipes)),
            http_pool: RefCell::new(Default::default()),
            stats: shared.counters.shard(id).proc.clone(),
            logs: RefCell::new((0..shared.cfg.proxies.len()).map(|_| None).collect()),
            active: Cell::new(0),
            sessions: std::rc::Rc::new(crate::cluster::sessions::Registry::new(id)),
            shared,
        }
    }

    /// This shard's counters (proxies, servers, listeners): write them only from this shard's thread.
    pub fn counters(&self) -> &ShardCounters {
        self.shared.counters.shard(self.id)
    }

    /// Sends a log line for proxy `proxy` (no-op without targets).
    pub fn log(&self, proxy: usize, level: u8, line: &str) {
        self.log_sd(proxy, level, line.as_bytes(), b"");
    }

    /// Mails `msg` (a server state change at syslog `level`) to proxy `proxy`'s mailers when
    /// it has `email-alert` settings and the level is within its `email-alert level`.
    pub fn email_alert(&self, proxy: usize, level: u8, msg: &str) {
        let Some(a) = &self.shared.cfg.proxies[proxy].email_alert else {
            return;
        };
        if level <= a.level {
            self.shared.mail[a.mailers].send(a, msg);
        }
    }

    /// Sends an access-log line with its rfc5424 structured data (`log-format-sd`).
    pub fn log_sd(&self, proxy: usize, level: u8, line: &[u8], sd: &[u8]) {
        let mut logs = self.logs.borrow_mut();
        let Some(slot) = logs.get_mut(proxy) else {
            return;
        };
        let sender = slot.get_or_insert_with(|| {
            let cfg = &self.shared.cfg;
            let tag = cfg.proxies[proxy]
                .logging
                .tag
                .as_deref()
                .or(cfg.global.log_tag.as_deref())
                .unwrap_or("corelb");
            let host = self.shared.cfg.global.log_send_hostname.as_deref();
            Sender::new(&self.shared.logs[proxy], tag, host)
        });
        sender.send_sd(level, line, sd);
    }

    /// Log lines this shard dropped because a target did not keep up (syslog sockets and
    /// stdout/stderr queues); call it on the shard's own thread.
    pub fn log_drops(&self) -> u64 {
        let sockets: u64 = self
            .logs
            .borrow()
            .iter()
            .flatten()
            .map(Sender::dropped)
            .sum();
        sockets + crate::log::stdio::dropped_here()
    }
}

#[cfg(test)]
impl ShardCtx {
    /// A shard with no proxies and room for `pipes` pipes, for tests of what runs on one.
    pub(crate) fn for_tests(pipes: usize) -> ShardCtx {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str("test.cfg", "global\n");
        let (cfg, diags) = p.finish();
        let cfg = cfg.unwrap_or_else(|| panic!("{diags:?}"));
        ShardCtx::new(0, Arc::new(Shared::new(cfg, 100, 1, None)), pipes)
    }
}

/// A failed connect or an invalid answer from server `srv` (`observe layer4|layer7`): when
/// the errors reach the server's limit, it goes down and the change is announced.
/// A connection (or check) to a server of `be` found no source port to bind
/// (`source ADDR:LOW-HIGH` exhausted, or none of its ports would bind): HAProxy's alert on
/// stderr and emergency log line, once per attempt, before the retry rule decides.
pub fn source_bind_alert(shard: &ShardCtx, be: &BackendRt) {
    let msg = format!(
        "Cannot bind to source address before connect() for backend {}.",
        be.name
    );
    log::error!("{msg} Aborting.");
    shard.log(be.proxy, crate::log::syslog::EMERG, &msg);
}

pub fn observe_error(shard: &ShardCtx, be: &BackendRt, srv: usize) {
    let server = &be.lb.servers[srv];
    if let Some(t) = server.observed_error() {
        announce(
            shard,
            be,
            srv,
            t,
            &format!(
                "reason: Health analyze, info: \"Detected {} consecutive errors, last one was: L4 unsuccessful connection\"",
                server.observe.error_limit
            ),
        );
    }
}

/// Acts on a state change, whether the health checks or `observe` caused it: rebuilds
/// the backend's tables, logs once (stderr and the backend's log targets), lets queued
/// connections try the recovered server, and ends the connections the server's
/// `on-marked-down shutdown-sessions` / `on-marked-up shutdown-backup-sessions` name.
pub fn announce(shard: &ShardCtx, be: &BackendRt, srv: usize, t: Transition, detail: &str) {
    be.lb.rebuild();
    let s = &be.lb.servers[srv];
    let (mut act, mut bck) = (0, 0);
    for x in &be.lb.servers {
        if x.usable() {
            if x.backup {
                bck += 1;
            } else {
                act += 1;
            }
        }
    }
    let queued = be.queue.waiting();
    let kind = if s.backup { "Backup server" } else { "Server" };
    // A tracking server's change reads "is DOWN via B/S." in HAProxy's words.
    let sep = if detail.starts_with("via ") {
        " "
    } else {
        ", "
    };
    match t {
        Transition::WentDown => {
            let msg = format!(
                "{kind} {}/{} is DOWN{sep}{detail}. {act} active and {bck} backup servers left. {} sessions active, 0 requeued, {queued} remaining in queue.",
                be.name,
                s.name,
                s.cur_conns()
            );
            log::warn!("{msg}");
            shard.log(be.proxy, crate::log::syslog::ALERT, &msg);
            shard.email_alert(be.proxy, crate::log::syslog::ALERT, &msg);
            if act + bck == 0 {
                let msg = format!("backend '{}' has no server available!", be.name);
                log::error!("{msg}");
                shard.log(be.proxy, 0, &msg);
            }
        }
        Transition::WentUp => {
            let msg = format!(
                "{kind} {}/{} is UP{sep}{detail}. {act} active and {bck} backup servers online. 0 sessions requeued, {queued} total in queue.",
                be.name, s.name
            );
            log::warn!("{msg}");
            shard.log(be.proxy, crate::log::syslog::NOTICE, &msg);
            shard.email_alert(be.proxy, crate::log::syslog::NOTICE, &msg);
            be.queue.wake_all();
        }
    }
    shutdown_on_change(shard, be, srv, t);
    super::follow::after_change(shard, be, srv, t);
}

/// `on-marked-down shutdown-sessions`: the connections of a server that went down end now
/// (logged `D`); `on-marked-up shutdown-backup-sessions`: those of the backend's backup
/// servers end when an active one comes up (logged `U`), so traffic comes back to it.
fn shutdown_on_change(shard: &ShardCtx, be: &BackendRt, srv: usize, t: Transition) {
    use crate::log::term::Cause;
    let opts = &shard.shared.cfg.proxies[be.proxy].servers[srv].params.check;
    let s = &be.lb.servers[srv];
    match t {
        Transition::WentDown if opts.down_shutdown_sessions => s.shutdown_sessions(Cause::Down),
        Transition::WentUp if opts.up_shutdown_backup_sessions && !s.backup && s.weight() > 0 => {
            for b in be.lb.servers.iter().filter(|b| b.backup) {
                b.shutdown_sessions(Cause::Up);
            }
        }
        _ => return,
    }
    shard.shared.control.wake_all();
}
