//! A port session as a plain byte stream (`../shared/ssm-protocol.md` §5,
//! §8): what `berth proxy --via ssm` carries for ssh over
//! AWS-StartSSHSession. The agent keeps one TCP connection to the port on
//! the instance ("basic" mode, no smux); the session ends when that port
//! closes the connection.
//!
//! Unlike the shell pump ([`super::shell`]) there is no terminal: no size,
//! no `~.`, no end-of-transmission at EOF. The agent always asks for a
//! handshake on a port session; it is answered as every session answers
//! it ([`super::state::SessionState`]), and no input goes before the
//! handshake completes (the agent ignores it). Then input goes as Output
//! payloads and the agent's Output comes back as it is, until the input
//! ends (ssh has closed its ProxyCommand), the channel closes (the port
//! closed the connection, or the session was ended), or a signal comes
//! (ssh ends its ProxyCommand with SIGHUP when it exits).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::channel::{Channel, ChannelEnded};
use super::state::{SessionState, ShellError, Step, closing};
use crate::transport::session::Interrupts;

/// How the pump runs.
#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    /// How long the agent may take to ask for and complete the handshake
    /// (the agent itself gives up on berth's answer after 15 s).
    pub handshake_within: Duration,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            handshake_within: Duration::from_secs(20),
        }
    }
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The input ended (ssh closed its end).
    InputEnded,
    /// The agent (or the service) closed the channel; its message, if any.
    Closed(String),
    /// berth got this signal (ssh ends its ProxyCommand with SIGHUP).
    Signalled(i32),
}

impl StreamOutcome {
    /// berth's exit status: 128 + N after signal N, else 0.
    pub fn exit_code(&self) -> u8 {
        match self.end {
            StreamEnd::Signalled(n) => u8::try_from(128 + n).unwrap_or(255),
            StreamEnd::InputEnded | StreamEnd::Closed(_) => 0,
        }
    }
}

/// What a stream came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOutcome {
    pub end: StreamEnd,
    /// Bytes sent to the port and received from it.
    pub sent: u64,
    pub received: u64,
    /// How often the websocket broke and was resumed.
    pub resumed: u32,
}

/// Why a stream failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The session failed as any session can (channel, handshake, KMS,
    /// output).
    #[error(transparent)]
    Session(ShellError),
    /// The agent could not connect to the port on the instance.
    #[error("the SSM agent could not connect to port {port} on the instance{}", closing(.message))]
    PortRefused { port: u16, message: String },
}

impl From<ShellError> for StreamError {
    fn from(e: ShellError) -> StreamError {
        StreamError::Session(e)
    }
}

const READ_SIZE: usize = 16 * 1024;

/// Carries `input` to the port (`port`, for messages) and the port's bytes
/// to `out` until the input ends, the channel closes, or one of
/// `interrupts` arrives.
pub async fn run<I, O>(
    channel: Channel,
    mut input: I,
    mut out: O,
    port: u16,
    interrupts: &mut Interrupts,
    options: StreamOptions,
) -> Result<StreamOutcome, StreamError>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let Channel {
        writer,
        mut incoming,
    } = channel;
    let deadline = tokio::time::sleep(options.handshake_within);
    tokio::pin!(deadline);
    let mut state = SessionState::new();
    let mut outcome = StreamOutcome {
        end: StreamEnd::InputEnded,
        sent: 0,
        received: 0,
        resumed: 0,
    };
    let mut buffer = vec![0_u8; READ_SIZE];
    loop {
        tokio::select! {
            event = incoming.recv() => {
                match state.on_event(event, &writer).await? {
                    Step::Output(bytes) => {
                        outcome.received += bytes.len() as u64;
                        write(&mut out, &bytes).await?;
                    }
                    Step::PortRefused(message) => {
                        return Err(StreamError::PortRefused { port, message });
                    }
                    Step::Closed(message) => {
                        outcome.end = StreamEnd::Closed(message);
                        outcome.resumed = state.resumed();
                        return Ok(outcome);
                    }
                    Step::Handled | Step::StdErr(_) | Step::ExitCode(_) | Step::Started(_) => {}
                }
            }
            read = input.read(&mut buffer), if state.started() => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        outcome.end = StreamEnd::InputEnded;
                        outcome.resumed = state.resumed();
                        return Ok(outcome);
                    }
                    Ok(n) => n,
                };
                outcome.sent += n as u64;
                // A send fails only once the channel has ended: its last
                // event, still to come, says why.
                let _: Result<(), ChannelEnded> = writer.send_output(&buffer[..n]).await;
            }
            signal = interrupts.next() => {
                outcome.end = StreamEnd::Signalled(signal);
                outcome.resumed = state.resumed();
                return Ok(outcome);
            }
            () = &mut deadline, if !state.started() => {
                return Err(ShellError::HandshakeTimedOut(options.handshake_within).into());
            }
        }
    }
}

async fn write<W: AsyncWrite + Unpin>(to: &mut W, bytes: &[u8]) -> Result<(), ShellError> {
    to.write_all(bytes)
        .await
        .map_err(|e| ShellError::Io(e.to_string()))?;
    to.flush().await.map_err(|e| ShellError::Io(e.to_string()))
}
