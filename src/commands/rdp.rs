//! `berth rdp TARGET`: the arguments to an [`RdpRequest`], then the dry
//! run's plan, the password, or the client's exit code.

use std::io::Write;

use serde_json::json;

use crate::app::Context;
use crate::app::rdp::{self, Handover, RdpRequest};
use crate::cli::{OutputFormat, RdpArgs};
use crate::error::Error;
use crate::ui::render;

impl From<&RdpArgs> for RdpRequest {
    fn from(args: &RdpArgs) -> Self {
        Self {
            connect: (&args.connect).into(),
            source: (&args.source).into(),
            port: args.port,
            wait: args.wait,
            passphrase_file: args.passphrase_file.clone(),
            client: args.client.clone(),
            rdp_file: args.rdp_file.clone(),
            print_password: args.print_password,
            dry_run: args.dry_run,
            open: args.open,
        }
    }
}

/// Resolves, plans, gets the password, then prints, writes or runs the plan.
pub async fn run(ctx: &Context, args: &RdpArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let request = RdpRequest::from(args);
    let prepared = rdp::prepare(ctx, &request).await?;
    let plan = &prepared.plan;
    if request.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => {
                let client = plan.steps.last().map(|s| &s.argv);
                let route = &prepared.route;
                render::json(
                    out,
                    &json!({ "argv": client, "plan": plan, "route": route }),
                )?;
            }
            OutputFormat::Table => {
                render::rdp_steps(out, plan)?;
                render::auto_route_note(out, &prepared.route)?;
            }
        }
        return Ok(0);
    }
    match rdp::hand_over(ctx, &request, &prepared).await? {
        Handover::Exit(code) => Ok(code),
        Handover::PrintPassword(password) => {
            writeln!(out, "{}", password.expose())?;
            Ok(0)
        }
    }
}
