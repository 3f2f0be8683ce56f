//! Fleet work: what happened on each host of a `berth run`, judged from
//! what its ssh reported, and the run's summary and exit status.
//!
//! Pure: `transport::fleet` runs the processes and hands back what each
//! one did; this decides what it means. One host's failure never hides
//! another's: every host gets a [`HostReport`], and the run fails (exit 1)
//! when any host did not run the command to status 0.

use std::time::Duration;

use serde::Serialize;

pub mod logs;
pub mod maintain;
pub mod ssm;

/// ssh's own status when it could not connect or authenticate.
pub const SSH_FAILED: i32 = 255;

/// What one host's ssh process did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Finished {
    /// The exit status (128 + signal for a killed process); `None` when it
    /// never ran or was stopped at the timeout.
    pub code: Option<i32>,
    pub timed_out: bool,
    /// Why it could not be started, if it was not.
    pub spawn_error: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

/// How a host's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum HostStatus {
    /// The command ran and exited 0.
    Ok,
    /// The command ran and exited non-zero.
    Failed { exit_code: i32 },
    /// ssh could not reach or log in to the host (or berth could not plan
    /// the connection): the command never ran.
    Unreachable { reason: String },
    /// Still running at `--timeout`; stopped.
    TimedOut { after_ms: u64 },
}

impl HostStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// One word for the summary table.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed { .. } => "failed",
            Self::Unreachable { .. } => "unreachable",
            Self::TimedOut { .. } => "timed out",
        }
    }
}

/// Judges one host's run. ssh exits 255 when it cannot connect; a remote
/// command may also exit 255, which berth cannot tell apart, so the reason
/// shown is ssh's last line on stderr.
pub fn judge(finished: &Finished, timeout: Option<Duration>) -> HostStatus {
    if let Some(error) = &finished.spawn_error {
        return HostStatus::Unreachable {
            reason: error.clone(),
        };
    }
    if finished.timed_out {
        let after = timeout.unwrap_or(finished.duration);
        return HostStatus::TimedOut {
            after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        };
    }
    match finished.code {
        Some(0) => HostStatus::Ok,
        Some(SSH_FAILED) => HostStatus::Unreachable {
            reason: last_line(&finished.stderr)
                .unwrap_or_else(|| "ssh could not connect (exit 255)".to_owned()),
        },
        Some(code) => HostStatus::Failed { exit_code: code },
        None => HostStatus::Unreachable {
            reason: "ssh ended without a status".to_owned(),
        },
    }
}

/// The last non-empty line of `bytes`, as text.
fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// One host in the report and the JSON output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostReport {
    pub instance_id: String,
    pub label: String,
    #[serde(flatten)]
    pub status: HostStatus,
    /// The remote command's output, as text (invalid UTF-8 replaced).
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
}

impl HostReport {
    pub fn new(
        instance_id: &str,
        label: &str,
        finished: &Finished,
        timeout: Option<Duration>,
    ) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            label: label.to_owned(),
            status: judge(finished, timeout),
            stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
            duration_ms: u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A host whose result came from elsewhere (SSM Run Command).
    pub fn reported(
        instance_id: &str,
        label: &str,
        status: HostStatus,
        stdout: String,
        stderr: String,
        duration: Duration,
    ) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            label: label.to_owned(),
            status,
            stdout,
            stderr,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A host berth could not even plan a connection to.
    pub fn unplanned(instance_id: &str, label: &str, reason: String) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            label: label.to_owned(),
            status: HostStatus::Unreachable { reason },
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub timed_out: usize,
}

impl Tally {
    pub fn of(hosts: &[HostReport]) -> Self {
        let mut tally = Self::default();
        for host in hosts {
            match host.status {
                HostStatus::Ok => tally.ok += 1,
                HostStatus::Failed { .. } => tally.failed += 1,
                HostStatus::Unreachable { .. } => tally.unreachable += 1,
                HostStatus::TimedOut { .. } => tally.timed_out += 1,
            }
        }
        tally
    }

    /// berth's exit status: 0 when every host ran the command to status
    /// 0, else 1.
    pub fn exit_code(self) -> u8 {
        u8::from(self.failed + self.unreachable + self.timed_out != 0)
    }
}

/// `bytes` with every line prefixed by `prefix`; a last line without a
/// newline gets one, so hosts' output never runs together.
pub fn prefixed(prefix: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + prefix.len() * 4);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(code: Option<i32>, stderr: &str) -> Finished {
        Finished {
            code,
            stderr: stderr.as_bytes().to_vec(),
            duration: Duration::from_millis(20),
            ..Finished::default()
        }
    }

    #[test]
    fn each_way_a_host_can_end() {
        let timeout = Some(Duration::from_secs(5));
        let cases = [
            ("ok", finished(Some(0), ""), HostStatus::Ok),
            (
                "failed",
                finished(Some(3), "disk full\n"),
                HostStatus::Failed { exit_code: 3 },
            ),
            (
                "unreachable",
                finished(
                    Some(255),
                    "ssh: connect to host 10.0.0.9 port 22: Connection refused\r\n",
                ),
                HostStatus::Unreachable {
                    reason: "ssh: connect to host 10.0.0.9 port 22: Connection refused".into(),
                },
            ),
            (
                "255 and silent",
                finished(Some(255), ""),
                HostStatus::Unreachable {
                    reason: "ssh could not connect (exit 255)".into(),
                },
            ),
            (
                "timed out",
                Finished {
                    timed_out: true,
                    ..finished(None, "")
                },
                HostStatus::TimedOut { after_ms: 5000 },
            ),
            (
                "never started",
                Finished {
                    spawn_error: Some("cannot run `ssh`: not found".into()),
                    ..finished(None, "")
                },
                HostStatus::Unreachable {
                    reason: "cannot run `ssh`: not found".into(),
                },
            ),
        ];
        for (case, finished, want) in cases {
            assert_eq!(judge(&finished, timeout), want, "{case}");
        }
    }

    #[test]
    fn any_host_not_ok_fails_the_run() {
        let report = |status| HostReport {
            status,
            ..HostReport::unplanned("i-1", "a", String::new())
        };
        let all_ok = [report(HostStatus::Ok), report(HostStatus::Ok)];
        assert_eq!(Tally::of(&all_ok).exit_code(), 0);
        let one_failed = [
            report(HostStatus::Ok),
            report(HostStatus::Failed { exit_code: 2 }),
            report(HostStatus::Unreachable { reason: "x".into() }),
        ];
        let tally = Tally::of(&one_failed);
        assert_eq!((tally.ok, tally.failed, tally.unreachable), (1, 1, 1));
        assert_eq!(tally.exit_code(), 1);
        assert_eq!(Tally::of(&[]).exit_code(), 0);
    }

    #[test]
    fn output_is_prefixed_line_by_line() {
        assert_eq!(prefixed("a | ", b"one\ntwo\n"), b"a | one\na | two\n");
        assert_eq!(prefixed("a | ", b"no newline"), b"a | no newline\n");
        assert_eq!(prefixed("a | ", b""), b"");
        // Bytes that are not UTF-8 pass through untouched.
        assert_eq!(prefixed("p ", b"\xff\xfe\n"), b"p \xff\xfe\n");
    }
}
