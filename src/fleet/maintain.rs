//! Rolling maintenance, as data: the batches, and what state each
//! container instance was left in. `commands::maintain` drives ECS and the
//! hosts; this decides nothing about AWS, only how to report it.

use serde::Serialize;

use super::{HostReport, HostStatus};

/// The state a container instance was left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Left {
    /// Drained, maintained, and ACTIVE again.
    Active,
    /// Still DRAINING: its batch failed (no new tasks land on it); set it
    /// ACTIVE by hand once it is fixed.
    Draining,
    /// Its batch never started, or it could not be reached and so was
    /// never drained: as it was.
    Untouched,
}

/// One container instance at the end of a maintenance run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceOutcome {
    pub instance_id: String,
    pub container_instance_arn: String,
    pub label: String,
    /// 1-based.
    pub batch: usize,
    pub left: Left,
    /// The command's result on it, if it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<HostStatus>,
    /// Why its batch stopped, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Splits `items` into batches of `size` (at least 1), in order.
pub fn batches<T>(items: &[T], size: usize) -> Vec<&[T]> {
    items.chunks(size.max(1)).collect()
}

/// The reports of a reachability probe split by instance id: those where
/// the probe ran (whatever its status: a host may fail every command and
/// still be reached), and those where it did not, with the reason (a host
/// the probe did not report on counts as unreachable: nothing shows it
/// can be reached).
pub fn reachable(
    instance_ids: &[&str],
    probes: &[HostReport],
) -> (Vec<String>, Vec<(String, HostStatus)>) {
    let mut ok = Vec::new();
    let mut not = Vec::new();
    for &id in instance_ids {
        match probes.iter().find(|r| r.instance_id == id) {
            Some(HostReport {
                status: HostStatus::Ok | HostStatus::Failed { .. },
                ..
            }) => ok.push(id.to_owned()),
            Some(report) => not.push((id.to_owned(), report.status.clone())),
            None => not.push((
                id.to_owned(),
                HostStatus::Unreachable {
                    reason: "no answer to the reachability check".to_owned(),
                },
            )),
        }
    }
    (ok, not)
}

/// 0 when every instance was maintained and is ACTIVE again, else 1.
pub fn exit_code(outcomes: &[InstanceOutcome]) -> u8 {
    u8::from(outcomes.iter().any(|o| o.left != Left::Active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_order_and_the_remainder() {
        let items = [1, 2, 3, 4, 5];
        assert_eq!(batches(&items, 2), vec![&[1, 2][..], &[3, 4], &[5]]);
        assert_eq!(batches(&items, 0).len(), 5);
        assert_eq!(batches(&items, 10), vec![&items[..]]);
        assert!(batches::<i32>(&[], 2).is_empty());
    }

    #[test]
    fn only_hosts_where_the_probe_ran_are_reachable() {
        let report = |id: &str, status| HostReport {
            instance_id: id.into(),
            label: id.into(),
            status,
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 1,
        };
        let probes = [
            report("i-1", HostStatus::Ok),
            report(
                "i-2",
                HostStatus::Unreachable {
                    reason: "Connection refused".into(),
                },
            ),
            report("i-3", HostStatus::Failed { exit_code: 1 }),
            report("i-4", HostStatus::TimedOut { after_ms: 9 }),
        ];
        let (ok, not) = reachable(&["i-1", "i-2", "i-3", "i-4", "i-5"], &probes);
        assert_eq!(ok, vec!["i-1".to_owned(), "i-3".to_owned()]);
        let ids: Vec<&str> = not.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["i-2", "i-4", "i-5"]);
        assert_eq!(not[0].1.word(), "unreachable");
        assert_eq!(not[1].1.word(), "timed out");
        assert_eq!(not[2].1.word(), "unreachable");
    }

    #[test]
    fn only_a_fully_active_fleet_succeeds() {
        let outcome = |left| InstanceOutcome {
            instance_id: "i-1".into(),
            container_instance_arn: "arn".into(),
            label: "a".into(),
            batch: 1,
            left,
            command: None,
            note: None,
        };
        assert_eq!(
            exit_code(&[outcome(Left::Active), outcome(Left::Active)]),
            0
        );
        assert_eq!(
            exit_code(&[outcome(Left::Active), outcome(Left::Draining)]),
            1
        );
        assert_eq!(
            exit_code(&[outcome(Left::Active), outcome(Left::Untouched)]),
            1
        );
    }
}
