//! Server health and admin state, shared by every shard through atomics.

pub mod state;
pub use state::{ServerState, SrvState};
