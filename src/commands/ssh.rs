//! `berth ssh TARGET [-- COMMAND]`: resolve, plan, run ssh; with `--open`,
//! hold a temporary security-group rule for the session; when ssh cannot
//! connect, say which prerequisite fails.

use std::io::Write;
use std::time::Instant;

use serde_json::json;

use crate::aws::Aws;
use crate::cli::{OutputFormat, SshArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::inventory::model::Host;
use crate::plan::{self, Plan, SshRequest};
use crate::render;
use crate::transport;
use crate::transport::session::Interrupts;

use super::session;
use super::{Context, connect_request, operator_address, resolve_host};

/// ssh's own status when it could not connect (or authenticate).
const SSH_FAILED: i32 = 255;

/// Resolves and plans.
pub async fn prepare(ctx: &Context, args: &SshArgs) -> Result<(Host, Aws, Plan), Error> {
    let (host, aws) = resolve_host(ctx, &args.connect).await?;
    let started = Instant::now();
    let (request, key) = connect_request(ctx, &args.connect, &host)?;
    let request = SshRequest {
        port: args.port,
        passthrough: args.passthrough(),
        remote_command: args.command.clone(),
        ..request
    };
    let plan = plan::plan_ssh(&host, &request, &key)?;
    ctx.log.phase("plan", started.elapsed());
    Ok((host, aws, plan))
}

pub async fn run(ctx: &Context, args: &SshArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let (host, aws, plan) = prepare(ctx, args).await?;
    ctx.announce(&plan.warnings, &plan.notes);
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => render::json(out, &json!({ "argv": plan.argv, "plan": plan }))?,
            OutputFormat::Table => writeln!(out, "{}", render::shell_words(&plan.argv))?,
        }
        return Ok(0);
    }
    // From here on a Ctrl-C, SIGTERM or SIGHUP is ours to handle: it goes
    // to ssh, and berth still cleans up after it.
    let mut interrupts = Interrupts::install()?;
    let from = operator_address(ctx, &args.source).await?;
    let port = args.port.unwrap_or(Protocol::Ssh.default_port());
    let opened = if args.open {
        session::open(ctx, &aws, &host, from, port).await?
    } else {
        None
    };
    ctx.verbose(&format!("running {}", render::shell_words(&plan.argv)));
    let outcome = transport::session::run(&plan.argv, &mut interrupts).await;
    // Diagnosed while an --open rule still stands, so that it is counted.
    if let Ok(o) = &outcome
        && o.code == SSH_FAILED
        && o.interrupted_by.is_none()
    {
        session::explain_failure(ctx, &aws, &host, &args.connect, Protocol::Ssh, port, from).await;
    }
    session::close(&aws, opened).await;
    Ok(outcome?.exit_code())
}
