// corelb: this file is corelb's addition (CHANGES.md item 12).
//! A ring of provided buffers (`IORING_REGISTER_PBUF_RING`, Linux 5.19+) registered on an
//! executor's main ring, for socket receives submitted to the ring
//! (`IORING_OP_RECV` with `IOSQE_BUFFER_SELECT`): the kernel picks a buffer only when data
//! arrives, so a connection waiting for bytes holds none, and the bytes come with the
//! completion instead of a `recv` system call after a readiness poll.
use std::{
    alloc::{alloc_zeroed, dealloc, Layout},
    cell::Cell,
    fmt, io,
    os::unix::io::RawFd,
    rc::Rc,
    sync::atomic::{AtomicU16, Ordering},
};

const IORING_REGISTER_PBUF_RING: libc::c_long = 22;
pub(crate) const IORING_CQE_F_BUFFER: u32 = 1;
const IORING_CQE_BUFFER_SHIFT: u32 = 16;
/// The buffer group id used on the main ring.
pub(crate) const BGID: u16 = 0;
/// Buffers in the ring (a power of two) and their size: 128 × 4 KiB per executor. A
/// completed receive holds its buffer only until the stream's next read copies it out;
/// when all are taken, a receive fails with ENOBUFS and the stream falls back to a
/// readiness poll and a `recv`.
const ENTRIES: u16 = 128;
pub(crate) const BUF_SIZE: usize = 4096;

#[repr(C)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

/// `struct io_uring_buf`; the ring's tail is the `resv` field of entry 0.
#[repr(C)]
struct RingEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

pub(crate) struct BufRing {
    ring: *mut RingEntry,
    ring_layout: Layout,
    bufs: *mut u8,
    bufs_layout: Layout,
    /// Our copy of the tail: the executor is the only producer.
    tail: Cell<u16>,
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing").finish()
    }
}

impl BufRing {
    /// Registers a buffer ring on `ring_fd`; an error (an older kernel: EINVAL) means
    /// receives keep going through readiness polls.
    pub(crate) fn register(ring_fd: RawFd) -> io::Result<Rc<BufRing>> {
        let ring_layout =
            Layout::from_size_align(ENTRIES as usize * std::mem::size_of::<RingEntry>(), 4096)
                .unwrap();
        let bufs_layout = Layout::from_size_align(ENTRIES as usize * BUF_SIZE, 4096).unwrap();
        let (ring, bufs) = unsafe {
            (
                alloc_zeroed(ring_layout) as *mut RingEntry,
                alloc_zeroed(bufs_layout),
            )
        };
        assert!(!ring.is_null() && !bufs.is_null());
        let br = BufRing {
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            tail: Cell::new(0),
        };
        let reg = BufReg {
            ring_addr: ring as u64,
            ring_entries: ENTRIES as u32,
            bgid: BGID,
            flags: 0,
            resv: [0; 3],
        };
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring_fd,
                IORING_REGISTER_PBUF_RING,
                &reg as *const BufReg,
                1,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        for bid in 0..ENTRIES {
            br.push(bid);
        }
        Ok(Rc::new(br))
    }

    fn tail_atomic(&self) -> &AtomicU16 {
        // The tail shares entry 0's `resv` field (offset 14), read by the kernel.
        unsafe { &*((self.ring as *mut u8).add(14) as *const AtomicU16) }
    }

    /// Gives buffer `bid` back to the kernel.
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let idx = (tail & (ENTRIES - 1)) as usize;
        unsafe {
            let e = self.ring.add(idx);
            // Not `resv`: for entry 0 that is the tail.
            std::ptr::addr_of_mut!((*e).addr).write(self.bufs.add(bid as usize * BUF_SIZE) as u64);
            std::ptr::addr_of_mut!((*e).len).write(BUF_SIZE as u32);
            std::ptr::addr_of_mut!((*e).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        self.tail_atomic().store(tail, Ordering::Release);
    }

    /// The buffer a completion with `cqe_flags` (IORING_CQE_F_BUFFER set) and result `len`
    /// filled; it goes back to the ring when dropped.
    pub(crate) fn taken(self: &Rc<Self>, cqe_flags: u32, len: usize) -> RingBuf {
        RingBuf {
            ring: self.clone(),
            bid: (cqe_flags >> IORING_CQE_BUFFER_SHIFT) as u16,
            len: len.min(BUF_SIZE),
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // Dropped with the reactor, after its rings were closed (the ring is a field
        // declared before this one), so the kernel no longer writes here.
        unsafe {
            dealloc(self.ring as *mut u8, self.ring_layout);
            dealloc(self.bufs, self.bufs_layout);
        }
    }
}

/// Bytes a receive brought in, in a buffer of the ring until dropped.
pub(crate) struct RingBuf {
    ring: Rc<BufRing>,
    bid: u16,
    len: usize,
}

impl fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl RingBuf {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        unsafe {
            std::slice::from_raw_parts(self.ring.bufs.add(self.bid as usize * BUF_SIZE), self.len)
        }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        self.ring.push(self.bid);
    }
}
