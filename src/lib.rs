//! corelb: a shard-per-core TCP/TLS/HTTP load balancer that reads HAProxy's configuration.
//!
//! Layers, bottom first (docs/design.md draws them; scripts/check-layers.sh declares and
//! checks them): `sys` (the only unsafe code); the pure codecs `h1`, `proxy_protocol` and
//! the configuration-time `tls`; `acl`; `config`; `log`; `cluster` (per-generation shared
//! state, no I/O); `net` (connection I/O on a shard), `dns` (the resolver thread) and
//! `stats`; `proxy` and `health`;
//! `runtime` at the top. A module uses only modules of lower layers.

// The one place with unsafe code is `sys`, which wraps it in safe functions.
#![deny(unsafe_code)]

pub mod acl;
pub mod cluster;
pub mod config;
pub mod dns;
pub mod h1;
pub mod health;
pub mod log;
pub mod net;
pub mod proxy;
pub mod proxy_protocol;
pub mod runtime;
pub mod stats;
pub mod stick;
#[allow(unsafe_code)]
pub mod sys;
pub mod tls;
