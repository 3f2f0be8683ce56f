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

/// An ssh that cannot connect, as ssh says it: for a session whose
/// failure berth must diagnose.
fn ssh_that_is_refused(berth: &mut Berth) {
    let script = berth.home().join("refused-ssh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'ssh: connect to host 10.0.0.1 port 22: Connection refused' >&2\nexit 255\n",
    )
    .expect("write the refused ssh");
    crate::support::set_mode(&script, 0o755);
    berth.env("BERTH_SSH", Some(&script.display().to_string()));
}

#[test]
fn failed_exec_cp_tunnel_and_proxy_print_the_diagnosis() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let unreachable = format!("{}/{}", fleet.cluster, fleet.unreachable);
    let berth = Berth::new(sb);
    // Nothing listens on the unreachable host's port 22.
    for args in [
        vec![
            "cp",
            &unreachable,
            "--via",
            "private",
            ":/etc/hostname",
            "/dev/null",
        ],
        vec!["tunnel", &unreachable, "--via", "private", "18080:80"],
    ] {
        let run = berth.run(&args);
        run.expect_code(255)
            .stderr_has("the connection failed; checking the prerequisites")
            .stderr_has("full checklist: berth doctor");
    }
    // berth proxy's own connection, refused the same way.
    let run = berth.run(&["proxy", &unreachable, "22", "--via", "private"]);
    run.expect_code(4)
        .stderr_has("cannot connect to")
        .stderr_has("the connection failed; checking the prerequisites")
        .stderr_has("full checklist: berth doctor");
    assert!(run.stdout.is_empty(), "{run:#?}");
    // exec needs a task on the host: its ssh is refused instead.
    let mut refused = Berth::new(sb);
    ssh_that_is_refused(&mut refused);
    let run = refused.run(&[
        "exec",
        &fleet.tasks["fleet-00"],
        "--via",
        "private",
        "--",
        "true",
    ]);
    run.expect_code(255)
        .stderr_has("Connection refused")
        .stderr_has("the connection failed; checking the prerequisites")
        .stderr_has("full checklist: berth doctor");
}

#[test]
fn exec_looks_the_task_up_in_the_region_its_arn_names() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    // The default region is another than the sandbox's, which the task's
    // ARN names: the host and its containers are found there all the same.
    berth.env("AWS_REGION", Some("eu-west-1"));
    let task_arn = &sb.fleet.tasks["fleet-01"];
    assert!(task_arn.contains(&format!(":{}:", sb.region)), "{task_arn}");
    berth
        .run(&[
            "exec",
            task_arn,
            "--via",
            "private",
            "--",
            "printenv",
            "CONTAINER_NAME",
        ])
        .expect_code(0)
        .stdout_has("web");
}

#[test]
fn exec_chooses_among_containers_as_berth_picker_says() {
    let sb = sandbox();
    let pair = &sb.fleet.pair;
    let mut berth = Berth::new(sb);
    let host = format!("{}/{}", sb.fleet.cluster, pair.host);
    let args = [
        "exec",
        &host,
        "--via",
        "private",
        "--dry-run",
        "--output",
        "json",
    ];
    // Without a terminal or a chooser: both are listed.
    berth
        .run(&args)
        .expect_code(3)
        .stderr_has("web (web:")
        .stderr_has("batch (batch:");

    // The container's name and the index of its task in `pair.tasks`.
    let chosen = |berth: &Berth| {
        let run = berth.run(&args);
        run.expect_code(0);
        let container = run.json()["container"].clone();
        let task = pair
            .tasks
            .iter()
            .position(|t| container["task_arn"] == t.as_str())
            .unwrap_or_else(|| panic!("not a task of {}: {run:#?}", pair.host));
        (container["name"].as_str().expect("name").to_owned(), task)
    };
    berth.env("BERTH_PICKER", Some("first"));
    let (first, _) = chosen(&berth);
    assert!(["web", "batch"].contains(&first.as_str()), "{first}");
    berth.env("BERTH_PICKER", Some("grep --max-count=1 batch"));
    assert_eq!(chosen(&berth), ("batch".to_owned(), 1));
    berth.env("BERTH_PICKER", Some("grep --max-count=1 web"));
    assert_eq!(chosen(&berth), ("web".to_owned(), 0));
    // A chooser that picks nothing: nothing runs.
    berth.env("BERTH_PICKER", Some("false"));
    berth
        .run(&args)
        .expect_code(3)
        .stderr_has("nothing was picked");
}

#[test]
fn cp_copies_both_ways_by_the_route_ssh_takes() {
    let sb = sandbox();
    let host = format!("{}/fleet-03", sb.fleet.cluster);
    let berth = Berth::new(sb);
    // From the host.
    let dest = berth.home().join("hostname");
    let dest_arg = dest.display().to_string();
    berth
        .run(&["cp", &host, "--via", "private", ":/etc/hostname", &dest_arg])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&dest).expect("copied"),
        std::fs::read_to_string("/etc/hostname").expect("local")
    );
    // To the host, then read back over ssh.
    let local = berth.home().join("note.txt");
    std::fs::write(&local, "from berth cp\n").expect("write");
    let remote = format!("/tmp/berth-cp-{}.txt", std::process::id());
    berth
        .run(&[
            "cp",
            &host,
            "--via",
            "private",
            &local.display().to_string(),
            &format!(":{remote}"),
        ])
        .expect_code(0);
    berth
        .run(&[
            "ssh",
            &host,
            "--via",
            "private",
            "--",
            &format!("cat {remote}; rm -f {remote}"),
        ])
        .expect_code(0)
        .stdout_has("from berth cp");
    // The dry run is scp with ssh's options; both sides local is refused.
    berth
        .run(&["cp", &host, "--via", "private", "--dry-run", ":/a", "b"])
        .expect_code(0)
        .stdout_has("scp -S ")
        .stdout_has(":/a b");
    berth
        .run(&["cp", &host, "a", "b"])
        .expect_code(2)
        .stderr_has("no side is on the host")
        .stderr_has(":PATH");
}

#[test]
fn tunnel_forwards_a_local_port_until_interrupted() {
    use std::io::{BufRead, BufReader, Read};
    let sb = sandbox();
    let host = format!("{}/fleet-04", sb.fleet.cluster);
    // On a real host sshd answers on localhost too; the sandbox's answers on
    // the host's own address only, so the forward names it.
    let ip = sb.host("fleet-04").private_ip.clone().expect("ip");
    let berth = Berth::new(sb);
    berth
        .run(&["tunnel", &host, "--via", "private", "--dry-run", "8080:80"])
        .expect_code(0)
        .stdout_has("-L 127.0.0.1:8080:localhost:80");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = berth
        .command(&[
            "tunnel",
            &host,
            "--via",
            "private",
            &format!("{port}:{ip}:22"),
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start berth tunnel");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("read");
    assert!(
        line.contains(&format!("forwarding 127.0.0.1:{port} to {ip}:22 on i-")),
        "{line}"
    );
    // The host's own sshd answers through the forward.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let banner = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut buf = [0u8; 7];
            if stream.read_exact(&mut buf).is_ok() {
                break String::from_utf8_lossy(&buf).into_owned();
            }
        }
        assert!(std::time::Instant::now() < deadline, "no forward on {port}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(banner, "SSH-2.0");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt");
    let status = child.wait().expect("berth ends");
    assert_eq!(status.code(), Some(0), "{status:?}");
    // The tunnel's ssh checked the host key pinned under the instance id.
    let pinned = std::fs::read_to_string(berth.home().join(".local/state/berth/known_hosts"))
        .expect("berth's known_hosts");
    let id = &sb.host("fleet-04").instance_id;
    assert!(pinned.contains(id.as_str()), "{pinned}");
}

/// The container-instance status of each fleet host, as `berth ls` shows it.
fn fleet_statuses(berth: &Berth, cluster: &str) -> std::collections::BTreeMap<String, String> {
    let rows: Value = serde_json::from_str(
        &berth
            .run(&["--output", "json", "ls", cluster])
            .expect_code(0)
            .stdout,
    )
    .expect("json");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn maintain_drains_runs_and_reactivates_batch_by_batch() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let group = &fleet.maintenance["a"];
    let run = berth.run(&[
        "--output",
        "json",
        "maintain",
        &fleet.cluster,
        "--tag",
        "maintenance=a",
        "--via",
        "private",
        "--batch",
        "2",
        "--",
        "echo maintained",
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(0).stdout).expect("json");
    let instances = out["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), group.len(), "{out:#}");
    let batches: std::collections::BTreeSet<u64> = instances
        .iter()
        .filter_map(|i| i["batch"].as_u64())
        .collect();
    assert_eq!(batches, [1, 2].into_iter().collect(), "{out:#}");
    for i in instances {
        assert_eq!(i["left"], "active", "{i:#}");
        assert_eq!(i["command"]["status"], "ok", "{i:#}");
    }
    // ECS agrees: ACTIVE again, and the service tasks were drained away.
    let statuses = fleet_statuses(&berth, &fleet.cluster);
    for name in group {
        assert_eq!(statuses[name], "ACTIVE", "{name}");
    }
    let rows: Value = serde_json::from_str(
        &berth
            .run(&[
                "--output",
                "json",
                "ls",
                &fleet.cluster,
                "--tag",
                "maintenance=a",
            ])
            .expect_code(0)
            .stdout,
    )
    .expect("json");
    for row in rows.as_array().expect("rows") {
        assert_eq!(row["running_tasks"], 0, "{row:#}");
    }
}

#[test]
fn maintain_stops_at_the_failing_batch_and_leaves_the_rest_untouched() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let run = berth.run(&[
        "--output",
        "json",
        "maintain",
        &fleet.cluster,
        "--tag",
        "maintenance=b",
        "--via",
        "private",
        "--batch",
        "1",
        "--",
        "true",
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(1).stdout).expect("json");
    let instances = out["instances"].as_array().expect("instances");
    let failing = instances
        .iter()
        .find(|i| i["label"] == fleet.failing.as_str())
        .expect("the failing host");
    assert_eq!(failing["left"], "draining", "{out:#}");
    assert_eq!(failing["command"]["status"], "failed", "{out:#}");
    let failed_batch = failing["batch"].as_u64().expect("batch");
    let statuses = fleet_statuses(&berth, &fleet.cluster);
    for i in instances {
        let name = i["label"].as_str().expect("label");
        let batch = i["batch"].as_u64().expect("batch");
        let (left, status) = match batch.cmp(&failed_batch) {
            std::cmp::Ordering::Less => ("active", "ACTIVE"),
            std::cmp::Ordering::Equal => ("draining", "DRAINING"),
            std::cmp::Ordering::Greater => ("untouched", "ACTIVE"),
        };
        assert_eq!(i["left"], left, "{i:#}");
        assert_eq!(statuses[name], status, "{name}");
        if batch > failed_batch {
            assert!(i["command"].is_null(), "{i:#}");
        }
    }

    // A standalone task is not drained by ECS: the wait runs out, and the
    // instance stays DRAINING without the command having run.
    let run = berth.run(&[
        "maintain",
        &fleet.cluster,
        "--tag",
        "maintenance=c",
        "--via",
        "private",
        "--batch",
        "1",
        "--drain-timeout",
        "3s",
        "--",
        "true",
    ]);
    run.expect_code(1)
        .stderr_has("still running after 3s")
        .stderr_has("DRAINING");
    assert_eq!(
        fleet_statuses(&berth, &fleet.cluster)[&fleet.maintenance["c"][0]],
        "DRAINING"
    );
}

#[test]
fn maintain_leaves_a_host_it_cannot_reach_active_and_says_why() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let group = &fleet.maintenance["d"];
    assert!(group.contains(&fleet.unreachable), "{group:?}");
    let run = berth.run(&[
        "--output",
        "json",
        "maintain",
        &fleet.cluster,
        "--tag",
        "maintenance=d",
        "--via",
        "private",
        "--batch",
        "2",
        "--",
        "echo maintained",
    ]);
    // Not every host was maintained: the run says so with its status.
    run.expect_code(1)
        .stderr_has(&format!("{} cannot be reached (", fleet.unreachable));
    let out: Value = serde_json::from_str(&run.stdout).expect("json");
    let instances = out["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), group.len(), "{out:#}");
    let statuses = fleet_statuses(&berth, &fleet.cluster);
    for i in instances {
        let name = i["label"].as_str().expect("label");
        if name == fleet.unreachable {
            assert_eq!(i["left"], "untouched", "{i:#}");
            assert_eq!(i["command"]["status"], "unreachable", "{i:#}");
            assert!(
                i["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("not drained")),
                "{i:#}"
            );
            assert_eq!(statuses[name], "ACTIVE", "{name} was drained");
        } else {
            assert_eq!(i["left"], "active", "{i:#}");
            assert_eq!(i["command"]["status"], "ok", "{i:#}");
            assert_eq!(statuses[name], "ACTIVE", "{name}");
        }
    }
}

#[test]
fn run_through_ssm_run_command_reports_every_host() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    // The same command everywhere; SSM's agent sets AWS_SSM_INSTANCE_ID,
    // and one host's run fails on purpose.
    let failing = &sb.host(&fleet.failing).instance_id;
    let command = format!(
        "echo \"on $AWS_SSM_INSTANCE_ID\"; [ \"$AWS_SSM_INSTANCE_ID\" != {failing} ] || {{ echo broken >&2; exit 4; }}"
    );
    let run = berth.run(&[
        "--output",
        "json",
        "--stats",
        "run",
        &fleet.cluster,
        "--engine",
        "ssm",
        "--",
        &command,
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(1).stdout).expect("json");
    let hosts = out["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), fleet.hosts.len(), "{out:#}");
    for name in &fleet.hosts {
        let id = &sb.host(name).instance_id;
        let entry = hosts
            .iter()
            .find(|h| h["instance_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{name} missing"));
        if *name == fleet.unreachable {
            assert_eq!(entry["status"], "unreachable", "{entry:#}");
            assert!(
                entry["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("ConnectionLost")),
                "{entry:#}"
            );
        } else if *name == fleet.failing {
            assert_eq!(entry["status"], "failed", "{entry:#}");
            assert_eq!(entry["exit_code"], 4);
            assert_eq!(entry["stderr"], "broken\n");
        } else {
            assert_eq!(entry["status"], "ok", "{entry:#}");
            assert_eq!(entry["stdout"], format!("on {id}\n"));
        }
    }
    // 49 reachable hosts: one SendCommand of 50 at most each, so 1.
    run.stderr_has("ssm:SendCommand x1");
}

#[test]
fn logs_collects_an_archive_per_host_with_the_agent_logs() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let dir = berth.home().join("logs");
    let run = berth.run(&[
        "--output",
        "json",
        "logs",
        &fleet.cluster,
        "--tag",
        "Name=fleet-05",
        "--via",
        "private",
        "--since",
        "2h",
        "-d",
        &dir.display().to_string(),
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(0).stdout).expect("json");
    let host = &out["hosts"][0];
    let archive = host["archive"].as_str().expect("an archive");
    assert!(archive.ends_with(&format!(
        "fleet-05-{}.tar.gz",
        sb.host("fleet-05").instance_id
    )));
    let collected: Vec<&str> = host["collected"]
        .as_array()
        .expect("collected")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(collected.contains(&"/var/log/ecs"), "{host:#}");
    // What is not there is named, with why.
    for missing in host["missing"].as_array().expect("missing") {
        assert!(
            missing.as_str().is_some_and(|m| m.contains(" (")),
            "{missing}"
        );
    }
    let listing = std::process::Command::new("tar")
        .args(["-tzf", archive])
        .output()
        .expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("_var_log_ecs/ecs-agent.log"), "{listing}");
    assert!(listing.contains("MANIFEST"), "{listing}");

    // An unreachable host gets no archive, and fails the run.
    berth
        .run(&[
            "logs",
            &format!("{}/{}", fleet.cluster, fleet.unreachable),
            "--via",
            "private",
            "-d",
            &dir.display().to_string(),
        ])
        .expect_code(1)
        .stdout_has("no archive");

    // A Windows host: where its logs are and how to read them.
    let windows = sb.host("prod-windows");
    berth
        .run(&[
            "logs",
            &windows.instance_id,
            "--via",
            "private",
            "-d",
            &dir.display().to_string(),
        ])
        .expect_code(1)
        .stdout_has("no archive: a Windows container instance has no SSH server")
        .stdout_has(r"C:\ProgramData\Amazon\ECS\log")
        .stdout_has(&format!("berth run --engine ssm {}", windows.instance_id));
}

#[test]
fn ls_shows_each_hosts_session_manager_agent() {
    let sb = sandbox();
    let fleet = &sb.fleet;
    let berth = Berth::new(sb);
    let rows: Value = serde_json::from_str(
        &berth
            .run(&["--output", "json", "ls", &fleet.cluster])
            .expect_code(0)
            .stdout,
    )
    .expect("json");
    let ping = |name: &str| {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["name"] == name)
            .map_or_else(
                || panic!("{name} not listed: {rows}"),
                |r| (r["ssm"]["state"].clone(), r["ssm"]["ping_status"].clone()),
            )
    };
    assert_eq!(ping(&fleet.hosts[0]), ("managed".into(), "Online".into()));
    assert_eq!(
        ping(&fleet.unreachable),
        ("managed".into(), "ConnectionLost".into())
    );
    // The table has the column, and hosts of a cluster without agents say so.
    let run = berth.run(&["ls", &fleet.cluster]);
    let table = run.expect_code(0);
    assert!(
        table
            .stdout
            .lines()
            .next()
            .is_some_and(|h| h.contains("SSM")),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("ConnectionLost"), "{}", table.stdout);
    let prod: Value = serde_json::from_str(
        &berth
            .run(&["--output", "json", "ls", "prod"])
            .expect_code(0)
            .stdout,
    )
    .expect("json");
    assert!(
        prod.as_array()
            .expect("rows")
            .iter()
            .all(|r| r["ssm"]["state"] == "not-managed"),
        "{prod}"
    );
}
