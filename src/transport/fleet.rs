//! Runs one host's ssh with its own deadline (the caller runs many at
//! once). Output is collected and, in [`Live::Prefixed`] mode, also written
//! as it arrives, each line prefixed with its host, so a slow host never
//! holds back a fast one. An ssh that cannot start or hangs is recorded as
//! such; it never stops the others.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::fleet::{Finished, prefixed};

use super::process::{Wiring, spawn};

/// One host's command line.
#[derive(Debug, Clone)]
pub struct Job {
    /// Printed before each of its lines in live mode.
    pub prefix: String,
    pub argv: Vec<String>,
}

/// What to print while the hosts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Each line as it arrives, prefixed with its host.
    Prefixed,
    /// Nothing: the caller prints each host's output when it is done.
    Quiet,
}

/// Runs one host's ssh to its end (or `timeout`), collecting its output
/// and, in live mode, handing it line by line to `echo` (the text, and
/// whether it came from stderr).
pub async fn run_one(
    job: &Job,
    timeout: Option<Duration>,
    live: Live,
    echo: &(dyn Fn(&[u8], bool) + Sync),
) -> Finished {
    let started = Instant::now();
    let mut child = match spawn(&job.argv, Wiring::READ_OUTPUT, true) {
        Ok(child) => child,
        Err(e) => {
            return Finished {
                spawn_error: Some(e.to_string()),
                duration: started.elapsed(),
                ..Finished::default()
            };
        }
    };
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let readers = futures::future::join(
        pump(child.stdout.take(), &stdout, live, &job.prefix, echo, false),
        pump(child.stderr.take(), &stderr, live, &job.prefix, echo, true),
    );
    let waited = async {
        readers.await;
        child.wait().await
    };
    let (code, timed_out) = match timeout {
        Some(limit) => match tokio::time::timeout(limit, waited).await {
            Ok(status) => (status.ok().map(super::exit_code), false),
            Err(_) => (None, true),
        },
        None => (waited.await.ok().map(super::exit_code), false),
    };
    if timed_out {
        // kill_on_drop would too; this also reaps it before we report.
        let _ = child.kill().await;
    }
    let take = |buffer: &Arc<Mutex<Vec<u8>>>| {
        std::mem::take(
            &mut *buffer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    };
    Finished {
        code,
        timed_out,
        spawn_error: None,
        stdout: take(&stdout),
        stderr: take(&stderr),
        duration: started.elapsed(),
    }
}

/// Reads a pipe to its end into `buffer`, echoing each line in live mode
/// to `echo`, prefixed, marked as from stdout or stderr.
async fn pump(
    pipe: Option<impl AsyncRead + Unpin>,
    buffer: &Mutex<Vec<u8>>,
    live: Live,
    prefix: &str,
    echo: &(dyn Fn(&[u8], bool) + Sync),
    is_stderr: bool,
) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        match reader.read_until(b'\n', &mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(&chunk);
        if live == Live::Prefixed {
            echo(&prefixed(prefix, &chunk), is_stderr);
        }
    }
}
