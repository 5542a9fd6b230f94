//! `stylefarm.v1.Work`: the workers' service.

use std::time::Duration;

use stylefarm_proto::pb::{self, work_server::Work};
use stylefarm_storage::Access;
use tonic::{Request, Response, Status};

use super::{authorize, convert, required};
use crate::domain::{AttemptRef, WorkerSpec};
use crate::error::CoordinatorError;
use crate::server::Coordinator;
use crate::tokens::Role;

#[derive(Debug, Clone)]
pub(crate) struct WorkService {
    coordinator: Coordinator,
}

impl WorkService {
    pub(crate) fn new(coordinator: Coordinator) -> Self {
        Self { coordinator }
    }
}

/// The fencing triple of a report, every part required.
fn attempt_ref(worker_id: String, task_id: String, attempt: u32) -> Result<AttemptRef, Status> {
    required("worker_id", &worker_id)?;
    required("task_id", &task_id)?;
    Ok(AttemptRef {
        worker_id,
        task_id,
        attempt,
    })
}

#[tonic::async_trait]
impl Work for WorkService {
    async fn presign(
        &self,
        request: Request<pb::PresignRequest>,
    ) -> Result<Response<pb::PresignResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Presign").await?;
        let r = request.into_inner();
        let access = match pb::ObjectAccess::try_from(r.access) {
            Ok(pb::ObjectAccess::Get) => Access::Get,
            Ok(pb::ObjectAccess::Put) => Access::Put,
            Ok(pb::ObjectAccess::Head) => Access::Head,
            _ => {
                return Err(CoordinatorError::InvalidArgument {
                    field: "access",
                    problem: "missing or unknown; use GET, PUT or HEAD".into(),
                }
                .into());
            }
        };
        let at = attempt_ref(r.worker_id, r.task_id, r.attempt)?;
        self.coordinator
            .check_speaks_for(&caller, &at.worker_id)
            .await?;
        let signed = self.coordinator.presign(&at, access, &r.keys).await?;
        Ok(Response::new(pb::PresignResponse {
            urls: signed.urls,
            expires_unix_ms: signed.expires_ms,
        }))
    }

    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Register").await?;
        let r = request.into_inner();
        let spec = WorkerSpec {
            name: r.name,
            device: r.device,
            memory_bytes: r.memory_bytes,
            slots: r.slots,
            engine_version: r.engine_version,
            max_untiled_pixels: r.max_untiled_pixels,
        };
        let reg = self.coordinator.register(spec, &caller.name).await?;
        #[allow(deprecated)]
        Ok(Response::new(pb::RegisterResponse {
            worker_id: reg.worker_id,
            // Workers hold no storage keys: they use presigned URLs.
            storage: None,
            heartbeat_interval_ms: reg.heartbeat_interval_ms,
            lease_timeout_ms: reg.lease_timeout_ms,
        }))
    }

    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Lease").await?;
        let r = request.into_inner();
        let worker_id = required("worker_id", &r.worker_id)?;
        self.coordinator
            .check_speaks_for(&caller, worker_id)
            .await?;
        let task = self
            .coordinator
            .lease(worker_id, Duration::from_millis(u64::from(r.wait_ms)))
            .await?;
        Ok(Response::new(pb::LeaseResponse {
            task: task.map(convert::task).transpose()?,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Heartbeat").await?;
        let r = request.into_inner();
        let at = attempt_ref(r.worker_id, r.task_id, r.attempt)?;
        self.coordinator
            .check_speaks_for(&caller, &at.worker_id)
            .await?;
        let reply = self
            .coordinator
            .heartbeat(&at, r.progress.map(convert::progress_in))
            .await?;
        Ok(Response::new(pb::HeartbeatResponse {
            cancel: reply.cancel,
            deadline_unix_ms: reply.deadline_ms,
        }))
    }

    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Complete").await?;
        let r = request.into_inner();
        let at = attempt_ref(r.worker_id, r.task_id, r.attempt)?;
        self.coordinator
            .check_speaks_for(&caller, &at.worker_id)
            .await?;
        self.coordinator.complete(&at, r.output_keys).await?;
        Ok(Response::new(pb::CompleteResponse {}))
    }

    async fn fail(
        &self,
        request: Request<pb::FailRequest>,
    ) -> Result<Response<pb::FailResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Fail").await?;
        let r = request.into_inner();
        let at = attempt_ref(r.worker_id, r.task_id, r.attempt)?;
        self.coordinator
            .check_speaks_for(&caller, &at.worker_id)
            .await?;
        self.coordinator.fail(&at, &r.message, r.permanent).await?;
        Ok(Response::new(pb::FailResponse {}))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Worker, "Release").await?;
        let r = request.into_inner();
        let at = attempt_ref(r.worker_id, r.task_id, r.attempt)?;
        self.coordinator
            .check_speaks_for(&caller, &at.worker_id)
            .await?;
        self.coordinator.release(&at).await?;
        Ok(Response::new(pb::ReleaseResponse {}))
    }
}
