//! Access logs as containers read them: `log stdout format raw|short|rfc5424|…`,
//! `log-format` / `log-format-sd`, `capture request|response header`, `option httplog clf`,
//! read from corelb's stdout; a stdout nobody reads does not hold requests up; and the same
//! configuration through Debian's HAProxy writes the same lines, timers and byte counts aside.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One HTTP/1.1 request on its own connection; the status.
fn get(port: u16, path: &str, headers: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    read_response(&mut r, false).unwrap().status
}

/// A mode tcp exchange: connects, reads the backend's name to the end.
fn tcp_once(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
}

/// Runs `prog -f CFG` with stdout to a file until `ports` listen; the lines of stdout once
/// `drive` is done and the process stopped.
fn stdout_lines(prog: &str, cfg: &str, ports: &[u16], drive: impl FnOnce()) -> Vec<String> {
    let dir = TempDir::new("logfmt");
    let path = dir.write("lb.cfg", cfg);
    let out = dir.path("stdout");
    let mut cmd = Command::new(prog);
    if prog == "haproxy" {
        cmd.arg("-db");
    } else {
        cmd.args(["--shards", "1"]);
    }
    let mut child: Child = cmd
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path("stderr")).unwrap())
        .spawn()
        .unwrap();
    for &p in ports {
        let up = eventually(Duration::from_secs(10), || listening(p).then_some(()));
        assert!(
            up.is_some(),
            "{prog} did not listen on {p}:\n{}",
            std::fs::read_to_string(dir.path("stderr")).unwrap_or_default()
        );
    }
    drive();
    // Lines are written when each stream ends; give the writer a moment, then stop.
    let want = |t: &str| t.lines().count();
    let _ = eventually(Duration::from_secs(3), || {
        let t = std::fs::read_to_string(&out).unwrap_or_default();
        (want(&t) > 0 && t.ends_with('\n')).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    signal_pid(child.id() as i32, libc::SIGTERM);
    let _ = eventually(Duration::from_secs(10), || child.try_wait().ok().flatten());
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn global(targets: &str) -> String {
    format!(
        "global\n{targets}  log-tag lb\ndefaults\n  log global\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
    )
}

#[test]
fn raw_short_and_rfc5424_lines_on_stdout() {
    let srv = Serve::start("s1", &[]);
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  option httplog\n  capture request header User-Agent len 6\n  capture request header X-None len 10\n  capture response header X-Server len 20\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
        global(
            "  log stdout format raw local0\n  log stdout format short local0\n  log stdout format rfc5424 local0\n  log stdout format timed local0 info\n  log stdout format priority local0 debug\n  log stdout format iso local0\n  log stdout local0 err\n"
        ),
        srv.port
    );
    let lines = stdout_lines(corelb_bin(), &cfg, &[port], || {
        assert_eq!(get(port, "/a?b=1", "User-Agent: cu|rl\"agent\r\n"), 200);
    });
    // Six targets take an info line; the one limited to 'err' does not.
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let body = "fe be/s1 ";
    let raw = &lines[0];
    assert!(raw.starts_with("127.0.0.1:"), "{raw}");
    assert!(raw.contains(&format!("] {body}")), "{raw}");
    assert!(raw.contains(" 200 "), "{raw}");
    // The captures: cut to 6 bytes, HAProxy's #XX escapes, an absent header empty.
    assert!(
        raw.ends_with(" {cu#7Crl#22|} {s1} \"GET /a?b=1 HTTP/1.1\""),
        "{raw}"
    );
    assert_eq!(lines[1], format!("<6>{raw}"));
    let rfc = &lines[2];
    assert!(rfc.starts_with("<134>1 "), "{rfc}");
    // `<PRI>1 TIME HOST TAG PID MSGID SD MSG`, with `-` for what is unset.
    let (head, rest) = rfc.split_once(" - lb ").unwrap();
    assert_eq!(
        head.len(),
        "<134>1 2026-12-06T07:02:50.777480+00:00".len(),
        "{rfc}"
    );
    let (pid, tail) = rest.split_once(' ').unwrap();
    assert!(pid.parse::<u32>().is_ok(), "{rfc}");
    assert_eq!(tail, format!("- - {raw}"));
    // The ISO time is 33 bytes with its blank.
    let iso = "2026-12-06T07:02:50.777486+00:00 ".len();
    assert!(lines[3].starts_with("<6>20") && lines[3].ends_with(raw.as_str()));
    assert_eq!(lines[3].len(), 3 + iso + raw.len(), "{}", lines[3]);
    assert_eq!(lines[4], format!("<134>{raw}"));
    assert!(lines[5].starts_with("20") && lines[5].ends_with(raw.as_str()));
    assert_eq!(lines[5].len(), iso + raw.len(), "{}", lines[5]);
}

#[test]
fn custom_log_format_tcp_and_http() {
    let srv = Serve::start("s1", &[]);
    let b = Backend::named("b1");
    let (ph, pt) = (free_port(), free_port());
    let cfg = format!(
        "{}frontend web\n  mode http\n  bind 127.0.0.1:{ph}\n  log-format \"%{{+Q}}o %ci %ft %b %s %ST %HM %HP %HQ %HV %[src] %[ssl_fc_sni] %tsc %{{-Q}}r end\"\n  log-format-sd \"[req@1 m=\\\"%HM\\\"]\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\nlisten raw\n  mode tcp\n  bind 127.0.0.1:{pt}\n  log-format \"tcp %ci %b/%s %ts %tsc %B  %U  %rc\"\n  server s1 127.0.0.1:{}\n",
        global("  log stdout format raw local0\n  log stdout format rfc5424 local0\n"),
        srv.port,
        b.port
    );
    let lines = stdout_lines(corelb_bin(), &cfg, &[ph, pt], || {
        assert_eq!(get(ph, "/p/q?x=1", ""), 200);
        tcp_once(pt);
    });
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let http = lines
        .iter()
        .find(|l| l.starts_with("\"127.0.0.1\""))
        .unwrap();
    assert_eq!(
        http,
        "\"127.0.0.1\" \"web\" \"be\" \"s1\" 200 \"GET\" \"/p/q\" \"?x=1\" \"HTTP/1.1\" \"127.0.0.1\" \"\" ---- GET /p/q?x=1 HTTP/1.1 end"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" [req@1 m=\"GET\"] \"127.0.0.1\" ")),
        "{lines:#?}"
    );
    let tcp = lines.iter().find(|l| l.starts_with("tcp ")).unwrap();
    assert!(tcp.starts_with("tcp 127.0.0.1 raw/s1 -- ---- "), "{tcp}");
    // Nothing came from the client, no retry.
    assert!(tcp.ends_with(" 0 0"), "{tcp}");
}

#[test]
fn unknown_variables_and_http_only_ones_are_errors_with_their_line() {
    let dir = TempDir::new("logfmt");
    for (fmt, mode, msg) in [
        ("%ci %zz", "http", "no such format variable '%zz'"),
        (
            "%ci %r",
            "tcp",
            "format variable 'r' is reserved for HTTP mode",
        ),
        ("%{+Z}ci", "http", "'+Z' is not supported"),
        ("%[nope]", "http", "unknown fetch method 'nope'"),
        // HAProxy 2.6 refuses what is gone when the line is written (the request's headers
        // and buffer) instead of logging '-' for it.
        (
            "%[req.hdr(host)]",
            "http",
            "sample fetch <req.hdr(host)]> may not be reliably used here because it needs 'HTTP request headers' which is not available here.",
        ),
        (
            "%ci %[path,lower]",
            "http",
            "needs 'HTTP request headers' which",
        ),
        (
            "%[hdr(host)]",
            "http",
            "needs 'HTTP request headers,HTTP response headers' which",
        ),
        ("%[req.len]", "tcp", "needs 'request buffer' which"),
        ("%[req.ssl_sni]", "tcp", "needs 'request buffer' which"),
    ] {
        let path = dir.write(
            "bad.cfg",
            &format!(
                "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n  mode {mode}\n  bind 127.0.0.1:1\n  log-format \"{fmt}\"\n  server s 127.0.0.1:2\n"
            ),
        );
        let (code, _, err) = check_config(&path);
        assert_eq!(code, 1, "{fmt}: {err}");
        let want = format!("{}:8: failed to parse log-format : ", path.display());
        assert!(
            err.lines().any(|l| l.starts_with(&want) && l.contains(msg)),
            "{fmt}: want {want}…{msg} in\n{err}"
        );
    }
    // What the line can still show: the method, the captures, TLS facts, variables; and a
    // unique ID, made while the request is read, may use the headers.
    let path = dir.write(
        "ok.cfg",
        "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n  mode http\n  bind 127.0.0.1:1\n  unique-id-format \"%[req.hdr(host)]-%[path]\"\n  log-format \"%[method] %[ssl_fc_sni] %[var(txn.x)] %[src] %[req.proto_http]\"\n  server s 127.0.0.1:2\n",
    );
    let (code, _, err) = check_config(&path);
    assert_eq!(code, 0, "{err}");
}

/// With `log stdout` and nobody reading stdout, requests are still answered.
#[test]
fn a_stdout_nobody_reads_does_not_hold_requests() {
    let srv = Serve::start("s1", &[]);
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  log-format \"%ci:%cp %ST %{{+Q}}r\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
        global("  log stdout format raw local0\n"),
        srv.port
    );
    let (r, w) = std::io::pipe().unwrap();
    let mut c = Corelb::spawn_stdio(&cfg, &["--shards", "1"], w.into(), None);
    c.wait_port(port);
    // Far more lines than a pipe holds (64 KiB): a blocking write would stop the shard.
    for i in 0..3000 {
        assert_eq!(get(port, "/x", ""), 200, "request {i}");
    }
    // Then the reader comes: whole lines, each one of ours.
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(r).lines() {
            lines.push(l.unwrap());
        }
        lines
    });
    c.signal("TERM");
    assert_eq!(c.wait_exit(Duration::from_secs(20)), Some(0), "{}", c.log());
    let lines = reader.join().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 3000, "{}", lines.len());
    for l in &lines {
        assert!(
            l.starts_with("127.0.0.1:") && l.ends_with(" 200 \"GET /x HTTP/1.1\""),
            "{l:?}"
        );
    }
}

/// Replaces every number with `N`: times, dates, ports, pids and byte counts differ between
/// two runs (and response sizes between the two proxies); the shape is what must match.
fn normalize(l: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in l.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            out.push('N');
            digits.clear();
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

#[test]
fn lines_match_haproxy() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!("SKIP: haproxy is not installed");
        return;
    }
    let b = Backend::named("b1");
    let srv = Serve::start("s1", &[]);
    let (p1, p2, p3, p4) = (free_port(), free_port(), free_port(), free_port());
    let cfg = format!(
        "{}frontend h\n  mode http\n  bind 127.0.0.1:{p1}\n  option httplog\n  capture request header User-Agent len 8\n  capture response header X-Server len 8\n  default_backend be\nfrontend c\n  mode http\n  bind 127.0.0.1:{p2}\n  option httplog clf\n  capture request header User-Agent len 8\n  default_backend be\nfrontend f\n  mode http\n  bind 127.0.0.1:{p3}\n  log-format \"%{{+Q}}o %ci %ft %f %b %s %si %ST %CC %ts %tsc %ac %fc %rc %sq %bq %hr %hrl %hs %r %HM %HU %HP %HQ %HV %ID %[src] %[ssl_fc_sni] end\"\n  log-format-sd \"[x@1 c=\\\"%ci\\\"]\"\n  default_backend be\nlisten t\n  mode tcp\n  bind 127.0.0.1:{p4}\n  option tcplog\n  server s1 127.0.0.1:{}\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
        global(
            "  log stdout format raw local0\n  log stdout format short local0\n  log stdout format rfc5424 local0\n  log stdout format priority local0\n  log stdout format local local0\n  log stdout format rfc3164 local0\n"
        ),
        b.port,
        srv.port
    );
    let drive = || {
        for p in [p1, p2, p3] {
            assert_eq!(get(p, "/a/b?c=d", "User-Agent: x|y\"z{w}\r\n"), 200);
        }
        tcp_once(p4);
    };
    let mut h = stdout_lines("haproxy", &cfg, &[p1, p2, p3, p4], drive);
    let mut c = stdout_lines(corelb_bin(), &cfg, &[p1, p2, p3, p4], drive);
    let norm = |v: &mut Vec<String>| {
        for l in v.iter_mut() {
            *l = normalize(l).replace("haproxy[", "lb[");
        }
        v.sort();
    };
    norm(&mut h);
    norm(&mut c);
    assert_eq!(h.len(), 24, "{h:#?}");
    assert_eq!(
        h,
        c,
        "haproxy:\n{}\ncorelb:\n{}",
        h.join("\n"),
        c.join("\n")
    );
}

#[test]
fn log_line_options_are_checked() {
    let dir = TempDir::new("logfmt");
    let base = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n  bind 127.0.0.1:1\n  server s 127.0.0.1:2\n";
    let ok = dir.write(
        "ok.cfg",
        &format!("global\n  log localhost:1514 len 200 format iso sample 1-2,4:5 local0 info notice\n  log 127.0.0.1 format local daemon\n  log-send-hostname lb1\n{base}  log global\n  no log\n  log stdout format timed local7 debug\n"),
    );
    let (code, _, err) = check_config(&ok);
    assert_eq!(code, 0, "{err}");
    for (line, msg) in [
        (
            "log stdout format bogus local0",
            "unknown log format 'bogus'",
        ),
        (
            "log stdout sample 0:3 local0",
            "sample range '0' must be within 1..3",
        ),
        ("log stdout sample 1:0 local0", "invalid sample size '0'"),
        ("log stdout sample 1 local0", "is not RANGES:SIZE"),
        ("log stdout local9", "unknown log facility 'local9'"),
        ("log no-such-host.invalid local0", "invalid log target"),
    ] {
        let bad = dir.write("bad.cfg", &format!("global\n  {line}\n{base}"));
        let (code, _, err) = check_config(&bad);
        assert_eq!(code, 1, "{line}: {err}");
        assert!(
            err.contains(&format!("{}:2: ", bad.display())) && err.contains(msg),
            "{line}: want '{msg}' in\n{err}"
        );
    }
    // The proxy's logging keywords, with HAProxy's words where it has them.
    for (line, msg) in [
        ("log-tag", "'log-tag' expects a tag for use in syslog."),
        ("log-tag a b", "'log-tag' expects a tag for use in syslog."),
        (
            "error-log-format",
            "'error-log-format' expects a format string",
        ),
        (
            "error-log-format \"%[req.hdr(x)]\"",
            "failed to parse error-log-format : sample fetch <req.hdr(x)]> may not be reliably used here",
        ),
        (
            "option dontlog-normal x",
            "unexpected argument 'x' after 'option dontlog-normal'",
        ),
        (
            "option log-separate-errors x",
            "unexpected argument 'x' after 'option log-separate-errors'",
        ),
    ] {
        let bad = dir.write("bad.cfg", &format!("{base}  {line}\n"));
        let (code, _, err) = check_config(&bad);
        assert_eq!(code, 1, "{line}: {err}");
        assert!(
            err.contains(&format!("{}:8: ", bad.display())) && err.contains(msg),
            "{line}: want '{msg}' in\n{err}"
        );
    }
}

/// `sample 1:2` sends every other line; the target beside it gets them all.
#[test]
fn sampled_target_gets_its_share() {
    let b = Backend::named("b1");
    let port = free_port();
    let cfg = format!(
        "{}listen l\n  mode tcp\n  bind 127.0.0.1:{port}\n  log-format \"%ci %b\"\n  server s1 127.0.0.1:{}\n",
        global("  log stdout format raw sample 2:2 local0\n  log stdout format short local0\n"),
        b.port
    );
    let lines = stdout_lines(corelb_bin(), &cfg, &[port], || {
        for _ in 0..10 {
            tcp_once(port);
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    let short = lines.iter().filter(|l| l.starts_with("<6>")).count();
    let raw = lines.iter().filter(|l| l.starts_with("127.")).count();
    assert_eq!((short, raw), (10, 5), "{lines:#?}");
}

/// The last of `log-format` / `option tcplog` / `option httplog` wins, defaults included;
/// `option httplog` in mode tcp falls back to the tcp line with HAProxy's warning.
#[test]
fn last_format_setting_wins() {
    let b = Backend::named("b1");
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{}  log-format \"custom %ci\"\nlisten a\n  mode tcp\n  bind 127.0.0.1:{p1}\n  option httplog\n  server s1 127.0.0.1:{}\nlisten b\n  mode tcp\n  bind 127.0.0.1:{p2}\n  server s1 127.0.0.1:{}\n",
        global("  log stdout format raw local0\n"),
        b.port,
        b.port
    );
    let lines = stdout_lines(corelb_bin(), &cfg, &[p1, p2], || {
        tcp_once(p1);
        tcp_once(p2);
        std::thread::sleep(Duration::from_millis(200));
    });
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("127.0.0.1:") && l.contains("] a a/s1 ")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "custom 127.0.0.1"), "{lines:#?}");
    let dir = TempDir::new("logfmt");
    let (_, _, err) = check_config(&dir.write("c.cfg", &cfg));
    assert!(
        err.contains("'option httplog' not usable with listen 'a' (needs 'mode http'). Falling back to 'option tcplog'"),
        "{err}"
    );
}

/// `capture cookie NAME len N`: `%CC` is the first request cookie whose `name=value` starts
/// with NAME, `%CS` the first such `Set-Cookie` of the answer, each cut to N bytes, `-`
/// without one; the same lines from Debian's HAProxy and corelb.
#[test]
fn capture_cookie_logs_cc_and_cs_like_haproxy() {
    // A server that sets a session cookie, except on /other.
    let b = Backend::start(|mut s| {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let req = String::from_utf8_lossy(&buf[..n]);
        let cookie = if req.starts_with("GET /other") {
            "other=1"
        } else {
            "SIDY=server-value-0123456789; Path=/; HttpOnly"
        };
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nSet-Cookie: x=y\r\nSet-Cookie: {cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    });
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  log-format \"cc=%CC cs=%CS %{{+Q}}CC\"\n  capture cookie SID len 12\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            b.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            assert_eq!(
                get(port, "/", "Cookie: a=1; SIDX=abcdefghijklmnop; SIDZ=2\r\n"),
                200
            );
            assert_eq!(
                get(port, "/other", "Cookie: SID\r\nCookie:  SIDQ=1 \r\n"),
                200
            );
            assert_eq!(get(port, "/", ""), 200);
        })
    };
    let ours = run(corelb_bin());
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok()
    {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "cc=SIDX=abcdefg cs=SIDY=server- \"SIDX=abcdefg\"",
            "cc=SIDQ=1 cs=- \"SIDQ=1\"",
            "cc=- cs=SIDY=server- \"\"",
        ]
    );
}

/// Answers corelb makes itself from `http-request` rules log what HAProxy logs: `LR` for
/// `auth`, `return` and `redirect` (processed locally while reading the request), `PR` for
/// `deny`, and -1 for the queue, connect and response timers that never ran. A deny counts
/// as denied (`dreq`), not as an invalid request (`ereq`).
#[test]
fn rule_replies_log_termination_state_and_timers_like_haproxy() {
    let run = |prog: &str| {
        let (port, stats) = (free_port(), free_port());
        let cfg = format!(
            "{}userlist ul\n  user u insecure-password p\nfrontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  log-format \"%HU %ST %ts %tsc %Tw/%Tc/%Tr %b/%s\"\n  http-request auth realm x if {{ path /auth }} !{{ http_auth(ul) }}\n  http-request return status 200 content-type text/plain string ok if {{ path /ret }}\n  http-request redirect location /x if {{ path /red }}\n  http-request deny if {{ path /deny }}\n  default_backend be\nlisten st\n  mode http\n  bind 127.0.0.1:{stats}\n  no log\n  stats enable\n  stats uri /s\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            free_port()
        );
        let mut counted = (String::new(), String::new());
        let mut lines = stdout_lines(prog, &cfg, &[port, stats], || {
            assert_eq!(get(port, "/auth", ""), 401);
            assert_eq!(get(port, "/ret", ""), 200);
            assert_eq!(get(port, "/red", ""), 302);
            assert_eq!(get(port, "/deny", ""), 403);
            let mut s = TcpStream::connect(("127.0.0.1", stats)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /s;csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let body = read_response(&mut BufReader::new(s), false).unwrap().body;
            let csv = &String::from_utf8_lossy(&body);
            counted = (
                csv_field(csv, "FRONTEND", "ereq").to_string(),
                csv_field(csv, "FRONTEND", "dreq").to_string(),
            );
        });
        lines.push(format!("ereq={} dreq={}", counted.0, counted.1));
        lines
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "/auth 401 LR LR-- -1/-1/-1 fe/<NOSRV>",
            "/ret 200 LR LR-- -1/-1/-1 fe/<NOSRV>",
            "/red 302 LR LR-- -1/-1/-1 fe/<NOSRV>",
            "/deny 403 PR PR-- -1/-1/-1 fe/<NOSRV>",
            "ereq=0 dreq=1",
        ]
    );
}

/// `option dontlog-normal` logs only streams with an error (HAProxy's `strm_log`: an end
/// other than normal or local, retries, a redispatch, a status of 500 or more); `option
/// log-separate-errors` sends those at level `err`; a proxy's `log-tag` replaces the
/// global tag on its lines. The same lines as Debian's HAProxy, priorities included.
#[test]
fn dontlog_normal_separate_errors_and_proxy_tag_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let (p1, p2) = (free_port(), free_port());
        let cfg = format!(
            "{}frontend quiet\n  mode http\n  bind 127.0.0.1:{p1}\n  log-tag fetag\n  option dontlog-normal\n  option log-separate-errors\n  log-format \"%HU %ST %ts %b/%s\"\n  http-request return status 200 if {{ path /local }}\n  http-request return status 503 if {{ path /r503 }}\n  http-request deny if {{ path /deny }}\n  use_backend dead if {{ path /dead }}\n  default_backend be\nfrontend loud\n  mode http\n  bind 127.0.0.1:{p2}\n  option log-separate-errors\n  log-format \"%HU %ST %ts %b/%s\"\n  http-request deny if {{ path /deny }}\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\nbackend dead\n  mode http\n  server d 127.0.0.1:{}\n",
            global("  log stdout format priority local0\n  log stdout format rfc3164 local0\n"),
            srv.port,
            free_port()
        );
        let mut lines = stdout_lines(prog, &cfg, &[p1, p2], || {
            assert_eq!(get(p1, "/ok", ""), 200);
            assert_eq!(get(p1, "/local", ""), 200);
            assert_eq!(get(p1, "/r503", ""), 503);
            assert_eq!(get(p1, "/deny", ""), 403);
            assert_eq!(get(p1, "/dead", ""), 503);
            assert_eq!(get(p2, "/ok", ""), 200);
            assert_eq!(get(p2, "/deny", ""), 403);
        });
        for l in lines.iter_mut() {
            // rfc3164: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`; keep PRI, TAG and MSG.
            if let Some((head, msg)) = l.split_once("]: ") {
                let tag = head.rsplit(' ').next().unwrap().split('[').next().unwrap();
                let pri = &head[..head.find('>').unwrap() + 1];
                *l = format!("{pri}{tag}: {msg}").replace("haproxy:", "lb:");
            }
        }
        lines.sort();
        lines
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "<131>/dead 503 SC dead/d",
            "<131>/deny 403 PR loud/<NOSRV>",
            "<131>/deny 403 PR quiet/<NOSRV>",
            "<131>/r503 503 LR quiet/<NOSRV>",
            "<131>fetag: /dead 503 SC dead/d",
            "<131>fetag: /deny 403 PR quiet/<NOSRV>",
            "<131>fetag: /r503 503 LR quiet/<NOSRV>",
            "<131>lb: /deny 403 PR loud/<NOSRV>",
            "<134>/ok 200 -- be/s1",
            "<134>lb: /ok 200 -- be/s1",
        ]
    );
}

/// A TLS handshake that fails is logged with the frontend's `error-log-format` when it has
/// one (HAProxy's `sess_log`: no stream, so `PR`, the frontend as backend, no server), and
/// with HAProxy's legacy line otherwise; both at `err` with `option log-separate-errors`.
#[test]
fn failed_handshakes_use_error_log_format_like_haproxy() {
    let dir = TempDir::new("errlog");
    let pem = self_signed_pem(&dir, "c.pem", &["localhost"]);
    let run = |prog: &str| {
        let (p1, p2) = (free_port(), free_port());
        let cfg = format!(
            "{}frontend tls1\n  mode http\n  bind 127.0.0.1:{p1} ssl crt {pem}\n  option log-separate-errors\n  log-format \"never %ci\"\n  error-log-format \"%ft %b/%s %ts %ST %B %Tw/%Tc/%Tr %{{+Q}}r %[fc_err]:%[fc_err_str] end\"\n  default_backend be\nfrontend tls2\n  mode http\n  bind 127.0.0.1:{p2} ssl crt {pem}\n  log-format \"never %ci\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format priority local0\n"),
            free_port(),
            pem = pem.display()
        );
        let lines = stdout_lines(prog, &cfg, &[p1, p2], || {
            for p in [p1, p2] {
                let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
                let _ = s.read_to_end(&mut Vec::new());
            }
        });
        // The priority as it is, the rest without its numbers.
        let mut lines: Vec<String> = lines
            .iter()
            .map(|l| {
                let (pri, rest) = l.split_at(l.find('>').map_or(0, |i| i + 1));
                format!("{pri}{}", normalize(rest))
            })
            .collect();
        lines.sort();
        lines
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(ours.len(), 2, "{ours:#?}");
    assert_eq!(
        ours[0],
        "<131>tlsN~ tlsN/<NOSRV> PR N N -N/-N/-N \"<BADREQ>\" N:SSL handshake failure end"
    );
    assert!(ours[1].starts_with("<134>N.N.N.N:N [N/"), "{ours:#?}");
    assert!(
        ours[1].ends_with("] tlsN/N: SSL handshake failure"),
        "{ours:#?}"
    );
}

/// `declare capture` slots and `http-request capture … id N | len N` fill `%hr` beside the
/// `capture request header` ones, in declaration order; `capture.req.hdr(N)` and
/// `unique-id` read them in the log line. The same line as Debian's HAProxy.
#[test]
fn declared_captures_capture_rules_and_unique_id_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  capture request header X-H len 20\n  declare capture request len 10\n  declare capture response len 4\n  http-request capture req.hdr(x-a) id 1\n  http-request capture req.hdr(x-b),upper len 5\n  http-request capture req.hdr(x-none) len 5\n  unique-id-format \"%[req.hdr(x-h)]-%[method]\"\n  log-format \"c0=%[capture.req.hdr(0)] c1=%[capture.req.hdr(1)] c2=%[capture.req.hdr(2)] c3=%[capture.req.hdr(3)] c9=%[capture.req.hdr(9)] hr=%hr hs=%hs uid=%[unique-id] id=%ID\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            let h = "X-H: host-value\r\nX-A: aaaaaaaaaaaaaaaa\r\nX-B: bbbbbbbbbb\r\n";
            assert_eq!(get(port, "/", h), 200);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "c0=host-value c1=aaaaaaaaaa c2=BBBBB c3=- c9=- hr={host-value|aaaaaaaaaa|BBBBB|} hs={} uid=host-value-GET id=host-value-GET"
        ]
    );
}

/// `http-request` rules and ACLs read the unique ID (`%[unique-id]`, `unique-id -m found`),
/// made once (HAProxy makes it at the fetch's first use) and the same in the log's `%ID`;
/// the format's blanks merge as a log format's do.
#[test]
fn rules_read_the_unique_id_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  unique-id-format \"%[req.hdr(x-h)]-%[method]   x\"\n  http-request set-header X-U %[unique-id]\n  http-request set-var(txn.h) req.hdr(x-u)\n  http-request set-var(txn.f) str(found) if {{ unique-id -m found }}\n  log-format \"h=%[var(txn.h)] f=%[var(txn.f)] id=%ID\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            assert_eq!(get(port, "/", "X-H: host-value\r\n"), 200);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(ours, ["h=host-value-GET x f=found id=host-value-GET x"]);
}

/// `http-after-response capture EXPR id N` fills the frontend's response slots (`%hs`,
/// `capture.res.hdr(N)`) from the answer as the rules before it left it, on a server's
/// answer and on corelb's own (a `deny`), after `http-response capture`. The same lines as
/// Debian's HAProxy.
#[test]
fn after_response_capture_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  declare capture response len 12\n  declare capture response len 3\n  declare capture response len 12\n  http-request deny if {{ path /deny }}\n  http-response capture str(from-res) id 2\n  http-after-response set-header x-a after-%[status]\n  http-after-response capture res.hdr(x-a) id 0\n  http-after-response capture status id 1\n  http-after-response capture str(deny) id 2 if {{ status 403 }}\n  log-format \"hs=%hs c0=%[capture.res.hdr(0)] c1=%[capture.res.hdr(1)] c2=%[capture.res.hdr(2)]\"\n  default_backend be\nbackend be\n  mode http\n  http-after-response capture str(from-be) id 0 if {{ path /none }}\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            assert_eq!(get(port, "/", ""), 200);
            assert_eq!(get(port, "/deny", ""), 403);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "hs={after-200|200|from-res} c0=after-200 c1=200 c2=from-res",
            "hs={after-403|403|deny} c0=after-403 c1=403 c2=deny",
        ]
    );
}

/// The `capture-req(id)` and `capture-res(id)` converters store their input in the
/// frontend's capture slot `id` (cut to its length) and pass it on unchanged (`%hr`, `%hs`,
/// `capture.req.hdr(N)`); a slot the frontend lacks fails the converter (the variable stays
/// unset). The same lines as Debian's HAProxy.
#[test]
fn capture_converters_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  declare capture request len 5\n  declare capture request len 20\n  declare capture response len 6\n  http-request set-header X-Copy %[req.hdr(x-a),capture-req(0)]\n  http-request set-var(txn.k) req.hdr(x-b),capture-req(1),upper\n  http-request set-var(txn.bad) req.hdr(x-b),capture-req(7)\n  http-response set-var(txn.ct) res.hdr(content-type),capture-res(0)\n  http-response set-var(txn.badr) res.hdr(content-type),capture-res(1)\n  log-format \"hr=%hr hs=%hs k=%[var(txn.k)] bad=%[var(txn.bad)] ct=%[var(txn.ct)] badr=%[var(txn.badr)] c0=%[capture.req.hdr(0)] r0=%[capture.res.hdr(0)]\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            let h = "X-A: aaaaaaaaaa\r\nX-B: bb-value\r\n";
            assert_eq!(get(port, "/", h), 200);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "hr={aaaaa|bb-value} hs={text/p} k=BB-VALUE bad=- ct=text/plain badr=- c0=aaaaa r0=text/p"
        ]
    );
}

/// A rule's value keeps its blanks as written (leading, trailing and runs: HAProxy parses
/// it without `LOG_OPT_MERGE_SPACES`), while the access log's format merges each run of
/// blanks into one separator; a value with blanks in it goes into the log as it is.
#[test]
fn blanks_are_kept_in_rule_values_and_merged_in_log_formats_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  http-request set-var-fmt(txn.a) \"  p   q %[str(r)]  \"\n  http-request set-header X-B \"1   2\"\n  http-request set-var(txn.b) req.hdr(x-b)\n  log-format \"  v=[%[var(txn.a)]]   b=[%[var(txn.b)]]  x   y \"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            assert_eq!(get(port, "/", ""), 200);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(ours, ["v=[  p   q r  ] b=[1   2] x y "]);
}

/// `declare capture` and `http-request capture` errors name the file and line, in HAProxy's
/// words.
#[test]
fn capture_declarations_are_checked() {
    let dir = TempDir::new("logfmt");
    let base = "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nfrontend f\n  bind 127.0.0.1:1\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n";
    for (line, at, msg) in [
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture request",
            13,
            "'declare capture' requires a capture length ('len')",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture request len x",
            13,
            "'declare capture': cannot parse the length 'x'.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture foo len 3",
            13,
            "'declare capture' requires a direction ('request' or 'response')",
        ),
        (
            "backend b2\n  declare capture request len 3",
            12,
            "'declare' only available in frontend or listen section",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  http-request capture req.hdr(a)",
            13,
            "error detected in frontend 'f2' while parsing 'http-request capture' rule : expects <expression> [ 'len' <length> | id <idx> ].",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  http-request capture req.hdr(a) len 0",
            13,
            "rule : length must be > 0.",
        ),
        (
            "backend b2\n  http-request capture req.hdr(a) len 3",
            12,
            "error detected in backend 'b2' while parsing 'http-request capture' rule : proxy 'b2' has no frontend capability.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture request len 3\n  http-request capture req.hdr(a) id 1",
            14,
            "Proxy 'f2': unable to find capture id '1' referenced by http-request capture rule.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture response len 3\n  http-response capture res.hdr(a) len 3",
            14,
            "error detected in frontend 'f2' while parsing 'http-response capture' rule : expects 'id', found 'len'.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture response len 3\n  http-after-response capture res.hdr(a) len 3",
            14,
            "error detected in frontend 'f2' while parsing 'http-after-response capture' rule : expects 'id', found 'len'.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture response len 3\n  http-after-response capture res.hdr(a) id 1",
            14,
            "Proxy 'f2': unable to find capture id '1' referenced by http-response capture rule.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  http-response capture res.hdr(a)",
            13,
            "error detected in frontend 'f2' while parsing 'http-response capture' rule : expects <expression> id <idx>.",
        ),
        (
            "frontend f2\n  bind 127.0.0.1:3\n  declare capture response len 3\n  http-response capture res.hdr(a) id 1",
            14,
            "Proxy 'f2': unable to find capture id '1' referenced by http-response capture rule.",
        ),
    ] {
        let bad = dir.write("bad.cfg", &format!("{base}{line}\n"));
        let (code, _, err) = check_config(&bad);
        assert_eq!(code, 1, "{line}: {err}");
        assert!(
            err.contains(&format!("{}:{at}: ", bad.display())) && err.contains(msg),
            "{line}: want ':{at}: …{msg}' in\n{err}"
        );
    }
}

/// What corelb answers itself is logged as HAProxy logs its applets: the stats page as
/// `<STATS>`, the exporter as `<PROMEX>`, `LR` with their queue timer run (0, not -1); a
/// `monitor-uri` request is not logged. The frontend's `intercepted` counter counts what
/// HAProxy 2.6 counts: monitor, stats, exporter, auth, return, redirect (not deny).
#[test]
fn local_answers_log_and_count_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let (port, stats) = (free_port(), free_port());
        let cfg = format!(
            "{}userlist ul\n  user u insecure-password p\nfrontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  log-format \"%HU %ST %ts %tsc %b/%s %Tw\"\n  monitor-uri /mon\n  stats enable\n  stats uri /st\n  http-request use-service prometheus-exporter if {{ path /metrics }}\n  http-request auth realm x if {{ path /auth }} !{{ http_auth(ul) }}\n  http-request return status 200 content-type text/plain string ok if {{ path /ret }}\n  http-request redirect location /x if {{ path /red }}\n  http-request deny if {{ path /deny }}\n  default_backend be\nlisten st\n  mode http\n  bind 127.0.0.1:{stats}\n  no log\n  stats enable\n  stats uri /s\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        let mut intercepted = String::new();
        let mut lines = stdout_lines(prog, &cfg, &[port, stats], || {
            for (p, want) in [
                ("/mon", 200),
                ("/st", 200),
                ("/metrics", 200),
                ("/auth", 401),
                ("/ret", 200),
                ("/red", 302),
                ("/deny", 403),
                ("/", 200),
            ] {
                assert_eq!(get(port, p, ""), want, "{p}");
            }
            let mut s = TcpStream::connect(("127.0.0.1", stats)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /s;csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let body = read_response(&mut BufReader::new(s), false).unwrap().body;
            let csv = &String::from_utf8_lossy(&body);
            intercepted = csv_field(csv, "FRONTEND", "intercepted").to_string();
        });
        lines.push(format!("intercepted={intercepted}"));
        lines
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours, "HAProxy's lines, then corelb's");
    }
    assert_eq!(
        ours,
        [
            "/st 200 LR LR-- fe/<STATS> 0",
            "/metrics 200 LR LR-- fe/<PROMEX> 0",
            "/auth 401 LR LR-- fe/<NOSRV> -1",
            "/ret 200 LR LR-- fe/<NOSRV> -1",
            "/red 302 LR LR-- fe/<NOSRV> -1",
            "/deny 403 PR PR-- fe/<NOSRV> -1",
            "/ 200 -- ---- be/s1 0",
            "intercepted=6",
        ]
    );
}

/// `option httpslog`: HAProxy's HTTPS line (configuration manual 8.2.4), the HTTP line
/// followed by `fc_err/ssl_fc_err/ssl_c_err/ssl_c_ca_err/ssl_fc_is_resumed sni/version/cipher`:
/// TLS 1.3 and 1.2, a resumed session (curl's second connection), another SNI, and a plain
/// connection (where the TLS fields are `-`, and `ssl_fc_is_resumed` 0). The same lines as
/// Debian's HAProxy, numbers aside; the cipher names exactly.
#[test]
fn httpslog_lines_match_haproxy() {
    let dir = TempDir::new("httpslog");
    let pem = self_signed_pem(&dir, "c.pem", &["localhost", "other.test"]);
    let run = |prog: &str| {
        let (p1, p2) = (free_port(), free_port());
        let cfg = format!(
            "{}frontend tls\n  mode http\n  bind 127.0.0.1:{p1} ssl crt {pem}\n  option httpslog\n  http-request return status 200\nfrontend plain\n  mode http\n  bind 127.0.0.1:{p2}\n  log-format \"%ci\"\n  option httpslog\n  http-request return status 200\n",
            global("  log stdout format raw local0\n"),
            pem = pem.display()
        );
        let lines = stdout_lines(prog, &cfg, &[p1, p2], || {
            let close = ["-H", "Connection: close"];
            let url = |host: &str, path: &str| format!("https://{host}:{p1}{path}");
            for (host, extra) in [
                ("localhost", &[][..]),
                ("localhost", &["--tls-max", "1.2"][..]),
                ("other.test", &[][..]),
            ] {
                let out = Command::new("curl")
                    .args([
                        "-sS",
                        "--max-time",
                        "10",
                        "-o",
                        "/dev/null",
                        "-o",
                        "/dev/null",
                    ])
                    .arg("--cacert")
                    .arg(&pem)
                    .args(["--resolve", &format!("{host}:{p1}:127.0.0.1")])
                    .args(close)
                    .args(extra)
                    .args([url(host, "/a"), url(host, "/b")])
                    .output()
                    .expect("curl");
                assert!(out.status.success(), "{out:?}");
            }
            assert_eq!(get(p2, "/c", ""), 200);
        });
        // The line without its numbers, and its last two fields as they are.
        let mut lines: Vec<(String, String, String)> = lines
            .iter()
            .map(|l| {
                let mut f = l.rsplit(' ');
                let tail = f.next().unwrap_or("").to_string();
                let errs = f.next().unwrap_or("").to_string();
                (normalize(l), errs, tail)
            })
            .collect();
        lines.sort();
        lines
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(ours.len(), 7, "{ours:#?}");
    let tails: Vec<&str> = ours.iter().map(|l| l.2.as_str()).collect();
    for want in [
        "localhost/TLSv1.3/TLS_AES_256_GCM_SHA384",
        "localhost/TLSv1.2/ECDHE-ECDSA-AES256-GCM-SHA384",
        "other.test/TLSv1.3/TLS_AES_256_GCM_SHA384",
        "-/-/-",
    ] {
        assert!(tails.contains(&want), "{want} not in {ours:#?}");
    }
    let errs = |path: &str| {
        ours.iter()
            .filter(|l| l.0.contains(&format!("\"GET {path} HTTP/N.N\"")))
            .map(|l| l.1.as_str())
            .collect::<Vec<_>>()
    };
    // Each curl's second connection resumes the session of its first.
    assert_eq!(errs("/a"), ["0/0000000000000000/0/0/0"; 3], "{ours:#?}");
    assert_eq!(errs("/b"), ["0/0000000000000000/0/0/1"; 3], "{ours:#?}");
    assert_eq!(errs("/c"), ["0/-/-/-/0"], "{ours:#?}");
}

/// `option httpslog` is checked as HAProxy 2.6 checks it: no `no` form, ignored in a
/// backend, and in mode tcp a fall-back to `option tcplog` with a warning.
#[test]
fn option_httpslog_is_checked() {
    let dir = TempDir::new("httpslog");
    let base = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";
    expect_check(
        &dir,
        &format!("{base}frontend f\n  mode http\n  bind :8080\n  no option httpslog\n"),
        1,
        "c.cfg:8: negation/default is not supported for option 'httpslog'.",
    );
    expect_check(
        &dir,
        &format!("{base}frontend f\n  mode tcp\n  bind :8080\n  option httpslog\n"),
        0,
        "'option httpslog' not usable with frontend 'f' (needs 'mode http'). Falling back to 'option tcplog'",
    );
    expect_check(
        &dir,
        &format!("{base}backend b\n  mode http\n  option httpslog\n"),
        0,
        "c.cfg:7: warning: 'option httpslog' is ignored in backend 'b'",
    );
}

/// `option logasap`: an HTTP stream is logged when its answer's head goes to the client,
/// before a slow body, a TCP one when its server connection is up; `%Ta`, `%Tt`, `%Tu` and
/// `%B` carry HAProxy's `+` (what was known then). The same fields as Debian's HAProxy;
/// corelb's byte count is the head it sent (HAProxy's is the size of its internal copy).
#[test]
fn logasap_logs_at_the_answers_head_like_haproxy() {
    // The head at once, the body 1.5 s later; a TCP server that talks 1.5 s after connect.
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: b\r\n\r\n";
    let web = Backend::start(move |mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(head.as_bytes());
        std::thread::sleep(Duration::from_millis(1500));
        let _ = s.write_all(b"0123456789");
    });
    let slow = Backend::start(|mut s| {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = s.write_all(b"late\n");
    });
    let run = |prog: &str| {
        let (p1, p2, p3) = (free_port(), free_port(), free_port());
        let cfg = format!(
            "{}frontend h\n  mode http\n  bind 127.0.0.1:{p1}\n  option httplog\n  option logasap\n  default_backend be\nfrontend f\n  mode http\n  bind 127.0.0.1:{p2}\n  option logasap\n  log-format \"%ST %B %Tt %Ta %Tu %Tr %Td %ts %tsc\"\n  default_backend be\nlisten t\n  mode tcp\n  bind 127.0.0.1:{p3}\n  option tcplog\n  option logasap\n  server s1 127.0.0.1:{}\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            slow.port,
            web.port
        );
        stdout_lines(prog, &cfg, &[p1, p2, p3], || {
            assert_eq!(get(p1, "/a", ""), 200);
            assert_eq!(get(p2, "/b", ""), 200);
            tcp_once(p3);
        })
    };
    let ours = run(corelb_bin());
    assert_eq!(ours.len(), 3, "{ours:#?}");
    // Logged before the body (or the TCP server's bytes): the totals are below 1.5 s.
    let total = |t: &str| -> u64 {
        let (_, n) = t
            .rsplit_once('+')
            .unwrap_or_else(|| panic!("no '+' in {t}"));
        n.parse().unwrap()
    };
    // The head as the client got it (the client asked to close: corelb says so).
    let sent = head.len() + "Connection: close\r\n".len();
    let http = ours.iter().find(|l| l.contains(" h be/s1 ")).unwrap();
    let h: Vec<&str> = http.split(' ').collect();
    assert!(total(h[4]) < 1000, "{http}");
    assert_eq!(h[6], format!("+{sent}"), "{http}");
    let custom = ours.iter().find(|l| l.starts_with("200 ")).unwrap();
    let c: Vec<&str> = custom.split(' ').collect();
    assert_eq!(c[1], format!("+{sent}"), "{custom}");
    for t in &c[2..5] {
        assert!(total(t) < 1000, "{custom}");
    }
    assert_eq!(c[6], "0", "Td: {custom}");
    let tcp = ours.iter().find(|l| l.contains(" t t/s1 ")).unwrap();
    let t: Vec<&str> = tcp.split(' ').collect();
    assert!(total(t[4]) < 1000, "{tcp}");
    assert_eq!(t[5], "+0", "{tcp}");
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let norm = |v: Vec<String>| {
            let mut v: Vec<String> = v.iter().map(|l| normalize(l)).collect();
            v.sort();
            v
        };
        assert_eq!(norm(run("haproxy")), norm(ours));
    }
}

/// `http-response capture EXPR id N` fills the frontend's response slots (`declare capture
/// response`) beside `capture response header`: the backend's rules, then the frontend's,
/// the first value cut to the slot's length; `%hs` and `capture.res.hdr(N)` show them. The
/// same line as Debian's HAProxy.
#[test]
fn response_capture_rules_fill_declared_slots_like_haproxy() {
    let web = Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-S: server\r\nX-A: aaaaaaaaaaaaaaaa\r\nX-B: bb\r\nX-B: second\r\n\r\nok",
        );
    });
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  capture response header X-S len 20\n  declare capture response len 10\n  declare capture response len 4\n  declare capture response len 8\n  http-response capture res.hdr(x-a) id 1\n  http-response capture status id 3 if {{ status 200 }}\n  http-response capture res.hdr(x-none) id 2\n  log-format \"c0=%[capture.res.hdr(0)] c1=%[capture.res.hdr(1)] c2=%[capture.res.hdr(2)] c3=%[capture.res.hdr(3)] hs=%hs hr=%hr\"\n  default_backend be\nbackend be\n  mode http\n  http-response capture res.hdr(x-b,1),upper id 2\n  http-response capture res.hdr(x-s) id 9\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            web.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            assert_eq!(get(port, "/", ""), 200);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        ["c0=server c1=aaaaaaaaaa c2=BB c3=200 hs={server|aaaaaaaaaa|BB|200} hr="]
    );
}

/// `http-request set-log-level` and `http-response set-log-level`: a request's line goes
/// at the level of the last matching rule (`err` here: `<3>` in the short format), or not
/// at all (`silent`: health checks out of the log), the others at info (`<6>`); the same lines
/// as Debian's HAProxy 2.6. Before, the action was "not supported yet".
#[test]
fn set_log_level_changes_or_silences_lines_as_haproxy() {
    let be = Serve::start("b", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "global\n  log stdout format short local0\ndefaults\n  mode http\n  log global\n  log-format \"%HP %ST\"\n\
  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
frontend fe\n  bind 127.0.0.1:{port}\n  http-request set-log-level silent if {{ path /health }}\n\
  http-request set-log-level err if {{ path_beg /e }}\n  http-request set-log-level notice if {{ path /en }}\n\
  http-request set-var(txn.w) int(1) if {{ path /w }}\n  http-response set-log-level warning if {{ var(txn.w) -m int 1 }}\n  default_backend b\n\
backend b\n  server s 127.0.0.1:{}\n",
            be.port
        );
        let mut lines = stdout_lines(prog, &cfg, &[port], || {
            for p in ["/a", "/health", "/e", "/en", "/w"] {
                get(port, p, "");
            }
        });
        lines.sort();
        lines
    };
    let ours = run(corelb_bin());
    assert_eq!(
        ours,
        ["<3>/e 200", "<4>/w 200", "<5>/en 200", "<6>/a 200"],
        "corelb"
    );
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours, "HAProxy 2.6");
    }
}

/// The proxy and server fetches in `log-format` lines (HTTP and TCP), and in a mode tcp
/// frontend's `use_backend` name, as Debian's HAProxy renders them.
#[test]
fn proxy_and_server_fetches_in_log_lines_like_haproxy() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!("SKIP: haproxy is not installed");
        return;
    }
    let b = Backend::named("b1");
    let srv = Serve::start("s1", &[]);
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{}frontend h\n  mode http\n  bind 127.0.0.1:{p1}\n  log-format \"%[fe_name] %[fe_id] %[fe_defbe] %[be_name] %[be_id] %[srv_name] %[srv_id] %[srv_is_up(be/s1)] %[srv_iweight(be/s1)] %[nbsrv(be)] %[queue(be)]\"\n  default_backend be\nfrontend t\n  mode tcp\n  bind 127.0.0.1:{p2}\n  log-format \"tcp %[fe_name] %[be_name] %[be_id] %[srv_name] %[srv_id] %[fe_conn(h)]\"\n  use_backend tb_%[fe_name]\n  default_backend be_default\nbackend tb_t\n  mode tcp\n  server tcp1 127.0.0.1:{}\nbackend be_default\n  mode tcp\n  server other 127.0.0.1:1\nbackend be\n  mode http\n  id 9\n  server s1 127.0.0.1:{} id 5 weight 7\n",
        global("  log stdout format raw local0\n"),
        b.port,
        srv.port
    );
    let drive = || {
        assert_eq!(get(p1, "/", ""), 200);
        tcp_once(p2);
    };
    let mut h = stdout_lines("haproxy", &cfg, &[p1, p2], drive);
    let mut c = stdout_lines(corelb_bin(), &cfg, &[p1, p2], drive);
    h.sort();
    c.sort();
    assert_eq!(
        h,
        c,
        "haproxy:\n{}\ncorelb:\n{}",
        h.join("\n"),
        c.join("\n")
    );
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0], "h 1 be be 9 s1 5 1 7 1 0");
    assert!(c[1].starts_with("tcp t tb_t "), "{c:?}");
    assert!(c[1].contains(" tcp1 "), "{c:?}");
}

/// `tcp-request content set-log-level`: a mode tcp stream's line goes at the rule's level
/// (`<3>`), or not at all (`silent`), and in mode http a later `http-request set-log-level`
/// wins over it; the same lines as Debian's HAProxy 2.6. Before, the action was "not
/// supported yet".
#[test]
fn tcp_request_set_log_level_changes_or_silences_lines_as_haproxy() {
    let be = Serve::start("b", &[]);
    let echo = Backend::start(|mut s| {
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf) {
            let _ = s.write_all(&buf[..n]);
        }
    });
    let run = |prog: &str| {
        let (t, h) = (free_port(), free_port());
        let cfg = format!(
            "global\n  log stdout format short local0\ndefaults\n  log global\n\
  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n\
frontend ft\n  mode tcp\n  bind 127.0.0.1:{t}\n  log-format \"tcp\"\n\
  tcp-request inspect-delay 2s\n\
  tcp-request content set-log-level err if {{ req.payload(0,1) -m str e }}\n\
  tcp-request content set-log-level silent if {{ req.payload(0,1) -m str s }}\n\
  tcp-request content accept if {{ req.len gt 0 }}\n  default_backend bt\n\
backend bt\n  mode tcp\n  server s 127.0.0.1:{}\n\
frontend fh\n  mode http\n  bind 127.0.0.1:{h}\n  log-format \"http %HP\"\n\
  tcp-request content set-log-level notice\n\
  http-request set-log-level warning if {{ path /w }}\n  default_backend bh\n\
backend bh\n  mode http\n  server s 127.0.0.1:{}\n",
            echo.port, be.port
        );
        let mut lines = stdout_lines(prog, &cfg, &[t, h], || {
            for b in ["e", "s", "i"] {
                let mut c = TcpStream::connect(("127.0.0.1", t)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c.write_all(b.as_bytes()).unwrap();
                let mut buf = [0u8; 1];
                c.read_exact(&mut buf).unwrap();
            }
            for p in ["/a", "/w"] {
                get(h, p, "");
            }
        });
        lines.sort();
        lines
    };
    let ours = run(corelb_bin());
    assert_eq!(
        ours,
        ["<3>tcp", "<4>http /w", "<5>http /a", "<6>tcp"],
        "corelb"
    );
    if Command::new("haproxy").arg("-v").output().is_ok() {
        // HAProxy 2.6 writes each mode http line twice once a `tcp-request content
        // set-log-level` ran, the copy at that rule's level ("<5>http /a" twice, "<4>http
        // /w" and "<5>http /w"): a duplicate corelb does not copy (docs/tcp.md).
        let theirs = run("haproxy");
        let mut want = ours.clone();
        want.extend(["<5>http /a".to_string(), "<5>http /w".to_string()]);
        want.sort();
        assert_eq!(theirs, want, "HAProxy 2.6");
    }
}

/// Variables in log lines and across a stream's rules, as HAProxy 2.6 keeps them: `txn.`
/// and `sess.` ones to the end, `req.` ones gone once the request goes to a server or is
/// answered (`res.` ones set afterwards stay), in mode http on every answer (server, deny,
/// 503) and in mode tcp, where `tcp-response content` rules see the request rules'
/// `txn.` variables. Before, mode tcp logged `-` for every variable and its response rules
/// saw none, a 503's line lost the `txn.` ones, `req.` ones lived on, and the bytes content
/// rules held were missing from `%U`; a `res.` variable could be set by request rules and a
/// `req.` one by response rules (HAProxy sets neither). A line without a byte count, a timer or the
/// termination state is written early, as with `option logasap` (here: a mode tcp stream's
/// when its server connection is up, before its response rules ran); before, at the end.
#[test]
fn variables_live_as_long_as_haproxy_keeps_them() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!("SKIP: haproxy is not installed");
        return;
    }
    let srv = Serve::start("s1", &[]);
    let echo = Backend::start(|mut s| {
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf) {
            let _ = s.write_all(&buf[..n]);
        }
    });
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let set = |kind: &str| {
        format!(
            "  {kind} set-var(txn.x) str(tx)\n  {kind} set-var(sess.y) str(sy)\n  {kind} set-var(req.z) str(rz)\n"
        )
    };
    let cfg = format!(
        "{}frontend h\n  mode http\n  bind 127.0.0.1:{p1}\n  log-format \"h %U %HU x=%[var(txn.x)] y=%[var(sess.y)] z=%[var(req.z)] q=%[var(res.q)] r=%[var(txn.r)] a=%[var(res.a)] b=%[var(req.b)] c=%[var(txn.c)]\"\n{}  http-request set-var(res.a) str(ra)\n  http-request set-var(txn.c) var(res.a)\n  http-request deny if {{ path /deny }}\n  use_backend dead if {{ path /dead }}\n  default_backend be\nbackend be\n  mode http\n  http-response set-var(res.q) str(rq)\n  http-response set-var(txn.r) var(req.z)\n  http-response set-var(req.b) str(rb)\n  server s1 127.0.0.1:{}\nbackend dead\n  mode http\n  server d 127.0.0.1:1\nfrontend t\n  mode tcp\n  bind 127.0.0.1:{p2}\n  log-format \"t %U x=%[var(txn.x)] y=%[var(sess.y)] z=%[var(req.z)] seen=%[var(txn.seen)]\"\n  tcp-request inspect-delay 2s\n{}  tcp-request content accept if {{ req.len gt 0 }}\n  default_backend tb\nfrontend early\n  mode tcp\n  bind 127.0.0.1:{p3}\n  log-format \"early x=%[var(txn.x)] seen=%[var(txn.seen)]\"\n  tcp-request inspect-delay 2s\n{}  tcp-request content accept if {{ req.len gt 0 }}\n  default_backend tb\nbackend tb\n  mode tcp\n  tcp-response content set-var(txn.seen) var(txn.x)\n  server e 127.0.0.1:{}\n",
        global("  log stdout format raw local0\n"),
        set("http-request"),
        srv.port,
        set("tcp-request content"),
        set("tcp-request content"),
        echo.port
    );
    let drive = || {
        assert_eq!(get(p1, "/", ""), 200);
        assert_eq!(get(p1, "/deny", ""), 403);
        assert_eq!(get(p1, "/dead", ""), 503);
        for p in [p2, p3] {
            let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"hi").unwrap();
            let mut got = [0u8; 2];
            s.read_exact(&mut got).unwrap();
        }
    };
    let mut h = stdout_lines("haproxy", &cfg, &[p1, p2, p3], drive);
    let mut c = stdout_lines(corelb_bin(), &cfg, &[p1, p2, p3], drive);
    // HAProxy's `%U` counts an HTTP head as its HTX copy (docs/logging.md): the request's
    // bytes are compared in mode tcp only.
    let http_u = |v: &mut Vec<String>| {
        for l in v.iter_mut().filter(|l| l.starts_with("h ")) {
            *l = l
                .splitn(3, ' ')
                .enumerate()
                .map(|(i, w)| if i == 1 { "U" } else { w })
                .collect::<Vec<_>>()
                .join(" ");
        }
        v.sort();
    };
    http_u(&mut h);
    http_u(&mut c);
    assert_eq!(
        h,
        c,
        "haproxy:\n{}\ncorelb:\n{}",
        h.join("\n"),
        c.join("\n")
    );
    assert_eq!(
        c,
        [
            "early x=tx seen=-",
            "h U / x=tx y=sy z=- q=rq r=- a=- b=- c=-",
            "h U /dead x=tx y=sy z=- q=- r=- a=- b=- c=-",
            "h U /deny x=tx y=sy z=- q=- r=- a=- b=- c=-",
            "t 2 x=tx y=sy z=- seen=tx",
        ]
    );
}

/// The rates, `http_first_req` and the captured request line in a log line: two requests
/// on one connection, the same lines as Debian's HAProxy.
#[test]
fn rates_first_request_and_request_line_in_log_lines_like_haproxy() {
    let srv = Serve::start("s1", &[]);
    let run = |prog: &str| {
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  log-format \"fr=%[fe_req_rate] fs=%[fe_sess_rate] bs=%[be_sess_rate(be)] ss=%[srv_sess_rate(be/s1)] first=%[http_first_req] m=%[capture.req.method] u=%[capture.req.uri]\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            srv.port
        );
        stdout_lines(prog, &cfg, &[port], || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            write!(s, "GET /a?b HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
            write!(
                s,
                "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
            )
            .unwrap();
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        })
    };
    let ours = run(corelb_bin());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(run("haproxy"), ours);
    }
    assert_eq!(
        ours,
        [
            "fr=1 fs=1 bs=1 ss=1 first=1 m=GET u=/a?b",
            "fr=2 fs=1 bs=2 ss=2 first=0 m=POST u=/c",
        ]
    );
}

/// `%Tr` runs from the server connection's establishment to the response head, a request
/// body's upload included (HAProxy 2.6's configuration.txt, 8.4: "when the client has data
/// to send to the server, for instance during a POST request, the time already runs"):
/// a body sent 600 ms after its head gives a Tr of well over 400 ms, with Debian's HAProxy
/// as with corelb (which counted it from after the body before).
#[test]
fn response_time_includes_the_request_body_s_upload_like_haproxy() {
    let web = Backend::start(|mut s| {
        let mut b = [0u8; 4096];
        let mut got = Vec::new();
        // The head and its 5-byte body, then the answer at once.
        while !got.windows(4).any(|w| w == b"\r\n\r\n")
            || got.len() < got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4 + 5
        {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let run = |prog: &str| {
        let p = free_port();
        let cfg = format!(
            "{}frontend f\n  mode http\n  bind 127.0.0.1:{p}\n  log-format \"Tr=%Tr\"\n  default_backend be\nbackend be\n  mode http\n  server s1 127.0.0.1:{}\n",
            global("  log stdout format raw local0\n"),
            web.port
        );
        stdout_lines(prog, &cfg, &[p], || {
            let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(
                b"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(600));
            s.write_all(b"hello").unwrap();
            let mut r = BufReader::new(s);
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        })
    };
    let tr = |lines: &[String]| -> u64 {
        let l = lines.iter().find_map(|l| l.split("Tr=").nth(1));
        l.unwrap_or_else(|| panic!("{lines:?}"))
            .trim()
            .parse()
            .unwrap()
    };
    let ours = run(corelb_bin());
    assert!(tr(&ours) >= 400, "corelb: {ours:?}");
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let theirs = run("haproxy");
        assert!(tr(&theirs) >= 400, "HAProxy 2.6: {theirs:?}");
    }
}
