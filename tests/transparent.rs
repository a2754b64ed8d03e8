//! Transparent proxying and network namespaces: `source … usesrc clientip|ADDR` (the server
//! sees the client's address, the checks the source address), `server … namespace`, `bind …
//! namespace` and `bind … transparent`, each compared with Debian's HAProxy where it runs.

mod common;
use common::haproxy::proxies;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEFAULTS: &str =
    "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

/// A server that writes the address each connection came from, and records it.
fn peer_echo() -> (Backend, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let b = Backend::start(move |mut s| {
        let ip = s.peer_addr().unwrap().ip().to_string();
        s2.lock().unwrap().push(ip.clone());
        let _ = s.write_all(format!("{ip}\n").as_bytes());
    });
    (b, seen)
}

/// The first line a connection from `from` to `port` reads.
fn line_from(from: &str, port: u16) -> String {
    let s = connect_from(from, ("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.trim().to_string()
}

/// `usesrc clientip` presents the client's address to the server (a client at 127.0.0.5 is
/// seen as 127.0.0.5, not as the proxy's 127.0.0.1); `usesrc ADDR` presents that address;
/// a server's own `source` line replaces the backend's; health checks keep the `source`
/// address (the checks wait for the server's line: a check that connects and resets at
/// once is never accepted). What the servers saw, compared with HAProxy.
#[test]
fn usesrc_presents_the_client_address_to_servers_as_haproxy_does() {
    for (who, start) in proxies() {
        let (plain, _) = peer_echo();
        let (client_ip, _) = peer_echo();
        let (fixed, _) = peer_echo();
        let (checked, checked_seen) = peer_echo();
        let (f1, f2, f3, f4) = (free_port(), free_port(), free_port(), free_port());
        let cfg = format!(
            "{DEFAULTS}listen plain\n  bind 127.0.0.1:{f1}\n  source 127.0.0.1\n  server s 127.0.0.1:{}\n\
             listen clientip\n  bind 127.0.0.1:{f2}\n  source 127.0.0.1 usesrc clientip\n  server s 127.0.0.1:{}\n\
             listen fixed\n  bind 127.0.0.1:{f3}\n  source 127.0.0.1 usesrc clientip\n  server s 127.0.0.1:{} source 127.0.0.1 usesrc 127.0.0.9\n\
             listen checked\n  bind 127.0.0.1:{f4}\n  option tcp-check\n  tcp-check expect rstring ^127\n  \
             server s 127.0.0.1:{} check inter 100ms source 127.0.0.3 usesrc clientip\n",
            plain.port, client_ip.port, fixed.port, checked.port
        );
        let Some(p) = start(&cfg, &[f1, f2, f3, f4]) else {
            continue;
        };
        let got = [
            line_from("127.0.0.5", f1),
            line_from("127.0.0.5", f2),
            line_from("127.0.0.6", f2),
            line_from("127.0.0.5", f3),
        ];
        assert_eq!(
            got,
            ["127.0.0.1", "127.0.0.5", "127.0.0.6", "127.0.0.9"],
            "{who}"
        );
        // The checks come from the source address; the traffic from the client's.
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(line_from("127.0.0.7", f4), "127.0.0.7", "{who}");
        let seen = checked_seen.lock().unwrap().clone();
        assert!(
            seen.iter().filter(|ip| *ip == "127.0.0.3").count() >= 2,
            "{who}: the checks come from 127.0.0.3: {seen:?}"
        );
        drop(p);
    }
    let dir = TempDir::new("usesrc-cfg");
    expect_check(
        &dir,
        &format!("{DEFAULTS}backend be\n  server s 127.0.0.1:80 usesrc clientip\n"),
        1,
        "c.cfg:7: 'server s' : 'usesrc' only allowed after a 'source' statement.",
    );
    expect_check(
        &dir,
        &format!("{DEFAULTS}backend be\n  source 127.0.0.1 usesrc\n"),
        1,
        "c.cfg:7: 'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.",
    );
    expect_check(
        &dir,
        &format!("{DEFAULTS}backend be\n  source 127.0.0.1 foo\n"),
        1,
        "c.cfg:7: 'source' only supports optional keywords 'interface' and 'usesrc'.",
    );
    expect_check(
        &dir,
        &format!("{DEFAULTS}backend be\n  server s 127.0.0.1:80 namespace corelb-no-such-ns\n"),
        1,
        "c.cfg:7: 'server s' : Cannot open namespace 'corelb-no-such-ns'.",
    );
}

/// A network namespace made for one test (`ip netns add`), with its loopback up; deleted
/// when dropped. `None` where namespaces cannot be made (not root, no `ip`).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("corelb-{tag}-{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIP: cannot make a network namespace (needs root and iproute2)");
            return None;
        }
        let ns = Netns(name);
        let up = std::process::Command::new("ip")
            .args(["-n", &ns.0, "link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(up, "ip -n {} link set lo up", ns.0);
        Some(ns)
    }

    /// Runs `f` on a thread inside the namespace (sockets it makes stay there).
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on an open namespace file; it moves only this thread.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// `server … namespace NS` connects inside the namespace (where the server listens on an
/// address and port nothing in the host's namespace has), and `bind … namespace NS`
/// listens there; the same config through HAProxy.
#[test]
fn namespaces_on_servers_and_binds_work_as_in_haproxy() {
    let Some(ns) = Netns::new("t") else {
        return;
    };
    let listener: TcpListener = ns.run(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let sport = listener.local_addr().unwrap().port();
    let _inside = Backend::start_on(listener, |mut s| {
        let _ = s.write_all(b"inside\n");
    });
    for (who, start) in proxies() {
        let (front, wrong, inner) = (free_port(), free_port(), free_port());
        let cfg = format!(
            "{DEFAULTS}listen in_ns\n  bind 127.0.0.1:{front}\n  server s 127.0.0.1:{sport} namespace {ns}\n\
             listen host\n  bind 127.0.0.1:{wrong}\n  server s 127.0.0.1:{sport}\n\
             listen bound_in_ns\n  bind 127.0.0.1:{inner} namespace {ns}\n  server s 127.0.0.1:{sport} namespace {ns}\n",
            ns = ns.0
        );
        let Some(p) = start(&cfg, &[front, wrong]) else {
            continue;
        };
        assert_eq!(line_from("127.0.0.1", front), "inside", "{who}");
        assert_eq!(
            line_from("127.0.0.1", wrong),
            "",
            "{who}: not in the host's namespace"
        );
        // The third listener is only inside the namespace.
        assert!(
            !listening(inner),
            "{who}: {inner} is not bound in the host's namespace"
        );
        let got = ns.run(move || {
            eventually(Duration::from_secs(10), || {
                let s = TcpStream::connect(("127.0.0.1", inner)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut line = String::new();
                BufReader::new(s).read_line(&mut line).ok()?;
                Some(line.trim().to_string())
            })
        });
        assert_eq!(got.as_deref(), Some("inside"), "{who}");
        drop(p);
    }
}

/// `bind … transparent` may listen on an address that is none of this host's (as TPROXY
/// redirections need); without it the same bind fails at start.
#[test]
fn a_transparent_bind_listens_on_a_foreign_address() {
    let port = free_port();
    let cfg = |t: &str| {
        format!(
            "{DEFAULTS}listen l\n  bind 192.0.2.77:{port}{t}\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:1\n"
        )
    };
    let lb = Corelb::start(&cfg(" transparent"), &[], &[port]);
    let ss = std::process::Command::new("ss")
        .args(["-Htln", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout).to_string();
    assert!(
        ss.contains(&format!("192.0.2.77:{port}")),
        "{ss}\n{}",
        lb.log()
    );
    drop(lb);
    let mut lb = Corelb::spawn(&cfg(""), &[]);
    let code = lb.wait_exit(Duration::from_secs(10));
    assert_ne!(code, Some(0), "without 'transparent' the bind fails");
    assert!(lb.log().contains("192.0.2.77"), "{}", lb.log());
}

/// A server connection that presents a client's address (`usesrc clientip`) carries only
/// that client's requests: with `http-reuse always`, a second client (another address) gets
/// a connection of its own, as HAProxy's (whose idle connections are keyed by the source
/// address they bound), where corelb's pool had handed it the first client's connection,
/// presenting the first client's address for the second's request.
#[test]
fn a_connection_presenting_one_client_is_not_reused_for_another_as_in_haproxy() {
    for (who, start) in proxies() {
        // An HTTP/1.1 server that keeps its connections and answers with the peer's address.
        let server = Backend::start(|mut s| {
            let ip = s.peer_addr().unwrap().ip().to_string();
            let mut r = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) && !line.ends_with("\r\n\r\n") {}
                if !line.ends_with("\r\n\r\n") {
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{ip}",
                    ip.len()
                );
                if s.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
        });
        let fe = free_port();
        let cfg = format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
             listen l\n  bind 127.0.0.1:{fe}\n  http-reuse always\n  \
             source 127.0.0.1 usesrc clientip\n  server s 127.0.0.1:{}\n",
            server.port
        );
        let Some(p) = start(&cfg, &[fe]) else {
            continue;
        };
        let ask = |from: &str| {
            let mut s = connect_from(from, ("127.0.0.1", fe)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut got = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut got);
            got.rsplit("\r\n\r\n")
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let got = [ask("127.0.0.5"), ask("127.0.0.6"), ask("127.0.0.5")];
        assert_eq!(got, ["127.0.0.5", "127.0.0.6", "127.0.0.5"], "{who}");
        drop(p);
    }
}
