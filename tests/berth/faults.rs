//! AWS faults, injected by a proxy in front of the sandbox's AWS stand-in
//! (`tests/support/fault_proxy.py`): berth retries with the SDK's standard
//! backoff, gives up after 3 attempts with exit 5 naming the operation and
//! the cause, honours `--aws-timeout`, exits 6 naming the profile for
//! expired credentials, and leaves no temporary rule behind.

use std::time::{Duration, Instant};

use crate::support::faults::{Fault, FaultProxy};
use crate::support::{Berth, Sandbox, sandbox};

const AL2023: &str = "ami-0a1b2c3d4e5f60001";

fn through(berth: &mut Berth, proxy: &FaultProxy) {
    berth.env("AWS_ENDPOINT_URL", Some(&proxy.endpoint));
}

fn instance(sb: &Sandbox) -> String {
    sb.host("prod-al2023").instance_id.clone()
}

#[test]
fn a_call_throttled_twice_succeeds_on_the_third_attempt() {
    let sb = sandbox();
    let proxy = FaultProxy::start(sb, &[Fault::times("DescribeInstances", "throttle", 2)]);
    let mut berth = Berth::new(sb);
    through(&mut berth, &proxy);
    berth
        .run(&["ssh", &instance(sb), "--via", "private", "--dry-run"])
        .expect_code(0)
        .stdout_has("ec2-user@");
    let faults: Vec<Option<String>> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.operation == "DescribeInstances")
        .map(|s| s.fault)
        .collect();
    assert_eq!(
        faults,
        [
            Some("throttle".to_owned()),
            Some("throttle".to_owned()),
            None
        ]
    );
}

#[test]
fn every_fault_that_persists_ends_in_exit_5_naming_the_operation_and_cause() {
    let sb = sandbox();
    for (fault, cause, fix) in [
        (
            "throttle",
            "RequestLimitExceeded: Rate exceeded",
            "wait a minute",
        ),
        (
            "internal",
            "InternalError",
            "AWS failed on its side 3 times",
        ),
        (
            "unavailable",
            "Unavailable",
            "AWS failed on its side 3 times",
        ),
        (
            "reset",
            "Connection reset by peer",
            "berth tried 3 times; check the network",
        ),
        (
            "truncate",
            "end of file before message length",
            "cut off or garbled",
        ),
    ] {
        let proxy = FaultProxy::start(sb, &[Fault::always("DescribeInstances", fault)]);
        let mut berth = Berth::new(sb);
        through(&mut berth, &proxy);
        berth
            .run(&["ssh", &instance(sb), "--via", "private", "--dry-run"])
            .expect_code(5)
            .stderr_has("berth: error: ec2:DescribeInstances")
            .stderr_has(cause)
            .stderr_has(fix);
        assert_eq!(proxy.count("DescribeInstances"), 3, "{fault}: attempts");
    }
}

#[test]
fn ecs_throttling_names_the_ecs_operation() {
    let sb = sandbox();
    let proxy = FaultProxy::start(sb, &[Fault::always("ListClusters", "throttle")]);
    let mut berth = Berth::new(sb);
    through(&mut berth, &proxy);
    berth
        .run(&["ls"])
        .expect_code(5)
        .stderr_has("ecs:ListClusters: ThrottlingException: Rate exceeded")
        .stderr_has("wait a minute");
    assert_eq!(proxy.count("ListClusters"), 3);
}

#[test]
fn a_slow_answer_times_out_after_aws_timeout_per_attempt() {
    let sb = sandbox();
    let proxy = FaultProxy::start(sb, &[Fault::slow("DescribeInstances", 5.0)]);
    let mut berth = Berth::new(sb);
    through(&mut berth, &proxy);
    let started = Instant::now();
    berth
        .run(&[
            "--aws-timeout",
            "1s",
            "ssh",
            &instance(sb),
            "--via",
            "private",
            "--dry-run",
        ])
        .expect_code(5)
        .stderr_has("ec2:DescribeInstances: AWS did not answer within 1s (3 attempts)")
        .stderr_has("--aws-timeout");
    let took = started.elapsed();
    // Three attempts of 1 s and the backoff between them; not the 15 s
    // three slow answers would take.
    assert!(took < Duration::from_secs(9), "took {took:?}");
    assert_eq!(proxy.count("DescribeInstances"), 3);
    // Given the time, the same call goes through.
    let patient = FaultProxy::start(sb, &[Fault::slow("DescribeInstances", 1.0)]);
    through(&mut berth, &patient);
    berth
        .run(&[
            "--aws-timeout",
            "10s",
            "ssh",
            &instance(sb),
            "--via",
            "private",
            "--dry-run",
        ])
        .expect_code(0);
}

#[test]
fn aws_timeout_must_be_a_duration() {
    let sb = sandbox();
    Berth::new(sb)
        .run(&["--aws-timeout", "soon", "ls"])
        .expect_code(2)
        .stderr_has("`soon` is not a duration");
    Berth::new(sb)
        .run(&["--aws-timeout", "0s", "ls"])
        .expect_code(2)
        .stderr_has("the timeout must be more than 0");
}

/// A profile `ops` with the sandbox's (fake) keys, and no keys in the
/// environment.
fn with_profile(berth: &mut Berth) {
    let aws = berth.home().join(".aws");
    std::fs::create_dir_all(&aws).expect("mkdir .aws");
    std::fs::write(
        aws.join("credentials"),
        "[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .expect("write credentials");
    berth.env("AWS_ACCESS_KEY_ID", None);
    berth.env("AWS_SECRET_ACCESS_KEY", None);
}

#[test]
fn expired_credentials_exit_6_naming_the_profile() {
    let sb = sandbox();
    for (operation, args, code) in [
        (
            "DescribeInstances",
            vec![
                "--profile",
                "ops",
                "ssh",
                "i-0123456789abcdef0",
                "--dry-run",
            ],
            "RequestExpired",
        ),
        (
            "ListClusters",
            vec!["--profile", "ops", "ls"],
            "ExpiredTokenException",
        ),
    ] {
        let proxy = FaultProxy::start(sb, &[Fault::always(operation, "expired")]);
        let mut berth = Berth::new(sb);
        with_profile(&mut berth);
        through(&mut berth, &proxy);
        berth
            .run(&args)
            .expect_code(6)
            .stderr_has("no usable AWS credentials for profile `ops`")
            .stderr_has(code)
            .stderr_has("aws sso login --profile ops");
        // Not retried: new credentials will not come from waiting.
        assert_eq!(proxy.count(operation), 1, "{operation}");
    }
    // A profile that does not exist.
    let mut berth = Berth::new(sb);
    with_profile(&mut berth);
    berth
        .run(&["--profile", "nosuch", "ls"])
        .expect_code(6)
        .stderr_has("profile `nosuch`")
        .stderr_has("aws sso login --profile nosuch");
}

/// The berth rules (by description) in `group`.
fn berth_rules(sb: &Sandbox, group: &str) -> Vec<String> {
    sb.ingress_rules(group)
        .into_iter()
        .filter(|r| {
            r.description
                .as_deref()
                .is_some_and(|d| d.contains("berth"))
        })
        .map(|r| r.rule_id)
        .collect()
}

fn journal(berth: &Berth) -> String {
    std::fs::read_to_string(berth.home().join(".local/state/berth/open-rules.json"))
        .unwrap_or_default()
}

#[test]
fn a_rule_added_before_a_fault_is_still_removed() {
    let sb = sandbox();
    let (id, group) = sb.launch_instance_in_own_group(AL2023, "faults-open-push");
    let proxy = FaultProxy::start(sb, &[Fault::always("SendSSHPublicKey", "internal")]);
    let mut berth = Berth::new(sb);
    through(&mut berth, &proxy);
    berth.env("BERTH_SSH", Some("true"));
    berth
        .run(&[
            "ssh",
            &id,
            "--via",
            "private",
            "--ephemeral-key",
            "--open",
            "--from",
            "127.0.0.1/32",
        ])
        .expect_code(5)
        .stderr_has(&format!("opened tcp/22 from 127.0.0.1/32 in {group}"))
        .stderr_has("SendSSHPublicKey")
        .stderr_has(&format!("removed the temporary rule from {group}"));
    assert_eq!(proxy.count("AuthorizeSecurityGroupIngress"), 1);
    assert_eq!(proxy.count("SendSSHPublicKey"), 3);
    assert!(berth_rules(sb, &group).is_empty(), "a berth rule is left");
    assert!(!journal(&berth).contains(&group), "{}", journal(&berth));
}

#[test]
fn removing_a_rule_is_retried_and_else_left_to_the_next_run() {
    let sb = sandbox();
    let (id, group) = sb.launch_instance_in_own_group(AL2023, "faults-open-revoke");
    let key = sb.key_path.display().to_string();
    let open = [
        "ssh",
        &id,
        "--via",
        "private",
        "-i",
        &key,
        "--open",
        "--from",
        "127.0.0.1/32",
        "--",
        "true",
    ];
    // Throttled once: the retry removes it.
    let proxy = FaultProxy::start(
        sb,
        &[Fault::times("RevokeSecurityGroupIngress", "throttle", 1)],
    );
    let mut berth = Berth::new(sb);
    through(&mut berth, &proxy);
    berth.env("BERTH_SSH", Some("true"));
    berth
        .run(&open)
        .expect_code(0)
        .stderr_has(&format!("removed the temporary rule from {group}"));
    assert_eq!(proxy.count("RevokeSecurityGroupIngress"), 2);
    assert!(berth_rules(sb, &group).is_empty());

    // Failing on all 3 attempts: said, journalled, and removed by the
    // next run (through the same endpoint: the journal keeps each rule's).
    let down = FaultProxy::start(
        sb,
        &[Fault::times("RevokeSecurityGroupIngress", "unavailable", 3)],
    );
    through(&mut berth, &down);
    berth
        .run(&open)
        .expect_code(0)
        .stderr_has(&format!("could not remove the temporary rule from {group}"))
        .stderr_has("the next berth run (or `berth doctor --cleanup`) will");
    assert_eq!(berth_rules(sb, &group).len(), 1);
    assert!(journal(&berth).contains(&group));
    berth
        .run(&["ls", "empty"])
        .stderr_has("removed a temporary rule an earlier berth left");
    assert!(berth_rules(sb, &group).is_empty(), "still there");
    assert!(!journal(&berth).contains(&group));
}
