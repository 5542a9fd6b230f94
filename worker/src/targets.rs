//! `targets` tasks: one style's Gram matrices at each style side a job
//! needs, written to the shared cache (`stylefarm_spec::cache`) as
//! safetensors. Targets already there are not computed again. A style with a
//! region map gets guided targets (`guided::targets`).

use std::path::Path;

use bytes::Bytes;
use stylefarm_engine::model::Layer;
use stylefarm_engine::{Image, Mask, StyleTargets};
use stylefarm_spec::task::TargetsTask;
use tracing::info;

use crate::error::WorkerError;
use crate::guided;
use crate::task::Context;

/// Computes and stores the missing targets; a targets task has no outputs
/// of its own (the cache is outside the job's prefix).
pub(crate) async fn run(ctx: &Context, task: &TargetsTask) -> Result<Vec<String>, WorkerError> {
    let mut missing = Vec::new();
    for t in &task.targets {
        if ctx.objects.head(&t.key).await?.is_none() {
            missing.push(t.clone());
        }
    }
    if missing.is_empty() {
        info!(style = %task.style_key, "style targets already cached");
        return Ok(Vec::new());
    }
    let style = ctx.objects.get(&task.style_key).await?;
    let mask = match &task.mask_key {
        Some(key) => Some((key.clone(), ctx.objects.get(key).await?)),
        None => None,
    };
    let model = ctx.model.clone();
    let max_pixels = ctx.limits.max_pixels;
    let key = task.style_key.clone();
    let names: Vec<String> = task.style_layers.iter().map(|l| l.layer.clone()).collect();
    let pooling = task.pooling;
    let sides: Vec<usize> = missing.iter().map(|t| t.side as usize).collect();
    let encoded = tokio::task::spawn_blocking(move || -> Result<Vec<Vec<u8>>, WorkerError> {
        let image = Image::decode(&style, Path::new(&key), max_pixels)?;
        let mask = mask
            .map(|(key, bytes)| Mask::decode(&bytes, Path::new(&key), max_pixels))
            .transpose()?;
        let layers = names
            .iter()
            .map(|n| Layer::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        sides
            .iter()
            .map(|&side| {
                let image = image.resize_long_side(side);
                let t = match &mask {
                    Some(m) => guided::targets(&model, &image, m, &layers, pooling)?,
                    None => StyleTargets::of_image(&model, &image, &layers, pooling)?,
                };
                Ok(t.to_safetensors()?)
            })
            .collect()
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))??;
    for (t, bytes) in missing.iter().zip(encoded) {
        ctx.objects.put(&t.key, Bytes::from(bytes)).await?;
        info!(style = %task.style_key, side = t.side, key = %t.key, "style targets computed");
    }
    Ok(Vec::new())
}
