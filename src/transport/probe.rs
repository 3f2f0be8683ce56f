//! A short, non-interactive run of a client whose messages berth reads:
//! after ssh failed, to learn whether the host key was why.

use std::time::Duration;

use super::TransportError;
use super::process::{Stream, Wiring, program_of, spawn};

/// Runs `argv` with no input and returns what it wrote on stderr, or
/// `None` when it did not finish within `limit` (it is killed then).
pub async fn stderr_of(argv: &[String], limit: Duration) -> Result<Option<String>, TransportError> {
    let wiring = Wiring {
        stdin: Stream::Null,
        stdout: Stream::Null,
        stderr: Stream::Piped,
    };
    let child = spawn(argv, wiring, true)?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok(Some(String::from_utf8_lossy(&output.stderr).into_owned())),
        Ok(Err(source)) => Err(TransportError::Spawn {
            program: program_of(argv),
            source,
        }),
        Err(_) => Ok(None),
    }
}
