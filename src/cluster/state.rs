//! One [`ServerState`] per configured server, shared (`Arc`) by every shard. Everything a
//! shard reads or writes on the connection path is an atomic: the operational state, the
//! effective weight and the number of live connections; that path takes no lock. The one
//! lock guards the health counter (rise/fall and the up flag change together), which only
//! the prober, a reload and `observe` errors past their limit touch: never a request that
//! goes well.

use super::machine::{Health, Transition};
use crate::config::{Observe, OnError, Server};
use crate::log::term::Cause;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// HAProxy's administrative state bits (`srv_admin_state` in `show servers state`).
pub mod admin {
    /// Forced maintenance (`set server … state maint`, `disable server`).
    pub const FMAINT: u8 = 0x01;
    /// Maintenance from the configuration (`disabled`).
    pub const CMAINT: u8 = 0x04;
    /// Forced drain (`set server … state drain`): no new connections from balancing.
    pub const FDRAIN: u8 = 0x08;
    /// Maintenance because the server's name has no address (`init-addr none`, or DNS
    /// errors past their `hold` period); a resolution that succeeds clears it.
    pub const RMAINT: u8 = 0x20;
    pub const MAINT: u8 = FMAINT | CMAINT | RMAINT;
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SrvState {
    /// Takes traffic.
    Up = 0,
    /// Failed its checks (or marked down by observed errors).
    Down = 1,
    /// Administratively disabled (`disabled` in the configuration).
    Maint = 2,
}

impl SrvState {
    fn from_u8(v: u8) -> SrvState {
        match v {
            0 => SrvState::Up,
            1 => SrvState::Down,
            _ => SrvState::Maint,
        }
    }
}

#[derive(Debug)]
pub struct ServerState {
    pub name: String,
    pub backend: String,
    /// Numeric id (configured `id`, or position from 1): the order `balance first` uses.
    pub id: u32,
    pub backup: bool,
    /// 0 = unlimited; `set maxconn server` changes it.
    maxconn: AtomicU32,
    pub configured_weight: u32,
    state: AtomicU8,
    weight: AtomicU32,
    /// Connections currently established or being established to this server, from every
    /// shard: what `leastconn` compares and `maxconn` limits.
    cur: AtomicU32,
    /// Whether a prober checks this server (`check`).
    pub checked: bool,
    pub observe: Observe,
    /// `non-stick`: its connections are never stored in a stick table.
    pub non_stick: bool,
    /// `tcp-ut`: TCP_USER_TIMEOUT of the connections to it (checks too).
    pub tcp_ut: Option<std::time::Duration>,
    /// The health counter. Only the prober (every `inter`) and observed errors touch it,
    /// never the request path, which reads `state` alone.
    health: Mutex<Health>,
    /// Consecutive connection errors seen on live traffic (`observe layer4`).
    obs_errors: AtomicU32,
    /// Set by `on-error fastinter`: the next check comes at `fastinter`.
    pub force_fast: AtomicBool,
    /// [`admin`] bits, set through the runtime API (and `disabled`).
    admin: AtomicU8,
    /// The weight the operator asked for (`set server … weight`); `weight` is this, or 0
    /// while draining or stopping.
    uweight: AtomicU32,
    /// `set server … health stopping`: up, but takes no new connections (HAProxy's NOLB).
    stopping: AtomicBool,
    /// `disable health` clears it: the prober skips its checks.
    checks_on: AtomicBool,
    /// The last check's result: its `CheckStatus` + 1 (0 = not checked yet); see
    /// [`last_check`](Self::last_check).
    last_check: AtomicU8,
    /// A check of this server is running now.
    pub check_running: crate::cluster::check_status::InProgress,
    /// Unix time of the last change of state, for `show servers state`.
    last_change: AtomicU64,
    /// For the stats page's `downtime`: seconds spent not up in finished periods, and
    /// when the current one began (0 while up). Only state changes write them.
    down_secs: AtomicU64,
    down_since: AtomicU64,
    /// Bumped by `shutdown sessions server` and the health checks' `on-marked-down
    /// shutdown-sessions` / `on-marked-up shutdown-backup-sessions`: connections bound to
    /// the server before end.
    kill_epoch: AtomicU32,
    /// Why `kill_epoch` last moved: the first letter of the termination state of the
    /// connections it ends (`K`, `D` or `U`, as a [`Cause`] byte).
    kill_cause: AtomicU8,
    /// The address (port `None`: the one the client connected to), which the runtime API
    /// may change (`set server … addr`): read per connection without a lock.
    addr: arc_swap::ArcSwap<(IpAddr, Option<u16>)>,
    /// [`follows_client_dst`](Self::follows_client_dst) of `addr`, kept beside it: every
    /// request asks, and loading `addr` costs more than the answer.
    follows_dst: AtomicBool,
    /// A server on a local socket (`unix@`, `abns@`): `addr` is then unused.
    pub path: Option<crate::config::addr::SockPath>,
    /// `:+N` / `:-N`: a port-less address goes to the client's destination port plus this.
    pub port_offset: i32,
    /// Requests waiting for this server in particular (persistence sent them here while it
    /// was full): its own queue, beside the backend's.
    pub queue: crate::cluster::control::Slots,
    /// `maxqueue`: the most that may wait in `queue` (0 = no limit).
    pub maxqueue: u32,
    /// `minconn` / `slowstart`, on the servers that use them.
    pub dynamic: Option<crate::cluster::dynamic::Dynamic>,
    /// The agent check's verdict (`agent-check`).
    pub agent: Option<crate::cluster::agent::AgentState>,
    /// The server whose state this one follows (`track`); set once every backend exists.
    pub tracked: std::sync::OnceLock<std::sync::Arc<ServerState>>,
}

impl ServerState {
    /// The shared state of server `srv` of `backend`; `id` orders `balance first`.
    pub fn new(backend: &str, id: u32, srv: &Server) -> ServerState {
        let p = &srv.params;
        let admin = if p.disabled { admin::CMAINT } else { 0 }
            | if srv.addr.unresolved {
                admin::RMAINT
            } else {
                0
            };
        ServerState {
            name: srv.name.clone(),
            backend: backend.to_string(),
            id,
            backup: p.backup,
            maxconn: AtomicU32::new(p.maxconn),
            configured_weight: p.weight,
            state: AtomicU8::new(if admin != 0 {
                SrvState::Maint as u8
            } else {
                SrvState::Up as u8
            }),
            weight: AtomicU32::new(p.weight),
            cur: AtomicU32::new(0),
            checked: p.check.enabled,
            observe: p.observe,
            non_stick: p.non_stick,
            tcp_ut: p.tcp_ut,
            health: Mutex::new(Health::new(p.check.rise, p.check.fall)),
            obs_errors: AtomicU32::new(0),
            force_fast: AtomicBool::new(false),
            admin: AtomicU8::new(admin),
            uweight: AtomicU32::new(p.weight),
            stopping: AtomicBool::new(false),
            checks_on: AtomicBool::new(true),
            last_check: AtomicU8::new(0),
            check_running: Default::default(),
            last_change: AtomicU64::new(unix_now()),
            down_secs: AtomicU64::new(0),
            down_since: AtomicU64::new(if admin != 0 { unix_now() } else { 0 }),
            kill_epoch: AtomicU32::new(0),
            kill_cause: AtomicU8::new(Cause::Killed as u8),
            addr: arc_swap::ArcSwap::from_pointee((srv.addr.ip, srv.addr.port)),
            follows_dst: AtomicBool::new(follows_dst(
                srv.addr.ip,
                srv.addr.port,
                srv.addr.path.is_some(),
            )),
            path: srv.addr.path.clone(),
            port_offset: srv.addr.port_offset,
            queue: crate::cluster::control::Slots::new(0),
            maxqueue: p.maxqueue,
            dynamic: None,
            agent: p.agent.enabled.then(Default::default),
            tracked: std::sync::OnceLock::new(),
        }
    }

    /// The agent check said `down`, `stopped` or `fail` (and not `up` since).
    pub fn agent_down(&self) -> bool {
        self.agent.as_ref().is_some_and(|a| a.down())
    }

    /// The agent's health changed: the state follows (down if either the checks or the
    /// agent say so). Returns the transition to announce, if any; the caller rebuilds.
    pub fn agent_health(&self, down: bool) -> Option<Transition> {
        let a = self.agent.as_ref()?;
        if !a.set_down(down) {
            return None;
        }
        let before = self.state();
        self.refresh();
        match (before, self.state()) {
            (SrvState::Up, SrvState::Down) => Some(Transition::WentDown),
            (SrvState::Down, SrvState::Up) => {
                if let Some(d) = &self.dynamic {
                    d.start(crate::cluster::dynamic::unix_ms());
                    self.recompute_weight();
                }
                Some(Transition::WentUp)
            }
            _ => None,
        }
    }

    /// The server whose checks decide this one's state: itself, or the end of its `track`
    /// chain.
    pub fn health_ref(&self) -> &ServerState {
        let mut s = self;
        while let Some(t) = s.tracked.get() {
            s = t;
        }
        s
    }

    /// Whether a slow start runs (stats' `throttle`); ends it once over.
    pub fn starting(&self) -> bool {
        self.dynamic
            .as_ref()
            .is_some_and(|d| d.starting(crate::cluster::dynamic::unix_ms()))
    }

    /// During a slow start, the share of its weight and connection limit the server has
    /// (the stats' `throttle`, in percent).
    pub fn throttle(&self) -> Option<u32> {
        if !self.starting() || self.admin() & admin::FDRAIN != 0 {
            return None;
        }
        let u = self.user_weight();
        Some(if u == 0 {
            100
        } else {
            (100 * self.weight()).div_ceil(u).min(100)
        })
    }

    /// One step of a slow start: the weight follows the ramp. Returns whether it still
    /// runs; the caller rebuilds the balancing tables.
    pub fn warmup_step(&self) -> bool {
        let on = self.starting();
        self.recompute_weight();
        on
    }

    /// The limit `try_acquire` honours now (`maxconn`, scaled by `minconn` and slowstart).
    #[inline]
    fn limit(&self) -> u32 {
        let max = self.maxconn();
        match &self.dynamic {
            None => max,
            Some(d) => d.limit(max, crate::cluster::dynamic::unix_ms()),
        }
    }

    /// Whether a connection slot is free now (HAProxy's `server_has_room`).
    pub fn has_room(&self) -> bool {
        self.maxconn() == 0 || self.cur_conns() < self.limit()
    }

    /// Whether a request sent here by persistence may wait in this server's queue
    /// (`maxqueue` not reached).
    pub fn queue_has_room(&self) -> bool {
        self.maxqueue == 0 || self.queue.waiting() < self.maxqueue
    }

    /// The [`admin`] bits.
    pub fn admin(&self) -> u8 {
        self.admin.load(Ordering::Acquire)
    }

    /// Sets and clears [`admin`] bits, then the state and weight that follow from them.
    /// The caller rebuilds the balancing tables.
    pub fn set_admin(&self, set: u8, clear: u8) {
        let _ = self
            .admin
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                Some((a & !clear) | set)
            });
        self.refresh();
    }

    /// Recomputes the state and the effective weight from the admin bits, the health and
    /// the operator's weight.
    fn refresh(&self) {
        let a = self.admin();
        let st = if a & admin::MAINT != 0 {
            SrvState::Maint
        } else if self.health.lock().unwrap().up && !self.agent_down() {
            SrvState::Up
        } else {
            SrvState::Down
        };
        if self.set_state(st) != st {
            self.touch();
        }
        self.recompute_weight();
    }

    /// The effective weight from the admin bits, NOLB, the operator's weight and a slow
    /// start. Takes no lock (the health lock may be held).
    fn recompute_weight(&self) {
        let off = self.admin() & admin::FDRAIN != 0 || self.stopping.load(Ordering::Acquire);
        let w = if off {
            0
        } else {
            let u = self.uweight.load(Ordering::Acquire);
            match &self.dynamic {
                Some(d) => d.weight(u, crate::cluster::dynamic::unix_ms()),
                None => u,
            }
        };
        self.weight.store(w, Ordering::Relaxed);
    }

    /// See `kill_epoch`; a connection notes it when it starts forwarding.
    pub fn kill_epoch(&self) -> u32 {
        self.kill_epoch.load(Ordering::Acquire)
    }

    /// Ends the connections bound to the server, `why` being what their logs will say:
    /// `Killed` for `shutdown sessions server`, `Down` / `Up` for the health checks'
    /// `on-marked-down` / `on-marked-up` options. The caller then wakes the connections
    /// (`Control::wake_all`).
    pub fn shutdown_sessions(&self, why: Cause) {
        self.kill_cause.store(why as u8, Ordering::Release);
        self.kill_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Why the kill epoch last moved (see [`shutdown_sessions`](Self::shutdown_sessions)).
    pub fn kill_cause(&self) -> Cause {
        match self.kill_cause.load(Ordering::Acquire) {
            b'D' => Cause::Down,
            b'U' => Cause::Up,
            _ => Cause::Killed,
        }
    }

    fn touch(&self) {
        self.last_change.store(unix_now(), Ordering::Relaxed);
    }

    /// After a possible change of state: opens or closes a down period.
    fn note_downtime(&self) {
        let now = unix_now();
        let since = self.down_since.load(Ordering::Acquire);
        match (self.state() == SrvState::Up, since) {
            (false, 0) => self.down_since.store(now, Ordering::Release),
            (true, s) if s != 0 => {
                self.down_secs
                    .fetch_add(now.saturating_sub(s), Ordering::AcqRel);
                self.down_since.store(0, Ordering::Release);
            }
            _ => {}
        }
    }

    /// Seconds spent not up (down or in maintenance) since the start (`downtime`).
    pub fn downtime(&self) -> u64 {
        let since = self.down_since.load(Ordering::Acquire);
        let open = if since == 0 {
            0
        } else {
            unix_now().saturating_sub(since)
        };
        self.down_secs.load(Ordering::Acquire) + open
    }

    /// Seconds since the state last changed.
    pub fn since_last_change(&self) -> u64 {
        unix_now().saturating_sub(self.last_change.load(Ordering::Relaxed))
    }

    /// The weight the operator set (`get weight`), before drain.
    pub fn user_weight(&self) -> u32 {
        self.uweight.load(Ordering::Acquire)
    }

    /// `set server … weight`; the caller rebuilds the balancing tables.
    pub fn set_user_weight(&self, w: u32) {
        self.uweight.store(w, Ordering::Release);
        self.refresh();
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// `http-check disable-on-404`: a 404 puts the server in NOLB, a good answer takes it
    /// out. Returns whether that changed; the caller then rebuilds the balancing tables.
    pub fn set_stopping(&self, on: bool) -> bool {
        let changed = self.stopping.swap(on, Ordering::AcqRel) != on;
        if changed {
            self.refresh();
        }
        changed
    }

    /// `set server … health up|stopping|down`: forces the health as a check result would
    /// (the next checks may change it again). The caller rebuilds the balancing tables.
    pub fn force_health(&self, up: bool, stopping: bool) {
        {
            let mut h = self.health.lock().unwrap();
            if up {
                h.up = true;
                h.health = h.max();
            } else {
                h.mark_down();
            }
        }
        self.stopping.store(up && stopping, Ordering::Release);
        self.refresh();
    }

    pub fn checks_enabled(&self) -> bool {
        self.checks_on.load(Ordering::Acquire)
    }

    /// `disable|enable health`: while disabled the prober skips its checks and the server
    /// counts as up (HAProxy's "unchecked" state). The caller rebuilds the tables.
    pub fn set_checks(&self, on: bool) {
        self.checks_on.store(on, Ordering::Release);
        if !on {
            self.force_health(true, false);
        }
    }

    /// HAProxy's `srv_op_state`: 0 stopped, 2 running, 3 stopping.
    pub fn op_state(&self) -> u8 {
        match self.state() {
            SrvState::Up if self.stopping() => 3,
            SrvState::Up => 2,
            _ => 0,
        }
    }

    /// The result of the last check, once one ran.
    pub fn last_check(&self) -> Option<crate::cluster::CheckStatus> {
        match self.last_check.load(Ordering::Relaxed) {
            0 => None,
            v => Some(crate::cluster::CheckStatus::from_u64(v as u64 - 1)),
        }
    }

    pub fn set_last_check(&self, s: crate::cluster::CheckStatus) {
        self.last_check.store(s as u8 + 1, Ordering::Relaxed);
    }

    /// The current address (`set server … addr` may have changed it).
    pub fn ip_port(&self) -> (IpAddr, Option<u16>) {
        **self.addr.load()
    }

    /// `set server … addr IP [port P]`.
    pub fn set_addr(&self, ip: IpAddr, port: Option<u16>) {
        self.addr.store(std::sync::Arc::new((ip, port)));
        let f = follows_dst(ip, port, self.path.is_some());
        self.follows_dst.store(f, Ordering::Relaxed);
    }

    /// Moves the server to `ip` (and `port`), as `set server … addr` and DNS answers do:
    /// new connections and the next health check go there. Returns HAProxy's description
    /// of the change ("IP changed from 'a' to 'b', port changed …"), `None` if nothing
    /// changed. The caller rebuilds the balancing tables if it changed admin bits too.
    pub fn change_addr(&self, ip: IpAddr, port: Option<u16>) -> Option<String> {
        let (old_ip, old_port) = self.ip_port();
        let mut parts = Vec::new();
        if ip != old_ip {
            parts.push(format!("IP changed from '{old_ip}' to '{ip}'"));
        }
        if port != old_port {
            let show = |p: Option<u16>| p.map_or(String::new(), |p| p.to_string());
            parts.push(format!(
                "port changed from '{}' to '{}'",
                show(old_port),
                show(port)
            ));
        }
        self.set_addr(ip, port);
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Takes over the health of the same server in the previous generation (reload), so a
    /// server that was down stays down until its checks say otherwise.
    pub fn inherit(&self, prev: &ServerState) {
        if self.state() == SrvState::Maint {
            return;
        }
        let h = *prev.health.lock().unwrap();
        let mut mine = self.health.lock().unwrap();
        if h.rise == mine.rise && h.fall == mine.fall {
            *mine = h;
        } else if !h.up {
            mine.mark_down();
        }
        if !mine.up {
            self.set_state(SrvState::Down);
        }
    }

    pub fn health(&self) -> Health {
        *self.health.lock().unwrap()
    }

    /// Applies a check result; returns the transition to act on (rebuild, log), if any.
    pub fn check_result(&self, ok: bool) -> Option<Transition> {
        let mut h = self.health.lock().unwrap();
        let t = if ok { h.success() } else { h.failure() };
        self.apply(t)
    }

    fn apply(&self, t: Option<Transition>) -> Option<Transition> {
        match t {
            // The checks pass again but the agent still says down: the server stays down.
            Some(Transition::WentUp) if self.agent_down() => return None,
            Some(Transition::WentDown) => {
                self.touch();
                // A server in maintenance stays there; its health is tracked anyway.
                let _ = self.state.compare_exchange(
                    SrvState::Up as u8,
                    SrvState::Down as u8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            Some(Transition::WentUp) => {
                self.touch();
                let back = self.state.compare_exchange(
                    SrvState::Down as u8,
                    SrvState::Up as u8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if let (Ok(_), Some(d)) = (back, &self.dynamic) {
                    d.start(crate::cluster::dynamic::unix_ms());
                    self.recompute_weight();
                }
            }
            None => {}
        }
        self.note_downtime();
        t
    }

    /// A live connection to this server failed (`observe layer4`). Returns the transition
    /// when the `on-error` action took the server down.
    pub fn observed_error(&self) -> Option<Transition> {
        if !self.observe.layer4 {
            return None;
        }
        let n = self.obs_errors.fetch_add(1, Ordering::AcqRel) + 1;
        if n < self.observe.error_limit {
            return None;
        }
        self.obs_errors.store(0, Ordering::Release);
        let mut h = self.health.lock().unwrap();
        let t = match self.observe.on_error {
            OnError::FastInter => {
                self.force_fast.store(true, Ordering::Release);
                None
            }
            OnError::FailCheck => {
                self.force_fast.store(true, Ordering::Release);
                h.failure()
            }
            OnError::SuddenDeath => {
                self.force_fast.store(true, Ordering::Release);
                h.sudden_death();
                None
            }
            OnError::MarkDown => h.mark_down(),
        };
        self.apply(t)
    }

    /// A live connection succeeded: the consecutive-error count starts over.
    #[inline]
    pub fn observed_success(&self) {
        if self.observe.layer4 && self.obs_errors.load(Ordering::Relaxed) != 0 {
            self.obs_errors.store(0, Ordering::Relaxed);
        }
    }

    #[inline]
    pub fn state(&self) -> SrvState {
        SrvState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Sets the state; returns the previous one. The caller rebuilds the balancing tables.
    pub fn set_state(&self, s: SrvState) -> SrvState {
        let prev = SrvState::from_u8(self.state.swap(s as u8, Ordering::AcqRel));
        self.note_downtime();
        prev
    }

    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub fn set_weight(&self, w: u32) {
        self.weight.store(w, Ordering::Relaxed);
    }

    /// Up and with a non-zero weight: may receive new connections.
    #[inline]
    pub fn usable(&self) -> bool {
        self.state() == SrvState::Up && self.weight() > 0
    }

    /// 0 = unlimited.
    #[inline]
    pub fn maxconn(&self) -> u32 {
        self.maxconn.load(Ordering::Relaxed)
    }

    pub fn set_maxconn(&self, max: u32) {
        self.maxconn.store(max, Ordering::Relaxed);
    }

    #[inline]
    pub fn cur_conns(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
    }

    /// Reserves a connection slot, honouring `maxconn` exactly across shards (a CAS loop, no
    /// lock). Returns false when the server is full.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let ok = crate::cluster::control::take_below(&self.cur, self.limit());
        if ok && let Some(d) = &self.dynamic {
            d.served(true);
        }
        ok
    }

    /// Gives back a slot taken by [`try_acquire`](Self::try_acquire); a request waiting in
    /// this server's own queue may take it.
    #[inline]
    pub fn release(&self) {
        self.cur.fetch_sub(1, Ordering::AcqRel);
        if let Some(d) = &self.dynamic {
            d.served(false);
        }
        self.queue.wake_one();
    }

    /// Where to connect for a client that reached us on `dst_port`.
    /// A server without a port, or with port 0, takes the client's (as in HAProxy).
    pub fn addr_for(&self, dst_port: u16) -> SocketAddr {
        let (ip, port) = self.ip_port();
        // A relative port (`:+N`, `:-N`) wraps as HAProxy's 16-bit port does.
        let mapped = (i32::from(dst_port) + self.port_offset) as u16;
        SocketAddr::new(ip, port.filter(|p| *p != 0).unwrap_or(mapped))
    }

    /// Whether where it connects depends on the client's destination (no port, a relative
    /// one, or 0.0.0.0): its connections are not for clients that reached another one
    /// (HAProxy keys them by destination; corelb keeps them to their client connection).
    pub fn follows_client_dst(&self) -> bool {
        self.follows_dst.load(Ordering::Relaxed)
    }

    /// Where to connect for a client that reached `dst`: a server at 0.0.0.0 (or ::)
    /// connects to `dst`'s address, as HAProxy's does (`http-request set-dst` sets it).
    pub fn addr_to(&self, dst: SocketAddr) -> SocketAddr {
        let a = self.addr_for(dst.port());
        if a.ip().is_unspecified() {
            SocketAddr::new(dst.ip(), a.port())
        } else {
            a
        }
    }

    /// Where to connect: the local socket of a `unix@`/`abns@` server, else
    /// [`addr_for`](Self::addr_for).
    pub fn dest(&self, dst_port: u16) -> crate::config::addr::Dest<'_> {
        use crate::config::addr::Dest;
        match &self.path {
            Some(p) => Dest::Path(p),
            None => Dest::Inet(self.addr_for(dst_port)),
        }
    }
}

/// Whether a server at `ip`/`port` (`path`: on a local socket) connects where the client's
/// connection went: no port, port 0, or the unspecified address.
fn follows_dst(ip: IpAddr, port: Option<u16>, path: bool) -> bool {
    !path && (ip.is_unspecified() || port.is_none_or(|p| p == 0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn server(
        name: &str,
        ip: &str,
        port: Option<u16>,
        weight: u32,
        backup: bool,
        maxconn: u32,
        disabled: bool,
    ) -> Server {
        use crate::config::{Loc, ServerAddr, ServerParams};
        Server {
            name: name.into(),
            addr: ServerAddr {
                text: ip.into(),
                ip: ip.parse().unwrap(),
                port,
                port_offset: 0,
                unresolved: false,
                path: None,
            },
            params: ServerParams {
                weight,
                backup,
                disabled,
                maxconn,
                ..Default::default()
            },
            id: None,
            check_ip: None,
            tls_config: None,
            tls_sni: None,
            loc: Loc {
                file: "t".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn maxconn_is_exact() {
        let s = ServerState::new(
            "b",
            1,
            &server("s", "127.0.0.1", Some(1), 1, false, 2, false),
        );
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        s.release();
        assert!(s.try_acquire());
        assert_eq!(s.cur_conns(), 2);
    }

    #[test]
    fn states() {
        let s = ServerState::new("b", 1, &server("s", "127.0.0.1", None, 1, false, 0, true));
        assert_eq!(s.state(), SrvState::Maint);
        assert!(!s.usable());
        s.set_state(SrvState::Up);
        assert!(s.usable());
        s.set_weight(0);
        assert!(!s.usable());
        assert_eq!(s.addr_for(8080).port(), 8080);
    }
}
