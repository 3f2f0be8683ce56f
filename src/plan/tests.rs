//! The planner as tables of (facts, request, key) → argv or refusal.

use std::path::PathBuf;

use super::*;
use crate::model::hint::Hint as _;
use crate::model::host::{Instance, example_host};
use crate::secrets::ephemeral::KeyType;
use crate::secrets::keys::KeySource;

type Case = (&'static str, Host, SshRequest, KeyLookup, Vec<String>);

/// A running instance outside any cluster, with public and private
/// addresses, of the given OS family.
fn host(os: OsFamily) -> Host {
    Host {
        os,
        container_instance: None,
        ..example_host()
    }
}

/// `host(os)` with its EC2 facts changed by `change`.
fn host_with(os: OsFamily, change: impl FnOnce(&mut Instance)) -> Host {
    let mut host = host(os);
    change(&mut host.ec2);
    host
}

fn request() -> SshRequest {
    SshRequest {
        user: None,
        config_user: None,
        port: None,
        via: Via::Auto,
        passthrough: vec![],
        remote_command: vec![],
        program: "ssh".into(),
        one_time_key: OneTimeKey::Auto,
        one_time_key_type: KeyType::Ed25519,
    }
}

fn key(path: &str, mode: u32) -> KeyLookup {
    KeyLookup {
        found: Some(KeyFile {
            path: PathBuf::from(path),
            source: KeySource::SshDir,
            mode: Some(mode),
        }),
        searched: vec![PathBuf::from(path)],
    }
}

fn no_key() -> KeyLookup {
    KeyLookup {
        found: None,
        searched: vec![PathBuf::from("/home/op/.ssh/prod.pem")],
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[test]
#[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
fn argv_for_each_ami_family_and_option() {
    let k = || key("/home/op/.ssh/prod.pem", 0o600);
    let base = "ssh -i /home/op/.ssh/prod.pem -o IdentitiesOnly=yes";
    let dns = "ec2-3-4-5-6.compute-1.amazonaws.com";
    let cases: Vec<Case> = vec![
        (
            "amazon linux over public DNS",
            host(OsFamily::AmazonLinux),
            request(),
            k(),
            words(&format!("{base} -- ec2-user@{dns}")),
        ),
        (
            "ubuntu",
            host(OsFamily::Ubuntu),
            request(),
            k(),
            words(&format!("{base} -- ubuntu@{dns}")),
        ),
        (
            "flatcar",
            host(OsFamily::Flatcar),
            request(),
            k(),
            words(&format!("{base} -- core@{dns}")),
        ),
        (
            "no public DNS: public IP",
            host_with(OsFamily::Debian, |h| h.public_dns = None),
            request(),
            k(),
            words(&format!("{base} -- admin@3.4.5.6")),
        ),
        (
            "--via private",
            host(OsFamily::AmazonLinux),
            SshRequest {
                via: Via::Private,
                ..request()
            },
            k(),
            words(&format!("{base} -- ec2-user@10.0.1.7")),
        ),
        (
            "--user beats the tag, which beats config, which beats the AMI",
            host_with(OsFamily::Ubuntu, |h| {
                h.tags.insert(USER_TAG.to_owned(), "tagged".to_owned());
            }),
            SshRequest {
                user: Some("flag".into()),
                config_user: Some("configured".into()),
                ..request()
            },
            k(),
            words(&format!("{base} -- flag@{dns}")),
        ),
        (
            "tag beats config",
            host_with(OsFamily::Ubuntu, |h| {
                h.tags.insert(USER_TAG.to_owned(), "tagged".to_owned());
            }),
            SshRequest {
                config_user: Some("configured".into()),
                ..request()
            },
            k(),
            words(&format!("{base} -- tagged@{dns}")),
        ),
        (
            "config beats the AMI",
            host(OsFamily::Ubuntu),
            SshRequest {
                config_user: Some("configured".into()),
                ..request()
            },
            k(),
            words(&format!("{base} -- configured@{dns}")),
        ),
        (
            "port and pass-through options before berth's, remote command last",
            host(OsFamily::AmazonLinux),
            SshRequest {
                port: Some(2222),
                passthrough: words("-o ServerAliveInterval=30 -L 8080:localhost:80 -A"),
                remote_command: vec!["sudo systemctl restart ecs".into()],
                program: "/opt/ssh".into(),
                ..request()
            },
            k(),
            [
                words(&format!(
                    "/opt/ssh -p 2222 -o ServerAliveInterval=30 -L 8080:localhost:80 -A \
                     -i /home/op/.ssh/prod.pem -o IdentitiesOnly=yes -- ec2-user@{dns}"
                )),
                vec!["sudo systemctl restart ecs".to_owned()],
            ]
            .concat(),
        ),
        (
            "key pair without a local file, an AMI without ec2-instance-connect: \
             no -i, ssh-agent decides",
            host(OsFamily::Debian),
            request(),
            no_key(),
            words(&format!("ssh -- admin@{dns}")),
        ),
        (
            "-i given for an instance without a key pair",
            host_with(OsFamily::AmazonLinux, |h| h.key_name = None),
            request(),
            key("/tmp/mine", 0o400),
            words(&format!(
                "ssh -i /tmp/mine -o IdentitiesOnly=yes -- ec2-user@{dns}"
            )),
        ),
        (
            "an empty --user or config user does not count",
            host(OsFamily::Ubuntu),
            SshRequest {
                user: Some(String::new()),
                config_user: Some(String::new()),
                ..request()
            },
            k(),
            words(&format!("{base} -- ubuntu@{dns}")),
        ),
        (
            "the operator's -o comes before berth's, so it wins",
            host(OsFamily::AmazonLinux),
            SshRequest {
                passthrough: words("-o IdentitiesOnly=no"),
                ..request()
            },
            k(),
            words(&format!(
                "ssh -o IdentitiesOnly=no {} -- ec2-user@{dns}",
                &base[4..]
            )),
        ),
        (
            "unknown AMI guesses ec2-user",
            host(OsFamily::Unknown),
            request(),
            k(),
            words(&format!("{base} -- ec2-user@{dns}")),
        ),
    ];
    for (name, host, request, key, expected) in cases {
        let plan = plan_ssh(&host, &request, &key).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.argv, expected, "{name}");
    }
}

#[test]
#[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
fn refusals_name_the_prerequisite() {
    let k = || key("/home/op/.ssh/prod.pem", 0o600);
    let id = "i-0123456789abcdef0".to_owned();
    let cases: Vec<(&str, Host, SshRequest, KeyLookup, PlanError)> = vec![
        (
            "windows",
            host(OsFamily::Windows),
            request(),
            k(),
            PlanError::Windows {
                instance_id: id.clone(),
            },
        ),
        (
            "bottlerocket",
            host(OsFamily::Bottlerocket),
            request(),
            k(),
            PlanError::NoShell {
                instance_id: id.clone(),
                os: "Bottlerocket",
            },
        ),
        (
            "stopped",
            host_with(OsFamily::AmazonLinux, |h| h.state = "stopped".into()),
            request(),
            k(),
            PlanError::NotRunning {
                instance_id: id.clone(),
                state: "stopped".into(),
            },
        ),
        (
            "no key pair and no -i, an AMI without ec2-instance-connect",
            host_with(OsFamily::Flatcar, |h| h.key_name = None),
            request(),
            KeyLookup::default(),
            PlanError::NoKeyPair {
                instance_id: id.clone(),
            },
        ),
        (
            "no key pair, and one-time keys ruled out (a jump host)",
            host_with(OsFamily::AmazonLinux, |h| h.key_name = None),
            SshRequest {
                one_time_key: OneTimeKey::Never,
                ..request()
            },
            KeyLookup::default(),
            PlanError::NoKeyPair {
                instance_id: id.clone(),
            },
        ),
        (
            "instance-connect with no address at all",
            host_with(OsFamily::AmazonLinux, |h| {
                h.public_dns = None;
                h.public_ip = None;
                h.private_ip = None;
            }),
            SshRequest {
                via: Via::InstanceConnect,
                ..request()
            },
            k(),
            PlanError::NoRoute {
                instance_id: id.clone(),
                wanted: "public or private",
                available: vec![],
            },
        ),
        (
            "key readable by others",
            host(OsFamily::AmazonLinux),
            request(),
            key("/home/op/.ssh/prod.pem", 0o644),
            PlanError::KeyTooOpen {
                path: "/home/op/.ssh/prod.pem".into(),
                mode: 0o644,
            },
        ),
        (
            "private-only host with auto",
            host_with(OsFamily::AmazonLinux, |h| {
                h.public_dns = None;
                h.public_ip = None;
            }),
            request(),
            k(),
            PlanError::NoRoute {
                instance_id: id.clone(),
                wanted: "public",
                available: vec![
                    "private IP 10.0.1.7 (--via private, from inside the VPC, over a VPN or a peered network)"
                        .into(),
                    "private IP 10.0.1.7 through an EC2 Instance Connect Endpoint in its VPC (--via eice)"
                        .into(),
                ],
            },
        ),
        (
            "public-only host with --via private",
            host_with(OsFamily::AmazonLinux, |h| h.private_ip = None),
            SshRequest {
                via: Via::Private,
                ..request()
            },
            k(),
            PlanError::NoRoute {
                instance_id: id.clone(),
                wanted: "private",
                available: vec![
                    "public DNS ec2-3-4-5-6.compute-1.amazonaws.com (--via public)".into(),
                ],
            },
        ),
    ];
    for (name, host, request, key, expected) in cases {
        assert_eq!(plan_ssh(&host, &request, &key), Err(expected), "{name}");
    }
}

#[test]
fn hints_carry_the_real_ids() {
    let id = "i-0123456789abcdef0".to_owned();
    assert_eq!(
        PlanError::Windows {
            instance_id: id.clone()
        }
        .hint()
        .unwrap_or_default(),
        "connect over RDP instead: `berth rdp i-0123456789abcdef0`"
    );
    assert_eq!(
        PlanError::KeyTooOpen {
            path: "/k.pem".into(),
            mode: 0o644
        }
        .hint()
        .unwrap_or_default(),
        "run `chmod 600 /k.pem`"
    );
    let no_key_pair = PlanError::NoKeyPair { instance_id: id }
        .hint()
        .unwrap_or_default();
    assert!(
        no_key_pair.contains("berth ssh i-0123456789abcdef0 --via instance-connect")
            && no_key_pair.contains("aws ssm start-session --target i-0123456789abcdef0"),
        "{no_key_pair}"
    );
}

#[test]
fn not_running_hints_follow_the_state() {
    for (state, needle) in [
        (
            "stopped",
            "aws ec2 start-instances --instance-ids i-0123456789abcdef0",
        ),
        (
            Instance::EXTERNAL,
            "aws ssm start-session --target i-0123456789abcdef0",
        ),
        (Instance::NOT_FOUND, "no longer knows this instance"),
        ("pending", "wait until it is running"),
    ] {
        let host = host_with(OsFamily::AmazonLinux, |h| h.state = state.into());
        let err = plan_ssh(&host, &request(), &key("/k", 0o600)).expect_err(state);
        assert!(
            err.hint().unwrap_or_default().contains(needle),
            "{state}: {}",
            err.hint().unwrap_or_default()
        );
    }
}

#[test]
fn missing_key_file_is_a_note_not_an_error() {
    // (Where the AMI ships ec2-instance-connect, a one-time key stands in.)
    let plan = plan_ssh(&host(OsFamily::Debian), &request(), &no_key()).expect("plan");
    assert!(plan.key.is_none() && plan.instance_connect.is_none());
    assert!(
        plan.warnings
            .iter()
            .any(|n| n.contains("no file found for key pair `prod`")
                && n.contains("/home/op/.ssh/prod.pem")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn berth_proxy_as_a_proxy_command_keeps_ssh_s_port_token() {
    let argv: Vec<String> = [
        "/opt/berth 100%/berth",
        "--region",
        "us-east-1",
        "proxy",
        "--via",
        "eice",
        "i-0123456789abcdef0",
        PORT_TOKEN,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(
        proxy_command(&argv),
        "'/opt/berth 100%%/berth' --region us-east-1 proxy --via eice i-0123456789abcdef0 '%p'"
    );
}

#[test]
fn a_proxy_command_quotes_words_and_keeps_only_its_own_percent_token() {
    let argv: Vec<String> = [
        "ssh",
        "-W",
        JUMP_FORWARD,
        "-i",
        "/home/op/keys 100%/bastion.pem",
        "--",
        "ec2-user@10.0.0.5",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(
        proxy_command(&argv),
        "ssh -W '%h:%p' -i '/home/op/keys 100%%/bastion.pem' -- ec2-user@10.0.0.5"
    );
}

/// A row of the one-time key table: the argv, and for whom and why the key
/// is pushed (`None`: no push).
type OneTimeCase = (
    &'static str,
    Host,
    SshRequest,
    KeyLookup,
    Vec<String>,
    Option<(&'static str, &'static str)>,
);

#[test]
#[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
fn one_time_keys_when_asked_for_or_when_no_key_is_found() {
    let dns = "ec2-3-4-5-6.compute-1.amazonaws.com";
    let one_time = "ssh -i <one-time-key> -o IdentitiesOnly=yes";
    let flag_key = || KeyLookup {
        found: Some(KeyFile {
            path: PathBuf::from("/tmp/mine"),
            source: KeySource::Flag,
            mode: Some(0o600),
        }),
        searched: vec![PathBuf::from("/tmp/mine")],
    };
    let private_only = |os| {
        host_with(os, |h| {
            h.public_dns = None;
            h.public_ip = None;
        })
    };
    let cases: Vec<OneTimeCase> = vec![
        (
            "amazon linux without a key pair",
            host_with(OsFamily::AmazonLinux, |h| h.key_name = None),
            request(),
            KeyLookup::default(),
            words(&format!("{one_time} -- ec2-user@{dns}")),
            Some(("ec2-user", "launched without a key pair")),
        ),
        (
            "ubuntu whose key pair's file is not here",
            host(OsFamily::Ubuntu),
            request(),
            no_key(),
            words(&format!("{one_time} -- ubuntu@{dns}")),
            Some((
                "ubuntu",
                "no private key found for key pair `prod` (looked in /home/op/.ssh/prod.pem)",
            )),
        ),
        (
            "the key pair's file is found: no push",
            host(OsFamily::AmazonLinux),
            request(),
            key("/home/op/.ssh/prod.pem", 0o600),
            words(&format!(
                "ssh -i /home/op/.ssh/prod.pem -o IdentitiesOnly=yes -- ec2-user@{dns}"
            )),
            None,
        ),
        (
            "--via instance-connect: public address, whatever key is found",
            host(OsFamily::AmazonLinux),
            SshRequest {
                via: Via::InstanceConnect,
                ..request()
            },
            key("/home/op/.ssh/prod.pem", 0o600),
            words(&format!("{one_time} -- ec2-user@{dns}")),
            Some(("ec2-user", "asked for")),
        ),
        (
            "--via instance-connect: else the private address",
            private_only(OsFamily::AmazonLinux),
            SshRequest {
                via: Via::InstanceConnect,
                ..request()
            },
            key("/home/op/.ssh/prod.pem", 0o600),
            words(&format!("{one_time} -- ec2-user@10.0.1.7")),
            Some(("ec2-user", "asked for")),
        ),
        (
            "--ephemeral-key over --via private, for the --user given",
            host(OsFamily::AmazonLinux),
            SshRequest {
                via: Via::Private,
                user: Some("deploy".into()),
                one_time_key: OneTimeKey::Always,
                ..request()
            },
            key("/home/op/.ssh/prod.pem", 0o600),
            words(&format!("{one_time} -- deploy@10.0.1.7")),
            Some(("deploy", "asked for")),
        ),
        (
            "-i wins over --via instance-connect from the config",
            host(OsFamily::AmazonLinux),
            SshRequest {
                via: Via::InstanceConnect,
                ..request()
            },
            flag_key(),
            words(&format!(
                "ssh -i /tmp/mine -o IdentitiesOnly=yes -- ec2-user@{dns}"
            )),
            None,
        ),
        (
            "no local file and one-time keys ruled out: ssh-agent decides",
            host(OsFamily::AmazonLinux),
            SshRequest {
                one_time_key: OneTimeKey::Never,
                ..request()
            },
            no_key(),
            words(&format!("ssh -- ec2-user@{dns}")),
            None,
        ),
        (
            "asked for on an AMI without the package: pushed, with a warning",
            host(OsFamily::Flatcar),
            SshRequest {
                one_time_key: OneTimeKey::Always,
                ..request()
            },
            key("/home/op/.ssh/prod.pem", 0o600),
            words(&format!("{one_time} -- core@{dns}")),
            Some(("core", "asked for")),
        ),
    ];
    for (name, host, request, key, argv, push) in cases {
        let plan = plan_ssh(&host, &request, &key).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.argv, argv, "{name}");
        match (push, &plan.instance_connect) {
            (None, None) => {}
            (Some((user, reason)), Some(planned)) => {
                assert_eq!(planned.instance_id, "i-0123456789abcdef0", "{name}");
                assert_eq!(planned.os_user, user, "{name}");
                assert_eq!(
                    planned.availability_zone.as_deref(),
                    Some("us-east-1a"),
                    "{name}"
                );
                assert_eq!(planned.key_type, KeyType::Ed25519, "{name}");
                assert!(
                    planned.reason.contains(reason),
                    "{name}: {:?}",
                    planned.reason
                );
                assert!(plan.key.is_none(), "{name}");
                assert!(
                    plan.notes
                        .iter()
                        .any(|n| n.contains("pushed with EC2 Instance Connect")),
                    "{name}: {:?}",
                    plan.notes
                );
            }
            (expected, planned) => panic!("{name}: expected {expected:?}, planned {planned:?}"),
        }
    }
}

#[test]
fn a_one_time_key_on_an_ami_without_the_package_is_warned_about() {
    let plan = plan_ssh(
        &host(OsFamily::Flatcar),
        &SshRequest {
            via: Via::InstanceConnect,
            ..request()
        },
        &no_key(),
    )
    .expect("plan");
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("Flatcar AMIs do not ship ec2-instance-connect")),
        "{:?}",
        plan.warnings
    );
    let shipped = plan_ssh(
        &host(OsFamily::AmazonLinux),
        &SshRequest {
            via: Via::InstanceConnect,
            ..request()
        },
        &no_key(),
    )
    .expect("plan");
    assert!(shipped.warnings.is_empty(), "{:?}", shipped.warnings);
}

#[test]
fn the_key_file_takes_the_placeholders_place_and_nothing_else_moves() {
    let asked = SshRequest {
        port: Some(2222),
        passthrough: words("-o ServerAliveInterval=30 -L 8080:localhost:80"),
        remote_command: vec!["echo <one-time-key>".into()],
        one_time_key: OneTimeKey::Always,
        one_time_key_type: KeyType::Rsa,
        ..request()
    };
    let plan = plan_ssh(&host(OsFamily::AmazonLinux), &asked, &no_key()).expect("plan");
    assert_eq!(
        plan.instance_connect.as_ref().map(|p| p.key_type),
        Some(KeyType::Rsa)
    );
    assert!(
        plan.notes.iter().any(|n| n.contains("one-time RSA key")),
        "{:?}",
        plan.notes
    );
    let file = PathBuf::from("/run/user/0/berth/ephemeral-1-ab/id_rsa");
    let mut expected = words(
        "ssh -p 2222 -o ServerAliveInterval=30 -L 8080:localhost:80 \
         -i /run/user/0/berth/ephemeral-1-ab/id_rsa -o IdentitiesOnly=yes \
         -- ec2-user@ec2-3-4-5-6.compute-1.amazonaws.com",
    );
    // The remote command mentions the placeholder: it stays as it is.
    expected.push("echo <one-time-key>".to_owned());
    assert_eq!(plan.argv_with_key(&file), expected);

    // A plan without a one-time key runs as planned.
    let with_file = plan_ssh(
        &host(OsFamily::AmazonLinux),
        &request(),
        &key("/home/op/.ssh/prod.pem", 0o600),
    )
    .expect("plan");
    assert_eq!(with_file.argv_with_key(&file), with_file.argv);
}
