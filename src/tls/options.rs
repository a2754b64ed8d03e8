//! HAProxy's SSL keywords → rustls configurations.
//!
//! The configuration parser feeds keywords in the order it reads them:
//!
//! - global section: [`TlsGlobals::apply`] for `crt-base`, `ca-base`,
//!   `ssl-default-bind-{ciphers,ciphersuites,options}`,
//!   `ssl-default-server-{ciphers,ciphersuites,options}`, `ssl-server-verify`,
//!   `tune.ssl.cachesize`, `ssl-load-extra-del-ext`, `ssl-load-extra-files`,
//!   `issuers-chain-path`, `ssl-skip-self-issued-ca`, `noktls` and corelb's
//!   `tune.corelb.allow-expired-certs`;
//! - each `bind` parameter: [`BindTls::apply`] (certificates are loaded right there, so
//!   that their errors carry the `bind` line); then [`BindTls::build`] once per listener;
//! - each `server` parameter: [`ServerTls::apply`]; then [`ServerTls::build`].
//!
//! `apply` returns the warnings for that line, or an error message; neither carries the
//! configuration's `FILE:LINE`, which the parser adds. Cipher strings are evaluated when
//! they are applied, so their warnings name the line that wrote them.
//!
//! Built configurations are immutable and meant to be shared by every shard through the
//! `Arc`: the session-ticket key and the session cache live in them, so a ticket issued on
//! one shard resumes on another (SO_REUSEPORT spreads a client's connections over shards).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SupportedCipherSuite};

use super::Warning;
use super::certs::{self, CertEntry, CertStore, LoadPolicy};
use super::ciphers;

/// A protocol version as HAProxy names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        Some(match s {
            "SSLv3" => Version::Ssl3,
            "TLSv1.0" => Version::Tls10,
            "TLSv1.1" => Version::Tls11,
            "TLSv1.2" => Version::Tls12,
            "TLSv1.3" => Version::Tls13,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Version::Ssl3 => "SSLv3",
            Version::Tls10 => "TLSv1.0",
            Version::Tls11 => "TLSv1.1",
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }
}

/// The options shared by `bind`, `server` and the `ssl-default-*-options` lines.
#[derive(Clone, Debug, Default)]
pub struct TlsParams {
    /// `ciphers`, evaluated: the TLS 1.2 suites in preference order.
    tls12: Option<Vec<SupportedCipherSuite>>,
    /// `ciphersuites`, evaluated.
    tls13: Option<Vec<SupportedCipherSuite>>,
    min: Option<Version>,
    max: Option<Version>,
    /// `no-*` flags, OR-ed with the defaults'.
    disabled: Vec<Version>,
    /// `no-tls-tickets` (true) or a server's `tls-tickets` (false, overriding the
    /// defaults' `no-tls-tickets`); unset: the defaults'.
    no_tickets: Option<bool>,
    prefer_client_ciphers: bool,
    /// `curves`/`ecdhe`, evaluated.
    groups: Option<Vec<&'static dyn SupportedKxGroup>>,
}

/// Keywords [`TlsParams::apply`] knows, with whether they take an argument.
const PARAM_KEYWORDS: &[(&str, bool)] = &[
    ("ciphers", true),
    ("ciphersuites", true),
    ("curves", true),
    ("ecdhe", true),
    ("ssl-min-ver", true),
    ("ssl-max-ver", true),
    ("no-sslv3", false),
    ("no-tlsv10", false),
    ("no-tlsv11", false),
    ("no-tlsv12", false),
    ("no-tlsv13", false),
    ("force-sslv3", false),
    ("force-tlsv10", false),
    ("force-tlsv11", false),
    ("force-tlsv12", false),
    ("force-tlsv13", false),
    ("no-tls-tickets", false),
    ("prefer-client-ciphers", false),
];

const ONLY_12_13: &str = "rustls speaks TLS 1.2 and TLS 1.3 only";

impl TlsParams {
    fn knows(keyword: &str) -> Option<bool> {
        PARAM_KEYWORDS
            .iter()
            .find(|(k, _)| *k == keyword)
            .map(|&(_, a)| a)
    }

    /// One option. `Ok(None)`: not one of these keywords.
    fn apply(
        &mut self,
        keyword: &str,
        value: Option<&str>,
    ) -> Result<Option<Vec<Warning>>, String> {
        let Some(takes_arg) = Self::knows(keyword) else {
            return Ok(None);
        };
        let arg = match (takes_arg, value) {
            (true, Some(v)) => v,
            (true, None) => return Err(format!("'{keyword}' expects an argument")),
            (false, Some(v)) => {
                return Err(format!("'{keyword}' takes no argument (got '{v}')"));
            }
            (false, None) => "",
        };
        let provider = super::provider();
        let mut w = Vec::new();
        match keyword {
            "ciphers" => {
                let (suites, warnings) = ciphers::tls12_suites(arg, &provider);
                w.extend(
                    warnings
                        .into_iter()
                        .map(|x| format!("ciphers '{arg}': {x}")),
                );
                self.tls12 = Some(suites);
            }
            "ciphersuites" => {
                let (suites, warnings) = ciphers::tls13_suites(arg, &provider)
                    .map_err(|e| format!("ciphersuites '{arg}': {e}"))?;
                w.extend(
                    warnings
                        .into_iter()
                        .map(|x| format!("ciphersuites '{arg}': {x}")),
                );
                self.tls13 = Some(suites);
            }
            "curves" | "ecdhe" => {
                let (groups, warnings) = kx_groups(arg, &provider)?;
                w.extend(warnings);
                self.groups = Some(groups);
            }
            "ssl-min-ver" | "ssl-max-ver" => {
                let v = Version::parse(arg).ok_or_else(|| {
                    format!(
                        "'{keyword}': unknown version '{arg}' (expects SSLv3, TLSv1.0, \
                         TLSv1.1, TLSv1.2 or TLSv1.3)"
                    )
                })?;
                if keyword == "ssl-min-ver" {
                    if v < Version::Tls12 {
                        w.push(format!(
                            "'ssl-min-ver {arg}': {ONLY_12_13}; TLSv1.2 is the lowest offered"
                        ));
                    }
                    self.min = Some(v);
                } else {
                    if v < Version::Tls12 {
                        return Err(format!(
                            "'ssl-max-ver {arg}' leaves no protocol version: {ONLY_12_13}"
                        ));
                    }
                    self.max = Some(v);
                }
            }
            "no-sslv3" | "no-tlsv10" | "no-tlsv11" | "no-tlsv12" | "no-tlsv13" => {
                let v = match keyword {
                    "no-sslv3" => Version::Ssl3,
                    "no-tlsv10" => Version::Tls10,
                    "no-tlsv11" => Version::Tls11,
                    "no-tlsv12" => Version::Tls12,
                    _ => Version::Tls13,
                };
                if !self.disabled.contains(&v) {
                    self.disabled.push(v);
                }
            }
            "force-sslv3" | "force-tlsv10" | "force-tlsv11" => {
                return Err(format!("'{keyword}': {ONLY_12_13}"));
            }
            "force-tlsv12" => {
                w.push(
                    "'force-tlsv12' is deprecated: use 'ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2'"
                        .into(),
                );
                self.min = Some(Version::Tls12);
                self.max = Some(Version::Tls12);
            }
            "force-tlsv13" => {
                w.push("'force-tlsv13' is deprecated: use 'ssl-min-ver TLSv1.3'".into());
                self.min = Some(Version::Tls13);
                self.max = Some(Version::Tls13);
            }
            "no-tls-tickets" => self.no_tickets = Some(true),
            "prefer-client-ciphers" => self.prefer_client_ciphers = true,
            _ => unreachable!("listed in PARAM_KEYWORDS"),
        }
        Ok(Some(w))
    }

    /// `ssl-default-*-options`: a list of option words, some taking the next word.
    fn apply_options_line(&mut self, args: &[&str]) -> Result<Vec<Warning>, String> {
        let mut w = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let k = args[i];
            let takes = Self::knows(k).ok_or_else(|| format!("unknown SSL option '{k}'"))?;
            let v = if takes {
                i += 1;
                Some(
                    *args
                        .get(i)
                        .ok_or_else(|| format!("'{k}' expects an argument"))?,
                )
            } else {
                None
            };
            w.extend(self.apply(k, v)?.unwrap_or_default());
            i += 1;
        }
        Ok(w)
    }

    /// These options over the defaults: values set here win, flags add up.
    fn over(&self, defaults: &TlsParams) -> TlsParams {
        let mut disabled = defaults.disabled.clone();
        for v in &self.disabled {
            if !disabled.contains(v) {
                disabled.push(*v);
            }
        }
        TlsParams {
            tls12: self.tls12.clone().or_else(|| defaults.tls12.clone()),
            tls13: self.tls13.clone().or_else(|| defaults.tls13.clone()),
            min: self.min.or(defaults.min),
            max: self.max.or(defaults.max),
            disabled,
            no_tickets: self.no_tickets.or(defaults.no_tickets),
            prefer_client_ciphers: self.prefer_client_ciphers || defaults.prefer_client_ciphers,
            groups: self.groups.clone().or_else(|| defaults.groups.clone()),
        }
    }

    /// The protocol versions and the provider these options leave.
    fn resolve(
        &self,
    ) -> Result<
        (
            Vec<&'static rustls::SupportedProtocolVersion>,
            CryptoProvider,
            Vec<Warning>,
        ),
        String,
    > {
        let min = self.min.unwrap_or(Version::Tls12);
        let max = self.max.unwrap_or(Version::Tls13);
        let on = |v: Version| v >= min && v <= max && !self.disabled.contains(&v);
        let base = super::provider();
        let mut w = Vec::new();
        let tls12 = on(Version::Tls12);
        let tls13 = on(Version::Tls13);
        let mut suites12: Vec<SupportedCipherSuite> = match &self.tls12 {
            Some(s) => s.clone(),
            None => base
                .cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS12)
                .copied()
                .collect(),
        };
        let mut suites13: Vec<SupportedCipherSuite> = match &self.tls13 {
            Some(s) => s.clone(),
            None => base
                .cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .copied()
                .collect(),
        };
        if !tls12 {
            suites12.clear();
        }
        if !tls13 {
            suites13.clear();
        }
        let mut versions = Vec::new();
        if tls13 && !suites13.is_empty() {
            versions.push(&rustls::version::TLS13);
        } else if tls13 {
            w.push("TLS 1.3 is disabled: 'ciphersuites' leaves no suite rustls offers".into());
        }
        if tls12 && !suites12.is_empty() {
            versions.push(&rustls::version::TLS12);
        } else if tls12 {
            w.push("TLS 1.2 is disabled: 'ciphers' leaves no suite rustls offers".into());
        }
        if versions.is_empty() {
            let mut disabled = self.disabled.clone();
            disabled.sort();
            return Err(format!(
                "no protocol version left (between {} and {}, {}, with the ciphers given): \
                 {ONLY_12_13}",
                min.name(),
                max.name(),
                if disabled.is_empty() {
                    "none disabled".to_string()
                } else {
                    format!(
                        "disabled: {}",
                        disabled
                            .iter()
                            .map(|v| v.name())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }
            ));
        }
        let mut provider = (*base).clone();
        provider.cipher_suites = suites13.into_iter().chain(suites12).collect();
        if let Some(g) = &self.groups {
            provider.kx_groups = g.clone();
        }
        Ok((versions, provider, w))
    }
}

/// `curves`/`ecdhe`: OpenSSL group names → the provider's key-exchange groups.
fn kx_groups(
    spec: &str,
    provider: &CryptoProvider,
) -> Result<(Vec<&'static dyn SupportedKxGroup>, Vec<Warning>), String> {
    use rustls::NamedGroup as G;
    let all = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS;
    let _ = provider;
    let mut out: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut missing = Vec::new();
    for name in spec.split(':').filter(|s| !s.is_empty()) {
        let g = match name {
            "X25519" | "x25519" => G::X25519,
            "P-256" | "prime256v1" | "secp256r1" => G::secp256r1,
            "P-384" | "secp384r1" => G::secp384r1,
            "X25519MLKEM768" => G::X25519MLKEM768,
            "P-521" | "secp521r1" | "X448" | "x448" | "ffdhe2048" | "ffdhe3072" | "ffdhe4096"
            | "ffdhe6144" | "ffdhe8192" | "brainpoolP256r1" | "brainpoolP384r1"
            | "brainpoolP512r1" => {
                missing.push(name);
                continue;
            }
            _ => return Err(format!("unknown curve '{name}' in '{spec}'")),
        };
        if let Some(k) = all.iter().find(|k| k.name() == g) {
            if !out.iter().any(|o| o.name() == g) {
                out.push(*k);
            }
        } else {
            missing.push(name);
        }
    }
    let mut w = Vec::new();
    if !missing.is_empty() {
        w.push(format!(
            "curves '{spec}': rustls cannot offer {}; left out",
            missing.join(", ")
        ));
    }
    if out.is_empty() {
        return Err(format!(
            "curves '{spec}' leaves no group rustls offers (X25519, P-256, P-384, X25519MLKEM768)"
        ));
    }
    Ok((out, w))
}

/// ALPN protocols corelb speaks. What a bind offers: HTTP/2 towards clients is spoken.
const BIND_ALPN: &[&str] = &["h2", "http/1.1", "http/1.0"];
/// What corelb asks servers for: HTTP/2 (`alpn h2`: gRPC backends) and HTTP/1.x; the
/// protocol the server picks is the one spoken on that connection.
const SERVER_ALPN: &[&str] = &["h2", "http/1.1", "http/1.0"];

fn parse_alpn(
    kw: &str,
    list: &str,
    spoken: &[&str],
) -> Result<(Vec<Vec<u8>>, Vec<Warning>), String> {
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for p in list.split(',') {
        if p.is_empty() || p.len() > 255 {
            return Err(format!("'{kw} {list}': bad protocol name '{p}'"));
        }
        if spoken.contains(&p) {
            keep.push(p.as_bytes().to_vec());
        } else {
            dropped.push(p);
        }
    }
    let mut w = Vec::new();
    if !dropped.is_empty() {
        w.push(format!(
            "'{kw} {list}': corelb does not speak {}; not offered{}",
            dropped.join(", "),
            if keep.is_empty() {
                " (no ALPN is offered)"
            } else {
                ""
            }
        ));
    }
    Ok((keep, w))
}

fn need<'a>(keyword: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("'{keyword}' expects an argument"))
}

/// What the global section says about TLS.
#[derive(Clone, Debug)]
pub struct TlsGlobals {
    pub crt_base: Option<PathBuf>,
    pub ca_base: Option<PathBuf>,
    /// `ssl-default-bind-*`.
    pub bind_defaults: TlsParams,
    /// `ssl-default-server-*`.
    pub server_defaults: TlsParams,
    /// `ssl-server-verify none|required` (HAProxy's default: required).
    pub server_verify_required: bool,
    /// `tune.ssl.cachesize` (HAProxy's default: 20000 sessions).
    pub session_cache_size: usize,
    /// `tune.ssl.lifetime`, seconds (OpenSSL's 7200 without it, as in HAProxy).
    pub session_lifetime: u32,
    /// `ssl-load-extra-del-ext`.
    pub extra_del_ext: bool,
    /// `ssl-load-extra-files`.
    pub extra_files: certs::ExtraFiles,
    /// `issuers-chain-path`, loaded.
    pub issuers: Option<Arc<super::issuers::IssuerStore>>,
    /// `ssl-skip-self-issued-ca`.
    pub skip_self_issued_ca: bool,
    /// `tune.corelb.allow-expired-certs`: serve expired certificates (with a warning).
    pub allow_expired_certs: bool,
    /// `noktls`: never hand TLS to the kernel.
    pub noktls: bool,
    /// `tune.ssl.maxrecord`, `tune.ssl.hard-maxrecord` (0: no limit): the most plaintext
    /// bytes one TLS record carries, rustls' `max_fragment_size` (see [`Self::max_record`]).
    pub maxrecord: usize,
    pub hard_maxrecord: usize,
    /// `tune.ssl.ssl-ctx-cache-size`: certificates `generate-certificates` keeps (1000).
    pub ctx_cache_size: usize,
}

impl Default for TlsGlobals {
    fn default() -> Self {
        TlsGlobals {
            crt_base: None,
            ca_base: None,
            bind_defaults: TlsParams::default(),
            server_defaults: TlsParams::default(),
            server_verify_required: true,
            session_cache_size: 20000,
            session_lifetime: super::lifetime::DEFAULT_SECS,
            extra_del_ext: false,
            extra_files: certs::ExtraFiles::default(),
            issuers: None,
            skip_self_issued_ca: false,
            allow_expired_certs: false,
            noktls: false,
            maxrecord: 0,
            hard_maxrecord: 0,
            ctx_cache_size: super::generate::CACHE,
        }
    }
}

/// rustls' smallest `max_fragment_size`.
const MIN_RECORD: usize = 32;

/// Global keywords [`TlsGlobals::apply`] handles.
pub const GLOBAL_KEYWORDS: &[&str] = &[
    "crt-base",
    "ca-base",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "ssl-default-bind-curves",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
    "ssl-default-server-curves",
    "ssl-server-verify",
    "tune.ssl.cachesize",
    "tune.ssl.lifetime",
    "ssl-load-extra-del-ext",
    "ssl-load-extra-files",
    "issuers-chain-path",
    "ssl-skip-self-issued-ca",
    "noktls",
    "tune.corelb.allow-expired-certs",
    "tune.ssl.maxrecord",
    "tune.ssl.hard-maxrecord",
    "tune.ssl.ssl-ctx-cache-size",
];

impl TlsGlobals {
    /// One global line: the keyword and its arguments (`args` excludes the keyword).
    pub fn apply(&mut self, keyword: &str, args: &[&str]) -> Result<Vec<Warning>, String> {
        let one = || -> Result<&str, String> {
            match args {
                [a] => Ok(a),
                _ => Err(format!("'{keyword}' expects exactly one argument")),
            }
        };
        let none = || -> Result<(), String> {
            if args.is_empty() {
                Ok(())
            } else {
                Err(format!("'{keyword}' takes no argument"))
            }
        };
        let mut w = Vec::new();
        match keyword {
            "crt-base" => self.crt_base = Some(PathBuf::from(one()?)),
            "ca-base" => self.ca_base = Some(PathBuf::from(one()?)),
            "ssl-default-bind-ciphers" => {
                w = self
                    .bind_defaults
                    .apply("ciphers", Some(one()?))?
                    .unwrap_or_default()
            }
            "ssl-default-bind-ciphersuites" => {
                w = self
                    .bind_defaults
                    .apply("ciphersuites", Some(one()?))?
                    .unwrap_or_default()
            }
            "ssl-default-bind-curves" => {
                w = self
                    .bind_defaults
                    .apply("curves", Some(one()?))?
                    .unwrap_or_default()
            }
            "ssl-default-bind-options" => w = self.bind_defaults.apply_options_line(args)?,
            "ssl-default-server-ciphers" => {
                w = self
                    .server_defaults
                    .apply("ciphers", Some(one()?))?
                    .unwrap_or_default()
            }
            "ssl-default-server-ciphersuites" => {
                w = self
                    .server_defaults
                    .apply("ciphersuites", Some(one()?))?
                    .unwrap_or_default()
            }
            "ssl-default-server-curves" => {
                w = self
                    .server_defaults
                    .apply("curves", Some(one()?))?
                    .unwrap_or_default()
            }
            "ssl-default-server-options" => w = self.server_defaults.apply_options_line(args)?,
            "ssl-server-verify" => {
                self.server_verify_required = match one()? {
                    "required" => true,
                    "none" => false,
                    v => {
                        return Err(format!(
                            "'ssl-server-verify' expects 'none' or 'required' (got '{v}')"
                        ));
                    }
                }
            }
            "tune.ssl.cachesize" => {
                let v = one()?;
                self.session_cache_size = v.parse().map_err(|_| {
                    format!("'tune.ssl.cachesize' expects a number of sessions (got '{v}')")
                })?;
            }
            "tune.ssl.lifetime" => {
                self.session_lifetime = match args {
                    [v] => super::lifetime::parse(v)?,
                    _ => {
                        return Err("'tune.ssl.lifetime' expects ssl sessions <lifetime> in seconds as argument.".into());
                    }
                };
            }
            "ssl-load-extra-del-ext" => {
                none()?;
                self.extra_del_ext = true;
            }
            "ssl-load-extra-files" => self.extra_files = certs::ExtraFiles::parse(args)?,
            "issuers-chain-path" => {
                let [dir, ..] = args else {
                    return Err("global statement 'issuers-chain-path' expects a directory path as an argument.".into());
                };
                let (store, warnings) = super::issuers::IssuerStore::load(Path::new(dir))?;
                self.issuers = Some(Arc::new(store));
                w = warnings;
            }
            // HAProxy 2.6 takes no argument and reads none.
            "ssl-skip-self-issued-ca" => self.skip_self_issued_ca = true,
            "noktls" => {
                none()?;
                self.noktls = true;
            }
            "tune.corelb.allow-expired-certs" => {
                none()?;
                self.allow_expired_certs = true;
            }
            "tune.ssl.maxrecord" | "tune.ssl.hard-maxrecord" => {
                let v = match args {
                    [v, ..] => v,
                    [] => return Err(format!("'{keyword}' expects an integer argument.")),
                };
                // HAProxy reads it with atoi(): digits up to the first other character.
                if v.starts_with('-') {
                    return Err(format!("'{keyword}' expects a positive numeric value."));
                }
                let digits = v.bytes().take_while(u8::is_ascii_digit).count();
                let n = v[..digits].parse::<usize>().unwrap_or(0);
                if keyword == "tune.ssl.maxrecord" {
                    self.maxrecord = n;
                } else {
                    self.hard_maxrecord = n;
                }
                if n > 0 && n < MIN_RECORD {
                    w.push(format!(
                        "'{keyword} {n}': rustls writes records of {MIN_RECORD} bytes at least; {MIN_RECORD} is used"
                    ));
                }
            }
            "tune.ssl.ssl-ctx-cache-size" => {
                let v = match args {
                    [v, ..] => v,
                    [] => return Err(format!("'{keyword}' expects an integer argument.")),
                };
                if v.starts_with('-') {
                    return Err(format!("'{keyword}' expects a positive numeric value."));
                }
                // atoi(), as HAProxy.
                let digits = v.bytes().take_while(u8::is_ascii_digit).count();
                self.ctx_cache_size = v[..digits].parse().unwrap_or(0);
            }
            _ => return Err(format!("'{keyword}' is not a TLS global keyword")),
        }
        Ok(w)
    }

    /// The most plaintext bytes of one TLS record (rustls' `max_fragment_size`; None: the
    /// protocol's 16384). HAProxy's `tune.ssl.maxrecord` limits only the writes of a
    /// stream that starts or restarts after an idle time, so that its first bytes can be
    /// deciphered early; rustls has one limit per connection, so here it holds for every
    /// record, which gives the same start at the price of more record overhead on long
    /// transfers. `tune.ssl.hard-maxrecord` limits every record in HAProxy too; the smaller
    /// of the two applies.
    pub fn max_record(&self) -> Option<usize> {
        let limits = [self.maxrecord, self.hard_maxrecord];
        let n = limits.into_iter().filter(|&n| n > 0).min()?;
        (n < 16384).then_some(n.max(MIN_RECORD))
    }

    /// [`Self::max_record`] as rustls' `max_fragment_size`, which counts the record's
    /// 5-byte header (a limit of N gives N - 5 bytes of plaintext a record).
    pub fn max_fragment(&self) -> Option<usize> {
        self.max_record().map(|n| n + 5)
    }

    /// How certificates are found and checked.
    pub fn load_policy(&self) -> LoadPolicy {
        LoadPolicy {
            crt_base: self.crt_base.clone(),
            extra_del_ext: self.extra_del_ext,
            allow_expired: self.allow_expired_certs,
            extra: self.extra_files,
            issuers: self.issuers.clone(),
            skip_self_issued: self.skip_self_issued_ca,
            now: std::time::SystemTime::now(),
        }
    }

    pub(super) fn ca_path(&self, p: &str) -> PathBuf {
        match &self.ca_base {
            Some(b) if !p.starts_with('/') && !p.starts_with('@') => b.join(p),
            _ => PathBuf::from(p),
        }
    }
}

/// `ktls on|off` on a bind line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KtlsSetting {
    /// Not said: on when the kernel has it (unless `noktls`).
    Default,
    On,
    Off,
}

/// A listener's rustls configuration, the certificates it serves from, and the warnings
/// building it gave.
pub type Serving = (Arc<ServerConfig>, Arc<CertStore>, Vec<Warning>);

/// The TLS side of one `bind` line.
#[derive(Clone, Debug)]
pub struct BindTls {
    /// `ssl` was given: the listener terminates TLS.
    pub ssl: bool,
    params: TlsParams,
    certs: Vec<CertEntry>,
    alpn: Option<Vec<Vec<u8>>>,
    strict_sni: bool,
    /// `generate-certificates` and its CA (`ca-sign-file`).
    generate: bool,
    ca_sign_file: Option<PathBuf>,
    pub ktls: KtlsSetting,
    /// `verify`, `ca-file`, `crl-file`, `*-ignore-err`: client certificates.
    pub client_auth: super::client_auth::ClientAuth,
    /// `tls-ticket-keys FILE`: tickets sealed with the file's keys instead of random ones.
    ticket_keys: Option<Arc<super::ticket_keys::TicketKeys>>,
}

impl Default for BindTls {
    fn default() -> Self {
        BindTls {
            ssl: false,
            params: TlsParams::default(),
            certs: Vec::new(),
            alpn: None,
            strict_sni: false,
            generate: false,
            ca_sign_file: None,
            ktls: KtlsSetting::Default,
            client_auth: Default::default(),
            ticket_keys: None,
        }
    }
}

/// Bind keywords [`BindTls::apply`] handles, with whether they take an argument.
pub const BIND_KEYWORDS: &[(&str, bool)] = &[
    ("ssl", false),
    ("crt", true),
    ("crt-list", true),
    ("alpn", true),
    ("strict-sni", false),
    ("generate-certificates", false),
    ("ca-sign-file", true),
    ("ca-sign-pass", true),
    ("ktls", true),
    ("ciphers", true),
    ("ciphersuites", true),
    ("curves", true),
    ("ecdhe", true),
    ("ssl-min-ver", true),
    ("ssl-max-ver", true),
    ("no-sslv3", false),
    ("no-tlsv10", false),
    ("no-tlsv11", false),
    ("no-tlsv12", false),
    ("no-tlsv13", false),
    ("force-sslv3", false),
    ("force-tlsv10", false),
    ("force-tlsv11", false),
    ("force-tlsv12", false),
    ("force-tlsv13", false),
    ("no-tls-tickets", false),
    ("prefer-client-ciphers", false),
    ("verify", true),
    ("ca-file", true),
    ("ca-verify-file", true),
    ("no-ca-names", false),
    ("crl-file", true),
    ("ca-ignore-err", true),
    ("crt-ignore-err", true),
    ("tls-ticket-keys", true),
];

impl BindTls {
    /// One bind parameter. Certificates (`crt`, `crt-list`) are read and checked here.
    pub fn apply(
        &mut self,
        g: &TlsGlobals,
        keyword: &str,
        value: Option<&str>,
    ) -> Result<Vec<Warning>, String> {
        match keyword {
            "ssl" => {
                self.ssl = true;
                Ok(Vec::new())
            }
            "crt" => {
                let (entries, w) = certs::load_crt(need(keyword, value)?, &g.load_policy())?;
                self.certs.extend(entries);
                Ok(w)
            }
            "crt-list" => {
                let (entries, w) = certs::load_crt_list(need(keyword, value)?, &g.load_policy())?;
                self.certs.extend(entries);
                Ok(w)
            }
            "alpn" => {
                let (list, w) = parse_alpn(keyword, need(keyword, value)?, BIND_ALPN)?;
                self.alpn = Some(list);
                Ok(w)
            }
            "strict-sni" => {
                self.strict_sni = true;
                Ok(Vec::new())
            }
            "generate-certificates" => {
                self.generate = true;
                Ok(Vec::new())
            }
            "ca-sign-file" => {
                self.ca_sign_file = Some(g.ca_path(need(keyword, value)?));
                Ok(Vec::new())
            }
            "ca-sign-pass" => Err(
                "'ca-sign-pass': encrypted CA keys are not supported yet (keep the key unencrypted, readable by corelb only)"
                    .into(),
            ),
            "ktls" => {
                self.ktls = match need(keyword, value)? {
                    "on" => KtlsSetting::On,
                    "off" => KtlsSetting::Off,
                    v => return Err(format!("'ktls' expects 'on' or 'off' (got '{v}')")),
                };
                Ok(Vec::new())
            }
            "tls-ticket-keys" => {
                let Some(file) = value else {
                    return Err("'tls-ticket-keys' : missing TLS ticket keys file path".into());
                };
                let keys = super::ticket_keys::TicketKeys::load(Path::new(file))
                    .map_err(|e| format!("'{file}' : {e}"))?;
                self.ticket_keys = Some(Arc::new(keys));
                Ok(Vec::new())
            }
            "no-ca-names" => {
                self.client_auth.no_ca_names = true;
                Ok(Vec::new())
            }
            k if super::client_auth::KEYWORDS.contains(&k) => {
                self.client_auth.apply(k, need(k, value)?, |p| g.ca_path(p))
            }
            _ => self
                .params
                .apply(keyword, value)?
                .ok_or_else(|| format!("'{keyword}' is not a TLS bind keyword")),
        }
    }

    /// Whether connections on this listener should be handed to kTLS when the kernel can.
    pub fn ktls_wanted(&self, g: &TlsGlobals) -> bool {
        // The kernel writes records as large as the protocol allows: a record limit keeps
        // the records in rustls.
        if g.max_record().is_some() {
            return false;
        }
        match self.ktls {
            KtlsSetting::Off => false,
            KtlsSetting::On => true,
            KtlsSetting::Default => !g.noktls,
        }
    }

    /// The certificates loaded so far (for `-c` output and tests).
    pub fn certs(&self) -> &[CertEntry] {
        &self.certs
    }

    /// The listener's rustls configuration. Errors when TLS options were given without
    /// `ssl`, when `ssl` has no certificate, or when nothing usable is left.
    pub fn build(&self, g: &TlsGlobals) -> Result<(Arc<ServerConfig>, Vec<Warning>), String> {
        self.build_serving(g).map(|(c, _, w)| (c, w))
    }

    /// Like [`build`](Self::build), with the certificate store the configuration serves from
    /// (what says which certificate a connection got: `proxy-v2-options cert-sig,cert-key`).
    pub fn build_serving(&self, g: &TlsGlobals) -> Result<Serving, String> {
        if !self.ssl {
            return Err("TLS options given without 'ssl'".into());
        }
        let params = self.params.over(&g.bind_defaults);
        let (versions, provider, mut w) = params.resolve()?;
        let mut store = CertStore::new(self.certs.clone(), self.strict_sni)?;
        if self.generate {
            let Some(ca) = &self.ca_sign_file else {
                return Err(
                    "cannot enable certificate generation, no CA certificate File configured ('ca-sign-file')".into(),
                );
            };
            let made = super::generate::Generator::load(ca)?.keeping(g.ctx_cache_size);
            store = store.with_generator(made);
        }
        let store = Arc::new(store);
        let builder = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let builder = match self.client_auth.verifier()? {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder.with_cert_resolver(store.clone());
        // HAProxy prefers the server's order unless prefer-client-ciphers.
        cfg.ignore_client_order = !params.prefer_client_ciphers;
        cfg.session_storage = if g.session_cache_size > 0 {
            super::lifetime::Cache::new(
                rustls::server::ServerSessionMemoryCache::new(g.session_cache_size),
                g.session_lifetime,
            )
        } else {
            Arc::new(rustls::server::NoServerSessionStorage {})
        };
        if params.no_tickets != Some(true) {
            // Stateless tickets; without `tls-ticket-keys` the key rotates every 6 hours
            // and the previous one is still accepted (rustls' TicketRotator); a ticket
            // older than `tune.ssl.lifetime` is refused.
            let inner: Arc<dyn rustls::server::ProducesTickets> = match &self.ticket_keys {
                Some(k) => k.clone(),
                None => rustls::crypto::aws_lc_rs::Ticketer::new()
                    .map_err(|e| format!("TLS session tickets: {e}"))?,
            };
            cfg.ticketer = super::lifetime::Tickets::new(inner, g.session_lifetime);
        }
        cfg.max_fragment_size = g.max_fragment();
        if g.max_record().is_some() && self.ktls == KtlsSetting::On {
            w.push(
                "'ktls on' is not used: the kernel would not keep to 'tune.ssl.maxrecord'".into(),
            );
        }
        if let Some(alpn) = &self.alpn {
            cfg.alpn_protocols = alpn.clone();
        }
        // The kTLS hand-off needs the traffic secrets; rustls keeps them only when asked.
        cfg.enable_secret_extraction = self.ktls_wanted(g);
        let tls12_without_tickets = params.no_tickets == Some(true)
            && versions.contains(&&rustls::version::TLS12)
            && g.session_cache_size == 0;
        if tls12_without_tickets {
            w.push("no session resumption: 'no-tls-tickets' and no session cache".into());
        }
        Ok((Arc::new(cfg), store, w))
    }
}

/// `verify none|required` on a server line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    None,
    Required,
}

/// `sni` on a server line: a constant name, or a sample expression the proxy evaluates per
/// connection (`req.hdr(host)`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sni {
    Fixed(String),
    Expr(String),
}

/// The TLS side of one `server` line (re-encryption to the backend).
#[derive(Clone, Debug, Default)]
pub struct ServerTls {
    /// `ssl`: connect to the server over TLS.
    pub ssl: bool,
    /// `check-ssl`: health checks over TLS (with this configuration) even without `ssl`.
    pub check_ssl: bool,
    verify: Option<Verify>,
    ca_file: Option<PathBuf>,
    verifyhost: Option<String>,
    pub sni: Option<Sni>,
    alpn: Option<Vec<Vec<u8>>>,
    /// `check-alpn`: what checks offer instead of `alpn`'s list.
    check_alpn: Option<Vec<Vec<u8>>>,
    /// `crt FILE`: the client certificate (and key) presented to the server.
    client_cert: Option<Arc<rustls::sign::CertifiedKey>>,
    /// `crl-file`: revocation lists the server's chain is checked against (every CA of it,
    /// as HAProxy's X509_V_FLAG_CRL_CHECK_ALL).
    crls: Vec<rustls::pki_types::CertificateRevocationListDer<'static>>,
    /// `no-ssl-reuse`: no TLS session resumption towards the server.
    no_reuse: bool,
    params: TlsParams,
}

/// Server keywords [`ServerTls::apply`] handles, with whether they take an argument.
pub const SERVER_KEYWORDS: &[(&str, bool)] = &[
    ("ssl", false),
    ("no-ssl", false),
    ("check-ssl", false),
    ("no-check-ssl", false),
    ("tls-tickets", false),
    ("ssl-reuse", false),
    ("no-ssl-reuse", false),
    ("crl-file", true),
    ("verify", true),
    ("ca-file", true),
    ("verifyhost", true),
    ("sni", true),
    ("alpn", true),
    ("check-alpn", true),
    ("crt", true),
    ("ciphers", true),
    ("ciphersuites", true),
    ("curves", true),
    ("ssl-min-ver", true),
    ("ssl-max-ver", true),
    ("no-sslv3", false),
    ("no-tlsv10", false),
    ("no-tlsv11", false),
    ("no-tlsv12", false),
    ("no-tlsv13", false),
    ("force-tlsv12", false),
    ("force-tlsv13", false),
    ("no-tls-tickets", false),
];

impl ServerTls {
    pub fn apply(
        &mut self,
        g: &TlsGlobals,
        keyword: &str,
        value: Option<&str>,
    ) -> Result<Vec<Warning>, String> {
        match keyword {
            "ssl" => self.ssl = true,
            // The `no-*` forms undo what a `default-server` line set.
            "no-ssl" => self.ssl = false,
            "check-ssl" => self.check_ssl = true,
            "no-check-ssl" => self.check_ssl = false,
            "tls-tickets" => self.params.no_tickets = Some(false),
            "ssl-reuse" => self.no_reuse = false,
            "no-ssl-reuse" => self.no_reuse = true,
            "crl-file" => {
                let p = g.ca_path(need(keyword, value)?);
                self.crls = super::client_auth::load_crls(&p)?;
            }
            "verify" => {
                self.verify = Some(match need(keyword, value)? {
                    "none" => Verify::None,
                    "required" => Verify::Required,
                    v => {
                        return Err(format!("'verify' expects 'none' or 'required' (got '{v}')"));
                    }
                })
            }
            "ca-file" => {
                let p = g.ca_path(need(keyword, value)?);
                // Read now so that a bad file is reported on its line.
                load_roots(&p)?;
                self.ca_file = Some(p);
            }
            "verifyhost" => self.verifyhost = Some(need(keyword, value)?.to_string()),
            "sni" => {
                let v = need(keyword, value)?;
                self.sni = Some(
                    match v.strip_prefix("str(").and_then(|r| r.strip_suffix(')')) {
                        Some(name) => Sni::Fixed(name.to_string()),
                        None => Sni::Expr(v.to_string()),
                    },
                );
            }
            "alpn" => {
                let (list, w) = parse_alpn(keyword, need(keyword, value)?, SERVER_ALPN)?;
                self.alpn = Some(list);
                return Ok(w);
            }
            "check-alpn" => {
                let (list, w) = parse_alpn(keyword, need(keyword, value)?, SERVER_ALPN)?;
                self.check_alpn = Some(list);
                return Ok(w);
            }
            "crt" => {
                // HAProxy's server `crt`: one PEM with the chain and its key (or the key in
                // FILE.key beside it), relative to `crt-base`; read now so that a bad file is
                // reported on its line.
                let policy = g.load_policy();
                let path = policy.resolve(need(keyword, value)?);
                let mut w = Vec::new();
                let loaded = super::certs::load_cert_file(&path, &policy, &mut w)?;
                self.client_cert = Some(loaded.key);
                return Ok(w);
            }
            "prefer-client-ciphers" => {
                return Err("'prefer-client-ciphers' is a bind keyword".into());
            }
            _ => {
                return self
                    .params
                    .apply(keyword, value)?
                    .ok_or_else(|| format!("'{keyword}' is not a TLS server keyword"));
            }
        }
        Ok(Vec::new())
    }

    /// The configuration of checks when it is not the traffic's (else None): with
    /// `check-sni NAME`, NAME is the SNI, and then also the name the certificate must carry
    /// (unless `verifyhost` names another), as HAProxy verifies checks; with `check-alpn`,
    /// its protocols are offered instead of `alpn`'s (HAProxy 2.6 offers the server's own
    /// on checks that have none).
    pub fn build_for_checks(
        &self,
        g: &TlsGlobals,
        check_sni: Option<&str>,
    ) -> Result<Option<Arc<ClientConfig>>, String> {
        let alpn = self.check_alpn.as_ref().or(self.alpn.as_ref());
        if check_sni.is_none() && alpn == self.alpn.as_ref() {
            return Ok(None);
        }
        let mut t = self.clone();
        if let Some(name) = check_sni {
            t.sni = Some(Sni::Fixed(name.to_string()));
        }
        t.alpn = alpn.cloned();
        t.build(g).map(|(c, _)| Some(c))
    }

    /// The client configuration of an `http-check connect ssl`: this server's settings
    /// (`verify`, `ca-file`, versions…), offering `alpn` when the rule gives one, else the
    /// checks' ALPN (`check-alpn`, else `alpn`) with `default`, else none.
    pub fn build_for_connect(
        &self,
        g: &TlsGlobals,
        alpn: Option<&Vec<Vec<u8>>>,
        default: bool,
    ) -> Result<Arc<ClientConfig>, String> {
        let mut t = self.clone();
        t.alpn = match alpn {
            Some(a) => Some(a.clone()),
            None if default => self.check_alpn.clone().or_else(|| self.alpn.clone()),
            None => None,
        };
        t.build(g).map(|(c, _)| c)
    }

    /// `check-alpn` was given: an HTTP check then speaks what its handshake negotiates.
    pub fn has_check_alpn(&self) -> bool {
        self.check_alpn.is_some()
    }

    /// Whether this server needs a client configuration (for traffic or for checks).
    pub fn enabled(&self) -> bool {
        self.ssl || self.check_ssl
    }

    /// The rustls client configuration for connections to this server.
    ///
    /// `verify required` (the default, from `ssl-server-verify`) needs a `ca-file`, as in
    /// HAProxy. The certificate's name is checked against `verifyhost` when given, else
    /// against the SNI sent; with neither, only the chain is verified (HAProxy's
    /// behaviour) and a warning says so.
    pub fn build(&self, g: &TlsGlobals) -> Result<(Arc<ClientConfig>, Vec<Warning>), String> {
        let params = self.params.over(&g.server_defaults);
        let (versions, provider, mut w) = params.resolve()?;
        let provider = Arc::new(provider);
        let verify = self.verify.unwrap_or(if g.server_verify_required {
            Verify::Required
        } else {
            Verify::None
        });
        let verifier: Arc<dyn ServerCertVerifier> = match verify {
            Verify::None => Arc::new(NoVerify(provider.clone())),
            Verify::Required => {
                let Some(ca) = &self.ca_file else {
                    return Err(
                        "'verify required' (the default) needs 'ca-file' on the server \
                         line; or set 'verify none' where the network is trusted \
                         (or 'ssl-server-verify none' globally)"
                            .into(),
                    );
                };
                let roots = load_roots(ca)?;
                let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .with_crls(self.crls.iter().cloned())
                .build()
                .map_err(|e| format!("'ca-file {}': {e}", ca.display()))?;
                let name = match (&self.verifyhost, &self.sni) {
                    (Some(h), _) => Some(
                        ServerName::try_from(h.clone())
                            .map_err(|_| format!("'verifyhost {h}' is not a valid host name"))?,
                    ),
                    (None, Some(_)) => None,
                    (None, None) => {
                        w.push(
                            "the server certificate's chain is verified but not its name \
                             (no 'sni' nor 'verifyhost')"
                                .into(),
                        );
                        None
                    }
                };
                let check_name = self.verifyhost.is_some() || self.sni.is_some();
                Arc::new(NameCheck {
                    inner,
                    fixed: name,
                    check_name,
                })
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut cfg = match &self.client_cert {
            Some(key) => builder.with_client_cert_resolver(Arc::new(ClientCert(key.clone()))),
            None => builder.with_no_client_auth(),
        };
        if let Some(alpn) = &self.alpn {
            cfg.alpn_protocols = alpn.clone();
        }
        if self.no_reuse {
            // `no-ssl-reuse`: every connection runs a full handshake.
            cfg.resumption = rustls::client::Resumption::disabled();
        } else if params.no_tickets == Some(true) {
            cfg.resumption = rustls::client::Resumption::in_memory_sessions(256)
                .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
        }
        // SNI is sent only when configured (HAProxy sends none by default).
        cfg.enable_sni = self.sni.is_some();
        cfg.max_fragment_size = g.max_fragment();
        Ok((Arc::new(cfg), w))
    }
}

/// A server's `crt`: the one certificate presented whenever the server asks for one.
#[derive(Debug)]
struct ClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Reads a CA bundle (`@system-ca`: the distribution's bundle).
pub(super) fn load_roots(path: &std::path::Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let path = if path.as_os_str() == "@system-ca" {
        PathBuf::from(
            std::env::var("SSL_CERT_FILE")
                .unwrap_or_else(|_| "/etc/ssl/certs/ca-certificates.crt".into()),
        )
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("unable to load CA file '{}': {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let mut bad = 0;
    for c in CertificateDer::pem_slice_iter(&bytes) {
        let c = c.map_err(|e| format!("CA file '{}': malformed PEM: {e}", path.display()))?;
        if roots.add(c).is_err() {
            bad += 1;
        }
    }
    if roots.is_empty() {
        return Err(format!(
            "CA file '{}' holds no usable certificate{}",
            path.display(),
            if bad > 0 {
                " (all failed to parse)"
            } else {
                ""
            }
        ));
    }
    Ok(roots)
}

/// `verify none`: any certificate, but the handshake signatures are still checked (so the
/// peer holds the key of the certificate it sent).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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

/// WebPKI verification with HAProxy's name rules: `verifyhost` if set, else the SNI sent,
/// else no name check.
#[derive(Debug)]
struct NameCheck {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    fixed: Option<ServerName<'static>>,
    check_name: bool,
}

impl ServerCertVerifier for NameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.fixed.as_ref().unwrap_or(server_name);
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
