//! Per-connection proxying, on top of `net` and `cluster`: a client connection from its
//! accept (`conn`: PROXY header, TLS, kTLS hand-off) to mode tcp (`tcp`) or mode http
//! (`http`), and the retry step both modes take after a failed connect. A connection sees its
//! shard only as the `net::shard::ShardCtx` it is handed (pipes, idle server pool, counters,
//! log senders, session registry). Used by `runtime` only (which accepts and spawns
//! [`conn::handle`]); `health` never uses it, nor it `health`.

pub mod accesslog;
pub mod conn;
pub mod effects;
pub mod http;
pub mod inspect;
pub mod switching;
pub mod tcp;

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
    be: &crate::cluster::BackendRt,
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
        server_up: servers[srv].state() == crate::cluster::SrvState::Up,
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
