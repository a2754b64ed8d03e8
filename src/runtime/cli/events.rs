//! `show events [<sink>] [-w] [-n]`: the event sinks (stdout, stderr and the `ring`
//! sections), or the lines a ring holds, as HAProxy 2.6 prints them (src/sink.c,
//! `cli_parse_show_events`). With `-w` the session keeps printing the ring's new lines
//! until the client sends anything or leaves; `-n` skips the lines already there.

use crate::log::ring;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The sink and the flags of the command's arguments.
pub struct Args<'a> {
    pub sink: Option<&'a str>,
    pub wait: bool,
    pub new: bool,
}

pub fn parse<'a>(args: &[&'a str]) -> Args<'a> {
    let mut a = Args {
        sink: None,
        wait: false,
        new: false,
    };
    for w in args {
        match w.strip_prefix('-') {
            Some(flags) => {
                a.wait |= flags.contains('w');
                a.new |= flags.contains('n');
            }
            None if a.sink.is_none() => a.sink = Some(w),
            None => {}
        }
    }
    a
}

/// The list of sinks (no sink named).
fn list() -> String {
    let mut s = String::from(
        "Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop\n",
    );
    for (name, stream, fd) in [
        ("stdout", crate::log::stdio::Stream::Stdout, 1),
        ("stderr", crate::log::stdio::Stream::Stderr, 2),
    ] {
        let dropped = crate::log::stdio::dropped(stream);
        // (HAProxy 2.6 says "standard output" of both.)
        let _ = writeln!(
            s,
            "    {name:<10} : type=fd, {dropped} dropped, standard output (fd#{fd})"
        );
    }
    for r in ring::all() {
        let _ = writeln!(
            s,
            "    {:<10} : type=buffer, {} dropped, {}",
            r.name,
            r.dropped(),
            r.description
        );
    }
    s
}

/// The command without `-w`: the list, or the ring's lines; an unknown sink is an error
/// (which HAProxy prints without the reply's empty line).
pub fn show(args: &[&str]) -> Result<String, String> {
    let a = parse(args);
    let Some(name) = a.sink else {
        return Ok(list());
    };
    let Some(r) = ring::get(name) else {
        return Err("No such event sink\n".into());
    };
    if a.new {
        return Ok(String::new());
    }
    let mut s = String::new();
    for l in r.read(None, None).0 {
        s.push_str(&String::from_utf8_lossy(&l));
        s.push('\n');
    }
    Ok(s)
}

/// `show events RING -w [-n]` on a session: prints the ring's lines as they come, until
/// the client sends anything (`key`, read by a thread of its own) or the writing fails.
pub fn follow<W: Write>(r: &ring::Ring, new: bool, out: &mut W, key: Box<dyn Read + Send>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let watcher = std::thread::Builder::new()
        .name("corelb-cli-events".into())
        .spawn(move || {
            let mut key = key;
            let mut b = [0u8; 1];
            loop {
                match key.read(&mut b) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
            s2.store(true, Ordering::Relaxed);
        });
    if watcher.is_err() {
        return;
    }
    let mut from = new.then(|| r.next());
    while !stop.load(Ordering::Relaxed) {
        let (lines, next) = r.read(from, Some(Duration::from_millis(200)));
        from = Some(next);
        if lines.is_empty() {
            continue;
        }
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(&l);
            buf.push(b'\n');
        }
        if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}
