//! The process's standard streams as one async byte stream, for `berth
//! proxy` (an OpenSSH `ProxyCommand` talks to it through stdin and
//! stdout), and a plain TCP relay between them and a connection.
//!
//! Standard input and output are read and written on threads of their
//! own, with blocking calls, since they may be pipes, terminals or files;
//! the async side sees an in-memory pipe. Output goes to a duplicate of
//! descriptor 1, not through `std::io::stdout()`, whose lock the caller
//! holds for the whole command.

use std::io::{self, Read, Write};
use std::thread::JoinHandle;

use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio::runtime::Handle;

/// How much is buffered between the threads and the async side.
const BUFFER: usize = 64 * 1024;

/// Standard input (readable) and output (writable), as async halves.
pub struct StandardStreams {
    pub input: ReadHalf<DuplexStream>,
    pub output: WriteHalf<DuplexStream>,
    writer: JoinHandle<()>,
}

impl StandardStreams {
    /// Starts the threads; must be called inside the tokio runtime.
    pub fn open() -> io::Result<Self> {
        let handle = Handle::current();
        let stdout = duplicate_stdout()?;
        let (ours, theirs) = tokio::io::duplex(BUFFER);
        let (input, output) = tokio::io::split(ours);
        let (mut from_output, mut to_input) = tokio::io::split(theirs);

        let reading = handle.clone();
        // Not joined: a read from a terminal cannot be interrupted, and
        // the process ends when the tunnel does.
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = io::stdin();
                let mut buffer = vec![0_u8; BUFFER];
                loop {
                    match stdin.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if reading.block_on(to_input.write_all(&buffer[..n])).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = reading.block_on(to_input.shutdown());
            })?;
        let writer = std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                let mut stdout = stdout;
                let mut buffer = vec![0_u8; BUFFER];
                while let Ok(n) = handle.block_on(from_output.read(&mut buffer)) {
                    if n == 0 || stdout.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            input,
            output,
            writer,
        })
    }

    /// Ends the output and waits until everything written to it is on
    /// standard output.
    pub async fn finish(self) {
        let Self {
            mut output, writer, ..
        } = self;
        let _ = output.shutdown().await;
        drop(output);
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    }
}

#[cfg(unix)]
fn duplicate_stdout() -> io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    Ok(std::fs::File::from(
        io::stdout().as_fd().try_clone_to_owned()?,
    ))
}

#[cfg(windows)]
fn duplicate_stdout() -> io::Result<std::fs::File> {
    use std::os::windows::io::AsHandle;
    Ok(std::fs::File::from(
        io::stdout().as_handle().try_clone_to_owned()?,
    ))
}

/// Connects to `address`:`port` (giving up after `within`) and relays
/// `input` and `output` to it as [`relay`] does.
pub async fn relay_to<R, W>(
    address: &str,
    port: u16,
    within: std::time::Duration,
    input: R,
    output: W,
) -> Result<(), super::TransportError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let where_to = format!("{address}:{port}");
    let connection = tokio::time::timeout(within, TcpStream::connect((address, port)))
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {}s", within.as_secs()),
            ))
        })
        .map_err(|source| super::TransportError::Connect {
            address: where_to.clone(),
            source,
        })?;
    relay(connection, input, output)
        .await
        .map_err(|source| super::TransportError::Relay {
            address: where_to,
            source,
        })
}

/// Carries `input` to `connection` and back to `output` until the far
/// side closes; the end of `input` is passed on as a half-close, and the
/// far side's answer is still delivered.
pub async fn relay<R, W>(connection: TcpStream, mut input: R, mut output: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut from_far, mut to_far) = connection.into_split();
    let upstream = async {
        tokio::io::copy(&mut input, &mut to_far).await?;
        to_far.shutdown().await
    };
    let downstream = async {
        tokio::io::copy(&mut from_far, &mut output).await?;
        output.shutdown().await
    };
    tokio::pin!(upstream, downstream);
    tokio::select! {
        done = &mut downstream => done,
        done = &mut upstream => {
            done?;
            downstream.await
        }
    }
}
