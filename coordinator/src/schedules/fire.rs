//! The schedule loop: every second, record the fire times that came, decide
//! each by the overlap policy and the catch-up window, and submit their jobs.

use std::time::Duration;

use tracing::{info, warn};

use super::{Overlap, Timing, fire_job_id};
use crate::db::now_ms;
use crate::error::Result;
use crate::repo::schedules::{self, FireRow, ScheduleRow};
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// How often the loop looks.
const TICK: Duration = Duration::from_secs(1);

/// Schedules handled per tick; more wait for the next.
const DUE_BATCH: i64 = 100;

/// Fire times of one schedule recorded per tick (a schedule whose
/// coordinator was down for months catches up over several ticks).
const FIRES_PER_TICK: usize = 1000;

/// Pending fires (recorded, job not stored) retried per tick.
const PENDING_BATCH: i64 = 100;

/// What a tick decided for one schedule, to act on after its commit.
#[derive(Debug, Default)]
struct Decided {
    submit: Vec<i64>,
    cancel: Vec<String>,
}

impl Coordinator {
    /// Runs the schedules until shutdown: one [`Coordinator::fire_schedules_at`]
    /// per second on the real clock.
    pub(crate) async fn schedule_forever(self) {
        let mut shutdown = self.events().shutdown_signal();
        loop {
            if let Err(e) = self.fire_schedules_at(now_ms()).await {
                warn!(error = %e, "schedule loop failed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
        }
    }

    /// One pass of the schedule loop as if the time were `now_ms`: stores
    /// the jobs of fires recorded earlier but not stored, handles every
    /// fire time up to `now_ms` of every unpaused schedule, then publishes
    /// the series runs whose jobs succeeded. Returns how many jobs it stored. The loop calls it with the real clock; tests call it
    /// with their own.
    #[doc(hidden)]
    pub async fn fire_schedules_at(&self, now_ms: i64) -> Result<usize> {
        let pending = schedules::pending(self.db().read().await?.conn(), PENDING_BATCH).await?;
        let mut stored = 0;
        for fire in pending {
            let row = schedules::get(self.db().read().await?.conn(), &fire.name).await?;
            if let Some(row) = row {
                stored +=
                    usize::from(self.submit_fire(&row, fire.fire_ms).await?.outcome == "submitted");
            }
        }
        let due = schedules::due(self.db().read().await?.conn(), now_ms, DUE_BATCH).await?;
        for row in due {
            let decided = match self.decide(&row, now_ms).await {
                Ok(Some(decided)) => decided,
                // Another coordinator handled it first.
                Ok(None) => continue,
                Err(e) => {
                    warn!(schedule = %row.name, error = %e, "schedule not handled; retrying next tick");
                    continue;
                }
            };
            let system = Caller {
                name: format!("schedule {}", row.name),
                role: Role::Admin,
            };
            for job_id in &decided.cancel {
                match self.cancel_job(job_id, &system).await {
                    Ok(_) => {
                        info!(schedule = %row.name, job = %job_id, "previous job cancelled (cancel-previous)")
                    }
                    Err(e) => {
                        warn!(schedule = %row.name, job = %job_id, error = %e, "could not cancel the previous job")
                    }
                }
            }
            for fire_ms in decided.submit {
                let fire = self.submit_fire(&row, fire_ms).await?;
                stored += usize::from(fire.outcome == "submitted");
            }
        }
        self.publish_series().await?;
        Ok(stored)
    }

    /// Records the schedule's fires up to `now_ms` and moves its next fire
    /// time, in one transaction; `None` if another coordinator moved it
    /// first.
    async fn decide(&self, row: &ScheduleRow, now_ms: i64) -> Result<Option<Decided>> {
        let timing = Timing::parse(&row.cron, &row.time_zone)?;
        let overlap = Overlap::parse(&row.overlap)?;
        let mut tx = self.db().write().await?;
        let unfinished = schedules::unfinished_jobs(tx.conn(), &row.name).await?;
        let mut running = !unfinished.is_empty();
        let mut buffered = row.buffered_fire_ms;
        let mut decided = Decided::default();
        let record = |fire_ms: i64, outcome: &str, error: String| FireRow {
            name: row.name.clone(),
            fire_ms,
            outcome: outcome.to_owned(),
            job_id: if outcome == "pending" || outcome == "buffered" {
                fire_job_id(&row.name, fire_ms)
            } else {
                String::new()
            },
            error,
            manual: false,
        };
        let mut fires = Vec::new();
        // A buffered fire runs once the job it waited for has ended.
        if buffered != 0 && !running {
            schedules::set_fire(
                tx.conn(),
                &row.name,
                buffered,
                "pending",
                &fire_job_id(&row.name, buffered),
                "",
            )
            .await?;
            decided.submit.push(buffered);
            buffered = 0;
            running = true;
        }
        let mut next = row.next_fire_ms;
        if row.next_fire_ms <= now_ms {
            let times = timing.fires_between(row.next_fire_ms, now_ms, FIRES_PER_TICK);
            let last = times.last().copied();
            let in_window = |t: i64| now_ms - t <= row.catch_up_ms;
            let newest_in_window = times.iter().rev().copied().find(|&t| in_window(t));
            for &t in &times {
                if !in_window(t) {
                    fires.push(record(
                        t,
                        "missed",
                        format!(
                            "found {} s late (the coordinator was not running); the catch-up window is {} s",
                            (now_ms - t) / 1000,
                            row.catch_up_ms / 1000
                        ),
                    ));
                    continue;
                }
                let fire = match overlap {
                    Overlap::Allow => record(t, "pending", String::new()),
                    Overlap::Skip if running => {
                        record(t, "skipped", "the previous job was still running (overlap: skip)".into())
                    }
                    Overlap::BufferOne if running && buffered == 0 => {
                        buffered = t;
                        record(t, "buffered", String::new())
                    }
                    Overlap::BufferOne if running => record(
                        t,
                        "skipped",
                        "the previous job was still running and a fire already waited for it (overlap: buffer-one)"
                            .into(),
                    ),
                    Overlap::CancelPrevious if Some(t) != newest_in_window => record(
                        t,
                        "skipped",
                        "a later fire came in the same catch-up (overlap: cancel-previous)".into(),
                    ),
                    Overlap::CancelPrevious => {
                        decided.cancel.extend(unfinished.iter().cloned());
                        record(t, "pending", String::new())
                    }
                    Overlap::Skip | Overlap::BufferOne => record(t, "pending", String::new()),
                };
                if fire.outcome == "pending" {
                    decided.submit.push(t);
                    running = true;
                }
                fires.push(fire);
            }
            next = match last {
                Some(last) if times.len() == FIRES_PER_TICK => {
                    timing.next_after(last).unwrap_or(i64::MAX)
                }
                _ => timing.next_after(now_ms).unwrap_or(i64::MAX),
            };
        }
        if !schedules::advance(tx.conn(), &row.name, next, buffered, row.next_fire_ms).await? {
            return Ok(None);
        }
        for fire in &fires {
            if !schedules::insert_fire(tx.conn(), fire, now_ms).await? {
                // Recorded before (a backfill or run-now at this very time).
                decided.submit.retain(|&t| t != fire.fire_ms);
            }
        }
        drop(tx.commit().await?);
        for fire in &fires {
            self.metrics().schedule_fired(&fire.outcome);
            match fire.outcome.as_str() {
                "pending" => {
                    info!(schedule = %row.name, fire = %timing.display(fire.fire_ms), "schedule fired")
                }
                outcome => {
                    info!(schedule = %row.name, fire = %timing.display(fire.fire_ms), outcome, reason = %fire.error, "schedule fire not run")
                }
            }
        }
        Ok(Some(decided))
    }
}
