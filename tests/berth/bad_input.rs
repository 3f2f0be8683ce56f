//! Bad input, case by case: each must end with the right exit status and a
//! message that names the problem and the fix, and none may panic.
//! Targets, flags, key files, the config file, berth's own directories,
//! match counts and remote commands.

use std::path::Path;

use crate::support::cases::{Case, assert_case, case, check};
use crate::support::{Berth, Run, Sandbox, sandbox, set_mode};

fn id(sb: &Sandbox, name: &str) -> String {
    sb.host(name).instance_id.clone()
}

#[test]
fn targets_that_name_nothing_here_say_where_berth_looked() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let al2023 = sb.host("prod-al2023");
    let ci_id = al2023
        .container_instance_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .expect("container instance id")
        .to_owned();
    let other_region =
        format!("arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/{ci_id}");
    // An id of the other account's, unknown in this one.
    let other_account = "arn:aws:ecs:us-east-1:999999999999:container-instance/prod/\
                         5f1c2e7a-1111-4222-8333-944455556666";
    let fargate = sb.run_fargate_task("prod");
    let cases = vec![
        case(
            "an ARN of another region",
            &["ssh", &other_region],
            3,
            &[
                "no ECS cluster `prod` in eu-west-1",
                "check --region and --profile",
            ],
        ),
        case(
            "an ARN of another account",
            &["ssh", other_account],
            3,
            &[
                "the ARN is of account 999999999999, but your credentials are for account 123456789012",
                "use --profile",
            ],
        ),
        case(
            "a Fargate task has no host",
            &["ssh", &fargate],
            3,
            &[
                "runs on Fargate, where there is no host",
                "aws ecs execute-command",
            ],
        ),
        case(
            "an unknown cluster",
            &["ssh", "nosuch"],
            3,
            &[
                "there is no ECS cluster `nosuch` in us-east-1",
                "clusters that exist: prod",
            ],
        ),
        case(
            "an unknown instance",
            &["ssh", "i-0123456789abcdef0"],
            3,
            &[
                "no EC2 instance `i-0123456789abcdef0`",
                "check the id, and the region",
            ],
        ),
        case(
            "a stopped instance",
            &["ssh", &id(sb, "broken-stopped"), "--via", "private"],
            4,
            &[
                "is stopped, not running",
                "aws ec2 start-instances --instance-ids",
            ],
        ),
    ];
    assert_eq!(check(&berth, cases), 6);
}

#[test]
fn gone_and_moved_instances_say_so() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let al2023 = "ami-0a1b2c3d4e5f60001";
    // Terminated.
    let terminated = sb.launch_instance(al2023, "bad-input-terminated");
    sb.terminate_instance(&terminated);
    // Deregistered from its cluster, and registered to another.
    sb.create_cluster("bad-input-a");
    sb.create_cluster("bad-input-b");
    let deregistered = sb.launch_instance(al2023, "bad-input-deregistered");
    let arn = sb.register_container_instance("bad-input-a", &deregistered);
    sb.deregister_container_instance("bad-input-a", &arn);
    let elsewhere = sb.launch_instance(al2023, "bad-input-elsewhere");
    sb.register_container_instance("bad-input-b", &elsewhere);
    let cases = vec![
        case(
            "a terminated instance",
            &["ssh", &terminated, "--via", "private"],
            4,
            &["is terminated, not running", "never comes back"],
        ),
        case(
            "a deregistered container instance",
            &["ssh", &format!("bad-input-a/{deregistered}")],
            3,
            &[
                &format!("{deregistered} is not registered in cluster `bad-input-a`"),
                &format!("berth ssh {deregistered}"),
            ],
        ),
        case(
            "registered to another cluster",
            &["ssh", &format!("bad-input-a/{elsewhere}")],
            3,
            &[
                &format!("{elsewhere} is not registered in cluster `bad-input-a`"),
                &format!("berth ssh {elsewhere}"),
            ],
        ),
    ];
    assert_eq!(check(&berth, cases), 3);
}

#[test]
fn flags_in_conflict_are_usage_errors() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let target = format!("prod/{}", id(sb, "prod-al2023"));
    let t = target.as_str();
    let cases = vec![
        case(
            "--bastion with --via public",
            &["ssh", t, "--bastion", "bastion", "--via", "public"],
            2,
            &[
                "--bastion bastion goes through a bastion, but --via public",
                "drop one of them",
            ],
        ),
        case(
            "--open with --bastion",
            &["ssh", t, "--open", "--bastion", "bastion"],
            2,
            &["'--open' cannot be used with '--bastion <TARGET>'"],
        ),
        case(
            "--ephemeral-key with -i",
            &["ssh", t, "--ephemeral-key", "-i", "k.pem"],
            2,
            &["'--ephemeral-key' cannot be used with '-i <FILE>'"],
        ),
        case(
            "-i with --via instance-connect",
            &["ssh", t, "-i", "k.pem", "--via", "instance-connect"],
            2,
            &[
                "both choose the key",
                "drop -i to log in with a one-time key",
            ],
        ),
        case(
            "--status with an instance target",
            &["ssh", &id(sb, "prod-al2023"), "--status", "DRAINING"],
            2,
            &[
                "--status DRAINING needs a cluster target",
                "write the target as CLUSTER/",
            ],
        ),
        case(
            "--from that is no address",
            &["ssh", t, "--open", "--from", "my-laptop"],
            2,
            &["`my-laptop` is not an address or CIDR"],
        ),
        case(
            "--open to a whole network",
            &[
                "ssh",
                t,
                "--via",
                "private",
                "--open",
                "--from",
                "10.0.0.0/8",
            ],
            2,
            &["10.0.0.0/8 is a network", "--from 10.0.0.0/32"],
        ),
    ];
    assert_eq!(check(&berth, cases), 7);
}

/// Writes `content` to `name` in the test's home, mode 0600.
fn key_file(berth: &Berth, name: &str, content: &[u8]) -> String {
    let path = berth.home().join(name);
    std::fs::write(&path, content).expect("write key file");
    set_mode(&path, 0o600);
    path.display().to_string()
}

#[test]
fn key_files_that_are_not_keys_are_named_with_the_fix() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let target = format!("prod/{}", id(sb, "prod-al2023"));
    let key = std::fs::read(&sb.key_path).expect("sandbox key");
    let public = std::fs::read(sb.key_path.with_extension("pem.pub")).expect("public key");
    let missing = berth.home().join("nope.pem").display().to_string();
    let dir = berth.home().join(".ssh").display().to_string();
    let empty = key_file(&berth, "empty.pem", b"");
    let text = key_file(&berth, "notes.pem", b"remember the milk\n");
    let pub_file = key_file(&berth, "id.pub", &public);
    let putty = key_file(
        &berth,
        "key.ppk",
        b"PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: k\n",
    );
    let cert = key_file(
        &berth,
        "cert.pem",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    let open = key_file(&berth, "open.pem", &key);
    set_mode(Path::new(&open), 0o644);
    let ssh = |file: &str| -> Vec<String> {
        ["ssh", &target, "--via", "private", "-i", file, "--", "true"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    };
    let case_for = |name: &str, file: &str, code: i32, says: &[&str]| Case {
        name: Box::leak(name.to_owned().into_boxed_str()),
        args: ssh(file),
        code,
        says: says.iter().map(|s| (*s).to_owned()).collect(),
    };
    let cases = vec![
        case_for(
            "missing",
            &missing,
            2,
            &["does not exist", "check the path given to -i"],
        ),
        case_for("a directory", &dir, 2, &["is a directory", "KEYNAME.pem"]),
        case_for(
            "empty",
            &empty,
            2,
            &["is empty, not a private key", "EC2 gave you"],
        ),
        case_for(
            "not a key",
            &text,
            2,
            &["is not a key file, not a private key", "EC2 gave you"],
        ),
        case_for(
            "a public key",
            &pub_file,
            2,
            &["is a public key", "give -i the private half"],
        ),
        case_for("a PuTTY key", &putty, 2, &["PuTTY key (.ppk)", "puttygen"]),
        case_for(
            "a certificate",
            &cert,
            2,
            &["an X.509 certificate", "EC2 gave you"],
        ),
        case_for(
            "readable by others",
            &open,
            4,
            &["is readable by others", "chmod 600"],
        ),
    ];
    assert_eq!(check(&berth, cases), 8);
}

#[test]
fn a_key_with_a_passphrase_and_no_terminal_needs_the_agent() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let target = format!("prod/{}", id(sb, "prod-al2023"));
    let path = berth.home().join("locked.pem");
    std::fs::copy(&sb.key_path, &path).expect("copy");
    set_mode(&path, 0o600);
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", "sesame", "-P", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let file = path.display().to_string();
    let cases = vec![case(
        "a passphrase without a terminal",
        &[
            "ssh", &target, "--via", "private", "-i", &file, "--", "true",
        ],
        4,
        &[
            "is protected by a passphrase, and there is no terminal",
            "ssh-add",
        ],
    )];
    assert_eq!(check(&berth, cases), 1);
}

#[test]
fn an_unreadable_key_file_is_named() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // Root reads any file: berth runs as `nobody` here, the key is root's.
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("root-only.pem");
    std::fs::copy(&sb.key_path, &key).expect("copy");
    set_mode(&key, 0o600);
    set_mode(dir.path(), 0o755);
    let target = format!("prod/{}", id(sb, "prod-al2023"));
    let key_arg = key.display().to_string();
    let berth_args = [
        env!("CARGO_BIN_EXE_berth"),
        "ssh",
        &target,
        "--via",
        "private",
        "-i",
        &key_arg,
        "--",
        "true",
    ];
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(berth_args)
        .env_clear()
        .envs(berth.envs())
        .env("BERTH_CONFIG", "/dev/null")
        .env("XDG_STATE_HOME", "/nonexistent")
        .output()
        .expect("setpriv (util-linux)");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_case(
        &case(
            "unreadable",
            &[],
            2,
            &[
                "cannot read identity file",
                "Permission denied",
                "chmod 600",
            ],
        ),
        &run,
    );
}

#[test]
fn a_bad_config_file_is_named_with_its_keys() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let config = berth.home().join("config.toml");
    berth.env("BERTH_CONFIG", Some(&config.display().to_string()));
    let mut count = 0;
    for (name, content, says) in [
        (
            "a wrong type",
            &b"via = 3\n"[..],
            vec![
                "is not valid",
                "invalid type: integer `3`, expected a string",
                "its keys: key_dirs",
            ],
        ),
        (
            "a wrong value",
            b"via = \"teleport\"\n",
            vec![
                "is not valid",
                "`teleport` is not a route",
                "via (auto, public",
            ],
        ),
        (
            "an unknown key",
            b"usr = \"ops\"\n",
            vec!["unknown field `usr`", "its keys: key_dirs"],
        ),
        (
            "a list expected",
            b"key_dirs = \"~/keys\"\n",
            vec!["expected a sequence", "key_dirs (a list of directories)"],
        ),
        (
            "not UTF-8",
            b"user = \"\xff\xfe\"\n",
            vec![
                "cannot read config file",
                "stream did not contain valid UTF-8",
            ],
        ),
    ] {
        std::fs::write(&config, content).expect("write config");
        let run = berth.run(&["ls"]);
        let says: Vec<&str> = says.into_iter().chain(["fix or move"]).collect();
        assert_case(&case(name, &[], 2, &says), &run);
        count += 1;
    }
    std::fs::remove_file(&config).expect("rm");
    std::fs::create_dir(&config).expect("mkdir");
    assert_case(
        &case("a directory", &[], 2, &["Is a directory", "fix or move"]),
        &berth.run(&["ls"]),
    );
    assert_eq!(count + 1, 6);
}

#[test]
fn unwritable_state_and_cache_directories() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    // A file where the directory should be: not writable even by root.
    let blocker = berth.home().join("not-a-dir");
    std::fs::write(&blocker, "").expect("write");
    let blocker = blocker.display().to_string();
    let al2023 = id(sb, "prod-al2023");
    let nokey = id(sb, "prod-nokey");

    // The AMI cache is only an optimisation: berth works without it.
    berth.env("XDG_CACHE_HOME", Some(&blocker));
    berth
        .run(&["ssh", &al2023, "--via", "private", "--", "true"])
        .expect_code(0);

    berth.env("XDG_CACHE_HOME", None);
    berth.env("XDG_STATE_HOME", Some(&blocker));
    let cases = vec![
        case(
            "the journal of --open",
            &[
                "ssh",
                &al2023,
                "--via",
                "private",
                "--open",
                "--from",
                "127.0.0.1",
                "--",
                "true",
            ],
            4,
            &[
                "cannot use the journal of temporary rules",
                "point XDG_STATE_HOME elsewhere",
            ],
        ),
        case(
            "a one-time key",
            &["ssh", &nokey, "--via", "private", "--", "true"],
            4,
            &["cannot write the one-time SSH key", "XDG_RUNTIME_DIR"],
        ),
        // Host keys cannot be pinned: said, and OpenSSH decides.
        case(
            "pinned host keys",
            &["ssh", &al2023, "--via", "private", "--", "true"],
            0,
            &[
                "cannot use berth's known_hosts file",
                "OpenSSH checks the host key",
            ],
        ),
    ];
    assert_eq!(check(&berth, cases), 3);
}

#[test]
fn zero_one_and_ten_thousand_matches() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let cases = vec![
        case(
            "zero: an empty cluster",
            &["ssh", "empty"],
            3,
            &["nothing matches cluster empty", "berth ls empty"],
        ),
        case(
            "zero: no such Name",
            &["ssh", "prod/no-such-name"],
            3,
            &[
                "nothing matches Name tag no-such-name in cluster prod",
                "berth ls prod",
            ],
        ),
        case(
            "zero after filters",
            &["ssh", "prod", "--tag", "role=nothing"],
            3,
            &["nothing matches cluster prod", "loosen the filters"],
        ),
        case(
            "one",
            &["ssh", "prod/prod-ubuntu", "--via", "private", "--dry-run"],
            0,
            &[],
        ),
    ];
    assert_eq!(check(&berth, cases), 4);

    let huge = sb
        .huge
        .as_ref()
        .expect("the sandbox builds cluster huge (--huge-instances)");
    huge.wait_ready();
    // The stand-in takes seconds per 1000 instances described: more than
    // the default 20 s per attempt on a busy machine.
    let run = berth.run(&[
        "--aws-timeout",
        "5m",
        "--region",
        &huge.region,
        "ssh",
        &huge.cluster,
    ]);
    assert_case(
        &case(
            "ten thousand",
            &[],
            3,
            &[
                &format!("cluster {} matches {} hosts", huge.cluster, huge.instances),
                &format!("… and {} more", huge.instances - 20),
                "take the first with --first",
            ],
        ),
        &run,
    );
    let listed = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("    huge/i-"))
        .count();
    assert_eq!(listed, 20, "{run:#?}");
}

#[test]
fn remote_commands_pass_through_unmangled() {
    use std::os::unix::ffi::OsStrExt;
    let sb = sandbox();
    let berth = Berth::new(sb);
    let target = format!("prod/{}", id(sb, "prod-al2023"));
    let run = |command: &std::ffi::OsStr| {
        let output = berth
            .command(&["ssh", &target, "--via", "private", "--"])
            .arg(command)
            .output()
            .expect("run berth");
        (
            output.status.code(),
            output.stdout,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // Quotes and a command substitution, for the remote shell to expand.
    let (code, stdout, stderr) = run(std::ffi::OsStr::new(
        r#"printf '[%s]' "a  b" 'c"d' "$(echo sub)" '$(not run)'"#,
    ));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, br#"[a  b][c"d][sub][$(not run)]"#);
    // Newlines: two commands.
    let (code, stdout, stderr) = run(std::ffi::OsStr::new("echo one\necho two"));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, b"one\ntwo\n");
    // Bytes that are not UTF-8 reach the remote shell as they are.
    let (code, stdout, stderr) = run(std::ffi::OsStr::from_bytes(
        b"printf '%s' '\xff\xfe\x80' | od -An -tx1",
    ));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ff", "fe", "80"]
    );
}
