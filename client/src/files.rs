//! A client's files and series: pictures uploaded by path for schedules to
//! choose from, a series' published runs, and retrying a job.

use stylefarm_proto::pb;

use crate::error::{ClientError, Result};
use crate::farm::{CHUNK, Farm};

impl Farm {
    /// Stores `bytes` at `files/<this token's name>/<path>` (replacing what
    /// was there); returns the key.
    pub async fn upload_file(&mut self, path: &str, bytes: &[u8]) -> Result<String> {
        let chunks: Vec<pb::UploadChunk> = bytes
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| pb::UploadChunk {
                file_name: if i == 0 {
                    path.to_owned()
                } else {
                    String::new()
                },
                file_path: if i == 0 {
                    path.to_owned()
                } else {
                    String::new()
                },
                data: c.to_vec(),
            })
            .collect();
        Ok(self
            .client
            .upload_input(tokio_stream::iter(chunks))
            .await
            .map_err(ClientError::refused(format!("upload to {path} refused")))?
            .into_inner()
            .input_key)
    }

    /// This token's files under `prefix`, newest first.
    pub async fn list_files(&mut self, prefix: &str) -> Result<Vec<pb::StoredFile>> {
        Ok(self
            .client
            .list_files(pb::ListFilesRequest {
                prefix: prefix.into(),
            })
            .await
            .map_err(ClientError::refused(format!(
                "cannot list files under {prefix:?}"
            )))?
            .into_inner()
            .files)
    }

    /// The published runs of series `name` fired at or after `since_ms`
    /// (unix ms), oldest first, and the key of the series' index page.
    pub async fn list_series(
        &mut self,
        name: &str,
        since_ms: i64,
    ) -> Result<pb::ListSeriesResponse> {
        Ok(self
            .schedules
            .list_series(pb::ListSeriesRequest {
                name: name.into(),
                since_unix_ms: since_ms,
            })
            .await
            .map_err(ClientError::refused(format!("cannot list series {name}")))?
            .into_inner())
    }

    /// Runs a failed or cancelled job again; returns how many tasks were
    /// queued again.
    pub async fn retry(&mut self, job_id: &str) -> Result<u32> {
        Ok(self
            .client
            .retry_job(pb::RetryJobRequest {
                job_id: job_id.into(),
            })
            .await
            .map_err(ClientError::refused(format!("cannot retry job {job_id}")))?
            .into_inner()
            .tasks_retried)
    }
}
