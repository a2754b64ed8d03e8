//! Turning httparse's coarse errors into the precise [`ErrorKind`]s the proxy logs.
//!
//! httparse says only which token class failed (`Token`, `Version`, `HeaderName`, …) and not
//! where. This runs only after httparse has rejected a head — never on the hot path — and
//! re-walks the start line and field lines to name the first problem and its offset. When it
//! cannot find one (which would mean it and httparse disagree), it falls back to a kind
//! derived from httparse's error, so a rejection is never turned into an acceptance here.

use super::error::ErrorKind;
use super::head::{is_field_vchar, is_tchar};

/// Offset of the first byte after the empty lines httparse skips before a start line (CRLF
/// or bare LF pairs).
pub(crate) fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => i += 1,
            _ => return i,
        }
    }
}

/// The line starting at `start`: its content without the line terminator, the offset after
/// the terminator, or `None` for the terminator when the line is not complete yet.
fn line_at(buf: &[u8], start: usize) -> (&[u8], Option<usize>) {
    let rest = &buf[start.min(buf.len())..];
    match memchr::memchr(b'\n', rest) {
        Some(lf) => {
            let content = &rest[..lf];
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            (content, Some(start + lf + 1))
        }
        None => (rest, None),
    }
}

/// Whether `v` is (a prefix of, if `complete` is false) `HTTP/DIGIT.DIGIT`.
fn version_shaped(v: &[u8], complete: bool) -> bool {
    if v.len() > 8 || (complete && v.len() != 8) {
        return false;
    }
    v.iter().enumerate().all(|(i, &b)| match i {
        0..=4 => b == b"HTTP/"[i],
        5 | 7 => b.is_ascii_digit(),
        _ => b == b'.',
    })
}

/// Diagnose a request httparse rejected.
pub(crate) fn request(buf: &[u8], err: httparse::Error) -> (ErrorKind, usize) {
    if err == httparse::Error::TooManyHeaders {
        return (ErrorKind::TooManyHeaders, buf.len());
    }
    let start = skip_empty_lines(buf);
    let (line, next) = line_at(buf, start);
    let complete = next.is_some();
    if let Some(found) = request_line(line, start, complete) {
        return found;
    }
    match next {
        Some(next) => fields(buf, next, err),
        None => (fallback(err), start),
    }
}

/// The first problem in a request line, if any. `line` excludes the terminator.
fn request_line(line: &[u8], start: usize, complete: bool) -> Option<(ErrorKind, usize)> {
    if let Some(cr) = memchr::memchr(b'\r', line) {
        return Some((ErrorKind::InvalidLineEnding, start + cr));
    }
    let method_len = line.iter().take_while(|&&b| is_tchar(b)).count();
    if method_len == 0 {
        return Some((ErrorKind::InvalidMethod, start));
    }
    match line.get(method_len) {
        Some(b' ') => {}
        // "GET\r\n": a method and nothing else.
        None if complete => return Some((ErrorKind::InvalidTarget, start + method_len)),
        None => return None,
        Some(_) => return Some((ErrorKind::InvalidMethod, start + method_len)),
    }
    let target_start = method_len + 1;
    let rest = &line[target_start..];
    let target_len = rest.iter().take_while(|&&b| b != b' ').count();
    if target_len == 0 {
        return Some((ErrorKind::InvalidTarget, start + target_start));
    }
    // Visible ASCII only: httparse refuses controls and DEL, and corelb refuses non-ASCII
    // (HAProxy does too, unless told to accept invalid requests).
    if let Some(bad) = rest[..target_len]
        .iter()
        .position(|&b| !(0x21..0x7f).contains(&b))
    {
        return Some((ErrorKind::InvalidTarget, start + target_start + bad));
    }
    let Some(after_target) = rest.get(target_len + 1..) else {
        // No space after the target: a missing target ("GET HTTP/1.1"), HTTP/0.9
        // ("GET /"), or a target still arriving.
        let kind = if rest.starts_with(b"HTTP/") {
            ErrorKind::InvalidTarget
        } else {
            ErrorKind::InvalidVersion
        };
        return complete.then_some((kind, start + line.len()));
    };
    let version_start = target_start + target_len + 1;
    let version_len = after_target.iter().take_while(|&&b| b != b' ').count();
    let version = &after_target[..version_len];
    if version_len < after_target.len() {
        // Another space: either the target had a space in it ("GET /a b HTTP/1.1") or junk
        // follows a version ("GET / HTTP/1.1 x").
        return Some(if version_shaped(version, true) {
            (
                ErrorKind::InvalidVersion,
                start + version_start + version_len,
            )
        } else {
            (ErrorKind::InvalidTarget, start + version_start)
        });
    }
    if version == b"HTTP/1.0" || version == b"HTTP/1.1" {
        return None;
    }
    if version_shaped(version, complete) {
        // A prefix of HTTP/1.0 or HTTP/1.1 still arriving is not an error.
        if !complete && (b"HTTP/1.0".starts_with(version) || b"HTTP/1.1".starts_with(version)) {
            return None;
        }
        return Some((ErrorKind::UnsupportedVersion, start + version_start));
    }
    Some((ErrorKind::InvalidVersion, start + version_start))
}

/// Diagnose a response httparse rejected.
pub(crate) fn response(buf: &[u8], err: httparse::Error) -> (ErrorKind, usize) {
    if err == httparse::Error::TooManyHeaders {
        return (ErrorKind::TooManyHeaders, buf.len());
    }
    let start = skip_empty_lines(buf);
    match err {
        httparse::Error::Version | httparse::Error::Status | httparse::Error::Token => {
            return (ErrorKind::InvalidStatusLine, start);
        }
        _ => {}
    }
    let (line, next) = line_at(buf, start);
    if memchr::memchr(b'\r', line).is_some() {
        return (ErrorKind::InvalidStatusLine, start);
    }
    match next {
        Some(next) => fields(buf, next, err),
        None => (ErrorKind::InvalidStatusLine, start),
    }
}

/// The first problem in the field lines starting at `pos`.
fn fields(buf: &[u8], mut pos: usize, err: httparse::Error) -> (ErrorKind, usize) {
    while pos < buf.len() {
        let (line, next) = line_at(buf, pos);
        if let Some(found) = field_line(line, pos) {
            return found;
        }
        match next {
            // The empty line ends the head; httparse should not have failed before it.
            Some(_) if line.is_empty() => break,
            Some(next) => pos = next,
            None => break,
        }
    }
    (fallback(err), pos)
}

fn field_line(line: &[u8], pos: usize) -> Option<(ErrorKind, usize)> {
    if let Some(cr) = memchr::memchr(b'\r', line) {
        return Some((ErrorKind::InvalidLineEnding, pos + cr));
    }
    match line.first() {
        None => return None,
        Some(b' ' | b'\t') => return Some((ErrorKind::ObsFold, pos)),
        Some(b':') => return Some((ErrorKind::EmptyHeaderName, pos)),
        Some(_) => {}
    }
    let name_len = line.iter().take_while(|&&b| is_tchar(b)).count();
    match line.get(name_len) {
        Some(b':') => {}
        Some(b' ' | b'\t') => {
            let blanks = line[name_len..]
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            return Some(if line.get(name_len + blanks) == Some(&b':') {
                (ErrorKind::WhitespaceBeforeColon, pos + name_len)
            } else {
                (ErrorKind::InvalidHeaderName, pos + name_len)
            });
        }
        Some(_) => return Some((ErrorKind::InvalidHeaderName, pos + name_len)),
        // A line without a colon is only an error once it is complete; the caller passes
        // the partial last line too, where httparse may have failed on its name bytes.
        None => return Some((ErrorKind::InvalidHeaderName, pos + name_len)),
    }
    let value = &line[name_len + 1..];
    value
        .iter()
        .position(|&b| !is_field_vchar(b))
        .map(|bad| (ErrorKind::InvalidHeaderValue, pos + name_len + 1 + bad))
}

fn fallback(err: httparse::Error) -> ErrorKind {
    match err {
        httparse::Error::HeaderName => ErrorKind::InvalidHeaderName,
        httparse::Error::HeaderValue => ErrorKind::InvalidHeaderValue,
        httparse::Error::NewLine => ErrorKind::InvalidLineEnding,
        httparse::Error::Status => ErrorKind::InvalidStatusLine,
        httparse::Error::TooManyHeaders => ErrorKind::TooManyHeaders,
        httparse::Error::Version => ErrorKind::InvalidVersion,
        httparse::Error::Token => ErrorKind::InvalidTarget,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_shapes() {
        assert!(version_shaped(b"HTTP/2.0", true));
        assert!(version_shaped(b"HTTP/2", false));
        assert!(!version_shaped(b"HTTP/2", true));
        assert!(!version_shaped(b"http/1.1", true));
        assert!(!version_shaped(b"HTTP/1.10", false));
    }

    #[test]
    fn empty_lines() {
        assert_eq!(skip_empty_lines(b"\r\n\nGET"), 3);
        assert_eq!(skip_empty_lines(b"\r\rGET"), 0);
        assert_eq!(skip_empty_lines(b""), 0);
    }
}
