//! kTLS: handing the TLS record layer to the kernel after a rustls handshake.
//!
//! Once handed off, the socket carries plaintext for corelb: `read`, `write` and `splice`
//! work on it as on plain TCP while the kernel encrypts and decrypts records, so `mode tcp`
//! over TLS is spliced without copying through user space.
//!
//! Life of a connection that may use kTLS (the proxy drives it; nothing here blocks):
//!
//! 1. At start, [`probe`] once: can this kernel take the `tls` ULP, and which of the
//!    ciphers rustls negotiates (AES-GCM-128/256, CHACHA20-POLY1305; TLS 1.2 and 1.3) can
//!    it run in both directions? The answer is cached and logged in one line. On a kernel
//!    without CONFIG_TLS (these build machines) the answer is "unavailable" and TLS stays
//!    in rustls, in user space.
//! 2. The handshake reads through `crate::net::tls::HsStream` (or [`BoundaryReader`] for blocking
//!    I/O), which never hands rustls part of a record: whatever rustls has not read stays
//!    in the socket, where the kernel will find the next record whole.
//! 3. After the handshake, flush rustls' pending output (TLS 1.3 session tickets move the
//!    write sequence number), then [`handoff`]: it drains the plaintext rustls already
//!    decrypted (returned: the caller forwards it first), extracts the traffic secrets and
//!    sets TCP_ULP, TLS_TX and TLS_RX. When a precondition does not hold, nothing is
//!    changed and the rustls connection is given back ([`HandoffError::Declined`]).
//! 4. Afterwards a non-data record makes `read` fail with EIO (`splice`: EINVAL):
//!    [`read_record`] reads it and [`Record::action`] says what to do. The kernels this was
//!    tested on (6.1) cannot re-key (TLS 1.3 KeyUpdate needs 6.13+ and rustls' kernel
//!    connection API), so a KeyUpdate closes the connection; a close_notify alert is a
//!    clean end of stream; a NewSessionTicket (client side) is ignored.
//!
//! The raw system calls are in [`crate::sys::ktls`].

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

use rustls::{CipherSuite, ConnectionTrafficSecrets, ProtocolVersion};

use crate::sys::ktls::{self as sys, TlsCryptoInfo};

/// A record cipher the kernel may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KtlsCipher {
    AesGcm128,
    AesGcm256,
    Chacha20Poly1305,
}

impl KtlsCipher {
    pub const ALL: [KtlsCipher; 3] = [
        KtlsCipher::AesGcm128,
        KtlsCipher::AesGcm256,
        KtlsCipher::Chacha20Poly1305,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KtlsCipher::AesGcm128 => "AES-GCM-128",
            KtlsCipher::AesGcm256 => "AES-GCM-256",
            KtlsCipher::Chacha20Poly1305 => "CHACHA20-POLY1305",
        }
    }

    /// The record cipher of a rustls suite.
    pub fn of_suite(s: CipherSuite) -> Option<KtlsCipher> {
        use CipherSuite as C;
        Some(match s {
            C::TLS13_AES_128_GCM_SHA256
            | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => KtlsCipher::AesGcm128,
            C::TLS13_AES_256_GCM_SHA384
            | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => KtlsCipher::AesGcm256,
            C::TLS13_CHACHA20_POLY1305_SHA256
            | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => KtlsCipher::Chacha20Poly1305,
            _ => return None,
        })
    }
}

/// TLS 1.2 or TLS 1.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KtlsVersion {
    Tls12,
    Tls13,
}

impl KtlsVersion {
    fn of(v: ProtocolVersion) -> Option<KtlsVersion> {
        match v {
            ProtocolVersion::TLSv1_2 => Some(KtlsVersion::Tls12),
            ProtocolVersion::TLSv1_3 => Some(KtlsVersion::Tls13),
            _ => None,
        }
    }

    fn kernel(self) -> u16 {
        match self {
            KtlsVersion::Tls12 => sys::TLS_1_2_VERSION,
            KtlsVersion::Tls13 => sys::TLS_1_3_VERSION,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KtlsVersion::Tls12 => "TLS1.2",
            KtlsVersion::Tls13 => "TLS1.3",
        }
    }
}

/// The kernel's key layout for one direction, from a rustls secret and its sequence number.
pub fn crypto_info(
    version: KtlsVersion,
    seq: u64,
    secrets: &ConnectionTrafficSecrets,
) -> Option<TlsCryptoInfo> {
    let info = |cipher: u16| libc::tls_crypto_info {
        version: version.kernel(),
        cipher_type: cipher,
    };
    let rec_seq = seq.to_be_bytes();
    // AES-GCM: the 12-byte IV is the 4-byte salt then 8 bytes the kernel calls "iv" (the
    // initial explicit nonce in TLS 1.2; the rest of the static IV in TLS 1.3).
    Some(match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
            let (salt, iv) = iv.as_ref().split_at(4);
            TlsCryptoInfo::AesGcm128(libc::tls12_crypto_info_aes_gcm_128 {
                info: info(sys::TLS_CIPHER_AES_GCM_128),
                iv: iv.try_into().ok()?,
                key: key.as_ref().try_into().ok()?,
                salt: salt.try_into().ok()?,
                rec_seq,
            })
        }
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
            let (salt, iv) = iv.as_ref().split_at(4);
            TlsCryptoInfo::AesGcm256(libc::tls12_crypto_info_aes_gcm_256 {
                info: info(sys::TLS_CIPHER_AES_GCM_256),
                iv: iv.try_into().ok()?,
                key: key.as_ref().try_into().ok()?,
                salt: salt.try_into().ok()?,
                rec_seq,
            })
        }
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            TlsCryptoInfo::Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305 {
                info: info(sys::TLS_CIPHER_CHACHA20_POLY1305),
                iv: iv.as_ref().try_into().ok()?,
                key: key.as_ref().try_into().ok()?,
                salt: [],
                rec_seq,
            })
        }
        _ => return None,
    })
}

/// Keys for the probe: any bytes do, both ends of the probe connection get the same.
fn dummy_info(version: KtlsVersion, cipher: KtlsCipher) -> TlsCryptoInfo {
    let info = |c: u16| libc::tls_crypto_info {
        version: version.kernel(),
        cipher_type: c,
    };
    match cipher {
        KtlsCipher::AesGcm128 => TlsCryptoInfo::AesGcm128(libc::tls12_crypto_info_aes_gcm_128 {
            info: info(sys::TLS_CIPHER_AES_GCM_128),
            iv: [9; 8],
            key: [7; 16],
            salt: [5; 4],
            rec_seq: [0; 8],
        }),
        KtlsCipher::AesGcm256 => TlsCryptoInfo::AesGcm256(libc::tls12_crypto_info_aes_gcm_256 {
            info: info(sys::TLS_CIPHER_AES_GCM_256),
            iv: [9; 8],
            key: [7; 32],
            salt: [5; 4],
            rec_seq: [0; 8],
        }),
        KtlsCipher::Chacha20Poly1305 => {
            TlsCryptoInfo::Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305 {
                info: info(sys::TLS_CIPHER_CHACHA20_POLY1305),
                iv: [9; 12],
                key: [7; 32],
                salt: [],
                rec_seq: [0; 8],
            })
        }
    }
}

/// What the kernel can do, found once at start.
#[derive(Clone, Debug)]
pub struct KtlsSupport {
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// `Err`: the `tls` ULP cannot be attached (why, for the log).
    pub ulp: Result<(), String>,
    /// The (version, cipher) pairs that worked both ways on a loopback connection.
    pub ok: Vec<(KtlsVersion, KtlsCipher)>,
    /// The pairs that failed, with the reason.
    pub failed: Vec<(KtlsVersion, KtlsCipher, String)>,
}

impl KtlsSupport {
    /// A support record that says no (e.g. with `noktls`, or in tests).
    pub fn disabled(reason: &str) -> KtlsSupport {
        KtlsSupport {
            kernel: kernel_release(),
            ulp: Err(reason.to_string()),
            ok: Vec::new(),
            failed: Vec::new(),
        }
    }

    pub fn available(&self) -> bool {
        self.ulp.is_ok() && !self.ok.is_empty()
    }

    /// Whether a connection that negotiated this version and suite can be handed off.
    pub fn supports(&self, version: ProtocolVersion, suite: CipherSuite) -> bool {
        match (KtlsVersion::of(version), KtlsCipher::of_suite(suite)) {
            (Some(v), Some(c)) => self.ok.contains(&(v, c)),
            _ => false,
        }
    }

    /// The one log line.
    pub fn summary(&self) -> String {
        match &self.ulp {
            Err(e) => format!(
                "kTLS unavailable on kernel {}: {e}; TLS records are handled by rustls in \
                 user space",
                self.kernel
            ),
            Ok(()) => {
                let ok: Vec<String> = self
                    .ok
                    .iter()
                    .map(|(v, c)| format!("{} {}", v.name(), c.name()))
                    .collect();
                let mut s = format!(
                    "kTLS available on kernel {}: {}",
                    self.kernel,
                    if ok.is_empty() {
                        "no cipher".to_string()
                    } else {
                        ok.join(", ")
                    }
                );
                if !self.failed.is_empty() {
                    let f: Vec<String> = self
                        .failed
                        .iter()
                        .map(|(v, c, e)| format!("{} {} ({e})", v.name(), c.name()))
                        .collect();
                    s.push_str(&format!(
                        "; not: {} (rustls in user space for those)",
                        f.join(", ")
                    ));
                }
                s
            }
        }
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The cached probe; the first call runs it and logs its summary.
pub fn probe() -> &'static KtlsSupport {
    static P: OnceLock<KtlsSupport> = OnceLock::new();
    P.get_or_init(|| {
        let s = probe_now();
        log::info!("{}", s.summary());
        s
    })
}

/// Probes the kernel now (uncached): for every version and cipher, a loopback connection
/// whose two ends get the same keys, and 5 bytes each way through the kernel's records.
/// Trying real records, not just the setsockopt, also catches a crypto module that loads
/// but fails.
pub fn probe_now() -> KtlsSupport {
    let kernel = kernel_release();
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for v in [KtlsVersion::Tls13, KtlsVersion::Tls12] {
        for c in KtlsCipher::ALL {
            match probe_one(v, c) {
                Ok(()) => ok.push((v, c)),
                Err(ProbeError::Ulp(e)) => {
                    return KtlsSupport {
                        kernel,
                        ulp: Err(e),
                        ok: Vec::new(),
                        failed: Vec::new(),
                    };
                }
                Err(ProbeError::Cipher(e)) => failed.push((v, c, e)),
            }
        }
    }
    KtlsSupport {
        kernel,
        ulp: Ok(()),
        ok,
        failed,
    }
}

enum ProbeError {
    Ulp(String),
    Cipher(String),
}

fn probe_one(v: KtlsVersion, c: KtlsCipher) -> Result<(), ProbeError> {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::Duration;
    let setup = |e: io::Error| ProbeError::Ulp(format!("cannot open a loopback connection: {e}"));
    let l = TcpListener::bind("127.0.0.1:0").map_err(setup)?;
    let mut a = TcpStream::connect(l.local_addr().map_err(setup)?).map_err(setup)?;
    let (mut b, _) = l.accept().map_err(setup)?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(setup)?;
        s.set_write_timeout(Some(Duration::from_secs(2)))
            .map_err(setup)?;
    }
    for s in [&a, &b] {
        if let Err(e) = sys::set_tls_ulp(s.as_fd()) {
            return Err(ProbeError::Ulp(match e.raw_os_error() {
                Some(libc::ENOENT) => "the kernel has no 'tls' ULP (setsockopt TCP_ULP \
                                       \"tls\": ENOENT: CONFIG_TLS is off or the tls module \
                                       cannot be loaded)"
                    .to_string(),
                _ => format!("setsockopt TCP_ULP \"tls\": {e}"),
            }));
        }
    }
    let info = dummy_info(v, c);
    let cipher = |what: &str, e: io::Error| ProbeError::Cipher(format!("{what}: {e}"));
    sys::set_tls_crypto(a.as_fd(), false, &info).map_err(|e| cipher("TLS_TX", e))?;
    sys::set_tls_crypto(b.as_fd(), true, &info).map_err(|e| cipher("TLS_RX", e))?;
    sys::set_tls_crypto(b.as_fd(), false, &info).map_err(|e| cipher("TLS_TX", e))?;
    sys::set_tls_crypto(a.as_fd(), true, &info).map_err(|e| cipher("TLS_RX", e))?;
    let mut buf = [0u8; 5];
    a.write_all(b"probe").map_err(|e| cipher("write", e))?;
    b.read_exact(&mut buf).map_err(|e| cipher("read", e))?;
    b.write_all(&buf).map_err(|e| cipher("write", e))?;
    a.read_exact(&mut buf).map_err(|e| cipher("read", e))?;
    if &buf != b"probe" {
        return Err(ProbeError::Cipher("records did not round-trip".into()));
    }
    Ok(())
}

/// Where a reader stands in the stream of TLS records: the handshake must stop reading at
/// a record boundary, so that the kernel finds the next record whole in the socket.
///
/// Pure bookkeeping over the bytes read; used by `HsStream` and [`BoundaryReader`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordBoundary {
    header: [u8; 5],
    /// Header bytes seen of the current record (0..=5).
    have: usize,
    /// Body bytes still to come once the header is complete.
    left: usize,
}

impl RecordBoundary {
    /// How many bytes may be read now without crossing the end of the current record (or
    /// of the next header).
    pub fn limit(&self) -> usize {
        if self.have < 5 {
            5 - self.have
        } else {
            self.left
        }
    }

    /// Accounts for bytes read (at most [`limit`](Self::limit) of them).
    pub fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.have < 5 {
                let n = (5 - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have == 5 {
                    self.left = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                    if self.left == 0 {
                        self.have = 0;
                    }
                }
            } else {
                let n = self.left.min(bytes.len());
                self.left -= n;
                bytes = &bytes[n..];
                if self.left == 0 {
                    self.have = 0;
                }
            }
        }
    }

    /// Between two records.
    pub fn at_boundary(&self) -> bool {
        self.have == 0
    }
}

/// A blocking reader that never crosses a TLS record boundary, for
/// `rustls::Connection::read_tls` (the async one is `crate::net::tls::HsStream`).
#[derive(Debug)]
pub struct BoundaryReader<R> {
    pub inner: R,
    pub boundary: RecordBoundary,
}

impl<R: io::Read> io::Read for BoundaryReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.boundary.limit().min(buf.len());
        let got = self.inner.read(&mut buf[..n])?;
        self.boundary.advance(&buf[..got]);
        Ok(got)
    }
}

/// Why a hand-off did not happen (the connection is unchanged and stays with rustls).
#[derive(Debug)]
#[non_exhaustive]
pub enum Declined {
    /// The handshake is not complete.
    Handshaking,
    /// rustls has TLS records to send: write them (flush the TLS stream) first.
    PendingOutput,
    /// The handshake reader stopped inside a record (read it through `HsStream`).
    NotAtRecordBoundary,
    /// The kernel cannot run this version and suite (see [`probe`]).
    Unsupported(ProtocolVersion, Option<CipherSuite>),
    /// The peer already closed (close_notify received): finish in user space.
    PeerClosed,
    /// setsockopt(TCP_ULP, "tls") failed; the socket is unchanged.
    Ulp(io::Error),
}

/// The result of a failed [`handoff`].
#[derive(Debug)]
pub enum HandoffError {
    /// Nothing was changed on the socket: carry on with rustls. `plaintext` holds what was
    /// already drained from the connection (forward it first).
    Declined {
        conn: Box<rustls::Connection>,
        plaintext: Vec<u8>,
        reason: Declined,
    },
    /// The secrets had been taken from rustls when the kernel refused the keys: the
    /// connection cannot continue and must be closed. (The start-up probe makes this
    /// unexpected.)
    Failed(io::Error),
}

/// A connection now run by the kernel.
#[derive(Debug)]
pub struct Handoff {
    /// Plaintext rustls had already decrypted: deliver it before reading the socket.
    pub plaintext: Vec<u8>,
    pub version: KtlsVersion,
    pub cipher: KtlsCipher,
}

/// The TLS bytes rustls wants to send, taken out of the connection (write them to the
/// socket before [`handoff`]).
pub fn pending_output(conn: &mut rustls::Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        if conn.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Hands a TCP socket whose rustls handshake is complete over to the kernel.
///
/// `fd` is the connection's socket; `at_record_boundary` comes from the handshake stream (`HsStream`)
/// (or [`BoundaryReader`]) the handshake read through. See the module documentation.
pub fn handoff(
    fd: BorrowedFd<'_>,
    conn: impl Into<rustls::Connection>,
    support: &KtlsSupport,
    at_record_boundary: bool,
) -> Result<Handoff, HandoffError> {
    let mut conn: rustls::Connection = conn.into();
    let mut plaintext = Vec::new();
    let decline = |conn, plaintext, reason| {
        Err(HandoffError::Declined {
            conn: Box::new(conn),
            plaintext,
            reason,
        })
    };
    if conn.is_handshaking() {
        return decline(conn, plaintext, Declined::Handshaking);
    }
    if conn.wants_write() {
        return decline(conn, plaintext, Declined::PendingOutput);
    }
    if !at_record_boundary {
        return decline(conn, plaintext, Declined::NotAtRecordBoundary);
    }
    let version = conn
        .protocol_version()
        .unwrap_or(ProtocolVersion::Unknown(0));
    let suite = conn.negotiated_cipher_suite().map(|s| s.suite());
    let (Some(v), Some(c)) = (
        KtlsVersion::of(version),
        suite.and_then(KtlsCipher::of_suite),
    ) else {
        return decline(conn, plaintext, Declined::Unsupported(version, suite));
    };
    if !support.ok.contains(&(v, c)) {
        return decline(conn, plaintext, Declined::Unsupported(version, suite));
    }
    // Plaintext rustls decrypted along with the last handshake records.
    let mut chunk = [0u8; 16384];
    loop {
        match io::Read::read(&mut conn.reader(), &mut chunk) {
            Ok(0) => return decline(conn, plaintext, Declined::PeerClosed),
            Ok(n) => plaintext.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // UnexpectedEof: the peer closed without close_notify; leave it to rustls.
            Err(_) => return decline(conn, plaintext, Declined::PeerClosed),
        }
    }
    // The ULP first: when it fails the socket and the rustls state are untouched.
    if let Err(e) = sys::set_tls_ulp(fd) {
        return decline(conn, plaintext, Declined::Ulp(e));
    }
    let secrets = conn
        .dangerous_extract_secrets()
        .map_err(|e| HandoffError::Failed(io::Error::other(e)))?;
    let bad = || HandoffError::Failed(io::Error::other("unexpected key sizes from rustls"));
    let tx = crypto_info(v, secrets.tx.0, &secrets.tx.1).ok_or_else(bad)?;
    let rx = crypto_info(v, secrets.rx.0, &secrets.rx.1).ok_or_else(bad)?;
    sys::set_tls_crypto(fd, false, &tx).map_err(HandoffError::Failed)?;
    sys::set_tls_crypto(fd, true, &rx).map_err(HandoffError::Failed)?;
    Ok(Handoff {
        plaintext,
        version: v,
        cipher: c,
    })
}

/// TLS content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

/// What `recvmsg` found on a kTLS socket.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// Application data: this many bytes were copied into the buffer (0: end of stream).
    Data(usize),
    /// The peer's close_notify alert: a clean end of stream.
    CloseNotify,
    /// Any other alert (level, description).
    Alert(u8, u8),
    /// A TLS 1.3 NewSessionTicket (a server's, so only on client-side connections).
    NewSessionTicket,
    /// A TLS 1.3 KeyUpdate (`requested`: the peer asks us to update too).
    KeyUpdate { requested: bool },
    /// Another handshake message (type), e.g. a renegotiation attempt.
    Handshake(u8),
    /// Another content type.
    Other(u8),
}

/// What the proxy does after a non-data record.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Read on.
    Continue,
    /// End of stream from the peer (shut down this direction, as on a TCP FIN).
    Eof,
    /// Close the connection; the text says why (for the log).
    Close(String),
}

impl Record {
    pub fn action(&self) -> Action {
        match self {
            Record::Data(0) => Action::Eof,
            Record::Data(_) | Record::NewSessionTicket => Action::Continue,
            Record::CloseNotify => Action::Eof,
            Record::Alert(level, desc) => Action::Close(format!(
                "TLS alert from peer (level {level}, description {desc})"
            )),
            Record::KeyUpdate { .. } => Action::Close(
                "TLS 1.3 KeyUpdate after the kTLS hand-off: the kernel's keys cannot be \
                 updated here"
                    .into(),
            ),
            Record::Handshake(t) => Action::Close(format!(
                "unexpected handshake message {t} after the handshake"
            )),
            Record::Other(t) => Action::Close(format!("unexpected TLS record type {t}")),
        }
    }
}

/// Classifies a record by content type and payload.
pub fn classify(record_type: u8, payload: &[u8]) -> Record {
    match record_type {
        APPLICATION_DATA => Record::Data(payload.len()),
        ALERT => match payload {
            [_, 0, ..] => Record::CloseNotify,
            [level, desc, ..] => Record::Alert(*level, *desc),
            _ => Record::Other(ALERT),
        },
        HANDSHAKE => match payload.first() {
            Some(4) => Record::NewSessionTicket,
            Some(24) => Record::KeyUpdate {
                requested: payload.get(4) == Some(&1),
            },
            Some(t) => Record::Handshake(*t),
            None => Record::Other(HANDSHAKE),
        },
        CHANGE_CIPHER_SPEC => Record::Other(CHANGE_CIPHER_SPEC),
        t => Record::Other(t),
    }
}

/// Reads from a kTLS socket with `recvmsg`, after `read` failed with EIO (or `splice` with
/// EINVAL): returns what came. Non-blocking (`MSG_DONTWAIT`): WouldBlock when nothing is
/// there. Application data lands in `buf` and is reported as [`Record::Data`].
pub fn read_record(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Record> {
    let (t, n) = sys::recv_tls_record(fd, buf, libc::MSG_DONTWAIT)?;
    if n == 0 && t == 0 {
        return Ok(Record::Data(0));
    }
    Ok(classify(t, &buf[..n]))
}

/// Sends a close_notify alert through the kernel (before shutting the socket down), as
/// HAProxy does on a clean close.
pub fn send_close_notify(fd: BorrowedFd<'_>) -> io::Result<()> {
    sys::send_tls_record(fd, ALERT, &[1, 0]).map(|_| ())
}

#[cfg(test)]
mod tests;
