//! The `jobs` table.

use prost::Message;
use sqlx::FromRow;

use crate::db::{Conn, query};
use stylefarm_proto::pb;
use stylefarm_spec::JobSpec;

use crate::domain::JobState;
use crate::error::Result;

/// How a job's spec is stored: its wire encoding, which clients get back
/// as is in `GetJob`.
pub(crate) fn encode_spec(spec: &JobSpec) -> Vec<u8> {
    pb::JobSpec::from(spec).encode_to_vec()
}

/// A row of `jobs`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct JobRow {
    pub(crate) job_id: String,
    pub(crate) spec: Vec<u8>,
    pub(crate) state: String,
    pub(crate) error: String,
    pub(crate) tasks_total: i64,
    pub(crate) tasks_done: i64,
    pub(crate) created_ms: i64,
    pub(crate) finished_ms: i64,
    pub(crate) owner: String,
}

/// The columns a job needs to become a row.
#[derive(Debug)]
pub(crate) struct NewJob<'a> {
    pub(crate) job_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) priority: i32,
    pub(crate) spec: &'a [u8],
    pub(crate) tasks_total: i64,
    pub(crate) created_ms: i64,
    pub(crate) owner: &'a str,
}

/// A job's state and task counters, as events report them.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct JobCounts {
    pub(crate) state: String,
    pub(crate) tasks_done: i64,
    pub(crate) tasks_total: i64,
}

macro_rules! job_columns {
    () => {
        "job_id, spec, state, error, tasks_total, tasks_done, created_ms, finished_ms, owner"
    };
}

const GET: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = $1");
const LIST: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs ORDER BY seq DESC LIMIT $1"
);
const LIST_OF_OWNER: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE owner = $2 ORDER BY seq DESC LIMIT $1"
);

const INSERT: &str = "INSERT INTO jobs \
     (job_id, name, kind, priority, spec, state, tasks_total, created_ms, owner) \
     VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8)";

pub(crate) async fn insert(ex: Conn<'_>, job: &NewJob<'_>) -> Result<()> {
    query(INSERT)
        .bind(job.job_id)
        .bind(job.name)
        .bind(job.kind)
        .bind(job.priority)
        .bind(job.spec)
        .bind(job.tasks_total)
        .bind(job.created_ms)
        .bind(job.owner)
        .execute(ex)
        .await?;
    Ok(())
}

pub(crate) async fn get(ex: Conn<'_>, job_id: &str) -> Result<Option<JobRow>> {
    query(GET).bind(job_id).fetch_optional(ex).await
}

/// Newest first; only `owner`'s when given.
pub(crate) async fn list(ex: Conn<'_>, limit: u32, owner: Option<&str>) -> Result<Vec<JobRow>> {
    let query = match owner {
        Some(owner) => query(LIST_OF_OWNER).bind(i64::from(limit)).bind(owner),
        None => query(LIST).bind(i64::from(limit)),
    };
    query.fetch_all(ex).await
}

const UNFINISHED_OF_OWNER: &str =
    "SELECT COUNT(*) FROM jobs WHERE owner = $1 AND state IN ('queued', 'running')";

/// How many of `owner`'s jobs are queued or running.
pub(crate) async fn unfinished_of(ex: Conn<'_>, owner: &str) -> Result<i64> {
    query(UNFINISHED_OF_OWNER).bind(owner).scalar(ex).await
}

const OWNER: &str = "SELECT owner FROM jobs WHERE job_id = $1";

/// The name of the token that submitted the job; `None` if there is no
/// such job.
pub(crate) async fn owner(ex: Conn<'_>, job_id: &str) -> Result<Option<String>> {
    query(OWNER).bind(job_id).scalar_optional(ex).await
}

const COUNTS: &str = "SELECT state, tasks_done, tasks_total FROM jobs WHERE job_id = $1";

pub(crate) async fn counts(ex: Conn<'_>, job_id: &str) -> Result<Option<JobCounts>> {
    query(COUNTS).bind(job_id).fetch_optional(ex).await
}

const MARK_RUNNING: &str =
    "UPDATE jobs SET state = 'running' WHERE job_id = $1 AND state = 'queued'";

/// Queued → running, when its first task is leased.
pub(crate) async fn mark_running(ex: Conn<'_>, job_id: &str) -> Result<()> {
    query(MARK_RUNNING).bind(job_id).execute(ex).await?;
    Ok(())
}

const FINISH: &str = "UPDATE jobs SET state = $2, error = $3, finished_ms = $4 \
     WHERE job_id = $1 AND state IN ('queued', 'running')";

/// Moves an unfinished job to a terminal state; a finished job is left alone.
/// Returns whether the job changed.
pub(crate) async fn finish(
    ex: Conn<'_>,
    job_id: &str,
    state: JobState,
    error: &str,
    now_ms: i64,
) -> Result<bool> {
    debug_assert!(state.is_terminal());
    let done = query(FINISH)
        .bind(job_id)
        .bind(state.as_str())
        .bind(error)
        .bind(now_ms)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const RETRY_TASKS: &str = "UPDATE tasks SET \
       state = CASE WHEN deps_pending = 0 THEN 'ready' ELSE 'blocked' END, \
       failures = 0, error = '', ready_at_ms = $2, lease_expires_ms = 0 \
     WHERE job_id = $1 AND state IN ('failed', 'cancelled') RETURNING task_id";

const REOPEN: &str = "UPDATE jobs SET state = 'queued', error = '', finished_ms = 0 \
     WHERE job_id = $1 AND state IN ('failed', 'cancelled')";

const FORGIVE_WORKERS: &str = "DELETE FROM worker_job_failures WHERE job_id = $1";

/// A failed or cancelled job back to queued: its failed and cancelled
/// tasks ready (or blocked behind their unfinished dependencies) with no
/// failures counted, and no worker kept away from it any more. Tasks keep
/// their attempt numbers, which fence leases and only grow. Returns the
/// retried tasks' ids; `None` if the job was not failed or cancelled.
pub(crate) async fn retry(
    mut conn: Conn<'_>,
    job_id: &str,
    now_ms: i64,
) -> Result<Option<Vec<String>>> {
    let reopened = query(REOPEN).bind(job_id).execute(conn.re()).await?;
    if reopened != 1 {
        return Ok(None);
    }
    let tasks = query(RETRY_TASKS)
        .bind(job_id)
        .bind(now_ms)
        .scalars(conn.re())
        .await?;
    query(FORGIVE_WORKERS)
        .bind(job_id)
        .execute(conn.re())
        .await?;
    Ok(Some(tasks))
}
