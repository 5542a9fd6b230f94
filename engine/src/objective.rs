//! The whole objective at one scale: one forward pass, every loss term, and
//! the exact gradient with respect to the image.

use candle_core::Tensor;

use crate::error::Result;
use crate::loss;
use crate::model::{Layer, Pooling, Vgg19};
use crate::targets::StyleTargets;

/// The loss terms of one evaluation (already weighted).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
}

/// `content_weight · Σ wₗ content + style_weight · Σ wₗ style + tv`.
pub struct Objective<'m> {
    pub(crate) model: &'m Vgg19,
    pub(crate) pooling: Pooling,
    /// (layer, weight including content_weight, target features)
    pub(crate) content: Vec<(Layer, f64, Tensor)>,
    /// (layer, weight including style_weight, target Gram)
    pub(crate) style: Vec<(Layer, f64, Tensor)>,
    pub(crate) tv_weight: f64,
    pub(crate) normalize_gradients: bool,
    layers: Vec<Layer>,
}

impl<'m> Objective<'m> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &'m Vgg19,
        pooling: Pooling,
        content_image: Option<&Tensor>,
        content_layers: &[(Layer, f64)],
        style: &StyleTargets,
        style_layers: &[(Layer, f64)],
        tv_weight: f64,
        normalize_gradients: bool,
    ) -> Result<Objective<'m>> {
        let mut content = Vec::new();
        if let Some(x) = content_image {
            let layers: Vec<Layer> = content_layers.iter().map(|(l, _)| *l).collect();
            let acts = model.forward(x, &layers, pooling)?;
            for &(l, w) in content_layers {
                content.push((l, w, acts.get(l).clone()));
            }
        }
        let mut style_terms = Vec::new();
        for &(l, w) in style_layers {
            if let Some((_, g)) = style.grams.iter().find(|(sl, _)| *sl == l) {
                style_terms.push((l, w, g.clone()));
            }
        }
        let mut layers: Vec<Layer> = content.iter().map(|c| c.0).collect();
        layers.extend(style_terms.iter().map(|s| s.0));
        Ok(Objective {
            model,
            pooling,
            content,
            style: style_terms,
            tv_weight,
            normalize_gradients,
            layers,
        })
    }

    /// Loss terms at `x: (3, H, W)` and the gradient of the total.
    pub fn evaluate(&self, x: &Tensor) -> Result<(Losses, Tensor)> {
        let mut losses = Losses::default();
        let mut grads: Vec<(Layer, Tensor)> = Vec::with_capacity(self.layers.len());
        let acts = if self.layers.is_empty() {
            None
        } else {
            Some(self.model.forward(x, &self.layers, self.pooling)?)
        };
        if let Some(acts) = &acts {
            for (l, w, p) in &self.content {
                let (loss, g) = loss::content(acts.get(*l), p, *w)?;
                losses.content += loss;
                grads.push((*l, self.normalized(g, *w)?));
            }
            for (l, w, a) in &self.style {
                let (loss, g) = loss::style(acts.get(*l), a, *w)?;
                losses.style += loss;
                grads.push((*l, self.normalized(g, *w)?));
            }
        }
        let mut grad = match &acts {
            Some(acts) => self.model.backward(acts, &grads)?,
            None => x.zeros_like()?,
        };
        if self.tv_weight > 0.0 {
            let (tv, g) = loss::total_variation(x, self.tv_weight)?;
            losses.tv = tv;
            grad = (grad + g)?;
        }
        losses.total = losses.content + losses.style + losses.tv;
        Ok((losses, grad))
    }

    /// With `normalize_gradients`, `w · g/|g|₁` where `g` is the gradient at weight 1.
    fn normalized(&self, g: Tensor, weight: f64) -> Result<Tensor> {
        if !self.normalize_gradients || weight == 0.0 {
            return Ok(g);
        }
        Ok((loss::l1_normalize(&g)? * weight)?)
    }
}
