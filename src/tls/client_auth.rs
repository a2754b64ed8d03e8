//! Client certificates on `bind … ssl`: `verify none|optional|required`, `ca-file`,
//! `ca-verify-file`, `no-ca-names`, `crl-file`, `ca-ignore-err`, `crt-ignore-err`, and what the `ssl_c_*` fetches read of
//! the certificate a client presented ([`ClientCert`]).
//!
//! HAProxy's rules (configuration manual, 5.1 `verify`): with `verify none` (the default)
//! no certificate is asked for. Otherwise one is asked for, with the CAs of `ca-file` as
//! hints (the CA names of the CertificateRequest; none with `no-ca-names`), and verified
//! against the CAs of `ca-file` and `ca-verify-file` (whose names are never sent: roots
//! there, intermediates in `ca-file`, keep the list short); a client that sends none is refused under `required` and let in under
//! `optional`. A certificate that is sent is always verified against `ca-file` (and the
//! CRLs of `crl-file`, which must cover every CA of the chain, as OpenSSL's CRL_CHECK_ALL
//! does); a failure aborts the handshake with an alert, unless its error code is listed in
//! `crt-ignore-err` (or `ca-ignore-err`), or either says `all`.
//!
//! Verification is rustls' (webpki). Its errors are mapped to the OpenSSL `X509_V_ERR_*`
//! codes that `ssl_c_verify` reports. webpki reports a failed chain without the depth of
//! the certificate at fault, so every error is attributed to the client's own certificate
//! (depth 0, `crt-ignore-err`) except a revoked or expired CRL, which concerns the CA
//! (`ca-ignore-err`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::Warning;

/// `verify` on a bind line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    None,
    Optional,
    Required,
}

/// Error codes to let through (`ca-ignore-err`, `crt-ignore-err`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Ignore {
    #[default]
    Nothing,
    All,
    Codes(Vec<i64>),
}

impl Ignore {
    fn parse(keyword: &str, v: &str) -> Result<Ignore, String> {
        if v == "all" {
            return Ok(Ignore::All);
        }
        let mut codes = Vec::new();
        for item in v.split(',') {
            let code = match item.parse::<i64>() {
                Ok(n) => n,
                Err(_) => X509_ERRORS
                    .iter()
                    .find(|(name, _)| *name == item)
                    .map(|&(_, c)| c)
                    .ok_or_else(|| {
                        format!(
                            "'{keyword}': '{item}' is neither a number nor a known \
                             X509_V_ERR_* name"
                        )
                    })?,
            };
            codes.push(code);
        }
        Ok(Ignore::Codes(codes))
    }

    fn covers(&self, code: i64) -> bool {
        match self {
            Ignore::Nothing => false,
            Ignore::All => true,
            Ignore::Codes(c) => c.contains(&code),
        }
    }
}

/// OpenSSL's verify error codes (`X509_V_ERR_*`) that rustls' errors map to, by name.
const X509_ERRORS: &[(&str, i64)] = &[
    ("X509_V_ERR_UNABLE_TO_GET_CRL", 3),
    ("X509_V_ERR_CERT_SIGNATURE_FAILURE", 7),
    ("X509_V_ERR_CERT_NOT_YET_VALID", 9),
    ("X509_V_ERR_CERT_HAS_EXPIRED", 10),
    ("X509_V_ERR_CRL_HAS_EXPIRED", 12),
    ("X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", 18),
    ("X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", 19),
    ("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", 20),
    ("X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE", 21),
    ("X509_V_ERR_CERT_REVOKED", 23),
    ("X509_V_ERR_INVALID_CA", 24),
    ("X509_V_ERR_INVALID_PURPOSE", 26),
    ("X509_V_ERR_CERT_UNTRUSTED", 27),
    ("X509_V_ERR_CERT_REJECTED", 28),
    ("X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION", 34),
];

/// The OpenSSL code of a rustls verification error, and whether it concerns a CA (depth
/// above 0) rather than the client's certificate.
fn x509_code(e: &rustls::Error, end_entity: &CertificateDer<'_>) -> (i64, bool) {
    use CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = e else {
        return (28, false);
    };
    match c {
        C::Expired | C::ExpiredContext { .. } => (10, false),
        C::NotValidYet | C::NotValidYetContext { .. } => (9, false),
        C::Revoked => (23, false),
        C::UnknownRevocationStatus => (3, true),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => (12, true),
        C::BadSignature => (7, false),
        C::UnhandledCriticalExtension => (34, false),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => (26, false),
        // OpenSSL says "self-signed" of a certificate that is its own issuer.
        C::UnknownIssuer if super::issuers::self_issued(end_entity) => (18, false),
        C::UnknownIssuer => (20, false),
        _ => (28, false),
    }
}

/// The client-certificate side of one bind line.
#[derive(Clone, Debug, Default)]
pub struct ClientAuth {
    verify: Option<VerifyMode>,
    ca_file: Option<PathBuf>,
    roots: Option<Arc<rustls::RootCertStore>>,
    /// `ca-verify-file`: trusted, not named in the CertificateRequest.
    verify_roots: Option<rustls::RootCertStore>,
    /// `no-ca-names`: the CertificateRequest names no CA.
    pub no_ca_names: bool,
    crl_file: Option<PathBuf>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    ca_ignore: Ignore,
    crt_ignore: Ignore,
}

/// Bind keywords [`ClientAuth::apply`] handles (each takes an argument).
pub const KEYWORDS: &[&str] = &[
    "verify",
    "ca-file",
    "ca-verify-file",
    "crl-file",
    "ca-ignore-err",
    "crt-ignore-err",
];

impl ClientAuth {
    /// One bind parameter; `ca_path` applies `ca-base`. Files are read here, so that their
    /// errors name the bind line.
    pub fn apply(
        &mut self,
        keyword: &str,
        value: &str,
        ca_path: impl Fn(&str) -> PathBuf,
    ) -> Result<Vec<Warning>, String> {
        match keyword {
            "verify" => {
                self.verify = Some(match value {
                    "none" => VerifyMode::None,
                    "optional" => VerifyMode::Optional,
                    "required" => VerifyMode::Required,
                    v => {
                        return Err(format!(
                            "'verify' expects 'none', 'optional' or 'required' (got '{v}')"
                        ));
                    }
                })
            }
            "ca-file" => {
                let p = ca_path(value);
                self.roots = Some(Arc::new(super::options::load_roots(&p)?));
                self.ca_file = Some(p);
            }
            "ca-verify-file" => {
                self.verify_roots = Some(super::options::load_roots(&ca_path(value))?);
            }
            "crl-file" => {
                let p = ca_path(value);
                self.crls = load_crls(&p)?;
                self.crl_file = Some(p);
            }
            "ca-ignore-err" => self.ca_ignore = Ignore::parse(keyword, value)?,
            "crt-ignore-err" => self.crt_ignore = Ignore::parse(keyword, value)?,
            _ => return Err(format!("'{keyword}' is not a client certificate keyword")),
        }
        Ok(Vec::new())
    }

    /// The verifier for the listener's configuration; `None` under `verify none` (no
    /// certificate is asked for). HAProxy refuses `verify optional|required` without a
    /// `ca-file` or `ca-verify-file`, as nothing could be trusted.
    pub fn verifier(&self) -> Result<Option<Arc<ClientVerifier>>, String> {
        let mode = self.verify.unwrap_or(VerifyMode::None);
        if mode == VerifyMode::None {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(r) = &self.roots {
            roots.roots.extend(r.roots.iter().cloned());
        }
        if let Some(r) = &self.verify_roots {
            roots.roots.extend(r.roots.iter().cloned());
        }
        if roots.is_empty() {
            return Err("verify is enabled but no CA file specified ('ca-file')".into());
        }
        let hints = match &self.roots {
            Some(r) if !self.no_ca_names => r.subjects(),
            _ => Vec::new(),
        };
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), super::provider())
            .clear_root_hint_subjects()
            .add_root_hint_subjects(hints)
            .with_crls(self.crls.iter().cloned())
            // Whether a certificate is mandatory is ClientVerifier's decision.
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("client certificate verification: {e}"))?;
        Ok(Some(Arc::new(ClientVerifier {
            inner,
            mandatory: mode == VerifyMode::Required,
            ca_ignore: self.ca_ignore.clone(),
            crt_ignore: self.crt_ignore.clone(),
        })))
    }
}

pub(crate) fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("unable to load CRL file '{}': {e}", path.display()))?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CRL file '{}': malformed PEM: {e}", path.display()))?;
    if crls.is_empty() {
        return Err(format!("CRL file '{}' holds no CRL", path.display()));
    }
    Ok(crls)
}

/// rustls' webpki verifier with HAProxy's `verify` and `*-ignore-err` on top.
#[derive(Debug)]
pub struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    mandatory: bool,
    ca_ignore: Ignore,
    crt_ignore: Ignore,
}

impl ClientVerifier {
    /// Whether some verification errors are let through: only then can an accepted
    /// certificate have a non-zero `ssl_c_verify`, and [`ClientVerifier::code`] is worth
    /// running after the handshake.
    pub fn ignores_errors(&self) -> bool {
        self.ca_ignore != Ignore::Nothing || self.crt_ignore != Ignore::Nothing
    }

    /// The verification result of a chain as `ssl_c_verify` reports it: 0, or the OpenSSL
    /// code of the error; and whether that error concerns a CA (`ssl_c_ca_err`) rather
    /// than the client's certificate (`ssl_c_err`).
    pub fn code(&self, chain: &[CertificateDer<'_>]) -> (i64, bool) {
        let Some((ee, rest)) = chain.split_first() else {
            return (0, false);
        };
        match self.inner.verify_client_cert(ee, rest, UnixTime::now()) {
            Ok(_) => (0, false),
            Err(e) => x509_code(&e, ee),
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(e) => {
                let (code, ca) = x509_code(&e, end_entity);
                let ignore = if ca {
                    &self.ca_ignore
                } else {
                    &self.crt_ignore
                };
                if ignore.covers(code) {
                    Ok(ClientCertVerified::assertion())
                } else {
                    Err(e)
                }
            }
            ok => ok,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What the `ssl_c_*` fetches read of the certificate a client presented, taken once at
/// the end of the handshake (only connections that sent one pay for it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// `ssl_c_verify`: 0, or the OpenSSL code of the error that was let through.
    pub verify: i64,
    /// That error concerns a CA of the chain (`ssl_c_ca_err`), not the client's own
    /// certificate (`ssl_c_err`).
    pub ca_error: bool,
    /// `ssl_c_der`.
    pub der: Box<[u8]>,
    /// `ssl_c_s_dn`, `ssl_c_i_dn`: (short name, raw value) in certificate order.
    pub subject: Vec<(String, Box<[u8]>)>,
    pub issuer: Vec<(String, Box<[u8]>)>,
    /// `ssl_c_serial`: the serial number's magnitude, big-endian.
    pub serial: Box<[u8]>,
    /// `ssl_c_sha1`: the SHA-1 of the DER.
    pub sha1: [u8; 20],
    /// `ssl_c_notbefore`, `ssl_c_notafter`: `YYMMDDhhmmssZ` (UTCTime) or
    /// `YYYYMMDDhhmmssZ` (GeneralizedTime, from 2050), as the certificate encodes them.
    pub not_before: String,
    pub not_after: String,
    /// `ssl_c_version`: 1, 2 or 3.
    pub version: i64,
}

/// OpenSSL's short names of the attributes seen in distinguished names, and their long
/// names (both are accepted as `ssl_c_s_dn(ENTRY)`).
const DN_NAMES: &[(&str, &str, &str)] = &[
    ("2.5.4.3", "CN", "commonName"),
    ("2.5.4.6", "C", "countryName"),
    ("2.5.4.7", "L", "localityName"),
    ("2.5.4.8", "ST", "stateOrProvinceName"),
    ("2.5.4.10", "O", "organizationName"),
    ("2.5.4.11", "OU", "organizationalUnitName"),
    ("2.5.4.5", "serialNumber", "serialNumber"),
    ("2.5.4.4", "SN", "surname"),
    ("2.5.4.42", "GN", "givenName"),
    ("2.5.4.12", "title", "title"),
    ("2.5.4.9", "street", "streetAddress"),
    ("2.5.4.17", "postalCode", "postalCode"),
    ("1.2.840.113549.1.9.1", "emailAddress", "emailAddress"),
    ("0.9.2342.19200300.100.1.25", "DC", "domainComponent"),
    ("0.9.2342.19200300.100.1.1", "UID", "userId"),
];

fn dn_entries(name: &x509_parser::x509::X509Name<'_>) -> Vec<(String, Box<[u8]>)> {
    name.iter_attributes()
        .map(|a| {
            let oid = a.attr_type().to_id_string();
            let sn = DN_NAMES
                .iter()
                .find(|(o, _, _)| *o == oid)
                .map_or(oid.clone(), |(_, sn, _)| sn.to_string());
            (sn, a.as_slice().into())
        })
        .collect()
}

/// A certificate time as OpenSSL's `ASN1_TIME` text holds it (RFC 5280's encoding rule).
fn asn1_time(t: &x509_parser::time::ASN1Time) -> String {
    let d = t.to_datetime();
    let (y, mo, da, h, mi, s) = (
        d.year(),
        d.month() as u8,
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
    );
    if (1950..2050).contains(&y) {
        format!("{:02}{mo:02}{da:02}{h:02}{mi:02}{s:02}Z", y % 100)
    } else {
        format!("{y:04}{mo:02}{da:02}{h:02}{mi:02}{s:02}Z")
    }
}

impl ClientCert {
    /// The facts of the client's certificate (`chain[0]`); `None` if it does not parse
    /// (rustls has verified it, so only with `*-ignore-err all`).
    pub fn from_chain(
        chain: &[CertificateDer<'_>],
        (verify, ca_error): (i64, bool),
    ) -> Option<ClientCert> {
        let der = chain.first()?;
        let (_, c) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let mut serial = c.raw_serial();
        while serial.len() > 1 && serial[0] == 0 {
            serial = &serial[1..];
        }
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref());
        let mut sha1 = [0u8; 20];
        sha1.copy_from_slice(digest.as_ref());
        Some(ClientCert {
            verify,
            ca_error,
            der: der.as_ref().into(),
            subject: dn_entries(c.subject()),
            issuer: dn_entries(c.issuer()),
            serial: serial.into(),
            sha1,
            not_before: asn1_time(&c.validity().not_before),
            not_after: asn1_time(&c.validity().not_after),
            version: i64::from(c.version().0) + 1,
        })
    }
}

/// How `ssl_c_s_dn(ENTRY,OCC,FORMAT)` renders a distinguished name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnQuery {
    /// The attribute asked for (short name, long name or dotted OID); `None`: the whole DN.
    pub entry: Option<Box<str>>,
    /// The occurrence: 1 the first from the start, -1 the first from the end.
    pub occ: i64,
    /// `rfc2253`: the whole DN in RFC 2253's order and escaping.
    pub rfc2253: bool,
}

impl DnQuery {
    /// The fetch arguments `[ENTRY[,OCC[,FORMAT]]]`.
    pub fn parse(kw: &str, args: Option<&[&str]>) -> Result<DnQuery, String> {
        let args = args.unwrap_or_default();
        if args.len() > 3 {
            return Err(format!("fetch method '{kw}' expects at most 3 argument(s)"));
        }
        let entry = args.first().filter(|e| !e.is_empty()).map(|e| (*e).into());
        let occ = match args.get(1).map(|a| a.trim()) {
            None | Some("") => 1,
            Some(a) => a
                .parse::<i64>()
                .map_err(|_| format!("in argument to '{kw}', '{a}' is not an integer"))?,
        };
        let rfc2253 = match args.get(2).copied() {
            None | Some("") => false,
            Some("rfc2253") => true,
            Some(f) => {
                return Err(format!(
                    "invalid args in fetch method '{kw}' : only rfc2253 or a blank value \
                     are currently supported as the format argument (got '{f}')"
                ));
            }
        };
        Ok(DnQuery {
            entry,
            occ,
            rfc2253,
        })
    }

    /// The value asked for, written into `out`; false if there is none.
    pub fn render(&self, dn: &[(String, Box<[u8]>)], out: &mut Vec<u8>) -> bool {
        if let Some(entry) = &self.entry {
            let wanted = |sn: &str| {
                sn == &**entry
                    || DN_NAMES
                        .iter()
                        .any(|(oid, s, long)| *s == sn && (*long == &**entry || *oid == &**entry))
            };
            let found = match self.occ {
                0 => None,
                n if n > 0 => dn.iter().filter(|(sn, _)| wanted(sn)).nth(n as usize - 1),
                n => dn
                    .iter()
                    .rev()
                    .filter(|(sn, _)| wanted(sn))
                    .nth((-n) as usize - 1),
            };
            return match found {
                Some((_, v)) => {
                    out.extend_from_slice(v);
                    true
                }
                None => false,
            };
        }
        if dn.is_empty() {
            return false;
        }
        if self.rfc2253 {
            for (i, (sn, v)) in dn.iter().rev().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(sn.as_bytes());
                out.push(b'=');
                rfc2253_escape(v, out);
            }
        } else {
            // HAProxy's ssl_sock_get_dn_oneline: "/SN=value" per entry, values raw.
            for (sn, v) in dn {
                out.push(b'/');
                out.extend_from_slice(sn.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v);
            }
        }
        true
    }
}

/// OpenSSL's `XN_FLAG_RFC2253` escaping of one value.
fn rfc2253_escape(v: &[u8], out: &mut Vec<u8>) {
    for (i, &b) in v.iter().enumerate() {
        let edge = (i == 0 && (b == b' ' || b == b'#')) || (i + 1 == v.len() && b == b' ');
        if edge || b",+\"\\<>;".contains(&b) {
            out.push(b'\\');
            out.push(b);
        } else if !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(format!("\\{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn() -> Vec<(String, Box<[u8]>)> {
        vec![
            ("C".into(), (*b"FR").into()),
            ("OU".into(), (*b"a").into()),
            ("OU".into(), (*b"b,c").into()),
            ("CN".into(), (*b"client 1").into()),
        ]
    }

    fn render(args: &[&str]) -> Option<String> {
        let q = DnQuery::parse("ssl_c_s_dn", Some(args)).unwrap();
        let mut out = Vec::new();
        q.render(&dn(), &mut out)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn dn_oneline_entries_and_rfc2253() {
        assert_eq!(render(&[]).unwrap(), "/C=FR/OU=a/OU=b,c/CN=client 1");
        assert_eq!(render(&["CN"]).unwrap(), "client 1");
        assert_eq!(render(&["commonName"]).unwrap(), "client 1");
        assert_eq!(render(&["2.5.4.3"]).unwrap(), "client 1");
        assert_eq!(render(&["OU", "2"]).unwrap(), "b,c");
        assert_eq!(render(&["OU", "-1"]).unwrap(), "b,c");
        assert_eq!(render(&["OU", "-2"]).unwrap(), "a");
        assert_eq!(render(&["OU", "3"]), None);
        assert_eq!(render(&["O"]), None);
        assert_eq!(
            render(&["", "0", "rfc2253"]).unwrap(),
            "CN=client 1,OU=b\\,c,OU=a,C=FR"
        );
        assert!(DnQuery::parse("ssl_c_s_dn", Some(&["CN", "1", "x"])).is_err());
    }

    #[test]
    fn ignore_lists_take_numbers_and_names() {
        let i = Ignore::parse("crt-ignore-err", "10,X509_V_ERR_CERT_REVOKED").unwrap();
        assert!(i.covers(10) && i.covers(23) && !i.covers(20));
        assert!(Ignore::parse("crt-ignore-err", "all").unwrap().covers(20));
        assert!(Ignore::parse("crt-ignore-err", "X509_V_ERR_NOPE").is_err());
    }
}
