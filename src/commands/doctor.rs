//! `berth doctor TARGET`: gather the facts every prerequisite depends on
//! (side by side), let [`crate::doctor::diagnose`] decide, print the
//! checklist. Also `--fix` (a temporary rule) and `--cleanup`.

use std::io::Write;

use crate::app::request::Connect;
use crate::cli::{DoctorArgs, OutputFormat, ProtocolArg};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::firewall::{self, Opened};
use crate::plan::Via;
use crate::plan::route::BastionSearch;
use crate::ui::render;

use crate::app::diagnose::{Probe, bastion, examine, first_group, needs_group_fix};
use crate::app::{Context, operator_address, resolve_host};

pub async fn run(ctx: &Context, args: &DoctorArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let Some(target) = &args.target else {
        return cleanup(ctx, args.all, out).await;
    };
    let connect = Connect {
        target: target.clone(),
        options: (&args.options).into(),
    };
    let (host, aws) = resolve_host(ctx, &connect).await?;
    let from = operator_address(ctx, &(&args.source).into()).await?;
    let protocol = match args.protocol {
        Some(ProtocolArg::Ssh) => Protocol::Ssh,
        Some(ProtocolArg::Rdp) => Protocol::Rdp,
        None => Protocol::for_os(host.os),
    };
    let port = args.port.unwrap_or(protocol.default_port());
    let via = crate::app::reach::requested_via(ctx, &connect, &host)?;
    let bastion = match via {
        Via::Auto | Via::Bastion => bastion(ctx, &aws, &connect, &host).await?,
        Via::Public | Via::Private | Via::InstanceConnect | Via::Eice => BastionSearch::NotNeeded,
    };
    let probe = Probe {
        protocol,
        port,
        from,
        via,
        bastion,
    };
    let mut report = Box::pin(examine(ctx, &aws, &host, &connect, &probe)).await?;

    if args.fix {
        let Some(cidr) = from else {
            return Err(Error::usage(
                "--fix needs your address".to_owned(),
                "pass --from YOUR-ADDRESS/32, set `from` in the config file, or use --detect-ip"
                    .to_owned(),
            ));
        };
        if needs_group_fix(&report) {
            let group = first_group(&host)?;
            let journal = ctx.journal()?;
            match firewall::open(&aws, &journal, &group, cidr, port, args.fix_for, false).await? {
                Opened::Added(rule) => eprintln!(
                    "berth: added to {group}: tcp/{port} from {cidr}, \"{}\"",
                    rule.description
                ),
                Opened::AlreadyAllowed => {
                    eprintln!("berth: {group} already allows tcp/{port} from {cidr}");
                }
            }
            report = Box::pin(examine(ctx, &aws, &host, &connect, &probe)).await?;
        } else {
            eprintln!("berth: --fix: no security group needs fixing");
        }
    }

    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &report)?,
        OutputFormat::Table => {
            render::doctor_text(out, &host, &report, render::stdout_palette(&ctx.settings))?;
        }
    }
    Ok(report.exit_code())
}

/// `doctor --cleanup`: remove leftover temporary rules.
async fn cleanup(ctx: &Context, all: bool, out: &mut dyn Write) -> Result<u8, Error> {
    // Not through ctx.inventory(): its automatic sweep would take the
    // leftovers first and leave this report empty.
    let aws = ctx.aws(None).await?;
    let journal = ctx.journal()?;
    let sweep = firewall::sweep(&aws, &journal, all).await?;
    if ctx.settings.output == OutputFormat::Json {
        render::json(out, &sweep)?;
        return Ok(if sweep.failed.is_empty() { 0 } else { 5 });
    }
    for removed in &sweep.removed {
        writeln!(out, "removed {removed}")?;
    }
    if sweep.removed.is_empty() {
        writeln!(out, "no leftover temporary rules")?;
    }
    if sweep.in_use > 0 {
        writeln!(
            out,
            "{} temporary rule(s) still in use by a running session or not yet expired (--all removes them too)",
            sweep.in_use
        )?;
    }
    if sweep.elsewhere > 0 {
        writeln!(
            out,
            "{} leftover rule(s) belong to another region or endpoint; run `berth doctor --cleanup` with its --region",
            sweep.elsewhere
        )?;
    }
    for failed in &sweep.failed {
        eprintln!("berth: could not remove {failed}");
    }
    Ok(if sweep.failed.is_empty() { 0 } else { 5 })
}
