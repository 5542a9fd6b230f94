//! [`Farm`]: one connection to a coordinator's `Farm` service.

use std::io::Write;
use std::path::{Path, PathBuf};

use stylefarm_proto::connect::{AuthChannel, Connection};
use stylefarm_proto::pb;
use stylefarm_proto::pb::admin_client::AdminClient;
use stylefarm_proto::pb::farm_client::FarmClient;
use stylefarm_proto::pb::schedules_client::SchedulesClient;
use tokio::io::AsyncReadExt;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;

use crate::error::{ClientError, Result};

/// Largest message the client accepts (a job with thousands of tasks).
const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Upload chunk size, bytes.
pub(crate) const CHUNK: usize = 1 << 20;

/// A connection to a farm's coordinator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Farm {
    pub(crate) client: FarmClient<AuthChannel>,
    admin: AdminClient<AuthChannel>,
    pub(crate) schedules: SchedulesClient<AuthChannel>,
    url: String,
}

/// How many of the newest jobs a short job id is looked up among.
pub const JOB_ID_SEARCH: u32 = 1000;

impl Farm {
    /// Connects to the coordinator of `to` (`http://HOST:PORT`, or
    /// `https://` with `to.ca_pem` or the system's roots); every call
    /// carries `to.token`.
    pub async fn connect(to: &Connection) -> Result<Farm> {
        let url = &to.url;
        let bearer = to.bearer()?;
        let channel = to
            .endpoint()?
            .connect()
            .await
            .map_err(|cause| ClientError::Connect {
                url: url.clone(),
                cause,
            })?;
        let channel = InterceptedService::new(channel, bearer);
        Ok(Farm {
            client: FarmClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::new(channel.clone()),
            schedules: SchedulesClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES),
            url: url.clone(),
        })
    }

    /// The coordinator's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Uploads a file's bytes (content-addressed: a file already there is
    /// stored once); returns its input key.
    pub async fn upload(&mut self, path: &Path, bytes: &[u8]) -> Result<String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let chunks: Vec<pb::UploadChunk> = bytes
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| pb::UploadChunk {
                file_name: if i == 0 { name.clone() } else { String::new() },
                data: c.to_vec(),
                file_path: String::new(),
            })
            .collect();
        let resp = self
            .client
            .upload_input(tokio_stream::iter(chunks))
            .await
            .map_err(ClientError::refused(format!(
                "upload of {} refused",
                path.display()
            )))?;
        Ok(resp.into_inner().input_key)
    }

    /// Uploads the file at `path` like [`Farm::upload`], read and sent 1 MiB
    /// at a time, so that a large file (a video) is never held whole.
    ///
    /// Errors: the file cannot be read (then the call is not trusted even
    /// if the coordinator took what was sent), or the farm refuses it.
    pub async fn upload_path(&mut self, path: &Path) -> Result<String> {
        let unreadable = |cause| ClientError::Io {
            what: "cannot read",
            path: path.to_path_buf(),
            cause,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A few chunks ahead of the network at most.
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadChunk>(4);
        let reader = tokio::spawn(async move {
            let mut first = true;
            loop {
                let mut data = Vec::with_capacity(CHUNK);
                (&mut file)
                    .take(CHUNK as u64)
                    .read_to_end(&mut data)
                    .await?;
                let last = data.len() < CHUNK;
                let chunk = pb::UploadChunk {
                    file_name: if first { name.clone() } else { String::new() },
                    data,
                    file_path: String::new(),
                };
                first = false;
                // A send fails only when the call has ended: its answer says why.
                if tx.send(chunk).await.is_err() || last {
                    return Ok::<(), std::io::Error>(());
                }
            }
        });
        let sent = self.client.upload_input(ReceiverStream::new(rx)).await;
        // A read error cut the upload short: it wins over whatever was stored.
        reader
            .await
            .map_err(|e| unreadable(std::io::Error::other(e)))?
            .map_err(unreadable)?;
        let resp = sent.map_err(ClientError::refused(format!(
            "upload of {} refused",
            path.display()
        )))?;
        Ok(resp.into_inner().input_key)
    }

    /// Submits a wire spec; returns the job id.
    pub async fn submit_spec(&mut self, spec: pb::JobSpec) -> Result<String> {
        let resp = self
            .client
            .submit_job(pb::SubmitJobRequest { spec: Some(spec) })
            .await
            .map_err(ClientError::refused("the farm refused the job"))?;
        Ok(resp.into_inner().job_id)
    }

    /// The job with all its tasks.
    pub async fn get_job(&mut self, job_id: &str) -> Result<pb::Job> {
        let req = pb::GetJobRequest {
            job_id: job_id.into(),
        };
        Ok(self
            .client
            .get_job(req)
            .await
            .map_err(ClientError::refused(format!("cannot read job {job_id}")))?
            .into_inner())
    }

    /// The full id of the job that `id` names: a full id as it is, or the
    /// unique prefix of one of the newest [`JOB_ID_SEARCH`] jobs (progress
    /// lines print 8 characters), as git takes a short commit id.
    pub async fn resolve_job_id(&mut self, id: &str) -> Result<String> {
        if id.len() >= 36 || id.is_empty() {
            return Ok(id.to_string());
        }
        let matches: Vec<String> = self
            .list_jobs(JOB_ID_SEARCH)
            .await?
            .into_iter()
            .map(|j| j.job_id)
            .filter(|j| j.starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ClientError::JobId(format!(
                "no job {id}: no recent job's id starts with it (`stylefarm jobs` lists them)"
            ))),
            many => Err(ClientError::JobId(format!(
                "{id} names {} jobs ({}…): give more of the id",
                many.len(),
                many[..2].join(", ")
            ))),
        }
    }

    /// The newest `limit` jobs, without their tasks.
    pub async fn list_jobs(&mut self, limit: u32) -> Result<Vec<pb::Job>> {
        Ok(self
            .client
            .list_jobs(pb::ListJobsRequest { limit })
            .await
            .map_err(ClientError::refused("cannot list jobs"))?
            .into_inner()
            .jobs)
    }

    /// Every worker the coordinator knows, alive or not.
    pub async fn list_workers(&mut self) -> Result<Vec<pb::WorkerInfo>> {
        Ok(self
            .client
            .list_workers(pb::ListWorkersRequest {})
            .await
            .map_err(ClientError::refused("cannot list workers"))?
            .into_inner()
            .workers)
    }

    /// Cancels a job; returns its state afterwards.
    pub async fn cancel(&mut self, job_id: &str) -> Result<pb::JobState> {
        let req = pb::CancelJobRequest {
            job_id: job_id.into(),
        };
        Ok(self
            .client
            .cancel_job(req)
            .await
            .map_err(ClientError::refused(format!("cannot cancel job {job_id}")))?
            .into_inner()
            .state())
    }

    /// Follows a job's events to its end, calling `on_event` for each;
    /// returns the finished job. A failed or cancelled job is an error.
    pub async fn watch(
        &mut self,
        job_id: &str,
        mut on_event: impl FnMut(&pb::JobEvent),
    ) -> Result<pb::Job> {
        let req = pb::WatchJobRequest {
            job_id: job_id.into(),
        };
        let mut stream = self
            .client
            .watch_job(req)
            .await
            .map_err(ClientError::refused(format!("cannot watch job {job_id}")))?
            .into_inner();
        while let Some(event) = stream.next().await {
            let event = event.map_err(|status| ClientError::Stream {
                what: format!("the event stream of job {job_id}"),
                status,
            })?;
            on_event(&event);
            if is_terminal(event.job_state()) {
                break;
            }
        }
        let job = self.get_job(job_id).await?;
        let ended = |state: &str| ClientError::JobEnded {
            job_id: job_id.into(),
            state: state.into(),
            error: job.error.clone(),
        };
        match job.state() {
            pb::JobState::Succeeded => Ok(job),
            pb::JobState::Failed => Err(ended("failed")),
            pb::JobState::Cancelled => Err(ended("was cancelled")),
            other => Err(ended(&format!(
                "ended its event stream while {}",
                state_name(other)
            ))),
        }
    }

    /// Creates a token (admin tokens only); returns its secret and what the
    /// farm stored. `expires_in_seconds` 0 = never.
    pub async fn create_token(
        &mut self,
        name: &str,
        role: pb::Role,
        expires_in_seconds: u64,
    ) -> Result<pb::CreateTokenResponse> {
        let req = pb::CreateTokenRequest {
            name: name.into(),
            role: role.into(),
            expires_in_seconds,
        };
        Ok(self
            .admin
            .create_token(req)
            .await
            .map_err(ClientError::refused("cannot create the token"))?
            .into_inner())
    }

    /// Every token of the farm, revoked ones included (admin tokens only).
    pub async fn list_tokens(&mut self) -> Result<Vec<pb::TokenInfo>> {
        Ok(self
            .admin
            .list_tokens(pb::ListTokensRequest {})
            .await
            .map_err(ClientError::refused("cannot list tokens"))?
            .into_inner()
            .tokens)
    }

    /// Revokes a token by its id (admin tokens only); its next call fails.
    pub async fn revoke_token(&mut self, token_id: &str) -> Result<pb::TokenInfo> {
        let req = pb::RevokeTokenRequest {
            token_id: token_id.into(),
        };
        Ok(self
            .admin
            .revoke_token(req)
            .await
            .map_err(ClientError::refused(format!(
                "cannot revoke token {token_id}"
            )))?
            .into_inner()
            .info
            .unwrap_or_default())
    }

    /// Downloads one object to `dest`, creating its folder. The bytes are
    /// written as they arrive, to `DEST.part`, which becomes `dest` once
    /// complete: a broken download leaves no partial file under `dest`.
    pub async fn download(&mut self, key: &str, dest: &Path) -> Result<()> {
        let req = pb::DownloadRequest { key: key.into() };
        let mut stream = self
            .client
            .download_output(req)
            .await
            .map_err(ClientError::refused(format!("cannot download {key}")))?
            .into_inner();
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |cause| ClientError::Io { what, path, cause }
        };
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        }
        let mut part_name = dest.as_os_str().to_owned();
        part_name.push(".part");
        let part = PathBuf::from(part_name);
        let mut file = std::fs::File::create(&part).map_err(io("cannot write", &part))?;
        let received = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|status| ClientError::Stream {
                    what: format!("the download of {key}"),
                    status,
                })?;
                file.write_all(&chunk.data)
                    .map_err(io("cannot write", &part))?;
            }
            file.flush().map_err(io("cannot write", &part))
        }
        .await;
        drop(file);
        match received {
            Ok(()) => std::fs::rename(&part, dest).map_err(io("cannot write", dest)),
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                Err(e)
            }
        }
    }
}

/// Whether a job in state `s` will never change again.
pub fn is_terminal(s: pb::JobState) -> bool {
    matches!(
        s,
        pb::JobState::Succeeded | pb::JobState::Failed | pb::JobState::Cancelled
    )
}

/// A job state in words.
pub fn state_name(s: pb::JobState) -> &'static str {
    match s {
        pb::JobState::Unspecified => "unknown",
        pb::JobState::Queued => "queued",
        pb::JobState::Running => "running",
        pb::JobState::Succeeded => "succeeded",
        pb::JobState::Failed => "failed",
        pb::JobState::Cancelled => "cancelled",
    }
}

/// A task state in words, as progress bars show it.
pub fn task_state_name(s: pb::TaskState) -> &'static str {
    match s {
        pb::TaskState::Unspecified => "unknown",
        pb::TaskState::Blocked => "blocked",
        pb::TaskState::Ready => "ready",
        pb::TaskState::Leased => "running",
        pb::TaskState::Succeeded => "done",
        pb::TaskState::Failed => "failed",
        pb::TaskState::Cancelled => "cancelled",
    }
}
