//! The fault-injecting proxy (`fault_proxy.py`) in front of the sandbox's
//! AWS stand-in: one per test, on its own loopback port, with its own
//! rules and log, gone when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use serde::Deserialize;

use super::Sandbox;

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
    log: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
    stdin: Option<ChildStdin>,
}

#[derive(Deserialize)]
struct Ready {
    endpoint: String,
}

impl FaultProxy {
    pub fn start(sandbox: &Sandbox, faults: &[Fault]) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("BERTH_TEST_PYTHON")
            .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
        let dir = tempfile::tempdir().expect("proxy dir");
        let log = dir.path().join("requests.jsonl");
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
        let mut child = Command::new(&python)
            .arg(root.join("tests/support/fault_proxy.py"))
            .args(["--upstream", &sandbox.endpoint])
            .args(["--rules", &serde_json::Value::from(rules).to_string()])
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start fault_proxy.py with {}: {e}", python.display())
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("proxy stdout"))
            .read_line(&mut line)
            .expect("read proxy endpoint");
        let ready: Ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("fault_proxy.py did not start ({e}): {line:?}"));
        let stdin = child.stdin.take();
        Self {
            endpoint: ready.endpoint,
            log,
            _dir: dir,
            child,
            stdin,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
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

impl Drop for FaultProxy {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
