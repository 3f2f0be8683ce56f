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
use crate::firewall::{self, Opened};
use crate::inventory::model::Host;
use crate::plan::{self, Plan, SshRequest};
use crate::render;
use crate::transport::session::{self, Interrupts};

use super::doctor::{doctor_command, examine, first_group};
use super::{Context, connect_request, effective_via, operator_address, resolve_host};

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
        return Ok(0);
    }
    // From here on a Ctrl-C, SIGTERM or SIGHUP is ours to handle: it goes
    // to ssh, and berth still cleans up after it.
    let mut interrupts = Interrupts::install()?;
    let from = operator_address(ctx, &args.source).await?;
    let port = args.port.unwrap_or(Protocol::Ssh.default_port());
    let opened = if args.open {
        let Some(cidr) = from else {
            return Err(Error::Usage {
                message: "--open needs your address".to_owned(),
                hint:
                    "pass --from YOUR-ADDRESS/32, set `from` in the config file, or use --detect-ip"
                        .to_owned(),
            });
        };
        let group = first_group(&host)?;
        let journal = ctx.journal()?;
        let opened = firewall::open(
            &aws,
            &journal,
            &group,
            cidr,
            port,
            firewall::SESSION_LIMIT,
            true,
        )
        .await?;
        match &opened {
            Opened::Added(_) => {
                eprintln!("berth: opened tcp/{port} from {cidr} in {group} for this session");
            }
            Opened::AlreadyAllowed => {
                eprintln!("berth: {group} already allows tcp/{port} from {cidr}");
            }
        }
        Some((journal, opened))
    } else {
        None
    };

    ctx.verbose(&format!("running {}", render::shell_words(&plan.argv)));
    let outcome = session::run(&plan.argv, &mut interrupts).await;

    if let Some((journal, Opened::Added(rule))) = &opened {
        match firewall::close(&aws, journal, rule).await {
            Ok(_) => eprintln!(
                "berth: removed the temporary rule from {} ({} port {})",
                rule.group_id, rule.cidr, rule.port
            ),
            Err(e) => eprintln!(
                "berth: warning: could not remove the temporary rule from {}: {e}; the next berth run (or `berth doctor --cleanup`) will",
                rule.group_id
            ),
        }
    }
    let outcome = outcome?;
    if outcome.code == SSH_FAILED && outcome.interrupted_by.is_none() {
        Box::pin(explain_failure(ctx, &aws, &host, args, port, from)).await;
    }
    Ok(outcome.exit_code())
}

/// After ssh exited 255: run doctor's checks and print what fails.
async fn explain_failure(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    args: &SshArgs,
    port: u16,
    from: Option<ipnet::IpNet>,
) {
    let via = effective_via(ctx, &args.connect, host);
    eprintln!(
        "berth: ssh exited 255 (it could not connect or log in); checking the prerequisites…"
    );
    match Box::pin(examine(
        ctx,
        aws,
        host,
        &args.connect,
        Protocol::Ssh,
        port,
        from,
        via,
    ))
    .await
    {
        Ok(report) => {
            let problems: Vec<_> = report.problems().cloned().collect();
            if problems.is_empty() {
                eprintln!("berth: every prerequisite berth can see holds; see ssh's message above");
            }
            let shown = crate::doctor::Report {
                findings: problems,
                ..report
            };
            for line in render::doctor_lines(&shown) {
                eprintln!("{line}");
            }
            let again = doctor_command(&args.connect.target, Protocol::Ssh, via, port, from);
            eprintln!("  full checklist: {again}");
        }
        Err(e) => eprintln!("berth: could not check the prerequisites: {e}"),
    }
}
