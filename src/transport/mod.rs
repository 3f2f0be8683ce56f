//! The process and socket boundary: the only module that starts other
//! programs or opens connections (the endpoint's websockets, a relay's TCP
//! connection, the address echo). Programs are always run from argv
//! vectors, never through a shell. It runs what a plan says and decides
//! nothing.

pub mod chooser;
pub mod echo;
pub mod eice;
#[cfg(unix)]
pub mod fleet;
pub mod probe;
pub mod process;
#[cfg(unix)]
pub mod rdp;
pub mod relay;
#[cfg(unix)]
pub mod session;
pub mod ssm;
pub mod tls;
pub mod tunnel;

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot run `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("`{command}` is not a command line berth can split into words")]
    BadCommand { command: String },
    #[error("cannot handle termination signals: {0}")]
    Signals(io::Error),
    #[error("the ssh tunnel was not ready within {seconds}s")]
    TunnelNotReady { seconds: u64 },
    #[error("cannot run `{program}`: {source}")]
    RdpClient { program: String, source: io::Error },
    #[error("`{program}` failed (exit status {status})")]
    Failed { program: String, status: i32 },
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: io::Error },
    #[error("the connection to {address} broke: {source}")]
    Relay { address: String, source: io::Error },
    #[error("cannot use standard input and output: {0}")]
    Stdio(io::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: io::Error },
}

/// A child's exit status as a shell reports it: 128 + the signal for one
/// that was killed.
#[cfg(unix)]
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

/// The signal that ended a process, if one did.
#[cfg(unix)]
pub(crate) fn signal_of(status: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
pub(crate) fn signal_of(_: std::process::ExitStatus) -> Option<i32> {
    None
}

#[cfg(not(unix))]
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(255)
}

impl crate::model::hint::Hint for TransportError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::RdpClient { program, source } if source.kind() == io::ErrorKind::NotFound => {
                format!(
                    "`{program}` is not installed or not on PATH: install FreeRDP \
                     (e.g. `apt-get install freerdp2-x11`), or name another client with \
                     --client or {}; `--print-password` and `--rdp-file` need no client",
                    crate::settings::RDP_CLIENT_VAR
                )
            }
            Self::Spawn { program, source } if source.kind() == io::ErrorKind::NotFound => format!(
                "`{program}` is not installed or not on PATH: install the OpenSSH client \
                 (e.g. `apt-get install openssh-client`) or point {} at it",
                crate::settings::SSH_PROGRAM_VAR
            ),
            Self::Spawn { program, .. } | Self::RdpClient { program, .. } => {
                format!("check that `{program}` is executable")
            }
            Self::Failed { program, .. } => {
                format!("see `{program}`'s messages above; `--print-password` shows the password")
            }
            Self::Signals(_) | Self::Stdio(_) | Self::Relay { .. } => {
                "run berth again; if it persists, report a bug".to_owned()
            }
            Self::Connect { .. } => {
                "a public address needs a route from here and a security group \
                 that lets you in (`berth doctor TARGET`); a private one needs you inside the VPC \
                 or on a VPN; --via eice goes through an EC2 Instance Connect Endpoint"
                    .to_owned()
            }
            Self::TunnelNotReady { .. } => {
                "check that `berth ssh` reaches the --jump host; `-v` shows the ssh command"
                    .to_owned()
            }
            Self::Listen { .. } => "choose another local port (the LOCAL in LOCAL:PORT; 0 takes \
                                     any free one), or stop what listens there (`ss -ltnp` \
                                     shows it)"
                .to_owned(),
            Self::BadCommand { .. } => format!(
                "fix the quoting in {} (for example `fzf --height 40%`)",
                crate::settings::PICKER_VAR
            ),
        })
    }
}
