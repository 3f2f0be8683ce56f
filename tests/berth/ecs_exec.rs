//! `berth exec` through ECS Exec: ExecuteCommand at the Session Manager
//! stand-in (`tests/support/ecs_exec_standin.py`), which owns a few tasks
//! of cluster `prod` (on EC2 and on Fargate) and runs each container's
//! command as a real process with its own `/etc/hostname`; moto answers
//! everything else.

use crate::session::StandIn;
use crate::support::{Berth, sandbox};

const EC2_TASK: &str = "0123456789abcdef0123456789abcd01";
const FARGATE_TASK: &str = "0123456789abcdef0123456789abcd02";
const DISABLED_TASK: &str = "0123456789abcdef0123456789abcd03";
const STOPPED_AGENT_TASK: &str = "0123456789abcdef0123456789abcd04";
const NO_SHELL_TASK: &str = "0123456789abcdef0123456789abcd05";
const PENDING_AGENT_TASK: &str = "0123456789abcdef0123456789abcd06";
const SERVICE_TASK_A: &str = "0123456789abcdef0123456789abcd07";
const SERVICE_TASK_B: &str = "0123456789abcdef0123456789abcd08";

const DOCTOR_TASK: &str = "0123456789abcdef0123456789abcd09";
const REFUSED_TASK: &str = "0123456789abcdef0123456789abcd10";
const ENCRYPTED_TASK: &str = "0123456789abcdef0123456789abcd11";
/// moto's answer to sts:GetCallerIdentity for the tests' keys.
const CALLER: &str = "arn:aws:sts::123456789012:user/moto";

/// A stand-in owning the ECS Exec tasks, with moto upstream, and berth
/// sending SSM, KMS and ECS to it.
fn standin() -> (StandIn, Berth) {
    standin_with(|_| {})
}

/// [`standin`] with its config changed first.
fn standin_with(change: impl FnOnce(&mut serde_json::Value)) -> (StandIn, Berth) {
    let sb = sandbox();
    let ci = sb
        .host("prod-al2023")
        .container_instance_arn
        .clone()
        .expect("prod-al2023 is a container instance");
    let container = |hostname: &str, agent: Option<&str>| serde_json::json!({ "hostname": hostname, "agent": agent });
    let fargate = |enabled: bool, agent: Option<&str>, group: Option<&str>| {
        serde_json::json!({
            "cluster": "prod", "launch_type": "FARGATE", "platform_version": "1.4.0",
            "enable_execute_command": enabled, "group": group, "task_definition": "api:3",
            "containers": { "app": container("fargate-app-marker", agent),
                            "sidecar": container("fargate-sidecar-marker", agent) },
        })
    };
    let config = serde_json::json!({
        "region": sb.region,
        "ecs": { "tasks": {
            EC2_TASK: {
                "cluster": "prod", "launch_type": "EC2", "container_instance_arn": ci,
                "enable_execute_command": true, "task_definition": "worker:7",
                "containers": { "app": container("ec2-app-marker", Some("RUNNING")) },
            },
            FARGATE_TASK: fargate(true, Some("RUNNING"), None),
            DISABLED_TASK: fargate(false, None, Some("service:api")),
            STOPPED_AGENT_TASK: fargate(true, Some("STOPPED"), Some("service:api")),
            PENDING_AGENT_TASK: fargate(true, Some("PENDING"), None),
            NO_SHELL_TASK: {
                "cluster": "prod", "launch_type": "FARGATE", "enable_execute_command": true,
                "containers": { "app": { "hostname": "distroless", "agent": "RUNNING",
                                         "env": { "PATH": "/nonexistent" } } },
            },
            SERVICE_TASK_A: fargate(true, Some("RUNNING"), Some("service:queue")),
            SERVICE_TASK_B: fargate(true, Some("RUNNING"), Some("service:queue")),
            // Everything the checker checks, wrong: in cluster `edge`, whose
            // sessions a KMS key encrypts.
            DOCTOR_TASK: {
                "cluster": "edge", "launch_type": "FARGATE", "platform_version": "1.3.0",
                "enable_execute_command": true, "group": "service:api",
                "task_definition": "edge-api:2",
                "task_role_arn": "arn:aws:iam::123456789012:role/api-task",
                "subnet_id": sb.subnet_id,
                "containers": { "app": container("edge-marker", Some("STOPPED")) },
            },
            // In `edge`, whose KMS key encrypts the session.
            ENCRYPTED_TASK: {
                "cluster": "edge", "launch_type": "FARGATE", "platform_version": "1.4.0",
                "enable_execute_command": true, "task_definition": "edge-api:2",
                "containers": { "app": container("encrypted-marker", Some("RUNNING")) },
            },
            REFUSED_TASK: {
                "cluster": "prod", "launch_type": "FARGATE", "platform_version": "1.4.0",
                "enable_execute_command": true, "task_definition": "api:3",
                "execute_command_error": "TargetNotConnectedException",
                "containers": { "app": container("refused", Some("RUNNING")) },
            },
        },
        "clusters": { "edge": { "executeCommandConfiguration": {
            "kmsKeyId": format!("arn:aws:kms:{}:123456789012:key/exec-key", sb.region),
            "logging": "OVERRIDE",
            "logConfiguration": { "cloudWatchLogGroupName": "/ecs/exec" },
        }}}},
        "iam": { "allow": {
            CALLER: ["ecs:ExecuteCommand"],
            "arn:aws:iam::123456789012:role/api-task": [
                "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
            ],
        }},
    });
    let mut config = config;
    change(&mut config);
    let standin = StandIn::start_config(&config, &["--upstream", &sb.endpoint]);
    let mut berth = standin.berth();
    berth.env("AWS_ENDPOINT_URL_ECS", Some(standin.endpoint()));
    berth.env("AWS_ENDPOINT_URL_IAM", Some(standin.endpoint()));
    (standin, berth)
}

/// The line of `check` in doctor's checklist.
fn line<'a>(stdout: &'a str, check: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no {check} line in {stdout}"))
}

#[test]
fn doctor_on_a_task_checks_what_ecs_exec_needs() {
    let (standin, berth) = standin();
    let target = format!("edge/task/{DOCTOR_TASK}");
    let run = berth.run(&["doctor", &target]);
    run.expect_code(4);
    let out = &run.stdout;
    assert!(
        line(out, "execute-command-enabled").contains("pass"),
        "{out}"
    );
    assert!(line(out, "exec-agent").contains("FAIL"), "{out}");
    assert!(line(out, "exec-agent").contains("STOPPED"), "{out}");
    assert!(line(out, "platform-version").contains("FAIL"), "{out}");
    assert!(line(out, "task-role").contains("FAIL"), "{out}");
    assert!(
        line(out, "task-role").contains("may not ssmmessages:OpenDataChannel"),
        "{out}"
    );
    assert!(
        line(out, "execute-command-permission").contains("pass"),
        "{out}"
    );
    assert!(
        line(out, "exec-logging").contains("log group /ecs/exec"),
        "{out}"
    );
    assert!(line(out, "exec-kms-key").contains("FAIL"), "{out}");
    assert!(line(out, "ssmmessages-endpoint").contains("FAIL"), "{out}");
    assert!(
        out.contains(&format!(
            "aws ec2 create-vpc-endpoint --vpc-id {}",
            sandbox()
                .host("prod-al2023")
                .vpc_id
                .clone()
                .unwrap_or_default()
        )) || out.contains("aws ec2 create-vpc-endpoint --vpc-id vpc-"),
        "{out}"
    );
    assert!(
        out.contains("--service api --force-new-deployment"),
        "{out}"
    );
    assert!(out.contains("ecs-exec: blocked by exec-agent"), "{out}");
    // The simulator was asked, for the caller and for the task role.
    let simulated: Vec<String> = standin
        .entries()
        .iter()
        .filter(|e| e["op"] == "iam.SimulatePrincipalPolicy")
        .map(|e| {
            e["request"]["PolicySourceArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(simulated.iter().any(|p| p == CALLER), "{simulated:?}");
    assert!(
        simulated.iter().any(|p| p.ends_with(":role/api-task")),
        "{simulated:?}"
    );
    // JSON carries the same findings.
    let json = berth.run(&["--output", "json", "doctor", &target]).json();
    assert_eq!(json["ecs_exec"]["works"], false);

    // A simulator that refuses: the permissions are unverified, not guessed.
    let (_standin, berth) =
        standin_with(|config| config["iam"]["deny_simulate"] = serde_json::json!(true));
    let run = berth.run(&["doctor", &target]);
    let out = &run.stdout;
    assert!(line(out, "task-role").contains("????"), "{out}");
    assert!(line(out, "task-role").contains("unverified"), "{out}");
    assert!(
        line(out, "execute-command-permission").contains("unverified"),
        "{out}"
    );
}

#[test]
fn a_refused_exec_says_what_the_checks_found() {
    let (_standin, berth) = standin();
    berth
        .run(&["exec", &format!("prod/task/{REFUSED_TASK}"), "--", "true"])
        .expect_code(4)
        .stderr_has("ECS refused to exec into task")
        .stderr_has("TargetNotConnectedException")
        .stderr_has("ECS Exec check");
}

#[test]
fn exec_runs_in_the_containers_of_ec2_and_fargate_tasks() {
    let (standin, berth) = standin();
    // An EC2 task: the container's /etc/hostname, not the host's.
    let run = berth.run(&[
        "exec",
        &format!("prod/task/{EC2_TASK}"),
        "-c",
        "app",
        "--",
        "cat",
        "/etc/hostname",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout, "ec2-app-marker\n", "{run:#?}");
    assert!(
        run.stderr.contains("ECS Exec: task") && run.stderr.contains("is RUNNING"),
        "auto says why: {run:#?}"
    );
    // A Fargate task, by its ARN, into the other container.
    let arn = format!(
        "arn:aws:ecs:{}:123456789012:task/prod/{FARGATE_TASK}",
        sandbox().region
    );
    let run = berth.run(&["exec", &arn, "-c", "sidecar", "--", "cat", "/etc/hostname"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "fargate-sidecar-marker\n", "{run:#?}");
    // The command's status comes back; words keep their quoting.
    berth
        .run(&[
            "exec",
            &format!("prod/task/{FARGATE_TASK}"),
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "echo \"it's $((3 + 4))\"; exit 7",
        ])
        .expect_code(7)
        .stdout_has("it's 7");
    // The session was ECS Exec's, into the named container.
    let call = standin.wait_for(|e| {
        e["event"] == "call"
            && e["op"] == "AmazonEC2ContainerServiceV20141113.ExecuteCommand"
            && e["request"]["task"] == arn.as_str()
    });
    assert_eq!(call["request"]["container"], "sidecar");
    assert_eq!(call["request"]["interactive"], true);
    assert!(
        call["session"]
            .as_str()
            .is_some_and(|s| s.starts_with("ecs-execute-command-")),
        "{call}"
    );
    // Two containers and no terminal: exit 3, naming them.
    berth
        .run(&["exec", &format!("prod/task/{FARGATE_TASK}"), "--", "true"])
        .expect_code(3)
        .stderr_has("--container NAME");
}

#[test]
fn exec_says_why_ecs_exec_is_not_possible() {
    let (_standin, berth) = standin();
    // Not enabled, a service's task: the update-service command, exit 4.
    berth
        .run(&[
            "exec",
            &format!("prod/task/{DISABLED_TASK}"),
            "-c",
            "app",
            "--",
            "true",
        ])
        .expect_code(4)
        .stderr_has("runs without ECS Exec")
        .stderr_has(
            "aws ecs update-service --cluster prod --service api --enable-execute-command \
             --force-new-deployment",
        );
    // The agent STOPPED: what it needs, and how to replace the task.
    berth
        .run(&[
            "exec",
            &format!("prod/task/{STOPPED_AGENT_TASK}"),
            "-c",
            "app",
            "--engine",
            "ecs-exec",
        ])
        .expect_code(4)
        .stderr_has("ExecuteCommandAgent) of container `app`")
        .stderr_has("is STOPPED")
        .stderr_has("ssmmessages:CreateControlChannel")
        .stderr_has("--service api --force-new-deployment");
    berth
        .run(&[
            "exec",
            &format!("prod/task/{PENDING_AGENT_TASK}"),
            "-c",
            "app",
            "--",
            "true",
        ])
        .expect_code(4)
        .stderr_has("is PENDING")
        .stderr_has("try again in a few seconds");
    // docker needs a host: a Fargate task has none.
    berth
        .run(&[
            "exec",
            &format!("prod/task/{FARGATE_TASK}"),
            "-c",
            "app",
            "--engine",
            "docker",
        ])
        .expect_code(4)
        .stderr_has("runs on Fargate")
        .stderr_has("--engine ecs-exec");
}

#[test]
fn exec_without_sh_in_the_container_says_the_status_is_unknown() {
    let (_standin, berth) = standin();
    let run = berth.run(&["exec", &format!("prod/task/{NO_SHELL_TASK}"), "--", "true"]);
    run.expect_code(255)
        .stderr_has("exit status is unknown")
        .stderr_has("no `sh`");
    assert!(
        run.stdout.contains("executable file not found"),
        "the agent's message passes through: {run:#?}"
    );
}

#[test]
fn exec_on_a_service_picks_a_task_or_lists_them() {
    let (_standin, berth) = standin();
    let run = berth.run(&["exec", "prod/service/queue", "-c", "app", "--", "true"]);
    run.expect_code(3)
        .stderr_has("runs 2 tasks")
        .stderr_has(&format!("prod/task/{SERVICE_TASK_A}"))
        .stderr_has(&format!("prod/task/{SERVICE_TASK_B}"));
    berth
        .run(&[
            "exec",
            "prod/service/queue",
            "--first",
            "-c",
            "app",
            "--",
            "cat",
            "/etc/hostname",
        ])
        .expect_code(0)
        .stdout_has("fargate-app-marker");
}

#[test]
fn an_ecs_exec_session_resumes_after_a_drop_and_encrypts_with_the_clusters_key() {
    // The socket closed after 5 messages: resumed, nothing lost, the
    // status still comes back.
    let (dropping, berth) = standin_with(|config| {
        config["faults"] =
            serde_json::json!({ "drop_after_sent": 5, "drop_mode": "close", "resend": "all" });
    });
    let run = berth.run(&[
        "exec",
        &format!("prod/task/{FARGATE_TASK}"),
        "-c",
        "app",
        "--",
        "sh",
        "-c",
        "seq 1 3000; exit 3",
    ]);
    run.expect_code(3);
    let expected: String = (1..=3000).fold(String::new(), |mut text, n| {
        text.push_str(&n.to_string());
        text.push('\n');
        text
    });
    assert_eq!(run.stdout, expected, "stderr: {}", run.stderr);
    dropping.wait_for(|e| e["event"] == "ws_open" && e["resumed"] == true);
    assert!(dropping.calls("AmazonSSM.ResumeSession") >= 1);

    // Cluster `edge` encrypts its sessions with its KMS key: the data key
    // is bound to the container's Session Manager target.
    let (standin, berth) = standin();
    let run = berth.run(&[
        "exec",
        &format!("edge/task/{ENCRYPTED_TASK}"),
        "--",
        "cat",
        "/etc/hostname",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout, "encrypted-marker\n", "{run:#?}");
    standin.wait_for(|e| e["event"] == "challenge_passed");
    let call =
        standin.wait_for(|e| e["event"] == "call" && e["op"] == "TrentService.GenerateDataKey");
    let target = call["request"]["EncryptionContext"]["aws:ssm:TargetId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        target.starts_with(&format!("ecs:edge_{ENCRYPTED_TASK}_")),
        "{call}"
    );
}
