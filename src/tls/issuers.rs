//! `issuers-chain-path DIR`: issuer chains kept beside the certificates, completing the chain
//! of a certificate whose PEM holds only the leaf (HAProxy's `ssl_load_global_issuers_from_path`
//! and `ssl_get0_issuers_chain`).
//!
//! Each regular file of the directory is a PEM whose first certificate is a CA (the issuer)
//! followed by the rest of its chain. An issuer is found by the leaf's Authority Key
//! Identifier (equal to the issuer's Subject Key Identifier) and the leaf's issuer name
//! (equal to the issuer's subject), as OpenSSL's `X509_check_issued` matches them; a leaf
//! without an Authority Key Identifier is not completed, as in HAProxy. The whole chain of
//! the file is then sent after the leaf.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::extensions::ParsedExtension;

use super::Warning;

/// One issuer file: the issuer's subject and key identifier, and the chain to send.
#[derive(Debug)]
struct Issuer {
    path: PathBuf,
    subject: Vec<u8>,
    skid: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
}

/// The issuers of `issuers-chain-path`, loaded once from the global section.
#[derive(Debug, Default)]
pub struct IssuerStore {
    issuers: Vec<Issuer>,
}

impl IssuerStore {
    /// Loads every file of `dir`, in alphabetical order. A file that is not a CA chain is
    /// skipped with HAProxy's warning; so is a second chain for the same issuer.
    pub fn load(dir: &Path) -> Result<(IssuerStore, Vec<Warning>), String> {
        let bad_dir = || {
            "global statement 'issuers-chain-path' expects a directory path as an argument."
                .to_string()
        };
        let rd = std::fs::read_dir(dir).map_err(|_| bad_dir())?;
        let mut names: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        let mut store = IssuerStore::default();
        let mut warnings = Vec::new();
        for name in names {
            let path = dir.join(&name);
            if !path.is_file() {
                continue;
            }
            match Self::load_one(&path) {
                Ok(i) => match store.issuers.iter().find(|o| o.subject == i.subject) {
                    Some(o) => warnings.push(format!(
                        "duplicate issuers-chain {}: {} already in store",
                        path.display(),
                        o.path.display()
                    )),
                    None => store.issuers.push(i),
                },
                Err(e) => warnings.push(format!(
                    "unable to load issuers-chain {} : {e}",
                    path.display()
                )),
            }
        }
        Ok((store, warnings))
    }

    fn load_one(path: &Path) -> Result<Issuer, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .filter_map(Result::ok)
            .collect();
        let Some(first) = chain.first() else {
            return Err("pem certificate not found.".into());
        };
        let (_, c) = x509_parser::parse_x509_certificate(first.as_ref())
            .map_err(|_| "pem certificate not found.".to_string())?;
        let skid = c
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        let Some(skid) = skid else {
            return Err(format!("{} has no Subject Key Identifier.", path.display()));
        };
        if !c.is_ca() {
            return Err(format!("{} is not a CA certificate.", path.display()));
        }
        Ok(Issuer {
            path: path.to_path_buf(),
            subject: c.subject().as_raw().to_vec(),
            skid,
            chain,
        })
    }

    /// The chain that completes `leaf`, if an issuer of the store signed it.
    pub fn chain_for(&self, leaf: &CertificateDer<'_>) -> Option<&[CertificateDer<'static>]> {
        let (_, c) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        let akid = c
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0)
                }
                _ => None,
            })?;
        let issuer = c.issuer().as_raw();
        self.issuers
            .iter()
            .find(|i| i.skid == akid && i.subject == issuer)
            .map(|i| i.chain.as_slice())
    }
}

/// Whether a certificate is its own issuer (a root CA, which clients already hold:
/// `ssl-skip-self-issued-ca` leaves it out of the chain that is sent).
pub fn self_issued(der: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(der.as_ref())
        .is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
}
