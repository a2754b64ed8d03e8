//! Stick tables end to end: the rate limiter operators write (`track-sc0 src` +
//! `sc_http_req_rate(0)` + `deny deny_status 429`), expiry seen on the stats socket,
//! `stick on src` persistence, the gpc/gpt actions and `-c` errors.

mod common;
use common::*;
use std::time::{Duration, Instant};

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";

fn status_of(port: u16, path: &str) -> u16 {
    let r = raw_exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    r.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn server_from(local: &str, port: u16) -> String {
    use std::io::{Read, Write};
    let mut c = connect_from(local, ("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out.lines()
        .find_map(|l| l.strip_prefix("X-Server: "))
        .unwrap_or("none")
        .to_string()
}

/// `http_req_rate(10000)=N` of the entry shown by `show table NAME`, if any.
fn rate_in(show: &str) -> Option<u64> {
    show.split_whitespace()
        .find_map(|w| w.strip_prefix("http_req_rate(10000)="))
        .and_then(|v| v.parse().ok())
}

#[test]
fn rate_limit_answers_429_past_the_limit_then_lets_the_client_in_and_expires() {
    let s = Serve::start("web", &[]);
    let dir = TempDir::new("stick");
    let sock = dir.path("admin.sock");
    let port = free_port();
    let cfg = format!(
        "global\n  stats socket {} level admin\n{DEFAULTS}\
         frontend fe\n  bind 127.0.0.1:{port}\n\
         stick-table type ip size 100k expire 10s store http_req_rate(10s),conn_cur,http_req_cnt\n\
         http-request track-sc0 src\n\
         http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 5 }}\n\
         default_backend be\n\
         backend be\n  server s 127.0.0.1:{}\n",
        sock.display(),
        s.port
    );
    let _lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    wait_unix_socket(&sock);
    let statuses: Vec<u16> = (0..8).map(|_| status_of(port, "/")).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);

    let show = stats_cmd(&sock, "show table fe");
    assert!(
        show.starts_with("# table: fe, type: ip, size:102400, used:1\n"),
        "{show}"
    );
    assert!(show.contains(": key=127.0.0.1 use=0 exp="), "{show}");
    assert!(
        show.contains(" conn_cur=0 http_req_cnt=8 http_req_rate(10000)=8\n"),
        "{show}"
    );
    let list = stats_cmd(&sock, "show table");
    assert_eq!(list, "# table: fe, type: ip, size:102400, used:1\n\n");
    assert!(stats_cmd(&sock, "show table fe data.http_req_cnt gt 8").ends_with("used:1\n\n"));
    assert!(stats_cmd(&sock, "show table fe key 127.0.0.1").contains("key=127.0.0.1"));
    assert_eq!(stats_cmd(&sock, "show table nope"), "No such table\n\n");

    // Denied requests count too: the weighted rate stays above the limit until the entry,
    // idle past 'expire 10s', is removed; then the client starts afresh.
    let t0 = Instant::now();
    let gone = eventually(Duration::from_secs(25), || {
        let show = stats_cmd(&sock, "show table fe");
        if show.contains("used:0") {
            return Some(show);
        }
        std::thread::sleep(Duration::from_millis(200));
        None
    });
    assert!(gone.is_some(), "not expired after {:?}", t0.elapsed());
    assert_eq!(status_of(port, "/"), 200);
    let show = stats_cmd(&sock, "show table fe");
    assert_eq!(rate_in(&show), Some(1), "{show}");
}

#[test]
fn stick_on_src_keeps_each_client_on_its_server() {
    let a = Serve::start("a", &[]);
    let b = Serve::start("b", &[]);
    let dir = TempDir::new("stickon");
    let sock = dir.path("admin.sock");
    let port = free_port();
    let cfg = format!(
        "global\n  stats socket {} level admin\n{DEFAULTS}\
         frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
         backend be\n  balance roundrobin\n\
         stick-table type ip size 1k expire 30s\n  stick on src\n\
         server a 127.0.0.1:{}\n  server b 127.0.0.1:{}\n",
        sock.display(),
        a.port,
        b.port
    );
    let _lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    wait_unix_socket(&sock);
    let mut firsts = Vec::new();
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        let first = server_from(ip, port);
        for _ in 0..5 {
            assert_eq!(server_from(ip, port), first, "{ip}");
        }
        firsts.push(first);
    }
    // Without the table, round robin would alternate; with it, both servers got clients.
    assert!(firsts.contains(&"a".to_string()) && firsts.contains(&"b".to_string()));
    let show = stats_cmd(&sock, "show table be");
    assert!(
        show.starts_with("# table: be, type: ip, size:1024, used:4\n"),
        "{show}"
    );
    let id = if firsts[0] == "a" { 1 } else { 2 };
    let line = show
        .lines()
        .find(|l| l.contains(": key=127.0.0.2 use=0 exp="))
        .unwrap_or_else(|| panic!("{show}"));
    // HAProxy 2.6's text for a table that stick rules use: the id, then the name.
    assert!(
        line.ends_with(&format!(" server_id={id} server_key={}", firsts[0])),
        "{show}"
    );
    // A server in maintenance is not used; the client is balanced elsewhere and stays there.
    let srv = &firsts[0];
    stats_cmd(&sock, &format!("set server be/{srv} state maint"));
    let other = server_from("127.0.0.2", port);
    assert_ne!(&other, srv);
    // `clear table` forgets the client.
    assert_eq!(stats_cmd(&sock, "clear table be key 127.0.0.3"), "\n");
    assert!(!stats_cmd(&sock, "show table be").contains("key=127.0.0.3 "));
}

#[test]
fn gpc0_and_gpt0_actions_and_src_fetches() {
    let s = Serve::start("web", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  bind 127.0.0.1:{port}\n\
         stick-table type ip size 10 expire 30s store gpc0,gpt0,conn_cnt\n\
         http-request track-sc1 src\n\
         http-request sc-inc-gpc0(1) if {{ path /bad }}\n\
         http-request sc-set-gpt0(1) 7 if {{ path /mark }}\n\
         http-request return status 200 content-type text/plain lf-string \"gpc0=%[sc1_get_gpc0] gpt0=%[sc_get_gpt0(1)] src=%[src_get_gpc0] cnt=%[src_conn_cnt] tracked=%[sc_tracked(1)],%[sc_tracked(0)] avl=%[table_avl]\" if {{ path /show }}\n\
         http-request deny deny_status 403 if {{ sc_get_gpc0(1) ge 2 }}\n\
         default_backend be\n\
         backend be\n  server s 127.0.0.1:{}\n",
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let body = |path: &str| {
        raw_exchange(
            port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
    };
    assert_eq!(status_of(port, "/bad"), 200);
    assert_eq!(status_of(port, "/mark"), 200);
    assert_eq!(body("/show"), "gpc0=1 gpt0=7 src=1 cnt=3 tracked=1,0 avl=9");
    assert_eq!(
        status_of(port, "/bad"),
        403,
        "gpc0 reached 2 on this request"
    );
    assert_eq!(status_of(port, "/"), 403);
}

#[test]
fn check_reports_stick_errors_with_file_and_line() {
    let dir = TempDir::new("stickcheck");
    let cfg = dir.write(
        "bad.cfg",
        "defaults\n  mode http\n\
         frontend fe\n  bind 127.0.0.1:1\n\
         stick-table type ip size 10 store http_req_rate\n\
         http-request track-sc0 src table nosuch\n\
         http-request track-sc3 src\n\
         http-request deny if { sc_http_req_rate(0,other) gt 1 }\n\
         default_backend be\n\
         backend be\n  stick on src\n  server s 127.0.0.1:2\n",
    );
    let (code, _out, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, want) in [
        (5, "data type 'http_req_rate' expects a period"),
        (6, "no stick-table named 'nosuch'"),
        (7, "invalid stick counter '3'"),
        (8, "no stick-table named 'other'"),
        (
            11,
            "no stick-table named 'be' (that proxy declares no stick-table)",
        ),
    ] {
        assert!(
            err.contains(&format!("bad.cfg:{line}: ")) && err.contains(want),
            "{line} {want}:\n{err}"
        );
    }
}

#[test]
fn check_reports_array_errors_with_file_and_line() {
    let dir = TempDir::new("stickarrays");
    let cfg = dir.write(
        "bad.cfg",
        "defaults\n  mode http\n\
         frontend fe\n  bind 127.0.0.1:1\n\
         stick-table type ip size 10 store gpc(2),gpc0\n\
         http-request sc-inc-gpc(1)\n\
         http-request sc-inc-gpc(1,3)\n\
         http-request sc-set-gpt(0,0)\n\
         http-request deny if { src_get_gpc(1) gt 0 }\n\
         http-request deny if { src,table_gpc(1) gt 0 }\n\
         http-request deny if { sc_get_gpc(1) gt 0 }\n\
         default_backend be\n\
         backend be\n  stick-table type ip size 10 store gpc_rate(101,10s)\n  server s 127.0.0.1:2\n\
         frontend f2\n  bind 127.0.0.1:3\n  stick-table type ip size 10 store gpt(1),gpt0\n\
         tcp-request connection sc-inc-gpc(0,0) foo\n  default_backend be\n",
    );
    let (code, _out, err) = check_config(&cfg);
    assert_eq!(code, 1, "{err}");
    for (line, want) in [
        (5, "simultaneous usage of 'gpc' and 'gpc[0/1]'"),
        (6, "missing gpc ID 'sc-inc-gpc(1)'"),
        (
            7,
            "invalid stick table track ID 'sc-inc-gpc(1,3)'. The max allowed ID is 2",
        ),
        (8, "expects an integer or a sample expression"),
        (
            9,
            "'src_get_gpc' : missing arguments (got 1/2), type 'table' expected",
        ),
        (
            10,
            "converter 'table_gpc' : missing arguments (got 1/2), type 'table' expected",
        ),
        (
            11,
            "'sc_get_gpc' : missing arguments (got 1/2), type 'integer' expected",
        ),
        (
            14,
            "array size is out of allowed range (1-100) for store option 'gpc_rate'",
        ),
        (18, "'gpt' overrides 'gpt0'"),
        (
            19,
            "expects either 'if' or 'unless' followed by a condition but found 'foo'",
        ),
    ] {
        assert!(
            err.contains(&format!("bad.cfg:{line}: "))
                && err
                    .lines()
                    .any(|l| l.contains(&format!("bad.cfg:{line}: ")) && l.contains(want)),
            "{line} {want}:\n{err}"
        );
    }
}

/// The byte counters of a tracked entry grow with each request (the end of a request skips
/// them only for tables that store none).
#[test]
fn byte_counters_count_each_request() {
    let s = Serve::start("web", &[]);
    let dir = TempDir::new("stickbytes");
    let sock = dir.path("admin.sock");
    let port = free_port();
    let cfg = format!(
        "global\n  stats socket {} level admin\n{DEFAULTS}\
         frontend fe\n  bind 127.0.0.1:{port}\n\
         stick-table type ip size 10 expire 30s store bytes_in_cnt,bytes_out_cnt\n\
         http-request track-sc0 src\n\
         default_backend be\n\
         backend be\n  server s 127.0.0.1:{}\n",
        sock.display(),
        s.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    wait_unix_socket(&sock);
    let value = |name: &str| -> u64 {
        stats_cmd(&sock, "show table fe")
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(status_of(port, "/"), 200);
    let (in1, out1) = (value("bytes_in_cnt="), value("bytes_out_cnt="));
    assert!(in1 > 0 && out1 > 0, "{in1} {out1}");
    assert_eq!(status_of(port, "/"), 200);
    assert!(value("bytes_in_cnt=") > in1 && value("bytes_out_cnt=") > out1);
}

/// A server for the byte counters: reads a request (its body too, by length or chunks) and
/// answers with a 10-byte body, chunked for `/chunked`, then closes.
fn bytes_server() -> Backend {
    use std::io::{Read, Write};
    Backend::start(|mut s| {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let whole = |b: &[u8]| -> bool {
            let text = String::from_utf8_lossy(b).to_ascii_lowercase();
            let Some(end) = text.find("\r\n\r\n") else {
                return false;
            };
            if text.contains("transfer-encoding: chunked") {
                return text[end..].contains("\r\n0\r\n\r\n");
            }
            let len = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            b.len() >= end + 4 + len
        };
        while !whole(&got) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let res: &[u8] = if got.starts_with(b"GET /chunked ") {
            b"HTTP/1.1 200 OK\r\nServer: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 10\r\n\r\n0123456789"
        };
        let _ = s.write_all(res);
    })
}

/// The byte counters grow for every request, whatever answered it (HAProxy's
/// `stream_process_counters`): a deny, a `return`, a redirect, a 503 without a server, as
/// for a server's answer; by the sizes HAProxy counts (HTX: no header separators, a
/// chunked body's data only). Compared with Debian's haproxy on the same configuration,
/// each kind of request from its own source address.
#[test]
fn byte_counters_count_local_answers_like_haproxy() {
    let srv = bytes_server();
    let dir = TempDir::new("stickbytes-local");
    let cfg = |port: u16, sock: &std::path::Path| {
        format!(
            "global\n  stats socket {} level admin\n{DEFAULTS}\
             frontend fe\n  bind 127.0.0.1:{port}\n\
             stick-table type ip size 1k expire 1m store bytes_in_cnt,bytes_out_cnt,http_req_cnt\n\
             http-request track-sc0 src\n\
             http-request deny if {{ path /deny }}\n\
             http-request return status 200 content-type text/plain string hello if {{ path /ret }}\n\
             http-request redirect location /x if {{ path /redir }}\n\
             use_backend none if {{ path /none }}\n\
             default_backend be\n\
             backend be\n  server s 127.0.0.1:{}\n\
             backend none\n",
            sock.display(),
            srv.port
        )
    };
    let requests: [&[u8]; 9] = [
        b"GET /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789",
        b"POST /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n0\r\n\r\n",
        b"GET /ret HTTP/1.1\r\nHost: x\r\nUser-Agent:   padded  \r\n\r\n",
        b"GET /redir HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /srv HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-other\r\n\r\n",
        b"POST /srv HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789",
        b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ];
    // The entries by source address, the one of each request given by `base`.
    let run = |port: u16, sock: &std::path::Path, base: u8| -> Vec<String> {
        for (i, r) in requests.iter().enumerate() {
            use std::io::{Read, Write};
            let from = format!("127.{base}.0.{}", i + 1);
            let mut c = connect_from(&from, ("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(r).unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            // Until the answer's end (a close, or the whole answer of a kept connection).
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out);
                if text.contains("\r\n\r\n")
                    && (text.ends_with("0123456789") || text.ends_with("hello"))
                {
                    break;
                }
            }
            assert!(
                !out.is_empty(),
                "no answer to {}",
                String::from_utf8_lossy(r)
            );
        }
        // The last stream ends as its answer goes: its counters are added just after.
        std::thread::sleep(Duration::from_millis(100));
        let mut rows: Vec<String> = stats_cmd(sock, "show table fe")
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let key = w.iter().find_map(|w| w.strip_prefix("key="))?;
                let (_, n) = key.rsplit_once('.')?;
                let data = w
                    .iter()
                    .filter(|w| !w.starts_with("use=") && !w.starts_with("exp="));
                Some(format!(
                    "#{n} {}",
                    data.skip(2).cloned().collect::<Vec<_>>().join(" ")
                ))
            })
            .collect();
        rows.sort();
        rows
    };
    let (hport, cport) = (free_port(), free_port());
    let (hsock, csock) = (dir.path("h.sock"), dir.path("c.sock"));
    let Some(_h) = common::haproxy::Haproxy::start(&cfg(hport, &hsock), &[hport]) else {
        return;
    };
    wait_unix_socket(&hsock);
    let want = run(hport, &hsock, 21);
    assert_eq!(want.len(), requests.len(), "{want:#?}");
    let _lb = Corelb::start(&cfg(cport, &csock), &[], &[cport]);
    wait_unix_socket(&csock);
    let got = run(cport, &csock, 22);
    assert_eq!(got, want);
}
