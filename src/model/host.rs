//! berth's own view of the fleet: ECS and EC2 facts joined per host.
//!
//! These types are what every other module sees; AWS SDK types stop at
//! `crate::aws`. They serialize to the JSON that `ls` and `show` print.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::os::OsFamily;

/// An ECS cluster as `berth ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub container_instances: i32,
    pub running_tasks: i32,
    pub pending_tasks: i32,
    pub active_services: i32,
}

/// A cluster's `executeCommandConfiguration` (DescribeClusters with
/// `CONFIGURATIONS`): how ECS Exec sessions are logged and encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ExecuteCommandConfiguration {
    /// `NONE`, `DEFAULT` (the task's awslogs) or `OVERRIDE`.
    pub logging: Option<String>,
    /// The KMS key that encrypts the sessions' data channel.
    pub kms_key_id: Option<String>,
    /// With `OVERRIDE`: the CloudWatch log group and/or S3 bucket.
    pub log_group: Option<String>,
    pub s3_bucket: Option<String>,
}

/// The ECS side of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInstance {
    pub arn: String,
    /// The last part of the ARN.
    pub id: String,
    pub cluster: String,
    pub ec2_instance_id: String,
    /// `ACTIVE`, `DRAINING`, `REGISTERING`, …
    pub status: String,
    pub agent_connected: bool,
    pub running_tasks: i32,
    pub pending_tasks: i32,
    /// The `ecs.ami-id` attribute the agent registers; lets the AMI lookup
    /// start before DescribeInstances answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ami_id: Option<String>,
}

/// An AMI, as DescribeImages describes it. Cached on disk for ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner_id: Option<String>,
    /// `windows` for Windows AMIs, absent otherwise.
    pub platform: Option<String>,
}

/// Where a task runs: what `CLUSTER/task/ID` and services resolve through,
/// and its containers (for `berth exec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TaskPlacement {
    pub arn: String,
    /// None on Fargate: such a task has no host.
    pub container_instance_arn: Option<String>,
    /// `family:revision` of its task definition.
    pub task_definition: Option<String>,
    pub containers: Vec<TaskContainer>,
    /// `EC2`, `FARGATE` or `EXTERNAL` (ECS Anywhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// Fargate's platform version (`1.4.0`, `LATEST`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// The task was started with ECS Exec enabled (`enableExecuteCommand`).
    pub enable_execute_command: bool,
    /// `service:NAME` for a service's task, else what started it chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `RUNNING`, `PENDING`, `STOPPED`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// The subnet of its network interface (awsvpc: Fargate's always).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

impl TaskPlacement {
    /// The last part of the ARN.
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }

    /// The cluster, from a new-format ARN (`…:task/CLUSTER/ID`).
    pub fn cluster(&self) -> Option<&str> {
        let mut parts = self.arn.rsplit('/');
        parts.next();
        parts.next().filter(|c| !c.contains(':'))
    }

    /// The service whose task this is (`group` is `service:NAME`).
    pub fn service(&self) -> Option<&str> {
        self.group.as_deref()?.strip_prefix("service:")
    }

    /// On Fargate (no container instance, so no host to log in to).
    pub fn on_fargate(&self) -> bool {
        self.launch_type.as_deref() == Some("FARGATE")
            || (self.launch_type.is_none() && self.container_instance_arn.is_none())
    }

    /// `ID (family:rev, launch type, status, containers)`, for pickers.
    pub fn label(&self) -> String {
        let facts = self.facts();
        if facts.is_empty() {
            self.id().to_owned()
        } else {
            format!("{} ({facts})", self.id())
        }
    }

    /// `family:rev, launch type, status, containers`: what tells tasks
    /// apart besides their ids.
    pub fn facts(&self) -> String {
        let mut facts = Vec::new();
        if let Some(def) = &self.task_definition {
            facts.push(def.clone());
        }
        if let Some(launch) = &self.launch_type {
            facts.push(launch.clone());
        }
        if let Some(status) = &self.last_status {
            facts.push(status.clone());
        }
        let names: Vec<&str> = self.containers.iter().map(|c| c.name.as_str()).collect();
        if !names.is_empty() {
            facts.push(names.join(","));
        }
        facts.join(", ")
    }
}

/// One container of a task, as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TaskContainer {
    pub name: String,
    /// The container engine's id (`docker exec` takes it); absent until it
    /// runs.
    pub runtime_id: Option<String>,
    pub last_status: Option<String>,
    /// The agents ECS runs beside it (`ExecuteCommandAgent` for ECS Exec).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed_agents: Vec<ManagedAgent>,
}

impl TaskContainer {
    /// The ECS Exec agent's status (`RUNNING`, `PENDING`, `STOPPED`), when
    /// ECS reports one.
    pub fn exec_agent(&self) -> Option<&ManagedAgent> {
        self.managed_agents
            .iter()
            .find(|a| a.name == ManagedAgent::EXECUTE_COMMAND)
    }
}

/// A managed agent of a container, as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedAgent {
    pub name: String,
    pub last_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ManagedAgent {
    /// The agent ECS Exec sessions go through.
    pub const EXECUTE_COMMAND: &'static str = "ExecuteCommandAgent";
}

/// What a target was found to be: a host, or a task (a task on Fargate has
/// no host, and ECS Exec reaches any task without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Located {
    Host(Box<Host>),
    Task(Box<TaskPlacement>),
}

/// The EC2 side of a host, as DescribeInstances reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    /// `running`, `stopped`, `pending`, …
    pub state: String,
    pub image_id: Option<String>,
    /// EC2's `Platform` field (`windows` or absent).
    pub platform: Option<String>,
    pub key_name: Option<String>,
    pub public_dns: Option<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub private_dns: Option<String>,
    /// When EC2 launched it (RFC 3339), to explain a password not yet set.
    pub launch_time: Option<String>,
    pub ipv6: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub security_groups: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl Instance {
    /// State of a container instance that is not an EC2 instance at all
    /// (ECS Anywhere registers `mi-…` managed instances).
    pub const EXTERNAL: &'static str = "external";
    /// State of a container instance whose EC2 instance no longer exists.
    pub const NOT_FOUND: &'static str = "not-found";

    /// An instance of which only the id (and so its state) is known.
    pub fn bare(instance_id: &str, state: &str) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            state: state.to_owned(),
            image_id: None,
            platform: None,
            key_name: None,
            public_dns: None,
            public_ip: None,
            private_ip: None,
            private_dns: None,
            launch_time: None,
            ipv6: None,
            availability_zone: None,
            vpc_id: None,
            subnet_id: None,
            security_groups: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    /// The address an EC2 Instance Connect Endpoint tunnels to: the
    /// private IPv4, else the IPv6 address (an endpoint of address type
    /// `dualstack` or `ipv6` reaches those). The AWS CLI also takes the
    /// private IPv4 first.
    pub fn tunnel_address(&self) -> Option<&str> {
        self.private_ip.as_deref().or(self.ipv6.as_deref())
    }
}

/// An EC2 instance joined with its AMI and, when it is one, its container
/// instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    #[serde(flatten)]
    pub ec2: Instance,
    pub image: Option<Image>,
    pub os: OsFamily,
    pub container_instance: Option<ContainerInstance>,
}

impl Host {
    /// Joins the facts; the OS family follows from the AMI and platform.
    pub fn new(
        ec2: Instance,
        image: Option<Image>,
        container_instance: Option<ContainerInstance>,
    ) -> Self {
        let os = super::os::classify(image.as_ref(), ec2.platform.as_deref());
        Self {
            ec2,
            image,
            os,
            container_instance,
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.ec2.instance_id
    }

    /// The `Name` tag.
    pub fn name(&self) -> Option<&str> {
        self.ec2.tags.get("Name").map(String::as_str)
    }

    /// The cluster this host is a container instance of.
    pub fn cluster(&self) -> Option<&str> {
        self.container_instance
            .as_ref()
            .map(|ci| ci.cluster.as_str())
    }

    /// A short label for pickers and candidate lists.
    pub fn label(&self) -> String {
        let mut label = self.ec2.instance_id.clone();
        if let Some(name) = self.name() {
            let _ = write!(label, " ({name})");
        }
        if let Some(ci) = &self.container_instance {
            let _ = write!(label, " {}/{} {}", ci.cluster, ci.id, ci.status);
        }
        if let Some(ip) = self.ec2.public_ip.as_ref().or(self.ec2.private_ip.as_ref()) {
            let _ = write!(label, " {ip}");
        }
        label
    }
}

/// Hosts for unit tests: an Ubuntu container instance of `prod` with a
/// public and a private address; tests change what they need.
#[cfg(test)]
pub fn example_host() -> Host {
    Host {
        ec2: Instance {
            instance_id: "i-0123456789abcdef0".into(),
            state: "running".into(),
            image_id: Some("ami-1".into()),
            platform: None,
            key_name: Some("prod".into()),
            public_dns: Some("ec2-3-4-5-6.compute-1.amazonaws.com".into()),
            public_ip: Some("3.4.5.6".into()),
            private_ip: Some("10.0.1.7".into()),
            private_dns: None,
            launch_time: None,
            ipv6: None,
            availability_zone: Some("us-east-1a".into()),
            vpc_id: None,
            subnet_id: None,
            security_groups: vec![],
            tags: [("Name".to_owned(), "web-1".to_owned())]
                .into_iter()
                .collect(),
        },
        image: None,
        os: OsFamily::Ubuntu,
        container_instance: Some(ContainerInstance {
            arn: "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc".into(),
            id: "abc".into(),
            cluster: "prod".into(),
            ec2_instance_id: "i-0123456789abcdef0".into(),
            status: "ACTIVE".into(),
            agent_connected: true,
            running_tasks: 2,
            pending_tasks: 0,
            ami_id: None,
        }),
    }
}

/// A container instance's status, as a filter asks for it (`--status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    Active,
    Draining,
}

impl InstanceStatus {
    /// As ECS spells it.
    pub fn as_str(self) -> &'static str {
        crate::model::named::Named::name(self)
    }
}

impl crate::model::named::Named for InstanceStatus {
    const WHAT: &'static str = "a container instance status";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Active, "ACTIVE", "Registered and taking tasks"),
        (
            Self::Draining,
            "DRAINING",
            "Being emptied of its tasks before maintenance",
        ),
    ];
}

crate::model::named::named_text!(InstanceStatus);
