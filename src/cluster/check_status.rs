//! A health check's result, as HAProxy names and numbers it: what the prober decides, the
//! servers' shared state keeps, and the stats page, exporter and stats socket show.

/// A health check's result as HAProxy names it (`check_status`, the Prometheus `state`
/// label of `haproxy_server_check_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CheckStatus {
    Unknown,
    L4Ok,
    L4Tout,
    L4Con,
    L6Ok,
    L6Tout,
    L6Rsp,
    L7Ok,
    L7Tout,
    L7Rsp,
    L7Sts,
    /// An external check's command exited with a status other than 0 (or by a signal).
    ProcErr,
    /// An external check's command was still running at the check's timeout.
    ProcTout,
    /// An external check's command exited with status 0.
    ProcOk,
}

impl CheckStatus {
    pub const ALL: [CheckStatus; 14] = [
        CheckStatus::Unknown,
        CheckStatus::L4Ok,
        CheckStatus::L4Tout,
        CheckStatus::L4Con,
        CheckStatus::L6Ok,
        CheckStatus::L6Tout,
        CheckStatus::L6Rsp,
        CheckStatus::L7Ok,
        CheckStatus::L7Tout,
        CheckStatus::L7Rsp,
        CheckStatus::L7Sts,
        CheckStatus::ProcErr,
        CheckStatus::ProcTout,
        CheckStatus::ProcOk,
    ];

    /// From the prober's verdict reason, which uses HAProxy's descriptions.
    pub fn from_reason(reason: &str, ok: bool) -> CheckStatus {
        CheckStatus::ALL
            .into_iter()
            .find(|s| s.description() == reason)
            .unwrap_or(if ok {
                CheckStatus::L7Ok
            } else {
                CheckStatus::L7Rsp
            })
    }

    pub(crate) fn from_u64(v: u64) -> CheckStatus {
        CheckStatus::ALL
            .get(v as usize)
            .copied()
            .unwrap_or(CheckStatus::Unknown)
    }

    pub fn ok(self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok | CheckStatus::L6Ok | CheckStatus::L7Ok | CheckStatus::ProcOk
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "UNK",
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Tout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::ProcErr => "PROCERR",
            CheckStatus::ProcTout => "PROCTOUT",
            CheckStatus::ProcOk => "PROCOK",
        }
    }

    /// HAProxy's `check_desc`.
    pub fn description(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "Unknown",
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Tout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::ProcErr => "External check error",
            CheckStatus::ProcTout => "External check timeout",
            CheckStatus::ProcOk => "External check passed",
        }
    }

    /// Whether HAProxy shows the code with it: the HTTP status (`L7OK/200`), or an external
    /// check's exit status (0 after a timeout).
    pub fn has_code(self) -> bool {
        matches!(
            self,
            CheckStatus::L7Ok
                | CheckStatus::L7Sts
                | CheckStatus::ProcErr
                | CheckStatus::ProcTout
                | CheckStatus::ProcOk
        )
    }

    /// An external check's status, which has no description in `last_chk`.
    pub fn external(self) -> bool {
        matches!(
            self,
            CheckStatus::ProcErr | CheckStatus::ProcTout | CheckStatus::ProcOk
        )
    }
    /// HAProxy's `enum healthcheck_status` value (`show servers state`'s
    /// `srv_check_status`).
    pub fn hchk_code(self) -> u8 {
        match self {
            CheckStatus::Unknown => 0,
            CheckStatus::L4Ok => 6,
            CheckStatus::L4Tout => 7,
            CheckStatus::L4Con => 8,
            CheckStatus::L6Ok => 9,
            CheckStatus::L6Tout => 10,
            CheckStatus::L6Rsp => 11,
            CheckStatus::L7Tout => 12,
            CheckStatus::L7Rsp => 13,
            CheckStatus::L7Ok => 15,
            CheckStatus::L7Sts => 17,
            CheckStatus::ProcErr => 18,
            CheckStatus::ProcTout => 19,
            CheckStatus::ProcOk => 20,
        }
    }
}

/// Whether a check is running now (HAProxy's `CHK_ST_INPROGRESS`): meanwhile the stats
/// show the last result behind a star (`* L4OK`), which operators' scripts look for.
#[derive(Debug, Default)]
pub struct InProgress(std::sync::atomic::AtomicBool);

impl InProgress {
    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks a check as running until the guard drops (a stop mid-check clears it too).
    pub fn begin(&self) -> InProgressGuard<'_> {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        InProgressGuard(self)
    }
}

pub struct InProgressGuard<'a>(&'a InProgress);

impl Drop for InProgressGuard<'_> {
    fn drop(&mut self) {
        self.0.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A check status as the stats CSV and HTML page show it: behind `* ` while a check runs.
pub fn shown(name: &str, running: bool) -> String {
    if running {
        format!("* {name}")
    } else {
        name.to_string()
    }
}

/// The status name of a field [`shown`] wrote (the exporter's `state` label has no star).
pub fn unstarred(field: &str) -> &str {
    field.strip_prefix("* ").unwrap_or(field)
}
