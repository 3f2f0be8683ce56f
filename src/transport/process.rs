//! The one place berth starts a program: from an argv vector, never
//! through a shell, with its standard streams wired as the caller says;
//! a program that cannot be started is named in the error.

use std::ffi::OsStr;
use std::process::Stdio;

use super::TransportError;

/// Set in the environment of every child berth spawns and waits for: a
/// `berth proxy` that ssh starts as its ProxyCommand under it leaves the
/// diagnosis of a failed connection to the berth above, which makes it
/// once (and a fleet run makes none per host). Not set for a program that
/// takes berth's place ([`replace`]): nobody is above it then.
pub const CALLER_DIAGNOSES: &str = "BERTH_CALLER_DIAGNOSES";

/// Whether a berth above this one diagnoses a failed connection.
pub fn caller_diagnoses() -> bool {
    std::env::var_os(CALLER_DIAGNOSES).is_some_and(|v| v == "1")
}

/// Where one standard stream of the child goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// berth's own (a terminal handed over to the child).
    Inherit,
    Null,
    /// A pipe berth reads or writes.
    Piped,
}

impl From<Stream> for Stdio {
    fn from(stream: Stream) -> Self {
        match stream {
            Stream::Inherit => Stdio::inherit(),
            Stream::Null => Stdio::null(),
            Stream::Piped => Stdio::piped(),
        }
    }
}

/// How a child is wired: its three streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wiring {
    pub stdin: Stream,
    pub stdout: Stream,
    pub stderr: Stream,
}

impl Wiring {
    /// No input, its output read by berth.
    pub const READ_OUTPUT: Self = Self {
        stdin: Stream::Null,
        stdout: Stream::Piped,
        stderr: Stream::Piped,
    };
}

/// The program of `argv` as messages name it.
pub fn program_of<S: AsRef<OsStr>>(argv: &[S]) -> String {
    argv.first()
        .map(|p| p.as_ref().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn command<S: AsRef<OsStr>>(
    argv: &[S],
    wiring: Wiring,
) -> Result<std::process::Command, TransportError> {
    let Some((program, rest)) = argv.split_first() else {
        return Err(TransportError::Spawn {
            program: String::new(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    };
    let mut command = std::process::Command::new(program);
    command
        .args(rest)
        .stdin(Stdio::from(wiring.stdin))
        .stdout(Stdio::from(wiring.stdout))
        .stderr(Stdio::from(wiring.stderr));
    Ok(command)
}

fn spawn_error<S: AsRef<OsStr>>(argv: &[S]) -> impl FnOnce(std::io::Error) -> TransportError {
    let program = program_of(argv);
    move |source| TransportError::Spawn { program, source }
}

/// Starts `argv` for berth's async code. A child that is dropped before it
/// ends is killed with it, unless it owns the terminal (`kill_on_drop`
/// false: an interactive session ends on its own terms).
pub fn spawn<S: AsRef<OsStr>>(
    argv: &[S],
    wiring: Wiring,
    kill_on_drop: bool,
) -> Result<tokio::process::Child, TransportError> {
    let mut command = tokio::process::Command::from(command(argv, wiring)?);
    command
        .env(CALLER_DIAGNOSES, "1")
        .kill_on_drop(kill_on_drop)
        .spawn()
        .map_err(spawn_error(argv))
}

/// Starts `argv` from code that waits for it in place (the external
/// chooser, asked from the picker).
pub fn spawn_blocking<S: AsRef<OsStr>>(
    argv: &[S],
    wiring: Wiring,
) -> Result<std::process::Child, TransportError> {
    command(argv, wiring)?.spawn().map_err(spawn_error(argv))
}

/// Replaces berth's process with `argv` (exec): its pid, terminal and
/// standard streams pass to the program, and berth is gone. Returns only
/// when the program could not be started.
#[cfg(unix)]
pub fn replace<S: AsRef<OsStr>>(argv: &[S]) -> TransportError {
    use std::os::unix::process::CommandExt as _;
    let inherit = Wiring {
        stdin: Stream::Inherit,
        stdout: Stream::Inherit,
        stderr: Stream::Inherit,
    };
    match command(argv, inherit) {
        Ok(mut command) => spawn_error(argv)(command.env_remove(CALLER_DIAGNOSES).exec()),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_cannot_start_is_named() {
        let missing = ["/nonexistent/berth-test-program", "--flag"];
        let wiring = Wiring::READ_OUTPUT;
        match spawn_blocking(&missing, wiring) {
            Err(TransportError::Spawn { program, source }) => {
                assert_eq!(program, "/nonexistent/berth-test-program");
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        let empty: [&str; 0] = [];
        assert!(matches!(
            spawn_blocking(&empty, wiring),
            Err(TransportError::Spawn { .. })
        ));
        // argv words reach the program as they are, no shell in between.
        let echo = spawn_blocking(&["printf", "%s|", "a b", "$HOME"], wiring)
            .expect("printf")
            .wait_with_output()
            .expect("wait");
        assert_eq!(String::from_utf8_lossy(&echo.stdout), "a b|$HOME|");
    }
}
