//! `batch` tasks: whole pictures of one size rendered together (the
//! engine's `render_batch`: one pass of the whole batch per iteration), each
//! uploaded under its own name. Where they cannot share passes (the engine
//! says why) or the GPU runs out of memory for all of them at once, they
//! render one after another as stylize tasks would, tile fallback included:
//! a batch never fails where its pictures alone would not.

use std::collections::HashMap;

use stylefarm_engine::batch::{BatchHooks, BatchPicture, render_batch};
use stylefarm_engine::{CancelToken, EngineError, Image, Init, Progress, StyleTargets, Vgg19};
use stylefarm_spec::task::{BatchTask, StylizeTask};
use tracing::{info, warn};

use crate::error::WorkerError;
use crate::inputs::{self, Decoded, Inputs, Reads};
use crate::stylize::{self, Limits, Rendered, Reporting};
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
    // The pictures share their content (a grid) or styles (a gallery):
    // each key is read once.
    let mut reads = Reads::new(&ctx.objects);
    let mut inputs = Vec::with_capacity(batch.pictures.len());
    for p in &batch.pictures {
        inputs.push(inputs::fetch_inputs(&mut reads, p).await?);
    }
    let model = ctx.model.clone();
    let limits = ctx.limits;
    let plan = batch.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let run = Batch {
            model: &model,
            tasks: &plan.pictures,
            limits,
            cancel,
            progress: &progress,
        };
        run.render(inputs)
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

/// A batch task's render, off the async runtime.
struct Batch<'a> {
    model: &'a Vgg19,
    tasks: &'a [StylizeTask],
    limits: Limits,
    cancel: CancelToken,
    progress: &'a ProgressSender,
}

impl Batch<'_> {
    /// Renders the pictures as one batch, or one after another where the
    /// engine cannot batch them; blocking.
    fn render(&self, inputs: Vec<Inputs>) -> Result<Vec<Rendered>, WorkerError> {
        let mut decoded = HashMap::new();
        let prepared = self
            .tasks
            .iter()
            .zip(&inputs)
            .map(|(t, i)| prepare(self.model, t, i, self.limits, &mut decoded))
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
            let _ = self.progress.send(Some(TaskProgress {
                render: *p,
                frames: None,
            }));
        };
        let hooks = BatchHooks {
            progress: Some(&mut on_progress),
            cancel: Some(self.cancel.clone()),
        };
        match render_batch(self.model, &pictures, hooks) {
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
                self.one_at_a_time(inputs)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Each picture as its own stylize task would render it.
    fn one_at_a_time(&self, inputs: Vec<Inputs>) -> Result<Vec<Rendered>, WorkerError> {
        let dir = tempfile::Builder::new()
            .prefix("stylefarm-worker-")
            .tempdir()
            .map_err(|e| WorkerError::local(&std::env::temp_dir(), e))?;
        let total = self.tasks.len() as u32;
        let mut out = Vec::with_capacity(self.tasks.len());
        for (i, (task, inputs)) in self.tasks.iter().zip(inputs).enumerate() {
            let mut on_progress = |p: &Progress| {
                let _ = self.progress.send(Some(TaskProgress {
                    render: *p,
                    frames: Some((i as u32, total)),
                }));
            };
            // Batched pictures take no snapshots (the planner keeps those apart).
            let mut on_snapshot = |_: String, _: Vec<u8>| {};
            let report = Reporting {
                progress: &mut on_progress,
                snapshot: &mut on_snapshot,
                cancel: self.cancel.clone(),
            };
            out.push(stylize::render(
                self.model,
                task,
                inputs,
                self.limits,
                dir.path(),
                report,
            )?);
        }
        Ok(out)
    }
}

/// Decodes one picture's inputs (`decoded`: the pictures decoded for the
/// batch so far) and finds its style targets: the cached
/// ones where they fit, computed here otherwise.
fn prepare(
    model: &Vgg19,
    task: &StylizeTask,
    inputs: &Inputs,
    limits: Limits,
    decoded: &mut HashMap<String, Image>,
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
    } = inputs::decode(inputs, limits.max_pixels, decoded)?;
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

#[cfg(test)]
mod tests {
    //! A batch's render alone, without a coordinator or storage (real
    //! VGG-19, tiny pictures).

    use stylefarm_spec::RenderSettings;

    use super::*;
    use crate::stylize::tests::{dims, inputs, model, task};

    fn render(tasks: &[StylizeTask]) -> (Vec<Rendered>, Option<TaskProgress>) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let run = Batch {
            model: model(),
            tasks,
            limits: Limits {
                max_pixels: 1 << 20,
                max_memory: None,
            },
            cancel: CancelToken::new(),
            progress: &tx,
        };
        let out = run
            .render(tasks.iter().map(|_| inputs(None)).collect())
            .unwrap();
        let last = *rx.borrow();
        (out, last)
    }

    #[test]
    fn pictures_that_cannot_share_passes_render_one_at_a_time() {
        let settings = |size| RenderSettings {
            size,
            iterations: 2,
            ..Default::default()
        };
        // One size: rendered together, progress without a picture count.
        let (out, last) = render(&[task(settings(32)), task(settings(32))]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|r| dims(&r.png) == (32, 24)));
        assert_eq!(last.map(|p| p.frames), Some(None));
        // Two sizes: the engine refuses the batch, and each renders alone.
        let (out, last) = render(&[task(settings(32)), task(settings(24))]);
        assert_eq!(dims(&out[0].png), (32, 24));
        assert_eq!(dims(&out[1].png), (24, 18));
        assert_eq!(last.and_then(|p| p.frames), Some((1, 2)), "picture 2 of 2");
    }
}
