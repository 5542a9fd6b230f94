//! Masks carried through the network: at each layer the region maps on that
//! layer's grid. Convolutions keep the grid; each 2×2 pooling averages the
//! maps over its window (floor mode, as the network pools), so a position's
//! share of a region is the share of its pooled pixels in that region. These
//! are the guidance channels of Gatys et al. 2017 (spatial control), carried
//! to each layer by the same downsampling as the features.

use candle_core::{DType, Device, Tensor};

use super::mask::Mask;
use crate::error::Result;
use crate::model::{Layer, UNITS, Unit};
use crate::ops;

/// The region maps of one mask at the grids of some layers.
pub(crate) struct LayerMasks {
    /// `(R, H_l, W_l)` per layer, in the order asked for.
    maps: Vec<(Layer, Tensor)>,
}

impl LayerMasks {
    /// `mask` laid over a `(width, height)` image and carried to `layers`.
    pub(crate) fn new(
        mask: &Mask,
        (width, height): (usize, usize),
        layers: &[Layer],
        device: &Device,
        dtype: DType,
    ) -> Result<LayerMasks> {
        let r = mask.colours().len();
        let mut m = Tensor::from_vec(
            mask.region_maps(width, height),
            (r, height, width),
            &Device::Cpu,
        )?
        .to_dtype(dtype)?
        .to_device(device)?;
        let deepest = layers.iter().map(|l| l.unit).max().unwrap_or(0);
        let mut at_unit = Vec::with_capacity(deepest + 1);
        for unit in UNITS.iter().take(deepest + 1) {
            if *unit == Unit::Pool {
                m = ops::avg_pool2(&m)?;
            }
            at_unit.push(m.clone());
        }
        let maps = layers
            .iter()
            .map(|&l| (l, at_unit[l.unit].clone()))
            .collect();
        Ok(LayerMasks { maps })
    }

    /// Region `r`'s map `(H_l, W_l)` at `layer` (one of those asked for).
    pub(crate) fn region(&self, layer: Layer, r: usize) -> Result<Tensor> {
        let (_, m) = self
            .maps
            .iter()
            .find(|(l, _)| *l == layer)
            .ok_or_else(|| candle_core::Error::Msg(format!("no mask at {}", layer.name())))?;
        Ok(m.get(r)?)
    }
}

/// `(Σ m, Σ m²)` of a map, in f64: the region's area and the normaliser of
/// its Gram matrix.
pub(crate) fn area_and_mass(m: &Tensor) -> Result<(f64, f64)> {
    let m = m.to_dtype(DType::F64)?;
    let area = m.sum_all()?.to_scalar::<f64>()?;
    let mass = m.sqr()?.sum_all()?.to_scalar::<f64>()?;
    Ok((area, mass))
}
