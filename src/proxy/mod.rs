//! Per-connection proxying: `tcp` (mode tcp) and `http` (mode http).

pub mod http;
