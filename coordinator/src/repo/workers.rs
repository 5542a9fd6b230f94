//! The `workers` and `worker_job_failures` tables.

use sqlx::FromRow;

use crate::db::{Conn, query};

use crate::domain::WorkerSpec;
use crate::error::Result;

/// A row of `workers`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct WorkerRow {
    pub(crate) worker_id: String,
    pub(crate) name: String,
    pub(crate) device: String,
    pub(crate) memory_bytes: i64,
    pub(crate) slots: i64,
    pub(crate) engine_version: String,
    pub(crate) last_seen_ms: i64,
    pub(crate) max_untiled_pixels: i64,
}

const INSERT: &str = "INSERT INTO workers \
     (worker_id, name, device, memory_bytes, slots, engine_version, registered_ms, last_seen_ms, \
      max_untiled_pixels, owner) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Records a worker registered by the token named `owner`.
pub(crate) async fn insert(
    ex: Conn<'_>,
    worker_id: &str,
    w: &WorkerSpec,
    owner: &str,
    now_ms: i64,
) -> Result<()> {
    query(INSERT)
        .bind(worker_id)
        .bind(&w.name)
        .bind(&w.device)
        .bind(i64::try_from(w.memory_bytes).unwrap_or(i64::MAX))
        .bind(i64::from(w.slots))
        .bind(&w.engine_version)
        .bind(now_ms)
        .bind(now_ms)
        .bind(i64::try_from(w.max_untiled_pixels).unwrap_or(i64::MAX))
        .bind(owner)
        .execute(ex)
        .await?;
    Ok(())
}

const OWNER: &str = "SELECT owner FROM workers WHERE worker_id = $1";

/// The name of the token that registered the worker (`""` for workers
/// registered before owners were kept); `None` if it is unknown.
pub(crate) async fn owner(ex: Conn<'_>, worker_id: &str) -> Result<Option<String>> {
    query(OWNER).bind(worker_id).scalar_optional(ex).await
}

const TOUCH: &str = "UPDATE workers SET last_seen_ms = $1 WHERE worker_id = $2";

/// Records that the worker called in; false if it is unknown.
pub(crate) async fn touch(ex: Conn<'_>, worker_id: &str, now_ms: i64) -> Result<bool> {
    let done = query(TOUCH)
        .bind(now_ms)
        .bind(worker_id)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const LIST: &str = "SELECT worker_id, name, device, memory_bytes, slots, engine_version, last_seen_ms, \
     max_untiled_pixels \
     FROM workers ORDER BY registered_ms, worker_id";

pub(crate) async fn list(ex: Conn<'_>) -> Result<Vec<WorkerRow>> {
    query(LIST).fetch_all(ex).await
}

const ADD_FAILURE: &str = "INSERT INTO worker_job_failures (worker_id, job_id, failures) VALUES ($1, $2, 1) \
     ON CONFLICT (worker_id, job_id) DO UPDATE SET failures = worker_job_failures.failures + 1";

/// Counts one more failure of `worker_id` on `job_id`.
pub(crate) async fn add_failure(ex: Conn<'_>, worker_id: &str, job_id: &str) -> Result<()> {
    query(ADD_FAILURE)
        .bind(worker_id)
        .bind(job_id)
        .execute(ex)
        .await?;
    Ok(())
}

const BLOCKED: &str = "SELECT f.worker_id, f.job_id FROM worker_job_failures f \
     JOIN jobs j ON j.job_id = f.job_id \
     WHERE f.failures >= $1 AND j.state IN ('queued', 'running') ORDER BY f.job_id";

/// `(worker, job)` pairs where the worker failed the unfinished job at
/// least `limit` times, so the claim keeps it away from that job.
pub(crate) async fn blocked(ex: Conn<'_>, limit: i64) -> Result<Vec<(String, String)>> {
    query(BLOCKED).bind(limit).fetch_all(ex).await
}
