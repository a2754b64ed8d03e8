//! Writing heads out: the received head with [`Edits`] applied, straight into the proxy's
//! output buffer.
//!
//! Unchanged pieces are copied from the read buffer in one `extend_from_slice` each (the
//! request line, each untouched field line from its name to the end of its value); only
//! edited pieces are assembled. Every line is written with CRLF whatever the client used,
//! merged duplicates are left out, and Content-Length is written as plain digits (a received
//! `5, 5` or `005` goes out as `5`), so the next hop cannot read the framing differently.
//! `out` only allocates if its capacity is too small for the head.

use super::edit::{ConnectionHeader, Edits, FieldSource, field_line};
use super::head::{HeaderField, KnownHeader, split_list};
use super::request::{RequestHead, TargetForm};
use super::response::ResponseHead;

/// Write `head` (parsed from `buf`) with `edits` applied to `out`, request line to the empty
/// line. Returns the bytes written.
pub fn serialize_request<const N: usize>(
    head: &RequestHead,
    buf: &[u8],
    edits: &Edits<'_, N>,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    out.reserve(head.head_len() + 128);
    write_request_line(head, buf, edits, out);
    // In origin-form the authority is lost, so a request that carried it only in the target
    // (HTTP/1.0, or HTTP/1.1 without Host) gets a Host field from it (RFC 9112 §3.2.2).
    let converted = edits.origin_form
        && edits.uri.is_none()
        && head.target_form() == TargetForm::Absolute
        && !head.headers().iter().any(|f| f.known == KnownHeader::Host);
    let ctx = FieldContext {
        fields: head.headers(),
        content_length: head.content_length(),
        connection_other: head.connection().other,
        host: if converted { head.authority(buf) } else { None },
    };
    write_fields(&ctx, buf, edits, out);
    out.len() - start
}

/// Write `head` (parsed from `buf`) with `edits` applied to `out`, status line to the empty
/// line. Returns the bytes written.
pub fn serialize_response<const N: usize>(
    head: &ResponseHead,
    buf: &[u8],
    edits: &Edits<'_, N>,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    out.reserve(head.head_len() + 128);
    match edits.status {
        Some((status, reason)) => {
            out.extend_from_slice(head.version().as_bytes());
            out.push(b' ');
            write_u64(out, u64::from(status));
            out.push(b' ');
            out.extend_from_slice(edits.resolve(reason));
        }
        None => out.extend_from_slice(head.status_line().get(buf)),
    }
    out.extend_from_slice(b"\r\n");
    let ctx = FieldContext {
        fields: head.headers(),
        content_length: head.content_length(),
        connection_other: head.connection().other,
        host: None,
    };
    write_fields(&ctx, buf, edits, out);
    out.len() - start
}

fn write_request_line<const N: usize>(
    head: &RequestHead,
    buf: &[u8],
    edits: &Edits<'_, N>,
    out: &mut Vec<u8>,
) {
    let absolute = head.target_form() == TargetForm::Absolute;
    let target_edited = edits.uri.is_some()
        || edits.path.is_some()
        || edits.query.is_some()
        || (edits.origin_form && absolute);
    if edits.method.is_none() && !target_edited {
        out.extend_from_slice(head.request_line().get(buf));
        out.extend_from_slice(b"\r\n");
        return;
    }
    match edits.method {
        Some(m) => out.extend_from_slice(edits.resolve(m)),
        None => out.extend_from_slice(head.method_bytes(buf)),
    }
    out.push(b' ');
    if let Some(uri) = edits.uri {
        out.extend_from_slice(edits.resolve(uri));
    } else if !target_edited {
        out.extend_from_slice(head.target(buf));
    } else {
        let origin_form = !absolute || edits.origin_form;
        if !origin_form {
            // Keep "scheme://authority" before the path.
            let target = head.target_span();
            out.extend_from_slice(&buf[target.start()..head.path_span().start()]);
        }
        let path = match edits.path {
            Some(p) => edits.resolve(p),
            None => head.path(buf),
        };
        if path.is_empty() && origin_form && head.target_form() != TargetForm::Asterisk {
            out.push(b'/');
        }
        out.extend_from_slice(path);
        let query = match edits.query {
            Some(q) => q.map(|q| edits.resolve(q)),
            None => head.query(buf),
        };
        if let Some(q) = query {
            out.push(b'?');
            out.extend_from_slice(q);
        }
    }
    out.push(b' ');
    out.extend_from_slice(head.version().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// What the field writer needs from either kind of head.
struct FieldContext<'h> {
    fields: &'h [HeaderField],
    content_length: Option<u64>,
    connection_other: bool,
    /// A Host value to add (origin-form conversion of a request without Host).
    host: Option<&'h [u8]>,
}

fn write_fields<const N: usize>(
    ctx: &FieldContext<'_>,
    buf: &[u8],
    edits: &Edits<'_, N>,
    out: &mut Vec<u8>,
) {
    let upgrading = edits.connection == ConnectionHeader::Upgrade;
    let replace_connection = edits.connection != ConnectionHeader::Unchanged;
    for h in edits.headers(ctx.fields, buf) {
        if let FieldSource::Received(i) = h.origin {
            let f = &ctx.fields[i];
            if edits.strip_hop_by_hop
                && (f.known.is_hop_by_hop(upgrading)
                    || (ctx.connection_other && named_by_connection(ctx.fields, buf, f)))
            {
                continue;
            }
            if replace_connection && f.known == KnownHeader::Connection {
                continue;
            }
            if let (KnownHeader::ContentLength, Some(n)) = (f.known, ctx.content_length) {
                write_content_length(out, f, buf, n);
                continue;
            }
            // Framing fields go out as received, whatever a replace rule said: the body is
            // forwarded unchanged.
            if h.unchanged || f.known == KnownHeader::TransferEncoding {
                out.extend_from_slice(field_line(f).get(buf));
                out.extend_from_slice(b"\r\n");
                continue;
            }
        }
        out.extend_from_slice(h.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(host) = ctx.host {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host);
        out.extend_from_slice(b"\r\n");
    }
    let connection: &[u8] = match edits.connection {
        ConnectionHeader::Close => b"Connection: close\r\n",
        ConnectionHeader::KeepAlive => b"Connection: keep-alive\r\n",
        ConnectionHeader::Upgrade => b"Connection: upgrade\r\n",
        ConnectionHeader::Unchanged | ConnectionHeader::Remove => b"",
    };
    out.extend_from_slice(connection);
    out.extend_from_slice(b"\r\n");
}

/// Content-Length as plain digits: the received line when it already is, else rewritten.
fn write_content_length(out: &mut Vec<u8>, f: &HeaderField, buf: &[u8], n: u64) {
    let value = f.value.get(buf);
    let mut digits = [0u8; 20];
    let canonical = format_u64(&mut digits, n);
    if value == canonical {
        out.extend_from_slice(field_line(f).get(buf));
    } else {
        out.extend_from_slice(f.name.get(buf));
        out.extend_from_slice(b": ");
        out.extend_from_slice(canonical);
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a Connection option names field `f` (RFC 9110 §7.6.1), which then goes when
/// hop-by-hop fields are stripped. Host and the framing fields are never dropped this way:
/// `Connection: Content-Length` is an attack on the next hop's framing, not a hop-by-hop
/// declaration.
fn named_by_connection(fields: &[HeaderField], buf: &[u8], f: &HeaderField) -> bool {
    if matches!(
        f.known,
        KnownHeader::Host | KnownHeader::ContentLength | KnownHeader::TransferEncoding
    ) {
        return false;
    }
    let name = f.name.get(buf);
    fields
        .iter()
        .filter(|c| c.known == KnownHeader::Connection)
        .flat_map(|c| split_list(c.value.get(buf)))
        .any(|token| token.eq_ignore_ascii_case(name))
}

/// Decimal digits of `n` in `digits`, returned as a slice of it.
pub(crate) fn format_u64(digits: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    out.extend_from_slice(format_u64(&mut digits, n));
}

/// `h1-case-adjust`: respells in place the field names of a serialized head (start line,
/// fields, empty line; what follows it is left alone) for which `spelling` has one. A
/// spelling differs from the name in case only, so the head keeps its length.
pub fn adjust_name_case<'m>(head: &mut [u8], spelling: impl Fn(&[u8]) -> Option<&'m [u8]>) {
    let Some(first) = memchr::memchr(b'\n', head) else {
        return;
    };
    let mut i = first + 1;
    while i < head.len() {
        let end = memchr::memchr(b'\n', &head[i..]).map_or(head.len(), |n| i + n);
        let line = &head[i..end];
        if line.is_empty() || line == b"\r" {
            return;
        }
        if let Some(colon) = memchr::memchr(b':', line)
            && let Some(to) = spelling(&line[..colon])
            && to.len() == colon
        {
            head[i..i + colon].copy_from_slice(to);
        }
        i = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        let mut d = [0u8; 20];
        assert_eq!(format_u64(&mut d, 0), b"0");
        assert_eq!(format_u64(&mut d, 1234), b"1234");
        assert_eq!(format_u64(&mut d, u64::MAX), b"18446744073709551615");
    }
}
