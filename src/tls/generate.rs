//! `generate-certificates` with `ca-sign-file` on a bind line: a client asking by SNI for a
//! name no certificate of the listener serves gets one made on the spot, signed by the CA
//! of `ca-sign-file`, as HAProxy 2.6 makes them: the default certificate's key, the name as
//! CN and DNS subjectAltName, issued by the CA's subject, valid from a day ago for a year,
//! a random serial, `CA:FALSE`, key usages digitalSignature, nonRepudiation and
//! keyEncipherment, key identifiers; served with the CA certificate as its chain. Made
//! certificates are kept (at most `tune.ssl.ssl-ctx-cache-size`, [`CACHE`] by default, the
//! oldest dropped first), as HAProxy's cache.

use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Certificates kept per listener (HAProxy's `tune.ssl.ssl-ctx-cache-size` default).
pub const CACHE: usize = 1000;

pub struct Generator {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca: CertificateDer<'static>,
    made: Mutex<Made>,
    /// Certificates kept (`tune.ssl.ssl-ctx-cache-size`; 0: none, each is made anew).
    keep: usize,
}

#[derive(Default)]
struct Made {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    order: VecDeque<String>,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Generator")
    }
}

impl Generator {
    /// Reads the CA certificate and its private key from one PEM file.
    pub fn load(path: &Path) -> Result<Generator, String> {
        let what = |e: &dyn std::fmt::Display| {
            format!(
                "Failed to read CA certificate file '{}': {e}",
                path.display()
            )
        };
        let pem = std::fs::read_to_string(path).map_err(|e| what(&e))?;
        let ca = rustls_pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes())
            .filter_map(Result::ok)
            .next()
            .map(|c: CertificateDer<'_>| c.into_owned())
            .ok_or_else(|| what(&"no certificate in it"))?;
        let key_der: rustls_pki_types::PrivateKeyDer<'_> =
            rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                .map_err(|_| what(&"no private key in it"))?;
        let key = rcgen::KeyPair::try_from(&key_der).map_err(|e| what(&e))?;
        let issuer = rcgen::Issuer::from_ca_cert_der(&ca, key).map_err(|e| what(&e))?;
        Ok(Generator {
            issuer,
            ca,
            made: Mutex::default(),
            keep: CACHE,
        })
    }

    /// Keeps at most `n` made certificates (0: none).
    pub fn keeping(mut self, n: usize) -> Generator {
        self.keep = n;
        self
    }

    /// The certificate for `name` (made now, or earlier), with the key of `default`, the
    /// listener's default certificate; `None` when it cannot be made (the default is then
    /// served, as HAProxy does).
    pub fn get(&self, name: &str, default: &CertifiedKey) -> Option<Arc<CertifiedKey>> {
        if let Some(k) = self.lock().by_name.get(name) {
            return Some(k.clone());
        }
        let made = match self.make(name, default) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                log::warn!("generate-certificates: no certificate for '{name}': {e}");
                return None;
            }
        };
        if self.keep == 0 {
            return Some(made);
        }
        let mut m = self.lock();
        if m.order.len() >= self.keep
            && let Some(old) = m.order.pop_front()
        {
            m.by_name.remove(&old);
        }
        m.order.push_back(name.to_string());
        m.by_name.insert(name.to_string(), made.clone());
        Some(made)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Made> {
        self.made.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn make(&self, name: &str, default: &CertifiedKey) -> Result<CertifiedKey, String> {
        let leaf = default
            .cert
            .first()
            .ok_or("the default certificate is empty")?;
        let (_, x509) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| format!("default certificate: {e}"))?;
        let spki = rcgen::SubjectPublicKeyInfo::from_der(x509.tbs_certificate.subject_pki.raw)
            .map_err(|e| format!("default certificate's key: {e}"))?;
        let mut p = rcgen::CertificateParams::new(vec![name.to_string()])
            .map_err(|e| format!("'{name}': {e}"))?;
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(365);
        let mut serial = [0u8; 4];
        serial.iter_mut().for_each(|b| *b = fastrand::u8(..));
        serial[0] &= 0x7f;
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::ContentCommitment,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        p.use_authority_key_identifier_extension = true;
        let cert = p
            .signed_by(&spki, &self.issuer)
            .map_err(|e| format!("signing: {e}"))?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.ca.clone()],
            default.key.clone(),
        ))
    }
}
