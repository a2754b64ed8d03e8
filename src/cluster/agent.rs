//! What a server's agent check (`agent-check`) last said, for its state and the stats. The
//! agent's own health is one bit (HAProxy's agent rise and fall are 1): an agent that
//! answers `down`, `stopped` or `fail` takes the server down whatever its regular checks
//! say, and `up` gives it back to them. Only the agent's prober writes it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct AgentState {
    down: AtomicBool,
    report: Mutex<AgentReport>,
    /// An agent check is running now.
    pub running: crate::cluster::check_status::InProgress,
}

/// The last agent check, as the stats show it.
#[derive(Clone, Debug, Default)]
pub struct AgentReport {
    /// HAProxy's status name (`L7OK`, `L7STS`, `CHECKED`, `L4CON`, …) and description;
    /// None before the first check (`INI`, "Initializing").
    pub status: Option<(&'static str, &'static str)>,
    pub duration_ms: u64,
    /// `last_agt`: "via agent : down (reason)", "agent warns : …", an error.
    pub desc: String,
}

impl AgentState {
    pub fn down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Sets the agent's health bit; returns whether it changed.
    pub fn set_down(&self, down: bool) -> bool {
        self.down.swap(down, Ordering::AcqRel) != down
    }

    pub fn report(&self) -> AgentReport {
        self.report.lock().unwrap().clone()
    }

    pub fn set_report(&self, r: AgentReport) {
        *self.report.lock().unwrap() = r;
    }
}
