//! What the optimisation aims at: blended style Grams, computed once per
//! scale and, on a farm, cached and shared between tasks as safetensors.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::colors::{OriginalColors, match_colors};
use crate::error::{EngineError, Result};
use crate::image::Image;
use crate::loss;
use crate::model::{Layer, Pooling, Vgg19};
use crate::settings::{Settings, Style};
use crate::tiling::{self, TileGrid};

/// Gram matrices of a style (or a blend of styles) at each style layer.
#[derive(Clone, Debug)]
pub struct StyleTargets {
    pub grams: Vec<(Layer, Tensor)>,
}

impl StyleTargets {
    /// The Gram matrices of one image at `layers`.
    pub fn of_image(
        model: &Vgg19,
        image: &Image,
        layers: &[Layer],
        pooling: Pooling,
    ) -> Result<StyleTargets> {
        StyleTargets::of_image_tiled(model, image, layers, pooling, None)
    }

    /// [`StyleTargets::of_image`] in tiles of about `tile` pixels (exact; see
    /// `tiling`), for style images too large for one pass.
    pub fn of_image_tiled(
        model: &Vgg19,
        image: &Image,
        layers: &[Layer],
        pooling: Pooling,
        tile: Option<usize>,
    ) -> Result<StyleTargets> {
        let x = image.to_input(model.preprocess(), model.device(), model.dtype())?;
        let deepest = layers.iter().map(|l| l.unit).max().unwrap_or(0);
        let grid = tile
            .map(|t| TileGrid::new(image.height, image.width, t, deepest))
            .filter(|g| g.tiles.len() > 1);
        if let Some(grid) = grid {
            let grams = tiling::grams(model, pooling, &grid, &x, layers)?;
            return Ok(StyleTargets {
                grams: layers.iter().copied().zip(grams).collect(),
            });
        }
        let acts = model.forward(&x, layers, pooling)?;
        let grams = layers
            .iter()
            .map(|&l| Ok((l, loss::gram(acts.get(l))?)))
            .collect::<Result<_>>()?;
        Ok(StyleTargets { grams })
    }

    /// The targets a render of `settings` aims at in a scale of `dims`
    /// (width, height): each style resized to `style_scale` × the scale's long
    /// side (colour-matched to `content` first with `original_colors = match`),
    /// at the settings' style layers, blended by the styles' weights.
    pub fn for_scale(
        model: &Vgg19,
        styles: &[Style],
        content: Option<&Image>,
        settings: &Settings,
        dims: (usize, usize),
    ) -> Result<StyleTargets> {
        let layers = settings.style_layer_list()?;
        if styles.is_empty() {
            return Err(EngineError::setting(
                "style",
                "at least one style image is needed (--style PATH[:WEIGHT])",
            ));
        }
        let side = ((dims.0.max(dims.1) as f64) * settings.style_scale)
            .round()
            .max(16.0) as usize;
        let per_style = styles
            .iter()
            .map(|s| {
                let image = match (settings.original_colors, content) {
                    (OriginalColors::Match, Some(c)) => match_colors(&s.image, c),
                    _ => s.image.clone(),
                };
                let image = image.resize_long_side(side);
                let deepest = layers.iter().map(|l| l.unit).max().unwrap_or(0);
                let (tile, _) =
                    tiling::plan_memory(settings, model, (image.width, image.height), deepest)?;
                StyleTargets::of_image_tiled(model, &image, &layers, settings.pooling, tile)
            })
            .collect::<Result<Vec<_>>>()?;
        let parts: Vec<(&StyleTargets, f64)> = per_style
            .iter()
            .zip(styles)
            .map(|(t, s)| (t, s.weight))
            .collect();
        StyleTargets::blend(&parts)
    }

    /// The weighted average `Σ wᵢ Gᵢ / Σ wᵢ`: style interpolation. Gram
    /// matrices are linear in the blend weights, so no network pass is needed.
    pub fn blend(parts: &[(&StyleTargets, f64)]) -> Result<StyleTargets> {
        let total: f64 = parts.iter().map(|(_, w)| w).sum();
        if !(total.is_finite() && total > 0.0) || parts.iter().any(|(_, w)| w.is_nan() || *w < 0.0)
        {
            return Err(EngineError::setting(
                "style weight",
                "blend weights must be finite, ≥ 0 and not all 0",
            ));
        }
        let first = parts.first().map(|(t, _)| t.grams.len()).unwrap_or(0);
        let mut grams = Vec::with_capacity(first);
        for i in 0..first {
            let layer = parts[0].0.grams[i].0;
            let mut acc: Option<Tensor> = None;
            for (t, w) in parts {
                let Some((l, g)) = t.grams.get(i) else {
                    return Err(EngineError::setting(
                        "style",
                        "blended targets must have the same layers",
                    ));
                };
                if *l != layer {
                    return Err(EngineError::setting(
                        "style",
                        "blended targets must have the same layers",
                    ));
                }
                let g = (g * (w / total))?;
                acc = Some(match acc {
                    Some(a) => (a + g)?,
                    None => g,
                });
            }
            if let Some(a) = acc {
                grams.push((layer, a));
            }
        }
        Ok(StyleTargets { grams })
    }

    /// Serialises the targets as safetensors (f32, one tensor per layer, named
    /// after the layer), the format the farm caches them in.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let tensors: Vec<(String, Tensor)> = self
            .grams
            .iter()
            .map(|(l, g)| Ok((l.name().to_string(), g.to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        let mut meta = HashMap::new();
        let order: Vec<&str> = self.grams.iter().map(|(l, _)| l.name()).collect();
        meta.insert("layers".to_string(), order.join(","));
        safetensors::tensor::serialize(tensors, Some(meta))
            .map_err(|e| EngineError::setting("style targets", format!("cannot serialise: {e}")))
    }

    /// Reads targets written by [`StyleTargets::to_safetensors`].
    pub fn from_safetensors(bytes: &[u8], device: &Device, dtype: DType) -> Result<StyleTargets> {
        let bad = |why: String| {
            EngineError::setting(
                "style targets",
                format!("{why}; delete the cached targets so that they are computed again"),
            )
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let order = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("layers").cloned())
            .ok_or_else(|| bad("no layer list in the metadata".into()))?;
        let mut tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| bad(format!("unreadable: {e}")))?;
        let mut grams = Vec::new();
        for name in order.split(',').filter(|n| !n.is_empty()) {
            let layer = Layer::parse(name)?;
            let g = tensors
                .remove(name)
                .ok_or_else(|| bad(format!("layer {name} is missing")))?;
            let (a, b) = g.dims2().map_err(|e| bad(format!("{name}: {e}")))?;
            if a != b {
                return Err(bad(format!("{name} is {a}×{b}, not square")));
            }
            grams.push((layer, g.to_dtype(dtype)?.to_device(device)?));
        }
        Ok(StyleTargets { grams })
    }
}
