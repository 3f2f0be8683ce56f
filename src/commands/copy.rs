//! `berth cp` and `berth tunnel`: scp and `ssh -N -L` by the route, user
//! and key `berth ssh` would use, one-time keys and all.

use std::io::Write;

use crate::app::request::Connect;
use crate::cli::{CpArgs, OutputFormat, TunnelArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::plan::copy::{self, CopyPath};
use crate::transport::session::Interrupts;
use crate::ui::render;

use crate::app::pipeline::{
    Connection, Launch, Planned, SshExtras, plain_words, plan_with_route, run_planned,
};
use crate::app::{Context, resolve_host};

pub async fn cp(ctx: &Context, args: &CpArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let mut paths: Vec<CopyPath> = args.paths.iter().map(|p| copy::parse_path(p)).collect();
    let dest = paths.pop().unwrap_or(CopyPath::Local(".".to_owned()));
    copy::check_direction(&paths, &dest)?;
    let (host, aws) = resolve_host(ctx, &connect).await?;
    let extras = SshExtras {
        port: args.port,
        passthrough: connect.ssh_option_words(),
        dry_run: args.dry_run,
        ..SshExtras::default()
    };
    let (plan, choice) = plan_with_route(ctx, &aws, &connect, &host, extras).await?;
    ctx.announce(
        &plan.warnings,
        &[choice.notes(), plan.notes.clone()].concat(),
    );
    let scp = |ssh_argv: &[String]| {
        copy::scp_argv(
            &ctx.settings.scp_program,
            ssh_argv,
            args.recursive,
            &paths,
            &dest,
        )
    };
    if args.dry_run {
        print_argv(ctx, out, &scp(&plan.argv))?;
        return Ok(0);
    }
    let mut interrupts = Interrupts::install()?;
    let operator = connect.ssh_option_words();
    let planned = Planned::new(&host, &aws, &connect, &plan, &choice);
    let launch = Launch {
        connection: Connection {
            passthrough: &operator,
            ..Connection::plain()
        },
        port: args.port.unwrap_or(Protocol::Ssh.default_port()),
        from: None,
    };
    let outcome = run_planned(
        ctx,
        &planned,
        launch,
        |ssh_argv| plain_words(scp(&ssh_argv)),
        &mut interrupts,
    )
    .await?;
    Ok(outcome.exit_code())
}

pub async fn tunnel(ctx: &Context, args: &TunnelArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let specs = args
        .forwards
        .iter()
        .map(|f| copy::forward_spec(f))
        .collect::<Result<Vec<_>, _>>()?;
    let (host, aws) = resolve_host(ctx, &connect).await?;
    let mut passthrough = connect.ssh_option_words();
    passthrough.extend([
        "-N".to_owned(),
        "-o".to_owned(),
        "ExitOnForwardFailure=yes".to_owned(),
    ]);
    for spec in &specs {
        passthrough.push("-L".to_owned());
        passthrough.push(spec.clone());
    }
    let extras = SshExtras {
        passthrough,
        dry_run: args.dry_run,
        ..SshExtras::default()
    };
    let (plan, choice) = plan_with_route(ctx, &aws, &connect, &host, extras).await?;
    ctx.announce(
        &plan.warnings,
        &[choice.notes(), plan.notes.clone()].concat(),
    );
    if args.dry_run {
        print_argv(ctx, out, &plan.argv)?;
        return Ok(0);
    }
    let mut interrupts = Interrupts::install()?;
    let operator = connect.ssh_option_words();
    for spec in &specs {
        let (local, remote) = split_spec(spec);
        let name = host.name().map_or_else(String::new, |n| format!(" ({n})"));
        ctx.reporter.say(&format!(
            "forwarding {local} to {remote} on {}{name}; Ctrl-C to stop",
            host.instance_id()
        ));
    }
    let planned = Planned::new(&host, &aws, &connect, &plan, &choice);
    let launch = Launch {
        connection: Connection {
            passthrough: &operator,
            ..Connection::plain()
        },
        port: Protocol::Ssh.default_port(),
        from: None,
    };
    let outcome = run_planned(ctx, &planned, launch, plain_words, &mut interrupts).await?;
    // Ctrl-C is how a tunnel is meant to end.
    Ok(if outcome.interrupted_by.is_some() {
        0
    } else {
        outcome.exit_code()
    })
}

/// `A:P:H:Q` as (`A:P`, `H:Q`).
fn split_spec(spec: &str) -> (&str, &str) {
    let mut colons = spec.match_indices(':').map(|(i, _)| i);
    match colons.nth(1) {
        Some(i) => (&spec[..i], &spec[i + 1..]),
        None => (spec, ""),
    }
}

fn print_argv(ctx: &Context, out: &mut dyn Write, argv: &[String]) -> Result<(), Error> {
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &serde_json::json!({ "argv": argv }))?,
        OutputFormat::Table => writeln!(out, "{}", render::shell_words(argv))?,
    }
    Ok(())
}
