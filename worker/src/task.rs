//! One leased task from start to end: parse its plan, run it (heartbeating
//! progress meanwhile), then complete, fail or release it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stylefarm_engine::{CancelToken, EngineError, Progress, Vgg19};
use stylefarm_proto::connect::AuthChannel;
use stylefarm_proto::pb::work_client::WorkClient;
use stylefarm_proto::{LeasedTask, pb};
use stylefarm_spec::TaskPlan;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;
use tracing::{info, warn};

use crate::error::WorkerError;
use crate::objects::Objects;
use crate::stylize::{self, Limits};
use crate::{assemble, batch, inputs, targets, video};

/// Where a task stands: the engine's progress of the current render and,
/// for video tasks, `(done, total)` of the task's frame renders.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskProgress {
    pub(crate) render: Progress,
    pub(crate) frames: Option<(u32, u32)>,
}

/// Where a running task publishes its progress for the heartbeats.
pub(crate) type ProgressSender = watch::Sender<Option<TaskProgress>>;

/// What every task of a worker shares.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) client: WorkClient<AuthChannel>,
    /// Storage through presigned URLs; [`Context::for_attempt`] points it
    /// at one attempt.
    pub(crate) objects: Objects,
    pub(crate) model: Arc<Vgg19>,
    pub(crate) worker_id: String,
    pub(crate) heartbeat: Duration,
    pub(crate) limits: Limits,
}

impl Context {
    /// The context of one attempt: its storage access is fenced by it.
    fn for_attempt(&self, task_id: &str, attempt: u32) -> Context {
        Context {
            objects: self.objects.for_attempt(task_id, attempt),
            ..self.clone()
        }
    }
}

/// How a task ended on this worker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    /// The job was cancelled or the lease was lost: nothing to report.
    Dropped,
    /// Given back unfinished because the worker is shutting down.
    Released,
    /// Given back unfinished because the GPU failed: the worker must stop
    /// leasing.
    DeviceFailed(String),
}

/// Runs one leased task to its end and reports how it ended.
pub(crate) async fn execute(
    ctx: &Context,
    task: pb::Task,
    shutdown: watch::Receiver<bool>,
) -> Outcome {
    let span = tracing::info_span!("task", task = %task.task_id, job = %task.job_id, worker = %ctx.worker_id);
    let ctx = &ctx.for_attempt(&task.task_id, task.attempt);
    async {
        let attempt = Attempt {
            task_id: task.task_id.clone(),
            attempt: task.attempt,
        };
        let result = match LeasedTask::try_from(&task) {
            Ok(task) => run_with_heartbeats(ctx, &task, shutdown).await,
            Err(e) => Err(Ended::Failed(WorkerError::BadTask(format!(
                "this worker cannot read the task: {e}"
            )))),
        };
        report(ctx, &attempt, result).await
    }
    .instrument(span)
    .await
}

/// The fencing pair every report about a task carries.
struct Attempt {
    task_id: String,
    attempt: u32,
}

/// Why a task ended without outputs.
enum Ended {
    Failed(WorkerError),
    /// Cancelled, or its lease lost: nothing to report.
    Dropped,
    /// Stopped because the worker is shutting down: give it back.
    Released,
    /// The GPU failed (`EngineError::DeviceFailed`): give it back, the task
    /// is not at fault, and stop this worker.
    DeviceFailed(String),
}

/// Runs the plan while heartbeating progress (and the newest snapshot as a
/// preview) every heartbeat interval; a cancelled job, a lost lease or a
/// shutdown stops the render. Returns the outputs, snapshots included.
async fn run_with_heartbeats(
    ctx: &Context,
    task: &LeasedTask,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Vec<String>, Ended> {
    info!(attempt = task.attempt, kind = %task.plan.kind(), "task leased");
    let cancel = CancelToken::new();
    let (progress_tx, progress_rx) = watch::channel(None::<TaskProgress>);
    let (snap_tx, mut snap_rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let work = run_plan(ctx, task, cancel.clone(), progress_tx, snap_tx);
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(ctx.heartbeat);
    ticker.tick().await;
    let mut stop: Option<Ended> = None;
    let mut snapshots = Snapshots::default();
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = ticker.tick() => {
                snapshots.upload(ctx, &task.output_prefix, &mut snap_rx).await;
                let p = *progress_rx.borrow();
                let req = heartbeat(ctx, task, p.as_ref(), &snapshots.preview);
                let mut client = ctx.client.clone();
                match client.heartbeat(req).await {
                    Ok(r) if r.get_ref().cancel => {
                        info!("job cancelled: stopping");
                        stop.get_or_insert(Ended::Dropped);
                        cancel.cancel();
                    }
                    Ok(_) => {}
                    Err(s) if s.code() == tonic::Code::FailedPrecondition || s.code() == tonic::Code::NotFound => {
                        warn!(status = %s, "lease lost: stopping");
                        stop.get_or_insert(Ended::Dropped);
                        cancel.cancel();
                    }
                    Err(s) => warn!(status = %s, "heartbeat failed; will retry"),
                }
            }
            _ = shutdown.changed(), if stop.is_none() => {
                info!("shutting down: releasing the task");
                stop = Some(Ended::Released);
                cancel.cancel();
            }
        }
    };
    snapshots
        .upload(ctx, &task.output_prefix, &mut snap_rx)
        .await;
    // The last progress, so that watchers see where the render ended (an
    // early stop says "converged" here); the ticker may not have sent it.
    let last = *progress_rx.borrow();
    if let (Ok(_), None, Some(p)) = (&result, &stop, last) {
        let req = heartbeat(ctx, task, Some(&p), &snapshots.preview);
        if let Err(s) = ctx.client.clone().heartbeat(req).await {
            warn!(status = %s, "final progress not sent");
        }
    }
    match (result, stop) {
        (Ok(mut keys), _) => {
            keys.extend(snapshots.uploaded);
            Ok(keys)
        }
        (Err(WorkerError::Engine(EngineError::Cancelled)), Some(why)) => Err(why),
        (Err(WorkerError::Engine(e @ EngineError::DeviceFailed { .. })), _) => {
            Err(Ended::DeviceFailed(e.to_string()))
        }
        (Err(e), _) => Err(Ended::Failed(e)),
    }
}

/// Tells the coordinator how the task ended.
async fn report(ctx: &Context, at: &Attempt, result: Result<Vec<String>, Ended>) -> Outcome {
    let mut client = ctx.client.clone();
    let (worker_id, task_id, attempt) = (ctx.worker_id.clone(), at.task_id.clone(), at.attempt);
    match result {
        Ok(output_keys) => {
            let req = pb::CompleteRequest {
                worker_id,
                task_id,
                attempt,
                output_keys,
            };
            match client.complete(req).await {
                Ok(_) => {
                    info!("task completed");
                    Outcome::Completed
                }
                Err(s) => {
                    warn!(status = %s, "completion refused");
                    Outcome::Dropped
                }
            }
        }
        Err(ended @ (Ended::Released | Ended::DeviceFailed(_))) => {
            let req = pb::ReleaseRequest {
                worker_id,
                task_id,
                attempt,
            };
            if let Err(s) = client.release(req).await {
                warn!(status = %s, "release failed; the lease will expire instead");
            }
            match ended {
                Ended::DeviceFailed(why) => {
                    tracing::error!(error = %why, "task released: the GPU failed");
                    Outcome::DeviceFailed(why)
                }
                _ => Outcome::Released,
            }
        }
        Err(Ended::Dropped) => Outcome::Dropped,
        Err(Ended::Failed(e)) => {
            let permanent = e.is_permanent();
            warn!(error = %e, permanent, "task failed");
            let req = pb::FailRequest {
                worker_id,
                task_id,
                attempt,
                message: e.to_string(),
                permanent,
            };
            if let Err(s) = client.fail(req).await {
                warn!(status = %s, "failure report refused");
            }
            Outcome::Failed
        }
    }
}

/// Runs the task's plan; returns the output keys.
async fn run_plan(
    ctx: &Context,
    task: &LeasedTask,
    cancel: CancelToken,
    progress: ProgressSender,
    snapshots: mpsc::UnboundedSender<(String, Vec<u8>)>,
) -> Result<Vec<String>, WorkerError> {
    let prefix = &task.output_prefix;
    let stylize = match &task.plan {
        TaskPlan::Targets(t) => return targets::run(ctx, t).await,
        TaskPlan::Assemble(a) => return assemble::run(ctx, prefix, a).await,
        TaskPlan::Video(v) => return video::run(ctx, prefix, v, cancel, progress).await,
        TaskPlan::Batch(b) => return batch::run(ctx, prefix, b, cancel, progress).await,
        TaskPlan::Stylize(s) => s,
    };
    let inputs = inputs::fetch_inputs(&mut inputs::Reads::new(&ctx.objects), stylize).await?;
    // The animation is written to a folder of its own, removed on every path.
    let dir = tempfile::Builder::new()
        .prefix("stylefarm-worker-")
        .tempdir()
        .map_err(|e| WorkerError::local(&std::env::temp_dir(), e))?;
    let model = ctx.model.clone();
    let limits = ctx.limits;
    let plan = stylize.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let mut on_progress = |p: &Progress| {
            let _ = progress.send(Some(TaskProgress {
                render: *p,
                frames: None,
            }));
        };
        let mut on_snapshot = |name: String, png: Vec<u8>| {
            let _ = snapshots.send((name, png));
        };
        let report = stylize::Reporting {
            progress: &mut on_progress,
            snapshot: &mut on_snapshot,
            cancel,
        };
        stylize::render(&model, &plan, inputs, limits, dir.path(), report)
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))??;
    stylize::upload_outputs(&ctx.objects, prefix, stylize, rendered).await
}

/// The snapshots uploaded so far; the newest is the heartbeat's preview.
#[derive(Default)]
struct Snapshots {
    preview: String,
    uploaded: Vec<String>,
}

impl Snapshots {
    /// Uploads the snapshots the render has made since the last call, below
    /// the task's output prefix. A failed upload loses only that snapshot.
    async fn upload(
        &mut self,
        ctx: &Context,
        prefix: &str,
        rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    ) {
        while let Ok((name, png)) = rx.try_recv() {
            let key = format!("{prefix}{name}");
            match ctx.objects.put(&key, Bytes::from(png)).await {
                Ok(()) => {
                    self.preview.clone_from(&key);
                    self.uploaded.push(key);
                }
                Err(e) => warn!(error = %e, "snapshot upload failed"),
            }
        }
    }
}

/// A heartbeat for `task` with its latest progress, if any, and the newest
/// snapshot's key as the preview.
fn heartbeat(
    ctx: &Context,
    task: &LeasedTask,
    progress: Option<&TaskProgress>,
    preview: &str,
) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        worker_id: ctx.worker_id.clone(),
        task_id: task.task_id.clone(),
        attempt: task.attempt,
        progress: progress.map(|p| to_pb(p, preview)),
    }
}

fn to_pb(t: &TaskProgress, preview: &str) -> pb::Progress {
    let p = &t.render;
    let (frame, frames) = t.frames.unwrap_or((0, 0));
    pb::Progress {
        frame,
        frames,
        scale_index: p.scale as u32,
        scales: p.scales as u32,
        iteration: p.iteration as u32,
        iterations: p.iterations as u32,
        content_loss: p.losses.content,
        style_loss: p.losses.style,
        tv_loss: p.losses.tv,
        total_loss: p.losses.total,
        elapsed_seconds: p.elapsed_seconds,
        preview_key: preview.to_string(),
        converged: p.converged,
    }
}
