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
use crate::plan::{self, Plan, Route, SshRequest, Via};
use crate::render;
use crate::transport;
use crate::transport::session::Interrupts;

use super::session;
use super::{
    Context, connect_request, eice, jump_connect, operator_address, resolve_host, resolve_one,
};

/// ssh's own status when it could not connect (or authenticate).
const SSH_FAILED: i32 = 255;

/// Resolves and plans.
pub async fn prepare(ctx: &Context, args: &SshArgs) -> Result<(Host, Aws, Plan), Error> {
    let (host, aws) = resolve_host(ctx, &args.connect).await?;
    let proxy = match &args.jump {
        Some(jump) => Some(jump_proxy(ctx, args, jump).await?),
        None => None,
    };
    let started = Instant::now();
    let (request, key) = connect_request(ctx, &args.connect, &host)?;
    let mut passthrough = args.passthrough();
    if let Some((proxy, _)) = &proxy {
        passthrough.extend(["-o".to_owned(), format!("ProxyCommand={proxy}")]);
    } else if request.via == Via::Eice {
        let proxy = eice::ssh_proxy_command(ctx, &aws.region, host.instance_id());
        passthrough.extend(["-o".to_owned(), format!("ProxyCommand={proxy}")]);
    }
    let request = SshRequest {
        port: args.port,
        passthrough,
        remote_command: args.command.clone(),
        // From the jump host the target is inside the VPC.
        via: if proxy.is_some() {
            Via::Private
        } else {
            request.via
        },
        ..request
    };
    let mut plan = plan::plan_ssh(&host, &request, &key)?;
    if let Some((_, jump)) = proxy {
        plan.notes.push(format!("through the jump host {jump}"));
    }
    ctx.log.phase("plan", started.elapsed());
    Ok((host, aws, plan))
}

/// `--jump`: the ProxyCommand that reaches the host through the jump host,
/// and the jump host's label.
async fn jump_proxy(ctx: &Context, args: &SshArgs, jump: &str) -> Result<(String, String), Error> {
    let connect = jump_connect(jump, &args.connect.options);
    let jump_host = resolve_one(ctx, &connect).await?;
    let (request, key) = connect_request(ctx, &connect, &jump_host)?;
    let request = SshRequest {
        passthrough: vec!["-W".to_owned(), plan::JUMP_FORWARD.to_owned()],
        ..request
    };
    let jump_plan = plan::plan_ssh(&jump_host, &request, &key)?;
    Ok((plan::proxy_command(&jump_plan.argv), jump_host.label()))
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
    if plan.route == Route::Eice {
        // ssh would only say that its ProxyCommand closed the connection.
        eice::endpoint_for(&aws, &host).await?;
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
