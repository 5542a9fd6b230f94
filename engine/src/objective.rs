//! The whole objective at one scale: every loss term and the exact gradient
//! with respect to the image, from one forward and backward pass, or tile by
//! tile in bounded memory (see `tiling`).

use candle_core::Tensor;

use crate::error::{EngineError, Result};
use crate::guide::{self, Mask, StyleTerm};
use crate::loss;
use crate::model::{Layer, Padding, Pooling, Vgg19};
use crate::ops::vector::{Sum, read_sums};
use crate::targets::StyleTargets;
use crate::tiling::{self, TileGrid, Tiled};
use crate::video::Sampler;

/// The loss terms of one evaluation (already weighted).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    /// The temporal term of a video frame (0 for a still picture).
    pub temporal: f64,
    pub total: f64,
}

/// [`Losses`] as [`Sum`]s: on a GPU still on the device, so that an
/// iteration need not wait for them; [`LossSums::read`] reads them, many
/// evaluations' in one transfer.
#[derive(Clone, Debug, Default)]
pub struct LossSums {
    pub content: Sum,
    pub style: Sum,
    pub tv: Sum,
    pub temporal: Sum,
}

impl LossSums {
    /// The losses of each evaluation, in order; one wait for the device.
    pub fn read(all: &[&LossSums]) -> Result<Vec<Losses>> {
        let sums: Vec<&Sum> = all
            .iter()
            .flat_map(|l| [&l.content, &l.style, &l.tv, &l.temporal])
            .collect();
        Ok(read_sums(&sums)?
            .chunks(4)
            .map(|v| Losses {
                content: v[0],
                style: v[1],
                tv: v[2],
                temporal: v[3],
                total: v[0] + v[1] + v[2] + v[3],
            })
            .collect())
    }
}

/// The temporal term of one video frame (Ruder, Dosovitskiy & Brox 2016,
/// eq. 7): `γ · mean(c ⊙ (S x − target)²)`, where `S` is the identity (the
/// target is the stylised neighbour warped to this frame) or, with
/// `through`, the warp of this frame onto the neighbour (the target is the
/// neighbour itself); see [`crate::video::Temporal`].
#[derive(Clone, Debug)]
pub struct TemporalTarget {
    /// `(3, H, W)` in network input units (`Image::to_input`).
    pub target: Tensor,
    /// Per-pixel consistency weights `(1, H, W)` in 0..1, same dtype and device.
    pub weights: Tensor,
    /// γ, the temporal weight (artistic-videos' default 1e3).
    pub weight: f64,
    /// `S`: bilinear sampling of `x` along the neighbour's flow; out-of-frame
    /// samples are the mean pixel (0 in input units).
    pub through: Option<Sampler>,
}

/// What an objective is made of, besides the model.
#[derive(Clone, Debug)]
pub struct Terms<'a> {
    pub pooling: Pooling,
    /// The content image `(3, H, W)`, preprocessed; None in texture mode.
    pub content_image: Option<&'a Tensor>,
    /// (layer, weight including content_weight)
    pub content_layers: &'a [(Layer, f64)],
    pub style: &'a StyleTargets,
    /// (layer, weight including style_weight)
    pub style_layers: &'a [(Layer, f64)],
    pub tv_weight: f64,
    pub normalize_gradients: bool,
    /// Circular padding and wrap-around TV: a tileable result.
    pub tileable: bool,
    /// Exact tiling with inner tiles of about this many pixels.
    pub tile: Option<usize>,
}

/// `content_weight · Σ wₗ content + style_weight · Σ wₗ style + tv`.
pub struct Objective<'m> {
    model: &'m Vgg19,
    pooling: Pooling,
    padding: Padding,
    /// (layer, weight including content_weight, target features)
    content: Vec<(Layer, f64, Tensor)>,
    /// Per style layer: its weight and the Gram targets of its regions.
    style: Vec<StyleTerm>,
    tv_weight: f64,
    normalize_gradients: bool,
    layers: Vec<Layer>,
    tiled: Option<Tiled<'m>>,
    temporal: Option<TemporalTarget>,
}

impl<'m> Objective<'m> {
    /// `dims` is the `(width, height)` of the images it will evaluate.
    pub fn new(model: &'m Vgg19, terms: Terms<'_>, dims: (usize, usize)) -> Result<Objective<'m>> {
        Objective::guided(model, terms, None, dims)
    }

    /// [`Objective::new`] with semantic guidance: each region of `guide` (the
    /// output's region map, stretched over `dims`) matched against the
    /// style's Grams of the region of the same colour (see [`guide`]).
    pub fn guided(
        model: &'m Vgg19,
        terms: Terms<'_>,
        guide: Option<&Mask>,
        dims: (usize, usize),
    ) -> Result<Objective<'m>> {
        let style = guide::style_terms(
            terms.style,
            terms.style_layers,
            guide,
            dims,
            model.device(),
            model.dtype(),
        )?;
        let content_layers: Vec<(Layer, f64)> = match terms.content_image {
            Some(_) => terms.content_layers.to_vec(),
            None => Vec::new(),
        };
        let mut layers: Vec<Layer> = content_layers.iter().map(|c| c.0).collect();
        layers.extend(style.iter().map(|s| s.layer));
        let padding = if terms.tileable {
            Padding::Circular
        } else {
            Padding::Zeros
        };
        let (w, h) = dims;
        let deepest = layers.iter().map(|l| l.unit).max();
        let grid = match (terms.tile, deepest) {
            (Some(t), Some(d)) => Some(TileGrid::new(h, w, t, d)).filter(|g| g.tiles.len() > 1),
            _ => None,
        };
        if grid.is_some() && terms.tileable {
            return Err(EngineError::setting(
                "tileable",
                "tileable output and exact tiling do not combine yet: drop --tile/--max-memory or --tileable",
            ));
        }
        let mut objective = Objective {
            model,
            pooling: terms.pooling,
            padding,
            content: Vec::new(),
            style,
            tv_weight: terms.tv_weight,
            normalize_gradients: terms.normalize_gradients,
            layers,
            tiled: None,
            temporal: None,
        };
        match (grid, terms.content_image) {
            (Some(grid), content_image) => {
                let content = match content_image {
                    Some(x) => {
                        let ls: Vec<Layer> = content_layers.iter().map(|c| c.0).collect();
                        let per_layer =
                            tiling::content_targets(model, terms.pooling, &grid, x, &ls)?;
                        content_layers
                            .iter()
                            .zip(per_layer)
                            .map(|(&(l, w), t)| (l, w, t))
                            .collect()
                    }
                    None => Vec::new(),
                };
                objective.tiled = Some(Tiled {
                    model,
                    pooling: terms.pooling,
                    grid,
                    content,
                    style: objective.style.clone(),
                    normalize_gradients: terms.normalize_gradients,
                    layers: objective.layers.clone(),
                });
            }
            (None, Some(x)) if !content_layers.is_empty() => {
                let ls: Vec<Layer> = content_layers.iter().map(|c| c.0).collect();
                let acts = model.forward_padded(x, &ls, terms.pooling, padding)?;
                objective.content = content_layers
                    .iter()
                    .map(|&(l, w)| (l, w, acts.get(l).clone()))
                    .collect();
            }
            (None, _) => {}
        }
        Ok(objective)
    }

    /// Adds the temporal term of a video frame. Its gradient is never
    /// L1-normalised: γ keeps its meaning with `normalize_gradients`.
    pub fn with_temporal(mut self, t: TemporalTarget) -> Result<Objective<'m>> {
        let (_, h, w) = t.target.dims3()?;
        if t.weights.dims() != [1, h, w] {
            return Err(EngineError::setting(
                "temporal weights",
                format!(
                    "shape {:?} does not match the target's (1, {h}, {w})",
                    t.weights.dims()
                ),
            ));
        }
        if !(t.weight.is_finite() && t.weight >= 0.0) {
            return Err(EngineError::setting(
                "temporal_weight",
                format!("{} must be a finite number ≥ 0", t.weight),
            ));
        }
        self.temporal = Some(t);
        Ok(self)
    }

    /// How many tiles an evaluation visits (1 = untiled).
    pub fn tiles(&self) -> usize {
        self.tiled.as_ref().map_or(1, |t| t.grid.tiles.len())
    }

    /// Loss terms at `x: (3, H, W)` and the gradient of the total.
    pub fn evaluate(&self, x: &Tensor) -> Result<(Losses, Tensor)> {
        let (sums, grad) = self.evaluate_sums(x)?;
        Ok((LossSums::read(&[&sums])?.remove(0), grad))
    }

    /// [`Objective::evaluate`] with the loss terms left on the device.
    pub fn evaluate_sums(&self, x: &Tensor) -> Result<(LossSums, Tensor)> {
        let mut losses = LossSums::default();
        let grad = match &self.tiled {
            Some(tiled) => {
                let (content, style, grad) = tiling::evaluate(tiled, x)?;
                losses.content = Sum::Host(content);
                losses.style = Sum::Host(style);
                grad
            }
            None => self.evaluate_whole(x, &mut losses)?,
        };
        let grad = self.image_terms(x, grad, &mut losses)?;
        Ok((losses, grad))
    }

    fn evaluate_whole(&self, x: &Tensor, losses: &mut LossSums) -> Result<Tensor> {
        if self.layers.is_empty() {
            return Ok(x.zeros_like()?);
        }
        let acts = self
            .model
            .forward_padded(x, &self.layers, self.pooling, self.padding)?;
        let grads = self.feature_terms(&|l| Ok(acts.get(l).clone()), losses)?;
        self.model.backward(&acts, &grads)
    }

    /// Adds the content and style terms of one picture's features (`feature`
    /// gives a layer's `(C, H, W)`) to `losses`, and returns the gradient at
    /// each layer: content layers first, then style layers, in their order.
    fn feature_terms(
        &self,
        feature: &dyn Fn(Layer) -> Result<Tensor>,
        losses: &mut LossSums,
    ) -> Result<Vec<(Layer, Tensor)>> {
        let mut grads: Vec<(Layer, Tensor)> = Vec::with_capacity(self.layers.len());
        for (l, w, p) in &self.content {
            let (loss, g) = loss::content_sum(&feature(*l)?, p, *w)?;
            losses.content.accumulate(loss)?;
            grads.push((*l, self.normalized(g, *w)?));
        }
        for term in &self.style {
            let (loss, g) = term.evaluate(&feature(term.layer)?)?;
            losses.style.accumulate(loss)?;
            grads.push((term.layer, self.normalized(g, term.weight)?));
        }
        Ok(grads)
    }

    /// Adds the terms on the image itself (TV, temporal) at `x: (3, H, W)` to
    /// `losses` and their gradient to `grad`.
    fn image_terms(&self, x: &Tensor, mut grad: Tensor, losses: &mut LossSums) -> Result<Tensor> {
        if self.tv_weight > 0.0 {
            let (tv, g) = match self.padding {
                Padding::Zeros => loss::total_variation_sum(x, self.tv_weight)?,
                Padding::Circular => loss::total_variation_circular_sum(x, self.tv_weight)?,
            };
            losses.tv = tv;
            grad = (grad + g)?;
        }
        if let Some(t) = &self.temporal
            && t.weight > 0.0
        {
            let (l, g) = match &t.through {
                None => loss::temporal_sum(x, &t.target, &t.weights, t.weight)?,
                Some(s) => {
                    let (l, g) =
                        loss::temporal_sum(&s.apply_tensor(x)?, &t.target, &t.weights, t.weight)?;
                    (l, s.transpose_tensor(&g)?)
                }
            };
            losses.temporal = l;
            grad = (grad + g)?;
        }
        Ok(grad)
    }

    /// Why this objective cannot share a batched pass with `other`, if it
    /// cannot: a batch needs one model and padding, untiled pictures, and
    /// the same layers in the same order (each picture has its own targets,
    /// weights and image terms).
    pub(crate) fn batch_mismatch(&self, other: &Objective<'_>) -> Option<String> {
        let content = |o: &Objective<'_>| o.content.iter().map(|c| c.0).collect::<Vec<_>>();
        let style = |o: &Objective<'_>| o.style.iter().map(|s| s.layer).collect::<Vec<_>>();
        if !std::ptr::eq(self.model, other.model) {
            Some("they use different models".into())
        } else if self.tiled.is_some() || other.tiled.is_some() {
            Some("a picture needs exact tiles in this memory".into())
        } else if (self.pooling, self.padding) != (other.pooling, other.padding) {
            Some("their pooling or tileable settings differ".into())
        } else if content(self) != content(other) || style(self) != style(other) {
            Some("their content or style layers differ".into())
        } else {
            None
        }
    }

    /// Every term of a batch of pictures `x: (N, 3, H, W)`, picture `i`
    /// against `objectives[i]`, from one forward and one backward pass of
    /// the whole batch: the losses of each picture (on the device) and the gradient
    /// `(N, 3, H, W)`. The objectives must agree ([`Objective::batch_mismatch`]).
    pub(crate) fn evaluate_batch(
        objectives: &[&Objective<'_>],
        x: &Tensor,
    ) -> Result<(Vec<LossSums>, Tensor)> {
        let Some(first) = objectives.first() else {
            return Ok((Vec::new(), x.clone()));
        };
        let mut losses = vec![LossSums::default(); objectives.len()];
        let grad = if first.layers.is_empty() {
            x.zeros_like()?
        } else {
            let acts =
                first
                    .model
                    .forward_padded(x, &first.layers, first.pooling, first.padding)?;
            let mut per_layer: Vec<(Layer, Vec<Tensor>)> = Vec::new();
            for (i, o) in objectives.iter().enumerate() {
                let grads = o.feature_terms(&|l| Ok(acts.get(l).get(i)?), &mut losses[i])?;
                if i == 0 {
                    per_layer = grads.into_iter().map(|(l, g)| (l, vec![g])).collect();
                } else {
                    for ((_, gs), (_, g)) in per_layer.iter_mut().zip(grads) {
                        gs.push(g);
                    }
                }
            }
            let stacked = per_layer
                .into_iter()
                .map(|(l, gs)| Ok((l, Tensor::stack(&gs, 0)?)))
                .collect::<Result<Vec<_>>>()?;
            first.model.backward(&acts, &stacked)?
        };
        let grads = objectives
            .iter()
            .enumerate()
            .map(|(i, o)| o.image_terms(&x.get(i)?, grad.get(i)?, &mut losses[i]))
            .collect::<Result<Vec<_>>>()?;
        Ok((losses, Tensor::stack(&grads, 0)?))
    }

    /// With `normalize_gradients`, `w · g/|g|₁` where `g` is the gradient at weight 1.
    fn normalized(&self, g: Tensor, weight: f64) -> Result<Tensor> {
        if !self.normalize_gradients || weight == 0.0 {
            return Ok(g);
        }
        Ok((loss::l1_normalize(&g)? * weight)?)
    }
}
