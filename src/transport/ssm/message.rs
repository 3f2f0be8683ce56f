//! The Session Manager message frame (the plugin's ClientMessage, the
//! agent's AgentMessage: one layout for both) and its JSON payloads.
//!
//! Every binary websocket message is one frame. All integers are
//! big-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | header length, always 116 (every header field but the payload length) |
//! | 4 | 32 | message type, UTF-8, padded with spaces |
//! | 36 | 4 | schema version (1) |
//! | 40 | 8 | created date, Unix epoch milliseconds |
//! | 48 | 8 | sequence number (signed) |
//! | 56 | 8 | flags (bit 0 SYN, bit 1 FIN) |
//! | 64 | 16 | message id: a UUID with its halves swapped (bytes 8..16, then 0..8) |
//! | 80 | 32 | SHA-256 of the payload |
//! | 112 | 4 | payload type (0 when none) |
//! | 116 | 4 | payload length |
//! | 120 | n | payload |
//!
//! [`Message::decode`] checks what the reference ends rely on without
//! checking: the header length, that the payload length matches the bytes
//! that follow, and the digest (when there is a payload: an empty payload's
//! digest is not checked, as the reference client does not, since the
//! service's `start_publication` and `pause_publication` are exempt from
//! its checks). It returns a [`MessageError`] for anything else, and never
//! panics.

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The header length every sender writes: the header without the payload
/// length field.
pub const HEADER_LENGTH: u32 = 116;
/// Where the payload starts: the header plus the payload length field.
pub const PAYLOAD_OFFSET: usize = 120;
/// The schema version both ends send.
pub const SCHEMA_VERSION: u32 = 1;

const MESSAGE_TYPE_OFFSET: usize = 4;
const MESSAGE_TYPE_LENGTH: usize = 32;
const SCHEMA_VERSION_OFFSET: usize = 36;
const CREATED_DATE_OFFSET: usize = 40;
const SEQUENCE_NUMBER_OFFSET: usize = 48;
const FLAGS_OFFSET: usize = 56;
const MESSAGE_ID_OFFSET: usize = 64;
const DIGEST_OFFSET: usize = 80;
const DIGEST_LENGTH: usize = 32;
const PAYLOAD_TYPE_OFFSET: usize = 112;
const PAYLOAD_LENGTH_OFFSET: usize = 116;

/// Flag bit 0: the first message of a stream (the agent sets it on its
/// sequence number 0).
pub const FLAG_SYN: u64 = 1;
/// Flag bit 1: the last message of a stream.
pub const FLAG_FIN: u64 = 2;
/// What both ends put in an acknowledgement's flags.
pub const FLAGS_ACKNOWLEDGE: u64 = FLAG_SYN | FLAG_FIN;

/// What a frame is for, as named in its 32-byte type field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Client to agent: a stream message (user input, handshake answers).
    InputStreamData,
    /// Agent to client: a stream message (output, handshake requests).
    OutputStreamData,
    /// Either way: a stream message arrived.
    Acknowledge,
    /// From the service: the session is over.
    ChannelClosed,
    /// From the service: the other side is back; sending may resume.
    StartPublication,
    /// From the service: the other side went away; hold stream messages.
    PausePublication,
}

impl MessageType {
    pub const ALL: [MessageType; 6] = [
        MessageType::InputStreamData,
        MessageType::OutputStreamData,
        MessageType::Acknowledge,
        MessageType::ChannelClosed,
        MessageType::StartPublication,
        MessageType::PausePublication,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::InputStreamData => "input_stream_data",
            MessageType::OutputStreamData => "output_stream_data",
            MessageType::Acknowledge => "acknowledge",
            MessageType::ChannelClosed => "channel_closed",
            MessageType::StartPublication => "start_publication",
            MessageType::PausePublication => "pause_publication",
        }
    }

    /// The type a wire name stands for, `None` for a name berth does not
    /// know.
    pub fn from_name(name: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a stream message's payload holds. A frame without one
/// (acknowledgements, control messages) has payload type 0, which is
/// `None` in [`Message::payload_type`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadType {
    /// Terminal or port bytes (both ways).
    Output = 1,
    Error = 2,
    /// The terminal size, as [`TerminalSize`] JSON (client to agent).
    Size = 3,
    Parameter = 4,
    /// [`HandshakeRequest`] JSON (agent to client).
    HandshakeRequest = 5,
    /// [`HandshakeResponse`] JSON (client to agent).
    HandshakeResponse = 6,
    /// [`HandshakeComplete`] JSON (agent to client).
    HandshakeComplete = 7,
    EncChallengeRequest = 8,
    EncChallengeResponse = 9,
    /// A 4-byte [`FlagCommand`].
    Flag = 10,
    /// A command's standard error, when the document separates it.
    StdErr = 11,
    /// `EXIT_CODE: <n>` text, when the document separates the streams.
    ExitCode = 12,
}

impl PayloadType {
    pub const ALL: [PayloadType; 12] = [
        PayloadType::Output,
        PayloadType::Error,
        PayloadType::Size,
        PayloadType::Parameter,
        PayloadType::HandshakeRequest,
        PayloadType::HandshakeResponse,
        PayloadType::HandshakeComplete,
        PayloadType::EncChallengeRequest,
        PayloadType::EncChallengeResponse,
        PayloadType::Flag,
        PayloadType::StdErr,
        PayloadType::ExitCode,
    ];

    /// The number on the wire.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The payload type a wire number stands for: `Ok(None)` for 0 (no
    /// payload type), an error for a number berth does not know.
    pub fn from_number(number: u32) -> Result<Option<PayloadType>, MessageError> {
        if number == 0 {
            return Ok(None);
        }
        PayloadType::ALL
            .into_iter()
            .find(|t| t.number() == number)
            .map(Some)
            .ok_or(MessageError::UnknownPayloadType(number))
    }
}

/// The command a Flag payload carries: a 4-byte big-endian number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagCommand {
    /// Client to agent (port sessions without smux): the local connection
    /// closed.
    DisconnectToPort = 1,
    /// Client to agent: end the session.
    TerminateSession = 2,
    /// Agent to client: the agent could not connect to the port.
    ConnectToPortError = 3,
}

impl FlagCommand {
    /// The 4-byte payload.
    pub fn encode(self) -> [u8; 4] {
        (self as u32).to_be_bytes()
    }

    /// The command in a Flag payload.
    pub fn decode(payload: &[u8]) -> Result<FlagCommand, MessageError> {
        let bytes: [u8; 4] = payload
            .try_into()
            .map_err(|_| MessageError::FlagLength(payload.len()))?;
        match u32::from_be_bytes(bytes) {
            1 => Ok(FlagCommand::DisconnectToPort),
            2 => Ok(FlagCommand::TerminateSession),
            3 => Ok(FlagCommand::ConnectToPortError),
            other => Err(MessageError::UnknownFlag(other)),
        }
    }
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("a Session Manager message of {0} bytes is shorter than its 120-byte header")]
    TooShort(usize),
    #[error("a Session Manager message declares a header length of {0}, not 116")]
    HeaderLength(u32),
    #[error(
        "a Session Manager message declares a payload of {declared} bytes, but {available} follow its header"
    )]
    PayloadBeyondFrame { declared: u32, available: usize },
    #[error(
        "a Session Manager message declares a payload of {declared} bytes, but {available} follow its header"
    )]
    TrailingBytes { declared: u32, available: usize },
    #[error("a Session Manager message's payload does not match its SHA-256 digest")]
    DigestMismatch,
    #[error("unknown Session Manager message type {0:?}")]
    UnknownMessageType(String),
    #[error("unknown Session Manager payload type {0}")]
    UnknownPayloadType(u32),
    #[error("a payload of {0} bytes is too long for one Session Manager message")]
    PayloadTooLong(usize),
    #[error("a Flag payload has {0} bytes, not 4")]
    FlagLength(usize),
    #[error("unknown Session Manager flag {0}")]
    UnknownFlag(u32),
}

/// One frame, either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub message_type: MessageType,
    pub schema_version: u32,
    /// Unix epoch milliseconds.
    pub created_date: u64,
    /// Stream messages count from 0 in each direction; acknowledgements
    /// and control messages carry 0.
    pub sequence_number: i64,
    /// See [`FLAG_SYN`], [`FLAG_FIN`], [`FLAGS_ACKNOWLEDGE`].
    pub flags: u64,
    pub message_id: Uuid,
    /// `None` is payload type 0 (acknowledgements, control messages).
    pub payload_type: Option<PayloadType>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The frame's bytes. Fails only for a payload longer than a 32-bit
    /// length can say.
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let payload_length = u32::try_from(self.payload.len())
            .map_err(|_| MessageError::PayloadTooLong(self.payload.len()))?;
        let mut out = Vec::with_capacity(PAYLOAD_OFFSET + self.payload.len());
        out.extend_from_slice(&HEADER_LENGTH.to_be_bytes());
        let mut message_type = [b' '; MESSAGE_TYPE_LENGTH];
        let name = self.message_type.as_str().as_bytes();
        message_type[..name.len()].copy_from_slice(name);
        out.extend_from_slice(&message_type);
        out.extend_from_slice(&self.schema_version.to_be_bytes());
        out.extend_from_slice(&self.created_date.to_be_bytes());
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&message_id_to_wire(self.message_id));
        out.extend_from_slice(&Sha256::digest(&self.payload));
        out.extend_from_slice(
            &self
                .payload_type
                .map_or(0, PayloadType::number)
                .to_be_bytes(),
        );
        out.extend_from_slice(&payload_length.to_be_bytes());
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// The message in one binary websocket message's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let Some((header, payload)) = bytes.split_at_checked(PAYLOAD_OFFSET) else {
            return Err(MessageError::TooShort(bytes.len()));
        };
        let header_length = be_u32(header, 0);
        if header_length != HEADER_LENGTH {
            return Err(MessageError::HeaderLength(header_length));
        }
        let declared = be_u32(header, PAYLOAD_LENGTH_OFFSET);
        // A u32 always fits in usize on the platforms berth builds for;
        // saturating keeps the comparison right on any other.
        let declared_len = usize::try_from(declared).unwrap_or(usize::MAX);
        if declared_len > payload.len() {
            return Err(MessageError::PayloadBeyondFrame {
                declared,
                available: payload.len(),
            });
        }
        if declared_len < payload.len() {
            return Err(MessageError::TrailingBytes {
                declared,
                available: payload.len(),
            });
        }
        let message_type = message_type_from_field(
            &header[MESSAGE_TYPE_OFFSET..MESSAGE_TYPE_OFFSET + MESSAGE_TYPE_LENGTH],
        )?;
        let payload_type = PayloadType::from_number(be_u32(header, PAYLOAD_TYPE_OFFSET))?;
        if !payload.is_empty()
            && Sha256::digest(payload).as_slice()
                != &header[DIGEST_OFFSET..DIGEST_OFFSET + DIGEST_LENGTH]
        {
            return Err(MessageError::DigestMismatch);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&header[MESSAGE_ID_OFFSET..MESSAGE_ID_OFFSET + 16]);
        Ok(Message {
            message_type,
            schema_version: be_u32(header, SCHEMA_VERSION_OFFSET),
            created_date: be_u64(header, CREATED_DATE_OFFSET),
            sequence_number: i64::from_be_bytes(be_array(header, SEQUENCE_NUMBER_OFFSET)),
            flags: be_u64(header, FLAGS_OFFSET),
            message_id: message_id_from_wire(id),
            payload_type,
            payload: payload.to_vec(),
        })
    }

    /// The acknowledgement of `received`: sequence number 0, flags 3, no
    /// payload type, an [`Acknowledgement`] as payload. Its own id and
    /// time are given.
    pub fn acknowledgement(received: &Message, message_id: Uuid, created_date: u64) -> Message {
        let content = Acknowledgement::of(received);
        Message {
            message_type: MessageType::Acknowledge,
            schema_version: SCHEMA_VERSION,
            created_date,
            sequence_number: 0,
            flags: FLAGS_ACKNOWLEDGE,
            message_id,
            payload_type: None,
            payload: content.to_json(),
        }
    }
}

/// The message type in its 32-byte field: senders pad with spaces, some
/// with NULs; both are stripped.
fn message_type_from_field(field: &[u8]) -> Result<MessageType, MessageError> {
    let name = String::from_utf8_lossy(field);
    let name = name.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    MessageType::from_name(name).ok_or_else(|| MessageError::UnknownMessageType(name.to_owned()))
}

/// A message id as the wire carries it: the UUID's second half first.
pub fn message_id_to_wire(id: Uuid) -> [u8; 16] {
    let bytes = id.as_bytes();
    let mut wire = [0u8; 16];
    wire[..8].copy_from_slice(&bytes[8..]);
    wire[8..].copy_from_slice(&bytes[..8]);
    wire
}

/// The UUID in a message id field (the inverse of [`message_id_to_wire`]).
pub fn message_id_from_wire(wire: [u8; 16]) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&wire[8..]);
    bytes[8..].copy_from_slice(&wire[..8]);
    Uuid::from_bytes(bytes)
}

// The readers below are called only on the 120-byte header, at offsets
// that fit in it.
fn be_array<const N: usize>(header: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&header[offset..offset + N]);
    out
}

fn be_u32(header: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(be_array(header, offset))
}

fn be_u64(header: &[u8], offset: usize) -> u64 {
    u64::from_be_bytes(be_array(header, offset))
}

// ---- JSON payloads -------------------------------------------------------

/// The payload of an `acknowledge` message. Both ends match an
/// acknowledgement to what they sent by sequence number only; the type is
/// kept as text so that an acknowledgement of any type can be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Acknowledgement {
    pub acknowledged_message_type: String,
    /// The acknowledged message's id, canonical lowercase.
    pub acknowledged_message_id: String,
    pub acknowledged_message_sequence_number: i64,
    pub is_sequential_message: bool,
}

impl Acknowledgement {
    /// What acknowledges `received`.
    pub fn of(received: &Message) -> Acknowledgement {
        Acknowledgement {
            acknowledged_message_type: received.message_type.as_str().to_owned(),
            acknowledged_message_id: received.message_id.to_string(),
            acknowledged_message_sequence_number: received.sequence_number,
            is_sequential_message: true,
        }
    }
}

/// The payload of `channel_closed`. Every field may be missing (the agent's
/// own copy of this type has no `Output`); `CreatedDate` is read as text
/// whether it comes as a string or a number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChannelClosed {
    pub message_id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub created_date: String,
    pub destination_id: String,
    pub session_id: String,
    pub message_type: String,
    pub schema_version: i64,
    /// Why, when the service says; empty on an ordinary end.
    pub output: String,
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Number(serde_json::Number),
        Null(()),
    }
    Ok(match Text::deserialize(deserializer)? {
        Text::String(s) => s,
        Text::Number(n) => n.to_string(),
        Text::Null(()) => String::new(),
    })
}

/// An action the agent asks of the client in its handshake request.
/// Unknown names are kept, since the client must answer each action (an
/// unknown one with [`ActionStatus::Unsupported`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ActionType {
    /// Parameters: [`SessionTypeParameters`].
    SessionType,
    /// Parameters: [`KmsEncryptionParameters`].
    KmsEncryption,
    Other(String),
}

impl From<String> for ActionType {
    fn from(name: String) -> ActionType {
        match name.as_str() {
            "SessionType" => ActionType::SessionType,
            "KMSEncryption" => ActionType::KmsEncryption,
            _ => ActionType::Other(name),
        }
    }
}

impl From<ActionType> for String {
    fn from(action: ActionType) -> String {
        match action {
            ActionType::SessionType => "SessionType".to_owned(),
            ActionType::KmsEncryption => "KMSEncryption".to_owned(),
            ActionType::Other(name) => name,
        }
    }
}

/// How the client did with a requested action: 1, 2 or 3 on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum ActionStatus {
    Success = 1,
    Failed = 2,
    Unsupported = 3,
}

impl TryFrom<u8> for ActionStatus {
    type Error = String;

    fn try_from(number: u8) -> Result<ActionStatus, String> {
        match number {
            1 => Ok(ActionStatus::Success),
            2 => Ok(ActionStatus::Failed),
            3 => Ok(ActionStatus::Unsupported),
            other => Err(format!("unknown action status {other}")),
        }
    }
}

impl From<ActionStatus> for u8 {
    fn from(status: ActionStatus) -> u8 {
        status as u8
    }
}

/// The agent's handshake request (payload type 5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandshakeRequest {
    /// The agent's version: it decides smux and keepalives for port
    /// sessions.
    pub agent_version: String,
    #[serde(default)]
    pub requested_client_actions: Vec<RequestedClientAction>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestedClientAction {
    pub action_type: ActionType,
    /// Read according to the type: [`SessionTypeParameters`] or
    /// [`KmsEncryptionParameters`].
    #[serde(default)]
    pub action_parameters: serde_json::Value,
}

/// The parameters of a `SessionType` action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionTypeParameters {
    /// `Standard_Stream`, `InteractiveCommands`, `NonInteractiveCommands`
    /// or `Port`.
    pub session_type: String,
    /// The document's properties for Port sessions (`portNumber`, `type`,
    /// …), null otherwise.
    #[serde(default)]
    pub properties: serde_json::Value,
}

/// The parameters of a `KMSEncryption` action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsEncryptionParameters {
    #[serde(rename = "KMSKeyId")]
    pub kms_key_id: String,
    /// Base64 of 16 random bytes, from newer agents.
    #[serde(rename = "Challenge", default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// The client's handshake response (payload type 6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandshakeResponse {
    pub client_version: String,
    pub processed_client_actions: Vec<ProcessedClientAction>,
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessedClientAction {
    pub action_type: ActionType,
    pub action_status: ActionStatus,
    /// `{"KMSCipherTextKey": …}` for KMS encryption, else null.
    pub action_result: serde_json::Value,
    pub error: String,
}

/// The agent's handshake complete (payload type 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HandshakeComplete {
    /// Nanoseconds (a Go `time.Duration`).
    pub handshake_time_to_complete: i64,
    /// Shown to the user when not empty (e.g. "This session is encrypted
    /// using AWS KMS.").
    pub customer_message: String,
}

/// The terminal size (payload type 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    pub cols: u32,
    pub rows: u32,
}

/// The first websocket message, a text frame: the session's token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OpenDataChannel {
    /// "1.0".
    pub message_schema_version: String,
    /// A fresh UUID.
    pub request_id: String,
    /// StartSession's (or ResumeSession's) TokenValue.
    pub token_value: String,
    /// A UUID naming this client, the same across resumes.
    pub client_id: String,
    /// The agent compares it with the versions that introduced smux and
    /// dropped keepalives.
    pub client_version: String,
}

/// The JSON of a payload type (none of them can fail to serialize: their
/// maps have string keys).
pub trait JsonPayload: Serialize {
    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl JsonPayload for Acknowledgement {}
impl JsonPayload for ChannelClosed {}
impl JsonPayload for HandshakeRequest {}
impl JsonPayload for HandshakeResponse {}
impl JsonPayload for HandshakeComplete {}
impl JsonPayload for TerminalSize {}
impl JsonPayload for OpenDataChannel {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from hex, spaces ignored.
    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|pair| {
                u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex")
            })
            .collect()
    }

    fn id() -> Uuid {
        Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").expect("uuid")
    }

    fn hello() -> Message {
        Message {
            message_type: MessageType::OutputStreamData,
            schema_version: 1,
            created_date: 1_700_000_000_000,
            sequence_number: 5,
            flags: 0,
            message_id: id(),
            payload_type: Some(PayloadType::Output),
            payload: b"hello".to_vec(),
        }
    }

    /// `hello()` as the wire carries it, field by field.
    fn hello_bytes() -> Vec<u8> {
        let mut bytes = hex("00000074"); // header length 116
        bytes.extend_from_slice(b"output_stream_data              "); // 18 + 14 spaces
        bytes.extend(hex("00000001
             0000018bcfe56800
             0000000000000005
             0000000000000000
             8899aabbccddeeff 0011223344556677
             2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
             00000001
             00000005"));
        bytes.extend_from_slice(b"hello");
        bytes
    }

    #[test]
    fn encodes_every_field_where_the_protocol_puts_it() {
        let bytes = hello().encode().expect("encode");
        assert_eq!(bytes.len(), 125);
        assert_eq!(bytes, hello_bytes());
    }

    #[test]
    fn decodes_the_same_bytes() {
        assert_eq!(Message::decode(&hello_bytes()), Ok(hello()));
    }

    #[test]
    fn message_ids_travel_with_their_halves_swapped() {
        assert_eq!(
            message_id_to_wire(id()).to_vec(),
            hex("8899aabbccddeeff 0011223344556677")
        );
        let wire: [u8; 16] = hex("8899aabbccddeeff0011223344556677")
            .try_into()
            .expect("16 bytes");
        assert_eq!(message_id_from_wire(wire), id());
        assert_eq!(
            message_id_from_wire(wire).to_string(),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }

    #[test]
    fn type_padding_of_spaces_or_nuls_is_stripped() {
        let mut bytes = hello_bytes();
        bytes[4..36].copy_from_slice(b"output_stream_data\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(
            Message::decode(&bytes).map(|m| m.message_type),
            Ok(MessageType::OutputStreamData)
        );
        bytes[4..36].copy_from_slice(b"  acknowledge\0                  ");
        assert_eq!(
            Message::decode(&bytes).map(|m| m.message_type),
            Ok(MessageType::Acknowledge)
        );
    }

    #[test]
    fn every_message_and_payload_type_round_trips() {
        for message_type in MessageType::ALL {
            for payload_type in std::iter::once(None).chain(PayloadType::ALL.map(Some)) {
                let message = Message {
                    message_type,
                    payload_type,
                    sequence_number: -3,
                    flags: FLAGS_ACKNOWLEDGE,
                    created_date: u64::MAX,
                    ..hello()
                };
                let bytes = message.encode().expect("encode");
                assert_eq!(Message::decode(&bytes).as_ref(), Ok(&message));
            }
        }
        let numbers: Vec<u32> = PayloadType::ALL.map(PayloadType::number).to_vec();
        assert_eq!(numbers, (1..=12).collect::<Vec<u32>>());
        assert_eq!(PayloadType::from_number(0), Ok(None));
        assert_eq!(
            PayloadType::from_number(7),
            Ok(Some(PayloadType::HandshakeComplete))
        );
        assert_eq!(
            PayloadType::from_number(12),
            Ok(Some(PayloadType::ExitCode))
        );
    }

    #[test]
    fn an_empty_payload_is_sent_with_the_empty_digest_and_read_without_checking() {
        let message = Message {
            message_type: MessageType::StartPublication,
            payload_type: None,
            payload: Vec::new(),
            ..hello()
        };
        let mut bytes = message.encode().expect("encode");
        assert_eq!(bytes.len(), PAYLOAD_OFFSET);
        assert_eq!(
            bytes[80..112].to_vec(),
            hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        bytes[80..112].fill(0);
        assert_eq!(Message::decode(&bytes), Ok(message));
    }

    #[test]
    fn short_input_is_an_error() {
        for len in [0, 1, 4, 119] {
            assert_eq!(
                Message::decode(&hello_bytes()[..len]),
                Err(MessageError::TooShort(len))
            );
        }
    }

    #[test]
    fn a_header_length_other_than_116_is_an_error() {
        for (field, value) in [("00000000", 0), ("00000078", 120), ("ffffffff", u32::MAX)] {
            let mut bytes = hello_bytes();
            bytes[..4].copy_from_slice(&hex(field));
            assert_eq!(
                Message::decode(&bytes),
                Err(MessageError::HeaderLength(value))
            );
        }
    }

    #[test]
    fn a_payload_length_must_match_the_bytes_after_the_header() {
        let mut bytes = hello_bytes();
        bytes[116..120].copy_from_slice(&hex("00000006"));
        assert_eq!(
            Message::decode(&bytes),
            Err(MessageError::PayloadBeyondFrame {
                declared: 6,
                available: 5
            })
        );
        bytes[116..120].copy_from_slice(&hex("ffffffff"));
        assert_eq!(
            Message::decode(&bytes),
            Err(MessageError::PayloadBeyondFrame {
                declared: u32::MAX,
                available: 5
            })
        );
        bytes[116..120].copy_from_slice(&hex("00000004"));
        assert_eq!(
            Message::decode(&bytes),
            Err(MessageError::TrailingBytes {
                declared: 4,
                available: 5
            })
        );
    }

    #[test]
    fn a_payload_that_does_not_match_its_digest_is_an_error() {
        let mut bytes = hello_bytes();
        *bytes.last_mut().expect("payload") = b'O';
        assert_eq!(Message::decode(&bytes), Err(MessageError::DigestMismatch));
        let mut bytes = hello_bytes();
        bytes[80] ^= 1;
        assert_eq!(Message::decode(&bytes), Err(MessageError::DigestMismatch));
    }

    #[test]
    fn unknown_types_are_errors() {
        let mut bytes = hello_bytes();
        bytes[4..36].copy_from_slice(b"interactive_shell               ");
        assert_eq!(
            Message::decode(&bytes),
            Err(MessageError::UnknownMessageType(
                "interactive_shell".to_owned()
            ))
        );
        let mut bytes = hello_bytes();
        bytes[4..36].fill(0xff);
        assert!(matches!(
            Message::decode(&bytes),
            Err(MessageError::UnknownMessageType(_))
        ));
        let mut bytes = hello_bytes();
        bytes[112..116].copy_from_slice(&hex("0000000d"));
        assert_eq!(
            Message::decode(&bytes),
            Err(MessageError::UnknownPayloadType(13))
        );
    }

    #[test]
    fn an_acknowledgement_names_what_it_acknowledges() {
        let ack_id = Uuid::parse_str("ffeeddcc-bbaa-9988-7766-554433221100").expect("uuid");
        let ack = Message::acknowledgement(&hello(), ack_id, 1_700_000_000_123);
        assert_eq!(ack.message_type, MessageType::Acknowledge);
        assert_eq!(ack.sequence_number, 0);
        assert_eq!(ack.flags, 3);
        assert_eq!(ack.payload_type, None);
        assert_eq!(
            String::from_utf8(ack.payload.clone()).expect("utf-8"),
            r#"{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"00112233-4455-6677-8899-aabbccddeeff","AcknowledgedMessageSequenceNumber":5,"IsSequentialMessage":true}"#
        );
        let bytes = ack.encode().expect("encode");
        assert_eq!(&bytes[4..36], b"acknowledge                     ");
        assert_eq!(&bytes[56..64], &hex("0000000000000003")[..]);
        assert_eq!(&bytes[112..116], &[0, 0, 0, 0]);
        let back = Message::decode(&bytes).expect("decode");
        let content: Acknowledgement = serde_json::from_slice(&back.payload).expect("json");
        assert_eq!(content.acknowledged_message_sequence_number, 5);
    }

    #[test]
    fn flag_payloads_are_four_big_endian_bytes() {
        assert_eq!(FlagCommand::DisconnectToPort.encode(), [0, 0, 0, 1]);
        assert_eq!(FlagCommand::TerminateSession.encode(), [0, 0, 0, 2]);
        assert_eq!(
            FlagCommand::decode(&[0, 0, 0, 3]),
            Ok(FlagCommand::ConnectToPortError)
        );
        assert_eq!(
            FlagCommand::decode(&[0, 0, 1, 0]),
            Err(MessageError::UnknownFlag(256))
        );
        assert_eq!(
            FlagCommand::decode(&[0, 0, 2]),
            Err(MessageError::FlagLength(3))
        );
    }

    #[test]
    fn channel_closed_reads_the_service_fields() {
        let closed: ChannelClosed = serde_json::from_str(
            r#"{"MessageId":"m-1","CreatedDate":"2024-05-01T10:00:00.000Z","DestinationId":"i-0abc",
               "SessionId":"itsme-0625cb834d1273961","MessageType":"channel_closed","SchemaVersion":1,
               "Output":"Idle timeout"}"#,
        )
        .expect("json");
        assert_eq!(closed.session_id, "itsme-0625cb834d1273961");
        assert_eq!(closed.output, "Idle timeout");
        assert_eq!(closed.schema_version, 1);
        assert_eq!(closed.created_date, "2024-05-01T10:00:00.000Z");
        // The agent's own copy has no Output; a number date is kept as text.
        let closed: ChannelClosed =
            serde_json::from_str(r#"{"SessionId":"s","CreatedDate":1700000000000}"#).expect("json");
        assert_eq!(closed.output, "");
        assert_eq!(closed.created_date, "1700000000000");
    }

    #[test]
    fn handshake_request_reads_session_type_and_kms_actions() {
        let request: HandshakeRequest = serde_json::from_str(
            r#"{"AgentVersion":"3.3.987.0","RequestedClientActions":[
                 {"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}},
                 {"ActionType":"KMSEncryption","ActionParameters":{"KMSKeyId":"arn:aws:kms:eu-west-1:1:key/k","Challenge":"AAEC"}},
                 {"ActionType":"Teleport","ActionParameters":null}]}"#,
        )
        .expect("json");
        assert_eq!(request.agent_version, "3.3.987.0");
        let [session, kms, other] = &request.requested_client_actions[..] else {
            panic!("three actions: {request:?}");
        };
        assert_eq!(session.action_type, ActionType::SessionType);
        let parameters: SessionTypeParameters =
            serde_json::from_value(session.action_parameters.clone()).expect("parameters");
        assert_eq!(parameters.session_type, "Port");
        assert_eq!(parameters.properties["portNumber"], "22");
        assert_eq!(kms.action_type, ActionType::KmsEncryption);
        let parameters: KmsEncryptionParameters =
            serde_json::from_value(kms.action_parameters.clone()).expect("parameters");
        assert_eq!(parameters.kms_key_id, "arn:aws:kms:eu-west-1:1:key/k");
        assert_eq!(parameters.challenge.as_deref(), Some("AAEC"));
        assert_eq!(other.action_type, ActionType::Other("Teleport".to_owned()));
    }

    #[test]
    fn handshake_response_writes_the_agents_field_names() {
        let response = HandshakeResponse {
            client_version: "1.2.707.0".to_owned(),
            processed_client_actions: vec![
                ProcessedClientAction {
                    action_type: ActionType::SessionType,
                    action_status: ActionStatus::Success,
                    action_result: serde_json::Value::Null,
                    error: String::new(),
                },
                ProcessedClientAction {
                    action_type: ActionType::Other("Teleport".to_owned()),
                    action_status: ActionStatus::Unsupported,
                    action_result: serde_json::Value::Null,
                    error: "unsupported action Teleport".to_owned(),
                },
            ],
            errors: Vec::new(),
        };
        let json = String::from_utf8(response.to_json()).expect("utf-8");
        assert_eq!(
            json,
            r#"{"ClientVersion":"1.2.707.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""},{"ActionType":"Teleport","ActionStatus":3,"ActionResult":null,"Error":"unsupported action Teleport"}],"Errors":[]}"#
        );
        let back: HandshakeResponse = serde_json::from_str(&json).expect("json");
        assert_eq!(back, response);
        assert!(serde_json::from_str::<ActionStatus>("4").is_err());
    }

    #[test]
    fn handshake_complete_size_and_token_payloads() {
        let complete: HandshakeComplete = serde_json::from_str(
            r#"{"HandshakeTimeToComplete":1500000000,"CustomerMessage":"This session is encrypted using AWS KMS."}"#,
        )
        .expect("json");
        assert_eq!(complete.handshake_time_to_complete, 1_500_000_000);
        assert_eq!(
            complete.customer_message,
            "This session is encrypted using AWS KMS."
        );
        assert_eq!(
            TerminalSize {
                cols: 120,
                rows: 30
            }
            .to_json(),
            br#"{"cols":120,"rows":30}"#
        );
        let open = OpenDataChannel {
            message_schema_version: "1.0".to_owned(),
            request_id: "r".to_owned(),
            token_value: "t".to_owned(),
            client_id: "c".to_owned(),
            client_version: "1.2.707.0".to_owned(),
        };
        assert_eq!(
            String::from_utf8(open.to_json()).expect("utf-8"),
            r#"{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c","ClientVersion":"1.2.707.0"}"#
        );
    }
}
