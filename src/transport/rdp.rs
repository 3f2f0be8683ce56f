//! Running the programs of an RDP plan, one after the other.
//!
//! The password reaches a program only through its stdin: berth writes it
//! to a pipe, closes the pipe, and wipes its own copy. Programs inherit
//! berth's environment, which never holds the password. The last program's
//! exit status becomes berth's, as ssh's does for `berth ssh`.

use std::io::{self, Write};
use std::process::{Command, Stdio};

use pkcs8::der::zeroize::Zeroizing;

use super::TransportError;
use crate::plan::rdp::Step;
use crate::secrets::password::WindowsPassword;

/// Runs `steps` in order; stops at the first that fails. Returns the exit
/// status of the last one (128 + the signal for one that was killed).
pub fn run(steps: &[Step], password: &WindowsPassword) -> Result<i32, TransportError> {
    // Ctrl-C on the terminal reaches the client as well (one process
    // group): berth outlives it to pass its status on. A handler set
    // earlier (the picker's) already ends berth the same way.
    let _ = ctrlc::set_handler(|| {});
    let mut status = 0;
    for (i, step) in steps.iter().enumerate() {
        let Some((program, args)) = step.argv.split_first() else {
            continue;
        };
        status = run_step(program, args, step, password)?;
        if status != 0 && i + 1 < steps.len() {
            return Err(TransportError::Failed {
                program: program.clone(),
                status,
            });
        }
    }
    Ok(status)
}

fn run_step(
    program: &str,
    args: &[String],
    step: &Step,
    password: &WindowsPassword,
) -> Result<i32, TransportError> {
    let spawn_error = |source: io::Error| TransportError::RdpClient {
        program: program.to_owned(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if step.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .map_err(spawn_error)?;
    if let (Some(input), Some(mut stdin)) = (step.stdin, child.stdin.take()) {
        let text = Zeroizing::new(input.render(password.expose()));
        // A client that exits before reading has its own say below.
        match stdin.write_all(text.as_bytes()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(spawn_error(e)),
            _ => {}
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    Ok(exit_code(status))
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

#[cfg(not(unix))]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(255)
}
