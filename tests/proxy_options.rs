//! Proxy options that change where and whether a request goes: `option abortonclose`,
//! `option prefer-last-server`. Each scenario runs on corelb and, when it is installed, on
//! Debian's HAProxy 2.6, and both must give what the test expects.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Start = dyn Fn(&str, &[u16]) -> Box<dyn Proc>;

/// corelb or HAProxy, running; the log is what it wrote on stderr.
trait Proc {
    fn log(&self) -> String;
    fn pid(&self) -> i32;
}
impl Proc for Corelb {
    fn log(&self) -> String {
        Corelb::log(self)
    }
    fn pid(&self) -> i32 {
        Corelb::pid(self)
    }
}
impl Proc for Haproxy {
    fn log(&self) -> String {
        Haproxy::log(self)
    }
    fn pid(&self) -> i32 {
        Haproxy::pid(self)
    }
}

fn corelb(cfg: &str, ports: &[u16]) -> Box<dyn Proc> {
    Box::new(Corelb::start(cfg, &[], ports))
}

fn haproxy(cfg: &str, ports: &[u16]) -> Box<dyn Proc> {
    Box::new(Haproxy::start(cfg, ports).expect("haproxy"))
}

/// Both implementations, HAProxy's when it is installed.
fn both() -> Vec<(&'static str, &'static Start)> {
    let mut v: Vec<(&'static str, &'static Start)> = vec![("corelb", &corelb)];
    if Command::new("haproxy").arg("-v").output().is_ok() {
        v.push(("haproxy", &haproxy));
    } else {
        eprintln!("SKIP (HAProxy side): haproxy is not installed");
    }
    v
}

const DEFAULTS: &str = "global\n  log stderr format raw local0\ndefaults\n  mode http\n  log global\n  option httplog\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n  timeout queue 10s\n";

/// An HTTP server that records each request's line (and the headers named in `keep`),
/// answers 200 with its name in the body, and holds requests for `/slow` until released.
struct Recorder {
    backend: Backend,
    seen: Arc<Mutex<Vec<String>>>,
    release: Arc<AtomicBool>,
}

impl Recorder {
    fn start(name: &'static str, keep: &'static [&'static str]) -> Recorder {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let release = Arc::new(AtomicBool::new(false));
        let (s2, r2) = (seen.clone(), release.clone());
        let backend = Backend::start(move |s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut rec = line.trim().to_string();
                let mut len = 0usize;
                let mut chunked = false;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 {
                        return;
                    }
                    let h = h.trim();
                    if h.is_empty() {
                        break;
                    }
                    let (n, v) = h.split_once(':').unwrap_or((h, ""));
                    if n.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if n.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = true;
                    }
                    if keep.iter().any(|k| k.eq_ignore_ascii_case(n)) {
                        rec.push_str(&format!(" [{}: {}]", n.to_ascii_lowercase(), v.trim()));
                    }
                }
                let mut body = vec![0u8; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                // A chunked body: its chunks, then the empty trailer section.
                if chunked {
                    loop {
                        let mut size = String::new();
                        if r.read_line(&mut size).unwrap_or(0) == 0 {
                            return;
                        }
                        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                        let mut data = vec![0u8; n + 2];
                        if n == 0 {
                            let mut end = String::new();
                            let _ = r.read_line(&mut end);
                            break;
                        }
                        if r.read_exact(&mut data).is_err() {
                            return;
                        }
                    }
                }
                s2.lock().unwrap().push(rec.clone());
                if rec.contains("/slow") {
                    while !r2.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                    name.len()
                );
                if w.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
        });
        Recorder {
            backend,
            seen,
            release,
        }
    }

    fn port(&self) -> u16 {
        self.backend.port
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Sends a GET for `path` on a new connection, without reading.
fn send_get(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s
}

/// The log line of the request for `path`: (server, timers, status, termination state).
fn logged(p: &dyn Proc, path: &str) -> Option<(String, String, String, String)> {
    let log = p.log();
    let line = log.lines().find(|l| l.contains(&format!("GET {path} ")))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    Some((
        f[3].to_string(),
        f[4].to_string(),
        f[5].to_string(),
        f[9].to_string(),
    ))
}

fn wait_logged(p: &dyn Proc, path: &str) -> (String, String, String, String) {
    eventually(Duration::from_secs(10), || logged(p, path))
        .unwrap_or_else(|| panic!("no log line for {path}:\n{}", p.log()))
}

/// The fields of a stats CSV row (proxy, server).
fn stat(csv: &str, px: &str, sv: &str, name: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    let row = lines
        .find(|l| l.split(',').take(2).eq([px, sv]))
        .unwrap_or_else(|| panic!("no row {px}/{sv} in {csv}"));
    row.split(',').nth(i).unwrap().to_string()
}

fn stats_csv(port: u16) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/stats;csv"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What [`queue_scenario`] saw: the server's request lines, the queued request's log fields,
/// the backend's `cli_abrt`, the frontend's and backend's `hrsp_other`, and how long the
/// queued request's client stayed connected (from its connect to its close, as the test
/// saw it).
type QueueOutcome = (
    Vec<String>,
    (String, String, String, String),
    String,
    (String, String),
    Duration,
);

/// A request waits in the queue (its server at `maxconn 1`, busy); its client closes (a
/// FIN, as `close()` sends). With `option abortonclose` it leaves the queue at once, the
/// server never sees it, the log says `CQ` with status -1; without it, the request is
/// served when the slot frees (HTTP's half-close). Returns what the server saw, the queued
/// request's log fields, the backend's `cli_abrt` and the frontend's and backend's
/// `hrsp_other` (HAProxy counts there a request that ends without a status, `-1`).
fn queue_scenario(start: &Start, option: &str) -> QueueOutcome {
    let srv = Recorder::start("s1", &[]);
    let (port, stats) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}listen stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n\
         listen l\n  bind 127.0.0.1:{port}\n  {option}\n  server s1 127.0.0.1:{} maxconn 1\n",
        srv.port()
    );
    let p = start(&cfg, &[port, stats]);
    let mut first = send_get(port, "/slow");
    eventually(Duration::from_secs(10), || {
        (!srv.seen().is_empty()).then_some(())
    })
    .expect("the first request reaches the server");
    let sent = Instant::now();
    let second = send_get(port, "/queued");
    eventually(Duration::from_secs(10), || {
        (stat(&stats_csv(stats), "l", "BACKEND", "qcur") == "1").then_some(())
    })
    .expect("the second request waits in the queue");
    std::thread::sleep(Duration::from_millis(200));
    let connected = sent.elapsed();
    drop(second);
    std::thread::sleep(Duration::from_millis(300));
    srv.release.store(true, Ordering::SeqCst);
    let mut buf = [0u8; 256];
    let n = first.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let fields = wait_logged(&*p, "/queued");
    let csv = stats_csv(stats);
    let abrt = stat(&csv, "l", "BACKEND", "cli_abrt");
    let other = (
        stat(&csv, "l", "FRONTEND", "hrsp_other"),
        stat(&csv, "l", "BACKEND", "hrsp_other"),
    );
    (srv.seen(), fields, abrt, other, connected)
}

#[test]
fn abortonclose_drops_a_queued_request_whose_client_closed_like_haproxy() {
    for (who, start) in both() {
        let (seen, (server, timers, status, term), abrt, other, connected) =
            queue_scenario(start, "option abortonclose");
        assert_eq!(seen, ["GET /slow HTTP/1.1"], "{who}: the server saw");
        assert_eq!(
            (server.as_str(), status.as_str(), &term[..2]),
            ("l/<NOSRV>", "-1", "CQ"),
            "{who}"
        );
        // Tw is the time in the queue: at least the 200 ms the test waits before closing,
        // and it ends at the close. The bound is the client's time connected as the test
        // saw it, plus a margin for the close to be seen: on a loaded machine the stats
        // polls before the close can take seconds (a CI run logged Tw 5.6 s against the
        // fixed 2 s bound this replaced, and never printed when the test closed). Tc and
        // Tr never happened.
        let t: Vec<i64> = timers.split('/').map(|x| x.parse().unwrap()).collect();
        let bound = connected.as_millis() as i64 + 1000;
        assert!(
            t[1] >= 150 && t[1] < bound && t[2] == -1 && t[3] == -1,
            "{who}: {timers} (the client was connected {connected:?})"
        );
        // HAProxy counts no client abort for it: the counter is for aborts while data
        // moves.
        assert_eq!(abrt, "0", "{who}: cli_abrt");
        // The request without a status is counted in hrsp_other on the frontend and the
        // backend, as HAProxy counts every status outside 1xx-5xx (here -1).
        assert_eq!(other, ("1".into(), "1".into()), "{who}: hrsp_other");

        // `no option abortonclose` (as without it): served once the slot frees.
        let (seen, (server, _, status, term), abrt, other, _) =
            queue_scenario(start, "no option abortonclose");
        assert_eq!(
            seen,
            ["GET /slow HTTP/1.1", "GET /queued HTTP/1.1"],
            "{who}: the server saw"
        );
        assert_eq!((server.as_str(), status.as_str()), ("l/s1", "200"), "{who}");
        assert_ne!(&term[..1], "C", "{who}");
        assert_eq!(abrt, "0", "{who}: cli_abrt");
        assert_eq!(other, ("0".into(), "0".into()), "{who}: hrsp_other");
    }
}

/// A server whose listen backlog is full: a connection to it waits (its SYN is dropped)
/// until `timeout connect`.
fn unanswering_server() -> (TcpListener, Vec<TcpStream>, u16) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let l: TcpListener = s.into();
    let port = l.local_addr().unwrap().port();
    // Fill the accept queue (backlog 0 holds one; one more to be sure).
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        let _ = c.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into());
        std::thread::sleep(Duration::from_millis(50));
        fillers.push(c.into());
    }
    (l, fillers, port)
}

/// A request waits for its connection to a server that does not answer; its client
/// closes. With `option abortonclose`: logged `CC` at once, status -1; without: the
/// connection times out (`timeout connect` 1.5 s) and the request is answered 503 (`sC`).
fn connect_scenario(start: &Start, option: &str) -> (String, String, String, u64) {
    let (_l, _fillers, srv_port) = unanswering_server();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  timeout connect 1500ms\n  retries 0\n  {option}\n  server s1 127.0.0.1:{srv_port}\n"
    );
    let p = start(&cfg, &[port]);
    let c = send_get(port, "/connecting");
    std::thread::sleep(Duration::from_millis(300));
    c.shutdown(Shutdown::Write).unwrap();
    let t0 = Instant::now();
    let _ = BufReader::new(&c).read_line(&mut String::new());
    let waited = t0.elapsed().as_millis() as u64;
    let (server, _, status, term) = wait_logged(&*p, "/connecting");
    (server, status, term[..2].to_string(), waited)
}

#[test]
fn abortonclose_drops_a_connecting_request_whose_client_closed_like_haproxy() {
    for (who, start) in both() {
        let (server, status, term, waited) = connect_scenario(start, "option abortonclose");
        assert_eq!(
            (server.as_str(), status.as_str(), term.as_str()),
            ("l/s1", "-1", "CC"),
            "{who}"
        );
        assert!(waited < 1000, "{who}: closed after {waited} ms");
        let (server, status, term, waited) = connect_scenario(start, "");
        assert_eq!(
            (server.as_str(), status.as_str(), term.as_str()),
            ("l/s1", "503", "sC"),
            "{who}"
        );
        assert!(waited >= 1000, "{who}: answered after {waited} ms");
    }
}

/// Two keep-alive clients, one after the other, send four requests each through
/// `roundrobin` over two servers; which server answered each.
fn last_server_scenario(start: &Start, extra: &str) -> String {
    let (a, b) = (Recorder::start("aa", &[]), Recorder::start("bb", &[]));
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n{extra}  server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n",
        a.port(),
        b.port()
    );
    let _p = start(&cfg, &[port]);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        for _ in 0..4 {
            w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let res = read_response(&mut r, false).unwrap();
            seen.push(String::from_utf8_lossy(&res.body).into_owned());
        }
        seen.push("|".into());
    }
    seen.join(" ")
}

/// `option prefer-last-server`: a keep-alive client's requests stay on the server of its
/// connection (the next client is balanced as usual). As in HAProxy 2.6, only a connection
/// kept for the client (`http-reuse never`) counts: under `safe` (the default) the
/// connection goes back to the shared pool between requests, and the option changes
/// nothing.
#[test]
fn prefer_last_server_keeps_a_keep_alive_client_on_its_server_like_haproxy() {
    let never = "  http-reuse never\n";
    let pls = "  option prefer-last-server\n";
    let cases = [
        (format!("{never}{pls}"), "aa aa aa aa | bb bb bb bb |"),
        (
            format!("{never}{pls}  no option prefer-last-server\n"),
            "aa bb aa bb | aa bb aa bb |",
        ),
        (never.to_string(), "aa bb aa bb | aa bb aa bb |"),
        (pls.to_string(), "aa bb aa bb | aa bb aa bb |"),
        (
            format!("{never}{pls}  balance leastconn\n"),
            "aa aa aa aa | bb bb bb bb |",
        ),
    ];
    for (who, start) in both() {
        for (extra, want) in &cases {
            assert_eq!(last_server_scenario(start, extra), *want, "{who}:\n{extra}");
        }
    }
}

/// In a defaults section, `option prefer-last-server` applies to the backends after it;
/// a server that went down is not preferred.
#[test]
fn prefer_last_server_from_defaults_leaves_a_down_server() {
    let (a, b) = (Recorder::start("aa", &[]), Recorder::start("bb", &[]));
    let (port, sock) = (free_port(), TempDir::new("pls"));
    let sock_path = sock.path("admin.sock");
    let cfg = format!(
        "global\n  stats socket {} level admin\n{}  option prefer-last-server\n  http-reuse never\nlisten l\n  bind 127.0.0.1:{port}\n  server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n",
        sock_path.display(),
        DEFAULTS.trim_start_matches("global\n  log stderr format raw local0\n"),
        a.port(),
        b.port()
    );
    let _p = Corelb::start(&cfg, &[], &[port]);
    wait_unix_socket(&sock_path);
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut get = || {
        w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        String::from_utf8_lossy(&read_response(&mut r, false).unwrap().body).into_owned()
    };
    assert_eq!([get(), get()], ["aa", "aa"]);
    stats_cmd(&sock_path, "disable server l/a");
    assert_eq!([get(), get()], ["bb", "bb"]);
}

/// Where the options apply: backends (and defaults, listen); a frontend's is ignored with a
/// warning, as HAProxy warns; corelb says that mode tcp does not abort on close.
#[test]
fn abortonclose_and_prefer_last_server_are_backend_options() {
    let dir = TempDir::new("opts");
    let base =
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";
    for opt in ["abortonclose", "prefer-last-server"] {
        expect_check(
            &dir,
            &format!(
                "{base}  option {opt}\nbackend b\n  no option {opt}\n  server s 127.0.0.1:1\n"
            ),
            0,
            "",
        );
        expect_check(
            &dir,
            &format!(
                "{base}frontend f\n  bind 127.0.0.1:1\n  option {opt}\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"
            ),
            0,
            &format!("'option {opt}' is ignored in frontend 'f'"),
        );
    }
    expect_check(
        &dir,
        &format!("{base}backend b\n  mode tcp\n  option abortonclose\n  server s 127.0.0.1:1\n"),
        0,
        "'option abortonclose' works in mode http only",
    );
}

/// `option http-no-delay` asks HAProxy to send at once instead of merging sends
/// (MSG_MORE); corelb always sends at once, so it is accepted with a warning that says so.
#[test]
fn http_no_delay_is_accepted_with_a_warning() {
    let dir = TempDir::new("nodelay");
    let base =
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";
    for at in ["defaults", "frontend", "backend"] {
        let (d, f, b) = match at {
            "defaults" => ("  option http-no-delay\n", "", ""),
            "frontend" => ("", "  option http-no-delay\n", ""),
            _ => ("", "", "  option http-no-delay\n"),
        };
        expect_check(
            &dir,
            &format!(
                "{base}{d}frontend f\n  bind 127.0.0.1:1\n{f}  default_backend b\nbackend b\n{b}  server s 127.0.0.1:1\n"
            ),
            0,
            "'option http-no-delay' is ignored: corelb never delays a send: every client and server socket has TCP_NODELAY",
        );
    }
}

/// `http-send-name-header X-Srv`: each request reaches its server with the server's name in
/// `X-Srv`, the client's own `X-Srv` fields removed; after a failed connect redispatched to
/// another server, the name is that server's. Returns what each server saw.
fn send_name_scenario(start: &Start) -> (Vec<String>, Vec<String>) {
    let (a, b) = (
        Recorder::start("aa", &["x-srv"]),
        Recorder::start("bb", &["x-srv"]),
    );
    let dead = free_port();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}  http-send-name-header X-Unused\nlisten l\n  bind 127.0.0.1:{port}\n  http-send-name-header X-Srv\n  retries 1\n  option redispatch\n  \
         server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n  server dead 127.0.0.1:{dead}\n",
        a.port(),
        b.port()
    );
    let _p = start(&cfg, &[port]);
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    // Round-robin: a, b, then dead (redispatched to a, the next after it).
    for path in ["/1", "/2", "/3"] {
        write!(
            w,
            "GET {path} HTTP/1.1\r\nHost: t\r\nX-Srv: forged\r\nx-srv: forged too\r\n\r\n"
        )
        .unwrap();
        let res = read_response(&mut r, false).unwrap();
        assert_eq!(res.status, 200);
    }
    (a.seen(), b.seen())
}

#[test]
fn http_send_name_header_names_the_final_server_like_haproxy() {
    for (who, start) in both() {
        let (a, b) = send_name_scenario(start);
        assert_eq!(
            (a, b),
            (
                vec![
                    "GET /1 HTTP/1.1 [x-srv: a]".to_string(),
                    "GET /3 HTTP/1.1 [x-srv: a]".to_string()
                ],
                vec!["GET /2 HTTP/1.1 [x-srv: b]".to_string()]
            ),
            "{who}"
        );
    }
    let dir = TempDir::new("sendname");
    expect_check(
        &dir,
        "defaults\n  mode http\nbackend b\n  http-send-name-header\n  server s 127.0.0.1:1\n",
        1,
        "'http-send-name-header' requires a header string",
    );
}

/// How server b is unusable: not (`Up`), DOWN by its check (its traffic port still
/// answers), or in maintenance (`disable server` on the stats socket).
#[derive(Clone, Copy, Debug)]
enum Down {
    Up,
    Check,
    Maint,
}

/// `balance first` over a (always up) and b, unusable as `b_down` says; requests on one keep-alive connection with the
/// cookie `SRV=b`, each `(path, extra header line)`. Returns which server answered each.
fn persist_scenario(start: &Start, extra: &str, b_down: Down, reqs: &[(&str, &str)]) -> String {
    let (a, b) = (Recorder::start("aa", &[]), Recorder::start("bb", &[]));
    let (port, dead) = (free_port(), free_port());
    let check = match b_down {
        Down::Check => format!(" check port {dead} inter 100ms fall 1 rise 1"),
        _ => String::new(),
    };
    let dir = TempDir::new("persist");
    let sock = dir.path("admin.sock");
    let global = format!("global\n  stats socket {} level admin\n", sock.display());
    let cfg = format!(
        "{}listen l\n  bind 127.0.0.1:{port}\n  balance first\n  cookie SRV insert indirect nocache\n{extra}  \
         server a 127.0.0.1:{} cookie a\n  server b 127.0.0.1:{} cookie b{check}\n",
        DEFAULTS.replacen("global\n", &global, 1),
        a.port(),
        b.port()
    );
    let _p = start(&cfg, &[port]);
    match b_down {
        // fall 1 after the first check (within the 100 ms interval, and its spread).
        Down::Check => std::thread::sleep(Duration::from_millis(1500)),
        Down::Maint => {
            wait_unix_socket(&sock);
            stats_cmd(&sock, "disable server l/b");
        }
        Down::Up => {}
    }
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut out = Vec::new();
    for (path, hdr) in reqs {
        write!(
            w,
            "GET {path} HTTP/1.1\r\nHost: t\r\nCookie: SRV=b\r\n{hdr}\r\n"
        )
        .unwrap();
        let res = read_response(&mut r, false).unwrap();
        out.push(format!(
            "{} {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        ));
    }
    out.join(", ")
}

/// Requests of a scenario: (path, extra header line).
type Requests = [(&'static str, &'static str)];

/// A cookie naming a server that is down is ignored (the request is balanced) unless
/// `option persist` or a matching `force-persist` says to go there anyway;
/// `ignore-persist` ignores the cookie of an up server. As HAProxy 2.6.
#[test]
fn persist_force_persist_and_ignore_persist_like_haproxy() {
    let plain = [("/", "")];
    let forced = [("/", "X-Force: yes\r\n"), ("/", "")];
    let force = "  force-persist if { hdr(x-force) yes }\n";
    let cases: [(&str, Down, &Requests, &str); 8] = [
        ("", Down::Check, &plain, "200 aa"),
        ("  option persist\n", Down::Check, &plain, "200 bb"),
        (
            "  option persist\n  no option persist\n",
            Down::Check,
            &plain,
            "200 aa",
        ),
        (force, Down::Check, &forced, "200 bb, 200 aa"),
        ("", Down::Maint, &plain, "200 aa"),
        // A server in maintenance still serves who is forced there (HAProxy's use of it).
        (force, Down::Maint, &forced, "200 bb, 200 aa"),
        ("", Down::Up, &[("/ign", ""), ("/", "")], "200 bb, 200 bb"),
        (
            "  ignore-persist if { path /ign }\n  force-persist if { path /ign }\n",
            Down::Up,
            &[("/ign", ""), ("/", "")],
            "200 aa, 200 bb",
        ),
    ];
    for (who, start) in both() {
        for (extra, down, reqs, want) in &cases {
            assert_eq!(
                persist_scenario(start, extra, *down, reqs),
                *want,
                "{who}: b {down:?}\n{extra}"
            );
        }
    }
    let dir = TempDir::new("persist");
    let base =
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";
    expect_check(
        &dir,
        &format!("{base}backend b\n  force-persist\n  server s 127.0.0.1:1\n"),
        1,
        "'force-persist' requires either 'if' or 'unless' followed by a condition.",
    );
    expect_check(
        &dir,
        &format!(
            "{base}frontend f\n  bind 127.0.0.1:1\n  ignore-persist if TRUE\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"
        ),
        0,
        "'ignore-persist' ignored because frontend 'f' has no backend capability",
    );
}

/// `option http-buffer-request` (in the frontend, or only in the backend): the body is
/// waited for before the rules run (the backend's only, for the backend's option), so that
/// `req.body` decides, and before a server is connected. Each request sends its head, waits, then its body; returns per request the
/// status, whether the server had been connected before the body went, and the
/// `req.body_len`/`req.body_size` the server saw.
fn buffer_scenario(start: &Start, fe_opt: &str, be_opt: &str) -> Vec<String> {
    let srv = Recorder::start("s", &["x-len", "x-size"]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n{fe_opt}  http-request deny deny_status 403 if {{ req.body -m sub secret }}\n  default_backend b\n\
         backend b\n{be_opt}  http-request deny deny_status 401 if {{ req.body -m sub backend }}\n  \
         http-request set-header X-Len %[req.body_len]\n  http-request set-header X-Size %[req.body_size]\n  \
         http-reuse never\n  server s 127.0.0.1:{}\n",
        srv.port()
    );
    let _p = start(&cfg, &[port]);
    let mut out = Vec::new();
    let chunked = "Transfer-Encoding: chunked\r\n";
    for (framing, body) in [
        ("Content-Length: 17\r\n", "this is a secret!"),
        ("Content-Length: 17\r\n", "for backend only!"),
        ("Content-Length: 12\r\n", "hello world!"),
        (chunked, "5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n"),
    ] {
        let before = srv.backend.accepted.load(Ordering::SeqCst);
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        write!(w, "POST /p HTTP/1.1\r\nHost: t\r\n{framing}\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let early = srv.backend.accepted.load(Ordering::SeqCst) > before;
        w.write_all(body.as_bytes()).unwrap();
        let res = read_response(&mut BufReader::new(s), false).unwrap();
        let seen = if res.status == 200 {
            srv.seen().last().cloned().unwrap_or_default()
        } else {
            String::new()
        };
        out.push(format!("{} early={early} {seen}", res.status));
    }
    out
}

#[test]
fn http_buffer_request_waits_for_the_body_and_req_body_decides_like_haproxy() {
    let opt = "  option http-buffer-request\n";
    let want = [
        "403 early=false ",
        "401 early=false ",
        "200 early=false POST /p HTTP/1.1 [x-len: 12] [x-size: 12]",
        "200 early=false POST /p HTTP/1.1 [x-len: 12] [x-size: 12]",
    ];
    for (who, start) in both() {
        assert_eq!(
            buffer_scenario(start, opt, ""),
            want,
            "{who}: in the frontend"
        );
        // In the backend only, the frontend's rules run before the body is waited for:
        // its `req.body` sees none of it (the backend's does).
        let mut be_want = want;
        be_want[0] = "200 early=false POST /p HTTP/1.1 [x-len: 17] [x-size: 17]";
        assert_eq!(
            buffer_scenario(start, "", opt),
            be_want,
            "{who}: in the backend"
        );
        // Without it the server is connected as soon as the head is processed.
        let without = buffer_scenario(start, "", "");
        assert!(
            without.iter().all(|r| r.starts_with("200 early=true")),
            "{who}: {without:?}"
        );
    }
}

/// `cookie … dynamic` with `dynamic-cookie-key` (from the defaults section): servers without
/// a `cookie` value get the one HAProxy derives from the key, their address and port; a
/// server's own value is kept; a client sending a derived value sticks to its server. The
/// same Set-Cookie values as Debian's HAProxy 2.6 (the ports differ per run, so the values
/// are compared between the two).
#[test]
fn dynamic_cookies_are_derived_as_haproxy_derives_them() {
    let (a, b, c) = (
        Recorder::start("aa", &[]),
        Recorder::start("bb", &[]),
        Recorder::start("cc", &[]),
    );
    let port = free_port();
    let cfg = format!(
        "{}  dynamic-cookie-key s3cr3t\nbackend b\n  balance roundrobin\n  cookie SRV insert dynamic\n  \
         server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n  server c 127.0.0.1:{} cookie fixed\n\
         frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n",
        DEFAULTS,
        a.port(),
        b.port(),
        c.port()
    );
    let run = |start: &Start| {
        let _p = start(&cfg, &[port]);
        let mut got = Vec::new();
        let mut cookies = Vec::new();
        for _ in 0..3 {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            write!(w, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
            let res = read_response(&mut r, false).unwrap();
            let set = res.header("set-cookie").unwrap_or("").to_string();
            cookies.push(set.split(';').next().unwrap_or("").to_string());
            got.push(format!("{} {set}", String::from_utf8_lossy(&res.body)));
        }
        // Back to b with its derived cookie, twice.
        for _ in 0..2 {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            write!(
                w,
                "GET / HTTP/1.1\r\nHost: t\r\nCookie: {}\r\nConnection: close\r\n\r\n",
                cookies[1]
            )
            .unwrap();
            let res = read_response(&mut r, false).unwrap();
            got.push(String::from_utf8_lossy(&res.body).into_owned());
        }
        got
    };
    let ours = run(&corelb);
    let hex = |v: &str| {
        let v = v.split(' ').nth(1).unwrap_or("");
        let v = v.strip_prefix("SRV=").unwrap_or("");
        let v = v.split(';').next().unwrap_or("");
        v.len() == 16 && v.bytes().all(|c| c.is_ascii_hexdigit())
    };
    assert!(ours[0].starts_with("aa ") && hex(&ours[0]), "{ours:?}");
    assert!(ours[1].starts_with("bb ") && hex(&ours[1]), "{ours:?}");
    assert_ne!(ours[0].split(' ').nth(1), ours[1].split(' ').nth(1));
    assert_eq!(ours[2], "cc SRV=fixed; path=/");
    assert_eq!(&ours[3..], ["bb", "bb"]);
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(ours, run(&haproxy), "corelb vs haproxy");
    }
}

/// A keep-alive client under `option prefer-last-server` on server a (maxconn 1), while
/// another client's request holds a's slot and a third waits in a's queue: which server
/// answers the first client's next request within a second ("wait" if none).
fn ka_queue_scenario(start: &Start, extra: &str) -> String {
    let (a, b) = (Recorder::start("aa", &[]), Recorder::start("bb", &[]));
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  http-reuse never\n  option prefer-last-server\n{extra}  \
         use-server a if {{ hdr(x-a) 1 }}\n  server a 127.0.0.1:{} maxconn 1\n  server b 127.0.0.1:{}\n",
        a.port(),
        b.port()
    );
    let _p = start(&cfg, &[port]);
    let open = || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (BufReader::new(s.try_clone().unwrap()), s)
    };
    let (mut r1, mut w1) = open();
    w1.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let first = read_response(&mut r1, false).unwrap();
    let (_r2, mut w2) = open();
    w2.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (_r3, mut w3) = open();
    w3.write_all(b"GET /queued HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    w1.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    w1.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let second = match read_response(&mut r1, false) {
        Ok(res) => String::from_utf8_lossy(&res.body).into_owned(),
        Err(_) => "wait".to_string(),
    };
    a.release.store(true, Ordering::SeqCst);
    format!("{} {second}", String::from_utf8_lossy(&first.body))
}

/// `max-keep-alive-queue N`: a keep-alive client stays on its last server unless that
/// server is full with N or more requests queued, then it is balanced (to b here); -1 (the
/// default) and a queue shorter than N keep it there, waiting. As HAProxy 2.6.
#[test]
fn max_keep_alive_queue_moves_a_client_off_a_queued_server_like_haproxy() {
    let cases = [
        ("  max-keep-alive-queue 1\n", "aa bb"),
        ("  max-keep-alive-queue 0\n", "aa bb"),
        ("  max-keep-alive-queue 2\n", "aa wait"),
        ("  max-keep-alive-queue -1\n", "aa wait"),
        ("", "aa wait"),
    ];
    for (who, start) in both() {
        for (extra, want) in cases {
            assert_eq!(ka_queue_scenario(start, extra), want, "{who}:\n{extra}");
        }
    }
}

/// "PATH BODY BACKEND/SERVER STATUS" of one HTTP/1.0 request per path, from the answer and
/// the log line.
fn answered_and_logged(p: &dyn Proc, port: u16, paths: &[&str]) -> Vec<String> {
    let mut got = Vec::new();
    for path in paths {
        let out = raw_exchange(port, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
        let body = out.rsplit("\r\n\r\n").next().unwrap_or("").to_string();
        let (server, _, status, _) = wait_logged(p, path);
        got.push(format!("{path} {body} {server} {status}"));
    }
    got
}

/// `option transparent`: a backend without `balance` sends what would be balanced to the
/// address the client's connection was going to (here moved by `http-request set-dst-port`,
/// as a TPROXY rule would), a `use-server` still reaches its server, and with `balance` it is
/// HAProxy's error. Which server answered and the log, compared with HAProxy.
#[test]
fn option_transparent_sends_what_is_balanced_where_the_client_was_going_like_haproxy() {
    let (d, s) = (Recorder::start("dd", &[]), Recorder::start("ss", &[]));
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  http-request set-dst-port int({d})\n  \
         use_backend both if {{ path_beg /both }}\n  default_backend only\n\
         backend only\n  option transparent\n\
         backend both\n  option transparent\n  use-server s if {{ path_end /direct }}\n  server s 127.0.0.1:{s}\n",
        d = d.port(),
        s = s.port()
    );
    let paths = ["/only/1", "/both/1", "/both/direct"];
    for (who, start) in both() {
        let p = start(&cfg, &[port]);
        let got = answered_and_logged(&*p, port, &paths);
        assert_eq!(
            got,
            [
                "/only/1 dd only/<NOSRV> 200",
                "/both/1 dd both/<NOSRV> 200",
                "/both/direct ss both/s 200",
            ],
            "{who}\n{}",
            p.log()
        );
    }
    let dir = TempDir::new("transparent");
    expect_check(
        &dir,
        &format!(
            "{DEFAULTS}backend bal\n  balance roundrobin\n  option transparent\n  server s 127.0.0.1:2\n"
        ),
        1,
        "backend 'bal' cannot use both transparent and balance mode.",
    );
}

/// `dispatch <addr>:<port>`, as HAProxy 2.6 uses it: a backend without a `balance` line sends
/// every request there (with servers too; the log names the server `<NOSRV>`), a `use-server`
/// still reaches its server, and with `balance` the dispatch address is ignored. Which
/// backend answered each request and the log's backend/server, compared with HAProxy.
#[test]
fn dispatch_sends_what_is_balanced_to_its_address_like_haproxy() {
    let (d, s) = (Recorder::start("dd", &[]), Recorder::start("ss", &[]));
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend f\n  bind 127.0.0.1:{port}\n  use_backend only if {{ path_beg /only }}\n  \
         use_backend both if {{ path_beg /both }}\n  default_backend bal\n\
         backend only\n  dispatch 127.0.0.1:{d}\n\
         backend both\n  dispatch 127.0.0.1:{d}\n  use-server s if {{ path_end /direct }}\n  server s 127.0.0.1:{s}\n\
         backend bal\n  balance roundrobin\n  dispatch 127.0.0.1:{d}\n  server s 127.0.0.1:{s}\n",
        d = d.port(),
        s = s.port()
    );
    let dir = TempDir::new("dispatch");
    let sock = dir.path("admin.sock");
    let cfg = cfg.replacen(
        "global\n",
        &format!("global\n  stats socket {} level admin\n", sock.display()),
        1,
    );
    let paths = ["/only/1", "/only/2", "/both/1", "/both/direct", "/bal/1"];
    for (who, start) in both() {
        let p = start(&cfg, &[port]);
        // The dispatch address is no server of the statistics; a backend with no other
        // server is UP, one with servers DOWN (none is balanced, so none counts).
        wait_unix_socket(&sock);
        let rows: Vec<String> = stats_cmd(&sock, "show stat")
            .lines()
            .filter(|l| l.starts_with("only,") || l.starts_with("both,"))
            .map(|l| {
                l.split(',')
                    .take(2)
                    .chain(l.split(',').nth(17))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(
            rows,
            ["only,BACKEND,UP", "both,s,no check", "both,BACKEND,DOWN"],
            "{who}"
        );
        let got = answered_and_logged(&*p, port, &paths);
        assert_eq!(
            got,
            [
                "/only/1 dd only/<NOSRV> 200",
                "/only/2 dd only/<NOSRV> 200",
                "/both/1 dd both/<NOSRV> 200",
                "/both/direct ss both/s 200",
                "/bal/1 ss bal/s 200",
            ],
            "{who}\n{}",
            p.log()
        );
    }
    expect_check(
        &dir,
        &format!(
            "{DEFAULTS}backend bal\n  balance roundrobin\n  dispatch 127.0.0.1:1\n  server s 127.0.0.1:2\n"
        ),
        0,
        "dispatch address of backend 'bal' will be ignored in balance mode.",
    );
}

/// A backend that answers each connection with what its first bytes were: `PROXY` when
/// they are a PROXY header, else `plain`.
fn first_bytes_backend() -> Backend {
    Backend::start(|mut s| {
        // A PROXY header comes at once; a plain client here sends nothing.
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b = [0u8; 5];
        let got = s.read_exact(&mut b).is_ok() && &b == b"PROXY";
        let _ = s.write_all(if got { b"PROXY\n" } else { b"plain\n" });
        let _ = s.shutdown(Shutdown::Write);
    })
}

/// The `no-*` server keywords undo what `default-server` set, as in HAProxy 2.6:
/// `no-send-proxy` (the server gets no PROXY header), `no-backup` (the server is active,
/// so it takes the traffic while the backup one waits), `no-tfo`, `no-check-send-proxy`,
/// `no-agent-check`. Before, corelb refused them as unknown keywords.
#[test]
fn server_no_keywords_undo_default_server_as_haproxy() {
    let pp = first_bytes_backend();
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    for (who, start) in both() {
        let (p1, p2) = (free_port(), free_port());
        let cfg = format!(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
listen pp\n  bind 127.0.0.1:{p1}\n  default-server send-proxy check-send-proxy tfo agent-check agent-port 1\n\
  server s 127.0.0.1:{} no-send-proxy no-check-send-proxy no-tfo no-agent-check\n\
listen bk\n  bind 127.0.0.1:{p2}\n  default-server backup\n  server a 127.0.0.1:{} \n  server b 127.0.0.1:{} no-backup\n",
            pp.port, a.port, b.port
        );
        let _p = start(&cfg, &[p1, p2]);
        assert_eq!(fetch_name(p1), "plain", "{who}: no-send-proxy");
        for _ in 0..3 {
            assert_eq!(
                fetch_name(p2),
                "b",
                "{who}: no-backup makes b the active server"
            );
        }
    }
}

/// `non-stick`: a server's connections are never stored in a stick table, so a client
/// that landed on it is balanced again next time; the stored server then holds it.
#[test]
fn non_stick_servers_are_not_stored_as_haproxy() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    for (who, start) in both() {
        let port = free_port();
        let cfg = format!(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
listen l\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  stick-table type ip size 10\n  stick on src\n\
  server a 127.0.0.1:{} non-stick\n  server b 127.0.0.1:{}\n",
            a.port, b.port
        );
        let _p = start(&cfg, &[port]);
        let names: Vec<String> = (0..5).map(|_| fetch_name(port)).collect();
        assert_eq!(names, ["a", "b", "b", "b", "b"], "{who}");
    }
}

/// A TCP option of the socket process `pid` holds for the connection between local port
/// `local` and remote port `remote` (found through /proc/net/tcp and /proc/PID/fd, read
/// with pidfd_getfd: the test runs as root).
fn peer_tcp_opt(pid: i32, local: u16, remote: u16, opt: libc::c_int) -> Option<i32> {
    peer_sockopt(pid, local, remote, libc::IPPROTO_TCP, opt)
}

/// [`peer_tcp_opt`] at any level.
fn peer_sockopt(
    pid: i32,
    local: u16,
    remote: u16,
    level: libc::c_int,
    opt: libc::c_int,
) -> Option<i32> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let inode = tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
        (port(f[1])? == local && port(f[2])? == remote).then(|| f[9].to_string())
    })?;
    let want = format!("socket:[{inode}]");
    let fd = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == want))?
        .file_name()
        .to_string_lossy()
        .parse::<i32>()
        .ok()?;
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if pidfd < 0 {
            return None;
        }
        let mine = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
        libc::close(pidfd);
        if mine < 0 {
            return None;
        }
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let r = libc::getsockopt(
            mine,
            level,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        );
        libc::close(mine);
        (r == 0).then_some(v)
    }
}

/// `clitcpka-idle/intvl/cnt` and `srvtcpka-*` set the keep-alive probes of the client and
/// server sockets (with `option clitcpka`/`srvtcpka`), and a server's `tcp-ut` its
/// TCP_USER_TIMEOUT, as HAProxy 2.6 sets them; before, they were unknown keywords.
#[test]
fn tcp_keepalive_probes_and_server_user_timeout_as_haproxy() {
    let be = Backend::named_holding("a");
    for (who, start) in both() {
        let port = free_port();
        let cfg = format!(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
listen l\n  bind 127.0.0.1:{port}\n  option clitcpka\n  clitcpka-idle 71\n  clitcpka-intvl 13\n  clitcpka-cnt 4\n\
  option srvtcpka\n  srvtcpka-idle 2m\n  srvtcpka-intvl 17s\n  srvtcpka-cnt 6\n\
  server s 127.0.0.1:{} tcp-ut 9s\n",
            be.port
        );
        let p = start(&cfg, &[port]);
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut line = String::new();
        BufReader::new(&c).read_line(&mut line).unwrap();
        let me = c.local_addr().unwrap().port();
        let pid = p.pid();
        let cli = |o| peer_tcp_opt(pid, port, me, o);
        assert_eq!(
            [
                cli(libc::TCP_KEEPIDLE),
                cli(libc::TCP_KEEPINTVL),
                cli(libc::TCP_KEEPCNT)
            ],
            [Some(71), Some(13), Some(4)],
            "{who}: client side"
        );
        let server_port = {
            // corelb's end of the server connection: the one whose remote port is the
            // backend's.
            let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
            tcp.lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
                    (port(f[2])? == be.port).then(|| port(f[1]))?
                })
                .find(|lp| peer_tcp_opt(pid, *lp, be.port, libc::TCP_KEEPIDLE).is_some())
                .expect("the server connection")
        };
        let s = |o| peer_tcp_opt(pid, server_port, be.port, o);
        assert_eq!(
            [
                s(libc::TCP_KEEPIDLE),
                s(libc::TCP_KEEPINTVL),
                s(libc::TCP_KEEPCNT),
                s(libc::TCP_USER_TIMEOUT)
            ],
            [Some(120), Some(17), Some(6), Some(9000)],
            "{who}: server side"
        );
    }
}

/// `option tcp-smart-accept`: the listening socket holds back the handshake's quick ACK
/// (TCP_QUICKACK 0) for mode http frontends unless `no option tcp-smart-accept`, and for
/// mode tcp ones only with the option; read from the listening socket of corelb and of
/// HAProxy 2.6. Before, the option was an unknown one.
#[test]
fn tcp_smart_accept_sets_the_listeners_quick_ack_as_haproxy() {
    for (who, start) in both() {
        let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let cfg = format!(
            "defaults\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend h\n  mode http\n  bind 127.0.0.1:{}\n  default_backend b\n\
frontend hn\n  mode http\n  no option tcp-smart-accept\n  bind 127.0.0.1:{}\n  default_backend b\n\
frontend t\n  mode tcp\n  bind 127.0.0.1:{}\n  default_backend bt\n\
frontend ts\n  mode tcp\n  option tcp-smart-accept\n  bind 127.0.0.1:{}\n  default_backend bt\n\
backend b\n  mode http\n  server s 127.0.0.1:1\nbackend bt\n  mode tcp\n  server s 127.0.0.1:1\n",
            ports[0], ports[1], ports[2], ports[3]
        );
        let p = start(&cfg, &ports);
        let quickack: Vec<Option<i32>> = ports
            .iter()
            .map(|&port| peer_tcp_opt(p.pid(), port, 0, libc::TCP_QUICKACK))
            .collect();
        assert_eq!(quickack, [Some(0), Some(1), Some(1), Some(0)], "{who}");
    }
}

/// `http-request set-tos` and `http-response set-mark`: the client connection's IP_TOS and
/// SO_MARK, read from corelb's and HAProxy 2.6's socket after a kept-alive answer. Before,
/// both actions were "not supported yet".
#[test]
fn set_tos_and_set_mark_mark_the_client_connection_as_haproxy() {
    let be = Serve::start("b", &[]);
    for (who, start) in both() {
        let port = free_port();
        let cfg = format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{port}\n  http-request set-tos 0x20 if {{ path /t }}\n\
  http-response set-mark 7 if {{ status 200 }}\n  default_backend b\n\
backend b\n  server s 127.0.0.1:{}\n",
            be.port
        );
        let p = start(&cfg, &[port]);
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        (&c).write_all(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let res = read_response(&mut r, false).unwrap();
        assert_eq!(res.status, 200, "{who}");
        let me = c.local_addr().unwrap().port();
        let opt = |level, o| peer_sockopt(p.pid(), port, me, level, o);
        assert_eq!(
            (
                opt(libc::IPPROTO_IP, libc::IP_TOS),
                opt(libc::SOL_SOCKET, libc::SO_MARK)
            ),
            (Some(0x20), Some(7)),
            "{who}"
        );
    }
}

/// `tcp-request connection|session|content set-tos` and `set-mark`: the client connection's
/// IP_TOS and SO_MARK as the last rule that ran left them, read from corelb's and HAProxy
/// 2.6's socket once the server answered: connection rules in mode tcp (content rules then
/// change the mark again), session rules, and content rules in mode http. Before, the three
/// rule sets refused both actions as "not supported yet".
#[test]
fn tcp_request_set_tos_and_set_mark_mark_the_client_connection_as_haproxy() {
    let echo = Backend::start(|mut s| {
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    let web = Serve::start("b", &[]);
    for (who, start) in both() {
        let (t1, t2, h) = (free_port(), free_port(), free_port());
        let cfg = format!(
            "defaults\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend ft\n  mode tcp\n  bind 127.0.0.1:{t1}\n  tcp-request connection set-tos 0x20\n\
  tcp-request connection set-mark 5\n  tcp-request content set-mark 0x9 if {{ src 127.0.0.1 }}\n\
  default_backend bt\n\
frontend fs\n  mode tcp\n  bind 127.0.0.1:{t2}\n  tcp-request session set-mark 6\n\
  tcp-request session set-tos 8 if {{ src 10.0.0.1 }}\n  default_backend bt\n\
frontend fh\n  mode http\n  bind 127.0.0.1:{h}\n  tcp-request content set-tos 16\n\
  tcp-request content set-mark 12\n  default_backend bh\n\
backend bt\n  mode tcp\n  server s 127.0.0.1:{}\n\
backend bh\n  mode http\n  server s 127.0.0.1:{}\n",
            echo.port, web.port
        );
        let p = start(&cfg, &[t1, t2, h]);
        let mut seen = Vec::new();
        for (port, send) in [
            (t1, &b"ping"[..]),
            (t2, &b"ping"[..]),
            (h, &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]),
        ] {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(send).unwrap();
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).unwrap();
            let me = c.local_addr().unwrap().port();
            let opt = |level, o| peer_sockopt(p.pid(), port, me, level, o);
            seen.push((
                opt(libc::IPPROTO_IP, libc::IP_TOS),
                opt(libc::SOL_SOCKET, libc::SO_MARK),
            ));
        }
        assert_eq!(
            seen,
            [
                (Some(0x20), Some(9)),
                (Some(0), Some(6)),
                (Some(16), Some(12))
            ],
            "{who}"
        );
    }
}

/// `http-request set-priority-class` and `set-priority-offset`: requests waiting for a
/// server at `maxconn 1` leave the queue by class (lower first), then by arrival time plus
/// offset, as in HAProxy's queue; `prio_class` and `prio_offset` read what the rules set
/// (the server sees them in a header). The same order through Debian's HAProxy 2.6. Before,
/// both actions were "not supported yet" and the queue served waiters in no set order.
#[test]
fn set_priority_orders_the_queue_as_haproxy() {
    for (who, start) in both() {
        let srv = Recorder::start("s", &["x-prio"]);
        let port = free_port();
        let cfg = format!(
            "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{port}\n  default_backend b\n\
backend b\n  http-request set-priority-class int(5) if {{ path /b }}\n\
  http-request set-priority-class int(-5) if {{ path /c }}\n\
  http-request set-priority-offset int(-2000) if {{ path /e }}\n\
  http-request set-priority-class int(9999) if {{ path /f }}\n\
  http-request set-header x-prio %[prio_class]/%[prio_offset]\n\
  server s 127.0.0.1:{} maxconn 1\n",
            srv.port()
        );
        let _p = start(&cfg, &[port]);
        let slow = send_get(port, "/slow");
        assert!(
            eventually(Duration::from_secs(5), || (!srv.seen().is_empty())
                .then_some(()))
            .is_some(),
            "{who}: /slow reached the server"
        );
        // Queued in this order, 100 ms apart.
        let mut queued = Vec::new();
        for p in ["/b", "/d", "/c", "/e", "/f"] {
            queued.push(send_get(port, p));
            std::thread::sleep(Duration::from_millis(100));
        }
        srv.release.store(true, Ordering::SeqCst);
        for mut c in std::iter::once(slow).chain(queued) {
            let mut r = BufReader::new(&mut c);
            assert_eq!(read_response(&mut r, false).unwrap().status, 200, "{who}");
        }
        assert_eq!(
            srv.seen(),
            [
                "GET /slow HTTP/1.1 [x-prio: 0/0]",
                "GET /c HTTP/1.1 [x-prio: -5/0]",
                "GET /e HTTP/1.1 [x-prio: 0/-2000]",
                "GET /d HTTP/1.1 [x-prio: 0/0]",
                "GET /b HTTP/1.1 [x-prio: 5/0]",
                "GET /f HTTP/1.1 [x-prio: 2047/0]",
            ],
            "{who}"
        );
    }
}

/// `tcp-request content set-priority-class` in mode tcp: connections waiting for the one
/// slot of a `maxconn 1` server leave the queue by class; the same order through Debian's
/// HAProxy 2.6.
#[test]
fn tcp_request_set_priority_orders_the_queue_as_haproxy() {
    for (who, start) in both() {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let release = Arc::new(AtomicBool::new(false));
        let (s2, r2) = (seen.clone(), release.clone());
        // Records each connection's first bytes, answers and closes; holds "slow".
        let srv = Backend::start(move |mut s| {
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            let got = String::from_utf8_lossy(&buf[..n]).to_string();
            s2.lock().unwrap().push(got.clone());
            while got == "slow" && !r2.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = s.write_all(b"ok");
        });
        let port = free_port();
        let cfg = format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n  timeout queue 10s\n\
frontend fe\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 2s\n\
  tcp-request content set-priority-class int(5) if {{ req.payload(0,1) -m str b }}\n\
  tcp-request content set-priority-class int(-5) if {{ req.payload(0,1) -m str c }}\n\
  tcp-request content accept if {{ req.len gt 0 }}\n  default_backend b\n\
backend b\n  server s 127.0.0.1:{} maxconn 1\n",
            srv.port
        );
        let _p = start(&cfg, &[port]);
        let send = |what: &str| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(what.as_bytes()).unwrap();
            c
        };
        let slow = send("slow");
        let got = eventually(Duration::from_secs(5), || {
            (!seen.lock().unwrap().is_empty()).then_some(())
        });
        assert!(got.is_some(), "{who}: slow reached the server");
        let mut queued = Vec::new();
        for p in ["b", "d", "c"] {
            queued.push(send(p));
            std::thread::sleep(Duration::from_millis(100));
        }
        release.store(true, Ordering::SeqCst);
        // Each client reads to the end and closes at once: a session holds the server's
        // slot until both sides have closed (HAProxy too), so one client left open would
        // keep the others queued.
        let readers: Vec<_> = std::iter::once(slow)
            .chain(queued)
            .map(|mut c| {
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    let _ = c.read_to_end(&mut out);
                    out
                })
            })
            .collect();
        for r in readers {
            assert_eq!(r.join().unwrap(), b"ok", "{who}");
        }
        assert_eq!(*seen.lock().unwrap(), ["slow", "c", "d", "b"], "{who}");
    }
}
