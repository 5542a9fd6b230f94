//! Schedules seen from a client: the `Schedules` service's calls.

use stylefarm_proto::pb;

use crate::error::{ClientError, Result};
use crate::farm::Farm;

impl Farm {
    /// Creates a schedule; returns it as stored (with its next fire times).
    pub async fn create_schedule(&mut self, schedule: pb::Schedule) -> Result<pb::Schedule> {
        let name = schedule.name.clone();
        Ok(self
            .schedules
            .create_schedule(pb::CreateScheduleRequest {
                schedule: Some(schedule),
            })
            .await
            .map_err(ClientError::refused(format!(
                "cannot create schedule {name}"
            )))?
            .into_inner())
    }

    /// The schedules this token may see, by name.
    pub async fn list_schedules(&mut self) -> Result<Vec<pb::Schedule>> {
        Ok(self
            .schedules
            .list_schedules(pb::ListSchedulesRequest {})
            .await
            .map_err(ClientError::refused("cannot list schedules"))?
            .into_inner()
            .schedules)
    }

    /// One schedule and its newest `fires` fires (0 = 20), newest first.
    pub async fn get_schedule(
        &mut self,
        name: &str,
        fires: u32,
    ) -> Result<pb::GetScheduleResponse> {
        Ok(self
            .schedules
            .get_schedule(pb::GetScheduleRequest {
                name: name.into(),
                fires,
            })
            .await
            .map_err(ClientError::refused(format!("cannot read schedule {name}")))?
            .into_inner())
    }

    /// Pauses or resumes a schedule.
    pub async fn set_schedule_paused(&mut self, name: &str, paused: bool) -> Result<pb::Schedule> {
        Ok(self
            .schedules
            .set_schedule_paused(pb::SetSchedulePausedRequest {
                name: name.into(),
                paused,
            })
            .await
            .map_err(ClientError::refused(format!(
                "cannot {} schedule {name}",
                if paused { "pause" } else { "resume" }
            )))?
            .into_inner())
    }

    /// Submits the schedule's job now; returns the fire.
    pub async fn run_schedule_now(&mut self, name: &str) -> Result<pb::ScheduleFire> {
        Ok(self
            .schedules
            .run_schedule_now(pb::RunScheduleNowRequest { name: name.into() })
            .await
            .map_err(ClientError::refused(format!("cannot run schedule {name}")))?
            .into_inner())
    }

    /// Submits the jobs of the fire times in `[from_ms, to_ms]` (unix ms);
    /// returns every fire in the range.
    pub async fn backfill_schedule(
        &mut self,
        name: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<pb::ScheduleFire>> {
        Ok(self
            .schedules
            .backfill_schedule(pb::BackfillScheduleRequest {
                name: name.into(),
                from_unix_ms: from_ms,
                to_unix_ms: to_ms,
            })
            .await
            .map_err(ClientError::refused(format!(
                "cannot backfill schedule {name}"
            )))?
            .into_inner()
            .fires)
    }

    /// Deletes a schedule (its jobs stay).
    pub async fn delete_schedule(&mut self, name: &str) -> Result<()> {
        self.schedules
            .delete_schedule(pb::DeleteScheduleRequest { name: name.into() })
            .await
            .map_err(ClientError::refused(format!(
                "cannot delete schedule {name}"
            )))?;
        Ok(())
    }
}
