//! The fault-injecting proxy (`fault_proxy.py`) in front of the sandbox's
//! AWS stand-in: one per test, on its own loopback port, with its own
//! rules and log, gone when dropped.

use serde::Deserialize;

use super::Sandbox;
use super::helper::PythonHelper;

/// One rule: `operation` (`DescribeInstances`, `ListClusters`, … or `*`)
/// gets the fault `kind` (throttle, internal, unavailable, slow, reset, truncate,
/// expired) `times` times, or always.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: &'static str,
    pub kind: &'static str,
    pub times: Option<u32>,
    /// For `slow`: how long the proxy waits before answering.
    pub seconds: Option<f64>,
}

impl Fault {
    pub fn always(operation: &'static str, kind: &'static str) -> Self {
        Self {
            operation,
            kind,
            times: None,
            seconds: None,
        }
    }

    pub fn times(operation: &'static str, kind: &'static str, times: u32) -> Self {
        Self {
            times: Some(times),
            ..Self::always(operation, kind)
        }
    }

    pub fn slow(operation: &'static str, seconds: f64) -> Self {
        Self {
            seconds: Some(seconds),
            ..Self::always(operation, "slow")
        }
    }
}

/// A request the proxy saw.
#[derive(Debug, Clone, Deserialize)]
pub struct Seen {
    pub operation: String,
    pub fault: Option<String>,
}

pub struct FaultProxy {
    /// Point `AWS_ENDPOINT_URL` here.
    pub endpoint: String,
    helper: PythonHelper,
}

impl FaultProxy {
    pub fn start(sandbox: &Sandbox, faults: &[Fault]) -> Self {
        let rules: Vec<serde_json::Value> = faults
            .iter()
            .map(|f| {
                let mut rule = serde_json::json!({ "operation": f.operation, "fault": f.kind });
                if let Some(times) = f.times {
                    rule["times"] = times.into();
                }
                if let Some(seconds) = f.seconds {
                    rule["seconds"] = seconds.into();
                }
                rule
            })
            .collect();
        let helper = PythonHelper::start(
            "fault_proxy.py",
            &[
                "--upstream".to_owned(),
                sandbox.endpoint.clone(),
                "--rules".to_owned(),
                serde_json::Value::from(rules).to_string(),
            ],
        );
        Self {
            endpoint: helper.endpoint(),
            helper,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.helper
            .log_lines()
            .iter()
            .map(|l| serde_json::from_str(l).expect("proxy log line"))
            .collect()
    }

    /// How many requests for `operation` arrived.
    pub fn count(&self, operation: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.operation == operation)
            .count()
    }
}
