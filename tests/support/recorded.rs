//! The recorded stand-in (`recorded_aws.py`) for runs at scale: a fleet of
//! container instances recorded once per test binary from moto, then
//! served from memory by one stand-in per test, with its own fault rules
//! and its own log of the requests it answered (the call counter).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::faults::Seen;
use super::helper::{PythonHelper, python};

/// Container instances in the recorded cluster `scale-1000`.
pub const SCALE_HOSTS: usize = 1000;
/// The recorded cluster.
pub const SCALE_CLUSTER: &str = "scale-1000";

/// The recording, made on first use (about 15 s) in cargo's scratch
/// directory for integration tests, and made again when the scripts that
/// make it are newer than it.
fn recording() -> &'static PathBuf {
    static RECORDING: OnceLock<PathBuf> = OnceLock::new();
    RECORDING.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("recorded-aws");
        std::fs::create_dir_all(&dir).expect("recording dir");
        let file = dir.join(format!("{SCALE_CLUSTER}.json"));
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let scripts = ["recorded_aws.py", "sandbox.py", "aws_emulation.py"]
            .iter()
            .filter_map(|s| modified(&root.join("tests/support").join(s)))
            .max();
        if modified(&file).is_some_and(|made| scripts.is_none_or(|s| made > s)) {
            return file;
        }
        let partial = dir.join(format!("{SCALE_CLUSTER}.{}.part", std::process::id()));
        let status = Command::new(python())
            .arg(root.join("tests/support/recorded_aws.py"))
            .args(["record", "--hosts", &SCALE_HOSTS.to_string(), "--out"])
            .arg(&partial)
            .status()
            .expect("run recorded_aws.py record");
        assert!(status.success(), "recording the fleet failed: {status}");
        std::fs::rename(&partial, &file).expect("keep the recording");
        file
    })
}

/// One throttling rule: the `times` requests for `operation` after its
/// first `after` are answered with the service's throttling error.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub operation: &'static str,
    pub after: u32,
    pub times: u32,
}

pub struct Recorded {
    /// Point `AWS_ENDPOINT_URL` here.
    pub endpoint: String,
    helper: PythonHelper,
}

impl Recorded {
    /// A stand-in serving the recording with no latency, invocations of
    /// Run Command ending `invocation_seconds` after they are sent.
    pub fn start(throttles: &[Throttle], invocation_seconds: f64) -> Self {
        let rules: Vec<serde_json::Value> = throttles
            .iter()
            .map(|t| {
                serde_json::json!({
                    "operation": t.operation, "fault": "throttle",
                    "times": t.times, "after": t.after,
                })
            })
            .collect();
        let helper = PythonHelper::start(
            "recorded_aws.py",
            &[
                "serve".to_owned(),
                "--recording".to_owned(),
                recording().display().to_string(),
                "--rules".to_owned(),
                serde_json::Value::from(rules).to_string(),
                "--invocation-seconds".to_owned(),
                invocation_seconds.to_string(),
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
            .map(|l| serde_json::from_str(l).expect("stand-in log line"))
            .collect()
    }

    /// Requests per operation so far.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        let mut calls = BTreeMap::new();
        for seen in self.seen() {
            *calls.entry(seen.operation).or_default() += 1;
        }
        calls
    }

    /// The log's lines with their times (seconds since the epoch).
    pub fn timed(&self) -> Vec<(String, f64)> {
        self.helper
            .log_lines()
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("log line");
                (
                    v["operation"].as_str().unwrap_or_default().to_owned(),
                    v["at"].as_f64().unwrap_or_default(),
                )
            })
            .collect()
    }
}
