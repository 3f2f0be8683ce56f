//! One error type for all of berth: what went wrong (its [`Cause`], the
//! module's own error), what kind of failure that is ([`Kind`], which
//! decides the exit code), and the hints that name the fix. The whole
//! exit-code table is [`Kind::exit_code`]:
//!
//! | code | kind |
//! |------|------|
//! | 1    | berth's own state or output failed (a damaged journal, an unwritable stdout) |
//! | 2    | usage: bad flags, a bad target, a bad config file |
//! | 3    | nothing matched, or several did without a terminal to pick |
//! | 4    | a prerequisite failed (no key pair, Windows host, key too open, no Windows password, an instance that stopped before a key could be pushed, an SSM agent not connected, a session needing KMS where berth cannot get a key, ECS Exec not possible on a task, …) |
//! | 5    | an AWS error (EC2 Instance Connect's refusals and KMS's for a session's data key included) |
//! | 6    | no usable AWS credentials |
//! | 130  | the picker was cancelled (Esc, Ctrl-C) |
//! | 255  | ssh could not connect (ssh's own status, passed through); an endpoint tunnel broke mid-session or reached its time limit; a Session Manager channel broke for good (agent gone, resume given up), its handshake never completed, or its KMS encryption failed (a payload or the challenge did not decrypt, the agent refused the key); an ECS Exec command's status never came back |
//!
//! A session's own status (the remote command's, or 128 + N for a client
//! killed by signal N) is not an error: it passes through as it is.

use std::fmt::Write as _;

use crate::aws::instance_connect::InstanceConnectError;
use crate::aws::{AwsError, MAX_ATTEMPTS};
use crate::config::ConfigError;
use crate::firewall::FirewallError;
use crate::firewall::journal::JournalError;
use crate::inventory::InventoryError;
use crate::model::hint::Hint;
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
use crate::transport::ssm::SessionError;
use crate::transport::ssm::channel::ChannelError;
use crate::transport::ssm::shell::ShellError;

/// ssh's own status when it could not connect or authenticate, which berth
/// passes through and uses itself for a connection that failed.
pub const CONNECTION_FAILED: u8 = 255;

/// How many candidates an ambiguous target's hint lists.
const SHOWN_CANDIDATES: usize = 20;

/// What kind of failure an error is: the one table of exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// berth's own state on this machine or its output failed.
    Failed,
    /// Bad flags, a bad target, a bad config file.
    Usage,
    /// Nothing matched, or several did without a terminal to pick.
    NoMatch,
    /// Something the connection needs is missing or wrong.
    Prerequisite,
    /// AWS refused or failed.
    Aws,
    /// No usable AWS credentials.
    Credentials,
    /// The operator cancelled (Esc or Ctrl-C in the picker).
    Cancelled,
    /// The connection itself failed.
    ConnectionFailed,
}

impl Kind {
    pub const fn exit_code(self) -> u8 {
        match self {
            Self::Failed => 1,
            Self::Usage => 2,
            Self::NoMatch => 3,
            Self::Prerequisite => 4,
            Self::Aws => 5,
            Self::Credentials => 6,
            // As a shell reports a command ended by Ctrl-C.
            Self::Cancelled => 130,
            Self::ConnectionFailed => CONNECTION_FAILED,
        }
    }
}

/// berth's error: a kind, its cause and the hints that name the fix
/// (boxed: a `Result` stays small on the happy path).
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: Kind,
    source: Cause,
    hints: Vec<String>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.source.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.source)
    }
}

/// What failed: the module's own error, or one berth's use cases raise.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("bad target: {0}")]
    Target(TargetError),
    #[error(transparent)]
    Config(ConfigError),
    #[error(transparent)]
    Aws(AwsError),
    #[error(transparent)]
    Inventory(InventoryError),
    #[error(transparent)]
    Plan(PlanError),
    #[error(transparent)]
    Route(RouteError),
    #[error(transparent)]
    Exec(ExecError),
    #[error(transparent)]
    Copy(CopyError),
    #[error(transparent)]
    Rdp(RdpError),
    #[error(transparent)]
    Key(KeyError),
    #[error(transparent)]
    Transport(TransportError),
    #[error(transparent)]
    Eice(EiceError),
    #[error(transparent)]
    Firewall(FirewallError),
    #[error(transparent)]
    Echo(EchoError),
    #[error(transparent)]
    InstanceConnect(InstanceConnectError),
    #[error(transparent)]
    EphemeralKey(EphemeralKeyError),
    /// A Session Manager session's refusal or failure.
    #[error(transparent)]
    Ssm(SessionError),
    #[error("{what} matches {} hosts", candidates.len())]
    Ambiguous {
        what: String,
        /// One line per candidate, and the target that picks it.
        candidates: Vec<(String, String)>,
    },
    #[error("nothing matches {what}")]
    NoMatch { what: String },
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// Esc (or Ctrl-C) in the picker.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    fn new(source: Cause) -> Self {
        let kind = source.kind();
        let hints = source.hint().into_iter().collect();
        Self(Box::new(Inner {
            kind,
            source,
            hints,
        }))
    }

    /// Bad input: `message`, and `hint` for the fix.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Cause::Usage(message.into())).with_hint(hint)
    }

    /// Nothing matches `what`; `hint` says where to look.
    pub fn no_match(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Cause::NoMatch { what: what.into() }).with_hint(hint)
    }

    /// `what` matches several hosts: each candidate's line and the target
    /// that picks it.
    pub fn ambiguous(what: impl Into<String>, candidates: Vec<(String, String)>) -> Self {
        Self::new(Cause::Ambiguous {
            what: what.into(),
            candidates,
        })
    }

    pub fn cancelled() -> Self {
        Self::new(Cause::Cancelled)
    }

    /// One more hint, after those the cause gives.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hints.push(hint.into());
        self
    }

    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    pub fn cause(&self) -> &Cause {
        &self.0.source
    }

    pub fn into_cause(self) -> Cause {
        self.0.source
    }

    /// What to do next, with real names filled in, in order.
    pub fn hints(&self) -> &[String] {
        &self.0.hints
    }

    pub fn exit_code(&self) -> u8 {
        self.0.kind.exit_code()
    }

    /// A reader that stopped reading (`berth ls | head`) is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.0.source, Cause::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<Cause> for Error {
    fn from(cause: Cause) -> Self {
        Self::new(cause)
    }
}

/// `From` each module's error, so `?` works everywhere.
macro_rules! caused_by {
    ($($error:ty => $variant:ident),* $(,)?) => {
        $(impl From<$error> for Error {
            fn from(e: $error) -> Self {
                Self::new(Cause::$variant(e))
            }
        })*
    };
}

caused_by! {
    TargetError => Target,
    ConfigError => Config,
    AwsError => Aws,
    PlanError => Plan,
    RouteError => Route,
    ExecError => Exec,
    CopyError => Copy,
    RdpError => Rdp,
    KeyError => Key,
    TransportError => Transport,
    EiceError => Eice,
    EchoError => Echo,
    EphemeralKeyError => EphemeralKey,
    SessionError => Ssm,
    std::io::Error => Output,
}

// An AWS failure is AWS's, whichever service met it.
impl From<InventoryError> for Error {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Aws(e) => e.into(),
            e => Self::new(Cause::Inventory(e)),
        }
    }
}

impl From<FirewallError> for Error {
    fn from(e: FirewallError) -> Self {
        match e {
            FirewallError::Aws(e) => e.into(),
            e => Self::new(Cause::Firewall(e)),
        }
    }
}

impl From<InstanceConnectError> for Error {
    fn from(e: InstanceConnectError) -> Self {
        match e {
            InstanceConnectError::Aws(e) => e.into(),
            e => Self::new(Cause::InstanceConnect(e)),
        }
    }
}

impl Cause {
    /// The kind of failure: every exit code but a session's own is decided
    /// here.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Aws(AwsError::Credentials { .. }) | Self::Eice(EiceError::Credentials(_)) => {
                Kind::Credentials
            }
            // An instance that stopped since berth looked counts as one
            // that was stopped then (Plan's NotRunning).
            Self::Plan(_)
            | Self::Route(_)
            | Self::Exec(
                ExecError::NotRunning { .. }
                | ExecError::NotEnabled { .. }
                | ExecError::AgentNotRunning(_)
                | ExecError::NoHost { .. }
                | ExecError::Refused { .. },
            )
            | Self::Rdp(_)
            | Self::Transport(_)
            | Self::Echo(_)
            | Self::Eice(
                EiceError::NoEndpoint { .. }
                | EiceError::NoPrivateAddress { .. }
                | EiceError::NoFipsName { .. }
                | EiceError::Listen { .. },
            )
            // berth's own state on this machine is a prerequisite too.
            | Self::Firewall(
                FirewallError::NoGroup(_) | FirewallError::Journal(JournalError::Io { .. }),
            )
            | Self::EphemeralKey(EphemeralKeyError::Io { .. })
            | Self::Key(KeyError::NeedsPassphrase(_))
            | Self::InstanceConnect(InstanceConnectError::NotRunning { .. })
            | Self::Ssm(
                SessionError::NotConnected { .. }
                | SessionError::Channel(
                    ChannelError::PlainRefused { .. } | ChannelError::BadUrl { .. },
                )
                | SessionError::Shell(ShellError::KmsRequired { .. }),
            )
            | Self::Aws(AwsError::CaBundle(_)) => Kind::Prerequisite,
            Self::Target(_)
            | Self::Config(_)
            | Self::Usage(_)
            | Self::Copy(_)
            | Self::Aws(AwsError::NoRegion)
            | Self::Firewall(FirewallError::NotOneAddress(_))
            | Self::Eice(EiceError::BadBaseUrl { .. }) | Self::Key(_)
            | Self::Ssm(SessionError::BadDocument { .. }) => Kind::Usage,
            Self::Aws(_)
            | Self::InstanceConnect(_)
            | Self::Firewall(FirewallError::Aws(_))
            | Self::Inventory(InventoryError::Aws(_))
            | Self::Ssm(
                SessionError::AccessDenied { .. } | SessionError::Shell(ShellError::Kms { .. }),
            )
            | Self::Eice(
                EiceError::Signing(_)
                | EiceError::Refused { .. }
                | EiceError::Unreachable { .. }
                | EiceError::Proxy { .. }
                | EiceError::Closed { .. }
                | EiceError::Broken(_),
            ) => Kind::Aws,
            Self::Inventory(
                InventoryError::UnknownCluster { .. } | InventoryError::NotFound { .. },
            )
            | Self::Ambiguous { .. }
            | Self::Exec(
                ExecError::NoContainer { .. }
                | ExecError::Several { .. }
                | ExecError::SeveralTasks { .. }
                | ExecError::NoTask { .. },
            )
            | Self::NoMatch { .. } => Kind::NoMatch,
            // The session ran and its connection ended, as ssh's own 255.
            // A session's channel broke for good, or its agent never
            // completed the handshake: as ssh's own 255.
            Self::Eice(EiceError::BrokeMidSession { .. } | EiceError::TimeLimit { .. })
            | Self::Exec(ExecError::StatusUnknown)
            | Self::Ssm(
                SessionError::Channel(_)
                | SessionError::Shell(_)
                | SessionError::Port { .. }
                | SessionError::Destination { .. }
                | SessionError::Multiplexing { .. },
            ) => {
                Kind::ConnectionFailed
            }
            Self::Firewall(FirewallError::Journal(JournalError::Damaged { .. }))
            | Self::EphemeralKey(EphemeralKeyError::Generate(_))
            | Self::Output(_) => Kind::Failed,
            Self::Cancelled => Kind::Cancelled,
        }
    }
}

impl Hint for Cause {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Target(e) => e.hint(),
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
            Self::Aws(e) | Self::Firewall(FirewallError::Aws(e)) => aws_hint(e),
            Self::Inventory(e) => inventory_hint(e),
            Self::Key(e) => e.hint(),
            Self::Plan(e) => e.hint(),
            Self::Route(e) => e.hint(),
            Self::Exec(e) => e.hint(),
            Self::Copy(e) => e.hint(),
            Self::Rdp(e) => e.hint(),
            Self::Transport(e) => e.hint(),
            Self::Eice(e) => e.hint(),
            Self::InstanceConnect(e) => e.hint(),
            Self::Ssm(e) => e.hint(),
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
            Self::Echo(_) => Some("pass your address with --from CIDR instead".to_owned()),
            Self::EphemeralKey(EphemeralKeyError::Io { path, .. }) => Some(format!(
                "berth writes one-time keys under $XDG_RUNTIME_DIR/berth, else its state directory \
                 ($XDG_STATE_HOME/berth, else ~/.local/state/berth): make {} a directory of yours \
                 that you can write to, or point XDG_RUNTIME_DIR elsewhere",
                path.display()
            )),
            Self::EphemeralKey(EphemeralKeyError::Generate(_)) => {
                Some("run berth again; if it persists, report a bug".to_owned())
            }
            Self::NoMatch { .. } | Self::Usage(_) | Self::Output(_) | Self::Cancelled => None,
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
        InventoryError::Aws(e) => aws_hint(e),
    }
}

fn aws_hint(e: &AwsError) -> Option<String> {
    match e {
        AwsError::CaBundle(e) => e.hint(),
        AwsError::Unreachable { detail, .. } | AwsError::Other { detail, .. }
            if detail.contains("certificate") =>
        {
            Some(
                "the endpoint's TLS certificate is not trusted: if a CA of your own signs it (a \
                 TLS-inspecting proxy, a private endpoint), point AWS_CA_BUNDLE (or the \
                 profile's ca_bundle) at that CA's certificate in PEM"
                    .to_owned(),
            )
        }
        AwsError::NoRegion => Some(
            "pass --region, set AWS_REGION (or BERTH_REGION), or set `region` in berth's config file or in your profile in ~/.aws/config"
                .to_owned(),
        ),
        AwsError::Credentials { profile, .. } => Some(match profile {
            Some(p) => format!(
                "log in with `aws sso login --profile {p}`, or fix the profile's credentials in ~/.aws"
            ),
            None => "set AWS_PROFILE (then `aws sso login`), or configure credentials with \
                     `aws configure`"
                .to_owned(),
        }),
        AwsError::Unreachable { .. } => Some(format!(
            "berth tried {MAX_ATTEMPTS} times; check the network, --region and --endpoint-url / \
             AWS_ENDPOINT_URL"
        )),
        AwsError::TimedOut { .. } => Some(
            "check the network and --endpoint-url / AWS_ENDPOINT_URL, or allow more time with \
             --aws-timeout (e.g. --aws-timeout 1m)"
                .to_owned(),
        ),
        AwsError::Service { code, .. }
            if THROTTLING.contains(&code.as_str()) =>
        {
            Some(format!(
                "AWS throttled the call {MAX_ATTEMPTS} times in a row (other tools in the account \
                 share its rate limit): wait a minute and run berth again"
            ))
        }
        AwsError::Service { code, .. }
            if SERVER_ERRORS.contains(&code.as_str()) =>
        {
            Some(format!(
                "AWS failed on its side {MAX_ATTEMPTS} times in a row: run berth again in a \
                 minute, and see the AWS Health Dashboard if it persists"
            ))
        }
        AwsError::Other { detail, .. }
            if detail.contains("response") || detail.contains("body") =>
        {
            Some(format!(
                "the answer from AWS was cut off or garbled ({MAX_ATTEMPTS} attempts); run berth \
                 again, and check any proxy between you and AWS"
            ))
        }
        AwsError::Service { code, .. }
            if code.contains("AccessDenied") || code.contains("UnauthorizedOperation") =>
        {
            Some(
                "your role lacks this permission: berth needs ecs:List*/Describe* and \
                 ec2:DescribeInstances/DescribeImages"
                    .to_owned(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::too_many_lines)] // one table
    fn exit_codes_follow_the_table() {
        let table: Vec<(Error, u8)> = vec![
            (TargetError::Empty.into(), 2),
            (Error::ambiguous("cluster prod", vec![]), 3),
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
            (
                EiceError::NoEndpoint {
                    instance_id: "i-1".into(),
                    vpc_id: Some("vpc-a".into()),
                    subnet_id: None,
                    no_public_address: true,
                }
                .into(),
                4,
            ),
            (
                EiceError::BrokeMidSession {
                    endpoint_id: "eice-1".into(),
                    target: "10.0.0.1:22".into(),
                    carried: crate::transport::eice::Carried {
                        sent: 4,
                        received: 5,
                    },
                }
                .into(),
                255,
            ),
            (KeyError::NeedsPassphrase("/k".into()).into(), 4),
            (
                AwsError::CaBundle(crate::aws::ca_bundle::CaBundleError::NoCertificate {
                    path: "/b.pem".into(),
                    source_name: "AWS_CA_BUNDLE".into(),
                    detail: "none".into(),
                })
                .into(),
                4,
            ),
            (
                SessionError::Channel(ChannelError::Tls {
                    url: "wss://h/v1".into(),
                    detail: "TLS: invalid peer certificate: UnknownIssuer".into(),
                })
                .into(),
                255,
            ),
            (
                SessionError::NotConnected {
                    target: "i-1".into(),
                    message: String::new(),
                }
                .into(),
                4,
            ),
            (
                SessionError::AccessDenied {
                    target: "i-1".into(),
                    message: String::new(),
                }
                .into(),
                5,
            ),
            (
                SessionError::BadDocument {
                    message: String::new(),
                }
                .into(),
                2,
            ),
            (
                SessionError::Channel(ChannelError::PeerGone {
                    after: std::time::Duration::from_secs(30),
                })
                .into(),
                255,
            ),
            (
                SessionError::Channel(ChannelError::ResumeTimedOut {
                    tried_for: std::time::Duration::from_secs(600),
                    last: String::new(),
                })
                .into(),
                255,
            ),
            (
                SessionError::Channel(ChannelError::Resume("gone".into())).into(),
                255,
            ),
            (
                SessionError::Channel(ChannelError::PlainRefused {
                    url: "ws://x".into(),
                })
                .into(),
                4,
            ),
            (
                SessionError::from(ShellError::HandshakeTimedOut(
                    std::time::Duration::from_secs(20),
                ))
                .into(),
                255,
            ),
            (
                SessionError::from(ShellError::KmsRequired {
                    key: "k".into(),
                    message: String::new(),
                })
                .into(),
                4,
            ),
            (
                SessionError::from(ShellError::Kms {
                    key: "k".into(),
                    denied: true,
                    message: String::new(),
                })
                .into(),
                5,
            ),
            (
                SessionError::from(ShellError::Kms {
                    key: "k".into(),
                    denied: false,
                    message: String::new(),
                })
                .into(),
                5,
            ),
            (
                SessionError::from(ShellError::EncryptionRefused {
                    key: "k".into(),
                    message: String::new(),
                })
                .into(),
                255,
            ),
            (
                SessionError::from(ShellError::Encryption(
                    crate::transport::ssm::crypto::CryptoError::Tampered,
                ))
                .into(),
                255,
            ),
            (KeyError::Missing("/k".into()).into(), 2),
        ];
        for (error, code) in table {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn every_kind_has_its_code() {
        let table = [
            (Kind::Failed, 1),
            (Kind::Usage, 2),
            (Kind::NoMatch, 3),
            (Kind::Prerequisite, 4),
            (Kind::Aws, 5),
            (Kind::Credentials, 6),
            (Kind::Cancelled, 130),
            (Kind::ConnectionFailed, 255),
        ];
        for (kind, code) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
        }
    }

    #[test]
    fn aws_errors_are_their_own_kind_whichever_module_met_them() {
        let denied = || AwsError::Service {
            operation: "ec2:AuthorizeSecurityGroupIngress",
            code: "UnauthorizedOperation".into(),
            message: String::new(),
        };
        for error in [
            Error::from(InventoryError::Aws(denied())),
            Error::from(FirewallError::Aws(denied())),
            Error::from(InstanceConnectError::Aws(denied())),
        ] {
            assert!(matches!(error.cause(), Cause::Aws(_)), "{error:?}");
            assert_eq!(error.kind(), Kind::Aws);
            assert!(error.hints()[0].contains("your role lacks this permission"));
        }
    }

    #[test]
    fn usage_errors_carry_their_message_and_hint() {
        let e = Error::usage("no such thing", "try --help").with_hint("or read the man page");
        assert_eq!(e.to_string(), "no such thing");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.hints(), ["try --help", "or read the man page"]);
        let nothing = Error::no_match("cluster prod", "`berth ls prod` lists its hosts");
        assert_eq!(nothing.to_string(), "nothing matches cluster prod");
        assert_eq!(nothing.exit_code(), 3);
        assert_eq!(Error::cancelled().exit_code(), 130);
    }

    #[test]
    fn hints_name_the_fix() {
        let unknown: Error = InventoryError::UnknownCluster {
            cluster: "prdo".into(),
            region: "us-east-1".into(),
            existing: vec!["prod".into(), "edge".into()],
        }
        .into();
        assert_eq!(unknown.hints(), ["clusters that exist: prod, edge"]);
        let creds: Error = AwsError::Credentials {
            profile: Some("prod".into()),
            detail: String::new(),
        }
        .into();
        assert!(
            creds
                .hints()
                .iter()
                .any(|h| h.contains("aws sso login --profile prod"))
        );
    }
}
