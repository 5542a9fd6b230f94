//! What the optimisation aims at: content features and blended style Grams.

use candle_core::Tensor;

use crate::error::Result;
use crate::image::Image;
use crate::loss;
use crate::model::{Layer, Pooling, Vgg19};

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
        let x = image.to_input(model.preprocess(), model.device(), model.dtype())?;
        let acts = model.forward(&x, layers, pooling)?;
        let grams = layers
            .iter()
            .map(|&l| Ok((l, loss::gram(acts.get(l))?)))
            .collect::<Result<_>>()?;
        Ok(StyleTargets { grams })
    }

    /// The weighted average `Σ wᵢ Gᵢ / Σ wᵢ`: style interpolation. Gram
    /// matrices are linear in the blend weights, so no network pass is needed.
    pub fn blend(parts: &[(&StyleTargets, f64)]) -> Result<StyleTargets> {
        let total: f64 = parts.iter().map(|(_, w)| w).sum();
        let first = parts.first().map(|(t, _)| t.grams.len()).unwrap_or(0);
        let mut grams = Vec::with_capacity(first);
        for i in 0..first {
            let layer = parts[0].0.grams[i].0;
            let mut acc: Option<Tensor> = None;
            for (t, w) in parts {
                let g = (&t.grams[i].1 * (w / total))?;
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
}
