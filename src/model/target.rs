//! The target grammar: one positional argument that names what to connect to.
//!
//! Parsing is pure and total: every string either becomes a [`Target`] or a
//! [`TargetError`] that says what was expected. No AWS call is made here; the
//! parser only decides which lookups `inventory` will need.
//!
//! | form                                   | meaning                                   |
//! |----------------------------------------|-------------------------------------------|
//! | `CLUSTER`                              | any container instance of the cluster     |
//! | `CLUSTER/i-0abc…`                      | that EC2 instance, checked to be in it    |
//! | `CLUSTER/<container-instance id/prefix>` | that container instance                 |
//! | `CLUSTER/<Name tag or IP address>`     | match on the Name tag or an address       |
//! | `i-0abc…`                              | that EC2 instance, in a cluster or not    |
//! | `arn:…:cluster/NAME`                   | the cluster (its region wins)             |
//! | `arn:…:container-instance/CLUSTER/ID`  | that container instance (its region wins) |
//! | `arn:…:task/CLUSTER/ID`, `CLUSTER/task/ID` | the host running that task            |
//! | `CLUSTER/service/NAME`                 | the hosts running that service's tasks    |
//! | `CLUSTER.NAME.berth`                   | `CLUSTER/NAME`, as ssh names it (`berth ssh-config`) |

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// What the user asked to connect to, plus the region an ARN pins it to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetQuery {
    pub target: Target,
    /// The region named inside an ARN; it overrides `--region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The account named inside an ARN: berth looks with the credentials it
    /// has, and says so when that is another account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl TargetQuery {
    /// The cluster, when the target names a whole cluster and nothing in it.
    pub fn whole_cluster(&self) -> Option<&str> {
        match &self.target {
            Target::Cluster {
                cluster,
                selector: None,
            } => Some(cluster),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A cluster, optionally narrowed to one of its container instances.
    Cluster {
        cluster: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        selector: Option<Selector>,
    },
    /// An EC2 instance id, whether or not it belongs to a cluster.
    Instance { instance_id: String },
    /// The container instance that runs a task (EC2 launch type).
    Task { cluster: String, task_id: String },
    /// The container instances that run a service's tasks.
    Service { cluster: String, service: String },
}

/// How the part after `CLUSTER/` picks a container instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum Selector {
    InstanceId(String),
    /// A full container instance id (32 hex digits, or a UUID).
    ContainerInstanceId(String),
    /// A hex prefix of a container instance id; falls back to the Name tag.
    ContainerInstancePrefix(String),
    Address(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the target is empty")]
    Empty,
    #[error("`{0}` is not a valid cluster name (letters, digits, `-` and `_`, at most 255)")]
    BadCluster(String),
    #[error("`{0}` has an empty part")]
    EmptyPart(String),
    #[error("`{0}` is not an ECS container-instance or task ARN")]
    BadArn(String),
    #[error("`{0}` is an old-format ARN without the cluster name")]
    ArnWithoutCluster(String),
    #[error("`{0}` has too many `/` parts")]
    TooManyParts(String),
    #[error("the target is {0} characters long: longer than any name or ARN it could be")]
    TooLong(usize),
    #[error("`{0}` is not an EC2 instance id: those are `i-` and 8 or 17 lowercase hex digits")]
    BadInstanceId(String),
    #[error(
        "`{0}` is an ECS ARN of another kind of resource (berth takes cluster, container-instance, task and service ARNs)"
    )]
    OtherEcsArn(String),
    #[error("`{0}` is the ARN of another AWS service than ECS")]
    OtherServiceArn(String),
}

/// The longest target berth accepts: an ARN of the longest cluster name
/// (255) and a container instance or task id is well under it.
pub const MAX_TARGET: usize = 1024;

/// The longest part between `/`s: AWS allows 255 characters in cluster and
/// service names and 256 in tag values.
const MAX_PART: usize = 256;

/// How much of a bad input an error message repeats.
const SHOWN: usize = 80;

/// `input` as an error message quotes it: at most [`SHOWN`] characters.
fn shown(input: &str) -> String {
    if input.chars().count() <= SHOWN {
        return input.to_owned();
    }
    let head: String = input.chars().take(SHOWN).collect();
    format!("{head}… ({} characters)", input.chars().count())
}

impl crate::model::hint::Hint for TargetError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::ArnWithoutCluster(_) => {
                "write it as CLUSTER/ID (for a task: CLUSTER/task/ID) so berth knows the cluster"
            }
            Self::BadInstanceId(_) => {
                "copy the id from `berth ls CLUSTER` or the EC2 console (e.g. i-0123456789abcdef0, \
                 lowercase); a cluster of that name is reached as arn:aws:ecs:REGION:ACCOUNT:cluster/NAME"
            }
            Self::OtherEcsArn(_) => {
                "for a service write CLUSTER/service/NAME; otherwise name the cluster, a container \
                 instance or a task"
            }
            Self::OtherServiceArn(_) => {
                "for an EC2 instance give its id alone (i-0abc…); otherwise an ECS cluster, \
                 container-instance or task ARN"
            }
            Self::TooLong(_) => "check what was pasted: a target is a name, an id or an ARN",
            _ => {
                "targets look like CLUSTER, CLUSTER/NAME, CLUSTER/i-0abc…, i-0abc…, \
                 CLUSTER/task/ID, CLUSTER/service/NAME or an ECS ARN (see `berth ssh --help`)"
            }
        }.to_owned())
    }
}

/// `input` as a bare cluster name (no `/…`, no ARN), if it is one.
pub fn bare_cluster(input: &str) -> Option<String> {
    match parse(input) {
        Ok(TargetQuery {
            target:
                Target::Cluster {
                    cluster,
                    selector: None,
                },
            region: None,
            account: None,
        }) => Some(cluster),
        _ => None,
    }
}

/// Parses one target argument.
pub fn parse(input: &str) -> Result<TargetQuery, TargetError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(TargetError::Empty);
    }
    if input.len() > MAX_TARGET {
        return Err(TargetError::TooLong(input.chars().count()));
    }
    if input.starts_with("arn:") {
        return parse_arn(input);
    }
    if let Some(target) = ssh_host_name(input) {
        return Ok(TargetQuery {
            target,
            region: None,
            account: None,
        });
    }
    if is_instance_id(input) {
        return Ok(TargetQuery {
            target: Target::Instance {
                instance_id: input.to_owned(),
            },
            region: None,
            account: None,
        });
    }
    if looks_like_instance_id(input) {
        return Err(TargetError::BadInstanceId(input.to_owned()));
    }
    let parts: Vec<&str> = input.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(TargetError::EmptyPart(shown(input)));
    }
    // Cluster and service names, Name tags and ids are at most 256 long.
    if parts.iter().any(|p| p.len() > MAX_PART) {
        return Err(TargetError::TooLong(input.chars().count()));
    }
    let cluster = cluster_name(parts[0], input)?;
    let target = match parts.as_slice() {
        [_] => Target::Cluster {
            cluster,
            selector: None,
        },
        [_, "task", id] => Target::Task {
            cluster,
            task_id: (*id).to_owned(),
        },
        [_, "service", name] => Target::Service {
            cluster,
            service: (*name).to_owned(),
        },
        [_, selector] => Target::Cluster {
            cluster,
            selector: Some(classify_selector(selector)),
        },
        _ => return Err(TargetError::TooManyParts(shown(input))),
    };
    Ok(TargetQuery {
        target,
        region: None,
        account: None,
    })
}

/// `CLUSTER.NAME.berth`, the host names `berth ssh-config` gives ssh: the
/// same as `CLUSTER/NAME` (a cluster name has no dots, so the first one
/// ends it; NAME may be a Name tag, an instance id or an address).
fn ssh_host_name(input: &str) -> Option<Target> {
    let (cluster, name) = input.strip_suffix(".berth")?.split_once('.')?;
    let cluster = cluster_name(cluster, input).ok()?;
    (!name.is_empty() && !name.contains('/')).then(|| Target::Cluster {
        cluster,
        selector: Some(classify_selector(name)),
    })
}

/// `arn:PARTITION:ecs:REGION:ACCOUNT:RESOURCE`, where RESOURCE is
/// `cluster/NAME`, `container-instance/CLUSTER/ID` or `task/CLUSTER/ID`.
fn parse_arn(arn: &str) -> Result<TargetQuery, TargetError> {
    let bad = || TargetError::BadArn(shown(arn));
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _partition, service, region, account, resource] = fields.as_slice() else {
        return Err(bad());
    };
    if !service.is_empty() && *service != "ecs" {
        return Err(TargetError::OtherServiceArn(shown(arn)));
    }
    if *service != "ecs" || region.is_empty() {
        return Err(bad());
    }
    let parts: Vec<&str> = resource.split('/').collect();
    let target = match parts.as_slice() {
        ["cluster", cluster] => Target::Cluster {
            cluster: cluster_name(cluster, arn)?,
            selector: None,
        },
        ["container-instance", cluster, id] if !id.is_empty() => Target::Cluster {
            cluster: cluster_name(cluster, arn)?,
            selector: Some(Selector::ContainerInstanceId((*id).to_owned())),
        },
        ["task", cluster, id] if !id.is_empty() => Target::Task {
            cluster: cluster_name(cluster, arn)?,
            task_id: (*id).to_owned(),
        },
        ["service", cluster, name] if !name.is_empty() => Target::Service {
            cluster: cluster_name(cluster, arn)?,
            service: (*name).to_owned(),
        },
        ["container-instance" | "task", _] => {
            return Err(TargetError::ArnWithoutCluster(shown(arn)));
        }
        [kind, ..] if !["cluster", "container-instance", "task", "service"].contains(kind) => {
            return Err(TargetError::OtherEcsArn(shown(arn)));
        }
        _ => return Err(bad()),
    };
    Ok(TargetQuery {
        target,
        region: Some((*region).to_owned()),
        account: Some((*account).to_owned()).filter(|a| !a.is_empty()),
    })
}

fn cluster_name(name: &str, whole: &str) -> Result<String, TargetError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(name.to_owned())
    } else if name.is_empty() {
        Err(TargetError::EmptyPart(shown(whole)))
    } else {
        Err(TargetError::BadCluster(shown(name)))
    }
}

fn classify_selector(s: &str) -> Selector {
    if is_instance_id(s) {
        return Selector::InstanceId(s.to_owned());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Selector::Address(ip);
    }
    let hex = |t: &str| {
        t.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    let compact: String = s.chars().filter(|&c| c != '-').collect();
    let uuid_shaped = s.len() == 36 && s.matches('-').count() == 4;
    if (s.len() == 32 || uuid_shaped) && compact.len() == 32 && hex(&compact) {
        return Selector::ContainerInstanceId(s.to_owned());
    }
    if s.len() >= 4 && hex(s) {
        return Selector::ContainerInstancePrefix(s.to_owned());
    }
    Selector::Name(s.to_owned())
}

/// Meant as an instance id but not one: `i-` and up to 24 letters and
/// digits, at least one a digit (a typo, a cut, upper case). A cluster
/// named so is still reached through its ARN.
fn looks_like_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|rest| {
        (1..=24).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_alphanumeric())
            && rest.chars().any(|c| c.is_ascii_digit())
    })
}

/// `i-` followed by 8 or 17 lowercase hex digits, as EC2 issues them.
pub fn is_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|rest| {
        (rest.len() == 8 || rest.len() == 17)
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cluster {
                cluster,
                selector: None,
            } => write!(f, "cluster {cluster}"),
            Self::Cluster {
                cluster,
                selector: Some(sel),
            } => write!(f, "{sel} in cluster {cluster}"),
            Self::Instance { instance_id } => write!(f, "instance {instance_id}"),
            Self::Task { cluster, task_id } => write!(f, "task {task_id} in cluster {cluster}"),
            Self::Service { cluster, service } => {
                write!(f, "service {service} in cluster {cluster}")
            }
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InstanceId(id) => write!(f, "instance {id}"),
            Self::ContainerInstanceId(id) => write!(f, "container instance {id}"),
            Self::ContainerInstancePrefix(p) => {
                write!(f, "container instance {p}… (or Name tag {p})")
            }
            Self::Address(ip) => write!(f, "address {ip}"),
            Self::Name(n) => write!(f, "Name tag {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;

    fn cluster(c: &str, selector: Option<Selector>) -> Target {
        Target::Cluster {
            cluster: c.into(),
            selector,
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
    fn parses_every_form() {
        let ip: IpAddr = "10.0.1.7".parse().expect("ip");
        let table: Vec<(&str, Target, Option<&str>)> = vec![
            ("prod", cluster("prod", None), None),
            ("  prod  ", cluster("prod", None), None),
            (
                "i-0123456789abcdef0",
                Target::Instance {
                    instance_id: "i-0123456789abcdef0".into(),
                },
                None,
            ),
            (
                "i-12345678",
                Target::Instance {
                    instance_id: "i-12345678".into(),
                },
                None,
            ),
            (
                "prod/i-0123456789abcdef0",
                cluster(
                    "prod",
                    Some(Selector::InstanceId("i-0123456789abcdef0".into())),
                ),
                None,
            ),
            (
                "prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                cluster(
                    "prod",
                    Some(Selector::ContainerInstanceId(
                        "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
                    )),
                ),
                None,
            ),
            (
                "prod/5f1c2e7a-1111-4222-8333-944455556666",
                cluster(
                    "prod",
                    Some(Selector::ContainerInstanceId(
                        "5f1c2e7a-1111-4222-8333-944455556666".into(),
                    )),
                ),
                None,
            ),
            (
                "prod/0f1e2d",
                cluster(
                    "prod",
                    Some(Selector::ContainerInstancePrefix("0f1e2d".into())),
                ),
                None,
            ),
            (
                "prod/abc",
                cluster("prod", Some(Selector::Name("abc".into()))),
                None,
            ),
            (
                "prod/web-1",
                cluster("prod", Some(Selector::Name("web-1".into()))),
                None,
            ),
            (
                "prod/10.0.1.7",
                cluster("prod", Some(Selector::Address(ip))),
                None,
            ),
            (
                "prod/i-nothex",
                cluster("prod", Some(Selector::Name("i-nothex".into()))),
                None,
            ),
            (
                "prod/task/0a1b2c3d",
                Target::Task {
                    cluster: "prod".into(),
                    task_id: "0a1b2c3d".into(),
                },
                None,
            ),
            (
                "prod/service/web",
                Target::Service {
                    cluster: "prod".into(),
                    service: "web".into(),
                },
                None,
            ),
            (
                "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                cluster(
                    "prod",
                    Some(Selector::ContainerInstanceId(
                        "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
                    )),
                ),
                Some("eu-west-1"),
            ),
            (
                "arn:aws:ecs:us-west-2:123456789012:cluster/prod",
                cluster("prod", None),
                Some("us-west-2"),
            ),
            (
                "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
                Target::Service {
                    cluster: "prod".into(),
                    service: "web".into(),
                },
                Some("eu-west-1"),
            ),
            ("i-abcdef", cluster("i-abcdef", None), None),
            (
                "arn:aws-cn:ecs:cn-north-1:123456789012:task/prod/77aa",
                Target::Task {
                    cluster: "prod".into(),
                    task_id: "77aa".into(),
                },
                Some("cn-north-1"),
            ),
        ];
        for (input, target, region) in table {
            let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.target, target, "{input}");
            assert_eq!(got.region.as_deref(), region, "{input}");
        }
    }

    #[test]
    fn ssh_config_host_names_name_a_host_of_a_cluster() {
        let ip: IpAddr = "10.0.1.7".parse().expect("ip");
        for (input, selector) in [
            ("prod.web-1.berth", Selector::Name("web-1".into())),
            ("prod.db.primary.berth", Selector::Name("db.primary".into())),
            (
                "prod.i-0123456789abcdef0.berth",
                Selector::InstanceId("i-0123456789abcdef0".into()),
            ),
            ("prod.10.0.1.7.berth", Selector::Address(ip)),
        ] {
            let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.target, cluster("prod", Some(selector)), "{input}");
        }
        // Not the form: an empty part, or no cluster before the name.
        for input in [
            "prod..berth",
            ".web-1.berth",
            "prod.berth",
            "pr od.web.berth",
        ] {
            assert!(parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_targets() {
        let table: Vec<(&str, TargetError)> = vec![
            ("", TargetError::Empty),
            ("   ", TargetError::Empty),
            ("prod/", TargetError::EmptyPart("prod/".into())),
            ("/i-12345678", TargetError::EmptyPart("/i-12345678".into())),
            ("prod//x", TargetError::EmptyPart("prod//x".into())),
            ("pr od", TargetError::BadCluster("pr od".into())),
            ("a/b/c/d", TargetError::TooManyParts("a/b/c/d".into())),
            ("prod/web/x", TargetError::TooManyParts("prod/web/x".into())),
            (
                "arn:aws:ec2:us-east-1:1:instance/i-12345678",
                TargetError::OtherServiceArn("arn:aws:ec2:us-east-1:1:instance/i-12345678".into()),
            ),
            (
                "arn:aws:ecs:us-east-1:1:task-definition/web:3",
                TargetError::OtherEcsArn("arn:aws:ecs:us-east-1:1:task-definition/web:3".into()),
            ),
            ("i-123", TargetError::BadInstanceId("i-123".into())),
            (
                "i-0123456789abcdefg",
                TargetError::BadInstanceId("i-0123456789abcdefg".into()),
            ),
            (
                "i-0123456789ABCDEF0",
                TargetError::BadInstanceId("i-0123456789ABCDEF0".into()),
            ),
            ("i-1234567", TargetError::BadInstanceId("i-1234567".into())),
            (
                "arn:aws:ecs:us-east-1:1:container-instance/abc",
                TargetError::ArnWithoutCluster(
                    "arn:aws:ecs:us-east-1:1:container-instance/abc".into(),
                ),
            ),
            ("arn:aws:ecs", TargetError::BadArn("arn:aws:ecs".into())),
        ];
        for (input, expected) in table {
            assert_eq!(parse(input), Err(expected), "{input:?}");
        }
    }

    /// Every short string over an alphabet of the grammar's separators and
    /// awkward characters parses or fails cleanly, and what parses keeps the
    /// grammar's promises.
    #[test]
    fn no_input_panics_and_results_are_well_formed() {
        let alphabet = [
            "/", ":", "i-", "arn:", "a", "0", "f", "-", " ", "é", "task", ".",
        ];
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            inputs = inputs
                .iter()
                .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
                .collect();
            for input in &inputs {
                match parse(input) {
                    Ok(query) => {
                        let cluster = match &query.target {
                            Target::Cluster { cluster, .. }
                            | Target::Task { cluster, .. }
                            | Target::Service { cluster, .. } => cluster.as_str(),
                            Target::Instance { instance_id } => {
                                assert!(is_instance_id(instance_id), "{input:?}");
                                continue;
                            }
                        };
                        assert!(
                            cluster_name(cluster, input).is_ok(),
                            "{input:?} → {cluster:?}"
                        );
                        assert!(!query.target.to_string().is_empty());
                    }
                    Err(e) => assert!(
                        !e.to_string().is_empty() && !e.hint().unwrap_or_default().is_empty()
                    ),
                }
            }
        }
    }

    #[test]
    fn long_inputs_are_refused_and_never_repeated_whole() {
        let long = "a".repeat(MAX_TARGET + 1);
        assert_eq!(parse(&long), Err(TargetError::TooLong(MAX_TARGET + 1)));
        assert_eq!(
            parse(&format!("prod/{}", "b".repeat(257))),
            Err(TargetError::TooLong(262))
        );
        let name = format!("prod/{}/x/y", "b".repeat(200));
        let err = parse(&name).expect_err("too many parts");
        let message = err.to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("(209 characters)"), "{message}");
        let cluster = format!("{}!", "c".repeat(200));
        let err = parse(&cluster).expect_err("not a cluster name");
        assert!(err.to_string().contains("(201 characters)"), "{err}");
    }

    #[test]
    fn instance_ids_are_strict() {
        for (s, ok) in [
            ("i-12345678", true),
            ("i-0123456789abcdef0", true),
            ("i-0123456789ABCDEF0", false),
            ("i-1234567", false),
            ("i-", false),
            ("x-12345678", false),
        ] {
            assert_eq!(is_instance_id(s), ok, "{s}");
        }
    }
}
