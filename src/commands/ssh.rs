//! `berth ssh TARGET [-- COMMAND]`: resolve, decide the route, plan, run
//! ssh; with `--open`, hold a temporary security-group rule for the
//! session; with a one-time key, push it right before ssh runs and remove
//! it when ssh ends; when ssh cannot connect, say which prerequisite fails.

use std::io::Write;

use serde_json::json;

use crate::app::host_keys;
use crate::app::pipeline::{
    Connection, Launch, Planned, SshExtras, check_key_file, plan_with_route, run_planned,
    with_raw_command,
};
use crate::app::request::Connect;
use crate::app::{Context, operator_address, resolve_host};
use crate::aws::Aws;
use crate::aws::stats::branch;
use crate::cli::{OutputFormat, SshArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::host::Host;
use crate::plan::route::RouteChoice;
use crate::plan::{self, Plan, Via};
use crate::transport::session::Interrupts;
use crate::ui::render;

pub async fn run(ctx: &Context, args: &SshArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let passthrough = args.passthrough();
    // An instance id's console output (for its host keys) is read while
    // the target resolves; a failed resolution drops the read.
    let early = async {
        Ok(if args.dry_run {
            None
        } else {
            host_keys::read_early(ctx, &connect.target, &passthrough).await
        })
    };
    let ((host, aws, plan, choice), early) =
        tokio::try_join!(branch(prepare(ctx, args, &connect)), branch(early))?;
    ctx.announce(
        &plan.warnings,
        &[choice.notes(), plan.notes.clone()].concat(),
    );
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => render::json(
                out,
                &json!({ "argv": plan.argv, "plan": plan, "route": choice }),
            )?,
            OutputFormat::Table => match &plan.instance_connect {
                Some(push) => writeln!(
                    out,
                    "{}  # {}: a one-time {} key, pushed for {} with EC2 Instance Connect first",
                    render::shell_words(&plan.argv),
                    plan::ONE_TIME_KEY,
                    push.key_type.label(),
                    push.os_user
                )?,
                None => writeln!(out, "{}", render::shell_words(&plan.argv))?,
            },
        }
        return Ok(0);
    }
    if let Some(file) = &plan.key {
        check_key_file(ctx, &file.path)?;
    }
    // From here on a Ctrl-C, SIGTERM or SIGHUP is ours to handle: it goes
    // to ssh, and berth still cleans up after it.
    let mut interrupts = Interrupts::install()?;
    let from = operator_address(ctx, &(&args.source).into()).await?;
    let port = args.port.unwrap_or(Protocol::Ssh.default_port());
    let launch = Launch {
        connection: Connection {
            remote_len: args.command.len(),
            passthrough: &passthrough,
            early,
            open: args.open.then_some((from, port)),
        },
        port,
        from,
    };
    let planned = Planned::new(&host, &aws, &connect, &plan, &choice);
    let outcome = run_planned(
        ctx,
        &planned,
        launch,
        |argv| with_raw_command(&argv, &args.command),
        &mut interrupts,
    )
    .await?;
    Ok(outcome.exit_code())
}

/// Resolves, decides the route and plans.
pub async fn prepare(
    ctx: &Context,
    args: &SshArgs,
    connect: &Connect,
) -> Result<(Host, Aws, Plan, RouteChoice), Error> {
    if let (Some(file), Some(Via::InstanceConnect)) = (&connect.identity, connect.via) {
        return Err(Error::usage(format!(
                "-i {} and --via instance-connect both choose the key",
                file.display()
            ), "drop -i to log in with a one-time key, or drop --via instance-connect to log in with the file".to_owned()));
    }
    let (host, aws) = resolve_host(ctx, connect).await?;
    let extras = SshExtras {
        port: args.port,
        passthrough: args.passthrough(),
        command: args
            .command
            .iter()
            .map(|word| word.to_string_lossy().into_owned())
            .collect(),
        ephemeral_key: args.ephemeral_key,
        ephemeral_key_type: args.ephemeral_key_type,
        dry_run: args.dry_run,
    };
    let (plan, choice) = plan_with_route(ctx, &aws, connect, &host, extras).await?;
    Ok((host, aws, plan, choice))
}
