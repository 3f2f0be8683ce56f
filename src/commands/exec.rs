//! `berth exec TARGET [--container NAME] [-- COMMAND]`: into a task's
//! container on its host, with `docker exec` over ssh.

use std::io::{IsTerminal, Write};

use crate::app::request::Connect;
use crate::aws::Aws;
use crate::cli::{ExecArgs, OutputFormat};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::target::Target;
use crate::plan::exec::{self, ContainerChoice, ExecError};
use crate::transport::session::Interrupts;
use crate::ui::render;

use crate::app::pipeline::{
    Connection, Launch, Planned, SshExtras, plain_words, plan_with_route, run_planned,
};
use crate::app::{Context, resolve_host};

pub async fn run(ctx: &Context, args: &ExecArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let (host, aws) = resolve_host(ctx, &connect).await?;
    let container = container(ctx, &aws, &host, args).await?;
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
        command: exec::docker_exec(&container.runtime_id, &args.command, terminal),
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

/// The container to enter: the task's (for a task target) or one of the
/// host's tasks'; `--container` narrows, `--first` or a picker chooses.
/// ECS is asked in `aws`'s region, the one the host was found in (a task
/// ARN's own, or `--region`), never the default region.
async fn container(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    args: &ExecArgs,
) -> Result<ContainerChoice, Error> {
    let connect = Connect::from(&args.connect);
    let connect = &connect;
    let Some(ci) = &host.container_instance else {
        return Err(ExecError::NoContainer {
            what: format!("{} (not a container instance)", host.label()),
            wanted: args.container.clone(),
            present: vec![],
        }
        .into());
    };
    let task_ids = match crate::app::target_query(ctx, &connect.target)?.target {
        Target::Task { task_id, .. } => vec![task_id],
        _ => {
            ctx.phase("tasks", aws.list_tasks_on(&ci.cluster, &ci.arn))
                .await?
        }
    };
    let tasks = if task_ids.is_empty() {
        Vec::new()
    } else {
        ctx.phase("tasks", aws.describe_tasks(&ci.cluster, &task_ids))
            .await?
    };
    let mut found = exec::candidates(&host.label(), &tasks, args.container.as_deref())?;
    if found.len() == 1 || connect.first {
        return Ok(found.swap_remove(0));
    }
    let labels: Vec<String> = found.iter().map(ContainerChoice::label).collect();
    let prompt = format!("{} containers on {}", found.len(), host.label());
    let what = format!("a container on {}", host.label());
    if let Some(i) = crate::app::choose(ctx, &prompt, None, &labels, &what)? {
        return Ok(found.swap_remove(i));
    }
    Err(ExecError::Several {
        what: host.label(),
        labels,
    }
    .into())
}
