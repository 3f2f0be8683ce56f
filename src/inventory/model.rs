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

/// The ECS side of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// An EC2 instance with, when it is one, its container instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub instance_id: String,
    pub name: Option<String>,
    /// `running`, `stopped`, `pending`, …
    pub state: String,
    pub image_id: Option<String>,
    pub image: Option<Image>,
    pub os: OsFamily,
    /// EC2's `Platform` field (`windows` or absent).
    pub platform: Option<String>,
    pub key_name: Option<String>,
    pub public_dns: Option<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub private_dns: Option<String>,
    pub ipv6: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub security_groups: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub container_instance: Option<ContainerInstance>,
}

impl Host {
    /// A short label for pickers and candidate lists.
    pub fn label(&self) -> String {
        let mut label = self.instance_id.clone();
        if let Some(name) = &self.name {
            let _ = write!(label, " ({name})");
        }
        if let Some(ci) = &self.container_instance {
            let _ = write!(label, " {}/{} {}", ci.cluster, ci.id, ci.status);
        }
        if let Some(ip) = self.public_ip.as_ref().or(self.private_ip.as_ref()) {
            let _ = write!(label, " {ip}");
        }
        label
    }
}
