//! Address prefixes beyond IP:port (configuration manual 2.3): listeners and servers on
//! unix sockets (`unix@PATH`, a bare path) and in the abstract namespace (`abns@NAME`),
//! and listening sockets inherited from the parent (`fd@N`) on `bind` and `stats socket`.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The first line a stream gives (a backend's name), or "".
fn first_line(s: impl Read) -> String {
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.trim().to_string()
}

/// A unix-socket backend that writes `name` on each connection.
fn unix_backend(l: UnixListener, name: &'static str) -> std::thread::JoinHandle<()> {
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        // Bounded: the test is over long before.
        let end = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < end {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.write_all(format!("{name}\n").as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    })
}

/// An abstract address as HAProxy uses `abns@NAME`: the name padded with NULs to the whole
/// of sun_path.
fn abns(name: &str) -> std::os::unix::net::SocketAddr {
    use std::os::linux::net::SocketAddrExt;
    let mut padded = name.as_bytes().to_vec();
    padded.resize(107, 0);
    std::os::unix::net::SocketAddr::from_abstract_name(&padded).unwrap()
}

#[test]
fn bind_on_a_unix_socket_serves_http_and_sets_its_mode() {
    let web = Serve::start("web", &[]);
    let dir = TempDir::new("addresses");
    let path = dir.path("lb.sock");
    let cfg = format!(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nfrontend f\n  bind unix@{} mode 600\n  default_backend b\nbackend b\n  server s1 127.0.0.1:{}\n",
        path.display(),
        web.port
    );
    let lb = Corelb::spawn(&cfg, &[]);
    eventually(Duration::from_secs(10), || UnixStream::connect(&path).ok())
        .unwrap_or_else(|| panic!("no unix listener:\n{}", lb.log()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    // Several requests, so that whichever shard accepts, the socket serves.
    for _ in 0..4 {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
            ])
            .arg(&path)
            .arg("http://corelb/")
            .output()
            .expect("curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", lb.log());
    }
}

#[test]
fn servers_on_unix_and_abstract_sockets() {
    let dir = TempDir::new("addresses");
    let upath = dir.path("backend.sock");
    let _u = unix_backend(UnixListener::bind(&upath).unwrap(), "unix");
    let name = format!("corelb-test-{}", std::process::id());
    let _a = unix_backend(UnixListener::bind_addr(&abns(&name)).unwrap(), "abstract");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "defaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nlisten by_path\n  bind 127.0.0.1:{p1}\n  server s1 {} check inter 200ms\nlisten by_prefix\n  bind 127.0.0.1:{p2}\n  server s1 unix@{}\nlisten by_abns\n  bind 127.0.0.1:{p3}\n  server s1 abns@{name} check inter 200ms\n",
        upath.display(),
        upath.display()
    );
    let lb = Corelb::start(&cfg, &[], &[p1, p2, p3]);
    assert_eq!(fetch_name(p1), "unix", "{}", lb.log());
    assert_eq!(fetch_name(p2), "unix");
    assert_eq!(fetch_name(p3), "abstract");
    // The checks reach the sockets too: the servers stay up over several intervals.
    std::thread::sleep(Duration::from_millis(800));
    assert!(!lb.log().contains("is DOWN"), "{}", lb.log());
    assert_eq!(fetch_name(p3), "abstract");
}

#[test]
fn bind_on_an_abstract_socket() {
    let name = format!("corelb-bind-{}", std::process::id());
    let be = Backend::named("tcp");
    let cfg = format!(
        "defaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nlisten l\n  bind abns@{name}\n  server s1 127.0.0.1:{}\n",
        be.port
    );
    let lb = Corelb::spawn(&cfg, &[]);
    let s = eventually(Duration::from_secs(10), || {
        UnixStream::connect_addr(&abns(&name)).ok()
    })
    .unwrap_or_else(|| panic!("no abstract listener:\n{}", lb.log()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(first_line(s), "tcp", "{}", lb.log());
}

/// Starts corelb with `fds` (the test's descriptors) as descriptors 3, 4, … of the child.
fn spawn_with_fds(cfg: &str, fds: &[i32]) -> Corelb {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("corelb");
    let cfg_path = dir.write("corelb.cfg", cfg);
    let stderr = dir.path("stderr.log");
    let fds = fds.to_vec();
    let mut cmd = Command::new(corelb_bin());
    cmd.arg("-f")
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec; dup2 clears CLOEXEC on
    // the new descriptor.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("start corelb");
    Corelb {
        child: Some(child),
        dir,
        stderr,
    }
}

#[test]
fn fd_bind_and_stats_socket_use_inherited_sockets() {
    let be = Backend::named("inherited");
    // A TCP socket bound but not listening yet (fd@ takes either), and a unix listener for
    // the stats socket.
    let tcp = bound_socket();
    let port = tcp.local_addr().unwrap().as_socket().unwrap().port();
    let dir = TempDir::new("addresses");
    let stats_path = dir.path("stats.sock");
    let stats = UnixListener::bind(&stats_path).unwrap();
    let cfg = format!(
        "global\n  stats socket fd@4 level admin\ndefaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nlisten l\n  bind fd@3\n  server s1 127.0.0.1:{}\n",
        be.port
    );
    let lb = spawn_with_fds(&cfg, &[tcp.as_raw_fd(), stats.as_raw_fd()]);
    // Our copies are closed: only corelb holds the sockets now.
    drop(tcp);
    drop(stats);
    lb.wait_port(port);
    for _ in 0..3 {
        assert_eq!(fetch_name(port), "inherited", "{}", lb.log());
    }
    let info = stats_cmd(&stats_path, "show servers state l");
    assert!(info.contains(" l 1 s1 127.0.0.1 2 0 "), "{info}");
}

#[test]
fn bad_addresses_are_errors_at_their_line() {
    let dir = TempDir::new("addresses");
    let cfg = dir.write(
        "bad.cfg",
        "listen l\n  mode tcp\n  bind fd@x\n  bind unix@\n  bind sockpair@3\n  server s1 fd@3\n  server s2 unix@/x mode 600\n",
    );
    let (code, _, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, what) in [
        (3, "invalid file descriptor number in 'fd@x'"),
        (4, "missing path or name in 'unix@'"),
        (5, "sockpair@3"),
        (6, "fd@3"),
        (7, "'mode'"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bad.cfg:{line}")) && l.contains(what)),
            "line {line} ({what}):\n{err}"
        );
    }
}

/// `server s 127.0.0.1:+N` / `:-N` (HAProxy's mapped ports): the connection goes to the
/// port the client reached plus or minus N. One frontend listens on two ports and reaches
/// the matching server port on each; the log names the port it connected to. Debian's
/// HAProxy and corelb must agree.
#[test]
fn relative_server_ports_follow_the_port_the_client_reached() {
    // Eight consecutive ports: frontends on k, k+2 (`+1`) and k+5, k+7 (`-1`), servers
    // in between.
    let k = loop {
        let k = free_port();
        if k < 60_000 && (1..8).all(|i| free_port() == k + i) {
            break k;
        }
    };
    let tagged = |port: u16, tag: &'static str| {
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        Backend::start_on(l, move |mut s| {
            let _ = s.write_all(format!("{tag}\n").as_bytes());
        })
    };
    let _b = [
        tagged(k + 1, "k+1"),
        tagged(k + 3, "k+3"),
        tagged(k + 4, "k+4"),
        tagged(k + 6, "k+6"),
    ];
    let cfg = format!(
        "global\n  log stderr format raw local0\n{TCP_DEFAULTS}  log global\n\
frontend fp\n  bind 127.0.0.1:{k}\n  bind 127.0.0.1:{}\n  log-format \"REL %fp %b/%s %sp\"\n  default_backend plus\n\
frontend fm\n  bind 127.0.0.1:{}\n  bind 127.0.0.1:{}\n  log-format \"REL %fp %b/%s %sp\"\n  default_backend minus\n\
backend plus\n  server s 127.0.0.1:+1\n\
backend minus\n  server s 127.0.0.1:-1\n",
        k + 2,
        k + 5,
        k + 7
    );
    let ports = [k, k + 2, k + 5, k + 7];
    let run = |log: &dyn Fn() -> String| {
        let mut seen: Vec<String> = ports
            .iter()
            .map(|p| {
                let c = std::net::TcpStream::connect(("127.0.0.1", *p)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                first_line(c)
            })
            .collect();
        let lines = eventually(Duration::from_secs(5), || {
            let mut l: Vec<String> = log()
                .lines()
                .filter_map(|l| l.find("REL ").map(|i| l[i..].to_string()))
                .collect();
            l.sort();
            (l.len() >= 4).then_some(l)
        })
        .unwrap_or_default();
        seen.extend(lines);
        seen
    };
    let lb = Corelb::start(&cfg, &[], &ports);
    let ours = run(&|| lb.log());
    drop(lb);
    let mut want: Vec<String> = ["k+1", "k+3", "k+4", "k+6"].map(String::from).to_vec();
    let mut logs = vec![
        format!("REL {k} plus/s {}", k + 1),
        format!("REL {} plus/s {}", k + 2, k + 3),
        format!("REL {} minus/s {}", k + 5, k + 4),
        format!("REL {} minus/s {}", k + 7, k + 6),
    ];
    logs.sort();
    want.extend(logs);
    assert_eq!(ours, want);
    if let Some(ha) = common::haproxy::Haproxy::start(&cfg, &ports) {
        let theirs = run(&|| ha.log());
        assert_eq!(theirs, ours, "HAProxy 2.6 against corelb");
    }
}

/// In mode http a server with a relative port reaches a port that depends on the client's:
/// an idle server connection (`http-reuse always`) left by a client of one port must not
/// serve a client of the other (HAProxy keys such connections by destination).
#[test]
fn relative_server_ports_do_not_share_idle_connections_across_ports() {
    let k = loop {
        let k = free_port();
        if k < 60_000 && (1..4).all(|i| free_port() == k + i) {
            break k;
        }
    };
    // A keep-alive HTTP server answering its tag to each request.
    let web = |port: u16, tag: &'static str| {
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        Backend::start_on(l, move |s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut s = s;
            loop {
                let mut l = String::new();
                match r.read_line(&mut l) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if l == "\r\n" => {
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{tag}",
                            tag.len()
                        );
                    }
                    Ok(_) => {}
                }
            }
        })
    };
    let _b = [web(k + 1, "k+1"), web(k + 3, "k+3")];
    let cfg = format!(
        "global\n  nbthread 1\n\
defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend f\n  bind 127.0.0.1:{k}\n  bind 127.0.0.1:{}\n  default_backend b\n\
backend b\n  http-reuse always\n  server s 127.0.0.1:+1\n",
        k + 2
    );
    let get = |port: u16| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lb = Corelb::start(&cfg, &[], &[k, k + 2]);
    let seen: Vec<String> = [k, k + 2, k, k + 2].iter().map(|p| get(*p)).collect();
    drop(lb);
    assert_eq!(seen, ["k+1", "k+3", "k+1", "k+3"]);
}
