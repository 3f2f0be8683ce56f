//! `berth exec`: which container to enter, which engine enters it (ECS
//! Exec or `docker exec` over ssh) and the command that does. Pure: the
//! tasks come described, the choice and the argv are data.
//!
//! ECS Exec runs its command without a shell, on a terminal, and sends no
//! exit status back (`../shared/ssm-protocol.md` §1). berth runs the
//! command through `sh -c` itself and has the shell print a marker with
//! the status last ([`StatusMarker`]); [`MarkerFilter`] takes it out of
//! the output. A stream that ends without the marker has no status: berth
//! says so and never makes one up.

use crate::model::host::{ManagedAgent, TaskContainer, TaskPlacement};
use crate::model::named::Named;

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

/// How to get into the container (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecEngine {
    /// ECS Exec when the task has it (enabled, its agent RUNNING), else
    /// `docker exec` over ssh on the task's host.
    #[default]
    Auto,
    /// ECS Exec (ExecuteCommand) through berth's Session Manager client.
    EcsExec,
    /// `docker exec` over ssh on the task's host.
    Docker,
}

impl Named for ExecEngine {
    const WHAT: &'static str = "an exec engine";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Auto,
            "auto",
            "ECS Exec when the task has it enabled and its agent is RUNNING, else docker exec over ssh",
        ),
        (
            Self::EcsExec,
            "ecs-exec",
            "ECS Exec (ExecuteCommand): no ssh, works on Fargate",
        ),
        (
            Self::Docker,
            "docker",
            "docker exec over ssh on the task's host (EC2 launch type only)",
        ),
    ];
}

crate::model::named::named_text!(ExecEngine);

/// The engine that will run, and why (berth says it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineChoice {
    pub engine: Chosen,
    pub why: String,
}

/// What an [`ExecEngine`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    EcsExec,
    Docker,
}

/// Whether ECS Exec can reach `container` of `task` (in `cluster`):
/// enabled on the task, its agent RUNNING in the container.
pub fn ecs_exec_ready(
    cluster: &str,
    task: &TaskPlacement,
    container: &TaskContainer,
) -> Result<(), ExecError> {
    if !task.enable_execute_command {
        return Err(ExecError::NotEnabled {
            cluster: cluster.to_owned(),
            task: task.id().to_owned(),
            service: task.service().map(str::to_owned),
            task_definition: task.task_definition.clone(),
        });
    }
    let agent = container.exec_agent();
    let status = agent.and_then(|a| a.last_status.as_deref());
    if status == Some("RUNNING") {
        return Ok(());
    }
    Err(ExecError::AgentNotRunning(Box::new(AgentState {
        cluster: cluster.to_owned(),
        task: task.id().to_owned(),
        container: container.name.clone(),
        status: status.unwrap_or("not reported").to_owned(),
        reason: agent.and_then(|a| a.reason.clone()),
        service: task.service().map(str::to_owned),
    })))
}

/// Which engine enters `container` of `task`, as `asked`: ECS Exec when
/// asked and possible; `docker` when asked and the task has a host; `auto`
/// takes ECS Exec when it is ready, else docker on a host, else (Fargate)
/// fails with why ECS Exec is not possible.
pub fn choose_engine(
    asked: ExecEngine,
    cluster: &str,
    task: &TaskPlacement,
    container: &TaskContainer,
) -> Result<EngineChoice, ExecError> {
    let ready = ecs_exec_ready(cluster, task, container);
    match asked {
        ExecEngine::EcsExec => ready.map(|()| EngineChoice {
            engine: Chosen::EcsExec,
            why: "--engine ecs-exec".to_owned(),
        }),
        ExecEngine::Docker if task.container_instance_arn.is_none() => Err(ExecError::NoHost {
            task: task.id().to_owned(),
        }),
        ExecEngine::Docker => Ok(EngineChoice {
            engine: Chosen::Docker,
            why: "--engine docker".to_owned(),
        }),
        ExecEngine::Auto => match ready {
            Ok(()) => Ok(EngineChoice {
                engine: Chosen::EcsExec,
                why: format!(
                    "ECS Exec: task {} has enableExecuteCommand and its {} is RUNNING",
                    task.id(),
                    ManagedAgent::EXECUTE_COMMAND
                ),
            }),
            Err(e) if task.container_instance_arn.is_some() => Ok(EngineChoice {
                engine: Chosen::Docker,
                why: format!("docker exec over ssh, not ECS Exec: {e}"),
            }),
            Err(e) => Err(e),
        },
    }
}

/// The end-of-command marker: the shell prints `TOKEN<status>` on a line
/// of its own once the command is done. The token is random per session,
/// so that no output mistakes itself for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMarker {
    token: String,
}

impl StatusMarker {
    /// A marker from random hex digits (the caller draws them).
    pub fn new(nonce: &str) -> Self {
        Self {
            token: format!("__berth_status_{nonce}_"),
        }
    }

    /// The command ExecuteCommand gets: `sh -c SCRIPT`, quoted for the
    /// agent, which splits it shell-style and runs it without a shell.
    /// The script runs `command` (default `sh`) in a subshell, then
    /// prints the marker with its status. Without a terminal on berth's
    /// side, the remote terminal stops echoing input and translating
    /// newlines, so piped output arrives as it was written.
    pub fn command(&self, command: &[String], terminal: bool) -> String {
        let inner = if command.is_empty() {
            "sh".to_owned()
        } else {
            command
                .iter()
                .map(|w| sh_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let prefix = if terminal {
            ""
        } else {
            "stty -echo -onlcr 2>/dev/null; "
        };
        let script = format!("{prefix}( {inner} ); echo {}$?", self.token);
        format!("sh -c {}", sh_quote(&script))
    }

    /// A filter for the session's output.
    pub fn filter(&self) -> MarkerFilter {
        MarkerFilter {
            token: self.token.as_bytes().to_vec(),
            held: Vec::new(),
            status: None,
        }
    }
}

/// `word` in single quotes for a POSIX shell (and the agent's shell-style
/// split): a `'` inside becomes `'\''`.
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Takes the marker line out of a stream and keeps its status; everything
/// else passes through, held back only while it could be the start of the
/// marker.
#[derive(Debug, Clone)]
pub struct MarkerFilter {
    token: Vec<u8>,
    held: Vec<u8>,
    status: Option<i32>,
}

impl MarkerFilter {
    /// The bytes of `data` that may be written now.
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        if self.status.is_some() {
            return data.to_vec();
        }
        self.held.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            let Some(at) = find(&self.held, &self.token) else {
                // Keep the longest tail that may begin the token.
                let keep = (1..self.token.len().min(self.held.len() + 1))
                    .rev()
                    .find(|&n| self.held.ends_with(&self.token[..n]))
                    .unwrap_or(0);
                let cut = self.held.len() - keep;
                out.extend(self.held.drain(..cut));
                return out;
            };
            out.extend(self.held.drain(..at));
            match parse_status(&self.held[self.token.len()..]) {
                Parsed::Line { status, len } => {
                    self.status = Some(status);
                    self.held.drain(..self.token.len() + len);
                    out.append(&mut self.held);
                    return out;
                }
                Parsed::Incomplete => return out,
                // Not a marker after all: let its first byte through.
                Parsed::NotMarker => out.push(self.held.remove(0)),
            }
        }
    }

    /// At the end of the stream: what is still held, and the status if
    /// the marker came (its line may lack the newline).
    pub fn finish(mut self) -> (Vec<u8>, Option<i32>) {
        if self.status.is_none() && self.held.starts_with(&self.token) {
            let digits = &self.held[self.token.len()..];
            let text = String::from_utf8_lossy(digits);
            if let Ok(status) = text.trim_end_matches(['\r', '\n']).parse() {
                return (Vec::new(), Some(status));
            }
        }
        (std::mem::take(&mut self.held), self.status)
    }

    pub fn status(&self) -> Option<i32> {
        self.status
    }
}

enum Parsed {
    /// The status and how many bytes its line took (digits and line end).
    Line {
        status: i32,
        len: usize,
    },
    Incomplete,
    NotMarker,
}

fn parse_status(after: &[u8]) -> Parsed {
    let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 3 {
        return Parsed::NotMarker;
    }
    let rest = &after[digits..];
    let end = match rest {
        [] | [b'\r'] => return Parsed::Incomplete,
        [b'\n', ..] => 1,
        [b'\r', b'\n', ..] => 2,
        _ => return Parsed::NotMarker,
    };
    if digits == 0 {
        return Parsed::NotMarker;
    }
    let status = std::str::from_utf8(&after[..digits])
        .ok()
        .and_then(|d| d.parse().ok());
    match status {
        Some(status) => Parsed::Line {
            status,
            len: digits + end,
        },
        None => Parsed::NotMarker,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
    #[error("task {task} runs without ECS Exec (enableExecuteCommand is false)")]
    NotEnabled {
        cluster: String,
        task: String,
        service: Option<String>,
        task_definition: Option<String>,
    },
    #[error(
        "the ECS Exec agent (ExecuteCommandAgent) of container `{}` in task {} is {}{}",
        .0.container, .0.task, .0.status,
        .0.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    )]
    AgentNotRunning(Box<AgentState>),
    #[error("{what} runs {} tasks", .tasks.len())]
    SeveralTasks {
        what: String,
        /// Each task's label and the target that names it.
        tasks: Vec<(String, String)>,
    },
    #[error("{what} runs no task")]
    NoTask { what: String, hint: String },
    #[error("task {task} runs on Fargate: it has no host to run docker exec on")]
    NoHost { task: String },
    #[error("ECS refused to exec into task {task}: {message}")]
    Refused { task: String, message: String },
    #[error(
        "the command's exit status is unknown: its output ended without the status berth's `sh -c` wrapper prints"
    )]
    StatusUnknown,
}

/// An ECS Exec agent that is not RUNNING, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    pub cluster: String,
    pub task: String,
    pub container: String,
    /// `PENDING`, `STOPPED`, or "not reported".
    pub status: String,
    pub reason: Option<String>,
    pub service: Option<String>,
}

/// How to turn ECS Exec on for a task: a service's tasks through the
/// service, a standalone task by starting a new one.
pub fn enable_command(
    cluster: &str,
    service: Option<&str>,
    task_definition: Option<&str>,
) -> String {
    match service {
        Some(service) => format!(
            "aws ecs update-service --cluster {cluster} --service {service} \
             --enable-execute-command --force-new-deployment"
        ),
        None => format!(
            "aws ecs run-task --cluster {cluster} --task-definition {} \
             --enable-execute-command … (a running task cannot be changed: start a new one)",
            task_definition.unwrap_or("FAMILY:REVISION")
        ),
    }
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
            Self::NotEnabled {
                cluster,
                service,
                task_definition,
                ..
            } => format!(
                "enable it: `{}`; or, on an EC2 host, use --engine docker",
                enable_command(cluster, service.as_deref(), task_definition.as_deref())
            ),
            Self::AgentNotRunning(agent) if agent.status == "PENDING" => {
                "the agent is still starting: try again in a few seconds".to_owned()
            }
            Self::AgentNotRunning(agent) => {
                let cluster = &agent.cluster;
                let restart = match &agent.service {
                    Some(service) => format!(
                        "then replace the task: `aws ecs update-service --cluster {cluster} \
                         --service {service} --force-new-deployment`"
                    ),
                    None => "then start a new task (`aws ecs run-task … --enable-execute-command`)"
                        .to_owned(),
                };
                format!(
                    "the agent needs the task role to allow ssmmessages:CreateControlChannel, \
                     CreateDataChannel, OpenControlChannel and OpenDataChannel, and a way to \
                     ssmmessages (a VPC endpoint in private subnets); {restart}; `berth doctor \
                     TARGET` checks these"
                )
            }
            Self::SeveralTasks { tasks, .. } => format!(
                "name one (or take the first with --first): {}",
                tasks
                    .iter()
                    .map(|(label, target)| format!("{target} ({label})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Self::NoTask { hint, .. } => hint.clone(),
            Self::NoHost { .. } => "use ECS Exec: --engine ecs-exec (or auto)".to_owned(),
            Self::Refused { .. } => "`berth doctor TARGET` checks what ECS Exec needs".to_owned(),
            Self::StatusUnknown => "the container may have no `sh`; the command ran, but berth \
                                    cannot tell how it ended"
                .to_owned(),
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
                    managed_agents: vec![],
                })
                .collect(),
            ..TaskPlacement::default()
        }
    }

    /// A task of `prod` with one container `app` and ECS Exec as given.
    fn exec_task(
        host: bool,
        enabled: bool,
        agent: Option<&str>,
        group: Option<&str>,
    ) -> (TaskPlacement, TaskContainer) {
        let container = TaskContainer {
            name: "app".into(),
            runtime_id: Some("rt".into()),
            last_status: Some("RUNNING".into()),
            managed_agents: agent
                .map(|status| ManagedAgent {
                    name: ManagedAgent::EXECUTE_COMMAND.into(),
                    last_status: Some(status.into()),
                    reason: None,
                })
                .into_iter()
                .collect(),
        };
        let task = TaskPlacement {
            arn: "arn:aws:ecs:us-east-1:1:task/prod/abc".into(),
            container_instance_arn: host.then(|| "ci".to_owned()),
            task_definition: Some("api:4".into()),
            containers: vec![container.clone()],
            launch_type: Some(if host { "EC2" } else { "FARGATE" }.into()),
            enable_execute_command: enabled,
            group: group.map(str::to_owned),
            ..TaskPlacement::default()
        };
        (task, container)
    }

    #[test]
    fn the_engine_is_chosen_from_the_tasks_facts() {
        use ExecEngine::{Auto, Docker, EcsExec};
        // (asked, on a host, enabled, agent status) -> engine, or the error's start
        type Case = (
            ExecEngine,
            bool,
            bool,
            Option<&'static str>,
            Result<Chosen, &'static str>,
        );
        let cases: &[Case] = &[
            (Auto, true, true, Some("RUNNING"), Ok(Chosen::EcsExec)),
            (Auto, false, true, Some("RUNNING"), Ok(Chosen::EcsExec)),
            (Auto, true, false, None, Ok(Chosen::Docker)),
            (Auto, true, true, Some("STOPPED"), Ok(Chosen::Docker)),
            (
                Auto,
                false,
                false,
                None,
                Err("task abc runs without ECS Exec"),
            ),
            (
                Auto,
                false,
                true,
                Some("STOPPED"),
                Err("the ECS Exec agent"),
            ),
            (Auto, false, true, None, Err("the ECS Exec agent")),
            (
                EcsExec,
                true,
                false,
                None,
                Err("task abc runs without ECS Exec"),
            ),
            (
                EcsExec,
                true,
                true,
                Some("PENDING"),
                Err("the ECS Exec agent"),
            ),
            (EcsExec, false, true, Some("RUNNING"), Ok(Chosen::EcsExec)),
            (Docker, true, true, Some("RUNNING"), Ok(Chosen::Docker)),
            (
                Docker,
                false,
                true,
                Some("RUNNING"),
                Err("task abc runs on Fargate"),
            ),
        ];
        for (asked, host, enabled, agent, expected) in cases {
            let (task, container) = exec_task(*host, *enabled, *agent, None);
            let got = choose_engine(*asked, "prod", &task, &container);
            match (expected, got) {
                (Ok(engine), Ok(choice)) => assert_eq!(
                    choice.engine, *engine,
                    "{asked:?} {host} {enabled} {agent:?}: {}",
                    choice.why
                ),
                (Err(start), Err(e)) => assert!(
                    e.to_string().starts_with(start),
                    "{asked:?} {host} {enabled} {agent:?}: {e}"
                ),
                (expected, got) => {
                    panic!("{asked:?} {host} {enabled} {agent:?}: {expected:?} vs {got:?}")
                }
            }
        }
    }

    #[test]
    fn each_refusal_names_its_fix() {
        let (task, container) = exec_task(false, false, None, Some("service:api"));
        let e = choose_engine(ExecEngine::Auto, "prod", &task, &container).expect_err("off");
        assert!(
            e.hint().unwrap_or_default().contains(
                "aws ecs update-service --cluster prod --service api --enable-execute-command \
                 --force-new-deployment"
            ),
            "{e:?}"
        );
        let (task, container) = exec_task(false, false, None, None);
        let e = choose_engine(ExecEngine::Auto, "prod", &task, &container).expect_err("off");
        assert!(
            e.hint().unwrap_or_default().contains(
                "aws ecs run-task --cluster prod --task-definition api:4 --enable-execute-command"
            ),
            "{e:?}"
        );
        let (task, container) = exec_task(false, true, Some("STOPPED"), Some("service:api"));
        let e = choose_engine(ExecEngine::Auto, "prod", &task, &container).expect_err("stopped");
        let hint = e.hint().unwrap_or_default();
        assert!(hint.contains("ssmmessages:CreateControlChannel"), "{hint}");
        assert!(
            hint.contains("--service api --force-new-deployment"),
            "{hint}"
        );
        let (task, container) = exec_task(false, true, Some("PENDING"), None);
        let e = choose_engine(ExecEngine::Auto, "prod", &task, &container).expect_err("pending");
        assert!(e.hint().unwrap_or_default().contains("still starting"));
    }

    #[test]
    fn the_command_goes_through_sh_with_its_status_marked() {
        let marker = StatusMarker::new("ab12");
        assert_eq!(
            marker.command(&["cat".into(), "/etc/hostname".into()], true),
            r"sh -c '( '\''cat'\'' '\''/etc/hostname'\'' ); echo __berth_status_ab12_$?'"
        );
        assert_eq!(
            marker.command(&[], false),
            "sh -c 'stty -echo -onlcr 2>/dev/null; ( sh ); echo __berth_status_ab12_$?'"
        );
        // The agent splits it shell-style: the script comes out whole, and
        // a shell running it would see the words as given.
        let words = shlex::split(&marker.command(
            &["sh".into(), "-c".into(), "exit 7".into(), "it's".into()],
            true,
        ))
        .expect("splits");
        assert_eq!(words[..2], ["sh", "-c"]);
        assert_eq!(
            words[2],
            "( 'sh' '-c' 'exit 7' 'it'\\''s' ); echo __berth_status_ab12_$?"
        );
        assert_eq!(
            shlex::split(&words[2][2..words[2].find(" );").expect("inner")]).expect("inner words"),
            ["sh", "-c", "exit 7", "it's"]
        );
    }

    #[test]
    fn the_marker_is_taken_out_of_the_output_however_it_is_cut() {
        let marker = StatusMarker::new("ab12");
        let stream =
            b"hello\r\nworld __berth_status_ab12_ not a marker\r\n__berth_status_ab12_7\r\n";
        for cut in 1..stream.len() {
            let mut filter = marker.filter();
            let mut out = Vec::new();
            for piece in stream.chunks(cut) {
                out.extend(filter.feed(piece));
            }
            let (rest, status) = filter.finish();
            out.extend(rest);
            assert_eq!(status, Some(7), "cut {cut}");
            assert_eq!(
                String::from_utf8_lossy(&out),
                "hello\r\nworld __berth_status_ab12_ not a marker\r\n",
                "cut {cut}"
            );
        }
        // No marker: everything passes, and there is no status.
        let mut filter = marker.filter();
        let mut out = filter.feed(b"exec: \"sh\": executable file not found\r\n__berth_st");
        let (rest, status) = filter.finish();
        out.extend(rest);
        assert_eq!(status, None);
        assert!(String::from_utf8_lossy(&out).ends_with("not found\r\n__berth_st"));
        // The marker's line without its newline, at the very end.
        let mut filter = marker.filter();
        assert!(filter.feed(b"__berth_status_ab12_0").is_empty());
        assert_eq!(filter.finish(), (Vec::new(), Some(0)));
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
