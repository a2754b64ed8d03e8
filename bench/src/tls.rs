//! rustls configurations: the attack's client (roots, `--insecure`, resumption, ALPN) and
//! `serve --tls-cert`'s server. Always the aws-lc-rs provider, named explicitly so a second
//! provider elsewhere in the dependency graph cannot make the choice ambiguous.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("{}: no PEM private key in it", path.display())
        }
        e => format!("{}: {e}", path.display()),
    })
}

/// The server side of `serve`: HTTP/1.1, and h2 first when `h2` (`serve --http2`).
pub fn server_config(
    cert: &Path,
    key: Option<&Path>,
    h2: bool,
) -> Result<Arc<ServerConfig>, String> {
    let certs = load_certs(cert)?;
    let key = load_key(key.unwrap_or(cert))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    cfg.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}

/// Client options from the attack's flags.
pub struct ClientOptions {
    pub insecure: bool,
    /// `None`: the system's roots.
    pub roots: Option<Arc<RootCertStore>>,
    pub client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    pub resumption: bool,
    /// `--http2`: HTTP/2 connections offer h2 (their own configuration, `client_config(_, true)`).
    pub offer_h2: bool,
}

/// Loads `--root-certs` files into one store.
pub fn root_store(files: &[impl AsRef<Path>]) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    for f in files {
        for cert in load_certs(f.as_ref())? {
            store
                .add(cert)
                .map_err(|e| format!("{}: bad certificate: {e}", f.as_ref().display()))?;
        }
    }
    Ok(Arc::new(store))
}

/// The system's trusted roots (`/etc/ssl/certs` on Debian). Empty if there are none: every
/// handshake then fails with an error in the results rather than the attack refusing to run.
pub fn system_roots() -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = store.add(cert);
    }
    if store.is_empty() {
        eprintln!(
            "corelb-bench: warning: no system root certificates found; HTTPS targets will fail verification (use --root-certs or --insecure)"
        );
    }
    Arc::new(store)
}

/// One client configuration (built per shard so the session cache, if any, is not shared).
/// ALPN: `h2, http/1.1` when `h2`, else `http/1.1` alone.
pub fn client_config(opts: &ClientOptions, h2: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        let roots = opts.roots.clone().unwrap_or_else(system_roots);
        builder.with_root_certificates(roots)
    };
    let mut cfg = match &opts.client_cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // Go's client keeps no session cache unless asked; without resumption every new
    // connection pays a full handshake, which is what -keepalive=false is meant to measure.
    cfg.resumption = if opts.resumption {
        Resumption::in_memory_sessions(1024)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(cfg))
}

/// `--insecure`: any certificate is accepted, but the handshake signature is still verified
/// against the presented certificate, so the TLS work measured is the real work.
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn certificate_and_key_files() {
        let dir = std::env::temp_dir().join(format!("corelb-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());

        // Separate files, and HAProxy's style: chain and key in one PEM.
        let c = write(&dir, "c.pem", &cert);
        let k = write(&dir, "k.pem", &key);
        assert!(server_config(&c, Some(&k), false).is_ok());
        let both = write(&dir, "both.pem", &format!("{cert}{key}"));
        assert!(server_config(&both, None, true).is_ok());

        // A certificate without its key names the problem.
        let e = server_config(&c, None, false).unwrap_err();
        assert!(e.contains("no PEM private key"), "{e}");
        let e = load_certs(&k).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        assert!(load_certs(&dir.join("missing.pem")).is_err());

        assert_eq!(root_store(&[&c]).unwrap().len(), 1);
        let opts = ClientOptions {
            insecure: false,
            roots: Some(root_store(&[&c]).unwrap()),
            client_cert: None,
            resumption: false,
            offer_h2: true,
        };
        let cfg = client_config(&opts, false).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let cfg = client_config(&opts, true).unwrap();
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        // --cert/--key for mutual TLS: the pair must match.
        let with_cert = ClientOptions {
            client_cert: Some((load_certs(&c).unwrap(), load_key(&k).unwrap())),
            ..opts
        };
        assert!(
            client_config(&with_cert, false)
                .unwrap()
                .client_auth_cert_resolver
                .has_certs()
        );
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let other_key = write(&dir, "other.pem", &other.signing_key.serialize_pem());
        let mismatched = ClientOptions {
            client_cert: Some((load_certs(&c).unwrap(), load_key(&other_key).unwrap())),
            insecure: true,
            roots: None,
            resumption: false,
            offer_h2: false,
        };
        assert!(client_config(&mismatched, false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
