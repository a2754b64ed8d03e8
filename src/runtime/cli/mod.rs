//! The runtime API (`stats socket`): HAProxy's command-line protocol on unix or TCP
//! sockets, served by plain threads off the shards, so that nothing here touches a
//! shard's request path.
//!
//! One thread per socket accepts; each client gets a thread of its own, at most
//! `stats maxconn` at once over all sockets (a further client waits, accepted but not
//! served, and the ones after it in the kernel's backlog, until one leaves). A client idle for `stats timeout`, reading or writing, is cut off.
//!
//! Protocol (HAProxy's): a line holds commands separated by `;`; each reply ends with an
//! empty line. Without `prompt` the connection closes after the first line; with it the
//! session stays open and prints `> ` before each line. A line ending in `<<` is followed
//! by a payload that ends at an empty line.
//!
//! Commands act on the current generation (`Ctx::current`, swapped by the main thread at
//! each reload) through its shared atomics; what only the main thread owns (the listening
//! sockets) is asked of it through [`MainReq`].

pub mod cache;
pub mod certs;
pub mod commands;
pub mod events;
pub mod getsocks;
pub mod info;
pub mod maps;
pub mod sess;
pub mod state_file;
pub mod table;

use crate::cluster::Shared;
use crate::config::cli::{CliAddr, CliGlobal, CliLevel, CliSeverity, StatsSocket};
use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the CLI asks of the main thread.
pub enum MainReq {
    /// `disable|enable frontend`: pause or resume the frontend's listening sockets.
    Frontend { proxy: usize, enable: bool },
    /// `_getsocks`: copies of every listening socket, for a process that takes over.
    GetSocks,
}

/// The main thread's answer: descriptors for `GetSocks`, none otherwise.
pub type MainReply = Result<Vec<std::os::fd::OwnedFd>, String>;

/// A request to the main thread with the channel its answer comes back on.
pub type MainMsg = (MainReq, mpsc::Sender<MainReply>);

/// What every CLI session shares.
pub struct Ctx {
    /// The generation that takes new connections.
    pub current: arc_swap::ArcSwapOption<Shared>,
    pub started_at: Instant,
    pub started_unix: u64,
    pub nofile: u64,
    main: Mutex<mpsc::Sender<MainMsg>>,
    pub txn: Mutex<Option<certs::CertTxn>>,
}

/// The main thread's end of [`MainReq`]s: poll it and answer each.
pub type MainRx = mpsc::Receiver<MainMsg>;

impl Ctx {
    pub fn new(nofile: u64) -> (Arc<Ctx>, MainRx) {
        let (tx, rx) = mpsc::channel();
        let ctx = Ctx {
            current: arc_swap::ArcSwapOption::empty(),
            started_at: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            nofile,
            main: Mutex::new(tx),
            txn: Mutex::new(None),
        };
        (Arc::new(ctx), rx)
    }

    /// Sends a request to the main thread and waits for its answer.
    pub fn ask_main(&self, req: MainReq) -> MainReply {
        let (tx, rx) = mpsc::channel();
        self.main
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((req, tx))
            .map_err(|_| "The process is stopping.".to_string())?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| "The process did not answer.".to_string())?
    }
}

/// Clients served at once, over every socket.
struct Limit {
    cur: Mutex<u32>,
    freed: Condvar,
    max: u32,
}

impl Limit {
    fn take(self: &Arc<Self>) -> Permit {
        let mut cur = self.cur.lock().unwrap_or_else(|e| e.into_inner());
        while *cur >= self.max {
            cur = self.freed.wait(cur).unwrap_or_else(|e| e.into_inner());
        }
        *cur += 1;
        Permit(self.clone())
    }
}

/// A client slot, given back when the session ends however it ends.
struct Permit(Arc<Limit>);
impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.cur.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

/// A bound stats socket, not yet served.
pub enum Bound {
    Unix(std::os::unix::net::UnixListener, StatsSocket),
    Tcp(std::net::TcpListener, StatsSocket),
}

/// Binds every `stats socket` (before privileges are dropped). A unix socket is bound
/// beside its path and renamed over it, so a process that replaces another (reload with
/// `-sf`, upgrade with `-x`) takes the path over without a moment where it is missing.
pub fn bind_all(cfg: &CliGlobal) -> Result<Vec<Bound>, String> {
    let mut out = Vec::new();
    for s in &cfg.sockets {
        let err = |e: std::io::Error| format!("{}: cannot bind the stats socket: {e}", s.loc);
        match &s.addr {
            CliAddr::Unix(path) => {
                let perms = crate::config::addr::UnixPerms {
                    mode: s.mode,
                    uid: s.uid,
                    gid: s.gid,
                    user: s.user.clone(),
                    group: s.group.clone(),
                };
                let path = crate::config::addr::SockPath::Unix(path.clone());
                let l = super::listeners::bind_path(&path, &perms, 128).map_err(err)?;
                // These threads accept with blocking calls.
                l.set_nonblocking(false).map_err(err)?;
                let fd = std::os::fd::OwnedFd::from(l);
                out.push(Bound::Unix(fd.into(), s.clone()));
            }
            CliAddr::Fd(n) => {
                let l = super::listeners::inherited_fd(*n, 128).map_err(err)?;
                l.set_nonblocking(false).map_err(err)?;
                let unix = l.local_addr().is_ok_and(|a| a.as_socket().is_none());
                let fd = std::os::fd::OwnedFd::from(l);
                out.push(if unix {
                    Bound::Unix(fd.into(), s.clone())
                } else {
                    Bound::Tcp(fd.into(), s.clone())
                });
            }
            CliAddr::Tcp(a) => {
                let l = std::net::TcpListener::bind(a).map_err(err)?;
                out.push(Bound::Tcp(l, s.clone()));
            }
        }
    }
    Ok(out)
}

/// Serves the bound sockets on their own threads, for the life of the process.
pub fn serve(ctx: Arc<Ctx>, bound: Vec<Bound>, cfg: &CliGlobal) {
    let limit = Arc::new(Limit {
        cur: Mutex::new(0),
        freed: Condvar::new(),
        max: cfg.maxconn(),
    });
    let timeout = cfg.timeout();
    for b in bound {
        let (ctx, limit) = (ctx.clone(), limit.clone());
        let spawned =
            std::thread::Builder::new()
                .name("corelb-cli".into())
                .spawn(move || match b {
                    Bound::Unix(l, s) => loop {
                        match l.accept() {
                            // Past the limit the accepted client waits for a slot, and
                            // the next ones wait in the backlog.
                            Ok((c, _)) => start_session(&ctx, c, &s, timeout, limit.take()),
                            Err(e) => pause_after(&e),
                        }
                    },
                    Bound::Tcp(l, s) => loop {
                        match l.accept() {
                            // Past the limit the accepted client waits for a slot, and
                            // the next ones wait in the backlog.
                            Ok((c, _)) => start_session(&ctx, c, &s, timeout, limit.take()),
                            Err(e) => pause_after(&e),
                        }
                    },
                });
        if let Err(e) = spawned {
            log::error!("cannot start the stats socket thread: {e}");
        }
    }
}

fn pause_after(e: &std::io::Error) {
    log::warn!("stats socket: accept: {e}");
    std::thread::sleep(Duration::from_millis(100));
}

trait Stream: std::io::Read + Write + Send + 'static {
    fn timeouts(&self, t: Duration) -> std::io::Result<()>;
    fn split(&self) -> std::io::Result<Box<dyn std::io::Read + Send>>;
    /// The unix socket, which alone can pass descriptors (`_getsocks`).
    fn unix(&mut self) -> Option<&mut std::os::unix::net::UnixStream> {
        None
    }
}

impl Stream for std::os::unix::net::UnixStream {
    fn timeouts(&self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
    fn split(&self) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn unix(&mut self) -> Option<&mut std::os::unix::net::UnixStream> {
        Some(self)
    }
}

impl Stream for std::net::TcpStream {
    fn timeouts(&self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
    fn split(&self) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
}

fn start_session<S: Stream>(
    ctx: &Arc<Ctx>,
    conn: S,
    sock: &StatsSocket,
    timeout: Duration,
    permit: Permit,
) {
    let ctx = ctx.clone();
    let (level, expose_fd, severity) = (sock.level, sock.expose_fd, sock.severity);
    let spawned = std::thread::Builder::new()
        .name("corelb-cli-session".into())
        .spawn(move || {
            let _permit = permit;
            if let Err(e) = session(&ctx, conn, level, severity, expose_fd, timeout) {
                log::debug!("stats socket session ended: {e}");
            }
        });
    if let Err(e) = spawned {
        log::warn!("stats socket: cannot start a session thread: {e}");
    }
}

/// One client, until it quits, goes idle for `timeout`, or (without `prompt`) after its
/// first line.
fn session<S: Stream>(
    ctx: &Ctx,
    mut conn: S,
    mut level: CliLevel,
    mut severity: CliSeverity,
    expose_fd: bool,
    timeout: Duration,
) -> std::io::Result<()> {
    conn.timeouts(timeout)?;
    let mut rd = BufReader::new(conn.split()?);
    let mut interactive = false;
    loop {
        let Some(line) = read_line(&mut rd)? else {
            return Ok(());
        };
        if line.trim() == "_getsocks" {
            // A new process (`-x`) takes the listening sockets over. As in HAProxy 2.6,
            // `expose-fd listeners` alone decides (not the level), and a socket without it
            // answers nothing: the session ends.
            if !expose_fd {
                log::warn!("runtime API: _getsocks on a socket without 'expose-fd listeners'");
                return Ok(());
            }
            return match (ctx.ask_main(MainReq::GetSocks), conn.unix()) {
                (Ok(fds), Some(u)) => {
                    log::info!(
                        "runtime API: {} listening socket(s) handed to a new process",
                        fds.len()
                    );
                    getsocks::send(u, &fds)
                }
                // Descriptors pass only over a unix socket.
                (Ok(_), None) => Ok(()),
                (Err(e), _) => conn.write_all(format!("{e}\n\n").as_bytes()),
            };
        }
        let mut out = String::new();
        let mut quit = false;
        for cmd in split_commands(&line) {
            // `<<` at the end: the payload follows, up to an empty line.
            let (cmd, payload) = match cmd.trim_end().strip_suffix("<<") {
                Some(c) => {
                    let mut p = String::new();
                    while let Some(l) = read_line(&mut rd)? {
                        if l.is_empty() {
                            break;
                        }
                        p.push_str(&l);
                        p.push('\n');
                    }
                    (c.to_string(), Some(p))
                }
                None => (cmd, None),
            };
            // `show events RING -w`: the ring's lines as they come, until the client sends
            // anything; then the session ends.
            let words: Vec<&str> = cmd.split_whitespace().collect();
            if let ["show", "events", args @ ..] = &words[..] {
                let a = events::parse(args);
                if a.wait
                    && let Some(r) = a.sink.and_then(crate::log::ring::get)
                {
                    conn.write_all(out.as_bytes())?;
                    let key = conn.split()?;
                    events::follow(&r, a.new, &mut conn, key);
                    return Ok(());
                }
            }
            let r = commands::run(ctx, &mut level, &mut severity, &cmd, payload.as_deref());
            out.push_str(&r.rendered(severity));
            match r.then {
                commands::Then::Continue => out.push('\n'),
                commands::Then::Bare => {}
                commands::Then::TogglePrompt => {
                    interactive = !interactive;
                    out.push('\n');
                }
                commands::Then::Quit => {
                    quit = true;
                    break;
                }
            }
        }
        if interactive && !quit {
            out.push_str("> ");
        }
        conn.write_all(out.as_bytes())?;
        conn.flush()?;
        if quit || !interactive {
            return Ok(());
        }
    }
}

/// A line without its end (`\n` or `\r\n`); None at the end of the stream. Lines are
/// bounded: a client cannot make the process buffer without limit.
fn read_line(rd: &mut impl BufRead) -> std::io::Result<Option<String>> {
    const MAX: u64 = 1 << 20;
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *rd, MAX).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Splits a line on `;` (HAProxy's separator; `\;` keeps a literal one).
pub fn split_commands(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                out.last_mut().unwrap().push(';');
                chars.next();
            }
            ';' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.retain(|c| !c.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_on_semicolons() {
        assert_eq!(
            split_commands("show info; show version;;help"),
            vec!["show info", " show version", "help"]
        );
        assert_eq!(split_commands(r"set x a\;b"), vec!["set x a;b"]);
        assert!(split_commands("  ").is_empty());
    }
}
