//! Email alerts (`email-alert`, `mailers` sections): a server's state change mailed over
//! SMTP to every mailer of the proxy's `mailers` section, with HAProxy 2.6's dialogue and
//! message. A mailer's deliveries run on a thread of its own, started at its first mail, so
//! that a slow or dead mail server never holds a shard; mails wait in a short queue and are
//! dropped (with a warning) when it is full, as a log line would be.

use crate::config::mailers::{EmailAlert, Mailers};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Mails a mailer may have waiting; beyond that new ones are dropped.
const QUEUE: usize = 64;

/// One `mailers` section's way to its mail servers.
pub struct Outbox {
    section: String,
    timeout: Duration,
    mailers: Vec<Queue>,
}

struct Queue {
    name: String,
    addr: SocketAddr,
    tx: OnceLock<SyncSender<Arc<Mail>>>,
}

/// One alert, as every mailer of the section sends it.
struct Mail {
    helo: String,
    from: String,
    to: String,
    /// The message: the subject (after `[HAProxy Alert] `) and the body.
    text: String,
}

impl Outbox {
    pub fn new(m: &Mailers) -> Outbox {
        Outbox {
            section: m.name.clone(),
            timeout: m.timeout,
            mailers: (m.mailers.iter())
                .map(|x| Queue {
                    name: x.name.clone(),
                    addr: x.addr,
                    tx: OnceLock::new(),
                })
                .collect(),
        }
    }

    /// Queues `text` (a log message, without its final period) for every mailer of the
    /// section; never blocks.
    pub fn send(&self, alert: &EmailAlert, text: &str) {
        let helo = (alert.myhostname.clone())
            .or_else(super::hostname)
            .unwrap_or_else(|| "localhost".into());
        let mail = Arc::new(Mail {
            helo,
            from: alert.from.clone(),
            to: alert.to.clone(),
            text: text.trim_end_matches('.').to_string(),
        });
        for q in &self.mailers {
            let tx = q.tx.get_or_init(|| {
                let (tx, rx) = sync_channel::<Arc<Mail>>(QUEUE);
                let (addr, timeout) = (q.addr, self.timeout);
                let who = format!("{}/{} ({})", self.section, q.name, q.addr);
                let spawned = std::thread::Builder::new()
                    .name("corelb-mail".into())
                    .spawn(move || {
                        // Ends when the generation that owns the sender is gone.
                        for m in rx {
                            if let Err(e) = deliver(addr, timeout, &m) {
                                log::warn!("email alert to mailer {who} failed: {e}");
                            }
                        }
                    });
                if let Err(e) = spawned {
                    log::warn!("email alerts: cannot start a mail thread: {e}");
                }
                tx
            });
            match tx.try_send(mail.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => log::warn!(
                    "email alert to mailer {}/{} dropped: {QUEUE} mails already waiting",
                    self.section,
                    q.name
                ),
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

/// One SMTP dialogue, as HAProxy's: greeting, `HELO`, `MAIL FROM`, `RCPT TO`, `DATA`, the
/// message, `QUIT`; every step within the section's `timeout mail`.
fn deliver(addr: SocketAddr, timeout: Duration, m: &Mail) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut w = s;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "timeout".to_string())
    };
    let mut step = |send: Option<String>, code: &str| -> Result<(), String> {
        if let Some(line) = send {
            w.set_write_timeout(Some(left()?))
                .map_err(|e| e.to_string())?;
            w.write_all(line.as_bytes())
                .map_err(|e| format!("send: {e}"))?;
        }
        reply(&mut r, code, &left)
    };
    step(None, "220")?;
    step(Some(format!("HELO {}\r\n", m.helo)), "250")?;
    step(Some(format!("MAIL FROM:<{}>\r\n", m.from)), "250")?;
    step(Some(format!("RCPT TO:<{}>\r\n", m.to)), "250")?;
    step(Some("DATA\r\n".into()), "354")?;
    step(Some(message(m, &date_now())), "250")?;
    step(Some("QUIT\r\n".into()), "221")
}

/// Reads one reply (its continuation lines `NNN-…` included) and checks its code.
fn reply(
    r: &mut BufReader<TcpStream>,
    code: &str,
    left: &dyn Fn() -> Result<Duration, String>,
) -> Result<(), String> {
    loop {
        r.get_ref()
            .set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => return Err(format!("closed while waiting for {code}")),
            Ok(_) => {}
            Err(e) => return Err(format!("waiting for {code}: {e}")),
        }
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if line.starts_with(code) {
            Ok(())
        } else {
            Err(format!("expected {code}, got '{}'", line.trim_end()))
        };
    }
}

/// The message after `DATA`, ending with the lone period.
fn message(m: &Mail, date: &str) -> String {
    format!(
        "From: {}\r\nTo: {}\r\nDate: {date}\r\nSubject: [HAProxy Alert] {}\r\n\r\n{}\r\n\r\n.\r\n",
        m.from,
        m.to,
        m.text,
        dot_stuffed(&m.text)
    )
}

/// RFC 5321 4.5.2: a body line that starts with a period gets another.
fn dot_stuffed(s: &str) -> String {
    if s.starts_with('.') {
        format!(".{s}")
    } else {
        s.to_string()
    }
}

/// The local time as HAProxy writes it: `Mon, 07 Dec 2026 02:05:16 +0000 (UTC)`.
fn date_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let tm = crate::sys::localtime(secs);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let off = tm.tm_gmtoff / 60;
    let zone = crate::sys::zone_name(&tm);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {}{:02}{:02} ({zone})",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        tm.tm_mday,
        super::MON[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        if off < 0 { '-' } else { '+' },
        off.abs() / 60,
        off.abs() % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_haproxys() {
        let m = Mail {
            helo: "h".into(),
            from: "a@x".into(),
            to: "b@y".into(),
            text: "Server be/s1 is UP".into(),
        };
        assert_eq!(
            message(&m, "D"),
            "From: a@x\r\nTo: b@y\r\nDate: D\r\nSubject: [HAProxy Alert] Server be/s1 is UP\r\n\r\nServer be/s1 is UP\r\n\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(".x"), "..x");
        let d = date_now();
        assert!(
            d.len() > 30 && d.ends_with(')') && d.contains(" +") || d.contains(" -"),
            "{d}"
        );
    }
}
