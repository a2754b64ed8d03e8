//! HAProxy's `_getsocks` (the old process's side) and `-x` (the new one's): the listening
//! sockets pass from a running process to its replacement over the stats socket, so the
//! kernel's accept queues never close during a binary upgrade.
//!
//! Wire format, as HAProxy 2.6's: the number of descriptors as a native `i32`, then
//! messages of at most 253 descriptors (SCM_RIGHTS), each carrying 6 bytes per descriptor:
//! a namespace name length (0), an interface name length (0) and 4 bytes of listener
//! options (0). The receiver identifies each socket by its address (getsockname).

use crate::sys::{MAX_SEND_FD, recv_fds, send_fds};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const PER_FD: usize = 6;

/// Sends `fds` to the client of a `_getsocks` command.
pub fn send(sock: &mut UnixStream, fds: &[OwnedFd]) -> std::io::Result<()> {
    sock.write_all(&(fds.len() as i32).to_ne_bytes())?;
    for batch in fds.chunks(MAX_SEND_FD) {
        let fds: Vec<_> = batch.iter().map(|f| f.as_fd()).collect();
        send_fds(sock, &vec![0u8; PER_FD * fds.len()], &fds)?;
    }
    Ok(())
}

/// `-x SOCKET`: fetches the listening sockets of the process serving `path`.
pub fn fetch(path: &Path) -> Result<Vec<OwnedFd>, String> {
    let err = |e: std::io::Error| format!("-x {}: {e}", path.display());
    let mut s = UnixStream::connect(path).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    s.write_all(b"_getsocks\n").map_err(err)?;
    let mut n = [0u8; 4];
    s.read_exact(&mut n).map_err(|e| {
        format!(
            "-x {}: no answer to _getsocks ({e}); does the socket have 'expose-fd listeners'?",
            path.display()
        )
    })?;
    let total = i32::from_ne_bytes(n);
    if &n == b"Perm" || !(0..=1 << 20).contains(&total) {
        return Err(format!(
            "-x {}: _getsocks was refused; the socket needs 'expose-fd listeners'",
            path.display()
        ));
    }
    let mut fds = Vec::new();
    while fds.len() < total as usize {
        let want = (total as usize - fds.len()).min(MAX_SEND_FD);
        let mut buf = vec![0u8; want * PER_FD];
        let (got, mut more) = recv_fds(&s, &mut buf).map_err(err)?;
        if got == 0 && more.is_empty() {
            return Err(format!(
                "-x {}: the old process sent {} of {total} sockets",
                path.display(),
                fds.len()
            ));
        }
        fds.append(&mut more);
    }
    Ok(fds)
}
