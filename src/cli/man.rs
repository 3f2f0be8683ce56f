//! `berth man`: manual pages (roff) from the same clap definitions as
//! `--help`: berth's own page, one command's, or every page into a folder.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;
use crate::error::Error;

/// Writes berth's page, or `command`'s (`berth-ssh`), to `out`; with `dir`,
/// writes every page (berth.1, berth-ssh.1, …) there and names them on `out`.
pub fn write(command: Option<&str>, dir: Option<&Path>, out: &mut dyn Write) -> Result<(), Error> {
    // Each page's title carries berth's version.
    let mut berth = Cli::command()
        .disable_help_subcommand(true)
        .mut_subcommands(|c| c.version(env!("CARGO_PKG_VERSION")));
    berth.build();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(berth.clone(), dir))
            .map_err(|e| {
                Error::usage(
                    format!("cannot write the man pages into {}: {e}", dir.display()),
                    "give --dir a folder you can write to".to_owned(),
                )
            })?;
        let mut pages: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("berth") && n.ends_with(".1"))
            })
            .collect();
        pages.sort();
        for page in pages {
            writeln!(out, "{}", page.display())?;
        }
        return Ok(());
    }
    let page = match command {
        None => berth,
        Some(name) => berth.find_subcommand(name).cloned().ok_or_else(|| {
            Error::usage(
                format!("berth has no command `{name}`"),
                format!(
                    "one of: {}",
                    berth
                        .get_subcommands()
                        .filter(|c| !c.is_hide_set())
                        .map(clap::Command::get_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
    };
    clap_mangen::Man::new(page).render(out)?;
    Ok(())
}
