//! `berth doctor TARGET`: the checklist of every prerequisite (the facts
//! are gathered and `--fix` applied by `app::diagnose`); `--cleanup`
//! removes leftover temporary rules.

use std::io::Write;

use crate::app::Context;
use crate::app::diagnose::{self, DoctorRequest};
use crate::app::exec;
use crate::app::request::Connect;
use crate::cli::{DoctorArgs, OutputFormat, ProtocolArg};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::ui::render;

pub async fn run(ctx: &Context, args: &DoctorArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let Some(target) = &args.target else {
        return cleanup(ctx, args.all, out).await;
    };
    let request = DoctorRequest {
        connect: Connect {
            target: target.clone(),
            options: (&args.options).into(),
        },
        source: (&args.source).into(),
        protocol: args.protocol.map(|p| match p {
            ProtocolArg::Ssh => Protocol::Ssh,
            ProtocolArg::Rdp => Protocol::Rdp,
        }),
        port: args.port,
        fix: args.fix.then_some(args.fix_for),
    };
    // A task or service target: ECS Exec's checks, then (a task on EC2)
    // its host's routes.
    if let Some((task, exec_report)) =
        exec::doctor(ctx, &request.connect, args.container.as_deref()).await?
    {
        let host = if task.container_instance_arn.is_some() {
            Some(diagnose::check(ctx, &request).await?)
        } else {
            None
        };
        match ctx.settings.output {
            OutputFormat::Json => render::json(
                out,
                &serde_json::json!({
                    "ecs_exec": exec_report,
                    "host": host.as_ref().map(|(_, report)| report),
                }),
            )?,
            OutputFormat::Table => {
                let palette = render::stdout_palette(&ctx.settings);
                render::doctor_exec_text(out, &exec_report, palette)?;
                if let Some((host, report)) = &host {
                    writeln!(out)?;
                    render::doctor_text(out, host, report, palette)?;
                }
            }
        }
        let host_works = host.is_some_and(|(_, report)| report.exit_code() == 0);
        return Ok(if host_works {
            0
        } else {
            exec_report.exit_code()
        });
    }
    let (host, report) = diagnose::check(ctx, &request).await?;
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
    let sweep = diagnose::sweep_leftovers(ctx, all).await?;
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
        ctx.reporter.say(&format!("could not remove {failed}"));
    }
    Ok(if sweep.failed.is_empty() { 0 } else { 5 })
}
