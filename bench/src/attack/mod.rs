//! `corelb-bench attack`: vegeta's attack on glommio, one shard per core.
//!
//! `main` reads the targets, renders every request to bytes once, resolves the hosts, and
//! starts one shard per core; each takes every `count`-th request of the global schedule (see
//! `pacer`). Results go from the shards in batches over a channel to one writer thread, which
//! encodes the results stream (see `record`) to stdout or `--output`.
//!
//! Requests go over HTTP/1.1 (`client`) or HTTP/2 (`h2`): HTTPS endpoints with `--http2`
//! offer h2 over ALPN and fall back to HTTP/1.1 when the server does not select it; plain
//! ones speak HTTP/2 with `--h2c`.

mod client;
mod h2;
mod shard;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;

use crate::cli::AttackArgs;
use crate::http1::{RequestSpec, render_request};
use crate::pacer::Rate;
use crate::record::{Encoder, Record};
use crate::targets::{self, Target};

/// What every shard needs, read-only.
pub struct Plan {
    targets: Vec<Prepared>,
    endpoints: Vec<Endpoint>,
    rate: Rate,
    /// Open loop: how many requests in all (`None` = until interrupted).
    total: Option<u64>,
    /// Closed loop: how long (`None` = until interrupted).
    total_duration: Option<Duration>,
    timeout: Option<Duration>,
    keepalive: bool,
    max_idle: usize,
    /// HTTP/2: requests in flight on one connection (`--max-streams`).
    max_streams: usize,
}

/// A target rendered to the bytes sent.
struct Prepared {
    request: Vec<u8>,
    /// The same as an HTTP/2 request, when its endpoint is attacked over HTTP/2.
    h2: Option<h2::H2Request>,
    bytes_out: u64,
    head: bool,
    endpoint: usize,
    /// `METHOD URL`, the prefix of this target's error strings.
    label: String,
}

/// A distinct scheme://host:port: one connection pool each.
struct Endpoint {
    addrs: Result<Vec<SocketAddr>, String>,
    /// HTTPS only: the name sent as SNI and verified.
    server_name: Option<Result<ServerName<'static>, String>>,
    /// Attacked over HTTP/2: TLS offering h2 (`--http2`), or plain TCP with prior knowledge
    /// (`--h2c`).
    h2: bool,
    /// `scheme://host:port`, for messages.
    origin: String,
    /// The server did not select h2 and that was said (once, by whichever shard saw it).
    fallback_said: AtomicBool,
}

/// The protocols asked for on the command line.
#[derive(Clone, Copy)]
struct Protocols {
    /// `--http2`: offer h2 over TLS.
    http2: bool,
    /// `--h2c`: HTTP/2 with prior knowledge over plain TCP.
    h2c: bool,
}

/// A shard's results on their way to the writer.
pub struct Batch {
    shard: usize,
    records: Vec<Record>,
    /// Error messages first used in this batch, with the shard's ids for them.
    new_errors: Vec<(u32, String)>,
}

fn read_source(path: Option<&Path>) -> Result<(String, String), String> {
    match path {
        None => read_stdin(),
        Some(p) if p == Path::new("stdin") => read_stdin(),
        Some(p) => std::fs::read_to_string(p)
            .map(|s| (s, p.display().to_string()))
            .map_err(|e| format!("error opening targets {}: {e}", p.display())),
    }
}

fn read_stdin() -> Result<(String, String), String> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "corelb-bench attack: reading targets from standard input (end with Ctrl-D, or use --targets FILE)"
        );
    }
    let mut s = String::new();
    stdin
        .lock()
        .read_to_string(&mut s)
        .map_err(|e| format!("error reading targets from stdin: {e}"))?;
    Ok((s, "stdin".to_string()))
}

/// Renders targets and resolves their hosts.
fn prepare(
    targets: &[Target],
    default_body: &[u8],
    headers: &[(String, String)],
    keepalive: bool,
    protocols: Protocols,
) -> Result<(Vec<Prepared>, Vec<Endpoint>), String> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut endpoint_of: HashMap<(bool, String, u16), usize> = HashMap::new();
    let prepared = targets
        .iter()
        .map(|t| {
            let key = (t.url.tls, t.url.host.clone(), t.url.port);
            let endpoint = *endpoint_of.entry(key).or_insert_with(|| {
                let addrs = (t.url.host.as_str(), t.url.port)
                    .to_socket_addrs()
                    .map_err(|e| format!("{}: {e}", t.url.host))
                    .and_then(|a| {
                        let a: Vec<SocketAddr> = a.collect();
                        if a.is_empty() {
                            Err(format!("{}: no addresses", t.url.host))
                        } else {
                            Ok(a)
                        }
                    });
                let server_name = t.url.tls.then(|| {
                    ServerName::try_from(t.url.host.clone())
                        .map_err(|e| format!("{}: not a valid TLS server name: {e}", t.url.host))
                });
                let h2 = if t.url.tls {
                    protocols.http2
                } else {
                    protocols.h2c
                };
                endpoints.push(Endpoint {
                    addrs,
                    server_name,
                    h2,
                    origin: format!(
                        "{}://{}:{}",
                        if t.url.tls { "https" } else { "http" },
                        t.url.host,
                        t.url.port
                    ),
                    fallback_said: AtomicBool::new(false),
                });
                endpoints.len() - 1
            });
            // The flag's headers first, then the target's (vegeta's order).
            let all_headers: Vec<(String, String)> =
                headers.iter().chain(&t.headers).cloned().collect();
            let body = t.body.as_deref().unwrap_or(default_body);
            let h2 = if endpoints[endpoint].h2 {
                Some(
                    h2::H2Request::new(
                        &t.method,
                        t.url.tls,
                        &t.url.authority,
                        &t.url.path,
                        &all_headers,
                        body,
                    )
                    .map_err(|e| format!("{} {}: {e}", t.method, t.url.original))?,
                )
            } else {
                None
            };
            Ok(Prepared {
                h2,
                request: render_request(&RequestSpec {
                    method: &t.method,
                    path: &t.url.path,
                    authority: &t.url.authority,
                    headers: &all_headers,
                    body,
                    close: !keepalive,
                }),
                bytes_out: body.len() as u64,
                head: t.method == "HEAD",
                endpoint,
                label: format!("{} {}", t.method, t.url.original),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((prepared, endpoints))
}

/// `n` split over `shards`: shard `i`'s share.
fn share(n: u64, shards: usize, i: usize) -> u64 {
    let shards = shards as u64;
    n / shards + u64::from((i as u64) < n % shards)
}

pub fn run(args: &AttackArgs, cpus: Option<usize>) -> Result<(), String> {
    if args.rate.is_unlimited() && args.max_workers.is_none() {
        return Err("-rate=0 requires setting -max-workers".to_string());
    }
    if args.max_workers == Some(0) {
        return Err("-max-workers must be at least 1".to_string());
    }
    let mut cpus = crate::runtime::shard_cpus(cpus)?;
    // Fewer workers than cores: no point in shards that may never send.
    if let Some(max) = args.max_workers {
        cpus.truncate(usize::try_from(max).unwrap_or(usize::MAX).max(1));
    }
    let shards = cpus.len();

    let (src, origin) = read_source(args.targets.as_deref())?;
    let targets = targets::parse(&src, &origin, |p| {
        std::fs::read(p).map_err(|e| format!("{p}: {e}"))
    })
    .map_err(|e| e.to_string())?;
    let body = match &args.body {
        Some(p) => {
            std::fs::read(p).map_err(|e| format!("error reading body {}: {e}", p.display()))?
        }
        None => Vec::new(),
    };
    if args.max_streams == 0 {
        return Err("-max-streams must be at least 1".to_string());
    }
    let protocols = Protocols {
        http2: args.http2,
        h2c: args.h2c,
    };
    let (prepared, endpoints) = prepare(&targets, &body, &args.headers, args.keepalive, protocols)?;

    let tls_options = if targets.iter().any(|t| t.url.tls) {
        let roots = if args.root_certs.is_empty() || args.insecure {
            None
        } else {
            Some(crate::tls::root_store(&args.root_certs)?)
        };
        let client_cert = match &args.cert {
            Some(cert) => Some((
                crate::tls::load_certs(cert)?,
                crate::tls::load_key(args.key.as_deref().unwrap_or(cert))?,
            )),
            None => None,
        };
        let opts = crate::tls::ClientOptions {
            insecure: args.insecure,
            roots: match roots {
                Some(r) => Some(r),
                None if !args.insecure => Some(crate::tls::system_roots()),
                None => None,
            },
            client_cert,
            resumption: args.session_tickets,
            offer_h2: args.http2,
        };
        // Build one now so configuration errors stop the attack before it starts.
        crate::tls::client_config(&opts, args.http2)?;
        Some(Arc::new(opts))
    } else {
        None
    };

    let out: Box<dyn Write + Send> = match args.output.as_deref() {
        None => Box::new(io::stdout()),
        Some(p) if p == Path::new("stdout") => Box::new(io::stdout()),
        Some(p) => {
            Box::new(File::create(p).map_err(|e| format!("error opening {}: {e}", p.display()))?)
        }
    };
    crate::sys::raise_nofile_limit();

    let plan = Arc::new(Plan {
        targets: prepared,
        endpoints,
        rate: args.rate,
        total: args.rate.total(args.duration),
        total_duration: (!args.duration.is_zero()).then_some(args.duration),
        timeout: (!args.timeout.is_zero()).then_some(args.timeout),
        keepalive: args.keepalive,
        max_idle: args.connections,
        max_streams: args.max_streams,
    });

    // First SIGINT/SIGTERM: stop sending, finish what is in flight, write everything.
    // Second: exit at once (like vegeta).
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(|e| format!("installing signal handlers: {e}"))?;
    }

    let (tx, rx) = mpsc::channel::<Batch>();
    let writer_stop = stop.clone();
    let writer = std::thread::Builder::new()
        .name("results-writer".into())
        .spawn(move || write_results(rx, out, shards, &writer_stop))
        .map_err(|e| format!("starting the results writer: {e}"))?;

    // All shards start the schedule at the same instant, once every one of them is ready.
    let ready = Arc::new(Barrier::new(shards + 1));
    let go = Arc::new(Barrier::new(shards + 1));
    let start: Arc<OnceLock<(Instant, u64)>> = Arc::new(OnceLock::new());
    let max_workers = args.max_workers.unwrap_or(u64::MAX);
    let initial = args.workers.min(max_workers);
    let handles = crate::runtime::spawn_shards("attack", &cpus, |i| {
        let plan = plan.clone();
        let tls_options = tls_options.clone();
        let (ready, go, start, stop, tx) = (
            ready.clone(),
            go.clone(),
            start.clone(),
            stop.clone(),
            tx.clone(),
        );
        move || async move {
            // HTTP/1.1 connections offer only http/1.1; HTTP/2 ones offer h2 first.
            let connector = |o: &crate::tls::ClientOptions, h2: bool| {
                TlsConnector::from(crate::tls::client_config(o, h2).expect("checked before start"))
            };
            let tls = tls_options.map(|o| shard::Connectors {
                h1: connector(&o, false),
                h2: o.offer_h2.then(|| connector(&o, true)),
            });
            ready.wait();
            go.wait();
            let &(start, start_unix_ns) = start.get().expect("set before go");
            let spec = shard::ShardSpec {
                index: i,
                count: shards,
                initial_workers: share(initial, shards, i),
                max_workers: if max_workers == u64::MAX {
                    u64::MAX
                } else {
                    share(max_workers, shards, i)
                },
                start,
                start_unix_ns,
                stop,
                tx,
            };
            shard::run(plan, spec, tls).await;
        }
    })?;
    drop(tx);
    ready.wait();
    let _ = start.set((Instant::now(), crate::metrics::unix_ns(SystemTime::now())));
    go.wait();

    let mut failed = None;
    for (i, h) in handles.into_iter().enumerate() {
        if let Err(e) = h.join() {
            failed.get_or_insert(format!("shard {i} failed: {e}"));
        }
    }
    let written = writer
        .join()
        .map_err(|_| "the results writer panicked".to_string())?;
    if let Some(e) = failed {
        return Err(e);
    }
    written
}

/// The writer thread: batches in, one results stream out.
fn write_results(
    rx: mpsc::Receiver<Batch>,
    out: Box<dyn Write + Send>,
    shards: usize,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut enc = Encoder::new(BufWriter::with_capacity(256 * 1024, out));
    // Per shard: shard-local error id → the stream's id.
    let mut ids: Vec<Vec<u32>> = vec![vec![0]; shards];
    let mut error = None;
    for batch in rx {
        if error.is_some() {
            continue; // drain so the shards never block; they are being stopped
        }
        let map = &mut ids[batch.shard];
        for (local, message) in &batch.new_errors {
            let id = enc.error_id(message);
            let local = *local as usize;
            if map.len() <= local {
                map.resize(local + 1, 0);
            }
            map[local] = id;
        }
        for mut r in batch.records {
            r.error = map[r.error as usize];
            enc.push(&r);
        }
        if let Err(e) = enc.flush() {
            stop.store(true, Ordering::Relaxed);
            error = Some(if e.kind() == io::ErrorKind::BrokenPipe {
                "writing results: the reader went away (broken pipe)".to_string()
            } else {
                format!("writing results: {e}")
            });
        }
    }
    if error.is_none()
        && let Err(e) = enc.flush()
    {
        error = Some(format!("writing results: {e}"));
    }
    error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for n in [0u64, 1, 7, 10, 1000] {
            for shards in 1..5 {
                let sum: u64 = (0..shards).map(|i| share(n, shards, i)).sum();
                assert_eq!(sum, n);
            }
        }
    }

    #[test]
    fn prepares_requests_and_endpoints() {
        let targets = targets::parse(
            "GET http://127.0.0.1:1/a\n\nPOST http://127.0.0.1:1/b\nX-T: 1\n\nGET https://localhost:2/\n",
            "t",
            |_| Ok(Vec::new()),
        )
        .unwrap();
        let h1 = Protocols {
            http2: false,
            h2c: false,
        };
        let (p, e) = prepare(&targets, b"xyz", &[("X-G".into(), "g".into())], false, h1).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((p[0].endpoint, p[1].endpoint, p[2].endpoint), (0, 0, 1));
        let post = String::from_utf8(p[1].request.clone()).unwrap();
        assert!(post.starts_with("POST /b HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-G: g\r\nX-T: 1\r\n"));
        assert!(post.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\nxyz"));
        assert_eq!(p[1].bytes_out, 3);
        assert_eq!(p[1].label, "POST http://127.0.0.1:1/b");
        assert!(e[0].server_name.is_none());
        assert!(matches!(e[1].server_name, Some(Ok(_))));
        assert_eq!(e[0].addrs.as_ref().unwrap()[0].port(), 1);
        assert!(!e[0].h2 && !e[1].h2 && p.iter().all(|p| p.h2.is_none()));
        assert_eq!(e[1].origin, "https://localhost:2");

        // --http2 concerns the HTTPS endpoint, --h2c the plain one.
        let both = |http2, h2c| {
            let (p, e) = prepare(&targets, b"", &[], true, Protocols { http2, h2c }).unwrap();
            (e[0].h2, e[1].h2, p[0].h2.is_some(), p[2].h2.is_some())
        };
        assert_eq!(both(true, false), (false, true, false, true));
        assert_eq!(both(false, true), (true, false, true, false));
    }
}
