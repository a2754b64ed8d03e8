//! [`Sample`] in `http-response` rules: the request's sample, plus the server's response
//! head as the rules so far left it (`status`, `res.hdr`, `shdr`, `res.ver`…).

use std::net::SocketAddr;

use super::{RequestSample, Sample};
use crate::h1::{Edits, ResponseHead, Version};

/// The response's fields and version, as the header fetches read them (through
/// [`Sample::response`]): every other fetch finds nothing here.
pub struct ResponseFields<'a, 'e, const N: usize> {
    head: &'a ResponseHead,
    buf: &'a [u8],
    edits: &'a Edits<'e, N>,
}

/// A request's sample with its response: what `http-response` conditions and values see.
pub struct ResponseSample<'a, 'e, const N: usize> {
    pub request: &'a RequestSample<'a>,
    fields: ResponseFields<'a, 'e, N>,
    /// `tcp-response content` rules in mode http see the message as HAProxy's HTX: the
    /// size `res.len` answers.
    htx_len: Option<i64>,
    /// The view before the server's answer arrived (see [`as_htx_pending`]).
    ///
    /// [`as_htx_pending`]: Self::as_htx_pending
    pending: bool,
}

impl<'a, 'e, const N: usize> ResponseSample<'a, 'e, N> {
    pub fn new(
        request: &'a RequestSample<'a>,
        head: &'a ResponseHead,
        buf: &'a [u8],
        edits: &'a Edits<'e, N>,
    ) -> Self {
        ResponseSample {
            request,
            fields: ResponseFields { head, buf, edits },
            htx_len: None,
            pending: false,
        }
    }

    /// The view of `tcp-response content` rules before the answer came: HAProxy 2.6 runs
    /// them first when the server connection is set up, on an empty response buffer
    /// (`res.len` 0, everything else missing and "may change"). Rules that decide on that
    /// decide for good (their variables hold what they saw); a rule whose condition needs the
    /// response makes them wait, and all run again on the head.
    pub fn as_htx_pending(mut self) -> Self {
        (self.htx_len, self.pending) = (Some(0), true);
        self
    }

    /// The view of `tcp-response content` rules in mode http: `res.len` is the size
    /// HAProxy 2.6's HTX message would have (see [`htx_len`]); the payload fetches find
    /// nothing.
    pub fn as_htx(mut self) -> Self {
        let f = &self.fields;
        self.htx_len = Some(htx_len(f.head, f.buf));
        self
    }
}

/// What HAProxy 2.6 counts as an HTX response's data (`htx->data`, `res.len` on an HTTP
/// stream): the start line's three parts plus its 20-byte header (`struct htx_sl`), each
/// field's name and value, one byte for the end of the headers, and the body bytes
/// received with the head (counted as received, chunk framing included).
pub fn htx_len(head: &ResponseHead, buf: &[u8]) -> i64 {
    let head_len = head.head_len().min(buf.len());
    let line_end = memchr::memmem::find(&buf[..head_len], b"\r\n").unwrap_or(0);
    // "HTTP/1.1 200 OK": the three parts without the two spaces between them.
    let line = &buf[..line_end];
    let spaces = line.iter().filter(|&&b| b == b' ').count().min(2);
    let fields: usize = head
        .headers()
        .iter()
        .map(|h| h.name(buf).len() + h.value(buf).len())
        .sum();
    (20 + line.len() - spaces + fields + 1 + (buf.len() - head_len)) as i64
}

impl<const N: usize> Sample for ResponseFields<'_, '_, N> {
    fn src(&self) -> Option<SocketAddr> {
        None
    }
    fn dst(&self) -> Option<SocketAddr> {
        None
    }
    fn method(&self) -> Option<&[u8]> {
        None
    }
    /// Present (empty) so that the counting fetches know there is a message.
    fn url(&self) -> Option<&[u8]> {
        Some(b"")
    }
    fn version(&self) -> Option<&[u8]> {
        Some(match self.head.version() {
            Version::Http10 => b"1.0",
            _ => b"1.1",
        })
    }
    /// What of the response's body came with its head (`res.body*`), framed as the head
    /// says.
    fn body(&self) -> Option<(&[u8], crate::h1::BodyKind)> {
        let raw = self.buf.get(self.head.head_len()..)?;
        Some((raw, self.head.body_kind(crate::h1::Method::Get)))
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
        for e in self.edits.headers(self.head.headers(), self.buf) {
            if (name.is_empty() || e.name.eq_ignore_ascii_case(name)) && !f(e.value) {
                return;
            }
        }
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        for e in self.edits.headers(self.head.headers(), self.buf) {
            if !f(e.name, e.value) {
                return;
            }
        }
    }
    fn ssl_fc(&self) -> bool {
        false
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        None
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        None
    }
    fn nbsrv(&self, _: usize) -> u32 {
        0
    }
    fn stopping(&self) -> bool {
        false
    }
    fn is_response(&self) -> bool {
        true
    }
}

impl<const N: usize> Sample for ResponseSample<'_, '_, N> {
    fn src(&self) -> Option<SocketAddr> {
        self.request.src()
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.request.dst()
    }
    fn fc_src(&self) -> Option<SocketAddr> {
        self.request.fc_src()
    }
    fn fc_dst(&self) -> Option<SocketAddr> {
        self.request.fc_dst()
    }
    fn addrs_cell(&self) -> Option<&super::AddrsCell> {
        self.request.addrs_cell()
    }
    fn method(&self) -> Option<&[u8]> {
        self.request.method()
    }
    fn url(&self) -> Option<&[u8]> {
        self.request.url()
    }
    fn version(&self) -> Option<&[u8]> {
        self.request.version()
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) {
        self.request.for_each_header(name, f)
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.request.for_each_field(f)
    }
    fn ssl_fc(&self) -> bool {
        self.request.ssl_fc()
    }
    fn ssl_fc_sni(&self) -> Option<&[u8]> {
        self.request.ssl_fc_sni()
    }
    fn ssl_fc_protocol(&self) -> Option<&[u8]> {
        self.request.ssl_fc_protocol()
    }
    fn ssl_fc_alpn(&self) -> Option<&[u8]> {
        self.request.ssl_fc_alpn()
    }
    fn ssl_c(&self) -> Option<&crate::tls::client_auth::ClientCert> {
        self.request.ssl_c()
    }
    fn fc_glitches(&self) -> Option<u32> {
        self.request.fc_glitches()
    }
    fn nbsrv(&self, backend: usize) -> u32 {
        self.request.nbsrv(backend)
    }
    fn stopping(&self) -> bool {
        self.request.stopping()
    }
    fn stick(&self) -> Option<&dyn super::StickSource> {
        self.request.stick
    }
    fn vars(&self) -> super::Vars<'_> {
        self.request.vars()
    }
    fn strm(&self) -> Option<super::Strm<'_>> {
        self.request.strm
    }
    fn listener(&self) -> Option<&super::ListenerInfo> {
        self.request.listener()
    }
    fn fc_fd(&self) -> Option<std::os::fd::RawFd> {
        self.request.conn.fd
    }
    fn fc_http_major(&self) -> Option<i64> {
        self.request.fc_http_major()
    }
    fn http_first_req(&self) -> Option<bool> {
        self.request.http_first_req()
    }
    fn captured_request(&self) -> Option<(&[u8], &[u8])> {
        self.request.captured_request()
    }
    fn status(&self) -> Option<u16> {
        if self.pending {
            return None;
        }
        Some(match self.fields.edits.status {
            Some((s, _)) => s,
            None => self.fields.head.status(),
        })
    }
    fn response(&self) -> Option<&dyn Sample> {
        if self.pending {
            return None;
        }
        Some(&self.fields)
    }
    fn content(&self) -> Option<super::Content<'_>> {
        let n = self.htx_len?;
        Some(super::Content {
            data: &[],
            last: !self.pending,
            http_pending: self.pending,
            response: true,
            htx_len: Some(n),
        })
    }
}
