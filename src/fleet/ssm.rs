//! `berth run --engine ssm`, as data: SSM Run Command's batches, the
//! invocation statuses that are final, what each means for the host, and
//! how long to wait between polls.

use std::time::Duration;

use super::HostStatus;

/// SendCommand takes at most 50 instance ids.
pub const SEND_COMMAND_BATCH: usize = 50;

/// The Run Command document for a host: PowerShell on Windows.
pub fn document(windows: bool) -> &'static str {
    if windows {
        "AWS-RunPowerShellScript"
    } else {
        "AWS-RunShellScript"
    }
}

/// The SendCommand requests for `hosts`: the Linux hosts with
/// AWS-RunShellScript, then the Windows hosts with AWS-RunPowerShellScript,
/// at most [`SEND_COMMAND_BATCH`] hosts per request, in the hosts' order.
pub fn batches<T>(hosts: &[T], is_windows: impl Fn(&T) -> bool) -> Vec<(&'static str, Vec<&T>)> {
    let mut requests = Vec::new();
    for windows in [false, true] {
        let group: Vec<&T> = hosts.iter().filter(|h| is_windows(h) == windows).collect();
        for batch in group.chunks(SEND_COMMAND_BATCH) {
            requests.push((document(windows), batch.to_vec()));
        }
    }
    requests
}

/// Whether an invocation status is final (SSM API Reference,
/// CommandInvocation Status).
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "Success" | "Failed" | "Cancelled" | "TimedOut" | "Undeliverable" | "Terminated"
    )
}

/// What a final invocation means for its host.
pub fn judge(
    status: &str,
    details: &str,
    response_code: i32,
    timeout: Option<Duration>,
) -> HostStatus {
    match status {
        "Success" => HostStatus::Ok,
        "Failed" => HostStatus::Failed {
            exit_code: response_code,
        },
        "TimedOut" if details != "DeliveryTimedOut" => HostStatus::TimedOut {
            after_ms: timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        },
        other => HostStatus::Unreachable {
            reason: format!("SSM Run Command: {other} ({details})"),
        },
    }
}

/// The wait before poll `n` (0-based): 1 s, doubling, at most 5 s.
pub fn poll_delay(n: u32) -> Duration {
    Duration::from_secs((1u64 << n.min(3)).min(5))
}

/// ListCommandInvocations' plugin output holds at most this many
/// characters (SSM API Reference, CommandPlugin Output);
/// GetCommandInvocation has more (24,000 of standard output, 8,000 of
/// standard error, apart).
pub const LISTED_OUTPUT_LIMIT: usize = 2500;

/// What the SSM agent puts between standard output and standard error in
/// a plugin's `Output` when the command wrote to standard error
/// (amazon-ssm-agent, `contracts.TruncateOutput`).
pub const AGENT_ERROR_TITLE: &str = "\n----------ERROR-------\n";

/// What the agent appends to standard output and to standard error when
/// it cut them to fit the plugin's `Output`.
pub const AGENT_TRUNCATED: [&str; 2] = ["\n---Output truncated---", "\n---Error truncated----"];

/// Whether what ListCommandInvocations (with details) said of a final
/// invocation is its whole result, standard output alone: a success whose
/// output is shorter than the list's limit and holds neither the agent's
/// standard-error title nor its truncation marks. The agent writes the
/// plugin's `Output` as standard output, then (when there is any) the
/// title and standard error, cut to fit; once the title is in it, where
/// standard output ends cannot be told for sure (a program may print the
/// title itself), so berth asks GetCommandInvocation, which keeps the two
/// apart and is not cut at 2,500 characters. So is anything that is not
/// a success.
pub fn listed_is_whole(status: &str, output: &str) -> bool {
    status == "Success"
        && output.chars().count() < LISTED_OUTPUT_LIMIT
        && !output.contains(AGENT_ERROR_TITLE)
        && !AGENT_TRUNCATED.iter().any(|mark| output.contains(mark))
}

/// The reason a host cannot take Run Command, from its SSM ping status
/// (`None`: not a managed instance).
pub fn not_reachable(ping: Option<&str>) -> Option<String> {
    match ping {
        Some("Online") => None,
        Some(other) => Some(format!(
            "its SSM agent is {other}: Run Command cannot reach it"
        )),
        None => Some(
            "not a managed instance (no SSM agent registered): Run Command cannot reach it"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_go_in_batches_of_fifty_per_document() {
        // 120 Linux hosts and 3 Windows hosts, mixed.
        let hosts: Vec<(usize, bool)> = (0..123).map(|i| (i, i % 41 == 40)).collect();
        let requests = batches(&hosts, |h| h.1);
        let shape: Vec<(&str, usize)> = requests.iter().map(|(d, b)| (*d, b.len())).collect();
        assert_eq!(
            shape,
            vec![
                ("AWS-RunShellScript", 50),
                ("AWS-RunShellScript", 50),
                ("AWS-RunShellScript", 20),
                ("AWS-RunPowerShellScript", 3),
            ]
        );
        // Every host once, in order within its document.
        let linux: Vec<usize> = requests[..3]
            .iter()
            .flat_map(|(_, b)| b.iter().map(|h| h.0))
            .collect();
        assert_eq!(linux, (0..123).filter(|i| i % 41 != 40).collect::<Vec<_>>());
        assert!(batches(&Vec::<(usize, bool)>::new(), |h| h.1).is_empty());
    }

    #[test]
    fn final_statuses_and_their_meaning() {
        let t = Some(Duration::from_secs(30));
        assert!(!is_final("Pending") && !is_final("InProgress") && !is_final("Delayed"));
        assert_eq!(judge("Success", "Success", 0, t), HostStatus::Ok);
        assert_eq!(
            judge("Failed", "Failed", 3, t),
            HostStatus::Failed { exit_code: 3 }
        );
        assert_eq!(
            judge("TimedOut", "ExecutionTimedOut", -1, t),
            HostStatus::TimedOut { after_ms: 30_000 }
        );
        assert!(matches!(
            judge("TimedOut", "DeliveryTimedOut", -1, t),
            HostStatus::Unreachable { .. }
        ));
        assert!(matches!(
            judge("Undeliverable", "Undeliverable", -1, t),
            HostStatus::Unreachable { .. }
        ));
    }

    #[test]
    fn polls_back_off_to_five_seconds() {
        let waits: Vec<u64> = (0..6).map(|n| poll_delay(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5, 5]);
    }

    #[test]
    fn only_a_short_successful_output_is_taken_from_the_list() {
        assert!(listed_is_whole("Success", "up 3 days\n"));
        assert!(listed_is_whole("Success", ""));
        assert!(!listed_is_whole("Failed", "broken\n"));
        assert!(!listed_is_whole("TimedOut", ""));
        // Cut at the list's limit: the rest is only in GetCommandInvocation.
        assert!(!listed_is_whole(
            "Success",
            &"x".repeat(LISTED_OUTPUT_LIMIT)
        ));
        assert!(listed_is_whole(
            "Success",
            &"é".repeat(LISTED_OUTPUT_LIMIT - 1)
        ));
        // A success that wrote to standard error: the agent put it after
        // its title; the list cannot say where standard output ends.
        assert!(!listed_is_whole(
            "Success",
            "up 3 days\n\n----------ERROR-------\nwarning: low disk\n"
        ));
        assert!(!listed_is_whole(
            "Success",
            "\n----------ERROR-------\nonly standard error\n"
        ));
        // Cut by the agent (its own limit is under the list's).
        assert!(!listed_is_whole(
            "Success",
            &format!("{}\n---Output truncated---", "x".repeat(100))
        ));
        assert!(!listed_is_whole(
            "Success",
            "out\n----------ERROR-------\nerr\n---Error truncated----"
        ));
        // The title's words alone, not on lines of their own, are output.
        assert!(listed_is_whole("Success", "----------ERROR-------\n"));
    }

    #[test]
    fn only_online_agents_take_commands() {
        assert_eq!(not_reachable(Some("Online")), None);
        assert!(
            not_reachable(Some("ConnectionLost")).is_some_and(|r| r.contains("ConnectionLost"))
        );
        assert!(not_reachable(None).is_some_and(|r| r.contains("not a managed instance")));
        assert_eq!(document(true), "AWS-RunPowerShellScript");
    }
}
