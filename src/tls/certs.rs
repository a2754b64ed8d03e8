//! Certificate material, loaded the way HAProxy loads it, and the SNI resolver.
//!
//! - `crt FILE`: one PEM with the leaf certificate first, then its chain, and the private key
//!   (RSA or ECDSA — PKCS#1 `RSA PRIVATE KEY`, PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` —
//!   or Ed25519 in PKCS#8). The extra files HAProxy reads beside it, unless the global
//!   `ssl-load-extra-files` leaves them out (default `all`):
//!   - `key`: when the PEM holds no key, `FILE.key` (with `ssl-load-extra-del-ext`,
//!     `foo.crt` → `foo.key`);
//!   - `ocsp`: `FILE.ocsp`, a DER OCSP response, stapled as it is (rustls sends it to
//!     clients that ask; unlike HAProxy, corelb does not check that it answers for this
//!     certificate, nor refresh it);
//!   - `issuer`: `FILE.issuer` serves HAProxy to check the OCSP response; corelb checks none,
//!     so it is not read;
//!   - `sctl`: rustls cannot send Signed Certificate Timestamps: a `FILE.sctl` is warned about;
//!   - `bundle`: when `FILE` does not exist, `FILE.rsa`, `FILE.ecdsa` are loaded as separate
//!     certificates (HAProxy's old multi-certificate bundles).
//!
//!   A PEM with only the leaf gets its chain from `issuers-chain-path` ([`super::issuers`]);
//!   `ssl-skip-self-issued-ca` leaves self-issued CAs (roots) out of the chain sent.
//! - `crt DIR`: every regular file in the directory in alphabetical order, skipping the
//!   extra files HAProxy keeps beside certificates (`.key`, `.ocsp`, `.issuer`, `.sctl`).
//! - `crt-list FILE`: one `certfile [[ssl-options]] [sni-filter …]` per line, `#` comments.
//!   SNI filters (with `*.` wildcards and `!negative` ones) replace the names taken from the
//!   certificate. Per-line SSL options are refused: rustls picks one configuration per
//!   listener, so honouring them would need a per-SNI configuration (not done).
//! - `crt-base` prefixes relative certificate paths (also those inside a crt-list; the
//!   crt-list path itself is not prefixed, as in HAProxy).
//!
//! Every certificate is checked once at load: the key matches the certificate, the
//! certificate is not expired (an error unless the operator opted in with the global
//! `tune.corelb.allow-expired-certs`), and one that expires within 30 days is warned about.
//!
//! [`CertStore`] is built once per listener and shared read-only by every shard.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::SignatureScheme;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

use super::Warning;
use super::issuers::{IssuerStore, self_issued};

/// Certificates closer than this to their end of validity are warned about.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// How certificate paths are resolved and how strict the checks are.
#[derive(Clone, Debug)]
pub struct LoadPolicy {
    /// `crt-base` from the global section.
    pub crt_base: Option<PathBuf>,
    /// `ssl-load-extra-del-ext`: look for `foo.key` beside `foo.crt` instead of
    /// `foo.crt.key`.
    pub extra_del_ext: bool,
    /// `tune.corelb.allow-expired-certs`: an expired certificate is a warning, not an error.
    pub allow_expired: bool,
    /// `ssl-load-extra-files`: which files beside a certificate are read.
    pub extra: ExtraFiles,
    /// `issuers-chain-path`: chains for PEMs that hold only the leaf.
    pub issuers: Option<Arc<IssuerStore>>,
    /// `ssl-skip-self-issued-ca`: self-issued CAs are not sent in the chain.
    pub skip_self_issued: bool,
    /// The time the validity checks compare with (the current time outside tests).
    pub now: SystemTime,
}

impl Default for LoadPolicy {
    fn default() -> Self {
        LoadPolicy {
            crt_base: None,
            extra_del_ext: false,
            allow_expired: false,
            extra: ExtraFiles::default(),
            issuers: None,
            skip_self_issued: false,
            now: SystemTime::now(),
        }
    }
}

/// `ssl-load-extra-files`: the files HAProxy reads beside a certificate (all by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtraFiles {
    pub bundle: bool,
    pub sctl: bool,
    pub ocsp: bool,
    pub issuer: bool,
    pub key: bool,
}

impl Default for ExtraFiles {
    fn default() -> Self {
        ExtraFiles::all(true)
    }
}

impl ExtraFiles {
    fn all(on: bool) -> ExtraFiles {
        ExtraFiles {
            bundle: on,
            sctl: on,
            ocsp: on,
            issuer: on,
            key: on,
        }
    }

    /// The arguments of `ssl-load-extra-files`, with HAProxy 2.6's errors (whose list of
    /// choices leaves out `key`, which it accepts).
    pub fn parse(args: &[&str]) -> Result<ExtraFiles, String> {
        let usage = "'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer).";
        if args.is_empty() {
            return Err(usage.into());
        }
        let mut x = ExtraFiles::all(false);
        for &a in args {
            match a {
                "none" | "all" if args.len() > 1 => {
                    return Err(
                        "'ssl-load-extra-files' 'none' and 'all' can be only used alone".into(),
                    );
                }
                "none" => {}
                "all" => x = ExtraFiles::all(true),
                "bundle" => x.bundle = true,
                "sctl" => x.sctl = true,
                "ocsp" => x.ocsp = true,
                "issuer" => x.issuer = true,
                "key" => x.key = true,
                _ => return Err(usage.into()),
            }
        }
        Ok(x)
    }
}

impl LoadPolicy {
    /// `crt-base` applied to a path from the configuration, as HAProxy does: only paths
    /// that do not start with `/`.
    pub fn resolve(&self, path: &str) -> PathBuf {
        match &self.crt_base {
            Some(base) if !path.starts_with('/') => base.join(path),
            _ => PathBuf::from(path),
        }
    }
}

/// The kind of private key, which decides the signature schemes a certificate can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    Rsa,
    Ecdsa,
    Ed25519,
    /// A key type rustls can load but that corelb does not name.
    Other,
}

/// One certificate with its chain and key, as read from a file.
#[derive(Clone)]
pub struct LoadedCert {
    /// The file the certificate came from.
    pub path: PathBuf,
    pub key: Arc<CertifiedKey>,
    pub kind: KeyKind,
    /// DNS names from the subjectAltName extension (lower case), or the subject's CN when
    /// the certificate has no DNS name in a SAN, as HAProxy does.
    pub names: Vec<String>,
    /// The subject, for messages.
    pub subject: String,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
}

impl fmt::Debug for LoadedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCert")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// A certificate as one line of a certificate list: `crt` gives no filters, a crt-list line
/// may give some.
#[derive(Clone, Debug)]
pub struct CertEntry {
    pub cert: LoadedCert,
    /// Positive SNI filters from a crt-list line; when non-empty they replace the
    /// certificate's own names.
    pub filters: Vec<String>,
    /// Negative (`!name`) SNI filters: this certificate is never chosen for these names.
    pub excluded: Vec<String>,
}

impl CertEntry {
    fn plain(cert: LoadedCert) -> Self {
        CertEntry {
            cert,
            filters: Vec::new(),
            excluded: Vec::new(),
        }
    }

    /// The names this entry is served for.
    pub fn names(&self) -> &[String] {
        if self.filters.is_empty() {
            &self.cert.names
        } else {
            &self.filters
        }
    }
}

/// The result of loading: the certificates and the warnings found on the way.
pub type Loaded = (Vec<CertEntry>, Vec<Warning>);

/// `crt PATH`: a PEM file, or a directory of them.
pub fn load_crt(arg: &str, policy: &LoadPolicy) -> Result<Loaded, String> {
    let path = policy.resolve(arg);
    if path.is_dir() {
        return load_dir(&path, policy);
    }
    let mut warnings = Vec::new();
    let certs = load_cert_path(&path, policy, &mut warnings)?;
    Ok((certs.into_iter().map(CertEntry::plain).collect(), warnings))
}

/// `crt DIR`: every regular file, in alphabetical order, except the extra files HAProxy
/// keeps beside certificates. A file in the directory that is not a usable certificate is
/// an error, as in HAProxy.
pub fn load_dir(dir: &Path, policy: &LoadPolicy) -> Result<Loaded, String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("unable to scan directory '{}': {e}", dir.display()))?;
    let mut names = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| format!("unable to scan directory '{}': {e}", dir.display()))?;
        names.push(ent.file_name());
    }
    // alphasort(3) in the C locale: byte order.
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for name in names {
        let s = name.to_string_lossy();
        if let Some(dot) = s.rfind('.')
            && matches!(&s[dot..], ".issuer" | ".ocsp" | ".sctl" | ".key")
        {
            continue;
        }
        let path = dir.join(&name);
        let meta = std::fs::metadata(&path).map_err(|e| {
            format!(
                "unable to stat SSL certificate from file '{}': {e}",
                path.display()
            )
        })?;
        if !meta.is_file() {
            continue;
        }
        for c in load_cert_path(&path, policy, &mut warnings)? {
            entries.push(CertEntry::plain(c));
        }
    }
    if entries.is_empty() {
        return Err(format!(
            "no certificate found in directory '{}'",
            dir.display()
        ));
    }
    Ok((entries, warnings))
}

/// `crt-list FILE`: `certfile [[ssl-options]] [sni-filter …]` per line.
pub fn load_crt_list(arg: &str, policy: &LoadPolicy) -> Result<Loaded, String> {
    let path = PathBuf::from(arg);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("unable to read crt-list '{}': {e}", path.display()))?;
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = parse_crt_list_line(line).map_err(|e| format!("{at}: {e}"))?;
        let cert_path = policy.resolve(&parsed.cert);
        let mut w = Vec::new();
        let certs = load_cert_path(&cert_path, policy, &mut w).map_err(|e| format!("{at}: {e}"))?;
        warnings.extend(w.into_iter().map(|w| format!("{at}: {w}")));
        for cert in certs {
            entries.push(CertEntry {
                cert,
                filters: parsed.filters.clone(),
                excluded: parsed.excluded.clone(),
            });
        }
    }
    if entries.is_empty() {
        return Err(format!(
            "crt-list '{}' names no certificate",
            path.display()
        ));
    }
    Ok((entries, warnings))
}

/// One crt-list line, split.
#[derive(Debug, PartialEq, Eq)]
pub struct CrtListLine {
    pub cert: String,
    pub filters: Vec<String>,
    pub excluded: Vec<String>,
}

/// Splits a crt-list line. `[ ... ]` holds per-certificate SSL options, which corelb does
/// not apply per certificate: an error naming them (an empty `[]` is accepted).
pub fn parse_crt_list_line(line: &str) -> Result<CrtListLine, String> {
    let line = match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => &line[..i],
        None => line,
    };
    let mut rest = line.trim();
    let cert_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let cert = rest[..cert_end].to_string();
    rest = rest[cert_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let Some(close) = after.find(']') else {
            return Err("missing ']' after the SSL options".into());
        };
        let opts = after[..close].trim();
        if !opts.is_empty() {
            return Err(format!(
                "per-certificate SSL options '[{opts}]' are not supported by corelb \
                 (set them on the 'bind' line, which applies them to every certificate)"
            ));
        }
        rest = after[close + 1..].trim_start();
    }
    let mut filters = Vec::new();
    let mut excluded = Vec::new();
    for f in rest.split_whitespace() {
        if let Some(neg) = f.strip_prefix('!') {
            excluded.push(normalize_name(neg));
        } else {
            filters.push(normalize_name(f));
        }
    }
    Ok(CrtListLine {
        cert,
        filters,
        excluded,
    })
}

fn normalize_name(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// Loads a certificate path, trying the `.rsa`/`.ecdsa` bundle files when the path itself
/// does not exist.
fn load_cert_path(
    path: &Path,
    policy: &LoadPolicy,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<LoadedCert>, String> {
    if !path.exists() && policy.extra.bundle {
        let mut found = Vec::new();
        for ext in ["rsa", "ecdsa", "dsa"] {
            let p = PathBuf::from(format!("{}.{ext}", path.display()));
            if p.is_file() {
                if ext == "dsa" {
                    return Err(format!(
                        "'{}': DSA certificates are not supported by rustls",
                        p.display()
                    ));
                }
                found.push(load_cert_file(&p, policy, warnings)?);
            }
        }
        if found.is_empty() {
            return Err(format!(
                "unable to load SSL certificate '{}': no such file",
                path.display()
            ));
        }
        return Ok(found);
    }
    Ok(vec![load_cert_file(path, policy, warnings)?])
}

/// Loads one PEM file holding a certificate chain and (or, beside it, a `.key` holding) its
/// private key, and checks it.
pub fn load_cert_file(
    path: &Path,
    policy: &LoadPolicy,
    warnings: &mut Vec<Warning>,
) -> Result<LoadedCert, String> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| format!("unable to load SSL certificate '{shown}': {e}"))?;
    let pem = parse_pem(&bytes).map_err(|e| format!("'{shown}': {e}"))?;
    for label in &pem.ignored {
        warnings.push(format!(
            "'{shown}': the PEM section '{label}' is ignored (rustls has no use for it)"
        ));
    }
    if pem.certs.is_empty() {
        return Err(format!("'{shown}': no certificate found in the file"));
    }
    let key = match pem.key {
        Some(k) => k,
        None if !policy.extra.key => {
            return Err(format!("No Private Key found in '{shown}'."));
        }
        None => {
            let key_path = key_path_beside(path, policy.extra_del_ext);
            let kb = std::fs::read(&key_path).map_err(|e| {
                format!(
                    "'{shown}': no private key in the file, and none in '{}' ({e})",
                    key_path.display()
                )
            })?;
            let kp = parse_pem(&kb).map_err(|e| format!("'{}': {e}", key_path.display()))?;
            kp.key.ok_or_else(|| {
                format!(
                    "'{shown}': no private key in the file, and none in '{}'",
                    key_path.display()
                )
            })?
        }
    };
    let mut certs = pem.certs;
    if certs.len() == 1
        && let Some(chain) = policy.issuers.as_ref().and_then(|i| i.chain_for(&certs[0]))
    {
        certs.extend(chain.iter().cloned());
    }
    if policy.skip_self_issued {
        let leaf = certs.remove(0);
        certs.retain(|c| !self_issued(c));
        certs.insert(0, leaf);
    }
    let mut loaded = build_loaded(path, certs, key, policy, warnings)?;
    let beside = |ext: &str| PathBuf::from(format!("{shown}.{ext}"));
    if policy.extra.ocsp && beside("ocsp").is_file() {
        let p = beside("ocsp");
        let der = std::fs::read(&p)
            .map_err(|e| format!("unable to load OCSP response '{}': {e}", p.display()))?;
        let mut ck = (*loaded.key).clone();
        ck.ocsp = Some(der);
        loaded.key = Arc::new(ck);
    }
    if policy.extra.sctl && beside("sctl").is_file() {
        warnings.push(format!(
            "'{}': rustls cannot send Signed Certificate Timestamps; not sent",
            beside("sctl").display()
        ));
    }
    Ok(loaded)
}

/// Where HAProxy looks for the key of a PEM that has none: `FILE.key`, or with
/// `ssl-load-extra-del-ext` the `.crt` extension replaced by `.key`.
pub fn key_path_beside(path: &Path, del_ext: bool) -> PathBuf {
    let s = path.display().to_string();
    if del_ext && let Some(stem) = s.strip_suffix(".crt") {
        return PathBuf::from(format!("{stem}.key"));
    }
    PathBuf::from(format!("{s}.key"))
}

struct Pem {
    certs: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
    /// Section labels that are not used (DH parameters, CRLs …).
    ignored: Vec<String>,
}

/// Splits a PEM file into certificates and at most one private key. Encrypted keys are
/// refused: a load balancer that starts unattended has no passphrase to give.
fn parse_pem(bytes: &[u8]) -> Result<Pem, String> {
    let mut certs = Vec::new();
    let mut key: Option<PrivateKeyDer<'static>> = None;
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes) {
        let (kind, der) = item.map_err(|e| format!("malformed PEM: {e}"))?;
        let k = match kind {
            SectionKind::Certificate => {
                certs.push(CertificateDer::from(der));
                continue;
            }
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            _ => continue,
        };
        if key.is_some() {
            return Err("more than one private key in the file".into());
        }
        key = Some(k);
    }
    // Sections the iterator skips silently: name the ones that matter.
    let mut ignored = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        match label {
            "CERTIFICATE" | "RSA PRIVATE KEY" | "PRIVATE KEY" | "EC PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => {
                return Err("the private key is encrypted (corelb cannot ask for a \
                            passphrase: store it decrypted, readable by root only)"
                    .into());
            }
            "TRUSTED CERTIFICATE" => {
                return Err("'TRUSTED CERTIFICATE' sections are not supported \
                            (use plain 'CERTIFICATE')"
                    .into());
            }
            other => ignored.push(other.to_string()),
        }
    }
    // A PKCS#1 key with a "Proc-Type: 4,ENCRYPTED" header is encrypted too.
    if bytes.windows(10).any(|w| w == b"Proc-Type:") {
        return Err(
            "the private key is encrypted (corelb cannot ask for a passphrase: \
                    store it decrypted, readable by root only)"
                .into(),
        );
    }
    Ok(Pem {
        certs,
        key,
        ignored,
    })
}

/// Builds the rustls key pair and runs the checks HAProxy's `-c` would: the key parses,
/// matches the leaf certificate, and the leaf is within its validity period.
fn build_loaded(
    path: &Path,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    policy: &LoadPolicy,
    warnings: &mut Vec<Warning>,
) -> Result<LoadedCert, String> {
    let shown = path.display();
    let provider = super::provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("'{shown}': unusable private key: {e}"))?;
    let kind = match signing.algorithm() {
        rustls::SignatureAlgorithm::RSA => KeyKind::Rsa,
        rustls::SignatureAlgorithm::ECDSA => KeyKind::Ecdsa,
        rustls::SignatureAlgorithm::ED25519 => KeyKind::Ed25519,
        _ => KeyKind::Other,
    };
    let ck = CertifiedKey::new(certs, signing);
    match ck.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(format!(
                "'{shown}': the private key does not match the certificate's public key"
            ));
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => return Err(format!("'{shown}': unusable certificate: {e}")),
    }
    let info = cert_info(&ck.cert[0]).map_err(|e| format!("'{shown}': {e}"))?;
    check_validity(&shown.to_string(), &info, policy, warnings)?;
    Ok(LoadedCert {
        path: path.to_path_buf(),
        key: Arc::new(ck),
        kind,
        names: info.names,
        subject: info.subject,
        not_after: info.not_after,
    })
}

/// What corelb reads from a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub names: Vec<String>,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    pub not_after_text: String,
}

/// Reads the names and validity of a DER certificate.
pub fn cert_info(der: &CertificateDer<'_>) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("cannot parse the certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(n) = gn {
                let n = normalize_name(n);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    if names.is_empty()
        && let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
    {
        names.push(normalize_name(cn));
    }
    let v = cert.validity();
    Ok(CertInfo {
        names,
        subject: cert.subject().to_string(),
        not_before: v.not_before.timestamp(),
        not_after: v.not_after.timestamp(),
        not_after_text: v.not_after.to_string(),
    })
}

fn check_validity(
    shown: &str,
    info: &CertInfo,
    policy: &LoadPolicy,
    warnings: &mut Vec<Warning>,
) -> Result<(), String> {
    let now = policy
        .now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if info.not_after < now {
        let msg = format!(
            "'{shown}': the certificate '{}' expired on {}",
            info.subject, info.not_after_text
        );
        if policy.allow_expired {
            warnings.push(format!(
                "{msg} (served anyway: tune.corelb.allow-expired-certs is set)"
            ));
            return Ok(());
        }
        return Err(format!(
            "{msg} (renew it, or set 'tune.corelb.allow-expired-certs' in the global \
             section to serve it anyway)"
        ));
    }
    let left = info.not_after - now;
    if left < EXPIRY_WARNING.as_secs() as i64 {
        warnings.push(format!(
            "'{shown}': the certificate '{}' expires in {} day(s), on {}",
            info.subject,
            left / 86400,
            info.not_after_text
        ));
    }
    if info.not_before > now {
        warnings.push(format!(
            "'{shown}': the certificate '{}' is not valid yet (clients will refuse it)",
            info.subject
        ));
    }
    Ok(())
}

/// The certificates of one listener, looked up by SNI.
///
/// Lookup order, as in HAProxy: an exact name, then a `*.` wildcard covering the first
/// label, then the default (the first certificate loaded) unless `strict-sni` is set. When
/// several certificates fit a name (an RSA and an ECDSA one), the first whose key can sign
/// with a scheme the client offered is chosen, so ECDSA-capable clients get the ECDSA
/// certificate when it is listed first and RSA-only clients still get the RSA one.
#[derive(Debug)]
pub struct CertStore {
    entries: Vec<CertEntry>,
    /// What each entry serves now: its key, or the one `commit ssl cert` put in its place
    /// (see [`replace_live`]). Read per handshake without a lock.
    live: Vec<Arc<ArcSwap<CertifiedKey>>>,
    exact: HashMap<String, Vec<usize>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Vec<usize>>,
    /// The first certificate and those serving exactly the same names.
    default: Vec<usize>,
    strict_sni: bool,
    /// `generate-certificates`: makes a certificate for a name no entry serves.
    generator: Option<Arc<super::generate::Generator>>,
}

impl CertStore {
    /// Builds the index. `entries` keep the configuration's order (the first is the
    /// default).
    pub fn new(entries: Vec<CertEntry>, strict_sni: bool) -> Result<CertStore, String> {
        let Some(first) = entries.first() else {
            return Err("'ssl' needs at least one certificate ('crt' or 'crt-list')".into());
        };
        let first_names = first.names().to_vec();
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<usize>> = HashMap::new();
        let mut default = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            for n in e.names() {
                if e.excluded.contains(n) {
                    continue;
                }
                match n.strip_prefix("*.") {
                    Some(rest) => wildcard.entry(rest.to_string()).or_default().push(i),
                    None => exact.entry(n.clone()).or_default().push(i),
                }
            }
            if i == 0 || (e.names() == first_names.as_slice() && !first_names.is_empty()) {
                default.push(i);
            }
        }
        let live: Vec<Arc<ArcSwap<CertifiedKey>>> = entries
            .iter()
            .map(|e| Arc::new(ArcSwap::new(e.cert.key.clone())))
            .collect();
        {
            let mut reg = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            reg.retain(|(_, w)| w.strong_count() > 0);
            for (e, l) in entries.iter().zip(&live) {
                reg.push((e.cert.path.clone(), Arc::downgrade(l)));
            }
        }
        Ok(CertStore {
            live,
            entries,
            exact,
            wildcard,
            default,
            strict_sni,
            generator: None,
        })
    }

    pub fn entries(&self) -> &[CertEntry] {
        &self.entries
    }

    /// The certificate for a server name (None: no SNI) and the client's signature schemes.
    pub fn lookup(
        &self,
        server_name: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<&CertEntry> {
        self.lookup_index(server_name, schemes)
            .map(|i| &self.entries[i])
    }

    /// Like [`lookup`](Self::lookup), the entry's index.
    fn lookup_index(
        &self,
        server_name: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<usize> {
        if let Some(name) = server_name {
            let name = normalize_name(name);
            let allowed = |&&i: &&usize| !self.entries[i].excluded.contains(&name);
            if let Some(c) = self.exact.get(&name) {
                let c: Vec<usize> = c.iter().filter(allowed).copied().collect();
                if let Some(e) = self.pick(&c, schemes) {
                    return Some(e);
                }
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(c) = self.wildcard.get(parent)
            {
                let c: Vec<usize> = c.iter().filter(allowed).copied().collect();
                if let Some(e) = self.pick(&c, schemes) {
                    return Some(e);
                }
            }
            if self.strict_sni {
                return None;
            }
        } else if self.strict_sni {
            return None;
        }
        self.pick(&self.default, schemes)
    }

    /// The first candidate whose key (the one served now: `commit ssl cert` may have
    /// replaced it) can sign with an offered scheme, else the first.
    fn pick(&self, candidates: &[usize], schemes: &[SignatureScheme]) -> Option<usize> {
        let first = *candidates.first()?;
        if candidates.len() > 1 {
            for &i in candidates {
                if self.live[i].load().key.choose_scheme(schemes).is_some() {
                    return Some(i);
                }
            }
        }
        Some(first)
    }
}

impl CertStore {
    /// The certificate served now to a client that asked for `server_name`: the one the
    /// handshake chose when the client could verify the first candidate's signatures, as
    /// every current client can (the schemes it offered are gone after the handshake).
    pub fn served(&self, server_name: Option<&str>) -> Option<ServedCert> {
        self.lookup_index(server_name, &[])
            .map(|i| ServedCert(self.live[i].load_full()))
    }
}

/// The certificate a listener served on a connection, for what HAProxy reads of its own
/// certificate (`SSL_get_certificate`): the signature and key algorithms a PROXY v2 header
/// names (`proxy-v2-options cert-sig,cert-key`). Read when asked, not per handshake.
#[derive(Clone)]
pub struct ServedCert(pub Arc<CertifiedKey>);

impl PartialEq for ServedCert {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ServedCert {}

impl std::fmt::Debug for ServedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServedCert")
    }
}

impl ServedCert {
    fn parse<T>(
        &self,
        f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> Option<T>,
    ) -> Option<T> {
        let der = self.0.end_entity_cert().ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        f(&cert)
    }

    /// OpenSSL's short name of the certificate's signature algorithm (`RSA-SHA256`,
    /// `ecdsa-with-SHA256`, `ED25519`), as HAProxy's `ssl_sock_get_cert_sig` writes it.
    pub fn sig_alg(&self) -> Option<&'static str> {
        self.parse(|c| sig_alg_name(&c.signature_algorithm.algorithm.to_id_string()))
    }

    /// The key's algorithm and size (`RSA2048`, `EC256`), as HAProxy's
    /// `ssl_sock_get_pkey_algo` writes it; `None` for other keys (Ed25519), as there.
    pub fn key_alg(&self) -> Option<String> {
        self.parse(|c| {
            let spki = c.public_key();
            match spki.algorithm.algorithm.to_id_string().as_str() {
                "1.2.840.113549.1.1.1" => {
                    let bits = spki.parsed().ok()?.key_size();
                    Some(format!("RSA{bits}"))
                }
                "1.2.840.10045.2.1" => {
                    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
                    let bits = match curve.to_id_string().as_str() {
                        "1.2.840.10045.3.1.7" => 256,
                        "1.3.132.0.34" => 384,
                        "1.3.132.0.35" => 521,
                        "1.3.132.0.10" => 256,
                        "1.3.36.3.3.2.8.1.1.7" => 256,
                        "1.3.36.3.3.2.8.1.1.11" => 384,
                        "1.3.36.3.3.2.8.1.1.13" => 512,
                        _ => return None,
                    };
                    Some(format!("EC{bits}"))
                }
                _ => None,
            }
        })
    }
}

/// OpenSSL's short names (`OBJ_nid2sn`) of the signature algorithms certificates use.
fn sig_alg_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.2.840.113549.1.1.4" => "RSA-MD5",
        "1.2.840.113549.1.1.5" => "RSA-SHA1",
        "1.2.840.113549.1.1.14" => "RSA-SHA224",
        "1.2.840.113549.1.1.11" => "RSA-SHA256",
        "1.2.840.113549.1.1.12" => "RSA-SHA384",
        "1.2.840.113549.1.1.13" => "RSA-SHA512",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        _ => return None,
    })
}

impl CertStore {
    /// Certificates made for names no entry serves (`generate-certificates`).
    pub fn with_generator(mut self, g: super::generate::Generator) -> CertStore {
        self.generator = Some(Arc::new(g));
        self
    }

    /// Whether an entry serves `name` (exactly or by wildcard).
    fn serves(&self, name: &str) -> bool {
        let allowed = |i: &usize| !self.entries[*i].excluded.iter().any(|x| x == name);
        self.exact.get(name).is_some_and(|c| c.iter().any(allowed))
            || name.split_once('.').is_some_and(|(_, parent)| {
                (self.wildcard.get(parent)).is_some_and(|c| c.iter().any(allowed))
            })
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let (Some(g), Some(name)) = (&self.generator, hello.server_name()) {
            let name = normalize_name(name);
            if !self.serves(&name)
                && let Some(&d) = self.default.first()
                && let Some(k) = g.get(&name, &self.live[d].load_full())
            {
                return Some(k);
            }
        }
        self.lookup_index(hello.server_name(), hello.signature_schemes())
            .map(|i| self.live[i].load_full())
    }
}

/// Every certificate slot of every listener's store, by the file it was loaded from, so
/// that the runtime API can replace a certificate without a reload. Only building a store
/// and a commit take the lock; handshakes read their slot.
type LiveSlots = Vec<(PathBuf, std::sync::Weak<ArcSwap<CertifiedKey>>)>;
static LIVE: std::sync::Mutex<LiveSlots> = std::sync::Mutex::new(Vec::new());

/// Whether a listener of the running configuration serves the certificate file `path`.
pub fn is_live(path: &Path) -> bool {
    let reg = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    reg.iter().any(|(p, w)| p == path && w.strong_count() > 0)
}

/// Serves `key` in place of the certificate loaded from `path`, on every listener and
/// shard at once, from the next handshake on. Returns how many slots changed.
pub fn replace_live(path: &Path, key: Arc<CertifiedKey>) -> usize {
    let reg = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let mut n = 0;
    for (p, w) in reg.iter() {
        if p == path
            && let Some(slot) = w.upgrade()
        {
            slot.store(key.clone());
            n += 1;
        }
    }
    n
}

/// Loads a certificate and key from PEM text that is not (yet) in a file: the payload of
/// `set ssl cert`. `path` names it in messages.
pub fn load_cert_pem(path: &Path, bytes: &[u8], policy: &LoadPolicy) -> Result<LoadedCert, String> {
    let shown = path.display();
    let pem = parse_pem(bytes).map_err(|e| format!("'{shown}': {e}"))?;
    if pem.certs.is_empty() {
        return Err(format!("'{shown}': no certificate found in the payload"));
    }
    let key = pem
        .key
        .ok_or_else(|| format!("'{shown}': no private key in the payload"))?;
    build_loaded(path, pem.certs, key, policy, &mut Vec::new())
}

#[cfg(test)]
mod tests;
