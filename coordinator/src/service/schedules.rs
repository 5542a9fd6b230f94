//! `stylefarm.v1.Schedules`: art series on a cron pattern, for clients.

use std::time::Duration;

use prost::Message;
use stylefarm_proto::pb::{self, schedules_server::Schedules};
use stylefarm_spec::SeriesInputs;
use tonic::{Request, Response, Status};

use super::{authorize, required};
use crate::error::CoordinatorError;
use crate::repo::schedules::FireRow;
use crate::schedules::{NewSchedule, Overlap, ScheduleView, template_spec};
use crate::server::Coordinator;
use crate::tokens::Role;

#[derive(Debug, Clone)]
pub(crate) struct SchedulesService {
    coordinator: Coordinator,
}

impl SchedulesService {
    pub(crate) fn new(coordinator: Coordinator) -> Self {
        Self { coordinator }
    }
}

#[tonic::async_trait]
impl Schedules for SchedulesService {
    async fn create_schedule(
        &self,
        request: Request<pb::CreateScheduleRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "CreateSchedule").await?;
        let s = request
            .into_inner()
            .schedule
            .ok_or_else(|| missing("schedule", "send a Schedule"))?;
        let template = s.template.as_ref().ok_or_else(|| {
            missing(
                "schedule.template",
                "send the JobSpec to submit at each fire",
            )
        })?;
        let inputs = s.inputs.clone().map(|i| SeriesInputs {
            prefix: i.prefix,
            newest: i.newest,
        });
        let mut template = template_spec(template, inputs.as_ref())?;
        if inputs.is_some() {
            // The stand-in photo only served the checks.
            template.content = None;
            template.contents.clear();
        }
        let overlap = match s.overlap() {
            pb::Overlap::Unspecified | pb::Overlap::Skip => Overlap::Skip,
            pb::Overlap::BufferOne => Overlap::BufferOne,
            pb::Overlap::Allow => Overlap::Allow,
            pb::Overlap::CancelPrevious => Overlap::CancelPrevious,
        };
        let new = NewSchedule {
            name: s.name,
            cron: required("schedule.cron", &s.cron)?.to_owned(),
            time_zone: s.time_zone,
            template,
            overlap,
            catch_up: Duration::from_secs(s.catch_up_seconds),
            seed_from_fire_time: s.seed_from_fire_time,
            inputs,
        };
        let view = self.coordinator.create_schedule(new, &caller).await?;
        Ok(Response::new(schedule(view)?))
    }

    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "ListSchedules").await?;
        let schedules = self
            .coordinator
            .schedules(&caller)
            .await?
            .into_iter()
            .map(schedule)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListSchedulesResponse { schedules }))
    }

    async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Result<Response<pb::GetScheduleResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "GetSchedule").await?;
        let request = request.into_inner();
        let (view, fires) = self
            .coordinator
            .schedule(required("name", &request.name)?, &caller, request.fires)
            .await?;
        Ok(Response::new(pb::GetScheduleResponse {
            schedule: Some(schedule(view)?),
            fires: fires.into_iter().map(fire).collect(),
        }))
    }

    async fn set_schedule_paused(
        &self,
        request: Request<pb::SetSchedulePausedRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        let caller = authorize(
            &self.coordinator,
            &request,
            Role::Client,
            "SetSchedulePaused",
        )
        .await?;
        let request = request.into_inner();
        let view = self
            .coordinator
            .set_schedule_paused(required("name", &request.name)?, request.paused, &caller)
            .await?;
        Ok(Response::new(schedule(view)?))
    }

    async fn run_schedule_now(
        &self,
        request: Request<pb::RunScheduleNowRequest>,
    ) -> Result<Response<pb::ScheduleFire>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "RunScheduleNow").await?;
        let request = request.into_inner();
        let fired = self
            .coordinator
            .run_schedule_now(required("name", &request.name)?, &caller)
            .await?;
        Ok(Response::new(fire(fired)))
    }

    async fn backfill_schedule(
        &self,
        request: Request<pb::BackfillScheduleRequest>,
    ) -> Result<Response<pb::BackfillScheduleResponse>, Status> {
        let caller = authorize(
            &self.coordinator,
            &request,
            Role::Client,
            "BackfillSchedule",
        )
        .await?;
        let request = request.into_inner();
        let fires = self
            .coordinator
            .backfill_schedule(
                required("name", &request.name)?,
                request.from_unix_ms,
                request.to_unix_ms,
                &caller,
            )
            .await?;
        Ok(Response::new(pb::BackfillScheduleResponse {
            fires: fires.into_iter().map(fire).collect(),
        }))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "DeleteSchedule").await?;
        let request = request.into_inner();
        self.coordinator
            .delete_schedule(required("name", &request.name)?, &caller)
            .await?;
        Ok(Response::new(pb::DeleteScheduleResponse {}))
    }

    async fn list_series(
        &self,
        request: Request<pb::ListSeriesRequest>,
    ) -> Result<Response<pb::ListSeriesResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "ListSeries").await?;
        let request = request.into_inner();
        let (runs, index_key) = self
            .coordinator
            .series_runs(
                required("name", &request.name)?,
                request.since_unix_ms,
                &caller,
            )
            .await?;
        Ok(Response::new(pb::ListSeriesResponse {
            runs: runs
                .into_iter()
                .map(|r| pb::SeriesRun {
                    fire_unix_ms: r.fire_ms,
                    folder: r.folder,
                    job_id: r.job_id,
                    sizes: r.files.iter().map(|(_, size)| *size).collect(),
                    keys: r.files.into_iter().map(|(key, _)| key).collect(),
                })
                .collect(),
            index_key,
        }))
    }
}

fn missing(field: &'static str, what: &str) -> CoordinatorError {
    CoordinatorError::InvalidArgument {
        field,
        problem: format!("missing; {what}"),
    }
}

fn schedule(view: ScheduleView) -> Result<pb::Schedule, CoordinatorError> {
    let row = view.row;
    let template = pb::JobSpec::decode(row.template.as_slice()).map_err(|e| {
        CoordinatorError::Corrupt(format!("template of schedule {}: {e}", row.name))
    })?;
    let overlap = match Overlap::parse(&row.overlap)? {
        Overlap::Skip => pb::Overlap::Skip,
        Overlap::BufferOne => pb::Overlap::BufferOne,
        Overlap::Allow => pb::Overlap::Allow,
        Overlap::CancelPrevious => pb::Overlap::CancelPrevious,
    };
    Ok(pb::Schedule {
        name: row.name,
        cron: row.cron,
        time_zone: view.time_zone,
        template: Some(template),
        overlap: overlap.into(),
        catch_up_seconds: u64::try_from(row.catch_up_ms / 1000).unwrap_or(0),
        paused: row.paused,
        seed_from_fire_time: row.seed_from_fire_time,
        created_unix_ms: row.created_ms,
        next_fire_unix_ms: view.next_fires_ms,
        inputs: (!row.inputs_prefix.is_empty()).then(|| pb::SeriesInputs {
            prefix: row.inputs_prefix.clone(),
            newest: u32::try_from(row.inputs_newest).unwrap_or(0),
        }),
        owner: row.owner,
    })
}

fn fire(f: FireRow) -> pb::ScheduleFire {
    pb::ScheduleFire {
        fire_unix_ms: f.fire_ms,
        outcome: f.outcome,
        job_id: f.job_id,
        error: f.error,
        manual: f.manual,
    }
}
