//! Colour for what berth says on stderr (`berth: error:`, `warning:`,
//! `hint:`), when `--color` (or `BERTH_COLOR`, `color`, `NO_COLOR`) and the
//! stream allow it. Plain ANSI SGR sequences: nothing else reads the
//! environment behind berth's back.

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
}
