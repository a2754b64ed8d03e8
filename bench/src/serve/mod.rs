//! `corelb-bench serve`: a thread-per-core HTTP/1.1 (optionally HTTPS, and with `--http2`
//! HTTP/2 too) backend for tests, demos and benchmarks.
//!
//! One SO_REUSEPORT listening socket per shard, all bound in `main` (so a bad address fails
//! before anything starts, and port 0 resolves to one port for every shard), then handed to
//! the shard's executor, which accepts and serves its connections alone. Nothing is shared
//! between shards but the read-only configuration.

mod conn;
mod h2;
pub mod routes;

use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use futures_rustls::TlsAcceptor;
use signal_hook::consts::{SIGINT, SIGTERM};
use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::ServeArgs;
use conn::{Shared, Stats};
use routes::Canned;

fn listen_socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // REUSEADDR: restart on a port with connections in TIME_WAIT; REUSEPORT: one socket per
    // shard on the same port, the kernel spreading connections between them.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket)
}

pub fn run(args: &ServeArgs, cpus: Option<usize>) -> Result<(), String> {
    let shards = crate::runtime::shard_cpus(cpus)?;
    crate::sys::raise_nofile_limit();
    let tls = match &args.tls_cert {
        Some(cert) => Some(crate::tls::server_config(
            cert,
            args.tls_key.as_deref(),
            args.http2,
        )?),
        None => None,
    };
    // Registered before the "listening" line, so a SIGTERM sent right after it is not lost.
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("installing signal handlers: {e}"))?;

    let mut sockets = Vec::with_capacity(shards.len());
    let first = listen_socket(args.listen).map_err(|e| format!("listen {}: {e}", args.listen))?;
    let addr = first
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(args.listen);
    sockets.push(first);
    for _ in 1..shards.len() {
        sockets.push(listen_socket(addr).map_err(|e| format!("listen {addr}: {e}"))?);
    }

    let body: Vec<u8> = (0..args.body_size)
        .map(|i| b"0123456789abcdef"[i % 16])
        .collect();
    let config = Arc::new((args.name.clone(), body, args.delay, args.idle_timeout));
    let http2 = args.http2;
    let mut sockets: Vec<Option<Socket>> = sockets.into_iter().map(Some).collect();
    let handles = crate::runtime::spawn_shards("serve", &shards, |i| {
        let socket = sockets[i].take().expect("one socket per shard");
        let config = config.clone();
        let tls = tls.clone();
        move || async move {
            let (name, body, delay, idle_timeout) = &*config;
            let shared = Rc::new(Shared {
                name: name.clone(),
                fixed: Canned::new(name, "text/plain", body),
                health: Canned::new(name, "text/plain", b"OK\n"),
                delay: *delay,
                idle_timeout: *idle_timeout,
                chunk: (0..64 * 1024)
                    .map(|i| b"0123456789abcdef"[i % 16])
                    .collect::<Vec<u8>>()
                    .into(),
                stats: Stats::default(),
            });
            accept_loop(socket, shared, tls.map(TlsAcceptor::from), http2).await;
        }
    })?;

    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "corelb-bench serve: listening on {scheme}://{addr} ({} shards, name {}{})",
        shards.len(),
        args.name,
        if http2 { ", HTTP/1.1 and HTTP/2" } else { "" }
    );
    let _ = stdout.flush();

    // Serve until told to stop. The shards never return on their own; the process exits.
    let _ = signals.forever().next();
    drop(handles);
    std::process::exit(0);
}

async fn accept_loop(socket: Socket, shared: Rc<Shared>, tls: Option<TlsAcceptor>, http2: bool) {
    let listener = crate::sys::glommio_listener(socket);
    let local = listener.local_addr().ok();
    let mut last_complaint = None::<std::time::Instant>;
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors or memory: say so now and then, back off, go on.
                if last_complaint.is_none_or(|t| t.elapsed().as_secs() >= 1) {
                    eprintln!("corelb-bench serve: accept: {e}");
                    last_complaint = Some(std::time::Instant::now());
                }
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Kept as an address (no allocation); only /echo formats it.
        let peer = stream.peer_addr().ok();
        let shared = shared.clone();
        let tls = tls.clone();
        glommio::spawn_local(async move {
            // Errors end the connection; a test backend has nobody to report them to.
            match tls {
                None if http2 && starts_with_preface(&stream).await => {
                    let _ = h2::serve(stream, shared, peer, local, false).await;
                }
                None => {
                    let _ = conn::serve(stream, shared, peer, local, false).await;
                }
                Some(acceptor) => {
                    if let Ok(tls_stream) = acceptor.accept(stream).await {
                        if tls_stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                            let _ = h2::serve(tls_stream, shared, peer, local, true).await;
                        } else {
                            let _ = conn::serve(tls_stream, shared, peer, local, true).await;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

/// h2c with prior knowledge: the connection's first bytes are HTTP/2's preface (looked at,
/// not consumed). A client that sends part of it and stalls is given 1 s.
async fn starts_with_preface(stream: &glommio::net::TcpStream) -> bool {
    let mut first = [0u8; h2::PREFACE.len()];
    for _ in 0..200 {
        let n = match stream.peek(&mut first).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if first[..n] != h2::PREFACE[..n] {
            return false;
        }
        if n == first.len() {
            return true;
        }
        glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
    }
    false
}
