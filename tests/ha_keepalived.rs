//! A keepalived pair of balancers in network namespaces, rendered from scripts/ha/, and what
//! a client sees when corelb on the master stops.
//!
//! Five namespaces, all addresses inside 10.77.0.0/24, nothing on the host's own network:
//!
//! ```text
//!   sw:  bridge br0 ─┬── a  (10.77.0.11)  keepalived node 1 + balancer   VIP 10.77.0.100
//!                    ├── b  (10.77.0.12)  keepalived node 2 + balancer
//!                    ├── be (10.77.0.21, .22)  nginx: answers "<server> via <balancer>"
//!                    └── cl (10.77.0.31)  the client: threads that setns(2) into cl
//! ```
//!
//! The balancer binds the VIP with ip_nonlocal_bind (seed 004) and 127.0.0.1:80, which the
//! vrrp_script checks. The balancer is corelb; CORELB_HA_BALANCER=haproxy runs Debian's
//! haproxy on the same configuration file instead, to compare.
//!
//! Scenarios, one after the other on the same pair:
//!  1. planned stop: drain.sh hands the VIP over, then the balancer on a stops gracefully;
//!  2. a comes back: the VIP returns to a (preemption);
//!  3. crash: the balancer on a is SIGKILLed.
//!
//! For each, the time from the stop to the VIP on b and to the first request served
//! through b, and every failed request, are printed (run with --nocapture to see them).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

unsafe extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}
const CLONE_NEWNET: i32 = 0x4000_0000;
const SIGKILL: i32 = 9;
const SIGUSR1: i32 = 10;
const SIGTERM: i32 = 15;

const VIP: &str = "10.77.0.100";
const A_IP: &str = "10.77.0.11";
const B_IP: &str = "10.77.0.12";
/// Client threads; each has at most one request in flight.
const CLIENTS: usize = 4;
/// Pause between two requests of one client thread (4 threads: ~100 requests/s).
const PACE: Duration = Duration::from_millis(40);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// True if every tool is on PATH. Outside CI a missing tool skips the test with a message;
/// in CI it fails it.
fn have_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "missing tools {missing:?}: apt-get install iproute2 keepalived nginx-light haproxy"
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    false
}

// ---------------------------------------------------------------------------------------
// The balancer under test
// ---------------------------------------------------------------------------------------

enum Balancer {
    Corelb(PathBuf),
    Haproxy,
}

fn balancer() -> Balancer {
    match std::env::var("CORELB_HA_BALANCER").as_deref() {
        Ok("corelb") | Err(_) => Balancer::Corelb(PathBuf::from(env!("CARGO_BIN_EXE_corelb"))),
        // HAProxy in the same harness, to compare the two.
        Ok("haproxy") => Balancer::Haproxy,
        Ok(other) => panic!("CORELB_HA_BALANCER={other}: corelb or haproxy"),
    }
}

impl Balancer {
    fn name(&self) -> &'static str {
        match self {
            Balancer::Corelb(_) => "corelb",
            Balancer::Haproxy => "haproxy (stand-in for corelb)",
        }
    }
    fn tools(&self) -> Vec<&'static str> {
        match self {
            Balancer::Corelb(_) => vec![],
            Balancer::Haproxy => vec!["haproxy"],
        }
    }
    fn argv(&self, cfg: &Path, pidfile: &Path, check_only: bool) -> Vec<String> {
        let cfg = cfg.display().to_string();
        let mut v = match self {
            Balancer::Corelb(bin) => vec![bin.display().to_string()],
            // -db: stay in the foreground like corelb does.
            Balancer::Haproxy => vec!["haproxy".into(), "-db".into()],
        };
        if check_only {
            v.extend(["-c".into(), "-f".into(), cfg]);
        } else {
            v.extend(["-f".into(), cfg, "-p".into(), pidfile.display().to_string()]);
        }
        v
    }
    /// corelb stops gracefully on SIGTERM; haproxy's graceful ("soft") stop is SIGUSR1.
    fn graceful_signal(&self) -> i32 {
        match self {
            Balancer::Corelb(_) => SIGTERM,
            Balancer::Haproxy => SIGUSR1,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes and namespaces, cleaned up on drop (also when the test fails)
// ---------------------------------------------------------------------------------------

fn run_ok(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn output(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Proc {
    name: String,
    child: Child,
    /// Pid files of processes it forked (keepalived's VRRP child), killed too if left.
    extra_pidfiles: Vec<PathBuf>,
}

impl Proc {
    /// `ip netns exec NS argv...`, output to LOGDIR/NAME.log, in its own process group.
    fn spawn(ns: &str, name: &str, argv: &[String], logdir: &Path) -> Proc {
        let log = fs::File::create(logdir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Proc {
            name: name.into(),
            child,
            extra_pidfiles: vec![],
        }
    }
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    fn signal(&self, sig: i32) {
        unsafe { kill(self.pid(), sig) };
    }
    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
    /// Wait for it to exit, at most `limit`. True if it exited.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if !self.running() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }
    fn stop(&mut self) {
        if self.running() {
            self.signal(SIGTERM);
            if !self.wait_exit(Duration::from_secs(5)) {
                eprintln!("{}: no exit 5 s after SIGTERM, killing", self.name);
                unsafe { kill(-self.pid(), SIGKILL) };
                let _ = self.child.wait();
            }
        }
        for f in &self.extra_pidfiles {
            if let Some(pid) = fs::read_to_string(f)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                && pid > 1
                && Path::new(&format!("/proc/{pid}")).exists()
            {
                unsafe { kill(pid, SIGKILL) };
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The namespaces and the scratch directory of one run; removed on drop.
struct Lab {
    prefix: String,
    dir: PathBuf,
    made: Vec<String>,
}

impl Lab {
    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn new(tag: &str) -> Option<Lab> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "clb{}{}{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = repo().join("target").join("test-tmp").join(&prefix);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            prefix,
            dir,
            made: vec![],
        };

        // Probe: can this sandbox create a network namespace at all?
        let probe = lab.ns("sw");
        let out = Command::new("ip")
            .args(["netns", "add", &probe])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIP: cannot create a network namespace here ({}): needs root / CAP_SYS_ADMIN",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        lab.made.push(probe);
        for role in ["a", "b", "be", "cl"] {
            let ns = lab.ns(role);
            run_ok(&["ip", "netns", "add", &ns]);
            lab.made.push(ns);
        }
        let sw = lab.ns("sw");
        for role in ["sw", "a", "b", "be", "cl"] {
            run_ok(&["ip", "-n", &lab.ns(role), "link", "set", "lo", "up"]);
        }
        run_ok(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"]);
        run_ok(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
        let addrs: [(&str, &[&str]); 4] = [
            ("a", &[A_IP]),
            ("b", &[B_IP]),
            ("be", &["10.77.0.21", "10.77.0.22"]),
            ("cl", &["10.77.0.31"]),
        ];
        for (role, ips) in addrs {
            let ns = lab.ns(role);
            let port = format!("p-{role}");
            // Both ends are created directly inside their namespaces: no name on the host.
            run_ok(&[
                "ip", "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &sw,
            ]);
            run_ok(&["ip", "-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            for ip in ips {
                run_ok(&[
                    "ip",
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{ip}/24"),
                    "dev",
                    "eth0",
                ]);
            }
            run_ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        // Seed 004: the balancers bind the VIP whether or not they hold it. Per namespace.
        for role in ["a", "b"] {
            run_ok(&[
                "ip",
                "netns",
                "exec",
                &lab.ns(role),
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind",
            ]);
        }
        Some(lab)
    }

    fn has_vip(&self, role: &str, vip: &str) -> bool {
        output(&[
            "ip",
            "-n",
            &self.ns(role),
            "-o",
            "-4",
            "addr",
            "show",
            "dev",
            "eth0",
        ])
        .contains(&format!(" inet {vip}/"))
    }

    fn dump_logs(&self) {
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    let s = fs::read_to_string(&p).unwrap_or_default();
                    let tail: Vec<&str> = s.lines().rev().take(40).collect();
                    eprintln!("===== {} (last lines)", p.display());
                    for l in tail.iter().rev() {
                        eprintln!("{l}");
                    }
                }
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
        }
        for ns in self.made.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if !thread::panicking() || std::env::var_os("CORELB_KEEP_TEST_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

fn enter_netns(ns: &str) {
    let f = fs::File::open(format!("/run/netns/{ns}")).unwrap();
    use std::os::fd::AsRawFd;
    // Only this thread moves: the test's other threads stay in the host namespace.
    let r = unsafe { setns(f.as_raw_fd(), CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

#[derive(Clone, Debug)]
struct Sample {
    start: Instant,
    end: Instant,
    /// Ok(address of the balancer that proxied it) or Err(what went wrong).
    outcome: Result<String, String>,
}

/// One HTTP/1.0 request through the VIP. The backend answers "<server> via <balancer>".
fn one_request() -> Result<String, String> {
    let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
    // 4 s covers two SYN retransmits (1 s, then 2 s later) while the VIP moves.
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(4))
        .map_err(|e| format!("connect: {}", e.kind()))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
        .map_err(|e| format!("write: {}", e.kind()))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("read: {}", e.kind()))?;
    let text = String::from_utf8_lossy(&buf);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "answer: {:?}",
            text.lines().next().unwrap_or("(nothing)")
        ));
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    match body.split_once(" via ") {
        Some((_, lb)) => Ok(lb.to_string()),
        None => Err(format!("body: {body:?}")),
    }
}

struct Client {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Client {
    /// CLIENTS threads in namespace `ns`, each sending one request at a time, every PACE,
    /// until stopped or 60 s have passed (bounded in time, so in count too).
    fn start(ns: &str) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..CLIENTS)
            .map(|i| {
                let (stop, samples, ns) = (stop.clone(), samples.clone(), ns.to_string());
                thread::spawn(move || {
                    enter_netns(&ns);
                    let deadline = Instant::now() + Duration::from_secs(60);
                    thread::sleep(PACE * i as u32 / CLIENTS as u32);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let start = Instant::now();
                        let outcome = one_request();
                        let end = Instant::now();
                        samples.lock().unwrap().push(Sample {
                            start,
                            end,
                            outcome,
                        });
                        thread::sleep(PACE.saturating_sub(end - start));
                    }
                })
            })
            .collect();
        Client {
            stop,
            samples,
            threads,
        }
    }
    fn take(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What one move of the VIP looked like from the client.
struct Move {
    to_vip: Duration,
    /// First fresh connection answered through the new holder (the probe).
    to_answer: Option<Duration>,
    /// First request of the steady client answered through the new holder.
    to_served: Option<Duration>,
    total: usize,
    failed: Vec<(f64, f64, String)>,
}

fn analyse(
    samples: &[Sample],
    t0: Instant,
    vip_at: Instant,
    answer_at: Option<Instant>,
    new_lb: &str,
) -> Move {
    let rel = |t: Instant| {
        if t >= t0 {
            (t - t0).as_secs_f64()
        } else {
            -((t0 - t).as_secs_f64())
        }
    };
    let to_served = samples
        .iter()
        .filter(|s| s.start >= t0 && s.outcome.as_deref() == Ok(new_lb))
        .map(|s| s.end - t0)
        .min();
    let failed = samples
        .iter()
        .filter_map(|s| {
            s.outcome
                .as_ref()
                .err()
                .map(|e| (rel(s.start), rel(s.end), e.clone()))
        })
        .collect();
    Move {
        to_vip: vip_at - t0,
        to_answer: answer_at.map(|t| t - t0),
        to_served,
        total: samples.len(),
        failed,
    }
}

fn report(title: &str, m: &Move) {
    println!("--- {title}");
    println!(
        "    VIP on the new holder  {:>6.3} s after the stop",
        m.to_vip.as_secs_f64()
    );
    match m.to_answer {
        Some(d) => println!(
            "    VIP answering there     {:>6.3} s after the stop (fresh connections)",
            d.as_secs_f64()
        ),
        None => println!("    the VIP never answered through the new holder"),
    }
    match m.to_served {
        Some(d) => println!(
            "    steady client served    {:>6.3} s after the stop",
            d.as_secs_f64()
        ),
        None => println!("    steady client never served through the new holder"),
    }
    println!("    requests {}, failed {}", m.total, m.failed.len());
    for (s, e, what) in &m.failed {
        println!("      failed: started {s:+.3} s, ended {e:+.3} s: {what}");
    }
}

/// From a thread in the client namespace: fresh requests with a 150 ms connect timeout
/// (no waiting on SYN retransmits) until one is answered through balancer `lb`. Returns
/// when that happened: the moment the VIP answers on the new holder.
fn probe_served_by(ns: &str, lb: &str, limit: Duration) -> thread::JoinHandle<Option<Instant>> {
    let (ns, lb) = (ns.to_string(), lb.to_string());
    thread::spawn(move || {
        enter_netns(&ns);
        let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(150)) {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut buf = Vec::new();
                if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok() && s.read_to_end(&mut buf).is_ok()
                {
                    let text = String::from_utf8_lossy(&buf);
                    if text.trim_end().ends_with(&format!(" via {lb}")) {
                        return Some(Instant::now());
                    }
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    })
}

/// Watches for the VIP on `role` from now on, every 20 ms; returns when it is there.
fn watch_vip(lab: &Lab, role: &str, limit: Duration) -> Instant {
    let t0 = Instant::now();
    loop {
        if lab.has_vip(role, VIP) {
            return Instant::now();
        }
        assert!(
            t0.elapsed() < limit,
            "VIP did not arrive on {role} within {limit:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

const NGINX_CONF: &str = r#"daemon off;
master_process off;
worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path DIR/nginx-body;
    proxy_temp_path DIR/nginx-proxy;
    fastcgi_temp_path DIR/nginx-fastcgi;
    uwsgi_temp_path DIR/nginx-uwsgi;
    scgi_temp_path DIR/nginx-scgi;
    server {
        listen 10.77.0.21:8080;
        listen 10.77.0.22:8080;
        location / {
            default_type text/plain;
            # Which server answered, and which balancer it came from.
            return 200 "$server_addr via $remote_addr\n";
        }
    }
}
"#;

/// HAProxy syntax, mode tcp: what corelb runs first.
const BALANCER_CFG: &str = "\
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend web
    # the VIP, held or not (ip_nonlocal_bind), and loopback for keepalived's check
    bind 10.77.0.100:80
    bind 127.0.0.1:80
    default_backend app

backend app
    balance roundrobin
    server be1 10.77.0.21:8080
    server be2 10.77.0.22:8080
";

struct Pair<'a> {
    lab: &'a Lab,
    bal: &'a Balancer,
    cfg: PathBuf,
}

impl Pair<'_> {
    fn start_balancer(&self, role: &str) -> Proc {
        let argv = self.bal.argv(
            &self.cfg,
            &self.lab.dir.join(format!("lb-{role}.pid")),
            false,
        );
        let p = Proc::spawn(
            &self.lab.ns(role),
            &format!("lb-{role}"),
            &argv,
            &self.lab.dir,
        );
        // Serving once its loopback listener accepts (the check keepalived runs).
        let check = repo().join("scripts/ha/check-corelb.sh");
        wait_until(
            &format!("balancer on {role} listening"),
            Duration::from_secs(10),
            || {
                Command::new("ip")
                    .args(["netns", "exec", &self.lab.ns(role), "bash"])
                    .arg(&check)
                    .args([
                        "--tcp",
                        "127.0.0.1:80",
                        "--maintenance-file",
                        "/nonexistent",
                    ])
                    .stderr(Stdio::null())
                    .status()
                    .unwrap()
                    .success()
            },
        );
        p
    }

    fn start_keepalived(&self, role: &str, node: &str) -> Proc {
        let (me, peer) = if node == "1" {
            (A_IP, B_IP)
        } else {
            (B_IP, A_IP)
        };
        let conf = self.lab.dir.join(format!("keepalived-{role}.conf"));
        let maint = self.lab.dir.join(format!("maintenance-{role}"));
        // notify_master: the EC2 takeover script, with a stand-in `aws` that records its
        // arguments (no AWS here), so that the test sees keepalived run it on takeover.
        let fake_aws = self.lab.dir.join(format!("aws-{role}"));
        let calls = self.lab.dir.join(format!("aws-calls-{role}.out"));
        fs::write(
            &fake_aws,
            format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
        )
        .unwrap();
        run_ok(&["chmod", "755", fake_aws.to_str().unwrap()]);
        let notify = format!(
            "{}/scripts/ha/eip-takeover.sh --aws {} --allocation-id eipalloc-0abc1 \
             --private-ip 10.0.0.{} --eni eni-0abc00{node} --region eu-west-1",
            repo().display(),
            fake_aws.display(),
            if node == "1" { 11 } else { 12 },
        );
        run_ok(&[
            "bash",
            repo().join("scripts/ha/render.sh").to_str().unwrap(),
            "--node",
            node,
            "--interface",
            "eth0",
            "--self",
            me,
            "--peer",
            peer,
            "--vip",
            &format!("{VIP}/24"),
            "--auth-pass",
            "t3stpass",
            "--vrid",
            "77",
            "--libexec",
            repo().join("scripts/ha").to_str().unwrap(),
            "--check",
            &format!("--tcp 127.0.0.1:80 --maintenance-file {}", maint.display()),
            "--notify-master",
            &notify,
            "--router-id",
            &format!("{}-{role}", self.lab.prefix),
            "-o",
            conf.to_str().unwrap(),
        ]);
        let pid = |k: &str| self.lab.dir.join(format!("keepalived-{role}-{k}.pid"));
        let argv: Vec<String> = vec![
            "keepalived".into(),
            "--dont-fork".into(),
            "--log-console".into(),
            "--log-detail".into(),
            "--vrrp".into(),
            "--use-file".into(),
            conf.display().to_string(),
            // Own pid files: several keepalived (other runs, the host's) must not collide.
            format!("--pid={}", pid("main").display()),
            format!("--vrrp_pid={}", pid("vrrp").display()),
            format!("--checkers_pid={}", pid("checkers").display()),
        ];
        let mut p = Proc::spawn(
            &self.lab.ns(role),
            &format!("keepalived-{role}"),
            &argv,
            &self.lab.dir,
        );
        p.extra_pidfiles.push(pid("vrrp"));
        p
    }
}

#[test]
fn ha_keepalived_pair_moves_the_vip_when_corelb_stops() {
    let bal = balancer();
    let mut tools = vec!["ip", "keepalived", "nginx", "bash", "timeout"];
    tools.extend(bal.tools());
    if !have_tools(&tools) {
        return;
    }
    let Some(lab) = Lab::new("f") else { return };
    println!("balancer: {}; namespaces {}-*", bal.name(), lab.prefix);

    fs::write(
        lab.dir.join("nginx.conf"),
        NGINX_CONF.replace("DIR", lab.dir.to_str().unwrap()),
    )
    .unwrap();
    let cfg = lab.dir.join("balancer.cfg");
    fs::write(&cfg, BALANCER_CFG).unwrap();
    let check = Command::new("ip")
        .args(["netns", "exec", &lab.ns("a")])
        .args(bal.argv(&cfg, Path::new("/dev/null"), true))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "config check: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let nginx_argv: Vec<String> = ["nginx", "-e"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            lab.dir.join("nginx-error.log").display().to_string(),
            "-c".into(),
            lab.dir.join("nginx.conf").display().to_string(),
        ])
        .collect();
    let _nginx = Proc::spawn(&lab.ns("be"), "nginx", &nginx_argv, &lab.dir);
    let pair = Pair {
        lab: &lab,
        bal: &bal,
        cfg,
    };
    let mut lb_a = pair.start_balancer("a");
    let _lb_b = pair.start_balancer("b");
    let _ka_a = pair.start_keepalived("a", "1");
    let _ka_b = pair.start_keepalived("b", "2");

    let t = wait_until(
        "VIP on a (node 1, higher priority)",
        Duration::from_secs(20),
        || lab.has_vip("a", VIP),
    );
    println!("initial election: VIP on a after {:.1} s", t.as_secs_f64());
    assert!(!lab.has_vip("b", VIP));
    let client = Client::start(&lab.ns("cl"));
    wait_until("client served through a", Duration::from_secs(10), || {
        client
            .samples
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.outcome.as_deref() == Ok(A_IP))
    });
    thread::sleep(Duration::from_secs(1));
    let warm = client.take();
    assert!(
        warm.iter().all(|s| s.outcome.as_deref() == Ok(A_IP)),
        "before any stop, all served by a: {warm:?}"
    );

    let maint_a = lab.dir.join("maintenance-a");
    let mut all = Vec::new();

    // --- 1. planned stop: drain.sh hands the VIP over, then the balancer stops ----------
    let t0 = Instant::now();
    let probe = probe_served_by(&lab.ns("cl"), B_IP, Duration::from_secs(15));
    let drain = Command::new("ip")
        .args(["netns", "exec", &lab.ns("a"), "bash"])
        .arg(repo().join("scripts/ha/drain.sh"))
        .args([
            "--vip",
            VIP,
            "--timeout",
            "10",
            "--maintenance-file",
            maint_a.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        drain.status.success(),
        "drain.sh: {}",
        String::from_utf8_lossy(&drain.stderr)
    );
    lb_a.signal(bal.graceful_signal());
    let vip_at = watch_vip(&lab, "b", Duration::from_secs(10));
    assert!(
        lb_a.wait_exit(Duration::from_secs(10)),
        "balancer on a did not stop"
    );
    let answer_at = probe.join().unwrap();
    thread::sleep(Duration::from_secs(2));
    let m = analyse(&client.take(), t0, vip_at, answer_at, B_IP);
    report(
        "1. planned stop on the master: drain.sh, then graceful stop",
        &m,
    );
    assert!(
        m.to_answer.is_some() && m.to_served.is_some(),
        "nothing served through b"
    );
    // Only a request in flight at the moment the VIP moves can fail: at most one per
    // client thread. New connections wait for a SYN retransmit instead of being refused.
    assert!(
        m.failed.len() <= CLIENTS,
        "a planned stop failed {} requests (more than the {CLIENTS} that can be in flight)",
        m.failed.len()
    );
    assert!(!lab.has_vip("a", VIP));
    let notified = fs::read_to_string(lab.dir.join("aws-calls-b.out")).unwrap_or_default();
    assert!(
        notified.contains("ec2 associate-address --region eu-west-1 --allocation-id eipalloc-0abc1 --network-interface-id eni-0abc002 --private-ip-address 10.0.0.12 --allow-reassociation"),
        "b's notify_master did not run eip-takeover.sh: {notified:?}"
    );
    all.push(m);

    // --- 2, 4. the balancer on a comes back: the VIP returns (higher priority) ----------
    let come_back = |lb_a: &mut Proc, title: &str, all: &mut Vec<Move>| {
        run_ok(&["rm", "-f", maint_a.to_str().unwrap()]);
        let t0 = Instant::now();
        let probe = probe_served_by(&lab.ns("cl"), A_IP, Duration::from_secs(20));
        *lb_a = pair.start_balancer("a");
        let vip_at = watch_vip(&lab, "a", Duration::from_secs(15));
        let answer_at = probe.join().unwrap();
        thread::sleep(Duration::from_secs(2));
        let m = analyse(&client.take(), t0, vip_at, answer_at, A_IP);
        report(title, &m);
        assert!(
            m.to_answer.is_some() && m.to_served.is_some(),
            "nothing served through a after it came back"
        );
        assert!(!lab.has_vip("b", VIP));
        all.push(m);
    };
    come_back(
        &mut lb_a,
        "2. the balancer on node 1 starts again: VIP back after rise (preemption)",
        &mut all,
    );

    // --- 3, 5. unplanned stops: graceful stop without drain, then a crash --------------
    let unplanned = |lb_a: &mut Proc, sig: i32, title: &str, all: &mut Vec<Move>| {
        let t0 = Instant::now();
        let probe = probe_served_by(&lab.ns("cl"), B_IP, Duration::from_secs(15));
        lb_a.signal(sig);
        let vip_at = watch_vip(&lab, "b", Duration::from_secs(10));
        let answer_at = probe.join().unwrap();
        thread::sleep(Duration::from_secs(2));
        let samples = client.take();
        let m = analyse(&samples, t0, vip_at, answer_at, B_IP);
        report(title, &m);
        assert!(
            m.to_answer.is_some() && m.to_served.is_some(),
            "nothing served through b"
        );
        // Once the VIP is on b (plus one second for ARP and a SYN retransmit), the client
        // is served again: every request started after that succeeded.
        let settled = vip_at + Duration::from_secs(1);
        let late: Vec<_> = samples
            .iter()
            .filter(|s| s.start > settled && s.outcome.is_err())
            .collect();
        assert!(
            late.is_empty(),
            "failures after the VIP settled on b: {late:?}"
        );
        assert!(
            samples.iter().filter(|s| s.start > settled).count() > 10,
            "client kept running"
        );
        all.push(m);
    };
    unplanned(
        &mut lb_a,
        bal.graceful_signal(),
        "3. graceful stop on the master without drain.sh (plain systemctl stop)",
        &mut all,
    );
    assert!(lb_a.wait_exit(Duration::from_secs(10)));
    come_back(
        &mut lb_a,
        "4. the balancer on node 1 starts again",
        &mut all,
    );
    unplanned(
        &mut lb_a,
        SIGKILL,
        "5. crash of the balancer on the master (SIGKILL)",
        &mut all,
    );
    drop(client);
}
