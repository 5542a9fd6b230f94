//! Guided renders (semantic style transfer and neural doodles,
//! docs/doodles.md): a stylize task with a content mask fetches the region
//! maps beside its pictures, crops the content mask like the content when it
//! is a tile, and renders with the engine's guided calls; a targets task with
//! a style mask computes guided targets (one set of Grams per region).

use std::path::Path;

use stylefarm_engine::guide::{self, Masks};
use stylefarm_engine::model::Layer;
use stylefarm_engine::{
    EngineError, Hooks, Image, Mask, Pooling, Settings, Style, StyleTargets, Vgg19, render_guided,
    render_guided_with_targets,
};
use stylefarm_spec::task::StylizeTask;

use crate::error::WorkerError;
use crate::inputs::Fetched;
use crate::objects::Objects;

/// The region maps of a guided stylize task, fetched but not decoded.
#[derive(Debug)]
pub(crate) struct FetchedMasks {
    pub(crate) content: Fetched,
    /// One per style, in the task's styles' order.
    pub(crate) styles: Vec<Fetched>,
}

/// Fetches the task's region maps; `None` for an unguided task. A style
/// without a mask in a guided task is a bad task (the planner sends one per
/// style).
pub(crate) async fn fetch_masks(
    store: &Objects,
    task: &StylizeTask,
) -> Result<Option<FetchedMasks>, WorkerError> {
    let Some(content_key) = &task.content_mask else {
        return Ok(None);
    };
    let fetch = |key: String| async move { store.get(&key).await.map(|b| (key, b)) };
    let content = fetch(content_key.clone()).await?;
    let mut styles = Vec::with_capacity(task.styles.len());
    for (i, s) in task.styles.iter().enumerate() {
        let key = s.mask.clone().ok_or_else(|| {
            WorkerError::BadTask(format!(
                "style {i} has no mask in a guided render; every style needs its region map"
            ))
        })?;
        styles.push(fetch(key).await?);
    }
    Ok(Some(FetchedMasks { content, styles }))
}

/// Decodes the region maps; a tile's content mask is cropped like the
/// content (the mask stretched over the scale's picture, then the tile's
/// pixels taken).
pub(crate) fn decode(
    fetched: &FetchedMasks,
    task: &StylizeTask,
    max_pixels: u64,
) -> Result<Masks, WorkerError> {
    let decode = |(key, bytes): &Fetched| Mask::decode(bytes, Path::new(key), max_pixels);
    let mut content = decode(&fetched.content)?;
    if let Some(t) = &task.tile {
        let px = |(a, b): (u32, u32)| (a as usize, b as usize);
        content = content.crop(px(t.full), px(t.at), px(t.size))?;
    }
    let styles = fetched
        .styles
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok(Masks { content, styles })
}

/// The settings a guided render really uses: a doodle (no content) renders
/// at its texture size, from the doodle's aspect ratio when the job gave none.
pub(crate) fn settings_for(settings: Settings, content: Option<&Image>, masks: &Masks) -> Settings {
    match content {
        Some(_) => settings,
        None => guide::doodle_settings(&settings, &masks.content),
    }
}

/// Renders guided by `masks`, against the cached `targets` (guided, one per
/// scale) when there are, else computing them.
pub(crate) fn render(
    model: &Vgg19,
    content: Option<&Image>,
    styles: &[Style],
    masks: &Masks,
    targets: Option<Vec<StyleTargets>>,
    settings: &Settings,
    hooks: Hooks<'_>,
) -> Result<Image, EngineError> {
    match targets {
        Some(t) => {
            masks.check(styles)?;
            render_guided_with_targets(model, content, &masks.content, &t, settings, hooks)
        }
        None => render_guided(model, content, styles, masks, settings, hooks),
    }
}

/// The guided targets of one style image (already resized to its side)
/// under its region map: what a targets task with a mask computes.
pub(crate) fn targets(
    model: &Vgg19,
    image: &Image,
    mask: &Mask,
    layers: &[Layer],
    pooling: Pooling,
) -> Result<StyleTargets, EngineError> {
    StyleTargets::of_image_guided(model, image, mask, layers, pooling, None)
}
