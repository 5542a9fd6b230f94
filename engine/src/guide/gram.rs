//! Guided Gram matrices (Gatys et al. 2017, "Controlling Perceptual Factors
//! in Neural Style Transfer", spatial control) in the engine's normalisation, and
//! the style term built on them, with its gradient.
//!
//! For features `F: (C, N)` at a layer and a region's map `m: (N)` on that
//! layer's grid (see `layers`):
//! - guided Gram `G = (F∘m)(F∘m)ᵀ / (C · Σ m²)`: the paper's `F∘T` Gram,
//!   divided by the region's mass `Σ m²` instead of `N`, so that a region's
//!   Gram does not depend on its area; with `m = 1` it is `loss::gram`;
//! - layer term `w · Σ_r λ_r · mean((G_r − A_r)²)` with `λ_r = Σ m_r / N` the
//!   region's share of the layer (the shares of all regions sum to 1, so an
//!   unguided render is the one-region case);
//! - gradient `dL/dF = Σ_r 4 w λ_r (G_r − A_r) F diag(m_r²) / (C² · C · Σ m_r²)`.

use candle_core::Tensor;

use crate::error::Result;
use crate::loss;
use crate::model::Layer;
use crate::ops::vector::{self, Sum};

/// One region of a style term at one layer.
#[derive(Clone, Debug)]
pub(crate) struct RegionTerm {
    /// The style's Gram matrix `(C, C)` for this region.
    pub(crate) target: Tensor,
    /// The region's map `(H_l, W_l)` over the whole output at this layer;
    /// `None`: weight 1 everywhere (no guidance).
    pub(crate) mask: Option<Tensor>,
    /// `Σ m²` over the whole map (the number of positions without a mask).
    pub(crate) mass: f64,
    /// `λ`: the region's share `Σ m / N` of the layer's positions.
    pub(crate) share: f64,
}

/// The style term of one layer: `weight · Σ_r λ_r · mean((G_r − A_r)²)`.
#[derive(Clone, Debug)]
pub(crate) struct StyleTerm {
    pub(crate) layer: Layer,
    /// The layer's weight, style_weight included.
    pub(crate) weight: f64,
    pub(crate) regions: Vec<RegionTerm>,
}

/// `F∘m` for `f: (C, N)` and a map of `N` values (any shape), or `f` itself.
pub(crate) fn masked(f: &Tensor, m: Option<&Tensor>) -> Result<Tensor> {
    match m {
        Some(m) => Ok(f.broadcast_mul(&m.reshape((1, m.elem_count()))?)?),
        None => Ok(f.clone()),
    }
}

/// `(F∘m)(F∘m)ᵀ` of `f: (C, H, W)`: a guided Gram before normalisation.
pub(crate) fn gram_sum(f: &Tensor, m: Option<&Tensor>) -> Result<Tensor> {
    let (c, h, w) = f.dims3()?;
    let fm = masked(&f.reshape((c, h * w))?, m)?;
    Ok(fm.matmul(&fm.t()?)?)
}

impl StyleTerm {
    /// The term's loss from each region's `Σ (F∘m)(F∘m)ᵀ` over the whole
    /// image (`None`: no positions), and per region the matrix
    /// `K_r = 4 w λ_r (G_r − A_r) / (C² · C · Σ m_r²)` with
    /// `dL/dF = Σ_r K_r F diag(m_r²)`.
    pub(crate) fn loss_and_coefficients(
        &self,
        sums: Vec<Option<Tensor>>,
    ) -> Result<(f64, Vec<Tensor>)> {
        let mut loss = 0.0;
        let mut coefs = Vec::with_capacity(self.regions.len());
        for (r, sum) in self.regions.iter().zip(sums) {
            let c = r.target.dim(0)?;
            let norm = c as f64 * r.mass;
            let g = match sum {
                Some(s) => (s / norm)?,
                None => r.target.zeros_like()?,
            };
            let d = (g - &r.target)?;
            let w = self.weight * r.share;
            loss += w * vector::dot(&d, &d)? / (c * c) as f64;
            coefs.push((d * (4.0 * w / ((c * c) as f64 * norm)))?);
        }
        Ok((loss, coefs))
    }

    /// `Σ_r K_r (F∘m_r²)` at features `f: (C, H, W)` whose positions the maps
    /// `masks` (each `(H, W)`, cropped alike) cover.
    pub(crate) fn gradient(
        &self,
        f: &Tensor,
        masks: &[Option<Tensor>],
        coefs: &[Tensor],
    ) -> Result<Tensor> {
        let (c, h, w) = f.dims3()?;
        let f2 = f.reshape((c, h * w))?;
        let mut grad: Option<Tensor> = None;
        for (m, k) in masks.iter().zip(coefs) {
            let fm2 = masked(&masked(&f2, m.as_ref())?, m.as_ref())?;
            let g = k.matmul(&fm2)?;
            grad = Some(match grad {
                Some(a) => (a + g)?,
                None => g,
            });
        }
        match grad {
            Some(g) => Ok(g.reshape((c, h, w))?),
            None => Ok(f.zeros_like()?),
        }
    }

    /// Loss and gradient at the whole image's features `f: (C, H, W)`. For
    /// one unmasked region this is `loss::style_sum` operation for operation,
    /// both through `loss::style_from_gram` (the loss left on the device,
    /// see `Sum`).
    pub(crate) fn evaluate(&self, f: &Tensor) -> Result<(Sum, Tensor)> {
        let (c, h, w) = f.dims3()?;
        let f2 = f.reshape((c, h * w))?;
        let mut loss = Sum::zero();
        let mut grad: Option<Tensor> = None;
        for r in &self.regions {
            let fm = masked(&f2, r.mask.as_ref())?;
            let raw = fm.matmul(&fm.t()?)?;
            let fm2 = match &r.mask {
                Some(m) => masked(&fm, Some(m))?,
                None => fm,
            };
            let wr = self.weight * r.share;
            let (l, g) = loss::style_from_gram(&raw, c as f64 * r.mass, &r.target, wr, &fm2)?;
            loss = loss.plus(l)?;
            grad = Some(match grad {
                Some(a) => (a + g)?,
                None => g,
            });
        }
        let grad = match grad {
            Some(g) => g.reshape((c, h, w))?,
            None => f.zeros_like()?,
        };
        Ok((loss, grad))
    }
}
