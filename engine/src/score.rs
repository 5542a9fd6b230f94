//! The meter: how much content and how much style a finished picture carries,
//! measured under the fixed model, whoever made the picture (stylefarm,
//! neural-style, anything else). It is what docs/calibration.md compares
//! stylefarm's renders with neural-style's published outputs by.
//!
//! For an output picture of `W × H` it computes, with the same preparation a
//! render of `settings` at that size would use (content resized to `W × H`;
//! each style resized to `style_scale · max(W, H)` on its long side,
//! colour-matched first with `original_colors = match`, blended by weight):
//!
//! - per content layer, **relative**: `‖F − P‖² / ‖P‖²` for the output's
//!   features `F` and the content's `P` (0 = the content's features exactly;
//!   1 = as far as no features at all); `content_relative` is their mean;
//! - per style layer, **relative**: `‖G − A‖²_F / ‖A‖²_F`, the squared
//!   Frobenius distance between the output's Gram `G` and the style target
//!   `A`, relative to the target's own energy, both `F Fᵀ / (C·H·W)`
//!   (neural-style's Gram). 0 is the style's statistics exactly; 1 is as far
//!   as a picture with no features at that layer (`G = 0`).
//!   `style_relative` is the mean over the style layers, so that every layer
//!   counts the same whatever the size of its Gram entries;
//! - per layer, **loss**: that layer's term of the render's objective with the
//!   settings' weights (content `w·mean((F−P)²)`, style `w·mean((G−A)²)`, see
//!   [`crate::loss`]);
//! - **tv**: `mean(Δx² + Δy²)` over the `3 × (H−1) × (W−1)` forward differences
//!   of the network input (pixel units 0..255), neural-style's TV term
//!   without its ½ and weight, per pixel so that sizes compare;
//! - **losses**: the render's objective at this picture, term by term, exactly
//!   as [`crate::Progress::losses`] reports it during a render (TV
//!   `w/2·Σ(Δx²+Δy²)`).
//!
//! One untiled forward pass: meant for pictures up to a few megapixels.

use crate::error::{EngineError, Result};
use crate::image::Image;
use crate::loss;
use crate::model::Vgg19;
use crate::objective::Losses;
use crate::ops::vector;
use crate::settings::{Settings, Style};
use crate::targets::StyleTargets;

/// One layer's reading: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerScore {
    pub layer: &'static str,
    /// `‖F − P‖² / ‖P‖²` (content) or `‖G − A‖² / ‖A‖²` (style).
    pub relative: f64,
    /// The layer's weighted term of the render's objective.
    pub loss: f64,
}

/// The meter's reading of one picture; see the module docs for each formula.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Size of the measured picture in pixels.
    pub width: usize,
    pub height: usize,
    /// Per content layer; empty without a content image.
    pub content_layers: Vec<LayerScore>,
    /// Mean relative content distance over the content layers (0 without).
    pub content_relative: f64,
    /// Per style layer.
    pub style_layers: Vec<LayerScore>,
    /// Mean relative style distance over the style layers.
    pub style_relative: f64,
    /// `mean(Δx² + Δy²)` of the network input, pixel units 0..255 squared.
    pub tv: f64,
    /// The render's weighted objective at this picture.
    pub losses: Losses,
}

/// Measures `output` against `content` (None for a texture) and the blend of
/// `styles`, with the layers, weights, pooling, style scale and colour mode
/// of `settings`, at the output's own size. Resize the output first to
/// compare pictures rendered at different sizes.
pub fn score(
    model: &Vgg19,
    output: &Image,
    content: Option<&Image>,
    styles: &[Style],
    settings: &Settings,
) -> Result<Score> {
    let plan = settings.plan(content, Some(styles))?;
    let dims = (output.width, output.height);
    if dims.0.min(dims.1) < crate::settings::MIN_SIDE {
        return Err(EngineError::setting(
            "output",
            format!(
                "{}×{} is too small to measure: each side must be at least {} px",
                dims.0,
                dims.1,
                crate::settings::MIN_SIDE
            ),
        ));
    }
    let (pre, device, dtype) = (model.preprocess(), model.device(), model.dtype());
    let targets = StyleTargets::for_scale(model, styles, content, settings, dims)?;
    let x = output.to_input(pre, device, dtype)?;

    let mut layers: Vec<_> = plan.style_layers.iter().map(|(l, _)| *l).collect();
    let content_layers = if content.is_some() {
        plan.content_layers.clone()
    } else {
        Vec::new()
    };
    layers.extend(content_layers.iter().map(|(l, _)| *l));
    let acts = model.forward(&x, &layers, settings.pooling)?;

    let mut losses = Losses::default();
    let mut content_out = Vec::new();
    if let Some(c) = content {
        let cx = c.resize(dims.0, dims.1).to_input(pre, device, dtype)?;
        let ls: Vec<_> = content_layers.iter().map(|(l, _)| *l).collect();
        let cacts = model.forward(&cx, &ls, settings.pooling)?;
        for (l, w) in &content_layers {
            let (f, p) = (acts.get(*l), cacts.get(*l));
            let d = (f - p)?;
            let dist = vector::dot(&d, &d)?;
            let loss = w * settings.content_weight * dist / f.elem_count() as f64;
            content_out.push(LayerScore {
                layer: l.name(),
                relative: dist / vector::dot(p, p)?.max(f64::MIN_POSITIVE),
                loss,
            });
            losses.content += loss;
        }
    }
    let mut style_out = Vec::new();
    for (l, w) in &plan.style_layers {
        let a = &targets
            .grams
            .iter()
            .find(|(tl, _)| tl == l)
            .ok_or_else(|| {
                EngineError::setting("style targets", format!("no Gram for {}", l.name()))
            })?
            .1;
        let f = acts.get(*l);
        let c = f.dims3()?.0 as f64;
        let d = (loss::gram(f)? - a)?;
        let dist = vector::dot(&d, &d)?;
        let loss = w * settings.style_weight * dist / (c * c);
        style_out.push(LayerScore {
            layer: l.name(),
            relative: dist / vector::dot(a, a)?.max(f64::MIN_POSITIVE),
            loss,
        });
        losses.style += loss;
    }
    let mean = |v: &[LayerScore]| v.iter().map(|s| s.relative).sum::<f64>() / v.len().max(1) as f64;

    let (tv_sum, _) = loss::total_variation(&x, 2.0)?;
    let cells = 3 * dims.0.saturating_sub(1) * dims.1.saturating_sub(1);
    let tv = tv_sum / cells.max(1) as f64;
    losses.tv = settings.tv_weight / 2.0 * tv_sum;
    losses.total = losses.content + losses.style + losses.tv;
    Ok(Score {
        width: dims.0,
        height: dims.1,
        content_relative: mean(&content_out),
        content_layers: content_out,
        style_relative: mean(&style_out),
        style_layers: style_out,
        tv,
        losses,
    })
}
