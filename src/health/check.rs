//! What a health check sends and how its answer is judged, without I/O: the HTTP request of
//! `option httpchk`/`http-check send`, the verdict on a response under `http-check expect`
//! rules, and `tcp-check expect` on the bytes read so far.

use crate::config::{Expect, ExpectMatch, HttpCheck};

/// A check's outcome, with HAProxy's wording for the logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub ok: bool,
    /// "Layer4 check passed", "Layer7 wrong status", …
    pub reason: &'static str,
    /// HTTP status code when there is one.
    pub code: Option<u16>,
    /// Extra information ("Connection refused", the reason phrase, …).
    pub info: Option<String>,
}

impl Verdict {
    pub fn pass(reason: &'static str) -> Verdict {
        Verdict {
            ok: true,
            reason,
            code: None,
            info: None,
        }
    }
    pub fn fail(reason: &'static str, info: impl Into<String>) -> Verdict {
        Verdict {
            ok: false,
            reason,
            code: None,
            info: Some(info.into()),
        }
    }

    /// `reason: X, code: N, info: "..."` as in HAProxy's state-change messages.
    pub fn describe(&self) -> String {
        let mut s = format!("reason: {}", self.reason);
        if let Some(c) = self.code {
            s.push_str(&format!(", code: {c}"));
        }
        if let Some(i) = &self.info {
            s.push_str(&format!(", info: \"{i}\""));
        }
        s
    }
}

/// The bytes of the check request.
pub fn http_request(hc: &HttpCheck) -> Vec<u8> {
    let mut r = format!("{} {} {}\r\n", hc.method, hc.uri, hc.version).into_bytes();
    let has = |n: &str| hc.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    for (k, v) in &hc.headers {
        r.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    // One request per connection: say so to HTTP/1.1 servers.
    if hc.version.starts_with("HTTP/1.1") && !has("connection") {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    if !hc.body.is_empty() && !has("content-length") {
        r.extend_from_slice(format!("Content-Length: {}\r\n", hc.body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(hc.body.as_bytes());
    r
}

/// Judges an HTTP check response from the bytes received so far. `None`: more bytes are
/// needed to decide (the caller reads on, and at EOF calls again with `eof = true`).
pub fn http_verdict(expect: &[Expect], buf: &[u8], eof: bool) -> Option<Verdict> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if !eof => return None,
        Ok(httparse::Status::Partial) => {
            return Some(if buf.is_empty() {
                Verdict::fail("Layer7 invalid response", "empty response")
            } else {
                Verdict::fail("Layer7 invalid response", "truncated response")
            });
        }
        Err(e) => return Some(Verdict::fail("Layer7 invalid response", format!("{e}"))),
    };
    let code = resp.code.unwrap_or(0);
    let reason = resp.reason.unwrap_or("").to_string();
    let body = &buf[head_len..];
    let with_code = |mut v: Verdict| {
        v.code = Some(code);
        v
    };
    if expect.is_empty() {
        // HAProxy's default: 2xx and 3xx are good.
        return Some(with_code(if (200..400).contains(&code) {
            Verdict::pass("Layer7 check passed")
        } else {
            Verdict::fail("Layer7 wrong status", reason)
        }));
    }
    let needs_body = expect.iter().any(|e| {
        matches!(
            e.matcher,
            ExpectMatch::String(_) | ExpectMatch::Regex(_) | ExpectMatch::Binary(_)
        )
    });
    for e in expect {
        let hit = match &e.matcher {
            ExpectMatch::Status(ranges) => ranges.iter().any(|&(a, b)| (a..=b).contains(&code)),
            ExpectMatch::StatusRegex(r) => r.0.is_match(code.to_string().as_bytes()),
            ExpectMatch::String(s) | ExpectMatch::Binary(s) => {
                let found = memchr::memmem::find(body, s).is_some();
                if !found && !eof && !e.negate {
                    return None;
                }
                found
            }
            ExpectMatch::Regex(r) => {
                let found = r.0.is_match(body);
                if !found && !eof && !e.negate {
                    return None;
                }
                found
            }
        };
        if needs_body
            && e.negate
            && !eof
            && !matches!(
                e.matcher,
                ExpectMatch::Status(_) | ExpectMatch::StatusRegex(_)
            )
        {
            // A negated content rule can only pass once the whole answer is in.
            if hit {
                return Some(with_code(Verdict::fail(
                    "Layer7 wrong status",
                    "matched a forbidden pattern",
                )));
            }
            return None;
        }
        if hit == e.negate {
            let v = match &e.matcher {
                ExpectMatch::Status(_) | ExpectMatch::StatusRegex(_) => {
                    Verdict::fail("Layer7 wrong status", reason)
                }
                _ => Verdict::fail("Layer7 wrong status", "response content did not match"),
            };
            return Some(with_code(v));
        }
    }
    Some(with_code(Verdict::pass("Layer7 check passed")))
}

/// `http-check disable-on-404` on a verdict: a 404 from a running server passes
/// "conditionally" (HAProxy's L7OKCD, whatever the `expect` rules say) and asks for NOLB
/// (`Some(true)`); any other pass asks to leave it (`Some(false)`). A server that is
/// down is judged as usual: a 404 does not bring it back.
pub fn soft_stop(v: &mut Verdict, running: bool) -> Option<bool> {
    if v.code == Some(404) && running {
        v.ok = true;
        v.reason = "Layer7 check conditionally passed";
        return Some(true);
    }
    v.ok.then_some(false)
}

/// `tcp-check expect` over the bytes read since the last send. `None`: read more.
pub fn tcp_expect(e: &Expect, buf: &[u8], eof: bool, step: usize) -> Option<Verdict> {
    let found = match &e.matcher {
        ExpectMatch::String(s) | ExpectMatch::Binary(s) => memchr::memmem::find(buf, s).is_some(),
        ExpectMatch::Regex(r) => r.0.is_match(buf),
        // Status matchers are rejected for tcp-check by the parser.
        ExpectMatch::Status(_) | ExpectMatch::StatusRegex(_) => false,
    };
    if found != e.negate {
        return Some(Verdict::pass("Layer7 check passed"));
    }
    if !found && !eof && !e.negate {
        return None;
    }
    if e.negate && !found && !eof {
        // Nothing forbidden yet, and some data came: HAProxy decides on what it has.
        if buf.is_empty() {
            return None;
        }
        return Some(Verdict::pass("Layer7 check passed"));
    }
    Some(Verdict::fail(
        "Layer7 invalid response",
        format!("TCPCHK did not match content at step {step}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Regex;

    fn exp(negate: bool, m: ExpectMatch) -> Expect {
        Expect { negate, matcher: m }
    }

    #[test]
    fn request_bytes() {
        let hc = HttpCheck::default();
        assert_eq!(http_request(&hc), b"OPTIONS / HTTP/1.0\r\n\r\n");
        let hc = HttpCheck {
            method: "GET".into(),
            uri: "/health".into(),
            version: "HTTP/1.1".into(),
            headers: vec![("Host".into(), "www".into())],
            body: String::new(),
            expect: vec![],
            ..HttpCheck::default()
        };
        assert_eq!(
            http_request(&hc),
            b"GET /health HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn default_expect_is_2xx_or_3xx() {
        let v = http_verdict(&[], b"HTTP/1.1 200 OK\r\n\r\n", false).unwrap();
        assert!(v.ok);
        assert_eq!(v.describe(), "reason: Layer7 check passed, code: 200");
        assert!(
            http_verdict(&[], b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n", false)
                .unwrap()
                .ok
        );
        let v = http_verdict(&[], b"HTTP/1.1 503 Service Unavailable\r\n\r\n", false).unwrap();
        assert!(!v.ok);
        assert_eq!(
            v.describe(),
            "reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\""
        );
        assert_eq!(http_verdict(&[], b"HTTP/1.1 200 O", false), None);
        assert!(!http_verdict(&[], b"", true).unwrap().ok);
        assert!(!http_verdict(&[], b"SSH-2.0-OpenSSH\r\n", true).unwrap().ok);
    }

    #[test]
    fn status_and_string_rules() {
        let st = [exp(
            false,
            ExpectMatch::Status(vec![(200, 200), (204, 204)]),
        )];
        assert!(
            http_verdict(&st, b"HTTP/1.1 204 No Content\r\n\r\n", false)
                .unwrap()
                .ok
        );
        assert!(
            !http_verdict(&st, b"HTTP/1.1 301 Moved\r\n\r\n", false)
                .unwrap()
                .ok
        );
        let not = [exp(true, ExpectMatch::Status(vec![(500, 599)]))];
        assert!(
            http_verdict(&not, b"HTTP/1.1 404 NF\r\n\r\n", false)
                .unwrap()
                .ok
        );
        let rs = [exp(
            false,
            ExpectMatch::StatusRegex(Regex(regex::bytes::Regex::new("^2").unwrap())),
        )];
        assert!(
            http_verdict(&rs, b"HTTP/1.0 201 Created\r\n\r\n", false)
                .unwrap()
                .ok
        );
        let s = [exp(false, ExpectMatch::String(b"alive".to_vec()))];
        assert_eq!(
            http_verdict(&s, b"HTTP/1.1 200 OK\r\n\r\nstill al", false),
            None
        );
        assert!(
            http_verdict(&s, b"HTTP/1.1 200 OK\r\n\r\nstill alive", false)
                .unwrap()
                .ok
        );
        assert!(
            !http_verdict(&s, b"HTTP/1.1 200 OK\r\n\r\ndead", true)
                .unwrap()
                .ok
        );
        let ns = [exp(true, ExpectMatch::String(b"maintenance".to_vec()))];
        assert_eq!(http_verdict(&ns, b"HTTP/1.1 200 OK\r\n\r\nok", false), None);
        assert!(
            http_verdict(&ns, b"HTTP/1.1 200 OK\r\n\r\nok", true)
                .unwrap()
                .ok
        );
        assert!(
            !http_verdict(&ns, b"HTTP/1.1 200 OK\r\n\r\nin maintenance", false)
                .unwrap()
                .ok
        );
    }

    #[test]
    fn a_404_stops_a_running_server_only() {
        let nf = http_verdict(&[], b"HTTP/1.1 404 Not Found\r\n\r\n", false).unwrap();
        let mut v = nf.clone();
        assert_eq!(soft_stop(&mut v, true), Some(true));
        assert_eq!(
            v.describe(),
            "reason: Layer7 check conditionally passed, code: 404, info: \"Not Found\""
        );
        assert!(v.ok);
        let mut v = nf.clone();
        assert_eq!(soft_stop(&mut v, false), None);
        assert!(!v.ok);
        // It wins over an expect rule that would accept or refuse it.
        let st = [exp(false, ExpectMatch::Status(vec![(200, 200)]))];
        let mut v = http_verdict(&st, b"HTTP/1.1 404 Not Found\r\n\r\n", false).unwrap();
        assert_eq!(soft_stop(&mut v, true), Some(true));
        let mut ok = http_verdict(&[], b"HTTP/1.1 200 OK\r\n\r\n", false).unwrap();
        assert_eq!(soft_stop(&mut ok, true), Some(false));
        let mut bad = http_verdict(&[], b"HTTP/1.1 500 E\r\n\r\n", false).unwrap();
        assert_eq!(soft_stop(&mut bad, true), None);
    }

    #[test]
    fn tcp_expectations() {
        let e = exp(false, ExpectMatch::String(b"+PONG".to_vec()));
        assert_eq!(tcp_expect(&e, b"+PO", false, 2), None);
        assert!(tcp_expect(&e, b"+PONG\r\n", false, 2).unwrap().ok);
        let v = tcp_expect(&e, b"-ERR", true, 2).unwrap();
        assert!(!v.ok);
        assert!(v.describe().contains("step 2"));
        let b = exp(false, ExpectMatch::Binary(vec![0x01, 0x02]));
        assert!(tcp_expect(&b, &[0, 1, 2, 3], false, 1).unwrap().ok);
        let n = exp(true, ExpectMatch::String(b"ERR".to_vec()));
        assert!(tcp_expect(&n, b"OK", false, 1).unwrap().ok);
        assert!(!tcp_expect(&n, b"ERR", false, 1).unwrap().ok);
    }
}
