//! `option checkcache`: a response a shared cache could store, that carries a `Set-Cookie`,
//! is blocked (HAProxy 2.6's `http_process_res_common`, as Debian's 2.6.12 behaves).
//!
//! The response is cacheable when the request's method is safe (GET, HEAD, OPTIONS, TRACE)
//! and the server's status is cacheable by default (RFC 9110 §15.1); then, on the response
//! as the `http-response` rules left it: `Pragma: no-cache` makes it not cacheable; each
//! `Cache-Control` element `public` makes it cacheable, `private`, `no-cache`, `no-store`,
//! `max-age=0`, `s-maxage=0` not, `no-cache="set-cookie…` keeps the cookie from the cache;
//! and a response with no freshness (`max-age`, `s-maxage`, `Expires`) nor validator (`ETag`,
//! `Last-Modified`) is not cacheable either.

use crate::h1::{Edits, FieldSource, Method, ResponseHead};

/// Statuses cacheable by default (HAProxy's list).
fn cacheable_status(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    )
}

/// Whether `option checkcache` blocks this response: cacheable, its cookie too, with a
/// `Set-Cookie` (or `Set-Cookie2`). `status` is the server's. `inserted`: the name of the
/// persistence cookie `cookie … insert` adds, which HAProxy adds after this check (corelb
/// before the rules): that one does not count.
pub fn blocks<const N: usize>(
    method: Method,
    status: u16,
    res: &ResponseHead,
    buf: &[u8],
    edits: &Edits<'_, N>,
    inserted: Option<&[u8]>,
) -> bool {
    let safe = matches!(
        method,
        Method::Get | Method::Head | Method::Options | Method::Trace
    );
    // (cacheable, cookie cacheable)
    let (mut cacheable, mut cookie) = if safe && cacheable_status(status) {
        (true, true)
    } else {
        (false, false)
    };
    let mut set_cookie = false;
    let mut fresh = false;
    let mut validator = false;
    let mut pragma_seen = false;
    for h in edits.headers(res.headers(), buf) {
        let name = h.name;
        if name.eq_ignore_ascii_case(b"set-cookie") || name.eq_ignore_ascii_case(b"set-cookie2") {
            let ours = |n: &[u8]| {
                matches!(h.origin, FieldSource::Added)
                    && h.value.len() > n.len()
                    && h.value.starts_with(n)
                    && h.value[n.len()] == b'='
            };
            set_cookie |= !inserted.is_some_and(ours);
        } else if name.eq_ignore_ascii_case(b"pragma") {
            // HAProxy reads the first Pragma field's whole value.
            if !pragma_seen && trim(h.value).eq_ignore_ascii_case(b"no-cache") {
                return false;
            }
            pragma_seen = true;
        } else if name.eq_ignore_ascii_case(b"cache-control") {
            for v in h.value.split(|&b| b == b',').map(trim) {
                if v.eq_ignore_ascii_case(b"public") {
                    (cacheable, cookie) = (true, true);
                } else if [
                    &b"private"[..],
                    b"no-cache",
                    b"no-store",
                    b"max-age=0",
                    b"s-maxage=0",
                ]
                .iter()
                .any(|w| v.eq_ignore_ascii_case(w))
                {
                    (cacheable, cookie) = (false, false);
                } else if starts_with_ci(v, b"no-cache=\"set-cookie") {
                    cookie = false;
                } else if starts_with_ci(v, b"s-maxage") || starts_with_ci(v, b"max-age") {
                    fresh = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expires") {
            fresh = true;
        } else if name.eq_ignore_ascii_case(b"etag") || name.eq_ignore_ascii_case(b"last-modified")
        {
            validator = true;
        }
    }
    set_cookie && cacheable && cookie && (fresh || validator)
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

fn starts_with_ci(v: &[u8], p: &[u8]) -> bool {
    v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p)
}

/// The page HAProxy 2.6 answers a blocked response with: its page for the response's
/// status when it has one, else its 500 page (HAProxy does not set a 502 there); the log
/// keeps the status.
pub fn page_status(status: u16) -> u16 {
    match status {
        200 | 400 | 401 | 403 | 404 | 405 | 407 | 408 | 410 | 413 | 425 | 429 | 500..=504 => status,
        _ => 500,
    }
}
