//! `berth show TARGET`: the facts about one host, the route berth would
//! take (and why), and the plan it would follow, without connecting.

use std::io::Write;

use crate::app::request::Connect;
use crate::cli::{OutputFormat, ShowArgs};
use crate::error::{Cause, Error};
use crate::model::hint::Hint as _;
use crate::model::os::Login;
use crate::ui::render::{self, HostRow, Problem, ShowReport};

use crate::app::pipeline::{SshExtras, plan_with_route};
use crate::app::reach::Reach;
use crate::app::{Context, config_user, resolve_host};

pub async fn run(ctx: &Context, args: &ShowArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let connect = &connect;
    let (host, aws) = resolve_host(ctx, connect).await?;
    // A Windows host is for `berth rdp`: describe that plan instead.
    let (planned, rdp_planned) = match host.os.login() {
        Login::Rdp(_) => {
            let rdp = match crate::app::reach::reach(ctx, &aws, connect, &host).await {
                Ok(Reach { choice, .. }) => {
                    let options = crate::app::rdp::RdpOptions {
                        via: Some(choice.via()),
                        ..crate::app::rdp::RdpOptions::default()
                    };
                    crate::app::rdp::plan(ctx, connect, &host, options).map(|p| (p, choice))
                }
                Err(e) => Err(e),
            };
            (None, Some(rdp))
        }
        _ => (
            Some(
                plan_with_route(
                    ctx,
                    &aws,
                    connect,
                    &host,
                    SshExtras {
                        dry_run: true,
                        ..SshExtras::default()
                    },
                )
                .await,
            ),
            None,
        ),
    };
    let (plan, rdp, problem) = match (planned, rdp_planned) {
        (Some(Ok(plan)), _) => (Some(plan), None, None),
        (_, Some(Ok(rdp))) => (None, Some(rdp), None),
        (Some(Err(e)), _) => (None, None, Some(problem(e, "ssh")?)),
        (_, Some(Err(e))) => (None, None, Some(problem(e, "rdp")?)),
        (None, None) => (None, None, None),
    };
    let user = connect.user.clone();
    let configured = config_user(ctx, &host);
    let report = ShowReport {
        host: HostRow::new(&host, user.as_deref(), configured.as_deref()),
        vpc_id: host.ec2.vpc_id.as_deref(),
        subnet_id: host.ec2.subnet_id.as_deref(),
        security_groups: &host.ec2.security_groups,
        route: plan
            .as_ref()
            .map(|(_, c)| c)
            .or(rdp.as_ref().map(|(_, c)| c)),
        plan: plan.as_ref().map(|(p, _)| p),
        rdp: rdp.as_ref().map(|(p, _)| p),
        problem,
    };
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &report)?,
        OutputFormat::Table => render::show_text(out, &report)?,
    }
    Ok(0)
}

/// What cannot be planned is shown as the problem; AWS and usage errors
/// still end the command.
fn problem(e: Error, command: &'static str) -> Result<Problem, Error> {
    match e.cause() {
        Cause::Plan(e) => Ok(Problem::from(e)),
        Cause::Rdp(e) => Ok(Problem::from(e)),
        Cause::Route(e) => Ok(Problem {
            command,
            error: e.to_string(),
            hint: e.hint().unwrap_or_default(),
        }),
        _ => Err(e),
    }
}
