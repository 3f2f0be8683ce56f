//! An external chooser (`$BERTH_PICKER`, e.g. `fzf` or `sk`): candidates go
//! to its stdin one a line, the line it prints is the choice.

use std::io::Write;

use super::TransportError;
use super::process::{Stream, Wiring, spawn_blocking};

/// Runs `command` (split like a shell would, but not run by one) over
/// `labels`; `None` when it printed nothing or failed (e.g. Esc in fzf).
pub fn choose(command: &str, labels: &[String]) -> Result<Option<usize>, TransportError> {
    let argv = shlex::split(command)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| TransportError::BadCommand {
            command: command.to_owned(),
        })?;
    let spawn_error = |source| TransportError::Spawn {
        program: argv[0].clone(),
        source,
    };
    let wiring = Wiring {
        stdin: Stream::Piped,
        stdout: Stream::Piped,
        stderr: Stream::Inherit,
    };
    let mut child = spawn_blocking(&argv, wiring)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A chooser may exit before reading everything; that is its answer.
        let _ = stdin.write_all(labels.join("\n").as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if !output.status.success() {
        return Ok(None);
    }
    let chosen = String::from_utf8_lossy(&output.stdout);
    let chosen = chosen.lines().next().unwrap_or_default().trim_end();
    Ok(labels.iter().position(|l| l == chosen))
}
