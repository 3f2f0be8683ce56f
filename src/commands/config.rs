//! `berth config`: the effective settings and where each came from (a
//! flag, an environment variable, a key of the config file, or the
//! default). Makes no AWS call.

use std::io::Write;

use crate::cli::OutputFormat;
use crate::error::Error;
use crate::settings::Settings;
use crate::ui::render;

pub fn run(settings: &Settings, out: &mut dyn Write) -> Result<u8, Error> {
    match settings.output {
        OutputFormat::Json => render::json(out, &settings.effective)?,
        OutputFormat::Table => render::settings_table(out, &settings.effective)?,
    }
    Ok(0)
}
