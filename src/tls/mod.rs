//! TLS: certificate material read the HAProxy way, the rustls server/client configurations
//! built from HAProxy's SSL keywords, and the hand-off of the record layer to the kernel
//! (kTLS).
//!
//! Configuration-time: builds on `sys` only; used by `config` (TLS settings parsed into the
//! model), `net` (handshakes and the kTLS hand-off on connections) and `runtime` (`show ssl`).
//!
//! - [`certs`]: PEM files, `crt DIR`, `crt-list`, `.key` beside the certificate, expiry
//!   checks, and [`certs::CertStore`], the SNI resolver rustls asks for a certificate.
//! - [`issuers`]: `issuers-chain-path`, the chains that complete a leaf-only PEM.
//! - [`ciphers`]: OpenSSL cipher strings and TLS 1.3 suite lists mapped onto the rustls
//!   suites, naming what rustls cannot offer.
//! - [`options`]: `bind … ssl …` and `server … ssl …` parameters and the `ssl-default-*`
//!   globals → `rustls::ServerConfig` / `rustls::ClientConfig`.
//! - [`ktls`]: the start-up probe of the kernel's TLS support and the hand-off after a
//!   rustls handshake; reading non-data records afterwards.
//!
//! Everything here is built once per configuration generation and shared read-only
//! (`Arc<ServerConfig>`) by every shard; nothing in this module takes a lock per connection
//! except rustls' own session cache and ticket rotation.
//!
//! Errors are `String`s naming the file (and the crt-list line) at fault; the configuration
//! parser prefixes them with the configuration's `FILE:LINE`. Warnings are returned as
//! values in the same form, never printed from here.

pub mod certs;
pub mod ciphers;
pub mod client_auth;
pub mod generate;
pub mod issuers;
pub mod ktls;
pub mod lifetime;
pub mod options;
#[cfg(test)]
mod testutil;
pub mod ticket_keys;

/// A warning for the operator, without the configuration's `FILE:LINE` prefix.
pub type Warning = String;

/// The TLS version of a client's session terminated here (`ssl_fc_protocol`, `%sslv`): one
/// byte where the connection keeps it, not a name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    #[default]
    Tls12,
    Tls13,
}

impl Version {
    /// rustls only completes TLS 1.2 and 1.3 handshakes.
    pub fn of(v: Option<rustls::ProtocolVersion>) -> Version {
        match v {
            Some(rustls::ProtocolVersion::TLSv1_3) => Version::Tls13,
            _ => Version::Tls12,
        }
    }

    /// OpenSSL's name: `TLSv1.2`, `TLSv1.3`.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }
}

/// What the handshake with a server (`server … ssl`) told, for the `ssl_bc*` fetches. A
/// handshake that failed leaves only the fact that the connection is TLS ([`ServerSession::failed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSession {
    /// `ssl_bc_protocol`; `None` when the handshake failed.
    pub version: Option<Version>,
    /// `ssl_bc_cipher`, `ssl_bc_*_keysize`.
    pub suite: Option<rustls::CipherSuite>,
    /// The protocol ALPN chose (`ssl_bc_alpn`).
    pub alpn: Option<Box<[u8]>>,
    /// The session was resumed (`ssl_bc_is_resumed`).
    pub resumed: bool,
}

impl ServerSession {
    /// The session of a completed handshake (no system call: rustls' own state).
    pub fn of(c: &rustls::ClientConnection) -> ServerSession {
        ServerSession {
            version: c.protocol_version().map(|v| Version::of(Some(v))),
            suite: c.negotiated_cipher_suite().map(|s| s.suite()),
            alpn: c.alpn_protocol().map(Into::into),
            resumed: c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }

    /// A handshake that failed: TLS, nothing negotiated.
    pub fn failed() -> ServerSession {
        ServerSession::default()
    }
}

/// HAProxy's connection error codes (`CO_ER_*`, `fc_err`/`bc_err`) that corelb's
/// connections can end with, and [`conn_err_code_str`]'s text for each.
pub mod conn_err {
    pub const NONE: i64 = 0;
    /// `CO_ER_SSL_EMPTY`: the peer closed during the handshake.
    pub const SSL_EMPTY: i64 = 24;
    /// `CO_ER_SSL_TIMEOUT`.
    pub const SSL_TIMEOUT: i64 = 26;
    /// `CO_ER_SSL_CRT_FAIL`: the client's certificate failed `verify`.
    pub const SSL_CRT_FAIL: i64 = 31;
    /// `CO_ER_SSL_HANDSHAKE`.
    pub const SSL_HANDSHAKE: i64 = 34;
}

/// HAProxy's `conn_err_code_str` (`fc_err_str`, `bc_err_str`, the failed handshake's log
/// line) for the [`conn_err`] codes; empty for any other.
pub fn conn_err_code_str(code: i64) -> &'static str {
    match code {
        conn_err::NONE => "Success",
        conn_err::SSL_EMPTY => "Connection closed during SSL handshake",
        conn_err::SSL_TIMEOUT => "Timeout during SSL handshake",
        conn_err::SSL_CRT_FAIL => "SSL client certificate not trusted",
        conn_err::SSL_HANDSHAKE => "SSL handshake failure",
        _ => "",
    }
}

/// The crypto provider every configuration uses: aws-lc-rs, rustls' default, which has
/// AES-GCM and CHACHA20-POLY1305 (the suites kTLS can take over).
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    static P: std::sync::OnceLock<std::sync::Arc<rustls::crypto::CryptoProvider>> =
        std::sync::OnceLock::new();
    P.get_or_init(|| std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}
