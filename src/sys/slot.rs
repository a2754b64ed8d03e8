//! [`PinSlot`]: a heap place that pinned values of one type are written in, one after the
//! other, without an allocation each (an HTTP/2 connection's places for its streams'
//! futures, see `proxy::http::tasks`).

use std::mem::MaybeUninit;
use std::pin::Pin;

/// A boxed place for a value of type `F` that is pinned while it is there: written in
/// place ([`PinSlot::put`]), polled through [`PinSlot::get`], dropped in place
/// ([`PinSlot::clear`]); the next value takes the same memory.
pub struct PinSlot<F> {
    mem: Box<MaybeUninit<F>>,
    full: bool,
}

impl<F> Default for PinSlot<F> {
    fn default() -> Self {
        PinSlot {
            mem: Box::new_uninit(),
            full: false,
        }
    }
}

impl<F> PinSlot<F> {
    /// Drops the value there (if any) and writes `make()`'s in its place. (`make` is called
    /// after the drop, so that the value can be built where it is written, not built on the
    /// stack and copied: `Pin::set` must build the new value before it drops the old one.)
    #[inline(always)]
    pub fn put(&mut self, make: impl FnOnce() -> F) {
        self.clear();
        self.mem.write(make());
        self.full = true;
    }

    /// The value there, pinned.
    #[inline]
    pub fn get(&mut self) -> Option<Pin<&mut F>> {
        if !self.full {
            return None;
        }
        // SAFETY: `full` says the memory holds an initialized `F` (written by `put`, not
        // dropped since). It is never moved out: the box's memory stays where it is when the
        // slot moves, and the value leaves it only by `drop_in_place` (`clear`, `Drop`), so
        // the pin's promise holds until the value is dropped.
        Some(unsafe { Pin::new_unchecked(self.mem.assume_init_mut()) })
    }

    /// Drops the value there, in place.
    pub fn clear(&mut self) {
        if self.full {
            // (Unset first: a panic in the value's drop leaves the slot empty, not dropped
            // twice.)
            self.full = false;
            // SAFETY: the memory held an initialized `F` (`full`); after this nothing reads
            // it as one until `put` writes a new one.
            unsafe { self.mem.assume_init_drop() };
        }
    }
}

impl<F> Drop for PinSlot<F> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    struct D(Rc<Cell<u32>>, u32);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn values_take_the_same_memory_and_each_is_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let mut s = PinSlot::default();
        assert!(s.get().is_none());
        s.put(|| D(drops.clone(), 1));
        let at = &*s.get().unwrap() as *const D;
        assert_eq!(s.get().unwrap().1, 1);
        s.put(|| D(drops.clone(), 2));
        assert_eq!(drops.get(), 1);
        assert_eq!(&*s.get().unwrap() as *const D, at);
        assert_eq!(s.get().unwrap().1, 2);
        s.clear();
        assert_eq!(drops.get(), 2);
        assert!(s.get().is_none());
        s.clear();
        s.put(|| D(drops.clone(), 3));
        drop(s);
        assert_eq!(drops.get(), 3);
    }
}
