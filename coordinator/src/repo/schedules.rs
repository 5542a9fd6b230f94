//! Schedules and their fires (migrations 0006 and 0007).

use sqlx::FromRow;

use crate::db::{Conn, query};

use crate::error::Result;

/// A row of `schedules`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct ScheduleRow {
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) cron: String,
    pub(crate) time_zone: String,
    pub(crate) template: Vec<u8>,
    pub(crate) overlap: String,
    pub(crate) catch_up_ms: i64,
    pub(crate) seed_from_fire_time: bool,
    pub(crate) paused: bool,
    pub(crate) created_ms: i64,
    pub(crate) next_fire_ms: i64,
    pub(crate) buffered_fire_ms: i64,
    /// Series inputs (`files/<owner>/<prefix>`); '' = the template's photos.
    pub(crate) inputs_prefix: String,
    pub(crate) inputs_newest: i64,
}

macro_rules! schedule_columns {
    () => {
        "name, owner, cron, time_zone, template, overlap, catch_up_ms, seed_from_fire_time, \
         paused, created_ms, next_fire_ms, buffered_fire_ms, inputs_prefix, inputs_newest"
    };
}

/// A row of `schedule_fires`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct FireRow {
    pub(crate) name: String,
    pub(crate) fire_ms: i64,
    pub(crate) outcome: String,
    pub(crate) job_id: String,
    pub(crate) error: String,
    pub(crate) manual: bool,
}

const INSERT: &str = concat!(
    "INSERT INTO schedules (",
    schedule_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (name) DO NOTHING"
);

/// Stores a new schedule; false if the name is taken.
pub(crate) async fn insert(ex: Conn<'_>, s: &ScheduleRow) -> Result<bool> {
    let done = query(INSERT)
        .bind(&s.name)
        .bind(&s.owner)
        .bind(&s.cron)
        .bind(&s.time_zone)
        .bind(&s.template)
        .bind(&s.overlap)
        .bind(s.catch_up_ms)
        .bind(s.seed_from_fire_time)
        .bind(s.paused)
        .bind(s.created_ms)
        .bind(s.next_fire_ms)
        .bind(s.buffered_fire_ms)
        .bind(&s.inputs_prefix)
        .bind(s.inputs_newest)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const GET: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE name = $1"
);

pub(crate) async fn get(ex: Conn<'_>, name: &str) -> Result<Option<ScheduleRow>> {
    query(GET).bind(name).fetch_optional(ex).await
}

const LIST: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE $1 IS NULL OR owner = $1 ORDER BY name"
);

/// Every schedule, or those of `owner`.
pub(crate) async fn list(ex: Conn<'_>, owner: Option<&str>) -> Result<Vec<ScheduleRow>> {
    query(LIST).bind(owner).fetch_all(ex).await
}

const DUE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE NOT paused AND (next_fire_ms <= $1 OR buffered_fire_ms <> 0) \
     ORDER BY next_fire_ms LIMIT $2"
);

/// Schedules with a fire time at or before `now_ms`, or a buffered fire.
pub(crate) async fn due(ex: Conn<'_>, now_ms: i64, limit: i64) -> Result<Vec<ScheduleRow>> {
    query(DUE).bind(now_ms).bind(limit).fetch_all(ex).await
}

const ADVANCE: &str = "UPDATE schedules SET next_fire_ms = $2, buffered_fire_ms = $3 \
     WHERE name = $1 AND next_fire_ms = $4";

/// Moves the schedule's next fire time and buffered fire, if nobody else
/// moved it since it was read at `was_next_ms`; false otherwise.
pub(crate) async fn advance(
    ex: Conn<'_>,
    name: &str,
    next_fire_ms: i64,
    buffered_fire_ms: i64,
    was_next_ms: i64,
) -> Result<bool> {
    let done = query(ADVANCE)
        .bind(name)
        .bind(next_fire_ms)
        .bind(buffered_fire_ms)
        .bind(was_next_ms)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const SET_PAUSED: &str =
    "UPDATE schedules SET paused = $2, next_fire_ms = $3, buffered_fire_ms = 0 WHERE name = $1";

pub(crate) async fn set_paused(
    ex: Conn<'_>,
    name: &str,
    paused: bool,
    next_fire_ms: i64,
) -> Result<()> {
    query(SET_PAUSED)
        .bind(name)
        .bind(paused)
        .bind(next_fire_ms)
        .execute(ex)
        .await?;
    Ok(())
}

const DELETE: &str = "DELETE FROM schedules WHERE name = $1";

pub(crate) async fn delete(ex: Conn<'_>, name: &str) -> Result<bool> {
    Ok(query(DELETE).bind(name).execute(ex).await? == 1)
}

const INSERT_FIRE: &str = "INSERT INTO schedule_fires \
     (name, fire_ms, outcome, job_id, error, manual, recorded_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (name, fire_ms) DO NOTHING";

/// Records a fire; false if this (schedule, fire time) was recorded before.
pub(crate) async fn insert_fire(ex: Conn<'_>, fire: &FireRow, now_ms: i64) -> Result<bool> {
    let done = query(INSERT_FIRE)
        .bind(&fire.name)
        .bind(fire.fire_ms)
        .bind(&fire.outcome)
        .bind(&fire.job_id)
        .bind(&fire.error)
        .bind(fire.manual)
        .bind(now_ms)
        .execute(ex)
        .await?;
    Ok(done == 1)
}

const SET_FIRE: &str = "UPDATE schedule_fires SET outcome = $3, job_id = $4, error = $5 WHERE name = $1 AND fire_ms = $2";

pub(crate) async fn set_fire(
    ex: Conn<'_>,
    name: &str,
    fire_ms: i64,
    outcome: &str,
    job_id: &str,
    error: &str,
) -> Result<()> {
    query(SET_FIRE)
        .bind(name)
        .bind(fire_ms)
        .bind(outcome)
        .bind(job_id)
        .bind(error)
        .execute(ex)
        .await?;
    Ok(())
}

const FIRE: &str = "SELECT name, fire_ms, outcome, job_id, error, manual FROM schedule_fires \
     WHERE name = $1 AND fire_ms = $2";

pub(crate) async fn fire(ex: Conn<'_>, name: &str, fire_ms: i64) -> Result<Option<FireRow>> {
    query(FIRE)
        .bind(name)
        .bind(fire_ms)
        .fetch_optional(ex)
        .await
}

const FIRES: &str = "SELECT name, fire_ms, outcome, job_id, error, manual FROM schedule_fires \
     WHERE name = $1 AND fire_ms >= $2 ORDER BY fire_ms DESC LIMIT $3";

/// The newest `limit` fires of a schedule at or after `since_ms`, newest first.
pub(crate) async fn fires(
    ex: Conn<'_>,
    name: &str,
    since_ms: i64,
    limit: i64,
) -> Result<Vec<FireRow>> {
    query(FIRES)
        .bind(name)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(ex)
        .await
}

const PENDING: &str = "SELECT name, fire_ms, outcome, job_id, error, manual FROM schedule_fires \
     WHERE outcome = 'pending' ORDER BY recorded_ms LIMIT $1";

/// Fires recorded whose job is not stored yet (the coordinator stopped in
/// between, or they are being submitted now).
pub(crate) async fn pending(ex: Conn<'_>, limit: i64) -> Result<Vec<FireRow>> {
    query(PENDING).bind(limit).fetch_all(ex).await
}

const UNFINISHED_JOBS: &str = "SELECT f.job_id FROM schedule_fires f \
     LEFT JOIN jobs j ON j.job_id = f.job_id \
     WHERE f.name = $1 AND f.outcome IN ('pending', 'submitted') \
       AND (j.state IS NULL OR j.state IN ('queued', 'running')) \
     ORDER BY f.fire_ms";

/// The schedule's jobs not finished yet (or not yet stored).
pub(crate) async fn unfinished_jobs(ex: Conn<'_>, name: &str) -> Result<Vec<String>> {
    query(UNFINISHED_JOBS).bind(name).scalars(ex).await
}

/// A fire published as a run of its series.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct RunRow {
    pub(crate) fire_ms: i64,
    pub(crate) job_id: String,
    pub(crate) folder: String,
    /// JSON list of `[key relative to the folder, bytes]`.
    pub(crate) published_keys: String,
}

const UNPUBLISHED: &str = "SELECT f.name, f.fire_ms, f.outcome, f.job_id, f.error, f.manual \
     FROM schedule_fires f JOIN jobs j ON j.job_id = f.job_id \
     WHERE f.outcome = 'submitted' AND f.published_ms = 0 AND j.state = 'succeeded' \
     ORDER BY f.recorded_ms LIMIT $1";

/// Fires whose job succeeded but is not yet published as a run.
pub(crate) async fn unpublished(ex: Conn<'_>, limit: i64) -> Result<Vec<FireRow>> {
    query(UNPUBLISHED).bind(limit).fetch_all(ex).await
}

const SET_PUBLISHED: &str = "UPDATE schedule_fires SET published_ms = $3, folder = $4, published_keys = $5 \
     WHERE name = $1 AND fire_ms = $2";

/// Marks a fire published, with its run's folder and keys.
pub(crate) async fn set_published(
    ex: Conn<'_>,
    fire: &FireRow,
    now_ms: i64,
    folder: &str,
    keys_json: &str,
) -> Result<()> {
    query(SET_PUBLISHED)
        .bind(&fire.name)
        .bind(fire.fire_ms)
        .bind(now_ms)
        .bind(folder)
        .bind(keys_json)
        .execute(ex)
        .await?;
    Ok(())
}

const RUNS: &str = "SELECT fire_ms, job_id, folder, published_keys FROM schedule_fires \
     WHERE name = $1 AND published_ms <> 0 AND fire_ms >= $2 ORDER BY fire_ms";

/// The schedule's published runs fired at or after `since_ms`, oldest first.
pub(crate) async fn runs(ex: Conn<'_>, name: &str, since_ms: i64) -> Result<Vec<RunRow>> {
    query(RUNS).bind(name).bind(since_ms).fetch_all(ex).await
}
