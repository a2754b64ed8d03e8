//! Where a fetch has something to say, as HAProxy 2.6 decides it (each fetch's `SMP_USE_*`
//! families through `fetch_cap[]`): a request header in `http-response` or a response
//! header in `http-request` finds nothing. The table is generated from HAProxy's sources
//! (scripts/gen-fetch-placement.py); fetches it does not know are taken as valid anywhere.

pub use super::placement_table::ckp;
use super::placement_table::{SRC_NAMES, acl_fetch, fetch_use, fetch_val};

/// Whether the ACL keyword or fetch `kw` has something to say at one of the check points
/// of `place` (a mask of [`ckp`] bits).
pub fn expr_valid(kw: &str, place: u32) -> bool {
    let fetch = acl_fetch(kw).unwrap_or(kw);
    fetch_val(fetch).is_none_or(|v| v & place != 0)
}

/// What HAProxy says the sample expression `expr` (a fetch and its converters, as written)
/// needs where it has nothing to say at any check point of `place`: its fetch's sources
/// (`sample_src_names`, as `HTTP request headers,HTTP response headers`). `None` if it
/// works there, or for a fetch the table does not know.
pub fn misplaced(expr: &str, place: u32) -> Option<String> {
    // A sample fetch's own name (`hdr` reads either side there; the ACL keyword `hdr` is
    // `req.hdr`).
    let kw = &expr[..expr.find(['(', ',', ' ', ']']).unwrap_or(expr.len())];
    if fetch_val(kw)? & place != 0 {
        return None;
    }
    let used = fetch_use(kw)?;
    let names: Vec<&str> = (0..SRC_NAMES.len())
        .filter(|b| used & (1 << b) != 0)
        .map(|b| SRC_NAMES[b])
        .collect();
    Some(names.join(","))
}

/// HAProxy's error for an action's sample expression `expr` that has nothing to say at
/// `place` (0: not checked); `shown` is the word HAProxy names (the action for `set-var`,
/// the expression's last word for `capture` and `track-sc`). (HAProxy's HTTP rules end
/// the message with a dot, its tcp rules do not.)
pub fn misplaced_expr(shown: &str, expr: &str, place: u32) -> Result<(), String> {
    match misplaced(expr, place).filter(|_| place != 0) {
        Some(need) => Err(format!(
            "fetch method '{shown}' extracts information from '{need}', none of which is available here"
        )),
        None => Ok(()),
    }
}

/// HAProxy's name of the first check point of `place` (`sample_ckp_names`).
pub fn place_name(place: u32) -> &'static str {
    const NAMES: [&str; 22] = [
        "frontend tcp-request connection rule",
        "frontend tcp-request session rule",
        "frontend tcp-request content rule",
        "frontend http-request header rule",
        "frontend http-request body rule",
        "frontend use-backend rule",
        "backend tcp-request content rule",
        "backend http-request header rule",
        "backend http-request body rule",
        "backend use-server, balance or stick-match rule",
        "server source selection",
        "backend tcp-response content rule",
        "backend http-response header rule",
        "backend http-response body rule",
        "backend stick-store rule",
        "frontend tcp-response content rule",
        "frontend http-response header rule",
        "frontend http-response body rule",
        "logs",
        "backend tcp-check rule",
        "configuration parser",
        "CLI parser",
    ];
    NAMES
        .get(place.trailing_zeros() as usize)
        .copied()
        .unwrap_or("unknown sample check place")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_fetches_have_their_side() {
        let req = ckp::FE_HRQ_HDR | ckp::BE_HRQ_HDR;
        let res = ckp::FE_HRS_HDR | ckp::BE_HRS_HDR;
        for kw in ["path", "path_beg", "hdr", "url_param", "req.hdr", "base"] {
            assert!(expr_valid(kw, req), "{kw}");
            assert!(!expr_valid(kw, res), "{kw}");
        }
        for kw in ["status", "res.hdr", "shdr", "scook"] {
            assert!(!expr_valid(kw, req), "{kw}");
            assert!(expr_valid(kw, res), "{kw}");
        }
        // The request's method and captures stay, and a sample `hdr` reads either side.
        for kw in [
            "method",
            "capture.req.uri",
            "src",
            "var",
            "always_true",
            "unknown_fetch",
        ] {
            assert!(expr_valid(kw, req) && expr_valid(kw, res), "{kw}");
        }
        assert_eq!(
            misplaced("hdr(x),lower", ckp::FE_LOG_END).as_deref(),
            Some("HTTP request headers,HTTP response headers")
        );
        assert_eq!(misplaced("status", req).as_deref(), Some("HTTP response"));
        assert_eq!(
            misplaced("be_name", ckp::FE_HRQ_HDR).as_deref(),
            Some("backend")
        );
        assert_eq!(misplaced("be_name", req), None);
        assert_eq!(misplaced("unknown_fetch", req), None);
        // A listen section checks both; HAProxy names the first check point, the backend's.
        assert_eq!(place_name(res), "backend http-response header rule");
        assert_eq!(
            place_name(ckp::FE_HRS_HDR),
            "frontend http-response header rule"
        );
        assert_eq!(
            place_name(ckp::BE_HRS_HDR),
            "backend http-response header rule"
        );
    }
}
