//! Running the OpenSSH client for a plan.
//!
//! On Unix berth `exec`s ssh: the terminal, signals and the exit status
//! pass straight through, and the remote command's status becomes berth's.
//! Elsewhere it runs ssh as a child and returns its status.

use std::process::Command;

use super::TransportError;

/// Replaces this process with `argv` (Unix); returns only on failure.
#[cfg(unix)]
pub fn exec(argv: &[String]) -> Result<i32, TransportError> {
    use std::os::unix::process::CommandExt;
    let (program, rest) = split(argv);
    let source = Command::new(program).args(rest).exec();
    Err(TransportError::Spawn {
        program: program.to_owned(),
        source,
    })
}

/// Runs `argv` as a child and returns its exit status.
#[cfg(not(unix))]
pub fn exec(argv: &[String]) -> Result<i32, TransportError> {
    let (program, rest) = split(argv);
    let status = Command::new(program)
        .args(rest)
        .status()
        .map_err(|source| TransportError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    Ok(status.code().unwrap_or(255))
}

fn split(argv: &[String]) -> (&str, &[String]) {
    match argv.split_first() {
        Some((program, rest)) => (program.as_str(), rest),
        None => ("ssh", &[]),
    }
}
