//! Counting AWS calls: an SDK interceptor that records when each operation
//! started and ended, and the arithmetic behind `--stats`.
//!
//! "Round trips" is measured, not declared: it is the length of the longest
//! chain of calls in which each call started only after the previous one
//! had answered. Calls that overlap count once, so it is exactly the number
//! of sequential waits on the critical path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// One finished AWS operation (all its retries included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `service:Operation`, e.g. `ec2:DescribeInstances`.
    pub operation: String,
    pub start: Duration,
    pub end: Duration,
}

/// Everything `--stats` reports, shared by every client of one run.
#[derive(Debug)]
pub struct CallLog {
    epoch: Instant,
    calls: Mutex<Vec<Call>>,
    phases: Mutex<Vec<(String, Duration)>>,
}

impl Default for CallLog {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            calls: Mutex::default(),
            phases: Mutex::default(),
        }
    }
}

impl CallLog {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn since_epoch(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn record(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }

    /// Records the wall time of a named phase (resolve, plan, …).
    pub fn phase(&self, name: &str, took: Duration) {
        self.phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), took));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `--stats` report; its last line is the machine-readable summary.
    pub fn report(&self) -> String {
        let calls = self.calls();
        let mut per_op: BTreeMap<&str, usize> = BTreeMap::new();
        for call in &calls {
            *per_op.entry(call.operation.as_str()).or_default() += 1;
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
            calls.len(),
            round_trips(&calls),
            self.since_epoch().as_millis()
        );
        out
    }
}

/// The longest chain of calls where each starts after the previous ended.
pub fn round_trips(calls: &[Call]) -> usize {
    let mut by_end: Vec<&Call> = calls.iter().collect();
    by_end.sort_by_key(|c| (c.end, c.start));
    let mut depth = vec![0usize; by_end.len()];
    for i in 0..by_end.len() {
        let before = (0..i)
            .filter(|&j| by_end[j].end <= by_end[i].start)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth[i] = before + 1;
    }
    depth.into_iter().max().unwrap_or(0)
}

/// The SDK interceptor that feeds a [`CallLog`].
#[derive(Debug, Clone)]
pub struct CallCounter {
    log: Arc<CallLog>,
}

impl CallCounter {
    pub fn new(log: Arc<CallLog>) -> Self {
        Self { log }
    }
}

#[derive(Debug, Clone)]
struct CallStart(Duration);

impl Storable for CallStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "berth::CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(CallStart(self.log.since_epoch()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let end = self.log.since_epoch();
        let start = cfg.load::<CallStart>().map_or(end, |s| s.0);
        let operation = cfg.load::<Metadata>().map_or_else(
            || "unknown".to_owned(),
            |m| format!("{}:{}", m.service().to_ascii_lowercase(), m.name()),
        );
        self.log.record(Call {
            operation,
            start,
            end,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: u64, end: u64) -> Call {
        Call {
            operation: "x".into(),
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
        }
    }

    #[test]
    fn round_trips_count_only_sequential_waits() {
        let table: Vec<(Vec<Call>, usize)> = vec![
            (vec![], 0),
            (vec![call(0, 10)], 1),
            // two overlapping calls are one round trip
            (vec![call(0, 10), call(1, 12)], 1),
            // a chain of three
            (vec![call(0, 10), call(10, 20), call(21, 30)], 3),
            // list → describe → (instances ‖ images)
            (vec![call(0, 5), call(6, 9), call(10, 20), call(10, 15)], 3),
            // a call that overlaps its would-be predecessor does not chain
            (vec![call(0, 10), call(9, 20)], 1),
        ];
        for (calls, expected) in table {
            assert_eq!(round_trips(&calls), expected, "{calls:?}");
        }
    }

    #[test]
    fn report_ends_with_the_summary_line() {
        let log = CallLog::default();
        log.record(Call {
            operation: "ec2:DescribeInstances".into(),
            start: Duration::ZERO,
            end: Duration::from_millis(3),
        });
        log.record(Call {
            operation: "ec2:DescribeImages".into(),
            start: Duration::from_millis(4),
            end: Duration::from_millis(5),
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
