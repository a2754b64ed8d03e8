// Unless explicitly stated otherwise all files in this repository are licensed
// under the MIT/Apache-2.0 License, at your convenience
//
// This product includes software developed at Datadog (https://www.datadoghq.com/). Copyright 2021 Datadog, Inc.
//
use crate::{
    iou::sqe::SockAddrStorage,
    sys::{
        DmaBuffer, IoBuffer, OsResult, PollableStatus, ReactorQueue, SourceId, Statx, TimeSpec64,
        Wakers,
    },
    GlommioError, IoRequirements, ReactorErrorKind, RingIoStats, TaskQueueHandle,
};
use futures_lite::{future, io};
use std::{
    cell::{Ref, RefCell, RefMut},
    convert::TryFrom,
    ffi::CString,
    fmt,
    mem::{ManuallyDrop, MaybeUninit},
    os::unix::io::RawFd,
    path::PathBuf,
    pin::Pin,
    rc::Rc,
    task::{Poll, Waker},
    time::Duration,
};

#[derive(Debug)]
#[allow(dead_code)] // Clippy is unhappy with some of the fields on these enums never being read,
                    // but they are certainly used, and read by debug
pub(crate) enum SourceType {
    Write(PollableStatus, IoBuffer),
    Read(PollableStatus, Option<IoBuffer>),
    PollAdd,
    SockSend(DmaBuffer),
    SockRecv(Option<DmaBuffer>),
    // corelb: a receive into a buffer the kernel picks from the main ring's buffer ring;
    // the completion puts it here (CHANGES.md item 12).
    SockRecvSelect(Option<super::buf_ring::RingBuf>),
    // corelb: a send of bytes copied out of the writer's buffer, so that the write returns
    // at once and the send goes with the next submission (CHANGES.md item 19). The flags:
    // a first attempt with MSG_DONTWAIT, which completes during its submission (item 20);
    // its one waiter is an idle wait that need not end a sleep (`add_idle_waiter`, item 21).
    SockSendOwned(Vec<u8>, bool, bool),
    // corelb: the datagram and address variants are boxed (CHANGES.md item 26): an enum is
    // as large as its largest variant, and these made every source (the read readiness an
    // idle connection holds, each send and receive) a 496-byte allocation instead of 304.
    SockRecvMsg(
        Box<(
            Option<DmaBuffer>,
            libc::iovec,
            libc::msghdr,
            MaybeUninit<nix::sys::socket::sockaddr_storage>,
        )>,
    ),
    SockSendMsg(
        Box<(
            DmaBuffer,
            libc::iovec,
            libc::msghdr,
            nix::sys::socket::SockaddrStorage,
        )>,
    ),
    Open(CString),
    FdataSync,
    Fallocate,
    Truncate,
    Close,
    LinkRings,
    ForeignNotifier(u64, bool),
    Statx(CString, Box<RefCell<Statx>>),
    Timeout(TimeSpec64, u32),
    Connect(Box<nix::sys::socket::SockaddrStorage>),
    Accept(Box<SockAddrStorage>),
    Rename(PathBuf, PathBuf),
    CreateDir(PathBuf),
    Remove(PathBuf),
    BlockingFn,
    Invalid,
    CopyFileRange(RawFd, u64, usize),
    #[cfg(feature = "bench")]
    Noop,
}

impl TryFrom<SourceType> for Statx {
    type Error = GlommioError<()>;

    fn try_from(value: SourceType) -> Result<Self, Self::Error> {
        match value {
            SourceType::Statx(_, buf) => Ok(buf.into_inner()),
            src => Err(GlommioError::ReactorError(
                ReactorErrorKind::IncorrectSourceType(format!("{src:?}")),
            )),
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
pub(crate) enum EnqueuedStatus {
    Enqueued,
    Canceled,
    Dispatched,
}

#[derive(Clone)]
pub struct EnqueuedSource {
    pub(crate) id: SourceId,
    pub(crate) queue: ReactorQueue,
    pub(crate) status: EnqueuedStatus,
}

pub(crate) type StatsCollectionFn = fn(&io::Result<usize>, &mut RingIoStats, waiters: u64) -> ();
pub(crate) type LatencyCollectionFn =
    fn(std::time::Duration, std::time::Duration, std::time::Duration, &mut RingIoStats) -> ();

#[derive(Copy, Clone)]
pub(crate) struct StatsCollection {
    /// fulfilled runs when the source exits the reactor
    pub(crate) fulfilled: Option<StatsCollectionFn>,

    /// reused runs when a fulfilled source is reused by another consumer
    pub(crate) reused: Option<StatsCollectionFn>,

    /// Called when a result is first consumed. It collects the time
    /// it took for user code to consume the result of a fulfilled source.
    /// This is called once, even if the source is reused multiple time.
    pub(crate) latency: Option<LatencyCollectionFn>,
}

/// A registered source of I/O events.
pub(crate) struct InnerSource {
    /// Raw file descriptor on Unix platforms.
    pub(crate) raw: RawFd,

    /// Tasks interested in events on this source.
    pub(crate) wakers: Wakers,

    pub(crate) source_type: SourceType,

    pub(crate) io_requirements: IoRequirements,

    pub(crate) timeout: Option<TimeSpec64>,

    pub(crate) enqueued: Option<EnqueuedSource>,

    pub(crate) stats_collection: Option<StatsCollection>,

    pub(crate) task_queue: Option<TaskQueueHandle>,
}

impl InnerSource {
    pub(crate) fn update_source_type(&mut self, source_type: SourceType) -> SourceType {
        std::mem::replace(&mut self.source_type, source_type)
    }
}

impl fmt::Debug for InnerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InnerSource")
            .field("raw", &self.raw)
            .field("wakers", &self.wakers)
            .field("source_type", &self.source_type)
            .field("io_requirements", &self.io_requirements)
            .finish()
    }
}

#[derive(Debug)]
pub struct Source {
    // corelb: ManuallyDrop, so that its drop can keep the allocation for the next source
    // (CHANGES.md item 25).
    pub(crate) inner: ManuallyDrop<Pin<Rc<RefCell<InnerSource>>>>,
}

// corelb: sources' allocations and sends' copies kept for the next ones, per thread
// (CHANGES.md item 25): a proxy makes a source (and a copy for a send on the ring) per
// I/O on every connection, and each was an allocation and a free.
const SPARE_SOURCES: usize = 64;
const SPARE_SEND_COPIES: usize = 32;
/// A larger send's copy is freed (an idle thread does not hold big copies).
const SPARE_SEND_COPY_MAX: usize = 2048;

thread_local! {
    static SPARE: RefCell<(Vec<Rc<RefCell<InnerSource>>>, Vec<Vec<u8>>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A copy of `b` for a send on the ring, in a kept allocation when there is one.
pub(crate) fn send_copy(b: &[u8]) -> Vec<u8> {
    let mut v = SPARE
        .try_with(|s| s.borrow_mut().1.pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    v.extend_from_slice(b);
    v
}

/// Keeps the allocation of a send's copy that is done with, for [`send_copy`].
pub(crate) fn give_back_send_copy(mut v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() > SPARE_SEND_COPY_MAX {
        return;
    }
    v.clear();
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.1.len() < SPARE_SEND_COPIES {
            s.1.push(v);
        }
    });
}

impl Source {
    /// Registers an I/O source in the reactor.
    pub(crate) fn new(
        ioreq: IoRequirements,
        raw: RawFd,
        source_type: SourceType,
        stats_collection: Option<StatsCollection>,
        task_queue: Option<TaskQueueHandle>,
    ) -> Source {
        let kept = SPARE.try_with(|s| s.borrow_mut().0.pop()).ok().flatten();
        let inner = match kept {
            Some(rc) => {
                // Field by field: the whole (~500 bytes) would be built and then copied.
                // (Its wakers and source type were emptied when it was kept.)
                let mut s = rc.borrow_mut();
                s.raw = raw;
                s.source_type = source_type;
                s.io_requirements = ioreq;
                s.enqueued = None;
                s.timeout = None;
                s.stats_collection = stats_collection;
                s.task_queue = task_queue;
                drop(s);
                Pin::new(rc)
            }
            None => Rc::pin(RefCell::new(InnerSource {
                raw,
                wakers: Wakers::new(),
                source_type,
                io_requirements: ioreq,
                enqueued: None,
                timeout: None,
                stats_collection,
                task_queue,
            })),
        };
        Source {
            inner: ManuallyDrop::new(inner),
        }
    }

    pub(crate) fn set_timeout(&self, d: Duration) -> Option<Duration> {
        let mut inner = self.inner.borrow_mut();
        let t = &mut inner.timeout;
        let old = *t;
        match TimeSpec64::try_from(d) {
            Ok(dur) | Err(dur) => *t = Some(dur),
        }
        old.map(Duration::from)
    }

    pub(super) fn timeout_ref(&self) -> Ref<'_, Option<TimeSpec64>> {
        Ref::map(self.inner.borrow(), |x| &x.timeout)
    }

    // corelb: pub(crate) for the streams' receives on the ring.
    pub(crate) fn source_type(&self) -> Ref<'_, SourceType> {
        Ref::map(self.inner.borrow(), |x| &x.source_type)
    }

    pub(crate) fn source_type_mut(&self) -> RefMut<'_, SourceType> {
        RefMut::map(self.inner.borrow_mut(), |x| &mut x.source_type)
    }

    pub(crate) fn extract_source_type(self) -> SourceType {
        self.inner
            .borrow_mut()
            .update_source_type(SourceType::Invalid)
    }

    pub(crate) fn extract_buffer(self) -> IoBuffer {
        let stype = self.extract_source_type();
        match stype {
            SourceType::Read(_, Some(buffer)) => buffer,
            SourceType::Write(_, buffer) => buffer,
            x => panic!("Could not extract buffer. Source: {:?}", x),
        }
    }

    pub(crate) fn buffer(&self) -> Ref<'_, IoBuffer> {
        Ref::map(self.source_type(), |stype| match stype {
            SourceType::Read(_, Some(buffer)) => buffer,
            SourceType::Write(_, buffer) => buffer,
            x => panic!("Could not extract buffer. Source: {:?}", x),
        })
    }

    pub(crate) fn result(&self) -> Option<io::Result<usize>> {
        let mut inner = self.inner.borrow_mut();
        let ret = inner
            .wakers
            .result
            .as_ref()
            .map(|x| OsResult::from(x).into());
        if ret.is_none() {
            return ret;
        }

        // if there is a scheduler latency collection function present, invoke it once
        if let Some(Some(stat_fn)) = inner.stats_collection.as_ref().map(|x| x.latency) {
            if let Some(lat) = inner.wakers.timestamps() {
                drop(inner);
                let pre_lat = lat.submitted_at - lat.queued_at;
                let io_lat = lat.fulfilled_at - lat.submitted_at;
                let post_lat = lat.fulfilled_at.elapsed();

                let reactor = &crate::executor().reactor().sys;
                (stat_fn)(
                    pre_lat,
                    io_lat,
                    post_lat,
                    reactor.ring_for_source(self).io_stats_mut(),
                );
                (stat_fn)(
                    pre_lat,
                    io_lat,
                    post_lat,
                    reactor
                        .ring_for_source(self)
                        .io_stats_for_task_queue_mut(crate::executor().current_task_queue()),
                );
            }
        }

        ret
    }

    // adds a single waiter to the list, replacing any waiter that may already
    // exist. Should be used for single streams that map a future 1:1 to their I/O
    // source
    pub(crate) fn add_waiter_single(&self, waker: &Waker) {
        let mut inner = self.inner.borrow_mut();
        let waiters = &mut inner.wakers.waiters;
        match waiters.first_mut() {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
            }
            None => waiters.push(waker.clone()),
        }
        debug_assert_eq!(inner.wakers.waiters.len(), 1)
    }

    // adds a waiter to the list. Useful for streams that have many futures waiting
    // on a single I/O source
    // corelb: the waiter of a send on the ring (`SourceType::SockSendOwned`). `idle`: it only
    // drops the source once the send completed (a connection waiting for its next
    // message), so the completion need not end a sleep; it is woken when the reactor reaps
    // the completion after some other event (CHANGES.md item 21). Otherwise it ends one.
    pub(crate) fn add_send_waiter(&self, waker: &Waker, idle: bool) {
        self.add_waiter_single(waker);
        if let SourceType::SockSendOwned(_, _, i) = &mut self.inner.borrow_mut().source_type {
            *i = idle;
        }
    }

    pub(crate) fn add_waiter_many(&self, waker: Waker) {
        self.inner.borrow_mut().wakers.waiters.push(waker)
    }

    pub(super) fn is_installed(&self) -> Option<bool> {
        match &self.inner.borrow().source_type {
            SourceType::ForeignNotifier(_, installed) => Some(*installed),
            _ => None,
        }
    }

    pub(super) fn raw(&self) -> RawFd {
        self.inner.borrow().raw
    }

    pub(crate) fn stats_collection(&self) -> Option<StatsCollection> {
        self.inner.borrow().stats_collection
    }

    pub(crate) async fn collect_rw(&self) -> io::Result<usize> {
        future::poll_fn(|cx| {
            if let Some(result) = self.result() {
                return Poll::Ready(result);
            }

            self.add_waiter_many(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        let enqueued = inner.enqueued.as_mut();
        if let Some(EnqueuedSource { id, queue, status }) = enqueued {
            match status {
                EnqueuedStatus::Enqueued => {
                    // We never submitted the request, so it's safe to consume
                    // source here -- kernel didn't see our buffers. By consuming
                    // the source we are signaling to the submit method that we are
                    // no longer interested in submitting this. This should be cheaper
                    // than removing elements from the vector all the time.

                    *status = EnqueuedStatus::Canceled;
                }
                EnqueuedStatus::Dispatched => {
                    // We are cancelling this request, but it is already submitted.
                    // This means that the kernel might be using the buffers right
                    // now, so we delay `consume_source` until we consume the
                    // corresponding event from the completion queue.

                    queue.borrow_mut().cancel_request(*id);
                    *status = EnqueuedStatus::Canceled; // not necessary, but useful for correctness
                }
                EnqueuedStatus::Canceled => unreachable!(),
            }
        }
        drop(inner);
        // SAFETY: `inner` is not used after this.
        let mut rc = Pin::into_inner(unsafe { ManuallyDrop::take(&mut self.inner) });
        // corelb: kept for the next source when nobody else holds it (the reactor holds a
        // source it submitted until its completion is consumed, a cancelled one included).
        let Some(cell) = Rc::get_mut(&mut rc) else {
            return;
        };
        let s = cell.get_mut();
        if s.enqueued.is_some() {
            return;
        }
        // What it held goes now (buffers, wakers), not at its next use.
        s.source_type = SourceType::Invalid;
        s.wakers = Wakers::new();
        let _ = SPARE.try_with(|sp| {
            let mut sp = sp.borrow_mut();
            if sp.0.len() < SPARE_SOURCES {
                sp.0.push(rc);
            }
        });
    }
}
