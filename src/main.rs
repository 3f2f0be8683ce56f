//! The `berth` binary: parse the command line, run, exit with its status.
//! Everything else lives in the library (`berth::run`).

use std::process::ExitCode;

fn main() -> ExitCode {
    // A shell asking for completions (BERTH_COMPLETE=…) is answered here.
    berth::cli::completion::complete_from_env();
    berth::run(&berth::cli::Cli::from_process())
}
