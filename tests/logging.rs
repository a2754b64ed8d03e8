//! Logging to stdout and stderr: a slow or stuck reader must never stop a shard (lines are
//! queued per shard, dropped and counted when the queue is full), lines arrive whole, and
//! `quiet` in the configuration silences what `-q` silences.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;

/// A pipe whose buffer is already full: whoever writes to it blocks until the reader reads.
fn full_pipe() -> (std::io::PipeReader, std::io::PipeWriter, usize) {
    let (r, mut w) = std::io::pipe().unwrap();
    let fd = w.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    let chunk = [b'#'; 4096];
    let mut filled = 0;
    loop {
        match w.write(&chunk) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    // The child gets a blocking descriptor, as a shell pipeline would give it.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    assert!(filled >= 4096);
    (r, w, filled)
}

/// Sequential connections through corelb, each reading the backend's name; panics on the
/// first one that is not answered.
fn connections(port: u16, n: usize) {
    for i in 0..n {
        let name = fetch_name(port);
        assert_eq!(name, "b1", "connection {i} of {n}");
    }
}

/// Reads the pipe to its end in a thread (corelb closes it when it exits).
fn drain(mut r: std::io::PipeReader) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = r.read_to_end(&mut all);
        all
    })
}

#[test]
fn a_full_stdout_pipe_neither_blocks_shards_nor_splits_lines() {
    let b = Backend::named("b1");
    let port = free_port();
    let cfg = listen_cfg(
        port,
        "  log stdout format raw local0\n  option tcplog",
        &[("s1", b.port, "")],
    );
    let (r, w, filled) = full_pipe();
    let mut c = Corelb::spawn_stdio(&cfg, &["--shards", "1"], w.into(), None);
    c.wait_port(port);
    // More lines than a shard queues: the rest is dropped, and the shard keeps serving.
    let n = 3000;
    connections(port, n);
    let reader = drain(r);
    c.signal("TERM");
    assert_eq!(c.wait_exit(Duration::from_secs(20)), Some(0), "{}", c.log());
    let out = reader.join().unwrap();
    assert!(out[..filled].iter().all(|&b| b == b'#'));
    let text = String::from_utf8(out[filled..].to_vec()).unwrap();
    assert!(text.ends_with('\n'), "last line cut: {text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        !lines.is_empty() && lines.len() < n,
        "{} lines",
        lines.len()
    );
    for l in &lines {
        // `ip:port [date] l l/s1 Tw/Tc/Tt bytes term ...`: one whole line each.
        assert!(l.starts_with("127.0.0.1:"), "not a whole line: {l:?}");
        assert!(l.contains("] l l/s1 "), "not a whole line: {l:?}");
        assert_eq!(l.matches('[').count(), 1, "lines run together: {l:?}");
    }
    let log = c.log();
    let dropped = format!("{} log line(s) for stdout dropped", n - lines.len());
    assert!(log.contains(&dropped), "expected '{dropped}' in:\n{log}");
}

#[test]
fn debug_output_to_a_full_stderr_pipe_does_not_block_shards() {
    let b = Backend::named("b1");
    let port = free_port();
    let cfg = listen_cfg(port, "", &[("s1", b.port, "")]);
    let (r, w, filled) = full_pipe();
    let mut c = Corelb::spawn_stdio(
        &cfg,
        &["-d", "--shards", "1"],
        Stdio::null(),
        Some(w.into()),
    );
    c.wait_port(port);
    // -d writes a line per connection (and more) from the shard.
    connections(port, 200);
    let reader = drain(r);
    c.signal("TERM");
    assert_eq!(c.wait_exit(Duration::from_secs(20)), Some(0));
    let out = reader.join().unwrap();
    let text = String::from_utf8_lossy(&out[filled..]).into_owned();
    assert!(text.ends_with('\n'), "last line cut: {text:?}");
    for l in text.lines() {
        assert!(l.starts_with('['), "not a whole line: {l:?}");
        assert!(l.contains(") : "), "not a whole line: {l:?}");
    }
    assert!(text.contains("connection from 127.0.0.1:"), "{text}");
}

/// What corelb says on stderr over a short run: start, one connection, stop.
fn stderr_of_a_run(global: &str, args: &[&str]) -> String {
    let b = Backend::named("b1");
    let port = free_port();
    // `daemon` is ignored with a warning; the start is a notice.
    let cfg = format!(
        "global\n  daemon\n{global}{}",
        listen_cfg(port, "", &[("s1", b.port, "")])
    );
    let mut c = Corelb::start(&cfg, args, &[port]);
    connections(port, 1);
    c.signal("TERM");
    assert_eq!(c.wait_exit(Duration::from_secs(10)), Some(0), "{}", c.log());
    c.log()
}

#[test]
fn quiet_in_global_does_what_dash_q_does() {
    let loud = stderr_of_a_run("", &[]);
    assert!(
        loud.contains("[WARNING]") && loud.contains("[NOTICE]"),
        "{loud}"
    );
    let q = stderr_of_a_run("", &["-q"]);
    assert!(!q.contains("[WARNING]") && !q.contains("[NOTICE]"), "{q}");
    let quiet = stderr_of_a_run("  quiet\n", &[]);
    assert!(
        !quiet.contains("[WARNING]") && !quiet.contains("[NOTICE]"),
        "{quiet}"
    );
    // As in HAProxy, -d on the command line wins over `quiet` in the file.
    let debug = stderr_of_a_run("  quiet\n", &["-d"]);
    assert!(
        debug.contains("[NOTICE]") && debug.contains("[TRACE]"),
        "{debug}"
    );
}
