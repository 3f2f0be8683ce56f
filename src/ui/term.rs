//! The operator's terminal during a session berth carries itself (Session
//! Manager): raw mode while the session runs, so that every key (Ctrl-C,
//! Ctrl-Z, Ctrl-\ included) reaches the remote side as a byte, and its size.
//!
//! Invariant: the terminal is as it was whenever the [`Raw`] guard is
//! dropped (every return and error path), and a panic hook gives it back
//! before the panic message is printed.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::sync::Once;

use crossterm::terminal;

use crate::app::ssm::Console;
use crate::transport::ssm::shell::stdin_chunks;

/// The operator's side of a session berth carries itself (`berth session`,
/// ECS Exec): this terminal's size and raw mode, standard input read in
/// chunks, and standard output and error written through descriptors of
/// their own (the process's stdout lock is held by the caller).
pub fn console() -> io::Result<Console> {
    let out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let err = File::from(io::stderr().as_fd().try_clone_to_owned()?);
    Ok(Console {
        interactive: io::stdin().is_terminal(),
        size,
        raw: || Raw::enter().map(|raw| Box::new(raw) as Box<dyn Send>),
        input: stdin_chunks,
        out: Box::new(tokio::fs::File::from_std(out)),
        err: Box::new(tokio::fs::File::from_std(err)),
    })
}

/// Raw mode on standard input's terminal while it lives; nothing when
/// standard input is not a terminal.
pub struct Raw {
    on: bool,
}

impl Raw {
    /// Raw mode, if standard input is a terminal.
    pub fn enter() -> io::Result<Raw> {
        if !io::stdin().is_terminal() {
            return Ok(Raw { on: false });
        }
        restore_on_panic();
        terminal::enable_raw_mode()?;
        Ok(Raw { on: true })
    }

    /// Whether raw mode is on (standard input is a terminal).
    pub fn is_on(&self) -> bool {
        self.on
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if self.on {
            let _ = terminal::disable_raw_mode();
        }
    }
}

/// The terminal's size (columns, rows) when standard output is one, and
/// says.
pub fn size() -> Option<(u16, u16)> {
    if !io::stdout().is_terminal() {
        return None;
    }
    match terminal::size() {
        Ok((columns, rows)) if columns > 0 && rows > 0 => Some((columns, rows)),
        _ => None,
    }
}

/// On a panic, the terminal is given back before the message is printed:
/// out of raw mode, the cursor shown, on a fresh line (harmless when none
/// of that was changed). The one hook for every terminal guard of `ui`.
pub fn restore_on_panic() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = terminal::disable_raw_mode();
            let _ = crossterm::execute!(
                io::stderr(),
                crossterm::cursor::Show,
                crossterm::style::Print("\r\n")
            );
            previous(info);
        }));
    });
}
