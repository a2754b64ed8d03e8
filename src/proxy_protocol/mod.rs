//! The PROXY protocol (v1 text and v2 binary), as a pure codec over byte slices.
//!
//! Layer: a leaf (uses nothing of corelb); used by `net` (the header sent to servers) and
//! `proxy` (the header read from clients).
//!
//! This module does no I/O and keeps no state. The connection code owns the socket and the
//! receive buffer; it calls [`parse`] with *everything received so far* after each read, and
//! gets back one of three ordinary values:
//!
//! - [`Parse::Complete`]: a whole valid header; its `len` bytes are consumed and what follows
//!   is the client's payload, left untouched in the caller's buffer.
//! - [`Parse::Incomplete`]: every byte so far is consistent with a header: read more. A header
//!   split over several TCP segments (or one byte at a time) is handled by calling again.
//! - [`Parse::Invalid`]: these bytes cannot become a valid header whatever follows: close.
//!
//! The parser rejects as early as the bytes allow, so a client that speaks another protocol
//! does not hold a connection open: `GET / HTTP/1.1` is invalid at its first byte (neither `P`
//! nor `\r`), `PROXY TCP4 1.2.3.4x` at the `x`, a v2 header announcing more than
//! [`HeaderLimits::max_header_len`] bytes as soon as its 16-byte preamble is in. A client that sends
//! `PROX` and stalls gets `Incomplete`, and the caller's timeout decides (the spec suggests at
//! least 3 s, to cover a TCP retransmit).
//!
//! Version detection follows the spec's section 2.2: bytes starting with the 12-byte v2
//! signature are v2, bytes starting with `PROXY ` are v1. The receiver must be configured to
//! expect a header (`bind ... accept-proxy`); guessing whether one is present would let any
//! client spoof its address, so there is no "maybe" result.
//!
//! Encoding ([`encode_v1`], [`encode_v2`]) writes into the caller's buffer and never allocates;
//! it mirrors HAProxy's `make_proxy_line` for `send-proxy` / `send-proxy-v2` (see each function).
//!
//! Where this codec differs from HAProxy's receiver (`conn_recv_proxy`), it is stricter or
//! follows the spec text, on purpose:
//! - v1 numbers with leading zeros, signs or out-of-range values are rejected (the spec forbids
//!   them; HAProxy's `read_uint` accepts them and wraps ports above 65535).
//! - v1 `UNKNOWN` accepts anything up to the CRLF as the spec says; HAProxy only accepts
//!   `PROXY UNKNOWN\r\n` exactly.
//! - v2 `PROXY` with AF_UNSPEC, UDP or UNIX is accepted and reported as such; HAProxy's parser
//!   starts its TLV walk at offset 0 for those families and so rejects them in practice.

mod crc32c;
pub mod netscaler;
pub mod tlv;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;

pub use tlv::{Ssl, Tlv, Tlvs};
pub use v1::{V1_MAX_LEN, encode_v1};
pub use v2::{Checksum, EncodeError, V2_MAX_LEN, V2_SIGNATURE, encode_ssl_value, encode_v2};

/// What [`parse`] concluded from the bytes received so far.
///
/// Deliberately not `#[non_exhaustive]`: these three outcomes are the whole contract of a
/// sans-IO parser (done, need more, give up), and a connection state machine must handle each
/// one explicitly; a wildcard arm would silently swallow a new outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse<'a> {
    /// A whole, valid header. It occupies `buf[..len]`; `buf[len..]` is the client's payload.
    Complete {
        /// The decoded header.
        header: Header<'a>,
        /// Bytes of `buf` the header used.
        len: usize,
    },
    /// The bytes so far are a valid beginning of a header: call again with more.
    Incomplete,
    /// The bytes cannot begin a valid header whatever follows: abort the connection.
    Invalid(Error),
}

/// HeaderLimits on what the parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderLimits {
    max_header_len: usize,
}

impl HeaderLimits {
    /// Default cap on a whole v2 header (16-byte preamble, addresses and TLVs). The 16-bit
    /// length field allows 64 KiB; HAProxy's effective cap is its buffer size. A real header
    /// (addresses, a CRC, ALPN, SNI, an SSL block, an AWS endpoint id) is a few hundred bytes,
    /// and the spec wants it to fit one minimal TCP segment (536 bytes); 4096 leaves room for
    /// custom TLVs without letting a peer make us buffer 64 KiB per connection.
    pub const DEFAULT_MAX_HEADER_LEN: usize = 4096;

    /// HeaderLimits with the default cap.
    pub const fn new() -> Self {
        HeaderLimits {
            max_header_len: Self::DEFAULT_MAX_HEADER_LEN,
        }
    }

    /// The same limits with a different cap on a whole v2 header, in bytes. Use
    /// [`V2_MAX_LEN`] to accept anything the format can express. v1 lines are always capped at
    /// [`V1_MAX_LEN`] by the spec, whatever this says.
    pub const fn with_max_header_len(self, max_header_len: usize) -> Self {
        HeaderLimits { max_header_len }
    }

    /// The cap on a whole v2 header, in bytes.
    pub const fn max_header_len(&self) -> usize {
        self.max_header_len
    }
}

impl Default for HeaderLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses a PROXY protocol header (v1 or v2) at the start of `buf`.
///
/// Call it with all bytes received so far on the connection; see the module docs.
pub fn parse<'a>(buf: &'a [u8], limits: &HeaderLimits) -> Parse<'a> {
    // The first byte is enough to tell the versions apart from each other and from most
    // other protocols: v1 starts with "PROXY", v2 with "\r\n\r\n\0\r\nQUIT\n".
    match buf.first() {
        None => Parse::Incomplete,
        Some(b'P') => v1::parse(buf),
        Some(b'\r') => v2::parse(buf, limits),
        Some(_) => Parse::Invalid(Error::NotProxyProtocol),
    }
}

/// Which format the header was in.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Version 1, the human-readable line (`PROXY TCP4 ...\r\n`).
    V1,
    /// Version 2, the binary header.
    V2,
}

/// The v2 command. A v1 header is always [`Command::Proxy`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// The sender opened the connection on its own behalf (a health check): the connection's
    /// real endpoints apply, and the header carries no addresses.
    Local,
    /// The connection is relayed for a client: the header's addresses apply (when it has any).
    Proxy,
}

/// The addresses a header carries.
///
/// Small (the IP variants are two `SocketAddr`s by value) because UNIX addresses, 216 bytes
/// on the wire and rare in practice, are boxed: a header for the common case is compact and
/// allocation-free.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// No usable addresses — a v2 `LOCAL` header, a v1 `UNKNOWN` line, or v2 `PROXY` with
    /// AF_UNSPEC: use the connection's real endpoints, as the spec requires.
    Unspecified,
    /// TCP over IPv4 (`TCP4`, v2 `\x11`) or IPv6 (`TCP6`, v2 `\x21`).
    Tcp {
        /// The client, as the proxy saw it.
        src: SocketAddr,
        /// The address the client connected to.
        dst: SocketAddr,
    },
    /// UDP over IPv4 (v2 `\x12`) or IPv6 (v2 `\x22`).
    Udp {
        /// The client, as the proxy saw it.
        src: SocketAddr,
        /// The address the client sent to.
        dst: SocketAddr,
    },
    /// A UNIX stream socket (v2 `\x31`).
    UnixStream {
        /// The client's socket address.
        src: UnixAddr,
        /// The socket the client connected to.
        dst: UnixAddr,
    },
    /// A UNIX datagram socket (v2 `\x32`).
    UnixDatagram {
        /// The client's socket address.
        src: UnixAddr,
        /// The socket the client sent to.
        dst: UnixAddr,
    },
}

/// A UNIX socket address as v2 carries it: exactly 108 bytes, a path padded with NULs (or an
/// abstract name, whose first byte is NUL).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixAddr(Box<[u8; UnixAddr::LEN]>);

impl UnixAddr {
    /// Size of the address field on the wire (`sun_path` on Linux).
    pub const LEN: usize = 108;

    /// Wraps the 108 raw bytes.
    pub fn from_raw(raw: [u8; Self::LEN]) -> Self {
        UnixAddr(Box::new(raw))
    }

    /// A pathname address, NUL-padded; `None` if `path` is longer than 108 bytes.
    pub fn from_path(path: &[u8]) -> Option<Self> {
        let mut raw = [0u8; Self::LEN];
        raw.get_mut(..path.len())?.copy_from_slice(path);
        Some(UnixAddr::from_raw(raw))
    }

    /// The 108 bytes as received.
    pub fn as_raw(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// The path: the bytes before the first NUL. Empty for an abstract address; use
    /// [`as_raw`](Self::as_raw) for those.
    pub fn path(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN);
        &self.0[..end]
    }
}

impl fmt::Debug for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixAddr({:?})", String::from_utf8_lossy(self.path()))
    }
}

/// A decoded header. TLVs are borrowed from the parsed buffer; [`Header::into_owned`] copies
/// them when the header must outlive the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The format of the header.
    pub version: Version,
    /// `Local` for a health check from the proxy, `Proxy` for a relayed connection.
    pub command: Command,
    /// The original endpoints; [`Addresses::Unspecified`] for `Local`.
    pub addresses: Addresses,
    /// The TLV region of a v2 header (empty for v1), already checked to be well-formed.
    tlvs: &'a [u8],
}

impl<'a> Header<'a> {
    /// The relayed client and destination addresses, when the header carries IP addresses for
    /// a `Proxy` command; `None` means "use the connection's own endpoints".
    pub fn socket_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        match (self.command, &self.addresses) {
            (Command::Proxy, Addresses::Tcp { src, dst } | Addresses::Udp { src, dst }) => {
                Some((*src, *dst))
            }
            _ => None,
        }
    }

    /// The v2 TLVs in wire order (none for v1).
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.tlvs)
    }

    /// The raw TLV region (what [`tlvs`](Self::tlvs) iterates), e.g. to forward it verbatim.
    pub fn tlv_bytes(&self) -> &'a [u8] {
        self.tlvs
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&'a [u8]> {
        self.tlvs().find(|t| t.kind == kind).map(|t| t.value)
    }

    /// `PP2_TYPE_ALPN`: the protocol negotiated with the client, e.g. `h2`.
    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.tlv(tlv::ALPN)
    }

    /// `PP2_TYPE_AUTHORITY`: the host name (SNI) the client asked for; `None` if absent or not
    /// UTF-8.
    pub fn authority(&self) -> Option<&'a str> {
        std::str::from_utf8(self.tlv(tlv::AUTHORITY)?).ok()
    }

    /// `PP2_TYPE_UNIQUE_ID`: the upstream proxy's connection id (at most 128 bytes).
    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.tlv(tlv::UNIQUE_ID)
    }

    /// `PP2_TYPE_NETNS`: the network namespace name; `None` if absent or not UTF-8.
    pub fn netns(&self) -> Option<&'a str> {
        std::str::from_utf8(self.tlv(tlv::NETNS)?).ok()
    }

    /// `PP2_TYPE_CRC32C`, if the sender included one. The parser has already verified it: a
    /// header with a wrong checksum is [`Error::BadChecksum`].
    pub fn crc32c(&self) -> Option<u32> {
        let v: [u8; 4] = self.tlv(tlv::CRC32C)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    /// `PP2_TYPE_SSL`, if present and well-formed (its sub-TLVs are not checked at parse time,
    /// as in HAProxy).
    pub fn ssl(&self) -> Option<Ssl<'a>> {
        Ssl::decode(self.tlv(tlv::SSL)?)
    }

    /// AWS `PP2_TYPE_AWS` / `PP2_SUBTYPE_AWS_VPCE_ID`: the VPC endpoint id (e.g.
    /// `vpce-08d2bf15fac5001c9`) a client came through via PrivateLink to an NLB.
    pub fn aws_vpce_id(&self) -> Option<&'a str> {
        self.tlvs()
            .filter(|t| t.kind == tlv::AWS)
            .find_map(|t| match t.value {
                [tlv::AWS_VPCE_ID, id @ ..] => std::str::from_utf8(id).ok(),
                _ => None,
            })
    }

    /// Copies the TLVs so the header can outlive the receive buffer.
    pub fn into_owned(self) -> OwnedHeader {
        OwnedHeader {
            version: self.version,
            command: self.command,
            addresses: self.addresses,
            tlvs: self.tlvs.into(),
        }
    }
}

/// A [`Header`] that owns its TLVs; [`OwnedHeader::as_header`] gives the accessors back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedHeader {
    /// The format of the header.
    pub version: Version,
    /// `Local` or `Proxy`.
    pub command: Command,
    /// The original endpoints.
    pub addresses: Addresses,
    tlvs: Box<[u8]>,
}

impl OwnedHeader {
    /// A borrowed view, with all of [`Header`]'s accessors.
    pub fn as_header(&self) -> Header<'_> {
        Header {
            version: self.version,
            command: self.command,
            addresses: self.addresses.clone(),
            tlvs: &self.tlvs,
        }
    }
}

/// Why bytes are not a valid PROXY header. Every variant is the peer's fault and final: the
/// connection must be closed (retrying cannot help; the spec asks to abort as soon as
/// possible so the sender notices).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The bytes start with neither `PROXY ` (v1) nor the 12-byte v2 signature — another
    /// protocol, or a peer not configured to send the header. Also a lowercase `proxy`.
    NotProxyProtocol,
    /// v2: the version nibble of byte 13 is not 2.
    BadVersion,
    /// v2: the command nibble of byte 13 is neither LOCAL (0) nor PROXY (1).
    BadCommand,
    /// v1: the protocol is not `TCP4`, `TCP6` or `UNKNOWN`. v2: byte 14 is not one of the
    /// seven family/transport combinations of the spec (for a `PROXY` command).
    BadFamily,
    /// v1: an address is not a canonical address of the announced family (IPv4 dotted quad
    /// without leading zeros for `TCP4`, IPv6 for `TCP6`).
    BadAddress,
    /// v1: a port is not a decimal integer in 0..=65535 without sign or leading zero.
    BadPort,
    /// v1: a separator is wrong: not exactly one space between fields, or a line not ended by
    /// CRLF (a lone CR or LF).
    BadSyntax,
    /// v1: no CRLF within the first [`V1_MAX_LEN`] bytes.
    TooLong,
    /// v2: the header announces `len` bytes in total, more than the configured `limit`.
    Oversized {
        /// Total header length the sender announced (16 + its length field).
        len: usize,
        /// [`HeaderLimits::max_header_len`] in force.
        limit: usize,
    },
    /// v2: the length field is shorter than the address block of the announced family.
    ShortAddressBlock,
    /// v2: a TLV overruns the header, CRC32C is not 4 bytes or appears twice, AUTHORITY is
    /// longer than 255 bytes or UNIQUE_ID longer than 128 (HAProxy rejects the same).
    BadTlv,
    /// v2: the CRC32C TLV does not match the header.
    BadChecksum,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotProxyProtocol => f.write_str("not a PROXY protocol header"),
            Error::BadVersion => f.write_str("PROXY v2: unsupported version"),
            Error::BadCommand => f.write_str("PROXY v2: unknown command"),
            Error::BadFamily => f.write_str("PROXY: unknown protocol family"),
            Error::BadAddress => f.write_str("PROXY v1: invalid address"),
            Error::BadPort => f.write_str("PROXY v1: invalid port"),
            Error::BadSyntax => f.write_str("PROXY v1: malformed line"),
            Error::TooLong => f.write_str("PROXY v1: no CRLF within 107 bytes"),
            Error::Oversized { len, limit } => {
                write!(
                    f,
                    "PROXY v2: header of {len} bytes exceeds the {limit}-byte limit"
                )
            }
            Error::ShortAddressBlock => f.write_str("PROXY v2: address block truncated"),
            Error::BadTlv => f.write_str("PROXY v2: malformed TLV"),
            Error::BadChecksum => f.write_str("PROXY v2: CRC32C mismatch"),
        }
    }
}

impl std::error::Error for Error {}
