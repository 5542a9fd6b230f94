//! Retrying a failed or cancelled job by hand (`stylefarm retry`, the
//! dashboard's Retry button): the work it had done stays, the rest runs
//! again.

use tracing::{info, instrument};

use crate::db::now_ms;
use crate::domain::{JobEvent, JobState, to_u32};
use crate::error::{CoordinatorError, Result};
use crate::repo::jobs;
use crate::server::Coordinator;
use crate::tokens::Caller;

impl Coordinator {
    /// Puts a failed or cancelled job back in the queue: its failed and
    /// cancelled tasks become ready again (or wait for their dependencies)
    /// with their failure counts reset, its succeeded tasks keep their
    /// outputs, and workers kept away from it for failing it may take it
    /// again. Returns the number of tasks retried.
    ///
    /// Errors: the job is not `caller`'s (or does not exist), or it is
    /// queued, running or succeeded ([`CoordinatorError::NotRetryable`]).
    #[instrument(skip(self, caller), fields(job = job_id, by = %caller.name))]
    pub(crate) async fn retry_job(&self, job_id: &str, caller: &Caller) -> Result<usize> {
        self.check_owner(job_id, caller).await?;
        let mut tx = self.db().write().await?;
        let Some(retried) = jobs::retry(tx.conn(), job_id, now_ms()).await? else {
            let state = jobs::counts(tx.conn(), job_id)
                .await?
                .map(|c| c.state)
                .unwrap_or_default();
            return Err(CoordinatorError::NotRetryable {
                job_id: job_id.to_owned(),
                state,
            });
        };
        let counts = jobs::counts(tx.conn(), job_id).await?.ok_or_else(|| {
            CoordinatorError::JobNotFound {
                job_id: job_id.to_owned(),
            }
        })?;
        let writer = tx.commit().await?;
        info!(tasks = retried.len(), "job retried");
        self.events().publish(|| JobEvent {
            job_id: job_id.to_owned(),
            state: JobState::Queued,
            tasks_done: to_u32(counts.tasks_done),
            tasks_total: to_u32(counts.tasks_total),
            task: None,
            message: format!("job retried: {} task(s) queued again", retried.len()),
        });
        drop(writer);
        self.events().work_available();
        Ok(retried.len())
    }
}
