//! v2 Type-Length-Value extensions: the registered type numbers, a borrowing iterator, and
//! the nested SSL TLV.
//!
//! A TLV is one type byte, a big-endian 16-bit length and that many value bytes. The parser
//! validates the top-level TLV framing of a header before it reports `Complete`, so iterating
//! a [`Header`](super::Header)'s TLVs never meets a truncated entry. The sub-TLVs inside
//! `PP2_TYPE_SSL` are *not* validated at parse time — HAProxy accepts a connection whatever
//! their content — so [`Ssl`] is only returned for a well-formed SSL value.

/// `PP2_TYPE_ALPN`: the application protocol negotiated with the client (an ALPN id).
pub const ALPN: u8 = 0x01;
/// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
pub const AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_CRC32C`: CRC32C of the whole header with this field zeroed; verified on parse.
pub const CRC32C: u8 = 0x03;
/// `PP2_TYPE_NOOP`: padding, ignored.
pub const NOOP: u8 = 0x04;
/// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of at most 128 bytes.
pub const UNIQUE_ID: u8 = 0x05;
/// `PP2_TYPE_SSL`: TLS details of the client connection, with sub-TLVs (see [`Ssl`]).
pub const SSL: u8 = 0x20;
/// `PP2_SUBTYPE_SSL_VERSION`: US-ASCII TLS version, e.g. `TLSv1.3`.
pub const SSL_VERSION: u8 = 0x21;
/// `PP2_SUBTYPE_SSL_CN`: Common Name of the client certificate, UTF-8.
pub const SSL_CN: u8 = 0x22;
/// `PP2_SUBTYPE_SSL_CIPHER`: US-ASCII cipher name.
pub const SSL_CIPHER: u8 = 0x23;
/// `PP2_SUBTYPE_SSL_SIG_ALG`: US-ASCII signature algorithm of the frontend certificate.
pub const SSL_SIG_ALG: u8 = 0x24;
/// `PP2_SUBTYPE_SSL_KEY_ALG`: US-ASCII key algorithm of the frontend certificate.
pub const SSL_KEY_ALG: u8 = 0x25;
/// `PP2_TYPE_NETNS`: US-ASCII name of the network namespace.
pub const NETNS: u8 = 0x30;
/// `PP2_TYPE_AWS`: Amazon's extension (in the 0xE0–0xEF custom range); the first value byte is
/// a subtype.
pub const AWS: u8 = 0xEA;
/// `PP2_SUBTYPE_AWS_VPCE_ID`: the VPC endpoint id (e.g. `vpce-08d2bf15fac5001c9`) of a client
/// reaching an NLB through PrivateLink.
pub const AWS_VPCE_ID: u8 = 0x01;

/// `PP2_CLIENT_SSL`: the client connected over TLS.
pub const CLIENT_SSL: u8 = 0x01;
/// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
pub const CLIENT_CERT_CONN: u8 = 0x02;
/// `PP2_CLIENT_CERT_SESS`: the client presented a certificate at least once in this TLS session.
pub const CLIENT_CERT_SESS: u8 = 0x04;

/// HAProxy rejects a header whose AUTHORITY is longer than this (`HA_PP2_AUTHORITY_MAX`); a
/// DNS name is at most 253 bytes anyway.
pub(crate) const AUTHORITY_MAX: usize = 255;
/// The spec caps UNIQUE_ID at 128 bytes and HAProxy rejects longer ones (`UNIQUEID_LEN`).
pub(crate) const UNIQUE_ID_MAX: usize = 128;

/// One TLV, borrowed from the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tlv<'a> {
    /// The type byte (see the constants of this module).
    pub kind: u8,
    /// The value, without the 3-byte type/length prefix.
    pub value: &'a [u8],
}

/// Iterator over the TLVs of a byte region; see [`Header::tlvs`](super::Header::tlvs).
///
/// Stops at the end of the region, or at the first entry that would overrun it (which cannot
/// happen for a header's top-level TLVs: the parser rejected such headers).
#[derive(Clone, Debug)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Tlvs<'a> {
    pub(crate) const fn new(region: &'a [u8]) -> Self {
        Tlvs { rest: region }
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (tlv, rest) = split_first(self.rest)?;
        self.rest = rest;
        Some(tlv)
    }
}

impl std::iter::FusedIterator for Tlvs<'_> {}

/// The first TLV of `region` and what follows it, or `None` if the region is empty or its first
/// entry is truncated.
pub(crate) fn split_first(region: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let [kind, hi, lo, rest @ ..] = region else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((Tlv { kind: *kind, value }, rest))
}

/// True when `region` is a whole number of well-formed TLVs.
pub(crate) fn well_formed(mut region: &[u8]) -> bool {
    while !region.is_empty() {
        match split_first(region) {
            Some((_, rest)) => region = rest,
            None => return false,
        }
    }
    true
}

/// The value of a `PP2_TYPE_SSL` TLV: `client` flags, `verify` result and sub-TLVs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ssl<'a> {
    /// Bit field of [`CLIENT_SSL`], [`CLIENT_CERT_CONN`], [`CLIENT_CERT_SESS`].
    pub client: u8,
    /// Zero when the client presented a certificate and it verified; non-zero otherwise.
    pub verify: u32,
    sub_tlvs: &'a [u8],
}

impl<'a> Ssl<'a> {
    /// Decodes an SSL TLV value; `None` if it is shorter than its 5 fixed bytes or its sub-TLVs
    /// do not tile the rest exactly.
    pub fn decode(value: &'a [u8]) -> Option<Self> {
        let [client, v0, v1, v2, v3, sub_tlvs @ ..] = value else {
            return None;
        };
        if !well_formed(sub_tlvs) {
            return None;
        }
        Some(Ssl {
            client: *client,
            verify: u32::from_be_bytes([*v0, *v1, *v2, *v3]),
            sub_tlvs,
        })
    }

    /// True when the client connection used TLS ([`CLIENT_SSL`]).
    pub fn client_ssl(&self) -> bool {
        self.client & CLIENT_SSL != 0
    }

    /// The sub-TLVs (`SSL_VERSION`, `SSL_CN`, …) in wire order.
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.sub_tlvs)
    }

    fn sub_str(&self, kind: u8) -> Option<&'a str> {
        let tlv = self.tlvs().find(|t| t.kind == kind)?;
        std::str::from_utf8(tlv.value).ok()
    }

    /// `SSL_VERSION`, e.g. `TLSv1.3`.
    pub fn version(&self) -> Option<&'a str> {
        self.sub_str(SSL_VERSION)
    }

    /// `SSL_CN`: the client certificate's Common Name.
    pub fn common_name(&self) -> Option<&'a str> {
        self.sub_str(SSL_CN)
    }

    /// `SSL_CIPHER`, e.g. `ECDHE-RSA-AES128-GCM-SHA256`.
    pub fn cipher(&self) -> Option<&'a str> {
        self.sub_str(SSL_CIPHER)
    }

    /// `SSL_SIG_ALG`, e.g. `RSA-SHA256`.
    pub fn sig_alg(&self) -> Option<&'a str> {
        self.sub_str(SSL_SIG_ALG)
    }

    /// `SSL_KEY_ALG`, e.g. `RSA2048`.
    pub fn key_alg(&self) -> Option<&'a str> {
        self.sub_str(SSL_KEY_ALG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_in_order_and_stops_at_the_end() {
        let region = [ALPN, 0, 2, b'h', b'2', NOOP, 0, 0, AWS, 0, 1, AWS_VPCE_ID];
        let got: Vec<Tlv<'_>> = Tlvs::new(&region).collect();
        assert_eq!(
            got,
            [
                Tlv {
                    kind: ALPN,
                    value: b"h2"
                },
                Tlv {
                    kind: NOOP,
                    value: b""
                },
                Tlv {
                    kind: AWS,
                    value: &[AWS_VPCE_ID]
                },
            ]
        );
        assert!(well_formed(&region));
    }

    #[test]
    fn truncated_entries_are_not_well_formed() {
        assert!(well_formed(&[]));
        assert!(!well_formed(&[ALPN]));
        assert!(!well_formed(&[ALPN, 0]));
        assert!(!well_formed(&[ALPN, 0, 3, b'h', b'2']));
        // A 16-bit length: 0x0100 = 256 bytes announced, 1 present.
        assert!(!well_formed(&[ALPN, 1, 0, b'x']));
        assert_eq!(Tlvs::new(&[ALPN, 0, 3, b'h', b'2']).count(), 0);
    }

    #[test]
    fn ssl_value_with_sub_tlvs() {
        let mut v = vec![CLIENT_SSL | CLIENT_CERT_CONN, 0, 0, 0, 0];
        v.extend_from_slice(&[SSL_VERSION, 0, 7]);
        v.extend_from_slice(b"TLSv1.3");
        v.extend_from_slice(&[SSL_CN, 0, 11]);
        v.extend_from_slice(b"example.com");
        let ssl = Ssl::decode(&v).expect("well-formed");
        assert!(ssl.client_ssl());
        assert_eq!(ssl.verify, 0);
        assert_eq!(ssl.version(), Some("TLSv1.3"));
        assert_eq!(ssl.common_name(), Some("example.com"));
        assert_eq!(ssl.cipher(), None);
        assert_eq!(ssl.tlvs().count(), 2);
    }

    #[test]
    fn ssl_value_malformed() {
        assert_eq!(Ssl::decode(&[CLIENT_SSL, 0, 0, 0]), None, "shorter than 5");
        assert_eq!(
            Ssl::decode(&[CLIENT_SSL, 0, 0, 0, 1, SSL_VERSION, 0, 9, b'T']),
            None,
            "sub-TLV overruns"
        );
        let ssl = Ssl::decode(&[0, 0, 0, 0, 1]).expect("no sub-TLVs is fine");
        assert!(!ssl.client_ssl());
        assert_eq!(ssl.verify, 1);
    }
}
