//! The picker on a terminal: raw mode and drawing through crossterm, on
//! standard error (stdout stays for the command's output), keys read from
//! standard input without buffering (nothing typed after the pick is taken
//! from ssh).
//!
//! Invariant: the terminal is as it was whenever this module returns or
//! panics: [`Screen`] restores it when dropped, and a panic hook does so
//! before the panic message is printed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, ClearType};
use crossterm::{cursor, execute, queue};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::keys;
use super::state::{Outcome, PickerState};

/// How long an escape byte waits for the rest of a key's sequence.
const ESCAPE_WAIT_MS: u8 = 40;

/// At most this many candidate rows at once.
const MAX_ROWS: usize = 12;

/// What the picker shows besides the candidates.
pub struct Frame<'a> {
    pub prompt: &'a str,
    /// Column titles above the candidates.
    pub header: Option<&'a str>,
    /// Reverse video for the selected row, dim for the header.
    pub color: bool,
}

/// Lets the user pick one of `items`; `None` if they cancelled.
pub fn pick(frame: &Frame<'_>, items: Vec<String>) -> io::Result<Option<usize>> {
    let mut input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let mut state = PickerState::new(items, rows_that_fit(frame));
    let _screen = Screen::enter()?;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        state.set_height(rows_that_fit(frame));
        draw(frame, &state)?;
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buf[..n]);
        let (mut typed, used) = keys::parse(&pending, false);
        pending.drain(..used);
        if !pending.is_empty() {
            // An escape (or half a character): more is on its way, or it
            // was the Esc key.
            if ready(&input)? {
                let n = input.read(&mut buf)?;
                pending.extend_from_slice(&buf[..n]);
            }
            let (more, used) = keys::parse(&pending, !ready(&input)?);
            pending.drain(..used);
            typed.extend(more);
        }
        for key in typed {
            match state.handle(key) {
                Outcome::Continue => {}
                Outcome::Picked(i) => return Ok(Some(i)),
                Outcome::Cancelled => return Ok(None),
            }
        }
    }
}

/// Whether more input arrives within [`ESCAPE_WAIT_MS`].
fn ready(input: &File) -> io::Result<bool> {
    let mut fds = [PollFd::new(input.as_fd(), PollFlags::POLLIN)];
    let n = poll(&mut fds, PollTimeout::from(ESCAPE_WAIT_MS)).map_err(io::Error::from)?;
    Ok(n > 0)
}

/// The terminal's size; 80x24 where it does not say (a pseudo-terminal
/// nobody sized).
fn size() -> (u16, u16) {
    match terminal::size() {
        Ok((columns, rows)) if columns > 0 && rows > 0 => (columns, rows),
        _ => (80, 24),
    }
}

fn rows_that_fit(frame: &Frame<'_>) -> usize {
    let (_, rows) = size();
    // The prompt, the header, the count, and a line to spare.
    let chrome = 3 + usize::from(frame.header.is_some());
    usize::from(rows).saturating_sub(chrome).clamp(1, MAX_ROWS)
}

/// The picker's lines on the terminal, in raw mode while it lives.
struct Screen;

impl Screen {
    fn enter() -> io::Result<Self> {
        crate::ui::term::restore_on_panic();
        terminal::enable_raw_mode()?;
        Ok(Self)
    }
}

/// Draws the prompt line, the header, the visible rows and the count,
/// and leaves the cursor after the query. Everything is cut to the
/// terminal's width: a wrapped line would throw the cursor arithmetic.
/// Called while a [`Screen`] holds the terminal in raw mode (lines end
/// in `\r\n`).
fn draw(frame: &Frame<'_>, state: &PickerState) -> io::Result<()> {
    let (width, _) = size();
    let width = usize::from(width.max(10));
    let mut err = io::stderr().lock();
    queue!(
        err,
        cursor::MoveToColumn(0),
        terminal::Clear(ClearType::FromCursorDown)
    )?;
    let prompt = format!("{} › ", frame.prompt);
    let line = fit(&format!("{prompt}{}", state.query()), width - 1);
    queue!(err, Print(&line))?;
    let mut below: u16 = 0;
    if let Some(header) = frame.header {
        queue!(err, Print("\r\n"))?;
        if frame.color {
            queue!(err, SetAttribute(Attribute::Dim))?;
        }
        queue!(
            err,
            Print(fit(&format!("  {header}"), width - 1)),
            SetAttribute(Attribute::Reset)
        )?;
        below += 1;
    }
    for (row, selected) in state.visible() {
        let marker = if selected { "> " } else { "  " };
        queue!(err, Print("\r\n"))?;
        if selected && frame.color {
            queue!(err, SetAttribute(Attribute::Reverse))?;
        }
        queue!(
            err,
            Print(fit(&format!("{marker}{row}"), width - 1)),
            SetAttribute(Attribute::Reset)
        )?;
        below += 1;
    }
    queue!(
        err,
        Print("\r\n"),
        Print(fit(
            &format!("  {}/{}", state.matched(), state.total()),
            width - 1
        ))
    )?;
    below += 1;
    let column = u16::try_from(line.chars().count()).unwrap_or(u16::MAX);
    queue!(err, cursor::MoveUp(below), cursor::MoveToColumn(column))?;
    err.flush()
}

impl Drop for Screen {
    /// Erases the picker and leaves raw mode, however the pick ended.
    fn drop(&mut self) {
        let mut err = io::stderr();
        let _ = execute!(
            err,
            cursor::MoveToColumn(0),
            terminal::Clear(ClearType::FromCursorDown),
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

/// `text` cut to `width` characters.
fn fit(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_to_the_width() {
        assert_eq!(fit("i-0123456789abcdef0  web-1", 12), "i-0123456789");
        assert_eq!(fit("short", 12), "short");
        assert_eq!(fit("→→→", 2), "→→");
    }
}
