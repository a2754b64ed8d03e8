//! `http-request normalize-uri`: HAProxy 2.6's URI normalizers (its `uri_normalizer.c`), as
//! pure functions over the bytes of a path (or of a path and its query). Each returns the
//! normalized bytes, or [`Invalid`] where a `strict` normalizer finds a `%` that starts no
//! valid escape (HAProxy then answers 400).

/// A normalizer of `http-request normalize-uri`, with its option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriNormalizer {
    /// `fragment-encode`: each `#` of the path and query becomes `%23`.
    FragmentEncode,
    /// `fragment-strip`: what follows a `#` (and the `#`) goes.
    FragmentStrip,
    /// `path-merge-slashes`: `//` becomes `/` in the path.
    PathMergeSlashes,
    /// `path-strip-dot`: `.` segments of the path go.
    PathStripDot,
    /// `path-strip-dotdot [full]`: `seg/..` goes; `full` also drops the `/..` that would
    /// climb above the root.
    PathStripDotdot { full: bool },
    /// `percent-decode-unreserved [strict]`: `%XX` of an unreserved character (RFC 3986
    /// ALPHA DIGIT `-._~`) becomes the character, in the path and query.
    PercentDecodeUnreserved { strict: bool },
    /// `percent-to-uppercase [strict]`: the hex digits of `%xx` in uppercase, in the path
    /// and query.
    PercentToUppercase { strict: bool },
    /// `query-sort-by-name`: the query's `&`-separated parameters sorted by name (stable).
    QuerySortByName,
}

/// What part of the request-target a normalizer works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriPart {
    /// The path without the query.
    Path,
    /// The path and the query.
    PathQ,
    /// The query, from its `?` (nothing without one).
    Query,
}

/// A `%` that starts no valid escape, under a `strict` normalizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

impl UriNormalizer {
    /// Reads `NAME [OPTION]` as HAProxy's `parse_http_normalize_uri`: the normalizer and
    /// how many words it used, or HAProxy's error.
    pub fn parse(words: &[&str]) -> Result<(UriNormalizer, usize), String> {
        use UriNormalizer::*;
        let Some(&name) = words.first() else {
            return Err("missing argument <normalizer>".into());
        };
        let opt = words
            .get(1)
            .copied()
            .filter(|w| *w != "if" && *w != "unless");
        // The option word of those that take one: (normalizer without, with it).
        let with_option = |word: &str, without, with| match opt {
            None => Ok((without, 1)),
            Some(o) if o == word => Ok((with, 2)),
            Some(o) => Err(format!("unknown argument '{o}' for '{name}' normalizer")),
        };
        match name {
            "path-merge-slashes" => Ok((PathMergeSlashes, 1)),
            "path-strip-dot" => Ok((PathStripDot, 1)),
            "path-strip-dotdot" => with_option(
                "full",
                PathStripDotdot { full: false },
                PathStripDotdot { full: true },
            ),
            "query-sort-by-name" => Ok((QuerySortByName, 1)),
            "percent-to-uppercase" => with_option(
                "strict",
                PercentToUppercase { strict: false },
                PercentToUppercase { strict: true },
            ),
            "percent-decode-unreserved" => with_option(
                "strict",
                PercentDecodeUnreserved { strict: false },
                PercentDecodeUnreserved { strict: true },
            ),
            "fragment-strip" => Ok((FragmentStrip, 1)),
            "fragment-encode" => Ok((FragmentEncode, 1)),
            o => Err(format!("unknown normalizer '{o}'")),
        }
    }

    /// The part of the target this normalizer rewrites.
    pub fn part(self) -> UriPart {
        use UriNormalizer::*;
        match self {
            PathMergeSlashes | PathStripDot | PathStripDotdot { .. } => UriPart::Path,
            QuerySortByName => UriPart::Query,
            _ => UriPart::PathQ,
        }
    }

    /// The normalized bytes of `input` (the part [`UriNormalizer::part`] names).
    pub fn apply(self, input: &[u8]) -> Result<Vec<u8>, Invalid> {
        use UriNormalizer::*;
        Ok(match self {
            FragmentEncode => {
                let mut out = Vec::with_capacity(input.len() + 8);
                for &c in input {
                    if c == b'#' {
                        out.extend_from_slice(b"%23");
                    } else {
                        out.push(c);
                    }
                }
                out
            }
            FragmentStrip => {
                let end = memchr::memchr(b'#', input).unwrap_or(input.len());
                input[..end].to_vec()
            }
            PathMergeSlashes => {
                let mut out = Vec::with_capacity(input.len());
                for &c in input {
                    if !(c == b'/' && out.last() == Some(&b'/')) {
                        out.push(c);
                    }
                }
                out
            }
            PathStripDot => strip_dot(input),
            PathStripDotdot { full } => strip_dotdot(input, full),
            PercentDecodeUnreserved { strict } => percent(input, strict, true)?,
            PercentToUppercase { strict } => percent(input, strict, false)?,
            QuerySortByName => sort_query(input),
        })
    }
}

/// `path-strip-dot` (`uri_normalizer_path_dot`): the `/`-separated segments but `.`.
fn strip_dot(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut rest = path;
    while !rest.is_empty() {
        let (seg, more) = match memchr::memchr(b'/', rest) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if seg != b"." {
            out.extend_from_slice(seg);
            if more.is_some() {
                out.push(b'/');
            }
        }
        rest = more.unwrap_or(&[]);
    }
    out
}

/// `path-strip-dotdot` (`uri_normalizer_path_dotdot`): from the end, each `/../` removes the
/// segment before it; those left climb above the root and stay as `/..` unless `full`.
fn strip_dotdot(path: &[u8], full: bool) -> Vec<u8> {
    let mut rev: Vec<u8> = Vec::with_capacity(path.len());
    let mut off = path.len() as isize - 1;
    let mut up = 0;
    let at = |o: isize, s: &[u8]| o >= 0 && path[o as usize..].starts_with(s);
    // `/..` at the end, without a slash after it.
    if off >= 2 && at(off - 2, b"/..") {
        up += 1;
        off -= 2;
    }
    while off >= 0 {
        if off >= 3 && at(off - 3, b"/../") {
            up += 1;
            off -= 3;
            continue;
        }
        if up > 0 {
            off -= 1;
            if off >= 0 {
                up -= 1;
                while off >= 0 && path[off as usize] != b'/' {
                    off -= 1;
                }
            }
        } else {
            rev.push(path[off as usize]);
            off -= 1;
            while off >= 0 && path[off as usize] != b'/' {
                rev.push(path[off as usize]);
                off -= 1;
            }
        }
    }
    if up > 0 {
        rev.push(b'/');
        if !full {
            for _ in 0..up {
                rev.extend_from_slice(b"../");
            }
        }
    }
    rev.reverse();
    rev
}

/// `percent-decode-unreserved` (`decode`) and `percent-to-uppercase`.
fn percent(input: &[u8], strict: bool, decode: bool) -> Result<Vec<u8>, Invalid> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        match (input.get(i).copied(), input.get(i + 1).copied()) {
            (Some(h1), Some(h2)) if hex(h1).is_some() && hex(h2).is_some() => {
                let b = (hex(h1).unwrap_or(0) << 4) | hex(h2).unwrap_or(0);
                let unreserved =
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
                if decode && unreserved {
                    out.push(b);
                } else if decode {
                    out.extend_from_slice(&[b'%', h1, h2]);
                } else {
                    out.extend_from_slice(&[
                        b'%',
                        h1.to_ascii_uppercase(),
                        h2.to_ascii_uppercase(),
                    ]);
                }
                i += 2;
            }
            _ if strict => return Err(Invalid),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// `query-sort-by-name` (`uri_normalizer_query_sort`): `query` starts with its `?`; the
/// parameters are ordered by the bytes of their names (a shorter name first when one is the
/// start of the other), equal names in their order.
fn sort_query(query: &[u8]) -> Vec<u8> {
    let Some((&q, rest)) = query.split_first() else {
        return Vec::new();
    };
    let mut params: Vec<&[u8]> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&c| c == b'&').collect()
    };
    let name = |p: &[u8]| -> usize { memchr::memchr(b'=', p).unwrap_or(p.len()) };
    params.sort_by(|a, b| a[..name(a)].cmp(&b[..name(b)]));
    let mut out = Vec::with_capacity(query.len());
    out.push(q);
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::UriNormalizer::*;
    use super::*;

    fn n(x: UriNormalizer, s: &str) -> String {
        String::from_utf8(x.apply(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn haproxy_examples() {
        // The configuration manual's examples for each normalizer.
        assert_eq!(n(PathMergeSlashes, "//"), "/");
        assert_eq!(n(PathMergeSlashes, "/foo//bar"), "/foo/bar");
        assert_eq!(n(PathStripDot, "/."), "/");
        assert_eq!(n(PathStripDot, "/./foo/"), "/foo/");
        assert_eq!(n(PathStripDot, "/foo/./bar/"), "/foo/bar/");
        let dd = PathStripDotdot { full: false };
        let full = PathStripDotdot { full: true };
        assert_eq!(n(dd, "/foo/../"), "/");
        assert_eq!(n(dd, "/foo/../bar/"), "/bar/");
        assert_eq!(n(dd, "/foo/bar/../"), "/foo/");
        assert_eq!(n(dd, "/../bar/"), "/../bar/");
        assert_eq!(n(full, "/../bar/"), "/bar/");
        assert_eq!(n(dd, "/foo/../../bar/"), "/../bar/");
        assert_eq!(n(full, "/foo/../../bar/"), "/bar/");
        assert_eq!(n(dd, "/foo/bar/.."), "/foo/");
        let dec = PercentDecodeUnreserved { strict: false };
        assert_eq!(n(dec, "/%6f"), "/o");
        assert_eq!(n(dec, "/%4f"), "/O");
        assert_eq!(n(dec, "/%3F"), "/%3F");
        assert_eq!(n(dec, "/%zz%"), "/%zz%");
        let strict = PercentDecodeUnreserved { strict: true };
        assert_eq!(strict.apply(b"/%zz"), Err(Invalid));
        let up = PercentToUppercase { strict: false };
        assert_eq!(n(up, "/%6f"), "/%6F");
        assert_eq!(n(up, "/%zz"), "/%zz");
        assert_eq!(
            PercentToUppercase { strict: true }.apply(b"/%zz"),
            Err(Invalid)
        );
        assert_eq!(n(QuerySortByName, "?c=3&a=1&b=2"), "?a=1&b=2&c=3");
        assert_eq!(
            n(QuerySortByName, "?a=3&b=4&a=1&b=5&a=2"),
            "?a=3&a=1&a=2&b=4&b=5"
        );
        assert_eq!(n(QuerySortByName, "?ab&a"), "?a&ab");
        assert_eq!(n(FragmentStrip, "/#foo"), "/");
        assert_eq!(n(FragmentEncode, "/#foo"), "/%23foo");
    }

    #[test]
    fn parse_words() {
        assert_eq!(
            UriNormalizer::parse(&["path-strip-dotdot", "full", "if"]),
            Ok((PathStripDotdot { full: true }, 2))
        );
        assert_eq!(
            UriNormalizer::parse(&["percent-to-uppercase", "if"]),
            Ok((PercentToUppercase { strict: false }, 1))
        );
        assert_eq!(
            UriNormalizer::parse(&["path-strip-dotdot", "x"]),
            Err("unknown argument 'x' for 'path-strip-dotdot' normalizer".into())
        );
        assert_eq!(
            UriNormalizer::parse(&["foo"]),
            Err("unknown normalizer 'foo'".into())
        );
    }
}
