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
use crate::model::{Layer, Padding, Pooling, Vgg19};
pub(crate) use grid::TileGrid;
use grid::{Tile, feature_len, unit_scale};
pub(crate) use memory::plan_memory;
pub use memory::{default_max_memory, max_untiled_pixels};

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
    /// (layer, weight, target Gram)
    pub(crate) style: Vec<(Layer, f64, Tensor)>,
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

/// `Σ F Fᵀ` over every position of each layer's feature map, tile by tile
/// (None for a layer with no positions).
fn gram_sums(
    model: &Vgg19,
    pooling: Pooling,
    grid: &TileGrid,
    x: &Tensor,
    layers: &[Layer],
) -> Result<Vec<Option<Tensor>>> {
    let mut sums: Vec<Option<Tensor>> = vec![None; layers.len()];
    if layers.is_empty() {
        return Ok(sums);
    }
    for t in &grid.tiles {
        let acts = model.forward_padded(&crop(x, t)?, layers, pooling, Padding::Zeros)?;
        for (i, &l) in layers.iter().enumerate() {
            let f = inner(acts.get(l), t, grid, l)?;
            let (c, h, w) = f.dims3()?;
            if h * w == 0 {
                continue;
            }
            let m = f.reshape((c, h * w))?;
            let fft = m.matmul(&m.t()?)?;
            sums[i] = Some(match sums[i].take() {
                Some(s) => (s + fft)?,
                None => fft,
            });
        }
    }
    Ok(sums)
}

/// Normalised Gram matrices of `x: (3, H, W)` at `layers`, tile by tile:
/// equal to `loss::gram` of the whole image's features.
pub(crate) fn grams(
    model: &Vgg19,
    pooling: Pooling,
    grid: &TileGrid,
    x: &Tensor,
    layers: &[Layer],
) -> Result<Vec<Tensor>> {
    let sums = gram_sums(model, pooling, grid, x, layers)?;
    layers
        .iter()
        .zip(sums)
        .map(|(l, s)| {
            let n = feature_len(grid.height, l.unit) * feature_len(grid.width, l.unit);
            match s {
                Some(s) => {
                    let c = s.dim(0)?;
                    Ok((s / (c * n) as f64)?)
                }
                None => Err(crate::error::EngineError::setting(
                    "style",
                    format!("the style image is too small to reach {}", l.name()),
                )),
            }
        })
        .collect()
}

/// Loss terms (content, style) and the network part of the image gradient.
pub(crate) fn evaluate(tiled: &Tiled, x: &Tensor) -> Result<(f64, f64, Tensor)> {
    let grid = &tiled.grid;
    let style_layers: Vec<Layer> = tiled.style.iter().map(|s| s.0).collect();

    // Pass 1: global Gram matrices.
    let sums = gram_sums(tiled.model, tiled.pooling, grid, x, &style_layers)?;
    let mut style_loss = 0.0;
    // (G − A) · 4w / (C² · C·N) per style layer: dL/dF = this · F at every position.
    let mut style_coef = Vec::with_capacity(tiled.style.len());
    for ((l, w, a), sum) in tiled.style.iter().zip(sums) {
        let c = a.dim(0)?;
        let n = feature_len(grid.height, l.unit) * feature_len(grid.width, l.unit);
        let norm = (c * n) as f64;
        let g = match sum {
            Some(s) => (s / norm)?,
            None => a.zeros_like()?,
        };
        let d = (g - a)?;
        style_loss += w * crate::ops::vector::dot(&d, &d)? / (c * c) as f64;
        style_coef.push((d * (4.0 * w / ((c * c) as f64 * norm)))?);
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
        for ((l, _, _), coef) in tiled.style.iter().zip(&style_coef) {
            let f = inner(acts.get(*l), t, grid, *l)?;
            let (c, h, w) = f.dims3()?;
            let g = coef.matmul(&f.reshape((c, h * w))?)?.reshape((c, h, w))?;
            grads.push((*l, g));
        }
        Ok((content_loss, grads))
    };

    // Optional pass: each term's gradient L1 norm over the whole image.
    let terms = tiled.content.len() + tiled.style.len();
    let weights: Vec<f64> = tiled
        .content
        .iter()
        .map(|c| c.1)
        .chain(tiled.style.iter().map(|s| s.1))
        .collect();
    let mut scale = vec![1.0; terms];
    if tiled.normalize_gradients {
        let mut l1 = vec![0.0; terms];
        for (k, t) in grid.tiles.iter().enumerate() {
            let acts = tiled.model.forward_padded(
                &crop(x, t)?,
                &tiled.layers,
                tiled.pooling,
                Padding::Zeros,
            )?;
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
    }

    // Pass 2: per-tile backward against the global statistics.
    let mut acc = Accumulator::new(x)?;
    let mut content_loss = 0.0;
    for (k, t) in grid.tiles.iter().enumerate() {
        let acts = tiled.model.forward_padded(
            &crop(x, t)?,
            &tiled.layers,
            tiled.pooling,
            Padding::Zeros,
        )?;
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
