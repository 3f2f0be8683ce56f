//! `berth ssh TARGET [-- COMMAND]`: the one pipeline (`app::pipeline`)
//! with ssh's own options: `-p`, `-L/-R/-D/-A/-t`, a one-time key, the
//! remote command as given, and `--open` for a temporary rule.

use std::io::Write;

use serde_json::json;

use crate::app::pipeline::{self, Connection, Launch, SshExtras, with_raw_command};
use crate::app::request::Connect;
use crate::app::{Context, host_keys, operator_address};
use crate::aws::stats::branch;
use crate::cli::{OutputFormat, SshArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::route::Route;
use crate::plan;
use crate::ui::render;

pub async fn run(ctx: &Context, args: &SshArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let passthrough = args.passthrough();
    let extras = SshExtras {
        port: args.port,
        passthrough: passthrough.clone(),
        command: args
            .command
            .iter()
            .map(|word| word.to_string_lossy().into_owned())
            .collect(),
        ephemeral_key: args.ephemeral_key,
        ephemeral_key_type: args.ephemeral_key_type,
        dry_run: args.dry_run,
    };
    // An instance id's console output (for its host keys) is read while
    // the target resolves; a failed resolution drops the read.
    let early = async {
        Ok(if args.dry_run {
            None
        } else {
            host_keys::read_early(ctx, &connect.target, &passthrough).await
        })
    };
    let (session, early) = tokio::try_join!(
        branch(pipeline::connect(ctx, &connect, extras)),
        branch(early)
    )?;
    if args.open && session.choice.route == Route::Ssm {
        return Err(Error::usage(
            "--open admits your address to the host's port, and --via ssm needs no open port",
            "drop --open: Session Manager reaches the host through its agent's own connection",
        ));
    }
    let plan = &session.plan;
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => render::json(
                out,
                &json!({ "argv": plan.argv, "plan": plan, "route": session.choice }),
            )?,
            OutputFormat::Table => match &plan.instance_connect {
                Some(push) => writeln!(
                    out,
                    "{}  # {}: a one-time {} key, pushed for {} with EC2 Instance Connect first",
                    render::shell_words(&plan.argv),
                    plan::ONE_TIME_KEY,
                    push.key_type.label(),
                    push.os_user
                )?,
                None => render::argv(out, OutputFormat::Table, &plan.argv)?,
            },
        }
        if ctx.settings.output == OutputFormat::Table {
            render::auto_route_note(out, &session.choice)?;
        }
        return Ok(0);
    }
    let from = operator_address(ctx, &(&args.source).into()).await?;
    let port = args.port.unwrap_or(Protocol::Ssh.default_port());
    let launch = Launch {
        connection: Connection {
            remote_len: args.command.len(),
            passthrough: &passthrough,
            early,
            open: args.open.then_some((from, port)),
        },
        port,
        from,
        // A person's session may be handed to ssh (exec).
        replace: true,
    };
    let outcome = session
        .run(ctx, launch, |argv| with_raw_command(&argv, &args.command))
        .await?;
    Ok(outcome.exit_code())
}
