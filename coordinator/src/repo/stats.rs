//! What `/metrics` reads of the farm's state at each scrape.

use crate::db::{Conn, query};

use crate::error::Result;

const TASKS_BY_STATE: &str = "SELECT state, COUNT(*) FROM tasks GROUP BY state";

/// (state, number of tasks) for each state that has tasks.
pub(crate) async fn tasks_by_state(ex: Conn<'_>) -> Result<Vec<(String, i64)>> {
    query(TASKS_BY_STATE).fetch_all(ex).await
}

// Served by the partial index on ready tasks.
const QUEUE_DEPTH: &str = "SELECT COUNT(*) FROM tasks WHERE state = 'ready' AND ready_at_ms <= $1";

/// Tasks a worker could lease at `now_ms` (retries in their backoff not yet).
pub(crate) async fn queue_depth(ex: Conn<'_>, now_ms: i64) -> Result<i64> {
    query(QUEUE_DEPTH).bind(now_ms).scalar(ex).await
}

const LIVE_WORKERS: &str =
    "SELECT device, COUNT(*) FROM workers WHERE last_seen_ms >= $1 GROUP BY device ORDER BY device";

/// (device, number of workers) of the workers seen since `alive_since_ms`.
pub(crate) async fn live_workers_by_device(
    ex: Conn<'_>,
    alive_since_ms: i64,
) -> Result<Vec<(String, i64)>> {
    query(LIVE_WORKERS).bind(alive_since_ms).fetch_all(ex).await
}

const JOB_TIMING: &str = "SELECT kind, created_ms, finished_ms FROM jobs WHERE job_id = $1";

/// (kind, created_ms, finished_ms) of a job, if it exists.
pub(crate) async fn job_timing(ex: Conn<'_>, job_id: &str) -> Result<Option<(String, i64, i64)>> {
    query(JOB_TIMING).bind(job_id).fetch_optional(ex).await
}
