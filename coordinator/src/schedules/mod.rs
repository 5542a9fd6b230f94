//! Schedules: a job template submitted again at the fire times of a cron
//! pattern (art series: a gallery every morning, a style of the week).
//!
//! The coordinator owns the loop ([`Coordinator::fire_schedules_at`], every
//! second). Each fire time of each schedule is handled exactly once, even
//! across restarts and with several coordinators over one database: the
//! fire is recorded (`schedule_fires`, keyed by schedule and fire time) in
//! the transaction that moves the schedule's next fire time past it, and its
//! job gets an id derived from the pair ([`fire_job_id`]), so a job recorded
//! but not yet stored when a coordinator died is stored by the next tick,
//! once.
//!
//! Overlap (a fire while the schedule's previous job is unfinished) follows
//! Temporal's schedule policies: `skip`, `buffer-one` (run when the previous
//! one ends; later fires meanwhile are skipped), `allow`, `cancel-previous`.
//! A fire found late (the coordinator was down) runs if it is at most the
//! catch-up window old (at least a minute), and is recorded as `missed`
//! otherwise.

mod fire;
mod inputs;
mod series;
mod timing;

use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use stylefarm_proto::pb;
use stylefarm_spec::{JobSpec, SeriesInputs};
use tracing::{info, instrument};

use crate::db::{millis, now_ms};
use crate::error::{CoordinatorError, Result};
use crate::repo::schedules::{self, FireRow, ScheduleRow};
use crate::server::Coordinator;
use crate::tokens::{Caller, Role, check_name};
pub(crate) use timing::Timing;

/// Shortest catch-up window: a fire is always allowed this much lateness
/// (the loop looks every second, and a busy database may delay it).
pub(crate) const MIN_CATCH_UP: Duration = Duration::from_secs(60);

/// Longest catch-up window (a week).
const MAX_CATCH_UP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Most fire times one backfill may submit.
pub(crate) const MAX_BACKFILL: usize = 1000;

/// Fire times listed with a schedule.
const NEXT_FIRES_SHOWN: usize = 3;

/// What to do when a fire comes while the schedule's previous job is
/// unfinished (Temporal's overlap policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    Skip,
    BufferOne,
    Allow,
    CancelPrevious,
}

impl Overlap {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer-one",
            Overlap::Allow => "allow",
            Overlap::CancelPrevious => "cancel-previous",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Overlap> {
        match s {
            "skip" => Ok(Overlap::Skip),
            "buffer-one" => Ok(Overlap::BufferOne),
            "allow" => Ok(Overlap::Allow),
            "cancel-previous" => Ok(Overlap::CancelPrevious),
            other => Err(CoordinatorError::Corrupt(format!(
                "overlap policy {other:?}"
            ))),
        }
    }
}

/// A schedule to create, checked at the service edge except for what needs
/// the coordinator (name, timing, inputs).
#[derive(Debug, Clone)]
pub(crate) struct NewSchedule {
    pub(crate) name: String,
    pub(crate) cron: String,
    pub(crate) time_zone: String,
    pub(crate) template: JobSpec,
    pub(crate) overlap: Overlap,
    pub(crate) catch_up: Duration,
    pub(crate) seed_from_fire_time: bool,
    /// Content photos chosen at each fire from the owner's files.
    pub(crate) inputs: Option<SeriesInputs>,
}

/// A schedule as the API shows it.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleView {
    pub(crate) row: ScheduleRow,
    /// The zone's IANA name ("UTC" for "").
    pub(crate) time_zone: String,
    /// The next few fire times (unix ms); none while paused.
    pub(crate) next_fires_ms: Vec<i64>,
}

/// A wire template as a job: checked as it is, or, with series inputs,
/// checked for them and then as if a stand-in photo filled its content
/// (which the returned spec holds, for a fire to replace).
///
/// Errors: the template is no valid job, or cannot take series inputs.
pub(crate) fn template_spec(
    template: &pb::JobSpec,
    inputs: Option<&SeriesInputs>,
) -> Result<JobSpec> {
    let Some(inputs) = inputs else {
        return Ok(JobSpec::try_from(template)?);
    };
    let kind = template
        .kind
        .parse()
        .map_err(|e| CoordinatorError::InvalidArgument {
            field: "template.kind",
            problem: format!("{e}"),
        })?;
    let mut bare = JobSpec::new(kind);
    bare.content = (!template.content_key.is_empty()).then(Default::default);
    bare.contents = template
        .contents
        .iter()
        .map(|_| Default::default())
        .collect();
    bare.content_mask = (!template.content_mask_key.is_empty()).then(Default::default);
    inputs.check(&bare)?;
    let mut filled = template.clone();
    let stand_in = SeriesInputs::stand_in(&bare);
    filled.content_key = stand_in.content.map(|c| c.key).unwrap_or_default();
    filled.contents = stand_in
        .contents
        .into_iter()
        .map(|c| pb::ContentInput {
            input_key: c.key,
            name: c.name,
            ..Default::default()
        })
        .collect();
    Ok(JobSpec::try_from(&filled)?)
}

/// The id of the job of `schedule`'s fire at `fire_ms`: a UUID-shaped
/// SHA-256 of the pair, so the same fire always names the same job.
pub(crate) fn fire_job_id(schedule: &str, fire_ms: i64) -> String {
    let digest = Sha256::digest(format!("stylefarm schedule {schedule} fire {fire_ms}"));
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Coordinator {
    /// Stores a new schedule owned by `caller`; its first fire is the first
    /// fire time after now.
    #[instrument(skip_all, fields(schedule = %new.name, by = %caller.name))]
    pub(crate) async fn create_schedule(
        &self,
        new: NewSchedule,
        caller: &Caller,
    ) -> Result<ScheduleView> {
        check_name(&new.name)?;
        let timing = Timing::parse(&new.cron, &new.time_zone)?;
        if new.catch_up > MAX_CATCH_UP {
            return Err(CoordinatorError::InvalidArgument {
                field: "catch_up_seconds",
                problem: format!(
                    "{} s; at most a week ({} s)",
                    new.catch_up.as_secs(),
                    MAX_CATCH_UP.as_secs()
                ),
            });
        }
        match &new.inputs {
            Some(inputs) => {
                inputs.check(&new.template)?;
                SeriesInputs::stand_in(&new.template).validate()?;
            }
            None => new.template.validate()?,
        }
        for key in new.template.input_keys() {
            if self.store().head(key).await?.is_none() {
                return Err(CoordinatorError::MissingInput { key: key.into() });
            }
        }
        let now = now_ms();
        let next_fire_ms =
            timing
                .next_after(now)
                .ok_or_else(|| CoordinatorError::InvalidArgument {
                    field: "cron",
                    problem: format!("{:?} never fires again", new.cron),
                })?;
        let row = ScheduleRow {
            name: new.name.clone(),
            owner: caller.name.clone(),
            cron: new.cron.trim().to_owned(),
            time_zone: timing.zone_name().to_owned(),
            template: pb::JobSpec::from(&new.template).encode_to_vec(),
            overlap: new.overlap.as_str().to_owned(),
            catch_up_ms: millis(new.catch_up.max(MIN_CATCH_UP)),
            seed_from_fire_time: new.seed_from_fire_time,
            paused: false,
            created_ms: now,
            next_fire_ms,
            buffered_fire_ms: 0,
            inputs_prefix: new
                .inputs
                .as_ref()
                .map(|i| i.prefix.clone())
                .unwrap_or_default(),
            inputs_newest: new.inputs.as_ref().map_or(0, |i| i64::from(i.newest)),
        };
        let mut tx = self.db().write().await?;
        if !schedules::insert(tx.conn(), &row).await? {
            return Err(CoordinatorError::ScheduleExists { name: new.name });
        }
        drop(tx.commit().await?);
        info!(next = %timing.display(next_fire_ms), "schedule created");
        Ok(view(row, &timing))
    }

    /// The schedules `caller` may see (an admin sees all), by name.
    pub(crate) async fn schedules(&self, caller: &Caller) -> Result<Vec<ScheduleView>> {
        let owner = (caller.role != Role::Admin).then_some(caller.name.as_str());
        let rows = schedules::list(self.db().read().await?.conn(), owner).await?;
        rows.into_iter().map(checked_view).collect()
    }

    /// One schedule and its newest `fires` fires, newest first.
    pub(crate) async fn schedule(
        &self,
        name: &str,
        caller: &Caller,
        fires: u32,
    ) -> Result<(ScheduleView, Vec<FireRow>)> {
        let row = self.schedule_row(name, caller).await?;
        let limit = i64::from(if fires == 0 { 20 } else { fires.min(1000) });
        let fires = schedules::fires(self.db().read().await?.conn(), name, 0, limit).await?;
        Ok((checked_view(row)?, fires))
    }

    /// Pauses (no fires, none recorded) or resumes (from the next fire time
    /// after now: what fell in the pause is not run).
    pub(crate) async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        caller: &Caller,
    ) -> Result<ScheduleView> {
        let row = self.schedule_row(name, caller).await?;
        let timing = Timing::parse(&row.cron, &row.time_zone)?;
        let next = timing.next_after(now_ms()).unwrap_or(i64::MAX);
        let mut tx = self.db().write().await?;
        schedules::set_paused(tx.conn(), name, paused, next).await?;
        drop(tx.commit().await?);
        info!(schedule = name, paused, "schedule paused or resumed");
        checked_view(self.schedule_row(name, caller).await?)
    }

    /// Deletes the schedule and its fire history (its jobs stay).
    pub(crate) async fn delete_schedule(&self, name: &str, caller: &Caller) -> Result<()> {
        self.schedule_row(name, caller).await?;
        let mut tx = self.db().write().await?;
        schedules::delete(tx.conn(), name).await?;
        drop(tx.commit().await?);
        info!(schedule = name, by = %caller.name, "schedule deleted");
        Ok(())
    }

    /// Submits the template now, as a manual fire at the current time
    /// (overlap policies do not apply: it was asked for).
    pub(crate) async fn run_schedule_now(&self, name: &str, caller: &Caller) -> Result<FireRow> {
        let row = self.schedule_row(name, caller).await?;
        let fire_ms = now_ms();
        self.record_manual_fire(&row, fire_ms).await?;
        self.submit_fire(&row, fire_ms).await
    }

    /// Submits one job per fire time in `[from_ms, to_ms]` (at most 1000,
    /// past times only); fire times handled before are left as they are.
    /// Returns every fire in the range, oldest first.
    pub(crate) async fn backfill_schedule(
        &self,
        name: &str,
        from_ms: i64,
        to_ms: i64,
        caller: &Caller,
    ) -> Result<Vec<FireRow>> {
        let row = self.schedule_row(name, caller).await?;
        let timing = Timing::parse(&row.cron, &row.time_zone)?;
        let now = now_ms();
        let bad = |problem: String| CoordinatorError::InvalidArgument {
            field: "to_unix_ms",
            problem,
        };
        if to_ms > now {
            return Err(bad(format!(
                "{} is in the future; a backfill covers past fire times (the schedule itself runs the future ones)",
                timing.display(to_ms)
            )));
        }
        if from_ms > to_ms {
            return Err(bad(
                "the range ends before it begins; give FROM before TO".into()
            ));
        }
        let times = timing.fires_between(from_ms, to_ms, MAX_BACKFILL + 1);
        if times.len() > MAX_BACKFILL {
            return Err(bad(format!(
                "the range holds more than {MAX_BACKFILL} fire times; backfill a shorter range at a time"
            )));
        }
        let mut fires = Vec::with_capacity(times.len());
        for fire_ms in times {
            let fire = if self.record_manual_fire(&row, fire_ms).await? {
                self.submit_fire(&row, fire_ms).await?
            } else {
                schedules::fire(self.db().read().await?.conn(), name, fire_ms)
                    .await?
                    .ok_or_else(|| {
                        CoordinatorError::Corrupt(format!("fire {fire_ms} of {name} vanished"))
                    })?
            };
            fires.push(fire);
        }
        info!(schedule = name, fires = fires.len(), "schedule backfilled");
        Ok(fires)
    }

    /// Refuses a series that is not `caller`'s (or does not exist), alike.
    pub(crate) async fn check_series_owner(&self, name: &str, caller: &Caller) -> Result<()> {
        self.schedule_row(name, caller).await.map(|_| ())
    }

    /// The schedule row, if `caller` may see it.
    async fn schedule_row(&self, name: &str, caller: &Caller) -> Result<ScheduleRow> {
        let row = schedules::get(self.db().read().await?.conn(), name).await?;
        row.filter(|r| caller.owns(&r.owner))
            .ok_or_else(|| CoordinatorError::ScheduleNotFound { name: name.into() })
    }

    /// Records a manual fire as pending; false if that fire time exists.
    async fn record_manual_fire(&self, row: &ScheduleRow, fire_ms: i64) -> Result<bool> {
        let fire = FireRow {
            name: row.name.clone(),
            fire_ms,
            outcome: "pending".into(),
            job_id: fire_job_id(&row.name, fire_ms),
            error: String::new(),
            manual: true,
        };
        let mut tx = self.db().write().await?;
        let new = schedules::insert_fire(tx.conn(), &fire, now_ms()).await?;
        drop(tx.commit().await?);
        Ok(new)
    }

    /// Stores the job of a pending fire (at most once: its id is the
    /// fire's) and records the outcome: submitted, or failed with why.
    async fn submit_fire(&self, row: &ScheduleRow, fire_ms: i64) -> Result<FireRow> {
        let job_id = fire_job_id(&row.name, fire_ms);
        let submitted = match self.fire_spec(row, fire_ms).await {
            Ok(spec) => {
                let owner = Caller {
                    name: row.owner.clone(),
                    role: Role::Client,
                };
                self.submit_job_as(spec, &owner, job_id.clone()).await
            }
            Err(e) => Err(e),
        };
        let (outcome, error) = match submitted {
            Ok(_) => ("submitted", String::new()),
            Err(CoordinatorError::Database(sqlx::Error::Database(e)))
                if e.is_unique_violation() =>
            {
                // Stored by an earlier try (or another coordinator): done.
                ("submitted", String::new())
            }
            Err(e) => {
                tracing::warn!(schedule = %row.name, fire_ms, error = %e, "scheduled job refused");
                ("failed", e.to_string())
            }
        };
        let job_id = if outcome == "submitted" {
            job_id
        } else {
            String::new()
        };
        let mut tx = self.db().write().await?;
        schedules::set_fire(tx.conn(), &row.name, fire_ms, outcome, &job_id, &error).await?;
        drop(tx.commit().await?);
        schedules::fire(self.db().read().await?.conn(), &row.name, fire_ms)
            .await?
            .ok_or_else(|| {
                CoordinatorError::Corrupt(format!("fire {fire_ms} of {} vanished", row.name))
            })
    }

    /// The template with the fire filled in: `{date}`, `{time}` and
    /// `{schedule}` in its name (on the schedule's wall clock), the seed
    /// when it follows the fire time, and the photos series inputs chose.
    async fn fire_spec(&self, row: &ScheduleRow, fire_ms: i64) -> Result<JobSpec> {
        let template = pb::JobSpec::decode(row.template.as_slice()).map_err(|e| {
            CoordinatorError::Corrupt(format!("template of schedule {}: {e}", row.name))
        })?;
        let inputs = (!row.inputs_prefix.is_empty()).then(|| SeriesInputs {
            prefix: row.inputs_prefix.clone(),
            newest: u32::try_from(row.inputs_newest).unwrap_or(0),
        });
        let mut spec = template_spec(&template, inputs.as_ref())?;
        let timing = Timing::parse(&row.cron, &row.time_zone)?;
        let (date, time) = timing.wall_clock(fire_ms);
        let name = if spec.name.is_empty() {
            "{schedule}-{date}-{time}".to_owned()
        } else {
            spec.name.clone()
        };
        spec.name = name
            .replace("{date}", &date)
            .replace("{time}", &time)
            .replace("{schedule}", &row.name);
        if row.seed_from_fire_time {
            spec.settings.seed = u64::try_from(fire_ms.div_euclid(1000)).unwrap_or(0);
        }
        if let Some(inputs) = &inputs {
            let photos = self
                .series_photos(row, inputs, spec.kind, &date, &time)
                .await?;
            spec = SeriesInputs::fill(&spec, photos);
        }
        spec.validate()?;
        Ok(spec)
    }
}

/// The view of a stored schedule (its pattern parsed again).
fn checked_view(row: ScheduleRow) -> Result<ScheduleView> {
    let timing = Timing::parse(&row.cron, &row.time_zone)?;
    Ok(view(row, &timing))
}

fn view(row: ScheduleRow, timing: &Timing) -> ScheduleView {
    let mut next_fires_ms = Vec::new();
    if !row.paused {
        let mut at = row.next_fire_ms;
        next_fires_ms.push(at);
        while next_fires_ms.len() < NEXT_FIRES_SHOWN {
            match timing.next_after(at) {
                Some(next) => {
                    next_fires_ms.push(next);
                    at = next;
                }
                None => break,
            }
        }
    }
    ScheduleView {
        time_zone: timing.zone_name().to_owned(),
        row,
        next_fires_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fire_always_names_the_same_job() {
        let a = fire_job_id("morning", 1_700_000_000_000);
        assert_eq!(a, fire_job_id("morning", 1_700_000_000_000));
        assert_ne!(a, fire_job_id("morning", 1_700_000_001_000));
        assert_ne!(a, fire_job_id("evening", 1_700_000_000_000));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn overlap_names_round_trip() {
        for o in [
            Overlap::Skip,
            Overlap::BufferOne,
            Overlap::Allow,
            Overlap::CancelPrevious,
        ] {
            assert_eq!(Overlap::parse(o.as_str()).unwrap(), o);
        }
    }
}
