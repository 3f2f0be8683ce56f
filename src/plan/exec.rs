//! `berth exec`: which container to enter and the command that enters it.
//! Pure: the tasks come described, the choice and the argv are data.

use crate::model::host::TaskPlacement;

/// A container one can exec into: running, with a runtime id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerChoice {
    pub task_arn: String,
    pub task_definition: Option<String>,
    pub name: String,
    pub runtime_id: String,
}

impl ContainerChoice {
    /// `name (family:rev, task ID)`, for pickers and messages.
    pub fn label(&self) -> String {
        let task_id = self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn);
        match &self.task_definition {
            Some(def) => format!("{} ({def}, task {task_id})", self.name),
            None => format!("{} (task {task_id})", self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("{what} runs no container{}", named(.wanted.as_deref()))]
    NoContainer {
        what: String,
        wanted: Option<String>,
        /// The containers there are, by name.
        present: Vec<String>,
    },
    #[error("{what} runs {} containers", .labels.len())]
    Several { what: String, labels: Vec<String> },
    #[error("container `{name}` of task {task} has no runtime id: it is {status}")]
    NotRunning {
        name: String,
        task: String,
        status: String,
    },
}

fn named(wanted: Option<&str>) -> String {
    wanted.map_or_else(String::new, |w| format!(" named `{w}`"))
}

impl crate::model::hint::Hint for ExecError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoContainer { present, .. } if present.is_empty() => {
                "check the target with `berth show`; tasks on Fargate have no host to exec on"
                    .to_owned()
            }
            Self::NoContainer { present, .. } => {
                format!(
                    "containers there: {}; pick one with --container NAME",
                    present.join(", ")
                )
            }
            Self::Several { labels, .. } => format!(
                "pick one with --container NAME (or take the first with --first): {}",
                labels.join("; ")
            ),
            Self::NotRunning { .. } => "wait until it runs, or pick another container".to_owned(),
        })
    }
}

/// The containers of `tasks` matching `--container` (all without it).
/// A container that matches by name but has no runtime id yet is an
/// error of its own when it is the only match.
pub fn candidates(
    what: &str,
    tasks: &[TaskPlacement],
    wanted: Option<&str>,
) -> Result<Vec<ContainerChoice>, ExecError> {
    let mut matched = Vec::new();
    let mut not_running = None;
    for task in tasks {
        for c in &task.containers {
            if wanted.is_some_and(|w| w != c.name) {
                continue;
            }
            match &c.runtime_id {
                Some(id) => matched.push(ContainerChoice {
                    task_arn: task.arn.clone(),
                    task_definition: task.task_definition.clone(),
                    name: c.name.clone(),
                    runtime_id: id.clone(),
                }),
                None => {
                    not_running.get_or_insert(ExecError::NotRunning {
                        name: c.name.clone(),
                        task: task.arn.clone(),
                        status: c
                            .last_status
                            .clone()
                            .unwrap_or_else(|| "not running".to_owned()),
                    });
                }
            }
        }
    }
    if matched.is_empty() {
        return Err(not_running.unwrap_or_else(|| ExecError::NoContainer {
            what: what.to_owned(),
            wanted: wanted.map(str::to_owned),
            present: tasks
                .iter()
                .flat_map(|t| t.containers.iter().map(|c| c.name.clone()))
                .collect(),
        }));
    }
    Ok(matched)
}

/// The remote command: `docker exec` into `runtime_id` with `command`
/// (default `sh`); `-it` when there is a terminal to give it, else `-i`.
pub fn docker_exec(runtime_id: &str, command: &[String], terminal: bool) -> Vec<String> {
    let mut words = vec![
        "docker".to_owned(),
        "exec".to_owned(),
        if terminal { "-it" } else { "-i" }.to_owned(),
        runtime_id.to_owned(),
    ];
    if command.is_empty() {
        words.push("sh".to_owned());
    } else {
        words.extend(command.iter().cloned());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;
    use crate::model::host::TaskContainer;

    fn task(arn: &str, containers: &[(&str, Option<&str>)]) -> TaskPlacement {
        TaskPlacement {
            arn: arn.to_owned(),
            container_instance_arn: Some("ci".to_owned()),
            task_definition: Some("web:3".to_owned()),
            containers: containers
                .iter()
                .map(|(name, id)| TaskContainer {
                    name: (*name).to_owned(),
                    runtime_id: id.map(str::to_owned),
                    last_status: Some(if id.is_some() { "RUNNING" } else { "PENDING" }.to_owned()),
                })
                .collect(),
        }
    }

    #[test]
    fn choosing_a_container() {
        let tasks = [
            task(
                "arn:t/prod/1",
                &[("web", Some("aa")), ("sidecar", Some("bb"))],
            ),
            task("arn:t/prod/2", &[("web", None)]),
        ];
        let names = |r: Result<Vec<ContainerChoice>, ExecError>| {
            r.map(|c| c.into_iter().map(|c| c.runtime_id).collect::<Vec<_>>())
        };
        assert_eq!(
            names(candidates("h", &tasks, None)),
            Ok(vec!["aa".into(), "bb".into()])
        );
        assert_eq!(
            names(candidates("h", &tasks, Some("sidecar"))),
            Ok(vec!["bb".into()])
        );
        assert_eq!(
            names(candidates("h", &tasks, Some("web"))),
            Ok(vec!["aa".into()])
        );
        let err = candidates("h", &tasks, Some("db")).expect_err("none");
        assert!(
            err.hint().unwrap_or_default().contains("web, sidecar, web"),
            "{}",
            err.hint().unwrap_or_default()
        );
        let pending = [task("arn:t/prod/2", &[("web", None)])];
        assert!(matches!(
            candidates("h", &pending, None),
            Err(ExecError::NotRunning { .. })
        ));
        assert!(matches!(
            candidates("h", &[], None),
            Err(ExecError::NoContainer { .. })
        ));
    }

    #[test]
    fn the_docker_command() {
        let words = |v: Vec<String>| v.join(" ");
        assert_eq!(words(docker_exec("aa", &[], true)), "docker exec -it aa sh");
        assert_eq!(
            words(docker_exec(
                "aa",
                &["cat".into(), "/etc/os-release".into()],
                false
            )),
            "docker exec -i aa cat /etc/os-release"
        );
    }

    #[test]
    fn labels_name_the_task() {
        let c = &candidates(
            "h",
            &[task(
                "arn:aws:ecs:r:1:task/prod/abc",
                &[("web", Some("aa"))],
            )],
            None,
        )
        .expect("one")[0];
        assert_eq!(c.label(), "web (web:3, task abc)");
    }
}
