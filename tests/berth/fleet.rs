//! `berth run` across the 50-host `fleet` cluster: one host has no sshd,
//! one host's command fails; every host is reported, and the run fails.

use serde_json::Value;

use crate::support::{Berth, sandbox};

#[test]
fn run_reports_every_host_of_the_fleet() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let run = berth.run(&[
        "--output",
        "json",
        "run",
        &fleet.cluster,
        "--via",
        "private",
        "-j",
        "16",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(1).stdout).expect("json");
    let hosts = out["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), fleet.hosts.len(), "{out:#}");
    for name in &fleet.hosts {
        let host = sb.host(name);
        let entry = hosts
            .iter()
            .find(|h| h["instance_id"] == host.instance_id.as_str())
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(entry["label"], name.as_str());
        let ip = host.private_ip.as_deref().expect("ip");
        if *name == fleet.unreachable {
            assert_eq!(entry["status"], "unreachable", "{entry:#}");
            assert!(
                entry["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("Connection refused")),
                "{entry:#}"
            );
        } else if *name == fleet.failing {
            assert_eq!(entry["status"], "failed", "{entry:#}");
            assert_eq!(entry["exit_code"], fleet.failing_status);
            assert!(
                entry["stderr"]
                    .as_str()
                    .is_some_and(|e| e.contains(&fleet.failing_message)),
                "{entry:#}"
            );
        } else {
            // Each host answers from its own address.
            assert_eq!(entry["status"], "ok", "{entry:#}");
            let answer = entry["stdout"].as_str().expect("stdout");
            assert_eq!(answer.split_whitespace().nth(2), Some(ip), "{entry:#}");
        }
        assert!(entry["duration_ms"].is_u64());
    }
    assert_eq!(out["tally"]["ok"], fleet.hosts.len() - 2);
    assert_eq!(out["tally"]["failed"], 1);
    assert_eq!(out["tally"]["unreachable"], 1);
}

#[test]
fn run_prints_live_prefixed_output_and_a_summary() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let run = berth.run(&[
        "run",
        &format!("{}/fleet-01", fleet.cluster),
        "--via",
        "private",
        "--",
        "echo hello; echo oops >&2",
    ]);
    run.expect_code(0)
        .stdout_has("fleet-01 | hello\n")
        .stderr_has("fleet-01 | oops\n")
        .stderr_has("1 host(s): 1 ok, 0 failed, 0 unreachable, 0 timed out");

    // --group: the output together under a header; a failing host fails
    // the run and its exit status is in the summary.
    let run = berth.run(&[
        "run",
        &format!("{}/{}", fleet.cluster, fleet.failing),
        "--via",
        "private",
        "--group",
        "--",
        "echo never",
    ]);
    run.expect_code(1)
        .stdout_has(&format!("== {} (", fleet.failing))
        .stdout_has(&fleet.failing_message)
        .stderr_has("failed")
        .stderr_has(&format!(" {} ", fleet.failing_status));
}

#[test]
fn run_stops_a_host_at_the_timeout_and_needs_a_command() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let started = std::time::Instant::now();
    let run = berth.run(&[
        "--output",
        "json",
        "run",
        &format!("{}/fleet-02", fleet.cluster),
        "--via",
        "private",
        "--timeout",
        "2s",
        "--",
        "sleep 30",
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(1).stdout).expect("json");
    assert_eq!(out["hosts"][0]["status"], "timed-out", "{out:#}");
    assert_eq!(out["tally"]["timed_out"], 1);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());

    berth
        .run(&["run", &fleet.cluster])
        .expect_code(2)
        .stderr_has("COMMAND");
}

#[test]
fn exec_enters_the_tasks_container_on_its_host() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let task_arn = &fleet.tasks["fleet-00"];
    let ip = sb.host("fleet-00").private_ip.clone().expect("ip");

    // A task target (its ARN): the host is found through ECS.
    let run = berth.run(&[
        "exec",
        task_arn,
        "--via",
        "private",
        "--",
        "printenv",
        "CONTAINER_ID",
    ]);
    let runtime_id = run.expect_code(0).stdout.trim().to_owned();
    assert_eq!(runtime_id.len(), 64, "{run:#?}");
    let log = std::fs::read_to_string(&sb.docker_log).expect("docker log");
    assert!(
        log.lines().any(
            |l| l == format!("{ip} ec2-user docker exec -i {runtime_id} printenv CONTAINER_ID")
        ),
        "{log}"
    );

    // A host target: the container of the task it runs; the command's
    // status passes through.
    let host = format!("{}/fleet-01", fleet.cluster);
    berth
        .run(&[
            "exec",
            &host,
            "--via",
            "private",
            "--",
            "printenv",
            "CONTAINER_NAME",
        ])
        .expect_code(0)
        .stdout_has("web");
    berth
        .run(&["exec", &host, "--via", "private", "--", "false"])
        .expect_code(1);
    berth
        .run(&["exec", &host, "--via", "private", "--container", "db"])
        .expect_code(3)
        .stderr_has("runs no container named `db`")
        .stderr_has("containers there: web");
    // A host without tasks.
    berth
        .run(&[
            "exec",
            &format!("{}/fleet-10", fleet.cluster),
            "--via",
            "private",
        ])
        .expect_code(3)
        .stderr_has("runs no container");
}
