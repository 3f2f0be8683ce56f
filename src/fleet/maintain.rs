//! Rolling maintenance, as data: the batches, and what state each
//! container instance was left in. `commands::maintain` drives ECS and the
//! hosts; this decides nothing about AWS, only how to report it.

use serde::Serialize;

use super::HostStatus;

/// The state a container instance was left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Left {
    /// Drained, maintained, and ACTIVE again.
    Active,
    /// Still DRAINING: its batch failed (no new tasks land on it); set it
    /// ACTIVE by hand once it is fixed.
    Draining,
    /// Its batch never started: as it was.
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
