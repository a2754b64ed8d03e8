//! `show sess [ID|all]` and `shutdown session ID`: asked of every shard through its mailbox
//! (`cluster::sessions`), answered by the shard's own task from its registry, rendered here
//! in HAProxy 2.6's layout. Fields corelb has no counterpart for print as 0 or empty (see
//! docs/operations.md).

use crate::cluster::Shared;
use crate::cluster::sessions::{Job, SessInfo, shard_of};
use crate::config::Mode;
use std::fmt::Write;
use std::sync::mpsc;
use std::time::Duration;

/// How long a shard may take to answer (it answers between two connections' work).
pub(super) const WAIT: Duration = Duration::from_secs(2);

/// HAProxy's `human_time()` for seconds: at most two units, `0s` for zero.
pub fn human_time(t: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86400;
    let mut s = String::new();
    let mut cnt = 2;
    if t >= DAY {
        let _ = write!(s, "{}d", t / DAY);
        cnt -= 1;
    }
    if cnt > 0 && t % DAY / HOUR > 0 {
        let _ = write!(s, "{}h", t % DAY / HOUR);
        cnt -= 1;
    }
    if cnt > 0 && t % HOUR / MIN > 0 {
        let _ = write!(s, "{}m", t % HOUR / MIN);
        cnt -= 1;
    }
    if (cnt > 0 && !t.is_multiple_of(MIN)) || t == 0 {
        let _ = write!(s, "{}s", t % MIN);
    }
    s
}

/// HAProxy's `strtoul(arg, NULL, 0)`: hex with `0x`, octal with a leading 0, else decimal.
fn parse_id(a: &str) -> Option<u64> {
    if let Some(h) = a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if a.len() > 1 && a.starts_with('0') {
        u64::from_str_radix(&a[1..], 8).ok()
    } else {
        a.parse().ok()
    }
}

/// Every shard's live sessions, by shard then registration.
fn collect(sh: &Shared) -> Vec<SessInfo> {
    let waits: Vec<_> = sh
        .mailboxes
        .iter()
        .map(|m| {
            let (tx, rx) = mpsc::channel();
            m.post(Job::List(tx));
            rx
        })
        .collect();
    let mut all = Vec::new();
    for rx in waits {
        if let Ok(v) = rx.recv_timeout(WAIT) {
            all.extend(v);
        }
    }
    all
}

fn proto(s: &SessInfo) -> &'static str {
    if s.unix {
        "unix_stream"
    } else if s.src.is_ipv4() {
        "tcpv4"
    } else {
        "tcpv6"
    }
}

/// The names `show sess` prints: frontend, backend (`<NONE>` while a frontend-only proxy
/// has not chosen one), server (`<none>`).
fn names(sh: &Shared, s: &SessInfo) -> (String, String, String) {
    let fe = sh.cfg.proxies[s.fe].name.clone();
    let be_idx = s
        .backend
        .or_else(|| sh.backends.get(s.fe).and_then(|b| b.as_ref()).map(|_| s.fe));
    let be = be_idx.map_or("<NONE>".to_string(), |b| sh.cfg.proxies[b].name.clone());
    let srv = match (s.backend, s.server) {
        (Some(b), Some(i)) => sh.backends[b]
            .as_ref()
            .map_or("<none>".into(), |be| be.lb.servers[i].name.clone()),
        _ => "<none>".into(),
    };
    (fe, be, srv)
}

fn src(s: &SessInfo) -> String {
    if s.unix {
        format!("unix:{}", s.listener + 1)
    } else {
        format!("{}:{}", s.src.ip(), s.src.port())
    }
}

/// One `show sess` line (HAProxy 2.6's `cli_io_handler_dump_sess`).
fn line(sh: &Shared, s: &SessInfo, out: &mut String) {
    let (fe, be, srv) = names(sh, s);
    let _ = writeln!(
        out,
        "{:#x}: proto={} src={} fe={fe} be={be} srv={srv} ts=00 epoch=0 age={} calls={} rate=0 cpu=0 lat=0 rq[f=000000h,i=0,an=00h,rx=,wx=,ax=] rp[f=000000h,i=0,an=00h,rx=,wx=,ax=] scf=[8,0h,fd={}] scb=[{},0h,fd=-1] exp= rc=0 c_exp=",
        s.id,
        proto(s),
        src(s),
        human_time(s.age),
        s.calls,
        s.fd,
        if s.server.is_some() { 8 } else { 0 },
    );
}

fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
    }
}

/// `show sess ID`: the part of HAProxy's full dump that corelb knows.
fn dump(sh: &Shared, s: &SessInfo, out: &mut String) {
    let (fe, be, srv) = names(sh, s);
    let px = &sh.cfg.proxies[s.fe];
    let mut date = String::new();
    crate::log::format_date(s.date, &mut date);
    let _ = writeln!(
        out,
        "{:#x}: [{date}] id={} proto={} source={}",
        s.id,
        s.id & 0xff_ffff_ffff,
        proto(s),
        src(s)
    );
    let fe_id = sh.frontends[s.fe].as_ref().map_or(0, |f| f.id);
    let (label, addr) = px
        .binds
        .get(s.listener as usize)
        .map(|b| {
            (
                b.name.clone().unwrap_or_else(|| "?".into()),
                b.addr.to_string(),
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  frontend={fe} (id={fe_id} mode={}), listener={label} (id={}) addr={addr}",
        mode(px.mode),
        s.listener + 1
    );
    if let Some(b) = s.backend.and_then(|b| sh.backends[b].as_ref()) {
        let _ = writeln!(
            out,
            "  backend={be} (id={} mode={})",
            b.id,
            mode(sh.cfg.proxies[b.proxy].mode)
        );
        if let Some(i) = s.server {
            let st = &b.lb.servers[i];
            let _ = writeln!(out, "  server={srv} (id={}) addr={}", st.id, st.addr_for(0));
        }
    } else {
        let _ = writeln!(out, "  backend={be} (id=-1 mode=-)");
    }
    let _ = writeln!(
        out,
        "  task=(state=0x00 nice=0 calls={} rate=0 exp=<NEVER> tmask={:#x} age={})",
        s.calls,
        1u64 << s.shard.min(63),
        human_time(s.age)
    );
    let _ = writeln!(out, "  scf=(state=EST) fd={}", s.fd);
}

/// `show sess [ID|all]`.
pub fn show(sh: &Shared, arg: Option<&str>) -> String {
    let all = collect(sh);
    let mut out = String::new();
    match arg {
        None => {
            for s in &all {
                line(sh, s, &mut out);
            }
        }
        Some("all") => {
            for s in &all {
                dump(sh, s, &mut out);
            }
        }
        Some(a) => match parse_id(a).and_then(|id| all.iter().find(|s| s.id == id)) {
            Some(s) => dump(sh, s, &mut out),
            None => out.push_str("Session not found.\n"),
        },
    }
    out
}

/// `shutdown session ID`.
/// `Err`: HAProxy's error message.
pub fn shutdown(sh: &Shared, arg: Option<&str>) -> Result<String, String> {
    let Some(id) = arg.and_then(parse_id).filter(|&id| id != 0) else {
        return Err("Session pointer expected (use 'show sess').\n".into());
    };
    let found = shard_of(id)
        .and_then(|i| sh.mailboxes.get(i))
        .is_some_and(|m| {
            let (tx, rx) = mpsc::channel();
            m.post(Job::Kill(id, tx));
            rx.recv_timeout(WAIT).unwrap_or(false)
        });
    if found {
        Ok(String::new())
    } else {
        Err("No such session (use 'show sess').\n".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_time_is_haproxys() {
        assert_eq!(human_time(0), "0s");
        assert_eq!(human_time(59), "59s");
        assert_eq!(human_time(61), "1m1s");
        assert_eq!(human_time(3600), "1h");
        assert_eq!(human_time(3661), "1h1m");
        assert_eq!(human_time(90061), "1d1h");
    }

    #[test]
    fn ids_parse_as_strtoul_base_0() {
        assert_eq!(parse_id("0x10000000001"), Some(0x100_0000_0001));
        assert_eq!(parse_id("17"), Some(17));
        assert_eq!(parse_id("010"), Some(8));
        assert_eq!(parse_id("zz"), None);
    }
}
