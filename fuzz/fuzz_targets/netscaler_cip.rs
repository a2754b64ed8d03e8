//! NetScaler CIP parser: arbitrary bytes must never panic, a complete header never claims
//! more than was received, and the answer is stable as bytes arrive (a prefix is either
//! still Incomplete or already the final answer). The first input byte picks where to cut,
//! the next four are the magic.

#![no_main]

use corelb::proxy_protocol::netscaler::{Cip, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let Some((m, buf)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let magic = u32::from_be_bytes(*m);
    let full = parse(buf, magic);
    if let Cip::Complete { len, .. } = full {
        assert!(len <= buf.len());
    }
    let cut = usize::from(ctl) * buf.len() / 255;
    match parse(&buf[..cut], magic) {
        Cip::Incomplete => {}
        prefix => assert_eq!(prefix, full),
    }
});
