//! The layer-6 fetches over a client's first bytes (`req.ssl_sni`, `req.ssl_alpn`,
//! `req.ssl_hello_type`, `req.ssl_ver`, `req.payload`, `req.payload_lv`): arbitrary bytes
//! must never panic, and an answer given on a prefix must not change when more bytes
//! arrive (content inspection acts on the first answer that is not "too short").
//!
//! The first input byte picks where to cut the prefix and the payload offsets; seed with
//! real ClientHellos (`openssl s_client -msg`, or the unit tests' `hello()`).

#![no_main]

use corelb::acl::payload::{self as p, L6, LvOffset};
use libfuzzer_sys::fuzz_target;

/// The prefix's answer is "too short", or the full input's answer.
fn stable<T: PartialEq + std::fmt::Debug>(prefix: L6<T>, full: L6<T>) {
    match prefix {
        L6::TooShort => {}
        // A partial value (`req.payload(o,0)`) grows with the bytes.
        L6::Partial(_) => assert!(matches!(full, L6::Partial(_))),
        other => assert_eq!(other, full),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, buf)) = data.split_first() else {
        return;
    };
    let cut = &buf[..usize::from(ctl) * buf.len() / 255];
    stable(p::ssl_sni(cut), p::ssl_sni(buf));
    stable(p::ssl_alpn(cut), p::ssl_alpn(buf));
    stable(p::ssl_hello_type(cut), p::ssl_hello_type(buf));
    stable(p::ssl_ver(cut), p::ssl_ver(buf));
    let (o, l) = (u64::from(ctl & 0x0f), u64::from(ctl >> 4));
    stable(p::payload(cut, o, l), p::payload(buf, o, l));
    let at = if ctl & 1 == 0 {
        LvOffset::AfterLength
    } else {
        LvOffset::Relative(i64::from(ctl >> 5) - 2)
    };
    stable(p::payload_lv(cut, o, l % 4, at), p::payload_lv(buf, o, l % 4, at));
    if let L6::Found(ext) = p::ssl_alpn(buf) {
        p::alpn_names(ext, &mut |n| {
            assert!(n.len() < ext.len());
            true
        });
    }
});
