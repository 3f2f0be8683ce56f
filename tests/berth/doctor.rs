//! `berth doctor` and temporary access (`ssh --open`, `doctor --fix`,
//! `doctor --cleanup`) against the sandbox's deliberately broken hosts:
//! one failed prerequisite each.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Berth, IngressRule, Run, Sandbox, sandbox, set_mode};
use serde_json::Value;

const ME: &str = "127.0.0.1/32";

fn doctor(berth: &Berth, target: &str, extra: &[&str]) -> Run {
    let mut args = vec!["doctor", target, "--output", "json"];
    args.extend_from_slice(extra);
    berth.run(&args)
}

/// The finding for `check` (the first, if several routes have one).
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

/// Asserts a failed check with a piece of its evidence and of its fix.
fn assert_fails(run: &Run, check: &str, evidence: &str, fix: &str) {
    let f = finding(run, check);
    assert_eq!(f["status"], "fail", "{f:#}");
    let text = f["evidence"].as_str().expect("evidence");
    assert!(
        text.contains(evidence),
        "evidence {text:?} lacks {evidence:?}"
    );
    let fixes: Vec<&str> = f["fix"]
        .as_array()
        .expect("fix lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        fixes.iter().any(|l| l.contains(fix)),
        "fix {fixes:?} lacks {fix:?}"
    );
}

fn target(sb: &Sandbox, name: &str) -> String {
    let host = sb.host(name);
    format!(
        "{}/{}",
        host.cluster.as_deref().expect("in a cluster"),
        host.instance_id
    )
}

#[test]
fn a_healthy_host_passes_over_the_private_route() {
    let sb = sandbox();
    let run = doctor(
        &Berth::new(sb),
        &target(sb, "prod-al2023"),
        &["--via", "private", "--from", ME],
    );
    run.expect_code(0);
    let report = run.json();
    for f in report["findings"].as_array().expect("findings") {
        assert_eq!(f["status"], "pass", "{f:#}");
    }
    assert_eq!(report["routes"][0]["route"], "private");
    assert_eq!(report["routes"][0]["works"], true);
    assert!(
        finding(&run, "key-fingerprint")["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("is the private key of berth-sandbox"))
    );
}

#[test]
fn the_checklist_reads_on_a_terminal_too() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&[
        "doctor",
        &target(sb, "broken-othercidr"),
        "--via",
        "private",
        "--from",
        ME,
    ]);
    run.expect_code(4)
        .stdout_has("FAIL  security-group")
        .stdout_has("fix: for this session only: berth ssh")
        .stdout_has("routes: private blocked by security-group");
}

#[test]
fn no_key_pair() {
    let sb = sandbox();
    let host = sb.host("prod-nokey");
    let target = target(sb, "prod-nokey");
    let run = doctor(
        &Berth::new(sb),
        &target,
        &["--via", "private", "--from", ME],
    );
    // Its AMI (Amazon Linux 2023) ships ec2-instance-connect: berth ssh
    // logs in with a one-time key, so the route works, with a warning that
    // says how. (An AMI without the package fails here: a unit test.)
    run.expect_code(0);
    let f = finding(&run, "key-pair");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(
        f["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("launched without a key pair")
                && e.contains("ec2-instance-connect:SendSSHPublicKey")),
        "{f:#}"
    );
    let fixes = f["fix"].to_string();
    assert!(
        fixes.contains(&format!("berth ssh {target} --via instance-connect")),
        "{fixes}"
    );
    assert!(
        fixes.contains(&format!(
            "aws ssm start-session --target {}",
            host.instance_id
        )),
        "{fixes}"
    );

    // With --via instance-connect the package is what is checked.
    let run = doctor(
        &Berth::new(sb),
        &target,
        &["--via", "instance-connect", "--from", ME],
    );
    assert_eq!(finding(&run, "instance-connect")["status"], "pass");
}

#[test]
fn key_pair_deleted_after_launch() {
    let sb = sandbox();
    let broken = &sb.broken;
    let target = target(sb, "broken-keygone");
    let args = ["--via", "private", "--from", ME];

    // Without its private key, the way in is a one-time key with EC2
    // Instance Connect (its AMI, Amazon Linux 2023, ships it).
    let berth = Berth::new(sb);
    let run = doctor(&berth, &target, &args);
    run.expect_code(0);
    assert_eq!(finding(&run, "key-pair-exists")["status"], "warn");
    let f = finding(&run, "local-key");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(
        f["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("no private key for")),
        "{f:#}"
    );
    let fixes = f["fix"].to_string();
    assert!(fixes.contains("--via instance-connect") && fixes.contains("-i PATH"));
    berth
        .run(&[
            "ssh",
            &target,
            "--via",
            "private",
            "-v",
            "--",
            "echo landed",
        ])
        .expect_code(0)
        .stdout_has("landed")
        .stderr_has("pushed with EC2 Instance Connect (no private key found for key pair");

    // With it, the instance still lets you in: a warning, and ssh works.
    let key = berth
        .home()
        .join(format!(".ssh/{}.pem", broken.deleted_key_name));
    std::fs::copy(&broken.deleted_key_path, &key).expect("copy key");
    set_mode(&key, 0o600);
    let run = doctor(&berth, &target, &args);
    run.expect_code(0);
    let f = finding(&run, "key-pair-exists");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(
        f["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("no longer exists in EC2"))
    );
    assert!(f["fix"][0].as_str().is_some_and(|l| l.contains(&format!(
        "aws ec2 import-key-pair --key-name {}",
        broken.deleted_key_name
    ))));
    berth
        .run(&["ssh", &target, "--via", "private", "--", "echo landed"])
        .expect_code(0)
        .stdout_has("landed");
}

type Setup<'a> = Box<dyn Fn(&Berth) + 'a>;

/// A broken host, what berth's doctor must find failing on it (check,
/// words of the evidence, words of a fix), and any other finding's status.
struct Broken<'a> {
    host: &'a str,
    /// Done to berth's HOME first (a key file to plant or loosen).
    setup: Option<Setup<'a>>,
    fails: Vec<(&'a str, String, String)>,
    also: Vec<(&'a str, &'a str)>,
}

/// The broken hosts of the sandbox, each with what doctor must say.
fn broken_hosts(sb: &'static Sandbox) -> Vec<Broken<'static>> {
    let broken = &sb.broken;
    let plant = |from: &'static std::path::Path, name: &str| -> Setup<'static> {
        let name = name.to_owned();
        Box::new(move |berth: &Berth| {
            let key = berth.home().join(format!(".ssh/{name}.pem"));
            std::fs::copy(from, &key).expect("copy key");
            set_mode(&key, 0o600);
        })
    };
    let sandbox_key = berth_key(sb);
    vec![
        Broken {
            host: "broken-wrongkey",
            setup: Some(plant(&broken.wrong_key_path, &broken.wrong_key_name)),
            fails: vec![(
                "key-fingerprint",
                format!("is not the private key of {}", broken.wrong_key_name),
                "pass it with -i PATH".to_owned(),
            )],
            also: vec![],
        },
        Broken {
            host: "prod-al2023",
            setup: Some(Box::new(move |berth: &Berth| {
                set_mode(&berth.home().join(&sandbox_key), 0o644);
            })),
            fails: vec![(
                "key-permissions",
                "mode 0644".to_owned(),
                format!("chmod 600 {{HOME}}/{}", berth_key(sb)),
            )],
            also: vec![],
        },
        Broken {
            host: "broken-othercidr",
            setup: None,
            fails: vec![
                (
                    "security-group",
                    format!("only from 203.0.113.0/24, not from {ME}"),
                    format!(
                        "aws ec2 authorize-security-group-ingress --group-id {} --protocol tcp --port 22 --cidr {ME}",
                        sb.host("broken-othercidr").security_group_ids[0]
                    ),
                ),
                (
                    "security-group",
                    "203.0.113.0/24".to_owned(),
                    format!("--open --from {ME}"),
                ),
            ],
            also: vec![],
        },
        Broken {
            host: "broken-groupref",
            setup: None,
            fails: vec![(
                "security-group",
                format!("group {}", broken.bastion_security_group_id),
                "a host in the allowed group (a bastion)".to_owned(),
            )],
            also: vec![],
        },
        Broken {
            host: "broken-nacl",
            setup: None,
            fails: vec![(
                "network-acl",
                "denies inbound tcp/22 by rule 100".to_owned(),
                format!(
                    "aws ec2 create-network-acl-entry --network-acl-id {} --ingress",
                    broken.network_acl_id
                ),
            )],
            also: vec![],
        },
        Broken {
            host: "broken-stopped",
            setup: None,
            fails: vec![(
                "instance-state",
                "stopped".to_owned(),
                format!(
                    "aws ec2 start-instances --instance-ids {}",
                    sb.host("broken-stopped").instance_id
                ),
            )],
            // Its agent is down because the instance is: nothing to restart.
            also: vec![("ecs-agent", "skipped")],
        },
    ]
}

/// The broken hosts' security groups: the table test reads their rules
/// while `--fix` adds one to broken-othercidr's. One test at a time holds
/// them, or the table sees the other's rule (seen once in CI).
fn broken_groups() -> std::sync::MutexGuard<'static, ()> {
    static GROUPS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn each_broken_host_fails_the_check_that_names_it_with_the_fix() {
    let _groups = broken_groups();
    let sb = sandbox();
    for case in broken_hosts(sb) {
        let berth = Berth::new(sb);
        if let Some(setup) = &case.setup {
            setup(&berth);
        }
        let run = doctor(
            &berth,
            &target(sb, case.host),
            &["--via", "private", "--from", ME],
        );
        assert_eq!(run.code, 4, "{}: {run:#?}", case.host);
        let home = berth.home().display().to_string();
        for (check, evidence, fix) in &case.fails {
            assert_fails(&run, check, evidence, &fix.replace("{HOME}", &home));
        }
        for (check, status) in &case.also {
            assert_eq!(finding(&run, check)["status"], *status, "{}", case.host);
        }
    }
}

/// The sandbox key pair's file, relative to berth's HOME.
fn berth_key(sb: &Sandbox) -> String {
    format!(".ssh/{}.pem", sb.key_name)
}

#[test]
fn public_subnet_without_an_internet_gateway_route() {
    let sb = sandbox();
    let broken = &sb.broken;
    let berth = Berth::new(sb);
    let args = ["--via", "public", "--from", "198.51.100.7/32"];
    let run = doctor(&berth, &target(sb, "broken-noigw"), &args);
    run.expect_code(4);
    assert_fails(
        &run,
        "internet-gateway",
        &broken.noigw_route_table_id,
        &format!(
            "aws ec2 create-route --route-table-id {} --destination-cidr-block 0.0.0.0/0 --gateway-id {}",
            broken.noigw_route_table_id, broken.internet_gateway_id
        ),
    );
    // Its twin with the default route passes.
    let run = doctor(&berth, &target(sb, "broken-public"), &args);
    run.expect_code(0);
    assert_eq!(finding(&run, "internet-gateway")["status"], "pass");
}

#[test]
fn windows_host_with_an_ed25519_key_pair() {
    let sb = sandbox();
    let run = doctor(
        &Berth::new(sb),
        &target(sb, "broken-win-ed25519"),
        &["--via", "private", "--from", ME],
    );
    run.expect_code(4);
    assert_eq!(run.json()["protocol"], "rdp");
    assert_eq!(run.json()["port"], 3389);
    assert_fails(
        &run,
        "windows-key-type",
        "the key pair is ed25519",
        "--key-type rsa",
    );
}

#[test]
fn windows_password_not_available_yet() {
    let sb = sandbox();
    let run = doctor(
        &Berth::new(sb),
        &target(sb, "broken-win-pending"),
        &["--via", "private", "--from", ME],
    );
    run.expect_code(4);
    assert_fails(
        &run,
        "windows-password",
        "not available yet: launched",
        "--wait",
    );
}

#[test]
fn ssh_that_cannot_connect_explains_why() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&[
        "ssh",
        &target(sb, "broken-othercidr"),
        "--via",
        "private",
        "--from",
        ME,
        "--",
        "true",
    ]);
    run.expect_code(255)
        .stderr_has("checking the prerequisites")
        .stderr_has("FAIL  security-group")
        .stderr_has("only from 203.0.113.0/24");
}

// ---- temporary access -------------------------------------------------

fn rules(sb: &Sandbox, group: &str) -> Vec<IngressRule> {
    sb.ingress_rules(group)
}

fn ours(rules: &[IngressRule], cidr: &str) -> Option<IngressRule> {
    rules
        .iter()
        .find(|r| {
            r.source == cidr
                && r.description
                    .as_deref()
                    .is_some_and(|d| d.starts_with("berth temporary access"))
        })
        .cloned()
}

/// Waits until `check` holds, or fails after 20 s.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `berth ssh HOST --open` running a long remote command, and waits
/// for its rule to appear.
fn open_session(sb: &Sandbox, berth: &Berth, host: &str, group: &str) -> Child {
    let target = target(sb, host);
    let child = berth
        .command(&[
            "ssh", &target, "--via", "private", "--open", "--from", ME, "--", "sleep 60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth");
    wait_for("the temporary rule", || {
        ours(&rules(sb, group), ME).is_some()
    });
    child
}

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The children of a process, from /proc.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn session_ended_by(sig: &str, code: i32, host: &str) {
    let sb = sandbox();
    let group = &sb.broken.open_security_group_ids[host];
    let before = rules(sb, group);
    assert!(ours(&before, ME).is_none());
    let berth = Berth::new(sb);
    let child = open_session(sb, &berth, host, group);
    let during = rules(sb, group);
    assert_eq!(during.len(), before.len() + 1, "{during:#?}");
    let rule = ours(&during, ME).expect("rule");
    assert_eq!(
        (rule.protocol.as_str(), rule.from_port, rule.to_port),
        ("tcp", 22, 22)
    );
    assert!(
        rule.description
            .as_deref()
            .is_some_and(|d| d.contains("expires")),
        "{rule:?}"
    );

    signal(&child, sig);
    let out = child.wait_with_output().expect("berth ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains("removed the temporary rule"), "{stderr}");
    assert_eq!(rules(sb, group), before, "every other rule is untouched");
}

#[test]
fn open_rule_is_removed_after_ctrl_c_and_after_sighup() {
    session_ended_by("INT", 130, "open-int");
    session_ended_by("HUP", 129, "open-int");
}

#[test]
fn open_rule_is_removed_after_sigterm() {
    session_ended_by("TERM", 143, "open-term");
}

#[test]
fn a_killed_session_rule_is_removed_by_the_next_run() {
    let sb = sandbox();
    let group = &sb.broken.open_security_group_ids["open-kill"];
    let before = rules(sb, group);
    let berth = Berth::new(sb);
    let child = open_session(sb, &berth, "open-kill", group);
    // The rule goes in before ssh starts: wait for berth's child.
    let mut ssh = Vec::new();
    wait_for("berth to start ssh", || {
        ssh = children(child.id());
        !ssh.is_empty()
    });
    signal(&child, "KILL");
    // The orphaned ssh holds berth's stderr open: end it too.
    for pid in ssh {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    let out = child.wait_with_output().expect("reaped");
    assert_eq!(out.status.code(), None, "killed by a signal");
    // berth had no chance to clean up.
    assert!(ours(&rules(sb, group), ME).is_some());

    // Any later run does, and says so.
    berth
        .run(&["ls", "broken"])
        .expect_code(0)
        .stderr_has("removed a temporary rule an earlier berth left")
        .stderr_has(group);
    assert_eq!(rules(sb, group), before, "every other rule is untouched");
    berth
        .run(&["doctor", "--cleanup"])
        .expect_code(0)
        .stdout_has("no leftover temporary rules");
}

#[test]
fn fix_adds_an_expiring_rule_and_cleanup_removes_it() {
    let _groups = broken_groups();
    let sb = sandbox();
    let host = sb.host("broken-othercidr");
    let group = &host.security_group_ids[0];
    let before = rules(sb, group);
    let berth = Berth::new(sb);
    let from = "127.0.0.2/32";
    let run = berth.run(&[
        "doctor",
        &target(sb, "broken-othercidr"),
        "--via",
        "private",
        "--from",
        from,
        "--fix",
        "--fix-for",
        "1h",
        "--output",
        "json",
    ]);
    run.expect_code(0).stderr_has(&format!("added to {group}"));
    assert_eq!(finding(&run, "security-group")["status"], "pass");
    assert!(ours(&rules(sb, group), from).is_some());

    // Not expired: a plain run leaves it, --cleanup --all removes it.
    berth.run(&["ls", "broken"]).expect_code(0);
    assert!(ours(&rules(sb, group), from).is_some());
    berth
        .run(&["doctor", "--cleanup", "--all"])
        .expect_code(0)
        .stdout_has(&format!("removed {group}: {from} port 22"));
    assert_eq!(rules(sb, group), before);
}

#[test]
fn open_needs_an_address() {
    let sb = sandbox();
    Berth::new(sb)
        .run(&[
            "ssh",
            &target(sb, "open-int"),
            "--via",
            "private",
            "--open",
            "--",
            "true",
        ])
        .expect_code(2)
        .stderr_has("--open needs your address")
        .stderr_has("--from");
}

#[test]
fn a_windows_host_with_its_password_passes_for_rdp() {
    let sb = sandbox();
    let run = doctor(
        &Berth::new(sb),
        &target(sb, "prod-windows"),
        &["--via", "private", "--from", ME],
    );
    run.expect_code(0);
    assert_eq!(finding(&run, "windows-password")["status"], "pass");
    assert_eq!(finding(&run, "windows-key-type")["status"], "pass");
    assert!(
        finding(&run, "security-group")["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("tcp/3389 from 127.0.0.0/8"))
    );
}

#[test]
fn rdp_open_holds_a_rule_while_the_client_runs() {
    let sb = sandbox();
    let group = &sb.security_group_id;
    let from = "127.0.0.3/32";
    let before = rules(sb, group);
    let dir = tempfile::tempdir().expect("tempdir");
    // A client that takes the password, then waits for the test's go.
    let go = dir.path().join("go");
    let client = dir.path().join("client");
    std::fs::write(
        &client,
        format!(
            "#!/bin/sh\ncat >/dev/null\nwhile [ ! -e {go} ]; do sleep 0.1; done\n",
            go = go.display()
        ),
    )
    .expect("write client");
    set_mode(&client, 0o755);
    let berth = Berth::new(sb);
    let child = berth
        .command(&[
            "rdp",
            &target(sb, "prod-windows"),
            "--via",
            "private",
            "--open",
            "--from",
            from,
            "--client",
            &client.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth");
    wait_for("the rule while the client runs", || {
        ours(&rules(sb, group), from).is_some()
    });
    let rule = ours(&rules(sb, group), from).expect("rule");
    assert_eq!((rule.from_port, rule.to_port), (3389, 3389));
    std::fs::write(&go, "").expect("go");
    let out = child.wait_with_output().expect("berth ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("removed the temporary rule"), "{stderr}");
    assert_eq!(rules(sb, group), before, "every other rule is untouched");
}

#[test]
fn a_failed_rdp_client_gets_a_diagnosis() {
    let sb = sandbox();
    Berth::new(sb)
        .run(&[
            "rdp",
            &target(sb, "prod-windows"),
            "--via",
            "private",
            "--from",
            ME,
            "--client",
            "false",
        ])
        .expect_code(1)
        .stderr_has("checking the prerequisites")
        .stderr_has("every prerequisite berth can see holds")
        .stderr_has("full checklist: berth doctor");
}

#[test]
fn detect_ip_asks_the_echo_service_only_when_told() {
    use std::io::{Read, Write};
    let sb = sandbox();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut request = [0u8; 1024];
        let n = conn.read(&mut request).expect("read");
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n127.0.0.9\n")
            .expect("answer");
        String::from_utf8_lossy(&request[..n]).into_owned()
    });
    let mut berth = Berth::new(sb);
    berth.env("BERTH_ECHO_URL", Some(&url));
    let target = target(sb, "prod-al2023");

    // Not asked: no request, and the address stays unknown, so the route
    // cannot be said to work.
    let run = doctor(&berth, &target, &["--via", "private"]);
    run.expect_code(4);
    assert!(run.json().get("from").is_none(), "{}", run.stdout);
    assert_eq!(run.json()["routes"][0]["unverified"], true);

    let run = doctor(&berth, &target, &["--via", "private", "--detect-ip"]);
    run.expect_code(0);
    assert_eq!(run.json()["from"], "127.0.0.9/32");
    let request = server.join().expect("server");
    assert!(request.starts_with("GET / HTTP/1."), "{request}");
}

#[test]
fn an_identical_rule_someone_else_added_is_left_alone() {
    let sb = sandbox();
    // broken-groupref: nothing listens there, so ssh fails fast.
    let host = sb.host("broken-groupref");
    let group = &host.security_group_ids[0];
    let from = "127.0.0.4/32";
    sb.add_ingress_rule(group, from, 22, "the ops team");
    let before = rules(sb, group);
    Berth::new(sb)
        .run(&[
            "ssh",
            &target(sb, "broken-groupref"),
            "--via",
            "private",
            "--open",
            "--from",
            from,
            "--",
            "true",
        ])
        .expect_code(255)
        .stderr_has(&format!("{group} already allows tcp/22 from {from}"));
    assert_eq!(rules(sb, group), before, "the team's rule stays");
}

#[test]
fn open_takes_one_address_not_a_network() {
    let sb = sandbox();
    Berth::new(sb)
        .run(&[
            "ssh",
            &target(sb, "open-int"),
            "--via",
            "private",
            "--open",
            "--from",
            "0.0.0.0/0",
            "--",
            "true",
        ])
        .expect_code(2)
        .stderr_has("single address");
}

/// The route of that name in a doctor report.
fn route(run: &Run, name: &str) -> Value {
    let routes = run.json()["routes"].clone();
    routes
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} route: {routes:#}"))
}

#[test]
fn by_default_every_route_is_checked() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // A private host: no public route, and the private one is not assumed;
    // the sandbox VPC's Instance Connect Endpoint is let in by the host's
    // group, and so is the VPC's bastion (tagged berth:bastion).
    let run = doctor(&berth, &target(sb, "prod-al2023"), &["--from", ME]);
    run.expect_code(0);
    assert_eq!(route(&run, "public")["blocked_by"], "public-address");
    assert_eq!(route(&run, "private")["blocked_by"], "private-address");
    assert_eq!(route(&run, "instance-connect-endpoint")["works"], true);
    assert_eq!(route(&run, "ssm")["works"], false);
    assert_eq!(route(&run, "bastion")["works"], true);
    assert_eq!(finding(&run, "private-address")["status"], "skipped");
    assert!(
        run.json()["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["check"] == "instance-connect-endpoint"
                && f["evidence"]
                    .as_str()
                    .is_some_and(|e| e.contains(&sb.eice.endpoint_id))),
        "{}",
        run.stdout
    );

    // A host whose group admits neither the endpoint nor you: no route
    // works, and the endpoint's is blocked by that group.
    let run = doctor(&berth, &target(sb, "broken-othercidr"), &["--from", ME]);
    run.expect_code(4);
    assert_eq!(
        route(&run, "instance-connect-endpoint")["blocked_by"],
        "security-group"
    );
    assert_eq!(route(&run, "ssm")["works"], false);

    // A public host whose group is open to the world: the public route works.
    let run = doctor(
        &berth,
        &target(sb, "broken-public"),
        &["--from", "198.51.100.7/32"],
    );
    run.expect_code(0);
    assert_eq!(run.json()["routes"][0]["route"], "public");
    assert_eq!(run.json()["routes"][0]["works"], true);
}

#[test]
fn doctor_via_eice_says_the_route_works_on_a_healthy_host() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // The bastion's group admits ssh from 127.0.0.0/8, a CIDR that covers
    // the endpoint's subnet, where the endpoint (not preserving the
    // client's address) connects from; prod-al2023's admits the endpoint's
    // group by name.
    let bastion = sb.host("bastion").instance_id.clone();
    for target in [bastion, target(sb, "prod-al2023")] {
        let run = doctor(&berth, &target, &["--via", "eice"]);
        run.expect_code(0);
        let endpoint = route(&run, "instance-connect-endpoint");
        assert_eq!(endpoint["works"], true, "{target}: {}", run.stdout);
        assert!(endpoint.get("blocked_by").is_none(), "{endpoint:#}");
        assert_eq!(finding(&run, "security-group")["status"], "pass");
        assert!(
            finding(&run, "instance-connect-endpoint")["evidence"]
                .as_str()
                .is_some_and(|e| e.contains(&sb.eice.endpoint_id)
                    && e.contains(&sb.eice.subnet_id)),
            "{}",
            run.stdout
        );
        berth
            .run(&["doctor", &target, "--via", "eice"])
            .expect_code(0)
            .stdout_has("routes: instance-connect-endpoint works");
    }
}

#[test]
fn a_bastion_route_works_when_the_group_lets_the_bastion_in() {
    let sb = sandbox();
    let bastion = sb.host("bastion");
    let berth = Berth::new(sb);
    let target = target(sb, "broken-groupref");
    // The bastion tagged in the VPC is in the group broken-groupref admits:
    // of every route checked, that one works.
    let run = doctor(&berth, &target, &["--from", ME]);
    run.expect_code(0);
    let routes = run.json()["routes"].clone();
    let bastion_route = routes
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == "bastion")
        .cloned()
        .expect("the bastion route is checked");
    assert_eq!(bastion_route["works"], true, "{routes:#}");
    run.stdout_has(&bastion.instance_id);

    // Named with --bastion, only that route is checked; a host outside
    // that group is no way in.
    let run = doctor(
        &berth,
        &target,
        &["--from", ME, "--bastion", "prod/prod-al2023"],
    );
    run.expect_code(4);
    let f = run.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == "security-group" && f["scope"]["route"] == "bastion")
        .cloned()
        .expect("bastion finding");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert!(
        f["fix"][0]
            .as_str()
            .is_some_and(|l| l.contains(&format!("--source-group {}", sb.security_group_id))),
        "{f:#}"
    );
}

#[test]
fn doctor_marks_the_route_ssh_takes_for_every_sandbox_host() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // The route ssh's dry run takes and the one doctor marks, per host
    // (`None` when ssh has no plan: Windows, Bottlerocket, stopped, no
    // route; doctor's mark is then ssh's first choice, never reached).
    let compare = |name: &String, id: &String| -> Option<(Value, Value)> {
        let planned = berth.run(&["--output", "json", "ssh", id, "--dry-run"]);
        let doctor = berth.run(&["--output", "json", "doctor", id]);
        let report: Value = serde_json::from_str(&doctor.stdout)
            .unwrap_or_else(|e| panic!("{name}: doctor's JSON: {e}: {doctor:#?}"));
        (planned.code == 0).then(|| {
            let plan: Value = serde_json::from_str(&planned.stdout).expect("plan JSON");
            (plan["route"]["route"].clone(), report["auto_takes"].clone())
        })
    };
    let hosts: Vec<(&String, &String)> = sb
        .hosts
        .iter()
        .map(|(name, host)| (name, &host.instance_id))
        .collect();
    let results: Vec<(String, Option<(Value, Value)>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = hosts
            .chunks(hosts.len().div_ceil(6))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, id)| ((*name).clone(), compare(name, id)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut compared = 0;
    for (name, routes) in results {
        if let Some((ssh, doctor)) = routes {
            assert_eq!(
                doctor, ssh,
                "{name}: doctor marks {doctor} but ssh takes {ssh}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} hosts had an ssh plan");
}
