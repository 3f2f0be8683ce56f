//! Private hosts through a bastion: found by its `berth:bastion` tag, by
//! `--bastion`, or by the config file; the bastion's own sshd log proves
//! the connection went through it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::server_address;
use crate::support::{Berth, Sandbox, sandbox, set_mode};

/// The forwards the bastion's sshd opened to `address`:22, as its log
/// shows them, once there are more than `before` (or after 5 s, however
/// many there are). sshd may write the line a moment after the session ends.
fn forwards_beyond(sb: &Sandbox, address: &str, before: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = forwards_to_now(sb, address);
    while seen <= before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        seen = forwards_to_now(sb, address);
    }
    seen
}

#[test]
fn a_private_host_is_reached_through_the_bastion_tagged_in_its_vpc() {
    let sb = sandbox();
    let target = sb.host("prod-flatcar");
    let ip = target.private_ip.as_deref().expect("ip");
    let before = forwards_to_now(sb, ip);
    let berth = Berth::new(sb);
    // No --via: the host has no public address, and the VPC has a bastion.
    let run = berth.run(&[
        "-v",
        "ssh",
        "prod/prod-flatcar",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    run.expect_code(0)
        .stderr_has("route public: not possible: no public address")
        .stderr_has("route bastion: taken: through bastion i-")
        .stderr_has("(tagged berth:bastion)");
    assert_eq!(server_address(&run.stdout), ip);
    let after_auto = forwards_beyond(sb, ip, before);
    assert!(
        after_auto > before,
        "the bastion's sshd forwarded nothing to {ip}"
    );
    // Asked for by name: the same bastion, found by its tag again.
    let run = berth.run(&[
        "-v",
        "ssh",
        "prod/prod-flatcar",
        "--via",
        "bastion",
        "--",
        "echo ok",
    ]);
    run.expect_code(0)
        .stderr_has("route bastion: taken: through bastion i-")
        .stderr_has("(tagged berth:bastion)");
    assert_eq!(run.stdout, "ok\n");
    assert!(
        forwards_beyond(sb, ip, after_auto) > after_auto,
        "--via bastion: the bastion's sshd forwarded nothing more to {ip}"
    );
}

/// The forwards to `address` logged so far, without waiting.
fn forwards_to_now(sb: &Sandbox, address: &str) -> usize {
    let wanted = format!("target {address} port 22");
    std::fs::read_to_string(&sb.bastion_sshd_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&wanted))
        .count()
}

#[test]
fn via_bastion_by_name_and_by_config() {
    let sb = sandbox();
    let target = sb.host("prod-ubuntu");
    let ip = target.private_ip.as_deref().expect("ip");
    let bastion = sb.host("bastion");
    let mut berth = Berth::new(sb);
    // By its Name tag.
    let run = berth.run(&[
        "ssh",
        "prod/prod-ubuntu",
        "--bastion",
        "bastion",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    run.expect_code(0);
    assert_eq!(server_address(&run.stdout), ip);

    // From the config file, for the cluster; the dry run shows the bastion's
    // own ssh in the ProxyCommand, as its own user.
    let config = berth.home().join("config.toml");
    std::fs::write(
        &config,
        format!("[clusters.prod]\nbastion = \"{}\"\n", bastion.instance_id),
    )
    .expect("write config");
    berth.env("BERTH_CONFIG", Some(&config.display().to_string()));
    let run = berth.run(&["--output", "json", "ssh", "prod/prod-ubuntu", "--dry-run"]);
    let out: serde_json::Value = serde_json::from_str(&run.expect_code(0).stdout).expect("json");
    assert_eq!(out["route"]["route"], "bastion");
    assert_eq!(out["route"]["bastion"]["source"]["from"], "config");
    let argv = out["argv"].to_string();
    assert!(
        argv.contains(&format!(
            "ec2-user@{}",
            bastion.private_ip.as_deref().expect("ip")
        )),
        "{argv}"
    );
    assert!(argv.contains(&format!("ubuntu@{ip}")), "{argv}");
}

#[test]
fn dash_o_reaches_the_bastion_hop_too() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let run = berth.run(&[
        "--output",
        "json",
        "ssh",
        "prod/prod-ubuntu",
        "--via",
        "bastion",
        "-o",
        "ConnectTimeout=7",
        "--dry-run",
    ]);
    let out: serde_json::Value = serde_json::from_str(&run.expect_code(0).stdout).expect("json");
    let argv: Vec<String> = out["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(|w| w.as_str().map(str::to_owned))
        .collect();
    // The target's ssh has it, and so does the bastion's in the ProxyCommand.
    assert!(argv.contains(&"ConnectTimeout=7".to_owned()), "{argv:?}");
    let proxy = argv
        .iter()
        .find(|w| w.starts_with("ProxyCommand="))
        .expect("a ProxyCommand");
    assert!(proxy.contains("ConnectTimeout=7"), "{proxy}");
}

#[test]
fn show_names_the_route_and_why() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    berth
        .run(&["show", "prod/prod-al2023"])
        .expect_code(0)
        .stdout_has("public: not possible: no public address")
        .stdout_has("bastion: taken: through bastion i-");
}

#[test]
fn no_bastion_anywhere_names_what_is_missing() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // The public VPC of the broken fleet has no bastion.
    let run = berth.run(&[
        "ssh",
        "broken/broken-noigw",
        "--via",
        "bastion",
        "--dry-run",
    ]);
    run.expect_code(4)
        .stderr_has("no running instance tagged berth:bastion in vpc-")
        .stderr_has("--bastion TARGET");
    // A bastion and another route at once is a usage error.
    berth
        .run(&[
            "ssh",
            "prod/prod-ubuntu",
            "--bastion",
            "bastion",
            "--via",
            "public",
        ])
        .expect_code(2)
        .stderr_has("drop one of them");
}

#[test]
fn without_a_local_key_the_bastion_and_the_host_get_one_time_keys() {
    let sb = sandbox();
    let target = sb.host("prod-nokey");
    let ip = target.private_ip.as_deref().expect("ip");
    let berth = Berth::new(sb);
    // No key file at all: both Amazon Linux hosts take Instance Connect keys.
    std::fs::remove_file(
        berth
            .home()
            .join(".ssh")
            .join(format!("{}.pem", sb.key_name)),
    )
    .expect("remove the sandbox key");
    let before = forwards_to_now(sb, ip);
    let run = berth.run(&[
        "-v",
        "ssh",
        "prod/prod-nokey",
        "--via",
        "bastion",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    run.expect_code(0)
        .stderr_has("bastion i-")
        .stderr_has("one-time");
    assert_eq!(server_address(&run.stdout), ip);
    assert!(
        forwards_beyond(sb, ip, before) > before,
        "not through the bastion"
    );
    // The dry run shows where each key will go and pushes nothing.
    let dry = berth.run(&["ssh", "prod/prod-nokey", "--via", "bastion", "--dry-run"]);
    dry.expect_code(0)
        .stdout_has("<bastion-one-time-key>")
        .stdout_has("<one-time-key>");
}

/// berth's ssh as on a machine that has never seen any of these hosts, run
/// from a script: the sandbox's client settings, but an empty known_hosts
/// and OpenSSH's default `StrictHostKeyChecking` (ask), which with no
/// terminal to ask on refuses every unknown key.
fn ssh_that_knows_no_host(berth: &mut Berth, sb: &Sandbox) {
    let dir = sb.ssh.parent().and_then(Path::parent).expect("sandbox dir");
    let config = std::fs::read_to_string(dir.join("ssh_config")).expect("sandbox ssh config");
    let known_hosts = berth.home().join("known_hosts.empty");
    std::fs::write(&known_hosts, "").expect("write known_hosts");
    let mut lines: Vec<String> = config
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("StrictHostKeyChecking") && !l.starts_with("UserKnownHostsFile")
        })
        .map(str::to_owned)
        .collect();
    lines.push(format!("  UserKnownHostsFile {}", known_hosts.display()));
    let strict = berth.home().join("ssh_config.strict");
    std::fs::write(&strict, lines.join("\n") + "\n").expect("write ssh config");
    set_mode(&strict, 0o600);
    // The sandbox's wrapper passes its own -F first; ssh takes the last.
    let wrapper = berth.home().join("ssh-strict");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' -F '{}' \"$@\"\n",
            sb.ssh.display(),
            strict.display()
        ),
    )
    .expect("write wrapper");
    set_mode(&wrapper, 0o755);
    berth.env("BERTH_SSH", Some(&wrapper.display().to_string()));
}

#[test]
fn through_the_bastion_from_a_fresh_machine_without_a_terminal() {
    let sb = sandbox();
    let target = sb.host("prod-flatcar");
    let ip = target.private_ip.as_deref().expect("ip");
    let bastion = sb.host("bastion");
    let mut berth = Berth::new(sb);
    ssh_that_knows_no_host(&mut berth, sb);
    // Both hops' keys come from their console output, pinned per instance.
    let run = berth.run(&[
        "-v",
        "ssh",
        "prod/prod-flatcar",
        "--via",
        "bastion",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    run.expect_code(0)
        .stderr_has(&format!(
            "host key: pinned 1 key(s) of {} from its console output",
            bastion.instance_id
        ))
        .stderr_has(&format!(
            "host key: pinned 1 key(s) of {} from its console output",
            target.instance_id
        ));
    assert_eq!(server_address(&run.stdout), ip);
    // A fleet command through the same bastion, from another fresh state.
    let mut fleet = Berth::new(sb);
    ssh_that_knows_no_host(&mut fleet, sb);
    let run = fleet.run(&[
        "run",
        "prod/prod-flatcar",
        "--via",
        "bastion",
        "--",
        "echo ok",
    ]);
    run.expect_code(0).stdout_has("ok");
}

#[test]
fn a_wrong_host_key_is_blamed_on_the_hop_that_has_it() {
    let sb = sandbox();
    let stranger = sb.host("hostkey-stranger");
    let stranger_ip = stranger.private_ip.as_deref().expect("ip");
    let target = sb.host("prod-ubuntu");
    let mut berth = Berth::new(sb);
    ssh_that_knows_no_host(&mut berth, sb);
    // The bastion is the machine whose console prints another key.
    let run = berth.run(&[
        "ssh",
        "prod/prod-ubuntu",
        "--bastion",
        &stranger.instance_id,
        "--",
        "true",
    ]);
    run.expect_code(255).stderr_has(&format!(
        "the machine answering at {stranger_ip} is NOT the bastion instance {}",
        stranger.instance_id
    ));
    assert!(
        !run.stderr.contains(&target.instance_id),
        "the target was blamed: {run:#?}"
    );
    assert!(
        !run.stderr.contains("checking the prerequisites"),
        "{run:#?}"
    );
    // Through a good bastion, the target is the one whose key is wrong.
    let run = berth.run(&[
        "ssh",
        &stranger.instance_id,
        "--bastion",
        "bastion",
        "--",
        "true",
    ]);
    run.expect_code(255).stderr_has(&format!(
        "the machine answering at {stranger_ip} is NOT instance {}",
        stranger.instance_id
    ));
    assert!(!run.stderr.contains("NOT the bastion"), "{run:#?}");
}
