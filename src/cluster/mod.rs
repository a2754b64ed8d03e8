//! Per-generation shared state without I/O: what every shard of a generation reads and
//! decides on, with no socket, timer or file behind it.
//!
//! This module holds the one retry/redispatch rule ([`retry`]), used by mode tcp and mode
//! http alike; the callers own the waiting and the connecting.

pub mod retry;
