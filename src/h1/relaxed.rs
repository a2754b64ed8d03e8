//! `option accept-invalid-http-request` / `accept-invalid-http-response`: HAProxy's relaxed
//! parser takes any byte but CR, LF and the colon in a field name (`X{a}`, `Bad Name`, a
//! control or non-ASCII byte), where the strict parser answers 400 (502 for a server).
//!
//! httparse has no such mode, so the head is parsed a second time, from a copy in which
//! every such byte of a field name reads `!` (a `tchar` that no header corelb knows
//! contains): the copy has the original's length and layout, so the spans found in it
//! point at the received bytes, which are what is forwarded. Only a head the strict parse
//! refused takes this path.

use super::diagnose::skip_empty_lines;
use super::head::is_tchar;

/// A copy of `buf` with the invalid bytes of its field names masked, or `None` when there
/// are none (the head is refused for another reason).
pub(crate) fn mask_names(buf: &[u8]) -> Option<Vec<u8>> {
    let start = skip_empty_lines(buf);
    let mut i = start + memchr::memchr(b'\n', &buf[start..])? + 1;
    let mut out: Option<Vec<u8>> = None;
    while i < buf.len() {
        let end = memchr::memchr(b'\n', &buf[i..]).map_or(buf.len(), |n| i + n);
        let line = &buf[i..end];
        if line.is_empty() || line == b"\r" {
            break;
        }
        // A line that starts with a blank is obs-fold: refused as before.
        if !matches!(line[0], b' ' | b'\t')
            && let Some(colon) = memchr::memchr(b':', line)
        {
            for (j, &b) in line[..colon].iter().enumerate() {
                if !is_tchar(b) && b != b'\r' {
                    out.get_or_insert_with(|| buf.to_vec())[i + j] = b'!';
                }
            }
        }
        i = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_invalid_bytes_of_names_are_masked() {
        let head =
            b"GET /{x} HTTP/1.1\r\nX{a}: v{}\r\nBad Name: 1\r\n fold\r\nOk: 2\r\n\r\nX{b}: body";
        let m = mask_names(head).unwrap();
        assert_eq!(
            m,
            b"GET /{x} HTTP/1.1\r\nX!a!: v{}\r\nBad!Name: 1\r\n fold\r\nOk: 2\r\n\r\nX{b}: body"
        );
        assert_eq!(mask_names(b"GET / HTTP/1.1\r\nA: b\r\n\r\n"), None);
        assert_eq!(mask_names(b"GET / HTTP/1.1"), None);
    }
}
