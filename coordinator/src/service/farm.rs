//! `stylefarm.v1.Farm`: the clients' service.

use std::pin::Pin;

use futures::Stream;
use stylefarm_proto::pb::{self, farm_server::Farm};
use stylefarm_spec::JobSpec;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

use super::{authorize, convert, required};
use crate::error::CoordinatorError;
use crate::server::Coordinator;
use crate::tokens::Role;

/// Download chunk size.
const CHUNK_BYTES: usize = 1 << 20;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[derive(Debug, Clone)]
pub(crate) struct FarmService {
    coordinator: Coordinator,
}

impl FarmService {
    pub(crate) fn new(coordinator: Coordinator) -> Self {
        Self { coordinator }
    }
}

#[tonic::async_trait]
impl Farm for FarmService {
    #[instrument(skip_all)]
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "SubmitJob").await?;
        let spec = request
            .into_inner()
            .spec
            .ok_or_else(|| CoordinatorError::InvalidArgument {
                field: "spec",
                problem: "missing; send a JobSpec".into(),
            })?;
        let spec = JobSpec::try_from(&spec).map_err(CoordinatorError::from)?;
        let job_id = self.coordinator.submit_job(spec, &caller).await?;
        Ok(Response::new(pb::SubmitJobResponse { job_id }))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "GetJob").await?;
        let request = request.into_inner();
        let job = self
            .coordinator
            .get_job(required("job_id", &request.job_id)?, &caller)
            .await?;
        Ok(Response::new(convert::job(job)?))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "ListJobs").await?;
        let jobs = self
            .coordinator
            .list_jobs(request.into_inner().limit, &caller)
            .await?;
        let jobs = jobs
            .into_iter()
            .map(convert::job)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    type WatchJobStream = BoxStream<pb::JobEvent>;

    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "WatchJob").await?;
        let request = request.into_inner();
        let events = self
            .coordinator
            .watch_job(required("job_id", &request.job_id)?, &caller)
            .await?;
        let stream = ReceiverStream::new(events)
            .map(|event| event.map(convert::job_event).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "CancelJob").await?;
        let request = request.into_inner();
        let state = self
            .coordinator
            .cancel_job(required("job_id", &request.job_id)?, &caller)
            .await?;
        Ok(Response::new(pb::CancelJobResponse {
            state: convert::job_state(state).into(),
        }))
    }

    async fn retry_job(
        &self,
        request: Request<pb::RetryJobRequest>,
    ) -> Result<Response<pb::RetryJobResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "RetryJob").await?;
        let request = request.into_inner();
        let retried = self
            .coordinator
            .retry_job(required("job_id", &request.job_id)?, &caller)
            .await?;
        Ok(Response::new(pb::RetryJobResponse {
            state: pb::JobState::Queued.into(),
            tasks_retried: u32::try_from(retried).unwrap_or(u32::MAX),
        }))
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "ListFiles").await?;
        let request = request.into_inner();
        let files = self
            .coordinator
            .owner_files(&caller.name, &request.prefix)
            .await?;
        Ok(Response::new(pb::ListFilesResponse {
            files: files
                .into_iter()
                .map(|f| pb::StoredFile {
                    path: f.key,
                    size: f.size,
                    modified_unix_ms: f.modified_ms,
                })
                .collect(),
        }))
    }

    async fn list_workers(
        &self,
        request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        authorize(&self.coordinator, &request, Role::Client, "ListWorkers").await?;
        let workers = self.coordinator.list_workers().await?;
        Ok(Response::new(pb::ListWorkersResponse {
            workers: workers.into_iter().map(convert::worker_info).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn upload_input(
        &self,
        request: Request<Streaming<pb::UploadChunk>>,
    ) -> Result<Response<pb::UploadInputResponse>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "UploadInput").await?;
        let mut chunks = request.into_inner();
        let first = chunks
            .message()
            .await?
            .ok_or_else(|| CoordinatorError::InvalidArgument {
                field: "data",
                problem: "the upload is empty; send the file's bytes".into(),
            })?;
        // Name, path and extension are checked before any byte is stored.
        let mut upload = if first.file_path.is_empty() {
            self.coordinator.start_input_upload(&first.file_name)?
        } else {
            self.coordinator
                .start_file_upload(&first.file_path, &caller)?
        };
        // Written to storage as chunks arrive and counted: a too-large upload
        // is refused before it is stored, and none is held whole. An upload
        // given up on an error is dropped, which aborts it in storage.
        let limit = self.coordinator.upload_limit();
        let mut data = first.data;
        loop {
            if upload.size() + data.len() as u64 > limit {
                return Err(CoordinatorError::UploadTooLarge { limit }.into());
            }
            upload.write(&data).await.map_err(CoordinatorError::from)?;
            match chunks.message().await? {
                Some(chunk) => data = chunk.data,
                None => break,
            }
        }
        let stored = self.coordinator.finish_upload(upload).await?;
        Ok(Response::new(pb::UploadInputResponse {
            input_key: stored.key,
            size: stored.size,
            existed: stored.existed,
        }))
    }

    type DownloadOutputStream = BoxStream<pb::DataChunk>;

    async fn download_output(
        &self,
        request: Request<pb::DownloadRequest>,
    ) -> Result<Response<Self::DownloadOutputStream>, Status> {
        let caller = authorize(&self.coordinator, &request, Role::Client, "DownloadOutput").await?;
        let request = request.into_inner();
        let reader = self
            .coordinator
            .download(required("key", &request.key)?, &caller)
            .await?;
        // prost's `bytes` fields are `Vec<u8>`: one copy per chunk.
        let chunks = reader.into_chunks(CHUNK_BYTES).map(|chunk| match chunk {
            Ok(data) => Ok(pb::DataChunk {
                data: data.to_vec(),
            }),
            Err(e) => Err(CoordinatorError::from(e).into()),
        });
        Ok(Response::new(Box::pin(chunks)))
    }
}
