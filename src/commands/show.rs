//! `berth show TARGET`: the facts about one host and the plan berth would
//! follow, without connecting.

use std::io::Write;

use crate::cli::{OutputFormat, ShowArgs};
use crate::error::Error;
use crate::inventory::os::Login;
use crate::plan::{self, Via};
use crate::render::{self, HostRow, Problem, ShowReport};

use super::{Context, connect_request, resolve_host};

pub async fn run(ctx: &Context, args: &ShowArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let (host, aws) = resolve_host(ctx, &args.connect).await?;
    let (mut request, key) = connect_request(ctx, &args.connect, &host)?;
    if request.via == Via::Eice {
        let proxy = super::eice::ssh_proxy_command(ctx, &aws.region, host.instance_id());
        request.passthrough = vec!["-o".to_owned(), format!("ProxyCommand={proxy}")];
    }
    // A Windows host is for `berth rdp`: describe that plan instead.
    let rdp_planned = match host.os.login() {
        Login::Rdp(_) => Some(
            match super::rdp::plan(ctx, &args.connect, &host, super::rdp::RdpOptions::default()) {
                Ok(plan) => Ok(plan),
                Err(Error::Rdp(e)) => Err(e),
                Err(other) => return Err(other),
            },
        ),
        _ => None,
    };
    let planned = plan::plan_ssh(&host, &request, &key);
    let row = HostRow::new(
        &host,
        request.user.as_deref(),
        request.config_user.as_deref(),
    );
    let report = ShowReport {
        host: row,
        vpc_id: host.ec2.vpc_id.as_deref(),
        subnet_id: host.ec2.subnet_id.as_deref(),
        security_groups: &host.ec2.security_groups,
        plan: planned.as_ref().ok(),
        rdp: rdp_planned.as_ref().and_then(|p| p.as_ref().ok()),
        problem: match &rdp_planned {
            Some(rdp) => rdp.as_ref().err().map(Problem::from),
            None => planned.as_ref().err().map(Problem::from),
        },
    };
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &report)?,
        OutputFormat::Table => render::show_text(out, &report)?,
    }
    Ok(0)
}
