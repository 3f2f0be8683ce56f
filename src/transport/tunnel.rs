//! An ssh port forward (`ssh -N -L …`) held open while an RDP client uses
//! it: started, waited for until its local end accepts connections, and
//! ended when the client is done.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::TransportError;

/// How long ssh may take to log in and set the forward up.
pub const READY_WITHIN: Duration = Duration::from_secs(20);

/// A free TCP port on 127.0.0.1 for the local end of a forward.
pub fn free_local_port() -> Result<u16, TransportError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| TransportError::Spawn {
            program: "a local port for the tunnel".to_owned(),
            source,
        })
}

/// The running ssh that holds the forward.
pub struct TunnelProcess {
    child: Child,
}

/// Starts `argv` and waits until 127.0.0.1:`local_port` accepts a
/// connection, or fails with ssh's status if it exits first.
pub async fn open(argv: &[String], local_port: u16) -> Result<TunnelProcess, TransportError> {
    let (program, rest) = super::split(argv);
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TransportError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(TransportError::Failed {
                program: program.to_owned(),
                status: super::exit_code(status),
            });
        }
        if TcpStream::connect(("127.0.0.1", local_port)).await.is_ok() {
            return Ok(TunnelProcess { child });
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(TransportError::TunnelNotReady {
                seconds: READY_WITHIN.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl TunnelProcess {
    /// Ends the forward.
    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}
