//! The coordinator's views ↔ wire messages. (Job specs and task plans
//! convert in `stylefarm_proto`, the one mapping of those.)

use prost::Message;
use stylefarm_proto::pb;
use tonic::Status;

use crate::domain::{
    JobEvent, JobState, JobView, LeasedTask, Progress, TaskState, TaskView, WorkerView,
};

pub(crate) fn job_state(s: JobState) -> pb::JobState {
    match s {
        JobState::Queued => pb::JobState::Queued,
        JobState::Running => pb::JobState::Running,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

fn task_state(s: TaskState) -> pb::TaskState {
    match s {
        TaskState::Blocked => pb::TaskState::Blocked,
        TaskState::Ready => pb::TaskState::Ready,
        TaskState::Leased => pb::TaskState::Leased,
        TaskState::Succeeded => pb::TaskState::Succeeded,
        TaskState::Failed => pb::TaskState::Failed,
        TaskState::Cancelled => pb::TaskState::Cancelled,
    }
}

/// The stored spec; it was encoded by this coordinator at submission.
fn spec(bytes: &[u8]) -> Result<pb::JobSpec, Status> {
    pb::JobSpec::decode(bytes)
        .map_err(|e| Status::internal(format!("stored job spec is unreadable: {e}")))
}

pub(crate) fn job(v: JobView) -> Result<pb::Job, Status> {
    Ok(pb::Job {
        job_id: v.job_id,
        spec: Some(spec(&v.spec)?),
        state: job_state(v.state).into(),
        tasks: v.tasks.into_iter().map(task_info).collect(),
        output_keys: v.output_keys,
        error: v.error,
        created_unix_ms: v.created_ms,
        finished_unix_ms: v.finished_ms,
        tasks_done: v.tasks_done,
        tasks_total: v.tasks_total,
        owner: v.owner,
    })
}

pub(crate) fn task_info(v: TaskView) -> pb::TaskInfo {
    pb::TaskInfo {
        task_id: v.task_id,
        kind: v.kind,
        state: task_state(v.state).into(),
        attempt: v.attempt,
        worker_id: v.worker_id,
        progress: v.progress.map(progress_out),
        error: v.error,
        output_keys: v.output_keys,
    }
}

pub(crate) fn job_event(e: JobEvent) -> pb::JobEvent {
    pb::JobEvent {
        job_id: e.job_id,
        job_state: job_state(e.state).into(),
        tasks_done: e.tasks_done,
        tasks_total: e.tasks_total,
        task: e.task.map(task_info),
        message: e.message,
    }
}

pub(crate) fn task(t: LeasedTask) -> Result<pb::Task, Status> {
    Ok(pb::Task {
        task_id: t.task_id,
        job_id: t.job_id,
        attempt: t.attempt,
        output_prefix: t.output_prefix,
        deadline_unix_ms: t.deadline_ms,
        params: if t.params.is_empty() {
            None
        } else {
            Some(pb::TaskParams::decode(t.params.as_slice()).map_err(|e| {
                Status::internal(format!("stored task parameters are unreadable: {e}"))
            })?)
        },
    })
}

pub(crate) fn worker_info(w: WorkerView) -> pb::WorkerInfo {
    pb::WorkerInfo {
        worker_id: w.worker_id,
        name: w.spec.name,
        device: w.spec.device,
        memory_bytes: w.spec.memory_bytes,
        slots: w.spec.slots,
        engine_version: w.spec.engine_version,
        last_seen_unix_ms: w.last_seen_ms,
        task_ids: w.task_ids,
        alive: w.alive,
        max_untiled_pixels: w.spec.max_untiled_pixels,
        blocked_job_ids: w.blocked_job_ids,
    }
}

fn progress_out(p: Progress) -> pb::Progress {
    pb::Progress {
        scale_index: p.scale_index,
        scales: p.scales,
        iteration: p.iteration,
        iterations: p.iterations,
        content_loss: p.content_loss,
        style_loss: p.style_loss,
        tv_loss: p.tv_loss,
        total_loss: p.total_loss,
        elapsed_seconds: p.elapsed_seconds,
        preview_key: p.preview_key,
        converged: p.converged,
        frame: p.frame,
        frames: p.frames,
    }
}

pub(crate) fn progress_in(p: pb::Progress) -> Progress {
    Progress {
        scale_index: p.scale_index,
        scales: p.scales,
        iteration: p.iteration,
        iterations: p.iterations,
        content_loss: p.content_loss,
        style_loss: p.style_loss,
        tv_loss: p.tv_loss,
        total_loss: p.total_loss,
        elapsed_seconds: p.elapsed_seconds,
        preview_key: p.preview_key,
        converged: p.converged,
        frame: p.frame,
        frames: p.frames,
    }
}
