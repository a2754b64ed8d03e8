//! The shard's live client connections, for `show sess` and `shutdown session(s)`.
//!
//! Ownership: one [`Registry`] per shard, touched only by that shard's thread (`Cell`,
//! `RefCell`: no atomic, no lock). A connection registers when it is accepted (a slot of a
//! slab, reused after it ends: no allocation once the slab has grown to the shard's
//! busiest moment), notes the server it is bound to when an exchange picks one, and
//! unregisters when its [`Entry`] guard drops. Other threads never read the slab: the
//! runtime API asks the shard (a [`Mailbox`] job, served by a task of the shard between
//! two connections' work) for a rendered snapshot or a kill, so the request path pays
//! nothing for them.

use crate::log::term::Cause;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime};

/// Bits of a session id above the shard number: the id is `(shard + 1) << SHARD_SHIFT |
/// serial`, printed in hex like HAProxy's stream pointers.
const SHARD_SHIFT: u32 = 40;

/// What a connection is bound to: backend (proxy index), server (index in the backend) and
/// the server's kill epoch when it was bound (`shutdown sessions server` bumps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub backend: usize,
    pub server: usize,
    pub epoch: u32,
}

/// One live connection.
struct Slot {
    serial: u64,
    fe: usize,
    /// The listener's label (`bind … name`, else its position from 1) index in the
    /// frontend's binds.
    listener: u32,
    src: SocketAddr,
    unix: bool,
    fd: i32,
    accepted: Instant,
    date: SystemTime,
    /// Mode tcp: the backend is known at once, the server once connected.
    backend: Cell<Option<usize>>,
    target: Cell<Option<Target>>,
    /// Exchanges started (HTTP requests; 1 for a mode tcp connection once it forwards).
    calls: Cell<u32>,
    /// Set when killed: what its log says ended it (`K`, `D`, `U`).
    killed: Cell<Option<Cause>>,
    /// An HTTP/2 connection: [`Registry::kill_bound`] passes it by and
    /// [`Registry::recheck_multiplexed`] wakes it, so that its streams on a server whose
    /// kill epoch moved end, not the connection.
    multiplexed: Cell<bool>,
    /// An HTTP/1 connection waiting for its next request: a soft stop closes it.
    idle: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// The shard's slab of live connections.
#[derive(Default)]
pub struct Registry {
    shard: usize,
    slots: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<u32>>,
    next: Cell<u64>,
    /// How many times some server's kill epoch moved (see [`Registry::rechecks`]).
    rechecks: Cell<u64>,
}

/// A connection's registration, removed when dropped; `Copy` handles to it ([`Handle`])
/// let the code of an exchange note its server.
pub struct Entry {
    reg: Rc<Registry>,
    h: Handle,
}

/// Where a registration lives in its shard's registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Handle {
    idx: u32,
    serial: u64,
}

/// What a new connection registers.
pub struct NewSess {
    pub fe: usize,
    pub listener: u32,
    pub src: SocketAddr,
    pub unix: bool,
    pub fd: i32,
    pub accepted: Instant,
    pub date: SystemTime,
    pub backend: Option<usize>,
}

impl Registry {
    pub fn new(shard: usize) -> Registry {
        Registry {
            shard,
            ..Default::default()
        }
    }

    /// Registers a connection; the entry unregisters it when dropped.
    pub fn register(self: &Rc<Self>, s: NewSess) -> Entry {
        let serial = self.next.get() + 1;
        self.next.set(serial);
        let slot = Slot {
            serial,
            fe: s.fe,
            listener: s.listener,
            src: s.src,
            unix: s.unix,
            fd: s.fd,
            accepted: s.accepted,
            date: s.date,
            backend: Cell::new(s.backend),
            target: Cell::new(None),
            calls: Cell::new(0),
            killed: Cell::new(None),
            multiplexed: Cell::new(false),
            idle: Cell::new(false),
            waker: RefCell::new(None),
        };
        let mut slots = self.slots.borrow_mut();
        let idx = match self.free.borrow_mut().pop() {
            Some(i) => {
                slots[i as usize] = Some(slot);
                i
            }
            None => {
                slots.push(Some(slot));
                (slots.len() - 1) as u32
            }
        };
        Entry {
            reg: self.clone(),
            h: Handle { idx, serial },
        }
    }

    // Inline: `killed` calls it at every poll of a mode tcp tunnel (twice per exchange in
    // scenario (f)); out of line (since it has more callers) it was 0.6 % of (f)'s CPU.
    #[inline]
    fn with<T>(&self, h: Handle, f: impl FnOnce(&Slot) -> T) -> Option<T> {
        let slots = self.slots.borrow();
        match slots.get(h.idx as usize) {
            Some(Some(s)) if s.serial == h.serial => Some(f(s)),
            _ => None,
        }
    }

    /// An exchange of `h` picked server `t` (one more call).
    #[inline]
    pub fn bind(&self, h: Handle, t: Target) {
        self.with(h, |s| {
            s.backend.set(Some(t.backend));
            s.target.set(Some(t));
            s.calls.set(s.calls.get() + 1);
        });
    }

    /// Connection `h` (HTTP/1) waits idle for its next request, or no longer does.
    #[inline]
    pub fn set_idle(&self, h: Handle, idle: bool) {
        self.with(h, |s| s.idle.set(idle));
    }

    /// A soft stop closes idle HTTP/1 connections: those `pick` chooses (all, or a share
    /// of them per tick to spread the closes over `close-spread-time`). Returns how many.
    pub fn close_idle(&self, mut pick: impl FnMut() -> bool) -> usize {
        let slots = self.slots.borrow();
        let mut n = 0;
        for s in slots.iter().flatten() {
            if s.idle.get() && s.killed.get().is_none() && pick() {
                Self::kill_slot(s, Cause::Normal);
                n += 1;
            }
        }
        n
    }

    /// Connection `h` speaks HTTP/2 (see `Slot::multiplexed`).
    pub fn set_multiplexed(&self, h: Handle) {
        self.with(h, |s| s.multiplexed.set(true));
    }

    /// The printed id of a registration (HAProxy prints a stream's address).
    pub fn id(&self, h: Handle) -> u64 {
        ((self.shard as u64 + 1) << SHARD_SHIFT) | h.serial
    }

    /// Kills a connection for `why`: its [`killed`](Self::killed) future completes.
    fn kill_slot(s: &Slot, why: Cause) {
        s.killed.set(Some(why));
        if let Some(w) = s.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// `shutdown session ID`: false when no connection of this shard has that id.
    pub fn kill_id(&self, id: u64) -> bool {
        let slots = self.slots.borrow();
        for s in slots.iter().flatten() {
            if self.id(Handle {
                idx: 0,
                serial: s.serial,
            }) == id
            {
                Self::kill_slot(s, Cause::Killed);
                return true;
            }
        }
        false
    }

    /// `shutdown sessions server` (and the health checks' `shutdown-sessions` options):
    /// kills the connections bound to a server whose kill epoch moved since they were
    /// bound; `moved(target)` says whether it did, and why (`ServerState::kill_cause`).
    pub fn kill_bound(&self, moved: impl Fn(Target) -> Option<Cause>) -> usize {
        let slots = self.slots.borrow();
        let mut n = 0;
        for s in slots.iter().flatten() {
            if s.killed.get().is_none()
                && !s.multiplexed.get()
                && let Some(why) = s.target.get().and_then(&moved)
            {
                Self::kill_slot(s, why);
                n += 1;
            }
        }
        n
    }

    /// Some server's kill epoch moved: wakes the HTTP/2 connections, which see
    /// [`rechecks`](Self::rechecks) move and have each stream compare its server's epoch
    /// with the one it was bound at (the HTTP/1 connections are `kill_bound`'s).
    pub fn recheck_multiplexed(&self) {
        self.rechecks.set(self.rechecks.get() + 1);
        for s in self.slots.borrow().iter().flatten() {
            if s.multiplexed.get()
                && let Some(w) = s.waker.borrow_mut().take()
            {
                w.wake();
            }
        }
    }

    /// Bumped by each [`recheck_multiplexed`](Self::recheck_multiplexed).
    pub fn rechecks(&self) -> u64 {
        self.rechecks.get()
    }

    /// Completes once the connection was killed (`shutdown session`, `shutdown sessions
    /// server`; [`kill_cause`](Self::kill_cause) says why); never for an unknown handle.
    pub fn killed(&self, h: Handle) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let done = self.with(h, |s| {
                if let Some(why) = s.killed.get() {
                    return Some(why);
                }
                let mut w = s.waker.borrow_mut();
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                None
            });
            match done.flatten() {
                Some(_) => Poll::Ready(()),
                None => Poll::Pending,
            }
        })
    }

    /// Why connection `h` was killed, if it was.
    pub fn kill_cause(&self, h: Handle) -> Option<Cause> {
        self.with(h, |s| s.killed.get()).flatten()
    }

    pub fn is_killed(&self, h: Handle) -> bool {
        self.kill_cause(h).is_some()
    }

    /// A snapshot of every live connection, for rendering off the shard.
    pub fn snapshot(&self, now: Instant) -> Vec<SessInfo> {
        let slots = self.slots.borrow();
        slots
            .iter()
            .flatten()
            .map(|s| SessInfo {
                id: self.id(Handle {
                    idx: 0,
                    serial: s.serial,
                }),
                shard: self.shard,
                fe: s.fe,
                listener: s.listener,
                src: s.src,
                unix: s.unix,
                fd: s.fd,
                age: now.saturating_duration_since(s.accepted).as_secs(),
                date: s.date,
                backend: s.backend.get(),
                server: s.target.get().map(|t| t.server),
                calls: s.calls.get(),
            })
            .collect()
    }

    /// Live connections.
    pub fn len(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entry {
    pub fn handle(&self) -> Handle {
        self.h
    }
    pub fn registry(&self) -> &Registry {
        &self.reg
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut slots = self.reg.slots.borrow_mut();
        if let Some(s) = slots.get_mut(self.h.idx as usize)
            && s.as_ref().is_some_and(|s| s.serial == self.h.serial)
        {
            *s = None;
            self.reg.free.borrow_mut().push(self.h.idx);
        }
    }
}

/// One connection as `show sess` prints it (plain data: it crosses to the CLI thread).
#[derive(Clone, Debug)]
pub struct SessInfo {
    pub id: u64,
    pub shard: usize,
    pub fe: usize,
    pub listener: u32,
    pub src: SocketAddr,
    pub unix: bool,
    pub fd: i32,
    pub age: u64,
    pub date: SystemTime,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub calls: u32,
}

/// The shard of a printed session id, if it has the shape of one.
pub fn shard_of(id: u64) -> Option<usize> {
    let s = id >> SHARD_SHIFT;
    (s > 0).then(|| s as usize - 1)
}

/// What the runtime API asks a shard.
pub enum Job {
    /// Every live connection.
    List(std::sync::mpsc::Sender<Vec<SessInfo>>),
    /// `shutdown session ID`: whether it was found.
    Kill(u64, std::sync::mpsc::Sender<bool>),
    /// Work on the shard's own thread-local state (`show cache` reads the shard's cache
    /// stores), which sends its answer back itself.
    Run(Box<dyn FnOnce() + Send>),
}

/// A shard's inbox for [`Job`]s: the CLI thread pushes and notifies; the shard's service
/// task (never a connection) takes them. The lock is held for a push or a take only.
#[derive(Default)]
pub struct Mailbox {
    jobs: Mutex<Vec<Job>>,
    event: event_listener::Event,
}

impl Mailbox {
    pub fn post(&self, job: Job) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
        self.event.notify(usize::MAX);
    }

    /// Listen before [`take`](Self::take) so that no post is missed.
    pub fn listen(&self) -> event_listener::EventListener {
        self.event.listen()
    }

    pub fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(reg: &Rc<Registry>, fe: usize) -> Entry {
        reg.register(NewSess {
            fe,
            listener: 1,
            src: "127.0.0.1:1234".parse().unwrap(),
            unix: false,
            fd: 7,
            accepted: Instant::now(),
            date: SystemTime::now(),
            backend: None,
        })
    }

    #[test]
    fn slots_are_reused_and_ids_are_not() {
        let reg = Rc::new(Registry::new(2));
        let a = new(&reg, 0);
        let b = new(&reg, 0);
        let (ida, idb) = (reg.id(a.handle()), reg.id(b.handle()));
        assert_ne!(ida, idb);
        assert_eq!(shard_of(ida), Some(2));
        drop(a);
        assert_eq!(reg.len(), 1);
        let c = new(&reg, 1);
        assert_eq!(c.handle().idx, 0, "the freed slot is reused");
        assert_ne!(reg.id(c.handle()), ida, "under a new id");
        // The old id kills nothing; the new one kills c only.
        assert!(!reg.kill_id(ida));
        assert!(reg.kill_id(reg.id(c.handle())));
        assert!(reg.is_killed(c.handle()) && !reg.is_killed(b.handle()));
        let ids: Vec<u64> = reg.snapshot(Instant::now()).iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), 2);
        drop((b, c));
        assert!(reg.is_empty());
    }

    #[test]
    fn kill_bound_takes_only_the_servers_whose_epoch_moved() {
        let reg = Rc::new(Registry::new(0));
        let a = new(&reg, 0);
        let b = new(&reg, 0);
        let idle = new(&reg, 0);
        reg.bind(
            a.handle(),
            Target {
                backend: 1,
                server: 0,
                epoch: 3,
            },
        );
        reg.bind(
            b.handle(),
            Target {
                backend: 1,
                server: 1,
                epoch: 3,
            },
        );
        // Server 0's epoch moved to 4 (its health checks marked it down).
        let moved = |t: Target| (t.server == 0 && t.epoch != 4).then_some(Cause::Down);
        assert_eq!(reg.kill_bound(moved), 1);
        assert_eq!(reg.kill_cause(a.handle()), Some(Cause::Down));
        assert!(!reg.is_killed(b.handle()) && !reg.is_killed(idle.handle()));
        assert_eq!(reg.kill_bound(moved), 0, "a killed one counts once");
        // An HTTP/2 connection bound to the server stays: its streams end themselves.
        let h2 = new(&reg, 0);
        let t = Target {
            backend: 1,
            server: 0,
            epoch: 3,
        };
        reg.bind(h2.handle(), t);
        reg.set_multiplexed(h2.handle());
        assert_eq!(reg.kill_bound(moved), 0);
        assert!(!reg.is_killed(h2.handle()));
        let s = reg.snapshot(Instant::now());
        assert_eq!(s[0].calls, 1);
        assert_eq!((s[1].backend, s[1].server), (Some(1), Some(1)));
        assert_eq!((s[2].backend, s[2].server), (None, None));
    }

    #[test]
    fn recheck_wakes_the_http2_connections_only_and_kills_none() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let reg = Rc::new(Registry::new(0));
        let (h1, h2) = (new(&reg, 0), new(&reg, 0));
        reg.set_multiplexed(h2.handle());
        let counts = [h1.handle(), h2.handle()].map(|h| {
            let c = Arc::new(Count(AtomicUsize::new(0)));
            let waker = std::task::Waker::from(c.clone());
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(std::pin::pin!(reg.killed(h)).poll(&mut cx).is_pending());
            c
        });
        let before = reg.rechecks();
        reg.recheck_multiplexed();
        assert_eq!(reg.rechecks(), before + 1);
        assert_eq!(counts[0].0.load(Ordering::Relaxed), 0);
        assert_eq!(counts[1].0.load(Ordering::Relaxed), 1);
        assert!(!reg.is_killed(h1.handle()) && !reg.is_killed(h2.handle()));
    }

    #[test]
    fn killed_future_wakes_on_kill() {
        let reg = Rc::new(Registry::new(0));
        let a = new(&reg, 0);
        let h = a.handle();
        let mut fut = std::pin::pin!(reg.killed(h));
        let waker = futures_lite::future::block_on(std::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(reg.kill_id(reg.id(h)));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        assert_eq!(reg.kill_cause(h), Some(Cause::Killed));
    }
}
