//! Health-check options, end to end.
//!
//! The predefined checks (`option redis-check`, `mysql-check`, `pgsql-check`, `smtpchk`,
//! `ldap-check`, `ssl-hello-chk`, `spop-check`) against servers that answer right and
//! servers that answer wrong: a real redis-server (with and without a password) and small
//! servers here that speak each protocol's answer. The same configuration runs through
//! Debian's HAProxy, which must mark the same servers up and down.
//!
//! What a check's verdict does besides up/down: `http-check disable-on-404` (NOLB),
//! `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`.
//!
//! Server limits and states that follow something else, each also run through HAProxy:
//! `maxqueue`, `minconn` + `fullconn`, `slowstart`, `track`, agent checks.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// A `redis-server` on a free port; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Redis {
    fn start(extra: &[&str]) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIP: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let dir = TempDir::new("redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let r = Redis {
            child,
            port,
            _dir: dir,
        };
        let up = eventually(Duration::from_secs(10), || listening(port).then_some(()));
        assert!(up.is_some(), "redis-server did not listen on {port}");
        Some(r)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    match s.read_exact(&mut b) {
        Ok(()) => b,
        Err(_) => Vec::new(),
    }
}

/// A server that reads what a check sends first (`first` bytes, or one line when 0),
/// then answers with `reply`, then (SMTP) answers each further line from `more`.
fn answering(
    greeting: &'static [u8],
    first: usize,
    reply: &'static [u8],
    more: &'static [&'static [u8]],
) -> Backend {
    Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(greeting);
        let mut r = BufReader::new(s.try_clone().unwrap());
        let got = if first > 0 {
            let mut b = vec![0u8; first];
            r.read_exact(&mut b).is_ok()
        } else {
            let mut l = String::new();
            matches!(r.read_line(&mut l), Ok(n) if n > 0)
        };
        if !got {
            return;
        }
        let _ = s.write_all(reply);
        for m in more {
            let mut l = String::new();
            if !matches!(r.read_line(&mut l), Ok(n) if n > 0) {
                return;
            }
            let _ = s.write_all(m);
        }
        // Hold until the checker closes.
        let mut b = [0u8; 64];
        while let Ok(n) = s.read(&mut b) {
            if n == 0 {
                break;
            }
        }
    })
}

/// A PostgreSQL server's answer to a StartupMessage: it reads the length first.
fn pgsql(reply: &'static [u8]) -> Backend {
    Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let len = read_n(&mut s, 4);
        if len.len() != 4 {
            return;
        }
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let body = read_n(&mut s, n.saturating_sub(4));
        // Protocol 3.0, then "user\0haproxy\0\0".
        if body.starts_with(b"\x00\x03\x00\x00user\0haproxy\0") {
            let _ = s.write_all(reply);
        }
        let _ = read_n(&mut s, 1);
    })
}

/// A MySQL server: greets on connect, reads the client's authentication packet, answers.
fn mysql(reply: &'static [u8]) -> Backend {
    Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut greet = b"\x0a8.0.36-test\0\x01\x00\x00\x00abcdefgh\0".to_vec();
        greet.extend_from_slice(&[0xff, 0xf7, 0x21, 0x02, 0x00]);
        let mut pkt = vec![greet.len() as u8, 0, 0, 0];
        pkt.extend_from_slice(&greet);
        let _ = s.write_all(&pkt);
        let h = read_n(&mut s, 4);
        if h.len() != 4 {
            return;
        }
        let n = h[0] as usize | (h[1] as usize) << 8;
        let auth = read_n(&mut s, n);
        if auth.windows(8).any(|w| w == b"haproxy\0") {
            let _ = s.write_all(reply);
        }
        let _ = read_n(&mut s, 5);
    })
}

/// An SPOP agent frame with these items (key, typed value).
fn spop_frame(ftype: u8, items: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = vec![ftype, 0, 0, 0, 1, 0, 0];
    for (k, v) in items {
        body.push(k.len() as u8);
        body.extend_from_slice(k.as_bytes());
        body.extend_from_slice(v);
    }
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f
}

fn spop(reply: Vec<u8>) -> Backend {
    Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let len = read_n(&mut s, 4);
        if len.len() != 4 {
            return;
        }
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let hello = read_n(&mut s, n);
        // A HAPROXY-HELLO (type 1) with the healthcheck item.
        if hello.first() == Some(&1) && hello.windows(11).any(|w| w == b"healthcheck") {
            let _ = s.write_all(&reply);
        }
        let _ = read_n(&mut s, 1);
    })
}

/// Every backend of the test: its `option` line, and a server answering right and one
/// answering wrong.
struct Pools {
    _redis: Vec<Redis>,
    _servers: Vec<Backend>,
    backends: Vec<(&'static str, &'static str, u16, u16)>,
}

fn pools() -> Option<Pools> {
    let redis_ok = Redis::start(&[])?;
    // A password: PING gets -NOAUTH.
    let redis_auth = Redis::start(&["--requirepass", "secret"])?;
    let mut servers = Vec::new();
    let mut backends = vec![(
        "redis",
        "option redis-check",
        redis_ok.port,
        redis_auth.port,
    )];
    let mut add = |name, opt, good: Backend, bad: Backend| {
        backends.push((name, opt, good.port, bad.port));
        servers.push(good);
        servers.push(bad);
    };
    add(
        "smtp",
        "option smtpchk EHLO lb.test",
        answering(
            b"220 mx.test ESMTP\r\n",
            0,
            b"250-mx.test\r\n250 PIPELINING\r\n",
            &[b"221 bye\r\n"],
        ),
        answering(b"554 mx.test busy\r\n", 0, b"", &[]),
    );
    add(
        "pgsql",
        "option pgsql-check user haproxy",
        pgsql(b"R\0\0\0\x08\0\0\0\0"),
        pgsql(b"E\0\0\0\x32SFATAL\0C28000\0Mrole \"haproxy\" does not exist\0\0"),
    );
    add(
        "mysql",
        "option mysql-check user haproxy",
        mysql(b"\x07\0\0\x02\0\0\0\x02\0\0\0"),
        mysql(b"\x22\0\0\x02\xff\x15\x04#28000Access denied for haproxy"),
    );
    add(
        "ldap",
        "option ldap-check",
        answering(
            b"",
            14,
            b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00",
            &[],
        ),
        // resultCode 49: invalidCredentials.
        answering(
            b"",
            14,
            b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00",
            &[],
        ),
    );
    add(
        "sslhello",
        "option ssl-hello-chk",
        // A TLS server refusing SSLv3 still speaks TLS: an alert record.
        answering(b"", 5, b"\x15\x03\x00\x00\x02\x02\x28", &[]),
        answering(b"", 5, b"HTTP/1.1 400 Bad Request\r\n\r\n", &[]),
    );
    add(
        "spop",
        "option spop-check",
        spop(spop_frame(
            101,
            &[
                ("version", b"\x08\x032.0"),
                ("max-frame-size", b"\x03\xfc\xf0\x06"),
                ("capabilities", b"\x08\x00"),
            ],
        )),
        spop(spop_frame(
            102,
            &[
                ("status-code", b"\x03\x02"),
                ("message", b"\x08\x09not ready"),
            ],
        )),
    );
    Some(Pools {
        _redis: vec![redis_ok, redis_auth],
        _servers: servers,
        backends,
    })
}

fn config(p: &Pools, stats: u16) -> String {
    let mut c = format!(
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n  timeout check 1s\n  default-server check inter 200 rise 1 fall 1\n\nlisten stats\n  bind 127.0.0.1:{stats}\n  mode http\n  stats enable\n  stats uri /stats\n"
    );
    for (name, opt, good, bad) in &p.backends {
        c.push_str(&format!(
            "\nbackend {name}\n  {opt}\n  server good 127.0.0.1:{good}\n  server bad 127.0.0.1:{bad}\n"
        ));
    }
    c
}

/// `backend/server` → the first word of its status on the stats page's CSV.
fn states(stats: u16) -> BTreeMap<String, String> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{stats}/stats;csv"))
        .output()
        .expect("curl");
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = body.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else {
        return BTreeMap::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > st && f[sv] != "FRONTEND" && f[sv] != "BACKEND" && f[px] != "stats")
        .map(|f| {
            let word = f[st].split(' ').next().unwrap_or_default().to_string();
            (format!("{}/{}", f[px], f[sv]), word)
        })
        .collect()
}

fn expected(p: &Pools) -> BTreeMap<String, String> {
    p.backends
        .iter()
        .flat_map(|(name, ..)| {
            [
                (format!("{name}/good"), "UP".to_string()),
                (format!("{name}/bad"), "DOWN".to_string()),
            ]
        })
        .collect()
}

/// The states once they are the expected ones (or the last seen after 10 s), held for a
/// few more checks to see that no good server flaps.
fn settled(stats: u16, want: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let _ = eventually(Duration::from_secs(10), || {
        (states(stats) == *want).then_some(())
    });
    std::thread::sleep(Duration::from_millis(800));
    states(stats)
}

#[test]
fn predefined_checks_tell_right_answers_from_wrong_ones() {
    let Some(p) = pools() else { return };
    let stats = free_port();
    let lb = Corelb::start(&config(&p, stats), &[], &[stats]);
    let want = expected(&p);
    assert_eq!(settled(stats, &want), want, "{}", lb.log());
    let log = lb.log();
    // HAProxy's reasons for the wrong answers.
    for needle in [
        "Server smtp/bad is DOWN, reason: Layer7 wrong status, code: 554, info: \"mx.test busy\"",
        "Server pgsql/bad is DOWN, reason: Layer7 invalid response",
        "Server mysql/bad is DOWN, reason: Layer7 wrong status, code: 1045",
        "Server ldap/bad is DOWN, reason: Layer7 wrong status, code: 49",
        "Server sslhello/bad is DOWN, reason: Layer6 invalid response",
        "Server spop/bad is DOWN, reason: Layer7 invalid response, info: \"not ready\"",
        "Server redis/bad is DOWN, reason: Layer7",
    ] {
        assert!(log.contains(needle), "no '{needle}' in:\n{log}");
    }
    assert!(!log.contains("/good is DOWN"), "{log}");
}

#[test]
fn predefined_checks_match_haproxy() {
    let Some(p) = pools() else { return };
    let want = expected(&p);
    let hstats = free_port();
    let Some(h) = Haproxy::start(&config(&p, hstats), &[hstats]) else {
        return;
    };
    let theirs = settled(hstats, &want);
    drop(h);
    let stats = free_port();
    let lb = Corelb::start(&config(&p, stats), &[], &[stats]);
    let ours = settled(stats, &want);
    assert_eq!(ours, theirs, "corelb and HAProxy disagree\n{}", lb.log());
    assert_eq!(theirs, want, "HAProxy did not judge as this test expects");
}

/// An HTTP health endpoint answering every request with the status in `code`.
fn health_endpoint(code: Arc<AtomicU16>) -> Backend {
    Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = Vec::new();
        let mut b = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&b[..n]),
            }
        }
        let c = code.load(Ordering::Relaxed);
        let phrase = match c {
            200 => "OK",
            404 => "Not Found",
            _ => "Service Unavailable",
        };
        let _ = write!(s, "HTTP/1.0 {c} {phrase}\r\nContent-Length: 0\r\n\r\n");
    })
}

/// Waits for a log line containing `needle`.
fn wait_log(lb: &Corelb, needle: &str) {
    let seen = eventually(Duration::from_secs(10), || {
        lb.log().contains(needle).then_some(())
    });
    assert!(seen.is_some(), "no '{needle}' in the log:\n{}", lb.log());
}

const TCP_DEFAULTS: &str = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  timeout check 1s\n";

#[test]
fn a_404_drains_a_server_and_a_200_brings_it_back() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let code = Arc::new(AtomicU16::new(200));
    let h = health_endpoint(code.clone());
    let (port, stats) = (free_port(), free_port());
    let cfg = format!(
        "{TCP_DEFAULTS}\nlisten stats\n  bind 127.0.0.1:{stats}\n  mode http\n  stats enable\n  stats uri /stats\n\nlisten l\n  bind 127.0.0.1:{port}\n  option httpchk GET /health\n  http-check disable-on-404\n  default-server check inter 100 rise 1 fall 1\n  server a 127.0.0.1:{} port {}\n  # b does not speak HTTP: not checked.\n  server b 127.0.0.1:{} no-check\n",
        a.port, h.port, b.port
    );
    let lb = Corelb::start(&cfg, &[], &[port, stats]);
    let st = |s: &str| states(stats).get(s).cloned().unwrap_or_default();
    assert_eq!(st("l/a"), "UP");
    code.store(404, Ordering::Relaxed);
    wait_log(
        &lb,
        "Server l/a is stopping, reason: Layer7 check conditionally passed, code: 404",
    );
    assert_eq!(st("l/a"), "NOLB");
    for _ in 0..6 {
        assert_eq!(
            fetch_name(port),
            "b",
            "a drained server took a new connection"
        );
    }
    // A server that fails while draining goes down; a 404 does not bring it back.
    code.store(503, Ordering::Relaxed);
    wait_log(&lb, "Server l/a is DOWN");
    code.store(404, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(st("l/a"), "DOWN", "{}", lb.log());
    code.store(200, Ordering::Relaxed);
    wait_log(&lb, "Server l/a is UP");
    assert_eq!(st("l/a"), "UP");
    let names: Vec<String> = (0..6).map(|_| fetch_name(port)).collect();
    assert!(names.iter().any(|n| n == "a"), "{names:?}");
}

/// Connects through `port` and returns the stream once the server's name came back.
fn hold(port: u16, name: &str) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_line_within(&s, Duration::from_secs(5)).trim(), name);
    s
}

/// Whether the proxy closed `s` within `within` (EOF or reset), not just left it idle.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The connection through the proxy with the option is closed; the one through the proxy
/// without it stays open.
fn closed_only_with_the_option(with: &mut TcpStream, without: &mut TcpStream, what: &str) {
    assert!(closed_within(with, Duration::from_secs(5)), "{what}");
    assert!(
        !closed_within(without, Duration::from_millis(500)),
        "without the option, the connection must stay"
    );
}

#[test]
fn on_marked_down_shutdown_sessions_closes_the_servers_connections() {
    let (a, b) = (Backend::named_holding("a"), Backend::named_holding("b"));
    let code = Arc::new(AtomicU16::new(200));
    let h = health_endpoint(code.clone());
    let (pa, pb) = (free_port(), free_port());
    // Two proxies on the same health endpoint: only `kill` has the option.
    let cfg = format!(
        "{TCP_DEFAULTS}\nlisten kill\n  bind 127.0.0.1:{pa}\n  option httpchk\n  server a 127.0.0.1:{} check port {} inter 100 rise 1 fall 1 on-marked-down shutdown-sessions\n\nlisten keep\n  bind 127.0.0.1:{pb}\n  option httpchk\n  server b 127.0.0.1:{} check port {} inter 100 rise 1 fall 1\n",
        a.port, h.port, b.port, h.port
    );
    let lb = Corelb::start(&cfg, &[], &[pa, pb]);
    let (mut ca, mut cb) = (hold(pa, "a"), hold(pb, "b"));
    code.store(503, Ordering::Relaxed);
    wait_log(&lb, "Server kill/a is DOWN");
    wait_log(&lb, "Server keep/b is DOWN");
    closed_only_with_the_option(
        &mut ca,
        &mut cb,
        "a's connection outlived its server's fall",
    );
}

/// A server that `observe layer4` marks down goes through the same change as one its
/// checks mark down: `on-marked-down shutdown-sessions` ends its connections, logged `DD`
/// (killed because the server went down, while moving data).
#[test]
fn an_observed_mark_down_also_shuts_the_servers_sessions_down() {
    let a = Backend::named_holding("a");
    let h = health_endpoint(Arc::new(AtomicU16::new(200)));
    let pa = free_port();
    let cfg = format!(
        "global\n  log stderr local0\n{TCP_DEFAULTS}  log global\n  option tcplog\n\nlisten kill\n  bind 127.0.0.1:{pa}\n  option httpchk\n  server a 127.0.0.1:{} check port {} inter 10s rise 1 fall 1 observe layer4 error-limit 1 on-error mark-down on-marked-down shutdown-sessions\n",
        a.port, h.port
    );
    let lb = Corelb::start(&cfg, &[], &[pa]);
    let mut held = hold(pa, "a");
    // a stops listening: the next connection to it fails, and `observe` marks it down.
    drop(a);
    let next = TcpStream::connect(("127.0.0.1", pa)).unwrap();
    read_line_within(&next, Duration::from_secs(5));
    wait_log(&lb, "Server kill/a is DOWN");
    assert!(
        closed_within(&mut held, Duration::from_secs(5)),
        "a's connection outlived its mark-down"
    );
    wait_log(&lb, " DD ");
    let log = lb.log();
    let line = log.lines().find(|l| l.contains(" DD ")).unwrap();
    assert!(line.contains(" kill/a "), "{line}");
}

#[test]
fn on_marked_up_shutdown_backup_sessions_closes_the_backups_connections() {
    let (a, bk1, bk2) = (
        Backend::named("a"),
        Backend::named_holding("bk1"),
        Backend::named_holding("bk2"),
    );
    let code = Arc::new(AtomicU16::new(503));
    let h = health_endpoint(code.clone());
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{TCP_DEFAULTS}\nlisten kill\n  bind 127.0.0.1:{p1}\n  option httpchk\n  server a 127.0.0.1:{} check port {} inter 100 rise 1 fall 1 on-marked-up shutdown-backup-sessions\n  server bk 127.0.0.1:{} backup\n\nlisten keep\n  bind 127.0.0.1:{p2}\n  option httpchk\n  server a 127.0.0.1:{} check port {} inter 100 rise 1 fall 1\n  server bk 127.0.0.1:{} backup\n",
        a.port, h.port, bk1.port, a.port, h.port, bk2.port
    );
    let lb = Corelb::start(&cfg, &[], &[p1, p2]);
    wait_log(&lb, "Server kill/a is DOWN");
    wait_log(&lb, "Server keep/a is DOWN");
    let (mut c1, mut c2) = (hold(p1, "bk1"), hold(p2, "bk2"));
    code.store(200, Ordering::Relaxed);
    wait_log(&lb, "Server kill/a is UP");
    wait_log(&lb, "Server keep/a is UP");
    closed_only_with_the_option(
        &mut c1,
        &mut c2,
        "the backup's connection outlived the active server's return",
    );
    assert_eq!(fetch_name(p1), "a");
}

/// `corelb -c` on `path` fails with each message at its line of bad.cfg.
fn expect_errors(path: &std::path::Path, want: &[(u32, &str)]) {
    let (code, _, err) = check_config(path);
    assert_eq!(code, 1, "{err}");
    for (line, what) in want {
        let at = format!("bad.cfg:{line}:");
        assert!(
            err.lines().any(|l| l.contains(&at) && l.contains(what)),
            "no '{what}' at {at}:\n{err}"
        );
    }
}

#[test]
fn wrong_arguments_are_errors_with_their_line() {
    let dir = TempDir::new("checkopts");
    let path = dir.write(
        "bad.cfg",
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend a\n  option pgsql-check\nbackend b\n  option mysql-check user u post-99\nbackend c\n  option redis-check now\nbackend d\n  option httpchk\n  http-check disable-on-404 please\nbackend e\n  server s 127.0.0.1:1 check on-marked-down drain\n  server t 127.0.0.1:2 check on-marked-up shutdown-sessions\n",
    );
    expect_errors(
        &path,
        &[
            (7, "expects 'user <username>'"),
            (9, "got 'post-99'"),
            (11, "unexpected argument 'now'"),
            (14, "unexpected argument 'please'"),
            (16, "'on-marked-down' expects 'shutdown-sessions'"),
            (17, "'on-marked-up' expects 'shutdown-backup-sessions'"),
        ],
    );
    let good = dir.write(
        "good.cfg",
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend a\n  option pgsql-check user haproxy\n  option mysql-check user haproxy post-80\n  option smtpchk EHLO lb.test\n  server s 127.0.0.1:1 check on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions\n",
    );
    let (code, _, err) = check_config(&good);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn disable_on_404_matches_haproxy() {
    let endpoints: Vec<(&str, Backend)> = [("ok", 200), ("gone", 404), ("failing", 503)]
        .into_iter()
        .map(|(n, c)| (n, health_endpoint(Arc::new(AtomicU16::new(c)))))
        .collect();
    let config = |stats: u16| {
        let mut c = format!(
            "{TCP_DEFAULTS}\nlisten stats\n  bind 127.0.0.1:{stats}\n  mode http\n  stats enable\n  stats uri /stats\n\nbackend web\n  option httpchk GET /health\n  http-check disable-on-404\n  http-check expect status 200\n  default-server check inter 200 rise 1 fall 1\n"
        );
        for (name, b) in &endpoints {
            c.push_str(&format!("  server {name} 127.0.0.1:{}\n", b.port));
        }
        c
    };
    let want: BTreeMap<String, String> = [("ok", "UP"), ("gone", "NOLB"), ("failing", "DOWN")]
        .into_iter()
        .map(|(n, s)| (format!("web/{n}"), s.to_string()))
        .collect();
    let hstats = free_port();
    let Some(h) = Haproxy::start(&config(hstats), &[hstats]) else {
        return;
    };
    let theirs = settled(hstats, &want);
    drop(h);
    let stats = free_port();
    let lb = Corelb::start(&config(stats), &[], &[stats]);
    let ours = settled(stats, &want);
    assert_eq!(ours, theirs, "corelb and HAProxy disagree\n{}", lb.log());
    assert_eq!(theirs, want, "HAProxy did not judge as this test expects");
}

// ---- Server limits and state that follow: maxqueue, minconn, slowstart, track ----

/// The stats page's CSV.
fn csv(stats: u16) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{stats}/stats;csv"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A row's field, or "" when the row is not there (yet).
fn field(csv: &str, px: &str, sv: &str, name: &str) -> String {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return String::new();
    };
    let header: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let Some(i) = header.iter().position(|h| *h == name) else {
        return String::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > i && f[0] == px && f[1] == sv)
        .map(|f| f[i].to_string())
        .unwrap_or_default()
}

/// An HTTP server that holds each request until `gate` opens, then answers its name;
/// `active` counts the requests it holds, `peak` the most it held at once.
struct Gated {
    backend: Backend,
    gate: Arc<std::sync::atomic::AtomicBool>,
    active: Arc<std::sync::atomic::AtomicUsize>,
    peak: Arc<std::sync::atomic::AtomicUsize>,
}

impl Gated {
    fn start(name: &'static str) -> Gated {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        let gate = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (g, a, p) = (gate.clone(), active.clone(), peak.clone());
        let backend = Backend::start(move |s| {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            if read_request_head(&mut r).is_none() {
                return;
            }
            let now = a.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            let _ = eventually(Duration::from_secs(20), || {
                g.load(Ordering::SeqCst).then_some(())
            });
            a.fetch_sub(1, Ordering::SeqCst);
            let _ = (&s).write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                )
                .as_bytes(),
            );
        });
        Gated {
            backend,
            gate,
            active,
            peak,
        }
    }

    fn port(&self) -> u16 {
        self.backend.port
    }

    fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        self.gate.store(true, Ordering::SeqCst);
    }
}

/// One request on its own thread: "STATUS BODY" on the channel (or "closed").
fn request_bg(port: u16, cookie: Option<&str>) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    std::thread::spawn(move || {
        let got = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(20)))?;
            s.write_all(
                format!("GET / HTTP/1.1\r\nHost: t\r\n{cookie}Connection: close\r\n\r\n")
                    .as_bytes(),
            )?;
            let r = read_response(&mut BufReader::new(s), false)?;
            Ok(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
        });
        let _ = tx.send(got.unwrap_or_else(|_| "closed".into()));
    });
    rx
}

const HTTP_DEFAULTS: &str = "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  timeout queue 20s\n  timeout check 1s\n";

fn stats_listen(stats: u16) -> String {
    format!("listen stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n")
}

/// A request persisted to a full server waits in that server's queue; past `maxqueue` it
/// is refused (503), or balanced to another server with `option redispatch`. The queue
/// shows in the stats (`qcur`, `qlimit`).
fn maxqueue_scenario(
    start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>,
    redispatch: bool,
) -> Vec<String> {
    let (a, b) = (Gated::start("a"), Gated::start("b"));
    let (port, stats) = (free_port(), free_port());
    let cfg = format!(
        "{HTTP_DEFAULTS}{}listen app\n  bind 127.0.0.1:{port}\n  {}\n  cookie SRV insert indirect\n  server s1 127.0.0.1:{} cookie s1 maxconn 1 maxqueue 1\n  server s2 127.0.0.1:{} cookie s2\n",
        stats_listen(stats),
        if redispatch { "option redispatch" } else { "" },
        a.port(),
        b.port()
    );
    let _proc = start(&cfg, stats);
    let cookie = Some("SRV=s1");
    let r1 = request_bg(port, cookie);
    eventually(Duration::from_secs(10), || (a.active() == 1).then_some(()))
        .expect("the first request reaches s1");
    let r2 = request_bg(port, cookie);
    let queued = eventually(Duration::from_secs(10), || {
        let c = csv(stats);
        (field(&c, "app", "s1", "qcur") == "1").then_some(c)
    });
    let mut seen = vec![match &queued {
        Some(c) => format!("queued qlimit={}", field(c, "app", "s1", "qlimit")),
        None => "the second request did not queue on s1".into(),
    }];
    let r3 = request_bg(port, cookie);
    let third = r3.recv_timeout(Duration::from_secs(5));
    a.gate.store(true, Ordering::SeqCst);
    b.gate.store(true, Ordering::SeqCst);
    let third =
        third.unwrap_or_else(|_| r3.recv_timeout(Duration::from_secs(10)).unwrap_or_default());
    // The bodies of the two 503 pages differ; the status is what counts.
    let third = if third.starts_with("503") {
        "503 "
    } else {
        &third
    };
    seen.push(format!("third: {third}"));
    for r in [r1, r2] {
        seen.push(r.recv_timeout(Duration::from_secs(10)).unwrap_or_default());
    }
    seen
}

fn start_corelb(cfg: &str, stats: u16) -> Box<dyn std::any::Any> {
    Box::new(Corelb::start(cfg, &[], &[stats]))
}

fn start_haproxy(cfg: &str, stats: u16) -> Box<dyn std::any::Any> {
    Box::new(Haproxy::start(cfg, &[stats]).expect("haproxy"))
}

fn haproxy_installed() -> bool {
    let ok = Command::new("haproxy").arg("-v").output().is_ok();
    if !ok {
        eprintln!("SKIP (HAProxy side): haproxy is not installed");
    }
    ok
}

#[test]
fn maxqueue_refuses_or_redispatches_past_the_servers_queue_as_haproxy() {
    for (redispatch, third) in [(false, "third: 503 "), (true, "third: 200 b")] {
        let want = vec![
            "queued qlimit=1".to_string(),
            third.to_string(),
            "200 a".into(),
            "200 a".into(),
        ];
        let ours = maxqueue_scenario(&start_corelb, redispatch);
        assert_eq!(ours, want, "corelb, option redispatch {redispatch}");
        if haproxy_installed() {
            let theirs = maxqueue_scenario(&start_haproxy, redispatch);
            assert_eq!(theirs, want, "HAProxy, option redispatch {redispatch}");
        }
    }
}

/// `minconn 2 maxconn 4` under `fullconn 10`: while the backend carries few connections,
/// the server takes only its `minconn`; the others wait in the queue.
fn minconn_scenario(start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>) -> (usize, Vec<String>) {
    let a = Gated::start("a");
    let (port, stats) = (free_port(), free_port());
    let cfg = format!(
        "{HTTP_DEFAULTS}{}listen app\n  bind 127.0.0.1:{port}\n  fullconn 10\n  server s1 127.0.0.1:{} minconn 2 maxconn 4\n",
        stats_listen(stats),
        a.port()
    );
    let _proc = start(&cfg, stats);
    let mut rx = Vec::new();
    for i in 1..=4usize {
        rx.push(request_bg(port, None));
        // Each request is either at the server or in the backend's queue before the next.
        eventually(Duration::from_secs(10), || {
            let q: usize = field(&csv(stats), "app", "BACKEND", "qcur")
                .parse()
                .unwrap_or(0);
            (a.active() + q == i).then_some(())
        });
    }
    let peak = a.peak.load(Ordering::SeqCst);
    a.gate.store(true, Ordering::SeqCst);
    let answers = rx
        .into_iter()
        .map(|r| r.recv_timeout(Duration::from_secs(10)).unwrap_or_default())
        .collect();
    (peak, answers)
}

#[test]
fn minconn_holds_a_server_to_its_floor_under_light_load_as_haproxy() {
    let want = (2, vec!["200 a".to_string(); 4]);
    assert_eq!(minconn_scenario(&start_corelb), want, "corelb");
    if haproxy_installed() {
        assert_eq!(minconn_scenario(&start_haproxy), want, "HAProxy");
    }
}

/// A server's check port, which the test opens and closes.
fn check_listener(port: u16) -> Backend {
    let l = eventually(Duration::from_secs(10), || {
        std::net::TcpListener::bind(("127.0.0.1", port)).ok()
    })
    .expect("bind the check port");
    Backend::start_on(l, |_| {})
}

fn wait_status(stats: u16, px: &str, sv: &str, word: &str) -> String {
    eventually(Duration::from_secs(10), || {
        let c = csv(stats);
        (field(&c, px, sv, "status") == word).then_some(c)
    })
    .unwrap_or_else(|| panic!("{px}/{sv} never {word}:\n{}", csv(stats)))
}

/// `slowstart 60s`: a server that comes back up starts with a small share of its weight
/// (`throttle` and `weight` in the stats) and of the traffic.
fn slowstart_scenario(start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>) -> (u32, u32, usize) {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let (port, stats, chk) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "{TCP_DEFAULTS}{}  mode http\nlisten app\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  server s1 127.0.0.1:{} check port {chk} inter 100 rise 1 fall 1 weight 100 slowstart 60s\n  server s2 127.0.0.1:{} weight 100\n",
        stats_listen(stats),
        a.port,
        b.port
    );
    let mut checks = Some(check_listener(chk));
    let _proc = start(&cfg, stats);
    wait_status(stats, "app", "s1", "UP");
    checks.take();
    wait_status(stats, "app", "s1", "DOWN");
    checks = Some(check_listener(chk));
    let c = wait_status(stats, "app", "s1", "UP");
    let throttle: u32 = field(&c, "app", "s1", "throttle").parse().unwrap_or(999);
    let weight: u32 = field(&c, "app", "s1", "weight").parse().unwrap_or(999);
    let to_s1 = (0..40).filter(|_| fetch_name(port) == "a").count();
    drop(checks);
    (throttle, weight, to_s1)
}

#[test]
fn slowstart_ramps_a_returning_server_as_haproxy() {
    let mut runs = vec![("corelb", slowstart_scenario(&start_corelb))];
    if haproxy_installed() {
        runs.push(("HAProxy", slowstart_scenario(&start_haproxy)));
    }
    for (who, (throttle, weight, to_s1)) in runs {
        assert!((1..=50).contains(&throttle), "{who}: throttle {throttle}");
        assert!((1..=50).contains(&weight), "{who}: weight {weight}");
        assert!(to_s1 < 10, "{who}: s1 took {to_s1} of 40 while starting");
    }
}

/// `track`: servers without checks of their own (in the same backend and in another) go
/// down and up with the server they track; the stats name it (`tracked`).
fn track_scenario(start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>) -> Vec<String> {
    let (a, b, c) = (
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    );
    let (port, stats, chk) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "{TCP_DEFAULTS}{}  mode http\nbackend app\n  server s1 127.0.0.1:{} check port {chk} inter 100 rise 1 fall 1\n  server s2 127.0.0.1:{} track s1\nlisten other\n  bind 127.0.0.1:{port}\n  server s3 127.0.0.1:{} track app/s1\n  server backup 127.0.0.1:{} backup\n",
        stats_listen(stats),
        a.port,
        b.port,
        c.port,
        a.port
    );
    let mut checks = Some(check_listener(chk));
    let _proc = start(&cfg, stats);
    let mut seen = Vec::new();
    let up = wait_status(stats, "app", "s1", "UP");
    for (px, sv) in [("app", "s2"), ("other", "s3")] {
        seen.push(format!(
            "{px}/{sv} {} tracked={}",
            field(&up, px, sv, "status"),
            field(&up, px, sv, "tracked")
        ));
    }
    seen.push(format!("via s3: {}", fetch_name(port)));
    checks.take();
    wait_status(stats, "app", "s1", "DOWN");
    let c2 = wait_status(stats, "other", "s3", "DOWN");
    seen.push(format!("app/s2 {}", field(&c2, "app", "s2", "status")));
    seen.push(format!("while down: {}", fetch_name(port)));
    checks = Some(check_listener(chk));
    wait_status(stats, "other", "s3", "UP");
    seen.push(format!("back: {}", fetch_name(port)));
    drop(checks);
    seen
}

#[test]
fn tracking_servers_follow_the_tracked_servers_checks_as_haproxy() {
    let want: Vec<String> = [
        "app/s2 UP tracked=app/s1",
        "other/s3 UP tracked=app/s1",
        "via s3: c",
        "app/s2 DOWN",
        "while down: a",
        "back: c",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(track_scenario(&start_corelb), want, "corelb");
    if haproxy_installed() {
        assert_eq!(track_scenario(&start_haproxy), want, "HAProxy");
    }
}

#[test]
fn server_limit_and_track_errors_name_their_line() {
    let dir = TempDir::new("srvlinks");
    let path = dir.write(
        "bad.cfg",
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend a\n  server s1 127.0.0.1:1\n  server s2 127.0.0.1:2 track nosuch\n  server s3 127.0.0.1:3 track nobe/s1\n  server s4 127.0.0.1:4 track s1\n  server s5 127.0.0.1:5 check track s6\n  server s6 127.0.0.1:6 check\n  server s7 127.0.0.1:7 maxqueue x\n  server s8 127.0.0.1:8 slowstart 5q\n  server s9 127.0.0.1:9 agent-check\n  server s10 127.0.0.1:10 agent-check agent-port 1 agent-inter 0\n  server s11 127.0.0.1:11 source 127.0.0.1:2000-1000\n  source 127.0.0.1 usesrc hdr_ip(x-forwarded-for)\n",
    );
    expect_errors(
        &path,
        &[
            (8, "unable to find required server 'a/nosuch'"),
            (9, "unable to find required proxy 'nobe'"),
            (10, "does not have any check"),
            (11, "checks and tracking at the same time"),
            (13, "'maxqueue'"),
            (14, "'slowstart'"),
            (15, "does not have agent port"),
            (16, "'agent-inter' must be greater than zero"),
            (
                17,
                "'source 127.0.0.1:2000-1000' : invalid port range '2000-1000'",
            ),
            (18, "'usesrc hdr_ip(x-forwarded-for)' is not supported yet"),
        ],
    );
}

/// A tiny agent: reads the line `agent-send` sends, answers the current reply, closes.
fn agent(reply: Arc<std::sync::Mutex<String>>, heard: Arc<std::sync::Mutex<String>>) -> Backend {
    Backend::start(move |s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut line = String::new();
        let _ = BufReader::new(&s).read_line(&mut line);
        *heard.lock().unwrap() = line;
        let r = reply.lock().unwrap().clone();
        let _ = (&s).write_all(r.as_bytes());
    })
}

/// `agent-check`: the agent's answers set the weight, the admin state and the health, and
/// the stats show them (status, weight, agent_status, last_agt, agent_health).
fn agent_scenario(start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>) -> Vec<String> {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let reply = Arc::new(std::sync::Mutex::new("up\n".to_string()));
    let heard = Arc::new(std::sync::Mutex::new(String::new()));
    let ag = agent(reply.clone(), heard.clone());
    let (port, stats) = (free_port(), free_port());
    let cfg = format!(
        "{TCP_DEFAULTS}{}  mode http\nlisten app\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  server s1 127.0.0.1:{} weight 100 agent-check agent-port {} agent-inter 100 agent-send \"hello\\n\"\n  server s2 127.0.0.1:{} weight 100\n",
        stats_listen(stats),
        a.port,
        ag.port,
        b.port
    );
    let _proc = start(&cfg, stats);
    let mut seen = Vec::new();
    for (answer, status, weight) in [
        ("50%\n", "no check", "50"),
        ("drain\n", "DRAIN (agent)", "50"),
        ("ready\n", "no check", "50"),
        ("down # maintenance window\n", "DOWN (agent)", ""),
        ("up 100%\n", "no check", "100"),
        ("maint\n", "MAINT", ""),
        ("ready\n", "no check", "100"),
    ] {
        *reply.lock().unwrap() = answer.to_string();
        let c = eventually(Duration::from_secs(10), || {
            let c = csv(stats);
            let ok = field(&c, "app", "s1", "status") == status
                && (weight.is_empty() || field(&c, "app", "s1", "weight") == weight);
            ok.then_some(c)
        })
        .unwrap_or_else(|| csv(stats));
        let f = |n: &str| field(&c, "app", "s1", n);
        seen.push(format!(
            "{} -> {} w={} {} '{}' h={}",
            answer.trim_end(),
            f("status"),
            f("weight"),
            // (`* L7OK` while the next agent check runs.)
            f("agent_status").trim_start_matches("* "),
            f("last_agt"),
            f("agent_health")
        ));
        if status.starts_with("DOWN") {
            let names: Vec<String> = (0..4).map(|_| fetch_name(port)).collect();
            seen.push(format!("while down: {}", names.join(",")));
        }
    }
    seen.push(format!("agent heard {:?}", heard.lock().unwrap()));
    seen
}

#[test]
fn agent_checks_set_weight_admin_state_and_health_as_haproxy() {
    let ours = agent_scenario(&start_corelb);
    let want = [
        "50% -> no check w=50 CHECKED '' h=1",
        "drain -> DRAIN (agent) w=50 CHECKED '' h=1",
        "ready -> no check w=50 CHECKED '' h=1",
        "down # maintenance window -> DOWN (agent) w=50 L7STS 'via agent : down (maintenance window)' h=0",
        "while down: b,b,b,b",
        "up 100% -> no check w=100 L7OK 'via agent : up' h=1",
        "maint -> MAINT w=100 CHECKED '' h=1",
        "ready -> no check w=100 CHECKED '' h=1",
        "agent heard \"hello\\n\"",
    ]
    .map(String::from)
    .to_vec();
    if haproxy_installed() {
        let theirs = agent_scenario(&start_haproxy);
        assert_eq!(ours, theirs, "corelb and HAProxy disagree");
    }
    assert_eq!(ours, want);
}

/// A listener that records the address of each connection it accepts (from accept, as a
/// check connection may be reset before a reader could ask its peer), then writes `reply`.
fn peer_recorder(reply: &'static [u8]) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        while let Ok((mut s, a)) = l.accept() {
            s2.lock().unwrap().push(a.ip().to_string());
            let _ = s.write_all(reply);
        }
    });
    (port, seen)
}

/// The peers that a server and its agent saw in their first two connections, with
/// `source 127.0.0.5` in the backend and checks every 100 ms, through corelb or HAProxy.
/// The health check sends a line and waits for the answer: HAProxy's plain connect check
/// resets its connection as soon as it is established, often before the accept.
fn check_peers(haproxy: bool) -> Option<(Vec<String>, Vec<String>)> {
    let (srv, srv_peers) = peer_recorder(b"up\n");
    let (agent, agent_peers) = peer_recorder(b"up\n");
    let port = free_port();
    let cfg = format!(
        "{TCP_DEFAULTS}listen l\n  bind 127.0.0.1:{port}\n  source 127.0.0.5\n  option tcp-check\n  tcp-check send hi\\r\\n\n  tcp-check expect string up\n  server s1 127.0.0.1:{srv} check inter 100 agent-check agent-port {agent} agent-inter 100\n"
    );
    let _lb: Box<dyn std::any::Any> = if haproxy {
        Box::new(Haproxy::start(&cfg, &[port])?)
    } else {
        Box::new(Corelb::start(&cfg, &[], &[port]))
    };
    let seen = || {
        let s = srv_peers.lock().unwrap().clone();
        (s, agent_peers.lock().unwrap().clone())
    };
    let got = eventually(Duration::from_secs(10), || {
        let (s, a) = seen();
        (s.len() >= 2 && a.len() >= 2).then(|| (s[..2].to_vec(), a[..2].to_vec()))
    });
    Some(got.unwrap_or_else(|| panic!("two health and agent checks: {:?}", seen())))
}

/// `source` binds the health checks and the agent checks too (HAProxy's
/// tcp_connect_server binds every connection to a server, checks included).
#[test]
fn source_binds_health_and_agent_checks_as_haproxy() {
    let want = Some((
        vec!["127.0.0.5".to_string(); 2],
        vec!["127.0.0.5".to_string(); 2],
    ));
    assert_eq!(check_peers(false), want, "corelb");
    if let Some(theirs) = check_peers(true) {
        assert_eq!(Some(theirs), want, "HAProxy");
    }
}
