//! Logging in with one-time keys pushed with EC2 Instance Connect, against
//! the sandbox's stand-in: SendSSHPublicKey keeps each key 60 seconds, and
//! sshd on the hosts whose AMIs ship ec2-instance-connect asks for them
//! through its AuthorizedKeysCommand, as on Amazon Linux.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

use crate::server_address;
use crate::support::{Berth, Sandbox, sandbox, set_mode};

/// The instance's sshd said so: `Accepted publickey for USER … TYPE SHA256:…`
/// for one of the keys pushed to it.
fn sshd_accepted_a_pushed_key(sb: &Sandbox, instance_id: &str, user: &str, kind: &str) -> bool {
    let log = std::fs::read_to_string(&sb.sshd_log).expect("sshd log");
    sb.pushed_keys(instance_id, user).iter().any(|key| {
        let line = format!("Accepted publickey for {user} from 127.0.0.1 port");
        let print = format!("ssh2: {kind} {}", fingerprint(key));
        log.lines()
            .any(|l| l.contains(&line) && l.ends_with(&print))
    })
}

/// OpenSSH's SHA256 fingerprint of a public key line.
fn fingerprint(public_key: &str) -> String {
    let blob = public_key
        .split_whitespace()
        .nth(1)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| panic!("not an OpenSSH public key: {public_key}"));
    let digest = sha2::Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// The one-time key directories berth left under `dir`.
fn key_dirs_left(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("ephemeral-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// ssh as the test itself runs it: the sandbox's client options, this key
/// file and no other.
fn ssh_with(sb: &Sandbox, key: &Path, destination: &str, command: &str) -> std::process::Output {
    Command::new(&sb.ssh)
        .arg("-i")
        .arg(key)
        .args(["-o", "IdentitiesOnly=yes", destination, command])
        .output()
        .expect("run ssh")
}

#[test]
fn a_host_without_a_key_pair_is_reached_with_a_one_time_key() {
    let sb = sandbox();
    let host = sb.host("prod-nokey");
    let ip = host.private_ip.as_deref().expect("ip");
    assert!(sb.instance_connect.hosts.iter().any(|h| h == "prod-nokey"));
    let berth = Berth::new(sb);

    // No key pair, no -i: the key choice falls to Instance Connect, and -v
    // says so.
    let run = berth.run(&[
        "ssh",
        "prod/prod-nokey",
        "--via",
        "private",
        "-v",
        "--",
        "echo $SSH_CONNECTION; id -un",
    ]);
    run.expect_code(0)
        .stderr_has("key: a one-time ED25519 key for ec2-user, pushed with EC2 Instance Connect")
        .stderr_has("was launched without a key pair")
        .stderr_has(&format!(
            "pushed a one-time ED25519 key for ec2-user to {}",
            host.instance_id
        ));
    assert_eq!(server_address(&run.stdout), ip, "{run:#?}");
    assert_eq!(run.stdout.lines().nth(1), Some("ec2-user"));
    assert!(sshd_accepted_a_pushed_key(
        sb,
        &host.instance_id,
        "ec2-user",
        "ED25519"
    ));
    for key in sb.pushed_keys(&host.instance_id, "ec2-user") {
        assert!(
            key.starts_with("ssh-ed25519 ") && key.ends_with(" berth-instance-connect"),
            "{key}"
        );
    }
    // Without XDG_RUNTIME_DIR the key went to the state directory, and left.
    let state = berth.home().join(".local/state/berth");
    assert!(state.is_dir());
    assert_eq!(key_dirs_left(&state), Vec::<PathBuf>::new());

    // Nothing else lets anyone in: the instance has no key pair.
    let sandbox_key = berth.home().join(format!(".ssh/{}.pem", sb.key_name));
    let out = ssh_with(sb, &sandbox_key, &format!("ec2-user@{ip}"), "true");
    assert_eq!(out.status.code(), Some(255), "{out:?}");
}

#[test]
fn the_key_file_is_gone_after_berth_and_the_key_after_60_seconds() {
    let sb = sandbox();
    let host = sb.host("prod-nokey");
    let ip = host.private_ip.as_deref().expect("ip");
    let mut berth = Berth::new(sb);
    let runtime = berth.home().join("run");
    std::fs::create_dir(&runtime).expect("mkdir");
    set_mode(&runtime, 0o700);
    berth.env("XDG_RUNTIME_DIR", Some(&runtime.display().to_string()));

    // An ssh that notes the -i file berth gives it and keeps a copy of the
    // key, then runs the sandbox's.
    let named = berth.home().join("key-path");
    let copy = berth.home().join("key-copy");
    let wrapper = berth.home().join("ssh-keeping-the-key");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             prev=\n\
             for a in \"$@\"; do\n\
             \x20 if [ \"$prev\" = -i ]; then printf '%s\\n' \"$a\" > {named}; cp \"$a\" {copy}; chmod 600 {copy}; fi\n\
             \x20 prev=$a\n\
             done\n\
             exec {ssh} \"$@\"\n",
            named = named.display(),
            copy = copy.display(),
            ssh = sb.ssh.display()
        ),
    )
    .expect("write wrapper");
    set_mode(&wrapper, 0o755);
    berth.env("BERTH_SSH", Some(&wrapper.display().to_string()));

    let run = berth.run(&[
        "ssh",
        "prod/prod-nokey",
        "--via",
        "private",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    // The key was pushed before berth ended: it expires before this + 60 s.
    let pushed_before = Instant::now();
    run.expect_code(0);
    assert_eq!(server_address(&run.stdout), ip);

    // The file ssh was given was a private key in a directory of its own
    // under $XDG_RUNTIME_DIR/berth, and both are gone.
    let path = PathBuf::from(
        std::fs::read_to_string(&named)
            .expect("ssh was given -i")
            .trim(),
    );
    let dir = path.parent().expect("its directory").to_owned();
    assert_eq!(
        dir.parent(),
        Some(runtime.join("berth").as_path()),
        "{path:?}"
    );
    assert!(!path.exists(), "{path:?} is still there");
    assert!(!dir.exists(), "{dir:?} is still there");
    assert_eq!(key_dirs_left(&runtime.join("berth")), Vec::<PathBuf>::new());
    let private = std::fs::read_to_string(&copy).expect("copy");
    assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));

    // The copy logs in while EC2 Instance Connect still serves the key…
    let destination = format!("ec2-user@{ip}");
    let out = ssh_with(sb, &copy, &destination, "echo accepted");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "accepted",
        "{out:?}"
    );
    // …and is refused once it expired.
    let lifetime = Duration::from_secs(sb.instance_connect.key_lifetime_seconds);
    assert_eq!(lifetime, Duration::from_secs(60));
    let expired = pushed_before + lifetime + Duration::from_secs(1);
    std::thread::sleep(expired.saturating_duration_since(Instant::now()));
    let out = ssh_with(sb, &copy, &destination, "echo accepted");
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
}

#[test]
fn ctrl_c_during_the_session_removes_the_key_too() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let runtime = berth.home().join("run");
    std::fs::create_dir(&runtime).expect("mkdir");
    set_mode(&runtime, 0o700);
    berth.env("XDG_RUNTIME_DIR", Some(&runtime.display().to_string()));
    let keys = runtime.join("berth");
    let mut child = berth
        .command(&[
            "ssh",
            "prod/prod-nokey",
            "--via",
            "private",
            "--",
            "sleep 60",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start berth");
    // The key is there while ssh runs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while key_dirs_left(&keys).is_empty() {
        assert!(Instant::now() < deadline, "no one-time key appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("berth ends");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("stderr");
    }
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(key_dirs_left(&keys), Vec::<PathBuf>::new(), "{stderr}");
}

#[test]
fn a_host_with_a_key_pair_takes_a_one_time_key_when_asked() {
    let sb = sandbox();
    let berth = Berth::new(sb);

    // --via instance-connect: the default route (private here: the prod
    // hosts have no public address), the key pair's file left aside.
    let al2023 = sb.host("prod-al2023");
    let run = berth.run(&[
        "ssh",
        "prod/prod-al2023",
        "--via",
        "instance-connect",
        "-v",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    run.expect_code(0)
        .stderr_has("pushed with EC2 Instance Connect (asked for)")
        .stderr_has("route: private IPv4");
    assert_eq!(
        server_address(&run.stdout),
        al2023.private_ip.as_deref().expect("ip")
    );
    assert!(!run.stderr.contains("berth-sandbox.pem"), "{run:#?}");
    assert!(sshd_accepted_a_pushed_key(
        sb,
        &al2023.instance_id,
        "ec2-user",
        "ED25519"
    ));

    // --ephemeral-key over --via private, an RSA key, Ubuntu's user.
    let ubuntu = sb.host("prod-ubuntu");
    let run = berth.run(&[
        "ssh",
        "prod/prod-ubuntu",
        "--via",
        "private",
        "--ephemeral-key",
        "--ephemeral-key-type",
        "rsa",
        "--",
        "echo $SSH_CONNECTION; id -un",
    ]);
    run.expect_code(0);
    assert_eq!(
        server_address(&run.stdout),
        ubuntu.private_ip.as_deref().expect("ip")
    );
    assert_eq!(run.stdout.lines().nth(1), Some("ubuntu"));
    assert!(sshd_accepted_a_pushed_key(
        sb,
        &ubuntu.instance_id,
        "ubuntu",
        "RSA"
    ));

    // -i and --via instance-connect both name the key: a usage error.
    let key = berth.home().join(format!(".ssh/{}.pem", sb.key_name));
    berth
        .run(&[
            "ssh",
            "prod/prod-al2023",
            "--via",
            "instance-connect",
            "-i",
            &key.display().to_string(),
        ])
        .expect_code(2)
        .stderr_has("both choose the key");
}

#[test]
fn dry_run_and_show_say_a_key_would_be_pushed_and_push_none() {
    let sb = sandbox();
    let host = sb.host("prod-draining");
    let berth = Berth::new(sb);
    let run = berth.run(&[
        "ssh",
        "prod/prod-draining",
        "--via",
        "private",
        "--ephemeral-key",
        "--dry-run",
    ]);
    run.expect_code(0).stdout_has(&format!(
        "-i '<one-time-key>' -o 'IdentitiesOnly=yes' -- ec2-user@{}  \
         # <one-time-key>: a one-time ED25519 key, pushed for ec2-user with EC2 Instance Connect first",
        host.private_ip.as_deref().expect("ip")
    ));
    let json = berth
        .run(&[
            "ssh",
            "prod/prod-draining",
            "--via",
            "instance-connect",
            "--dry-run",
            "--output",
            "json",
        ])
        .expect_code(0)
        .json();
    let push = &json["plan"]["instance_connect"];
    assert_eq!(push["instance_id"], host.instance_id.as_str());
    assert_eq!(push["os_user"], "ec2-user");
    assert_eq!(push["key_type"], "ed25519");
    assert_eq!(push["availability_zone"], "us-east-1a");
    berth
        .run(&["show", "prod/prod-nokey", "--via", "private"])
        .expect_code(0)
        .stdout_has("a one-time ED25519 key, pushed with EC2 Instance Connect for ec2-user");

    // Nothing was pushed, and no key was made.
    assert_eq!(
        sb.pushed_keys(&host.instance_id, "ec2-user"),
        Vec::<String>::new()
    );
    assert_eq!(
        key_dirs_left(&berth.home().join(".local/state/berth")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_stopped_instance_gets_no_key() {
    let sb = sandbox();
    let berth = Berth::new(sb);

    // Stopped when berth looks: the planner refuses before any push.
    let stopped = sb.host("broken-stopped");
    berth
        .run(&["ssh", "broken/broken-stopped", "--ephemeral-key"])
        .expect_code(4)
        .stderr_has(&format!("{} is stopped, not running", stopped.instance_id))
        .stderr_has(&format!(
            "aws ec2 start-instances --instance-ids {}",
            stopped.instance_id
        ));
    assert_eq!(
        sb.pushed_keys(&stopped.instance_id, "ec2-user"),
        Vec::<String>::new()
    );
}

#[test]
fn an_instance_that_stops_before_the_push_is_explained() {
    let sb = sandbox();
    let ami = sb.host("prod-al2023").ami.clone().expect("ami");
    let id = sb.launch_instance(&ami, "ic-stops-before-the-push");

    // The instance stops after berth looked, before it pushes: berth asks
    // the address-echo service (--detect-ip) in between, and this one
    // stops the instance before it answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let stopper = {
        let id = id.clone();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).expect("read");
            sandbox().stop_instance(&id);
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n127.0.0.1\n")
                .expect("answer");
        })
    };
    let mut berth = Berth::new(sb);
    berth.env("BERTH_ECHO_URL", Some(&url));
    // ssh must not run at all.
    let ran = berth.home().join("ssh-ran");
    let stub = berth.home().join("ssh-stub");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\ntouch {}\nexit 99\n", ran.display()),
    )
    .expect("write stub");
    set_mode(&stub, 0o755);
    berth.env("BERTH_SSH", Some(&stub.display().to_string()));

    let run = berth.run(&["ssh", &id, "--via", "private", "--detect-ip", "--", "true"]);
    stopper.join().expect("echo service");
    run.expect_code(4)
        .stderr_has(&format!(
            "EC2 Instance Connect cannot push a key to {id} in its current state"
        ))
        .stderr_has(&format!("aws ec2 start-instances --instance-ids {id}"));
    assert!(!ran.exists(), "ssh ran: {run:#?}");
    assert_eq!(
        key_dirs_left(&berth.home().join(".local/state/berth")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn the_stand_in_refuses_what_aws_documents_it_refuses() {
    let sb = sandbox();
    let nokey = sb.host("prod-nokey");
    let stopped = sb.host("broken-stopped");
    // A real key, made as an operator would.
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let push = |id: &str, user: &str, key: &str, az: Option<&str>| {
        sb.send_ssh_public_key(id, user, key, az)
    };

    assert_eq!(
        push(&nokey.instance_id, "ec2-user", &public, Some("us-east-1a")),
        Ok(())
    );
    let refused = [
        (
            push("i-0000000000000000", "ec2-user", &public, None),
            "EC2InstanceNotFoundException",
        ),
        (
            push(&nokey.instance_id, "ec2-user", &public, Some("us-east-1b")),
            "EC2InstanceNotFoundException",
        ),
        (
            push(&stopped.instance_id, "ec2-user", &public, None),
            "EC2InstanceStateInvalidException",
        ),
        (
            push(&nokey.instance_id, "root; true", &public, None),
            "InvalidArgsException",
        ),
        (
            push(
                &nokey.instance_id,
                "ec2-user",
                &format!("ecdsa-sha2-nistp256 {}", "A".repeat(140)),
                None,
            ),
            "InvalidArgsException",
        ),
        (
            push(
                &nokey.instance_id,
                "ec2-user",
                &public.replacen("ssh-ed25519", "ssh-rsa", 1),
                None,
            ),
            "InvalidArgsException",
        ),
    ];
    for (i, (result, code)) in refused.into_iter().enumerate() {
        assert_eq!(result, Err(code.to_owned()), "case {i}");
    }
}
