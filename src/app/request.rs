//! What the operator asked for, as plain data: the use cases take these,
//! and only `cli` knows how they were spelt on the command line.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::error::Error;
use crate::model::host::InstanceStatus;
use crate::model::route::Via;

/// Filters that narrow any target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only hosts whose EC2 tag KEY has VALUE (all must match).
    pub tags: Vec<(String, String)>,
    /// Only hosts in this availability zone.
    pub az: Option<String>,
    /// Only container instances with this status.
    pub status: Option<InstanceStatus>,
}

/// What to connect to, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    /// The target as written (empty: the default cluster).
    pub target: String,
    pub options: ConnectOptions,
}

/// A connect reads as its options (`connect.via`): the target and its
/// options travel together everywhere but in `doctor --cleanup`.
impl std::ops::Deref for Connect {
    type Target = ConnectOptions;
    fn deref(&self) -> &ConnectOptions {
        &self.options
    }
}

/// Everything of [`Connect`] but the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `-i FILE`.
    pub identity: Option<PathBuf>,
    /// `--user`.
    pub user: Option<String>,
    /// `--via`; `None` leaves it to the environment and the config file.
    pub via: Option<Via>,
    /// `--bastion TARGET`.
    pub bastion: Option<String>,
    /// Take the first of several matches instead of asking.
    pub first: bool,
    /// The endpoint's `maxTunnelDuration`.
    pub max_tunnel_duration: Option<Duration>,
    /// `--resume-for`: how long a broken Session Manager connection may
    /// take to come back (`None`: the channel's default, 10 minutes).
    pub resume_for: Option<Duration>,
    /// `-o OPTION` for every ssh berth starts.
    pub ssh_options: Vec<String>,
    pub filters: Filters,
}

impl ConnectOptions {
    /// `-o OPTION` for each `-o`, as ssh takes them.
    pub fn ssh_option_words(&self) -> Vec<String> {
        self.ssh_options
            .iter()
            .flat_map(|option| ["-o".to_owned(), option.clone()])
            .collect()
    }

    /// `-o` is for ssh; a route that starts none (`what` says how it goes)
    /// cannot take it, and says so rather than drop it.
    pub fn refuse_ssh_options(&self, what: &str) -> Result<(), Error> {
        match self.ssh_options.first() {
            None => Ok(()),
            Some(first) => Err(Error::usage(
                format!("-o {first} is an ssh option, and {what}, starting no ssh"),
                "drop -o, or go through a bastion (--via bastion), whose ssh takes it".to_owned(),
            )),
        }
    }
}

/// Where the operator connects from, for a temporary rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Source {
    /// `--from CIDR`.
    pub from: Option<IpNet>,
    /// `--detect-ip`: ask the address-echo service.
    pub detect_ip: bool,
}
