//! `berth maintain TARGET --batch N -- COMMAND`: batch by batch, drain the
//! container instances, wait for their tasks to move away, run the command,
//! make them ACTIVE again; stop at the first batch that fails.

use std::time::{Duration, Instant};

use crate::app::Context;
use crate::app::request::Connect;
use crate::aws::Aws;
use crate::error::Error;
use crate::fleet::maintain::{self, InstanceOutcome, Left};
use crate::fleet::{HostReport, HostStatus};
use crate::model::host::Host;
use crate::transport::fleet::Live;

use super::run::run_on;
use super::{FleetRun, label};

/// How long a host may take to answer the reachability check before its
/// batch is drained.
const REACH_LIMIT: Duration = Duration::from_secs(30);

/// How often to ask ECS how a drain is going.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// `berth maintain`: which container instances, how many at once, and the
/// command to run while they are drained.
#[derive(Debug, Clone)]
pub struct MaintainRequest {
    pub connect: Connect,
    /// This many container instances at once.
    pub batch: u16,
    /// How long a batch may take to drain.
    pub drain_timeout: Duration,
    /// How long the command may run on each host.
    pub timeout: Option<Duration>,
    pub command: Vec<String>,
    /// Each host's output as it arrives, prefixed with the host.
    pub echo: bool,
}

/// Works through the container instances batch by batch; what each was
/// left in, in the order of the batches.
pub async fn maintain(
    ctx: &Context,
    request: &MaintainRequest,
) -> Result<Vec<InstanceOutcome>, Error> {
    let connect = &request.connect;
    let (hosts, aws) = crate::app::resolve_all(ctx, connect).await?;
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
        jobs: request.batch,
        timeout: request.timeout,
        port: None,
        options: connect.ssh_options.clone(),
        command: request.command.clone(),
    };
    let live = if request.echo {
        Live::Prefixed
    } else {
        Live::Quiet
    };
    let mut outcomes: Vec<InstanceOutcome> = Vec::new();
    let mut failed = false;
    for (n, batch) in maintain::batches(&hosts, usize::from(request.batch))
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
        let batch = reachable_part(ctx, &aws, request, &spec, batch, number, &mut outcomes).await?;
        if batch.is_empty() {
            continue;
        }
        let batch = batch.as_slice();
        let labels: Vec<String> = batch.iter().map(label).collect();
        ctx.reporter
            .say(&format!("batch {number}: draining {}", labels.join(", ")));
        if let Err(note) = drain(ctx, &aws, batch, request.drain_timeout).await? {
            failed = true;
            outcomes.extend(
                batch
                    .iter()
                    .map(|h| outcome(h, number, Left::Draining, None, Some(note.clone()))),
            );
            continue;
        }
        let reports = run_on(ctx, &aws, connect, batch, &spec, live).await?;
        let all_ok = reports.iter().all(|r| r.status.is_ok());
        if all_ok {
            set_state(ctx, &aws, batch, "ACTIVE").await?;
            ctx.reporter
                .say(&format!("batch {number}: done, ACTIVE again"));
        } else {
            failed = true;
            ctx.reporter.say(&format!(
                "batch {number}: the command failed; its instances stay DRAINING"
            ));
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
    Ok(outcomes)
}

/// The hosts of `batch` that answer `true` through the command's engine;
/// the others go into `outcomes` as left untouched, with the reason.
async fn reachable_part(
    ctx: &Context,
    aws: &Aws,
    request: &MaintainRequest,
    spec: &FleetRun,
    batch: &[Host],
    number: usize,
    outcomes: &mut Vec<InstanceOutcome>,
) -> Result<Vec<Host>, Error> {
    let probe = FleetRun {
        command: vec!["true".to_owned()],
        timeout: Some(request.timeout.map_or(REACH_LIMIT, |t| t.min(REACH_LIMIT))),
        ..spec.clone()
    };
    let probes = run_on(ctx, aws, &request.connect, batch, &probe, Live::Quiet).await?;
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
        ctx.reporter.say(&format!(
            "batch {number}: {} cannot be reached ({why}); left as it is, not drained",
            label(host)
        ));
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
        label: label(host),
        batch,
        left,
        command: report.map(|r| r.status.clone()),
        note,
    }
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
    let spinner = ctx.reporter.progress(None);
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
        spinner.message(&format!(
            "draining: {running} task(s) still running, {}s",
            started.elapsed().as_secs()
        ));
        tokio::time::sleep(POLL_EVERY.min(limit.saturating_sub(started.elapsed()))).await;
    };
    spinner.finish();
    ctx.log.phase("drain", started.elapsed());
    Ok(result)
}
