//! Helpers for integration tests: start the real `corelb` binary on free loopback ports,
//! simple backends in threads, and clean-up that runs even when a test fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod haproxy;

pub fn corelb_bin() -> &'static str {
    env!("CARGO_BIN_EXE_corelb")
}

/// A port that was free a moment ago on 127.0.0.1, for a proxy to bind.
///
/// Taken below the kernel's ephemeral range (32768–60999 on these machines), never twice by
/// one test process: an ephemeral port, released here, could be given to another test's
/// socket bound to port 0 (a backend, a client) before the proxy binds it, and the proxy's
/// client would then talk to that socket instead (seen with HAProxy in a differential test).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 32_768 - FIRST;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Test binaries run one after another; each starts at its own place in the span so that
    // a port the previous one used (perhaps in TIME_WAIT) is not the first one tried.
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "free_port: every port of the span was handed out");
        let port = (FIRST + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Sends a signal (no-op if the process is gone).
pub fn signal_pid(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes plain integers.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Whether a TCP socket listens on `port`, read from /proc/net/tcp{,6}.
pub fn listening(port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
            })
    })
}

/// A TCP socket bound to a free port of 127.0.0.1, not listening yet (for tests that set
/// options first).
pub fn bound_socket() -> socket2::Socket {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    sock.bind(&addr.into()).unwrap();
    sock
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "corelb-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `corelb -c -f FILE`: (exit code, stdout, stderr).
pub fn check_config(path: &Path) -> (i32, String, String) {
    let out = Command::new(corelb_bin())
        .arg("-c")
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `corelb -c` on `text` (written as `c.cfg` in `dir`): the exit code must be `code` and
/// the messages (stdout and stderr) must hold `needle`.
pub fn expect_check(dir: &TempDir, text: &str, code: i32, needle: &str) {
    let (got, out, err) = check_config(&dir.write("c.cfg", text));
    let all = format!("{out}{err}");
    assert_eq!(got, code, "{text}\n{all}");
    assert!(all.contains(needle), "{text}\nwanted {needle:?} in:\n{all}");
}

/// A running corelb; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Corelb {
    pub child: Option<Child>,
    pub dir: TempDir,
    pub stderr: PathBuf,
}

impl Corelb {
    /// Starts corelb on `cfg` and waits until every port in `ports` accepts connections.
    pub fn start(cfg: &str, args: &[&str], ports: &[u16]) -> Corelb {
        let c = Corelb::spawn(cfg, args);
        for &p in ports {
            c.wait_port(p);
        }
        c
    }

    /// Starts corelb on an existing file (an example) with environment variables, and
    /// waits for `ports`.
    pub fn start_file(path: &Path, env: &[(&str, String)], args: &[&str], ports: &[u16]) -> Corelb {
        let dir = TempDir::new("corelb");
        let stderr = dir.path("stderr.log");
        let child = Command::new(corelb_bin())
            .arg("-f")
            .arg(path)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start corelb");
        let c = Corelb {
            child: Some(child),
            dir,
            stderr,
        };
        for &p in ports {
            c.wait_port(p);
        }
        c
    }

    /// Starts corelb without waiting for anything.
    pub fn spawn(cfg: &str, args: &[&str]) -> Corelb {
        Corelb::spawn_stdio(cfg, args, Stdio::null(), None)
    }

    /// Same, with stdout connected to `stdout`, and stderr to `stderr` (None: the file that
    /// [`log`](Corelb::log) reads).
    pub fn spawn_stdio(cfg: &str, args: &[&str], stdout: Stdio, stderr: Option<Stdio>) -> Corelb {
        let dir = TempDir::new("corelb");
        let cfg_path = dir.write("corelb.cfg", cfg);
        let stderr_path = dir.path("stderr.log");
        let stderr = stderr.unwrap_or_else(|| std::fs::File::create(&stderr_path).unwrap().into());
        let child = Command::new(corelb_bin())
            .arg("-f")
            .arg(&cfg_path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start corelb");
        Corelb {
            child: Some(child),
            dir,
            stderr: stderr_path,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Waits until something listens on `port`, without connecting (a probe connection
    /// would be proxied and count in balancing and maxconn).
    pub fn wait_port(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if listening(port) {
                return;
            }
            if let Some(status) = self.try_exit() {
                panic!(
                    "corelb exited ({status:?}) before listening:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("corelb not listening on {port} after 10 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The log once `ready` holds of it, or as it is after 5 s. A request's log line is
    /// written after its answer is sent, so a client can hold the answer before the line
    /// is in the file.
    pub fn log_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if ready(&log) || Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_exit(&self) -> Option<std::process::ExitStatus> {
        // Safe to call through a shared reference: try_wait needs &mut, so poll /proc.
        let pid = self.pid();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let state = stat.rsplit(')').next()?.split_whitespace().next()?;
        if state == "Z" {
            Some(std::process::ExitStatus::default())
        } else {
            None
        }
    }

    pub fn signal(&self, sig: &str) {
        let n = match sig {
            "TERM" => libc::SIGTERM,
            "INT" => libc::SIGINT,
            "USR1" => libc::SIGUSR1,
            "USR2" => libc::SIGUSR2,
            "HUP" => libc::SIGHUP,
            "KILL" => libc::SIGKILL,
            other => panic!("signal {other}"),
        };
        signal_pid(self.pid(), n);
    }

    /// Waits for exit; returns the exit code (None on timeout).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        while Instant::now() < deadline {
            if let Some(st) = child.try_wait().unwrap() {
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// CPU time (user+system) of the process so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }
}

impl Drop for Corelb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            signal_pid(child.id() as i32, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A thread-per-connection test backend; stops accepting when dropped.
pub struct Backend {
    pub port: u16,
    stop: Arc<AtomicBool>,
    pub accepted: Arc<AtomicUsize>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    /// Runs `serve` for every connection on its own thread.
    pub fn start<F>(serve: F) -> Backend
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        Backend::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), serve)
    }

    pub fn start_on<F>(l: TcpListener, serve: F) -> Backend
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let serve = Arc::new(serve);
        let (s2, a2) = (stop.clone(), accepted.clone());
        let handle = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        a2.fetch_add(1, Ordering::Relaxed);
                        let serve = serve.clone();
                        std::thread::spawn(move || serve(s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend {
            port,
            stop,
            accepted,
            handle: Some(handle),
        }
    }

    /// Echoes everything back until EOF, then closes.
    pub fn echo() -> Backend {
        Backend::start(|mut s| {
            let mut buf = [0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        })
    }

    /// Writes its name and a newline, then closes.
    pub fn named(name: &'static str) -> Backend {
        Backend::start(move |mut s| {
            let _ = s.write_all(format!("{name}\n").as_bytes());
            let _ = s.shutdown(Shutdown::Write);
            let mut b = [0u8; 16];
            let _ = s.read(&mut b);
        })
    }

    /// Writes its name, then holds the connection open until the client closes it.
    pub fn named_holding(name: &'static str) -> Backend {
        Backend::start(move |mut s| {
            let _ = s.write_all(format!("{name}\n").as_bytes());
            let mut b = [0u8; 16];
            while let Ok(n) = s.read(&mut b) {
                if n == 0 {
                    break;
                }
            }
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The next line `s` receives within `within`, or "" (closed or nothing yet).
pub fn read_line_within(s: &TcpStream, within: Duration) -> String {
    s.set_read_timeout(Some(within)).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line
}

/// Connects to `port` and returns the first line the backend sent (its name).
pub fn fetch_name(port: u16) -> String {
    fetch_name_from(port, None)
}

/// Same, from a given local address (e.g. 127.0.0.5) to vary the client IP.
pub fn fetch_name_from(port: u16, local: Option<&str>) -> String {
    let s = match local {
        None => TcpStream::connect(("127.0.0.1", port)).unwrap(),
        Some(ip) => connect_from(ip, ("127.0.0.1", port)).unwrap(),
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// Connects from `local_ip` (any 127.0.0.0/8 address works on loopback).
pub fn connect_from(local_ip: &str, to: (&str, u16)) -> std::io::Result<TcpStream> {
    let local: SocketAddr = format!("{local_ip}:0").parse().unwrap();
    let remote: SocketAddr = format!("{}:{}", to.0, to.1).parse().unwrap();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&local.into())?;
    s.connect(&remote.into())?;
    Ok(s.into())
}

/// Counts of backend names over `n` sequential connections.
pub fn distribution(port: u16, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for _ in 0..n {
        *m.entry(fetch_name(port)).or_insert(0) += 1;
    }
    m
}

/// Shared record of lines received by a backend (for tests that look at what arrived).
pub type Seen = Arc<Mutex<Vec<String>>>;

/// The i-th 8-byte word of a deterministic pseudo-random stream (splitmix64).
pub fn word(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Fills `buf` with the stream starting at byte `offset` (a multiple of 8).
pub fn fill(buf: &mut [u8], offset: u64) {
    for (k, chunk) in buf.chunks_mut(8).enumerate() {
        let w = word(offset / 8 + k as u64).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
}

/// An order-sensitive checksum fed with arbitrary pieces (64-bit FNV-1a over 8-byte words
/// would need alignment; this folds bytes, fast enough in release builds).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sum {
    pub h: u64,
    pub n: u64,
}
impl Sum {
    pub fn add(&mut self, b: &[u8]) {
        let mut h = self.h;
        for &x in b {
            h = (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.h = h;
        self.n += b.len() as u64;
    }
}

/// Writes `bytes` of the stream to `w`.
pub fn send_stream(w: &mut impl Write, bytes: u64) -> std::io::Result<Sum> {
    let mut buf = vec![0u8; 1 << 20];
    let mut sum = Sum::default();
    let mut off = 0;
    while off < bytes {
        let n = buf.len().min((bytes - off) as usize);
        fill(&mut buf[..n], off);
        sum.add(&buf[..n]);
        w.write_all(&buf[..n])?;
        off += n as u64;
    }
    Ok(sum)
}

/// Reads to EOF, returning the checksum.
pub fn recv_stream(r: &mut impl Read) -> std::io::Result<Sum> {
    let mut buf = vec![0u8; 1 << 20];
    let mut sum = Sum::default();
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(sum);
        }
        sum.add(&buf[..n]);
    }
}

/// A minimal tcp-mode configuration: one listen section on `port` over `servers`.
pub fn listen_cfg(port: u16, extra: &str, servers: &[(&str, u16, &str)]) -> String {
    let mut s = format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\nlisten l\n  bind 127.0.0.1:{port}\n{extra}\n"
    );
    for (name, p, params) in servers {
        s.push_str(&format!("  server {name} 127.0.0.1:{p} {params}\n"));
    }
    s
}

/// A client hammering `port` with short connections until stopped; counts failures.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `threads` clients, each making up to 20,000 short connections (read to EOF) until
    /// stopped, `pause` apart.
    pub fn start(port: u16, threads: usize) -> Load {
        Load::start_paced(port, threads, Duration::ZERO)
    }

    pub fn start_paced(port: u16, threads: usize, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|_| {
                let (stop, ok, failed, seen) =
                    (stop.clone(), ok.clone(), failed.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && n < 20_000 {
                        n += 1;
                        let r = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
                            s.set_read_timeout(Some(Duration::from_secs(5)))?;
                            let mut name = String::new();
                            s.read_to_string(&mut name)?;
                            Ok(name)
                        });
                        match r {
                            Ok(name) if !name.is_empty() => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                seen.lock().unwrap().push(name.trim().to_string());
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if !pause.is_zero() {
                            std::thread::sleep(pause);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            seen,
            threads,
        }
    }

    /// Stops the clients: (ok, failed, names seen in order).
    pub fn finish(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let seen = self.seen.lock().unwrap().clone();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            seen,
        )
    }
}

/// `corelb-bench serve` (built beside corelb by `cargo test --workspace`), on a free port.
pub struct Serve {
    pub port: u16,
    child: Child,
}

pub fn bench_bin() -> PathBuf {
    let p = Path::new(corelb_bin())
        .parent()
        .unwrap()
        .join("corelb-bench");
    if !p.exists() {
        let profile = if corelb_bin().contains("/release/") {
            "--release"
        } else {
            "--profile=dev"
        };
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "corelb-bench", profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build -p corelb-bench");
        assert!(st.success());
    }
    p
}

impl Serve {
    pub fn start(name: &str, extra: &[&str]) -> Serve {
        let mut child = Command::new(bench_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cpus",
                "1",
                "--name",
                name,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start corelb-bench serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Serve { port, child }
    }
}

impl Serve {
    /// Stops this backend now (its port refuses connections afterwards).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes, then reads everything until the peer closes (or 5 s pass).
pub fn raw_exchange(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A minimal HTTP/1.1 response reader over a kept-alive connection: status, headers, body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (Content-Length or chunked bodies; none for 1xx/204/304 and HEAD).
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> std::io::Result<HttpResponse> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut resp = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status < 200 || status == 204 || status == 304 {
        return Ok(resp);
    }
    if let Some(n) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        resp.body = vec![0u8; n];
        r.read_exact(&mut resp.body)?;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut sz = String::new();
            r.read_line(&mut sz)?;
            let n =
                usize::from_str_radix(sz.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            r.read_exact(&mut chunk)?;
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A self-signed ECDSA certificate for `names` (DNS names or IPs) with its key, in one PEM
/// file `file` of `dir` (what `bind … ssl crt` takes; clients trust the same file).
pub fn self_signed_pem(dir: &TempDir, file: &str, names: &[&str]) -> PathBuf {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = p.self_signed(&key).unwrap();
    dir.write(file, &format!("{}{}", cert.pem(), key.serialize_pem()))
}

/// curl over TLS to 127.0.0.1:`port` as `host`, trusting `ca`: (stdout with
/// "\nSTATUS VERIFY" appended, stderr).
pub fn curl_tls(ca: &Path, host: &str, port: u16, path: &str, extra: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code} %{ssl_verify_result}"])
        .args(extra)
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl (apt-get install curl)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What `prog -c -f path` says about `path`'s lines, as `N: message` (without the prefixes
/// that differ: HAProxy's `[ALERT] … parsing [FILE:N] : `, corelb's `FILE:N: warning: `), and
/// whether it accepted the file; `None` when `prog` cannot run (no haproxy).
pub fn check_messages(prog: &str, path: &Path) -> Option<(bool, Vec<String>)> {
    let o = Command::new(prog)
        .args(["-c", "-f"])
        .arg(path)
        .output()
        .ok()?;
    let all = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    let file = path.file_name()?.to_string_lossy().to_string() + ":";
    let lines = all.lines().filter_map(|l| {
        let (_, r) = l.split_once(file.as_str())?;
        let (n, m) = r.split_once([']', ':'])?;
        let m = m.trim_start_matches(':').trim().trim_start_matches(": ");
        let m = m.trim_start_matches("warning: ").trim();
        (!m.is_empty()).then(|| format!("{n}: {m}"))
    });
    Some((o.status.success(), lines.collect()))
}

/// Sends one line on a stats socket (the runtime API) and reads the reply until the server
/// closes.
pub fn stats_cmd(sock: &Path, line: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(sock)
        .unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Waits until a unix socket accepts connections.
pub fn wait_unix_socket(p: &Path) {
    eventually(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(p).ok()
    })
    .unwrap_or_else(|| panic!("no stats socket at {}", p.display()));
}

/// The retry counts logged for connections or requests served by `backend/server` (the last
/// part of the `act/fe/be/srv/retries` field of `option tcplog` and `option httplog`), in
/// the order of the log, once `lines` lines name it (what there is after 5 s otherwise): lines
/// are written as requests end, so returning at the first one would race with the next.
pub fn logged_retries(lb: &Corelb, backend_server: &str, lines: usize) -> Vec<u32> {
    let needle = format!(" {backend_server} ");
    let read = || -> Vec<u32> {
        lb.log()
            .lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| {
                // The last word of five numbers joined by '/' (the request line comes later
                // in an httplog line, but its words have fewer slashes).
                l.split_whitespace()
                    .rev()
                    .find(|w| {
                        w.split('/').count() == 5 && w.split('/').all(|n| n.parse::<i64>().is_ok())
                    })
                    .and_then(|w| w.rsplit('/').next()?.parse().ok())
            })
            .collect()
    };
    eventually(Duration::from_secs(5), || {
        Some(read()).filter(|r| r.len() >= lines)
    })
    .unwrap_or_else(read)
}

/// Seed 003's stats frontend (the page on /stats, Prometheus on /metrics) beside a
/// frontend `web` and a two-server round-robin backend `app`, two shards.
pub fn stats_config(web: u16, stats: u16, a: u16, b: u16) -> String {
    format!(
        "global
    nbthread 2
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:{web}
    default_backend app
frontend stats
    bind 127.0.0.1:{stats}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 10s
backend app
    balance roundrobin
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}
"
    )
}

/// A CSV row's field `name`, by the header's positions.
pub fn csv_field<'a>(csv: &'a str, sv: &str, name: &str) -> &'a str {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    let row = lines
        .find(|l| l.split(',').nth(1) == Some(sv))
        .unwrap_or_else(|| panic!("no row {sv} in {csv}"));
    row.split(',').nth(i).unwrap()
}

/// TLS servers for passthrough tests: one corelb that terminates TLS for each name on its
/// own port with its own self-signed certificate and answers every request with the name.
pub struct TlsNames {
    pub lb: Corelb,
    /// (name, port, certificate PEM that a client must trust for it).
    pub names: Vec<(String, u16, PathBuf)>,
    /// Holds the certificates; dropped after the server.
    _dir: TempDir,
}

impl TlsNames {
    pub fn start(names: &[&str]) -> TlsNames {
        let dir = TempDir::new("tls-names");
        let mut cfg = String::from(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n",
        );
        let mut out = Vec::new();
        for n in names {
            let port = free_port();
            let pem = self_signed_pem(&dir, &format!("{n}.pem"), &[n]);
            cfg.push_str(&format!(
                "frontend tls_{n}\n  bind 127.0.0.1:{port} ssl crt {}\n  http-request return status 200 content-type text/plain string \"{n}\"\n",
                pem.display()
            ));
            out.push((n.to_string(), port, pem));
        }
        let ports: Vec<u16> = out.iter().map(|(_, p, _)| *p).collect();
        let lb = Corelb::start(&cfg, &[], &ports);
        TlsNames {
            lb,
            names: out,
            _dir: dir,
        }
    }

    pub fn port(&self, name: &str) -> u16 {
        self.names.iter().find(|(n, _, _)| n == name).unwrap().1
    }

    pub fn cert(&self, name: &str) -> &Path {
        &self.names.iter().find(|(n, _, _)| n == name).unwrap().2
    }
}

/// A `defaults` section for mode tcp tests (5 lines).
pub const TCP_DEFAULTS: &str =
    "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";

/// SSL passthrough routed by SNI on `port`: a.example to port `a`, b.example (by the old
/// fetch name) to `b`, anything else to `fallback`. Valid for HAProxy and corelb alike.
pub fn sni_config(port: u16, a: u16, b: u16, fallback: u16) -> String {
    format!(
        "{TCP_DEFAULTS}frontend tls_in\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 5s\n  tcp-request content accept if {{ req.ssl_hello_type 1 }}\n  use_backend be_a if {{ req.ssl_sni -i a.example }}\n  use_backend be_b if {{ req_ssl_sni -i b.example }}\n  default_backend be_default\nbackend be_a\n  server a 127.0.0.1:{a}\nbackend be_b\n  server b 127.0.0.1:{b}\nbackend be_default\n  server d 127.0.0.1:{fallback}\n"
    )
}

/// A request head as a test origin reads it: method, target and the header fields.
pub struct RequestIn {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl RequestIn {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head from a server-side connection; None at EOF or on an error.
pub fn read_request_head(r: &mut impl BufRead) -> Option<RequestIn> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut it = line.split_whitespace();
    let method = it.next().unwrap_or("").to_string();
    let target = it.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Some(RequestIn {
                method,
                target,
                headers,
            });
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// Runs `f` on a thread of its own in a new network namespace whose TCP send buffers are
/// at most `sndbuf_max` bytes (`net.ipv4.tcp_wmem`, per namespace), with its loopback up:
/// the sockets it makes, the threads it spawns (test backends) and the processes it starts
/// (corelb) are all in it, and a socket's send buffer fills after a few KiB instead of the
/// 4 MiB loopback autotuning reaches. None when the namespace cannot be made (not root).
pub fn in_netns_with_small_send_buffers<T: Send + 'static>(
    sndbuf_max: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    std::thread::spawn(move || {
        // The calling thread only: its children and the threads it spawns inherit it.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!("no network namespace: {}", std::io::Error::last_os_error());
            return None;
        }
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(up, "ip link set lo up");
        // /proc/sys/net is the namespace of the thread that opens it.
        std::fs::write(
            "/proc/sys/net/ipv4/tcp_wmem",
            format!("4096 {} {sndbuf_max}", sndbuf_max.min(16384)),
        )
        .expect("tcp_wmem");
        Some(f())
    })
    .join()
    .unwrap()
}

/// A client socket connected to `port` with a small receive buffer (set before connecting,
/// so that the window it advertises stays small).
pub fn small_window_client(port: u16, rcvbuf: usize) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.set_recv_buffer_size(rcvbuf)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&addr.into())?;
    Ok(sock.into())
}
