//! What workers report about a leased task: heartbeats, completion, failure
//! and release. Every report is fenced by (task, attempt, worker): only the
//! attempt that holds the lease changes anything, so a worker that lost its
//! lease (and whose task moved on) cannot overwrite the newer attempt. An
//! attempt whose lease expired while no newer attempt took the task still
//! holds it: its heartbeat takes the lease back, its completion is accepted.

use std::collections::HashSet;

use tracing::{info, instrument, warn};

use crate::db::{WriteTx, millis, now_ms};
use crate::domain::{
    AttemptRef, JobState, Progress, TaskState, min_outputs, output_prefix, parse_task_kind,
};
use crate::error::{CoordinatorError, Result};
use crate::repo::tasks::{self, Fence, Outcome, TaskRow};
use crate::repo::{self, jobs, workers};
use crate::server::Coordinator;

/// Longest failure message kept; workers may send whole backtraces.
const MAX_ERROR_CHARS: usize = 4096;

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeartbeatReply {
    pub(crate) cancel: bool,
    pub(crate) deadline_ms: i64,
}

impl Coordinator {
    /// Extends the lease and records progress; tells the worker to stop when
    /// the task was cancelled.
    #[instrument(skip(self, at, progress), fields(task = %at.task_id, worker = %at.worker_id, attempt = at.attempt))]
    pub(crate) async fn heartbeat(
        &self,
        at: &AttemptRef,
        progress: Option<Progress>,
    ) -> Result<HeartbeatReply> {
        let now = now_ms();
        let deadline_ms = now.saturating_add(millis(self.config().lease_timeout));
        let mut tx = self.db().write().await?;
        self.touch_worker(&mut tx, &at.worker_id, now).await?;
        let Some(task) = tasks::extend(tx.conn(), &fence(at), deadline_ms).await? else {
            let task = self.task_in(&mut tx, &at.task_id).await?;
            return match check_fence(&task, at) {
                Err(CoordinatorError::TaskCancelled { .. }) => Ok(HeartbeatReply {
                    cancel: true,
                    deadline_ms: now,
                }),
                Err(e) => Err(e),
                // Cannot happen: the fenced update would have matched.
                Ok(()) => Err(CoordinatorError::Corrupt(format!(
                    "task {} lease not extended",
                    at.task_id
                ))),
            };
        };
        // A lease taken back after it expired is a lease the reaper's floor
        // may have passed (see `try_claim` on why this is safe here).
        self.inner
            .lease
            .expiry_floor
            .fetch_min(deadline_ms, std::sync::atomic::Ordering::Relaxed);
        if let Some(p) = progress {
            self.events().set_progress(&at.task_id, p);
        }
        let event = if self.events().watched() {
            let message = "progress".to_owned();
            Some(
                self.task_event(
                    &mut tx,
                    &task.job_id,
                    &task.task_id,
                    TaskState::Leased,
                    message,
                )
                .await?,
            )
        } else {
            None
        };
        let _writer = tx.commit().await?;
        if let Some(event) = event {
            self.events().publish(|| event);
        }
        Ok(HeartbeatReply {
            cancel: false,
            deadline_ms,
        })
    }

    /// Records a successful attempt: checks its outputs, marks the task
    /// succeeded, readies its dependents and finishes the job when it was the
    /// last task.
    #[instrument(skip(self, at, outputs), fields(job, task = %at.task_id, worker = %at.worker_id, attempt = at.attempt))]
    pub(crate) async fn complete(&self, at: &AttemptRef, outputs: Vec<String>) -> Result<()> {
        // Storage is checked before taking the writer (it is slow); the keys
        // name their job, which the update below confirms.
        let named_job = self.check_outputs(&at.task_id, &outputs).await?;
        let now = now_ms();
        // The transaction begins with the fenced update, and in the common
        // case (no dependents, nobody watching) commits with the bookkeeping:
        // two round trips to the database.
        let mut tx = self.db().write_manual().await?;
        let keys = repo::encode_keys(&outputs);
        let Some(done) = tasks::begin_succeed(tx.conn(), &fence(at), &keys).await? else {
            let task = self.task_in(&mut tx, &at.task_id).await?;
            if task.state == TaskState::Succeeded.as_str() && holds(&task, at) {
                // The same attempt reporting twice (a retried RPC): done.
                return Ok(());
            }
            check_fence(&task, at)?;
            return Err(CoordinatorError::Corrupt(format!(
                "task {} could not be completed",
                at.task_id
            )));
        };
        tracing::Span::current().record("job", done.job_id.as_str());
        // Returning early drops `tx`, which rolls the update back.
        check_completion(&done, at, &outputs, named_job)?;
        let watched = self.events().watched();
        let commit_now = !done.has_dependents && !watched;
        let attempt = i64::from(at.attempt);
        let counts = tasks::record_success(
            tx.conn(),
            &at.task_id,
            attempt,
            &done.job_id,
            now,
            commit_now,
        )
        .await?
        .ok_or_else(|| {
            CoordinatorError::Corrupt(format!(
                "job {} of leased task {} is not running",
                done.job_id, at.task_id
            ))
        })?;
        let job_done = counts.state == JobState::Succeeded.as_str();
        let (newly_ready, event, writer) = if commit_now {
            (Vec::new(), None, tx.ended())
        } else {
            let newly_ready = if done.has_dependents {
                tasks::unblock_dependents(tx.conn(), &at.task_id, now).await?
            } else {
                Vec::new()
            };
            let event = if watched {
                let message = if job_done {
                    "job succeeded".to_owned()
                } else {
                    format!("task {} succeeded", at.task_id)
                };
                Some(
                    self.task_event(
                        &mut tx,
                        &done.job_id,
                        &at.task_id,
                        TaskState::Succeeded,
                        message,
                    )
                    .await?,
                )
            } else {
                None
            };
            (newly_ready, event, tx.commit().await?)
        };
        self.events().clear_progress(&at.task_id);
        if job_done {
            info!("job succeeded");
        }
        if let Some(event) = event {
            self.events().publish(|| event);
        }
        if !newly_ready.is_empty() {
            self.events().work_available();
        }
        // Metrics read the job once the writer is free (an in-memory
        // database reads through the writer).
        drop(writer);
        self.metrics()
            .task_succeeded(&done.kind, done.started_ms, now);
        if job_done {
            self.observe_job_end(&done.job_id, JobState::Succeeded)
                .await;
        }
        Ok(())
    }

    /// Every output key must be a valid key below `jobs/<job>/<task_id>/`,
    /// all of one job, listed once, and present in storage. Returns the job
    /// the keys name (none without outputs).
    async fn check_outputs(&self, task_id: &str, outputs: &[String]) -> Result<Option<String>> {
        let mut job: Option<&str> = None;
        let mut seen = HashSet::with_capacity(outputs.len());
        for key in outputs {
            stylefarm_storage::check_key(key).map_err(|e| CoordinatorError::InvalidArgument {
                field: "output_keys",
                problem: e.to_string(),
            })?;
            let named = key
                .strip_prefix("jobs/")
                .and_then(|rest| rest.split_once('/'));
            let in_task = named.is_some_and(|(job_id, rest)| {
                job.is_none_or(|j| j == job_id)
                    && rest
                        .strip_prefix(task_id)
                        .and_then(|r| r.strip_prefix('/'))
                        .is_some_and(|name| !name.is_empty())
            });
            let (Some((job_id, _)), true) = (named, in_task) else {
                let prefix = output_prefix(job.unwrap_or("<job>"), task_id);
                return Err(CoordinatorError::OutputOutsidePrefix {
                    key: key.clone(),
                    prefix,
                });
            };
            job = Some(job_id);
            if !seen.insert(key.as_str()) {
                return Err(CoordinatorError::InvalidArgument {
                    field: "output_keys",
                    problem: format!("{key} is listed twice; list each output once"),
                });
            }
            if self.store().head(key).await?.is_none() {
                return Err(CoordinatorError::OutputMissing { key: key.clone() });
            }
        }
        Ok(job.map(str::to_owned))
    }

    /// Records a failed attempt: retried with backoff, or, when `permanent`
    /// or out of attempts, failing the task and its job.
    #[instrument(skip(self, at, message), fields(job, task = %at.task_id, worker = %at.worker_id, attempt = at.attempt))]
    pub(crate) async fn fail(&self, at: &AttemptRef, message: &str, permanent: bool) -> Result<()> {
        let message = clip(message);
        let now = now_ms();
        let mut tx = self.db().write().await?;
        let task = self.task_in(&mut tx, &at.task_id).await?;
        tracing::Span::current().record("job", task.job_id.as_str());
        match check_fence(&task, at) {
            // The worker stopped because it was told to: nothing to record.
            Err(CoordinatorError::TaskCancelled { .. }) => return Ok(()),
            other => other?,
        }
        let fence = fence(at);
        let failures = task.failures + 1;
        tasks::end_attempt(
            tx.conn(),
            &at.task_id,
            task.attempt,
            Outcome::Failed,
            &message,
            now,
        )
        .await?;
        workers::add_failure(tx.conn(), &at.worker_id, &task.job_id).await?;
        let gave_up = permanent || failures >= i64::from(self.config().max_attempts);
        let (state, cancelled) = if gave_up {
            let why = if permanent {
                message.clone()
            } else {
                format!("{message}; gave up after {failures} attempts")
            };
            warn!(permanent, failures, error = %message, "task failed; job failed");
            (
                TaskState::Failed,
                self.fail_in_tx(&mut tx, &task, &fence, failures, &why, now)
                    .await?,
            )
        } else {
            let backoff = self
                .config()
                .backoff(u32::try_from(failures).unwrap_or(u32::MAX));
            info!(failures, ?backoff, error = %message, "task failed; will retry");
            tasks::requeue(
                tx.conn(),
                &fence,
                failures,
                now.saturating_add(millis(backoff)),
                &message,
            )
            .await?;
            (TaskState::Ready, Vec::new())
        };
        let event = if self.events().watched() {
            Some(
                self.task_event(
                    &mut tx,
                    &task.job_id,
                    &task.task_id,
                    state,
                    format!("task {} failed: {message}", task.task_id),
                )
                .await?,
            )
        } else {
            None
        };
        let writer = tx.commit().await?;
        for id in cancelled.iter().chain([&at.task_id]) {
            self.events().clear_progress(id);
        }
        if let Some(event) = event {
            self.events().publish(|| event);
        }
        // Held while publishing (watchers see commit order); free before
        // the metrics read the job.
        drop(writer);
        if gave_up {
            self.observe_job_end(&task.job_id, JobState::Failed).await;
        } else {
            self.metrics().task_retried();
        }
        // A retry becomes leasable after its backoff; waiting leases compute
        // their wake-up from it once woken.
        self.events().work_available();
        Ok(())
    }

    /// Gives a task back unfinished (worker shutting down): ready again at
    /// once, without counting a failure.
    #[instrument(skip(self, at), fields(job, task = %at.task_id, worker = %at.worker_id, attempt = at.attempt))]
    pub(crate) async fn release(&self, at: &AttemptRef) -> Result<()> {
        let now = now_ms();
        let mut tx = self.db().write().await?;
        let task = self.task_in(&mut tx, &at.task_id).await?;
        tracing::Span::current().record("job", task.job_id.as_str());
        match check_fence(&task, at) {
            Err(CoordinatorError::TaskCancelled { .. }) => return Ok(()),
            other => other?,
        }
        tasks::end_attempt(
            tx.conn(),
            &at.task_id,
            task.attempt,
            Outcome::Released,
            "",
            now,
        )
        .await?;
        tasks::requeue(tx.conn(), &fence(at), task.failures, now, &task.error).await?;
        let event = if self.events().watched() {
            Some(
                self.task_event(
                    &mut tx,
                    &task.job_id,
                    &task.task_id,
                    TaskState::Ready,
                    format!("task {} released", task.task_id),
                )
                .await?,
            )
        } else {
            None
        };
        let _writer = tx.commit().await?;
        self.events().clear_progress(&at.task_id);
        info!("task released");
        if let Some(event) = event {
            self.events().publish(|| event);
        }
        self.events().work_available();
        Ok(())
    }

    /// Fails `task` and its job, cancelling the job's other unfinished tasks;
    /// returns the ids of those.
    pub(crate) async fn fail_in_tx(
        &self,
        tx: &mut WriteTx<'_>,
        task: &TaskRow,
        fence: &Fence<'_>,
        failures: i64,
        message: &str,
        now: i64,
    ) -> Result<Vec<String>> {
        tasks::fail(tx.conn(), fence, failures, message).await?;
        tasks::cancel_attempts(tx.conn(), &task.job_id, now).await?;
        let cancelled = tasks::cancel_unfinished(tx.conn(), &task.job_id).await?;
        let why = format!("task {} ({}) failed: {message}", task.task_id, task.kind);
        jobs::finish(tx.conn(), &task.job_id, JobState::Failed, &why, now).await?;
        Ok(cancelled)
    }

    async fn task_in(&self, tx: &mut WriteTx<'_>, task_id: &str) -> Result<TaskRow> {
        tasks::get(tx.conn(), task_id)
            .await?
            .ok_or_else(|| CoordinatorError::TaskNotFound {
                task_id: task_id.to_owned(),
            })
    }
}

fn fence(at: &AttemptRef) -> Fence<'_> {
    Fence {
        task_id: &at.task_id,
        attempt: i64::from(at.attempt),
        worker_id: &at.worker_id,
    }
}

/// Whether `at` is the attempt the task row names.
fn holds(task: &TaskRow, at: &AttemptRef) -> bool {
    task.attempt == i64::from(at.attempt)
        && task.worker_id.as_deref() == Some(at.worker_id.as_str())
}

/// Ok when `at` holds the lease; otherwise why not.
pub(crate) fn check_fence(task: &TaskRow, at: &AttemptRef) -> Result<()> {
    let state = TaskState::parse(&task.state)?;
    if holds(task, at) {
        match state {
            TaskState::Leased => return Ok(()),
            TaskState::Cancelled => {
                return Err(CoordinatorError::TaskCancelled {
                    task_id: task.task_id.clone(),
                    job_id: task.job_id.clone(),
                });
            }
            _ => {}
        }
    }
    let holder = match state {
        TaskState::Leased if task.attempt != i64::from(at.attempt) => {
            format!("attempt {} holds it", task.attempt)
        }
        TaskState::Leased => format!(
            "it is leased to worker {}, not {}",
            task.worker_id.as_deref().unwrap_or("?"),
            at.worker_id
        ),
        TaskState::Ready if task.attempt == i64::from(at.attempt) => {
            "its lease ended and it waits to be leased again".to_owned()
        }
        TaskState::Ready => format!(
            "attempt {} ended and it waits to be leased again",
            task.attempt
        ),
        TaskState::Blocked => "it waits for its dependencies".to_owned(),
        TaskState::Succeeded => format!("attempt {} completed it", task.attempt),
        TaskState::Failed => "the task failed".to_owned(),
        TaskState::Cancelled => "the task was cancelled".to_owned(),
    };
    Err(CoordinatorError::StaleAttempt {
        task_id: task.task_id.clone(),
        attempt: at.attempt,
        holder,
    })
}

/// A failure message of bounded length, never empty.
fn clip(message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        return "the worker gave no reason".to_owned();
    }
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        None => message.to_owned(),
        Some((at, _)) => format!("{}…", &message[..at]),
    }
}

/// The outputs of a completed task name its own job (`named_job`, from
/// [`Coordinator::check_outputs`]) and are at least as many as its kind
/// produces.
fn check_completion(
    done: &tasks::Succeeded,
    at: &AttemptRef,
    outputs: &[String],
    named_job: Option<String>,
) -> Result<()> {
    if let Some(job_id) = named_job.filter(|j| *j != done.job_id) {
        let key = outputs
            .iter()
            .find(|k| !k.starts_with(&format!("jobs/{}/", done.job_id)))
            .unwrap_or(&job_id);
        return Err(CoordinatorError::OutputOutsidePrefix {
            key: key.clone(),
            prefix: output_prefix(&done.job_id, &at.task_id),
        });
    }
    let kind = parse_task_kind(&done.kind)?;
    if outputs.len() < min_outputs(kind) {
        return Err(CoordinatorError::TooFewOutputs {
            task_id: at.task_id.clone(),
            kind: done.kind.clone(),
            min: min_outputs(kind),
            got: outputs.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: TaskState, attempt: i64, worker: &str) -> TaskRow {
        TaskRow {
            task_id: "t".into(),
            job_id: "j".into(),
            kind: "stylize".into(),
            is_final: true,
            state: state.as_str().into(),
            attempt,
            failures: 0,
            worker_id: Some(worker.into()),
            output_keys: "[]".into(),
            error: String::new(),
            params: Vec::new(),
        }
    }

    fn at(attempt: u32, worker: &str) -> AttemptRef {
        AttemptRef {
            worker_id: worker.into(),
            task_id: "t".into(),
            attempt,
        }
    }

    #[test]
    fn fence_accepts_only_the_holder() {
        assert!(check_fence(&row(TaskState::Leased, 2, "w"), &at(2, "w")).is_ok());
        let stale = check_fence(&row(TaskState::Leased, 2, "w2"), &at(1, "w")).unwrap_err();
        assert_eq!(
            stale.to_string(),
            "attempt 1 of task t is stale; attempt 2 holds it"
        );
        let other = check_fence(&row(TaskState::Leased, 2, "w2"), &at(2, "w")).unwrap_err();
        assert!(
            other.to_string().contains("leased to worker w2, not w"),
            "{other}"
        );
        let done = check_fence(&row(TaskState::Succeeded, 1, "w"), &at(1, "w")).unwrap_err();
        assert!(
            done.to_string().contains("attempt 1 completed it"),
            "{done}"
        );
    }

    #[test]
    fn fence_reports_cancellation_to_the_holder_only() {
        let cancelled = check_fence(&row(TaskState::Cancelled, 1, "w"), &at(1, "w")).unwrap_err();
        assert!(matches!(cancelled, CoordinatorError::TaskCancelled { .. }));
        let stale = check_fence(&row(TaskState::Cancelled, 2, "w"), &at(1, "w")).unwrap_err();
        assert!(matches!(stale, CoordinatorError::StaleAttempt { .. }));
    }

    #[test]
    fn clip_bounds_and_fills_messages() {
        assert_eq!(clip("  "), "the worker gave no reason");
        assert_eq!(clip("oom"), "oom");
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        assert_eq!(clip(&long).chars().count(), MAX_ERROR_CHARS + 1);
    }
}
