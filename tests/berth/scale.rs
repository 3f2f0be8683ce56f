//! berth at scale, against the recorded stand-in (`recorded_aws.py`): a
//! cluster of 1,000 container instances recorded from moto and served
//! from memory, which counts every request it answers.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::recorded::{Recorded, SCALE_CLUSTER, SCALE_HOSTS, Throttle};
use crate::support::{Berth, Run, stats_line};

fn berth(recorded: &Recorded) -> Berth {
    Berth::against(&recorded.endpoint, "us-east-1")
}

fn ls(recorded: &Recorded) -> Run {
    let run = berth(recorded).run(&["--stats", "--output", "json", "ls", SCALE_CLUSTER]);
    run.expect_code(0);
    run
}

/// The instance ids of an `ls --output json`, in its order.
fn ids(run: &Run) -> Vec<String> {
    run.json()
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["instance_id"].as_str().expect("instance_id").to_owned())
        .collect()
}

/// What the API forces for N container instances: ⌈N/100⌉ pages and as
/// many DescribeContainerInstances, ⌈N/1000⌉ DescribeInstances, one
/// DescribeImages (one AMI), ⌈N/50⌉ DescribeInstanceInformation.
fn forced(n: usize) -> BTreeMap<String, usize> {
    [
        ("ListContainerInstances", n.div_ceil(100)),
        ("DescribeContainerInstances", n.div_ceil(100)),
        ("DescribeInstances", n.div_ceil(1000)),
        ("DescribeImages", 1),
        ("DescribeInstanceInformation", n.div_ceil(50)),
    ]
    .into_iter()
    .map(|(op, k)| (op.to_owned(), k))
    .collect()
}

#[test]
fn ls_of_a_thousand_hosts_makes_the_calls_the_api_forces_in_a_stable_order() {
    let recorded = Recorded::start(&[], 3.0);
    let run = ls(&recorded);
    let rows = run.json();
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), SCALE_HOSTS);
    // By Name tag (the recorder names them CLUSTER-0001, …), every host once.
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    let expected: Vec<String> = (1..=SCALE_HOSTS)
        .map(|i| format!("{SCALE_CLUSTER}-{i:04}"))
        .collect();
    assert_eq!(names, expected, "rows by name");
    assert!(
        rows.iter().all(|r| r["user"] == "ec2-user"),
        "{:#}",
        rows[0]
    );
    assert!(
        rows.iter().all(|r| r["ssm"]["ping_status"] == "Online"),
        "{:#}",
        rows[0]
    );
    assert_eq!(recorded.calls(), forced(SCALE_HOSTS), "{}", run.stderr);
    // The pages one after the other, then one describe and one
    // DescribeInstances: everything else runs beside them.
    let stats = stats_line(&run.stderr);
    assert_eq!(stats["round_trips"], 12, "{}", run.stderr);
    assert_eq!(stats["calls"], 42, "{}", run.stderr);
    // The same rows in the same order, run after run.
    assert_eq!(ls(&recorded).stdout, run.stdout);
}

#[test]
fn throttled_pages_are_retried_and_nothing_is_lost_or_duplicated() {
    let clean = Recorded::start(&[], 3.0);
    let expected = ls(&clean).stdout;
    // One throttled request of each kind, in the middle of the scan.
    let throttles = [
        ("ListContainerInstances", 4),
        ("DescribeContainerInstances", 6),
        ("DescribeInstances", 0),
        ("DescribeInstanceInformation", 11),
    ];
    let recorded = Recorded::start(
        &throttles
            .iter()
            .map(|&(operation, after)| Throttle {
                operation,
                after,
                times: 1,
            })
            .collect::<Vec<_>>(),
        3.0,
    );
    let run = ls(&recorded);
    let got = ids(&run);
    let mut distinct = got.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), SCALE_HOSTS, "every host once");
    assert_eq!(
        run.stdout, expected,
        "the same listing as without throttling"
    );
    // Each throttled request was sent once more, and nothing else was.
    let mut calls = forced(SCALE_HOSTS);
    for (operation, _) in throttles {
        *calls.get_mut(operation).expect("forced") += 1;
    }
    assert_eq!(recorded.calls(), calls);
    let refused: Vec<String> = recorded
        .seen()
        .into_iter()
        .filter(|s| s.fault.as_deref() == Some("throttle"))
        .map(|s| s.operation)
        .collect();
    assert_eq!(refused.len(), throttles.len(), "{refused:?}");
}

#[test]
fn run_through_ssm_on_a_thousand_hosts_sends_50_a_call_and_lists_results_in_pages() {
    // Each invocation ends 2 s after it was sent: berth's polls at 1 s and
    // then 3 s after sending see every host running, then every host done.
    let recorded = Recorded::start(&[], 2.0);
    let run = berth(&recorded).run(&[
        "--output",
        "json",
        "--stats",
        "run",
        SCALE_CLUSTER,
        "--engine",
        "ssm",
        "--",
        "echo hello",
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(0).stdout).expect("json");
    let hosts = out["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), SCALE_HOSTS);
    assert!(
        hosts
            .iter()
            .all(|h| h["status"] == "ok" && h["stdout"] == "hello\n"),
        "{:#}",
        hosts[0]
    );
    let calls = recorded.calls();
    assert_eq!(calls.get("SendCommand"), Some(&SCALE_HOSTS.div_ceil(50)));
    assert_eq!(
        calls.get("GetCommandInvocation"),
        None,
        "never one call per host"
    );
    // The polls: bursts of ListCommandInvocations, a second or more apart,
    // each at most one page per 50 hosts still running.
    let lists: Vec<f64> = recorded
        .timed()
        .into_iter()
        .filter(|(op, _)| op == "ListCommandInvocations")
        .map(|(_, at)| at)
        .collect();
    let mut rounds: Vec<Vec<f64>> = Vec::new();
    for at in lists {
        match rounds.last_mut() {
            Some(round) if at - round[round.len() - 1] < 0.5 => round.push(at),
            _ => rounds.push(vec![at]),
        }
    }
    let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20, 20], "{}", run.stderr);
    assert!(
        rounds[1][0] - rounds[0][0] >= 1.5,
        "backing off: {rounds:?}"
    );
}

#[test]
fn run_through_ssm_keeps_a_successful_hosts_standard_error_out_of_its_output() {
    // The agent lists a success's output as standard output, its title and
    // standard error; berth takes the two apart from GetCommandInvocation
    // for the hosts whose listed output has standard error, and only those.
    let recorded = Recorded::start(&[], 1.0);
    let run = berth(&recorded).run(&[
        "--output",
        "json",
        "run",
        SCALE_CLUSTER,
        "--engine",
        "ssm",
        "--",
        "echo hello; echo warning: low disk >&2",
    ]);
    let out: Value = serde_json::from_str(&run.expect_code(0).stdout).expect("json");
    let hosts = out["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), SCALE_HOSTS);
    for host in hosts {
        assert_eq!(host["status"], "ok", "{host:#}");
        assert_eq!(host["stdout"], "hello\n", "{host:#}");
        assert_eq!(host["stderr"], "warning: low disk\n", "{host:#}");
    }
    let calls = recorded.calls();
    assert_eq!(calls.get("GetCommandInvocation"), Some(&SCALE_HOSTS));
}
