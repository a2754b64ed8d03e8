//! `http-after-response`: the rules every answer goes through last — the server's (on the
//! head's edits, after the `http-response` rules) and corelb's own (error pages, redirects,
//! `return`, the stats page, cache hits), re-written with the rules' edits. As in HAProxy
//! (`http_eval_after_res_rules`), the backend's rules run first, then the frontend's if it is
//! another proxy; an `allow` ends only its own proxy's rules. Answers to requests that could
//! not be parsed get no rules (HAProxy's mux writes those before any analysis).
//!
//! The request is gone by then in HAProxy: its fetches find nothing (2.6 refuses them in
//! these rules' values and warns that a condition on them never matches), so the rules see
//! no request head here either — variables, addresses and counters are what they use.

use super::rules::{HttpVerdict, response_rules};
use crate::acl::RequestSample;
use crate::config::Proxy;
use crate::h1::{Edits, HeadLimits, Parsed, ResponseHead, parse_response, serialize_response};
use bumpalo::Bump;

/// The proxies whose rules apply, in their order: the backend's, then the frontend's.
fn proxies<'a>(fe: &'a Proxy, be: Option<&'a Proxy>) -> impl Iterator<Item = &'a Proxy> {
    let be = be.filter(|b| !std::ptr::eq(*b, fe));
    be.into_iter().chain(std::iter::once(fe))
}

/// Whether any rule would run: the common case has none and costs one test.
pub fn any(fe: &Proxy, be: Option<&Proxy>) -> bool {
    proxies(fe, be).any(|p| !p.http_after_response.is_empty())
}

/// What `capture ... id N` rules took: (slot, value), for the frontend's response slots.
pub type Captures = Vec<(usize, Vec<u8>)>;

/// Runs the rules on a server's response head, into its `edits`; `capture` rules' values
/// go to `caps`, failed rewrites to `failed`. `room`: what the rules may add to the head
/// (HAProxy's buffer less the response). Returns whether a rewrite failed under
/// `strict-mode on` (HAProxy's default): HAProxy then answers 500 instead (see [`failed_page`]);
/// the other proxy's rules do not run.
#[allow(clippy::too_many_arguments)]
pub fn on_head<'a, const N: usize>(
    fe: &'a Proxy,
    be: Option<&'a Proxy>,
    base: &RequestSample<'_>,
    res: &ResponseHead,
    rbuf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    scratch: &mut Vec<u8>,
    caps: &mut Captures,
    room: usize,
    failed: &mut u8,
) -> bool {
    let base = &RequestSample {
        head: None,
        ..*base
    };
    let mut room = Some(room);
    for px in proxies(fe, be) {
        // The parser admits no action that answers or drops: a reply is the 500 of a failed
        // rewrite under `strict-mode on`.
        let v = response_rules(
            &px.http_after_response,
            &px.acls,
            base,
            res,
            rbuf,
            edits,
            bump,
            scratch,
            (fe, be),
            false,
            caps,
            // (None of these among http-after-response's actions in HAProxy 2.6.)
            &mut super::rules::Effects::default(),
            &mut room,
            failed,
            // (The caller counts it: whether it does depends on whose answer this is.)
            &mut false,
        );
        if matches!(
            v,
            HttpVerdict::Reply { .. } | HttpVerdict::DenyResponse { .. }
        ) {
            return true;
        }
    }
    false
}

/// Runs the rules on an answer corelb wrote itself (`bytes`: a whole HTTP/1.1 response):
/// the answer as the rules leave it, and its status; `capture` rules' values go to `caps`,
/// failed rewrites to `failed`. As HAProxy (`http_reply_and_close`), a rewrite failing under
/// `strict-mode on` makes the answer the 500 page, which goes through the rules too, unless
/// the answer was a 500 already: then the page goes without them. The bool: such a
/// rewrite failed.
#[allow(clippy::too_many_arguments)]
pub fn on_bytes(
    fe: &Proxy,
    be: Option<&Proxy>,
    base: &RequestSample<'_>,
    status: u16,
    bytes: Vec<u8>,
    scratch: &mut Vec<u8>,
    caps: &mut Captures,
    bufsize: usize,
    failed: &mut u8,
) -> ((u16, Vec<u8>), bool) {
    // corelb answers: the request's analysis is over (`req.` variables are gone).
    if let Some(t) = base.txn {
        t.end_request();
    }
    let r = after_rules(fe, be, base, status, bytes, scratch, caps, bufsize, failed);
    // A `return`/`redirect`/`auth` rule counts as the last rule from here on (HAProxy
    // records it once its answer went through these rules).
    if let Some(t) = base.txn {
        t.settle_last_rule();
    }
    r
}

/// [`on_bytes`]'s rules.
#[allow(clippy::too_many_arguments)]
fn after_rules(
    fe: &Proxy,
    be: Option<&Proxy>,
    base: &RequestSample<'_>,
    status: u16,
    bytes: Vec<u8>,
    scratch: &mut Vec<u8>,
    caps: &mut Captures,
    bufsize: usize,
    failed: &mut u8,
) -> ((u16, Vec<u8>), bool) {
    if !any(fe, be) {
        return ((status, bytes), false);
    }
    // The rules on an answer: the answer as they leave it, and its status (one that does
    // not parse goes as it is); `Err` (the answer back) when a rewrite failed under
    // `strict-mode on`.
    let mut rules = |status: u16, bytes: Vec<u8>| -> Result<(u16, Vec<u8>), Vec<u8>> {
        let limits = HeadLimits::default();
        let mut res = ResponseHead::with_capacity(&limits);
        let Ok(Parsed::Complete { head_len }) = parse_response(&bytes, &limits, &mut res) else {
            // corelb's own pages always parse; an `errorfile` that does not is sent as it is.
            return Ok((status, bytes));
        };
        let bump = Bump::new();
        let mut edits: Edits<'_> = Edits::new();
        // HAProxy holds the whole answer, body too, in the buffer the rules add to.
        let room = bufsize.saturating_sub(bytes.len());
        let (res, b, e) = (&res, &bytes[..], &mut edits);
        if on_head(fe, be, base, res, b, e, &bump, scratch, caps, room, failed) {
            return Err(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len() + 128);
        serialize_response(res, &bytes, &edits, &mut out);
        out.extend_from_slice(&bytes[head_len..]);
        Ok((edits.status.map_or(status, |(s, _)| s), out))
    };
    let r = match rules(status, bytes) {
        Ok(answer) => return (answer, false),
        Err(_) if status == 500 => (500, failed_page(fe, be, base)),
        Err(_) => match rules(500, failed_page(fe, be, base)) {
            Ok(answer) => answer,
            Err(page) => (500, page),
        },
    };
    (r, true)
}

/// The 500 HAProxy answers when a rewrite failed under `strict-mode on`.
pub fn failed_page(fe: &Proxy, be: Option<&Proxy>, base: &RequestSample<'_>) -> Vec<u8> {
    super::rules::close_page(super::rules::page_for(500, fe, be, base), true)
}
