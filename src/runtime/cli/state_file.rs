//! `show servers state` and the server state file (`server-state-file`,
//! `load-server-state-from-file`): HAProxy's version-1 format, one line per server, which
//! an operator saves from the socket before a reload and the next generation reads back,
//! so that admin states, weights and addresses set at run time survive it.

use crate::cluster::SrvState;
use crate::cluster::state::admin;
use crate::cluster::{BackendRt, Shared};
use crate::config::cli::LoadState;
use std::fmt::Write;
use std::path::PathBuf;

pub const HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

/// HAProxy's check state flags (`CHK_ST_*`).
const CHK_CONFIGURED: u8 = 0x02;
const CHK_ENABLED: u8 = 0x04;
const CHK_PAUSED: u8 = 0x08;

/// The `show servers state` text: every backend, or `only`.
pub fn render(sh: &Shared, only: Option<&BackendRt>) -> String {
    let mut s = format!("1\n{HEADER}\n");
    for be in sh.backends.iter().flatten() {
        if only.is_some_and(|o| o.proxy != be.proxy) {
            continue;
        }
        let px = &sh.cfg.proxies[be.proxy];
        for (n, srv) in be.lb.servers.iter().enumerate() {
            if be.lb.is_dispatch(n) {
                continue;
            }
            let conf = &px.servers[n];
            let (ip, port) = srv.ip_port();
            let h = srv.health();
            let checked = srv.checked;
            let (status, result, health, chk_state) = if checked {
                let mut st = CHK_CONFIGURED;
                if srv.checks_enabled() {
                    st |= CHK_ENABLED;
                }
                if srv.state() == SrvState::Maint {
                    st |= CHK_PAUSED;
                }
                // HCHK_STATUS_INI (1) until a check ran; CHK_RES_*: 0 unknown, 2 failed,
                // 3 passed.
                let (last, result) = match srv.last_check() {
                    None => (1, 0),
                    Some(c) => (c.hchk_code(), if c.ok() { 3 } else { 2 }),
                };
                (last, result, h.health, st)
            } else {
                (1, 0, h.rise, 0)
            };
            let c = &conf.params.check;
            let _ = writeln!(
                s,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 {} {} - {} - {} {} {} - 0",
                be.id,
                be.name,
                srv.id,
                srv.name,
                ip,
                srv.op_state(),
                srv.admin(),
                srv.user_weight(),
                srv.configured_weight,
                srv.since_last_change(),
                status,
                result,
                health,
                chk_state,
                px.id.is_some() as u8,
                conf.id.is_some() as u8,
                port.unwrap_or(0),
                conf.params.tls.as_ref().is_some_and(|t| t.ssl) as u8,
                c.port.unwrap_or(0),
                c.addr.as_deref().unwrap_or("-"),
            );
        }
    }
    s
}

/// One server line of a state file, the fields a new generation takes over.
#[derive(Debug, PartialEq, Eq)]
pub struct SavedServer {
    pub backend: String,
    pub server: String,
    pub addr: std::net::IpAddr,
    pub op_state: u8,
    pub admin: u8,
    pub uweight: u32,
    pub port: u16,
}

/// Parses a state file (the `show servers state` text). Lines that do not parse are
/// reported with their number and skipped, as HAProxy does.
pub fn parse(text: &str) -> (Vec<SavedServer>, Vec<String>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "1")) => {}
        Some((_, v)) => {
            errs.push(format!(
                "unsupported server state file version '{v}' (1 expected)"
            ));
            return (out, errs);
        }
        None => return (out, errs),
    }
    for (i, line) in lines {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            if f.len() < 19 {
                return None;
            }
            Some(SavedServer {
                backend: f[1].to_string(),
                server: f[3].to_string(),
                addr: f[4].parse().ok()?,
                op_state: f[5].parse().ok()?,
                admin: f[6].parse().ok()?,
                uweight: f[7].parse().ok()?,
                port: f[18].parse().ok()?,
            })
        })();
        match parsed {
            Some(s) => out.push(s),
            None => errs.push(format!("line {}: malformed server state line", i + 1)),
        }
    }
    (out, errs)
}

/// The file a backend loads its servers' state from, if any.
fn file_for(sh: &Shared, be: &BackendRt) -> Option<PathBuf> {
    let px = &sh.cfg.proxies[be.proxy];
    let cli = &sh.cfg.global.cli;
    let under_base = |p: PathBuf| match &cli.state_base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    };
    match px.load_state {
        LoadState::None => None,
        LoadState::Global => cli.state_file.clone().map(under_base),
        LoadState::Local => Some(under_base(PathBuf::from(
            px.state_file_name
                .clone()
                .unwrap_or_else(|| be.name.clone()),
        ))),
    }
}

/// Applies the state files to a new generation before it takes traffic. Messages are
/// returned for the log: a missing or malformed file is a warning, never fatal.
pub fn load(sh: &Shared) -> Vec<String> {
    let mut msgs = Vec::new();
    let mut cache: Vec<(PathBuf, Vec<SavedServer>)> = Vec::new();
    for be in sh.backends.iter().flatten() {
        let Some(path) = file_for(sh, be) else {
            continue;
        };
        if !cache.iter().any(|(p, _)| *p == path) {
            let saved = match std::fs::read_to_string(&path) {
                Ok(t) => {
                    let (v, errs) = parse(&t);
                    for e in errs {
                        msgs.push(format!("server state file '{}': {e}", path.display()));
                    }
                    v
                }
                Err(e) => {
                    msgs.push(format!(
                        "cannot read server state file '{}': {e}",
                        path.display()
                    ));
                    Vec::new()
                }
            };
            cache.push((path.clone(), saved));
        }
        let saved = &cache.iter().find(|(p, _)| *p == path).unwrap().1;
        let mut any = false;
        for s in saved.iter().filter(|s| s.backend == be.name) {
            let Some(srv) = be.lb.servers.iter().find(|x| x.name == s.server) else {
                continue;
            };
            any = true;
            srv.set_user_weight(s.uweight);
            // Forced states carry over; maintenance from the configuration follows the
            // configuration.
            let forced = s.admin & (admin::FMAINT | admin::FDRAIN);
            srv.set_admin(forced, (admin::FMAINT | admin::FDRAIN) & !forced);
            if srv.checked && s.op_state == 0 && s.admin & admin::MAINT == 0 {
                srv.force_health(false, false);
            }
            let port = srv.ip_port().1.map(|_| s.port).filter(|p| *p != 0);
            srv.set_addr(s.addr, port.or(srv.ip_port().1));
            // `init-addr last`: the saved address is the one to start with.
            if srv.admin() & admin::RMAINT != 0 && !s.addr.is_unspecified() {
                srv.set_admin(0, admin::RMAINT);
            }
        }
        if any {
            be.lb.rebuild();
        }
    }
    msgs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_haproxys_output() {
        let text = format!(
            "1\n{HEADER}\n3 be 1 s1 127.0.0.2 0 1 5 10 0 1 0 4 0 0 0 0 - 9999 - 0 0 - - 0\nbad line\n"
        );
        let (v, errs) = parse(&text);
        assert_eq!(
            v,
            vec![SavedServer {
                backend: "be".into(),
                server: "s1".into(),
                addr: "127.0.0.2".parse().unwrap(),
                op_state: 0,
                admin: 1,
                uweight: 5,
                port: 9999
            }]
        );
        assert_eq!(
            errs,
            vec!["line 4: malformed server state line".to_string()]
        );
        assert_eq!(parse("2\n").1.len(), 1);
    }
}
