//! Debian's `haproxy` run on a configuration, for differential tests.

use super::*;
use std::process::{Child, Command, Stdio};

/// A running `haproxy -db` on a config; killed when dropped.
pub struct Haproxy {
    child: Child,
    _dir: TempDir,
    log: std::path::PathBuf,
}

impl Haproxy {
    pub fn start(cfg: &str, ports: &[u16]) -> Option<Haproxy> {
        if Command::new("haproxy").arg("-v").output().is_err() {
            eprintln!("SKIP: haproxy is not installed (apt-get install haproxy)");
            return None;
        }
        let dir = TempDir::new("haproxy");
        let path = dir.write("haproxy.cfg", cfg);
        let log = dir.path("stderr.log");
        let mut child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start haproxy");
        for &p in ports {
            let up = eventually(Duration::from_secs(10), || listening(p).then_some(()));
            assert!(
                up.is_some(),
                "haproxy did not listen on {p}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        // Another process listening on a port it could not bind would pass the wait above.
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "haproxy exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Some(Haproxy {
            child,
            _dir: dir,
            log,
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id (to send it signals).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What starts a proxy on a configuration and its ports: `None` when it cannot run here.
pub type Start = dyn Fn(&str, &[u16]) -> Option<Box<dyn std::any::Any>>;

/// corelb and Debian's HAProxy, to run one scenario through both (the running proxy is
/// dropped to stop it).
pub fn proxies() -> Vec<(&'static str, Box<Start>)> {
    vec![
        (
            "corelb",
            Box::new(|cfg: &str, ports: &[u16]| {
                Some(Box::new(Corelb::start(cfg, &[], ports)) as Box<dyn std::any::Any>)
            }),
        ),
        (
            "haproxy",
            Box::new(|cfg: &str, ports: &[u16]| {
                Haproxy::start(cfg, ports).map(|h| Box::new(h) as Box<dyn std::any::Any>)
            }),
        ),
    ]
}
