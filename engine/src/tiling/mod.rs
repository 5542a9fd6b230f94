//! Exact tiling: the loss and image gradient of a picture of any size with
//! memory bounded by one tile's forward and backward pass, equal to the
//! untiled computation (Galerne et al., "Scaling painting style transfer",
//! arXiv 2212.13459).
//!
//! The image is cut into inner tiles whose borders are multiples of the
//! deepest layer's downsampling factor, so every pooling window falls inside
//! one tile and the inner tiles partition every layer's feature map. Each tile
//! is evaluated on its inner region plus a halo at least as wide as the zero
//! padding's reach at the layers used, so its inner features equal the whole
//! image's.
//!
//! - pass 1, tile by tile: sums of `F Fᵀ` over inner positions → global Grams;
//! - pass 2, tile by tile: each layer's loss gradient on the inner positions
//!   from the global statistics, backpropagated through the tile; the tile's
//!   input gradient (halo included) is added into the image gradient.
//!
//! With `normalize_gradients` a pass in between sums each layer's gradient L1
//! norm. The global statistics are at most 512×512 per layer: what workers
//! would exchange to optimise one picture together.

mod grid;
mod memory;

use candle_core::{DType, Device, Tensor};

use crate::error::Result;
use crate::guide::{StyleTerm, gram_sum};
use crate::model::{Layer, Padding, Pooling, Vgg19};
use grid::{Tile, unit_scale};
pub(crate) use grid::{TileGrid, feature_len};
pub use memory::{default_max_memory, max_untiled_pixels};
pub(crate) use memory::{evaluation_bytes, model_bytes, plan_memory};

/// `(start, len)` of a tile's inner region in the feature map of `unit`
/// computed on the tile's crop; `n` is that map's length along the axis.
fn inner_span(
    inner: (usize, usize),
    crop: (usize, usize),
    full: usize,
    unit: usize,
    n: usize,
) -> (usize, usize) {
    let s = unit_scale(unit);
    let start = (inner.0 - crop.0) / s;
    let end = if inner.1 == full {
        n
    } else {
        (inner.1 - crop.0) / s
    };
    (start, end.saturating_sub(start))
}

/// The inner region of a tile's features `f: (C, h, w)` at `layer`.
fn inner(f: &Tensor, t: &Tile, grid: &TileGrid, layer: Layer) -> Result<Tensor> {
    let (_, h, w) = f.dims3()?;
    let (y0, ny) = inner_span(t.inner_y, t.crop_y, grid.height, layer.unit, h);
    let (x0, nx) = inner_span(t.inner_x, t.crop_x, grid.width, layer.unit, w);
    Ok(f.narrow(1, y0, ny)?.narrow(2, x0, nx)?.contiguous()?)
}

/// The part of a whole-image map `m: (H_l, W_l)` at `layer` under a tile's
/// inner region, whose features at that layer are `f` (tile borders are
/// aligned to the deepest layer's downsampling, so `inner / scale` is exact).
fn inner_map(m: &Tensor, f: &Tensor, t: &Tile, grid: &TileGrid, layer: Layer) -> Result<Tensor> {
    let (_, h, w) = f.dims3()?;
    let s = unit_scale(layer.unit);
    let (_, ny) = inner_span(t.inner_y, t.crop_y, grid.height, layer.unit, h);
    let (_, nx) = inner_span(t.inner_x, t.crop_x, grid.width, layer.unit, w);
    Ok(m.narrow(0, t.inner_y.0 / s, ny)?
        .narrow(1, t.inner_x.0 / s, nx)?
        .contiguous()?)
}

/// A gradient on a tile's inner region, zero-padded to the tile's feature shape.
fn place(g: &Tensor, f: &Tensor, t: &Tile, grid: &TileGrid, layer: Layer) -> Result<Tensor> {
    let (_, h, w) = f.dims3()?;
    let (y0, ny) = inner_span(t.inner_y, t.crop_y, grid.height, layer.unit, h);
    let (x0, nx) = inner_span(t.inner_x, t.crop_x, grid.width, layer.unit, w);
    Ok(g.pad_with_zeros(1, y0, h - y0 - ny)?
        .pad_with_zeros(2, x0, w - x0 - nx)?)
}

fn crop(x: &Tensor, t: &Tile) -> Result<Tensor> {
    Ok(x.narrow(1, t.crop_y.0, t.crop_y.1 - t.crop_y.0)?
        .narrow(2, t.crop_x.0, t.crop_x.1 - t.crop_x.0)?
        .contiguous()?)
}

/// Everything a tiled evaluation needs besides the image.
pub(crate) struct Tiled<'m> {
    pub(crate) model: &'m Vgg19,
    pub(crate) pooling: Pooling,
    pub(crate) grid: TileGrid,
    /// (layer, weight, inner content targets per tile)
    pub(crate) content: Vec<(Layer, f64, Vec<Tensor>)>,
    /// Per style layer: weight and region targets.
    pub(crate) style: Vec<StyleTerm>,
    pub(crate) normalize_gradients: bool,
    pub(crate) layers: Vec<Layer>,
}

/// The content targets, tile by tile: each tile's inner features of `x`.
pub(crate) fn content_targets(
    model: &Vgg19,
    pooling: Pooling,
    grid: &TileGrid,
    x: &Tensor,
    layers: &[Layer],
) -> Result<Vec<Vec<Tensor>>> {
    let mut per_layer: Vec<Vec<Tensor>> = vec![Vec::with_capacity(grid.tiles.len()); layers.len()];
    for t in &grid.tiles {
        let acts = model.forward_padded(&crop(x, t)?, layers, pooling, Padding::Zeros)?;
        for (i, &l) in layers.iter().enumerate() {
            per_layer[i].push(inner(acts.get(l), t, grid, l)?);
        }
    }
    Ok(per_layer)
}

/// `Σ (F∘m)(F∘m)ᵀ` over every position of each layer's feature map, tile by
/// tile, for each map given at that layer (whole-image maps `(H_l, W_l)`;
/// `None`: no mask). A sum is None where the layer has no positions.
pub(crate) fn gram_sums(
    model: &Vgg19,
    pooling: Pooling,
    grid: &TileGrid,
    x: &Tensor,
    layers: &[(Layer, Vec<Option<Tensor>>)],
) -> Result<Vec<Vec<Option<Tensor>>>> {
    let mut sums: Vec<Vec<Option<Tensor>>> = layers
        .iter()
        .map(|(_, maps)| vec![None; maps.len()])
        .collect();
    let ls: Vec<Layer> = layers.iter().map(|(l, _)| *l).collect();
    if ls.is_empty() {
        return Ok(sums);
    }
    for t in &grid.tiles {
        let acts = model.forward_padded(&crop(x, t)?, &ls, pooling, Padding::Zeros)?;
        for ((l, maps), sums) in layers.iter().zip(sums.iter_mut()) {
            let full = acts.get(*l);
            let f = inner(full, t, grid, *l)?;
            let (_, h, w) = f.dims3()?;
            if h * w == 0 {
                continue;
            }
            for (m, sum) in maps.iter().zip(sums.iter_mut()) {
                let m = m
                    .as_ref()
                    .map(|m| inner_map(m, full, t, grid, *l))
                    .transpose()?;
                let fft = gram_sum(&f, m.as_ref())?;
                *sum = Some(match sum.take() {
                    Some(s) => (s + fft)?,
                    None => fft,
                });
            }
        }
    }
    Ok(sums)
}

/// Loss terms (content, style) and the network part of the image gradient.
pub(crate) fn evaluate(tiled: &Tiled, x: &Tensor) -> Result<(f64, f64, Tensor)> {
    let grid = &tiled.grid;
    let style_maps: Vec<(Layer, Vec<Option<Tensor>>)> = tiled
        .style
        .iter()
        .map(|s| (s.layer, s.regions.iter().map(|r| r.mask.clone()).collect()))
        .collect();

    // Pass 1: global (guided) Gram matrices.
    let sums = gram_sums(tiled.model, tiled.pooling, grid, x, &style_maps)?;
    let mut style_loss = 0.0;
    // Per style layer and region, K with dL/dF = K F diag(m²) at every position.
    let mut style_coef = Vec::with_capacity(tiled.style.len());
    for (term, sums) in tiled.style.iter().zip(sums) {
        let (loss, coefs) = term.loss_and_coefficients(sums)?;
        style_loss += loss;
        style_coef.push(coefs);
    }

    let content_numel: Vec<f64> = tiled
        .content
        .iter()
        .map(|(l, _, targets)| {
            let c = targets.first().map(|t| t.dim(0)).transpose()?.unwrap_or(0);
            Ok((c * feature_len(grid.height, l.unit) * feature_len(grid.width, l.unit)) as f64)
        })
        .collect::<Result<_>>()?;

    // Gradients of each term at features `acts` of tile `k`, on inner positions.
    let layer_grads = |acts: &crate::model::Activations,
                       k: usize,
                       t: &Tile|
     -> Result<(f64, Vec<(Layer, Tensor)>)> {
        let mut content_loss = 0.0;
        let mut grads = Vec::new();
        for ((l, w, targets), n) in tiled.content.iter().zip(&content_numel) {
            let f = inner(acts.get(*l), t, grid, *l)?;
            let d = (&f - &targets[k])?;
            content_loss += w * crate::ops::vector::dot(&d, &d)? / n;
            grads.push((*l, (d * (2.0 * w / n))?));
        }
        for (term, coefs) in tiled.style.iter().zip(&style_coef) {
            let full = acts.get(term.layer);
            let f = inner(full, t, grid, term.layer)?;
            let masks = term
                .regions
                .iter()
                .map(|r| {
                    r.mask
                        .as_ref()
                        .map(|m| inner_map(m, full, t, grid, term.layer))
                        .transpose()
                })
                .collect::<Result<Vec<_>>>()?;
            grads.push((term.layer, term.gradient(&f, &masks, coefs)?));
        }
        Ok((content_loss, grads))
    };

    let scale = gradient_scales(tiled, x, &layer_grads)?;

    // Pass 2: per-tile backward against the global statistics.
    let mut acc = Accumulator::new(x)?;
    let mut content_loss = 0.0;
    for (k, t) in grid.tiles.iter().enumerate() {
        let acts = tile_features(tiled, x, t)?;
        let (loss, grads) = layer_grads(&acts, k, t)?;
        content_loss += loss;
        let grads = grads
            .into_iter()
            .zip(&scale)
            .map(|((l, g), s)| {
                let g = if *s == 1.0 { g } else { (g * *s)? };
                Ok((l, place(&g, acts.get(l), t, grid, l)?))
            })
            .collect::<Result<Vec<_>>>()?;
        acc.add(&tiled.model.backward(&acts, &grads)?, t)?;
    }
    Ok((content_loss, style_loss, acc.finish()?))
}

/// Per-term factors of the gradient: 1, or with `normalize_gradients` each
/// term's weight over its gradient's L1 norm on the whole image
/// (neural-style's `-normalize_gradients`), which costs one extra pass over
/// the tiles. `layer_grads` gives one tile's per-term losses and gradients.
fn gradient_scales(tiled: &Tiled, x: &Tensor, layer_grads: &LayerGrads<'_>) -> Result<Vec<f64>> {
    let terms = tiled.content.len() + tiled.style.len();
    let weights: Vec<f64> = tiled
        .content
        .iter()
        .map(|c| c.1)
        .chain(tiled.style.iter().map(|s| s.weight))
        .collect();
    let mut scale = vec![1.0; terms];
    if !tiled.normalize_gradients {
        return Ok(scale);
    }
    let mut l1 = vec![0.0; terms];
    for (k, t) in tiled.grid.tiles.iter().enumerate() {
        let acts = tile_features(tiled, x, t)?;
        let (_, grads) = layer_grads(&acts, k, t)?;
        for (i, (_, g)) in grads.iter().enumerate() {
            l1[i] += crate::ops::vector::sum_abs(g)?;
        }
    }
    for i in 0..terms {
        if weights[i] != 0.0 {
            scale[i] = weights[i] / (l1[i] + 1e-8);
        }
    }
    Ok(scale)
}

/// The features of tile `t` of `x` (the tile with its halo) at every layer a
/// term uses.
fn tile_features(tiled: &Tiled, x: &Tensor, t: &Tile) -> Result<crate::model::Activations> {
    tiled
        .model
        .forward_padded(&crop(x, t)?, &tiled.layers, tiled.pooling, Padding::Zeros)
}

/// One tile's content loss and per-term gradients at its features.
type LayerGrads<'a> =
    dyn Fn(&crate::model::Activations, usize, &Tile) -> Result<(f64, Vec<(Layer, Tensor)>)> + 'a;

/// Sums tile input gradients into the image gradient: on the CPU in an f64
/// buffer; elsewhere with device operations (no host round trip).
enum Accumulator {
    Host {
        buf: Vec<f64>,
        dims: (usize, usize, usize),
        dtype: DType,
    },
    Device(Tensor),
}

impl Accumulator {
    fn new(x: &Tensor) -> Result<Accumulator> {
        let dims = x.dims3()?;
        Ok(match x.device() {
            Device::Cpu => Accumulator::Host {
                buf: vec![0.0; dims.0 * dims.1 * dims.2],
                dims,
                dtype: x.dtype(),
            },
            _ => Accumulator::Device(x.zeros_like()?),
        })
    }

    fn add(&mut self, g: &Tensor, t: &Tile) -> Result<()> {
        match self {
            Accumulator::Host { buf, dims, .. } => {
                let (_, h, w) = dims;
                let (c, th, tw) = g.dims3()?;
                let v = g.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
                for ch in 0..c {
                    for y in 0..th {
                        let src = &v[(ch * th + y) * tw..][..tw];
                        let dst = &mut buf[(ch * *h + t.crop_y.0 + y) * *w + t.crop_x.0..][..tw];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += s;
                        }
                    }
                }
            }
            Accumulator::Device(acc) => {
                let ys = t.crop_y.0..t.crop_y.1;
                let xs = t.crop_x.0..t.crop_x.1;
                let cur = crop(acc, t)?;
                *acc = acc.slice_assign(&[0..acc.dim(0)?, ys, xs], &(cur + g)?)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Tensor> {
        match self {
            Accumulator::Host { buf, dims, dtype } => {
                Ok(Tensor::from_vec(buf, dims, &Device::Cpu)?.to_dtype(dtype)?)
            }
            Accumulator::Device(t) => Ok(t),
        }
    }
}
