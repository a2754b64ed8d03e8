//! Server health: the shared per-server state (`state`), HAProxy's rise/fall state machine
//! (`machine`), what checks send and how answers are judged (`check`), and the probers that
//! run them on the shards (`prober`): one prober per checked server for the whole process.

pub mod check;
pub mod machine;
pub mod prober;
pub mod state;
pub mod status;

pub use state::{ServerState, SrvState};
pub use status::CheckStatus;
