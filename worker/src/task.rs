//! One task from inputs to outputs: fetch, render on a blocking thread,
//! heartbeat with progress meanwhile, upload, complete (or fail, or release).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stylefarm_engine::animation::Animation;
use stylefarm_engine::{
    CancelToken, EngineError, Hooks, Image, Init, Progress, Scales, Settings, Style, StyleTargets,
    Vgg19, render, render_with_targets,
};
use stylefarm_proto::pb;
use stylefarm_proto::pb::work_client::WorkClient;
use stylefarm_storage::Store;
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;
use tracing::Instrument;
use tracing::{info, warn};

use crate::error::WorkerError;
use crate::{assemble, spec, targets};

/// What every task of a worker shares.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) client: WorkClient<Channel>,
    pub(crate) store: Store,
    pub(crate) model: Arc<Vgg19>,
    pub(crate) worker_id: String,
    pub(crate) heartbeat: Duration,
    pub(crate) max_pixels: u64,
    /// The worker's memory budget, for jobs that set none.
    pub(crate) max_memory: Option<u64>,
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
}

/// Inputs of a render, decoded.
struct Inputs {
    content: Option<Image>,
    styles: Vec<Style>,
    init: Option<Image>,
}

pub(crate) async fn execute(
    ctx: &Context,
    task: pb::Task,
    shutdown: watch::Receiver<bool>,
) -> Outcome {
    let span = tracing::info_span!("task", task = %task.task_id, job = %task.job_id, worker = %ctx.worker_id);
    execute_in_span(ctx, task, shutdown).instrument(span).await
}

async fn execute_in_span(
    ctx: &Context,
    task: pb::Task,
    mut shutdown: watch::Receiver<bool>,
) -> Outcome {
    info!(attempt = task.attempt, kind = %task.kind, "task leased");
    let cancel = CancelToken::new();
    let (progress_tx, progress_rx) = watch::channel(None::<Progress>);
    let (snap_tx, mut snap_rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();

    let work = run_task(ctx, &task, cancel.clone(), progress_tx, snap_tx);
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(ctx.heartbeat);
    ticker.tick().await;
    let mut released = false;
    let mut dropped = false;
    let mut preview = String::new();
    let mut uploaded: Vec<String> = Vec::new();
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = ticker.tick() => {
                upload_snapshots(ctx, &task.output_prefix, &mut snap_rx, &mut preview, &mut uploaded).await;
                let p = *progress_rx.borrow();
                let req = pb::HeartbeatRequest {
                    worker_id: ctx.worker_id.clone(),
                    task_id: task.task_id.clone(),
                    attempt: task.attempt,
                    progress: p.map(|p| to_pb(&p, &preview)),
                };
                let mut client = ctx.client.clone();
                match client.heartbeat(req).await {
                    Ok(r) if r.get_ref().cancel => {
                        info!("job cancelled: stopping");
                        dropped = true;
                        cancel.cancel();
                    }
                    Ok(_) => {}
                    Err(s) if s.code() == tonic::Code::FailedPrecondition || s.code() == tonic::Code::NotFound => {
                        warn!(status = %s, "lease lost: stopping");
                        dropped = true;
                        cancel.cancel();
                    }
                    Err(s) => warn!(status = %s, "heartbeat failed; will retry"),
                }
            }
            _ = shutdown.changed(), if !released => {
                info!("shutting down: releasing the task");
                released = true;
                cancel.cancel();
            }
        }
    };
    upload_snapshots(
        ctx,
        &task.output_prefix,
        &mut snap_rx,
        &mut preview,
        &mut uploaded,
    )
    .await;

    let mut client = ctx.client.clone();
    match result {
        Ok(mut keys) => {
            keys.extend(uploaded);
            let req = pb::CompleteRequest {
                worker_id: ctx.worker_id.clone(),
                task_id: task.task_id.clone(),
                attempt: task.attempt,
                output_keys: keys,
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
        Err(WorkerError::Engine(EngineError::Cancelled)) if released => {
            let req = pb::ReleaseRequest {
                worker_id: ctx.worker_id.clone(),
                task_id: task.task_id.clone(),
                attempt: task.attempt,
            };
            if let Err(s) = client.release(req).await {
                warn!(status = %s, "release failed; the lease will expire instead");
            }
            Outcome::Released
        }
        Err(WorkerError::Engine(EngineError::Cancelled)) if dropped => Outcome::Dropped,
        Err(e) => {
            let permanent = e.is_permanent();
            warn!(error = %e, permanent, "task failed");
            let req = pb::FailRequest {
                worker_id: ctx.worker_id.clone(),
                task_id: task.task_id.clone(),
                attempt: task.attempt,
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

/// Fetches, renders and uploads; returns the output keys.
async fn run_task(
    ctx: &Context,
    task: &pb::Task,
    cancel: CancelToken,
    progress: watch::Sender<Option<Progress>>,
    snapshots: mpsc::UnboundedSender<(String, Vec<u8>)>,
) -> Result<Vec<String>, WorkerError> {
    let spec = task
        .spec
        .as_ref()
        .ok_or_else(|| WorkerError::BadTask("task has no job spec".into()))?;
    let wire = spec
        .settings
        .as_ref()
        .ok_or_else(|| WorkerError::BadTask("job spec has no settings".into()))?;
    let params = task.params.clone().unwrap_or_default();
    match task.kind.as_str() {
        "stylize" => {}
        "targets" => return targets::run(ctx, wire, &params).await,
        "assemble" => return assemble::run(ctx, &task.output_prefix, &params).await,
        other => {
            return Err(WorkerError::BadTask(format!(
                "this worker cannot run tasks of kind '{other}'"
            )));
        }
    }
    let mut settings = spec::settings(wire)?;
    settings.max_memory = settings.max_memory.or(ctx.max_memory);
    if params.style_weight > 0.0 {
        settings.style_weight = params.style_weight;
    }
    if params.size > 0 {
        settings.size = params.size as usize;
        settings.scales = Scales::Single;
    }
    // The first scale of a tiled texture: the whole texture at this size.
    if settings.texture.is_some() && params.full_width > 0 && params.crop_width == 0 {
        settings.texture = Some((params.full_width as usize, params.full_height as usize));
    }
    // A highres tile: this crop of the content at full_width × full_height.
    let tile = (params.crop_width > 0).then_some(Tile {
        full: (params.full_width as usize, params.full_height as usize),
        at: (params.crop_x as usize, params.crop_y as usize),
        size: (params.crop_width as usize, params.crop_height as usize),
        content: (spec.content_width, spec.content_height),
    });
    if let Some(t) = &tile {
        settings.size = t.size.0.max(t.size.1);
        settings.scales = Scales::Single;
        if settings.texture.is_some() {
            settings.texture = Some(t.size);
        }
    }
    let output_name = match params.output_name.as_str() {
        "" => "result.png".to_string(),
        n if n.ends_with(".png")
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
        {
            n.to_string()
        }
        n => return Err(WorkerError::BadTask(format!("bad output name {n:?}"))),
    };
    let style_inputs = if params.styles.is_empty() {
        &spec.styles
    } else {
        &params.styles
    };
    let content_key = if params.content_key.is_empty() {
        spec.content_key.as_str()
    } else {
        params.content_key.as_str()
    };

    let fetch = |key: String| {
        let store = ctx.store.clone();
        async move { store.get(&key).await.map(|b| (key, b)) }
    };
    let content = match content_key {
        "" => None,
        key => Some(fetch(key.to_string()).await?),
    };
    let mut styles = Vec::with_capacity(style_inputs.len());
    for s in style_inputs {
        styles.push((fetch(s.input_key.clone()).await?, s.weight));
    }
    // Shared targets from the cache; any missing → computed inline instead.
    let mut cached = Some(Vec::with_capacity(params.cache_keys.len()));
    for key in &params.cache_keys {
        match ctx.store.get(key).await {
            Ok(b) => cached.iter_mut().for_each(|c| c.push(b.clone())),
            Err(e) => {
                warn!(key = %key, error = %e, "cached style targets unavailable: computing them here");
                cached = None;
                break;
            }
        }
    }
    let cached = cached.filter(|c| !c.is_empty());
    let expected_sides = if params.style_sides.is_empty() {
        stylefarm_proto::cache::style_sides(wire)
    } else {
        params.style_sides.clone()
    };
    let init = match (wire.init.as_str(), wire.init_input_key.as_str()) {
        _ if !params.init_key.is_empty() => Some(fetch(params.init_key.clone()).await?),
        ("image", key) if !key.is_empty() => Some(fetch(key.to_string()).await?),
        ("image", _) => {
            return Err(WorkerError::BadTask(
                "init 'image' without init_input_key".into(),
            ));
        }
        _ => None,
    };

    let model = ctx.model.clone();
    let max_pixels = ctx.max_pixels;
    let prefix = task.output_prefix.clone();
    let animation = wire.animation;
    let anim_dir = tempdir()?;
    let anim_path = anim_dir.join("animation.gif");
    let anim_path2 = anim_path.clone();
    let (png, gif) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, bool), WorkerError> {
            let decode =
                |(key, bytes): &(String, Bytes)| Image::decode(bytes, Path::new(key), max_pixels);
            let mut inputs = Inputs {
                content: content.as_ref().map(decode).transpose()?,
                styles: styles
                    .iter()
                    .map(|(kb, w)| {
                        Ok(Style {
                            image: decode(kb)?,
                            weight: *w,
                        })
                    })
                    .collect::<Result<_, EngineError>>()?,
                init: init.as_ref().map(decode).transpose()?,
            };
            if let Some(t) = &tile {
                // A texture's tile has no content: only its init is cropped.
                if let Some(content) = inputs.content.take() {
                    if (content.width as u32, content.height as u32) != t.content {
                        return Err(WorkerError::BadTask(format!(
                            "the content is {}×{}, the job says {}×{}",
                            content.width, content.height, t.content.0, t.content.1
                        )));
                    }
                    inputs.content = Some(t.crop(&content)?);
                } else if settings.texture.is_none() {
                    return Err(WorkerError::BadTask("a tile without content".into()));
                }
                let init = inputs.init.take().ok_or_else(|| {
                    WorkerError::BadTask("a tile without the previous scale to start from".into())
                })?;
                inputs.init = Some(t.crop(&init)?);
            }
            if let Some(img) = inputs.init.take() {
                settings.init = Init::Image(img);
            }
            let (w, h) = settings.output_dims(inputs.content.as_ref());
            let mut anim = if animation {
                Some(Animation::create(&anim_path2, w, h, 100)?)
            } else {
                None
            };
            let save_every = settings.save_every;
            let mut on_progress = |p: &Progress| {
                let _ = progress.send(Some(*p));
            };
            let mut on_snapshot = |p: &Progress, img: &Image| {
                if save_every == 0 || !p.iteration.is_multiple_of(save_every) {
                    return;
                }
                if let Some(a) = anim.as_mut() {
                    let _ = a.push(img);
                }
                if let Ok(png) = img.encode_png() {
                    let _ = snapshots.send((
                        format!("snapshots/{}-{:06}.png", p.scale + 1, p.iteration),
                        png,
                    ));
                }
            };
            let hooks = Hooks {
                progress: Some(&mut on_progress),
                snapshot: Some(&mut on_snapshot),
                cancel: Some(cancel),
            };
            let shared = match &cached {
                Some(bytes) => shared_targets(
                    &model,
                    &inputs,
                    &settings,
                    bytes,
                    &expected_sides,
                    tile.is_some(),
                )?,
                None => None,
            };
            let out = match shared {
                Some(targets) => render_with_targets(
                    &model,
                    inputs.content.as_ref(),
                    &targets,
                    &settings,
                    hooks,
                )?,
                None => render(
                    &model,
                    inputs.content.as_ref(),
                    &inputs.styles,
                    &settings,
                    hooks,
                )?,
            };
            if let Some(a) = anim.as_mut() {
                a.push(&out)?;
            }
            let has_gif = anim.is_some();
            drop(anim);
            Ok((out.encode_png()?, has_gif))
        })
        .await
        .map_err(|e| WorkerError::Join(e.to_string()))??;

    let mut keys = Vec::new();
    let key = format!("{prefix}{output_name}");
    ctx.store.put(&key, Bytes::from(png)).await?;
    keys.push(key);
    if gif {
        let bytes = std::fs::read(&anim_path)
            .map_err(|e| WorkerError::BadTask(format!("animation: {e}")))?;
        let key = format!("{prefix}animation.gif");
        ctx.store.put(&key, Bytes::from(bytes)).await?;
        keys.push(key);
    }
    let _ = std::fs::remove_dir_all(&anim_dir);
    Ok(keys)
}

/// Where a highres tile lies in its scale's picture.
struct Tile {
    /// The scale's full picture size.
    full: (usize, usize),
    at: (usize, usize),
    size: (usize, usize),
    /// The content's size as the job states it.
    content: (u32, u32),
}

impl Tile {
    /// `img` resized to the full size, cropped to the tile.
    fn crop(&self, img: &Image) -> Result<Image, WorkerError> {
        let full = img.resize(self.full.0, self.full.1);
        let ((x0, y0), (w, h)) = (self.at, self.size);
        if x0 + w > full.width || y0 + h > full.height {
            return Err(WorkerError::BadTask(format!(
                "tile {w}×{h} at ({x0}, {y0}) outside {}×{}",
                full.width, full.height
            )));
        }
        let n = full.width * full.height;
        let mut data = Vec::with_capacity(3 * w * h);
        for c in 0..3 {
            for y in 0..h {
                let row = c * n + (y0 + y) * full.width + x0;
                data.extend_from_slice(&full.data[row..row + w]);
            }
        }
        Ok(Image {
            width: w,
            height: h,
            data,
        })
    }
}

/// The per-scale targets of this render, blended from the cached per-style
/// targets (`bytes`: styles × scales, style-major); `None` when they do not
/// fit this render (then the render computes its own).
fn shared_targets(
    model: &Vgg19,
    inputs: &Inputs,
    settings: &Settings,
    bytes: &[Bytes],
    expected_sides: &[u32],
    global: bool,
) -> Result<Option<Vec<StyleTargets>>, WorkerError> {
    let dims = settings.scale_dims(inputs.content.as_ref())?;
    // A tile aims at the whole picture's targets (`global`), not its own.
    let sides: Vec<u32> = if global {
        expected_sides.to_vec()
    } else {
        dims.iter()
            .map(|&(w, h)| {
                stylefarm_proto::cache::style_side(w.max(h) as u32, settings.style_scale)
            })
            .collect()
    };
    let n = dims.len();
    if sides != expected_sides || bytes.len() != n * inputs.styles.len() {
        warn!(
            ?sides,
            ?expected_sides,
            "cached style targets do not match this render: computing them here"
        );
        return Ok(None);
    }
    let per_style = bytes
        .iter()
        .map(|b| StyleTargets::from_safetensors(b, model.device(), model.dtype()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(n);
    for j in 0..n {
        let parts: Vec<(&StyleTargets, f64)> = inputs
            .styles
            .iter()
            .enumerate()
            .map(|(i, s)| (&per_style[i * n + j], s.weight))
            .collect();
        out.push(StyleTargets::blend(&parts)?);
    }
    Ok(Some(out))
}

/// Uploads the snapshots the render has made so far, under the task's
/// output prefix; the newest becomes the heartbeat's preview.
async fn upload_snapshots(
    ctx: &Context,
    prefix: &str,
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    preview: &mut String,
    uploaded: &mut Vec<String>,
) {
    while let Ok((name, png)) = rx.try_recv() {
        let key = format!("{prefix}{name}");
        match ctx.store.put(&key, Bytes::from(png)).await {
            Ok(()) => {
                preview.clone_from(&key);
                uploaded.push(key);
            }
            Err(e) => warn!(error = %e, "snapshot upload failed"),
        }
    }
}

fn to_pb(p: &Progress, preview: &str) -> pb::Progress {
    pb::Progress {
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
    }
}

fn tempdir() -> Result<std::path::PathBuf, WorkerError> {
    let dir = std::env::temp_dir().join(format!(
        "stylefarm-worker-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| WorkerError::BadTask(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
