//! Choosing one of several candidates: an inline fuzzy finder on a
//! terminal (typing narrows, arrows move, Enter picks, Esc cancels), or
//! what `BERTH_PICKER` says: `first` takes the first candidate, anything
//! else is a chooser program (fzf, sk, `grep -m1 web`) that gets the
//! candidates on its stdin and prints its choice, with or without a
//! terminal.
//!
//! The finder draws on stderr so that stdout stays clean for scripts, and
//! leaves the terminal as it found it on every exit path (Enter, Esc,
//! Ctrl-C, an error, a panic) before ssh takes it over.

mod keys;
mod state;
#[cfg(unix)]
mod terminal;

use std::io::IsTerminal;

use crate::transport::{self, TransportError};

/// Whether a person is there to pick.
fn available() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// How a choice is made, from `BERTH_PICKER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chooser {
    /// The built-in finder, on a terminal only.
    BuiltIn,
    /// `BERTH_PICKER=first`: the first candidate.
    First,
    /// `BERTH_PICKER=PROGRAM [ARGS]`: an external chooser.
    Program(String),
}

impl Chooser {
    pub fn from_setting(setting: Option<&str>) -> Self {
        match setting.map(str::trim) {
            None | Some("") => Self::BuiltIn,
            Some("first") => Self::First,
            Some(program) => Self::Program(program.to_owned()),
        }
    }
}

/// How a choice ended: `app`'s own vocabulary.
pub use crate::app::Choice;

/// What is offered: a prompt, column titles, one line per candidate.
pub struct Offer<'a> {
    pub prompt: &'a str,
    pub header: Option<&'a str>,
    pub rows: &'a [String],
    /// Whether the finder may use colour on stderr.
    pub color: bool,
}

/// Chooses one of the offered rows as `chooser` says.
pub fn choose(chooser: &Chooser, offer: &Offer<'_>) -> Result<Choice, TransportError> {
    if offer.rows.is_empty() {
        return Ok(Choice::NothingChosen);
    }
    match chooser {
        Chooser::First => Ok(Choice::Picked(0)),
        Chooser::Program(command) => Ok(transport::chooser::choose(command, offer.rows)?
            .map_or(Choice::NothingChosen, Choice::Picked)),
        Chooser::BuiltIn if !available() => Ok(Choice::NoTerminal),
        Chooser::BuiltIn => {
            let picked = finder(offer).map_err(TransportError::Stdio)?;
            Ok(picked.map_or(Choice::Cancelled, Choice::Picked))
        }
    }
}

#[cfg(unix)]
fn finder(offer: &Offer<'_>) -> std::io::Result<Option<usize>> {
    let frame = terminal::Frame {
        prompt: offer.prompt,
        header: offer.header,
        color: offer.color,
    };
    terminal::pick(&frame, offer.rows.to_vec())
}

/// Elsewhere there is no built-in finder: as without a terminal, the
/// caller lists the candidates (BERTH_PICKER still works).
#[cfg(not(unix))]
fn finder(_offer: &Offer<'_>) -> std::io::Result<Option<usize>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the built-in picker needs a Unix terminal; set BERTH_PICKER=first or to a chooser program",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berth_picker_names_the_chooser() {
        assert_eq!(Chooser::from_setting(None), Chooser::BuiltIn);
        assert_eq!(Chooser::from_setting(Some(" ")), Chooser::BuiltIn);
        assert_eq!(Chooser::from_setting(Some("first")), Chooser::First);
        assert_eq!(
            Chooser::from_setting(Some("fzf --height 40%")),
            Chooser::Program("fzf --height 40%".into())
        );
    }

    #[test]
    fn first_and_programs_need_no_terminal() {
        let rows = vec!["a  one".to_owned(), "b  two".to_owned()];
        let offer = Offer {
            prompt: "2 hosts match",
            header: None,
            rows: &rows,
            color: false,
        };
        assert_eq!(
            choose(&Chooser::First, &offer).expect("ok"),
            Choice::Picked(0)
        );
        let grep = Chooser::Program("grep --max-count=1 two".into());
        assert_eq!(choose(&grep, &offer).expect("ok"), Choice::Picked(1));
        let nothing = Chooser::Program("false".into());
        assert_eq!(choose(&nothing, &offer).expect("ok"), Choice::NothingChosen);
        let none: Vec<String> = Vec::new();
        let empty = Offer {
            rows: &none,
            ..offer
        };
        assert_eq!(
            choose(&Chooser::First, &empty).expect("ok"),
            Choice::NothingChosen
        );
    }
}
