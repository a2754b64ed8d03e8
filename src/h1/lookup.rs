//! Lookups the ACL and balancing layers need (`hdr`, `fhdr`, `req.cook`, `url_param`, `path`,
//! `query`, `host`), without allocating: each returns slices of the read buffer or an
//! iterator over them.
//!
//! The free functions work on any value, so the same code serves received fields
//! ([`RequestHead`]) and fields as edited by earlier rules ([`Edits::headers`]).
//!
//! [`Edits::headers`]: super::Edits::headers

use super::head::{HeaderField, KnownHeader, split_list, trim_ows};
use super::request::RequestHead;

/// HAProxy's `hdr()` splitting: the comma-separated elements of a field value, trimmed of
/// blanks. Quotes are not honoured, as in HAProxy (use the full value, `fhdr()`, for fields
/// like Date or User-Agent).
pub fn split_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    split_list(value)
}

/// The `name=value` pairs of a Cookie field value (RFC 6265 §4.2: separated by `;`), names
/// and values trimmed of blanks; values keep any quotes. Pieces without `=` are skipped.
pub fn cookie_pairs(value: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    value.split(|&b| b == b';').filter_map(|piece| {
        let eq = memchr::memchr(b'=', piece)?;
        Some((trim_ows(&piece[..eq]), trim_ows(&piece[eq + 1..])))
    })
}

/// The value of the first query parameter `name` (case-sensitive), HAProxy's `url_param`:
/// parameters are separated by `&` or `;`, a parameter without `=` has an empty value, and
/// the value is returned as sent (not percent-decoded). An empty `name` matches the first
/// parameter.
pub fn find_url_param<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query
        .split(|&b| b == b'&' || b == b';')
        .filter(|p| !p.is_empty())
        .find_map(|p| {
            let (n, v) = match memchr::memchr(b'=', p) {
                Some(eq) => (&p[..eq], &p[eq + 1..]),
                None => (p, &p[p.len()..]),
            };
            (name.is_empty() || n == name).then_some(v)
        })
}

impl RequestHead {
    /// Values of every received field called `name` (case-insensitive), in order; merged
    /// duplicates are not repeated. HAProxy's `fhdr()`/`req.fhdr()` occurrences.
    pub fn header_values<'s, 'b: 's>(
        &'s self,
        buf: &'b [u8],
        name: &'s [u8],
    ) -> impl Iterator<Item = &'b [u8]> + 's {
        fields_named(&self.headers, buf, name).map(move |f| f.value.get(buf))
    }

    /// HAProxy's `hdr()` occurrences: every comma-separated element of every field `name`.
    pub fn header_elements<'s, 'b: 's>(
        &'s self,
        buf: &'b [u8],
        name: &'s [u8],
    ) -> impl Iterator<Item = &'b [u8]> + 's {
        self.header_values(buf, name).flat_map(split_elements)
    }

    /// The first value of field `name`.
    pub fn header<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        fields_named(&self.headers, buf, name)
            .next()
            .map(|f| f.value.get(buf))
    }

    /// HAProxy's `req.cook(name)`: the value of the last cookie called `name` (case-sensitive)
    /// in the Cookie fields.
    pub fn cookie<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        self.cookies(buf)
            .filter(|(n, _)| *n == name)
            .last()
            .map(|(_, v)| v)
    }

    /// Every `(name, value)` cookie of the Cookie fields, in order.
    pub fn cookies<'s, 'b: 's>(
        &'s self,
        buf: &'b [u8],
    ) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + 's {
        self.headers
            .iter()
            .filter(|f| f.known == KnownHeader::Cookie)
            .flat_map(move |f| cookie_pairs(f.value.get(buf)))
    }

    /// HAProxy's `url_param(name)`: the first query parameter `name`.
    pub fn url_param<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        find_url_param(self.query(buf)?, name)
    }
}

fn fields_named<'s>(
    fields: &'s [HeaderField],
    buf: &'s [u8],
    name: &'s [u8],
) -> impl Iterator<Item = &'s HeaderField> + 's {
    fields.iter().filter(move |f| !f.dropped && f.is(buf, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params() {
        let q = b"a=1&b=&c&d=4;e=5&a=6";
        assert_eq!(find_url_param(q, b"a"), Some(&b"1"[..]));
        assert_eq!(find_url_param(q, b"b"), Some(&b""[..]));
        assert_eq!(find_url_param(q, b"c"), Some(&b""[..]));
        assert_eq!(find_url_param(q, b"e"), Some(&b"5"[..]));
        assert_eq!(find_url_param(q, b"A"), None);
        assert_eq!(find_url_param(q, b"x"), None);
        assert_eq!(find_url_param(q, b""), Some(&b"1"[..]));
        assert_eq!(find_url_param(b"", b"a"), None);
    }

    #[test]
    fn cookie_value_pairs() {
        let pairs: Vec<_> = cookie_pairs(b"a=1; b = \"x y\" ;flag; c=").collect();
        assert_eq!(
            pairs,
            vec![
                (&b"a"[..], &b"1"[..]),
                (&b"b"[..], &b"\"x y\""[..]),
                (&b"c"[..], &b""[..])
            ]
        );
    }

    #[test]
    fn elements() {
        let e: Vec<_> = split_elements(b" a, b ,,c").collect();
        assert_eq!(e, vec![&b"a"[..], b"b", b"", b"c"]);
    }
}
