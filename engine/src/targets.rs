//! What the optimisation aims at: blended style Grams, computed once per
//! scale and, on a farm, cached and shared between tasks as safetensors.
//! With style masks (semantic style transfer, see [`crate::guide`]) also
//! guided Grams per region colour.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::colors::{OriginalColors, match_colors};
use crate::error::{EngineError, Result};
use crate::guide::{self, LayerMasks, Mask, area_and_mass, gram_sum, hex, nearest_colour};
use crate::image::Image;
use crate::model::{Layer, Pooling, Vgg19};
use crate::settings::{Settings, Style};
use crate::tiling::{self, TileGrid, feature_len};

/// Gram matrices of a style (or a blend of styles) at each style layer.
#[derive(Clone, Debug)]
pub struct StyleTargets {
    /// `(C, C)` per layer: the whole style image's Gram matrix.
    pub grams: Vec<(Layer, Tensor)>,
    /// Guided Gram matrices per region of the style's mask (Gatys et al.
    /// 2017); empty for targets made without masks.
    pub regions: Vec<RegionGrams>,
}

/// The guided Gram matrices of one region of a style mask.
#[derive(Clone, Debug)]
pub struct RegionGrams {
    /// The region's colour in the mask (8-bit RGB).
    pub colour: [u8; 3],
    /// `(C, C)` per layer, normalised by the region's mass (see `guide`);
    /// where a region has no positions at a layer, the whole image's Gram.
    pub grams: Vec<(Layer, Tensor)>,
}

impl StyleTargets {
    /// Unguided targets: these Grams, no regions.
    pub fn plain(grams: Vec<(Layer, Tensor)>) -> StyleTargets {
        StyleTargets {
            grams,
            regions: Vec::new(),
        }
    }

    /// The whole style's Gram at `layer`.
    pub fn gram(&self, layer: Layer) -> Result<&Tensor> {
        layer_gram(&self.grams, layer)
    }
}

/// The Gram at `layer` among `grams`, or an error naming the layer.
pub(crate) fn layer_gram(grams: &[(Layer, Tensor)], layer: Layer) -> Result<&Tensor> {
    grams
        .iter()
        .find(|(l, _)| *l == layer)
        .map(|(_, g)| g)
        .ok_or_else(|| {
            EngineError::setting(
                "style targets",
                format!("no Gram matrix for style layer {}", layer.name()),
            )
        })
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
        StyleTargets::of_image_masked(model, image, None, layers, pooling, tile)
    }

    /// [`StyleTargets::of_image_tiled`] with the style's region map: the
    /// whole image's Grams and, per region of `mask` (stretched over the
    /// image), its guided Grams.
    pub fn of_image_guided(
        model: &Vgg19,
        image: &Image,
        mask: &Mask,
        layers: &[Layer],
        pooling: Pooling,
        tile: Option<usize>,
    ) -> Result<StyleTargets> {
        StyleTargets::of_image_masked(model, image, Some(mask), layers, pooling, tile)
    }

    fn of_image_masked(
        model: &Vgg19,
        image: &Image,
        mask: Option<&Mask>,
        layers: &[Layer],
        pooling: Pooling,
        tile: Option<usize>,
    ) -> Result<StyleTargets> {
        let (device, dtype) = (model.device(), model.dtype());
        let x = image.to_input(model.preprocess(), device, dtype)?;
        let dims = (image.width, image.height);
        // Per layer: no mask (the whole image's Gram), then each region's map.
        let masks = mask
            .map(|m| LayerMasks::new(m, dims, layers, device, dtype))
            .transpose()?;
        let regions = mask.map_or(0, |m| m.colours().len());
        let maps: Vec<(Layer, Vec<Option<Tensor>>)> = layers
            .iter()
            .map(|&l| {
                let mut v = vec![None];
                if let Some(lm) = &masks {
                    for r in 0..regions {
                        v.push(Some(lm.region(l, r)?));
                    }
                }
                Ok((l, v))
            })
            .collect::<Result<_>>()?;
        let deepest = layers.iter().map(|l| l.unit).max().unwrap_or(0);
        let grid = tile
            .map(|t| TileGrid::new(image.height, image.width, t, deepest))
            .filter(|g| g.tiles.len() > 1);
        let sums = match grid {
            Some(grid) => tiling::gram_sums(model, pooling, &grid, &x, &maps)?,
            None => {
                let acts = model.forward(&x, layers, pooling)?;
                maps.iter()
                    .map(|(l, ms)| {
                        let f = acts.get(*l);
                        let (_, h, w) = f.dims3()?;
                        ms.iter()
                            .map(|m| (h * w > 0).then(|| gram_sum(f, m.as_ref())).transpose())
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let mut grams = Vec::with_capacity(layers.len());
        let mut per_region: Vec<Vec<(Layer, Tensor)>> = vec![Vec::new(); regions];
        for ((l, ms), sums) in maps.iter().zip(sums) {
            let n = feature_len(image.height, l.unit) * feature_len(image.width, l.unit);
            let mut sums = sums.into_iter();
            let plain = match sums.next().flatten() {
                Some(s) => (&s / (s.dim(0)? as f64 * n as f64))?,
                None => {
                    return Err(EngineError::setting(
                        "style",
                        format!("the style image is too small to reach {}", l.name()),
                    ));
                }
            };
            for ((m, sum), out) in ms[1..].iter().zip(sums).zip(per_region.iter_mut()) {
                let mass = match m {
                    Some(m) => area_and_mass(m)?.1,
                    None => n as f64,
                };
                let g = match sum {
                    Some(s) if mass > 0.0 => (&s / (s.dim(0)? as f64 * mass))?,
                    _ => plain.clone(),
                };
                out.push((*l, g));
            }
            grams.push((*l, plain));
        }
        let regions = match mask {
            Some(m) => m
                .colours()
                .iter()
                .zip(per_region)
                .map(|(&colour, grams)| RegionGrams { colour, grams })
                .collect(),
            None => Vec::new(),
        };
        Ok(StyleTargets { grams, regions })
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
        StyleTargets::for_scale_guided(model, styles, &[], content, settings, dims)
    }

    /// [`StyleTargets::for_scale`] with a region map beside each style
    /// (`style_masks[i]` for `styles[i]`, stretched over the resized style),
    /// blended region by region. No masks at all: unguided targets.
    pub fn for_scale_guided(
        model: &Vgg19,
        styles: &[Style],
        style_masks: &[Mask],
        content: Option<&Image>,
        settings: &Settings,
        dims: (usize, usize),
    ) -> Result<StyleTargets> {
        if !style_masks.is_empty() {
            guide::check_count(style_masks.len(), styles.len())?;
        }
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
            .enumerate()
            .map(|(i, s)| {
                let image = match (settings.original_colors, content) {
                    (OriginalColors::Match, Some(c)) => match_colors(&s.image, c),
                    _ => s.image.clone(),
                };
                let image = image.resize_long_side(side);
                let deepest = layers.iter().map(|l| l.unit).max().unwrap_or(0);
                let (tile, _) =
                    tiling::plan_memory(settings, model, (image.width, image.height), deepest)?;
                let mask = style_masks.get(i);
                StyleTargets::of_image_masked(model, &image, mask, &layers, settings.pooling, tile)
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
    ///
    /// Guided targets blend region by region: a region (matched by colour
    /// within [`guide::COLOUR_TOLERANCE`]) takes the average over the parts
    /// whose mask has it, the weights renormalised over those; a region whose
    /// parts all weigh 0 is dropped. Guided and unguided targets do not blend.
    pub fn blend(parts: &[(&StyleTargets, f64)]) -> Result<StyleTargets> {
        let total: f64 = parts.iter().map(|(_, w)| w).sum();
        if !(total.is_finite() && total > 0.0) || parts.iter().any(|(_, w)| w.is_nan() || *w < 0.0)
        {
            return Err(EngineError::setting(
                "style weight",
                "blend weights must be finite, ≥ 0 and not all 0",
            ));
        }
        let plain: Vec<(&[(Layer, Tensor)], f64)> =
            parts.iter().map(|(t, w)| (&t.grams[..], *w)).collect();
        let grams = mix(&plain)?;
        if parts.iter().any(|(t, _)| t.regions.is_empty())
            && parts.iter().any(|(t, _)| !t.regions.is_empty())
        {
            return Err(EngineError::setting(
                "style",
                "targets with regions (made with style masks) and without cannot blend: \
                 give every style a mask, or none",
            ));
        }
        let mut colours: Vec<[u8; 3]> = Vec::new();
        for (t, _) in parts {
            for r in &t.regions {
                if nearest_colour(r.colour, &colours).is_none() {
                    colours.push(r.colour);
                }
            }
        }
        let mut regions = Vec::with_capacity(colours.len());
        for colour in colours {
            let sources: Vec<(&[(Layer, Tensor)], f64)> = parts
                .iter()
                .filter_map(|(t, w)| {
                    let own: Vec<[u8; 3]> = t.regions.iter().map(|r| r.colour).collect();
                    nearest_colour(colour, &own).map(|k| (&t.regions[k].grams[..], *w))
                })
                .collect();
            if sources.iter().map(|(_, w)| w).sum::<f64>() > 0.0 {
                regions.push(RegionGrams {
                    colour,
                    grams: mix(&sources)?,
                });
            }
        }
        Ok(StyleTargets { grams, regions })
    }

    /// Serialises the targets as safetensors (f32, one tensor per layer, named
    /// after the layer), the format the farm caches them in. Guided targets
    /// add one tensor per region and layer, named `rrggbb/layer`, and the
    /// region colours in the metadata (`regions`, comma-separated hex).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, Tensor)> = self
            .grams
            .iter()
            .map(|(l, g)| Ok((l.name().to_string(), g.to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        for r in &self.regions {
            let key = &hex(r.colour)[1..];
            for (l, g) in &r.grams {
                tensors.push((format!("{key}/{}", l.name()), g.to_dtype(DType::F32)?));
            }
        }
        let mut meta = HashMap::new();
        let order: Vec<&str> = self.grams.iter().map(|(l, _)| l.name()).collect();
        meta.insert("layers".to_string(), order.join(","));
        if !self.regions.is_empty() {
            let colours: Vec<String> = self
                .regions
                .iter()
                .map(|r| hex(r.colour)[1..].to_string())
                .collect();
            meta.insert("regions".to_string(), colours.join(","));
        }
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
        let meta = meta.metadata().clone().unwrap_or_default();
        let order = meta
            .get("layers")
            .ok_or_else(|| bad("no layer list in the metadata".into()))?;
        let mut tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| bad(format!("unreadable: {e}")))?;
        let mut take = |name: &str| -> Result<Tensor> {
            let g = tensors
                .remove(name)
                .ok_or_else(|| bad(format!("{name} is missing")))?;
            let (a, b) = g.dims2().map_err(|e| bad(format!("{name}: {e}")))?;
            if a != b {
                return Err(bad(format!("{name} is {a}×{b}, not square")));
            }
            Ok(g.to_dtype(dtype)?.to_device(device)?)
        };
        let layers = order
            .split(',')
            .filter(|n| !n.is_empty())
            .map(Layer::parse)
            .collect::<Result<Vec<_>>>()?;
        let grams = layers
            .iter()
            .map(|&l| Ok((l, take(l.name())?)))
            .collect::<Result<Vec<_>>>()?;
        let mut regions = Vec::new();
        for key in meta.get("regions").map_or("", |r| r.as_str()).split(',') {
            if key.is_empty() {
                continue;
            }
            let colour = parse_hex(key).ok_or_else(|| bad(format!("bad region colour '{key}'")))?;
            let grams = layers
                .iter()
                .map(|&l| Ok((l, take(&format!("{key}/{}", l.name()))?)))
                .collect::<Result<Vec<_>>>()?;
            regions.push(RegionGrams { colour, grams });
        }
        Ok(StyleTargets { grams, regions })
    }
}

/// `rrggbb` as a colour.
fn parse_hex(s: &str) -> Option<[u8; 3]> {
    if s.len() != 6 || !s.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// `Σ wᵢ Gᵢ / Σ wᵢ` layer by layer over parts with the same layers.
fn mix(parts: &[(&[(Layer, Tensor)], f64)]) -> Result<Vec<(Layer, Tensor)>> {
    let total: f64 = parts.iter().map(|(_, w)| w).sum();
    let first = parts.first().map(|(g, _)| g.len()).unwrap_or(0);
    let mut grams = Vec::with_capacity(first);
    for i in 0..first {
        let layer = parts[0].0[i].0;
        let mut acc: Option<Tensor> = None;
        for (gs, w) in parts {
            match gs.get(i) {
                Some((l, g)) if *l == layer => {
                    let g = (g * (w / total))?;
                    acc = Some(match acc {
                        Some(a) => (a + g)?,
                        None => g,
                    });
                }
                _ => {
                    return Err(EngineError::setting(
                        "style",
                        "blended targets must have the same layers",
                    ));
                }
            }
        }
        if let Some(a) = acc {
            grams.push((layer, a));
        }
    }
    Ok(grams)
}
