use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    berth::run(&berth::cli::Cli::parse())
}
