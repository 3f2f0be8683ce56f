//! `berth exec`'s own step: which container of the host to enter.

use crate::aws::Aws;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::target::Target;
use crate::plan::exec::{self, ContainerChoice, ExecError};

use super::Context;
use super::request::Connect;

/// The container to enter: the task's (for a task target) or one of the
/// host's tasks'; `--container` narrows, `--first` or a picker chooses.
/// ECS is asked in `aws`'s region, the one the host was found in (a task
/// ARN's own, or `--region`), never the default region.
pub async fn container(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    connect: &Connect,
    wanted: Option<&str>,
) -> Result<ContainerChoice, Error> {
    let Some(ci) = &host.container_instance else {
        return Err(ExecError::NoContainer {
            what: format!("{} (not a container instance)", host.label()),
            wanted: wanted.map(str::to_owned),
            present: vec![],
        }
        .into());
    };
    let task_ids = match super::target_query(ctx, &connect.target)?.target {
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
    let mut found = exec::candidates(&host.label(), &tasks, wanted)?;
    if found.len() == 1 || connect.first {
        return Ok(found.swap_remove(0));
    }
    let labels: Vec<String> = found.iter().map(ContainerChoice::label).collect();
    let prompt = format!("{} containers on {}", found.len(), host.label());
    let what = format!("a container on {}", host.label());
    if let Some(i) = super::choose(ctx, &prompt, None, &labels, &what)? {
        return Ok(found.swap_remove(i));
    }
    Err(ExecError::Several {
        what: host.label(),
        labels,
    }
    .into())
}
