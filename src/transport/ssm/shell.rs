//! A shell (or command) session over an open [`Channel`]: the pump between
//! the operator's terminal and the agent (`../shared/ssm-protocol.md` §5,
//! §7, §11), doing better than the reference client where §11 says it
//! fails:
//!
//! - input goes as it comes (the channel cuts it at 1,024 bytes; no
//!   pacing); the terminal is in raw mode (the caller's guard), so Ctrl-C,
//!   Ctrl-Z and Ctrl-\ are bytes for the remote side like any other;
//! - `~.` at the start of a line ends the session, as ssh's escape does
//!   (`~~` sends one `~`);
//! - stdin's end sends one end-of-transmission (0x04, what Ctrl-D types) and
//!   the session carries on until the agent closes it, so `berth session
//!   … < script` runs the whole script (the reference ends at EOF);
//! - the terminal's size goes at the start and on every SIGWINCH (300x100
//!   when stdout is not a terminal, as the reference);
//! - the remote exit status comes from an ExitCode payload when the agent
//!   sends one (commands with separate output streams), else 0;
//! - the handshake is answered when the agent asks for one (SessionType,
//!   and KMS encryption with a data key from [`ShellOptions::data_keys`]:
//!   Output encrypted both ways, the challenge answered), and no input is
//!   sent before it completes; a shell without KMS gets no handshake and
//!   starts on the agent's first message.
//!
//! The pump owns no terminal: it reads input from a channel of chunks (an
//! empty channel end is EOF; [`stdin_chunks`] feeds one from standard
//! input) and writes to the writers it is given.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::channel::{Channel, ChannelEnded, ChannelWriter, Incoming};
use super::kms::DataKeys;
use super::message::TerminalSize;
pub use super::state::ShellError;
use super::state::{SessionState, Start, Step};
use crate::transport::session::Interrupts;

/// The size sent when stdout is not a terminal (as the reference client).
pub const DEFAULT_SIZE: TerminalSize = TerminalSize {
    cols: 300,
    rows: 100,
};

/// End of transmission: what Ctrl-D types, sent once at stdin's end.
const END_OF_TRANSMISSION: u8 = 0x04;

/// How the pump runs.
pub struct ShellOptions {
    /// The terminal's size now (`None`: not a terminal, [`DEFAULT_SIZE`]).
    pub size: Box<dyn Fn() -> Option<TerminalSize> + Send + Sync>,
    /// Whether `~.` ends the session (on a terminal, as ssh).
    pub escape: bool,
    /// Whether SIGWINCH resends the size.
    pub watch_resize: bool,
    /// How long the agent may take to complete a handshake it asked for
    /// once berth has answered (the agent itself gives up after 15 s).
    pub handshake_within: Duration,
    /// How long berth waits for the agent's first message before it
    /// sends input anyway (a shell that prints no prompt).
    pub start_within: Duration,
    /// Where a KMS-encrypted session's data key comes from (none: such a
    /// session is refused with [`ShellError::KmsRequired`]).
    pub data_keys: Option<Arc<dyn DataKeys>>,
}

impl Default for ShellOptions {
    fn default() -> ShellOptions {
        ShellOptions {
            size: Box::new(|| None),
            escape: false,
            watch_resize: false,
            handshake_within: Duration::from_secs(20),
            start_within: Duration::from_secs(3),
            data_keys: None,
        }
    }
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellEnd {
    /// The agent (or the service) closed the channel; its message, if any.
    Closed(String),
    /// The operator typed `~.`.
    Escaped,
    /// berth got this signal (SIGINT, SIGTERM, SIGHUP).
    Signalled(i32),
}

/// What a session came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellOutcome {
    pub end: ShellEnd,
    /// The remote exit status, when an ExitCode payload said it.
    pub exit_status: Option<i32>,
    /// How often the websocket broke and was resumed.
    pub resumed: u32,
}

impl ShellOutcome {
    /// berth's exit status: the remote one (else 0), 255 after `~.` (as
    /// ssh), 128 + N after signal N.
    pub fn exit_code(&self) -> u8 {
        match self.end {
            ShellEnd::Escaped => 255,
            ShellEnd::Signalled(n) => u8::try_from(128 + n).unwrap_or(255),
            ShellEnd::Closed(_) => self
                .exit_status
                .map_or(0, |s| u8::try_from(s.rem_euclid(256)).unwrap_or(255)),
        }
    }
}

/// ssh's escape: `~.` at the start of a line (or of the input) ends the
/// session, `~~` sends one `~`; a `~` followed by anything else goes as
/// it is. Lines start after `\r` or `\n`.
#[derive(Clone, Copy, Debug)]
pub struct Escape {
    at_line_start: bool,
    tilde: bool,
}

impl Default for Escape {
    fn default() -> Escape {
        Escape {
            at_line_start: true,
            tilde: false,
        }
    }
}

impl Escape {
    /// The bytes to send of `input`, and whether `~.` was typed (the bytes
    /// before it are still sent; nothing after it).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &byte in input {
            if self.tilde {
                self.tilde = false;
                match byte {
                    b'.' => return (out, true),
                    b'~' => {
                        out.push(b'~');
                        self.at_line_start = false;
                        continue;
                    }
                    _ => out.push(b'~'),
                }
            } else if self.at_line_start && byte == b'~' {
                self.tilde = true;
                continue;
            }
            out.push(byte);
            self.at_line_start = matches!(byte, b'\r' | b'\n');
        }
        (out, false)
    }
}

/// Standard input in chunks as they come, from a thread of its own (a
/// blocked read of a terminal cannot be cancelled, and must not hold up
/// the runtime's shutdown); the channel ends at EOF or a read error.
pub fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    use std::io::Read;
    let (send, receive) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = vec![0_u8; 16 * 1024];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    if send.blocking_send(buffer[..n].to_vec()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    receive
}

/// Runs the session until the channel closes, `~.`, or a signal: `input`
/// to the agent, Output to `out`, StdErr to `err`.
pub async fn run<O, E>(
    channel: Channel,
    mut input: mpsc::Receiver<Vec<u8>>,
    out: O,
    err: E,
    options: ShellOptions,
) -> Result<ShellOutcome, ShellError>
where
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let Channel {
        writer,
        mut incoming,
    } = channel;
    let mut resize = if options.watch_resize {
        signal(SignalKind::window_change()).ok()
    } else {
        None
    };
    // SIGINT, SIGTERM and SIGHUP end the session (128 + N); none when
    // they cannot be caught.
    let mut interrupts = Interrupts::install().ok();
    let start_deadline = tokio::time::sleep(options.start_within);
    tokio::pin!(start_deadline);
    // Armed (reset) when the agent asks for the handshake; its branch
    // waits for that.
    let handshake_deadline = tokio::time::sleep(options.handshake_within);
    tokio::pin!(handshake_deadline);
    let state = match options.data_keys.clone() {
        Some(data_keys) => SessionState::with_data_keys(data_keys),
        None => SessionState::new(),
    };
    let mut pump = Pump {
        writer,
        out,
        err,
        options,
        sent_size: None,
        state,
        escape: Escape::default(),
        input_open: true,
        exit_status: None,
    };
    loop {
        // Input only once the agent has started (or said nothing for a
        // while without asking for a handshake).
        let may_send = pump.state.start() == Start::Started && pump.input_open;
        tokio::select! {
            event = incoming.recv() => {
                let shaking = pump.state.start() == Start::Shaking;
                if let Some(end) = pump.on_event(event).await? {
                    return Ok(end);
                }
                if !shaking && pump.state.start() == Start::Shaking {
                    handshake_deadline
                        .as_mut()
                        .reset(tokio::time::Instant::now() + pump.options.handshake_within);
                }
            }
            chunk = input.recv(), if may_send => {
                if let Some(end) = pump.on_input(chunk).await {
                    return Ok(end);
                }
            }
            () = &mut start_deadline, if pump.state.start() == Start::Waiting => {
                pump.state.start_anyway();
                pump.send_size().await;
            }
            () = &mut handshake_deadline, if pump.state.start() == Start::Shaking => {
                return Err(ShellError::HandshakeTimedOut(pump.options.handshake_within));
            }
            Some(()) = recv(&mut resize) => {
                if pump.state.start() == Start::Started {
                    pump.send_size().await;
                }
            }
            signal = next_interrupt(&mut interrupts) => {
                return Ok(pump.end(ShellEnd::Signalled(signal)));
            }
        }
    }
}

/// The pump's state between events.
struct Pump<O, E> {
    writer: ChannelWriter,
    out: O,
    err: E,
    options: ShellOptions,
    sent_size: Option<TerminalSize>,
    state: SessionState,
    escape: Escape,
    input_open: bool,
    exit_status: Option<i32>,
}

impl<O: AsyncWrite + Unpin, E: AsyncWrite + Unpin> Pump<O, E> {
    fn end(&self, end: ShellEnd) -> ShellOutcome {
        ShellOutcome {
            end,
            exit_status: self.exit_status,
            resumed: self.state.resumed(),
        }
    }

    /// Sends the terminal's size if it is not the one sent last.
    async fn send_size(&mut self) {
        let size = (self.options.size)().unwrap_or(DEFAULT_SIZE);
        if self.sent_size != Some(size) {
            // A failed send: the channel's last event says why.
            let _ = self.writer.send_size(size).await;
            self.sent_size = Some(size);
        }
    }

    /// One event of the channel; the outcome when it was the last.
    async fn on_event(
        &mut self,
        event: Option<Incoming>,
    ) -> Result<Option<ShellOutcome>, ShellError> {
        match self.state.on_event(event, &self.writer).await? {
            Step::Started(message) => {
                if !message.is_empty() {
                    let line = format!("{message}\r\n");
                    write(&mut self.err, line.as_bytes()).await?;
                }
            }
            Step::Output(bytes) => write(&mut self.out, &bytes).await?,
            Step::StdErr(bytes) => write(&mut self.err, &bytes).await?,
            Step::ExitCode(bytes) => {
                self.exit_status = parse_exit_code(&bytes).or(self.exit_status);
            }
            // A shell has no port: the service's message is the end.
            Step::Closed(message) | Step::PortRefused(message) => {
                return Ok(Some(self.end(ShellEnd::Closed(message))));
            }
            Step::Handled => {}
        }
        if self.state.started() && self.sent_size.is_none() {
            self.send_size().await;
        }
        Ok(None)
    }

    /// A chunk of input, or its end; the outcome after `~.`.
    async fn on_input(&mut self, chunk: Option<Vec<u8>>) -> Option<ShellOutcome> {
        let Some(bytes) = chunk else {
            self.input_open = false;
            let _ = self.writer.send_output(&[END_OF_TRANSMISSION]).await;
            return None;
        };
        let (bytes, escaped) = if self.options.escape {
            self.escape.feed(&bytes)
        } else {
            (bytes, false)
        };
        // A send fails only once the channel has ended: its last event,
        // still to come, says why.
        if !bytes.is_empty() && self.writer.send_output(&bytes).await == Err(ChannelEnded) {
            self.input_open = false;
        }
        escaped.then(|| self.end(ShellEnd::Escaped))
    }
}

/// The next delivery of a signal being watched; never, when none is.
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_interrupt(interrupts: &mut Option<Interrupts>) -> i32 {
    match interrupts {
        Some(interrupts) => interrupts.next().await,
        None => std::future::pending().await,
    }
}

async fn write<W: AsyncWrite + Unpin>(to: &mut W, bytes: &[u8]) -> Result<(), ShellError> {
    to.write_all(bytes)
        .await
        .map_err(|e| ShellError::Io(e.to_string()))?;
    to.flush().await.map_err(|e| ShellError::Io(e.to_string()))
}

/// `EXIT_CODE: <n>`.
fn parse_exit_code(payload: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    let number = text.strip_prefix("EXIT_CODE:").unwrap_or(text).trim();
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut escape = Escape::default();
        let mut sent = Vec::new();
        for piece in pieces {
            let (bytes, escaped) = escape.feed(piece);
            sent.extend(bytes);
            if escaped {
                return (sent, true);
            }
        }
        (sent, false)
    }

    #[test]
    fn tilde_dot_at_a_line_start_ends_the_session() {
        type Case<'a> = (&'a [&'a [u8]], &'a [u8], bool);
        let table: &[Case<'_>] = &[
            (&[b"~."], b"", true),
            (&[b"ls\r~.rest"], b"ls\r", true),
            (&[b"ls\n~", b".x"], b"ls\n", true),
            (&[b"a~.b"], b"a~.b", false),
            (&[b"~~.\r"], b"~.\r", false),
            (&[b"~x"], b"~x", false),
            (&[b"\r~", b"~", b"."], b"\r~.", false),
            (&[b"\x03~."], b"\x03~.", false),
            (&[b"\x03\r", b"~."], b"\x03\r", true),
            (&[b""], b"", false),
        ];
        for (pieces, sent, escaped) in table {
            assert_eq!(feed_all(pieces), (sent.to_vec(), *escaped), "{pieces:?}");
        }
    }

    #[test]
    fn a_held_tilde_waits_for_the_next_byte() {
        let mut escape = Escape::default();
        assert_eq!(escape.feed(b"~"), (vec![], false));
        assert_eq!(escape.feed(b"l"), (b"~l".to_vec(), false));
    }

    #[test]
    fn exit_codes_come_from_the_payload_or_the_end() {
        assert_eq!(parse_exit_code(b"EXIT_CODE: 3"), Some(3));
        assert_eq!(parse_exit_code(b"EXIT_CODE: 0\n"), Some(0));
        assert_eq!(parse_exit_code(b"nonsense"), None);
        let outcome = |end, exit_status| ShellOutcome {
            end,
            exit_status,
            resumed: 0,
        };
        assert_eq!(
            outcome(ShellEnd::Closed(String::new()), Some(3)).exit_code(),
            3
        );
        assert_eq!(
            outcome(ShellEnd::Closed(String::new()), None).exit_code(),
            0
        );
        assert_eq!(outcome(ShellEnd::Escaped, None).exit_code(), 255);
        assert_eq!(outcome(ShellEnd::Signalled(2), None).exit_code(), 130);
    }
}
