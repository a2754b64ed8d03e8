//! Where a fetch has something to say, as HAProxy 2.6 decides it (each fetch's `SMP_USE_*`
//! families through `fetch_cap[]`): a request header in `http-response` or a response
//! header in `http-request` finds nothing. The table is generated from HAProxy's sources
//! (scripts/gen-fetch-placement.py); fetches it does not know are taken as valid anywhere.

pub use super::placement_table::ckp;
use super::placement_table::{acl_fetch, fetch_val};

/// Whether the ACL keyword or fetch `kw` has something to say at one of the check points
/// of `place` (a mask of [`ckp`] bits).
pub fn expr_valid(kw: &str, place: u32) -> bool {
    let fetch = acl_fetch(kw).unwrap_or(kw);
    fetch_val(fetch).is_none_or(|v| v & place != 0)
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
