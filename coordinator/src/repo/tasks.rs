//! The `tasks`, `task_dependencies` and `attempts` tables.

use sqlx::FromRow;

use crate::db::query::Query;
use crate::db::{Conn, query};

use crate::domain::TaskState;
use crate::error::Result;
use crate::repo::jobs::JobCounts;

/// A row of `tasks`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct TaskRow {
    pub(crate) task_id: String,
    pub(crate) job_id: String,
    pub(crate) kind: String,
    pub(crate) is_final: bool,
    pub(crate) state: String,
    pub(crate) attempt: i64,
    pub(crate) failures: i64,
    pub(crate) worker_id: Option<String>,
    pub(crate) output_keys: String,
    pub(crate) error: String,
    /// The planner's `TaskParams` (protobuf), empty for a whole-spec task.
    pub(crate) params: Vec<u8>,
}

macro_rules! task_columns {
    () => {
        "task_id, job_id, kind, is_final, state, attempt, failures, worker_id, output_keys, error, params"
    };
}

/// The columns a planned task needs to become a row.
#[derive(Debug)]
pub(crate) struct NewTask<'a> {
    pub(crate) task_id: &'a str,
    pub(crate) job_id: &'a str,
    pub(crate) ordinal: i64,
    pub(crate) kind: &'a str,
    pub(crate) priority: i32,
    pub(crate) is_final: bool,
    pub(crate) deps_pending: i64,
    pub(crate) now_ms: i64,
    pub(crate) params: &'a [u8],
}

const INSERT: &str = "INSERT INTO tasks \
     (task_id, job_id, ordinal, kind, priority, is_final, state, deps_pending, ready_at_ms, params) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(crate) async fn insert(ex: Conn<'_>, t: &NewTask<'_>) -> Result<()> {
    let state = if t.deps_pending == 0 {
        TaskState::Ready
    } else {
        TaskState::Blocked
    };
    query(INSERT)
        .bind(t.task_id)
        .bind(t.job_id)
        .bind(t.ordinal)
        .bind(t.kind)
        .bind(t.priority)
        .bind(t.is_final)
        .bind(state.as_str())
        .bind(t.deps_pending)
        .bind(t.now_ms)
        .bind(t.params)
        .execute(ex)
        .await?;
    Ok(())
}

const INSERT_DEPENDENCY: &str =
    "INSERT INTO task_dependencies (task_id, depends_on) VALUES ($1, $2)";

pub(crate) async fn insert_dependency(ex: Conn<'_>, task_id: &str, depends_on: &str) -> Result<()> {
    query(INSERT_DEPENDENCY)
        .bind(task_id)
        .bind(depends_on)
        .execute(ex)
        .await?;
    Ok(())
}

const GET: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE task_id = $1");

pub(crate) async fn get(ex: Conn<'_>, task_id: &str) -> Result<Option<TaskRow>> {
    query(GET).bind(task_id).fetch_optional(ex).await
}

const OF_JOB: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE job_id = $1 ORDER BY ordinal"
);

/// A job's tasks in plan order.
pub(crate) async fn of_job(ex: Conn<'_>, job_id: &str) -> Result<Vec<TaskRow>> {
    query(OF_JOB).bind(job_id).fetch_all(ex).await
}

const FINAL_OUTPUTS: &str =
    "SELECT output_keys FROM tasks WHERE job_id = $1 AND is_final = $2 ORDER BY ordinal";

/// The output key lists (JSON) of a job's final tasks, in plan order.
pub(crate) async fn final_outputs(ex: Conn<'_>, job_id: &str) -> Result<Vec<String>> {
    query(FINAL_OUTPUTS)
        .bind(job_id)
        .bind(true)
        .scalars(ex)
        .await
}

// The claim: the best ready task (highest priority, then submission and plan
// order: `seq`) whose backoff is over, skipping jobs the worker failed `$4`
// times, unless no other live worker ($5 = alive since) could take them, in
// which case blocking would stall the job.
macro_rules! pick {
    () => {
        "SELECT t.seq FROM tasks t \
         WHERE t.state = 'ready' AND t.ready_at_ms <= $3 \
           AND NOT EXISTS ( \
             SELECT 1 FROM worker_job_failures f \
             WHERE f.worker_id = $1 AND f.job_id = t.job_id AND f.failures >= $4 \
               AND EXISTS ( \
                 SELECT 1 FROM workers w \
                 WHERE w.worker_id <> $1 AND w.last_seen_ms >= $5 \
                   AND NOT EXISTS ( \
                     SELECT 1 FROM worker_job_failures g \
                     WHERE g.worker_id = w.worker_id AND g.job_id = t.job_id AND g.failures >= $4))) \
         ORDER BY t.priority DESC, t.seq LIMIT 1"
    };
}

// Two statements sent as one (one round trip to SQLite's thread): the
// attempt is logged, then the task leased. Both pick the same row: nothing
// the pick reads changes in between, and its order is total.
macro_rules! claim {
    () => {
        concat!(
            "INSERT INTO attempts (task_id, attempt, worker_id, started_ms) \
             SELECT task_id, attempt + 1, $1, $3 FROM tasks WHERE seq = (",
            pick!(),
            "); UPDATE tasks SET state = 'leased', attempt = attempt + 1, worker_id = $1, lease_expires_ms = $2 \
             WHERE seq = (",
            pick!(),
            ") RETURNING ",
            task_columns!()
        )
    };
}

const CLAIM: &str = claim!();
/// The claim as a whole transaction, for `Db::write_manual`.
const CLAIM_TX: &str = concat!("BEGIN IMMEDIATE; ", claim!(), "; COMMIT");

// PostgreSQL: one statement (it cannot prepare a list), the pick locking its
// row so that another coordinator's claim skips it instead of waiting, and
// no write lock: two coordinators claim side by side.
macro_rules! claim_postgres {
    () => {
        concat!(
            "WITH picked AS (",
            pick!(),
            " FOR UPDATE OF t SKIP LOCKED), \
             leased AS (UPDATE tasks SET state = 'leased', attempt = attempt + 1, worker_id = $1, \
               lease_expires_ms = $2 WHERE seq = (SELECT seq FROM picked) RETURNING ",
            task_columns!(),
            "), logged AS (INSERT INTO attempts (task_id, attempt, worker_id, started_ms) \
               SELECT task_id, attempt, $1, $3 FROM leased) \
             SELECT ",
            task_columns!(),
            " FROM leased"
        )
    };
}

const CLAIM_POSTGRES: &str = claim_postgres!();
/// One statement is a transaction of its own: no `BEGIN`/`COMMIT` round
/// trips.
const CLAIM_TX_POSTGRES: &str = claim_postgres!();

/// What a claim needs to know besides the time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claimer<'a> {
    pub(crate) worker_id: &'a str,
    pub(crate) deadline_ms: i64,
    /// Failures of one job after which the worker is kept away from it.
    pub(crate) block_after: i64,
    /// Workers seen since then count as alive.
    pub(crate) alive_since_ms: i64,
}

/// Leases the best ready task to the claimer and logs the attempt, inside
/// the caller's transaction; returns the task as leased.
pub(crate) async fn claim(ex: Conn<'_>, c: &Claimer<'_>, now_ms: i64) -> Result<Option<TaskRow>> {
    let sql = if ex.is_postgres() {
        CLAIM_POSTGRES
    } else {
        CLAIM
    };
    claim_with(sql, ex, c, now_ms).await
}

/// [`claim`] as a transaction of its own, begun and committed in the same
/// round trip (`Db::write_manual`).
pub(crate) async fn claim_tx(
    ex: Conn<'_>,
    c: &Claimer<'_>,
    now_ms: i64,
) -> Result<Option<TaskRow>> {
    let sql = if ex.is_postgres() {
        CLAIM_TX_POSTGRES
    } else {
        CLAIM_TX
    };
    claim_with(sql, ex, c, now_ms).await
}

async fn claim_with(
    sql: &str,
    ex: Conn<'_>,
    c: &Claimer<'_>,
    now_ms: i64,
) -> Result<Option<TaskRow>> {
    // `fetch_all`: a statement list runs to its end only if all its rows are
    // asked for.
    let rows = query(sql)
        .bind(c.worker_id)
        .bind(c.deadline_ms)
        .bind(now_ms)
        .bind(c.block_after)
        .bind(c.alive_since_ms)
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().next())
}

const NEXT_DUE: &str = "SELECT MIN(due) FROM ( \
       SELECT MIN(ready_at_ms) AS due FROM tasks WHERE state = 'ready' AND ready_at_ms > $1 \
       UNION ALL \
       SELECT MIN(lease_expires_ms) AS due FROM tasks WHERE state = 'leased' \
     ) AS d";

/// The next time something may become leasable: a retry's backoff ending or
/// a lease expiring.
pub(crate) async fn next_due(ex: Conn<'_>, now_ms: i64) -> Result<Option<i64>> {
    query(NEXT_DUE).bind(now_ms).scalar(ex).await
}

const FIRST_EXPIRY: &str = "SELECT MIN(lease_expires_ms) FROM tasks WHERE state = 'leased'";

/// The earliest lease deadline, if any task is leased.
pub(crate) async fn first_expiry(ex: Conn<'_>) -> Result<Option<i64>> {
    query(FIRST_EXPIRY).scalar(ex).await
}

const EXTEND_LEASES: &str = "UPDATE tasks SET lease_expires_ms = $1 \
     WHERE state = 'leased' AND lease_expires_ms < $1";

/// Moves every lease deadline earlier than `until_ms` to it; returns how
/// many leases moved.
pub(crate) async fn extend_leases(ex: Conn<'_>, until_ms: i64) -> Result<u64> {
    query(EXTEND_LEASES).bind(until_ms).execute(ex).await
}

const EXPIRED: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE state = 'leased' AND lease_expires_ms <= $1 ORDER BY lease_expires_ms LIMIT $2"
);

/// Leased tasks whose worker stopped heartbeating.
pub(crate) async fn expired(ex: Conn<'_>, now_ms: i64, limit: i64) -> Result<Vec<TaskRow>> {
    query(EXPIRED).bind(now_ms).bind(limit).fetch_all(ex).await
}

// Every update of a leased task is fenced by (attempt, worker): a call from
// an attempt that lost its lease changes nothing. The fence is always
// $1..$3, see `Fence::bind`.

/// The attempt a fenced update must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fence<'a> {
    pub(crate) task_id: &'a str,
    pub(crate) attempt: i64,
    pub(crate) worker_id: &'a str,
}

impl Fence<'_> {
    /// `sql` with the fence bound as `$1..$3`.
    fn query<'q>(&self, sql: &'q str) -> Query<'q>
    where
        Self: 'q,
    {
        query(sql)
            .bind(self.task_id)
            .bind(self.attempt)
            .bind(self.worker_id)
    }
}

// The fence of a report holds for the attempt that holds the lease, and
// also for one whose lease expired while no newer attempt has taken the task
// (it waits, ready, to be leased again): that attempt's work is as good as a
// new one's, so its heartbeat takes the lease back and its completion is
// accepted, rather than the picture being rendered again. Reaping had counted
// the expiry as a failure; a resumed attempt takes that back.
macro_rules! holds_or_resumes {
    () => {
        "(state = 'leased' OR (state = 'ready' AND EXISTS (SELECT 1 FROM attempts a \
          WHERE a.task_id = tasks.task_id AND a.attempt = tasks.attempt AND a.outcome = 'expired')))"
    };
}

macro_rules! resumed_failures {
    () => {
        "failures = CASE WHEN state = 'ready' AND failures > 0 THEN failures - 1 ELSE failures END"
    };
}

// Two statements, one round trip: the lease moves on (or is taken back),
// and a taken-back attempt runs again in the attempts log.
const EXTEND: &str = concat!(
    "UPDATE tasks SET lease_expires_ms = $4, state = 'leased', ",
    resumed_failures!(),
    ", error = CASE WHEN state = 'ready' THEN '' ELSE error END \
     WHERE task_id = $1 AND attempt = $2 AND worker_id = $3 AND ",
    holds_or_resumes!(),
    " RETURNING ",
    task_columns!(),
    "; UPDATE attempts SET outcome = 'running', ended_ms = 0, error = '' \
     WHERE task_id = $1 AND attempt = $2 AND outcome = 'expired' \
       AND EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = $1 AND t.attempt = $2 \
         AND t.worker_id = $3 AND t.state = 'leased')"
);

/// Extends the lease (taking back an expired one that no newer attempt
/// took); returns the task if the fence held.
pub(crate) async fn extend(
    ex: Conn<'_>,
    at: &Fence<'_>,
    expires_ms: i64,
) -> Result<Option<TaskRow>> {
    // `fetch_all`: the second statement runs only if the rows are read on.
    let rows = at.query(EXTEND).bind(expires_ms).fetch_all(ex).await?;
    Ok(rows.into_iter().next())
}

/// What completing a task tells about it.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct Succeeded {
    pub(crate) job_id: String,
    pub(crate) kind: String,
    pub(crate) has_dependents: bool,
    /// When the succeeding attempt was leased (unix ms).
    pub(crate) started_ms: i64,
}

macro_rules! succeed {
    () => {
        concat!(
            "UPDATE tasks SET state = 'succeeded', output_keys = $4, error = '', lease_expires_ms = 0, ",
            resumed_failures!(),
            " WHERE task_id = $1 AND attempt = $2 AND worker_id = $3 AND ",
            holds_or_resumes!(),
            " RETURNING job_id, kind, \
           EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on = tasks.task_id) AS has_dependents, \
           (SELECT a.started_ms FROM attempts a \
             WHERE a.task_id = tasks.task_id AND a.attempt = tasks.attempt) AS started_ms"
        )
    };
}

/// Begins the transaction and marks the task succeeded if the fence holds,
/// in one round trip (`Db::write_manual`).
const BEGIN_SUCCEED: &str = concat!("BEGIN IMMEDIATE; ", succeed!());

/// Begins the transaction (see [`BEGIN_SUCCEED`]) and marks the task
/// succeeded if the fence holds. The transaction stays open either way.
pub(crate) async fn begin_succeed(
    ex: Conn<'_>,
    at: &Fence<'_>,
    output_keys: &str,
) -> Result<Option<Succeeded>> {
    let rows = at
        .query(BEGIN_SUCCEED)
        .bind(output_keys)
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().next())
}

// After a task succeeded (two statements, one round trip): its attempt
// ends, and its job counts one more task done, succeeding with the last one
// (on the right-hand side of SET, columns read the old row).
macro_rules! record_success {
    () => {
        "UPDATE attempts SET outcome = 'succeeded', ended_ms = $3 \
           WHERE task_id = $1 AND attempt = $2 AND outcome IN ('running', 'expired'); \
         UPDATE jobs SET tasks_done = tasks_done + 1, \
           state = CASE WHEN tasks_done + 1 >= tasks_total THEN 'succeeded' ELSE state END, \
           finished_ms = CASE WHEN tasks_done + 1 >= tasks_total THEN $3 ELSE finished_ms END \
         WHERE job_id = $4 AND state IN ('queued', 'running') \
         RETURNING state, tasks_done, tasks_total"
    };
}

const RECORD_SUCCESS: &str = record_success!();
const RECORD_SUCCESS_COMMIT: &str = concat!(record_success!(), "; COMMIT");

/// Ends the succeeded attempt and counts the task done; returns the job's
/// new counters and state (none if the job was not running). With `commit`,
/// the same round trip commits the transaction.
pub(crate) async fn record_success(
    ex: Conn<'_>,
    task_id: &str,
    attempt: i64,
    job_id: &str,
    now_ms: i64,
    commit: bool,
) -> Result<Option<JobCounts>> {
    let sql = if commit {
        RECORD_SUCCESS_COMMIT
    } else {
        RECORD_SUCCESS
    };
    let rows = query(sql)
        .bind(task_id)
        .bind(attempt)
        .bind(now_ms)
        .bind(job_id)
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().next())
}

const REQUEUE: &str = "UPDATE tasks SET state = 'ready', failures = $4, ready_at_ms = $5, error = $6, \
     lease_expires_ms = 0 \
     WHERE task_id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'leased'";

/// Back to ready (a retry after `ready_at_ms`, or a release).
pub(crate) async fn requeue(
    ex: Conn<'_>,
    at: &Fence<'_>,
    failures: i64,
    ready_at_ms: i64,
    error: &str,
) -> Result<bool> {
    let done = at
        .query(REQUEUE)
        .bind(failures)
        .bind(ready_at_ms)
        .bind(error)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const FAIL: &str = "UPDATE tasks SET state = 'failed', failures = $4, error = $5, lease_expires_ms = 0 \
     WHERE task_id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'leased'";

pub(crate) async fn fail(ex: Conn<'_>, at: &Fence<'_>, failures: i64, error: &str) -> Result<bool> {
    let done = at
        .query(FAIL)
        .bind(failures)
        .bind(error)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const CANCEL_UNFINISHED: &str = "UPDATE tasks SET state = 'cancelled', lease_expires_ms = 0 \
     WHERE job_id = $1 AND state IN ('blocked', 'ready', 'leased') RETURNING task_id";

/// Cancels every task of a job that has not finished; returns their ids.
pub(crate) async fn cancel_unfinished(ex: Conn<'_>, job_id: &str) -> Result<Vec<String>> {
    query(CANCEL_UNFINISHED).bind(job_id).scalars(ex).await
}

const DECREMENT_DEPENDENTS: &str = "UPDATE tasks SET deps_pending = deps_pending - 1 \
     WHERE state = 'blocked' AND task_id IN (SELECT task_id FROM task_dependencies WHERE depends_on = $1)";

const UNBLOCK_DEPENDENTS: &str = "UPDATE tasks SET state = 'ready', ready_at_ms = $2 \
     WHERE state = 'blocked' AND deps_pending = 0 \
       AND task_id IN (SELECT task_id FROM task_dependencies WHERE depends_on = $1) \
     RETURNING task_id";

/// `task_id` succeeded: its dependents have one dependency less, and those
/// with none left become ready. Returns the newly ready task ids.
pub(crate) async fn unblock_dependents(
    mut conn: Conn<'_>,
    task_id: &str,
    now_ms: i64,
) -> Result<Vec<String>> {
    query(DECREMENT_DEPENDENTS)
        .bind(task_id)
        .execute(conn.re())
        .await?;
    query(UNBLOCK_DEPENDENTS)
        .bind(task_id)
        .bind(now_ms)
        .scalars(conn.re())
        .await
}

/// The tasks each worker holds now, as (worker, task) pairs.
const LEASE_EXPIRES: &str = "SELECT lease_expires_ms FROM tasks WHERE task_id = $1";

/// When the task's lease runs out (unix ms; 0 when not leased).
pub(crate) async fn lease_expires(ex: Conn<'_>, task_id: &str) -> Result<i64> {
    Ok(query(LEASE_EXPIRES)
        .bind(task_id)
        .scalar_optional(ex)
        .await?
        .unwrap_or(0))
}

const LEASED: &str = "SELECT worker_id, task_id FROM tasks WHERE state = 'leased' ORDER BY seq";

pub(crate) async fn leased(ex: Conn<'_>) -> Result<Vec<(String, String)>> {
    query(LEASED).fetch_all(ex).await
}

// ------------------------------------------------------------------ attempts

const END_ATTEMPT: &str = "UPDATE attempts SET outcome = $3, error = $4, ended_ms = $5 \
     WHERE task_id = $1 AND attempt = $2 AND outcome = 'running'";

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Failed,
    Expired,
    Released,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Released => "released",
        }
    }
}

pub(crate) async fn end_attempt(
    ex: Conn<'_>,
    task_id: &str,
    attempt: i64,
    outcome: Outcome,
    error: &str,
    now_ms: i64,
) -> Result<()> {
    query(END_ATTEMPT)
        .bind(task_id)
        .bind(attempt)
        .bind(outcome.as_str())
        .bind(error)
        .bind(now_ms)
        .execute(ex)
        .await?;
    Ok(())
}

const CANCEL_ATTEMPTS: &str = "UPDATE attempts SET outcome = 'cancelled', ended_ms = $2 \
     WHERE outcome = 'running' AND task_id IN (SELECT task_id FROM tasks WHERE job_id = $1)";

/// Marks the running attempts of a job's tasks as cancelled.
pub(crate) async fn cancel_attempts(ex: Conn<'_>, job_id: &str, now_ms: i64) -> Result<()> {
    query(CANCEL_ATTEMPTS)
        .bind(job_id)
        .bind(now_ms)
        .execute(ex)
        .await?;
    Ok(())
}
