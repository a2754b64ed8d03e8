//! One [`ServerState`] per configured server, shared (`Arc`) by every shard. Everything a
//! shard reads or writes on the connection path is an atomic: the operational state, the
//! effective weight and the number of live connections; that path takes no lock. The one
//! lock guards the health counter (rise/fall and the up flag change together), which only
//! the prober, a reload and `observe` errors past their limit touch: never a request that
//! goes well.

use super::machine::{Health, Transition};
use crate::config::{Observe, OnError, Server};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
    pub ip: IpAddr,
    /// `None`: connect to the port the client connected to.
    pub port: Option<u16>,
    pub backup: bool,
    /// 0 = unlimited.
    pub maxconn: u32,
    pub configured_weight: u32,
    state: AtomicU8,
    weight: AtomicU32,
    /// Connections currently established or being established to this server, from every
    /// shard: what `leastconn` compares and `maxconn` limits.
    cur: AtomicU32,
    /// Whether a prober checks this server (`check`).
    pub checked: bool,
    pub observe: Observe,
    /// The health counter. Only the prober (every `inter`) and observed errors touch it,
    /// never the request path, which reads `state` alone.
    health: Mutex<Health>,
    /// Consecutive connection errors seen on live traffic (`observe layer4`).
    obs_errors: AtomicU32,
    /// Set by `on-error fastinter`: the next check comes at `fastinter`.
    pub force_fast: AtomicBool,
    /// For the stats page (`lastchg`, `downtime`): when the state last changed (ms since
    /// the Unix epoch), and the time spent down before the current period (ms).
    changed_at: AtomicU64,
    down_ms: AtomicU64,
    /// Cleared by the stats page's "disable health checks": the prober skips its checks.
    checks_enabled: AtomicBool,
}

impl ServerState {
    /// The shared state of server `srv` of `backend`; `id` orders `balance first`.
    pub fn new(backend: &str, id: u32, srv: &Server) -> ServerState {
        let p = &srv.params;
        ServerState {
            name: srv.name.clone(),
            backend: backend.to_string(),
            id,
            ip: srv.addr.ip,
            port: srv.addr.port,
            backup: p.backup,
            maxconn: p.maxconn,
            configured_weight: p.weight,
            state: AtomicU8::new(if p.disabled {
                SrvState::Maint as u8
            } else {
                SrvState::Up as u8
            }),
            weight: AtomicU32::new(p.weight),
            cur: AtomicU32::new(0),
            checked: p.check.enabled,
            observe: p.observe,
            health: Mutex::new(Health::new(p.check.rise, p.check.fall)),
            obs_errors: AtomicU32::new(0),
            force_fast: AtomicBool::new(false),
            changed_at: AtomicU64::new(unix_ms()),
            down_ms: AtomicU64::new(0),
            checks_enabled: AtomicBool::new(true),
        }
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
            // A server in maintenance stays there; its health is tracked anyway.
            Some(Transition::WentDown) if self.swap_if(SrvState::Up, SrvState::Down) => {
                self.note_change(SrvState::Up);
            }
            Some(Transition::WentUp) if self.swap_if(SrvState::Down, SrvState::Up) => {
                self.note_change(SrvState::Down);
            }
            Some(_) => {}
            None => {}
        }
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
        if prev != s {
            self.note_change(prev);
        }
        prev
    }

    /// Sets `to` if the state is `from`; whether it was.
    fn swap_if(&self, from: SrvState, to: SrvState) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The state just changed from `prev`: restarts `lastchg`, adds a down period that ended
    /// to the downtime. Only state changes call it (checks, admin actions), never a request.
    fn note_change(&self, prev: SrvState) {
        let now = unix_ms();
        let since = self.changed_at.swap(now, Ordering::AcqRel);
        if prev != SrvState::Up {
            self.down_ms
                .fetch_add(now.saturating_sub(since), Ordering::AcqRel);
        }
    }

    /// Whether the prober runs this server's checks (the stats page can pause them).
    pub fn checks_enabled(&self) -> bool {
        self.checks_enabled.load(Ordering::Relaxed)
    }

    /// Pauses or resumes the checks; whether that changed anything.
    pub fn set_checks_enabled(&self, on: bool) -> bool {
        self.checks_enabled.swap(on, Ordering::AcqRel) != on
    }

    /// Seconds since the last state change, and the total time not up (seconds), as the
    /// stats page shows them (`lastchg`, `downtime`).
    pub fn change_times(&self) -> (u64, u64) {
        let now = unix_ms();
        let since = now.saturating_sub(self.changed_at.load(Ordering::Acquire));
        let mut down = self.down_ms.load(Ordering::Acquire);
        if self.state() != SrvState::Up {
            down += since;
        }
        (since / 1000, down / 1000)
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

    #[inline]
    pub fn cur_conns(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
    }

    /// Reserves a connection slot, honouring `maxconn` exactly across shards (a CAS loop, no
    /// lock). Returns false when the server is full.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let max = self.maxconn;
        self.cur
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
                if max == 0 || c < max {
                    Some(c + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }

    /// Gives back a slot taken by [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn release(&self) {
        self.cur.fetch_sub(1, Ordering::AcqRel);
    }

    /// Where to connect for a client that reached us on `dst_port`.
    pub fn addr_for(&self, dst_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(dst_port))
    }
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
