//! Stickiness by request: the persistence cookie (`cookie NAME insert|rewrite|prefix` with
//! per-server `cookie VALUE`) and the request hashes of `balance uri|url_param|hdr()`.

use crate::config::{CookieCfg, CookieMode, HashKey};
use crate::h1::{Edits, RequestHead, ResponseHead, Val};
use bumpalo::Bump;

/// The server a request's persistence cookie names (only usable servers count; a cookie
/// naming a server that is down is ignored and the request is balanced, as HAProxy does,
/// unless `option persist` or a `force-persist` rule forces it).
pub struct Sticky {
    pub server: usize,
    /// With `maxidle`: the cookie's last-seen date should be refreshed in the response.
    pub refresh: bool,
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The server value in a cookie: `SRV` (insert/rewrite), `SRV|idle|first` (insert with
/// maxidle/maxlife, dates in base 36), `SRV~original` (prefix).
fn server_part<'v>(cfg: &CookieCfg, v: &'v [u8]) -> (&'v [u8], Option<(u64, u64)>) {
    match cfg.mode {
        CookieMode::Prefix => (v.split(|&b| b == b'~').next().unwrap_or(v), None),
        _ => {
            let mut parts = v.split(|&b| b == b'|');
            let srv = parts.next().unwrap_or(v);
            let date = |p: Option<&[u8]>| {
                p.and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(|p| u64::from_str_radix(p, 36).ok())
            };
            let idle = date(parts.next());
            let first = date(parts.next());
            (srv, idle.zip(first))
        }
    }
}

/// Finds the persistence cookie and the server it names, and the letter the log's
/// termination state gives the client's cookie: `N` none, `I` naming no server, `D` its
/// server unusable, `E`/`O` past `maxidle`/`maxlife`, `V` valid.
pub fn request_cookie(
    cfg: &CookieCfg,
    server_cookies: &[Option<String>],
    usable: impl Fn(usize) -> bool,
    req: &RequestHead,
    buf: &[u8],
    now: u64,
) -> (Option<Sticky>, u8) {
    let mut letter = b'N';
    let sticky = find_cookie(cfg, server_cookies, usable, req, buf, now, &mut letter);
    (sticky, letter)
}

fn find_cookie(
    cfg: &CookieCfg,
    server_cookies: &[Option<String>],
    usable: impl Fn(usize) -> bool,
    req: &RequestHead,
    buf: &[u8],
    now: u64,
    letter: &mut u8,
) -> Option<Sticky> {
    let v = req.cookie(buf, cfg.name.as_bytes())?;
    *letter = b'I';
    let (srv, dates) = server_part(cfg, v);
    let mut refresh = false;
    if cfg.maxidle.is_some() || cfg.maxlife.is_some() {
        // Without dates (an old cookie) the cookie still holds; with them, expired is gone.
        if let Some((idle, first)) = dates {
            if cfg
                .maxidle
                .is_some_and(|m| now.saturating_sub(idle) > m.as_secs())
            {
                *letter = b'E';
                return None;
            }
            if cfg
                .maxlife
                .is_some_and(|m| now.saturating_sub(first) > m.as_secs())
            {
                *letter = b'O';
                return None;
            }
            // Refresh the idle date once a quarter of maxidle has passed.
            refresh = cfg
                .maxidle
                .is_some_and(|m| now.saturating_sub(idle) > m.as_secs() / 4);
        } else {
            refresh = true;
        }
    }
    let server = server_cookies
        .iter()
        .position(|c| c.as_deref().is_some_and(|c| c.as_bytes() == srv))?;
    *letter = if usable(server) { b'V' } else { b'D' };
    usable(server).then_some(Sticky { server, refresh })
}

/// What the server must see of the Cookie fields: `indirect` (insert mode) removes the
/// persistence cookie; prefix mode removes the `SRV~` prefix. The Cookie fields are then
/// sent as one (as RFC 6265 §5.4 wants), or not at all when nothing is left.
pub fn rewrite_request_cookies<'a, const N: usize>(
    cfg: &CookieCfg,
    req: &RequestHead,
    buf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
) {
    let strip = cfg.mode == CookieMode::Insert && cfg.indirect;
    let unprefix = cfg.mode == CookieMode::Prefix;
    let name = cfg.name.as_bytes();
    if !(strip || unprefix) || !req.cookies(buf).any(|(n, _)| n == name) {
        return;
    }
    let mut out: Vec<u8> = Vec::with_capacity(128);
    for (n, v) in req.cookies(buf) {
        let v = if n == name {
            if strip {
                continue;
            }
            match memchr::memchr(b'~', v) {
                Some(t) => &v[t + 1..],
                None => v,
            }
        } else {
            v
        };
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(n);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    let _ = edits.del_header(b"Cookie");
    if !out.is_empty() {
        let kept: &'a [u8] = bump.alloc_slice_copy(&out);
        let _ = edits.add_header(b"Cookie", Val::from(kept));
    }
}

/// Edits of the response for the persistence cookie of server value `srv_value`.
/// `sticky_ok`: the request already carried a valid cookie for the server that answered.
/// Returns the letter the log's termination state gives the server's cookie: `N` none,
/// `I` inserted, `U` updated (its dates), `P` the server's passed as it was, `R` rewritten.
#[allow(clippy::too_many_arguments)]
pub fn response_cookie<'a, const N: usize>(
    cfg: &'a CookieCfg,
    srv_value: &str,
    res: &ResponseHead,
    rbuf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    post: bool,
    sticky_ok: bool,
    refresh: bool,
    now: u64,
) -> u8 {
    let name = cfg.name.as_bytes();
    // The server's own Set-Cookie for NAME, if any.
    let server_sets = res
        .headers()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.dropped && f.is(rbuf, b"set-cookie"))
        .filter(|(_, f)| set_cookie_name(f.value(rbuf)) == Some(name))
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    match cfg.mode {
        CookieMode::Insert => {
            if !server_sets.is_empty() && cfg.preserve {
                return b'P';
            }
            if (sticky_ok && !refresh) || (cfg.postonly && !post) {
                return b'N';
            }
            let mut v = format!("{}={}", cfg.name, srv_value);
            if cfg.maxidle.is_some() || cfg.maxlife.is_some() {
                v.push_str(&format!("|{}|{}", base36(now), base36(now)));
            }
            v.push_str("; path=/");
            for d in &cfg.domains {
                v.push_str("; domain=");
                v.push_str(d);
            }
            if cfg.httponly {
                v.push_str("; HttpOnly");
            }
            if cfg.secure {
                v.push_str("; Secure");
            }
            let kept: &'a [u8] = bump.alloc_slice_copy(v.as_bytes());
            let _ = edits.add_header(b"Set-Cookie", Val::from(kept));
            if cfg.nocache {
                let cacheable = !res.headers().iter().any(|f| {
                    f.is(rbuf, b"cache-control") && {
                        let v = f.value(rbuf).to_ascii_lowercase();
                        memchr::memmem::find(&v, b"no-cache").is_some()
                            || memchr::memmem::find(&v, b"private").is_some()
                    }
                });
                if cacheable {
                    let _ = edits.add_header(b"Cache-Control", Val::from(&b"private"[..]));
                }
            }
            if sticky_ok { b'U' } else { b'I' }
        }
        CookieMode::Rewrite | CookieMode::Prefix => {
            let letter = if server_sets.is_empty() { b'N' } else { b'R' };
            for i in server_sets {
                let f = &res.headers()[i];
                let value = f.value(rbuf);
                let eq = memchr::memchr(b'=', value).unwrap_or(value.len());
                let rest = &value[(eq + 1).min(value.len())..];
                let (old, attrs) = match memchr::memchr(b';', rest) {
                    Some(p) => (&rest[..p], &rest[p..]),
                    None => (rest, &rest[rest.len()..]),
                };
                let mut nv = Vec::with_capacity(value.len() + srv_value.len() + 1);
                nv.extend_from_slice(name);
                nv.push(b'=');
                nv.extend_from_slice(srv_value.as_bytes());
                if cfg.mode == CookieMode::Prefix {
                    nv.push(b'~');
                    nv.extend_from_slice(old);
                }
                nv.extend_from_slice(attrs);
                let kept: &'a [u8] = bump.alloc_slice_copy(&nv);
                let _ = edits.replace_value(i, Val::from(kept));
            }
            letter
        }
    }
}

fn set_cookie_name(v: &[u8]) -> Option<&[u8]> {
    let eq = memchr::memchr(b'=', v)?;
    let n = &v[..eq];
    let start = n
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(n.len());
    let end = n
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    Some(&n[start..end])
}

fn base36(mut n: u64) -> String {
    const D: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut s = Vec::new();
    while n > 0 {
        s.push(D[(n % 36) as usize]);
        n /= 36;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// What `balance uri|url_param|hdr()` hashes (`Lb::key` makes the key of it), found as
/// HAProxy 2.6 finds it (`get_server_uh`, `get_server_ph`, `get_server_ph_post`,
/// `get_server_hh`); None when the request lacks the part (then HAProxy balances it
/// round-robin). `body` is what of the body is in the buffer (for `check_post`).
pub fn hash_part<'b>(
    key: &HashKey,
    req: &RequestHead,
    buf: &'b [u8],
    body: &'b [u8],
) -> Option<std::borrow::Cow<'b, [u8]>> {
    use std::borrow::Cow;
    match key {
        HashKey::Uri {
            len,
            depth,
            whole,
            path_only,
        } => {
            let target = req.target(buf);
            // `path-only`: the path (with its query) of the target; nothing for `*`, an
            // authority, or an absolute URI without a path (HAProxy's http_parse_path).
            let mut uri: &[u8] = if *path_only {
                use crate::h1::TargetForm;
                match req.target_form() {
                    TargetForm::Origin => target,
                    TargetForm::Absolute => {
                        let o = req.origin(buf);
                        if o.first() == Some(&b'/') { o } else { b"" }
                    }
                    _ => b"",
                }
            } else {
                target
            };
            if let Some(l) = len {
                uri = &uri[..uri.len().min(*l)];
            }
            // Up to the (depth+1)-th slash, and the '?' unless `whole`.
            let mut slashes = 0;
            let end = uri
                .iter()
                .position(|&c| {
                    if c == b'/' {
                        slashes += 1;
                        depth.is_some_and(|d| slashes == d + 1)
                    } else {
                        c == b'?' && !*whole
                    }
                })
                .unwrap_or(uri.len());
            Some(Cow::Borrowed(&uri[..end]))
        }
        HashKey::UrlParam { name, check_post } => {
            let target = req.target(buf);
            let q = target.iter().position(|&b| b == b'?');
            if let Some(v) = q.and_then(|q| query_param(&target[q + 1..], name.as_bytes())) {
                return Some(Cow::Borrowed(v));
            }
            if !*check_post || req.method() != crate::h1::Method::Post {
                return None;
            }
            use crate::h1::BodyKind;
            match req.body_kind() {
                BodyKind::ContentLength(n) => {
                    post_param(&body[..body.len().min(n as usize)], name.as_bytes())
                        .map(Cow::Borrowed)
                }
                BodyKind::Chunked => {
                    let data = crate::acl::dechunk(body);
                    post_param(&data, name.as_bytes()).map(|v| Cow::Owned(v.to_vec()))
                }
                _ => None,
            }
        }
        // An RDP cookie comes on a mode tcp connection: an HTTP request has none.
        // `hash EXPR` is a sample, evaluated by the caller (`FetchExpr::hash_key`).
        HashKey::RdpCookie(_) | HashKey::Expr(_) => None,
        HashKey::Header { name, domain_only } => {
            // The first value of the first field (HAProxy splits values at commas); an
            // empty one is no value.
            let v = req.header(buf, name.as_bytes())?;
            let v = v.split(|&b| b == b',').next().unwrap_or(v);
            let v = v.trim_ascii();
            if v.is_empty() {
                return None;
            }
            if !*domain_only {
                return Some(Cow::Borrowed(v));
            }
            Some(Cow::Borrowed(domain_label(v)))
        }
    }
}

/// `use_domain_only`: HAProxy's walk back from the end of the value: the label before
/// the last dot (`example` of `www.example.com:8080`), or the whole value without a dot.
fn domain_label(v: &[u8]) -> &[u8] {
    let (mut i, mut end, mut dohash) = (v.len(), v.len(), false);
    while i > 0 {
        if dohash {
            if v[i - 1] == b'.' {
                break;
            }
        } else if i < v.len() && v[i] == b'.' {
            end = i;
            dohash = true;
        }
        i -= 1;
    }
    &v[i..end]
}

/// HAProxy's `get_server_ph` scan of a query string: parameters separated by `&`, the
/// first named `name` (case-sensitive), its value up to the next `&`.
fn query_param<'b>(mut params: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    let plen = name.len();
    while params.len() > plen {
        if params[plen] == b'=' && &params[..plen] == name {
            let v = &params[plen + 1..];
            return Some(&v[..v.iter().position(|&b| b == b'&').unwrap_or(v.len())]);
        }
        let amp = params.iter().position(|&b| b == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

/// HAProxy's `get_server_ph_post` over the body: as `query_param`, but a value whose first
/// character is not a token character is no value (a blank ends an empty one), since the
/// body must be URL-encoded. (HAProxy tests that first character at each step.)
fn post_param<'b>(mut params: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    let plen = name.len();
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    while params.len() > plen {
        if params[plen] == b'=' && &params[..plen] == name {
            let v = &params[plen + 1..];
            let end = v.iter().position(|&b| b == b'&').unwrap_or(v.len());
            return match v.first() {
                Some(&c) if end > 0 && !token(c) => {
                    if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
                        Some(&v[..0])
                    } else {
                        None
                    }
                }
                _ => Some(&v[..end]),
            };
        }
        let amp = params.iter().position(|&b| b == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h1::{HeadLimits, Parsed, parse_request};

    fn req(raw: &[u8]) -> RequestHead {
        let mut h = RequestHead::new();
        assert!(matches!(
            parse_request(raw, &HeadLimits::HAPROXY_DEFAULT, &mut h),
            Ok(Parsed::Complete { .. })
        ));
        h
    }

    fn cfg(mode: CookieMode) -> CookieCfg {
        CookieCfg {
            name: "SERVERID".into(),
            mode,
            indirect: true,
            nocache: true,
            postonly: false,
            preserve: false,
            httponly: false,
            secure: false,
            domains: vec![],
            maxidle: None,
            maxlife: None,
            dynamic: false,
            loc: crate::config::Loc {
                file: "t".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn finds_the_server_named_by_the_cookie() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; SERVERID=s2; b=2\r\n\r\n";
        let h = req(raw);
        let servers = vec![Some("s1".to_string()), Some("s2".to_string())];
        let c = cfg(CookieMode::Insert);
        let (s, letter) = request_cookie(&c, &servers, |_| true, &h, raw, now_secs());
        assert_eq!((s.unwrap().server, letter), (1, b'V'));
        let (s, letter) = request_cookie(&c, &servers, |i| i != 1, &h, raw, now_secs());
        assert!(s.is_none() && letter == b'D', "down server: ignored");
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: SERVERID=s1~abc\r\n\r\n";
        let h = req(raw);
        assert_eq!(
            request_cookie(&cfg(CookieMode::Prefix), &servers, |_| true, &h, raw, 0)
                .0
                .unwrap()
                .server,
            0
        );
    }

    #[test]
    fn expiry_with_maxidle() {
        let servers = vec![Some("s1".to_string())];
        let mut c = cfg(CookieMode::Insert);
        c.maxidle = Some(std::time::Duration::from_secs(60));
        let now = 1_000_000;
        let fresh = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nCookie: SERVERID=s1|{}|{}\r\n\r\n",
            base36(now - 10),
            base36(now - 10)
        );
        let h = req(fresh.as_bytes());
        let (s, letter) = request_cookie(&c, &servers, |_| true, &h, fresh.as_bytes(), now);
        assert!(s.is_some() && letter == b'V');
        let old = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nCookie: SERVERID=s1|{}|{}\r\n\r\n",
            base36(now - 100),
            base36(now - 100)
        );
        let h = req(old.as_bytes());
        let (s, letter) = request_cookie(&c, &servers, |_| true, &h, old.as_bytes(), now);
        assert!(s.is_none() && letter == b'E', "past maxidle");
    }

    #[test]
    fn hash_parts_are_haproxys() {
        let part = |k: &HashKey, raw: &[u8]| -> Option<Vec<u8>> {
            let h = req(raw);
            let body = &raw[h.head_len()..];
            hash_part(k, &h, raw, body).map(|c| c.to_vec())
        };
        let uri = |len, depth, whole, path_only| HashKey::Uri {
            len,
            depth,
            whole,
            path_only,
        };
        let a = b"GET /img/a.png?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        let abs = b"GET http://h.example/img/a.png?x=1 HTTP/1.1\r\nHost: h.example\r\n\r\n";
        let some = |s: &str| Some(s.as_bytes().to_vec());
        assert_eq!(part(&uri(None, None, false, false), a), some("/img/a.png"));
        assert_eq!(
            part(&uri(None, None, true, false), a),
            some("/img/a.png?x=1")
        );
        assert_eq!(part(&uri(None, Some(1), false, false), a), some("/img"));
        assert_eq!(part(&uri(Some(6), None, true, false), a), some("/img/a"));
        // The target as sent: an absolute URI hashes whole, unless `path-only`.
        assert_eq!(part(&uri(None, Some(1), false, false), abs), some("http:/"));
        assert_eq!(part(&uri(None, None, false, true), abs), some("/img/a.png"));
        let p = HashKey::UrlParam {
            name: "x".into(),
            check_post: true,
        };
        assert_eq!(
            part(&p, b"GET /?ax=2&x=3&x=4 HTTP/1.1\r\nHost: h\r\n\r\n"),
            some("3")
        );
        assert_eq!(part(&p, b"GET /?x= HTTP/1.1\r\nHost: h\r\n\r\n"), some(""));
        assert_eq!(part(&p, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), None);
        let post = b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\ny=1&x=abc";
        assert_eq!(part(&p, post), some("abc"));
        let bin = b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nx=\x01b";
        assert_eq!(part(&p, bin), None, "not URL-encoded");
        let chunked =
            b"POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nx=abc\r\n0\r\n\r\n";
        assert_eq!(part(&p, chunked), some("abc"));
        let h = HashKey::Header {
            name: "host".into(),
            domain_only: true,
        };
        let x = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
        let y = b"GET / HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n";
        let z = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        assert_eq!(part(&h, x), some("example"));
        assert_eq!(part(&h, y), some("example"));
        assert_eq!(part(&h, z), some("localhost"));
        let k = HashKey::Header {
            name: "x-key".into(),
            domain_only: false,
        };
        assert_eq!(
            part(&k, b"GET / HTTP/1.1\r\nHost: h\r\nX-Key: a , b\r\n\r\n"),
            some("a")
        );
        assert_eq!(
            part(&k, b"GET / HTTP/1.1\r\nHost: h\r\nX-Key: ,b\r\n\r\n"),
            None
        );
    }
}
