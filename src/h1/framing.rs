//! Message framing: how the proxy finds the end of a body (RFC 9112 §6.3).

use super::head::Method;
use super::request::RequestHead;

/// How a message body is delimited, which decides how the proxy streams it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyKind {
    /// No body: the next bytes are the next message.
    None,
    /// Exactly this many bytes (possibly 0).
    ContentLength(u64),
    /// A chunked body: feed it through a [`ChunkedScanner`](super::ChunkedScanner), which
    /// says where it ends; forward the raw bytes unchanged.
    Chunked,
    /// Responses only: the body runs until the server closes. The client connection closes
    /// after it too.
    CloseDelimited,
    /// The connection becomes a byte tunnel in both directions: a 2xx answer to CONNECT, or
    /// 101 Switching Protocols.
    Tunnel,
}

impl BodyKind {
    /// Whether a body may follow the head (a `ContentLength(0)` has none).
    pub const fn has_body(self) -> bool {
        match self {
            BodyKind::None | BodyKind::ContentLength(0) => false,
            BodyKind::ContentLength(_)
            | BodyKind::Chunked
            | BodyKind::CloseDelimited
            | BodyKind::Tunnel => true,
        }
    }
}

impl RequestHead {
    /// The framing of this request's body. A request without Content-Length or
    /// Transfer-Encoding has no body (RFC 9112 §6.3: requests are never close-delimited).
    /// CONNECT's body is ignored, as HAProxy does: after a 2xx the connection is a tunnel.
    pub const fn body_kind(&self) -> BodyKind {
        if matches!(self.method(), Method::Connect) {
            BodyKind::None
        } else if self.is_chunked() {
            BodyKind::Chunked
        } else if let Some(n) = self.content_length() {
            BodyKind::ContentLength(n)
        } else {
            BodyKind::None
        }
    }
}
