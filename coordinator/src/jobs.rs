//! Jobs as clients see them: submit (check inputs, plan, store), get, list,
//! cancel and watch.

use tokio::sync::{broadcast, mpsc};
use tracing::{Span, info, instrument};
use uuid::Uuid;

use crate::db::now_ms;
use crate::error::{CoordinatorError, Result};
use stylefarm_spec::{JobSpec, TaskKind};

use crate::domain::{JobEvent, JobState, JobView, TaskState, TaskView, parse_task_kind, to_u32};
use crate::planner::{self, Plan};
use crate::repo::{self, jobs, tasks};
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// Default and largest `ListJobs` page.
const DEFAULT_LIST_LIMIT: u32 = 50;
const MAX_LIST_LIMIT: u32 = 1000;

impl Coordinator {
    /// Checks that the job's inputs exist, splits it into tiles when it is
    /// too big for every worker, plans it and stores it; returns the new job
    /// id. `spec` has been checked (`JobSpec::validate`) at the service edge.
    pub(crate) async fn submit_job(&self, spec: JobSpec, owner: &Caller) -> Result<String> {
        self.submit_job_as(spec, owner, Uuid::new_v4().to_string())
            .await
    }

    /// [`Coordinator::submit_job`] under a given job id (a schedule's fire
    /// derives it from the fire, so that it is stored at most once: a second
    /// submission fails with the database's unique violation).
    #[instrument(skip_all, fields(job = %job_id, owner = %owner.name))]
    pub(crate) async fn submit_job_as(
        &self,
        mut spec: JobSpec,
        owner: &Caller,
        job_id: String,
    ) -> Result<String> {
        // A doodle is planned (scales, cached targets, tiles) as the texture
        // it renders as: its size follows from the doodle's.
        spec.size_doodle();
        if owner.role != Role::Admin {
            let limit = self.config().max_queued_jobs_per_client;
            let unfinished =
                jobs::unfinished_of(self.db().read().await?.conn(), &owner.name).await?;
            if unfinished >= i64::from(limit) {
                return Err(CoordinatorError::LimitExceeded {
                    problem: format!(
                        "{} has {unfinished} unfinished jobs, the most a client may have queued (max_queued_jobs_per_client = {limit}); wait for some to end or cancel them",
                        owner.name
                    ),
                });
            }
        }
        // What the live workers can take sizes tiles and batches.
        let registered = self.list_workers().await?;
        let split =
            planner::split_if_too_big(&mut spec, crate::workers::untiled_pixels(&registered));
        if let Some(what) = &split {
            info!(%what, "job split into tiles");
            spec.validate()?;
        }
        for key in spec.input_keys() {
            if self.store().head(key).await?.is_none() {
                return Err(CoordinatorError::MissingInput { key: key.into() });
            }
        }
        // Shared style targets already in storage are not computed again.
        let mut cached = std::collections::HashSet::new();
        for key in planner::wanted_targets(&spec) {
            if !cached.contains(&key) && self.store().head(&key).await?.is_some() {
                cached.insert(key);
            }
        }
        let capacity = crate::workers::gpu_capacity(&registered);
        let mut plan = planner::plan(&spec, &job_id, &cached, capacity);
        let limit = self.config().max_tasks_per_job;
        if plan.tasks.len() > limit {
            return Err(CoordinatorError::LimitExceeded {
                problem: format!(
                    "the job plans into {} tasks; a job may have at most {limit} (max_tasks_per_job): split it into smaller jobs",
                    plan.tasks.len()
                ),
            });
        }
        if let Some(what) = split {
            plan.note = format!("{what}; {}", plan.note);
        }
        let stored = jobs::encode_spec(&spec);
        let kind = spec.kind.as_str();
        let job = jobs::NewJob {
            job_id: &job_id,
            name: &spec.name,
            kind,
            priority: spec.priority,
            spec: &stored,
            tasks_total: 0,
            created_ms: 0,
            owner: &owner.name,
        };
        self.insert_job(job, &plan).await
    }

    /// Stores a job with 10 000s of tasks in one go, skipping validation and
    /// storage checks: the lease benchmark's way to fill the queue. Its tasks
    /// are of kind "bench" and complete with no outputs.
    #[doc(hidden)]
    pub async fn bench_submit(&self, tasks: usize, priority: i32) -> Result<String> {
        let spec = prost::Message::encode_to_vec(&stylefarm_proto::pb::JobSpec {
            name: "bench".into(),
            kind: TaskKind::Bench.as_str().into(),
            priority,
            ..Default::default()
        });
        let job_id = Uuid::new_v4().to_string();
        let job = jobs::NewJob {
            job_id: &job_id,
            name: "bench",
            kind: TaskKind::Bench.as_str(),
            priority,
            spec: &spec,
            tasks_total: 0,
            created_ms: 0,
            owner: "",
        };
        self.insert_job(job, &planner::plan_bench(tasks)).await
    }

    /// Stores `job` (its task count and time are set here) and its plan's
    /// tasks in one transaction.
    async fn insert_job(&self, mut job: jobs::NewJob<'_>, plan: &Plan) -> Result<String> {
        let (job_id, kind, priority) = (job.job_id.to_owned(), job.kind, job.priority);
        plan.check().map_err(|e| {
            CoordinatorError::Corrupt(format!("planner bug for kind {kind:?}: {e}"))
        })?;
        Span::current().record("job", job_id.as_str());
        let task_ids: Vec<&String> = plan.tasks.iter().map(|t| &t.task_id).collect();
        let now = now_ms();
        let total = i64::try_from(plan.tasks.len()).unwrap_or(i64::MAX);
        job.tasks_total = total;
        job.created_ms = now;
        let mut tx = self.db().write().await?;
        jobs::insert(tx.conn(), &job).await?;
        for (i, (task, task_id)) in plan.tasks.iter().zip(&task_ids).enumerate() {
            let params = task.plan_bytes();
            let new_task = tasks::NewTask {
                params: &params,
                task_id,
                job_id: &job_id,
                ordinal: i64::try_from(i).unwrap_or(i64::MAX),
                kind: task.kind.as_str(),
                priority,
                is_final: task.is_final,
                deps_pending: i64::try_from(task.deps.len()).unwrap_or(i64::MAX),
                now_ms: now,
            };
            tasks::insert(tx.conn(), &new_task).await?;
            for &dep in &task.deps {
                tasks::insert_dependency(tx.conn(), task_id, task_ids[dep]).await?;
            }
        }
        let _writer = tx.commit().await?;
        info!(kind, tasks = plan.tasks.len(), priority, note = %plan.note, "job submitted");
        self.events().publish(|| JobEvent {
            job_id: job_id.clone(),
            state: JobState::Queued,
            tasks_done: 0,
            tasks_total: to_u32(total),
            task: None,
            message: if plan.note.is_empty() {
                format!("job queued with {total} task(s)")
            } else {
                format!("job queued with {total} task(s); {}", plan.note)
            },
        });
        self.events().work_available();
        Ok(job_id)
    }

    /// Refuses a job that does not exist or is not `caller`'s, alike (a
    /// client learns nothing of other clients' jobs).
    pub(crate) async fn check_owner(&self, job_id: &str, caller: &Caller) -> Result<()> {
        let owner = jobs::owner(self.db().read().await?.conn(), job_id).await?;
        match owner {
            Some(owner) if caller.owns(&owner) => Ok(()),
            _ => Err(CoordinatorError::JobNotFound {
                job_id: job_id.to_owned(),
            }),
        }
    }

    /// The job with all its tasks and their latest progress, if `caller`
    /// may see it.
    pub(crate) async fn get_job(&self, job_id: &str, caller: &Caller) -> Result<JobView> {
        let mut conn = self.db().read().await?;
        let row = jobs::get(conn.conn(), job_id)
            .await?
            .filter(|row| caller.owns(&row.owner))
            .ok_or_else(|| CoordinatorError::JobNotFound {
                job_id: job_id.to_owned(),
            })?;
        let rows = tasks::of_job(conn.conn(), job_id).await?;
        drop(conn);
        let mut view = self.job_view(row)?;
        let mut outputs = Vec::new();
        for row in rows {
            let task = self.task_view(&row)?;
            if row.is_final {
                outputs.extend(task.output_keys.iter().cloned());
            }
            view.tasks.push(task);
        }
        view.output_keys = outputs;
        Ok(view)
    }

    /// The newest jobs first, without their tasks (a job may have thousands);
    /// `GetJob` has them. A client sees its own jobs, an admin every job.
    pub(crate) async fn list_jobs(&self, limit: u32, caller: &Caller) -> Result<Vec<JobView>> {
        let limit = if limit == 0 {
            DEFAULT_LIST_LIMIT
        } else {
            limit.min(MAX_LIST_LIMIT)
        };
        let mut conn = self.db().read().await?;
        let owner = (caller.role != Role::Admin).then_some(caller.name.as_str());
        let rows = jobs::list(conn.conn(), limit, owner).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let mut view = self.job_view(row)?;
            for keys in tasks::final_outputs(conn.conn(), &view.job_id).await? {
                view.output_keys.extend(repo::decode_keys(&keys)?);
            }
            views.push(view);
        }
        Ok(views)
    }

    /// Cancels an unfinished job and its unfinished tasks (running ones learn
    /// it at their next heartbeat); a finished job is left as it is. Returns
    /// the job's state afterwards.
    #[instrument(skip(self, caller), fields(job = job_id, by = %caller.name))]
    pub(crate) async fn cancel_job(&self, job_id: &str, caller: &Caller) -> Result<JobState> {
        self.check_owner(job_id, caller).await?;
        let now = now_ms();
        let mut tx = self.db().write().await?;
        let counts = jobs::counts(tx.conn(), job_id).await?.ok_or_else(|| {
            CoordinatorError::JobNotFound {
                job_id: job_id.to_owned(),
            }
        })?;
        let state = JobState::parse(&counts.state)?;
        if state.is_terminal() {
            return Ok(state);
        }
        tasks::cancel_attempts(tx.conn(), job_id, now).await?;
        let cancelled = tasks::cancel_unfinished(tx.conn(), job_id).await?;
        jobs::finish(
            tx.conn(),
            job_id,
            JobState::Cancelled,
            "cancelled by request",
            now,
        )
        .await?;
        let writer = tx.commit().await?;
        for task_id in &cancelled {
            self.events().clear_progress(task_id);
        }
        info!(tasks = cancelled.len(), "job cancelled");
        self.events().publish(|| JobEvent {
            job_id: job_id.to_owned(),
            state: JobState::Cancelled,
            tasks_done: to_u32(counts.tasks_done),
            tasks_total: to_u32(counts.tasks_total),
            task: None,
            message: "job cancelled".into(),
        });
        // Held while publishing (watchers see commit order); free before
        // the metrics read the job.
        drop(writer);
        self.observe_job_end(job_id, JobState::Cancelled).await;
        Ok(JobState::Cancelled)
    }

    /// A stream of the job's events: its current state first, then every
    /// change until it reaches a terminal state (or the coordinator shuts
    /// down).
    pub(crate) async fn watch_job(
        &self,
        job_id: &str,
        caller: &Caller,
    ) -> Result<mpsc::Receiver<Result<JobEvent>>> {
        self.check_owner(job_id, caller).await?;
        // Subscribe before reading the snapshot, so no change falls between.
        let mut events = self.events().subscribe();
        let first = self.snapshot_event(job_id).await?;
        let (tx, rx) = mpsc::channel(64);
        let this = self.clone();
        let job_id = job_id.to_owned();
        tokio::spawn(async move {
            let mut shutdown = this.events().shutdown_signal();
            let mut done = first.state.is_terminal();
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            while !done {
                let received = tokio::select! {
                    () = tx.closed() => return,
                    _ = shutdown.wait_for(|down| *down) => return,
                    received = events.recv() => received,
                };
                let event = match received {
                    Ok(event) if event.job_id == job_id => (*event).clone(),
                    Ok(_) => continue,
                    // Fell behind: the snapshot says where the job is now.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        match this.snapshot_event(&job_id).await {
                            Ok(event) => event,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                done = event.state.is_terminal();
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    pub(crate) async fn snapshot_event(&self, job_id: &str) -> Result<JobEvent> {
        let counts = jobs::counts(self.db().read().await?.conn(), job_id)
            .await?
            .ok_or_else(|| CoordinatorError::JobNotFound {
                job_id: job_id.to_owned(),
            })?;
        let state = JobState::parse(&counts.state)?;
        Ok(JobEvent {
            job_id: job_id.to_owned(),
            state,
            tasks_done: to_u32(counts.tasks_done),
            tasks_total: to_u32(counts.tasks_total),
            task: None,
            message: format!("job is {}", state.as_str()),
        })
    }

    fn job_view(&self, row: jobs::JobRow) -> Result<JobView> {
        Ok(JobView {
            state: JobState::parse(&row.state)?,
            job_id: row.job_id,
            spec: row.spec,
            tasks: Vec::new(),
            output_keys: Vec::new(),
            error: row.error,
            created_ms: row.created_ms,
            finished_ms: row.finished_ms,
            tasks_done: to_u32(row.tasks_done),
            tasks_total: to_u32(row.tasks_total),
            owner: row.owner,
        })
    }

    /// A task row as clients see it, with its in-memory progress.
    pub(crate) fn task_view(&self, row: &tasks::TaskRow) -> Result<TaskView> {
        let state = TaskState::parse(&row.state)?;
        // Kinds are checked on the way in; parsing here catches a corrupt row.
        parse_task_kind(&row.kind)?;
        Ok(TaskView {
            task_id: row.task_id.clone(),
            kind: row.kind.clone(),
            state,
            attempt: to_u32(row.attempt),
            worker_id: row.worker_id.clone().unwrap_or_default(),
            progress: if state == TaskState::Leased {
                self.events().progress(&row.task_id)
            } else {
                None
            },
            error: row.error.clone(),
            output_keys: repo::decode_keys(&row.output_keys)?,
        })
    }
}
