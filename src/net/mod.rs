//! Connection I/O on a shard, shared by `proxy` and `health`: deadlines and the buffered
//! connection I/O (`io`), the one connect to a server (`upstream`: TCP, socket options, the
//! PROXY header in clear, then TLS), TLS accept and the kTLS hand-off (`tls`), pipes and the
//! splice/copy pumps (`pipes`, `pump`, `copy`), the shard's spare buffers (`buffers`), the
//! idle server connections of mode http (`pool`), HTTP/2 to servers (`h2_upstream`: the
//! shard's shared h2 connections, each request's or health check's stream seen as an
//! HTTP/1.1 connection of its own) and the HTTP/1 body ↔ HTTP/2 frames mapping both h2
//! sides use (`h2_body`), a connection's shard context (`shard`:
//! `ShardCtx`, what `proxy` and `health` are handed instead of the runtime's shard) and the
//! error both modes pass along the proxy path (`error`: side, retry, termination state,
//! HTTP status). Knows
//! nothing of modes, rules or checks; built on `cluster` (per-generation state), `log`,
//! `config`, `tls`, `proxy_protocol` and `sys`; used by `proxy`, `health` and `runtime`.

pub mod error;

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
pub mod copy;
pub mod dial;
pub mod follow;
pub mod h2_body;
pub mod h2_upstream;
pub mod io;
pub mod pipes;
pub mod pool;
pub mod pump;
pub mod ready;
pub mod shard;
pub mod tls;
pub mod upstream;
