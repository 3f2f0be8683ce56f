//! Port forwarding over one Session Manager port session
//! (AWS-StartPortForwardingSession, …ToRemoteHost;
//! `../shared/ssm-protocol.md` §8): a local TCP listener whose connections
//! reach one port on the instance (or a host behind it).
//!
//! **Modes.** berth announces [`super::channel::CLIENT_VERSION`] (≥ 1.1.70), so an agent
//! above 3.0.196.0 multiplexes with smux v1: each accepted connection is
//! one smux stream (client ids odd, from 3: SYN, PSH, FIN), and many
//! connections share the session at once. The smux byte stream arrives in
//! Output payloads cut at 1,024 bytes without regard to frames; a
//! [`FrameReader`] reassembles it. An older agent speaks "basic" mode: one
//! connection at a time, its bytes as they are, and Flag DisconnectToPort
//! when the local client goes (the agent dials again on the next data);
//! further connections wait in the listener's backlog meanwhile.
//!
//! **Throughput.** Each connection has a reader task that reads at most
//! 1,016 bytes and sends them as one PSH frame in one 1,024-byte Output
//! message (in basic mode 1,024 bytes as they are): every message holds
//! whole frames, so the tasks of several connections can share the
//! channel's writer without interleaving frames, and a message is handed
//! over without a further copy. There is no pacing: the channel's window
//! of unacknowledged messages is the only brake. Incoming frames go to
//! each connection's writer task through a small queue; a local client
//! that does not read stalls the session, which is what smux v1 (no flow
//! control) does on the agent's side too.
//!
//! **Half-close.** smux v1 has none: a FIN ends the whole stream, and the
//! agent then closes its connection to the port outright. The reference
//! plugin sends FIN as soon as the local application shuts its write half,
//! so a client that sends a request, half-closes and waits for the reply
//! gets EOF instead (§8). berth lingers instead: after the local side's
//! EOF the stream stays open while the far side keeps sending, and the FIN
//! goes once the far side has been quiet for [`LINGER`] (or has closed, or
//! the local client is gone). A far side that waits for EOF before it
//! answers still cannot be served over smux v1; it sees the close after
//! the linger. Basic mode does the same with DisconnectToPort.
//!
//! **Refusals.** When the agent cannot dial the port it sends Flag
//! ConnectToPortError (basic mode) or ends the stream with FIN at once
//! (smux, which cannot tell that apart from a destination that closes at
//! once): both are reported through [`Notice`], and the listener keeps
//! serving; a session that the agent then closes
//! ends with [`PortError::Refused`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::channel::{Channel, ChannelWriter, Incoming, MAX_PAYLOAD};
use super::message::FlagCommand;
use super::smux::{Frame, FrameReader, HEADER_SIZE, SmuxError};
use super::state::{SessionState, ShellError, Step, agent_multiplexes, closing};
use crate::transport::TransportError;

/// How long a stream stays open after the local side's EOF while the far
/// side says nothing more.
pub const LINGER: Duration = Duration::from_secs(2);

/// The first stream id a client uses (ids are odd; the agent opens none).
pub const FIRST_STREAM_ID: u32 = 3;

/// The most bytes of a connection one PSH frame carries: the frame and its
/// header fill one Output message.
pub const PUSH_SIZE: usize = MAX_PAYLOAD - HEADER_SIZE;

/// How much one read from a local connection takes at most (it is then
/// cut into messages).
const LOCAL_READ_BUFFER: usize = 64 * 1024;

/// Queued chunks for one local connection before the session waits.
const CONNECTION_QUEUE: usize = 64;

/// How the forwarder runs.
#[derive(Clone, Copy, Debug)]
pub struct PortOptions {
    /// How long the agent may take to complete the handshake.
    pub handshake_within: Duration,
    /// How long a stream lingers after the local side's EOF.
    pub linger: Duration,
}

impl Default for PortOptions {
    fn default() -> PortOptions {
        PortOptions {
            handshake_within: Duration::from_secs(20),
            linger: LINGER,
        }
    }
}

/// How the session carries connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// smux v1: many connections at once.
    Multiplexed,
    /// One connection at a time.
    Basic,
}

/// What the forwarder has to say while it runs (the caller reports it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The handshake completed; connections are carried this way. The
    /// agent's version, when it said it.
    Started {
        mode: Mode,
        agent_version: Option<String>,
    },
    /// A local connection from `peer` became connection `id` (the smux
    /// stream id; in basic mode a count).
    Accepted { id: u32, peer: SocketAddr },
    /// The agent said it could not connect to the destination (Flag
    /// ConnectToPortError) for connection `id` (0: before any).
    Refused { id: u32 },
    /// The agent ended stream `id` before anything came back: it could not
    /// connect to the destination (smux has no way to say so), or the
    /// destination closed at once.
    EndedEmpty { id: u32 },
    /// Connection `id` ended; the bytes it carried each way.
    Closed { id: u32, sent: u64, received: u64 },
    /// The websocket broke and was resumed.
    Resumed,
}

/// How a forwarder ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortOutcome {
    /// The service's closing message, if any.
    pub message: String,
    /// Connections carried.
    pub connections: u32,
    /// How often the websocket broke and was resumed.
    pub resumed: u32,
}

/// Why a forwarder failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The session failed as any session can.
    #[error(transparent)]
    Session(ShellError),
    /// The agent could not connect to the destination, and closed.
    #[error("the SSM agent could not connect to the destination{}", closing(.message))]
    Refused { message: String },
    /// The agent's smux stream could not be read.
    #[error("the port session's multiplexed stream broke: {0}")]
    Smux(SmuxError),
}

impl From<ShellError> for PortError {
    fn from(e: ShellError) -> PortError {
        PortError::Session(e)
    }
}

/// A local listener on `address`, `HOST:PORT` (port 0: any free one).
pub async fn listen(address: &str) -> Result<TcpListener, TransportError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| TransportError::Listen {
            address: address.to_string(),
            source,
        })
}

/// Carries the connections `listener` accepts over `channel`'s port
/// session until the channel closes (or the future is dropped: a Ctrl-C
/// in the caller); `notify` hears what happens meanwhile.
pub async fn run(
    channel: Channel,
    listener: TcpListener,
    options: PortOptions,
    notify: &(dyn Fn(Notice) + Sync),
) -> Result<PortOutcome, PortError> {
    let Channel {
        writer,
        mut incoming,
    } = channel;
    let deadline = tokio::time::sleep(options.handshake_within);
    tokio::pin!(deadline);
    let mut state = SessionState::new();
    let mut mode = None;
    let mut links = Links::new(writer.clone(), options.linger);
    let (ended_tx, mut ended) = mpsc::unbounded_channel::<Ended>();
    let mut reader = FrameReader::new();
    loop {
        // Basic mode carries one connection at a time.
        let may_accept = match mode {
            Some(Mode::Multiplexed) => true,
            Some(Mode::Basic) => links.open.is_empty(),
            None => false,
        };
        tokio::select! {
            event = incoming.recv() => {
                if matches!(event, Some(Incoming::Flag(FlagCommand::ConnectToPortError))) {
                    // Basic mode: the current connection's dial failed.
                    if let Some(id) = links.open.keys().next().copied() {
                        notify(Notice::Refused { id });
                        links.remove(id);
                    } else {
                        notify(Notice::Refused { id: 0 });
                    }
                }
                if matches!(event, Some(Incoming::Resumed)) {
                    notify(Notice::Resumed);
                }
                match state.on_event(event, &writer).await? {
                    Step::Started(_) => {
                        let version = state.agent_version().map(str::to_owned);
                        let chosen = if version.as_deref().is_none_or(agent_multiplexes) {
                            Mode::Multiplexed
                        } else {
                            Mode::Basic
                        };
                        mode = Some(chosen);
                        notify(Notice::Started { mode: chosen, agent_version: version });
                    }
                    Step::Output(bytes) => match mode {
                        Some(Mode::Multiplexed) => {
                            reader.extend(&bytes);
                            while let Some(frame) = reader.next_frame().map_err(PortError::Smux)? {
                                links.on_frame(frame, notify).await;
                            }
                        }
                        Some(Mode::Basic) => {
                            if let Some(id) = links.open.keys().next().copied() {
                                links.deliver(id, bytes).await;
                            }
                        }
                        None => {}
                    },
                    Step::PortRefused(message) => return Err(PortError::Refused { message }),
                    Step::Closed(message) => {
                        return Ok(PortOutcome {
                            message,
                            connections: links.accepted,
                            resumed: state.resumed(),
                        });
                    }
                    Step::Handled | Step::StdErr(_) | Step::ExitCode(_) => {}
                }
            }
            accepted = listener.accept(), if may_accept => {
                // A failed accept (out of descriptors, …) leaves the
                // listener as it was.
                if let (Ok((socket, peer)), Some(mode)) = (accepted, mode) {
                    let id = links.open(socket, mode, ended_tx.clone()).await;
                    notify(Notice::Accepted { id, peer });
                }
            }
            Some(end) = ended.recv() => {
                if let Some(link) = links.open.get(&end.id) {
                    // The reader is done; the writer goes too in basic
                    // mode (no FIN will come), or when the agent has
                    // already ended the stream.
                    if mode == Some(Mode::Basic) || link.fin_received {
                        let received = link.received;
                        links.remove(end.id);
                        notify(Notice::Closed { id: end.id, sent: end.sent, received });
                    } else if let Some(link) = links.open.get_mut(&end.id) {
                        link.sent = Some(end.sent);
                    }
                }
            }
            () = &mut deadline, if !state.started() => {
                return Err(ShellError::HandshakeTimedOut(options.handshake_within).into());
            }
        }
    }
}

/// A reader task's end: what it sent.
struct Ended {
    id: u32,
    sent: u64,
}

/// One local connection as the session loop sees it.
struct Link {
    /// Bytes for the local side; dropping it ends the writer task.
    to_local: mpsc::Sender<Vec<u8>>,
    received: u64,
    /// The agent ended the stream.
    fin_received: bool,
    /// The reader is done, having sent this much.
    sent: Option<u64>,
}

/// The local connections of a session.
struct Links {
    writer: ChannelWriter,
    linger: Duration,
    open: HashMap<u32, Link>,
    next_id: u32,
    accepted: u32,
}

impl Links {
    fn new(writer: ChannelWriter, linger: Duration) -> Links {
        Links {
            writer,
            linger,
            open: HashMap::new(),
            next_id: FIRST_STREAM_ID,
            accepted: 0,
        }
    }

    /// Takes a new local connection: its SYN (smux), its tasks; its id.
    async fn open(
        &mut self,
        socket: TcpStream,
        mode: Mode,
        ended: mpsc::UnboundedSender<Ended>,
    ) -> u32 {
        let _ = socket.set_nodelay(true);
        self.accepted += 1;
        let framing = match mode {
            Mode::Multiplexed => {
                let id = self.next_id;
                self.next_id = self.next_id.wrapping_add(2);
                // The SYN goes before any of the reader's frames.
                let _ = self
                    .writer
                    .send_output_message(encode(&Frame::Syn { stream_id: id }))
                    .await;
                Framing::Smux(id)
            }
            Mode::Basic => Framing::Basic(self.accepted),
        };
        let id = framing.id();
        let (read, write) = socket.into_split();
        let (to_local, from_session) = mpsc::channel(CONNECTION_QUEUE);
        let (delivered, quiet) = watch::channel(0_u64);
        tokio::spawn(write_local(write, from_session, delivered));
        tokio::spawn(read_local(
            read,
            self.writer.clone(),
            framing,
            quiet,
            self.linger,
            ended,
        ));
        self.open.insert(
            id,
            Link {
                to_local,
                received: 0,
                fin_received: false,
                sent: None,
            },
        );
        id
    }

    /// Bytes from the far side for connection `id`.
    async fn deliver(&mut self, id: u32, data: Vec<u8>) {
        let Some(link) = self.open.get_mut(&id) else {
            return;
        };
        link.received += data.len() as u64;
        if link.to_local.send(data).await.is_err() {
            // The local side is gone; its reader ends the stream.
        }
    }

    fn remove(&mut self, id: u32) {
        self.open.remove(&id);
    }

    /// One frame from the agent.
    async fn on_frame(&mut self, frame: Frame, notify: &(dyn Fn(Notice) + Sync)) {
        match frame {
            Frame::Push { stream_id, data } => self.deliver(stream_id, data).await,
            Frame::Fin { stream_id } => {
                let Some(link) = self.open.get_mut(&stream_id) else {
                    return;
                };
                link.fin_received = true;
                let (received, sent) = (link.received, link.sent);
                if received == 0 && sent.is_none_or(|s| s > 0) {
                    notify(Notice::EndedEmpty { id: stream_id });
                }
                if let Some(sent) = sent {
                    self.remove(stream_id);
                    notify(Notice::Closed {
                        id: stream_id,
                        sent,
                        received,
                    });
                } else if let Some(link) = self.open.get_mut(&stream_id) {
                    // The writer finishes what it has and shuts the local
                    // side's write half; the reader then sends our FIN.
                    let (closed, _) = mpsc::channel(1);
                    drop(std::mem::replace(&mut link.to_local, closed));
                }
            }
            // The agent opens no streams; keepalives need nothing.
            Frame::Syn { .. } | Frame::Nop { .. } => {}
        }
    }
}

/// How one connection's bytes go to the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// As PSH frames of this stream, ended by FIN.
    Smux(u32),
    /// As they are, ended by DisconnectToPort; the connection's number.
    Basic(u32),
}

impl Framing {
    fn id(self) -> u32 {
        match self {
            Framing::Smux(id) | Framing::Basic(id) => id,
        }
    }

    /// How much one read takes so that its message is at most
    /// [`MAX_PAYLOAD`].
    fn read_size(self) -> usize {
        match self {
            Framing::Smux(_) => PUSH_SIZE,
            Framing::Basic(_) => MAX_PAYLOAD,
        }
    }
}

/// One frame's bytes.
fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE);
    // Only an overlong body fails; berth's frames are at most PUSH_SIZE.
    let _ = frame.encode(&mut out);
    out
}

/// A PSH frame of `stream_id` around the `n` bytes read into
/// `buffer[HEADER_SIZE..]`, in place: the header goes into the first
/// [`HEADER_SIZE`] bytes.
fn push_in_place(buffer: &mut Vec<u8>, stream_id: u32, n: usize) {
    let length = u16::try_from(n).unwrap_or(u16::MAX);
    buffer.truncate(HEADER_SIZE + n);
    buffer[0] = super::smux::VERSION;
    buffer[1] = 2; // PSH
    buffer[2..4].copy_from_slice(&length.to_le_bytes());
    buffer[4..8].copy_from_slice(&stream_id.to_le_bytes());
}

/// The local side's bytes to the agent until EOF (then the linger), a
/// read error, or the writer's end; then FIN (or DisconnectToPort).
async fn read_local(
    read: OwnedReadHalf,
    writer: ChannelWriter,
    framing: Framing,
    mut delivered: watch::Receiver<u64>,
    linger: Duration,
    ended: mpsc::UnboundedSender<Ended>,
) {
    // One read from the socket serves many messages.
    let mut read = tokio::io::BufReader::with_capacity(LOCAL_READ_BUFFER, read);
    let size = framing.read_size();
    let offset = match framing {
        Framing::Smux(_) => HEADER_SIZE,
        Framing::Basic(_) => 0,
    };
    let mut sent = 0_u64;
    let mut eof = false;
    let quiet = tokio::time::sleep(linger);
    tokio::pin!(quiet);
    loop {
        let mut buffer = vec![0_u8; offset + size];
        tokio::select! {
            read = read.read(&mut buffer[offset..]), if !eof => match read {
                Ok(n) if n > 0 => {
                    sent += n as u64;
                    if let Framing::Smux(id) = framing {
                        push_in_place(&mut buffer, id, n);
                    } else {
                        buffer.truncate(n);
                    }
                    if writer.send_output_message(buffer).await.is_err() {
                        break;
                    }
                }
                _ => {
                    eof = true;
                    quiet.as_mut().reset(tokio::time::Instant::now() + linger);
                }
            },
            changed = delivered.changed() => {
                if changed.is_err() {
                    // The writer is done: the agent ended the stream, or
                    // the local side is gone.
                    break;
                }
                if eof {
                    quiet.as_mut().reset(tokio::time::Instant::now() + linger);
                }
            }
            () = &mut quiet, if eof => break,
        }
    }
    // A send fails only once the channel has ended.
    let _ = match framing {
        Framing::Smux(stream_id) => {
            writer
                .send_output_message(encode(&Frame::Fin { stream_id }))
                .await
        }
        Framing::Basic(_) => writer.send_flag(FlagCommand::DisconnectToPort).await,
    };
    let _ = ended.send(Ended {
        id: framing.id(),
        sent,
    });
}

/// The far side's bytes to the local side, until the session drops the
/// queue (the stream ended) or a write fails; then the local write half
/// is shut.
async fn write_local(
    mut write: OwnedWriteHalf,
    mut from_session: mpsc::Receiver<Vec<u8>>,
    delivered: watch::Sender<u64>,
) {
    while let Some(data) = from_session.recv().await {
        if write.write_all(&data).await.is_err() {
            return;
        }
        delivered.send_modify(|n| *n += data.len() as u64);
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests;
