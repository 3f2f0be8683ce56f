//! One session's state under the pumps: what every session does with the
//! channel's events whatever it carries (a shell, a byte stream, smux
//! port forwarding), so that [`super::shell`], [`super::stream`] and
//! [`super::ports`] differ only in what they do with the bytes.
//!
//! - The handshake (`../shared/ssm-protocol.md` §5): a request is answered
//!   action by action ([`SessionState::answer`]); SessionType succeeds,
//!   KMSEncryption goes to one seam, [`SessionState::kms_encryption`],
//!   anything else is unsupported. The agent's version is kept (port
//!   sessions multiplex with smux only above 3.0.196.0, §8).
//! - KMS encryption (§6), when the agent asks for it and the session was
//!   given [`DataKeys`] ([`SessionState::with_data_keys`]): the data key
//!   comes from KMS before the answer goes; the answer carries its
//!   encrypted copy; from then on the writer encrypts Output
//!   ([`ChannelWriter::encrypt_output`]) and Output, StdErr and ExitCode
//!   from the agent are decrypted here; the agent's encryption challenge
//!   is answered ([`super::crypto`]). Without `DataKeys` the action is
//!   refused, and the session ends with [`ShellError::KmsRequired`].
//! - Where the session is: waiting for the agent, shaking hands, started
//!   ([`Start`]); no input goes before it has started.
//! - How the channel closed: after a refused KMS request, after
//!   ConnectToPortError, during the (encryption) handshake, or with the
//!   service's message ([`SessionState::on_event`] turns the last event
//!   into a [`Step`] or a [`ShellError`]).
//!
//! The pumps keep their own clocks (a shell starts after a quiet while, a
//! port session waits for the handshake) and their own bytes.

use std::sync::Arc;
use std::time::Duration;

use super::channel::{CLIENT_VERSION, ChannelError, ChannelWriter, Incoming};
use super::crypto::{CryptoError, SessionCipher};
use super::kms::{DataKeyError, DataKeys, action_result};
use super::message::{
    ActionStatus, ActionType, FlagCommand, HandshakeComplete, HandshakeRequest, HandshakeResponse,
    JsonPayload as _, KmsEncryptionParameters, PayloadType, ProcessedClientAction,
    RequestedClientAction,
};
use crate::model::network::DataKey;

/// Why a session failed, whatever it carried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Channel(ChannelError),
    /// The agent asked for KMS encryption where berth has no way to get
    /// a data key (a session started without [`DataKeys`]).
    #[error(
        "the session requires KMS encryption (key {key}), which berth cannot provide for this \
         kind of session{}",
        closing(.message)
    )]
    KmsRequired { key: String, message: String },
    /// KMS gave no data key for the session.
    #[error(
        "KMS {} a data key for the session (key {key}): {message}",
        if *.denied { "refused" } else { "did not give" }
    )]
    Kms {
        key: String,
        /// Access denied (the caller lacks kms:GenerateDataKey).
        denied: bool,
        message: String,
    },
    /// The agent ended the session after it got the data key: it could
    /// not decrypt the key, or berth's answer to its challenge did not
    /// match.
    #[error(
        "the agent did not accept the session's KMS encryption (key {key}){}",
        closing(.message)
    )]
    EncryptionRefused { key: String, message: String },
    /// A payload or the challenge from the agent did not decrypt.
    #[error("the session's KMS encryption failed: {0}")]
    Encryption(CryptoError),
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
pub struct SessionState {
    start: Start,
    /// The KMS key the agent asked for (and berth refused).
    kms: Option<String>,
    /// Where data keys come from; none: KMS encryption is refused.
    data_keys: Option<Arc<dyn DataKeys>>,
    /// The data key fetched for the handshake request being answered.
    data_key: Option<(String, Result<DataKey, DataKeyError>)>,
    /// The KMS key and the cipher of an encrypted session.
    encryption: Option<(String, SessionCipher)>,
    /// What failed while answering the handshake, returned once the
    /// answer (a failure) has gone.
    failure: Option<ShellError>,
    /// The agent could not connect to the port (Flag ConnectToPortError).
    port_refused: bool,
    /// The agent's version, from its handshake request.
    agent_version: Option<String>,
    /// How often the websocket broke and was resumed.
    resumed: u32,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("start", &self.start)
            .field("kms", &self.kms)
            .field("data_keys", &self.data_keys.is_some())
            .field("encrypted", &self.encryption.as_ref().map(|(key, _)| key))
            .field("port_refused", &self.port_refused)
            .field("agent_version", &self.agent_version)
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
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
            data_keys: None,
            data_key: None,
            encryption: None,
            failure: None,
            port_refused: false,
            agent_version: None,
            resumed: 0,
        }
    }

    /// A session that gets its data keys from `data_keys` when the agent
    /// asks for KMS encryption.
    pub fn with_data_keys(data_keys: Arc<dyn DataKeys>) -> SessionState {
        SessionState {
            data_keys: Some(data_keys),
            ..SessionState::new()
        }
    }

    /// Whether the session is KMS-encrypted.
    pub fn encrypted(&self) -> bool {
        self.encryption.is_some()
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
                self.fetch_data_key(&request).await;
                let response = self.answer(&request);
                if let Some((_, cipher)) = &self.encryption {
                    // Before anything else is sent: Output from now on is
                    // encrypted (none went yet: the session has not
                    // started).
                    writer.encrypt_output(cipher.clone());
                }
                // A failed send: the channel's last event says why.
                let _ = writer
                    .send(PayloadType::HandshakeResponse, &response.to_json())
                    .await;
                self.start = Start::Shaking;
                if let Some(failure) = self.failure.take() {
                    return Err(failure);
                }
                Step::Handled
            }
            Incoming::EncChallengeRequest(challenge) => {
                if let Some((_, cipher)) = &self.encryption {
                    let answer = cipher
                        .answer_challenge(&challenge)
                        .map_err(ShellError::Encryption)?;
                    let _ = writer
                        .send(PayloadType::EncChallengeResponse, &answer)
                        .await;
                }
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
                Step::Output(self.decrypt(bytes)?)
            }
            Incoming::StdErr(bytes) => {
                self.started_by_agent();
                Step::StdErr(self.decrypt(bytes)?)
            }
            Incoming::ExitCode(bytes) => Step::ExitCode(self.decrypt(bytes)?),
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
            Incoming::Flag(_) | Incoming::Other { .. } | Incoming::Malformed { .. } => {
                Step::Handled
            }
        })
    }

    /// A payload of a type the agent encrypts (Output, StdErr, ExitCode),
    /// decrypted when the session is encrypted.
    fn decrypt(&self, payload: Vec<u8>) -> Result<Vec<u8>, ShellError> {
        match &self.encryption {
            Some((_, cipher)) => cipher.decrypt(&payload).map_err(ShellError::Encryption),
            None => Ok(payload),
        }
    }

    /// Asks for the data key when `request` has a KMSEncryption action and
    /// the session has [`DataKeys`].
    async fn fetch_data_key(&mut self, request: &HandshakeRequest) {
        let Some(data_keys) = self.data_keys.clone() else {
            return;
        };
        let Some(key) = request
            .requested_client_actions
            .iter()
            .find(|a| a.action_type == ActionType::KmsEncryption)
            .map(|a| kms_key_id(&a.action_parameters))
        else {
            return;
        };
        let result = data_keys.data_key(&key).await;
        self.data_key = Some((key, result));
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
        if let (Start::Shaking, Some((key, _))) = (self.start, &self.encryption) {
            return Err(ShellError::EncryptionRefused {
                key: key.clone(),
                message,
            });
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
    /// result (`{"KMSCipherTextKey": …}`, the data key fetched for it) and
    /// its error. Without a data key (no [`DataKeys`], or KMS refused) it
    /// fails, and what failed is kept for the caller.
    fn kms_encryption(
        &mut self,
        parameters: &serde_json::Value,
    ) -> (ActionStatus, serde_json::Value, String) {
        let key = kms_key_id(parameters);
        let failed = |error: String| (ActionStatus::Failed, serde_json::Value::Null, error);
        match self.data_key.take() {
            Some((asked, Ok(data_key))) if asked == key => {
                match SessionCipher::new(&data_key.plaintext) {
                    Ok(cipher) => {
                        self.encryption = Some((key, cipher));
                        (
                            ActionStatus::Success,
                            action_result(&data_key),
                            String::new(),
                        )
                    }
                    Err(e) => {
                        let error = format!("berth cannot use the data key: {e}");
                        self.failure = Some(ShellError::Encryption(e));
                        failed(error)
                    }
                }
            }
            Some((asked, Err(e))) if asked == key => {
                let error = format!("KMS GenerateDataKey failed: {}", e.message);
                self.failure = Some(ShellError::Kms {
                    key,
                    denied: e.denied,
                    message: e.message,
                });
                failed(error)
            }
            _ => {
                self.kms = Some(key);
                failed("berth cannot encrypt this kind of session with KMS".to_owned())
            }
        }
    }
}

/// The KMS key a KMSEncryption action names (empty when it names none).
fn kms_key_id(parameters: &serde_json::Value) -> String {
    serde_json::from_value::<KmsEncryptionParameters>(parameters.clone())
        .map(|p| p.kms_key_id)
        .unwrap_or_default()
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

    /// A data key with its halves spelled out: 0x11 the agent's, 0x22
    /// berth's.
    fn halves() -> Vec<u8> {
        let mut key = vec![0x11_u8; 32];
        key.extend([0x22_u8; 32]);
        key
    }

    /// `plain` as the agent (0x11) or berth (0x22) seals it.
    fn seal(half: u8, plain: &[u8]) -> Vec<u8> {
        use aes_gcm::{Aes256Gcm, KeyInit as _};
        let cipher = Aes256Gcm::new_from_slice(&[half; 32]).expect("key");
        super::super::crypto::seal(&cipher, plain).expect("seal")
    }

    fn open(half: u8, sealed: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::{Aes256Gcm, KeyInit as _};
        let cipher = Aes256Gcm::new_from_slice(&[half; 32]).expect("key");
        super::super::crypto::open(&cipher, sealed).ok()
    }

    /// KMS as a test wants it: one answer, and the key ids asked for.
    struct FakeKeys {
        answer: Result<DataKey, DataKeyError>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl DataKeys for FakeKeys {
        fn data_key<'a>(
            &'a self,
            key_id: &'a str,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<DataKey, DataKeyError>> + Send + 'a>,
        > {
            self.asked.lock().expect("lock").push(key_id.to_owned());
            Box::pin(async move { self.answer.clone() })
        }
    }

    fn fake_keys(answer: Result<DataKey, DataKeyError>) -> Arc<FakeKeys> {
        Arc::new(FakeKeys {
            answer,
            asked: std::sync::Mutex::default(),
        })
    }

    fn kms_request() -> Incoming {
        Incoming::HandshakeRequest(request(&serde_json::json!([
            {"ActionType": "SessionType",
             "ActionParameters": {"SessionType": "Standard_Stream", "Properties": null}},
            {"ActionType": "KMSEncryption",
             "ActionParameters": {"KMSKeyId": "alias/session-key", "Challenge": "AAAA"}}
        ])))
    }

    #[tokio::test]
    async fn a_kms_session_gets_its_key_answers_the_challenge_and_encrypts_output() {
        let keys = fake_keys(Ok(DataKey {
            plaintext: halves(),
            ciphertext: b"blob".to_vec(),
        }));
        let mut state = SessionState::with_data_keys(keys.clone());
        let (writer, mut sent) = ChannelWriter::detached();
        // The request: the key from KMS, its blob in the answer.
        assert_eq!(
            state.on_event(Some(kms_request()), &writer).await,
            Ok(Step::Handled)
        );
        assert_eq!(*keys.asked.lock().expect("lock"), ["alias/session-key"]);
        assert!(state.encrypted());
        let (payload_type, response) = sent.recv().await.expect("response");
        assert_eq!(payload_type, PayloadType::HandshakeResponse);
        let response: serde_json::Value = serde_json::from_slice(&response).expect("json");
        assert_eq!(
            response["ProcessedClientActions"][1],
            serde_json::json!({
                "ActionType": "KMSEncryption",
                "ActionStatus": 1,
                "ActionResult": {"KMSCipherTextKey": "YmxvYg=="},
                "Error": "",
            })
        );
        assert_eq!(response["Errors"], serde_json::json!([]));
        // The challenge: decrypted with the agent's half, back under berth's.
        let random: Vec<u8> = (0..64).collect();
        let challenge = serde_json::json!({
            "Challenge": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                seal(0x11, &random),
            ),
        });
        let step = state
            .on_event(
                Some(Incoming::EncChallengeRequest(
                    challenge.to_string().into_bytes(),
                )),
                &writer,
            )
            .await;
        assert_eq!(step, Ok(Step::Handled));
        let (payload_type, answer) = sent.recv().await.expect("answer");
        assert_eq!(payload_type, PayloadType::EncChallengeResponse);
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("json");
        let sealed = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            answer["Challenge"].as_str().expect("Challenge"),
        )
        .expect("base64");
        assert_eq!(open(0x22, &sealed), Some(random));
        // Then the session: the agent's payloads decrypted...
        let complete = Incoming::HandshakeComplete(HandshakeComplete {
            handshake_time_to_complete: 1,
            customer_message: "This session is encrypted using AWS KMS.".into(),
        });
        assert_eq!(
            state.on_event(Some(complete), &writer).await,
            Ok(Step::Started(
                "This session is encrypted using AWS KMS.".into()
            ))
        );
        for (event, step) in [
            (
                Incoming::Output(seal(0x11, b"out")),
                Step::Output(b"out".to_vec()),
            ),
            (
                Incoming::StdErr(seal(0x11, b"err")),
                Step::StdErr(b"err".to_vec()),
            ),
            (
                Incoming::ExitCode(seal(0x11, b"EXIT_CODE: 3")),
                Step::ExitCode(b"EXIT_CODE: 3".to_vec()),
            ),
        ] {
            assert_eq!(state.on_event(Some(event), &writer).await, Ok(step));
        }
        // ...and berth's Output encrypted after it is cut at 1,024 bytes;
        // sizes stay clear.
        let input: Vec<u8> = (0..2000_u32).map(|i| (i % 251) as u8).collect();
        writer.send_output(&input).await.expect("sent");
        let size = super::super::message::TerminalSize { cols: 80, rows: 24 };
        writer.send_size(size).await.expect("sent");
        let mut carried = Vec::new();
        for expected in [1024, 976] {
            let (payload_type, sealed) = sent.recv().await.expect("output");
            assert_eq!(payload_type, PayloadType::Output);
            assert_eq!(sealed.len(), 12 + expected + 16);
            assert_eq!(open(0x11, &sealed), None, "under the agent's half");
            carried.extend(open(0x22, &sealed).expect("berth's half"));
        }
        assert_eq!(carried, input);
        let (payload_type, size) = sent.recv().await.expect("size");
        assert_eq!(payload_type, PayloadType::Size);
        assert_eq!(size, br#"{"cols":80,"rows":24}"#);
        // An altered payload is an error, not output.
        let mut altered = seal(0x11, b"out");
        altered[20] ^= 1;
        assert_eq!(
            state
                .on_event(Some(Incoming::Output(altered)), &writer)
                .await,
            Err(ShellError::Encryption(CryptoError::Tampered))
        );
    }

    #[tokio::test]
    async fn kms_refusing_the_key_fails_the_action_and_the_session() {
        let keys = fake_keys(Err(DataKeyError {
            denied: true,
            message: "AccessDeniedException: not allowed".into(),
        }));
        let mut state = SessionState::with_data_keys(keys);
        let (writer, mut sent) = ChannelWriter::detached();
        let result = state.on_event(Some(kms_request()), &writer).await;
        assert_eq!(
            result,
            Err(ShellError::Kms {
                key: "alias/session-key".into(),
                denied: true,
                message: "AccessDeniedException: not allowed".into(),
            })
        );
        // The agent heard first: the action failed.
        let (_, response) = sent.recv().await.expect("response");
        let response: serde_json::Value = serde_json::from_slice(&response).expect("json");
        assert_eq!(response["ProcessedClientActions"][1]["ActionStatus"], 2);
        assert!(!state.encrypted());
        // A data key of the wrong size is refused too.
        let keys = fake_keys(Ok(DataKey {
            plaintext: vec![1; 32],
            ciphertext: b"blob".to_vec(),
        }));
        let mut state = SessionState::with_data_keys(keys);
        assert_eq!(
            state.on_event(Some(kms_request()), &writer).await,
            Err(ShellError::Encryption(CryptoError::KeyLength(32)))
        );
    }

    #[tokio::test]
    async fn the_agent_ending_an_encrypted_handshake_refused_the_encryption() {
        let keys = fake_keys(Ok(DataKey {
            plaintext: halves(),
            ciphertext: b"blob".to_vec(),
        }));
        let mut state = SessionState::with_data_keys(keys);
        let (writer, _sent) = ChannelWriter::detached();
        state
            .on_event(Some(kms_request()), &writer)
            .await
            .expect("answered");
        let error = state
            .closed("Encryption challenge failed.".into())
            .expect_err("refused");
        assert_eq!(
            error,
            ShellError::EncryptionRefused {
                key: "alias/session-key".into(),
                message: "Encryption challenge failed.".into(),
            }
        );
        // A challenge that does not decrypt is berth's error at once.
        let mut state = SessionState::with_data_keys(fake_keys(Ok(DataKey {
            plaintext: halves(),
            ciphertext: b"blob".to_vec(),
        })));
        state
            .on_event(Some(kms_request()), &writer)
            .await
            .expect("answered");
        let foreign = serde_json::json!({
            "Challenge": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                seal(0x22, b"wrong half"),
            ),
        });
        assert_eq!(
            state
                .on_event(
                    Some(Incoming::EncChallengeRequest(
                        foreign.to_string().into_bytes()
                    )),
                    &writer
                )
                .await,
            Err(ShellError::Encryption(CryptoError::Tampered))
        );
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
