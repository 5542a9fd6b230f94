//! Workers: registration and the fleet listing.

use std::collections::HashMap;

use tracing::info;
use uuid::Uuid;

use crate::db::{millis, now_ms};
use crate::domain::{WorkerSpec, WorkerView, to_u32};
use crate::error::{CoordinatorError, Result};
use crate::planner;
use crate::repo::{tasks, workers};
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// What a registered worker is told.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) worker_id: String,
    pub(crate) heartbeat_interval_ms: u32,
    pub(crate) lease_timeout_ms: u32,
}

impl Coordinator {
    /// Records a new worker, owned by the name of the token that
    /// registered it, and tells it how often to heartbeat.
    pub(crate) async fn register(&self, spec: WorkerSpec, owner: &str) -> Result<Registration> {
        let worker_id = Uuid::new_v4().to_string();
        let mut tx = self.db().write().await?;
        workers::insert(tx.conn(), &worker_id, &spec, owner, now_ms()).await?;
        drop(tx.commit().await?);
        info!(worker = %worker_id, name = %spec.name, device = %spec.device, "worker registered");
        Ok(Registration {
            worker_id,
            heartbeat_interval_ms: to_u32(millis(self.config().heartbeat_interval)),
            lease_timeout_ms: to_u32(millis(self.config().lease_timeout)),
        })
    }

    /// Refuses `caller` speaking for `worker_id` (leasing, reporting,
    /// presigning) unless it is the token name that registered the worker,
    /// or an admin: a worker token cannot act for another machine's worker.
    /// An unknown worker passes here, to be refused by the call itself.
    pub(crate) async fn check_speaks_for(&self, caller: &Caller, worker_id: &str) -> Result<()> {
        if caller.role == Role::Admin {
            return Ok(());
        }
        let mut conn = self.db().read().await?;
        match workers::owner(conn.conn(), worker_id).await? {
            Some(owner) if !owner.is_empty() && owner != caller.name => {
                Err(CoordinatorError::PermissionDenied {
                    problem: format!(
                        "worker {worker_id} was registered with the token named {owner:?}; \
                         the worker token {:?} may not speak for it (each machine registers \
                         its own worker)",
                        caller.name
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Every worker ever registered, with the tasks it holds and the
    /// unfinished jobs it is kept away from; alive = seen within three
    /// heartbeat intervals.
    pub(crate) async fn list_workers(&self) -> Result<Vec<WorkerView>> {
        let mut conn = self.db().read().await?;
        let rows = workers::list(conn.conn()).await?;
        let mut held: HashMap<String, Vec<String>> = HashMap::new();
        for (worker_id, task_id) in tasks::leased(conn.conn()).await? {
            held.entry(worker_id).or_default().push(task_id);
        }
        let mut blocked: HashMap<String, Vec<String>> = HashMap::new();
        if self.config().worker_job_failure_limit > 0 {
            let limit = i64::from(self.config().worker_job_failure_limit);
            for (worker_id, job_id) in workers::blocked(conn.conn(), limit).await? {
                blocked.entry(worker_id).or_default().push(job_id);
            }
        }
        let alive_since = now_ms().saturating_sub(3 * millis(self.config().heartbeat_interval));
        Ok(rows
            .into_iter()
            .map(|row| WorkerView {
                task_ids: held.remove(&row.worker_id).unwrap_or_default(),
                blocked_job_ids: blocked.remove(&row.worker_id).unwrap_or_default(),
                alive: row.last_seen_ms >= alive_since,
                last_seen_ms: row.last_seen_ms,
                spec: WorkerSpec {
                    name: row.name,
                    device: row.device,
                    memory_bytes: u64::try_from(row.memory_bytes).unwrap_or(0),
                    slots: to_u32(row.slots),
                    engine_version: row.engine_version,
                    max_untiled_pixels: u64::try_from(row.max_untiled_pixels).unwrap_or(0),
                },
                worker_id: row.worker_id,
            })
            .collect())
    }
}

/// The largest picture every live worker renders in one piece (the
/// smallest of what they reported), 0 when none has said.
pub(crate) fn untiled_pixels(workers: &[WorkerView]) -> u64 {
    workers
        .iter()
        .filter(|w| w.alive && w.spec.max_untiled_pixels > 0)
        .map(|w| w.spec.max_untiled_pixels)
        .min()
        .unwrap_or(0)
}

/// What the live GPU workers can take: the fewest pixels one renders
/// untiled, and their slots together; the planner sizes batches by it.
pub(crate) fn gpu_capacity(workers: &[WorkerView]) -> planner::Capacity {
    let gpus: Vec<_> = workers
        .iter()
        .filter(|w| w.alive && w.spec.device != "cpu" && w.spec.max_untiled_pixels > 0)
        .collect();
    planner::Capacity {
        untiled_pixels: gpus
            .iter()
            .map(|w| w.spec.max_untiled_pixels)
            .min()
            .unwrap_or(0),
        slots: gpus.iter().map(|w| w.spec.slots.max(1)).sum(),
    }
}
