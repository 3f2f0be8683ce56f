//! A Python stand-in run as a child for one test (`fault_proxy.py`,
//! `ssm_standin.py`): started from the project's virtualenv with its
//! arguments and a JSON-lines log in a temporary directory, ready once its
//! first line (JSON) is read, and stopped when dropped (its stdin closed,
//! then waited for).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The Python that runs the stand-ins: `$BERTH_TEST_PYTHON`, else the
/// project's virtualenv (which `scripts/setup` makes).
pub fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("BERTH_TEST_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from)
}

pub struct PythonHelper {
    /// What the helper printed when it was ready.
    pub ready: serde_json::Value,
    /// Its JSON-lines log.
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    _dir: tempfile::TempDir,
}

impl PythonHelper {
    /// Runs `tests/support/SCRIPT ARGS… --log LOG` and waits for its ready line.
    pub fn start(script: &str, args: &[String]) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = python();
        let dir = tempfile::tempdir().expect("helper dir");
        let log = dir.path().join(format!("{script}.log"));
        let mut child = Command::new(&python)
            .arg(root.join("tests/support").join(script))
            .args(args)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script} with {}: {e}", python.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{script}'s first line: {e}"));
        let ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{script} did not start ({e}): {line:?}"));
        Self {
            ready,
            log,
            stdin: child.stdin.take(),
            child,
            _dir: dir,
        }
    }

    /// Where it listens, as its ready line says.
    pub fn endpoint(&self) -> String {
        self.ready["endpoint"]
            .as_str()
            .expect("endpoint")
            .to_owned()
    }

    /// Its log's lines so far (a line still being written is skipped).
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for PythonHelper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
