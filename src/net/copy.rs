//! Moving bytes both ways through user space between two async streams, for what cannot be
//! spliced: TLS terminated in rustls, and upgraded HTTP connections. Both directions are
//! driven by one future that owns both streams, with an inactivity timeout over both.

use futures_lite::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Per direction, taken from the shard's spare buffers and given back when the copy ends.
const BUF: usize = 16 * 1024;

struct Half {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    shut: bool,
    bytes: u64,
}

impl Half {
    fn new() -> Half {
        Half {
            buf: crate::net::buffers::take(BUF),
            start: 0,
            end: 0,
            eof: false,
            shut: false,
            bytes: 0,
        }
    }

    /// Moves what it can; Ready(Ok(true)) when this direction is finished.
    fn poll<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
        active: &mut bool,
    ) -> Poll<io::Result<bool>> {
        for _ in 0..16 {
            if self.start < self.end {
                match Pin::new(&mut *w).poll_write(cx, &self.buf[self.start..self.end]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        self.start += n;
                        self.bytes += n as u64;
                        *active = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.eof {
                if !self.shut {
                    match Pin::new(&mut *w).poll_close(cx) {
                        Poll::Ready(_) => self.shut = true,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                return Poll::Ready(Ok(true));
            }
            self.start = 0;
            self.end = 0;
            match Pin::new(&mut *r).poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(n)) => {
                    self.end = n;
                    *active = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Half {
    fn drop(&mut self) {
        crate::net::buffers::give_back(std::mem::take(&mut self.buf));
    }
}

/// Copies a→b and b→a until both directions are finished (each side's EOF is passed on as a
/// shutdown of the other's write side), an error, or `idle` without any byte moving.
pub struct Bidirectional<'a, A, B> {
    a: &'a mut A,
    b: &'a mut B,
    ab: Half,
    ba: Half,
    idle: Option<Duration>,
    last: Instant,
    timer: Option<(glommio::timer::Timer, Instant)>,
}

pub fn bidirectional<'a, A, B>(
    a: &'a mut A,
    b: &'a mut B,
    idle: Option<Duration>,
) -> Bidirectional<'a, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    Bidirectional {
        a,
        b,
        ab: Half::new(),
        ba: Half::new(),
        idle,
        last: Instant::now(),
        timer: None,
    }
}

impl<A, B> Bidirectional<'_, A, B> {
    /// Bytes moved from a to b and from b to a.
    pub fn bytes(&self) -> (u64, u64) {
        (self.ab.bytes, self.ba.bytes)
    }
}

impl<A, B> Future for Bidirectional<'_, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut active = false;
        let mut done_ab = this.ab.shut && this.ab.start == this.ab.end;
        let mut done_ba = this.ba.shut && this.ba.start == this.ba.end;
        if !done_ab {
            match this.ab.poll(cx, this.a, this.b, &mut active) {
                Poll::Ready(Ok(d)) => done_ab = d,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if !done_ba {
            match this.ba.poll(cx, this.b, this.a, &mut active) {
                Poll::Ready(Ok(d)) => done_ba = d,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if done_ab && done_ba {
            return Poll::Ready(Ok(()));
        }
        let now = Instant::now();
        if active {
            this.last = now;
        }
        let Some(idle) = this.idle else {
            return Poll::Pending;
        };
        let expiry = this.last + idle;
        if now >= expiry {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        let rearm = this.timer.as_ref().is_none_or(|(_, at)| now >= *at);
        if rearm {
            let mut t = glommio::timer::Timer::new(expiry - now);
            if Pin::new(&mut t).poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
            this.timer = Some((t, expiry));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::buffers;
    use crate::net::pump::tests::{exchange, on_executor, pair};

    #[test]
    fn buffers_go_back_to_the_shard_s_spare_buffers() {
        on_executor(|| async {
            for _ in 0..3 {
                let (mut a, mut a_in) = pair().await;
                let (mut b_in, mut b) = pair().await;
                let copy = bidirectional(&mut a_in, &mut b_in, None);
                let (r, ()) =
                    futures_lite::future::zip(copy, exchange(&mut a, &mut b, 100_000)).await;
                r.unwrap();
                assert_eq!(buffers::spare(BUF), 2);
            }
        });
    }
}
