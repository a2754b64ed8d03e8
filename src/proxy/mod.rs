//! Per-connection proxying: `tcp` (mode tcp) with its splice `pump` and `pipes`, and `http`
//! (mode http).

pub mod conn;
pub mod copy;
pub mod http;
pub mod pipes;
pub mod pump;
pub mod tcp;
pub mod tls;
