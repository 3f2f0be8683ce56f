//! `berth cp` and `berth tunnel`: scp and `ssh -N -L` by the route, user
//! and key `berth ssh` would use, one-time keys and all, through the one
//! pipeline (`app::pipeline`); on the `ssm` route a tunnel is berth's own
//! forwarder over Session Manager port sessions (`app::tunnel` decides).

use std::io::Write;

use crate::app::Context;
use crate::app::pipeline::{self, Connection, Launch, SshExtras, plain_words};
use crate::app::request::Connect;
use crate::app::tunnel::{self, TunnelPlan};
use crate::cli::{CpArgs, OutputFormat, TunnelArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::plan::copy::{self, CopyPath};
use crate::ui::render;

pub async fn cp(ctx: &Context, args: &CpArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let mut paths: Vec<CopyPath> = args.paths.iter().map(|p| copy::parse_path(p)).collect();
    let dest = paths.pop().unwrap_or(CopyPath::Local(".".to_owned()));
    copy::check_direction(&paths, &dest)?;
    let extras = SshExtras {
        port: args.port,
        passthrough: connect.ssh_option_words(),
        dry_run: args.dry_run,
        ..SshExtras::default()
    };
    let session = pipeline::connect(ctx, &connect, extras).await?;
    let scp = |ssh_argv: &[String]| {
        let program = &ctx.settings.scp_program;
        copy::scp_argv(program, ssh_argv, args.recursive, &paths, &dest)
    };
    if args.dry_run {
        render::argv(out, ctx.settings.output, &scp(&session.plan.argv))?;
        return Ok(0);
    }
    let operator = connect.ssh_option_words();
    let launch = Launch {
        connection: Connection {
            passthrough: &operator,
            ..Connection::plain()
        },
        port: args.port.unwrap_or(Protocol::Ssh.default_port()),
        from: None,
        replace: false,
    };
    let outcome = session
        .run(ctx, launch, |ssh_argv| plain_words(scp(&ssh_argv)))
        .await?;
    Ok(outcome.exit_code())
}

pub async fn tunnel(ctx: &Context, args: &TunnelArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let specs = args
        .forwards
        .iter()
        .map(|f| copy::forward_spec(f))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = tunnel::plan(ctx, &connect, &specs, args.dry_run).await?;
    let format = ctx.settings.output;
    if args.dry_run {
        let choice = match &plan {
            TunnelPlan::Ssm {
                forwards, choice, ..
            } => {
                render::ssm_tunnel_plan(out, format, forwards)?;
                choice
            }
            TunnelPlan::Ssh { session, .. } => {
                render::argv(out, format, &session.plan.argv)?;
                &session.choice
            }
        };
        if format == OutputFormat::Table {
            render::auto_route_note(out, choice)?;
        }
        return Ok(0);
    }
    tunnel::run(ctx, &connect, plan, &mut |listening| {
        Ok(render::ssm_listening(out, format, listening)?)
    })
    .await
}
