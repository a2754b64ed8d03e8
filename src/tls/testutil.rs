//! Helpers for the TLS unit tests: temporary directories, generated certificates, an
//! in-memory rustls handshake.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "corelb-tls-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The UTC midnight of a civil date.
pub fn at(y: i64, m: i64, d: i64) -> SystemTime {
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    UNIX_EPOCH + Duration::from_secs((days * 86400) as u64)
}

/// Runs the openssl CLI with `input` on stdin and returns stdout.
pub fn openssl(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("these tests need the openssl CLI (apt-get install openssl): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// PKCS#8 → the traditional encoding: PKCS#1 for RSA, SEC1 for EC.
pub fn to_traditional(pkcs8: &str) -> String {
    openssl(&["pkey", "-traditional"], pkcs8)
}

/// A generated self-signed certificate valid 2020-01-01 .. 2030-01-01.
pub struct Gen {
    pub names: Vec<String>,
    pub cert_pem: String,
    pub key_pkcs8: String,
}

fn rsa_key_pem() -> &'static str {
    // RSA-2048 generation is slow: one key for every RSA certificate of a test run.
    static K: OnceLock<String> = OnceLock::new();
    K.get_or_init(|| {
        openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            "",
        )
    })
}

impl Gen {
    fn make(names: &[&str], cn: Option<&str>, key: rcgen::KeyPair) -> Gen {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        let cert = params.self_signed(&key).unwrap();
        Gen {
            names,
            cert_pem: cert.pem(),
            key_pkcs8: key.serialize_pem(),
        }
    }

    pub fn ecdsa(names: &[&str]) -> Gen {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Gen::make(names, Some("corelb test"), key)
    }

    pub fn ecdsa_cn_only(cn: &str) -> Gen {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Gen::make(&[], Some(cn), key)
    }

    pub fn rsa(names: &[&str]) -> Gen {
        let key = rcgen::KeyPair::from_pem(rsa_key_pem()).unwrap();
        Gen::make(names, Some("corelb test"), key)
    }
}

/// Accepts any server certificate (the tests look at which one was sent).
#[derive(Debug)]
pub struct AcceptAny(pub Arc<rustls::crypto::CryptoProvider>);

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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration that accepts any certificate.
pub fn any_client(provider: Arc<rustls::crypto::CryptoProvider>) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth()
}

/// Moves TLS bytes between two connections in memory until both are quiet.
pub fn pump(
    client: &mut rustls::ClientConnection,
    server: &mut rustls::ServerConnection,
) -> Result<(), rustls::Error> {
    for _ in 0..20 {
        let mut buf = Vec::new();
        let mut moved = false;
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            moved = true;
            server.read_tls(&mut &buf[..]).unwrap();
            server.process_new_packets()?;
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            moved = true;
            client.read_tls(&mut &buf[..]).unwrap();
            client.process_new_packets()?;
        }
        if !moved {
            break;
        }
    }
    Ok(())
}

/// Runs a handshake against `cfg` with an SNI and returns the names of the certificate the
/// server sent.
pub fn handshake_peer_names(cfg: Arc<rustls::ServerConfig>, sni: &str) -> Vec<String> {
    let ccfg = Arc::new(any_client(crate::tls::provider()));
    let mut c = rustls::ClientConnection::new(ccfg, ServerName::try_from(sni.to_string()).unwrap())
        .unwrap();
    let mut s = rustls::ServerConnection::new(cfg).unwrap();
    pump(&mut c, &mut s).unwrap();
    assert!(!c.is_handshaking());
    let cert = &c.peer_certificates().unwrap()[0];
    crate::tls::certs::cert_info(cert).unwrap().names
}
