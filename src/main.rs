//! The `berth` binary: parse the command line, run, exit with its status.
//! Everything else lives in the library (`berth::run`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    berth::run(&berth::cli::Cli::parse())
}
