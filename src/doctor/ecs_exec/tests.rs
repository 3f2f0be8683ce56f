//! The ECS Exec checks as a table: one fixture per failure the checker
//! knows, each expecting its check's status and a word of its fix.

use super::*;
use crate::model::host::TaskContainer;
use crate::model::network::Route as NetRoute;

/// A Fargate task of service `api` that ECS Exec can reach.
fn healthy() -> ExecFacts {
    ExecFacts {
        region: "us-east-1".into(),
        cluster: "prod".into(),
        task: TaskPlacement {
            arn: "arn:aws:ecs:us-east-1:1:task/prod/abc".into(),
            task_definition: Some("api:3".into()),
            containers: vec![TaskContainer {
                name: "app".into(),
                runtime_id: Some("rt".into()),
                last_status: Some("RUNNING".into()),
                managed_agents: vec![ManagedAgent {
                    name: ManagedAgent::EXECUTE_COMMAND.into(),
                    last_status: Some("RUNNING".into()),
                    reason: None,
                }],
            }],
            launch_type: Some("FARGATE".into()),
            platform_version: Some("1.4.0".into()),
            enable_execute_command: true,
            group: Some("service:api".into()),
            ..TaskPlacement::default()
        },
        container: None,
        configuration: Lookup::Known(None),
        task_role: Lookup::Known(Some("arn:aws:iam::1:role/api-task".into())),
        task_role_may: Permission::Allowed,
        caller: Lookup::Known("arn:aws:iam::1:user/me".into()),
        caller_may: Permission::Allowed,
        caller_kms: None,
        network: Lookup::Known(Some(ExecNetwork {
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            route_table: Some(RouteTable {
                id: "rtb-1".into(),
                main: false,
                routes: vec![NetRoute {
                    destination: "0.0.0.0/0".into(),
                    target: "nat-1".into(),
                    state: "active".into(),
                }],
            }),
            endpoints: vec![],
        })),
    }
}

fn agent(status: Option<&str>) -> impl Fn(&mut ExecFacts) {
    let status = status.map(str::to_owned);
    move |f: &mut ExecFacts| {
        f.task.containers[0].managed_agents[0]
            .last_status
            .clone_from(&status);
    }
}

fn kms(permission: Option<Permission>) -> impl Fn(&mut ExecFacts) {
    move |f: &mut ExecFacts| {
        f.configuration = Lookup::Known(Some(ExecuteCommandConfiguration {
            logging: Some("OVERRIDE".into()),
            kms_key_id: Some("alias/exec".into()),
            log_group: Some("/ecs/exec".into()),
            s3_bucket: None,
        }));
        f.caller_kms.clone_from(&permission);
    }
}

fn private_subnet(endpoint: Option<&str>) -> impl Fn(&mut ExecFacts) {
    let endpoint = endpoint.map(str::to_owned);
    move |f: &mut ExecFacts| {
        if let Lookup::Known(Some(net)) = &mut f.network {
            net.route_table = Some(RouteTable {
                id: "rtb-2".into(),
                main: true,
                routes: vec![NetRoute {
                    destination: "10.0.0.0/16".into(),
                    target: "local".into(),
                    state: "active".into(),
                }],
            });
            net.endpoints = endpoint
                .iter()
                .map(|service| VpcEndpoint {
                    id: "vpce-1".into(),
                    service_name: service.clone(),
                    endpoint_type: "Interface".into(),
                    state: "available".into(),
                })
                .collect();
        }
    }
}

type Change = Box<dyn Fn(&mut ExecFacts)>;

#[test]
#[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
fn each_failure_is_found_with_its_fix() {
    // (what, change, check, status, a word of the evidence or fix)
    let cases: Vec<(&str, Change, &str, Status, &str)> = vec![
        (
            "healthy",
            Box::new(|_| {}),
            "task-role",
            Status::Pass,
            "may ssmmessages",
        ),
        (
            "not enabled",
            Box::new(|f| f.task.enable_execute_command = false),
            "execute-command-enabled",
            Status::Fail,
            "aws ecs update-service --cluster prod --service api --enable-execute-command --force-new-deployment",
        ),
        (
            "not enabled, standalone",
            Box::new(|f| {
                f.task.enable_execute_command = false;
                f.task.group = None;
            }),
            "execute-command-enabled",
            Status::Fail,
            "aws ecs run-task --cluster prod --task-definition api:3 --enable-execute-command",
        ),
        (
            "agent stopped",
            Box::new(agent(Some("STOPPED"))),
            "exec-agent",
            Status::Fail,
            "--force-new-deployment",
        ),
        (
            "agent pending",
            Box::new(agent(Some("PENDING"))),
            "exec-agent",
            Status::Warn,
            "starting",
        ),
        (
            "agent unreported",
            Box::new(agent(None)),
            "exec-agent",
            Status::Fail,
            "not reported",
        ),
        (
            "old platform",
            Box::new(|f| f.task.platform_version = Some("1.3.0".into())),
            "platform-version",
            Status::Fail,
            "1.4.0 or LATEST",
        ),
        (
            "latest platform",
            Box::new(|f| f.task.platform_version = Some("LATEST".into())),
            "platform-version",
            Status::Pass,
            "LATEST",
        ),
        (
            "ec2 task",
            Box::new(|f| {
                f.task.launch_type = Some("EC2".into());
                f.task.container_instance_arn = Some("ci".into());
            }),
            "platform-version",
            Status::Skipped,
            "not on Fargate",
        ),
        (
            "no task role",
            Box::new(|f| f.task_role = Lookup::Known(None)),
            "task-role",
            Status::Fail,
            "taskRoleArn",
        ),
        (
            "task role denied",
            Box::new(|f| {
                f.task_role_may = Permission::Denied(vec!["ssmmessages:OpenDataChannel".into()]);
            }),
            "task-role",
            Status::Fail,
            "\"ssmmessages:OpenDataChannel\"",
        ),
        (
            "task role unverified",
            Box::new(|f| {
                f.task_role_may =
                    Permission::Unverified("iam:SimulatePrincipalPolicy denied".into());
            }),
            "task-role",
            Status::Unknown,
            "unverified (iam:SimulatePrincipalPolicy denied)",
        ),
        (
            "user denied",
            Box::new(|f| f.caller_may = Permission::Denied(vec![USER_ACTION.into()])),
            "execute-command-permission",
            Status::Fail,
            "\"ecs:ExecuteCommand\"",
        ),
        (
            "user unverified",
            Box::new(|f| f.caller_may = Permission::Unverified("AccessDenied".into())),
            "execute-command-permission",
            Status::Unknown,
            "unverified",
        ),
        (
            "kms allowed",
            Box::new(kms(Some(Permission::Allowed))),
            "exec-kms-key",
            Status::Pass,
            "alias/exec",
        ),
        (
            "kms denied",
            Box::new(kms(Some(Permission::Denied(vec![USER_KMS_ACTION.into()])))),
            "exec-kms-key",
            Status::Fail,
            "allow kms:GenerateDataKey on alias/exec",
        ),
        (
            "kms unverified",
            Box::new(kms(None)),
            "exec-kms-key",
            Status::Unknown,
            "not simulated",
        ),
        (
            "logging override",
            Box::new(kms(None)),
            "exec-logging",
            Status::Pass,
            "log group /ecs/exec",
        ),
        (
            "private subnet, no endpoint",
            Box::new(private_subnet(None)),
            "ssmmessages-endpoint",
            Status::Fail,
            "aws ec2 create-vpc-endpoint --vpc-id vpc-1 --vpc-endpoint-type Interface --service-name com.amazonaws.us-east-1.ssmmessages --subnet-ids subnet-1",
        ),
        (
            "private subnet, endpoint",
            Box::new(private_subnet(Some("com.amazonaws.us-east-1.ssmmessages"))),
            "ssmmessages-endpoint",
            Status::Pass,
            "vpce-1",
        ),
        (
            "private subnet, another service's endpoint",
            Box::new(private_subnet(Some("com.amazonaws.us-east-1.ssm"))),
            "ssmmessages-endpoint",
            Status::Fail,
            "no VPC endpoint for ssmmessages",
        ),
        (
            "network unreadable",
            Box::new(|f| f.network = Lookup::Unavailable("UnauthorizedOperation".into())),
            "ssmmessages-endpoint",
            Status::Unknown,
            "UnauthorizedOperation",
        ),
    ];
    for (what, change, check_name, status, word) in cases {
        let mut facts = healthy();
        change(&mut facts);
        let report = check("prod/task/abc", &facts);
        let found = report
            .findings
            .iter()
            .find(|f| f.check == check_name)
            .unwrap_or_else(|| panic!("{what}: no {check_name} in {:#?}", report.findings));
        assert_eq!(found.status, status, "{what}: {found:#?}");
        let text = format!("{} {}", found.evidence, found.fix.join(" "));
        assert!(text.contains(word), "{what}: `{word}` not in {text}");
        assert_eq!(
            report.works,
            !report.findings.iter().any(|f| f.status == Status::Fail),
            "{what}"
        );
        assert_eq!(report.exit_code(), if report.works { 0 } else { 4 });
    }
    // The healthy task passes everything it checks.
    let report = check("prod/task/abc", &healthy());
    assert!(report.works);
    assert_eq!(report.problems().count(), 0, "{:#?}", report.findings);
}

#[test]
fn platform_versions_compare_as_numbers() {
    for (version, at_least) in [
        ("1.4.0", Some(true)),
        ("1.10.0", Some(true)),
        ("1.3.0", Some(false)),
        ("1.0.0", Some(false)),
        ("LATEST", Some(true)),
        ("x", None),
    ] {
        assert_eq!(version_at_least_1_4(version), at_least, "{version}");
    }
}
