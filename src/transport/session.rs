//! Running a client (ssh, an RDP client) as a child that berth outlives, so
//! that berth can act when it ends: remove a temporary rule, diagnose a
//! failed connection.
//!
//! While the child runs, berth catches SIGINT, SIGTERM and SIGHUP, passes
//! each on to the child and waits for it; the caller then cleans up and
//! exits as the signal would have made it (128 + its number). On a
//! terminal a Ctrl-C reaches both processes anyway (they share the
//! foreground process group); in raw mode ssh sends it to the remote side
//! and berth, which sees nothing, keeps waiting.

use std::ffi::OsStr;

use tokio::io::AsyncWriteExt;

use super::TransportError;
use super::process::{Stream, Wiring, program_of, spawn};

pub use super::process::replace;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Its exit status (128 + signal number if a signal ended it).
    pub code: i32,
    /// The signal berth itself received and passed on, if any.
    pub interrupted_by: Option<i32>,
    /// The signal that ended the child, if one did (berth's or another's).
    pub killed_by: Option<i32>,
}

impl Outcome {
    /// The child ended with a failure status of its own: not interrupted
    /// through berth, not killed by a signal (a window closed by the
    /// desktop, a `kill` from elsewhere), so its connection may have failed.
    pub fn failed_by_itself(self) -> bool {
        self.code != 0 && self.interrupted_by.is_none() && self.killed_by.is_none()
    }

    /// The status berth should exit with.
    pub fn exit_code(self) -> u8 {
        let code = self.interrupted_by.map_or(self.code, |s| 128 + s);
        u8::try_from(code).unwrap_or(255)
    }
}

/// The termination signals berth handles for the rest of the process's
/// life once installed: from then on they are queued here instead of
/// killing berth.
#[cfg(unix)]
pub struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Interrupts {
    /// Must be called inside the tokio runtime.
    pub fn install() -> Result<Self, TransportError> {
        use tokio::signal::unix::{SignalKind, signal};
        let make = |kind| signal(kind).map_err(TransportError::Signals);
        Ok(Self {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
            hup: make(SignalKind::hangup())?,
        })
    }

    /// The next signal's number.
    pub async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => nix::libc::SIGINT,
            _ = self.term.recv() => nix::libc::SIGTERM,
            _ = self.hup.recv() => nix::libc::SIGHUP,
        }
    }

    /// A signal that already arrived, without waiting.
    pub fn pending(&mut self) -> Option<i32> {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        for (sig, stream) in [
            (nix::libc::SIGINT, &mut self.int),
            (nix::libc::SIGTERM, &mut self.term),
            (nix::libc::SIGHUP, &mut self.hup),
        ] {
            if stream.poll_recv(&mut cx).is_ready() {
                return Some(sig);
            }
        }
        None
    }
}

/// Runs `argv` with the terminal and standard streams inherited, passing
/// on any signal berth receives, and waits for it to end.
#[cfg(unix)]
pub async fn run<S: AsRef<OsStr>>(
    argv: &[S],
    interrupts: &mut Interrupts,
) -> Result<Outcome, TransportError> {
    run_with_input(argv, None, interrupts, |program, source| {
        TransportError::Spawn { program, source }
    })
    .await
}

/// [`run`], with `input` (a secret, say) written to the child's stdin and
/// the pipe closed, instead of the terminal. `spawn_error` names the
/// failure for this kind of program.
#[cfg(unix)]
pub async fn run_with_input<S: AsRef<OsStr>>(
    argv: &[S],
    input: Option<&[u8]>,
    interrupts: &mut Interrupts,
    spawn_error: impl Fn(String, std::io::Error) -> TransportError,
) -> Result<Outcome, TransportError> {
    if let Some(sig) = interrupts.pending() {
        return Ok(Outcome {
            code: 128 + sig,
            interrupted_by: Some(sig),
            killed_by: None,
        });
    }
    let failed = |source| spawn_error(program_of(argv), source);
    let wiring = Wiring {
        stdin: if input.is_some() {
            Stream::Piped
        } else {
            Stream::Inherit
        },
        stdout: Stream::Inherit,
        stderr: Stream::Inherit,
    };
    // The session owns the terminal: it ends on its own terms. A program
    // that cannot start is named as the caller names it (an RDP client is
    // not an ssh).
    let mut child = spawn(argv, wiring, false).map_err(|e| match e {
        TransportError::Spawn { source, .. } => failed(source),
        other => other,
    })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A program that exits before reading has its own say below.
        match stdin.write_all(input).await {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(failed(e)),
            _ => {}
        }
        drop(stdin);
    }
    let mut interrupted_by = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            sig = interrupts.next() => {
                interrupted_by.get_or_insert(sig);
                forward(child.id(), sig);
            }
        }
    }
    .map_err(&failed)?;
    Ok(Outcome {
        code: super::exit_code(status),
        interrupted_by,
        killed_by: super::signal_of(status),
    })
}

#[cfg(unix)]
fn forward(pid: Option<u32>, sig: i32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let (Some(pid), Ok(sig)) = (
        pid.and_then(|p| i32::try_from(p).ok()),
        Signal::try_from(sig),
    ) else {
        return;
    };
    // The child may have exited already; nothing to do then.
    let _ = kill(Pid::from_raw(pid), sig);
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn only_a_failure_status_of_its_own_counts_as_a_failed_connection() {
        let outcome = |code, interrupted_by, killed_by| Outcome {
            code,
            interrupted_by,
            killed_by,
        };
        for (ended, failed) in [
            (outcome(0, None, None), false),
            (outcome(131, None, None), true),
            (outcome(255, None, None), true),
            // Closed by a `kill` from elsewhere.
            (outcome(143, None, Some(15)), false),
            // A Ctrl-C berth passed on, whatever the child made of it.
            (outcome(130, Some(2), Some(2)), false),
            (outcome(1, Some(2), None), false),
        ] {
            assert_eq!(ended.failed_by_itself(), failed, "{ended:?}");
        }
    }
}
