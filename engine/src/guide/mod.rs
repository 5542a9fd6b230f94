//! Semantic style transfer and neural doodles: regions of the output take
//! their style from the regions of the same colour in the style images, with
//! guided Gram matrices (Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017,
//! "Controlling Perceptual Factors in Neural Style Transfer", spatial control;
//! the doodle use after Champandard 2016, alexjc/neural-doodle).
//!
//! The caller gives region maps ([`Mask`]): one for the output (the
//! content's map, or in doodle mode the doodle itself) and one beside each
//! style. Regions match by colour ([`COLOUR_TOLERANCE`]). Each style layer's
//! loss is the sum over the output's regions of the region's share of the
//! layer times the usual Gram loss between the output's and the style's
//! guided Grams (see `gram`). docs/doodles.md has the whole design.
//!
//! Layout:
//! - `mask`: reading region maps, colour clustering, area resampling.
//! - `layers`: the maps carried to each layer's grid.
//! - `gram`: guided Grams, the style term and its gradient.
//! - `render`: [`render_guided`], [`render_guided_with_targets`], doodle sizing.

mod gram;
mod layers;
mod mask;
mod render;

use candle_core::{DType, Device};

pub(crate) use gram::{RegionTerm, StyleTerm, gram_sum};
pub(crate) use layers::{LayerMasks, area_and_mass};
pub use mask::{COLOUR_TOLERANCE, MAX_REGIONS, MIN_REGION_FRACTION, Mask, hex, nearest_colour};
pub use render::{doodle_settings, render_guided, render_guided_with_targets};

use crate::error::{EngineError, Result};
use crate::model::Layer;
use crate::settings::Style;
use crate::targets::{StyleTargets, layer_gram};
use crate::tiling::feature_len;

/// The region maps of a semantic render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Masks {
    /// The output's region map: the content's, or the doodle (no content).
    pub content: Mask,
    /// One per style, in the styles' order: its region map.
    pub styles: Vec<Mask>,
}

impl Masks {
    /// Checks the masks against the styles before any computation: one mask
    /// per style, and every region of the content mask present in the mask of
    /// a style of weight > 0.
    pub fn check(&self, styles: &[Style]) -> Result<()> {
        let weights: Vec<f64> = styles.iter().map(|s| s.weight).collect();
        self.check_weights(&weights)
    }

    /// [`Masks::check`] with only the styles' blend weights, in the styles'
    /// order: what a client checks before it uploads anything.
    pub fn check_weights(&self, weights: &[f64]) -> Result<()> {
        check_count(self.styles.len(), weights.len())?;
        let colours: Vec<[u8; 3]> = self
            .styles
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w > 0.0)
            .flat_map(|(m, _)| m.colours().iter().copied())
            .collect();
        for &c in self.content.colours() {
            if nearest_colour(c, &colours).is_none() {
                return Err(unmatched(c, &colours));
            }
        }
        Ok(())
    }
}

/// Style masks must come one per style.
pub(crate) fn check_count(masks: usize, styles: usize) -> Result<()> {
    if masks == styles {
        return Ok(());
    }
    Err(EngineError::BadMask {
        name: "style masks".into(),
        reason: format!(
            "{masks} given for {styles} styles; a semantic render needs one region map per style"
        ),
    })
}

/// The error for a content region no style has.
fn unmatched(colour: [u8; 3], styles: &[[u8; 3]]) -> EngineError {
    let list: Vec<String> = styles.iter().map(|&c| hex(c)).collect();
    EngineError::BadMask {
        name: "content mask".into(),
        reason: format!(
            "region {} is in no style mask (of a style with weight > 0); paint it in a style's \
             mask too, or recolour it as one of the style regions [{}] (colours within \
             {COLOUR_TOLERANCE} levels match)",
            hex(colour),
            list.join(", ")
        ),
    }
}

/// The style terms of an objective over a `(w, h)` image: per style layer,
/// one region per colour of `guide` against the targets' region of that
/// colour, or without a guide one unmasked region against the whole style's
/// Grams.
pub(crate) fn style_terms(
    targets: &StyleTargets,
    style_layers: &[(Layer, f64)],
    guide: Option<&Mask>,
    (w, h): (usize, usize),
    device: &Device,
    dtype: DType,
) -> Result<Vec<StyleTerm>> {
    let positions = |l: Layer| (feature_len(h, l.unit) * feature_len(w, l.unit)) as f64;
    let Some(mask) = guide else {
        return style_layers
            .iter()
            .map(|&(layer, weight)| {
                Ok(StyleTerm {
                    layer,
                    weight,
                    regions: vec![RegionTerm {
                        target: targets.gram(layer)?.clone(),
                        mask: None,
                        mass: positions(layer),
                        share: 1.0,
                    }],
                })
            })
            .collect();
    };
    if targets.regions.is_empty() {
        return Err(EngineError::BadMask {
            name: "content mask".into(),
            reason: "the style targets have no regions: compute them with the style masks \
                     (StyleTargets::for_scale_guided), or render without a content mask"
                .into(),
        });
    }
    let target_colours: Vec<[u8; 3]> = targets.regions.iter().map(|r| r.colour).collect();
    let sources = mask
        .colours()
        .iter()
        .map(|&c| nearest_colour(c, &target_colours).ok_or_else(|| unmatched(c, &target_colours)))
        .collect::<Result<Vec<_>>>()?;
    let layers: Vec<Layer> = style_layers.iter().map(|l| l.0).collect();
    let maps = LayerMasks::new(mask, (w, h), &layers, device, dtype)?;
    let mut terms = Vec::with_capacity(style_layers.len());
    for &(layer, weight) in style_layers {
        let mut regions = Vec::with_capacity(sources.len());
        for (r, source) in sources.iter().enumerate() {
            let m = maps.region(layer, r)?;
            let (area, mass) = area_and_mass(&m)?;
            // A region too small to reach this layer has no term here.
            if mass <= 0.0 {
                continue;
            }
            regions.push(RegionTerm {
                target: layer_gram(&targets.regions[*source].grams, layer)?.clone(),
                mask: Some(m),
                mass,
                share: area / positions(layer),
            });
        }
        terms.push(StyleTerm {
            layer,
            weight,
            regions,
        });
    }
    Ok(terms)
}
