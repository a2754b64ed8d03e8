//! This shard's spare I/O buffers, by size: what a connection gives back when it no longer
//! needs a buffer (mode http's idle keep-alive connection, the pump going back to splicing
//! after a fallback chunk or a kTLS control record, a finished copy loop) and the next one
//! takes instead of allocating and zero-filling a new one.
//! Each shard is one thread, so the list is thread-local and takes no lock; it is bounded
//! per size and in sizes, so idle memory stays bounded too.

use std::cell::{Cell, RefCell};

/// Buffers kept per size…
const PER_SIZE: usize = 32;
/// …and at most this many bytes of one size.
const BYTES_PER_SIZE: usize = 1 << 20;
/// Sizes kept: mode http's `tune.bufsize`, the pump's and the copy loop's. A reload that
/// changes `tune.bufsize` adds one; the size that came first is then dropped.
const SIZES: usize = 4;

/// The spare buffers of one size.
type SizeClass = (usize, Vec<Box<[u8]>>);

thread_local! {
    static SPARE: RefCell<Vec<SizeClass>> = const { RefCell::new(Vec::new()) };
    /// Buffers taken from the spare list, and newly allocated, by this thread.
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// (reused, allocated) buffers so far on this thread (its shard publishes them).
pub fn counts() -> (u64, u64) {
    COUNTS.with(Cell::get)
}

/// A buffer of `size` bytes: a spare one (its old bytes are still in it), or a new zeroed one.
pub fn take(size: usize) -> Box<[u8]> {
    let b = SPARE.with(|s| {
        let mut s = s.borrow_mut();
        s.iter_mut().find(|(n, _)| *n == size)?.1.pop()
    });
    COUNTS.with(|c| {
        let (r, a) = c.get();
        c.set(if b.is_some() { (r + 1, a) } else { (r, a + 1) });
    });
    b.unwrap_or_else(|| vec![0u8; size].into_boxed_slice())
}

/// Keeps `b` for the next [`take`] of its size (or frees it when enough are kept).
pub fn give_back(b: Box<[u8]>) {
    let size = b.len();
    if size == 0 {
        return;
    }
    // `try_with`: while the thread exits, a buffer freed by another thread-local's
    // destructor (the spare request states of mode http keep theirs) finds this one gone;
    // it is then simply freed.
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        let i = match s.iter().position(|(n, _)| *n == size) {
            Some(i) => i,
            None => {
                if s.len() == SIZES {
                    s.remove(0);
                }
                s.push((size, Vec::new()));
                s.len() - 1
            }
        };
        let list = &mut s[i].1;
        if list.len() < PER_SIZE.min(BYTES_PER_SIZE / size).max(1) {
            list.push(b);
        }
    });
}

/// Spare buffers of `size` held now.
#[cfg(test)]
pub fn spare(size: usize) -> usize {
    SPARE.with(|s| {
        s.borrow()
            .iter()
            .find(|(n, _)| *n == size)
            .map_or(0, |(_, l)| l.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_by_size_and_bounded() {
        let a = take(4096);
        let p = a.as_ptr();
        give_back(a);
        give_back(take(8192));
        let again = take(4096);
        assert_eq!(again.as_ptr(), p, "the spare buffer of that size");
        assert_eq!(spare(8192), 1);
        let many: Vec<_> = (0..PER_SIZE + 5).map(|_| take(1024)).collect();
        many.into_iter().for_each(give_back);
        assert_eq!(spare(1024), PER_SIZE);
        let big: Vec<_> = (0..20).map(|_| take(256 << 10)).collect();
        big.into_iter().for_each(give_back);
        assert_eq!(spare(256 << 10), BYTES_PER_SIZE / (256 << 10));
        // A fifth size drops the first one kept.
        give_back(take(100));
        give_back(take(200));
        assert_eq!(spare(8192), 0);
        assert_eq!(spare(100), 1);
    }
}
