//! The runtime API (`stats socket`): HAProxy's protocol and output formats (compared with
//! Debian's haproxy 2.6 on the same configuration), levels, bad input, limits, and each
//! command's effect on traffic across shards.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Writes `bytes` on a fresh socket and reads until the server closes it.
fn talk<S: Read + Write>(mut c: S, bytes: &[u8]) -> String {
    c.write_all(bytes).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// A tcp listen section over two named backends, with admin and user sockets in `dir`.
fn config(dir: &TempDir, port: u16, a: u16, b: u16, global: &str, srv: &str) -> String {
    format!(
        "global\n  stats socket {admin} mode 600 level admin\n  stats socket {user} level user\n{global}\n{}",
        listen_cfg(port, "", &[("a", a, srv), ("b", b, srv)]),
        admin = dir.path("admin.sock").display(),
        user = dir.path("user.sock").display(),
    )
}

struct Setup {
    _a: Backend,
    _b: Backend,
    dir: TempDir,
    port: u16,
    _lb: Corelb,
}

impl Setup {
    fn start(global: &str) -> Setup {
        let (a, b) = (Backend::named("a"), Backend::named("b"));
        let dir = TempDir::new("cli");
        let port = free_port();
        let lb = Corelb::start(
            &config(&dir, port, a.port, b.port, global, ""),
            &["--shards", "2"],
            &[port],
        );
        wait_unix_socket(&dir.path("admin.sock"));
        Setup {
            _a: a,
            _b: b,
            dir,
            port,
            _lb: lb,
        }
    }
    fn admin(&self, line: &str) -> String {
        stats_cmd(&self.dir.path("admin.sock"), line)
    }
    fn user(&self, line: &str) -> String {
        stats_cmd(&self.dir.path("user.sock"), line)
    }
}

#[test]
fn server_state_and_weight_reach_every_shard() {
    let s = Setup::start("");
    let d = distribution(s.port, 40);
    assert_eq!((d["a"], d["b"]), (20, 20), "{d:?}");

    // Maintenance: no connection reaches a, whichever of the two shards accepts it.
    assert_eq!(s.admin("set server l/a state maint"), "\n");
    let d = distribution(s.port, 40);
    assert_eq!(d.get("a"), None, "{d:?}");
    assert_eq!(s.admin("set server l/a state ready"), "\n");
    assert_eq!(distribution(s.port, 40).get("a"), Some(&20));

    // Drain: no new connection either, but the server stays up (op state 2, admin 8).
    assert_eq!(s.admin("set server l/a state drain"), "\n");
    assert_eq!(distribution(s.port, 20).get("a"), None);
    let row = s.admin("show servers state l");
    let a: Vec<&str> = row.lines().nth(2).unwrap().split(' ').collect();
    assert_eq!((a[3], a[5], a[6]), ("a", "2", "8"), "{row}");
    assert_eq!(s.admin("set server l/a state ready"), "\n");

    // Weights: b with 3 times a's weight gets 3 of every 4 connections.
    assert_eq!(s.admin("set weight l/b 3"), "\n");
    assert_eq!(s.admin("get weight l/b"), "3 (initial 1)\n\n");
    let d = distribution(s.port, 40);
    assert_eq!((d["a"], d["b"]), (10, 30), "{d:?}");
    assert_eq!(s.admin("set server l/b weight 100%"), "\n");
    assert_eq!(s.admin("get weight l/b"), "1 (initial 1)\n\n");

    // Health forced down, then up.
    assert_eq!(s.admin("set server l/b health down"), "\n");
    assert_eq!(distribution(s.port, 10).get("b"), None);
    assert_eq!(s.admin("set server l/b health up"), "\n");
    assert_eq!(distribution(s.port, 10).get("b"), Some(&5));

    // The deprecated forms.
    assert_eq!(s.admin("disable server l/b"), "\n");
    assert_eq!(distribution(s.port, 10).get("b"), None);
    assert_eq!(s.admin("enable server l/b"), "\n");
    assert_eq!(distribution(s.port, 10).get("b"), Some(&5));
}

#[test]
fn set_server_addr_moves_new_connections() {
    let s = Setup::start("");
    let c = Backend::named("c");
    let r = s.admin(&format!("set server l/a addr 127.0.0.1 port {}", c.port));
    assert_eq!(
        r,
        format!(
            "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n\n",
            s._a.port, c.port
        )
    );
    let d = distribution(s.port, 20);
    assert_eq!((d.get("a"), d.get("c")), (None, Some(&10)), "{d:?}");
    assert_eq!(
        s.admin("set server l/a addr nope"),
        "Invalid addr 'nope' by 'stats socket command'\n\n"
    );
}

#[test]
fn levels_and_bad_commands_change_nothing() {
    let s = Setup::start("");
    let before = s.admin("show servers state");
    assert_eq!(
        s.user("set server l/a state maint"),
        "Permission denied\n\n"
    );
    assert_eq!(s.user("disable frontend l"), "Permission denied\n\n");
    assert_eq!(s.user("set maxconn global 10"), "Permission denied\n\n");
    assert_eq!(s.user("get weight l/a"), "1 (initial 1)\n\n");
    assert_eq!(s.user("show cli level"), "user\n\n");
    // Listening sockets go only to a socket with 'expose-fd listeners': the others close
    // without a word, as HAProxy 2.6 does (levels_match_haproxy_26).
    assert_eq!(s.user("_getsocks"), "");
    assert_eq!(s.admin("_getsocks"), "");
    // An admin session lowered to user loses its rights for the rest of the line.
    assert_eq!(
        s.admin("user; set server l/a state maint"),
        "\nPermission denied\n\n"
    );

    let unknown = s.admin("sow servers state");
    assert!(
        unknown.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ) && unknown.contains("  show servers state [<backend>]")
            && unknown.ends_with("  quit                                    : disconnect\n\n"),
        "{unknown}"
    );
    assert_eq!(
        s.admin("set server l/a state bogus"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        s.admin("set server l/zz state maint"),
        "No such server.\n\n"
    );
    assert_eq!(
        s.admin("set server nobe/a state maint"),
        "No such backend.\n\n"
    );
    assert_eq!(s.admin("get weight l"), "Require 'backend/server'.\n\n");
    assert_eq!(
        s.admin("set weight l/a 300"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        s.admin("set weight l/a x"),
        "Empty weight string empty or preceded by garbage\n"
    );
    assert_eq!(
        s.admin("show servers state nobe"),
        "Can't find backend.\n\n"
    );
    assert!(
        s.admin("set server l/a")
            .starts_with("usage: set server <backend>/<server>")
    );
    // Nothing changed, and traffic still goes to both.
    let strip = |t: &str| -> Vec<String> {
        // srv_time_since_last_change (column 9) moves with the clock.
        t.lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(' ').collect();
                if f.len() > 9 && !l.starts_with('#') {
                    f[9] = "T";
                }
                f.join(" ")
            })
            .collect()
    };
    assert_eq!(strip(&s.admin("show servers state")), strip(&before));
    let d = distribution(s.port, 10);
    assert_eq!((d["a"], d["b"]), (5, 5));
}

#[test]
fn prompt_mode_and_several_commands_per_line() {
    let tcp = free_port();
    let s = Setup::start(&format!("  stats socket ipv4@127.0.0.1:{tcp} level user"));
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(
        s.admin("show version;show backend"),
        format!("{v}\n\n# name\nl\n\n")
    );
    let c = UnixStream::connect(s.dir.path("admin.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let out = talk(c, b"prompt\nshow version\nquit\n");
    assert_eq!(out, format!("\n> {v}\n\n> "));
    // The same over TCP.
    let c = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(talk(c, b"show cli level\n"), "user\n\n");
}

#[test]
fn unix_socket_gets_its_mode_and_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let other = TempDir::new("cli-own");
    let path = other.path("nobody.sock");
    let _s = Setup::start(&format!(
        "  stats socket {} mode 640 uid 65534 gid 65534 level user",
        path.display()
    ));
    wait_unix_socket(&path);
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    // Bound beside the path and renamed over it: no temporary file is left.
    let left: Vec<_> = std::fs::read_dir(&other.0).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn idle_clients_are_cut_off() {
    let s = Setup::start("  stats timeout 1s");
    // A client that sends nothing is closed by the server after the timeout.
    let mut idle = UnixStream::connect(s.dir.path("admin.sock")).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "closed by the server");
    // So is an interactive one that stops talking.
    let c = UnixStream::connect(s.dir.path("admin.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    assert_eq!(talk(c, b"prompt\n"), "\n> ");
}

#[test]
fn clients_beyond_stats_maxconn_wait() {
    let s = Setup::start("  stats maxconn 2");
    let mut buf = [0u8; 16];
    // Two interactive sessions take both slots; a third client waits in the backlog
    // while traffic still flows, and is served once one of them quits.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = UnixStream::connect(s.dir.path("admin.sock")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"prompt\n").unwrap();
        let mut b = [0u8; 3];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"\n> ");
        held.push(c);
    }
    let mut third = UnixStream::connect(s.dir.path("admin.sock")).unwrap();
    third.write_all(b"show version\n").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let r = third.read(&mut buf);
    assert!(
        r.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "{r:?}"
    );
    let d = distribution(s.port, 4);
    assert_eq!(d.values().sum::<usize>(), 4);
    held[0].write_all(b"quit\n").unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    third.read_to_string(&mut out).unwrap();
    assert_eq!(out, format!("{}\n\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn disable_frontend_stops_accepting_until_enabled() {
    let s = Setup::start("");
    assert_eq!(s.admin("disable frontend l"), "\n");
    // Every shard's socket stopped listening: the connection is refused.
    for _ in 0..5 {
        let r = std::net::TcpStream::connect(("127.0.0.1", s.port));
        assert!(r.is_err(), "connected to a disabled frontend");
    }
    assert_eq!(s.admin("enable frontend l"), "\n");
    let d = distribution(s.port, 10);
    assert_eq!(d.values().sum::<usize>(), 10);
    assert_eq!(s.admin("disable frontend nope"), "No such frontend.\n\n");
}

#[test]
fn set_maxconn_limits_new_connections() {
    let a = Backend::named_holding("a");
    let dir = TempDir::new("cli");
    let port = free_port();
    let lb = Corelb::start(
        &format!(
            "global\n  stats socket {} level admin\n{}",
            dir.path("admin.sock").display(),
            listen_cfg(port, "", &[("a", a.port, "")])
        ),
        &["--shards", "2"],
        &[port],
    );
    let sock = dir.path("admin.sock");
    wait_unix_socket(&sock);
    assert_eq!(stats_cmd(&sock, "set maxconn frontend l 1"), "\n");
    let first = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(read_line_within(&first, Duration::from_secs(5)), "a\n");
    // The second waits for the first's slot (in the backlog).
    let second = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(read_line_within(&second, Duration::from_millis(500)), "");
    drop(first);
    assert_eq!(read_line_within(&second, Duration::from_secs(5)), "a\n");
    // HAProxy 2.6 reads the value with atoi: 0 (or less, or no number) is the hard limit.
    assert_eq!(stats_cmd(&sock, "set maxconn global 0"), "\n");
    let info = stats_cmd(&sock, "show info");
    let field = |k: &str| info.lines().find(|l| l.starts_with(k)).map(str::to_owned);
    let hard = field("Hard_maxconn: ").unwrap();
    assert_eq!(field("Maxconn: ").unwrap()[9..], hard[14..], "{info}");
    drop(lb);
}

/// Debian's haproxy on `cfg`, in the foreground; killed when dropped.
struct Haproxy(Child);
impl Haproxy {
    fn start(cfg: &Path, sock: &Path) -> Haproxy {
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (apt-get install haproxy)");
        let h = Haproxy(child);
        wait_unix_socket(sock);
        h
    }
}
impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn formats_match_haproxy_26() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let dir = TempDir::new("cli");
    let (port, hport) = (free_port(), free_port());
    let srv = "weight 20";
    let ours = config(
        &dir,
        port,
        a.port,
        b.port,
        "  node n1\n  description the lb",
        srv,
    );
    let lb = Corelb::start(&ours, &["--shards", "2"], &[port]);
    let hsock = dir.path("haproxy.sock");
    let hcfg = dir.write(
        "haproxy.cfg",
        &format!(
            "global\n  stats socket {} level admin\n  node n1\n  description the lb\n{}",
            hsock.display(),
            listen_cfg(hport, "", &[("a", a.port, srv), ("b", b.port, srv)])
        ),
    );
    let _h = Haproxy::start(&hcfg, &hsock);
    let sock = dir.path("admin.sock");
    wait_unix_socket(&sock);
    for c in ["set server l/a state drain", "set weight l/b 50%"] {
        assert_eq!(stats_cmd(&sock, c), stats_cmd(&hsock, c), "{c}");
    }
    // show servers state: the same lines, but for the proxy ids (numbered differently
    // with HAProxy's internal proxies) and the seconds since the last change.
    let norm = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(' ').collect();
                if f.len() > 9 && !l.starts_with('#') {
                    f[0] = "ID";
                    f[9] = "T";
                }
                f.join(" ")
            })
            .collect()
    };
    let (mine, theirs) = (
        stats_cmd(&sock, "show servers state"),
        stats_cmd(&hsock, "show servers state"),
    );
    assert_eq!(norm(&mine), norm(&theirs), "\n{mine}\n{theirs}");
    assert!(mine.ends_with("\n\n"));
    for c in [
        "get weight l/a",
        "get weight l/b",
        "show backend",
        "set server l/a state bogus",
        "get weight l",
        "set server l/zz state maint",
    ] {
        assert_eq!(stats_cmd(&sock, c), stats_cmd(&hsock, c), "{c}");
    }
    // show info: the same field names in the same order; node and description from the
    // configuration.
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let (mine, theirs) = (
        stats_cmd(&sock, "show info"),
        stats_cmd(&hsock, "show info"),
    );
    assert_eq!(names(&mine), names(&theirs));
    assert!(mine.contains("\nnode: n1\ndescription: the lb\n"), "{mine}");
    // show stat typed desc: each field's description, as HAProxy 2.6 words it (by field
    // position and name: the set of non-empty fields differs, see docs/operations.md).
    let descs = |t: &str| -> std::collections::BTreeMap<String, String> {
        t.lines()
            .filter_map(|l| {
                let (key, rest) = l.split_once(':')?;
                let field = key.split('.').skip(3).take(2).collect::<Vec<_>>().join(".");
                let d = rest.rsplit_once(":\"")?.1.strip_suffix('"')?;
                Some((field, d.to_string()))
            })
            .collect()
    };
    let (mine, theirs) = (
        descs(&stats_cmd(&sock, "show stat typed desc")),
        descs(&stats_cmd(&hsock, "show stat typed desc")),
    );
    assert!(mine.len() > 60, "{mine:?}");
    let mut compared = 0;
    for (field, d) in &mine {
        if let Some(h) = theirs.get(field) {
            assert_eq!(d, h, "{field}");
            compared += 1;
        }
    }
    assert!(compared > 50, "{compared} fields in common");
    assert!(stats_cmd(&sock, "show stat typed desc").contains(
        ".4.scur.1:MGP:u32:0:\"Number of current sessions on the frontend, backend or server\"\n"
    ));
    // desc changes nothing in the CSV.
    assert_eq!(
        stats_cmd(&sock, "show stat desc").lines().next(),
        stats_cmd(&sock, "show stat").lines().next()
    );
    drop(lb);
}

fn self_signed(dir: &TempDir, cn: &str) -> PathBuf {
    let (cert, key) = (
        dir.path(&format!("{cn}.crt")),
        dir.path(&format!("{cn}.key")),
    );
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "30", "-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success());
    let pem = format!(
        "{}{}",
        std::fs::read_to_string(&cert).unwrap(),
        std::fs::read_to_string(&key).unwrap()
    );
    dir.write(&format!("{cn}.pem"), &pem)
}

/// The subject of the certificate a new TLS connection to `port` is served.
fn served_subject(port: u16) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in {text}"))
        .to_string()
}

#[test]
fn set_ssl_cert_and_commit_serve_the_new_certificate_without_reload() {
    let a = Backend::named("a");
    let dir = TempDir::new("cli");
    let one = self_signed(&dir, "one");
    let two = self_signed(&dir, "two");
    let port = free_port();
    let sock = dir.path("admin.sock");
    let lb = Corelb::start(
        &format!(
            "global\n  stats socket {} level admin\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\nlisten t\n  bind 127.0.0.1:{port} ssl crt {}\n  server a 127.0.0.1:{}\n",
            sock.display(),
            one.display(),
            a.port
        ),
        &["--shards", "2"],
        &[port],
    );
    wait_unix_socket(&sock);
    assert!(served_subject(port).contains("CN = one"));
    let payload = std::fs::read_to_string(&two).unwrap();
    let f = one.display().to_string();
    // A bad payload is refused and changes nothing.
    let r = stats_cmd(&sock, &format!("set ssl cert {f} <<\nnot a certificate\n"));
    assert!(r.ends_with(&format!("Can't update {f}!\n\n")), "{r}");
    assert_eq!(
        stats_cmd(&sock, &format!("commit ssl cert {f}")),
        format!("No ongoing transaction! !\nCan't commit {f}!\n\n")
    );
    // A transaction aborted changes nothing either.
    assert_eq!(
        stats_cmd(&sock, &format!("set ssl cert {f} <<\n{payload}")),
        format!("Transaction created for certificate {f}!\n\n")
    );
    assert_eq!(
        stats_cmd(&sock, &format!("abort ssl cert {f}")),
        format!("Transaction aborted for certificate '{f}'!\n\n")
    );
    assert!(served_subject(port).contains("CN = one"));
    // Set and commit: every new connection, on either shard, gets the new certificate.
    stats_cmd(&sock, &format!("set ssl cert {f} <<\n{payload}"));
    assert_eq!(
        stats_cmd(&sock, &format!("commit ssl cert {f}")),
        format!("Committing {f}.\nSuccess!\n\n")
    );
    for _ in 0..4 {
        assert!(served_subject(port).contains("CN = two"));
    }
    assert_eq!(
        stats_cmd(&sock, "set ssl cert /nope.pem <<\nx\n"),
        "Can't replace a certificate which is not referenced by the configuration!\n\n"
    );
    drop(lb);
}

#[test]
fn server_state_file_carries_admin_state_and_weight_across_a_reload() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let dir = TempDir::new("cli");
    let port = free_port();
    let state = dir.path("servers.state");
    let cfg = config(
        &dir,
        port,
        a.port,
        b.port,
        &format!("  server-state-file {}", state.display()),
        "",
    )
    .replace(
        "listen l\n",
        "listen l\n  load-server-state-from-file global\n",
    );
    let lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    let sock = dir.path("admin.sock");
    wait_unix_socket(&sock);
    stats_cmd(&sock, "set server l/a state maint");
    stats_cmd(&sock, "set weight l/b 7");
    // What an operator does before a reload: save the state.
    std::fs::write(&state, stats_cmd(&sock, "show servers state")).unwrap();
    lb.signal("USR2");
    // The new generation has read the file: a stays in maintenance, b keeps its weight.
    eventually(Duration::from_secs(10), || {
        lb.log().contains("generation 2 started").then_some(())
    })
    .expect("reloaded");
    assert_eq!(stats_cmd(&sock, "get weight l/b"), "7 (initial 1)\n\n");
    let d = distribution(port, 10);
    assert_eq!(d.get("a"), None, "{d:?}");
    let rows = stats_cmd(&sock, "show servers state l");
    let a_row: Vec<&str> = rows.lines().nth(2).unwrap().split(' ').collect();
    assert_eq!((a_row[3], a_row[6]), ("a", "1"), "{rows}");
}

#[test]
fn x_upgrades_and_reloads_under_load_lose_no_connection() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let echo = Backend::echo();
    let app = Serve::start("app", &[]);
    let dir = TempDir::new("cli");
    let sock = dir.path("admin.sock");
    let (port, eport, hport) = (free_port(), free_port(), free_port());
    let cfg = |srv: u16| {
        format!(
            "global\n  stats socket {} mode 600 level admin expose-fd listeners\n{}listen e\n  bind 127.0.0.1:{eport}\n  server e 127.0.0.1:{}\nlisten h\n  mode http\n  bind 127.0.0.1:{hport}\n  server app 127.0.0.1:{}\n",
            sock.display(),
            listen_cfg(port, "", &[("x", srv, "")]),
            echo.port,
            app.port
        )
    };
    let mut lb = Corelb::start(&cfg(a.port), &["--shards", "2"], &[port, eport, hport]);
    // Keep-alive HTTP clients: 20 requests per connection, then a new connection; a
    // request without its response is a failure. As HTTP clients do, they leave a
    // connection whose answer said `Connection: close`, and send again on a new one a
    // request that a reused connection closed on before any byte of answer (a stopping
    // generation closes idle keep-alive connections, as HAProxy's does).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keepalive: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0usize, 0usize);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && ok + failed < 50_000 {
                    let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", hport)) else {
                        failed += 1;
                        continue;
                    };
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut w = c.try_clone().unwrap();
                    let mut r = std::io::BufReader::new(c);
                    for i in 0..20 {
                        let sent = w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                        match sent.and_then(|_| read_response(&mut r, false)) {
                            Ok(resp) if resp.status == 200 => {
                                ok += 1;
                                if resp
                                    .header("connection")
                                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                                {
                                    break;
                                }
                            }
                            Err(e)
                                if i > 0
                                    && (e.to_string() == "bad status line \"\""
                                        || matches!(
                                            e.kind(),
                                            std::io::ErrorKind::ConnectionReset
                                                | std::io::ErrorKind::BrokenPipe
                                        )) =>
                            {
                                // Closed while idle: the request goes again, on a new one.
                                break;
                            }
                            _ => {
                                failed += 1;
                                break;
                            }
                        }
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    wait_unix_socket(&sock);
    // An established connection, served by the first process until it closes.
    let mut long = Some(std::net::TcpStream::connect(("127.0.0.1", eport)).unwrap());
    let echo_once = |long: &mut std::net::TcpStream| {
        long.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4];
        long.write_all(b"ping").unwrap();
        long.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    };
    echo_once(long.as_mut().unwrap());

    let load = Load::start(port, 4);
    std::thread::sleep(Duration::from_millis(300));
    let mut olds = Vec::new();
    for i in 0..3 {
        // A new binary takes the listening sockets over and tells the old one to finish.
        let old_pid = lb.pid().to_string();
        let srv = if i % 2 == 0 { b.port } else { a.port };
        let new = Corelb::start(
            &cfg(srv),
            &[
                "--shards",
                "2",
                "-x",
                sock.to_str().unwrap(),
                "-sf",
                &old_pid,
            ],
            &[],
        );
        let mut old = std::mem::replace(&mut lb, new);
        if let Some(mut l) = long.take() {
            // The old process still serves what it had; it exits once that closes.
            echo_once(&mut l);
        }
        assert_eq!(
            old.wait_exit(Duration::from_secs(40)),
            Some(0),
            "{}",
            old.log()
        );
        assert!(
            lb.log().contains("-x: took over 6 listening socket(s)"),
            "{}",
            lb.log()
        );
        olds.push(old);
        // And an in-process reload of the new one.
        wait_unix_socket(&sock);
        lb.signal("USR2");
        std::thread::sleep(Duration::from_millis(400));
    }
    let (ok, failed, seen) = load.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut kok, mut kfailed) = (0, 0);
    for t in keepalive {
        let (o, f) = t.join().unwrap();
        kok += o;
        kfailed += f;
    }
    assert_eq!(
        kfailed, 0,
        "{kfailed} keep-alive requests failed ({kok} ok)"
    );
    assert!(kok > 100, "too little keep-alive load: {kok}");
    assert_eq!(
        failed,
        0,
        "{failed} connections failed across 3 upgrades and 3 reloads ({ok} ok):\n{}",
        lb.log()
    );
    assert!(ok > 100, "too little load: {ok}");
    assert!(
        seen.iter().any(|n| n == "b"),
        "an upgraded process sent to b"
    );
    drop(olds);
}

#[test]
fn show_errors_captures_the_last_rejected_request() {
    let app = Serve::start("app", &[]);
    let dir = TempDir::new("cli");
    let port = free_port();
    let sock = dir.path("admin.sock");
    let lb = Corelb::start(
        &format!(
            "global\n  stats socket {} level operator\n  stats socket {} level user\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:{port}\n  default_backend app\nbackend app\n  server s 127.0.0.1:{}\n",
            sock.display(),
            dir.path("user.sock").display(),
            app.port
        ),
        &["--shards", "2"],
        &[port],
    );
    wait_unix_socket(&sock);
    let none = stats_cmd(&sock, "show errors");
    assert!(
        none.starts_with("Total events captured on [") && none.ends_with("] : 0\n\n"),
        "{none}"
    );
    let r = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let e = stats_cmd(&sock, "show errors");
    assert!(e.contains("] : 1\n \n["), "{e}");
    // #2: the global `stats socket` makes HAProxy's CLI frontend, which takes id 1.
    assert!(e.contains("] frontend web (#2): invalid request\n"), "{e}");
    assert!(e.contains(", event #0, src 127.0.0.1:"), "{e}");
    assert!(
        e.ends_with("  00000  GET / HTTP/1.1\\r\\n\n  00016  Host: a\\r\\n\n  00025  Bad Header\\r\\n\n  00037  \\r\\n\n\n"),
        "{e}"
    );
    // A good request is not captured; a user-level socket may not read captures.
    assert!(
        raw_exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        .starts_with("HTTP/1.1 200")
    );
    assert!(stats_cmd(&sock, "show errors").contains("] : 1\n"));
    assert_eq!(
        stats_cmd(&dir.path("user.sock"), "show errors"),
        "Permission denied\n\n"
    );
    drop(lb);
}

#[test]
fn set_server_addr_moves_the_health_checks_too() {
    let live = Backend::named("live");
    let dir = TempDir::new("cli");
    let (port, dead) = (free_port(), free_port());
    let sock = dir.path("admin.sock");
    let lb = Corelb::start(
        &format!(
            "global\n  stats socket {} level admin\n{}",
            sock.display(),
            listen_cfg(port, "", &[("a", dead, "check inter 100ms rise 1 fall 1")])
        ),
        &["--shards", "2"],
        &[port],
    );
    wait_unix_socket(&sock);
    let op_state = || -> String {
        let t = stats_cmd(&sock, "show servers state l");
        t.lines()
            .nth(2)
            .unwrap()
            .split(' ')
            .nth(5)
            .unwrap()
            .to_string()
    };
    eventually(Duration::from_secs(10), || {
        (op_state() == "0").then_some(())
    })
    .expect("a goes down: nothing listens on its port");
    stats_cmd(
        &sock,
        &format!("set server l/a addr 127.0.0.1 port {}", live.port),
    );
    // The checks follow the new address: a comes back up and takes traffic.
    eventually(Duration::from_secs(10), || {
        (op_state() == "2").then_some(())
    })
    .expect("a comes back up at its new address");
    assert_eq!(fetch_name(port), "live");
    drop(lb);
}

#[test]
fn shutdown_sessions_server_closes_its_connections_on_every_shard() {
    let (a, b) = (Backend::named_holding("a"), Backend::named_holding("b"));
    let dir = TempDir::new("cli");
    let port = free_port();
    let sock = dir.path("admin.sock");
    let lb = Corelb::start(
        &format!(
            "global\n  stats socket {} level admin\n{}",
            sock.display(),
            listen_cfg(port, "", &[("a", a.port, ""), ("b", b.port, "")])
        ),
        &["--shards", "2"],
        &[port],
    );
    wait_unix_socket(&sock);
    // Eight held connections, four per server, spread over both shards by the kernel.
    let conns: Vec<(String, std::net::TcpStream)> = (0..8)
        .map(|_| {
            let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            (read_line_within(&c, Duration::from_secs(5)), c)
        })
        .collect();
    assert_eq!(conns.iter().filter(|(n, _)| n == "a\n").count(), 4);
    assert_eq!(stats_cmd(&sock, "shutdown sessions server l/a"), "\n");
    for (name, c) in &conns {
        c.set_read_timeout(Some(Duration::from_secs(if name == "a\n" {
            10
        } else {
            1
        })))
        .unwrap();
        let mut buf = [0u8; 8];
        let r = (&*c).read(&mut buf);
        if name == "a\n" {
            assert!(matches!(r, Ok(0) | Err(_)), "a's connection closed: {r:?}");
            assert!(!matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
        } else {
            // b's connections are untouched: still open, nothing to read.
            assert!(
                matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                "b's connection still open: {r:?}"
            );
        }
    }
    assert_eq!(
        stats_cmd(&sock, "shutdown sessions server l/zz"),
        "No such server.\n\n"
    );
    drop(lb);
}

/// A mode http frontend and backend with admin, operator and user sockets.
fn http_setup(dir: &TempDir, port: u16, backend: &str) -> String {
    format!(
        "global\n  stats socket {} level admin\n  stats socket {} level operator\n  stats socket {} level user\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:{port}\n  default_backend app\nbackend app\n{backend}",
        dir.path("admin.sock").display(),
        dir.path("oper.sock").display(),
        dir.path("user.sock").display(),
    )
}

fn get_ok(port: u16) {
    let r = raw_exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// `show stat`'s CSV once `sv`'s `name` reads `want`.
fn stat_when(sock: &Path, sv: &str, name: &str, want: &str) -> String {
    eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(sock, "show stat");
        (csv_field(&csv, sv, name) == want).then_some(csv)
    })
    .unwrap_or_else(|| panic!("{sv} {name} never {want}: {}", stats_cmd(sock, "show stat")))
}

#[test]
fn show_stat_show_info_and_clear_counters() {
    let app = Serve::start("app", &[]);
    let dir = TempDir::new("cli");
    let port = free_port();
    let lb = Corelb::start(
        &http_setup(&dir, port, &format!("  server s 127.0.0.1:{}\n", app.port)),
        &["--shards", "2"],
        &[port],
    );
    let (admin, oper, user) = (
        dir.path("admin.sock"),
        dir.path("oper.sock"),
        dir.path("user.sock"),
    );
    wait_unix_socket(&admin);
    assert!(stats_cmd(&user, "help").contains(
        "  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server\n"
    ));
    for _ in 0..3 {
        get_ok(port);
    }
    let csv = stat_when(&user, "BACKEND", "stot", "3");
    assert!(csv.starts_with("# pxname,svname,qcur,"), "{csv}");
    assert_eq!(csv_field(&csv, "FRONTEND", "req_tot"), "3");
    assert_eq!(csv_field(&csv, "s", "hrsp_2xx"), "3");
    assert_ne!(csv_field(&csv, "FRONTEND", "smax"), "0");
    let info = stats_cmd(&user, "show info");
    assert!(info.contains("\nCumReq: 3\n"), "{info}");
    assert!(!info.contains("\nCumConns: 0\n"), "{info}");
    assert!(!info.contains("\nTotalBytesOut: 0\n"), "{info}");
    // The filter: proxy (name or id, -1 all), type bitmask, server id.
    let rows = |s: String| -> Vec<String> {
        s.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(
        rows(stats_cmd(&user, "show stat web 1 -1")),
        ["web,FRONTEND"]
    );
    assert_eq!(rows(stats_cmd(&user, "show stat -1 4 -1")), ["app,s"]);
    assert_eq!(
        rows(stats_cmd(&user, "show stat app 6 -1")),
        ["app,s", "app,BACKEND"]
    );
    assert_eq!(
        stats_cmd(&user, "show stat nope 1 -1"),
        "No such proxy.\n\n"
    );
    let typed = stats_cmd(&user, "show stat typed -1 1 -1");
    assert!(
        typed
            .lines()
            .any(|l| l.starts_with("F.") && l.ends_with(".48.req_tot.1:MCP:u64:3")),
        "{typed}"
    );
    let json = stats_cmd(&user, "show stat json");
    assert!(json.starts_with("[[{\"objType\":\"Frontend\""), "{json}");
    // Levels: operator for the maxima, admin for everything.
    assert_eq!(stats_cmd(&user, "clear counters"), "Permission denied\n\n");
    assert_eq!(
        stats_cmd(&oper, "clear counters all"),
        "Permission denied\n\n"
    );
    assert_eq!(stats_cmd(&oper, "clear counters"), "\n");
    let csv = stats_cmd(&user, "show stat");
    assert_eq!(csv_field(&csv, "FRONTEND", "smax"), "0");
    assert_eq!(csv_field(&csv, "FRONTEND", "req_tot"), "3");
    assert_eq!(stats_cmd(&admin, "clear counters all"), "\n");
    let csv = stats_cmd(&user, "show stat");
    assert_eq!(csv_field(&csv, "FRONTEND", "req_tot"), "0");
    for _ in 0..2 {
        get_ok(port);
    }
    let csv = stat_when(&user, "BACKEND", "stot", "2");
    for (sv, f) in [("FRONTEND", "req_tot"), ("s", "stot"), ("s", "hrsp_2xx")] {
        assert_eq!(csv_field(&csv, sv, f), "2", "{sv} {f}");
    }
    drop(lb);
}

#[test]
fn redispatches_are_counted_on_the_backend_and_the_server_left() {
    let app = Serve::start("app", &[]);
    let echo = Backend::echo();
    let dead = free_port();
    let dir = TempDir::new("cli");
    let (port, tport) = (free_port(), free_port());
    let cfg = format!(
        "{}listen t\n  mode tcp\n  bind 127.0.0.1:{tport}\n  option redispatch\n  retries 2\n  server dead 127.0.0.1:{dead}\n  server live 127.0.0.1:{}\n",
        http_setup(
            &dir,
            port,
            &format!(
                "  option redispatch\n  retries 2\n  server dead 127.0.0.1:{dead}\n  server live 127.0.0.1:{}\n",
                app.port
            )
        ),
        echo.port
    );
    let lb = Corelb::start(&cfg, &["--shards", "1"], &[port, tport]);
    let sock = dir.path("user.sock");
    wait_unix_socket(&sock);
    for _ in 0..4 {
        get_ok(port);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", tport)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"hi").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"hi");
    }
    // Both backends' rows, once every stream has ended.
    let csv = eventually(Duration::from_secs(5), || {
        let csv = stats_cmd(&sock, "show stat");
        let stot = |px: &str| {
            csv.lines()
                .find(|l| l.starts_with(&format!("{px},BACKEND,")))
                .and_then(|l| l.split(',').nth(7).map(str::to_string))
        };
        (stot("app").as_deref() == Some("4") && stot("t").as_deref() == Some("4")).then_some(csv)
    })
    .expect("4 streams through each backend");
    for px in ["app", "t"] {
        let row = |sv: &str| {
            csv.lines()
                .find(|l| l.starts_with(&format!("{px},{sv},")))
                .unwrap_or_else(|| panic!("{px}/{sv} in {csv}"))
                .to_string()
        };
        let wredis = |sv: &str| -> u64 { row(sv).split(',').nth(16).unwrap().parse().unwrap() };
        assert!(wredis("BACKEND") > 0, "{px}: {csv}");
        assert!(wredis("dead") > 0, "{px}: {csv}");
        assert_eq!(wredis("live"), 0, "{px}: {csv}");
    }
    drop(lb);
}

/// A mode http server named `name`: answers each request with its name (keep-alive),
/// except `/hold`, which it never answers (an exchange in flight until the client goes).
fn http_named(name: &'static str) -> Backend {
    Backend::start(move |s| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let mut first = String::new();
            if !matches!(std::io::BufRead::read_line(&mut r, &mut first), Ok(n) if n > 0) {
                return;
            }
            loop {
                let mut l = String::new();
                match std::io::BufRead::read_line(&mut r, &mut l) {
                    Ok(n) if n > 0 && l != "\r\n" => {}
                    Ok(n) if n > 0 => break,
                    _ => return,
                }
            }
            if first.contains(" /hold ") {
                let mut b = [0u8; 16];
                while matches!(r.get_mut().read(&mut b), Ok(n) if n > 0) {}
                return;
            }
            let body = format!("{name}\n");
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            if w.write_all(format!("{head}{body}").as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// Sends a keep-alive GET of `path` on `c` and returns the body's line ("" if the
/// connection closed or nothing came within 5 s).
fn get_on(c: &mut std::net::TcpStream, path: &str) -> String {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = std::io::BufReader::new(&*c);
    match read_response(&mut r, false) {
        Ok(resp) => String::from_utf8_lossy(&resp.body).into_owned(),
        Err(_) => String::new(),
    }
}

/// Whether the peer closed `c` within `within` (EOF or reset), without sending anything.
fn closed_within(c: &std::net::TcpStream, within: Duration) -> bool {
    c.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    match (&*c).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// [`http_setup`] with server a in backend `app` and server b in backend `other`, which
/// takes the paths under `/o`.
fn two_backends(dir: &TempDir, port: u16, a: u16, b: u16) -> String {
    http_setup(
        dir,
        port,
        &format!("  server a 127.0.0.1:{a}\nbackend other\n  server b 127.0.0.1:{b}\n"),
    )
    .replace(
        "  default_backend app\n",
        "  use_backend other if { path_beg /o }\n  default_backend app\n",
    )
}

/// A configuration whose proxies write `option httplog` lines to stderr ([`Corelb::log`]).
fn with_httplog(cfg: &str) -> String {
    cfg.replace(
        "defaults\n",
        "  log stderr local0\ndefaults\n  log global\n  option httplog\n",
    )
}

#[test]
fn shutdown_sessions_server_closes_mode_http_clients_bound_to_it() {
    let (a, b) = (http_named("a"), http_named("b"));
    let dir = TempDir::new("cli");
    let port = free_port();
    let sock = dir.path("admin.sock");
    let lb = Corelb::start(
        &two_backends(&dir, port, a.port, b.port),
        &["--shards", "2"],
        &[port],
    );
    wait_unix_socket(&sock);
    let connect = || std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Keep-alive clients whose last exchange went to a, one with an exchange in flight on
    // a, and keep-alive clients of b, spread over both shards by the kernel.
    let mut idle_a: Vec<_> = (0..4).map(|_| connect()).collect();
    for c in &mut idle_a {
        assert_eq!(get_on(c, "/"), "a\n");
    }
    let mut held = connect();
    held.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut on_b: Vec<_> = (0..4).map(|_| connect()).collect();
    for c in &mut on_b {
        assert_eq!(get_on(c, "/o"), "b\n");
    }
    eventually(Duration::from_secs(5), || {
        (csv_field(&stats_cmd(&sock, "show stat"), "a", "scur") == "1").then_some(())
    })
    .expect("the held exchange reached a");
    assert_eq!(stats_cmd(&sock, "shutdown sessions server app/a"), "\n");
    assert!(closed_within(&held, Duration::from_secs(10)), "in flight");
    for c in &idle_a {
        assert!(closed_within(c, Duration::from_secs(10)), "keep-alive on a");
    }
    // b's clients are untouched and keep being served.
    for c in &mut on_b {
        assert!(!closed_within(c, Duration::from_millis(200)));
        assert_eq!(get_on(c, "/o"), "b\n");
    }
    // a serves new clients at once.
    assert_eq!(get_on(&mut connect(), "/"), "a\n");
    drop(lb);
}

/// An exchange in flight that `shutdown sessions server` or `shutdown session` ends is
/// logged, with HAProxy's `K` (killed by an admin) and the phase it was in (`H`: waiting
/// for the server's answer), and counted.
#[test]
fn a_killed_exchange_is_logged_with_k_and_counted() {
    let a = http_named("a");
    let dir = TempDir::new("cli");
    let port = free_port();
    let sock = dir.path("admin.sock");
    let cfg = with_httplog(&http_setup(
        &dir,
        port,
        &format!("  server a 127.0.0.1:{}\n", a.port),
    ));
    let lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    wait_unix_socket(&sock);
    // A request the server never answers, until the exchange is killed.
    let hold = || {
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        (&c).write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stat_when(&sock, "a", "scur", "1");
        c
    };
    // The killed exchanges' log lines, once there are `n`.
    let logged = |n: usize| {
        eventually(Duration::from_secs(5), || {
            let log = lb.log();
            let lines: Vec<String> = log
                .lines()
                .filter(|l| l.contains(" app/a "))
                .map(String::from)
                .collect();
            (lines.len() >= n).then_some(lines)
        })
        .unwrap_or_else(|| panic!("no log line for killed exchange {n}:\n{}", lb.log()))
    };
    let held = hold();
    assert_eq!(stats_cmd(&sock, "shutdown sessions server app/a"), "\n");
    assert!(closed_within(&held, Duration::from_secs(10)));
    let line = &logged(1)[0];
    assert!(
        line.contains(" KH") && line.contains("GET /hold HTTP/1.1"),
        "{line}"
    );
    // Counted on the frontend and the server.
    stat_when(&sock, "a", "stot", "1");
    stat_when(&sock, "FRONTEND", "req_tot", "1");
    // One connection by its id: the same.
    let held = hold();
    let out = stats_cmd(&sock, "show sess");
    let src = format!(" src=127.0.0.1:{} ", held.local_addr().unwrap().port());
    let id = sess_ids(&out, &src)
        .pop()
        .unwrap_or_else(|| panic!("{src}: {out}"));
    assert_eq!(stats_cmd(&sock, &format!("shutdown session {id}")), "\n");
    assert!(closed_within(&held, Duration::from_secs(10)));
    let line = &logged(2)[1];
    assert!(line.contains(" KH"), "{line}");
    stat_when(&sock, "a", "stot", "2");
    drop(lb);
}

/// Stops a child process when dropped (an assertion may fail before it is waited for).
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// On an HTTP/2 connection, `shutdown sessions server` ends only the streams on that
/// server (RST_STREAM, logged `KH`): the connection and its other streams go on.
#[test]
fn shutdown_sessions_server_resets_only_the_h2_streams_on_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let a = http_named("a");
    // b answers once released, after the kill: its stream is in flight meanwhile.
    let release = Arc::new(AtomicBool::new(false));
    let released = release.clone();
    let b = Backend::start(move |mut s| {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut l = String::new();
        while matches!(std::io::BufRead::read_line(&mut r, &mut l), Ok(n) if n > 0) {
            if l == "\r\n" {
                break;
            }
            l.clear();
        }
        for _ in 0..1000 {
            if released.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfrom\n");
        let mut buf = [0u8; 64];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let dir = TempDir::new("cli");
    let port = free_port();
    let sock = dir.path("admin.sock");
    let cfg = with_httplog(&two_backends(&dir, port, a.port, b.port)).replace(
        &format!("bind 127.0.0.1:{port}\n"),
        &format!("bind 127.0.0.1:{port} proto h2\n"),
    );
    let lb = Corelb::start(&cfg, &["--shards", "1"], &[port]);
    wait_unix_socket(&sock);
    // One connection (nghttp sends both requests on it), a stream on each server.
    let client = Command::new("nghttp")
        .args(["-v", "-t", "20"])
        .arg(format!("http://127.0.0.1:{port}/hold"))
        .arg(format!("http://127.0.0.1:{port}/o"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nghttp (apt-get install nghttp2-client)");
    let mut client = Reaped(Some(client));
    stat_when(&sock, "a", "scur", "1");
    stat_when(&sock, "b", "scur", "1");
    assert_eq!(stats_cmd(&sock, "shutdown sessions server app/a"), "\n");
    let line = eventually(Duration::from_secs(5), || {
        let log = lb.log();
        let l = log.lines().find(|l| l.contains(" app/a "))?.to_string();
        Some(l)
    })
    .unwrap_or_else(|| panic!("no log line for the killed stream:\n{}", lb.log()));
    assert!(
        line.contains(" KH") && line.contains("/hold HTTP/2.0\""),
        "{line}"
    );
    // b's stream still gets its answer, over the same connection.
    release.store(true, Ordering::Relaxed);
    let out = client.0.take().unwrap().wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("recv RST_STREAM"), "{text}");
    assert!(
        text.contains(":status: 200") && text.contains("from\n"),
        "{text}"
    );
    eventually(Duration::from_secs(5), || {
        lb.log().contains(" other/b ").then_some(())
    })
    .unwrap_or_else(|| panic!("b's stream not logged:\n{}", lb.log()));
    drop(lb);
}

/// The session ids of `show sess` whose line contains `pat`.
fn sess_ids(out: &str, pat: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains(pat))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

#[test]
fn show_sess_lists_connections_and_shutdown_session_kills_one() {
    let (a, b) = (Backend::named_holding("a"), Backend::named_holding("b"));
    let dir = TempDir::new("cli");
    let port = free_port();
    let lb = Corelb::start(
        &config(&dir, port, a.port, b.port, "", ""),
        &["--shards", "2"],
        &[port],
    );
    let sock = dir.path("admin.sock");
    wait_unix_socket(&sock);
    let conns: Vec<_> = (0..4)
        .map(|_| {
            let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let name = read_line_within(&c, Duration::from_secs(5));
            (name.trim().to_string(), c)
        })
        .collect();
    let out = stats_cmd(&sock, "show sess");
    assert_eq!(out.lines().filter(|l| !l.is_empty()).count(), 4, "{out}");
    for (name, c) in &conns {
        let src = format!(" src=127.0.0.1:{} ", c.local_addr().unwrap().port());
        let line = out
            .lines()
            .find(|l| l.contains(&src))
            .unwrap_or_else(|| panic!("{src}: {out}"));
        assert!(line.starts_with("0x"), "{line}");
        assert!(
            line.contains(&format!(": proto=tcpv4{src}fe=l be=l srv={name} ts=00 ")),
            "{line}"
        );
        assert!(
            line.contains(" age=") && line.contains(" scf=[8,0h,fd="),
            "{line}"
        );
    }
    // One session by its id: the others stay.
    let (victim_name, victim) = &conns[0];
    let vsrc = format!(" src=127.0.0.1:{} ", victim.local_addr().unwrap().port());
    let id = sess_ids(&out, &vsrc).pop().unwrap();
    let one = stats_cmd(&sock, &format!("show sess {id}"));
    assert!(one.starts_with(&format!("{id}: [")), "{one}");
    assert!(
        one.contains(&format!("\n  server={victim_name} (id=")),
        "{one}"
    );
    assert_eq!(
        stats_cmd(&dir.path("user.sock"), "show sess"),
        "Permission denied\n\n"
    );
    assert_eq!(
        stats_cmd(&dir.path("user.sock"), &format!("shutdown session {id}")),
        "Permission denied\n\n"
    );
    assert_eq!(stats_cmd(&sock, &format!("shutdown session {id}")), "\n");
    assert!(closed_within(victim, Duration::from_secs(10)));
    for (_, c) in &conns[1..] {
        assert!(!closed_within(c, Duration::from_millis(200)));
    }
    let after = stats_cmd(&sock, "show sess");
    assert!(!after.contains(&vsrc), "{after}");
    assert_eq!(
        after.lines().filter(|l| !l.is_empty()).count(),
        3,
        "{after}"
    );
    // Bad ids, as HAProxy answers them.
    assert_eq!(
        stats_cmd(&sock, &format!("shutdown session {id}")),
        "No such session (use 'show sess').\n\n"
    );
    assert_eq!(
        stats_cmd(&sock, "shutdown session"),
        "Session pointer expected (use 'show sess').\n\n"
    );
    assert_eq!(
        stats_cmd(&sock, "show sess 0x1234"),
        "Session not found.\n\n"
    );
    drop(lb);
}

#[test]
fn show_sess_line_has_haproxy_26_fields() {
    let a = Backend::named_holding("a");
    let dir = TempDir::new("cli");
    let (port, hport) = (free_port(), free_port());
    let lb = Corelb::start(
        &config(&dir, port, a.port, a.port, "", ""),
        &["--shards", "1"],
        &[port],
    );
    let hsock = dir.path("haproxy.sock");
    let hcfg = dir.write(
        "haproxy.cfg",
        &format!(
            "global\n  stats socket {} level admin\n{}",
            hsock.display(),
            listen_cfg(hport, "", &[("a", a.port, "")])
        ),
    );
    let _h = Haproxy::start(&hcfg, &hsock);
    let sock = dir.path("admin.sock");
    wait_unix_socket(&sock);
    let c1 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let c2 = std::net::TcpStream::connect(("127.0.0.1", hport)).unwrap();
    for c in [&c1, &c2] {
        assert_eq!(read_line_within(c, Duration::from_secs(5)), "a\n");
    }
    // The keys, in order, and the values that describe the connection.
    let fields = |out: &str, c: &std::net::TcpStream| -> Vec<String> {
        let src = format!("src=127.0.0.1:{}", c.local_addr().unwrap().port());
        let line = out
            .lines()
            .find(|l| l.contains(&src))
            .unwrap_or_else(|| panic!("{src}: {out}"));
        line.split(' ')
            .skip(1)
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if ["proto", "fe", "be", "srv", "ts", "epoch"].contains(&k) => {
                    format!("{k}={v}")
                }
                Some((k, _)) => k.to_string(),
                None => kv.to_string(),
            })
            .collect()
    };
    assert_eq!(
        fields(&stats_cmd(&sock, "show sess"), &c1),
        fields(&stats_cmd(&hsock, "show sess"), &c2)
    );
    drop(lb);
}

/// `maxconnrate`, `maxsessrate`, `rate-limit sessions`, `maxsslrate`, `tune.maxaccept`:
/// connections over a rate wait in the backlog (none is refused), `show info` reports the
/// global limits and `show stat` a frontend's; HAProxy 2.6 does the same on the same files.
#[test]
fn rate_limits_delay_connections_and_show_in_info() {
    let dir = TempDir::new("rates");
    // `-c` names the file and the line of a bad value.
    for (line, needle) in [
        (
            "rate-limit connections 5",
            "c.cfg:4: 'rate-limit' only supports 'sessions' (got 'connections')",
        ),
        ("rate-limit sessions x", "c.cfg:4: 'rate-limit'"),
    ] {
        let text = format!("defaults\n  mode http\nfrontend f\n  {line}\n  bind 127.0.0.1:1\n");
        expect_check(&dir, &text, 1, needle);
    }
    expect_check(
        &dir,
        "global\n  maxconnrate -2\n",
        1,
        "c.cfg:2: 'maxconnrate'",
    );
    expect_check(
        &dir,
        "global\n  tune.maxaccept 3000000000\n",
        1,
        "c.cfg:2: 'tune.maxaccept' expects -1 or an integer from 0 to INT_MAX",
    );

    // 12 new connections at once at 4 per second: the last ones wait about two seconds.
    // Their statuses, over TLS (as `localhost`, trusting `pem`) or not.
    let pem = self_signed_pem(&dir, "site.pem", &["localhost"]);
    let burst = |port: u16, tls: bool| {
        let start = std::time::Instant::now();
        let statuses: Vec<String> = (0..12)
            .map(|_| {
                let pem = pem.clone();
                std::thread::spawn(move || {
                    if tls {
                        let (out, err) = curl_tls(&pem, "localhost", port, "/", &[]);
                        let last = out.lines().last().unwrap_or("").to_string();
                        format!("{} {err}", last.split(' ').next().unwrap_or(""))
                            .trim()
                            .to_string()
                    } else {
                        let r = raw_exchange(port, b"GET / HTTP/1.0\r\n\r\n");
                        let line = r.lines().next().unwrap_or("");
                        line.split(' ').nth(1).unwrap_or(line).to_string()
                    }
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        (statuses, start.elapsed())
    };
    let sock = dir.path("admin.sock");
    // The global connection rate, a frontend's session rate under looser global ones, the
    // global TLS rate (on the `ssl` listener).
    for (global, frontend, info_want, rate_lim, tls) in [
        (
            "maxconnrate 4\n  maxsslrate 30\n  tune.maxaccept 1",
            "",
            [
                "ConnRateLimit: 4\n",
                "SessRateLimit: 0\n",
                "SslRateLimit: 30\n",
            ],
            "0",
            false,
        ),
        (
            "maxconnrate 50\n  maxsessrate 40\n  tune.maxaccept -1",
            "  rate-limit sessions 4\n",
            [
                "ConnRateLimit: 50\n",
                "SessRateLimit: 40\n",
                "SslRateLimit: 0\n",
            ],
            "4",
            false,
        ),
        (
            "maxsslrate 4",
            "",
            [
                "ConnRateLimit: 0\n",
                "SessRateLimit: 0\n",
                "SslRateLimit: 4\n",
            ],
            "0",
            true,
        ),
    ] {
        let port = free_port();
        let bind = if tls {
            format!("127.0.0.1:{port} ssl crt {}", pem.display())
        } else {
            format!("127.0.0.1:{port}")
        };
        let cfg = format!(
            "global\n  stats socket {} level admin\n  {global}\n\
             defaults\n  mode http\n  timeout client 10s\n  timeout server 10s\n  timeout connect 2s\n\
             frontend fe\n  bind {bind}\n{frontend}  http-request return status 200 content-type text/plain string ok\n",
            sock.display()
        );
        let check = |who: &str| {
            let info = stats_cmd(&sock, "show info");
            for want in info_want {
                assert!(info.contains(want), "{who}: {want}: {info}");
            }
            let stat = stats_cmd(&sock, "show stat");
            assert_eq!(csv_field(&stat, "FRONTEND", "rate_lim"), rate_lim, "{who}");
            let (statuses, took) = burst(port, tls);
            assert!(statuses.iter().all(|s| s == "200"), "{who}: {statuses:?}");
            // A lower bound: a slow machine only makes it longer.
            assert!(
                took >= Duration::from_millis(1500),
                "{who}: 12 connections at 4/s in {took:?}"
            );
        };
        let lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
        wait_unix_socket(&sock);
        check("corelb");
        drop(lb);
        let _ = std::fs::remove_file(&sock);
        // HAProxy 2.6: the same answers, values and delays.
        let Some(_hp) = common::haproxy::Haproxy::start(&cfg, &[port]) else {
            continue;
        };
        wait_unix_socket(&sock);
        check("haproxy");
    }
}

/// The sockets of `levels_match_haproxy_26`: the default level, each level, and a user
/// socket with `expose-fd listeners`; a table with one entry; `level` and `expose-fd` on a
/// proxy's `bind` too (accepted and ignored there, as HAProxy does).
fn levels_config(dir: &Path, port: u16, srv: u16) -> String {
    let d = dir.display();
    format!(
        "global
  stats socket {d}/def.sock
  stats socket {d}/user.sock level user
  stats socket {d}/oper.sock level operator
  stats socket {d}/adm.sock level admin
  stats socket {d}/userx.sock level user expose-fd listeners
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
backend t
  stick-table type ip size 10 expire 1h store gpc0
listen l
  bind 127.0.0.1:{port} level user expose-fd listeners
  tcp-request connection track-sc0 src table t
  server a 127.0.0.1:{srv}
"
    )
}

/// What a socket answers to `line`, as bytes (`_getsocks` answers in binary), read until
/// the server closes.
fn cli_bytes(sock: &Path, line: &str) -> Vec<u8> {
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn levels_match_haproxy_26() {
    let a = Backend::named("a");
    let dir = TempDir::new("levels");
    let (mine, theirs) = (dir.path("corelb"), dir.path("haproxy"));
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let (port, hport) = (free_port(), free_port());
    let lb = Corelb::start(
        &levels_config(&mine, port, a.port),
        &["--shards", "2"],
        &[port],
    );
    let hcfg = dir.write("haproxy.cfg", &levels_config(&theirs, hport, a.port));
    let _h = Haproxy::start(&hcfg, &theirs.join("adm.sock"));
    wait_unix_socket(&mine.join("adm.sock"));
    // One connection each: the table holds 127.0.0.1.
    for p in [port, hport] {
        assert_eq!(fetch_name(p), "a");
    }
    for d in [&mine, &theirs] {
        let t = eventually(Duration::from_secs(5), || {
            let t = stats_cmd(&d.join("adm.sock"), "show table t");
            t.contains("key=127.0.0.1").then_some(t)
        });
        assert!(
            t.is_some(),
            "{}",
            stats_cmd(&d.join("adm.sock"), "show table t")
        );
    }
    // An entry's address and expiry differ between the two.
    let norm = |t: String| -> String {
        t.split('\n')
            .map(|l| {
                l.split(' ')
                    .map(|w| {
                        if w.starts_with("0x") {
                            "ADDR"
                        } else if w.starts_with("exp=") {
                            "exp=T"
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let sockets = ["def", "user", "oper", "adm"];
    // Read-only first, then what a lower level may not do (which must change nothing),
    // then what it may.
    let commands = [
        "show cli level",
        "operator; show cli level",
        "user; show cli level",
        "user; operator; show cli level",
        "get weight l/a",
        "show table t",
        "show table t key 127.0.0.1",
        "show table t key bad",
        "show table t key 127.0.0.2",
        "show table t data.gpc0 ge 0",
        "show table t bogus",
        "show table nope key 127.0.0.1",
        "shutdown session 0",
        "clear counters all",
        "disable frontend nofe",
        "enable frontend nofe",
        "set maxconn frontend nofe 10",
        "set maxconn server l/zz 10",
        "set server l/zz state ready",
        "set server l/a state bogus",
        "set weight l/zz 10",
        "shutdown sessions server l/zz",
        "disable server l/zz",
        "enable health l/zz",
        "clear table t key 127.0.0.2",
        "clear table t key",
        "clear table",
        "clear table t bogus",
        "clear counters bogus",
    ];
    let (mut compared, mut diffs) = (0, Vec::new());
    for sock in sockets {
        for c in commands {
            let (m, h) = (
                stats_cmd(&mine.join(format!("{sock}.sock")), c),
                stats_cmd(&theirs.join(format!("{sock}.sock")), c),
            );
            let (m, h) = (norm(m), norm(h));
            if m != h {
                diffs.push(format!("{sock}: {c}\n  corelb:  {m:?}\n  haproxy: {h:?}"));
            }
            compared += 1;
        }
        // A user's 'clear table' removes nothing, and a user's 'key' is refused.
        for c in [
            "clear table t",
            "clear table t data.gpc0 ge 0",
            "clear table t key 127.0.0.1",
        ] {
            if sock == "user" {
                let m = stats_cmd(&mine.join(format!("{sock}.sock")), c);
                let h = stats_cmd(&theirs.join(format!("{sock}.sock")), c);
                assert_eq!(m, h, "{sock}: {c}");
            }
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(compared, sockets.len() * commands.len());
    // Refused commands changed nothing: the entry, the server's state and weight stay.
    for d in [&mine, &theirs] {
        let t = stats_cmd(&d.join("adm.sock"), "show table t");
        assert!(t.contains("key=127.0.0.1"), "{t}");
        assert_eq!(
            stats_cmd(&d.join("adm.sock"), "get weight l/a"),
            "1 (initial 1)\n\n"
        );
    }
    // Listening sockets go to `expose-fd listeners` whatever the level; the other sockets
    // close without a word (HAProxy 2.6's `_getsocks`).
    for sock in sockets {
        for d in [&mine, &theirs] {
            assert_eq!(
                cli_bytes(&d.join(format!("{sock}.sock")), "_getsocks"),
                b"",
                "{sock} {}",
                d.display()
            );
        }
    }
    for d in [&mine, &theirs] {
        let got = cli_bytes(&d.join("userx.sock"), "_getsocks");
        assert!(got.len() >= 4, "{}: {got:?}", d.display());
    }
    // A new process's `-x` on a socket without `expose-fd` gives up and says why; on the
    // user socket with it, it takes the listeners over.
    let next = dir.path("next");
    std::fs::create_dir_all(&next).unwrap();
    let out = Command::new(corelb_bin())
        .args(["-f"])
        .arg(dir.write("next.cfg", &levels_config(&next, port, a.port)))
        .arg("-x")
        .arg(mine.join("adm.sock"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("expose-fd listeners"), "{err}");
    drop(lb);
}

/// The answers (with their severity) and effects of commands whose wording differed from
/// HAProxy 2.6's: `set ssl cert`/`commit ssl cert` without arguments (its unclosed quote),
/// `set maxconn global` read with atoi (0, a negative or no number: the hard limit),
/// `enable health` on a server without checks (refused), and `set server B/S addr A port
/// P` (srv_update_addr_port: its messages, a port cut to 16 bits, a bad one leaving the
/// port alone but not the address before it). Compared with Debian's HAProxy, command by
/// command, with the server's address and port after each.
#[test]
fn cli_wording_matches_haproxy_26() {
    let dir = TempDir::new("cli-wording");
    let (mine, theirs) = (dir.path("corelb"), dir.path("haproxy"));
    let cfg = |d: &Path, port: u16| {
        format!(
            "global\n  stats socket {}/adm.sock level admin severity-output number\n\
defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
listen l\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:9\n\
  server c 127.0.0.1:9 check inter 1h\n",
            d.display()
        )
    };
    let (port, hport) = (free_port(), free_port());
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let lb = Corelb::start(&cfg(&mine, port), &[], &[port]);
    let hcfg = dir.write("haproxy.cfg", &cfg(&theirs, hport));
    let _h = Haproxy::start(&hcfg, &theirs.join("adm.sock"));
    wait_unix_socket(&mine.join("adm.sock"));
    let commands = [
        "set ssl cert",
        "commit ssl cert",
        "set maxconn global",
        "set maxconn global 100",
        "set maxconn global 0",
        "set maxconn global 100",
        "set maxconn global -3",
        "set maxconn global 100",
        "set maxconn global abc",
        "set maxconn global 999999999",
        "enable health l/s",
        "disable health l/s",
        "enable health l/c",
        "set server l/s addr 127.0.0.2 port 0",
        "set server l/s addr 127.0.0.2 port 70000",
        "set server l/s addr 127.0.0.2 port 4464",
        "set server l/s addr 127.0.0.2",
        "set server l/s addr 127.0.0.3 port abc",
        "set server l/s addr 127.0.0.4 port",
        "set server l/s addr 127.0.0.5 port 99999999999999999999",
        "set server l/s addr 127.0.0.5 port -1",
        "set server l/s addr 127.0.0.6 port +8",
        "set server l/s addr 127.0.0.7 bogus",
        "set server l/s addr 127.0.0.7 port 81x",
        "set server l/s addr nope port 1",
        "set server l/c addr 127.0.0.1 port +1",
    ];
    let run = |d: &Path| {
        let sock = d.join("adm.sock");
        let mut got = Vec::new();
        for c in commands {
            got.push(format!("{c} -> {:?}", stats_cmd(&sock, c)));
            // The server's address and port (`show servers state`: srv_addr, srv_port),
            // and whether maxconn is the hard limit.
            let st = stats_cmd(&sock, "show servers state l");
            let row: Vec<&str> = (st.lines())
                .find(|l| l.split(' ').nth(3) == Some("s"))
                .map_or(vec![], |l| l.split(' ').collect());
            let info = stats_cmd(&sock, "show info");
            let field = |k: &str| (info.lines().find_map(|l| l.strip_prefix(k))).map(str::to_owned);
            let at_hard = field("Maxconn: ") == field("Hard_maxconn: ");
            got.push(format!(
                "  s at {:?}:{:?}, maxconn at the hard limit: {at_hard}",
                row.get(4),
                row.get(18)
            ));
        }
        got
    };
    let (ours, haproxy) = (run(&mine), run(&theirs));
    let diffs: Vec<String> = (ours.iter().zip(&haproxy))
        .filter(|(m, h)| m != h)
        .map(|(m, h)| format!("corelb:  {m}\nhaproxy: {h}"))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(ours.len(), commands.len() * 2);
    drop(lb);
}

/// `severity-output number|string` on a socket and `set severity-output` in a session:
/// HAProxy 2.6 puts `[3]: ` or `[err]: ` before a message (an error, a warning, `show cli
/// level`, an unknown command), never before data (`get weight`, `show table`), on every
/// command of the line after the `set`, and for the rest of a `prompt` session.
#[test]
fn severity_output_matches_haproxy_26() {
    let a = Backend::named("a");
    let dir = TempDir::new("severity");
    let (mine, theirs) = (dir.path("corelb"), dir.path("haproxy"));
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let (port, hport) = (free_port(), free_port());
    // Two more sockets, and the bind keyword HAProxy checks and ignores on a proxy.
    let cfg = |d: &Path, port: u16| {
        levels_config(d, port, a.port)
            .replace(
                "  stats socket",
                &format!(
                    "  stats socket {0}/num.sock level admin severity-output number\n  \
                     stats socket {0}/str.sock level admin severity-output string\n  stats socket",
                    d.display()
                ),
            )
            .replace(
                "expose-fd listeners\n  tcp-request",
                "expose-fd listeners severity-output string\n  tcp-request",
            )
    };
    let lb = Corelb::start(&cfg(&mine, port), &["--shards", "2"], &[port]);
    let hcfg = dir.write("haproxy.cfg", &cfg(&theirs, hport));
    let _h = Haproxy::start(&hcfg, &theirs.join("num.sock"));
    wait_unix_socket(&mine.join("num.sock"));
    let commands = [
        "show cli level",
        "get weight l/a",
        "get weight l/zz",
        "get weight nothing",
        "set weight l/a x",
        "set weight l/a 300",
        "set weight l/a 1",
        "set server l/a state bogus",
        "set server l/a addr 127.0.0.1",
        "set server l/a addr bogus",
        "set server l/a",
        "show table t",
        "show table nope",
        "show table t data.bogus gt 1",
        "clear table nope",
        "show servers state nope",
        "show stat nope 1 1",
        "shutdown session 0",
        "disable frontend nofe",
        "set maxconn frontend nofe 10",
        "abort ssl cert /nope",
        "commit ssl cert /nope",
        "show events nope",
        "get map",
        "show map /nope",
        "set severity-output",
        "set severity-output String",
        "set severity-output none; show cli level",
        "set severity-output string; show cli level; get weight l/zz; get weight l/a",
        "user; set weight l/a 2",
    ];
    let mut diffs = Vec::new();
    for sock in ["num", "str", "adm"] {
        for c in commands {
            let (m, h) = (
                stats_cmd(&mine.join(format!("{sock}.sock")), c),
                stats_cmd(&theirs.join(format!("{sock}.sock")), c),
            );
            if m != h {
                diffs.push(format!("{sock}: {c}\n  corelb:  {m:?}\n  haproxy: {h:?}"));
            }
        }
        // An unknown command: the suggestions differ (HAProxy has more commands), the
        // first line does not.
        let first = |d: &Path| {
            let out = stats_cmd(&d.join(format!("{sock}.sock")), "bogus command");
            out.lines().next().unwrap_or_default().to_string()
        };
        let (m, h) = (first(&mine), first(&theirs));
        if m != h {
            diffs.push(format!(
                "{sock}: bogus command\n  corelb:  {m:?}\n  haproxy: {h:?}"
            ));
        }
    }
    // A prompt session keeps what it set; a new session starts from the socket's setting.
    let session = "prompt\nget weight l/zz\nset severity-output number\nget weight l/zz\n\
                   show cli level\nset severity-output string\nget weight l/zz\nquit\n";
    for sock in ["num", "adm"] {
        let m = talk(
            UnixStream::connect(mine.join(format!("{sock}.sock"))).unwrap(),
            session.as_bytes(),
        );
        let h = talk(
            UnixStream::connect(theirs.join(format!("{sock}.sock"))).unwrap(),
            session.as_bytes(),
        );
        if m != h {
            diffs.push(format!(
                "{sock}: prompt\n  corelb:  {m:?}\n  haproxy: {h:?}"
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // What the comparison covered, spelled out.
    let s = |sock: &str, c: &str| stats_cmd(&mine.join(format!("{sock}.sock")), c);
    assert_eq!(s("num", "get weight l/zz"), "[3]: No such server.\n\n");
    assert_eq!(s("str", "get weight l/zz"), "[err]: No such server.\n\n");
    assert_eq!(s("num", "get weight l/a"), "1 (initial 1)\n\n");
    assert_eq!(s("adm", "get weight l/zz"), "No such server.\n\n");
    assert_eq!(
        s("adm", "set severity-output number; get weight l/zz"),
        "\n[3]: No such server.\n\n"
    );
    drop(lb);
}

/// Without a global `maxconn`, both derive it from the descriptor limit as HAProxy 2.6's
/// `compute_ideal_maxconn` does: two descriptors per connection in mode http, half a
/// descriptor more (pipes) in mode tcp, which corelb splices by default as HAProxy's
/// `option splice-auto` does (HAProxy without that option counts no pipes). The fixed
/// descriptors differ a little (corelb's io_uring rings and one listening socket per
/// shard; HAProxy's poller and wake-up pipes), so the two may differ by a few.
#[test]
fn the_default_maxconn_follows_the_descriptor_limit_like_haproxy() {
    let dir = TempDir::new("maxconn");
    for (mode, nofile) in [("http", 4096u32), ("tcp", 4096), ("http", 1500)] {
        let splice = if mode == "tcp" {
            "  option splice-auto\n"
        } else {
            ""
        };
        let sock = dir.path(&format!("{mode}{nofile}.sock"));
        let cfg = dir.write(
            &format!("{mode}{nofile}.cfg"),
            &format!(
                "global\n  stats socket {} level admin\ndefaults\n  mode {mode}\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n{splice}  bind 127.0.0.1:{}\n  server s 127.0.0.1:{}\n",
                sock.display(),
                free_port(),
                free_port()
            ),
        );
        let hard = |prog: &str, args: &str| -> u32 {
            let _ = std::fs::remove_file(&sock);
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ulimit -n {nofile} && exec {prog} -f {} {args}",
                    cfg.display()
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sh");
            wait_unix_socket(&sock);
            let info = stats_cmd(&sock, "show info");
            let _ = child.kill();
            let _ = child.wait();
            let field = |k: &str| info.lines().find_map(|l| l.strip_prefix(k));
            assert_eq!(field("Maxconn: "), field("Hard_maxconn: "), "{info}");
            field("Hard_maxconn: ").unwrap().parse().unwrap()
        };
        let theirs = hard("haproxy", "-db");
        let ours = hard(corelb_bin(), "--shards 1");
        let (lo, hi) = (theirs.min(ours), theirs.max(ours));
        assert!(
            hi - lo <= 12,
            "{mode}, ulimit -n {nofile}: corelb {ours}, HAProxy {theirs}"
        );
    }
}
