//! ECS Exec's prerequisites, checked from facts gathered beforehand (the
//! checks of AWS's amazon-ecs-exec-checker, each with the fix): the task
//! started with `enableExecuteCommand`; its containers' ExecuteCommandAgent
//! RUNNING; Fargate platform version 1.4.0 or later; a task role, allowed
//! the four `ssmmessages` channel actions; the operator allowed
//! `ecs:ExecuteCommand`; the cluster's execute-command configuration
//! (logging, and the KMS key, which the operator must be allowed to use);
//! a way from the task's subnet to ssmmessages (a route to the internet or
//! a VPC endpoint). Permissions come from IAM's policy simulator only: a
//! refused simulation is "unverified", never guessed.

use serde::Serialize;

use super::{Finding, Scope, Status};
use crate::model::host::{ExecuteCommandConfiguration, ManagedAgent, TaskPlacement};
use crate::model::lookup::{Lookup, Permission};
use crate::model::network::{RouteTable, VpcEndpoint};
use crate::plan::exec::enable_command;

/// What the task role needs for the agent's channels.
pub const TASK_ROLE_ACTIONS: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// What the operator needs.
pub const USER_ACTION: &str = "ecs:ExecuteCommand";

/// What the operator needs of the cluster's KMS key.
pub const USER_KMS_ACTION: &str = "kms:GenerateDataKey";

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct ExecFacts {
    pub region: String,
    pub cluster: String,
    pub task: TaskPlacement,
    /// `--container`: only its agent is checked (all without it).
    pub container: Option<String>,
    pub configuration: Lookup<Option<ExecuteCommandConfiguration>>,
    /// The task definition's `taskRoleArn`.
    pub task_role: Lookup<Option<String>>,
    /// The task role and [`TASK_ROLE_ACTIONS`].
    pub task_role_may: Permission,
    /// The operator's principal (from sts:GetCallerIdentity).
    pub caller: Lookup<String>,
    /// The operator and [`USER_ACTION`] on the task.
    pub caller_may: Permission,
    /// The operator and [`USER_KMS_ACTION`] on the cluster's key, when
    /// there is one.
    pub caller_kms: Option<Permission>,
    /// The task's subnet and VPC, their route table and the VPC's
    /// endpoints (none known: not checked).
    pub network: Lookup<Option<ExecNetwork>>,
}

/// Where the task's traffic to ssmmessages goes.
#[derive(Debug, Clone)]
pub struct ExecNetwork {
    pub subnet_id: String,
    pub vpc_id: String,
    pub route_table: Option<RouteTable>,
    pub endpoints: Vec<VpcEndpoint>,
}

/// What the checks found.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub target: String,
    pub task_arn: String,
    pub findings: Vec<Finding>,
    /// No check failed (some may be unverified).
    pub works: bool,
}

impl ExecReport {
    /// 0 when nothing failed, 4 (a prerequisite) otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.works { 0 } else { 4 }
    }

    /// Failures, warnings and unverified checks.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Warn | Status::Unknown))
    }
}

fn finding(check: &'static str, status: Status, evidence: String, fix: Vec<String>) -> Finding {
    Finding {
        check,
        scope: Scope::All,
        status,
        evidence,
        fix,
    }
}

/// Runs every check.
pub fn check(target: &str, facts: &ExecFacts) -> ExecReport {
    let mut findings = vec![enabled(facts)];
    findings.extend(agents(facts));
    findings.push(platform_version(&facts.task));
    findings.push(task_role(facts));
    findings.push(caller(facts));
    findings.extend(configuration(facts));
    findings.push(network(facts));
    let works = !findings.iter().any(|f| f.status == Status::Fail);
    ExecReport {
        target: target.to_owned(),
        task_arn: facts.task.arn.clone(),
        findings,
        works,
    }
}

fn enabled(facts: &ExecFacts) -> Finding {
    let task = &facts.task;
    if task.enable_execute_command {
        return finding(
            "execute-command-enabled",
            Status::Pass,
            format!("task {} was started with enableExecuteCommand", task.id()),
            vec![],
        );
    }
    finding(
        "execute-command-enabled",
        Status::Fail,
        format!(
            "task {} was started without enableExecuteCommand",
            task.id()
        ),
        vec![enable_command(
            &facts.cluster,
            task.service(),
            task.task_definition.as_deref(),
        )],
    )
}

fn restart(facts: &ExecFacts) -> String {
    match facts.task.service() {
        Some(service) => format!(
            "aws ecs update-service --cluster {} --service {service} --force-new-deployment",
            facts.cluster
        ),
        None => "start a new task: aws ecs run-task … --enable-execute-command".to_owned(),
    }
}

fn agents(facts: &ExecFacts) -> Vec<Finding> {
    if !facts.task.enable_execute_command {
        return vec![finding(
            "exec-agent",
            Status::Skipped,
            "no agent without enableExecuteCommand".to_owned(),
            vec![],
        )];
    }
    facts
        .task
        .containers
        .iter()
        .filter(|c| facts.container.as_ref().is_none_or(|w| *w == c.name))
        .map(|c| {
            let agent = c.exec_agent();
            let status = agent.and_then(|a| a.last_status.as_deref());
            let reason = agent
                .and_then(|a| a.reason.as_deref())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let evidence = format!(
                "{} of container `{}`: {}{reason}",
                ManagedAgent::EXECUTE_COMMAND,
                c.name,
                status.unwrap_or("not reported")
            );
            match status {
                Some("RUNNING") => finding("exec-agent", Status::Pass, evidence, vec![]),
                Some("PENDING") => finding(
                    "exec-agent",
                    Status::Warn,
                    evidence,
                    vec!["wait a few seconds: the agent is starting".to_owned()],
                ),
                _ => finding(
                    "exec-agent",
                    Status::Fail,
                    evidence,
                    vec![
                        "give the task role the ssmmessages actions and the subnet a way to \
                         ssmmessages (below), then replace the task"
                            .to_owned(),
                        restart(facts),
                    ],
                ),
            }
        })
        .collect()
}

/// Fargate's platform version as numbers (`LATEST` counts as new enough).
fn version_at_least_1_4(version: &str) -> Option<bool> {
    if version.eq_ignore_ascii_case("LATEST") {
        return Some(true);
    }
    let parts: Vec<u32> = version
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(parts.as_slice() >= [1, 4, 0].as_slice())
}

fn platform_version(task: &TaskPlacement) -> Finding {
    if !task.on_fargate() {
        return finding(
            "platform-version",
            Status::Skipped,
            "not on Fargate".to_owned(),
            vec![],
        );
    }
    let Some(version) = &task.platform_version else {
        return finding(
            "platform-version",
            Status::Unknown,
            "ECS reports no platform version".to_owned(),
            vec![],
        );
    };
    match version_at_least_1_4(version) {
        Some(true) => finding(
            "platform-version",
            Status::Pass,
            format!("Fargate {version} (ECS Exec needs 1.4.0 or later)"),
            vec![],
        ),
        Some(false) => finding(
            "platform-version",
            Status::Fail,
            format!("Fargate {version}: ECS Exec needs 1.4.0 or later"),
            vec![
                "run the task on platform version 1.4.0 or LATEST (--platform-version LATEST \
                 with update-service or run-task)"
                    .to_owned(),
            ],
        ),
        None => finding(
            "platform-version",
            Status::Unknown,
            format!("Fargate `{version}`: not a version berth can compare"),
            vec![],
        ),
    }
}

/// The IAM statement that grants `actions`.
fn grant(actions: &[&str]) -> String {
    format!(
        "allow in an IAM policy: {{\"Effect\": \"Allow\", \"Action\": [{}], \"Resource\": \"*\"}}",
        actions
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn task_role(facts: &ExecFacts) -> Finding {
    let role = match &facts.task_role {
        Lookup::Unavailable(why) => {
            return finding(
                "task-role",
                Status::Unknown,
                format!("the task definition could not be read: {why}"),
                vec![],
            );
        }
        Lookup::Known(None) => {
            return finding(
                "task-role",
                Status::Fail,
                format!(
                    "task definition {} has no task role: the agent has no credentials for \
                     ssmmessages",
                    facts.task.task_definition.as_deref().unwrap_or("?")
                ),
                vec![format!(
                    "register a revision with a taskRoleArn whose role may {}",
                    TASK_ROLE_ACTIONS.join(", ")
                )],
            );
        }
        Lookup::Known(Some(role)) => role,
    };
    match &facts.task_role_may {
        Permission::Allowed => finding(
            "task-role",
            Status::Pass,
            format!("{role} may {}", TASK_ROLE_ACTIONS.join(", ")),
            vec![],
        ),
        Permission::Denied(actions) => finding(
            "task-role",
            Status::Fail,
            format!("{role} may not {}", actions.join(", ")),
            vec![format!(
                "{} (to {role})",
                grant(&actions.iter().map(String::as_str).collect::<Vec<_>>())
            )],
        ),
        Permission::Unverified(why) => finding(
            "task-role",
            Status::Unknown,
            format!("{role}: unverified ({why})"),
            vec![],
        ),
    }
}

fn caller(facts: &ExecFacts) -> Finding {
    let who = match &facts.caller {
        Lookup::Known(arn) => arn.clone(),
        Lookup::Unavailable(_) => "you".to_owned(),
    };
    match &facts.caller_may {
        Permission::Allowed => finding(
            "execute-command-permission",
            Status::Pass,
            format!("{who} may {USER_ACTION} on the task"),
            vec![],
        ),
        Permission::Denied(_) => finding(
            "execute-command-permission",
            Status::Fail,
            format!("{who} may not {USER_ACTION} on task {}", facts.task.arn),
            vec![grant(&[USER_ACTION])],
        ),
        Permission::Unverified(why) => finding(
            "execute-command-permission",
            Status::Unknown,
            format!("{who}: unverified ({why})"),
            vec![],
        ),
    }
}

fn configuration(facts: &ExecFacts) -> Vec<Finding> {
    let config = match &facts.configuration {
        Lookup::Unavailable(why) => {
            return vec![finding(
                "exec-configuration",
                Status::Unknown,
                format!("the cluster's configuration could not be read: {why}"),
                vec![],
            )];
        }
        Lookup::Known(None) => ExecuteCommandConfiguration::default(),
        Lookup::Known(Some(config)) => config.clone(),
    };
    let logging = config.logging.as_deref().unwrap_or("DEFAULT");
    let destination = match logging {
        "NONE" => "sessions are not logged".to_owned(),
        "OVERRIDE" => format!(
            "sessions logged to {}",
            [
                config
                    .log_group
                    .as_deref()
                    .map(|g| format!("log group {g}")),
                config.s3_bucket.as_deref().map(|b| format!("bucket {b}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ")
        ),
        _ => "sessions logged as the task's awslogs configuration says".to_owned(),
    };
    let mut findings = vec![finding(
        "exec-logging",
        Status::Pass,
        format!("logging {logging}: {destination}"),
        vec![],
    )];
    let Some(key) = &config.kms_key_id else {
        findings.push(finding(
            "exec-kms-key",
            Status::Pass,
            "no KMS key: the channel is TLS only".to_owned(),
            vec![],
        ));
        return findings;
    };
    findings.push(match &facts.caller_kms {
        Some(Permission::Allowed) => finding(
            "exec-kms-key",
            Status::Pass,
            format!("sessions encrypted with {key}; you may {USER_KMS_ACTION}"),
            vec![],
        ),
        Some(Permission::Denied(_)) => finding(
            "exec-kms-key",
            Status::Fail,
            format!("sessions encrypted with {key}, and you may not {USER_KMS_ACTION} on it"),
            vec![format!(
                "allow {USER_KMS_ACTION} on {key} (and kms:Decrypt to the task role)"
            )],
        ),
        other => {
            let why = match other {
                Some(Permission::Unverified(why)) => why.as_str(),
                _ => "not simulated",
            };
            finding(
                "exec-kms-key",
                Status::Unknown,
                format!("sessions encrypted with {key}; your access unverified ({why})"),
                vec![],
            )
        }
    });
    findings
}

fn network(facts: &ExecFacts) -> Finding {
    let net = match &facts.network {
        Lookup::Unavailable(why) => {
            return finding(
                "ssmmessages-endpoint",
                Status::Unknown,
                format!("the task's network could not be read: {why}"),
                vec![],
            );
        }
        Lookup::Known(None) => {
            return finding(
                "ssmmessages-endpoint",
                Status::Skipped,
                "the task's subnet is not known".to_owned(),
                vec![],
            );
        }
        Lookup::Known(Some(net)) => net,
    };
    let service = format!("com.amazonaws.{}.ssmmessages", facts.region);
    if let Some(endpoint) = net
        .endpoints
        .iter()
        .find(|e| e.service_name == service && e.state == "available")
    {
        return finding(
            "ssmmessages-endpoint",
            Status::Pass,
            format!(
                "VPC endpoint {} for ssmmessages in {}",
                endpoint.id, net.vpc_id
            ),
            vec![],
        );
    }
    let any = ipnet::IpNet::V4(ipnet::Ipv4Net::default());
    let outside = net
        .route_table
        .as_ref()
        .and_then(|t| t.route_for(&any))
        .filter(|r| r.target.starts_with("igw-") || r.target.starts_with("nat-"));
    match outside {
        Some(route) => finding(
            "ssmmessages-endpoint",
            Status::Pass,
            format!(
                "subnet {} reaches ssmmessages through {} (no VPC endpoint needed)",
                net.subnet_id, route.target
            ),
            vec![],
        ),
        None => finding(
            "ssmmessages-endpoint",
            Status::Fail,
            format!(
                "subnet {} is private (no route to an internet or NAT gateway) and {} has no \
                 VPC endpoint for ssmmessages",
                net.subnet_id, net.vpc_id
            ),
            vec![format!(
                "aws ec2 create-vpc-endpoint --vpc-id {} --vpc-endpoint-type Interface \
                 --service-name {service} --subnet-ids {} --private-dns-enabled",
                net.vpc_id, net.subnet_id
            )],
        ),
    }
}

#[cfg(test)]
mod tests;
