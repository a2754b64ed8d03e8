//! Email alerts (`mailers` sections, `email-alert`): the mails a server's state changes send,
//! compared with Debian's HAProxy 2.6 on the same configuration, the level filter, a mail
//! server that refuses, and the configuration errors.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A small SMTP server that records every dialogue (what the client sent, one string per
/// connection); `refuse_rcpt` answers 550 to `RCPT TO`.
struct Smtp {
    port: u16,
    mails: Arc<Mutex<Vec<String>>>,
    _backend: Backend,
}

impl Smtp {
    fn start(refuse_rcpt: bool) -> Smtp {
        let mails = Arc::new(Mutex::new(Vec::new()));
        let m2 = mails.clone();
        let backend = Backend::start(move |s| {
            let got = dialogue(s, refuse_rcpt);
            m2.lock().unwrap().push(got);
        });
        Smtp {
            port: backend.port,
            mails,
            _backend: backend,
        }
    }

    /// Waits until `n` dialogues ended and returns them, the `Date:` header and check
    /// durations blanked (they differ from run to run).
    fn wait(&self, n: usize) -> Vec<String> {
        let got = eventually(Duration::from_secs(10), || {
            let m = self.mails.lock().unwrap();
            (m.len() >= n).then(|| m.clone())
        });
        let got = got
            .unwrap_or_else(|| panic!("wanted {n} mails, got: {:#?}", self.mails.lock().unwrap()));
        got.iter().map(|m| normalize(m)).collect()
    }
}

fn dialogue(s: TcpStream, refuse_rcpt: bool) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut got = String::new();
    let _ = w.write_all(b"220 sink ESMTP\r\n");
    let mut data = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        got.push_str(&line);
        let answer: &[u8] = if data {
            if line != ".\r\n" {
                continue;
            }
            data = false;
            b"250 2.0.0 queued\r\n"
        } else {
            let up = line.to_ascii_uppercase();
            if up.starts_with("DATA") {
                data = true;
                b"354 go ahead\r\n"
            } else if up.starts_with("QUIT") {
                let _ = w.write_all(b"221 bye\r\n");
                break;
            } else if up.starts_with("RCPT") && refuse_rcpt {
                b"550 5.1.1 no such user\r\n"
            } else if up.starts_with("HELO") || up.starts_with("EHLO") {
                // A multi-line answer: the client must read to its last line.
                b"250-sink\r\n250 8BITMIME\r\n"
            } else {
                b"250 2.1.0 ok\r\n"
            }
        };
        if w.write_all(answer).is_err() {
            break;
        }
    }
    got
}

fn normalize(m: &str) -> String {
    m.lines()
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: -".to_string()
            } else if let Some(i) = l.find("check duration: ") {
                let rest = &l[i + 16..];
                let j = rest.find("ms").unwrap_or(0);
                format!("{}check duration: Nms{}", &l[..i], &rest[j + 2..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn config(front: u16, server: u16, mailers: &[u16], level: Option<&str>) -> String {
    let mut mailer_lines = String::new();
    for (i, p) in mailers.iter().enumerate() {
        mailer_lines.push_str(&format!("    mailer smtp{i} 127.0.0.1:{p}\n"));
    }
    let level = level.map_or(String::new(), |l| format!("    email-alert level {l}\n"));
    format!(
        "global\n    maxconn 100\n\
         mailers mta\n{mailer_lines}    timeout mail 5s\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         backend be\n    email-alert mailers mta\n    email-alert from lb@example.com\n\
         \x20   email-alert to ops@example.com\n{level}\
         \x20   server s1 127.0.0.1:{server} check inter 150ms fall 1 rise 1\n\
         frontend fe\n    bind 127.0.0.1:{front}\n    default_backend be\n"
    )
}

/// The checked server goes down, then up again; returns the mails the proxy sent.
fn down_then_up(
    start: impl FnOnce(&str, u16) -> Option<Box<dyn std::any::Any>>,
    level: Option<&str>,
    mails: usize,
) -> Option<Vec<String>> {
    let smtp = Smtp::start(false);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let sport = server.local_addr().unwrap().port();
    let up = Backend::start_on(server, |_| {});
    let front = free_port();
    let proxy = start(&config(front, sport, &[smtp.port], level), front)?;
    // Up from the start: no mail; then down.
    std::thread::sleep(Duration::from_millis(600));
    drop(up);
    let first = smtp.wait(1);
    let again = Backend::start_on(TcpListener::bind(("127.0.0.1", sport)).unwrap(), |_| {});
    std::thread::sleep(Duration::from_millis(1200));
    let all = smtp.wait(mails);
    assert_eq!(all[0], first[0]);
    drop(proxy);
    drop(again);
    Some(all)
}

#[test]
fn a_server_going_down_and_up_mails_what_haproxy_mails() {
    let lb = down_then_up(
        |cfg, port| Some(Box::new(Corelb::start(cfg, &[], &[port]))),
        Some("notice"),
        2,
    )
    .unwrap();
    assert!(lb[0].starts_with("HELO "), "{}", lb[0]);
    assert!(
        lb[0].contains("\nMAIL FROM:<lb@example.com>\nRCPT TO:<ops@example.com>\nDATA\nFrom: lb@example.com\nTo: ops@example.com\nDate: -\nSubject: [HAProxy Alert] Server be/s1 is DOWN, reason: Layer4 connection problem"),
        "{}",
        lb[0]
    );
    assert!(
        lb[1].contains("Subject: [HAProxy Alert] Server be/s1 is UP, reason: Layer4 check passed"),
        "{}",
        lb[1]
    );
    assert!(lb[1].ends_with("\n.\nQUIT"), "{}", lb[1]);
    let Some(hap) = down_then_up(
        |cfg, port| Haproxy::start(cfg, &[port]).map(|h| Box::new(h) as Box<dyn std::any::Any>),
        Some("notice"),
        2,
    ) else {
        return;
    };
    assert_eq!(lb, hap, "corelb's mails, then HAProxy's");
}

#[test]
fn the_default_level_mails_only_a_server_going_down_and_a_refusing_mailer_costs_nothing() {
    // Two mailers: the first refuses the recipient, the second takes the mail; each gets
    // every alert, and the refusal does not stop the next one.
    let bad = Smtp::start(true);
    let good = Smtp::start(false);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let sport = server.local_addr().unwrap().port();
    let up = Backend::start_on(server, |_| {});
    let front = free_port();
    let lb = Corelb::start(
        &config(front, sport, &[bad.port, good.port], None),
        &[],
        &[front],
    );
    std::thread::sleep(Duration::from_millis(600));
    drop(up);
    let down = good.wait(1);
    assert!(down[0].contains("is DOWN"), "{}", down[0]);
    let refused = bad.wait(1);
    assert!(
        refused[0].contains("RCPT TO:<ops@example.com>"),
        "{}",
        refused[0]
    );
    assert!(
        !refused[0].contains("DATA"),
        "no DATA after a refused recipient: {}",
        refused[0]
    );
    // Up again: at level alert (the default) nothing is mailed; down again: mailed.
    let again = Backend::start_on(TcpListener::bind(("127.0.0.1", sport)).unwrap(), |_| {});
    let log = lb.log_when(|l| l.contains("is UP"));
    assert!(log.contains("Server be/s1 is UP"), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        good.mails.lock().unwrap().len(),
        1,
        "an UP is not mailed at level alert"
    );
    drop(again);
    let two = good.wait(2);
    assert!(two[1].contains("is DOWN"), "{}", two[1]);
    assert_eq!(bad.wait(2).len(), 2);
    let log = lb.log();
    assert!(
        log.contains("email alert to mailer mta/smtp0"),
        "the refusal is logged: {log}"
    );
    assert!(log.contains("550 5.1.1 no such user"), "{log}");
}

#[test]
fn mailers_and_email_alert_errors_name_the_line() {
    let dir = TempDir::new("mail-cfg");
    let base = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    expect_check(
        &dir,
        &format!(
            "{base}backend be\n    email-alert mailers nope\n    email-alert from a@b\n    email-alert to c@d\n    server s1 127.0.0.1:80\n"
        ),
        1,
        "c.cfg:7: Proxy 'be': unable to find mailers 'nope'.",
    );
    expect_check(
        &dir,
        "mailers m\n    mailer a 127.0.0.1\n",
        1,
        "c.cfg:2: 'mailer a' : missing port specification in '127.0.0.1'",
    );
    expect_check(
        &dir,
        "mailers m\n    mailer a 127.0.0.1:25\n    mailer b no.such.host.invalid:25\n",
        1,
        "c.cfg:3: 'mailer b' : invalid address",
    );
    expect_check(
        &dir,
        "mailers m\n    timeout mail soon\n",
        1,
        "c.cfg:2: 'timeout mail'",
    );
    expect_check(
        &dir,
        "mailers m\n    mailr a 127.0.0.1:25\n",
        1,
        "c.cfg:2: unknown keyword 'mailr' in 'mailers' section; did you mean 'mailer'?",
    );
    expect_check(
        &dir,
        "mailers m\nmailers m\n",
        1,
        "c.cfg:2: mailers section 'm' has the same name as another mailers section declared at",
    );
    expect_check(
        &dir,
        &format!("{base}backend be\n    email-alert level loud\n"),
        1,
        "c.cfg:7: 'email-alert level': unknown log level 'loud'",
    );
    expect_check(
        &dir,
        &format!("{base}backend be\n    email-alert color red\n"),
        1,
        "c.cfg:7: email-alert: unknown argument 'color'.",
    );
    // Incomplete settings are ignored with HAProxy's warning.
    expect_check(
        &dir,
        &format!(
            "mailers m\n    mailer a 127.0.0.1:25\n{base}backend be\n    email-alert mailers m\n    email-alert from a@b\n    server s1 127.0.0.1:80\n"
        ),
        0,
        "'email-alert' will be ignored for backend 'be'",
    );
}
