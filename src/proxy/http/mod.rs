//! mode http: the proxy built on the HTTP/1.1 codec (`crate::h1`): the session that drives
//! one client connection (`session`), the `http-request`/`http-response` rules (`rules`) and
//! cookie persistence and hashing keys (`persist`).

#![forbid(unsafe_code)]

pub mod persist;
pub mod rules;
pub mod session;

// The codec moved to `crate::h1` and the connection I/O to `crate::net::io`; these names
// keep the `super::…` paths of the mode http files as they were.
pub use crate::h1::*;
pub use crate::net::io;
