//! `berth exec`: find the task and container (a task target straight
//! through ECS, a host target through the tasks it runs), choose the
//! engine (`plan::exec::choose_engine`), and for ECS Exec run the session:
//! ExecuteCommand, its session joined to berth's data channel
//! (`app::ssm`), the command's status read back from the marker its
//! wrapper prints (`plan::exec::StatusMarker`). `docker exec` goes on
//! through the one pipeline (`commands::exec`).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::aws::{Aws, AwsError, iam};
use crate::doctor::ecs_exec::{self, ExecFacts, ExecNetwork, ExecReport};
use crate::error::{Cause, Error};
use crate::model::host::{Host, Located, TaskContainer, TaskPlacement};
use crate::model::lookup::{Lookup, Permission};
use crate::model::network::SessionGrant;
use crate::model::target::Target;
use crate::plan::exec::{
    self, Chosen, ContainerChoice, ExecEngine, ExecError, StatusMarker, choose_engine,
};

use super::Context;
use super::request::Connect;
use super::ssm::{self, Console};

/// What `berth exec` was asked.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub connect: Connect,
    /// `--container NAME`.
    pub container: Option<String>,
    /// `-- CMD…` (empty: a shell).
    pub command: Vec<String>,
    pub engine: ExecEngine,
}

/// How berth gets into the container.
pub enum Entry {
    /// ECS Exec: a Session Manager session into the container.
    EcsExec(Box<EcsExecTarget>),
    /// `docker exec` over ssh on the task's host.
    Docker(Box<DockerTarget>),
}

/// A container `docker exec` enters over ssh on its host.
pub struct DockerTarget {
    pub host: Host,
    pub aws: Aws,
    pub container: ContainerChoice,
}

/// A container ECS Exec enters.
pub struct EcsExecTarget {
    pub aws: Aws,
    pub cluster: String,
    pub task: TaskPlacement,
    pub container: ContainerChoice,
}

impl EcsExecTarget {
    /// Session Manager's name for the container (the KMS encryption
    /// context's target, as the AWS CLI builds it).
    pub fn ssm_target(&self) -> String {
        format!(
            "ecs:{}_{}_{}",
            self.cluster,
            self.task.id(),
            self.container.runtime_id
        )
    }
}

/// What the target names: a task (task and service targets, through ECS
/// alone, so a Fargate task too) or a host (every other target).
pub async fn locate(ctx: &Context, connect: &Connect) -> Result<(Located, Aws), Error> {
    let query = super::target_query(ctx, &connect.target)?;
    let (cluster, ids, what) = match &query.target {
        Target::Task { cluster, task_id } => (
            cluster.clone(),
            vec![task_id.clone()],
            query.target.to_string(),
        ),
        Target::Service { cluster, service } => {
            let aws = ctx.aws(query.region.as_deref()).await?;
            let ids = ctx
                .phase("tasks", aws.list_service_tasks(cluster, service))
                .await?;
            (cluster.clone(), ids, query.target.to_string())
        }
        _ => {
            let (host, aws) = super::resolve_host(ctx, connect).await?;
            return Ok((Located::Host(Box::new(host)), aws));
        }
    };
    let aws = ctx.aws(query.region.as_deref()).await?;
    let tasks = if ids.is_empty() {
        Vec::new()
    } else {
        ctx.phase("tasks", aws.describe_tasks(&cluster, &ids))
            .await?
    };
    let task = pick_task(ctx, &cluster, &what, tasks, connect.first)?;
    Ok((Located::Task(Box::new(task)), aws))
}

/// One of a service's tasks: the only one, the first with `--first`, the
/// operator's pick on a terminal, else an error listing them (exit 3).
fn pick_task(
    ctx: &Context,
    cluster: &str,
    what: &str,
    mut tasks: Vec<TaskPlacement>,
    first: bool,
) -> Result<TaskPlacement, Error> {
    if tasks.is_empty() {
        return Err(ExecError::NoTask {
            what: what.to_owned(),
            hint: format!("list the cluster's tasks with `aws ecs list-tasks --cluster {cluster}`"),
        }
        .into());
    }
    tasks.sort_by(|a, b| a.arn.cmp(&b.arn));
    if tasks.len() == 1 || first {
        return Ok(tasks.swap_remove(0));
    }
    let labels: Vec<String> = tasks.iter().map(TaskPlacement::label).collect();
    let prompt = format!("{} tasks of {what}", tasks.len());
    if let Some(i) = super::choose(ctx, &prompt, None, &labels, what)? {
        return Ok(tasks.swap_remove(i));
    }
    Err(ExecError::SeveralTasks {
        what: what.to_owned(),
        tasks: tasks
            .iter()
            .map(|t| (t.facts(), format!("{cluster}/task/{}", t.id())))
            .collect(),
    }
    .into())
}

/// Where `request` goes in, and by which engine (said on stderr when
/// `auto` chose).
pub async fn entry(ctx: &Context, request: &ExecRequest) -> Result<Entry, Error> {
    let connect = &request.connect;
    let wanted = request.container.as_deref();
    let (located, aws) = locate(ctx, connect).await?;
    let (host, tasks) = match located {
        Located::Task(task) => (None, vec![*task]),
        Located::Host(host) => {
            let tasks = host_tasks(ctx, &aws, &host).await?;
            (Some(host), tasks)
        }
    };
    let what = host
        .as_ref()
        .map_or_else(|| connect.target.clone(), |h| h.label());
    let choice = container(ctx, &what, &tasks, connect.first, wanted)?;
    let task = tasks
        .iter()
        .find(|t| t.arn == choice.task_arn)
        .cloned()
        .unwrap_or_default();
    let facts = task
        .containers
        .iter()
        .find(|c| c.name == choice.name)
        .cloned()
        .unwrap_or_else(|| TaskContainer {
            name: choice.name.clone(),
            ..TaskContainer::default()
        });
    let cluster = task
        .cluster()
        .map(str::to_owned)
        .or_else(|| host.as_ref().and_then(|h| h.cluster().map(str::to_owned)))
        .unwrap_or_default();
    let chosen = choose_engine(request.engine, &cluster, &task, &facts)?;
    if request.engine == ExecEngine::Auto {
        ctx.reporter.say(&chosen.why);
    } else {
        ctx.verbose(&chosen.why);
    }
    match chosen.engine {
        Chosen::EcsExec => Ok(Entry::EcsExec(Box::new(EcsExecTarget {
            aws,
            cluster,
            task,
            container: choice,
        }))),
        Chosen::Docker => {
            let (host, aws) = if let Some(host) = host {
                (host, aws)
            } else {
                // The task's own host: the task named as a target (an
                // ARN as it was, keeping its region).
                let by_task = if connect.target.starts_with("arn:") {
                    connect.clone()
                } else {
                    Connect {
                        target: format!("{cluster}/task/{}", task.id()),
                        options: connect.options.clone(),
                    }
                };
                let (host, aws) = super::resolve_host(ctx, &by_task).await?;
                (Box::new(host), aws)
            };
            Ok(Entry::Docker(Box::new(DockerTarget {
                host: *host,
                aws,
                container: choice,
            })))
        }
    }
}

/// The tasks a host runs.
async fn host_tasks(ctx: &Context, aws: &Aws, host: &Host) -> Result<Vec<TaskPlacement>, Error> {
    let Some(ci) = &host.container_instance else {
        return Ok(Vec::new());
    };
    let ids = ctx
        .phase("tasks", aws.list_tasks_on(&ci.cluster, &ci.arn))
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(ctx
        .phase("tasks", aws.describe_tasks(&ci.cluster, &ids))
        .await?)
}

/// The container to enter among `tasks`' (`what` names where they run):
/// `--container` narrows, `--first` or a picker chooses.
fn container(
    ctx: &Context,
    what: &str,
    tasks: &[TaskPlacement],
    first: bool,
    wanted: Option<&str>,
) -> Result<ContainerChoice, Error> {
    let mut found = exec::candidates(what, tasks, wanted)?;
    if found.len() == 1 || first {
        return Ok(found.swap_remove(0));
    }
    let labels: Vec<String> = found.iter().map(ContainerChoice::label).collect();
    let prompt = format!("{} containers on {what}", found.len());
    let chosen_what = format!("a container on {what}");
    if let Some(i) = super::choose(ctx, &prompt, None, &labels, &chosen_what)? {
        return Ok(found.swap_remove(i));
    }
    Err(ExecError::Several {
        what: what.to_owned(),
        labels,
    }
    .into())
}

/// What `--dry-run` shows for an ECS Exec entry: the AWS CLI command that
/// opens the same session, with the command as berth wraps it (its status
/// marker shown as `0`: the real one is random per session).
pub fn ecs_exec_words(
    target: &EcsExecTarget,
    command: &[String],
    interactive: bool,
) -> Vec<String> {
    let remote = StatusMarker::new("0").command(command, interactive);
    [
        "aws",
        "ecs",
        "execute-command",
        "--cluster",
        &target.cluster,
        "--task",
        &target.task.arn,
        "--container",
        &target.container.name,
        "--interactive",
        "--command",
        &remote,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `command` (a shell without one) in the container through ECS
/// Exec and returns its exit status: the one its wrapper printed, 255
/// after `~.`, 128 + N after signal N; a stream that ended without the
/// status is [`ExecError::StatusUnknown`].
pub async fn ecs_exec(
    ctx: &Context,
    target: &EcsExecTarget,
    command: &[String],
    resume_for: Option<std::time::Duration>,
    mut console: Console,
) -> Result<u8, Error> {
    let marker = StatusMarker::new(&nonce());
    let remote = marker.command(command, console.interactive);
    let aws = &target.aws;
    let grant = ctx
        .phase(
            "execute-command",
            aws.execute_command(
                &target.cluster,
                &target.task.arn,
                &target.container.name,
                &remote,
            ),
        )
        .await;
    let grant = match grant {
        Ok(grant) => grant,
        Err(e) => {
            let e = refusal(target, e);
            if matches!(e.cause(), Cause::Exec(ExecError::Refused { .. })) {
                explain_refusal(ctx, target).await;
            }
            return Err(e);
        }
    };
    ctx.verbose(&format!(
        "ECS Exec session {} into {}",
        grant.session_id,
        target.container.label()
    ));
    let (pipe_in, mut pipe_out) = tokio::io::duplex(64 * 1024);
    let mut out = std::mem::replace(&mut console.out, Box::new(pipe_in));
    let mut filter = marker.filter();
    let filtered = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = pipe_out.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            let pass = filter.feed(&buffer[..n]);
            if !pass.is_empty() {
                out.write_all(&pass).await?;
                out.flush().await?;
            }
        }
        let (rest, status) = filter.finish();
        out.write_all(&rest).await?;
        out.flush().await?;
        Ok::<_, std::io::Error>(status)
    };
    let session = run_session(ctx, aws, &grant, target, resume_for, console);
    let (outcome, status) = tokio::join!(session, filtered);
    // Whatever happened, the session ends on the service's side too; ECS
    // Exec users may lack ssm:TerminateSession, and the agent ends the
    // session with the command anyway: only -v hears of a refusal.
    if let Err(e) = aws.terminate_session(&grant.session_id).await {
        ctx.verbose(&format!("could not end session {}: {e}", grant.session_id));
    }
    let outcome = outcome?;
    let status = status?;
    match outcome.end {
        crate::transport::ssm::shell::ShellEnd::Closed(_) => match status {
            Some(status) => Ok(u8::try_from(status.rem_euclid(256)).unwrap_or(255)),
            None => Err(ExecError::StatusUnknown.into()),
        },
        _ => Ok(outcome.exit_code()),
    }
}

async fn run_session(
    ctx: &Context,
    aws: &Aws,
    grant: &SessionGrant,
    target: &EcsExecTarget,
    resume_for: Option<std::time::Duration>,
    console: Console,
) -> Result<crate::transport::ssm::shell::ShellOutcome, Error> {
    let ssm_target = target.ssm_target();
    ssm::run(ctx, aws, grant, (&ssm_target, resume_for), console).await
}

/// ExecuteCommand's refusals, as berth names them: the service's "not
/// enabled / agent not running" and TargetNotConnected are a prerequisite
/// (exit 4, pointing at `berth doctor`); AccessDenied names the action.
fn refusal(target: &EcsExecTarget, e: AwsError) -> Error {
    match &e {
        AwsError::Service { code, message, .. }
            if code.contains("TargetNotConnected")
                || (code.contains("InvalidParameter")
                    && message.to_ascii_lowercase().contains("execute command")) =>
        {
            ExecError::Refused {
                task: target.task.id().to_owned(),
                message: format!("{code}: {message}"),
            }
            .into()
        }
        AwsError::Service { code, .. } if code.contains("AccessDenied") => Error::from(e)
            .with_hint(format!(
                "ECS Exec needs ecs:ExecuteCommand on the task (and the cluster {}); `berth \
                 doctor {}/task/{}` checks what it needs",
                target.cluster,
                target.cluster,
                target.task.id()
            )),
        _ => e.into(),
    }
}

/// 16 random bytes in hex, for the status marker.
fn nonce() -> String {
    use ssh_key::rand_core::{OsRng, RngCore as _};
    use std::fmt::Write as _;
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// `berth doctor` on a task or service target: ECS Exec's checks (none
/// for other targets, whose hosts doctor checks as ever).
pub async fn doctor(
    ctx: &Context,
    connect: &Connect,
    container: Option<&str>,
) -> Result<Option<(TaskPlacement, ExecReport)>, Error> {
    let query = super::target_query(ctx, &connect.target)?;
    if !matches!(query.target, Target::Task { .. } | Target::Service { .. }) {
        return Ok(None);
    }
    let (Located::Task(task), aws) = locate(ctx, connect).await? else {
        return Ok(None);
    };
    let cluster = task.cluster().unwrap_or_default().to_owned();
    let facts = exec_facts(ctx, &aws, &cluster, &task, container).await;
    let report = ecs_exec::check(&connect.target, &facts);
    Ok(Some((*task, report)))
}

/// What ECS Exec's checks look at, each fact asked of AWS (a refusal is
/// that fact unknown, not an error).
async fn exec_facts(
    ctx: &Context,
    aws: &Aws,
    cluster: &str,
    task: &TaskPlacement,
    container: Option<&str>,
) -> ExecFacts {
    let configuration = Lookup::from_result(
        ctx.phase("exec-configuration", aws.exec_configuration(cluster))
            .await,
    );
    let task_role = match &task.task_definition {
        Some(definition) => {
            Lookup::from_result(ctx.phase("task-role", aws.task_role(definition)).await)
        }
        None => Lookup::Unavailable("ECS names no task definition".to_owned()),
    };
    let caller = Lookup::from_result(ctx.phase("caller", aws.caller_arn()).await);
    let principal = match &caller {
        Lookup::Known(arn) => Ok(iam::principal_of(arn)),
        Lookup::Unavailable(why) => Err(why.clone()),
    };
    let simulate = |who: Result<String, String>, actions: Vec<&'static str>, resource: String| async move {
        match who {
            Ok(who) => aws.simulate(&who, &actions, &resource).await,
            Err(why) => Permission::Unverified(why),
        }
    };
    let caller_may = simulate(
        principal.clone(),
        vec![ecs_exec::USER_ACTION],
        task.arn.clone(),
    )
    .await;
    let task_role_may = match &task_role {
        Lookup::Known(Some(role)) => {
            simulate(
                Ok(role.clone()),
                ecs_exec::TASK_ROLE_ACTIONS.to_vec(),
                "*".to_owned(),
            )
            .await
        }
        Lookup::Known(None) => Permission::Unverified("no task role".to_owned()),
        Lookup::Unavailable(why) => Permission::Unverified(why.clone()),
    };
    let key = match &configuration {
        Lookup::Known(Some(config)) => config.kms_key_id.clone(),
        _ => None,
    };
    let caller_kms = match key {
        Some(key) => {
            let resource = if key.starts_with("arn:") {
                key
            } else {
                "*".to_owned()
            };
            Some(simulate(principal, vec![ecs_exec::USER_KMS_ACTION], resource).await)
        }
        None => None,
    };
    let network = Lookup::from_result(task_network(ctx, aws, cluster, task).await);
    ExecFacts {
        region: aws.region.clone(),
        cluster: cluster.to_owned(),
        task: task.clone(),
        container: container.map(str::to_owned),
        configuration,
        task_role,
        task_role_may,
        caller,
        caller_may,
        caller_kms,
        network,
    }
}

/// The task's subnet (its own interface's, else its host's), its route
/// table and the VPC's endpoints.
async fn task_network(
    ctx: &Context,
    aws: &Aws,
    cluster: &str,
    task: &TaskPlacement,
) -> Result<Option<ExecNetwork>, Error> {
    let (subnet, vpc) = if let Some(subnet) = &task.subnet_id {
        let vpc = aws.subnet_vpc(subnet).await?;
        (subnet.clone(), vpc)
    } else if task.container_instance_arn.is_some() {
        let by_task = Connect {
            target: format!("{cluster}/task/{}", task.id()),
            ..Connect::default()
        };
        let (host, _) = super::resolve_host(ctx, &by_task).await?;
        match host.ec2.subnet_id {
            Some(subnet) => (subnet, host.ec2.vpc_id),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let Some(vpc) = vpc else {
        return Ok(None);
    };
    let route_table = aws.route_table_for(&subnet, &vpc).await?;
    let endpoints = aws.vpc_endpoints(&vpc).await?;
    Ok(Some(ExecNetwork {
        subnet_id: subnet,
        vpc_id: vpc,
        route_table,
        endpoints,
    }))
}

/// After ECS refused a session: the checks' problems, as warnings with
/// their fixes.
async fn explain_refusal(ctx: &Context, target: &EcsExecTarget) {
    let facts = exec_facts(
        ctx,
        &target.aws,
        &target.cluster,
        &target.task,
        Some(&target.container.name),
    )
    .await;
    let report = ecs_exec::check(&target.cluster, &facts);
    for problem in report.problems() {
        ctx.reporter.warn_with_hints(
            &format!("ECS Exec check {}: {}", problem.check, problem.evidence),
            &problem.fix,
        );
    }
}
