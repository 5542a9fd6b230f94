//! `targets` tasks: one style's Gram matrices at each style side a job
//! needs, written to the shared cache (`stylefarm_proto::cache`) as
//! safetensors. Targets already there are not computed again.

use std::path::Path;

use bytes::Bytes;
use stylefarm_engine::{Image, StyleTargets};
use stylefarm_proto::pb;
use tracing::info;

use crate::error::WorkerError;
use crate::spec;
use crate::task::Context;

/// Computes and stores the missing targets; a targets task has no outputs
/// of its own (the cache is outside the job's prefix).
pub(crate) async fn run(
    ctx: &Context,
    wire: &pb::RenderSettings,
    params: &pb::TaskParams,
) -> Result<Vec<String>, WorkerError> {
    if params.cache_keys.len() != params.style_sides.len() || params.style_key.is_empty() {
        return Err(WorkerError::BadTask(
            "targets task needs a style and one cache key per style side".into(),
        ));
    }
    let mut missing = Vec::new();
    for (key, &side) in params.cache_keys.iter().zip(&params.style_sides) {
        if ctx.store.head(key).await?.is_none() {
            missing.push((key.clone(), side as usize));
        }
    }
    if missing.is_empty() {
        info!(style = %params.style_key, "style targets already cached");
        return Ok(Vec::new());
    }
    let settings = spec::settings(wire)?;
    let style = ctx.store.get(&params.style_key).await?;
    let model = ctx.model.clone();
    let max_pixels = ctx.max_pixels;
    let key = params.style_key.clone();
    let sides: Vec<usize> = missing.iter().map(|(_, s)| *s).collect();
    let encoded = tokio::task::spawn_blocking(move || -> Result<Vec<Vec<u8>>, WorkerError> {
        let image = Image::decode(&style, Path::new(&key), max_pixels)?;
        let layers = settings.style_layer_list()?;
        sides
            .iter()
            .map(|&side| {
                let t = StyleTargets::of_image(
                    &model,
                    &image.resize_long_side(side),
                    &layers,
                    settings.pooling,
                )?;
                Ok(t.to_safetensors()?)
            })
            .collect()
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))??;
    for ((key, side), bytes) in missing.iter().zip(encoded) {
        ctx.store.put(key, Bytes::from(bytes)).await?;
        info!(style = %params.style_key, side, key = %key, "style targets computed");
    }
    Ok(Vec::new())
}
