//! Session Manager, natively: the pieces of berth's own client for the
//! protocol `session-manager-plugin` speaks (`../shared/ssm-protocol.md`
//! collects the facts and their public sources).
//!
//! First the codec, which is pure and synchronous (no sockets, no
//! clock, no randomness: times and message ids are given by the caller),
//! and so can be fuzzed:
//!
//! - [`message`]: the binary frame every websocket message carries after
//!   the opening text frame (header, SHA-256 digest, payload), and the JSON
//!   payloads (acknowledgements, `channel_closed`, the handshake, terminal
//!   size, the opening token message);
//! - [`smux`]: the smux v1 frames that multiplex a port session's streams
//!   over the byte stream carried in Output payloads.
//!
//! Decoders never panic: any input is either a value or a typed error.
//!
//! On the codec, with sockets and clocks:
//!
//! - [`channel`]: one session's websocket, with sequencing,
//!   acknowledgements, resends, pause and start publication, and resume
//!   through a [`channel::Resume`] the layer above implements (this layer
//!   calls no AWS API).
//!
//! - [`state`]: what every session does with the channel's events (the
//!   handshake and its one KMS seam, where the session is, how the channel
//!   closed), under each of the pumps below;
//!
//! - [`shell`]: a shell or command session over a channel (the terminal's
//!   bytes and size, `~.`, the exit status).
//!
//! - [`stream`]: a port session as a plain byte stream (ssh over
//!   AWS-StartSSHSession, basic mode: one connection, no smux).
//!
//! - [`ports`]: port forwarding, a local listener whose connections go
//!   over one port session (smux streams, or basic mode with old agents).

pub mod channel;
pub mod message;
pub mod ports;
pub mod shell;
pub mod smux;
pub mod state;
pub mod stream;

#[cfg(test)]
mod random_inputs;

use channel::ChannelError;
use ports::PortError;
use shell::ShellError;
use stream::StreamError;

/// Why a Session Manager session could not start or failed: the service's
/// refusals, the channel's and the pump's failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// StartSession's TargetNotConnected.
    #[error("the SSM agent on {target} is not connected to Session Manager ({message})")]
    NotConnected { target: String, message: String },
    /// StartSession's AccessDeniedException.
    #[error("Session Manager refused a session on {target}: {message}")]
    AccessDenied { target: String, message: String },
    /// StartSession's InvalidDocument (or InvalidDocumentContent, …).
    #[error("Session Manager refused the document: {message}")]
    BadDocument { message: String },
    #[error(transparent)]
    Channel(ChannelError),
    #[error(transparent)]
    Shell(ShellError),
    /// A port session's agent could not connect to the port.
    #[error("the SSM agent on {target} could not connect to its port {port}{}", closing(.message))]
    Port {
        target: String,
        port: u16,
        message: String,
    },
    /// A forwarded port session's agent could not connect to its
    /// destination (`HOST:PORT` as seen from the instance).
    #[error("the SSM agent on {target} could not connect to {destination}{}", closing(.message))]
    Destination {
        target: String,
        destination: String,
        message: String,
    },
    /// A port session's multiplexed stream could not be followed.
    #[error("the port session on {target} broke: {detail}")]
    Multiplexing { target: String, detail: String },
}

fn closing(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl SessionError {
    /// A port session's failure on `target`.
    pub fn from_stream(target: &str, e: StreamError) -> SessionError {
        match e {
            StreamError::Session(e) => e.into(),
            StreamError::PortRefused { port, message } => SessionError::Port {
                target: target.to_owned(),
                port,
                message,
            },
        }
    }
}

impl SessionError {
    /// A forwarder's failure on `target`, whose agent dials `destination`.
    pub fn from_ports(target: &str, destination: &str, e: PortError) -> SessionError {
        match e {
            PortError::Session(e) => e.into(),
            PortError::Refused { message } => SessionError::Destination {
                target: target.to_owned(),
                destination: destination.to_owned(),
                message,
            },
            PortError::Smux(e) => SessionError::Multiplexing {
                target: target.to_owned(),
                detail: e.to_string(),
            },
        }
    }
}

impl crate::model::hint::Hint for SessionError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NotConnected { target, .. } => Some(format!(
                "`berth doctor {target}` checks the SSM agent's route; the instance needs the SSM \
                 agent running (`systemctl status amazon-ssm-agent`), an instance profile with \
                 AmazonSSMManagedInstanceCore, and a way to ssm and ssmmessages (internet or VPC \
                 endpoints)"
            )),
            Self::AccessDenied { .. } => Some(
                "your role lacks ssm:StartSession on this instance and document (and \
                 ssm:TerminateSession, ssm:ResumeSession on your sessions)"
                    .to_owned(),
            ),
            Self::BadDocument { .. } => Some(
                "check --document's name and --parameter's names (`aws ssm describe-document \
                 --name NAME` lists them)"
                    .to_owned(),
            ),
            Self::Channel(ChannelError::PlainRefused { .. }) => Some(
                "a stream URL without TLS is accepted only from a Session Manager on this \
                 machine (127.0.0.1, localhost, ::1); check AWS_ENDPOINT_URL_SSM"
                    .to_owned(),
            ),
            Self::Shell(ShellError::KmsRequired { .. }) => Some(
                "start the session without KMS encryption (the Session Manager preferences' \
                 KMS key), or use session-manager-plugin for now"
                    .to_owned(),
            ),
            Self::Port { target, port, .. } => Some(format!(
                "is sshd listening on port {port} on {target}? (`berth session {target} -- \
                 sudo ss -ltnp` shows what listens)"
            )),
            Self::Destination {
                target,
                destination,
                ..
            } => Some(destination_hint(target, destination)),
            Self::Channel(_) | Self::Shell(_) | Self::Multiplexing { .. } => Some(
                "run berth again; `berth doctor TARGET` checks the instance's SSM agent".to_owned(),
            ),
        }
    }
}

/// What to check when the agent on `target` cannot reach `destination`.
pub fn destination_hint(target: &str, destination: &str) -> String {
    format!(
        "is anything listening on {destination} as {target} sees it? (`berth session {target} \
         -- sudo ss -ltnp` shows what listens there; a remote host must resolve and be reachable \
         from the instance)"
    )
}

impl From<ChannelError> for SessionError {
    fn from(e: ChannelError) -> SessionError {
        SessionError::Channel(e)
    }
}

impl From<ShellError> for SessionError {
    fn from(e: ShellError) -> SessionError {
        match e {
            ShellError::Channel(e) => SessionError::Channel(e),
            e => SessionError::Shell(e),
        }
    }
}
