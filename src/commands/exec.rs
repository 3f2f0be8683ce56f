//! `berth exec TARGET [--container NAME] [--engine E] [-- COMMAND]`: into a
//! task's container, through ECS Exec (`app::exec`) or with `docker exec`
//! over ssh through the one pipeline (`app::pipeline`).

use std::io::{self, IsTerminal, Write};

use crate::app::Context;
use crate::app::exec::{self, Entry, ExecRequest};
use crate::app::pipeline::{self, Connection, Launch, SshExtras, plain_words};
use crate::app::request::Connect;
use crate::cli::{ExecArgs, OutputFormat};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::plan::exec::docker_exec;
use crate::ui::{render, term};

pub async fn run(ctx: &Context, args: &ExecArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let request = ExecRequest {
        connect: connect.clone(),
        container: args.container.clone(),
        command: args.command.clone(),
        engine: args.engine,
    };
    let terminal = io::stdin().is_terminal();
    let (host, aws, container) = match exec::entry(ctx, &request).await? {
        Entry::EcsExec(target) => {
            connect.refuse_ssh_options("ECS Exec goes through Session Manager")?;
            if args.dry_run {
                let words = exec::ecs_exec_words(&target, &args.command, terminal);
                render::argv(out, ctx.settings.output, &words)?;
                return Ok(0);
            }
            let console = term::console()?;
            return exec::ecs_exec(ctx, &target, &args.command, connect.resume_for, console).await;
        }
        Entry::Docker(target) => (target.host, target.aws, target.container),
    };
    let mut passthrough = connect.ssh_option_words();
    if terminal {
        passthrough.push("-t".to_owned());
    }
    let extras = SshExtras {
        passthrough: passthrough.clone(),
        command: docker_exec(&container.runtime_id, &args.command, terminal),
        dry_run: args.dry_run,
        ..SshExtras::default()
    };
    let remote_len = extras.command.len();
    let notes = vec![format!("container: {}", container.label())];
    let session = pipeline::plan_session(ctx, &connect, host, aws, extras, notes).await?;
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => render::json(
                out,
                &serde_json::json!({
                    "argv": session.plan.argv,
                    "container": { "name": container.name, "runtime_id": container.runtime_id,
                                   "task_arn": container.task_arn },
                }),
            )?,
            OutputFormat::Table => render::argv(out, OutputFormat::Table, &session.plan.argv)?,
        }
        return Ok(0);
    }
    let launch = Launch {
        connection: Connection {
            remote_len,
            passthrough: &passthrough,
            early: None,
            open: None,
        },
        port: Protocol::Ssh.default_port(),
        from: None,
        replace: false,
    };
    let outcome = session.run(ctx, launch, plain_words).await?;
    Ok(outcome.exit_code())
}
