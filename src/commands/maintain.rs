//! `berth maintain TARGET --batch N -- COMMAND`: batch by batch, drain the
//! container instances, wait for their tasks to move away, run the command,
//! make them ACTIVE again; stop at the first batch that fails.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget};

use crate::app::request::Connect;
use crate::aws::Aws;
use crate::cli::{MaintainArgs, OutputFormat};
use crate::error::Error;
use crate::fleet::maintain::{self, InstanceOutcome, Left};
use crate::fleet::{HostReport, HostStatus};
use crate::model::host::Host;
use crate::transport::fleet::Live;
use crate::ui::render;

use super::run::{FleetRun, run_on};
use crate::app::Context;

/// How long a host may take to answer the reachability check before its
/// batch is drained.
const REACH_LIMIT: Duration = Duration::from_secs(30);

/// How often to ask ECS how a drain is going.
const POLL_EVERY: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Context, args: &MaintainArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let (hosts, aws) = crate::app::resolve_all(ctx, &connect).await?;
    if let Some(host) = hosts.iter().find(|h| h.container_instance.is_none()) {
        return Err(Error::usage(
            format!(
                "{} is not a container instance: ECS cannot drain it",
                host.label()
            ),
            "name a cluster, a service or CLUSTER/… hosts".to_owned(),
        ));
    }
    let spec = FleetRun {
        jobs: args.batch,
        timeout: args.timeout,
        port: None,
        options: connect.ssh_options.clone(),
        command: args.command.clone(),
    };
    let live = match ctx.settings.output {
        OutputFormat::Table => Live::Prefixed,
        OutputFormat::Json => Live::Quiet,
    };
    let mut outcomes: Vec<InstanceOutcome> = Vec::new();
    let mut failed = false;
    for (n, batch) in maintain::batches(&hosts, usize::from(args.batch))
        .into_iter()
        .enumerate()
    {
        let number = n + 1;
        if failed {
            outcomes.extend(
                batch
                    .iter()
                    .map(|h| outcome(h, number, Left::Untouched, None, None)),
            );
            continue;
        }
        // Only hosts the command can reach are drained: one that cannot
        // be reached would be left DRAINING for nothing.
        let batch = reachable_part(ctx, &aws, args, &spec, batch, number, &mut outcomes).await?;
        if batch.is_empty() {
            continue;
        }
        let batch = batch.as_slice();
        let labels: Vec<String> = batch.iter().map(short_label).collect();
        eprintln!("berth: batch {number}: draining {}", labels.join(", "));
        if let Err(note) = drain(ctx, &aws, batch, args.drain_timeout).await? {
            failed = true;
            outcomes.extend(
                batch
                    .iter()
                    .map(|h| outcome(h, number, Left::Draining, None, Some(note.clone()))),
            );
            continue;
        }
        let reports = run_on(ctx, &aws, &connect, batch, &spec, live).await?;
        let all_ok = reports.iter().all(|r| r.status.is_ok());
        if all_ok {
            set_state(ctx, &aws, batch, "ACTIVE").await?;
            eprintln!("berth: batch {number}: done, ACTIVE again");
        } else {
            failed = true;
            eprintln!("berth: batch {number}: the command failed; its instances stay DRAINING");
        }
        for host in batch {
            let report = reports.iter().find(|r| r.instance_id == host.instance_id());
            let (left, note) = if all_ok {
                (Left::Active, None)
            } else {
                (
                    Left::Draining,
                    Some("the batch's command failed".to_owned()),
                )
            };
            outcomes.push(outcome(host, number, left, report, note));
        }
    }
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &serde_json::json!({ "instances": outcomes }))?,
        OutputFormat::Table => render::maintain_summary(
            &mut std::io::stderr().lock(),
            &outcomes,
            render::stderr_palette(&ctx.settings),
        )?,
    }
    Ok(maintain::exit_code(&outcomes))
}

/// The hosts of `batch` that answer `true` through the command's engine;
/// the others go into `outcomes` as left untouched, with the reason.
async fn reachable_part(
    ctx: &Context,
    aws: &Aws,
    args: &MaintainArgs,
    spec: &FleetRun,
    batch: &[Host],
    number: usize,
    outcomes: &mut Vec<InstanceOutcome>,
) -> Result<Vec<Host>, Error> {
    let connect = Connect::from(&args.connect);
    let probe = FleetRun {
        command: vec!["true".to_owned()],
        timeout: Some(args.timeout.map_or(REACH_LIMIT, |t| t.min(REACH_LIMIT))),
        ..spec.clone()
    };
    let probes = run_on(ctx, aws, &connect, batch, &probe, Live::Quiet).await?;
    let ids: Vec<&str> = batch.iter().map(Host::instance_id).collect();
    let (reachable, unreachable) = maintain::reachable(&ids, &probes);
    for (id, status) in unreachable {
        let Some(host) = batch.iter().find(|h| h.instance_id() == id) else {
            continue;
        };
        let why = match &status {
            HostStatus::Unreachable { reason } => reason.clone(),
            other => format!("the check `true` ended {}", other.word()),
        };
        eprintln!(
            "berth: batch {number}: {} cannot be reached ({why}); left as it is, not drained",
            short_label(host)
        );
        let note = format!("not drained: cannot be reached ({why})");
        let mut untouched = outcome(host, number, Left::Untouched, None, Some(note));
        untouched.command = Some(status);
        outcomes.push(untouched);
    }
    Ok(batch
        .iter()
        .filter(|h| reachable.iter().any(|id| id == h.instance_id()))
        .cloned()
        .collect())
}

fn outcome(
    host: &Host,
    batch: usize,
    left: Left,
    report: Option<&HostReport>,
    note: Option<String>,
) -> InstanceOutcome {
    InstanceOutcome {
        instance_id: host.instance_id().to_owned(),
        container_instance_arn: host
            .container_instance
            .as_ref()
            .map(|c| c.arn.clone())
            .unwrap_or_default(),
        label: short_label(host),
        batch,
        left,
        command: report.map(|r| r.status.clone()),
        note,
    }
}

fn short_label(host: &Host) -> String {
    host.name()
        .map_or_else(|| host.instance_id().to_owned(), str::to_owned)
}

/// Sets `hosts` to `status`; a container instance ECS refuses is an error.
async fn set_state(ctx: &Context, aws: &Aws, hosts: &[Host], status: &str) -> Result<(), Error> {
    let Some(cluster) = hosts
        .iter()
        .find_map(|h| h.container_instance.as_ref())
        .map(|c| c.cluster.clone())
    else {
        return Ok(());
    };
    let arns: Vec<String> = hosts
        .iter()
        .filter_map(|h| h.container_instance.as_ref().map(|c| c.arn.clone()))
        .collect();
    let failures = ctx
        .phase(
            "update-state",
            aws.set_container_instances_state(&cluster, &arns, status),
        )
        .await?;
    match failures.first() {
        None => Ok(()),
        Some((arn, reason)) => Err(Error::usage(
            format!("ECS would not set {arn} {status}: {reason}"),
            format!(
                "check it with `aws ecs describe-container-instances --cluster {cluster} \
                 --container-instances {arn}`"
            ),
        )),
    }
}

/// Drains `hosts` and waits until they run no task; `Ok(Err(why))` when
/// the wait ran out.
async fn drain(
    ctx: &Context,
    aws: &Aws,
    hosts: &[Host],
    limit: Duration,
) -> Result<Result<(), String>, Error> {
    set_state(ctx, aws, hosts, "DRAINING").await?;
    let Some(cluster) = hosts
        .iter()
        .find_map(|h| h.container_instance.as_ref())
        .map(|c| c.cluster.clone())
    else {
        return Ok(Ok(()));
    };
    let arns: Vec<String> = hosts
        .iter()
        .filter_map(|h| h.container_instance.as_ref().map(|c| c.arn.clone()))
        .collect();
    let spinner = ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let result = loop {
        let described = aws.describe_container_instances(&cluster, &arns).await?;
        let running: i32 = described.iter().map(|c| c.running_tasks).sum();
        if running == 0 {
            break Ok(());
        }
        if started.elapsed() >= limit {
            break Err(format!(
                "{running} task(s) still running after {} of draining (standalone tasks are \
                 not moved by ECS; stop them, or raise --drain-timeout)",
                humantime::format_duration(Duration::from_secs(limit.as_secs()))
            ));
        }
        spinner.set_message(format!(
            "draining: {running} task(s) still running, {}s",
            started.elapsed().as_secs()
        ));
        tokio::time::sleep(POLL_EVERY.min(limit.saturating_sub(started.elapsed()))).await;
    };
    spinner.finish_and_clear();
    ctx.log.phase("drain", started.elapsed());
    Ok(result)
}
