//! Region maps: pictures painted in a few flat colours, read into one label
//! per pixel, and resampled by area to any grid.
//!
//! Colours are clustered so that JPEG noise and anti-aliased edges do not
//! make regions of their own:
//! 1. every exact 8-bit colour is counted;
//! 2. from the most frequent down, a colour joins the first group whose seed
//!    (its most frequent colour) lies within [`COLOUR_TOLERANCE`] (Euclidean
//!    distance in 0..255 RGB), or else seeds a group of its own;
//! 3. a group is a region if it covers at least [`MIN_REGION_FRACTION`] of
//!    the mask and holds at least one pixel whose eight neighbours are all of
//!    the group: a flat patch of at least 3×3 pixels. Anti-aliasing and JPEG
//!    ringing leave thin lines of in-between colours, which fail this;
//! 4. every pixel takes the region whose colour is nearest to its own.
//!
//! A region is named by its seed colour, which for a painted region is the
//! colour it was painted in.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{EngineError, Result};
use crate::image::Image;

mod crop;

/// Colours closer than this (Euclidean, 0..255 RGB) are one region, within a
/// mask and between masks. Wider than JPEG's error on flat colours at usual
/// qualities (a few levels, up to ~30 at sharp edges); paint distinct regions
/// in colours further apart than this.
pub const COLOUR_TOLERANCE: f64 = 40.0;

/// The smallest share of a mask's pixels a region may cover (0.1 %).
pub const MIN_REGION_FRACTION: f64 = 0.001;

/// The most regions one mask may have: each costs one Gram matrix per style
/// layer.
pub const MAX_REGIONS: usize = 64;

/// Colour groups beyond this mean the picture is no region map (a photo):
/// it is refused before the clustering grows costly.
const MAX_GROUPS: usize = 4096;

/// A region map: one region label per pixel, and each region's colour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    width: usize,
    height: usize,
    /// Region colours (8-bit RGB), the most widespread first.
    colours: Vec<[u8; 3]>,
    /// Row-major, `width × height`, indices into `colours`.
    labels: Vec<u8>,
}

impl Mask {
    /// Reads a region map from an image file (any format [`Image::decode`]
    /// reads; PNG keeps colours exact).
    pub fn load(path: &Path, max_pixels: u64) -> Result<Mask> {
        let image = Image::load(path, max_pixels).map_err(|e| unreadable(path, e))?;
        Mask::from_image_named(&image, &path.display().to_string())
    }

    /// [`Mask::load`] from bytes; `name` is only used in error messages.
    pub fn decode(bytes: &[u8], name: &Path, max_pixels: u64) -> Result<Mask> {
        let image = Image::decode(bytes, name, max_pixels).map_err(|e| unreadable(name, e))?;
        Mask::from_image_named(&image, &name.display().to_string())
    }

    /// The regions of a picture, clustered as the module describes.
    pub fn from_image(image: &Image) -> Result<Mask> {
        Mask::from_image_named(image, "(picture)")
    }

    /// A mask from labels already known: `labels` row-major, `width × height`,
    /// each an index into `colours` (distinct colours, at most [`MAX_REGIONS`]).
    pub fn from_labels(
        width: usize,
        height: usize,
        colours: Vec<[u8; 3]>,
        labels: Vec<u8>,
    ) -> Result<Mask> {
        let bad = |reason: String| EngineError::BadMask {
            name: "(labels)".into(),
            reason,
        };
        if width == 0 || height == 0 || labels.len() != width * height {
            return Err(bad(format!(
                "{} labels for {width}×{height} pixels",
                labels.len()
            )));
        }
        if colours.is_empty() || colours.len() > MAX_REGIONS {
            return Err(bad(format!(
                "{} colours; a mask has 1 to {MAX_REGIONS}",
                colours.len()
            )));
        }
        if let Some(l) = labels.iter().find(|&&l| l as usize >= colours.len()) {
            return Err(bad(format!("label {l} but only {} colours", colours.len())));
        }
        Ok(Mask {
            width,
            height,
            colours,
            labels,
        })
    }

    /// A mask of one region covering everything.
    pub fn uniform(width: usize, height: usize, colour: [u8; 3]) -> Mask {
        Mask {
            width: width.max(1),
            height: height.max(1),
            colours: vec![colour],
            labels: vec![0; width.max(1) * height.max(1)],
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The regions' colours, the most widespread first.
    pub fn colours(&self) -> &[[u8; 3]] {
        &self.colours
    }

    /// One region index per pixel, row-major.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The mask painted in its region colours, exactly.
    pub fn to_image(&self) -> Image {
        let n = self.width * self.height;
        let mut data = vec![0f32; 3 * n];
        for (i, &l) in self.labels.iter().enumerate() {
            for c in 0..3 {
                data[c * n + i] = self.colours[l as usize][c] as f32 / 255.0;
            }
        }
        Image {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// Each region's share of every cell of a `width × height` grid laid over
    /// the mask (area averaging: exact box filtering of the one-hot labels),
    /// planar `(R, height, width)`. The shares of a cell sum to 1; a mask of
    /// one region gives exactly 1 everywhere. Masks of another size or aspect
    /// ratio than the grid are stretched onto it.
    pub fn region_maps(&self, width: usize, height: usize) -> Vec<f32> {
        let r = self.colours.len();
        if r == 1 {
            return vec![1.0; width * height];
        }
        let xs = box_taps(self.width, width);
        let ys = box_taps(self.height, height);
        let (sw, sh) = (self.width, self.height);
        // Along x for every source row, then along y.
        let mut rows = vec![0f64; r * sh * width];
        for sy in 0..sh {
            for (ox, taps) in xs.iter().enumerate() {
                for &(sx, w) in taps {
                    let k = self.labels[sy * sw + sx] as usize;
                    rows[(k * sh + sy) * width + ox] += w;
                }
            }
        }
        let mut out = vec![0f32; r * height * width];
        for k in 0..r {
            for (oy, taps) in ys.iter().enumerate() {
                let dst = &mut out[(k * height + oy) * width..][..width];
                let mut acc = vec![0f64; width];
                for &(sy, w) in taps {
                    let src = &rows[(k * sh + sy) * width..][..width];
                    for (a, s) in acc.iter_mut().zip(src) {
                        *a += w * s;
                    }
                }
                for (d, a) in dst.iter_mut().zip(acc) {
                    *d = a as f32;
                }
            }
        }
        out
    }

    fn from_image_named(image: &Image, name: &str) -> Result<Mask> {
        let bad = |reason: String| EngineError::BadMask {
            name: name.to_string(),
            reason,
        };
        let (w, h) = (image.width, image.height);
        let n = w * h;
        if n == 0 {
            return Err(bad("the picture is empty".into()));
        }
        let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u32;
        let px: Vec<u32> = (0..n)
            .map(|i| q(image.data[i]) << 16 | q(image.data[n + i]) << 8 | q(image.data[2 * n + i]))
            .collect();

        // 1. Colour counts, most frequent first (ties by colour: deterministic).
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for &p in &px {
            *counts.entry(p).or_default() += 1;
        }
        let mut by_count: Vec<(u32, usize)> = counts.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

        // 2. Greedy grouping around the most frequent colours.
        let mut seeds: Vec<[u8; 3]> = Vec::new();
        let mut group_of: HashMap<u32, usize> = HashMap::with_capacity(by_count.len());
        for &(p, _) in &by_count {
            let rgb = unpack(p);
            let g = match nearest_colour(rgb, &seeds) {
                Some(g) => g,
                None => {
                    if seeds.len() == MAX_GROUPS {
                        return Err(bad(format!(
                            "more than {MAX_GROUPS} distinct colours: this looks like a photo, \
                             not a region map; paint regions in a few flat colours"
                        )));
                    }
                    seeds.push(rgb);
                    seeds.len() - 1
                }
            };
            group_of.insert(p, g);
        }

        // 3. Regions: groups with enough pixels and a flat 3×3 patch somewhere.
        let group: Vec<usize> = px.iter().map(|p| group_of[p]).collect();
        let mut count = vec![0usize; seeds.len()];
        let mut interior = vec![false; seeds.len()];
        for y in 0..h {
            for x in 0..w {
                let g = group[y * w + x];
                count[g] += 1;
                if !interior[g] && flat_around(&group, w, h, x, y) {
                    interior[g] = true;
                }
            }
        }
        let min_count = ((n as f64 * MIN_REGION_FRACTION).ceil() as usize).max(1);
        let regions: Vec<usize> = (0..seeds.len())
            .filter(|&g| interior[g] && count[g] >= min_count)
            .collect();
        if regions.is_empty() {
            return Err(bad(
                "no flat colour region (at least 3×3 pixels of one colour) found; \
                 paint the regions in flat colours"
                    .into(),
            ));
        }
        if regions.len() > MAX_REGIONS {
            return Err(bad(format!(
                "{} colour regions, more than {MAX_REGIONS}; use fewer colours, \
                 further apart than {COLOUR_TOLERANCE} levels",
                regions.len()
            )));
        }
        let colours: Vec<[u8; 3]> = regions.iter().map(|&g| seeds[g]).collect();

        // 4. Every pixel to the nearest region colour.
        let label_of: HashMap<u32, u8> = by_count
            .iter()
            .map(|&(p, _)| (p, nearest(unpack(p), &colours) as u8))
            .collect();
        let labels = px.iter().map(|p| label_of[p]).collect();
        Ok(Mask {
            width: w,
            height: h,
            colours,
            labels,
        })
    }
}

/// The colour as `#rrggbb`.
pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// The index of the colour in `among` nearest to `c`, if within
/// [`COLOUR_TOLERANCE`]: how regions of different masks are matched.
pub fn nearest_colour(c: [u8; 3], among: &[[u8; 3]]) -> Option<usize> {
    let i = nearest(c, among);
    (i < among.len() && distance(c, among[i]) <= COLOUR_TOLERANCE).then_some(i)
}

fn nearest(c: [u8; 3], among: &[[u8; 3]]) -> usize {
    (0..among.len())
        .min_by(|&a, &b| distance(c, among[a]).total_cmp(&distance(c, among[b])))
        .unwrap_or(among.len())
}

fn distance(a: [u8; 3], b: [u8; 3]) -> f64 {
    (0..3)
        .map(|i| (a[i] as f64 - b[i] as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn unpack(p: u32) -> [u8; 3] {
    [(p >> 16) as u8, (p >> 8) as u8, p as u8]
}

/// Whether the 3×3 neighbourhood of `(x, y)` (clamped at the picture's edge)
/// is all of one group.
fn flat_around(group: &[usize], w: usize, h: usize, x: usize, y: usize) -> bool {
    let g = group[y * w + x];
    let ys = y.saturating_sub(1)..=(y + 1).min(h - 1);
    ys.into_iter().all(|yy| {
        let xs = x.saturating_sub(1)..=(x + 1).min(w - 1);
        xs.into_iter().all(|xx| group[yy * w + xx] == g)
    })
}

/// For each of `n_out` cells along an axis of `n_in` source cells, the source
/// cells it overlaps and the overlap as a share of the output cell.
fn box_taps(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (a, b) = (o as f64 * scale, (o + 1) as f64 * scale);
            let first = a.floor() as usize;
            let last = (b.ceil() as usize).min(n_in);
            (first..last)
                .filter_map(|s| {
                    let overlap = b.min(s as f64 + 1.0) - a.max(s as f64);
                    (overlap > 1e-12).then_some((s, overlap / scale))
                })
                .collect()
        })
        .collect()
}

fn unreadable(path: &Path, e: EngineError) -> EngineError {
    match e {
        EngineError::BadImage { reason, .. } => EngineError::BadMask {
            name: path.display().to_string(),
            reason: format!("cannot read it: {reason}"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
