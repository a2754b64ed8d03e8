//! Chunked bodies: any split of the input gives exactly the one-shot result (same end, same
//! error and offset, same de-chunked data). The first 8 bytes seed the split sizes.
#![no_main]

use corelb::h1::{ChunkError, ChunkedScanner, HeadLimits};
use libfuzzer_sys::fuzz_target;

struct Outcome {
    consumed: usize,
    done: bool,
    error: Option<ChunkError>,
    data: Vec<u8>,
}

fn run(body: &[u8], mut next_len: impl FnMut() -> usize) -> Outcome {
    let mut s = ChunkedScanner::new(&HeadLimits::new(256, 8));
    let mut o = Outcome {
        consumed: 0,
        done: false,
        error: None,
        data: Vec::new(),
    };
    while o.consumed < body.len() {
        let end = (o.consumed + next_len()).min(body.len());
        let piece = &body[o.consumed..end];
        match s.advance_with(piece, |r| o.data.extend_from_slice(&piece[r])) {
            Ok(a) => {
                assert!(a.consumed <= piece.len());
                o.consumed += a.consumed;
                if a.done {
                    o.done = true;
                    break;
                }
                assert_eq!(a.consumed, piece.len());
            }
            Err(e) => {
                o.error = Some(e);
                break;
            }
        }
    }
    o
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (seed, body) = data.split_at(8);
    let mut x = u64::from_le_bytes(seed.try_into().unwrap()) | 1;
    let whole = run(body, || body.len().max(1));
    let split = run(body, || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        1 + (x % 16) as usize
    });
    assert_eq!(split.done, whole.done);
    assert_eq!(split.error, whole.error);
    assert_eq!(split.data, whole.data);
    if whole.error.is_none() {
        assert_eq!(split.consumed, whole.consumed);
    }
    if let Some(e) = whole.error {
        assert!(e.offset < body.len() as u64);
    }
});
