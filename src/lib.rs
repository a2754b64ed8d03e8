//! corelb: a shard-per-core TCP/TLS/HTTP load balancer that reads HAProxy's configuration.
//!
//! Layout (see docs/design.md): pure, sans-IO parsers live in `config`, `proxy_protocol`,
//! `proxy::http` and `balance`; per-generation decisions without I/O (the retry rule) in
//! `cluster`; I/O lives in `runtime` and `proxy`. Raw syscalls are confined
//! to `sys`.

// The one place with unsafe code is `sys`, which wraps it in safe functions.
#![deny(unsafe_code)]

pub mod acl;
pub mod cluster;
pub mod config;
pub mod h1;
pub mod health;
pub mod log;
pub mod net;
pub mod proxy;
pub mod proxy_protocol;
pub mod runtime;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
pub mod tls;
