//! Response heads: never panic, errors are always the server's (502), and accepted heads
//! re-serialize to heads that parse to the same status and framing.
#![no_main]

use corelb::h1::{
    Edits, HeadLimits, Method, Parsed, ResponseHead, parse_response, serialize_response,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::new(4096, 32);
    let mut head = ResponseHead::new();
    match parse_response(data, &limits, &mut head) {
        Ok(Parsed::Complete { head_len }) => {
            assert!(head_len <= data.len());
            let mut out = Vec::new();
            serialize_response(&head, data, &Edits::<2>::new(), &mut out);
            let mut again = ResponseHead::new();
            assert_eq!(
                parse_response(&out, &HeadLimits::new(1 << 16, 64), &mut again),
                Ok(Parsed::Complete {
                    head_len: out.len()
                })
            );
            assert_eq!(again.status(), head.status());
            for m in [Method::Get, Method::Head, Method::Connect] {
                assert_eq!(again.body_kind(m), head.body_kind(m));
            }
        }
        Ok(Parsed::Incomplete) => assert!(data.len() < limits.max_head),
        Err(e) => assert_eq!(e.status(), 502),
        // `Parsed` is non-exhaustive; nothing else exists today.
        Ok(_) => {}
    }
});
