//! The global keywords of the runtime API: `stats socket|timeout|maxconn`, and the server
//! state file (`server-state-file`, `server-state-base`, `load-server-state-from-file`).
//! Pure parsing: whether a user, group or directory exists is checked by `validate`, as
//! for `user`/`group`/`chroot`.

use super::Loc;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What a socket's clients may do (`level`), in increasing order of power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CliLevel {
    /// Read-only commands that show no sensitive data.
    User,
    /// Also `show errors`, `show sess`, `clear counters`, a table's entries. HAProxy 2.6's
    /// default level for a `stats socket` without `level` (its `show cli level` says so).
    #[default]
    Operator,
    /// Every command: changes to servers, frontends, certificates, `clear counters all`.
    Admin,
}

/// `severity-output`: how a session's messages (not its data) carry their syslog severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CliSeverity {
    #[default]
    None,
    /// `[3]: …`
    Number,
    /// `[err]: …`
    String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
    /// `fd@N`: a socket inherited from the parent (unix or TCP).
    Fd(i32),
}

/// One `stats socket` line.
#[derive(Clone, Debug)]
pub struct StatsSocket {
    pub addr: CliAddr,
    /// File mode of a unix socket (`mode 660`, octal).
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub level: CliLevel,
    /// `expose-fd listeners`: `_getsocks` hands the listening sockets to a new process (`-x`).
    pub expose_fd: bool,
    /// `severity-output`: the sessions' prefix until `set severity-output` changes it.
    pub severity: CliSeverity,
    pub loc: Loc,
}

/// `load-server-state-from-file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LoadState {
    /// The global `server-state-file`.
    Global,
    /// The backend's own file (`server-state-file-name`, else the backend's name) under
    /// `server-state-base`.
    Local,
    #[default]
    None,
}

/// The runtime API's global settings.
#[derive(Clone, Debug, Default)]
pub struct CliGlobal {
    pub sockets: Vec<StatsSocket>,
    /// `stats timeout`: how long a client may stay idle (HAProxy's default is 10 s).
    pub timeout: Option<Duration>,
    /// `stats maxconn`: clients served at once (HAProxy's default is 10).
    pub maxconn: Option<u32>,
    pub state_file: Option<PathBuf>,
    pub state_base: Option<PathBuf>,
    /// The global `description`, for `show info`.
    pub description: Option<String>,
}

impl CliGlobal {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(10))
    }

    pub fn maxconn(&self) -> u32 {
        self.maxconn.unwrap_or(10)
    }
}

/// Applies a global `stats …` line (the words after `stats`).
pub fn global_stats(g: &mut CliGlobal, args: &[&str], loc: &Loc) -> Result<(), String> {
    match args.first().copied() {
        Some("socket") => g.sockets.push(parse_socket(&args[1..], loc)?),
        Some("timeout") => {
            let v = args.get(1).ok_or("'stats timeout' expects a delay")?;
            let t = super::units::parse_time(v, Duration::from_millis(1))
                .map_err(|e| format!("'stats timeout': {e}"))?;
            if t.is_zero() {
                return Err("'stats timeout' expects a non-zero delay".into());
            }
            g.timeout = Some(t);
        }
        Some("maxconn") => {
            let v = args.get(1).ok_or("'stats maxconn' expects a number")?;
            g.maxconn =
                Some(v.parse().ok().filter(|n: &u32| *n > 0).ok_or_else(|| {
                    format!("'stats maxconn' expects a positive number, not '{v}'")
                })?);
        }
        Some(kw) => {
            return Err(format!(
                "unknown 'stats {kw}' in the 'global' section (socket, timeout or maxconn; the stats page's keywords go in a proxy section)"
            ));
        }
        None => return Err("'stats' expects socket, timeout or maxconn".into()),
    }
    Ok(())
}

/// Parses the words after `stats socket`.
pub fn parse_socket(args: &[&str], loc: &Loc) -> Result<StatsSocket, String> {
    let Some(&addr) = args.first() else {
        return Err("'stats socket' expects a path or an address".into());
    };
    let addr = if let Some(n) = super::addr::parse_fd(addr) {
        CliAddr::Fd(n?)
    } else if let Some(p) = addr.strip_prefix("unix@") {
        CliAddr::Unix(PathBuf::from(p))
    } else if addr.starts_with('/') || addr.starts_with('.') {
        CliAddr::Unix(PathBuf::from(addr))
    } else {
        CliAddr::Tcp(tcp_addr(addr)?)
    };
    let mut s = StatsSocket {
        addr,
        mode: None,
        user: None,
        group: None,
        uid: None,
        gid: None,
        level: CliLevel::default(),
        expose_fd: false,
        severity: CliSeverity::None,
        loc: loc.clone(),
    };
    let mut i = 1;
    while i < args.len() {
        let kw = args[i];
        let val = args.get(i + 1).copied();
        let need = |what: &str| val.ok_or_else(|| format!("'{kw}' expects {what}"));
        match kw {
            "mode" => {
                let v = need("an octal file mode")?;
                s.mode = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("'mode' expects an octal file mode, not '{v}'"))?,
                );
            }
            "user" => s.user = Some(need("a user name")?.to_string()),
            "group" => s.group = Some(need("a group name")?.to_string()),
            "uid" | "gid" => {
                let v = need("a number")?;
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("'{kw}' expects a number, not '{v}'"))?;
                if kw == "uid" {
                    s.uid = Some(n)
                } else {
                    s.gid = Some(n)
                }
            }
            "level" => s.level = parse_level(val)?,
            "expose-fd" => s.expose_fd = parse_expose_fd(val)?,
            "severity-output" => s.severity = parse_severity(val)?,
            _ => {
                return Err(format!(
                    "unknown option '{kw}' on 'stats socket' (mode, user, group, uid, gid, level, expose-fd, severity-output)"
                ));
            }
        }
        i += 2;
    }
    Ok(s)
}

/// `level user|operator|admin`, worded as HAProxy 2.6's errors.
pub fn parse_level(v: Option<&str>) -> Result<CliLevel, String> {
    match v {
        None | Some("") => Err("'level' : missing level".into()),
        Some("user") => Ok(CliLevel::User),
        Some("operator") => Ok(CliLevel::Operator),
        Some("admin") => Ok(CliLevel::Admin),
        Some(v) => Err(format!(
            "'level' only supports 'user', 'operator', and 'admin' (got '{v}')"
        )),
    }
}

/// `severity-output none|number|string`, worded as HAProxy 2.6's errors.
pub fn parse_severity(v: Option<&str>) -> Result<CliSeverity, String> {
    match v {
        None | Some("") => Err("'severity-output' : missing severity format".into()),
        Some(v) => CliSeverity::from_word(v).ok_or_else(|| {
            format!("'severity-output' only supports 'none', 'number', and 'string' (got '{v}')")
        }),
    }
}

impl CliSeverity {
    /// The word of `severity-output` and `set severity-output` (HAProxy compares it exactly).
    pub fn from_word(v: &str) -> Option<CliSeverity> {
        match v {
            "none" => Some(CliSeverity::None),
            "number" => Some(CliSeverity::Number),
            "string" => Some(CliSeverity::String),
            _ => None,
        }
    }
}

/// `expose-fd listeners` (the only thing HAProxy 2.6 exposes).
pub fn parse_expose_fd(v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("") => Err("'expose-fd' : missing fd type".into()),
        Some("listeners") => Ok(true),
        Some(v) => Err(format!("'expose-fd' only supports 'listeners' (got '{v}')")),
    }
}

/// What only this machine can tell: the socket's directory, its user and group. Worded as
/// the checks of `user`, `group` and `chroot` (machine-specific, so `-c` elsewhere reports
/// only these).
pub fn check_socket(s: &StatsSocket, d: &mut super::Diags) {
    if let CliAddr::Unix(p) = &s.addr {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            d.error(
                &s.loc,
                format!("stats socket directory '{}' does not exist", dir.display()),
            );
        }
    }
    if let Some(u) = &s.user
        && crate::sys::user_id(u).is_none()
    {
        d.error(&s.loc, format!("cannot find user id for '{u}'"));
    }
    if let Some(g) = &s.group
        && crate::sys::group_id(g).is_none()
    {
        d.error(&s.loc, format!("cannot find group id for '{g}'"));
    }
}

fn tcp_addr(a: &str) -> Result<SocketAddr, String> {
    let spec = super::addr::parse_bind(a)?;
    if spec.ports.start() != spec.ports.end() {
        return Err(format!(
            "'stats socket' expects one port, not a range in '{a}'"
        ));
    }
    Ok(SocketAddr::new(spec.ip, *spec.ports.start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Loc {
        Loc {
            file: "t".into(),
            line: 1,
        }
    }

    #[test]
    fn seed_lines_parse() {
        let s = parse_socket(
            &[
                "/run/haproxy/admin.sock",
                "mode",
                "660",
                "level",
                "admin",
                "expose-fd",
                "listeners",
            ],
            &loc(),
        )
        .unwrap();
        assert_eq!(s.addr, CliAddr::Unix("/run/haproxy/admin.sock".into()));
        assert_eq!(
            (s.mode, s.level, s.expose_fd),
            (Some(0o660), CliLevel::Admin, true)
        );
        let s = parse_socket(&["ipv4@127.0.0.1:9999", "level", "user"], &loc()).unwrap();
        assert_eq!(s.addr, CliAddr::Tcp("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(s.level, CliLevel::User);
        assert!(parse_socket(&["/x", "level", "root"], &loc()).is_err());
        // No `level`: operator, as HAProxy 2.6.
        assert_eq!(
            parse_socket(&["/x"], &loc()).unwrap().level,
            CliLevel::Operator
        );
        assert!(parse_socket(&["/x", "mode", "999"], &loc()).is_err());
        assert!(parse_socket(&["/x", "bogus", "1"], &loc()).is_err());
        assert!(parse_socket(&["/x", "mode"], &loc()).is_err());
    }
}
