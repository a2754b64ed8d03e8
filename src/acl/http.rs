//! HAProxy's derivations of request parts, over byte slices and without allocating: the path
//! and query of a request-target, URL parameters, comma-separated header elements and
//! cookies. Each follows the HAProxy function named in its doc (src/http.c, src/http_htx.c,
//! src/http_fetch.c of 2.6), including its quirks, which the differential tests pin down.

/// HAProxy's `http_get_path`: from the first `/` after an optional `scheme://authority`, to
/// the end (query included). `None` for `*`, for an authority-form target, and for an
/// absolute URI without a path (`http://h`); HAProxy's `path` fetch then finds nothing.
pub(crate) fn uri_path(uri: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    let first = *uri.first()?;
    if first == b'*' {
        return None;
    }
    if first.is_ascii_alphabetic() {
        i = 1;
        while i < uri.len()
            && (uri[i].is_ascii_alphanumeric() || matches!(uri[i], b'+' | b'-' | b'.'))
        {
            i += 1;
        }
        for want in [b':', b'/', b'/'] {
            if uri.get(i) != Some(&want) {
                return None;
            }
            i += 1;
        }
    }
    let slash = memchr::memchr(b'/', &uri[i..])?;
    Some(&uri[i + slash..])
}

/// The `path` fetch: [`uri_path`] up to the first `?`.
pub(crate) fn path(uri: &[u8]) -> Option<&[u8]> {
    let p = uri_path(uri)?;
    Some(match memchr::memchr(b'?', p) {
        Some(q) => &p[..q],
        None => p,
    })
}

/// The `query` fetch: everything after the first `?` of the target (possibly empty); `None`
/// without a `?`.
pub(crate) fn query(uri: &[u8]) -> Option<&[u8]> {
    memchr::memchr(b'?', uri).map(|q| &uri[q + 1..])
}

fn is_param_delimiter(c: u8, delim: u8) -> bool {
    c == b'&' || c == b';' || c == delim
}

/// HAProxy's `url_param(name[,delim])` occurrences, in order: the parameters start after the
/// first `delim` (`?` by default) of the target and are separated by `&`, `;` or `delim`.
/// A named parameter must be followed by `=` (`?a&b` has no parameter `a`), its value runs to
/// the next delimiter; an empty `name` takes the value after each `=`. Names are
/// case-sensitive and values are not decoded. `f` returns false to stop.
pub(crate) fn url_params(uri: &[u8], name: &[u8], delim: u8, f: &mut dyn FnMut(&[u8]) -> bool) {
    let Some(start) = memchr::memchr(delim, uri) else {
        return;
    };
    let qs = &uri[start + 1..];
    let end = qs.len();
    let mut pos = 0;
    loop {
        // http_find_next_url_param
        let value_start = if name.is_empty() {
            match memchr::memchr(b'=', &qs[pos..]) {
                Some(eq) => pos + eq + 1,
                None => return,
            }
        } else {
            // http_find_url_param_pos
            let mut found = None;
            while pos < end {
                let equal = pos + name.len();
                if equal >= end {
                    return;
                }
                if qs[equal] == b'=' {
                    if &qs[pos..equal] == name {
                        found = Some(pos);
                        break;
                    }
                    pos = equal + 1;
                }
                while pos < end && !is_param_delimiter(qs[pos], delim) {
                    pos += 1;
                }
                if pos >= end {
                    return;
                }
                pos += 1;
            }
            match found {
                Some(p) => p + name.len() + 1,
                None => return,
            }
        };
        let mut value_end = value_start;
        while value_end < end && !is_param_delimiter(qs[value_end], delim) {
            value_end += 1;
        }
        if !f(&qs[value_start..value_end]) {
            return;
        }
        if value_end >= end {
            return;
        }
        pos = value_end;
    }
}

/// The end of a list element or a cookie value: the first `stop` byte outside a quoted
/// string, honouring backslash escapes inside quotes (HAProxy's `http_find_hdr_value_end`
/// with `stop` = `,`, and `http_find_cookie_value_end` with `,` and `;`). memchr jumps to
/// the next interesting byte, so long values cost little.
fn value_end(s: &[u8], stop: &[u8]) -> usize {
    let mut i = 0;
    loop {
        // Outside quotes: the next stop byte or opening quote.
        let next = match stop {
            [a] => memchr::memchr2(*a, b'"', &s[i..]),
            [a, b, ..] => memchr::memchr3(*a, *b, b'"', &s[i..]),
            [] => memchr::memchr(b'"', &s[i..]),
        };
        let Some(n) = next else { return s.len() };
        i += n;
        if s[i] != b'"' {
            return i;
        }
        // Inside quotes: skip to the closing quote, past escaped pairs.
        i += 1;
        loop {
            match memchr::memchr2(b'"', b'\\', &s[i..]) {
                None => return s.len(),
                Some(n) if s[i + n] == b'\\' => i += n + 2,
                Some(n) => {
                    i += n + 1;
                    break;
                }
            }
            if i >= s.len() {
                return s.len();
            }
        }
    }
}

fn element_end(s: &[u8]) -> usize {
    value_end(s, b",")
}

fn trim_spht(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The comma-separated elements of one field value, as HAProxy's `hdr()` sees them: split at
/// commas outside quotes, each trimmed of blanks; empty elements count (`a,` has two, and
/// an empty value has one). `f` returns false to stop; the result says whether it did.
pub(crate) fn for_each_element(value: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
    let mut rest = value;
    loop {
        let e = element_end(rest);
        if !f(trim_spht(&rest[..e])) {
            return false;
        }
        if e == rest.len() {
            return true;
        }
        rest = &rest[e + 1..];
    }
}

/// Every element of every field `name` (all fields if `name` is empty), in order.
pub(crate) fn for_each_header_element(
    s: &dyn super::Sample,
    name: &[u8],
    f: &mut dyn FnMut(&[u8]) -> bool,
) {
    s.for_each_header(name, &mut |v| for_each_element(v, f));
}

fn cookie_value_end(s: &[u8]) -> usize {
    value_end(s, b",;")
}

/// HAProxy's `http_extract_cookie_value` over one Cookie element, calling `f` with the value
/// of each cookie called `name` (any cookie if `name` is empty). Its quirks are kept: a
/// cookie is only looked for while more than `name.len() + 1` bytes remain, so an empty
/// cookie at the very end (`a=1; s=`) is not found; cookies without `=` and `$attributes`
/// are skipped; values keep their quotes. In a Set-Cookie element (`list` false) commas do
/// not end a name, and the search stops at the first pair (`$attributes` and pairs without
/// `=` skipped) that is not the cookie: HAProxy looks again after each match, so
/// `SID=1; Path=/` holds one `SID` and, for an empty name, two cookies.
fn cookies_in(hdr: &[u8], name: &[u8], list: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
    let end = hdr.len();
    let mut att_beg = 0;
    while att_beg + name.len() + 1 < end {
        while att_beg < end && matches!(hdr[att_beg], b' ' | b'\t') {
            att_beg += 1;
        }
        let mut equal = att_beg;
        let mut att_end = att_beg;
        while equal < end {
            let c = hdr[equal];
            if c == b'=' || c == b';' || (list && c == b',') {
                break;
            }
            equal += 1;
            if !matches!(c, b' ' | b'\t') {
                att_end = equal;
            }
        }
        let (val_beg, val_end, next);
        if equal < end && hdr[equal] == b'=' {
            let mut vb = equal + 1;
            while vb < end && matches!(hdr[vb], b' ' | b'\t') {
                vb += 1;
            }
            let n = vb + cookie_value_end(&hdr[vb..]);
            let mut ve = n;
            while ve > vb && matches!(hdr[ve - 1], b' ' | b'\t') {
                ve -= 1;
            }
            (val_beg, val_end, next) = (vb, ve, n);
        } else {
            (val_beg, val_end, next) = (equal, equal, equal);
        }
        let skip = hdr.get(att_beg) == Some(&b'$') || equal == next;
        if !skip {
            if name.is_empty() || &hdr[att_beg..att_end] == name {
                if !f(&hdr[val_beg..val_end]) {
                    return false;
                }
            } else if !list {
                break;
            }
        }
        att_beg = next + 1;
    }
    true
}

/// Every value of cookie `name` (any cookie if empty) in the Cookie fields (the Set-Cookie
/// fields of a response: [`Sample::is_response`]), in order. Like HAProxy, the values are
/// first split into comma-separated elements, and elements too short to hold `name=` are
/// skipped.
pub(crate) fn for_each_cookie(
    s: &dyn super::Sample,
    name: &[u8],
    f: &mut dyn FnMut(&[u8]) -> bool,
) {
    let list = !s.is_response();
    let field: &[u8] = if list { b"cookie" } else { b"set-cookie" };
    for_each_header_element(s, field, &mut |elem| {
        if elem.len() < name.len() + 1 {
            return true;
        }
        cookies_in(elem, name, list, f)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_like_http_get_path() {
        assert_eq!(path(b"/a/b?x=1"), Some(&b"/a/b"[..]));
        assert_eq!(path(b"http://h:80/a/b?x"), Some(&b"/a/b"[..]));
        // HAProxy 2.6: `path -m found` is false for `http://h` and for `*`.
        assert_eq!(path(b"http://h"), None);
        assert_eq!(path(b"*"), None);
        assert_eq!(path(b"example.com:443"), None);
        assert_eq!(path(b"/"), Some(&b"/"[..]));
        assert_eq!(path(b"/?a"), Some(&b"/"[..]));
        assert_eq!(path(b""), None);
        // The scheme must be followed by `://`.
        assert_eq!(path(b"http:/x"), None);
        assert_eq!(uri_path(b"https://h/p?q"), Some(&b"/p?q"[..]));
    }

    #[test]
    fn queries() {
        assert_eq!(query(b"/x?a=1"), Some(&b"a=1"[..]));
        assert_eq!(query(b"/x?"), Some(&b""[..]));
        assert_eq!(query(b"/x"), None);
    }

    fn params(uri: &str, name: &str, delim: u8) -> Vec<String> {
        let mut v = Vec::new();
        url_params(uri.as_bytes(), name.as_bytes(), delim, &mut |p| {
            v.push(String::from_utf8_lossy(p).into_owned());
            true
        });
        v
    }

    #[test]
    fn url_params_like_haproxy() {
        // Observed on HAProxy 2.6 with `/p?a=1&b&a=2;c=3`: url_param(a) is 1, b and c
        // (no '=') are not found.
        let u = "/p?a=1&b&a=2;c=3";
        assert_eq!(params(u, "a", b'?'), ["1", "2"]);
        assert!(params(u, "b", b'?').is_empty());
        assert_eq!(params(u, "c", b'?'), ["3"]);
        assert!(params(u, "A", b'?').is_empty());
        assert_eq!(params("/x?y=", "y", b'?'), [""]);
        // Empty name: the value after each '='.
        assert_eq!(params("/?x&y=&=1&z=2;z=3", "", b'?'), ["", "1", "2", "3"]);
        // A delimiter argument also starts the list.
        assert_eq!(params("/p/q=1/r?x", "q", b'/'), ["1"]);
        assert!(params("/nothing", "a", b'?').is_empty());
        // A name must start a parameter.
        assert!(params("/?xa=1", "a", b'?').is_empty());
        assert_eq!(params("/?a==1", "a", b'?'), ["=1"]);
    }

    fn elements(v: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_element(v.as_bytes(), &mut |e| {
            out.push(String::from_utf8_lossy(e).into_owned());
            true
        });
        out
    }

    #[test]
    fn header_elements_like_haproxy() {
        // HAProxy 2.6: hdr_cnt is 2 for "a,", 2 for ",b", 3 for "a, ,", 1 for an empty
        // value, 1 for "\"x\\\",y\"", 4 for "\"a,b\", c,,d".
        assert_eq!(elements("a,"), ["a", ""]);
        assert_eq!(elements(",b"), ["", "b"]);
        assert_eq!(elements("a, ,"), ["a", "", ""]);
        assert_eq!(elements(""), [""]);
        assert_eq!(elements(r#""x\",y""#), [r#""x\",y""#]);
        assert_eq!(elements(r#""a,b", c,,d"#), [r#""a,b""#, "c", "", "d"]);
        assert_eq!(elements(" v1 ,\tv2"), ["v1", "v2"]);
        assert_eq!(
            elements(r#""a\\"#),
            [r#""a\\"#],
            "an escape at the very end"
        );
        assert_eq!(elements(r#""unterminated, x"#), [r#""unterminated, x"#]);
        assert_eq!(
            elements(r#"a"b,c"d,e"#),
            [r#"a"b,c"d"#, "e"],
            "quotes mid-element"
        );
    }

    /// HAProxy's byte-by-byte loop, as the reference for the memchr version.
    fn reference_end(s: &[u8], stop: &[u8]) -> usize {
        let (mut quoted, mut qdpair) = (false, false);
        for (i, &c) in s.iter().enumerate() {
            if qdpair {
                qdpair = false;
            } else if quoted {
                if c == b'\\' {
                    qdpair = true;
                } else if c == b'"' {
                    quoted = false;
                }
            } else if c == b'"' {
                quoted = true;
            } else if stop.contains(&c) {
                return i;
            }
        }
        s.len()
    }

    #[test]
    fn value_end_matches_haproxy_loop_exhaustively() {
        let alphabet = [b'a', b',', b'"', b'\\', b';'];
        let mut s = Vec::new();
        for len in 0..=7u32 {
            for mut n in 0..alphabet.len().pow(len) {
                s.clear();
                for _ in 0..len {
                    s.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                for stop in [&b","[..], b",;"] {
                    assert_eq!(
                        value_end(&s, stop),
                        reference_end(&s, stop),
                        "{s:?} {stop:?}"
                    );
                }
            }
        }
    }

    fn cookies(elem: &str, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        cookies_in(elem.as_bytes(), name.as_bytes(), true, &mut |v| {
            out.push(String::from_utf8_lossy(v).into_owned());
            true
        });
        out
    }

    #[test]
    fn cookies_like_haproxy() {
        assert_eq!(cookies("s=1; t=2", "s"), ["1"]);
        assert_eq!(cookies("s=1; t=2", "t"), ["2"]);
        assert_eq!(cookies("s=1; t=2", ""), ["1", "2"]);
        assert_eq!(cookies(" s = 1 ;x", "s"), ["1"]);
        assert_eq!(cookies("q=\"x y\"", "q"), ["\"x y\""]);
        assert_eq!(cookies("flag; s=1", "s"), ["1"]);
        assert_eq!(cookies("$Path=/; s=1", ""), ["1"]);
        assert_eq!(cookies("s=;t=1", "s"), [""]);
        // HAProxy 2.6 did not find `cook(s) -m len 0` in "s=, u=4": an empty cookie at the end
        // of an element is skipped by http_extract_cookie_value's loop bound.
        assert!(cookies("s=", "s").is_empty());
        assert!(cookies("ss=1", "s").is_empty());
    }
}

/// The data of the chunked body `b` (as far as it is there): chunk sizes, extensions and
/// trailers left out, a chunk cut by the buffer's end kept as far as it goes.
pub(crate) fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = memchr::memmem::find(b, b"\r\n") {
        let size = b[..eol].split(|&c| c == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size).unwrap_or("").trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        let data = &b[eol + 2..];
        out.extend_from_slice(&data[..n.min(data.len())]);
        match data.get(n + 2..) {
            Some(rest) => b = rest,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod dechunk_tests {
    #[test]
    fn chunks_are_joined_and_a_cut_one_kept() {
        assert_eq!(
            super::dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"),
            b"abcde"
        );
        assert_eq!(super::dechunk(b"5\r\nab"), b"ab");
        assert_eq!(super::dechunk(b""), b"");
    }
}
