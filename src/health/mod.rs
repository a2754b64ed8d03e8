//! Health checks: what checks send and how answers are judged (`check`), the probers that
//! run them on the shards (`prober`), and agent checks (`agent`): one prober per checked server for the whole process.
//! The state they write (each server's `ServerState`, its rise/fall machine, the last check's
//! `CheckStatus`) lives in `cluster`, which the proxies read. Built on `net` (the same
//! upstream connect as the proxies, and the shard's `net::shard::ShardCtx` for counters and
//! log senders) and `cluster`; only `runtime` starts probers (and picks each shard's share),
//! and `proxy` never uses this module.

pub mod agent;
pub mod check;
pub mod external;
pub mod presets;
pub mod prober;
