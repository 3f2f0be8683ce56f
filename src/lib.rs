//! berth: get onto an Amazon ECS container instance in one command.
//!
//! The flow of one connect: `cli` (validate) → `settings` (resolve, no
//! network) → `target::parse` (pure) → `inventory` (AWS calls, cache) →
//! pick one → `plan` (pure) → `transport` (the only place that spawns).

pub mod app;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod effective;
pub mod error;
pub mod firewall;
pub mod fleet;
pub mod host_keys;
pub mod inventory;
pub mod model;
pub mod plan;
pub mod platform;
pub mod secrets;
pub mod settings;
pub mod ssh_config;
pub mod transport;
pub mod ui;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use aws::stats::tracked;
use cli::{Cli, Command};
use commands::Context;
use error::Error;
use settings::Settings;

/// Runs one berth invocation and returns its exit status.
pub fn run(cli: &Cli) -> ExitCode {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    // Until the settings are resolved (a bad config file): flag, else NO_COLOR.
    let mut colour = match cli.global.color {
        Some(cli::ColorChoice::Always) => true,
        Some(cli::ColorChoice::Never) => false,
        _ => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    } && io::stderr().is_terminal();
    let code = match execute(cli, &mut out, &mut colour) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            report(&e, ui::render::Palette::new(colour));
            e.exit_code()
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}

fn report(e: &Error, palette: ui::render::Palette) {
    eprintln!("{} {e}", palette.error("berth: error:"));
    for hint in e.hints() {
        eprintln!("  {} {hint}", palette.hint("hint:"));
    }
}

/// Runs the command; `colour` learns whether stderr is to be coloured
/// once the settings say.
fn execute(cli: &Cli, out: &mut dyn Write, colour: &mut bool) -> Result<u8, Error> {
    match &cli.command {
        Command::Completions { shell } => {
            cli::completion::write_registration(*shell, out)?;
            return Ok(0);
        }
        Command::Man { command, dir } => {
            cli::man::write(command.as_deref(), dir.as_deref(), out)?;
            return Ok(0);
        }
        _ => {}
    }
    let mut settings = Settings::resolve(&(&cli.global).into())?;
    *colour = settings.color_on(io::stderr().is_terminal());
    if let Command::Proxy(_) = &cli.command {
        // ssh's ProxyCommand: its stderr is the user's terminal, mid-login.
        settings.progress = false;
    }
    if let Command::Doctor(_) | Command::Maintain(_) = &cli.command {
        // doctor checks the instances as they are now, and maintain drains
        // them: never as they were a minute ago.
        settings.cache_ttl = std::time::Duration::ZERO;
    }
    if let Command::Config = &cli.command {
        return commands::config::run(&settings, out);
    }
    let ctx = Context::new(
        settings.clone(),
        Box::new(ui::reporter::Terminal::new(&settings)),
        Box::new(ui::reporter::Picker::new(&settings)),
    );
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
        Command::Session(args) => runtime.block_on(tracked(commands::session::run(&ctx, args))),
        Command::Logs(args) => runtime.block_on(tracked(commands::logs::run(&ctx, args, out))),
        Command::Maintain(args) => {
            runtime.block_on(tracked(commands::maintain::run(&ctx, args, out)))
        }
        Command::Cp(args) => runtime.block_on(tracked(commands::copy::cp(&ctx, args, out))),
        Command::Tunnel(args) => runtime.block_on(tracked(commands::copy::tunnel(&ctx, args, out))),
        Command::Proxy(args) => runtime.block_on(tracked(commands::proxy::run(&ctx, args))),
        Command::SshConfig(args) => {
            runtime.block_on(tracked(commands::ssh_config::run(&ctx, args, out)))
        }
        Command::Completions { .. } | Command::Man { .. } | Command::Config => Ok(0),
    };
    // A connection that failed (or a host that no longer fits) may have
    // been planned from stale cached facts: the next run asks AWS.
    let failed = match &result {
        Ok(code) => *code == error::CONNECTION_FAILED,
        Err(e) => matches!(e.exit_code(), 3 | 4 | error::CONNECTION_FAILED),
    };
    if failed {
        ctx.forget_cached_hosts();
    }
    ctx.report_stats();
    result
}
