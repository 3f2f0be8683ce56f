//! `berth ssh TARGET [-- COMMAND]`: resolve, plan, then hand over to ssh.

use std::io::Write;
use std::time::Instant;

use serde_json::json;

use crate::cli::{OutputFormat, SshArgs};
use crate::error::Error;
use crate::inventory::model::Host;
use crate::plan::{self, Plan, SshRequest};
use crate::render;
use crate::secrets::keys;
use crate::target;
use crate::transport;

use super::{Context, config_user, effective_via, find_hosts, pick_one};

/// Resolves and plans; returns the plan for the caller to run or print.
pub async fn prepare(ctx: &Context, args: &SshArgs) -> Result<(Host, Plan), Error> {
    let query = target::parse(&args.connect.target)?;
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let hosts = find_hosts(ctx, &inventory, &query, &args.connect.filters).await?;
    inventory.save();
    let host = pick_one(ctx, hosts, &query, args.connect.first)?;
    let started = Instant::now();
    let key = keys::find_key(
        args.connect.identity.as_deref(),
        host.ec2.key_name.as_deref(),
        &ctx.settings.config.key_dirs,
        ctx.settings.home.as_deref(),
    )?;
    let request = SshRequest {
        user: args.connect.user.clone(),
        config_user: config_user(ctx, &host),
        port: args.port,
        via: effective_via(ctx, &args.connect, &host),
        passthrough: args.passthrough(),
        remote_command: args.command.clone(),
        program: ctx.settings.ssh_program.clone(),
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
