//! One session's state under the pumps: what every session does with the
//! channel's events whatever it carries (a shell, a byte stream, smux
//! port forwarding), so that [`super::shell`], [`super::stream`] and
//! [`super::ports`] differ only in what they do with the bytes.
//!
//! - The handshake (`../shared/ssm-protocol.md` §5): a request is answered
//!   action by action ([`SessionState::answer`]); SessionType succeeds,
//!   KMSEncryption goes to one seam, [`SessionState::kms_encryption`]
//!   (refused for now: berth does not encrypt sessions yet), anything else
//!   is unsupported. The agent's version is kept (port sessions multiplex
//!   with smux only above 3.0.196.0, §8).
//! - Where the session is: waiting for the agent, shaking hands, started
//!   ([`Start`]); no input goes before it has started.
//! - How the channel closed: after a refused KMS request, after
//!   ConnectToPortError, during the handshake, or with the service's
//!   message ([`SessionState::on_event`] turns the last event into a
//!   [`Step`] or a [`ShellError`]).
//!
//! The pumps keep their own clocks (a shell starts after a quiet while, a
//! port session waits for the handshake) and their own bytes.

use std::time::Duration;

use super::channel::{CLIENT_VERSION, ChannelError, ChannelWriter, Incoming};
use super::message::{
    ActionStatus, ActionType, FlagCommand, HandshakeComplete, HandshakeRequest, HandshakeResponse,
    JsonPayload as _, KmsEncryptionParameters, PayloadType, ProcessedClientAction,
    RequestedClientAction,
};

/// Why a session failed, whatever it carried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Channel(ChannelError),
    /// The agent asked for KMS encryption, which berth refused.
    #[error(
        "the session requires KMS encryption (key {key}), which berth does not support yet{}",
        closing(.message)
    )]
    KmsRequired { key: String, message: String },
    /// The agent closed the session during the handshake.
    #[error("the agent ended the session during its handshake{}", closing(.message))]
    Handshake { message: String },
    #[error(
        "the agent did not complete the session's handshake within {}",
        humantime::format_duration(*.0)
    )]
    HandshakeTimedOut(Duration),
    #[error("cannot write the session's output: {0}")]
    Io(String),
}

/// `: message`, or nothing for an empty one.
pub(crate) fn closing(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Where the handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Nothing from the agent yet.
    Waiting,
    /// Answered a handshake request; waiting for its completion.
    Shaking,
    /// Input may go.
    Started,
}

/// What an event leaves for the pump to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing: the state took care of it.
    Handled,
    /// Terminal or port bytes.
    Output(Vec<u8>),
    /// A command's standard error.
    StdErr(Vec<u8>),
    /// `EXIT_CODE: <n>` text.
    ExitCode(Vec<u8>),
    /// The handshake completed; the agent's message for the operator
    /// (empty for none).
    Started(String),
    /// The channel closed after the agent said it could not connect to the
    /// port; the service's message.
    PortRefused(String),
    /// The channel closed; the service's message, if any. Always the last
    /// step.
    Closed(String),
}

/// One session's bookkeeping between the channel's events.
#[derive(Debug)]
pub struct SessionState {
    start: Start,
    /// The KMS key the agent asked for (and berth refused).
    kms: Option<String>,
    /// The agent could not connect to the port (Flag ConnectToPortError).
    port_refused: bool,
    /// The agent's version, from its handshake request.
    agent_version: Option<String>,
    /// How often the websocket broke and was resumed.
    resumed: u32,
}

impl Default for SessionState {
    fn default() -> SessionState {
        SessionState::new()
    }
}

impl SessionState {
    pub fn new() -> SessionState {
        SessionState {
            start: Start::Waiting,
            kms: None,
            port_refused: false,
            agent_version: None,
            resumed: 0,
        }
    }

    pub fn start(&self) -> Start {
        self.start
    }

    /// Whether input may go.
    pub fn started(&self) -> bool {
        self.start == Start::Started
    }

    /// Starts without a word from the agent (a shell that prints no
    /// prompt).
    pub fn start_anyway(&mut self) {
        self.start = Start::Started;
    }

    /// The agent's version, once its handshake request came.
    pub fn agent_version(&self) -> Option<&str> {
        self.agent_version.as_deref()
    }

    /// How often the websocket broke and was resumed.
    pub fn resumed(&self) -> u32 {
        self.resumed
    }

    /// Takes one event of the channel (`None`: the channel is gone), and
    /// answers a handshake request through `writer`.
    pub async fn on_event(
        &mut self,
        event: Option<Incoming>,
        writer: &ChannelWriter,
    ) -> Result<Step, ShellError> {
        let Some(event) = event else {
            return Ok(Step::Closed(String::new()));
        };
        Ok(match event {
            Incoming::HandshakeRequest(request) => {
                let response = self.answer(&request);
                // A failed send: the channel's last event says why.
                let _ = writer
                    .send(PayloadType::HandshakeResponse, &response.to_json())
                    .await;
                self.start = Start::Shaking;
                Step::Handled
            }
            Incoming::HandshakeComplete(HandshakeComplete {
                customer_message, ..
            }) => {
                self.start = Start::Started;
                Step::Started(customer_message)
            }
            Incoming::Output(bytes) => {
                self.started_by_agent();
                Step::Output(bytes)
            }
            Incoming::StdErr(bytes) => {
                self.started_by_agent();
                Step::StdErr(bytes)
            }
            Incoming::ExitCode(bytes) => Step::ExitCode(bytes),
            Incoming::Flag(FlagCommand::ConnectToPortError) => {
                self.port_refused = true;
                Step::Handled
            }
            Incoming::Resumed => {
                self.resumed += 1;
                Step::Handled
            }
            Incoming::Closed(Ok(closed)) => return self.closed(closed.output),
            Incoming::Closed(Err(e)) => return Err(ShellError::Channel(e)),
            Incoming::EncChallengeRequest(_)
            | Incoming::Flag(_)
            | Incoming::Other { .. }
            | Incoming::Malformed { .. } => Step::Handled,
        })
    }

    /// The agent's first output starts a session without a handshake.
    fn started_by_agent(&mut self) {
        if self.start == Start::Waiting {
            self.start = Start::Started;
        }
    }

    /// How a channel that closed with `message` ended.
    fn closed(&mut self, message: String) -> Result<Step, ShellError> {
        if let Some(key) = self.kms.take() {
            return Err(ShellError::KmsRequired { key, message });
        }
        if self.port_refused {
            return Ok(Step::PortRefused(message));
        }
        if self.start == Start::Shaking {
            return Err(ShellError::Handshake { message });
        }
        Ok(Step::Closed(message))
    }

    /// The answer to a handshake request, with berth's version, one
    /// processed action for each requested one.
    pub fn answer(&mut self, request: &HandshakeRequest) -> HandshakeResponse {
        self.agent_version = Some(request.agent_version.clone());
        let mut errors = Vec::new();
        let processed = request
            .requested_client_actions
            .iter()
            .map(|action| {
                let processed = self.action(action);
                if processed.action_status == ActionStatus::Failed {
                    errors.push(processed.error.clone());
                }
                processed
            })
            .collect();
        HandshakeResponse {
            client_version: CLIENT_VERSION.to_owned(),
            processed_client_actions: processed,
            errors,
        }
    }

    fn action(&mut self, action: &RequestedClientAction) -> ProcessedClientAction {
        let (action_status, action_result, error) = match &action.action_type {
            ActionType::SessionType => (
                ActionStatus::Success,
                serde_json::Value::Null,
                String::new(),
            ),
            ActionType::KmsEncryption => self.kms_encryption(&action.action_parameters),
            ActionType::Other(name) => (
                ActionStatus::Unsupported,
                serde_json::Value::Null,
                format!("berth does not know the action {name}"),
            ),
        };
        ProcessedClientAction {
            action_type: action.action_type.clone(),
            action_status,
            action_result,
            error,
        }
    }

    /// The seam where a KMSEncryption action is answered: its status, its
    /// result (the KMS layer's encrypted data key, once there is one) and
    /// its error. Refused for now; the key asked for is kept so that the
    /// session's end says why.
    fn kms_encryption(
        &mut self,
        parameters: &serde_json::Value,
    ) -> (ActionStatus, serde_json::Value, String) {
        let key = serde_json::from_value::<KmsEncryptionParameters>(parameters.clone())
            .map(|p| p.kms_key_id)
            .unwrap_or_default();
        self.kms = Some(key);
        (
            ActionStatus::Failed,
            serde_json::Value::Null,
            "KMS encryption is not supported by berth yet".to_owned(),
        )
    }
}

/// Whether an agent of `version` multiplexes a port session with smux
/// (`../shared/ssm-protocol.md` §8: above 3.0.196.0, given berth's
/// [`CLIENT_VERSION`]); an unreadable version counts as new.
pub fn agent_multiplexes(version: &str) -> bool {
    let parts: Option<Vec<u64>> = version.trim().split('.').map(|p| p.parse().ok()).collect();
    match parts {
        Some(mut parts) if !parts.is_empty() => {
            parts.resize(parts.len().max(4), 0);
            parts.as_slice() > [3, 0, 196, 0].as_slice()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(actions: &serde_json::Value) -> HandshakeRequest {
        serde_json::from_value(serde_json::json!({
            "AgentVersion": "3.3.987.0",
            "RequestedClientActions": actions,
        }))
        .expect("request")
    }

    #[test]
    fn session_type_is_accepted_with_berths_version() {
        let mut state = SessionState::new();
        let response = state.answer(&request(&serde_json::json!([
            {"ActionType": "SessionType",
             "ActionParameters": {"SessionType": "NonInteractiveCommands", "Properties": null}}
        ])));
        assert_eq!(state.kms, None);
        assert_eq!(state.agent_version(), Some("3.3.987.0"));
        assert_eq!(response.client_version, CLIENT_VERSION);
        assert!(response.errors.is_empty());
        assert_eq!(
            response.processed_client_actions,
            [ProcessedClientAction {
                action_type: ActionType::SessionType,
                action_status: ActionStatus::Success,
                action_result: serde_json::Value::Null,
                error: String::new(),
            }]
        );
        let json: serde_json::Value = serde_json::from_slice(&response.to_json()).expect("json");
        assert_eq!(json["ClientVersion"], CLIENT_VERSION);
        assert_eq!(
            json["ProcessedClientActions"][0]["ActionType"],
            "SessionType"
        );
        assert_eq!(json["ProcessedClientActions"][0]["ActionStatus"], 1);
    }

    #[test]
    fn kms_encryption_is_refused_and_unknown_actions_unsupported() {
        let mut state = SessionState::new();
        let response = state.answer(&request(&serde_json::json!([
            {"ActionType": "KMSEncryption",
             "ActionParameters": {"KMSKeyId": "alias/session-key", "Challenge": "AAAA"}},
            {"ActionType": "SessionType",
             "ActionParameters": {"SessionType": "Standard_Stream", "Properties": null}},
            {"ActionType": "Teleport", "ActionParameters": {}}
        ])));
        assert_eq!(state.kms.as_deref(), Some("alias/session-key"));
        let statuses: Vec<_> = response
            .processed_client_actions
            .iter()
            .map(|a| (a.action_type.clone(), a.action_status))
            .collect();
        assert_eq!(
            statuses,
            [
                (ActionType::KmsEncryption, ActionStatus::Failed),
                (ActionType::SessionType, ActionStatus::Success),
                (
                    ActionType::Other("Teleport".into()),
                    ActionStatus::Unsupported
                ),
            ]
        );
        assert!(response.processed_client_actions[0].error.contains("KMS"));
        assert!(!response.errors.is_empty());
    }

    #[test]
    fn the_close_says_what_went_wrong_first() {
        // KMS refused, then port refused, then mid-handshake, else closed.
        let mut state = SessionState::new();
        state.kms = Some("k".into());
        state.port_refused = true;
        assert!(matches!(
            state.closed("bye".into()),
            Err(ShellError::KmsRequired { key, message }) if key == "k" && message == "bye"
        ));
        let mut state = SessionState::new();
        state.port_refused = true;
        state.start = Start::Shaking;
        assert_eq!(
            state.closed("no".into()),
            Ok(Step::PortRefused("no".into()))
        );
        let mut state = SessionState::new();
        state.start = Start::Shaking;
        assert_eq!(
            state.closed("x".into()),
            Err(ShellError::Handshake {
                message: "x".into()
            })
        );
        let mut state = SessionState::new();
        assert_eq!(state.closed("done".into()), Ok(Step::Closed("done".into())));
    }

    #[test]
    fn smux_only_above_3_0_196_0() {
        for (version, smux) in [
            ("3.0.196.0", false),
            ("3.0.196", false),
            ("2.3.1000.0", false),
            ("3.0.196.1", true),
            ("3.0.197.0", true),
            ("3.3.987.0", true),
            ("3.1", true),
            ("garbage", true),
        ] {
            assert_eq!(agent_multiplexes(version), smux, "{version}");
        }
    }
}
