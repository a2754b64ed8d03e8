//! OpenSSL cipher strings (`ciphers`, `ssl-default-bind-ciphers`) and TLS 1.3 suite lists
//! (`ciphersuites`) mapped onto the suites rustls offers.
//!
//! A cipher string is evaluated the way OpenSSL's `ssl_create_cipher_list` does it, over
//! OpenSSL's own cipher table ([`table`]): items separated by `:` (or `,`, `;`, space),
//! each an alias or a cipher name, `+`-joined to intersect; `!` removes for good, `-`
//! removes, `+` moves to the end, no prefix appends; `@STRENGTH` sorts by key length;
//! `DEFAULT` first expands to `ALL:!COMPLEMENTOFDEFAULT:!eNULL`. The ordered result is then
//! split in two: the suites rustls has (ECDHE with ECDSA or RSA, AES-GCM or
//! CHACHA20-POLY1305), in that order, which become the server's preference; and the rest,
//! which is named in one warning by the reason rustls cannot offer it (RSA key exchange,
//! finite-field DHE, CBC mode, …) — never dropped silently.
//!
//! Pure code: no I/O, no global state.

use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;

use super::Warning;

mod table;

/// Key exchange, as OpenSSL classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kx {
    Rsa,
    Dhe,
    Ecdhe,
    Psk,
    RsaPsk,
    DhePsk,
    EcdhePsk,
    Srp,
}

/// Server authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Au {
    Rsa,
    Ecdsa,
    Dss,
    Null,
    Psk,
    Srp,
}

/// Bulk encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enc {
    AesGcm,
    AesCcm,
    AesCcm8,
    Chacha20,
    AriaGcm,
    AesCbc,
    Camellia,
    TripleDes,
    Rc4,
    Seed,
    Idea,
    Des,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mac {
    Aead,
    Md5,
    Sha1,
    Sha256,
    Sha384,
}

/// The protocol version a cipher was introduced with (OpenSSL's `SSLv3`/`TLSv1`/`TLSv1.2`
/// aliases select on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinVer {
    Ssl3,
    Tls1,
    Tls12,
}

/// One OpenSSL cipher.
#[derive(Debug)]
pub struct Cipher {
    pub name: &'static str,
    pub kx: Kx,
    pub au: Au,
    pub enc: Enc,
    pub bits: u16,
    pub mac: Mac,
    pub min: MinVer,
    /// In COMPLEMENTOFDEFAULT.
    pub not_default: bool,
    /// Not built by OpenSSL 3 any more (kept for names in old configurations).
    pub legacy: bool,
}

impl Cipher {
    fn psk(&self) -> bool {
        matches!(self.kx, Kx::Psk | Kx::RsaPsk | Kx::DhePsk | Kx::EcdhePsk)
    }

    fn cbc(&self) -> bool {
        matches!(
            self.enc,
            Enc::AesCbc | Enc::Camellia | Enc::TripleDes | Enc::Seed | Enc::Idea | Enc::Des
        )
    }

    /// OpenSSL's HIGH/MEDIUM/LOW classes.
    fn level(&self) -> u8 {
        match self.enc {
            Enc::Null => 0,
            Enc::Des => 1,
            Enc::TripleDes | Enc::Rc4 | Enc::Seed | Enc::Idea => 2,
            _ => 3,
        }
    }

    /// The rustls suite with the same parameters, if rustls has one.
    fn rustls_name(&self) -> Option<rustls::CipherSuite> {
        use rustls::CipherSuite as C;
        Some(match self.name {
            "ECDHE-ECDSA-AES256-GCM-SHA384" => C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-ECDSA-AES128-GCM-SHA256" => C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-ECDSA-CHACHA20-POLY1305" => C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-RSA-AES256-GCM-SHA384" => C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-RSA-AES128-GCM-SHA256" => C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-RSA-CHACHA20-POLY1305" => C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            _ => return None,
        })
    }

    /// Why rustls cannot offer this cipher (every reason that applies).
    fn reasons(&self) -> Vec<Reason> {
        let mut r = Vec::new();
        if self.enc == Enc::Null {
            r.push(Reason::NullEnc);
        }
        if self.au == Au::Null {
            r.push(Reason::Anonymous);
        }
        match self.kx {
            Kx::Rsa => r.push(Reason::RsaKx),
            Kx::Dhe => r.push(Reason::Dhe),
            Kx::Srp => r.push(Reason::PskSrp),
            _ if self.psk() => r.push(Reason::PskSrp),
            _ => {}
        }
        if self.au == Au::Dss {
            r.push(Reason::Dss);
        }
        match self.enc {
            Enc::TripleDes => r.push(Reason::TripleDes),
            Enc::Rc4 => r.push(Reason::Rc4),
            Enc::Des => r.push(Reason::Des),
            Enc::AesCcm | Enc::AesCcm8 => r.push(Reason::Ccm),
            Enc::AriaGcm => r.push(Reason::Aria),
            _ if self.cbc() => r.push(Reason::Cbc),
            _ => {}
        }
        if self.mac == Mac::Md5 {
            r.push(Reason::Md5);
        }
        r
    }
}

/// The categories rustls does not implement, in the order warnings name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    RsaKx,
    Dhe,
    Cbc,
    TripleDes,
    Rc4,
    Des,
    Ccm,
    Aria,
    Dss,
    Anonymous,
    NullEnc,
    PskSrp,
    Md5,
}

impl Reason {
    fn text(self) -> &'static str {
        match self {
            Reason::RsaKx => "RSA key exchange",
            Reason::Dhe => "finite-field DHE key exchange",
            Reason::Cbc => "CBC mode",
            Reason::TripleDes => "3DES",
            Reason::Rc4 => "RC4",
            Reason::Des => "DES",
            Reason::Ccm => "AES-CCM",
            Reason::Aria => "ARIA",
            Reason::Dss => "DSS authentication",
            Reason::Anonymous => "anonymous (aNULL) suites",
            Reason::NullEnc => "NULL encryption",
            Reason::PskSrp => "PSK/SRP key exchange",
            Reason::Md5 => "MD5 MACs",
        }
    }
}

/// Whether a cipher matches one alias or name. `None`: unknown word.
fn alias(word: &str, c: &Cipher) -> Option<bool> {
    use Enc as E;
    Some(match word {
        "ALL" => c.enc != E::Null,
        "COMPLEMENTOFALL" | "eNULL" | "NULL" => c.enc == E::Null,
        "DEFAULT" => c.enc != E::Null && !c.not_default,
        "COMPLEMENTOFDEFAULT" => c.not_default,
        "HIGH" => c.level() == 3,
        "MEDIUM" => c.level() == 2,
        "LOW" => c.level() == 1,
        "EXP" | "EXPORT" | "EXPORT40" | "EXPORT56" => false,
        "kRSA" => c.kx == Kx::Rsa,
        "aRSA" => c.au == Au::Rsa,
        "RSA" => c.kx == Kx::Rsa && c.au == Au::Rsa,
        "kDHE" | "kEDH" | "DH" => c.kx == Kx::Dhe,
        "DHE" | "EDH" => c.kx == Kx::Dhe && c.au != Au::Null,
        "ADH" => c.kx == Kx::Dhe && c.au == Au::Null,
        "kECDHE" | "kEECDH" | "ECDH" => c.kx == Kx::Ecdhe,
        "ECDHE" | "EECDH" => c.kx == Kx::Ecdhe && c.au != Au::Null,
        "AECDH" => c.kx == Kx::Ecdhe && c.au == Au::Null,
        "aNULL" => c.au == Au::Null,
        "aECDSA" | "ECDSA" => c.au == Au::Ecdsa,
        "aDSS" | "DSS" => c.au == Au::Dss,
        "kPSK" => c.kx == Kx::Psk,
        "kRSAPSK" => c.kx == Kx::RsaPsk,
        "kDHEPSK" => c.kx == Kx::DhePsk,
        "kECDHEPSK" => c.kx == Kx::EcdhePsk,
        "PSK" => c.psk(),
        "aPSK" => c.au == Au::Psk,
        "kSRP" | "SRP" => c.kx == Kx::Srp,
        "aSRP" => c.au == Au::Srp,
        "AES" => matches!(c.enc, E::AesGcm | E::AesCcm | E::AesCcm8 | E::AesCbc),
        "AES128" => {
            matches!(c.enc, E::AesGcm | E::AesCcm | E::AesCcm8 | E::AesCbc) && c.bits == 128
        }
        "AES256" => {
            matches!(c.enc, E::AesGcm | E::AesCcm | E::AesCcm8 | E::AesCbc) && c.bits == 256
        }
        "AESGCM" => c.enc == E::AesGcm,
        "AESCCM" => matches!(c.enc, E::AesCcm | E::AesCcm8),
        "AESCCM8" => c.enc == E::AesCcm8,
        "CAMELLIA" => c.enc == E::Camellia,
        "CAMELLIA128" => c.enc == E::Camellia && c.bits == 128,
        "CAMELLIA256" => c.enc == E::Camellia && c.bits == 256,
        "CHACHA20" => c.enc == E::Chacha20,
        "ARIA" | "ARIAGCM" => c.enc == E::AriaGcm,
        "ARIA128" => c.enc == E::AriaGcm && c.bits == 128,
        "ARIA256" => c.enc == E::AriaGcm && c.bits == 256,
        "3DES" => c.enc == E::TripleDes,
        "RC4" => c.enc == E::Rc4,
        "DES" => c.enc == E::Des,
        "SEED" => c.enc == E::Seed,
        "IDEA" => c.enc == E::Idea,
        "CBC" => c.cbc(),
        "MD5" => c.mac == Mac::Md5,
        "SHA1" | "SHA" => c.mac == Mac::Sha1,
        "SHA256" => c.mac == Mac::Sha256,
        "SHA384" => c.mac == Mac::Sha384,
        "SSLv3" => c.min == MinVer::Ssl3,
        "TLSv1" | "TLSv1.0" => c.min == MinVer::Tls1,
        "TLSv1.2" => c.min == MinVer::Tls12,
        _ => {
            if word == c.name || iana_name(c) == Some(word) {
                true
            } else if table::TABLE
                .iter()
                .any(|t| t.name == word || iana_name(t) == Some(word))
            {
                false
            } else {
                return None;
            }
        }
    })
}

/// The IANA name of the ciphers rustls has (OpenSSL accepts those names too).
fn iana_name(c: &Cipher) -> Option<&'static str> {
    c.rustls_name().and_then(|s| s.as_str())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Del,
    Kill,
    Ord,
}

/// Evaluates a cipher string to OpenSSL's ordered list of cipher names. Unknown words are
/// warned about and skipped (OpenSSL skips them silently).
pub fn evaluate(spec: &str) -> (Vec<&'static Cipher>, Vec<Warning>) {
    let mut warnings = Vec::new();
    // (table index, active), in list order.
    let mut list: Vec<(usize, bool)> = (0..table::TABLE.len()).map(|i| (i, false)).collect();
    let mut items: Vec<String> = Vec::new();
    let mut rest = spec.trim();
    if let Some(r) = rest.strip_prefix("DEFAULT")
        && (r.is_empty() || r.starts_with([':', ',', ';', ' ']))
    {
        items.extend(["ALL", "!COMPLEMENTOFDEFAULT", "!eNULL"].map(String::from));
        rest = r;
    }
    items.extend(
        rest.split([':', ',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    for item in &items {
        if item == "@STRENGTH" {
            strength_sort(&mut list);
            continue;
        }
        if item.starts_with("@SECLEVEL=") {
            // rustls has no security levels; every suite it offers is ≥ 128-bit.
            continue;
        }
        let (op, body) = match item.as_bytes()[0] {
            b'!' => (Op::Kill, &item[1..]),
            b'-' => (Op::Del, &item[1..]),
            b'+' => (Op::Ord, &item[1..]),
            _ => (Op::Add, &item[..]),
        };
        let words: Vec<&str> = body.split('+').filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            continue;
        }
        let probe = &table::TABLE[0];
        if let Some(bad) = words.iter().find(|w| alias(w, probe).is_none()) {
            warnings.push(format!(
                "unknown cipher or alias '{bad}' in '{item}', ignored"
            ));
            continue;
        }
        let matches = |i: usize| {
            words
                .iter()
                .all(|w| alias(w, &table::TABLE[i]) == Some(true))
        };
        apply(&mut list, op, matches);
    }
    let out = list
        .iter()
        .filter(|(_, a)| *a)
        .map(|&(i, _)| &table::TABLE[i])
        .collect();
    (out, warnings)
}

/// One rule over the list, as OpenSSL's `ssl_cipher_apply_rule`.
fn apply(list: &mut Vec<(usize, bool)>, op: Op, matches: impl Fn(usize) -> bool) {
    let snapshot: Vec<usize> = list.iter().map(|e| e.0).collect();
    // OpenSSL walks deletions from the tail so that moving each to the head keeps order.
    let order: Vec<usize> = if op == Op::Del {
        snapshot.into_iter().rev().collect()
    } else {
        snapshot
    };
    for idx in order {
        if !matches(idx) {
            continue;
        }
        let pos = list.iter().position(|e| e.0 == idx).expect("in list");
        let active = list[pos].1;
        match op {
            Op::Add if !active => {
                list.remove(pos);
                list.push((idx, true));
            }
            Op::Ord if active => {
                let e = list.remove(pos);
                list.push(e);
            }
            Op::Del if active => {
                list.remove(pos);
                list.insert(0, (idx, false));
            }
            Op::Kill => {
                list.remove(pos);
            }
            _ => {}
        }
    }
}

/// `@STRENGTH`: active ciphers by key length, strongest first, otherwise in order.
fn strength_sort(list: &mut Vec<(usize, bool)>) {
    let mut bits: Vec<u16> = list
        .iter()
        .filter(|e| e.1)
        .map(|e| table::TABLE[e.0].bits)
        .collect();
    bits.sort_unstable_by(|a, b| b.cmp(a));
    bits.dedup();
    for b in bits {
        apply(list, Op::Ord, |i| table::TABLE[i].bits == b);
    }
}

/// A cipher string mapped onto a provider's TLS 1.2 suites: the usable suites in the
/// string's order, and one warning naming what was left out and why.
pub fn tls12_suites(
    spec: &str,
    provider: &CryptoProvider,
) -> (Vec<SupportedCipherSuite>, Vec<Warning>) {
    let (list, mut warnings) = evaluate(spec);
    let mut suites = Vec::new();
    let mut left_out: Vec<(Reason, Vec<&'static str>)> = Vec::new();
    for c in &list {
        let found = c.rustls_name().and_then(|n| {
            provider
                .cipher_suites
                .iter()
                .find(|s| s.suite() == n)
                .copied()
        });
        match found {
            Some(s) => suites.push(s),
            None => {
                let mut reasons = c.reasons();
                if reasons.is_empty() {
                    // A suite rustls has but this provider was built without.
                    reasons.push(Reason::NullEnc);
                }
                for r in reasons {
                    match left_out.iter_mut().find(|(x, _)| *x == r) {
                        Some((_, v)) => v.push(c.name),
                        None => left_out.push((r, vec![c.name])),
                    }
                }
            }
        }
    }
    if !left_out.is_empty() {
        left_out.sort_by_key(|(r, _)| *r);
        let parts: Vec<String> = left_out
            .iter()
            .map(|(r, names)| {
                let shown: Vec<&str> = names.iter().take(3).copied().collect();
                let more = if names.len() > 3 { ", …" } else { "" };
                format!("{} ({}: {}{more})", r.text(), names.len(), shown.join(", "))
            })
            .collect();
        let kept: Vec<&str> = suites
            .iter()
            .filter_map(|s| openssl_name(s.suite()))
            .collect();
        warnings.push(format!(
            "rustls cannot offer {}; left out. TLS 1.2 suites offered: {}",
            parts.join(", "),
            if kept.is_empty() {
                "none".to_string()
            } else {
                kept.join(":")
            }
        ));
    }
    (suites, warnings)
}

/// The OpenSSL name of a rustls TLS 1.2 suite, or the IANA name of a TLS 1.3 one.
pub fn openssl_name(s: rustls::CipherSuite) -> Option<&'static str> {
    TLS13
        .iter()
        .find(|c| c.1 == Some(s))
        .map(|c| c.0)
        .or_else(|| {
            table::TABLE
                .iter()
                .find(|c| c.rustls_name() == Some(s))
                .map(|c| c.name)
        })
        .or_else(|| s.as_str())
}

/// TLS 1.3 names known to OpenSSL and whether rustls has them.
const TLS13: &[(&str, Option<rustls::CipherSuite>)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        Some(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384),
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
    ),
    ("TLS_AES_128_CCM_SHA256", None),
    ("TLS_AES_128_CCM_8_SHA256", None),
];

/// A TLS 1.3 `ciphersuites` list (`:`-separated names) mapped onto the provider's suites.
/// Unknown names are an error (OpenSSL refuses the list too); AES-CCM is named in a
/// warning.
pub fn tls13_suites(
    spec: &str,
    provider: &CryptoProvider,
) -> Result<(Vec<SupportedCipherSuite>, Vec<Warning>), String> {
    let mut suites = Vec::new();
    let mut missing = Vec::new();
    for name in spec.split(':').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((_, id)) = TLS13.iter().find(|(n, _)| *n == name) else {
            return Err(format!(
                "unknown TLS 1.3 cipher suite '{name}' (known: {})",
                TLS13.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
            ));
        };
        let found = id.and_then(|id| {
            provider
                .cipher_suites
                .iter()
                .find(|s| s.suite() == id)
                .copied()
        });
        match found {
            Some(s) if !suites.contains(&s) => suites.push(s),
            Some(_) => {}
            None => missing.push(name),
        }
    }
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        warnings.push(format!(
            "rustls cannot offer AES-CCM ({}); left out",
            missing.join(", ")
        ));
    }
    Ok((suites, warnings))
}

#[cfg(test)]
mod tests;
