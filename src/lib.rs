//! berth: get onto an Amazon ECS container instance in one command.
//!
//! The flow of one connect: `cli` (validate) → `settings` (resolve, no
//! network) → `target::parse` (pure) → `inventory` (AWS calls, cache) →
//! pick one → `plan` (pure) → `transport` (the only place that spawns).

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod echo;
pub mod error;
pub mod firewall;
pub mod fleet;
pub mod host_keys;
pub mod inventory;
pub mod picker;
pub mod plan;
pub mod private_files;
pub mod render;
pub mod secrets;
pub mod settings;
pub mod target;
pub mod transport;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;

use aws::stats::tracked;
use cli::{Cli, Command};
use commands::Context;
use error::Error;
use settings::Settings;

/// Runs one berth invocation and returns its exit status.
pub fn run(cli: &Cli) -> ExitCode {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let code = match execute(cli, &mut out) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            report(&e);
            e.exit_code()
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}

fn report(e: &Error) {
    eprintln!("berth: error: {e}");
    if let Some(hint) = e.hint() {
        eprintln!("  hint: {hint}");
    }
}

fn execute(cli: &Cli, out: &mut dyn Write) -> Result<u8, Error> {
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "berth", out);
            return Ok(0);
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(out)?;
            return Ok(0);
        }
        _ => {}
    }
    let ctx = Context::new(Settings::resolve(&cli.global)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = match &cli.command {
        Command::Ls(args) => runtime.block_on(tracked(commands::ls::run(&ctx, args, out))),
        Command::Show(args) => runtime.block_on(tracked(commands::show::run(&ctx, args, out))),
        Command::Doctor(args) => runtime.block_on(tracked(commands::doctor::run(&ctx, args, out))),
        Command::Ssh(args) => runtime.block_on(tracked(commands::ssh::run(&ctx, args, out))),
        Command::Rdp(args) => runtime.block_on(tracked(commands::rdp::run(&ctx, args, out))),
        Command::Run(args) => runtime.block_on(tracked(commands::run::run(&ctx, args, out))),
        Command::Exec(args) => runtime.block_on(tracked(commands::exec::run(&ctx, args, out))),
        Command::Logs(args) => runtime.block_on(tracked(commands::logs::run(&ctx, args, out))),
        Command::Maintain(args) => {
            runtime.block_on(tracked(commands::maintain::run(&ctx, args, out)))
        }
        Command::Cp(args) => runtime.block_on(tracked(commands::copy::cp(&ctx, args, out))),
        Command::Tunnel(args) => runtime.block_on(tracked(commands::copy::tunnel(&ctx, args, out))),
        Command::Proxy(args) => runtime.block_on(tracked(commands::proxy::run(&ctx, args))),
        Command::Completions { .. } | Command::Man => Ok(0),
    };
    ctx.print_stats();
    result
}
