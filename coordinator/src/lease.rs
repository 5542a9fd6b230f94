//! Handing tasks to workers: the claim transaction, the long poll around it,
//! and reaping leases whose worker stopped heartbeating.
//!
//! One claim is one short write transaction, and the hot path of the whole
//! farm: every statement costs a round trip to SQLite's thread under the
//! writer mutex. So the claim is one statement list (log the attempt, lease
//! the best task: `repo::tasks::CLAIM`), usually sent together with its
//! `BEGIN`/`COMMIT` as a single round trip, and what need not be asked every
//! time is remembered here: when a worker was last recorded as seen, the
//! earliest moment a lease can expire, and which jobs are already running.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{Span, debug, info, instrument, warn};

use crate::db::{WriteTx, millis, now_ms};
use crate::domain::{JobEvent, JobState, LeasedTask, TaskState, output_prefix, to_u32};
use crate::error::{CoordinatorError, Result};
use crate::repo::tasks::{self, Claimer, Fence, Outcome, TaskRow};
use crate::repo::{jobs, workers};
use crate::server::Coordinator;

/// Longest a `Lease` call waits for work before answering "nothing".
pub(crate) const MAX_LEASE_WAIT: Duration = Duration::from_secs(10);

/// Expired leases handled per transaction; more wait for the next one.
const REAP_BATCH: i64 = 64;

/// Running jobs remembered as such; beyond this the memory is cleared.
const RUNNING_MEMORY_JOBS: usize = 4096;

/// What the lease path remembers between claims. All of it is derived from
/// the database and rebuilt after a restart.
#[derive(Debug, Default)]
pub(crate) struct LeaseMemory {
    /// No lease expires before this time (a lower bound: heartbeats only move
    /// deadlines later). 0 = look now.
    pub(crate) expiry_floor: AtomicI64,
    /// When each worker was last recorded as seen in the database.
    seen: Mutex<HashMap<String, i64>>,
    /// Jobs already marked running.
    running: Mutex<HashSet<String>>,
    /// When this coordinator last looked for expired leases (ms since the
    /// epoch; 0 = not since it started). A longer gap than the reaper's
    /// period means it could not hear heartbeats meanwhile.
    last_look_ms: AtomicI64,
}

/// What a reaping pass did, to act on once it committed.
#[derive(Debug, Default)]
struct Reaped {
    count: usize,
    events: Vec<JobEvent>,
    /// Jobs that failed because a task ran out of attempts.
    failed_jobs: Vec<String>,
    /// The new expiry floor, if the pass looked.
    floor: Option<i64>,
}

/// What one claim attempt found.
enum Claim {
    Leased(LeasedTask),
    /// Nothing leasable now; something may be at `next_due_ms`.
    Nothing {
        next_due_ms: Option<i64>,
    },
}

impl Coordinator {
    /// Leases the best ready task to `worker_id`, waiting up to `wait`
    /// (capped at 10 s) for one to appear.
    #[instrument(skip(self), fields(worker = worker_id, job, task))]
    pub(crate) async fn lease(
        &self,
        worker_id: &str,
        wait: Duration,
    ) -> Result<Option<LeasedTask>> {
        let deadline = Instant::now() + wait.min(MAX_LEASE_WAIT);
        let mut shutdown = self.events().shutdown_signal();
        loop {
            // Registered before looking, so a submission between the look and
            // the wait still wakes us.
            let notified = self.events().work_notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due_ms = match self.try_claim(worker_id).await? {
                Claim::Leased(task) => {
                    Span::current()
                        .record("job", task.job_id.as_str())
                        .record("task", task.task_id.as_str());
                    debug!(attempt = task.attempt, "task leased");
                    return Ok(Some(task));
                }
                Claim::Nothing { next_due_ms } => next_due_ms,
            };
            let now = Instant::now();
            if now >= deadline || *shutdown.borrow() {
                return Ok(None);
            }
            // Wake for a backoff ending or a lease expiring, not only for
            // notifications: those need no event to become leasable.
            let wake = match next_due_ms {
                Some(due) => {
                    let in_ms = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0) + 1;
                    deadline.min(now + Duration::from_millis(in_ms))
                }
                None => deadline,
            };
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake) => {}
                _ = shutdown.wait_for(|down| *down) => return Ok(None),
            }
        }
    }

    /// One claim. The common case, with no upkeep due and nobody watching,
    /// is a single round trip to the database; otherwise a transaction also
    /// records the worker as seen, reaps expired leases and builds the event.
    async fn try_claim(&self, worker_id: &str) -> Result<Claim> {
        let now = now_ms();
        let config = self.config();
        let deadline_ms = now.saturating_add(millis(config.lease_timeout));
        let claimer = Claimer {
            worker_id,
            deadline_ms,
            block_after: match config.worker_job_failure_limit {
                0 => i64::MAX,
                n => i64::from(n),
            },
            alive_since_ms: now.saturating_sub(3 * millis(config.heartbeat_interval)),
        };
        let upkeep = self.touch_due(worker_id, now)
            || now >= self.inner.lease.expiry_floor.load(Ordering::Relaxed);
        // Claims on PostgreSQL stay on the fast path unless someone watches
        // here: a watcher on another coordinator misses "task leased" but
        // gets the job's other events.
        let claimed = if upkeep || self.events().watched_here() {
            self.claim_with_upkeep(&claimer, now).await?
        } else {
            let mut tx = self.db().claim_writer().await?;
            let task = tasks::claim_tx(tx.conn(), &claimer, now).await?;
            drop(tx.ended());
            task.map(|task| (task, None))
        };
        let Some((task, event)) = claimed else {
            let next_due_ms = tasks::next_due(self.db().read().await?.conn(), now).await?;
            return Ok(Claim::Nothing { next_due_ms });
        };
        // Safe outside the writer: a reaper's floor is computed under it, so
        // it either saw this lease or is lowered here. (A PostgreSQL claim
        // runs beside the writer; a floor computed meanwhile is at most the
        // reaper's now plus a lease timeout, this deadline's twin, so the
        // lease is looked at late by the milliseconds between the two.)
        self.inner
            .lease
            .expiry_floor
            .fetch_min(deadline_ms, Ordering::Relaxed);
        if let Some(event) = event {
            self.events().publish(|| event);
        }
        self.mark_running(&task.job_id).await?;
        Ok(Claim::Leased(LeasedTask {
            output_prefix: output_prefix(&task.job_id, &task.task_id),
            attempt: to_u32(task.attempt),
            task_id: task.task_id,
            job_id: task.job_id,
            params: task.params,
            deadline_ms,
        }))
    }

    /// The claim in a transaction with the upkeep around it.
    async fn claim_with_upkeep(
        &self,
        claimer: &Claimer<'_>,
        now: i64,
    ) -> Result<Option<(TaskRow, Option<JobEvent>)>> {
        let mut tx = self.db().write().await?;
        self.touch_worker(&mut tx, claimer.worker_id, now).await?;
        let reaped = self.reap_in(&mut tx, now).await?;
        let task = tasks::claim(tx.conn(), claimer, now).await?;
        let event = match &task {
            Some(task) if self.events().watched() => {
                // The event reports the job running (`mark_running` would
                // mark it only after this transaction).
                jobs::mark_running(tx.conn(), &task.job_id).await?;
                let message = format!(
                    "task {} leased to worker {} (attempt {})",
                    task.task_id, claimer.worker_id, task.attempt
                );
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
            }
            _ => None,
        };
        let _writer = tx.commit().await?;
        self.reaped(reaped);
        Ok(task.map(|task| (task, event)))
    }

    /// Marks the job of a task just leased running, the first time; jobs
    /// already marked are remembered, so the hot path writes nothing more.
    async fn mark_running(&self, job_id: &str) -> Result<()> {
        let memory = &self.inner.lease;
        if lock(&memory.running).contains(job_id) {
            return Ok(());
        }
        let mut tx = self.db().write().await?;
        jobs::mark_running(tx.conn(), job_id).await?;
        drop(tx.commit().await?);
        let mut running = lock(&memory.running);
        if running.len() >= RUNNING_MEMORY_JOBS {
            running.clear();
        }
        running.insert(job_id.to_owned());
        Ok(())
    }

    /// Whether the worker's last-seen time is due to be written.
    fn touch_due(&self, worker_id: &str, now: i64) -> bool {
        let every = millis(self.config().heartbeat_interval / 2).min(1000);
        let seen = lock(&self.inner.lease.seen).get(worker_id).copied();
        seen.is_none_or(|at| now.saturating_sub(at) >= every)
    }

    /// Records that the worker called in, at most every half heartbeat (the
    /// liveness window is three heartbeats); unknown workers are refused.
    pub(crate) async fn touch_worker(
        &self,
        tx: &mut WriteTx<'_>,
        worker_id: &str,
        now: i64,
    ) -> Result<()> {
        if !self.touch_due(worker_id, now) {
            return Ok(());
        }
        if !workers::touch(tx.conn(), worker_id, now).await? {
            return Err(CoordinatorError::UnknownWorker {
                worker_id: worker_id.to_owned(),
            });
        }
        lock(&self.inner.lease.seen).insert(worker_id.to_owned(), now);
        Ok(())
    }

    /// A gap between two looks at the leases longer than this means the
    /// coordinator was away: twice the reaper's period and half a second.
    pub(crate) fn stall_threshold(&self) -> Duration {
        2 * self.reap_period() + Duration::from_millis(500)
    }

    /// How often the background reaper looks for expired leases.
    pub(crate) fn reap_period(&self) -> Duration {
        (self.config().lease_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    /// Reaps expired leases in a transaction of its own (the background
    /// reaper's entry point). Returns how many were reaped.
    pub(crate) async fn reap_expired(&self) -> Result<usize> {
        let now = now_ms();
        let last = self.inner.lease.last_look_ms.load(Ordering::Relaxed);
        let stalled = now.saturating_sub(last) > millis(self.stall_threshold());
        if now < self.inner.lease.expiry_floor.load(Ordering::Relaxed) && !stalled {
            self.inner.lease.last_look_ms.store(now, Ordering::Relaxed);
            return Ok(0);
        }
        let mut tx = self.db().write().await?;
        let reaped = self.reap_in(&mut tx, now).await?;
        let _writer = tx.commit().await?;
        Ok(self.reaped(reaped))
    }

    /// After the reaping transaction committed (and while it still holds the
    /// writer): moves the expiry floor, publishes the events, wakes long
    /// polls for the requeued tasks. Returns how many leases were reaped.
    fn reaped(&self, reaped: Reaped) -> usize {
        if let Some(floor) = reaped.floor {
            self.inner
                .lease
                .expiry_floor
                .store(floor, Ordering::Relaxed);
        }
        for event in reaped.events {
            self.events().publish(|| event);
        }
        for job_id in reaped.failed_jobs {
            // Read once the writer, which the caller still holds, is free.
            let this = self.clone();
            tokio::spawn(async move { this.observe_job_end(&job_id, JobState::Failed).await });
        }
        if reaped.count > 0 {
            self.events().work_available();
        }
        reaped.count
    }

    /// Expired leases count as failed attempts: requeued for another worker
    /// at once, or, out of attempts, failing the task and its job. Looks
    /// only once the expiry floor has passed.
    async fn reap_in(&self, tx: &mut WriteTx<'_>, now: i64) -> Result<Reaped> {
        let last = self.inner.lease.last_look_ms.swap(now, Ordering::Relaxed);
        if now.saturating_sub(last) > millis(self.stall_threshold()) {
            // Started, or back from a stall (stopped, swapped out, paused
            // VM): heartbeats sent meanwhile went unheard, so no lease may
            // expire for that time. Every lease gets a full timeout from now,
            // as farms give workers time to re-report after a restart.
            let until = now.saturating_add(millis(self.config().lease_timeout));
            let extended = tasks::extend_leases(tx.conn(), until).await?;
            if extended > 0 {
                info!(
                    leases = extended,
                    away_ms = if last == 0 { None } else { Some(now - last) },
                    "coordinator started or was away: leases extended by a full timeout"
                );
            }
            return Ok(Reaped {
                floor: Some(now),
                ..Reaped::default()
            });
        }
        if now < self.inner.lease.expiry_floor.load(Ordering::Relaxed) {
            return Ok(Reaped::default());
        }
        let expired = tasks::expired(tx.conn(), now, REAP_BATCH).await?;
        let mut events = Vec::new();
        let mut failed_jobs = Vec::new();
        for task in &expired {
            let (failed, event) = self.reap_one(tx, task, now).await?;
            if failed {
                failed_jobs.push(task.job_id.clone());
            }
            events.extend(event);
        }
        // A full batch may have left more expired leases: look again next time.
        let floor = if expired.len() == REAP_BATCH as usize {
            0
        } else {
            tasks::first_expiry(tx.conn()).await?.unwrap_or(i64::MAX)
        };
        Ok(Reaped {
            count: expired.len(),
            events,
            failed_jobs,
            floor: Some(floor),
        })
    }

    /// Ends one expired lease; returns whether the task (and its job)
    /// failed, and the event for watchers.
    async fn reap_one(
        &self,
        tx: &mut WriteTx<'_>,
        task: &TaskRow,
        now: i64,
    ) -> Result<(bool, Option<JobEvent>)> {
        let worker_id = task.worker_id.clone().unwrap_or_default();
        let fence = Fence {
            task_id: &task.task_id,
            attempt: task.attempt,
            worker_id: &worker_id,
        };
        let failures = task.failures + 1;
        tasks::end_attempt(
            tx.conn(),
            &task.task_id,
            task.attempt,
            Outcome::Expired,
            "lease expired",
            now,
        )
        .await?;
        workers::add_failure(tx.conn(), &worker_id, &task.job_id).await?;
        self.metrics().lease_expired();
        let (state, message) = if failures >= i64::from(self.config().max_attempts) {
            let message = format!(
                "worker {worker_id} stopped heartbeating; gave up after {failures} attempts"
            );
            warn!(job = %task.job_id, task = %task.task_id, worker = %worker_id, failures,
                "lease expired; task and job failed");
            let cancelled = self
                .fail_in_tx(tx, task, &fence, failures, &message, now)
                .await?;
            for id in &cancelled {
                self.events().clear_progress(id);
            }
            (TaskState::Failed, message)
        } else {
            let message = format!(
                "worker {worker_id} stopped heartbeating (attempt {}); retrying",
                task.attempt
            );
            info!(job = %task.job_id, task = %task.task_id, worker = %worker_id, failures,
                "lease expired; task requeued");
            tasks::requeue(tx.conn(), &fence, failures, now, &message).await?;
            self.metrics().task_retried();
            (TaskState::Ready, message)
        };
        self.events().clear_progress(&task.task_id);
        let failed = state == TaskState::Failed;
        if !self.events().watched() {
            return Ok((failed, None));
        }
        let event = self
            .task_event(tx, &task.job_id, &task.task_id, state, message)
            .await?;
        Ok((failed, Some(event)))
    }

    /// An event about a task now in `state`, with its job's current counters.
    pub(crate) async fn task_event(
        &self,
        tx: &mut WriteTx<'_>,
        job_id: &str,
        task_id: &str,
        state: TaskState,
        message: String,
    ) -> Result<JobEvent> {
        let missing =
            || CoordinatorError::Corrupt(format!("task {task_id} of job {job_id} vanished"));
        let counts = jobs::counts(tx.conn(), job_id).await?.ok_or_else(missing)?;
        let row = tasks::get(tx.conn(), task_id).await?.ok_or_else(missing)?;
        let mut view = self.task_view(&row)?;
        view.state = state;
        Ok(JobEvent {
            job_id: job_id.to_owned(),
            state: JobState::parse(&counts.state)?,
            tasks_done: to_u32(counts.tasks_done),
            tasks_total: to_u32(counts.tasks_total),
            task: Some(view),
            message,
        })
    }
}

/// The memories hold plain data; a panic elsewhere cannot leave them torn.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
