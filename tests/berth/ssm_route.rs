//! The Session Manager route as doctor checks it and as `--via auto`
//! takes it, against the Python stand-in (`tests/support/ssm_standin.py`)
//! for SSM and moto for the rest. `ssm-only` is a host in a VPC of its own
//! with no public address, no bastion, no endpoint and a group that admits
//! nothing: only its agent reaches it (the stand-in's port sessions dial
//! `prod-al2023`'s sshd).

use serde_json::Value;

use crate::session::{StandIn, run_with_input};
use crate::support::{Berth, Run, SandboxHost, sandbox};

fn ssm_only() -> &'static SandboxHost {
    sandbox().host("ssm-only")
}

/// A stand-in whose agent for `host` has these config fields.
fn standin(host: &SandboxHost, fields: &Value) -> StandIn {
    StandIn::start(&host.instance_id, fields)
}

/// A stand-in for `host` whose port sessions dial `prod-al2023`'s sshd.
fn standin_to_sshd(host: &SandboxHost, mut fields: Value) -> StandIn {
    let sshd = sandbox().host("prod-al2023");
    fields["address"] = Value::from(sshd.private_ip.as_deref().expect("ip"));
    standin(host, &fields)
}

fn broken(name: &str) -> (&'static SandboxHost, String) {
    let host = sandbox().host(name);
    let target = format!(
        "{}/{}",
        host.cluster.as_deref().expect("in a cluster"),
        host.instance_id
    );
    (host, target)
}

fn finding(run: &Run, check: &str) -> Value {
    let report = run.json();
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == check)
        .cloned()
        .unwrap_or_else(|| panic!("no {check} finding: {report:#}"))
}

fn fixes(f: &Value) -> String {
    f["fix"].to_string()
}

#[test]
fn doctor_via_ssm_passes_a_managed_host_with_a_way_out() {
    // broken-public's subnet routes 0.0.0.0/0 to an internet gateway.
    let (host, target) = broken("broken-public");
    let standin = standin(host, &serde_json::json!({}));
    let run = standin
        .berth()
        .run(&["doctor", &target, "--via", "ssm", "--output", "json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["routes"][0]["route"], "ssm", "{report:#}");
    assert_eq!(report["routes"][0]["works"], true, "{report:#}");
    let agent = finding(&run, "ssm-agent");
    assert_eq!(agent["status"], "pass", "{agent:#}");
    assert_eq!(agent["evidence"], "Online, agent 3.3.987.0");
    let version = finding(&run, "ssm-agent-version");
    assert_eq!(version["status"], "pass", "{version:#}");
    assert!(
        version["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("AWS-StartSSHSession needs 3.0.222.0")),
        "{version:#}"
    );
    let way = finding(&run, "ssm-endpoints");
    assert_eq!(way["status"], "pass", "{way:#}");
    assert!(
        way["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("sends 0.0.0.0/0 to igw-")),
        "{way:#}"
    );
    // No preferences document: no KMS key to need.
    assert_eq!(finding(&run, "ssm-kms")["status"], "pass");
    let permission = finding(&run, "ssm-permission");
    assert_eq!(permission["status"], "skipped", "{permission:#}");
    assert!(
        permission["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("checked when a session starts")),
        "{permission:#}"
    );
    // doctor asked SSM, and read the preferences, once each.
    assert_eq!(standin.calls("AmazonSSM.DescribeInstanceInformation"), 1);
    assert_eq!(standin.calls("AmazonSSM.GetDocument"), 1);
}

#[test]
fn doctor_via_ssm_says_when_a_lost_agent_was_last_seen() {
    let (host, target) = broken("broken-public");
    let standin = standin(host, &serde_json::json!({ "ping": "ConnectionLost" }));
    let berth = standin.berth();
    let run = berth.run(&["doctor", &target, "--via", "ssm", "--output", "json"]);
    run.expect_code(4);
    let agent = finding(&run, "ssm-agent");
    assert_eq!(agent["status"], "fail", "{agent:#}");
    assert!(
        agent["evidence"]
            .as_str()
            .is_some_and(|e| e.starts_with("ConnectionLost, last seen 20")),
        "{agent:#}"
    );
    assert!(
        fixes(&agent).contains("sudo systemctl restart amazon-ssm-agent"),
        "{agent:#}"
    );
    assert_eq!(run.json()["routes"][0]["blocked_by"], "ssm-agent");
    // The checklist says the same on a terminal.
    berth
        .run(&["doctor", &target, "--via", "ssm"])
        .expect_code(4)
        .stdout_has("FAIL  ssm-agent")
        .stdout_has("last seen")
        .stdout_has("fix: on the instance")
        .stdout_has("routes: ssm blocked by ssm-agent");
}

#[test]
fn doctor_via_ssm_names_the_missing_endpoints_of_a_private_subnet() {
    let host = ssm_only();
    let vpc = host.vpc_id.as_deref().expect("vpc");
    let subnet = host.subnet_id.as_deref().expect("subnet");
    // Not registered: the agent and its way out both fail.
    let other = StandIn::start("i-0000000000000000f", &serde_json::json!({}));
    let run = other.berth().run(&[
        "doctor",
        &host.instance_id,
        "--via",
        "ssm",
        "--output",
        "json",
    ]);
    run.expect_code(4);
    let agent = finding(&run, "ssm-agent");
    assert_eq!(agent["status"], "fail", "{agent:#}");
    assert!(
        fixes(&agent).contains("AmazonSSMManagedInstanceCore"),
        "{agent:#}"
    );
    let way = finding(&run, "ssm-endpoints");
    assert_eq!(way["status"], "fail", "{way:#}");
    assert!(
        way["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("has no route to the internet")
                && e.contains(&format!(
                    "{vpc} has no interface endpoint for ssm, ssmmessages, ec2messages"
                ))),
        "{way:#}"
    );
    for service in ["ssm", "ssmmessages", "ec2messages"] {
        assert!(
            fixes(&way).contains(&format!(
                "aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface \
                 --service-name com.amazonaws.us-east-1.{service} --subnet-ids {subnet}"
            )),
            "{service}: {way:#}"
        );
    }
    // Online all the same (a proxy?): a warning, and the route works.
    let online = standin(host, &serde_json::json!({}));
    let run = online.berth().run(&[
        "doctor",
        &host.instance_id,
        "--via",
        "ssm",
        "--output",
        "json",
    ]);
    run.expect_code(0);
    assert_eq!(finding(&run, "ssm-endpoints")["status"], "warn");
}

/// A stand-in whose preferences encrypt sessions with `alias/session-key`,
/// with these KMS keys existing.
fn kms_standin(host: &SandboxHost, keys: &[&str]) -> StandIn {
    StandIn::start_config(
        &serde_json::json!({
            "instances": { host.instance_id.as_str(): {} },
            "preferences": { "kmsKeyId": "alias/session-key", "s3BucketName": "" },
            "kms_keys": keys,
        }),
        &[],
    )
}

fn evidence(f: &Value) -> &str {
    f["evidence"].as_str().unwrap_or_default()
}

#[test]
fn doctor_asks_kms_about_the_key_the_preferences_name() {
    let (host, target) = broken("broken-public");
    let args = ["doctor", &target, "--via", "ssm", "--output", "json"];
    // The key exists and may be used.
    let present = kms_standin(host, &["alias/session-key"]);
    let run = present.berth().run(&args);
    run.expect_code(0);
    let kms = finding(&run, "ssm-kms");
    assert_eq!(kms["status"], "pass", "{kms:#}");
    assert!(
        evidence(&kms).contains("KMS key alias/session-key (arn:aws:kms:")
            && evidence(&kms).contains("kms:GenerateDataKey allowed, asked as a dry run"),
        "{kms:#}"
    );
    assert_eq!(present.calls("TrentService.DescribeKey"), 1);
    // The dry run made no key: KMS answered DryRunOperationException.
    let dry =
        present.wait_for(|e| e["event"] == "call" && e["op"] == "TrentService.GenerateDataKey");
    assert_eq!(dry["request"]["DryRun"], true, "{dry:#}");
    assert_eq!(dry["error"], "DryRunOperationException", "{dry:#}");
    // Denied kms:GenerateDataKey: said, with the fix; ssh (a port session,
    // never encrypted) still works.
    present.faults(&serde_json::json!({ "refuse_kms": true }));
    let run = present.berth().run(&args);
    run.expect_code(0);
    let kms = finding(&run, "ssm-kms");
    assert_eq!(kms["status"], "warn", "{kms:#}");
    assert!(
        evidence(&kms).contains("KMS denies you kms:GenerateDataKey on it (AccessDeniedException")
            && evidence(&kms).contains("`berth session`"),
        "{kms:#}"
    );
    assert!(
        fixes(&kms).contains("ask for kms:GenerateDataKey on arn:aws:kms:"),
        "{kms:#}"
    );
    // No such key.
    let absent = kms_standin(host, &[]);
    let run = absent.berth().run(&args);
    run.expect_code(0);
    let kms = finding(&run, "ssm-kms");
    assert_eq!(kms["status"], "warn", "{kms:#}");
    assert!(
        evidence(&kms).contains("which KMS does not know in this region (NotFoundException: Alias"),
        "{kms:#}"
    );
    assert!(fixes(&kms).contains("aws kms list-aliases"), "{kms:#}");
    assert_eq!(run.json()["routes"][0]["works"], true);
}

#[test]
fn ssh_without_via_lands_through_ssm_when_only_the_agent_is_online() {
    let host = ssm_only();
    let standin = standin_to_sshd(host, serde_json::json!({}));
    let berth = standin.berth();
    let run = run_with_input(&berth, &["ssh", &host.instance_id, "--", "hostname"], "");
    run.expect_code(0);
    assert!(!run.stdout.trim().is_empty(), "{run:#?}");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(started["request"]["DocumentName"], "AWS-StartSSHSession");
    assert_eq!(started["request"]["Target"], host.instance_id.as_str());
    standin.wait_for(|e| e["event"] == "dialed" && e["mode"] == "basic");
    assert_eq!(standin.calls("AmazonSSM.DescribeInstanceInformation"), 1);
}

#[test]
fn show_and_dry_run_say_why_auto_takes_ssm() {
    let host = ssm_only();
    let standin = standin(host, &serde_json::json!({}));
    let berth = standin.berth();
    let why = "SSM agent Online, 3.3.987.0";
    berth
        .run(&["show", &host.instance_id])
        .expect_code(0)
        .stdout_has("ssm: taken: no SSH route (no public address; ")
        .stdout_has(why)
        .stdout_has("proxy --via ssm");
    let run = berth.run(&["ssh", &host.instance_id, "--dry-run"]);
    run.expect_code(0)
        .stdout_has("# route ssm (auto): no SSH route (")
        .stdout_has(why);
    let run = berth.run(&["ssh", &host.instance_id, "--dry-run", "--output", "json"]);
    run.expect_code(0);
    let route = &run.json()["route"];
    assert_eq!(route["route"], "ssm", "{route:#}");
    let last = route["considered"]
        .as_array()
        .and_then(|c| c.last())
        .expect("considered");
    assert_eq!(last["route"], "ssm", "{last:#}");
    assert_eq!(last["usable"], true, "{last:#}");
    assert!(
        last["reason"].as_str().is_some_and(|r| r.ends_with(why)),
        "{last:#}"
    );
}

#[test]
fn when_neither_ssh_nor_ssm_works_the_error_says_both() {
    let host = ssm_only();
    let standin = standin(host, &serde_json::json!({ "ping": "ConnectionLost" }));
    let run = run_with_input(
        &standin.berth(),
        &["ssh", &host.instance_id, "--", "true"],
        "",
    );
    run.expect_code(4)
        .stderr_has("public: no public address")
        .stderr_has("eice: no EC2 Instance Connect Endpoint in")
        .stderr_has("ssm: SSM agent ConnectionLost, last seen 20")
        .stderr_has("--via ssm");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 0);
}

#[test]
fn a_host_an_ssh_route_reaches_costs_no_ssm_call() {
    // prod-al2023 has no public address, but the VPC's tagged bastion
    // reaches it: auto takes that and never asks Session Manager.
    let host = sandbox().host("prod-al2023");
    let standin = standin(host, &serde_json::json!({}));
    let run = standin
        .berth()
        .run(&["ssh", &format!("prod/{}", host.instance_id), "--dry-run"]);
    run.expect_code(0);
    assert!(!run.stdout.contains("route ssm"), "{run:#?}");
    assert_eq!(standin.calls("AmazonSSM.DescribeInstanceInformation"), 0);
}

// ---------------------------------------- tunnel, proxy and rdp by auto

use crate::via_ssm::{Tunnel, echo, free_port, pattern, service, sha256, through_echo};

#[test]
fn tunnel_without_via_forwards_over_ssm_natively_when_only_the_agent_is_online() {
    let host = ssm_only();
    let echo_port = service(echo);
    let standin = standin(
        host,
        &serde_json::json!({ "ports": { "7001": format!("127.0.0.1:{echo_port}") } }),
    );
    let local = free_port();
    let tunnel = Tunnel::launch(
        standin.berth(),
        &[&host.instance_id, &format!("{local}:7001")],
    );
    assert_eq!(tunnel.listening[0]["local"], format!("127.0.0.1:{local}"));
    assert_eq!(tunnel.listening[0]["destination"], "localhost:7001");
    // Two connections at once over the one session.
    let clients: Vec<_> = (0..2_u32)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(200_000, 20 + i);
                (sha256(&data), sha256(&through_echo(local, &data)))
            })
        })
        .collect();
    for client in clients {
        let (sent, received) = client.join().expect("client");
        assert_eq!(sent, received);
    }
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("route ssm: taken: no SSH route"),
        "auto took ssm: {stderr}"
    );
    // berth's own forwarder: one port session, no ssh over AWS-StartSSHSession.
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(
        started["request"]["DocumentName"],
        "AWS-StartPortForwardingSession"
    );
    assert_eq!(
        started["request"]["Parameters"]["portNumber"],
        serde_json::json!(["7001"])
    );
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
    let streams = standin
        .entries()
        .iter()
        .filter(|e| e["event"] == "smux_syn")
        .count();
    assert_eq!(streams, 2);
    standin.wait_terminated(&started);
}

/// OpenSSH's own ssh to `host` with `berth proxy %h %p` (no `--via`) as
/// its ProxyCommand, running `command`; its exit status and output.
fn ssh_through_berth_proxy(berth: &Berth, host: &SandboxHost, command: &str) -> Run {
    let known_hosts = berth.home().join("known_hosts");
    let output = std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-i",
            &sandbox().key_path.display().to_string(),
            "-o",
            &format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("ProxyCommand={} proxy %h %p", env!("CARGO_BIN_EXE_berth")),
            &format!("ec2-user@{}", host.instance_id),
            command,
        ])
        .env_clear()
        .envs(berth.envs())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn berth_proxy_without_via_carries_ssh_over_ssm_when_only_the_agent_is_online() {
    let host = ssm_only();
    let standin = standin_to_sshd(host, serde_json::json!({}));
    let berth = standin.berth();
    let run = ssh_through_berth_proxy(&berth, host, "echo $SSH_CONNECTION; id -un");
    run.expect_code(0);
    let sshd = sandbox().host("prod-al2023");
    assert_eq!(
        crate::server_address(&run.stdout),
        sshd.private_ip.as_deref().expect("ip"),
        "{run:#?}"
    );
    assert_eq!(run.stdout.lines().nth(1), Some("ec2-user"), "{run:#?}");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(started["request"]["DocumentName"], "AWS-StartSSHSession");
    assert_eq!(started["request"]["Target"], host.instance_id.as_str());
    assert_eq!(
        started["request"]["Parameters"]["portNumber"],
        serde_json::json!(["22"])
    );
    // auto asked Session Manager once, having no SSH route.
    assert_eq!(standin.calls("AmazonSSM.DescribeInstanceInformation"), 1);
    standin.wait_terminated(&started);
}

#[test]
fn a_failed_proxy_prints_the_diagnosis_once() {
    let host = ssm_only();
    let standin = standin_to_sshd(host, serde_json::json!({}));
    standin.faults(&serde_json::json!({ "refuse_start": "TargetNotConnected" }));
    let berth = standin.berth();
    // berth proxy on its own (as the operator's ProxyCommand): its own
    // diagnosis, on stderr only.
    let run = run_with_input(&berth, &["proxy", &host.instance_id, "22"], "");
    run.expect_code(4)
        .stderr_has("is not connected")
        .stderr_has("the connection failed; checking the prerequisites")
        .stderr_has("full checklist: berth doctor");
    assert!(run.stdout.is_empty(), "{run:#?}");
    // Inside berth's own ssh (a child: no terminal), berth ssh diagnoses
    // it, and its proxy leaves that to it: one diagnosis.
    let run = run_with_input(&berth, &["ssh", &host.instance_id, "--", "true"], "");
    run.expect_code(255).stderr_has("is not connected");
    assert_eq!(
        run.stderr.matches("checking the prerequisites").count(),
        1,
        "{run:#?}"
    );
}

/// An `ssh` that says which process started it.
fn ssh_naming_its_parent(berth: &mut Berth) {
    let script = berth.home().join("parent-ssh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"ssh's parent: $(cat /proc/$PPID/comm)\"\n",
    )
    .expect("write the ssh");
    crate::support::set_mode(&script, 0o755);
    berth.env("BERTH_SSH", Some(&script.display().to_string()));
}

#[test]
fn ssh_on_a_terminal_takes_berths_place_only_when_nothing_is_left_to_do() {
    let host = ssm_only();
    let standin = standin_to_sshd(host, serde_json::json!({}));
    let mut berth = standin.berth();
    // The real ssh in berth's place lands (its ProxyCommand, berth proxy,
    // carries it over Session Manager).
    let run = berth.run_on_terminal(&["ssh", &host.instance_id, "--", "echo", "landed"], "", "");
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("landed"), "{run:#?}");
    ssh_naming_its_parent(&mut berth);
    // On a terminal, over Session Manager (whose proxy diagnoses its own
    // failures), with nothing to clean up: ssh replaces berth.
    let run = berth.run_on_terminal(&["ssh", &host.instance_id], "", "");
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("ssh's parent: "), "{run:#?}");
    assert!(!run.stdout.contains("ssh's parent: berth"), "{run:#?}");
    // With --stats to print after it, ssh is a child.
    let run = berth.run_on_terminal(&["--stats", "ssh", &host.instance_id], "", "");
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("ssh's parent: berth"), "{run:#?}");
    // Without a terminal (a script), ssh is a child.
    let run = run_with_input(&berth, &["ssh", &host.instance_id], "");
    run.expect_code(0).stdout_has("ssh's parent: berth");
}
