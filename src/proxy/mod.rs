//! Per-connection proxying: `tcp` (mode tcp) with its splice `pump` and `pipes`, and `http`
//! (mode http).

/// `AsyncRead` + `AsyncWrite` for an enum whose every variant holds one stream (a `Box`ed
/// stream works too: `Box<T>` forwards both traits): each call goes to that stream.
macro_rules! delegate_stream_io {
    ($ty:ty { $($variant:ident),+ $(,)? }) => {
        impl futures_lite::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }

        impl futures_lite::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_write(cx, buf),)+
                }
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_flush(cx),)+
                }
            }
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_close(cx),)+
                }
            }
        }
    };
}

pub mod buffers;
pub mod conn;
pub mod copy;
pub mod http;
pub mod inspect;
pub mod pipes;
pub mod pump;
pub mod tcp;
pub mod tls;
pub mod upstream;

/// Where the next attempt goes, after [`retry_after_failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryTo {
    /// The same server; its slot is still held.
    Same,
    /// The server the balancing picks while avoiding the failed one; the slot was released.
    Another,
}

/// After a failed attempt on server `srv` of `be` (its slot held by the caller): the one
/// retry rule decides, from the servers' states now, and its turn-around delay is slept
/// here. `None`: the failure is final, and the caller still holds the slot.
pub async fn retry_after_failure(
    be: &crate::runtime::BackendRt,
    srv: usize,
    retries: u32,
    failure: crate::cluster::retry::Failure,
    persistent: bool,
) -> Option<RetryTo> {
    use crate::cluster::retry::{Attempt, Decision, decide};
    let servers = &be.lb.servers;
    let attempt = Attempt {
        retries,
        failure,
        server_up: servers[srv].state() == crate::health::SrvState::Up,
        active_servers: servers.iter().filter(|s| !s.backup && s.usable()).count(),
        persistent,
    };
    let Decision::Retry { redispatch, delay } = decide(&be.retry_policy(), &attempt) else {
        return None;
    };
    if redispatch {
        // Free the slot before waiting, as the next server may be anywhere.
        be.lb.release(srv);
        be.queue.wake_one();
    }
    if !delay.is_zero() {
        glommio::timer::sleep(delay).await;
    }
    Some(if redispatch {
        RetryTo::Another
    } else {
        RetryTo::Same
    })
}
