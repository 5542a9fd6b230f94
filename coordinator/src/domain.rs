//! The coordinator's own domain types: the states of jobs and tasks as the
//! database spells them, and the views the domain hands to the gRPC layer
//! (which converts them to wire messages in `service::convert`). What a job
//! and a task *are* (specs, plans, names) is `stylefarm_spec`'s.

use crate::error::{CoordinatorError, Result};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(CoordinatorError::Corrupt(format!(
                    "unknown job state {other:?}"
                )));
            }
        })
    }

    /// Whether the job will never change again.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    Blocked,
    Ready,
    Leased,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Blocked => "blocked",
            Self::Ready => "ready",
            Self::Leased => "leased",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "blocked" => Self::Blocked,
            "ready" => Self::Ready,
            "leased" => Self::Leased,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(CoordinatorError::Corrupt(format!(
                    "unknown task state {other:?}"
                )));
            }
        })
    }
}

pub(crate) use stylefarm_spec::TaskKind;

/// Reads a task kind stored in the database.
pub(crate) fn parse_task_kind(s: &str) -> Result<TaskKind> {
    s.parse()
        .map_err(|e: stylefarm_spec::UnknownName| CoordinatorError::Corrupt(e.to_string()))
}

/// Fewest output keys a successful task of this kind reports: a stylize
/// that produced nothing has not succeeded.
pub(crate) fn min_outputs(kind: TaskKind) -> usize {
    match kind {
        TaskKind::Stylize
        | TaskKind::Batch
        | TaskKind::Assemble
        | TaskKind::Frames
        | TaskKind::Flow
        | TaskKind::Keyframes
        | TaskKind::Segment
        | TaskKind::Encode => 1,
        // Targets go to the shared cache, outside the job's prefix.
        TaskKind::Targets | TaskKind::Bench => 0,
    }
}

/// Where an attempt's outputs go: `jobs/<job_id>/<task_id>/`, the same for
/// every attempt, so that a retry overwrites rather than adds.
pub(crate) fn output_prefix(job_id: &str, task_id: &str) -> String {
    format!("jobs/{job_id}/{task_id}/")
}

/// The latest progress a worker reported for a task.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Progress {
    pub(crate) scale_index: u32,
    pub(crate) scales: u32,
    pub(crate) iteration: u32,
    pub(crate) iterations: u32,
    pub(crate) content_loss: f64,
    pub(crate) style_loss: f64,
    pub(crate) tv_loss: f64,
    pub(crate) total_loss: f64,
    pub(crate) elapsed_seconds: f64,
    pub(crate) preview_key: String,
    /// Early stopping ended the scale at `iteration`.
    pub(crate) converged: bool,
    /// Video tasks: frames done so far, of `frames` (0 = not a video task).
    pub(crate) frame: u32,
    pub(crate) frames: u32,
}

/// One task as clients see it.
#[derive(Debug, Clone)]
pub(crate) struct TaskView {
    pub(crate) task_id: String,
    pub(crate) kind: String,
    pub(crate) state: TaskState,
    pub(crate) attempt: u32,
    pub(crate) worker_id: String,
    pub(crate) progress: Option<Progress>,
    pub(crate) error: String,
    pub(crate) output_keys: Vec<String>,
}

/// One job as clients see it.
#[derive(Debug, Clone)]
pub(crate) struct JobView {
    pub(crate) job_id: String,
    /// The spec as submitted (protobuf bytes; the domain never reads it).
    pub(crate) spec: Vec<u8>,
    pub(crate) state: JobState,
    /// Empty in listings; every task in `GetJob`.
    pub(crate) tasks: Vec<TaskView>,
    pub(crate) output_keys: Vec<String>,
    pub(crate) error: String,
    pub(crate) created_ms: i64,
    pub(crate) finished_ms: i64,
    pub(crate) tasks_done: u32,
    pub(crate) tasks_total: u32,
    /// Name of the token that submitted it.
    pub(crate) owner: String,
}

/// A change of a job, published to `WatchJob` streams.
#[derive(Debug, Clone)]
pub(crate) struct JobEvent {
    pub(crate) job_id: String,
    pub(crate) state: JobState,
    pub(crate) tasks_done: u32,
    pub(crate) tasks_total: u32,
    pub(crate) task: Option<TaskView>,
    pub(crate) message: String,
}

/// A task handed to a worker by `Lease`.
#[derive(Debug, Clone)]
pub(crate) struct LeasedTask {
    pub(crate) task_id: String,
    pub(crate) job_id: String,
    pub(crate) attempt: u32,
    /// This task's plan as stored: `pb::TaskParams` bytes, forwarded to the
    /// worker untouched (the lease is the farm's hot path); empty for bench tasks.
    pub(crate) params: Vec<u8>,
    pub(crate) output_prefix: String,
    pub(crate) deadline_ms: i64,
}

/// The caller of a worker RPC about a leased task: the fencing triple.
#[derive(Debug, Clone)]
pub(crate) struct AttemptRef {
    pub(crate) worker_id: String,
    pub(crate) task_id: String,
    pub(crate) attempt: u32,
}

/// What a worker says about itself at registration.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerSpec {
    pub(crate) name: String,
    pub(crate) device: String,
    pub(crate) memory_bytes: u64,
    pub(crate) slots: u32,
    pub(crate) engine_version: String,
    /// Largest picture it renders untiled (0 = unknown).
    pub(crate) max_untiled_pixels: u64,
}

/// One worker as `ListWorkers` shows it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerView {
    pub(crate) worker_id: String,
    pub(crate) spec: WorkerSpec,
    pub(crate) last_seen_ms: i64,
    pub(crate) task_ids: Vec<String>,
    /// Unfinished jobs it failed `worker_job_failure_limit` times.
    pub(crate) blocked_job_ids: Vec<String>,
    pub(crate) alive: bool,
}

/// Converts a database counter to the wire's `u32`, saturating.
pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}
