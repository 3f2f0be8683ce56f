//! The data channel: one Session Manager session's websocket, with the
//! protocol's sequencing, acknowledgements, resends and resume
//! (`../shared/ssm-protocol.md` §2, §4, §9), under a small API for the
//! layers above (handshake, shell, port sessions).
//!
//! [`Channel::open`] connects and spawns one task, the driver, which owns
//! all state; the caller talks to it through a [`ChannelWriter`] (stream
//! messages to send) and a receiver of [`Incoming`] events. Invariants:
//!
//! - Outgoing `input_stream_data` messages are numbered from 0, and each
//!   stays in the outgoing buffer until an acknowledgement with its
//!   sequence number arrives. Every tick (100 ms) **every** overdue message
//!   is resent, not only the oldest as the reference client does, once it
//!   is known to be lost: a message sent after it was acknowledged, or
//!   nothing at all was for a retransmission timeout. A peer that is only
//!   slow (it acknowledges, in order, what queued up before) is not sent
//!   the queue again, which would only slow it more. Sending
//!   never fails because the socket is down: messages wait in the buffer
//!   (the reference loses its input side there), and the buffer is never
//!   trimmed; when it holds [`MAX_IN_FLIGHT`] messages the driver stops
//!   taking more from the writer, which then waits.
//! - Incoming `output_stream_data` is acknowledged, delivered in order,
//!   messages ahead of the expected number are kept (and acknowledged), and
//!   duplicates below it are acknowledged again (the reference client does
//!   not, so a message whose acknowledgement died with a socket is resent
//!   for ever). A frame the codec rejects is dropped unacknowledged, so the
//!   agent resends it. A caller that does not keep up holds back
//!   acknowledgements once 10,000 messages wait, rather than growing
//!   memory: the agent resends.
//! - `pause_publication` holds new and resent messages until
//!   `start_publication`.
//! - A socket that breaks without `channel_closed` is resumed through the
//!   [`Resume`] the caller gives (the layer above calls ResumeSession; this
//!   layer calls no AWS API): the new websocket carries on with the same
//!   sequence numbers and both buffers, and unacknowledged messages are
//!   resent. After `resume_for` without success, the channel ends.
//! - With the socket up and messages outstanding, nothing acknowledged for
//!   `peer_gone_after` (30 s) ends the channel.
//!
//! The last event is always [`Incoming::Closed`]; the driver then closes
//! the websocket. Dropping the receiver ends the channel too.

mod socket;
mod timing;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use uuid::Uuid;

use super::crypto::SessionCipher;
use super::message::{
    Acknowledgement, ChannelClosed, FlagCommand, HandshakeComplete, HandshakeRequest,
    JsonPayload as _, Message, MessageType, PayloadType, SCHEMA_VERSION, TerminalSize,
};
use socket::{Connection, Opener};

use crate::aws::ca_bundle::CaBundle;
use crate::settings::ProxyEnv;
pub use timing::{RtoEstimator, Timing};

/// The ClientVersion berth announces in the token message and the
/// handshake. The agent decides from it: at least 1.1.70 multiplexes port
/// sessions with smux, and above 1.2.331.0 it sends no smux keepalives
/// (which defeated the idle timeout). 1.2.707.0 is a released plugin
/// version past both.
pub const CLIENT_VERSION: &str = "1.2.707.0";

/// The most payload one stream message carries, as both reference ends
/// read: longer Output writes are split.
pub const MAX_PAYLOAD: usize = 1024;

/// Unacknowledged messages the driver holds before it stops taking input
/// (4 MiB of Output): back-pressure instead of the reference's silent
/// dropping of the oldest.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Incoming messages kept ahead of the expected sequence number (the
/// plugin keeps 10,000); beyond that they are dropped unacknowledged and
/// the agent resends them.
const MAX_AHEAD: usize = 10_000;

/// In-order events waiting for the caller before the driver stops
/// accepting (and acknowledging) more.
const MAX_READY: usize = 256;

/// Frames queued on the socket beyond which a tick resends nothing: they
/// are overdue because the socket is slow, not because they were lost.
const MAX_RESEND_BACKLOG: usize = 64;

/// Queued input messages the driver takes at once.
const INPUT_BATCH: usize = 64;

/// Messages a [`ChannelWriter`] may queue before the driver takes them.
const WRITER_QUEUE: usize = 256;

/// Where the layer above gets a new stream URL and token after the socket
/// broke: it calls ResumeSession. Nothing else in this layer reaches AWS.
pub trait Resume: Send + Sync {
    fn resume(&self) -> Pin<Box<dyn Future<Output = Result<Resumed, ResumeError>> + Send + '_>>;
}

/// What ResumeSession returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumed {
    pub stream_url: String,
    pub token: String,
}

/// Why a resume did not give a stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// Worth trying again (a throttle, a network error): the channel retries
    /// until `resume_for` is up.
    #[error("{0}")]
    Retry(String),
    /// Final (the session is over, access was denied): the channel ends.
    #[error("{0}")]
    Fatal(String),
}

/// How a channel runs.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// Whether a `ws://` URL may be opened (a local stand-in); `wss://`
    /// always may.
    pub allow_plain: bool,
    /// The proxy variables: the websocket goes through the HTTP proxy
    /// they name (see [`crate::transport::proxy`]).
    pub proxy: ProxyEnv,
    /// CA certificates trusted besides the system's (`AWS_CA_BUNDLE`).
    pub ca_bundle: Option<Arc<CaBundle>>,
    /// How long a broken socket may take to come back before the channel
    /// ends: 10 min by default.
    pub resume_for: Duration,
    pub timing: Timing,
}

impl Default for ChannelOptions {
    fn default() -> ChannelOptions {
        ChannelOptions {
            allow_plain: false,
            proxy: ProxyEnv::default(),
            ca_bundle: None,
            resume_for: Duration::from_secs(10 * 60),
            timing: Timing::default(),
        }
    }
}

/// Why a channel could not open, or ended other than by `channel_closed`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("`{url}` is not a stream URL berth can open: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("refusing to open the Session Manager stream `{url}` without TLS (ws://)")]
    PlainRefused { url: String },
    #[error("cannot open the Session Manager stream {url}: {detail}")]
    Open { url: String, detail: String },
    #[error(
        "cannot open the Session Manager stream {url} through the proxy {proxy} (from {var}): {detail}"
    )]
    Proxy {
        url: String,
        /// `host:port`, never the credentials of the proxy URL.
        proxy: String,
        var: &'static str,
        detail: String,
    },
    #[error("cannot open the Session Manager stream {url}: {detail}")]
    Tls { url: String, detail: String },
    #[error("the Session Manager service refused the stream {url} (HTTP {status})")]
    Refused { url: String, status: u16 },
    #[error(
        "the session's agent stopped answering: nothing was acknowledged for {}",
        humantime::format_duration(*.after)
    )]
    PeerGone { after: Duration },
    #[error("the session's connection broke and cannot be resumed: {0}")]
    Resume(String),
    #[error(
        "the session's connection broke and was not resumed within {}: {last}",
        humantime::format_duration(*.tried_for)
    )]
    ResumeTimedOut { tried_for: Duration, last: String },
}

/// The channel has ended (its last event says why); nothing more is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the Session Manager channel has ended")]
pub struct ChannelEnded;

/// What the agent (or the service) sent, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Terminal or port bytes.
    Output(Vec<u8>),
    /// A command's standard error (documents that separate it).
    StdErr(Vec<u8>),
    /// `EXIT_CODE: <n>` text (documents that separate the streams).
    ExitCode(Vec<u8>),
    HandshakeRequest(HandshakeRequest),
    HandshakeComplete(HandshakeComplete),
    /// `{"Challenge": …}` JSON, for the KMS layer.
    EncChallengeRequest(Vec<u8>),
    Flag(FlagCommand),
    /// Any other payload type (Error, Parameter, …).
    Other {
        payload_type: Option<PayloadType>,
        payload: Vec<u8>,
    },
    /// A payload that its type says is JSON or a flag, and is not.
    Malformed {
        payload_type: Option<PayloadType>,
        payload: Vec<u8>,
        detail: String,
    },
    /// The socket broke and a resumed one carries on (nothing was lost).
    Resumed,
    /// The end: the service's `channel_closed` (its Output says why when
    /// not empty), or the error that ended the channel. Always the last.
    Closed(Result<ChannelClosed, ChannelError>),
}

impl Incoming {
    fn from_message(message: Message) -> Incoming {
        fn json<T: serde::de::DeserializeOwned>(
            payload: Vec<u8>,
            payload_type: PayloadType,
            wrap: fn(T) -> Incoming,
        ) -> Incoming {
            match serde_json::from_slice(&payload) {
                Ok(value) => wrap(value),
                Err(e) => Incoming::Malformed {
                    payload_type: Some(payload_type),
                    payload,
                    detail: e.to_string(),
                },
            }
        }
        let payload = message.payload;
        match message.payload_type {
            Some(PayloadType::Output) => Incoming::Output(payload),
            Some(PayloadType::StdErr) => Incoming::StdErr(payload),
            Some(PayloadType::ExitCode) => Incoming::ExitCode(payload),
            Some(PayloadType::EncChallengeRequest) => Incoming::EncChallengeRequest(payload),
            Some(t @ PayloadType::HandshakeRequest) => json(payload, t, Incoming::HandshakeRequest),
            Some(t @ PayloadType::HandshakeComplete) => {
                json(payload, t, Incoming::HandshakeComplete)
            }
            Some(PayloadType::Flag) => match FlagCommand::decode(&payload) {
                Ok(flag) => Incoming::Flag(flag),
                Err(e) => Incoming::Malformed {
                    payload_type: Some(PayloadType::Flag),
                    payload,
                    detail: e.to_string(),
                },
            },
            payload_type => Incoming::Other {
                payload_type,
                payload,
            },
        }
    }
}

/// An open channel: send with `writer`, receive from `incoming`.
#[derive(Debug)]
pub struct Channel {
    pub writer: ChannelWriter,
    pub incoming: mpsc::Receiver<Incoming>,
}

impl Channel {
    /// Opens the websocket at `stream_url` (as StartSession or
    /// ExecuteCommand gave it), sends the token message, and starts the
    /// driver task; `resume` is asked for a new URL and token whenever the
    /// socket breaks. Only the first connection's failure is an error
    /// here; later ones end the channel with [`Incoming::Closed`].
    pub async fn open(
        stream_url: &str,
        token: &str,
        options: ChannelOptions,
        resume: Arc<dyn Resume>,
    ) -> Result<Channel, ChannelError> {
        let opener = Opener {
            client_id: random_uuid(),
            allow_plain: options.allow_plain,
            proxy: options.proxy.clone(),
            ca_bundle: options.ca_bundle.clone(),
            open_within: options.timing.open_within,
        };
        let connection = opener.open(stream_url, token).await?;
        let (writer, input) = mpsc::channel(WRITER_QUEUE);
        let (deliver, incoming) = mpsc::channel(MAX_READY);
        let driver = Driver::new(options, opener, resume, connection, input, deliver);
        tokio::spawn(driver.run());
        Ok(Channel {
            writer: ChannelWriter {
                queue: writer,
                cipher: Arc::default(),
            },
            incoming,
        })
    }
}

/// Sends stream messages; cheap to clone. A send waits only while the
/// driver holds [`MAX_IN_FLIGHT`] unacknowledged messages, never on the
/// socket, and fails only once the channel has ended.
#[derive(Clone, Debug)]
pub struct ChannelWriter {
    queue: mpsc::Sender<(PayloadType, Vec<u8>)>,
    /// Once set (a KMS-encrypted session's handshake), every Output
    /// message is encrypted after it is cut, so each stays one sealed
    /// payload.
    cipher: Arc<OnceLock<SessionCipher>>,
}

impl ChannelWriter {
    /// Sends `payload` as `payload_type`. Output is split into messages
    /// of at most [`MAX_PAYLOAD`] bytes; other types are JSON or flags the
    /// agent reads whole from one message, so they go as they are.
    pub async fn send(
        &self,
        payload_type: PayloadType,
        payload: &[u8],
    ) -> Result<(), ChannelEnded> {
        if payload_type == PayloadType::Output {
            for chunk in payload.chunks(MAX_PAYLOAD) {
                let chunk = match self.cipher.get() {
                    // Encryption fails only when the system's random
                    // source does: nothing more can go safely.
                    Some(cipher) => cipher.encrypt(chunk).map_err(|_| ChannelEnded)?,
                    None => chunk.to_vec(),
                };
                self.queue
                    .send((payload_type, chunk))
                    .await
                    .map_err(|_| ChannelEnded)?;
            }
            Ok(())
        } else {
            self.queue
                .send((payload_type, payload.to_vec()))
                .await
                .map_err(|_| ChannelEnded)
        }
    }

    /// Encrypts every Output sent from now on with `cipher` (berth's half
    /// of a KMS data key); the first cipher set stays.
    pub fn encrypt_output(&self, cipher: SessionCipher) {
        let _ = self.cipher.set(cipher);
    }

    /// Sends terminal or port bytes.
    pub async fn send_output(&self, bytes: &[u8]) -> Result<(), ChannelEnded> {
        self.send(PayloadType::Output, bytes).await
    }

    /// Sends one Output message as it is, without a copy (longer than
    /// [`MAX_PAYLOAD`]: split as [`Self::send_output`] does).
    pub async fn send_output_message(&self, bytes: Vec<u8>) -> Result<(), ChannelEnded> {
        if bytes.len() > MAX_PAYLOAD {
            return self.send_output(&bytes).await;
        }
        self.queue
            .send((PayloadType::Output, bytes))
            .await
            .map_err(|_| ChannelEnded)
    }

    /// Sends a terminal size.
    pub async fn send_size(&self, size: TerminalSize) -> Result<(), ChannelEnded> {
        self.send(PayloadType::Size, &size.to_json()).await
    }

    /// Sends a Flag command.
    pub async fn send_flag(&self, flag: FlagCommand) -> Result<(), ChannelEnded> {
        self.send(PayloadType::Flag, &flag.encode()).await
    }

    /// Whether the channel has ended.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// A writer without a socket, for the tests of the layers above:
    /// what it sends comes out of the receiver.
    #[cfg(test)]
    pub(crate) fn detached() -> (ChannelWriter, mpsc::Receiver<(PayloadType, Vec<u8>)>) {
        let (queue, sent) = mpsc::channel(WRITER_QUEUE);
        let writer = ChannelWriter {
            queue,
            cipher: Arc::default(),
        };
        (writer, sent)
    }
}

/// A fresh random (version 4) UUID, from the operating system's random
/// source (`getrandom`, through the `rand_core` ssh-key brings; the uuid
/// crate is built without one). Not the TLS provider's: aws-lc seeds its
/// generator on first use from CPU jitter, tens of milliseconds of work
/// that stood between StartSession's answer and the websocket (the time
/// to a shell prompt) for ids that need to be unique, not secret.
fn random_uuid() -> Uuid {
    use ssh_key::rand_core::{OsRng, RngCore as _};
    let mut bytes = [0_u8; 16];
    if OsRng.try_fill_bytes(&mut bytes).is_err() {
        // Not expected; ids need to be unique, not secret.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_be_bytes();
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A sent (or held) stream message waiting for its acknowledgement.
struct Pending {
    /// The encoded frame: a resend repeats it byte for byte (same id).
    frame: Vec<u8>,
    /// `None` while held (socket down, publication paused).
    last_sent: Option<Instant>,
}

type Reconnecting = Pin<Box<dyn Future<Output = Result<Connection, ChannelError>> + Send>>;

/// The websocket, or the attempt to get one back.
enum Link {
    Up(Connection),
    Down(Reconnecting),
}

enum LinkEvent {
    Frame(Option<Result<WsMessage, WsError>>),
    Reconnected(Result<Connection, ChannelError>),
}

impl Link {
    async fn next(&mut self) -> LinkEvent {
        match self {
            Link::Up(connection) => LinkEvent::Frame(connection.next_frame().await),
            Link::Down(reconnecting) => LinkEvent::Reconnected(reconnecting.as_mut().await),
        }
    }

    /// Queues a frame when the socket is up; `false` when it is down or
    /// turned out to be broken.
    fn send(&self, frame: Vec<u8>) -> bool {
        match self {
            Link::Up(connection) => connection.send(WsMessage::Binary(frame)),
            Link::Down(_) => false,
        }
    }
}

enum Event {
    Link(LinkEvent),
    Input(Option<(PayloadType, Vec<u8>)>),
    Deliver(Result<mpsc::OwnedPermit<Incoming>, mpsc::error::SendError<()>>),
    CallerGone,
    Tick,
}

/// How the driver stops: with a last event, or quietly (nobody listens).
enum Stop {
    Closed(Result<ChannelClosed, ChannelError>),
    Quietly,
}

/// The one task that owns a channel's state.
struct Driver {
    options: ChannelOptions,
    opener: Opener,
    resume: Arc<dyn Resume>,
    link: Link,
    input: mpsc::Receiver<(PayloadType, Vec<u8>)>,
    input_open: bool,
    deliver: mpsc::Sender<Incoming>,
    /// The next outgoing sequence number.
    next_out: i64,
    outgoing: BTreeMap<i64, Pending>,
    estimator: RtoEstimator,
    /// Since when nothing was acknowledged while messages were
    /// outstanding (reset by an acknowledgement, a new connection, and
    /// the buffer filling from empty).
    waiting_since: Instant,
    /// The highest sequence number acknowledged: an overdue message below
    /// it was lost on the way.
    highest_acked: Option<i64>,
    paused: bool,
    /// The next incoming sequence number to deliver.
    expected: i64,
    /// Accepted (acknowledged) messages not yet delivered in order.
    ahead: BTreeMap<i64, Message>,
    /// In-order events the caller has not taken yet.
    ready: VecDeque<Incoming>,
    last_ping: Instant,
}

impl Driver {
    fn new(
        options: ChannelOptions,
        opener: Opener,
        resume: Arc<dyn Resume>,
        connection: Connection,
        input: mpsc::Receiver<(PayloadType, Vec<u8>)>,
        deliver: mpsc::Sender<Incoming>,
    ) -> Driver {
        let now = Instant::now();
        // The plugin pings at once, then every few minutes.
        let _ = connection.send(WsMessage::Ping(Vec::new()));
        let link = Link::Up(connection);
        Driver {
            estimator: RtoEstimator::new(&options.timing),
            options,
            opener,
            resume,
            link,
            input,
            input_open: true,
            deliver,
            next_out: 0,
            outgoing: BTreeMap::new(),
            waiting_since: now,
            highest_acked: None,
            paused: false,
            expected: 0,
            ahead: BTreeMap::new(),
            ready: VecDeque::new(),
            last_ping: now,
        }
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(self.options.timing.resend_tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = loop {
            let takes_input = self.input_open && self.outgoing.len() < MAX_IN_FLIGHT;
            let has_ready = !self.ready.is_empty();
            let event = tokio::select! {
                event = self.link.next() => Event::Link(event),
                permit = self.deliver.clone().reserve_owned(), if has_ready => Event::Deliver(permit),
                input = self.input.recv(), if takes_input => Event::Input(input),
                () = self.deliver.closed() => Event::CallerGone,
                _ = tick.tick() => Event::Tick,
            };
            if let Some(stop) = self.handle(event) {
                break stop;
            }
        };
        self.finish(stop).await;
    }

    fn handle(&mut self, event: Event) -> Option<Stop> {
        match event {
            Event::Link(LinkEvent::Frame(Some(Ok(WsMessage::Binary(bytes))))) => {
                self.on_frame(&bytes)
            }
            // Text after the token message, pings and pongs (tungstenite
            // answers pings itself) carry nothing for the channel.
            Event::Link(LinkEvent::Frame(Some(Ok(
                WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_),
            )))) => None,
            // A Close, an error or the end without channel_closed: the
            // session lives on; get a new socket.
            Event::Link(LinkEvent::Frame(Some(Ok(WsMessage::Close(_)) | Err(_)) | None)) => {
                self.broken();
                None
            }
            Event::Link(LinkEvent::Reconnected(Ok(connection))) => {
                self.reconnected(connection);
                None
            }
            Event::Link(LinkEvent::Reconnected(Err(e))) => Some(Stop::Closed(Err(e))),
            Event::Deliver(Ok(permit)) => {
                if let Some(event) = self.ready.pop_front() {
                    permit.send(event);
                }
                self.advance();
                None
            }
            Event::Deliver(Err(_)) | Event::CallerGone => Some(Stop::Quietly),
            Event::Input(Some((payload_type, payload))) => {
                self.enqueue(payload_type, payload);
                self.take_queued_input();
                None
            }
            Event::Input(None) => {
                self.input_open = false;
                None
            }
            Event::Tick => self.on_tick(),
        }
    }

    /// The socket broke: start getting a new one (the session and both
    /// buffers carry on).
    fn broken(&mut self) {
        if let Link::Down(_) = self.link {
            return;
        }
        let resume = Arc::clone(&self.resume);
        let opener = self.opener.clone();
        let resume_for = self.options.resume_for;
        let timing = self.options.timing;
        // Dropping the old connection stops its writer.
        self.link = Link::Down(Box::pin(reconnect(resume, opener, resume_for, timing)));
    }

    fn reconnected(&mut self, connection: Connection) {
        let now = Instant::now();
        self.link = Link::Up(connection);
        self.waiting_since = now;
        self.last_ping = now;
        // A new connection starts unpaused: the service says again if the
        // agent is away.
        self.paused = false;
        self.ready.push_back(Incoming::Resumed);
        self.resend(true);
    }

    /// Takes what else the writers have queued (up to [`INPUT_BATCH`]
    /// messages, within the in-flight window) without a trip through the
    /// select loop for each.
    fn take_queued_input(&mut self) {
        for _ in 0..INPUT_BATCH {
            if self.outgoing.len() >= MAX_IN_FLIGHT {
                return;
            }
            match self.input.try_recv() {
                Ok((payload_type, payload)) => self.enqueue(payload_type, payload),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.input_open = false;
                    return;
                }
            }
        }
    }

    fn enqueue(&mut self, payload_type: PayloadType, payload: Vec<u8>) {
        let message = Message {
            message_type: MessageType::InputStreamData,
            schema_version: SCHEMA_VERSION,
            created_date: now_millis(),
            sequence_number: self.next_out,
            flags: 0,
            message_id: random_uuid(),
            payload_type: Some(payload_type),
            payload,
        };
        // At most MAX_PAYLOAD bytes (or a small JSON): always encodable.
        let Ok(frame) = message.encode() else {
            return;
        };
        if self.outgoing.is_empty() {
            self.waiting_since = Instant::now();
        }
        let mut pending = Pending {
            frame,
            last_sent: None,
        };
        if !self.paused && self.link.send(pending.frame.clone()) {
            pending.last_sent = Some(Instant::now());
        }
        self.outgoing.insert(self.next_out, pending);
        self.next_out += 1;
    }

    /// Sends what is held, and (with `all`, after a reconnect) everything
    /// unacknowledged, or else what is overdue.
    fn resend(&mut self, all: bool) {
        if self.paused {
            return;
        }
        let now = Instant::now();
        let rto = self.estimator.rto();
        let stalled = now.duration_since(self.waiting_since) >= rto;
        let highest_acked = self.highest_acked;
        for (&sequence, pending) in &mut self.outgoing {
            let lost = stalled || highest_acked.is_some_and(|acked| sequence < acked);
            let due = all
                || pending
                    .last_sent
                    .is_none_or(|sent| lost && now.duration_since(sent) >= rto);
            if due {
                if !self.link.send(pending.frame.clone()) {
                    break;
                }
                pending.last_sent = Some(now);
            }
        }
    }

    fn on_tick(&mut self) -> Option<Stop> {
        let Link::Up(connection) = &self.link else {
            return None;
        };
        let now = Instant::now();
        let backlog = connection.backlog();
        if now.duration_since(self.last_ping) >= self.options.timing.ping_every {
            self.last_ping = now;
            let _ = connection.send(WsMessage::Ping(Vec::new()));
        }
        if self.paused {
            return None;
        }
        let after = self.options.timing.peer_gone_after;
        if !self.outgoing.is_empty() && now.duration_since(self.waiting_since) >= after {
            return Some(Stop::Closed(Err(ChannelError::PeerGone { after })));
        }
        if backlog <= MAX_RESEND_BACKLOG {
            self.resend(false);
        }
        None
    }

    fn on_frame(&mut self, bytes: &[u8]) -> Option<Stop> {
        // A frame that does not decode (a bad digest, say) is dropped
        // unacknowledged: the agent resends it.
        let message = Message::decode(bytes).ok()?;
        match message.message_type {
            MessageType::OutputStreamData => self.on_stream_message(message),
            MessageType::Acknowledge => self.on_acknowledgement(&message),
            MessageType::ChannelClosed => {
                let closed = serde_json::from_slice(&message.payload).unwrap_or_default();
                return Some(Stop::Closed(Ok(closed)));
            }
            MessageType::PausePublication => self.paused = true,
            MessageType::StartPublication => {
                self.paused = false;
                self.waiting_since = Instant::now();
                self.resend(false);
            }
            // Client-to-agent traffic is not for us.
            MessageType::InputStreamData => {}
        }
        None
    }

    fn on_stream_message(&mut self, message: Message) {
        let sequence = message.sequence_number;
        let accepted = sequence < self.expected
            || self.ahead.contains_key(&sequence)
            || self.ahead.len() < MAX_AHEAD;
        if !accepted {
            return;
        }
        let ack = Message::acknowledgement(&message, random_uuid(), now_millis());
        if let Ok(frame) = ack.encode()
            && !self.link.send(frame)
        {
            // Unacknowledged: the agent resends it on the next socket.
            return;
        }
        if sequence >= self.expected {
            self.ahead.entry(sequence).or_insert(message);
            self.advance();
        }
    }

    /// Moves messages that are next in order to the caller's queue.
    fn advance(&mut self) {
        while self.ready.len() < MAX_READY {
            let Some(message) = self.ahead.remove(&self.expected) else {
                break;
            };
            self.expected += 1;
            self.ready.push_back(Incoming::from_message(message));
        }
    }

    fn on_acknowledgement(&mut self, message: &Message) {
        let Ok(ack) = serde_json::from_slice::<Acknowledgement>(&message.payload) else {
            return;
        };
        let sequence = ack.acknowledged_message_sequence_number;
        if let Some(pending) = self.outgoing.remove(&sequence) {
            self.highest_acked = Some(self.highest_acked.map_or(sequence, |h| h.max(sequence)));
            let now = Instant::now();
            if let Some(sent) = pending.last_sent {
                self.estimator.sample(now.duration_since(sent));
            }
            self.waiting_since = now;
        }
    }

    async fn finish(mut self, stop: Stop) {
        // Writers fail from now on, rather than wait on a driver that no
        // longer reads.
        self.input.close();
        if let Stop::Closed(end) = stop {
            self.ready.push_back(Incoming::Closed(end));
            for event in self.ready.drain(..) {
                if self.deliver.send(event).await.is_err() {
                    break;
                }
            }
        }
        if let Link::Up(connection) = self.link {
            connection.close().await;
        }
    }
}

/// Gets a new socket: asks `resume` for a stream URL and token, opens it,
/// and tries again (waiting longer each time) until `resume_for` is up.
async fn reconnect(
    resume: Arc<dyn Resume>,
    opener: Opener,
    resume_for: Duration,
    timing: Timing,
) -> Result<Connection, ChannelError> {
    let mut last = String::from("no attempt finished");
    let attempts = async {
        let mut delay = timing.resume_first_delay;
        loop {
            match resume.resume().await {
                Ok(resumed) => match opener.open(&resumed.stream_url, &resumed.token).await {
                    Ok(connection) => return Ok(connection),
                    Err(e @ (ChannelError::BadUrl { .. } | ChannelError::PlainRefused { .. })) => {
                        return Err(e);
                    }
                    Err(e) => last = e.to_string(),
                },
                Err(ResumeError::Fatal(reason)) => return Err(ChannelError::Resume(reason)),
                Err(ResumeError::Retry(reason)) => last = reason,
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(timing.resume_max_delay);
        }
    };
    let outcome = tokio::time::timeout(resume_for, attempts).await;
    outcome.unwrap_or_else(|_| {
        Err(ChannelError::ResumeTimedOut {
            tried_for: resume_for,
            last,
        })
    })
}
