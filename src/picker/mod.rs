//! The interactive picker, used only when stdin and stderr are terminals.
//! It draws on stderr so that stdout stays clean for scripts, and leaves
//! the terminal as it found it, on Ctrl-C or a panic too, before ssh takes
//! over.

use std::io::IsTerminal;

use dialoguer::FuzzySelect;
use dialoguer::console::Term;

/// Whether a person is there to pick.
pub fn available() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Shows the cursor again however the picker ends.
struct CursorGuard;

impl Drop for CursorGuard {
    fn drop(&mut self) {
        let _ = Term::stderr().show_cursor();
    }
}

/// Lets the user choose one of `labels`; `None` if they cancelled.
pub fn pick(prompt: &str, labels: &[String]) -> std::io::Result<Option<usize>> {
    // Ctrl-C ends berth as it would have, but with the cursor visible. A
    // second handler cannot be set; the first one does the same.
    let _ = ctrlc::set_handler(|| {
        let _ = Term::stderr().show_cursor();
        std::process::exit(130);
    });
    let _guard = CursorGuard;
    FuzzySelect::new()
        .with_prompt(prompt)
        .items(labels)
        .default(0)
        .interact_on_opt(&Term::stderr())
        .map_err(|dialoguer::Error::IO(e)| e)
}
