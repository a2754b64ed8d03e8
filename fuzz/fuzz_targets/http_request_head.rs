//! Request heads: parsing never panics and never claims more bytes than it was given; what it
//! accepts serializes to a head that parses again to the same request, and serializing that
//! gives the same bytes (forwarding cannot make the next hop read a different message).
#![no_main]

use corelb::h1::{
    ConnectionHeader, Edits, HeadLimits, Parsed, RequestHead, parse_request, serialize_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::new(4096, 32);
    let mut head = RequestHead::new();
    match parse_request(data, &limits, &mut head) {
        Ok(Parsed::Complete { head_len }) => {
            assert!(head_len <= data.len());
            assert!(head_len <= limits.max_head);
            let mut edits = Edits::<4>::new();
            edits.strip_hop_by_hop(data.len() % 2 == 0);
            edits.set_connection(ConnectionHeader::Close);
            let mut out = Vec::new();
            serialize_request(&head, data, &edits, &mut out);
            let mut again = RequestHead::new();
            let wide = HeadLimits::new(1 << 16, 64);
            assert_eq!(
                parse_request(&out, &wide, &mut again),
                Ok(Parsed::Complete {
                    head_len: out.len()
                })
            );
            assert_eq!(again.method(), head.method());
            assert_eq!(again.target(&out), head.target(data));
            assert_eq!(again.host(&out), head.host(data));
            assert_eq!(again.body_kind(), head.body_kind());
            let mut out2 = Vec::new();
            serialize_request(&again, &out, &edits, &mut out2);
            assert_eq!(out2, out);
            let _ = head.cookie(data, b"a");
            let _ = head.url_param(data, b"a");
            let _ = head.header_elements(data, b"accept").count();
        }
        Ok(Parsed::Incomplete) => assert!(data.len() < limits.max_head),
        Err(e) => assert!(e.offset() <= data.len()),
        // `Parsed` is non-exhaustive; nothing else exists today.
        Ok(_) => {}
    }
});
