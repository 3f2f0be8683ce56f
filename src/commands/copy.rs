//! `berth cp` and `berth tunnel`: scp and `ssh -N -L` by the route, user
//! and key `berth ssh` would use, one-time keys and all, through the one
//! pipeline (`app::pipeline`); `tunnel --via ssm` is berth's own forwarder
//! over Session Manager port sessions (`app::ports`).

use std::io::Write;

use crate::app::Context;
use crate::app::pipeline::{self, Connection, Launch, SshExtras, plain_words};
use crate::app::ports::{self, PortForward};
use crate::app::request::Connect;
use crate::cli::{CpArgs, TunnelArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::plan::Via;
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
    if connect.via == Some(Via::Ssm) {
        // berth's own forwarder over Session Manager port sessions.
        let forwards: Vec<PortForward> = specs
            .iter()
            .filter_map(|s| PortForward::from_spec(s))
            .collect();
        if args.dry_run {
            render::ssm_tunnel_plan(out, ctx.settings.output, &forwards)?;
            return Ok(0);
        }
        let format = ctx.settings.output;
        return ports::tunnel(ctx, &connect, &forwards, &mut |listening| {
            Ok(render::ssm_listening(out, format, listening)?)
        })
        .await;
    }
    let mut passthrough = connect.ssh_option_words();
    passthrough.extend(["-N", "-o", "ExitOnForwardFailure=yes"].map(str::to_owned));
    for spec in &specs {
        passthrough.extend(["-L".to_owned(), spec.clone()]);
    }
    let extras = SshExtras {
        passthrough,
        dry_run: args.dry_run,
        ..SshExtras::default()
    };
    let session = pipeline::connect(ctx, &connect, extras).await?;
    if args.dry_run {
        render::argv(out, ctx.settings.output, &session.plan.argv)?;
        return Ok(0);
    }
    let host = &session.host;
    for spec in &specs {
        let (local, remote) = copy::split_forward(spec);
        let name = host.name().map_or_else(String::new, |n| format!(" ({n})"));
        ctx.reporter.say(&format!(
            "forwarding {local} to {remote} on {}{name}; Ctrl-C to stop",
            host.instance_id()
        ));
    }
    let operator = connect.ssh_option_words();
    let launch = Launch {
        connection: Connection {
            passthrough: &operator,
            ..Connection::plain()
        },
        port: Protocol::Ssh.default_port(),
        from: None,
    };
    let outcome = session.run(ctx, launch, plain_words).await?;
    // Ctrl-C is how a tunnel is meant to end.
    Ok(if outcome.interrupted_by.is_some() {
        0
    } else {
        outcome.exit_code()
    })
}
