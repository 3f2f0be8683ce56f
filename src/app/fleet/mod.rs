//! The fleet use cases: a command on many hosts at once over ssh or SSM
//! Run Command ([`run`]), container instances drained, worked on and made
//! ACTIVE again batch by batch ([`maintain`]), and the ECS agent's logs
//! collected from each host ([`logs`]).

pub mod logs;
pub mod maintain;
pub mod run;

use std::time::Duration;

use crate::model::host::Host;

pub use logs::{Collected, LogsRequest};
pub use maintain::MaintainRequest;
pub use run::{RunRequest, run_collecting, run_on};

/// How `berth run` reaches the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// ssh, planned as for `berth ssh`.
    Ssh,
    /// SSM Run Command.
    Ssm,
}

/// What a fleet command runs on each host, and how.
#[derive(Debug, Clone)]
pub struct FleetRun {
    /// At most this many hosts at once.
    pub jobs: u16,
    pub timeout: Option<Duration>,
    pub port: Option<u16>,
    /// `-o` options for ssh.
    pub options: Vec<String>,
    pub command: Vec<String>,
}

/// The host as the output names it: its Name tag, else its id.
pub fn label(host: &Host) -> String {
    host.name()
        .map_or_else(|| host.instance_id().to_owned(), str::to_owned)
}
