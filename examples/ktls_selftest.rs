//! kTLS self-test: rustls handshakes on loopback, the server side handed to the kernel
//! with `corelb::tls::ktls`, then data both ways through the kernel's records, splice(2)
//! from the kTLS socket to a plain socket and back, and a non-data record from the client.
//!
//! Cases: TLS 1.3 and TLS 1.2, each with AES-GCM-128, AES-GCM-256 and CHACHA20-POLY1305.
//! Prints one line per case and a last line `KTLS-SELFTEST: PASS (…)` or
//! `KTLS-SELFTEST: FAIL (…)`; exits 0, 1, or 77 when the kernel has no kTLS (as on the
//! build machines: run it inside the VM with `scripts/ktls-vm-test.sh`).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corelb::tls::ktls::{self, Action, BoundaryReader, Record, RecordBoundary};
use corelb::tls::options::{BindTls, TlsGlobals};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

const BULK: usize = 256 * 1024;
const SPLICED: usize = 512 * 1024;
const CHUNK: usize = 16 * 1024;

fn main() {
    let support = ktls::probe_now();
    println!("KTLS-SELFTEST: {}", support.summary());
    if !support.available() {
        println!("KTLS-SELFTEST: UNAVAILABLE (no kTLS in this kernel)");
        std::process::exit(77);
    }
    let dir = std::env::temp_dir().join(format!("ktls-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ktls.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = dir.join("ktls.pem");
    std::fs::write(&pem, cert.pem() + &key.serialize_pem()).unwrap();

    use rustls::CipherSuite as C;
    let cases: &[Case] = &[
        (
            "TLS1.3 AES-GCM-128",
            &[
                ("ssl-min-ver", Some("TLSv1.3")),
                ("ciphersuites", Some("TLS_AES_128_GCM_SHA256")),
            ],
            C::TLS13_AES_128_GCM_SHA256,
            true,
        ),
        (
            "TLS1.3 AES-GCM-256",
            &[
                ("ssl-min-ver", Some("TLSv1.3")),
                ("ciphersuites", Some("TLS_AES_256_GCM_SHA384")),
            ],
            C::TLS13_AES_256_GCM_SHA384,
            false,
        ),
        (
            "TLS1.3 CHACHA20-POLY1305",
            &[
                ("ssl-min-ver", Some("TLSv1.3")),
                ("ciphersuites", Some("TLS_CHACHA20_POLY1305_SHA256")),
            ],
            C::TLS13_CHACHA20_POLY1305_SHA256,
            false,
        ),
        (
            "TLS1.2 ECDHE-ECDSA-AES128-GCM-SHA256",
            &[
                ("ssl-max-ver", Some("TLSv1.2")),
                ("ciphers", Some("ECDHE-ECDSA-AES128-GCM-SHA256")),
            ],
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            false,
        ),
        (
            "TLS1.2 ECDHE-ECDSA-AES256-GCM-SHA384",
            &[
                ("ssl-max-ver", Some("TLSv1.2")),
                ("ciphers", Some("ECDHE-ECDSA-AES256-GCM-SHA384")),
            ],
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            false,
        ),
        (
            "TLS1.2 ECDHE-ECDSA-CHACHA20-POLY1305",
            &[
                ("ssl-max-ver", Some("TLSv1.2")),
                ("ciphers", Some("ECDHE-ECDSA-CHACHA20-POLY1305")),
            ],
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            false,
        ),
    ];
    let mut failed = Vec::new();
    for (name, words, suite, key_update) in cases {
        let t = Instant::now();
        let globals = TlsGlobals::default();
        let mut bind = BindTls::default();
        let mut r = bind.apply(&globals, "ssl", None).map(|_| ());
        r = r.and_then(|_| bind.apply(&globals, "crt", pem.to_str()).map(|_| ()));
        for (k, v) in *words {
            r = r.and_then(|_| bind.apply(&globals, k, *v).map(|_| ()));
        }
        let res = r
            .and_then(|_| bind.build(&globals).map(|(c, _)| c))
            .and_then(|cfg| run_case(cfg, *suite, *key_update, &support));
        match res {
            Ok(detail) => println!(
                "KTLS-SELFTEST: ok   {name}: {detail} ({} ms)",
                t.elapsed().as_millis()
            ),
            Err(e) => {
                println!("KTLS-SELFTEST: FAIL {name}: {e}");
                failed.push(*name);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed.is_empty() {
        println!("KTLS-SELFTEST: PASS ({} cases)", cases.len());
    } else {
        println!(
            "KTLS-SELFTEST: FAIL ({} of {} cases: {})",
            failed.len(),
            cases.len(),
            failed.join("; ")
        );
        std::process::exit(1);
    }
}

/// A case: its name, the bind keywords that select it, the suite expected, and whether the
/// client ends with a KeyUpdate (else a close_notify).
type Case = (
    &'static str,
    &'static [(&'static str, Option<&'static str>)],
    rustls::CipherSuite,
    bool,
);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// One connection: the server side (this thread) hands off to kTLS; the client (a thread)
/// stays in rustls.
fn run_case(
    cfg: Arc<rustls::ServerConfig>,
    suite: rustls::CipherSuite,
    key_update: bool,
    support: &ktls::KtlsSupport,
) -> Result<String, String> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: io::Error| format!("{what}: {err}")
    };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(e("bind"))?;
    let addr = listener.local_addr().map_err(e("addr"))?;
    let client = std::thread::spawn(move || client_side(addr, key_update));

    let (sock, _) = listener.accept().map_err(e("accept"))?;
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(e("timeout"))?;
    let mut conn = rustls::ServerConnection::new(cfg).map_err(|x| x.to_string())?;
    let mut boundary = RecordBoundary::default();
    let mut s = &sock;
    while conn.is_handshaking() {
        while conn.wants_write() {
            conn.write_tls(&mut s).map_err(e("handshake write"))?;
        }
        if conn.is_handshaking() && conn.wants_read() {
            let mut r = BoundaryReader {
                inner: &sock,
                boundary,
            };
            let n = conn.read_tls(&mut r).map_err(e("handshake read"))?;
            boundary = r.boundary;
            if n == 0 {
                return Err("client closed during the handshake".into());
            }
            conn.process_new_packets()
                .map_err(|x| format!("handshake: {x}"))?;
        }
    }
    // Session tickets (TLS 1.3) go out before the keys move to the kernel.
    while conn.wants_write() {
        conn.write_tls(&mut s).map_err(e("flush"))?;
    }
    let got_suite = conn.negotiated_cipher_suite().map(|s| s.suite());
    if got_suite != Some(suite) {
        return Err(format!("negotiated {got_suite:?}, expected {suite:?}"));
    }
    let h = ktls::handoff(sock.as_fd(), conn, support, boundary.at_boundary())
        .map_err(|x| format!("hand-off: {x:?}"))?;
    let mut detail = format!(
        "handed off ({}, {} plaintext bytes from rustls)",
        match h.version {
            ktls::KtlsVersion::Tls12 => "TLS1.2",
            ktls::KtlsVersion::Tls13 => "TLS1.3",
        },
        h.plaintext.len()
    );

    // 1. The client's first message (sent with its Finished), then a reply.
    let hello = b"hello from the client";
    let mut first = h.plaintext.clone();
    while first.len() < hello.len() {
        let mut b = [0u8; 64];
        let n = (&sock).read(&mut b).map_err(e("read hello"))?;
        if n == 0 {
            return Err("EOF before the hello".into());
        }
        first.extend_from_slice(&b[..n]);
    }
    if first != hello {
        return Err(format!(
            "hello garbled: {:?}",
            String::from_utf8_lossy(&first)
        ));
    }
    (&sock)
        .write_all(b"hello from the kernel")
        .map_err(e("write reply"))?;

    // 2. Bulk both ways with read/write on the kTLS socket.
    let mut bulk = vec![0u8; BULK];
    (&sock).read_exact(&mut bulk).map_err(e("bulk read"))?;
    if bulk != pattern(BULK, 1) {
        return Err("bulk data from the client garbled".into());
    }
    (&sock)
        .write_all(&pattern(BULK, 2))
        .map_err(e("bulk write"))?;
    detail.push_str(&format!(", {} KiB each way by read/write", BULK / 1024));

    // 3. splice: kTLS socket → pipe → plain socket (an echo server) → pipe → kTLS socket.
    let echo_l = TcpListener::bind("127.0.0.1:0").map_err(e("echo bind"))?;
    let echo_addr = echo_l.local_addr().map_err(e("echo addr"))?;
    let echo = std::thread::spawn(move || -> io::Result<usize> {
        let (mut c, _) = echo_l.accept()?;
        let mut b = vec![0u8; 65536];
        let mut total = 0;
        loop {
            let n = c.read(&mut b)?;
            if n == 0 {
                return Ok(total);
            }
            c.write_all(&b[..n])?;
            total += n;
        }
    });
    let plain = TcpStream::connect(echo_addr).map_err(e("echo connect"))?;
    // The other direction's thread gets its own descriptors of the same two sockets.
    let (k2, p2) = (
        sock.try_clone().map_err(e("dup"))?,
        plain.try_clone().map_err(e("dup"))?,
    );
    let up = std::thread::spawn(move || splice_n(k2.as_fd(), p2.as_fd(), SPLICED));
    let down = splice_n(plain.as_fd(), sock.as_fd(), SPLICED).map_err(e("splice plain→kTLS"))?;
    let up = up
        .join()
        .map_err(|_| "splice thread panicked".to_string())?
        .map_err(e("splice kTLS→plain"))?;
    plain.shutdown(std::net::Shutdown::Write).ok();
    let echoed = echo
        .join()
        .map_err(|_| "echo thread panicked".to_string())?
        .map_err(e("echo"))?;
    if up != SPLICED || down != SPLICED || echoed != SPLICED {
        return Err(format!(
            "splice moved {up}/{down}/{echoed} bytes, expected {SPLICED}"
        ));
    }
    detail.push_str(&format!(", {} KiB spliced each way", SPLICED / 1024));

    // 4. A non-data record: the kernel refuses it to read() (EIO) and recvmsg() gets it.
    let mut b = [0u8; 256];
    let err = match (&sock).read(&mut b) {
        Ok(n) => {
            return Err(format!(
                "read {n} bytes where a control record was expected"
            ));
        }
        Err(err) => err,
    };
    if err.raw_os_error() != Some(libc::EIO) {
        return Err(format!(
            "read before the control record: {err} (expected EIO)"
        ));
    }
    let rec = ktls::read_record(sock.as_fd(), &mut b).map_err(e("recvmsg"))?;
    match (&rec, key_update) {
        (Record::KeyUpdate { .. }, true) => {
            if !matches!(rec.action(), Action::Close(_)) {
                return Err("a KeyUpdate must close".into());
            }
            detail.push_str(", KeyUpdate received by recvmsg → close");
            drop(sock);
        }
        (Record::CloseNotify, false) => {
            if rec.action() != Action::Eof {
                return Err("close_notify must be EOF".into());
            }
            ktls::send_close_notify(sock.as_fd()).map_err(e("send close_notify"))?;
            sock.shutdown(std::net::Shutdown::Write).ok();
            detail.push_str(", close_notify both ways");
        }
        _ => return Err(format!("unexpected control record {rec:?}")),
    }
    client
        .join()
        .map_err(|_| "client thread panicked".to_string())??;
    Ok(detail)
}

/// Moves exactly `n` bytes from `from` to `to` through a pipe.
fn splice_n(from: BorrowedFd<'_>, to: BorrowedFd<'_>, n: usize) -> io::Result<usize> {
    let pipe = corelb::sys::Pipe::new(256 * 1024)?;
    let mut moved = 0;
    while moved < n {
        let got = match corelb::sys::splice(from, pipe.wr.as_fd(), (n - moved).min(65536)) {
            Ok(0) => return Ok(moved),
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        let mut left = got;
        while left > 0 {
            match corelb::sys::splice(pipe.rd.as_fd(), to, left) {
                Ok(k) => left -= k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        moved += got;
    }
    Ok(moved)
}

fn client_side(addr: std::net::SocketAddr, key_update: bool) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(cfg), ServerName::try_from("ktls.test").unwrap())
            .map_err(|x| x.to_string())?;
    let mut sock = TcpStream::connect(addr).map_err(|x| x.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(20))).ok();
    // Written before the handshake ends: rustls sends it right behind its Finished, the
    // case where the server must stop reading exactly between two records.
    conn.writer()
        .write_all(b"hello from the client")
        .map_err(|x| x.to_string())?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let c = |what: &'static str| move |x: io::Error| format!("client {what}: {x}");
    tls.flush().map_err(c("flush"))?;
    let mut reply = [0u8; 21];
    tls.read_exact(&mut reply).map_err(c("read reply"))?;
    if &reply != b"hello from the kernel" {
        return Err("client: reply garbled".into());
    }
    tls.write_all(&pattern(BULK, 1)).map_err(c("bulk write"))?;
    let mut bulk = vec![0u8; BULK];
    tls.read_exact(&mut bulk).map_err(c("bulk read"))?;
    if bulk != pattern(BULK, 2) {
        return Err("client: bulk data from the kernel garbled".into());
    }
    // Ping-pong through the spliced path, a chunk at a time (no buffer can fill up).
    let data = pattern(SPLICED, 3);
    let mut back = vec![0u8; CHUNK];
    for chunk in data.chunks(CHUNK) {
        tls.write_all(chunk).map_err(c("splice write"))?;
        tls.read_exact(&mut back[..chunk.len()])
            .map_err(c("splice read"))?;
        if &back[..chunk.len()] != chunk {
            return Err("client: spliced echo garbled".into());
        }
    }
    if key_update {
        tls.conn
            .refresh_traffic_keys()
            .map_err(|x| format!("client key update: {x}"))?;
        tls.flush().map_err(c("flush key update"))?;
        // The server closes without answering.
        let mut b = [0u8; 16];
        let _ = tls.read(&mut b);
        return Ok(());
    }
    tls.conn.send_close_notify();
    tls.flush().map_err(c("flush close_notify"))?;
    let mut b = [0u8; 16];
    match tls.read(&mut b) {
        Ok(0) if tls.conn.is_handshaking() => Err("client: handshake state lost".into()),
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("client: {n} unexpected bytes after close_notify")),
        Err(x) => Err(format!("client: no clean close from the server: {x}")),
    }
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
