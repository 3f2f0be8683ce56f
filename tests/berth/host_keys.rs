//! Host keys pinned per instance id from the console output: the far side
//! is the sandbox sshd, whose real host key GetConsoleOutput prints for
//! every sandbox host; `hostkey-stranger` prints another machine's key
//! while the sandbox sshd answers at its address.

use std::path::{Path, PathBuf};

use crate::support::{Berth, Run, sandbox, set_mode, stats_line};

fn known_hosts(berth: &Berth) -> PathBuf {
    berth.home().join(".local/state/berth/known_hosts")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The `ALGORITHM BASE64` of the sandbox sshd's host key.
fn sandbox_host_key() -> String {
    let text = std::fs::read_to_string(&sandbox().host_key_pub).expect("sandbox host key");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// An ssh stand-in that writes its argv, one word a line, to `log` and
/// succeeds.
fn recording_ssh(berth: &mut Berth) -> PathBuf {
    let log = berth.home().join("ssh-argv");
    let script = berth.home().join("record-ssh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor word in \"$@\"; do printf '%s\\n' \"$word\"; done > '{}'\n",
            log.display()
        ),
    )
    .expect("write recorder");
    set_mode(&script, 0o755);
    berth.env("BERTH_SSH", Some(&script.display().to_string()));
    log
}

fn private_ssh(berth: &Berth, target: &str, extra: &[&str]) -> Run {
    let mut args = vec!["-v", "--stats", "ssh", target, "--via", "private"];
    args.extend_from_slice(extra);
    args.extend(["--", "echo $SSH_CONNECTION"]);
    berth.run(&args)
}

#[test]
fn first_contact_pins_the_consoles_key_under_the_instance_id() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let host = sb.host("prod-al2023");
    let id = &host.instance_id;
    let first = private_ssh(&berth, id, &[]);
    first
        .expect_code(0)
        .stderr_has(&format!(
            "host key: pinned 1 key(s) of {id} from its console output (SHA256:"
        ))
        .stderr_has("ec2:GetConsoleOutput x1")
        .stderr_has(&format!("'HostKeyAlias={id}'"))
        .stderr_has("'StrictHostKeyChecking=yes'");
    assert_eq!(
        crate::server_address(&first.stdout),
        host.private_ip.as_deref().expect("ip")
    );
    let file = known_hosts(&berth);
    let pinned = std::fs::read_to_string(&file).expect("berth's known_hosts");
    assert_eq!(
        pinned,
        format!("{id} {} berth:console-output\n", sandbox_host_key())
    );
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().expect("dir")), 0o700);

    // Known now: no console output asked for, the pin checked.
    let again = private_ssh(&berth, id, &[]);
    again
        .expect_code(0)
        .stderr_has(&format!("checked against the 1 key(s) pinned for {id}"));
    assert!(!again.stderr.contains("GetConsoleOutput"), "{again:#?}");
    // No call at all: the host cache knows the instance (everyday.rs), the
    // AMI cache its image.
    assert_eq!(stats_line(&again.stderr)["calls"], 0, "{again:#?}");
}

#[test]
fn a_machine_that_is_not_the_instance_is_refused_with_a_warning() {
    let sb = sandbox();
    let stranger = sb.host("hostkey-stranger");
    let address = stranger.private_ip.as_deref().expect("ip");
    let berth = Berth::new(sb);
    let run = private_ssh(&berth, &stranger.instance_id, &[]);
    run.expect_code(255)
        .stderr_has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        .stderr_has(&format!(
            "the machine answering at {address} is NOT instance {}",
            stranger.instance_id
        ))
        .stderr_has("Do not log in there")
        .stderr_has("berth --refresh ssh");
    assert!(run.stdout.is_empty(), "the remote command ran: {run:#?}");
    // No doctor checklist: the prerequisites are not what failed.
    assert!(
        !run.stderr.contains("checking the prerequisites"),
        "{run:#?}"
    );

    // What trust on first use does with the same address: it logs in.
    let mut openssh = Berth::new(sb);
    openssh.env("BERTH_HOST_KEYS", Some("openssh"));
    let tofu = private_ssh(&openssh, &stranger.instance_id, &[]);
    tofu.expect_code(0)
        .stderr_has("host key: not pinned (BERTH_HOST_KEYS=openssh)");
    assert_eq!(crate::server_address(&tofu.stdout), address);
}

#[test]
fn a_changed_pin_stops_the_connection_until_refresh_reads_the_console_again() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let id = &sb.host("prod-ubuntu").instance_id;
    private_ssh(&berth, id, &[]).expect_code(0);
    // As if the instance had another key when it was pinned.
    let stranger_key = std::fs::read_to_string(
        sb.host_key_pub
            .with_file_name("stranger_host_ed25519_key.pub"),
    )
    .expect("stranger key");
    let body: Vec<&str> = stranger_key.split_whitespace().take(2).collect();
    std::fs::write(
        known_hosts(&berth),
        format!("{id} {} berth:console-output\n", body.join(" ")),
    )
    .expect("rewrite pin");
    private_ssh(&berth, id, &[])
        .expect_code(255)
        .stderr_has(&format!("is NOT instance {id}"));
    let refreshed = berth.run(&[
        "-v",
        "--refresh",
        "ssh",
        id,
        "--via",
        "private",
        "--",
        "true",
    ]);
    refreshed
        .expect_code(0)
        .stderr_has("differ from those pinned before")
        .stderr_has(&format!("pinned 1 key(s) of {id}"));
    assert!(
        std::fs::read_to_string(known_hosts(&berth))
            .expect("pins")
            .contains(&sandbox_host_key())
    );
}

#[test]
fn without_keys_in_the_console_openssh_decides_and_berth_says_why() {
    let sb = sandbox();
    for (console, why) in [
        ("no-host-keys", "has no SSH host keys"),
        ("fingerprints-only", "lists fingerprints but not the keys"),
        ("empty", "EC2 has no console output for"),
    ] {
        let id = sb.launch_instance("ami-0a1b2c3d4e5f60001", &format!("console-{console}"));
        sb.tag_instance(&id, "sandbox:console", console);
        let mut berth = Berth::new(sb);
        let argv_log = recording_ssh(&mut berth);
        let key = sb.key_path.display().to_string();
        let run = berth.run(&[
            "-v", "ssh", &id, "--via", "private", "-i", &key, "--", "true",
        ]);
        run.expect_code(0)
            .stderr_has(why)
            .stderr_has("OpenSSH checks the host key as it always does");
        let argv = std::fs::read_to_string(&argv_log).expect("ssh ran");
        assert!(!argv.contains("HostKeyAlias"), "{console}: {argv}");
        assert!(!known_hosts(&berth).exists(), "{console}: pinned something");
    }
}

#[test]
fn the_operators_own_host_key_options_are_left_alone() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let argv_log = recording_ssh(&mut berth);
    let id = &sb.host("prod-al2023").instance_id;
    let run = berth.run(&[
        "-v",
        "--stats",
        "ssh",
        id,
        "--via",
        "private",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "--",
        "true",
    ]);
    run.expect_code(0)
        .stderr_has("host key: your -o options decide how it is checked");
    assert!(!run.stderr.contains("GetConsoleOutput"), "{run:#?}");
    let argv = std::fs::read_to_string(&argv_log).expect("ssh ran");
    assert!(!argv.contains("HostKeyAlias"), "{argv}");
    assert!(argv.contains("UserKnownHostsFile=/dev/null"), "{argv}");
}

#[test]
fn dry_run_reads_no_console_output() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let run = berth.run(&[
        "--stats",
        "ssh",
        &sb.host("prod-al2023").instance_id,
        "--via",
        "private",
        "--dry-run",
    ]);
    run.expect_code(0);
    assert!(!run.stderr.contains("GetConsoleOutput"), "{run:#?}");
    assert!(!known_hosts(&berth).exists());
}

#[test]
fn cp_pins_the_hosts_key_too() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let id = &sb.host("fleet-05").instance_id;
    let dest = berth.home().join("hostname").display().to_string();
    let host = format!("{}/fleet-05", sb.fleet.cluster);
    berth
        .run(&[
            "-v",
            "cp",
            &host,
            "--via",
            "private",
            ":/etc/hostname",
            &dest,
        ])
        .expect_code(0)
        .stderr_has(&format!("host key: pinned 1 key(s) of {id}"))
        .stderr_has(&format!("'HostKeyAlias={id}'"));
    let pinned = std::fs::read_to_string(known_hosts(&berth)).expect("known_hosts");
    assert!(pinned.contains(&sandbox_host_key()), "{pinned}");
}

#[test]
fn a_fleet_run_pins_the_hosts_key_on_first_contact() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let target = format!("{}/fleet-06", sb.fleet.cluster);
    let id = &sb.host("fleet-06").instance_id;
    let args = ["--stats", "run", &target, "--via", "private", "--", "true"];
    berth
        .run(&args)
        .expect_code(0)
        .stderr_has("ec2:GetConsoleOutput x1");
    let pinned = std::fs::read_to_string(known_hosts(&berth)).expect("known_hosts");
    assert!(pinned.contains(id.as_str()), "{id}: {pinned}");
    // Pinned: the next run reads no console output.
    let again = berth.run(&args);
    again.expect_code(0);
    assert!(!again.stderr.contains("GetConsoleOutput"), "{again:#?}");
}

#[test]
fn exec_pins_the_hosts_key_too() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let (name, task) = sb.fleet.tasks.iter().next().expect("a fleet task");
    let id = &sb.host(name).instance_id;
    berth
        .run(&["-v", "exec", task, "--via", "private", "--", "true"])
        .expect_code(0)
        .stderr_has(&format!("host key: pinned 1 key(s) of {id}"))
        .stderr_has(&format!("'HostKeyAlias={id}'"));
}
