//! The terminal's side of `app`'s two traits: [`Terminal`] says on stderr
//! what the use cases report (coloured when stderr allows, `-v` detail
//! only when asked, a spinner while a phase waits), and [`Picker`]
//! offers a choice through `BERTH_PICKER` or the built-in finder.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pkcs8::der::zeroize::Zeroizing;

use crate::app::{Choice, Chooser, Countdown, Offer, Progress, Reporter};
use crate::doctor::Report;
use crate::error::Error;
use crate::model::host::Host;
use crate::settings::Settings;

use super::picker;
use super::render::{self, HostRow, Palette};

/// Reports on stderr.
pub struct Terminal {
    palette: Palette,
    verbose: bool,
}

impl Terminal {
    pub fn new(settings: &Settings) -> Self {
        Self {
            palette: render::stderr_palette(settings),
            verbose: settings.verbose > 0,
        }
    }
}

impl Terminal {
    /// `  hint: …`, one line each, under a warning or an error.
    fn hints(&self, hints: &[String]) {
        for hint in hints {
            eprintln!("  {} {hint}", self.palette.hint("hint:"));
        }
    }
}

impl Reporter for Terminal {
    fn say(&self, message: &str) {
        eprintln!("berth: {message}");
    }

    fn warn(&self, message: &str) {
        eprintln!("{} {message}", self.palette.warning("berth: warning:"));
    }

    fn warn_with_hints(&self, message: &str, hints: &[String]) {
        self.warn(message);
        self.hints(hints);
    }

    fn verbose(&self, message: &str) {
        if self.verbose {
            eprintln!("berth: {message}");
        }
    }

    fn problem(&self, message: &str, hints: &[String]) {
        eprintln!("{} {message}", self.palette.error("berth: error:"));
        self.hints(hints);
    }

    fn diagnosis(&self, report: &Report, full_checklist: &str) {
        for line in render::doctor_lines(report, self.palette) {
            eprintln!("{line}");
        }
        eprintln!("  full checklist: {full_checklist}");
    }

    fn waiting(&self, label: &str) -> Box<dyn Send> {
        let spinner = ProgressBar::new_spinner().with_message(label.to_owned());
        spinner.enable_steady_tick(Duration::from_millis(120));
        Box::new(Spinner(spinner))
    }

    fn counting_down(&self) -> Box<dyn Countdown> {
        let spinner = ProgressBar::new_spinner();
        spinner.enable_steady_tick(Duration::from_millis(120));
        Box::new(Spinner(spinner))
    }

    fn stats(&self, report: &str) {
        eprintln!("{report}");
    }

    fn progress(&self, hosts: Option<u64>) -> Box<dyn Progress> {
        // On stderr, only on a terminal.
        let bar = ProgressBar::with_draw_target(
            hosts,
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        match hosts {
            Some(_) => {
                if let Ok(style) =
                    ProgressStyle::with_template("{bar:30} {pos}/{len} hosts done {elapsed}")
                {
                    bar.set_style(style);
                }
            }
            None => bar.enable_steady_tick(Duration::from_millis(120)),
        }
        Box::new(Bar(bar))
    }
}

/// A progress bar (or spinner) on stderr.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn inc(&self) {
        self.0.inc(1);
    }

    fn message(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }

    fn echo(&self, text: &[u8], to_stderr: bool) {
        self.0.suspend(|| {
            // A closed stdout (`| head`) is no reason to stop the hosts.
            let _ = if to_stderr {
                std::io::stderr().lock().write_all(text)
            } else {
                std::io::stdout().lock().write_all(text)
            };
        });
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A spinner that clears itself when the wait is over.
struct Spinner(ProgressBar);

impl Countdown for Spinner {
    fn show(&self, label: &str) {
        self.0.set_message(label.to_owned());
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Chooses as `BERTH_PICKER` says, else with the built-in finder.
pub struct Picker {
    chooser: picker::Chooser,
    color: bool,
}

impl Picker {
    pub fn new(settings: &Settings) -> Self {
        Self {
            chooser: picker::Chooser::from_setting(settings.picker.as_deref()),
            color: settings.color_on(std::io::stderr().is_terminal()),
        }
    }
}

impl Chooser for Picker {
    fn choose(&self, offer: &Offer<'_>) -> Result<Choice, Error> {
        let offer = picker::Offer {
            prompt: offer.prompt,
            header: offer.header,
            rows: offer.rows,
            color: self.color,
        };
        Ok(picker::choose(&self.chooser, &offer)?)
    }

    fn host_lines(&self, hosts: &[Host], config_users: &[Option<String>]) -> (String, Vec<String>) {
        let rows: Vec<HostRow<'_>> = hosts
            .iter()
            .zip(config_users)
            .map(|(h, user)| HostRow::new(h, None, user.as_deref()))
            .collect();
        render::host_choices(&rows)
    }

    fn secret(&self, prompt: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Ok(None);
        }
        let typed = dialoguer::Password::new()
            .with_prompt(prompt)
            .interact()
            .map_err(|dialoguer::Error::IO(e)| e)?;
        Ok(Some(Zeroizing::new(typed.into_bytes())))
    }
}
