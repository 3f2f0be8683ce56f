//! Plans from AWS's facts, as `--dry-run` prints them: the user from the
//! AMI, the key from the key pair, the address from the route.

use crate::support::cases::{case, check};
use crate::support::fake_aws::{Answer, FakeInstance, describe_images, describe_instances};
use crate::support::set_mode;
use crate::{NO_CLIENT, with_aws};

const AL2023: &str = "ami-0a1b2c3d4e5f60001";
const UBUNTU: &str = "ami-0a1b2c3d4e5f60002";

fn instance(id: &'static str, image: &'static str, name: &'static str) -> FakeInstance {
    FakeInstance {
        id,
        image,
        state: "running",
        private_ip: "10.0.0.5",
        public_ip: Some("203.0.113.5"),
        public_dns: Some("ec2-203-0-113-5.compute-1.amazonaws.com"),
        key_name: Some("prod-key"),
        platform: None,
        name,
    }
}

fn replies(instances: &[FakeInstance]) -> Vec<(&'static str, Answer)> {
    vec![
        ("DescribeInstances", describe_instances(instances)),
        (
            "DescribeImages",
            describe_images(&[
                (
                    AL2023,
                    "al2023-ami-ecs-hvm-2023.0.20251108-kernel-6.1-x86_64",
                    "Linux/UNIX",
                ),
                (
                    UBUNTU,
                    "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251101",
                    "Linux/UNIX",
                ),
            ])
            .into(),
        ),
    ]
}

/// berth against a fake EC2 that knows `instances`, with the key pair's
/// file in `~/.ssh`.
fn berth_knowing(
    instances: &[FakeInstance],
) -> (crate::support::Berth, crate::support::fake_aws::FakeAws) {
    berth_knowing_with(instances, Vec::new())
}

/// [`berth_knowing`], with more replies (`extra`).
fn berth_knowing_with(
    instances: &[FakeInstance],
    extra: Vec<(&'static str, Answer)>,
) -> (crate::support::Berth, crate::support::fake_aws::FakeAws) {
    let (berth, aws) = with_aws([replies(instances), extra].concat());
    let key = berth.home().join(".ssh/prod-key.pem");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/secrets/testdata/rsa-pkcs1.pem"
        ),
        &key,
    )
    .expect("key");
    set_mode(&key, 0o600);
    (berth, aws)
}

#[test]
fn a_dry_run_prints_the_ssh_the_facts_make() {
    let al2023 = instance("i-0123456789abcdef0", AL2023, "web-1");
    let ubuntu = instance("i-0123456789abcdef1", UBUNTU, "web-2");
    let private = FakeInstance {
        public_ip: None,
        public_dns: None,
        ..instance("i-0123456789abcdef2", AL2023, "inner")
    };
    let (berth, aws) = berth_knowing(&[al2023, ubuntu, private]);
    let key = berth.home().join(".ssh/prod-key.pem").display().to_string();
    let public = "ec2-203-0-113-5.compute-1.amazonaws.com";
    // (arguments after `ssh`, the command line printed)
    let table: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["i-0123456789abcdef0"],
            format!("{NO_CLIENT} -i {key} -o 'IdentitiesOnly=yes' -- ec2-user@{public}"),
        ),
        (
            vec!["i-0123456789abcdef1"],
            format!("{NO_CLIENT} -i {key} -o 'IdentitiesOnly=yes' -- ubuntu@{public}"),
        ),
        (
            vec!["i-0123456789abcdef0", "--via", "private"],
            format!("{NO_CLIENT} -i {key} -o 'IdentitiesOnly=yes' -- ec2-user@10.0.0.5"),
        ),
        (
            vec!["i-0123456789abcdef0", "-l", "ops", "-p", "2222"],
            format!("{NO_CLIENT} -p 2222 -i {key} -o 'IdentitiesOnly=yes' -- ops@{public}"),
        ),
        (
            vec![
                "i-0123456789abcdef0",
                "-o",
                "ServerAliveInterval=5",
                "--",
                "uptime",
            ],
            format!(
                "{NO_CLIENT} -o 'ServerAliveInterval=5' -i {key} -o 'IdentitiesOnly=yes' -- \
                 ec2-user@{public} uptime"
            ),
        ),
    ];
    for (args, expected) in table {
        // `--dry-run` before any `--`, after which words are the command.
        let mut argv = vec!["ssh", "--dry-run"];
        argv.extend(&args);
        let run = berth.run(&argv);
        run.expect_code(0);
        assert_eq!(run.stdout.trim_end(), expected, "{args:?}: {run:#?}");
    }
    // A cold connect to one instance id asks EC2 only: never a cluster
    // listing.
    let calls = aws.calls();
    assert!(
        calls
            .iter()
            .all(|c| c == "DescribeInstances" || c == "DescribeImages"),
        "{calls:?}"
    );
}

#[test]
fn plans_that_cannot_be_made_say_why_and_what_to_do() {
    let windows = FakeInstance {
        platform: Some("windows"),
        ..instance("i-0123456789abcdef3", AL2023, "win-1")
    };
    let stopped = FakeInstance {
        state: "stopped",
        ..instance("i-0123456789abcdef4", AL2023, "off")
    };
    let private = FakeInstance {
        public_ip: None,
        public_dns: None,
        ..instance("i-0123456789abcdef2", AL2023, "inner")
    };
    let (berth, _aws) = berth_knowing(&[windows, stopped, private]);
    let cases = vec![
        case(
            "a Windows host",
            &["ssh", "i-0123456789abcdef3", "--dry-run"],
            4,
            &["is a Windows instance", "berth rdp"],
        ),
        case(
            "a stopped host",
            &["ssh", "i-0123456789abcdef4", "--dry-run"],
            4,
            &["is stopped, not running"],
        ),
        case(
            "no public address",
            &["ssh", "i-0123456789abcdef2", "--via", "public", "--dry-run"],
            4,
            &["no public address"],
        ),
        case(
            "an instance EC2 does not know",
            &["ssh", "i-0123456789abcdef9", "--dry-run"],
            3,
            &["i-0123456789abcdef9"],
        ),
    ];
    assert_eq!(check(&berth, cases), 4);
}

#[test]
fn a_json_dry_run_holds_the_argv_and_the_route() {
    let (berth, _aws) = berth_knowing(&[instance("i-0123456789abcdef0", AL2023, "web-1")]);
    let run = berth.run(&[
        "--output",
        "json",
        "ssh",
        "i-0123456789abcdef0",
        "--via",
        "private",
        "--dry-run",
    ]);
    let out = run.expect_code(0).json();
    assert_eq!(
        out["argv"].as_array().and_then(|a| a.last()),
        Some(&"ec2-user@10.0.0.5".into())
    );
    assert_eq!(out["route"]["route"], "private", "{out:#}");
    assert_eq!(out["plan"]["user"], "ec2-user", "{out:#}");
}

#[test]
fn dash_o_reaches_every_ssh_and_is_refused_where_none_starts() {
    let windows = FakeInstance {
        platform: Some("windows"),
        ..instance("i-0123456789abcdef3", AL2023, "win-1")
    };
    let (berth, _aws) = berth_knowing(&[instance("i-0123456789abcdef0", AL2023, "web-1"), windows]);
    let host = "i-0123456789abcdef0";
    // scp and the tunnel's ssh carry it, like ssh itself.
    for args in [
        vec![
            "cp",
            host,
            "-o",
            "ConnectTimeout=3",
            "--dry-run",
            ":/a",
            "b",
        ],
        vec![
            "tunnel",
            host,
            "-o",
            "ConnectTimeout=3",
            "--dry-run",
            "8080:80",
        ],
        vec!["ssh", host, "-o", "ConnectTimeout=3", "--dry-run"],
    ] {
        let run = berth.run(&args);
        run.expect_code(0).stdout_has("-o 'ConnectTimeout=3'");
    }
    // berth proxy straight to the port, and rdp to the public address,
    // start no ssh: -o is refused, naming the route.
    let cases = vec![
        case(
            "proxy straight to the port",
            &["proxy", host, "22", "-o", "ConnectTimeout=3"],
            2,
            &[
                "-o ConnectTimeout=3 is an ssh option",
                "berth proxy goes straight to",
            ],
        ),
        case(
            "rdp to the public address",
            &[
                "rdp",
                "i-0123456789abcdef3",
                "-o",
                "ConnectTimeout=3",
                "--dry-run",
            ],
            2,
            &[
                "-o ConnectTimeout=3 is an ssh option",
                "by the public route",
            ],
        ),
    ];
    assert_eq!(check(&berth, cases), 2);
}

#[test]
fn the_clients_status_passes_through_and_a_signal_is_128_plus_its_number() {
    let (mut berth, _aws) = berth_knowing(&[instance("i-0123456789abcdef0", AL2023, "web-1")]);
    // A stand-in for ssh that ends as the script says: no network, no sshd.
    let client = berth.home().join("client");
    std::fs::write(&client, "#!/bin/sh\neval \"$BERTH_TEST_END\"\n").expect("write client");
    set_mode(&client, 0o755);
    berth.env("BERTH_SSH", Some(&client.display().to_string()));
    for (end, status) in [
        ("exit 7", 7),
        ("exit 0", 0),
        ("kill -9 $$", 128 + 9),
        ("kill -15 $$", 128 + 15),
    ] {
        berth.env("BERTH_TEST_END", Some(end));
        let run = berth.run(&["ssh", "i-0123456789abcdef0", "--", "true"]);
        assert_eq!(run.code, status, "{end}: {run:#?}");
        assert!(
            !run.stderr.contains("checking the prerequisites"),
            "{end}: not a failed connection: {run:#?}"
        );
    }
}

#[test]
fn ssh_via_ssm_goes_through_berth_proxy_to_the_instance_id() {
    let private = FakeInstance {
        public_ip: None,
        public_dns: None,
        ..instance("i-0123456789abcdef2", AL2023, "inner")
    };
    let (berth, _aws) = berth_knowing(&[private]);
    let host = "i-0123456789abcdef2";
    // No address is needed: ssh names the instance, and berth's own proxy
    // carries it over Session Manager (ssh and cp alike).
    for args in [
        vec!["ssh", host, "--via", "ssm", "--dry-run"],
        vec!["cp", host, "--via", "ssm", "--dry-run", ":/a", "b"],
    ] {
        let run = berth.run(&args);
        run.expect_code(0)
            .stdout_has(&format!(
                "ProxyCommand={} --region us-east-1",
                env!("CARGO_BIN_EXE_berth")
            ))
            .stdout_has(&format!("proxy --via ssm {host} '%p'"));
    }
    // A tunnel is berth's own forwarder over a port session: no ssh.
    let run = berth.run(&[
        "tunnel",
        host,
        "--via",
        "ssm",
        "--dry-run",
        "8080:80",
        "5433:db.internal:5432",
    ]);
    run.expect_code(0)
        .stdout_has(
            "# listen on 127.0.0.1:8080; StartSession AWS-StartPortForwardingSession \
             localPortNumber=8080 portNumber=80",
        )
        .stdout_has(
            "# listen on 127.0.0.1:5433; StartSession AWS-StartPortForwardingSessionToRemoteHost \
             host=db.internal localPortNumber=5433 portNumber=5432",
        );
    assert!(!run.stdout.contains("ProxyCommand"), "{run:#?}");
    let run = berth.run(&["ssh", host, "--via", "ssm", "--dry-run"]);
    run.expect_code(0)
        .stdout_has(&format!("-- ec2-user@{host}"));
    let run = berth.run(&["--output", "json", "ssh", host, "--via", "ssm", "--dry-run"]);
    let out = run.expect_code(0).json();
    assert_eq!(out["route"]["route"], "ssm", "{out:#}");
    // `-o` is ssh's: kept.
    let run = berth.run(&[
        "ssh",
        host,
        "--via",
        "ssm",
        "-o",
        "ConnectTimeout=3",
        "--dry-run",
    ]);
    run.expect_code(0).stdout_has("-o 'ConnectTimeout=3'");
    // A temporary rule for a port nobody connects to is refused, not added.
    let run = berth.run(&[
        "ssh",
        host,
        "--via",
        "ssm",
        "--open",
        "--from",
        "198.51.100.7/32",
        "--dry-run",
    ]);
    run.expect_code(2)
        .stderr_has("--via ssm needs no open port")
        .stderr_has("drop --open");
}

#[test]
fn resume_for_travels_into_the_ssm_proxy_command() {
    let private = FakeInstance {
        public_ip: None,
        public_dns: None,
        ..instance("i-0123456789abcdef2", AL2023, "inner")
    };
    let (berth, _aws) = berth_knowing(&[private]);
    let host = "i-0123456789abcdef2";
    for args in [
        vec![
            "ssh",
            host,
            "--via",
            "ssm",
            "--resume-for",
            "45s",
            "--dry-run",
        ],
        vec![
            "cp",
            host,
            "--via",
            "ssm",
            "--resume-for",
            "2m",
            "--dry-run",
            ":/a",
            "b",
        ],
    ] {
        let want = if args.contains(&"2m") { "120s" } else { "45s" };
        berth
            .run(&args)
            .expect_code(0)
            .stdout_has(&format!("proxy --via ssm --resume-for {want} {host} '%p'"));
    }
    // Not given: the proxy's default.
    let run = berth.run(&["ssh", host, "--via", "ssm", "--dry-run"]);
    assert!(
        !run.expect_code(0).stdout.contains("--resume-for"),
        "{run:#?}"
    );
    berth
        .run(&[
            "ssh",
            host,
            "--via",
            "ssm",
            "--resume-for",
            "x",
            "--dry-run",
        ])
        .expect_code(2)
        .stderr_has("is not a duration");
}

#[test]
fn auto_plans_tunnel_and_rdp_over_session_manager_port_sessions_on_an_ssm_only_host() {
    use crate::support::fake_aws::Reply;
    // No public address, no VPC (so no bastion, no endpoint): only the
    // SSM agent, Online, reaches these two.
    let linux = FakeInstance {
        public_ip: None,
        public_dns: None,
        ..instance("i-0123456789abcdef2", AL2023, "inner")
    };
    let windows = FakeInstance {
        public_ip: None,
        public_dns: None,
        platform: Some("windows"),
        ..instance("i-0123456789abcdef3", AL2023, "win-1")
    };
    let agents = serde_json::json!({ "InstanceInformationList": [
        { "InstanceId": "i-0123456789abcdef2", "PingStatus": "Online",
          "AgentVersion": "3.3.987.0", "PlatformType": "Linux" },
        { "InstanceId": "i-0123456789abcdef3", "PingStatus": "Online",
          "AgentVersion": "3.3.987.0", "PlatformType": "Windows" },
    ]});
    // Their VPC has no instance tagged as its bastion, and no endpoint.
    let Answer::Made(all) = describe_instances(&[linux.clone(), windows.clone()]) else {
        panic!("describe_instances answers from the request");
    };
    let untagged = Answer::Made(std::sync::Arc::new(move |body: &str| {
        if body.contains("Filter.") {
            all("Action=DescribeInstances&InstanceId.1=i-none")
        } else {
            all(body)
        }
    }));
    let (berth, aws) = berth_knowing_with(
        &[linux, windows],
        vec![
            ("DescribeInstances", untagged),
            (
                "DescribeInstanceConnectEndpoints",
                Reply::ec2(
                    "DescribeInstanceConnectEndpoints",
                    "<instanceConnectEndpointSet/>",
                )
                .into(),
            ),
            ("DescribeInstanceInformation", Reply::json(&agents).into()),
        ],
    );
    // A tunnel without --via: berth's own forwarder, no ssh at all.
    let run = berth.run(&["tunnel", "i-0123456789abcdef2", "--dry-run", "8080:80"]);
    run.expect_code(0).stdout_has(
        "# listen on 127.0.0.1:8080; StartSession AWS-StartPortForwardingSession \
         localPortNumber=8080 portNumber=80",
    );
    assert!(!run.stdout.contains("ProxyCommand"), "{run:#?}");
    assert!(!run.stdout.contains(" -L "), "{run:#?}");
    // And says why auto took Session Manager.
    run.stdout_has("# route ssm (auto): no SSH route (")
        .stdout_has("SSM agent Online, 3.3.987.0");
    // ssh's options have nothing to apply to there.
    berth
        .run(&[
            "tunnel",
            "i-0123456789abcdef2",
            "-o",
            "ConnectTimeout=3",
            "--dry-run",
            "8080:80",
        ])
        .expect_code(2)
        .stderr_has("the ssm route");
    // rdp without --via: the client on a local port that one port session
    // to 3389 carries.
    let run = berth.run(&["rdp", "i-0123456789abcdef3", "--dry-run"]);
    run.expect_code(0)
        .stdout_has("# berth forwards 127.0.0.1:")
        .stdout_has("to port 3389 of i-0123456789abcdef3 over one Session Manager port session")
        .stdout_has("# route ssm (auto): no SSH route (");
    let run = berth.run(&[
        "--output",
        "json",
        "rdp",
        "i-0123456789abcdef3",
        "--dry-run",
    ]);
    let out = run.expect_code(0).json();
    assert_eq!(out["route"]["route"], "ssm", "{out:#}");
    assert_eq!(out["route"]["requested"], "auto", "{out:#}");
    // Session Manager was asked, and nothing started.
    let calls = aws.calls();
    assert!(
        calls.iter().any(|c| c == "DescribeInstanceInformation"),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c == "StartSession"), "{calls:?}");
}
