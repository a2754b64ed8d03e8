//! mode http: the proxy built on the HTTP/1.1 codec (`crate::h1`): the session that drives
//! one client connection (`session`), the `http-request`/`http-response` rules (`rules`) and
//! cookie persistence and hashing keys (`persist`); HTTP/2 towards clients (`h2`; HTTP/2 to
//! servers is `crate::net::h2_upstream`).

#![forbid(unsafe_code)]

pub mod after;
pub mod cache;
pub mod checkcache;
pub mod compress;
pub mod filters;
pub mod h2;
pub mod persist;
pub mod redir;
pub mod rules;
pub mod session;
pub(crate) mod tasks;
