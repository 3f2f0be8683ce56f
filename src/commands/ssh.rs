//! `berth ssh TARGET [-- COMMAND]`: resolve, plan, then hand over to ssh.

use std::io::Write;
use std::time::Instant;

use serde_json::json;

use crate::cli::{OutputFormat, SshArgs};
use crate::error::Error;
use crate::inventory::model::Host;
use crate::plan::{self, Plan, SshRequest};
use crate::render;
use crate::transport;

use super::{Context, connect_request, resolve_one};

/// Resolves and plans; returns the plan for the caller to run or print.
pub async fn prepare(ctx: &Context, args: &SshArgs) -> Result<(Host, Plan), Error> {
    let host = resolve_one(ctx, &args.connect).await?;
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
    Ok((host, plan))
}

/// Prints or runs a prepared plan. On Unix a run does not return on success.
pub fn finish(
    ctx: &Context,
    args: &SshArgs,
    plan: &Plan,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    for warning in &plan.warnings {
        eprintln!("berth: warning: {warning}");
    }
    for note in &plan.notes {
        ctx.verbose(note);
    }
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => render::json(out, &json!({ "argv": plan.argv, "plan": plan }))?,
            OutputFormat::Table => writeln!(out, "{}", render::shell_words(&plan.argv))?,
        }
        ctx.print_stats();
        return Ok(0);
    }
    ctx.verbose(&format!("running {}", render::shell_words(&plan.argv)));
    ctx.print_stats();
    let status = transport::ssh::exec(&plan.argv)?;
    Ok(u8::try_from(status).unwrap_or(255))
}
