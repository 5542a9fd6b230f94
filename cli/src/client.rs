//! The farm seen from a client: upload inputs, submit, watch with progress
//! bars, download outputs. Used by `submit`, `watch`, `get` and `render`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use stylefarm_engine::Image;
use stylefarm_proto::pb;
use stylefarm_proto::pb::farm_client::FarmClient;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::engine_flags::ResolvedEngine;
use crate::wire;

pub type Client = FarmClient<Channel>;

const CHUNK: usize = 1 << 20;

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .with_context(|| format!("bad coordinator URL '{url}': use e.g. http://127.0.0.1:7070"))?
        .connect()
        .await
        .with_context(|| {
            format!(
                "cannot reach the coordinator at {url}: is `stylefarm coordinator` running there?"
            )
        })?;
    Ok(FarmClient::new(channel).max_decoding_message_size(64 << 20))
}

/// A job to submit, with local files.
pub struct Submission {
    pub name: String,
    /// "single", "grid", "gallery" or "texture".
    pub kind: String,
    pub content: Option<PathBuf>,
    /// Gallery contents.
    pub contents: Vec<PathBuf>,
    /// Grid cells per axis and axis.
    pub steps: u32,
    pub axis: String,
    /// Highres tile side and overlap.
    pub tile: u32,
    pub overlap: u32,
    pub engine: ResolvedEngine,
    pub priority: i32,
    pub max_input_pixels: u64,
}

impl Submission {
    /// A submission of `job` (see `crate::job`).
    pub fn new(
        job: crate::job::JobRequest,
        name: String,
        priority: i32,
        max_input_pixels: u64,
    ) -> Self {
        Submission {
            name: job.name.unwrap_or(name),
            kind: job.kind,
            content: job.content,
            contents: job.contents,
            steps: job.steps,
            axis: job.axis,
            tile: job.tile,
            overlap: job.overlap,
            engine: job.engine,
            priority: job.priority.unwrap_or(priority),
            max_input_pixels,
        }
    }
}

/// A picture's label: its file name without the extension.
fn label(p: &Path) -> String {
    p.file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect()
        })
        .unwrap_or_default()
}

/// Checks every input locally (a bad image is refused before anything is
/// sent), uploads them once each, and submits. Returns the job id.
pub async fn submit(client: &mut Client, s: &Submission) -> anyhow::Result<String> {
    let mut files: Vec<&Path> = s.content.iter().map(PathBuf::as_path).collect();
    files.extend(s.contents.iter().map(PathBuf::as_path));
    files.extend(s.engine.styles.iter().map(|(p, _)| p.as_path()));
    files.extend(s.engine.init_image.as_deref());
    let mut keys: HashMap<PathBuf, String> = HashMap::new();
    let mut content_dims = (0, 0);
    for path in files {
        if keys.contains_key(path) {
            continue;
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let img = Image::decode(&bytes, path, s.max_input_pixels)?;
        if s.content.as_deref() == Some(path) {
            content_dims = (img.width as u32, img.height as u32);
        }
        let key = upload(client, path, bytes).await?;
        keys.insert(path.to_path_buf(), key);
    }
    let init_key = s.engine.init_image.as_ref().map(|p| keys[p].as_str());
    let settings =
        wire::render_settings(&s.engine.settings, init_key, s.engine.animation.is_some());
    let spec = pb::JobSpec {
        name: s.name.clone(),
        kind: s.kind.clone(),
        content_key: s
            .content
            .as_ref()
            .map(|p| keys[p].clone())
            .unwrap_or_default(),
        content_name: s.content.as_deref().map(label).unwrap_or_default(),
        styles: s
            .engine
            .styles
            .iter()
            .map(|(p, w)| pb::StyleInput {
                input_key: keys[p].clone(),
                weight: *w,
                name: label(p),
            })
            .collect(),
        contents: s
            .contents
            .iter()
            .map(|p| pb::ContentInput {
                input_key: keys[p].clone(),
                name: label(p),
            })
            .collect(),
        steps: if s.kind == "grid" { s.steps } else { 0 },
        axis: if s.kind == "grid" {
            s.axis.clone()
        } else {
            String::new()
        },
        tile: s.tile,
        overlap: s.overlap,
        // Single jobs send it too: the coordinator splits one that is too
        // big for its workers into highres tiles.
        content_width: content_dims.0,
        content_height: content_dims.1,
        settings: Some(settings),
        priority: s.priority,
    };
    let resp = client
        .submit_job(pb::SubmitJobRequest { spec: Some(spec) })
        .await
        .map_err(|s| anyhow::anyhow!("the farm refused the job: {}", s.message()))?;
    Ok(resp.into_inner().job_id)
}

async fn upload(client: &mut Client, path: &Path, bytes: Vec<u8>) -> anyhow::Result<String> {
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
        })
        .collect();
    let resp = client
        .upload_input(tokio_stream::iter(chunks))
        .await
        .map_err(|s| anyhow::anyhow!("upload of {} refused: {}", path.display(), s.message()))?;
    Ok(resp.into_inner().input_key)
}

/// Follows a job to its end with progress bars (hidden when `quiet`).
/// Returns the final job; a failed or cancelled job is an error.
pub async fn watch(client: &mut Client, job_id: &str, quiet: bool) -> anyhow::Result<pb::Job> {
    let mut stream = client
        .watch_job(pb::WatchJobRequest {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("cannot watch job {job_id}: {}", s.message()))?
        .into_inner();
    let multi = if quiet {
        MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let total = multi.add(ProgressBar::new(0));
    total.set_style(
        ProgressStyle::with_template("job {prefix} [{bar:30}] {pos}/{len} tasks {msg}")?
            .progress_chars("=> "),
    );
    total.set_prefix(short(job_id));
    let task_style = ProgressStyle::with_template("  {prefix} [{bar:30}] {pos}/{len} {msg}")?
        .progress_chars("=> ");
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    while let Some(event) = stream.next().await {
        let event =
            event.map_err(|s| anyhow::anyhow!("lost the job's event stream: {}", s.message()))?;
        total.set_length(event.tasks_total as u64);
        total.set_position(event.tasks_done as u64);
        total.set_message(state_name(event.job_state()).to_string());
        if let Some(t) = &event.task {
            let bar = bars.entry(t.task_id.clone()).or_insert_with(|| {
                let b = multi.add(ProgressBar::new(0));
                b.set_style(task_style.clone());
                b.set_prefix(format!("{} {}", t.kind, short(&t.task_id)));
                b
            });
            if let Some(p) = &t.progress {
                bar.set_length(p.iterations as u64);
                bar.set_position(p.iteration as u64);
                bar.set_message(format!(
                    "scale {}/{} loss {:.4e}",
                    p.scale_index + 1,
                    p.scales.max(1),
                    p.total_loss
                ));
            }
            if matches!(
                t.state(),
                pb::TaskState::Succeeded | pb::TaskState::Failed | pb::TaskState::Cancelled
            ) {
                bar.finish_with_message(task_state_name(t.state()).to_string());
            }
        }
        if is_terminal(event.job_state()) {
            break;
        }
    }
    total.finish();
    let job = client
        .get_job(pb::GetJobRequest {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("cannot read job {job_id}: {}", s.message()))?
        .into_inner();
    match job.state() {
        pb::JobState::Succeeded => Ok(job),
        pb::JobState::Failed => bail!("job {job_id} failed: {}", job.error),
        pb::JobState::Cancelled => bail!("job {job_id} was cancelled"),
        other => bail!(
            "job {job_id} ended its event stream while {}",
            state_name(other)
        ),
    }
}

/// Downloads one object to `dest`.
pub async fn download(client: &mut Client, key: &str, dest: &Path) -> anyhow::Result<()> {
    let mut stream = client
        .download_output(pb::DownloadRequest {
            key: key.to_string(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("cannot download {key}: {}", s.message()))?
        .into_inner();
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        data.extend(
            chunk
                .map_err(|s| anyhow::anyhow!("download of {key} broke off: {}", s.message()))?
                .data,
        );
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(dest, data).with_context(|| format!("cannot write {}", dest.display()))
}

pub fn is_terminal(s: pb::JobState) -> bool {
    matches!(
        s,
        pb::JobState::Succeeded | pb::JobState::Failed | pb::JobState::Cancelled
    )
}

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

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
