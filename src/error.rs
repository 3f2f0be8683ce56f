//! One place that maps every failure to a message, a hint that names the
//! fix, and an exit code:
//!
//! | code | meaning |
//! |------|---------|
//! | 2    | usage: bad flags, a bad target, a bad config file |
//! | 3    | nothing matched, or several did without a terminal to pick |
//! | 4    | a prerequisite failed (no key pair, Windows host, key too open, no Windows password, an instance that stopped before a key could be pushed, …) |
//! | 5    | an AWS error (EC2 Instance Connect's refusals included) |
//! | 6    | no usable AWS credentials |
//! | 130  | the picker was cancelled (Esc, Ctrl-C) |
//! | 255  | ssh could not connect (ssh's own status, passed through); an endpoint tunnel broke mid-session or reached its time limit |

use std::fmt::Write as _;

/// ssh's own status when it could not connect or authenticate, which berth
/// passes through and uses itself for a connection that failed.
pub const CONNECTION_FAILED: u8 = 255;

use crate::aws::instance_connect::InstanceConnectError;
use crate::aws::{AwsError, MAX_ATTEMPTS};
use crate::config::ConfigError;
use crate::firewall::FirewallError;
use crate::firewall::journal::JournalError;
use crate::inventory::InventoryError;
use crate::model::target::TargetError;
use crate::plan::PlanError;
use crate::plan::copy::CopyError;
use crate::plan::exec::ExecError;
use crate::plan::rdp::RdpError;
use crate::plan::route::RouteError;
use crate::secrets::ephemeral::EphemeralKeyError;
use crate::secrets::keys::KeyError;
use crate::transport::TransportError;
use crate::transport::echo::EchoError;
use crate::transport::eice::EiceError;

/// How many candidates an ambiguous target's hint lists.
const SHOWN_CANDIDATES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad target: {0}")]
    Target(#[from] TargetError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Rdp(#[from] RdpError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Eice(#[from] EiceError),
    #[error("{what} matches {} hosts", candidates.len())]
    Ambiguous {
        what: String,
        /// One line per candidate, and the target that picks it.
        candidates: Vec<(String, String)>,
    },
    #[error("nothing matches {what}")]
    NoMatch { what: String, hint: String },
    #[error("{message}")]
    Usage { message: String, hint: String },
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Echo(#[from] EchoError),
    #[error(transparent)]
    InstanceConnect(#[from] InstanceConnectError),
    #[error(transparent)]
    EphemeralKey(#[from] EphemeralKeyError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// Esc (or Ctrl-C) in the picker.
    #[error("cancelled")]
    Cancelled,
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        Self::Inventory(InventoryError::Aws(e))
    }
}

impl Error {
    /// A reader that stopped reading (`berth ls | head`) is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Key(e) => e.exit_code(),
            Self::Target(_)
            | Self::Config(_)
            | Self::Usage { .. }
            | Self::Copy(_)
            | Self::Firewall(FirewallError::NotOneAddress(_))
            | Self::Inventory(InventoryError::Aws(AwsError::NoRegion)) => 2,
            Self::Inventory(InventoryError::Aws(AwsError::Credentials { .. })) => 6,
            Self::Firewall(FirewallError::Aws(e))
            | Self::InstanceConnect(InstanceConnectError::Aws(e)) => {
                Self::from(e.clone()).exit_code()
            }
            // An instance that stopped since berth looked counts as one
            // that was stopped then (Plan's NotRunning).
            Self::Plan(_)
            | Self::Route(_)
            | Self::Exec(ExecError::NotRunning { .. })
            | Self::Rdp(_)
            | Self::Transport(_)
            | Self::Echo(_)
            // berth's own state on this machine is a prerequisite too.
            | Self::Firewall(
                FirewallError::NoGroup(_) | FirewallError::Journal(JournalError::Io { .. }),
            )
            | Self::EphemeralKey(EphemeralKeyError::Io { .. })
            | Self::InstanceConnect(InstanceConnectError::NotRunning { .. }) => 4,
            Self::Inventory(InventoryError::Aws(_)) | Self::InstanceConnect(_) => 5,
            Self::Inventory(
                InventoryError::UnknownCluster { .. } | InventoryError::NotFound { .. },
            )
            | Self::Ambiguous { .. }
            | Self::Exec(ExecError::NoContainer { .. } | ExecError::Several { .. })
            | Self::NoMatch { .. } => 3,
            Self::Eice(e) => e.exit_code(),
            Self::Firewall(FirewallError::Journal(JournalError::Damaged { .. }))
            | Self::EphemeralKey(EphemeralKeyError::Generate(_))
            | Self::Output(_) => 1,
            // As a shell reports a command ended by Ctrl-C.
            Self::Cancelled => 130,
        }
    }

    /// What to do next, with real names filled in.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Target(e) => Some(e.hint().to_owned()),
            Self::Config(ConfigError::Environment { var, .. }) => Some(format!(
                "fix or unset {var}; `berth config --help` says how flags, variables and the \
                 config file combine"
            )),
            Self::Config(e) => Some(format!(
                "fix or move {} ($BERTH_CONFIG names another file); its keys: key_dirs (a list of \
                 directories), user, via (auto, public, private, bastion, instance-connect, eice), \
                 from (a CIDR), bastion, profile, region, endpoint_url, cluster, output, color, \
                 verbose, stats, refresh, cache_ttl, aws_timeout, and tables [clusters.NAME] \
                 (user, via, bastion), [vpcs.VPC-ID] (bastion) and [[amis]] (name, user); \
                 `berth config` shows what is in effect",
                e.path().map(|p| p.display().to_string()).unwrap_or_default()
            )),
            Self::Key(e) => Some(e.hint()),
            Self::Inventory(e) => inventory_hint(e),
            Self::Plan(e) => Some(e.hint()),
            Self::Route(e) => Some(e.hint()),
            Self::Exec(e) => Some(e.hint()),
            Self::Copy(e) => Some(e.hint()),
            Self::Rdp(e) => Some(e.hint()),
            Self::Transport(e) => Some(e.hint()),
            Self::Eice(e) => Some(e.hint()),
            Self::Ambiguous { candidates, .. } => {
                let mut hint = String::from("pick one of:");
                for (label, target) in candidates.iter().take(SHOWN_CANDIDATES) {
                    let _ = write!(hint, "\n    {target:<40}  {label}");
                }
                if candidates.len() > SHOWN_CANDIDATES {
                    let _ = write!(
                        hint,
                        "\n    … and {} more (`berth ls` lists them all)",
                        candidates.len() - SHOWN_CANDIDATES
                    );
                }
                hint.push_str(
                    "\n  or narrow with --tag/--az/--status, or take the first with --first",
                );
                Some(hint)
            }
            Self::NoMatch { hint, .. } | Self::Usage { hint, .. } => Some(hint.clone()),
            Self::Firewall(FirewallError::Journal(JournalError::Damaged { .. })) => Some(
                "the file lists security-group rules berth added; fix it by hand or remove the rules it names, then delete it".to_owned(),
            ),
            Self::Firewall(FirewallError::Journal(JournalError::Io { path, .. })) => Some(format!(
                "berth keeps its state in $XDG_STATE_HOME/berth, else ~/.local/state/berth: make \
                 {} a directory of yours that you can write to, or point XDG_STATE_HOME elsewhere",
                path.parent().unwrap_or(path).display()
            )),
            Self::Firewall(FirewallError::NotOneAddress(net)) => Some(format!(
                "give your own address, e.g. --from {}/{}",
                net.addr(),
                net.max_prefix_len()
            )),
            Self::Firewall(FirewallError::NoGroup(_)) => Some(
                "the instance has no security group: add one, or connect another way".to_owned(),
            ),
            Self::Firewall(FirewallError::Aws(e)) => inventory_hint(&InventoryError::Aws(e.clone())),
            Self::Echo(_) => Some("pass your address with --from CIDR instead".to_owned()),
            Self::InstanceConnect(InstanceConnectError::Aws(e)) => {
                inventory_hint(&InventoryError::Aws(e.clone()))
            }
            Self::InstanceConnect(e) => e.hint(),
            Self::EphemeralKey(EphemeralKeyError::Io { path, .. }) => Some(format!(
                "berth writes one-time keys under $XDG_RUNTIME_DIR/berth, else its state directory \
                 ($XDG_STATE_HOME/berth, else ~/.local/state/berth): make {} a directory of yours \
                 that you can write to, or point XDG_RUNTIME_DIR elsewhere",
                path.display()
            )),
            Self::EphemeralKey(EphemeralKeyError::Generate(_)) => {
                Some("run berth again; if it persists, report a bug".to_owned())
            }
            Self::Output(_) | Self::Cancelled => None,
        }
    }
}

/// Error codes AWS throttles with.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
];

/// Error codes of failures on AWS's side.
const SERVER_ERRORS: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

fn inventory_hint(e: &InventoryError) -> Option<String> {
    match e {
        InventoryError::UnknownCluster { existing, .. } if existing.is_empty() => Some(
            "no clusters exist here; check --region and --profile (`berth ls` lists clusters)"
                .to_owned(),
        ),
        InventoryError::UnknownCluster { existing, .. } => {
            Some(format!("clusters that exist: {}", existing.join(", ")))
        }
        InventoryError::NotFound { hint, .. } => Some(hint.clone()),
        InventoryError::Aws(AwsError::NoRegion) => Some(
            "pass --region, set AWS_REGION (or BERTH_REGION), or set `region` in berth's config file or in your profile in ~/.aws/config"
                .to_owned(),
        ),
        InventoryError::Aws(AwsError::Credentials { profile, .. }) => Some(match profile {
            Some(p) => format!(
                "log in with `aws sso login --profile {p}`, or fix the profile's credentials in ~/.aws"
            ),
            None => "set AWS_PROFILE (then `aws sso login`), or configure credentials with \
                     `aws configure`"
                .to_owned(),
        }),
        InventoryError::Aws(AwsError::Unreachable { .. }) => Some(format!(
            "berth tried {MAX_ATTEMPTS} times; check the network, --region and --endpoint-url / \
             AWS_ENDPOINT_URL"
        )),
        InventoryError::Aws(AwsError::TimedOut { .. }) => Some(
            "check the network and --endpoint-url / AWS_ENDPOINT_URL, or allow more time with \
             --aws-timeout (e.g. --aws-timeout 1m)"
                .to_owned(),
        ),
        InventoryError::Aws(AwsError::Service { code, .. })
            if THROTTLING.contains(&code.as_str()) =>
        {
            Some(format!(
                "AWS throttled the call {MAX_ATTEMPTS} times in a row (other tools in the account \
                 share its rate limit): wait a minute and run berth again"
            ))
        }
        InventoryError::Aws(AwsError::Service { code, .. })
            if SERVER_ERRORS.contains(&code.as_str()) =>
        {
            Some(format!(
                "AWS failed on its side {MAX_ATTEMPTS} times in a row: run berth again in a \
                 minute, and see the AWS Health Dashboard if it persists"
            ))
        }
        InventoryError::Aws(AwsError::Other { detail, .. })
            if detail.contains("response") || detail.contains("body") =>
        {
            Some(format!(
                "the answer from AWS was cut off or garbled ({MAX_ATTEMPTS} attempts); run berth \
                 again, and check any proxy between you and AWS"
            ))
        }
        InventoryError::Aws(AwsError::Service { code, .. })
            if code.contains("AccessDenied") || code.contains("UnauthorizedOperation") =>
        {
            Some(
                "your role lacks this permission: berth needs ecs:List*/Describe* and \
                 ec2:DescribeInstances/DescribeImages"
                    .to_owned(),
            )
        }
        InventoryError::Aws(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_table() {
        let table: Vec<(Error, u8)> = vec![
            (TargetError::Empty.into(), 2),
            (
                Error::Ambiguous {
                    what: "cluster prod".into(),
                    candidates: vec![],
                },
                3,
            ),
            (
                InventoryError::UnknownCluster {
                    cluster: "x".into(),
                    region: "r".into(),
                    existing: vec!["prod".into()],
                }
                .into(),
                3,
            ),
            (
                PlanError::NoKeyPair {
                    instance_id: "i-1".into(),
                }
                .into(),
                4,
            ),
            (
                RdpError::NotWindows {
                    instance_id: "i-1".into(),
                    os: "Ubuntu",
                }
                .into(),
                4,
            ),
            (
                AwsError::Service {
                    operation: "ec2:DescribeInstances",
                    code: "Throttling".into(),
                    message: String::new(),
                }
                .into(),
                5,
            ),
            (
                AwsError::Credentials {
                    profile: Some("prod".into()),
                    detail: String::new(),
                }
                .into(),
                6,
            ),
            (
                InstanceConnectError::NotRunning {
                    instance_id: "i-1".into(),
                    message: String::new(),
                }
                .into(),
                4,
            ),
            (
                InstanceConnectError::AccessDenied {
                    instance_id: "i-1".into(),
                    code: "AccessDeniedException".into(),
                    message: String::new(),
                }
                .into(),
                5,
            ),
            (
                InstanceConnectError::Aws(AwsError::Credentials {
                    profile: None,
                    detail: String::new(),
                })
                .into(),
                6,
            ),
        ];
        for (error, code) in table {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn hints_name_the_fix() {
        let unknown: Error = InventoryError::UnknownCluster {
            cluster: "prdo".into(),
            region: "us-east-1".into(),
            existing: vec!["prod".into(), "edge".into()],
        }
        .into();
        assert_eq!(
            unknown.hint().as_deref(),
            Some("clusters that exist: prod, edge")
        );
        let creds: Error = AwsError::Credentials {
            profile: Some("prod".into()),
            detail: String::new(),
        }
        .into();
        assert!(
            creds
                .hint()
                .is_some_and(|h| h.contains("aws sso login --profile prod"))
        );
    }
}
