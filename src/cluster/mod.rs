//! Per-generation shared state without I/O: what every shard of a generation reads and
//! decides on, with no socket, timer or file behind it.
//!
//! What it holds: each server's shared state (`state`, with HAProxy's rise/fall `machine` and
//! the last check's result, `check_status`), the balancing tables and their serialised rebuild
//! (`balance`), connection slots, queues and the stop control (`control`), `minconn`/`slowstart` limits (`dynamic`), the generation's
//! frontends, backends and settings as the shards use them (`shared`), the traffic counters
//! (`counters`), the DNS resolver's counters (`dns_stats`), the capture of the last malformed request (`errors`) and the one
//! retry/redispatch rule (`retry`), used by mode tcp and mode http alike; the callers own the
//! waiting and the connecting. Used by `net`, `proxy`, `health`, `stats` and `runtime`; it
//! uses only `config`, `log` and `h1` below it.

pub mod agent;
pub mod balance;
pub mod check_status;
pub mod control;
pub mod counters;
pub mod dns_lookup;
pub mod dns_stats;
pub mod dynamic;
pub mod errors;
pub mod machine;
pub mod oneshot;
pub mod rate;
pub mod retry;
pub mod sessions;
pub mod shared;
pub mod state;

pub use check_status::CheckStatus;
pub use shared::{BackendRt, FrontendRt, ProbeSpec, ServerTlsRt, Shared};
pub use state::{ServerState, SrvState};
