//! [`Objects`]: storage as a task sees it. The worker holds no storage
//! keys: for each object it asks the coordinator for a presigned URL
//! (`Presign`, fenced by the attempt like every report) and moves the bytes
//! over plain HTTP. A worker whose lease was lost gets no URL, and the URLs
//! it has expire with the lease.
//!
//! A URL lives as long as the lease has left when it is signed (at least
//! 1 s): on a loaded machine a request can reach storage after that, while
//! heartbeats have renewed the lease. So a refusal (`Denied`) is retried
//! once with a fresh URL; a worker that lost its lease gets none.

use bytes::Bytes;
use stylefarm_proto::connect::AuthChannel;
use stylefarm_proto::pb;
use stylefarm_proto::pb::work_client::WorkClient;
use stylefarm_storage::{Access, PresignedClient, StorageError};
use tonic::Code;

/// One attempt's access to storage. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Objects {
    client: WorkClient<AuthChannel>,
    http: PresignedClient,
    worker_id: String,
    task_id: String,
    attempt: u32,
}

impl Objects {
    /// Access for no task yet: [`Objects::for_attempt`] makes a usable one.
    pub(crate) fn new(
        client: WorkClient<AuthChannel>,
        http: PresignedClient,
        worker_id: String,
    ) -> Self {
        Objects {
            client,
            http,
            worker_id,
            task_id: String::new(),
            attempt: 0,
        }
    }

    /// The same, for `attempt` of `task_id`.
    pub(crate) fn for_attempt(&self, task_id: &str, attempt: u32) -> Objects {
        Objects {
            task_id: task_id.to_owned(),
            attempt,
            ..self.clone()
        }
    }

    /// Reads the whole object.
    pub(crate) async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let http = &self.http;
        self.with_url(
            Access::Get,
            key,
            |url| async move { http.get(&url, key).await },
        )
        .await
    }

    /// Stores `data` under `key` (below the task's output prefix).
    pub(crate) async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let http = &self.http;
        self.with_url(Access::Put, key, |url| {
            let data = data.clone();
            async move { http.put(&url, key, data).await }
        })
        .await
    }

    /// `Some(size in bytes)` if the object exists.
    pub(crate) async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let http = &self.http;
        self.with_url(Access::Head, key, |url| async move {
            http.head(&url, key).await
        })
        .await
    }

    /// Runs `request` with a fresh URL for `access` to `key`, and once more
    /// with another if storage refused the first.
    async fn with_url<T, F, Fut>(
        &self,
        access: Access,
        key: &str,
        request: F,
    ) -> Result<T, StorageError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        match request(self.url(access, key).await?).await {
            Err(StorageError::Denied { .. }) => request(self.url(access, key).await?).await,
            done => done,
        }
    }

    async fn url(&self, access: Access, key: &str) -> Result<String, StorageError> {
        let (wire, op) = match access {
            Access::Get => (pb::ObjectAccess::Get, "get"),
            Access::Put => (pb::ObjectAccess::Put, "put"),
            Access::Head => (pb::ObjectAccess::Head, "head"),
        };
        let request = pb::PresignRequest {
            worker_id: self.worker_id.clone(),
            task_id: self.task_id.clone(),
            attempt: self.attempt,
            access: wire.into(),
            keys: vec![key.to_owned()],
        };
        let response = self.client.clone().presign(request).await.map_err(|s| {
            let message = format!("the coordinator gave no URL: {}", s.message());
            match s.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Unknown => {
                    StorageError::Unreachable {
                        endpoint: "the coordinator".into(),
                        op: format!("presign {op} of {key}"),
                        message,
                    }
                }
                _ => StorageError::Denied {
                    op: op.into(),
                    key: key.to_owned(),
                    message,
                },
            }
        })?;
        response
            .into_inner()
            .urls
            .into_iter()
            .next()
            .ok_or_else(|| StorageError::S3 {
                op: format!("presign {op}"),
                key: key.to_owned(),
                message: "the coordinator answered without a URL".into(),
            })
    }
}
