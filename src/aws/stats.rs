//! Counting AWS calls for `--stats`: an SDK interceptor that counts each
//! operation, and a record of how deep the chain of dependent calls went.
//!
//! "Round trips" is the length of the critical path: a call made after
//! another call's answer was awaited is one deeper than it; calls made side
//! by side ([`branch`], [`spawn_branch`]) share a depth, and whatever follows
//! them continues from the deepest. The depth travels with the code that
//! runs (a task-local scoped per branch), so it counts what the code waits
//! for, not what a busy server happened to serialise.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    /// Sequential AWS round trips behind the code running now.
    static DEPTH: Cell<usize>;
}

/// Everything `--stats` reports, shared by every client of one run.
#[derive(Debug)]
pub struct CallLog {
    epoch: Instant,
    operations: Mutex<Vec<String>>,
    deepest: AtomicUsize,
    phases: Mutex<Vec<(String, Duration)>>,
}

impl Default for CallLog {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            operations: Mutex::default(),
            deepest: AtomicUsize::new(0),
            phases: Mutex::default(),
        }
    }
}

impl CallLog {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn record(&self, operation: String) {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(operation);
    }

    /// Records the wall time of a named phase (resolve, plan, …).
    pub fn phase(&self, name: &str, took: Duration) {
        self.phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), took));
    }

    /// The number of AWS operations made so far.
    pub fn calls(&self) -> usize {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The longest chain of dependent calls so far.
    pub fn round_trips(&self) -> usize {
        self.deepest.load(Ordering::Relaxed)
    }

    /// Runs one AWS request as a step of the critical path: one deeper than
    /// what the running code has awaited so far.
    pub async fn step<T>(&self, request: impl Future<Output = T>) -> T {
        let depth = current_depth() + 1;
        let out = request.await;
        self.deepest.fetch_max(depth, Ordering::Relaxed);
        reach(depth);
        out
    }

    /// The `--stats` report; its last line is the machine-readable summary.
    pub fn report(&self) -> String {
        let mut per_op: BTreeMap<String, usize> = BTreeMap::new();
        for op in self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            *per_op.entry(op.clone()).or_default() += 1;
        }
        let mut out = String::new();
        for (op, n) in &per_op {
            let _ = writeln!(out, "stats: call {op} x{n}");
        }
        for (name, took) in self
            .phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "stats: phase {name} {}ms", took.as_millis());
        }
        let _ = write!(
            out,
            "stats: calls={} round_trips={} wall_ms={}",
            self.calls(),
            self.round_trips(),
            self.epoch.elapsed().as_millis()
        );
        out
    }
}

fn current_depth() -> usize {
    DEPTH.try_with(Cell::get).unwrap_or(0)
}

/// The code running now has waited for `depth` round trips.
fn reach(depth: usize) {
    let _ = DEPTH.try_with(|d| d.set(d.get().max(depth)));
}

/// Runs `work` with depth tracking; the root of every command.
pub async fn tracked<F: Future>(work: F) -> F::Output {
    DEPTH.scope(Cell::new(0), work).await
}

/// Runs `work` as one of several things done side by side: it starts at the
/// current depth, and the caller continues from where the branch ended.
/// Wrap each future given to `join!`/`try_join_all` in one.
pub async fn branch<F: Future>(work: F) -> F::Output {
    let (out, end) = DEPTH
        .scope(Cell::new(current_depth()), async {
            let out = work.await;
            (out, current_depth())
        })
        .await;
    reach(end);
    out
}

/// `try_join_all`, each future a [`branch`]: batches sent side by side.
pub async fn try_join_branches<I, F, T, E>(work: I) -> Result<Vec<T>, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    futures::future::try_join_all(work.into_iter().map(branch)).await
}

/// Like [`branch`], on a task of its own; it starts running at once.
pub fn spawn_branch<F>(
    work: F,
) -> impl Future<Output = Result<F::Output, tokio::task::JoinError>> + use<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::spawn(DEPTH.scope(Cell::new(current_depth()), async move {
        let out = work.await;
        (out, current_depth())
    }));
    async move {
        let (out, end) = handle.await?;
        reach(end);
        Ok(out)
    }
}

/// The SDK interceptor that counts operations into a [`CallLog`].
#[derive(Debug, Clone)]
pub struct CallCounter {
    log: Arc<CallLog>,
}

impl CallCounter {
    pub fn new(log: Arc<CallLog>) -> Self {
        Self { log }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "berth::CallCounter"
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or_else(
            || "unknown".to_owned(),
            |m| {
                // "EC2 Instance Connect" reads as its IAM prefix, ec2-instance-connect.
                let service = m.service().to_ascii_lowercase().replace(' ', "-");
                format!("{service}:{}", m.name())
            },
        );
        self.log.record(operation);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for one AWS request that answers after `ms`.
    async fn call(log: &CallLog, ms: u64) {
        log.step(tokio::time::sleep(Duration::from_millis(ms)))
            .await;
    }

    fn run<F: Future>(work: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(tracked(work))
    }

    #[test]
    fn sequential_calls_add_up() {
        let log = CallLog::default();
        run(async {
            call(&log, 1).await;
            call(&log, 1).await;
            call(&log, 1).await;
        });
        assert_eq!(log.round_trips(), 3);
    }

    #[test]
    fn branches_share_a_depth_and_the_deepest_continues() {
        let log = CallLog::default();
        run(async {
            // (A → B) ‖ C, then D: D waits for both, so the path is A, B, D.
            // C answers last on purpose; timing must not matter.
            tokio::join!(
                branch(async {
                    call(&log, 1).await;
                    call(&log, 1).await;
                }),
                branch(call(&log, 20)),
            );
            call(&log, 1).await;
        });
        assert_eq!(log.round_trips(), 3);
    }

    #[test]
    fn independent_calls_that_happen_in_sequence_are_still_parallel() {
        let log = CallLog::default();
        run(async {
            // B's one call starts only after A's two have answered (as when
            // a server serialises requests), but B never waited for A: the
            // critical path is A's two calls, not three.
            tokio::join!(
                branch(async {
                    call(&log, 1).await;
                    call(&log, 1).await;
                }),
                branch(async {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    call(&log, 1).await;
                }),
            );
        });
        assert_eq!(log.round_trips(), 2);
    }

    #[test]
    fn spawned_branches_carry_their_depth_back() {
        let log = Arc::new(CallLog::default());
        let log2 = Arc::clone(&log);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(tracked(async move {
                call(&log2, 1).await; // a page
                let inner = Arc::clone(&log2);
                let described = spawn_branch(async move { call(&inner, 1).await });
                call(&log2, 1).await; // the next page, meanwhile
                described.await.expect("join");
                call(&log2, 1).await; // after both
            }));
        assert_eq!(log.round_trips(), 3);
    }

    #[test]
    fn report_ends_with_the_summary_line() {
        let log = CallLog::default();
        log.record("ec2:DescribeInstances".into());
        log.record("ec2:DescribeImages".into());
        run(async {
            call(&log, 1).await;
            call(&log, 1).await;
        });
        let report = log.report();
        let last = report.lines().last().expect("a line");
        assert!(
            last.starts_with("stats: calls=2 round_trips=2 wall_ms="),
            "{report}"
        );
        assert!(
            report.contains("stats: call ec2:DescribeImages x1"),
            "{report}"
        );
    }
}
