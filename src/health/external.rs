//! External checks (`option external-check`): each check runs the proxy's `external-check
//! command` as a process, with HAProxy 2.6's arguments and environment, and judges its exit
//! status: 0 is up (PROCOK), anything else down (PROCERR), still running at the timeout down
//! too (PROCTOUT, and the process gets SIGTERM as HAProxy sends it).
//!
//! The shard never waits for the process, nor for its creation: one thread per check run
//! spawns it, waits for it and reaps it, and hands the result back through a one-shot slot
//! that the prober's task awaits (the shard goes on serving meanwhile).

use super::check::Verdict;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What stays the same from one run of a server's external check to the next.
#[derive(Clone, Debug)]
pub struct ExternalCmd {
    /// `external-check command`, as written (searched in `path` when it has no slash).
    pub command: String,
    /// `external-check path`, else empty (HAProxy's default).
    pub path: String,
    /// The first bind's address and port (`NOT_USED` without one; a unix socket's path and
    /// `NOT_USED`): the command's first two arguments.
    pub proxy_addr: String,
    pub proxy_port: String,
    pub proxy_name: String,
    pub proxy_id: u32,
    pub server_name: String,
    pub server_id: u32,
    /// HAPROXY_SERVER_PROTO: the server's `proto`, else `h1` in mode http, `tcp` in mode tcp.
    pub proto: &'static str,
    /// HAPROXY_SERVER_SSL: the server has `ssl`.
    pub ssl: bool,
}

/// What changes between runs: read from the server's shared state at each check.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub addr: std::net::IpAddr,
    /// The server's port (0 for a server without one, as HAProxy's `%u` of it).
    pub port: u16,
    pub maxconn: u32,
    pub curconn: u32,
}

impl ExternalCmd {
    /// The command of server `si` of proxy `px` (whose runtime is `be`).
    pub fn of(px: &crate::config::Proxy, si: usize, be: &crate::cluster::BackendRt) -> ExternalCmd {
        let srv = &px.servers[si];
        use crate::config::addr::ListenAddr;
        // HAProxy's first INET, INET6 or UNIX listener of the proxy.
        let (proxy_addr, proxy_port) = px
            .binds
            .iter()
            .find_map(|b| match &b.addr {
                ListenAddr::Inet(a) => Some((a.ip().to_string(), a.port().to_string())),
                // A unix socket's path (an abstract one's starts with a NUL: empty in C).
                ListenAddr::Path(p) => Some((
                    match p {
                        crate::config::addr::SockPath::Unix(p) => p.display().to_string(),
                        crate::config::addr::SockPath::Abns(_) => String::new(),
                    },
                    "NOT_USED".to_string(),
                )),
                ListenAddr::Fd(_) => None,
            })
            .unwrap_or_else(|| ("NOT_USED".into(), "NOT_USED".into()));
        let proto = match (srv.params.proto_given, srv.params.proto_h2, px.mode) {
            (true, true, _) => "h2",
            (true, false, _) | (false, _, crate::config::Mode::Http) => "h1",
            (false, _, crate::config::Mode::Tcp) => "tcp",
        };
        ExternalCmd {
            command: px.external_check.command.clone().unwrap_or_default(),
            path: px.external_check.path.clone().unwrap_or_default(),
            proxy_addr,
            proxy_port,
            proxy_name: px.name.clone(),
            proxy_id: be.id,
            server_name: srv.name.clone(),
            server_id: be.lb.servers[si].id,
            proto,
            ssl: srv.params.tls.as_ref().is_some_and(|t| t.ssl),
        }
    }

    /// The arguments after the command: `<proxy_addr> <proxy_port> <server_addr>
    /// <server_port>`.
    pub fn args(&self, now: &Now) -> [String; 4] {
        [
            self.proxy_addr.clone(),
            self.proxy_port.clone(),
            now.addr.to_string(),
            now.port.to_string(),
        ]
    }

    /// The whole environment of the command (nothing of corelb's own): HAProxy's variables,
    /// `NOT_USED` given as empty as HAProxy gives it.
    pub fn env(&self, now: &Now) -> Vec<(&'static str, String)> {
        let unused = |s: &str| {
            if s == "NOT_USED" {
                String::new()
            } else {
                s.to_string()
            }
        };
        vec![
            ("PATH", self.path.clone()),
            ("HAPROXY_PROXY_NAME", self.proxy_name.clone()),
            ("HAPROXY_PROXY_ID", self.proxy_id.to_string()),
            ("HAPROXY_PROXY_ADDR", unused(&self.proxy_addr)),
            ("HAPROXY_PROXY_PORT", unused(&self.proxy_port)),
            ("HAPROXY_SERVER_NAME", self.server_name.clone()),
            ("HAPROXY_SERVER_ID", self.server_id.to_string()),
            ("HAPROXY_SERVER_ADDR", now.addr.to_string()),
            ("HAPROXY_SERVER_PORT", now.port.to_string()),
            ("HAPROXY_SERVER_MAXCONN", now.maxconn.to_string()),
            ("HAPROXY_SERVER_CURCONN", now.curconn.to_string()),
            ("HAPROXY_SERVER_SSL", (self.ssl as u8).to_string()),
            ("HAPROXY_SERVER_PROTO", self.proto.to_string()),
        ]
    }
}

/// The verdict on how the command ended: its exit status, or `None` when it was still
/// running at the timeout.
pub fn verdict(exit: Option<std::process::ExitStatus>) -> Verdict {
    // A process ended by a signal has no exit code: HAProxy's -1, shown here as 255 (the
    // status of a command that could not be started, too).
    let (ok, reason, code) = match exit.map(|st| st.code().map_or(255, |c| c as u16)) {
        None => (false, "External check timeout", 0),
        Some(0) => (true, "External check passed", 0),
        Some(c) => (false, "External check error", c),
    };
    Verdict {
        ok,
        reason,
        code: Some(code),
        info: None,
    }
}

/// Runs the check once: the command off the shard, its result within `timeout`.
pub async fn run(cmd: &ExternalCmd, now: Now, timeout: Duration) -> Verdict {
    // A thread that dies unanswered counts as the command failing to run.
    let (reply, answer) = crate::cluster::oneshot::channel(verdict(Some(exit_status(255))));
    let mut c = Command::new(&cmd.command);
    c.args(cmd.args(&now))
        .env_clear()
        .envs(cmd.env(&now))
        .stdin(Stdio::null());
    let deadline = Instant::now() + timeout;
    let spawned = std::thread::Builder::new()
        .name("external-check".into())
        .spawn(move || reply.send(wait(c, deadline)));
    if let Err(e) = spawned {
        log::warn!("external check of {}: no thread: {e}", cmd.server_name);
        return verdict(Some(exit_status(255)));
    }
    answer.await
}

/// On the check's thread: starts the command, waits for it until `deadline`, then sends it
/// SIGTERM (SIGKILL a second later if it is still there) and reaps it.
fn wait(mut c: Command, deadline: Instant) -> Verdict {
    let mut child: Child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            // HAProxy's child exits with -1 (255) when exec fails.
            log::warn!("external check: cannot run {:?}: {e}", c.get_program());
            return verdict(Some(exit_status(255)));
        }
    };
    // Polls with a backoff: a check's command is a few milliseconds of work.
    let mut pause = Duration::from_millis(1);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return verdict(Some(st));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    let v = verdict(None);
    let _ = crate::sys::kill(child.id() as i32, libc::SIGTERM);
    let grace = Instant::now() + Duration::from_secs(1);
    // Reaped here, not by the shard: the verdict is already decided. (The thread keeps the
    // answer until the process is gone, which the caller does not wait for.)
    std::thread::spawn(move || {
        while Instant::now() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    });
    v
}

fn exit_status(code: i32) -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(code << 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(command: &str) -> ExternalCmd {
        ExternalCmd {
            command: command.into(),
            path: "/usr/bin:/bin".into(),
            proxy_addr: "NOT_USED".into(),
            proxy_port: "NOT_USED".into(),
            proxy_name: "b".into(),
            proxy_id: 2,
            server_name: "s".into(),
            server_id: 1,
            proto: "h1",
            ssl: false,
        }
    }

    fn now() -> Now {
        Now {
            addr: "127.0.0.1".parse().unwrap(),
            port: 80,
            maxconn: 0,
            curconn: 0,
        }
    }

    #[test]
    fn exit_status_timeout_and_a_missing_command_are_haproxys_statuses() {
        let run = |c: &str, t: u64| {
            futures_lite::future::block_on(run(&cmd(c), now(), Duration::from_millis(t)))
        };
        let ok = run("true", 5000);
        assert_eq!(
            (ok.ok, ok.reason, ok.code),
            (true, "External check passed", Some(0))
        );
        let bad = run("false", 5000);
        assert_eq!(
            (bad.ok, bad.reason, bad.code),
            (false, "External check error", Some(1))
        );
        let script = std::env::temp_dir().join(format!("corelb-extchk-{}", std::process::id()));
        std::fs::write(&script, "#!/bin/sh\nexec /bin/sleep 5\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let t0 = Instant::now();
        let slow = run(script.to_str().unwrap(), 200);
        let _ = std::fs::remove_file(&script);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert_eq!(
            (slow.ok, slow.reason, slow.code),
            (false, "External check timeout", Some(0))
        );
        let none = run("/nonexistent/check", 5000);
        assert_eq!((none.ok, none.code), (false, Some(255)));
        assert_eq!(bad.describe(), "reason: External check error, code: 1");
    }

    #[test]
    fn arguments_and_environment_are_haproxys() {
        let c = cmd("x");
        assert_eq!(c.args(&now()), ["NOT_USED", "NOT_USED", "127.0.0.1", "80"]);
        let env = c.env(&now());
        assert!(env.contains(&("HAPROXY_PROXY_ADDR", String::new())));
        assert!(env.contains(&("HAPROXY_SERVER_PORT", "80".into())));
        assert!(env.contains(&("PATH", "/usr/bin:/bin".into())));
    }
}
