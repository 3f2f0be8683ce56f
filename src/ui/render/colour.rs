//! Colour for what berth says on stderr (`berth: error:`, `warning:`,
//! `hint:`) and for the state words of its tables and checklists (ACTIVE,
//! DRAINING, ok, FAIL…), when `--color` (or `BERTH_COLOR`, `color`,
//! `NO_COLOR`) and the stream allow it. Plain ANSI SGR sequences: nothing
//! else reads the environment behind berth's back.

use comfy_table::{Cell, Color};

/// What a state word means to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// As it should be: ACTIVE, connected, ok, pass.
    Good,
    /// Worth a look: DRAINING, warn, timed out, undecidable.
    Caution,
    /// Broken: DISCONNECTED, failed, unreachable, FAIL.
    Bad,
}

/// Paints text, or leaves it alone when colour is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    on: bool,
}

impl Palette {
    pub fn new(on: bool) -> Self {
        Self { on }
    }

    /// Bold red.
    pub fn error(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// Bold yellow.
    pub fn warning(self, text: &str) -> String {
        self.paint("1;33", text)
    }

    /// Bold cyan.
    pub fn hint(self, text: &str) -> String {
        self.paint("1;36", text)
    }

    /// Whether this palette paints at all.
    pub fn is_on(self) -> bool {
        self.on
    }

    /// A state word in its tone: green, yellow or red; plain without one.
    pub fn tone(self, tone: Option<Tone>, text: &str) -> String {
        match tone {
            Some(Tone::Good) => self.paint("32", text),
            Some(Tone::Caution) => self.paint("33", text),
            Some(Tone::Bad) => self.paint("1;31", text),
            None => text.to_owned(),
        }
    }

    /// A table cell in its tone; the table measures the text, not the
    /// colour, so columns stay aligned.
    pub fn cell(self, tone: Option<Tone>, text: impl Into<String>) -> Cell {
        let cell = Cell::new(text.into());
        match (self.on, tone) {
            (true, Some(Tone::Good)) => cell.fg(Color::Green),
            (true, Some(Tone::Caution)) => cell.fg(Color::Yellow),
            (true, Some(Tone::Bad)) => cell.fg(Color::Red),
            _ => cell,
        }
    }

    fn paint(self, sgr: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_is_plain_on_is_ansi() {
        assert_eq!(Palette::new(false).error("berth: error:"), "berth: error:");
        assert_eq!(
            Palette::new(true).error("berth: error:"),
            "\x1b[1;31mberth: error:\x1b[0m"
        );
        assert_eq!(Palette::new(true).warning("w"), "\x1b[1;33mw\x1b[0m");
        assert_eq!(Palette::new(true).hint("h"), "\x1b[1;36mh\x1b[0m");
    }

    #[test]
    fn tones_paint_only_when_on_and_only_with_a_tone() {
        let on = Palette::new(true);
        assert_eq!(on.tone(Some(Tone::Good), "ok"), "\x1b[32mok\x1b[0m");
        assert_eq!(on.tone(Some(Tone::Caution), "warn"), "\x1b[33mwarn\x1b[0m");
        assert_eq!(on.tone(Some(Tone::Bad), "FAIL"), "\x1b[1;31mFAIL\x1b[0m");
        assert_eq!(on.tone(None, "skip"), "skip");
        assert_eq!(Palette::new(false).tone(Some(Tone::Bad), "FAIL"), "FAIL");
    }
}
