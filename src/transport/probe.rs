//! A short, non-interactive run of a client whose messages berth reads:
//! after ssh failed, to learn whether the host key was why.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::TransportError;

/// Runs `argv` with no input and returns what it wrote on stderr, or
/// `None` when it did not finish within `limit` (it is killed then).
pub async fn stderr_of(argv: &[String], limit: Duration) -> Result<Option<String>, TransportError> {
    let (program, rest) = super::split(argv);
    let child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TransportError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok(Some(String::from_utf8_lossy(&output.stderr).into_owned())),
        Ok(Err(source)) => Err(TransportError::Spawn {
            program: program.to_owned(),
            source,
        }),
        Err(_) => Ok(None),
    }
}
