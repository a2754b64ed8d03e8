//! vegeta's HTTP targets format, and the `-header` flag.
//!
//! ```text
//! # comment
//! GET http://goku:9090/path/to/dragon?item=ball
//! X-Account-ID: 8675309
//!
//! POST https://goku:9090/things
//! Content-Type: application/json
//! @/path/to/newthing.json
//! ```
//!
//! A target is a `METHOD URL` line, then optional `Name: value` header lines, then an optional
//! `@FILE` line naming its body; blank lines separate targets. Parsing is pure: bodies are read
//! through a callback so tests need no files.

use std::fmt;

/// One request description, before it is rendered to bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub method: String,
    pub url: TargetUrl,
    /// In order, duplicates kept (vegeta appends rather than replaces).
    pub headers: Vec<(String, String)>,
    /// `None`: the attack's `-body` (or none).
    pub body: Option<Vec<u8>>,
}

/// The parts of an `http://` or `https://` URL the client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetUrl {
    pub tls: bool,
    /// Host name or IP address, without IPv6 brackets: what is resolved and sent as SNI.
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written in the URL: the Host header.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
    /// The URL as given, for error messages.
    pub original: String,
}

impl TargetUrl {
    pub fn parse(s: &str) -> Result<TargetUrl, String> {
        let uri: http::Uri = s.parse().map_err(|e| format!("{e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(format!("scheme {other:?} is not http or https")),
            None => return Err("an absolute http:// or https:// URL is needed".to_string()),
        };
        let authority = uri.authority().ok_or("the URL has no host")?.as_str();
        // Userinfo never goes into the Host header.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let host = uri.host().ok_or("the URL has no host")?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err("the URL has no host".to_string());
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = match uri.path_and_query() {
            Some(pq) if !pq.as_str().is_empty() && pq.as_str().starts_with('/') => {
                pq.as_str().to_string()
            }
            Some(pq) if !pq.as_str().is_empty() => format!("/{}", pq.as_str()),
            _ => "/".to_string(),
        };
        Ok(TargetUrl {
            tls,
            host: host.to_string(),
            port,
            authority: authority.to_string(),
            path,
            original: s.to_string(),
        })
    }
}

/// A targets-file error, naming where it is.
#[derive(Debug, PartialEq, Eq)]
pub struct TargetsError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TargetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // Not about one line (e.g. no targets at all).
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}:{}: {}", self.origin, self.line, self.message)
        }
    }
}

impl std::error::Error for TargetsError {}

/// Parses a `-header` value, `Name: value`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("header {s:?} has a wrong format (expected \"Name: value\")"))?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || value.is_empty() {
        return Err(format!(
            "header {s:?} has a wrong format (expected \"Name: value\")"
        ));
    }
    if !name.bytes().all(is_token_byte) {
        return Err(format!(
            "header name {name:?} has characters a header name cannot have"
        ));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "header {name:?} has a line break or NUL in its value"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_method(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(is_token_byte)
}

/// Parses vegeta's HTTP targets format. `origin` names the source in errors (`stdin` or the
/// file name); `read_body` reads an `@FILE` body.
pub fn parse(
    src: &str,
    origin: &str,
    mut read_body: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Vec<Target>, TargetsError> {
    let err = |line: usize, message: String| TargetsError {
        origin: origin.to_string(),
        line,
        message,
    };
    let mut targets = Vec::new();
    let mut lines = src
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .peekable();
    while let Some((no, line)) = lines.next() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (method, url) = line.split_once(char::is_whitespace).ok_or_else(|| {
            err(
                no,
                format!("bad target {line:?} (expected \"METHOD URL\", e.g. \"GET http://host/\")"),
            )
        })?;
        if !is_method(method) {
            return Err(err(no, format!("bad method {method:?}")));
        }
        let url = url.trim();
        let url = TargetUrl::parse(url).map_err(|e| err(no, format!("bad URL {url:?}: {e}")))?;
        let mut target = Target {
            method: method.to_string(),
            url,
            headers: Vec::new(),
            body: None,
        };
        // Header lines and an optional @body follow until a blank line or the next target.
        while let Some(&(no, line)) = lines.peek() {
            if line.is_empty() {
                break;
            }
            if line.starts_with('#') {
                lines.next();
                continue;
            }
            if let Some(path) = line.strip_prefix('@') {
                lines.next();
                let body = read_body(path).map_err(|e| err(no, format!("bad body: {e}")))?;
                target.body = Some(body);
                break;
            }
            if looks_like_request_line(line) {
                break;
            }
            lines.next();
            let header = parse_header(line).map_err(|_| {
                err(
                    no,
                    format!("bad header {line:?} (expected \"Name: value\")"),
                )
            })?;
            target.headers.push(header);
        }
        targets.push(target);
    }
    if targets.is_empty() {
        return Err(err(0, "no targets to attack".to_string()));
    }
    Ok(targets)
}

/// `GET http://…` right after a target without a blank line starts the next target.
fn looks_like_request_line(line: &str) -> bool {
    match line.split_once(char::is_whitespace) {
        Some((m, rest)) => {
            is_method(m)
                && !m.ends_with(':')
                && (rest.trim_start().starts_with("http://")
                    || rest.trim_start().starts_with("https://"))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_bodies(p: &str) -> Result<Vec<u8>, String> {
        Err(format!("unexpected body file {p}"))
    }

    #[test]
    fn parses_a_single_line_from_stdin() {
        let t = parse(
            "POST https://haproxy.serverless.my.id\n",
            "stdin",
            no_bodies,
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].method, "POST");
        assert!(t[0].url.tls);
        assert_eq!(t[0].url.host, "haproxy.serverless.my.id");
        assert_eq!(t[0].url.port, 443);
        assert_eq!(t[0].url.path, "/");
        assert!(t[0].headers.is_empty());
        assert_eq!(t[0].body, None);
    }

    #[test]
    fn parses_headers_bodies_comments_and_separators() {
        let src = "\
# leading comment
GET http://goku:9090/path/to/dragon?item=ball
X-Account-ID: 8675309
X-Account-ID: 42

DELETE http://goku:9090/path/to/remove
Confirmation-Token: 90215
# a comment between headers
Authorization: Token DEADBEEF
POST http://[::1]:8080/things
Content-Type: application/json
@/tmp/newthing.json
GET http://example.com
";
        let t = parse(src, "t.txt", |p| {
            assert_eq!(p, "/tmp/newthing.json");
            Ok(b"{\"a\":1}".to_vec())
        })
        .unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].url.path, "/path/to/dragon?item=ball");
        assert_eq!(t[0].url.authority, "goku:9090");
        assert_eq!(
            t[0].headers,
            vec![
                ("X-Account-ID".into(), "8675309".into()),
                ("X-Account-ID".into(), "42".into())
            ]
        );
        assert_eq!(t[1].method, "DELETE");
        assert_eq!(t[1].headers.len(), 2);
        assert_eq!(t[1].headers[1].1, "Token DEADBEEF");
        assert_eq!(t[2].url.host, "::1");
        assert_eq!(t[2].url.authority, "[::1]:8080");
        assert_eq!(t[2].body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(
            t[2].headers,
            vec![("Content-Type".into(), "application/json".into())]
        );
        assert_eq!(t[3].url.port, 80);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("GET http://a/\nnot a header\n", "f", no_bodies).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("f:2: bad header"), "{e}");

        let e = parse("\n\nGEThttp://a/\n", "f", no_bodies).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("bad target"), "{e}");

        let e = parse("GET ftp://a/\n", "f", no_bodies).unwrap_err();
        assert!(e.to_string().starts_with("f:1: bad URL"), "{e}");

        let e = parse("G(T http://a/\n", "f", no_bodies).unwrap_err();
        assert!(e.message.contains("bad method"), "{e}");

        let e = parse("POST http://a/\n@missing\n", "f", |_| {
            Err("no such file".into())
        })
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("no such file"), "{e}");

        let e = parse("# only a comment\n\n", "stdin", no_bodies).unwrap_err();
        assert_eq!(e.to_string(), "stdin: no targets to attack");
    }

    #[test]
    fn header_flag() {
        assert_eq!(
            parse_header("Host: example.com").unwrap(),
            ("Host".into(), "example.com".into())
        );
        assert_eq!(
            parse_header("X-A:b:c").unwrap(),
            ("X-A".into(), "b:c".into())
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
        assert!(parse_header("K:").is_err());
        assert!(parse_header("Bad Name: v").is_err());
    }

    #[test]
    fn url_forms() {
        let u = TargetUrl::parse("http://user:pw@h:81/a?b=c").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.authority.as_str()),
            ("h", 81, "h:81")
        );
        assert_eq!(u.path, "/a?b=c");
        let u = TargetUrl::parse("https://h?x=1").unwrap();
        assert_eq!(u.path, "/?x=1");
        assert!(TargetUrl::parse("/relative").is_err());
        assert!(TargetUrl::parse("http://").is_err());
    }
}
