//! `batch` tasks: whole pictures of one size rendered together (the
//! engine's `render_batch`: one pass of the whole batch per iteration), each
//! uploaded under its own name. Where they cannot share passes (the engine
//! says why) or the GPU runs out of memory for all of them at once, they
//! render one after another as stylize tasks would, tile fallback included:
//! a batch never fails where its pictures alone would not.

use stylefarm_engine::batch::{BatchHooks, BatchPicture, render_batch};
use stylefarm_engine::{CancelToken, EngineError, Image, Init, Progress, StyleTargets, Vgg19};
use stylefarm_spec::task::{BatchTask, StylizeTask};
use tracing::{info, warn};

use crate::error::WorkerError;
use crate::stylize::{self, Decoded, Inputs, Limits, Rendered, Reporting};
use crate::task::{Context, ProgressSender, TaskProgress};

/// Fetches every picture's inputs, renders the batch off the async runtime
/// and uploads each picture; returns the output keys.
pub(crate) async fn run(
    ctx: &Context,
    prefix: &str,
    batch: &BatchTask,
    cancel: CancelToken,
    progress: ProgressSender,
) -> Result<Vec<String>, WorkerError> {
    let mut inputs = Vec::with_capacity(batch.pictures.len());
    for p in &batch.pictures {
        inputs.push(stylize::fetch_inputs(&ctx.objects, p).await?);
    }
    let model = ctx.model.clone();
    let limits = ctx.limits;
    let plan = batch.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        render(&model, &plan.pictures, inputs, limits, cancel, &progress)
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))??;
    let mut keys = Vec::new();
    for (task, r) in batch.pictures.iter().zip(rendered) {
        keys.extend(stylize::upload_outputs(&ctx.objects, prefix, task, r).await?);
    }
    Ok(keys)
}

/// One picture decoded, with its settings and style targets per scale.
struct Prepared {
    content: Option<Image>,
    settings: stylefarm_engine::Settings,
    targets: Vec<StyleTargets>,
}

/// Renders the pictures as one batch, or one after another where the
/// engine cannot batch them; blocking.
fn render(
    model: &Vgg19,
    tasks: &[StylizeTask],
    inputs: Vec<Inputs>,
    limits: Limits,
    cancel: CancelToken,
    progress: &ProgressSender,
) -> Result<Vec<Rendered>, WorkerError> {
    let prepared = tasks
        .iter()
        .zip(&inputs)
        .map(|(t, i)| prepare(model, t, i, limits))
        .collect::<Result<Vec<_>, WorkerError>>()?;
    let pictures: Vec<BatchPicture<'_>> = prepared
        .iter()
        .map(|p| BatchPicture {
            content: p.content.as_ref(),
            targets: &p.targets,
            settings: &p.settings,
        })
        .collect();
    let mut on_progress = |_: usize, p: &Progress| {
        let _ = progress.send(Some(TaskProgress {
            render: *p,
            frames: None,
        }));
    };
    let hooks = BatchHooks {
        progress: Some(&mut on_progress),
        cancel: Some(cancel.clone()),
    };
    match render_batch(model, &pictures, hooks) {
        Ok(images) => {
            info!(pictures = images.len(), "batch rendered together");
            images
                .iter()
                .map(|img| {
                    Ok(Rendered {
                        png: img.encode_png()?,
                        gif: None,
                    })
                })
                .collect()
        }
        Err(e @ (EngineError::NotBatchable { .. } | EngineError::OutOfMemory { .. })) => {
            warn!(error = %e, "rendering the batch's pictures one at a time");
            one_at_a_time(model, tasks, inputs, limits, cancel, progress)
        }
        Err(e) => Err(e.into()),
    }
}

/// Each picture as its own stylize task would render it.
fn one_at_a_time(
    model: &Vgg19,
    tasks: &[StylizeTask],
    inputs: Vec<Inputs>,
    limits: Limits,
    cancel: CancelToken,
    progress: &ProgressSender,
) -> Result<Vec<Rendered>, WorkerError> {
    let dir = tempfile::Builder::new()
        .prefix("stylefarm-worker-")
        .tempdir()
        .map_err(|e| WorkerError::local(&std::env::temp_dir(), e))?;
    let total = tasks.len() as u32;
    let mut out = Vec::with_capacity(tasks.len());
    for (i, (task, inputs)) in tasks.iter().zip(inputs).enumerate() {
        let mut on_progress = |p: &Progress| {
            let _ = progress.send(Some(TaskProgress {
                render: *p,
                frames: Some((i as u32, total)),
            }));
        };
        // Batched pictures take no snapshots (the planner keeps those apart).
        let mut on_snapshot = |_: String, _: Vec<u8>| {};
        let report = Reporting {
            progress: &mut on_progress,
            snapshot: &mut on_snapshot,
            cancel: cancel.clone(),
        };
        out.push(stylize::render(
            model,
            task,
            inputs,
            limits,
            dir.path(),
            report,
        )?);
    }
    Ok(out)
}

/// Decodes one picture's inputs and finds its style targets: the cached
/// ones where they fit, computed here otherwise.
fn prepare(
    model: &Vgg19,
    task: &StylizeTask,
    inputs: &Inputs,
    limits: Limits,
) -> Result<Prepared, WorkerError> {
    if task.tile.is_some() || task.content_mask.is_some() {
        return Err(WorkerError::BadTask(
            "a batch holds whole, unguided pictures only".into(),
        ));
    }
    let mut settings = stylize::settings_under(task, limits);
    let Decoded {
        content,
        styles,
        init,
    } = stylize::decode(inputs, limits)?;
    if let Some(img) = init {
        settings.init = Init::Image(img);
    }
    let shared = match &inputs.targets {
        Some(bytes) => {
            stylize::shared_targets(model, task, &styles, content.as_ref(), &settings, bytes)?
        }
        None => None,
    };
    let targets = match shared {
        Some(t) => t,
        None => settings
            .scale_dims(content.as_ref())?
            .into_iter()
            .map(|dims| StyleTargets::for_scale(model, &styles, content.as_ref(), &settings, dims))
            .collect::<Result<_, _>>()?,
    };
    Ok(Prepared {
        content,
        settings,
        targets,
    })
}
