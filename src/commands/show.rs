//! `berth show TARGET`: the facts about one host and the plan berth would
//! follow, without connecting.

use std::io::Write;

use crate::cli::{OutputFormat, ShowArgs};
use crate::error::Error;
use crate::plan::{self, SshRequest};
use crate::render::{self, HostRow, Problem, ShowReport};
use crate::secrets::keys;
use crate::target;

use super::{Context, config_user, effective_via, find_hosts, pick_one};

pub async fn run(ctx: &Context, args: &ShowArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = &args.connect;
    let query = target::parse(&connect.target)?;
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let hosts = find_hosts(ctx, &inventory, &query, &connect.filters).await?;
    inventory.save();
    let host = pick_one(ctx, hosts, &query, connect.first)?;
    let key = keys::find_key(
        connect.identity.as_deref(),
        host.ec2.key_name.as_deref(),
        &ctx.settings.config.key_dirs,
        ctx.settings.home.as_deref(),
    )?;
    let config_user = config_user(ctx, &host);
    let request = SshRequest {
        user: connect.user.clone(),
        config_user: config_user.clone(),
        port: None,
        via: effective_via(ctx, connect, &host),
        passthrough: Vec::new(),
        remote_command: Vec::new(),
        program: ctx.settings.ssh_program.clone(),
    };
    let planned = plan::plan_ssh(&host, &request, &key);
    let mut row = HostRow::new(&host, config_user.as_deref());
    if let Some(user) = &connect.user {
        row.user = Some(user.clone());
        row.user_from = Some(plan::UserSource::Flag);
    }
    let report = ShowReport {
        host: row,
        vpc_id: host.ec2.vpc_id.as_deref(),
        subnet_id: host.ec2.subnet_id.as_deref(),
        security_groups: &host.ec2.security_groups,
        plan: planned.as_ref().ok(),
        problem: planned.as_ref().err().map(Problem::from),
    };
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &report)?,
        OutputFormat::Table => render::show_text(out, &report)?,
    }
    Ok(0)
}
