//! `berth exec TARGET [--container NAME] [-- COMMAND]`: into a task's
//! container on its host, with `docker exec` over ssh.

use std::io::{IsTerminal, Write};

use crate::app::request::Connect;
use crate::cli::{ExecArgs, OutputFormat};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::transport::session::Interrupts;
use crate::ui::render;

use crate::app::pipeline::{
    Connection, Launch, Planned, SshExtras, plain_words, plan_with_route, run_planned,
};
use crate::app::{Context, exec, resolve_host};

pub async fn run(ctx: &Context, args: &ExecArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let (host, aws) = resolve_host(ctx, &connect).await?;
    let container = exec::container(
        ctx,
        &aws,
        &host,
        &Connect::from(&args.connect),
        args.container.as_deref(),
    )
    .await?;
    let terminal = std::io::stdin().is_terminal();
    let extras = SshExtras {
        port: None,
        passthrough: [
            connect.ssh_option_words(),
            if terminal {
                vec!["-t".to_owned()]
            } else {
                vec![]
            },
        ]
        .concat(),
        command: crate::plan::exec::docker_exec(&container.runtime_id, &args.command, terminal),
        dry_run: args.dry_run,
        ..SshExtras::default()
    };
    let remote_len = extras.command.len();
    let passthrough = extras.passthrough.clone();
    let (plan, choice) = plan_with_route(ctx, &aws, &connect, &host, extras).await?;
    let notes = [
        choice.notes(),
        vec![format!("container: {}", container.label())],
        plan.notes.clone(),
    ]
    .concat();
    ctx.announce(&plan.warnings, &notes);
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => render::json(
                out,
                &serde_json::json!({
                    "argv": plan.argv,
                    "container": { "name": container.name, "runtime_id": container.runtime_id,
                                   "task_arn": container.task_arn },
                }),
            )?,
            OutputFormat::Table => writeln!(out, "{}", render::shell_words(&plan.argv))?,
        }
        return Ok(0);
    }
    let mut interrupts = Interrupts::install()?;
    let launch = Launch {
        connection: Connection {
            remote_len,
            passthrough: &passthrough,
            early: None,
            open: None,
        },
        port: Protocol::Ssh.default_port(),
        from: None,
    };
    let planned = Planned::new(&host, &aws, &connect, &plan, &choice);
    let outcome = run_planned(ctx, &planned, launch, plain_words, &mut interrupts).await?;
    Ok(outcome.exit_code())
}
