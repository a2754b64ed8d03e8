//! `resolvers` sections against a small DNS server inside the test: a UDP socket that
//! answers A queries from a table the test changes. corelb re-resolves when the record
//! changes and traffic moves; `init-addr none` starts with the server in maintenance until
//! the name resolves; `server-template` fills its slots from the answer; a name that no
//! `init-addr` step resolves is an error at its line.

mod common;
use common::*;
use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, PacketFlag, RCODE, ResourceRecord};
use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test's DNS server answers for a name.
#[derive(Clone)]
enum Rec {
    A(Vec<Ipv4Addr>),
    /// SRV records (target, port, weight); `additional`: with the targets' A records (from
    /// the table) in the additional section.
    Srv {
        recs: Vec<(String, u16, u16)>,
        additional: bool,
    },
}

type Table = Arc<Mutex<HashMap<String, Rec>>>;

/// A DNS server on 127.0.0.1, over UDP (`port`) and TCP (`tcp_port`), answering from
/// `table` (a name missing from it is NXDOMAIN; a type it lacks gets an empty NOERROR
/// answer). Stops when dropped.
struct Dns {
    port: u16,
    tcp_port: u16,
    table: Table,
    queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    tcp_connections: Arc<AtomicUsize>,
    /// UDP answers come back empty with the TC bit, as from a server whose answer is too
    /// large for a datagram.
    truncate_udp: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

/// The answer to the query `bytes` from `table`; `truncate`: the TC bit and no records.
fn dns_answer(table: &Table, bytes: &[u8], truncate: bool) -> Option<Vec<u8>> {
    use simple_dns::rdata::SRV;
    use simple_dns::{Name, TYPE};
    let query = Packet::parse(bytes).ok()?;
    let question = query.questions.first()?;
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    let name = question.qname.to_string();
    let table = table.lock().unwrap();
    let a = |n: &str, ip: &Ipv4Addr| {
        ResourceRecord::new(
            Name::new_unchecked(n).into_owned(),
            CLASS::IN,
            1,
            RData::A(A {
                address: u32::from(*ip),
            }),
        )
    };
    if truncate {
        reply.set_flags(PacketFlag::TRUNCATION);
    } else {
        match table.get(&name) {
            None => *reply.rcode_mut() = RCODE::NameError,
            Some(Rec::A(ips)) if question.qtype == TYPE::A.into() => {
                reply.answers = ips.iter().map(|ip| a(&name, ip)).collect();
            }
            Some(Rec::Srv { recs, additional }) if question.qtype == TYPE::SRV.into() => {
                for (target, port, weight) in recs {
                    reply.answers.push(ResourceRecord::new(
                        question.qname.clone(),
                        CLASS::IN,
                        1,
                        RData::SRV(SRV {
                            priority: 0,
                            weight: *weight,
                            port: *port,
                            target: Name::new_unchecked(target).into_owned(),
                        }),
                    ));
                    if let (true, Some(Rec::A(ips))) = (*additional, table.get(target)) {
                        reply
                            .additional_records
                            .extend(ips.iter().map(|ip| a(target, ip)));
                    }
                }
            }
            Some(_) => {}
        }
    }
    reply.questions.push(question.clone());
    reply.build_bytes_vec().ok()
}

impl Dns {
    fn start() -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let tcp_port = listener.local_addr().unwrap().port();
        let table: Table = Default::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_connections = Arc::new(AtomicUsize::new(0));
        let truncate_udp = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, q, s, tr) = (
            table.clone(),
            queries.clone(),
            stop.clone(),
            truncate_udp.clone(),
        );
        let udp = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if let Some(r) = dns_answer(&t, &buf[..n], tr.load(Ordering::Relaxed)) {
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        let (t, q, c, s) = (
            table.clone(),
            tcp_queries.clone(),
            tcp_connections.clone(),
            stop.clone(),
        );
        // One thread per TCP connection, each message after its 2-byte length.
        let tcp = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                c.fetch_add(1, Ordering::Relaxed);
                let (t, q, s) = (t.clone(), q.clone(), s.clone());
                conns.push(std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_millis(50)))
                        .unwrap();
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !s.load(Ordering::Relaxed) {
                        match conn.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                            Err(_) => continue,
                        }
                        while pending.len() >= 2 {
                            let len = usize::from(u16::from_be_bytes([pending[0], pending[1]]));
                            if pending.len() < 2 + len {
                                break;
                            }
                            let msg: Vec<u8> = pending.drain(..2 + len).skip(2).collect();
                            q.fetch_add(1, Ordering::Relaxed);
                            if let Some(r) = dns_answer(&t, &msg, false) {
                                let mut out = (r.len() as u16).to_be_bytes().to_vec();
                                out.extend_from_slice(&r);
                                let _ = conn.write_all(&out);
                            }
                        }
                    }
                }));
            }
            for h in conns {
                let _ = h.join();
            }
        });
        Dns {
            port,
            tcp_port,
            table,
            queries,
            tcp_queries,
            tcp_connections,
            truncate_udp,
            stop,
            handles: vec![udp, tcp],
        }
    }

    fn set(&self, name: &str, ips: &[&str]) {
        let ips = ips.iter().map(|i| i.parse().unwrap()).collect();
        self.table
            .lock()
            .unwrap()
            .insert(name.to_string(), Rec::A(ips));
    }

    /// SRV records (target, port, weight) for `name`.
    fn set_srv(&self, name: &str, recs: &[(&str, u16, u16)], additional: bool) {
        let recs = recs
            .iter()
            .map(|(t, p, w)| (t.to_string(), *p, *w))
            .collect();
        self.table
            .lock()
            .unwrap()
            .insert(name.to_string(), Rec::Srv { recs, additional });
    }

    fn remove(&self, name: &str) {
        self.table.lock().unwrap().remove(name);
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Backends named `names[i]` on 127.0.0.(2+i), all on the same port (a DNS answer moves a
/// server's address, not its port).
fn backends_on_one_port(names: &[&'static str]) -> (u16, Vec<Backend>) {
    backends_answering(names, |name| format!("{name}\n"))
}

/// [`backends_on_one_port`] answering `reply(name)`.
fn backends_answering(names: &[&'static str], reply: fn(&str) -> String) -> (u16, Vec<Backend>) {
    for _ in 0..20 {
        let port = free_port();
        let ls: Vec<_> = (0..names.len())
            .map_while(|i| TcpListener::bind((format!("127.0.0.{}", i + 2), port)).ok())
            .collect();
        if ls.len() == names.len() {
            let bs = ls
                .into_iter()
                .zip(names)
                .map(|(l, &name)| {
                    Backend::start_on(l, move |mut s| {
                        use std::io::{Read, Write};
                        let _ = s.write_all(reply(name).as_bytes());
                        let _ = s.shutdown(std::net::Shutdown::Write);
                        let mut b = [0u8; 16];
                        let _ = s.read(&mut b);
                    })
                })
                .collect();
            return (port, bs);
        }
    }
    panic!("no port free on 127.0.0.2-{}", names.len() + 1);
}

/// The backend's name, or "" when corelb closed the connection without a server.
fn try_name(port: u16) -> String {
    use std::io::BufRead;
    let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    let _ = std::io::BufReader::new(s).read_line(&mut line);
    line.trim().to_string()
}

fn wait_name(port: u16, want: &str, lb: &Corelb) {
    let got = eventually(Duration::from_secs(10), || {
        (try_name(port) == want).then_some(())
    });
    assert!(
        got.is_some(),
        "never reached '{want}'; last '{}'\n{}",
        try_name(port),
        lb.log()
    );
}

fn resolvers_section(dns: u16) -> String {
    format!(
        "resolvers dns\n  nameserver ns1 127.0.0.1:{dns}\n  hold valid 200ms\n  hold nx 300ms\n  timeout retry 200ms\n  resolve_retries 2\n"
    )
}

/// Starts corelb on the `resolvers` section, a stats socket and `proxies`; waits for
/// `port` and the socket.
fn start_with_stats(dns: &Dns, port: u16, proxies: &str) -> (Corelb, TempDir, std::path::PathBuf) {
    let dir = TempDir::new("resolvers");
    let sock = dir.path("stats.sock");
    let cfg = format!(
        "global\n  stats socket {}\n{}\n{proxies}",
        sock.display(),
        resolvers_section(dns.port)
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    wait_unix_socket(&sock);
    (lb, dir, sock)
}

#[test]
fn traffic_follows_the_record_when_it_changes() {
    let dns = Dns::start();
    dns.set("app.test", &["127.0.0.2"]);
    let (bport, _bs) = backends_on_one_port(&["a", "b"]);
    let lb_port = free_port();
    let cfg = format!(
        "{}\nlisten l\n  mode tcp\n  bind 127.0.0.1:{lb_port}\n  server s1 app.test:{bport} resolvers dns init-addr none\n",
        resolvers_section(dns.port)
    );
    let lb = Corelb::start(&cfg, &[], &[lb_port]);
    wait_name(lb_port, "a", &lb);
    dns.set("app.test", &["127.0.0.3"]);
    wait_name(lb_port, "b", &lb);
    assert!(
        lb.log()
            .contains("l/s1 IP changed from '127.0.0.2' to '127.0.0.3' by DNS resolution."),
        "{}",
        lb.log()
    );
    // The name goes away: past `hold nx` the server is in maintenance, and no connection
    // reaches a backend.
    dns.remove("app.test");
    wait_name(lb_port, "", &lb);
    assert!(
        lb.log()
            .contains("l/s1 is going DOWN for maintenance (DNS NX status)"),
        "{}",
        lb.log()
    );
}

#[test]
fn init_addr_none_waits_in_maintenance_until_the_name_resolves() {
    let dns = Dns::start();
    let (bport, _bs) = backends_on_one_port(&["a"]);
    let lb_port = free_port();
    let (lb, _dir, sock) = start_with_stats(
        &dns,
        lb_port,
        &format!(
            "defaults\n  mode tcp\n  default-server init-addr none\nlisten l\n  bind 127.0.0.1:{lb_port}\n  server s1 later.test:{bport} resolvers dns check inter 200ms\n"
        ),
    );
    // Started while the name does not resolve: in resolution maintenance (HAProxy's
    // SRV_ADMF_RMAINT, 0x20 = 32 in srv_admin_state), taking no traffic.
    let state = stats_cmd(&sock, "show servers state l");
    let line = state
        .lines()
        .find(|l| l.contains(" s1 "))
        .unwrap_or_default()
        .to_string();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols.get(6), Some(&"32"), "{state}");
    assert_eq!(try_name(lb_port), "");
    assert!(dns.queries.load(Ordering::Relaxed) > 0);
    dns.set("later.test", &["127.0.0.2"]);
    wait_name(lb_port, "a", &lb);
    let state = stats_cmd(&sock, "show servers state l");
    assert!(state.contains(" s1 127.0.0.2 2 0 "), "{state}");
    assert!(
        lb.log()
            .contains("Server l/s1 ('later.test') is UP/READY (resolves again)."),
        "{}",
        lb.log()
    );
    // `show resolvers`: HAProxy's counters of the nameserver, which answered NXDOMAIN
    // before the record existed, then valid answers, one of which moved the server.
    let out = stats_cmd(&sock, "show resolvers");
    assert!(
        out.starts_with("Resolvers section dns\n nameserver ns1:\n  sent:        "),
        "{out}"
    );
    let count = |k: &str| -> u64 {
        let l = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{k}:")))
            .unwrap_or_default();
        l.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("sent") >= count("valid") + count("nx"), "{out}");
    assert!(
        count("nx") >= 1 && count("valid") >= 1 && count("update") >= 1,
        "{out}"
    );
    assert_eq!(count("timeout"), 0, "{out}");
    assert_eq!(
        stats_cmd(&sock, "show resolvers nope").trim_end(),
        "Can't find that resolvers section"
    );
}

#[test]
fn a_name_that_does_not_resolve_is_an_error_at_its_line() {
    let dir = TempDir::new("resolvers");
    let cfg = dir.write(
        "bad.cfg",
        "resolvers dns\n  nameserver ns1 127.0.0.1:53\nlisten l\n  mode tcp\n  bind 127.0.0.1:1\n  server s1 no-such-name.invalid:80 init-addr libc resolvers dns\n  server s2 no-such-name.invalid:80 resolvers other init-addr none\n  server s3 _http._tcp.app.test init-addr libc\n  server s4 _http._tcp.app.test init-addr last,none\n",
    );
    let (code, _, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bad.cfg:6")
            && err.contains("'server l/s1': could not resolve address 'no-such-name.invalid'"),
        "{err}"
    );
    assert!(
        err.contains("bad.cfg:7") && err.contains("unable to find required resolvers 'other'"),
        "{err}"
    );
    assert!(
        err.contains("bad.cfg:8")
            && err.contains(
                "'server l/s3': no method found to resolve address '_http._tcp.app.test'"
            ),
        "{err}"
    );
    assert!(!err.contains("bad.cfg:9"), "{err}");
    // The same names with `init-addr none` (or a fallback address) are fine, and so is
    // a server with `resolvers` and the default `init-addr`: HAProxy (2.6 too) adds `none`
    // to `last,libc` then. An SRV name resolves through `resolvers` only.
    let ok = dir.write(
        "ok.cfg",
        "resolvers dns\n  nameserver ns1 127.0.0.1:53\nlisten l\n  mode tcp\n  bind 127.0.0.1:1\n  server s1 no-such-name.invalid:80 init-addr libc,none resolvers dns\n  server s2 no-such-name.invalid:80 init-addr libc,127.0.0.9\n  server s3 no-such-name.invalid:80 resolvers dns\n  server-template t 2 _http._tcp.no-such-name.invalid resolvers dns\n",
    );
    let (code, _, err) = check_config(&ok);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn server_template_fills_its_slots_from_the_answer() {
    let dns = Dns::start();
    dns.set("pool.test", &["127.0.0.2", "127.0.0.3"]);
    let (bport, _bs) = backends_on_one_port(&["a", "b", "c"]);
    let lb_port = free_port();
    let (lb, _dir, sock) = start_with_stats(
        &dns,
        lb_port,
        &format!(
            "listen l\n  mode tcp\n  bind 127.0.0.1:{lb_port}\n  server-template web 3 pool.test:{bport} resolvers dns init-addr none\n"
        ),
    );
    // Two records for three slots: two servers take one each, the third stays in
    // resolution maintenance.
    let admin_of = |srv: &str| -> (String, String) {
        let state = stats_cmd(&sock, "show servers state l");
        let line = state
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(srv))
            .unwrap_or_default()
            .to_string();
        let cols: Vec<&str> = line.split_whitespace().collect();
        (
            cols.get(4).unwrap_or(&"").to_string(),
            cols.get(6).unwrap_or(&"").to_string(),
        )
    };
    let filled = eventually(Duration::from_secs(10), || {
        let v = [admin_of("web1"), admin_of("web2"), admin_of("web3")];
        (v[0].1 == "0" && v[1].1 == "0").then_some(v)
    });
    let Some(v) = filled else {
        panic!(
            "slots not filled:\n{}\n{}",
            stats_cmd(&sock, "show servers state l"),
            lb.log()
        );
    };
    assert_eq!(
        (v[0].0.as_str(), v[1].0.as_str()),
        ("127.0.0.2", "127.0.0.3")
    );
    assert_eq!(v[2].1, "32", "{v:?}");
    let seen = distribution(lb_port, 6);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["a", "b"],
        "{seen:?}"
    );
    // A third record fills the third slot; the first two keep their addresses.
    dns.set("pool.test", &["127.0.0.4", "127.0.0.3", "127.0.0.2"]);
    let third = eventually(Duration::from_secs(10), || {
        let w3 = admin_of("web3");
        (w3.1 == "0").then_some(w3.0)
    });
    assert_eq!(third.as_deref(), Some("127.0.0.4"));
    assert_eq!(admin_of("web1").0, "127.0.0.2");
    let seen = distribution(lb_port, 6);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "{seen:?}"
    );
}

/// The same `init-addr none` configuration through Debian's HAProxy and corelb, against the
/// same DNS server: both refuse traffic while the name does not resolve, both serve once
/// it does, and both follow the record to its new address.
#[test]
fn init_addr_none_then_resolve_matches_haproxy() {
    let dns = Dns::start();
    let (bport, _bs) = backends_on_one_port(&["a", "b"]);
    let (hp, cp) = (free_port(), free_port());
    let cfg = |port: u16| {
        format!(
            "{}\ndefaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nlisten l\n  bind 127.0.0.1:{port}\n  server s1 later.test:{bport} resolvers dns init-addr none\n",
            resolvers_section(dns.port)
        )
    };
    let Some(haproxy) = common::haproxy::Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let lb = Corelb::start(&cfg(cp), &[], &[cp]);
    let both = || (try_name(hp), try_name(cp));
    assert_eq!(both(), (String::new(), String::new()));
    for (ip, want) in [("127.0.0.2", "a"), ("127.0.0.3", "b")] {
        dns.set("later.test", &[ip]);
        let want = (want.to_string(), want.to_string());
        let seen = eventually(Duration::from_secs(10), || (both() == want).then_some(()));
        assert!(
            seen.is_some(),
            "{ip}: haproxy/corelb saw {:?}\nhaproxy:\n{}\ncorelb:\n{}",
            both(),
            haproxy.log(),
            lb.log()
        );
    }
}

/// A server without an address yet is not checked: its placeholder address 0.0.0.0 would
/// reach this host's own port (Linux connects 0.0.0.0 to the local host).
#[test]
fn no_checks_while_the_name_has_no_address() {
    let dns = Dns::start();
    // What a check of 0.0.0.0:PORT would reach.
    let local = Backend::named("local");
    let lb_port = free_port();
    let cfg = format!(
        "{}\nlisten l\n  mode tcp\n  bind 127.0.0.1:{lb_port}\n  server s1 nowhere.test:{} resolvers dns init-addr none check inter 100ms\n",
        resolvers_section(dns.port),
        local.port
    );
    let lb = Corelb::start(&cfg, &[], &[lb_port]);
    // Ten check intervals; the resolver has asked several times meanwhile.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(dns.queries.load(Ordering::Relaxed) > 0);
    assert_eq!(local.accepted.load(Ordering::Relaxed), 0, "{}", lb.log());
}

/// A column of `show servers state BE` for server `srv`, by its header name.
fn state_field(sock: &std::path::Path, be: &str, srv: &str, col: &str) -> String {
    let state = stats_cmd(sock, &format!("show servers state {be}"));
    let header: Vec<&str> = state
        .lines()
        .find(|l| l.starts_with("# be_id"))
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .collect();
    let i = header.iter().position(|h| *h == col).expect(col);
    state
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some(srv))
        .and_then(|l| l.split_whitespace().nth(i))
        .unwrap_or_default()
        .to_string()
}

/// Backends a, b and c (on 127.0.0.1), names `a.pool.test` … for them, and a DNS server
/// whose `_http._tcp.pool.test` has a (weight 256) and b (weight 768), with their addresses
/// in the additional section.
fn srv_pool() -> (Dns, [Backend; 3]) {
    let dns = Dns::start();
    let bs = [
        Backend::named("a"),
        Backend::named("b"),
        Backend::named("c"),
    ];
    for t in ["a", "b", "c"] {
        dns.set(&format!("{t}.pool.test"), &["127.0.0.1"]);
    }
    set_pool(&dns, &[("a", &bs[0], 256), ("b", &bs[1], 768)], true);
    (dns, bs)
}

/// `_http._tcp.pool.test`'s records: (target `NAME.pool.test`, its backend's port, weight).
fn set_pool(dns: &Dns, recs: &[(&str, &Backend, u16)], additional: bool) {
    let targets: Vec<(String, u16, u16)> = recs
        .iter()
        .map(|(t, b, w)| (format!("{t}.pool.test"), b.port, *w))
        .collect();
    let recs: Vec<(&str, u16, u16)> = targets.iter().map(|(t, p, w)| (&t[..], *p, *w)).collect();
    dns.set_srv("_http._tcp.pool.test", &recs, additional);
}

/// `server-template` on an SRV name: each record gives a server its target's address (from
/// the additional section, or an A query of its own), its port and its weight
/// (`(w + 255) / 256`); servers beyond the records wait in resolution maintenance; a record
/// that goes away takes its server into maintenance, a new one fills the server freed
/// first. The defaults `init-addr` of a server with `resolvers` include `none`.
#[test]
fn srv_records_give_servers_address_port_and_weight() {
    let (dns, [a, b, c]) = srv_pool();
    let (lb_port, l2) = (free_port(), free_port());
    let (lb, _dir, sock) = start_with_stats(
        &dns,
        lb_port,
        &format!(
            "listen l\n  mode tcp\n  bind 127.0.0.1:{lb_port}\n  balance roundrobin\n  server-template web 3 _http._tcp.pool.test resolvers dns resolve-prefer ipv4\n\
             listen l2\n  mode tcp\n  bind 127.0.0.1:{l2}\n  server s1 _http._tcp.pool.test resolvers dns weight 7 resolve-opts ignore-weight\n"
        ),
    );
    let f = |srv: &str, col: &str| state_field(&sock, "l", srv, col);
    let filled = eventually(Duration::from_secs(10), || {
        let up = |s| f(s, "srv_admin_state") == "0";
        (up("web1") && up("web2") && f("web2", "srv_uweight") == "3").then_some(())
    });
    assert!(
        filled.is_some(),
        "{}\n{}",
        stats_cmd(&sock, "show servers state l"),
        lb.log()
    );
    assert_eq!(
        (f("web1", "srv_addr"), f("web1", "srv_port")),
        ("127.0.0.1".to_string(), a.port.to_string())
    );
    assert_eq!(f("web2", "srv_port"), b.port.to_string());
    assert_eq!(
        (f("web1", "srv_uweight"), f("web2", "srv_uweight")),
        ("1".to_string(), "3".to_string())
    );
    assert_eq!(f("web3", "srv_admin_state"), "32");
    // A plain `server` on the SRV name takes the first record; `ignore-weight` keeps its own.
    let plain = eventually(Duration::from_secs(10), || {
        let g = |c: &str| state_field(&sock, "l2", "s1", c);
        (g("srv_admin_state") == "0").then(|| (g("srv_port"), g("srv_uweight")))
    });
    assert_eq!(
        plain,
        Some((a.port.to_string(), "7".to_string())),
        "{}",
        lb.log()
    );
    let seen = distribution(lb_port, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b"), seen.get("c")),
        (Some(&2), Some(&6), None),
        "{seen:?}"
    );
    // b's record goes away: web2 goes into maintenance, and traffic goes to a alone.
    set_pool(&dns, &[("a", &a, 256)], true);
    let down = eventually(Duration::from_secs(10), || {
        (f("web2", "srv_admin_state") == "32").then_some(())
    });
    assert!(down.is_some(), "{}", lb.log());
    assert!(
        lb.log().contains(
            "Server l/web2 is going DOWN for maintenance (entry removed from SRV record)."
        ),
        "{}",
        lb.log()
    );
    let seen = distribution(lb_port, 4);
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), ["a"], "{seen:?}");
    // c's record comes: the server free the longest (web3, as in HAProxy's list) takes it.
    set_pool(&dns, &[("a", &a, 256), ("c", &c, 256)], false);
    let port3 = eventually(Duration::from_secs(10), || {
        (f("web3", "srv_admin_state") == "0").then(|| f("web3", "srv_port"))
    });
    assert_eq!(port3, Some(c.port.to_string()), "{}", lb.log());
    assert_eq!(f("web2", "srv_admin_state"), "32");
    let seen = distribution(lb_port, 4);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["a", "c"],
        "{seen:?}"
    );
}

/// A `tcp@` nameserver: corelb asks over TCP, each message after its 2-byte length, on one
/// connection it keeps between queries, and follows the record as over UDP.
#[test]
fn tcp_nameserver_on_one_kept_connection() {
    let dns = Dns::start();
    dns.set("app.test", &["127.0.0.2"]);
    let (bport, _bs) = backends_on_one_port(&["a", "b"]);
    let lb_port = free_port();
    let cfg = format!(
        "resolvers dns\n  nameserver ns1 tcp@127.0.0.1:{}\n  hold valid 100ms\n  timeout retry 500ms\nlisten l\n  mode tcp\n  bind 127.0.0.1:{lb_port}\n  server s1 app.test:{bport} resolvers dns init-addr none\n",
        dns.tcp_port
    );
    let lb = Corelb::start(&cfg, &[], &[lb_port]);
    wait_name(lb_port, "a", &lb);
    dns.set("app.test", &["127.0.0.3"]);
    wait_name(lb_port, "b", &lb);
    let asked = eventually(Duration::from_secs(10), || {
        (dns.tcp_queries.load(Ordering::Relaxed) >= 5).then_some(())
    });
    assert!(asked.is_some(), "{}", lb.log());
    assert_eq!(dns.tcp_connections.load(Ordering::Relaxed), 1);
    assert_eq!(dns.queries.load(Ordering::Relaxed), 0, "nothing over UDP");
}

/// A truncated UDP answer (TC bit) is not asked again over TCP, as in HAProxy 2.6: it counts
/// as `truncated` and, like any error, leaves the server in maintenance.
#[test]
fn a_truncated_udp_answer_is_an_error() {
    let dns = Dns::start();
    dns.set("big.test", &["127.0.0.2"]);
    dns.truncate_udp.store(true, Ordering::Relaxed);
    let (bport, _bs) = backends_on_one_port(&["a"]);
    let lb_port = free_port();
    let (_lb, _dir, sock) = start_with_stats(
        &dns,
        lb_port,
        &format!(
            "listen l\n  mode tcp\n  bind 127.0.0.1:{lb_port}\n  server s1 big.test:{bport} resolvers dns init-addr none\n"
        ),
    );
    let truncated = eventually(Duration::from_secs(10), || {
        let out = stats_cmd(&sock, "show resolvers dns");
        out.lines()
            .any(|l| l.trim_start().starts_with("truncated:") && !l.trim_end().ends_with(" 0"))
            .then_some(())
    });
    assert!(
        truncated.is_some(),
        "{}",
        stats_cmd(&sock, "show resolvers dns")
    );
    assert_eq!(state_field(&sock, "l", "s1", "srv_admin_state"), "32");
    assert_eq!(try_name(lb_port), "");
    assert_eq!(dns.tcp_connections.load(Ordering::Relaxed), 0);
    dns.truncate_udp.store(false, Ordering::Relaxed);
    wait_name(lb_port, "a", &_lb);
}

/// The same SRV `server-template` through Debian's HAProxy (2.6) and corelb, against the
/// same DNS server: the same spread by SRV weight, the same servers left when a record
/// goes away, and a new record's target (without additional record) served by both.
#[test]
fn srv_template_matches_haproxy() {
    let (dns, [a, _b, c]) = srv_pool();
    let (hp, cp) = (free_port(), free_port());
    let cfg = |port: u16| {
        format!(
            "{}\ndefaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nlisten l\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  server-template web 3 _http._tcp.pool.test resolvers dns init-addr none\n",
            resolvers_section(dns.port)
        )
    };
    let Some(haproxy) = common::haproxy::Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let lb = Corelb::start(&cfg(cp), &[], &[cp]);
    let same = |want: &[(&str, usize)], n: usize| {
        let want: std::collections::BTreeMap<String, usize> =
            want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let seen = eventually(Duration::from_secs(10), || {
            let both = (distribution(hp, n), distribution(cp, n));
            (both.0 == want && both.1 == want).then_some(())
        });
        assert!(
            seen.is_some(),
            "want {want:?}, haproxy/corelb saw {:?} / {:?}\nhaproxy:\n{}\ncorelb:\n{}",
            distribution(hp, n),
            distribution(cp, n),
            haproxy.log(),
            lb.log()
        );
    };
    same(&[("a", 2), ("b", 6)], 8);
    set_pool(&dns, &[("a", &a, 256)], true);
    same(&[("a", 4)], 4);
    set_pool(&dns, &[("a", &a, 256), ("c", &c, 256)], false);
    same(&[("a", 2), ("c", 2)], 4);
}

/// `http-request do-resolve(VAR,RESOLVERS,ipv4) EXPR` as in HAProxy's manual: the request
/// waits for the Host header's address, stores it in the variable, and a name that does
/// not resolve leaves it unset (here: the `b_503` backend answers). Through Debian's
/// HAProxy 2.6 and corelb, which must answer the same; corelb answers a name again from its
/// cache for `hold valid`.
#[test]
fn do_resolve_stores_the_address_in_a_variable_like_haproxy() {
    let dns = Dns::start();
    dns.set("app.test", &["10.1.2.3"]);
    dns.set("other.test", &["10.9.8.7"]);
    let cfg = |port: u16| {
        format!(
            "resolvers dns\n  nameserver ns1 127.0.0.1:{}\n  hold valid 10s\n  timeout retry 200ms\n  resolve_retries 2\n\
             defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  http-request do-resolve(txn.myip,dns,ipv4) hdr(host),lower\n  use_backend b_503 unless {{ var(txn.myip) -m found }}\n  default_backend be\n\
             backend b_503\n\
             backend be\n  http-request return status 200 content-type text/plain lf-string \"ip=%[var(txn.myip)]\"\n",
            dns.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let lb = Corelb::start(&cfg(cp), &[], &[cp]);
    let ask = |port: u16, host: &str| -> (String, String) {
        let out = raw_exchange(
            port,
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let status = out
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        let body = if status == "200" { body } else { String::new() };
        (status, body)
    };
    let ok = |ip: &str| ("200".to_string(), format!("ip={ip}"));
    assert_eq!(ask(cp, "APP.test"), ok("10.1.2.3"), "{}", lb.log());
    assert_eq!(ask(cp, "other.test"), ok("10.9.8.7"));
    assert_eq!(ask(cp, "nowhere.test").0, "503");
    // A second request for app.test is answered from the cache: no new query.
    let before = dns.queries.load(Ordering::Relaxed);
    assert_eq!(ask(cp, "app.test"), ok("10.1.2.3"));
    assert_eq!(dns.queries.load(Ordering::Relaxed), before);
    if let Some(_haproxy) = common::haproxy::Haproxy::start(&cfg(hp), &[hp]) {
        for host in ["app.test", "other.test", "nowhere.test"] {
            assert_eq!(ask(hp, host), ask(cp, host), "{host}");
        }
    }
}

#[test]
fn do_resolve_errors_name_file_and_line() {
    let dir = TempDir::new("resolvers");
    let cfg = dir.write(
        "bad.cfg",
        "resolvers dns\n  nameserver ns1 127.0.0.1:53\nfrontend fe\n  mode http\n  bind 127.0.0.1:1\n  http-request do-resolve(txn.ip,nope) hdr(host)\n  http-request do-resolve(txn.ip,dns,ipv5) hdr(host)\n  http-request do-resolve(txn.ip,dns)\n  http-request do-resolve(ip,dns) hdr(host)\n",
    );
    let (code, _, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, what) in [
        (6, "can't find resolvers section 'nope'"),
        (7, "unknown family 'ipv5'"),
        (8, "expects a sample expression"),
        (9, "invalid variable name 'ip'"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bad.cfg:{line}")) && l.contains(what)),
            "{line}: {what}\n{err}"
        );
    }
}

/// The manual's `do-resolve` example whole: the Host header's address into `txn.myip`, 503
/// when it does not resolve, 403 for 10.0.0.0/8, else `set-dst var(txn.myip)` and
/// `server clear 0.0.0.0:0` send the request to that address (on the client's destination
/// port). corelb, then Debian's HAProxy 2.6 on the same port, must answer alike.
#[test]
fn do_resolve_then_set_dst_reaches_the_resolved_address_like_haproxy() {
    let dns = Dns::start();
    dns.set("a.test", &["127.0.0.2"]);
    dns.set("b.test", &["127.0.0.3"]);
    dns.set("inside.test", &["10.0.0.1"]);
    let (port, _bs) = backends_answering(&["a", "b"], |name| {
        format!("HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\n{name}")
    });
    let cfg = format!(
        "resolvers dns\n  nameserver ns1 127.0.0.1:{}\n  timeout retry 200ms\n  resolve_retries 2\n\
         defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n\
         frontend fe\n  bind 127.0.0.1:{port}\n  http-request do-resolve(txn.myip,dns,ipv4) hdr(host),lower\n  use_backend b_503 unless {{ var(txn.myip) -m found }}\n  default_backend be\n\
         backend b_503\n\
         backend be\n  http-request deny if {{ var(txn.myip) -m ip 127.0.0.1 10.0.0.0/8 }}\n  http-request set-dst var(txn.myip)\n  server clear 0.0.0.0:0\n",
        dns.port
    );
    let answers = || -> Vec<(String, String)> {
        ["a.test", "b.test", "A.TEST", "inside.test", "nowhere.test"]
            .iter()
            .map(|host| {
                let out = raw_exchange(
                    port,
                    format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let status = out
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
                let body = if status == "200" {
                    body.to_string()
                } else {
                    String::new()
                };
                (status, body)
            })
            .collect()
    };
    let want: Vec<(String, String)> = [
        ("200", "a"),
        ("200", "b"),
        ("200", "a"),
        ("403", ""),
        ("503", ""),
    ]
    .iter()
    .map(|(s, b)| (s.to_string(), b.to_string()))
    .collect();
    // The backends listen on the same port (on other addresses): wait for 127.0.0.1's.
    let up = || {
        let ok = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(ok.is_some(), "nothing listens on 127.0.0.1:{port}");
    };
    {
        let lb = Corelb::start(&cfg, &[], &[]);
        up();
        assert_eq!(answers(), want, "{}", lb.log());
    }
    if let Some(haproxy) = common::haproxy::Haproxy::start(&cfg, &[]) {
        up();
        assert_eq!(answers(), want, "{}", haproxy.log());
    }
}

/// `tcp-request content do-resolve(VAR,RESOLVERS,ipv4) EXPR` in mode tcp: the name the
/// client sends first is resolved while the content rules wait, `set-dst` sends the
/// connection to its address (`server clear 0.0.0.0:0`), a name that does not resolve
/// leaves the variable unset and the next rule rejects. corelb, then Debian's HAProxy 2.6
/// on the same port, must answer alike. (Before: "'tcp-request content do-resolve(…)' is
/// not supported yet".)
#[test]
fn tcp_request_content_do_resolve_like_haproxy() {
    let dns = Dns::start();
    dns.set("a.test", &["127.0.0.2"]);
    dns.set("b.test", &["127.0.0.3"]);
    let (port, _bs) = backends_answering(&["a", "b"], |name| format!("from {name}\n"));
    let cfg = format!(
        "resolvers dns\n  nameserver ns1 127.0.0.1:{}\n  timeout retry 200ms\n  resolve_retries 2\n\
         defaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n\
         frontend fe\n  bind 127.0.0.1:{port}\n  tcp-request inspect-delay 3s\n\
           tcp-request content do-resolve(txn.ip,dns,ipv4) req.payload(0,6),lower if {{ req.len ge 6 }}\n\
           tcp-request content reject unless {{ var(txn.ip) -m found }}\n\
           tcp-request content set-dst var(txn.ip)\n  default_backend be\n\
         backend be\n  server clear 0.0.0.0:0\n",
        dns.port
    );
    let answers = || -> Vec<String> {
        ["a.test", "b.test", "B.TEST", "x.test"]
            .iter()
            .map(|name| raw_exchange(port, name.as_bytes()))
            .collect()
    };
    let want = ["from a\n", "from b\n", "from b\n", ""];
    let up = || {
        let ok = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(ok.is_some(), "nothing listens on 127.0.0.1:{port}");
    };
    {
        let lb = Corelb::start(&cfg, &[], &[]);
        up();
        assert_eq!(answers(), want, "{}", lb.log());
    }
    if let Some(haproxy) = common::haproxy::Haproxy::start(&cfg, &[]) {
        up();
        assert_eq!(answers(), want, "{}", haproxy.log());
    }
}

#[test]
fn tcp_request_do_resolve_errors_name_file_and_line() {
    let dir = TempDir::new("resolvers");
    let cfg = dir.write(
        "bad.cfg",
        "resolvers dns\n  nameserver ns1 127.0.0.1:53\nfrontend fe\n  bind 127.0.0.1:1\n  tcp-request content do-resolve(txn.ip,nope) src\n  tcp-request content do-resolve(txn.ip,dns,ipv5) src\n  tcp-request content do-resolve(txn.ip,dns)\n  tcp-request connection do-resolve(txn.ip,dns) src\n",
    );
    let (code, _, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, what) in [
        (
            5,
            "'tcp-request content do-resolve' in proxy 'fe': can't find resolvers section 'nope'",
        ),
        (6, "unknown family 'ipv5'"),
        (7, "expects a sample expression"),
        (8, "'tcp-request connection' expects"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bad.cfg:{line}")) && l.contains(what)),
            "{line}: {what}\n{err}"
        );
    }
}
