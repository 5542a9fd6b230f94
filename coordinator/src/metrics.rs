//! The coordinator's Prometheus metrics, served at `GET /metrics` (see
//! [`crate::http`]) through the Prometheus project's client library
//! (`prometheus-client`, OpenMetrics text format).
//!
//! Two sorts: the farm's state (tasks by state, queue depth, live workers by
//! device) is read from the database at each scrape, so every coordinator
//! over one database reports the same numbers; events (lease expirations,
//! retries, task and job durations) are counted by the process that saw
//! them, as Prometheus counters are, and sum across coordinators.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tracing::warn;

use crate::db::now_ms;
use crate::domain::{JobState, TaskState};
use crate::error::{CoordinatorError, Result};
use crate::repo::stats;
use crate::server::Coordinator;

/// A metric's labels: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// Every task state, so that a state with no tasks reads 0 rather than
/// vanishing (an autoscaler reading it would see "no data").
const TASK_STATES: [TaskState; 6] = [
    TaskState::Blocked,
    TaskState::Ready,
    TaskState::Leased,
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::Cancelled,
];

/// The metrics one coordinator process exports.
pub(crate) struct Metrics {
    registry: Registry,
    tasks: Family<Labels, Gauge>,
    queue_depth: Gauge,
    workers: Family<Labels, Gauge>,
    task_duration: Histograms,
    job_duration: Histograms,
    lease_expirations: Counter,
    retries: Counter,
    schedule_fires: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Task attempts: half a second to about 4.5 hours, doubling.
fn task_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 16))
}

/// Jobs: a second to about 18 hours, doubling.
fn job_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 17))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("stylefarm");
        let tasks = Family::<Labels, Gauge>::default();
        registry.register(
            "tasks",
            "Tasks by state (all jobs ever submitted)",
            tasks.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Tasks ready to be leased now (retries still in their backoff excluded)",
            queue_depth.clone(),
        );
        let workers = Family::<Labels, Gauge>::default();
        registry.register(
            "workers",
            "Live workers (seen within three heartbeat intervals) by device",
            workers.clone(),
        );
        let task_duration: Histograms = Family::new_with_constructor(task_buckets);
        registry.register_with_unit(
            "task_duration",
            "Time from lease to completion of succeeded task attempts, by task kind",
            Unit::Seconds,
            task_duration.clone(),
        );
        let job_duration: Histograms = Family::new_with_constructor(job_buckets);
        registry.register_with_unit(
            "job_duration",
            "Time from submission to the end of finished jobs, by job kind and final state",
            Unit::Seconds,
            job_duration.clone(),
        );
        let lease_expirations = Counter::default();
        registry.register(
            "lease_expirations",
            "Leases that ran out because their worker stopped heartbeating",
            lease_expirations.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "task_retries",
            "Task attempts that failed or expired and were queued again",
            retries.clone(),
        );
        let schedule_fires = Family::<Labels, Counter>::default();
        registry.register(
            "schedule_fires",
            "Schedule fire times reached, by outcome: fired (a job submitted), skipped or buffered \
             (overlap), missed (found later than the catch-up window)",
            schedule_fires.clone(),
        );
        Metrics {
            schedule_fires,
            registry,
            tasks,
            queue_depth,
            workers,
            task_duration,
            job_duration,
            lease_expirations,
            retries,
        }
    }

    pub(crate) fn lease_expired(&self) {
        self.lease_expirations.inc();
    }

    pub(crate) fn task_retried(&self) {
        self.retries.inc();
    }

    /// A schedule's fire time was reached and ended as `outcome`.
    pub(crate) fn schedule_fired(&self, outcome: &str) {
        let outcome = if outcome == "pending" {
            "fired"
        } else {
            outcome
        };
        self.schedule_fires
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// A task attempt of `kind` that started at `started_ms` succeeded at `now_ms`.
    pub(crate) fn task_succeeded(&self, kind: &str, started_ms: i64, now_ms: i64) {
        self.task_duration
            .get_or_create(&vec![("kind", kind.to_owned())])
            .observe(seconds_between(started_ms, now_ms));
    }
}

fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    // Milliseconds in a count of seconds: exact enough for a histogram.
    #[allow(clippy::cast_precision_loss)]
    let ms = to_ms.saturating_sub(from_ms).max(0) as f64;
    ms / 1000.0
}

impl Coordinator {
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The metrics in OpenMetrics text format, the farm's state read now.
    pub(crate) async fn render_metrics(&self) -> Result<String> {
        let now = now_ms();
        let alive_since_ms =
            now.saturating_sub(3 * crate::db::millis(self.config().heartbeat_interval));
        let mut conn = self.db().read().await?;
        let by_state = stats::tasks_by_state(conn.conn()).await?;
        let ready_now = stats::queue_depth(conn.conn(), now).await?;
        let by_device = stats::live_workers_by_device(conn.conn(), alive_since_ms).await?;
        drop(conn);
        let metrics = self.metrics();
        for state in TASK_STATES {
            let count = by_state
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            metrics
                .tasks
                .get_or_create(&vec![("state", state.as_str().to_owned())])
                .set(count);
        }
        metrics.queue_depth.set(ready_now);
        // Devices whose last worker left read as absent, not as stale counts.
        metrics.workers.clear();
        for (device, count) in by_device {
            metrics
                .workers
                .get_or_create(&vec![("device", device)])
                .set(count);
        }
        let mut text = String::new();
        encode(&mut text, &metrics.registry)
            .map_err(|e| CoordinatorError::Corrupt(format!("encoding the metrics: {e}")))?;
        Ok(text)
    }

    /// Records how long a job that just ended in `state` took. Best effort:
    /// called after the job's transaction committed, and a failure to read
    /// it is logged, never passed on to the call that ended the job.
    pub(crate) async fn observe_job_end(&self, job_id: &str, state: JobState) {
        let timing = async {
            let mut conn = self.db().read().await?;
            stats::job_timing(conn.conn(), job_id).await
        };
        match timing.await {
            Ok(Some((kind, created_ms, finished_ms))) => {
                self.metrics()
                    .job_duration
                    .get_or_create(&vec![("kind", kind), ("state", state.as_str().to_owned())])
                    .observe(seconds_between(created_ms, finished_ms.max(created_ms)));
            }
            Ok(None) => {}
            Err(e) => {
                warn!(job = job_id, error = %e, "could not read the job's times for /metrics")
            }
        }
    }
}
